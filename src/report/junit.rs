//! `junit.xml`: one `<testcase>` per check × target, named `check [target]`,
//! plus one per run-wide finding (threshold, abort, spike, regression,
//! failed event, failures under load, unused known difference).
//!
//! A test case fails exactly when a finding behind it is at level `fail`,
//! so at least one failing test case exists exactly when the verdict is
//! `fail` (exit 1, or 3 when aborted). A transport error is an `<error>`
//! (typed by its error kind), a check not run `<skipped/>`; warnings,
//! inconclusive and accepted findings pass and are told in `<system-out>`.
//! The failure text carries each message, its hint, and for parity the
//! differing leaves and the commands that reproduce them. Written with
//! quick-xml, so every name and message is escaped.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use super::model::{CheckKind, Finding, Level, Report, Verdict};

/// One test case before it is written.
struct Case {
    name: String,
    classname: String,
    seconds: f64,
    outcome: Outcome,
    /// Findings that did not fail, told in `<system-out>`.
    notes: Vec<String>,
}

enum Outcome {
    Pass,
    Skipped,
    /// `(tag, type, message, text)`: `failure` or `error`.
    Failed(&'static str, String, String, String),
}

fn line(f: &Finding, previous: Option<&Finding>) -> String {
    let mut s = format!("{}: {}", f.level.as_str().to_uppercase(), f.message);
    if let Some(reason) = &f.accepted {
        s.push_str(&format!("\n  accepted: {reason}"));
    }
    if let Some(h) = &f.hint {
        s.push_str(&format!("\n  hint: {h}"));
    }
    for line in super::parity_lines(f, previous) {
        s.push_str(&format!("\n  {line}"));
    }
    s
}

fn failed_text(fs: &[&Finding]) -> (String, String) {
    let first = fs.first().map(|f| f.message.clone()).unwrap_or_default();
    let text = fs
        .iter()
        .enumerate()
        .map(|(i, f)| line(f, i.checked_sub(1).map(|p| fs[p])))
        .collect::<Vec<_>>()
        .join("\n");
    (first, text)
}

fn cases(r: &Report) -> Vec<Case> {
    let mut out = Vec::new();
    for c in &r.checks {
        for res in &c.results {
            // A DNS check's one result stands for the whole check (no target).
            let target = (c.kind != CheckKind::Dns).then_some(res.target.as_str());
            let mine: Vec<&Finding> = r
                .findings
                .iter()
                .filter(|f| {
                    f.kind.is_check_pass()
                        && f.check.as_deref() == Some(c.name.as_str())
                        && f.target.as_deref() == target
                })
                .collect();
            let fails: Vec<&Finding> = mine.iter().copied().filter(|f| f.fails()).collect();
            let notes = mine
                .iter()
                .filter(|f| !f.fails() && f.level != Level::Info)
                .map(|f| line(f, None))
                .collect();
            let outcome = match res.verdict {
                Verdict::Pass => Outcome::Pass,
                Verdict::Skipped => Outcome::Skipped,
                Verdict::Fail | Verdict::Error => {
                    let (mut first, mut text) = failed_text(&fails);
                    if fails.is_empty() {
                        first = res.failures.first().cloned().unwrap_or_default();
                        text = res.failures.join("\n");
                    }
                    match (&res.verdict, &res.error) {
                        (Verdict::Error, Some(e)) => {
                            Outcome::Failed("error", e.kind.as_str().to_owned(), first, text)
                        }
                        _ => Outcome::Failed(
                            "failure",
                            fails
                                .first()
                                .map_or("expectation", |f| f.kind.as_str())
                                .to_owned(),
                            first,
                            text,
                        ),
                    }
                }
            };
            out.push(Case {
                name: format!("{} [{}]", c.name, res.target),
                classname: format!("{}.{}", r.scenario.name, c.name),
                seconds: res.latency_ms / 1000.0,
                outcome,
                notes,
            });
        }
    }
    for f in r.findings.iter().filter(|f| !f.kind.is_check_pass()) {
        let what = f.check.as_deref().unwrap_or("run");
        let name = match &f.target {
            Some(t) => format!("{} {what} [{t}]", f.kind),
            None => format!("{} {what}", f.kind),
        };
        let outcome = if f.fails() {
            let (first, text) = failed_text(&[f]);
            Outcome::Failed("failure", f.kind.as_str().to_owned(), first, text)
        } else {
            Outcome::Pass
        };
        out.push(Case {
            name,
            classname: format!("{}.{}", r.scenario.name, f.kind),
            seconds: 0.0,
            notes: if f.fails() {
                Vec::new()
            } else {
                vec![line(f, None)]
            },
            outcome,
        });
    }
    out
}

pub fn render(r: &Report) -> String {
    let cases = cases(r);
    let count = |pred: &dyn Fn(&Outcome) -> bool| {
        cases
            .iter()
            .filter(|c| pred(&c.outcome))
            .count()
            .to_string()
    };
    let time = format!("{:.3}", r.duration_ms as f64 / 1000.0);
    let tests = cases.len().to_string();
    let failures = count(&|o| matches!(o, Outcome::Failed("failure", ..)));
    let errors = count(&|o| matches!(o, Outcome::Failed("error", ..)));
    let skipped = count(&|o| matches!(o, Outcome::Skipped));

    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    let mut ev = |e: Event| {
        // Writing to a Vec cannot fail.
        let _ = w.write_event(e);
    };
    ev(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    let mut suites = BytesStart::new("testsuites");
    suites.push_attribute(("name", "cutover"));
    suites.push_attribute(("tests", tests.as_str()));
    suites.push_attribute(("failures", failures.as_str()));
    suites.push_attribute(("errors", errors.as_str()));
    suites.push_attribute(("time", time.as_str()));
    ev(Event::Start(suites));
    let mut suite = BytesStart::new("testsuite");
    suite.push_attribute(("name", r.scenario.name.as_str()));
    suite.push_attribute(("tests", tests.as_str()));
    suite.push_attribute(("failures", failures.as_str()));
    suite.push_attribute(("errors", errors.as_str()));
    suite.push_attribute(("skipped", skipped.as_str()));
    suite.push_attribute(("time", time.as_str()));
    suite.push_attribute(("timestamp", r.started_at.as_str()));
    ev(Event::Start(suite));
    for c in &cases {
        let case_time = format!("{:.3}", c.seconds);
        let mut case = BytesStart::new("testcase");
        case.push_attribute(("name", c.name.as_str()));
        case.push_attribute(("classname", c.classname.as_str()));
        case.push_attribute(("time", case_time.as_str()));
        if matches!(c.outcome, Outcome::Pass) && c.notes.is_empty() {
            ev(Event::Empty(case));
            continue;
        }
        ev(Event::Start(case));
        match &c.outcome {
            Outcome::Pass => {}
            Outcome::Skipped => ev(Event::Empty(BytesStart::new("skipped"))),
            Outcome::Failed(tag, kind, message, text) => {
                let mut f = BytesStart::new(*tag);
                f.push_attribute(("message", message.as_str()));
                f.push_attribute(("type", kind.as_str()));
                ev(Event::Start(f));
                ev(Event::Text(BytesText::new(text)));
                ev(Event::End(BytesEnd::new(*tag)));
            }
        }
        if !c.notes.is_empty() {
            ev(Event::Start(BytesStart::new("system-out")));
            ev(Event::Text(BytesText::new(&c.notes.join("\n"))));
            ev(Event::End(BytesEnd::new("system-out")));
        }
        ev(Event::End(BytesEnd::new("testcase")));
    }
    ev(Event::End(BytesEnd::new("testsuite")));
    ev(Event::End(BytesEnd::new("testsuites")));
    let mut out = String::from_utf8_lossy(&w.into_inner()).into_owned();
    out.push('\n');
    out
}
