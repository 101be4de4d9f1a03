//! Probes: one kind of request, run once against one target, returning a [`Sample`].
//!
//! A probe knows nothing of load, reports or other targets. Every outcome is a
//! `Sample`: a response (status, headers, body digest, timings, and which
//! component produced it, see [`classify`]) or a typed [`ErrorKind`] (see
//! [`error`]). A probe never panics on what a network peer does. Probes depend
//! on `target` and the `hdr` leaf only: never on load, record, analysis or
//! reports.

pub mod behaviour;
pub mod body_limit;
pub mod classify;
pub mod cors;
pub mod dns;
pub mod error;
pub mod forwarded;
pub mod grpc;
pub mod hostnames;
pub mod http;
pub mod rate_limit;
pub mod redirect;
pub mod route_timeout;
pub mod websocket;

use std::time::Duration;

use bytes::Bytes;

pub use classify::Origin;
pub use error::{ErrorKind, ProbeError};

/// What was read of a response body.
#[derive(Clone, Debug, Default)]
pub struct Body {
    /// Total bytes received, including those past the cap.
    pub size: u64,
    /// SHA-256 of every byte received (hex), so parity works past the cap too.
    pub sha256: String,
    /// The first `cap` bytes.
    pub prefix: Bytes,
    /// True when `size` exceeds what `prefix` holds.
    pub truncated: bool,
}

impl Body {
    /// The kept prefix as text (lossy), for expectations and classification.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.prefix)
    }
}

/// The HTTP version a response came over (ALPN's choice on https).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Protocol {
    #[serde(rename = "http/1.0")]
    Http10,
    #[serde(rename = "http/1.1")]
    Http11,
    #[serde(rename = "h2")]
    H2,
    #[serde(rename = "h3")]
    H3,
}

impl Protocol {
    pub fn of(v: ::http::Version) -> Option<Protocol> {
        match v {
            ::http::Version::HTTP_10 => Some(Protocol::Http10),
            ::http::Version::HTTP_11 => Some(Protocol::Http11),
            ::http::Version::HTTP_2 => Some(Protocol::H2),
            ::http::Version::HTTP_3 => Some(Protocol::H3),
            _ => None,
        }
    }

    /// `http/1.1`, `h2`: ALPN's names.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http10 => "http/1.0",
            Protocol::Http11 => "http/1.1",
            Protocol::H2 => "h2",
            Protocol::H3 => "h3",
        }
    }
}

/// One response as a probe saw it.
#[derive(Clone, Debug, Default)]
pub struct Response {
    pub status: u16,
    /// Response headers, names lowercased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// Where the response came from (the classifier's verdict).
    pub origin: Origin,
    /// Which signature decided the origin, for the report.
    pub origin_reason: &'static str,
    /// The HTTP version it came over.
    pub version: Option<Protocol>,
    /// Trailers after the body (gRPC's status), names lowercased; checks only.
    pub trailers: Vec<(String, String)>,
}

impl Response {
    /// All values of a header (name is matched case-insensitively), joined by `, `.
    pub fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }
}

/// The result of one probe against one target.
#[derive(Clone, Debug)]
pub struct Sample {
    /// The URL requested (production host, never the connect address).
    pub url: std::sync::Arc<str>,
    /// The response, when one arrived (possibly with a body error).
    pub response: Option<Response>,
    /// The failure, when there was one.
    pub error: Option<ProbeError>,
    /// From sending until the last body byte (or the failure).
    pub latency: Duration,
    /// From sending until the response head arrived.
    pub ttfb: Option<Duration>,
}

impl Sample {
    pub fn failed(url: std::sync::Arc<str>, error: ProbeError, latency: Duration) -> Self {
        Sample {
            url,
            response: None,
            error: Some(error),
            latency,
            ttfb: None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        self.response.as_ref().map(|r| r.status)
    }
}

/// What one probe of any kind produced.
#[derive(Clone, Debug)]
pub enum ProbeResult {
    Http(Sample),
    WebSocket(websocket::WsResult),
    Cors(Box<cors::CorsResult>),
    Dns(dns::DnsResult),
    /// A behaviour probe (rate limit, body limit, route timeout, redirect,
    /// forwarded headers).
    Behaviour(behaviour::BehaviourResult),
    /// A gRPC call: the HTTP answer (its body the decoded messages) and the status.
    Grpc(grpc::GrpcResult),
}

impl ProbeResult {
    /// The response that stands for the whole probe: the HTTP response, the
    /// WebSocket handshake, the CORS preflight.
    pub fn primary(&self) -> &Sample {
        match self {
            ProbeResult::Http(s) => s,
            ProbeResult::WebSocket(w) => &w.handshake,
            ProbeResult::Cors(c) => &c.preflight,
            ProbeResult::Dns(d) => &d.summary,
            ProbeResult::Behaviour(b) => b.primary(),
            ProbeResult::Grpc(g) => &g.sample,
        }
    }
}
