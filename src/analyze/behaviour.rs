//! Judging behaviour checks: both targets side by side.
//!
//! A behaviour check (rate limit, body limit, route timeout, redirect,
//! forwarded headers, hostname variants) is judged by comparing each target
//! with the baseline target, one analyzer per kind: [`super::rate_limit`],
//! [`super::body_limit`], [`super::route_timeout`], [`super::redirect`],
//! [`super::forwarded`], [`super::hostnames`]. Their findings concern the compared target (the
//! gateway), carry the origin of the answers and a remedy for the gateway
//! side. A target that gave no answer at all is a `probe_error` of its own.
//! Invariants: pure; without the baseline's result nothing is compared.

use super::finding::{Finding, FindingKind, Level};
use super::sides::Sides;
use crate::probe::behaviour::BehaviourResult;
use crate::probe::ProbeResult;
use crate::run::CheckPass;
use crate::scenario::plan::{Plan, ProbeSpec};

/// The findings of behaviour check `ci`.
pub fn judge(plan: &Plan, pass: &CheckPass, ci: usize) -> Vec<Finding> {
    let check = &plan.checks[ci];
    let ProbeSpec::Behaviour(spec) = &check.probe else {
        return Vec::new();
    };
    let result = |ti: usize| match &pass.samples[ci][ti] {
        Some(ProbeResult::Behaviour(b)) => Some(b),
        _ => None,
    };
    let mut out = Vec::new();
    for &ti in &check.targets {
        let Some(r) = result(ti) else { continue };
        let s = r.primary();
        if s.response.is_none() {
            if let Some(e) = &s.error {
                out.push(Finding::new(
                    FindingKind::ProbeError,
                    Level::Fail,
                    Some(&check.name),
                    Some(&plan.targets[ti].name),
                    format!("no answer through {}: {e}", plan.targets[ti].name),
                ));
            }
        }
    }
    let base = plan.baseline;
    if !check.targets.contains(&base) {
        return out;
    }
    let Some(b) = result(base) else { return out };
    let base_name = plan.targets[base].name.as_str();
    for &ti in check.targets.iter().filter(|&&ti| ti != base) {
        let Some(t) = result(ti) else { continue };
        let side = Sides {
            check: &check.name,
            baseline: base_name,
            target: &plan.targets[ti].name,
        };
        let found = match (spec, b, t) {
            (_, BehaviourResult::RateLimit(b), BehaviourResult::RateLimit(t)) => {
                super::rate_limit::compare(&side, b, t)
            }
            (
                crate::probe::behaviour::BehaviourSpec::BodyLimit(l),
                BehaviourResult::BodyLimit(b),
                BehaviourResult::BodyLimit(t),
            ) => super::body_limit::compare(&side, b, t, l.sizes()),
            (_, BehaviourResult::RouteTimeout(b), BehaviourResult::RouteTimeout(t)) => {
                super::route_timeout::compare(&side, b, t)
            }
            (
                crate::probe::behaviour::BehaviourSpec::Redirect(r),
                BehaviourResult::Redirect(b),
                BehaviourResult::Redirect(t),
            ) => super::redirect::compare(&side, r.request.method.as_str(), b, t),
            (_, BehaviourResult::Forwarded(b), BehaviourResult::Forwarded(t)) => {
                super::forwarded::compare(&side, b, t)
            }
            (_, BehaviourResult::Hostnames(b), BehaviourResult::Hostnames(t)) => {
                super::hostnames::compare(&side, b, t)
            }
            _ => Vec::new(),
        };
        out.extend(found);
    }
    out
}
