//! The watch's steady traffic: a low, fixed request rate per target, spread
//! over the target's HTTP and gRPC checks in turn (a call fails when it
//! does not end with its expected code).
//!
//! Each target has its own ticker at `rate`/s; each tick sends the next HTTP
//! check's request through the target's connector (the same probe as
//! `check`), without waiting for earlier ones, at most [`MAX_IN_FLIGHT`] at
//! a time (a tick with none free is counted as dropped). Every answer is
//! judged against its check's expectation as the load engine judges it, and
//! handed on; it counts in the second it completes (latency still runs from
//! the send). Invariant: never more than `rate` requests per second per
//! target, and nothing after `stop`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch, Semaphore};

use crate::analyze::expect::{fails, Judge};
use crate::probe::{self, Sample};
use crate::scenario::plan::{Plan, ProbeSpec};
use crate::target::Connector;

/// Requests one target may have in flight.
pub const MAX_IN_FLIGHT: usize = 32;

/// One answered (or failed) watch request.
pub struct Done {
    /// `target × checks + check`.
    pub key: usize,
    pub sample: Sample,
    pub failed: bool,
}

/// What the traffic sends to: answers, and ticks it could not send.
pub enum Traffic {
    Done(Box<Done>),
    Dropped { key: usize },
}

/// The HTTP and gRPC checks of target `ti`, in scenario order.
pub fn http_checks(plan: &Plan, ti: usize) -> Vec<usize> {
    plan.checks
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            matches!(c.probe, ProbeSpec::Http(_) | ProbeSpec::Grpc(_)) && c.targets.contains(&ti)
        })
        .map(|(ci, _)| ci)
        .collect()
}

/// Starts one ticker per target with HTTP or gRPC checks; they end when `stop` does.
pub fn start(
    plan: &Arc<Plan>,
    connectors: &[Connector],
    rate: f64,
    out: mpsc::Sender<Traffic>,
    stop: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for (ti, conn) in connectors.iter().enumerate() {
        let checks = http_checks(plan, ti);
        if checks.is_empty() {
            continue;
        }
        let (plan, conn, out, mut stop) =
            (Arc::clone(plan), conn.clone(), out.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let n = plan.checks.len();
            let mut next = 0usize;
            loop {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => break,
                    _ = tick.tick() => {}
                }
                let ci = checks[next % checks.len()];
                next = next.wrapping_add(1);
                let key = ti * n + ci;
                let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                    if out.send(Traffic::Dropped { key }).await.is_err() {
                        break;
                    }
                    continue;
                };
                let (plan, conn, out) = (Arc::clone(&plan), conn.clone(), out.clone());
                tokio::spawn(async move {
                    let check = &plan.checks[ci];
                    let (sample, failed) = match &check.probe {
                        ProbeSpec::Http(spec) => {
                            let sample = probe::http::probe(&conn, spec).await;
                            let failed = fails(&check.expect, &sample, Judge::Full);
                            (sample, failed)
                        }
                        // A call fails when it does not end with its expected code.
                        ProbeSpec::Grpc(spec) => {
                            let r = probe::grpc::probe(&conn, spec).await;
                            let failed = r.sample.error.is_some()
                                || r.status
                                    .as_ref()
                                    .is_none_or(|s| s.code != check.grpc_expect.code);
                            (r.sample, failed)
                        }
                        _ => return,
                    };
                    drop(permit);
                    let _ = out
                        .send(Traffic::Done(Box::new(Done {
                            key,
                            sample,
                            failed,
                        })))
                        .await;
                });
            }
        }));
    }
    tasks
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
