//! From manifests to a scenario: the checks `cutover init` writes.
//!
//! - One HTTP check per Ingress host × path, with parity on status and
//!   content type. `Exact` and `Prefix` paths are requested as written; a
//!   regex path (`use-regex`, or `rewrite-target`, which turns regex on) is
//!   requested at its literal prefix.
//! - **Boundary probes** where the two sides' path semantics differ, so the
//!   run proves what each side really routes: an `ImplementationSpecific`
//!   path `/api` is a string prefix in nginx (`/apix` matches) and a whole
//!   segment prefix in Gateway API, so `/apix`, `/api/`, `/API` and `/api/x`
//!   are asked too; a `rewrite-target` path with and without its trailing
//!   slash; on a host where any path uses regex, nginx matches every path of
//!   that host as a case-insensitive regex, so each path's upper-case
//!   variant is asked.
//! - Annotations become the checks that prove them: `enable-cors` a CORS
//!   check, `limit-rps`/`limit-rpm` a `rate_limit`, `proxy-body-size` a
//!   `body_limit`, `ssl-redirect`/`force-ssl-redirect` a `redirect`,
//!   `proxy-read-timeout` a `route_timeout`, WebSocket paths (named by
//!   `--websocket-paths`, by `nginx.org/websocket-services`, or with a
//!   `proxy-read-timeout` of an hour or more, which WebSocket routes set) a
//!   WebSocket check, external-dns `aws-weight` (with `set-identifier`) a DNS check
//!   with the expected weights. Every other `nginx.ingress.kubernetes.io/`
//!   annotation is listed as unmapped with the policy that usually replaces
//!   it.
//!
//! Invariants: pure; the text written is a scenario `cutover validate`
//! accepts (the CLI checks it before writing); check names are unique; every
//! check has a comment naming the object it came from.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::k8s::{Ingress, Manifests};

const NGINX: &str = "nginx.ingress.kubernetes.io/";

/// What the user told `init` beyond the manifests.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub ingress_connect: String,
    pub gateway_connect: String,
    /// Paths served over WebSocket (`--websocket-paths`).
    pub websocket_paths: Vec<String>,
    /// Authoritative nameservers for the DNS check (`--dns-nameserver`).
    pub nameservers: Vec<String>,
}

/// An annotation no check covers, and what replaces it on the gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmapped {
    pub object: String,
    pub annotation: String,
    pub value: String,
    pub replacement: &'static str,
}

/// The generated scenario and what it could not map.
#[derive(Clone, Debug)]
pub struct Generated {
    pub scenario: String,
    pub checks: usize,
    /// Paths to gRPC backends, whose checks are written commented out.
    pub grpc_paths: usize,
    pub unmapped: Vec<Unmapped>,
    /// Hosts found, the production host first.
    pub hosts: Vec<String>,
}

struct Writer {
    out: String,
    names: BTreeMap<String, usize>,
    checks: usize,
}

impl Writer {
    /// A unique check name.
    fn name(&mut self, base: &str) -> String {
        let n = self.names.entry(base.to_owned()).or_insert(0);
        *n += 1;
        let name = if *n == 1 {
            base.to_owned()
        } else {
            format!("{base} ({n})")
        };
        self.checks += 1;
        yaml_str(&name)
    }

    fn line(&mut self, s: &str) {
        self.out.push_str(s);
        self.out.push('\n');
    }
}

/// A YAML double-quoted string.
fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{}\"", s.replace('"', "'")))
}

/// The annotation's value on `ing` (`nginx.ingress.kubernetes.io/<key>`).
fn nginx<'a>(ing: &'a Ingress, key: &str) -> Option<&'a str> {
    ing.metadata.annotation(&format!("{NGINX}{key}"))
}

fn is_true(v: Option<&str>) -> bool {
    v.is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// The literal start of a regex path: `/api/v[0-9]+/.*` → `/api/v`.
fn literal_prefix(path: &str) -> String {
    let end = path
        .find(|c: char| "^$.*+?()[]{}|\\".contains(c))
        .unwrap_or(path.len());
    let p = &path[..end];
    if p.is_empty() {
        "/".to_owned()
    } else {
        p.to_owned()
    }
}

fn is_loopback(addr: &str) -> bool {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The scenario for `m`.
pub fn generate(m: &Manifests, opts: &Options) -> Generated {
    let mut hosts: Vec<String> = Vec::new();
    for ing in &m.ingresses {
        for r in &ing.object.spec.rules {
            if let Some(h) = r.host.as_deref().filter(|h| !h.starts_with('*')) {
                if !hosts.iter().any(|x| x == h) {
                    hosts.push(h.to_owned());
                }
            }
        }
    }
    let production = hosts
        .first()
        .cloned()
        .unwrap_or_else(|| "shop.example.com".to_owned());
    let mut w = Writer {
        out: String::new(),
        names: BTreeMap::new(),
        checks: 0,
    };
    let _ = writeln!(
        w.out,
        "# Generated by `cutover init` from {} Ingress(es), {} HTTPRoute(s) and {} Gateway(s).\n# Each check names the object it came from; review, then `cutover check` it.",
        m.ingresses.len(),
        m.routes.len(),
        m.gateways.len()
    );
    let _ = writeln!(
        w.out,
        "name: {}",
        yaml_str(&format!("{production} migration"))
    );
    let _ = writeln!(w.out, "host: {}", yaml_str(&production));
    w.line("targets:");
    let _ = writeln!(
        w.out,
        "  ingress: {{ connect: {}, role: ingress }}",
        yaml_str(&opts.ingress_connect)
    );
    let _ = writeln!(
        w.out,
        "  gateway: {{ connect: {}, role: gateway }}",
        yaml_str(&opts.gateway_connect)
    );
    w.line("defaults: { timeout: 10s }");
    w.line("checks:");
    let loopback = is_loopback(&opts.ingress_connect) && is_loopback(&opts.gateway_connect);
    // ingress-nginx: once one path of a host uses regex, every path of that
    // host (in any Ingress) is matched as a case-insensitive regex.
    let regex_hosts: Vec<&str> = m
        .ingresses
        .iter()
        .filter(|i| {
            is_true(nginx(&i.object, "use-regex")) || nginx(&i.object, "rewrite-target").is_some()
        })
        .flat_map(|i| i.object.spec.rules.iter().filter_map(|r| r.host.as_deref()))
        .collect();
    let mut unmapped = Vec::new();
    let mut grpc_paths = 0;
    let mut weights: BTreeMap<&str, f64> = BTreeMap::new();
    for src in &m.ingresses {
        let ing = &src.object;
        let id = format!("Ingress {}", ing.metadata.id());
        let regex = is_true(nginx(ing, "use-regex")) || nginx(ing, "rewrite-target").is_some();
        let rewrite = nginx(ing, "rewrite-target").is_some();
        let ws_services: Vec<&str> = ing
            .metadata
            .annotation("nginx.org/websocket-services")
            .map(|v| v.split(',').map(str::trim).collect())
            .unwrap_or_default();
        let long_read_timeout = nginx(ing, "proxy-read-timeout")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|s| s >= 3600);
        let grpc = nginx(ing, "backend-protocol")
            .is_some_and(|v| v.eq_ignore_ascii_case("grpc") || v.eq_ignore_ascii_case("grpcs"));
        let mut first_path: Option<(String, String)> = None;
        for rule in &ing.spec.rules {
            let Some(host) = rule.host.as_deref().filter(|h| !h.starts_with('*')) else {
                continue;
            };
            let host_field = if host == production {
                String::new()
            } else {
                format!("host: {}, ", yaml_str(host))
            };
            let Some(http) = &rule.http else { continue };
            for p in &http.paths {
                let raw = p.path.clone().unwrap_or_else(|| "/".to_owned());
                let kind = p
                    .path_type
                    .clone()
                    .unwrap_or_else(|| "ImplementationSpecific".into());
                let path = if regex {
                    literal_prefix(&raw)
                } else {
                    raw.clone()
                };
                if first_path.is_none() {
                    first_path = Some((host.to_owned(), path.clone()));
                }
                let backend = p
                    .backend
                    .service
                    .as_ref()
                    .map(|s| {
                        let port = s
                            .port
                            .number
                            .map(|n| n.to_string())
                            .or_else(|| s.port.name.clone())
                            .unwrap_or_default();
                        format!(" → service {}:{port}", s.name)
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    w.out,
                    "\n  # {id}: {host} {raw} ({kind}{}){backend}",
                    if regex { ", regex" } else { "" }
                );
                if grpc {
                    // A GET means nothing to a gRPC backend: a call does, and
                    // it needs the service's descriptor set, which no manifest has.
                    // Commented out: not counted as a check.
                    grpc_paths += 1;
                    let name = yaml_str(&format!("{host} grpc"));
                    let _ = writeln!(
                        w.out,
                        "  # backend-protocol: GRPC (a GRPCRoute on the gateway side). Give the service's\n  # descriptor set (protoc --include_imports --descriptor_set_out=api.pb api.proto)\n  # and a method to call, and uncomment:\n  # - name: {name}\n  #   grpc: {{ {host_field}method: package.Service/Method, descriptor: api.pb, request: {{}} }}\n  #   parity: [body]"
                    );
                    continue;
                }
                let name = w.name(&format!("{host} {path}"));
                let _ = writeln!(
                    w.out,
                    "  - name: {name}\n    http: {{ {host_field}path: {} }}\n    parity: [status, \"header:content-type\"]",
                    yaml_str(&path)
                );
                let mut probes: Vec<(String, &str)> = Vec::new();
                if kind == "ImplementationSpecific" && !regex && path != "/" {
                    let base = path.trim_end_matches('/');
                    probes.push((format!("{base}x"), "nginx matches it as a string prefix, Gateway API PathPrefix by whole segments"));
                    probes.push((format!("{base}/"), "the trailing slash"));
                    probes.push((base.to_uppercase(), "the case"));
                    probes.push((format!("{base}/x"), "a path below it"));
                }
                if rewrite && path != "/" {
                    let base = path.trim_end_matches('/');
                    let other = if path.ends_with('/') {
                        base.to_owned()
                    } else {
                        format!("{base}/")
                    };
                    probes.push((other, "rewrite-target with and without the trailing slash"));
                }
                if regex_hosts.contains(&host) && path.to_uppercase() != path {
                    probes.push((
                        path.to_uppercase(),
                        "use-regex makes every path of this host case-insensitive in nginx",
                    ));
                }
                for (probe, why) in probes {
                    let name = w.name(&format!("{host} {probe} (boundary of {path})"));
                    let _ = writeln!(
                        w.out,
                        "  # boundary: {why}\n  - name: {name}\n    http: {{ {host_field}path: {} }}\n    parity: [status]",
                        yaml_str(&probe)
                    );
                }
                let service = p.backend.service.as_ref().map(|s| s.name.as_str());
                let why = if opts
                    .websocket_paths
                    .iter()
                    .any(|ws| ws == &raw || ws == &path)
                {
                    Some("--websocket-paths")
                } else if ws_services.iter().any(|s| Some(*s) == service) {
                    Some("nginx.org/websocket-services names its service")
                } else if long_read_timeout {
                    Some("a proxy-read-timeout of an hour or more is what WebSocket routes set")
                } else {
                    None
                };
                if let Some(why) = why {
                    let name = w.name(&format!("{host} {path} websocket"));
                    let _ = writeln!(
                        w.out,
                        "  # WebSocket ({why}): an upgrade through both (kgateway needs an HTTPListenerPolicy upgradeConfig)\n  - name: {name}\n    websocket: {{ {host_field}path: {} }}",
                        yaml_str(&path)
                    );
                }
            }
        }
        let Some((host, path)) = first_path else {
            continue;
        };
        let host_field = if host == production {
            String::new()
        } else {
            format!("host: {}, ", yaml_str(&host))
        };
        let mut mapped: Vec<&str> = vec!["use-regex", "rewrite-target"];
        if is_true(nginx(ing, "enable-cors")) {
            mapped.extend([
                "enable-cors",
                "cors-allow-origin",
                "cors-allow-methods",
                "cors-allow-headers",
                "cors-allow-credentials",
                "cors-max-age",
            ]);
            let origin = nginx(ing, "cors-allow-origin")
                .and_then(|o| {
                    o.split(',')
                        .map(str::trim)
                        .find(|o| !o.is_empty() && *o != "*")
                })
                .unwrap_or("https://example.com")
                .to_owned();
            let method = nginx(ing, "cors-allow-methods")
                .and_then(|m| {
                    m.split(',')
                        .map(str::trim)
                        .find(|m| !m.eq_ignore_ascii_case("GET") && !m.is_empty())
                })
                .unwrap_or("PUT")
                .to_ascii_uppercase();
            let name = w.name(&format!("{host} CORS preflight"));
            let _ = writeln!(
                w.out,
                "\n  # {id}: enable-cors → the gateway's CORS policy must answer preflights the same way\n  - name: {name}\n    cors: {{ {host_field}path: {}, origin: {}, method: {}, disallowed_origin: \"https://evil.example\" }}",
                yaml_str(&path),
                yaml_str(&origin),
                yaml_str(&method)
            );
        }
        let rps = nginx(ing, "limit-rps").and_then(|v| v.trim().parse::<f64>().ok());
        let rpm = nginx(ing, "limit-rpm").and_then(|v| v.trim().parse::<f64>().ok());
        if let Some(per_s) = rps.or(rpm.map(|m| m / 60.0)).filter(|r| *r > 0.0) {
            mapped.extend(["limit-rps", "limit-rpm", "limit-burst-multiplier"]);
            // ingress-nginx lets a burst of 5 × the rate through before limiting.
            let count = ((per_s * 5.0 * 2.0).ceil() as u64 + 20).min(500);
            let rate = (per_s * 10.0).clamp(20.0, 200.0).round();
            let name = w.name(&format!("{host} rate limit"));
            let sources = if loopback {
                ", source_addresses: [127.0.0.1, 127.0.0.2]".to_owned()
            } else {
                String::new()
            };
            let advice = if loopback {
                ""
            } else {
                "\n  # To see per-client vs shared, add `source_addresses:` with two addresses of this machine."
            };
            let _ = writeln!(
                w.out,
                "\n  # {id}: limit-rps/limit-rpm ({per_s:.2}/s per client in nginx; kgateway's local limit is one bucket for everyone){advice}\n  - name: {name}\n    rate_limit: {{ {host_field}path: {}, count: {count}, rate: {rate}/s{sources} }}",
                yaml_str(&path)
            );
        }
        if let Some(size) = nginx(ing, "proxy-body-size")
            .map(str::trim)
            .filter(|s| *s != "0" && !s.is_empty())
        {
            mapped.push("proxy-body-size");
            let name = w.name(&format!("{host} body limit"));
            let _ = writeln!(
                w.out,
                "\n  # {id}: proxy-body-size {size}\n  - name: {name}\n    body_limit: {{ {host_field}path: {}, size: {}, method: POST }}",
                yaml_str(&path),
                yaml_str(&size.to_ascii_lowercase())
            );
        }
        let redirect =
            is_true(nginx(ing, "ssl-redirect")) || is_true(nginx(ing, "force-ssl-redirect"));
        if redirect {
            mapped.extend(["ssl-redirect", "force-ssl-redirect"]);
            let name = w.name(&format!("{host} plain HTTP redirect"));
            let _ = writeln!(
                w.out,
                "\n  # {id}: ssl-redirect → nginx answers 308, an HTTPRoute RequestRedirect 301 or 302\n  - name: {name}\n    redirect: {{ {host_field}path: {}, method: POST }}",
                yaml_str(&path)
            );
        }
        if let Some(secs) =
            nginx(ing, "proxy-read-timeout").and_then(|v| v.trim().parse::<u64>().ok())
        {
            mapped.push("proxy-read-timeout");
            let name = w.name(&format!("{host} route timeout"));
            let _ = writeln!(
                w.out,
                "\n  # {id}: proxy-read-timeout {secs}s (Envoy's route timeout is 15 s unless the HTTPRoute sets timeouts.request)\n  # Point `path` at an endpoint of this route that answers in about {}s.\n  - name: {name}\n    route_timeout: {{ {host_field}path: {}, duration: {}s }}",
                secs.min(15) + 1,
                yaml_str(&path),
                secs.min(15) + 1
            );
        }
        if let Some(weight) = ing
            .metadata
            .annotation("external-dns.alpha.kubernetes.io/aws-weight")
            .and_then(|v| v.trim().parse::<f64>().ok())
        {
            weights.insert("ingress", weight);
        }
        for (k, v) in &ing.metadata.annotations {
            let Some(key) = k.strip_prefix(NGINX) else {
                continue;
            };
            if mapped.contains(&key) {
                continue;
            }
            unmapped.push(Unmapped {
                object: id.clone(),
                annotation: k.clone(),
                value: v.clone(),
                replacement: replacement(key),
            });
        }
    }
    for r in &m.routes {
        if let Some(weight) = r
            .object
            .metadata
            .annotation("external-dns.alpha.kubernetes.io/aws-weight")
            .and_then(|v| v.trim().parse::<f64>().ok())
        {
            weights.entry("gateway").or_insert(weight);
        }
    }
    if weights.len() == 2 {
        let expect = format!(
            "{{ weights: {{ ingress: {}, gateway: {} }} }}",
            weights["ingress"], weights["gateway"]
        );
        if opts.nameservers.is_empty() {
            let _ = writeln!(
                w.out,
                "\n  # external-dns aws-weight: the split Route 53 should answer. Give the zone's\n  # authoritative servers (`--dns-nameserver`, or `dig NS`) and uncomment:\n  # - name: weighted dns\n  #   dns: {{ nameservers: [ns-1.awsdns-01.org] }}\n  #   expect: {expect}"
            );
        } else {
            let name = w.name("weighted dns");
            let ns: Vec<String> = opts.nameservers.iter().map(|n| yaml_str(n)).collect();
            let _ = writeln!(
                w.out,
                "\n  # external-dns aws-weight on the Ingress and the HTTPRoute: the split Route 53 should answer\n  - name: {name}\n    dns: {{ nameservers: [{}] }}\n    expect: {expect}",
                ns.join(", ")
            );
        }
    }
    Generated {
        scenario: w.out,
        checks: w.checks,
        grpc_paths,
        unmapped,
        hosts,
    }
}

/// What usually replaces an ingress-nginx annotation on the gateway side.
pub fn replacement(key: &str) -> &'static str {
    match key {
        k if k.starts_with("auth-") => "an external-auth policy: kgateway TrafficPolicy `extAuth`, Envoy Gateway SecurityPolicy `extAuth`/`basicAuth`",
        k if k.starts_with("session-cookie") || k == "affinity" || k == "affinity-mode" => "session persistence: kgateway BackendConfigPolicy (load balancer hash), Envoy Gateway BackendTrafficPolicy `loadBalancer.consistentHash`",
        "upstream-hash-by" | "load-balance" => "kgateway BackendConfigPolicy load balancer, Envoy Gateway BackendTrafficPolicy `loadBalancer`",
        "proxy-connect-timeout" | "proxy-send-timeout" | "proxy-next-upstream" | "proxy-next-upstream-tries" | "proxy-next-upstream-timeout" => "kgateway BackendConfigPolicy (connect timeout), Envoy Gateway BackendTrafficPolicy `timeout`/`retry`, or HTTPRoute `timeouts.backendRequest`",
        "whitelist-source-range" | "allowlist-source-range" | "denylist-source-range" => "an authorization policy: kgateway TrafficPolicy `rbac`, Envoy Gateway SecurityPolicy `authorization` with `clientCIDRs`",
        "configuration-snippet" | "server-snippet" | "location-snippet" => "no equivalent: raw nginx config; rebuild what it does with HTTPRoute filters, kgateway TrafficPolicy transformations or Envoy Gateway EnvoyPatchPolicy",
        "backend-protocol" => "GRPCRoute for GRPC, BackendTLSPolicy for HTTPS to the backend",
        "proxy-buffering" | "proxy-buffer-size" | "client-body-buffer-size" => "kgateway HTTPListenerPolicy / TrafficPolicy `buffer`, Envoy Gateway ClientTrafficPolicy or BackendTrafficPolicy",
        "use-forwarded-headers" | "compute-full-forwarded-for" | "forwarded-for-header" => "kgateway HTTPListenerPolicy (`xffNumTrustedHops`), Envoy Gateway ClientTrafficPolicy `clientIPDetection`",
        "permanent-redirect" | "temporal-redirect" | "app-root" => "an HTTPRoute `RequestRedirect` filter",
        "canary" | "canary-weight" | "canary-by-header" | "canary-by-cookie" => "HTTPRoute backendRefs `weight`, or a header match rule",
        "limit-connections" | "limit-whitelist" => "kgateway TrafficPolicy rate limit, Envoy Gateway BackendTrafficPolicy `rateLimit` or `circuitBreaker`",
        "enable-cors" | "cors-allow-origin" | "cors-allow-methods" | "cors-allow-headers" | "cors-allow-credentials" | "cors-max-age" | "cors-expose-headers" => "the HTTPRoute CORS filter (experimental channel), kgateway TrafficPolicy `cors`, Envoy Gateway SecurityPolicy `cors`",
        "proxy-ssl-secret" | "proxy-ssl-verify" | "proxy-ssl-name" => "BackendTLSPolicy",
        "custom-http-errors" | "default-backend" => "no direct equivalent: Envoy's local replies, kgateway TrafficPolicy transformations",
        _ => "no direct equivalent named here: look for a kgateway TrafficPolicy, BackendConfigPolicy or HTTPListenerPolicy field, or an Envoy Gateway BackendTrafficPolicy, ClientTrafficPolicy or SecurityPolicy one",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grpc_backend_gets_a_grpc_check_to_fill_in_and_no_get() {
        let m = manifests(
            r#"apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop-grpc
  annotations: { nginx.ingress.kubernetes.io/backend-protocol: GRPC }
spec:
  rules:
  - host: shop.example.test
    http: { paths: [ { path: /cutover.lab.v1.Shop, pathType: Prefix, backend: { service: { name: shop, port: { number: 9090 } } } } ] }
"#,
        );
        let g = generate(&m, &opts());
        assert!(
            g.scenario.contains(
                "#   grpc: { method: package.Service/Method, descriptor: api.pb, request: {} }"
            ),
            "{}",
            g.scenario
        );
        assert!(
            !g.scenario
                .contains("http: { path: \"/cutover.lab.v1.Shop\""),
            "{}",
            g.scenario
        );
        assert!(g
            .unmapped
            .iter()
            .any(|u| u.replacement.contains("GRPCRoute")));
    }

    #[test]
    fn a_regex_path_is_requested_at_its_literal_prefix() {
        assert_eq!(literal_prefix("/api/v[0-9]+/.*"), "/api/v");
        assert_eq!(literal_prefix("/(.*)"), "/");
        assert_eq!(literal_prefix("/shop"), "/shop");
    }

    #[test]
    fn loopback_connect_addresses_are_told_apart() {
        assert!(is_loopback("127.0.0.1:8080"));
        assert!(is_loopback("[::1]:443"));
        assert!(!is_loopback("k8s-ingress-123.elb.amazonaws.com:443"));
    }

    fn manifests(yaml: &str) -> Manifests {
        let mut m = Manifests::default();
        let problems = crate::init::read::read(
            &[std::path::PathBuf::from("-")],
            &mut yaml.as_bytes(),
            &mut m,
        );
        assert!(problems.is_empty(), "{problems:?}");
        m
    }

    fn opts() -> Options {
        Options {
            ingress_connect: "127.0.0.1:1".into(),
            gateway_connect: "127.0.0.1:2".into(),
            ..Options::default()
        }
    }

    #[test]
    fn use_regex_on_one_ingress_spreads_to_every_path_of_its_host_and_websocket_services_get_a_socket_check(
    ) {
        let m = manifests(
            r#"apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: api
  annotations: { nginx.ingress.kubernetes.io/use-regex: "true" }
spec:
  rules:
  - host: shop.example.test
    http: { paths: [ { path: "/api/v[0-9]+/.*", pathType: ImplementationSpecific, backend: { service: { name: api, port: { number: 80 } } } } ] }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: chat
  annotations: { nginx.org/websocket-services: "chat" }
spec:
  rules:
  - host: shop.example.test
    http: { paths: [ { path: /chat, pathType: Prefix, backend: { service: { name: chat, port: { number: 80 } } } } ] }
"#,
        );
        let g = generate(&m, &opts());
        // The regex path at its literal prefix, its upper case; the other
        // Ingress's /chat too, since its host uses regex.
        for want in [
            "http: { path: \"/api/v\" }",
            "http: { path: \"/API/V\" }",
            "http: { path: \"/CHAT\" }",
            "websocket: { path: \"/chat\" }",
        ] {
            assert!(
                g.scenario.contains(want),
                "missing {want} in:\n{}",
                g.scenario
            );
        }
        let plan =
            crate::scenario::load_str(&g.scenario, std::path::Path::new("g.yaml"), &|_| None);
        assert!(plan.is_ok(), "{:?}", plan.err().map(|e| e.to_string()));
    }
}
