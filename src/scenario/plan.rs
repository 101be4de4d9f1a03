//! Validation: the raw model in, a resolved [`Plan`] (or every error) out.
//!
//! Everything after this module trusts the Plan: durations are parsed, targets
//! resolved to indices, files read, headers checked, patterns compiled. Each
//! problem is recorded in the sink with the location of the value at fault,
//! and validation carries on, so the user sees every error in one pass.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use regex::Regex;

use super::model::*;
use super::units::{parse_duration, parse_rate, parse_size};
use super::yaml::{did_you_mean, unknown_message, At, Entries, Lenient, Loc, Sink};
use crate::analyze::cors::CorsExpect;
use crate::analyze::dns::DnsExpect;
use crate::probe::cors::CorsSpec;
use crate::probe::dns::DnsSpec;
use crate::probe::http::HttpSpec;
use crate::probe::websocket::{Reply, WsMessage, WsSpec};
use crate::target::{Connect, Proxy, Role, Scheme, Target, Tls};

// The rule types live beside the analyzers that apply them, the load plan in
// `load`; re-exported so `scenario::plan::…` paths keep working.
pub use crate::analyze::expect::{Expect, HeaderRule, StatusPattern};
pub use crate::analyze::parity::{BodyParity, Parity, PROXY_HEADERS};
pub use crate::load::plan::{ConnectionPolicy, LoadPlan, Rate, Stage};

/// A validated scenario, ready to run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub name: String,
    /// The scenario file as given on the command line.
    pub path: PathBuf,
    /// SHA-256 of the scenario file's bytes.
    pub sha256: String,
    pub host: String,
    pub targets: Vec<Arc<Target>>,
    /// Index of the target others are compared with (parity, later latency).
    pub baseline: usize,
    pub checks: Vec<Check>,
    pub load: Option<LoadPlan>,
    /// Values that must never appear in a report (interpolated from the environment
    /// or sent in credential headers).
    pub secrets: Vec<String>,
    /// Default timeout, also used as the connect timeout.
    pub timeout: Duration,
    /// Events on the load's timeline (deploys), in time order.
    pub events: Vec<EventPlan>,
    pub analysis: AnalysisPlan,
}

/// How recorded load is judged.
#[derive(Clone, Debug, Default)]
pub struct AnalysisPlan {
    pub spike: crate::analyze::spike::SpikeRules,
    pub latency: crate::analyze::latency::LatencyRules,
    /// Judged at the end of the load; a breach fails the run (exit 1).
    pub thresholds: Thresholds,
    /// Breached continuously for `for`: stop the load (exit 3).
    pub abort: Option<(f64, Duration)>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Thresholds {
    pub error_ratio: Option<f64>,
    pub server_error_ratio: Option<f64>,
    pub p99: Option<Duration>,
}

/// An event of the scenario: at `at` into the load, run `run` through a shell.
#[derive(Clone, Debug, PartialEq)]
pub struct EventPlan {
    pub at: Duration,
    pub name: String,
    pub run: Option<String>,
    pub timeout: Duration,
}

/// One check of the scenario.
#[derive(Clone, Debug)]
pub struct Check {
    pub name: String,
    /// Indices into `Plan::targets` this check runs against.
    pub targets: Vec<usize>,
    pub probe: ProbeSpec,
    pub expect: Expect,
    pub parity: Parity,
    pub cors_expect: CorsExpect,
    pub dns_expect: DnsExpect,
}

/// The probe a check runs.
#[derive(Clone, Debug)]
pub enum ProbeSpec {
    Http(HttpSpec),
    WebSocket(WsSpec),
    Cors(CorsSpec),
    /// Runs once per check, not per target: it samples the weighted answers.
    Dns(DnsSpec),
}

impl ProbeSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            ProbeSpec::Http(_) => "http",
            ProbeSpec::WebSocket(_) => "websocket",
            ProbeSpec::Cors(_) => "cors",
            ProbeSpec::Dns(_) => "dns",
        }
    }

    /// A one-line description for reports: `GET /api/items`.
    pub fn describe(&self) -> String {
        match self {
            ProbeSpec::Http(h) => format!("{} {}", h.method, h.path_and_query),
            ProbeSpec::WebSocket(w) => format!("WebSocket {}", w.path_and_query),
            ProbeSpec::Cors(c) => {
                format!("CORS {} {} from {}", c.method, c.path_and_query, c.origin)
            }
            ProbeSpec::Dns(d) => format!(
                "DNS {} {} ×{} at {}",
                d.record,
                d.name,
                d.samples,
                d.nameservers.join(", ")
            ),
        }
    }

    /// The Host/SNI this check overrides, if any.
    pub fn host(&self) -> Option<&str> {
        match self {
            ProbeSpec::Http(h) => h.host.as_deref(),
            ProbeSpec::WebSocket(w) => w.host.as_deref(),
            ProbeSpec::Cors(c) => c.host.as_deref(),
            ProbeSpec::Dns(_) => None,
        }
    }
}

const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "x-auth-token",
];

struct Ctx<'a, 'e> {
    sink: &'a Sink<'e>,
    dir: PathBuf,
    secrets: Vec<String>,
}

impl Ctx<'_, '_> {
    fn err(&self, loc: Loc, msg: impl Into<String>) {
        self.sink.error(loc, msg);
    }

    fn duration(&self, v: &At<String>) -> Option<Duration> {
        parse_duration(v).map_err(|e| self.err(v.loc, e)).ok()
    }

    fn size(&self, v: &At<String>) -> Option<u64> {
        parse_size(v).map_err(|e| self.err(v.loc, e)).ok()
    }

    fn rate(&self, v: &At<String>) -> Option<Rate> {
        parse_rate(v).map_err(|e| self.err(v.loc, e)).ok()
    }

    fn file(&self, v: &At<String>, what: &str) -> Option<(PathBuf, Vec<u8>)> {
        let path = self.dir.join(&v.value);
        match std::fs::read(&path) {
            Ok(bytes) => Some((path, bytes)),
            Err(e) => {
                let why = match e.kind() {
                    std::io::ErrorKind::NotFound => "does not exist".to_owned(),
                    _ => format!("cannot be read: {e}"),
                };
                self.err(v.loc, format!("{what} `{}` {why}", path.display()));
                None
            }
        }
    }

    fn headers(&mut self, entries: Option<&Entries<At<String>>>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, value) in entries.map(|e| e.0.as_slice()).unwrap_or_default() {
            let lname = name.value.to_ascii_lowercase();
            if reqwest::header::HeaderName::from_bytes(lname.as_bytes()).is_err() {
                self.err(name.loc, format!("invalid header name `{}`", name.value));
                continue;
            }
            if reqwest::header::HeaderValue::from_str(&value.value).is_err() {
                self.err(
                    value.loc,
                    format!("invalid value for header `{lname}` (control characters or non-ASCII)"),
                );
                continue;
            }
            if SENSITIVE_HEADERS.contains(&lname.as_str()) && !value.value.is_empty() {
                self.secrets.push(value.value.clone());
                // `Bearer xyz`: the token alone must not leak either.
                if let Some((_, token)) = value.value.split_once(' ') {
                    if token.len() >= 4 {
                        self.secrets.push(token.to_owned());
                    }
                }
            }
            out.push((lname, value.value.clone()));
        }
        out
    }
}

/// Validates a raw scenario. `None` when any error was recorded.
pub fn build(
    raw: RawScenario,
    root: Loc,
    path: &Path,
    sha256: String,
    sink: &Sink<'_>,
) -> Option<Plan> {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut cx = Ctx {
        sink,
        dir,
        secrets: Vec::new(),
    };

    let name = match &raw.name {
        Some(n) if n.trim().is_empty() => {
            cx.err(n.loc, "the scenario name is empty");
            String::new()
        }
        Some(n) => n.value.clone(),
        None => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into()),
    };

    let host = match &raw.host {
        None => {
            cx.err(
                root,
                "missing field `host`: the production hostname (Host header and TLS SNI)",
            );
            String::new()
        }
        Some(h) => validate_host(&cx, h).unwrap_or_default(),
    };

    let defaults = raw.defaults.and_then(|Lenient(d)| d).unwrap_or_default();
    let timeout = defaults
        .timeout
        .as_ref()
        .and_then(|t| cx.duration(t))
        .unwrap_or(Duration::from_secs(10));
    let body_cap = defaults
        .body_cap
        .as_ref()
        .and_then(|s| cx.size(s))
        .unwrap_or(1 << 20);
    let default_scheme = defaults.scheme.as_ref().and_then(|s| scheme(&cx, s));
    let default_headers = cx.headers(defaults.headers.as_ref());
    let follow_default = defaults.follow_redirects.unwrap_or(false);

    // Targets.
    let mut targets: Vec<Arc<Target>> = Vec::new();
    let mut target_names: Vec<String> = Vec::new();
    match &raw.targets {
        None => cx.err(root, "no targets: add the old and new paths under `targets:` (for example `ingress:` and `gateway:`)"),
        Some(t) if t.0.is_empty() => cx.err(t.loc, "no targets: add the old and new paths under `targets:` (for example `ingress:` and `gateway:`)"),
        Some(t) => {
            for (tname, raw_target) in &t.0 {
                if target_names.contains(&tname.value) {
                    cx.err(tname.loc, format!("duplicate target `{}`", tname.value));
                    continue;
                }
                target_names.push(tname.value.clone());
                let Lenient(Some(rt)) = raw_target else { continue };
                if let Some(target) = build_target(&mut cx, tname, rt, &host, default_scheme, &default_headers) {
                    targets.push(Arc::new(target));
                }
            }
        }
    }
    let names: Vec<&str> = target_names.iter().map(String::as_str).collect();
    let target_ref = |cx: &Ctx, r: &At<String>| -> Option<usize> {
        match target_names.iter().position(|n| *n == r.value) {
            Some(i) => Some(i),
            None => {
                cx.err(r.loc, unknown_message("target", &r.value, &names));
                None
            }
        }
    };

    let baseline = match &raw.baseline {
        Some(b) => target_ref(&cx, b).unwrap_or(0),
        None => targets
            .iter()
            .position(|t| t.role == Role::Ingress)
            .unwrap_or(0),
    };

    // Checks.
    let mut checks = Vec::new();
    let mut check_names: Vec<String> = Vec::new();
    match &raw.checks {
        None => cx.err(root, "no checks: add at least one under `checks:`"),
        Some(c) if c.is_empty() => cx.err(c.loc, "no checks: add at least one under `checks:`"),
        Some(c) => {
            for Lenient(rc) in c.iter() {
                let Some(rc) = rc else { continue };
                if check_names.contains(&rc.name.value) {
                    cx.err(
                        rc.name.loc,
                        format!("duplicate check name `{}`", rc.name.value),
                    );
                    continue;
                }
                check_names.push(rc.name.value.clone());
                let check_targets: Vec<usize> = match &rc.targets {
                    Some(list) => list.iter().filter_map(|r| target_ref(&cx, r)).collect(),
                    None => (0..target_names.len()).collect(),
                };
                let kinds: Vec<(&str, Loc)> = [
                    rc.http.as_ref().map(|h| ("http", h.loc)),
                    rc.websocket.as_ref().map(|w| ("websocket", w.loc)),
                    rc.cors.as_ref().map(|c| ("cors", c.loc)),
                    rc.dns.as_ref().map(|d| ("dns", d.loc)),
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
                let probe = if let Some(http) = &rc.http {
                    build_http(&mut cx, http, timeout, body_cap, follow_default)
                        .map(ProbeSpec::Http)
                } else if let Some(ws) = &rc.websocket {
                    build_websocket(&mut cx, ws, timeout).map(ProbeSpec::WebSocket)
                } else if let Some(c) = &rc.cors {
                    build_cors(&mut cx, c, timeout, body_cap).map(ProbeSpec::Cors)
                } else if let Some(d) = &rc.dns {
                    build_dns(&cx, d, &host).map(ProbeSpec::Dns)
                } else {
                    cx.err(
                        rc.name.loc,
                        format!(
                            "check `{}` has no probe: add one of `http:`, `websocket:`, `cors:`, `dns:`",
                            rc.name.value
                        ),
                    );
                    None
                };
                if let Some(e) = &rc.expect {
                    let cors_only = [
                        e.allow_origin.as_ref().map(|a| a.loc),
                        e.max_age.as_ref().map(|a| a.loc),
                    ];
                    only_for(
                        &cx,
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
                    only_for(&cx, rc.dns.is_some(), dns_only, "dns");
                }
                let cors_expect = rc
                    .expect
                    .as_ref()
                    .map(|e| build_cors_expect(&cx, e))
                    .unwrap_or_default();
                let dns_expect = match (&rc.expect, &rc.dns) {
                    (Some(e), Some(d)) => build_dns_expect(&cx, e, d, &|r| target_ref(&cx, r)),
                    (None, Some(d)) => {
                        build_dns_expect(&cx, &RawExpect::default(), d, &|r| target_ref(&cx, r))
                    }
                    _ => DnsExpect::default(),
                };
                let expect = rc
                    .expect
                    .as_ref()
                    .map(|e| build_expect(&cx, e))
                    .unwrap_or_default();
                let parity = rc
                    .parity
                    .as_ref()
                    .map(|p| build_parity(&cx, p))
                    .unwrap_or_default();
                let mut expect = expect;
                if rc.websocket.is_some() && expect.status.is_empty() {
                    expect.status.push(StatusPattern::Exact(101));
                }
                if let Some(probe) = probe {
                    checks.push(Check {
                        name: rc.name.value.clone(),
                        targets: check_targets,
                        probe,
                        expect,
                        parity,
                        cors_expect,
                        dns_expect,
                    });
                }
            }
        }
    }

    let load = raw.load.and_then(|Lenient(l)| l).and_then(|l| {
        let check_refs: Vec<&str> = check_names.iter().map(String::as_str).collect();
        let websocket_checks: Vec<usize> = checks
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c.probe, ProbeSpec::WebSocket(_)))
            .map(|(i, _)| i)
            .collect();
        build_load(
            &cx,
            &l,
            &check_refs,
            &websocket_checks,
            &|r| target_ref(&cx, r),
            target_names.len(),
        )
    });

    // Values that are addresses, not credentials, may appear in reports.
    let mut secrets: Vec<String> = sink.secrets.borrow().clone();
    secrets.append(&mut cx.secrets);
    // Addresses (targets, nameservers) are not credentials: reports show them.
    let nameservers: Vec<&String> = checks
        .iter()
        .filter_map(|c| match &c.probe {
            ProbeSpec::Dns(d) => Some(&d.nameservers),
            _ => None,
        })
        .flatten()
        .collect();
    secrets.retain(|s| {
        s != &host
            && !targets
                .iter()
                .any(|t| t.connect.to_string().contains(s.as_str()) || &t.host == s)
            && !nameservers.iter().any(|n| n.contains(s.as_str()))
    });
    secrets.sort();
    secrets.dedup();

    let mut events = Vec::new();
    for Lenient(e) in raw.events.iter().flatten() {
        let Some(e) = e else { continue };
        let (Some(at), timeout) = (
            cx.duration(&e.at),
            e.timeout.as_ref().map(|t| cx.duration(t)),
        ) else {
            continue;
        };
        events.push(EventPlan {
            at,
            name: e.name.value.clone(),
            run: e.run.clone(),
            timeout: timeout.flatten().unwrap_or(Duration::from_secs(300)),
        });
    }
    events.sort_by_key(|e| e.at);
    let analysis = raw
        .analysis
        .as_ref()
        .and_then(|Lenient(a)| a.as_ref())
        .map(|a| build_analysis(&cx, a))
        .unwrap_or_default();

    if !sink.errors.borrow().is_empty() {
        return None;
    }
    // Indices of targets refer to the declared order; a failed target aborts above.
    Some(Plan {
        name,
        path: path.to_path_buf(),
        sha256,
        host,
        targets,
        baseline,
        checks,
        load,
        secrets,
        timeout,
        events,
        analysis,
    })
}

fn validate_host(cx: &Ctx, h: &At<String>) -> Option<String> {
    let v = h.value.trim();
    if let Some((_, rest)) = v.split_once("://") {
        let bare = rest.split(['/', ':']).next().unwrap_or(rest);
        cx.err(
            h.loc,
            format!("`host` is a hostname, not a URL: did you mean `{bare}`?"),
        );
        return None;
    }
    let ok = !v.is_empty()
        && v.len() <= 253
        && v.split('.').all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '*')
        });
    if !ok {
        cx.err(
            h.loc,
            format!(
                "invalid host `{v}`: write the bare production hostname, like shop.example.com"
            ),
        );
        return None;
    }
    Some(v.to_ascii_lowercase())
}

fn scheme(cx: &Ctx, s: &At<String>) -> Option<Scheme> {
    match s.value.as_str() {
        "http" => Some(Scheme::Http),
        "https" => Some(Scheme::Https),
        other => {
            cx.err(s.loc, unknown_message("scheme", other, &["http", "https"]));
            None
        }
    }
}

fn build_target(
    cx: &mut Ctx,
    name: &At<String>,
    rt: &RawTarget,
    host: &str,
    default_scheme: Option<Scheme>,
    default_headers: &[(String, String)],
) -> Option<Target> {
    let connect = Connect::parse(&rt.connect)
        .map_err(|e| cx.err(rt.connect.loc, e))
        .ok();
    let role = match &rt.role {
        Some(r) => match r.value.as_str() {
            "ingress" => Some(Role::Ingress),
            "gateway" => Some(Role::Gateway),
            other => {
                cx.err(
                    r.loc,
                    unknown_message("role", other, &["ingress", "gateway"]),
                );
                None
            }
        },
        None => {
            let n = name.value.to_ascii_lowercase();
            if n.contains("gateway") || n.contains("envoy") || n.contains("new") {
                Some(Role::Gateway)
            } else if n.contains("ingress") || n.contains("nginx") || n.contains("old") {
                Some(Role::Ingress)
            } else {
                cx.err(name.loc, format!("cannot tell the role of target `{}`: add `role: ingress` (old path) or `role: gateway` (new path)", name.value));
                None
            }
        }
    };
    let proxy = match &rt.proxy {
        Some(p) => match p.value.as_str() {
            "nginx" => Some(Proxy::Nginx),
            "envoy" => Some(Proxy::Envoy),
            other => {
                cx.err(p.loc, unknown_message("proxy", other, &["nginx", "envoy"]));
                None
            }
        },
        None => role.map(Proxy::default_for),
    };
    let target_host = match &rt.host {
        Some(h) => validate_host(cx, h),
        None => Some(host.to_owned()),
    };
    let scheme = match &rt.scheme {
        Some(s) => scheme(cx, s),
        None => Some(default_scheme.unwrap_or(match &connect {
            Some(c) if c.port == 443 || c.port == 8443 => Scheme::Https,
            _ => Scheme::Http,
        })),
    };
    let mut tls = Tls::default();
    if let Some(raw_tls) = &rt.tls {
        tls.insecure = raw_tls.insecure.unwrap_or(false);
        if let Some(ca) = &raw_tls.ca {
            if let Some((path, pem)) = cx.file(ca, "CA file") {
                match reqwest::Certificate::from_pem_bundle(&pem) {
                    Ok(certs) if !certs.is_empty() => {
                        tls.ca = Some(path);
                        tls.ca_pem = Some(pem);
                    }
                    _ => cx.err(
                        ca.loc,
                        format!("CA file `{}` holds no PEM certificate", path.display()),
                    ),
                }
            }
        }
    }
    let mut headers = default_headers.to_vec();
    for (n, v) in cx.headers(rt.headers.as_ref()) {
        headers.retain(|(h, _)| *h != n);
        headers.push((n, v));
    }
    Some(Target {
        name: name.value.clone(),
        dns_answers: rt
            .dns_answers
            .iter()
            .flatten()
            .map(|a| a.trim().trim_end_matches('.').to_ascii_lowercase())
            .collect(),
        role: role?,
        proxy: proxy?,
        connect: connect?,
        host: target_host?,
        scheme: scheme?,
        tls,
        headers,
    })
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
        match cx.file(f, "body file") {
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
        Some(t) => cx.duration(t).or_else(|| {
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
    })
}

/// Builds path and query from a `path` and a `query` mapping.
fn path_and_query(
    cx: &Ctx,
    path: Option<&At<String>>,
    query: Option<&Entries<At<String>>>,
) -> Option<String> {
    let mut out = path.map(|p| p.value.clone()).unwrap_or_else(|| "/".into());
    if let Some(p) = path {
        if !p.starts_with('/') {
            cx.err(p.loc, format!("path `{}` must start with `/`", p.value));
            return None;
        }
    }
    if let Some(q) = query {
        let mut ser = reqwest::Url::parse("http://x/").ok()?;
        {
            let mut pairs = ser.query_pairs_mut();
            for (k, v) in &q.0 {
                pairs.append_pair(&k.value, &v.value);
            }
        }
        let sep = if out.contains('?') { '&' } else { '?' };
        if let Some(qs) = ser.query() {
            out = format!("{out}{sep}{qs}");
        }
    }
    Some(out)
}

fn optional_duration(
    cx: &Ctx,
    v: Option<&At<String>>,
    default: Duration,
    ok: &mut bool,
) -> Duration {
    match v {
        Some(t) => cx.duration(t).unwrap_or_else(|| {
            *ok = false;
            default
        }),
        None => default,
    }
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
                let first = e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim()
                    .trim_start_matches("error: ")
                    .to_owned();
                cx.err(r.loc, format!("invalid regex `{}`: {first}", r.value));
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
    let timeout = optional_duration(cx, ws.timeout.as_ref(), default_timeout, &mut ok);
    let ping_interval = optional_duration(
        cx,
        ws.ping_interval.as_ref(),
        Duration::from_secs(5),
        &mut ok,
    );
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
    })
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
    let timeout = optional_duration(cx, c.timeout.as_ref(), default_timeout, &mut ok);
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

fn build_analysis(cx: &Ctx, a: &RawAnalysis) -> AnalysisPlan {
    let mut out = AnalysisPlan::default();
    let ratio = |v: &At<f64>| -> Option<f64> {
        if v.value.is_finite() && v.value >= 0.0 {
            Some(v.value)
        } else {
            cx.err(v.loc, "a ratio is a number of 0 or more, like 0.01 for 1 %");
            None
        }
    };
    if let Some(s) = &a.spike_503 {
        if let Some(d) = s.after_event.as_ref().and_then(|d| cx.duration(d)) {
            out.spike.after = d.as_secs();
        }
        if let Some(d) = s.before_event.as_ref().and_then(|d| cx.duration(d)) {
            out.spike.before = d.as_secs();
        }
        if let Some(r) = s.max_ratio.as_ref().and_then(ratio) {
            out.spike.max_ratio = r;
        }
    }
    if let Some(l) = &a.latency {
        for (q, v) in [
            (0.5, &l.p50_max_ratio),
            (0.9, &l.p90_max_ratio),
            (0.99, &l.p99_max_ratio),
            (0.999, &l.p999_max_ratio),
        ] {
            if let Some(r) = v.as_ref().and_then(ratio) {
                if let Some(slot) = out.latency.ratios.iter_mut().find(|(x, _)| *x == q) {
                    slot.1 = r;
                }
            }
        }
        if let Some(d) = l.min_delta.as_ref().and_then(|d| cx.duration(d)) {
            out.latency.min_delta = d;
        }
        if let Some(s) = &l.significance {
            if s.value > 0.0 && s.value < 1.0 {
                out.latency.significance = s.value;
            } else {
                cx.err(
                    s.loc,
                    "`significance` is a p-value between 0 and 1, like 0.001",
                );
            }
        }
    }
    if let Some(t) = &a.thresholds {
        out.thresholds = Thresholds {
            error_ratio: t.error_ratio.as_ref().and_then(ratio),
            server_error_ratio: t.server_error_ratio.as_ref().and_then(ratio),
            p99: t.p99.as_ref().and_then(|d| cx.duration(d)),
        };
    }
    if let Some(ab) = &a.abort {
        if let (Some(r), Some(d)) = (ratio(&ab.error_ratio), cx.duration(&ab.duration)) {
            out.abort = Some((r, d));
        }
    }
    out
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
        Some(r) => cx.rate(r).map(|r| r.0).unwrap_or_else(|| {
            ok = false;
            50.0
        }),
        None => 50.0,
    };
    let timeout = optional_duration(cx, d.timeout.as_ref(), Duration::from_secs(2), &mut ok);
    let every = optional_duration(cx, d.every.as_ref(), Duration::from_secs(30), &mut ok);
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
        concurrency: d
            .concurrency
            .as_ref()
            .map(|c| c.value.max(1) as usize)
            .unwrap_or(16),
        timeout,
        every,
    })
}

fn build_dns_expect(
    cx: &Ctx,
    e: &RawExpect,
    d: &At<RawDns>,
    target_ref: &dyn Fn(&At<String>) -> Option<usize>,
) -> DnsExpect {
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
        if let Some(t) = target_ref(name) {
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
    for (name, rule) in e
        .headers
        .as_ref()
        .map(|h| h.0.as_slice())
        .unwrap_or_default()
    {
        let lname = name.value.to_ascii_lowercase();
        let rule = match &rule.value {
            RawHeaderExpect::Equals(v) => HeaderRule::Equals(v.clone()),
            RawHeaderExpect::Contains(v) => HeaderRule::Contains(v.clone()),
            RawHeaderExpect::Absent => HeaderRule::Absent,
            RawHeaderExpect::Regex(r) => match Regex::new(r) {
                Ok(re) => HeaderRule::Regex(re),
                Err(err) => {
                    let first = err
                        .to_string()
                        .lines()
                        .last()
                        .unwrap_or("")
                        .trim()
                        .trim_start_matches("error: ")
                        .to_owned();
                    cx.err(
                        rule.loc,
                        format!("invalid regex `{r}` for header `{lname}`: {first}"),
                    );
                    continue;
                }
            },
        };
        out.headers.push((lname, rule));
    }
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

fn parse_status(s: &str) -> Option<StatusPattern> {
    let s = s.trim().to_ascii_lowercase();
    if let Some(c) = s.strip_suffix("xx") {
        let c: u16 = c.parse().ok()?;
        return (1..=5).contains(&c).then_some(StatusPattern::Class(c));
    }
    let n: u16 = s.parse().ok()?;
    (100..=599).contains(&n).then_some(StatusPattern::Exact(n))
}

fn build_parity(cx: &Ctx, p: &At<RawParity>) -> Parity {
    const ITEMS: &[&str] = &[
        "status",
        "headers",
        "body",
        "body:json",
        "header:NAME",
        "ignore:NAME",
    ];
    let mut out = Parity::default();
    for item in &p.items {
        let loc = if item.loc == Loc::default() {
            p.loc
        } else {
            item.loc
        };
        let v = item.value.trim();
        match v {
            "status" => out.status = true,
            "headers" => out.all_headers = true,
            "body" => out.body = Some(BodyParity::Exact),
            "body:json" => out.body = Some(BodyParity::Json),
            _ => {
                if let Some(h) = v.strip_prefix("header:") {
                    out.headers.push(h.trim().to_ascii_lowercase());
                } else if let Some(h) = v.strip_prefix("ignore:") {
                    out.ignore_headers.push(h.trim().to_ascii_lowercase());
                } else {
                    let hint = did_you_mean(v, &["status", "headers", "body", "body:json"])
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
    }
    out
}

fn build_load(
    cx: &Ctx,
    l: &RawLoad,
    checks: &[&str],
    websocket_checks: &[usize],
    target_ref: &dyn Fn(&At<String>) -> Option<usize>,
    n_targets: usize,
) -> Option<LoadPlan> {
    let mut stages = Vec::new();
    match &l.stages {
        None => cx.err(Loc { line: 1, col: 1 }, "`load` needs `stages:`"),
        Some(list) => {
            if list.is_empty() {
                cx.err(
                    list.loc,
                    "`stages` is empty: add at least one stage, like {rate: 50/s, for: 1m}",
                );
            }
            for Lenient(st) in list.iter() {
                let Some(st) = st else { continue };
                let Some(dur) = &st.duration else {
                    cx.err(
                        st.loc,
                        "a stage needs `for:` (how long it lasts), like {rate: 50/s, for: 1m}",
                    );
                    continue;
                };
                let Some(duration) = cx.duration(dur) else {
                    continue;
                };
                if let Some(n) = &st.sockets {
                    if st.rate.is_some() || st.from.is_some() || st.concurrency.is_some() {
                        cx.err(st.loc, "a socket stage takes {sockets, for, ramp, message_rate, check}, not rates or concurrency");
                        continue;
                    }
                    if n.value == 0 {
                        cx.err(n.loc, "`sockets` must be at least 1");
                        continue;
                    }
                    let ramp = st
                        .ramp
                        .as_ref()
                        .and_then(|r| cx.duration(r))
                        .unwrap_or_default();
                    if ramp > duration {
                        if let Some(r) = &st.ramp {
                            cx.err(r.loc, "the ramp is longer than the stage");
                        }
                    }
                    let interval = match &st.message_rate {
                        Some(r) => cx.rate(r).map(|r| Duration::from_secs_f64(1.0 / r.0)),
                        None => Some(Duration::from_secs(1)),
                    };
                    let check = match &st.check {
                        Some(c) => match checks.iter().position(|n| *n == c.value) {
                            Some(i) if websocket_checks.contains(&i) => Some(i),
                            Some(_) => {
                                cx.err(
                                    c.loc,
                                    format!("check `{}` is not a `websocket:` check", c.value),
                                );
                                None
                            }
                            None => {
                                cx.err(c.loc, unknown_message("check", &c.value, checks));
                                None
                            }
                        },
                        None => match websocket_checks.first() {
                            Some(i) => Some(*i),
                            None => {
                                cx.err(n.loc, "a socket stage needs a `websocket:` check (name it with `check:`)");
                                None
                            }
                        },
                    };
                    if let (Some(interval), Some(check)) = (interval, check) {
                        stages.push(Stage::Sockets {
                            sockets: n.value,
                            ramp,
                            interval,
                            check,
                            duration,
                        });
                    }
                    continue;
                }
                let stage = match (&st.rate, &st.from, &st.to, &st.concurrency) {
                    (Some(r), None, None, None) => {
                        cx.rate(r).map(|rate| Stage::Constant { rate, duration })
                    }
                    (None, Some(f), Some(t), None) => match (cx.rate(f), cx.rate(t)) {
                        (Some(from), Some(to)) => Some(Stage::Ramp { from, to, duration }),
                        _ => None,
                    },
                    (None, None, None, Some(c)) if c.value > 0 => Some(Stage::Closed {
                        concurrency: c.value,
                        duration,
                    }),
                    (None, None, None, Some(c)) => {
                        cx.err(c.loc, "`concurrency` must be at least 1");
                        None
                    }
                    _ => {
                        cx.err(
                            st.loc,
                            "a stage is one of {rate, for}, {from, to, for} or {concurrency, for}",
                        );
                        None
                    }
                };
                stages.extend(stage);
            }
        }
    }
    let mut mix = Vec::new();
    for (name, w) in l.mix.as_ref().map(|m| m.0.as_slice()).unwrap_or_default() {
        match checks.iter().position(|c| *c == name.value) {
            None => cx.err(name.loc, unknown_message("check", &name.value, checks)),
            Some(_) if !(w.value.is_finite() && w.value >= 0.0) => {
                cx.err(w.loc, "a mix weight is a number of 0 or more")
            }
            Some(i) => mix.push((i, w.value)),
        }
    }
    if mix.is_empty() {
        mix = (0..checks.len()).map(|i| (i, 1.0)).collect();
    }
    let targets = match &l.targets {
        Some(list) => list.iter().filter_map(target_ref).collect(),
        None => (0..n_targets).collect(),
    };
    let connection = match &l.connection {
        None => ConnectionPolicy::KeepAlive,
        Some(c) => match c.value.as_str() {
            "keepalive" | "keep-alive" => ConnectionPolicy::KeepAlive,
            "fresh" => ConnectionPolicy::Fresh,
            other => {
                cx.err(
                    c.loc,
                    unknown_message("connection policy", other, &["keepalive", "fresh"]),
                );
                ConnectionPolicy::KeepAlive
            }
        },
    };
    let max_in_flight = match &l.max_in_flight {
        Some(m) if m.value == 0 => {
            cx.err(m.loc, "`max_in_flight` must be at least 1");
            1
        }
        Some(m) => m.value,
        None => 1024,
    };
    let connections = match &l.connections {
        Some(c) if c.value == 0 => {
            cx.err(c.loc, "`connections` must be at least 1");
            1
        }
        Some(c) => c.value,
        None => 256,
    };
    Some(LoadPlan {
        stages,
        mix,
        max_in_flight,
        connections,
        targets,
        connection,
    })
}
