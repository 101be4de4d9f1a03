//! Behaviour probes: the differences that bite after a cutover besides
//! WebSockets and CORS, one kind per file: [`super::rate_limit`],
//! [`super::body_limit`], [`super::route_timeout`], [`super::redirect`],
//! [`super::forwarded`], [`super::hostnames`].
//!
//! Each runs once against one target like any probe; judging both targets
//! side by side is the analyzers' (`analyze/behaviour.rs`). Invariant: every
//! result has one [`Sample`] that stands for it ([`BehaviourResult::primary`]).

use super::body_limit::{BodyLimitResult, BodyLimitSpec};
use super::forwarded::{ForwardedResult, ForwardedSpec};
use super::hostnames::{HostnamesResult, HostnamesSpec};
use super::rate_limit::{RateLimitResult, RateLimitSpec};
use super::redirect::RedirectSpec;
use super::route_timeout::RouteTimeoutSpec;
use super::Sample;
use crate::target::Connector;

/// The behaviour a check probes.
#[derive(Clone, Debug)]
pub enum BehaviourSpec {
    RateLimit(RateLimitSpec),
    BodyLimit(BodyLimitSpec),
    RouteTimeout(RouteTimeoutSpec),
    Redirect(RedirectSpec),
    Forwarded(ForwardedSpec),
    Hostnames(HostnamesSpec),
}

/// What a behaviour probe saw through one target.
#[derive(Clone, Debug)]
pub enum BehaviourResult {
    RateLimit(RateLimitResult),
    BodyLimit(BodyLimitResult),
    RouteTimeout(Sample),
    Redirect(Sample),
    Forwarded(ForwardedResult),
    Hostnames(HostnamesResult),
}

impl BehaviourSpec {
    /// The scenario key of the kind: `rate_limit`, `body_limit`, …
    pub fn kind(&self) -> &'static str {
        match self {
            BehaviourSpec::RateLimit(_) => "rate_limit",
            BehaviourSpec::BodyLimit(_) => "body_limit",
            BehaviourSpec::RouteTimeout(_) => "route_timeout",
            BehaviourSpec::Redirect(_) => "redirect",
            BehaviourSpec::Forwarded(_) => "forwarded_headers",
            BehaviourSpec::Hostnames(_) => "hostnames",
        }
    }

    /// The request every probe of the kind is built on.
    pub fn request(&self) -> &super::http::HttpSpec {
        match self {
            BehaviourSpec::RateLimit(s) => &s.request,
            BehaviourSpec::BodyLimit(s) => &s.request,
            BehaviourSpec::RouteTimeout(s) => &s.request,
            BehaviourSpec::Redirect(s) => &s.request,
            BehaviourSpec::Forwarded(s) => &s.request,
            BehaviourSpec::Hostnames(s) => &s.request,
        }
    }

    /// A one-line description for reports.
    pub fn describe(&self) -> String {
        let r = self.request();
        match self {
            BehaviourSpec::RateLimit(s) => format!(
                "rate limit: {} {} ×{} at {}/s from {} source{}",
                r.method,
                r.path_and_query,
                s.count,
                s.rate,
                s.source_addresses.len().max(1),
                if s.source_addresses.len() > 1 {
                    "s"
                } else {
                    ""
                }
            ),
            BehaviourSpec::BodyLimit(s) => format!(
                "body limit: {} {} around {} bytes",
                r.method, r.path_and_query, s.size
            ),
            BehaviourSpec::RouteTimeout(s) => format!(
                "route timeout: {} {}{} for up to {}",
                r.method,
                r.path_and_query,
                s.duration
                    .map(|d| format!(" (takes {})", humantime::format_duration(d)))
                    .unwrap_or_default(),
                humantime::format_duration(r.timeout)
            ),
            BehaviourSpec::Redirect(_) => {
                format!("redirect: plain-HTTP {} {}", r.method, r.path_and_query)
            }
            BehaviourSpec::Forwarded(_) => {
                format!("forwarded headers: {} {}", r.method, r.path_and_query)
            }
            BehaviourSpec::Hostnames(s) => format!(
                "hostname variants: {} {} with Host {}",
                r.method,
                r.path_and_query,
                s.variants
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

impl BehaviourResult {
    /// The response that stands for the whole probe.
    pub fn primary(&self) -> &Sample {
        match self {
            BehaviourResult::RateLimit(r) => &r.summary,
            BehaviourResult::BodyLimit(r) => &r.above,
            BehaviourResult::RouteTimeout(s) | BehaviourResult::Redirect(s) => s,
            BehaviourResult::Forwarded(r) => &r.sample,
            BehaviourResult::Hostnames(r) => r.as_written(),
        }
    }
}

/// Runs the behaviour probe through `conn`.
pub async fn probe(conn: &Connector, spec: &BehaviourSpec) -> BehaviourResult {
    match spec {
        BehaviourSpec::RateLimit(s) => {
            BehaviourResult::RateLimit(super::rate_limit::probe(conn, s).await)
        }
        BehaviourSpec::BodyLimit(s) => {
            BehaviourResult::BodyLimit(super::body_limit::probe(conn, s).await)
        }
        BehaviourSpec::RouteTimeout(s) => {
            BehaviourResult::RouteTimeout(super::route_timeout::probe(conn, s).await)
        }
        BehaviourSpec::Redirect(s) => {
            BehaviourResult::Redirect(super::redirect::probe(conn, s).await)
        }
        BehaviourSpec::Forwarded(s) => {
            BehaviourResult::Forwarded(super::forwarded::probe(conn, s).await)
        }
        BehaviourSpec::Hostnames(s) => {
            BehaviourResult::Hostnames(super::hostnames::probe(conn, s).await)
        }
    }
}
