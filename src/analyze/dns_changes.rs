//! The DNS split over a run: when it moved, and whether it follows the
//! weights expected at each moment.
//!
//! During `run` each DNS check is sampled again every `every`. Each re-sample
//! is judged against the weights expected at its time: the scenario's, or
//! those of the latest `cutover mark --weights` before it (a weight change
//! made on purpose). A change point is a re-sample whose split differs from
//! the pooled re-samples since the last change point by a chi-square test of
//! homogeneity (p below the check's `significance`) and by at least
//! [`MIN_SHIFT`] in some target's share. Each change point is a
//! `dns_split_changed` finding with the time, the split before and after,
//! and the nearest event before it: `info` when the new split follows the
//! weights expected then, `warn` otherwise.

use std::collections::BTreeMap;

use super::dns::{DnsExpect, Split, TargetAnswers};
use super::finding::{Evidence, Finding, FindingKind, Level};
use super::stats::{chi_square_p, chi_square_statistic};
use crate::probe::dns::DnsResult;
use crate::run::EventRecord;
use crate::scenario::plan::{Check, Plan};

/// The smallest move of a share that is a change (5 points).
pub const MIN_SHIFT: f64 = 0.05;

/// The weights expected at `at`: the latest marked weights before it, as
/// `(target index, weight)`, or the check's own.
fn expected_at(plan: &Plan, check: &Check, events: &[EventRecord], at: f64) -> DnsExpect {
    let mut expect = check.dns_expect.clone();
    let marked = events
        .iter()
        .filter(|e| e.at_s <= at)
        .filter_map(|e| e.weights.as_ref())
        .next_back();
    if let Some(w) = marked {
        expect.weights = w
            .iter()
            .filter_map(|(name, weight)| {
                plan.targets
                    .iter()
                    .position(|t| &t.name == name)
                    .map(|i| (i, *weight))
            })
            .collect();
    }
    expect
}

/// Counts per target of a split, in the targets' order.
fn counts(split: &Split, names: &[String]) -> Vec<f64> {
    names
        .iter()
        .map(|n| {
            split
                .shares
                .iter()
                .find(|s| &s.target == n)
                .map_or(0.0, |s| s.count as f64)
        })
        .collect()
}

/// Chi-square test of homogeneity of two count vectors; `None` when a side is empty.
fn homogeneity_p(a: &[f64], b: &[f64]) -> Option<f64> {
    let (ta, tb): (f64, f64) = (a.iter().sum(), b.iter().sum());
    if ta == 0.0 || tb == 0.0 {
        return None;
    }
    let total = ta + tb;
    let mut cells = Vec::new();
    let mut columns = 0;
    for (x, y) in a.iter().zip(b) {
        let col = x + y;
        if col == 0.0 {
            continue;
        }
        columns += 1;
        cells.push((*x, ta * col / total));
        cells.push((*y, tb * col / total));
    }
    if columns < 2 {
        return Some(1.0);
    }
    Some(chi_square_p(
        chi_square_statistic(&cells),
        (columns - 1) as f64,
    ))
}

fn shares(c: &[f64]) -> Vec<f64> {
    let t: f64 = c.iter().sum::<f64>().max(1.0);
    c.iter().map(|x| x / t).collect()
}

/// The split over time of one DNS check, and its change points as findings.
pub fn judge(
    plan: &Plan,
    check: &Check,
    name: &str,
    points: &[(f64, DnsResult)],
    answers: &[TargetAnswers],
    events: &[EventRecord],
) -> (Vec<(f64, Split)>, Vec<Finding>) {
    let names: Vec<String> = answers.iter().map(|a| a.target.clone()).collect();
    let judged: Vec<(f64, Split, bool)> = points
        .iter()
        .map(|(at, d)| {
            let expect = expected_at(plan, check, events, *at);
            let (split, problems) = super::dns::analyze(name, d, answers, &expect);
            let follows = !problems.iter().any(|(k, _)| *k == "dns_weights");
            (*at, split, follows)
        })
        .collect();
    let mut findings = Vec::new();
    let mut regime = 0;
    let mut i = 0;
    while i + 1 < judged.len() {
        i += 1;
        let pooled: Vec<f64> = judged[regime..i]
            .iter()
            .map(|(_, s, _)| counts(s, &names))
            .fold(vec![0.0; names.len()], |acc, c| {
                acc.iter().zip(&c).map(|(a, b)| a + b).collect()
            });
        let now = counts(&judged[i].1, &names);
        let Some(p) = homogeneity_p(&pooled, &now) else {
            continue;
        };
        let before = shares(&pooled);
        let after_first = shares(&now);
        let shift = before
            .iter()
            .zip(&after_first)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        if p >= check.dns_expect.significance || shift < MIN_SHIFT {
            continue;
        }
        // The change happened between the previous re-sample and this one;
        // a re-sample taken while the records were switching moves on again
        // at the next one: then the change spans both.
        let since = judged[i - 1].0;
        if let Some((_, next, _)) = judged.get(i + 1) {
            let next = counts(next, &names);
            let settles = homogeneity_p(&now, &next).is_some_and(|q| {
                let moved = shares(&now)
                    .iter()
                    .zip(shares(&next))
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max);
                q < check.dns_expect.significance && moved >= MIN_SHIFT
            });
            if settles {
                i += 1;
            }
        }
        let after = shares(&counts(&judged[i].1, &names));
        let (at, _, follows) = &judged[i];
        let event = events.iter().rfind(|e| e.at_s <= *at);
        let moved: Vec<String> = names
            .iter()
            .enumerate()
            .map(|(k, n)| format!("{n} {:.1} % → {:.1} %", 100.0 * before[k], 100.0 * after[k]))
            .collect();
        let after_event = match event {
            Some(e) => format!(", after `{}` at {:.1} s", e.name, e.at_s),
            None => ", with no event before it".into(),
        };
        let (level, tail) = if *follows {
            (Level::Info, " It follows the weights expected then.")
        } else {
            (
                Level::Warn,
                " It does not follow the weights expected then (mark a planned change with `cutover mark NAME --weights target=weight,…`).",
            )
        };
        findings.push(
            Finding::new(
                FindingKind::DnsSplitChanged,
                level,
                Some(&check.name),
                None,
                format!(
                    "{name}: the DNS split moved between {since:.1} s and {at:.1} s{after_event}: {} (chi-square p = {p:.1e}).{tail}",
                    moved.join(", ")
                ),
            )
            .with_evidence(Evidence::Compared {
                what: format!("DNS split at {at:.1} s"),
                baseline_target: "before".into(),
                baseline: describe(&names, &before),
                target: describe(&names, &after),
            }),
        );
        regime = i;
    }
    (
        judged.into_iter().map(|(at, s, _)| (at, s)).collect(),
        findings,
    )
}

fn describe(names: &[String], shares: &[f64]) -> String {
    let m: BTreeMap<&String, String> = names
        .iter()
        .zip(shares)
        .map(|(n, s)| (n, format!("{:.1} %", 100.0 * s)))
        .collect();
    m.iter()
        .map(|(n, s)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homogeneity_tells_a_moved_split_from_noise() {
        let p = homogeneity_p(&[900.0, 100.0], &[500.0, 500.0]).expect("p");
        assert!(p < 1e-50, "{p}");
        let p = homogeneity_p(&[900.0, 100.0], &[890.0, 110.0]).expect("p");
        assert!(p > 0.01, "{p}");
        assert_eq!(homogeneity_p(&[0.0, 0.0], &[1.0, 2.0]), None);
    }
}
