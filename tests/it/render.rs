//! The renderers on a report that holds every kind of finding at every
//! level: each kind appears in the terminal, summary.md and junit.xml
//! snapshots, the headline counts what failed, and the JUnit file has a
//! failing test case exactly when the verdict fails.

use cutover::report::model::{Evidence, Finding, FindingKind, Level, Report};
use cutover::report::terminal::Style;

/// A report with one check on two targets and one finding of every kind.
fn every_kind() -> Report {
    let mut report: Report = serde_json::from_value(serde_json::json!({
        "schema_version": 2,
        "tool": { "name": "cutover", "version": "0.0.0" },
        "mode": "run",
        "scenario": { "name": "every kind", "path": "s.yaml", "sha256": "0".repeat(64), "host": "shop.example.test" },
        "started_at": "2026-01-01T00:00:00.000Z",
        "ended_at": "2026-01-01T00:01:00.000Z",
        "duration_ms": 60000,
        "status": "aborted",
        "verdict": "fail",
        "targets": [
            { "name": "ingress", "role": "ingress", "proxy": "nginx", "connect": "192.0.2.10:80", "host": "shop.example.test", "scheme": "http", "tls_insecure": false, "ca": null },
            { "name": "gateway", "role": "gateway", "proxy": "envoy", "connect": "192.0.2.20:80", "host": "shop.example.test", "scheme": "http", "tls_insecure": false, "ca": null }
        ],
        "checks": [{
            "name": "items", "kind": "http", "request": "GET /api/items", "verdict": "fail",
            "results": [
                { "target": "ingress", "verdict": "pass", "url": "http://shop.example.test/api/items", "status": 200, "origin": "app", "origin_reason": "x-envoy-upstream-service-time", "latency_ms": 1.5, "ttfb_ms": 1.0, "body_bytes": 10, "body_sha256": null, "body_truncated": false, "headers": [], "error": null, "failures": [], "details": null },
                { "target": "gateway", "verdict": "fail", "url": "http://shop.example.test/api/items", "status": 404, "origin": "gateway", "origin_reason": "route not found", "latency_ms": 0.5, "ttfb_ms": 0.4, "body_bytes": 0, "body_sha256": null, "body_truncated": false, "headers": [], "error": null, "failures": [], "details": null }
            ]
        }],
        "findings": []
    }))
    .expect("a valid report");
    for (i, kind) in FindingKind::ALL.into_iter().enumerate() {
        // Every shown level in turn, so every kind is in the terminal and
        // summary.md snapshots (`info` findings stay in report.json; one
        // more finding below covers that level).
        let level = match i % 4 {
            0 => Level::Fail,
            1 => Level::Warn,
            2 => Level::Inconclusive,
            _ => Level::Accepted,
        };
        let mut f = Finding::new(
            kind,
            level,
            kind.is_check_pass().then_some("items"),
            Some("gateway"),
            format!("a {kind} finding at level {}", level.as_str()),
        );
        if level == Level::Accepted {
            f.accepted = Some("the team lives with it".into());
        }
        if i % 3 == 0 {
            f = f.with_hint(format!("what to do about {kind}"));
        }
        if kind == FindingKind::Threshold {
            f = f.with_evidence(Evidence::Limit {
                metric: "p99_ms".into(),
                observed: 12.5,
                limit: 10.0,
                n: 400,
            });
        }
        report.findings.push(f);
    }
    report.findings.push(Finding::new(
        FindingKind::LoadErrors,
        Level::Info,
        Some("items"),
        Some("ingress"),
        "context only: both paths fail alike",
    ));
    report
}

#[test]
fn every_finding_kind_is_rendered_by_every_renderer() {
    let r = every_kind();
    let terminal = cutover::report::terminal::render(&r, Style::default());
    let summary = cutover::report::markdown::render(&r);
    let junit = cutover::report::junit::render(&r);
    for kind in FindingKind::ALL {
        // Info findings are context: they stay in report.json only.
        let shown = r
            .findings
            .iter()
            .any(|f| f.kind == kind && f.level != Level::Info);
        let name = kind.as_str();
        assert!(shown, "{name} is at a shown level");
        assert!(terminal.contains(&format!("a {name} finding")), "{name}");
        assert!(summary.contains(&format!("`{name}`")), "{name}");
        if !kind.is_check_pass() && shown {
            assert!(junit.contains(name), "{name}");
        }
    }
    assert!(junit.contains("<failure "), "{junit}");
    insta::assert_snapshot!("every_kind_terminal", terminal);
    insta::assert_snapshot!("every_kind_summary", summary);
    insta::assert_snapshot!("every_kind_junit", junit);
}

#[test]
fn the_headline_never_says_zero_failed_on_a_failing_verdict() {
    let mut r = every_kind();
    // Only a threshold fails.
    r.findings.retain(|f| f.kind == FindingKind::Threshold);
    r.findings[0].level = Level::Fail;
    r.checks[0].verdict = cutover::report::Verdict::Pass;
    r.checks[0].results[1].verdict = cutover::report::Verdict::Pass;
    r.status = cutover::report::RunStatus::Completed;
    let h = cutover::report::Headline::of(&r).to_string();
    assert_eq!(h, "FAIL: 1 threshold breached");
    let junit = cutover::report::junit::render(&r);
    assert!(junit.contains(r#"failures="1""#), "{junit}");
}

#[test]
fn colours_only_when_asked() {
    let r = every_kind();
    let plain = cutover::report::terminal::render(&r, Style::default());
    assert!(!plain.contains('\x1b'));
    let colour = cutover::report::terminal::render(
        &r,
        Style {
            color: true,
            quiet: false,
        },
    );
    assert!(colour.contains("\x1b[1;31mFAIL"));
    assert!(colour.contains('✗'));
    let quiet = cutover::report::terminal::render(
        &r,
        Style {
            color: false,
            quiet: true,
        },
    );
    assert_eq!(quiet.lines().count(), 1, "{quiet}");
    assert!(quiet.starts_with("FAIL: 1 check failed"), "{quiet}");
}
