//! Parity users can trust, end to end against the embedded lab: JSON diffs
//! by pointer, noise learned from the baseline's own answers, ignore rules,
//! header multimaps, curl lines that reproduce a difference, no repeated
//! side effects, and sampled parity under load judged Diffy's way.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use cutover::analyze::finding::Evidence;
use cutover::analyze::{FindingKind, Level};
use cutover::lab::Lab;
use cutover::report::{Report, Verdict};

use crate::support::{check, lab, plan, result};

/// A scenario with ingress (baseline) and gateway over plain HTTP and `checks`.
fn scenario(lab: &Lab, checks: &str) -> String {
    format!(
        r#"host: shop.example.test
targets:
  ingress: {{ connect: "{}", scheme: http }}
  gateway: {{ connect: "{}", scheme: http }}
checks:
{checks}"#,
        lab.ingress_http, lab.gateway_http
    )
}

fn findings<'a>(
    r: &'a Report,
    kind: FindingKind,
    check: &'a str,
) -> impl Iterator<Item = &'a cutover::analyze::Finding> + 'a {
    r.findings
        .iter()
        .filter(move |f| f.kind == kind && f.check.as_deref() == Some(check))
}

fn failing(r: &Report) -> Vec<String> {
    r.findings
        .iter()
        .filter(|f| f.level == Level::Fail)
        .map(|f| format!("{}: {}", f.kind, f.message))
        .collect()
}

#[tokio::test]
async fn a_timestamp_and_a_request_id_are_noise_not_a_failure() {
    let lab = lab().await;
    let p = plan(
        &scenario(
            &lab,
            "  - name: prices\n    http: { path: /api/prices }\n    parity: { status: true, body: json }\n",
        ),
        &[],
    );
    let r = check(&p).await;
    assert!(failing(&r).is_empty(), "{:?}", failing(&r));
    assert_eq!(result(&r, "prices", "gateway").verdict, Verdict::Pass);
    let noise: Vec<_> = findings(&r, FindingKind::ParityNoise, "prices").collect();
    assert_eq!(noise.len(), 1, "{noise:?}");
    assert_eq!(noise[0].level, Level::Info);
    assert!(
        noise[0].message.contains("/request_id"),
        "{}",
        noise[0].message
    );
    assert!(
        noise[0].message.contains("/served_at"),
        "{}",
        noise[0].message
    );
    let Some(Evidence::Parity { noise: lines, .. }) = &noise[0].evidence else {
        panic!("parity evidence: {:?}", noise[0].evidence);
    };
    assert!(lines.contains(&"/served_at varies between ingress answers".to_owned()));
    assert!(lines.contains(&"/request_id varies between ingress answers".to_owned()));
    // The compared body is kept in the report.
    let prefix = result(&r, "prices", "ingress").body_prefix.clone();
    assert!(prefix.is_some_and(|b| b.contains("\"price_cents\":2599")));
}

#[tokio::test]
async fn a_real_price_difference_fails_naming_only_its_pointer() {
    let lab = lab().await;
    lab.switches.gateway_price_every.store(1, Ordering::Relaxed);
    let p = plan(
        &scenario(
            &lab,
            "  - name: prices\n    http: { path: /api/prices }\n    parity: { status: true, body: json }\n",
        ),
        &[],
    );
    let r = check(&p).await;
    assert_eq!(
        failing(&r),
        ["parity: JSON body: /items/1/price_cents differs from ingress's answer"]
    );
    let f = findings(&r, FindingKind::Parity, "prices")
        .next()
        .expect("parity finding");
    let Some(Evidence::Parity {
        differences,
        unlisted,
        noise,
        ..
    }) = &f.evidence
    else {
        panic!("parity evidence: {:?}", f.evidence);
    };
    assert_eq!(differences.len(), 1);
    assert_eq!(differences[0].pointer, "/items/1/price_cents");
    assert_eq!(differences[0].baseline.as_deref(), Some("2599"));
    assert_eq!(differences[0].target.as_deref(), Some("2499"));
    assert_eq!(*unlisted, 0);
    assert!(
        noise.iter().any(|n| n.starts_with("/served_at ")),
        "{noise:?}"
    );
    // Every renderer shows the values and the commands to reproduce them.
    let terminal = cutover::report::terminal::render(&r, Default::default());
    let summary = cutover::report::markdown::render(&r);
    let junit = cutover::report::junit::render(&r);
    for out in [&terminal, &summary, &junit] {
        assert!(out.contains("/items/1/price_cents: 2599 → 2499"), "{out}");
        assert!(
            out.contains(
                "reproduce (gateway): curl -sS -i --connect-to shop.example.test:80:127.0.0.1:"
            ),
            "{out}"
        );
    }
}

#[tokio::test]
async fn ignore_patterns_match_one_segment_with_a_star_and_any_depth_with_two() {
    let lab = lab().await;
    let p = plan(
        &scenario(
            &lab,
            r#"  - name: ignored
    http: { path: /api/prices }
    parity: { body: json, noise: off, ignore: ["/served_at", "/**/request_id", "/items/*/updated_at"] }
  - name: partly
    http: { path: /api/prices }
    parity: [body:json, "noise:off", "ignore:/served_at"]
"#,
        ),
        &[],
    );
    let r = check(&p).await;
    assert_eq!(result(&r, "ignored", "gateway").verdict, Verdict::Pass);
    assert_eq!(
        failing(&r),
        ["parity: JSON body: /items/0/updated_at, /items/1/updated_at, /request_id differ from ingress's answer"]
    );
    // Noise off: the baseline was asked once per check.
    assert_eq!(findings(&r, FindingKind::ParityNoise, "partly").count(), 0);
}

#[tokio::test]
async fn a_repeated_set_cookie_and_a_dropped_forwarded_host_are_named() {
    let lab = lab().await;
    lab.switches
        .ingress_affinity_cookie
        .store(true, Ordering::Relaxed);
    let p = plan(
        &scenario(
            &lab,
            r#"  - name: session
    http: { path: /session }
    parity: [headers]
  - name: echo
    http: { path: /echo-headers }
    parity: { body: json }
"#,
        ),
        &[],
    );
    let r = check(&p).await;
    let messages = failing(&r);
    assert!(
        messages.contains(
            &"parity: header `set-cookie` differs: ingress `INGRESSCOOKIE=6f1e2d3c4b5a; Path=/; HttpOnly, session=lab; Path=/; HttpOnly`, gateway `session=lab; Path=/; HttpOnly`"
                .to_owned()
        ),
        "{messages:#?}"
    );
    let echo = findings(&r, FindingKind::Parity, "echo")
        .next()
        .expect("echo differs");
    assert!(
        echo.message.contains("/headers/x-forwarded-host"),
        "{}",
        echo.message
    );
    let Some(Evidence::Parity { differences, .. }) = &echo.evidence else {
        panic!("parity evidence");
    };
    let dropped = differences
        .iter()
        .find(|d| d.pointer == "/headers/x-forwarded-host")
        .expect("listed");
    assert_eq!(dropped.baseline.as_deref(), Some("\"shop.example.test\""));
    assert_eq!(dropped.target, None);
}

/// Runs a reproduce command through `sh`, with `env`, off the runtime.
async fn sh(command: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c").arg(command);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(10), cmd.output())
        .await
        .expect("curl finishes")
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The JSON body of a `curl -i` answer.
fn body_json(answer: &str) -> serde_json::Value {
    let (_, body) = answer.split_once("\r\n\r\n").expect("head and body");
    serde_json::from_str(body).expect("JSON body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_curl_line_reproduces_the_difference() {
    let lab = lab().await;
    lab.switches.gateway_price_every.store(1, Ordering::Relaxed);
    let token = "s3cret-token-42";
    let p = plan(
        &scenario(
            &lab,
            r#"  - name: prices
    http: { path: /api/prices, headers: { authorization: "Bearer ${SHOP_TOKEN}", x-api-key: k3y-value } }
    parity: { body: json }
"#,
        ),
        &[("SHOP_TOKEN", token.to_owned())],
    );
    let r = check(&p).await;
    let f = findings(&r, FindingKind::Parity, "prices")
        .next()
        .expect("parity finding");
    assert_eq!(f.reproduce.len(), 2, "{:?}", f.reproduce);
    let mut prices = Vec::new();
    for (target, rep) in ["ingress", "gateway"].iter().zip(&f.reproduce) {
        assert_eq!(rep.target, *target);
        assert!(
            rep.command
                .contains("\"authorization: Bearer ${SHOP_TOKEN}\""),
            "{}",
            rep.command
        );
        assert!(
            rep.command.contains("'x-api-key: [redacted]'"),
            "{}",
            rep.command
        );
        assert!(!rep.command.contains(token) && !rep.command.contains("k3y-value"));
        let answer = sh(&rep.command, &[("SHOP_TOKEN", token)]).await;
        prices.push(body_json(&answer)["items"][1]["price_cents"].clone());
    }
    // The gateway's answer differs as reported.
    assert_eq!(prices, [serde_json::json!(2599), serde_json::json!(2499)]);
}

#[tokio::test]
async fn noise_sampling_never_repeats_a_post_unless_told() {
    let lab = lab().await;
    let count = |yaml: &str| {
        let p = plan(&scenario(&lab, yaml), &[]);
        let lab = &lab;
        async move {
            let before = lab.counters.requests.load(Ordering::Relaxed);
            let r = check(&p).await;
            (lab.counters.requests.load(Ordering::Relaxed) - before, r)
        }
    };
    let (n, _) = count(
        "  - name: create\n    http: { method: POST, path: /api/items, json: { n: 1 } }\n    parity: { status: true, body: json }\n",
    )
    .await;
    assert_eq!(n, 2, "a POST is sent once per target");
    let (n, _) = count(
        "  - name: create\n    http: { method: POST, path: /api/items, json: { n: 1 } }\n    parity: { status: true, body: json, noise_unsafe: true }\n",
    )
    .await;
    assert_eq!(n, 4, "noise_unsafe: the baseline is asked twice more");
    let (n, _) = count(
        "  - name: items\n    http: { path: /api/items }\n    parity: { body: json, noise_samples: 3 }\n",
    )
    .await;
    assert_eq!(
        n, 5,
        "a GET: the baseline is asked noise_samples more times"
    );
}

#[tokio::test]
async fn an_unstable_exact_body_is_inconclusive_with_advice() {
    let lab = lab().await;
    let p = plan(
        &scenario(
            &lab,
            "  - name: prices\n    http: { path: /api/prices }\n    parity: [body]\n",
        ),
        &[],
    );
    let r = check(&p).await;
    assert!(failing(&r).is_empty(), "{:?}", failing(&r));
    let f = findings(&r, FindingKind::ParityNoise, "prices")
        .find(|f| f.level == Level::Inconclusive)
        .expect("inconclusive");
    assert!(
        f.message.contains("cannot be compared exactly"),
        "{}",
        f.message
    );
    assert!(f.hint.as_deref().is_some_and(|h| h.contains("body: json")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampled_load_parity_reports_a_five_percent_difference_not_a_shared_timestamp() {
    let lab = lab().await;
    lab.switches
        .gateway_price_every
        .store(20, Ordering::Relaxed);
    let p = plan(
        &format!(
            "{}load:\n  stages: [{{ rate: 100/s, for: 2s }}]\n  parity: {{ sample: 100% }}\n",
            scenario(
                &lab,
                "  - name: prices\n    http: { path: /api/prices }\n    parity: { body: json }\n"
            )
        ),
        &[],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let options = cutover::run::RunOptions {
        mode: cutover::run::Mode::Run,
        engine: cutover::load::engine::Options::default(),
        marks: dir.path().join(".marks"),
    };
    let (stop, _) = tokio::sync::watch::channel(false);
    let recorded = tokio::time::timeout(
        Duration::from_secs(30),
        cutover::run::execute(&p, &options, &Arc::new(stop), &mut cutover::run::Unobserved),
    )
    .await
    .expect("the run ends");
    let verdict = cutover::analyze::judge(&p, &recorded, None);
    let load = recorded.load.as_ref().expect("load ran");
    let key = load.outcome.key(1, 0);
    let tally = &load.outcome.parity[key];
    // Nearly every gateway answer was sampled (a few may be cut at the end).
    assert!(tally.sampled >= 180, "sampled {}", tally.sampled);
    let (raw, noise) = tally.pointers["/served_at"];
    assert!(raw > 150 && noise > 150, "served_at {raw} / {noise}");
    let f = verdict
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::LoadParity)
        .unwrap_or_else(|| panic!("load parity finding: {:#?}", verdict.findings));
    assert_eq!(f.level, Level::Fail);
    assert_eq!(f.target.as_deref(), Some("gateway"));
    let Some(Evidence::ParityCounts {
        sampled, pointers, ..
    }) = &f.evidence
    else {
        panic!("counts evidence: {:?}", f.evidence);
    };
    assert_eq!(*sampled, tally.sampled);
    assert_eq!(pointers.len(), 1, "{pointers:?}");
    assert_eq!(pointers[0].pointer, "/items/1/price_cents");
    assert_eq!(pointers[0].noise, 0);
    // One gateway answer in 20 (check pass included) had the wrong price.
    let share = pointers[0].raw as f64 / *sampled as f64;
    assert!(
        (0.03..=0.07).contains(&share),
        "{} of {sampled}",
        pointers[0].raw
    );
    assert!(
        f.message.contains("/items/1/price_cents in "),
        "{}",
        f.message
    );
    let report = cutover::report::build::build(&p, &recorded, &verdict);
    crate::support::assert_valid_report(&serde_json::to_value(&report).expect("serializes"));
}

#[tokio::test]
async fn curl_lines_reproduce_a_cors_preflight_and_a_refused_websocket_upgrade() {
    let lab = lab().await;
    lab.switches
        .gateway_cors_differs
        .store(true, Ordering::Relaxed);
    let p = plan(
        &scenario(
            &lab,
            r#"  - name: preflight
    cors: { path: /api/items, origin: https://app.shop.example.test, method: PUT, request_headers: [content-type] }
  - name: chat
    websocket: { path: /ws }
"#,
        ),
        &[],
    );
    let r = check(&p).await;
    let status = |answer: &str| answer.split_whitespace().nth(1).unwrap_or("").to_owned();
    // The preflight: the ingress answers 204, the gateway's policy 200.
    let f = findings(&r, FindingKind::Parity, "preflight")
        .next()
        .expect("a preflight parity finding");
    assert_eq!(f.reproduce.len(), 2, "{:?}", f.reproduce);
    assert!(
        f.reproduce[0].command.contains("-X OPTIONS"),
        "{}",
        f.reproduce[0].command
    );
    let got: Vec<String> = futures_status(&f.reproduce, status).await;
    assert_eq!(got, ["204", "200"]);
    // The upgrade: the ingress switches protocols, the gateway refuses.
    let f = findings(&r, FindingKind::WebsocketRefused, "chat")
        .next()
        .expect("a refused upgrade");
    let got: Vec<String> = futures_status(&f.reproduce, status).await;
    assert_eq!(got, ["101", "403"]);
}

/// Runs each command and keeps the status of its first answer line.
async fn futures_status(
    reproduce: &[cutover::analyze::finding::Reproduce],
    status: impl Fn(&str) -> String,
) -> Vec<String> {
    let mut out = Vec::new();
    for rep in reproduce {
        // An upgraded socket stays open until curl's --max-time: that is fine.
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c").arg(&rep.command);
        let answer = tokio::time::timeout(Duration::from_secs(10), cmd.output())
            .await
            .expect("curl finishes")
            .expect("sh runs");
        out.push(status(&String::from_utf8_lossy(&answer.stdout)));
    }
    out
}
