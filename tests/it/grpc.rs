//! gRPC checks (issue 18) against the lab's `cutover.lab.v1.Shop`: a unary
//! call with its expected code and message, a server stream counted, parity
//! on code and message, a gateway-made UNAVAILABLE told apart from the app's
//! own and from nginx's 502 page, and a bad descriptor or method refused at
//! its position.

use std::sync::atomic::Ordering::Relaxed;

use cutover::probe::grpc::Code;
use cutover::probe::Origin;
use cutover::report::model::{Details, FindingKind, Verdict};

use crate::support::{check, lab, plan, plan_errors, result};

const DESCRIPTOR: &str = "src/lab/grpc/shop.pb";

fn scenario(checks: &str) -> String {
    format!(
        r#"
name: grpc
host: shop.example.test
targets:
  ingress: {{ connect: "${{I}}" }}
  gateway: {{ connect: "${{G}}" }}
checks:
{checks}
"#
    )
}

fn grpc_details(
    r: &cutover::report::Report,
    c: &str,
    t: &str,
) -> cutover::report::model::GrpcDetails {
    match &result(r, c, t).details {
        Some(Details::Grpc(g)) => g.clone(),
        other => panic!("{c} [{t}]: no gRPC details: {other:?}"),
    }
}

async fn run(lab: &cutover::lab::Lab, checks: &str) -> cutover::report::Report {
    let p = plan(
        &scenario(checks),
        &[
            ("I", lab.ingress_http.to_string()),
            ("G", lab.gateway_http.to_string()),
        ],
    );
    check(&p).await
}

#[tokio::test]
async fn a_unary_call_with_its_code_message_and_answer_and_a_stream_counted() {
    let lab = lab().await;
    let checks = format!(
        r#"
  - name: item
    grpc: {{ method: cutover.lab.v1.Shop/GetItem, descriptor: {DESCRIPTOR}, request: {{ id: "1" }} }}
    expect: {{ grpc_code: OK, json: {{ /name: Widget, /priceCents: "1999" }} }}
    parity: [body]
  - name: missing
    grpc: {{ method: cutover.lab.v1.Shop/GetItem, descriptor: {DESCRIPTOR}, request: {{ id: "nope" }} }}
    expect: {{ grpc_code: NOT_FOUND, grpc_message: "no item nope" }}
  - name: list
    grpc: {{ method: cutover.lab.v1.Shop/ListItems, descriptor: {DESCRIPTOR}, request: {{ count: 3 }} }}
    expect: {{ messages: 3, json: {{ /2/name: Item 3 }}, trailers: {{ grpc-status: "0" }} }}
"#
    );
    let r = run(&lab, &checks).await;
    for c in ["item", "missing", "list"] {
        for t in ["ingress", "gateway"] {
            let res = result(&r, c, t);
            assert_eq!(res.verdict, Verdict::Pass, "{c} [{t}]: {:?}", res.failures);
            assert_eq!(res.origin, Some(Origin::App), "{c} [{t}]");
        }
    }
    let missing = grpc_details(&r, "missing", "gateway");
    assert_eq!((missing.code, missing.code_number), (Code::NotFound, 5));
    assert!(missing.trailers_only);
    assert_eq!(grpc_details(&r, "list", "ingress").messages, 3);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);

    // The same calls expecting otherwise fail, saying what came.
    let wrong = format!(
        r#"
  - name: item
    grpc: {{ method: cutover.lab.v1.Shop/GetItem, descriptor: {DESCRIPTOR}, request: {{ id: "missing" }} }}
  - name: list
    grpc: {{ method: cutover.lab.v1.Shop/ListItems, descriptor: {DESCRIPTOR}, request: {{ count: 2 }} }}
    expect: {{ messages: 3 }}
"#
    );
    let r = run(&lab, &wrong).await;
    let item = result(&r, "item", "gateway");
    assert_eq!(item.verdict, Verdict::Fail);
    assert!(
        item.failures
            .iter()
            .any(|f| f.contains("gRPC NOT_FOUND (5) \"no item missing\" where OK (0) was expected")),
        "{:?}",
        item.failures
    );
    assert!(
        result(&r, "list", "ingress")
            .failures
            .iter()
            .any(|f| f.contains("the stream answered 2 messages where 3 were expected")),
        "{:?}",
        result(&r, "list", "ingress").failures
    );
}

#[tokio::test]
async fn a_gateway_made_unavailable_is_told_apart_from_the_apps_own() {
    let lab = lab().await;
    let checks = format!(
        r#"
  - name: store down
    grpc: {{ method: cutover.lab.v1.Shop/GetItem, descriptor: {DESCRIPTOR}, request: {{ id: unavailable }} }}
    expect: {{ grpc_code: UNAVAILABLE }}
  - name: item
    grpc: {{ method: cutover.lab.v1.Shop/GetItem, descriptor: {DESCRIPTOR}, request: {{ id: "1" }} }}
"#
    );
    // The app's own UNAVAILABLE: expected, the app's, on both paths.
    let r = run(&lab, &checks).await;
    for t in ["ingress", "gateway"] {
        let res = result(&r, "store down", t);
        assert_eq!(res.verdict, Verdict::Pass, "{t}: {:?}", res.failures);
        assert_eq!(res.origin, Some(Origin::App), "{t}");
        assert_eq!(grpc_details(&r, "store down", t).code, Code::Unavailable);
    }
    // Now the backend is unreachable: Envoy's UNAVAILABLE and nginx's 502.
    lab.switches.grpc_upstream_down.store(true, Relaxed);
    let r = run(&lab, &checks).await;
    let gw = result(&r, "item", "gateway");
    assert_eq!(gw.origin, Some(Origin::Gateway), "{:?}", gw.origin_reason);
    let g = grpc_details(&r, "item", "gateway");
    assert_eq!(g.code, Code::Unavailable);
    assert!(g.trailers_only && g.from_http.is_none());
    assert!(
        g.message.starts_with("upstream connect error"),
        "{}",
        g.message
    );
    let ing = result(&r, "item", "ingress");
    assert_eq!(ing.origin, Some(Origin::Ingress), "{:?}", ing.origin_reason);
    let i = grpc_details(&r, "item", "ingress");
    assert_eq!((i.code, i.from_http), (Code::Unavailable, Some(502)));
    // The gateway's own failure is said with the GRPCRoute hint.
    let cause = r
        .findings
        .iter()
        .find(|f| f.check.as_deref() == Some("item") && f.target.as_deref() == Some("gateway"))
        .expect("a finding on the gateway");
    assert_eq!(
        r.findings
            .iter()
            .filter(|f| f.check.as_deref() == Some("item"))
            .count(),
        2,
        "the gateway's cause and the ingress's failed code, nothing more: {:#?}",
        r.findings
    );
    assert_eq!(cause.kind, FindingKind::UpstreamReset, "{cause:#?}");
    assert!(
        cause
            .message
            .contains("the gateway answered UNAVAILABLE (14)"),
        "{}",
        cause.message
    );
    assert!(
        cause
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("GRPCRoute")),
        "{cause:#?}"
    );
    // The app-made UNAVAILABLE the check expected is now the gateway's: still
    // the expected code, but no longer the app's answer.
    assert_eq!(
        result(&r, "store down", "gateway").origin,
        Some(Origin::Gateway)
    );
}

#[tokio::test]
async fn an_unrouted_method_is_said_once_with_the_grpcroute_hint_and_the_baselines_code() {
    let lab = lab().await;
    lab.switches.gateway_grpc_unrouted.store(true, Relaxed);
    let checks = format!(
        r#"
  - name: item
    grpc: {{ method: cutover.lab.v1.Shop/GetItem, descriptor: {DESCRIPTOR}, request: {{ id: "1" }} }}
"#
    );
    let r = run(&lab, &checks).await;
    assert_eq!(result(&r, "item", "ingress").verdict, Verdict::Pass);
    assert_eq!(result(&r, "item", "gateway").verdict, Verdict::Fail);
    // Said once: the cause, with the expectation and the baseline's answer.
    assert_eq!(r.findings.len(), 1, "{:#?}", r.findings);
    let miss = &r.findings[0];
    assert_eq!(miss.kind, FindingKind::RouteMiss);
    assert!(
        miss.message
            .ends_with("where OK (0) was expected; ingress answered OK (0)"),
        "{}",
        miss.message
    );
    assert!(miss
        .hint
        .as_deref()
        .is_some_and(|h| h.contains("method: {service, method}")));
}

#[test]
fn a_bad_descriptor_or_method_is_refused_at_its_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.pb");
    std::fs::write(&junk, b"not a descriptor set").expect("write");
    let e = plan_errors(&scenario(&format!(
        r#"
  - name: junk
    grpc: {{ method: a.B/C, descriptor: "{}" }}
  - name: service
    grpc: {{ method: cutover.lab.v1.Shopp/GetItem, descriptor: {DESCRIPTOR} }}
  - name: method
    grpc: {{ method: cutover.lab.v1.Shop/GetItems, descriptor: {DESCRIPTOR} }}
  - name: request
    grpc: {{ method: cutover.lab.v1.Shop/GetItem, descriptor: {DESCRIPTOR}, request: {{ idd: "1" }} }}
  - name: shape
    grpc: {{ method: GetItem, descriptor: {DESCRIPTOR} }}
  - name: code
    grpc: {{ method: cutover.lab.v1.Shop/GetItem, descriptor: {DESCRIPTOR} }}
    expect: {{ grpc_code: MAYBE }}
  - name: not grpc
    http: {{ path: / }}
    expect: {{ grpc_code: OK }}
"#,
        junk.display()
    )));
    for (at, says) in [
        ("test.yaml:10:40", "is not a descriptor set"),
        (
            "test.yaml:12:21",
            "has no service `cutover.lab.v1.Shopp`: did you mean `cutover.lab.v1.Shop`?",
        ),
        (
            "test.yaml:14:21",
            "service `cutover.lab.v1.Shop` has no method `GetItems`: did you mean `GetItem`?",
        ),
        (
            "test.yaml:16:",
            "the request is not a valid `cutover.lab.v1.GetItemRequest`",
        ),
        ("test.yaml:18:21", "`GetItem` is not a gRPC method"),
        ("test.yaml:21:", "`MAYBE` is not a gRPC status code"),
        (
            "test.yaml:24:",
            "this expectation is for `grpc:` checks only",
        ),
    ] {
        assert!(
            e.lines().any(|l| l.contains(at) && l.contains(says)),
            "missing `{at}: … {says}` in:\n{e}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grpc_example_scenario_runs_against_the_lab_and_reads_well() {
    let lab = lab().await;
    lab.switches.gateway_grpc_unrouted.store(true, Relaxed);
    let root = crate::support::root();
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("out");
    let (ingress, gateway) = (lab.ingress_http.to_string(), lab.gateway_http.to_string());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(crate::support::bin())
            .args(["check", "scenarios/grpc.yaml", "--out"])
            .arg(&out_dir)
            .current_dir(root)
            .env("LAB_INGRESS", ingress)
            .env("LAB_GATEWAY", gateway)
            .env_remove("CUTOVER_OUT")
            .output()
            .expect("binary runs")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let report = crate::support::report_in(dir.path(), "out");
    let summary = crate::support::read(&dir.path().join("out").join("summary.md"));
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\d+\.\d+ ms +", "[T] ms  ");
    settings.add_filter(r"\d+\.\d+ ms", "[T] ms");
    settings.add_filter(r"\d{4}-\d\d-\d\dT[0-9:.]+Z", "[TIME]");
    settings.add_filter(r"\d+\.\d s\b", "[D] s");
    settings.add_filter(r"report: .*", "report: [DIR]");
    settings.add_filter(r"`[0-9a-f]{12}`", "`[SHA]`");
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    settings.bind(|| {
        insta::assert_snapshot!("grpc_example_terminal", stdout);
        insta::assert_snapshot!("grpc_example_summary", summary);
    });
    assert_eq!(
        report["checks"][0]["results"][1]["details"]["code"],
        "UNIMPLEMENTED"
    );
}
