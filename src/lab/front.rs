//! The two proxy emulations in front of the lab app.
//!
//! [`Kind::Ingress`] answers like ingress-nginx and [`Kind::Gateway`] like
//! kgateway/Envoy: routing by Host, the `/old` redirect, the no-endpoints 503,
//! headers added towards the app, their own error bodies, CORS preflights and
//! WebSocket upgrades, with each known difference behind a [`Switches`] flag.
//! An upgraded connection becomes a byte tunnel to the app, as in a real
//! proxy, so the front can drop it on its idle timeout.
//! Invariants: every response carries the front's `server` header;
//! proxy-generated responses never carry `x-app`; a tunnel ends when either
//! side closes, when the client is idle too long, or when the lab stops.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST, LOCATION, ORIGIN, SERVER};
use hyper::upgrade::OnUpgrade;
use hyper::{HeaderMap, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::watch;
use tokio::time::Instant;

use super::app::{self, empty, full, AppRequest, Body};
use super::cors;
use super::grpc;
use super::Switches;

/// Largest request body a front reads before answering 413.
pub const MAX_REQUEST_BODY: u64 = 10 * 1024 * 1024;
/// Bytes buffered in each direction of a WebSocket tunnel.
const TUNNEL_BUFFER: usize = 64 * 1024;

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
    cors_origins: Vec<String>,
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
    /// The listener's port (what `x-forwarded-port` says).
    pub local_port: u16,
    /// Changes (or closes) when the lab stops; tunnels outliving hyper's
    /// connection end on it.
    pub stop: watch::Receiver<bool>,
}

impl Front {
    /// A front of `kind` routing `hostnames` (compared case-insensitively)
    /// whose CORS policy allows `cors_origins` (compared exactly).
    pub fn new(
        kind: Kind,
        hostnames: &[String],
        cors_origins: &[String],
        switches: &Arc<Switches>,
    ) -> Arc<Self> {
        let hostnames = hostnames.iter().map(|h| h.to_ascii_lowercase()).collect();
        Arc::new(Front {
            kind,
            hostnames,
            cors_origins: cors_origins.to_vec(),
            switches: switches.clone(),
        })
    }

    /// Whether this front offers HTTP/2 in ALPN now (both do unless switched off).
    pub fn offers_h2(&self) -> bool {
        let off = match self.kind {
            Kind::Ingress => &self.switches.ingress_no_h2,
            Kind::Gateway => &self.switches.gateway_no_h2,
        };
        !off.load(Relaxed)
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
        let path = req.uri().path();
        let sw = &self.switches;
        let gateway = self.kind == Kind::Gateway;
        let routed = self
            .hostnames
            .iter()
            .any(|h| *h == self.route_host(&raw_host));
        // Envoy refuses an upgrade it has no config for before any routing.
        if gateway && app::wants_websocket(req.headers()) && !sw.gateway_websocket.load(Relaxed) {
            return simple(StatusCode::FORBIDDEN, "", "");
        }
        if !routed {
            return match self.kind {
                Kind::Ingress => {
                    simple(StatusCode::NOT_FOUND, "text/plain", "default backend - 404")
                }
                Kind::Gateway => simple(StatusCode::NOT_FOUND, "", ""),
            };
        }
        // ssl-redirect: plain HTTP goes to https on the same host and path.
        if !conn.https && sw.ssl_redirect.load(Relaxed) && sw.ssl_redirected(path) {
            let code = match (self.kind, sw.gateway_ssl_redirect_code.load(Relaxed)) {
                (Kind::Ingress, _) => StatusCode::PERMANENT_REDIRECT,
                (Kind::Gateway, 0) => StatusCode::MOVED_PERMANENTLY,
                (Kind::Gateway, c) => {
                    StatusCode::from_u16(c as u16).unwrap_or(StatusCode::MOVED_PERMANENTLY)
                }
            };
            let location = format!(
                "https://{}{}",
                host_only(&raw_host),
                req.uri().path_and_query().map_or("/", |p| p.as_str())
            );
            let mut resp = self.error(code);
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(LOCATION, v);
            }
            return resp;
        }
        let strict_miss =
            path.starts_with("/api") && !matches!(path.as_bytes().get(4), None | Some(b'/'));
        if gateway && strict_miss && sw.gateway_strict_prefix.load(Relaxed) {
            return simple(StatusCode::NOT_FOUND, "", "");
        }
        if let Some(origin) = cors::preflight_origin(req.method(), req.headers()) {
            match (self.allows(origin), self.kind) {
                (true, _) => return self.cors_policy().preflight(origin),
                (false, Kind::Ingress) => return simple(StatusCode::NO_CONTENT, "", ""),
                // Envoy's CORS filter passes a non-matching preflight upstream.
                (false, Kind::Gateway) => {}
            }
        }
        if path == "/old" {
            let code = if gateway && sw.gateway_redirect_301.load(Relaxed) {
                StatusCode::MOVED_PERMANENTLY
            } else {
                StatusCode::PERMANENT_REDIRECT
            };
            let mut resp = self.error(code);
            resp.headers_mut()
                .insert(LOCATION, HeaderValue::from_static("/api/items"));
            return resp;
        }
        if grpc::is_grpc(req.headers()) {
            let reply = grpc_reply(
                gateway,
                sw.grpc_upstream_down.load(Relaxed),
                sw.gateway_grpc_unrouted.load(Relaxed),
            );
            if let Some(r) = reply {
                return r;
            }
        }
        if sw.app_down.load(Relaxed) {
            return self.error(StatusCode::SERVICE_UNAVAILABLE);
        }
        if path.starts_with("/api/limited") && !self.take_token(conn) {
            let status_429 = !gateway && sw.ingress_limit_status_429.load(Relaxed);
            return match self.kind {
                Kind::Ingress if status_429 => self.error(StatusCode::TOO_MANY_REQUESTS),
                Kind::Ingress => self.error(StatusCode::SERVICE_UNAVAILABLE),
                Kind::Gateway => simple(
                    StatusCode::TOO_MANY_REQUESTS,
                    "text/plain",
                    "local_rate_limited",
                ),
            };
        }
        let every = sw.rate_limit_every.load(Relaxed);
        if path == "/api/limited" && every > 0 {
            let seen = sw.limited_seen[usize::from(gateway)].fetch_add(1, Relaxed) + 1;
            if seen.is_multiple_of(every) {
                return match self.kind {
                    Kind::Ingress => self.error(StatusCode::SERVICE_UNAVAILABLE),
                    Kind::Gateway => simple(
                        StatusCode::TOO_MANY_REQUESTS,
                        "text/plain",
                        "local_rate_limited",
                    ),
                };
            }
        }
        // The lab's own control: `POST /__lab/deploy?ms=N` starts a rollout.
        if path == "/__lab/deploy" && req.method() == hyper::Method::POST {
            let ms = req
                .uri()
                .query()
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("ms=")))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(2000)
                .min(60_000);
            sw.deploy(std::time::Duration::from_millis(ms));
            return simple(StatusCode::OK, "text/plain", "deploying");
        }
        // During a rollout Envoy reuses pooled connections to terminated pods;
        // ingress-nginx retries them on the next upstream (proxy_next_upstream).
        if gateway && sw.deploying() {
            return simple(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
            );
        }
        self.proxy(conn, req, &raw_host).await
    }

    /// Takes a token from the caller's bucket: per client address on the
    /// ingress (and on a per-client gateway), one shared bucket on the
    /// gateway. True when the request may pass (or no limit is on).
    fn take_token(&self, conn: &ConnInfo) -> bool {
        let sw = &self.switches;
        let burst = sw.rate_limit_burst.load(Relaxed);
        if burst == 0 {
            return true;
        }
        let gateway = self.kind == Kind::Gateway;
        if gateway && sw.gateway_rate_limit_off.load(Relaxed) {
            return true;
        }
        let per_client = !gateway || sw.gateway_rate_limit_per_client.load(Relaxed);
        let key = (u8::from(gateway), per_client.then(|| conn.peer.ip()));
        let refill = sw.rate_limit_refill_per_s.load(Relaxed) as f64;
        let now = Instant::now();
        let Ok(mut buckets) = sw.buckets.lock() else {
            return true;
        };
        let (tokens, last) = buckets.entry(key).or_insert((burst as f64, now));
        *tokens = (*tokens + refill * now.duration_since(*last).as_secs_f64()).min(burst as f64);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether this front's CORS policy allows `origin`.
    fn allows(&self, origin: &HeaderValue) -> bool {
        self.cors_origins
            .iter()
            .any(|o| o.as_bytes() == origin.as_bytes())
    }

    fn cors_policy(&self) -> cors::Policy {
        if self.kind == Kind::Gateway && self.switches.gateway_cors_differs.load(Relaxed) {
            cors::GATEWAY_DIFFERS
        } else {
            cors::NGINX
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
                    StatusCode::GATEWAY_TIMEOUT => "upstream request timeout",
                    StatusCode::BAD_REQUEST => "Bad Request",
                    _ => "",
                };
                let ct = if body.is_empty() { "" } else { "text/plain" };
                simple(status, ct, body)
            }
        }
    }

    /// Forwards to the app with this proxy's request headers and delays.
    async fn proxy(
        &self,
        conn: &ConnInfo,
        mut req: Request<Incoming>,
        host: &str,
    ) -> Response<Body> {
        // An upgrade gets a pipe to the app, spliced to the client after a 101.
        let client = app::wants_websocket(req.headers()).then(|| hyper::upgrade::on(&mut req));
        let pipe = client.as_ref().map(|_| tokio::io::duplex(TUNNEL_BUFFER));
        let (ours, app_end) = pipe.unzip();
        let (parts, mut body) = req.into_parts();
        // A gRPC call's body is kept for the app; others are only counted.
        let keep = grpc::is_grpc(&parts.headers);
        let mut kept = bytes::BytesMut::new();
        // Past the cap keep draining a while, so the 413 is not lost to a reset
        // from closing a socket with unread data.
        let mut body_len = 0u64;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => {
                    if let Some(d) = frame.data_ref() {
                        body_len += d.len() as u64;
                        if keep && kept.len() < 4 << 20 {
                            kept.extend_from_slice(d);
                        }
                    }
                }
                Err(_) => return self.error(StatusCode::BAD_REQUEST),
            }
            if body_len > 2 * MAX_REQUEST_BODY {
                break;
            }
        }
        let limit = match self.kind {
            Kind::Ingress => self.switches.ingress_max_body.load(Relaxed),
            Kind::Gateway => self.switches.gateway_max_body.load(Relaxed),
        };
        let limit = if limit == 0 {
            MAX_REQUEST_BODY
        } else {
            limit.min(MAX_REQUEST_BODY)
        };
        if body_len > limit {
            return self.error(StatusCode::PAYLOAD_TOO_LARGE);
        }
        let mut headers = parts.headers;
        // Over HTTP/2 the host is the `:authority`; both proxies pass it to
        // an HTTP/1.1 upstream as `Host`.
        if !headers.contains_key(HOST) {
            if let Ok(v) = HeaderValue::from_str(host) {
                headers.insert(HOST, v);
            }
        }
        let ip = conn.peer.ip().to_string();
        let proto = if conn.https { "https" } else { "http" };
        set(&mut headers, "x-forwarded-proto", proto);
        if self.kind == Kind::Ingress {
            // ingress-nginx (without use-forwarded-headers) sends the client
            // address alone and a 32-hex request id.
            set(&mut headers, "x-forwarded-for", &ip);
            set(&mut headers, "x-request-id", &request_id().replace('-', ""));
        } else {
            // Envoy appends the client address.
            let xff = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
                Some(prior) => format!("{prior}, {ip}"),
                None => ip.clone(),
            };
            set(&mut headers, "x-forwarded-for", &xff);
        }
        if self.kind == Kind::Ingress || self.switches.gateway_sets_real_ip.load(Relaxed) {
            set(&mut headers, "x-real-ip", &ip);
            set(&mut headers, "x-forwarded-host", host);
            set(
                &mut headers,
                "x-forwarded-port",
                &conn.local_port.to_string(),
            );
            set(&mut headers, "x-scheme", proto);
        }
        if self.kind == Kind::Gateway {
            set(&mut headers, "x-request-id", &request_id());
            set(&mut headers, "x-envoy-expected-rq-timeout-ms", "15000");
            let extra = self.switches.gateway_extra_latency_ms.load(Relaxed);
            // A zero sleep still waits for the timer's next 1 ms tick: skip it,
            // or the gateway front is a millisecond slower than the ingress.
            if extra > 0 {
                tokio::time::sleep(Duration::from_millis(extra)).await;
            }
        }
        let app_req = AppRequest {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers,
            sni: conn.sni.clone(),
            body_len,
            body: kept.freeze(),
            via_gateway: self.kind == Kind::Gateway,
            upgrade: app_end,
        };
        let origin = app_req.headers.get(ORIGIN).cloned();
        let started = Instant::now();
        let mut stall = self.switches.app_stall_ms.load(Relaxed);
        let jitter = self.switches.app_jitter_ms.load(Relaxed);
        if jitter > 0 {
            // xorshift on a shared state: the same noise for both fronts.
            let mut x = self.switches.jitter_seed.load(Relaxed) | 1;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.switches.jitter_seed.store(x, Relaxed);
            stall += x % (jitter + 1);
        }
        let (route_timeout, default_ms) = match self.kind {
            Kind::Ingress => (&self.switches.ingress_route_timeout_ms, 60_000),
            Kind::Gateway => (&self.switches.gateway_route_timeout_ms, 15_000),
        };
        let route_timeout = match route_timeout.load(Relaxed) {
            0 => default_ms,
            ms => ms,
        };
        let upstream = async {
            // A zero sleep would still wait for the timer's next tick.
            if stall > 0 {
                tokio::time::sleep(Duration::from_millis(stall)).await;
            }
            app::handle(app_req, &self.switches).await
        };
        let Ok(mut resp) =
            tokio::time::timeout(Duration::from_millis(route_timeout), upstream).await
        else {
            return self.error(StatusCode::GATEWAY_TIMEOUT);
        };
        if self.kind == Kind::Gateway {
            let ms = started.elapsed().as_millis().to_string();
            set(resp.headers_mut(), "x-envoy-upstream-service-time", &ms);
        }
        if let Some(origin) = origin.filter(|o| self.allows(o)) {
            self.cors_policy().decorate(resp.headers_mut(), &origin);
        }
        if self.kind == Kind::Ingress && self.switches.ingress_affinity_cookie.load(Relaxed) {
            resp.headers_mut().append(
                hyper::header::SET_COOKIE,
                HeaderValue::from_static("INGRESSCOOKIE=6f1e2d3c4b5a; Path=/; HttpOnly"),
            );
        }
        if let (Some(client), Some(ours)) = (client, ours) {
            if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
                let idle = match self.kind {
                    Kind::Ingress => &self.switches.ingress_ws_idle_ms,
                    Kind::Gateway => &self.switches.gateway_ws_idle_ms,
                };
                let idle = Some(idle.load(Relaxed)).filter(|&ms| ms > 0);
                let idle = idle.map(Duration::from_millis);
                tokio::spawn(tunnel(client, ours, idle, conn.stop.clone()));
            }
        }
        resp
    }
}

/// What a front answers for a gRPC call it cannot pass on, if anything:
/// `None` passes the call to the app. When the app is unreachable
/// (`grpc_upstream_down`) Envoy answers HTTP 200 trailers-only,
/// `grpc-status: 14` with its local-reply text in `grpc-message`; nginx
/// (`grpc_pass`) answers its 502 HTML page, which gRPC clients read as
/// UNAVAILABLE too. A gateway without a GRPCRoute for the method
/// (`gateway_grpc_unrouted`) answers `grpc-status: 12` (UNIMPLEMENTED).
fn grpc_reply(gateway: bool, upstream_down: bool, unrouted: bool) -> Option<Response<Body>> {
    if gateway && unrouted {
        return Some(grpc::trailers_only(12, ""));
    }
    if !upstream_down {
        return None;
    }
    Some(if gateway {
        grpc::trailers_only(14, grpc::ENVOY_UNREACHABLE)
    } else {
        simple(
            StatusCode::BAD_GATEWAY,
            "text/html",
            nginx_page(StatusCode::BAD_GATEWAY),
        )
    })
}

/// Copies bytes both ways between the upgraded client connection and the
/// app's end of the pipe until the app's end closes (a client's close is
/// passed on to it first), the lab stops, or the client sends nothing for
/// `idle`. Then it drops both: on the idle timeout the client's TCP
/// connection closes without a WebSocket close frame, as on nginx's
/// `proxy_read_timeout` or Envoy's idle timeout.
async fn tunnel(
    client: OnUpgrade,
    app: DuplexStream,
    idle: Option<Duration>,
    mut stop: watch::Receiver<bool>,
) {
    let Ok(client) = client.await else {
        return;
    };
    let (mut client_rx, mut client_tx) = tokio::io::split(TokioIo::new(client));
    let (mut app_rx, mut app_tx) = tokio::io::split(app);
    // Client to app; false when the client was idle too long.
    let up = async {
        let mut buf = vec![0; 16 * 1024];
        loop {
            let read = client_rx.read(&mut buf);
            let read = match idle {
                Some(idle) => match tokio::time::timeout(idle, read).await {
                    Ok(read) => read,
                    Err(_) => return false,
                },
                None => read.await,
            };
            match read {
                Ok(n) if n > 0 && app_tx.write_all(&buf[..n]).await.is_ok() => {}
                _ => break,
            }
        }
        let _ = app_tx.shutdown().await;
        true
    };
    let down = async {
        let _ = tokio::io::copy(&mut app_rx, &mut client_tx).await;
        let _ = client_tx.shutdown().await;
    };
    let both = async {
        tokio::pin!(down);
        tokio::select! {
            () = &mut down => {}
            alive = up => if alive { down.await },
        }
    };
    tokio::select! {
        _ = stop.changed() => {}
        () = both => {}
    }
}

impl Front {
    /// The name a Host header is routed by. nginx matches `server_name`
    /// without case, port or trailing dot. Envoy matches without case too,
    /// but keeps a trailing dot unless `strip_trailing_host_dot` is set (so
    /// `shop.example.com.` matches no HTTPRoute hostname), and uses the port
    /// unless the implementation ignores it (`ignore_port_in_host_matching`).
    fn route_host(&self, raw: &str) -> String {
        let sw = &self.switches;
        match self.kind {
            Kind::Ingress => {
                let h = host_only(raw);
                h.strip_suffix('.').map(str::to_owned).unwrap_or(h)
            }
            Kind::Gateway => {
                let mut h = if sw.gateway_matches_host_port.load(Relaxed) {
                    raw.to_ascii_lowercase()
                } else {
                    host_only(raw)
                };
                if sw.gateway_strips_host_dot.load(Relaxed) {
                    if let Some(s) = h.strip_suffix('.') {
                        h = s.to_owned();
                    }
                }
                h
            }
        }
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
