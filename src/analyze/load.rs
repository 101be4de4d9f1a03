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
//! events are warnings. A latency quantile is judged only when both sides
//! have [`MIN_TAIL`] samples beyond it (20 for p50, 1,000 for p99, 10,000
//! for p99.9); a regression seen only on quantiles without that much data is
//! `inconclusive`, with the number of requests it would need.

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
    out.extend(events(load));
    out.extend(spikes(plan, load));
    out.extend(thresholds(plan, load));
    if let Some(trip) = &load.abort {
        out.push(super::abort::finding(trip, &plan.targets[trip.target].name));
    }
    if let Some(b) = baseline {
        out.extend(against_baseline(plan, load, b));
    }
    out
}

/// Failed requests per status code and error kind, and the origins of the failed answers.
fn failure_causes(b: &Bucket) -> (u64, BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let c = b.compact();
    let mut causes = BTreeMap::new();
    for (code, n) in c.statuses.iter().filter(|(s, _)| *s >= 500) {
        causes.insert(code.to_string(), *n);
    }
    for (kind, n) in &c.error_kinds {
        causes.insert(kind.as_str().to_owned(), *n);
    }
    let failed = b.errors + b.server_errors();
    // Origins of the 503s (the only failed answers recorded by origin).
    let origins = c
        .s503_origins
        .iter()
        .map(|(o, n)| (o.as_str().to_owned(), *n))
        .collect();
    (failed, causes, origins)
}

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
            let parts: Vec<String> = causes.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
            let made: Vec<String> = origins
                .iter()
                .filter(|(o, _)| *o != "app")
                .map(|(o, n)| format!("{o} {n}"))
                .collect();
            out.push(
                Finding::new(
                    FindingKind::LoadErrors,
                    Level::Warn,
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
                            format!(" (503s produced by: {})", made.join(", "))
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
        n_target: c.n.0,
        n_baseline: c.n.1,
    }
}

/// Samples a quantile needs beyond it before it is judged: with fewer, a
/// "p99.9" is just one of the last few samples.
pub const MIN_TAIL: u64 = 10;

/// How many samples judging quantile `q` needs.
pub fn samples_needed(q: f64) -> u64 {
    (MIN_TAIL as f64 / (1.0 - q)).ceil() as u64
}

/// A comparison judged on enough data: the regressed quantiles both sides
/// have enough samples for, and those they do not.
pub fn split_by_data(c: &Comparison) -> (Comparison, Vec<(f64, f64, f64)>) {
    let n = c.n.0.min(c.n.1);
    let (judged, thin): (Vec<_>, Vec<_>) = c
        .regressed
        .iter()
        .partition(|(q, _, _)| n >= samples_needed(*q));
    (
        Comparison {
            regressed: judged,
            ..c.clone()
        },
        thin,
    )
}

/// A regression finding at `level`, or an `inconclusive` one when only
/// quantiles without enough samples regressed; `None` when nothing did.
fn regression_finding(
    c: &Comparison,
    rules: &LatencyRules,
    kind: FindingKind,
    level: Level,
    check: &str,
    target: &str,
    describe: impl Fn(&Comparison) -> String,
) -> Option<Finding> {
    let (judged, thin) = split_by_data(c);
    if judged.is_regression(rules) {
        return Some(
            Finding::new(kind, level, Some(check), Some(target), describe(&judged))
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
        .map(|(q, _, _)| samples_needed(*q))
        .max()
        .unwrap_or(0);
    Some(
        Finding::new(
            kind,
            Level::Inconclusive,
            Some(check),
            Some(target),
            format!(
                "inconclusive: {}; too few samples to judge these quantiles (n = {} / {}, needs at least {need} on each side, {MIN_TAIL} beyond the quantile)",
                describe(&looks),
                c.n.0,
                c.n.1
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

fn spikes(plan: &Plan, load: &LoadRecord) -> Vec<Finding> {
    use super::spike::{detect, Event, Second, POOLED_CONNECTION_HINT};
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
        let mut per_second: BTreeMap<u64, Second> = BTreeMap::new();
        for ci in 0..plan.checks.len() {
            for s in &o.aggregator.series[o.key(ti, ci)] {
                let e = per_second.entry(s.second).or_insert_with(|| Second {
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
        let series: Vec<Second> = per_second.into_values().collect();
        let target = &plan.targets[ti].name;
        for spike in detect(&series, &events, rules) {
            let gateway_made = spike.origins.first().is_some_and(|(o, _)| o == "gateway");
            let requests = series
                .iter()
                .filter(|s| s.second >= spike.start && s.second <= spike.end)
                .map(|s| s.requests)
                .sum();
            let mut f = Finding::new(
                FindingKind::Spike503,
                Level::Warn,
                None,
                Some(target),
                spike.describe(target),
            )
            .with_evidence(Evidence::Spike {
                start_s: spike.start,
                end_s: spike.end,
                count: spike.count,
                requests,
                peak_ratio: spike.peak_ratio,
                baseline_ratio: spike.baseline,
                event: spike.event.clone(),
                origins: spike.origins.iter().cloned().collect(),
            });
            if gateway_made {
                f.hint = Some(POOLED_CONNECTION_HINT.to_owned());
            }
            out.push(f);
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
            let failed = total.errors + server + total.cancelled;
            let r = failed as f64 / n.max(1) as f64;
            if r > max {
                breach(
                    "error_ratio",
                    r,
                    max,
                    format!(
                        "error ratio {:.2} % exceeds {:.2} % ({failed} of {n} requests)",
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
        let c = comparison(5_000, vec![(0.5, 3.0, 1.0), (0.999, 30.0, 10.0)]);
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
        assert_eq!(samples_needed(0.5), 20);
        assert_eq!(samples_needed(0.99), 1_000);
        assert_eq!(samples_needed(0.999), 10_000);
    }
}
