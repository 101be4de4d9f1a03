//! Lab tests over real loopback sockets, with reqwest resolving the
//! production host to each listener so Host and SNI are what users send.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use super::front::nginx_page;
use super::*;

const HOST: &str = "shop.example.test";

async fn lab() -> Lab {
    let _ = rustls::crypto::ring::default_provider().install_default();
    match Lab::start(LabConfig::new(HOST)).await {
        Ok(lab) => lab,
        Err(e) => panic!("lab did not start: {e}"),
    }
}

fn client(lab: &Lab, host: &str, addr: SocketAddr) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(lab.ca_pem.as_bytes()).unwrap();
    reqwest::Client::builder()
        .resolve(host, addr)
        .tls_certs_only([ca])
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

/// GET `path` on `host` through `addr`; returns status, headers, body.
async fn get(
    lab: &Lab,
    host: &str,
    addr: SocketAddr,
    https: bool,
    path: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let scheme = if https { "https" } else { "http" };
    let resp = client(lab, host, addr)
        .get(format!("{scheme}://{host}{path}"))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

#[tokio::test]
async fn items_on_every_listener_with_the_fronts_server_header() {
    let lab = lab().await;
    let listeners = [
        (lab.ingress_http, false, "nginx"),
        (lab.ingress_https, true, "nginx"),
        (lab.gateway_http, false, "envoy"),
        (lab.gateway_https, true, "envoy"),
    ];
    for (addr, https, server) in listeners {
        let (status, headers, body) = get(&lab, HOST, addr, https, "/api/items").await;
        assert_eq!(status, 200, "{addr}");
        assert_eq!(headers["server"], server);
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["x-app"], "lab");
        assert_eq!(body, app::ITEMS_JSON);
        assert_eq!(
            headers.contains_key("x-envoy-upstream-service-time"),
            server == "envoy"
        );
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn echo_headers_shows_host_sni_and_proxy_headers() {
    let lab = lab().await;
    let (_, _, body) = get(&lab, HOST, lab.ingress_https, true, "/echo-headers?a=1").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["host"], HOST);
    assert_eq!(v["sni"], HOST);
    assert_eq!(v["query"], "a=1");
    let h = &v["headers"];
    assert_eq!(h["x-real-ip"], "127.0.0.1");
    assert_eq!(h["x-forwarded-host"], HOST);
    assert_eq!(
        (&h["x-forwarded-proto"], &h["x-scheme"]),
        (&"https".into(), &"https".into())
    );

    let (_, _, body) = get(&lab, HOST, lab.gateway_http, false, "/echo-headers").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (&v["host"], &v["sni"]),
        (&HOST.into(), &serde_json::Value::Null)
    );
    let h = &v["headers"];
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-envoy-expected-rq-timeout-ms"], "15000");
    assert_eq!(h["x-request-id"].as_str().map(str::len), Some(36));
    assert!(h.get("x-real-ip").is_none());

    let resp = client(&lab, HOST, lab.gateway_http)
        .post(format!("http://{HOST}/echo-headers"))
        .body(vec![7u8; 1234])
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(
        (&v["method"], &v["body_len"]),
        (&"POST".into(), &1234.into())
    );
}

#[tokio::test]
async fn host_routing_differs_between_fronts() {
    let lab = lab().await;
    let www = format!("www.{HOST}");
    let (status, headers, body) = get(&lab, &www, lab.gateway_https, true, "/api/items").await;
    assert_eq!((status, body.as_str()), (404, ""));
    assert_eq!(headers["server"], "envoy");
    assert_eq!(headers["content-length"], "0");
    assert!(!headers.contains_key("x-envoy-upstream-service-time"));
    assert!(!headers.contains_key("x-app"));
    let (status, _, _) = get(&lab, &www, lab.ingress_https, true, "/api/items").await;
    assert_eq!(status, 200);

    let (status, headers, body) = get(&lab, "other.test", lab.ingress_http, false, "/").await;
    assert_eq!((status, body.as_str()), (404, "default backend - 404"));
    assert_eq!(headers["server"], "nginx");
    // The app's own 404 is told apart by x-app.
    let (status, headers, body) = get(&lab, HOST, lab.ingress_http, false, "/nope").await;
    assert_eq!(
        (status, body.as_str(), headers["x-app"].as_bytes()),
        (404, "not found", &b"lab"[..])
    );
}

#[tokio::test]
async fn app_down_gives_each_proxys_503() {
    let lab = lab().await;
    lab.switches.app_down.store(true, Ordering::Relaxed);
    let (status, headers, body) = get(&lab, HOST, lab.ingress_http, false, "/api/items").await;
    assert_eq!(status, 503);
    assert_eq!(headers["content-type"], "text/html");
    assert_eq!(body, "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n");
    let (status, headers, body) = get(&lab, HOST, lab.gateway_http, false, "/api/items").await;
    assert_eq!((status, body.as_str()), (503, "no healthy upstream"));
    assert_eq!(
        (
            headers["server"].as_bytes(),
            headers["content-type"].as_bytes()
        ),
        (&b"envoy"[..], &b"text/plain"[..])
    );
    lab.switches.app_down.store(false, Ordering::Relaxed);
    assert_eq!(
        get(&lab, HOST, lab.gateway_http, false, "/api/items")
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn redirect_code_switch() {
    let lab = lab().await;
    let (status, headers, body) = get(&lab, HOST, lab.ingress_http, false, "/old").await;
    assert_eq!(
        (status, headers["location"].as_bytes()),
        (308, &b"/api/items"[..])
    );
    assert_eq!(body, nginx_page(hyper::StatusCode::PERMANENT_REDIRECT));
    let (status, _, body) = get(&lab, HOST, lab.gateway_http, false, "/old").await;
    assert_eq!((status, body.as_str()), (308, ""));
    lab.switches
        .gateway_redirect_301
        .store(true, Ordering::Relaxed);
    let (status, headers, _) = get(&lab, HOST, lab.gateway_http, false, "/old").await;
    assert_eq!(
        (status, headers["location"].as_bytes()),
        (301, &b"/api/items"[..])
    );
    assert_eq!(
        get(&lab, HOST, lab.ingress_http, false, "/old").await.0,
        308
    );
}

#[tokio::test]
async fn strict_prefix_switch() {
    let lab = lab().await;
    for addr in [lab.ingress_http, lab.gateway_http] {
        let (status, _, body) = get(&lab, HOST, addr, false, "/apix").await;
        assert_eq!((status, body.as_str()), (200, "api catch-all"));
    }
    lab.switches
        .gateway_strict_prefix
        .store(true, Ordering::Relaxed);
    let (status, headers, body) = get(&lab, HOST, lab.gateway_http, false, "/apix").await;
    assert_eq!((status, body.as_str()), (404, ""));
    assert!(!headers.contains_key("x-app"));
    assert_eq!(
        get(&lab, HOST, lab.gateway_http, false, "/api/other")
            .await
            .0,
        200
    );
    assert_eq!(
        get(&lab, HOST, lab.gateway_http, false, "/api").await.0,
        200
    );
    assert_eq!(
        get(&lab, HOST, lab.ingress_http, false, "/apix").await.0,
        200
    );
}

#[tokio::test]
async fn big_streams_n_bytes_and_odd_statuses_do_not_hang() {
    let lab = lab().await;
    let n = 3 * 1024 * 1024 + 7;
    let (status, headers, body) = get(
        &lab,
        HOST,
        lab.gateway_https,
        true,
        &format!("/big?bytes={n}"),
    )
    .await;
    assert_eq!((status, body.len()), (200, n));
    assert_eq!(headers["content-length"], n.to_string().as_str());
    for code in [204, 304, 418, 599] {
        let (status, _, _) = get(
            &lab,
            HOST,
            lab.ingress_http,
            false,
            &format!("/status/{code}"),
        )
        .await;
        assert_eq!(status, code);
    }
    // hyper refuses 1xx as a final response; it must not hang or panic.
    assert_eq!(
        get(&lab, HOST, lab.ingress_http, false, "/status/100")
            .await
            .0,
        500
    );
}

#[tokio::test]
async fn oversized_request_body_is_refused() {
    let lab = lab().await;
    let resp = client(&lab, HOST, lab.gateway_http)
        .post(format!("http://{HOST}/echo-headers"))
        .body(vec![0u8; (front::MAX_REQUEST_BODY + 1) as usize])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(resp.text().await.unwrap(), "Payload Too Large");
    let resp = client(&lab, HOST, lab.ingress_http)
        .post(format!("http://{HOST}/echo-headers"))
        .body(vec![0u8; 11 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert!(resp
        .text()
        .await
        .unwrap()
        .ends_with("<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"));
}

#[tokio::test]
async fn malformed_requests_get_errors_not_panics() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let lab = lab().await;
    for raw in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /api/items HTTP/1.1\r\nhost: \xff\xfe\r\nconnection: close\r\n\r\n",
    ] {
        let mut tcp = TcpStream::connect(lab.gateway_http).await.unwrap();
        tcp.write_all(raw).await.unwrap();
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut out));
        assert!(read.await.is_ok(), "connection left open");
        assert!(
            out.starts_with(b"HTTP/1.1 4"),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }
    assert_eq!(
        get(&lab, HOST, lab.gateway_http, false, "/api/items")
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn shutdown_ends_listeners_and_open_connections() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
    lab.switches.app_stall_ms.store(30_000, Ordering::Relaxed);
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
    assert!(yaml.contains("tls: { ca: \"/tmp/ca.pem\" }"));
    assert!(yaml.contains("scheme: https"));
    let yaml = lab.scenario_yaml(Path::new("/tmp/ca.pem"), false);
    assert!(yaml.contains(&format!("connect: \"{}\"", lab.ingress_http)));
    assert!(!yaml.contains("tls:"));
}
