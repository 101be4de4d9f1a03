//! `cutover watch`: during-shift monitoring for hours.
//!
//! The orchestration, like [`crate::run`] for `run`, with the analyzers
//! applied as it goes (a watch must alert while it runs):
//! - [`traffic`] sends a low steady rate per target over its HTTP and gRPC checks;
//!   every answer lands in the open second of a [`Ring`] (the rolling
//!   windows) and, once the second closes, in the per-minute [`Minutes`];
//! - each second the window rules ([`alerts::window_conditions`]) are judged
//!   on the windows of every target, with the marks as events;
//! - every `watch.every` the whole check pass runs again in the background
//!   (behaviour checks, which send bursts and uploads, only in the first
//!   pass: later passes keep its results) and is judged by the same
//!   analyzers as `check`
//!   ([`crate::analyze::judge`]); its failures are the check rules'
//!   conditions ([`alerts::check_conditions`]), DNS with the weights the
//!   latest `cutover mark --weights` set;
//! - every `watch.checkpoint` the report is built from what is kept
//!   ([`report`]) and handed to the [`Sink`], which writes it; at the end,
//!   once more.
//!
//! Invariants: memory is bounded for any length (the ring, the aggregates,
//! the alert history and the events list all have caps); at most one check
//! pass runs at a time; nothing here prints or writes files: the [`Sink`]
//! does.

pub mod metrics;
pub mod report;
pub mod traffic;
pub mod webhook;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};

use crate::analyze::alerts::{self, AlertChange, Alerts, Rule, TargetWindows, WindowRules};
use crate::record::window::{Minutes, Open, Ring, Window};
use crate::run::marks::MarksTail;
use crate::run::CheckPass;
use crate::scenario::plan::{Plan, ProbeSpec};

use self::traffic::{unix_now, Traffic};

/// Events and marks kept for the report.
pub const EVENTS_KEPT: usize = 500;

/// What the command line chose.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// Stop after this long (`--for`); until a signal otherwise.
    pub duration: Option<Duration>,
    /// The marks file `cutover mark` appends to.
    pub marks: std::path::PathBuf,
    /// How often the status lines are given to the sink.
    pub status_every: Duration,
}

/// Where a watch's output goes: the terminal, files, webhook, metrics.
pub trait Sink {
    /// One answered watch request (metrics count it).
    fn request(&mut self, _target: &str, _check: &str, _done: &traffic::Done) {}
    /// An alert was raised or cleared.
    fn alert(&mut self, _change: &AlertChange) {}
    /// An event or mark arrived.
    fn event(&mut self, _at: u64, _name: &str, _weights: Option<&BTreeMap<String, f64>>) {}
    /// One status line per target.
    fn status(&mut self, _lines: &[String]) {}
    /// A check pass was judged: `(target, check, passing)` for each result.
    fn checks(&mut self, _states: &[(String, String, bool)]) {}
    /// The latest DNS split (the first DNS check's), against the expected weights.
    fn dns(&mut self, _shares: &[crate::analyze::dns::Share]) {}
    /// The report as it stands (at each checkpoint and at the end).
    fn checkpoint(&mut self, _report: &crate::report::Report, _last: bool) {}
}

/// What the watch kept, for the final report and the exit code.
pub struct WatchOutcome {
    pub report: crate::report::Report,
    /// Alerts still raised at the end.
    pub active: usize,
}

/// One target's windows: `(target, shortest, longest, [(check, longest)])`.
type Judged = (usize, Window, Window, Vec<(usize, Window)>);

/// Everything the watch keeps between seconds.
struct State {
    plan: Arc<Plan>,
    /// The plan with the expected DNS weights as marks set them.
    judged: Plan,
    keys: usize,
    ring: Ring,
    minutes: Minutes,
    open: Open,
    alerts: Alerts,
    events: VecDeque<report::Event>,
    last_pass: Option<CheckPass>,
    passes: u64,
    dropped: u64,
    started: SystemTime,
    /// Per target: whether its WebSocket checks pass (latest pass; absent
    /// without WebSocket checks).
    websocket: BTreeMap<usize, bool>,
    /// The latest DNS split of the first DNS check.
    dns: Vec<crate::analyze::dns::Share>,
    /// Latency conditions in a row, per alert (judged once per shortest window).
    latency_streak: BTreeMap<alerts::AlertKey, u32>,
    /// Per behaviour check: the first pass's results, kept for every later one.
    behaviour: BTreeMap<usize, Vec<Option<crate::probe::ProbeResult>>>,
}

/// Runs the watch until `stop`, `--for` or the end of time.
pub async fn watch(
    plan: Plan,
    options: &WatchOptions,
    stop: &Arc<watch::Sender<bool>>,
    sink: &mut dyn Sink,
) -> WatchOutcome {
    let started = SystemTime::now();
    let plan = Arc::new(plan);
    let connectors = Arc::new(crate::run::checks::connectors(&plan).await);
    let keys = plan.targets.len() * plan.checks.len();
    let wp = &plan.watch;
    let mut st = State {
        judged: (*plan).clone(),
        plan: Arc::clone(&plan),
        keys,
        ring: Ring::new(keys, wp.longest()),
        minutes: Minutes::new(keys),
        open: Open::new(unix_now(), keys),
        alerts: Alerts::default(),
        events: VecDeque::new(),
        last_pass: None,
        passes: 0,
        dropped: 0,
        started,
        websocket: BTreeMap::new(),
        dns: Vec::new(),
        behaviour: BTreeMap::new(),
        latency_streak: BTreeMap::new(),
    };
    let repeat = Arc::new({
        let mut p = (*plan).clone();
        for c in &mut p.checks {
            if matches!(c.probe, ProbeSpec::Behaviour(_)) {
                c.targets.clear();
            }
        }
        p
    });
    let (tx, mut rx) = mpsc::channel::<Traffic>(1024);
    let (traffic_stop, traffic_rx) = watch::channel(false);
    let tickers = traffic::start(&plan, &connectors, wp.rate, tx, &traffic_rx);
    let mut stop_rx = stop.subscribe();
    let mut tail = MarksTail::new(options.marks.clone(), started);
    let mut second = tokio::time::interval(Duration::from_secs(1));
    let mut passes = tokio::time::interval(wp.every);
    let mut checkpoint = tokio::time::interval(wp.checkpoint);
    checkpoint.tick().await; // the first tick is immediate: skip it
    second.tick().await;
    let mut status_due = unix_now() + options.status_every.as_secs().max(1);
    let mut pass_task: Option<tokio::task::JoinHandle<CheckPass>> = None;
    let deadline = options.duration.map(|d| tokio::time::Instant::now() + d);
    let until = async move {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until);
    loop {
        tokio::select! {
            _ = stop_rx.wait_for(|s| *s) => break,
            () = &mut until => break,
            Some(msg) = rx.recv() => st.traffic(msg, sink),
            _ = second.tick() => {
                st.close_second(sink);
                for e in tail.poll() {
                    st.mark(&e, sink);
                }
                let now = unix_now();
                if now >= status_due {
                    status_due = now + options.status_every.as_secs().max(1);
                    sink.status(&st.status_lines());
                }
            }
            _ = passes.tick(), if pass_task.is_none() => {
                // Behaviour checks probe configuration with bursts and
                // uploads: the first pass runs them, later ones keep those results.
                let plan = if st.passes == 0 { Arc::clone(&plan) } else { Arc::clone(&repeat) };
                let conns = Arc::clone(&connectors);
                let mut stop_pass = stop.subscribe();
                pass_task = Some(tokio::spawn(async move {
                    crate::run::checks::check_pass(&plan, &conns, async move {
                        let _ = stop_pass.wait_for(|s| *s).await;
                    })
                    .await
                }));
            }
            done = async { match pass_task.as_mut() { Some(h) => h.await, None => std::future::pending().await } } => {
                pass_task = None;
                if let Ok(pass) = done {
                    if !pass.interrupted {
                        st.judge_pass(pass, sink);
                    }
                }
            }
            _ = checkpoint.tick() => {
                let report = st.report(false);
                sink.checkpoint(&report, false);
            }
        }
    }
    let _ = traffic_stop.send(true);
    for t in tickers {
        let _ = t.await;
    }
    if let Some(h) = pass_task {
        h.abort();
    }
    st.close_second(sink);
    st.minutes.close_minute();
    let report = st.report(true);
    sink.checkpoint(&report, true);
    WatchOutcome {
        active: st.alerts.active().count(),
        report,
    }
}

impl State {
    fn traffic(&mut self, msg: Traffic, sink: &mut dyn Sink) {
        match msg {
            Traffic::Done(d) => {
                let n = self.plan.checks.len();
                let (ti, ci) = (d.key / n, d.key % n);
                sink.request(&self.plan.targets[ti].name, &self.plan.checks[ci].name, &d);
                self.open
                    .record(d.key, &d.sample, d.sample.latency, d.failed);
            }
            Traffic::Dropped { .. } => self.dropped += 1,
        }
    }

    /// Closes the open second and judges the windows.
    fn close_second(&mut self, sink: &mut dyn Sink) {
        let now = unix_now();
        if now <= self.open.unix {
            return;
        }
        let closed = std::mem::replace(&mut self.open, Open::new(now, self.keys)).close();
        self.minutes.add(&closed);
        self.ring.push(closed);
        let changes = self.judge_windows(now);
        for c in &changes {
            sink.alert(c);
        }
    }

    fn windows_of(&self, ti: usize, len: Duration) -> Window {
        let n = self.plan.checks.len();
        let mut w = self.ring.window(ti * n, len);
        for ci in 1..n {
            w.merge(&self.ring.window(ti * n + ci, len));
        }
        w
    }

    fn judge_windows(&mut self, now: u64) -> Vec<AlertChange> {
        let wp = &self.plan.watch;
        let n = self.plan.checks.len();
        let loaded: Vec<usize> = (0..self.plan.targets.len())
            .filter(|&ti| !traffic::http_checks(&self.plan, ti).is_empty())
            .collect();
        let per_target: Vec<Judged> = loaded
            .iter()
            .map(|&ti| {
                let checks = traffic::http_checks(&self.plan, ti)
                    .into_iter()
                    .map(|ci| (ci, self.ring.window(ti * n + ci, wp.longest())))
                    .collect();
                (
                    ti,
                    self.windows_of(ti, wp.shortest()),
                    self.windows_of(ti, wp.longest()),
                    checks,
                )
            })
            .collect();
        let views: Vec<TargetWindows> = per_target
            .iter()
            .map(|(ti, short, long, checks)| TargetWindows {
                target: &self.plan.targets[*ti].name,
                short,
                long,
                checks: checks
                    .iter()
                    .map(|(ci, w)| (self.plan.checks[*ci].name.as_str(), w))
                    .collect(),
            })
            .collect();
        let baseline = per_target
            .iter()
            .position(|(ti, ..)| *ti == self.plan.baseline)
            .map(|i| &views[i]);
        let events: Vec<(u64, String)> =
            self.events.iter().map(|e| (e.at, e.name.clone())).collect();
        let rules = WindowRules {
            spike: &self.plan.analysis.spike,
            latency: &self.plan.analysis.latency,
            error_ratio: wp.error_ratio,
            min_requests: wp.min_requests,
            short: wp.shortest(),
            long: wp.longest(),
        };
        let conditions = alerts::window_conditions(&views, baseline, &events, &rules);
        let (latency, others): (Vec<_>, Vec<_>) = conditions
            .into_iter()
            .partition(|c| c.key.rule == Rule::LatencyRegression);
        let mut changes = self
            .alerts
            .update(now, &[Rule::Spike503, Rule::FailureRate], others);
        // Latency is judged once per shortest window and raised when two
        // judgements in a row agree.
        let every = wp.shortest().as_secs().max(1);
        if now.is_multiple_of(every) {
            let mut streak = BTreeMap::new();
            let mut confirmed = Vec::new();
            for c in latency {
                let n = self.latency_streak.get(&c.key).copied().unwrap_or(0) + 1;
                streak.insert(c.key.clone(), n);
                if n >= 2 {
                    confirmed.push(c);
                }
            }
            self.latency_streak = streak;
            changes.extend(
                self.alerts
                    .update(now, &[Rule::LatencyRegression], confirmed),
            );
        }
        changes
    }

    /// A mark: an event for spike attribution, and maybe new weights.
    fn mark(&mut self, e: &crate::run::EventRecord, sink: &mut dyn Sink) {
        let started = self
            .started
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let at = (started + e.at_s).max(0.0) as u64;
        if let Some(w) = &e.weights {
            let weights: Vec<(usize, f64)> = w
                .iter()
                .filter_map(|(name, v)| {
                    self.plan
                        .targets
                        .iter()
                        .position(|t| &t.name == name)
                        .map(|ti| (ti, *v))
                })
                .collect();
            for c in &mut self.judged.checks {
                if matches!(c.probe, ProbeSpec::Dns(_)) {
                    c.dns_expect.weights = weights.clone();
                }
            }
        }
        sink.event(at, &e.name, e.weights.as_ref());
        self.events.push_back(report::Event {
            at,
            name: e.name.clone(),
            weights: e.weights.clone(),
        });
        while self.events.len() > EVENTS_KEPT {
            self.events.pop_front();
        }
    }

    fn judge_pass(&mut self, mut pass: CheckPass, sink: &mut dyn Sink) {
        for (ci, c) in self.plan.checks.iter().enumerate() {
            if !matches!(c.probe, ProbeSpec::Behaviour(_)) {
                continue;
            }
            match self.behaviour.get(&ci) {
                Some(first) => pass.samples[ci] = first.clone(),
                None => {
                    self.behaviour.insert(ci, pass.samples[ci].clone());
                }
            }
        }
        self.passes += 1;
        let judged = crate::analyze::checks::judge(&self.judged, &pass);
        let plan = &self.judged;
        let mut states: Vec<(String, String, bool)> = Vec::new();
        for c in &plan.checks {
            for &ti in &c.targets {
                let target = &plan.targets[ti].name;
                let failing = judged.findings.iter().any(|f| {
                    f.fails()
                        && f.check.as_deref() == Some(c.name.as_str())
                        && f.target.as_deref().is_none_or(|t| t == target)
                });
                states.push((target.clone(), c.name.clone(), !failing));
            }
        }
        sink.checks(&states);
        self.websocket.clear();
        for (ci, c) in plan.checks.iter().enumerate() {
            if !matches!(c.probe, ProbeSpec::WebSocket(_)) {
                continue;
            }
            for &ti in &c.targets {
                let ok = states.iter().any(|(t, ch, ok)| {
                    *ok && *t == plan.targets[ti].name && *ch == plan.checks[ci].name
                });
                let entry = self.websocket.entry(ti).or_insert(true);
                *entry &= ok;
            }
        }
        if let Some(split) = judged.splits.iter().flatten().next() {
            self.dns = split.shares.clone();
            sink.dns(&self.dns);
        }
        let conditions = alerts::check_conditions(&judged.findings);
        for c in self.alerts.update(unix_now(), &Rule::CHECKS, conditions) {
            sink.alert(&c);
        }
        self.last_pass = Some(pass);
    }

    fn status_lines(&self) -> Vec<String> {
        let wp = &self.plan.watch;
        (0..self.plan.targets.len())
            .filter(|&ti| !traffic::http_checks(&self.plan, ti).is_empty())
            .map(|ti| {
                let windows: Vec<(Duration, Window)> = wp
                    .windows
                    .iter()
                    .map(|&d| (d, self.windows_of(ti, d)))
                    .collect();
                let name = &self.plan.targets[ti].name;
                let mut line = report::status_line(name, &windows, self.alerts.active());
                if let Some(ok) = self.websocket.get(&ti) {
                    line.push_str(if *ok {
                        " · websocket ok"
                    } else {
                        " · websocket failing"
                    });
                }
                if let Some(share) = self.dns.iter().find(|s| &s.target == name) {
                    line.push_str(&format!(" · dns {:.0} %", 100.0 * share.observed));
                    if let Some(e) = share.expected {
                        line.push_str(&format!(" (expected {:.0} %)", 100.0 * e));
                    }
                }
                line
            })
            .collect()
    }

    fn report(&mut self, last: bool) -> crate::report::Report {
        let pass = self.last_pass.take();
        let (report, pass) = report::build(
            &self.judged,
            pass,
            &report::Kept {
                started: self.started,
                minutes: &self.minutes,
                alerts: &self.alerts,
                events: &self.events,
                passes: self.passes,
                dropped: self.dropped,
                last,
            },
        );
        self.last_pass = pass;
        report
    }
}
