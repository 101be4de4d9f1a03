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
