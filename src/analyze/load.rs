//! Judging the load phase: failures under load, sampled parity
//! ([`super::load_parity`]), latency regressions, 503
//! spikes, failed events, thresholds, the abort rail and a saved baseline.
//!
//! Input is the recorded load ([`LoadRecord`]): per target × check totals
//! and per-second series from the engine's aggregator, and the events on the
//! timeline. Output is findings; nothing here reads the report model.
//!
//! Levels: thresholds, an abort and a regression against a saved baseline
//! fail the run; failures under load, in-run regressions, spikes and failed
//! events are warnings, except an in-run regression past a quantile's
//! critical ratio, which fails. A latency quantile is judged only when both
//! sides have `min_tail_samples` (10) samples beyond it (20 for p50, 1,000
//! for p99, 10,000 for p99.9); a regression seen only on quantiles without
//! that much data is `inconclusive`, with the number of requests it would
//! need. The effect size (the probability that a target request is slower
//! than a baseline one) is given beside the p-value.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::finding::{Evidence, Finding, FindingKind, Level, QuantileDelta};
use super::latency::{Comparison, LatencyRules};
use crate::record::Bucket;
use crate::run::LoadRecord;
use crate::scenario::plan::Plan;

/// A saved run's latency histograms, to compare this run with (`--baseline`).
#[derive(Clone, Debug)]
pub struct Baseline {
    /// When the saved run started (RFC 3339), for the message.
    pub started_at: String,
    /// `(target, check, latency histogram)` of every loaded pair.
    pub latency: Vec<(String, String, Histogram<u64>)>,
}

/// Every load finding of a run.
pub fn judge(plan: &Plan, load: &LoadRecord, baseline: Option<&Baseline>) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(load_errors(plan, load));
    out.extend(super::load_parity::judge(plan, load));
    out.extend(regressions(plan, load));
    out.extend(status_classes(plan, load));
    out.extend(events(load));
    out.extend(spikes(plan, load));
    out.extend(thresholds(plan, load));
    if let Some(trip) = &load.abort {
        out.push(super::abort::finding(trip, &plan.targets[trip.target].name));
    }
    // A 5xx share that a spike explains is said by the spike.
    let spiked: Vec<(Option<String>, Option<String>)> = out
        .iter()
        .filter(|f| f.kind == FindingKind::Spike503)
        .map(|f| (f.check.clone(), f.target.clone()))
        .collect();
    out.retain(|f| {
        !(f.kind == FindingKind::StatusClassDifference
            && f.hint.is_none()
            && matches!(&f.evidence, Some(Evidence::Compared { what, .. }) if what.starts_with("5xx"))
            && spiked.contains(&(f.check.clone(), f.target.clone())))
    });
    if let Some(b) = baseline {
        out.extend(against_baseline(plan, load, b));
    }
    out
}

/// Failed requests, their causes (status or error kind → count) and the
/// origins of the failed answers: the origins add up to the failed answers.
fn failure_causes(b: &Bucket) -> (u64, BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let c = b.compact();
    let mut causes = BTreeMap::new();
    let mut origins = BTreeMap::new();
    for (code, origin, n) in &c.failed_statuses {
        *causes.entry(code.to_string()).or_insert(0) += n;
        *origins.entry(origin.as_str().to_owned()).or_insert(0) += n;
    }
    for (kind, n) in &c.error_kinds {
        causes.insert(kind.as_str().to_owned(), *n);
    }
    if b.cancelled > 0 {
        causes.insert("cancelled".into(), b.cancelled);
    }
    (b.failed + b.cancelled, causes, origins)
}

/// Whether target `ti` fails check `ci` more than the baseline target does
/// (by [`CLASS_SHARE`] and significantly): what both paths do alike is the
/// app's behaviour, not the migration's. Without the baseline loaded, or for
/// the baseline itself against no one, there is nothing to compare: `true`
/// for another target, `false` for the baseline.
fn fails_more_than_baseline(plan: &Plan, load: &LoadRecord, ti: usize, ci: usize) -> bool {
    let o = &load.outcome;
    let base = plan.baseline;
    if ti == base {
        return false;
    }
    if !o.targets.contains(&base) {
        return true;
    }
    let t = &o.aggregator.totals[o.key(ti, ci)];
    let b = &o.aggregator.totals[o.key(base, ci)];
    let (kt, nt) = (t.failed + t.cancelled, t.requests + t.cancelled);
    let (kb, nb) = (b.failed + b.cancelled, b.requests + b.cancelled);
    if nb == 0 {
        return true;
    }
    let (st, sb) = (kt as f64 / nt.max(1) as f64, kb as f64 / nb as f64);
    st - sb >= CLASS_SHARE
        && super::stats::two_proportions_p(kt, nt, kb, nb) < plan.analysis.latency.significance
}

/// Failed requests per target × check: a warning where a target fails more
/// than the baseline does, context (`info`) where both paths fail alike.
fn load_errors(plan: &Plan, load: &LoadRecord) -> Vec<Finding> {
    let o = &load.outcome;
    let mut out = Vec::new();
    for &ti in &o.targets {
        let target = &plan.targets[ti].name;
        for (ci, check) in plan.checks.iter().enumerate() {
            let b = &o.aggregator.totals[o.key(ti, ci)];
            let (failed, causes, origins) = failure_causes(b);
            if failed == 0 {
                continue;
            }
            let level = if fails_more_than_baseline(plan, load, ti, ci) {
                Level::Warn
            } else {
                Level::Info
            };
            let parts: Vec<String> = causes.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
            let made: Vec<String> = origins.iter().map(|(o, n)| format!("{o} {n}")).collect();
            out.push(
                Finding::new(
                    FindingKind::LoadErrors,
                    level,
                    Some(&check.name),
                    Some(target),
                    format!(
                        "{failed} of {} requests ({:.2} %) failed under load: {}{}",
                        b.requests,
                        100.0 * failed as f64 / b.requests.max(1) as f64,
                        parts.join(", "),
                        if made.is_empty() {
                            String::new()
                        } else {
                            format!(" (failed answers produced by: {})", made.join(", "))
                        }
                    ),
                )
                .with_evidence(Evidence::Failures {
                    failed,
                    requests: b.requests,
                    causes,
                    origins,
                }),
            );
        }
    }
    out
}

/// The evidence of a latency comparison.
pub fn latency_evidence(c: &Comparison) -> Evidence {
    Evidence::Latency {
        quantiles: c
            .regressed
            .iter()
            .map(|(q, t, b)| QuantileDelta {
                quantile: super::latency::quantile_name(*q),
                target_ms: *t,
                baseline_ms: *b,
                ratio: if *b > 0.0 { t / b } else { f64::INFINITY },
            })
            .collect(),
        p: c.p_value,
        superiority: c.superiority,
        n_target: c.n.0,
        n_baseline: c.n.1,
    }
}

/// How many samples judging quantile `q` needs: `tail` beyond it (with
/// fewer, a "p99.9" is just one of the last few samples).
pub fn samples_needed(q: f64, tail: u64) -> u64 {
    (tail as f64 / (1.0 - q) - 1e-9).ceil() as u64
}

/// A comparison judged on enough data: the regressed quantiles both sides
/// have enough samples for, and those they do not.
pub fn split_by_data(c: &Comparison, tail: u64) -> (Comparison, Vec<(f64, f64, f64)>) {
    let n = c.n.0.min(c.n.1);
    let (judged, thin): (Vec<_>, Vec<_>) = c
        .regressed
        .iter()
        .partition(|(q, _, _)| n >= samples_needed(*q, tail));
    (
        Comparison {
            regressed: judged,
            ..c.clone()
        },
        thin,
    )
}

/// A regression finding at `level` (in-run: `warn` past the allowed ratio,
/// `fail` past the critical one), or an `inconclusive` one when only
/// quantiles without enough samples regressed; `None` when nothing did.
pub fn regression_finding(
    c: &Comparison,
    rules: &LatencyRules,
    kind: FindingKind,
    level: Level,
    check: &str,
    target: &str,
    describe: impl Fn(&Comparison) -> String,
) -> Option<Finding> {
    let (judged, thin) = split_by_data(c, rules.min_tail_samples);
    if judged.is_regression(rules) {
        let critical = judged.regressed.iter().any(|r| rules.is_critical(*r));
        let level = if critical { Level::Fail } else { level };
        let mut message = describe(&judged);
        if critical && kind == FindingKind::LatencyRegression {
            message.push_str(" (past the critical ratio)");
        }
        return Some(
            Finding::new(kind, level, Some(check), Some(target), message)
                .with_evidence(latency_evidence(&judged)),
        );
    }
    let looks = Comparison {
        regressed: thin,
        ..c.clone()
    };
    if !looks.is_regression(rules) {
        return None;
    }
    let need = looks
        .regressed
        .iter()
        .map(|(q, _, _)| samples_needed(*q, rules.min_tail_samples))
        .max()
        .unwrap_or(0);
    Some(
        Finding::new(
            kind,
            Level::Inconclusive,
            Some(check),
            Some(target),
            format!(
                "inconclusive: {}; too few samples to judge these quantiles (n = {} / {}, needs at least {need} on each side, {} beyond the quantile)",
                describe(&looks),
                c.n.0,
                c.n.1,
                rules.min_tail_samples
            ),
        )
        .with_evidence(latency_evidence(&looks)),
    )
}

fn regressions(plan: &Plan, load: &LoadRecord) -> Vec<Finding> {
    let o = &load.outcome;
    let rules: &LatencyRules = &plan.analysis.latency;
    let base = plan.baseline;
    if !o.targets.contains(&base) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (ci, check) in plan.checks.iter().enumerate() {
        let b = &o.aggregator.totals[o.key(base, ci)];
        if b.requests == 0 {
            continue;
        }
        for &ti in o.targets.iter().filter(|t| **t != base) {
            let t = &o.aggregator.totals[o.key(ti, ci)];
            if t.requests == 0 {
                continue;
            }
            let c = super::latency::compare(&t.latency, &b.latency, rules);
            let name = &plan.targets[ti].name;
            out.extend(regression_finding(
                &c,
                rules,
                FindingKind::LatencyRegression,
                Level::Warn,
                &check.name,
                name,
                |c| c.describe(name, &plan.targets[base].name),
            ));
        }
    }
    out
}

fn events(load: &LoadRecord) -> Vec<Finding> {
    load.events
        .iter()
        .filter_map(|e| {
            let why = e.failure()?;
            Some(Finding::new(
                FindingKind::EventFailed,
                Level::Warn,
                None,
                None,
                format!("event `{}` at {:.1} s failed: {why}", e.name, e.at_s),
            ))
        })
        .collect()
}

/// A status class one target answers and the baseline does not: this much
/// more often, in share of requests (and significantly so).
pub const CLASS_SHARE: f64 = 0.01;

/// What ingress-nginx and kgateway do differently with rate limits.
pub const RATE_LIMIT_HINT: &str = "the ingress answers 503 from its per-client limit (ingress-nginx limit-rps, limit-req-status-code), the gateway 429 from Envoy's local rate limit, one token bucket shared by every client of a gateway pod: per-client limits on the gateway need a global rate limit keyed on the remote address (kgateway RateLimitConfig, Envoy Gateway BackendTrafficPolicy rateLimit.global)";

/// Status classes (4xx, 5xx) that a target answers under load and the
/// baseline does not, beyond [`CLASS_SHARE`] and a two-proportion z-test at
/// the latency rules' significance; a 429 where the baseline answers 503
/// comes with the rate-limit hint.
fn status_classes(plan: &Plan, load: &LoadRecord) -> Vec<Finding> {
    let o = &load.outcome;
    let base = plan.baseline;
    if !o.targets.contains(&base) {
        return Vec::new();
    }
    let class_count = |b: &Bucket, class: u16| -> u64 {
        b.statuses
            .iter()
            .filter(|(s, _)| s / 100 == class)
            .map(|(_, n)| n)
            .sum()
    };
    let status_count = |b: &Bucket, status: u16| -> u64 {
        b.statuses
            .iter()
            .filter(|(s, _)| *s == status)
            .map(|(_, n)| n)
            .sum()
    };
    let mut out = Vec::new();
    for (ci, check) in plan.checks.iter().enumerate() {
        let b = &o.aggregator.totals[o.key(base, ci)];
        if b.requests == 0 {
            continue;
        }
        for &ti in o.targets.iter().filter(|t| **t != base) {
            let t = &o.aggregator.totals[o.key(ti, ci)];
            if t.requests == 0 {
                continue;
            }
            let (tn, bn) = (&plan.targets[ti].name, &plan.targets[base].name);
            let rate_limits = status_count(t, 429) > 0 && status_count(b, 503) > 0
                || status_count(b, 429) > 0 && status_count(t, 503) > 0;
            let mut pair: Vec<Finding> = Vec::new();
            for class in [4u16, 5] {
                let (k1, k2) = (class_count(t, class), class_count(b, class));
                let (s1, s2) = (k1 as f64 / t.requests as f64, k2 as f64 / b.requests as f64);
                // Either side may be the one answering the class.
                let (more, less, more_name, less_name, km) = if s1 >= s2 {
                    (s1, s2, tn, bn, k1)
                } else {
                    (s2, s1, bn, tn, k2)
                };
                let p = super::stats::two_proportions_p(k1, t.requests, k2, b.requests);
                if more - less < CLASS_SHARE || p >= plan.analysis.latency.significance || km < 5 {
                    continue;
                }
                let describe = |bucket: &Bucket| -> String {
                    let mut parts: Vec<String> = bucket
                        .failed_statuses
                        .iter()
                        .filter(|(s, _, _)| s / 100 == class)
                        .map(|(s, o, n)| format!("{s} ×{n} {}", o.as_str()))
                        .collect();
                    if parts.is_empty() {
                        parts = bucket
                            .statuses
                            .iter()
                            .filter(|(s, _)| s / 100 == class)
                            .map(|(s, n)| format!("{s} ×{n}"))
                            .collect();
                    }
                    if parts.is_empty() {
                        "none".into()
                    } else {
                        parts.join(", ")
                    }
                };
                let mut f = Finding::new(
                    FindingKind::StatusClassDifference,
                    Level::Warn,
                    Some(&check.name),
                    Some(tn),
                    format!(
                        "{more_name} answered {class}xx to {:.1} % of requests under load, {less_name} to {:.1} % ({tn}: {}; {bn}: {}), p = {p:.1e}",
                        100.0 * more,
                        100.0 * less,
                        describe(t),
                        describe(b)
                    ),
                )
                .with_evidence(Evidence::Compared {
                    what: format!("{class}xx share under load"),
                    baseline_target: bn.clone(),
                    baseline: format!("{k2} of {}", b.requests),
                    target: format!("{k1} of {}", t.requests),
                });
                if rate_limits {
                    f.hint = Some(RATE_LIMIT_HINT.to_owned());
                }
                pair.push(f);
            }
            // 429 on one side and 503 on the other are one difference: rate limits.
            if rate_limits && pair.len() == 2 {
                let second = pair.remove(1);
                pair[0].message = format!("{}; and {}", pair[0].message, second.message);
            }
            out.extend(pair);
        }
    }
    out
}

/// One series for spike detection: the given keys' seconds, summed.
fn spike_series(load: &LoadRecord, keys: &[usize]) -> Vec<super::spike::Second> {
    let mut per_second: BTreeMap<u64, super::spike::Second> = BTreeMap::new();
    for &key in keys {
        for s in &load.outcome.aggregator.series[key] {
            let e = per_second
                .entry(s.second)
                .or_insert_with(|| super::spike::Second {
                    second: s.second,
                    ..Default::default()
                });
            e.requests += s.stats.requests;
            for (origin, n) in &s.stats.s503_origins {
                match e.s503.iter_mut().find(|(x, _)| x == origin.as_str()) {
                    Some((_, m)) => *m += n,
                    None => e.s503.push((origin.as_str().to_owned(), *n)),
                }
            }
        }
    }
    per_second.into_values().collect()
}

fn spike_finding(spike: &super::spike::Spike, check: Option<&str>, target: &str) -> Finding {
    let gateway_made = spike.origins.first().is_some_and(|(o, _)| o == "gateway");
    let mut f = Finding::new(
        FindingKind::Spike503,
        Level::Warn,
        check,
        Some(target),
        spike.describe(target),
    )
    .with_evidence(Evidence::Spike {
        start_s: spike.start,
        end_s: spike.end,
        count: spike.count,
        requests: spike.requests,
        peak_ratio: spike.peak_ratio,
        baseline_ratio: spike.baseline,
        p: spike.p_value,
        event: spike.event.clone(),
        origins: spike.origins.iter().cloned().collect(),
    });
    if gateway_made {
        f.hint = Some(super::spike::POOLED_CONNECTION_HINT.to_owned());
    }
    f
}

fn sustained_finding(st: &super::spike::Sustained, check: Option<&str>, target: &str) -> Finding {
    let origins: Vec<String> = st.origins.iter().map(|(o, n)| format!("{o} {n}")).collect();
    Finding::new(
        FindingKind::SustainedErrors,
        Level::Warn,
        check,
        Some(target),
        format!(
            "{target} answered 503s all along: {} of {} requests ({:.2} %), in {} of {} seconds, from the start; produced by {}",
            st.count,
            st.requests,
            100.0 * st.ratio(),
            st.elevated,
            st.seconds,
            origins.join(", ")
        ),
    )
    .with_hint("a steady rate is not a deploy's doing: a rate limit (ingress-nginx answers 503 by default), a backend that sheds load, or a health check that fails some pods")
    .with_evidence(Evidence::Failures {
        failed: st.count,
        requests: st.requests,
        causes: [("503".to_owned(), st.count)].into_iter().collect(),
        origins: st.origins.iter().cloned().collect(),
    })
}

/// Whether a sustained 503 rate of target `ti` on check `ci` is above every
/// other loaded target's (by [`CLASS_SHARE`] and significantly).
fn sustained_more_than_others(
    plan: &Plan,
    load: &LoadRecord,
    ti: usize,
    ci: usize,
    st: &super::spike::Sustained,
) -> bool {
    let o = &load.outcome;
    o.targets.iter().filter(|t| **t != ti).all(|&other| {
        let b = &o.aggregator.totals[o.key(other, ci)];
        let k: u64 = b.compact().s503_origins.iter().map(|(_, n)| n).sum();
        let n = b.requests;
        n == 0
            || (st.ratio() - k as f64 / n as f64 >= CLASS_SHARE
                && super::stats::two_proportions_p(st.count, st.requests, k, n)
                    < plan.analysis.latency.significance)
    })
}

/// 503 spikes per target × check, and over each target's checks when a
/// spike is spread too thin for any one check; a sustained rate once.
fn spikes(plan: &Plan, load: &LoadRecord) -> Vec<Finding> {
    use super::spike::{detect, Event};
    let o = &load.outcome;
    let events: Vec<Event> = load
        .events
        .iter()
        .map(|e| Event {
            name: e.name.clone(),
            at: e.at_s,
        })
        .collect();
    let rules = &plan.analysis.spike;
    let mut out = Vec::new();
    for &ti in &o.targets {
        let target = &plan.targets[ti].name;
        let mut per_check_spikes: Vec<(u64, u64)> = Vec::new();
        let mut any_sustained = false;
        for (ci, check) in plan.checks.iter().enumerate() {
            let series = spike_series(load, &[o.key(ti, ci)]);
            if series.is_empty() {
                continue;
            }
            let d = detect(&series, &events, rules);
            for spike in &d.spikes {
                per_check_spikes.push((spike.start, spike.end));
                out.push(spike_finding(spike, Some(&check.name), target));
            }
            if let Some(st) = &d.sustained {
                any_sustained = true;
                let mut f = sustained_finding(st, Some(&check.name), target);
                if !sustained_more_than_others(plan, load, ti, ci, st) {
                    // Every path answers it alike: the app's, not the migration's.
                    f.level = Level::Info;
                }
                out.push(f);
            }
        }
        let keys: Vec<usize> = (0..plan.checks.len()).map(|ci| o.key(ti, ci)).collect();
        let all = detect(&spike_series(load, &keys), &events, rules);
        for spike in &all.spikes {
            let covered = per_check_spikes
                .iter()
                .any(|(a, b)| spike.start <= *b && *a <= spike.end);
            if !covered {
                out.push(spike_finding(spike, None, target));
            }
        }
        if let (Some(st), false) = (&all.sustained, any_sustained) {
            out.push(sustained_finding(st, None, target));
        }
    }
    out
}

fn thresholds(plan: &Plan, load: &LoadRecord) -> Vec<Finding> {
    let t = &plan.analysis.thresholds;
    let o = &load.outcome;
    let mut out = Vec::new();
    for &ti in &o.targets {
        let target = &plan.targets[ti].name;
        let mut total = Bucket::default();
        for ci in 0..plan.checks.len() {
            total.merge(&o.aggregator.totals[o.key(ti, ci)]);
        }
        // A request cancelled at the stop was never answered: it counts.
        let n = total.requests + total.cancelled;
        let server = total.server_errors();
        let failed_all = total.failed + total.cancelled;
        let mut breach = |metric: &str, observed: f64, limit: f64, what: String| {
            out.push(
                Finding::new(
                    FindingKind::Threshold,
                    Level::Fail,
                    None,
                    Some(target),
                    format!("{target}: {what}"),
                )
                .with_evidence(Evidence::Limit {
                    metric: metric.into(),
                    observed,
                    limit,
                    n,
                }),
            )
        };
        if let Some(max) = t.error_ratio {
            let failed = failed_all;
            let r = failed as f64 / n.max(1) as f64;
            if r > max {
                breach(
                    "error_ratio",
                    r,
                    max,
                    format!(
                        "failed share {:.2} % exceeds {:.2} % ({failed} of {n} requests failed: transport errors and answers their checks' expectations reject)",
                        100.0 * r,
                        100.0 * max
                    ),
                );
            }
        }
        if let Some(max) = t.server_error_ratio {
            let r = server as f64 / n.max(1) as f64;
            if r > max {
                breach(
                    "server_error_ratio",
                    r,
                    max,
                    format!(
                        "5xx ratio {:.2} % exceeds {:.2} % ({server} of {n} requests)",
                        100.0 * r,
                        100.0 * max
                    ),
                );
            }
        }
        if let Some(max) = t.p99 {
            let max_ms = max.as_secs_f64() * 1000.0;
            let p99 = if total.latency.is_empty() {
                0.0
            } else {
                total.latency.value_at_quantile(0.99) as f64 / 1000.0
            };
            if p99 > max_ms {
                breach(
                    "p99_ms",
                    p99,
                    max_ms,
                    format!("p99 {p99:.1} ms exceeds {max_ms:.1} ms"),
                );
            }
        }
    }
    out
}

fn against_baseline(plan: &Plan, load: &LoadRecord, baseline: &Baseline) -> Vec<Finding> {
    let o = &load.outcome;
    let rules = &plan.analysis.latency;
    let mut out = Vec::new();
    for &ti in &o.targets {
        let target = &plan.targets[ti].name;
        for (ci, check) in plan.checks.iter().enumerate() {
            let now = &o.aggregator.totals[o.key(ti, ci)];
            if now.requests == 0 {
                continue;
            }
            let Some((_, _, then)) = baseline
                .latency
                .iter()
                .find(|(t, c, _)| t == target && *c == check.name)
            else {
                continue;
            };
            let cmp = super::latency::compare(&now.latency, then, rules);
            out.extend(regression_finding(
                &cmp,
                rules,
                FindingKind::BaselineRegression,
                Level::Fail,
                &check.name,
                target,
                |c| {
                    format!(
                        "slower than the baseline run of {}: {}",
                        baseline.started_at,
                        c.describe(&format!("{target} now"), "then")
                    )
                },
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comparison(n: u64, regressed: Vec<(f64, f64, f64)>) -> Comparison {
        Comparison {
            regressed,
            p_value: 1e-9,
            slower: true,
            n: (n, n),
            superiority: 0.7,
        }
    }

    #[test]
    fn a_tail_quantile_without_enough_samples_is_inconclusive_not_a_regression() {
        // Regression guard: a p99.9 of 1,239 samples (the second-highest sample) was reported.
        let c = comparison(1_239, vec![(0.999, 18.9, 10.0)]);
        let f = regression_finding(
            &c,
            &LatencyRules::default(),
            FindingKind::LatencyRegression,
            Level::Warn,
            "items",
            "gateway",
            |c| c.describe("gateway", "ingress"),
        )
        .expect("a finding");
        assert_eq!(f.level, Level::Inconclusive);
        assert!(f.message.contains("needs at least 10000"), "{}", f.message);
    }

    #[test]
    fn a_quantile_with_enough_samples_is_judged() {
        let c = comparison(5_000, vec![(0.5, 1.2, 1.0), (0.999, 30.0, 10.0)]);
        let f = regression_finding(
            &c,
            &LatencyRules::default(),
            FindingKind::LatencyRegression,
            Level::Warn,
            "items",
            "gateway",
            |c| c.describe("gateway", "ingress"),
        )
        .expect("a finding");
        assert_eq!(f.level, Level::Warn);
        let Some(Evidence::Latency { quantiles, .. }) = &f.evidence else {
            panic!("latency evidence")
        };
        assert_eq!(quantiles.len(), 1, "only p50 has enough data");
        assert_eq!(quantiles[0].quantile, "p50");
    }

    #[test]
    fn samples_needed_per_quantile() {
        assert_eq!(samples_needed(0.5, 10), 20);
        assert_eq!(samples_needed(0.99, 10), 1_000);
        assert_eq!(samples_needed(0.999, 10), 10_000);
    }

    #[test]
    fn a_regression_past_the_critical_ratio_fails_the_run() {
        let c = comparison(5_000, vec![(0.5, 30.0, 10.0)]);
        let f = regression_finding(
            &c,
            &LatencyRules::default(),
            FindingKind::LatencyRegression,
            Level::Warn,
            "items",
            "gateway",
            |c| c.describe("gateway", "ingress"),
        )
        .expect("a finding");
        assert_eq!(f.level, Level::Fail);
        assert!(f.message.contains("critical"), "{}", f.message);
        assert!(f.message.contains("P(slower) = 0.70"), "{}", f.message);
    }

    /// Latencies around `median_us` with ±20 % jitter, from a fixed seed.
    fn jittered(n: usize, median_us: f64, seed: u64) -> hdrhistogram::Histogram<u64> {
        let mut h = crate::hdr::histogram();
        let mut x = seed | 1;
        for _ in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x % 10_000) as f64 / 10_000.0;
            h.saturating_record((median_us * (0.8 + 0.4 * u)) as u64);
        }
        h
    }

    #[test]
    fn a_p999_on_a_thousand_samples_is_inconclusive_and_on_fifty_thousand_it_is_judged() {
        let rules = LatencyRules {
            // Judge p99.9 only, with its allowed ratio.
            ratios: vec![(0.999, 1.1)],
            ..LatencyRules::default()
        };
        let judge = |n: usize| {
            let target = jittered(n, 13_000.0, 3);
            let base = jittered(n, 10_000.0, 5);
            let c = crate::analyze::latency::compare(&target, &base, &rules);
            regression_finding(
                &c,
                &rules,
                FindingKind::LatencyRegression,
                Level::Warn,
                "items",
                "gateway",
                |c| c.describe("gateway", "ingress"),
            )
            .expect("a finding")
        };
        let small = judge(1_000);
        assert_eq!(small.level, Level::Inconclusive, "{}", small.message);
        assert!(
            small.message.contains("needs at least 10000"),
            "{}",
            small.message
        );
        let large = judge(50_000);
        assert_eq!(large.level, Level::Warn, "{}", large.message);
        let Some(Evidence::Latency { superiority, .. }) = large.evidence else {
            panic!("latency evidence")
        };
        assert!(superiority > 0.8, "{superiority}");
    }
}
