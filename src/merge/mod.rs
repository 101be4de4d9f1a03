//! `cutover merge`: the shard reports of one sharded run (`run --shard i/n`)
//! combined into one report, judged again by the same analyzers.
//!
//! A merge is a run's second half fed from saved reports instead of sockets:
//! the shards' load records are restored into one recorded load
//! ([`timeline`]), judged by `analyze::load` exactly as a run's would be,
//! and laid out by the report builder. Nothing in it judges on its own.
//!
//! What is refused, each with a sentence that says what to do:
//!
//! - a report that is not a shard (no load, or run without `--shard`);
//! - reports of another scenario (content hash), or a scenario file that is
//!   not the one the shards ran;
//! - shards of different counts, the same shard twice, a missing shard (a
//!   merge of 3 of 4 shards is not the scenario's load);
//! - shards run with different `--rate-scale` or `--duration`;
//! - a damaged report (a histogram or a count that does not read back).
//!
//! What is combined, and how:
//!
//! - histograms are decoded and added, losslessly (they share bounds);
//!   counters are summed;
//! - the whole run's connections and in-flight cap per target are the
//!   shards' summed (each shard had the scenario's);
//! - timelines are aligned on the wall clock: each shard's seconds move by
//!   the whole seconds its load started after the earliest shard's (rounded,
//!   so a second of the merged timeline holds what the shards saw within
//!   half a second of it); events move with them, and the marks every shard
//!   read are kept once;
//! - load findings (failures, sampled parity, regressions, status classes,
//!   spikes, thresholds, failed events, `--baseline`) are recomputed from the
//!   merged data; a shard's abort and its DNS-over-time findings are its own
//!   (each shard sees DNS from its own network) and are carried over, named
//!   with the shard;
//! - the check pass ([`checks`]): each shard ran it from its own machine;
//!   per check the first shard that failed it is shown (else shard 0), and
//!   when shards judged a check differently, a `shards_disagree` warning
//!   says which shard saw what.

mod checks;
mod timeline;

use std::path::PathBuf;

use crate::analyze::finding::{Finding, FindingKind};
use crate::analyze::load::Baseline;
use crate::analyze::{CheckVerdict, RunStatus, Verdict};
use crate::report::model::{Report, ScenarioInfo, Tool, SCHEMA_VERSION};
use crate::scenario::plan::Plan;

/// One shard's saved report and where it was read from.
pub struct ShardReport {
    pub path: PathBuf,
    pub report: Report,
}

/// Why shard reports cannot be merged; each a sentence with advice.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("merge needs the reports of every shard of one run; {0}")]
    TooFew(String),
    #[error("`{}` is not a shard report: {why}", path.display())]
    NotAShard { path: PathBuf, why: String },
    /// `a_scenario` and `b_scenario`: `` `name`, sha256 0123456789ab ``.
    #[error("`{}` was run from another scenario than `{}` ({b_scenario} against {a_scenario}): merge only the shard reports of one run", b.display(), a.display())]
    ScenarioMismatch {
        a: PathBuf,
        a_scenario: String,
        b: PathBuf,
        b_scenario: String,
    },
    #[error("`{}` (sha256 {now}) is not the scenario the shards ran (sha256 {ran}): pass the file they ran with --scenario", scenario.display())]
    ScenarioChanged {
        scenario: PathBuf,
        now: String,
        ran: String,
    },
    #[error("`{}` is shard {index} of {count} and `{}` is shard {other_index} of {other_count}: merge only the shards of one run", a.display(), b.display())]
    CountMismatch {
        a: PathBuf,
        index: u64,
        count: u64,
        b: PathBuf,
        other_index: u64,
        other_count: u64,
    },
    #[error("`{}` and `{}` are both shard {index}: pass each shard's report once", a.display(), b.display())]
    Duplicate { a: PathBuf, b: PathBuf, index: u64 },
    /// `missing`: `shard 1 of 4 is` or `shards 1 and 3 of 4 are`.
    #[error("{missing} missing: merge needs every shard of the run (a part of the load is not the scenario's load); pass their reports, or run the Job again")]
    Missing { missing: String },
    #[error("`{}` ran with {what} and `{}` with {other}: shards of one run share --rate-scale and --duration; merge only the shards of one run", a.display(), b.display())]
    OptionsMismatch {
        a: PathBuf,
        what: String,
        b: PathBuf,
        other: String,
    },
    #[error("`{}` cannot be merged: {why}; it was damaged or edited since it was written", path.display())]
    Damaged { path: PathBuf, why: String },
}

/// Merges the shard reports of one run of `plan`'s scenario into one judged report.
pub fn merge(
    plan: &Plan,
    mut shards: Vec<ShardReport>,
    baseline: Option<&Baseline>,
) -> Result<Report, MergeError> {
    refuse(plan, &mut shards)?;
    let restored = timeline::restore(plan, &shards)?;
    let chosen = checks::choose(plan, &shards);
    let mut findings = chosen.findings;
    findings.extend(crate::analyze::load::judge(
        plan,
        &restored.record,
        baseline,
    ));
    findings.extend(carried(&shards));
    crate::analyze::known::apply(&plan.known_differences, &mut findings);

    let reports: Vec<&Report> = shards.iter().map(|s| &s.report).collect();
    let status = if reports.iter().any(|r| r.status == RunStatus::Aborted) {
        RunStatus::Aborted
    } else if reports.iter().any(|r| r.status == RunStatus::Interrupted) {
        RunStatus::Interrupted
    } else {
        RunStatus::Completed
    };
    let passed = !findings.iter().any(Finding::fails);
    // The builder reads only the DNS series of a verdict; a merge's are the shards'.
    let layout = Verdict {
        status,
        findings: Vec::new(),
        results: Vec::new(),
        splits: Vec::new(),
        dns_over_time: Vec::new(),
    };
    let mut load = crate::report::build::load_report(plan, &restored.record, &layout);
    // Each shard had the scenario's connections and in-flight cap per
    // target: the whole run had them once per shard.
    let shards_n = restored.merged.len() as u64;
    load.connections *= shards_n;
    load.max_in_flight *= shards_n;
    load.merged = restored.merged;
    load.dns = restored.dns;
    let started_at = earliest(reports.iter().map(|r| r.started_at.as_str()));
    let ended_at = latest(reports.iter().map(|r| r.ended_at.as_str()));
    let duration_ms = match (
        humantime::parse_rfc3339_weak(&started_at),
        humantime::parse_rfc3339_weak(&ended_at),
    ) {
        (Ok(a), Ok(b)) => b.duration_since(a).unwrap_or_default().as_millis() as u64,
        _ => 0,
    };
    let base = reports[0];
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: "cutover".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        mode: base.mode,
        scenario: ScenarioInfo {
            name: plan.name.clone(),
            path: plan.path.display().to_string(),
            sha256: plan.sha256.clone(),
            host: plan.host.clone(),
        },
        started_at,
        ended_at,
        duration_ms,
        status,
        verdict: if passed {
            CheckVerdict::Pass
        } else {
            CheckVerdict::Fail
        },
        targets: base.targets.clone(),
        checks: chosen.checks,
        findings,
        load: Some(load),
        watch: None,
    })
}

/// Checks that the reports are every shard of one run of `plan`'s scenario,
/// and sorts them by shard index.
fn refuse(plan: &Plan, shards: &mut [ShardReport]) -> Result<(), MergeError> {
    let Some(first) = shards.first() else {
        return Err(MergeError::TooFew("none was given".into()));
    };
    if plan.load.is_none() {
        return Err(MergeError::NotAShard {
            path: first.path.clone(),
            why: format!(
                "its scenario `{}` has no `load:` section, so no shard ran a load",
                plan.path.display()
            ),
        });
    }
    for s in shards.iter() {
        let why = match &s.report.load {
            None => {
                Some("it has no load (it is a `check` report, or the run stopped before its load)")
            }
            Some(l) if l.shard.is_none() => Some("it was run without --shard"),
            Some(l) if !l.merged.is_empty() => Some("it is already a merged report"),
            Some(_) => None,
        };
        if let Some(why) = why {
            return Err(MergeError::NotAShard {
                path: s.path.clone(),
                why: why.into(),
            });
        }
        if s.report.scenario.sha256 != first.report.scenario.sha256 {
            let named = |r: &Report| {
                format!(
                    "`{}`, sha256 {}",
                    r.scenario.name,
                    short(&r.scenario.sha256)
                )
            };
            return Err(MergeError::ScenarioMismatch {
                a: first.path.clone(),
                a_scenario: named(&first.report),
                b: s.path.clone(),
                b_scenario: named(&s.report),
            });
        }
    }
    if first.report.scenario.sha256 != plan.sha256 {
        return Err(MergeError::ScenarioChanged {
            scenario: plan.path.clone(),
            now: short(&plan.sha256),
            ran: short(&first.report.scenario.sha256),
        });
    }
    let tag = |s: &ShardReport| s.report.load.as_ref().and_then(|l| l.shard.clone());
    shards.sort_by_key(|s| tag(s).map_or(0, |t| t.index));
    let (Some(first_tag), Some(first_load)) = (tag(&shards[0]), shards[0].report.load.as_ref())
    else {
        return Err(MergeError::TooFew("no shard report was read".into()));
    };
    let options = |l: &crate::report::model::LoadReport| {
        format!(
            "--rate-scale {}{}",
            l.rate_scale,
            l.fit_ms
                .map(|ms| format!(
                    " --duration {}",
                    humantime::format_duration(std::time::Duration::from_millis(ms))
                ))
                .unwrap_or_default()
        )
    };
    for pair in shards.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let (Some(ta), Some(tb)) = (tag(a), tag(b)) else {
            continue;
        };
        if ta.index == tb.index {
            return Err(MergeError::Duplicate {
                a: a.path.clone(),
                b: b.path.clone(),
                index: ta.index,
            });
        }
    }
    for s in shards.iter() {
        let (Some(t), Some(l)) = (tag(s), s.report.load.as_ref()) else {
            continue;
        };
        if t.count != first_tag.count {
            return Err(MergeError::CountMismatch {
                a: shards[0].path.clone(),
                index: first_tag.index,
                count: first_tag.count,
                b: s.path.clone(),
                other_index: t.index,
                other_count: t.count,
            });
        }
        if options(l) != options(first_load) {
            return Err(MergeError::OptionsMismatch {
                a: shards[0].path.clone(),
                what: options(first_load),
                b: s.path.clone(),
                other: options(l),
            });
        }
    }
    let present: Vec<u64> = shards
        .iter()
        .filter_map(|s| tag(s).map(|t| t.index))
        .collect();
    let missing: Vec<String> = (0..first_tag.count)
        .filter(|i| !present.contains(i))
        .map(|i| i.to_string())
        .collect();
    let count = first_tag.count;
    match missing.as_slice() {
        [] => {}
        [one] => {
            return Err(MergeError::Missing {
                missing: format!("shard {one} of {count} is"),
            })
        }
        [rest @ .., last] => {
            return Err(MergeError::Missing {
                missing: format!("shards {} and {last} of {count} are", rest.join(", ")),
            })
        }
    }
    Ok(())
}

/// The first 12 hex digits of a hash, enough to tell two apart in a message.
fn short(hash: &str) -> String {
    hash.chars().take(12).collect()
}

/// What a shard decided alone and a merge cannot recompute: the abort rail
/// that stopped it, and the DNS split it saw from its own network.
fn carried(shards: &[ShardReport]) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in shards {
        let Some(tag) = s.report.load.as_ref().and_then(|l| l.shard.as_ref()) else {
            continue;
        };
        for f in &s.report.findings {
            if matches!(f.kind, FindingKind::Aborted | FindingKind::DnsSplitChanged) {
                let mut f = f.clone();
                f.message = format!(
                    "{} (shard {} of {}, on {})",
                    f.message, tag.index, tag.count, tag.host
                );
                out.push(f);
            }
        }
    }
    out
}

/// The earliest of RFC 3339 times (the first one that reads, else the first).
fn earliest<'a>(times: impl Iterator<Item = &'a str>) -> String {
    extreme(times, std::cmp::Ordering::Less)
}

fn latest<'a>(times: impl Iterator<Item = &'a str>) -> String {
    extreme(times, std::cmp::Ordering::Greater)
}

fn extreme<'a>(times: impl Iterator<Item = &'a str>, want: std::cmp::Ordering) -> String {
    let mut best: Option<(std::time::SystemTime, &str)> = None;
    for t in times {
        if let Ok(at) = humantime::parse_rfc3339_weak(t) {
            if best.is_none_or(|(b, _)| at.cmp(&b) == want) {
                best = Some((at, t));
            }
        }
    }
    best.map(|(_, t)| t.to_owned()).unwrap_or_default()
}
