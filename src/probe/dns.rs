//! The DNS probe: ask the authoritative servers directly, many times, no cache.
//!
//! Weighted records (Route 53 `set-identifier` + weight, as external-dns
//! writes them) answer each query with one record set picked by weight, so the
//! split is only visible by querying the zone's own nameservers many times
//! (resolvers cache, keep-alive clients never re-resolve). Queries go out at a
//! gentle fixed rate (50/s unless the scenario says otherwise), spread over
//! the nameservers, over UDP; a truncated answer is retried over TCP. Every
//! outcome is classified (an answer, NXDOMAIN, SERVFAIL, REFUSED, a timeout, an
//! I/O error), never a panic. Messages are built and parsed with hickory-proto.
//!
//! Only an answer to *this* query counts: a response with our id whose
//! question is another name or type, or whose answer records are owned by a
//! name that is neither the asked name nor on its CNAME chain, is a
//! `protocol` error. Datagrams that are not a response to the query (garbage,
//! another id, a message that does not parse) do not end the wait; when only
//! such datagrams arrived by the timeout, the query is `protocol` (saying how
//! many arrived), not `timeout`. Messages that list records cap the list with
//! [`summarise`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

pub use super::error::summarise;
use super::error::{from_connect_error, from_error, ErrorKind, ProbeError};

/// How many addresses or names a message lists at most.
pub const RECORDS_SHOWN: usize = 5;

/// A fully resolved DNS check.
#[derive(Clone, Debug)]
pub struct DnsSpec {
    pub name: String,
    /// Authoritative servers: `ip`, `ip:port` or `name[:port]` (port 53 by default).
    pub nameservers: Vec<String>,
    pub record: RecordType,
    pub samples: u32,
    /// Queries per second, across all nameservers.
    pub rate: f64,
    /// Queries in flight at most.
    pub concurrency: usize,
    pub timeout: Duration,
    /// During `run`: sample again at this interval, for the split over time.
    pub every: Duration,
}

/// What one query got.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// Addresses (the record set), the CNAME chain followed, and the lowest TTL.
    Records {
        addrs: Vec<IpAddr>,
        cnames: Vec<String>,
        ttl: u32,
        /// Retried over TCP after a truncated UDP answer.
        tcp: bool,
    },
    /// NOERROR without an address of the asked type.
    NoData,
    NxDomain,
    ServFail,
    Refused,
    /// Another response code.
    Rcode(String),
    Failed(ProbeError),
}

impl Answer {
    /// The outcome's class, for counting.
    pub fn class(&self) -> String {
        match self {
            Answer::Records { .. } => "answer".into(),
            Answer::NoData => "nodata".into(),
            Answer::NxDomain => "nxdomain".into(),
            Answer::ServFail => "servfail".into(),
            Answer::Refused => "refused".into(),
            Answer::Rcode(r) => r.to_ascii_lowercase(),
            Answer::Failed(e) => e.kind.as_str().into(),
        }
    }
}

/// One query and its answer.
#[derive(Clone, Debug)]
pub struct Sampled {
    pub nameserver: SocketAddr,
    pub answer: Answer,
    pub latency: Duration,
}

/// Every query of one DNS check.
#[derive(Clone, Debug)]
pub struct DnsResult {
    pub queries: Vec<Sampled>,
    pub elapsed: Duration,
    /// A sample standing for the whole check (no response; an error when no query got an answer).
    pub summary: super::Sample,
}

impl DnsResult {
    fn new(name: &str, queries: Vec<Sampled>, elapsed: Duration) -> DnsResult {
        let answered = queries
            .iter()
            .any(|q| matches!(q.answer, Answer::Records { .. }));
        let error = if answered {
            None
        } else {
            queries.first().map(|q| match &q.answer {
                Answer::Failed(e) => e.clone(),
                other => ProbeError::new(
                    ErrorKind::Dns,
                    format!("no answer for `{name}`: {}", other.class()),
                ),
            })
        };
        let summary = super::Sample {
            url: format!("dns://{name}").into(),
            response: None,
            error,
            latency: elapsed,
            ttfb: None,
        };
        DnsResult {
            queries,
            elapsed,
            summary,
        }
    }
}

/// `ip`, `ip:port`, `[v6]:port`, `name` or `name:port` → addresses.
pub async fn resolve_nameserver(ns: &str) -> Result<Vec<SocketAddr>, ProbeError> {
    if let Ok(sa) = ns.parse::<SocketAddr>() {
        return Ok(vec![sa]);
    }
    if let Ok(ip) = ns.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, 53)]);
    }
    let (host, port) = match ns.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>().map_err(|_| {
                ProbeError::new(ErrorKind::Dns, format!("bad nameserver port in `{ns}`"))
            })?,
        ),
        None => (ns, 53),
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| {
            ProbeError::new(
                ErrorKind::Dns,
                format!("cannot resolve nameserver `{host}`: {e}"),
            )
        })?
        .collect();
    if addrs.is_empty() {
        return Err(ProbeError::new(
            ErrorKind::Dns,
            format!("nameserver `{host}` resolved to no address"),
        ));
    }
    Ok(addrs)
}

/// Sends `spec.samples` queries at `spec.rate`, spread over the nameservers.
pub async fn sample(spec: &DnsSpec) -> DnsResult {
    let start = Instant::now();
    let mut servers: Vec<SocketAddr> = Vec::new();
    let mut unresolved = Vec::new();
    for ns in &spec.nameservers {
        match resolve_nameserver(ns).await {
            Ok(a) => servers.extend(a.into_iter().take(1)),
            Err(e) => unresolved.push(e),
        }
    }
    if servers.is_empty() {
        let e = unresolved
            .into_iter()
            .next()
            .unwrap_or_else(|| ProbeError::new(ErrorKind::Dns, "no nameserver given"));
        let queries = vec![Sampled {
            nameserver: SocketAddr::from(([0, 0, 0, 0], 53)),
            answer: Answer::Failed(e),
            latency: Duration::ZERO,
        }];
        return DnsResult::new(&spec.name, queries, start.elapsed());
    }
    let name = match Name::from_ascii(&spec.name) {
        Ok(mut n) => {
            n.set_fqdn(true);
            n
        }
        Err(e) => {
            let err = ProbeError::new(
                ErrorKind::Protocol,
                format!("`{}` is not a DNS name: {e}", spec.name),
            );
            let queries = servers
                .iter()
                .map(|ns| Sampled {
                    nameserver: *ns,
                    answer: Answer::Failed(err.clone()),
                    latency: Duration::ZERO,
                })
                .collect();
            return DnsResult::new(&spec.name, queries, start.elapsed());
        }
    };
    let permits = Arc::new(tokio::sync::Semaphore::new(spec.concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    let gap = Duration::from_secs_f64(1.0 / spec.rate.max(0.001));
    for i in 0..spec.samples {
        tokio::time::sleep_until(start + gap.mul_f64(f64::from(i))).await;
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            break;
        };
        let ns = servers[i as usize % servers.len()];
        let (name, record, timeout) = (name.clone(), spec.record, spec.timeout);
        set.spawn(async move {
            let t0 = Instant::now();
            let answer = query(ns, &name, record, timeout).await;
            drop(permit);
            (
                i,
                Sampled {
                    nameserver: ns,
                    answer,
                    latency: t0.elapsed(),
                },
            )
        });
    }
    let mut queries: Vec<(u32, Sampled)> = Vec::new();
    while let Some(done) = set.join_next().await {
        if let Ok(q) = done {
            queries.push(q);
        }
    }
    queries.sort_by_key(|(i, _)| *i);
    let queries = queries.into_iter().map(|(_, q)| q).collect();
    DnsResult::new(&spec.name, queries, start.elapsed())
}

/// One query over UDP (TCP after truncation), classified.
pub async fn query(ns: SocketAddr, name: &Name, record: RecordType, timeout: Duration) -> Answer {
    let mut msg = Message::query();
    msg.metadata.recursion_desired = false;
    msg.add_query(Query::query(name.clone(), record));
    let id = msg.metadata.id;
    let bytes = match msg.to_vec() {
        Ok(b) => b,
        Err(e) => {
            return Answer::Failed(ProbeError::new(
                ErrorKind::Protocol,
                format!("cannot encode the query: {e}"),
            ))
        }
    };
    let deadline = Instant::now() + timeout;
    let mut strays = Strays::default();
    let exchange = udp_exchange(ns, &bytes, id, &mut strays);
    let udp = match tokio::time::timeout_at(deadline, exchange).await {
        Err(_) => return Answer::Failed(strays.into_error(ns, timeout)),
        Ok(Err(e)) => return Answer::Failed(e),
        Ok(Ok(m)) => m,
    };
    if let Err(e) = for_this_query(&udp, name, record, ns) {
        return Answer::Failed(e);
    }
    if !udp.metadata.truncation {
        return classify(&udp, record, false);
    }
    match tokio::time::timeout_at(deadline, tcp_exchange(ns, &bytes, id)).await {
        Err(_) => Answer::Failed(ProbeError::new(
            ErrorKind::Timeout,
            format!("no TCP answer from {ns} after a truncated UDP answer"),
        )),
        Ok(Err(e)) => Answer::Failed(e),
        Ok(Ok(m)) => match for_this_query(&m, name, record, ns) {
            Ok(()) => classify(&m, record, true),
            Err(e) => Answer::Failed(e),
        },
    }
}

/// Datagrams that arrived but were no response to the query.
#[derive(Debug, Default)]
struct Strays {
    count: u32,
    /// Why the last one was not a response, as a phrase.
    last: &'static str,
}

impl Strays {
    /// The error when the wait ended without a response: `timeout`, or
    /// `protocol` when only strays arrived.
    fn into_error(self, ns: SocketAddr, timeout: Duration) -> ProbeError {
        let within = humantime::format_duration(timeout);
        match self.count {
            0 => ProbeError::new(ErrorKind::Timeout, format!("no answer from {ns} within {within}")),
            n => ProbeError::new(
                ErrorKind::Protocol,
                format!(
                    "{n} {} arrived from {ns} within {within} but none was a DNS answer to this query (the last {}): check that this address is an authoritative DNS server",
                    if n == 1 { "datagram" } else { "datagrams" },
                    self.last
                ),
            ),
        }
    }
}

/// Checks that a response answers this query: same question, and answer
/// records owned by the name asked or a name on its CNAME chain.
fn for_this_query(
    m: &Message,
    name: &Name,
    record: RecordType,
    ns: SocketAddr,
) -> Result<(), ProbeError> {
    let asked = format!("`{}` {record}", name.to_ascii());
    let mismatch = |what: String| {
        Err(ProbeError::new(
            ErrorKind::Protocol,
            format!("{ns} answered {what} where {asked} was asked: the server is misconfigured, or something on the path rewrites DNS"),
        ))
    };
    match m.queries.as_slice() {
        [q] if q.name().eq_ignore_root(name) && q.query_type() == record => {}
        [q] => {
            return mismatch(format!(
                "a question for `{}` {}",
                q.name().to_ascii(),
                q.query_type()
            ))
        }
        [] => return mismatch("with no question".to_owned()),
        qs => return mismatch(format!("{} questions", qs.len())),
    }
    // The names the answer may speak of: the name asked and its CNAME chain.
    let mut chain = vec![name.clone()];
    loop {
        let before = chain.len();
        for r in &m.answers {
            if let RData::CNAME(c) = &r.data {
                let owned = chain.iter().any(|n| n.eq_ignore_root(&r.name));
                if owned && !chain.iter().any(|n| n.eq_ignore_root(&c.0)) {
                    chain.push(c.0.clone());
                }
            }
        }
        if chain.len() == before {
            break;
        }
    }
    let foreign: Vec<String> = m
        .answers
        .iter()
        .filter(|r| !chain.iter().any(|n| n.eq_ignore_root(&r.name)))
        .map(|r| format!("`{}`", r.name.to_ascii()))
        .collect();
    if foreign.is_empty() {
        Ok(())
    } else {
        mismatch(format!(
            "{} records for other names ({})",
            foreign.len(),
            summarise(&foreign, RECORDS_SHOWN)
        ))
    }
}

async fn udp_exchange(
    ns: SocketAddr,
    bytes: &[u8],
    id: u16,
    strays: &mut Strays,
) -> Result<Message, ProbeError> {
    let bind: SocketAddr = if ns.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let sock = tokio::net::UdpSocket::bind(bind)
        .await
        .map_err(|e| from_error(&e))?;
    sock.connect(ns).await.map_err(|e| from_error(&e))?;
    sock.send(bytes).await.map_err(|e| from_error(&e))?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = sock.recv(&mut buf).await.map_err(|e| from_error(&e))?;
        // Stray or spoofed datagrams do not end the wait, but are counted.
        strays.last = match Message::from_vec(&buf[..n]) {
            Ok(m) if m.metadata.id != id => "had another query id",
            Ok(m) if m.metadata.message_type != MessageType::Response => {
                "was a query, not a response"
            }
            Ok(m) => return Ok(m),
            Err(_) => "did not parse as a DNS message",
        };
        strays.count += 1;
    }
}

async fn tcp_exchange(ns: SocketAddr, bytes: &[u8], id: u16) -> Result<Message, ProbeError> {
    let mut tcp = tokio::net::TcpStream::connect(ns)
        .await
        .map_err(|e| from_connect_error(ns, &e))?;
    let len = u16::try_from(bytes.len())
        .map_err(|_| ProbeError::new(ErrorKind::Protocol, "query too long"))?;
    let mut framed = Vec::with_capacity(bytes.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(bytes);
    tcp.write_all(&framed).await.map_err(|e| from_error(&e))?;
    let mut len = [0u8; 2];
    tcp.read_exact(&mut len).await.map_err(|e| from_error(&e))?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    tcp.read_exact(&mut buf).await.map_err(|e| from_error(&e))?;
    let m = Message::from_vec(&buf).map_err(|e| {
        ProbeError::new(
            ErrorKind::Protocol,
            format!("{ns} sent a TCP answer that is not a DNS message ({e}): check that this address is an authoritative DNS server"),
        )
    })?;
    if m.metadata.id != id {
        return Err(ProbeError::new(
            ErrorKind::Protocol,
            format!("{ns} sent a TCP answer with another query id"),
        ));
    }
    Ok(m)
}

fn classify(m: &Message, record: RecordType, tcp: bool) -> Answer {
    match m.metadata.response_code {
        ResponseCode::NoError => {}
        ResponseCode::NXDomain => return Answer::NxDomain,
        ResponseCode::ServFail => return Answer::ServFail,
        ResponseCode::Refused => return Answer::Refused,
        other => return Answer::Rcode(other.to_string()),
    }
    let mut addrs = Vec::new();
    let mut cnames = Vec::new();
    let mut ttl = u32::MAX;
    for r in &m.answers {
        match &r.data {
            RData::A(a) if record == RecordType::A => {
                addrs.push(IpAddr::V4(a.0));
                ttl = ttl.min(r.ttl);
            }
            RData::AAAA(a) if record == RecordType::AAAA => {
                addrs.push(IpAddr::V6(a.0));
                ttl = ttl.min(r.ttl);
            }
            RData::CNAME(c) => cnames.push(c.0.to_string().trim_end_matches('.').to_owned()),
            _ => {}
        }
    }
    if addrs.is_empty() && cnames.is_empty() {
        return Answer::NoData;
    }
    if addrs.is_empty() {
        // Only a CNAME (to a load balancer's name in another zone): the name is the answer.
        ttl = m.answers.iter().map(|r| r.ttl).min().unwrap_or(0);
    }
    addrs.sort();
    Answer::Records {
        addrs,
        cnames,
        ttl,
        tcp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::A;

    /// Regression guard: a 4,000-record answer made a 55 KB failure line.
    #[test]
    fn a_huge_answer_for_other_names_makes_a_short_message() {
        let asked = Name::from_ascii("shop.example.test.").expect("name");
        let mut m = Message::query();
        m.add_query(Query::query(asked.clone(), RecordType::A));
        for i in 0..4000u32 {
            let owner = Name::from_ascii(format!("host{i}.evil.test.")).expect("name");
            m.add_answer(hickory_proto::rr::Record::from_rdata(
                owner,
                60,
                RData::A(A::new(192, 0, 2, 1)),
            ));
        }
        let ns = SocketAddr::from(([127, 0, 0, 1], 53));
        let e = for_this_query(&m, &asked, RecordType::A, ns).expect_err("foreign records");
        assert_eq!(e.kind, ErrorKind::Protocol);
        assert!(e.message.len() < 600, "{} bytes", e.message.len());
        assert!(
            e.message.contains("4000 in all, the first 5"),
            "{}",
            e.message
        );
    }
}
