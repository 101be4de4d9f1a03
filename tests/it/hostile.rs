//! Hostile peers: each failure lands in the kind that tells the truth, with a
//! sentence a user can act on. DNS answers for another name, garbage
//! datagrams, connects that never complete, broken chunked bodies, statuses
//! outside 100–599, and every TLS failure (unknown issuer, expired, wrong
//! name, a CA as the server certificate, a handshake alert). Every peer is a
//! small server on 127.0.0.1:0 inside the test; every wait is bounded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cutover::probe::dns::{query, Answer};
use cutover::probe::http::{probe, HttpSpec};
use cutover::probe::websocket::{self, Reply, WsSpec};
use cutover::probe::{ErrorKind, ProbeError, Sample};
use cutover::target::{Connect, Connector, Proxy, Role, Scheme, Target, Tls};
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{check, plan, result, HOST};

const TIMEOUT: Duration = Duration::from_millis(800);

async fn connector(
    addr: SocketAddr,
    scheme: Scheme,
    tls: Tls,
    connect_timeout: Duration,
) -> Connector {
    let target = Target {
        name: "gateway".into(),
        role: Role::Gateway,
        proxy: Proxy::Envoy,
        connect: Connect {
            host: addr.ip().to_string(),
            port: addr.port(),
        },
        host: HOST.into(),
        scheme,
        tls,
        headers: Vec::new(),
        dns_answers: Vec::new(),
    };
    Arc::new(target).connector(&[], connect_timeout).await
}

fn get(timeout: Duration) -> HttpSpec {
    HttpSpec {
        method: reqwest::Method::GET,
        path_and_query: "/".into(),
        host: None,
        headers: Vec::new(),
        body: None,
        timeout,
        follow_redirects: false,
        body_cap: 64 * 1024,
        version: cutover::probe::http::Version::H1,
    }
}

fn ws(timeout: Duration) -> WsSpec {
    WsSpec {
        path_and_query: "/ws".into(),
        host: None,
        headers: Vec::new(),
        origin: None,
        subprotocols: Vec::new(),
        send: Vec::new(),
        reply: Reply::Any,
        hold: None,
        ping_interval: Duration::from_secs(1),
        timeout,
        max_message: 16 << 20,
        pong_timeout: Duration::from_secs(10),
    }
}

fn error_of(s: &Sample) -> &ProbeError {
    s.error
        .as_ref()
        .unwrap_or_else(|| panic!("the probe failed: {s:#?}"))
}

/// A sentence, not Rust `Debug` text.
fn assert_sentence(e: &ProbeError) {
    for debug in ["Other(", "OtherError", "Context {", "Name(\"", "Some("] {
        assert!(!e.message.contains(debug), "Debug text in `{}`", e.message);
    }
}

// ---------------------------------------------------------------- DNS

/// A UDP peer that answers every query with what `reply` makes of it.
async fn udp_peer(reply: impl Fn(&[u8]) -> Vec<Vec<u8>> + Send + 'static) -> SocketAddr {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = sock.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            for d in reply(&buf[..n]) {
                let _ = sock.send_to(&d, from).await;
            }
        }
    });
    addr
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).expect("name")
}

/// A response to `query` with `question` and one A record owned by `owner`.
fn response(query: &[u8], question: &str, owner: &str) -> Vec<u8> {
    let q = Message::from_vec(query).expect("query parses");
    let mut r = Message::response(q.metadata.id, q.metadata.op_code);
    r.add_query(Query::query(name(question), RecordType::A));
    r.add_answer(Record::from_rdata(
        name(owner),
        60,
        RData::A(A::new(192, 0, 2, 10)),
    ));
    r.to_vec().expect("encodes")
}

async fn ask(ns: SocketAddr) -> Answer {
    query(ns, &name("shop.example.test."), RecordType::A, TIMEOUT).await
}

fn failed(a: &Answer) -> &ProbeError {
    match a {
        Answer::Failed(e) => e,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn a_dns_answer_for_another_question_is_a_protocol_error() {
    let ns = udp_peer(|q| vec![response(q, "evil.example.test.", "evil.example.test.")]).await;
    let e = failed(&ask(ns).await).clone();
    assert_eq!(e.kind, ErrorKind::Protocol, "{e}");
    assert!(e.message.contains("evil.example.test"), "{e}");
    assert_sentence(&e);
}

#[tokio::test]
async fn a_dns_answer_record_owned_by_another_name_is_a_protocol_error() {
    let ns = udp_peer(|q| vec![response(q, "shop.example.test.", "evil.example.test.")]).await;
    let e = failed(&ask(ns).await).clone();
    assert_eq!(e.kind, ErrorKind::Protocol, "{e}");
    assert!(e.message.contains("evil.example.test"), "{e}");
    // The right name in another case is still the right name.
    let ns = udp_peer(|q| vec![response(q, "SHOP.example.test.", "Shop.Example.Test.")]).await;
    assert!(matches!(ask(ns).await, Answer::Records { .. }));
}

/// Garbage, another id, and a question whose name is a compression pointer to itself.
fn garbage(q: &[u8]) -> Vec<Vec<u8>> {
    let id = u16::from_be_bytes([q[0], q[1]]);
    let other = id.wrapping_add(1).to_be_bytes();
    let ours = id.to_be_bytes();
    let header = |id: [u8; 2]| vec![id[0], id[1], 0x84, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    let mut wrong_id = header(other);
    wrong_id.extend_from_slice(&[0, 0, 1, 0, 1]);
    let mut pointer_loop = header(ours);
    pointer_loop.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1]);
    vec![b"\x00\x01garbage".to_vec(), wrong_id, pointer_loop]
}

#[tokio::test]
async fn only_garbage_datagrams_are_a_protocol_error_not_a_timeout() {
    let ns = udp_peer(garbage).await;
    let started = std::time::Instant::now();
    let e = failed(&ask(ns).await).clone();
    assert_eq!(e.kind, ErrorKind::Protocol, "{e}");
    assert!(
        e.message.contains("3 datagrams arrived") && e.message.contains("none was a DNS answer"),
        "{e}"
    );
    assert!(started.elapsed() < TIMEOUT * 3);
    assert_sentence(&e);
}

#[tokio::test]
async fn garbage_before_the_answer_does_not_end_the_wait() {
    let ns = udp_peer(|q| {
        let mut d = garbage(q);
        d.push(response(q, "shop.example.test.", "shop.example.test."));
        d
    })
    .await;
    assert!(matches!(ask(ns).await, Answer::Records { .. }));
}

#[tokio::test]
async fn silence_is_still_a_timeout() {
    let ns = udp_peer(|_| Vec::new()).await;
    assert_eq!(failed(&ask(ns).await).kind, ErrorKind::Timeout);
}

// ---------------------------------------------------------- connects

/// A listener with a backlog of 1 that never accepts, filled until a new
/// connect hangs: the kernel drops SYNs to a full accept queue. Returns the
/// address and the connections that filled it (keep them alive).
async fn blackhole() -> (
    SocketAddr,
    Vec<tokio::net::TcpStream>,
    tokio::net::TcpListener,
) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let listener = socket.listen(1).expect("listen");
    let addr = listener.local_addr().expect("addr");
    let mut held = Vec::new();
    for _ in 0..64 {
        let c = tokio::net::TcpStream::connect(addr);
        match tokio::time::timeout(Duration::from_millis(300), c).await {
            Ok(Ok(s)) => held.push(s),
            Ok(Err(e)) => panic!("connect failed: {e}"),
            Err(_) => return (addr, held, listener),
        }
    }
    panic!("the accept queue never filled");
}

#[tokio::test]
async fn a_connect_that_never_completes_is_connect_timeout_on_every_path() {
    let (addr, _held, _listener) = blackhole().await;
    // The client's own connect timeout equal to, and longer than, the check's.
    for connect_timeout in [TIMEOUT, Duration::from_secs(30)] {
        let conn = connector(addr, Scheme::Http, Tls::default(), connect_timeout).await;
        let s = probe(&conn, &get(TIMEOUT)).await;
        let e = error_of(&s);
        assert_eq!(e.kind, ErrorKind::ConnectTimeout, "{e}");
        assert!(s.latency < TIMEOUT * 3);
        assert_sentence(e);
        let w = websocket::probe(&conn, &ws(TIMEOUT)).await;
        assert_eq!(error_of(&w.handshake).kind, ErrorKind::ConnectTimeout);
    }
    let e = cutover::probe::http::open_tcp(addr, tokio::time::Instant::now() + TIMEOUT, TIMEOUT)
        .await
        .expect_err("the connect hangs");
    assert_eq!(e.kind, ErrorKind::ConnectTimeout, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_load_a_connect_that_never_completes_is_connect_timeout() {
    let (addr, _held, _listener) = blackhole().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = format!(
        r#"name: blackhole
host: shop.example.test
defaults: {{ timeout: 500ms }}
targets:
  ingress: {{ connect: "{addr}" }}
checks:
  - name: items
    http: {{ path: /api/items }}
load: {{ stages: [{{ rate: 10/s, for: 1s }}] }}
"#
    );
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    let out = crate::support::run_bin_async(dir.path(), &["run", "s.yaml", "--out", "out"]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = crate::support::report_in(dir.path(), "out");
    let kinds = &report["load"]["targets"][0]["totals"]["error_kinds"];
    assert_eq!(kinds["connect_timeout"], 10, "{kinds}");
    assert!(kinds.get("timeout").is_none(), "{kinds}");
}

#[test]
fn the_systems_connect_timeout_is_connect_timeout() {
    let io = std::io::Error::from(std::io::ErrorKind::TimedOut);
    let e = cutover::probe::http::from_connect_error("192.0.2.1:443", &io);
    assert_eq!(e.kind, ErrorKind::ConnectTimeout);
}

// ------------------------------------------------------ raw HTTP peers

/// A TCP peer that reads a request head and writes `answer`, then closes.
async fn raw_peer(answer: &'static [u8]) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s.write_all(answer).await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn invalid_chunked_encoding_is_a_protocol_error() {
    let addr =
        raw_peer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nhello\r\n0\r\n\r\n")
            .await;
    let conn = connector(addr, Scheme::Http, Tls::default(), TIMEOUT).await;
    let s = probe(&conn, &get(TIMEOUT)).await;
    assert_eq!(error_of(&s).kind, ErrorKind::Protocol, "{s:#?}");
}

const WEIRD: &[u8] = b"HTTP/1.1 999 Weird\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

#[tokio::test]
async fn a_status_outside_100_to_599_is_a_protocol_error_not_a_response() {
    let addr = raw_peer(WEIRD).await;
    let conn = connector(addr, Scheme::Http, Tls::default(), TIMEOUT).await;
    let s = probe(&conn, &get(TIMEOUT)).await;
    assert!(s.response.is_none(), "{s:#?}");
    let e = error_of(&s);
    assert_eq!(e.kind, ErrorKind::Protocol);
    assert!(
        e.message
            .contains("the server answered status 999, which is not a valid HTTP status"),
        "{e}"
    );
    let w = websocket::probe(&conn, &ws(TIMEOUT)).await;
    assert!(w.handshake.response.is_none());
    assert_eq!(error_of(&w.handshake).kind, ErrorKind::Protocol);
}

#[tokio::test]
async fn a_status_999_leaves_the_report_valid() {
    let addr = raw_peer(WEIRD).await;
    let yaml = format!(
        r#"
host: {HOST}
defaults: {{ timeout: 2s }}
targets:
  ingress: {{ connect: "{addr}" }}
  gateway: {{ connect: "{addr}" }}
checks:
  - name: weird
    http: {{ path: / }}
"#
    );
    // `check` validates the report against the schema.
    let r = check(&plan(&yaml, &[])).await;
    let d = serde_json::to_value(result(&r, "weird", "gateway")).expect("serializes");
    assert!(d.to_string().contains("status 999"), "{d}");
}

// ---------------------------------------------------------------- TLS

struct Pki {
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
    ca_der: CertificateDer<'static>,
    ca_key: PrivateKeyDer<'static>,
}

fn pki() -> Pki {
    static SERIAL: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec![HOST.to_owned()]).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Each CA its own subject, so an untrusted one is an unknown issuer.
    let n = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("hostile test CA {n}"));
    let cert = params.self_signed(&key).expect("CA");
    let ca_key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Pki {
        ca_pem: cert.pem(),
        ca_der: cert.der().clone(),
        issuer: Issuer::new(params, key),
        ca_key,
    }
}

fn leaf(
    pki: &Pki,
    names: &[&str],
    expired: bool,
) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let key = KeyPair::generate().expect("key");
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("params");
    if expired {
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    }
    let cert = params.signed_by(&key, &pki.issuer).expect("leaf");
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (vec![cert.der().clone(), pki.ca_der.clone()], der)
}

/// A TLS peer presenting `chain`, answering `200 OK` to whoever gets through.
async fn tls_peer(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: &[&[u8]],
) -> SocketAddr {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server config");
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(s).await {
                    let mut buf = [0u8; 4096];
                    let _ = tls.read(&mut buf).await;
                    let _ = tls
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                        .await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    addr
}

fn pinned(pem: &str) -> Tls {
    Tls {
        ca: None,
        ca_pem: Some(pem.as_bytes().to_vec()),
        insecure: false,
    }
}

/// The TLS error through reqwest (checks) and through tokio-rustls
/// (WebSocket, the load engine's path); both must be the same sentence.
async fn tls_failure(addr: SocketAddr, tls: Tls) -> ProbeError {
    let conn = connector(addr, Scheme::Https, tls, TIMEOUT).await;
    let s = probe(&conn, &get(TIMEOUT)).await;
    let e = error_of(&s).clone();
    assert_eq!(e.kind, ErrorKind::Tls, "{e}");
    assert_sentence(&e);
    let w = websocket::probe(&conn, &ws(TIMEOUT)).await;
    let we = error_of(&w.handshake);
    assert_eq!(we.kind, ErrorKind::Tls, "{we}");
    assert_eq!(we.message, e.message, "reqwest and tokio-rustls disagree");
    e
}

#[tokio::test]
async fn an_unknown_issuer_says_to_give_tls_ca_or_insecure() {
    let ours = pki();
    let (chain, key) = leaf(&ours, &[HOST], false);
    let addr = tls_peer(chain, key, &[b"http/1.1"]).await;
    let e = tls_failure(addr, pinned(&pki().ca_pem)).await;
    assert!(e.message.contains("unknown issuer"), "{e}");
    assert!(
        e.message.contains("tls: { ca:") && e.message.contains("insecure"),
        "{e}"
    );
}

#[tokio::test]
async fn an_expired_certificate_says_when() {
    let ours = pki();
    let (chain, key) = leaf(&ours, &[HOST], true);
    let addr = tls_peer(chain, key, &[b"http/1.1"]).await;
    let e = tls_failure(addr, pinned(&ours.ca_pem)).await;
    assert!(e.message.contains("expired on 2001-01-01"), "{e}");
}

#[tokio::test]
async fn a_certificate_for_other_names_lists_them() {
    let ours = pki();
    let (chain, key) = leaf(
        &ours,
        &["other.example.test", "*.other.example.test"],
        false,
    );
    let addr = tls_peer(chain, key, &[b"http/1.1"]).await;
    let e = tls_failure(addr, pinned(&ours.ca_pem)).await;
    assert!(
        e.message
            .contains(&format!("does not cover the production host `{HOST}`")),
        "{e}"
    );
    assert!(
        e.message
            .contains("other.example.test, *.other.example.test"),
        "{e}"
    );
}

#[tokio::test]
async fn a_ca_certificate_as_the_server_certificate_is_named() {
    let ours = pki();
    let addr = tls_peer(
        vec![ours.ca_der.clone()],
        ours.ca_key.clone_key(),
        &[b"http/1.1"],
    )
    .await;
    let e = tls_failure(addr, pinned(&ours.ca_pem)).await;
    assert!(
        e.message
            .contains("the server presented a CA certificate as its own certificate"),
        "{e}"
    );
    assert!(e.message.contains("insecure"), "{e}");
}

#[tokio::test]
async fn a_handshake_alert_is_named_in_words() {
    let ours = pki();
    let (chain, key) = leaf(&ours, &[HOST], false);
    // The server speaks only h2; cutover offers http/1.1: no_application_protocol.
    let addr = tls_peer(chain, key, &[b"h2"]).await;
    let e = tls_failure(addr, pinned(&ours.ca_pem)).await;
    assert!(e.message.contains("alert `no application protocol`"), "{e}");
}

#[tokio::test]
async fn the_tls_peer_works_when_trusted() {
    let ours = pki();
    let (chain, key) = leaf(&ours, &[HOST], false);
    let addr = tls_peer(chain, key, &[b"http/1.1"]).await;
    let conn = connector(addr, Scheme::Https, pinned(&ours.ca_pem), TIMEOUT).await;
    let s = probe(&conn, &get(TIMEOUT)).await;
    assert_eq!(s.status(), Some(200), "{s:#?}");
}
