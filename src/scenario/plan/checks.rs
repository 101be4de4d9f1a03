//! The `checks` section: each check's name, the targets it runs against, its
//! probe (`probes.rs`) and its rules (`expect.rs`).
//!
//! Invariants: check names are unique (a duplicate is reported and skipped);
//! a check without `targets:` runs against every target, in declared order;
//! a check whose probe failed to build is left out (its error is reported,
//! so no plan is returned).

use super::ctx::Ctx;
use super::expect::build_rules;
use super::probes::build_probe;
use super::targets::TargetNames;
use super::{Check, Defaults};
use crate::scenario::model::RawCheck;
use crate::scenario::yaml::{At, Lenient, Loc};

/// The built checks, and the names of every declared check (the load's mix
/// and socket stages refer to checks by these).
pub(super) fn build_checks(
    cx: &mut Ctx,
    raw: Option<&At<Vec<Lenient<RawCheck>>>>,
    root: Loc,
    host: &str,
    defaults: &Defaults,
    targets: &TargetNames,
) -> (Vec<Check>, Vec<String>) {
    let mut checks = Vec::new();
    let mut check_names: Vec<String> = Vec::new();
    match raw {
        None => cx.err(root, "no checks: add at least one under `checks:`"),
        Some(c) if c.is_empty() => cx.err(c.loc, "no checks: add at least one under `checks:`"),
        Some(c) => {
            for Lenient(rc) in c.iter() {
                let Some(rc) = rc else { continue };
                if check_names.contains(&rc.name.value) {
                    cx.err(
                        rc.name.loc,
                        format!("duplicate check name `{}`", rc.name.value),
                    );
                    continue;
                }
                check_names.push(rc.name.value.clone());
                checks.extend(build_check(cx, rc, host, defaults, targets));
            }
        }
    }
    (checks, check_names)
}

fn build_check(
    cx: &mut Ctx,
    rc: &RawCheck,
    host: &str,
    defaults: &Defaults,
    targets: &TargetNames,
) -> Option<Check> {
    let check_targets: Vec<usize> = match &rc.targets {
        Some(list) => list.iter().filter_map(|r| targets.resolve(cx, r)).collect(),
        None => (0..targets.len()).collect(),
    };
    let probe = build_probe(cx, rc, defaults, host);
    if let (Some(super::ProbeSpec::Behaviour(b)), true) =
        (&probe, rc.expect.is_some() || rc.parity.is_some())
    {
        cx.err(
            rc.name.loc,
            format!(
                "check `{}` is a `{}:` check, judged by comparing the targets: remove its `expect:` and `parity:`",
                rc.name.value,
                b.kind()
            ),
        );
        return None;
    }
    let rules = build_rules(cx, rc, targets);
    Some(Check {
        name: rc.name.value.clone(),
        targets: check_targets,
        probe: probe?,
        expect: rules.expect,
        parity: rules.parity,
        cors_expect: rules.cors_expect,
        dns_expect: rules.dns_expect,
        grpc_expect: rules.grpc_expect,
    })
}
