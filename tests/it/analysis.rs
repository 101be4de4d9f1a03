//! Verdicts over recorded load: thresholds (exit 1), the abort rail (exit 3,
//! load stopped promptly, measured from the recorded series), external marks
//! from `cutover mark`, and `--baseline` against a saved run.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::support::{assert_valid_report, bin, lab};

fn scenario(lab: &cutover::lab::Lab, path: &str, status: u16, load: &str) -> String {
    format!(
        r#"name: analysis
host: shop.example.test
targets:
  ingress: {{ connect: "{}" }}
  gateway: {{ connect: "{}" }}
checks:
  - name: page
    http: {{ path: "{path}" }}
    expect: {{ status: {status} }}
{load}"#,
        lab.ingress_http, lab.gateway_http
    )
}

/// Runs the binary; the report is read from the directory after `--out`.
async fn run(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out_dir = args
        .iter()
        .skip_while(|a| **a != "--out")
        .nth(1)
        .copied()
        .unwrap_or("out");
    let out = crate::support::run_bin_async(dir, args).await;
    (out.status.code(), crate::support::report_in(dir, out_dir))
}

fn finding<'a>(r: &'a serde_json::Value, kind: &str) -> Option<&'a serde_json::Value> {
    r["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["kind"] == kind))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breached_threshold_fails_the_run() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let load = "load: { stages: [{ rate: 50/s, for: 1s }] }\nanalysis: { thresholds: { server_error_ratio: 0.01 } }";
    std::fs::write(
        dir.path().join("s.yaml"),
        scenario(&lab, "/status/503", 503, load),
    )
    .expect("write");
    let (code, report) = run(dir.path(), &["run", "s.yaml", "--out", "out"]).await;
    assert_eq!(code, Some(1));
    let f = finding(&report, "threshold").expect("threshold finding");
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|m| m.contains("5xx ratio 100.00 % exceeds 1.00 %")),
        "{f}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_abort_rail_stops_the_load_promptly_and_exits_3() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let load = "load: { stages: [{ rate: 100/s, for: 30s }] }\nanalysis: { abort: { error_ratio: 0.5, for: 2s } }";
    // The check expects 200: every 503 under load fails it.
    std::fs::write(
        dir.path().join("s.yaml"),
        scenario(&lab, "/status/503", 200, load),
    )
    .expect("write");
    let (code, report) = run(dir.path(), &["run", "s.yaml", "--out", "out"]).await;
    assert_eq!(code, Some(3));
    assert_eq!(report["status"], "aborted");
    let f = finding(&report, "aborted").expect("abort finding");
    let m = f["message"].as_str().unwrap_or("");
    // "… (second N: …)": the second whose end completed the breach.
    let decided: u64 = m
        .split("(second ")
        .nth(1)
        .and_then(|s| s.split(':').next())
        .and_then(|s| s.parse().ok())
        .expect("second");
    for t in report["load"]["targets"].as_array().expect("targets") {
        let last = t["checks"][0]["series"]
            .as_array()
            .and_then(|s| s.last())
            .and_then(|s| s["second"].as_u64())
            .unwrap_or(0);
        // Decided at the end of second `decided`, stopped within the next second.
        assert!(
            last <= decided + 2,
            "{} kept going until second {last} after deciding at {decided}",
            t["target"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cutover_mark_adds_an_event_to_a_running_run() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("s.yaml"),
        scenario(
            &lab,
            "/api/items",
            200,
            "load: { stages: [{ rate: 50/s, for: 3s }] }",
        ),
    )
    .expect("write");
    let child = std::process::Command::new(bin())
        .args(["run", "s.yaml", "--out", "out"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    while lab.counters.responses.load(Ordering::Relaxed) < 40 {
        assert!(Instant::now() < deadline, "the load never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let d = dir.path().to_path_buf();
    let marked = crate::support::run_bin_async(&d, &["mark", "deploy api v42"]).await;
    assert_eq!(marked.status.code(), Some(0));
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = crate::support::report_in(dir.path(), "out");
    assert_valid_report(&report);
    let ev = &report["load"]["events"][0];
    assert_eq!(ev["name"], "deploy api v42");
    let at = ev["at_s"].as_f64().unwrap_or(-1.0);
    assert!((0.0..3.5).contains(&at), "{ev}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_slower_than_its_baseline_fails() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("s.yaml"),
        scenario(
            &lab,
            "/api/items",
            200,
            "load: { stages: [{ rate: 200/s, for: 2s }] }",
        ),
    )
    .expect("write");
    let (code, _) = run(dir.path(), &["run", "s.yaml", "--out", "week1"]).await;
    assert_eq!(code, Some(0));
    lab.switches.app_stall_ms.store(5, Ordering::Relaxed);
    let (code, report) = run(
        dir.path(),
        &[
            "run",
            "s.yaml",
            "--out",
            "out",
            "--baseline",
            "week1/report.json",
        ],
    )
    .await;
    assert_eq!(code, Some(1));
    let f = finding(&report, "baseline_regression").expect("baseline finding");
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|m| m.contains("slower than the baseline run")),
        "{f}"
    );
}
