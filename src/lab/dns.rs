//! An authoritative weighted DNS responder, like Route 53 weighted records.
//!
//! One UDP and one TCP listener on the same loopback port answer A queries for
//! the lab's host with ONE record set per query, picked with probability
//! weight / total (weight 0 never, unless every weight is 0: then uniformly).
//! Other names get NXDOMAIN. Switches change the weights, add a leaked private
//! address (a ClusterIP that external-dns published), truncate UDP answers (so
//! clients must retry over TCP), answer SERVFAIL or REFUSED, or stay silent.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;

/// The responder's record sets and behaviour, flipped at run time.
#[derive(Debug)]
pub struct DnsSwitches {
    /// `(weight, address)`: one record set each.
    pub records: Mutex<Vec<(u32, IpAddr)>>,
    /// TTL of every answer, in seconds.
    pub ttl: AtomicU32,
    /// UDP answers carry the TC bit and no records.
    pub truncate: AtomicBool,
    /// Answer SERVFAIL.
    pub servfail: AtomicBool,
    /// Answer REFUSED.
    pub refused: AtomicBool,
    /// Answer nothing (clients time out).
    pub silent: AtomicBool,
    /// Record sets answered as a CNAME to a name (a load balancer in another zone).
    pub cnames: Mutex<Vec<(IpAddr, String)>>,
    /// Queries answered.
    pub queries: AtomicU64,
    rng: AtomicU64,
}

impl DnsSwitches {
    pub fn new(records: Vec<(u32, IpAddr)>) -> Self {
        // A fixed seed: the sequence of picks, and so the split over N queries, is
        // the same every run (tests that judge a split must not be flaky).
        let seed = 0x5EED_CAFE_F00D_D00D;
        DnsSwitches {
            records: Mutex::new(records),
            ttl: AtomicU32::new(60),
            truncate: AtomicBool::new(false),
            servfail: AtomicBool::new(false),
            refused: AtomicBool::new(false),
            silent: AtomicBool::new(false),
            cnames: Mutex::new(Vec::new()),
            queries: AtomicU64::new(0),
            rng: AtomicU64::new(seed | 1),
        }
    }

    /// Restarts the pick sequence from another seed.
    pub fn reseed(&self, seed: u64) {
        self.rng.store(seed | 1, Relaxed);
    }

    /// Replaces the record sets.
    pub fn set_records(&self, records: Vec<(u32, IpAddr)>) {
        if let Ok(mut r) = self.records.lock() {
            *r = records;
        }
    }

    fn unit(&self) -> f64 {
        // xorshift64*, shared by both listeners.
        let mut x = self.rng.load(Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.store(x, Relaxed);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick(&self) -> Option<IpAddr> {
        let records = self.records.lock().ok()?.clone();
        let total: u64 = records.iter().map(|(w, _)| u64::from(*w)).sum();
        if records.is_empty() {
            return None;
        }
        if total == 0 {
            let i = (self.unit() * records.len() as f64) as usize;
            return records.get(i.min(records.len() - 1)).map(|(_, a)| *a);
        }
        let mut x = self.unit() * total as f64;
        for (w, a) in &records {
            if x < f64::from(*w) {
                return Some(*a);
            }
            x -= f64::from(*w);
        }
        records.iter().rev().find(|(w, _)| *w > 0).map(|(_, a)| *a)
    }
}

fn answer(query: &Message, host: &Name, switches: &DnsSwitches, udp: bool) -> Option<Message> {
    if switches.silent.load(Relaxed) {
        return None;
    }
    switches.queries.fetch_add(1, Relaxed);
    let mut resp = Message::response(query.metadata.id, query.metadata.op_code);
    resp.metadata.authoritative = true;
    resp.metadata.recursion_desired = query.metadata.recursion_desired;
    let q = query.queries.first()?.clone();
    resp.add_query(q.clone());
    if switches.servfail.load(Relaxed) {
        resp.metadata.response_code = ResponseCode::ServFail;
        return Some(resp);
    }
    if switches.refused.load(Relaxed) {
        resp.metadata.response_code = ResponseCode::Refused;
        return Some(resp);
    }
    if !q.name().eq_case(host) && q.name().to_lowercase() != host.to_lowercase() {
        resp.metadata.response_code = ResponseCode::NXDomain;
        return Some(resp);
    }
    if udp && switches.truncate.load(Relaxed) {
        resp.metadata.truncation = true;
        return Some(resp);
    }
    let ttl = switches.ttl.load(Relaxed);
    if let Some(addr) = switches.pick() {
        let cname = switches
            .cnames
            .lock()
            .ok()
            .and_then(|c| c.iter().find(|(a, _)| *a == addr).map(|(_, n)| n.clone()));
        if let Some(target) = cname.and_then(|n| Name::from_ascii(format!("{n}.")).ok()) {
            resp.add_answer(Record::from_rdata(
                q.name().clone(),
                ttl,
                RData::CNAME(CNAME(target)),
            ));
            return Some(resp);
        }
        let data = match (addr, q.query_type()) {
            (IpAddr::V4(v), RecordType::A) => Some(RData::A(A(v))),
            (IpAddr::V6(v), RecordType::AAAA) => Some(RData::AAAA(AAAA(v))),
            _ => None,
        };
        if let Some(data) = data {
            resp.add_answer(Record::from_rdata(q.name().clone(), ttl, data));
        }
    }
    Some(resp)
}

/// Binds UDP and TCP on 127.0.0.1:`port` (0 = any, the same port for both) and serves until `stop`.
pub async fn start(
    host: &str,
    port: u16,
    switches: Arc<DnsSwitches>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, Vec<tokio::task::JoinHandle<()>>)> {
    let mut name = Name::from_ascii(host).map_err(std::io::Error::other)?;
    name.set_fqdn(true);
    // Find a port free for both protocols.
    let (udp, tcp) = loop {
        let udp = UdpSocket::bind(("127.0.0.1", port)).await?;
        let p = udp.local_addr()?.port();
        match TcpListener::bind(("127.0.0.1", p)).await {
            Ok(tcp) => break (udp, tcp),
            Err(e) if port != 0 => return Err(e),
            Err(_) => continue,
        }
    };
    let addr = udp.local_addr()?;
    let (n1, s1, mut stop1) = (name.clone(), Arc::clone(&switches), stop.clone());
    let udp_task = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            tokio::select! {
                _ = stop1.changed() => break,
                got = udp.recv_from(&mut buf) => {
                    let Ok((n, peer)) = got else { continue };
                    let Ok(q) = Message::from_vec(&buf[..n]) else { continue };
                    if q.metadata.message_type != MessageType::Query {
                        continue;
                    }
                    if let Some(bytes) = answer(&q, &n1, &s1, true).and_then(|r| r.to_vec().ok()) {
                        let _ = udp.send_to(&bytes, peer).await;
                    }
                }
            }
        }
    });
    let (n2, s2, mut stop2) = (name, switches, stop);
    let tcp_task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop2.changed() => break,
                got = tcp.accept() => {
                    let Ok((mut conn, _)) = got else { continue };
                    let (name, switches) = (n2.clone(), Arc::clone(&s2));
                    tokio::spawn(async move {
                        let mut len = [0u8; 2];
                        if conn.read_exact(&mut len).await.is_err() {
                            return;
                        }
                        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
                        if conn.read_exact(&mut buf).await.is_err() {
                            return;
                        }
                        let Ok(q) = Message::from_vec(&buf) else { return };
                        let Some(bytes) = answer(&q, &name, &switches, false).and_then(|r| r.to_vec().ok()) else { return };
                        let Ok(n) = u16::try_from(bytes.len()) else { return };
                        let mut out = n.to_be_bytes().to_vec();
                        out.extend_from_slice(&bytes);
                        let _ = conn.write_all(&out).await;
                    });
                }
            }
        }
    });
    Ok((addr, vec![udp_task, tcp_task]))
}
