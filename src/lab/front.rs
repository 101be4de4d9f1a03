//! The two proxy emulations in front of the lab app.
//!
//! [`Kind::Ingress`] answers like ingress-nginx and [`Kind::Gateway`] like
//! kgateway/Envoy: routing by Host, the `/old` redirect, the no-endpoints 503,
//! headers added towards the app, and their own error bodies, with each known
//! difference behind a [`Switches`] flag. Invariant: every response carries
//! the front's `server` header, and proxy-generated responses never carry
//! `x-app`.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST, LOCATION, SERVER};
use hyper::{HeaderMap, Request, Response, StatusCode};
use tokio::time::Instant;

use super::app::{self, empty, full, AppRequest, Body};
use super::Switches;

/// Largest request body a front reads before answering 413.
pub const MAX_REQUEST_BODY: u64 = 10 * 1024 * 1024;

/// Which proxy software a front emulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// ingress-nginx: string-prefix paths, HTML error pages, 308 redirects.
    Ingress,
    /// kgateway/Envoy: empty-body route misses, fixed-text errors, switchable redirect code.
    Gateway,
}

/// One front: its kind, the hostnames it routes and the shared switches.
#[derive(Debug)]
pub struct Front {
    kind: Kind,
    hostnames: Vec<String>,
    switches: Arc<Switches>,
}

/// What a connection knows about itself, passed to every request on it.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// SNI from the TLS handshake, `None` over plain HTTP.
    pub sni: Option<String>,
    /// Whether the connection is TLS.
    pub https: bool,
}

impl Front {
    /// A front of `kind` routing `hostnames` (compared case-insensitively).
    pub fn new(kind: Kind, hostnames: &[String], switches: &Arc<Switches>) -> Arc<Self> {
        let hostnames = hostnames.iter().map(|h| h.to_ascii_lowercase()).collect();
        let switches = switches.clone();
        Arc::new(Front {
            kind,
            hostnames,
            switches,
        })
    }

    /// Answers one request the way this front's proxy software would.
    pub async fn handle(&self, conn: &ConnInfo, req: Request<Incoming>) -> Response<Body> {
        let mut resp = self.route(conn, req).await;
        let server = match self.kind {
            Kind::Ingress => "nginx",
            Kind::Gateway => "envoy",
        };
        resp.headers_mut()
            .insert(SERVER, HeaderValue::from_static(server));
        resp
    }

    async fn route(&self, conn: &ConnInfo, req: Request<Incoming>) -> Response<Body> {
        let raw_host = req
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .unwrap_or("")
            .to_owned();
        let path = req.uri().path().to_owned();
        let routed = self.hostnames.iter().any(|h| *h == host_only(&raw_host));
        let sw = &self.switches;
        match self.kind {
            Kind::Ingress if !routed => {
                simple(StatusCode::NOT_FOUND, "text/plain", "default backend - 404")
            }
            Kind::Gateway if !routed => simple(StatusCode::NOT_FOUND, "", ""),
            Kind::Gateway
                if sw.gateway_strict_prefix.load(Relaxed)
                    && path.starts_with("/api")
                    && !matches!(path.as_bytes().get(4), None | Some(b'/')) =>
            {
                simple(StatusCode::NOT_FOUND, "", "")
            }
            _ if path == "/old" => {
                let code = if self.kind == Kind::Gateway && sw.gateway_redirect_301.load(Relaxed) {
                    StatusCode::MOVED_PERMANENTLY
                } else {
                    StatusCode::PERMANENT_REDIRECT
                };
                let mut resp = self.error(code);
                resp.headers_mut()
                    .insert(LOCATION, HeaderValue::from_static("/api/items"));
                resp
            }
            _ if sw.app_down.load(Relaxed) => self.error(StatusCode::SERVICE_UNAVAILABLE),
            _ => self.proxy(conn, req, &raw_host).await,
        }
    }

    /// A response the proxy itself generates for `status`.
    fn error(&self, status: StatusCode) -> Response<Body> {
        match self.kind {
            Kind::Ingress => simple(status, "text/html", nginx_page(status)),
            Kind::Gateway => {
                let body = match status {
                    StatusCode::SERVICE_UNAVAILABLE => "no healthy upstream",
                    StatusCode::PAYLOAD_TOO_LARGE => "Payload Too Large",
                    StatusCode::BAD_REQUEST => "Bad Request",
                    _ => "",
                };
                let ct = if body.is_empty() { "" } else { "text/plain" };
                simple(status, ct, body)
            }
        }
    }

    /// Forwards to the app with this proxy's request headers and delays.
    async fn proxy(&self, conn: &ConnInfo, req: Request<Incoming>, host: &str) -> Response<Body> {
        let (parts, mut body) = req.into_parts();
        // Past the cap keep draining a while, so the 413 is not lost to a reset
        // from closing a socket with unread data.
        let mut body_len = 0u64;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => body_len += frame.data_ref().map_or(0, |d| d.len() as u64),
                Err(_) => return self.error(StatusCode::BAD_REQUEST),
            }
            if body_len > 2 * MAX_REQUEST_BODY {
                break;
            }
        }
        if body_len > MAX_REQUEST_BODY {
            return self.error(StatusCode::PAYLOAD_TOO_LARGE);
        }
        let mut headers = parts.headers;
        let ip = conn.peer.ip().to_string();
        let proto = if conn.https { "https" } else { "http" };
        let xff = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(prior) => format!("{prior}, {ip}"),
            None => ip.clone(),
        };
        set(&mut headers, "x-forwarded-for", &xff);
        set(&mut headers, "x-forwarded-proto", proto);
        if self.kind == Kind::Ingress {
            set(&mut headers, "x-real-ip", &ip);
            set(&mut headers, "x-forwarded-host", host);
            set(&mut headers, "x-scheme", proto);
        } else {
            set(&mut headers, "x-request-id", &request_id());
            set(&mut headers, "x-envoy-expected-rq-timeout-ms", "15000");
            let extra = self.switches.gateway_extra_latency_ms.load(Relaxed);
            tokio::time::sleep(Duration::from_millis(extra)).await;
        }
        let app_req = AppRequest {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers,
            sni: conn.sni.clone(),
            body_len,
        };
        let started = Instant::now();
        let stall = self.switches.app_stall_ms.load(Relaxed);
        tokio::time::sleep(Duration::from_millis(stall)).await;
        let mut resp = app::handle(app_req).await;
        if self.kind == Kind::Gateway {
            let ms = started.elapsed().as_millis().to_string();
            set(resp.headers_mut(), "x-envoy-upstream-service-time", &ms);
        }
        resp
    }
}

/// The host part of a Host header, lowercased, without its port.
fn host_only(raw: &str) -> String {
    let host = match raw.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => raw.rsplit_once(':').map_or(raw, |(h, _)| h),
    };
    host.to_ascii_lowercase()
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

/// A proxy-generated response; an empty `content_type` sends none.
fn simple(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<bytes::Bytes>,
) -> Response<Body> {
    let body = body.into();
    let mut resp = Response::new(if body.is_empty() { empty() } else { full(body) });
    *resp.status_mut() = status;
    if !content_type.is_empty() {
        resp.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    resp
}

/// nginx's built-in error page for `status`, byte for byte.
pub fn nginx_page(status: StatusCode) -> String {
    let reason = match status.as_u16() {
        301 => "Moved Permanently",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        404 => "Not Found",
        413 => "Request Entity Too Large",
        502 => "Bad Gateway",
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        _ => status.canonical_reason().unwrap_or(""),
    };
    let title = format!("{} {reason}", status.as_u16());
    format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
}

/// A random-looking UUID v4 string, like Envoy's `x-request-id`.
fn request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Relaxed);
    let state = RandomState::new();
    let hi = state.hash_one(n);
    let lo = state.hash_one(n ^ 0x9e37_79b9_7f4a_7c15);
    let v = (u128::from(hi) << 64 | u128::from(lo)) & !(0xf000 << 64 | 0xc << 60)
        | (0x4000 << 64)
        | (0x8 << 60);
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_only_strips_port_and_case() {
        assert_eq!(host_only("Shop.Example.TEST:8443"), "shop.example.test");
        assert_eq!(host_only("shop.example.test"), "shop.example.test");
        assert_eq!(host_only("[::1]:80"), "::1");
        assert_eq!(host_only("[::1"), "::1");
    }

    #[test]
    fn request_ids_look_like_uuid_v4() {
        let (a, b) = (request_id(), request_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
    }
}
