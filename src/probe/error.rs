//! Probe errors: why a probe got no (complete) response, as a typed
//! [`ErrorKind`] with a sentence for people ([`ProbeError`]).
//!
//! Owns the mapping from transport errors (reqwest, hyper, rustls, io, and a
//! target's [`ConnectError`]) to kinds. Failures are counted by kind, never by
//! message text; the message keeps every distinct part of the error chain,
//! except for TLS: every rustls error, wherever it surfaces (reqwest's chain,
//! tokio-rustls in the load engine and the WebSocket probe), becomes one
//! sentence with advice in [`tls_sentence`], never rustls' own `Debug`-shaped
//! text. HTTP/2 errors are read by their frame and code (`from_h2`): a
//! GOAWAY or RST_STREAM from the server is `reset` (a reload, a drain, too
//! many streams), unless its code says the HTTP/2 itself was broken, which
//! is `protocol`. A connection that did not open in time is always `connect_timeout`
//! ([`connect_timeout_error`]); a body that breaks HTTP framing (bad chunked
//! encoding) is `protocol`. This module depends on no other part of the crate
//! but `target` (and on rustls, hyper and h2 for the errors they raise).

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
    /// The connection did not open in time: the TCP connect (and, through
    /// reqwest, the TLS handshake that is part of its connect) never finished.
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

/// The error for a connection to `addr` that did not open within `timeout`.
pub fn connect_timeout_error(addr: impl fmt::Display, timeout: Duration) -> ProbeError {
    ProbeError::new(
        ErrorKind::ConnectTimeout,
        format!(
            "the connection to {addr} did not open within {}: a firewall or security group may drop the packets, or the load balancer is not listening on this address",
            humantime::format_duration(timeout)
        ),
    )
}

/// Maps the error of a TCP connect: the operating system's own connect
/// timeout (`ETIMEDOUT`) is `connect_timeout`, not `timeout`.
pub fn from_connect_error(addr: impl fmt::Display, e: &std::io::Error) -> ProbeError {
    let mut p = from_error(e);
    if e.kind() == std::io::ErrorKind::TimedOut {
        p.kind = ErrorKind::ConnectTimeout;
        p.message = format!("the connection to {addr} did not open: {}", p.message);
    }
    p
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
    if let Some(tls) = find_rustls(e) {
        return ProbeError::new(ErrorKind::Tls, tls_sentence(tls));
    }
    if let Some(p) = find_h2(e).and_then(from_h2) {
        return p;
    }
    let mut kind = None;
    let mut parts = Vec::new();
    let mut in_hyper = false;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if !parts.iter().any(|p: &String| p.contains(&text)) {
            parts.push(text);
        }
        in_hyper |= err.is::<hyper::Error>();
        if kind.is_none() {
            kind = kind_of(err, in_hyper);
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

/// `in_hyper`: the error came through hyper, whose HTTP/1 decoder reports
/// broken framing (a bad chunk size line, say) as `InvalidInput`.
fn kind_of(err: &(dyn std::error::Error + 'static), in_hyper: bool) -> Option<ErrorKind> {
    if err.downcast_ref::<rustls::Error>().is_some() {
        return Some(ErrorKind::Tls);
    }
    if let Some(io) = err.downcast_ref::<std::io::Error>() {
        // hyper-util and tokio-rustls nest io::Errors: look inside first.
        if let Some(kind) = io.get_ref().and_then(|inner| kind_of(inner, in_hyper)) {
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
            K::InvalidInput if in_hyper => Some(ErrorKind::Protocol),
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

/// The first rustls error in a chain, looking inside io::Errors (whose
/// `source()` skips the error they wrap).
fn find_rustls<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if let Some(tls) = find_rustls(inner) {
                return Some(tls);
            }
        }
        cur = err.source();
    }
    None
}

/// The first HTTP/2 error in a chain (hyper wraps h2's).
fn find_h2<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a h2::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<h2::Error>() {
            return Some(h);
        }
        cur = err.source();
    }
    None
}

/// An HTTP/2 stream or connection error as a kind and a sentence: a GOAWAY
/// or RST_STREAM from the server is `reset` (it let go of the request: a
/// reload, a drain, too many streams), unless its code says the HTTP/2 was
/// broken, which is `protocol`, as is broken HTTP/2 that h2 noticed itself.
/// `None` for errors of another kind (I/O, which the caller maps as usual).
fn from_h2(e: &h2::Error) -> Option<ProbeError> {
    if let Some(io) = e.get_io() {
        return Some(from_chain(io, None));
    }
    let reason = e.reason()?;
    let broken = [
        h2::Reason::PROTOCOL_ERROR,
        h2::Reason::FRAME_SIZE_ERROR,
        h2::Reason::COMPRESSION_ERROR,
        h2::Reason::FLOW_CONTROL_ERROR,
        h2::Reason::SETTINGS_TIMEOUT,
        h2::Reason::HTTP_1_1_REQUIRED,
    ]
    .contains(&reason);
    // `Reason`'s Debug is the code's name (`NO_ERROR`), its Display the RFC's words.
    let code = format!("{reason:?}");
    let p = if e.is_remote() && e.is_go_away() && !broken {
        ProbeError::new(
            ErrorKind::Reset,
            format!("the server closed the HTTP/2 connection (GOAWAY {code}: {reason}) before answering this request: proxies do this when they reload their configuration, drain or restart; the next request opens a new connection"),
        )
    } else if e.is_remote() && e.is_reset() && !broken {
        ProbeError::new(
            ErrorKind::Reset,
            format!("the server reset the HTTP/2 stream (RST_STREAM {code}: {reason}) before the response was complete"),
        )
    } else if e.is_remote() {
        ProbeError::new(
            ErrorKind::Protocol,
            format!("the server ended the HTTP/2 {} with {code} ({reason}): it found the exchange invalid HTTP/2", if e.is_go_away() { "connection" } else { "stream" }),
        )
    } else if e.is_library() {
        ProbeError::new(
            ErrorKind::Protocol,
            format!("the answer is not valid HTTP/2 ({code}: {reason}): the server may not speak HTTP/2 on this port"),
        )
    } else {
        ProbeError::new(
            ErrorKind::Reset,
            format!(
                "the HTTP/2 stream ended with {code} ({reason}) before the response was complete"
            ),
        )
    };
    Some(p)
}

/// How many certificate names a message lists at most.
const NAMES_SHOWN: usize = 8;

/// One sentence with advice for a TLS failure: the one place rustls errors
/// become text, for reqwest, the load engine and the WebSocket probe alike.
pub fn tls_sentence(e: &rustls::Error) -> String {
    use rustls::{CertificateError as C, Error as E};
    const INSECURE: &str = "or set `tls: { insecure: true }` on this target to measure through it anyway (lab and staging only)";
    match e {
        E::InvalidCertificate(c) => match c {
            C::UnknownIssuer => format!(
                "the server's certificate is not signed by an authority cutover trusts (unknown issuer): give the issuing CA's PEM bundle as `tls: {{ ca: … }}`, {INSECURE}"
            ),
            C::Expired => format!("the server's certificate has expired: renew it (with cert-manager, check the Certificate's status and the Gateway's secret), {INSECURE}"),
            C::ExpiredContext { not_after, .. } => format!(
                "the server's certificate expired on {}: renew it (with cert-manager, check the Certificate's status and the Gateway's secret), {INSECURE}",
                date(*not_after)
            ),
            C::NotValidYet => format!("the server's certificate is not valid yet: check the clocks of this machine and of whoever issued it, {INSECURE}"),
            C::NotValidYetContext { not_before, .. } => format!(
                "the server's certificate is not valid before {}: check the clocks of this machine and of whoever issued it, {INSECURE}",
                date(*not_before)
            ),
            C::NotValidForName => format!(
                "the server's certificate does not cover the production host: add the host to the certificate (cert-manager `dnsNames`, the Gateway listener's certificate), {INSECURE}"
            ),
            C::NotValidForNameContext { expected, presented } => {
                let covers = if presented.is_empty() {
                    "it names no host".to_owned()
                } else {
                    let names: Vec<&str> = presented.iter().map(|n| presented_name(n)).collect();
                    format!("it covers {}", summarise(&names, NAMES_SHOWN))
                };
                format!(
                    "the server's certificate does not cover the production host `{}` ({covers}): add the host to the certificate (cert-manager `dnsNames`, the Gateway listener's certificate), {INSECURE}",
                    expected.to_str()
                )
            }
            C::Other(other) if is_ca_used_as_end_entity(other) => format!(
                "the server presented a CA certificate as its own certificate: curl and browsers may accept this setup, rustls does not; have the CA sign a server certificate for the host, {INSECURE}"
            ),
            C::Revoked => format!("the server's certificate has been revoked: replace it, {INSECURE}"),
            C::BadSignature => format!("the server's certificate is not correctly signed by its issuer: check the chain the server sends, {INSECURE}"),
            C::BadEncoding => format!("the server's certificate cannot be parsed: check the secret the proxy serves, {INSECURE}"),
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => format!(
                "the server's certificate is not meant for TLS servers (its extended key usage lacks serverAuth): issue a server certificate, {INSECURE}"
            ),
            other => format!("the server's certificate was rejected ({other}): check the chain the server sends, {INSECURE}"),
        },
        E::AlertReceived(alert) => format!(
            "the server ended the TLS handshake with the alert `{}`: it may have no certificate for the production host (SNI) on this address, or share no TLS version or cipher suite with cutover",
            alert_name(*alert)
        ),
        E::NoCertificatesPresented => "the server presented no certificate: check the listener's certificate reference".to_owned(),
        E::PeerIncompatible(_) => "the server shares no TLS version or cipher suite with cutover (TLS 1.2 and 1.3 with modern ciphers): check the listener's TLS settings".to_owned(),
        E::InvalidMessage(_) | E::InappropriateMessage { .. } | E::InappropriateHandshakeMessage { .. } | E::PeerMisbehaved(_) | E::PeerSentOversizedRecord => {
            "the server's answer to the TLS handshake is not valid TLS: is this port plain HTTP (use `scheme: http`), or does a middlebox answer in its place?".to_owned()
        }
        E::DecryptError => "the TLS handshake failed to decrypt the server's messages: the server's key may not match its certificate".to_owned(),
        other => format!("the TLS handshake failed ({other}): check the listener's TLS settings, {INSECURE}"),
    }
}

/// A name as rustls presents it (webpki's `DnsName("a.example")`,
/// `IpAddress(…)`), without the wrapper.
fn presented_name(n: &str) -> &str {
    match (n.find('('), n.strip_suffix(')')) {
        (Some(open), Some(inner)) if n[..open].chars().all(|c| c.is_ascii_alphanumeric()) => {
            inner[open + 1..].trim_matches('"')
        }
        _ => n,
    }
}

/// webpki's `CaUsedAsEndEntity`, which rustls wraps in an opaque `OtherError`.
fn is_ca_used_as_end_entity(other: &rustls::OtherError) -> bool {
    matches!(
        other.0.downcast_ref::<webpki::Error>(),
        Some(webpki::Error::CaUsedAsEndEntity)
    )
}

fn date(t: rustls::pki_types::UnixTime) -> String {
    let at = std::time::UNIX_EPOCH + Duration::from_secs(t.as_secs());
    humantime::format_rfc3339_seconds(at).to_string()
}

/// A TLS alert in words (from RFC 8446 section 6).
fn alert_name(alert: rustls::AlertDescription) -> String {
    use rustls::AlertDescription as A;
    let name = match alert {
        A::HandshakeFailure => "handshake failure",
        A::UnrecognisedName => "unrecognised name",
        A::ProtocolVersion => "protocol version",
        A::InsufficientSecurity => "insufficient security",
        A::InternalError => "internal error",
        A::AccessDenied => "access denied",
        A::BadCertificate => "bad certificate",
        A::CertificateRequired => "certificate required",
        A::UnsupportedCertificate => "unsupported certificate",
        A::CertificateUnknown => "certificate unknown",
        A::UnknownCA => "unknown CA",
        A::DecodeError => "decode error",
        A::DecryptError => "decrypt error",
        A::IllegalParameter => "illegal parameter",
        A::NoApplicationProtocol => "no application protocol",
        A::UnexpectedMessage => "unexpected message",
        A::CloseNotify => "close notify",
        other => return format!("number {}", u8::from(other)),
    };
    name.to_owned()
}

/// At most `max` items joined by `, `, with how many there were when some
/// are left out: `4000 in all, the first 5: a, b, c, d, e`.
pub fn summarise<T: fmt::Display>(items: &[T], max: usize) -> String {
    let shown = items
        .iter()
        .take(max)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > max {
        format!("{} in all, the first {max}: {shown}", items.len())
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presented_names_lose_their_wrapper() {
        assert_eq!(presented_name("DnsName(\"a.example\")"), "a.example");
        assert_eq!(presented_name("*.a.example"), "*.a.example");
        assert_eq!(presented_name("IpAddress(192.0.2.1)"), "192.0.2.1");
    }

    #[test]
    fn long_lists_are_summarised() {
        let many: Vec<u32> = (1..=4000).collect();
        assert_eq!(
            summarise(&many, 5),
            "4000 in all, the first 5: 1, 2, 3, 4, 5"
        );
        assert_eq!(summarise(&many[..2], 5), "1, 2");
    }

    #[test]
    fn bad_chunked_encoding_under_hyper_is_protocol() {
        let io = std::io::Error::new(std::io::ErrorKind::InvalidInput, "Invalid chunk size line");
        assert_eq!(kind_of(&io, true), Some(ErrorKind::Protocol));
        assert_eq!(kind_of(&io, false), None);
    }
}
