//! HTTP versions in the check pass: a version the check asked for and did
//! not get, and two targets that answer the same request over different
//! versions.
//!
//! - `version: h2` (or `h2c`) that came back over http/1.1 fails the
//!   check: the server did not choose h2 in ALPN (or, on plain http, `h2`
//!   cannot be negotiated at all: that is `h2c`).
//! - Under `version: auto` (ALPN, what browsers do), a target whose answer
//!   came over another version than the baseline's is a `http_version`
//!   warning: browsers would talk to the two paths differently (header
//!   casing, connection reuse, and HTTP/2's own limits), which is worth
//!   knowing before the cutover but is not an answer the app changed.
//!   Only two answers over TLS are compared: over plain http `auto` is
//!   HTTP/1.1, so an http baseline beside an https target says nothing.
//!   ingress-nginx offers h2 on its TLS listeners by default (`use-http2`);
//!   an Envoy listener offers it when its TLS context lists `h2` in ALPN.

use super::finding::{Evidence, Finding, FindingKind, Level};
use crate::probe::http::Version;
use crate::probe::{Protocol, Sample};

/// What a check asked for and the version of its answer disagree, as a sentence.
pub fn asked_failure(asked: Version, sample: &Sample, https: bool) -> Option<String> {
    let got = sample.response.as_ref()?.version?;
    match asked {
        Version::H2 | Version::H2c if got != Protocol::H2 => {
            Some(if asked == Version::H2 && !https {
                format!(
                "answered over {} where h2 was asked for: over plain http h2 is not negotiated; ask for it with prior knowledge (`version: h2c`)",
                got.as_str()
            )
            } else {
                format!(
                    "answered over {} where {} was asked for: the server did not choose h2",
                    got.as_str(),
                    asked.as_str()
                )
            })
        }
        Version::H1 if got == Protocol::H2 => {
            Some("answered over h2 where http/1.1 was asked for".into())
        }
        _ => None,
    }
}

/// A target answering over another version than the baseline, under `auto`.
pub fn difference(
    check: &str,
    asked: Version,
    (base_name, base): (&str, &Sample),
    (target_name, target): (&str, &Sample),
) -> Option<Finding> {
    // Over plain http `auto` is always http/1.1: only two TLS answers chose
    // in ALPN, and only they can differ for a reason worth saying.
    let tls = |s: &Sample| s.url.starts_with("https:");
    if asked != Version::Auto || !tls(base) || !tls(target) {
        return None;
    }
    let b = base.response.as_ref()?.version?;
    let t = target.response.as_ref()?.version?;
    if b == t {
        return None;
    }
    Some(
        Finding::new(
            FindingKind::HttpVersion,
            Level::Warn,
            Some(check),
            Some(target_name),
            format!(
                "answered over {} where {base_name} answered over {}: clients that negotiate (browsers, most API clients) talk to the two paths differently",
                t.as_str(),
                b.as_str()
            ),
        )
        .with_evidence(Evidence::Compared {
            what: "HTTP version (ALPN)".into(),
            baseline_target: base_name.to_owned(),
            baseline: b.as_str().into(),
            target: t.as_str().into(),
        })
        .with_hint(if t == Protocol::H2 {
            "the old path answers http/1.1: if that is intended (ingress-nginx `use-http2: \"false\"`), the gateway is right to offer h2; check the app behind it takes HTTP/2 semantics (no hop-by-hop headers, lower-case names)"
        } else {
            "offer h2 on the gateway's HTTPS listener (Envoy chooses h2 only when its TLS context lists it in ALPN; kgateway sets this on the listener), or pin `version: h1` in the check if HTTP/1.1 is intended"
        }),
    )
}
