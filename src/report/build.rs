//! Building the report model from the plan, the recorded run and its verdict.
//!
//! Layout only: every pass, fail and finding comes from the [`Verdict`];
//! this module copies it next to what was measured (statuses, origins,
//! latencies, headers, load series) and never judges again.

use std::time::SystemTime;

use super::model::{
    Answer, BodyLimitDetails, BurstDetails, CheckKind, CheckLoad, CheckReport, CorsDetails,
    Details, DnsPoint, DnsSeries, ErrorInfo, ForwardedDetails, GrpcDetails, Header,
    HostVariantDetails, HostnamesDetails, LoadReport, ParityCounts, PointerCounts,
    RateLimitDetails, Report, ScenarioInfo, ShardTag, StageInfo, TargetInfo, TargetLoad,
    TargetResult, Tool, WebsocketDetails, WebsocketEnd, WebsocketMessage, SCHEMA_VERSION,
};
use super::stats::{Quantiles, SecondStats, Stats};
use crate::analyze::cors::CorsHeaders;
use crate::analyze::{CheckVerdict, Finding, Verdict};
use crate::load::schedule::Phase;
use crate::probe::behaviour::{BehaviourResult, BehaviourSpec};
use crate::probe::websocket::describe_end;
use crate::probe::{ProbeResult, Sample};
use crate::record::Bucket;
use crate::run::{LoadRecord, Recorded};
use crate::scenario::plan::{ConnectionPolicy, Plan, ProbeSpec};

/// Headers kept in the report for every response: they identify the path.
const IDENTIFYING_HEADERS: &[&str] = &[
    "server",
    "content-type",
    "location",
    "x-envoy-upstream-service-time",
];

/// The report of a judged run.
pub fn build(plan: &Plan, recorded: &Recorded, verdict: &Verdict) -> Report {
    let checks = plan
        .checks
        .iter()
        .enumerate()
        .map(|(ci, _)| check_report(plan, recorded, verdict, ci))
        .collect();
    Report {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: "cutover".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        mode: recorded.mode,
        scenario: ScenarioInfo {
            name: plan.name.clone(),
            path: plan.path.display().to_string(),
            sha256: plan.sha256.clone(),
            host: plan.host.clone(),
        },
        started_at: rfc3339(recorded.started),
        ended_at: rfc3339(recorded.ended),
        duration_ms: recorded
            .ended
            .duration_since(recorded.started)
            .unwrap_or_default()
            .as_millis() as u64,
        status: verdict.status,
        verdict: if verdict.passed() {
            CheckVerdict::Pass
        } else {
            CheckVerdict::Fail
        },
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
        findings: verdict.findings.clone(),
        load: recorded
            .load
            .as_ref()
            .map(|l| load_report(plan, l, verdict)),
        watch: None,
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

fn kind(spec: &ProbeSpec) -> CheckKind {
    match spec {
        ProbeSpec::Http(_) => CheckKind::Http,
        ProbeSpec::WebSocket(_) => CheckKind::Websocket,
        ProbeSpec::Cors(_) => CheckKind::Cors,
        ProbeSpec::Dns(_) => CheckKind::Dns,
        ProbeSpec::Behaviour(b) => match b {
            BehaviourSpec::RateLimit(_) => CheckKind::RateLimit,
            BehaviourSpec::BodyLimit(_) => CheckKind::BodyLimit,
            BehaviourSpec::RouteTimeout(_) => CheckKind::RouteTimeout,
            BehaviourSpec::Redirect(_) => CheckKind::Redirect,
            BehaviourSpec::Forwarded(_) => CheckKind::ForwardedHeaders,
            BehaviourSpec::Hostnames(_) => CheckKind::Hostnames,
        },
        ProbeSpec::Grpc(_) => CheckKind::Grpc,
    }
}

fn failures<'a>(fs: impl Iterator<Item = &'a Finding>) -> Vec<String> {
    fs.filter(|f| f.fails())
        .map(|f| f.message.clone())
        .collect()
}

fn check_report(plan: &Plan, recorded: &Recorded, verdict: &Verdict, ci: usize) -> CheckReport {
    let check = &plan.checks[ci];
    let results = verdict.results[ci]
        .iter()
        .map(|&(ti, v)| match ti {
            None => dns_result(recorded, verdict, &check.name, ci, v),
            Some(ti) => {
                let target = &plan.targets[ti].name;
                match &recorded.pass.samples[ci][ti] {
                    None => skipped(target),
                    Some(result) => {
                        let mut r = target_result(plan, ci, target, result.primary(), v);
                        r.failures = failures(verdict.findings_of(&check.name, Some(target)));
                        r.details = details(&check.probe, result);
                        r
                    }
                }
            }
        })
        .collect();
    CheckReport {
        name: check.name.clone(),
        kind: kind(&check.probe),
        request: check.probe.describe(),
        verdict: verdict.check(ci),
        results,
    }
}

fn dns_result(
    recorded: &Recorded,
    verdict: &Verdict,
    check: &str,
    ci: usize,
    v: CheckVerdict,
) -> TargetResult {
    let check_targets = recorded.pass.samples[ci]
        .iter()
        .flatten()
        .find_map(|r| match r {
            ProbeResult::Dns(d) => Some(d),
            _ => None,
        });
    let Some(d) = check_targets else {
        return skipped("dns");
    };
    let mut r = target_result_bare("dns", v);
    r.url = d.summary.url.to_string();
    r.latency_ms = d.elapsed.as_secs_f64() * 1000.0;
    r.error = d.summary.error.as_ref().map(|e| ErrorInfo {
        kind: e.kind,
        message: e.message.clone(),
    });
    r.failures = failures(verdict.findings_of(check, None));
    r.details = verdict.splits[ci].clone().map(Details::Dns);
    r
}

fn target_result_bare(target: &str, verdict: CheckVerdict) -> TargetResult {
    TargetResult {
        target: target.to_owned(),
        verdict,
        url: String::new(),
        status: None,
        origin: None,
        origin_reason: None,
        latency_ms: 0.0,
        ttfb_ms: None,
        body_bytes: None,
        body_sha256: None,
        body_truncated: false,
        body_prefix: None,
        headers: Vec::new(),
        error: None,
        failures: Vec::new(),
        details: None,
        http_version: None,
    }
}

fn skipped(target: &str) -> TargetResult {
    let mut r = target_result_bare(target, CheckVerdict::Skipped);
    r.failures = vec!["not run: the run was interrupted".into()];
    r
}

fn target_result(
    plan: &Plan,
    ci: usize,
    target: &str,
    s: &Sample,
    verdict: CheckVerdict,
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
        body_prefix: r
            .filter(|_| check.parity.body.is_some())
            .map(|r| body_prefix(&r.body.prefix)),
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
        failures: Vec::new(),
        details: None,
        http_version: r.and_then(|r| r.version),
    }
}

/// Bytes of a compared body kept in the report.
const BODY_PREFIX_BYTES: usize = 1024;

/// The first KiB of a body as text (invalid UTF-8 replaced).
fn body_prefix(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(BODY_PREFIX_BYTES)]).into_owned()
}

/// One answer of a behaviour probe.
fn answer(s: &Sample) -> Answer {
    let r = s.response.as_ref();
    Answer {
        status: r.map(|r| r.status),
        origin: r.map(|r| r.origin),
        after_ms: s.latency.as_secs_f64() * 1000.0,
        location: r.and_then(|r| r.header("location")),
        error: s.error.as_ref().map(|e| e.kind),
    }
}

/// A behaviour probe's details.
fn behaviour_details(spec: &ProbeSpec, b: &BehaviourResult) -> Details {
    match b {
        BehaviourResult::RateLimit(r) => Details::RateLimit(RateLimitDetails {
            sent: r.sent(),
            bucket: match crate::analyze::rate_limit::bucket(r) {
                crate::analyze::rate_limit::Bucket::PerClient => "per_client",
                crate::analyze::rate_limit::Bucket::Shared => "shared",
                crate::analyze::rate_limit::Bucket::Unknown => "unknown",
            }
            .into(),
            bursts: r
                .bursts
                .iter()
                .map(|b| BurstDetails {
                    source: b.source.map(|ip| ip.to_string()),
                    sent: b.sent,
                    passed: b.passed,
                    first_limited: b.first_limited,
                    limited: b.limited.as_ref().map(answer),
                    errors: b.errors,
                    statuses: b
                        .statuses
                        .iter()
                        .map(|(s, n)| (s.to_string(), *n))
                        .collect(),
                })
                .collect(),
        }),
        BehaviourResult::BodyLimit(r) => {
            let (size, (below_bytes, above_bytes)) = match spec {
                ProbeSpec::Behaviour(BehaviourSpec::BodyLimit(l)) => (l.size, l.sizes()),
                _ => (0, (0, 0)),
            };
            Details::BodyLimit(BodyLimitDetails {
                size,
                below_bytes,
                below: answer(&r.below),
                above_bytes,
                above: answer(&r.above),
            })
        }
        BehaviourResult::RouteTimeout(s) => Details::RouteTimeout(answer(s)),
        BehaviourResult::Redirect(s) => Details::Redirect(answer(s)),
        BehaviourResult::Forwarded(r) => Details::ForwardedHeaders(ForwardedDetails {
            received: r
                .received
                .iter()
                .filter(|(n, _)| crate::analyze::forwarded::FORWARDED.contains(&n.as_str()))
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect(),
            unreadable: r.unreadable.clone(),
        }),
        BehaviourResult::Hostnames(r) => Details::Hostnames(HostnamesDetails {
            variants: r
                .samples
                .iter()
                .map(|v| HostVariantDetails {
                    variant: v.variant.as_str().to_owned(),
                    host: v.host.clone(),
                    answer: answer(&v.sample),
                })
                .collect(),
        }),
    }
}

/// Kind-specific details: messages and hold of a WebSocket, the three CORS
/// answers, a behaviour probe's answers.
fn details(spec: &ProbeSpec, result: &ProbeResult) -> Option<Details> {
    match result {
        ProbeResult::Behaviour(b) => Some(behaviour_details(spec, b)),
        ProbeResult::Http(_) | ProbeResult::Dns(_) => None,
        ProbeResult::Grpc(g) => g.status.as_ref().map(|s| {
            Details::Grpc(GrpcDetails {
                code: s.code,
                code_number: s.code.number(),
                message: s.message.clone(),
                from_http: s.from_http,
                messages: s.messages,
                trailers_only: s.trailers_only,
                trailers: g
                    .sample
                    .response
                    .as_ref()
                    .map(|r| {
                        r.trailers
                            .iter()
                            .map(|(n, v)| Header {
                                name: n.clone(),
                                value: v.clone(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        }),
        ProbeResult::WebSocket(w) => Some(Details::Websocket(WebsocketDetails {
            upgraded: w.upgraded(),
            subprotocol: w.subprotocol.clone(),
            messages: w
                .exchanges
                .iter()
                .map(|x| WebsocketMessage {
                    sent: x.sent.clone(),
                    rtt_ms: x.rtt.map(|d| d.as_secs_f64() * 1000.0),
                    failure: x.failure.clone(),
                })
                .collect(),
            rtt: Quantiles::of(&w.rtt),
            ended: w.ended.as_ref().map(|(after, end)| WebsocketEnd {
                after_ms: after.as_secs_f64() * 1000.0,
                how: describe_end(end),
            }),
        })),
        ProbeResult::Cors(c) => Some(Details::Cors(Box::new(CorsDetails {
            preflight: CorsHeaders::of(&c.preflight),
            negative: c.negative.as_ref().map(CorsHeaders::of),
            actual: c.actual.as_ref().map(CorsHeaders::of),
        }))),
    }
}

/// The load phase: per target and check, totals and series; stages, events, DNS.
pub fn load_report(plan: &Plan, l: &LoadRecord, verdict: &Verdict) -> LoadReport {
    let outcome = &l.outcome;
    let secs = outcome.elapsed.as_secs_f64().max(1e-9);
    let elapsed_in_shape = outcome.elapsed.min(outcome.shape.total());
    // A shard intends its share of the whole schedule's arrivals.
    let intended = outcome
        .shard
        .share(outcome.shape.arrivals_before(elapsed_in_shape));
    let mut targets = Vec::new();
    for &ti in &outcome.targets {
        let mut total = Bucket::default();
        let mut checks = Vec::new();
        for (ci, check) in plan.checks.iter().enumerate() {
            let key = outcome.key(ti, ci);
            let bucket = &outcome.aggregator.totals[key];
            if bucket.requests == 0 && bucket.dropped == 0 && bucket.cancelled == 0 {
                continue;
            }
            total.merge(bucket);
            checks.push(CheckLoad {
                check: check.name.clone(),
                achieved_rate: bucket.requests as f64 / secs,
                totals: Stats::from(bucket),
                series: outcome.aggregator.series[key]
                    .iter()
                    .map(SecondStats::from)
                    .collect(),
                parity: outcome.parity.get(key).map(|t| ParityCounts {
                    sampled: t.sampled,
                    pointers: t
                        .pointers
                        .iter()
                        .map(|(p, &(raw, noise))| (p.clone(), PointerCounts { raw, noise }))
                        .collect(),
                    untracked: t.untracked,
                }),
            });
        }
        targets.push(TargetLoad {
            target: plan.targets[ti].name.clone(),
            intended,
            intended_rate: intended as f64 / elapsed_in_shape.as_secs_f64().max(1e-9),
            achieved_rate: total.requests as f64 / secs,
            totals: Stats::from(&total),
            checks,
        });
    }
    let load = plan.load.as_ref();
    LoadReport {
        started_at: rfc3339(outcome.started),
        duration_ms: outcome.elapsed.as_millis() as u64,
        interrupted: outcome.interrupted,
        workers: l.workers,
        connection: match load.map(|l| l.connection) {
            Some(ConnectionPolicy::Fresh) => "fresh",
            _ => "keepalive",
        }
        .into(),
        max_in_flight: load.map_or(0, |l| l.max_in_flight),
        connections: load.map_or(0, |l| l.connections),
        http_version: load
            .filter(|l| l.http_version.is_h2())
            .map(|l| l.http_version.as_str().to_owned()),
        max_streams: load
            .filter(|l| l.http_version.is_h2())
            .map(|l| l.max_streams),
        stages: outcome.shape.phases.iter().map(stage).collect(),
        targets,
        shard: outcome.shard.is_sharded().then(|| ShardTag {
            index: outcome.shard.index,
            count: outcome.shard.count,
            host: l.host.clone(),
        }),
        rate_scale: outcome.rate_scale,
        fit_ms: outcome.fit.map(|d| d.as_millis() as u64),
        merged: Vec::new(),
        events: l.events.clone(),
        dns: verdict
            .dns_over_time
            .iter()
            .map(|(ci, points)| DnsSeries {
                check: plan.checks[*ci].name.clone(),
                host: None,
                points: points
                    .iter()
                    .map(|(at, split)| DnsPoint {
                        at_s: *at,
                        answered: split.answered,
                        shares: split
                            .shares
                            .iter()
                            .map(|s| (s.target.clone(), s.observed))
                            .collect(),
                        p_value: split.p_value,
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn stage(p: &Phase) -> StageInfo {
    let (start_s, duration_s) = (p.start().as_secs_f64(), (p.end() - p.start()).as_secs_f64());
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
}
