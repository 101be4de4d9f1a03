//! The built binary: exit codes, report files, JSON Schema, JUnit, interruption.

use std::path::Path;

use quick_xml::events::Event;

use crate::support::{assert_valid_report, lab, read, refused_addr, root, run_bin, Silent};

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write scenario");
    p.display().to_string()
}

fn scenario(ingress: &str, gateway: &str, extra: &str) -> String {
    format!(
        r#"name: cli test
host: shop.example.test
defaults: {{ timeout: 2s }}
targets:
  ingress: {{ connect: "{ingress}" }}
  gateway: {{ connect: "{gateway}" }}
checks:
  - name: items
    http: {{ path: /api/items }}
    expect: {{ status: 200 }}
    parity: [status, body]
{extra}"#
    )
}

/// A JUnit test case as parsed back from the file.
#[derive(Debug)]
struct Case {
    name: String,
    failure: Option<String>,
    error: Option<String>,
}

fn parse_junit(xml: &str) -> Vec<Case> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut cases: Vec<Case> = Vec::new();
    loop {
        match reader.read_event().expect("well-formed JUnit XML") {
            Event::Start(e) | Event::Empty(e) => {
                let attr = |name: &str| {
                    e.try_get_attribute(name)
                        .ok()
                        .flatten()
                        .map(|a| a.unescape_value().expect("attr").into_owned())
                };
                match e.name().as_ref() {
                    b"testcase" => cases.push(Case {
                        name: attr("name").expect("name"),
                        failure: None,
                        error: None,
                    }),
                    b"failure" => cases.last_mut().expect("case").failure = attr("message"),
                    b"error" => cases.last_mut().expect("case").error = attr("type"),
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    cases
}

#[test]
fn validate_prints_one_line_and_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = write(
        dir.path(),
        "ok.yaml",
        &scenario("127.0.0.1:1", "127.0.0.1:2", ""),
    );
    let out = run_bin(dir.path(), &["validate", &s]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok: 1 checks, 2 targets\n"
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(run_bin(dir.path(), &["frobnicate"]).status.code(), Some(2));
    let out = run_bin(dir.path(), &["check", "does-not-exist.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot read scenario `does-not-exist.yaml`")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_writes_three_valid_files_and_exits_0() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = write(
        dir.path(),
        "s.yaml",
        &scenario(
            &lab.ingress_http.to_string(),
            &lab.gateway_http.to_string(),
            "",
        ),
    );
    let d = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        run_bin(
            &d,
            &["check", &s, "--out", "out", "--junit", "ci/junit.xml"],
        )
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("PASS: 1 check passed"), "{stdout}");
    let report: serde_json::Value = crate::support::report_in(dir.path(), "out");
    assert_valid_report(&report);
    assert_eq!(report["verdict"], "pass");
    let md = read(&dir.path().join("out/summary.md"));
    assert!(
        md.starts_with("# cutover check: cli test — ✅ PASS"),
        "{md}"
    );
    let cases = parse_junit(&read(&dir.path().join("ci/junit.xml")));
    let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["items [ingress]", "items [gateway]"]);
    assert!(cases
        .iter()
        .all(|c| c.failure.is_none() && c.error.is_none()));
    assert_eq!(
        read(&dir.path().join("out/junit.xml")),
        read(&dir.path().join("ci/junit.xml"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_targets_exit_1_with_classified_results() {
    let silent = Silent::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let s = write(
        dir.path(),
        "s.yaml",
        &scenario(&refused_addr().to_string(), &silent.addr.to_string(), "")
            .replace("timeout: 2s", "timeout: 300ms"),
    );
    let d = dir.path().to_path_buf();
    let out = crate::support::run_bin_async(&d, &["check", &s]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The default report directory: reports/<scenario slug>-<UTC timestamp>.
    let reports: Vec<_> = std::fs::read_dir(dir.path().join("reports"))
        .expect("reports dir")
        .filter_map(Result::ok)
        .collect();
    assert_eq!(reports.len(), 1);
    let run = reports[0].path();
    assert!(run
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("cli-test-") && n.ends_with('Z')));
    let report: serde_json::Value =
        serde_json::from_str(&read(&run.join("report.json"))).expect("json");
    assert_valid_report(&report);
    let kinds: Vec<&str> = report["checks"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["error"]["kind"].as_str().unwrap_or("none"))
        .collect();
    assert_eq!(kinds, ["connect_refused", "timeout"]);
    let cases = parse_junit(&read(&run.join("junit.xml")));
    assert_eq!(cases[0].error.as_deref(), Some("connect_refused"));
    assert_eq!(cases[1].error.as_deref(), Some("timeout"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_checks_exit_1_and_junit_carries_the_message() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = write(
        dir.path(),
        "s.yaml",
        &scenario(
            &lab.ingress_http.to_string(),
            &lab.gateway_http.to_string(),
            "",
        )
        .replace("expect: { status: 200 }", "expect: { status: 204 }"),
    );
    let d = dir.path().to_path_buf();
    let out = crate::support::run_bin_async(&d, &["check", &s, "--out", "out"]).await;
    assert_eq!(out.status.code(), Some(1));
    let cases = parse_junit(&read(&dir.path().join("out/junit.xml")));
    assert_eq!(cases.len(), 2);
    for c in cases {
        assert_eq!(
            c.failure.as_deref(),
            Some("status 200 where 204 was expected"),
            "{}",
            c.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_writes_the_partial_report_and_exits_130() {
    let lab = lab().await;
    let silent = Silent::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let s = write(
        dir.path(),
        "s.yaml",
        &format!(
            r#"host: shop.example.test
defaults: {{ timeout: 60s }}
targets:
  ingress: {{ connect: "{}" }}
  gateway: {{ connect: "{}" }}
checks:
  - name: fast
    targets: [ingress]
    http: {{ path: /api/items }}
  - name: hangs
    targets: [gateway]
    http: {{ path: /api/items }}
"#,
            lab.ingress_http, silent.addr
        ),
    );
    let child = std::process::Command::new(crate::support::bin())
        .args(["check", &s, "--out", "out"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Deterministic: wait until the hanging request is in flight, then signal.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    // The fast check must have its answer too: it runs beside the hanging one.
    while silent.accepted() == 0
        || lab
            .counters
            .responses
            .load(std::sync::atomic::Ordering::Relaxed)
            == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never reached both servers"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // The answer is sent; give the client a moment to read it.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(out.status.code(), Some(130));
    let report: serde_json::Value = crate::support::report_in(dir.path(), "out");
    assert_valid_report(&report);
    assert_eq!(report["status"], "interrupted");
    assert_eq!(
        report["checks"][0]["results"][0]["verdict"], "pass",
        "the completed check is kept"
    );
    assert_eq!(report["checks"][1]["results"][0]["verdict"], "skipped");
    let _ = root();
}

#[test]
fn lab_writes_a_scenario_that_checks_clean_against_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut lab = std::process::Command::new(crate::support::bin())
        .args(["lab", "--write-scenario", "lab.yaml"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn lab");
    let scenario = dir.path().join("lab.yaml");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    // The scenario is written once the lab listens.
    while !scenario.exists() || read(&scenario).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "lab never wrote its scenario"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = run_bin(dir.path(), &["check", "lab.yaml", "--out", "out"]);
    let _ = lab.kill();
    let _ = lab.wait();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_valid_report(&crate::support::report_in(dir.path(), "out"));
}
