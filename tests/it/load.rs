//! `run` end to end: the check pass, then load against both lab targets at
//! once, each with its own schedule and connections. Counts are compared with
//! what the lab's servers saw.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::support::{assert_valid_report, lab};

fn scenario(ingress: &str, gateway: &str, load: &str, path: &str) -> String {
    format!(
        r#"name: load test
host: shop.example.test
defaults: {{ timeout: 5s }}
targets:
  ingress: {{ connect: "{ingress}" }}
  gateway: {{ connect: "{gateway}" }}
checks:
  - name: items
    http: {{ path: "{path}" }}
{load}"#
    )
}

fn load_of(report: &serde_json::Value, target: &str) -> serde_json::Value {
    report["load"]["targets"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["target"] == target))
        .cloned()
        .unwrap_or_else(|| panic!("no load for {target}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_loads_both_targets_and_every_request_is_accounted_for() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        &lab.ingress_http.to_string(),
        &lab.gateway_http.to_string(),
        "load: { stages: [{ rate: 100/s, for: 2s }] }",
        "/api/items",
    );
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    let out = crate::support::run_bin_async(dir.path(), &["run", "s.yaml", "--out", "out"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = crate::support::report_in(dir.path(), "out");
    assert_valid_report(&report);
    assert_eq!(report["mode"], "run");
    let mut load_requests = 0;
    for t in ["ingress", "gateway"] {
        let l = load_of(&report, t);
        assert_eq!(l["intended"], 200, "{t}");
        assert_eq!(
            l["totals"]["requests"], 200,
            "{t}: every intended request completed"
        );
        assert_eq!(l["totals"]["dropped"], 0, "{t}");
        assert_eq!(l["totals"]["statuses"]["200"], 200, "{t}");
        let series = l["checks"][0]["series"].as_array().expect("series");
        let sum: u64 = series
            .iter()
            .map(|s| s["requests"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(sum, 200, "{t}: the per-second series adds up to the total");
        assert!(l["totals"]["latency"]["p99"].as_f64().unwrap_or(0.0) > 0.0);
        load_requests += 200;
    }
    // Two check-pass requests plus the load: the lab answered exactly these.
    assert_eq!(
        lab.counters.responses.load(Ordering::Relaxed),
        2 + load_requests
    );
    // Keep-alive: a handful of connections, not one per request.
    assert!(
        lab.counters.connections.load(Ordering::Relaxed) < 40,
        "{:?}",
        lab.counters
    );
    assert!(stdout.contains("LOAD"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_connections_open_one_connection_per_request() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        &lab.ingress_http.to_string(),
        &lab.gateway_http.to_string(),
        "load: { stages: [{ rate: 50/s, for: 1s }], connection: fresh, targets: [gateway] }",
        "/api/items",
    );
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    let out = crate::support::run_bin_async(dir.path(), &["run", "s.yaml", "--out", "out"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = crate::support::report_in(dir.path(), "out");
    assert_eq!(
        report["load"]["targets"].as_array().map(Vec::len),
        Some(1),
        "only the gateway is loaded"
    );
    assert_eq!(load_of(&report, "gateway")["totals"]["requests"], 50);
    assert!(
        lab.counters.connections.load(Ordering::Relaxed) >= 50,
        "{:?}",
        lab.counters
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrivals_past_max_in_flight_are_counted_as_dropped() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        &lab.ingress_http.to_string(),
        &lab.gateway_http.to_string(),
        "load: { stages: [{ rate: 50/s, for: 1s }], max_in_flight: 4, targets: [ingress] }",
        "/slow?ms=400",
    );
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    let out = crate::support::run_bin_async(
        dir.path(),
        &["run", "s.yaml", "--out", "out", "--workers", "1"],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = crate::support::report_in(dir.path(), "out");
    assert_valid_report(&report);
    let l = load_of(&report, "ingress");
    let (requests, dropped) = (
        l["totals"]["requests"].as_u64().unwrap_or(0),
        l["totals"]["dropped"].as_u64().unwrap_or(0),
    );
    assert_eq!(
        requests + dropped,
        50,
        "every arrival is sent or dropped, never both, never lost"
    );
    // At most 4 at a time, each taking 400 ms: at most 4 per 400 ms can be sent.
    assert!(
        requests <= 16 && dropped >= 34,
        "requests {requests}, dropped {dropped}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_reports_every_completed_request() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        &lab.ingress_http.to_string(),
        &lab.gateway_http.to_string(),
        "load: { stages: [{ rate: 100/s, for: 60s }] }",
        "/api/items",
    );
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    let child = std::process::Command::new(crate::support::bin())
        .args(["run", "s.yaml", "--out", "out"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Deterministic: signal once the lab has answered part of the load.
    let deadline = Instant::now() + Duration::from_secs(30);
    while lab.counters.responses.load(Ordering::Relaxed) < 100 {
        assert!(Instant::now() < deadline, "the load never reached the lab");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: serde_json::Value = crate::support::report_in(dir.path(), "out");
    assert_valid_report(&report);
    assert_eq!(report["status"], "interrupted");
    assert_eq!(report["load"]["interrupted"], true);
    let counted: u64 = report["load"]["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| t["totals"]["requests"].as_u64().unwrap_or(0))
        .sum();
    assert!(counted >= 98, "{counted}");
    assert_eq!(
        counted + 2,
        lab.counters.responses.load(Ordering::Relaxed),
        "every answered request is in the report"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slower_gateway_is_reported_as_a_latency_regression_with_its_numbers() {
    let lab = lab().await;
    lab.switches
        .gateway_extra_latency_ms
        .store(5, Ordering::Relaxed);
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        &lab.ingress_http.to_string(),
        &lab.gateway_http.to_string(),
        "load: { stages: [{ rate: 200/s, for: 2s }] }",
        "/api/items",
    );
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    let out = crate::support::run_bin_async(dir.path(), &["run", "s.yaml", "--out", "out"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = crate::support::report_in(dir.path(), "out");
    let f = report["findings"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["kind"] == "latency_regression"))
        .unwrap_or_else(|| panic!("no regression finding: {}", report["findings"]));
    assert_eq!(f["target"], "gateway");
    let m = f["message"].as_str().unwrap_or("");
    assert!(
        m.starts_with("gateway p50 ") && m.contains(" vs ingress ") && m.contains("n = 400 / 400"),
        "{m}"
    );
}
