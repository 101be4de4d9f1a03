//! `external_dns_clusterip`: HTTPRoutes that external-dns would publish
//! with the Envoy Service's ClusterIP, because their Gateway is exposed
//! through an ALB Ingress rather than a LoadBalancer Service.
//!
//! Facts it rests on:
//!
//! - external-dns's `gateway-httproute` source publishes each HTTPRoute
//!   hostname (those its parent listeners allow) with the parent Gateway's
//!   `status.addresses`, unless the Gateway carries the external-dns
//!   `target` annotation (read from the Gateway only, never the route).
//! - In an ALB setup the Envoy Service is `type: ClusterIP` behind an
//!   Ingress of class `alb`, so the Gateway's address is that ClusterIP:
//!   a private address published in public DNS.
//! - external-dns skips a route whose `controller` annotation names another
//!   controller than `dns-controller`, and any object its
//!   `--annotation-filter` excludes; `exclude: "true"` is the conventional
//!   annotation for such a filter (`external-dns.alpha.kubernetes.io/exclude
//!   notin (true)`), honoured only where external-dns runs with it.
//! - external-dns reads annotations under `external-dns.alpha.kubernetes.io/`
//!   until v0.21 and under `external-dns.kubernetes.io/` by default from
//!   v0.22; both are accepted here.
//!
//! Heuristic for "the ALB Ingress fronts this Gateway": an Ingress of class
//! `alb` in the Gateway's namespace with a backend Service named like the
//! Gateway, or `<gateway>-<gatewayClassName>`. kgateway's deployer names
//! the Envoy Service after the Gateway; GEP-1762 recommends
//! `<gateway>-<class>` for implementations that provision Services.

use super::hostnames::parent_gateway;
use super::{
    and_list, external_dns_annotation, external_dns_skips, is_alb, object, ticked, Lint, LintLevel,
    LintRule,
};
use crate::init::k8s::{Gateway, Ingress, Manifests, Sourced};

pub(super) fn lint(m: &Manifests) -> Vec<Lint> {
    let mut out = Vec::new();
    for route in &m.routes {
        let r = &route.object;
        if external_dns_skips(&r.metadata) {
            continue;
        }
        let fronted = r.spec.parent_refs.iter().find_map(|p| {
            let gw = parent_gateway(m, r.metadata.ns(), p)?;
            if external_dns_annotation(&gw.object.metadata, "target").is_some() {
                return None;
            }
            let (alb, service) = alb_in_front(m, gw)?;
            Some((gw, alb, service))
        });
        let Some((gw, alb, service)) = fronted else {
            continue;
        };
        let id = r.metadata.id();
        let gw_id = gw.object.metadata.id();
        let names = if r.spec.hostnames.is_empty() {
            "every hostname of its listeners".to_owned()
        } else {
            and_list(&ticked(&r.spec.hostnames))
        };
        out.push(Lint {
            rule: LintRule::ExternalDnsClusterip,
            level: LintLevel::Fail,
            source: route.source.clone(),
            object: object("HTTPRoute", &r.metadata),
            message: format!(
                "Gateway {gw_id} is exposed through ALB Ingress {} (backend Service `{service}`), so its address is the Envoy Service's ClusterIP, and external-dns would publish that private address for {names} of HTTPRoute {id}.",
                alb.object.metadata.id()
            ),
            hint: format!(
                "Annotate HTTPRoute {id} with `external-dns.alpha.kubernetes.io/exclude: \"true\"` where external-dns runs with a matching `--annotation-filter`, or with `external-dns.alpha.kubernetes.io/controller` set to another controller (skipped by every external-dns), or give Gateway {gw_id} `external-dns.alpha.kubernetes.io/target` with the ALB's hostname; use the `external-dns.kubernetes.io/` prefix from external-dns v0.22."
            ),
        });
    }
    out
}

/// The first ALB Ingress (in reading order) whose backend Service is this
/// Gateway's, with that Service's name.
fn alb_in_front<'a>(
    m: &'a Manifests,
    gw: &Sourced<Gateway>,
) -> Option<(&'a Sourced<Ingress>, String)> {
    let meta = &gw.object.metadata;
    let mut names = vec![meta.name.clone()];
    if let Some(class) = &gw.object.spec.gateway_class_name {
        names.push(format!("{}-{class}", meta.name));
    }
    m.ingresses
        .iter()
        .filter(|i| is_alb(&i.object) && i.object.metadata.ns() == meta.ns())
        .find_map(|i| {
            backend_services(&i.object)
                .find(|s| names.iter().any(|n| n == s))
                .map(|s| (i, s.to_owned()))
        })
}

fn backend_services(ing: &Ingress) -> impl Iterator<Item = &str> {
    ing.spec
        .rules
        .iter()
        .filter_map(|r| r.http.as_ref())
        .flat_map(|h| h.paths.iter())
        .filter_map(|p| p.backend.service.as_ref())
        .map(|s| s.name.as_str())
}
