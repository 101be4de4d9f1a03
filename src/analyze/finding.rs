//! Findings: what the analyzers conclude, typed.
//!
//! A [`Finding`] has a [`FindingKind`] (serialized as a stable snake_case
//! name, listed in the report's JSON Schema), a [`Level`], the check and
//! target it concerns, one sentence with the numbers, an optional hint, and
//! optional typed [`Evidence`] for the judgements that rest on numbers.
//!
//! Levels: `fail` fails the run (exit 1), `warn` is shown everywhere but does
//! not change the exit code, `info` is context, `inconclusive` is a
//! statistical judgement without enough data (never a pass or a fail), and
//! `accepted` is a finding the scenario's `known_differences` accepted, with
//! the reason kept beside it.

use serde::{Deserialize, Serialize};

/// Stable identifier of a finding's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A response did not satisfy the check's `expect` block.
    Expectation,
    /// A target gave no response at all (transport error).
    ProbeError,
    /// A WebSocket message exchange or hold failed.
    Websocket,
    /// A CORS rule of the check failed.
    Cors,
    /// A target answered differently from the baseline target.
    Parity,
    /// What varies between the baseline target's own answers (listed, not
    /// compared), or a raw body too unstable to compare (inconclusive).
    ParityNoise,
    /// The gateway had no route for a path of a host it routes.
    RouteMiss,
    /// The gateway had no route for the production host.
    HostnameMismatch,
    /// The gateway's backend had no ready endpoints.
    NoHealthyUpstream,
    /// The gateway's upstream connection was reset or refused.
    UpstreamReset,
    /// The gateway refused a WebSocket upgrade the baseline accepted.
    WebsocketRefused,
    /// A rate limit answers, starts or exists differently from the baseline's.
    RateLimit,
    /// One rate-limit bucket shared by every client where the baseline
    /// limits per client (or the reverse, or not known).
    RateLimitShared,
    /// An upload one target accepts and the other refuses with 413.
    BodyLimit,
    /// A slow request timed out on one target and not the other, or much sooner.
    RouteTimeout,
    /// A plain-HTTP request redirected differently.
    Redirect,
    /// Forwarded headers the backend gets through one target only, or with
    /// another meaning.
    ForwardedHeaders,
    /// The DNS split differs from the expected weights.
    DnsWeights,
    /// A weight-0 record was returned.
    DnsWeightZero,
    /// An answer matched no target.
    DnsUnknownAnswer,
    /// A private (non-routable) address was published.
    DnsPrivateAnswer,
    /// A TTL longer than allowed.
    DnsTtl,
    /// Queries failed.
    DnsErrors,
    /// The DNS split moved during the run.
    DnsSplitChanged,
    /// Requests failed under load.
    LoadErrors,
    /// Sampled under load, a pointer differed from the baseline's answers
    /// more often than the baseline's answers differ among themselves.
    LoadParity,
    /// A target was slower than the baseline target in this run.
    LatencyRegression,
    /// A target was slower than in a saved baseline run.
    BaselineRegression,
    /// A run of seconds with 503s above the rule, after an event or unexplained.
    #[serde(rename = "spike_503")]
    Spike503,
    /// A 503 rate elevated from the start and all along: no spike.
    SustainedErrors,
    /// A status class one target answers under load and the other does not.
    StatusClassDifference,
    /// An `analysis.thresholds` rule was breached.
    Threshold,
    /// The abort rail stopped the load.
    Aborted,
    /// An event's command failed or timed out.
    EventFailed,
    /// A `known_differences` entry matched no finding.
    UnusedKnownDifference,
    /// The shards of a merged run judged a check differently.
    ShardsDisagree,
    /// A target answered over another HTTP version than the baseline (ALPN).
    HttpVersion,
}

impl FindingKind {
    /// Every kind, in the order reports list them.
    pub const ALL: [FindingKind; 37] = [
        FindingKind::Expectation,
        FindingKind::ProbeError,
        FindingKind::Websocket,
        FindingKind::Cors,
        FindingKind::Parity,
        FindingKind::ParityNoise,
        FindingKind::RouteMiss,
        FindingKind::HostnameMismatch,
        FindingKind::NoHealthyUpstream,
        FindingKind::UpstreamReset,
        FindingKind::WebsocketRefused,
        FindingKind::RateLimit,
        FindingKind::RateLimitShared,
        FindingKind::BodyLimit,
        FindingKind::RouteTimeout,
        FindingKind::Redirect,
        FindingKind::ForwardedHeaders,
        FindingKind::DnsWeights,
        FindingKind::DnsWeightZero,
        FindingKind::DnsUnknownAnswer,
        FindingKind::DnsPrivateAnswer,
        FindingKind::DnsTtl,
        FindingKind::DnsErrors,
        FindingKind::DnsSplitChanged,
        FindingKind::LoadErrors,
        FindingKind::LoadParity,
        FindingKind::LatencyRegression,
        FindingKind::BaselineRegression,
        FindingKind::Spike503,
        FindingKind::SustainedErrors,
        FindingKind::StatusClassDifference,
        FindingKind::Threshold,
        FindingKind::Aborted,
        FindingKind::EventFailed,
        FindingKind::UnusedKnownDifference,
        FindingKind::ShardsDisagree,
        FindingKind::HttpVersion,
    ];

    /// The stable name, as in report.json and `known_differences`.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Expectation => "expectation",
            FindingKind::ProbeError => "probe_error",
            FindingKind::Websocket => "websocket",
            FindingKind::Cors => "cors",
            FindingKind::Parity => "parity",
            FindingKind::ParityNoise => "parity_noise",
            FindingKind::RouteMiss => "route_miss",
            FindingKind::HostnameMismatch => "hostname_mismatch",
            FindingKind::NoHealthyUpstream => "no_healthy_upstream",
            FindingKind::UpstreamReset => "upstream_reset",
            FindingKind::WebsocketRefused => "websocket_refused",
            FindingKind::RateLimit => "rate_limit",
            FindingKind::RateLimitShared => "rate_limit_shared",
            FindingKind::BodyLimit => "body_limit",
            FindingKind::RouteTimeout => "route_timeout",
            FindingKind::Redirect => "redirect",
            FindingKind::ForwardedHeaders => "forwarded_headers",
            FindingKind::DnsWeights => "dns_weights",
            FindingKind::DnsWeightZero => "dns_weight_zero",
            FindingKind::DnsUnknownAnswer => "dns_unknown_answer",
            FindingKind::DnsPrivateAnswer => "dns_private_answer",
            FindingKind::DnsTtl => "dns_ttl",
            FindingKind::DnsErrors => "dns_errors",
            FindingKind::DnsSplitChanged => "dns_split_changed",
            FindingKind::LoadErrors => "load_errors",
            FindingKind::LoadParity => "load_parity",
            FindingKind::LatencyRegression => "latency_regression",
            FindingKind::BaselineRegression => "baseline_regression",
            FindingKind::Spike503 => "spike_503",
            FindingKind::SustainedErrors => "sustained_errors",
            FindingKind::StatusClassDifference => "status_class_difference",
            FindingKind::Threshold => "threshold",
            FindingKind::Aborted => "aborted",
            FindingKind::EventFailed => "event_failed",
            FindingKind::UnusedKnownDifference => "unused_known_difference",
            FindingKind::ShardsDisagree => "shards_disagree",
            FindingKind::HttpVersion => "http_version",
        }
    }

    /// The kind with this stable name.
    pub fn parse(name: &str) -> Option<FindingKind> {
        FindingKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether this kind judges one check against one target in the check
    /// pass (it then decides that check × target's verdict).
    pub fn is_check_pass(self) -> bool {
        !matches!(
            self,
            FindingKind::LoadErrors
                | FindingKind::LoadParity
                | FindingKind::LatencyRegression
                | FindingKind::BaselineRegression
                | FindingKind::Spike503
                | FindingKind::DnsSplitChanged
                | FindingKind::SustainedErrors
                | FindingKind::StatusClassDifference
                | FindingKind::Threshold
                | FindingKind::Aborted
                | FindingKind::EventFailed
                | FindingKind::UnusedKnownDifference
                | FindingKind::ShardsDisagree
        )
    }

    /// A short noun for headlines, singular and plural.
    pub fn noun(self) -> (&'static str, &'static str) {
        match self {
            FindingKind::Threshold => ("threshold breached", "thresholds breached"),
            FindingKind::Spike503 => ("503 spike", "503 spikes"),
            FindingKind::SustainedErrors => ("sustained error rate", "sustained error rates"),
            FindingKind::DnsSplitChanged => ("DNS split change", "DNS split changes"),
            FindingKind::StatusClassDifference => {
                ("status class difference", "status class differences")
            }
            FindingKind::LatencyRegression => ("latency regression", "latency regressions"),
            FindingKind::BaselineRegression => (
                "regression against the baseline",
                "regressions against the baseline",
            ),
            FindingKind::LoadErrors => ("check failing under load", "checks failing under load"),
            FindingKind::LoadParity => (
                "difference sampled under load",
                "differences sampled under load",
            ),
            FindingKind::Aborted => ("abort", "aborts"),
            FindingKind::RateLimit => ("rate-limit difference", "rate-limit differences"),
            FindingKind::RateLimitShared => {
                ("shared rate-limit bucket", "shared rate-limit buckets")
            }
            FindingKind::BodyLimit => ("body-size limit difference", "body-size limit differences"),
            FindingKind::RouteTimeout => ("route timeout difference", "route timeout differences"),
            FindingKind::Redirect => ("redirect difference", "redirect differences"),
            FindingKind::ForwardedHeaders => (
                "forwarded-header difference",
                "forwarded-header differences",
            ),
            FindingKind::EventFailed => ("event failed", "events failed"),
            FindingKind::UnusedKnownDifference => {
                ("unused known difference", "unused known differences")
            }
            FindingKind::ShardsDisagree => ("shard disagreement", "shard disagreements"),
            FindingKind::HttpVersion => ("HTTP version difference", "HTTP version differences"),
            _ => ("finding", "findings"),
        }
    }
}

impl std::fmt::Display for FindingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much a finding matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Fails the run.
    Fail,
    /// Shown everywhere; does not fail the run.
    Warn,
    /// A statistical judgement without enough data: neither pass nor fail.
    Inconclusive,
    /// Accepted by the scenario's `known_differences` (the reason is kept).
    Accepted,
    /// Context.
    Info,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Fail => "fail",
            Level::Warn => "warn",
            Level::Inconclusive => "inconclusive",
            Level::Accepted => "accepted",
            Level::Info => "info",
        }
    }
}

/// Something a user must look at.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub level: Level,
    /// The check it concerns; `None` for findings about the whole run
    /// (thresholds, abort, events, spikes over all checks).
    pub check: Option<String>,
    /// The target it concerns; `None` for findings about every target.
    pub target: Option<String>,
    /// A full sentence with the numbers or values involved.
    pub message: String,
    /// What to do about it, when we know.
    pub hint: Option<String>,
    /// The numbers behind a judgement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    /// Why the scenario accepts this difference (`known_differences`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<String>,
    /// Commands that send the same request through each target (parity).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reproduce: Vec<Reproduce>,
}

/// A ready-to-run command sending a check's request through one target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reproduce {
    pub target: String,
    /// A curl line; credentials only as `${VAR}` or `[redacted]`.
    pub command: String,
}

impl Finding {
    /// A finding without hint or evidence.
    pub fn new(
        kind: FindingKind,
        level: Level,
        check: Option<&str>,
        target: Option<&str>,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            kind,
            level,
            check: check.map(str::to_owned),
            target: target.map(str::to_owned),
            message: message.into(),
            hint: None,
            evidence: None,
            accepted: None,
            reproduce: Vec::new(),
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Finding {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_evidence(mut self, evidence: Evidence) -> Finding {
        self.evidence = Some(evidence);
        self
    }

    /// Fails the run.
    pub fn fails(&self) -> bool {
        self.level == Level::Fail
    }
}

/// The numbers behind a judgement, by kind of judgement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Evidence {
    /// A value against the baseline target's value for the same rule.
    Compared {
        /// What was compared: `status`, `header:content-type`, `body`.
        what: String,
        baseline_target: String,
        baseline: String,
        target: String,
    },
    /// A parity difference by JSON pointer (or header), with the noise
    /// learned from the baseline's own answers.
    Parity {
        /// `body`, `header:set-cookie`, `status`.
        what: String,
        baseline_target: String,
        /// The first differing leaves, with both values.
        differences: Vec<PointerDiff>,
        /// Differing leaves not listed.
        unlisted: u64,
        /// `/served_at varies between ingress answers`: not compared.
        noise: Vec<String>,
    },
    /// Sampled parity under load: per pointer, how often the target's answer
    /// differed from the baseline's (raw) against how often two baseline
    /// answers differed (noise), Diffy's way.
    ParityCounts {
        baseline_target: String,
        /// Sampled requests compared.
        sampled: u64,
        /// Minimum `|raw - noise| / (raw + noise)` (0..1) to report.
        relative_threshold: f64,
        /// Minimum `|raw - noise| / sampled` (0..1) to report.
        absolute_threshold: f64,
        pointers: Vec<PointerCounts>,
    },
    /// A measured value against a limit.
    Limit {
        /// `error_ratio`, `server_error_ratio`, `p99_ms`.
        metric: String,
        observed: f64,
        limit: f64,
        /// Requests it was measured on.
        n: u64,
    },
    /// A latency comparison confirmed (or not) by a Mann-Whitney U test.
    Latency {
        /// The quantiles that crossed their rule: `p50`, `p99`, …
        quantiles: Vec<QuantileDelta>,
        /// One-sided p-value that the target is slower.
        p: f64,
        /// Probability that a target request is slower than a baseline one.
        superiority: f64,
        n_target: u64,
        n_baseline: u64,
    },
    /// Failed requests under load.
    Failures {
        failed: u64,
        requests: u64,
        /// Status code or error kind → count, failures only.
        causes: std::collections::BTreeMap<String, u64>,
        /// Origin → count, of the failed answers only.
        origins: std::collections::BTreeMap<String, u64>,
    },
    /// A 503 spike.
    Spike {
        start_s: u64,
        end_s: u64,
        count: u64,
        requests: u64,
        peak_ratio: f64,
        baseline_ratio: f64,
        /// One-sided Poisson p-value of `count` under the baseline rate.
        p: f64,
        event: Option<String>,
        origins: std::collections::BTreeMap<String, u64>,
    },
}

/// One differing leaf: `None` is absent on that side; values as JSON text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointerDiff {
    pub pointer: String,
    pub baseline: Option<String>,
    pub target: Option<String>,
}

/// Differences of one pointer counted over sampled requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointerCounts {
    pub pointer: String,
    /// Target answer against a baseline answer.
    pub raw: u64,
    /// Baseline answer against another baseline answer.
    pub noise: u64,
}

/// One quantile of a latency comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantileDelta {
    /// `p50`, `p90`, `p99`, `p99.9`.
    pub quantile: String,
    pub target_ms: f64,
    pub baseline_ms: f64,
    /// target / baseline.
    pub ratio: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialize_as_their_stable_names() {
        for k in FindingKind::ALL {
            let json = serde_json::to_string(&k).expect("serializes");
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            assert_eq!(FindingKind::parse(k.as_str()), Some(k));
        }
    }
}
