//! Probe errors: why a probe got no (complete) response, as a typed
//! [`ErrorKind`] with a sentence for people ([`ProbeError`]).
//!
//! Owns the mapping from transport errors (reqwest, hyper, rustls, io, and a
//! target's [`ConnectError`]) to kinds. Failures are counted by kind, never by
//! message text; the message keeps every distinct part of the error chain.
//! This module depends on no other part of the crate but `target`.

use std::error::Error as _;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::target::{ConnectError, ConnectFailure};

/// Why a probe got no (complete) response. Counted by kind, never by message text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The connect address did not resolve.
    Dns,
    /// Nothing listens there (TCP RST on connect).
    ConnectRefused,
    /// The TCP connect did not finish in time.
    ConnectTimeout,
    /// The TLS handshake failed (untrusted certificate, wrong name, protocol).
    Tls,
    /// The peer reset or closed the connection before the response was complete.
    Reset,
    /// No complete response within the check's timeout.
    Timeout,
    /// The peer answered something that is not valid HTTP (or WebSocket, …).
    Protocol,
    /// The body kept coming past the cap until the timeout.
    BodyTooLarge,
    /// Anything else the transport reported.
    Other,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Dns => "dns",
            ErrorKind::ConnectRefused => "connect_refused",
            ErrorKind::ConnectTimeout => "connect_timeout",
            ErrorKind::Tls => "tls",
            ErrorKind::Reset => "reset",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Protocol => "protocol",
            ErrorKind::BodyTooLarge => "body_too_large",
            ErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A classified failure with a sentence for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ProbeError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProbeError {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for ProbeError {}

/// The error for a request that outlived its timeout.
pub fn timeout_error(timeout: Duration) -> ProbeError {
    ProbeError::new(
        ErrorKind::Timeout,
        format!("no response within {}", humantime::format_duration(timeout)),
    )
}

/// A target that could not be made ready (unresolved address, TLS set-up)
/// fails every probe through it with the matching kind.
impl From<ConnectError> for ProbeError {
    fn from(e: ConnectError) -> Self {
        let kind = match e.failure {
            ConnectFailure::Resolve => ErrorKind::Dns,
            ConnectFailure::TlsSetup => ErrorKind::Tls,
        };
        ProbeError::new(kind, e.message)
    }
}

/// Maps a reqwest/hyper/io/rustls error chain to an [`ErrorKind`] and a sentence.
pub fn from_error(e: &(dyn std::error::Error + 'static)) -> ProbeError {
    match e.downcast_ref::<reqwest::Error>() {
        Some(r) => from_reqwest(r),
        None => from_chain(e, None),
    }
}

fn from_reqwest(e: &reqwest::Error) -> ProbeError {
    let fallback = if e.is_timeout() {
        if e.is_connect() {
            ErrorKind::ConnectTimeout
        } else {
            ErrorKind::Timeout
        }
    } else if e.is_redirect() {
        ErrorKind::Protocol
    } else {
        ErrorKind::Other
    };
    let mut p = match e.source() {
        Some(src) => from_chain(src, Some(fallback)),
        None => ProbeError::new(fallback, e.to_string()),
    };
    if p.kind == ErrorKind::Timeout && e.is_connect() {
        p.kind = ErrorKind::ConnectTimeout;
    }
    p
}

fn from_chain(e: &(dyn std::error::Error + 'static), fallback: Option<ErrorKind>) -> ProbeError {
    let mut kind = None;
    let mut parts = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
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
    let kind = kind.or(fallback).unwrap_or(ErrorKind::Other);
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
