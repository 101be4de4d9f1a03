//! Sampled parity under load, judged Diffy's way.
//!
//! The engine counts, per target × check and per JSON pointer, how often a
//! sampled answer differed from a baseline answer to the same request
//! (**raw**) and how often two baseline answers differed from each other
//! (**noise**). A pointer is reported when raw exceeds noise, and the gap is
//! large both relative to the two counts (`|raw - noise| / (raw + noise)`,
//! default 20 %) and as a share of the sampled requests
//! (`|raw - noise| / sampled`, default 0.03 %). These are Diffy's
//! `threshold.relative` and `threshold.absolute` defaults, inclusive as its
//! flags document them. So a field that varies on every answer of both
//! targets (a timestamp) is noise, and a price that differs on 5 % of the
//! gateway's answers is reported with its counts.
//!
//! Levels: a reported pointer fails the run; a sampled check that got no
//! sampled answer at all is `inconclusive`. Pure: reads the recorded counts.

use super::finding::{Evidence, Finding, FindingKind, Level, PointerCounts};
use crate::load::plan::LoadParity;
use crate::run::LoadRecord;
use crate::scenario::plan::{Plan, ProbeSpec};

/// Whether `(raw, noise)` over `sampled` requests is reported under `rules`.
pub fn reported(raw: u64, noise: u64, sampled: u64, rules: &LoadParity) -> bool {
    if raw <= noise || sampled == 0 {
        return false;
    }
    let gap = (raw - noise) as f64;
    gap / (raw + noise) as f64 >= rules.relative && gap / sampled as f64 >= rules.absolute
}

/// The findings of sampled parity under load.
pub fn judge(plan: &Plan, load: &LoadRecord) -> Vec<Finding> {
    let Some(rules) = plan.load.as_ref().and_then(|l| l.parity) else {
        return Vec::new();
    };
    let outcome = &load.outcome;
    let base = &plan.targets[plan.baseline].name;
    let mut out = Vec::new();
    for &ti in &outcome.targets {
        if ti == plan.baseline {
            continue;
        }
        for (ci, check) in plan.checks.iter().enumerate() {
            let sampled_kind = matches!(check.probe, ProbeSpec::Http(_))
                && (check.parity.body.is_some() || check.parity.status);
            if !sampled_kind || !check.targets.contains(&ti) {
                continue;
            }
            let key = outcome.key(ti, ci);
            let requests = outcome.aggregator.totals.get(key).map_or(0, |b| b.requests);
            let Some(tally) = outcome.parity.get(key) else {
                continue;
            };
            let target = &plan.targets[ti].name;
            if tally.sampled == 0 {
                if requests > 0 {
                    out.push(
                        Finding::new(
                            FindingKind::LoadParity,
                            Level::Inconclusive,
                            Some(&check.name),
                            Some(target),
                            format!(
                                "none of {requests} load requests was sampled for parity with {base}"
                            ),
                        )
                        .with_hint(format!(
                            "raise `load.parity.sample` (now {}) or run the load longer",
                            percent(rules.sample)
                        )),
                    );
                }
                continue;
            }
            let pointers: Vec<PointerCounts> = tally
                .pointers
                .iter()
                .filter(|(_, &(raw, noise))| reported(raw, noise, tally.sampled, &rules))
                .map(|(p, &(raw, noise))| PointerCounts {
                    pointer: p.clone(),
                    raw,
                    noise,
                })
                .collect();
            if pointers.is_empty() {
                continue;
            }
            let named: Vec<String> = pointers
                .iter()
                .take(super::parity::NAMED_IN_MESSAGE)
                .map(|p| {
                    format!(
                        "{} in {} of {} ({} between {base}'s own answers)",
                        if p.pointer.is_empty() {
                            "(root)"
                        } else {
                            &p.pointer
                        },
                        p.raw,
                        tally.sampled,
                        p.noise
                    )
                })
                .collect();
            let more = pointers.len().saturating_sub(named.len());
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            out.push(
                Finding::new(
                    FindingKind::LoadParity,
                    Level::Fail,
                    Some(&check.name),
                    Some(target),
                    format!(
                        "under load, sampled answers differ from {base}'s more than {base}'s own answers do: {}{more}",
                        named.join(", ")
                    ),
                )
                .with_hint(format!(
                    "reproduce one with the check pass (`cutover check`), or accept the pointer with an ignore rule (`parity: {{ body: json, ignore: [{}] }}`) if it may differ",
                    pointers[0].pointer
                ))
                .with_evidence(Evidence::ParityCounts {
                    baseline_target: base.clone(),
                    sampled: tally.sampled,
                    relative_threshold: rules.relative,
                    absolute_threshold: rules.absolute,
                    pointers,
                }),
            );
        }
    }
    out
}

fn percent(x: f64) -> String {
    format!("{}%", (x * 10_000.0).round() / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIFFY: LoadParity = LoadParity {
        sample: 0.01,
        relative: LoadParity::DEFAULT_RELATIVE,
        absolute: LoadParity::DEFAULT_ABSOLUTE,
    };

    #[test]
    fn a_difference_on_five_percent_beats_zero_noise() {
        assert!(reported(20, 0, 400, &DIFFY));
    }

    #[test]
    fn a_field_varying_on_both_targets_is_noise() {
        assert!(!reported(400, 400, 400, &DIFFY));
        // 10 % more raw than noise: under the 20 % relative threshold.
        assert!(!reported(110, 90, 400, &DIFFY));
        assert!(!reported(3, 5, 400, &DIFFY));
    }

    #[test]
    fn the_absolute_threshold_needs_a_share_of_the_sample() {
        // 1 in 10,000 is below 0.03 %; 3 in 10,000 is at it (inclusive).
        assert!(!reported(1, 0, 10_000, &DIFFY));
        assert!(reported(3, 0, 10_000, &DIFFY));
    }
}
