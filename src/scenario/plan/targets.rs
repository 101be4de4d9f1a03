//! The `host`, `defaults.scheme` and `targets` sections: each target's
//! connect address, role, proxy software, Host/SNI, scheme, trust and headers.
//!
//! Invariants: targets keep their declared order, so a name's index in
//! [`TargetNames`] is its index in `Plan::targets` (a plan is only returned
//! when every target built); a target's headers are the defaults with its own
//! of the same name replacing them; a role left out is guessed from the name
//! or reported, never assumed; a CA file is a regular file of at most 1 MiB
//! holding at least one PEM certificate.

use std::sync::Arc;

use super::ctx::Ctx;
use super::limits::MAX_CA_FILE;
use super::Defaults;
use crate::scenario::model::RawTarget;
use crate::scenario::yaml::{unknown_message, At, Entries, Lenient, Loc};
use crate::target::{Connect, Proxy, Role, Scheme, Target, Tls};

/// The declared target names, in order: what checks, the baseline and the
/// load refer to.
pub(super) struct TargetNames(Vec<String>);

impl TargetNames {
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// The index of a named target, or an error that lists the known names.
    pub(super) fn resolve(&self, cx: &Ctx, r: &At<String>) -> Option<usize> {
        match self.0.iter().position(|n| *n == r.value) {
            Some(i) => Some(i),
            None => {
                let names: Vec<&str> = self.0.iter().map(String::as_str).collect();
                cx.err(r.loc, unknown_message("target", &r.value, &names));
                None
            }
        }
    }
}

/// Builds every declared target; duplicates and broken ones are reported and left out.
pub(super) fn build_targets(
    cx: &mut Ctx,
    raw: Option<&At<Entries<Lenient<RawTarget>>>>,
    root: Loc,
    host: &str,
    defaults: &Defaults,
) -> (Vec<Arc<Target>>, TargetNames) {
    const NONE: &str = "no targets: add the old and new paths under `targets:` (for example `ingress:` and `gateway:`)";
    let mut targets: Vec<Arc<Target>> = Vec::new();
    let mut target_names: Vec<String> = Vec::new();
    match raw {
        None => cx.err(root, NONE),
        Some(t) if t.0.is_empty() => cx.err(t.loc, NONE),
        Some(t) => {
            for (tname, raw_target) in &t.0 {
                if target_names.contains(&tname.value) {
                    cx.err(tname.loc, format!("duplicate target `{}`", tname.value));
                    continue;
                }
                target_names.push(tname.value.clone());
                let Lenient(Some(rt)) = raw_target else {
                    continue;
                };
                if let Some(target) =
                    build_target(cx, tname, rt, host, defaults.scheme, &defaults.headers)
                {
                    targets.push(Arc::new(target));
                }
            }
        }
    }
    (targets, TargetNames(target_names))
}

/// The target others are compared with: the one named by `baseline:`, else
/// the first ingress, else the first.
pub(super) fn baseline(
    cx: &Ctx,
    raw: Option<&At<String>>,
    targets: &[Arc<Target>],
    names: &TargetNames,
) -> usize {
    match raw {
        Some(b) => names.resolve(cx, b).unwrap_or(0),
        None => targets
            .iter()
            .position(|t| t.role == Role::Ingress)
            .unwrap_or(0),
    }
}

/// A Host a client can send: a DNS name or address, in any case, with an
/// optional trailing dot and port. Returned as written (trimmed): a check
/// sends it verbatim, which is how the hostname-variant traps are probed.
pub(super) fn validate_host(cx: &Ctx, h: &At<String>) -> Option<String> {
    let v = h.value.trim();
    if let Some((_, rest)) = v.split_once("://") {
        let bare = rest.split(['/', ':']).next().unwrap_or(rest);
        cx.err(
            h.loc,
            format!("`host` is a hostname, not a URL: did you mean `{bare}`?"),
        );
        return None;
    }
    let (name, port) = match v.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (v, None),
    };
    if let Some(port) = port {
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            cx.err(
                h.loc,
                format!("invalid port in host `{v}`: a port is a number between 1 and 65535"),
            );
            return None;
        }
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '*')
        });
    if !ok {
        cx.err(
            h.loc,
            format!(
                "invalid host `{v}`: write the production hostname, like shop.example.com (a check may add a trailing dot, upper case or a port)"
            ),
        );
        return None;
    }
    Some(v.to_owned())
}

/// The production host of the scenario or a target: a name, stored in its
/// canonical form (lower case, no trailing dot); a port is refused, since
/// it would ride on every request.
pub(super) fn validate_production_host(cx: &Ctx, h: &At<String>) -> Option<String> {
    let v = validate_host(cx, h)?;
    if v.contains(':') {
        cx.err(
            h.loc,
            format!(
                "the production host `{v}` has a port: write the name alone (the port goes in `connect:`), and give a check its own `host:` to send a port in Host"
            ),
        );
        return None;
    }
    Some(crate::target::host_name(&v))
}

pub(super) fn scheme(cx: &Ctx, s: &At<String>) -> Option<Scheme> {
    match s.value.as_str() {
        "http" => Some(Scheme::Http),
        "https" => Some(Scheme::Https),
        other => {
            cx.err(s.loc, unknown_message("scheme", other, &["http", "https"]));
            None
        }
    }
}

fn build_target(
    cx: &mut Ctx,
    name: &At<String>,
    rt: &RawTarget,
    host: &str,
    default_scheme: Option<Scheme>,
    default_headers: &[(String, String)],
) -> Option<Target> {
    let connect = Connect::parse(&rt.connect)
        .map_err(|e| cx.err(rt.connect.loc, e))
        .ok();
    let role = match &rt.role {
        Some(r) => match r.value.as_str() {
            "ingress" => Some(Role::Ingress),
            "gateway" => Some(Role::Gateway),
            other => {
                cx.err(
                    r.loc,
                    unknown_message("role", other, &["ingress", "gateway"]),
                );
                None
            }
        },
        None => {
            let n = name.value.to_ascii_lowercase();
            if n.contains("gateway") || n.contains("envoy") || n.contains("new") {
                Some(Role::Gateway)
            } else if n.contains("ingress") || n.contains("nginx") || n.contains("old") {
                Some(Role::Ingress)
            } else {
                cx.err(name.loc, format!("cannot tell the role of target `{}`: add `role: ingress` (old path) or `role: gateway` (new path)", name.value));
                None
            }
        }
    };
    let proxy = match &rt.proxy {
        Some(p) => match p.value.as_str() {
            "nginx" => Some(Proxy::Nginx),
            "envoy" => Some(Proxy::Envoy),
            other => {
                cx.err(p.loc, unknown_message("proxy", other, &["nginx", "envoy"]));
                None
            }
        },
        None => role.map(Proxy::default_for),
    };
    let target_host = match &rt.host {
        Some(h) => validate_production_host(cx, h),
        None => Some(host.to_owned()),
    };
    let scheme = match &rt.scheme {
        Some(s) => scheme(cx, s),
        None => Some(default_scheme.unwrap_or(match &connect {
            Some(c) if c.port == 443 || c.port == 8443 => Scheme::Https,
            _ => Scheme::Http,
        })),
    };
    let mut tls = Tls::default();
    if let Some(raw_tls) = &rt.tls {
        tls.insecure = raw_tls.insecure.unwrap_or(false);
        if let Some(ca) = &raw_tls.ca {
            if let Some((path, pem)) = cx.file(ca, "CA file", MAX_CA_FILE) {
                match reqwest::Certificate::from_pem_bundle(&pem) {
                    Ok(certs) if !certs.is_empty() => {
                        tls.ca = Some(path);
                        tls.ca_pem = Some(pem);
                    }
                    _ => cx.err(
                        ca.loc,
                        format!("CA file `{}` holds no PEM certificate", path.display()),
                    ),
                }
            }
        }
    }
    let mut headers = default_headers.to_vec();
    for (n, v) in cx.headers(rt.headers.as_ref()) {
        headers.retain(|(h, _)| *h != n);
        headers.push((n, v));
    }
    Some(Target {
        name: name.value.clone(),
        dns_answers: rt
            .dns_answers
            .iter()
            .flatten()
            .map(|a| a.trim().trim_end_matches('.').to_ascii_lowercase())
            .collect(),
        role: role?,
        proxy: proxy?,
        connect: connect?,
        host: target_host?,
        scheme: scheme?,
        tls,
        headers,
    })
}
