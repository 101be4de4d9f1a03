//! The real authoritative DNS peer: Debian's PowerDNS Authoritative
//! (`pdns-server` with `pdns-backend-bind`) on a loopback port, serving a zone
//! of ours. `shop.example.test` is a weighted name, a Lua record that answers
//! each query with one address picked by weight (90 → 192.0.2.10, 10 →
//! 192.0.2.20), like a Route 53 weighted record set; `static.example.test` is
//! a plain A record. cutover's `dns` check samples it directly, as the field
//! notes advise for measuring a split, and tells a right split from a wrong
//! one and a known answer from an unknown one.

use std::fmt::Write as _;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use cutover::report::{Report, Verdict};

use crate::support::{check, plan};

const PDNS_SERVER: &str = "/usr/sbin/pdns_server";

/// Our zone. The Lua record's body is an expression: PowerDNS prepends
/// `return`. `pickwrandom` picks one `{weight, address}` entry per query.
const ZONE: &str = r#"$ORIGIN example.test.
$TTL 60
@       IN SOA  ns1.example.test. hostmaster.example.test. ( 1 3600 600 86400 60 )
@       IN NS   ns1.example.test.
ns1     IN A    127.0.0.1
shop    IN LUA  A "pickwrandom({{90, '192.0.2.10'}, {10, '192.0.2.20'}})"
static  IN A    192.0.2.30
"#;

/// PowerDNS running with a config of ours; killed on drop.
struct PowerDns {
    child: Child,
    /// UDP and TCP, 127.0.0.1.
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for PowerDns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the bind backend's module is installed (`/usr/lib/<triplet>/pdns/`).
fn bind_backend_installed() -> bool {
    std::fs::read_dir("/usr/lib").is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.path().join("pdns/libbindbackend.so").exists())
    })
}

fn powerdns_available() -> bool {
    let missing = if !Path::new(PDNS_SERVER).exists() {
        PDNS_SERVER
    } else if !bind_backend_installed() {
        "PowerDNS's bind backend (libbindbackend.so)"
    } else {
        return true;
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but {missing} is missing: .ci/run installs pdns-server and pdns-backend-bind"
    );
    eprintln!(
        "skipping: {missing} not installed (bash .ci/run installs pdns-server and pdns-backend-bind)"
    );
    false
}

/// `pdns.conf`: authoritative only, from our zone, nothing cached, so every
/// query meets the Lua record.
fn pdns_conf(dir: &Path, port: u16) -> String {
    format!(
        "launch=bind
bind-config={named}
# One Lua state for every query: a fresh state per query (`yes`) answers only
# about 3,500 queries/s on one thread and drops part of a 5,000/s sample.
enable-lua-records=shared
local-address=127.0.0.1
local-port={port}
cache-ttl=0
query-cache-ttl=0
negquery-cache-ttl=0
# No security-status lookup through the system's resolver.
security-poll-suffix=
receiver-threads=1
distributor-threads=1
",
        named = dir.join("named.conf").display(),
    )
}

/// A loopback port free for both UDP and TCP (bound, then released).
fn free_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a UDP port");
        let port = udp.local_addr().expect("UDP local addr").port();
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("no loopback port free for both UDP and TCP");
}

/// Why PowerDNS did not come up.
enum Startup {
    Exited(ExitStatus),
    Silent(String),
}

/// Starts PowerDNS on a free port and waits until it answers a real query
/// for the weighted name. Blocking: call it from `spawn_blocking`.
fn start_powerdns() -> PowerDns {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let zone = d.join("example.test.zone");
    std::fs::write(&zone, ZONE).expect("write the zone file");
    std::fs::write(
        d.join("named.conf"),
        format!(
            "zone \"example.test\" {{ type master; file \"{}\"; }};\n",
            zone.display()
        ),
    )
    .expect("write named.conf");
    let log_path = d.join("pdns.log");
    // Another test may take the port between `free_port` and PowerDNS binding
    // it; PowerDNS then exits with "Unable to bind", and we try another port.
    for _ in 0..5 {
        let port = free_port();
        std::fs::write(d.join("pdns.conf"), pdns_conf(d, port)).expect("write pdns.conf");
        let log = File::create(&log_path).expect("create pdns.log");
        let log_err = log.try_clone().expect("clone the pdns.log handle");
        let mut child = Command::new(PDNS_SERVER)
            .arg(format!("--config-dir={}", d.display()))
            .args([
                "--daemon=no",
                "--guardian=no",
                "--disable-syslog=yes",
                "--write-pid=no",
            ])
            .arg(format!("--socket-dir={}", d.display()))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .expect("pdns_server starts");
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        match wait_until_answering(&mut child, addr) {
            Ok(()) => {
                return PowerDns {
                    child,
                    addr,
                    _dir: dir,
                }
            }
            Err(Startup::Exited(status)) => {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                assert!(
                    log.contains("Unable to bind"),
                    "pdns_server exited ({status}) before answering on {addr}:\n{log}"
                );
            }
            Err(Startup::Silent(last)) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "pdns_server did not answer on {addr} ({last}):\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
        }
    }
    panic!(
        "pdns_server could not bind a free port in 5 tries:\n{}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );
}

/// Polls with real queries for the weighted name until one is answered with
/// an address; bounded.
fn wait_until_answering(child: &mut Child, addr: SocketAddr) -> Result<(), Startup> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Startup::Exited(status));
        }
        let last = match query_a(addr, "shop.example.test", Duration::from_millis(250)) {
            Ok(addrs) if !addrs.is_empty() => return Ok(()),
            Ok(_) => "an answer without an A record".to_string(),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            return Err(Startup::Silent(last));
        }
        // Before PowerDNS binds, a query is refused at once: don't spin.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One A query over UDP: the addresses answered, or why there are none.
fn query_a(server: SocketAddr, name: &str, timeout: Duration) -> Result<Vec<Ipv4Addr>, String> {
    const ID: u16 = 0x5eed;
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&ID.to_be_bytes());
    // Flags 0 (a query, no recursion wanted), one question, no other records.
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        let len = u8::try_from(label.len()).map_err(|_| format!("label too long in {name}"))?;
        q.push(len);
        q.extend_from_slice(label.as_bytes());
    }
    // The root label, QTYPE A, QCLASS IN.
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("bind: {e}"))?;
    sock.set_read_timeout(Some(timeout))
        .map_err(|e| format!("set timeout: {e}"))?;
    sock.connect(server).map_err(|e| format!("connect: {e}"))?;
    sock.send(&q).map_err(|e| format!("send: {e}"))?;
    let mut buf = [0u8; 1500];
    let n = sock.recv(&mut buf).map_err(|e| format!("no answer: {e}"))?;
    parse_a_answers(&buf[..n], ID)
}

/// The A records of a DNS response to query `id`.
fn parse_a_answers(msg: &[u8], id: u16) -> Result<Vec<Ipv4Addr>, String> {
    let byte = |i: usize| {
        msg.get(i)
            .copied()
            .ok_or_else(|| format!("answer truncated at byte {i}"))
    };
    let u16_at =
        |i: usize| -> Result<u16, String> { Ok(u16::from_be_bytes([byte(i)?, byte(i + 1)?])) };
    if u16_at(0)? != id {
        return Err("an answer to another query".to_string());
    }
    let flags = u16_at(2)?;
    if flags & 0x8000 == 0 {
        return Err("a query, not a response".to_string());
    }
    let rcode = flags & 0x000f;
    if rcode != 0 {
        return Err(format!("response code {rcode}"));
    }
    let (qdcount, ancount) = (u16_at(4)?, u16_at(6)?);
    let mut at = 12;
    for _ in 0..qdcount {
        at = skip_name(msg, at)? + 4;
    }
    let mut addrs = Vec::new();
    for _ in 0..ancount {
        at = skip_name(msg, at)?;
        let rtype = u16_at(at)?;
        let rdlen = usize::from(u16_at(at + 8)?);
        at += 10;
        if rtype == 1 && rdlen == 4 {
            addrs.push(Ipv4Addr::new(
                byte(at)?,
                byte(at + 1)?,
                byte(at + 2)?,
                byte(at + 3)?,
            ));
        }
        at += rdlen;
    }
    Ok(addrs)
}

/// The offset just past the (possibly compressed) name at `at`.
fn skip_name(msg: &[u8], mut at: usize) -> Result<usize, String> {
    loop {
        match msg.get(at).copied() {
            None => return Err(format!("name at byte {at} runs past the end")),
            Some(0) => return Ok(at + 1),
            Some(len) if len & 0xc0 == 0xc0 => return Ok(at + 2),
            Some(len) => at += usize::from(len) + 1,
        }
    }
}

/// Every result and finding, for assertion messages.
fn explain(r: &Report) -> String {
    let mut s = String::new();
    for c in &r.checks {
        for x in &c.results {
            let _ = writeln!(
                s,
                "{} [{}]: {:?} failures={:?} error={:?} details={:?}",
                c.name, x.target, x.verdict, x.failures, x.error, x.details
            );
        }
    }
    for f in &r.findings {
        let _ = writeln!(s, "finding {}: {}", f.kind, f.message);
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn powerdns_weighted_split_passes() {
    if !powerdns_available() {
        return;
    }
    let pdns = tokio::task::spawn_blocking(start_powerdns)
        .await
        .expect("join");
    let p = plan(
        r#"
host: shop.example.test
targets:
  ingress: { connect: "127.0.0.1:1", dns_answers: [192.0.2.10] }
  gateway: { connect: "127.0.0.1:2", dns_answers: [192.0.2.20] }
checks:
  - name: weighted dns
    dns: { name: shop.example.test, nameservers: ["${NS}"], samples: 1000, rate: 5000/s }
    expect: { weights: { ingress: 90, gateway: 10 }, significance: 0.000001 }
"#,
        &[("NS", pdns.addr.to_string())],
    );
    // PowerDNS picks at random: a 1e-6 significance keeps this from failing by
    // chance (once in a million runs), while 90/10 against 50/50 still fails
    // at p far below it (the next test).
    let r = check(&p).await;
    assert_eq!(r.checks[0].verdict, Verdict::Pass, "{}", explain(&r));
    assert!(
        r.checks[0]
            .results
            .iter()
            .all(|x| x.verdict == Verdict::Pass),
        "{}",
        explain(&r)
    );
    assert!(
        !r.findings.iter().any(|f| f.kind.as_str() == "dns_weights"),
        "{}",
        explain(&r)
    );
    drop(pdns);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn powerdns_wrong_expectation_fails() {
    if !powerdns_available() {
        return;
    }
    let pdns = tokio::task::spawn_blocking(start_powerdns)
        .await
        .expect("join");
    let p = plan(
        r#"
host: shop.example.test
targets:
  ingress: { connect: "127.0.0.1:1", dns_answers: [192.0.2.10] }
  gateway: { connect: "127.0.0.1:2", dns_answers: [192.0.2.20] }
checks:
  - name: weighted dns
    dns: { name: shop.example.test, nameservers: ["${NS}"], samples: 1000, rate: 5000/s }
    expect: { weights: { ingress: 50, gateway: 50 } }
"#,
        &[("NS", pdns.addr.to_string())],
    );
    let r = check(&p).await;
    assert_eq!(r.checks[0].verdict, Verdict::Fail, "{}", explain(&r));
    assert!(
        r.findings.iter().any(|f| f.kind.as_str() == "dns_weights"),
        "{}",
        explain(&r)
    );
    drop(pdns);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn powerdns_static_name_with_unknown_answer() {
    if !powerdns_available() {
        return;
    }
    let pdns = tokio::task::spawn_blocking(start_powerdns)
        .await
        .expect("join");
    let p = plan(
        r#"
host: shop.example.test
targets:
  ingress: { connect: "127.0.0.1:1", dns_answers: [192.0.2.10] }
  gateway: { connect: "127.0.0.1:2", dns_answers: [192.0.2.20] }
checks:
  - name: static dns
    dns: { name: static.example.test, nameservers: ["${NS}"], samples: 1000, rate: 5000/s }
    expect: { weights: { ingress: 90, gateway: 10 } }
"#,
        &[("NS", pdns.addr.to_string())],
    );
    let r = check(&p).await;
    assert!(
        r.findings
            .iter()
            .any(|f| f.kind.as_str() == "dns_unknown_answer" && f.message.contains("192.0.2.30")),
        "{}",
        explain(&r)
    );
    drop(pdns);
}
