//! The redirect probe: one plain-HTTP request for an HTTPS-only host through
//! one target, redirects not followed.
//!
//! A target whose scheme is `https` is asked on `http_port` (80 unless the
//! check says otherwise) of its resolved addresses; a target already
//! `http` is asked on its own address. The production Host is kept either
//! way. Invariant: one request; nothing here judges the answer.

use std::sync::Arc;
use std::time::Duration;

use super::http::{self, HttpSpec};
use super::Sample;
use crate::target::{host_name, ClientOptions, Connector, Scheme};

/// A fully resolved `redirect:` check.
#[derive(Clone, Debug)]
pub struct RedirectSpec {
    /// The plain-HTTP request (GET unless the check says otherwise).
    pub request: HttpSpec,
    /// The port of plain HTTP on targets whose scheme is `https`.
    pub http_port: u16,
}

/// Sends the plain-HTTP request through `conn`.
pub async fn probe(conn: &Connector, spec: &RedirectSpec) -> Sample {
    let target = &conn.target;
    let host = spec.request.host.as_deref().unwrap_or(&target.host);
    let url: Arc<str> = format!("http://{}{}", host_name(host), spec.request.path_and_query).into();
    let port = (target.scheme == Scheme::Https).then_some(spec.http_port);
    match conn.client_with(ClientOptions { local: None, port }) {
        Ok(client) => http::send(&client, target, url, &spec.request).await,
        Err(e) => Sample::failed(url, e.into(), Duration::ZERO),
    }
}

/// Whether a client repeats the request's method when it follows `status`:
/// 307 and 308 keep it, 301, 302 and 303 let clients switch to GET.
pub fn keeps_method(status: u16) -> bool {
    matches!(status, 307 | 308)
}

/// Whether `status` is a permanent redirect (cached by clients).
pub fn permanent(status: u16) -> bool {
    matches!(status, 301 | 308)
}
