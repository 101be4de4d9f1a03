//! The hostname-variant probe: the production host as written, then in the
//! variants clients really send, through one target.
//!
//! A Host header may carry a trailing dot (`shop.example.com.`, the fully
//! qualified form some SDKs and health checkers use), upper case, or an
//! explicit port (`shop.example.com:443`). nginx routes all of them like the
//! bare name; an HTTPRoute's `hostnames` entry matches exactly, and Envoy
//! keeps a trailing dot (and, unless told otherwise, the port) when it picks
//! a route. The variant is the Host header only: SNI and the pinned address
//! use the name ([`crate::target::host_name`]).
//!
//! Invariant: one request per variant plus one as written, in that order;
//! nothing here judges the answers.

use super::http::{self, HttpSpec};
use super::Sample;
use crate::target::{host_name, Connector, Scheme};

/// A way of writing the production host in a Host header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// As the check or target writes it.
    AsWritten,
    /// With a trailing dot: `shop.example.com.`.
    TrailingDot,
    /// In upper case: `SHOP.EXAMPLE.COM`.
    UpperCase,
    /// With the scheme's default port: `shop.example.com:443`.
    Port,
}

impl Variant {
    /// Every variant a check probes unless it lists its own.
    pub const DEFAULT: [Variant; 3] = [Variant::TrailingDot, Variant::UpperCase, Variant::Port];

    /// The scenario and report spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::AsWritten => "as_written",
            Variant::TrailingDot => "trailing_dot",
            Variant::UpperCase => "upper_case",
            Variant::Port => "port",
        }
    }

    /// The variants a scenario may list.
    pub fn parse(s: &str) -> Option<Variant> {
        Variant::DEFAULT.into_iter().find(|v| v.as_str() == s)
    }

    /// The variant a Host value is written in: a trailing dot first, then a
    /// port, then upper case; `AsWritten` for a plain lower-case name.
    pub fn of(host: &str) -> Variant {
        let name = host.rsplit_once(':').map_or(host, |(n, _)| n);
        if name.ends_with('.') {
            Variant::TrailingDot
        } else if host.contains(':') {
            Variant::Port
        } else if host.bytes().any(|b| b.is_ascii_uppercase()) {
            Variant::UpperCase
        } else {
            Variant::AsWritten
        }
    }

    /// `host` written this way for a request over `scheme`.
    pub fn apply(self, host: &str, scheme: Scheme) -> String {
        let name = host_name(host);
        match self {
            Variant::AsWritten => host.to_owned(),
            Variant::TrailingDot => format!("{name}."),
            Variant::UpperCase => name.to_ascii_uppercase(),
            Variant::Port => match scheme {
                Scheme::Http => format!("{name}:80"),
                Scheme::Https => format!("{name}:443"),
            },
        }
    }
}

/// A fully resolved `hostnames:` check.
#[derive(Clone, Debug)]
pub struct HostnamesSpec {
    /// The request sent in every variant (GET unless the check says otherwise).
    pub request: HttpSpec,
    /// The variants, besides the host as written (never empty, no repeats).
    pub variants: Vec<Variant>,
}

/// One request: the variant, the Host sent, the answer.
#[derive(Clone, Debug)]
pub struct VariantSample {
    pub variant: Variant,
    pub host: String,
    pub sample: Sample,
}

/// The answers, the host as written first.
#[derive(Clone, Debug)]
pub struct HostnamesResult {
    pub samples: Vec<VariantSample>,
}

impl HostnamesResult {
    /// The answer for the host as written.
    pub fn as_written(&self) -> &Sample {
        &self.samples[0].sample
    }
}

/// Sends the request in every variant through `conn`.
pub async fn probe(conn: &Connector, spec: &HostnamesSpec) -> HostnamesResult {
    let target = &conn.target;
    let written = spec.request.host.as_deref().unwrap_or(&target.host);
    let mut samples = Vec::with_capacity(spec.variants.len() + 1);
    for variant in std::iter::once(Variant::AsWritten).chain(spec.variants.iter().copied()) {
        let host = variant.apply(written, target.scheme);
        // Variants compare Host headers: HTTP/1.1, where Host goes verbatim.
        let request = HttpSpec {
            host: Some(host.clone()),
            version: http::Version::H1,
            ..spec.request.clone()
        };
        let sample = http::probe(conn, &request).await;
        samples.push(VariantSample {
            variant,
            host,
            sample,
        });
    }
    HostnamesResult { samples }
}
