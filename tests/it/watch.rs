//! `cutover watch` against the embedded lab (issue 13): alerts raised when a
//! lab behaviour is switched on mid-watch and cleared when it is switched
//! off (503s after a rollout, a refused WebSocket upgrade, a CORS change,
//! DNS weights), weight updates through `cutover mark`, the report with its
//! watch section, and SIGTERM giving the final report.
//!
//! The watches run in real time (real sockets) with short windows; every
//! assertion leaves seconds of margin around the switch times.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use cutover::analyze::alerts::{AlertChange, Rule, State};
use cutover::lab::Lab;
use cutover::watch::{Sink, WatchOptions};

use crate::support::{lab, plan};

/// Records what the watch hands to its sink.
#[derive(Default)]
struct Recorder {
    changes: Vec<AlertChange>,
    events: Vec<String>,
    statuses: Vec<String>,
    checkpoints: usize,
    last: Option<cutover::report::Report>,
}

impl Sink for Recorder {
    fn alert(&mut self, change: &AlertChange) {
        self.changes.push(change.clone());
    }
    fn event(&mut self, _at: u64, name: &str, _w: Option<&BTreeMap<String, f64>>) {
        self.events.push(name.to_owned());
    }
    fn status(&mut self, lines: &[String]) {
        self.statuses.extend(lines.iter().cloned());
    }
    fn checkpoint(&mut self, report: &cutover::report::Report, last: bool) {
        self.checkpoints += 1;
        if last {
            self.last = Some(report.clone());
        }
    }
}

impl Recorder {
    /// `(state, target, check)` of the changes of `rule`, in order.
    fn of(&self, rule: Rule) -> Vec<(State, Option<String>, Option<String>)> {
        self.changes
            .iter()
            .filter(|c| c.key.rule == rule)
            .map(|c| (c.state, c.key.target.clone(), c.key.check.clone()))
            .collect()
    }
}

fn scenario(lab: &Lab, checks: &str, marks_dns: bool) -> cutover::scenario::Plan {
    let dns_answers = if marks_dns {
        ", dns_answers: [192.0.2.10]"
    } else {
        ""
    };
    let gw_answers = if marks_dns {
        ", dns_answers: [192.0.2.20]"
    } else {
        ""
    };
    plan(
        &format!(
            r#"
name: watch
host: shop.example.test
targets:
  ingress: {{ connect: "${{I}}", role: ingress{dns_answers} }}
  gateway: {{ connect: "${{G}}", role: gateway{gw_answers} }}
defaults: {{ scheme: http, timeout: 3s }}
checks:
  - name: items
    http: {{ path: /api/items }}
    expect: {{ status: 200 }}
{checks}
watch: {{ rate: 20/s, every: 1s, windows: [5s, 10s], checkpoint: 2s }}
"#
        ),
        &[
            ("I", lab.ingress_http.to_string()),
            ("G", lab.gateway_http.to_string()),
            ("DNS", lab.dns.to_string()),
        ],
    )
}

async fn run_watch(
    plan: cutover::scenario::Plan,
    marks: std::path::PathBuf,
    length: Duration,
) -> Recorder {
    let (stop, _) = tokio::sync::watch::channel(false);
    let stop = Arc::new(stop);
    let options = WatchOptions {
        duration: Some(length),
        marks,
        status_every: Duration::from_secs(2),
    };
    let mut rec = Recorder::default();
    cutover::watch::watch(plan, &options, &stop, &mut rec).await;
    rec
}

fn marks_path(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("marks")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_503_spike_mid_watch_is_raised_after_its_mark_and_cleared_when_it_ends() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let marks = marks_path(&dir);
    let switches = Arc::clone(&lab.switches);
    let marks_w = marks.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(4)).await;
        let _ = cutover::run::marks::append("rollout api v7", None, &marks_w);
        switches.deploy(Duration::from_secs(2));
    });
    let rec = run_watch(scenario(&lab, "", false), marks, Duration::from_secs(20)).await;
    let spikes = rec.of(Rule::Spike503);
    assert_eq!(
        spikes,
        vec![
            (State::Raised, Some("gateway".into()), None),
            (State::Cleared, Some("gateway".into()), None)
        ],
        "{:#?}",
        rec.changes
    );
    let raised = rec
        .changes
        .iter()
        .find(|c| c.key.rule == Rule::Spike503)
        .expect("raised");
    assert!(
        raised.message.contains("after `rollout api v7`"),
        "{}",
        raised.message
    );
    assert!(
        raised.message.contains("produced by gateway"),
        "{}",
        raised.message
    );
    // The same seconds make the failure rate over the long window: raised, then cleared.
    assert_eq!(
        rec.of(Rule::FailureRate)
            .iter()
            .map(|c| c.0)
            .collect::<Vec<_>>(),
        vec![State::Raised, State::Cleared],
        "{:#?}",
        rec.changes
    );
    // The ingress never alerts.
    assert!(rec
        .changes
        .iter()
        .all(|c| c.key.target.as_deref() != Some("ingress")));
    assert_eq!(rec.events, vec!["rollout api v7".to_owned()]);
    // Status lines carry both windows and the 503s by origin.
    assert!(rec.statuses.iter().any(|l| l.starts_with("gateway  5s:")));
    assert!(
        rec.statuses
            .iter()
            .any(|l| l.contains("503: ") && l.contains("from gateway")),
        "{:#?}",
        rec.statuses
    );
    // The final report: watch mode, the history, no alert raised at the end.
    let report = rec.last.expect("final report");
    let w = report.watch.as_ref().expect("watch section");
    assert!(w.active.is_empty(), "{:#?}", w.active);
    assert_eq!(w.raised.get("spike_503"), Some(&1));
    assert!(w
        .timeline
        .iter()
        .any(|p| p.target == "gateway" && p.s503 > 0));
    assert!(w.check_passes >= 10, "{}", w.check_passes);
    assert!(rec.checkpoints >= 5, "{}", rec.checkpoints);
    crate::support::assert_valid_report(&serde_json::to_value(&report).expect("json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_websocket_and_a_cors_change_mid_watch_are_raised_and_cleared() {
    let lab = lab().await;
    lab.switches.gateway_websocket.store(true, Relaxed);
    let dir = tempfile::tempdir().expect("tempdir");
    let switches = Arc::clone(&lab.switches);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        switches.gateway_websocket.store(false, Relaxed);
        switches.gateway_cors_differs.store(true, Relaxed);
        tokio::time::sleep(Duration::from_secs(4)).await;
        switches.gateway_websocket.store(true, Relaxed);
        switches.gateway_cors_differs.store(false, Relaxed);
    });
    let checks = r#"  - name: chat
    websocket: { path: /ws, send: [hello], expect_echo: true }
  - name: preflight
    cors: { path: /api/items, origin: https://app.shop.example.test, method: PUT }
"#;
    let rec = run_watch(
        scenario(&lab, checks, false),
        marks_path(&dir),
        Duration::from_secs(12),
    )
    .await;
    let failing = rec.of(Rule::CheckFailing);
    for check in ["chat", "preflight"] {
        let of_check: Vec<State> = failing
            .iter()
            .filter(|(_, t, c)| t.as_deref() == Some("gateway") && c.as_deref() == Some(check))
            .map(|(s, ..)| *s)
            .collect();
        assert_eq!(
            of_check,
            vec![State::Raised, State::Cleared],
            "{check}: {:#?}",
            rec.changes
        );
    }
    assert!(
        failing
            .iter()
            .all(|(_, t, _)| t.as_deref() == Some("gateway")),
        "{failing:#?}"
    );
    assert!(rec
        .statuses
        .iter()
        .any(|l| l.starts_with("gateway") && l.contains("websocket failing")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_weights_moved_mid_watch_raise_drift_and_a_mark_with_the_new_weights_clears_it() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let marks = marks_path(&dir);
    let dns = Arc::clone(&lab.dns_switches);
    let marks_w = marks.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        dns.set_records(vec![
            (50, std::net::IpAddr::from([192, 0, 2, 10])),
            (50, std::net::IpAddr::from([192, 0, 2, 20])),
        ]);
        tokio::time::sleep(Duration::from_secs(4)).await;
        let weights: BTreeMap<String, f64> =
            [("ingress".to_owned(), 50.0), ("gateway".to_owned(), 50.0)].into();
        let _ = cutover::run::marks::append("route53 50/50", Some(&weights), &marks_w);
    });
    let checks = r#"  - name: weighted dns
    dns: { nameservers: ["${DNS}"], samples: 400, rate: 5000/s }
    expect: { weights: { ingress: 90, gateway: 10 } }
"#;
    let rec = run_watch(scenario(&lab, checks, true), marks, Duration::from_secs(12)).await;
    assert_eq!(
        rec.of(Rule::DnsDrift)
            .iter()
            .map(|c| (c.0, c.2.clone()))
            .collect::<Vec<_>>(),
        vec![
            (State::Raised, Some("weighted dns".to_owned())),
            (State::Cleared, Some("weighted dns".to_owned()))
        ],
        "{:#?}",
        rec.changes
    );
    assert_eq!(rec.events, vec!["route53 50/50".to_owned()]);
    let report = rec.last.expect("final report");
    let w = report.watch.as_ref().expect("watch");
    assert_eq!(
        w.events[0].weights.as_ref().map(|w| w["gateway"]),
        Some(50.0)
    );
    assert!(
        rec.statuses
            .iter()
            .any(|l| l.starts_with("gateway") && l.contains("(expected 50 %)")),
        "{:#?}",
        rec.statuses
    );
}

/// A watch report with alerts raised and cleared, events and traffic: what
/// summary.md and the terminal say at the end of a shift.
fn synthetic_watch_report() -> cutover::report::Report {
    serde_json::from_value(serde_json::json!({
        "schema_version": 2,
        "tool": { "name": "cutover", "version": "0.0.0" },
        "mode": "watch",
        "scenario": { "name": "shift", "path": "s.yaml", "sha256": "0".repeat(64), "host": "shop.example.test" },
        "started_at": "2026-01-01T00:00:00.000Z",
        "ended_at": "2026-01-01T08:00:00.000Z",
        "duration_ms": 28_800_000u64,
        "status": "completed",
        "verdict": "fail",
        "targets": [
            { "name": "ingress", "role": "ingress", "proxy": "nginx", "connect": "192.0.2.10:80", "host": "shop.example.test", "scheme": "http", "tls_insecure": false, "ca": null },
            { "name": "gateway", "role": "gateway", "proxy": "envoy", "connect": "192.0.2.20:80", "host": "shop.example.test", "scheme": "http", "tls_insecure": false, "ca": null }
        ],
        "checks": [],
        "findings": [
            { "kind": "load_errors", "level": "fail", "check": null, "target": "gateway", "message": "watch: gateway failed 7.5 % of 1200 requests over the last 5m (90 failed), above 5.0 %", "hint": null }
        ],
        "watch": {
            "rate": 2.0, "every_s": 60, "windows_s": [60, 300], "check_passes": 480, "dropped": 0,
            "active": [
                { "rule": "failure_rate", "target": "gateway", "check": null, "since": 1767252000u64, "message": "gateway failed 7.5 % of 1200 requests over the last 5m (90 failed), above 5.0 %" }
            ],
            "alerts": [
                { "at": 1767232800u64, "state": "raised", "rule": "spike_503", "target": "gateway", "check": null, "message": "gateway answered 12 503s after `deploy api v42`", "raised_at": 1767232800u64 },
                { "at": 1767232920u64, "state": "cleared", "rule": "spike_503", "target": "gateway", "check": null, "message": "gateway answered 12 503s after `deploy api v42`", "raised_at": 1767232800u64 },
                { "at": 1767252000u64, "state": "raised", "rule": "failure_rate", "target": "gateway", "check": null, "message": "gateway failed 7.5 % of 1200 requests over the last 5m (90 failed), above 5.0 %", "raised_at": 1767252000u64 }
            ],
            "alerts_dropped": 0,
            "raised": { "failure_rate": 1, "spike_503": 1 },
            "events": [ { "at": 1767232790u64, "name": "deploy api v42", "weights": null },
                        { "at": 1767240000u64, "name": "route53 50/50", "weights": { "gateway": 50.0, "ingress": 50.0 } } ],
            "timeline": [
                { "at": 1767225600u64, "seconds": 60, "target": "ingress", "requests": 120, "failed": 0, "s503": 0, "p50_ms": 2.1, "p99_ms": 9.5 },
                { "at": 1767225600u64, "seconds": 60, "target": "gateway", "requests": 120, "failed": 3, "s503": 3, "p50_ms": 2.4, "p99_ms": 11.0 }
            ]
        }
    }))
    .expect("a valid watch report")
}

#[test]
fn the_end_of_a_watch_reads_the_same_in_summary_md_and_the_terminal() {
    let r = synthetic_watch_report();
    crate::support::assert_valid_report(&serde_json::to_value(&r).expect("json"));
    let md = cutover::report::markdown::render(&r);
    insta::assert_snapshot!("watch_summary", md);
    let term = cutover::report::terminal::render(&r, cutover::report::terminal::Style::default());
    insta::assert_snapshot!("watch_terminal", term);
    for text in [&md, &term] {
        assert!(text.contains("failure_rate"), "{text}");
    }
}

/// A webhook receiver on loopback: records each POST body, answers 200.
struct Receiver {
    addr: std::net::SocketAddr,
    bodies: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = Arc::clone(&bodies);
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let kept = Arc::clone(&kept);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Ok(n) = tcp.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).to_string();
                        let Some(end) = text.find("\r\n\r\n") else {
                            continue;
                        };
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            let body =
                                String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
                            kept.lock().expect("lock").push(body);
                            let _ = tcp
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                                .await;
                            return;
                        }
                    }
                });
            }
        });
        Receiver { addr, bodies }
    }

    fn bodies(&self) -> Vec<String> {
        self.bodies.lock().expect("lock").clone()
    }
}

/// Kills a spawned process (by pid) unless disarmed after it was reaped.
struct KillOnDrop(Option<u32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

fn watch_file(dir: &std::path::Path, lab: &Lab) -> String {
    let path = dir.join("s.yaml");
    std::fs::write(
        &path,
        format!(
            r#"name: shift
host: shop.example.test
targets:
  ingress: {{ connect: "{}", role: ingress }}
  gateway: {{ connect: "{}", role: gateway }}
defaults: {{ scheme: http, timeout: 3s }}
checks:
  - name: items
    http: {{ path: /api/items }}
    expect: {{ status: 200 }}
watch: {{ rate: 20/s, every: 1s, windows: [5s, 10s], checkpoint: 1s }}
"#,
            lab.ingress_http, lab.gateway_http
        ),
    )
    .expect("write scenario");
    path.display().to_string()
}

async fn wait_until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_command_serves_metrics_posts_alerts_and_gives_the_final_report_on_sigterm() {
    let lab = lab().await;
    let hook = Receiver::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = watch_file(dir.path(), &lab);
    let metrics = crate::support::refused_addr();
    let webhook = format!("http://{}/services/T000/B000/s3cretpath", hook.addr);
    let child = std::process::Command::new(crate::support::bin())
        .args([
            "watch",
            &scenario,
            "--out",
            "out",
            "--marks",
            "marks",
            "--metrics",
            &metrics.to_string(),
            "--webhook",
            &webhook,
        ])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // A failing assertion must not leave the watch running.
    let mut guard = KillOnDrop(Some(child.id()));
    cutover::target::init_tls();
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let url = |p: &str| format!("http://{metrics}{p}");
    // /healthz answers while the watch runs.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(r) = client.get(url("/healthz")).send().await {
            assert_eq!(r.status(), 200);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no /healthz");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    lab.switches.deploy(Duration::from_secs(2));
    // The rollout raises `failure_rate` and `spike_503`, in either order.
    wait_until("the spike's webhook notice", 20, || {
        hook.bodies().iter().any(|b| b.contains("spike_503"))
    })
    .await;
    let bodies = hook.bodies();
    let spike = bodies
        .iter()
        .find(|b| b.contains("spike_503"))
        .expect("a spike notice");
    let notice: serde_json::Value = serde_json::from_str(spike).expect("the notice is JSON");
    let text = notice["text"].as_str().unwrap_or("");
    assert!(
        text.contains("RAISED") && text.contains("gateway"),
        "{notice:#}"
    );
    assert_eq!(
        notice["cutover"]["alert"]["rule"], "spike_503",
        "{notice:#}"
    );
    // Metrics while it runs: requests counted per target, the alert active.
    let body = client
        .get(url("/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    let count = |prefix: &str| -> f64 {
        body.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert!(
        count("cutover_requests_total{target=\"gateway\"") > 0.0,
        "{body}"
    );
    assert!(count("cutover_alert_active{") >= 1.0, "{body}");
    // The report is already on disk (checkpoints) and whole.
    let mid: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/report.json")).expect("checkpoint"),
    )
    .expect("whole JSON");
    assert_eq!(mid["mode"], "watch");
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
    guard.0 = None;
    let report = crate::support::report_in(dir.path(), "out");
    crate::support::assert_valid_report(&report);
    assert_eq!(report["mode"], "watch");
    let active = report["watch"]["active"].as_array().map_or(0, Vec::len);
    let expected = if active == 0 && report["verdict"] == "pass" {
        0
    } else {
        1
    };
    assert_eq!(out.status.code(), Some(expected), "{report:#}");
    assert!(
        report["watch"]["raised"]["spike_503"].as_u64() >= Some(1),
        "{report:#}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("RAISED  spike_503 gateway"), "{stdout}");
    let ndjson = std::fs::read_to_string(dir.path().join("out/events.ndjson")).expect("events");
    assert!(ndjson
        .lines()
        .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
    assert!(ndjson.contains("\"rule\":\"spike_503\""), "{ndjson}");
    // The webhook's secret path is in no output.
    let stderr = String::from_utf8_lossy(&out.stderr);
    for text in [&*stdout, &*stderr, &ndjson] {
        assert!(!text.contains("s3cretpath"), "{text}");
    }
    // The metrics server ended with the watch.
    assert!(client.get(url("/healthz")).send().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_is_down_is_logged_and_never_stops_the_watch() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = watch_file(dir.path(), &lab);
    let webhook = format!("http://{}/hook/s3cretpath", crate::support::refused_addr());
    let switches = Arc::clone(&lab.switches);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        switches.deploy(Duration::from_secs(2));
    });
    let bin = crate::support::bin();
    let cwd = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(bin)
            .args([
                "watch",
                &scenario,
                "--out",
                "out",
                "--marks",
                "marks",
                "--for",
                "9s",
                "--webhook",
                &webhook,
            ])
            .current_dir(cwd)
            .output()
    })
    .await
    .expect("join")
    .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The alert was raised and said on the terminal; the webhook's failure is a warning.
    assert!(stdout.contains("RAISED  spike_503 gateway"), "{stdout}");
    assert!(stderr.contains("webhook"), "{stderr}");
    assert!(
        !stderr.contains("s3cretpath") && !stdout.contains("s3cretpath"),
        "{stderr}"
    );
    let report = crate::support::report_in(dir.path(), "out");
    assert_eq!(report["mode"], "watch");
    assert!(
        report["watch"]["check_passes"].as_u64() >= Some(5),
        "{report:#}"
    );
}

/// Feeds `seconds` synthetic seconds (2 targets × 3 checks, 2 requests per
/// check per second, 503s and an alert flapping every 10 minutes) into the
/// watch's structures and builds the report; returns what a reader measures.
fn synthetic_day(seconds: u64, judge_every: u64) -> (usize, usize, usize, usize, usize) {
    use cutover::analyze::alerts::{AlertKey, Alerts, Condition};
    use cutover::probe::{Origin, Response, Sample};
    use cutover::record::window::{Minutes, Open, Ring};
    let plan = plan(
        r#"
name: day
host: shop.example.test
targets:
  ingress: { connect: "192.0.2.10:80", role: ingress }
  gateway: { connect: "192.0.2.20:80", role: gateway }
checks:
  - { name: a, http: { path: /a } }
  - { name: b, http: { path: /b } }
  - { name: c, http: { path: /c } }
"#,
        &[],
    );
    let keys = 6;
    let mut ring = Ring::new(keys, plan.watch.longest());
    let mut minutes = Minutes::new(keys);
    let mut alerts = Alerts::default();
    let events = std::collections::VecDeque::new();
    let sample = |status: u16, origin: Origin| Sample {
        url: "http://shop.example.test/a".into(),
        response: Some(Response {
            status,
            origin,
            ..Response::default()
        }),
        error: None,
        latency: Duration::from_millis(3),
        ttfb: None,
    };
    let (ok, bad) = (sample(200, Origin::App), sample(503, Origin::Gateway));
    let start = 1_767_225_600u64;
    for t in 0..seconds {
        let mut open = Open::new(start + t, keys);
        for k in 0..keys {
            for i in 0..2u64 {
                let s = if k >= 3 && (t + i) % 997 == 0 {
                    &bad
                } else {
                    &ok
                };
                let latency = Duration::from_micros(1_000 + (t * 7 + i * 13 + k as u64) % 9_000);
                open.record(k, s, latency, s.status() == Some(503));
            }
        }
        let closed = open.close();
        minutes.add(&closed);
        ring.push(closed);
        if t % judge_every == 0 {
            // The windows are built as the watch builds them each second.
            for k in 0..keys {
                let _ = ring.window(k, plan.watch.shortest());
                let _ = ring.window(k, plan.watch.longest());
            }
            let flapping = (t / 600) % 2 == 1;
            let conditions = if flapping {
                vec![Condition {
                    key: AlertKey {
                        rule: Rule::FailureRate,
                        target: Some("gateway".into()),
                        check: None,
                    },
                    message: "gateway failed".into(),
                }]
            } else {
                Vec::new()
            };
            alerts.update(start + t, &Rule::WINDOWS, conditions);
        }
    }
    let (report, _) = cutover::watch::report::build(
        &plan,
        None,
        &cutover::watch::report::Kept {
            started: std::time::UNIX_EPOCH + Duration::from_secs(start),
            minutes: &minutes,
            alerts: &alerts,
            events: &events,
            passes: seconds / 60,
            dropped: 0,
            last: true,
        },
    );
    let json = serde_json::to_vec(&report).expect("json");
    (
        ring.len(),
        minutes.minutes.len(),
        minutes.hours.len(),
        alerts.history().count(),
        json.len(),
    )
}

#[test]
fn a_day_of_synthetic_seconds_keeps_the_structures_and_the_report_bounded() {
    let (ring, minutes, hours, history, bytes) = synthetic_day(86_400, 60);
    assert_eq!(ring, 300, "the ring holds the longest window (5 min)");
    assert_eq!(
        minutes, 1_439,
        "a day of closed minutes, the last one still open"
    );
    assert_eq!(hours, 0, "nothing older than a day yet");
    assert_eq!(
        history, 143,
        "72 raises and 71 clears: the last one is still raised"
    );
    // 2 targets × 1440 minutes of points plus settings and alerts.
    assert!(bytes < 1_000_000, "report.json of a day: {bytes} bytes");
}

/// bench/watch.sh: the same day in release, timed, with RSS and sizes.
#[test]
#[ignore = "a benchmark: bash bench/watch.sh"]
fn watch_day_bench() {
    let rss = || {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
            .unwrap_or(0)
    };
    let before = rss();
    let t = std::time::Instant::now();
    let (ring, minutes, hours, history, bytes) = synthetic_day(86_400, 1);
    let took = t.elapsed();
    let after = rss();
    println!("day: 86400 synthetic seconds, 6 keys, 12 requests/s, windows judged every second");
    println!("time: {:.2} s", took.as_secs_f64());
    println!("ring: {ring} seconds kept");
    println!("minutes: {minutes} kept, hours: {hours}");
    println!("alerts: {history} changes kept");
    println!("report: {bytes} bytes of report.json");
    println!(
        "rss: {before} KiB before, {after} KiB after (+{} KiB)",
        after.saturating_sub(before)
    );
    let (.., bytes2) = synthetic_day(3 * 86_400, 60);
    println!("report: {bytes2} bytes after 3 synthetic days (per-hour points beyond the last day)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behaviour_checks_run_in_the_first_pass_only_and_keep_their_findings() {
    let lab = lab().await;
    lab.switches.rate_limit_burst.store(5, Relaxed);
    let dir = tempfile::tempdir().expect("tempdir");
    let checks = r#"  - name: login limit
    rate_limit: { path: /api/limited/login, count: 10, rate: 200/s, source_addresses: [127.0.0.1, 127.0.0.2] }
"#;
    let rec = run_watch(
        scenario(&lab, checks, false),
        marks_path(&dir),
        Duration::from_secs(5),
    )
    .await;
    let report = rec.last.as_ref().expect("final report");
    assert!(report.watch.as_ref().map_or(0, |w| w.check_passes) >= 3);
    // One burst per target, whatever the number of passes.
    let seen = lab.counters.by_peer("/api/limited/login");
    let total: u64 = seen.values().sum();
    assert!(total <= 20, "{seen:?}");
    // Its finding is raised once and stays raised (kept from the first pass).
    let limit: Vec<State> = rec
        .of(Rule::CheckFailing)
        .iter()
        .filter(|(_, _, c)| c.as_deref() == Some("login limit"))
        .map(|(s, ..)| *s)
        .collect();
    assert_eq!(limit, vec![State::Raised], "{:#?}", rec.changes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_route_lost_mid_watch_fails_its_traffic_and_its_check_and_both_clear() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let switches = Arc::clone(&lab.switches);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        switches.gateway_grpc_unrouted.store(true, Relaxed);
        tokio::time::sleep(Duration::from_secs(5)).await;
        switches.gateway_grpc_unrouted.store(false, Relaxed);
    });
    let checks = r#"  - name: item
    grpc: { method: cutover.lab.v1.Shop/GetItem, descriptor: src/lab/grpc/shop.pb, request: { id: "1" } }
"#;
    let rec = run_watch(
        scenario(&lab, checks, false),
        marks_path(&dir),
        Duration::from_secs(16),
    )
    .await;
    let on_gateway = |rule: Rule| -> Vec<State> {
        rec.of(rule)
            .iter()
            .filter(|(_, t, c)| {
                t.as_deref() == Some("gateway") && c.as_deref().is_none_or(|c| c == "item")
            })
            .map(|(s, ..)| *s)
            .collect()
    };
    assert_eq!(
        on_gateway(Rule::CheckFailing),
        vec![State::Raised, State::Cleared],
        "{:#?}",
        rec.changes
    );
    assert_eq!(
        on_gateway(Rule::FailureRate).first(),
        Some(&State::Raised),
        "the steady gRPC calls fail too: {:#?}",
        rec.changes
    );
    assert!(
        rec.changes
            .iter()
            .all(|c| c.key.target.as_deref() != Some("ingress")),
        "{:#?}",
        rec.changes
    );
}
