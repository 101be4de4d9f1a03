//! Watch alerts: conditions judged on rolling windows and on the periodic
//! check pass, and their raised/cleared states.
//!
//! Rules ([`Rule`]):
//! - `spike_503`: the 503 spike analyzer ([`super::spike`]) over the shortest
//!   window of a target, attributed to an event inside it or unexplained;
//! - `failure_rate`: failed requests over the longest window above
//!   `watch.alerts.error_ratio` (with at least `min_requests`);
//! - `latency_regression`: a target slower than the baseline target on a
//!   check over the longest window ([`super::latency`]: ratio thresholds, a
//!   Mann-Whitney p-value and `min_tail_samples` beyond each quantile, the
//!   same rules as `run`); the watch raises it only when two judgements a
//!   shortest window apart agree (judging every second would test the same
//!   data many times over);
//! - `check_failing`: a one-shot check that fails on a target in the latest
//!   check pass (expectations, parity, CORS, WebSocket, behaviour);
//! - `dns_drift` and `dns_leak`: the DNS split against the expected weights
//!   (which `cutover mark --weights` updates) and a published private address.
//!
//! [`Alerts`] keeps one state per (rule, target, check): a true condition
//! raises it once, and it is not repeated while it stays raised; a condition
//! no longer true clears it. Each update names the rules it judged, so a
//! window judgement never clears a check's alert. History is bounded
//! ([`HISTORY_KEPT`] changes, older ones counted). Invariant: pure.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::finding::{Finding, FindingKind, Level};
use super::latency::{self, LatencyRules};
use super::spike::{self, SpikeRules};

/// Alert changes kept in the history; older ones are only counted.
pub const HISTORY_KEPT: usize = 500;

/// What an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    #[serde(rename = "spike_503")]
    Spike503,
    FailureRate,
    LatencyRegression,
    CheckFailing,
    DnsDrift,
    DnsLeak,
}

impl Rule {
    /// The rules judged on rolling windows.
    pub const WINDOWS: [Rule; 3] = [Rule::Spike503, Rule::FailureRate, Rule::LatencyRegression];
    /// The rules judged on a check pass.
    pub const CHECKS: [Rule; 3] = [Rule::CheckFailing, Rule::DnsDrift, Rule::DnsLeak];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Spike503 => "spike_503",
            Rule::FailureRate => "failure_rate",
            Rule::LatencyRegression => "latency_regression",
            Rule::CheckFailing => "check_failing",
            Rule::DnsDrift => "dns_drift",
            Rule::DnsLeak => "dns_leak",
        }
    }
}

/// One alert's identity.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AlertKey {
    pub rule: Rule,
    pub target: Option<String>,
    pub check: Option<String>,
}

/// A condition true now, with the sentence that says why.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub key: AlertKey,
    pub message: String,
}

/// Raised or cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Raised,
    Cleared,
}

/// One change of one alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertChange {
    /// Unix seconds.
    pub at: u64,
    pub state: State,
    #[serde(flatten)]
    pub key: AlertKey,
    /// Why it was raised (for a clear: why it had been).
    pub message: String,
    /// When it was raised (equal to `at` for a raise).
    pub raised_at: u64,
}

/// The alert states of a watch.
#[derive(Clone, Debug, Default)]
pub struct Alerts {
    /// Raised alerts: when, and the latest sentence.
    active: BTreeMap<AlertKey, (u64, String)>,
    history: VecDeque<AlertChange>,
    /// Changes dropped from the history (oldest first).
    pub history_dropped: u64,
    /// Raises per rule, over the whole watch.
    pub raised: BTreeMap<Rule, u64>,
}

impl Alerts {
    /// Applies the conditions true now for the rules in `scope`: raises
    /// those not raised, clears raised ones of `scope` no longer true.
    pub fn update(
        &mut self,
        now: u64,
        scope: &[Rule],
        conditions: Vec<Condition>,
    ) -> Vec<AlertChange> {
        let mut changes = Vec::new();
        let mut seen = Vec::with_capacity(conditions.len());
        for c in conditions {
            seen.push(c.key.clone());
            match self.active.get_mut(&c.key) {
                Some((_, msg)) => *msg = c.message,
                None => {
                    *self.raised.entry(c.key.rule).or_default() += 1;
                    self.active.insert(c.key.clone(), (now, c.message.clone()));
                    changes.push(AlertChange {
                        at: now,
                        state: State::Raised,
                        key: c.key,
                        message: c.message,
                        raised_at: now,
                    });
                }
            }
        }
        let gone: Vec<AlertKey> = self
            .active
            .keys()
            .filter(|k| scope.contains(&k.rule) && !seen.contains(k))
            .cloned()
            .collect();
        for key in gone {
            if let Some((since, message)) = self.active.remove(&key) {
                changes.push(AlertChange {
                    at: now,
                    state: State::Cleared,
                    key,
                    message,
                    raised_at: since,
                });
            }
        }
        for c in &changes {
            self.history.push_back(c.clone());
            if self.history.len() > HISTORY_KEPT {
                self.history.pop_front();
                self.history_dropped += 1;
            }
        }
        changes
    }

    /// The raised alerts: key, since, latest sentence.
    pub fn active(&self) -> impl Iterator<Item = (&AlertKey, u64, &str)> {
        self.active.iter().map(|(k, (t, m))| (k, *t, m.as_str()))
    }

    /// The kept history, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &AlertChange> {
        self.history.iter()
    }
}

/// One target's traffic over the windows, as the window rules read it.
pub struct TargetWindows<'a> {
    pub target: &'a str,
    /// The shortest window, summed over the target's checks.
    pub short: &'a crate::record::window::Window,
    /// The longest window, summed over the target's checks.
    pub long: &'a crate::record::window::Window,
    /// Per check: `(check name, longest window of that check)`.
    pub checks: Vec<(&'a str, &'a crate::record::window::Window)>,
}

/// The thresholds of the window rules.
pub struct WindowRules<'a> {
    pub spike: &'a SpikeRules,
    pub latency: &'a LatencyRules,
    pub error_ratio: f64,
    pub min_requests: u64,
    pub short: std::time::Duration,
    pub long: std::time::Duration,
}

/// Conditions of the window rules for every target; `baseline` is the
/// baseline target's, `events` are `(unix seconds, name)`.
pub fn window_conditions(
    targets: &[TargetWindows],
    baseline: Option<&TargetWindows>,
    events: &[(u64, String)],
    rules: &WindowRules,
) -> Vec<Condition> {
    let mut out = Vec::new();
    let span = |d: std::time::Duration| humantime::format_duration(d).to_string();
    for t in targets {
        let key = |rule: Rule, check: Option<&str>| AlertKey {
            rule,
            target: Some(t.target.to_owned()),
            check: check.map(str::to_owned),
        };
        // 503 spikes over the short window.
        if let Some(first) = t.short.series.first().map(|s| s.0) {
            let series: Vec<spike::Second> = t
                .short
                .series
                .iter()
                .map(|(unix, requests, s503)| spike::Second {
                    second: unix - first,
                    requests: *requests,
                    s503: s503
                        .iter()
                        .map(|(o, n)| (o.as_str().to_owned(), *n))
                        .collect(),
                })
                .collect();
            let evs: Vec<spike::Event> = events
                .iter()
                .filter(|(at, _)| *at + rules.spike.after >= first)
                .map(|(at, name)| spike::Event {
                    name: name.clone(),
                    at: *at as f64 - first as f64,
                })
                .collect();
            let found = spike::detect(&series, &evs, rules.spike);
            if let Some(s) = found.spikes.last() {
                let wall = |x: u64| {
                    humantime::format_rfc3339_seconds(
                        std::time::UNIX_EPOCH + std::time::Duration::from_secs(first + x),
                    )
                    .to_string()
                };
                let after = match &s.event {
                    Some(e) => format!("after `{e}`"),
                    None => "with no event before it (unexplained)".to_owned(),
                };
                let origins: Vec<String> =
                    s.origins.iter().map(|(o, n)| format!("{o} {n}")).collect();
                out.push(Condition {
                    key: key(Rule::Spike503, None),
                    message: format!(
                        "{} answered {} 503s {after}, from {} to {} ({} s), peak {:.1} % of requests (baseline {:.2} % over the last {}, p = {:.1e}, n = {}); produced by {}",
                        t.target,
                        s.count,
                        wall(s.start),
                        wall(s.end),
                        s.end - s.start + 1,
                        100.0 * s.peak_ratio,
                        100.0 * s.baseline,
                        span(rules.short),
                        s.p_value,
                        s.requests,
                        origins.join(", ")
                    ),
                });
            }
        }
        // A sustained failure rate over the long window.
        let w = t.long;
        if w.requests >= rules.min_requests && w.failed_ratio() > rules.error_ratio {
            out.push(Condition {
                key: key(Rule::FailureRate, None),
                message: format!(
                    "{} failed {:.1} % of {} requests over the last {} ({} failed), above {:.1} %",
                    t.target,
                    100.0 * w.failed_ratio(),
                    w.requests,
                    span(rules.long),
                    w.failed,
                    100.0 * rules.error_ratio
                ),
            });
        }
        // Slower than the baseline target, per check, over the long window.
        let Some(b) = baseline.filter(|b| b.target != t.target) else {
            continue;
        };
        for (check, tw) in &t.checks {
            let Some((_, bw)) = b.checks.iter().find(|(c, _)| c == check) else {
                continue;
            };
            if tw.latency.len() < rules.min_requests || bw.latency.len() < rules.min_requests {
                continue;
            }
            let c = latency::compare(&tw.latency, &bw.latency, rules.latency);
            // As in `run`: a quantile counts only with enough samples beyond it.
            let (c, _) = super::load::split_by_data(&c, rules.latency.min_tail_samples);
            if c.is_regression(rules.latency) {
                out.push(Condition {
                    key: key(Rule::LatencyRegression, Some(check)),
                    message: format!(
                        "{} over the last {}",
                        c.describe(t.target, b.target),
                        span(rules.long)
                    ),
                });
            }
        }
    }
    out
}

/// Conditions of the check rules from the findings of one check pass.
pub fn check_conditions(findings: &[Finding]) -> Vec<Condition> {
    let mut out: Vec<Condition> = Vec::new();
    for f in findings.iter().filter(|f| f.level == Level::Fail) {
        let rule = match f.kind {
            FindingKind::DnsWeights
            | FindingKind::DnsWeightZero
            | FindingKind::DnsUnknownAnswer => Rule::DnsDrift,
            FindingKind::DnsPrivateAnswer => Rule::DnsLeak,
            _ => Rule::CheckFailing,
        };
        let key = AlertKey {
            rule,
            target: f.target.clone(),
            check: f.check.clone(),
        };
        // One alert per check × target: the first failure says it.
        if !out.iter().any(|c| c.key == key) {
            out.push(Condition {
                key,
                message: f.message.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(rule: Rule, target: &str) -> Condition {
        Condition {
            key: AlertKey {
                rule,
                target: Some(target.into()),
                check: None,
            },
            message: format!("{} on {target}", rule.as_str()),
        }
    }

    #[test]
    fn an_alert_is_raised_once_kept_while_true_and_cleared_when_not() {
        let mut a = Alerts::default();
        let c = a.update(10, &Rule::WINDOWS, vec![cond(Rule::FailureRate, "gateway")]);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].state, State::Raised);
        // Still true: nothing new.
        assert!(a
            .update(11, &Rule::WINDOWS, vec![cond(Rule::FailureRate, "gateway")])
            .is_empty());
        // A check-pass update does not clear a window alert.
        assert!(a.update(12, &Rule::CHECKS, vec![]).is_empty());
        assert_eq!(a.active().count(), 1);
        let c = a.update(20, &Rule::WINDOWS, vec![]);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].state, State::Cleared);
        assert_eq!(c[0].raised_at, 10);
        assert_eq!(a.active().count(), 0);
        assert_eq!(a.raised[&Rule::FailureRate], 1);
    }

    #[test]
    fn the_history_is_bounded_and_counts_what_it_dropped() {
        let mut a = Alerts::default();
        for i in 0..1_000u64 {
            let conds = if i % 2 == 0 {
                vec![cond(Rule::Spike503, "gateway")]
            } else {
                vec![]
            };
            a.update(i, &Rule::WINDOWS, conds);
        }
        assert_eq!(a.history().count(), HISTORY_KEPT);
        assert_eq!(a.history_dropped, 1_000 - HISTORY_KEPT as u64);
        assert_eq!(a.raised[&Rule::Spike503], 500);
    }

    fn window(latencies_ms: &[f64]) -> crate::record::window::Window {
        let mut w = crate::record::window::Window {
            seconds: 300,
            requests: latencies_ms.len() as u64,
            failed: 0,
            errors: 0,
            s503: Vec::new(),
            latency: crate::hdr::histogram(),
            series: Vec::new(),
        };
        for ms in latencies_ms {
            w.latency.saturating_record((ms * 1000.0) as u64);
        }
        w
    }

    #[test]
    fn a_slower_tail_without_enough_samples_beyond_it_raises_no_latency_alert() {
        // 3,000 requests each: p99.9 has 3 samples beyond it, fewer than the
        // 10 the rule needs. The target is a hair slower all along (the
        // Mann-Whitney test sees it, no quantile moves by 1 ms) and its
        // five slowest are 50 ms: only p99.9 would pass the ratio rule.
        let base: Vec<f64> = (0..3_000).map(|i| 1.0 + (i % 100) as f64 / 100.0).collect();
        let mut slow: Vec<f64> = base.iter().map(|x| x + 0.05).collect();
        for x in slow.iter_mut().rev().take(5) {
            *x = 50.0;
        }
        let (b, t) = (window(&base), window(&slow));
        let rules = WindowRules {
            spike: &SpikeRules::default(),
            latency: &LatencyRules::default(),
            error_ratio: 0.05,
            min_requests: 20,
            short: std::time::Duration::from_secs(60),
            long: std::time::Duration::from_secs(300),
        };
        let view = |name, w| TargetWindows {
            target: name,
            short: w,
            long: w,
            checks: vec![("items", w)],
        };
        let (bv, tv) = (view("ingress", &b), view("gateway", &t));
        let c = window_conditions(std::slice::from_ref(&tv), Some(&bv), &[], &rules);
        assert!(c.is_empty(), "{c:#?}");
        // A whole distribution 3 ms slower is one.
        let slower: Vec<f64> = base.iter().map(|x| x + 3.0).collect();
        let s = window(&slower);
        let sv = view("gateway", &s);
        let c = window_conditions(std::slice::from_ref(&sv), Some(&bv), &[], &rules);
        assert_eq!(c.len(), 1, "{c:#?}");
        assert_eq!(c[0].key.rule, Rule::LatencyRegression);
        assert!(c[0].message.contains("p = "), "{}", c[0].message);
    }
}
