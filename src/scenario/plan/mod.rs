//! Validation: the raw model in, a resolved [`Plan`] (or every error) out.
//!
//! Everything after this module trusts the Plan: durations are parsed, targets
//! resolved to indices, files read, headers checked, patterns compiled. Each
//! problem is recorded in the sink with the location of the value at fault,
//! and validation carries on, so the user sees every error in one pass.
//!
//! [`build`] is a pipeline of stages, one file each: `targets.rs` (host,
//! targets, baseline), `checks.rs` (each check, its probe from `probes.rs`
//! and its rules from `expect.rs`), `load.rs` (load, events, analysis), `known.rs` (known differences);
//! `ctx.rs` holds what they share, `limits.rs` the bounds a runnable plan
//! stays within. Stages run in the file's order, and the order of errors at
//! one position follows it.

mod behaviour;
mod checks;
mod ctx;
mod expect;
mod grpc;
mod known;
pub mod limits;
mod load;
mod probes;
mod targets;
pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use self::ctx::Ctx;
pub use self::ctx::SENSITIVE_HEADERS;
use super::model::{RawDefaults, RawScenario};
use super::yaml::{At, Lenient, Loc, Sink};
use crate::analyze::cors::CorsExpect;
use crate::analyze::dns::DnsExpect;
use crate::analyze::latency::LatencyRules;
use crate::analyze::spike::SpikeRules;
use crate::probe::cors::CorsSpec;
use crate::probe::dns::DnsSpec;
use crate::probe::http::HttpSpec;
use crate::probe::websocket::WsSpec;
use crate::target::{Scheme, Target};

// The rule types live beside the analyzers that apply them, the load plan in
// `load`; re-exported so `scenario::plan::…` paths keep working.
pub use crate::analyze::expect::{Expect, HeaderRule, StatusPattern};
pub use crate::analyze::parity::{BodyParity, Parity, PROXY_HEADERS};
pub use crate::load::plan::{ConnectionPolicy, LoadParity, LoadPlan, Rate, Stage};

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
    /// `(variable, value)` of every `${VAR}` interpolated from the
    /// environment: reproduce commands name the variable, never the value.
    pub env_vars: Vec<(String, String)>,
    /// Default timeout, also used as the connect timeout.
    pub timeout: Duration,
    /// Events on the load's timeline (deploys), in time order.
    pub events: Vec<EventPlan>,
    pub analysis: AnalysisPlan,
    /// Findings the team accepts (`known_differences`).
    pub known_differences: Vec<crate::analyze::known::KnownDifference>,
    /// How `cutover watch` samples and alerts (defaults without `watch:`).
    pub watch: watch::WatchPlan,
}

/// How recorded load is judged.
#[derive(Clone, Debug, Default)]
pub struct AnalysisPlan {
    pub spike: SpikeRules,
    pub latency: LatencyRules,
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
    pub grpc_expect: crate::analyze::grpc::GrpcExpect,
}

/// The probe a check runs.
#[derive(Clone, Debug)]
pub enum ProbeSpec {
    Http(HttpSpec),
    WebSocket(WsSpec),
    Cors(CorsSpec),
    /// Runs once per check, not per target: it samples the weighted answers.
    Dns(DnsSpec),
    /// A behaviour probe, judged with both targets side by side.
    Behaviour(crate::probe::behaviour::BehaviourSpec),
    /// A gRPC call over HTTP/2.
    Grpc(crate::probe::grpc::GrpcSpec),
}

impl ProbeSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            ProbeSpec::Http(_) => "http",
            ProbeSpec::WebSocket(_) => "websocket",
            ProbeSpec::Cors(_) => "cors",
            ProbeSpec::Dns(_) => "dns",
            ProbeSpec::Behaviour(b) => b.kind(),
            ProbeSpec::Grpc(_) => "grpc",
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
            ProbeSpec::Behaviour(b) => b.describe(),
            ProbeSpec::Grpc(g) => format!(
                "gRPC {}{}",
                g.path(),
                if g.server_streaming { " (stream)" } else { "" }
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
            ProbeSpec::Behaviour(b) => b.request().host.as_deref(),
            ProbeSpec::Grpc(g) => g.host.as_deref(),
        }
    }
}

/// The scenario's `defaults:`, resolved: what checks and targets inherit.
pub(super) struct Defaults {
    pub(super) timeout: Duration,
    pub(super) body_cap: u64,
    pub(super) scheme: Option<Scheme>,
    pub(super) headers: Vec<(String, String)>,
    pub(super) follow_redirects: bool,
}

/// Validates a raw scenario. `None` when any error was recorded.
pub fn build(
    raw: RawScenario,
    root: Loc,
    path: &Path,
    sha256: String,
    sink: &Sink<'_>,
) -> Option<Plan> {
    let mut cx = Ctx::new(sink, path);
    let name = scenario_name(&cx, raw.name.as_ref(), path);
    let host = production_host(&cx, raw.host.as_ref(), root);
    let defaults = build_defaults(&mut cx, raw.defaults);
    let (targets, target_names) =
        targets::build_targets(&mut cx, raw.targets.as_ref(), root, &host, &defaults);
    let baseline = targets::baseline(&cx, raw.baseline.as_ref(), &targets, &target_names);
    let (checks, check_names) = checks::build_checks(
        &mut cx,
        raw.checks.as_ref(),
        root,
        &host,
        &defaults,
        &target_names,
    );
    let errors_before_load = sink.errors.borrow().len();
    let load = raw.load.and_then(|Lenient(l)| l).map(|l| {
        let check_refs: Vec<&str> = check_names.iter().map(String::as_str).collect();
        let websocket_checks: Vec<usize> = checks
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c.probe, ProbeSpec::WebSocket(_)))
            .map(|(i, _)| i)
            .collect();
        load::build_load(
            &cx,
            &l,
            &check_refs,
            &websocket_checks,
            (&targets, &target_names),
            baseline,
        )
    });
    let secrets = reportable_secrets(&mut cx, &host, &targets, &checks);
    // A load with errors lacks some stages: its length would mislead.
    let load_length = load
        .as_ref()
        .filter(|_| sink.errors.borrow().len() == errors_before_load)
        .map(load::load_duration);
    let events = load::build_events(&cx, raw.events.as_ref(), load_length);
    let analysis = raw
        .analysis
        .as_ref()
        .and_then(|Lenient(a)| a.as_ref())
        .map(|a| load::build_analysis(&cx, a))
        .unwrap_or_default();
    let watch = raw
        .watch
        .as_ref()
        .and_then(|Lenient(w)| w.as_ref())
        .map(|w| watch::build_watch(&cx, w))
        .unwrap_or_default();
    let known_differences = known::build_known(
        &cx,
        path,
        raw.known_differences.iter().flatten(),
        &check_names,
        &target_names,
    );

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
        env_vars: sink.vars.borrow().clone(),
        timeout: defaults.timeout,
        events,
        analysis,
        known_differences,
        watch,
    })
}

/// `name:`, else the file's stem.
fn scenario_name(cx: &Ctx, raw: Option<&At<String>>, path: &Path) -> String {
    match raw {
        Some(n) if n.trim().is_empty() => {
            cx.err(n.loc, "the scenario name is empty");
            String::new()
        }
        Some(n) => n.value.clone(),
        None => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into()),
    }
}

/// `host:`, the production hostname every request carries.
fn production_host(cx: &Ctx, raw: Option<&At<String>>, root: Loc) -> String {
    match raw {
        None => {
            cx.err(
                root,
                "missing field `host`: the production hostname (Host header and TLS SNI)",
            );
            String::new()
        }
        Some(h) => targets::validate_production_host(cx, h).unwrap_or_default(),
    }
}

fn build_defaults(cx: &mut Ctx, raw: Option<Lenient<RawDefaults>>) -> Defaults {
    let defaults = raw.and_then(|Lenient(d)| d).unwrap_or_default();
    let timeout = defaults
        .timeout
        .as_ref()
        .and_then(|t| cx.positive_duration(t, "a timeout"))
        .unwrap_or(Duration::from_secs(10));
    let body_cap = defaults
        .body_cap
        .as_ref()
        .and_then(|s| cx.size(s))
        .unwrap_or(1 << 20);
    let scheme = defaults
        .scheme
        .as_ref()
        .and_then(|s| targets::scheme(cx, s));
    let headers = cx.headers(defaults.headers.as_ref());
    Defaults {
        timeout,
        body_cap,
        scheme,
        headers,
        follow_redirects: defaults.follow_redirects.unwrap_or(false),
    }
}

/// Every value that must never appear in a report: interpolated from the
/// environment or sent in a credential header. Addresses (the host, targets,
/// nameservers) are not credentials: reports show them.
fn reportable_secrets(
    cx: &mut Ctx,
    host: &str,
    targets: &[Arc<Target>],
    checks: &[Check],
) -> Vec<String> {
    let mut secrets: Vec<String> = cx.sink.secrets.borrow().clone();
    secrets.append(&mut cx.secrets);
    let nameservers: Vec<&String> = checks
        .iter()
        .filter_map(|c| match &c.probe {
            ProbeSpec::Dns(d) => Some(&d.nameservers),
            _ => None,
        })
        .flatten()
        .collect();
    secrets.retain(|s| {
        s != host
            && !targets
                .iter()
                .any(|t| t.connect.to_string().contains(s.as_str()) || &t.host == s)
            && !nameservers.iter().any(|n| n.contains(s.as_str()))
    });
    secrets.sort();
    secrets.dedup();
    secrets
}
