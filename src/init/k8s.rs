//! The Kubernetes objects `cutover init` reads, as minimal serde types:
//! Ingress (networking.k8s.io/v1), Gateway, HTTPRoute and ReferenceGrant
//! (gateway.networking.k8s.io v1 and v1beta1).
//!
//! Only the fields init uses are typed; everything else (status, managed
//! fields, unknown spec fields) is ignored, so any cluster's `kubectl get -o
//! yaml` reads. Typed crates were weighed and measured on the 2-core build
//! machine: `k8s-openapi` (every API group's types) alone takes 39 s of a
//! release build (44 s of CPU) and 19 s of a debug one; the `gateway-api`
//! crate adds `kube-core`, `schemars` and its own `k8s-openapi` version
//! (about 100 crates in its tree). These types cost a second, for the
//! dozen fields init reads. Invariant: every field has a default, so a
//! sparse manifest deserializes and judging it is the lint's job.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `metadata`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Meta {
    pub name: String,
    pub namespace: Option<String>,
    pub annotations: BTreeMap<String, String>,
}

impl Meta {
    /// `namespace/name` (namespace `default` when absent).
    pub fn id(&self) -> String {
        format!(
            "{}/{}",
            self.namespace.as_deref().unwrap_or("default"),
            self.name
        )
    }

    /// The namespace, `default` when absent.
    pub fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }

    /// An annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }
}

/// networking.k8s.io/v1 Ingress.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Ingress {
    pub metadata: Meta,
    pub spec: IngressSpec,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct IngressSpec {
    pub ingress_class_name: Option<String>,
    pub rules: Vec<IngressRule>,
    pub tls: Vec<IngressTls>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct IngressRule {
    pub host: Option<String>,
    pub http: Option<IngressHttp>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct IngressHttp {
    pub paths: Vec<IngressPath>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct IngressPath {
    pub path: Option<String>,
    /// `Exact`, `Prefix` or `ImplementationSpecific`.
    pub path_type: Option<String>,
    pub backend: IngressBackend,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct IngressBackend {
    pub service: Option<ServiceBackend>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceBackend {
    pub name: String,
    pub port: ServicePort,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct ServicePort {
    pub number: Option<u32>,
    pub name: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct IngressTls {
    pub hosts: Vec<String>,
    pub secret_name: Option<String>,
}

/// gateway.networking.k8s.io Gateway.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Gateway {
    pub metadata: Meta,
    pub spec: GatewaySpec,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct GatewaySpec {
    pub gateway_class_name: Option<String>,
    pub listeners: Vec<Listener>,
    /// The rest of the spec, for experimental-channel fields (`infrastructure`,
    /// `backendTLS`, …).
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Listener {
    pub name: String,
    pub hostname: Option<String>,
    pub port: Option<u32>,
    pub protocol: Option<String>,
    pub tls: Option<ListenerTls>,
    /// The rest of the listener, for experimental-channel fields.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct ListenerTls {
    pub mode: Option<String>,
    pub certificate_refs: Vec<ObjectRef>,
    /// The rest of the listener's TLS, for experimental-channel fields
    /// (`frontendValidation`, …).
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// A reference by kind, name and (optional) namespace.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct ObjectRef {
    pub group: Option<String>,
    pub kind: Option<String>,
    pub name: String,
    pub namespace: Option<String>,
    pub section_name: Option<String>,
    pub port: Option<u32>,
}

/// gateway.networking.k8s.io HTTPRoute.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct HttpRoute {
    pub metadata: Meta,
    pub spec: HttpRouteSpec,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct HttpRouteSpec {
    pub parent_refs: Vec<ObjectRef>,
    pub hostnames: Vec<String>,
    pub rules: Vec<HttpRouteRule>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct HttpRouteRule {
    pub matches: Vec<HttpRouteMatch>,
    pub filters: Vec<serde_json::Value>,
    pub backend_refs: Vec<ObjectRef>,
    pub timeouts: Option<serde_json::Value>,
    /// The rest of the rule, for experimental-channel fields (`retry`,
    /// `sessionPersistence`, `name`, …).
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct HttpRouteMatch {
    pub path: Option<PathMatch>,
    pub method: Option<String>,
    pub headers: Vec<serde_json::Value>,
    pub query_params: Vec<serde_json::Value>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct PathMatch {
    /// `Exact`, `PathPrefix` (the default) or `RegularExpression`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub value: Option<String>,
}

/// gateway.networking.k8s.io ReferenceGrant.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct ReferenceGrant {
    pub metadata: Meta,
    pub spec: ReferenceGrantSpec,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct ReferenceGrantSpec {
    pub from: Vec<ObjectRef>,
    pub to: Vec<ObjectRef>,
}

/// Every object read, by kind, in reading order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Manifests {
    pub ingresses: Vec<Sourced<Ingress>>,
    pub gateways: Vec<Sourced<Gateway>>,
    pub routes: Vec<Sourced<HttpRoute>>,
    pub grants: Vec<Sourced<ReferenceGrant>>,
}

/// An object with where it was read: `path` and its document (1-based).
#[derive(Clone, Debug, PartialEq)]
pub struct Sourced<T> {
    pub object: T,
    pub source: String,
}
