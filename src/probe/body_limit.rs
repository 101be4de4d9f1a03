//! The body-size probe: one upload just below `size` and one just above it,
//! through one target.
//!
//! "Just" is [`MARGIN`] bytes either side, so a limit of exactly `size`
//! (nginx's `client_max_body_size 1m` accepts 1 MiB and refuses a byte more)
//! accepts the first and refuses the second. Invariant: two requests, each
//! body at most `size + MARGIN` bytes; nothing here judges the answers.

use bytes::Bytes;

use super::http::{self, HttpSpec};
use super::Sample;
use crate::target::Connector;

/// Bytes below and above the limit the two uploads are.
pub const MARGIN: u64 = 1024;

/// A fully resolved `body_limit:` check.
#[derive(Clone, Debug)]
pub struct BodyLimitSpec {
    /// Method, path, host and headers of the uploads (no body yet).
    pub request: HttpSpec,
    /// The limit probed, in bytes.
    pub size: u64,
}

impl BodyLimitSpec {
    /// The sizes of the two uploads: below and above.
    pub fn sizes(&self) -> (u64, u64) {
        (self.size.saturating_sub(MARGIN), self.size + MARGIN)
    }
}

/// The two answers.
#[derive(Clone, Debug)]
pub struct BodyLimitResult {
    pub below: Sample,
    pub above: Sample,
}

/// Sends both uploads through `conn`.
pub async fn probe(conn: &Connector, spec: &BodyLimitSpec) -> BodyLimitResult {
    let (below, above) = spec.sizes();
    let upload = |n: u64| {
        let mut r = spec.request.clone();
        r.body = Some(Bytes::from(vec![b'x'; n as usize]));
        r
    };
    BodyLimitResult {
        below: http::probe(conn, &upload(below)).await,
        above: http::probe(conn, &upload(above)).await,
    }
}
