//! Judging hostname variants side by side: the same request with the Host
//! as written, with a trailing dot, in upper case and with a port.
//!
//! nginx routes every variant like the bare name. A Gateway API HTTPRoute's
//! `hostnames` entry matches exactly: Envoy keeps a trailing dot when it
//! picks a route (unless `strip_trailing_host_dot` is set) and, unless the
//! implementation ignores it, the port too; host names are matched without
//! case. A variant the baseline routes and the target answers with a
//! proxy-made 404 is a `hostname_mismatch` with the variant's own remedy.
//! A 404 both targets give is not the target's fault: it is said once, as
//! inconclusive, since the variants then prove nothing.
//! Invariant: pure.

use super::finding::{Evidence, Finding, FindingKind, Level};
use super::hints::{variant_hint, HOSTNAME_HINT};
use super::sides::{answer, Sides};
use crate::probe::hostnames::{HostnamesResult, Variant};
use crate::probe::{Origin, Sample};

/// A 404 the proxy made itself: no route for this Host and path.
fn route_miss(s: &Sample) -> bool {
    s.response
        .as_ref()
        .is_some_and(|r| r.status == 404 && r.origin != Origin::App)
}

fn answered(s: &Sample) -> bool {
    s.response.is_some()
}

/// The findings of `t` against the baseline's `b`.
pub fn compare(side: &Sides, b: &HostnamesResult, t: &HostnamesResult) -> Vec<Finding> {
    let (base, target) = (side.baseline, side.target);
    let (b0, t0) = (b.as_written(), t.as_written());
    let host = &t.samples[0].host;
    let evidence = |what: String, bs: &Sample, ts: &Sample| Evidence::Compared {
        what,
        baseline_target: base.to_owned(),
        baseline: answer(bs),
        target: answer(ts),
    };
    if route_miss(t0) && route_miss(b0) {
        return vec![side.finding(
            FindingKind::HostnameMismatch,
            Level::Inconclusive,
            format!(
                "neither target routes Host `{host}` on {} (404 on both), so its variants prove nothing: point the check's `path:` at a route that exists",
                t0.url
            ),
        )];
    }
    if route_miss(t0) && answered(b0) {
        return vec![side
            .finding(
                FindingKind::HostnameMismatch,
                Level::Fail,
                format!(
                    "{target} does not route Host `{host}` itself: {} where {base} gave {}",
                    answer(t0),
                    answer(b0)
                ),
            )
            .with_hint(HOSTNAME_HINT)
            .with_evidence(evidence(format!("answer for Host `{host}`"), b0, t0))];
    }
    let mut out = Vec::new();
    for (bv, tv) in b.samples.iter().zip(&t.samples).skip(1) {
        let (bs, ts) = (&bv.sample, &tv.sample);
        let sent = &tv.host;
        let what = format!("answer for Host `{sent}`");
        if route_miss(ts) && answered(bs) && !route_miss(bs) {
            out.push(
                side.finding(
                    FindingKind::HostnameMismatch,
                    Level::Fail,
                    format!(
                        "{target} has no route for Host `{sent}` ({}): {} where {base} gave {}; `{host}` itself routes on both",
                        describe(tv.variant),
                        answer(ts),
                        answer(bs)
                    ),
                )
                .with_hint(variant_hint(tv.variant))
                .with_evidence(evidence(what, bs, ts)),
            );
        } else if let (Some(rb), Some(rt)) = (&bs.response, &ts.response) {
            if !route_miss(bs) && !route_miss(ts) && rb.status != rt.status {
                out.push(
                    side.finding(
                        FindingKind::HostnameMismatch,
                        Level::Warn,
                        format!(
                            "Host `{sent}` ({}) gets {} through {target} and {} through {base}",
                            describe(tv.variant),
                            answer(ts),
                            answer(bs)
                        ),
                    )
                    .with_evidence(evidence(what, bs, ts)),
                );
            }
        }
    }
    out
}

fn describe(v: Variant) -> &'static str {
    match v {
        Variant::AsWritten => "as written",
        Variant::TrailingDot => "a trailing dot",
        Variant::UpperCase => "upper case",
        Variant::Port => "an explicit port",
    }
}
