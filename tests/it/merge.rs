//! `cutover merge` (issue 17): four shard processes against the lab, merged,
//! match one unsharded run of the same scenario at the same total rate;
//! histograms add up losslessly; timelines line up on the wall clock; and
//! reports that are not every shard of one run of one scenario are refused.

use std::path::Path;

use serde_json::Value;

use crate::support::{lab, report_in, run_bin_async};

fn scenario(ingress: std::net::SocketAddr, gateway: std::net::SocketAddr, rate: u32) -> String {
    format!(
        r#"name: merged
host: shop.example.test
defaults: {{ timeout: 5s }}
targets:
  ingress: {{ connect: "{ingress}" }}
  gateway: {{ connect: "{gateway}" }}
checks:
  - name: items
    http: {{ path: /api/items }}
  - name: slow
    http: {{ path: "/slow?ms=10" }}
load: {{ stages: [{{ rate: {rate}/s, for: 3s }}] }}
"#
    )
}

async fn run_ok(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = run_bin_async(dir, args).await;
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `(target, check) → totals` of a report's load.
fn totals(r: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for t in r["load"]["targets"].as_array().expect("targets") {
        for c in t["checks"].as_array().expect("checks") {
            out.push((
                t["target"].as_str().unwrap_or("").to_owned(),
                c["check"].as_str().unwrap_or("").to_owned(),
                c["totals"].clone(),
            ));
        }
    }
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

fn hist(v: &Value) -> hdrhistogram::Histogram<u64> {
    cutover::hdr::decode(v.as_str().expect("a histogram")).expect("decodes")
}

/// `(kind, check, target, level)` of every finding.
fn findings(r: &Value) -> Vec<(String, String, String, String)> {
    let mut out: Vec<_> = r["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or("").to_owned();
            (s("kind"), s("check"), s("target"), s("level"))
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_shards_merged_match_one_unsharded_run() {
    let lab = lab().await;
    // The gateway is 15 ms slower: a regression both runs must find.
    lab.switches
        .gateway_extra_latency_ms
        .store(15, std::sync::atomic::Ordering::Relaxed);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("s.yaml"),
        scenario(lab.ingress_http, lab.gateway_http, 160),
    )
    .expect("write");
    let single = run_ok(
        dir.path(),
        &["run", "s.yaml", "-o", "single", "--workers", "1"],
    )
    .await;
    let shards = futures_util::future::join_all((0..4).map(|i| {
        let dir = dir.path().to_path_buf();
        async move {
            let shard = format!("{i}/4");
            let out = format!("shard-{i}");
            run_ok(
                &dir,
                &[
                    "run",
                    "s.yaml",
                    "--shard",
                    &shard,
                    "-o",
                    &out,
                    "--workers",
                    "1",
                ],
            )
            .await
        }
    }))
    .await;
    assert_eq!(shards.len(), 4);
    let merged = run_ok(
        dir.path(),
        &[
            "merge", "shard-0", "shard-1", "shard-2", "shard-3", "-o", "merged",
        ],
    )
    .await;
    let (single_r, merged_r) = (
        report_in(dir.path(), "single"),
        report_in(dir.path(), "merged"),
    );
    let stdout = String::from_utf8_lossy(&merged.stdout);
    assert!(
        stdout.contains("merged from 4 shards"),
        "the terminal says what it merged: {stdout}"
    );
    assert_eq!(merged.status.code(), single.status.code(), "{stdout}");

    // Totals: the same requests, intended arrivals and statuses.
    let (a, b) = (totals(&single_r), totals(&merged_r));
    assert_eq!(a.len(), 4, "2 targets × 2 checks: {a:?}");
    assert_eq!(a.len(), b.len());
    for ((ta, ca, sa), (tb, cb, sb)) in a.iter().zip(&b) {
        assert_eq!((ta, ca), (tb, cb));
        for field in ["requests", "errors", "dropped", "failed", "statuses"] {
            assert_eq!(sa[field], sb[field], "{ca} on {ta}: {field}");
        }
    }
    for (ts, tm) in single_r["load"]["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .zip(merged_r["load"]["targets"].as_array().expect("targets"))
    {
        assert_eq!(ts["intended"], tm["intended"], "the whole schedule");
        assert_eq!(ts["intended"], 480, "160/s × 3 s");
        assert_eq!(ts["totals"]["requests"], tm["totals"]["requests"]);
    }

    // Histograms: the merged one is the four shards' added, exactly.
    let shard_reports: Vec<Value> = (0..4)
        .map(|i| report_in(dir.path(), &format!("shard-{i}")))
        .collect();
    for (target, check, merged_totals) in &b {
        let mut sum = cutover::hdr::histogram();
        for r in &shard_reports {
            let (_, _, s) = totals(r)
                .into_iter()
                .find(|(t, c, _)| t == target && c == check)
                .expect("every shard loaded every pair");
            sum.add(hist(&s["latency_hist"])).expect("same bounds");
        }
        let m = hist(&merged_totals["latency_hist"]);
        assert_eq!(m, sum, "{check} on {target}: lossless");
        for (q, field) in [(0.5, "p50"), (0.99, "p99")] {
            let ms = m.value_at_quantile(q) as f64 / 1000.0;
            assert_eq!(merged_totals["latency"][field].as_f64(), Some(ms));
        }
        // The series add up to the totals.
        let in_series: u64 = merged_r["load"]["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["target"] == target.as_str())
            .flat_map(|t| t["checks"].as_array().into_iter().flatten())
            .filter(|c| c["check"] == check.as_str())
            .flat_map(|c| c["series"].as_array().into_iter().flatten())
            .map(|s| s["requests"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(Some(in_series), merged_totals["requests"].as_u64());
    }
    // Percentiles of another process's run: the gateway's 15 ms (plus the
    // route's 10 ms) dominate, so the medians agree within a few ms.
    for ((t, c, s), (_, _, m)) in a.iter().zip(&b) {
        if t == "gateway" {
            let (ps, pm) = (
                s["latency"]["p50"].as_f64().unwrap_or(0.0),
                m["latency"]["p50"].as_f64().unwrap_or(0.0),
            );
            assert!(
                (ps - pm).abs() <= 5.0_f64.max(0.25 * ps),
                "{c} on {t}: p50 {ps} ms unsharded, {pm} ms merged"
            );
        }
    }

    // Findings: recomputed from the merged data, the same as the unsharded run's.
    let (fa, fb) = (findings(&single_r), findings(&merged_r));
    assert!(
        fa.iter()
            .any(|f| f.0 == "latency_regression" && f.2 == "gateway"),
        "{fa:?}"
    );
    assert_eq!(fa, fb);
    assert_eq!(merged_r["verdict"], single_r["verdict"]);
    let parts = merged_r["load"]["merged"].as_array().expect("merged");
    assert_eq!(parts.len(), 4);
    assert_eq!(
        merged_r["load"]["connections"].as_u64(),
        single_r["load"]["connections"].as_u64().map(|c| 4 * c),
        "four shards had the scenario's connections each"
    );
    assert!(merged_r["load"].get("shard").is_none());
    // Every renderer works on the result.
    for f in ["summary.md", "report.html", "junit.xml"] {
        assert!(dir.path().join("merged").join(f).exists(), "{f}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_refuses_what_is_not_every_shard_of_one_run_and_aligns_clocks() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    let write = |name: &str, rate: u32| {
        let s = scenario(lab.ingress_http, lab.gateway_http, rate).replace("for: 3s", "for: 1s");
        std::fs::write(p.join(name), s).expect("write");
    };
    write("a.yaml", 20);
    write("b.yaml", 30);
    for (file, shard, out) in [
        ("a.yaml", "0/2", "a0"),
        ("a.yaml", "1/2", "a1"),
        ("b.yaml", "1/2", "b1"),
    ] {
        run_ok(p, &["run", file, "--shard", shard, "-o", out]).await;
    }
    run_ok(p, &["run", "a.yaml", "-o", "whole"]).await;
    let refused = |args: Vec<&'static str>, says: &'static str| {
        let p = p.to_path_buf();
        async move {
            let out = run_bin_async(&p, &args).await;
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(err.contains(says), "{args:?}: {err}");
            assert!(!p.join("m").join("report.json").exists(), "nothing written");
        }
    };
    refused(
        vec!["merge", "a0", "b1", "-o", "m"],
        "was run from another scenario",
    )
    .await;
    refused(vec!["merge", "a0", "-o", "m"], "shard 1 of 2 is missing").await;
    refused(
        vec!["merge", "a0", "a0", "a1", "-o", "m"],
        "are both shard 0",
    )
    .await;
    refused(
        vec!["merge", "a0", "whole", "-o", "m"],
        "it was run without --shard",
    )
    .await;
    refused(
        vec!["merge", "a0", "a1", "--scenario", "b.yaml", "-o", "m"],
        "is not the scenario the shards ran",
    )
    .await;

    // Clocks: shard 1 started 2 s after shard 0; a mark both read is one event.
    let path = p.join("a1").join("report.json");
    let mut r1: Value = serde_json::from_str(&crate::support::read(&path)).expect("json");
    let r0 = report_in(p, "a0");
    let start0 = humantime::parse_rfc3339_weak(r0["load"]["started_at"].as_str().expect("start"))
        .expect("rfc 3339");
    let later = start0 + std::time::Duration::from_secs(2);
    r1["load"]["started_at"] = humantime::format_rfc3339_millis(later).to_string().into();
    let mark = serde_json::json!({
        "name": "weights 50/50", "at_s": 0.4, "end_s": null, "exit_code": null,
        "output": "", "error": null
    });
    r1["load"]["events"] = serde_json::json!([mark.clone()]);
    std::fs::write(&path, serde_json::to_string(&r1).expect("json")).expect("write");
    let p0 = p.join("a0").join("report.json");
    let mut r0m = r0.clone();
    let mut early = mark;
    early["at_s"] = 2.1.into();
    r0m["load"]["events"] = serde_json::json!([early]);
    std::fs::write(&p0, serde_json::to_string(&r0m).expect("json")).expect("write");

    run_ok(p, &["merge", "a0", "a1", "-o", "m"]).await;
    let m = report_in(p, "m");
    let offsets: Vec<u64> = m["load"]["merged"]
        .as_array()
        .expect("merged")
        .iter()
        .map(|s| s["offset_s"].as_u64().unwrap_or(99))
        .collect();
    assert_eq!(offsets, [0, 2]);
    let events = m["load"]["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "one mark read by both shards: {events:?}");
    // Shard 1's seconds moved by 2: its first second is the merged second 2.
    let seconds = |r: &Value| -> Vec<u64> {
        let mut s: Vec<u64> = r["load"]["targets"][0]["checks"][0]["series"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x["second"].as_u64())
            .collect();
        s.sort_unstable();
        s
    };
    let (s0, s1) = (seconds(&r0), seconds(&r1));
    let mut expected: Vec<u64> = s0.iter().copied().chain(s1.iter().map(|s| s + 2)).collect();
    expected.sort_unstable();
    expected.dedup();
    assert_eq!(seconds(&m), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_one_shard_failed_is_shown_and_the_shards_disagreement_said() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    let s = scenario(lab.ingress_http, lab.gateway_http, 20).replace("for: 3s", "for: 1s");
    std::fs::write(p.join("s.yaml"), s).expect("write");
    run_ok(p, &["run", "s.yaml", "--shard", "0/2", "-o", "s0"]).await;
    // The app goes down before shard 1 runs its checks.
    lab.switches
        .app_down
        .store(true, std::sync::atomic::Ordering::Relaxed);
    run_ok(p, &["run", "s.yaml", "--shard", "1/2", "-o", "s1"]).await;
    let out = run_ok(p, &["merge", "s0", "s1", "-o", "m"]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failure a shard saw is not hidden"
    );
    let m = report_in(p, "m");
    let items = m["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == "items")
        .expect("items");
    assert_eq!(
        items["verdict"], "fail",
        "the failing shard's check is shown"
    );
    let disagree: Vec<&Value> = m["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["kind"] == "shards_disagree" && f["check"] == "items")
        .collect();
    assert_eq!(disagree.len(), 1, "{:#}", m["findings"]);
    let msg = disagree[0]["message"].as_str().unwrap_or("");
    assert!(
        msg.contains("fail on shard 1 (") && msg.contains("pass on shard 0 ("),
        "{msg}"
    );
    assert_eq!(disagree[0]["level"], "warn");
}
