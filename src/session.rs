//! A session: one execution of a Plan, from connectors to the report model.
//!
//! The check pass runs every check once against each of its targets
//! (concurrently, at most [`CHECK_CONCURRENCY`] at a time), then the analyzers
//! turn the samples into per-target verdicts and findings, and
//! [`build_report`] assembles the report model. An interrupt stops the pass:
//! completed samples are reported, the rest are `skipped`, and the report is
//! marked `interrupted`.

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::task::JoinSet;

use crate::analyze::{self, Finding, Severity};
use crate::load::engine::Outcome;
use crate::load::schedule::Phase;
use crate::probe::websocket::describe_end;
use crate::probe::{self, ProbeResult, Sample};
use crate::record::Bucket;
use crate::report::model::{
    CheckLoad, CheckReport, ErrorInfo, Header, LoadReport, Report, RunStatus, ScenarioInfo,
    StageInfo, TargetInfo, TargetLoad, TargetResult, Tool, Verdict, SCHEMA_VERSION,
};
use crate::scenario::plan::{ConnectionPolicy, LoadPlan, Plan, ProbeSpec, StatusPattern};
use crate::target::Connector;

/// How many probes of the check pass run at once.
pub const CHECK_CONCURRENCY: usize = 8;

/// Headers kept in the report for every response: they identify the path.
const IDENTIFYING_HEADERS: &[&str] = &[
    "server",
    "content-type",
    "location",
    "x-envoy-upstream-service-time",
];

/// Samples of one check pass: `samples[check][target index in Plan::targets]`.
pub struct CheckPass {
    pub samples: Vec<Vec<Option<ProbeResult>>>,
    /// Each target's resolved connect addresses (what DNS answers with for it
    /// when the scenario declares no `dns_answers`).
    pub target_addrs: Vec<Vec<std::net::IpAddr>>,
    pub interrupted: bool,
}

/// Resolves every target and builds its clients.
pub async fn connectors(plan: &Plan) -> Vec<Connector> {
    let mut extra_hosts: Vec<String> = plan
        .checks
        .iter()
        .filter_map(|c| c.probe.host().map(str::to_owned))
        .collect();
    extra_hosts.sort();
    extra_hosts.dedup();
    let mut out = Vec::new();
    for t in &plan.targets {
        out.push(Arc::clone(t).connector(&extra_hosts, plan.timeout).await);
    }
    out
}

/// Runs one probe of `check` through `conn`.
pub async fn run_probe(spec: &ProbeSpec, conn: &Connector) -> ProbeResult {
    match spec {
        ProbeSpec::Http(h) => ProbeResult::Http(probe::http::probe(conn, h).await),
        ProbeSpec::WebSocket(w) => ProbeResult::WebSocket(probe::websocket::probe(conn, w).await),
        ProbeSpec::Cors(c) => ProbeResult::Cors(probe::cors::probe(conn, c).await),
        ProbeSpec::Dns(d) => ProbeResult::Dns(probe::dns::sample(d).await),
    }
}

/// Runs every check once per target, until done or until `interrupt` resolves.
pub async fn check_pass(
    plan: &Plan,
    connectors: &[Connector],
    interrupt: impl Future<Output = ()>,
) -> CheckPass {
    let mut samples: Vec<Vec<Option<ProbeResult>>> = plan
        .checks
        .iter()
        .map(|_| vec![None; plan.targets.len()])
        .collect();
    let sem = Arc::new(tokio::sync::Semaphore::new(CHECK_CONCURRENCY));
    let mut set = JoinSet::new();
    for (ci, check) in plan.checks.iter().enumerate() {
        // A DNS check samples the zone once, whatever the targets.
        let once = matches!(check.probe, ProbeSpec::Dns(_));
        for &ti in check.targets.iter().take(if once { 1 } else { usize::MAX }) {
            let spec = check.probe.clone();
            let conn = connectors[ti].clone();
            let sem = Arc::clone(&sem);
            set.spawn(async move {
                let _permit = sem.acquire_owned().await;
                (ci, ti, run_probe(&spec, &conn).await)
            });
        }
    }
    tokio::pin!(interrupt);
    let mut interrupted = false;
    loop {
        tokio::select! {
            next = set.join_next() => match next {
                Some(Ok((ci, ti, s))) => samples[ci][ti] = Some(s),
                // A probe task that panicked is a bug; its result stays `skipped`.
                Some(Err(_)) => {}
                None => break,
            },
            () = &mut interrupt => {
                interrupted = true;
                set.abort_all();
                break;
            }
        }
    }
    let target_addrs = connectors
        .iter()
        .map(|c| {
            c.addrs()
                .map(|a| a.iter().map(|s| s.ip()).collect())
                .unwrap_or_default()
        })
        .collect();
    CheckPass {
        samples,
        interrupted,
        target_addrs,
    }
}

/// Assembles the report model from a check pass.
pub fn build_report(
    plan: &Plan,
    mode: &str,
    pass: &CheckPass,
    started: SystemTime,
    ended: SystemTime,
) -> Report {
    let mut findings: Vec<Finding> = Vec::new();
    let mut checks = Vec::new();
    let check_host = |ci: usize, ti: usize| -> String {
        plan.checks[ci]
            .probe
            .host()
            .map(str::to_owned)
            .unwrap_or_else(|| plan.targets[ti].host.clone())
    };
    // (target, host) pairs through which some check reached the app.
    let mut routed: Vec<(usize, String)> = Vec::new();
    for (ci, per_target) in pass.samples.iter().enumerate() {
        for (ti, s) in per_target.iter().enumerate() {
            if s.as_ref()
                .and_then(|s| s.primary().response.as_ref())
                .is_some_and(|r| r.origin == crate::probe::Origin::App)
            {
                routed.push((ti, check_host(ci, ti)));
            }
        }
    }
    for (ci, check) in plan.checks.iter().enumerate() {
        let mut results = Vec::new();
        let base = plan.baseline;
        if let ProbeSpec::Dns(spec) = &check.probe {
            // Sampled once: one result for the whole split.
            let result = check
                .targets
                .first()
                .and_then(|ti| pass.samples[ci][*ti].as_ref());
            let r = match result {
                Some(ProbeResult::Dns(d)) => {
                    dns_result(plan, &pass.target_addrs, check, spec, d, &mut findings)
                }
                _ => skipped("dns"),
            };
            checks.push(CheckReport {
                name: check.name.clone(),
                kind: "dns".into(),
                request: check.probe.describe(),
                verdict: r.verdict,
                results: vec![r],
            });
            continue;
        }
        for &ti in &check.targets {
            let target = &plan.targets[ti];
            let Some(result) = &pass.samples[ci][ti] else {
                results.push(skipped(&target.name));
                continue;
            };
            let sample = result.primary();
            let mut failures = match (result, &check.probe) {
                (ProbeResult::Cors(c), ProbeSpec::Cors(spec)) => {
                    let mut f = analyze::cors::evaluate(
                        &check.cors_expect,
                        &spec.origin,
                        spec.method.as_str(),
                        &spec.request_headers,
                        spec.disallowed_origin.as_deref(),
                        c,
                    );
                    if sample.error.is_none() {
                        // Header rules of `expect` apply to the preflight; its status is judged above.
                        let mut e = check.expect.clone();
                        e.status = (1..=5).map(StatusPattern::Class).collect();
                        f.extend(analyze::expect::evaluate(&e, sample));
                    }
                    f
                }
                (ProbeResult::WebSocket(w), ProbeSpec::WebSocket(spec)) => {
                    let mut f = analyze::expect::evaluate(&check.expect, sample);
                    f.extend(websocket_failures(w, spec.hold));
                    f
                }
                _ => analyze::expect::evaluate(&check.expect, sample),
            };
            for f in &failures {
                findings.push(Finding {
                    kind: if sample.response.is_none() {
                        "probe_error"
                    } else {
                        match result {
                            ProbeResult::Http(_) | ProbeResult::Dns(_) => "expectation",
                            ProbeResult::WebSocket(_) => "websocket",
                            ProbeResult::Cors(_) => "cors",
                        }
                    }
                    .into(),
                    severity: Severity::Error,
                    check: check.name.clone(),
                    target: Some(target.name.clone()),
                    message: f.clone(),
                    hint: None,
                });
            }
            let base_result = pass.samples[ci][base]
                .as_ref()
                .filter(|_| ti != base && check.targets.contains(&base));
            if let Some(base_result) = base_result {
                let base_name = &plan.targets[base].name;
                if let Some(f) = analyze::hints::websocket_refused(
                    &check.name,
                    (base_name, base_result),
                    (target, result),
                ) {
                    findings.push(f);
                }
                let mut diffs = Vec::new();
                if let (ProbeResult::Cors(b), ProbeResult::Cors(c)) = (base_result, result) {
                    diffs.extend(analyze::cors::compare((base_name, b), (&target.name, c)));
                }
                if !check.parity.is_empty() {
                    diffs.extend(analyze::parity::compare(
                        &check.parity,
                        (base_name, base_result.primary()),
                        (&target.name, sample),
                    ));
                }
                {
                    for d in &diffs {
                        findings.push(Finding {
                            kind: "parity".into(),
                            severity: Severity::Error,
                            check: check.name.clone(),
                            target: Some(target.name.clone()),
                            message: d.clone(),
                            hint: None,
                        });
                    }
                    failures.extend(diffs);
                }
            }
            let host = check_host(ci, ti);
            let host_routed = routed.contains(&(ti, host.clone()));
            findings.extend(analyze::hints::hints(
                &check.name,
                target,
                &host,
                host_routed,
                sample,
            ));
            let verdict = if sample.response.is_none() {
                Verdict::Error
            } else if failures.is_empty() {
                Verdict::Pass
            } else {
                Verdict::Fail
            };
            let mut r = target_result(plan, ci, &target.name, sample, verdict, failures);
            r.details = details(result);
            results.push(r);
        }
        let verdict = if results.iter().any(|r| r.verdict.is_failure()) {
            Verdict::Fail
        } else if results.iter().all(|r| r.verdict == Verdict::Skipped) {
            Verdict::Skipped
        } else {
            Verdict::Pass
        };
        checks.push(CheckReport {
            name: check.name.clone(),
            kind: check.probe.kind().into(),
            request: check.probe.describe(),
            verdict,
            results,
        });
    }
    let verdict = if checks.iter().any(|c| c.verdict.is_failure()) {
        Verdict::Fail
    } else {
        Verdict::Pass
    };
    let duration_ms = ended
        .duration_since(started)
        .unwrap_or_default()
        .as_millis() as u64;
    Report {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: "cutover".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        mode: mode.into(),
        scenario: ScenarioInfo {
            name: plan.name.clone(),
            path: plan.path.display().to_string(),
            sha256: plan.sha256.clone(),
            host: plan.host.clone(),
        },
        started_at: humantime::format_rfc3339_millis(started).to_string(),
        ended_at: humantime::format_rfc3339_millis(ended).to_string(),
        duration_ms,
        status: if pass.interrupted {
            RunStatus::Interrupted
        } else {
            RunStatus::Completed
        },
        verdict,
        targets: plan
            .targets
            .iter()
            .map(|t| TargetInfo {
                name: t.name.clone(),
                role: t.role,
                proxy: t.proxy,
                connect: t.connect.to_string(),
                host: t.host.clone(),
                scheme: t.scheme,
                tls_insecure: t.tls.insecure,
                ca: t.tls.ca.as_ref().map(|p| p.display().to_string()),
            })
            .collect(),
        checks,
        findings,
        load: None,
    }
}

/// Adds the load phase to a report: per target and check, totals and series,
/// and a warning for each target × check that saw failures under load.
pub fn add_load(
    report: &mut Report,
    plan: &Plan,
    load: &LoadPlan,
    outcome: &Outcome,
    workers: usize,
) {
    let secs = outcome.elapsed.as_secs_f64().max(1e-9);
    let elapsed_in_shape = outcome.elapsed.min(outcome.shape.total());
    let intended = outcome.shape.arrivals_before(elapsed_in_shape);
    let mut targets = Vec::new();
    for &ti in &outcome.targets {
        let target = &plan.targets[ti];
        let mut total = Bucket::default();
        let mut checks = Vec::new();
        for (ci, check) in plan.checks.iter().enumerate() {
            let key = outcome.key(ti, ci);
            let bucket = &outcome.aggregator.totals[key];
            if bucket.requests == 0 && bucket.dropped == 0 {
                continue;
            }
            total.merge(bucket);
            let stats = bucket.stats();
            let failed = stats.errors + bucket.server_errors();
            if failed > 0 {
                let mut parts: Vec<String> = stats
                    .statuses
                    .iter()
                    .filter(|(c, _)| c.starts_with('5'))
                    .map(|(c, n)| format!("{c} ×{n}"))
                    .collect();
                parts.extend(stats.error_kinds.iter().map(|(k, n)| format!("{k} ×{n}")));
                let origins: Vec<String> = stats
                    .origins
                    .iter()
                    .filter(|(o, _)| *o != "app")
                    .map(|(o, n)| format!("{o} {n}"))
                    .collect();
                report.findings.push(Finding {
                    kind: "load_errors".into(),
                    severity: Severity::Warning,
                    check: check.name.clone(),
                    target: Some(target.name.clone()),
                    message: format!(
                        "{failed} of {} requests ({:.2} %) failed under load: {}{}",
                        stats.requests,
                        100.0 * failed as f64 / stats.requests.max(1) as f64,
                        parts.join(", "),
                        if origins.is_empty() {
                            String::new()
                        } else {
                            format!(" (produced by: {})", origins.join(", "))
                        }
                    ),
                    hint: None,
                });
            }
            checks.push(CheckLoad {
                check: check.name.clone(),
                achieved_rate: bucket.requests as f64 / secs,
                totals: stats,
                series: outcome.aggregator.series[key].clone(),
            });
        }
        targets.push(TargetLoad {
            target: target.name.clone(),
            intended,
            intended_rate: intended as f64 / elapsed_in_shape.as_secs_f64().max(1e-9),
            achieved_rate: total.requests as f64 / secs,
            totals: total.stats(),
            checks,
        });
    }
    // Latency regression: each loaded target against the baseline target, per check.
    let rules = plan.analysis.latency.clone();
    if outcome.targets.contains(&plan.baseline) {
        let base = &plan.targets[plan.baseline];
        for (ci, check) in plan.checks.iter().enumerate() {
            let b = &outcome.aggregator.totals[outcome.key(plan.baseline, ci)];
            if b.requests == 0 {
                continue;
            }
            for &ti in outcome.targets.iter().filter(|t| **t != plan.baseline) {
                let t = &outcome.aggregator.totals[outcome.key(ti, ci)];
                if t.requests == 0 {
                    continue;
                }
                let c = analyze::latency::compare(&t.latency, &b.latency, &rules);
                if c.is_regression(&rules) {
                    report.findings.push(Finding {
                        kind: "latency_regression".into(),
                        severity: Severity::Warning,
                        check: check.name.clone(),
                        target: Some(plan.targets[ti].name.clone()),
                        message: c.describe(&plan.targets[ti].name, &base.name),
                        hint: None,
                    });
                }
            }
        }
    }
    let stages = outcome
        .shape
        .phases
        .iter()
        .map(|p| {
            let (start_s, duration_s) =
                (p.start().as_secs_f64(), (p.end() - p.start()).as_secs_f64());
            match *p {
                Phase::Open { from, to, .. } => StageInfo {
                    kind: if from == to { "constant" } else { "ramp" }.into(),
                    start_s,
                    duration_s,
                    from_rate: Some(from),
                    to_rate: Some(to),
                    concurrency: None,
                },
                Phase::Closed { concurrency, .. } => StageInfo {
                    kind: "closed".into(),
                    start_s,
                    duration_s,
                    from_rate: None,
                    to_rate: None,
                    concurrency: Some(concurrency),
                },
                Phase::Sockets {
                    sockets, interval, ..
                } => StageInfo {
                    kind: "sockets".into(),
                    start_s,
                    duration_s,
                    // Messages per second per socket.
                    from_rate: Some(1.0 / interval.as_secs_f64()),
                    to_rate: Some(1.0 / interval.as_secs_f64()),
                    concurrency: Some(sockets),
                },
            }
        })
        .collect();
    report.load = Some(LoadReport {
        started_at: humantime::format_rfc3339_millis(outcome.started).to_string(),
        duration_ms: outcome.elapsed.as_millis() as u64,
        interrupted: outcome.interrupted,
        workers,
        connection: match load.connection {
            ConnectionPolicy::KeepAlive => "keepalive",
            ConnectionPolicy::Fresh => "fresh",
        }
        .into(),
        max_in_flight: load.max_in_flight,
        connections: load.connections,
        stages,
        targets,
        events: Vec::new(),
        dns: Vec::new(),
    });
    if outcome.interrupted {
        report.status = RunStatus::Interrupted;
    }
}

/// Failed message exchanges and a hold that ended early, as sentences.
fn websocket_failures(
    w: &probe::websocket::WsResult,
    hold: Option<std::time::Duration>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (i, x) in w.exchanges.iter().enumerate() {
        if let Some(f) = &x.failure {
            out.push(format!("message {} ({}): {f}", i + 1, x.sent));
        }
    }
    if let (Some(hold), Some((after, end))) = (hold, &w.ended) {
        if *end != probe::websocket::End::Held && w.exchanges.iter().all(|x| x.failure.is_none()) {
            out.push(format!(
                "the socket ended after {:.1} s of a {} hold: {}",
                after.as_secs_f64(),
                humantime::format_duration(hold),
                describe_end(end)
            ));
        }
    }
    out
}

/// Kind-specific details for the report: messages and hold of a WebSocket,
/// the three CORS answers.
fn details(result: &ProbeResult) -> Option<serde_json::Value> {
    match result {
        ProbeResult::Http(_) | ProbeResult::Dns(_) => None,
        ProbeResult::WebSocket(w) => Some(serde_json::json!({
            "upgraded": w.upgraded(),
            "subprotocol": w.subprotocol,
            "messages": w.exchanges.iter().map(|x| serde_json::json!({
                "sent": x.sent,
                "rtt_ms": x.rtt.map(|d| d.as_secs_f64() * 1000.0),
                "failure": x.failure,
            })).collect::<Vec<_>>(),
            "rtt": crate::record::Quantiles::of(&w.rtt),
            "ended": w.ended.as_ref().map(|(after, end)| serde_json::json!({
                "after_ms": after.as_secs_f64() * 1000.0,
                "how": describe_end(end),
            })),
        })),
        ProbeResult::Cors(c) => {
            let h = analyze::cors::CorsHeaders::of;
            Some(serde_json::json!({
                "preflight": h(&c.preflight),
                "negative": c.negative.as_ref().map(h),
                "actual": c.actual.as_ref().map(h),
            }))
        }
    }
}

/// The answers that identify each target, for DNS checks.
pub fn target_answers(
    plan: &Plan,
    target_addrs: &[Vec<std::net::IpAddr>],
) -> Vec<analyze::dns::TargetAnswers> {
    plan.targets
        .iter()
        .enumerate()
        .map(|(i, t)| analyze::dns::TargetAnswers {
            target: t.name.clone(),
            answers: if t.dns_answers.is_empty() {
                // The load balancer's name (a CNAME answer) and what it resolves to.
                std::iter::once(t.connect.host.to_ascii_lowercase())
                    .chain(
                        target_addrs
                            .get(i)
                            .into_iter()
                            .flatten()
                            .map(|a| a.to_string()),
                    )
                    .collect()
            } else {
                t.dns_answers.clone()
            },
        })
        .collect()
}

/// Samples every DNS check of the plan every `every` until `stop`, returning the split over time.
pub async fn dns_over_time(
    plan: &Plan,
    target_addrs: &[Vec<std::net::IpAddr>],
    started: tokio::time::Instant,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<crate::report::model::DnsSeries> {
    let answers = target_answers(plan, target_addrs);
    let mut series = Vec::new();
    for check in &plan.checks {
        let ProbeSpec::Dns(spec) = &check.probe else {
            continue;
        };
        series.push((check, spec, Vec::new()));
    }
    if series.is_empty() {
        return Vec::new();
    }
    let every = series
        .iter()
        .map(|(_, s, _)| s.every)
        .min()
        .unwrap_or(std::time::Duration::from_secs(30));
    let mut next = tokio::time::Instant::now() + every;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
        next += every;
        for (check, spec, points) in &mut series {
            let d = probe::dns::sample(spec).await;
            let (split, _) = analyze::dns::analyze(&spec.name, &d, &answers, &check.dns_expect);
            points.push(crate::report::model::DnsPoint {
                at_s: started.elapsed().as_secs_f64(),
                answered: split.answered,
                shares: split
                    .shares
                    .iter()
                    .map(|s| (s.target.clone(), s.observed))
                    .collect(),
                p_value: split.p_value,
            });
        }
    }
    series
        .into_iter()
        .map(|(check, _, points)| crate::report::model::DnsSeries {
            check: check.name.clone(),
            points,
        })
        .collect()
}

/// The one result of a DNS check: its split, its problems as findings.
fn dns_result(
    plan: &Plan,
    target_addrs: &[Vec<std::net::IpAddr>],
    check: &crate::scenario::plan::Check,
    spec: &probe::dns::DnsSpec,
    d: &probe::dns::DnsResult,
    findings: &mut Vec<Finding>,
) -> TargetResult {
    let answers = target_answers(plan, target_addrs);
    let (split, problems) = analyze::dns::analyze(&spec.name, d, &answers, &check.dns_expect);
    let hint = |kind: &str| {
        match kind {
        "dns_weights" | "dns_weight_zero" => Some("check the weighted records (external-dns `aws-weight` annotations, Route 53 set identifiers) and that every nameserver serves the same zone".to_owned()),
        "dns_private_answer" => Some("exclude the HTTPRoute or Service from external-dns (annotation external-dns.alpha.kubernetes.io/exclude: \"true\") so its ClusterIP is not published".to_owned()),
        "dns_ttl" => Some("lower the record TTL before shifting weights (alias records to load balancers use 60 s)".to_owned()),
        _ => None,
    }
    };
    let failures: Vec<String> = problems.iter().map(|(_, m)| m.clone()).collect();
    for (kind, message) in &problems {
        findings.push(Finding {
            kind: (*kind).into(),
            severity: Severity::Error,
            check: check.name.clone(),
            target: None,
            message: message.clone(),
            hint: hint(kind),
        });
    }
    let verdict = if split.answered == 0 {
        Verdict::Error
    } else if failures.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    TargetResult {
        target: "dns".into(),
        verdict,
        url: d.summary.url.to_string(),
        status: None,
        origin: None,
        origin_reason: None,
        latency_ms: d.elapsed.as_secs_f64() * 1000.0,
        ttfb_ms: None,
        body_bytes: None,
        body_sha256: None,
        body_truncated: false,
        headers: Vec::new(),
        error: d.summary.error.as_ref().map(|e| ErrorInfo {
            kind: e.kind,
            message: e.message.clone(),
        }),
        failures,
        details: serde_json::to_value(&split).ok(),
    }
}

fn skipped(target: &str) -> TargetResult {
    TargetResult {
        target: target.to_owned(),
        verdict: Verdict::Skipped,
        url: String::new(),
        status: None,
        origin: None,
        origin_reason: None,
        latency_ms: 0.0,
        ttfb_ms: None,
        body_bytes: None,
        body_sha256: None,
        body_truncated: false,
        headers: Vec::new(),
        error: None,
        failures: vec!["not run: the run was interrupted".into()],
        details: None,
    }
}

fn target_result(
    plan: &Plan,
    ci: usize,
    target: &str,
    s: &Sample,
    verdict: Verdict,
    failures: Vec<String>,
) -> TargetResult {
    let check = &plan.checks[ci];
    let wanted = |name: &str| {
        IDENTIFYING_HEADERS.contains(&name)
            || check.expect.headers.iter().any(|(n, _)| n == name)
            || check.parity.headers.iter().any(|n| n == name)
    };
    let r = s.response.as_ref();
    TargetResult {
        target: target.to_owned(),
        verdict,
        url: s.url.to_string(),
        status: r.map(|r| r.status),
        origin: r.map(|r| r.origin),
        origin_reason: r.map(|r| r.origin_reason.to_owned()),
        latency_ms: s.latency.as_secs_f64() * 1000.0,
        ttfb_ms: s.ttfb.map(|t| t.as_secs_f64() * 1000.0),
        body_bytes: r.map(|r| r.body.size),
        body_sha256: r.map(|r| r.body.sha256.clone()).filter(|h| !h.is_empty()),
        body_truncated: r.is_some_and(|r| r.body.truncated),
        headers: r
            .map(|r| {
                r.headers
                    .iter()
                    .filter(|(n, _)| wanted(n))
                    .map(|(n, v)| Header {
                        name: n.clone(),
                        value: v.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        error: s.error.as_ref().map(|e| ErrorInfo {
            kind: e.kind,
            message: e.message.clone(),
        }),
        failures,
        details: None,
    }
}

/// Runs the plan's events at their offsets from `started` until `stop`.
///
/// `stretch` scales the offsets like `--duration` scales the stages.
pub async fn run_events(
    plan: &Plan,
    started: tokio::time::Instant,
    stretch: f64,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<crate::report::model::EventRecord> {
    let mut out = Vec::new();
    for e in &plan.events {
        tokio::select! {
            () = tokio::time::sleep_until(started + e.at.mul_f64(stretch)) => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
        let at_s = started.elapsed().as_secs_f64();
        let mut record = crate::report::model::EventRecord {
            name: e.name.clone(),
            at_s,
            end_s: None,
            exit_code: None,
            output: String::new(),
            error: None,
        };
        if let Some(cmd) = &e.run {
            let child = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true)
                .output();
            match tokio::time::timeout(e.timeout, child).await {
                Ok(Ok(o)) => {
                    let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
                    text.push_str(&String::from_utf8_lossy(&o.stderr));
                    if text.len() > 4096 {
                        let mut cut = 4096;
                        while !text.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        text.truncate(cut);
                        text.push('…');
                    }
                    record.output = text;
                    record.exit_code = o.status.code();
                }
                Ok(Err(err)) => record.error = Some(format!("could not run the command: {err}")),
                Err(_) => {
                    record.error = Some(format!(
                        "the command did not finish within {}",
                        humantime::format_duration(e.timeout)
                    ))
                }
            }
        }
        record.end_s = Some(started.elapsed().as_secs_f64());
        out.push(record);
    }
    out
}

/// Event failures and 503 spikes (after events, or unexplained) as findings.
pub fn event_findings(report: &mut Report, plan: &Plan, outcome: &Outcome) {
    let Some(load) = report.load.as_ref() else {
        return;
    };
    let events: Vec<analyze::spike::Event> = load
        .events
        .iter()
        .map(|e| analyze::spike::Event {
            name: e.name.clone(),
            at: e.at_s,
        })
        .collect();
    let mut findings = Vec::new();
    for e in &load.events {
        let failed = e.error.clone().or_else(|| match e.exit_code {
            Some(0) | None => None,
            Some(c) => Some(format!("the command exited with status {c}")),
        });
        if let Some(why) = failed {
            findings.push(Finding {
                kind: "event_failed".into(),
                severity: Severity::Warning,
                check: e.name.clone(),
                target: None,
                message: format!("event `{}` at {:.1} s failed: {why}", e.name, e.at_s),
                hint: None,
            });
        }
    }
    let rules = plan.analysis.spike.clone();
    for &ti in &outcome.targets {
        let mut per_second: std::collections::BTreeMap<u64, analyze::spike::Second> =
            std::collections::BTreeMap::new();
        for ci in 0..plan.checks.len() {
            for s in &outcome.aggregator.series[outcome.key(ti, ci)] {
                let e = per_second
                    .entry(s.second)
                    .or_insert_with(|| analyze::spike::Second {
                        second: s.second,
                        ..Default::default()
                    });
                e.requests += s.stats.requests;
                for (o, n) in &s.stats.s503_origins {
                    match e.s503.iter_mut().find(|(x, _)| x == o) {
                        Some((_, m)) => *m += n,
                        None => e.s503.push((o.clone(), *n)),
                    }
                }
            }
        }
        let series: Vec<analyze::spike::Second> = per_second.into_values().collect();
        let target = &plan.targets[ti];
        for spike in analyze::spike::detect(&series, &events, &rules) {
            let gateway_made = spike.origins.first().is_some_and(|(o, _)| o == "gateway");
            findings.push(Finding {
                kind: "spike_503".into(),
                severity: Severity::Warning,
                check: spike.event.clone().unwrap_or_else(|| "load".into()),
                target: Some(target.name.clone()),
                message: spike.describe(&target.name),
                hint: gateway_made.then(|| analyze::spike::POOLED_CONNECTION_HINT.to_owned()),
            });
        }
    }
    report.findings.extend(findings);
}

/// End-of-run thresholds per loaded target: a breach is an error finding and fails the run.
pub fn threshold_findings(report: &mut Report, plan: &Plan) {
    let t = &plan.analysis.thresholds;
    let Some(load) = report.load.as_ref() else {
        return;
    };
    let mut findings = Vec::new();
    for tl in &load.targets {
        let s = &tl.totals;
        let n = s.requests.max(1) as f64;
        let server = s
            .statuses
            .iter()
            .filter(|(k, _)| k.starts_with('5'))
            .map(|(_, n)| n)
            .sum::<u64>();
        let mut breach = |what: String| {
            findings.push(Finding {
                kind: "threshold".into(),
                severity: Severity::Error,
                check: "load".into(),
                target: Some(tl.target.clone()),
                message: format!("{}: {what}", tl.target),
                hint: None,
            })
        };
        if let Some(max) = t.error_ratio {
            let r = (s.errors + server) as f64 / n;
            if r > max {
                breach(format!(
                    "error ratio {:.2} % exceeds {:.2} % ({} of {} requests)",
                    100.0 * r,
                    100.0 * max,
                    s.errors + server,
                    s.requests
                ));
            }
        }
        if let Some(max) = t.server_error_ratio {
            let r = server as f64 / n;
            if r > max {
                breach(format!(
                    "5xx ratio {:.2} % exceeds {:.2} % ({server} of {} requests)",
                    100.0 * r,
                    100.0 * max,
                    s.requests
                ));
            }
        }
        if let Some(max) = t.p99 {
            let max_ms = max.as_secs_f64() * 1000.0;
            if s.latency.p99 > max_ms {
                breach(format!(
                    "p99 {:.1} ms exceeds {:.1} ms",
                    s.latency.p99, max_ms
                ));
            }
        }
    }
    if !findings.is_empty() {
        report.verdict = Verdict::Fail;
    }
    report.findings.extend(findings);
}

/// Compares this run's latency per target × check with a saved report's
/// (`--baseline`): a regression is an error finding and fails the run.
pub fn baseline_findings(
    report: &mut Report,
    plan: &Plan,
    path: &std::path::Path,
) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read baseline `{}`: {e}", path.display()))?;
    let old: Report = serde_json::from_str(&text)
        .map_err(|e| format!("`{}` is not a cutover report: {e}", path.display()))?;
    let (Some(old_load), Some(new_load)) = (old.load.as_ref(), report.load.as_ref()) else {
        return Err(format!(
            "`{}` or this run has no load section to compare",
            path.display()
        ));
    };
    let rules = &plan.analysis.latency;
    let mut findings = Vec::new();
    for t in &new_load.targets {
        let Some(ot) = old_load.targets.iter().find(|x| x.target == t.target) else {
            continue;
        };
        for c in &t.checks {
            let Some(oc) = ot.checks.iter().find(|x| x.check == c.check) else {
                continue;
            };
            let (Some(new_h), Some(old_h)) = (
                crate::record::decode(&c.totals.latency_hist),
                crate::record::decode(&oc.totals.latency_hist),
            ) else {
                continue;
            };
            let cmp = analyze::latency::compare(&new_h, &old_h, rules);
            if cmp.is_regression(rules) {
                findings.push(Finding {
                    kind: "baseline_regression".into(),
                    severity: Severity::Error,
                    check: c.check.clone(),
                    target: Some(t.target.clone()),
                    message: format!(
                        "slower than the baseline run of {}: {}",
                        old.started_at,
                        cmp.describe(&format!("{} now", t.target), "then")
                    ),
                    hint: None,
                });
            }
        }
    }
    if !findings.is_empty() {
        report.verdict = Verdict::Fail;
    }
    report.findings.extend(findings);
    Ok(())
}
