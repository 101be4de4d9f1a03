//! The real peer: Debian's nginx on loopback, configured like ingress-nginx in
//! front of the lab. cutover goes through it with the production Host and
//! classifies nginx's own 404/502/503 pages as `ingress`.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use cutover::probe::Origin;
use cutover::report::Verdict;

use crate::support::{check, lab, plan, refused_addr};

const NGINX: &str = "/usr/sbin/nginx";

/// nginx running with a config of ours; killed on drop.
struct Nginx {
    child: Child,
    port: u16,
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

fn start_nginx(dir: &Path, upstream: std::net::SocketAddr) -> Nginx {
    let port = refused_addr().port();
    let conf = format!(
        r#"worker_processes 1;
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  # ingress-nginx's catch-all: unknown hosts get the default backend.
  server {{
    listen 127.0.0.1:{port} default_server;
    location / {{ return 404 "default backend - 404"; }}
  }}
  server {{
    listen 127.0.0.1:{port};
    server_name shop.example.test;
    location /maintenance {{ return 503; }}
    # Like ingress-nginx with WebSocket proxying.
    location /ws {{
      proxy_pass http://{upstream};
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
      proxy_pass http://{upstream};
      proxy_set_header Host $host;
    }}
    location /broken {{ proxy_pass http://{refused}; }}
    location / {{
      proxy_pass http://{upstream};
      proxy_set_header Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Forwarded-Proto $scheme;
    }}
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
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not listen on {port}: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Nginx { child, port }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_go_through_real_nginx_and_its_pages_are_classified_ingress() {
    if !nginx_available() {
        return;
    }
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let upstream = lab.ingress_http;
    let d = dir.path().to_path_buf();
    let nginx = tokio::task::spawn_blocking(move || start_nginx(&d, upstream))
        .await
        .expect("join");
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
        &[("N", format!("127.0.0.1:{}", nginx.port))],
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
    drop(nginx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_and_cors_checks_go_through_real_nginx() {
    if !nginx_available() {
        return;
    }
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let upstream = lab.ingress_http;
    let d = dir.path().to_path_buf();
    let nginx = tokio::task::spawn_blocking(move || start_nginx(&d, upstream))
        .await
        .expect("join");
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
        &[("N", format!("127.0.0.1:{}", nginx.port))],
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
    drop(nginx);
}
