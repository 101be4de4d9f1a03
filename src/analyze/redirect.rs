//! Judging plain-HTTP redirects side by side: the status and `Location` of
//! each target's answer to a plain-HTTP request.
//!
//! ingress-nginx's ssl-redirect answers 308 (the method is kept); Gateway
//! API `RequestRedirect` allows 301 or 302, which clients follow with GET
//! after a POST. A difference is a failure when a client would behave
//! differently: one side does not redirect, the `Location` differs, or the
//! method is kept on one side only for a request that is not GET or HEAD.
//! For GET and HEAD the same difference is a warning (caching and
//! permanence still differ). Invariant: pure.

use super::finding::{Evidence, Finding, FindingKind, Level};
use super::sides::{answer, Sides};
use crate::probe::redirect::{keeps_method, permanent};
use crate::probe::Sample;

const HINT: &str = "ingress-nginx redirects plain HTTP with 308 (`ssl-redirect`), which keeps the method; a Gateway API HTTPRoute `RequestRedirect` filter (`scheme: https`) answers 301 or 302 (`statusCode`), after which browsers and most clients send a POST again as GET: point clients that POST at https directly, or keep 301 for GET-only routes";

fn redirect_of(s: &Sample) -> Option<(u16, Option<String>)> {
    let r = s.response.as_ref()?;
    (300..400)
        .contains(&r.status)
        .then(|| (r.status, r.header("location")))
}

/// The findings of `t` against the baseline's `b` for a request of `method`.
pub fn compare(side: &Sides, method: &str, b: &Sample, t: &Sample) -> Vec<Finding> {
    let (base, target) = (side.baseline, side.target);
    if b.response.is_none() || t.response.is_none() {
        return Vec::new();
    }
    let evidence = |what: &str, bv: String, tv: String| Evidence::Compared {
        what: what.into(),
        baseline_target: base.to_owned(),
        baseline: bv,
        target: tv,
    };
    let status = |s: &Sample| s.status().map(|s| s.to_string()).unwrap_or_default();
    let mut out = Vec::new();
    match (redirect_of(b), redirect_of(t)) {
        (None, None) => {}
        (Some(_), None) | (None, Some(_)) => out.push(
            side.finding(
                FindingKind::Redirect,
                Level::Fail,
                format!(
                    "a plain-HTTP request gets {} through {target} but {} through {base}",
                    describe(t),
                    describe(b)
                ),
            )
            .with_hint(HINT)
            .with_evidence(evidence("status", status(b), status(t))),
        ),
        (Some((sb, lb)), Some((st, lt))) => {
            if lb != lt {
                out.push(
                    side.finding(
                        FindingKind::Redirect,
                        Level::Fail,
                        format!(
                            "the redirect goes elsewhere: {target} to {}, {base} to {}",
                            lt.as_deref().unwrap_or("nowhere (no Location)"),
                            lb.as_deref().unwrap_or("nowhere (no Location)")
                        ),
                    )
                    .with_hint("make the HTTPRoute's RequestRedirect keep the host and path (set only `scheme: https`), as ingress-nginx's ssl-redirect does")
                    .with_evidence(evidence(
                        "location",
                        lb.clone().unwrap_or_default(),
                        lt.clone().unwrap_or_default(),
                    )),
                );
            }
            if sb != st {
                let method_changes = keeps_method(sb) != keeps_method(st);
                let safe = matches!(method, "GET" | "HEAD");
                let level = if method_changes && !safe {
                    Level::Fail
                } else {
                    Level::Warn
                };
                let mut why = Vec::new();
                if method_changes {
                    let (keeps, drops) = if keeps_method(sb) {
                        (base, target)
                    } else {
                        (target, base)
                    };
                    why.push(format!(
                        "a client following it repeats the {method} through {keeps} but may switch to GET through {drops}"
                    ));
                }
                if permanent(sb) != permanent(st) {
                    why.push(format!(
                        "{} is {} and {} is {}",
                        sb,
                        if permanent(sb) {
                            "permanent (cached)"
                        } else {
                            "temporary"
                        },
                        st,
                        if permanent(st) {
                            "permanent (cached)"
                        } else {
                            "temporary"
                        }
                    ));
                }
                out.push(
                    side.finding(
                        FindingKind::Redirect,
                        level,
                        format!(
                            "plain HTTP is redirected with {st} through {target} and {sb} through {base}{}",
                            if why.is_empty() { String::new() } else { format!(": {}", why.join("; ")) }
                        ),
                    )
                    .with_hint(HINT)
                    .with_evidence(evidence("status", sb.to_string(), st.to_string())),
                );
            }
        }
    }
    out
}

fn describe(s: &Sample) -> String {
    match redirect_of(s) {
        Some((status, Some(l))) => format!("a {status} redirect to {l}"),
        Some((status, None)) => format!("a {status} without Location"),
        None => format!("no redirect ({})", answer(s)),
    }
}
