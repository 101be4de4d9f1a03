//! The probe of each check: `http:`, `websocket:`, `cors:` or `dns:`, validated
//! into the spec its probe runs.
//!
//! Invariants: a check has exactly one probe (a second is reported, the first
//! is built); every spec has its timeout resolved (the check's, else the
//! scenario default) and its path starting with `/`; timeouts and intervals
//! are more than zero; a `body_file` is a regular file of at most 16 MiB; a
//! WebSocket message cap is between 1 byte and 64 MiB; a DNS check samples at
//! most 1,000,000/s with at most 10,000 queries at once; a spec is only
//! returned when none of its values was reported.

use std::time::Duration;

use bytes::Bytes;
use regex::Regex;

use super::ctx::{optional_duration, path_and_query, regex_reason, Ctx};
use super::limits::{
    DEFAULT_CHECK_MAX_MESSAGE, DEFAULT_PONG_TIMEOUT, MAX_BODY_FILE, MAX_CONCURRENCY, MAX_MESSAGE,
    MAX_RATE,
};
use super::targets::validate_host;
use super::{Defaults, ProbeSpec};
use crate::probe::cors::CorsSpec;
use crate::probe::dns::DnsSpec;
use crate::probe::http::{HttpSpec, Version};
use crate::probe::websocket::{Reply, WsMessage, WsSpec};
use crate::scenario::model::{RawCheck, RawCors, RawDns, RawHttp, RawWebSocket, RawWsMessage};
use crate::scenario::units::format_size;
use crate::scenario::yaml::{unknown_message, At, Loc};

/// The check's one probe, or `None` (with the reason reported).
pub(super) fn build_probe(
    cx: &mut Ctx,
    rc: &RawCheck,
    defaults: &Defaults,
    host: &str,
) -> Option<ProbeSpec> {
    let kinds: Vec<(&str, Loc)> = [
        rc.http.as_ref().map(|h| ("http", h.loc)),
        rc.websocket.as_ref().map(|w| ("websocket", w.loc)),
        rc.cors.as_ref().map(|c| ("cors", c.loc)),
        rc.dns.as_ref().map(|d| ("dns", d.loc)),
        rc.rate_limit.as_ref().map(|d| ("rate_limit", d.loc)),
        rc.body_limit.as_ref().map(|d| ("body_limit", d.loc)),
        rc.route_timeout.as_ref().map(|d| ("route_timeout", d.loc)),
        rc.redirect.as_ref().map(|d| ("redirect", d.loc)),
        rc.forwarded_headers
            .as_ref()
            .map(|d| ("forwarded_headers", d.loc)),
        rc.hostnames.as_ref().map(|d| ("hostnames", d.loc)),
        rc.grpc.as_ref().map(|d| ("grpc", d.loc)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if kinds.len() > 1 {
        cx.err(
            kinds[1].1,
            format!(
                "check `{}` has more than one probe ({}): give each its own check",
                rc.name.value,
                kinds.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
            ),
        );
    }
    if let Some(http) = &rc.http {
        build_http(
            cx,
            http,
            defaults.timeout,
            defaults.body_cap,
            defaults.follow_redirects,
        )
        .map(ProbeSpec::Http)
    } else if let Some(ws) = &rc.websocket {
        build_websocket(cx, ws, defaults.timeout).map(ProbeSpec::WebSocket)
    } else if let Some(c) = &rc.cors {
        build_cors(cx, c, defaults.timeout, defaults.body_cap).map(ProbeSpec::Cors)
    } else if let Some(d) = &rc.dns {
        build_dns(cx, d, host).map(ProbeSpec::Dns)
    } else if let Some(g) = &rc.grpc {
        super::grpc::build(cx, g, defaults.timeout).map(ProbeSpec::Grpc)
    } else if kinds.is_empty() {
        cx.err(
            rc.name.loc,
            format!(
                "check `{}` has no probe: add one of `http:`, `websocket:`, `cors:`, `dns:`, `rate_limit:`, `body_limit:`, `route_timeout:`, `redirect:`, `forwarded_headers:`, `hostnames:`, `grpc:`",
                rc.name.value
            ),
        );
        None
    } else {
        super::behaviour::build(cx, rc, defaults).map(ProbeSpec::Behaviour)
    }
}

fn build_http(
    cx: &mut Ctx,
    http: &At<RawHttp>,
    default_timeout: Duration,
    default_cap: u64,
    follow_default: bool,
) -> Option<HttpSpec> {
    let mut ok = true;
    let method = match &http.method {
        Some(m) => match reqwest::Method::from_bytes(m.value.to_ascii_uppercase().as_bytes()) {
            Ok(m) => m,
            Err(_) => {
                cx.err(m.loc, format!("invalid HTTP method `{}`", m.value));
                ok = false;
                reqwest::Method::GET
            }
        },
        None => reqwest::Method::GET,
    };
    let path_and_query = path_and_query(cx, http.path.as_ref(), http.query.as_ref())
        .unwrap_or_else(|| {
            ok = false;
            String::new()
        });
    let host = http.host.as_ref().and_then(|h| {
        let v = validate_host(cx, h);
        ok &= v.is_some();
        v
    });
    // Check headers are validated even when targets repeat them.
    let mut headers = Vec::new();
    for (n, v) in cx.headers(http.headers.as_ref()) {
        headers.push((n, v));
    }
    let sources = [
        http.body.is_some(),
        http.body_file.is_some(),
        http.json.is_some(),
    ];
    if sources.iter().filter(|b| **b).count() > 1 {
        cx.err(
            http.loc,
            "give at most one of `body`, `body_file` and `json`",
        );
        ok = false;
    }
    let body = if let Some(b) = &http.body {
        Some(Bytes::from(b.clone()))
    } else if let Some(f) = &http.body_file {
        match cx.file(f, "body file", MAX_BODY_FILE) {
            Some((_, bytes)) => Some(Bytes::from(bytes)),
            None => {
                ok = false;
                None
            }
        }
    } else if let Some(j) = &http.json {
        if !headers.iter().any(|(n, _)| n == "content-type") {
            headers.push(("content-type".into(), "application/json".into()));
        }
        Some(Bytes::from(serde_json::to_vec(j).ok()?))
    } else {
        None
    };
    let timeout = match &http.timeout {
        Some(t) => cx.positive_duration(t, "a timeout").or_else(|| {
            ok = false;
            None
        }),
        None => Some(default_timeout),
    };
    let body_cap = match &http.body_cap {
        Some(s) => cx.size(s).or_else(|| {
            ok = false;
            None
        }),
        None => Some(default_cap),
    };
    let version = match &http.version {
        Some(v) => match Version::parse(&v.value) {
            Some(v) => v,
            None => {
                cx.err(
                    v.loc,
                    format!(
                        "unknown HTTP version `{}`: write `auto` (ALPN on https, the default), `h1`, `h2` (over TLS) or `h2c` (cleartext HTTP/2)",
                        v.value
                    ),
                );
                ok = false;
                Version::Auto
            }
        },
        None => Version::Auto,
    };
    if !ok {
        return None;
    }
    Some(HttpSpec {
        method,
        path_and_query,
        host,
        headers,
        body,
        timeout: timeout?,
        follow_redirects: http.follow_redirects.unwrap_or(follow_default),
        body_cap: body_cap?,
        version,
    })
}

fn build_websocket(
    cx: &mut Ctx,
    ws: &At<RawWebSocket>,
    default_timeout: Duration,
) -> Option<WsSpec> {
    use base64::Engine as _;
    let mut ok = true;
    let pq = path_and_query(cx, ws.path.as_ref(), ws.query.as_ref());
    ok &= pq.is_some();
    let host = ws.host.as_ref().and_then(|h| {
        let v = validate_host(cx, h);
        ok &= v.is_some();
        v
    });
    let headers = cx.headers(ws.headers.as_ref());
    let mut send = Vec::new();
    for m in ws.send.iter().flatten() {
        match &m.value {
            RawWsMessage::Text(t) => send.push(WsMessage::Text(t.clone())),
            RawWsMessage::Binary(b) => match base64::engine::general_purpose::STANDARD.decode(b) {
                Ok(bytes) => send.push(WsMessage::Binary(Bytes::from(bytes))),
                Err(e) => {
                    cx.err(m.loc, format!("invalid base64 in a binary message: {e}"));
                    ok = false;
                }
            },
        }
    }
    let given = [
        ws.expect_echo == Some(true),
        ws.expect_regex.is_some(),
        ws.expect_json.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        cx.err(
            ws.loc,
            "give at most one of `expect_echo`, `expect_regex` and `expect_json`",
        );
        ok = false;
    }
    let reply = if ws.expect_echo == Some(true) {
        Reply::Echo
    } else if let Some(r) = &ws.expect_regex {
        match Regex::new(r) {
            Ok(re) => Reply::Regex(re),
            Err(e) => {
                cx.err(
                    r.loc,
                    format!("invalid regex `{}`: {}", r.value, regex_reason(&e)),
                );
                ok = false;
                Reply::Any
            }
        }
    } else if let Some(j) = &ws.expect_json {
        let mut rules = Vec::new();
        for (ptr, v) in &j.0 {
            if !ptr.value.is_empty() && !ptr.starts_with('/') {
                cx.err(
                    ptr.loc,
                    format!(
                        "invalid JSON pointer `{}`: it starts with `/`, like /items/0/id",
                        ptr.value
                    ),
                );
                ok = false;
            }
            rules.push((ptr.value.clone(), v.clone()));
        }
        Reply::Json(rules)
    } else {
        Reply::Any
    };
    let timeout = optional_duration(
        cx,
        ws.timeout.as_ref(),
        "a timeout",
        default_timeout,
        &mut ok,
    );
    let ping_interval = optional_duration(
        cx,
        ws.ping_interval.as_ref(),
        "`ping_interval`",
        Duration::from_secs(5),
        &mut ok,
    );
    let pong_timeout = optional_duration(
        cx,
        ws.pong_timeout.as_ref(),
        "`pong_timeout`",
        DEFAULT_PONG_TIMEOUT,
        &mut ok,
    );
    let max_message = match &ws.max_message {
        Some(m) => message_cap(cx, m, "max_message").unwrap_or_else(|| {
            ok = false;
            DEFAULT_CHECK_MAX_MESSAGE
        }),
        None => DEFAULT_CHECK_MAX_MESSAGE,
    };
    let hold = ws.hold.as_ref().and_then(|h| {
        let d = cx.duration(h);
        ok &= d.is_some();
        d
    });
    if !ok {
        return None;
    }
    Some(WsSpec {
        path_and_query: pq?,
        host,
        headers,
        origin: ws.origin.as_ref().map(|o| o.value.clone()),
        subprotocols: ws.subprotocols.clone().unwrap_or_default(),
        send,
        reply,
        hold,
        ping_interval,
        timeout,
        max_message,
        pong_timeout,
    })
}

/// A WebSocket message cap (`max_message`, `websocket_max_message`): at
/// least 1 byte, at most [`MAX_MESSAGE`].
pub(super) fn message_cap(cx: &Ctx, v: &At<String>, field: &str) -> Option<u64> {
    let n = cx.size(v)?;
    if n == 0 || n > MAX_MESSAGE {
        cx.err(
            v.loc,
            format!(
                "`{field}` is between 1 byte and {}, like 64k or 1m",
                format_size(MAX_MESSAGE)
            ),
        );
        return None;
    }
    Some(n)
}

fn build_cors(
    cx: &mut Ctx,
    c: &At<RawCors>,
    default_timeout: Duration,
    body_cap: u64,
) -> Option<CorsSpec> {
    let mut ok = true;
    let pq = path_and_query(cx, c.path.as_ref(), None);
    ok &= pq.is_some();
    let host = c.host.as_ref().and_then(|h| {
        let v = validate_host(cx, h);
        ok &= v.is_some();
        v
    });
    let origin = match &c.origin {
        Some(o) if o.contains("://") => Some(o.value.clone()),
        Some(o) => {
            cx.err(
                o.loc,
                format!(
                    "origin `{}` needs a scheme, like https://{}",
                    o.value, o.value
                ),
            );
            None
        }
        None => {
            cx.err(
                c.loc,
                "a `cors:` check needs `origin:`, the browser origin that must be allowed",
            );
            None
        }
    };
    let method = |m: &At<String>, cx: &Ctx| match reqwest::Method::from_bytes(
        m.value.to_ascii_uppercase().as_bytes(),
    ) {
        Ok(m) => Some(m),
        Err(_) => {
            cx.err(m.loc, format!("invalid HTTP method `{}`", m.value));
            None
        }
    };
    let asked = match &c.method {
        Some(m) => method(m, cx),
        None => Some(reqwest::Method::GET),
    };
    let actual = match &c.actual {
        None => Some(Some(reqwest::Method::GET)),
        Some(a) => match a.value.as_str() {
            "true" => Some(Some(reqwest::Method::GET)),
            "false" => Some(None),
            _ => method(a, cx).map(Some),
        },
    };
    let timeout = optional_duration(
        cx,
        c.timeout.as_ref(),
        "a timeout",
        default_timeout,
        &mut ok,
    );
    let headers = cx.headers(c.headers.as_ref());
    Some(CorsSpec {
        path_and_query: pq?,
        host,
        headers,
        origin: origin?,
        method: asked?,
        request_headers: c
            .request_headers
            .iter()
            .flatten()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect(),
        disallowed_origin: c.disallowed_origin.as_ref().map(|o| o.value.clone()),
        actual: actual?,
        timeout,
        body_cap,
    })
    .filter(|_| ok)
}

fn build_dns(cx: &Ctx, d: &At<RawDns>, host: &str) -> Option<DnsSpec> {
    let mut ok = true;
    let nameservers: Vec<String> = d
        .nameservers
        .iter()
        .flatten()
        .map(|n| n.value.trim().to_owned())
        .collect();
    if nameservers.is_empty() {
        cx.err(d.loc, "a `dns:` check needs `nameservers:`, the zone's authoritative servers (IP or name, optional :port)");
        ok = false;
    }
    let record = match d.record.as_ref().map(|r| r.value.to_ascii_uppercase()) {
        None => hickory_proto::rr::RecordType::A,
        Some(r) if r == "A" => hickory_proto::rr::RecordType::A,
        Some(r) if r == "AAAA" => hickory_proto::rr::RecordType::AAAA,
        Some(r) => {
            if let Some(at) = &d.record {
                cx.err(at.loc, unknown_message("record type", &r, &["A", "AAAA"]));
            }
            ok = false;
            hickory_proto::rr::RecordType::A
        }
    };
    let rate = match &d.rate {
        Some(r) => dns_rate(cx, r).unwrap_or_else(|| {
            ok = false;
            50.0
        }),
        None => 50.0,
    };
    let timeout = optional_duration(
        cx,
        d.timeout.as_ref(),
        "a timeout",
        Duration::from_secs(2),
        &mut ok,
    );
    let every = optional_duration(
        cx,
        d.every.as_ref(),
        "`every`",
        Duration::from_secs(30),
        &mut ok,
    );
    let concurrency = d.concurrency.as_ref().map(|c| c.value).unwrap_or(16);
    if concurrency > MAX_CONCURRENCY {
        if let Some(c) = &d.concurrency {
            cx.err(
                c.loc,
                format!(
                    "`concurrency` of a `dns:` check is at most {MAX_CONCURRENCY} queries at once"
                ),
            );
        }
        ok = false;
    }
    let samples = d.samples.as_ref().map(|s| s.value).unwrap_or(400);
    if samples == 0 || samples > 1_000_000 {
        if let Some(s) = &d.samples {
            cx.err(s.loc, "`samples` is between 1 and 1000000");
        }
        ok = false;
    }
    let name = d
        .name
        .as_ref()
        .map(|n| n.value.trim_end_matches('.').to_owned())
        .unwrap_or_else(|| host.to_owned());
    ok.then(|| DnsSpec {
        name,
        nameservers,
        record,
        samples: samples as u32,
        rate,
        concurrency: concurrency.max(1) as usize,
        timeout,
        every,
    })
}

/// A DNS sampling rate: at most [`MAX_RATE`], whatever `force` says (a
/// `dns:` check is not load).
fn dns_rate(cx: &Ctx, v: &At<String>) -> Option<f64> {
    let r = cx.rate(v)?.0;
    if r > MAX_RATE {
        cx.err(
            v.loc,
            format!(
                "rate `{}` of a `dns:` check is more than {MAX_RATE}/s, the most one machine paces",
                v.value.trim()
            ),
        );
        return None;
    }
    Some(r)
}
