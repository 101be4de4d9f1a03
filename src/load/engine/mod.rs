//! The load engine: one engine for every load shape.
//!
//! `workers` OS threads each run a current-thread tokio runtime with its own
//! connections and its own [`WorkerRecorder`], so the hot path takes no lock
//! and crosses no thread. Every loaded target gets, on every worker, a driver
//! that walks the [`Shape`]'s phases: in an open phase it dispatches this
//! worker's share of the arrivals (`i ≡ worker mod workers`) at their intended
//! times, in a closed phase it runs this worker's share of the clients. Both
//! send through the same request sender, which runs the same response reader
//! as `check` ([`crate::probe::http::finish`]) over hyper's HTTP/1 connection
//! API, or its HTTP/2 one under `load.http_version: h2 | h2c`.
//!
//! Latency is measured from the intended time (coordinated-omission
//! corrected); service time from the actual send. When a target's
//! `max_in_flight` is reached, an arrival is counted as dropped in its
//! second, never sent late and never backfilled. On stop (a signal, the
//! abort rail), no new request starts; in-flight ones get `grace` (1 s) to
//! finish, then are counted as `cancelled`, so the report holds every request
//! the targets saw. Each closed second also carries what is still in flight,
//! by the second it started, so the abort rail sees a target that stopped
//! answering before any timeout fires.
//!
//! Where each part lives, in the order a request meets them:
//!
//! - this file: [`Options`], [`Outcome`] and [`run`], which starts one thread
//!   per worker and merges their recorders' flushes until the last one ends.
//! - `worker_plan.rs`: the `WorkerPlan`, the plan cut down to one worker's
//!   share (read-only once the threads start), with each HTTP request prebuilt.
//! - `worker.rs`: what a worker thread runs: its ticker, and one driver per
//!   target walking the phases (open arrivals and drops, closed clients,
//!   socket stages, the grace after a stop); the engine's paused-time tests.
//! - `mix.rs`: picking each request's check by the mix's weights.
//! - `sender.rs`: the `RequestSender` seam through which a driver sends one
//!   request, and `NetworkSender`, the real one (tests use a synthetic one).
//! - `http1.rs`: the per-target HTTP/1 connection pool and the request hot
//!   path.
//! - `h2.rs`: the same for HTTP/2: a per-target pool of multiplexed
//!   connections (`connections × max_streams` streams), GOAWAY handled.
//! - `dial.rs`: opening a connection (TCP, then TLS) for either pool.
//! - `sockets.rs`: one held WebSocket of a socket stage.
//! - `parity.rs`: sampled parity under load (`load.parity`): a share of
//!   the answers kept whole and compared by pointer with two baseline
//!   answers, into raw and noise counts ([`ParityTally`]).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

pub use super::pacing::Pacing;
use super::schedule::Shape;
use crate::record::{Aggregator, Finished, Flush, WorkerRecorder};
use crate::scenario::plan::{LoadPlan, Plan};
use crate::target::Connector;

mod dial;
mod h2;
mod http1;
mod mix;
mod parity;
mod sender;
mod sockets;
mod worker;
mod worker_plan;

pub use parity::ParityTally;
use sender::NetworkSender;
use worker::worker_main;
use worker_plan::WorkerPlan;

/// A worker's recorder, shared by that worker's tasks (one thread: no lock).
type Recorder = Rc<RefCell<WorkerRecorder>>;

/// Run-time options from the command line.
#[derive(Clone, Debug)]
pub struct Options {
    pub rate_scale: f64,
    pub duration: Option<Duration>,
    pub workers: usize,
    pub pacing: Pacing,
    /// How long in-flight requests may finish after a stop (then they are
    /// counted as cancelled).
    pub grace: Duration,
    /// This process's share of a sharded run (`--shard i/n`).
    pub shard: Shard,
}

/// One of `count` processes that split a run's load between them: shard
/// `index` takes arrival, closed client and socket `k` of the whole
/// schedule when `k ≡ index (mod count)`, so the shards' shares add up to
/// the whole exactly, remainders included, and each keeps the schedule's
/// intended times.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl Shard {
    /// `i/n` with `i < n`, 0-based (Kubernetes' `JOB_COMPLETION_INDEX`).
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || {
            format!("`{s}` is not a shard: write INDEX/COUNT with 0 <= INDEX < COUNT, like 0/4 (the Job's completion index and its parallelism)")
        };
        let (i, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse::<u64>().map_err(|_| bad())?,
            n.trim().parse::<u64>().map_err(|_| bad())?,
        );
        if count == 0 || index >= count || count > 10_000 {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether this is one shard of several.
    pub fn is_sharded(self) -> bool {
        self.count > 1
    }

    /// This shard's part of `total` items numbered from 0.
    pub fn share(self, total: u64) -> u64 {
        total / self.count + u64::from(self.index < total % self.count)
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            rate_scale: 1.0,
            duration: None,
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            pacing: Pacing::Precise,
            grace: Duration::from_secs(1),
            shard: Shard::default(),
        }
    }
}

/// What a load run recorded.
pub struct Outcome {
    pub shape: Shape,
    pub started: SystemTime,
    pub elapsed: Duration,
    pub interrupted: bool,
    /// Loaded targets (indices into `Plan::targets`).
    pub targets: Vec<usize>,
    /// `key = target * checks + check`.
    pub checks: usize,
    pub aggregator: Aggregator,
    /// Sampled parity (`load.parity`), by key like the aggregator's; empty
    /// without `load.parity`.
    pub parity: Vec<ParityTally>,
    /// This process's share of a sharded run.
    pub shard: Shard,
    /// `--rate-scale` and `--duration` as the shape was made with them (a
    /// merge of shard reports rebuilds the same shape from them).
    pub rate_scale: f64,
    pub fit: Option<Duration>,
}

impl Outcome {
    pub fn key(&self, target: usize, check: usize) -> usize {
        target * self.checks + check
    }
}

/// Drives the plan's load against its targets until done or until `stop` turns true.
/// `on_second` sees every finished second (for progress).
pub async fn run(
    plan: &Plan,
    load: &LoadPlan,
    connectors: &[Connector],
    options: &Options,
    mut stop: watch::Receiver<bool>,
    mut on_second: impl FnMut(&Finished, &Aggregator),
) -> Outcome {
    let workers = options.workers.max(1);
    let shape = Shape::new(&load.stages, options.rate_scale, options.duration);
    let checks = plan.checks.len();
    let keys = plan.targets.len() * checks;
    let plans: Vec<Arc<WorkerPlan>> = (0..workers)
        .map(|w| {
            Arc::new(WorkerPlan::new(
                plan, load, connectors, &shape, options, workers, w,
            ))
        })
        .collect();
    let tallies: parity::Tallies = Arc::new(std::sync::Mutex::new(if load.parity.is_some() {
        vec![ParityTally::default(); keys]
    } else {
        Vec::new()
    }));
    let samplers: Vec<Option<parity::Sampler>> = plans
        .iter()
        .enumerate()
        .map(|(w, wp)| parity::Sampler::new(plan, load, wp, &tallies, w))
        .collect();
    let (tx, mut rx) = mpsc::unbounded_channel::<Flush>();
    let started = SystemTime::now();
    // Workers start their clocks together, a little ahead, so none starts late.
    let start = Instant::now() + Duration::from_millis(20);
    let mut handles = Vec::new();
    for ((w, wp), sampler) in plans.into_iter().enumerate().zip(samplers) {
        let tx = tx.clone();
        let stop = stop.clone();
        let std_start = start.into_std();
        handles.push(
            std::thread::Builder::new()
                .name(format!("cutover-load-{w}"))
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    let Ok(rt) = rt else { return };
                    let local = tokio::task::LocalSet::new();
                    let start = Instant::from_std(std_start);
                    local.block_on(&rt, async move {
                        let sender = NetworkSender::new(Arc::clone(&wp), sampler).await;
                        let sender = Rc::new(sender);
                        worker_main(w, wp, keys, start, tx, stop, sender).await
                    });
                }),
        );
    }
    drop(tx);
    let mut aggregator = Aggregator::new(workers, keys);
    // Workers watch `stop` themselves; the channel closes when the last one is done.
    while let Some(flush) = rx.recv().await {
        for done in aggregator.add(flush) {
            on_second(&done, &aggregator);
        }
    }
    for done in aggregator.drain() {
        on_second(&done, &aggregator);
    }
    for h in handles.into_iter().flatten() {
        let _ = tokio::task::spawn_blocking(move || h.join()).await;
    }
    let interrupted = *stop.borrow_and_update();
    Outcome {
        shape,
        started,
        elapsed: start.elapsed(),
        interrupted,
        targets: load.targets.clone(),
        checks,
        aggregator,
        parity: tallies.lock().map(|t| t.clone()).unwrap_or_default(),
        shard: options.shard,
        rate_scale: options.rate_scale,
        fit: options.duration,
    }
}
