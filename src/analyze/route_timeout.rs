//! Judging route timeouts side by side: one slow request through each
//! target, and who gave up first, after how long and with what.
//!
//! A 504 a proxy produced is a route timeout; the check's own timeout is
//! "no answer within it". A target that times out where the baseline
//! answered (or the reverse), or that gives up much sooner or later, is a
//! `route_timeout` finding naming HTTPRoute `timeouts.request`.
//! Invariant: pure.

use super::finding::{Evidence, Finding, FindingKind, Level};
use super::sides::{answer, Sides};
use crate::probe::{ErrorKind, Origin, Sample};

const HINT: &str = "Envoy's route timeout is 15 s by default (kgateway, Envoy Gateway), ingress-nginx waits `proxy-read-timeout` (60 s by default, or the route's `nginx.ingress.kubernetes.io/proxy-read-timeout`): set the HTTPRoute rule's `timeouts.request` (and `timeouts.backendRequest`) to the ingress's value for this route";

/// How a slow request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// A proxy answered 504.
    ProxyTimeout,
    /// No answer within the check's own timeout.
    CheckTimeout,
    /// Something else answered.
    Answered,
    /// A transport failure.
    Failed,
}

fn end(s: &Sample) -> End {
    match (&s.response, &s.error) {
        (Some(r), _) if r.status == 504 && r.origin != Origin::App => End::ProxyTimeout,
        (Some(_), _) => End::Answered,
        (None, Some(e)) if e.kind == ErrorKind::Timeout => End::CheckTimeout,
        (None, _) => End::Failed,
    }
}

fn what(s: &Sample) -> String {
    format!("{} after {:.1} s", answer(s), s.latency.as_secs_f64())
}

/// The findings of `t` against the baseline's `b`.
pub fn compare(side: &Sides, b: &Sample, t: &Sample) -> Vec<Finding> {
    let (base, target) = (side.baseline, side.target);
    let (eb, et) = (end(b), end(t));
    let evidence = || Evidence::Compared {
        what: "seconds until the answer".into(),
        baseline_target: base.to_owned(),
        baseline: format!("{:.1}", b.latency.as_secs_f64()),
        target: format!("{:.1}", t.latency.as_secs_f64()),
    };
    let message = match (eb, et) {
        (End::Failed, _) | (_, End::Failed) => return Vec::new(),
        (x, y) if x == y => {
            let (lb, lt) = (b.latency.as_secs_f64(), t.latency.as_secs_f64());
            if x == End::ProxyTimeout && (lb - lt).abs() > 1.0_f64.max(lb * 0.2) {
                return vec![side
                    .finding(
                        FindingKind::RouteTimeout,
                        Level::Warn,
                        format!(
                            "both time out, {target} with {} and {base} with {}",
                            what(t),
                            what(b)
                        ),
                    )
                    .with_hint(HINT)
                    .with_evidence(evidence())];
            }
            return Vec::new();
        }
        (_, End::ProxyTimeout) => format!(
            "{target} timed out first: {}, where {base} gave {}",
            what(t),
            match eb {
                End::CheckTimeout => "no answer within the check's timeout".to_owned(),
                _ => what(b),
            }
        ),
        (End::ProxyTimeout, _) => format!(
            "{target} waits longer than {base}: {base} timed out with {}, {target} gave {}",
            what(b),
            match et {
                End::CheckTimeout => "no answer within the check's timeout".to_owned(),
                _ => what(t),
            }
        ),
        _ => format!(
            "the slow request ends differently: {target} gave {}, {base} gave {}",
            what(t),
            what(b)
        ),
    };
    vec![side
        .finding(FindingKind::RouteTimeout, Level::Fail, message)
        .with_hint(HINT)
        .with_evidence(evidence())]
}
