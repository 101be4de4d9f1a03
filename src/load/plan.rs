//! The load plan: what the engine drives, as a value the scenario builds.
//!
//! Load owns its plan: the scenario validates the `load:` section into a
//! [`LoadPlan`] and nothing here parses text. What a validated plan
//! guarantees: at least one stage, rates positive and finite,
//! `max_in_flight` and `connections` at least 1, mix weights finite and
//! non-negative (every check at weight 1 when the scenario names none),
//! check and target indices valid for the scenario plan it came with, and
//! every duration, rate and count within `scenario::plan::limits` (the
//! one-machine ones lifted tenfold when `force` is set).

use std::time::Duration;

/// An arrival rate in requests per second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate(pub f64);

/// The load section, validated (driven by the load engine).
#[derive(Clone, Debug)]
pub struct LoadPlan {
    pub stages: Vec<Stage>,
    /// Check index and its weight.
    pub mix: Vec<(usize, f64)>,
    pub max_in_flight: u64,
    /// Connections per target (requests beyond wait for one, and that wait counts as latency).
    pub connections: u64,
    pub targets: Vec<usize>,
    pub connection: ConnectionPolicy,
    /// How much of each check's expectation judges its load responses.
    pub judge: Judge,
    /// Sampled parity under load (`load.parity`).
    pub parity: Option<LoadParity>,
    /// The largest WebSocket message a socket stage accepts, in bytes.
    pub websocket_max_message: u64,
    /// `force: true`: the scenario lifted the one-machine limits
    /// (`scenario::plan::limits`) tenfold.
    pub force: bool,
}

/// How much of a check's expectation judges each load response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Judge {
    /// Status, headers and body rules (the default).
    #[default]
    Full,
    /// The status only (`load: { judge: status }`): no body is kept.
    Status,
}

/// `load.parity`: which share of each check's load answers is compared with
/// the baseline target's, and Diffy's two thresholds for reporting a pointer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoadParity {
    /// Share of requests sampled, in (0, 1].
    pub sample: f64,
    /// Minimum `|raw - noise| / (raw + noise)`, in [0, 1] (Diffy: 20 %).
    pub relative: f64,
    /// Minimum `|raw - noise| / sampled`, in [0, 1] (Diffy: 0.03 %).
    pub absolute: f64,
}

impl LoadParity {
    /// Diffy's defaults (`threshold.relative` 20, `threshold.absolute` 0.03, both in percent).
    pub const DEFAULT_RELATIVE: f64 = 0.20;
    pub const DEFAULT_ABSOLUTE: f64 = 0.0003;
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stage {
    Constant {
        rate: Rate,
        duration: Duration,
    },
    Ramp {
        from: Rate,
        to: Rate,
        duration: Duration,
    },
    Closed {
        concurrency: u64,
        duration: Duration,
    },
    /// `sockets` WebSockets of check `check` per target, opened evenly over
    /// `ramp`, each sending its message every `interval`, for `duration`.
    Sockets {
        sockets: u64,
        ramp: Duration,
        interval: Duration,
        check: usize,
        duration: Duration,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionPolicy {
    KeepAlive,
    Fresh,
}
