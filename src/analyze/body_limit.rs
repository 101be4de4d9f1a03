//! Judging body-size limits side by side: an upload just below and one just
//! above the check's `size`, through each target.
//!
//! A 413 is a refusal, whoever produced it (the origin is said). A target
//! that accepts what the baseline refuses, or refuses what it accepts, is a
//! `body_limit` finding with the gateway-side remedy. Invariant: pure.

use super::finding::{Evidence, Finding, FindingKind, Level};
use super::sides::{answer, Sides};
use crate::probe::body_limit::BodyLimitResult;
use crate::probe::Sample;
use crate::scenario::units::format_size;

const HINT: &str = "ingress-nginx refuses bodies over `proxy-body-size` (default 1m) with 413; Envoy has no such limit on a proxied route unless a policy sets one: Envoy Gateway BackendTrafficPolicy `requestBuffer.limit`, kgateway TrafficPolicy `buffer.maxRequestSize`, attached to the same HTTPRoute, set to the ingress's value (or the app must refuse oversized uploads itself)";

fn refused(s: &Sample) -> Option<bool> {
    s.status().map(|st| st == 413)
}

/// The findings of `t` against the baseline's `b`; `sizes` are the bytes of
/// the uploads below and above the limit.
pub fn compare(
    side: &Sides,
    b: &BodyLimitResult,
    t: &BodyLimitResult,
    sizes: (u64, u64),
) -> Vec<Finding> {
    let mut out = Vec::new();
    let (base, target) = (side.baseline, side.target);
    for (bytes, bs, ts) in [(sizes.0, &b.below, &t.below), (sizes.1, &b.above, &t.above)] {
        let (Some(br), Some(tr)) = (refused(bs), refused(ts)) else {
            continue;
        };
        if br == tr {
            continue;
        }
        let size = format_size(bytes);
        let message = if br {
            format!(
                "{target} accepted an upload of {size} ({bytes} bytes) with {}, which {base} refuses with {}",
                answer(ts),
                answer(bs)
            )
        } else {
            format!(
                "{target} refused an upload of {size} ({bytes} bytes) with {}, which {base} accepts with {}",
                answer(ts),
                answer(bs)
            )
        };
        out.push(
            side.finding(FindingKind::BodyLimit, Level::Fail, message)
                .with_hint(HINT)
                .with_evidence(Evidence::Compared {
                    what: format!("status for {bytes} bytes"),
                    baseline_target: base.to_owned(),
                    baseline: bs.status().map(|s| s.to_string()).unwrap_or_default(),
                    target: ts.status().map(|s| s.to_string()).unwrap_or_default(),
                }),
        );
    }
    out
}
