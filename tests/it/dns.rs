//! Weighted DNS against the lab's authoritative responder: the split passes
//! when the weights are right and fails when they are not; weight-0 targets,
//! unknown and private answers, long TTLs, NXDOMAIN, SERVFAIL, timeouts and
//! the TCP retry after a truncated answer. The responder's picks come from a
//! fixed seed, so each split is the same every run.

use std::net::IpAddr;
use std::sync::atomic::Ordering;

use cutover::report::{Report, Verdict};

use crate::support::{check, lab, plan, DetailsJson as _};

fn scenario(expect: &str, extra: &str) -> String {
    format!(
        r#"
host: shop.example.test
targets:
  ingress: {{ connect: "127.0.0.1:1", dns_answers: [192.0.2.10] }}
  gateway: {{ connect: "127.0.0.1:2", dns_answers: [192.0.2.20] }}
checks:
  - name: weighted dns
    dns: {{ nameservers: ["${{NS}}"], samples: 1000, rate: 20000/s{extra} }}
    expect: {{ {expect} }}
"#
    )
}

async fn run(lab: &cutover::lab::Lab, expect: &str, extra: &str) -> Report {
    check(&plan(
        &scenario(expect, extra),
        &[("NS", lab.dns.to_string())],
    ))
    .await
}

fn kinds(r: &Report) -> Vec<&str> {
    r.findings.iter().map(|f| f.kind.as_str()).collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

#[tokio::test]
async fn the_right_split_passes_run_after_run() {
    let lab = lab().await;
    for seed in [1, 2, 3] {
        lab.dns_switches.reseed(seed);
        let r = run(&lab, "weights: { ingress: 90, gateway: 10 }", "").await;
        assert_eq!(
            r.checks[0].verdict,
            Verdict::Pass,
            "seed {seed}: {:#?}",
            r.findings
        );
        let d = r.checks[0].results[0].details_json();
        assert_eq!(d["answered"], 1000);
        assert!(d["p_value"].as_f64().is_some_and(|p| p > 0.001));
    }
}

#[tokio::test]
async fn ninety_ten_served_as_eighty_twenty_fails() {
    let lab = lab().await;
    lab.dns_switches
        .set_records(vec![(80, ip("192.0.2.10")), (20, ip("192.0.2.20"))]);
    let r = run(&lab, "weights: { ingress: 90, gateway: 10 }", "").await;
    assert_eq!(r.checks[0].verdict, Verdict::Fail);
    let f = r
        .findings
        .iter()
        .find(|f| f.kind.as_str() == "dns_weights")
        .expect("a weights finding");
    assert!(f.message.contains("expected 10.0 %"), "{}", f.message);
}

#[tokio::test]
async fn a_weight_zero_target_that_answers_is_a_finding() {
    let lab = lab().await;
    lab.dns_switches
        .set_records(vec![(98, ip("192.0.2.10")), (2, ip("192.0.2.20"))]);
    let r = run(&lab, "weights: { ingress: 100, gateway: 0 }", "").await;
    assert!(kinds(&r).contains(&"dns_weight_zero"), "{:#?}", r.findings);
}

#[tokio::test]
async fn leaked_private_and_unknown_answers_are_findings_unless_allowed() {
    let lab = lab().await;
    lab.dns_switches.set_records(vec![
        (90, ip("192.0.2.10")),
        (10, ip("192.0.2.20")),
        (3, ip("10.96.0.12")),
    ]);
    let r = run(&lab, "weights: { ingress: 90, gateway: 10 }", "").await;
    assert!(
        kinds(&r).contains(&"dns_private_answer"),
        "{:#?}",
        r.findings
    );
    assert!(r
        .findings
        .iter()
        .any(|f| f.kind.as_str() == "dns_unknown_answer" && f.message.contains("10.96.0.12")));
    let r = run(
        &lab,
        "weights: { ingress: 90, gateway: 10 }",
        ", allow_private: [10.96.0.0/12]",
    )
    .await;
    assert!(
        !kinds(&r).contains(&"dns_private_answer"),
        "{:#?}",
        r.findings
    );
}

#[tokio::test]
async fn a_ttl_above_the_maximum_is_a_finding() {
    let lab = lab().await;
    lab.dns_switches.ttl.store(300, Ordering::Relaxed);
    let r = run(
        &lab,
        "weights: { ingress: 90, gateway: 10 }, max_ttl: 60s",
        "",
    )
    .await;
    let f = r
        .findings
        .iter()
        .find(|f| f.kind.as_str() == "dns_ttl")
        .expect("ttl finding");
    assert!(
        f.message.contains("TTL 300 s exceeds the maximum of 60 s"),
        "{}",
        f.message
    );
}

#[tokio::test]
async fn nxdomain_servfail_and_timeouts_are_classified() {
    let lab = lab().await;
    let yaml = scenario("weights: { ingress: 90, gateway: 10 }", ", samples: 5")
        .replace("samples: 1000, ", "");
    let other = yaml.replace("nameservers:", "name: other.example.test, nameservers:");
    let r = check(&plan(&other, &[("NS", lab.dns.to_string())])).await;
    assert_eq!(r.checks[0].verdict, Verdict::Error);
    assert!(
        r.findings
            .iter()
            .any(|f| f.kind.as_str() == "dns_errors" && f.message.contains("nxdomain")),
        "{:#?}",
        r.findings
    );

    lab.dns_switches.servfail.store(true, Ordering::Relaxed);
    let r = check(&plan(&yaml, &[("NS", lab.dns.to_string())])).await;
    assert!(
        r.findings
            .iter()
            .any(|f| f.kind.as_str() == "dns_errors" && f.message.contains("servfail")),
        "{:#?}",
        r.findings
    );

    lab.dns_switches.servfail.store(false, Ordering::Relaxed);
    lab.dns_switches.refused.store(true, Ordering::Relaxed);
    let r = check(&plan(&yaml, &[("NS", lab.dns.to_string())])).await;
    assert!(
        r.findings
            .iter()
            .any(|f| f.kind.as_str() == "dns_errors" && f.message.contains("refused")),
        "{:#?}",
        r.findings
    );

    lab.dns_switches.refused.store(false, Ordering::Relaxed);
    lab.dns_switches.silent.store(true, Ordering::Relaxed);
    let quick = yaml.replace("rate: 20000/s", "rate: 20000/s, timeout: 200ms");
    let r = check(&plan(&quick, &[("NS", lab.dns.to_string())])).await;
    assert!(
        r.findings
            .iter()
            .any(|f| f.kind.as_str() == "dns_errors" && f.message.contains("timeout")),
        "{:#?}",
        r.findings
    );
    assert_eq!(
        r.checks[0].results[0].error.as_ref().map(|e| e.kind),
        Some(cutover::probe::ErrorKind::Timeout)
    );
}

#[tokio::test]
async fn a_truncated_answer_is_retried_over_tcp() {
    let lab = lab().await;
    lab.dns_switches.truncate.store(true, Ordering::Relaxed);
    let r = run(&lab, "weights: { ingress: 90, gateway: 10 }", "").await;
    assert_eq!(r.checks[0].verdict, Verdict::Pass, "{:#?}", r.findings);
    let d = r.checks[0].results[0].details_json();
    assert_eq!(d["over_tcp"], 1000);
}

#[tokio::test]
async fn a_cname_to_a_load_balancer_maps_to_its_target() {
    let lab = lab().await;
    if let Ok(mut c) = lab.dns_switches.cnames.lock() {
        c.push((ip("192.0.2.20"), "k8s-gw-1234.elb.example.test".into()));
    }
    let yaml = scenario("weights: { ingress: 90, gateway: 10 }", "").replace(
        "dns_answers: [192.0.2.20]",
        "dns_answers: [k8s-gw-1234.elb.example.test]",
    );
    let r = check(&plan(&yaml, &[("NS", lab.dns.to_string())])).await;
    assert_eq!(r.checks[0].verdict, Verdict::Pass, "{:#?}", r.findings);
    let d = r.checks[0].results[0].details_json();
    assert_eq!(d["cnames"][0][0], "k8s-gw-1234.elb.example.test");
    assert!(d["shares"][1]["count"].as_u64().unwrap_or(0) > 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_samples_the_split_again_during_the_load() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = format!(
        r#"name: dns over time
host: shop.example.test
targets:
  ingress: {{ connect: "{}", dns_answers: [192.0.2.10] }}
  gateway: {{ connect: "{}", dns_answers: [192.0.2.20] }}
checks:
  - name: items
    http: {{ path: /api/items }}
  - name: weighted dns
    dns: {{ nameservers: ["{}"], samples: 200, rate: 20000/s, every: 400ms }}
    expect: {{ weights: {{ ingress: 90, gateway: 10 }} }}
load: {{ stages: [{{ rate: 20/s, for: 2s }}] }}
"#,
        lab.ingress_http, lab.gateway_http, lab.dns
    );
    std::fs::write(dir.path().join("s.yaml"), yaml).expect("write");
    let d = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        crate::support::run_bin(&d, &["run", "s.yaml", "--out", "out"])
    })
    .await
    .expect("join");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: serde_json::Value =
        serde_json::from_str(&crate::support::read(&dir.path().join("out/report.json")))
            .expect("json");
    crate::support::assert_valid_report(&report);
    let points = report["load"]["dns"][0]["points"]
        .as_array()
        .expect("the split over time");
    assert!(points.len() >= 3, "{points:?}");
    for p in points {
        assert_eq!(p["answered"], 200);
        let share = p["shares"]["ingress"].as_f64().unwrap_or(0.0);
        assert!((0.8..=1.0).contains(&share), "{p}");
    }
}

#[tokio::test]
async fn aaaa_records_are_sampled_too() {
    let lab = lab().await;
    lab.dns_switches
        .set_records(vec![(90, ip("2001:db8::10")), (10, ip("2001:db8::20"))]);
    let yaml = scenario("weights: { ingress: 90, gateway: 10 }", ", record: AAAA")
        .replace(
            "dns_answers: [192.0.2.10]",
            "dns_answers: [\"2001:db8::10\"]",
        )
        .replace(
            "dns_answers: [192.0.2.20]",
            "dns_answers: [\"2001:db8::20\"]",
        );
    let r = check(&plan(&yaml, &[("NS", lab.dns.to_string())])).await;
    assert_eq!(r.checks[0].verdict, Verdict::Pass, "{:#?}", r.findings);
    assert_eq!(r.checks[0].results[0].details_json()["answered"], 1000);
}
