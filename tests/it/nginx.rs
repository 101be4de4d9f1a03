//! The real peer: Debian's nginx on loopback, configured like ingress-nginx in
//! front of the lab. cutover goes through it with the production Host and
//! classifies nginx's own 404/502/503 pages as `ingress`.
//!
//! The behaviour probes (rate limit, body limit, plain-HTTP redirect, route
//! timeout, forwarded headers) go through nginx as the ingress target, with
//! the lab's gateway front as the other target. nginx proxies those paths to
//! the lab's bare app (no emulated front in between), so everything the
//! ingress side does there is nginx's own.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cutover::analyze::{Finding, FindingKind, Level};
use cutover::lab::app::{self, AppRequest};
use cutover::lab::{Lab, Switches};
use cutover::probe::Origin;
use cutover::report::{Report, Verdict};
use http_body_util::BodyExt;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

use crate::support::{check, lab, plan, refused_addr, result, DetailsJson};

const NGINX: &str = "/usr/sbin/nginx";

/// nginx running with a config of ours; killed on drop.
struct Nginx {
    child: Child,
    /// The ingress: the catch-all and the production host's server.
    port: u16,
    /// Plain HTTP of an ingress with ssl-redirect: every request is a 308 to https.
    redirect_port: u16,
    /// TLS with HTTP/2: `/api/` and gRPC (`grpc_pass`) for the production
    /// host, a dead gRPC backend for `grpc-down.` (the CA is `ca.pem`).
    tls_port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_available() -> bool {
    if Path::new(NGINX).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but {NGINX} is missing: .ci/run installs it"
    );
    eprintln!("skipping: {NGINX} not installed (bash .ci/run installs it)");
    false
}

/// What an ingress-nginx location sends the app: its `proxy_set_header`s
/// (nginx.tmpl, default ConfigMap: no `use-forwarded-headers`, so
/// X-Forwarded-For is the client address alone) and HTTP/1.1 upstream.
const INGRESS_PROXY: &str = r#"proxy_http_version 1.1;
proxy_set_header Host $best_http_host;
proxy_set_header Upgrade $http_upgrade;
proxy_set_header Connection $connection_upgrade;
proxy_set_header X-Request-ID $request_id;
proxy_set_header X-Real-IP $remote_addr;
proxy_set_header X-Forwarded-For $remote_addr;
proxy_set_header X-Forwarded-Host $best_http_host;
proxy_set_header X-Forwarded-Port $server_port;
proxy_set_header X-Forwarded-Proto $scheme;
proxy_set_header X-Scheme $scheme;
proxy_set_header X-Original-Forwarded-For $http_x_forwarded_for;
proxy_set_header Proxy "";
"#;

/// Starts nginx in `dir`: the existing paths go to the lab's ingress front
/// (`front`), the behaviour paths to the lab's bare app (`app`).
fn start_nginx(dir: &Path, front: SocketAddr, app: SocketAddr) -> Nginx {
    // Three ports free at once (bound together, then released), so never the same one.
    let (port, redirect_port, tls_port) = {
        let a = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let b = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let c = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = |l: &std::net::TcpListener| l.local_addr().expect("addr").port();
        (port(&a), port(&b), port(&c))
    };
    std::fs::write(dir.join("ingress-proxy.conf"), INGRESS_PROXY).expect("write proxy conf");
    // The TLS listener's certificate, from a CA of its own (ca.pem for cutover).
    let pems = cutover::lab::tls::generate_pem(crate::support::HOST, &[]).expect("certificates");
    std::fs::write(dir.join("ca.pem"), &pems.ca_pem).expect("write ca");
    std::fs::write(dir.join("chain.pem"), &pems.chain_pem).expect("write chain");
    std::fs::write(dir.join("key.pem"), &pems.leaf_key_pem).expect("write key");
    let conf = format!(
        r#"worker_processes 1;
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
  # ingress-nginx's `server-tokens` default: no version in pages and headers.
  server_tokens off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  map $http_host $best_http_host {{ default $http_host; '' $host; }}
  map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
  # ingress-nginx's `limit-req-status-code` default.
  limit_req_status 503;
  # An Ingress with `limit-rpm: "1"` and `limit-burst-multiplier: "4"`, one
  # zone per location as ingress-nginx makes them: per client address, and
  # at one request a minute no token comes back during a test.
  limit_req_zone $binary_remote_addr zone=shop_limited_rpm:1m rate=1r/m;
  limit_req_zone $binary_remote_addr zone=shop_limited_429_rpm:1m rate=1r/m;
  # ingress-nginx's catch-all: unknown hosts get the default backend.
  server {{
    listen 127.0.0.1:{port} default_server;
    location / {{ return 404 "default backend - 404"; }}
  }}
  # Plain HTTP of a host with ssl-redirect, as ingress-nginx answers it.
  server {{
    listen 127.0.0.1:{redirect_port};
    server_name shop.example.test;
    location / {{ return 308 https://$best_http_host$request_uri; }}
  }}
  server {{
    listen 127.0.0.1:{port};
    server_name shop.example.test;
    # ingress-nginx's default `proxy-body-size`.
    client_max_body_size 1m;
    location /maintenance {{ return 503; }}
    # Like ingress-nginx with WebSocket proxying.
    location /ws {{
      proxy_pass http://{front};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_set_header Host $host;
    }}
    # Like ingress-nginx's enable-cors: nginx answers preflights itself.
    location /api/ {{
      if ($request_method = 'OPTIONS') {{
        add_header Access-Control-Allow-Origin $http_origin always;
        add_header Access-Control-Allow-Credentials true always;
        add_header Access-Control-Allow-Methods 'GET, PUT, POST, DELETE, PATCH, OPTIONS' always;
        add_header Access-Control-Allow-Headers 'DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization' always;
        add_header Access-Control-Max-Age 1728000 always;
        add_header Vary Origin always;
        return 204;
      }}
      proxy_pass http://{front};
      proxy_set_header Host $host;
    }}
    location /api/limited {{
      limit_req zone=shop_limited_rpm burst=4 nodelay;
      include {dir}/ingress-proxy.conf;
      proxy_pass http://{app};
    }}
    # The same with `limit-req-status-code: "429"`.
    location /api/limited-429 {{
      limit_req zone=shop_limited_429_rpm burst=4 nodelay;
      limit_req_status 429;
      include {dir}/ingress-proxy.conf;
      proxy_pass http://{app};
    }}
    location /api/upload {{
      include {dir}/ingress-proxy.conf;
      proxy_pass http://{app};
    }}
    # `proxy-read-timeout: "1"` on the slow report.
    location /slow {{
      proxy_read_timeout 1s;
      include {dir}/ingress-proxy.conf;
      proxy_pass http://{app};
    }}
    location /echo-headers {{
      include {dir}/ingress-proxy.conf;
      proxy_pass http://{app};
    }}
    location /broken {{ proxy_pass http://{refused}; }}
    # ingress-nginx with `backend-protocol: GRPC`.
    location /cutover.lab.v1.Shop/ {{ grpc_pass grpc://{app}; }}
    location / {{
      proxy_pass http://{front};
      proxy_set_header Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Forwarded-Proto $scheme;
    }}
  }}
  # The production host over TLS with HTTP/2 (ingress-nginx's `use-http2`
  # default; nginx 1.22 writes it on `listen`).
  server {{
    listen 127.0.0.1:{tls_port} ssl http2;
    server_name shop.example.test;
    ssl_certificate {dir}/chain.pem;
    ssl_certificate_key {dir}/key.pem;
    location /cutover.lab.v1.Shop/ {{ grpc_pass grpc://{app}; }}
    location /api/ {{
      proxy_pass http://{front};
      proxy_set_header Host $host;
    }}
  }}
  # A host whose gRPC backend is gone: nginx's 502 page.
  server {{
    listen 127.0.0.1:{tls_port} ssl http2;
    server_name grpc-down.shop.example.test;
    ssl_certificate {dir}/chain.pem;
    ssl_certificate_key {dir}/key.pem;
    location / {{ grpc_pass grpc://{refused}; }}
  }}
}}
"#,
        dir = dir.display(),
        refused = refused_addr(),
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).expect("write nginx.conf");
    let child = Command::new(NGINX)
        .arg("-c")
        .arg(&conf_path)
        .arg("-p")
        .arg(dir)
        .spawn()
        .expect("nginx starts");
    let nginx = Nginx {
        child,
        port,
        redirect_port,
        tls_port,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    for p in [port, redirect_port, tls_port] {
        while TcpStream::connect(("127.0.0.1", p)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not listen on {p}: {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    nginx
}

/// The lab's app on its own listener, without an emulated front: what nginx
/// proxies the behaviour paths to. Counts requests by path and the
/// `x-real-ip` nginx sent. Stops when dropped.
struct BareApp {
    addr: SocketAddr,
    seen: Arc<Mutex<BTreeMap<(String, String), u64>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for BareApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl BareApp {
    async fn start(switches: Arc<Switches>) -> BareApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(BTreeMap::new()));
        let counts = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                let (switches, counts) = (Arc::clone(&switches), Arc::clone(&counts));
                let service = service_fn(move |req| {
                    let (switches, counts) = (Arc::clone(&switches), Arc::clone(&counts));
                    async move { Ok::<_, Infallible>(serve(req, &switches, &counts).await) }
                });
                // HTTP/1.1 for proxy_pass, h2c for grpc_pass.
                conns.spawn(async move {
                    let builder = auto::Builder::new(TokioExecutor::new());
                    let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                });
            }
        });
        BareApp { addr, seen, task }
    }

    /// Requests the app got for `path`, by the `x-real-ip` nginx set.
    fn seen(&self, path: &str) -> BTreeMap<String, u64> {
        let seen = self.seen.lock().expect("lock");
        seen.iter()
            .filter(|((p, _), _)| p == path)
            .map(|((_, ip), n)| (ip.clone(), *n))
            .collect()
    }
}

async fn serve(
    req: hyper::Request<hyper::body::Incoming>,
    switches: &Switches,
    seen: &Mutex<BTreeMap<(String, String), u64>>,
) -> hyper::Response<app::Body> {
    let (parts, body) = req.into_parts();
    let real_ip = parts
        .headers
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let key = (parts.uri.path().to_owned(), real_ip);
    *seen.lock().expect("lock").entry(key).or_default() += 1;
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let req = AppRequest {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        sni: None,
        body_len: body.len() as u64,
        body,
        via_gateway: false,
        upgrade: None,
    };
    app::handle(req, switches).await
}

/// nginx in front of the lab (ingress front and bare app), in its own
/// directory; nginx is stopped first, then the app, then the directory goes.
struct Peer {
    nginx: Nginx,
    app: BareApp,
    dir: tempfile::TempDir,
}

async fn start(lab: &Lab) -> Peer {
    let app = BareApp::start(Arc::clone(&lab.switches)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (d, front, to_app) = (dir.path().to_path_buf(), lab.ingress_http, app.addr);
    let nginx = tokio::task::spawn_blocking(move || start_nginx(&d, front, to_app))
        .await
        .expect("join");
    Peer { nginx, app, dir }
}

/// A behaviour scenario: nginx (at `ingress`) against the lab's gateway front.
fn scenario(ingress: u16, lab: &Lab, checks: &str) -> cutover::scenario::Plan {
    plan(
        &format!(
            r#"
name: nginx behaviour
host: shop.example.test
targets:
  ingress: {{ connect: "${{I}}", role: ingress }}
  gateway: {{ connect: "${{G}}", role: gateway }}
defaults: {{ scheme: http, timeout: 5s }}
checks:
{checks}
"#
        ),
        &[
            ("I", format!("127.0.0.1:{ingress}")),
            ("G", lab.gateway_http.to_string()),
        ],
    )
}

/// Every finding of `kind`, in order.
fn findings(r: &Report, kind: FindingKind) -> Vec<&Finding> {
    r.findings.iter().filter(|f| f.kind == kind).collect()
}

/// The kinds of the findings at `level`.
fn kinds(r: &Report, level: Level) -> Vec<FindingKind> {
    r.findings
        .iter()
        .filter(|f| f.level == level)
        .map(|f| f.kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_go_through_real_nginx_and_its_pages_are_classified_ingress() {
    if !nginx_available() {
        return;
    }
    let lab = lab().await;
    let peer = start(&lab).await;
    let p = plan(
        r#"
host: shop.example.test
defaults: { timeout: 5s }
targets:
  nginx: { connect: "${N}", role: ingress }
checks:
  - name: items
    http: { path: /api/items }
    expect: { status: 200, headers: { server: { contains: nginx } }, json: { /items/0/name: widget } }
  - name: host
    http: { path: /echo-headers }
    expect: { json: { /host: shop.example.test, /headers/x-forwarded-host: shop.example.test } }
  - name: unknown host
    http: { path: /, host: other.example.test }
    expect: { status: 404 }
  - name: maintenance
    http: { path: /maintenance }
    expect: { status: 503 }
  - name: broken upstream
    http: { path: /broken }
    expect: { status: 502 }
"#,
        &[("N", format!("127.0.0.1:{}", peer.nginx.port))],
    );
    let r = check(&p).await;
    let res = |c: &str| {
        &r.checks
            .iter()
            .find(|x| x.name == c)
            .expect("check")
            .results[0]
    };
    for c in [
        "items",
        "host",
        "unknown host",
        "maintenance",
        "broken upstream",
    ] {
        assert_eq!(
            res(c).verdict,
            Verdict::Pass,
            "{c}: {:?} {:?}",
            res(c).failures,
            res(c).error
        );
    }
    assert_eq!(res("items").origin, Some(Origin::App));
    assert_eq!(res("unknown host").origin, Some(Origin::Ingress));
    assert_eq!(res("maintenance").origin, Some(Origin::Ingress));
    assert_eq!(res("broken upstream").origin, Some(Origin::Ingress));
    assert!(res("maintenance")
        .origin_reason
        .as_deref()
        .is_some_and(|r| r.contains("nginx error page")));
    drop(peer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_and_cors_checks_go_through_real_nginx() {
    if !nginx_available() {
        return;
    }
    let lab = lab().await;
    let peer = start(&lab).await;
    let p = plan(
        r#"
host: shop.example.test
targets:
  nginx: { connect: "${N}", role: ingress }
checks:
  - name: chat
    websocket: { path: /ws, send: [hello, again], expect_echo: true, hold: 300ms, ping_interval: 100ms }
  - name: preflight
    cors:
      path: /api/items
      origin: https://app.shop.example.test
      method: PUT
      request_headers: [authorization]
      actual: false
    expect: { allow_credentials: true, max_age: 1728000 }
"#,
        &[("N", format!("127.0.0.1:{}", peer.nginx.port))],
    );
    let r = check(&p).await;
    for c in &r.checks {
        let res = &c.results[0];
        assert_eq!(
            res.verdict,
            Verdict::Pass,
            "{}: {:?} {:?}",
            c.name,
            res.failures,
            res.error
        );
    }
    let chat = &r.checks[0].results[0];
    assert_eq!(chat.status, Some(101));
    assert!(chat
        .headers
        .iter()
        .any(|h| h.name == "server" && h.value.starts_with("nginx")));
    let pre = &r.checks[1].results[0];
    assert_eq!(pre.status, Some(204));
    drop(peer);
}

const RATE_LIMIT: &str = r#"  - name: login limit
    rate_limit: { path: /api/limited/login, count: 20, rate: 200/s, source_addresses: [127.0.0.1, 127.0.0.2] }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_nginx_limits_per_client_where_the_lab_gateway_shares_one_bucket() {
    if !nginx_available() {
        return;
    }
    let lab = lab().await;
    let peer = start(&lab).await;
    // The gateway's one bucket lets as many through as nginx's burst=4 does per client.
    lab.switches.rate_limit_burst.store(5, Relaxed);
    let r = check(&scenario(peer.nginx.port, &lab, RATE_LIMIT)).await;
    let mut fails = kinds(&r, Level::Fail);
    fails.sort_by_key(|k| k.as_str());
    assert_eq!(
        fails,
        vec![FindingKind::RateLimit, FindingKind::RateLimitShared],
        "{:#?}",
        r.findings
    );
    assert!(kinds(&r, Level::Warn).is_empty(), "{:#?}", r.findings);
    let shared = findings(&r, FindingKind::RateLimitShared)[0];
    assert_eq!(shared.target.as_deref(), Some("gateway"));
    assert!(
        shared.message.contains("one shared bucket"),
        "{}",
        shared.message
    );
    assert!(shared.message.contains("127.0.0.2"), "{}", shared.message);
    assert!(
        shared.message.contains("let it through again (5 requests)"),
        "{}",
        shared.message
    );
    let status = findings(&r, FindingKind::RateLimit)[0];
    assert!(
        status.message.contains("503 from ingress"),
        "{}",
        status.message
    );
    assert!(
        status
            .message
            .contains("429 `local_rate_limited` from gateway"),
        "{}",
        status.message
    );
    // nginx's own limiting: burst=4 nodelay lets 5 through per client, then its 503 page.
    let res = result(&r, "login limit", "ingress");
    let d = res.details_json();
    assert_eq!(d["bucket"], "per_client", "{d:#}");
    for b in 0..2 {
        assert_eq!(d["bursts"][b]["passed"], 5, "{d:#}");
        assert_eq!(d["bursts"][b]["first_limited"], 6, "{d:#}");
        assert_eq!(d["bursts"][b]["limited"]["status"], 503, "{d:#}");
        assert_eq!(d["bursts"][b]["limited"]["origin"], "ingress", "{d:#}");
    }
    assert_eq!(res.origin, Some(Origin::Ingress));
    assert!(
        res.origin_reason
            .as_deref()
            .is_some_and(|r| r.contains("nginx error page")),
        "{:?}",
        res.origin_reason
    );
    let g = result(&r, "login limit", "gateway").details_json();
    assert_eq!(g["bucket"], "shared", "{g:#}");
    assert_eq!(g["bursts"][1]["first_limited"], 1, "{g:#}");
    // The limited requests never reached the app: nginx answered them itself,
    // and the app saw each client's own address from nginx.
    let seen = peer.app.seen("/api/limited/login");
    let want: BTreeMap<String, u64> = [("127.0.0.1".into(), 5), ("127.0.0.2".into(), 5)].into();
    assert_eq!(seen, want);
    // Through the gateway: 6 from the first source (5 and the limited one), 1 from the second.
    let gw = lab.counters.by_peer("/api/limited/login");
    let (a, b): (IpAddr, IpAddr) = (
        "127.0.0.1".parse().expect("ip"),
        "127.0.0.2".parse().expect("ip"),
    );
    assert_eq!(gw.get(&b), Some(&1), "{gw:?}");
    assert_eq!(gw.get(&a), Some(&6), "{gw:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_nginx_answering_429_per_client_like_a_per_client_gateway_is_no_finding() {
    if !nginx_available() {
        return;
    }
    let lab = lab().await;
    let peer = start(&lab).await;
    lab.switches.rate_limit_burst.store(5, Relaxed);
    lab.switches
        .gateway_rate_limit_per_client
        .store(true, Relaxed);
    let r = check(&scenario(
        peer.nginx.port,
        &lab,
        r#"  - name: login limit
    rate_limit: { path: /api/limited-429/login, count: 20, rate: 200/s, source_addresses: [127.0.0.1, 127.0.0.2] }
"#,
    ))
    .await;
    assert!(kinds(&r, Level::Fail).is_empty(), "{:#?}", r.findings);
    assert!(kinds(&r, Level::Warn).is_empty(), "{:#?}", r.findings);
    let d = result(&r, "login limit", "ingress").details_json();
    assert_eq!(d["bucket"], "per_client", "{d:#}");
    assert_eq!(d["bursts"][0]["limited"]["status"], 429, "{d:#}");
    assert_eq!(d["bursts"][0]["limited"]["origin"], "ingress", "{d:#}");
    assert_eq!(
        peer.app
            .seen("/api/limited-429/login")
            .values()
            .sum::<u64>(),
        10
    );
}

const BODY_LIMIT: &str = r#"  - name: upload
    body_limit: { path: /api/upload, size: 1m }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_nginx_refuses_an_upload_over_1m_that_the_lab_gateway_accepts() {
    if !nginx_available() {
        return;
    }
    let lab = lab().await;
    let peer = start(&lab).await;
    // The gateway has no body limit of its own (the lab's cap is 10 MiB).
    let r = check(&scenario(peer.nginx.port, &lab, BODY_LIMIT)).await;
    let fs = findings(&r, FindingKind::BodyLimit);
    assert_eq!(fs.len(), 1, "only the upload above 1m differs: {fs:#?}");
    assert_eq!(fs[0].level, Level::Fail);
    assert_eq!(fs[0].target.as_deref(), Some("gateway"));
    assert!(
        fs[0].message.contains("gateway accepted an upload"),
        "{}",
        fs[0].message
    );
    assert!(
        fs[0].message.contains("413 from ingress"),
        "{}",
        fs[0].message
    );
    assert!(
        fs[0].message.contains("200 `api catch-all` from app"),
        "{}",
        fs[0].message
    );
    let d = result(&r, "upload", "ingress").details_json();
    assert_eq!(d["below"]["status"], 200, "{d:#}");
    assert_eq!(d["below"]["origin"], "app", "{d:#}");
    assert_eq!(d["above"]["status"], 413, "{d:#}");
    assert_eq!(d["above"]["origin"], "ingress", "{d:#}");
    // nginx refused the big one before the app saw it.
    assert_eq!(peer.app.seen("/api/upload").values().sum::<u64>(), 1);
    // The same limit on the gateway: no finding; its 413 is Envoy's.
    lab.switches.gateway_max_body.store(1 << 20, Relaxed);
    let r = check(&scenario(peer.nginx.port, &lab, BODY_LIMIT)).await;
    assert!(
        findings(&r, FindingKind::BodyLimit).is_empty(),
        "{:#?}",
        r.findings
    );
    assert!(kinds(&r, Level::Fail).is_empty(), "{:#?}", r.findings);
    let d = result(&r, "upload", "gateway").details_json();
    assert_eq!(d["above"]["status"], 413, "{d:#}");
    assert_eq!(d["above"]["origin"], "gateway", "{d:#}");
}

const REDIRECT: &str = r#"  - name: login over http
    redirect: { path: /login?next=%2F, method: POST }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_nginx_ssl_redirect_308_against_a_lab_gateway_301_fails_for_a_post() {
    if !nginx_available() {
        return;
    }
    let lab = lab().await;
    let peer = start(&lab).await;
    let ingress = peer.nginx.redirect_port;
    lab.switches.ssl_redirect.store(true, Relaxed);
    let r = check(&scenario(ingress, &lab, REDIRECT)).await;
    let fs = findings(&r, FindingKind::Redirect);
    assert_eq!(fs.len(), 1, "{fs:#?}");
    assert_eq!(fs[0].level, Level::Fail);
    assert!(
        fs[0]
            .message
            .contains("301 through gateway and 308 through ingress"),
        "{}",
        fs[0].message
    );
    assert!(
        fs[0].message.contains("repeats the POST through ingress"),
        "{}",
        fs[0].message
    );
    let res = result(&r, "login over http", "ingress");
    assert_eq!(res.status, Some(308));
    assert_eq!(res.origin, Some(Origin::Ingress));
    // Both send the client to the same place: only the status differs.
    let d = res.details_json();
    assert_eq!(
        d["location"], "https://shop.example.test/login?next=%2F",
        "{d:#}"
    );
    let g = result(&r, "login over http", "gateway").details_json();
    assert_eq!(g["location"], d["location"]);
    // The gateway's RequestRedirect with statusCode 308: nothing to say.
    lab.switches.gateway_ssl_redirect_code.store(308, Relaxed);
    let r = check(&scenario(ingress, &lab, REDIRECT)).await;
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    // No redirect on the gateway at all.
    lab.switches.ssl_redirect.store(false, Relaxed);
    let r = check(&scenario(ingress, &lab, REDIRECT)).await;
    let fs = findings(&r, FindingKind::Redirect);
    assert_eq!(fs.len(), 1, "{fs:#?}");
    assert_eq!(fs[0].level, Level::Fail);
    assert!(
        fs[0]
            .message
            .contains("a 308 redirect to https://shop.example.test/login?next=%2F through ingress"),
        "{}",
        fs[0].message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_nginx_proxy_read_timeout_504_is_the_ingress_timing_out_first() {
    if !nginx_available() {
        return;
    }
    let lab = lab().await;
    let peer = start(&lab).await;
    // nginx gives up after 1 s; the gateway waits its default 15 s.
    let r = check(&scenario(
        peer.nginx.port,
        &lab,
        r#"  - name: slow report
    route_timeout: { path: "/slow?ms=1500", timeout: 4s }
"#,
    ))
    .await;
    let fs = findings(&r, FindingKind::RouteTimeout);
    assert_eq!(fs.len(), 1, "{fs:#?}");
    assert_eq!(fs[0].level, Level::Fail);
    assert!(
        fs[0].message.contains("gateway waits longer than ingress"),
        "{}",
        fs[0].message
    );
    assert!(
        fs[0].message.contains("504 from ingress"),
        "{}",
        fs[0].message
    );
    assert!(
        fs[0].message.contains("200 `slept 1500 ms` from app"),
        "{}",
        fs[0].message
    );
    let res = result(&r, "slow report", "ingress");
    assert_eq!(res.status, Some(504));
    assert_eq!(res.origin, Some(Origin::Ingress));
    assert!(
        res.origin_reason
            .as_deref()
            .is_some_and(|r| r.contains("nginx error page")),
        "{:?}",
        res.origin_reason
    );
    // Not before its proxy_read_timeout of 1 s (and before the app's 1.5 s, or it would be a 200).
    assert!(res.latency_ms >= 900.0, "{}", res.latency_ms);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lab_gateway_timing_out_before_real_nginx_is_a_route_timeout_finding() {
    if !nginx_available() {
        return;
    }
    let lab = lab().await;
    let peer = start(&lab).await;
    let checks = r#"  - name: slow report
    route_timeout: { path: "/slow?ms=600", timeout: 4s }
"#;
    lab.switches.gateway_route_timeout_ms.store(300, Relaxed);
    let r = check(&scenario(peer.nginx.port, &lab, checks)).await;
    let fs = findings(&r, FindingKind::RouteTimeout);
    assert_eq!(fs.len(), 1, "{fs:#?}");
    assert!(
        fs[0].message.contains("gateway timed out first"),
        "{}",
        fs[0].message
    );
    assert!(
        fs[0]
            .message
            .contains("504 `upstream request timeout` from gateway"),
        "{}",
        fs[0].message
    );
    assert!(
        fs[0].message.contains("200 `slept 600 ms` from app"),
        "{}",
        fs[0].message
    );
    // Both wait longer than the app takes: no finding.
    lab.switches.gateway_route_timeout_ms.store(3_000, Relaxed);
    let r = check(&scenario(peer.nginx.port, &lab, checks)).await;
    assert!(
        findings(&r, FindingKind::RouteTimeout).is_empty(),
        "{:#?}",
        r.findings
    );
    assert_eq!(result(&r, "slow report", "ingress").status, Some(200));
}

const FORWARDED: &str = r#"  - name: client address
    forwarded_headers: { echo_path: /echo-headers }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_only_real_nginx_sets_are_a_forwarded_headers_finding() {
    if !nginx_available() {
        return;
    }
    let lab = lab().await;
    let peer = start(&lab).await;
    let r = check(&scenario(peer.nginx.port, &lab, FORWARDED)).await;
    let fs = findings(&r, FindingKind::ForwardedHeaders);
    // Both set x-forwarded-for, x-forwarded-proto and x-request-id alike:
    // one failure, for what only nginx sets, and nothing else.
    assert_eq!(fs.len(), 1, "{fs:#?}");
    assert_eq!(fs[0].level, Level::Fail);
    assert!(
        fs[0].message.contains(
            "the backend gets x-forwarded-host, x-forwarded-port, x-real-ip, x-scheme through ingress but not through gateway"
        ),
        "{}",
        fs[0].message
    );
    assert!(
        fs[0].message.contains("breaks silently"),
        "{}",
        fs[0].message
    );
    let d = result(&r, "client address", "ingress").details_json();
    let got = &d["received"];
    assert_eq!(got["x-real-ip"], "127.0.0.1", "{d:#}");
    assert_eq!(got["x-forwarded-for"], "127.0.0.1", "{d:#}");
    assert_eq!(got["x-forwarded-host"], "shop.example.test", "{d:#}");
    assert_eq!(
        got["x-forwarded-port"],
        peer.nginx.port.to_string(),
        "{d:#}"
    );
    assert_eq!(got["x-forwarded-proto"], "http", "{d:#}");
    assert_eq!(got["x-scheme"], "http", "{d:#}");
    let id = got["x-request-id"].as_str().unwrap_or("");
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "nginx's $request_id: {id:?}"
    );
    // No X-Forwarded-For came from the client: nginx sends no empty
    // X-Original-Forwarded-For, and no Proxy header.
    assert!(got.get("x-original-forwarded-for").is_none(), "{d:#}");
    assert!(got.get("proxy").is_none(), "{d:#}");
    // The lab gateway's header policy adds X-Real-IP, X-Forwarded-Host,
    // X-Forwarded-Port (its own listener's port, as nginx's is: the same
    // meaning) and X-Scheme: nothing fails.
    lab.switches.gateway_sets_real_ip.store(true, Relaxed);
    let r = check(&scenario(peer.nginx.port, &lab, FORWARDED)).await;
    assert!(kinds(&r, Level::Fail).is_empty(), "{:#?}", r.findings);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_and_grpc_go_through_real_nginx_and_its_502_is_unavailable_from_the_ingress() {
    if !nginx_available() {
        return;
    }
    use cutover::probe::grpc::Code;
    use cutover::probe::Protocol;
    use cutover::report::model::Details;
    let lab = lab().await;
    let peer = start(&lab).await;
    let lab_ca = peer.dir.path().join("lab-ca.pem");
    std::fs::write(&lab_ca, &lab.ca_pem).expect("write lab ca");
    let p = plan(
        r#"
name: nginx h2
host: shop.example.test
targets:
  ingress: { connect: "${I}", role: ingress, scheme: https, tls: { ca: "${ICA}" } }
  gateway: { connect: "${G}", role: gateway, scheme: https, tls: { ca: "${GCA}" } }
defaults: { timeout: 5s }
checks:
  - name: items
    http: { path: /api/items }
    parity: [status, body]
  - name: item
    grpc: { method: cutover.lab.v1.Shop/GetItem, descriptor: src/lab/grpc/shop.pb, request: { id: "2" } }
    expect: { json: { /name: Gadget } }
    parity: [body]
  - name: stream
    grpc: { method: cutover.lab.v1.Shop/ListItems, descriptor: src/lab/grpc/shop.pb, request: { count: 5 } }
    expect: { messages: 5 }
  - name: backend gone
    targets: [ingress]
    grpc: { method: cutover.lab.v1.Shop/GetItem, descriptor: src/lab/grpc/shop.pb, host: grpc-down.shop.example.test }
    expect: { grpc_code: UNAVAILABLE }
"#,
        &[
            ("I", format!("127.0.0.1:{}", peer.nginx.tls_port)),
            ("G", lab.gateway_https.to_string()),
            ("ICA", peer.dir.path().join("ca.pem").display().to_string()),
            ("GCA", lab_ca.display().to_string()),
        ],
    );
    let r = check(&p).await;
    for c in ["items", "item", "stream"] {
        for t in ["ingress", "gateway"] {
            let res = result(&r, c, t);
            assert_eq!(res.verdict, Verdict::Pass, "{c} [{t}]: {:?}", res.failures);
            assert_eq!(
                res.http_version,
                Some(Protocol::H2),
                "{c} [{t}]: nginx speaks h2"
            );
        }
    }
    assert_eq!(result(&r, "item", "ingress").origin, Some(Origin::App));
    let gone = result(&r, "backend gone", "ingress");
    assert_eq!(gone.verdict, Verdict::Pass, "{:?}", gone.failures);
    assert_eq!(gone.status, Some(502));
    assert_eq!(
        gone.origin,
        Some(Origin::Ingress),
        "{:?}",
        gone.origin_reason
    );
    match &gone.details {
        Some(Details::Grpc(g)) => assert_eq!((g.code, g.from_http), (Code::Unavailable, Some(502))),
        other => panic!("{other:?}"),
    }
    let failing: Vec<_> = r.findings.iter().filter(|f| f.fails()).collect();
    assert!(failing.is_empty(), "{failing:#?}");
}
