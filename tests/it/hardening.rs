//! Hardening: cutover is pointed at production during incidents, so it never
//! loses what it measured and never outlives its welcome. Signals during an
//! event, events that overrun, event output that floods.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{lab, report_in};

fn scenario(ingress: &str, gateway: &str, load: &str, events: &str) -> String {
    format!(
        r#"name: hardening
host: shop.example.test
defaults: {{ timeout: 2s }}
targets:
  ingress: {{ connect: "{ingress}" }}
  gateway: {{ connect: "{gateway}" }}
checks:
  - name: items
    http: {{ path: /api/items }}
load: {load}
events: {events}
"#
    )
}

/// Processes whose command line contains `needle` (from /proc).
fn processes_with(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let cmdline = entry.path().join("cmdline");
        if let Ok(bytes) = std::fs::read(&cmdline) {
            let text = String::from_utf8_lossy(&bytes).replace('\0', " ");
            if text.contains(needle) && !text.contains("bash -c") {
                out.push(text);
            }
        }
    }
    out
}

async fn wait_for_file(path: &Path, within: Duration) {
    let deadline = Instant::now() + within;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn signal_during_event(signal: &str, marker: &str) {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // Regression guard: the run waited for the command (up to its 60 s timeout)
    // before honouring the signal.
    let s = scenario(
        &lab.ingress_http.to_string(),
        &lab.gateway_http.to_string(),
        "{ stages: [{ rate: 20/s, for: 30s }] }",
        &format!(
            r#"[{{ at: 0s, name: slow deploy, timeout: 60s, run: "touch started; sleep {marker}; echo never" }}]"#
        ),
    );
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    let child = std::process::Command::new(crate::support::bin())
        .args(["run", "s.yaml", "--out", "out"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    wait_for_file(&dir.path().join("started"), Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    let killed = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    let took = signalled.elapsed();
    assert_eq!(out.status.code(), Some(130));
    assert!(took < Duration::from_secs(3), "exit took {took:?}");
    let report = report_in(dir.path(), "out");
    assert_eq!(report["status"], "interrupted");
    let event = &report["load"]["events"][0];
    assert_eq!(event["name"], "slow deploy");
    assert!(
        event["error"]
            .as_str()
            .is_some_and(|e| e.contains("process group was ended")),
        "{event}"
    );
    // The shell's child (the sleep) went with its group.
    assert!(processes_with(&format!("sleep {marker}")).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_during_an_event_stops_the_run_at_once_ends_the_command_and_writes_the_report() {
    signal_during_event("-INT", "37.25").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_an_event_stops_the_run_at_once_ends_the_command_and_writes_the_report() {
    signal_during_event("-TERM", "37.75").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_past_its_timeout_is_ended_with_its_children() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        &lab.ingress_http.to_string(),
        &lab.gateway_http.to_string(),
        "{ stages: [{ rate: 10/s, for: 2s }] }",
        r#"[{ at: 0s, name: stuck, timeout: 500ms, run: "sleep 41.5; echo never" }]"#,
    );
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    let out = crate::support::run_bin_async(dir.path(), &["run", "s.yaml", "--out", "out"]).await;
    assert_eq!(out.status.code(), Some(0), "a failed event is a warning");
    let report = report_in(dir.path(), "out");
    let event = &report["load"]["events"][0];
    assert!(
        event["error"]
            .as_str()
            .is_some_and(|e| e.contains("did not finish within 500ms")),
        "{event}"
    );
    assert!(processes_with("sleep 41.5").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_output_is_kept_as_its_first_and_last_kib_and_counted() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        &lab.ingress_http.to_string(),
        &lab.gateway_http.to_string(),
        "{ stages: [{ rate: 10/s, for: 1s }] }",
        r#"[{ at: 0s, name: chatty, run: "echo first; head -c 5000000 /dev/zero | tr '\\0' x; echo; echo last" }]"#,
    );
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    let out = crate::support::run_bin_async(dir.path(), &["run", "s.yaml", "--out", "out"]).await;
    assert_eq!(out.status.code(), Some(0));
    let report = report_in(dir.path(), "out");
    let event = &report["load"]["events"][0];
    assert_eq!(event["exit_code"], 0, "{event}");
    assert_eq!(event["output_bytes"], 5_000_012);
    let text = event["output"].as_str().unwrap_or("");
    assert!(text.starts_with("first\nxxx"), "{text:.80}");
    assert!(text.ends_with("xx\nlast\n"), "{}", &text[text.len() - 20..]);
    assert!(text.len() < 2200, "{}", text.len());
    assert!(text.contains("bytes left out"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_is_redacted_in_every_encoding_in_every_report_file() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // Regression guard: a secret with `+ / =` in a query string was
    // percent-encoded in `request` and `url` and leaked into report.json and
    // summary.md.
    let secret = "q+R/s=tU v9";
    let basic = "ops:pa55/w+rd=";
    let s = format!(
        r#"name: secrets
host: shop.example.test
targets:
  ingress: {{ connect: "{}" }}
checks:
  - name: echo
    http:
      path: /echo-headers
      query: {{ token: "${{TOKEN}}" }}
      headers: {{ authorization: "Basic ${{BASIC}}", cookie: "session=${{SESSION}}; theme=dark" }}
    expect: {{ status: 418 }}
"#,
        lab.ingress_http
    );
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    use base64::Engine as _;
    let basic_b64 = base64::engine::general_purpose::STANDARD.encode(basic);
    let d = dir.path().to_path_buf();
    let b = basic_b64.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(crate::support::bin())
            .args(["check", "s.yaml", "--out", "out"])
            .current_dir(&d)
            .env("TOKEN", secret)
            .env("BASIC", b)
            .env("SESSION", "c00kie-v4lue-123")
            .output()
            .expect("runs")
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    for file in ["report.json", "summary.md", "junit.xml"] {
        let text = crate::support::read(&dir.path().join("out").join(file)) + &stdout;
        for leaked in [
            secret,
            "q%2BR%2Fs%3DtU%20v9",
            "q%2BR%2Fs%3DtU+v9",
            "q+R/s=tU%20v9",
            "pa55/w+rd=",
            basic_b64.as_str(),
            "c00kie-v4lue-123",
        ] {
            assert!(!text.contains(leaked), "{file} leaks `{leaked}`");
        }
    }
    let report = crate::support::read(&dir.path().join("out/report.json"));
    assert!(report.contains("[redacted]"));
}

#[test]
fn ci_never_stops_processes_it_did_not_start() {
    // Regression guard: `.ci/run` ran `pkill -x nginx`, which killed a
    // developer's own nginx along with the distro service.
    let script = crate::support::read(&crate::support::root().join(".ci/run"));
    for forbidden in ["pkill", "killall", "systemctl stop", "service nginx stop"] {
        assert!(
            !script.contains(forbidden),
            ".ci/run must not use `{forbidden}`"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_at_a_signal_are_counted_as_cancelled_not_lost() {
    // Regression guard: the server saw 321 requests, the report said 65 and
    // 0 errors: those still in flight after the grace vanished.
    use std::sync::atomic::Ordering::Relaxed;
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        &lab.ingress_http.to_string(),
        &lab.gateway_http.to_string(),
        "{ stages: [{ rate: 40/s, for: 60s }], targets: [gateway] }",
        "[]",
    )
    .replace("timeout: 2s", "timeout: 60s");
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    let child = std::process::Command::new(crate::support::bin())
        .args(["run", "s.yaml", "--out", "out"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // After the check pass (one answer per target), the gateway stops answering.
    let deadline = Instant::now() + Duration::from_secs(30);
    while lab.counters.responses.load(Relaxed) < 2 {
        assert!(Instant::now() < deadline, "the check pass never ran");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    lab.switches
        .gateway_extra_latency_ms
        .store(600_000, Relaxed);
    while lab.counters.requests.load(Relaxed) < lab.counters.responses.load(Relaxed) + 30 {
        assert!(
            Instant::now() < deadline,
            "the load never reached the gateway"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let signalled = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(out.status.code(), Some(130));
    assert!(
        signalled.elapsed() < Duration::from_secs(4),
        "{:?}",
        signalled.elapsed()
    );
    let report = report_in(dir.path(), "out");
    let gateway = &report["load"]["targets"][0];
    assert_eq!(gateway["target"], "gateway");
    let cancelled = gateway["totals"]["cancelled"].as_u64().unwrap_or(0);
    let answered = gateway["totals"]["requests"].as_u64().unwrap_or(0);
    // Every request the gateway received is in the report: answered before the
    // stall, or cancelled at the stop.
    let received = lab.counters.requests.load(Relaxed) - 2;
    assert!(cancelled >= 30, "{gateway}");
    assert_eq!(answered + cancelled, received, "{gateway}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_stops_answering_trips_the_abort_rule_within_for_plus_a_second() {
    // Regression guard: errors were counted when requests completed, so with
    // a 10 s timeout the load stopped 12.9 s after a black hole began.
    use std::sync::atomic::Ordering::Relaxed;
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        &lab.ingress_http.to_string(),
        &lab.gateway_http.to_string(),
        "{ stages: [{ rate: 40/s, for: 60s }] }\nanalysis: { abort: { error_ratio: 0.2, for: 2s } }",
        "[]",
    )
    .replace("timeout: 2s", "timeout: 60s");
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    let child = std::process::Command::new(crate::support::bin())
        .args(["run", "s.yaml", "--out", "out"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    // Let the load run healthy for a moment, then the gateway goes silent.
    while lab.counters.responses.load(Relaxed) < 40 {
        assert!(Instant::now() < deadline, "the load never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    lab.switches
        .gateway_extra_latency_ms
        .store(600_000, Relaxed);
    let silent_since = Instant::now();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    let took = silent_since.elapsed();
    assert_eq!(out.status.code(), Some(3));
    // for (2 s) + 1 s to be late + the second boundary + the 1 s grace.
    assert!(
        took < Duration::from_secs(6),
        "stopped {took:?} after the gateway went silent"
    );
    let report = report_in(dir.path(), "out");
    assert_eq!(report["status"], "aborted");
    let aborted = report["findings"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["kind"] == "aborted"))
        .expect("an aborted finding");
    assert_eq!(aborted["target"], "gateway", "{aborted}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_scale_that_pushes_a_stage_past_the_limits_is_refused_before_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        "127.0.0.1:9",
        "127.0.0.1:9",
        "{ stages: [{ rate: 900000/s, for: 1s }] }",
        "[]",
    );
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    let out = crate::support::run_bin_async(
        dir.path(),
        &["run", "s.yaml", "--out", "out", "--rate-scale", "2"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("with --rate-scale 2"), "{stderr}");
    assert!(stderr.contains("force: true"), "{stderr}");
    assert!(
        !dir.path().join("out").exists(),
        "nothing was sent or written"
    );
}

/// A WebSocket server that upgrades, then never reads again (so it never
/// answers a ping), holding the socket open.
async fn deaf_websocket_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            if let Ok(ws) = tokio_tungstenite::accept_async(tcp).await {
                held.push(ws);
            }
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_whose_pings_get_no_pong_ends_as_a_failure() {
    // Regression guard: a hold whose server never answered pings was
    // reported "held open to the end".
    let addr = deaf_websocket_server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = format!(
        r#"name: deaf
host: shop.example.test
targets:
  ingress: {{ connect: "{addr}" }}
checks:
  - name: chat
    websocket: {{ path: /ws, hold: 3s, ping_interval: 200ms, pong_timeout: 500ms }}
"#
    );
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    let started = Instant::now();
    let out = crate::support::run_bin_async(dir.path(), &["check", "s.yaml", "--out", "out"]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "ended at the pong timeout, not the hold"
    );
    let report = report_in(dir.path(), "out");
    let how = report["checks"][0]["results"][0]["details"]["ended"]["how"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(how.contains("no pong came within 500ms"), "{how}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_message_over_the_cap_is_a_failure_not_a_buffer() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let big = "x".repeat(4096);
    let s = format!(
        r#"name: cap
host: shop.example.test
targets:
  ingress: {{ connect: "{}" }}
checks:
  - name: chat
    websocket: {{ path: /ws, send: ["{big}"], expect_echo: true, max_message: 1k }}
"#,
        lab.ingress_http
    );
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    let out = crate::support::run_bin_async(dir.path(), &["check", "s.yaml", "--out", "out"]).await;
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("over the cap"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_sockets_that_fail_after_the_upgrade_count_for_thresholds() {
    use std::sync::atomic::Ordering::Relaxed;
    let lab = lab().await;
    // The ingress drops a socket idle for 300 ms; the stage sends every 2 s.
    lab.switches.ingress_ws_idle_ms.store(300, Relaxed);
    let dir = tempfile::tempdir().expect("tempdir");
    let s = format!(
        r#"name: dropped sockets
host: shop.example.test
targets:
  ingress: {{ connect: "{}" }}
checks:
  - name: chat
    websocket: {{ path: /ws, send: [tick], expect_echo: true }}
load: {{ stages: [{{ sockets: 10, ramp: 100ms, for: 1500ms, message_rate: 0.5/s }}] }}
analysis: {{ thresholds: {{ error_ratio: 0.1 }} }}
"#,
        lab.ingress_http
    );
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    let out = crate::support::run_bin_async(dir.path(), &["run", "s.yaml", "--out", "out"]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report = report_in(dir.path(), "out");
    let totals = &report["load"]["targets"][0]["totals"];
    assert_eq!(totals["failed"], 10, "{totals}");
    assert_eq!(totals["error_kinds"]["reset"], 10, "{totals}");
    assert!(report["findings"]
        .as_array()
        .is_some_and(|fs| fs.iter().any(|f| f["kind"] == "threshold")));
}
