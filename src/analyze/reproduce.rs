//! Reproduce: the curl command that sends a check's request through one
//! target, as the probe did (`--connect-to` keeps the production Host and
//! SNI while connecting to the target's address).
//!
//! Invariants: a credential never appears in a command. A value that came
//! from an environment variable is written as that variable (`${SHOP_TOKEN}`,
//! inside double quotes so the shell expands it); any other credential
//! header value, or a secret of the plan, is written as `[redacted]`.
//! Everything else is quoted for a POSIX shell. Pure: built from the plan.

use crate::scenario::plan::{Plan, ProbeSpec, SENSITIVE_HEADERS};
use crate::target::{Scheme, Target};

const REDACTED: &str = "[redacted]";

/// The curl command for check `ci` through target `ti`: the HTTP request, a
/// CORS check's preflight, or a WebSocket check's upgrade (the handshake
/// only: its status is what differs); `None` for DNS and behaviour checks.
pub fn curl(plan: &Plan, ci: usize, ti: usize) -> Option<String> {
    let check = plan.checks.get(ci)?;
    let target = plan.targets.get(ti)?;
    let mut args: Vec<String> = vec!["curl".into(), "-sS".into(), "-i".into()];
    let (host, path, headers, follow) = match &check.probe {
        ProbeSpec::Http(spec) => {
            match spec.method.as_str() {
                "GET" => {}
                "HEAD" => args.push("-I".into()),
                m => args.extend(["-X".into(), quote(m)]),
            }
            match spec.version {
                crate::probe::http::Version::Auto => {}
                crate::probe::http::Version::H1 => args.push("--http1.1".into()),
                crate::probe::http::Version::H2 => args.push("--http2".into()),
                crate::probe::http::Version::H2c => args.push("--http2-prior-knowledge".into()),
            }
            (
                spec.host.as_deref(),
                &spec.path_and_query,
                &spec.headers,
                spec.follow_redirects,
            )
        }
        ProbeSpec::Cors(spec) => {
            args.extend(["-X".into(), "OPTIONS".into()]);
            args.extend(["-H".into(), quote(&format!("origin: {}", spec.origin))]);
            args.extend([
                "-H".into(),
                quote(&format!("access-control-request-method: {}", spec.method)),
            ]);
            if !spec.request_headers.is_empty() {
                args.extend([
                    "-H".into(),
                    quote(&format!(
                        "access-control-request-headers: {}",
                        spec.request_headers.join(", ")
                    )),
                ]);
            }
            (
                spec.host.as_deref(),
                &spec.path_and_query,
                &spec.headers,
                false,
            )
        }
        ProbeSpec::WebSocket(spec) => {
            args.extend(["--http1.1".into(), "--max-time".into(), "2".into()]);
            for h in [
                "connection: Upgrade",
                "upgrade: websocket",
                "sec-websocket-version: 13",
                "sec-websocket-key: Y3V0b3ZlcnByb2JlLWtleQ==",
            ] {
                args.extend(["-H".into(), quote(h)]);
            }
            if !spec.subprotocols.is_empty() {
                args.extend([
                    "-H".into(),
                    quote(&format!(
                        "sec-websocket-protocol: {}",
                        spec.subprotocols.join(", ")
                    )),
                ]);
            }
            if let Some(origin) = &spec.origin {
                args.extend(["-H".into(), quote(&format!("origin: {origin}"))]);
            }
            (
                spec.host.as_deref(),
                &spec.path_and_query,
                &spec.headers,
                false,
            )
        }
        _ => return None,
    };
    let host = host.unwrap_or(&target.host);
    args.extend(tls_args(target));
    let port = match target.scheme {
        Scheme::Http => 80,
        Scheme::Https => 443,
    };
    args.push("--connect-to".into());
    args.push(quote(&format!(
        "{}:{port}:{}:{}",
        host,
        bracketed(&target.connect.host),
        target.connect.port
    )));
    for (name, value) in target.headers.iter().chain(headers.iter()) {
        args.push("-H".into());
        args.push(header_arg(plan, name, value));
    }
    if let ProbeSpec::Http(spec) = &check.probe {
        if let Some(body) = &spec.body {
            match std::str::from_utf8(body) {
                Ok(text) => {
                    args.push("--data-binary".into());
                    args.push(with_vars(plan, text, false));
                }
                // A binary body cannot be written on a command line.
                Err(_) => args.push("--data-binary @BODY_FILE".into()),
            }
        }
    }
    if follow {
        args.push("-L".into());
    }
    args.push(quote(&target.url(host, path)));
    Some(args.join(" "))
}

fn tls_args(target: &Target) -> Vec<String> {
    if target.scheme != Scheme::Https {
        return Vec::new();
    }
    if target.tls.insecure {
        vec!["-k".into()]
    } else if let Some(ca) = &target.tls.ca {
        vec!["--cacert".into(), quote(&ca.display().to_string())]
    } else {
        Vec::new()
    }
}

fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// `-H` argument for one header: credentials by their variable or redacted.
fn header_arg(plan: &Plan, name: &str, value: &str) -> String {
    let sensitive = SENSITIVE_HEADERS.contains(&name.to_ascii_lowercase().as_str());
    with_vars(plan, &format!("{name}: {value}"), sensitive)
}

/// Quotes `text`, writing every value from an environment variable as that
/// variable; with `sensitive`, a value that came from no variable is
/// `[redacted]`, as is any other secret of the plan.
fn with_vars(plan: &Plan, text: &str, sensitive: bool) -> String {
    // Split into literal text and variables, longest values first.
    let mut vars: Vec<&(String, String)> = plan.env_vars.iter().collect();
    vars.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
    let mut parts: Vec<(bool, String)> = vec![(false, text.to_owned())];
    for (var, value) in vars {
        let mut next = Vec::new();
        for (is_var, s) in parts {
            if is_var || !s.contains(value.as_str()) {
                next.push((is_var, s));
                continue;
            }
            let mut pieces = s.split(value.as_str()).peekable();
            while let Some(p) = pieces.next() {
                next.push((false, p.to_owned()));
                if pieces.peek().is_some() {
                    next.push((true, var.clone()));
                }
            }
        }
        parts = next;
    }
    let has_var = parts.iter().any(|(v, _)| *v);
    for (is_var, s) in parts.iter_mut() {
        if *is_var {
            continue;
        }
        for secret in &plan.secrets {
            if !secret.is_empty() && s.contains(secret.as_str()) {
                *s = s.replace(secret.as_str(), REDACTED);
            }
        }
    }
    if sensitive && !has_var {
        // `authorization: Bearer xyz` → `authorization: [redacted]`.
        let name = text.split_once(':').map_or(text, |(n, _)| n);
        return quote(&format!("{name}: {REDACTED}"));
    }
    if !has_var {
        let joined: String = parts.into_iter().map(|(_, s)| s).collect();
        return quote(&joined);
    }
    let mut out = String::from("\"");
    for (is_var, s) in parts {
        if is_var {
            out.push_str(&format!("${{{s}}}"));
        } else {
            for c in s.chars() {
                if matches!(c, '"' | '\\' | '$' | '`') {
                    out.push('\\');
                }
                out.push(c);
            }
        }
    }
    out.push('"');
    out
}

/// Single-quotes for a POSIX shell when needed.
fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'_' | b'.' | b'/' | b':' | b'@' | b'=' | b',')
        });
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(vars: &[(&str, &str)]) -> Plan {
        let yaml = r#"
host: shop.example.com
targets:
  ingress: { connect: "203.0.113.10:443" }
  gateway: { connect: "[2001:db8::1]:8443", tls: { insecure: true } }
defaults:
  scheme: https
  headers: { authorization: "${SHOP_TOKEN}", x-api-key: plain-key-1, x-team: "a'b" }
checks:
  - name: items
    http: { path: "/api/items?q=1", headers: { cookie: "s=${SESSION}" } }
  - name: create
    http: { method: POST, path: /api/items, body: '{"n":1}' }
"#;
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        crate::scenario::load_str(yaml, std::path::Path::new("t.yaml"), &move |k| {
            vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
        .expect("valid")
    }

    #[test]
    fn credentials_appear_as_their_variable_or_redacted() {
        let p = plan(&[("SHOP_TOKEN", "Bearer s3cr3t-token"), ("SESSION", "abc123")]);
        let c = curl(&p, 0, 0).expect("http check");
        assert_eq!(
            c,
            "curl -sS -i --connect-to shop.example.com:443:203.0.113.10:443 \
             -H \"authorization: ${SHOP_TOKEN}\" -H 'x-api-key: [redacted]' \
             -H 'x-team: a'\\''b' -H \"cookie: s=${SESSION}\" \
             'https://shop.example.com/api/items?q=1'"
        );
        assert!(!c.contains("s3cr3t") && !c.contains("abc123") && !c.contains("plain-key"));
    }

    #[test]
    fn methods_bodies_ipv6_and_insecure_targets() {
        let p = plan(&[("SHOP_TOKEN", "t0ken"), ("SESSION", "x")]);
        let c = curl(&p, 1, 1).expect("http check");
        assert!(
            c.starts_with(
                "curl -sS -i -X POST -k --connect-to 'shop.example.com:443:[2001:db8::1]:8443' "
            ),
            "{c}"
        );
        assert!(
            c.ends_with(" --data-binary '{\"n\":1}' https://shop.example.com/api/items"),
            "{c}"
        );
    }
}
