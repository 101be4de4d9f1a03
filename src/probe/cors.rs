//! The CORS probe: a preflight, a preflight from an origin that must not be
//! allowed, and the actual request, all through one target.
//!
//! Each is an ordinary HTTP probe (same client, timings and classification as
//! any check); the rules that judge them live in `analyze/cors.rs`. Where the
//! answers come from matters: ingress-nginx answers preflights itself, while
//! Envoy answers only those its policy matches and forwards the rest to the app.

use super::http::{self, HttpSpec};
use super::Sample;
use crate::target::Connector;

/// A fully resolved CORS check.
#[derive(Clone, Debug)]
pub struct CorsSpec {
    pub path_and_query: String,
    pub host: Option<String>,
    pub headers: Vec<(String, String)>,
    /// The origin that must be allowed.
    pub origin: String,
    /// The method the browser asks for (`Access-Control-Request-Method`).
    pub method: reqwest::Method,
    /// The headers the browser asks for (`Access-Control-Request-Headers`), lowercase.
    pub request_headers: Vec<String>,
    /// An origin that must not be allowed, probed with the same preflight.
    pub disallowed_origin: Option<String>,
    /// Also send the actual request with `Origin` (this method; GET unless the
    /// scenario says otherwise, since probes hit production) and check its CORS headers.
    pub actual: Option<reqwest::Method>,
    pub timeout: std::time::Duration,
    pub body_cap: u64,
}

/// What the three requests got.
#[derive(Clone, Debug)]
pub struct CorsResult {
    pub preflight: Sample,
    pub negative: Option<Sample>,
    pub actual: Option<Sample>,
}

impl CorsSpec {
    fn request(&self, method: reqwest::Method, headers: Vec<(String, String)>) -> HttpSpec {
        let mut all = self.headers.clone();
        all.extend(headers);
        HttpSpec {
            method,
            path_and_query: self.path_and_query.clone(),
            host: self.host.clone(),
            headers: all,
            body: None,
            timeout: self.timeout,
            follow_redirects: false,
            body_cap: self.body_cap,
            version: crate::probe::http::Version::H1,
        }
    }

    fn preflight_for(&self, origin: &str) -> HttpSpec {
        let mut h = vec![
            ("origin".to_owned(), origin.to_owned()),
            (
                "access-control-request-method".to_owned(),
                self.method.to_string(),
            ),
        ];
        if !self.request_headers.is_empty() {
            h.push((
                "access-control-request-headers".to_owned(),
                self.request_headers.join(","),
            ));
        }
        self.request(reqwest::Method::OPTIONS, h)
    }
}

/// Sends the preflight, the negative preflight and the actual request.
pub async fn probe(conn: &Connector, spec: &CorsSpec) -> CorsResult {
    let preflight = http::probe(conn, &spec.preflight_for(&spec.origin)).await;
    let negative = match &spec.disallowed_origin {
        Some(o) => Some(http::probe(conn, &spec.preflight_for(o)).await),
        None => None,
    };
    let actual = match &spec.actual {
        Some(method) => {
            let req = spec.request(
                method.clone(),
                vec![("origin".to_owned(), spec.origin.clone())],
            );
            Some(http::probe(conn, &req).await)
        }
        None => None,
    };
    CorsResult {
        preflight,
        negative,
        actual,
    }
}
