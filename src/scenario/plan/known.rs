//! `known_differences:` entries: findings the team accepts.
//!
//! Each entry names at least one of a check, a target or a finding kind that
//! exists (misspellings get a did-you-mean) and gives a reason. Where the
//! entry is written is kept, so an entry that matches nothing at run time can
//! be pointed at.

use std::path::Path;

use super::ctx::Ctx;
use super::targets::TargetNames;
use crate::analyze::known::KnownDifference;
use crate::analyze::FindingKind;
use crate::scenario::model::RawKnownDifference;
use crate::scenario::yaml::{unknown_message, At, Lenient};

pub(super) fn build_known<'r>(
    cx: &Ctx,
    path: &Path,
    raw: impl Iterator<Item = &'r Lenient<At<RawKnownDifference>>>,
    checks: &[String],
    targets: &TargetNames,
) -> Vec<KnownDifference> {
    let kinds: Vec<&str> = FindingKind::ALL.iter().map(|k| k.as_str()).collect();
    let checks: Vec<&str> = checks.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    for Lenient(k) in raw {
        let Some(k) = k else { continue };
        let mut ok = true;
        let mut named = |v: &Option<At<String>>, what: &str, allowed: &[&str]| {
            v.as_ref().map(|v| {
                if !allowed.contains(&v.value.as_str()) {
                    cx.err(v.loc, unknown_message(what, &v.value, allowed));
                    ok = false;
                }
                v.value.clone()
            })
        };
        let check = named(&k.check, "check", &checks);
        let kind = named(&k.kind, "finding kind", &kinds).and_then(|k| FindingKind::parse(&k));
        let target = k.target.as_ref().and_then(|t| {
            let found = targets.resolve(cx, t).map(|_| t.value.clone());
            ok &= found.is_some();
            found
        });
        if k.check.is_none() && k.target.is_none() && k.kind.is_none() {
            cx.err(
                k.loc,
                "a known difference names at least one of `check`, `target` or `kind`",
            );
            ok = false;
        }
        let reason = match &k.reason {
            Some(r) if !r.value.trim().is_empty() => r.value.clone(),
            _ => {
                cx.err(
                    k.loc,
                    "a known difference needs a `reason`: say why the team accepts it",
                );
                ok = false;
                String::new()
            }
        };
        if ok {
            out.push(KnownDifference {
                check,
                target,
                kind,
                reason,
                at: format!("{}:{}", path.display(), k.loc),
            });
        }
    }
    out
}
