//! The load plan: what the engine drives, as a value the scenario builds.
//!
//! Load owns its plan: the scenario validates the `load:` section into a
//! [`LoadPlan`] and nothing here parses text. What a validated plan
//! guarantees: at least one stage, rates positive and finite,
//! `max_in_flight` and `connections` at least 1, `max_streams` from 1 to
//! [`MAX_STREAMS`] (and left at its default over HTTP/1.1), `h2` only
//! towards https targets and `h2c` only towards plain http ones, mix weights finite and
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
    /// What the engine speaks to the loaded targets (`load.http_version`).
    pub http_version: HttpVersion,
    /// The most requests in flight on one HTTP/2 connection
    /// (`load.max_streams`); HTTP/1.1 carries one at a time.
    pub max_streams: u64,
}

/// The most `max_streams` a scenario may give.
pub const MAX_STREAMS: u64 = 1000;
/// `max_streams` when the scenario gives none.
pub const DEFAULT_MAX_STREAMS: u64 = 100;

/// What the load engine speaks to every loaded target (`load.http_version`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HttpVersion {
    /// HTTP/1.1, one request at a time per connection (the default).
    #[default]
    H1,
    /// HTTP/2 over TLS, ALPN `h2` only (https targets).
    H2,
    /// Cleartext HTTP/2 with prior knowledge (plain http targets).
    H2c,
}

impl HttpVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpVersion::H1 => "h1",
            HttpVersion::H2 => "h2",
            HttpVersion::H2c => "h2c",
        }
    }

    /// Whether requests are multiplexed over HTTP/2 connections.
    pub fn is_h2(self) -> bool {
        self != HttpVersion::H1
    }
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
