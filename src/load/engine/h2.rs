//! HTTP/2 under load (`load.http_version: h2` or `h2c`): the per-target pool
//! of multiplexed connections and the request hot path.
//!
//! Each worker has one [`H2Pool`] per target, on its own thread like the
//! HTTP/1 pool, so the hot path takes no lock: hyper's `client::conn::http2`
//! connections, each driven by a local task (hyper's executor here is
//! `spawn_local`), requests multiplexed on them as streams.
//!
//! Invariants:
//!
//! - A request first takes one of the pool's `connections × max_streams`
//!   stream permits (`connections` is this worker's share of the target's);
//!   waiting for one counts as latency and against the request's timeout,
//!   as waiting for an HTTP/1 connection does. It then takes a stream on the
//!   oldest live connection with fewer than `max_streams` in use, else opens
//!   a new one: connections fill before another opens, and a worker never
//!   has more than its `connections` live (were each full, every permit
//!   would be taken).
//! - A connection being opened is shared: requests that pick it wait for its
//!   handshake. When the handshake fails, the request that ran it fails with
//!   the error and the connection is forgotten; each request still waiting
//!   on it tries to open it itself, and fails or succeeds on its own.
//! - https offers ALPN `h2` alone ([`Connector::tls_config_h2`]): a server
//!   that does not choose it fails the connection as `protocol`, with a
//!   sentence saying so, never a silent fall back to HTTP/1.1. `h2c` speaks
//!   HTTP/2 with prior knowledge; a plain-http server that answers something
//!   else is `protocol` too.
//! - A connection that went away (a GOAWAY from the server, closed, broken)
//!   is never picked again and stops counting against `connections`; its
//!   streams in flight finish or fail on their own. A request hyper hands
//!   back unsent (its connection closed before sending it) goes again on
//!   another connection within the same deadline; one the connection had
//!   sent and then lost (past a GOAWAY's last stream, reset) is a failed
//!   request of its kind (`probe::error` words HTTP/2's errors), never sent
//!   twice and never dropped silently.
//! - `connection: fresh` opens a connection per request, carrying that one
//!   stream, closed after it.
//! - One timer bounds the whole request: the wait for a stream, connect,
//!   send and body. The response is read by [`finish`], as over HTTP/1.
//!
//! [`Connector::tls_config_h2`]: crate::target::Connector::tls_config_h2

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::sync::{OnceCell, Semaphore};
use tokio::time::Instant;

use super::dial::{dial, Dialed};
use super::worker_plan::{HttpRequest, TargetCtx};
use crate::probe::http::{finish, from_error, BodyMode};
use crate::probe::{ErrorKind, ProbeError, Sample};
use crate::scenario::plan::ConnectionPolicy;
use crate::target::Scheme;

/// One HTTP/2 connection's request sender (streams multiplex on it).
type Sender = SendRequest<Full<Bytes>>;

/// How many connections one request tries when each hands it back unsent.
const SEND_ATTEMPTS: usize = 4;

/// One target's HTTP/2 connections on one worker.
pub(super) struct H2Pool {
    /// Live connections (open or opening), the oldest first.
    conns: RefCell<Vec<Rc<Conn>>>,
    /// One per stream the worker may have in flight to the target.
    streams: Semaphore,
    /// The most streams in flight on one connection.
    max_streams: u32,
    /// `connection: fresh`: a connection per request, never pooled.
    fresh: bool,
}

/// One connection: opening until its sender is set.
#[derive(Default)]
struct Conn {
    sender: OnceCell<RefCell<Sender>>,
    /// Streams taken on it (requests sending, reading, or waiting for its handshake).
    in_use: Cell<u32>,
    /// Went away or failed: no longer in the pool.
    gone: Cell<bool>,
}

/// A stream taken on a connection; given back when dropped (a response read,
/// a failure, a timeout).
struct Stream(Rc<Conn>);

impl Drop for Stream {
    fn drop(&mut self) {
        self.0.in_use.set(self.0.in_use.get().saturating_sub(1));
    }
}

impl H2Pool {
    /// An empty pool allowing `connections` connections of `max_streams`
    /// streams each (one stream each under `connection: fresh`).
    pub(super) fn new(connections: u64, max_streams: u64, policy: ConnectionPolicy) -> H2Pool {
        let fresh = policy == ConnectionPolicy::Fresh;
        let per_connection = if fresh { 1 } else { max_streams.max(1) };
        let permits = connections.max(1).saturating_mul(per_connection);
        H2Pool {
            conns: RefCell::new(Vec::new()),
            streams: Semaphore::new(
                usize::try_from(permits)
                    .unwrap_or(usize::MAX)
                    .min(Semaphore::MAX_PERMITS),
            ),
            max_streams: u32::try_from(per_connection).unwrap_or(u32::MAX),
            fresh,
        }
    }

    /// Sends `request` through `ctx` on a stream of a pooled or new
    /// connection. One timer bounds the whole request.
    pub(super) async fn fire(&self, ctx: &TargetCtx, request: &HttpRequest) -> Sample {
        self.fire_with(ctx, request, request.body).await
    }

    /// [`H2Pool::fire`], reading the body as `mode` says (sampled parity keeps it).
    pub(super) async fn fire_with(
        &self,
        ctx: &TargetCtx,
        request: &HttpRequest,
        mode: BodyMode,
    ) -> Sample {
        super::dial::bounded(&self.streams, request, |start, deadline| {
            self.exchange(ctx, request, start, deadline, mode)
        })
        .await
    }

    async fn exchange(
        &self,
        ctx: &TargetCtx,
        request: &HttpRequest,
        start: Instant,
        deadline: Instant,
        mode: BodyMode,
    ) -> Sample {
        let url = Arc::clone(&request.url);
        let spec = &request.spec;
        let mut req = http::Request::new(Full::new(spec.body.clone().unwrap_or_default()));
        *req.method_mut() = spec.method.clone();
        *req.uri_mut() = request.uri.clone();
        *req.version_mut() = http::Version::HTTP_2;
        *req.headers_mut() = request.headers.clone();
        for _ in 0..SEND_ATTEMPTS {
            let stream = match self.stream(ctx, deadline, spec.timeout).await {
                Ok(s) => s,
                Err(e) => return Sample::failed(url, e, start.elapsed()),
            };
            let Some(sender) = stream.0.sender.get() else {
                // `stream` returns only connections whose handshake is done.
                let e = ProbeError::new(ErrorKind::Other, "the HTTP/2 connection was not open");
                return Sample::failed(url, e, start.elapsed());
            };
            let sent = sender.borrow_mut().try_send_request(req);
            match sent.await {
                Ok(resp) => {
                    let t = &ctx.target;
                    return finish(
                        url,
                        resp,
                        start,
                        deadline,
                        spec.timeout,
                        mode,
                        t.proxy,
                        t.role,
                    )
                    .await;
                }
                Err(mut e) => match e.take_message() {
                    // Never sent: the connection closed first. Try another.
                    Some(unsent) => {
                        self.retire(&stream.0);
                        req = unsent;
                    }
                    None => {
                        if went_away(e.error()) || sender.borrow().is_closed() {
                            self.retire(&stream.0);
                        }
                        return Sample::failed(url, failure(ctx, e.error()), start.elapsed());
                    }
                },
            }
        }
        let e = ProbeError::new(
            ErrorKind::Reset,
            format!("{SEND_ATTEMPTS} HTTP/2 connections in a row closed before this request could be sent on them: the server keeps closing its connections"),
        );
        Sample::failed(url, e, start.elapsed())
    }

    /// A stream on an open connection: a pooled one with room, or a new one.
    async fn stream(
        &self,
        ctx: &TargetCtx,
        deadline: Instant,
        timeout: std::time::Duration,
    ) -> Result<Stream, ProbeError> {
        // Ends: each turn that goes round retires a pooled connection, and a
        // connection just opened is not closed yet (its task has not run).
        loop {
            let stream = self.pick();
            let opened = stream
                .0
                .sender
                .get_or_try_init(|| async {
                    connect(ctx, deadline, timeout).await.map(RefCell::new)
                })
                .await;
            match opened {
                Err(e) => {
                    self.retire(&stream.0);
                    return Err(e);
                }
                Ok(sender) if sender.borrow().is_closed() => self.retire(&stream.0),
                Ok(_) => return Ok(stream),
            }
        }
    }

    /// Takes a stream on the oldest live connection with room, else on a
    /// new connection (added to the pool, opened by whoever awaits it first).
    fn pick(&self) -> Stream {
        let conn = if self.fresh {
            Rc::new(Conn::default())
        } else {
            let mut conns = self.conns.borrow_mut();
            match conns.iter().find(|c| c.in_use.get() < self.max_streams) {
                Some(c) => Rc::clone(c),
                None => {
                    let c = Rc::new(Conn::default());
                    conns.push(Rc::clone(&c));
                    c
                }
            }
        };
        conn.in_use.set(conn.in_use.get() + 1);
        Stream(conn)
    }

    /// Forgets a connection that went away or did not open: it is never
    /// picked again, and its streams in flight end on their own.
    fn retire(&self, conn: &Rc<Conn>) {
        if !conn.gone.replace(true) && !self.fresh {
            self.conns.borrow_mut().retain(|c| !Rc::ptr_eq(c, conn));
        }
    }
}

/// Whether a request's error means its connection is gone (a GOAWAY, the
/// connection closed or broke), rather than only its stream.
fn went_away(e: &hyper::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<h2::Error>() {
            return h.is_go_away() || h.is_io();
        }
        cur = err.source();
    }
    e.is_closed() || e.is_canceled()
}

/// A request's error; over h2c, broken HTTP/2 says what h2c needs.
fn failure(ctx: &TargetCtx, e: &hyper::Error) -> ProbeError {
    let mut p = from_error(e);
    if p.kind == ErrorKind::Protocol && ctx.target.scheme == Scheme::Http {
        p.message.push_str(
            "; `http_version: h2c` needs a server that speaks HTTP/2 with prior knowledge on this plain-http port (nginx: `http2 on;` on the listener): load it with `http_version: h1` otherwise",
        );
    }
    p
}

/// Opens a new connection to `ctx`'s target and speaks HTTP/2 on it: over
/// TLS only once the server chose `h2` in ALPN, on plain http with prior
/// knowledge.
async fn connect(
    ctx: &TargetCtx,
    deadline: Instant,
    timeout: std::time::Duration,
) -> Result<Sender, ProbeError> {
    match dial(ctx, deadline, timeout, tls_failure).await? {
        Dialed::Tls(stream) => {
            let chosen = stream.get_ref().1.alpn_protocol();
            if chosen != Some(b"h2".as_slice()) {
                return Err(not_h2(match chosen {
                    Some(p) => format!("chose `{}`", String::from_utf8_lossy(p)),
                    None => "chose no protocol".to_owned(),
                }));
            }
            handshake(TokioIo::new(*stream)).await
        }
        Dialed::Plain(tcp) => handshake(TokioIo::new(tcp)).await,
    }
}

/// A failed TLS handshake: a server that refuses ALPN `h2` (the
/// `no_application_protocol` alert) did not negotiate HTTP/2 (`protocol`);
/// anything else is `tls`, worded as for every TLS failure.
fn tls_failure(e: &std::io::Error) -> ProbeError {
    let refused_h2 = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|tls| {
            matches!(
                tls,
                rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol)
            )
        });
    if refused_h2 {
        return not_h2("refused `h2` (TLS alert no_application_protocol)".to_owned());
    }
    let mut p = from_error(e);
    p.kind = ErrorKind::Tls;
    p
}

/// The error for a TLS listener that did not choose `h2` in ALPN.
fn not_h2(what_it_did: String) -> ProbeError {
    ProbeError::new(
        ErrorKind::Protocol,
        format!("the target did not negotiate HTTP/2: its TLS listener {what_it_did} in ALPN, where `load.http_version: h2` offers `h2` alone; enable HTTP/2 on the listener (nginx: `http2 on;`), or load this target with `http_version: h1`"),
    )
}

/// HTTP/2 over `io`; the connection runs on its own local task until closed.
async fn handshake<T>(io: T) -> Result<Sender, ProbeError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
{
    let (sender, connection) = hyper::client::conn::http2::Builder::new(LocalExec)
        .handshake(io)
        .await
        .map_err(|e| from_error(&e))?;
    tokio::task::spawn_local(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// hyper's executor for HTTP/2's background tasks: the worker's `LocalSet`.
#[derive(Clone, Copy)]
struct LocalExec;

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}

#[cfg(test)]
mod tests {
    //! The pool against real loopback servers: the lab's TLS listener
    //! without `h2` in ALPN, and small hyper HTTP/2 servers that send GOAWAY
    //! (a graceful shutdown, as on a config reload) or drop their connection
    //! with requests in flight.
    use std::convert::Infallible;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    use http_body_util::Full;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioExecutor;

    use super::super::worker_plan::{CheckKind, WorkerPlan};
    use super::super::Options;
    use super::*;
    use crate::load::schedule::Shape;

    /// Worker 0's plan of one worker for a one-target, one-check scenario.
    async fn worker_plan(target: &str, load: &str) -> Arc<WorkerPlan> {
        let yaml = format!(
            "host: shop.example.test\ntargets:\n  ingress: {{ {target} }}\nchecks:\n  - name: a\n    http: {{ path: /a, timeout: 5s }}\nload: {{ stages: [{{ rate: 1/s, for: 1s }}], {load} }}\n"
        );
        let plan = crate::scenario::load_str(&yaml, std::path::Path::new("t.yaml"), &|_| None)
            .expect("valid");
        let load = plan.load.clone().expect("load section");
        let connectors = crate::run::checks::connectors(&plan).await;
        let shape = Shape::new(&load.stages, 1.0, None);
        let options = Options {
            workers: 1,
            ..Options::default()
        };
        Arc::new(WorkerPlan::new(
            &plan,
            &load,
            &connectors,
            &shape,
            &options,
            1,
            0,
        ))
    }

    /// Sends `n` requests through one pool, `at_once` at a time, in a `LocalSet`.
    async fn fire(wp: Arc<WorkerPlan>, n: usize, at_once: usize) -> Vec<Sample> {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async move {
                let ctx = &wp.targets[0];
                let pool = Rc::new(H2Pool::new(ctx.connections, ctx.max_streams, ctx.policy));
                let mut samples = Vec::new();
                for batch in (0..n).collect::<Vec<_>>().chunks(at_once) {
                    let mut tasks = Vec::new();
                    for _ in batch {
                        let (wp, pool) = (Arc::clone(&wp), Rc::clone(&pool));
                        tasks.push(tokio::task::spawn_local(async move {
                            let ctx = &wp.targets[0];
                            let CheckKind::Http(request) = &ctx.checks[0].kind else {
                                panic!("an HTTP check");
                            };
                            pool.fire(ctx, request).await
                        }));
                    }
                    for t in tasks {
                        samples.push(t.await.expect("request task"));
                    }
                }
                samples
            })
            .await
    }

    /// What an HTTP/2 test server saw.
    #[derive(Default)]
    struct Seen {
        connections: AtomicU64,
        received: AtomicU64,
        answered: AtomicU64,
    }

    /// An h2c server that, on each connection, answers after `delay` and,
    /// once it has received `per_connection` requests, either shuts the
    /// connection down gracefully (GOAWAY, then the streams in flight
    /// finish) or drops it at once (`abrupt`).
    async fn server(
        per_connection: u64,
        delay: std::time::Duration,
        abrupt: bool,
    ) -> (SocketAddr, Arc<Seen>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Seen::default());
        let s = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                s.connections.fetch_add(1, Relaxed);
                let s = Arc::clone(&s);
                tokio::spawn(async move {
                    let on_conn = Arc::new(AtomicU64::new(0));
                    let full = Arc::new(tokio::sync::Notify::new());
                    let svc = {
                        let (s, full) = (Arc::clone(&s), Arc::clone(&full));
                        service_fn(move |_req| {
                            let (s, full, on_conn) =
                                (Arc::clone(&s), Arc::clone(&full), Arc::clone(&on_conn));
                            async move {
                                s.received.fetch_add(1, Relaxed);
                                if on_conn.fetch_add(1, Relaxed) + 1 == per_connection {
                                    full.notify_one();
                                }
                                tokio::time::sleep(delay).await;
                                s.answered.fetch_add(1, Relaxed);
                                Ok::<_, Infallible>(http::Response::new(Full::new(
                                    Bytes::from_static(b"ok"),
                                )))
                            }
                        })
                    };
                    let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), svc);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => return,
                        () = full.notified() => {}
                    }
                    if abrupt {
                        return; // drops the connection and its streams
                    }
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                });
            }
        });
        (addr, seen)
    }

    #[tokio::test]
    async fn a_tls_listener_that_does_not_choose_h2_is_a_protocol_error_saying_so() {
        let lab = crate::lab::Lab::start(crate::lab::LabConfig::new("shop.example.test"))
            .await
            .expect("lab");
        lab.switches.ingress_no_h2.store(true, Relaxed);
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, &lab.ca_pem).expect("CA");
        let wp = worker_plan(
            &format!(
                "connect: \"{}\", scheme: https, tls: {{ ca: \"{}\" }}",
                lab.ingress_https,
                ca.display()
            ),
            "http_version: h2",
        )
        .await;
        let samples = fire(wp, 3, 3).await;
        for s in &samples {
            let e = s.error.as_ref().expect("an error, not an answer");
            assert_eq!(e.kind, ErrorKind::Protocol, "{e}");
            assert!(
                e.message.starts_with(
                    "the target did not negotiate HTTP/2: its TLS listener refused `h2`"
                ),
                "{e}"
            );
        }
        assert_eq!(lab.counters.requests.load(Relaxed), 0);
    }

    #[tokio::test]
    async fn goaway_on_a_reload_loses_no_request_and_the_pool_reconnects() {
        // Each connection takes 10 requests, then says GOAWAY and finishes them.
        let (addr, seen) = server(10, std::time::Duration::from_millis(5), false).await;
        let wp = worker_plan(
            &format!("connect: \"{addr}\""),
            "http_version: h2c, connections: 2, max_streams: 4",
        )
        .await;
        let samples = fire(wp, 100, 8).await;
        let ok = samples
            .iter()
            .filter(|s| s.response.as_ref().is_some_and(|r| r.status == 200))
            .count() as u64;
        let errors: Vec<String> = samples
            .iter()
            .filter_map(|s| s.error.as_ref().map(ToString::to_string))
            .collect();
        assert_eq!(ok, 100, "every request answered: {errors:?}");
        assert_eq!(seen.answered.load(Relaxed), 100);
        assert_eq!(seen.received.load(Relaxed), 100, "none sent twice");
        // A connection serves its 10th request and the ones sent before the
        // GOAWAY reached the client: 100 need several.
        let connections = seen.connections.load(Relaxed);
        assert!(
            (2..=10).contains(&connections),
            "a new connection after each GOAWAY: {connections}"
        );
    }

    #[tokio::test]
    async fn requests_lost_with_their_connection_are_counted_as_resets_and_the_next_reconnects() {
        // Each connection is dropped once it has received 4 requests, which
        // are still being answered: those 4 are lost, and said so.
        let (addr, seen) = server(4, std::time::Duration::from_millis(200), true).await;
        let wp = worker_plan(
            &format!("connect: \"{addr}\""),
            "http_version: h2c, connections: 1, max_streams: 4",
        )
        .await;
        let samples = fire(wp, 12, 4).await;
        for s in &samples {
            let e = s.error.as_ref().expect("every request lost");
            assert_eq!(e.kind, ErrorKind::Reset, "{e}");
        }
        assert_eq!(seen.received.load(Relaxed), 12);
        assert_eq!(seen.answered.load(Relaxed), 0);
        assert_eq!(
            seen.connections.load(Relaxed),
            3,
            "one connection per batch"
        );
    }
}
