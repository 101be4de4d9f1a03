//! HTTP checks end to end against the embedded lab: Host and SNI, TLS trust,
//! expectations, parity, origin classification, body caps, secrets, and
//! unreachable targets ending as classified results.

use std::sync::atomic::Ordering;

use cutover::probe::{ErrorKind, Origin};
use cutover::report::Verdict;

use crate::support::{check, lab, plan, refused_addr, result, Silent};

fn ca_file(dir: &tempfile::TempDir, pem: &str) -> String {
    let p = dir.path().join("ca.pem");
    std::fs::write(&p, pem).expect("write CA");
    p.display().to_string()
}

#[tokio::test]
async fn host_header_and_sni_reach_the_app_unchanged() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let p = plan(
        r#"
name: host and sni
host: shop.example.test
targets:
  ingress: { connect: "${I}", scheme: http }
  gateway: { connect: "${G}", scheme: https, tls: { ca: "${CA}" } }
checks:
  - name: echo
    http: { path: /echo-headers }
    expect: { status: 200, json: { /host: shop.example.test } }
  - name: sni
    targets: [gateway]
    http: { path: /echo-headers }
    expect: { json: { /sni: shop.example.test } }
  - name: other host
    targets: [ingress]
    http: { path: /echo-headers, host: www.shop.example.test }
    expect: { json: { /host: www.shop.example.test } }
"#,
        &[
            ("I", lab.ingress_http.to_string()),
            ("G", lab.gateway_https.to_string()),
            ("CA", ca_file(&dir, &lab.ca_pem)),
        ],
    );
    let r = check(&p).await;
    for c in &r.checks {
        for res in &c.results {
            assert_eq!(
                res.verdict,
                Verdict::Pass,
                "{} [{}]: {:?}",
                c.name,
                res.target,
                res.failures
            );
        }
    }
    // The URL names the production host, never the connect address.
    assert_eq!(
        result(&r, "sni", "gateway").url,
        "https://shop.example.test/echo-headers"
    );
}

#[tokio::test]
async fn a_wrong_ca_is_a_tls_error_not_a_panic() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let other = rcgen::generate_simple_self_signed(vec!["shop.example.test".into()]).expect("cert");
    let p = plan(
        r#"
host: shop.example.test
targets:
  gateway: { connect: "${G}", scheme: https, tls: { ca: "${CA}" } }
checks:
  - name: items
    http: { path: /api/items }
"#,
        &[
            ("G", lab.gateway_https.to_string()),
            ("CA", ca_file(&dir, &other.cert.pem())),
        ],
    );
    let r = check(&p).await;
    let res = result(&r, "items", "gateway");
    assert_eq!(res.verdict, Verdict::Error);
    assert_eq!(
        res.error.as_ref().map(|e| e.kind),
        Some(ErrorKind::Tls),
        "{res:?}"
    );
    assert_eq!(r.verdict, Verdict::Fail);
}

const EXPECTATIONS: &str = r#"
host: shop.example.test
targets:
  ingress: { connect: "${I}" }
  gateway: { connect: "${G}" }
checks:
  - name: all kinds
    http: { path: /api/items }
    expect:
      status: [200, 204]
      headers:
        content-type: application/json
        x-app: { contains: la }
        server: { regex: "^(nginx|envoy)$" }
        x-missing: { absent: true }
      body_contains: [widget, gadget]
      json: { /items/1/name: gadget, /items/0/id: 1 }
      max_latency: 5s
  - name: class
    http: { path: /status/201 }
    expect: { status: 2xx }
"#;

#[tokio::test]
async fn every_expectation_kind_passes_on_a_matching_response() {
    let lab = lab().await;
    let p = plan(
        EXPECTATIONS,
        &[
            ("I", lab.ingress_http.to_string()),
            ("G", lab.gateway_http.to_string()),
        ],
    );
    let r = check(&p).await;
    assert_eq!(r.verdict, Verdict::Pass, "{:#?}", r.findings);
    assert!(r.findings.is_empty());
}

#[tokio::test]
async fn every_expectation_kind_fails_with_a_sentence() {
    let lab = lab().await;
    let failing = EXPECTATIONS
        .replace("[200, 204]", "[201, 3xx]")
        .replace("application/json", "text/html")
        .replace("{ contains: la }", "{ contains: nope }")
        .replace("^(nginx|envoy)$", "^apache$")
        .replace(
            "x-missing: { absent: true }",
            "x-envoy-upstream-service-time: { absent: true }",
        )
        .replace("[widget, gadget]", "[sprocket]")
        .replace("/items/1/name: gadget", "/items/1/name: sprocket")
        .replace("max_latency: 5s", "max_latency: 1us")
        .replace("status: 2xx", "status: 4xx");
    let p = plan(
        &failing,
        &[
            ("I", lab.ingress_http.to_string()),
            ("G", lab.gateway_http.to_string()),
        ],
    );
    let r = check(&p).await;
    let f = &result(&r, "all kinds", "gateway").failures;
    let has = |s: &str| {
        assert!(
            f.iter().any(|x| x.contains(s)),
            "no failure containing {s:?} in {f:#?}"
        )
    };
    has("status 200 where 201 or 3xx was expected");
    has("header `content-type` is `application/json` where `text/html` was expected");
    has("which does not contain `nope`");
    has("which does not match /^apache$/");
    has("header `x-envoy-upstream-service-time` is `");
    has("where none was expected");
    has("the body does not contain `sprocket`");
    has("JSON `/items/1/name` is \"gadget\" where \"sprocket\" was expected");
    has("exceeds the maximum of");
    assert_eq!(
        result(&r, "class", "ingress").failures,
        ["status 201 where 4xx was expected"]
    );
    assert_eq!(r.verdict, Verdict::Fail);
}

#[tokio::test]
async fn parity_differences_fail_the_new_path_and_name_both_values() {
    let lab = lab().await;
    lab.switches
        .gateway_redirect_301
        .store(true, Ordering::Relaxed);
    let p = plan(
        r#"
host: shop.example.test
targets:
  ingress: { connect: "${I}" }
  gateway: { connect: "${G}" }
checks:
  - name: redirect
    http: { path: /old }
    parity: [status, "header:location"]
  - name: items
    http: { path: /api/items }
    parity: { status: true, headers: [content-type], body: json }
"#,
        &[
            ("I", lab.ingress_http.to_string()),
            ("G", lab.gateway_http.to_string()),
        ],
    );
    let r = check(&p).await;
    assert_eq!(result(&r, "redirect", "ingress").verdict, Verdict::Pass);
    let gw = result(&r, "redirect", "gateway");
    assert_eq!(gw.verdict, Verdict::Fail);
    assert_eq!(gw.failures, ["status differs: ingress 308, gateway 301"]);
    assert!(r
        .findings
        .iter()
        .any(|f| f.kind.as_str() == "parity"
            && f.message == "status differs: ingress 308, gateway 301"));
    assert_eq!(result(&r, "items", "gateway").verdict, Verdict::Pass);
}

#[tokio::test]
async fn proxy_generated_errors_are_attributed_to_their_path() {
    let lab = lab().await;
    let p = plan(
        r#"
host: shop.example.test
targets:
  ingress: { connect: "${I}" }
  gateway: { connect: "${G}" }
checks:
  - name: items
    http: { path: /api/items }
  - name: www
    http: { path: /api/items, host: www.shop.example.test }
  - name: app error
    http: { path: /status/500 }
    expect: { status: 500 }
"#,
        &[
            ("I", lab.ingress_http.to_string()),
            ("G", lab.gateway_http.to_string()),
        ],
    );
    // Hostname mismatch: the gateway's HTTPRoute lacks www; the ingress routes it.
    let r = check(&p).await;
    let www = result(&r, "www", "gateway");
    assert_eq!((www.status, www.origin), (Some(404), Some(Origin::Gateway)));
    assert_eq!(result(&r, "www", "ingress").status, Some(200));
    assert!(r
        .findings
        .iter()
        .any(|f| f.kind.as_str() == "hostname_mismatch"
            && f.target.as_deref() == Some("gateway")
            && f.hint
                .as_deref()
                .is_some_and(|h| h.contains("spec.hostnames"))));
    for t in ["ingress", "gateway"] {
        assert_eq!(result(&r, "app error", t).origin, Some(Origin::App), "{t}");
        assert_eq!(result(&r, "items", t).origin, Some(Origin::App), "{t}");
    }

    // The app has no endpoints: each proxy answers 503 itself, in its own way.
    lab.switches.app_down.store(true, Ordering::Relaxed);
    let r = check(&p).await;
    let (i, g) = (
        result(&r, "items", "ingress"),
        result(&r, "items", "gateway"),
    );
    assert_eq!((i.status, i.origin), (Some(503), Some(Origin::Ingress)));
    assert_eq!((g.status, g.origin), (Some(503), Some(Origin::Gateway)));
    assert!(g
        .origin_reason
        .as_deref()
        .is_some_and(|r| r.contains("no healthy upstream")));
    assert!(r
        .findings
        .iter()
        .any(|f| f.kind.as_str() == "no_healthy_upstream"));
}

#[tokio::test]
async fn large_bodies_are_counted_past_the_cap_and_compared_by_hash() {
    let lab = lab().await;
    let p = plan(
        r#"
host: shop.example.test
defaults: { body_cap: 64k }
targets:
  ingress: { connect: "${I}" }
  gateway: { connect: "${G}" }
checks:
  - name: big
    http: { path: "/big?bytes=3000000" }
    parity: [status, body]
"#,
        &[
            ("I", lab.ingress_http.to_string()),
            ("G", lab.gateway_http.to_string()),
        ],
    );
    let r = check(&p).await;
    for t in ["ingress", "gateway"] {
        let res = result(&r, "big", t);
        assert_eq!(res.body_bytes, Some(3_000_000), "{t}");
        assert!(res.body_truncated, "{t}");
        assert_eq!(res.verdict, Verdict::Pass, "{t}: {:?}", res.failures);
    }
}

#[tokio::test]
async fn secrets_never_reach_the_report() {
    let lab = lab().await;
    let token = "s3cr3t-t0ken-value";
    let p = plan(
        r#"
host: shop.example.test
defaults: { headers: { authorization: "Bearer ${TOKEN}" } }
targets:
  ingress: { connect: "${I}" }
checks:
  - name: echo
    http: { path: /echo-headers }
    expect: { json: { /headers/authorization: wrong } }
"#,
        &[
            ("I", lab.ingress_http.to_string()),
            ("TOKEN", token.to_string()),
        ],
    );
    let r = check(&p).await;
    let text = serde_json::to_string(&r).expect("json");
    assert!(!text.contains(token), "the token leaked into the report");
    assert!(
        text.contains("[redacted]"),
        "the failure quoting the header is still reported"
    );
    // The address came through ${I} but is no secret: it stays readable.
    assert!(text.contains(&lab.ingress_http.to_string()));
}

#[tokio::test]
async fn refused_and_silent_targets_are_classified_results() {
    let silent = Silent::start();
    let p = plan(
        r#"
host: shop.example.test
defaults: { timeout: 300ms }
targets:
  ingress: { connect: "${R}" }
  gateway: { connect: "${S}" }
checks:
  - name: items
    http: { path: /api/items }
"#,
        &[
            ("R", refused_addr().to_string()),
            ("S", silent.addr.to_string()),
        ],
    );
    let r = check(&p).await;
    let refused = result(&r, "items", "ingress");
    assert_eq!(
        refused.error.as_ref().map(|e| e.kind),
        Some(ErrorKind::ConnectRefused),
        "{refused:?}"
    );
    let timeout = result(&r, "items", "gateway");
    assert_eq!(
        timeout.error.as_ref().map(|e| e.kind),
        Some(ErrorKind::Timeout),
        "{timeout:?}"
    );
    assert!(
        silent.accepted() >= 1,
        "the silent server saw the connection"
    );
    assert_eq!(r.verdict, Verdict::Fail);
}

#[tokio::test]
async fn request_bodies_queries_redirects_and_hostname_connects() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("payload.json"), r#"{"name":"sprocket"}"#).expect("payload");
    let yaml = r#"
host: shop.example.test
targets:
  ingress: { connect: "localhost:${PORT}", role: ingress }
checks:
  - name: post file
    http: { method: post, path: /echo-headers, query: { q: "a b", page: "2" }, body_file: payload.json }
    expect: { json: { /method: POST, /body_len: 19, /query: "q=a+b&page=2" } }
  - name: post json
    http: { method: PUT, path: /echo-headers, json: { a: [1, 2] } }
    expect: { json: { /body_len: 11, /headers/content-type: application/json } }
  - name: redirect kept
    http: { path: /old }
    expect: { status: 308 }
  - name: redirect followed
    http: { path: /old, follow_redirects: true }
    expect: { status: 200, json: { /items/0/id: 1 } }
"#;
    let path = dir.path().join("s.yaml");
    std::fs::write(&path, yaml).expect("scenario");
    let port = lab.ingress_http.port().to_string();
    let p = cutover::scenario::load_str(yaml, &path, &|k| (k == "PORT").then(|| port.clone()))
        .expect("valid");
    let r = check(&p).await;
    for c in &r.checks {
        assert_eq!(
            c.verdict,
            Verdict::Pass,
            "{}: {:?}",
            c.name,
            c.results[0].failures
        );
    }
}
