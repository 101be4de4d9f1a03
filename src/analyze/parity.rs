//! Parity: is a target's answer the same as the baseline target's?
//!
//! Compares what the check's `parity` names: status, named headers, all
//! headers but the proxy-specific ones (as multimaps by name, so a repeated
//! `set-cookie` counts every value), body bytes (by hash, so it works past
//! the body cap) or body JSON, leaf by leaf by JSON pointer
//! ([`crate::jsondiff`]), minus the check's ignore patterns.
//!
//! Noise: the check pass may ask the baseline target again (`noise_samples`
//! times). Whatever differs between the baseline's own answers (a pointer, a
//! header) is noise: it is listed, never a difference. A raw body
//! (`body: exact`) that differs between the baseline's own answers cannot be
//! compared at all ([`Compared::exact_unstable`]). A baseline answer with
//! another status than the first is not used for noise (it is a different
//! answer, not the same answer varying).
//!
//! Owns the parity rules ([`Parity`], [`BodyParity`], [`PROXY_HEADERS`]): the
//! scenario builds them, this module applies them. Pure: no I/O.

use serde_json::Value;

use crate::jsondiff::{self, Leaf, Pattern};
use crate::probe::{Response, Sample};

/// How many differing leaves a message names before it gives a count.
pub const NAMED_IN_MESSAGE: usize = 5;

/// What must be equal between a check's targets.
#[derive(Clone, Debug)]
pub struct Parity {
    pub status: bool,
    /// Named headers (lowercase).
    pub headers: Vec<String>,
    /// Compare every header except `ignore_headers` and the proxy-specific defaults.
    pub all_headers: bool,
    pub ignore_headers: Vec<String>,
    pub body: Option<BodyParity>,
    /// JSON pointers (with `*` and `**`) never compared.
    pub ignore: Vec<Pattern>,
    /// Learn noise from the baseline's own answers (default on).
    pub noise: bool,
    /// How many more times the check pass asks the baseline (default 2).
    pub noise_samples: u32,
    /// Repeat methods with side effects (POST, PUT, PATCH, DELETE) for noise too.
    pub noise_unsafe: bool,
}

impl Default for Parity {
    fn default() -> Self {
        Parity {
            status: false,
            headers: Vec::new(),
            all_headers: false,
            ignore_headers: Vec::new(),
            body: None,
            ignore: Vec::new(),
            noise: true,
            noise_samples: 2,
            noise_unsafe: false,
        }
    }
}

impl Parity {
    pub fn is_empty(&self) -> bool {
        !self.status && self.headers.is_empty() && !self.all_headers && self.body.is_none()
    }

    /// How many extra baseline answers the check pass asks for, for a
    /// request with `method`: none without body or header parity, with
    /// noise off, or for a method with side effects unless `noise_unsafe`.
    pub fn noise_repeats(&self, method: &str) -> u32 {
        let compared = self.body.is_some() || self.all_headers || !self.headers.is_empty();
        let unsafe_method = matches!(
            method.to_ascii_uppercase().as_str(),
            "POST" | "PUT" | "PATCH" | "DELETE"
        );
        if !self.noise || !compared || (unsafe_method && !self.noise_unsafe) {
            0
        } else {
            self.noise_samples
        }
    }

    /// Whether `pointer` is ignored by an ignore pattern.
    pub fn ignores(&self, pointer: &str) -> bool {
        self.ignore.iter().any(|p| p.matches(pointer))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyParity {
    Exact,
    /// Parse both as JSON and compare leaf by leaf (key order and whitespace do not matter).
    Json,
}

/// Headers that differ between any two proxies and are never compared by `headers`.
pub const PROXY_HEADERS: &[&str] = &[
    "date",
    "server",
    "x-envoy-upstream-service-time",
    "x-request-id",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "age",
    "via",
    "alt-svc",
];

/// What one difference is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Aspect {
    Status,
    /// One header, by lowercase name.
    Header(String),
    Body,
}

impl Aspect {
    /// `status`, `header:NAME`, `body`, as in the scenario's `parity` list.
    pub fn name(&self) -> String {
        match self {
            Aspect::Status => "status".into(),
            Aspect::Header(h) => format!("header:{h}"),
            Aspect::Body => "body".into(),
        }
    }
}

/// One difference between a target's answer and the baseline's.
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    pub aspect: Aspect,
    /// A sentence naming both targets and what differs.
    pub message: String,
    /// The differing leaves (JSON pointers, the header, the status), in order.
    pub leaves: Vec<Leaf>,
}

/// What comparing a target's answer with the baseline's found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Compared {
    pub differences: Vec<Difference>,
    /// Pointers and headers that vary between the baseline's own answers
    /// (`/served_at`, `header:etag`), not compared.
    pub noise: Vec<String>,
    /// `body: exact` and the baseline's own answers have different bodies:
    /// the bodies cannot be compared.
    pub exact_unstable: bool,
}

/// Compares `other` with `base`; `base_again` are the baseline's other
/// answers to the same request (noise). Empty when either failed.
pub fn compare(
    parity: &Parity,
    base: (&str, &Sample),
    other: (&str, &Sample),
    base_again: &[Sample],
) -> Compared {
    let (bn, bs) = base;
    let (on, os) = other;
    let mut out = Compared::default();
    let (Some(b), Some(o)) = (&bs.response, &os.response) else {
        return out;
    };
    let again: Vec<&Response> = base_again
        .iter()
        .filter_map(|s| s.response.as_ref())
        .filter(|r| r.status == b.status)
        .collect();
    if parity.status && b.status != o.status {
        out.differences.push(Difference {
            aspect: Aspect::Status,
            message: format!("status differs: {bn} {}, {on} {}", b.status, o.status),
            leaves: vec![Leaf {
                pointer: "status".into(),
                baseline: Some(b.status.to_string()),
                target: Some(o.status.to_string()),
            }],
        });
    }
    compare_headers(parity, (bn, b), (on, o), &again, &mut out);
    match parity.body {
        Some(BodyParity::Exact) => {
            if again.iter().any(|r| r.body.sha256 != b.body.sha256) {
                out.exact_unstable = true;
            } else if b.body.sha256 != o.body.sha256 {
                out.differences.push(Difference {
                    aspect: Aspect::Body,
                    message: format!(
                        "body differs: {bn} {} bytes (sha256 {}), {on} {} bytes (sha256 {})",
                        b.body.size,
                        short(&b.body.sha256),
                        o.body.size,
                        short(&o.body.sha256)
                    ),
                    leaves: Vec::new(),
                });
            }
        }
        Some(BodyParity::Json) => compare_json(parity, (bn, b), (on, o), &again, &mut out),
        None => {}
    }
    out
}

fn compare_headers(
    parity: &Parity,
    (bn, b): (&str, &Response),
    (on, o): (&str, &Response),
    again: &[&Response],
    out: &mut Compared,
) {
    let mut names: Vec<String> = parity.headers.clone();
    if parity.all_headers {
        for (n, _) in b.headers.iter().chain(o.headers.iter()) {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        names.retain(|n| !PROXY_HEADERS.contains(&n.as_str()));
    }
    names.retain(|n| !parity.ignore_headers.contains(n));
    let mut noisy: Vec<String> = Vec::new();
    for r in again {
        for l in jsondiff::headers(&b.headers, &r.headers, &names) {
            if !noisy.contains(&l.pointer) {
                noisy.push(l.pointer);
            }
        }
    }
    noisy.sort();
    for n in &noisy {
        out.noise.push(format!("header:{n}"));
    }
    for leaf in jsondiff::headers(&b.headers, &o.headers, &names) {
        if noisy.contains(&leaf.pointer) {
            continue;
        }
        let show = |v: &Option<String>| match v {
            Some(v) => format!("`{}`", header_text(v)),
            None => "absent".to_owned(),
        };
        out.differences.push(Difference {
            aspect: Aspect::Header(leaf.pointer.clone()),
            message: format!(
                "header `{}` differs: {bn} {}, {on} {}",
                leaf.pointer,
                show(&leaf.baseline),
                show(&leaf.target)
            ),
            leaves: vec![leaf],
        });
    }
}

/// A header leaf's values as the response carried them, joined by `, `.
fn header_text(json: &str) -> String {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::String(s)) => s,
        Ok(Value::Array(vs)) => vs
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
            .join(", "),
        _ => json.to_owned(),
    }
}

fn compare_json(
    parity: &Parity,
    (bn, b): (&str, &Response),
    (on, o): (&str, &Response),
    again: &[&Response],
    out: &mut Compared,
) {
    let parse = |r: &Response| serde_json::from_slice::<Value>(&r.body.prefix);
    let (x, y) = match (parse(b), parse(o)) {
        (Ok(x), Ok(y)) => (x, y),
        (bj, oj) => {
            if bj.is_ok() != oj.is_ok() || b.body.sha256 != o.body.sha256 {
                let state = |r: &Result<Value, _>| if r.is_ok() { "JSON" } else { "not JSON" };
                out.differences.push(Difference {
                    aspect: Aspect::Body,
                    message: format!(
                        "JSON body differs: {bn} body is {}, {on} body is {}",
                        state(&bj),
                        state(&oj)
                    ),
                    leaves: Vec::new(),
                });
            }
            return;
        }
    };
    let mut noisy: Vec<String> = Vec::new();
    for r in again {
        if let Ok(z) = parse(r) {
            for l in jsondiff::diff(&x, &z) {
                if !parity.ignores(&l.pointer) && !noisy.contains(&l.pointer) {
                    noisy.push(l.pointer);
                }
            }
        }
    }
    noisy.sort();
    out.noise.extend(noisy.iter().cloned());
    let leaves: Vec<Leaf> = jsondiff::diff(&x, &y)
        .into_iter()
        .filter(|l| !parity.ignores(&l.pointer))
        .filter(|l| !noisy.iter().any(|n| jsondiff::covered_by(&l.pointer, n)))
        .collect();
    if leaves.is_empty() {
        return;
    }
    let verb = if leaves.len() == 1 {
        "differs"
    } else {
        "differ"
    };
    let message = format!(
        "JSON body: {} {verb} from {bn}'s answer",
        name_pointers(leaves.iter().map(|l| l.pointer.as_str()), leaves.len())
    );
    out.differences.push(Difference {
        aspect: Aspect::Body,
        message,
        leaves,
    });
}

/// `/a, /b and 3 more` (`(root)` for the empty pointer).
pub fn name_pointers<'a>(pointers: impl Iterator<Item = &'a str>, total: usize) -> String {
    let named: Vec<&str> = pointers
        .take(NAMED_IN_MESSAGE)
        .map(|p| if p.is_empty() { "(root)" } else { p })
        .collect();
    let mut s = named.join(", ");
    if total > named.len() {
        s.push_str(&format!(" and {} more", total - named.len()));
    }
    s
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{Body, Response};
    use sha2::Digest;
    use std::time::Duration;

    fn sample(status: u16, headers: &[(&str, &str)], body: &str) -> Sample {
        let hash: String = sha2::Sha256::digest(body.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Sample {
            url: "http://x/".into(),
            response: Some(Response {
                status,
                headers: headers
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
                body: Body {
                    size: body.len() as u64,
                    sha256: hash,
                    prefix: bytes::Bytes::from(body.to_owned()),
                    truncated: false,
                },
                ..Default::default()
            }),
            error: None,
            latency: Duration::ZERO,
            ttfb: None,
        }
    }

    fn msgs(p: &Parity, a: &Sample, b: &Sample) -> Vec<String> {
        compare(p, ("ingress", a), ("gateway", b), &[])
            .differences
            .into_iter()
            .map(|d| d.message)
            .collect()
    }

    #[test]
    fn equal_answers_have_no_differences() {
        let p = Parity {
            status: true,
            all_headers: true,
            body: Some(BodyParity::Exact),
            ..Default::default()
        };
        let a = sample(
            200,
            &[("content-type", "text/plain"), ("server", "nginx")],
            "ok",
        );
        let b = sample(
            200,
            &[
                ("content-type", "text/plain"),
                ("server", "envoy"),
                ("x-envoy-upstream-service-time", "2"),
            ],
            "ok",
        );
        assert!(msgs(&p, &a, &b).is_empty());
    }

    #[test]
    fn differences_name_both_values() {
        let p = Parity {
            status: true,
            headers: vec!["location".into()],
            body: Some(BodyParity::Exact),
            ..Default::default()
        };
        let a = sample(308, &[("location", "/api/items")], "moved");
        let b = sample(301, &[], "");
        let d = msgs(&p, &a, &b);
        assert_eq!(d[0], "status differs: ingress 308, gateway 301");
        assert_eq!(
            d[1],
            "header `location` differs: ingress `/api/items`, gateway absent"
        );
        assert!(d[2].starts_with("body differs: ingress 5 bytes"));
    }

    #[test]
    fn json_parity_ignores_formatting_but_not_values() {
        let p = Parity {
            body: Some(BodyParity::Json),
            ..Default::default()
        };
        let a = sample(200, &[], r#"{"a":1,"b":[1,2]}"#);
        let b = sample(200, &[], "{ \"b\": [1, 2], \"a\": 1 }");
        assert!(msgs(&p, &a, &b).is_empty());
        let c = sample(200, &[], r#"{"a":2,"b":[1,2]}"#);
        assert_eq!(
            msgs(&p, &a, &c),
            ["JSON body: /a differs from ingress's answer"]
        );
    }

    #[test]
    fn ignored_and_all_headers() {
        let p = Parity {
            all_headers: true,
            ignore_headers: vec!["x-trace".into()],
            ..Default::default()
        };
        let a = sample(200, &[("x-trace", "1"), ("cache-control", "no-store")], "");
        let b = sample(200, &[("x-trace", "2")], "");
        assert_eq!(
            msgs(&p, &a, &b),
            ["header `cache-control` differs: ingress `no-store`, gateway absent"]
        );
    }

    #[test]
    fn what_varies_between_baseline_answers_is_noise_not_a_difference() {
        let p = Parity {
            body: Some(BodyParity::Json),
            ..Default::default()
        };
        let a = sample(200, &[], r#"{"served_at":"1","items":[{"price":1}]}"#);
        let again = [sample(
            200,
            &[],
            r#"{"served_at":"2","items":[{"price":1}]}"#,
        )];
        let b = sample(200, &[], r#"{"served_at":"3","items":[{"price":2}]}"#);
        let c = compare(&p, ("ingress", &a), ("gateway", &b), &again);
        assert_eq!(c.noise, ["/served_at"]);
        assert_eq!(
            c.differences[0].message,
            "JSON body: /items/0/price differs from ingress's answer"
        );
        assert_eq!(
            c.differences[0].leaves[0].describe(),
            "/items/0/price: 1 → 2"
        );
    }

    #[test]
    fn ignore_patterns_are_never_compared() {
        let p = Parity {
            body: Some(BodyParity::Json),
            noise: false,
            ignore: vec![
                jsondiff::Pattern::parse("/items/*/updated_at").expect("valid"),
                jsondiff::Pattern::parse("/**/etag").expect("valid"),
            ],
            ..Default::default()
        };
        let a = sample(
            200,
            &[],
            r#"{"items":[{"updated_at":1}],"m":{"c":{"etag":"x"}}}"#,
        );
        let b = sample(
            200,
            &[],
            r#"{"items":[{"updated_at":2}],"m":{"c":{"etag":"y"}}}"#,
        );
        assert!(msgs(&p, &a, &b).is_empty());
    }

    #[test]
    fn an_unstable_exact_body_cannot_be_compared() {
        let p = Parity {
            body: Some(BodyParity::Exact),
            ..Default::default()
        };
        let a = sample(200, &[], "t=1");
        let b = sample(200, &[], "t=3");
        let c = compare(
            &p,
            ("ingress", &a),
            ("gateway", &b),
            &[sample(200, &[], "t=2")],
        );
        assert!(c.exact_unstable);
        assert!(c.differences.is_empty());
    }

    #[test]
    fn side_effects_are_not_repeated_unless_told() {
        let mut p = Parity {
            body: Some(BodyParity::Json),
            ..Default::default()
        };
        assert_eq!(p.noise_repeats("GET"), 2);
        assert_eq!(p.noise_repeats("POST"), 0);
        assert_eq!(p.noise_repeats("delete"), 0);
        p.noise_unsafe = true;
        assert_eq!(p.noise_repeats("POST"), 2);
        p.noise = false;
        assert_eq!(p.noise_repeats("GET"), 0);
    }
}
