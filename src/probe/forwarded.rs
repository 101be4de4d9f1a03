//! The forwarded-headers probe: one request to an echo endpoint through one
//! target, reading back what reached the backend.
//!
//! The echo endpoint answers JSON with the request headers it received,
//! either as `{"headers": {name: value}}` (the lab app, many echo servers)
//! or as a flat `{name: value}` object. Names are lowercased; a header that
//! arrived more than once is joined with `, `; an object without `host` or
//! `user-agent` is not an echo. Invariant: one request; a
//! body that is not such JSON leaves `received` empty and says why.

use std::collections::BTreeMap;

use super::http::{self, HttpSpec};
use super::Sample;
use crate::target::Connector;

/// A fully resolved `forwarded_headers:` check.
#[derive(Clone, Debug)]
pub struct ForwardedSpec {
    /// The request to the echo endpoint (`echo_path`).
    pub request: HttpSpec,
}

/// What the backend said it received.
#[derive(Clone, Debug)]
pub struct ForwardedResult {
    pub sample: Sample,
    /// Header name (lowercase) → value, as the backend received them.
    pub received: BTreeMap<String, String>,
    /// Why `received` could not be read, when it could not.
    pub unreadable: Option<String>,
    /// The port the client connected to (what `x-forwarded-port` should say).
    pub client_port: u16,
}

/// Asks the echo endpoint through `conn`.
pub async fn probe(conn: &Connector, spec: &ForwardedSpec) -> ForwardedResult {
    let sample = http::probe(conn, &spec.request).await;
    let (received, unreadable) = match &sample.response {
        None => (BTreeMap::new(), None),
        Some(r) if r.body.truncated => (
            BTreeMap::new(),
            Some("the echo body was larger than the body cap".to_owned()),
        ),
        Some(r) => match parse_echo(&r.body.prefix) {
            Some(h) => (h, None),
            None => (
                BTreeMap::new(),
                Some(format!(
                    "the answer (status {}) is not a JSON echo of the request headers",
                    r.status
                )),
            ),
        },
    };
    ForwardedResult {
        sample,
        received,
        unreadable,
        client_port: conn.target.connect.port,
    }
}

/// The headers in an echo body: `{"headers": {…}}` or a flat object of strings.
pub fn parse_echo(body: &[u8]) -> Option<BTreeMap<String, String>> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let obj = v.get("headers").unwrap_or(&v).as_object()?;
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        let value = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            _ => continue,
        };
        out.insert(k.to_ascii_lowercase(), value);
    }
    // Every request carries one of these: without them this is not an echo.
    (out.contains_key("host") || out.contains_key("user-agent")).then_some(out)
}
