//! The shards' load records restored into one recorded load, on one timeline.
//!
//! Each shard's report keeps, per target × check, its totals and one entry
//! per second with the counters and the histograms (HdrHistogram V2). Here
//! they become the recorder's buckets again ([`Bucket::restore`]) and are
//! added: totals to totals, and second `s` of a shard whose load started
//! `o` whole seconds (rounded) after the earliest shard's to second `s + o`
//! of the merged series. The schedule is rebuilt from the scenario with the
//! shards' `--rate-scale` and `--duration`, unsharded, so the merged run
//! intends the whole load. Events move with their shard; one seen by
//! several shards (a mark every shard read from the same file) is kept once.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::{MergeError, ShardReport};
use crate::load::engine::{Outcome, ParityTally, Shard};
use crate::load::schedule::Shape;
use crate::record::{Aggregator, Bucket, Compact, SecondRecord};
use crate::report::model::{DnsSeries, LoadReport, MergedShard, Stats};
use crate::run::{EventRecord, LoadRecord};
use crate::scenario::plan::Plan;

/// Two events of the same name this close on the merged timeline are one
/// event seen by two shards.
const SAME_EVENT_S: f64 = 2.0;

/// The merged load, and what the report says about its parts.
pub struct Restored {
    pub record: LoadRecord,
    pub merged: Vec<MergedShard>,
    /// Every shard's DNS series, named with the host that sampled it.
    pub dns: Vec<DnsSeries>,
}

/// Restores and adds the shards' loads. The shards are sorted by index and
/// were checked to be every shard of one run.
pub fn restore(plan: &Plan, shards: &[ShardReport]) -> Result<Restored, MergeError> {
    let damaged = |s: &ShardReport, why: String| MergeError::Damaged {
        path: s.path.clone(),
        why,
    };
    let mut loads: Vec<(&ShardReport, &LoadReport, SystemTime)> = Vec::new();
    for s in shards {
        let Some(l) = s.report.load.as_ref() else {
            continue;
        };
        let started = humantime::parse_rfc3339_weak(&l.started_at).map_err(|_| {
            damaged(
                s,
                format!("its load start `{}` is not an RFC 3339 time", l.started_at),
            )
        })?;
        loads.push((s, l, started));
    }
    let Some(origin) = loads.iter().map(|(_, _, t)| *t).min() else {
        return Err(MergeError::TooFew("no shard report has a load".into()));
    };
    let Some(load_plan) = plan.load.as_ref() else {
        return Err(MergeError::TooFew("the scenario has no load".into()));
    };
    let checks = plan.checks.len();
    let keys = plan.targets.len() * checks;
    let mut totals: Vec<Bucket> = vec![Bucket::default(); keys];
    let mut seconds: Vec<BTreeMap<u64, Bucket>> = vec![BTreeMap::new(); keys];
    let mut parity: Vec<ParityTally> = if load_plan.parity.is_some() {
        vec![ParityTally::default(); keys]
    } else {
        Vec::new()
    };
    let mut merged = Vec::new();
    let mut events: Vec<EventRecord> = Vec::new();
    let mut dns = Vec::new();
    let mut end = origin;
    let (mut interrupted, mut workers) = (false, 0);
    for &(s, l, started) in &loads {
        let after = started.duration_since(origin).unwrap_or_default();
        let offset = after.as_secs_f64().round() as u64;
        end = end.max(started + Duration::from_millis(l.duration_ms));
        interrupted |= l.interrupted;
        workers += l.workers;
        let host = l.shard.as_ref().map(|t| t.host.clone()).unwrap_or_default();
        merged.push(MergedShard {
            index: l.shard.as_ref().map_or(0, |t| t.index),
            host: host.clone(),
            started_at: l.started_at.clone(),
            offset_s: offset,
            path: s.path.display().to_string(),
        });
        for t in &l.targets {
            let ti = plan
                .targets
                .iter()
                .position(|x| x.name == t.target)
                .ok_or_else(|| {
                    damaged(
                        s,
                        format!("it names target `{}` the scenario does not have", t.target),
                    )
                })?;
            for c in &t.checks {
                let ci = plan
                    .checks
                    .iter()
                    .position(|x| x.name == c.check)
                    .ok_or_else(|| {
                        damaged(
                            s,
                            format!("it names check `{}` the scenario does not have", c.check),
                        )
                    })?;
                let key = ti * checks + ci;
                let what = |second: Option<u64>| match second {
                    Some(n) => format!("`{}` on `{}` in second {n}", c.check, t.target),
                    None => format!("`{}` on `{}` in total", c.check, t.target),
                };
                totals[key].merge(
                    &bucket(&c.totals)
                        .map_err(|why| damaged(s, format!("the load of {}: {why}", what(None))))?,
                );
                for sec in &c.series {
                    let b = bucket(&sec.stats).map_err(|why| {
                        damaged(s, format!("the load of {}: {why}", what(Some(sec.second))))
                    })?;
                    seconds[key]
                        .entry(sec.second + offset)
                        .or_default()
                        .merge(&b);
                }
                if let (Some(p), Some(tally)) = (&c.parity, parity.get_mut(key)) {
                    tally.sampled += p.sampled;
                    tally.untracked += p.untracked;
                    for (pointer, n) in &p.pointers {
                        let slot = tally.pointers.entry(pointer.clone()).or_default();
                        slot.0 += n.raw;
                        slot.1 += n.noise;
                    }
                }
            }
        }
        for e in &l.events {
            let moved = EventRecord {
                at_s: e.at_s + offset as f64,
                end_s: e.end_s.map(|x| x + offset as f64),
                ..e.clone()
            };
            let seen = events.iter().any(|x| {
                x.name == moved.name
                    && x.weights == moved.weights
                    && (x.at_s - moved.at_s).abs() <= SAME_EVENT_S
            });
            if !seen {
                events.push(moved);
            }
        }
        for series in &l.dns {
            let mut series = series.clone();
            series.host = Some(host.clone());
            for p in &mut series.points {
                p.at_s += offset as f64;
            }
            dns.push(series);
        }
    }
    events.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    let series = seconds
        .into_iter()
        .map(|m| {
            m.into_iter()
                .map(|(second, b)| SecondRecord {
                    second,
                    stats: b.compact(),
                })
                .collect()
        })
        .collect();
    let first = loads[0].1;
    let fit = first.fit_ms.map(Duration::from_millis);
    let outcome = Outcome {
        shape: Shape::new(&load_plan.stages, first.rate_scale, fit),
        started: origin,
        elapsed: end.duration_since(origin).unwrap_or_default(),
        interrupted,
        targets: load_plan.targets.clone(),
        checks,
        aggregator: Aggregator::restored(series, totals),
        parity,
        shard: Shard::default(),
        rate_scale: first.rate_scale,
        fit,
    };
    Ok(Restored {
        record: LoadRecord {
            outcome,
            workers,
            events,
            dns: Vec::new(),
            abort: None,
            host: String::new(),
        },
        merged,
        dns,
    })
}

/// A saved [`Stats`] as the recorder's bucket.
fn bucket(s: &Stats) -> Result<Bucket, String> {
    let c = Compact::try_from(s)?;
    Bucket::restore(&c).ok_or_else(|| "a histogram does not decode".to_owned())
}
