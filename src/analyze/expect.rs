//! Expectations: does one target's sample satisfy its check's `expect` block?
//!
//! Every failed rule is one sentence naming what was expected and what came.
//! Without a `status` rule, any status below 400 passes: a check that expects
//! an error must say so.
//!
//! Owns the expectation rules ([`Expect`], [`StatusPattern`], [`HeaderRule`]):
//! the scenario builds them, this module applies them.

use std::time::Duration;

use regex::Regex;

use crate::probe::Sample;

/// What each target's response must satisfy on its own.
#[derive(Clone, Debug, Default)]
pub struct Expect {
    pub status: Vec<StatusPattern>,
    pub headers: Vec<(String, HeaderRule)>,
    pub body_contains: Vec<String>,
    /// JSON pointer → expected value.
    pub json: Vec<(String, serde_json::Value)>,
    pub max_latency: Option<Duration>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusPattern {
    Exact(u16),
    /// `2xx` is `Class(2)`.
    Class(u16),
}

impl StatusPattern {
    pub fn matches(self, status: u16) -> bool {
        match self {
            StatusPattern::Exact(s) => s == status,
            StatusPattern::Class(c) => status / 100 == c,
        }
    }
}

impl std::fmt::Display for StatusPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatusPattern::Exact(s) => write!(f, "{s}"),
            StatusPattern::Class(c) => write!(f, "{c}xx"),
        }
    }
}

#[derive(Clone, Debug)]
pub enum HeaderRule {
    Equals(String),
    Contains(String),
    Regex(Regex),
    Absent,
}

pub use crate::load::plan::Judge;

impl Expect {
    /// Whether judging needs the response's headers and body kept.
    pub fn needs_body(&self, judge: Judge) -> bool {
        judge == Judge::Full
            && (!self.headers.is_empty() || !self.body_contains.is_empty() || !self.json.is_empty())
    }
}

/// Whether a load response fails its check: a transport error, a status the
/// expectation does not allow (any status below 400 without one), and with
/// [`Judge::Full`] a failed header or body rule. Allocates nothing on the
/// common path (a status rule only).
pub fn fails(expect: &Expect, sample: &Sample, judge: Judge) -> bool {
    if sample.error.is_some() {
        return true;
    }
    let Some(resp) = &sample.response else {
        return true;
    };
    let status_ok = if expect.status.is_empty() {
        resp.status < 400
    } else {
        expect.status.iter().any(|p| p.matches(resp.status))
    };
    if !status_ok {
        return true;
    }
    if judge == Judge::Status
        || (expect.headers.is_empty() && expect.body_contains.is_empty() && expect.json.is_empty())
    {
        return false;
    }
    // The rare, rich case: the same rules as the check pass, latency aside
    // (under load, latency has rules of its own).
    let latency_failed = expect.max_latency.is_some_and(|max| sample.latency > max);
    evaluate(expect, sample).len() > usize::from(latency_failed)
}

/// What is wrong with header (or trailer: `what`) `name` against `rule`,
/// as a sentence; `None` when it passes.
pub fn header_problem(
    what: &str,
    name: &str,
    rule: &HeaderRule,
    got: Option<&str>,
) -> Option<String> {
    match (rule, got) {
        (HeaderRule::Absent, Some(v)) => {
            Some(format!("{what} `{name}` is `{v}` where none was expected"))
        }
        (HeaderRule::Absent, None) => None,
        (_, None) => Some(format!("{what} `{name}` is missing")),
        (HeaderRule::Equals(want), Some(v)) if v != want => Some(format!(
            "{what} `{name}` is `{v}` where `{want}` was expected"
        )),
        (HeaderRule::Contains(want), Some(v)) if !v.contains(want.as_str()) => Some(format!(
            "{what} `{name}` is `{v}`, which does not contain `{want}`"
        )),
        (HeaderRule::Regex(re), Some(v)) if !re.is_match(v) => Some(format!(
            "{what} `{name}` is `{v}`, which does not match /{}/",
            re.as_str()
        )),
        _ => None,
    }
}

/// The failed rules, as sentences; empty when the sample passes.
pub fn evaluate(expect: &Expect, sample: &Sample) -> Vec<String> {
    let mut fails = Vec::new();
    if let Some(err) = &sample.error {
        fails.push(format!("request failed ({}): {}", err.kind, err.message));
    }
    let Some(resp) = &sample.response else {
        return fails;
    };
    if expect.status.is_empty() {
        if resp.status >= 400 {
            fails.push(format!(
                "status {} (without `expect.status`, any status below 400 passes)",
                resp.status
            ));
        }
    } else if !expect.status.iter().any(|p| p.matches(resp.status)) {
        let wanted: Vec<String> = expect.status.iter().map(|p| p.to_string()).collect();
        fails.push(format!(
            "status {} where {} was expected",
            resp.status,
            wanted.join(" or ")
        ));
    }
    for (name, rule) in &expect.headers {
        fails.extend(header_problem(
            "header",
            name,
            rule,
            resp.header(name).as_deref(),
        ));
    }
    if !expect.body_contains.is_empty() || !expect.json.is_empty() {
        if resp.body.truncated {
            fails.push(format!(
                "the body ({} bytes) exceeds the body cap of {} bytes; its rules were checked on the first part only",
                resp.body.size,
                resp.body.prefix.len()
            ));
        }
        let text = resp.body.text();
        for want in &expect.body_contains {
            if !text.contains(want.as_str()) {
                fails.push(format!("the body does not contain `{want}`"));
            }
        }
        if !expect.json.is_empty() {
            match serde_json::from_slice::<serde_json::Value>(&resp.body.prefix) {
                Err(e) => fails.push(format!("the body is not JSON ({e})")),
                Ok(doc) => {
                    for (ptr, want) in &expect.json {
                        match doc.pointer(ptr) {
                            None => fails
                                .push(format!("JSON pointer `{ptr}` finds nothing in the body")),
                            Some(got) if got != want => fails
                                .push(format!("JSON `{ptr}` is {got} where {want} was expected")),
                            Some(_) => {}
                        }
                    }
                }
            }
        }
    }
    if let Some(max) = expect.max_latency {
        if sample.latency > max {
            fails.push(format!(
                "latency {} exceeds the maximum of {}",
                fmt_ms(sample.latency),
                fmt_ms(max)
            ));
        }
    }
    fails
}

/// `12.3 ms`: the unit people read latencies in.
pub fn fmt_ms(d: std::time::Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{Body, ErrorKind, ProbeError, Response};
    use std::time::Duration;

    fn sample(status: u16, headers: &[(&str, &str)], body: &str) -> Sample {
        Sample {
            url: "http://shop.example.test/".into(),
            response: Some(Response {
                status,
                headers: headers
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
                body: Body {
                    size: body.len() as u64,
                    sha256: String::new(),
                    prefix: bytes::Bytes::from(body.to_owned()),
                    truncated: false,
                },
                ..Default::default()
            }),
            error: None,
            latency: Duration::from_millis(20),
            ttfb: Some(Duration::from_millis(10)),
        }
    }

    #[test]
    fn status_exact_class_and_list() {
        let s = sample(204, &[], "");
        let mut e = Expect {
            status: vec![StatusPattern::Exact(204)],
            ..Default::default()
        };
        assert!(evaluate(&e, &s).is_empty());
        e.status = vec![StatusPattern::Class(2)];
        assert!(evaluate(&e, &s).is_empty());
        e.status = vec![StatusPattern::Exact(200), StatusPattern::Class(3)];
        assert_eq!(
            evaluate(&e, &s),
            ["status 204 where 200 or 3xx was expected"]
        );
    }

    #[test]
    fn default_status_rule_rejects_errors() {
        assert!(evaluate(&Expect::default(), &sample(301, &[], "")).is_empty());
        assert_eq!(evaluate(&Expect::default(), &sample(503, &[], "")).len(), 1);
    }

    #[test]
    fn header_rules() {
        let s = sample(
            200,
            &[("content-type", "application/json; charset=utf-8")],
            "",
        );
        let rule = |r| Expect {
            headers: vec![("content-type".into(), r)],
            ..Default::default()
        };
        assert!(evaluate(&rule(HeaderRule::Contains("json".into())), &s).is_empty());
        assert_eq!(
            evaluate(&rule(HeaderRule::Equals("application/json".into())), &s).len(),
            1
        );
        assert!(evaluate(
            &rule(HeaderRule::Regex(
                regex::Regex::new("^application/").unwrap()
            )),
            &s
        )
        .is_empty());
        assert_eq!(
            evaluate(
                &rule(HeaderRule::Regex(regex::Regex::new("^text/").unwrap())),
                &s
            )
            .len(),
            1
        );
        assert_eq!(evaluate(&rule(HeaderRule::Absent), &s).len(), 1);
        let missing = Expect {
            headers: vec![("x-app".into(), HeaderRule::Equals("a".into()))],
            ..Default::default()
        };
        assert_eq!(evaluate(&missing, &s), ["header `x-app` is missing"]);
        let absent = Expect {
            headers: vec![("x-app".into(), HeaderRule::Absent)],
            ..Default::default()
        };
        assert!(evaluate(&absent, &s).is_empty());
    }

    #[test]
    fn body_and_json_rules() {
        let s = sample(200, &[], r#"{"items":[{"id":1}]}"#);
        let e = Expect {
            body_contains: vec!["items".into()],
            json: vec![("/items/0/id".into(), serde_json::json!(1))],
            ..Default::default()
        };
        assert!(evaluate(&e, &s).is_empty());
        let e = Expect {
            body_contains: vec!["gadget".into()],
            json: vec![
                ("/items/0/id".into(), serde_json::json!(2)),
                ("/nope".into(), serde_json::json!(1)),
            ],
            ..Default::default()
        };
        assert_eq!(
            evaluate(&e, &s),
            [
                "the body does not contain `gadget`",
                "JSON `/items/0/id` is 1 where 2 was expected",
                "JSON pointer `/nope` finds nothing in the body"
            ]
        );
        let e = Expect {
            json: vec![("/a".into(), serde_json::json!(1))],
            ..Default::default()
        };
        assert!(evaluate(&e, &sample(200, &[], "<html>"))[0].starts_with("the body is not JSON"));
    }

    #[test]
    fn latency_and_errors() {
        let e = Expect {
            max_latency: Some(Duration::from_millis(5)),
            ..Default::default()
        };
        assert_eq!(
            evaluate(&e, &sample(200, &[], "")),
            ["latency 20.0 ms exceeds the maximum of 5.0 ms"]
        );
        let failed = Sample::failed(
            "http://x/".into(),
            ProbeError::new(ErrorKind::ConnectRefused, "connection refused"),
            Duration::ZERO,
        );
        assert_eq!(
            evaluate(&Expect::default(), &failed),
            ["request failed (connect_refused): connection refused"]
        );
    }
}
