//! HTTP/1 under load: the per-target connection pool and the request hot path.
//!
//! Each worker has one [`Http1Pool`] per target: its idle keep-alive
//! connections (hyper's `client::conn::http1`, each connection driven by its
//! own local task) and one permit per connection the worker may have open to
//! the target (`connections`, its share of the target's budget). A request
//! holds a permit from before it takes a connection until its response is
//! read, so a worker never has more connections than permits; a request that
//! finds none free waits, and the wait counts as latency and against its
//! timeout. It takes the most recently used idle connection that is still
//! ready, else connects (TCP with `TCP_NODELAY`, then TLS for HTTPS targets).
//! A connection goes back to the pool only under the keep-alive policy, after
//! a response read without error, if the server has not closed it. One timer
//! bounds the whole request: the wait for a permit, connect, send and body.
//! The response is read by [`finish`], the same reader as the `check`
//! command's, counting the body rather than keeping it.

use std::cell::RefCell;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::dial::{dial, Dialed};
use super::worker_plan::{HttpRequest, TargetCtx};
use crate::probe::http::{finish, from_error, BodyMode};
use crate::probe::{ErrorKind, ProbeError, Sample};
use crate::scenario::plan::ConnectionPolicy;

/// One open HTTP/1 connection, ready to send a request.
type Connection = SendRequest<Full<Bytes>>;

/// One target's HTTP/1 connections on one worker.
pub(super) struct Http1Pool {
    /// Idle keep-alive connections, the most recently used last.
    idle: RefCell<Vec<Connection>>,
    /// One per connection the worker may have open to the target.
    permits: Semaphore,
}

impl Http1Pool {
    /// An empty pool allowing at most `connections` open connections.
    pub(super) fn new(connections: u64) -> Http1Pool {
        Http1Pool {
            idle: RefCell::new(Vec::new()),
            permits: Semaphore::new(connections as usize),
        }
    }

    /// Sends `request` through `ctx`, on a pooled or new connection.
    /// One timer bounds the whole request (connect, send, body).
    pub(super) async fn fire(&self, ctx: &TargetCtx, request: &HttpRequest) -> Sample {
        self.fire_with(ctx, request, request.body).await
    }

    /// [`Http1Pool::fire`], reading the body as `mode` says (sampled parity keeps it).
    pub(super) async fn fire_with(
        &self,
        ctx: &TargetCtx,
        request: &HttpRequest,
        mode: BodyMode,
    ) -> Sample {
        super::dial::bounded(&self.permits, request, |start, deadline| {
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
        let HttpRequest {
            body: _,
            spec,
            url,
            uri,
            headers,
        } = request;
        let url = Arc::clone(url);
        let mut connection = loop {
            let idle = self.idle.borrow_mut().pop();
            match idle {
                Some(mut c) => {
                    if c.ready().await.is_ok() {
                        break c;
                    }
                }
                None => match connect(ctx, deadline, spec.timeout).await {
                    Ok(c) => break c,
                    Err(e) => return Sample::failed(url, e, start.elapsed()),
                },
            }
        };
        let mut req = http::Request::new(Full::new(spec.body.clone().unwrap_or_default()));
        *req.method_mut() = spec.method.clone();
        *req.uri_mut() = uri.clone();
        *req.headers_mut() = headers.clone();
        let resp = match connection.send_request(req).await {
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
            mode,
            t.proxy,
            t.role,
        )
        .await;
        if ctx.policy == ConnectionPolicy::KeepAlive
            && sample.error.is_none()
            && !connection.is_closed()
        {
            self.idle.borrow_mut().push(connection);
        }
        sample
    }
}

/// Opens a new connection to `ctx`'s target (TCP, then TLS for HTTPS) and
/// speaks HTTP/1.1 on it. A connection that is not open by the request's
/// deadline is a `connect_timeout`, whichever step hung.
async fn connect(
    ctx: &TargetCtx,
    deadline: Instant,
    timeout: std::time::Duration,
) -> Result<Connection, ProbeError> {
    let tls_failure = |e: &std::io::Error| {
        let mut p = from_error(e);
        p.kind = ErrorKind::Tls;
        p
    };
    match dial(ctx, deadline, timeout, tls_failure).await? {
        Dialed::Tls(stream) => handshake(TokioIo::new(*stream)).await,
        Dialed::Plain(tcp) => handshake(TokioIo::new(tcp)).await,
    }
}

/// HTTP/1 over `io`; the connection runs on its own local task until closed.
async fn handshake<T>(io: T) -> Result<Connection, ProbeError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
{
    let (connection, background) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| from_error(&e))?;
    tokio::task::spawn_local(async move {
        let _ = background.await;
    });
    Ok(connection)
}
