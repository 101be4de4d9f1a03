//! CORS rules: is each target's answer to a browser's preflight acceptable,
//! and is it the same answer on both paths?
//!
//! Preflight: a 2xx; `Access-Control-Allow-Origin` is the origin or `*` (and
//! `*` together with credentials is a finding: browsers reject it);
//! `Allow-Methods` covers the method; `Allow-Headers` covers every requested
//! header (case-insensitive, `*` allowed); `Allow-Credentials` and `Max-Age`
//! as expected; `Vary: Origin` when the origin is echoed. A disallowed origin
//! must get no `Allow-Origin` for it (Envoy forwards such a preflight to the
//! app, which may reflect it). The actual request carries `Allow-Origin` too.

use crate::probe::cors::CorsResult;
use crate::probe::{Response, Sample};

/// What the scenario expects of the preflight answer.
#[derive(Clone, Debug, Default)]
pub struct CorsExpect {
    /// The exact `Access-Control-Allow-Origin` (default: the origin, or `*`).
    pub allow_origin: Option<String>,
    pub allow_credentials: Option<bool>,
    /// Inclusive bounds on `Access-Control-Max-Age`, in seconds.
    pub max_age: Option<(u64, u64)>,
}

/// The CORS headers of one answer, normalised for comparison.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CorsHeaders {
    pub status: Option<u16>,
    pub allow_origin: Option<String>,
    pub allow_credentials: Option<String>,
    pub allow_methods: Option<String>,
    pub allow_headers: Option<String>,
    pub max_age: Option<String>,
    pub vary: Option<String>,
}

impl CorsHeaders {
    pub fn of(sample: &Sample) -> CorsHeaders {
        let Some(r) = &sample.response else {
            return CorsHeaders::default();
        };
        CorsHeaders {
            status: Some(r.status),
            allow_origin: r.header("access-control-allow-origin"),
            allow_credentials: r.header("access-control-allow-credentials"),
            allow_methods: r
                .header("access-control-allow-methods")
                .map(|v| normalise_list(&v)),
            allow_headers: r
                .header("access-control-allow-headers")
                .map(|v| normalise_list(&v)),
            max_age: r.header("access-control-max-age"),
            vary: r.header("vary"),
        }
    }
}

/// `GET, put,POST` → `get, post, put`: order and case do not matter in these lists.
fn normalise_list(v: &str) -> String {
    let mut items: Vec<String> = v
        .split(',')
        .map(|i| i.trim().to_ascii_lowercase())
        .filter(|i| !i.is_empty())
        .collect();
    items.sort();
    items.dedup();
    items.join(", ")
}

fn list_covers(list: Option<&String>, wanted: &str) -> bool {
    list.is_some_and(|l| {
        l.split(", ")
            .any(|i| i == "*" || i.eq_ignore_ascii_case(wanted))
    })
}

/// The broken rules, as sentences.
pub fn evaluate(
    expect: &CorsExpect,
    origin: &str,
    method: &str,
    request_headers: &[String],
    disallowed: Option<&str>,
    result: &CorsResult,
) -> Vec<String> {
    let mut fails = Vec::new();
    let p = &result.preflight;
    if let Some(e) = &p.error {
        fails.push(format!("preflight failed ({}): {}", e.kind, e.message));
        return fails;
    }
    let h = CorsHeaders::of(p);
    match h.status {
        Some(s) if (200..300).contains(&s) => {}
        Some(s) => fails.push(format!("preflight answered {s}, not 2xx")),
        None => {}
    }
    let creds = h
        .allow_credentials
        .as_deref()
        .is_some_and(|c| c.eq_ignore_ascii_case("true"));
    match h.allow_origin.as_deref() {
        None => fails.push(format!(
            "preflight has no Access-Control-Allow-Origin for `{origin}`"
        )),
        Some(got) => {
            let wanted = expect.allow_origin.as_deref();
            if let Some(w) = wanted {
                if got != w {
                    fails.push(format!(
                        "Access-Control-Allow-Origin is `{got}` where `{w}` was expected"
                    ));
                }
            } else if got != origin && got != "*" {
                fails.push(format!(
                    "Access-Control-Allow-Origin is `{got}`, neither `{origin}` nor `*`"
                ));
            }
            if got == "*" && creds {
                fails.push("Access-Control-Allow-Origin `*` with Allow-Credentials `true`: browsers reject credentialed requests to this".into());
            }
            if got == origin
                && !h
                    .vary
                    .as_deref()
                    .is_some_and(|v| v.to_ascii_lowercase().contains("origin"))
            {
                fails.push("the origin is echoed without `Vary: Origin`: caches may serve it to other origins".into());
            }
        }
    }
    let m = method.to_ascii_lowercase();
    let simple = matches!(m.as_str(), "get" | "head" | "post");
    if !simple && !list_covers(h.allow_methods.as_ref(), &m) {
        fails.push(format!(
            "Access-Control-Allow-Methods ({}) does not cover {method}",
            h.allow_methods.as_deref().unwrap_or("absent")
        ));
    }
    for wanted in request_headers {
        if !list_covers(h.allow_headers.as_ref(), wanted) {
            fails.push(format!(
                "Access-Control-Allow-Headers ({}) does not cover `{wanted}`",
                h.allow_headers.as_deref().unwrap_or("absent")
            ));
        }
    }
    if let Some(want) = expect.allow_credentials {
        if creds != want {
            fails.push(format!(
                "Access-Control-Allow-Credentials is {} where {want} was expected",
                h.allow_credentials
                    .as_deref()
                    .map(|c| format!("`{c}`"))
                    .unwrap_or_else(|| "absent".into())
            ));
        }
    }
    if let Some((lo, hi)) = expect.max_age {
        match h.max_age.as_deref().map(|v| v.trim().parse::<u64>()) {
            Some(Ok(v)) if v >= lo && v <= hi => {}
            Some(Ok(v)) if lo == hi => fails.push(format!(
                "Access-Control-Max-Age is {v} where {lo} was expected"
            )),
            Some(Ok(v)) => fails.push(format!(
                "Access-Control-Max-Age is {v}, outside {lo}..={hi}"
            )),
            _ => fails.push(format!(
                "Access-Control-Max-Age is {} where a number was expected",
                h.max_age
                    .as_deref()
                    .map(|v| format!("`{v}`"))
                    .unwrap_or_else(|| "absent".into())
            )),
        }
    }
    if let (Some(bad), Some(neg)) = (disallowed, &result.negative) {
        if let Some(r) = &neg.response {
            if let Some(acao) = r.header("access-control-allow-origin") {
                if acao == bad || acao == "*" {
                    fails.push(format!(
                        "the disallowed origin `{bad}` is allowed: Access-Control-Allow-Origin `{acao}` (answered by {})",
                        r.origin.as_str()
                    ));
                }
            }
        }
    }
    if let Some(actual) = &result.actual {
        match actual
            .response
            .as_ref()
            .map(|r: &Response| r.header("access-control-allow-origin"))
        {
            Some(Some(acao)) if acao == origin || acao == "*" => {}
            Some(Some(acao)) => fails.push(format!(
                "the actual request's Access-Control-Allow-Origin is `{acao}`, not `{origin}`"
            )),
            Some(None) => fails
                .push("the actual request's response has no Access-Control-Allow-Origin".into()),
            None => {}
        }
    }
    fails
}

/// Differences between two targets' preflight answers, naming both values.
pub fn compare(base: (&str, &CorsResult), other: (&str, &CorsResult)) -> Vec<String> {
    let (bn, b) = (base.0, CorsHeaders::of(&base.1.preflight));
    let (on, o) = (other.0, CorsHeaders::of(&other.1.preflight));
    let show = |v: &Option<String>| {
        v.as_deref()
            .map(|s| format!("`{s}`"))
            .unwrap_or_else(|| "absent".into())
    };
    let mut diffs = Vec::new();
    if b.status != o.status {
        let s = |v: Option<u16>| {
            v.map(|s| s.to_string())
                .unwrap_or_else(|| "no answer".into())
        };
        diffs.push(format!(
            "preflight status differs: {bn} {}, {on} {}",
            s(b.status),
            s(o.status)
        ));
    }
    let fields: [(&str, &Option<String>, &Option<String>); 6] = [
        (
            "Access-Control-Allow-Origin",
            &b.allow_origin,
            &o.allow_origin,
        ),
        (
            "Access-Control-Allow-Credentials",
            &b.allow_credentials,
            &o.allow_credentials,
        ),
        (
            "Access-Control-Allow-Methods",
            &b.allow_methods,
            &o.allow_methods,
        ),
        (
            "Access-Control-Allow-Headers",
            &b.allow_headers,
            &o.allow_headers,
        ),
        ("Access-Control-Max-Age", &b.max_age, &o.max_age),
        ("Vary", &b.vary, &o.vary),
    ];
    for (name, x, y) in fields {
        if x != y {
            diffs.push(format!(
                "preflight {name} differs: {bn} {}, {on} {}",
                show(x),
                show(y)
            ));
        }
    }
    diffs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Origin;
    use std::time::Duration;

    fn answer(status: u16, headers: &[(&str, &str)]) -> Sample {
        Sample {
            url: "http://x/".into(),
            response: Some(Response {
                status,
                headers: headers
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
                origin: Origin::Ingress,
                ..Default::default()
            }),
            error: None,
            latency: Duration::ZERO,
            ttfb: None,
        }
    }

    const O: &str = "https://app.example.test";

    fn nginx_like() -> Sample {
        answer(
            204,
            &[
                ("access-control-allow-origin", O),
                ("access-control-allow-credentials", "true"),
                ("access-control-allow-methods", "GET, PUT, POST, DELETE, PATCH, OPTIONS"),
                ("access-control-allow-headers", "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization"),
                ("access-control-max-age", "1728000"),
                ("vary", "Origin"),
            ],
        )
    }

    fn result(preflight: Sample) -> CorsResult {
        CorsResult {
            preflight,
            negative: None,
            actual: None,
        }
    }

    fn eval(expect: &CorsExpect, r: &CorsResult) -> Vec<String> {
        evaluate(
            expect,
            O,
            "PUT",
            &["authorization".into(), "content-type".into()],
            Some("https://evil.example"),
            r,
        )
    }

    #[test]
    fn a_complete_answer_passes_every_rule() {
        let e = CorsExpect {
            allow_credentials: Some(true),
            max_age: Some((600, 2_000_000)),
            ..Default::default()
        };
        assert!(eval(&e, &result(nginx_like())).is_empty());
    }

    #[test]
    fn each_rule_fails_with_a_sentence() {
        let r = result(answer(
            403,
            &[
                ("access-control-allow-origin", "*"),
                ("access-control-allow-credentials", "true"),
                ("access-control-allow-methods", "GET"),
                ("access-control-allow-headers", "content-type"),
                ("access-control-max-age", "600"),
            ],
        ));
        let e = CorsExpect {
            allow_credentials: Some(false),
            max_age: Some((1728000, 1728000)),
            ..Default::default()
        };
        let f = eval(&e, &r);
        let has = |s: &str| assert!(f.iter().any(|x| x.contains(s)), "{s:?} not in {f:#?}");
        has("preflight answered 403");
        has("`*` with Allow-Credentials `true`");
        has("does not cover PUT");
        has("does not cover `authorization`");
        has("Allow-Credentials is `true` where false was expected");
        has("Max-Age is 600 where 1728000 was expected");
    }

    #[test]
    fn echoed_origin_needs_vary_and_a_missing_origin_fails() {
        let r = result(answer(
            204,
            &[
                ("access-control-allow-origin", O),
                ("access-control-allow-methods", "*"),
                ("access-control-allow-headers", "*"),
            ],
        ));
        assert_eq!(
            eval(&CorsExpect::default(), &r),
            ["the origin is echoed without `Vary: Origin`: caches may serve it to other origins"]
        );
        let r = result(answer(204, &[]));
        assert!(eval(&CorsExpect::default(), &r)[0].contains("no Access-Control-Allow-Origin"));
    }

    #[test]
    fn a_disallowed_origin_that_is_allowed_leaks() {
        let mut r = result(nginx_like());
        r.negative = Some(answer(
            204,
            &[("access-control-allow-origin", "https://evil.example")],
        ));
        let f = eval(&CorsExpect::default(), &r);
        assert_eq!(f.len(), 1);
        assert!(f[0].starts_with("the disallowed origin `https://evil.example` is allowed"));
        r.negative = Some(answer(204, &[]));
        assert!(eval(&CorsExpect::default(), &r).is_empty());
    }

    #[test]
    fn the_actual_request_needs_allow_origin() {
        let mut r = result(nginx_like());
        r.actual = Some(answer(200, &[]));
        assert_eq!(
            eval(&CorsExpect::default(), &r),
            ["the actual request's response has no Access-Control-Allow-Origin"]
        );
    }

    #[test]
    fn parity_names_both_values_and_ignores_list_order_and_case() {
        let a = result(nginx_like());
        let mut b = result(answer(
            200,
            &[
                ("access-control-allow-origin", O),
                (
                    "access-control-allow-methods",
                    "options, patch, delete, post, put, get",
                ),
                ("access-control-allow-headers", "content-type,authorization"),
                ("access-control-max-age", "600"),
                ("vary", "Origin"),
            ],
        ));
        let d = compare(("ingress", &a), ("gateway", &b));
        assert_eq!(d[0], "preflight status differs: ingress 204, gateway 200");
        assert_eq!(
            d[1],
            "preflight Access-Control-Allow-Credentials differs: ingress `true`, gateway absent"
        );
        assert!(d[2].starts_with("preflight Access-Control-Allow-Headers differs"));
        assert_eq!(
            d[3],
            "preflight Access-Control-Max-Age differs: ingress `1728000`, gateway `600`"
        );
        assert_eq!(d.len(), 4, "methods differ only in order and case: {d:#?}");
        b.preflight = nginx_like();
        assert!(compare(("ingress", &a), ("gateway", &b)).is_empty());
    }
}
