//! `cutover init`'s migration lint: the fixtures under tests/fixtures/k8s
//! read and linted as a golden, the broken fixtures' problems, and per rule
//! a case that is reported and one that is not, each from small YAML
//! documents read by the same reader.

use std::path::PathBuf;

use cutover::init::k8s::Manifests;
use cutover::init::lint::{
    lint, lint_with, Channel, Crds, Lint, LintLevel, LintRule, Options, Release,
};
use cutover::init::read::{read, Problem};

use crate::support::root;

fn fixtures() -> PathBuf {
    root().join("tests/fixtures/k8s")
}

/// Reads `inputs`, returning what was read and the problems.
fn read_paths(inputs: &[PathBuf]) -> (Manifests, Vec<Problem>) {
    let mut m = Manifests::default();
    let problems = read(inputs, &mut std::io::empty(), &mut m);
    (m, problems)
}

/// The manifests in `yaml` (read as stdin), which must read cleanly.
fn manifests(yaml: &str) -> Manifests {
    let mut m = Manifests::default();
    let problems = read(&[PathBuf::from("-")], &mut yaml.as_bytes(), &mut m);
    assert!(problems.is_empty(), "{problems:#?}");
    m
}

/// The lints of one rule.
fn of(rule: LintRule, lints: Vec<Lint>) -> Vec<Lint> {
    lints.into_iter().filter(|l| l.rule == rule).collect()
}

/// Paths relative to the repository, for stable text.
fn relative(s: &str) -> String {
    s.replace(&format!("{}/", root().display()), "")
}

fn render(lints: &[Lint]) -> String {
    lints
        .iter()
        .map(|l| format!("{l}\n  at: {}\n", relative(&l.source)))
        .collect::<Vec<_>>()
        .join("")
}

/// The fixture files of the top directory (not `broken/`), in name order:
/// what `cutover init tests/fixtures/k8s/*.yaml` reads.
fn good_fixture_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("fixtures dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn the_fixtures_read_cleanly_and_their_lints_match_the_golden() {
    let (m, problems) = read_paths(&good_fixture_files());
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(
        (
            m.ingresses.len(),
            m.routes.len(),
            m.gateways.len(),
            m.grants.len()
        ),
        (6, 5, 2, 1)
    );
    let lints = lint(&m);
    for rule in LintRule::ALL {
        assert!(
            lints.iter().any(|l| l.rule == rule),
            "the fixtures show every rule; none for {}",
            rule.as_str()
        );
    }
    insta::assert_snapshot!("init_lint_fixtures", render(&lints));
}

#[test]
fn list_items_keep_their_item_number_as_source() {
    let (m, _) = read_paths(&[fixtures().join("cluster-list.yaml")]);
    let debug = m
        .routes
        .iter()
        .find(|r| r.object.metadata.name == "debug")
        .expect("the List's HTTPRoute");
    assert!(
        debug.source.ends_with("cluster-list.yaml item 2"),
        "{}",
        debug.source
    );
}

#[test]
fn broken_fixtures_name_the_file_and_document_and_the_good_documents_are_read() {
    let (m, problems) = read_paths(&[fixtures().join("broken")]);
    let said: Vec<String> = problems.iter().map(|p| relative(&p.to_string())).collect();
    assert_eq!(said.len(), 3, "{said:#?}");
    assert!(
        said[0].starts_with(
            "tests/fixtures/k8s/broken/multi.yaml document 2 (line 20): error: is not valid YAML"
        ),
        "{said:#?}"
    );
    assert!(
        said[0].ends_with("the other documents are still read"),
        "{said:#?}"
    );
    assert_eq!(
        said[1],
        "tests/fixtures/k8s/broken/not-kubernetes.yaml: error: is not a Kubernetes object (no `kind`): give Ingress, HTTPRoute and Gateway manifests, or `kubectl get ingress,httproute,gateway -A -o yaml`"
    );
    assert!(
        said[2].starts_with(
            "tests/fixtures/k8s/broken/unknown-kind.yaml: note: kind `IngressRoute` (traefik.io/v1alpha1)"
        ),
        "{said:#?}"
    );
    assert!(problems[0].error && problems[1].error && !problems[2].error);
    // The documents around the broken one are read, with their own numbers.
    assert_eq!(m.ingresses.len(), 1);
    assert!(m.ingresses[0]
        .source
        .ends_with("multi.yaml document 1 (line 1)"));
    assert_eq!(m.routes.len(), 1);
    assert_eq!(m.routes[0].object.metadata.name, "legacy-redirect");
    assert!(m.routes[0]
        .source
        .ends_with("multi.yaml document 3 (line 32)"));
}

// ---- regex_path_without_route ------------------------------------------

const GATEWAY: &str = r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: public, namespace: infra}
spec:
  gatewayClassName: kgateway
  listeners: [{name: http, port: 80, protocol: HTTP}]
"#;

fn ingress(name: &str, annotations: &str, host: &str, paths: &[(&str, &str)]) -> String {
    let paths: String = paths
        .iter()
        .map(|(p, t)| {
            format!(
                "      - path: \"{p}\"\n        pathType: {t}\n        backend: {{service: {{name: app, port: {{number: 80}}}}}}\n"
            )
        })
        .collect();
    format!(
        "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  namespace: shop\n  annotations: {{{annotations}}}\nspec:\n  ingressClassName: nginx\n  rules:\n  - host: {host}\n    http:\n      paths:\n{paths}"
    )
}

fn route(name: &str, annotations: &str, hostnames: &str, matches: &[(&str, &str)]) -> String {
    let matches: String = matches
        .iter()
        .map(|(t, v)| format!("    - matches: [{{path: {{type: {t}, value: \"{v}\"}}}}]\n      backendRefs: [{{name: app, port: 80}}]\n"))
        .collect();
    format!(
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: {name}\n  namespace: shop\n  annotations: {{{annotations}}}\nspec:\n  parentRefs: [{{name: public, namespace: infra}}]\n  hostnames: {hostnames}\n  rules:\n{matches}"
    )
}

#[test]
fn an_implementation_specific_path_without_a_route_fails_and_says_it_is_a_string_prefix() {
    let yaml = ingress(
        "web",
        "",
        "shop.example.test",
        &[("/api", "ImplementationSpecific")],
    ) + &route("web", "", "[shop.example.test]", &[("PathPrefix", "/")]);
    let lints = of(LintRule::RegexPathWithoutRoute, lint(&manifests(&yaml)));
    // `/` does not reproduce `/api`: a path prefix `/` would, but nginx sends
    // `/api*` to another backend than `/`.
    assert_eq!(lints.len(), 1, "{lints:#?}");
    let l = &lints[0];
    assert_eq!(
        (l.level, l.object.as_str()),
        (LintLevel::Fail, "Ingress shop/web")
    );
    assert!(
        l.message.contains("as a string prefix, so `/apix` too"),
        "{}",
        l.message
    );
    assert!(l
        .message
        .contains("no rule of HTTPRoute shop/web has an equivalent path match"));
    assert!(
        l.hint.contains("RegularExpression, value: \"/api.*\""),
        "{}",
        l.hint
    );
    assert_eq!(l.source, "<stdin> document 1 (line 2)");
}

#[test]
fn an_implementation_specific_path_converted_to_a_path_prefix_warns_about_apix() {
    let yaml = ingress(
        "web",
        "",
        "shop.example.test",
        &[("/api", "ImplementationSpecific")],
    ) + &route("web", "", "[shop.example.test]", &[("PathPrefix", "/api")]);
    let lints = of(LintRule::RegexPathWithoutRoute, lint(&manifests(&yaml)));
    assert_eq!(lints.len(), 1, "{lints:#?}");
    assert_eq!(lints[0].level, LintLevel::Warn);
    assert!(
        lints[0].message.contains("`PathPrefix: /api`, whole path elements only, so `/apix` no longer reaches this backend"),
        "{}",
        lints[0].message
    );
}

#[test]
fn a_regular_expression_match_for_the_same_host_reproduces_the_nginx_path() {
    let yaml = ingress(
        "web",
        "",
        "shop.example.test",
        &[("/api", "ImplementationSpecific")],
    ) + &ingress(
        "v1",
        "nginx.ingress.kubernetes.io/use-regex: \"true\"",
        "api.shop.example.test",
        &[("/v1/.*", "ImplementationSpecific"), ("/", "Prefix")],
    ) + &route(
        "web",
        "",
        "[shop.example.test]",
        &[("RegularExpression", "/api.*")],
    ) + &route(
        "api",
        "",
        "[api.shop.example.test]",
        &[("RegularExpression", "(?i)/v1/.*"), ("PathPrefix", "/")],
    ) + &ingress(
        "plain",
        "",
        "plain.example.test",
        &[("/api", "Prefix"), ("/x", "Exact")],
    );
    let lints = of(LintRule::RegexPathWithoutRoute, lint(&manifests(&yaml)));
    assert!(lints.is_empty(), "{lints:#?}");
}

#[test]
fn rewrite_target_on_one_ingress_makes_every_path_of_its_host_a_regex() {
    let yaml = ingress(
        "api-v1",
        "nginx.ingress.kubernetes.io/rewrite-target: /api/$2",
        "api.shop.example.test",
        &[("/v1(/|$)(.*)", "ImplementationSpecific")],
    ) + &ingress("api", "", "api.shop.example.test", &[("/api", "Prefix")])
        + &route(
            "api",
            "",
            "[api.shop.example.test]",
            &[("PathPrefix", "/api")],
        );
    let lints = of(LintRule::RegexPathWithoutRoute, lint(&manifests(&yaml)));
    let summary: Vec<(LintLevel, &str)> =
        lints.iter().map(|l| (l.level, l.object.as_str())).collect();
    assert_eq!(
        summary,
        [
            (LintLevel::Fail, "Ingress shop/api-v1"),
            (LintLevel::Warn, "Ingress shop/api")
        ]
    );
    assert!(
        lints[1].message.contains("because of `nginx.ingress.kubernetes.io/rewrite-target` on Ingress shop/api-v1, which nginx applies to every path of the host"),
        "{}",
        lints[1].message
    );
    assert!(lints[1].message.contains("case-insensitive"));
    assert!(
        lints[0].hint.contains("value: \"(?i)/v1(/|$)(.*)\""),
        "{}",
        lints[0].hint
    );
}

#[test]
fn alb_ingresses_are_not_read_as_nginx_paths() {
    let yaml = ingress(
        "front",
        "kubernetes.io/ingress.class: alb",
        "shop.example.test",
        &[("/api", "ImplementationSpecific")],
    );
    assert!(lint(&manifests(&yaml)).is_empty());
}

// ---- hostname_mismatch -------------------------------------------------

#[test]
fn a_trailing_dot_hostname_fails_and_names_the_ingress_host_it_means() {
    let yaml = ingress("web", "", "shop.example.test", &[("/", "Prefix")])
        + &route("web", "", "[shop.example.test.]", &[("PathPrefix", "/")]);
    let lints = of(LintRule::HostnameMismatch, lint(&manifests(&yaml)));
    assert_eq!(lints.len(), 1, "{lints:#?}");
    let l = &lints[0];
    assert_eq!(
        (l.level, l.object.as_str()),
        (LintLevel::Fail, "HTTPRoute shop/web")
    );
    assert!(
        l.message.contains("the API server rejects the route"),
        "{}",
        l.message
    );
    assert!(
        l.message.contains(
            "differs from host `shop.example.test` of Ingress shop/web only by a trailing dot"
        ),
        "{}",
        l.message
    );
    assert!(l
        .hint
        .starts_with("Write `shop.example.test` in HTTPRoute shop/web `spec.hostnames`"));
}

#[test]
fn upper_case_is_named_as_the_difference() {
    let yaml = ingress("web", "", "shop.example.test", &[("/", "Prefix")])
        + &route("web", "", "[Shop.Example.test]", &[("PathPrefix", "/")]);
    let lints = of(LintRule::HostnameMismatch, lint(&manifests(&yaml)));
    assert_eq!(lints.len(), 1, "{lints:#?}");
    assert!(
        lints[0].message.contains("only by letter case and is not"),
        "{}",
        lints[0].message
    );
}

#[test]
fn hosts_on_one_side_only_are_reported_on_that_side() {
    let yaml = ingress("web", "", "www.shop.example.test", &[("/", "Prefix")])
        + &route(
            "status",
            "",
            "[status.shop.example.test]",
            &[("PathPrefix", "/")],
        );
    let lints = of(LintRule::HostnameMismatch, lint(&manifests(&yaml)));
    let summary: Vec<(LintLevel, &str)> =
        lints.iter().map(|l| (l.level, l.object.as_str())).collect();
    assert_eq!(
        summary,
        [
            (LintLevel::Warn, "HTTPRoute shop/status"),
            (LintLevel::Fail, "Ingress shop/web")
        ]
    );
    assert!(lints[0]
        .message
        .contains("`status.shop.example.test`, which no Ingress has"));
    assert!(lints[1].message.contains(
        "routes host `www.shop.example.test`, which no HTTPRoute lists: the gateway answers 404 for it"
    ));
}

#[test]
fn a_wildcard_route_hostname_for_exact_ingress_hosts_warns() {
    let yaml = ingress("web", "", "www.shop.example.test", &[("/", "Prefix")])
        + &ingress("api", "", "api.shop.example.test", &[("/", "Prefix")])
        + &route(
            "all",
            "",
            "[\"*.shop.example.test\"]",
            &[("PathPrefix", "/")],
        );
    let lints = of(LintRule::HostnameMismatch, lint(&manifests(&yaml)));
    assert_eq!(lints.len(), 1, "{lints:#?}");
    assert_eq!(lints[0].level, LintLevel::Warn);
    assert!(lints[0].message.contains(
        "the Ingresses name `www.shop.example.test` and `api.shop.example.test` exactly"
    ));
}

const LISTENERS: &str = r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: public, namespace: infra}
spec:
  gatewayClassName: kgateway
  listeners:
  - {name: apex, port: 443, protocol: HTTPS, hostname: shop.example.test}
  - {name: subdomains, port: 443, protocol: HTTPS, hostname: "*.shop.example.test"}
"#;

#[test]
fn a_hostname_no_listener_of_the_parent_gateway_allows_fails() {
    let yaml = LISTENERS.to_owned()
        + &ingress("admin", "", "admin.example.test", &[("/", "Prefix")])
        + &route("admin", "", "[admin.example.test]", &[("PathPrefix", "/")]);
    let lints = of(LintRule::HostnameMismatch, lint(&manifests(&yaml)));
    assert_eq!(lints.len(), 1, "{lints:#?}");
    let l = &lints[0];
    assert_eq!(
        (l.level, l.object.as_str()),
        (LintLevel::Fail, "HTTPRoute shop/admin")
    );
    assert!(l.message.contains(
        "which no listener of Gateway infra/public allows (listeners `apex` (`shop.example.test`) and `subdomains` (`*.shop.example.test`))"
    ), "{}", l.message);
    assert!(l.message.contains("NoMatchingListenerHostname"));
}

#[test]
fn a_section_name_limits_the_listeners_a_hostname_is_matched_against() {
    let yaml = LISTENERS.to_owned()
        + &ingress("web", "", "shop.example.test", &[("/", "Prefix")])
        + &route("web", "", "[shop.example.test]", &[("PathPrefix", "/")]).replace(
            "namespace: infra}",
            "namespace: infra, sectionName: subdomains}",
        );
    let lints = of(LintRule::HostnameMismatch, lint(&manifests(&yaml)));
    assert_eq!(lints.len(), 1, "{lints:#?}");
    assert!(lints[0]
        .message
        .contains("which listener `subdomains` (hostname `*.shop.example.test`) of Gateway infra/public does not allow"));
}

#[test]
fn exact_hostnames_on_both_sides_and_allowing_listeners_are_not_reported() {
    let yaml = LISTENERS.to_owned()
        + GATEWAY.replace("name: public", "name: open").as_str()
        + &ingress("web", "", "shop.example.test", &[("/", "Prefix")])
        + &ingress("api", "", "api.shop.example.test", &[("/", "Prefix")])
        + &route("web", "", "[shop.example.test, api.shop.example.test]", &[("PathPrefix", "/")])
        // A listener without hostname allows every name.
        + &route("other", "", "[shop.example.test]", &[("PathPrefix", "/")])
            .replace("name: public", "name: open");
    let lints = of(LintRule::HostnameMismatch, lint(&manifests(&yaml)));
    assert!(lints.is_empty(), "{lints:#?}");
}

// ---- external_dns_clusterip ---------------------------------------------

const ALB: &str = r#"
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: public-alb, namespace: infra}
spec:
  ingressClassName: alb
  rules:
  - host: shop.example.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: public, port: {number: 80}}}}
"#;

#[test]
fn a_route_of_a_gateway_behind_an_alb_ingress_would_publish_the_clusterip() {
    let yaml =
        GATEWAY.to_owned() + ALB + &route("web", "", "[shop.example.test]", &[("PathPrefix", "/")]);
    let lints = of(LintRule::ExternalDnsClusterip, lint(&manifests(&yaml)));
    assert_eq!(lints.len(), 1, "{lints:#?}");
    let l = &lints[0];
    assert_eq!(
        (l.level, l.object.as_str()),
        (LintLevel::Fail, "HTTPRoute shop/web")
    );
    assert!(l.message.contains(
        "Gateway infra/public is exposed through ALB Ingress infra/public-alb (backend Service `public`)"
    ), "{}", l.message);
    assert!(l
        .message
        .contains("for `shop.example.test` of HTTPRoute shop/web"));
    assert!(l
        .hint
        .contains("external-dns.alpha.kubernetes.io/exclude: \"true\""));
}

#[test]
fn the_gep_1762_service_name_is_recognised_too() {
    let yaml = GATEWAY.to_owned()
        + &ALB.replace("name: public, port", "name: public-kgateway, port")
        + &route("web", "", "[shop.example.test]", &[("PathPrefix", "/")]);
    let lints = of(LintRule::ExternalDnsClusterip, lint(&manifests(&yaml)));
    assert_eq!(lints.len(), 1, "{lints:#?}");
}

#[test]
fn excluded_routes_other_controllers_targets_and_other_gateways_are_not_reported() {
    let yaml = GATEWAY.to_owned()
        + GATEWAY.replace("name: public", "name: lb").as_str()
        + ALB
        + &route(
            "excluded",
            "external-dns.alpha.kubernetes.io/exclude: \"true\"",
            "[shop.example.test]",
            &[("PathPrefix", "/")],
        )
        + &route(
            "elsewhere",
            "external-dns.kubernetes.io/controller: someone-else",
            "[shop.example.test]",
            &[("PathPrefix", "/")],
        )
        // A Gateway with its own LoadBalancer Service: no ALB in front.
        + &route("direct", "", "[shop.example.test]", &[("PathPrefix", "/")])
            .replace("name: public", "name: lb");
    assert!(of(LintRule::ExternalDnsClusterip, lint(&manifests(&yaml))).is_empty());
    let targeted = GATEWAY.replace(
        "metadata: {name: public, namespace: infra}",
        "metadata: {name: public, namespace: infra, annotations: {external-dns.alpha.kubernetes.io/target: alb.example.test}}",
    ) + ALB
        + &route("web", "", "[shop.example.test]", &[("PathPrefix", "/")]);
    assert!(of(LintRule::ExternalDnsClusterip, lint(&manifests(&targeted))).is_empty());
}

// ---- dns_weights ---------------------------------------------------------

fn weights(weight: Option<&str>, id: Option<&str>) -> String {
    let mut a = Vec::new();
    if let Some(w) = weight {
        a.push(format!(
            "external-dns.alpha.kubernetes.io/aws-weight: \"{w}\""
        ));
    }
    if let Some(i) = id {
        a.push(format!(
            "external-dns.alpha.kubernetes.io/set-identifier: {i}"
        ));
    }
    a.join(", ")
}

fn pair(ingress_weights: &str, route_weights: &str) -> Manifests {
    let yaml = ingress(
        "web",
        ingress_weights,
        "shop.example.test",
        &[("/", "Prefix")],
    ) + &route(
        "web",
        route_weights,
        "[shop.example.test]",
        &[("PathPrefix", "/")],
    );
    manifests(&yaml)
}

#[test]
fn a_weight_that_route_53_does_not_take_fails() {
    let m = pair(
        &weights(Some("100"), Some("ingress-nginx")),
        &weights(Some("50%"), Some("gateway")),
    );
    let lints = of(LintRule::DnsWeights, lint(&m));
    assert_eq!(lints.len(), 1, "{lints:#?}");
    assert_eq!(lints[0].object, "HTTPRoute shop/web");
    assert!(lints[0].message.contains(
        "`external-dns.alpha.kubernetes.io/aws-weight: \"50%\"`, which is not a whole number from 0 to 255: external-dns cannot parse it as an integer, logs an error and sends weight 0"
    ), "{}", lints[0].message);
    let m = pair(
        &weights(Some("100"), Some("ingress-nginx")),
        &weights(Some("300"), Some("gateway")),
    );
    let lints = of(LintRule::DnsWeights, lint(&m));
    assert!(
        lints[0]
            .message
            .contains("Route 53 accepts weights 0 to 255"),
        "{lints:#?}"
    );
}

#[test]
fn a_weight_without_set_identifier_or_the_reverse_fails() {
    let m = pair(&weights(Some("100"), None), &weights(None, Some("gateway")));
    let lints = of(LintRule::DnsWeights, lint(&m));
    let messages: Vec<&str> = lints.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(lints.len(), 2, "{messages:#?}");
    assert!(messages[0].starts_with("Ingress shop/web has `external-dns.alpha.kubernetes.io/aws-weight` but no `set-identifier`"));
    assert!(messages[1].starts_with("HTTPRoute shop/web has `external-dns.alpha.kubernetes.io/set-identifier` but no `aws-weight`"));
}

#[test]
fn one_set_identifier_on_both_paths_fails() {
    let m = pair(
        &weights(Some("100"), Some("shop")),
        &weights(Some("0"), Some("shop")),
    );
    let lints = of(LintRule::DnsWeights, lint(&m));
    assert_eq!(lints.len(), 1, "{lints:#?}");
    assert!(lints[0].message.contains(
        "Hostname `shop.example.test` has set identifier `shop` on both paths (Ingress shop/web and HTTPRoute shop/web)"
    ), "{}", lints[0].message);
}

#[test]
fn weights_summing_to_zero_warn() {
    let m = pair(
        &weights(Some("0"), Some("ingress-nginx")),
        &weights(Some("0"), Some("gateway")),
    );
    let lints = of(LintRule::DnsWeights, lint(&m));
    assert_eq!(lints.len(), 1, "{lints:#?}");
    assert_eq!(lints[0].level, LintLevel::Warn);
    assert!(lints[0].message.contains("each record equally often"));
}

#[test]
fn a_weighted_record_beside_an_unweighted_one_fails() {
    let m = pair(&weights(Some("100"), Some("ingress-nginx")), "");
    let lints = of(LintRule::DnsWeights, lint(&m));
    assert_eq!(lints.len(), 1, "{lints:#?}");
    assert!(
        lints[0].message.contains(
            "published by Ingress shop/web with weights and by HTTPRoute shop/web without"
        ),
        "{}",
        lints[0].message
    );
}

#[test]
fn a_valid_weighted_pair_an_unweighted_pair_and_an_excluded_route_are_not_reported() {
    let valid = pair(
        &weights(Some("100"), Some("ingress-nginx")),
        // The GA prefix of external-dns v0.22 counts too.
        "external-dns.kubernetes.io/aws-weight: \"0\", external-dns.kubernetes.io/set-identifier: gateway",
    );
    assert!(of(LintRule::DnsWeights, lint(&valid)).is_empty());
    assert!(of(LintRule::DnsWeights, lint(&pair("", ""))).is_empty());
    let excluded = pair(
        &weights(Some("100"), Some("ingress-nginx")),
        "external-dns.alpha.kubernetes.io/exclude: \"true\"",
    );
    assert!(of(LintRule::DnsWeights, lint(&excluded)).is_empty());
}

// ---- cross_namespace_certificate ------------------------------------------

const TLS_GATEWAY: &str = r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: public, namespace: infra}
spec:
  gatewayClassName: kgateway
  listeners:
  - name: https
    port: 443
    protocol: HTTPS
    hostname: shop.example.test
    tls:
      mode: Terminate
      certificateRefs: [{kind: Secret, name: shop-tls, namespace: certs}, {name: local-tls}]
"#;

fn grant(ns: &str, from_ns: &str, to_name: Option<&str>) -> String {
    let name = to_name.map(|n| format!(", name: {n}")).unwrap_or_default();
    format!(
        "---\napiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata: {{name: g, namespace: {ns}}}\nspec:\n  from: [{{group: gateway.networking.k8s.io, kind: Gateway, namespace: {from_ns}}}]\n  to: [{{group: \"\", kind: Secret{name}}}]\n"
    )
}

#[test]
fn a_certificate_in_another_namespace_without_a_reference_grant_fails() {
    // A grant for Gateways of another namespace does not count.
    let yaml = TLS_GATEWAY.to_owned() + &grant("certs", "elsewhere", None);
    let lints = of(LintRule::CrossNamespaceCertificate, lint(&manifests(&yaml)));
    assert_eq!(lints.len(), 1, "{lints:#?}");
    let l = &lints[0];
    assert_eq!(
        (l.level, l.object.as_str()),
        (LintLevel::Fail, "Gateway infra/public")
    );
    assert!(l.message.starts_with(
        "Listener `https` of Gateway infra/public uses Secret `certs/shop-tls` from another namespace, and no ReferenceGrant in `certs` allows Gateways of `infra` to use it"
    ), "{}", l.message);
    assert!(l
        .hint
        .contains("Create a ReferenceGrant in namespace `certs`"));
    assert!(l.hint.contains("cert-manager"));
}

#[test]
fn a_grant_naming_another_secret_does_not_allow_this_one() {
    let yaml = TLS_GATEWAY.to_owned() + &grant("certs", "infra", Some("other-tls"));
    let lints = of(LintRule::CrossNamespaceCertificate, lint(&manifests(&yaml)));
    assert_eq!(lints.len(), 1, "{lints:#?}");
    assert!(lints[0]
        .message
        .contains("(ReferenceGrant certs/g allows Gateways of `infra` other Secrets only)"));
}

#[test]
fn a_grant_for_the_secret_or_for_every_secret_allows_it() {
    for to in [Some("shop-tls"), None] {
        let yaml = TLS_GATEWAY.to_owned() + &grant("certs", "infra", to);
        let lints = of(LintRule::CrossNamespaceCertificate, lint(&manifests(&yaml)));
        assert!(lints.is_empty(), "{to:?}: {lints:#?}");
    }
}

// ---- experimental_field ----------------------------------------------------

const EXPERIMENTAL: &str = r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: public, namespace: infra}
spec:
  gatewayClassName: kgateway
  infrastructure: {labels: {team: platform}}
  backendTLS: {clientCertificateRef: {name: client}}
  listeners:
  - name: db
    port: 8443
    protocol: TLS
    tls: {mode: Passthrough}
    allowedRoutes: {kinds: [{kind: TCPRoute}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: shop}
spec:
  parentRefs: [{name: public, namespace: infra}]
  rules:
  - name: everything
    timeouts: {request: 10s}
    retry: {attempts: 2}
    filters:
    - type: CORS
      cors: {allowOrigins: ["https://app.shop.example.test"]}
    - type: ExternalAuth
      externalAuth: {protocol: HTTP, backendRef: {name: auth}}
    backendRefs: [{name: app, port: 80}]
  - retry: {attempts: 1}
    backendRefs: [{name: app, port: 80}]
"#;

#[test]
fn experimental_fields_warn_with_their_history_when_the_crds_are_unknown() {
    let lints = of(LintRule::ExperimentalField, lint(&manifests(EXPERIMENTAL)));
    let summary: Vec<String> = lints
        .iter()
        .map(|l| format!("{} {}: {}", l.level.as_str(), l.object, l.message))
        .collect();
    insta::assert_snapshot!("init_lint_experimental_unknown_crds", summary.join("\n"));
    assert!(lints.iter().all(|l| l.level == LintLevel::Warn));
    // Standard since v1.2: never reported when the CRDs are unknown.
    assert!(!summary
        .iter()
        .any(|s| s.contains("timeouts") || s.contains("infrastructure")));
}

#[test]
fn known_crds_fail_what_they_lack_and_accept_what_they_have() {
    let m = manifests(EXPERIMENTAL);
    let on = |minor, channel| {
        let options = Options {
            crds: Some(Crds {
                release: Release { minor },
                channel,
            }),
        };
        let lints = of(LintRule::ExperimentalField, lint_with(&m, &options));
        assert!(
            lints.iter().all(|l| l.level == LintLevel::Fail),
            "{lints:#?}"
        );
        lints
            .iter()
            // The first `quoted` word is the field.
            .map(|l| l.message.split('`').nth(1).unwrap_or("").to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        on(5, Channel::Standard),
        ["spec.backendTLS", "TCPRoute", "retry", "ExternalAuth"]
    );
    assert_eq!(on(3, Channel::Experimental), ["ExternalAuth"]);
    assert_eq!(on(4, Channel::Experimental), ["spec.backendTLS"]);
    assert_eq!(
        on(1, Channel::Standard),
        [
            "spec.infrastructure",
            "spec.backendTLS",
            "TCPRoute",
            "timeouts",
            "retry",
            "name",
            "CORS",
            "ExternalAuth"
        ]
    );
    assert!(on(6, Channel::Experimental) == ["spec.backendTLS"]);
}

#[test]
fn standard_fields_are_never_reported() {
    let yaml = route("web", "", "[shop.example.test]", &[("PathPrefix", "/")]).replace(
        "      backendRefs:",
        "      timeouts: {request: 5s}\n      backendRefs:",
    ) + GATEWAY;
    assert!(of(LintRule::ExperimentalField, lint(&manifests(&yaml))).is_empty());
}
