//! A check's rules, each built for the analyzer that applies it: `expect`
//! (status, headers, body, JSON, latency), the CORS and DNS expectations, and
//! `parity`.
//!
//! Invariants: the rule types belong to `analyze` (this module only builds
//! them); an expectation that only one probe kind takes is reported on any
//! other check; a WebSocket check without `status` expects 101; regexes are
//! compiled and JSON pointers checked here, so analyzers never fail on them.

use regex::Regex;

use super::ctx::{regex_reason, Ctx};
use super::targets::TargetNames;
use crate::analyze::cors::CorsExpect;
use crate::analyze::dns::DnsExpect;
use crate::analyze::expect::{Expect, HeaderRule, StatusPattern};
use crate::analyze::grpc::GrpcExpect;
use crate::analyze::parity::{BodyParity, Parity};
use crate::jsondiff::Pattern;
use crate::probe::grpc::Code;
use crate::scenario::model::{
    RawCheck, RawDns, RawExpect, RawHeaderExpect, RawParity, PARITY_KEYS,
};
use crate::scenario::yaml::{did_you_mean, unknown_message, At, Entries, Loc};

/// Every rule of one check.
pub(super) struct Rules {
    pub(super) expect: Expect,
    pub(super) parity: Parity,
    pub(super) cors_expect: CorsExpect,
    pub(super) dns_expect: DnsExpect,
    pub(super) grpc_expect: GrpcExpect,
}

/// Builds a check's rules; kind-only expectations on another kind are reported.
pub(super) fn build_rules(cx: &Ctx, rc: &RawCheck, targets: &TargetNames) -> Rules {
    if let Some(e) = &rc.expect {
        let cors_only = [
            e.allow_origin.as_ref().map(|a| a.loc),
            e.max_age.as_ref().map(|a| a.loc),
        ];
        only_for(
            cx,
            rc.cors.is_some(),
            cors_only.into_iter().flatten(),
            "cors",
        );
        let dns_only = [
            e.significance.as_ref().map(|a| a.loc),
            e.max_ttl.as_ref().map(|a| a.loc),
        ]
        .into_iter()
        .flatten()
        .chain(
            e.weights
                .iter()
                .flat_map(|w| w.0.first().map(|(k, _)| k.loc)),
        );
        only_for(cx, rc.dns.is_some(), dns_only, "dns");
        let grpc_only = [
            e.grpc_code.as_ref().map(|a| a.loc),
            e.grpc_message.as_ref().map(|a| a.loc),
            e.messages.as_ref().map(|a| a.loc),
        ]
        .into_iter()
        .flatten()
        .chain(
            e.trailers
                .iter()
                .flat_map(|t| t.0.first().map(|(k, _)| k.loc)),
        );
        only_for(cx, rc.grpc.is_some(), grpc_only, "grpc");
    }
    let cors_expect = rc
        .expect
        .as_ref()
        .map(|e| build_cors_expect(cx, e))
        .unwrap_or_default();
    let dns_expect = match (&rc.expect, &rc.dns) {
        (Some(e), Some(d)) => build_dns_expect(cx, e, d, targets),
        (None, Some(d)) => build_dns_expect(cx, &RawExpect::default(), d, targets),
        _ => DnsExpect::default(),
    };
    let mut expect = rc
        .expect
        .as_ref()
        .map(|e| build_expect(cx, e))
        .unwrap_or_default();
    let mut parity = rc
        .parity
        .as_ref()
        .map(|p| build_parity(cx, p))
        .unwrap_or_default();
    if rc.websocket.is_some() && expect.status.is_empty() {
        expect.status.push(StatusPattern::Exact(101));
    }
    let grpc_expect = build_grpc_expect(cx, rc.expect.as_ref());
    if rc.grpc.is_some() {
        // A gRPC answer's HTTP status says little (errors come as 200 with a
        // grpc-status): the code is judged and compared instead.
        if expect.status.is_empty() {
            expect.status = (1..=5).map(StatusPattern::Class).collect();
        }
        parity.status = false;
    }
    Rules {
        expect,
        parity,
        cors_expect,
        dns_expect,
        grpc_expect,
    }
}

/// Reports expectations that only a `kind:` check takes, when this check is not one.
fn only_for(cx: &Ctx, applies: bool, locs: impl Iterator<Item = Loc>, kind: &str) {
    if !applies {
        for loc in locs {
            cx.err(
                loc,
                format!("this expectation is for `{kind}:` checks only"),
            );
        }
    }
}

fn build_expect(cx: &Ctx, e: &RawExpect) -> Expect {
    let mut out = Expect::default();
    if let Some(s) = &e.status {
        for p in &s.0 {
            let loc = if p.loc == Loc::default() {
                s.loc
            } else {
                p.loc
            };
            match parse_status(&p.value) {
                Some(pat) => out.status.push(pat),
                None => cx.err(
                    loc,
                    format!(
                        "invalid status `{}`: write a code like 200, a class like 2xx, or a list",
                        p.value
                    ),
                ),
            }
        }
    }
    out.headers = header_rules(cx, e.headers.as_ref(), "header");
    if let Some(b) = &e.body_contains {
        out.body_contains = b.0.iter().map(|s| s.value.clone()).collect();
    }
    for (ptr, value) in e.json.as_ref().map(|j| j.0.as_slice()).unwrap_or_default() {
        if !ptr.value.is_empty() && !ptr.starts_with('/') {
            cx.err(
                ptr.loc,
                format!(
                    "invalid JSON pointer `{}`: it starts with `/`, like /items/0/id",
                    ptr.value
                ),
            );
            continue;
        }
        out.json.push((ptr.value.clone(), value.clone()));
    }
    out.max_latency = e.max_latency.as_ref().and_then(|m| cx.duration(m));
    out
}

/// `headers:` (or `trailers:`) rules, names lowercased; a bad regex is reported.
fn header_rules(
    cx: &Ctx,
    entries: Option<&Entries<At<RawHeaderExpect>>>,
    what: &str,
) -> Vec<(String, HeaderRule)> {
    let mut out = Vec::new();
    for (name, rule) in entries.map(|h| h.0.as_slice()).unwrap_or_default() {
        let lname = name.value.to_ascii_lowercase();
        let rule = match &rule.value {
            RawHeaderExpect::Equals(v) => HeaderRule::Equals(v.clone()),
            RawHeaderExpect::Contains(v) => HeaderRule::Contains(v.clone()),
            RawHeaderExpect::Absent => HeaderRule::Absent,
            RawHeaderExpect::Regex(r) => match Regex::new(r) {
                Ok(re) => HeaderRule::Regex(re),
                Err(err) => {
                    cx.err(
                        rule.loc,
                        format!(
                            "invalid regex `{r}` for {what} `{lname}`: {}",
                            regex_reason(&err)
                        ),
                    );
                    continue;
                }
            },
        };
        out.push((lname, rule));
    }
    out
}

/// A gRPC check's expectations: the code (OK unless said), the message,
/// trailers and the number of streamed messages.
fn build_grpc_expect(cx: &Ctx, e: Option<&RawExpect>) -> GrpcExpect {
    let mut out = GrpcExpect::default();
    let Some(e) = e else {
        return out;
    };
    if let Some(c) = &e.grpc_code {
        match Code::parse(&c.value.0) {
            Some(code) => out.code = code,
            None => cx.err(
                c.loc,
                format!(
                    "`{}` is not a gRPC status code: write a name like OK, NOT_FOUND, UNAVAILABLE or a number 0–16",
                    c.value.0
                ),
            ),
        }
    }
    out.message = e.grpc_message.as_ref().map(|m| m.value.clone());
    out.trailers = header_rules(cx, e.trailers.as_ref(), "trailer");
    out.messages = e.messages.as_ref().map(|m| m.value);
    out
}

fn parse_status(s: &str) -> Option<StatusPattern> {
    let s = s.trim().to_ascii_lowercase();
    if let Some(c) = s.strip_suffix("xx") {
        let c: u16 = c.parse().ok()?;
        return (1..=5).contains(&c).then_some(StatusPattern::Class(c));
    }
    let n: u16 = s.parse().ok()?;
    (100..=599).contains(&n).then_some(StatusPattern::Exact(n))
}

fn build_cors_expect(cx: &Ctx, e: &RawExpect) -> CorsExpect {
    let max_age = e.max_age.as_ref().and_then(|m| {
        let parse = |s: &str| s.trim().parse::<u64>().ok();
        let range = match m.value.split_once("..") {
            Some((lo, hi)) => parse(lo).zip(parse(hi.trim_start_matches('='))),
            None => parse(&m.value).map(|v| (v, v)),
        };
        if range.is_none() {
            cx.err(
                m.loc,
                format!(
                    "invalid max_age `{}`: write seconds (600) or a range (600..86400)",
                    m.value
                ),
            );
        }
        range
    });
    CorsExpect {
        allow_origin: e.allow_origin.as_ref().map(|a| a.value.clone()),
        allow_credentials: e.allow_credentials,
        max_age,
    }
}

fn build_dns_expect(cx: &Ctx, e: &RawExpect, d: &At<RawDns>, targets: &TargetNames) -> DnsExpect {
    let mut out = DnsExpect::default();
    for (name, w) in e
        .weights
        .as_ref()
        .map(|w| w.0.as_slice())
        .unwrap_or_default()
    {
        if !(w.value.is_finite() && w.value >= 0.0) {
            cx.err(w.loc, "a weight is a number of 0 or more");
            continue;
        }
        if let Some(t) = targets.resolve(cx, name) {
            out.weights.push((t, w.value));
        }
    }
    if let Some(s) = &e.significance {
        if !(s.value > 0.0 && s.value < 1.0) {
            cx.err(
                s.loc,
                "`significance` is a p-value between 0 and 1, like 0.001",
            );
        } else {
            out.significance = s.value;
        }
    }
    out.max_ttl = e
        .max_ttl
        .as_ref()
        .and_then(|t| cx.duration(t))
        .map(|d| d.as_secs() as u32);
    if e.routable_only == Some(false) {
        out.allow.push((std::net::IpAddr::from([0u8; 4]), 0));
        out.allow.push((std::net::IpAddr::from([0u16; 8]), 0));
    }
    for net in d.allow_private.iter().flatten() {
        let (ip, len) = net.value.split_once('/').unwrap_or((&net.value, ""));
        match ip.parse::<std::net::IpAddr>() {
            Ok(ip) => {
                let max = if ip.is_ipv4() { 32 } else { 128 };
                let len = if len.is_empty() {
                    Ok(max)
                } else {
                    len.parse::<u8>()
                };
                match len {
                    Ok(l) if l <= max => out.allow.push((ip, l)),
                    _ => cx.err(
                        net.loc,
                        format!(
                            "invalid network `{}`: write an address or a CIDR, like 127.0.0.0/8",
                            net.value
                        ),
                    ),
                }
            }
            Err(_) => cx.err(
                net.loc,
                format!(
                    "invalid network `{}`: write an address or a CIDR, like 127.0.0.0/8",
                    net.value
                ),
            ),
        }
    }
    out
}

fn build_parity(cx: &Ctx, p: &At<RawParity>) -> Parity {
    const ITEMS: &[&str] = &[
        "status",
        "headers",
        "body",
        "body:json",
        "header:NAME",
        "ignore:NAME",
        "ignore:/POINTER",
        "noise:off",
    ];
    const WORDS: &[&str] = &[
        "status",
        "headers",
        "body",
        "body:json",
        "noise:on",
        "noise:off",
        "noise_unsafe",
    ];
    let mut out = Parity::default();
    for item in &p.items {
        let loc = if item.loc == Loc::default() {
            p.loc
        } else {
            item.loc
        };
        let v = item.value.trim();
        let (key, arg) = match v.split_once(':') {
            Some((k, a)) => (k, Some(a.trim())),
            None => (v, None),
        };
        match (key, arg) {
            ("status", None) => out.status = true,
            ("headers", None) => out.all_headers = true,
            ("body", None) => out.body = Some(BodyParity::Exact),
            ("body", Some("json")) => out.body = Some(BodyParity::Json),
            ("body", Some("exact")) => out.body = Some(BodyParity::Exact),
            ("header", Some(h)) => out.headers.push(h.to_ascii_lowercase()),
            ("ignore", Some(ptr)) if ptr.starts_with('/') => pointer(cx, loc, ptr, &mut out),
            ("ignore", Some(h)) => out.ignore_headers.push(h.to_ascii_lowercase()),
            ("ignore_pointer", Some(ptr)) => pointer(cx, loc, ptr, &mut out),
            ("noise", Some(w)) => match on_off(w) {
                Some(on) => out.noise = on,
                None => cx.err(loc, format!("invalid noise `{w}`: write on or off")),
            },
            ("noise_unsafe", None) => out.noise_unsafe = true,
            ("noise_unsafe", Some(w)) => match on_off(w) {
                Some(on) => out.noise_unsafe = on,
                None => cx.err(
                    loc,
                    format!("invalid noise_unsafe `{w}`: write true or false"),
                ),
            },
            ("noise_samples", Some(n)) => match n.parse::<u32>() {
                Ok(n) if (1..=20).contains(&n) => out.noise_samples = n,
                _ => cx.err(
                    loc,
                    format!(
                        "invalid noise_samples `{n}`: write a count from 1 to 20 (or `noise: off`)"
                    ),
                ),
            },
            _ if v.starts_with('?') => {
                cx.err(loc, unknown_message("parity field", &v[1..], PARITY_KEYS));
            }
            _ => {
                let hint = did_you_mean(v, WORDS)
                    .map(|s| format!(", did you mean `{s}`?"))
                    .unwrap_or_else(|| {
                        format!(
                            ", expected one of {}",
                            ITEMS
                                .iter()
                                .map(|i| format!("`{i}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    });
                cx.err(loc, format!("unknown parity item `{v}`{hint}"));
            }
        }
    }
    out
}

/// An ignore pattern, reported at `loc` when it is not one.
fn pointer(cx: &Ctx, loc: Loc, text: &str, out: &mut Parity) {
    match Pattern::parse(text) {
        Ok(p) => out.ignore.push(p),
        Err(e) => cx.err(loc, e),
    }
}

fn on_off(w: &str) -> Option<bool> {
    match w.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Some(true),
        "off" | "false" | "no" => Some(false),
        _ => None,
    }
}
