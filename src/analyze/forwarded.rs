//! Judging forwarded headers side by side: what reached the backend through
//! each target, read back from an echo endpoint.
//!
//! The headers compared are the proxy-set ones ([`FORWARDED`]). A header the
//! baseline's path sets and the target's does not is a failure (an app
//! reading `x-real-ip` breaks silently); one only the target sets is
//! information. A value that differs in meaning (another scheme, another
//! host, another client address, a port other than the one the client
//! connected to on one side only) is a failure; values that differ per
//! request (`x-request-id`) are not compared. Invariant: pure.

use super::finding::{Evidence, Finding, FindingKind, Level, PointerDiff};
use super::sides::Sides;
use crate::probe::forwarded::ForwardedResult;

/// The headers proxies set towards the app.
pub const FORWARDED: &[&str] = &[
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-proto",
    "x-forwarded-scheme",
    "x-original-forwarded-for",
    "x-real-ip",
    "x-request-id",
    "x-scheme",
];

/// Headers whose value changes per request: compared for presence only.
const PER_REQUEST: &[&str] = &["x-request-id"];

const HINT: &str = "ingress-nginx sets X-Real-IP, X-Forwarded-Host, X-Forwarded-Port and X-Scheme; Envoy sets X-Forwarded-For and X-Forwarded-Proto (and x-request-id) only. Make the app read X-Forwarded-For (the last trusted hop) and X-Forwarded-Proto, or add the missing headers on the gateway: an HTTPRoute `RequestHeaderModifier` filter for fixed values, Envoy's `%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%` for the client address (Envoy Gateway: ClientTrafficPolicy `headers`/EnvoyPatchPolicy; kgateway: a TrafficPolicy transformation)";

/// The findings of `t` against the baseline's `b`.
pub fn compare(side: &Sides, b: &ForwardedResult, t: &ForwardedResult) -> Vec<Finding> {
    let (base, target) = (side.baseline, side.target);
    let mut out = Vec::new();
    if let Some(why) = b.unreadable.as_ref().or(t.unreadable.as_ref()) {
        out.push(side.finding(
            FindingKind::ForwardedHeaders,
            Level::Fail,
            format!("the headers that reached the backend could not be read: {why}; point `echo_path` at an endpoint that answers with the request's headers as JSON"),
        ));
        return out;
    }
    if b.sample.response.is_none() || t.sample.response.is_none() {
        return out;
    }
    let mut missing = Vec::new();
    let mut extra = Vec::new();
    let mut differ = Vec::new();
    for &name in FORWARDED {
        match (b.received.get(name), t.received.get(name)) {
            (Some(bv), None) => missing.push(PointerDiff {
                pointer: name.to_owned(),
                baseline: Some(bv.clone()),
                target: None,
            }),
            (None, Some(tv)) => extra.push(PointerDiff {
                pointer: name.to_owned(),
                baseline: None,
                target: Some(tv.clone()),
            }),
            (Some(bv), Some(tv))
                if !PER_REQUEST.contains(&name)
                    && meaning(name, bv, b.client_port) != meaning(name, tv, t.client_port) =>
            {
                differ.push(PointerDiff {
                    pointer: name.to_owned(),
                    baseline: Some(bv.clone()),
                    target: Some(tv.clone()),
                })
            }
            _ => {}
        }
    }
    let names = |d: &[PointerDiff]| {
        d.iter()
            .map(|d| d.pointer.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let evidence = |d: Vec<PointerDiff>| Evidence::Parity {
        what: "forwarded headers".into(),
        baseline_target: base.to_owned(),
        differences: d,
        unlisted: 0,
        noise: Vec::new(),
    };
    if !missing.is_empty() {
        out.push(
            side.finding(
                FindingKind::ForwardedHeaders,
                Level::Fail,
                format!(
                    "the backend gets {} through {base} but not through {target}: an app that reads {} breaks silently",
                    names(&missing),
                    if missing.len() == 1 { "it" } else { "them" }
                ),
            )
            .with_hint(HINT)
            .with_evidence(evidence(missing)),
        );
    }
    if !differ.is_empty() {
        out.push(
            side.finding(
                FindingKind::ForwardedHeaders,
                Level::Fail,
                format!(
                    "the backend gets {} with another meaning through {target} than through {base}",
                    names(&differ)
                ),
            )
            .with_hint(HINT)
            .with_evidence(evidence(differ)),
        );
    }
    if !extra.is_empty() {
        out.push(
            side.finding(
                FindingKind::ForwardedHeaders,
                Level::Info,
                format!(
                    "the backend also gets {} through {target}, not through {base}",
                    names(&extra)
                ),
            )
            .with_evidence(evidence(extra)),
        );
    }
    out
}

/// What a value means, for comparison: the client address of an address
/// list (its first entry), a lowercased scheme or host, and for a port
/// whether it is the one the client connected to (two load balancers on
/// different addresses may listen on different ports and mean the same).
fn meaning(name: &str, value: &str, client_port: u16) -> String {
    let v = value.trim().to_ascii_lowercase();
    match name {
        "x-forwarded-port" if v == client_port.to_string() => "the client's port".to_owned(),
        "x-forwarded-for" | "x-original-forwarded-for" => {
            v.split(',').next().unwrap_or("").trim().to_owned()
        }
        "x-forwarded-host" => v.rsplit_once(':').map_or(v.clone(), |(h, _)| h.to_owned()),
        _ => v,
    }
}
