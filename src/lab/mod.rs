//! Embedded loopback lab: an ingress-nginx-like and a kgateway/Envoy-like
//! front, each on HTTP and HTTPS, in front of one shared in-process app.
//!
//! Owns the listeners and their lifetime. Real servers on real sockets
//! (127.0.0.1), used by `cutover demo` and by tests; behaviour differences
//! between the fronts are flipped at run time through [`Switches`]. Besides
//! plain HTTP the lab speaks WebSocket (`/ws`, see [`app`]) and CORS (see
//! [`cors`]), the two places where the fronts' defaults differ most.
//! Invariants: [`Lab::start`] returns only once every listener is bound;
//! [`Lab::shutdown`] or dropping the [`Lab`] stops the accept loops and ends
//! every open connection.

pub mod app;
pub mod cors;
pub mod dns;
pub mod front;
pub mod grpc;
pub mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper::StatusCode;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use front::{ConnInfo, Front, Kind};

/// Ports the lab binds on 127.0.0.1; 0 picks an ephemeral port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LabPorts {
    /// Ingress front, plain HTTP.
    pub ingress_http: u16,
    /// Ingress front, HTTPS.
    pub ingress_https: u16,
    /// Gateway front, plain HTTP.
    pub gateway_http: u16,
    /// Gateway front, HTTPS.
    pub gateway_https: u16,
    /// Weighted DNS responder (UDP and TCP).
    pub dns: u16,
}

/// What the lab serves and where.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// Production hostname both fronts route (Host header / SNI), e.g. "shop.example.test".
    pub host: String,
    /// Hostnames the ingress routes (by default `host` and `www.` + host).
    pub ingress_hostnames: Vec<String>,
    /// Hostnames the gateway's HTTPRoute lists; default: vec![host].
    pub gateway_hostnames: Vec<String>,
    /// Ports to bind (0 = ephemeral).
    pub ports: LabPorts,
    /// Origins both fronts' CORS policies allow, compared exactly
    /// (`scheme://host[:port]`); default: `https://app.` + host.
    pub cors_origins: Vec<String>,
    /// The DNS responder's record sets: `(weight, address)`, like Route 53
    /// weighted records for the host (default: ingress 192.0.2.10 weight 90,
    /// gateway 192.0.2.20 weight 10).
    pub dns_records: Vec<(u32, std::net::IpAddr)>,
}

impl LabConfig {
    /// Defaults for `host`: the ingress also routes `www.` + host, the gateway only `host`.
    pub fn new(host: impl Into<String>) -> Self {
        let host = host.into();
        LabConfig {
            ingress_hostnames: vec![host.clone(), format!("www.{host}")],
            gateway_hostnames: vec![host.clone()],
            cors_origins: vec![format!("https://app.{host}")],
            dns_records: vec![
                (90, std::net::IpAddr::from([192, 0, 2, 10])),
                (10, std::net::IpAddr::from([192, 0, 2, 20])),
            ],
            host,
            ports: LabPorts::default(),
        }
    }
}

/// Token buckets of the lab's rate limit: (front: 0 ingress, 1 gateway;
/// client address, `None` for the shared bucket) → (tokens, last refill).
pub type Buckets =
    std::collections::HashMap<(u8, Option<std::net::IpAddr>), (f64, tokio::time::Instant)>;

/// Switches for every behaviour difference; shared, flipped at run time by tests and the demo.
#[derive(Default, Debug)]
pub struct Switches {
    /// The ingress's TLS listener offers only `http/1.1` in ALPN (ingress-nginx
    /// with `use-http2: "false"`); by default both fronts offer `h2` too.
    pub ingress_no_h2: AtomicBool,
    /// The gateway's TLS listener offers only `http/1.1` (an Envoy listener
    /// without `h2` in its ALPN list).
    pub gateway_no_h2: AtomicBool,
    /// gRPC calls cannot reach the app: the gateway answers Envoy's
    /// trailers-only UNAVAILABLE with its local-reply text, the ingress
    /// nginx's 502 page (`grpc_pass` to a dead upstream).
    pub grpc_upstream_down: AtomicBool,
    /// The gateway has no GRPCRoute rule for the lab's service: UNIMPLEMENTED,
    /// trailers-only, from Envoy.
    pub gateway_grpc_unrouted: AtomicBool,
    /// The app has no endpoints: gateway 503 `no healthy upstream`, ingress 503 nginx HTML page.
    pub app_down: AtomicBool,
    /// `/old` redirect: ingress answers 308, gateway 301 when on (308 when off).
    pub gateway_redirect_301: AtomicBool,
    /// Gateway matches `/api` by whole path segments only (`/apix` is an empty 404);
    /// the ingress always matches it as a string prefix.
    pub gateway_strict_prefix: AtomicBool,
    /// Delay added to gateway-proxied app responses, in milliseconds.
    pub gateway_extra_latency_ms: AtomicU64,
    /// Delay added to every app response (both fronts), in milliseconds.
    pub app_stall_ms: AtomicU64,
    /// Random extra delay of up to this many milliseconds on every app
    /// response (both fronts alike), from `jitter_seed`: latency noise.
    pub app_jitter_ms: AtomicU64,
    pub jitter_seed: AtomicU64,
    /// `/api/flaky`: the app answers every Nth request through each front
    /// with its own 503 (0 = never): the same steady error rate on both paths.
    pub flaky_every: AtomicU64,
    /// Requests seen on `/api/flaky`, per front (ingress, gateway).
    pub flaky_seen: [AtomicU64; 2],
    /// The gateway lets WebSocket upgrades through (kgateway: an HTTPListenerPolicy
    /// with `upgradeConfig`); off, it answers them 403 with an empty body.
    pub gateway_websocket: AtomicBool,
    /// The ingress drops a WebSocket connection, without a close frame, after this
    /// many milliseconds without a byte from the client (`proxy-read-timeout`); 0 = never.
    /// Read when the connection is upgraded.
    pub ingress_ws_idle_ms: AtomicU64,
    /// The same for the gateway (Envoy's idle timeout); 0 = never.
    pub gateway_ws_idle_ms: AtomicU64,
    /// The gateway's CORS policy answers allowed preflights 200 instead of 204,
    /// without `access-control-allow-credentials`, with `access-control-max-age: 600`
    /// and a shorter, lowercase `access-control-allow-headers`.
    pub gateway_cors_differs: AtomicBool,
    /// The app answers OPTIONS by reflecting any `origin` into
    /// `access-control-allow-origin` (with credentials): a leak wherever a front
    /// forwards a disallowed preflight, i.e. on the gateway.
    pub app_cors_reflects_origin: AtomicBool,
    /// The app behind the gateway answers `/api/prices` with a different
    /// `/items/1/price_cents` on every Nth answer (0: never, 1: always).
    pub gateway_price_every: AtomicU64,
    /// The ingress adds its session-affinity cookie (`set-cookie:
    /// INGRESSCOOKIE=…`, the same value every time) to proxied answers, as
    /// ingress-nginx does with `affinity: cookie`; the gateway does not.
    pub ingress_affinity_cookie: AtomicBool,
    /// A rate limit on `/api/limited`: every Nth request through a front is
    /// limited (0 = off). The ingress answers nginx's 503 page (its
    /// `limit-req-status-code` default), the gateway Envoy's 429
    /// `local_rate_limited`.
    pub rate_limit_every: AtomicU64,
    /// Requests seen on `/api/limited`, per front (ingress, gateway).
    pub limited_seen: [AtomicU64; 2],
    /// Until when (Unix ms) a rollout is in progress; see [`Switches::deploy`].
    pub deploy_until_ms: AtomicU64,
    /// A token-bucket rate limit on `/api/limited*` of this many requests
    /// (0 = off), refilled at `rate_limit_refill_per_s`. The ingress keeps a
    /// bucket per client address and answers nginx's 503 page
    /// (`limit-req-status-code`); the gateway keeps one bucket for everyone
    /// (Envoy's local rate limit) and answers 429 `local_rate_limited`.
    pub rate_limit_burst: AtomicU64,
    /// Tokens per second added back to each bucket (0 = none).
    pub rate_limit_refill_per_s: AtomicU64,
    /// The gateway's bucket is per client too (a global rate limit keyed on
    /// the remote address).
    pub gateway_rate_limit_per_client: AtomicBool,
    /// The gateway has no rate limit at all (the ingress's annotation was
    /// not carried over).
    pub gateway_rate_limit_off: AtomicBool,
    /// The ingress answers a limited request 429 (`limit-req-status-code: 429`).
    pub ingress_limit_status_429: AtomicBool,
    /// The token buckets: (front: 0 ingress, 1 gateway; client or `None`
    /// for the shared bucket) → (tokens, last refill).
    pub buckets: std::sync::Mutex<Buckets>,
    /// The largest request body the ingress accepts before its 413 HTML page
    /// (`proxy-body-size`); 0 = [`front::MAX_REQUEST_BODY`].
    pub ingress_max_body: AtomicU64,
    /// The same for the gateway (413 `Payload Too Large`); 0 = [`front::MAX_REQUEST_BODY`].
    pub gateway_max_body: AtomicU64,
    /// How long the ingress waits for the app before its 504 page
    /// (`proxy-read-timeout`), in ms; 0 = 60 s.
    pub ingress_route_timeout_ms: AtomicU64,
    /// How long the gateway waits before 504 `upstream request timeout`
    /// (Envoy's route timeout), in ms; 0 = 15 s.
    pub gateway_route_timeout_ms: AtomicU64,
    /// Plain-HTTP requests are redirected to https (ssl-redirect): the
    /// ingress with 308, the gateway with `gateway_ssl_redirect_code`.
    pub ssl_redirect: AtomicBool,
    /// Only paths under this prefix are redirected (an https-only section
    /// of the site); empty, as by default, every path is.
    pub ssl_redirect_prefix: std::sync::Mutex<String>,
    /// The gateway's redirect status (Gateway API RequestRedirect
    /// `statusCode`); 0 = 301.
    pub gateway_ssl_redirect_code: AtomicU64,
    /// The gateway sets the ingress's forwarded headers too (X-Real-IP,
    /// X-Forwarded-Host, X-Forwarded-Port, X-Scheme), as an added header
    /// policy would.
    pub gateway_sets_real_ip: AtomicBool,
    /// The gateway strips a trailing dot from Host before routing (Envoy's
    /// `strip_trailing_host_dot`); off, as by default, `shop.example.test.`
    /// matches no route there, while the ingress routes it like nginx.
    pub gateway_strips_host_dot: AtomicBool,
    /// The gateway routes by Host with its port (Envoy's default without
    /// `ignore_port_in_host_matching`): `shop.example.test:443` matches no
    /// route there. Off, as Envoy Gateway configures it, the port is ignored.
    pub gateway_matches_host_port: AtomicBool,
}

impl Switches {
    /// Starts a rollout: for `window`, the gateway answers proxied requests
    /// with Envoy's upstream-reset 503 while the ingress retries and succeeds.
    pub fn deploy(&self, window: std::time::Duration) {
        let until = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| (d + window).as_millis() as u64)
            .unwrap_or(0);
        self.deploy_until_ms
            .store(until, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether ssl-redirect covers `path` (see `ssl_redirect_prefix`).
    pub fn ssl_redirected(&self, path: &str) -> bool {
        self.ssl_redirect_prefix
            .lock()
            .map_or(true, |prefix| path.starts_with(prefix.as_str()))
    }

    /// Whether a rollout is in progress.
    pub fn deploying(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        now < self
            .deploy_until_ms
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// What the lab's servers saw, across all four listeners (for tests and benchmarks).
#[derive(Default, Debug)]
pub struct Counters {
    /// TCP connections accepted.
    pub connections: AtomicU64,
    /// Requests received by a front (answered or not yet).
    pub requests: AtomicU64,
    /// Responses produced (by a front or the app).
    pub responses: AtomicU64,
    /// `101 Switching Protocols` responses sent, i.e. WebSocket upgrades.
    pub upgrades: AtomicU64,
    /// Requests received per (client address, path); at most
    /// [`Counters::MAX_SEEN`] keys, later keys are not counted.
    pub seen: std::sync::Mutex<std::collections::BTreeMap<(std::net::IpAddr, String), u64>>,
}

impl Counters {
    /// The most (address, path) keys [`Counters::seen`] keeps.
    pub const MAX_SEEN: usize = 10_000;

    /// Records one request from `peer` for `path`.
    pub fn saw(&self, peer: std::net::IpAddr, path: &str) {
        let Ok(mut seen) = self.seen.lock() else {
            return;
        };
        let key = (peer, path.to_owned());
        if let Some(n) = seen.get_mut(&key) {
            *n += 1;
        } else if seen.len() < Self::MAX_SEEN {
            seen.insert(key, 1);
        }
    }

    /// Requests received for `path`, by client address.
    pub fn by_peer(&self, path: &str) -> std::collections::BTreeMap<std::net::IpAddr, u64> {
        let mut out = std::collections::BTreeMap::new();
        if let Ok(seen) = self.seen.lock() {
            for ((ip, p), n) in seen.iter() {
                if p == path {
                    *out.entry(*ip).or_default() += n;
                }
            }
        }
        out
    }
}

/// A running lab. Dropping it stops the servers; [`Lab::shutdown`] also waits for them.
#[derive(Debug)]
pub struct Lab {
    /// Ingress front, plain HTTP.
    pub ingress_http: SocketAddr,
    /// Ingress front, HTTPS.
    pub ingress_https: SocketAddr,
    /// Gateway front, plain HTTP.
    pub gateway_http: SocketAddr,
    /// Gateway front, HTTPS.
    pub gateway_https: SocketAddr,
    /// The production hostname.
    pub host: String,
    /// PEM of the lab's CA, which signed the leaf certificate for host, `*.` + host,
    /// every configured hostname, `localhost` and 127.0.0.1.
    pub ca_pem: String,
    /// The behaviour switches both fronts read on every request.
    pub switches: Arc<Switches>,
    /// The weighted authoritative DNS responder (UDP and TCP on this address).
    pub dns: SocketAddr,
    pub dns_switches: Arc<dns::DnsSwitches>,
    /// Connection and response counts.
    pub counters: Arc<Counters>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Lab {
    /// Binds all four listeners on 127.0.0.1 and spawns their accept loops on
    /// the current tokio runtime.
    pub async fn start(config: LabConfig) -> std::io::Result<Lab> {
        let mut names = config.ingress_hostnames.clone();
        names.extend(config.gateway_hostnames.iter().cloned());
        let (ca_pem, server_config) = tls::generate(&config.host, &names)?;
        let acceptor = Acceptors::new(server_config);
        let switches = Arc::new(Switches::default());
        let counters = Arc::new(Counters::default());
        let origins = &config.cors_origins;
        let ingress = Front::new(Kind::Ingress, &config.ingress_hostnames, origins, &switches);
        let gateway = Front::new(Kind::Gateway, &config.gateway_hostnames, origins, &switches);
        let p = config.ports;
        let mut listeners = Vec::new();
        for port in [
            p.ingress_http,
            p.ingress_https,
            p.gateway_http,
            p.gateway_https,
        ] {
            listeners.push(TcpListener::bind(("127.0.0.1", port)).await?);
        }
        let addrs = listeners.iter().map(TcpListener::local_addr);
        let addrs = addrs.collect::<std::io::Result<Vec<_>>>()?;
        let (stop, _) = watch::channel(false);
        let fronts = [
            (ingress.clone(), None),
            (ingress, Some(acceptor.clone())),
            (gateway.clone(), None),
            (gateway, Some(acceptor)),
        ];
        let tasks = listeners.into_iter().zip(fronts);
        let tasks = tasks.map(|(listener, (front, tls))| {
            tokio::spawn(accept_loop(
                listener,
                tls,
                front,
                Arc::clone(&counters),
                stop.subscribe(),
            ))
        });
        let mut tasks: Vec<JoinHandle<()>> = tasks.collect();
        let dns_switches = Arc::new(dns::DnsSwitches::new(config.dns_records.clone()));
        let (dns_addr, dns_tasks) = dns::start(
            &config.host,
            p.dns,
            Arc::clone(&dns_switches),
            stop.subscribe(),
        )
        .await?;
        tasks.extend(dns_tasks);
        Ok(Lab {
            dns: dns_addr,
            dns_switches,
            ingress_http: addrs[0],
            ingress_https: addrs[1],
            gateway_http: addrs[2],
            gateway_https: addrs[3],
            host: config.host,
            ca_pem,
            switches,
            counters,
            stop,
            tasks,
        })
    }

    /// A ready-to-run scenario YAML for this lab; `https` selects the HTTPS
    /// listeners and makes each target trust the CA stored at `ca_path`.
    pub fn scenario_yaml(&self, ca_path: &Path, https: bool) -> String {
        let quote = |s: &str| serde_json::Value::from(s).to_string();
        let (scheme, ingress, gateway, tls) = if https {
            let ca = quote(&ca_path.to_string_lossy());
            (
                "https",
                self.ingress_https,
                self.gateway_https,
                format!(", tls: {{ ca: {ca} }}"),
            )
        } else {
            ("http", self.ingress_http, self.gateway_http, String::new())
        };
        format!(
            r#"name: lab
host: {host}
targets:
  ingress: {{ connect: "{ingress}", role: ingress{tls} }}
  gateway: {{ connect: "{gateway}", role: gateway{tls} }}
defaults: {{ scheme: {scheme}, timeout: 5s }}
checks:
  - name: items
    http: {{ path: /api/items }}
    expect: {{ status: 200, headers: {{ content-type: application/json }} }}
    parity: [status, "header:content-type", body]
"#,
            host = quote(&self.host),
        )
    }

    /// Stops accepting, ends every open connection and waits for the accept loops.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Accepts connections until told to stop; each connection runs in its own
/// task inside a `JoinSet`, so stopping (or aborting) this loop ends them all.
async fn accept_loop(
    listener: TcpListener,
    tls: Option<Acceptors>,
    front: Arc<Front>,
    counters: Arc<Counters>,
    mut stop: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            // Also fires when the sender is gone, i.e. the Lab was dropped.
            _ = stop.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    counters.connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let local_port = tcp.local_addr().map_or(0, |a| a.port());
                    let info = ConnInfo { peer, sni: None, https: tls.is_some(), local_port, stop: stop.clone() };
                    conns.spawn(serve_conn(tcp, info, tls.clone(), front.clone(), Arc::clone(&counters)));
                }
                // Out of descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
    conns.shutdown().await;
}

/// The TLS acceptors of the HTTPS listeners: ALPN `h2` and `http/1.1`, or
/// `http/1.1` alone for a front whose switch turns HTTP/2 off.
#[derive(Clone)]
struct Acceptors {
    h2: TlsAcceptor,
    h1: TlsAcceptor,
}

impl Acceptors {
    fn new(config: rustls::ServerConfig) -> Acceptors {
        let mut h2 = config.clone();
        h2.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let mut h1 = config;
        h1.alpn_protocols = vec![b"http/1.1".to_vec()];
        Acceptors {
            h2: TlsAcceptor::from(Arc::new(h2)),
            h1: TlsAcceptor::from(Arc::new(h1)),
        }
    }
}

async fn serve_conn(
    tcp: TcpStream,
    mut info: ConnInfo,
    tls: Option<Acceptors>,
    front: Arc<Front>,
    counters: Arc<Counters>,
) {
    let _ = tcp.set_nodelay(true);
    let Some(acceptors) = tls else {
        return serve_http(TokioIo::new(tcp), info, front, counters).await;
    };
    let acceptor = if front.offers_h2() {
        acceptors.h2
    } else {
        acceptors.h1
    };
    let handshake = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp));
    let Ok(Ok(stream)) = handshake.await else {
        return;
    };
    info.sni = stream.get_ref().1.server_name().map(str::to_owned);
    serve_http(TokioIo::new(stream), info, front, counters).await;
}

async fn serve_http<I>(io: I, conn: ConnInfo, front: Arc<Front>, counters: Arc<Counters>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let conn = Arc::new(conn);
    let service = service_fn(move |req| {
        let (front, conn, counters) = (front.clone(), conn.clone(), counters.clone());
        async move {
            let relaxed = std::sync::atomic::Ordering::Relaxed;
            counters.requests.fetch_add(1, relaxed);
            counters.saw(conn.peer.ip(), req.uri().path());
            let resp = front.handle(&conn, req).await;
            counters.responses.fetch_add(1, relaxed);
            if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
                counters.upgrades.fetch_add(1, relaxed);
            }
            Ok::<_, Infallible>(resp)
        }
    });
    // HTTP/1.1 or HTTP/2 (after ALPN `h2`, or with prior knowledge on plain
    // http), told apart by the connection preface. An upgraded connection
    // leaves hyper here; the front's tunnel owns it from then on.
    let builder = auto::Builder::new(TokioExecutor::new());
    let _ = builder.serve_connection_with_upgrades(io, service).await;
}

#[cfg(test)]
mod tests;
