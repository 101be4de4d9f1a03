//! Hints: migration pitfalls recognised from one sample and the target's role.
//!
//! These turn a bare status into the sentence a platform engineer needs on
//! cutover night, citing FIELD-NOTES.md: an empty-body 404 from the gateway for
//! the production host is an HTTPRoute hostname mismatch; `no healthy upstream`
//! is a backend without endpoints; an upstream reset is a pooled connection to
//! a gone pod. A route miss for a host that other checks reached through the
//! same target is a path-match difference instead (ingress-nginx matches
//! `ImplementationSpecific` paths as string prefixes; Gateway API `PathPrefix`
//! matches whole segments). A Host written with a trailing dot, upper case
//! or a port gets that variant's own remedy ([`variant_hint`]): nginx routes
//! all of them like the bare name, an HTTPRoute matches exactly.

use super::finding::{Finding, FindingKind, Level};
use crate::probe::hostnames::Variant;
use crate::probe::{Origin, ProbeResult, Sample};
use crate::target::Target;

/// The remedy for a gateway that does not route the production host.
pub const HOSTNAME_HINT: &str = "the HTTPRoute's spec.hostnames must list the production host exactly (and the Gateway listener's hostname must allow it)";

/// The remedy for a gateway that routes the production host but not this
/// way of writing it in Host.
pub fn variant_hint(v: Variant) -> &'static str {
    match v {
        Variant::AsWritten => HOSTNAME_HINT,
        Variant::TrailingDot => "HTTPRoute hostnames match the Host exactly and cannot be written with a trailing dot, while ingress-nginx routes `shop.example.com.` like `shop.example.com` (a client given the fully qualified URL, `https://shop.example.com./`, sends the dot): have the gateway strip the dot before routing (Envoy's `strip_trailing_host_dot` on the listener, where the implementation exposes it), or make sure no client sends it",
        Variant::UpperCase => "host names are case-insensitive and nginx matches them so: a gateway that routes only the lower-case Host matches it literally somewhere, most likely a `headers` match on Host or a policy keyed on its value: match the host through the HTTPRoute's `hostnames` only",
        Variant::Port => "Envoy matches a Host with a port (`shop.example.com:443`) against the route hostnames as written unless the implementation ignores the port (`ignore_port_in_host_matching`, or `strip_any_host_port` on the listener), while nginx ignores it: have the gateway ignore the port, or make sure clients do not send it",
    }
}

/// Findings with hints for one sample of `check` through `target`.
///
/// `host_routed` tells whether any check reached the app through this target
/// with this Host: then a route miss is about the path, not the hostname.
pub fn hints(
    check: &str,
    target: &Target,
    host: &str,
    host_routed: bool,
    sample: &Sample,
) -> Vec<Finding> {
    let Some(resp) = &sample.response else {
        return Vec::new();
    };
    let finding = |kind: FindingKind, message: String, hint: &str| {
        Finding::new(kind, Level::Fail, Some(check), Some(&target.name), message).with_hint(hint)
    };
    let mut out = Vec::new();
    let reason = resp.origin_reason;
    let route_miss =
        resp.origin == Origin::Gateway && resp.status == 404 && reason.contains("route not found");
    if route_miss && host_routed {
        out.push(finding(
            FindingKind::RouteMiss,
            format!("{} answered 404 with an empty body for {}: no route matched this path, though Host `{host}` is routed", target.name, sample.url),
            "ingress-nginx matches ImplementationSpecific paths as string prefixes (/api also matches /apix) while Gateway API PathPrefix matches whole path segments: add a match for this path to the HTTPRoute",
        ));
    }
    if route_miss && !host_routed {
        out.push(finding(
            FindingKind::HostnameMismatch,
            format!(
                "{} answered 404 with an empty body for Host `{host}`: no route matched",
                target.name
            ),
            match Variant::of(host) {
                Variant::AsWritten => HOSTNAME_HINT,
                v => variant_hint(v),
            },
        ));
    }
    if resp.origin == Origin::Gateway && reason.contains("no healthy upstream") {
        out.push(finding(
            FindingKind::NoHealthyUpstream,
            format!("{} answered {} `no healthy upstream`", target.name, resp.status),
            "the backend Service behind the HTTPRoute has no ready endpoints (check the backendRef name, port and the pods' readiness)",
        ));
    }
    if resp.origin == Origin::Gateway && reason.contains("upstream connect error") {
        out.push(finding(
            FindingKind::UpstreamReset,
            format!("{} answered {} with an upstream connect error or reset", target.name, resp.status),
            "Envoy reused a pooled connection the app had closed: set the BackendConfigPolicy idleTimeout below the app's keep-alive, or shorten the app's keep-alive",
        ));
    }
    out
}

/// A WebSocket upgrade the baseline accepts and the gateway refuses with 403.
pub fn websocket_refused(
    check: &str,
    base: (&str, &ProbeResult),
    other: (&Target, &ProbeResult),
) -> Option<Finding> {
    let (ProbeResult::WebSocket(b), ProbeResult::WebSocket(o)) = (base.1, other.1) else {
        return None;
    };
    let resp = o.handshake.response.as_ref()?;
    if !b.upgraded() || resp.status != 403 {
        return None;
    }
    let by = if resp.origin == Origin::Gateway {
        " by the gateway itself"
    } else {
        ""
    };
    Some(
        Finding::new(
            FindingKind::WebsocketRefused,
            Level::Fail,
            Some(check),
            Some(&other.0.name),
            format!(
                "{} refused the WebSocket upgrade with 403{by} where {} upgraded (101)",
                other.0.name, base.0
            ),
        )
        .with_hint("enable WebSocket upgrades on the Gateway listener (kgateway: HTTPListenerPolicy upgradeConfig)"),
    )
}
