//! The `watch:` section: how `cutover watch` samples and alerts.
//!
//! Every field has a default, so any scenario can be watched: 2 requests/s
//! per target spread over its HTTP checks, the one-shot checks again every
//! minute, windows of 1 and 5 minutes, report files rewritten every minute,
//! `failure_rate` raised above 5 % failed over the longest window with at
//! least 20 requests. Invariants: the rate is positive and at most
//! [`MAX_WATCH_RATE`]/s (a watch is a probe of production, not load);
//! windows are distinct, sorted, between 5 s and 1 h; `every` and
//! `checkpoint` are at least 1 s.

use std::time::Duration;

use super::ctx::Ctx;
use crate::scenario::model::RawWatch;
use crate::scenario::yaml::At;

/// The most requests per second per target a watch sends.
pub const MAX_WATCH_RATE: f64 = 100.0;

/// `watch:`, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchPlan {
    /// Requests per second per target.
    pub rate: f64,
    pub every: Duration,
    /// Sorted, shortest first.
    pub windows: Vec<Duration>,
    pub checkpoint: Duration,
    pub error_ratio: f64,
    pub min_requests: u64,
}

impl Default for WatchPlan {
    fn default() -> Self {
        WatchPlan {
            rate: 2.0,
            every: Duration::from_secs(60),
            windows: vec![Duration::from_secs(60), Duration::from_secs(300)],
            checkpoint: Duration::from_secs(60),
            error_ratio: 0.05,
            min_requests: 20,
        }
    }
}

impl WatchPlan {
    /// The longest window: what the ring of seconds holds.
    pub fn longest(&self) -> Duration {
        self.windows
            .last()
            .copied()
            .unwrap_or(Duration::from_secs(60))
    }

    /// The shortest window: what spikes are judged on.
    pub fn shortest(&self) -> Duration {
        self.windows
            .first()
            .copied()
            .unwrap_or(Duration::from_secs(60))
    }
}

pub(super) fn build_watch(cx: &Ctx, raw: &At<RawWatch>) -> WatchPlan {
    let mut out = WatchPlan::default();
    if let Some(r) = &raw.rate {
        if let Some(rate) = cx.rate(r) {
            if rate.0 <= 0.0 || rate.0 > MAX_WATCH_RATE {
                cx.err(
                    r.loc,
                    format!(
                        "a watch rate is more than 0 and at most {MAX_WATCH_RATE}/s per target: a watch probes production for hours, it does not load it (use `cutover run` for load)"
                    ),
                );
            } else {
                out.rate = rate.0;
            }
        }
    }
    let at_least = |v: &At<String>, what: &str, min: Duration| -> Option<Duration> {
        let d = cx.positive_duration(v, what)?;
        if d < min {
            cx.err(
                v.loc,
                format!(
                    "{what} of {} is too short: at least {}",
                    humantime::format_duration(d),
                    humantime::format_duration(min)
                ),
            );
            return None;
        }
        Some(d)
    };
    if let Some(e) = &raw.every {
        if let Some(d) = at_least(e, "`every`", Duration::from_secs(1)) {
            out.every = d;
        }
    }
    if let Some(c) = &raw.checkpoint {
        if let Some(d) = at_least(c, "`checkpoint`", Duration::from_secs(1)) {
            out.checkpoint = d;
        }
    }
    if let Some(ws) = &raw.windows {
        let mut windows = Vec::new();
        for w in ws {
            let Some(d) = at_least(w, "a window", Duration::from_secs(5)) else {
                continue;
            };
            if d > Duration::from_secs(3600) {
                cx.err(
                    w.loc,
                    "a window is at most 1h: longer trends are in the report's per-minute timeline",
                );
            } else if windows.contains(&d) {
                cx.err(w.loc, "this window is listed twice");
            } else {
                windows.push(d);
            }
        }
        if ws.is_empty() {
            cx.err(
                raw.loc,
                "`windows` is empty: list one or two, like [1m, 5m], or leave it out",
            );
        }
        if !windows.is_empty() {
            windows.sort();
            out.windows = windows;
        }
    }
    if let Some(a) = &raw.alerts {
        if let Some(r) = &a.error_ratio {
            if r.value.is_finite() && r.value > 0.0 && r.value <= 1.0 {
                out.error_ratio = r.value;
            } else {
                cx.err(
                    r.loc,
                    "`error_ratio` is a share above 0 and at most 1, like 0.05 for 5 %",
                );
            }
        }
        if let Some(n) = &a.min_requests {
            out.min_requests = n.value.max(1);
        }
    }
    out
}
