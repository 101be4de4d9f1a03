//! Every scenario users copy is valid, and `demo` runs end to end.

use crate::support::{assert_valid_report, read, root, run_bin};

#[test]
fn every_example_scenario_validates() {
    let mut seen = 0;
    for entry in std::fs::read_dir(root().join("scenarios"))
        .expect("scenarios dir")
        .filter_map(Result::ok)
    {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        seen += 1;
        let rel = path
            .strip_prefix(root())
            .expect("under root")
            .to_str()
            .expect("utf-8")
            .to_owned();
        let out = std::process::Command::new(crate::support::bin())
            .args(["validate", &rel])
            .current_dir(root())
            // Values the examples read from the environment.
            .env("SHOP_TOKEN", "example-token")
            .env("LAB_INGRESS", "127.0.0.1:8080")
            .env("LAB_GATEWAY", "127.0.0.1:8081")
            .env("LAB_INGRESS_TLS", "127.0.0.1:8443")
            .env("LAB_GATEWAY_TLS", "127.0.0.1:8444")
            .env("LAB_CA", root().join("tests/fixtures/ca.pem"))
            .env("LAB_DNS", "127.0.0.1:5353")
            .env("LAB_GRPC_DESCRIPTOR", root().join("src/lab/grpc/shop.pb"))
            .env("CUTOVER", crate::support::bin())
            .output()
            .expect("binary runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{rel}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(seen >= 2, "demo and at least one real-migration example");
}

#[test]
fn demo_runs_the_lab_and_reports_the_known_differences() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The demo's load lasts 15 s; the test fits it into 4 s (the rollout comes at 1.6 s).
    let out = run_bin(dir.path(), &["demo", "--out", "demo", "--duration", "4s"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = crate::support::report_in(dir.path(), "demo");
    assert_valid_report(&report);
    let findings = report["findings"].as_array().expect("findings");
    let has = |kind: &str, text: &str| {
        findings
            .iter()
            .any(|f| f["kind"] == kind && f["message"].as_str().is_some_and(|m| m.contains(text)))
    };
    assert!(
        has(
            "expectation",
            "status 301 where 308 was expected; ingress answered 308"
        ),
        "{findings:#?}"
    );
    assert!(
        has("hostname_mismatch", "www.shop.example.test"),
        "{findings:#?}"
    );
    // The gRPC service the gateway has no GRPCRoute for.
    assert!(
        has(
            "route_miss",
            "the gateway answered UNIMPLEMENTED (12) itself"
        ),
        "{findings:#?}"
    );
    // Said once: the cause carries the failed status and the baseline's answer.
    assert!(
        has(
            "route_miss",
            "/apix: no route matched this path, though Host `shop.example.test` is routed: status 404 where 200 was expected; ingress answered 200"
        ),
        "{findings:#?}"
    );
    assert!(has("websocket_refused", "403"), "{findings:#?}");
    assert!(has("dns_private_answer", "10.96.0.12"), "{findings:#?}");
    // The rollout: a gateway-only 503 spike after it, with Envoy's pooled-connection hint.
    let spike = findings
        .iter()
        .find(|f| f["kind"] == "spike_503")
        .unwrap_or_else(|| panic!("no spike: {findings:#?}"));
    assert_eq!(spike["target"], "gateway");
    assert!(
        spike["message"]
            .as_str()
            .is_some_and(|m| m.contains("after `rollout api`")),
        "{spike}"
    );
    assert!(spike["hint"]
        .as_str()
        .is_some_and(|h| h.contains("idleTimeout")));
    assert!(!findings
        .iter()
        .any(|f| f["kind"] == "spike_503" && f["target"] == "ingress"));
    assert_eq!(
        report["load"]["events"][0]["exit_code"], 0,
        "{}",
        report["load"]["events"]
    );
    assert!(
        has(
            "parity",
            "preflight Access-Control-Allow-Credentials differs"
        ),
        "{findings:#?}"
    );
    assert!(
        !has("hostname_mismatch", "/apix"),
        "a path miss is not a hostname mismatch"
    );
    assert!(stdout.contains("summary.md"));
    // The load section: both loaded targets, side by side, with histograms.
    let load = &report["load"];
    let targets: Vec<&str> = load["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| t["target"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(targets, ["ingress", "gateway"]);
    for t in load["targets"].as_array().expect("targets") {
        assert!(t["totals"]["requests"].as_u64().unwrap_or(0) > 0, "{t}");
        assert!(t["checks"][0]["series"]
            .as_array()
            .is_some_and(|s| !s.is_empty()));
    }
    assert!(stdout.contains("LOAD"), "{stdout}");
    // The demo's token is a literal credential header: redacted.
    assert!(!read(&dir.path().join("demo/report.json")).contains("demo-token-not-a-secret"));
}
