//! The watch's report and status lines, from what the watch keeps.
//!
//! The report is the same model `check` writes, built by the same path
//! (the latest check pass judged by [`crate::analyze::judge`], laid out by
//! [`crate::report::build`]), with the window alerts raised now added as
//! findings (a 503 spike and a failure rate fail, a latency regression
//! warns, as in `run`) and a `watch` section: settings, alerts raised now,
//! the bounded alert history, events and marks, and the per-minute (then
//! per-hour) traffic of each target. Invariant: pure.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime};

use crate::analyze::alerts::{AlertKey, Alerts, Rule};
use crate::analyze::finding::{Finding, FindingKind, Level};
use crate::record::window::{Minutes, Window};
use crate::report::model::{ActiveAlert, WatchEvent, WatchPoint, WatchReport};
use crate::report::Report;
use crate::run::{CheckPass, Mode, Recorded};
use crate::scenario::plan::Plan;

/// An event or mark on the watch's timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Unix seconds.
    pub at: u64,
    pub name: String,
    pub weights: Option<BTreeMap<String, f64>>,
}

/// What the watch hands over to be reported.
pub struct Kept<'a> {
    pub started: SystemTime,
    pub minutes: &'a Minutes,
    pub alerts: &'a Alerts,
    pub events: &'a VecDeque<Event>,
    pub passes: u64,
    /// Requests not sent: too many in flight.
    pub dropped: u64,
    /// The final report (else a checkpoint).
    pub last: bool,
}

/// The report; the pass is handed back for the next checkpoint.
pub fn build(plan: &Plan, pass: Option<CheckPass>, kept: &Kept) -> (Report, Option<CheckPass>) {
    let had_pass = pass.is_some();
    let pass = pass.unwrap_or_else(|| CheckPass {
        samples: plan
            .checks
            .iter()
            .map(|_| vec![None; plan.targets.len()])
            .collect(),
        noise: vec![Vec::new(); plan.checks.len()],
        target_addrs: vec![Vec::new(); plan.targets.len()],
        interrupted: true,
    });
    let recorded = Recorded {
        mode: Mode::Watch,
        started: kept.started,
        ended: SystemTime::now(),
        pass,
        load: None,
        interrupted: false,
    };
    let mut verdict = crate::analyze::judge(plan, &recorded, None);
    for (key, _, message) in kept.alerts.active() {
        if let Some(f) = window_finding(key, message) {
            verdict.findings.push(f);
        }
    }
    let mut report = crate::report::build::build(plan, &recorded, &verdict);
    report.watch = Some(section(plan, kept));
    let Recorded { pass, .. } = recorded;
    (report, had_pass.then_some(pass))
}

/// A window alert raised now, as a finding.
fn window_finding(key: &AlertKey, message: &str) -> Option<Finding> {
    let (kind, level) = match key.rule {
        Rule::Spike503 => (FindingKind::Spike503, Level::Fail),
        Rule::FailureRate => (FindingKind::LoadErrors, Level::Fail),
        Rule::LatencyRegression => (FindingKind::LatencyRegression, Level::Warn),
        // Check rules are the check pass's own findings already.
        Rule::CheckFailing | Rule::DnsDrift | Rule::DnsLeak => return None,
    };
    Some(Finding::new(
        kind,
        level,
        key.check.as_deref(),
        key.target.as_deref(),
        format!("watch: {message}"),
    ))
}

fn section(plan: &Plan, kept: &Kept) -> WatchReport {
    let wp = &plan.watch;
    let n = plan.checks.len();
    let mut timeline = Vec::new();
    for agg in kept.minutes.all() {
        for (ti, t) in plan.targets.iter().enumerate() {
            let mut requests = 0;
            let mut failed = 0;
            let mut s503 = 0;
            let mut hist = crate::hdr::histogram();
            for c in agg.keys.iter().skip(ti * n).take(n) {
                requests += c.requests;
                failed += c.failed;
                s503 += c.s503_origins.iter().map(|(_, k)| k).sum::<u64>();
                if let Some(h) = crate::hdr::decode(&c.latency_hist) {
                    let _ = hist.add(&h);
                }
            }
            if requests == 0 {
                continue;
            }
            timeline.push(WatchPoint {
                at: agg.unix,
                seconds: agg.seconds,
                target: t.name.clone(),
                requests,
                failed,
                s503,
                p50_ms: hist.value_at_quantile(0.5) as f64 / 1000.0,
                p99_ms: hist.value_at_quantile(0.99) as f64 / 1000.0,
            });
        }
    }
    WatchReport {
        rate: wp.rate,
        every_s: wp.every.as_secs(),
        windows_s: wp.windows.iter().map(Duration::as_secs).collect(),
        check_passes: kept.passes,
        dropped: kept.dropped,
        active: kept
            .alerts
            .active()
            .map(|(k, since, message)| ActiveAlert {
                rule: k.rule,
                target: k.target.clone(),
                check: k.check.clone(),
                since,
                message: message.to_owned(),
            })
            .collect(),
        alerts: kept.alerts.history().cloned().collect(),
        alerts_dropped: kept.alerts.history_dropped,
        raised: kept
            .alerts
            .raised
            .iter()
            .map(|(r, n)| (r.as_str().to_owned(), *n))
            .collect(),
        events: kept
            .events
            .iter()
            .map(|e| WatchEvent {
                at: e.at,
                name: e.name.clone(),
                weights: e.weights.clone(),
            })
            .collect(),
        timeline,
    }
}

/// `gateway  1m: 2.0 req/s p50 3.1 ms p99 9.8 ms failed 0.0 % 503 0 · 5m: … · alerts: spike_503`.
pub fn status_line<'a>(
    target: &str,
    windows: &[(Duration, Window)],
    active: impl Iterator<Item = (&'a AlertKey, u64, &'a str)>,
) -> String {
    let parts: Vec<String> = windows
        .iter()
        .map(|(d, w)| {
            let rate = if w.seconds == 0 {
                0.0
            } else {
                w.requests as f64 / w.seconds as f64
            };
            let q = |q: f64| w.latency.value_at_quantile(q) as f64 / 1000.0;
            let s503: Vec<String> = w
                .s503
                .iter()
                .map(|(o, k)| format!("{k} from {}", o.as_str()))
                .collect();
            format!(
                "{}: {rate:.1} req/s p50 {:.1} ms p99 {:.1} ms failed {:.1} %{}",
                humantime::format_duration(*d),
                q(0.5),
                q(0.99),
                100.0 * w.failed_ratio(),
                if s503.is_empty() {
                    String::new()
                } else {
                    format!(" 503: {}", s503.join(", "))
                }
            )
        })
        .collect();
    let alerts: Vec<&str> = active
        .filter(|(k, ..)| k.target.as_deref() == Some(target))
        .map(|(k, ..)| k.rule.as_str())
        .collect();
    format!(
        "{target}  {}{}",
        parts.join(" · "),
        if alerts.is_empty() {
            String::new()
        } else {
            format!(" · alerts: {}", alerts.join(", "))
        }
    )
}
