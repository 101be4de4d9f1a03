//! The check pass of a merged run: what each shard's own check pass saw.
//!
//! Every shard runs the check pass from its own machine before its load, so
//! a merge has `n` check passes of the same checks. They are not added (a
//! check is one request, not a count): per check, the first shard that
//! failed it is shown, with its results and findings, so no failure a shard
//! saw is hidden; a check every shard passed is shown as shard 0 saw it.
//! When shards judged a check differently, a `shards_disagree` warning names
//! the shards and hosts on each side (a network's DNS or routing, a
//! per-source rate limit, or a flaky target). Run-wide check-pass findings
//! are shard 0's.

use super::ShardReport;
use crate::analyze::finding::{Finding, FindingKind, Level};
use crate::analyze::CheckVerdict;
use crate::report::model::CheckReport;
use crate::scenario::plan::Plan;

/// The check reports and check-pass findings a merged report shows.
pub struct Chosen {
    pub checks: Vec<CheckReport>,
    /// Check-pass findings, then the disagreements.
    pub findings: Vec<Finding>,
}

/// Picks each check's shard; the shards are sorted by index.
pub fn choose(plan: &Plan, shards: &[ShardReport]) -> Chosen {
    let mut checks = Vec::new();
    let mut findings: Vec<Finding> = Vec::new();
    let mut disagreements = Vec::new();
    if let Some(first) = shards.first() {
        // Run-wide check-pass findings (no check named) are shard 0's.
        findings.extend(
            first
                .report
                .findings
                .iter()
                .filter(|f| pass_finding(f) && f.check.is_none())
                .cloned(),
        );
    }
    for check in &plan.checks {
        let seen: Vec<(&ShardReport, &CheckReport)> = shards
            .iter()
            .filter_map(|s| {
                s.report
                    .checks
                    .iter()
                    .find(|c| c.name == check.name)
                    .map(|c| (s, c))
            })
            .collect();
        let Some(&(shard, shown)) = seen
            .iter()
            .find(|(_, c)| c.verdict.is_failure())
            .or_else(|| seen.first())
        else {
            continue;
        };
        checks.push(shown.clone());
        findings.extend(
            shard
                .report
                .findings
                .iter()
                .filter(|f| pass_finding(f) && f.check.as_deref() == Some(check.name.as_str()))
                .cloned(),
        );
        if let Some(f) = disagreement(&check.name, &seen) {
            disagreements.push(f);
        }
    }
    findings.extend(disagreements);
    Chosen { checks, findings }
}

/// A check-pass finding a shard judged (known differences are applied again).
fn pass_finding(f: &Finding) -> bool {
    f.kind.is_check_pass() && f.kind != FindingKind::UnusedKnownDifference
}

/// `shard 2 (pod-b)`.
fn who(s: &ShardReport) -> String {
    match s.report.load.as_ref().and_then(|l| l.shard.as_ref()) {
        Some(t) => format!("{} ({})", t.index, t.host),
        None => s.path.display().to_string(),
    }
}

/// The warning that shards judged `check` differently, if they did.
fn disagreement(check: &str, seen: &[(&ShardReport, &CheckReport)]) -> Option<Finding> {
    let mut by_verdict: Vec<(CheckVerdict, Vec<String>)> = Vec::new();
    for (s, c) in seen {
        match by_verdict.iter_mut().find(|(v, _)| *v == c.verdict) {
            Some((_, list)) => list.push(who(s)),
            None => by_verdict.push((c.verdict, vec![who(s)])),
        }
    }
    if by_verdict.len() < 2 {
        return None;
    }
    by_verdict.sort_by_key(|(v, _)| !v.is_failure());
    let sides: Vec<String> = by_verdict
        .iter()
        .map(|(v, list)| {
            let noun = if list.len() == 1 { "shard" } else { "shards" };
            format!("{} on {noun} {}", v.as_str(), list.join(", "))
        })
        .collect();
    Some(
        Finding::new(
            FindingKind::ShardsDisagree,
            Level::Warn,
            Some(check),
            None,
            format!(
                "the shards judged this check differently: {}; the report shows the first that failed",
                sides.join("; ")
            ),
        )
        .with_hint("each shard ran the check from its own machine: a difference is that network's (DNS answers, routing, a rate limit per source address) or a flaky target; run `cutover check` from the failing shard's host"),
    )
}
