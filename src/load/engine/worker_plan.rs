//! What each worker is given: the resolved plan cut down to one worker.
//!
//! A [`WorkerPlan`] holds, per loaded target, everything the hot path would
//! otherwise work out per request: the address (or why there is none), the
//! TLS connector, each HTTP check's request prebuilt ([`HttpRequest`]:
//! headers, URI, URL; over HTTP/2 the URI carries scheme and authority and
//! no `Host` header is sent), the check mix, the HTTP version and this
//! worker's share of `max_in_flight`, of the connections and of every closed
//! stage's clients (over HTTP/1.1, a worker has a connection per client of
//! its share at least; over HTTP/2, its clients share `connections ×
//! max_streams` streams).
//! A count `n` is shared by [`share_of`]: shares differ by at most one, the
//! first `n mod workers` workers taking the extra, so the shares add up to
//! `n` exactly. Plans are built before the worker threads start and are
//! read-only afterwards (shared as `Arc<WorkerPlan>`).
//!
//! DNS checks are not load (they sample the zone once per run) and checks
//! with a weight of 0 are never picked: neither is in a target's `checks`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::mix::Mix;
use super::{Options, Pacing};
use crate::analyze::expect::{Expect, Judge};
use crate::load::plan::HttpVersion;
use crate::load::schedule::{Phase, Shape};
use crate::probe::http::{BodyMode, HttpSpec};
use crate::probe::websocket::WsSpec;
use crate::probe::ProbeError;
use crate::scenario::plan::{ConnectionPolicy, LoadPlan, Plan, ProbeSpec};
use crate::target::{Connector, Scheme, Target};

/// Everything a worker needs, shared read-only.
pub(super) struct WorkerPlan {
    pub(super) shape: Shape,
    pub(super) targets: Vec<TargetCtx>,
    /// Per check of the plan: its WebSocket spec, for socket stages.
    pub(super) ws_specs: Vec<Option<WsSpec>>,
    /// Hosts the checks send (for the per-worker connectors).
    pub(super) extra_hosts: Vec<String>,
    pub(super) connect_timeout: Duration,
    /// This worker's lane among every worker of every shard: it takes
    /// arrival, client and socket `k` when `k ≡ lane (mod lanes)`.
    pub(super) lane: u64,
    pub(super) lanes: u64,
    pub(super) pacing: Pacing,
    pub(super) grace: Duration,
}

/// One loaded target as a worker sees it.
pub(super) struct TargetCtx {
    pub(super) target: Arc<Target>,
    pub(super) addr: Option<SocketAddr>,
    pub(super) resolve_error: Option<ProbeError>,
    pub(super) tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
    pub(super) checks: Vec<CheckCtx>,
    /// The weights of `checks`, in the same order.
    pub(super) mix: Mix,
    pub(super) policy: ConnectionPolicy,
    /// HTTP/1.1 or HTTP/2 (`load.http_version`), and HTTP/2's streams per connection.
    pub(super) http_version: HttpVersion,
    pub(super) max_streams: u64,
    /// This worker's share of `max_in_flight`.
    pub(super) cap: u64,
    /// This worker's share of the connections (over HTTP/1.1, at least its
    /// share of any closed stage's clients).
    pub(super) connections: u64,
    /// `key = key_base + check index in the plan`.
    pub(super) key_base: usize,
}

/// One check as the engine sends it through one target.
pub(super) struct CheckCtx {
    pub(super) key: usize,
    pub(super) kind: CheckKind,
    /// The check's expectation, judging every response as it is recorded.
    pub(super) expect: Arc<Expect>,
    pub(super) judge: Judge,
}

pub(super) enum CheckKind {
    /// Sent by the engine over hyper's HTTP/1 connection API (the hot path).
    Http(HttpRequest),
    /// WebSocket and CORS checks: the check's own probe, once per arrival.
    Probe(ProbeSpec),
}

/// An HTTP check's request through one target, built once: each send clones
/// the headers into a fresh request.
pub(super) struct HttpRequest {
    /// Count the body, or keep it (and every header) when rules need it.
    pub(super) body: BodyMode,
    pub(super) spec: HttpSpec,
    pub(super) url: Arc<str>,
    pub(super) uri: http::Uri,
    pub(super) headers: http::HeaderMap,
}

impl WorkerPlan {
    /// Worker `worker`'s share (of `workers`) of the plan's load.
    pub(super) fn new(
        plan: &Plan,
        load: &LoadPlan,
        connectors: &[Connector],
        shape: &Shape,
        options: &Options,
        workers: usize,
        worker: usize,
    ) -> WorkerPlan {
        let targets = load
            .targets
            .iter()
            .map(|&ti| {
                TargetCtx::new(
                    plan,
                    load,
                    &connectors[ti],
                    ti,
                    shape,
                    (workers, worker),
                    options.shard,
                )
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
                // Held sockets take the load's (lower) message cap.
                ProbeSpec::WebSocket(w) => Some(WsSpec {
                    max_message: load.websocket_max_message,
                    ..w.clone()
                }),
                _ => None,
            })
            .collect();
        WorkerPlan {
            shape: shape.clone(),
            targets,
            ws_specs,
            extra_hosts,
            connect_timeout: plan.timeout,
            lane: options.shard.index + options.shard.count * worker as u64,
            lanes: options.shard.count * workers as u64,
            pacing: options.pacing,
            grace: options.grace,
        }
    }
}

impl TargetCtx {
    /// Target `ti` (reached through `conn`) as worker `worker` of
    /// `workers` (of this `shard`) sees it.
    fn new(
        plan: &Plan,
        load: &LoadPlan,
        conn: &Connector,
        ti: usize,
        shape: &Shape,
        (workers, worker): (usize, usize),
        shard: super::Shard,
    ) -> TargetCtx {
        let n_checks = plan.checks.len();
        let target = Arc::clone(&conn.target);
        let (addr, resolve_error) = match conn.addrs() {
            Ok(a) => (a.first().copied(), None),
            Err(e) => (None, Some(e.clone().into())),
        };
        let mut checks = Vec::new();
        let mut mix = Mix::default();
        for &(ci, weight) in &load.mix {
            let check = &plan.checks[ci];
            if weight <= 0.0 || !check.targets.contains(&ti) {
                continue;
            }
            let kind = match &check.probe {
                // DNS checks sample the zone once per run, and behaviour
                // probes (bounded bursts, slow calls) run in the check pass
                // only: neither is load.
                ProbeSpec::Dns(_) | ProbeSpec::Behaviour(_) => continue,
                ProbeSpec::Http(spec) => {
                    let mut request = HttpRequest::new(&target, spec, load.http_version);
                    if check.expect.needs_body(load.judge) {
                        request.body = BodyMode::Keep { cap: spec.body_cap };
                    }
                    CheckKind::Http(request)
                }
                probe => CheckKind::Probe(probe.clone()),
            };
            mix.push(weight);
            checks.push(CheckCtx {
                key: ti * n_checks + ci,
                kind,
                expect: Arc::new(check.expect.clone()),
                judge: load.judge,
            });
        }
        let tls_config = || match load.http_version {
            HttpVersion::H1 => conn.tls_config(),
            HttpVersion::H2 | HttpVersion::H2c => conn.tls_config_h2(),
        };
        let tls = match target.scheme {
            Scheme::Https => tls_config().ok().and_then(|cfg| {
                let name = rustls::pki_types::ServerName::try_from(target.host.clone()).ok()?;
                Some((tokio_rustls::TlsConnector::from(cfg), name))
            }),
            Scheme::Http => None,
        };
        let share = |n: u64| share_of(n, workers, worker);
        let lanes = (shard.count * workers as u64) as usize;
        let lane = (shard.index + shard.count * worker as u64) as usize;
        let clients = shape
            .phases
            .iter()
            .map(|p| match *p {
                Phase::Closed { concurrency, .. } => share_of(concurrency, lanes, lane),
                Phase::Open { .. } | Phase::Sockets { .. } => 0,
            })
            .max()
            .unwrap_or(0);
        TargetCtx {
            target,
            addr,
            resolve_error,
            tls,
            checks,
            mix,
            policy: load.connection,
            http_version: load.http_version,
            max_streams: load.max_streams,
            cap: share(load.max_in_flight).max(1),
            connections: match load.http_version {
                HttpVersion::H1 => share(load.connections).max(clients).max(1),
                HttpVersion::H2 | HttpVersion::H2c => share(load.connections).max(1),
            },
            key_base: ti * n_checks,
        }
    }
}

impl HttpRequest {
    /// `spec`'s request through `target`: the target's headers, then the
    /// check's, then `Host` (the check's or the target's) and a default
    /// `User-Agent`. A header that is not valid HTTP is skipped. Over
    /// HTTP/2 the Host goes as the URI's authority (`:authority`) instead,
    /// with the target's scheme (`:scheme`).
    fn new(target: &Target, spec: &HttpSpec, version: HttpVersion) -> HttpRequest {
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
        if version == HttpVersion::H1 {
            if let Ok(h) = http::HeaderValue::from_str(host) {
                headers.insert(http::header::HOST, h);
            }
        } else {
            headers.remove(http::header::HOST);
        }
        headers
            .entry(http::header::USER_AGENT)
            .or_insert(http::HeaderValue::from_static(concat!(
                "cutover/",
                env!("CARGO_PKG_VERSION")
            )));
        let uri = match version {
            HttpVersion::H1 => spec
                .path_and_query
                .parse()
                .unwrap_or_else(|_| http::Uri::from_static("/")),
            HttpVersion::H2 | HttpVersion::H2c => {
                let path: http::uri::PathAndQuery = spec
                    .path_and_query
                    .parse()
                    .unwrap_or_else(|_| http::uri::PathAndQuery::from_static("/"));
                // The Host as written, else its DNS name (both were validated).
                let authority = http::uri::Authority::try_from(host)
                    .or_else(|_| http::uri::Authority::try_from(crate::target::host_name(host)));
                let mut parts = http::uri::Parts::default();
                parts.scheme = Some(match target.scheme {
                    Scheme::Https => http::uri::Scheme::HTTPS,
                    Scheme::Http => http::uri::Scheme::HTTP,
                });
                parts.authority = authority.ok();
                parts.path_and_query = Some(path.clone());
                http::Uri::from_parts(parts).unwrap_or_else(|_| http::Uri::from(path))
            }
        };
        HttpRequest {
            body: BodyMode::Count,
            spec: spec.clone(),
            url: target.url(host, &spec.path_and_query).into(),
            uri,
            headers,
        }
    }
}

/// Worker `worker`'s share of `n` (clients, in-flight slots, connections)
/// over `workers` workers.
pub(super) fn share_of(n: u64, workers: usize, worker: usize) -> u64 {
    n / workers as u64 + u64::from((worker as u64) < n % workers as u64)
}

#[cfg(test)]
mod tests {
    use super::share_of;

    #[test]
    fn shares_add_up_and_differ_by_at_most_one() {
        for workers in 1..=5 {
            for n in 0..=12 {
                let shares: Vec<u64> = (0..workers).map(|w| share_of(n, workers, w)).collect();
                assert_eq!(shares.iter().sum::<u64>(), n, "{n} over {workers}");
                let (min, max) = (shares.iter().min(), shares.iter().max());
                assert!(max.zip(min).is_some_and(|(a, b)| a - b <= 1), "{shares:?}");
            }
        }
        // The first `n mod workers` workers take the extra one.
        assert_eq!(
            (0..3).map(|w| share_of(7, 3, w)).collect::<Vec<_>>(),
            [3, 2, 2]
        );
    }
}
