//! Judging the check pass: every sample against its check's rules.
//!
//! For each check × target: expectations ([`super::expect`]), WebSocket
//! exchanges and holds, CORS rules ([`super::cors`]), parity with the
//! baseline target ([`super::parity`]), and the migration hints
//! ([`super::hints`]). A DNS check has one result for the whole split
//! ([`super::dns`]). A behaviour check is judged with both targets side by
//! side ([`super::behaviour`]).
//!
//! A route miss the baseline target shares (both answer 404) is not blamed
//! on the other target: the expectation says what failed, on both.
//!
//! One difference is said once: when a known cause explains a status (a
//! hostname mismatch, a route miss, a refused WebSocket upgrade), the failed
//! status expectation is folded into the cause's line; when a target's status
//! fails its expectation and also differs from the baseline's, the parity
//! line is folded into the expectation's (`status 301 where 308 was
//! expected; ingress answered 308`).

use std::net::IpAddr;

use super::dns::{Split, TargetAnswers};
use super::finding::{Evidence, Finding, FindingKind, Level, PointerDiff, Reproduce};
use super::parity::{Aspect, Difference};
use crate::probe::websocket::{describe_end, End, WsResult};
use crate::probe::{Origin, ProbeResult};
use crate::run::CheckPass;
use crate::scenario::plan::{Check, Plan, ProbeSpec, StatusPattern};

/// What judging the check pass produced.
pub struct PassJudgement {
    pub findings: Vec<Finding>,
    /// Per check: the analysed split of a DNS check.
    pub splits: Vec<Option<Split>>,
}

/// Judges every sample of the pass.
pub fn judge(plan: &Plan, pass: &CheckPass) -> PassJudgement {
    let mut findings = Vec::new();
    let mut splits = Vec::new();
    let routed = routed_hosts(plan, pass);
    for (ci, check) in plan.checks.iter().enumerate() {
        if let ProbeSpec::Dns(spec) = &check.probe {
            let sample = check
                .targets
                .first()
                .and_then(|ti| pass.samples[ci][*ti].as_ref());
            let split = match sample {
                Some(ProbeResult::Dns(d)) => {
                    let answers = target_answers(plan, &pass.target_addrs);
                    let (split, problems) =
                        super::dns::analyze(&spec.name, d, &answers, &check.dns_expect);
                    for (kind, message) in problems {
                        let kind = FindingKind::parse(kind).unwrap_or(FindingKind::DnsErrors);
                        let mut f =
                            Finding::new(kind, Level::Fail, Some(&check.name), None, message);
                        f.hint = dns_hint(kind).map(str::to_owned);
                        findings.push(f);
                    }
                    Some(split)
                }
                _ => None,
            };
            splits.push(split);
            continue;
        }
        splits.push(None);
        if let ProbeSpec::Behaviour(_) = &check.probe {
            findings.extend(super::behaviour::judge(plan, pass, ci));
            continue;
        }
        for &ti in &check.targets {
            if let Some(result) = &pass.samples[ci][ti] {
                findings.extend(judge_one(plan, pass, &routed, ci, ti, result));
            }
        }
    }
    PassJudgement { findings, splits }
}

/// The host a check sends (its own `host:` or the target's).
fn check_host(plan: &Plan, ci: usize, ti: usize) -> String {
    plan.checks[ci]
        .probe
        .host()
        .map(str::to_owned)
        .unwrap_or_else(|| plan.targets[ti].host.clone())
}

/// `(target, host)` pairs through which some check reached the app.
fn routed_hosts(plan: &Plan, pass: &CheckPass) -> Vec<(usize, String)> {
    let mut routed = Vec::new();
    for (ci, per_target) in pass.samples.iter().enumerate() {
        for (ti, s) in per_target.iter().enumerate() {
            if s.as_ref()
                .and_then(|s| s.primary().response.as_ref())
                .is_some_and(|r| r.origin == Origin::App)
            {
                routed.push((ti, check_host(plan, ci, ti)));
            }
        }
    }
    routed
}

/// The findings of one check against one target.
fn judge_one(
    plan: &Plan,
    pass: &CheckPass,
    routed: &[(usize, String)],
    ci: usize,
    ti: usize,
    result: &ProbeResult,
) -> Vec<Finding> {
    let check = &plan.checks[ci];
    let target = &plan.targets[ti];
    let sample = result.primary();
    let mut failures = rule_failures(check, result);
    let mut out = Vec::new();
    let base = plan.baseline;
    let base_result = pass.samples[ci][base]
        .as_ref()
        .filter(|_| ti != base && check.targets.contains(&base));
    let mut diffs: Vec<(String, Option<Evidence>)> = Vec::new();
    // Noise listed and bodies too unstable to compare: never failures.
    let mut noted: Vec<Finding> = Vec::new();
    // gRPC status differences not said on a failure of this target's own.
    let mut noted_parity: Vec<Finding> = Vec::new();
    // Known causes first: a cause says the status once, with its hint.
    let host = check_host(plan, ci, ti);
    let host_routed = routed.contains(&(ti, host.clone()));
    // A gRPC failure has causes of its own (`super::grpc::cause`): its HTTP
    // status says little.
    let mut causes = match result {
        ProbeResult::Grpc(_) => Vec::new(),
        _ => super::hints::hints(&check.name, target, &host, host_routed, sample),
    };
    // A 404 the baseline gives too is no route miss of this target's own.
    if base_result.and_then(|r| r.primary().status()) == Some(404) {
        causes.retain(|f| {
            !matches!(
                f.kind,
                FindingKind::RouteMiss | FindingKind::HostnameMismatch
            )
        });
    }
    if let (ProbeResult::Grpc(g), ProbeSpec::Grpc(spec)) = (result, &check.probe) {
        if let Some(mut cause) = super::grpc::cause(&check.name, &target.name, &spec.path(), g) {
            // Said once: the failed code expectation is the cause's.
            if let Some(i) = failures.iter().position(|f| f.starts_with("gRPC ")) {
                let said = failures.remove(i);
                let wanted = said.rsplit_once(" where ").map_or("", |(_, w)| w);
                cause.message = format!("{}, where {wanted}", cause.message);
            }
            causes.push(cause);
        }
    }
    if let Some(base_result) = base_result {
        causes.extend(super::hints::websocket_refused(
            &check.name,
            (&plan.targets[base].name, base_result),
            (target, result),
        ));
    }
    let mut status_said_by_cause = false;
    if let (Some(cause), Some(t)) = (causes.first_mut(), sample.status()) {
        let prefix = format!("status {t} ");
        if let Some(i) = failures.iter().position(|f| f.starts_with(&prefix)) {
            let said = failures.remove(i);
            cause.message = format!("{}: {said}", cause.message);
            status_said_by_cause = true;
        }
    }
    // gRPC codes that differ are said once: on the failed code expectation
    // (or the gateway's cause that took it), else as a parity finding; the
    // answers' bodies are then not compared (one is an error's).
    let mut grpc_codes_differ = false;
    if let (Some(ProbeResult::Grpc(b)), ProbeResult::Grpc(t)) = (base_result, result) {
        let base_name = &plan.targets[base].name;
        if let Some(mut f) = super::grpc::compare(&check.name, (base_name, b), (&target.name, t)) {
            grpc_codes_differ =
                b.status.as_ref().map(|s| s.code) != t.status.as_ref().map(|s| s.code);
            let answered = format!(
                "; {base_name} answered {}",
                super::grpc::describe(b).unwrap_or_default()
            );
            if let Some(line) = failures.iter_mut().find(|f| f.starts_with("gRPC ")) {
                line.push_str(&answered);
            } else if let Some(cause) = causes.first_mut().filter(|_| grpc_codes_differ) {
                cause.message.push_str(&answered);
            } else {
                f.reproduce = Vec::new();
                noted_parity.push(f);
            }
        }
    }
    if let Some(base_result) = base_result {
        let base_name = &plan.targets[base].name;
        if let (ProbeResult::Cors(b), ProbeResult::Cors(c)) = (base_result, result) {
            diffs.extend(
                super::cors::compare((base_name, b), (&target.name, c))
                    .into_iter()
                    .map(|d| (d, None)),
            );
        }
        if !check.parity.is_empty() {
            let mut parity = check.parity.clone();
            if grpc_codes_differ {
                parity.body = None;
            }
            let (bs, ts) = (base_result.primary().status(), sample.status());
            if let (true, Some(b), Some(t)) = (parity.status, bs, ts) {
                // Said once: folded into the expectation (or the cause that
                // took it) when the status fails it.
                let status_failure = match failures
                    .iter_mut()
                    .find(|f| f.starts_with(&format!("status {t} ")))
                {
                    Some(f) => Some(f),
                    None if status_said_by_cause => causes.first_mut().map(|c| &mut c.message),
                    None => None,
                };
                if let (true, Some(f)) = (b != t, status_failure) {
                    f.push_str(&format!("; {base_name} answered {b}"));
                    parity.status = false;
                }
            }
            let compared = super::parity::compare(
                &parity,
                (base_name, base_result.primary()),
                (&target.name, sample),
                pass.noise.get(ci).map(Vec::as_slice).unwrap_or_default(),
            );
            let noise = noise_lines(&compared.noise, base_name);
            for d in compared.differences {
                let evidence = match d.aspect {
                    Aspect::Status => Evidence::Compared {
                        what: "status".into(),
                        baseline_target: base_name.clone(),
                        baseline: bs.map(|s| s.to_string()).unwrap_or_default(),
                        target: ts.map(|s| s.to_string()).unwrap_or_default(),
                    },
                    _ => parity_evidence(&d, base_name, &noise),
                };
                diffs.push((d.message, Some(evidence)));
            }
            if compared.exact_unstable {
                noted.push(
                    Finding::new(
                        FindingKind::ParityNoise,
                        Level::Inconclusive,
                        Some(&check.name),
                        Some(&target.name),
                        format!(
                            "the body cannot be compared exactly: {base_name}'s own answers to the same request differ"
                        ),
                    )
                    .with_hint("compare it as JSON (`body: json`) and ignore the fields that change per answer (`ignore: [/served_at]`), or turn noise off (`noise: off`) if the body must be byte for byte the same"),
                );
            }
            if !compared.noise.is_empty() {
                let names: Vec<&str> = compared.noise.iter().map(String::as_str).collect();
                let verb = if names.len() == 1 { "varies" } else { "vary" };
                noted.push(
                    Finding::new(
                        FindingKind::ParityNoise,
                        Level::Info,
                        Some(&check.name),
                        Some(&target.name),
                        format!(
                            "noise: {} {verb} between {base_name}'s own answers, so {} not compared",
                            super::parity::name_pointers(names.iter().copied(), names.len()),
                            if names.len() == 1 { "it is" } else { "they are" }
                        ),
                    )
                    .with_evidence(Evidence::Parity {
                        what: "noise".into(),
                        baseline_target: base_name.clone(),
                        differences: Vec::new(),
                        unlisted: 0,
                        noise: noise.clone(),
                    }),
                );
            }
        }
    }
    if let (Some(base_result), ProbeSpec::Http(spec)) = (base_result, &check.probe) {
        out.extend(super::version::difference(
            &check.name,
            spec.version,
            (&plan.targets[base].name, base_result.primary()),
            (&target.name, sample),
        ));
    }
    let kind = if sample.response.is_none() {
        FindingKind::ProbeError
    } else {
        match result {
            ProbeResult::Http(_)
            | ProbeResult::Dns(_)
            | ProbeResult::Behaviour(_)
            | ProbeResult::Grpc(_) => FindingKind::Expectation,
            ProbeResult::WebSocket(_) => FindingKind::Websocket,
            ProbeResult::Cors(_) => FindingKind::Cors,
        }
    };
    for f in failures {
        out.push(Finding::new(
            kind,
            Level::Fail,
            Some(&check.name),
            Some(&target.name),
            f,
        ));
    }
    let pair: &[usize] = if ti == base { &[ti] } else { &[base, ti] };
    let reproduce: Vec<Reproduce> = pair
        .iter()
        .copied()
        .filter_map(|t| {
            super::reproduce::curl(plan, ci, t).map(|command| Reproduce {
                target: plan.targets[t].name.clone(),
                command,
            })
        })
        .collect();
    for (d, evidence) in diffs {
        let mut f = Finding::new(
            FindingKind::Parity,
            Level::Fail,
            Some(&check.name),
            Some(&target.name),
            d,
        );
        f.evidence = evidence;
        f.reproduce = reproduce.clone();
        out.push(f);
    }
    for mut f in noted_parity.into_iter().chain(noted) {
        f.reproduce = reproduce.clone();
        out.push(f);
    }
    // A known cause is reproduced the same way: both requests, side by side.
    for mut cause in causes {
        if cause.reproduce.is_empty() {
            cause.reproduce = reproduce.clone();
        }
        out.push(cause);
    }
    out
}

/// How many differing leaves a finding's evidence lists.
const LISTED_LEAVES: usize = 20;

/// `/served_at varies between ingress answers`, one per noisy pointer or header.
fn noise_lines(noise: &[String], base_name: &str) -> Vec<String> {
    noise
        .iter()
        .map(|n| format!("{n} varies between {base_name} answers"))
        .collect()
}

fn parity_evidence(d: &Difference, base_name: &str, noise: &[String]) -> Evidence {
    Evidence::Parity {
        what: d.aspect.name(),
        baseline_target: base_name.to_owned(),
        differences: d
            .leaves
            .iter()
            .take(LISTED_LEAVES)
            .map(|l| PointerDiff {
                pointer: l.pointer.clone(),
                baseline: l.baseline.clone(),
                target: l.target.clone(),
            })
            .collect(),
        unlisted: d.leaves.len().saturating_sub(LISTED_LEAVES) as u64,
        noise: noise.to_vec(),
    }
}

/// The failed rules of a check's own expectations, as sentences.
fn rule_failures(check: &Check, result: &ProbeResult) -> Vec<String> {
    let sample = result.primary();
    match (result, &check.probe) {
        (ProbeResult::Cors(c), ProbeSpec::Cors(spec)) => {
            let mut f = super::cors::evaluate(
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
                f.extend(super::expect::evaluate(&e, sample));
            }
            f
        }
        (ProbeResult::WebSocket(w), ProbeSpec::WebSocket(spec)) => {
            let mut f = super::expect::evaluate(&check.expect, sample);
            f.extend(websocket_failures(w, spec.hold));
            f
        }
        (ProbeResult::Grpc(g), ProbeSpec::Grpc(_)) => {
            // Another code than expected is the failure; what its answer
            // lacks (the message, the trailers, the fields) follows from it.
            let code_failed = g
                .status
                .as_ref()
                .is_some_and(|s| s.code != check.grpc_expect.code);
            let mut f = if code_failed {
                let mut e = check.expect.clone();
                e.json.clear();
                e.body_contains.clear();
                super::expect::evaluate(&e, sample)
            } else {
                super::expect::evaluate(&check.expect, sample)
            };
            f.extend(super::grpc::evaluate(&check.grpc_expect, g));
            f
        }
        (ProbeResult::Http(_), ProbeSpec::Http(spec)) => {
            let mut f = super::expect::evaluate(&check.expect, sample);
            let https = sample.url.starts_with("https:");
            f.extend(super::version::asked_failure(spec.version, sample, https));
            f
        }
        _ => super::expect::evaluate(&check.expect, sample),
    }
}

/// Failed message exchanges and a hold that ended early, as sentences.
fn websocket_failures(w: &WsResult, hold: Option<std::time::Duration>) -> Vec<String> {
    let mut out = Vec::new();
    for (i, x) in w.exchanges.iter().enumerate() {
        if let Some(f) = &x.failure {
            out.push(format!("message {} ({}): {f}", i + 1, x.sent));
        }
    }
    if let (Some(hold), Some((after, end))) = (hold, &w.ended) {
        if *end != End::Held && w.exchanges.iter().all(|x| x.failure.is_none()) {
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

/// What to do about a DNS problem.
fn dns_hint(kind: FindingKind) -> Option<&'static str> {
    match kind {
        FindingKind::DnsWeights | FindingKind::DnsWeightZero => Some("check the weighted records (external-dns `aws-weight` annotations, Route 53 set identifiers) and that every nameserver serves the same zone"),
        FindingKind::DnsPrivateAnswer => Some("exclude the HTTPRoute or Service from external-dns (annotation external-dns.alpha.kubernetes.io/exclude: \"true\") so its ClusterIP is not published"),
        FindingKind::DnsTtl => Some("lower the record TTL before shifting weights (alias records to load balancers use 60 s)"),
        _ => None,
    }
}

/// The answers that identify each target, for DNS checks.
pub fn target_answers(plan: &Plan, target_addrs: &[Vec<IpAddr>]) -> Vec<TargetAnswers> {
    plan.targets
        .iter()
        .enumerate()
        .map(|(i, t)| TargetAnswers {
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
