//! `regex_path_without_route`: Ingress paths nginx matches as a regular
//! expression or as a string prefix, and whether an HTTPRoute for the same
//! host reproduces them.
//!
//! How ingress-nginx matches a path:
//!
//! - `pathType: Prefix` matches whole path elements and `Exact` the whole
//!   path, case-sensitively: the same as HTTPRoute `PathPrefix` and `Exact`.
//! - `pathType: ImplementationSpecific` becomes a plain nginx `location
//!   /api`: a string prefix, so `/api` also matches `/apix` and
//!   `/api-internal`. An HTTPRoute `PathPrefix: /api` matches whole
//!   elements only (`/api`, `/api/`, `/api/x`, never `/apix`).
//! - `nginx.ingress.kubernetes.io/use-regex: "true"` makes paths
//!   case-insensitive regular expressions anchored at the start only
//!   (`location ~* "^/api"`). `rewrite-target` does the same without
//!   saying so. Either annotation on any Ingress of a host applies to every
//!   path of that host, whichever Ingress defines it (ingress-nginx's
//!   "Ingress Path Matching" notes).
//!
//! On the gateway side a `RegularExpression` path match is case-sensitive
//! unless the expression says `(?i)`, and Envoy (kgateway hands the value
//! to Envoy's `safe_regex` as written) requires it to match the whole path
//! (RE2), not a prefix: nginx's `^/api` is Envoy's `(?i)/api.*`.
//!
//! A path is reproduced when a rule of an HTTPRoute that serves the host
//! (lists it, covers it with a wildcard, or lists no hostnames) has a
//! `RegularExpression` match with the same expression (give or take a
//! leading `(?i)` and a trailing `.*`); a plain `ImplementationSpecific`
//! path is also reproduced by a `PathPrefix` when it ends with `/` (where a
//! string prefix and an element prefix agree), and `/` by `PathPrefix: /`.
//! A `PathPrefix` with the same value is a near miss (warn); an `Exact`
//! with the same value (that path alone) or no match at all is a fail.

use std::collections::BTreeMap;

use super::{covers, is_alb, object, Lint, LintLevel, LintRule};
use crate::init::k8s::{HttpRoute, Ingress, Manifests, Sourced};

const USE_REGEX: &str = "nginx.ingress.kubernetes.io/use-regex";
const REWRITE_TARGET: &str = "nginx.ingress.kubernetes.io/rewrite-target";

/// Why nginx does not match a path element by element.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Matching {
    /// `ImplementationSpecific` without regex: a string prefix.
    StringPrefix,
    /// A case-insensitive regex, because of `annotation` on `ingress`.
    Regex {
        ingress: String,
        annotation: &'static str,
    },
}

/// How an HTTPRoute path match relates to an nginx path, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Reproduced {
    Yes,
    /// A `PathPrefix` with the same value.
    NearPrefix,
    /// An `Exact` with the same value.
    NearExact,
    No,
}

pub(super) fn lint(m: &Manifests) -> Vec<Lint> {
    let regex_hosts = regex_hosts(m);
    let mut out = Vec::new();
    for ing in m.ingresses.iter().filter(|i| !is_alb(&i.object)) {
        for rule in &ing.object.spec.rules {
            let host = rule.host.as_deref();
            let Some(http) = &rule.http else { continue };
            for p in &http.paths {
                let path = p.path.as_deref().unwrap_or("/");
                let matching = match regex_hosts.get(&host) {
                    Some(cause) => cause.clone(),
                    None if p.path_type.as_deref() == Some("ImplementationSpecific") => {
                        Matching::StringPrefix
                    }
                    None => continue,
                };
                let routes: Vec<&Sourced<HttpRoute>> = m
                    .routes
                    .iter()
                    .filter(|r| serves(&r.object, host))
                    .collect();
                let found = routes
                    .iter()
                    .map(|r| reproduced(&r.object, path, &matching))
                    .fold(Reproduced::No, Ord::min);
                if found != Reproduced::Yes {
                    out.push(report(ing, host, path, &matching, found, &routes));
                }
            }
        }
    }
    out
}

/// The hosts where every path is a regex, with the first Ingress (in
/// reading order) and annotation that made it so.
fn regex_hosts(m: &Manifests) -> BTreeMap<Option<&str>, Matching> {
    let mut hosts = BTreeMap::new();
    for ing in m.ingresses.iter().filter(|i| !is_alb(&i.object)) {
        let meta = &ing.object.metadata;
        let annotation = if meta.annotation(USE_REGEX) == Some("true") {
            USE_REGEX
        } else if meta.annotation(REWRITE_TARGET).is_some() {
            REWRITE_TARGET
        } else {
            continue;
        };
        for rule in &ing.object.spec.rules {
            hosts
                .entry(rule.host.as_deref())
                .or_insert(Matching::Regex {
                    ingress: meta.id(),
                    annotation,
                });
        }
    }
    hosts
}

/// Whether `route` answers for `host` (`None`: an Ingress rule without a
/// host, which answers every host).
fn serves(route: &HttpRoute, host: Option<&str>) -> bool {
    let names = &route.spec.hostnames;
    match host {
        None => true,
        Some(h) => names.is_empty() || names.iter().any(|n| covers(n, h)),
    }
}

/// The best any path match of `route` does for nginx's `path`.
fn reproduced(route: &HttpRoute, path: &str, matching: &Matching) -> Reproduced {
    let mut found = Reproduced::No;
    for rule in &route.spec.rules {
        // A rule without matches, or a match without a path, is `PathPrefix: /`.
        let mut kinds: Vec<(&str, &str)> = rule
            .matches
            .iter()
            .map(|m| match &m.path {
                Some(p) => (
                    p.kind.as_deref().unwrap_or("PathPrefix"),
                    p.value.as_deref().unwrap_or("/"),
                ),
                None => ("PathPrefix", "/"),
            })
            .collect();
        if kinds.is_empty() {
            kinds.push(("PathPrefix", "/"));
        }
        for (kind, value) in kinds {
            found = found.min(one(kind, value, path, matching));
        }
    }
    found
}

fn one(kind: &str, value: &str, path: &str, matching: &Matching) -> Reproduced {
    match kind {
        "RegularExpression" if same_expression(value, path) => Reproduced::Yes,
        "PathPrefix" if path == "/" && value == "/" => Reproduced::Yes,
        "PathPrefix"
            if *matching == Matching::StringPrefix
                && path.ends_with('/')
                && value.trim_end_matches('/') == path.trim_end_matches('/') =>
        {
            Reproduced::Yes
        }
        "PathPrefix" if value.trim_end_matches('/') == path.trim_end_matches('/') => {
            Reproduced::NearPrefix
        }
        "Exact" if value == path => Reproduced::NearExact,
        _ => Reproduced::No,
    }
}

/// `value` is nginx's `path` as an expression, give or take a leading
/// `(?i)` (or `^`) and a trailing `.*`.
fn same_expression(value: &str, path: &str) -> bool {
    let v = value.strip_prefix("(?i)").unwrap_or(value);
    let v = v.strip_prefix('^').unwrap_or(v);
    let p = path.strip_prefix('^').unwrap_or(path);
    v == p || v.strip_suffix(".*") == Some(p)
}

/// nginx's `path` as an Envoy expression (whole-path match): `^/api` →
/// `/api.*`.
fn whole_path(path: &str) -> String {
    let p = path.strip_prefix('^').unwrap_or(path);
    if p.ends_with(".*") || p.ends_with("(.*)") || p.ends_with('$') {
        p.to_owned()
    } else {
        format!("{p}.*")
    }
}

fn report(
    ing: &Sourced<Ingress>,
    host: Option<&str>,
    path: &str,
    matching: &Matching,
    found: Reproduced,
    routes: &[&Sourced<HttpRoute>],
) -> Lint {
    let host_text = host.map_or_else(|| "any host".to_owned(), |h| format!("host `{h}`"));
    let how = match matching {
        Matching::StringPrefix => format!(
            "nginx matches the ImplementationSpecific path `{path}` of {host_text} as a string prefix{example}",
            example = string_prefix_example(path)
        ),
        Matching::Regex { ingress, annotation } => {
            let spread = if *ingress == ing.object.metadata.id() {
                String::new()
            } else {
                format!(" on Ingress {ingress}, which nginx applies to every path of the host")
            };
            format!(
                "nginx matches the path `{path}` of {host_text} as a case-insensitive regular expression anchored at the start only (`~* \"^{path}\"`), because of `{annotation}`{spread}"
            )
        }
    };
    let gateway = match (found, routes.is_empty()) {
        (_, true) => "no HTTPRoute serves the host".to_owned(),
        (Reproduced::NearPrefix, _) => match matching {
            Matching::StringPrefix => format!(
                "the HTTPRoute matches it as `PathPrefix: {path}`, whole path elements only, so `{path}x` no longer reaches this backend"
            ),
            Matching::Regex { .. } => format!(
                "the HTTPRoute matches it as `PathPrefix: {path}`, literally and case-sensitively, not as the expression nginx used"
            ),
        },
        (Reproduced::NearExact, _) => format!(
            "the HTTPRoute matches it as `Exact: {path}`, that path alone, case-sensitively"
        ),
        _ => {
            let names: Vec<String> = routes.iter().map(|r| r.object.metadata.id()).collect();
            format!(
                "no rule of HTTPRoute {} has an equivalent path match",
                super::and_list(&names)
            )
        }
    };
    let expr = whole_path(path);
    let hint = match matching {
        Matching::StringPrefix if !path.ends_with('/') => format!(
            "Add an HTTPRoute rule match `path: {{type: RegularExpression, value: \"{expr}\"}}` for {host_text} if clients rely on paths like `{path}x`; otherwise make the Ingress path `pathType: Prefix` so both sides match whole elements, and keep `PathPrefix: {path}`."
        ),
        _ => format!(
            "Add an HTTPRoute rule match `path: {{type: RegularExpression, value: \"(?i){expr}\"}}` for {host_text}: Envoy's RegularExpression must match the whole path and is case-sensitive unless it starts with `(?i)`."
        ),
    };
    let level = match found {
        Reproduced::NearPrefix => LintLevel::Warn,
        Reproduced::Yes | Reproduced::NearExact | Reproduced::No => LintLevel::Fail,
    };
    Lint {
        rule: LintRule::RegexPathWithoutRoute,
        level,
        source: ing.source.clone(),
        object: object("Ingress", &ing.object.metadata),
        message: format!("{how}; {gateway}."),
        hint,
    }
}

/// `, so `/apix` too`: a path the string prefix matches and an element
/// prefix does not (none when the path ends with `/`).
fn string_prefix_example(path: &str) -> String {
    if path.ends_with('/') {
        String::new()
    } else {
        format!(", so `{path}x` too")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expression_is_the_same_give_or_take_case_flag_anchor_and_tail() {
        assert!(same_expression("/v1(/|$)(.*)", "/v1(/|$)(.*)"));
        assert!(same_expression("(?i)/api.*", "/api"));
        assert!(same_expression("^/api", "/api"));
        assert!(!same_expression("/api/.*", "/api"));
        assert!(same_expression("(?i)/v1/.*", "/v1/.*"));
        assert_eq!(whole_path("/v1/.*"), "/v1/.*");
        assert_eq!(whole_path("^/api"), "/api.*");
        assert_eq!(whole_path("/v1(/|$)(.*)"), "/v1(/|$)(.*)");
    }

    #[test]
    fn a_string_prefix_is_reproduced_by_an_element_prefix_only_after_a_slash() {
        let m = Matching::StringPrefix;
        assert_eq!(
            one("PathPrefix", "/api", "/api", &m),
            Reproduced::NearPrefix
        );
        assert_eq!(one("Exact", "/api", "/api", &m), Reproduced::NearExact);
        assert_eq!(one("PathPrefix", "/api/", "/api/", &m), Reproduced::Yes);
        assert_eq!(one("PathPrefix", "/", "/", &m), Reproduced::Yes);
        assert_eq!(
            one("RegularExpression", "/api.*", "/api", &m),
            Reproduced::Yes
        );
        assert_eq!(one("Exact", "/apx", "/api", &m), Reproduced::No);
    }
}
