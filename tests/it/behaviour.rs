//! Behaviour checks end to end against the embedded lab (issue 12): rate
//! limits per client vs one shared bucket, body-size limits, route
//! timeouts, plain-HTTP redirects and forwarded headers, each with the
//! difference switched on and off, request counts asserted from what the
//! lab served, two source addresses really used.

use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;

use cutover::analyze::{FindingKind, Level};
use cutover::lab::Lab;
use cutover::report::Report;

use crate::support::{check, lab, plan, result, DetailsJson};

/// A scenario with both lab fronts over plain HTTP and `checks` (YAML list items).
fn scenario(lab: &Lab, checks: &str) -> cutover::scenario::Plan {
    plan(
        &format!(
            r#"
name: behaviour
host: shop.example.test
targets:
  ingress: {{ connect: "${{I}}", role: ingress }}
  gateway: {{ connect: "${{G}}", role: gateway }}
defaults: {{ scheme: http, timeout: 5s }}
checks:
{checks}
"#
        ),
        &[
            ("I", lab.ingress_http.to_string()),
            ("G", lab.gateway_http.to_string()),
        ],
    )
}

fn kinds(r: &Report, level: Level) -> Vec<FindingKind> {
    r.findings
        .iter()
        .filter(|f| f.level == level)
        .map(|f| f.kind)
        .collect()
}

fn finding(r: &Report, kind: FindingKind) -> &cutover::analyze::Finding {
    r.findings
        .iter()
        .find(|f| f.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} finding in {:#?}", r.findings))
}

const RATE_LIMIT: &str = r#"  - name: login limit
    rate_limit: { path: /api/limited/login, count: 20, rate: 200/s, source_addresses: [127.0.0.1, 127.0.0.2] }
"#;

#[tokio::test]
async fn a_shared_gateway_bucket_where_the_ingress_limits_per_client_is_a_finding_with_the_global_limit_hint(
) {
    let lab = lab().await;
    lab.switches.rate_limit_burst.store(5, Relaxed);
    let r = check(&scenario(&lab, RATE_LIMIT)).await;
    let shared = finding(&r, FindingKind::RateLimitShared);
    assert_eq!(shared.level, Level::Fail);
    assert_eq!(shared.target.as_deref(), Some("gateway"));
    assert!(shared.message.contains("127.0.0.2"), "{}", shared.message);
    assert!(
        shared
            .hint
            .as_deref()
            .unwrap_or("")
            .contains("remoteAddress"),
        "{:?}",
        shared.hint
    );
    // The limiting answer and who produced it: nginx's 503, Envoy's 429.
    let status = finding(&r, FindingKind::RateLimit);
    assert!(
        status
            .message
            .contains("429 `local_rate_limited` from gateway"),
        "{}",
        status.message
    );
    assert!(
        status.message.contains("503 from ingress"),
        "{}",
        status.message
    );
    assert!(status
        .hint
        .as_deref()
        .unwrap_or("")
        .contains("limit-req-status-code"));
    // Where limiting starts and how many got through, per source.
    let ingress = result(&r, "login limit", "ingress").details_json();
    assert_eq!(ingress["bucket"], "per_client");
    assert_eq!(ingress["bursts"][0]["first_limited"], 6);
    assert_eq!(ingress["bursts"][0]["passed"], 5);
    assert_eq!(ingress["bursts"][1]["passed"], 5);
    assert_eq!(ingress["bursts"][0]["limited"]["origin"], "ingress");
    let gateway = result(&r, "login limit", "gateway").details_json();
    assert_eq!(gateway["bucket"], "shared");
    assert_eq!(gateway["bursts"][1]["first_limited"], 1);
    assert_eq!(gateway["bursts"][1]["limited"]["status"], 429);
}

#[tokio::test]
async fn rate_limit_bursts_never_exceed_count_and_really_come_from_two_source_addresses() {
    let lab = lab().await;
    lab.switches.rate_limit_burst.store(5, Relaxed);
    let _ = check(&scenario(&lab, RATE_LIMIT)).await;
    let seen = lab.counters.by_peer("/api/limited/login");
    let a: IpAddr = "127.0.0.1".parse().expect("ip");
    let b: IpAddr = "127.0.0.2".parse().expect("ip");
    // ingress: 6 from .1 (5 + the limited one) and 6 from .2; gateway: 6 + 1.
    assert_eq!(seen.get(&a), Some(&12), "{seen:?}");
    assert_eq!(seen.get(&b), Some(&7), "{seen:?}");
    // Unlimited: the whole budget from the first source, never more.
    let lab = crate::support::lab().await;
    let _ = check(&scenario(&lab, RATE_LIMIT)).await;
    let seen = lab.counters.by_peer("/api/limited/login");
    assert_eq!(seen.get(&a), Some(&40), "20 per target: {seen:?}");
    assert_eq!(seen.get(&b), None, "{seen:?}");
}

#[tokio::test]
async fn per_client_limits_on_both_sides_with_the_same_status_are_no_finding() {
    let lab = lab().await;
    lab.switches.rate_limit_burst.store(5, Relaxed);
    lab.switches
        .gateway_rate_limit_per_client
        .store(true, Relaxed);
    lab.switches.ingress_limit_status_429.store(true, Relaxed);
    let r = check(&scenario(&lab, RATE_LIMIT)).await;
    assert!(kinds(&r, Level::Fail).is_empty(), "{:#?}", r.findings);
    assert!(kinds(&r, Level::Warn).is_empty(), "{:#?}", r.findings);
}

#[tokio::test]
async fn a_rate_limit_only_the_ingress_has_is_a_finding() {
    let lab = lab().await;
    lab.switches.rate_limit_burst.store(5, Relaxed);
    // The ingress's limit annotation was not carried over to the gateway.
    lab.switches.gateway_rate_limit_off.store(true, Relaxed);
    let r = check(&scenario(
        &lab,
        r#"  - name: limit
    rate_limit: { path: /api/limited/x, count: 10, rate: 200/s }
"#,
    ))
    .await;
    let fails: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.level == Level::Fail && f.kind.as_str() == "rate_limit")
        .collect();
    assert_eq!(fails.len(), 1, "{:#?}", r.findings);
    assert_eq!(fails[0].target.as_deref(), Some("gateway"));
    // One target only: nothing to compare, nothing failed.
    let lab = crate::support::lab().await;
    lab.switches.rate_limit_burst.store(5, Relaxed);
    let r = check(&scenario(
        &lab,
        r#"  - name: limit
    targets: [ingress]
    rate_limit: { path: /api/limited/x, count: 10, rate: 200/s }
"#,
    ))
    .await;
    assert!(kinds(&r, Level::Fail).is_empty(), "{:#?}", r.findings);
}

#[test]
fn a_rate_limit_count_above_the_safe_maximum_is_refused_unless_forced() {
    let yaml = |extra: &str| {
        format!(
            r#"name: x
host: shop.example.test
targets: {{ ingress: {{ connect: "127.0.0.1:1" }} }}
checks:
  - name: limit
    rate_limit: {{ path: /login, count: 2000{extra} }}
"#
        )
    };
    let err = cutover::scenario::load_str(&yaml(""), std::path::Path::new("s.yaml"), &|_| None)
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("`count` 2000 is more than 500 requests"),
        "{err}"
    );
    assert!(err.contains("force: true"), "{err}");
    assert!(cutover::scenario::load_str(
        &yaml(", force: true"),
        std::path::Path::new("s.yaml"),
        &|_| None
    )
    .is_ok());
}

const BODY_LIMIT: &str = r#"  - name: upload
    body_limit: { path: /api/upload, size: 1m }
"#;

#[tokio::test]
async fn a_gateway_accepting_an_upload_the_ingress_refuses_with_413_is_a_body_limit_finding() {
    let lab = lab().await;
    lab.switches.ingress_max_body.store(1 << 20, Relaxed);
    let r = check(&scenario(&lab, BODY_LIMIT)).await;
    let f = finding(&r, FindingKind::BodyLimit);
    assert_eq!(f.level, Level::Fail);
    assert!(
        f.message.contains("gateway accepted an upload"),
        "{}",
        f.message
    );
    assert!(f.message.contains("413 from ingress"), "{}", f.message);
    assert!(f.hint.as_deref().unwrap_or("").contains("requestBuffer"));
    let d = result(&r, "upload", "ingress").details_json();
    assert_eq!(d["below"]["status"], 200);
    assert_eq!(d["above"]["status"], 413);
    assert_eq!(d["above"]["origin"], "ingress");
    // The same limit on both sides: no finding; the gateway's 413 is Envoy's.
    lab.switches.gateway_max_body.store(1 << 20, Relaxed);
    let r = check(&scenario(&lab, BODY_LIMIT)).await;
    assert!(kinds(&r, Level::Fail).is_empty(), "{:#?}", r.findings);
    let d = result(&r, "upload", "gateway").details_json();
    assert_eq!(d["above"]["status"], 413);
}

#[tokio::test]
async fn a_gateway_refusing_an_upload_the_ingress_accepts_is_a_body_limit_finding() {
    let lab = lab().await;
    lab.switches.gateway_max_body.store(512 << 10, Relaxed);
    let r = check(&scenario(&lab, BODY_LIMIT)).await;
    let fs: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::BodyLimit)
        .collect();
    assert_eq!(fs.len(), 2, "below and above: {fs:#?}");
    assert!(
        fs[0].message.contains("gateway refused an upload"),
        "{}",
        fs[0].message
    );
    assert!(
        fs[0].message.contains("`Payload Too Large`"),
        "{}",
        fs[0].message
    );
}

#[tokio::test]
async fn a_gateway_timing_out_first_is_a_route_timeout_finding_naming_httproute_timeouts() {
    let lab = lab().await;
    lab.switches.gateway_route_timeout_ms.store(200, Relaxed);
    lab.switches.ingress_route_timeout_ms.store(3_000, Relaxed);
    let checks = r#"  - name: slow report
    route_timeout: { path: "/slow?ms=600", duration: 600ms }
"#;
    let r = check(&scenario(&lab, checks)).await;
    // `duration` is how long the endpoint takes; the probe waits 5 s more.
    let c = r
        .checks
        .iter()
        .find(|c| c.name == "slow report")
        .expect("check");
    assert!(
        c.request.contains("(takes 600ms) for up to 5s 600ms"),
        "{}",
        c.request
    );
    let f = finding(&r, FindingKind::RouteTimeout);
    assert_eq!(f.level, Level::Fail);
    assert!(
        f.message.contains("gateway timed out first"),
        "{}",
        f.message
    );
    assert!(
        f.message
            .contains("504 `upstream request timeout` from gateway"),
        "{}",
        f.message
    );
    assert!(f.message.contains("200"), "{}", f.message);
    assert!(f.hint.as_deref().unwrap_or("").contains("timeouts.request"));
    let d = result(&r, "slow report", "gateway").details_json();
    assert_eq!(d["status"], 504);
    assert_eq!(d["origin"], "gateway");
    // Both wait long enough: no finding.
    lab.switches.gateway_route_timeout_ms.store(3_000, Relaxed);
    let r = check(&scenario(&lab, checks)).await;
    assert!(kinds(&r, Level::Fail).is_empty(), "{:#?}", r.findings);
}

#[tokio::test]
async fn an_ingress_timing_out_first_is_a_route_timeout_finding_too() {
    let lab = lab().await;
    lab.switches.ingress_route_timeout_ms.store(200, Relaxed);
    let r = check(&scenario(
        &lab,
        r#"  - name: slow
    route_timeout: { path: "/slow?ms=600", timeout: 4s }
"#,
    ))
    .await;
    let f = finding(&r, FindingKind::RouteTimeout);
    assert!(
        f.message.contains("gateway waits longer than ingress"),
        "{}",
        f.message
    );
}

const REDIRECT: &str = r#"  - name: login over http
    redirect: { path: /login?next=%2F, method: POST }
"#;

#[tokio::test]
async fn a_301_where_the_ingress_redirects_with_308_fails_for_a_post() {
    let lab = lab().await;
    lab.switches.ssl_redirect.store(true, Relaxed);
    let r = check(&scenario(&lab, REDIRECT)).await;
    let f = finding(&r, FindingKind::Redirect);
    assert_eq!(f.level, Level::Fail);
    assert!(
        f.message
            .contains("301 through gateway and 308 through ingress"),
        "{}",
        f.message
    );
    assert!(
        f.message.contains("repeats the POST through ingress"),
        "{}",
        f.message
    );
    assert!(f.hint.as_deref().unwrap_or("").contains("RequestRedirect"));
    let d = result(&r, "login over http", "gateway").details_json();
    assert_eq!(d["location"], "https://shop.example.test/login?next=%2F");
    // For a GET the same difference only warns.
    let r = check(&scenario(
        &lab,
        r#"  - name: home
    redirect: { path: / }
"#,
    ))
    .await;
    assert_eq!(kinds(&r, Level::Warn), vec![FindingKind::Redirect]);
    assert!(kinds(&r, Level::Fail).is_empty(), "{:#?}", r.findings);
}

#[tokio::test]
async fn the_same_redirect_on_both_sides_is_no_finding_and_a_missing_one_is() {
    let lab = lab().await;
    lab.switches.ssl_redirect.store(true, Relaxed);
    lab.switches.gateway_ssl_redirect_code.store(308, Relaxed);
    let r = check(&scenario(&lab, REDIRECT)).await;
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    // No ssl-redirect anywhere: both answer, neither redirects.
    lab.switches.ssl_redirect.store(false, Relaxed);
    let r = check(&scenario(&lab, REDIRECT)).await;
    assert!(
        r.findings.iter().all(|f| f.kind != FindingKind::Redirect),
        "{:#?}",
        r.findings
    );
}

const FORWARDED: &str = r#"  - name: client address
    forwarded_headers: { echo_path: /echo-headers }
"#;

#[tokio::test]
async fn headers_only_the_ingress_sets_are_a_forwarded_headers_finding() {
    let lab = lab().await;
    let r = check(&scenario(&lab, FORWARDED)).await;
    let f = finding(&r, FindingKind::ForwardedHeaders);
    assert_eq!(f.level, Level::Fail);
    assert!(f.message.contains("x-real-ip"), "{}", f.message);
    assert!(f.message.contains("x-scheme"), "{}", f.message);
    assert!(f.message.contains("breaks silently"), "{}", f.message);
    assert!(f.message.contains("x-forwarded-port"), "{}", f.message);
    let d = result(&r, "client address", "ingress").details_json();
    assert_eq!(d["received"]["x-real-ip"], "127.0.0.1");
    // As ingress-nginx: the client address alone, a 32-hex request id.
    assert_eq!(d["received"]["x-forwarded-for"], "127.0.0.1");
    assert_eq!(
        d["received"]["x-request-id"].as_str().map(str::len),
        Some(32)
    );
    assert_eq!(
        d["received"]["x-forwarded-port"],
        lab.ingress_http.port().to_string()
    );
    // The gateway adds them too: nothing fails.
    lab.switches.gateway_sets_real_ip.store(true, Relaxed);
    let r = check(&scenario(&lab, FORWARDED)).await;
    assert!(kinds(&r, Level::Fail).is_empty(), "{:#?}", r.findings);
}

#[tokio::test]
async fn an_echo_path_that_does_not_echo_is_said_with_advice() {
    let lab = lab().await;
    let r = check(&scenario(
        &lab,
        r#"  - name: not an echo
    forwarded_headers: { echo_path: /api/items }
"#,
    ))
    .await;
    let f = finding(&r, FindingKind::ForwardedHeaders);
    assert!(f.message.contains("echo_path"), "{}", f.message);
}
