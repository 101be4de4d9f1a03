//! 503 spikes: runs of seconds where a target's 503s jump significantly
//! above the rate before them, and the event (a deploy) they follow; and a
//! rate that is elevated all along (`sustained`), which is no spike.
//!
//! Input is one series (a target × check, or a target over all checks):
//! requests and 503s by origin per second. The rules, in order:
//!
//! - **Sustained.** When more than half of the seconds with requests are
//!   above `max_ratio`, and the elevation began before any event, the rate
//!   is a steady state (an ingress rate limit answering 503 all run long): one
//!   [`Sustained`] result, attributed to no event. Spikes are then judged
//!   against that rate.
//! - **Candidates.** Runs of seconds above `max_ratio` and above the steady
//!   rate, split where an event happens inside one.
//! - **Significance.** A run is a spike only when its 503 count `k` over its
//!   `n` requests is improbable under the rate before it (the `before`
//!   seconds that ended before its change point; else every other second),
//!   smoothed as `(k₀ + ½) / (n₀ + 1)`: a one-sided Poisson test, P(X ≥ k)
//!   times the number of candidate runs (Bonferroni: the whole series gets
//!   one `significance`, default 0.001), and `k` exceeds the expected count
//!   by `min_increase` (default 5). A steady background rate is never a spike.
//! - **Attribution.** A spike follows the latest event at most 1 s after its
//!   first second and at most `after` seconds before it; otherwise it is
//!   unexplained. Gateway-made spikes get Envoy's pooled-connection hint.

/// One second of one target.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Second {
    pub second: u64,
    pub requests: u64,
    /// 503 answers, by origin: `(origin, count)`.
    pub s503: Vec<(String, u64)>,
}

impl Second {
    fn count(&self) -> u64 {
        self.s503.iter().map(|(_, n)| n).sum()
    }

    fn ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.count() as f64 / self.requests as f64
        }
    }
}

/// An event on the run's timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub name: String,
    /// Seconds since the load started.
    pub at: f64,
}

/// Thresholds of spike detection.
#[derive(Clone, Debug, PartialEq)]
pub struct SpikeRules {
    /// A second is spiking above this 503 ratio (and above the baseline).
    pub max_ratio: f64,
    /// How long after an event a spike is attributed to it, in seconds.
    pub after: u64,
    /// The baseline window before an event, in seconds.
    pub before: u64,
    /// One-sided Poisson p-value below which a run is a spike.
    pub significance: f64,
    /// 503s a spike must add to the expected count.
    pub min_increase: u64,
}

impl Default for SpikeRules {
    fn default() -> Self {
        SpikeRules {
            max_ratio: 0.001,
            after: 60,
            before: 30,
            significance: 0.001,
            min_increase: 5,
        }
    }
}

/// A 503 rate elevated from the start and all along: a steady state.
#[derive(Clone, Debug, PartialEq)]
pub struct Sustained {
    pub count: u64,
    pub requests: u64,
    /// Seconds above `max_ratio`, of the seconds with requests.
    pub elevated: u64,
    pub seconds: u64,
    pub origins: Vec<(String, u64)>,
}

impl Sustained {
    pub fn ratio(&self) -> f64 {
        self.count as f64 / self.requests.max(1) as f64
    }
}

/// What one series shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Detection {
    pub spikes: Vec<Spike>,
    pub sustained: Option<Sustained>,
}

/// A detected spike.
#[derive(Clone, Debug, PartialEq)]
pub struct Spike {
    pub start: u64,
    /// Inclusive.
    pub end: u64,
    pub peak_ratio: f64,
    pub count: u64,
    pub origins: Vec<(String, u64)>,
    /// The event it follows, if any.
    pub event: Option<String>,
    /// The 503 rate it is judged against.
    pub baseline: f64,
    /// Requests during the spike.
    pub requests: u64,
    /// One-sided Poisson p-value of `count` under the baseline rate.
    pub p_value: f64,
}

impl Spike {
    /// A sentence for the finding.
    pub fn describe(&self, target: &str) -> String {
        let origins: Vec<String> = self
            .origins
            .iter()
            .map(|(o, n)| format!("{o} {n}"))
            .collect();
        let after = match &self.event {
            Some(e) => format!(" after `{e}`"),
            None => " with no event before it (unexplained)".to_owned(),
        };
        format!(
            "{target} answered 503s{after} from second {} to {} ({} s): {} in all, peak {:.1} % of requests (baseline {:.2} %, p = {:.1e}); produced by {}",
            self.start,
            self.end,
            self.end - self.start + 1,
            self.count,
            100.0 * self.peak_ratio,
            100.0 * self.baseline,
            self.p_value,
            origins.join(", ")
        )
    }
}

fn origins_of(seconds: &[Second]) -> Vec<(String, u64)> {
    let mut origins: Vec<(String, u64)> = Vec::new();
    for s in seconds {
        for (o, n) in &s.s503 {
            match origins.iter_mut().find(|(x, _)| x == o) {
                Some((_, m)) => *m += n,
                None => origins.push((o.clone(), *n)),
            }
        }
    }
    origins.sort_by_key(|o| std::cmp::Reverse(o.1));
    origins
}

/// A steady elevated rate, when the series has one: more than half of the
/// seconds with requests are elevated, and the elevation began before any
/// event (a whole elevated second ended before the first event).
fn sustained(series: &[Second], events: &[Event], rules: &SpikeRules) -> Option<Sustained> {
    let active: Vec<&Second> = series.iter().filter(|s| s.requests > 0).collect();
    let elevated = active
        .iter()
        .filter(|s| s.ratio() > rules.max_ratio)
        .count();
    let first_elevated = active.iter().find(|s| s.ratio() > rules.max_ratio)?;
    let first_event = events.iter().map(|e| e.at).fold(f64::INFINITY, f64::min);
    if elevated * 2 <= active.len() || first_elevated.second as f64 + 1.0 > first_event {
        return None;
    }
    Some(Sustained {
        count: series.iter().map(Second::count).sum(),
        requests: series.iter().map(|s| s.requests).sum(),
        elevated: elevated as u64,
        seconds: active.len() as u64,
        origins: origins_of(series),
    })
}

/// Finds the spikes, and a sustained rate, in one series.
pub fn detect(series: &[Second], events: &[Event], rules: &SpikeRules) -> Detection {
    let steady = sustained(series, events, rules);
    let floor = steady
        .as_ref()
        .map_or(0.0, Sustained::ratio)
        .max(rules.max_ratio);
    // Runs of elevated seconds, split where an event happens inside one.
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < series.len() {
        if series[i].ratio() <= floor {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while i < series.len()
            && series[i].ratio() > floor
            && !events
                .iter()
                .any(|e| e.at >= series[i].second as f64 && e.at < series[i].second as f64 + 1.0)
        {
            i += 1;
        }
        runs.push((start, i));
    }
    let mut spikes = Vec::new();
    // Every candidate run is a test: Bonferroni keeps the chance of one false
    // spike in a whole series at `significance`.
    let tests = runs.len().max(1) as f64;
    for (from, to) in runs {
        let run = &series[from..to];
        let first = run[0].second as f64;
        let event = events
            .iter()
            .filter(|e| e.at <= first + 1.0 && first - e.at <= rules.after as f64)
            .max_by(|a, b| a.at.total_cmp(&b.at));
        // The rate before the change point: whole seconds that ended before
        // it (the event's time, or the run's first second).
        let change = event.map_or(first, |e| e.at.min(first + 1.0));
        let window = (change - rules.before as f64).max(0.0);
        let before: Vec<&Second> = series
            .iter()
            .filter(|s| (s.second as f64) >= window && (s.second as f64) + 1.0 <= change)
            .collect();
        let outside: Vec<&Second> = if before.iter().any(|s| s.requests > 0) {
            before
        } else {
            // Nothing before it: judge it against every other second.
            series[..from].iter().chain(series[to..].iter()).collect()
        };
        let (n0, k0) = outside
            .iter()
            .fold((0u64, 0u64), |(n, k), s| (n + s.requests, k + s.count()));
        if n0 == 0 {
            continue; // the run is the whole series: a steady state, said above
        }
        let mut baseline = (k0 as f64 + 0.5) / (n0 as f64 + 1.0);
        if let Some(st) = &steady {
            baseline = baseline.max(st.ratio());
        }
        let (n, k) = run
            .iter()
            .fold((0u64, 0u64), |(n, k), s| (n + s.requests, k + s.count()));
        let expected = n as f64 * baseline;
        let p_value = (crate::analyze::stats::poisson_at_least(k, expected) * tests).min(1.0);
        let ratio = k as f64 / n.max(1) as f64;
        if p_value >= rules.significance
            || (k as f64) < expected + rules.min_increase as f64
            || ratio <= rules.max_ratio
        {
            continue;
        }
        spikes.push(Spike {
            start: run[0].second,
            end: run[run.len() - 1].second,
            peak_ratio: run.iter().map(Second::ratio).fold(0.0, f64::max),
            count: k,
            origins: origins_of(run),
            event: event.map(|e| e.name.clone()),
            baseline: k0 as f64 / n0 as f64,
            requests: n,
            p_value,
        });
    }
    Detection {
        spikes,
        sustained: steady,
    }
}

/// The hint for a spike the gateway produced itself.
pub const POOLED_CONNECTION_HINT: &str = "Envoy reused pooled upstream connections to terminated pods: set the BackendConfigPolicy idleTimeout below the app's keep-alive, or shorten the app's keep-alive";

#[cfg(test)]
mod tests {
    use super::*;

    fn series(bad: &[(u64, u64)]) -> Vec<Second> {
        (0..120)
            .map(|s| Second {
                second: s,
                requests: 100,
                s503: bad
                    .iter()
                    .filter(|(at, _)| *at == s)
                    .map(|(_, n)| ("gateway".to_owned(), *n))
                    .collect(),
            })
            .collect()
    }

    fn deploy(at: f64) -> Vec<Event> {
        vec![Event {
            name: "rollout api".into(),
            at,
        }]
    }

    #[test]
    fn a_spike_after_a_deploy_names_the_event() {
        let s = series(&[(40, 12), (41, 30), (42, 5)]);
        let spikes = detect(&s, &deploy(39.5), &SpikeRules::default()).spikes;
        assert_eq!(spikes.len(), 1);
        let k = &spikes[0];
        assert_eq!((k.start, k.end, k.count), (40, 42, 47));
        assert_eq!(k.event.as_deref(), Some("rollout api"));
        assert!((k.peak_ratio - 0.30).abs() < 1e-9);
        let text = k.describe("gateway");
        assert!(text.starts_with("gateway answered 503s after `rollout api` from second 40 to 42 (3 s): 47 in all, peak 30.0 %"), "{text}");
    }

    #[test]
    fn a_spike_before_the_event_or_long_after_is_unexplained() {
        let s = series(&[(10, 20), (110, 20)]);
        let spikes = detect(&s, &deploy(30.0), &SpikeRules::default()).spikes;
        assert_eq!(spikes.len(), 2);
        assert!(spikes.iter().all(|k| k.event.is_none()));
        assert!(spikes[0].describe("gateway").contains("unexplained"));
    }

    #[test]
    fn an_event_inside_the_first_spiking_second_keeps_the_spike_whole() {
        // Regression: the rollout at 41.6 s falls inside second 41; the spike is 41–43,
        // and its baseline only counts seconds that ended before the rollout.
        let s = series(&[(41, 49), (42, 100), (43, 60)]);
        let spikes = detect(&s, &deploy(41.6), &SpikeRules::default()).spikes;
        assert_eq!(spikes.len(), 1, "{spikes:?}");
        assert_eq!(
            (spikes[0].start, spikes[0].end, spikes[0].baseline),
            (41, 43, 0.0)
        );
        assert_eq!(spikes[0].event.as_deref(), Some("rollout api"));
    }

    #[test]
    fn below_the_threshold_is_no_spike() {
        let rules = SpikeRules {
            max_ratio: 0.05,
            ..SpikeRules::default()
        };
        assert!(detect(&series(&[(40, 3)]), &deploy(39.0), &rules)
            .spikes
            .is_empty());
    }

    #[test]
    fn an_already_noisy_baseline_is_no_spike() {
        // 10 % 503s every second before and after: the event changed nothing.
        let s: Vec<Second> = (0..100)
            .map(|i| Second {
                second: i,
                requests: 100,
                s503: vec![("app".into(), 10)],
            })
            .collect();
        let d = detect(&s, &deploy(50.0), &SpikeRules::default());
        assert!(d.spikes.is_empty());
        assert!(d.sustained.is_some());
    }

    /// A deterministic stream of 503 counts around `rate` (binomial draws by xorshift).
    fn noisy(seconds: u64, requests: u64, rate: f64, seed: u64) -> Vec<Second> {
        let mut x = seed | 1;
        (0..seconds)
            .map(|second| {
                let mut bad = 0;
                for _ in 0..requests {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if (x % 1_000_000) as f64 / 1e6 < rate {
                        bad += 1;
                    }
                }
                Second {
                    second,
                    requests,
                    s503: vec![("ingress".into(), bad)],
                }
            })
            .collect()
    }

    #[test]
    fn a_steady_background_rate_is_one_sustained_result_and_no_spike() {
        // Regression guard: a steady ~8 % of 503s (an ingress rate limit) was
        // reported as four spikes, three of them attributed to unrelated events.
        let events = vec![
            Event {
                name: "rollout api".into(),
                at: 20.5,
            },
            Event {
                name: "weights 50/50".into(),
                at: 40.2,
            },
            Event {
                name: "weights 0/100".into(),
                at: 70.9,
            },
        ];
        for seed in 1..=20 {
            let s = noisy(90, 120, 0.08, seed);
            let d = detect(&s, &events, &SpikeRules::default());
            assert!(d.spikes.is_empty(), "seed {seed}: {:?}", d.spikes);
            let st = d.sustained.expect("a sustained rate");
            assert!((st.ratio() - 0.08).abs() < 0.01, "{}", st.ratio());
        }
    }

    #[test]
    fn a_real_spike_on_a_steady_background_is_still_found() {
        let mut s = noisy(90, 120, 0.08, 7);
        for sec in &mut s[50..53] {
            sec.s503 = vec![("gateway".into(), 90)];
        }
        let d = detect(&s, &deploy(49.4), &SpikeRules::default());
        assert_eq!(d.spikes.len(), 1, "{:?}", d.spikes);
        assert_eq!(d.spikes[0].event.as_deref(), Some("rollout api"));
        assert!(d.spikes[0].p_value < 1e-10);
    }

    #[test]
    fn a_few_stray_503s_are_not_a_spike() {
        // Two 503s in one second of a clean run: not significant, and below
        // the minimum increase.
        let s = series(&[(40, 2)]);
        assert!(detect(&s, &deploy(39.5), &SpikeRules::default())
            .spikes
            .is_empty());
    }
}
