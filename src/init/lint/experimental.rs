//! `experimental_field`: Gateway and HTTPRoute fields the installed
//! Gateway API CRDs may not have.
//!
//! A field of the experimental channel is absent from the standard
//! channel's CRDs: kubectl's default (strict) field validation rejects the
//! object, and a client that skips validation has the field pruned
//! silently, so the gateway never sees it. What is experimental changes
//! with every release, so the facts are per release, read from the
//! `config/crd/{standard,experimental}` CRDs of each Gateway API tag
//! v1.0.0 to v1.6.0:
//!
//! | field | experimental | standard |
//! |---|---|---|
//! | HTTPRoute `parentRefs[].port` | v1.0 | v1.1 |
//! | HTTPRoute rule `timeouts` | v1.0–v1.1 | v1.2 |
//! | HTTPRoute rule `sessionPersistence` | v1.1 | not through v1.6 |
//! | HTTPRoute rule `retry` | v1.2 | not through v1.6 |
//! | HTTPRoute rule `name` | v1.2–v1.3 | v1.4 |
//! | HTTPRoute `RequestMirror` filter `percent` / `fraction` | v1.2 | v1.3 |
//! | HTTPRoute filter type `CORS` | v1.3–v1.4 | v1.5 |
//! | HTTPRoute filter type `ExternalAuth` | v1.4 | not through v1.6 |
//! | Gateway `spec.infrastructure` | v1.0–v1.1 | v1.2 |
//! | Gateway `spec.backendTLS` | v1.2–v1.3, removed in v1.4 (now `spec.tls.backend`) | never |
//! | Gateway listener `tls.frontendValidation` | v1.1–v1.3, removed in v1.4 (now `spec.tls.frontend`) | never |
//! | Gateway `spec.tls` | v1.4 | v1.5 |
//! | Gateway `spec.allowedListeners` | v1.3–v1.4 | v1.5 |
//! | Gateway `spec.defaultScope` | v1.4 | not through v1.6 |
//! | listener `allowedRoutes.kinds` `TLSRoute` | v1.0–v1.4 | v1.5 |
//! | listener `allowedRoutes.kinds` `TCPRoute`, `UDPRoute` | v1.0–v1.5 | v1.6 |
//!
//! (v1.0 stands for "v1.0 or earlier": older releases were not checked.
//! The v1.7.0-rc.1 release notes promote `retry`; no v1.7 release was
//! checked.) Not listed, so never reported: fields standard in every
//! release since v1.0.
//!
//! Judgement: with the installed CRDs known ([`Crds`]) a field they lack is
//! a fail, and a field they have is not reported; for a release newer than
//! v1.6 a field still experimental in v1.6 is a warn. With the CRDs
//! unknown, a field not standard since v1.2 (the release that made
//! `timeouts` and `infrastructure` standard) is a warn that gives its
//! history, so a cluster on v1.2 or later standard CRDs hears only of what
//! it may lack.

use std::fmt;

use serde_json::Value;

use super::{and_list, object, Lint, LintLevel, LintRule};
use crate::init::k8s::{Manifests, Meta};

/// A Gateway API release, `v1.<minor>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Release {
    pub minor: u8,
}

impl Release {
    /// The newest release whose CRDs the facts were read from.
    pub const NEWEST_CHECKED: Release = Release { minor: 6 };
    /// What is assumed when the CRDs are unknown.
    pub const ASSUMED: Release = Release { minor: 2 };

    /// `v1.5.1`, `1.5`, `v1.5.0-rc.1` → v1.5; `None` for anything else.
    pub fn parse(s: &str) -> Option<Release> {
        let s = s.trim().strip_prefix('v').unwrap_or(s.trim());
        let mut parts = s.split(['.', '-']);
        if parts.next()? != "1" {
            return None;
        }
        let minor = parts.next()?.parse().ok()?;
        Some(Release { minor })
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v1.{}", self.minor)
    }
}

/// A Gateway API release channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    Standard,
    Experimental,
}

impl Channel {
    /// The CRDs' `gateway.networking.k8s.io/channel` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Standard => "standard",
            Channel::Experimental => "experimental",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        match s.trim() {
            "standard" => Some(Channel::Standard),
            "experimental" => Some(Channel::Experimental),
            _ => None,
        }
    }
}

/// The installed Gateway API CRDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Crds {
    pub release: Release,
    pub channel: Channel,
}

/// A field whose channel depends on the release.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    ParentRefPort,
    RuleTimeouts,
    RuleSessionPersistence,
    RuleRetry,
    RuleName,
    MirrorFraction,
    CorsFilter,
    ExternalAuthFilter,
    GatewayInfrastructure,
    GatewayBackendTls,
    ListenerFrontendValidation,
    GatewayTls,
    GatewayAllowedListeners,
    GatewayDefaultScope,
    TlsRouteKind,
    TcpRouteKind,
    UdpRouteKind,
}

/// What a release-dependent thing is, for how its absence shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// A field: CRDs without it reject or prune it.
    Plain,
    /// A filter type: CRDs without it reject the value.
    Filter,
    /// A route kind a listener allows: without its CRD no such route exists.
    RouteKind,
}

/// When a field was in which channel (minor versions of v1).
struct Facts {
    /// As users write it, to follow "sets" or "uses".
    name: &'static str,
    shape: Shape,
    experimental: u8,
    standard: Option<u8>,
    /// The first release without it (experimental fields can go).
    removed: Option<u8>,
    /// What replaced a removed field.
    instead: Option<&'static str>,
}

impl Field {
    fn facts(self) -> Facts {
        let f = |name, shape, experimental, standard| Facts {
            name,
            shape,
            experimental,
            standard,
            removed: None,
            instead: None,
        };
        match self {
            Field::ParentRefPort => f("`port`", Shape::Plain, 0, Some(1)),
            Field::RuleTimeouts => f("`timeouts`", Shape::Plain, 0, Some(2)),
            Field::RuleSessionPersistence => f("`sessionPersistence`", Shape::Plain, 1, None),
            Field::RuleRetry => f("`retry`", Shape::Plain, 2, None),
            Field::RuleName => f("`name`", Shape::Plain, 2, Some(4)),
            Field::MirrorFraction => f(
                "`RequestMirror` `percent` or `fraction`",
                Shape::Plain,
                2,
                Some(3),
            ),
            Field::CorsFilter => f("a `CORS` filter", Shape::Filter, 3, Some(5)),
            Field::ExternalAuthFilter => f("an `ExternalAuth` filter", Shape::Filter, 4, None),
            Field::GatewayInfrastructure => f("`spec.infrastructure`", Shape::Plain, 0, Some(2)),
            Field::GatewayBackendTls => Facts {
                removed: Some(4),
                instead: Some("`spec.tls.backend`"),
                ..f("`spec.backendTLS`", Shape::Plain, 2, None)
            },
            Field::ListenerFrontendValidation => Facts {
                removed: Some(4),
                instead: Some("`spec.tls.frontend`"),
                ..f("`tls.frontendValidation`", Shape::Plain, 1, None)
            },
            Field::GatewayTls => f("`spec.tls`", Shape::Plain, 4, Some(5)),
            Field::GatewayAllowedListeners => {
                f("`spec.allowedListeners`", Shape::Plain, 3, Some(5))
            }
            Field::GatewayDefaultScope => f("`spec.defaultScope`", Shape::Plain, 4, None),
            Field::TlsRouteKind => f("`TLSRoute`", Shape::RouteKind, 0, Some(5)),
            Field::TcpRouteKind => f("`TCPRoute`", Shape::RouteKind, 0, Some(6)),
            Field::UdpRouteKind => f("`UDPRoute`", Shape::RouteKind, 0, Some(6)),
        }
    }
}

impl Facts {
    fn in_standard(&self, r: Release) -> bool {
        self.standard.is_some_and(|s| s <= r.minor) && self.removed.is_none_or(|x| r.minor < x)
    }

    fn in_experimental(&self, r: Release) -> bool {
        (self.experimental <= r.minor || self.in_standard(r))
            && self.removed.is_none_or(|x| r.minor < x)
    }

    /// Its history as a clause: "experimental-channel since v1.2 and still
    /// experimental in v1.6, the newest release checked".
    fn history(&self) -> String {
        let v = |m: u8| Release { minor: m }.to_string();
        let first = v(self.experimental);
        match (self.standard, self.removed) {
            (Some(s), _) if s == self.experimental + 1 => {
                format!("experimental-channel in {first} and standard since {}", v(s))
            }
            (Some(s), _) => format!(
                "experimental-channel in {first}–{} and standard since {}",
                v(s - 1),
                v(s)
            ),
            (None, Some(x)) => format!(
                "experimental-channel in {first}–{} only, removed in {}{}",
                v(x - 1),
                v(x),
                self.instead.map(|i| format!(" (now {i})")).unwrap_or_default()
            ),
            (None, None) => format!(
                "experimental-channel since {first} and still experimental in {}, the newest release checked",
                Release::NEWEST_CHECKED
            ),
        }
    }
}

/// Lint level and the clause saying why, or `None` when the CRDs have it.
fn judge(facts: &Facts, crds: Option<Crds>) -> Option<(LintLevel, String)> {
    let Some(crds) = crds else {
        return if facts.in_standard(Release::ASSUMED) && facts.removed.is_none() {
            None
        } else {
            Some((LintLevel::Warn, format!("which is {}", facts.history())))
        };
    };
    let r = crds.release;
    let has = match crds.channel {
        Channel::Standard => facts.in_standard(r),
        Channel::Experimental => facts.in_experimental(r),
    };
    if has {
        return None;
    }
    let installed = format!(
        "the installed {}-channel CRDs of {r}",
        crds.channel.as_str()
    );
    if r > Release::NEWEST_CHECKED && facts.removed.is_none() && facts.standard.is_none() {
        return Some((
            LintLevel::Warn,
            format!(
                "which is {}; {installed} are newer than that, so it may have graduated",
                facts.history()
            ),
        ));
    }
    Some((
        LintLevel::Fail,
        format!("which {installed} do not have ({})", facts.history()),
    ))
}

pub(super) fn lint(m: &Manifests, crds: Option<Crds>) -> Vec<Lint> {
    let mut out = Vec::new();
    for gw in &m.gateways {
        let uses = gateway_fields(&gw.object);
        out.extend(report(
            "Gateway",
            &gw.object.metadata,
            &gw.source,
            &uses,
            crds,
        ));
    }
    for route in &m.routes {
        let uses = route_fields(&route.object);
        out.extend(report(
            "HTTPRoute",
            &route.object.metadata,
            &route.source,
            &uses,
            crds,
        ));
    }
    out
}

/// Where in the object a field is used.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Place {
    Spec,
    /// 1-based.
    Rule(usize),
    Listener(String),
    ParentRef(String),
}

/// `" in rules 1 and 3"`, `" in listener `db`"`, or nothing for the spec.
fn places_text(places: &[Place]) -> String {
    let rules: Vec<String> = places
        .iter()
        .filter_map(|p| match p {
            Place::Rule(n) => Some(n.to_string()),
            _ => None,
        })
        .collect();
    let named = |pick: fn(&Place) -> Option<&String>| -> Vec<String> {
        places
            .iter()
            .filter_map(pick)
            .map(|n| format!("`{n}`"))
            .collect()
    };
    let listeners = named(|p| match p {
        Place::Listener(n) => Some(n),
        _ => None,
    });
    let parents = named(|p| match p {
        Place::ParentRef(n) => Some(n),
        _ => None,
    });
    let mut parts = Vec::new();
    for (one, many, items) in [
        ("rule", "rules", rules),
        ("listener", "listeners", listeners),
        ("parentRef", "parentRefs", parents),
    ] {
        match items.as_slice() {
            [] => {}
            [only] => parts.push(format!("{one} {only}")),
            _ => parts.push(format!("{many} {}", and_list(&items))),
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" in {}", and_list(&parts))
    }
}

/// Each field used, with where (in order of first use).
type Uses = Vec<(Field, Vec<Place>)>;

fn add(uses: &mut Uses, field: Field, place: Place) {
    match uses.iter_mut().find(|(f, _)| *f == field) {
        Some((_, places)) => {
            if !places.contains(&place) {
                places.push(place);
            }
        }
        None => uses.push((field, vec![place])),
    }
}

fn gateway_fields(gw: &crate::init::k8s::Gateway) -> Uses {
    let mut uses = Uses::new();
    let spec_fields = [
        ("infrastructure", Field::GatewayInfrastructure),
        ("backendTLS", Field::GatewayBackendTls),
        ("tls", Field::GatewayTls),
        ("allowedListeners", Field::GatewayAllowedListeners),
        ("defaultScope", Field::GatewayDefaultScope),
    ];
    for (key, field) in spec_fields {
        if gw.spec.other.get(key).is_some_and(|v| !v.is_null()) {
            add(&mut uses, field, Place::Spec);
        }
    }
    for l in &gw.spec.listeners {
        let place = Place::Listener(l.name.clone());
        if l.tls.as_ref().is_some_and(|t| {
            t.other
                .get("frontendValidation")
                .is_some_and(|v| !v.is_null())
        }) {
            add(&mut uses, Field::ListenerFrontendValidation, place.clone());
        }
        let kinds = l
            .other
            .get("allowedRoutes")
            .and_then(|a| a.get("kinds"))
            .and_then(Value::as_array);
        for k in kinds.into_iter().flatten() {
            let field = match k.get("kind").and_then(Value::as_str) {
                Some("TLSRoute") => Field::TlsRouteKind,
                Some("TCPRoute") => Field::TcpRouteKind,
                Some("UDPRoute") => Field::UdpRouteKind,
                _ => continue,
            };
            add(&mut uses, field, place.clone());
        }
    }
    uses
}

fn route_fields(route: &crate::init::k8s::HttpRoute) -> Uses {
    let mut uses = Uses::new();
    for p in &route.spec.parent_refs {
        if p.port.is_some() {
            add(
                &mut uses,
                Field::ParentRefPort,
                Place::ParentRef(p.name.clone()),
            );
        }
    }
    for (i, rule) in route.spec.rules.iter().enumerate() {
        let place = Place::Rule(i + 1);
        if rule.timeouts.as_ref().is_some_and(|v| !v.is_null()) {
            add(&mut uses, Field::RuleTimeouts, place.clone());
        }
        let rule_fields = [
            ("sessionPersistence", Field::RuleSessionPersistence),
            ("retry", Field::RuleRetry),
            ("name", Field::RuleName),
        ];
        for (key, field) in rule_fields {
            if rule.other.get(key).is_some_and(|v| !v.is_null()) {
                add(&mut uses, field, place.clone());
            }
        }
        for filter in &rule.filters {
            let field = match filter.get("type").and_then(Value::as_str) {
                Some("CORS") => Field::CorsFilter,
                Some("ExternalAuth") => Field::ExternalAuthFilter,
                Some("RequestMirror") => {
                    let mirror = filter.get("requestMirror");
                    let fraction = mirror.is_some_and(|m| {
                        m.get("percent").is_some_and(|v| !v.is_null())
                            || m.get("fraction").is_some_and(|v| !v.is_null())
                    });
                    if !fraction {
                        continue;
                    }
                    Field::MirrorFraction
                }
                _ => continue,
            };
            add(&mut uses, field, place.clone());
        }
    }
    uses
}

fn report(kind: &str, meta: &Meta, source: &str, uses: &Uses, crds: Option<Crds>) -> Vec<Lint> {
    let plural = match kind {
        "Gateway" => "gateways",
        _ => "httproutes",
    };
    let id = meta.id();
    let mut out = Vec::new();
    for (field, places) in uses {
        let facts = field.facts();
        let Some((level, why)) = judge(&facts, crds) else {
            continue;
        };
        let name = facts.name;
        let at = places_text(places);
        let first_ok = facts
            .standard
            .map(|s| format!("standard-channel CRDs of {} or newer", Release { minor: s }))
            .unwrap_or_else(|| "experimental-channel CRDs that have it".to_owned());
        let check = format!(
            "Check the installed CRDs (`kubectl get crd {plural}.gateway.networking.k8s.io -o yaml`, annotations `gateway.networking.k8s.io/bundle-version` and `gateway.networking.k8s.io/channel`)"
        );
        let (message, hint) = match facts.shape {
            Shape::Plain | Shape::Filter => {
                let verb = if facts.shape == Shape::Filter {
                    "uses"
                } else {
                    "sets"
                };
                let moved = match facts.instead {
                    Some(instead) => format!("Move it to {instead}, which later CRDs have; or "),
                    None => String::new(),
                };
                (
                    format!(
                        "{kind} {id} {verb} {name}{at}, {why}: CRDs without it reject the object under kubectl's default strict field validation, or drop it silently for clients that skip validation, and the gateway never applies it."
                    ),
                    format!(
                        "{moved}{check} and install {first_ok}, or leave {name} out of {kind} {id} and configure the behaviour in the implementation's own policy resources."
                    ),
                )
            }
            Shape::RouteKind => {
                let bare = name.trim_matches('`');
                (
                    format!(
                        "{kind} {id} lets {name} routes attach{at}, a resource kind {why}: without its CRD no {bare} can be created, so the listener routes nothing."
                    ),
                    format!(
                        "{check} and install {first_ok} (they include the {bare} CRD), or remove {name} from the listener's `allowedRoutes.kinds`."
                    ),
                )
            }
        };
        out.push(Lint {
            rule: LintRule::ExperimentalField,
            level,
            source: source.to_owned(),
            object: object(kind, meta),
            message,
            hint,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_parse_from_bundle_versions() {
        assert_eq!(Release::parse("v1.5.1"), Some(Release { minor: 5 }));
        assert_eq!(Release::parse("1.2"), Some(Release { minor: 2 }));
        assert_eq!(Release::parse("v1.7.0-rc.1"), Some(Release { minor: 7 }));
        assert_eq!(Release::parse("v2.0.0"), None);
        assert_eq!(Release::parse("latest"), None);
    }

    #[test]
    fn timeouts_are_not_reported_unless_the_crds_predate_v1_2() {
        let facts = Field::RuleTimeouts.facts();
        assert_eq!(judge(&facts, None), None);
        let old = Crds {
            release: Release { minor: 1 },
            channel: Channel::Standard,
        };
        assert!(matches!(
            judge(&facts, Some(old)),
            Some((LintLevel::Fail, _))
        ));
        let old_experimental = Crds {
            channel: Channel::Experimental,
            ..old
        };
        assert_eq!(judge(&facts, Some(old_experimental)), None);
    }

    #[test]
    fn cors_depends_on_release_and_channel() {
        let facts = Field::CorsFilter.facts();
        let crds = |minor, channel| {
            Some(Crds {
                release: Release { minor },
                channel,
            })
        };
        assert!(matches!(judge(&facts, None), Some((LintLevel::Warn, _))));
        assert!(judge(&facts, crds(4, Channel::Standard)).is_some());
        assert_eq!(judge(&facts, crds(4, Channel::Experimental)), None);
        assert!(judge(&facts, crds(2, Channel::Experimental)).is_some());
        assert_eq!(judge(&facts, crds(5, Channel::Standard)), None);
    }

    #[test]
    fn removed_fields_fail_on_later_experimental_crds() {
        let facts = Field::GatewayBackendTls.facts();
        let crds = Crds {
            release: Release { minor: 4 },
            channel: Channel::Experimental,
        };
        let (level, why) = judge(&facts, Some(crds)).expect("reported");
        assert_eq!(level, LintLevel::Fail);
        assert!(
            why.contains("removed in v1.4 (now `spec.tls.backend`)"),
            "{why}"
        );
    }

    #[test]
    fn still_experimental_fields_only_warn_on_releases_newer_than_checked() {
        let facts = Field::RuleRetry.facts();
        let crds = Crds {
            release: Release { minor: 7 },
            channel: Channel::Standard,
        };
        assert!(matches!(
            judge(&facts, Some(crds)),
            Some((LintLevel::Warn, _))
        ));
    }

    #[test]
    fn histories_read_as_clauses() {
        assert_eq!(
            Field::RuleName.facts().history(),
            "experimental-channel in v1.2–v1.3 and standard since v1.4"
        );
        assert_eq!(
            Field::GatewayTls.facts().history(),
            "experimental-channel in v1.4 and standard since v1.5"
        );
        assert_eq!(
            Field::RuleRetry.facts().history(),
            "experimental-channel since v1.2 and still experimental in v1.6, the newest release checked"
        );
    }
}
