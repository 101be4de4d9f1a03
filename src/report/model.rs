//! The one canonical report model, written as `report.json`.
//!
//! Versioned by [`SCHEMA_VERSION`]; `reports/schema/report.schema.json`
//! describes it and every report the tests write is validated against that
//! schema. Renderers read only this model: the verdict in it is the one the
//! analyzers judged, typed ([`Finding`], [`Details`]), so no renderer reads an
//! untyped key or decides what failed. Field names are stable: add fields,
//! never rename them without bumping the schema version.
//!
//! Version 2 (this one) replaced version 1's free-form finding `severity` and
//! `details` with typed levels, kinds, evidence and details.

use serde::{Deserialize, Serialize};

pub use super::stats::{MessageStats, Quantiles, SecondStats, Stats};
pub use crate::analyze::cors::CorsHeaders;
pub use crate::analyze::dns::Split;
pub use crate::analyze::finding::{Evidence, Finding, FindingKind, Level};
pub use crate::analyze::verdict::{CheckVerdict as Verdict, RunStatus};
use crate::probe::{ErrorKind, Origin};
pub use crate::run::recorded::{EventRecord, Mode};
use crate::target::{Proxy, Role, Scheme};

pub const SCHEMA_VERSION: u32 = 2;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    pub mode: Mode,
    pub scenario: ScenarioInfo,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub ended_at: String,
    pub duration_ms: u64,
    pub status: RunStatus,
    /// `pass` or `fail`: fail exactly when a finding is at level `fail`.
    pub verdict: Verdict,
    pub targets: Vec<TargetInfo>,
    pub checks: Vec<CheckReport>,
    pub findings: Vec<Finding>,
    /// The load phase of `run` (absent for `check`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadReport>,
    /// What `cutover watch` saw over the shift (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<WatchReport>,
}

/// What a watch saw: its settings, alerts and traffic over time, bounded
/// for any length of watch (per-minute points for the last day, per-hour
/// before; the last [`crate::analyze::alerts::HISTORY_KEPT`] alert changes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchReport {
    /// Requests per second per target.
    pub rate: f64,
    /// Seconds between check passes.
    pub every_s: u64,
    /// The rolling windows, in seconds.
    pub windows_s: Vec<u64>,
    /// Check passes run so far.
    pub check_passes: u64,
    /// Watch requests not sent because a target already had the most in
    /// flight (a target that stopped answering).
    pub dropped: u64,
    /// Alerts raised now.
    pub active: Vec<ActiveAlert>,
    /// Alert changes, oldest first.
    pub alerts: Vec<crate::analyze::alerts::AlertChange>,
    /// Changes older than the kept ones.
    pub alerts_dropped: u64,
    /// Raises per rule over the whole watch.
    pub raised: std::collections::BTreeMap<String, u64>,
    /// Events and marks (with weight changes), the last ones kept.
    pub events: Vec<WatchEvent>,
    /// Traffic per target over time.
    pub timeline: Vec<WatchPoint>,
}

/// An alert raised now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActiveAlert {
    pub rule: crate::analyze::alerts::Rule,
    pub target: Option<String>,
    pub check: Option<String>,
    /// Unix seconds.
    pub since: u64,
    pub message: String,
}

/// An event or mark on the watch's timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchEvent {
    /// Unix seconds.
    pub at: u64,
    pub name: String,
    /// The DNS weights expected from then on, when the mark set them.
    pub weights: Option<std::collections::BTreeMap<String, f64>>,
}

/// One target's traffic over one minute (or hour).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchPoint {
    /// Unix seconds of its start.
    pub at: u64,
    pub seconds: u64,
    pub target: String,
    pub requests: u64,
    pub failed: u64,
    pub s503: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// What the load engine recorded, per target and per check.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoadReport {
    pub started_at: String,
    pub duration_ms: u64,
    pub interrupted: bool,
    pub workers: usize,
    /// `keepalive` or `fresh`.
    pub connection: String,
    pub max_in_flight: u64,
    /// Connections per target.
    pub connections: u64,
    /// `h2` or `h2c` when the load spoke HTTP/2 (`load.http_version`);
    /// absent for HTTP/1.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_version: Option<String>,
    /// The most streams in flight per HTTP/2 connection; absent for HTTP/1.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_streams: Option<u64>,
    pub stages: Vec<StageInfo>,
    pub targets: Vec<TargetLoad>,
    /// Events on the load's timeline (scenario `events:`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventRecord>,
    /// DNS checks sampled again during the load: the split over time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<DnsSeries>,
    /// One shard of a sharded run (`--shard i/n`): which, and on which host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardTag>,
    /// `--rate-scale` the stages were scaled by.
    #[serde(default = "one")]
    pub rate_scale: f64,
    /// `--duration` the stages were fitted into, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit_ms: Option<u64>,
    /// The shard reports `cutover merge` combined into this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged: Vec<MergedShard>,
}

fn one() -> f64 {
    1.0
}

/// One shard report of a merged run, and where its timeline went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MergedShard {
    pub index: u64,
    pub host: String,
    /// When its load started (RFC 3339, UTC).
    pub started_at: String,
    /// Whole seconds its timeline was moved by to line up on the wall
    /// clock with the earliest shard's.
    pub offset_s: u64,
    /// The report it was read from.
    pub path: String,
}

/// Which shard a report is, for `cutover merge` and for people.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardTag {
    /// 0-based.
    pub index: u64,
    pub count: u64,
    /// The machine (or pod) that ran it.
    pub host: String,
}

/// One DNS check's split, sampled repeatedly during the load.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DnsSeries {
    pub check: String,
    /// The machine that sampled it, in a merged run (each shard sees DNS
    /// from its own network).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub points: Vec<DnsPoint>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DnsPoint {
    /// Seconds since the load started.
    pub at_s: f64,
    pub answered: u64,
    /// Target → observed share (0..1).
    pub shares: std::collections::BTreeMap<String, f64>,
    pub p_value: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StageInfo {
    /// `constant`, `ramp` or `closed`.
    pub kind: String,
    pub start_s: f64,
    pub duration_s: f64,
    /// Requests per second at the start and end (open stages).
    pub from_rate: Option<f64>,
    pub to_rate: Option<f64>,
    pub concurrency: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TargetLoad {
    pub target: String,
    /// Arrivals the open stages intended for this target (sent + dropped).
    pub intended: u64,
    pub intended_rate: f64,
    /// Completed requests per second over the load's duration.
    pub achieved_rate: f64,
    pub totals: Stats,
    pub checks: Vec<CheckLoad>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckLoad {
    pub check: String,
    pub achieved_rate: f64,
    pub totals: Stats,
    /// One entry per second that saw a request or a drop.
    pub series: Vec<SecondStats>,
    /// Sampled parity (`load.parity`): what was counted, for a merge to add up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parity: Option<ParityCounts>,
}

/// The counts behind sampled parity under load.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ParityCounts {
    /// Sampled requests whose three answers were compared.
    pub sampled: u64,
    /// JSON pointer → differences from the baseline (`raw`) and among the
    /// baseline's own answers (`noise`).
    pub pointers: std::collections::BTreeMap<String, PointerCounts>,
    /// Differences at pointers past the tracked ones.
    pub untracked: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PointerCounts {
    pub raw: u64,
    pub noise: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScenarioInfo {
    pub name: String,
    pub path: String,
    pub sha256: String,
    pub host: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TargetInfo {
    pub name: String,
    pub role: Role,
    pub proxy: Proxy,
    pub connect: String,
    pub host: String,
    pub scheme: Scheme,
    /// Certificates were not verified for this target.
    pub tls_insecure: bool,
    /// The CA file trusted for this target, if any.
    pub ca: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckReport {
    pub name: String,
    pub kind: CheckKind,
    /// `GET /api/items`.
    pub request: String,
    pub verdict: Verdict,
    pub results: Vec<TargetResult>,
}

/// One check against one target.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TargetResult {
    pub target: String,
    pub verdict: Verdict,
    pub url: String,
    pub status: Option<u16>,
    pub origin: Option<Origin>,
    /// The signature that decided the origin.
    pub origin_reason: Option<String>,
    pub latency_ms: f64,
    pub ttfb_ms: Option<f64>,
    pub body_bytes: Option<u64>,
    pub body_sha256: Option<String>,
    pub body_truncated: bool,
    /// The first KiB of the body (lossy UTF-8, redacted like every string),
    /// for checks that compare bodies, so a saved run shows what was compared.
    #[serde(default)]
    pub body_prefix: Option<String>,
    /// The response headers the check looked at, plus a few that identify the path.
    pub headers: Vec<Header>,
    pub error: Option<ErrorInfo>,
    /// The messages of the findings that fail this result, as sentences.
    pub failures: Vec<String>,
    /// Kind-specific details: WebSocket messages and hold, CORS answers, DNS split.
    #[serde(default)]
    pub details: Option<Details>,
    /// The HTTP version the answer came over (`http/1.1`, `h2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_version: Option<crate::probe::Protocol>,
}

/// What kind of probe a check is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    Http,
    Websocket,
    Cors,
    Dns,
    RateLimit,
    BodyLimit,
    RouteTimeout,
    Redirect,
    ForwardedHeaders,
    Hostnames,
    Grpc,
}

impl CheckKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Http => "http",
            CheckKind::Websocket => "websocket",
            CheckKind::Cors => "cors",
            CheckKind::Dns => "dns",
            CheckKind::RateLimit => "rate_limit",
            CheckKind::BodyLimit => "body_limit",
            CheckKind::RouteTimeout => "route_timeout",
            CheckKind::Redirect => "redirect",
            CheckKind::ForwardedHeaders => "forwarded_headers",
            CheckKind::Hostnames => "hostnames",
            CheckKind::Grpc => "grpc",
        }
    }
}

/// Kind-specific details of one result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Details {
    Websocket(WebsocketDetails),
    Cors(Box<CorsDetails>),
    Dns(Split),
    RateLimit(RateLimitDetails),
    BodyLimit(BodyLimitDetails),
    RouteTimeout(Answer),
    Redirect(Answer),
    ForwardedHeaders(ForwardedDetails),
    Hostnames(HostnamesDetails),
    Grpc(GrpcDetails),
}

/// How a gRPC call ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GrpcDetails {
    /// `UNAVAILABLE`.
    pub code: crate::probe::grpc::Code,
    pub code_number: u32,
    /// `grpc-message`, decoded.
    pub message: String,
    /// The HTTP status the code was derived from (no `grpc-status` came).
    pub from_http: Option<u16>,
    /// Messages answered (all, for a stream).
    pub messages: u64,
    /// The status came in the headers, with no body (what Envoy's own replies do).
    pub trailers_only: bool,
    pub trailers: Vec<Header>,
}

/// A hostname-variant probe's answers, the host as written first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostnamesDetails {
    pub variants: Vec<HostVariantDetails>,
}

/// One Host variant: how it was written, the Host sent, the answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostVariantDetails {
    /// `as_written`, `trailing_dot`, `upper_case` or `port`.
    pub variant: String,
    pub host: String,
    pub answer: Answer,
}

/// One answer of a behaviour probe: status, who produced it, when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// `None`: no answer (see `error`).
    pub status: Option<u16>,
    pub origin: Option<Origin>,
    pub after_ms: f64,
    /// The `Location` of a redirect.
    pub location: Option<String>,
    pub error: Option<ErrorKind>,
}

/// A rate-limit probe's bursts, one per source address.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateLimitDetails {
    /// Requests sent over every burst (never more than the check's `count`).
    pub sent: u32,
    /// `per_client`, `shared` or `unknown`.
    pub bucket: String,
    pub bursts: Vec<BurstDetails>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BurstDetails {
    /// The source address bound, `None` for the system's choice.
    pub source: Option<String>,
    pub sent: u32,
    /// Answers before the first limited one.
    pub passed: u32,
    /// 1-based position of the first limited answer.
    pub first_limited: Option<u32>,
    /// The first limited answer.
    pub limited: Option<Answer>,
    pub errors: u32,
    /// Status → count over the burst.
    pub statuses: std::collections::BTreeMap<String, u32>,
}

/// A body-limit probe's two uploads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BodyLimitDetails {
    /// The limit probed, in bytes.
    pub size: u64,
    pub below_bytes: u64,
    pub below: Answer,
    pub above_bytes: u64,
    pub above: Answer,
}

/// What the backend received through one target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForwardedDetails {
    /// The forwarded headers received (name → value).
    pub received: std::collections::BTreeMap<String, String>,
    /// Why the echo could not be read, when it could not.
    pub unreadable: Option<String>,
}

/// A WebSocket probe: the upgrade, each message exchanged, how a hold ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebsocketDetails {
    pub upgraded: bool,
    pub subprotocol: Option<String>,
    pub messages: Vec<WebsocketMessage>,
    pub rtt: Quantiles,
    pub ended: Option<WebsocketEnd>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebsocketMessage {
    pub sent: String,
    pub rtt_ms: Option<f64>,
    pub failure: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebsocketEnd {
    pub after_ms: f64,
    pub how: String,
}

/// A CORS probe's three answers, normalised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorsDetails {
    pub preflight: CorsHeaders,
    pub negative: Option<CorsHeaders>,
    pub actual: Option<CorsHeaders>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorInfo {
    pub kind: ErrorKind,
    pub message: String,
}

impl LoadReport {
    /// Which part of a sharded run this is, in a sentence: `shard 1 of 4, on
    /// pod-b`, or what a merged report was merged from; `None` for a run of
    /// one process.
    pub fn provenance(&self) -> Option<String> {
        if let Some(t) = &self.shard {
            return Some(format!(
                "shard {} of {}, on {}: this load is its share only; `cutover merge` combines the shards",
                t.index, t.count, t.host
            ));
        }
        if self.merged.is_empty() {
            return None;
        }
        let parts: Vec<String> = self
            .merged
            .iter()
            .map(|m| match m.offset_s {
                0 => format!("shard {} on {}", m.index, m.host),
                o => format!("shard {} on {} (+{o} s)", m.index, m.host),
            })
            .collect();
        Some(format!(
            "merged from {} shards ({}), timelines aligned on the wall clock",
            self.merged.len(),
            parts.join(", ")
        ))
    }

    /// What the load spoke: `HTTP/1.1`, or `h2, at most 100 streams per connection`.
    pub fn wire(&self) -> String {
        match (&self.http_version, self.max_streams) {
            (Some(v), Some(n)) => format!("{v}, at most {n} streams per connection"),
            (Some(v), None) => v.clone(),
            _ => "HTTP/1.1".to_owned(),
        }
    }

    /// Every loaded check's name, in first-seen order.
    pub fn check_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for t in &self.targets {
            for c in &t.checks {
                if !names.contains(&c.check.as_str()) {
                    names.push(&c.check);
                }
            }
        }
        names
    }
}

impl TargetResult {
    /// What answered, for the check tables: the HTTP status, or for a gRPC
    /// call its code (`UNAVAILABLE`, or `502 → UNAVAILABLE` when a client
    /// derives it from the HTTP status); `None` when nothing answered.
    pub fn status_text(&self) -> Option<String> {
        let status = self.status?;
        Some(match &self.details {
            Some(Details::Grpc(g)) => match g.from_http {
                Some(h) => format!("{h} → {}", g.code.name()),
                None => g.code.name().to_owned(),
            },
            _ => status.to_string(),
        })
    }
}

/// Requests that failed under load: transport errors and answers the
/// check's expectation rejects (plus those cancelled at a stop).
pub fn failed(stats: &Stats) -> u64 {
    stats.failed + stats.cancelled
}
