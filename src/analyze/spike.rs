//! 503 spikes: seconds where a target's 5xx answers jump, and the event
//! (a deploy) they follow.
//!
//! Input is one target's per-second series (requests, 5xx and 503 counts by
//! origin). A spike is a run of seconds whose 503 ratio exceeds `max_ratio`
//! and the baseline (the ratio over the window before the event). Spikes that
//! start within `after` of an event are attributed to it; the others are
//! reported as unexplained. Gateway-origin upstream resets get Envoy's
//! pooled-connection hint (FIELD-NOTES.md).

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
}

impl Default for SpikeRules {
    fn default() -> Self {
        SpikeRules {
            max_ratio: 0.001,
            after: 60,
            before: 30,
        }
    }
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
    pub baseline: f64,
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
            "{target} answered 503s{after} from second {} to {} ({} s): {} in all, peak {:.1} % of requests (baseline {:.2} %); produced by {}",
            self.start,
            self.end,
            self.end - self.start + 1,
            self.count,
            100.0 * self.peak_ratio,
            100.0 * self.baseline,
            origins.join(", ")
        )
    }
}

/// Finds the spikes in one target's series.
pub fn detect(series: &[Second], events: &[Event], rules: &SpikeRules) -> Vec<Spike> {
    let mut spikes = Vec::new();
    // The 503 ratio over [at − before, at); `None` when nothing was sent then.
    let baseline_before = |at: f64| -> Option<f64> {
        let from = (at - rules.before as f64).max(0.0);
        let (mut req, mut bad) = (0u64, 0u64);
        for s in series
            .iter()
            // Whole seconds that ended before the event.
            .filter(|s| (s.second as f64) >= from && (s.second as f64) + 1.0 <= at)
        {
            req += s.requests;
            bad += s.count();
        }
        (req > 0).then(|| bad as f64 / req as f64)
    };
    // Runs of spiking seconds, split where an event happens inside one.
    let mut runs: Vec<&[Second]> = Vec::new();
    let mut i = 0;
    while i < series.len() {
        if series[i].ratio() <= rules.max_ratio {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while i < series.len()
            && series[i].ratio() > rules.max_ratio
            // An event during this second starts a new run here.
            && !events.iter().any(|e| {
                e.at >= series[i].second as f64 && e.at < series[i].second as f64 + 1.0
            })
        {
            i += 1;
        }
        runs.push(&series[start..i]);
    }
    for run in runs {
        let first = run[0].second as f64;
        let event = events
            .iter()
            .filter(|e| e.at <= first + 1.0 && first - e.at <= rules.after as f64)
            .max_by(|a, b| a.at.total_cmp(&b.at));
        let baseline = match (event, baseline_before(event.map(|e| e.at).unwrap_or(first))) {
            (_, Some(b)) => b,
            (Some(_), None) => 0.0,
            // Noisy from the very start: a steady state, not a jump.
            (None, None) => continue,
        };
        let peak = run.iter().map(Second::ratio).fold(0.0, f64::max);
        if peak <= baseline {
            continue; // already this noisy before: no spike
        }
        let mut origins: Vec<(String, u64)> = Vec::new();
        for s in run {
            for (o, n) in &s.s503 {
                match origins.iter_mut().find(|(x, _)| x == o) {
                    Some((_, m)) => *m += n,
                    None => origins.push((o.clone(), *n)),
                }
            }
        }
        origins.sort_by_key(|o| std::cmp::Reverse(o.1));
        spikes.push(Spike {
            start: run[0].second,
            end: run[run.len() - 1].second,
            peak_ratio: peak,
            count: run.iter().map(Second::count).sum(),
            origins,
            event: event.map(|e| e.name.clone()),
            baseline,
        });
    }
    spikes
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
        let spikes = detect(&s, &deploy(39.5), &SpikeRules::default());
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
        let spikes = detect(&s, &deploy(30.0), &SpikeRules::default());
        assert_eq!(spikes.len(), 2);
        assert!(spikes.iter().all(|k| k.event.is_none()));
        assert!(spikes[0].describe("gateway").contains("unexplained"));
    }

    #[test]
    fn an_event_inside_the_first_spiking_second_keeps_the_spike_whole() {
        // Regression: the rollout at 41.6 s falls inside second 41; the spike is 41–43,
        // and its baseline only counts seconds that ended before the rollout.
        let s = series(&[(41, 49), (42, 100), (43, 60)]);
        let spikes = detect(&s, &deploy(41.6), &SpikeRules::default());
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
        assert!(detect(&series(&[(40, 3)]), &deploy(39.0), &rules).is_empty());
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
        assert!(detect(&s, &deploy(50.0), &SpikeRules::default()).is_empty());
    }
}
