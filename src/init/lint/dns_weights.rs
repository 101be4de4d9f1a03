//! `dns_weights`: the Route 53 weighted-record annotations of the objects
//! external-dns publishes for the same hostname (the ingress-nginx Ingress
//! on one side, the HTTPRoute or the ALB Ingress fronting the Gateway on
//! the other).
//!
//! Facts it rests on:
//!
//! - external-dns publishes an Ingress under the hosts of its rules and of
//!   its `tls` section, and an HTTPRoute under its `hostnames`; it skips
//!   objects whose `controller` annotation names another controller, and
//!   those its `--annotation-filter` excludes (the `exclude: "true"`
//!   convention, see [`super::external_dns`]).
//! - A weighted record is `aws-weight` plus `set-identifier`
//!   (external-dns annotations). external-dns parses the weight as an
//!   integer and, when it cannot, logs an error and sends weight 0; Route
//!   53 accepts weights 0 to 255.
//! - Route 53 requires a set identifier on a weighted record, and a set
//!   identifier needs a routing policy beside it; it refuses weighted and
//!   non-weighted record sets of the same name and type (InvalidChangeBatch:
//!   "cannot be created as a non-weighted set exists").
//! - Records of one name and type share it by set identifier: the same
//!   identifier on both sides makes them one record set, not a split.
//! - Each answer is chosen with probability weight / total; a weight-0
//!   record is never returned unless every weight is 0, and then every
//!   record is returned equally often.
//!
//! Checks per object (a weight that is not a whole number 0–255, a weight
//! without a set identifier or the reverse), then per hostname published
//! by two or more objects (weighted beside non-weighted, one set identifier
//! on both sides, weights summing to 0).

use std::collections::BTreeMap;

use super::{
    external_dns_annotation, external_dns_skips, is_alb, object, Lint, LintLevel, LintRule,
};
use crate::init::k8s::{Manifests, Meta};

/// Which path an object belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    /// An Ingress served by ingress-nginx.
    Ingress,
    /// An HTTPRoute, or an ALB Ingress in front of the gateway.
    Gateway,
}

/// One object external-dns publishes.
struct Publisher<'a> {
    kind: &'static str,
    meta: &'a Meta,
    source: &'a str,
    side: Side,
    hosts: Vec<String>,
    weight: Option<(String, &'a str)>,
    set_id: Option<(String, &'a str)>,
}

impl Publisher<'_> {
    fn object(&self) -> String {
        object(self.kind, self.meta)
    }

    /// The weight, when it is one Route 53 takes.
    fn weight(&self) -> Option<u8> {
        self.weight
            .as_ref()
            .and_then(|(_, v)| v.trim().parse().ok())
    }

    fn weighted(&self) -> bool {
        self.weight.is_some() || self.set_id.is_some()
    }
}

pub(super) fn lint(m: &Manifests) -> Vec<Lint> {
    let publishers = publishers(m);
    let mut out = Vec::new();
    for p in &publishers {
        out.extend(own(p));
    }
    let mut by_host: BTreeMap<&str, Vec<&Publisher>> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for p in &publishers {
        for h in &p.hosts {
            let entry = by_host.entry(h.as_str()).or_default();
            if entry.is_empty() {
                order.push(h.as_str());
            }
            if !entry.iter().any(|q| std::ptr::eq(*q, p)) {
                entry.push(p);
            }
        }
    }
    for h in order {
        if let Some(group) = by_host.get(h) {
            out.extend(shared(h, group));
        }
    }
    out
}

fn publishers(m: &Manifests) -> Vec<Publisher<'_>> {
    let mut out = Vec::new();
    for ing in &m.ingresses {
        let meta = &ing.object.metadata;
        if external_dns_skips(meta) {
            continue;
        }
        let spec = &ing.object.spec;
        let mut hosts: Vec<String> = Vec::new();
        let names = spec
            .rules
            .iter()
            .filter_map(|r| r.host.as_ref())
            .chain(spec.tls.iter().flat_map(|t| t.hosts.iter()));
        for h in names {
            if !hosts.contains(h) {
                hosts.push(h.clone());
            }
        }
        out.push(Publisher {
            kind: "Ingress",
            meta,
            source: &ing.source,
            side: if is_alb(&ing.object) {
                Side::Gateway
            } else {
                Side::Ingress
            },
            hosts,
            weight: external_dns_annotation(meta, "aws-weight"),
            set_id: external_dns_annotation(meta, "set-identifier"),
        });
    }
    for route in &m.routes {
        let meta = &route.object.metadata;
        if external_dns_skips(meta) {
            continue;
        }
        out.push(Publisher {
            kind: "HTTPRoute",
            meta,
            source: &route.source,
            side: Side::Gateway,
            hosts: route.object.spec.hostnames.clone(),
            weight: external_dns_annotation(meta, "aws-weight"),
            set_id: external_dns_annotation(meta, "set-identifier"),
        });
    }
    out
}

fn lint_of(p: &Publisher, level: LintLevel, message: String, hint: String) -> Lint {
    Lint {
        rule: LintRule::DnsWeights,
        level,
        source: p.source.to_owned(),
        object: p.object(),
        message,
        hint,
    }
}

/// What is wrong with one object's own annotations.
fn own(p: &Publisher) -> Vec<Lint> {
    let mut out = Vec::new();
    let what = p.object();
    if let Some((key, value)) = &p.weight {
        if p.weight().is_none() {
            let why = match value.trim().parse::<i64>() {
                Ok(_) => "Route 53 accepts weights 0 to 255".to_owned(),
                Err(_) => {
                    "external-dns cannot parse it as an integer, logs an error and sends weight 0"
                        .to_owned()
                }
            };
            out.push(lint_of(
                p,
                LintLevel::Fail,
                format!("{what} has `{key}: \"{value}\"`, which is not a whole number from 0 to 255: {why}."),
                format!("Set `{key}` on {what} to a whole number from 0 to 255 (the share is weight / sum of the weights of the name's records)."),
            ));
        }
    }
    match (&p.weight, &p.set_id) {
        (Some((key, _)), None) => out.push(lint_of(
            p,
            LintLevel::Fail,
            format!("{what} has `{key}` but no `set-identifier`: Route 53 refuses a weighted record without a set identifier, so the change batch fails."),
            format!("Add `external-dns.alpha.kubernetes.io/set-identifier` to {what} (a name unique among the records of its hostname, e.g. the path it stands for)."),
        )),
        (None, Some((key, _))) => out.push(lint_of(
            p,
            LintLevel::Fail,
            format!("{what} has `{key}` but no `aws-weight`: a set identifier without a routing policy is refused by Route 53."),
            format!("Add `external-dns.alpha.kubernetes.io/aws-weight` to {what} (0 to 255), or remove `{key}`."),
        )),
        _ => {}
    }
    out
}

/// What is wrong between the objects that publish `host`.
fn shared(host: &str, group: &[&Publisher]) -> Vec<Lint> {
    let mut out = Vec::new();
    if group.len() < 2 || !group.iter().any(|p| p.weighted()) {
        return out;
    }
    // Otherwise reported on the last object, naming the others.
    let Some(last) = group.last() else {
        return out;
    };
    let names =
        |ps: &[&&Publisher]| super::and_list(&ps.iter().map(|p| p.object()).collect::<Vec<_>>());
    let plain: Vec<&&Publisher> = group.iter().filter(|p| !p.weighted()).collect();
    let weighted: Vec<&&Publisher> = group.iter().filter(|p| p.weighted()).collect();
    if let Some(first_plain) = plain.first() {
        // Reported on the object without weights, the odd one out.
        out.push(lint_of(
            first_plain,
            LintLevel::Fail,
            format!(
                "Hostname `{host}` is published by {} with weights and by {} without: Route 53 refuses weighted and non-weighted records of one name and type, so external-dns's change fails.",
                names(&weighted),
                names(&plain)
            ),
            format!(
                "Give every object that publishes `{host}` an `aws-weight` and a distinct `set-identifier`, or keep the ones that must not publish it away from external-dns (`external-dns.alpha.kubernetes.io/controller` naming another controller)."
            ),
        ));
    }
    let mut ids: BTreeMap<&str, Vec<&&Publisher>> = BTreeMap::new();
    for p in &weighted {
        if let Some((_, id)) = &p.set_id {
            ids.entry(id).or_default().push(p);
        }
    }
    for (id, ps) in &ids {
        let sides_differ = ps.windows(2).any(|w| w[0].side != w[1].side);
        if sides_differ {
            out.push(lint_of(
                last,
                LintLevel::Fail,
                format!(
                    "Hostname `{host}` has set identifier `{id}` on both paths ({}): records with one name, type and set identifier are one record set, so there is no split between ingress-nginx and the gateway.",
                    names(ps)
                ),
                format!("Give each path its own `set-identifier` for `{host}` (for example `ingress-nginx` and `gateway`)."),
            ));
        }
    }
    let weights: Option<Vec<u8>> = weighted.iter().map(|p| p.weight()).collect();
    if plain.is_empty() {
        if let Some(ws) = weights {
            if ws.iter().all(|w| *w == 0) {
                out.push(lint_of(
                    last,
                    LintLevel::Warn,
                    format!(
                        "Every weight of hostname `{host}` is 0 ({}): Route 53 then answers with each record equally often, not with none.",
                        names(&weighted)
                    ),
                    format!("Give the path that should take the traffic for `{host}` a weight above 0 (e.g. 100 for ingress-nginx, 0 for the gateway before the shift)."),
                ));
            }
        }
    }
    out
}
