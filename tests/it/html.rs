//! report.html, `cutover report` and `cutover compare`: the page of a small
//! synthetic report (snapshot), escaping of hostile names and bodies, no
//! resource from the network, bounded plots for one second and for two
//! hours, byte-identical re-rendering of a saved run, a hand-written
//! version-1 report, and two lab runs compared with a regression injected.

use std::sync::atomic::Ordering;

use cutover::report::model::Report;

use crate::support::{lab, read, root, run_bin_async};

/// An encoded latency histogram of `n` values around `ms`.
fn hist(n: u64, ms: u64) -> String {
    let mut h = cutover::hdr::histogram();
    for i in 0..n {
        h.record(ms * 1000 + (i % 50) * 20).expect("in range");
    }
    cutover::hdr::encode(&h)
}

fn stats(requests: u64, failed: u64, ms: u64) -> serde_json::Value {
    serde_json::json!({
        "requests": requests, "errors": 0, "dropped": 0, "failed": failed, "clamped": 0,
        "statuses": { "200": requests - failed, "503": failed },
        "failed_statuses": if failed > 0 { serde_json::json!({ "503": { "gateway": failed } }) } else { serde_json::json!({}) },
        "error_kinds": {}, "origins": { "app": requests },
        "latency": { "min": 1.0, "mean": ms as f64, "p50": ms as f64, "p90": ms as f64, "p99": ms as f64 + 1.0, "p999": ms as f64 + 2.0, "max": ms as f64 + 3.0 },
        "service": { "min": 1.0, "mean": 1.0, "p50": 1.0, "p90": 1.0, "p99": 1.0, "p999": 1.0, "max": 1.0 },
        "latency_hist": hist(requests, ms), "service_hist": ""
    })
}

/// A check load of `seconds` seconds (per-second series).
fn check_load(check: &str, seconds: u64, ms: u64, failed: u64) -> serde_json::Value {
    let series: Vec<serde_json::Value> = (0..seconds)
        .map(|s| {
            let mut v = stats(10, if s == seconds / 2 { failed } else { 0 }, ms + s % 3);
            v["second"] = serde_json::json!(s);
            v
        })
        .collect();
    serde_json::json!({ "check": check, "achieved_rate": 10.0, "totals": stats(10 * seconds, failed, ms), "series": series })
}

/// A run report with one HTTP check, a CORS and a WebSocket check, a parity
/// finding, a load of `seconds` seconds with an event, and a DNS series.
fn synthetic(check: &str, seconds: u64) -> Report {
    serde_json::from_value(serde_json::json!({
        "schema_version": 2,
        "tool": { "name": "cutover", "version": "0.0.0" },
        "mode": "run",
        "scenario": { "name": "html test", "path": "s.yaml", "sha256": "0".repeat(64), "host": "shop.example.test" },
        "started_at": "2026-01-01T00:00:00.000Z",
        "ended_at": "2026-01-01T00:01:00.000Z",
        "duration_ms": seconds * 1000,
        "status": "completed",
        "verdict": "fail",
        "targets": [
            { "name": "ingress", "role": "ingress", "proxy": "nginx", "connect": "192.0.2.10:80", "host": "shop.example.test", "scheme": "http", "tls_insecure": false, "ca": null },
            { "name": "gateway", "role": "gateway", "proxy": "envoy", "connect": "192.0.2.20:80", "host": "shop.example.test", "scheme": "http", "tls_insecure": false, "ca": null }
        ],
        "checks": [
            { "name": check, "kind": "http", "request": "GET /api/items", "verdict": "fail", "results": [
                { "target": "ingress", "verdict": "pass", "url": "http://shop.example.test/api/items", "status": 200, "origin": "app", "origin_reason": "app", "latency_ms": 1.5, "ttfb_ms": 1.0, "body_bytes": 10, "body_sha256": null, "body_truncated": false, "body_prefix": "<b>ok</b>", "headers": [], "error": null, "failures": [], "details": null },
                { "target": "gateway", "verdict": "fail", "url": "http://shop.example.test/api/items", "status": 200, "origin": "app", "origin_reason": "app", "latency_ms": 2.5, "ttfb_ms": 2.0, "body_bytes": 10, "body_sha256": null, "body_truncated": false, "body_prefix": "<script>alert(2)</script>", "headers": [], "error": null, "failures": ["the body differs at /price: <i>2499</i>"], "details": null }
            ] },
            { "name": "preflight", "kind": "cors", "request": "OPTIONS /api/items", "verdict": "pass", "results": [
                { "target": "ingress", "verdict": "pass", "url": "u", "status": 204, "origin": "app", "origin_reason": "app", "latency_ms": 1.0, "ttfb_ms": null, "body_bytes": 0, "body_sha256": null, "body_truncated": false, "headers": [], "error": null, "failures": [],
                  "details": { "type": "cors", "preflight": { "status": 204, "allow_origin": "https://app.example.test", "allow_credentials": "true", "allow_methods": "PUT", "allow_headers": null, "max_age": null, "vary": "origin" }, "negative": null, "actual": null } },
                { "target": "gateway", "verdict": "pass", "url": "u", "status": 204, "origin": "app", "origin_reason": "app", "latency_ms": 1.0, "ttfb_ms": null, "body_bytes": 0, "body_sha256": null, "body_truncated": false, "headers": [], "error": null, "failures": [],
                  "details": { "type": "cors", "preflight": { "status": 204, "allow_origin": "*", "allow_credentials": null, "allow_methods": "PUT", "allow_headers": null, "max_age": null, "vary": null }, "negative": null, "actual": null } }
            ] },
            { "name": "chat", "kind": "websocket", "request": "GET /ws", "verdict": "pass", "results": [
                { "target": "gateway", "verdict": "pass", "url": "u", "status": 101, "origin": "app", "origin_reason": "app", "latency_ms": 1.0, "ttfb_ms": null, "body_bytes": null, "body_sha256": null, "body_truncated": false, "headers": [], "error": null, "failures": [],
                  "details": { "type": "websocket", "upgraded": true, "subprotocol": null, "messages": [{ "sent": "ping", "rtt_ms": 0.8, "failure": null }],
                               "rtt": { "min": 0.8, "mean": 0.8, "p50": 0.8, "p90": 0.8, "p99": 0.8, "p999": 0.8, "max": 0.8 }, "ended": null } }
            ] }
        ],
        "findings": [{
            "kind": "parity", "level": "fail", "check": check, "target": "gateway",
            "message": "the body differs from ingress's at 1 pointer", "hint": "compare the <upstream> & routes",
            "evidence": { "type": "parity", "what": "body", "baseline_target": "ingress",
                          "differences": [{ "pointer": "/price", "baseline": "2599", "target": "\"<img src=x onerror=alert(3)>\"" }],
                          "unlisted": 0, "noise": ["/served_at varies between ingress answers"] },
            "reproduce": [{ "target": "gateway", "command": "curl --connect-to shop.example.test:80:192.0.2.20:80 'http://shop.example.test/api/items?a=1&b=2'" }]
        }],
        "load": {
            "started_at": "2026-01-01T00:00:01.000Z", "duration_ms": seconds * 1000, "interrupted": false, "workers": 1,
            "connection": "keepalive", "max_in_flight": 100, "connections": 4,
            "stages": [{ "kind": "constant", "start_s": 0.0, "duration_s": seconds as f64, "from_rate": 10.0, "to_rate": 10.0, "concurrency": null }],
            "targets": [
                { "target": "ingress", "intended": 10 * seconds, "intended_rate": 10.0, "achieved_rate": 10.0, "totals": stats(10 * seconds, 0, 2), "checks": [check_load(check, seconds, 2, 0)] },
                { "target": "gateway", "intended": 10 * seconds, "intended_rate": 10.0, "achieved_rate": 10.0, "totals": stats(10 * seconds, 3, 3), "checks": [check_load(check, seconds, 3, 3)] }
            ],
            "events": [{ "name": "deploy <api>", "at_s": (seconds / 2) as f64, "end_s": null, "exit_code": 0, "output": "", "error": null }],
            "dns": [{ "check": "weighted dns", "points": [
                { "at_s": 0.0, "answered": 100, "shares": { "ingress": 0.9, "gateway": 0.1 }, "p_value": 0.5 },
                { "at_s": 1.0, "answered": 100, "shares": { "ingress": 0.5, "gateway": 0.5 }, "p_value": 0.001 }
            ] }]
        }
    }))
    .expect("a valid report")
}

/// Every `<svg>…</svg>` of a page.
fn svgs(html: &str) -> Vec<&str> {
    html.match_indices("<svg")
        .filter_map(|(i, _)| html[i..].find("</svg>").map(|j| &html[i..i + j + 6]))
        .collect()
}

#[test]
fn the_page_of_a_small_report_is_stable() {
    let html = cutover::report::html::render(&synthetic("items", 3));
    crate::support::assert_valid_report(
        &serde_json::to_value(synthetic("items", 3)).expect("serializes"),
    );
    assert_eq!(svgs(&html).len(), 2, "time and distribution plots");
    assert!(html.contains("id=\"parity\""));
    assert!(html.contains("id=\"cors\""));
    assert!(html.contains("id=\"websockets\""));
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"\d{4}-\d\d-\d\dT[\d:.]+Z", "[TIME]");
    s.bind(|| insta::assert_snapshot!("small_report_html", html));
}

#[test]
fn a_hostile_check_name_and_body_are_escaped_with_no_script_in_the_page() {
    let hostile = r#"<script>alert(1)</script>" & 'x'"#;
    let html = cutover::report::html::render(&synthetic(hostile, 2));
    let lower = html.to_lowercase();
    assert!(!lower.contains("<script"), "a script tag got through");
    assert!(
        !lower.contains("<img"),
        "markup from a response got through"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot; &amp; &#39;x&#39;"),
        "the name is shown, escaped"
    );
    assert!(html.contains("deploy &lt;api&gt;"));
    assert!(html.contains("a=1&amp;b=2"));
}

#[test]
fn the_page_references_nothing_outside_itself() {
    let html = cutover::report::html::render(&synthetic("items", 5));
    let lower = html.to_lowercase();
    for bad in [
        "<script", "<link", "<img", "<iframe", "<object", "<embed", "@import", "url(",
    ] {
        assert!(!lower.contains(bad), "the page contains `{bad}`");
    }
    // Addresses appear only as text (a reproduce command), never as a resource.
    for (i, _) in lower.match_indices("http") {
        let before = &lower[i.saturating_sub(6)..i];
        assert!(
            !before.contains('='),
            "a resource attribute at {i}: {before}"
        );
    }
}

#[test]
fn a_plot_of_one_second_shows_its_points() {
    let html = cutover::report::html::render(&synthetic("items", 1));
    let plots = svgs(&html);
    assert_eq!(plots.len(), 2);
    // One point per line: drawn as dots, so a single second is visible.
    assert!(plots[0].contains("<circle"), "{}", plots[0]);
    assert!(plots[0].contains("seconds since the load started"));
    assert!(plots.iter().all(|p| p.contains("<path")));
}

#[test]
fn two_hours_of_seconds_are_aggregated_per_minute_and_stay_small() {
    let html = cutover::report::html::render(&synthetic("items", 7_200));
    let plots = svgs(&html);
    let time = plots[0];
    assert!(
        time.contains("minutes since the load started (per minute)"),
        "aggregated per minute"
    );
    assert!(time.len() < 500_000, "{} bytes", time.len());
    let total: usize = plots.iter().map(|p| p.len()).sum();
    assert!(total < 500_000, "{total} bytes of SVG");
    // 120 minutes per line, far below one point per second.
    let points = time.matches(" L").count();
    assert!(points < 1_000, "{points} segments");
}

const CHECK_SCENARIO: &str = r#"name: report test
host: shop.example.test
defaults: { timeout: 5s }
targets:
  ingress: { connect: "${I}" }
  gateway: { connect: "${G}" }
checks:
  - name: items
    http: { path: /api/items }
    expect: { status: 200 }
    parity: [status, body]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_re_renders_a_saved_run_byte_identically() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = CHECK_SCENARIO
        .replace("${I}", &lab.ingress_http.to_string())
        .replace("${G}", &lab.gateway_http.to_string());
    std::fs::write(dir.path().join("s.yaml"), yaml).expect("write");
    let first = run_bin_async(dir.path(), &["check", "s.yaml", "--out", "out"]).await;
    let code = first.status.code();
    for f in ["report.json", "summary.md", "junit.xml", "report.html"] {
        assert!(dir.path().join("out").join(f).is_file(), "{f} written");
    }
    let again = run_bin_async(dir.path(), &["report", "out/report.json", "--out", "again"]).await;
    assert_eq!(again.status.code(), code, "the saved verdict's exit code");
    for f in ["summary.md", "junit.xml", "report.html"] {
        assert_eq!(
            read(&dir.path().join("out").join(f)),
            read(&dir.path().join("again").join(f)),
            "{f} re-rendered byte-identically"
        );
    }
    assert!(!dir.path().join("again/report.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_renders_a_version_1_report_and_refuses_an_unknown_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let v1 = root().join("tests/fixtures/reports/v1/report.json");
    let out = run_bin_async(
        dir.path(),
        &["report", &v1.display().to_string(), "--out", "r"],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let html = read(&dir.path().join("r/report.html"));
    assert!(
        html.contains("hostname_mismatch"),
        "the v1 finding is shown"
    );
    assert!(
        html.contains("latency over time of items"),
        "the v1 load is plotted"
    );
    let summary = read(&dir.path().join("r/summary.md"));
    assert!(
        summary.contains("**fail** `hostname_mismatch`"),
        "{summary}"
    );
    assert!(stdout.contains("FAIL: 1 check failed"), "{stdout}");

    std::fs::write(dir.path().join("v9.json"), r#"{"schema_version": 9}"#).expect("write");
    let out = run_bin_async(dir.path(), &["report", "v9.json"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("schema version 9") && stderr.contains("reads versions 1 and 2"),
        "{stderr}"
    );
}

const LOAD_SCENARIO: &str = r#"name: compare test
host: shop.example.test
defaults: { timeout: 5s }
targets:
  ingress: { connect: "${I}" }
  gateway: { connect: "${G}" }
checks:
  - name: items
    http: { path: /api/items }
    expect: { status: 200 }
load: { stages: [{ rate: 150/s, for: 2s }] }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_shows_deltas_and_fails_on_a_regression() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = LOAD_SCENARIO
        .replace("${I}", &lab.ingress_http.to_string())
        .replace("${G}", &lab.gateway_http.to_string());
    std::fs::write(dir.path().join("s.yaml"), yaml).expect("write");
    let args = |out: &'static str| ["run", "s.yaml", "--out", out, "--marks", "marks"];
    run_bin_async(dir.path(), &args("a")).await;
    lab.switches
        .gateway_extra_latency_ms
        .store(25, Ordering::Relaxed);
    run_bin_async(dir.path(), &args("b")).await;

    // A run against itself: no regression, exit 0.
    let same = run_bin_async(
        dir.path(),
        &["compare", "a/report.json", "a/report.json", "--out", "same"],
    )
    .await;
    let text = String::from_utf8_lossy(&same.stdout);
    assert_eq!(same.status.code(), Some(0), "{text}");
    assert!(text.contains("(+0 %)"), "{text}");

    let out = run_bin_async(
        dir.path(),
        &["compare", "a/report.json", "b/report.json", "--out", "cmp"],
    )
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let gateway = text
        .lines()
        .find(|l| l.starts_with("items") && l.contains("gateway"))
        .unwrap_or_else(|| panic!("a gateway row:\n{text}"));
    assert!(gateway.contains("REGRESSION"), "{gateway}");
    assert!(gateway.contains("(+"), "a delta: {gateway}");
    assert!(text.contains("B is slower than A"), "{text}");
    let html = read(&dir.path().join("cmp/compare.html"));
    assert!(html.contains("latency distribution of items [gateway], A and B"));
    assert!(read(&dir.path().join("cmp/compare.md")).contains("REGRESSION"));

    // A different scenario is refused, naming both.
    let mut other: serde_json::Value =
        serde_json::from_str(&read(&dir.path().join("b/report.json"))).expect("JSON");
    other["scenario"]["name"] = "another".into();
    other["scenario"]["sha256"] = "f".repeat(64).into();
    std::fs::write(dir.path().join("other.json"), other.to_string()).expect("write");
    let out = run_bin_async(dir.path(), &["compare", "a/report.json", "other.json"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`compare test`")
            && stderr.contains("`another`")
            && stderr.contains("ffffffffffff"),
        "{stderr}"
    );
}

/// Runs Debian's headless Chromium (installed by `.ci/run`) on a page.
fn chromium(args: &[&str], profile: &std::path::Path) -> std::process::Output {
    let profile = format!("--user-data-dir={}", profile.display());
    let mut all = vec![
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--enable-logging=stderr",
        "--v=0",
        profile.as_str(),
    ];
    all.extend_from_slice(args);
    std::process::Command::new("/usr/bin/chromium")
        .args(&all)
        .output()
        .expect("chromium runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_report_renders_in_a_headless_browser_with_its_plots() {
    if !std::path::Path::new("/usr/bin/chromium").exists() {
        // `.ci/run` installs it; in CI its absence is a failure.
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is not installed"
        );
        eprintln!("skipped: /usr/bin/chromium is not installed (bash .ci/run installs it)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out =
        crate::support::run_bin_async(dir.path(), &["demo", "--duration", "3s", "--out", "out"])
            .await;
    assert_eq!(out.status.code(), Some(0));
    let page = dir.path().join("out/report.html");
    let url = format!("file://{}", page.display());
    let profile = dir.path().join("profile");
    let (url2, profile2) = (url.clone(), profile.clone());
    let dom = tokio::task::spawn_blocking(move || chromium(&["--dump-dom", &url2], &profile2))
        .await
        .expect("join");
    let html = String::from_utf8_lossy(&dom.stdout);
    let log = String::from_utf8_lossy(&dom.stderr);
    assert!(html.contains("<svg"), "no plot in the rendered page");
    let drawn = html
        .match_indices("<path")
        .filter(|(i, _)| {
            html[*i..]
                .split('>')
                .next()
                .is_some_and(|tag| tag.contains(" d=\"M"))
        })
        .count();
    assert!(drawn >= 4, "only {drawn} drawn paths");
    for bad in ["Uncaught", "CONSOLE(", "Refused to load"] {
        assert!(!log.contains(bad), "console: {log}");
    }
    let shot = dir.path().join("shot.png");
    let arg = format!("--screenshot={}", shot.display());
    let s = tokio::task::spawn_blocking(move || {
        chromium(&[&arg, "--window-size=1280,2400", &url], &profile)
    })
    .await
    .expect("join");
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 20_000,
        "screenshot of {size} bytes: {}",
        String::from_utf8_lossy(&s.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_reads_two_demo_runs_side_by_side() {
    let dir = tempfile::tempdir().expect("tempdir");
    for out in ["a", "b"] {
        let o = run_bin_async(dir.path(), &["demo", "--duration", "3s", "--out", out]).await;
        assert_eq!(o.status.code(), Some(0));
    }
    let o = run_bin_async(
        dir.path(),
        &["compare", "a/report.json", "b/report.json", "--out", "cmp"],
    )
    .await;
    let stdout = String::from_utf8_lossy(&o.stdout);
    // Two runs of the same demo: a regression between them is possible on a
    // busy machine (exit 1), a refusal is not.
    assert!(matches!(o.status.code(), Some(0 | 1)), "{stdout}");
    for check in ["items", "host and headers reach the app"] {
        assert!(stdout.contains(check), "{check}: {stdout}");
    }
    assert!(dir.path().join("cmp/compare.md").exists());
    let html = crate::support::read(&dir.path().join("cmp/compare.html"));
    assert!(html.contains("<svg") && !html.contains("<script"));
}
