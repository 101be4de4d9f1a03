//! The seam through which a driver sends one request, and the real sender.
//!
//! Drivers know when to send and what to record; a [`RequestSender`] knows
//! how to send. The engine has one implementation, [`NetworkSender`], built
//! per worker on that worker's runtime: HTTP checks go over the worker's
//! [`Pool`] for the target (the hot path: an [`Http1Pool`], or an [`H2Pool`]
//! under `load.http_version: h2 | h2c`), WebSocket and CORS checks run
//! their own probe once per arrival (summarised as one sample), and sockets
//! of socket stages are held by [`hold_socket`]. Tests implement the trait
//! with a fixed service time and no network, which lets paused-time tests
//! assert the schedule exactly. A sender's futures are `'static` (they are
//! spawned as local tasks), so they own what they borrow: an `Arc` of the
//! worker plan and an `Rc` of the pool.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::h2::H2Pool;
use super::http1::Http1Pool;
use super::parity::{Job, Sampler};
use super::sockets::{hold_socket, Socket};
use super::worker_plan::{CheckKind, HttpRequest, TargetCtx, WorkerPlan};
use super::Recorder;
use crate::probe::http::BodyMode;
use crate::probe::websocket::End;
use crate::probe::{ErrorKind, ProbeError, Sample};
use crate::scenario::plan::ProbeSpec;
use crate::target::Connector;

/// How a worker sends one request of check `c` to target `t`. The engine
/// has one implementation, [`NetworkSender`]; tests drive the schedule with a
/// synthetic one under paused time.
pub(super) trait RequestSender: 'static {
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

/// One target's HTTP connections on one worker, in the load's HTTP version.
pub(super) enum Pool {
    H1(Http1Pool),
    H2(H2Pool),
}

impl Pool {
    fn new(t: &TargetCtx) -> Pool {
        if t.http_version.is_h2() {
            Pool::H2(H2Pool::new(t.connections, t.max_streams, t.policy))
        } else {
            Pool::H1(Http1Pool::new(t.connections))
        }
    }

    async fn fire(&self, ctx: &TargetCtx, request: &HttpRequest) -> Sample {
        match self {
            Pool::H1(p) => p.fire(ctx, request).await,
            Pool::H2(p) => p.fire(ctx, request).await,
        }
    }

    async fn fire_with(&self, ctx: &TargetCtx, request: &HttpRequest, mode: BodyMode) -> Sample {
        match self {
            Pool::H1(p) => p.fire_with(ctx, request, mode).await,
            Pool::H2(p) => p.fire_with(ctx, request, mode).await,
        }
    }
}

/// Real requests: HTTP over a pool of hyper connections per target, HTTP/1
/// (at most `connections` at a time per target, a request waits for a free
/// one) or HTTP/2 (at most `connections × max_streams` streams, a request
/// waits for a free one); WebSocket and CORS checks through their probes.
pub(super) struct NetworkSender {
    wp: Arc<WorkerPlan>,
    /// Per target of `wp`.
    pools: Vec<Rc<Pool>>,
    /// This worker's own connectors (clients bound to this thread's runtime),
    /// for the checks that run their probe.
    connectors: Vec<Connector>,
    /// Sampled parity under load, when the plan asks for it.
    parity: Option<Sampler>,
}

impl NetworkSender {
    pub(super) async fn new(wp: Arc<WorkerPlan>, parity: Option<Sampler>) -> Self {
        let mut connectors = Vec::new();
        for t in &wp.targets {
            connectors.push(
                Arc::clone(&t.target)
                    .connector(&wp.extra_hosts, wp.connect_timeout)
                    .await,
            );
        }
        let pools = wp.targets.iter().map(|t| Rc::new(Pool::new(t))).collect();
        NetworkSender {
            wp,
            pools,
            connectors,
            parity,
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
        let (wp, pool) = (Arc::clone(&self.wp), Rc::clone(&self.pools[t]));
        // Only checks that run their own probe need the connector.
        let conn = match &wp.targets[t].checks[c].kind {
            CheckKind::Http(_) => None,
            CheckKind::Probe(_) => Some(self.connectors[t].clone()),
        };
        let job = self.parity.as_ref().and_then(|p| p.pick(&self.wp, t, c));
        let base_pool = job.as_ref().map(|j| Rc::clone(&self.pools[j.baseline]));
        async move {
            let ctx = &wp.targets[t];
            match (&ctx.checks[c].kind, conn) {
                (CheckKind::Http(request), _) => match (job, base_pool) {
                    (Some(job), Some(base_pool)) => {
                        let keep = BodyMode::Keep {
                            cap: request.spec.body_cap,
                        };
                        let sample = pool.fire_with(ctx, request, keep).await;
                        tokio::task::spawn_local(compare_sampled(
                            Arc::clone(&wp),
                            base_pool,
                            job,
                            sample.clone(),
                        ));
                        sample
                    }
                    _ => pool.fire(ctx, request).await,
                },
                (CheckKind::Probe(spec), Some(conn)) => probe_sample(&conn, spec).await,
                (CheckKind::Probe(_), None) => {
                    let e = ProbeError::new(
                        ErrorKind::Other,
                        "the load engine had no connector for this check",
                    );
                    Sample::failed("".into(), e, Duration::ZERO)
                }
            }
        }
    }
}

/// Asks the baseline the same request twice and counts a sampled answer's
/// differences (`parity.rs`); the bodies are dropped here.
async fn compare_sampled(wp: Arc<WorkerPlan>, pool: Rc<Pool>, job: Job, answer: Sample) {
    let ctx = &wp.targets[job.baseline];
    let CheckKind::Http(request) = &ctx.checks[job.baseline_check].kind else {
        return;
    };
    let keep = BodyMode::Keep {
        cap: request.spec.body_cap,
    };
    let base = pool.fire_with(ctx, request, keep).await;
    let again = pool.fire_with(ctx, request, keep).await;
    job.record(&answer, &base, &again);
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
                    Some((_, end)) if w.hold.is_some() && *end != End::Held => {
                        Some(crate::probe::websocket::describe_end(end))
                    }
                    _ => None,
                });
            (r.handshake, failure)
        }
        ProbeSpec::Cors(c) => (crate::probe::cors::probe(conn, c).await.preflight, None),
        ProbeSpec::Http(h) => (crate::probe::http::probe(conn, h).await, None),
        ProbeSpec::Grpc(g) => {
            let r = crate::probe::grpc::probe(conn, g).await;
            // A call that did not end OK is a failed request under load.
            let failure = r
                .status
                .as_ref()
                .filter(|s| s.code != crate::probe::grpc::Code::Ok)
                .map(|s| format!("gRPC {}", s.code));
            (r.sample, failure)
        }
        ProbeSpec::Dns(_) => {
            let e = ProbeError::new(ErrorKind::Other, "DNS checks are sampled, not loaded");
            (Sample::failed("".into(), e, Duration::ZERO), None)
        }
        ProbeSpec::Behaviour(_) => {
            let e = ProbeError::new(
                ErrorKind::Other,
                "behaviour checks run in the check pass, not under load",
            );
            (Sample::failed("".into(), e, Duration::ZERO), None)
        }
    };
    if let (None, Some(f)) = (&sample.error, failure) {
        sample.error = Some(ProbeError::new(ErrorKind::Protocol, f));
    }
    sample.latency = start.elapsed();
    sample
}
