//! Hostname variants end to end against the embedded lab (issue 12): a Host
//! written with a trailing dot, in upper case or with a port is sent
//! verbatim, routed by the ingress like the bare name, and a gateway that
//! does not route it is a `hostname_mismatch` with that variant's remedy,
//! not the path-prefix hint. A 404 both targets give is no gateway finding.

use std::sync::atomic::Ordering::Relaxed;

use cutover::analyze::{FindingKind, Level};
use cutover::lab::Lab;
use cutover::report::Report;

use crate::support::{check, lab, plan, result, DetailsJson};

fn scenario(lab: &Lab, checks: &str) -> cutover::scenario::Plan {
    plan(
        &format!(
            r#"
name: hostnames
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

fn failing(r: &Report) -> Vec<(FindingKind, Option<String>, String)> {
    r.findings
        .iter()
        .filter(|f| f.level == Level::Fail)
        .map(|f| (f.kind, f.target.clone(), f.message.clone()))
        .collect()
}

const VARIANTS: &str = r#"  - name: host variants
    hostnames: { path: /api/items }
"#;

#[tokio::test]
async fn a_trailing_dot_the_gateway_does_not_route_is_a_hostname_mismatch_with_its_own_remedy() {
    let lab = lab().await;
    let before = lab.counters.requests.load(Relaxed);
    let r = check(&scenario(&lab, VARIANTS)).await;
    // Four requests per target: as written, trailing dot, upper case, port.
    assert_eq!(lab.counters.requests.load(Relaxed) - before, 8);
    let fails = failing(&r);
    assert_eq!(fails.len(), 1, "{:#?}", r.findings);
    let f = r
        .findings
        .iter()
        .find(|f| f.level == Level::Fail)
        .expect("a failure");
    assert_eq!(f.kind, FindingKind::HostnameMismatch);
    assert_eq!(f.target.as_deref(), Some("gateway"));
    assert!(
        f.message
            .contains("no route for Host `shop.example.test.` (a trailing dot)"),
        "{}",
        f.message
    );
    assert!(f.message.contains("404 from gateway"), "{}", f.message);
    assert!(f.message.contains("200 from app"), "{}", f.message);
    let hint = f.hint.as_deref().unwrap_or("");
    assert!(hint.contains("strip_trailing_host_dot"), "{hint}");
    assert!(!hint.contains("PathPrefix"), "{hint}");
    // The answers per variant, with the Host that was sent.
    let d = result(&r, "host variants", "gateway").details_json();
    let hosts: Vec<&str> = d["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .map(|v| v["host"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        hosts,
        [
            "shop.example.test",
            "shop.example.test.",
            "SHOP.EXAMPLE.TEST",
            "shop.example.test:80"
        ]
    );
    assert_eq!(d["variants"][1]["variant"], "trailing_dot");
    assert_eq!(d["variants"][1]["answer"]["status"], 404);
    assert_eq!(d["variants"][2]["answer"]["status"], 200);
    let ingress = result(&r, "host variants", "ingress").details_json();
    assert_eq!(ingress["variants"][1]["answer"]["status"], 200);
}

#[tokio::test]
async fn a_gateway_that_strips_the_dot_and_ignores_the_port_is_no_finding_and_one_that_matches_the_port_is(
) {
    let lab = lab().await;
    lab.switches.gateway_strips_host_dot.store(true, Relaxed);
    let r = check(&scenario(&lab, VARIANTS)).await;
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    lab.switches.gateway_matches_host_port.store(true, Relaxed);
    let r = check(&scenario(&lab, VARIANTS)).await;
    let fails = failing(&r);
    assert_eq!(fails.len(), 1, "{:#?}", r.findings);
    assert!(
        fails[0]
            .2
            .contains("`shop.example.test:80` (an explicit port)"),
        "{}",
        fails[0].2
    );
    let f = r
        .findings
        .iter()
        .find(|f| f.level == Level::Fail)
        .expect("a failure");
    assert!(f
        .hint
        .as_deref()
        .unwrap_or("")
        .contains("ignore_port_in_host_matching"));
}

#[tokio::test]
async fn a_404_both_targets_give_is_no_gateway_finding() {
    let lab = lab().await;
    // The production host itself unknown on both sides.
    let r = check(&scenario(
        &lab,
        r#"  - name: unknown host
    hostnames: { host: other.example.test, path: /api/items, variants: [trailing_dot] }
  - name: unknown host over http
    http: { host: other.example.test., path: /api/items }
"#,
    ))
    .await;
    assert!(
        r.findings
            .iter()
            .all(|f| f.target.as_deref() != Some("gateway")
                || f.level != Level::Fail
                || f.kind == FindingKind::Expectation),
        "{:#?}",
        r.findings
    );
    let inconclusive: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.level == Level::Inconclusive)
        .collect();
    assert_eq!(inconclusive.len(), 1, "{:#?}", r.findings);
    assert!(inconclusive[0].message.contains("neither target routes"));
    // The plain check's 404 is an expectation failure on both targets, and
    // no hostname or route-miss cause is blamed on the gateway.
    assert!(r.findings.iter().all(|f| !matches!(
        f.kind,
        FindingKind::RouteMiss | FindingKind::HostnameMismatch
    ) || f.level == Level::Inconclusive));
}

#[tokio::test]
async fn an_http_check_sends_its_host_verbatim_and_a_trailing_dot_miss_gets_the_dot_remedy() {
    let lab = lab().await;
    let r = check(&scenario(
        &lab,
        r#"  - name: fqdn echo
    targets: [ingress]
    http: { host: SHOP.Example.test., path: /echo-headers }
    expect: { status: 200, body_contains: '"host":"SHOP.Example.test."' }
  - name: fqdn
    http: { host: shop.example.test., path: /api/items }
    expect: { status: 200 }
  - name: bare
    http: { path: /api/items }
    expect: { status: 200 }
"#,
    ))
    .await;
    let fails = failing(&r);
    assert_eq!(fails.len(), 1, "{:#?}", r.findings);
    let f = r
        .findings
        .iter()
        .find(|f| f.level == Level::Fail)
        .expect("a failure");
    assert_eq!(f.kind, FindingKind::HostnameMismatch);
    assert_eq!(f.check.as_deref(), Some("fqdn"));
    let hint = f.hint.as_deref().unwrap_or("");
    assert!(hint.contains("trailing dot"), "{hint}");
    assert!(!hint.contains("PathPrefix"), "{hint}");
}

#[test]
fn hostname_variants_are_validated_with_positions() {
    let errors = crate::support::plan_errors(
        r#"
name: bad
host: shop.example.test:8443
targets:
  ingress: { connect: "127.0.0.1:1" }
  gateway: { connect: "127.0.0.1:2" }
checks:
  - name: v
    hostnames: { variants: [trailing_dot, lower_case, trailing_dot] }
  - name: e
    hostnames: { variants: [] }
  - name: port
    http: { host: "shop.example.test:99999" }
"#,
    );
    for want in [
        "test.yaml:3:7: the production host `shop.example.test:8443` has a port",
        "test.yaml:9:43: unknown variant `lower_case`",
        "variant `trailing_dot` is listed twice",
        "`variants` is empty",
        "invalid port in host `shop.example.test:99999`",
    ] {
        assert!(errors.contains(want), "missing `{want}` in:\n{errors}");
    }
}
