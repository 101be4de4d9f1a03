//! One verdict everywhere: the terminal, summary.md, junit.xml and the exit
//! code agree, for a threshold-only failure, a warning-only run, accepted
//! known differences, markup in names and answers, and the demo. What people
//! read is snapshotted (insta, with times, addresses and measured numbers
//! filtered).

use std::path::Path;
use std::sync::atomic::Ordering;

use crate::support::{lab, read, report_in, run_bin_async};

fn scenario(ingress: &str, gateway: &str, checks: &str, extra: &str) -> String {
    format!(
        r#"name: verdict test
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

const ITEMS: &str = r#"  - name: items
    http: { path: /api/items }
    expect: { status: 200 }
    parity: [status]"#;

/// The three things people read, after a run in `dir` wrote `out/`.
struct Outputs {
    code: Option<i32>,
    stdout: String,
    summary: String,
    junit: String,
}

async fn run(dir: &Path, args: &[&str]) -> Outputs {
    let out = run_bin_async(dir, args).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    let report = report_in(dir, "out");
    assert!(report.is_object());
    Outputs {
        code: out.status.code(),
        stdout,
        summary: read(&dir.join("out/summary.md")),
        junit: read(&dir.join("out/junit.xml")),
    }
}

/// Filters for what varies between runs: times, addresses, fractions.
fn settings(extra: &[(&str, &str)]) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"\d{4}-\d\d-\d\dT[\d:.]+Z", "[TIME]");
    s.add_filter(r"127\.0\.0\.1:\d+", "[ADDR]");
    s.add_filter(r#"time="[\d.]+""#, r#"time="[T]""#);
    s.add_filter(r"p = [\d.e+-]+", "p = [P]");
    s.add_filter(r"\d+\.\d+", "[F]");
    s.add_filter(r"\b\d+ ms\b", "[F] ms");
    s.add_filter(r"[+-]\d+ %", "[N] %");
    for (re, with) in extra {
        s.add_filter(re, *with);
    }
    s.add_filter(r"[ \t]{2,}", " ");
    s
}

fn failing_cases(junit: &str) -> usize {
    junit.matches("<failure ").count() + junit.matches("<error ").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threshold_only_failure_is_shown_on_the_terminal_in_summary_and_junit_and_exits_1() {
    let lab = lab().await;
    lab.switches
        .gateway_extra_latency_ms
        .store(400, Ordering::Relaxed);
    let dir = tempfile::tempdir().expect("tempdir");
    // Wide margins: the gateway answers in 400 ms; only it is loaded, so
    // the threshold is the one thing that fails.
    let s = scenario(
        &lab.ingress_http.to_string(),
        &lab.gateway_http.to_string(),
        ITEMS,
        "load: { stages: [{ rate: 20/s, for: 1s }], targets: [gateway] }\nanalysis: { thresholds: { p99: 200ms } }",
    );
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    let o = run(dir.path(), &["run", "s.yaml", "--out", "out"]).await;
    assert_eq!(o.code, Some(1), "{}", o.stdout);
    // The reason is on every output, never "0 failed".
    assert!(
        o.stdout.contains("FAIL: 1 threshold breached"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("gateway: p99 "), "{}", o.stdout);
    assert!(o.summary.contains("threshold breached"), "{}", o.summary);
    assert!(o.summary.contains("`threshold`"), "{}", o.summary);
    assert!(o.junit.contains(r#"failures="1""#), "{}", o.junit);
    assert_eq!(failing_cases(&o.junit), 1, "{}", o.junit);
    settings(&[]).bind(|| {
        insta::assert_snapshot!("threshold_terminal", o.stdout);
        insta::assert_snapshot!("threshold_summary", o.summary);
        insta::assert_snapshot!("threshold_junit", o.junit);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_only_finding_is_a_warning_exits_0_and_shows_it() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        &lab.ingress_http.to_string(),
        &lab.gateway_http.to_string(),
        ITEMS,
        "load: { stages: [{ rate: 20/s, for: 1s }] }\nevents: [{ at: 0s, name: flaky hook, run: \"exit 3\" }]",
    );
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    let o = run(dir.path(), &["run", "s.yaml", "--out", "out"]).await;
    assert_eq!(o.code, Some(0), "{}", o.stdout);
    assert!(
        o.stdout
            .contains("WARN event `flaky hook` at 0.0 s failed: the command exited with status 3"),
        "{}",
        o.stdout
    );
    // (The lab's gateway is an extra hop: a latency warning may join it.)
    assert!(o.stdout.contains("PASS: 1 check passed · "), "{}", o.stdout);
    assert!(
        o.summary.contains("⚠️ **warn** `event_failed`"),
        "{}",
        o.summary
    );
    assert_eq!(failing_cases(&o.junit), 0, "{}", o.junit);
    assert!(o.junit.contains("<system-out>WARN: event"), "{}", o.junit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_differences_accept_a_finding_and_an_unused_entry_is_a_warning() {
    let lab = lab().await;
    lab.switches
        .gateway_redirect_301
        .store(true, Ordering::Relaxed);
    let dir = tempfile::tempdir().expect("tempdir");
    let checks = r#"  - name: old links
    http: { path: /old }
    expect: { status: 308 }
    parity: [status]"#;
    let known = r#"known_differences:
  - { check: old links, target: gateway, kind: expectation, reason: "kgateway redirects with 301; browsers follow both" }
  - { check: old links, kind: websocket, reason: "left from the socket days" }"#;
    let s = scenario(
        &lab.ingress_http.to_string(),
        &lab.gateway_http.to_string(),
        checks,
        known,
    );
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    let o = run(dir.path(), &["check", "s.yaml", "--out", "out"]).await;
    assert_eq!(o.code, Some(0), "{}", o.stdout);
    assert!(
        o.stdout
            .contains("PASS: 1 check passed · 1 warning · 1 accepted"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains(
            "ACCEPTED status 301 where 308 was expected; ingress answered 308\n      accepted: kgateway redirects with 301; browsers follow both"
        ),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("WARN the known difference at s.yaml:"),
        "{}",
        o.stdout
    );
    assert!(o.summary.contains("☑️ **accepted**"), "{}", o.summary);
    assert!(
        o.summary.contains("`unused_known_difference`"),
        "{}",
        o.summary
    );
    assert_eq!(failing_cases(&o.junit), 0, "{}", o.junit);
    settings(&[]).bind(|| {
        insta::assert_snapshot!("known_terminal", o.stdout);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_and_answers_with_markup_and_quotes_are_escaped_in_every_output() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let checks = r#"  - name: "<b>\"quoted\" & 'single' | piped</b>"
    http: { path: /api/items }
    expect:
      status: 200
      body_contains: ['<script>alert("x")</script>']
      headers: { content-type: 'text/html; charset="utf-8"' }"#;
    let s = scenario(
        &lab.ingress_http.to_string(),
        &lab.gateway_http.to_string(),
        checks,
        "",
    );
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    let o = run(dir.path(), &["check", "s.yaml", "--out", "out"]).await;
    assert_eq!(o.code, Some(1), "{}", o.stdout);
    // The JUnit file parses back, with the name intact.
    let mut reader = quick_xml::Reader::from_str(&o.junit);
    let mut names = Vec::new();
    loop {
        match reader.read_event().expect("well-formed JUnit XML") {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e)
                if e.name().as_ref() == b"testcase" =>
            {
                if let Ok(Some(a)) = e.try_get_attribute("name") {
                    names.push(a.unescape_value().expect("attr").into_owned());
                }
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert!(
        names.contains(&r#"<b>"quoted" & 'single' | piped</b> [gateway]"#.to_owned()),
        "{names:?}"
    );
    // Markdown: no raw tag, no broken table cell.
    assert!(!o.summary.contains("<b>"), "{}", o.summary);
    assert!(!o.summary.contains("<script>"), "{}", o.summary);
    settings(&[]).bind(|| {
        insta::assert_snapshot!("markup_terminal", o.stdout);
        insta::assert_snapshot!("markup_summary", o.summary);
        insta::assert_snapshot!("markup_junit", o.junit);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_ends_quietly_and_the_report_is_still_written() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        &lab.ingress_http.to_string(),
        &lab.gateway_http.to_string(),
        ITEMS,
        "",
    );
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    let script = format!(
        "{} check s.yaml --out out | head -1; echo \"rc=${{PIPESTATUS[0]}}\"",
        crate::support::bin()
    );
    let d = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .args(["-c", &script])
            .current_dir(&d)
            .output()
            .expect("bash runs")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stdout.starts_with("CHECK"), "{stdout}");
    assert!(stdout.ends_with("rc=0\n"), "{stdout}\n{stderr}");
    report_in(dir.path(), "out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_reads_the_same_on_the_terminal_in_summary_and_junit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = run(dir.path(), &["demo", "--duration", "3s", "--out", "out"]).await;
    assert_eq!(o.code, Some(0), "{}", o.stdout);
    let headline = o
        .stdout
        .lines()
        .find(|l| l.starts_with("FAIL: "))
        .unwrap_or_else(|| panic!("a headline: {}", o.stdout))
        .trim_start_matches("FAIL: ")
        .to_owned();
    assert!(o.summary.contains(&headline), "{headline}\n{}", o.summary);
    assert!(failing_cases(&o.junit) > 0, "{}", o.junit);
    // Counts of a measured load vary from run to run: every number is
    // filtered, and so are latency comparisons (the lab's gateway is one hop
    // more, so a small p50 difference comes and goes with the machine's load).
    settings(&[
        (r"(?m)^ *WARN gateway(-tls)? p50 .*\n", ""),
        (r"(?m)^- ⚠️ \*\*warn\*\* `latency_regression`.*\n", ""),
        (
            r#"(?s)<testcase name="latency_regression[^>]*>.*?</testcase>\n"#,
            "",
        ),
        (r"\d+", "N"),
    ])
    .bind(|| {
        insta::assert_snapshot!("demo_terminal", o.stdout);
        insta::assert_snapshot!("demo_summary", o.summary);
        insta::assert_snapshot!("demo_junit", o.junit);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_prints_the_report_model_as_one_document_on_stdout() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        &lab.ingress_http.to_string(),
        &lab.gateway_http.to_string(),
        ITEMS,
        "load: { stages: [{ rate: 20/s, for: 1s }] }",
    );
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    for (mode, out_dir) in [("check", "out-check"), ("run", "out-run")] {
        let out = run_bin_async(dir.path(), &[mode, "s.yaml", "--out", out_dir, "--json"]).await;
        assert_eq!(out.status.code(), Some(0));
        // The whole of stdout is one report; people read the headline on stderr.
        let doc: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
        crate::support::assert_valid_report(&doc);
        assert_eq!(doc["mode"], mode);
        assert_eq!(
            doc,
            report_in(dir.path(), out_dir),
            "the same model as report.json"
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("PASS: 1 check passed"));
    }
}
