//! WebSocket and CORS checks end to end against the lab: upgrades and
//! refusals, echoes, holds ended by an idle timeout, every CORS rule, leaks of
//! a disallowed origin, preflight parity, and WebSocket checks under load.

use std::sync::atomic::Ordering;

use cutover::probe::Origin;
use cutover::report::Verdict;

use crate::support::{assert_valid_report, check, lab, plan, result, DetailsJson as _};

fn targets(lab: &cutover::lab::Lab) -> Vec<(&'static str, String)> {
    vec![
        ("I", lab.ingress_http.to_string()),
        ("G", lab.gateway_http.to_string()),
    ]
}

const WS: &str = r#"
host: shop.example.test
targets:
  ingress: { connect: "${I}" }
  gateway: { connect: "${G}" }
checks:
  - name: chat
    websocket: { path: /ws, subprotocols: [echo], send: [hello, { binary: aGk= }], expect_echo: true }
"#;

#[tokio::test]
async fn websocket_upgrades_on_the_ingress_and_kgateway_refuses_with_a_hint() {
    let lab = lab().await;
    let r = check(&plan(WS, &targets(&lab))).await;
    let i = result(&r, "chat", "ingress");
    assert_eq!(i.verdict, Verdict::Pass, "{:?}", i.failures);
    assert_eq!(i.status, Some(101));
    let d = &i.details_json();
    assert_eq!(d["subprotocol"], "echo");
    assert_eq!(d["messages"].as_array().map(Vec::len), Some(2));
    assert!(d["messages"][0]["rtt_ms"].as_f64().is_some());
    let g = result(&r, "chat", "gateway");
    assert_eq!((g.status, g.origin), (Some(403), Some(Origin::Gateway)));
    assert_eq!(g.verdict, Verdict::Fail);
    let f = r
        .findings
        .iter()
        .find(|f| f.kind.as_str() == "websocket_refused")
        .expect("refusal finding");
    assert_eq!(f.target.as_deref(), Some("gateway"));
    assert!(f
        .hint
        .as_deref()
        .is_some_and(|h| h.contains("HTTPListenerPolicy upgradeConfig")));
    assert!(lab.counters.upgrades.load(Ordering::Relaxed) >= 1);

    lab.switches
        .gateway_websocket
        .store(true, Ordering::Relaxed);
    let r = check(&plan(WS, &targets(&lab))).await;
    assert_eq!(result(&r, "chat", "gateway").verdict, Verdict::Pass);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}

#[tokio::test]
async fn a_reply_that_does_not_match_fails_the_message() {
    let lab = lab().await;
    let yaml = WS
        .replace("expect_echo: true", "expect_regex: \"^bye$\"")
        .replace(", { binary: aGk= }", "");
    let r = check(&plan(&yaml, &targets(&lab))).await;
    let i = result(&r, "chat", "ingress");
    assert_eq!(
        i.failures,
        ["message 1 (text `hello`): reply text `hello` does not match /^bye$/"]
    );
}

#[tokio::test]
async fn a_hold_ended_by_an_idle_timeout_is_reported_with_how_it_ended() {
    let lab = lab().await;
    lab.switches
        .gateway_websocket
        .store(true, Ordering::Relaxed);
    lab.switches
        .ingress_ws_idle_ms
        .store(200, Ordering::Relaxed);
    let yaml = r#"
host: shop.example.test
targets:
  ingress: { connect: "${I}" }
  gateway: { connect: "${G}" }
checks:
  - name: idle
    websocket: { path: /ws, hold: 1500ms, ping_interval: 10s }
"#;
    let r = check(&plan(yaml, &targets(&lab))).await;
    let i = result(&r, "idle", "ingress");
    assert_eq!(i.verdict, Verdict::Fail);
    assert_eq!(i.failures.len(), 1, "{:?}", i.failures);
    assert!(
        i.failures[0].starts_with("the socket ended after 0."),
        "{}",
        i.failures[0]
    );
    assert!(
        i.failures[0].contains("without a close frame"),
        "{}",
        i.failures[0]
    );
    let g = result(&r, "idle", "gateway");
    assert_eq!(g.verdict, Verdict::Pass, "{:?}", g.failures);
    assert_eq!(g.details_json()["ended"]["how"], "held open to the end");
}

const CORS: &str = r#"
host: shop.example.test
targets:
  ingress: { connect: "${I}" }
  gateway: { connect: "${G}" }
checks:
  - name: preflight
    cors:
      path: /api/items
      origin: https://app.shop.example.test
      method: PUT
      request_headers: [Authorization, Content-Type]
      disallowed_origin: https://evil.example
    expect: { allow_credentials: true, max_age: 600..2000000 }
"#;

#[tokio::test]
async fn matching_cors_answers_pass_every_rule_on_both_paths() {
    let lab = lab().await;
    let r = check(&plan(CORS, &targets(&lab))).await;
    for t in ["ingress", "gateway"] {
        let res = result(&r, "preflight", t);
        assert_eq!(res.verdict, Verdict::Pass, "{t}: {:?}", res.failures);
    }
    let d = result(&r, "preflight", "ingress").details_json();
    assert_eq!(d["preflight"]["status"], 204);
    assert_eq!(
        d["preflight"]["allow_origin"],
        "https://app.shop.example.test"
    );
    assert!(d["actual"]["allow_origin"].is_string());
}

#[tokio::test]
async fn a_different_gateway_policy_fails_rules_and_parity_naming_both_values() {
    let lab = lab().await;
    lab.switches
        .gateway_cors_differs
        .store(true, Ordering::Relaxed);
    let r = check(&plan(CORS, &targets(&lab))).await;
    let g = result(&r, "preflight", "gateway");
    let has = |s: &str| {
        assert!(
            g.failures.iter().any(|f| f.contains(s)),
            "{s:?} not in {:#?}",
            g.failures
        )
    };
    has("Access-Control-Allow-Credentials is absent where true was expected");
    has("preflight status differs: ingress 204, gateway 200");
    has("preflight Access-Control-Max-Age differs: ingress `1728000`, gateway `600`");
    assert!(r
        .findings
        .iter()
        .any(|f| f.kind.as_str() == "parity" && f.message.contains("Allow-Credentials differs")));
}

#[tokio::test]
async fn a_disallowed_origin_reflected_by_the_app_leaks_on_the_gateway_only() {
    let lab = lab().await;
    lab.switches
        .app_cors_reflects_origin
        .store(true, Ordering::Relaxed);
    let r = check(&plan(CORS, &targets(&lab))).await;
    assert_eq!(
        result(&r, "preflight", "ingress").verdict,
        Verdict::Pass,
        "nginx answers preflights itself"
    );
    let g = result(&r, "preflight", "gateway");
    assert!(
        g.failures.iter().any(|f| f
            .starts_with("the disallowed origin `https://evil.example` is allowed")
            && f.contains("answered by app")),
        "{:#?}",
        g.failures
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_checks_run_inside_a_load_mix() {
    let lab = lab().await;
    lab.switches
        .gateway_websocket
        .store(true, Ordering::Relaxed);
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = format!(
        r#"name: ws load
host: shop.example.test
targets:
  ingress: {{ connect: "{}" }}
  gateway: {{ connect: "{}" }}
checks:
  - name: items
    http: {{ path: /api/items }}
  - name: chat
    websocket: {{ path: /ws, send: [ping], expect_echo: true }}
load: {{ stages: [{{ rate: 40/s, for: 1s }}], mix: {{ items: 1, chat: 1 }} }}
"#,
        lab.ingress_http, lab.gateway_http
    );
    std::fs::write(dir.path().join("s.yaml"), yaml).expect("write");
    let d = dir.path().to_path_buf();
    let out = crate::support::run_bin_async(&d, &["run", "s.yaml", "--out", "out"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: serde_json::Value = crate::support::report_in(dir.path(), "out");
    assert_valid_report(&report);
    for t in report["load"]["targets"].as_array().expect("targets") {
        let chat = t["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["check"] == "chat"))
            .expect("chat under load");
        let n = chat["totals"]["requests"].as_u64().unwrap_or(0);
        assert!(n > 0, "{t}");
        assert_eq!(
            chat["totals"]["statuses"]["101"].as_u64(),
            Some(n),
            "every socket upgraded: {t}"
        );
        assert_eq!(chat["totals"]["errors"], 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_stage_holds_sockets_and_times_every_message() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = format!(
        r#"name: sockets
host: shop.example.test
targets:
  ingress: {{ connect: "{}" }}
checks:
  - name: chat
    websocket: {{ path: /ws, send: [tick], expect_echo: true }}
load: {{ stages: [{{ sockets: 20, ramp: 200ms, for: 1500ms, message_rate: 4/s }}] }}
"#,
        lab.ingress_http
    );
    std::fs::write(dir.path().join("s.yaml"), yaml).expect("write");
    let d = dir.path().to_path_buf();
    let out = crate::support::run_bin_async(&d, &["run", "s.yaml", "--out", "out"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: serde_json::Value = crate::support::report_in(dir.path(), "out");
    assert_valid_report(&report);
    let chat = &report["load"]["targets"][0]["checks"][0];
    assert_eq!(chat["check"], "chat");
    // 20 sockets upgraded (plus the check pass's own socket, counted by the lab).
    assert_eq!(chat["totals"]["statuses"]["101"], 20);
    assert_eq!(lab.counters.upgrades.load(Ordering::Relaxed), 21);
    let m = &chat["totals"]["messages"];
    // Each socket sends at 4/s for what is left of 1.5 s after it opened: 4 to 5
    // messages, fewer only if a reply is late (then the tick counts as dropped).
    let replies = m["replies"].as_u64().unwrap_or(0);
    let dropped = m["dropped"].as_u64().unwrap_or(0);
    assert!(replies >= 40 && replies + dropped <= 110, "{m}");
    assert_eq!(m["failures"], 0, "{m}");
    assert!(m["rtt"]["p99"].as_f64().unwrap_or(0.0) > 0.0);
    assert_eq!(report["load"]["stages"][0]["kind"], "sockets");
}

#[tokio::test]
async fn wss_upgrades_with_the_production_sni_and_the_targets_ca() {
    let lab = lab().await;
    lab.switches
        .gateway_websocket
        .store(true, Ordering::Relaxed);
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &lab.ca_pem).expect("ca");
    let yaml = r#"
host: shop.example.test
targets:
  gateway: { connect: "${G}", scheme: https, tls: { ca: "${CA}" } }
checks:
  - name: chat
    websocket: { path: /ws, send: [secure], expect_echo: true }
"#;
    let r = check(&plan(
        yaml,
        &[
            ("G", lab.gateway_https.to_string()),
            ("CA", ca.display().to_string()),
        ],
    ))
    .await;
    let g = result(&r, "chat", "gateway");
    assert_eq!(g.verdict, Verdict::Pass, "{:?} {:?}", g.failures, g.error);
    assert_eq!(g.url, "wss://shop.example.test/ws");
}
