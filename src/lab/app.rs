//! The lab's one in-process app, reached by both fronts.
//!
//! It owns the app routes (`/api/items`, `/api/prices`, `/session`,
//! `/slow`, `/status/{code}`, `/echo-headers`, `/big`, the `/ws` WebSocket
//! echo, the `/api` catch-all and the 404), its answer to OPTIONS, and
//! nothing about proxies: the fronts decide whether a request gets here at
//! all. `/api/prices` is a real API's JSON: a timestamp (`served_at`), a
//! request id and per-item `updated_at` that change on every answer, and
//! prices that the app behind the gateway can be switched to get wrong
//! (`gateway_price_every`).
//! Invariant: every response it produces carries `x-app: lab`, and it never
//! panics on anything a client sent.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use hyper::header::{
    HeaderValue, ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_ORIGIN, ALLOW, CONNECTION,
    CONTENT_TYPE, HOST, ORIGIN, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_VERSION, SET_COOKIE, UPGRADE,
};
use hyper::{HeaderMap, Method, Response, StatusCode};
use tokio::io::DuplexStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

use super::Switches;

/// Response body used by the app and both fronts.
pub type Body = BoxBody<Bytes, Infallible>;

/// The exact body of `GET /api/items`.
pub const ITEMS_JSON: &str = r#"{"items":[{"id":1,"name":"widget"},{"id":2,"name":"gadget"}]}"#;
/// Longest delay `/slow` honours, in milliseconds.
pub const MAX_SLOW_MS: u64 = 60_000;
/// Largest body `/big` produces, in bytes.
pub const MAX_BIG_BYTES: u64 = 1 << 30;

/// Subprotocols `/ws` accepts; it picks the first one the client offers.
pub const WS_PROTOCOLS: [&str; 2] = ["echo", "chat"];

/// A request as the app sees it, after a front has forwarded it.
#[derive(Debug)]
pub struct AppRequest {
    /// Request method.
    pub method: Method,
    /// Path without the query.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Headers, including those the front added.
    pub headers: HeaderMap,
    /// SNI the front saw in the TLS handshake (`None` over plain HTTP).
    pub sni: Option<String>,
    /// Length of the request body the front read.
    pub body_len: u64,
    /// The body of a gRPC call (other bodies are only counted).
    pub body: bytes::Bytes,
    /// The request came through the gateway front (the app instance behind
    /// the gateway, for differences switched on that side only).
    pub via_gateway: bool,
    /// For an upgrade request, the app's end of the front's tunnel: the app
    /// speaks the new protocol on it if it answers 101.
    pub upgrade: Option<DuplexStream>,
}

/// A whole body from bytes.
pub fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into()).boxed()
}

/// An empty body.
pub fn empty() -> Body {
    Empty::new().boxed()
}

/// Whether `headers` ask for a WebSocket upgrade (`connection: upgrade` and
/// `upgrade: websocket`), as a proxy decides it; the app checks the rest.
pub fn wants_websocket(headers: &HeaderMap) -> bool {
    let upgrade = headers.get_all(CONNECTION).iter().any(|v| {
        let v = v.to_str().unwrap_or("");
        v.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
    });
    let websocket = headers.get(UPGRADE).and_then(|v| v.to_str().ok());
    upgrade && websocket.is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
}

/// Handles one request with the app's routes; of `switches` only the app's
/// own (`app_cors_reflects_origin`) apply here.
pub async fn handle(mut req: AppRequest, switches: &Switches) -> Response<Body> {
    let path = req.path.as_str();
    let mut resp = if req.method == Method::POST && super::grpc::is_grpc(&req.headers) {
        super::grpc::app(path, &req.body)
    } else if req.method == Method::OPTIONS {
        options(
            &req.headers,
            switches.app_cors_reflects_origin.load(Relaxed),
        )
    } else if path == "/ws" {
        websocket(&req.method, &req.headers, req.upgrade.take())
    } else if path == "/api/items" {
        if req.method == Method::GET || req.method == Method::HEAD {
            text(StatusCode::OK, "application/json", ITEMS_JSON)
        } else {
            let mut r = text(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain",
                "method not allowed",
            );
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            r
        }
    } else if path == "/api/flaky" {
        let every = switches.flaky_every.load(Relaxed);
        let seen = switches.flaky_seen[usize::from(req.via_gateway)].fetch_add(1, Relaxed) + 1;
        if every > 0 && seen.is_multiple_of(every) {
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "application/json",
                r#"{"error":"busy, try again"}"#,
            )
        } else {
            text(StatusCode::OK, "application/json", ITEMS_JSON)
        }
    } else if path == "/api/prices" {
        let wrong = req.via_gateway && gateway_price_wrong(switches);
        text(StatusCode::OK, "application/json", prices(wrong))
    } else if path == "/session" {
        let mut r = text(
            StatusCode::OK,
            "application/json",
            r#"{"session":"started"}"#,
        );
        r.headers_mut().insert(
            SET_COOKIE,
            HeaderValue::from_static("session=lab; Path=/; HttpOnly"),
        );
        r
    } else if path == "/slow" {
        match query_u64(req.query.as_deref(), "ms") {
            Some(ms) => {
                let ms = ms.min(MAX_SLOW_MS);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                text(StatusCode::OK, "text/plain", format!("slept {ms} ms"))
            }
            None => text(StatusCode::BAD_REQUEST, "text/plain", "want /slow?ms=N"),
        }
    } else if let Some(code) = path.strip_prefix("/status/") {
        status(code)
    } else if path == "/echo-headers" {
        text(StatusCode::OK, "application/json", echo(&req))
    } else if path == "/big" {
        match query_u64(req.query.as_deref(), "bytes") {
            Some(n) => big(n.min(MAX_BIG_BYTES)),
            None => text(StatusCode::BAD_REQUEST, "text/plain", "want /big?bytes=N"),
        }
    } else if path.starts_with("/api") {
        text(StatusCode::OK, "text/plain", "api catch-all")
    } else {
        text(StatusCode::NOT_FOUND, "text/plain", "not found")
    };
    resp.headers_mut()
        .insert("x-app", HeaderValue::from_static("lab"));
    resp
}

/// Whether this gateway answer of `/api/prices` gets a wrong price.
fn gateway_price_wrong(switches: &Switches) -> bool {
    static ANSWERS: AtomicU64 = AtomicU64::new(0);
    match switches.gateway_price_every.load(Relaxed) {
        0 => false,
        every => ANSWERS.fetch_add(1, Relaxed) % every == every - 1,
    }
}

/// `/api/prices`: what changes per answer changes, prices stay (unless `wrong`).
fn prices(wrong: bool) -> String {
    static IDS: AtomicU64 = AtomicU64::new(0);
    let id = IDS.fetch_add(1, Relaxed);
    let served_at = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
    let updated = |item: u64| format!("{served_at}-{item}");
    serde_json::json!({
        "served_at": served_at,
        "request_id": format!("req-{id}"),
        "items": [
            {"id": 1, "name": "widget", "price_cents": 1299, "updated_at": updated(1)},
            {"id": 2, "name": "gadget", "price_cents": if wrong { 2499 } else { 2599 }, "updated_at": updated(2)},
        ],
    })
    .to_string()
}

/// OPTIONS on any path: 204 with `allow`, and no CORS headers unless the app
/// is set to reflect any origin (credentials included).
fn options(headers: &HeaderMap, reflect_origin: bool) -> Response<Body> {
    let mut resp = Response::new(empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let h = resp.headers_mut();
    h.insert(ALLOW, HeaderValue::from_static("GET, HEAD, OPTIONS"));
    if let Some(origin) = headers.get(ORIGIN).filter(|_| reflect_origin) {
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        let yes = HeaderValue::from_static("true");
        h.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, yes);
    }
    resp
}

/// `/ws`: completes a version-13 WebSocket handshake with 101 and echoes on
/// `tunnel`; anything else is a 426 naming the version it speaks.
fn websocket(method: &Method, headers: &HeaderMap, tunnel: Option<DuplexStream>) -> Response<Body> {
    let key = headers.get(SEC_WEBSOCKET_KEY);
    let v13 = headers
        .get(SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v == "13");
    let handshake = *method == Method::GET && wants_websocket(headers) && v13;
    let (Some(key), Some(tunnel), true) = (key, tunnel, handshake) else {
        let mut r = text(
            StatusCode::UPGRADE_REQUIRED,
            "text/plain",
            "want a WebSocket upgrade, version 13",
        );
        r.headers_mut()
            .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return r;
    };
    let accept = derive_accept_key(key.as_bytes());
    let offered = headers.get_all(SEC_WEBSOCKET_PROTOCOL).iter();
    let offered = offered.filter_map(|v| v.to_str().ok());
    let protocol = offered
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find_map(|p| WS_PROTOCOLS.into_iter().find(|&ours| ours == p));
    let mut resp = Response::new(empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        h.insert(SEC_WEBSOCKET_ACCEPT, accept);
    }
    if let Some(p) = protocol {
        h.insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(p));
    }
    tokio::spawn(echo_messages(tunnel));
    resp
}

/// Sends every text and binary message back unchanged until the peer closes
/// or goes away; tungstenite itself answers pings and the closing handshake.
async fn echo_messages(io: DuplexStream) {
    let mut ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
    while let Some(Ok(msg)) = ws.next().await {
        if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
            break;
        }
    }
}

fn text(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// `/status/{code}`: 100-599 answer with that status, anything else is a 400.
fn status(code: &str) -> Response<Body> {
    let parsed = code
        .parse::<u16>()
        .ok()
        .filter(|c| (100..=599).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok());
    match parsed {
        // These statuses must not carry a body.
        Some(s) if s == StatusCode::NO_CONTENT || s == StatusCode::NOT_MODIFIED => {
            let mut resp = Response::new(empty());
            *resp.status_mut() = s;
            resp
        }
        Some(s) => text(s, "text/plain", format!("status {} from app", s.as_u16())),
        None => text(
            StatusCode::BAD_REQUEST,
            "text/plain",
            "status must be 100-599",
        ),
    }
}

fn echo(req: &AppRequest) -> String {
    let mut headers = serde_json::Map::new();
    for name in req.headers.keys() {
        let joined = req
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(", ");
        headers.insert(name.as_str().to_owned(), joined.into());
    }
    let host = req
        .headers
        .get(HOST)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    serde_json::json!({
        "method": req.method.as_str(),
        "path": req.path,
        "query": req.query,
        "host": host,
        "sni": req.sni,
        "headers": headers,
        "body_len": req.body_len,
    })
    .to_string()
}

/// The value of `key` in a query string, as a number.
fn query_u64(query: Option<&str>, key: &str) -> Option<u64> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

fn big(len: u64) -> Response<Body> {
    let mut resp = Response::new(BoxBody::new(Filler { left: len }));
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    resp
}

/// Bytes `/big` streams, one static chunk at a time.
static CHUNK: [u8; 64 * 1024] = [b'x'; 64 * 1024];

/// A body of `left` bytes produced lazily, so `/big` never allocates it whole.
struct Filler {
    left: u64,
}

impl HttpBody for Filler {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = usize::try_from(self.left).map_or(CHUNK.len(), |l| l.min(CHUNK.len()));
        self.left -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&CHUNK[..n])))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(path: &str, query: Option<&str>) -> AppRequest {
        AppRequest {
            method: Method::GET,
            path: path.into(),
            query: query.map(Into::into),
            headers: HeaderMap::new(),
            sni: None,
            body_len: 0,
            body: bytes::Bytes::new(),
            via_gateway: false,
            upgrade: None,
        }
    }

    async fn handle(req: AppRequest) -> Response<Body> {
        super::handle(req, &Switches::default()).await
    }

    async fn body_of(resp: Response<Body>) -> Bytes {
        match resp.into_body().collect().await {
            Ok(c) => c.to_bytes(),
            Err(never) => match never {},
        }
    }

    #[tokio::test]
    async fn routes_answer_as_documented() {
        let r = handle(req("/api/items", None)).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-app"], "lab");
        assert_eq!(body_of(r).await, ITEMS_JSON);
        let r = handle(req("/status/418", None)).await;
        assert_eq!(r.status(), 418);
        assert_eq!(body_of(r).await, "status 418 from app");
        for bad in ["/status/600", "/status/99", "/status/abc", "/status/"] {
            assert_eq!(handle(req(bad, None)).await.status(), 400, "{bad}");
        }
        let r = handle(req("/apix", None)).await;
        assert_eq!(body_of(r).await, "api catch-all");
        let r = handle(req("/nope", None)).await;
        assert_eq!(r.status(), 404);
        assert_eq!(r.headers()["x-app"], "lab");
        let r = handle(req("/slow", Some("ms=1"))).await;
        assert_eq!(body_of(r).await, "slept 1 ms");
        assert_eq!(handle(req("/slow", Some("ms=-1"))).await.status(), 400);
        let r = handle(req("/big", Some("x=1&bytes=200000"))).await;
        assert_eq!(body_of(r).await.len(), 200_000);
        // Without an upgrade (and a tunnel to speak it on) /ws refuses.
        let r = handle(req("/ws", None)).await;
        assert_eq!(r.status(), 426);
        assert_eq!(r.headers()["sec-websocket-version"], "13");
        let mut options = req("/api/items", None);
        options.method = Method::OPTIONS;
        options
            .headers
            .insert(ORIGIN, HeaderValue::from_static("https://x.test"));
        let r = handle(options).await;
        assert_eq!(r.status(), 204);
        assert_eq!(r.headers()["allow"], "GET, HEAD, OPTIONS");
        assert!(!r.headers().contains_key("access-control-allow-origin"));
    }

    #[test]
    fn wants_websocket_reads_connection_tokens() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        h.insert(UPGRADE, HeaderValue::from_static("WebSocket"));
        assert!(wants_websocket(&h));
        h.insert(CONNECTION, HeaderValue::from_static("upgraded"));
        assert!(!wants_websocket(&h));
    }
}
