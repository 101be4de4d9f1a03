//! The WebSocket probe: upgrade through one target, exchange messages, hold.
//!
//! A `TcpStream` goes to the target's address, TLS (for `wss`) presents the
//! production SNI, and tokio-tungstenite upgrades with the production Host,
//! so the path is exactly the one a browser takes through that load balancer.
//! The handshake is a [`Sample`] like any HTTP response (101, or the refusal
//! with its status, body and origin: kgateway's empty 403 is the gateway's).
//! After the upgrade each configured message is sent and its reply awaited
//! (round-trip times go into an HDR histogram); with `hold` the socket stays
//! open, pinging at an interval, and how it ended is recorded: held to the
//! end, closed by the server with a code, or dropped without a close frame
//! (what an idle timeout in nginx or Envoy looks like).
//!
//! Opening the connection (TCP connect, then TLS) is bounded by the check's
//! timeout and classified like the HTTP probe's: `connect_timeout` when it
//! does not open in time, `tls` with a sentence from `probe::error` when the
//! handshake fails. A refusal with a status outside 100–599 is `protocol`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use regex::Regex;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

use super::classify::classify;
use super::error::{from_error, ErrorKind, ProbeError};
use super::{Body, Response, Sample};
use crate::hdr::histogram;
use crate::target::{Connector, Scheme};

/// A fully resolved WebSocket check.
#[derive(Clone, Debug)]
pub struct WsSpec {
    pub path_and_query: String,
    pub host: Option<String>,
    pub headers: Vec<(String, String)>,
    pub origin: Option<String>,
    pub subprotocols: Vec<String>,
    pub send: Vec<WsMessage>,
    pub reply: Reply,
    /// Keep the socket open this long after the messages.
    pub hold: Option<Duration>,
    pub ping_interval: Duration,
    /// For the handshake and for each reply.
    pub timeout: Duration,
    /// The largest message accepted from the server, in bytes.
    pub max_message: u64,
    /// While holding: how long the pong to a ping may take.
    pub pong_timeout: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub enum WsMessage {
    Text(String),
    Binary(Bytes),
}

impl WsMessage {
    fn describe(&self) -> String {
        match self {
            WsMessage::Text(t) if t.chars().count() > 40 => {
                format!("text `{}…`", t.chars().take(40).collect::<String>())
            }
            WsMessage::Text(t) => format!("text `{t}`"),
            WsMessage::Binary(b) => format!("{} binary bytes", b.len()),
        }
    }

    pub fn to_message(&self) -> Message {
        match self {
            WsMessage::Text(t) => Message::text(t.clone()),
            WsMessage::Binary(b) => Message::binary(b.clone()),
        }
    }
}

/// What a reply to each message must be.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Any reply.
    Any,
    /// The same message back.
    Echo,
    /// A text reply matching this regex.
    Regex(Regex),
    /// A JSON reply with these pointers equal to these values.
    Json(Vec<(String, serde_json::Value)>),
}

/// One message and its reply.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub sent: String,
    pub rtt: Option<Duration>,
    pub failure: Option<String>,
}

/// How a socket ended.
#[derive(Clone, Debug, PartialEq)]
pub enum End {
    /// Still open when the hold ended (then closed by us).
    Held,
    /// The server sent a close frame.
    ClosedByServer { code: u16, reason: String },
    /// The connection ended without a close frame (an idle timeout in a proxy looks like this).
    Dropped,
    /// A transport error.
    Failed(ProbeError),
}

/// The result of one WebSocket probe.
#[derive(Clone, Debug)]
pub struct WsResult {
    /// The upgrade response (101) or the refusal.
    pub handshake: Sample,
    pub subprotocol: Option<String>,
    pub exchanges: Vec<Exchange>,
    /// Round-trip times of the replies, in µs.
    pub rtt: Histogram<u64>,
    /// With `hold`: how the socket ended and after how long (from the upgrade).
    pub ended: Option<(Duration, End)>,
}

impl WsResult {
    pub fn upgraded(&self) -> bool {
        self.handshake.status() == Some(101) && self.handshake.error.is_none()
    }
}

/// The byte stream under a socket: TCP or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Small buffers: tungstenite's 128 KiB defaults would cost 256 KiB per held
/// socket, and probes exchange small messages (larger ones still work: the
/// read buffer grows as needed, up to `max_message`: a message or frame
/// beyond it ends the socket as `body_too_large`, so no server can make a
/// socket buffer more than that).
fn config(max_message: u64) -> tungstenite::protocol::WebSocketConfig {
    let max = usize::try_from(max_message).unwrap_or(usize::MAX);
    tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

/// An upgraded socket, with its handshake sample and the chosen subprotocol.
pub struct Upgraded {
    pub ws: Ws,
    pub handshake: Sample,
    pub subprotocol: Option<String>,
}

/// Opens the connection and upgrades it; a refusal or failure comes back as
/// the handshake sample. Shared by the probe and the load engine's sockets.
pub async fn upgrade(conn: &Connector, spec: &WsSpec) -> Result<Upgraded, Sample> {
    let target = &conn.target;
    let host = spec.host.as_deref().unwrap_or(&target.host).to_owned();
    let scheme = match target.scheme {
        Scheme::Http => "ws",
        Scheme::Https => "wss",
    };
    let url: Arc<str> = format!("{scheme}://{host}{}", spec.path_and_query).into();
    let start = Instant::now();
    let failed = |e: ProbeError| Sample::failed(Arc::clone(&url), e, start.elapsed());
    let stream = match open(conn, &host, start + spec.timeout, spec.timeout).await {
        Ok(s) => s,
        Err(e) => return Err(failed(e)),
    };
    let request = build_request(
        &url,
        &host,
        target.headers.iter().chain(spec.headers.iter()),
        spec,
    )
    .map_err(|e| failed(ProbeError::new(ErrorKind::Other, e)))?;
    let handshake = tokio::time::timeout(
        spec.timeout,
        tokio_tungstenite::client_async_with_config(
            request,
            stream,
            Some(config(spec.max_message)),
        ),
    )
    .await;
    let (ws, response) = match handshake {
        Err(_) => return Err(failed(super::http::timeout_error(spec.timeout))),
        Ok(Err(tungstenite::Error::Http(resp))) => {
            // Refused: a real HTTP response, classified like any other.
            let (parts, body) = resp.into_parts();
            let body = body.unwrap_or_default();
            if let Err(e) = super::http::valid_status(parts.status.as_u16()) {
                return Err(failed(e));
            }
            return Err(response_sample(
                &url,
                start,
                parts.status.as_u16(),
                &parts.headers,
                &body,
                conn,
            ));
        }
        Ok(Err(e)) => return Err(failed(ws_error(e))),
        Ok(Ok(pair)) => pair,
    };
    let handshake = response_sample(
        &url,
        start,
        response.status().as_u16(),
        response.headers(),
        &[],
        conn,
    );
    let subprotocol = response
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok(Upgraded {
        ws,
        handshake,
        subprotocol,
    })
}

/// Upgrades through `conn`, exchanges the messages, holds if asked.
pub async fn probe(conn: &Connector, spec: &WsSpec) -> WsResult {
    let Upgraded {
        mut ws,
        handshake,
        subprotocol,
    } = match upgrade(conn, spec).await {
        Ok(u) => u,
        Err(handshake) => {
            return WsResult {
                handshake,
                subprotocol: None,
                exchanges: Vec::new(),
                rtt: histogram(),
                ended: None,
            }
        }
    };
    let upgraded_at = Instant::now();
    let mut rtt = histogram();
    let mut exchanges = Vec::new();
    let mut ended = None;
    for msg in &spec.send {
        let t0 = Instant::now();
        if let Err(e) = ws.send(msg.to_message()).await {
            exchanges.push(Exchange {
                sent: msg.describe(),
                rtt: None,
                failure: Some(format!("could not send: {}", ws_error(e))),
            });
            break;
        }
        match next_data(&mut ws, spec.timeout).await {
            Ok(reply) => {
                let took = t0.elapsed();
                rtt.saturating_record(took.as_micros().max(1) as u64);
                exchanges.push(Exchange {
                    sent: msg.describe(),
                    rtt: Some(took),
                    failure: check_reply(&spec.reply, msg, &reply),
                });
            }
            Err(end) => {
                exchanges.push(Exchange {
                    sent: msg.describe(),
                    rtt: None,
                    failure: Some(format!("no reply: {}", describe_end(&end))),
                });
                ended = Some((upgraded_at.elapsed(), end));
                break;
            }
        }
    }
    if ended.is_none() {
        if let Some(hold) = spec.hold {
            ended = Some(
                hold_open(
                    &mut ws,
                    upgraded_at + hold,
                    (spec.ping_interval, spec.pong_timeout),
                    upgraded_at,
                )
                .await,
            );
        }
    }
    if matches!(ended, None | Some((_, End::Held))) {
        // A polite close, bounded: the result does not depend on it.
        let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    }
    WsResult {
        handshake,
        subprotocol,
        exchanges,
        rtt,
        ended,
    }
}

/// TCP, then TLS for `wss`, both by `deadline` (else `connect_timeout`).
async fn open(
    conn: &Connector,
    host: &str,
    deadline: Instant,
    timeout: Duration,
) -> Result<Box<dyn Io>, ProbeError> {
    let addr = *conn
        .addrs()
        .map_err(|e| ProbeError::from(e.clone()))?
        .first()
        .ok_or_else(|| ProbeError::new(ErrorKind::Dns, "the target resolved to no address"))?;
    let tcp = super::http::open_tcp(addr, deadline, timeout).await?;
    let _ = tcp.set_nodelay(true);
    match conn.target.scheme {
        Scheme::Http => Ok(Box::new(tcp)),
        Scheme::Https => {
            let config = conn.tls_config().map_err(ProbeError::from)?;
            let name = rustls::pki_types::ServerName::try_from(crate::target::host_name(host))
                .map_err(|e| {
                    ProbeError::new(
                        ErrorKind::Tls,
                        format!("`{host}` is not a valid TLS name: {e}"),
                    )
                })?;
            let handshake = tokio_rustls::TlsConnector::from(config).connect(name, tcp);
            let tls = match tokio::time::timeout_at(deadline, handshake).await {
                Err(_) => {
                    return Err(ProbeError::new(
                        ErrorKind::ConnectTimeout,
                        format!(
                            "the TLS handshake with {addr} did not finish within {}: the port may not speak TLS, or the proxy is overloaded",
                            humantime::format_duration(timeout)
                        ),
                    ))
                }
                Ok(Err(e)) => return Err(tls_error(&e)),
                Ok(Ok(tls)) => tls,
            };
            Ok(Box::new(tls))
        }
    }
}

/// A failed TLS handshake: rustls' reason as a sentence, or the transport's.
fn tls_error(e: &std::io::Error) -> ProbeError {
    let p = from_error(e);
    let message = match p.kind {
        ErrorKind::Tls => p.message,
        ErrorKind::Reset => format!(
            "the server closed the connection during the TLS handshake ({}): it may not serve the production host (SNI) on this address",
            p.message
        ),
        _ => format!("the TLS handshake failed: {}", p.message),
    };
    ProbeError::new(ErrorKind::Tls, message)
}

fn build_request<'h>(
    url: &str,
    host: &str,
    headers: impl Iterator<Item = &'h (String, String)>,
    spec: &WsSpec,
) -> Result<http::Request<()>, String> {
    let mut b = http::Request::builder()
        .method("GET")
        .uri(url)
        .header("host", host)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header(
            "sec-websocket-key",
            tungstenite::handshake::client::generate_key(),
        )
        .header("user-agent", concat!("cutover/", env!("CARGO_PKG_VERSION")));
    for (n, v) in headers {
        b = b.header(n.as_str(), v.as_str());
    }
    if let Some(origin) = &spec.origin {
        b = b.header("origin", origin.as_str());
    }
    if !spec.subprotocols.is_empty() {
        b = b.header("sec-websocket-protocol", spec.subprotocols.join(", "));
    }
    b.body(())
        .map_err(|e| format!("invalid WebSocket request: {e}"))
}

fn response_sample(
    url: &Arc<str>,
    start: Instant,
    status: u16,
    headers: &http::HeaderMap,
    body: &[u8],
    conn: &Connector,
) -> Sample {
    let text = String::from_utf8_lossy(body);
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (origin, origin_reason) =
        classify(status, &get, &text, conn.target.proxy, conn.target.role);
    let latency = start.elapsed();
    Sample {
        url: Arc::clone(url),
        response: Some(Response {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: Body {
                size: body.len() as u64,
                sha256: String::new(),
                prefix: Bytes::copy_from_slice(body),
                truncated: false,
            },
            origin,
            origin_reason,
            version: Some(super::Protocol::Http11),
            trailers: Vec::new(),
        }),
        error: None,
        latency,
        ttfb: Some(latency),
    }
}

/// An upgraded WebSocket over plain TCP or TLS.
pub type Ws = tokio_tungstenite::WebSocketStream<Box<dyn Io>>;

/// The next text or binary message; pings and pongs are skipped.
pub async fn next_data(ws: &mut Ws, timeout: Duration) -> Result<Message, End> {
    let deadline = Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return Err(End::Failed(super::http::timeout_error(timeout))),
            Ok(None) => return Err(End::Dropped),
            Ok(Some(Err(e))) => return Err(end_of(e)),
            Ok(Some(Ok(Message::Close(frame)))) => return Err(closed(frame)),
            Ok(Some(Ok(m @ (Message::Text(_) | Message::Binary(_))))) => return Ok(m),
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// Keeps the socket open until `until`, pinging every `interval`; a ping
/// left without a pong for `pong_timeout` ends the hold as a failure (a
/// server or proxy that stopped answering is not "held open").
async fn hold_open(
    ws: &mut Ws,
    until: Instant,
    (interval, pong_timeout): (Duration, Duration),
    since: Instant,
) -> (Duration, End) {
    let mut next_ping = Instant::now() + interval;
    // When the oldest unanswered ping was sent.
    let mut awaiting: Option<Instant> = None;
    loop {
        let pong_due = awaiting.map(|at| at + pong_timeout);
        let wake = pong_due.map_or(next_ping, |d| d.min(next_ping)).min(until);
        tokio::select! {
            msg = ws.next() => match msg {
                None => return (since.elapsed(), End::Dropped),
                Some(Err(e)) => return (since.elapsed(), end_of(e)),
                Some(Ok(Message::Close(frame))) => return (since.elapsed(), closed(frame)),
                Some(Ok(Message::Pong(_))) => awaiting = None,
                Some(Ok(_)) => {}
            },
            () = tokio::time::sleep_until(wake) => {
                let now = Instant::now();
                if pong_due.is_some_and(|d| now >= d) {
                    return (
                        since.elapsed(),
                        End::Failed(ProbeError::new(
                            ErrorKind::Timeout,
                            format!(
                                "no pong came within {} of a ping: the server or a proxy stopped answering on the socket",
                                humantime::format_duration(pong_timeout)
                            ),
                        )),
                    );
                }
                if now >= until {
                    return (since.elapsed(), End::Held);
                }
                if now >= next_ping {
                    next_ping += interval;
                    if let Err(e) = ws.send(Message::Ping(Bytes::from_static(b"cutover"))).await {
                        return (since.elapsed(), end_of(e));
                    }
                    awaiting.get_or_insert(now);
                }
            }
        }
    }
}

fn closed(frame: Option<tungstenite::protocol::CloseFrame>) -> End {
    match frame {
        Some(f) => End::ClosedByServer {
            code: u16::from(f.code),
            reason: f.reason.to_string(),
        },
        None => End::ClosedByServer {
            code: u16::from(CloseCode::Status),
            reason: String::new(),
        },
    }
}

/// How a socket ended, from the error that ended it.
pub fn end_of(e: tungstenite::Error) -> End {
    match e {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => End::Dropped,
        tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        ) => End::Dropped,
        other => End::Failed(ws_error(other)),
    }
}

fn ws_error(e: tungstenite::Error) -> ProbeError {
    match e {
        tungstenite::Error::Capacity(c) => ProbeError::new(
            ErrorKind::BodyTooLarge,
            format!("the server sent a message over the cap ({c}): raise `max_message` if such messages are expected"),
        ),
        tungstenite::Error::Io(io) => from_error(&io),
        tungstenite::Error::Protocol(p) => ProbeError::new(ErrorKind::Protocol, p.to_string()),
        tungstenite::Error::Http(r) => ProbeError::new(
            ErrorKind::Protocol,
            format!("unexpected HTTP {}", r.status()),
        ),
        other => ProbeError::new(ErrorKind::Protocol, other.to_string()),
    }
}

impl End {
    /// The error kind a socket that ended this way early counts as.
    pub fn kind(&self) -> ErrorKind {
        match self {
            End::Failed(e) => e.kind,
            End::Dropped | End::ClosedByServer { .. } => ErrorKind::Reset,
            End::Held => ErrorKind::Other,
        }
    }
}

/// A sentence for how a socket ended.
pub fn describe_end(end: &End) -> String {
    match end {
        End::Held => "held open to the end".into(),
        End::ClosedByServer { code, reason } if reason.is_empty() => {
            format!("closed by the server with code {code}")
        }
        End::ClosedByServer { code, reason } => {
            format!("closed by the server with code {code} ({reason})")
        }
        End::Dropped => {
            "the connection ended without a close frame (a proxy's idle timeout looks like this)"
                .into()
        }
        End::Failed(e) => format!("failed: {e}"),
    }
}

/// Why a reply does not satisfy `expect`, if it does not.
pub fn check_reply(expect: &Reply, sent: &WsMessage, got: &Message) -> Option<String> {
    let text = match got {
        Message::Text(t) => Some(t.as_str().to_owned()),
        Message::Binary(b) => std::str::from_utf8(b).ok().map(str::to_owned),
        _ => None,
    };
    match expect {
        Reply::Any => None,
        Reply::Echo => {
            let same = match (sent, got) {
                (WsMessage::Text(s), Message::Text(t)) => s.as_str() == t.as_str(),
                (WsMessage::Binary(s), Message::Binary(b)) => s[..] == b[..],
                _ => false,
            };
            (!same).then(|| {
                format!(
                    "expected the {} echoed, got {}",
                    sent.describe(),
                    describe_message(got)
                )
            })
        }
        Reply::Regex(re) => match &text {
            Some(t) if re.is_match(t) => None,
            _ => Some(format!(
                "reply {} does not match /{}/",
                describe_message(got),
                re.as_str()
            )),
        },
        Reply::Json(rules) => {
            let Some(doc) = text
                .as_deref()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
            else {
                return Some(format!("reply {} is not JSON", describe_message(got)));
            };
            let fails: Vec<String> = rules
                .iter()
                .filter_map(|(ptr, want)| match doc.pointer(ptr) {
                    Some(v) if v == want => None,
                    Some(v) => Some(format!(
                        "reply JSON `{ptr}` is {v} where {want} was expected"
                    )),
                    None => Some(format!("reply JSON has nothing at `{ptr}`")),
                })
                .collect();
            (!fails.is_empty()).then(|| fails.join("; "))
        }
    }
}

fn describe_message(m: &Message) -> String {
    match m {
        Message::Text(t) => WsMessage::Text(t.as_str().to_owned()).describe(),
        Message::Binary(b) => format!("{} binary bytes", b.len()),
        _ => "a control frame".to_owned(),
    }
}
