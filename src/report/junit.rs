//! `junit.xml`: one `<testcase>` per check × target, named `check [target]`.
//!
//! A failed expectation or parity rule is a `<failure>`, a transport error an
//! `<error>` (typed by its error kind), a check not run `<skipped/>`. Written
//! with quick-xml, so every name and message is escaped.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use super::model::{Report, Verdict};

pub fn render(r: &Report) -> String {
    let cases: Vec<_> = r
        .checks
        .iter()
        .flat_map(|c| c.results.iter().map(move |res| (c, res)))
        .collect();
    let count = |v: Verdict| {
        cases
            .iter()
            .filter(|(_, res)| res.verdict == v)
            .count()
            .to_string()
    };
    let time = format!("{:.3}", r.duration_ms as f64 / 1000.0);
    let (tests, failures, errors, skipped) = (
        cases.len().to_string(),
        count(Verdict::Fail),
        count(Verdict::Error),
        count(Verdict::Skipped),
    );

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
    for (c, res) in &cases {
        let name = format!("{} [{}]", c.name, res.target);
        let classname = format!("{}.{}", r.scenario.name, c.name);
        let case_time = format!("{:.3}", res.latency_ms / 1000.0);
        let mut case = BytesStart::new("testcase");
        case.push_attribute(("name", name.as_str()));
        case.push_attribute(("classname", classname.as_str()));
        case.push_attribute(("time", case_time.as_str()));
        let body = res.failures.join("\n");
        let first = res.failures.first().cloned().unwrap_or_default();
        match res.verdict {
            Verdict::Pass => ev(Event::Empty(case)),
            Verdict::Skipped => {
                ev(Event::Start(case));
                ev(Event::Empty(BytesStart::new("skipped")));
                ev(Event::End(BytesEnd::new("testcase")));
            }
            Verdict::Fail | Verdict::Error => {
                let (tag, kind) = match (&res.verdict, &res.error) {
                    (Verdict::Error, Some(e)) => ("error", e.kind.as_str()),
                    _ => ("failure", "expectation"),
                };
                ev(Event::Start(case));
                let mut f = BytesStart::new(tag);
                f.push_attribute(("message", first.as_str()));
                f.push_attribute(("type", kind));
                ev(Event::Start(f));
                ev(Event::Text(BytesText::new(&body)));
                ev(Event::End(BytesEnd::new(tag)));
                ev(Event::End(BytesEnd::new("testcase")));
            }
        }
    }
    ev(Event::End(BytesEnd::new("testsuite")));
    ev(Event::End(BytesEnd::new("testsuites")));
    let mut out = String::from_utf8_lossy(&w.into_inner()).into_owned();
    out.push('\n');
    out
}
