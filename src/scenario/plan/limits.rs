//! The limits a scenario must stay within for `run` to run it on one machine.
//!
//! Validation refuses, with an error at the value, anything past these; so a
//! validated [`Plan`](super::Plan) is runnable: its clocks do not overflow,
//! its schedule ends on time and its memory is bounded. Two kinds of limit:
//!
//! * Hard limits, for values that break `run` whatever the machine:
//!   - every duration is at most [`MAX_DURATION`] (7 days), and the stages of
//!     the load add up to at most that too. Beyond, `Instant + Duration` and
//!     `Duration::from_secs_f64` overflow (`for: 18446744073709551615s`
//!     panicked in the schedule, an event `at:` that large in the events task);
//!     a week is longer than any cutover rehearsal.
//!   - timeouts, stage lengths and intervals are more than zero (a zero
//!     timeout fails every request; a zero interval panics in tokio's timer);
//!   - a rate is at least [`MIN_RATE`] (1/h), so the gap between two arrivals
//!     or two messages is a representable duration;
//!   - files are regular files no larger than [`MAX_BODY_FILE`] (16 MiB, a
//!     request body) or [`MAX_CA_FILE`] (1 MiB, a PEM bundle: Mozilla's whole
//!     root store is about 200 KiB). A FIFO made `validate` wait for ever and
//!     `/dev/zero` read until memory ran out.
//!   - a WebSocket message cap is between 1 byte and [`MAX_MESSAGE`] (64 MiB,
//!     tungstenite's own default cap).
//! * One-machine limits, lifted by `load: { force: true }` up to ten times
//!   their value ([`FORCE_FACTOR`]; past that the engine's arithmetic or the
//!   machine gives out whatever the scenario says). They come from
//!   `bench/RESULTS.md` (2 cores, 24 GiB):
//!   - [`MAX_RATE`] 1,000,000 arrivals/s (per stage, and sockets × message
//!     rate): ten times what one machine paced here (~100,000/s); at 1e8/s the
//!     pacer fell behind and the stage ran on past its end;
//!   - [`MAX_CONCURRENCY`] 10,000 closed-model clients: each costs about
//!     6.5 KiB (100,000 took 648 MB), so about 65 MB;
//!   - [`MAX_IN_FLIGHT`] 50,000 open-model requests in flight, each about a
//!     closed client's worth, about 330 MB at the worst;
//!   - [`MAX_CONNECTIONS`] 10,000 connections per target, as many as closed
//!     clients (each is a file descriptor and kernel socket buffers);
//!   - [`MAX_SOCKETS`] 25,000 WebSockets per target: Linux's default
//!     ephemeral port range gives 28,232 ports towards one address, and each
//!     socket costs about 14 KiB here (2,000 sockets peaked at 29 MiB).
//!
//! DNS checks have hard limits of the same size: a rate of at most
//! [`MAX_RATE`] and at most [`MAX_CONCURRENCY`] queries at once.

use std::time::Duration;

use crate::load::plan::{LoadPlan, Stage};

/// The longest duration a scenario may give, and the longest load.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);
/// How `MAX_DURATION` reads in messages.
pub const MAX_DURATION_TEXT: &str = "7 days";
/// The lowest rate (per second): one an hour.
pub const MIN_RATE: f64 = 1.0 / 3600.0;
/// The highest arrival rate (per second) on one machine.
pub const MAX_RATE: f64 = 1_000_000.0;
/// The most closed-model clients on one machine.
pub const MAX_CONCURRENCY: u64 = 10_000;
/// The most open-model requests in flight on one machine.
pub const MAX_IN_FLIGHT: u64 = 50_000;
/// The most connections per target.
pub const MAX_CONNECTIONS: u64 = 10_000;
/// The most WebSockets held open per target.
pub const MAX_SOCKETS: u64 = 25_000;
/// How far `force: true` lifts the one-machine limits.
pub const FORCE_FACTOR: u64 = 10;
/// The largest `body_file`.
pub const MAX_BODY_FILE: u64 = 16 << 20;
/// The largest CA bundle.
pub const MAX_CA_FILE: u64 = 1 << 20;
/// The largest WebSocket message cap.
pub const MAX_MESSAGE: u64 = 64 << 20;
/// A `websocket:` check's message cap when it sets none.
pub const DEFAULT_CHECK_MAX_MESSAGE: u64 = 16 << 20;
/// A load stage's WebSocket message cap when `load:` sets none: sockets
/// are many, so each may hold little.
pub const DEFAULT_LOAD_MAX_MESSAGE: u64 = 64 << 10;
/// How long a held WebSocket waits for the pong to its ping by default.
pub const DEFAULT_PONG_TIMEOUT: Duration = Duration::from_secs(10);

/// A one-machine limit on a count: its name in messages, the limit, and why.
#[derive(Clone, Copy, Debug)]
pub struct CountLimit {
    pub field: &'static str,
    pub max: u64,
    /// What going past it costs, the end of a sentence.
    pub why: &'static str,
}

pub const CONCURRENCY: CountLimit = CountLimit {
    field: "concurrency",
    max: MAX_CONCURRENCY,
    why: "each client holds about 6.5 KiB, and one machine paces ~100,000 requests/s with a few hundred",
};
pub const IN_FLIGHT: CountLimit = CountLimit {
    field: "max_in_flight",
    max: MAX_IN_FLIGHT,
    why: "each request in flight holds memory until it ends",
};
pub const CONNECTIONS: CountLimit = CountLimit {
    field: "connections",
    max: MAX_CONNECTIONS,
    why: "each connection is a file descriptor and kernel socket buffers",
};
pub const SOCKETS: CountLimit = CountLimit {
    field: "sockets",
    max: MAX_SOCKETS,
    why:
        "one address takes about 28,000 ports from one machine, and each socket holds about 14 KiB",
};

impl CountLimit {
    /// `None` when `n` is within the limit (`force` lifts it by [`FORCE_FACTOR`]),
    /// else the error.
    pub fn check(&self, n: u64, force: bool) -> Option<String> {
        let field = self.field;
        let max = self.max;
        if n <= max {
            None
        } else if !force {
            Some(format!(
                "`{field}: {n}` is more than {max}, the most one machine runs ({}): lower it, or set `force: true` under `load:` to run it anyway",
                self.why
            ))
        } else if n > max * FORCE_FACTOR {
            Some(format!(
                "`{field}: {n}` is more than {}, the most even `force: true` allows: split the load across machines",
                max * FORCE_FACTOR
            ))
        } else {
            None
        }
    }
}

/// `None` when `per_second` is within [`MAX_RATE`] (lifted by `force`), else
/// the error; `what` names the rate (`rate `200/s``).
pub fn check_rate(what: &str, per_second: f64, force: bool) -> Option<String> {
    let max = MAX_RATE;
    if per_second <= max {
        None
    } else if !force {
        Some(format!(
            "{what} is more than {max}/s, the most one machine paces (beyond, the schedule falls behind and the stage runs past its end): lower it, or set `force: true` under `load:` to run it anyway"
        ))
    } else if per_second > max * FORCE_FACTOR as f64 {
        Some(format!(
            "{what} is more than {}/s, the most even `force: true` allows: split the load across machines",
            max * FORCE_FACTOR as f64
        ))
    } else {
        None
    }
}

/// The first limit the load breaks after `--rate-scale` multiplies its rates,
/// concurrencies and sockets (as `load::schedule::Shape::new` does), or
/// `None`. For the command line, which knows the factor: the plan alone was
/// checked at factor 1.
pub fn check_scaled(load: &LoadPlan, rate_scale: f64) -> Option<String> {
    let scaled = |n: u64| (n as f64 * rate_scale).round().max(1.0) as u64;
    let advice = |e: String| format!("with --rate-scale {rate_scale}, {e}");
    for stage in &load.stages {
        let problem = match *stage {
            Stage::Constant { rate, .. } => {
                check_rate("the stage's rate", rate.0 * rate_scale, load.force)
            }
            Stage::Ramp { from, to, .. } => check_rate(
                "the ramp's top rate",
                from.0.max(to.0) * rate_scale,
                load.force,
            ),
            Stage::Closed { concurrency, .. } => CONCURRENCY.check(scaled(concurrency), load.force),
            Stage::Sockets {
                sockets, interval, ..
            } => SOCKETS.check(scaled(sockets), load.force).or_else(|| {
                check_rate(
                    "the sockets' message rate",
                    scaled(sockets) as f64 / interval.as_secs_f64(),
                    load.force,
                )
            }),
        };
        if problem.is_some() {
            return problem.map(advice);
        }
    }
    None
}

/// The most requests a `rate_limit:` check sends without `force: true`:
/// a probe of production, not load.
pub const MAX_RATE_LIMIT_COUNT: u64 = 500;
/// The fastest a `rate_limit:` check sends without `force: true`.
pub const MAX_RATE_LIMIT_RATE: f64 = 200.0;
/// The largest `size` a `body_limit:` check uploads around.
pub const MAX_BODY_LIMIT_SIZE: u64 = 64 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn force_lifts_a_count_limit_tenfold_and_no_further() {
        assert_eq!(CONCURRENCY.check(MAX_CONCURRENCY, false), None);
        let refused = CONCURRENCY.check(MAX_CONCURRENCY + 1, false).unwrap();
        assert!(refused.contains("force: true"), "{refused}");
        assert_eq!(CONCURRENCY.check(MAX_CONCURRENCY + 1, true), None);
        let ceiling = CONCURRENCY.check(MAX_CONCURRENCY * 10 + 1, true).unwrap();
        assert!(ceiling.contains("even `force: true`"), "{ceiling}");
    }

    #[test]
    fn a_rate_scale_that_pushes_a_stage_past_the_limits_is_named() {
        let load = LoadPlan {
            stages: vec![Stage::Constant {
                rate: crate::load::plan::Rate(200_000.0),
                duration: Duration::from_secs(1),
            }],
            mix: vec![(0, 1.0)],
            max_in_flight: 1024,
            connections: 256,
            targets: vec![0],
            connection: crate::load::plan::ConnectionPolicy::KeepAlive,
            judge: crate::load::plan::Judge::Full,
            parity: None,
            websocket_max_message: DEFAULT_LOAD_MAX_MESSAGE,
            force: false,
            http_version: crate::load::plan::HttpVersion::H1,
            max_streams: crate::load::plan::DEFAULT_MAX_STREAMS,
        };
        assert_eq!(check_scaled(&load, 5.0), None);
        let e = check_scaled(&load, 6.0).unwrap();
        assert!(
            e.starts_with("with --rate-scale 6, the stage's rate"),
            "{e}"
        );
    }
}
