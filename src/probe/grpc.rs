//! The gRPC probe: one call through one target, over HTTP/2.
//!
//! The request message was encoded when the scenario was validated (JSON
//! through the method's input type, `scenario::plan::grpc`); here it is
//! framed (one byte of flags, four of length, the message), sent as
//! `POST /package.Service/Method` with `content-type: application/grpc` and
//! `te: trailers`, over ALPN `h2` on https or prior-knowledge h2c on plain
//! http. The exchange is the HTTP probe's own ([`super::http::send`]: one
//! timer, the body read up to [`MAX_ANSWER_BYTES`], the trailers kept); then
//! each length-prefixed message of the body is decoded with the output type
//! into JSON, and the status comes from the trailers (or from the headers of
//! a trailers-only answer).
//!
//! An answer without `grpc-status` gets the code a gRPC client would give
//! it from the HTTP status (gRPC's "HTTP to gRPC status code mapping": 400
//! INTERNAL, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 UNIMPLEMENTED,
//! 429, 502, 503 and 504 UNAVAILABLE, anything else UNKNOWN), and says so:
//! an nginx 502 page in front of a gRPC backend reaches clients as
//! UNAVAILABLE, like Envoy's own UNAVAILABLE, and only the origin (here, the
//! page; there, Envoy's local-reply text in `grpc-message`) tells them apart.
//!
//! The [`Sample`] it returns is what the HTTP checks' expectations and
//! parity read: the HTTP status and headers, the trailers, and as the body
//! the decoded message (a JSON object; a JSON array of every message for a
//! server-streaming call), so `expect.json` and `parity: [body]` apply to
//! the response message as they do to a JSON body. At most
//! [`MAX_MESSAGES`] messages are kept; every one is counted.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use prost_reflect::{DynamicMessage, MessageDescriptor};
use sha2::{Digest, Sha256};

use super::classify::classify;
use super::error::{ErrorKind, ProbeError};
use super::http::{hex, HttpSpec, Version};
use super::{Body, Sample};
use crate::target::{Connector, Wire};

/// Messages of a streaming answer kept (all are counted).
pub const MAX_MESSAGES: usize = 1000;
/// The largest message read (gRPC's default receive limit is 4 MiB).
pub const MAX_MESSAGE_BYTES: usize = 4 << 20;
/// The most of an answer a check reads (all its messages together).
pub const MAX_ANSWER_BYTES: u64 = 16 << 20;

/// A gRPC status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    Ok,
    Cancelled,
    Unknown,
    InvalidArgument,
    DeadlineExceeded,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    ResourceExhausted,
    FailedPrecondition,
    Aborted,
    OutOfRange,
    Unimplemented,
    Internal,
    Unavailable,
    DataLoss,
    Unauthenticated,
}

const CODES: [Code; 17] = [
    Code::Ok,
    Code::Cancelled,
    Code::Unknown,
    Code::InvalidArgument,
    Code::DeadlineExceeded,
    Code::NotFound,
    Code::AlreadyExists,
    Code::PermissionDenied,
    Code::ResourceExhausted,
    Code::FailedPrecondition,
    Code::Aborted,
    Code::OutOfRange,
    Code::Unimplemented,
    Code::Internal,
    Code::Unavailable,
    Code::DataLoss,
    Code::Unauthenticated,
];

impl Code {
    /// The code numbered `n` (0–16).
    pub fn from_number(n: u32) -> Option<Code> {
        CODES.get(n as usize).copied()
    }

    pub fn number(self) -> u32 {
        CODES.iter().position(|c| *c == self).unwrap_or(2) as u32
    }

    /// `UNAVAILABLE`.
    pub fn name(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Cancelled => "CANCELLED",
            Code::Unknown => "UNKNOWN",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::DataLoss => "DATA_LOSS",
            Code::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    /// A name in any case (`not_found`, `NotFound` is not accepted) or a number.
    pub fn parse(s: &str) -> Option<Code> {
        let s = s.trim();
        if let Ok(n) = s.parse::<u32>() {
            return Code::from_number(n);
        }
        CODES
            .iter()
            .copied()
            .find(|c| c.name().eq_ignore_ascii_case(s))
    }

    /// The code a gRPC client gives an answer without `grpc-status`.
    pub fn from_http(status: u16) -> Code {
        match status {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.number())
    }
}

/// A resolved gRPC call of a check.
#[derive(Clone, Debug)]
pub struct GrpcSpec {
    /// `cutover.lab.v1.Shop`.
    pub service: String,
    /// `GetItem`.
    pub method: String,
    /// The request message, encoded.
    pub request: Bytes,
    /// The method's output type, to decode answers with.
    pub output: MessageDescriptor,
    /// The server streams its answer.
    pub server_streaming: bool,
    /// Request metadata (headers), names lowercase.
    pub metadata: Vec<(String, String)>,
    /// Host/`:authority` override (else the target's host).
    pub host: Option<String>,
    pub timeout: Duration,
}

impl GrpcSpec {
    /// `/cutover.lab.v1.Shop/GetItem`.
    pub fn path(&self) -> String {
        format!("/{}/{}", self.service, self.method)
    }
}

/// How the call ended.
#[derive(Clone, Debug, PartialEq)]
pub struct GrpcStatus {
    pub code: Code,
    /// `grpc-message`, percent-decoded.
    pub message: String,
    /// The HTTP status the code was derived from, when there was no `grpc-status`.
    pub from_http: Option<u16>,
    /// Messages received (all of them, beyond those kept).
    pub messages: u64,
    /// The answer is trailers-only (status in the headers, no body).
    pub trailers_only: bool,
}

/// What one call got.
#[derive(Clone, Debug)]
pub struct GrpcResult {
    /// The HTTP answer; its body is the decoded message(s) as JSON.
    pub sample: Sample,
    /// `None` when no answer came (see the sample's error).
    pub status: Option<GrpcStatus>,
}

/// Frames `message`: no compression, its length, then the bytes.
pub fn frame(message: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + message.len());
    b.extend_from_slice(&[0]);
    b.extend_from_slice(&(message.len() as u32).to_be_bytes());
    b.extend_from_slice(message);
    b.freeze()
}

/// Takes the complete messages off the front of `buf`; an error when a
/// message is compressed (not asked for) or larger than the limit.
pub fn unframe(buf: &mut BytesMut) -> Result<Vec<Bytes>, String> {
    let mut out = Vec::new();
    while buf.len() >= 5 {
        let compressed = buf[0];
        let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
        if compressed != 0 {
            return Err("a message came compressed, which the call did not ask for".into());
        }
        if len > MAX_MESSAGE_BYTES {
            return Err(format!(
                "a message of {len} bytes is larger than the {MAX_MESSAGE_BYTES} bytes gRPC clients accept by default"
            ));
        }
        if buf.len() < 5 + len {
            break;
        }
        buf.advance(5);
        out.push(buf.split_to(len).freeze());
    }
    Ok(out)
}

/// `grpc-message` is percent-encoded; invalid sequences are kept as sent.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Calls `spec` through `conn` and classifies what comes back.
///
/// The exchange is the HTTP probe's ([`super::http::send`]: one timer,
/// connect timeouts told apart, the body read with a cap, the trailers
/// kept); this reads the gRPC in what it returns.
pub async fn probe(conn: &Connector, spec: &GrpcSpec) -> GrpcResult {
    let target = &conn.target;
    let host = spec.host.as_deref().unwrap_or(&target.host);
    let url: Arc<str> = target.url(host, &spec.path()).into();
    // gRPC is HTTP/2 only: ALPN `h2` on https, prior knowledge on http.
    let client = match conn.client_for(Wire::H2c, false) {
        Ok(c) => c,
        Err(e) => {
            return GrpcResult {
                sample: Sample::failed(url, e.into(), Duration::ZERO),
                status: None,
            }
        }
    };
    let mut headers = vec![
        ("content-type".to_owned(), "application/grpc".to_owned()),
        ("te".to_owned(), "trailers".to_owned()),
        (
            "grpc-timeout".to_owned(),
            format!("{}m", spec.timeout.as_millis().min(99_999_999)),
        ),
    ];
    headers.extend(spec.metadata.iter().cloned());
    let request = HttpSpec {
        method: reqwest::Method::POST,
        path_and_query: spec.path(),
        host: spec.host.clone(),
        headers,
        body: Some(frame(&spec.request)),
        timeout: spec.timeout,
        follow_redirects: false,
        body_cap: MAX_ANSWER_BYTES,
        version: Version::H2c,
    };
    let mut sample = super::http::send(client, target, url, &request).await;
    let Some(resp) = sample.response.as_mut() else {
        return GrpcResult {
            sample,
            status: None,
        };
    };
    let find = |name: &str| {
        resp.trailers
            .iter()
            .chain(resp.headers.iter())
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let grpc_answer = find("content-type").is_some_and(|c| c.starts_with("application/grpc"));
    // The messages, each decoded to JSON (the first MAX_MESSAGES kept).
    let mut decoded: Vec<serde_json::Value> = Vec::new();
    let mut count: u64 = 0;
    if grpc_answer && sample.error.is_none() {
        let mut buf = BytesMut::from(&resp.body.prefix[..]);
        let problem = match unframe(&mut buf) {
            Err(why) => Some(why),
            Ok(_) if resp.body.truncated => Some(format!(
                "the answer is larger than the {MAX_ANSWER_BYTES} bytes a check reads"
            )),
            Ok(_) if !buf.is_empty() => Some(format!(
                "the answer ended inside a message ({} bytes of it left over)",
                buf.len()
            )),
            Ok(messages) => {
                for m in messages {
                    count += 1;
                    if decoded.len() < MAX_MESSAGES {
                        decoded.push(decode(&spec.output, &m));
                    }
                }
                None
            }
        };
        if let Some(why) = problem {
            sample.error = Some(ProbeError::new(ErrorKind::Protocol, why));
        }
    }
    // The status: trailers, else the headers of a trailers-only answer,
    // else what a client derives from the HTTP status.
    let status = resp.status;
    let trailers_only = resp.trailers.is_empty() && find("grpc-status").is_some();
    let grpc = match find("grpc-status").and_then(|s| s.trim().parse::<u32>().ok()) {
        Some(n) => GrpcStatus {
            code: Code::from_number(n).unwrap_or(Code::Unknown),
            message: find("grpc-message")
                .map(|m| percent_decode(&m))
                .unwrap_or_default(),
            from_http: None,
            messages: count,
            trailers_only,
        },
        None if status == 200 && grpc_answer && sample.error.is_none() => GrpcStatus {
            code: Code::Internal,
            message: "the answer ended without a grpc-status".into(),
            from_http: None,
            messages: count,
            trailers_only: false,
        },
        None => GrpcStatus {
            code: if status == 200 {
                Code::Unknown
            } else {
                Code::from_http(status)
            },
            message: format!("HTTP status {status} without grpc-status"),
            from_http: Some(status),
            messages: count,
            trailers_only: false,
        },
    };
    if grpc.from_http.is_none() {
        // A gRPC status's message is where its maker signs: Envoy's local
        // replies carry their fixed texts there, not in a body.
        let get = |name: &str| {
            resp.headers
                .iter()
                .chain(resp.trailers.iter())
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        (resp.origin, resp.origin_reason) =
            classify(status, &get, &grpc.message, target.proxy, target.role);
    }
    if grpc_answer {
        // The body is the answer as JSON: what `expect.json` and parity read.
        let json = if spec.server_streaming {
            serde_json::Value::Array(decoded)
        } else {
            decoded
                .into_iter()
                .next()
                .unwrap_or(serde_json::Value::Null)
        };
        let bytes = serde_json::to_vec(&json).unwrap_or_default();
        resp.body = Body {
            size: bytes.len() as u64,
            sha256: hex(&Sha256::digest(&bytes)),
            prefix: Bytes::from(bytes),
            truncated: false,
        };
    }
    GrpcResult {
        sample,
        status: Some(grpc),
    }
}

/// One message as JSON (protobuf's JSON mapping), or why it does not decode.
fn decode(output: &MessageDescriptor, bytes: &[u8]) -> serde_json::Value {
    match DynamicMessage::decode(output.clone(), bytes) {
        Ok(m) => serde_json::to_value(&m)
            .unwrap_or_else(|e| serde_json::json!({ "_undecodable": e.to_string() })),
        Err(e) => serde_json::json!({
            "_undecodable": format!("not a {}: {e}", output.full_name())
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_by_name_or_number_and_map_http_statuses() {
        assert_eq!(Code::parse("UNAVAILABLE"), Some(Code::Unavailable));
        assert_eq!(Code::parse("not_found"), Some(Code::NotFound));
        assert_eq!(Code::parse("14"), Some(Code::Unavailable));
        assert_eq!(Code::parse("17"), None);
        assert_eq!(Code::Unauthenticated.number(), 16);
        assert_eq!(Code::from_http(502), Code::Unavailable);
        assert_eq!(Code::from_http(404), Code::Unimplemented);
        assert_eq!(Code::from_http(500), Code::Unknown);
        assert_eq!(Code::Unavailable.to_string(), "UNAVAILABLE (14)");
    }

    #[test]
    fn frames_round_trip_across_chunk_boundaries() {
        let a = frame(b"hello");
        let b = frame(b"");
        let mut all = BytesMut::new();
        all.extend_from_slice(&a);
        all.extend_from_slice(&b);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for byte in all.iter() {
            buf.extend_from_slice(&[*byte]);
            got.extend(unframe(&mut buf).expect("valid"));
        }
        assert_eq!(got, vec![Bytes::from_static(b"hello"), Bytes::new()]);
        assert!(buf.is_empty());
        let mut compressed = BytesMut::from(&[1u8, 0, 0, 0, 0][..]);
        assert!(unframe(&mut compressed).is_err());
    }

    #[test]
    fn grpc_messages_are_percent_decoded() {
        assert_eq!(
            percent_decode("no%20healthy%20upstream"),
            "no healthy upstream"
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
