//! DNS checks sampled again during the load: the raw material of the split
//! over time.
//!
//! Every DNS check of the plan is sampled every `every` (the smallest of the
//! checks' settings, default 30 s) until the load stops. The samples are kept
//! whole; the analyzers turn them into shares and change points.

use super::recorded::DnsResamples;
use crate::probe;
use crate::scenario::plan::{Plan, ProbeSpec};

/// Samples every DNS check of the plan until `stop`.
pub async fn resample(
    plan: &Plan,
    started: tokio::time::Instant,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<DnsResamples> {
    let mut series: Vec<(DnsResamples, &probe::dns::DnsSpec)> = plan
        .checks
        .iter()
        .enumerate()
        .filter_map(|(ci, c)| match &c.probe {
            ProbeSpec::Dns(spec) => Some((
                DnsResamples {
                    check: ci,
                    points: Vec::new(),
                },
                spec,
            )),
            _ => None,
        })
        .collect();
    if series.is_empty() {
        return Vec::new();
    }
    let every = series
        .iter()
        .map(|(_, s)| s.every)
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
        for (points, spec) in &mut series {
            let d = probe::dns::sample(spec).await;
            points.points.push((started.elapsed().as_secs_f64(), d));
        }
    }
    series.into_iter().map(|(s, _)| s).collect()
}
