//! Opening a connection to a loaded target: TCP with `TCP_NODELAY` to the
//! target's address, then TLS for https targets, all by the request's
//! deadline. Shared by the HTTP/1 and HTTP/2 pools, which then run their own
//! HTTP handshake over the stream; so is [`bounded`], the one timer around a
//! pooled request (the wait for a connection or stream included).
//!
//! Invariants: a connection that is not open by the deadline is a
//! `connect_timeout`, whichever step hung; a target without an address fails
//! with its resolution error (`dns`); an https target whose TLS client could
//! not be set up fails as `tls`; a failed TLS handshake is mapped by the
//! caller's `tls_failure`, so each pool words what its ALPN offer means.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;

use super::worker_plan::{HttpRequest, TargetCtx};
use crate::probe::http::timeout_error;
use crate::probe::{ErrorKind, ProbeError, Sample};
use crate::target::Scheme;

/// A connection open to a target, before any HTTP is spoken on it.
pub(super) enum Dialed {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// Opens a connection to `ctx`'s target by `deadline` (`timeout` is the
/// request's, for messages). `tls_failure` maps a failed TLS handshake.
pub(super) async fn dial(
    ctx: &TargetCtx,
    deadline: Instant,
    timeout: std::time::Duration,
    tls_failure: impl FnOnce(&std::io::Error) -> ProbeError,
) -> Result<Dialed, ProbeError> {
    if let Some(e) = &ctx.resolve_error {
        return Err(e.clone());
    }
    let addr = ctx
        .addr
        .ok_or_else(|| ProbeError::new(ErrorKind::Dns, "the target resolved to no address"))?;
    let tcp = crate::probe::http::open_tcp(addr, deadline, timeout).await?;
    let _ = tcp.set_nodelay(true);
    match (&ctx.target.scheme, &ctx.tls) {
        (Scheme::Https, Some((tls, name))) => {
            let handshake_tls = tls.connect(name.clone(), tcp);
            match tokio::time::timeout_at(deadline, handshake_tls).await {
                Err(_) => Err(ProbeError::new(
                    ErrorKind::ConnectTimeout,
                    format!(
                        "the TLS handshake with {addr} did not finish within {}",
                        humantime::format_duration(timeout)
                    ),
                )),
                Ok(Err(e)) => Err(tls_failure(&e)),
                Ok(Ok(stream)) => Ok(Dialed::Tls(Box::new(stream))),
            }
        }
        (Scheme::Https, None) => Err(ProbeError::new(
            ErrorKind::Tls,
            "could not set up TLS for this target",
        )),
        (Scheme::Http, _) => Ok(Dialed::Plain(tcp)),
    }
}

/// Runs `exchange(start, deadline)` once one of `permits` (a connection or
/// a stream) is free; the wait for it is latency and counts against the
/// request's timeout, and one timer bounds the whole request.
pub(super) async fn bounded<F>(
    permits: &Semaphore,
    request: &HttpRequest,
    exchange: impl FnOnce(Instant, Instant) -> F,
) -> Sample
where
    F: Future<Output = Sample>,
{
    let start = Instant::now();
    let timeout = request.spec.timeout;
    let deadline = start + timeout;
    let exchange = async {
        let _permit = permits.acquire().await;
        exchange(start, deadline).await
    };
    match tokio::time::timeout_at(deadline, exchange).await {
        Ok(sample) => sample,
        Err(_) => Sample::failed(
            Arc::clone(&request.url),
            timeout_error(timeout),
            start.elapsed(),
        ),
    }
}
