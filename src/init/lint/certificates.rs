//! `cross_namespace_certificate`: Gateway listener certificates in another
//! namespace without a ReferenceGrant that allows them.
//!
//! Facts it rests on:
//!
//! - A listener's `tls.certificateRefs` entry names a Secret (group `""`,
//!   kind `Secret` by default) in the Gateway's namespace unless it says
//!   `namespace`. A reference into another namespace is only valid when a
//!   ReferenceGrant in that namespace lists `from` (group
//!   `gateway.networking.k8s.io`, kind `Gateway`, the Gateway's namespace)
//!   and `to` (group `""`, kind `Secret`, and the Secret's name or no
//!   name). Without one the listener does not serve TLS (its
//!   `ResolvedRefs` condition is `False`, reason `RefNotPermitted`).
//! - ingress-nginx reads an Ingress's `tls.secretName` from the Ingress's
//!   own namespace, so Ingress certificates usually live beside the apps,
//!   not beside the Gateway.
//! - cert-manager's Gateway support (enabled with `enableGatewayAPI` in its
//!   controller configuration since v1.15) creates the Secret in the
//!   Gateway's namespace and skips listeners whose certificate reference
//!   names another namespace.

use super::{object, Lint, LintLevel, LintRule};
use crate::init::k8s::{Manifests, ObjectRef, ReferenceGrant, Sourced};

const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

pub(super) fn lint(m: &Manifests) -> Vec<Lint> {
    let mut out = Vec::new();
    for gw in &m.gateways {
        let meta = &gw.object.metadata;
        let gw_ns = meta.ns();
        for listener in &gw.object.spec.listeners {
            let Some(tls) = &listener.tls else { continue };
            for cert in &tls.certificate_refs {
                let Some(ns) = cert.namespace.as_deref().filter(|ns| *ns != gw_ns) else {
                    continue;
                };
                if !is_secret(cert) {
                    continue;
                }
                let grants: Vec<&Sourced<ReferenceGrant>> = m
                    .grants
                    .iter()
                    .filter(|g| g.object.metadata.ns() == ns)
                    .collect();
                if grants.iter().any(|g| allows(&g.object, gw_ns, &cert.name)) {
                    continue;
                }
                let near = grants
                    .iter()
                    .find(|g| allows(&g.object, gw_ns, ""))
                    .map(|g| {
                        format!(
                            " (ReferenceGrant {} allows Gateways of `{gw_ns}` other Secrets only)",
                            g.object.metadata.id()
                        )
                    })
                    .unwrap_or_default();
                let id = meta.id();
                let secret = format!("{ns}/{}", cert.name);
                out.push(Lint {
                    rule: LintRule::CrossNamespaceCertificate,
                    level: LintLevel::Fail,
                    source: gw.source.clone(),
                    object: object("Gateway", meta),
                    message: format!(
                        "Listener `{}` of Gateway {id} uses Secret `{secret}` from another namespace, and no ReferenceGrant in `{ns}` allows Gateways of `{gw_ns}` to use it{near}: the listener does not serve TLS (RefNotPermitted).",
                        listener.name
                    ),
                    hint: format!(
                        "Create a ReferenceGrant in namespace `{ns}` with `from: [{{group: gateway.networking.k8s.io, kind: Gateway, namespace: {gw_ns}}}]` and `to: [{{group: \"\", kind: Secret, name: {}}}]`, or keep the certificate in `{gw_ns}` (cert-manager's Gateway support issues it there from the Gateway's `cert-manager.io/issuer` or `cluster-issuer` annotation).",
                        cert.name
                    ),
                });
            }
        }
    }
    out
}

/// A reference to a core Secret (the defaults).
fn is_secret(r: &ObjectRef) -> bool {
    r.group.as_deref().is_none_or(str::is_empty) && r.kind.as_deref().is_none_or(|k| k == "Secret")
}

/// Whether `grant` lets Gateways of `gw_ns` use the Secret `name` of its
/// namespace (`""`: some Secret, whatever the name).
fn allows(grant: &ReferenceGrant, gw_ns: &str, name: &str) -> bool {
    let from = grant.spec.from.iter().any(|f| {
        f.group.as_deref() == Some(GATEWAY_GROUP)
            && f.kind.as_deref() == Some("Gateway")
            && f.namespace.as_deref() == Some(gw_ns)
    });
    let to = grant.spec.to.iter().any(|t| {
        t.group.as_deref().is_none_or(str::is_empty)
            && t.kind.as_deref() == Some("Secret")
            && (name.is_empty() || t.name.is_empty() || t.name == name)
    });
    from && to
}
