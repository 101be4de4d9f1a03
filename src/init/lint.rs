//! The migration lint of `cutover init`: what in the cluster's Ingress,
//! HTTPRoute, Gateway and ReferenceGrant manifests will make the gateway
//! answer differently from ingress-nginx, or make the DNS shift go wrong,
//! before a single request is sent.
//!
//! One file per rule, each a pure function of the [`Manifests`] (and, for
//! [`experimental`], of what is known about the installed CRDs):
//!
//! - [`regex_paths`] `regex_path_without_route`: nginx paths that are
//!   regular expressions or string prefixes, and the HTTPRoute matches that
//!   reproduce them.
//! - [`hostnames`] `hostname_mismatch`: Ingress hosts, HTTPRoute hostnames
//!   and Gateway listener hostnames that do not line up exactly.
//! - [`external_dns`] `external_dns_clusterip`: routes of a Gateway that an
//!   ALB Ingress fronts, which external-dns would publish with the Envoy
//!   Service's ClusterIP.
//! - [`dns_weights`] `dns_weights`: Route 53 weighted-record annotations of
//!   the objects that publish the same hostname.
//! - [`certificates`] `cross_namespace_certificate`: listener certificate
//!   references into another namespace without a ReferenceGrant.
//! - [`experimental`] `experimental_field`: fields the installed Gateway API
//!   CRDs may not have (experimental channel, or standard only since a
//!   later release).
//!
//! Sides: an Ingress whose class is `alb` (`spec.ingressClassName` or the
//! `kubernetes.io/ingress.class` annotation) belongs to the new path (it
//! fronts a Gateway); every other Ingress is read as served by
//! ingress-nginx. Hostnames are compared as written: the lint's point is
//! that the two paths compare them exactly too.
//!
//! Invariants: never panics on input (every field may be absent or
//! malformed); deterministic output, rules in [`LintRule::ALL`] order and,
//! within a rule, objects in reading order; each lint names one object, its
//! source (file and document), a sentence with the names and values, and a
//! hint naming the resource and field to change.

use std::fmt;

use serde::Serialize;

use super::k8s::{Ingress, Manifests, Meta};

pub mod certificates;
pub mod dns_weights;
pub mod experimental;
pub mod external_dns;
pub mod hostnames;
pub mod regex_paths;

pub use experimental::{Channel, Crds, Release};

/// One thing the migration will get wrong unless it is fixed first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lint {
    pub rule: LintRule,
    pub level: LintLevel,
    /// Where the object was read: `file`, `file document N (line L)`, or
    /// `file item N` for a List item.
    pub source: String,
    /// `Kind namespace/name`, e.g. `Ingress shop/web`.
    pub object: String,
    /// One sentence with the names and values involved.
    pub message: String,
    /// What to do, naming the resource and field to change.
    pub hint: String,
}

impl fmt::Display for Lint {
    /// `fail regex_path_without_route Ingress shop/web: message` and, on the
    /// next line, the hint.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}: {}\n  hint: {}",
            self.level.as_str(),
            self.rule.as_str(),
            self.object,
            self.message,
            self.hint
        )
    }
}

/// How bad a lint is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LintLevel {
    /// The gateway will answer differently, or the DNS change will fail or
    /// publish a wrong address, unless this is fixed.
    Fail,
    /// Likely a difference; check it (or tell the lint more about the cluster).
    Warn,
}

impl LintLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LintLevel::Fail => "fail",
            LintLevel::Warn => "warn",
        }
    }
}

/// The rule a lint comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LintRule {
    RegexPathWithoutRoute,
    HostnameMismatch,
    ExternalDnsClusterip,
    DnsWeights,
    CrossNamespaceCertificate,
    ExperimentalField,
}

impl LintRule {
    /// Every rule, in the order [`lint`] reports them.
    pub const ALL: [LintRule; 6] = [
        LintRule::RegexPathWithoutRoute,
        LintRule::HostnameMismatch,
        LintRule::ExternalDnsClusterip,
        LintRule::DnsWeights,
        LintRule::CrossNamespaceCertificate,
        LintRule::ExperimentalField,
    ];

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            LintRule::RegexPathWithoutRoute => "regex_path_without_route",
            LintRule::HostnameMismatch => "hostname_mismatch",
            LintRule::ExternalDnsClusterip => "external_dns_clusterip",
            LintRule::DnsWeights => "dns_weights",
            LintRule::CrossNamespaceCertificate => "cross_namespace_certificate",
            LintRule::ExperimentalField => "experimental_field",
        }
    }
}

/// What the lint knows about the cluster beyond the manifests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// The installed Gateway API CRDs (their `gateway.networking.k8s.io/
    /// bundle-version` and `…/channel` annotations); `None` when unknown.
    pub crds: Option<Crds>,
}

/// Every lint of `m`, knowing nothing about the cluster beyond it.
pub fn lint(m: &Manifests) -> Vec<Lint> {
    lint_with(m, &Options::default())
}

/// Every lint of `m`, rules in [`LintRule::ALL`] order.
pub fn lint_with(m: &Manifests, options: &Options) -> Vec<Lint> {
    let mut out = Vec::new();
    out.extend(regex_paths::lint(m));
    out.extend(hostnames::lint(m));
    out.extend(external_dns::lint(m));
    out.extend(dns_weights::lint(m));
    out.extend(certificates::lint(m));
    out.extend(experimental::lint(m, options.crds));
    out
}

/// `Kind namespace/name`.
fn object(kind: &str, meta: &Meta) -> String {
    format!("{kind} {}", meta.id())
}

/// An Ingress of class `alb` (the AWS Load Balancer Controller's): on the
/// new path, in front of a Gateway, never served by ingress-nginx.
fn is_alb(ing: &Ingress) -> bool {
    ing.spec.ingress_class_name.as_deref() == Some("alb")
        || ing.metadata.annotation("kubernetes.io/ingress.class") == Some("alb")
}

/// Whether a Gateway API hostname pattern (`*.example.com` or an exact
/// name) matches the exact name `host`. A wildcard is a suffix match of
/// one or more labels, and never matches the bare suffix.
fn covers(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix('*') {
        Some(suffix) => {
            suffix.starts_with('.') && host.len() > suffix.len() && host.ends_with(suffix)
        }
        None => pattern == host,
    }
}

/// Whether two hostname patterns have a name in common (a listener's and a
/// route's: the route attaches for the names in both).
fn intersects(a: &str, b: &str) -> bool {
    match (a.starts_with("*."), b.starts_with("*.")) {
        (false, false) => a == b,
        (true, false) => covers(a, b),
        (false, true) => covers(b, a),
        // Two wildcards meet when one suffix ends the other.
        (true, true) => a[1..].ends_with(&b[1..]) || b[1..].ends_with(&a[1..]),
    }
}

/// Whether `h` is a valid Gateway API hostname: lower-case labels of
/// letters, digits and inner dashes, optionally after a `*.` label, no
/// trailing dot (the CRD's `Hostname` pattern).
fn valid_gateway_hostname(h: &str) -> bool {
    let name = h.strip_prefix("*.").unwrap_or(h);
    !name.is_empty()
        && h.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The annotation prefixes external-dns reads: `external-dns.alpha.
/// kubernetes.io/` until v0.21, `external-dns.kubernetes.io/` by default
/// from v0.22 (the old one only with `--annotation-prefix`).
const EXTERNAL_DNS_PREFIXES: [&str; 2] = [
    "external-dns.alpha.kubernetes.io/",
    "external-dns.kubernetes.io/",
];

/// An external-dns annotation under either prefix: `(full key, value)`.
fn external_dns_annotation<'a>(meta: &'a Meta, name: &str) -> Option<(String, &'a str)> {
    EXTERNAL_DNS_PREFIXES.iter().find_map(|p| {
        let key = format!("{p}{name}");
        meta.annotation(&key).map(|v| (key, v))
    })
}

/// Whether external-dns leaves this object alone: its `controller`
/// annotation names another controller than `dns-controller` (external-dns
/// skips such objects), or it carries `exclude: "true"`, the convention a
/// cluster's `--annotation-filter` (for example `external-dns.alpha.
/// kubernetes.io/exclude notin (true)`) turns into an opt-out.
fn external_dns_skips(meta: &Meta) -> bool {
    let other_controller =
        external_dns_annotation(meta, "controller").is_some_and(|(_, v)| v != "dns-controller");
    let excluded = external_dns_annotation(meta, "exclude")
        .is_some_and(|(_, v)| v.eq_ignore_ascii_case("true"));
    other_controller || excluded
}

/// `a`, `a and b`, `a, b and c`.
fn and_list<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_owned(),
        [init @ .., last] => {
            let init: Vec<&str> = init.iter().map(AsRef::as_ref).collect();
            format!("{} and {}", init.join(", "), last.as_ref())
        }
    }
}

/// Each item in backticks.
fn ticked<S: AsRef<str>>(items: &[S]) -> Vec<String> {
    items.iter().map(|s| format!("`{}`", s.as_ref())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_one_or_more_labels_but_not_the_bare_suffix() {
        assert!(covers("*.example.test", "www.example.test"));
        assert!(covers("*.example.test", "a.b.example.test"));
        assert!(!covers("*.example.test", "example.test"));
        assert!(!covers("*.example.test", "badexample.test"));
        assert!(covers("shop.example.test", "shop.example.test"));
        assert!(!covers("shop.example.test", "Shop.example.test"));
    }

    #[test]
    fn listener_and_route_hostnames_intersect_both_ways() {
        assert!(intersects("*.example.test", "shop.example.test"));
        assert!(intersects("shop.example.test", "*.example.test"));
        assert!(intersects("*.example.test", "*.shop.example.test"));
        assert!(!intersects("*.shop.example.test", "admin.example.test"));
        assert!(!intersects("shop.example.test", "shop.example.test."));
    }

    #[test]
    fn gateway_hostnames_are_lower_case_without_a_trailing_dot() {
        assert!(valid_gateway_hostname("shop.example.test"));
        assert!(valid_gateway_hostname("*.example.test"));
        assert!(!valid_gateway_hostname("shop.example.test."));
        assert!(!valid_gateway_hostname("Shop.example.test"));
        assert!(!valid_gateway_hostname("*"));
        assert!(!valid_gateway_hostname("a.*.test"));
        assert!(!valid_gateway_hostname("-a.test"));
    }

    #[test]
    fn every_rule_has_a_distinct_name() {
        let mut names: Vec<&str> = LintRule::ALL.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), LintRule::ALL.len());
    }

    #[test]
    fn lists_read_as_sentences() {
        assert_eq!(and_list::<&str>(&[]), "");
        assert_eq!(and_list(&["a"]), "a");
        assert_eq!(and_list(&["a", "b", "c"]), "a, b and c");
    }
}
