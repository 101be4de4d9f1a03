//! Behaviour checks: `rate_limit:`, `body_limit:`, `route_timeout:`,
//! `redirect:`, `forwarded_headers:` and `hostnames:`, validated into the
//! spec their probe runs.
//!
//! Invariants: every spec has its request resolved (method, path starting
//! with `/`, host, headers, timeout), never follows redirects; a rate-limit
//! check sends at most [`MAX_RATE_LIMIT_COUNT`] requests at most
//! [`MAX_RATE_LIMIT_RATE`]/s unless `force: true` (then ten times that), and
//! its source addresses are IP addresses; a route timeout's own `timeout`
//! outlasts its `duration` (by default by [`ROUTE_TIMEOUT_MARGIN`]); a
//! hostnames check probes at least one variant, each once; a body-limit `size` is between 1
//! byte and [`MAX_BODY_LIMIT_SIZE`]; a spec is only returned when none of its
//! values was reported.

use std::net::IpAddr;
use std::time::Duration;

use super::ctx::Ctx;
use super::ctx::{optional_duration, path_and_query};
use super::limits::{FORCE_FACTOR, MAX_BODY_LIMIT_SIZE, MAX_RATE_LIMIT_COUNT, MAX_RATE_LIMIT_RATE};
use super::targets::validate_host;
use super::Defaults;
use crate::probe::behaviour::BehaviourSpec;
use crate::probe::body_limit::BodyLimitSpec;
use crate::probe::forwarded::ForwardedSpec;
use crate::probe::hostnames::{HostnamesSpec, Variant};
use crate::probe::http::HttpSpec;
use crate::probe::rate_limit::RateLimitSpec;
use crate::probe::redirect::RedirectSpec;
use crate::probe::route_timeout::RouteTimeoutSpec;
use crate::scenario::model::RawCheck;
use crate::scenario::units::format_size;
use crate::scenario::yaml::{unknown_message, At, Entries};

/// The parts of a request every behaviour kind shares.
struct Request<'a> {
    method: Option<&'a At<String>>,
    default_method: reqwest::Method,
    path: Option<&'a At<String>>,
    host: Option<&'a At<String>>,
    headers: Option<&'a Entries<At<String>>>,
    timeout: Option<&'a At<String>>,
}

/// The behaviour check's spec, or `None` (with the reasons reported).
pub(super) fn build(cx: &mut Ctx, rc: &RawCheck, defaults: &Defaults) -> Option<BehaviourSpec> {
    if let Some(r) = &rc.rate_limit {
        let mut ok = true;
        let request = request(
            cx,
            defaults,
            Request {
                method: r.method.as_ref(),
                default_method: reqwest::Method::GET,
                path: r.path.as_ref(),
                host: r.host.as_ref(),
                headers: r.headers.as_ref(),
                timeout: r.timeout.as_ref(),
            },
            &mut ok,
        );
        let force = r.force == Some(true);
        let factor = if force { FORCE_FACTOR } else { 1 };
        let count = r.count.as_ref().map_or(50, |c| c.value);
        if let Some(c) = &r.count {
            let max = MAX_RATE_LIMIT_COUNT * factor;
            if c.value == 0 {
                cx.err(c.loc, "`count` is at least 1 request");
                ok = false;
            } else if c.value > max {
                let advice = if force {
                    "the most one check may send".to_owned()
                } else {
                    format!(
                        "a probe of production, not load; add `force: true` to send up to {}",
                        max * FORCE_FACTOR
                    )
                };
                cx.err(
                    c.loc,
                    format!("`count` {} is more than {max} requests, {advice}", c.value),
                );
                ok = false;
            }
        }
        let rate = match &r.rate {
            Some(v) => match cx.rate(v) {
                Some(rate) if rate.0 > MAX_RATE_LIMIT_RATE * factor as f64 => {
                    cx.err(
                        v.loc,
                        format!(
                            "rate `{}` is more than {}/s for a `rate_limit:` check{}",
                            v.value.trim(),
                            MAX_RATE_LIMIT_RATE * factor as f64,
                            if force {
                                ""
                            } else {
                                "; add `force: true` to go faster"
                            }
                        ),
                    );
                    ok = false;
                    1.0
                }
                Some(rate) => rate.0,
                None => {
                    ok = false;
                    1.0
                }
            },
            None => 20.0,
        };
        let mut source_addresses = Vec::new();
        for a in r.source_addresses.iter().flatten() {
            match a.value.trim().parse::<IpAddr>() {
                Ok(ip) => source_addresses.push(ip),
                Err(_) => {
                    cx.err(
                        a.loc,
                        format!(
                            "source address `{}` is not an IP address of this machine, like 127.0.0.2 or ::1",
                            a.value
                        ),
                    );
                    ok = false;
                }
            }
        }
        return ok.then_some(()).and(request).map(|request| {
            BehaviourSpec::RateLimit(RateLimitSpec {
                request,
                count: count as u32,
                rate,
                source_addresses,
            })
        });
    }
    if let Some(b) = &rc.body_limit {
        let mut ok = true;
        let request = request(
            cx,
            defaults,
            Request {
                method: b.method.as_ref(),
                default_method: reqwest::Method::POST,
                path: b.path.as_ref(),
                host: b.host.as_ref(),
                headers: b.headers.as_ref(),
                timeout: b.timeout.as_ref(),
            },
            &mut ok,
        );
        let size = match &b.size {
            Some(s) => match cx.size(s) {
                Some(n) if n == 0 || n > MAX_BODY_LIMIT_SIZE => {
                    cx.err(
                        s.loc,
                        format!(
                            "`size` is between 1 byte and {}, like 1m (ingress-nginx's default `proxy-body-size`)",
                            format_size(MAX_BODY_LIMIT_SIZE)
                        ),
                    );
                    None
                }
                n => n,
            },
            None => Some(1 << 20),
        };
        return ok
            .then_some(())
            .and(request)
            .zip(size)
            .map(|(request, size)| BehaviourSpec::BodyLimit(BodyLimitSpec { request, size }));
    }
    if let Some(t) = &rc.route_timeout {
        let mut ok = true;
        let request = request(
            cx,
            defaults,
            Request {
                method: t.method.as_ref(),
                default_method: reqwest::Method::GET,
                path: t.path.as_ref(),
                host: t.host.as_ref(),
                headers: t.headers.as_ref(),
                timeout: t.timeout.as_ref(),
            },
            &mut ok,
        );
        if t.path.is_none() {
            cx.err(
                t.loc,
                "a `route_timeout:` check needs `path:`, a slow endpoint such as /slow?ms=16000, and its `duration:` (16s)",
            );
            ok = false;
        }
        let duration = t.duration.as_ref().and_then(|d| {
            let v = cx.positive_duration(d, "a duration");
            ok &= v.is_some();
            v
        });
        let mut request = request;
        if let (Some(d), Some(r)) = (duration, request.as_mut()) {
            match &t.timeout {
                // Long enough to see the endpoint answer when nobody gives up.
                None => r.timeout = d + ROUTE_TIMEOUT_MARGIN,
                Some(at) if r.timeout <= d => {
                    cx.err(
                        at.loc,
                        format!(
                            "`timeout` {} ends the probe before the slow endpoint answers (`duration` {}): make it longer, or leave it out for {}",
                            humantime::format_duration(r.timeout),
                            humantime::format_duration(d),
                            humantime::format_duration(d + ROUTE_TIMEOUT_MARGIN)
                        ),
                    );
                    ok = false;
                }
                Some(_) => {}
            }
        }
        return ok
            .then_some(())
            .and(request)
            .map(|request| BehaviourSpec::RouteTimeout(RouteTimeoutSpec { request, duration }));
    }
    if let Some(r) = &rc.redirect {
        let mut ok = true;
        let request = request(
            cx,
            defaults,
            Request {
                method: r.method.as_ref(),
                default_method: reqwest::Method::GET,
                path: r.path.as_ref(),
                host: r.host.as_ref(),
                headers: r.headers.as_ref(),
                timeout: r.timeout.as_ref(),
            },
            &mut ok,
        );
        let http_port = match &r.http_port {
            Some(p) if p.value == 0 || p.value > u64::from(u16::MAX) => {
                cx.err(p.loc, "`http_port` is a port, between 1 and 65535");
                ok = false;
                80
            }
            Some(p) => p.value as u16,
            None => 80,
        };
        return ok
            .then_some(())
            .and(request)
            .map(|request| BehaviourSpec::Redirect(RedirectSpec { request, http_port }));
    }
    if let Some(f) = &rc.forwarded_headers {
        let mut ok = true;
        if f.echo_path.is_none() {
            cx.err(
                f.loc,
                "a `forwarded_headers:` check needs `echo_path:`, an endpoint that answers with the request's headers as JSON (see the README)",
            );
            ok = false;
        }
        let request = request(
            cx,
            defaults,
            Request {
                method: None,
                default_method: reqwest::Method::GET,
                path: f.echo_path.as_ref(),
                host: f.host.as_ref(),
                headers: f.headers.as_ref(),
                timeout: f.timeout.as_ref(),
            },
            &mut ok,
        );
        return ok
            .then_some(())
            .and(request)
            .map(|request| BehaviourSpec::Forwarded(ForwardedSpec { request }));
    }
    if let Some(h) = &rc.hostnames {
        let mut ok = true;
        let request = request(
            cx,
            defaults,
            Request {
                method: h.method.as_ref(),
                default_method: reqwest::Method::GET,
                path: h.path.as_ref(),
                host: h.host.as_ref(),
                headers: h.headers.as_ref(),
                timeout: h.timeout.as_ref(),
            },
            &mut ok,
        );
        let mut variants = Vec::new();
        for v in h.variants.iter().flatten() {
            match Variant::parse(v.value.trim()) {
                Some(variant) if variants.contains(&variant) => {
                    cx.err(v.loc, format!("variant `{}` is listed twice", v.value));
                    ok = false;
                }
                Some(variant) => variants.push(variant),
                None => {
                    let known: Vec<&str> = Variant::DEFAULT.iter().map(|v| v.as_str()).collect();
                    cx.err(v.loc, unknown_message("variant", &v.value, &known));
                    ok = false;
                }
            }
        }
        if h.variants.as_ref().is_some_and(Vec::is_empty) {
            cx.err(
                h.loc,
                "`variants` is empty: list some of trailing_dot, upper_case, port, or leave it out for all three",
            );
            ok = false;
        }
        if h.variants.is_none() {
            variants = Variant::DEFAULT.to_vec();
        }
        return ok
            .then_some(())
            .and(request)
            .map(|request| BehaviourSpec::Hostnames(HostnamesSpec { request, variants }));
    }
    None
}

/// How much longer than a route-timeout check's `duration` it waits by default.
const ROUTE_TIMEOUT_MARGIN: Duration = Duration::from_secs(5);

/// The shared request of a behaviour check; `ok` turns false on any error.
fn request(cx: &mut Ctx, defaults: &Defaults, r: Request, ok: &mut bool) -> Option<HttpSpec> {
    let method = match r.method {
        Some(m) => match reqwest::Method::from_bytes(m.value.to_ascii_uppercase().as_bytes()) {
            Ok(m) => m,
            Err(_) => {
                cx.err(m.loc, format!("invalid HTTP method `{}`", m.value));
                *ok = false;
                r.default_method
            }
        },
        None => r.default_method,
    };
    let path_and_query = path_and_query(cx, r.path, None);
    *ok &= path_and_query.is_some();
    let host = r.host.and_then(|h| {
        let v = validate_host(cx, h);
        *ok &= v.is_some();
        v
    });
    let headers = cx.headers(r.headers);
    let timeout: Duration = optional_duration(cx, r.timeout, "a timeout", defaults.timeout, ok);
    Some(HttpSpec {
        method,
        path_and_query: path_and_query?,
        host,
        headers,
        body: None,
        timeout,
        follow_redirects: false,
        body_cap: defaults.body_cap,
        version: crate::probe::http::Version::H1,
    })
}
