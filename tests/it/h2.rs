//! HTTP/2 on HTTP checks (issue 18): ALPN `h2` against the lab's TLS
//! listeners, h2c with prior knowledge on its plain ones, the version each
//! answer came over in the report, a target that does not offer h2 shown,
//! and parity and expectations judged the same over h2.

use std::sync::atomic::Ordering::Relaxed;

use cutover::probe::Protocol;
use cutover::report::model::{FindingKind, Level, Verdict};

use crate::support::{check, lab, plan, result};

fn ca_file(dir: &tempfile::TempDir, pem: &str) -> String {
    let p = dir.path().join("ca.pem");
    std::fs::write(&p, pem).expect("write CA");
    p.display().to_string()
}

const TLS: &str = r#"
name: h2
host: shop.example.test
targets:
  ingress: { connect: "${I}", scheme: https, tls: { ca: "${CA}" } }
  gateway: { connect: "${G}", scheme: https, tls: { ca: "${CA}" } }
checks:
  - name: auto
    http: { path: /api/items }
    expect: { status: 200, json: { /items/0/name: widget } }
  - name: h1
    http: { path: /api/items, version: h1 }
  - name: h2
    http: { path: /api/items, version: h2 }
"#;

#[tokio::test]
async fn alpn_negotiates_h2_with_the_lab_and_h1_when_asked() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let p = plan(
        TLS,
        &[
            ("I", lab.ingress_https.to_string()),
            ("G", lab.gateway_https.to_string()),
            ("CA", ca_file(&dir, &lab.ca_pem)),
        ],
    );
    let r = check(&p).await;
    for (c, want) in [
        ("auto", Protocol::H2),
        ("h1", Protocol::Http11),
        ("h2", Protocol::H2),
    ] {
        for t in ["ingress", "gateway"] {
            let res = result(&r, c, t);
            assert_eq!(res.http_version, Some(want), "{c} [{t}]");
            assert_eq!(res.verdict, Verdict::Pass, "{c} [{t}]: {:?}", res.failures);
        }
    }
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}

#[tokio::test]
async fn a_gateway_without_h2_is_shown_and_fails_a_check_that_asks_for_h2() {
    let lab = lab().await;
    lab.switches.gateway_no_h2.store(true, Relaxed);
    let dir = tempfile::tempdir().expect("tempdir");
    let p = plan(
        TLS,
        &[
            ("I", lab.ingress_https.to_string()),
            ("G", lab.gateway_https.to_string()),
            ("CA", ca_file(&dir, &lab.ca_pem)),
        ],
    );
    let r = check(&p).await;
    assert_eq!(
        result(&r, "auto", "gateway").http_version,
        Some(Protocol::Http11)
    );
    let shown: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::HttpVersion)
        .collect();
    assert_eq!(
        shown.len(),
        1,
        "said once, for the auto check: {:#?}",
        r.findings
    );
    assert_eq!(shown[0].level, Level::Warn);
    assert_eq!(shown[0].check.as_deref(), Some("auto"));
    assert!(
        shown[0]
            .message
            .contains("answered over http/1.1 where ingress answered over h2"),
        "{}",
        shown[0].message
    );
    // The auto check still passes: a version difference is not a failure.
    assert_eq!(result(&r, "auto", "gateway").verdict, Verdict::Pass);
    let h2 = result(&r, "h2", "gateway");
    assert_eq!(h2.verdict, Verdict::Fail);
    assert!(
        h2.failures
            .iter()
            .any(|f| f.contains("answered over http/1.1 where h2 was asked for")),
        "{:?}",
        h2.failures
    );
}

#[tokio::test]
async fn h2c_with_prior_knowledge_and_parity_over_h2() {
    let lab = lab().await;
    // Every gateway answer of /api/prices has a wrong price.
    lab.switches.gateway_price_every.store(1, Relaxed);
    let p = plan(
        r#"
name: h2c
host: shop.example.test
targets:
  ingress: { connect: "${I}" }
  gateway: { connect: "${G}" }
checks:
  - name: prices
    http: { path: /api/prices, version: h2c }
    parity: { body: json }
  - name: plain
    http: { path: /api/items }
"#,
        &[
            ("I", lab.ingress_http.to_string()),
            ("G", lab.gateway_http.to_string()),
        ],
    );
    let r = check(&p).await;
    for t in ["ingress", "gateway"] {
        assert_eq!(
            result(&r, "prices", t).http_version,
            Some(Protocol::H2),
            "{t}"
        );
        // Plain http under auto stays http/1.1.
        assert_eq!(
            result(&r, "plain", t).http_version,
            Some(Protocol::Http11),
            "{t}"
        );
    }
    let parity: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Parity && f.check.as_deref() == Some("prices"))
        .collect();
    assert_eq!(parity.len(), 1, "{:#?}", r.findings);
    assert_eq!(result(&r, "prices", "gateway").verdict, Verdict::Fail);
}

#[test]
fn an_unknown_version_is_refused_with_its_position() {
    let e = crate::support::plan_errors(
        r#"
name: v
host: shop.example.test
targets:
  ingress: { connect: "127.0.0.1:1" }
checks:
  - name: x
    http: { path: /, version: h3 }
"#,
    );
    assert!(e.contains("test.yaml:8:31"), "{e}");
    assert!(e.contains("unknown HTTP version `h3`"), "{e}");
}

#[tokio::test]
async fn a_plain_http_baseline_beside_an_https_target_is_no_version_difference() {
    // The false alarm the demo showed: ingress over http (always http/1.1),
    // gateway over https (h2 by ALPN) is a difference of schemes, not of paths.
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let p = plan(
        r#"
name: mixed
host: shop.example.test
targets:
  ingress: { connect: "${I}" }
  gateway: { connect: "${G}", scheme: https, tls: { ca: "${CA}" } }
checks:
  - name: items
    http: { path: /api/items }
"#,
        &[
            ("I", lab.ingress_http.to_string()),
            ("G", lab.gateway_https.to_string()),
            ("CA", ca_file(&dir, &lab.ca_pem)),
        ],
    );
    let r = check(&p).await;
    assert_eq!(
        result(&r, "items", "gateway").http_version,
        Some(Protocol::H2)
    );
    assert_eq!(
        result(&r, "items", "ingress").http_version,
        Some(Protocol::Http11)
    );
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}
