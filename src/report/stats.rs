//! The load numbers as the report writes them: per target and check, in
//! total and per second.
//!
//! These are the report model's types; the recorder keeps its own compact
//! form ([`crate::record::Compact`]) and knows nothing of them. Keys are the
//! stable names (`"503"`, `"connect_refused"`, `"gateway"`), latencies are in
//! milliseconds, and every histogram is kept losslessly (HdrHistogram V2,
//! base64), so a saved run can be merged and re-analysed later.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::probe::grpc::Code;
use crate::probe::Origin;
use crate::record::{Bucket, Compact, CompactMessages, SecondRecord, Spread};

/// Latency quantiles in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Quantiles {
    pub fn of(h: &Histogram<u64>) -> Quantiles {
        Quantiles::from(Spread::of(h))
    }
}

impl From<Spread> for Quantiles {
    fn from(s: Spread) -> Quantiles {
        Quantiles {
            min: s.min,
            mean: s.mean,
            p50: s.p50,
            p90: s.p90,
            p99: s.p99,
            p999: s.p999,
            max: s.max,
        }
    }
}

/// What one target × check saw, in total or in one second.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub requests: u64,
    pub errors: u64,
    pub dropped: u64,
    /// Sent, still unanswered when the grace after a stop ran out.
    #[serde(default)]
    pub cancelled: u64,
    /// Requests that failed: a transport error, or an answer the check's
    /// expectation rejects.
    #[serde(default)]
    pub failed: u64,
    /// Failed answers by origin (they add up to the failed answers).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failed_origins: BTreeMap<String, u64>,
    /// Failed answers by status, then origin.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failed_statuses: BTreeMap<String, BTreeMap<String, u64>>,
    pub clamped: u64,
    pub statuses: BTreeMap<String, u64>,
    pub error_kinds: BTreeMap<String, u64>,
    pub origins: BTreeMap<String, u64>,
    /// 503 answers by origin.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub s503_origins: BTreeMap<String, u64>,
    pub latency: Quantiles,
    pub service: Quantiles,
    /// HdrHistogram V2, base64: merge and re-analyse later without loss.
    pub latency_hist: String,
    pub service_hist: String,
    /// Messages of held WebSockets (socket stages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<MessageStats>,
    /// gRPC calls by status code name (`OK`, `UNAVAILABLE`; gRPC checks only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub grpc_codes: BTreeMap<String, u64>,
    /// Failed gRPC calls (a code the check does not expect) by code, then origin.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failed_grpc_codes: BTreeMap<String, BTreeMap<String, u64>>,
}

/// What held WebSockets exchanged.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageStats {
    pub replies: u64,
    pub failures: u64,
    pub dropped: u64,
    pub rtt: Quantiles,
    /// HdrHistogram V2, base64 (µs).
    pub rtt_hist: String,
}

/// One second of one target × check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecondStats {
    /// Seconds since the load started.
    pub second: u64,
    #[serde(flatten)]
    pub stats: Stats,
}

impl From<&CompactMessages> for MessageStats {
    fn from(m: &CompactMessages) -> MessageStats {
        MessageStats {
            replies: m.replies,
            failures: m.failures,
            dropped: m.dropped,
            rtt: m.rtt.into(),
            rtt_hist: m.rtt_hist.clone(),
        }
    }
}

impl From<&Compact> for Stats {
    fn from(c: &Compact) -> Stats {
        Stats {
            requests: c.requests,
            errors: c.errors,
            dropped: c.dropped,
            cancelled: c.cancelled,
            failed: c.failed,
            failed_origins: c
                .failed_origins
                .iter()
                .map(|(o, n)| (o.as_str().to_owned(), *n))
                .collect(),
            failed_statuses: {
                let mut m: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
                for (status, origin, n) in &c.failed_statuses {
                    *m.entry(status.to_string())
                        .or_default()
                        .entry(origin.as_str().to_owned())
                        .or_default() += n;
                }
                m
            },
            clamped: c.clamped,
            statuses: c
                .statuses
                .iter()
                .map(|(s, n)| (s.to_string(), *n))
                .collect(),
            error_kinds: c
                .error_kinds
                .iter()
                .map(|(k, n)| (k.as_str().to_owned(), *n))
                .collect(),
            origins: c
                .origins
                .iter()
                .map(|(o, n)| (o.as_str().to_owned(), *n))
                .collect(),
            s503_origins: c
                .s503_origins
                .iter()
                .map(|(o, n)| (o.as_str().to_owned(), *n))
                .collect(),
            latency: c.latency.into(),
            service: c.service.into(),
            latency_hist: c.latency_hist.clone(),
            service_hist: c.service_hist.clone(),
            messages: c.messages.as_ref().map(MessageStats::from),
            grpc_codes: c
                .grpc_codes
                .iter()
                .map(|(code, n)| (code.name().to_owned(), *n))
                .collect(),
            failed_grpc_codes: {
                let mut m: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
                for (code, origin, n) in &c.failed_grpc_codes {
                    *m.entry(code.name().to_owned())
                        .or_default()
                        .entry(origin.as_str().to_owned())
                        .or_default() += n;
                }
                m
            },
        }
    }
}

/// A saved [`Stats`] back in the recorder's form, for `cutover merge`:
/// the names parsed into their types. Errs with the name it cannot read.
impl TryFrom<&Stats> for Compact {
    type Error = String;

    fn try_from(s: &Stats) -> Result<Compact, String> {
        fn name<T: serde::de::DeserializeOwned>(what: &str, n: &str) -> Result<T, String> {
            use serde::de::IntoDeserializer;
            T::deserialize(IntoDeserializer::<serde::de::value::Error>::into_deserializer(n))
                .map_err(|_| format!("unknown {what} `{n}`"))
        }
        fn status(n: &str) -> Result<u16, String> {
            n.parse().map_err(|_| format!("unknown status `{n}`"))
        }
        fn listed<T: serde::de::DeserializeOwned>(
            what: &str,
            m: &BTreeMap<String, u64>,
        ) -> Result<Vec<(T, u64)>, String> {
            m.iter().map(|(k, n)| Ok((name(what, k)?, *n))).collect()
        }
        let mut failed_statuses = Vec::new();
        for (code, by_origin) in &s.failed_statuses {
            for (origin, n) in by_origin {
                failed_statuses.push((status(code)?, name("origin", origin)?, *n));
            }
        }
        fn grpc_code(n: &str) -> Result<Code, String> {
            Code::parse(n).ok_or_else(|| format!("unknown gRPC code `{n}`"))
        }
        let mut failed_grpc_codes = Vec::new();
        for (code, by_origin) in &s.failed_grpc_codes {
            for (origin, n) in by_origin {
                failed_grpc_codes.push((grpc_code(code)?, name::<Origin>("origin", origin)?, *n));
            }
        }
        let messages = s.messages.as_ref().map(|m| CompactMessages {
            replies: m.replies,
            failures: m.failures,
            dropped: m.dropped,
            rtt: Spread::default(),
            rtt_hist: m.rtt_hist.clone(),
        });
        Ok(Compact {
            requests: s.requests,
            errors: s.errors,
            dropped: s.dropped,
            cancelled: s.cancelled,
            failed: s.failed,
            failed_origins: listed("origin", &s.failed_origins)?,
            failed_statuses,
            clamped: s.clamped,
            statuses: s
                .statuses
                .iter()
                .map(|(k, n)| Ok((status(k)?, *n)))
                .collect::<Result<_, String>>()?,
            error_kinds: listed("error kind", &s.error_kinds)?,
            origins: listed("origin", &s.origins)?,
            s503_origins: listed("origin", &s.s503_origins)?,
            // Quantiles are read from the histograms when they are restored.
            latency: Spread::default(),
            service: Spread::default(),
            latency_hist: s.latency_hist.clone(),
            service_hist: s.service_hist.clone(),
            messages,
            grpc_codes: {
                let mut g = s
                    .grpc_codes
                    .iter()
                    .map(|(k, n)| Ok((grpc_code(k)?, *n)))
                    .collect::<Result<Vec<_>, String>>()?;
                g.sort_unstable_by_key(|(c, _)| c.number());
                g
            },
            failed_grpc_codes: {
                failed_grpc_codes.sort_unstable_by_key(|(c, o, _)| (c.number(), o.as_str()));
                failed_grpc_codes
            },
        })
    }
}

impl From<&Bucket> for Stats {
    fn from(b: &Bucket) -> Stats {
        Stats::from(&b.compact())
    }
}

impl From<&SecondRecord> for SecondStats {
    fn from(s: &SecondRecord) -> SecondStats {
        SecondStats {
            second: s.second,
            stats: Stats::from(&s.stats),
        }
    }
}

impl Stats {
    /// The statuses, the failed ones with who answered them, then transport
    /// errors: `200 ×11,491 · 503 ×509 ingress · 429 ×594 gateway`.
    pub fn breakdown(&self) -> String {
        let mut parts = Vec::new();
        // A gRPC check's answers are told apart by their code: its HTTP
        // statuses (200, or a proxy's error page, already mapped to a code)
        // would only repeat them.
        let statuses = if self.grpc_codes.is_empty() {
            &self.statuses
        } else {
            &BTreeMap::new()
        };
        for (code, n) in self.grpc_codes_by_number() {
            let failed: u64 = self
                .failed_grpc_codes
                .get(code)
                .map(|m| m.values().sum())
                .unwrap_or(0);
            if n > failed {
                parts.push(format!("{code} ×{}", thousands(n - failed)));
            }
            for (origin, m) in self.failed_grpc_codes.get(code).into_iter().flatten() {
                parts.push(format!("{code} ×{} {origin}", thousands(*m)));
            }
        }
        for (status, n) in statuses {
            let failed: u64 = self
                .failed_statuses
                .get(status)
                .map(|m| m.values().sum())
                .unwrap_or(0);
            if *n > failed {
                parts.push(format!("{status} ×{}", thousands(n - failed)));
            }
            for (origin, m) in self.failed_statuses.get(status).into_iter().flatten() {
                parts.push(format!("{status} ×{} {origin}", thousands(*m)));
            }
        }
        for (kind, n) in &self.error_kinds {
            parts.push(format!("{kind} ×{}", thousands(*n)));
        }
        if self.cancelled > 0 {
            parts.push(format!("cancelled ×{}", thousands(self.cancelled)));
        }
        parts.join(" · ")
    }
}

impl Stats {
    /// `grpc_codes` in the order of their numbers (OK first), names unknown
    /// to this version last.
    fn grpc_codes_by_number(&self) -> Vec<(&String, u64)> {
        let mut codes: Vec<(&String, u64)> = self.grpc_codes.iter().map(|(k, n)| (k, *n)).collect();
        codes.sort_by_key(|(k, _)| Code::parse(k).map_or(u32::MAX, Code::number));
        codes
    }
}

/// `12,345`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
