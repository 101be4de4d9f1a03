//! The rate-limit probe: a bounded burst through one target, then the rest
//! of the budget from a second source address.
//!
//! Requests go one after another, request `i` not before `start + i/rate`,
//! so where limiting starts is well defined. A burst stops at its first
//! limited answer (a 429, or a 503 the proxy produced): the first source
//! finds where limiting starts and how many got through; the next source
//! address (bound as the local address) then shows whether its bucket is
//! its own (per client: it gets through again) or the one already empty
//! (shared: limited at once).
//! Invariants: never more than `count` requests in all, across every source;
//! the probe judges nothing, it only records each burst.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::http::{self, HttpSpec};
use super::{Origin, Sample};
use crate::target::{ClientOptions, Connector};

/// A fully resolved `rate_limit:` check.
#[derive(Clone, Debug)]
pub struct RateLimitSpec {
    /// The request of the burst (`follow_redirects` is always off).
    pub request: HttpSpec,
    /// Requests sent at most, over every source.
    pub count: u32,
    /// Requests per second.
    pub rate: f64,
    /// Local addresses to send from, in order; empty = the system's choice
    /// (one source only).
    pub source_addresses: Vec<IpAddr>,
}

/// One burst from one source address.
#[derive(Clone, Debug)]
pub struct Burst {
    /// The local address bound, `None` for the system's choice.
    pub source: Option<IpAddr>,
    /// Requests sent in this burst.
    pub sent: u32,
    /// Answers before the first limited one (not limited, not failed).
    pub passed: u32,
    /// 1-based position of the first limited answer in this burst.
    pub first_limited: Option<u32>,
    /// The first limited answer.
    pub limited: Option<Sample>,
    /// The first answer of the burst (what an unlimited request gets).
    pub first: Option<Sample>,
    /// Requests that got no response (transport errors).
    pub errors: u32,
    /// Status → count over the burst.
    pub statuses: BTreeMap<u16, u32>,
}

/// Every burst of one probe, in the order sent.
#[derive(Clone, Debug)]
pub struct RateLimitResult {
    pub bursts: Vec<Burst>,
    /// What stands for the probe: the first limited answer, else the first answer.
    pub summary: Sample,
}

impl RateLimitResult {
    /// Requests sent over every burst.
    pub fn sent(&self) -> u32 {
        self.bursts.iter().map(|b| b.sent).sum()
    }
}

/// Whether an answer is a rate limit: a 429 from anyone, or a 503 the proxy
/// produced (ingress-nginx's `limit-req-status-code` default).
pub fn is_limited(s: &Sample) -> bool {
    s.response
        .as_ref()
        .is_some_and(|r| r.status == 429 || (r.status == 503 && r.origin != Origin::App))
}

/// Sends the bursts through `conn`.
pub async fn probe(conn: &Connector, spec: &RateLimitSpec) -> RateLimitResult {
    let sources: Vec<Option<IpAddr>> = if spec.source_addresses.is_empty() {
        vec![None]
    } else {
        spec.source_addresses.iter().copied().map(Some).collect()
    };
    let mut budget = spec.count;
    let mut bursts = Vec::new();
    for source in sources {
        if budget == 0 {
            break;
        }
        let burst = burst(conn, spec, source, budget).await;
        budget -= burst.sent;
        let limited = burst.first_limited.is_some();
        bursts.push(burst);
        // A source never limited within the budget leaves nothing to compare.
        if !limited {
            break;
        }
    }
    let summary = bursts
        .iter()
        .find_map(|b| b.limited.clone())
        .or_else(|| bursts.iter().find_map(|b| b.first.clone()))
        .unwrap_or_else(|| {
            let url: Arc<str> = conn.target.url(&conn.target.host, "/").into();
            Sample::failed(
                url,
                super::ProbeError::new(super::ErrorKind::Protocol, "no request was sent"),
                Duration::ZERO,
            )
        });
    RateLimitResult { bursts, summary }
}

/// One burst of at most `budget` requests from `source`, ending at its first
/// limited answer.
async fn burst(
    conn: &Connector,
    spec: &RateLimitSpec,
    source: Option<IpAddr>,
    budget: u32,
) -> Burst {
    let target = &conn.target;
    let host = spec.request.host.as_deref().unwrap_or(&target.host);
    let url: Arc<str> = target.url(host, &spec.request.path_and_query).into();
    let mut b = Burst {
        source,
        sent: 0,
        passed: 0,
        first_limited: None,
        limited: None,
        first: None,
        errors: 0,
        statuses: BTreeMap::new(),
    };
    let client = match conn.client_with(ClientOptions {
        local: source,
        port: None,
    }) {
        Ok(c) => c,
        Err(e) => {
            b.first = Some(Sample::failed(url, e.into(), Duration::ZERO));
            return b;
        }
    };
    let interval = Duration::from_secs_f64(1.0 / spec.rate.max(1e-3));
    let start = Instant::now();
    for i in 0..budget {
        tokio::time::sleep_until(start + interval * i).await;
        let s = http::send(&client, target, url.clone(), &spec.request).await;
        b.sent += 1;
        match s.status() {
            Some(status) => *b.statuses.entry(status).or_default() += 1,
            None => b.errors += 1,
        }
        let limited = is_limited(&s);
        if b.first.is_none() {
            b.first = Some(s.clone());
        }
        if limited {
            b.first_limited = Some(b.sent);
            b.limited = Some(s);
            break;
        }
        if s.response.is_some() && s.error.is_none() {
            b.passed += 1;
        }
    }
    b
}
