//! `cutover watch`'s Prometheus endpoint over real HTTP: scrapes parsed back
//! (a small parser of the Prometheus text format below) and checked for what
//! Prometheus relies on: counters only grow, histogram buckets are
//! cumulative and agree with `_count` and `_sum`, a scrape sees every request
//! whole. Also /healthz, 404 and 405, hostile clients, and that stopping the
//! server releases its port. Every server binds 127.0.0.1:0; every wait is
//! bounded.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cutover::probe::Origin;
use cutover::watch::metrics::{serve, Metrics, CONTENT_TYPE, LATENCY_BUCKETS, MAX_CONNECTIONS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(5);

struct Server {
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

async fn start() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let metrics = Arc::new(Metrics::new());
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(serve(listener, Arc::clone(&metrics), stopped));
    Server {
        addr,
        metrics,
        stop,
        task,
    }
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .build()
        .expect("client")
}

async fn get(client: &reqwest::Client, addr: SocketAddr, path: &str) -> (u16, String, String) {
    let resp = client
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .expect("the server answers");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, content_type, resp.text().await.expect("body"))
}

async fn scrape(client: &reqwest::Client, addr: SocketAddr) -> Exposition {
    let (status, content_type, text) = get(client, addr, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(content_type, CONTENT_TYPE);
    parse(&text)
}

// ---- A small parser of the Prometheus text format (version 0.0.4) ----

type Labels = BTreeMap<String, String>;

#[derive(Debug, Default)]
struct Exposition {
    /// `# TYPE` by family name.
    types: BTreeMap<String, String>,
    /// Value by sample name and labels.
    samples: BTreeMap<(String, Labels), f64>,
}

impl Exposition {
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples.get(&(name.to_owned(), labels)).copied()
    }

    /// Samples of one name: labels → value.
    fn series(&self, name: &str) -> Vec<(&Labels, f64)> {
        self.samples
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|((_, l), v)| (l, *v))
            .collect()
    }

    /// The type of the family a sample belongs to.
    fn kind_of(&self, sample: &str) -> &str {
        for suffix in ["", "_bucket", "_sum", "_count"] {
            if let Some(family) = sample.strip_suffix(suffix) {
                if let Some(kind) = self.types.get(family) {
                    if suffix.is_empty() || kind == "histogram" {
                        return kind;
                    }
                }
            }
        }
        panic!("sample {sample} has no # TYPE line");
    }
}

fn parse(text: &str) -> Exposition {
    let mut exp = Exposition::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            exp.types.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (name, labels, value) = parse_sample(line);
        let previous = exp.samples.insert((name.clone(), labels), value);
        assert!(previous.is_none(), "a series appears twice: {line}");
    }
    exp
}

/// `name{k="v",…} value`, with `\\`, `\"` and `\n` escapes in label values.
fn parse_sample(line: &str) -> (String, Labels, f64) {
    let name_end = line
        .find(['{', ' '])
        .unwrap_or_else(|| panic!("no value: {line}"));
    let name = line[..name_end].to_owned();
    let mut labels = Labels::new();
    let mut chars = line[name_end..].chars().peekable();
    if chars.peek() == Some(&'{') {
        chars.next();
        loop {
            if chars.peek() == Some(&'}') {
                chars.next();
                break;
            }
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            assert_eq!(chars.next(), Some('"'), "a quoted value: {line}");
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => panic!("bad escape {other:?} in {line}"),
                    },
                    Some(c) => value.push(c),
                    None => panic!("unterminated label value: {line}"),
                }
            }
            labels.insert(key, value);
            if chars.peek() == Some(&',') {
                chars.next();
            }
        }
    }
    let rest: String = chars.collect();
    let value = rest.trim();
    let value = value
        .parse::<f64>()
        .unwrap_or_else(|_| panic!("bad value {value:?} in {line}"));
    (name, labels, value)
}

fn without(labels: &Labels, key: &str) -> Labels {
    let mut l = labels.clone();
    l.remove(key);
    l
}

/// What must hold in every exposition, whatever was recorded.
fn assert_consistent(exp: &Exposition) {
    assert_eq!(exp.get("cutover_up", &[]), Some(1.0));
    for (name, _) in exp.samples.keys() {
        exp.kind_of(name);
    }

    // Histograms: cumulative buckets, `+Inf` = `_count`, `_sum` within the buckets' bounds.
    let mut buckets: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
    for (labels, count) in exp.series("cutover_latency_seconds_bucket") {
        let le = labels["le"].parse::<f64>().expect("le is a number");
        buckets
            .entry(without(labels, "le"))
            .or_default()
            .push((le, count));
    }
    assert!(!buckets.is_empty(), "a latency histogram");
    for (key, mut bounds) in buckets {
        bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
        let les: Vec<f64> = bounds.iter().map(|(le, _)| *le).collect();
        let expected: Vec<f64> = LATENCY_BUCKETS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .collect();
        assert_eq!(les, expected, "the fixed buckets for {key:?}");
        for pair in bounds.windows(2) {
            assert!(
                pair[0].1 <= pair[1].1,
                "cumulative buckets for {key:?}: {bounds:?}"
            );
        }
        let pairs: Vec<(&str, &str)> = key.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let count = exp
            .get("cutover_latency_seconds_count", &pairs)
            .expect("_count");
        let sum = exp
            .get("cutover_latency_seconds_sum", &pairs)
            .expect("_sum");
        assert_eq!(
            bounds.last().map(|b| b.1),
            Some(count),
            "+Inf = _count for {key:?}"
        );
        // Each observation lies between its bucket's lower and upper bound.
        let (mut low, mut high, mut below, mut lower_bound) = (0.0, 0.0, 0.0, 0.0);
        for (le, cumulative) in &bounds {
            let n = cumulative - below;
            if n > 0.0 {
                // +Inf when the last bucket is used: no upper bound then.
                low += n * lower_bound;
                high += n * le;
            }
            (below, lower_bound) = (*cumulative, *le);
        }
        assert!(
            low - 1e-9 <= sum && sum <= high + 1e-9,
            "_sum {sum} within [{low}, {high}] for {key:?}"
        );

        // A scrape sees each request whole.
        let requests = exp.get("cutover_requests_total", &pairs).expect("requests");
        assert_eq!(requests, count, "requests = latency count for {key:?}");
        let by_class: f64 = exp
            .series("cutover_responses_total")
            .into_iter()
            .filter(|(l, _)| without(l, "class") == key)
            .map(|(_, v)| v)
            .sum();
        assert_eq!(
            requests, by_class,
            "requests = responses by class for {key:?}"
        );
        let failed = exp.get("cutover_failed_total", &pairs).expect("failed");
        assert!(failed <= requests, "failed ≤ requests for {key:?}");
    }
}

/// Every counter and histogram series of `before` is in `after`, no smaller.
fn assert_grew(before: &Exposition, after: &Exposition) {
    for ((name, labels), value) in &before.samples {
        let kind = before.kind_of(name);
        if kind != "counter" && kind != "histogram" {
            continue;
        }
        let later = after.samples.get(&(name.clone(), labels.clone()));
        assert!(
            later.is_some_and(|later| *later >= *value),
            "{name}{labels:?} went from {value} to {later:?}"
        );
    }
}

#[tokio::test]
async fn scrapes_see_counters_grow_and_histograms_stay_cumulative() {
    let server = start().await;
    let m = &server.metrics;
    let client = client();
    let ms = Duration::from_millis;
    for _ in 0..5 {
        m.request("ingress", "items", Some(200), Origin::App, false, ms(2));
    }
    for _ in 0..3 {
        m.request("gateway", "items", Some(200), Origin::App, false, ms(12));
    }
    for _ in 0..2 {
        m.request("gateway", "items", Some(503), Origin::Gateway, true, ms(40));
    }
    m.request("gateway", "chat", None, Origin::Unknown, true, ms(5000));
    m.dns_share("gateway", 0.08, Some(0.1));
    m.alert("spike_503", "gateway", true);
    m.check_state("gateway", "preflight", true);

    let first = scrape(&client, server.addr).await;
    assert_consistent(&first);
    let gw = [("target", "gateway"), ("check", "items")];
    assert_eq!(first.get("cutover_requests_total", &gw), Some(5.0));
    assert_eq!(first.get("cutover_failed_total", &gw), Some(2.0));
    assert_eq!(
        first.get(
            "cutover_503_total",
            &[
                ("target", "gateway"),
                ("check", "items"),
                ("origin", "gateway")
            ]
        ),
        Some(2.0)
    );
    assert_eq!(
        first.get(
            "cutover_responses_total",
            &[("target", "gateway"), ("check", "chat"), ("class", "error")]
        ),
        Some(1.0)
    );
    let sum = first.get("cutover_latency_seconds_sum", &gw).expect("sum");
    assert!((sum - (3.0 * 0.012 + 2.0 * 0.040)).abs() < 1e-9, "{sum}");

    // More requests, one past the last bucket, and a key seen only now.
    m.request(
        "gateway",
        "items",
        Some(503),
        Origin::Unknown,
        true,
        ms(31_000),
    );
    m.request("ingress", "items", Some(200), Origin::App, false, ms(1));
    m.request("ingress", "chat", Some(101), Origin::App, false, ms(3));
    m.alert("spike_503", "gateway", false);
    m.dns_share("gateway", 0.12, Some(0.1));

    let second = scrape(&client, server.addr).await;
    assert_consistent(&second);
    assert_grew(&first, &second);
    assert_eq!(second.get("cutover_requests_total", &gw), Some(6.0));
    let inf = [("target", "gateway"), ("check", "items"), ("le", "+Inf")];
    let last = [("target", "gateway"), ("check", "items"), ("le", "30")];
    assert_eq!(
        second.get("cutover_latency_seconds_bucket", &inf),
        Some(6.0)
    );
    assert_eq!(
        second.get("cutover_latency_seconds_bucket", &last),
        Some(5.0)
    );
    assert_eq!(
        second.get(
            "cutover_alert_active",
            &[("rule", "spike_503"), ("target", "gateway")]
        ),
        Some(0.0)
    );
    assert_eq!(
        second.get("cutover_dns_share", &[("target", "gateway")]),
        Some(0.12)
    );
    assert_eq!(
        second.get("cutover_dns_expected_share", &[("target", "gateway")]),
        Some(0.1)
    );
    let _ = server.stop.send(true);
}

// Guards the shared/exclusive lock in `Metrics`: without it a scrape can
// catch a request between its counters (requests counted, latency not yet).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scrapes_during_concurrent_requests_see_each_request_whole() {
    let server = start().await;
    let client = client();
    let writers: Vec<_> = (0..4)
        .map(|i| {
            let m = Arc::clone(&server.metrics);
            std::thread::spawn(move || {
                let target = if i % 2 == 0 { "ingress" } else { "gateway" };
                for n in 0..20_000u64 {
                    let status = [200, 503, 404][(n % 3) as usize];
                    let latency = Duration::from_micros(n % 50_000);
                    m.request(
                        target,
                        "items",
                        Some(status),
                        Origin::Gateway,
                        status != 200,
                        latency,
                    );
                }
            })
        })
        .collect();
    let mut previous = Exposition::default();
    let mut scrapes = 0;
    while writers.iter().any(|w| !w.is_finished()) || scrapes == 0 {
        let exp = scrape(&client, server.addr).await;
        if exp.samples.len() > 1 {
            assert_consistent(&exp);
        }
        assert_grew(&previous, &exp);
        previous = exp;
        scrapes += 1;
    }
    for w in writers {
        w.join().expect("writer");
    }
    let last = scrape(&client, server.addr).await;
    let key = [("target", "gateway"), ("check", "items")];
    assert_eq!(last.get("cutover_requests_total", &key), Some(40_000.0));
    assert!(scrapes > 1, "scraped while requests were recorded");
    let _ = server.stop.send(true);
}

#[tokio::test]
async fn scenario_names_with_quotes_backslashes_and_newlines_round_trip() {
    let server = start().await;
    let (target, check) = ("gate\"way", "C:\\items\nnext line");
    server.metrics.request(
        target,
        check,
        Some(200),
        Origin::App,
        false,
        Duration::from_millis(1),
    );
    server.metrics.alert("spike \"503\"", "", true);
    let exp = scrape(&client(), server.addr).await;
    assert_consistent(&exp);
    let key = [("target", target), ("check", check)];
    assert_eq!(exp.get("cutover_requests_total", &key), Some(1.0));
    assert_eq!(
        exp.get(
            "cutover_alert_active",
            &[("rule", "spike \"503\""), ("target", "")]
        ),
        Some(1.0)
    );
    let _ = server.stop.send(true);
}

#[tokio::test]
async fn healthz_is_ok_unknown_paths_are_404_and_other_methods_405() {
    let server = start().await;
    let client = client();
    let (status, _, body) = get(&client, server.addr, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));

    for path in ["/", "/metrics/", "/nope", "/healthz/x", "/%ff%00"] {
        let (status, _, body) = get(&client, server.addr, path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body.ends_with(".\n"), "a sentence: {body}");
    }
    // A query does not change the path.
    let (status, content_type, _) = get(&client, server.addr, "/metrics?debug=1").await;
    assert_eq!((status, content_type.as_str()), (200, CONTENT_TYPE));

    let url = format!("http://{}/metrics", server.addr);
    let resp = client.post(&url).body("x").send().await.expect("answer");
    assert_eq!(resp.status().as_u16(), 405);
    assert_eq!(
        resp.headers().get("allow").and_then(|v| v.to_str().ok()),
        Some("GET, HEAD")
    );
    let resp = client.head(&url).send().await.expect("answer");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().await.expect("body"), "");
    let _ = server.stop.send(true);
}

/// Counts panics on the calling test's thread from now on. A
/// current-thread `#[tokio::test]` runs the tasks it spawns on that thread,
/// so a panic in a connection task (which the server survives) is counted.
fn count_panics_on_this_thread() -> Arc<std::sync::atomic::AtomicUsize> {
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (seen, name) = (
        Arc::clone(&count),
        std::thread::current().name().map(str::to_owned),
    );
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if name.is_some() && std::thread::current().name() == name.as_deref() {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        previous(info);
    }));
    count
}

#[tokio::test]
async fn garbage_from_clients_leaves_the_server_answering_without_a_panic() {
    let panics = count_panics_on_this_thread();
    let server = start().await;
    let garbage: [&[u8]; 7] = [
        b"\x00\xff\xfe not http at all\r\n\r\n",
        b"GET /metrics HTTP/9.9\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET http://evil.example/metrics HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        b"GET \x7f\x01 HTTP/1.1\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ];
    for bytes in garbage {
        let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
        tcp.write_all(bytes).await.expect("write");
        let mut answer = Vec::new();
        // Whatever hyper answers (400 or a close), it must not take the server down.
        let _ = tokio::time::timeout(WAIT, tcp.read_to_end(&mut answer)).await;
    }
    // A huge header block, then the connection dropped mid-request.
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    let huge = format!("GET /metrics HTTP/1.1\r\nX-A: {}\r\n", "a".repeat(1 << 20));
    let _ = tcp.write_all(huge.as_bytes()).await;
    drop(tcp);

    let (status, _, body) = get(&client(), server.addr, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    assert!(!server.task.is_finished());
    let _ = server.stop.send(true);
    assert_eq!(panics.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_and_the_server_recovers() {
    let server = start().await;
    let mut held = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        held.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    // Let the server accept them all, then check one more is closed at once.
    let mut probe = TcpStream::connect(server.addr).await.expect("connect");
    let mut buf = Vec::new();
    let read = tokio::time::timeout(WAIT, probe.read_to_end(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "a connection over the cap is closed: {read:?}"
    );
    drop(held);
    let client = client();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let url = format!("http://{}/healthz", server.addr);
        match client.get(&url).send().await {
            Ok(resp) if resp.status() == 200 => break,
            other => assert!(
                tokio::time::Instant::now() < deadline,
                "the server answers again once the held connections are gone: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = server.stop.send(true);
}

/// Waits for `serve` to return after a stop.
async fn stopped(server: Server) -> SocketAddr {
    let _ = server.stop.send(true);
    tokio::time::timeout(WAIT, server.task)
        .await
        .expect("serve returns soon after stop")
        .expect("serve does not panic");
    server.addr
}

async fn assert_released(addr: SocketAddr) {
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "{addr} still accepts after stop"
    );
    TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("{addr} can be bound again after stop: {e}"));
}

#[tokio::test]
async fn stop_ends_the_server_with_a_kept_alive_connection_and_releases_the_port() {
    let server = start().await;
    let client = client();
    // The client keeps this connection alive and idle in its pool.
    let (status, _, _) = get(&client, server.addr, "/healthz").await;
    assert_eq!(status, 200);
    let addr = stopped(server).await;
    assert_released(addr).await;
}

#[tokio::test]
async fn stop_does_not_wait_for_a_client_that_never_finishes_its_request() {
    let server = start().await;
    let mut slow = TcpStream::connect(server.addr).await.expect("connect");
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    // Let the server accept it before the stop.
    let (status, _, _) = get(&client(), server.addr, "/healthz").await;
    assert_eq!(status, 200);
    let addr = stopped(server).await;
    assert_released(addr).await;
    drop(slow);
}

#[tokio::test]
async fn dropping_the_stop_sender_ends_the_server() {
    let Server {
        addr, stop, task, ..
    } = start().await;
    drop(stop);
    tokio::time::timeout(WAIT, task)
        .await
        .expect("serve returns once nothing can stop it")
        .expect("serve does not panic");
    assert_released(addr).await;
}
