//! The check pass: every check once against each of its targets.
//!
//! Probes run concurrently, at most [`CHECK_CONCURRENCY`] at a time. A DNS
//! check samples the zone once, whatever its targets. An HTTP check with
//! body or header parity asks the baseline target again as many times as
//! its rule says ([`crate::analyze::parity::Parity::noise_repeats`]: never
//! for POST, PUT, PATCH or DELETE unless `noise_unsafe`); those answers are
//! recorded beside the samples for the analyzer to learn noise from. An interrupt stops the
//! pass: completed samples are kept, the rest stay `None` (reported as
//! skipped). Nothing here judges a sample.

use std::future::Future;
use std::sync::Arc;

use tokio::task::JoinSet;

use super::recorded::CheckPass;
use crate::probe::{self, ProbeResult, Sample};
use crate::scenario::plan::{Plan, ProbeSpec};
use crate::target::Connector;

/// How many probes of the check pass run at once.
pub const CHECK_CONCURRENCY: usize = 8;

/// Resolves every target and builds its clients.
pub async fn connectors(plan: &Plan) -> Vec<Connector> {
    let mut extra_hosts: Vec<String> = plan
        .checks
        .iter()
        .filter_map(|c| c.probe.host().map(str::to_owned))
        .collect();
    extra_hosts.sort();
    extra_hosts.dedup();
    let mut out = Vec::new();
    for t in &plan.targets {
        out.push(Arc::clone(t).connector(&extra_hosts, plan.timeout).await);
    }
    out
}

/// Runs one probe of `check` through `conn`.
pub async fn run_probe(spec: &ProbeSpec, conn: &Connector) -> ProbeResult {
    match spec {
        ProbeSpec::Http(h) => ProbeResult::Http(probe::http::probe(conn, h).await),
        ProbeSpec::WebSocket(w) => ProbeResult::WebSocket(probe::websocket::probe(conn, w).await),
        ProbeSpec::Cors(c) => ProbeResult::Cors(Box::new(probe::cors::probe(conn, c).await)),
        ProbeSpec::Dns(d) => ProbeResult::Dns(probe::dns::sample(d).await),
        ProbeSpec::Behaviour(b) => ProbeResult::Behaviour(probe::behaviour::probe(conn, b).await),
        ProbeSpec::Grpc(g) => ProbeResult::Grpc(probe::grpc::probe(conn, g).await),
    }
}

/// Runs every check once per target, until done or until `interrupt` resolves.
pub async fn check_pass(
    plan: &Plan,
    connectors: &[Connector],
    interrupt: impl Future<Output = ()>,
) -> CheckPass {
    let mut samples: Vec<Vec<Option<ProbeResult>>> = plan
        .checks
        .iter()
        .map(|_| vec![None; plan.targets.len()])
        .collect();
    let mut noise: Vec<Vec<Sample>> = plan.checks.iter().map(|_| Vec::new()).collect();
    let sem = Arc::new(tokio::sync::Semaphore::new(CHECK_CONCURRENCY));
    let mut set = JoinSet::new();
    for (ci, check) in plan.checks.iter().enumerate() {
        // A DNS check samples the zone once, whatever the targets.
        let once = matches!(check.probe, ProbeSpec::Dns(_));
        for &ti in check.targets.iter().take(if once { 1 } else { usize::MAX }) {
            let spec = check.probe.clone();
            let conn = connectors[ti].clone();
            let sem = Arc::clone(&sem);
            set.spawn(async move {
                let _permit = sem.acquire_owned().await;
                (ci, ti, false, run_probe(&spec, &conn).await)
            });
        }
        let ProbeSpec::Http(http) = &check.probe else {
            continue;
        };
        if !check.targets.contains(&plan.baseline) {
            continue;
        }
        let base = plan.baseline;
        for _ in 0..check.parity.noise_repeats(http.method.as_str()) {
            let spec = check.probe.clone();
            let conn = connectors[plan.baseline].clone();
            let sem = Arc::clone(&sem);
            set.spawn(async move {
                let _permit = sem.acquire_owned().await;
                (ci, base, true, run_probe(&spec, &conn).await)
            });
        }
    }
    tokio::pin!(interrupt);
    let mut interrupted = false;
    loop {
        tokio::select! {
            next = set.join_next() => match next {
                Some(Ok((ci, _, true, s))) => noise[ci].push(s.primary().clone()),
                Some(Ok((ci, ti, false, s))) => samples[ci][ti] = Some(s),
                // A probe task that panicked is a bug; its result stays `skipped`.
                Some(Err(_)) => {}
                None => break,
            },
            () = &mut interrupt => {
                interrupted = true;
                set.abort_all();
                break;
            }
        }
    }
    let target_addrs = connectors
        .iter()
        .map(|c| {
            c.addrs()
                .map(|a| a.iter().map(|s| s.ip()).collect())
                .unwrap_or_default()
        })
        .collect();
    CheckPass {
        samples,
        noise,
        interrupted,
        target_addrs,
    }
}
