//! The run: the only orchestration with I/O, and it judges nothing.
//!
//! [`execute`] resolves the targets, runs the check pass
//! ([`checks::check_pass`]) and, for `run`, the load phase: the engine
//! against every loaded target, the scenario's events ([`events`]), the
//! marks file ([`marks`]) and the DNS re-sampling ([`dns`]), all on one
//! timeline that starts with the load. What it observed comes back as a
//! [`Recorded`] for the analyzers and the report.
//!
//! The caller watches each closed second through an [`Observer`] (progress,
//! and the abort rail, which lives in `analyze::abort`): when the observer
//! returns an [`AbortTrip`], the run stops the load and records the trip. A
//! stop signal (Ctrl-C, SIGTERM) flips the shared `stop` channel; every phase
//! watches it and what completed is kept.

pub mod checks;
pub mod dns;
pub mod events;
pub mod marks;
pub mod recorded;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::watch;

pub use recorded::{AbortTrip, CheckPass, EventRecord, LoadRecord, Mode, Recorded};

use crate::load::engine::{self, Options};
use crate::load::schedule::Shape;
use crate::record::{Aggregator, Finished};
use crate::scenario::plan::Plan;

/// What the command line chose for this run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub mode: Mode,
    pub engine: Options,
    /// The file `cutover mark` appends to; watched during the load.
    pub marks: PathBuf,
}

/// Watches the load as it goes; the command line's progress and abort rail.
pub trait Observer {
    /// The load is about to start with this shape.
    fn load_starting(&mut self, _shape: &Shape, _plan: &Plan, _options: &RunOptions) {}
    /// A second closed for every worker; returning a trip stops the load.
    fn second(&mut self, _done: &Finished, _totals: &Aggregator) -> Option<AbortTrip> {
        None
    }
    /// The load is over (before the report is built).
    fn load_finished(&mut self) {}
}

/// An observer that watches nothing.
pub struct Unobserved;

impl Observer for Unobserved {}

/// Runs the check pass and, for [`Mode::Run`] with a load plan, the load.
pub async fn execute(
    plan: &Plan,
    options: &RunOptions,
    stop: &Arc<watch::Sender<bool>>,
    observer: &mut dyn Observer,
) -> Recorded {
    let started = SystemTime::now();
    let connectors = checks::connectors(plan).await;
    let mut stop_rx = stop.subscribe();
    let pass = checks::check_pass(plan, &connectors, async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    })
    .await;
    let mut interrupted = pass.interrupted;
    let load = match (&plan.load, options.mode, pass.interrupted) {
        (Some(load), Mode::Run, false) => {
            let record = load_phase(plan, load, &connectors, options, stop, observer).await;
            // A stop without an abort trip is an interrupt.
            interrupted |= record.outcome.interrupted && record.abort.is_none();
            Some(record)
        }
        _ => None,
    };
    Recorded {
        mode: options.mode,
        started,
        ended: SystemTime::now(),
        pass,
        load,
        interrupted,
    }
}

async fn load_phase(
    plan: &Plan,
    load: &crate::scenario::plan::LoadPlan,
    connectors: &[crate::target::Connector],
    options: &RunOptions,
    stop: &Arc<watch::Sender<bool>>,
    observer: &mut dyn Observer,
) -> LoadRecord {
    let engine_options = &options.engine;
    let shape = Shape::new(
        &load.stages,
        engine_options.rate_scale,
        engine_options.duration,
    );
    observer.load_starting(&shape, plan, options);
    // Everything beside the engine stops with it.
    let (side_stop, side_stop_rx) = watch::channel(false);
    let load_started = tokio::time::Instant::now();
    let dns_task = {
        let plan = plan.clone();
        let stop = side_stop_rx.clone();
        tokio::spawn(async move { dns::resample(&plan, load_started, stop).await })
    };
    // A sharded run's events (a deploy, a weight change) happen once: shard
    // 0 runs them; every shard reads the marks.
    let runs_events = engine_options.shard.index == 0;
    let events_task = {
        let plan = plan.clone();
        let end = side_stop_rx.clone();
        let stop = stop.subscribe();
        let natural = Shape::new(&load.stages, 1.0, None).total();
        let stretch = match engine_options.duration {
            Some(d) if !natural.is_zero() => d.as_secs_f64() / natural.as_secs_f64(),
            _ => 1.0,
        };
        tokio::spawn(async move {
            if !runs_events {
                return Vec::new();
            }
            events::run_events(&plan, load_started, stretch, end, stop).await
        })
    };
    let marks_task = tokio::spawn(marks::watch(
        options.marks.clone(),
        SystemTime::now(),
        side_stop_rx,
    ));
    let mut abort: Option<AbortTrip> = None;
    let outcome = engine::run(
        plan,
        load,
        connectors,
        engine_options,
        stop.subscribe(),
        |done, totals| {
            if abort.is_some() {
                return;
            }
            if let Some(trip) = observer.second(done, totals) {
                abort = Some(trip);
                let _ = stop.send(true);
            }
        },
    )
    .await;
    observer.load_finished();
    let _ = side_stop.send(true);
    let dns = dns_task.await.unwrap_or_default();
    let mut events = events_task.await.unwrap_or_default();
    events.extend(marks_task.await.unwrap_or_default());
    events.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    LoadRecord {
        outcome,
        workers: engine_options.workers.max(1),
        events,
        dns,
        abort,
        host: hostname(),
    }
}

/// This machine's name (a pod's name in Kubernetes), or `unknown`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}
