//! Judging a gRPC call: its code, message, trailers and streamed messages
//! against the check's expectations, the code and message against the
//! baseline's, and who made a failure.
//!
//! The same gRPC code can come from three places, and only the origin tells
//! them apart: Envoy's own trailers-only answer (HTTP 200, `grpc-status`
//! 14 and its local-reply text in `grpc-message`), an nginx error page
//! (HTTP 502, no `grpc-status`: clients derive UNAVAILABLE), or the app's
//! own status. A failure the gateway made itself gets the GRPCRoute hint
//! (its backend, its matching rules); the app's own status is the app's.
//! The response message is judged by `expect.json` and `parity: [body]` as
//! a JSON body (the probe puts it there).

use super::expect::HeaderRule;
use super::finding::{Evidence, Finding, FindingKind, Level};
use crate::probe::grpc::{Code, GrpcResult};
use crate::probe::Origin;

/// What a gRPC check expects.
#[derive(Clone, Debug)]
pub struct GrpcExpect {
    pub code: Code,
    /// Text `grpc-message` contains.
    pub message: Option<String>,
    pub trailers: Vec<(String, HeaderRule)>,
    /// Messages a server-streaming call answers with.
    pub messages: Option<u64>,
}

impl Default for GrpcExpect {
    fn default() -> Self {
        GrpcExpect {
            code: Code::Ok,
            message: None,
            trailers: Vec::new(),
            messages: None,
        }
    }
}

/// `UNAVAILABLE (14) "no healthy upstream"`, and where the code came from.
pub fn describe(r: &GrpcResult) -> Option<String> {
    let s = r.status.as_ref()?;
    let mut out = s.code.to_string();
    if !s.message.is_empty() && s.from_http.is_none() {
        out.push_str(&format!(" \"{}\"", s.message));
    }
    if let Some(h) = s.from_http {
        out.push_str(&format!(
            ", which a gRPC client derives from HTTP {h} (no grpc-status)"
        ));
    }
    Some(out)
}

/// The failed rules, as sentences.
pub fn evaluate(expect: &GrpcExpect, r: &GrpcResult) -> Vec<String> {
    let mut out = Vec::new();
    let Some(s) = &r.status else {
        return out;
    };
    if s.code != expect.code {
        // The rest of the answer follows from the code: said once.
        return vec![format!(
            "gRPC {} where {} was expected",
            describe(r).unwrap_or_default(),
            expect.code
        )];
    }
    if let Some(m) = &expect.message {
        if !s.message.contains(m.as_str()) {
            out.push(format!(
                "grpc-message is \"{}\", which does not contain \"{m}\"",
                s.message
            ));
        }
    }
    let trailers = r
        .sample
        .response
        .as_ref()
        .map(|resp| resp.trailers.as_slice())
        .unwrap_or_default();
    for (name, rule) in &expect.trailers {
        let got = trailers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        out.extend(super::expect::header_problem("trailer", name, rule, got));
    }
    if let Some(n) = expect.messages {
        if s.messages != n {
            out.push(format!(
                "the stream answered {} message{} where {n} {} expected",
                s.messages,
                if s.messages == 1 { "" } else { "s" },
                if n == 1 { "was" } else { "were" }
            ));
        }
    }
    out
}

/// The baseline answered another code or message: parity.
pub fn compare(
    check: &str,
    (base_name, base): (&str, &GrpcResult),
    (target_name, target): (&str, &GrpcResult),
) -> Option<Finding> {
    let (b, t) = (base.status.as_ref()?, target.status.as_ref()?);
    // Messages are compared when both came in a grpc-status (a derived
    // code's message is only the HTTP status, said by the origin).
    let real = b.from_http.is_none() && t.from_http.is_none();
    if b.code == t.code && (b.message == t.message || b.code == Code::Ok || !real) {
        return None;
    }
    let (bd, td) = (describe(base)?, describe(target)?);
    Some(
        Finding::new(
            FindingKind::Parity,
            Level::Fail,
            Some(check),
            Some(target_name),
            format!("gRPC {td} where {base_name} answered {bd}"),
        )
        .with_evidence(Evidence::Compared {
            what: "gRPC status".into(),
            baseline_target: base_name.to_owned(),
            baseline: bd,
            target: td,
        }),
    )
}

/// A failure the gateway made itself, with what to look at on a GRPCRoute.
pub fn cause(check: &str, target: &str, service_method: &str, r: &GrpcResult) -> Option<Finding> {
    let s = r.status.as_ref()?;
    let resp = r.sample.response.as_ref()?;
    if resp.origin != Origin::Gateway || s.code == Code::Ok {
        return None;
    }
    let (kind, hint) = match s.code {
        Code::Unimplemented => (
            FindingKind::RouteMiss,
            format!(
                "the gateway has no GRPCRoute rule for {service_method}: a GRPCRoute matches `method: {{service, method}}` exactly (service with its package), and its `hostnames` must include the production host; ingress2gateway turns `nginx.ingress.kubernetes.io/backend-protocol: GRPC` into one"
            ),
        ),
        _ if s.message.contains("no healthy upstream") => (
            FindingKind::NoHealthyUpstream,
            "the GRPCRoute's backendRef has no ready endpoint: check the Service's selector and that its pods are ready".to_owned(),
        ),
        _ => (
            FindingKind::UpstreamReset,
            "Envoy could not reach the backend over HTTP/2: the GRPCRoute's backendRef must name a Service port that speaks h2c (set `appProtocol: kubernetes.io/h2c` on it, or `grpc`), and the port must be the gRPC server's".to_owned(),
        ),
    };
    Some(
        Finding::new(
            kind,
            Level::Fail,
            Some(check),
            Some(target),
            format!(
                "the gateway answered {} itself ({})",
                describe(r).unwrap_or_default(),
                resp.origin_reason
            ),
        )
        .with_hint(hint),
    )
}
