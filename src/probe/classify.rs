//! Who produced this response: the gateway proxy, the ingress proxy, or the app?
//!
//! Signatures are kept per proxy *software* (Envoy, nginx) and then attributed
//! to the *role* of the target they were seen on, so a migration to another
//! Envoy-based gateway (Envoy Gateway, Cilium) or to an nginx-based one (NGINX
//! Gateway Fabric) classifies correctly too. The facts come from
//! FIELD-NOTES.md: Envoy's fixed body texts and empty-body local replies,
//! nginx's HTML error pages and ingress-nginx's default backend. Where no
//! signal decides, the answer is `unknown`, never a guess.

use serde::{Deserialize, Serialize};

use crate::target::{Proxy, Role};

/// The component that produced a response.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The new path's proxy (Envoy in kgateway) answered itself.
    Gateway,
    /// The old path's proxy (ingress-nginx) answered itself.
    Ingress,
    /// The application answered (passed through by a proxy).
    App,
    /// No signal decides.
    #[default]
    Unknown,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Gateway => "gateway",
            Origin::Ingress => "ingress",
            Origin::App => "app",
            Origin::Unknown => "unknown",
        }
    }
}

/// A signature match: which software produced the response, and why we think so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Producer {
    Proxy(Proxy, &'static str),
    App(&'static str),
    Unknown(&'static str),
}

/// Recognises proxy-generated responses by every available signal.
///
/// `header` looks a response header up by lowercase name.
pub fn producer<'h>(status: u16, header: &dyn Fn(&str) -> Option<&'h str>, body: &str) -> Producer {
    let server = header("server").unwrap_or("").to_ascii_lowercase();
    let trimmed = body.trim();

    // Envoy's fixed local-reply texts identify it even without a server header.
    if body.contains("upstream connect error or disconnect/reset before headers") {
        return Producer::Proxy(Proxy::Envoy, "envoy upstream connect error or reset");
    }
    if trimmed == "no healthy upstream" {
        return Producer::Proxy(Proxy::Envoy, "envoy no healthy upstream");
    }
    if trimmed == "upstream request timeout" {
        return Producer::Proxy(Proxy::Envoy, "envoy upstream request timeout");
    }
    if trimmed == "local_rate_limited" || header("x-envoy-ratelimited").is_some() {
        return Producer::Proxy(Proxy::Envoy, "envoy rate limited");
    }
    // nginx's own pages end with its footer; ingress-nginx's default backend is plain text.
    if trimmed == "default backend - 404" {
        return Producer::Proxy(Proxy::Nginx, "ingress-nginx default backend");
    }
    if body.contains("<center>nginx</center>") || body.contains("<center>nginx/") {
        let page = if (300..400).contains(&status) {
            "nginx redirect page"
        } else {
            "nginx error page"
        };
        return Producer::Proxy(Proxy::Nginx, page);
    }
    // The app answered through Envoy: Envoy times the upstream.
    if header("x-envoy-upstream-service-time").is_some() {
        return Producer::App("proxied by envoy (x-envoy-upstream-service-time)");
    }
    if server == "envoy" || server.starts_with("envoy/") {
        if trimmed.is_empty() {
            return match status {
                404 => Producer::Proxy(Proxy::Envoy, "envoy route not found (empty 404)"),
                403 => Producer::Proxy(Proxy::Envoy, "envoy forbidden (empty 403)"),
                _ => Producer::Proxy(Proxy::Envoy, "envoy local reply (empty body)"),
            };
        }
        if status == 413 && trimmed == "Payload Too Large" {
            return Producer::Proxy(Proxy::Envoy, "envoy payload too large");
        }
    }
    if status < 400 {
        return Producer::App("a successful or redirect response without proxy signature");
    }
    // nginx replaces the app's server header with its own but never adds its footer to
    // an upstream body: a non-empty error body through nginx is the app's.
    if (server == "nginx" || server.starts_with("nginx/")) && !trimmed.is_empty() {
        return Producer::App("passed through nginx without its error page");
    }
    Producer::Unknown("an error response without any proxy or app signature")
}

/// Attributes a response to gateway, ingress or app, given the target it came through.
pub fn classify<'h>(
    status: u16,
    header: &dyn Fn(&str) -> Option<&'h str>,
    body: &str,
    target_proxy: Proxy,
    target_role: Role,
) -> (Origin, &'static str) {
    match producer(status, header, body) {
        Producer::Proxy(software, why) => {
            let role = if software == target_proxy {
                target_role
            } else {
                match software {
                    Proxy::Envoy => Role::Gateway,
                    Proxy::Nginx => Role::Ingress,
                }
            };
            let origin = match role {
                Role::Gateway => Origin::Gateway,
                Role::Ingress => Origin::Ingress,
            };
            (origin, why)
        }
        Producer::App(why) => (Origin::App, why),
        Producer::Unknown(why) => (Origin::Unknown, why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn run(
        status: u16,
        headers: &[(&str, &str)],
        body: &str,
        proxy: Proxy,
        role: Role,
    ) -> (Origin, &'static str) {
        let headers = h(headers);
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        classify(status, &get, body, proxy, role)
    }

    fn on_gateway(status: u16, headers: &[(&str, &str)], body: &str) -> Origin {
        run(status, headers, body, Proxy::Envoy, Role::Gateway).0
    }

    fn on_ingress(status: u16, headers: &[(&str, &str)], body: &str) -> Origin {
        run(status, headers, body, Proxy::Nginx, Role::Ingress).0
    }

    const NGINX_503: &str = "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

    #[test]
    fn envoy_upstream_reset_body() {
        let body = "upstream connect error or disconnect/reset before headers. reset reason: connection termination";
        assert_eq!(
            on_gateway(503, &[("server", "envoy")], body),
            Origin::Gateway
        );
        // Without the server header the body still identifies Envoy.
        assert_eq!(on_gateway(503, &[], body), Origin::Gateway);
    }

    #[test]
    fn an_nginx_redirect_page_is_said_to_be_one() {
        let page = "<html>\r\n<head><title>308 Permanent Redirect</title></head>\r\n<body>\r\n<center><h1>308 Permanent Redirect</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
        assert_eq!(
            producer(308, &|_| None, page),
            Producer::Proxy(Proxy::Nginx, "nginx redirect page")
        );
        assert_eq!(
            producer(
                502,
                &|_| None,
                &page.replace("308 Permanent Redirect", "502 Bad Gateway")
            ),
            Producer::Proxy(Proxy::Nginx, "nginx error page")
        );
    }

    #[test]
    fn envoy_no_healthy_upstream() {
        assert_eq!(
            on_gateway(503, &[("server", "envoy")], "no healthy upstream"),
            Origin::Gateway
        );
    }

    #[test]
    fn envoy_upstream_timeout() {
        assert_eq!(
            on_gateway(504, &[("server", "envoy")], "upstream request timeout"),
            Origin::Gateway
        );
    }

    #[test]
    fn envoy_route_miss_is_empty_404() {
        assert_eq!(on_gateway(404, &[("server", "envoy")], ""), Origin::Gateway);
        let (_, why) = run(404, &[("server", "envoy")], "", Proxy::Envoy, Role::Gateway);
        assert!(why.contains("route not found"));
    }

    #[test]
    fn envoy_rate_limit() {
        assert_eq!(
            on_gateway(429, &[("server", "envoy")], "local_rate_limited"),
            Origin::Gateway
        );
        assert_eq!(
            on_gateway(429, &[("x-envoy-ratelimited", "true")], "slow down"),
            Origin::Gateway
        );
    }

    #[test]
    fn envoy_websocket_refusal_empty_403() {
        assert_eq!(on_gateway(403, &[("server", "envoy")], ""), Origin::Gateway);
    }

    #[test]
    fn app_through_envoy_has_upstream_service_time() {
        let headers = [("server", "envoy"), ("x-envoy-upstream-service-time", "3")];
        assert_eq!(on_gateway(404, &headers, ""), Origin::App);
        assert_eq!(on_gateway(500, &headers, "{\"error\":1}"), Origin::App);
    }

    #[test]
    fn nginx_error_page() {
        assert_eq!(
            on_ingress(503, &[("server", "nginx")], NGINX_503),
            Origin::Ingress
        );
        let versioned =
            NGINX_503.replace("<center>nginx</center>", "<center>nginx/1.22.1</center>");
        assert_eq!(on_ingress(502, &[], &versioned), Origin::Ingress);
    }

    #[test]
    fn ingress_default_backend() {
        assert_eq!(
            on_ingress(404, &[("server", "nginx")], "default backend - 404"),
            Origin::Ingress
        );
    }

    #[test]
    fn app_error_through_nginx() {
        assert_eq!(
            on_ingress(500, &[("server", "nginx")], "{\"error\":\"db down\"}"),
            Origin::App
        );
    }

    #[test]
    fn success_is_app() {
        assert_eq!(on_ingress(200, &[("server", "nginx")], "ok"), Origin::App);
    }

    #[test]
    fn no_signal_is_unknown() {
        assert_eq!(on_ingress(502, &[], ""), Origin::Unknown);
        assert_eq!(on_gateway(500, &[], "oops"), Origin::Unknown);
    }

    #[test]
    fn signatures_attribute_to_the_targets_role() {
        // An nginx-based gateway (NGINX Gateway Fabric): nginx pages are the gateway's.
        let (origin, _) = run(503, &[], NGINX_503, Proxy::Nginx, Role::Gateway);
        assert_eq!(origin, Origin::Gateway);
        // An Envoy page seen on the ingress path still belongs to an Envoy: the gateway.
        let (origin, _) = run(503, &[], "no healthy upstream", Proxy::Nginx, Role::Ingress);
        assert_eq!(origin, Origin::Gateway);
    }
}
