//! The Prometheus endpoint of `cutover watch`: what the watch has seen so far,
//! as counters, gauges and one latency histogram, served over HTTP.
//!
//! [`Metrics`] owns a `prometheus-client` registry; the text is the crate's
//! Prometheus text format (version 0.0.4, [`CONTENT_TYPE`]), which every
//! Prometheus scrapes without content negotiation. Nothing here writes the
//! format by hand.
//!
//! Invariants:
//! - A scrape sees each [`Metrics::request`] whole or not at all: a request's
//!   counters move under a shared lock that [`Metrics::encode`] takes
//!   exclusively. So in every exposition, per `target` × `check`,
//!   `cutover_requests_total` = the sum of `cutover_responses_total` over its
//!   classes = `cutover_latency_seconds_count`, and `cutover_failed_total` ≤
//!   `cutover_requests_total`.
//! - Counters only grow for the life of a [`Metrics`], and a series, once
//!   shown, stays (a cleared alert reads 0, not nothing), so `rate()` and
//!   `increase()` see no resets. The one exception: `cutover_dns_expected_share`
//!   disappears for a target whose expectation becomes `None`.
//!   `cutover_failed_total` appears at 0 with a key's first request.
//! - Memory is one series per label set, bounded by the scenario's targets,
//!   checks and rules, never by the number of requests.
//! - Label values are the scenario's names as given; the crate escapes `\`,
//!   `"` and newlines in them.
//! - Latency buckets are fixed ([`LATENCY_BUCKETS`], 1 ms to 30 s) so that
//!   series from different runs and shards aggregate.
//!
//! [`serve`] answers `GET /metrics` and `GET /healthz` until told to stop; it
//! never panics on what a client sends, bounds how long a client may take to
//! send its headers and how many connections it holds, and releases the port
//! when it returns.

use std::convert::Infallible;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE as CONTENT_TYPE_HEADER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::encoding::{prometheus_text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::probe::Origin;

/// Upper bounds (seconds) of the latency histogram's buckets; `+Inf` is implicit.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The `Content-Type` of `/metrics`: the Prometheus text format, as the crate names it.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections held at once; more are closed as soon as they are accepted.
pub const MAX_CONNECTIONS: usize = 64;
/// How long answers in flight may take to finish once told to stop.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// One target × check.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Key {
    target: String,
    check: String,
}

impl Key {
    fn new(target: &str, check: &str) -> Key {
        Key {
            target: target.to_owned(),
            check: check.to_owned(),
        }
    }
}

/// One target × check × status class.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassKey {
    target: String,
    check: String,
    class: &'static str,
}

/// One target × check × the origin of a 503.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OriginKey {
    target: String,
    check: String,
    origin: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetKey {
    target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlertKey {
    rule: String,
    target: String,
}

type Share = Gauge<f64, AtomicU64>;

/// What a watch has seen, ready to be scraped. Shared as `Arc<Metrics>`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<Key, Counter>,
    failed: Family<Key, Counter>,
    responses: Family<ClassKey, Counter>,
    s503: Family<OriginKey, Counter>,
    latency: Family<Key, Histogram, fn() -> Histogram>,
    dns_share: Family<TargetKey, Share>,
    dns_expected: Family<TargetKey, Share>,
    alerts: Family<AlertKey, Gauge>,
    checks: Family<Key, Gauge>,
    /// Shared while one event's metrics move, exclusive while encoding, so a
    /// scrape never sees half of an event.
    whole: RwLock<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let latency_histogram: fn() -> Histogram = || Histogram::new(LATENCY_BUCKETS);
        let mut m = Metrics {
            registry: Registry::with_prefix("cutover"),
            requests: Family::default(),
            failed: Family::default(),
            responses: Family::default(),
            s503: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            dns_share: Family::default(),
            dns_expected: Family::default(),
            alerts: Family::default(),
            checks: Family::default(),
            whole: RwLock::new(()),
        };
        let up = Gauge::<i64>::default();
        up.set(1);
        // The registry holds clones (handles to the same values). Counter
        // names carry no `_total`: the encoder adds it.
        let r = &mut m.registry;
        r.register("up", "1 while this cutover watch is running", up);
        r.register(
            "requests",
            "Completed watch requests (with an answer or a transport error)",
            m.requests.clone(),
        );
        r.register(
            "failed",
            "Watch requests that failed: a transport error or an answer the check's expectation rejects",
            m.failed.clone(),
        );
        r.register(
            "responses",
            "Completed watch requests by status class (error: no answer)",
            m.responses.clone(),
        );
        r.register(
            "503",
            "503 answers by the component that produced them (gateway, ingress, app, unknown)",
            m.s503.clone(),
        );
        r.register_with_unit(
            "latency",
            "Watch request latency, from sending the request to the last byte",
            Unit::Seconds,
            m.latency.clone(),
        );
        r.register(
            "dns_share",
            "Share (0 to 1) of the latest DNS answers that point at the target",
            m.dns_share.clone(),
        );
        r.register(
            "dns_expected_share",
            "Share (0 to 1) of DNS answers the scenario expects to point at the target",
            m.dns_expected.clone(),
        );
        r.register(
            "alert_active",
            "1 while an alert rule is raised for the target (empty target: run-wide), else 0",
            m.alerts.clone(),
        );
        r.register(
            "check_passing",
            "1 while a one-shot check passes against the target, 0 while it fails",
            m.checks.clone(),
        );
        m
    }

    /// One completed watch request of `check` through `target`.
    pub fn request(
        &self,
        target: &str,
        check: &str,
        status: Option<u16>,
        origin: Origin,
        failed: bool,
        latency: Duration,
    ) {
        let key = Key::new(target, check);
        let class = ClassKey {
            target: key.target.clone(),
            check: key.check.clone(),
            class: status_class(status),
        };
        let _whole = self.whole.read().unwrap_or_else(PoisonError::into_inner);
        self.requests.get_or_create(&key).inc();
        // By 0 too: the series exists from the key's first request.
        self.failed.get_or_create(&key).inc_by(u64::from(failed));
        self.responses.get_or_create(&class).inc();
        if status == Some(503) {
            let at = OriginKey {
                target: key.target.clone(),
                check: key.check.clone(),
                origin: origin.as_str(),
            };
            self.s503.get_or_create(&at).inc();
        }
        self.latency
            .get_or_create(&key)
            .observe(latency.as_secs_f64());
    }

    /// The latest DNS split: the share (0..=1) of answers pointing at `target`, and the expected share.
    ///
    /// `expected: None` removes the target's expected share.
    pub fn dns_share(&self, target: &str, observed: f64, expected: Option<f64>) {
        let key = TargetKey {
            target: target.to_owned(),
        };
        let _whole = self.whole.read().unwrap_or_else(PoisonError::into_inner);
        self.dns_share.get_or_create(&key).set(observed);
        match expected {
            Some(share) => {
                self.dns_expected.get_or_create(&key).set(share);
            }
            None => {
                self.dns_expected.remove(&key);
            }
        }
    }

    /// An alert raised (true) or cleared (false); `rule` like "spike_503", `target` may be "" for run-wide.
    pub fn alert(&self, rule: &str, target: &str, active: bool) {
        let key = AlertKey {
            rule: rule.to_owned(),
            target: target.to_owned(),
        };
        self.alerts.get_or_create(&key).set(i64::from(active));
    }

    /// A one-shot check's latest state for a target (1 passing, 0 failing).
    pub fn check_state(&self, target: &str, check: &str, passing: bool) {
        let key = Key::new(target, check);
        self.checks.get_or_create(&key).set(i64::from(passing));
    }

    /// The text exposition.
    ///
    /// Should the crate ever fail to encode, the text is a single comment
    /// saying so (no samples, so `cutover_up` goes missing and alerts on
    /// absence fire); [`serve`] answers 500 instead.
    pub fn encode(&self) -> String {
        self.try_encode().unwrap_or_else(|e| format!("# {e}\n"))
    }

    fn try_encode(&self) -> Result<String, EncodeError> {
        let _whole = self.whole.write().unwrap_or_else(PoisonError::into_inner);
        let mut text = String::new();
        prometheus_text::encode(&mut text, &self.registry).map_err(|_| EncodeError)?;
        Ok(text)
    }
}

/// The registry could not be written out; writing to a `String` does not
/// fail, so this would be a metric refusing to encode.
#[derive(Debug, thiserror::Error)]
#[error("the metrics could not be encoded in the Prometheus text format")]
struct EncodeError;

/// The `class` label of a request: `1xx` … `5xx`, `error` for a request that
/// got no answer, `other` for a status outside 100..=599.
fn status_class(status: Option<u16>) -> &'static str {
    match status {
        None => "error",
        Some(100..=199) => "1xx",
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        Some(_) => "other",
    }
}

/// Serves GET /metrics (the exposition, with the content type the crate
/// gives for its text format: [`CONTENT_TYPE`]) and GET /healthz (200
/// "ok\n") until `stop` turns true; other paths 404. Never panics on what a
/// client sends.
///
/// HEAD is answered like GET; other methods on those two paths get 405.
/// Dropping `stop`'s sender stops the server too. On stop the listener is
/// closed at once, answers in flight get a second (`STOP_GRACE`) to finish,
/// and every connection is closed before this returns.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    // Each connection watches its own receiver; `wait_for` reads the current value.
    let conn_stop = stop.clone();
    loop {
        tokio::select! {
            biased;
            // Also when the sender is gone: nothing could stop us later.
            () = stopped(&mut stop) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) if conns.len() < MAX_CONNECTIONS => {
                    conns.spawn(serve_conn(tcp, Arc::clone(&metrics), conn_stop.clone()));
                }
                // Over the cap: dropping the stream closes it.
                Ok(_) => {}
                // Out of descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(STOP_GRACE, drain).await;
    conns.shutdown().await;
}

/// Returns once `stop` is true or its sender is gone. (The `Ref` that
/// `wait_for` returns is not `Send`; it must not live in a `select!` output.)
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// One connection, closed gracefully (after the answer in flight) on stop.
async fn serve_conn(tcp: TcpStream, metrics: Arc<Metrics>, mut stop: watch::Receiver<bool>) {
    let _ = tcp.set_nodelay(true);
    let service = service_fn(move |req: Request<Incoming>| {
        let answer = answer(&metrics, &req);
        async move { Ok::<_, Infallible>(answer) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(tcp), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        () = stopped(&mut stop) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// The answer to one request; reads only its method and path.
fn answer(metrics: &Metrics, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if path != "/metrics" && path != "/healthz" {
        return text(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "Not found: this server answers /metrics and /healthz.\n".to_owned(),
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut resp = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            format!("{path} answers GET and HEAD only.\n"),
        );
        resp.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    if path == "/healthz" {
        return text(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            "ok\n".to_owned(),
        );
    }
    match metrics.try_encode() {
        Ok(exposition) => text(StatusCode::OK, CONTENT_TYPE, exposition),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain; charset=utf-8",
            format!("Sorry, {e}.\n"),
        ),
    }
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE_HEADER, HeaderValue::from_static(content_type));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// The exposition's line for a series, exactly as written.
    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn metrics_can_be_shared_across_tasks() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<Metrics>();
        send_sync::<Arc<Metrics>>();
    }

    // Regression: a `watch::Ref` held in a `select!` output made `serve`'s
    // future `!Send`, so it could not be spawned.
    #[tokio::test]
    async fn serve_can_be_spawned() {
        fn send<T: Send + 'static>(_: &T) {}
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let (_stop, stopped) = watch::channel(false);
        send(&serve(listener, Arc::new(Metrics::new()), stopped));
    }

    #[test]
    fn a_fresh_registry_shows_only_up() {
        let text = Metrics::new().encode();
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(samples, ["cutover_up 1"], "{text}");
    }

    #[test]
    fn every_metric_is_named_as_documented() {
        let m = Metrics::new();
        m.request("gateway", "items", Some(503), Origin::Gateway, true, ms(3));
        m.dns_share("gateway", 0.1, Some(0.1));
        m.alert("spike_503", "gateway", true);
        m.check_state("gateway", "chat", true);
        let text = m.encode();
        for (name, kind) in [
            ("cutover_up", "gauge"),
            ("cutover_requests_total", "counter"),
            ("cutover_failed_total", "counter"),
            ("cutover_responses_total", "counter"),
            ("cutover_503_total", "counter"),
            ("cutover_latency_seconds", "histogram"),
            ("cutover_dns_share", "gauge"),
            ("cutover_dns_expected_share", "gauge"),
            ("cutover_alert_active", "gauge"),
            ("cutover_check_passing", "gauge"),
        ] {
            let declared = format!("# TYPE {name} {kind}");
            assert!(text.lines().any(|l| l == declared), "{declared} in\n{text}");
        }
        for sample in [
            r#"cutover_requests_total{target="gateway",check="items"} 1"#,
            r#"cutover_failed_total{target="gateway",check="items"} 1"#,
            r#"cutover_responses_total{target="gateway",check="items",class="5xx"} 1"#,
            r#"cutover_503_total{target="gateway",check="items",origin="gateway"} 1"#,
            r#"cutover_latency_seconds_bucket{target="gateway",check="items",le="0.005"} 1"#,
            r#"cutover_latency_seconds_count{target="gateway",check="items"} 1"#,
            r#"cutover_dns_share{target="gateway"} 0.1"#,
            r#"cutover_dns_expected_share{target="gateway"} 0.1"#,
            r#"cutover_alert_active{rule="spike_503",target="gateway"} 1"#,
            r#"cutover_check_passing{target="gateway",check="chat"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == sample), "{sample} in\n{text}");
        }
    }

    #[test]
    fn failed_total_starts_at_zero_with_a_keys_first_request() {
        let m = Metrics::new();
        m.request("ingress", "items", Some(200), Origin::App, false, ms(1));
        let text = m.encode();
        assert_eq!(
            line(&text, "cutover_failed_total{"),
            Some(r#"cutover_failed_total{target="ingress",check="items"} 0"#)
        );
        assert!(line(&text, "cutover_503_total").is_none(), "{text}");
    }

    #[test]
    fn statuses_fall_into_their_class_and_no_answer_is_error() {
        assert_eq!(status_class(None), "error");
        assert_eq!(status_class(Some(101)), "1xx");
        assert_eq!(status_class(Some(200)), "2xx");
        assert_eq!(status_class(Some(308)), "3xx");
        assert_eq!(status_class(Some(499)), "4xx");
        assert_eq!(status_class(Some(503)), "5xx");
        assert_eq!(status_class(Some(600)), "other");
        assert_eq!(status_class(Some(42)), "other");
    }

    #[test]
    fn a_503_is_counted_by_its_origin() {
        let m = Metrics::new();
        for origin in [
            Origin::Gateway,
            Origin::Gateway,
            Origin::App,
            Origin::Unknown,
        ] {
            m.request("gateway", "items", Some(503), origin, true, ms(1));
        }
        let text = m.encode();
        for (origin, n) in [("gateway", 2), ("app", 1), ("unknown", 1)] {
            let sample = format!(
                r#"cutover_503_total{{target="gateway",check="items",origin="{origin}"}} {n}"#
            );
            assert!(text.lines().any(|l| l == sample), "{sample} in\n{text}");
        }
        assert!(!text.contains(r#"origin="ingress""#), "{text}");
    }

    #[test]
    fn label_values_with_quotes_backslashes_and_newlines_are_escaped() {
        let m = Metrics::new();
        m.request("gate\"way", "a\\b\nc", Some(200), Origin::App, false, ms(1));
        m.alert("spike_503", "", true);
        let text = m.encode();
        assert_eq!(
            line(&text, "cutover_requests_total{"),
            Some(r#"cutover_requests_total{target="gate\"way",check="a\\b\nc"} 1"#)
        );
        // A run-wide alert keeps its empty target label.
        assert_eq!(
            line(&text, "cutover_alert_active{"),
            Some(r#"cutover_alert_active{rule="spike_503",target=""} 1"#)
        );
    }

    #[test]
    fn a_cleared_alert_reads_zero_and_a_failing_check_zero() {
        let m = Metrics::new();
        m.alert("spike_503", "gateway", true);
        m.alert("spike_503", "gateway", false);
        m.check_state("gateway", "preflight", true);
        m.check_state("gateway", "preflight", false);
        let text = m.encode();
        assert_eq!(
            line(&text, "cutover_alert_active{"),
            Some(r#"cutover_alert_active{rule="spike_503",target="gateway"} 0"#)
        );
        assert_eq!(
            line(&text, "cutover_check_passing{"),
            Some(r#"cutover_check_passing{target="gateway",check="preflight"} 0"#)
        );
    }

    #[test]
    fn the_expected_dns_share_goes_away_with_the_expectation() {
        let m = Metrics::new();
        m.dns_share("gateway", 0.25, Some(0.1));
        m.dns_share("gateway", 0.5, None);
        let text = m.encode();
        assert_eq!(
            line(&text, "cutover_dns_share{"),
            Some(r#"cutover_dns_share{target="gateway"} 0.5"#)
        );
        assert!(!text.contains("cutover_dns_expected_share{"), "{text}");
    }

    #[test]
    fn a_latency_past_the_last_bucket_lands_in_inf_only() {
        let m = Metrics::new();
        m.request(
            "gateway",
            "items",
            Some(200),
            Origin::App,
            false,
            Duration::from_secs(31),
        );
        let text = m.encode();
        assert!(
            text.contains(
                r#"cutover_latency_seconds_bucket{target="gateway",check="items",le="30"} 0"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"cutover_latency_seconds_bucket{target="gateway",check="items",le="+Inf"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"cutover_latency_seconds_sum{target="gateway",check="items"} 31.0"#),
            "{text}"
        );
    }
}
