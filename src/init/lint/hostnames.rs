//! `hostname_mismatch`: Ingress hosts, HTTPRoute hostnames and Gateway
//! listener hostnames that do not line up exactly.
//!
//! Facts it rests on:
//!
//! - A Gateway API `Hostname` is lower-case letters, digits, dashes and
//!   dots, optionally after one leading `*.` label, with no trailing dot
//!   (the CRD's validation pattern): the API server rejects an HTTPRoute
//!   listing `shop.example.test.` or `Shop.example.test`.
//! - A wildcard HTTPRoute hostname is a suffix match of one or more labels
//!   (`*.example.test` matches `a.b.example.test`, never `example.test`);
//!   the Ingress API's wildcard host matches exactly one label.
//! - An HTTPRoute without `hostnames` takes every hostname of the listeners
//!   it attaches to; one with hostnames attaches to a listener only for the
//!   names both allow (a listener without `hostname` allows all). When no
//!   name is left the route is not accepted by that listener (`Accepted:
//!   False`, reason `NoMatchingListenerHostname`).
//! - The gateway answers 404 for a host no route lists; nginx answered it
//!   from the Ingress.
//!
//! What is reported: an HTTPRoute hostname that is not a valid Gateway API
//! hostname (naming the Ingress host it differs from by case or a trailing
//! dot); a wildcard HTTPRoute hostname where the Ingress names hosts
//! exactly (warn: it answers other subdomains too); an Ingress host no
//! HTTPRoute serves (fail); an HTTPRoute hostname no Ingress has (warn: new
//! on the gateway, so nothing to compare with); an HTTPRoute hostname no
//! listener of its parent Gateway allows (fail). Ingresses of class `alb`
//! are the new path's and are not compared.

use super::{
    and_list, covers, intersects, is_alb, object, ticked, valid_gateway_hostname, Lint, LintLevel,
    LintRule,
};
use crate::init::k8s::{Gateway, HttpRoute, Listener, Manifests, ObjectRef, Sourced};

pub(super) fn lint(m: &Manifests) -> Vec<Lint> {
    let ingress_hosts = ingress_hosts(m);
    let mut out = Vec::new();
    for route in &m.routes {
        for h in &route.object.spec.hostnames {
            if let Some(l) = route_hostname(route, h, &ingress_hosts) {
                out.push(l);
            }
        }
    }
    for (host, ingress) in &ingress_hosts {
        if !served(m, host) {
            out.push(unserved(ingress, host, m));
        }
    }
    for route in &m.routes {
        out.extend(listeners(m, route));
    }
    out
}

/// Every host of the ingress-nginx Ingresses with the first Ingress that
/// lists it, in reading order.
fn ingress_hosts(m: &Manifests) -> Vec<(String, &Sourced<crate::init::k8s::Ingress>)> {
    let mut hosts: Vec<(String, &Sourced<_>)> = Vec::new();
    for ing in m.ingresses.iter().filter(|i| !is_alb(&i.object)) {
        for rule in &ing.object.spec.rules {
            if let Some(h) = &rule.host {
                if !hosts.iter().any(|(x, _)| x == h) {
                    hosts.push((h.clone(), ing));
                }
            }
        }
    }
    hosts
}

/// Whether some HTTPRoute answers for the Ingress `host`: lists it, covers
/// it with a wildcard, lists a name that differs only by case or a
/// trailing dot (reported on the route), or lists no hostnames.
fn served(m: &Manifests, host: &str) -> bool {
    m.routes.iter().any(|r| {
        let names = &r.object.spec.hostnames;
        names.is_empty()
            || names
                .iter()
                .any(|n| covers(n, host) || normalized(n) == normalized(host))
    })
}

fn normalized(h: &str) -> String {
    h.trim_end_matches('.').to_ascii_lowercase()
}

fn route_hostname(
    route: &Sourced<HttpRoute>,
    h: &str,
    ingress_hosts: &[(String, &Sourced<crate::init::k8s::Ingress>)],
) -> Option<Lint> {
    if ingress_hosts.iter().any(|(x, _)| x == h) {
        return None;
    }
    let lint = |level, message: String, hint: String| Lint {
        rule: LintRule::HostnameMismatch,
        level,
        source: route.source.clone(),
        object: object("HTTPRoute", &route.object.metadata),
        message,
        hint,
    };
    let id = route.object.metadata.id();
    if !valid_gateway_hostname(h) {
        let near = ingress_hosts
            .iter()
            .find(|(x, _)| normalized(x) == normalized(h));
        let what = match near {
            Some((x, ing)) => format!(
                "which differs from host `{x}` of Ingress {} only by {} and ",
                ing.object.metadata.id(),
                difference(h, x)
            ),
            None => "which ".to_owned(),
        };
        let fixed = near.map_or_else(|| normalized(h), |(x, _)| x.clone());
        return Some(lint(
            LintLevel::Fail,
            format!(
                "HTTPRoute {id} lists hostname `{h}`, {what}is not a valid Gateway API hostname (lower case, no trailing dot): the API server rejects the route."
            ),
            format!(
                "Write `{fixed}` in HTTPRoute {id} `spec.hostnames`; clients that send `{h}` in the Host header are a separate question (cutover's hostnames check shows how each side answers them)."
            ),
        ));
    }
    if h.starts_with("*.") {
        let covered: Vec<&str> = ingress_hosts
            .iter()
            .filter(|(x, _)| covers(h, x))
            .map(|(x, _)| x.as_str())
            .collect();
        if !covered.is_empty() {
            return Some(lint(
                LintLevel::Warn,
                format!(
                    "HTTPRoute {id} lists the wildcard `{h}` where the Ingresses name {} exactly: the gateway also answers every other name under it (any depth), which nginx answered with its default backend.",
                    and_list(&ticked(&covered))
                ),
                format!(
                    "List the exact names in HTTPRoute {id} `spec.hostnames` ({}), unless the wider wildcard is intended.",
                    and_list(&ticked(&covered))
                ),
            ));
        }
    }
    if ingress_hosts.iter().any(|(x, _)| covers(x, h)) {
        // Under an Ingress wildcard: the Ingress side reports what is missing.
        return None;
    }
    Some(lint(
        LintLevel::Warn,
        format!(
            "HTTPRoute {id} lists hostname `{h}`, which no Ingress has: it is new on the gateway, so a cutover has nothing to compare it with."
        ),
        format!(
            "If `{h}` should match an Ingress host, write that host exactly in HTTPRoute {id} `spec.hostnames`; if it is new, check it on the gateway alone."
        ),
    ))
}

/// What `a` and `b` differ by, given they are equal once lower-cased and
/// without a trailing dot.
fn difference(a: &str, b: &str) -> &'static str {
    let dot = a.ends_with('.') != b.ends_with('.');
    let case = a.trim_end_matches('.') != b.trim_end_matches('.');
    match (dot, case) {
        (true, true) => "a trailing dot and letter case",
        (true, false) => "a trailing dot",
        _ => "letter case",
    }
}

fn unserved(ing: &Sourced<crate::init::k8s::Ingress>, host: &str, m: &Manifests) -> Lint {
    let id = ing.object.metadata.id();
    let under: Vec<&str> = m
        .routes
        .iter()
        .flat_map(|r| r.object.spec.hostnames.iter())
        .filter(|n| covers(host, n))
        .map(String::as_str)
        .collect();
    let also = if under.is_empty() {
        String::new()
    } else {
        format!(
            " (HTTPRoutes list only {} under it)",
            and_list(&ticked(&under))
        )
    };
    let hint = if host.starts_with("*.") {
        format!(
            "Add `{host}` to the `spec.hostnames` of the HTTPRoute that should answer it (a Gateway API wildcard also matches deeper names)."
        )
    } else {
        format!("Add `{host}` to the `spec.hostnames` of the HTTPRoute that should answer it.")
    };
    Lint {
        rule: LintRule::HostnameMismatch,
        level: LintLevel::Fail,
        source: ing.source.clone(),
        object: object("Ingress", &ing.object.metadata),
        message: format!(
            "Ingress {id} routes host `{host}`, which no HTTPRoute lists{also}: the gateway answers 404 for it."
        ),
        hint,
    }
}

/// The route's hostnames that no listener of a parent Gateway allows.
fn listeners(m: &Manifests, route: &Sourced<HttpRoute>) -> Vec<Lint> {
    let r = &route.object;
    let mut out = Vec::new();
    for parent in &r.spec.parent_refs {
        let Some(gw) = parent_gateway(m, r.metadata.ns(), parent) else {
            continue;
        };
        let candidates: Vec<&Listener> = gw
            .object
            .spec
            .listeners
            .iter()
            .filter(|l| parent.section_name.as_ref().is_none_or(|s| *s == l.name))
            .filter(|l| parent.port.is_none_or(|p| l.port == Some(p)))
            .collect();
        if candidates.is_empty() {
            continue;
        }
        for h in r
            .spec
            .hostnames
            .iter()
            .filter(|h| valid_gateway_hostname(h))
        {
            let allowed = candidates
                .iter()
                .any(|l| l.hostname.as_deref().is_none_or(|lh| intersects(lh, h)));
            if !allowed {
                out.push(not_allowed(route, gw, h, &candidates));
            }
        }
    }
    out
}

/// The Gateway a parentRef names, if it is among the manifests.
pub(super) fn parent_gateway<'a>(
    m: &'a Manifests,
    route_ns: &str,
    parent: &ObjectRef,
) -> Option<&'a Sourced<Gateway>> {
    let kind_ok = parent.kind.as_deref().is_none_or(|k| k == "Gateway");
    let group_ok = parent
        .group
        .as_deref()
        .is_none_or(|g| g == "gateway.networking.k8s.io");
    if !kind_ok || !group_ok {
        return None;
    }
    let ns = parent.namespace.as_deref().unwrap_or(route_ns);
    m.gateways
        .iter()
        .find(|g| g.object.metadata.name == parent.name && g.object.metadata.ns() == ns)
}

fn not_allowed(
    route: &Sourced<HttpRoute>,
    gw: &Sourced<Gateway>,
    h: &str,
    listeners: &[&Listener],
) -> Lint {
    let id = route.object.metadata.id();
    let gw_id = gw.object.metadata.id();
    let hostname = |l: &Listener| match &l.hostname {
        Some(lh) => format!("`{lh}`"),
        None => "any".to_owned(),
    };
    let which = match listeners {
        [one] => format!(
            "listener `{}` (hostname {}) of Gateway {gw_id} does not allow",
            one.name,
            hostname(one)
        ),
        _ => {
            let names: Vec<String> = listeners
                .iter()
                .map(|l| format!("`{}` ({})", l.name, hostname(l)))
                .collect();
            format!(
                "no listener of Gateway {gw_id} allows (listeners {})",
                and_list(&names)
            )
        }
    };
    Lint {
        rule: LintRule::HostnameMismatch,
        level: LintLevel::Fail,
        source: route.source.clone(),
        object: object("HTTPRoute", &route.object.metadata),
        message: format!(
            "HTTPRoute {id} lists hostname `{h}`, which {which}: the route is not accepted for it (NoMatchingListenerHostname) and the gateway answers 404."
        ),
        hint: format!(
            "Add a listener with `hostname: {h}` (or a wildcard covering it) to Gateway {gw_id} `spec.listeners`, or point HTTPRoute {id} `spec.parentRefs` at a listener that allows it."
        ),
    }
}
