//! The HTTP probe: one request through one target, read with a memory cap.
//!
//! Latency runs from just before the request is handed to the client until the
//! last body byte; time to first byte until the response head. The body is
//! hashed in full but only the first `body_cap` bytes are kept, so a huge or
//! endless body never exhausts memory: past the cap it is counted until the
//! timeout, which then ends the sample as `body_too_large`.
//!
//! A deadline that passes while the connection is still opening is
//! `connect_timeout` (the client's [`ConnectWatch`] says so), never
//! `timeout`. A status outside 100–599 (hyper accepts any three digits) is
//! not a response but a `protocol` error, so no report carries it.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::classify::classify;
use super::error::{ErrorKind, ProbeError};
use super::{Body, Protocol, Response, Sample};
// The load engine reaches these through here; `probe::error` is their home.
pub use super::error::{connect_timeout_error, from_connect_error, from_error, timeout_error};
use crate::target::{host_name, ConnectWatch, Connector, Proxy, Role, Wire};

/// A fully resolved HTTP request of a check.
#[derive(Clone, Debug)]
pub struct HttpSpec {
    pub method: reqwest::Method,
    /// Path with its query string, starting with `/`.
    pub path_and_query: String,
    /// Host/SNI override for this check (else the target's host).
    pub host: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Option<Bytes>,
    pub timeout: Duration,
    pub follow_redirects: bool,
    pub body_cap: u64,
    /// The HTTP version asked for (`http: { version: … }`).
    pub version: Version,
}

/// The HTTP version a check asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Version {
    /// ALPN on https (the server chooses h2 or http/1.1), http/1.1 on plain
    /// http: what a browser does.
    #[default]
    Auto,
    /// HTTP/1.1 only.
    H1,
    /// HTTP/2 over TLS: offered with ALPN; a server that chooses http/1.1
    /// fails the check.
    H2,
    /// HTTP/2 over cleartext with prior knowledge.
    H2c,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Auto => "auto",
            Version::H1 => "h1",
            Version::H2 => "h2",
            Version::H2c => "h2c",
        }
    }

    pub fn parse(s: &str) -> Option<Version> {
        match s {
            "auto" => Some(Version::Auto),
            "h1" | "http/1.1" => Some(Version::H1),
            "h2" => Some(Version::H2),
            "h2c" => Some(Version::H2c),
            _ => None,
        }
    }

    /// The client for a request asking for this version with Host `host`: a
    /// Host written otherwise than its name (a port, a trailing dot, upper
    /// case) goes as HTTP/1.1 under `auto`, where the Host header is sent
    /// verbatim (HTTP/2 carries the URL's authority).
    pub fn wire(self, host: &str) -> Wire {
        match self {
            Version::Auto if host_name(host) != host => Wire::Http1,
            Version::Auto | Version::H2 => Wire::Alpn,
            Version::H1 => Wire::Http1,
            Version::H2c => Wire::H2c,
        }
    }
}

/// How much of a response body a probe keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyMode {
    /// Hash every byte, keep the first `cap` bytes and every header (checks).
    Keep { cap: u64 },
    /// Count bytes only; keep a short prefix of error bodies and the headers
    /// the origin classifier reads (load: nothing per request that costs).
    Count,
}

const ENVOY_UPSTREAM_TIME: http::HeaderName =
    http::HeaderName::from_static("x-envoy-upstream-service-time");
const ENVOY_RATELIMITED: http::HeaderName = http::HeaderName::from_static("x-envoy-ratelimited");

/// What `Count` keeps of an error body: enough for every proxy signature.
const COUNT_ERROR_PREFIX: usize = 2048;

/// Sends one request through `conn` and classifies whatever happens.
pub async fn probe(conn: &Connector, spec: &HttpSpec) -> Sample {
    let target = &conn.target;
    let host = spec.host.as_deref().unwrap_or(&target.host);
    let url: Arc<str> = target.url(host, &spec.path_and_query).into();
    match conn.client_for(spec.version.wire(host), spec.follow_redirects) {
        Ok(client) => send(client, target, url, spec).await,
        Err(e) => Sample::failed(url, e.into(), Duration::ZERO),
    }
}

/// Sends `spec` to `url` with `client` (one of the target's, or a one-off
/// client from [`Connector::client_with`]) and classifies the answer as
/// `target`'s.
pub async fn send(
    client: &reqwest::Client,
    target: &crate::target::Target,
    url: Arc<str>,
    spec: &HttpSpec,
) -> Sample {
    let start = Instant::now();
    let mut req = client.request(spec.method.clone(), &*url);
    for (n, v) in target.headers.iter().chain(spec.headers.iter()) {
        req = req.header(n.as_str(), v.as_str());
    }
    // A Host variant (trailing dot, upper case, a port) is sent verbatim;
    // the URL carries only its name.
    let host = spec.host.as_deref().unwrap_or(&target.host);
    if host_name(host) != host {
        req = req.header(http::header::HOST, host);
    }
    if let Some(body) = &spec.body {
        req = req.body(body.clone());
    }
    let deadline = start + spec.timeout;
    let watch = ConnectWatch::default();
    let sent = tokio::time::timeout_at(deadline, watch.watch(req.send())).await;
    let resp = match sent {
        Err(_) if watch.opening() => {
            let e = connect_timeout_error(&target.connect, spec.timeout);
            return Sample::failed(url, e, start.elapsed());
        }
        Err(_) => return Sample::failed(url, timeout_error(spec.timeout), start.elapsed()),
        Ok(Err(e)) => return Sample::failed(url, from_error(&e), start.elapsed()),
        Ok(Ok(r)) => http::Response::<reqwest::Body>::from(r),
    };
    let mode = BodyMode::Keep { cap: spec.body_cap };
    finish(
        url,
        resp,
        start,
        deadline,
        spec.timeout,
        mode,
        target.proxy,
        target.role,
    )
    .await
}

/// Reads a response head and body into a classified [`Sample`]; shared by the
/// check probe (reqwest) and the load engine (hyper's connection API).
#[allow(clippy::too_many_arguments)]
pub async fn finish<B>(
    url: Arc<str>,
    resp: http::Response<B>,
    start: Instant,
    deadline: Instant,
    timeout: Duration,
    mode: BodyMode,
    proxy: Proxy,
    role: Role,
) -> Sample
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::error::Error + 'static,
{
    let ttfb = start.elapsed();
    let (parts, body) = resp.into_parts();
    let status = parts.status.as_u16();
    if let Err(e) = valid_status(status) {
        return Sample::failed(url, e, start.elapsed());
    }
    let headers: Vec<(String, String)> = match mode {
        BodyMode::Keep { .. } => parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        BodyMode::Count => Vec::new(),
    };
    let (cap, mut hasher) = match mode {
        BodyMode::Keep { cap } => (cap, Some(Sha256::new())),
        BodyMode::Count if status >= 400 => (COUNT_ERROR_PREFIX as u64, None),
        BodyMode::Count => (0, None),
    };
    let mut prefix = BytesMut::new();
    let mut size: u64 = 0;
    let mut error = None;
    let mut trailers = Vec::new();
    let mut body = std::pin::pin!(body);
    // One timer for the whole body (a timer per frame costs at load rates).
    let expired = tokio::time::sleep_until(deadline);
    let mut expired = std::pin::pin!(expired);
    loop {
        let frame = tokio::select! {
            biased;
            f = body.frame() => Ok(f),
            () = &mut expired => Err(()),
        };
        match frame {
            Err(()) => {
                let (kind, what) = if size > cap && matches!(mode, BodyMode::Keep { .. }) {
                    (
                        ErrorKind::BodyTooLarge,
                        "the body was still arriving past the cap",
                    )
                } else {
                    (ErrorKind::Timeout, "the body did not finish")
                };
                error = Some(ProbeError::new(
                    kind,
                    format!(
                        "{what} after {} ({size} bytes read)",
                        humantime::format_duration(timeout)
                    ),
                ));
                break;
            }
            Ok(Some(Err(e))) => {
                error = Some(from_error(&e));
                break;
            }
            Ok(None) => break,
            Ok(Some(Ok(frame))) => match frame.into_data() {
                Ok(chunk) => {
                    if let Some(h) = hasher.as_mut() {
                        h.update(&chunk);
                    }
                    size += chunk.len() as u64;
                    let room = cap.saturating_sub(prefix.len() as u64) as usize;
                    if room > 0 {
                        prefix.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    }
                }
                Err(frame) => {
                    if let (Ok(t), BodyMode::Keep { .. }) = (frame.into_trailers(), mode) {
                        trailers.extend(t.iter().map(|(n, v)| {
                            (
                                n.as_str().to_owned(),
                                String::from_utf8_lossy(v.as_bytes()).into_owned(),
                            )
                        }));
                    }
                }
            },
        }
    }
    let body = Body {
        size,
        sha256: hasher.map(|h| hex(&h.finalize())).unwrap_or_default(),
        truncated: size > prefix.len() as u64,
        prefix: prefix.freeze(),
    };
    let get = |name: &str| {
        let value = match name {
            "server" => parts.headers.get(http::header::SERVER),
            "x-envoy-upstream-service-time" => parts.headers.get(&ENVOY_UPSTREAM_TIME),
            "x-envoy-ratelimited" => parts.headers.get(&ENVOY_RATELIMITED),
            other => parts.headers.get(other),
        };
        value.and_then(|v| v.to_str().ok())
    };
    let (origin, origin_reason) = classify(status, &get, &body.text(), proxy, role);
    Sample {
        url,
        response: Some(Response {
            status,
            headers,
            body,
            origin,
            origin_reason,
            version: Protocol::of(parts.version),
            trailers,
        }),
        error,
        latency: start.elapsed(),
        ttfb: Some(ttfb),
    }
}

/// Opens a TCP connection to `addr` by `deadline`: a connect still pending
/// then is `connect_timeout`, as is the system's own connect timeout.
pub async fn open_tcp(
    addr: std::net::SocketAddr,
    deadline: Instant,
    timeout: Duration,
) -> Result<tokio::net::TcpStream, ProbeError> {
    match tokio::time::timeout_at(deadline, tokio::net::TcpStream::connect(addr)).await {
        Err(_) => Err(connect_timeout_error(addr, timeout)),
        Ok(Err(e)) => Err(from_connect_error(addr, &e)),
        Ok(Ok(tcp)) => Ok(tcp),
    }
}

/// A status a report may carry (100–599); anything else is a `protocol` error.
pub fn valid_status(status: u16) -> Result<u16, ProbeError> {
    if (100..=599).contains(&status) {
        Ok(status)
    } else {
        Err(ProbeError::new(
            ErrorKind::Protocol,
            format!("the server answered status {status}, which is not a valid HTTP status (100–599): something other than an HTTP server or proxy may be answering on this address"),
        ))
    }
}

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
