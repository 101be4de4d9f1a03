//! `cutover init` end to end (issue 15): manifests in, a scenario out that
//! `validate` accepts and that runs against the lab, whose boundary probes
//! find the lab's path-prefix difference; the generated scenario's golden;
//! bad input named by file and document while the rest is read.

use std::sync::atomic::Ordering::Relaxed;

use crate::support::{bin, lab, root};

fn fixture(name: &str) -> String {
    root()
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_scenario_validates_runs_against_the_lab_and_its_boundary_probe_finds_the_prefix_difference(
) {
    let lab = lab().await;
    lab.switches.gateway_strict_prefix.store(true, Relaxed);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("shop.yaml");
    let (i, g) = (lab.ingress_http.to_string(), lab.gateway_http.to_string());
    let init = std::process::Command::new(bin())
        .args([
            "init",
            "--ingress",
            &fixture("init-lab/ingress.yaml"),
            "--routes",
            &fixture("init-lab/routes.yaml"),
            "--ingress-connect",
            &i,
            "--gateway-connect",
            &g,
            "-o",
        ])
        .arg(&out)
        .output()
        .expect("init runs");
    let stdout = String::from_utf8_lossy(&init.stdout);
    assert!(
        init.status.code().is_some_and(|c| c <= 1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&init.stderr)
    );
    assert!(stdout.contains("configuration-snippet"), "{stdout}");
    let scenario = std::fs::read_to_string(&out).expect("written");
    insta::with_settings!({filters => vec![(r"127\.0\.0\.1:\d+", "[ADDR]")]}, {
        insta::assert_snapshot!("init_lab_scenario", scenario);
    });
    let lint = std::fs::read_to_string(dir.path().join("shop.lint.md")).expect("lint written");
    assert!(lint.contains("configuration-snippet"), "{lint}");
    // What init writes, validate accepts.
    let v = std::process::Command::new(bin())
        .arg("validate")
        .arg(&out)
        .output()
        .expect("validate");
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stderr)
    );
    // And it runs: the boundary probe /apix proves the prefix difference.
    let cwd = dir.path().to_path_buf();
    let check = tokio::task::spawn_blocking(move || {
        std::process::Command::new(bin())
            .args(["check", "shop.yaml", "--out", "out"])
            .current_dir(cwd)
            .output()
    })
    .await
    .expect("join")
    .expect("check");
    assert_eq!(check.status.code(), Some(1));
    let report = crate::support::report_in(dir.path(), "out");
    crate::support::assert_valid_report(&report);
    let findings = report["findings"].as_array().expect("findings");
    let miss: Vec<&serde_json::Value> = findings
        .iter()
        .filter(|f| f["kind"] == "route_miss")
        .collect();
    assert_eq!(miss.len(), 1, "{findings:#?}");
    assert_eq!(
        miss[0]["check"],
        "shop.example.test /apix (boundary of /api)"
    );
    assert_eq!(miss[0]["target"], "gateway");
    // The paths both sides route the same way pass on both.
    let api = report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "shop.example.test /api"))
        .expect("the /api check");
    assert_eq!(api["verdict"], "pass", "{api:#}");
}

#[test]
fn init_refuses_to_overwrite_and_needs_an_ingress() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("s.yaml");
    std::fs::write(&out, "keep me").expect("write");
    let run = |extra: &[&str], input: &str| {
        std::process::Command::new(bin())
            .args([
                "init",
                "--ingress",
                input,
                "--ingress-connect",
                "127.0.0.1:1",
                "--gateway-connect",
                "127.0.0.1:2",
                "-o",
            ])
            .arg(&out)
            .args(extra)
            .output()
            .expect("init")
    };
    let o = run(&[], &fixture("init-lab/ingress.yaml"));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    assert_eq!(std::fs::read_to_string(&out).expect("read"), "keep me");
    // Only HTTPRoutes: nothing to turn into checks.
    let o = run(&["--force"], &fixture("init-lab/routes.yaml"));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no Ingress was read"));
}

#[test]
fn init_reads_kubectl_output_piped_to_stdin() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("s.yaml");
    // `kubectl get ingress,httproute,gateway -A -o yaml`: one List.
    let list = r#"apiVersion: v1
kind: List
items:
- apiVersion: networking.k8s.io/v1
  kind: Ingress
  metadata: { name: shop, namespace: shop }
  spec:
    rules:
    - host: shop.example.test
      http:
        paths:
        - { path: /api, pathType: Prefix, backend: { service: { name: api, port: { number: 80 } } } }
- apiVersion: v1
  kind: Service
  metadata: { name: api, namespace: shop }
"#;
    let mut child = std::process::Command::new(bin())
        .args([
            "init",
            "--ingress",
            "-",
            "--ingress-connect",
            "127.0.0.1:1",
            "--gateway-connect",
            "127.0.0.1:2",
            "-o",
        ])
        .arg(&out)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(list.as_bytes())
        .expect("write");
    let o = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.code().is_some_and(|c| c <= 1), "{stderr}");
    // The Service is skipped with a note naming where it was.
    assert!(
        stderr.contains("<stdin> item 2: note: kind `Service`"),
        "{stderr}"
    );
    let scenario = std::fs::read_to_string(&out).expect("written");
    assert!(
        scenario.contains("name: \"shop.example.test /api\""),
        "{scenario}"
    );
}

#[test]
fn the_fixtures_give_the_golden_scenario_and_lint_report() {
    use cutover::init::{generate, k8s::Manifests, lint, read, report};
    // Relative paths: the report names them as given (tests run in the
    // package root). `broken/` has its own test.
    let inputs: Vec<std::path::PathBuf> = [
        "shop-ingress.yaml",
        "api-ingress.yaml",
        "alb-ingress.yaml",
        "httproutes.yaml",
        "gateways.yaml",
    ]
    .iter()
    .map(|f| std::path::Path::new("tests/fixtures/k8s").join(f))
    .collect();
    let mut m = Manifests::default();
    let problems = read::read(&inputs, &mut std::io::empty(), &mut m);
    assert!(problems.is_empty(), "{problems:?}");
    let g = generate::generate(
        &m,
        &generate::Options {
            ingress_connect: "ingress-nlb.example:80".into(),
            gateway_connect: "gateway-nlb.example:80".into(),
            websocket_paths: vec!["/ws".into()],
            nameservers: vec!["ns-1.awsdns-01.org".into()],
        },
    );
    cutover::scenario::load_str(&g.scenario, std::path::Path::new("shop.yaml"), &|_| None)
        .unwrap_or_else(|e| panic!("the generated scenario validates:\n{e}"));
    insta::assert_snapshot!("init_fixtures_scenario", g.scenario);
    let lints = lint::lint(&m);
    let r = report::Report {
        manifests: &m,
        problems: &problems,
        lints: &lints,
        generated: &g,
        scenario: std::path::Path::new("shop.yaml"),
    };
    insta::assert_snapshot!("init_fixtures_lint_md", r.markdown());
    assert!(r.fails());
}

#[test]
fn grpc_only_ingresses_are_refused_with_advice_and_mixed_ones_get_a_commented_grpc_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let grpc = r#"apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop-grpc
  annotations: { nginx.ingress.kubernetes.io/backend-protocol: GRPC }
spec:
  rules:
  - host: shop.example.test
    http: { paths: [ { path: /cutover.lab.v1.Shop, pathType: Prefix, backend: { service: { name: shop, port: { number: 9090 } } } } ] }
"#;
    let web = r#"apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop-web
spec:
  rules:
  - host: shop.example.test
    http: { paths: [ { path: /api, pathType: Prefix, backend: { service: { name: web, port: { number: 80 } } } } ] }
"#;
    std::fs::write(dir.path().join("grpc.yaml"), grpc).expect("write");
    std::fs::write(dir.path().join("web.yaml"), web).expect("write");
    let args = |inputs: &[&str]| {
        let mut a = vec!["init"];
        for i in inputs {
            a.extend(["--ingress", i]);
        }
        a.extend([
            "--ingress-connect",
            "127.0.0.1:1",
            "--gateway-connect",
            "127.0.0.1:2",
            "-o",
            "s.yaml",
            "--force",
        ]);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        crate::support::run_bin(dir.path(), &a)
    };
    let out = run(args(&["grpc.yaml"]));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs the service's descriptor set"), "{err}");
    assert!(!dir.path().join("s.yaml").exists());
    let out = run(args(&["grpc.yaml", "web.yaml"]));
    // Written (1: the lint has something to say about the annotation).
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = crate::support::read(&dir.path().join("s.yaml"));
    assert!(
        s.contains("#   grpc: { method: package.Service/Method"),
        "{s}"
    );
    assert!(s.contains("http: { path: \"/api\" }"), "{s}");
}
