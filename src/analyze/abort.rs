//! The abort rail: stop the load when a target keeps failing.
//!
//! `analysis.abort: {error_ratio, for}` is judged on each closed second (a
//! second every load worker has flushed): a loaded target whose failed share
//! (transport errors, answers its checks' expectations reject, and arrivals dropped because the target did not
//! take them) exceeds `error_ratio` for `for` seconds in a row trips the
//! rail. A response fails as its check's expectation judged it under load
//! (a 404 where 200 is expected fails; without `expect.status`, any status
//! of 400 or more). Requests still unanswered [`LATE_AFTER`] after they were sent (or
//! three times the target's own p99, if that is longer) count as failing in
//! every second they stay so: a target that stops answering trips the rail
//! within `for` + 1 s, whatever the request timeout. The rail is a small state machine fed one second at a
//! time, with no clock and no I/O, so the same code judges a live run and a
//! synthetic series. The run stops the load on the trip and records it;
//! [`finding`] turns the record into the `aborted` finding.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::finding::{Evidence, Finding, FindingKind, Level};
use crate::record::Finished;
use crate::run::AbortTrip;

/// The rail's state over the seconds seen so far.
pub struct Rail {
    ratio: f64,
    hold: Duration,
    /// Loaded target indices.
    targets: Vec<usize>,
    checks: usize,
    /// Consecutive breaching seconds per target index.
    streak: Vec<u64>,
    /// Latencies of every answered request so far, per target index.
    answered: Vec<Histogram<u64>>,
    tripped: bool,
}

/// A request outstanding this long is late (unless the target's own p99 says
/// it is slower than that: then three times its p99).
pub const LATE_AFTER: Duration = Duration::from_secs(1);

impl Rail {
    /// A rail for `(error_ratio, for)` over the loaded `targets`, with
    /// `checks` keys per target (`key = target * checks + check`).
    pub fn new(rule: (f64, Duration), targets: &[usize], checks: usize) -> Rail {
        let width = targets.iter().max().map_or(0, |m| m + 1);
        Rail {
            ratio: rule.0,
            hold: rule.1,
            targets: targets.to_vec(),
            checks,
            streak: vec![0; width],
            answered: (0..width).map(|_| crate::hdr::histogram()).collect(),
            tripped: false,
        }
    }

    /// Whole seconds after which an unanswered request of target `ti` is late.
    fn late_after(&self, ti: usize) -> u64 {
        let h = &self.answered[ti];
        let p99 = if h.is_empty() {
            Duration::ZERO
        } else {
            Duration::from_micros(h.value_at_quantile(0.99))
        };
        (p99 * 3).max(LATE_AFTER).as_secs_f64().ceil() as u64
    }

    /// Judges one closed second; returns the trip the first time the rule holds.
    pub fn second(&mut self, done: &Finished) -> Option<AbortTrip> {
        let need = self.hold.as_secs().max(1);
        for &ti in &self.targets {
            let (mut requests, mut failed) = (0u64, 0u64);
            let from = ti * self.checks;
            for b in done
                .buckets
                .get(from..from + self.checks)
                .into_iter()
                .flatten()
                .flatten()
            {
                // A dropped arrival is a request the target did not take.
                requests += b.requests + b.dropped;
                failed += b.failed + b.dropped;
                let _ = self.answered[ti].add(&b.latency);
            }
            // Requests still unanswered well past what this target takes are
            // failing now, whatever their timeout.
            let late_after = self.late_after(ti);
            for list in done
                .outstanding
                .get(from..from + self.checks)
                .into_iter()
                .flatten()
            {
                for &(started, n) in list {
                    if done.second >= started + late_after {
                        requests += n;
                        failed += n;
                    }
                }
            }
            let over = requests > 0 && failed as f64 / requests as f64 > self.ratio;
            self.streak[ti] = if over { self.streak[ti] + 1 } else { 0 };
            if !self.tripped && self.streak[ti] >= need {
                self.tripped = true;
                return Some(AbortTrip {
                    target: ti,
                    second: done.second,
                    seconds: self.streak[ti],
                    failed,
                    requests,
                    ratio: self.ratio,
                    hold: self.hold,
                });
            }
        }
        None
    }
}

/// The `aborted` finding for a recorded trip.
pub fn finding(trip: &AbortTrip, target: &str) -> Finding {
    let share = trip.failed as f64 / trip.requests.max(1) as f64;
    Finding::new(
        FindingKind::Aborted,
        Level::Fail,
        None,
        Some(target),
        format!(
            "the load was stopped by the abort rule: {target} failed more than {:.1} % of requests for {} s in a row (second {}: {} of {} failed)",
            100.0 * trip.ratio,
            trip.seconds,
            trip.second,
            trip.failed,
            trip.requests
        ),
    )
    .with_hint("the target was failing too much to keep loading it; look at the load table's failures per check and the target's own logs")
    .with_evidence(Evidence::Limit {
        metric: "error_ratio".into(),
        observed: share,
        limit: trip.ratio,
        n: trip.requests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{Origin, ProbeError, Response, Sample};
    use crate::record::Bucket;

    fn bucket(ok: u64, failed: u64) -> Option<Box<Bucket>> {
        let mut b = Bucket::default();
        let d = std::time::Duration::from_millis(1);
        for _ in 0..ok {
            let s = Sample {
                url: "http://x/".into(),
                response: Some(Response {
                    status: 200,
                    origin: Origin::App,
                    ..Default::default()
                }),
                error: None,
                latency: d,
                ttfb: None,
            };
            b.record(&s, d, d);
        }
        for _ in 0..failed {
            let s = Sample::failed(
                "http://x/".into(),
                ProbeError::new(crate::probe::ErrorKind::Reset, "reset"),
                d,
            );
            b.record(&s, d, d);
        }
        Some(Box::new(b))
    }

    fn second(n: u64, per_target: &[(u64, u64)]) -> Finished {
        Finished {
            second: n,
            buckets: per_target
                .iter()
                .map(|&(ok, bad)| bucket(ok, bad))
                .collect(),
            outstanding: vec![Vec::new(); per_target.len()],
        }
    }

    #[test]
    fn trips_after_hold_consecutive_seconds_above_the_ratio() {
        let mut rail = Rail::new((0.1, Duration::from_secs(3)), &[0, 1], 1);
        assert_eq!(rail.second(&second(0, &[(100, 0), (50, 50)])), None);
        assert_eq!(rail.second(&second(1, &[(100, 0), (50, 50)])), None);
        let trip = rail
            .second(&second(2, &[(100, 0), (50, 50)]))
            .expect("third breaching second trips");
        assert_eq!((trip.target, trip.second, trip.seconds), (1, 2, 3));
        assert_eq!((trip.failed, trip.requests), (50, 100));
        // It trips once.
        assert_eq!(rail.second(&second(3, &[(100, 0), (50, 50)])), None);
    }

    #[test]
    fn seconds_where_every_arrival_was_dropped_count_as_failing() {
        // Regression guard: such seconds counted as "no requests" and never tripped.
        let mut rail = Rail::new((0.1, Duration::from_secs(2)), &[0], 1);
        let dropped = |n: u64| {
            let mut b = Bucket::default();
            b.dropped = 50;
            Finished {
                second: n,
                buckets: vec![Some(Box::new(b))],
                outstanding: vec![Vec::new()],
            }
        };
        assert_eq!(rail.second(&dropped(0)), None);
        let trip = rail.second(&dropped(1)).expect("trips");
        assert_eq!((trip.failed, trip.requests), (50, 50));
    }

    #[test]
    fn a_target_that_stops_answering_trips_the_rail_before_any_timeout() {
        // Regression guard: errors were counted only when requests completed
        // (at their timeout), so a black hole went unnoticed for the timeout.
        let mut rail = Rail::new((0.5, Duration::from_secs(2)), &[0], 1);
        let silent = |n: u64| Finished {
            second: n,
            buckets: vec![None],
            // 20 requests sent in every second so far, none answered.
            outstanding: vec![(0..=n).map(|s| (s, 20)).collect()],
        };
        assert_eq!(rail.second(&silent(0)), None, "nothing is late yet");
        assert_eq!(rail.second(&silent(1)), None, "one breaching second");
        let trip = rail.second(&silent(2)).expect("trips at for + 1 s");
        assert_eq!(trip.second, 2);
        assert_eq!(trip.failed, trip.requests);
    }

    #[test]
    fn a_slow_but_answering_target_is_not_late() {
        let mut rail = Rail::new((0.5, Duration::from_secs(2)), &[0], 1);
        let mut answered = Bucket::default();
        let d = std::time::Duration::from_millis(1500);
        let ok = Sample {
            url: "http://x/".into(),
            response: Some(Response {
                status: 200,
                origin: Origin::App,
                ..Default::default()
            }),
            error: None,
            latency: d,
            ttfb: None,
        };
        for _ in 0..100 {
            answered.record(&ok, d, d);
        }
        for n in 0..10 {
            let f = Finished {
                second: n,
                buckets: vec![Some(Box::new(answered.clone()))],
                // Requests take 1.5 s: those sent one second ago are still out.
                outstanding: vec![vec![(n.saturating_sub(1), 60), (n, 60)]],
            };
            assert_eq!(rail.second(&f), None, "second {n}");
        }
    }

    #[test]
    fn a_good_second_resets_the_streak() {
        let mut rail = Rail::new((0.1, Duration::from_secs(2)), &[0], 1);
        assert_eq!(rail.second(&second(0, &[(50, 50)])), None);
        assert_eq!(rail.second(&second(1, &[(100, 0)])), None);
        assert_eq!(rail.second(&second(2, &[(50, 50)])), None);
        assert!(rail.second(&second(3, &[(50, 50)])).is_some());
    }

    #[test]
    fn the_finding_fails_the_run_and_carries_the_numbers() {
        let trip = AbortTrip {
            target: 1,
            second: 7,
            seconds: 3,
            failed: 40,
            requests: 100,
            ratio: 0.05,
            hold: Duration::from_secs(3),
        };
        let f = finding(&trip, "gateway");
        assert_eq!(f.level, Level::Fail);
        assert!(f.message.contains("40 of 100 failed"), "{}", f.message);
        assert!(matches!(f.evidence, Some(Evidence::Limit { n: 100, .. })));
    }
}
