//! The fronts' CORS policies: what a preflight answered by the proxy itself
//! looks like, and the headers a proxy adds to an allowed origin's responses.
//!
//! Owns the header values only; which origins are allowed and whether a
//! front answers or forwards a preflight is the front's business.
//! Invariant: a [`Policy`] never adds a header for an origin the caller did
//! not already find in its allow list.

use hyper::header::{
    HeaderValue, ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS,
    ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use hyper::{HeaderMap, Method, Response, StatusCode};

use super::app::{empty, Body};

/// `access-control-allow-methods` of both policies (ingress-nginx's default).
pub const ALLOW_METHODS: &str = "GET, PUT, POST, DELETE, PATCH, OPTIONS";

/// How a front answers an allowed origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Status of a preflight the front answers itself.
    pub status: StatusCode,
    /// Whether `access-control-allow-credentials: true` is sent.
    pub credentials: bool,
    /// `access-control-allow-headers` of a preflight.
    pub allow_headers: &'static str,
    /// `access-control-max-age` of a preflight, in seconds.
    pub max_age: &'static str,
}

/// ingress-nginx with `enable-cors: "true"` and its defaults; also the
/// gateway's policy unless `gateway_cors_differs` is on.
pub const NGINX: Policy = Policy {
    status: StatusCode::NO_CONTENT,
    credentials: true,
    allow_headers: "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization",
    max_age: "1728000",
};

/// A gateway CORS policy written without copying nginx's defaults.
pub const GATEWAY_DIFFERS: Policy = Policy {
    status: StatusCode::OK,
    credentials: false,
    allow_headers: "content-type,authorization",
    max_age: "600",
};

/// The `origin` of a preflight: an OPTIONS request carrying both `origin`
/// and `access-control-request-method`; `None` for any other request.
pub fn preflight_origin<'a>(method: &Method, headers: &'a HeaderMap) -> Option<&'a HeaderValue> {
    let asks = headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    (method == Method::OPTIONS && asks)
        .then(|| headers.get(ORIGIN))
        .flatten()
}

impl Policy {
    /// The answer to a preflight from `origin`, which the caller has allowed.
    pub fn preflight(&self, origin: &HeaderValue) -> Response<Body> {
        let mut resp = Response::new(empty());
        *resp.status_mut() = self.status;
        self.decorate(resp.headers_mut(), origin);
        let h = resp.headers_mut();
        let methods = HeaderValue::from_static(ALLOW_METHODS);
        h.insert(ACCESS_CONTROL_ALLOW_METHODS, methods);
        let allow = HeaderValue::from_static(self.allow_headers);
        h.insert(ACCESS_CONTROL_ALLOW_HEADERS, allow);
        let max_age = HeaderValue::from_static(self.max_age);
        h.insert(ACCESS_CONTROL_MAX_AGE, max_age);
        resp
    }

    /// Adds what every response to an allowed `origin` carries: the echoed
    /// origin, credentials if the policy allows them, and `vary: Origin`.
    pub fn decorate(&self, headers: &mut HeaderMap, origin: &HeaderValue) {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        if self.credentials {
            let yes = HeaderValue::from_static("true");
            headers.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, yes);
        }
        headers.append(VARY, HeaderValue::from_static("Origin"));
    }
}
