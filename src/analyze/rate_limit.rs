//! Judging rate limits side by side: whether each target limits, where
//! limiting starts, with what answer and from whom, and whether the bucket
//! is per client or shared.
//!
//! A source's bucket is **shared** when the next source address is limited
//! at its first request, right after the first source was limited; it is
//! **per client** when the next source gets through again. ingress-nginx's
//! `limit-req` is per client address (per controller pod) and answers 503;
//! kgateway's and Envoy Gateway's local rate limit is one bucket per gateway
//! pod answering 429 `local_rate_limited`. Invariant: pure; a difference is
//! said once, about the compared target.

use super::finding::{Evidence, Finding, FindingKind, Level};
use super::sides::{answer, Sides};
use crate::probe::rate_limit::{Burst, RateLimitResult};

/// What per-client limiting on the gateway takes.
pub const SHARED_HINT: &str = "kgateway's and Envoy Gateway's local rate limit is one token bucket per gateway pod, shared by every client; per-client limits need a global rate limit keyed on the client address: kgateway TrafficPolicy `rateLimit.global` with a `remoteAddress` descriptor and a rate-limit service, or Envoy Gateway BackendTrafficPolicy `rateLimit.type: Global` with a `clientSelectors` `sourceCIDR` of `type: Distinct` (Redis-backed)";

const STATUS_HINT: &str = "ingress-nginx answers a limited request 503 unless the ConfigMap sets `limit-req-status-code`; Envoy's local rate limit answers 429 `local_rate_limited` (the global one adds `x-envoy-ratelimited`). Set `limit-req-status-code: \"429\"` on the ingress before the cutover so clients see one answer, and make sure clients retry a 429 with backoff";

const MISSING_HINT: &str = "ingress-nginx limits with the `nginx.ingress.kubernetes.io/limit-rps` / `limit-rpm` annotations; on the gateway add kgateway TrafficPolicy `rateLimit.local.tokenBucket` (or `rateLimit.global`), or Envoy Gateway BackendTrafficPolicy `rateLimit`, attached to the same HTTPRoute";

/// How a source's bucket behaved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    /// The second source got through again.
    PerClient,
    /// The second source was limited at once.
    Shared,
    /// Not limited, or only one source: not known.
    Unknown,
}

/// Per client or shared, from the bursts of one target.
pub fn bucket(r: &RateLimitResult) -> Bucket {
    match (r.bursts.first(), r.bursts.get(1)) {
        (Some(first), Some(second)) if first.first_limited.is_some() => {
            match second.first_limited {
                Some(1) => Bucket::Shared,
                _ if second.passed > 0 => Bucket::PerClient,
                _ => Bucket::Unknown,
            }
        }
        _ => Bucket::Unknown,
    }
}

fn limited_at(b: &Burst) -> Option<(u32, String)> {
    Some((b.first_limited?, answer(b.limited.as_ref()?)))
}

/// The findings of `t` against the baseline's `b`.
pub fn compare(side: &Sides, b: &RateLimitResult, t: &RateLimitResult) -> Vec<Finding> {
    let mut out = Vec::new();
    let (Some(bb), Some(tb)) = (b.bursts.first(), t.bursts.first()) else {
        return out;
    };
    let (base, target) = (side.baseline, side.target);
    match (limited_at(bb), limited_at(tb)) {
        (None, None) => {}
        (Some((k, a)), None) => out.push(
            side.finding(
                FindingKind::RateLimit,
                Level::Fail,
                format!(
                    "{target} did not limit any of {} requests, where {base} limited from request {k} with {a}",
                    tb.sent
                ),
            )
            .with_hint(MISSING_HINT),
        ),
        (None, Some((k, a))) => out.push(
            side.finding(
                FindingKind::RateLimit,
                Level::Fail,
                format!(
                    "{target} limited from request {k} with {a}, where {base} limited none of {} requests",
                    bb.sent
                ),
            )
            .with_hint("the gateway's rate limit is tighter than the ingress's: raise its token bucket (kgateway TrafficPolicy `rateLimit.local.tokenBucket.maxTokens`, Envoy Gateway BackendTrafficPolicy `rateLimit` limit) to the ingress's `limit-rps` × `limit-burst-multiplier`"),
        ),
        (Some((kb, ab)), Some((kt, at))) => {
            let (sb, st) = (status_of(bb), status_of(tb));
            if sb != st {
                out.push(
                    side.finding(
                        FindingKind::RateLimit,
                        Level::Fail,
                        format!(
                            "a limited request gets {at} through {target}, but {ab} through {base}"
                        ),
                    )
                    .with_hint(STATUS_HINT)
                    .with_evidence(Evidence::Compared {
                        what: "limited status".into(),
                        baseline_target: base.to_owned(),
                        baseline: sb.map(|s| s.to_string()).unwrap_or_default(),
                        target: st.map(|s| s.to_string()).unwrap_or_default(),
                    }),
                );
            }
            let slack = (kb / 4).max(2);
            if kt.abs_diff(kb) > slack {
                out.push(
                    side.finding(
                        FindingKind::RateLimit,
                        Level::Warn,
                        format!(
                            "{target} starts limiting at request {kt} ({} got through), {base} at request {kb} ({} got through)",
                            tb.passed, bb.passed
                        ),
                    )
                    .with_hint("size the gateway's bucket like the ingress's: ingress-nginx lets `limit-rps` × `limit-burst-multiplier` (default 5) through at once; kgateway's `tokenBucket.maxTokens` and Envoy Gateway's `limit.requests` are the whole burst")
                    .with_evidence(Evidence::Compared {
                        what: "first limited request".into(),
                        baseline_target: base.to_owned(),
                        baseline: kb.to_string(),
                        target: kt.to_string(),
                    }),
                );
            }
            match (bucket(b), bucket(t)) {
                (Bucket::PerClient, Bucket::Shared) => out.push(
                    side.finding(
                        FindingKind::RateLimitShared,
                        Level::Fail,
                        format!(
                            "{target} limits every client from one shared bucket: right after {} was limited, {} was limited at its first request, where {base} let it through again ({} requests) as a per-client limit does",
                            source_name(tb),
                            source_name(&t.bursts[1]),
                            b.bursts[1].passed,
                        ),
                    )
                    .with_hint(SHARED_HINT),
                ),
                (Bucket::Shared, Bucket::PerClient) => out.push(side.finding(
                    FindingKind::RateLimitShared,
                    Level::Info,
                    format!("{target} limits per client where {base} limits from one shared bucket"),
                )),
                (_, Bucket::Unknown) | (Bucket::Unknown, _) if t.bursts.len() < 2 || b.bursts.len() < 2 => {
                    out.push(side.finding(
                        FindingKind::RateLimitShared,
                        Level::Info,
                        "whether the limit is per client or one shared bucket is not known from one source address: give the check `source_addresses:` with two addresses of this machine".to_owned(),
                    ));
                }
                _ => {}
            }
        }
    }
    out
}

fn status_of(b: &Burst) -> Option<u16> {
    b.limited.as_ref().and_then(|s| s.status())
}

fn source_name(b: &Burst) -> String {
    match b.source {
        Some(ip) => ip.to_string(),
        None => "the first source".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{Origin, Response, Sample};
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn answer_of(status: u16, origin: Origin) -> Sample {
        Sample {
            url: "http://x/".into(),
            response: Some(Response {
                status,
                origin,
                ..Response::default()
            }),
            error: None,
            latency: Duration::ZERO,
            ttfb: None,
        }
    }

    fn burst(ip: u8, passed: u32, limited: Option<(u16, Origin)>) -> Burst {
        Burst {
            source: Some(std::net::IpAddr::from([127, 0, 0, ip])),
            sent: passed + u32::from(limited.is_some()),
            passed,
            first_limited: limited.map(|_| passed + 1),
            limited: limited.map(|(s, o)| answer_of(s, o)),
            first: Some(answer_of(200, Origin::App)),
            errors: 0,
            statuses: BTreeMap::new(),
        }
    }

    fn result(bursts: Vec<Burst>) -> RateLimitResult {
        RateLimitResult {
            summary: answer_of(200, Origin::App),
            bursts,
        }
    }

    const SIDES: Sides = Sides {
        check: "limit",
        baseline: "ingress",
        target: "gateway",
    };

    #[test]
    fn a_shared_bucket_where_the_baseline_limits_per_client_fails_with_the_global_limit_hint() {
        let b = result(vec![
            burst(1, 5, Some((503, Origin::Ingress))),
            burst(2, 5, Some((503, Origin::Ingress))),
        ]);
        let t = result(vec![
            burst(1, 5, Some((429, Origin::Gateway))),
            burst(2, 0, Some((429, Origin::Gateway))),
        ]);
        let f = compare(&SIDES, &b, &t);
        let kinds: Vec<FindingKind> = f.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            vec![FindingKind::RateLimit, FindingKind::RateLimitShared]
        );
        assert!(
            f[0].message.contains("429 from gateway"),
            "{}",
            f[0].message
        );
        assert!(
            f[0].message.contains("503 from ingress"),
            "{}",
            f[0].message
        );
        assert!(f[1].hint.as_deref().unwrap_or("").contains("remoteAddress"));
    }

    #[test]
    fn the_same_per_client_limit_with_the_same_status_is_no_finding() {
        let b = result(vec![
            burst(1, 5, Some((429, Origin::Ingress))),
            burst(2, 5, Some((429, Origin::Ingress))),
        ]);
        let t = result(vec![
            burst(1, 6, Some((429, Origin::Gateway))),
            burst(2, 5, Some((429, Origin::Gateway))),
        ]);
        assert_eq!(compare(&SIDES, &b, &t), vec![]);
    }

    #[test]
    fn a_limit_missing_on_the_gateway_fails() {
        let b = result(vec![burst(1, 5, Some((503, Origin::Ingress)))]);
        let t = result(vec![burst(1, 20, None)]);
        let f = compare(&SIDES, &b, &t);
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("did not limit any of 20"));
    }
}
