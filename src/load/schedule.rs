//! Intended start times: the load shape as a pure function of time.
//!
//! A [`Shape`] is the scenario's stages after `--rate-scale` and `--duration`,
//! laid end to end as [`Phase`]s. Open phases (constant rate, ramp) define a
//! cumulative arrival count `N(t)`; arrival `i` (0, 1, 2, …, counted across
//! every open phase) is intended at the `t` where `N(t) = i`. Within a ramp
//! from `r0` to `r1` over `d`, `N` grows by `r0·t + (r1 − r0)·t²/(2d)`, so
//! the times are integrated exactly, and phase boundaries neither lose nor
//! duplicate an arrival. Closed phases (a fixed number of concurrent
//! clients) have no arrivals: their clients start as soon as the last
//! finishes. Nothing here reads a clock.

use std::time::Duration;

use super::plan::Stage;

/// One stage, placed on the run's timeline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Phase {
    /// Arrivals at a rate going linearly from `from` to `to` (per second).
    Open {
        start: Duration,
        end: Duration,
        from: f64,
        to: f64,
        /// Arrivals intended before this phase (real-valued).
        before: f64,
    },
    /// `concurrency` clients, each sending its next request when the last completes.
    Closed {
        start: Duration,
        end: Duration,
        concurrency: u64,
    },
    /// `sockets` WebSockets of check `check`, opened evenly over `ramp`, each
    /// sending a message every `interval` until `end`.
    Sockets {
        start: Duration,
        end: Duration,
        sockets: u64,
        ramp: Duration,
        interval: Duration,
        check: usize,
    },
}

impl Phase {
    pub fn start(&self) -> Duration {
        match *self {
            Phase::Open { start, .. }
            | Phase::Closed { start, .. }
            | Phase::Sockets { start, .. } => start,
        }
    }

    pub fn end(&self) -> Duration {
        match *self {
            Phase::Open { end, .. } | Phase::Closed { end, .. } | Phase::Sockets { end, .. } => end,
        }
    }

    /// Arrivals this phase adds (real-valued); 0 for closed phases.
    fn arrivals(&self) -> f64 {
        match *self {
            Phase::Open {
                start,
                end,
                from,
                to,
                ..
            } => (end - start).as_secs_f64() * (from + to) / 2.0,
            Phase::Closed { .. } | Phase::Sockets { .. } => 0.0,
        }
    }

    /// The intended rate at `t` (per second); 0 outside open phases.
    pub fn rate_at(&self, t: Duration) -> f64 {
        match *self {
            Phase::Open {
                start,
                end,
                from,
                to,
                ..
            } if t >= start && t < end => {
                let d = (end - start).as_secs_f64();
                from + (to - from) * (t - start).as_secs_f64() / d
            }
            _ => 0.0,
        }
    }
}

/// The load shape: every phase in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    pub phases: Vec<Phase>,
}

impl Shape {
    /// Lays the stages end to end. `rate_scale` multiplies rates and
    /// concurrencies (at least one client stays); `duration` stretches or
    /// shrinks every stage so that they add up to it.
    pub fn new(stages: &[Stage], rate_scale: f64, duration: Option<Duration>) -> Shape {
        let natural: Duration = stages.iter().map(stage_duration).sum();
        let stretch = match duration {
            Some(d) if !natural.is_zero() => d.as_secs_f64() / natural.as_secs_f64(),
            _ => 1.0,
        };
        let mut phases = Vec::new();
        let mut t = Duration::ZERO;
        let mut before = 0.0;
        for stage in stages {
            let len = Duration::from_secs_f64(stage_duration(stage).as_secs_f64() * stretch);
            let (start, end) = (t, t + len);
            let phase = match *stage {
                Stage::Constant { rate, .. } => Phase::Open {
                    start,
                    end,
                    from: rate.0 * rate_scale,
                    to: rate.0 * rate_scale,
                    before,
                },
                Stage::Ramp { from, to, .. } => Phase::Open {
                    start,
                    end,
                    from: from.0 * rate_scale,
                    to: to.0 * rate_scale,
                    before,
                },
                Stage::Closed { concurrency, .. } => Phase::Closed {
                    start,
                    end,
                    concurrency: ((concurrency as f64 * rate_scale).round() as u64).max(1),
                },
                Stage::Sockets {
                    sockets,
                    ramp,
                    interval,
                    check,
                    ..
                } => Phase::Sockets {
                    start,
                    end,
                    sockets: ((sockets as f64 * rate_scale).round() as u64).max(1),
                    ramp: Duration::from_secs_f64(ramp.as_secs_f64() * stretch).min(len),
                    interval,
                    check,
                },
            };
            before += phase.arrivals();
            phases.push(phase);
            t = end;
        }
        Shape { phases }
    }

    pub fn total(&self) -> Duration {
        self.phases.last().map(Phase::end).unwrap_or_default()
    }

    /// The intended arrival rate at `t` (per second).
    pub fn rate_at(&self, t: Duration) -> f64 {
        self.phases.iter().map(|p| p.rate_at(t)).sum()
    }

    /// Intended arrivals in `[0, t)`.
    pub fn arrivals_before(&self, t: Duration) -> u64 {
        let mut n = 0.0;
        for p in &self.phases {
            if let Phase::Open {
                start,
                end,
                from,
                to,
                ..
            } = *p
            {
                if t <= start {
                    break;
                }
                let d = (end - start).as_secs_f64();
                let x = (t.min(end) - start).as_secs_f64();
                n += from * x + (to - from) * x * x / (2.0 * d);
            }
        }
        // Arrival i is at N(t) = i, so [0, t) holds ceil(N(t)) of them.
        (n - 1e-9).ceil().max(0.0) as u64
    }

    /// Arrivals of `worker` out of `workers` (i ≡ worker mod workers), in order.
    pub fn arrivals(&self, worker: u64, workers: u64) -> Arrivals<'_> {
        Arrivals {
            shape: self,
            phase: 0,
            next: worker,
            step: workers.max(1),
        }
    }
}

fn stage_duration(s: &Stage) -> Duration {
    match *s {
        Stage::Constant { duration, .. }
        | Stage::Ramp { duration, .. }
        | Stage::Closed { duration, .. }
        | Stage::Sockets { duration, .. } => duration,
    }
}

/// One intended arrival: its global index and its offset from the run's start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Arrival {
    pub index: u64,
    pub at: Duration,
}

/// The intended arrivals of one worker, in time order.
pub struct Arrivals<'a> {
    shape: &'a Shape,
    phase: usize,
    next: u64,
    step: u64,
}

impl Iterator for Arrivals<'_> {
    type Item = Arrival;

    fn next(&mut self) -> Option<Arrival> {
        while let Some(p) = self.shape.phases.get(self.phase) {
            let Phase::Open {
                start,
                end,
                from,
                to,
                before,
            } = *p
            else {
                self.phase += 1;
                continue;
            };
            let k = self.next as f64 - before;
            let d = (end - start).as_secs_f64();
            // Solve from·x + (to − from)·x²/(2d) = k for x ≥ 0, in the form
            // that stays exact when to = from.
            let a = (to - from) / (2.0 * d);
            let disc = from * from + 4.0 * a * k;
            let x = if k <= 0.0 {
                0.0
            } else if disc < 0.0 || from + disc.max(0.0).sqrt() <= 0.0 {
                f64::INFINITY
            } else {
                2.0 * k / (from + disc.sqrt())
            };
            if x.is_finite() && x < d {
                let at = start + Duration::from_secs_f64(x);
                let arrival = Arrival {
                    index: self.next,
                    at,
                };
                self.next += self.step;
                return Some(arrival);
            }
            self.phase += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::plan::Rate;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn constant(rate: f64, s: f64) -> Stage {
        Stage::Constant {
            rate: Rate(rate),
            duration: secs(s),
        }
    }

    #[test]
    fn constant_rate_is_evenly_spaced() {
        let shape = Shape::new(&[constant(200.0, 1.0)], 1.0, None);
        let times: Vec<Duration> = shape.arrivals(0, 1).map(|a| a.at).collect();
        assert_eq!(times.len(), 200);
        for (i, t) in times.iter().enumerate() {
            assert!(
                (t.as_secs_f64() - i as f64 / 200.0).abs() < 1e-9,
                "arrival {i} at {t:?}"
            );
        }
    }

    #[test]
    fn ramp_is_integrated_exactly() {
        // 10/s → 30/s over 10 s: 200 arrivals; N(t) = 10t + t².
        let shape = Shape::new(
            &[Stage::Ramp {
                from: Rate(10.0),
                to: Rate(30.0),
                duration: secs(10.0),
            }],
            1.0,
            None,
        );
        let times: Vec<f64> = shape.arrivals(0, 1).map(|a| a.at.as_secs_f64()).collect();
        assert_eq!(times.len(), 200);
        for (i, t) in times.iter().enumerate() {
            let n = 10.0 * t + t * t;
            assert!((n - i as f64).abs() < 1e-6, "arrival {i} at {t}: N = {n}");
        }
        assert_eq!(shape.arrivals_before(secs(5.0)), 75);
    }

    #[test]
    fn ramp_down_to_zero_ends_cleanly() {
        let shape = Shape::new(
            &[Stage::Ramp {
                from: Rate(100.0),
                to: Rate(0.0),
                duration: secs(2.0),
            }],
            1.0,
            None,
        );
        assert_eq!(shape.arrivals(0, 1).count(), 100);
    }

    #[test]
    fn stage_boundaries_lose_and_duplicate_nothing() {
        let shape = Shape::new(&[constant(10.0, 1.05), constant(20.0, 1.0)], 1.0, None);
        let times: Vec<f64> = shape.arrivals(0, 1).map(|a| a.at.as_secs_f64()).collect();
        // 10.5 arrivals in the first phase: 0, 0.1, …, 1.0 (11), then the
        // 12th at N = 11, half an arrival into the 20/s phase: 1.05 + 0.5/20.
        assert_eq!(times[10], 1.0);
        assert!((times[11] - 1.075).abs() < 1e-9, "{}", times[11]);
        assert_eq!(times.len(), 31);
        assert!(times.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn workers_share_arrivals_without_overlap() {
        let shape = Shape::new(&[constant(1000.0, 1.0)], 1.0, None);
        let mut all: Vec<u64> = (0..3)
            .flat_map(|w| shape.arrivals(w, 3).map(|a| a.index).collect::<Vec<_>>())
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn closed_phases_have_no_arrivals_and_keep_the_timeline() {
        let shape = Shape::new(
            &[
                constant(10.0, 1.0),
                Stage::Closed {
                    concurrency: 64,
                    duration: secs(30.0),
                },
                constant(10.0, 1.0),
            ],
            1.0,
            None,
        );
        let times: Vec<f64> = shape.arrivals(0, 1).map(|a| a.at.as_secs_f64()).collect();
        assert_eq!(times.len(), 20);
        assert!((times[10] - 31.0).abs() < 1e-9);
        assert_eq!(shape.total(), secs(32.0));
    }

    #[test]
    fn overrides_scale_rates_and_fit_the_duration() {
        let shape = Shape::new(
            &[
                constant(200.0, 60.0),
                Stage::Closed {
                    concurrency: 3,
                    duration: secs(60.0),
                },
            ],
            0.5,
            Some(secs(10.0)),
        );
        assert_eq!(shape.total(), secs(10.0));
        assert_eq!(shape.rate_at(secs(1.0)), 100.0);
        assert_eq!(shape.arrivals(0, 1).count(), 500);
        assert!(matches!(
            shape.phases[1],
            Phase::Closed { concurrency: 2, .. }
        ));
    }
}
