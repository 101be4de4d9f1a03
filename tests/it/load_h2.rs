//! HTTP/2 under load (issue 18): `load.http_version: h2` over the lab's TLS
//! listeners (ALPN `h2` alone) and `h2c` with prior knowledge over its plain
//! ones, with every request accounted for against what the lab answered;
//! `connections × max_streams` bounding what is in flight; a TLS listener
//! that does not choose `h2` failing each request as `protocol`; and a
//! server that sends GOAWAY (a config reload) losing no request silently.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use crate::support::{lab, report_in, run_bin_async};

/// A two-target scenario over `scheme`; `tls` is the targets' TLS block.
fn scenario(ingress: &str, gateway: &str, tls: &str, path: &str, load: &str) -> String {
    format!(
        r#"name: h2 load
host: shop.example.test
defaults: {{ timeout: 5s }}
targets:
  ingress: {{ connect: "{ingress}"{tls} }}
  gateway: {{ connect: "{gateway}"{tls} }}
checks:
  - name: items
    http: {{ path: "{path}" }}
{load}
"#
    )
}

fn load_of(report: &serde_json::Value, target: &str) -> serde_json::Value {
    report["load"]["targets"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["target"] == target))
        .cloned()
        .unwrap_or_else(|| panic!("no load for {target}"))
}

fn n(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// Runs `cutover run s.yaml` in a new directory; the report and the exit code.
async fn run(yaml: &str, extra: &[&str]) -> (serde_json::Value, Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("s.yaml"), yaml).expect("write");
    let mut args = vec!["run", "s.yaml", "--out", "out"];
    args.extend_from_slice(extra);
    let out = run_bin_async(dir.path(), &args).await;
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report = report_in(dir.path(), "out");
    (report, out.status.code(), text)
}

/// Every arrival of both targets sent and answered 200, and the lab
/// answered exactly the check pass and these.
fn assert_every_request_accounted(report: &serde_json::Value, lab_responses: u64, each: u64) {
    let mut answered = 0;
    for t in ["ingress", "gateway"] {
        let l = load_of(report, t);
        let totals = &l["totals"];
        assert_eq!(n(&l["intended"]), each, "{t}");
        assert_eq!(
            n(&totals["requests"]) + n(&totals["dropped"]),
            each,
            "{t}: every arrival is sent or dropped"
        );
        assert_eq!(n(&totals["dropped"]), 0, "{t}");
        assert_eq!(n(&totals["errors"]), 0, "{t}: {}", totals["error_kinds"]);
        assert_eq!(n(&totals["statuses"]["200"]), each, "{t}");
        answered += n(&totals["statuses"]["200"]);
    }
    // One check-pass request per target, then the load.
    assert_eq!(lab_responses, 2 + answered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_over_tls_accounts_for_every_request() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &lab.ca_pem).expect("write CA");
    let tls = format!(", scheme: https, tls: {{ ca: \"{}\" }}", ca.display());
    let yaml = scenario(
        &lab.ingress_https.to_string(),
        &lab.gateway_https.to_string(),
        &tls,
        "/api/items",
        "load: { http_version: h2, stages: [{ rate: 100/s, for: 2s }] }",
    );
    let (report, code, text) = run(&yaml, &[]).await;
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(report["load"]["http_version"], "h2");
    assert!(
        text.contains("Load over h2, at most 100 streams per connection."),
        "the terminal says what the load spoke: {text}"
    );
    assert_every_request_accounted(&report, lab.counters.responses.load(Relaxed), 200);
    // Multiplexed: a connection per worker and target at most, plus the check pass's.
    let workers = n(&report["load"]["workers"]);
    assert!(
        lab.counters.connections.load(Relaxed) <= 2 + 2 * workers,
        "{:?}",
        lab.counters
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_with_prior_knowledge_accounts_for_every_request() {
    let lab = lab().await;
    let yaml = scenario(
        &lab.ingress_http.to_string(),
        &lab.gateway_http.to_string(),
        "",
        "/api/items",
        "load: { http_version: h2c, stages: [{ concurrency: 4, for: 1s }, { rate: 100/s, for: 1s }] }",
    );
    let (report, code, text) = run(&yaml, &[]).await;
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(report["load"]["http_version"], "h2c");
    let mut answered = 0;
    for t in ["ingress", "gateway"] {
        let totals = load_of(&report, t)["totals"].clone();
        assert_eq!(n(&totals["errors"]), 0, "{t}: {}", totals["error_kinds"]);
        assert_eq!(n(&totals["dropped"]), 0, "{t}");
        assert_eq!(n(&totals["statuses"]["200"]), n(&totals["requests"]), "{t}");
        assert!(n(&totals["requests"]) > 100, "{t}: {totals}");
        answered += n(&totals["requests"]);
    }
    assert_eq!(lab.counters.responses.load(Relaxed), 2 + answered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_times_max_streams_bounds_the_requests_in_flight() {
    let lab = lab().await;
    // 24 arrivals in 1 s, each answered after 500 ms, at most 2 × 3 in flight:
    // the rest wait for a stream, and that wait is latency.
    let yaml = scenario(
        &lab.ingress_http.to_string(),
        &lab.gateway_http.to_string(),
        "",
        "/slow?ms=500",
        "load: { http_version: h2c, connections: 2, max_streams: 3, targets: [ingress], stages: [{ rate: 24/s, for: 1s }] }",
    );
    let counters = Arc::clone(&lab.counters);
    let most = Arc::new(AtomicU64::new(0));
    let watching = {
        let (counters, most) = (Arc::clone(&counters), Arc::clone(&most));
        tokio::spawn(async move {
            loop {
                let received = counters.requests.load(Relaxed);
                let answered = counters.responses.load(Relaxed);
                most.fetch_max(received.saturating_sub(answered), Relaxed);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let (report, code, text) = run(&yaml, &["--workers", "1"]).await;
    watching.abort();
    assert_eq!(code, Some(0), "{text}");
    let totals = load_of(&report, "ingress")["totals"].clone();
    assert_eq!(n(&totals["requests"]), 24, "{totals}");
    assert_eq!(n(&totals["statuses"]["200"]), 24, "{totals}");
    assert_eq!(n(&totals["dropped"]), 0);
    assert_eq!(
        most.load(Relaxed),
        6,
        "at most connections × max_streams at once, and that many"
    );
    // Two check-pass connections, then at most `connections` for the load.
    assert!(counters.connections.load(Relaxed) <= 4, "{counters:?}");
    // Four rounds of 500 ms: the last six arrive 750–958 ms in, start at
    // 1,500–1,708 ms when the third round ends, and take 1,250 ms each.
    let max_ms = totals["latency"]["max"].as_f64().unwrap_or(0.0);
    assert!(
        max_ms >= 1200.0,
        "the wait for a stream is latency: max {max_ms} ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_listener_that_does_not_choose_h2_fails_each_request_as_protocol() {
    let lab = lab().await;
    lab.switches.gateway_no_h2.store(true, Relaxed);
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &lab.ca_pem).expect("write CA");
    let tls = format!(", scheme: https, tls: {{ ca: \"{}\" }}", ca.display());
    let yaml = scenario(
        &lab.ingress_https.to_string(),
        &lab.gateway_https.to_string(),
        &tls,
        "/api/items",
        "load: { http_version: h2, targets: [gateway], stages: [{ rate: 20/s, for: 1s }] }",
    );
    let started = std::time::Instant::now();
    let (report, code, text) = run(&yaml, &[]).await;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("items [gateway]: protocol ×20"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(15), "no hang");
    let totals = load_of(&report, "gateway")["totals"].clone();
    assert_eq!(n(&totals["requests"]), 20, "{totals}");
    assert_eq!(n(&totals["error_kinds"]["protocol"]), 20, "{totals}");
    // Only the check pass reached the gateway's app.
    assert_eq!(lab.counters.responses.load(Relaxed), 2);
}
