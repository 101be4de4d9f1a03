//! The load engine: one engine for every load shape.
//!
//! `workers` OS threads each run a current-thread tokio runtime with its own
//! connections and its own [`WorkerRecorder`], so the hot path takes no lock
//! and crosses no thread. Every loaded target gets, on every worker, a driver
//! that walks the [`Shape`]'s phases: in an open phase it dispatches this
//! worker's share of the arrivals (`i ≡ worker mod workers`) at their intended
//! times, in a closed phase it runs this worker's share of the clients. Both
//! send through the same [`fire`], which runs the same response reader as
//! `check` ([`probe::http::finish`]) over hyper's connection API.
//!
//! Latency is measured from the intended time (coordinated-omission
//! corrected); service time from the actual send. When a target's
//! `max_in_flight` is reached, an arrival is counted as dropped in its
//! second, never sent late and never backfilled. On stop, no new request
//! starts; in-flight ones get `grace` to finish, then are cancelled
//! uncounted.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::pacing::Pacer;
pub use super::pacing::Pacing;
use super::schedule::{Phase, Shape};
use crate::probe::http::{finish, from_error, timeout_error, BodyMode, HttpSpec};
use crate::probe::websocket::WsSpec;
use crate::probe::{ErrorKind, ProbeError, Sample};
use crate::record::{Aggregator, Finished, Flush, WorkerRecorder};
use crate::scenario::plan::{ConnectionPolicy, LoadPlan, Plan, ProbeSpec};
use crate::target::{Connector, Scheme, Target};

/// Run-time options from the command line.
#[derive(Clone, Debug)]
pub struct Options {
    pub rate_scale: f64,
    pub duration: Option<Duration>,
    pub workers: usize,
    pub pacing: Pacing,
    /// How long in-flight requests may finish after a stop.
    pub grace: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            rate_scale: 1.0,
            duration: None,
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            pacing: Pacing::Precise,
            grace: Duration::from_secs(5),
        }
    }
}

/// What a load run recorded.
pub struct Outcome {
    pub shape: Shape,
    pub started: SystemTime,
    pub elapsed: Duration,
    pub interrupted: bool,
    /// Loaded targets (indices into `Plan::targets`).
    pub targets: Vec<usize>,
    /// `key = target * checks + check`.
    pub checks: usize,
    pub aggregator: Aggregator,
}

impl Outcome {
    pub fn key(&self, target: usize, check: usize) -> usize {
        target * self.checks + check
    }
}

/// One check as the engine sends it through one target.
struct CheckCtx {
    key: usize,
    kind: CheckKind,
}

enum CheckKind {
    /// Sent by the engine over hyper's connection API (the hot path).
    Http {
        spec: HttpSpec,
        url: Arc<str>,
        uri: http::Uri,
        headers: http::HeaderMap,
    },
    /// WebSocket and CORS checks: the check's own probe, once per arrival.
    Probe(ProbeSpec),
}

/// One loaded target as a worker sees it.
struct TargetCtx {
    target: Arc<Target>,
    addr: Option<SocketAddr>,
    resolve_error: Option<ProbeError>,
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
    checks: Vec<CheckCtx>,
    /// Cumulative mix weights over `checks`.
    cumulative: Vec<f64>,
    policy: ConnectionPolicy,
    /// This worker's share of `max_in_flight`.
    cap: u64,
    /// This worker's share of the connections (at least its share of any closed stage's clients).
    connections: u64,
    /// `key = key_base + check index in the plan`.
    key_base: usize,
}

/// Everything a worker needs, shared read-only.
struct WorkerPlan {
    shape: Shape,
    targets: Vec<TargetCtx>,
    /// Per check of the plan: its WebSocket spec, for socket stages.
    ws_specs: Vec<Option<WsSpec>>,
    /// Hosts the checks send (for the per-worker connectors).
    extra_hosts: Vec<String>,
    connect_timeout: Duration,
    workers: usize,
    pacing: Pacing,
    grace: Duration,
}

/// Drives the plan's load against its targets until done or until `stop` turns true.
/// `on_second` sees every finished second (for progress).
pub async fn run(
    plan: &Plan,
    load: &LoadPlan,
    connectors: &[Connector],
    options: &Options,
    mut stop: watch::Receiver<bool>,
    mut on_second: impl FnMut(&Finished, &Aggregator),
) -> Outcome {
    let workers = options.workers.max(1);
    let shape = Shape::new(&load.stages, options.rate_scale, options.duration);
    let checks = plan.checks.len();
    let keys = plan.targets.len() * checks;
    let plans: Vec<Arc<WorkerPlan>> = (0..workers)
        .map(|w| {
            Arc::new(worker_plan(
                plan, load, connectors, &shape, options, workers, w,
            ))
        })
        .collect();
    let (tx, mut rx) = mpsc::unbounded_channel::<Flush>();
    let started = SystemTime::now();
    // Workers start their clocks together, a little ahead, so none starts late.
    let start = Instant::now() + Duration::from_millis(20);
    let mut handles = Vec::new();
    for (w, wp) in plans.into_iter().enumerate() {
        let tx = tx.clone();
        let stop = stop.clone();
        let std_start = start.into_std();
        handles.push(
            std::thread::Builder::new()
                .name(format!("cutover-load-{w}"))
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    let Ok(rt) = rt else { return };
                    let local = tokio::task::LocalSet::new();
                    let start = Instant::from_std(std_start);
                    local.block_on(&rt, async move {
                        let sender = Rc::new(NetworkSender::new(Arc::clone(&wp)).await);
                        worker_main(w, wp, keys, start, tx, stop, sender).await
                    });
                }),
        );
    }
    drop(tx);
    let mut aggregator = Aggregator::new(workers, keys);
    // Workers watch `stop` themselves; the channel closes when the last one is done.
    while let Some(flush) = rx.recv().await {
        for done in aggregator.add(flush) {
            on_second(&done, &aggregator);
        }
    }
    for done in aggregator.drain() {
        on_second(&done, &aggregator);
    }
    for h in handles.into_iter().flatten() {
        let _ = tokio::task::spawn_blocking(move || h.join()).await;
    }
    let interrupted = *stop.borrow_and_update();
    Outcome {
        shape,
        started,
        elapsed: start.elapsed(),
        interrupted,
        targets: load.targets.clone(),
        checks,
        aggregator,
    }
}

fn worker_plan(
    plan: &Plan,
    load: &LoadPlan,
    connectors: &[Connector],
    shape: &Shape,
    options: &Options,
    workers: usize,
    worker: usize,
) -> WorkerPlan {
    let n_checks = plan.checks.len();
    let targets = load
        .targets
        .iter()
        .map(|&ti| {
            let conn = &connectors[ti];
            let target = Arc::clone(&conn.target);
            let (addr, resolve_error) = match conn.addrs() {
                Ok(a) => (a.first().copied(), None),
                Err(e) => (None, Some(e.clone())),
            };
            let mut checks = Vec::new();
            let mut cumulative = Vec::new();
            let mut sum = 0.0;
            for &(ci, weight) in &load.mix {
                let check = &plan.checks[ci];
                if weight <= 0.0 || !check.targets.contains(&ti) {
                    continue;
                }
                if matches!(check.probe, ProbeSpec::Dns(_)) {
                    // DNS checks sample the zone once per run; they are not load.
                    continue;
                }
                let ProbeSpec::Http(spec) = &check.probe else {
                    sum += weight;
                    cumulative.push(sum);
                    checks.push(CheckCtx {
                        key: ti * n_checks + ci,
                        kind: CheckKind::Probe(check.probe.clone()),
                    });
                    continue;
                };
                let host = spec.host.as_deref().unwrap_or(&target.host);
                let mut headers = http::HeaderMap::new();
                for (n, v) in target.headers.iter().chain(spec.headers.iter()) {
                    if let (Ok(n), Ok(v)) = (
                        http::HeaderName::from_bytes(n.as_bytes()),
                        http::HeaderValue::from_str(v),
                    ) {
                        headers.append(n, v);
                    }
                }
                if let Ok(h) = http::HeaderValue::from_str(host) {
                    headers.insert(http::header::HOST, h);
                }
                headers
                    .entry(http::header::USER_AGENT)
                    .or_insert(http::HeaderValue::from_static(concat!(
                        "cutover/",
                        env!("CARGO_PKG_VERSION")
                    )));
                let uri = spec
                    .path_and_query
                    .parse()
                    .unwrap_or_else(|_| http::Uri::from_static("/"));
                sum += weight;
                cumulative.push(sum);
                checks.push(CheckCtx {
                    key: ti * n_checks + ci,
                    kind: CheckKind::Http {
                        spec: spec.clone(),
                        url: target.url(host, &spec.path_and_query).into(),
                        uri,
                        headers,
                    },
                });
            }
            let tls = match target.scheme {
                Scheme::Https => conn.tls_config().ok().and_then(|cfg| {
                    let name = rustls::pki_types::ServerName::try_from(target.host.clone()).ok()?;
                    Some((tokio_rustls::TlsConnector::from(cfg), name))
                }),
                Scheme::Http => None,
            };
            let share_of =
                |n: u64| n / workers as u64 + u64::from((worker as u64) < n % workers as u64);
            let share = share_of(load.max_in_flight);
            let clients = shape
                .phases
                .iter()
                .map(|p| match *p {
                    Phase::Closed { concurrency, .. } => share_of(concurrency),
                    Phase::Open { .. } | Phase::Sockets { .. } => 0,
                })
                .max()
                .unwrap_or(0);
            let connections = share_of(load.connections).max(clients).max(1);
            TargetCtx {
                target,
                addr,
                resolve_error,
                tls,
                checks,
                cumulative,
                policy: load.connection,
                cap: share.max(1),
                connections,
                key_base: ti * n_checks,
            }
        })
        .collect();
    let mut extra_hosts: Vec<String> = plan
        .checks
        .iter()
        .filter_map(|c| c.probe.host().map(str::to_owned))
        .collect();
    extra_hosts.sort();
    extra_hosts.dedup();
    let ws_specs = plan
        .checks
        .iter()
        .map(|c| match &c.probe {
            ProbeSpec::WebSocket(w) => Some(w.clone()),
            _ => None,
        })
        .collect();
    WorkerPlan {
        shape: shape.clone(),
        targets,
        ws_specs,
        extra_hosts,
        connect_timeout: plan.timeout,
        workers,
        pacing: options.pacing,
        grace: options.grace,
    }
}

type Recorder = Rc<RefCell<WorkerRecorder>>;
type Pool = Rc<RefCell<Vec<SendRequest<Full<Bytes>>>>>;

async fn worker_main<S: RequestSender>(
    worker: usize,
    wp: Arc<WorkerPlan>,
    keys: usize,
    start: Instant,
    tx: mpsc::UnboundedSender<Flush>,
    stop: watch::Receiver<bool>,
    sender: Rc<S>,
) {
    let rec: Recorder = Rc::new(RefCell::new(WorkerRecorder::new(worker, keys, tx)));
    // Seconds pass even when nothing completes: the ticker hands them on.
    let ticker = {
        let rec = Rc::clone(&rec);
        tokio::task::spawn_local(async move {
            let mut second = 1;
            loop {
                tokio::time::sleep_until(start + Duration::from_secs(second)).await;
                rec.borrow_mut().advance(second);
                second += 1;
            }
        })
    };
    let mut drivers = Vec::new();
    for t in 0..wp.targets.len() {
        let (wp, rec, stop, sender) = (
            Arc::clone(&wp),
            Rc::clone(&rec),
            stop.clone(),
            Rc::clone(&sender),
        );
        drivers.push(tokio::task::spawn_local(async move {
            drive(worker, &wp, t, start, &rec, stop, sender).await
        }));
    }
    for d in drivers {
        let _ = d.await;
    }
    ticker.abort();
    let mut rec = rec.borrow_mut();
    rec.advance(start.elapsed().as_secs());
    rec.finish();
}

/// Runs every phase of the shape for one target on one worker.
async fn drive<S: RequestSender>(
    worker: usize,
    wp: &Arc<WorkerPlan>,
    t: usize,
    start: Instant,
    rec: &Recorder,
    mut stop: watch::Receiver<bool>,
    sender: Rc<S>,
) {
    let ctx = &wp.targets[t];
    let sockets_only = wp
        .shape
        .phases
        .iter()
        .all(|p| matches!(p, Phase::Sockets { .. }));
    if ctx.checks.is_empty() && !sockets_only {
        return;
    }
    let in_flight = Rc::new(Cell::new(0u64));
    let pacer = Pacer::new(wp.pacing);
    let mut rng = XorShift::new(0x9E37_79B9_7F4A_7C15 ^ ((worker as u64 + 1) << 32) ^ t as u64);
    let mut arrivals = wp
        .shape
        .arrivals(worker as u64, wp.workers as u64)
        .peekable();
    let stopped = |stop: &watch::Receiver<bool>| *stop.borrow();
    'phases: for phase in &wp.shape.phases {
        if stopped(&stop) {
            break;
        }
        match *phase {
            Phase::Open { end, .. } => {
                while let Some(a) = arrivals.next_if(|a| a.at < end) {
                    let due = start + a.at;
                    tokio::select! {
                        () = pacer.until(due) => {}
                        _ = stop.changed() => break 'phases,
                    }
                    if stopped(&stop) {
                        break 'phases;
                    }
                    let c = pick(&ctx.cumulative, &mut rng);
                    let key = ctx.checks[c].key;
                    let second = (due - start).as_secs();
                    if in_flight.get() >= ctx.cap {
                        rec.borrow_mut().dropped(key, second);
                        continue;
                    }
                    in_flight.set(in_flight.get() + 1);
                    let (rec, in_flight) = (Rc::clone(rec), Rc::clone(&in_flight));
                    let request = sender.send(t, c);
                    tokio::task::spawn_local(async move {
                        let sample = request.await;
                        let done = Instant::now();
                        let service = sample.latency;
                        rec.borrow_mut().record(
                            key,
                            (done - start).as_secs(),
                            &sample,
                            done - due,
                            service,
                        );
                        in_flight.set(in_flight.get() - 1);
                    });
                }
            }
            Phase::Closed {
                end, concurrency, ..
            } => {
                let share = concurrency / wp.workers as u64
                    + u64::from((worker as u64) < concurrency % wp.workers as u64);
                let end = start + end;
                let mut clients = Vec::new();
                for client in 0..share {
                    let (wp, rec, stop, sender) = (
                        Arc::clone(wp),
                        Rc::clone(rec),
                        stop.clone(),
                        Rc::clone(&sender),
                    );
                    clients.push(tokio::task::spawn_local(async move {
                        let ctx = &wp.targets[t];
                        let mut rng =
                            XorShift::new(0xD1B5_4A32_D192_ED03 ^ client ^ ((worker as u64) << 40));
                        while Instant::now() < end && !*stop.borrow() {
                            let c = pick(&ctx.cumulative, &mut rng);
                            let sample = sender.send(t, c).await;
                            let done = Instant::now();
                            rec.borrow_mut().record(
                                ctx.checks[c].key,
                                (done - start).as_secs(),
                                &sample,
                                sample.latency,
                                sample.latency,
                            );
                        }
                    }));
                }
                let all = async {
                    for c in clients {
                        let _ = c.await;
                    }
                };
                tokio::pin!(all);
                tokio::select! {
                    () = &mut all => {}
                    _ = stop.changed() => {
                        // Clients finish the request they are in, within the grace period.
                        let _ = tokio::time::timeout(wp.grace, &mut all).await;
                        break 'phases;
                    }
                }
            }
            Phase::Sockets {
                start: from,
                end,
                sockets,
                ramp,
                interval,
                check,
            } => {
                let (from, end) = (start + from, start + end);
                let mut held = Vec::new();
                let mut j = worker as u64;
                while j < sockets {
                    let open_at = from + ramp.mul_f64(j as f64 / sockets as f64);
                    let socket = Socket {
                        t,
                        check,
                        key: ctx.key_base + check,
                        open_at,
                        until: end,
                        interval,
                        run_start: start,
                    };
                    let (rec, stop, sender) = (Rc::clone(rec), stop.clone(), Rc::clone(&sender));
                    held.push(tokio::task::spawn_local(async move {
                        sender.socket(socket, rec, stop).await
                    }));
                    j += wp.workers as u64;
                }
                let all = async {
                    for h in held {
                        let _ = h.await;
                    }
                };
                tokio::pin!(all);
                tokio::select! {
                    () = &mut all => {}
                    _ = stop.changed() => {
                        let _ = tokio::time::timeout(wp.grace, &mut all).await;
                        break 'phases;
                    }
                }
            }
        }
    }
    // Let in-flight requests finish, up to the grace period after a stop.
    let grace_end = if stopped(&stop) {
        Instant::now() + wp.grace
    } else {
        Instant::now() + Duration::from_secs(3600)
    };
    while in_flight.get() > 0 && Instant::now() < grace_end {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn pick(cumulative: &[f64], rng: &mut XorShift) -> usize {
    let total = cumulative.last().copied().unwrap_or(1.0);
    let x = rng.unit() * total;
    cumulative
        .iter()
        .position(|&c| x < c)
        .unwrap_or(cumulative.len() - 1)
}

/// A small deterministic generator for the check mix (xorshift64*).
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        XorShift(seed.max(1))
    }

    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// How a worker sends one request of check `c` to target `t`. The engine
/// has one implementation, [`NetworkSender`]; tests drive the schedule with a
/// synthetic one under paused time.
pub(crate) trait RequestSender: 'static {
    fn send(&self, t: usize, c: usize) -> impl std::future::Future<Output = Sample> + 'static;

    /// Holds one WebSocket of a socket stage until `socket.until`.
    fn socket(
        &self,
        _socket: Socket,
        _rec: Recorder,
        _stop: watch::Receiver<bool>,
    ) -> impl std::future::Future<Output = ()> + 'static {
        async {}
    }
}

/// One held WebSocket of a socket stage.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Socket {
    t: usize,
    check: usize,
    key: usize,
    open_at: Instant,
    until: Instant,
    interval: Duration,
    run_start: Instant,
}

/// Real requests over hyper's HTTP/1 connection API, pooled per target, at
/// most `connections` at a time per target (a request waits for a free one).
struct NetworkSender {
    wp: Arc<WorkerPlan>,
    pools: Vec<Pool>,
    permits: Vec<Rc<tokio::sync::Semaphore>>,
    /// This worker's own connectors (clients bound to this thread's runtime),
    /// for the checks that run their probe.
    connectors: Vec<Connector>,
}

impl NetworkSender {
    async fn new(wp: Arc<WorkerPlan>) -> Self {
        let mut connectors = Vec::new();
        for t in &wp.targets {
            connectors.push(
                Arc::clone(&t.target)
                    .connector(&wp.extra_hosts, wp.connect_timeout)
                    .await,
            );
        }
        let pools = wp
            .targets
            .iter()
            .map(|_| Rc::new(RefCell::new(Vec::new())))
            .collect();
        let permits = wp
            .targets
            .iter()
            .map(|t| Rc::new(tokio::sync::Semaphore::new(t.connections as usize)))
            .collect();
        NetworkSender {
            wp,
            pools,
            permits,
            connectors,
        }
    }
}

impl RequestSender for NetworkSender {
    fn socket(
        &self,
        socket: Socket,
        rec: Recorder,
        stop: watch::Receiver<bool>,
    ) -> impl std::future::Future<Output = ()> + 'static {
        let conn = self.connectors[socket.t].clone();
        let spec = self.wp.ws_specs.get(socket.check).cloned().flatten();
        async move {
            if let Some(spec) = spec {
                hold_socket(&conn, &spec, socket, &rec, stop).await;
            }
        }
    }

    fn send(&self, t: usize, c: usize) -> impl std::future::Future<Output = Sample> + 'static {
        let (wp, pool, permits) = (
            Arc::clone(&self.wp),
            Rc::clone(&self.pools[t]),
            Rc::clone(&self.permits[t]),
        );
        let conn = match &wp.targets[t].checks[c].kind {
            CheckKind::Http { .. } => None,
            CheckKind::Probe(_) => Some(self.connectors[t].clone()),
        };
        async move {
            let ctx = &wp.targets[t];
            let check = &ctx.checks[c];
            match (&check.kind, conn) {
                (CheckKind::Probe(spec), Some(conn)) => probe_sample(&conn, spec).await,
                _ => fire(ctx, check, &pool, &permits).await,
            }
        }
    }
}

/// Sends one request of `check` through `ctx`, on a pooled or new connection.
/// One timer bounds the whole request (connect, send, body).
async fn fire(
    ctx: &TargetCtx,
    check: &CheckCtx,
    pool: &Pool,
    permits: &tokio::sync::Semaphore,
) -> Sample {
    let CheckKind::Http { spec, url, .. } = &check.kind else {
        let e = ProbeError::new(ErrorKind::Other, "not an HTTP check");
        return Sample::failed("".into(), e, Duration::ZERO);
    };
    let start = Instant::now();
    let deadline = start + spec.timeout;
    let url = Arc::clone(url);
    let exchange = async {
        // Waiting for a free connection is part of the latency (and of the timeout).
        let _permit = permits.acquire().await;
        exchange(ctx, check, pool, start, deadline).await
    };
    match tokio::time::timeout_at(deadline, exchange).await {
        Ok(sample) => sample,
        Err(_) => Sample::failed(url, timeout_error(spec.timeout), start.elapsed()),
    }
}

async fn exchange(
    ctx: &TargetCtx,
    check: &CheckCtx,
    pool: &Pool,
    start: Instant,
    deadline: Instant,
) -> Sample {
    let CheckKind::Http {
        spec,
        url,
        uri,
        headers,
    } = &check.kind
    else {
        let e = ProbeError::new(ErrorKind::Other, "not an HTTP check");
        return Sample::failed("".into(), e, Duration::ZERO);
    };
    let url = Arc::clone(url);
    let mut sender = loop {
        let idle = pool.borrow_mut().pop();
        match idle {
            Some(mut s) => {
                if s.ready().await.is_ok() {
                    break s;
                }
            }
            None => match connect(ctx).await {
                Ok(s) => break s,
                Err(e) => return Sample::failed(url, e, start.elapsed()),
            },
        }
    };
    let mut req = http::Request::new(Full::new(spec.body.clone().unwrap_or_default()));
    *req.method_mut() = spec.method.clone();
    *req.uri_mut() = uri.clone();
    *req.headers_mut() = headers.clone();
    let resp = match sender.send_request(req).await {
        Err(e) => return Sample::failed(url, from_error(&e), start.elapsed()),
        Ok(r) => r,
    };
    let t = &ctx.target;
    let sample = finish(
        url,
        resp,
        start,
        deadline,
        spec.timeout,
        BodyMode::Count,
        t.proxy,
        t.role,
    )
    .await;
    if ctx.policy == ConnectionPolicy::KeepAlive && sample.error.is_none() && !sender.is_closed() {
        pool.borrow_mut().push(sender);
    }
    sample
}

/// A socket of a socket stage: upgrade at its time, then one message every
/// `interval` until the stage ends, each reply's round trip recorded. A tick
/// that comes while a reply is still awaited is a dropped message; a socket
/// the server closes or drops early is a failure.
async fn hold_socket(
    conn: &Connector,
    spec: &WsSpec,
    s: Socket,
    rec: &Recorder,
    mut stop: watch::Receiver<bool>,
) {
    use crate::probe::websocket::{check_reply, next_data, upgrade, WsMessage};
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let second = |at: Instant| (at - s.run_start).as_secs();
    tokio::select! {
        () = tokio::time::sleep_until(s.open_at) => {}
        _ = stop.changed() => return,
    }
    if *stop.borrow() || Instant::now() >= s.until {
        return;
    }
    let t0 = Instant::now();
    let mut ws = match upgrade(conn, spec).await {
        Ok(u) => {
            let now = Instant::now();
            rec.borrow_mut()
                .record(s.key, second(now), &u.handshake, now - s.open_at, now - t0);
            u.ws
        }
        Err(sample) => {
            let now = Instant::now();
            rec.borrow_mut()
                .record(s.key, second(now), &sample, now - s.open_at, now - t0);
            return;
        }
    };
    let message = spec
        .send
        .first()
        .cloned()
        .unwrap_or_else(|| WsMessage::Text("ping".into()));
    let failed = |rec: &Recorder| {
        let now = Instant::now();
        rec.borrow_mut().at(s.key, second(now)).messages().failures += 1;
    };
    let mut next = Instant::now() + s.interval;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next.min(s.until)) => {}
            frame = ws.next() => match frame {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    failed(rec);
                    return;
                }
                Some(Ok(_)) => continue,
            },
            _ = stop.changed() => break,
        }
        if Instant::now() >= s.until || *stop.borrow() {
            break;
        }
        let sent = Instant::now();
        if ws.send(message.to_message()).await.is_err() {
            failed(rec);
            return;
        }
        match next_data(&mut ws, spec.timeout).await {
            Ok(reply) => {
                let now = Instant::now();
                let mut r = rec.borrow_mut();
                let m = r.at(s.key, second(now)).messages();
                m.rtt.saturating_record(crate::record::micros(now - sent));
                m.replies += 1;
                if check_reply(&spec.reply, &message, &reply).is_some() {
                    m.failures += 1;
                }
            }
            Err(_) => {
                failed(rec);
                return;
            }
        }
        next += s.interval;
        let now = Instant::now();
        while next <= now {
            next += s.interval;
            rec.borrow_mut().at(s.key, second(now)).messages().dropped += 1;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
}

/// A WebSocket or CORS check under load: its own probe, summarised as one
/// sample (the handshake or preflight, with the whole exchange's duration,
/// and a failed message or leak as its error).
async fn probe_sample(conn: &Connector, spec: &ProbeSpec) -> Sample {
    let start = Instant::now();
    let (mut sample, failure) = match spec {
        ProbeSpec::WebSocket(w) => {
            let r = crate::probe::websocket::probe(conn, w).await;
            let failure = r
                .exchanges
                .iter()
                .find_map(|x| x.failure.clone())
                .or_else(|| match &r.ended {
                    Some((_, end))
                        if w.hold.is_some() && *end != crate::probe::websocket::End::Held =>
                    {
                        Some(crate::probe::websocket::describe_end(end))
                    }
                    _ => None,
                });
            (r.handshake, failure)
        }
        ProbeSpec::Cors(c) => (crate::probe::cors::probe(conn, c).await.preflight, None),
        ProbeSpec::Http(h) => (crate::probe::http::probe(conn, h).await, None),
        ProbeSpec::Dns(_) => {
            let e = ProbeError::new(ErrorKind::Other, "DNS checks are sampled, not loaded");
            (Sample::failed("".into(), e, Duration::ZERO), None)
        }
    };
    if let (None, Some(f)) = (&sample.error, failure) {
        sample.error = Some(ProbeError::new(ErrorKind::Protocol, f));
    }
    sample.latency = start.elapsed();
    sample
}

async fn connect(ctx: &TargetCtx) -> Result<SendRequest<Full<Bytes>>, ProbeError> {
    if let Some(e) = &ctx.resolve_error {
        return Err(e.clone());
    }
    let addr = ctx
        .addr
        .ok_or_else(|| ProbeError::new(ErrorKind::Dns, "the target resolved to no address"))?;
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| from_error(&e))?;
    let _ = tcp.set_nodelay(true);
    match (&ctx.target.scheme, &ctx.tls) {
        (Scheme::Https, Some((tls, name))) => {
            let stream = tls.connect(name.clone(), tcp).await.map_err(|e| {
                let mut p = from_error(&e);
                p.kind = ErrorKind::Tls;
                p
            })?;
            handshake(TokioIo::new(stream)).await
        }
        (Scheme::Https, None) => Err(ProbeError::new(
            ErrorKind::Tls,
            "could not set up TLS for this target",
        )),
        (Scheme::Http, _) => handshake(TokioIo::new(tcp)).await,
    }
}

async fn handshake<T>(io: T) -> Result<SendRequest<Full<Bytes>>, ProbeError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| from_error(&e))?;
    tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    //! The engine's schedule, drops and closed loop under paused time, with a
    //! synthetic sender (a fixed service time, no network): what is asserted is
    //! exact, because the virtual clock moves only when every task waits.
    use super::*;
    use crate::probe::{Origin, Response};

    struct SyntheticSender(Duration);

    impl RequestSender for SyntheticSender {
        fn send(
            &self,
            _t: usize,
            _c: usize,
        ) -> impl std::future::Future<Output = Sample> + 'static {
            let service = self.0;
            async move {
                let start = Instant::now();
                tokio::time::sleep(service).await;
                Sample {
                    url: "http://shop.example.test/".into(),
                    response: Some(Response {
                        status: 200,
                        origin: Origin::App,
                        ..Default::default()
                    }),
                    error: None,
                    latency: start.elapsed(),
                    ttfb: None,
                }
            }
        }
    }

    /// Runs the load section `load` with `workers` workers; stops at `stop_at`.
    async fn run(
        load: &str,
        service: Duration,
        workers: usize,
        stop_at: Option<Duration>,
    ) -> Aggregator {
        let yaml = format!(
            "host: shop.example.test\ntargets:\n  ingress: {{ connect: 127.0.0.1:9 }}\nchecks:\n  - name: a\n    http: {{ path: /a }}\n  - name: b\n    http: {{ path: /b }}\n{load}"
        );
        let plan = crate::scenario::load_str(&yaml, std::path::Path::new("t.yaml"), &|_| None)
            .expect("valid");
        let load = plan.load.clone().expect("load section");
        let connectors = crate::session::connectors(&plan).await;
        let shape = Shape::new(&load.stages, 1.0, None);
        let options = Options {
            workers,
            pacing: Pacing::Timer,
            ..Options::default()
        };
        let keys = plan.targets.len() * plan.checks.len();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = watch::channel(false);
        let local = tokio::task::LocalSet::new();
        let start = Instant::now();
        for w in 0..workers {
            let wp = Arc::new(worker_plan(
                &plan,
                &load,
                &connectors,
                &shape,
                &options,
                workers,
                w,
            ));
            local.spawn_local(worker_main(
                w,
                wp,
                keys,
                start,
                tx.clone(),
                stop_rx.clone(),
                Rc::new(SyntheticSender(service)),
            ));
        }
        drop(tx);
        if let Some(at) = stop_at {
            local.spawn_local(async move {
                tokio::time::sleep_until(start + at).await;
                let _ = stop_tx.send(true);
            });
        }
        local.await;
        let mut agg = Aggregator::new(workers, keys);
        while let Some(f) = rx.recv().await {
            agg.add(f);
        }
        agg.drain();
        agg
    }

    fn per_second(agg: &Aggregator) -> Vec<u64> {
        let mut out: Vec<u64> = Vec::new();
        for series in &agg.series {
            for s in series {
                let i = s.second as usize;
                if out.len() <= i {
                    out.resize(i + 1, 0);
                }
                out[i] += s.stats.requests;
            }
        }
        out
    }

    fn total(agg: &Aggregator) -> crate::record::Bucket {
        let mut b = crate::record::Bucket::default();
        for t in &agg.totals {
            b.merge(t);
        }
        b
    }

    #[tokio::test(start_paused = true)]
    async fn requests_start_at_their_intended_times() {
        let agg = run(
            "load: { stages: [{ rate: 100/s, for: 2s }] }",
            Duration::from_millis(5),
            2,
            None,
        )
        .await;
        assert_eq!(per_second(&agg), [100, 100]);
        let t = total(&agg);
        // Every request was sent exactly when intended: latency is the service time.
        assert!(t.latency.equivalent(t.latency.min(), t.latency.max()));
        assert!(
            (5000..=5005).contains(&t.latency.max()),
            "{}",
            t.latency.max()
        );
        assert_eq!(t.dropped, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn ramps_follow_the_integrated_rate() {
        // N(t) = 10t + 5t²: 15 arrivals in the first second, 25 in the second.
        let agg = run(
            "load: { stages: [{ from: 10/s, to: 30/s, for: 2s }] }",
            Duration::from_millis(5),
            2,
            None,
        )
        .await;
        assert_eq!(per_second(&agg), [15, 25]);
    }

    #[tokio::test(start_paused = true)]
    async fn stage_boundaries_switch_rates_exactly() {
        let agg = run(
            "load: { stages: [{ rate: 10/s, for: 1s }, { rate: 20/s, for: 1s }] }",
            Duration::from_millis(5),
            1,
            None,
        )
        .await;
        assert_eq!(per_second(&agg), [10, 20]);
    }

    #[tokio::test(start_paused = true)]
    async fn arrivals_over_the_in_flight_cap_are_dropped_not_delayed() {
        // Every 10 ms an arrival; each takes 45 ms; at most 2 in flight: of every
        // 5 arrivals, 2 are sent and 3 dropped.
        let agg = run(
            "load: { stages: [{ rate: 100/s, for: 1s }], max_in_flight: 2 }",
            Duration::from_millis(45),
            1,
            None,
        )
        .await;
        let t = total(&agg);
        assert_eq!((t.requests, t.dropped), (40, 60));
        // Those sent were sent on time.
        assert!(t.latency.max() <= 45_050, "{}", t.latency.max());
    }

    #[tokio::test(start_paused = true)]
    async fn closed_model_keeps_its_clients_busy() {
        let agg = run(
            "load: { stages: [{ concurrency: 3, for: 1s }] }",
            Duration::from_millis(100),
            2,
            None,
        )
        .await;
        let t = total(&agg);
        assert_eq!(t.requests, 30);
        assert!((100_000..=100_100).contains(&t.latency.value_at_quantile(0.5)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_lets_closed_clients_finish_their_request() {
        // 2 clients, 100 ms each: at 250 ms each is in its third request, which completes.
        let agg = run(
            "load: { stages: [{ concurrency: 2, for: 10s }] }",
            Duration::from_millis(100),
            1,
            Some(Duration::from_millis(250)),
        )
        .await;
        assert_eq!(total(&agg).requests, 6);
    }

    #[tokio::test(start_paused = true)]
    async fn the_mix_follows_its_weights() {
        let agg = run(
            "load: { stages: [{ rate: 400/s, for: 1s }], mix: { a: 3, b: 1 } }",
            Duration::from_millis(1),
            1,
            None,
        )
        .await;
        let (a, b) = (agg.totals[0].requests, agg.totals[1].requests);
        assert_eq!(a + b, 400);
        assert!((270..=330).contains(&a), "a = {a}, b = {b}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_ends_the_schedule_and_counts_every_completed_request() {
        let agg = run(
            "load: { stages: [{ rate: 100/s, for: 10s }] }",
            Duration::from_millis(5),
            2,
            Some(Duration::from_millis(505)),
        )
        .await;
        // Arrivals at 0, 10, …, 500 ms: 51, all completed within the grace period.
        assert_eq!(total(&agg).requests, 51);
    }
}
