//! The route-timeout probe: one request to a slow endpoint through one
//! target, waiting up to the check's own timeout.
//!
//! The answer says who gave up first and how: Envoy's 504 `upstream request
//! timeout` after its route timeout (15 s by default), nginx's 504 page
//! after `proxy-read-timeout` (60 s), the app's answer when nobody did, or
//! the check's own timeout. Invariant: one request, bounded by the check's
//! timeout; nothing here judges it.

use super::http::{self, HttpSpec};
use super::Sample;
use crate::target::Connector;

/// A fully resolved `route_timeout:` check.
#[derive(Clone, Debug)]
pub struct RouteTimeoutSpec {
    /// The slow request; its timeout bounds the probe.
    pub request: HttpSpec,
    /// How long the slow endpoint takes, when the check says.
    pub duration: Option<std::time::Duration>,
}

/// Sends the slow request through `conn`.
pub async fn probe(conn: &Connector, spec: &RouteTimeoutSpec) -> Sample {
    http::probe(conn, &spec.request).await
}
