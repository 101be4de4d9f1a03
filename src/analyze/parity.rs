//! Parity: is a target's answer the same as the baseline target's?
//!
//! Compares what the check's `parity` names: status, named headers, all
//! headers but the proxy-specific ones, body bytes (by hash, so it works past
//! the body cap) or body JSON (parsed, so key order and whitespace do not
//! matter). Each difference is one sentence naming both targets and values.
//!
//! Owns the parity rules ([`Parity`], [`BodyParity`], [`PROXY_HEADERS`]): the
//! scenario builds them, this module applies them.

use crate::probe::Sample;

/// What must be equal between a check's targets.
#[derive(Clone, Debug, Default)]
pub struct Parity {
    pub status: bool,
    /// Named headers (lowercase).
    pub headers: Vec<String>,
    /// Compare every header except `ignore_headers` and the proxy-specific defaults.
    pub all_headers: bool,
    pub ignore_headers: Vec<String>,
    pub body: Option<BodyParity>,
}

impl Parity {
    pub fn is_empty(&self) -> bool {
        !self.status && self.headers.is_empty() && !self.all_headers && self.body.is_none()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyParity {
    Exact,
    /// Parse both as JSON and compare values (key order and whitespace do not matter).
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

/// Differences between `other` and `base`; empty when they agree or either failed.
pub fn compare(parity: &Parity, base: (&str, &Sample), other: (&str, &Sample)) -> Vec<String> {
    let (bn, bs) = base;
    let (on, os) = other;
    let (Some(b), Some(o)) = (&bs.response, &os.response) else {
        return Vec::new();
    };
    let mut diffs = Vec::new();
    if parity.status && b.status != o.status {
        diffs.push(format!(
            "status differs: {bn} {}, {on} {}",
            b.status, o.status
        ));
    }
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
    for name in &names {
        let (bv, ov) = (b.header(name), o.header(name));
        if bv != ov {
            let show = |v: &Option<String>| match v {
                Some(v) => format!("`{v}`"),
                None => "absent".to_owned(),
            };
            diffs.push(format!(
                "header `{name}` differs: {bn} {}, {on} {}",
                show(&bv),
                show(&ov)
            ));
        }
    }
    match parity.body {
        Some(BodyParity::Exact) if b.body.sha256 != o.body.sha256 => diffs.push(format!(
            "body differs: {bn} {} bytes (sha256 {}), {on} {} bytes (sha256 {})",
            b.body.size,
            short(&b.body.sha256),
            o.body.size,
            short(&o.body.sha256)
        )),
        Some(BodyParity::Json) => {
            let parse = |s: &[u8]| serde_json::from_slice::<serde_json::Value>(s);
            match (parse(&b.body.prefix), parse(&o.body.prefix)) {
                (Ok(x), Ok(y)) if x != y => diffs.push(format!(
                    "JSON body differs: {bn} {}, {on} {}",
                    clip(&x.to_string()),
                    clip(&y.to_string())
                )),
                (Ok(_), Ok(_)) => {}
                (bj, oj) => {
                    let state = |r: &Result<_, _>| if r.is_ok() { "JSON" } else { "not JSON" };
                    if bj.is_ok() != oj.is_ok() || b.body.sha256 != o.body.sha256 {
                        diffs.push(format!(
                            "JSON body differs: {bn} body is {}, {on} body is {}",
                            state(&bj),
                            state(&oj)
                        ));
                    }
                }
            }
        }
        _ => {}
    }
    diffs
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

fn clip(s: &str) -> String {
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s.to_owned()
    }
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
        assert!(compare(&p, ("ingress", &a), ("gateway", &b)).is_empty());
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
        let d = compare(&p, ("ingress", &a), ("gateway", &b));
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
        assert!(compare(&p, ("ingress", &a), ("gateway", &b)).is_empty());
        let c = sample(200, &[], r#"{"a":2,"b":[1,2]}"#);
        assert_eq!(compare(&p, ("ingress", &a), ("gateway", &c)).len(), 1);
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
            compare(&p, ("ingress", &a), ("gateway", &b)),
            ["header `cache-control` differs: ingress `no-store`, gateway absent"]
        );
    }
}
