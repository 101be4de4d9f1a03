//! Lab tests over real loopback sockets, with reqwest resolving the
//! production host to each listener so Host and SNI are what users send,
//! and tokio-tungstenite as the WebSocket client.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use super::*;

const HOST: &str = "shop.example.test";
const NGINX_TAIL: &str = "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

async fn lab() -> Lab {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Lab::start(LabConfig::new(HOST)).await.unwrap()
}

/// A response, read whole.
struct Got {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Got {
    /// A header's value, "" when absent.
    fn h(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// One line to assert on: `status name=value... | body`.
    fn line(&self, names: &str) -> String {
        let hs: Vec<_> = names
            .split(' ')
            .map(|n| format!("{n}={}", self.h(n)))
            .collect();
        format!("{} {} | {}", self.status, hs.join(" "), self.body)
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// Sends `method path` for `host` to `addr` (https for the lab's https listeners).
async fn send(
    lab: &Lab,
    host: &str,
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> Got {
    send_with(lab, host, addr, method, path, &[], body).await
}

/// [`send`] with extra request headers.
async fn send_with(
    lab: &Lab,
    host: &str,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Got {
    let ca = reqwest::Certificate::from_pem(lab.ca_pem.as_bytes()).unwrap();
    // The fronts' HTTP/1.1 behaviour (HTTP/2 is tested through cutover's checks).
    let client = reqwest::Client::builder()
        .http1_only()
        .resolve(host, addr)
        .tls_certs_only([ca])
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    let https = addr == lab.ingress_https || addr == lab.gateway_https;
    let url = format!("{}://{host}{path}", if https { "https" } else { "http" });
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = client.request(method, url).body(body);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.send().await.unwrap();
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    Got {
        status,
        headers,
        body: resp.text().await.unwrap(),
    }
}

async fn get(lab: &Lab, addr: SocketAddr, path: &str) -> Got {
    send(lab, HOST, addr, "GET", path, Vec::new()).await
}

#[tokio::test]
async fn items_on_every_listener_with_the_fronts_server_header() {
    let lab = lab().await;
    let ingress = "200 server=nginx content-type=application/json x-app=lab";
    let gateway = "200 server=envoy content-type=application/json x-app=lab";
    for (addr, want) in [
        (lab.ingress_http, ingress),
        (lab.ingress_https, ingress),
        (lab.gateway_http, gateway),
        (lab.gateway_https, gateway),
    ] {
        let got = get(&lab, addr, "/api/items").await;
        let want = format!("{want} | {}", app::ITEMS_JSON);
        assert_eq!(got.line("server content-type x-app"), want, "{addr}");
        let envoy = got.headers.contains_key("x-envoy-upstream-service-time");
        assert_eq!(envoy, got.h("server") == "envoy");
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn echo_headers_shows_host_sni_and_proxy_headers() {
    let lab = lab().await;
    let v = get(&lab, lab.ingress_https, "/echo-headers?a=1")
        .await
        .json();
    assert_eq!(v["host"], HOST);
    assert_eq!(v["sni"], HOST);
    assert_eq!(v["query"], "a=1");
    let h = &v["headers"];
    assert_eq!(h["x-real-ip"], "127.0.0.1");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-host"], HOST);
    assert_eq!(h["x-forwarded-proto"], "https");
    assert_eq!(h["x-scheme"], "https");

    let body = vec![7; 1234];
    let v = send(&lab, HOST, lab.gateway_http, "POST", "/echo-headers", body)
        .await
        .json();
    assert_eq!(v["host"], HOST);
    assert!(v["sni"].is_null());
    assert_eq!(v["method"], "POST");
    assert_eq!(v["body_len"], 1234);
    let h = &v["headers"];
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-envoy-expected-rq-timeout-ms"], "15000");
    assert_eq!(h["x-request-id"].as_str().map(str::len), Some(36));
    assert!(h.get("x-real-ip").is_none());
}

#[tokio::test]
async fn host_routing_differs_between_fronts() {
    let lab = lab().await;
    let www = format!("www.{HOST}");
    let names = "server content-length x-envoy-upstream-service-time x-app";
    let got = send(&lab, &www, lab.gateway_https, "GET", "/api/items", vec![]).await;
    let want = "404 server=envoy content-length=0 x-envoy-upstream-service-time= x-app= | ";
    assert_eq!(got.line(names), want);
    let got = send(&lab, &www, lab.ingress_https, "GET", "/api/items", vec![]).await;
    assert_eq!(got.status, 200);

    let got = send(&lab, "other.test", lab.ingress_http, "GET", "/", vec![]).await;
    let want = "404 server=nginx content-type=text/plain | default backend - 404";
    assert_eq!(got.line("server content-type"), want);
    // The app's own 404 is told apart by x-app.
    let got = get(&lab, lab.ingress_http, "/nope").await;
    assert_eq!(got.line("x-app"), "404 x-app=lab | not found");
}

#[tokio::test]
async fn app_down_gives_each_proxys_503() {
    let lab = lab().await;
    lab.switches.app_down.store(true, Relaxed);
    let got = get(&lab, lab.ingress_http, "/api/items").await;
    let title = "503 Service Temporarily Unavailable";
    let page = format!("<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n{NGINX_TAIL}");
    assert_eq!(
        got.line("server content-type"),
        format!("503 server=nginx content-type=text/html | {page}")
    );
    let got = get(&lab, lab.gateway_http, "/api/items").await;
    let want = "503 server=envoy content-type=text/plain | no healthy upstream";
    assert_eq!(got.line("server content-type"), want);
    lab.switches.app_down.store(false, Relaxed);
    assert_eq!(get(&lab, lab.gateway_http, "/api/items").await.status, 200);
}

#[tokio::test]
async fn redirect_code_switch() {
    let lab = lab().await;
    let got = get(&lab, lab.ingress_http, "/old").await;
    assert_eq!((got.status, got.h("location")), (308, "/api/items"));
    assert!(got.body.contains("<title>308 Permanent Redirect</title>"));
    assert!(got.body.ends_with(NGINX_TAIL));
    let got = get(&lab, lab.gateway_http, "/old").await;
    assert_eq!(got.line("location"), "308 location=/api/items | ");
    lab.switches.gateway_redirect_301.store(true, Relaxed);
    let got = get(&lab, lab.gateway_http, "/old").await;
    assert_eq!(got.line("location"), "301 location=/api/items | ");
    assert_eq!(get(&lab, lab.ingress_http, "/old").await.status, 308);
}

#[tokio::test]
async fn strict_prefix_switch() {
    let lab = lab().await;
    for addr in [lab.ingress_http, lab.gateway_http] {
        assert_eq!(get(&lab, addr, "/apix").await.body, "api catch-all");
    }
    lab.switches.gateway_strict_prefix.store(true, Relaxed);
    let got = get(&lab, lab.gateway_http, "/apix").await;
    assert_eq!(got.line("server x-app"), "404 server=envoy x-app= | ");
    let still_routed = [
        (lab.gateway_http, "/api/other"),
        (lab.gateway_http, "/api"),
        (lab.ingress_http, "/apix"),
    ];
    for (addr, path) in still_routed {
        assert_eq!(get(&lab, addr, path).await.status, 200, "{path}");
    }
}

#[tokio::test]
async fn big_streams_n_bytes_and_odd_statuses_do_not_hang() {
    let lab = lab().await;
    let n = 3 * 1024 * 1024 + 7;
    let got = get(&lab, lab.gateway_https, &format!("/big?bytes={n}")).await;
    assert_eq!((got.status, got.body.len()), (200, n));
    assert_eq!(got.h("content-length"), n.to_string());
    for code in [204, 304, 418, 599] {
        let path = format!("/status/{code}");
        assert_eq!(get(&lab, lab.ingress_http, &path).await.status, code);
    }
    // hyper refuses 1xx as a final response; it must not hang or panic.
    assert_eq!(get(&lab, lab.ingress_http, "/status/100").await.status, 500);
}

#[tokio::test]
async fn oversized_request_body_is_refused() {
    let lab = lab().await;
    let too_big = vec![0; front::MAX_REQUEST_BODY as usize + 1];
    let path = "/echo-headers";
    let got = send(&lab, HOST, lab.gateway_http, "POST", path, too_big.clone()).await;
    assert_eq!(got.line("server"), "413 server=envoy | Payload Too Large");
    let got = send(&lab, HOST, lab.ingress_http, "POST", path, too_big).await;
    assert!(got.status == 413 && got.body.ends_with(NGINX_TAIL));
}

/// Writes `raw` on a fresh connection and reads until the server closes it.
async fn raw_exchange(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(raw).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut out));
    assert!(read.await.is_ok(), "connection left open");
    out
}

#[tokio::test]
async fn malformed_requests_get_errors_not_panics() {
    let lab = lab().await;
    let out = raw_exchange(lab.gateway_http, b"GARBAGE\r\n\r\n").await;
    assert!(
        out.starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let bad_host = b"GET /api/items HTTP/1.1\r\nhost: \xff\xfe\r\nconnection: close\r\n\r\n";
    for addr in [lab.ingress_http, lab.gateway_http] {
        let out = raw_exchange(addr, bad_host).await;
        assert!(
            out.starts_with(b"HTTP/1.1 404"),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }
    assert_eq!(get(&lab, lab.gateway_http, "/api/items").await.status, 200);
}

#[tokio::test]
async fn shutdown_ends_listeners_and_open_connections() {
    let lab = lab().await;
    let addr = lab.ingress_http;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /api/items HTTP/1.1\r\nhost: {HOST}\r\n\r\n");
    // A first answered request proves the connection is being served.
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    while !seen.ends_with(app::ITEMS_JSON.as_bytes()) {
        let mut buf = [0u8; 4096];
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(n > 0, "connection closed early");
        seen.extend_from_slice(&buf[..n]);
    }
    lab.switches.app_stall_ms.store(30_000, Relaxed);
    tcp.write_all(request.as_bytes()).await.unwrap();
    lab.shutdown().await;
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut rest)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn scenario_yaml_points_at_the_listeners() {
    let lab = lab().await;
    let yaml = lab.scenario_yaml(Path::new("/tmp/ca.pem"), true);
    assert!(yaml.contains(&format!("connect: \"{}\"", lab.gateway_https)));
    assert!(yaml.contains("tls: { ca: \"/tmp/ca.pem\" }") && yaml.contains("scheme: https"));
    let yaml = lab.scenario_yaml(Path::new("/tmp/ca.pem"), false);
    assert!(yaml.contains(&format!("connect: \"{}\"", lab.ingress_http)) && !yaml.contains("tls:"));
}

#[tokio::test]
async fn stall_and_gateway_latency_delay_responses() {
    let lab = lab().await;
    lab.switches.app_stall_ms.store(30, Relaxed);
    lab.switches.gateway_extra_latency_ms.store(40, Relaxed);
    let started = tokio::time::Instant::now();
    get(&lab, lab.ingress_http, "/api/items").await;
    assert!(started.elapsed() >= Duration::from_millis(30));
    let started = tokio::time::Instant::now();
    let got = get(&lab, lab.gateway_http, "/api/items").await;
    assert!(started.elapsed() >= Duration::from_millis(70));
    let upstream_ms: u64 = got.h("x-envoy-upstream-service-time").parse().unwrap();
    assert!(upstream_ms >= 30, "{upstream_ms}");
}

#[tokio::test]
async fn dropping_the_lab_stops_its_listeners() {
    let lab = lab().await;
    let addr = lab.gateway_https;
    drop(lab);
    // The aborted accept loops drop their listeners once the runtime polls them.
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_err() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("{addr} still accepts after the lab was dropped");
}

type Ws = WebSocketStream<TcpStream>;

/// Opens `ws://HOST/ws` on `addr`, offering `protocols` if not empty.
async fn ws_connect(
    addr: SocketAddr,
    protocols: &str,
) -> Result<(Ws, tungstenite::handshake::client::Response), tungstenite::Error> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("ws://{HOST}/ws").into_client_request().unwrap();
    if !protocols.is_empty() {
        let offered = protocols.parse().unwrap();
        req.headers_mut().insert("sec-websocket-protocol", offered);
    }
    tokio_tungstenite::client_async(req, tcp).await
}

/// The next message within a few seconds; `None` when the stream ended or failed.
async fn next_msg(ws: &mut Ws) -> Option<Message> {
    let next = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
    next.expect("no message within 5 s")?.ok()
}

fn header<'a>(resp: &'a tungstenite::handshake::client::Response, name: &str) -> &'a str {
    let value = resp.headers().get(name);
    value.and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn websocket_echoes_through_the_ingress_with_the_chosen_subprotocol() {
    let lab = lab().await;
    let (mut ws, resp) = ws_connect(lab.ingress_http, "superchat, echo, chat")
        .await
        .unwrap();
    assert_eq!(resp.status(), 101);
    assert_eq!(header(&resp, "server"), "nginx");
    assert_eq!(header(&resp, "sec-websocket-protocol"), "echo");
    for msg in [
        Message::text("hello"),
        Message::binary(vec![0u8, 1, 254, 255]),
    ] {
        ws.send(msg.clone()).await.unwrap();
        assert_eq!(next_msg(&mut ws).await, Some(msg));
    }
    ws.send(Message::Ping("p".into())).await.unwrap();
    assert_eq!(next_msg(&mut ws).await, Some(Message::Pong("p".into())));
    ws.close(None).await.unwrap();
    assert!(matches!(next_msg(&mut ws).await, Some(Message::Close(_))));
    assert_eq!(lab.counters.upgrades.load(Relaxed), 1);
}

#[tokio::test]
async fn gateway_refuses_websocket_until_the_listener_policy_allows_it() {
    let lab = lab().await;
    let Err(tungstenite::Error::Http(resp)) = ws_connect(lab.gateway_http, "").await else {
        panic!("the gateway upgraded without gateway_websocket");
    };
    assert_eq!(resp.status(), 403);
    assert_eq!(header(&resp, "server"), "envoy");
    assert_eq!(header(&resp, "content-length"), "0");
    assert!(resp.body().as_deref().unwrap_or_default().is_empty());
    assert!(!resp.headers().contains_key("x-envoy-upstream-service-time"));
    assert_eq!(lab.counters.upgrades.load(Relaxed), 0);

    lab.switches.gateway_websocket.store(true, Relaxed);
    let (mut ws, resp) = ws_connect(lab.gateway_http, "").await.unwrap();
    assert_eq!(header(&resp, "server"), "envoy");
    assert!(!resp.headers().contains_key("sec-websocket-protocol"));
    ws.send(Message::text("via envoy")).await.unwrap();
    assert_eq!(next_msg(&mut ws).await, Some(Message::text("via envoy")));
    assert_eq!(lab.counters.upgrades.load(Relaxed), 1);
}

#[tokio::test]
async fn idle_websocket_is_dropped_without_a_close_frame() {
    let lab = lab().await;
    lab.switches.ingress_ws_idle_ms.store(100, Relaxed);
    let (mut ws, _) = ws_connect(lab.ingress_http, "").await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
    let next = next.expect("idle connection still open after 5 s");
    assert!(matches!(next, None | Some(Err(_))), "{next:?}");

    // Pings are traffic: a client pinging more often than the timeout stays.
    lab.switches.gateway_websocket.store(true, Relaxed);
    lab.switches.gateway_ws_idle_ms.store(1000, Relaxed);
    let (mut ws, _) = ws_connect(lab.gateway_http, "").await.unwrap();
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        ws.send(Message::Ping("k".into())).await.unwrap();
        assert_eq!(next_msg(&mut ws).await, Some(Message::Pong("k".into())));
    }
    let next = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
    assert!(matches!(next, Ok(None | Some(Err(_)))), "{next:?}");
}

#[tokio::test]
async fn shutdown_ends_open_websockets() {
    let lab = lab().await;
    let (mut ws, _) = ws_connect(lab.ingress_http, "").await.unwrap();
    lab.shutdown().await;
    let next = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
    assert!(matches!(next, Ok(None | Some(Err(_)))), "{next:?}");
}

const ALLOWED: &str = "https://app.shop.example.test";
const EVIL: &str = "https://evil.test";
const CORS: &str = "access-control-allow-origin access-control-allow-credentials \
    access-control-allow-methods access-control-allow-headers access-control-max-age vary x-app";

async fn preflight(lab: &Lab, addr: SocketAddr, origin: &str) -> Got {
    let headers = [("origin", origin), ("access-control-request-method", "PUT")];
    send_with(lab, HOST, addr, "OPTIONS", "/api/items", &headers, vec![]).await
}

#[tokio::test]
async fn cors_preflights_on_both_fronts() {
    let lab = lab().await;
    let nginx = format!(
        "204 access-control-allow-origin={ALLOWED} access-control-allow-credentials=true \
         access-control-allow-methods=GET, PUT, POST, DELETE, PATCH, OPTIONS \
         access-control-allow-headers=DNT,Keep-Alive,User-Agent,X-Requested-With,\
         If-Modified-Since,Cache-Control,Content-Type,Range,Authorization \
         access-control-max-age=1728000 vary=Origin x-app= | "
    );
    for addr in [lab.ingress_http, lab.gateway_http] {
        assert_eq!(
            preflight(&lab, addr, ALLOWED).await.line(CORS),
            nginx,
            "{addr}"
        );
    }
    let got = preflight(&lab, lab.gateway_http, ALLOWED).await;
    assert!(!got.headers.contains_key("x-envoy-upstream-service-time"));

    // A disallowed origin: nginx answers bare, Envoy forwards to the app.
    let got = preflight(&lab, lab.ingress_http, EVIL).await;
    let bare = "204 server=nginx access-control-allow-origin= allow= x-app= | ";
    assert_eq!(
        got.line("server access-control-allow-origin allow x-app"),
        bare
    );
    assert!(!got
        .headers
        .keys()
        .any(|k| k.as_str().starts_with("access-control-")));
    let got = preflight(&lab, lab.gateway_http, EVIL).await;
    let app = "204 server=envoy access-control-allow-origin= allow=GET, HEAD, OPTIONS x-app=lab | ";
    assert_eq!(
        got.line("server access-control-allow-origin allow x-app"),
        app
    );
}

#[tokio::test]
async fn gateway_cors_differs_switch() {
    let lab = lab().await;
    lab.switches.gateway_cors_differs.store(true, Relaxed);
    let got = preflight(&lab, lab.gateway_http, ALLOWED).await;
    let want = format!(
        "200 access-control-allow-origin={ALLOWED} access-control-allow-credentials= \
         access-control-allow-methods=GET, PUT, POST, DELETE, PATCH, OPTIONS \
         access-control-allow-headers=content-type,authorization \
         access-control-max-age=600 vary=Origin x-app= | "
    );
    assert_eq!(got.line(CORS), want);
    assert_eq!(preflight(&lab, lab.ingress_http, ALLOWED).await.status, 204);
}

/// Guards the origin leak: a reflecting app is only reached by a disallowed
/// preflight on the gateway path.
#[tokio::test]
async fn app_reflecting_origins_leaks_on_the_gateway_only() {
    let lab = lab().await;
    lab.switches.app_cors_reflects_origin.store(true, Relaxed);
    let names = "access-control-allow-origin access-control-allow-credentials x-app";
    let got = preflight(&lab, lab.gateway_http, EVIL).await;
    let leak = format!(
        "204 access-control-allow-origin={EVIL} access-control-allow-credentials=true x-app=lab | "
    );
    assert_eq!(got.line(names), leak);
    let got = preflight(&lab, lab.ingress_http, EVIL).await;
    let safe = "204 access-control-allow-origin= access-control-allow-credentials= x-app= | ";
    assert_eq!(got.line(names), safe);
}

#[tokio::test]
async fn actual_requests_from_allowed_origins_get_cors_headers() {
    let lab = lab().await;
    let names = "access-control-allow-origin access-control-allow-credentials vary x-app";
    let get_from = |addr, origin| {
        let headers = [("origin", origin)];
        let lab = &lab;
        async move { send_with(lab, HOST, addr, "GET", "/api/items", &headers, vec![]).await }
    };
    let with = format!("200 access-control-allow-origin={ALLOWED} access-control-allow-credentials=true vary=Origin x-app=lab");
    for addr in [lab.ingress_http, lab.gateway_http] {
        let got = get_from(addr, ALLOWED).await;
        assert_eq!(got.line(names), format!("{with} | {}", app::ITEMS_JSON));
        let got = get_from(addr, EVIL).await;
        let without =
            "200 access-control-allow-origin= access-control-allow-credentials= vary= x-app=lab";
        assert_eq!(got.line(names), format!("{without} | {}", app::ITEMS_JSON));
    }
    lab.switches.gateway_cors_differs.store(true, Relaxed);
    let got = get_from(lab.gateway_http, ALLOWED).await;
    assert_eq!(got.h("access-control-allow-origin"), ALLOWED);
    assert!(!got.headers.contains_key("access-control-allow-credentials"));
}
