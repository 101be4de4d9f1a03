//! Load verdicts: every load response judged by its check's expectation,
//! status breakdowns with origins, and the findings built on them.

use std::sync::atomic::Ordering;

use crate::support::{lab, report_in, run_bin_async};

fn scenario(ingress: &str, gateway: &str, checks: &str, extra: &str) -> String {
    format!(
        r#"name: load verdicts
host: shop.example.test
defaults: {{ timeout: 5s }}
targets:
  ingress: {{ connect: "{ingress}" }}
  gateway: {{ connect: "{gateway}" }}
checks:
{checks}
{extra}"#
    )
}

fn target<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["load"]["targets"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["target"] == name))
        .unwrap_or_else(|| panic!("no load for {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_404_under_load_where_200_is_expected_is_failed_and_fires_error_ratio() {
    // Regression guard: 289 × 404 under `expect: {status: 200}` showed
    // `ERRORS 0` and `error_ratio` did not fire.
    let lab = lab().await;
    lab.switches
        .gateway_strict_prefix
        .store(true, Ordering::Relaxed);
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        &lab.ingress_http.to_string(),
        &lab.gateway_http.to_string(),
        "  - name: prefix\n    http: { path: /apix }\n    expect: { status: 200 }",
        "load: { stages: [{ rate: 40/s, for: 1s }] }\nanalysis: { thresholds: { error_ratio: 0.01 } }",
    );
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    let out = run_bin_async(dir.path(), &["run", "s.yaml", "--out", "out"]).await;
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = report_in(dir.path(), "out");
    let gateway = target(&report, "gateway");
    assert_eq!(gateway["totals"]["failed"], 40, "{gateway}");
    assert_eq!(gateway["totals"]["failed_statuses"]["404"]["gateway"], 40);
    assert_eq!(target(&report, "ingress")["totals"]["failed"], 0);
    // The breakdown names who answered the failures.
    assert!(
        stdout.contains("prefix [gateway]: 404 ×40 gateway"),
        "{stdout}"
    );
    assert!(stdout.contains("prefix [ingress]: 200 ×40"), "{stdout}");
    let threshold = report["findings"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["kind"] == "threshold"))
        .expect("the error_ratio threshold fires");
    assert_eq!(threshold["target"], "gateway");
    assert!(
        threshold["message"]
            .as_str()
            .is_some_and(|m| m.contains("40 of 40 requests failed")),
        "{threshold}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_the_check_expects_is_not_a_failure_under_load() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        &lab.ingress_http.to_string(),
        &lab.gateway_http.to_string(),
        "  - name: gone\n    http: { path: /status/410 }\n    expect: { status: 410 }",
        "load: { stages: [{ rate: 20/s, for: 1s }] }\nanalysis: { thresholds: { error_ratio: 0.01 } }",
    );
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    let out = run_bin_async(dir.path(), &["run", "s.yaml", "--out", "out"]).await;
    let report = report_in(dir.path(), "out");
    assert_eq!(target(&report, "gateway")["totals"]["failed"], 0);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_and_body_rules_judge_load_responses_unless_judge_is_status() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let checks = "  - name: items\n    http: { path: /api/items }\n    expect: { status: 200, body_contains: [\"no such text\"] }";
    for (judge, failed) in [("full", 20), ("status", 0)] {
        let s = scenario(
            &lab.ingress_http.to_string(),
            &lab.gateway_http.to_string(),
            checks,
            &format!("load: {{ stages: [{{ rate: 20/s, for: 1s }}], judge: {judge}, targets: [gateway] }}"),
        );
        let out_dir = format!("out-{judge}");
        std::fs::write(dir.path().join("s.yaml"), s).expect("write");
        let _ = run_bin_async(dir.path(), &["run", "s.yaml", "--out", &out_dir]).await;
        let report = report_in(dir.path(), &out_dir);
        assert_eq!(
            target(&report, "gateway")["totals"]["failed"],
            failed,
            "{judge}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_on_the_gateway_where_the_ingress_answers_503_is_one_rate_limit_finding() {
    // Regression guard: hundreds of 429s (the gateway's shared bucket) against
    // 503s (the ingress's per-client limit) were visible only as raw counts.
    let lab = lab().await;
    lab.switches.rate_limit_every.store(10, Ordering::Relaxed);
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        &lab.ingress_http.to_string(),
        &lab.gateway_http.to_string(),
        "  - name: limited\n    http: { path: /api/limited }\n    expect: { status: 200 }",
        "load: { stages: [{ rate: 200/s, for: 2s }] }",
    );
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    let _ = run_bin_async(dir.path(), &["run", "s.yaml", "--out", "out"]).await;
    let report = report_in(dir.path(), "out");
    let found: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .filter(|f| f["kind"] == "status_class_difference")
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(found.len(), 1, "{found:#?}");
    let f = found[0];
    let m = f["message"].as_str().unwrap_or("");
    assert!(m.contains("429 ×40 gateway"), "{m}");
    assert!(m.contains("503 ×40 ingress"), "{m}");
    assert!(
        f["hint"]
            .as_str()
            .is_some_and(|h| h.contains("one token bucket shared")),
        "{f}"
    );
    // The breakdown says who answered what.
    let stdout = crate::support::read(&dir.path().join("out/summary.md"));
    assert!(stdout.contains("429 ×40 gateway"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_status_mix_on_both_targets_is_no_difference() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        &lab.ingress_http.to_string(),
        &lab.gateway_http.to_string(),
        "  - name: teapot\n    http: { path: /status/418 }\n    expect: { status: 200 }",
        "load: { stages: [{ rate: 100/s, for: 1s }] }",
    );
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    let _ = run_bin_async(dir.path(), &["run", "s.yaml", "--out", "out"]).await;
    let report = report_in(dir.path(), "out");
    assert!(!report["findings"]
        .as_array()
        .is_some_and(|fs| fs.iter().any(|f| f["kind"] == "status_class_difference")));
}

/// Runs a 3 s load with a DNS check sampled every 300 ms; at 1.2 s into the
/// load the lab's weighted records go from 90/10 to 50/50, after a mark
/// (with the new weights when `marked_weights`).
async fn dns_weight_change(marked_weights: bool) -> serde_json::Value {
    use std::time::{Duration, Instant};
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = format!(
        r#"name: dns change
host: shop.example.test
targets:
  ingress: {{ connect: "{}", dns_answers: [192.0.2.10] }}
  gateway: {{ connect: "{}", dns_answers: [192.0.2.20] }}
checks:
  - name: items
    http: {{ path: /api/items }}
  - name: weighted dns
    dns: {{ nameservers: ["{}"], samples: 400, rate: 20000/s, every: 300ms }}
    expect: {{ weights: {{ ingress: 90, gateway: 10 }} }}
load: {{ stages: [{{ rate: 20/s, for: 3s }}] }}
"#,
        lab.ingress_http, lab.gateway_http, lab.dns
    );
    std::fs::write(dir.path().join("s.yaml"), yaml).expect("write");
    let d = dir.path().to_path_buf();
    let run = tokio::task::spawn_blocking(move || {
        crate::support::run_bin(&d, &["run", "s.yaml", "--out", "out"])
    });
    // The load starts once the check pass's 400 queries are answered.
    let start = Instant::now();
    while lab.counters.requests.load(Ordering::Relaxed) < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the load never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut args = vec!["mark", "weights 50/50"];
    if marked_weights {
        args.extend(["--weights", "ingress=50,gateway=50"]);
    }
    let marked = run_bin_async(dir.path(), &args).await;
    assert_eq!(marked.status.code(), Some(0));
    lab.dns_switches.set_records(vec![
        (50, std::net::IpAddr::from([192, 0, 2, 10])),
        (50, std::net::IpAddr::from([192, 0, 2, 20])),
    ]);
    let _ = run.await.expect("join");
    report_in(dir.path(), "out")
}

fn split_changes(report: &serde_json::Value) -> Vec<serde_json::Value> {
    report["findings"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .filter(|f| f["kind"] == "dns_split_changed")
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns_weight_change_mid_run_is_found_at_its_time_after_its_event() {
    // Regression guard: a 90/10 → 50/50 change was visible only in the split
    // series; no finding said that the split had moved, when, or after what.
    let report = dns_weight_change(false).await;
    let changes = split_changes(&report);
    assert_eq!(changes.len(), 1, "{changes:#?}\n{}", report["load"]["dns"]);
    let f = &changes[0];
    assert_eq!(f["level"], "warn", "an unplanned change: {f}");
    let m = f["message"].as_str().unwrap_or("");
    assert!(m.contains("after `weights 50/50`"), "{m}");
    assert!(m.contains("does not follow the weights expected"), "{m}");
    // It moved after the mark, not before.
    let mark_at = report["load"]["events"][0]["at_s"].as_f64().expect("mark");
    let moved_by: f64 = m
        .split(" s and ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .expect("the time");
    assert!(
        moved_by >= mark_at && moved_by <= mark_at + 1.0,
        "{m} (mark at {mark_at})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mark_weights_changes_the_expected_split_from_that_moment() {
    let report = dns_weight_change(true).await;
    let changes = split_changes(&report);
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert_eq!(
        changes[0]["level"], "info",
        "a planned change: {}",
        changes[0]
    );
    assert!(changes[0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("follows the weights expected then")));
    assert_eq!(
        report["load"]["events"][0]["weights"]["gateway"], 50.0,
        "the mark carries its weights on the timeline"
    );
}
