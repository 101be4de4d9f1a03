//! The HTTP probe: one request through one target, read with a memory cap.
//!
//! Latency runs from just before the request is handed to the client until the
//! last body byte; time to first byte until the response head. The body is
//! hashed in full but only the first `body_cap` bytes are kept, so a huge or
//! endless body never exhausts memory: past the cap it is counted until the
//! timeout, which then ends the sample as `body_too_large`.

use std::error::Error as _;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::classify::classify;
use super::{Body, ErrorKind, ProbeError, Response, Sample};
use crate::target::Connector;

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
}

/// Sends one request through `conn` and classifies whatever happens.
pub async fn probe(conn: &Connector, spec: &HttpSpec) -> Sample {
    let target = &conn.target;
    let host = spec.host.as_deref().unwrap_or(&target.host);
    let url = target.url(host, &spec.path_and_query);
    let start = Instant::now();
    let client = match conn.client(spec.follow_redirects) {
        Ok(c) => c,
        Err(e) => return Sample::failed(url, e, start.elapsed()),
    };
    let mut req = client.request(spec.method.clone(), &url);
    for (n, v) in target.headers.iter().chain(spec.headers.iter()) {
        req = req.header(n.as_str(), v.as_str());
    }
    if let Some(body) = &spec.body {
        req = req.body(body.clone());
    }
    let deadline = start + spec.timeout;
    let sent = tokio::time::timeout_at(deadline, req.send()).await;
    let mut resp = match sent {
        Err(_) => {
            let e = ProbeError::new(
                ErrorKind::Timeout,
                format!(
                    "no response within {}",
                    humantime::format_duration(spec.timeout)
                ),
            );
            return Sample::failed(url, e, start.elapsed());
        }
        Ok(Err(e)) => return Sample::failed(url, from_reqwest(&e), start.elapsed()),
        Ok(Ok(r)) => r,
    };
    let ttfb = start.elapsed();
    let status = resp.status().as_u16();
    let headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();

    let mut hasher = Sha256::new();
    let mut prefix = BytesMut::new();
    let mut size: u64 = 0;
    let mut error = None;
    loop {
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Err(_) => {
                let (kind, what) = if size > spec.body_cap {
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
                        humantime::format_duration(spec.timeout)
                    ),
                ));
                break;
            }
            Ok(Err(e)) => {
                error = Some(from_reqwest(&e));
                break;
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(chunk))) => {
                hasher.update(&chunk);
                size += chunk.len() as u64;
                let room = spec.body_cap.saturating_sub(prefix.len() as u64) as usize;
                prefix.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
        }
    }
    let body = Body {
        size,
        sha256: hex(&hasher.finalize()),
        truncated: size > prefix.len() as u64,
        prefix: prefix.freeze(),
    };
    let (origin, origin_reason) =
        classify(status, &headers, &body.text(), target.proxy, target.role);
    Sample {
        url,
        response: Some(Response {
            status,
            headers,
            body,
            origin,
            origin_reason,
        }),
        error,
        latency: start.elapsed(),
        ttfb: Some(ttfb),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Maps a reqwest/hyper/io/rustls error chain to an [`ErrorKind`] and a sentence.
pub fn from_reqwest(e: &reqwest::Error) -> ProbeError {
    let mut kind = None;
    let mut parts = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(err) = cur {
        let text = err.to_string();
        if !parts.iter().any(|p: &String| p.contains(&text)) {
            parts.push(text);
        }
        if kind.is_none() {
            kind = kind_of(err);
        }
        cur = err.source();
    }
    let kind = kind.unwrap_or(if e.is_timeout() {
        if e.is_connect() {
            ErrorKind::ConnectTimeout
        } else {
            ErrorKind::Timeout
        }
    } else if e.is_redirect() {
        ErrorKind::Protocol
    } else {
        ErrorKind::Other
    });
    let kind = match (kind, e.is_connect()) {
        (ErrorKind::Timeout, true) => ErrorKind::ConnectTimeout,
        (k, _) => k,
    };
    let message = if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    };
    ProbeError::new(kind, message)
}

fn kind_of(err: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    if err.downcast_ref::<rustls::Error>().is_some() {
        return Some(ErrorKind::Tls);
    }
    if let Some(io) = err.downcast_ref::<std::io::Error>() {
        // hyper-util and tokio-rustls nest io::Errors: look inside first.
        if let Some(kind) = io.get_ref().and_then(|inner| kind_of(inner)) {
            return Some(kind);
        }
        use std::io::ErrorKind as K;
        return match io.kind() {
            K::ConnectionRefused => Some(ErrorKind::ConnectRefused),
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                Some(ErrorKind::Reset)
            }
            K::TimedOut => Some(ErrorKind::Timeout),
            K::InvalidData => Some(ErrorKind::Protocol),
            _ => None,
        };
    }
    if let Some(h) = err.downcast_ref::<hyper::Error>() {
        if h.is_incomplete_message() || h.is_canceled() || h.is_closed() {
            return Some(ErrorKind::Reset);
        }
        if h.is_parse() || h.is_parse_status() || h.is_parse_too_large() {
            return Some(ErrorKind::Protocol);
        }
        if h.is_timeout() {
            return Some(ErrorKind::Timeout);
        }
    }
    None
}
