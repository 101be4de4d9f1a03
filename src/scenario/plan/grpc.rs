//! `grpc:` checks, validated against their descriptor set.
//!
//! Invariants: the descriptor is a regular file of at most 16 MiB that
//! decodes as a `FileDescriptorSet` (made with `protoc --include_imports
//! --descriptor_set_out`); `method` names a service of it and one of that
//! service's methods (a misspelling gets a did-you-mean); the method is
//! unary or server-streaming (a client or bidirectional stream is refused);
//! the request JSON is a valid input message and is encoded here, so the
//! probe never fails on it. Every error carries the position of the value
//! at fault. Server reflection is not read: a check without `descriptor:`
//! is refused with that advice.

use std::time::Duration;

use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage};

use super::ctx::Ctx;
use super::targets::validate_host;
use crate::probe::grpc::GrpcSpec;
use crate::scenario::model::RawGrpc;
use crate::scenario::yaml::{did_you_mean, At};

/// A descriptor set is read whole; larger ones are refused.
const MAX_DESCRIPTOR: u64 = 16 << 20;

/// The check's call, or `None` (every reason reported).
pub(super) fn build(cx: &mut Ctx, g: &At<RawGrpc>, default_timeout: Duration) -> Option<GrpcSpec> {
    let mut ok = true;
    let host = g.host.as_ref().and_then(|h| {
        let v = validate_host(cx, h);
        ok &= v.is_some();
        v
    });
    let metadata = cx.headers(g.metadata.as_ref());
    let timeout = match &g.timeout {
        Some(t) => cx.positive_duration(t, "a timeout").or_else(|| {
            ok = false;
            None
        }),
        None => Some(default_timeout),
    };
    let Some(method) = &g.method else {
        cx.err(
            g.loc,
            "a `grpc:` check needs `method: package.Service/Method` (for example `cutover.lab.v1.Shop/GetItem`)",
        );
        return None;
    };
    let Some((service_name, method_name)) = method
        .value
        .trim_start_matches('/')
        .split_once('/')
        .filter(|(s, m)| !s.is_empty() && !m.is_empty() && !m.contains('/'))
    else {
        cx.err(
            method.loc,
            format!(
                "`{}` is not a gRPC method: write `package.Service/Method` (for example `cutover.lab.v1.Shop/GetItem`)",
                method.value
            ),
        );
        return None;
    };
    let Some(descriptor) = &g.descriptor else {
        cx.err(
            g.loc,
            "a `grpc:` check needs `descriptor:`, a descriptor set of the service (`protoc --include_imports --descriptor_set_out=api.pb api.proto`); server reflection is not read",
        );
        return None;
    };
    let (path, bytes) = cx.file(descriptor, "descriptor set", MAX_DESCRIPTOR)?;
    let pool = match DescriptorPool::decode(bytes.as_slice()) {
        Ok(p) => p,
        Err(e) => {
            cx.err(
                descriptor.loc,
                format!(
                    "`{}` is not a descriptor set ({e}): make it with `protoc --include_imports --descriptor_set_out={} your.proto`",
                    path.display(),
                    descriptor.value
                ),
            );
            return None;
        }
    };
    let Some(service) = pool.get_service_by_name(service_name) else {
        let names: Vec<String> = pool.services().map(|s| s.full_name().to_owned()).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let advice = match did_you_mean(service_name, &refs) {
            Some(m) => format!("did you mean `{m}`?"),
            None if refs.is_empty() => "it has no service".to_owned(),
            None => format!("it has {}", list(&refs)),
        };
        cx.err(
            method.loc,
            format!(
                "`{}` has no service `{service_name}`: {advice}",
                descriptor.value
            ),
        );
        return None;
    };
    let Some(m) = service.methods().find(|m| m.name() == method_name) else {
        let names: Vec<String> = service.methods().map(|m| m.name().to_owned()).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let advice = match did_you_mean(method_name, &refs) {
            Some(m) => format!("did you mean `{m}`?"),
            None => format!("it has {}", list(&refs)),
        };
        cx.err(
            method.loc,
            format!("service `{service_name}` has no method `{method_name}`: {advice}"),
        );
        return None;
    };
    if m.is_client_streaming() {
        cx.err(
            method.loc,
            format!(
                "`{service_name}/{method_name}` streams its requests: gRPC checks call unary and server-streaming methods only"
            ),
        );
        return None;
    }
    let json = g
        .request
        .as_ref()
        .map(|r| r.value.clone())
        .unwrap_or_else(|| serde_json::json!({}));
    let request = match DynamicMessage::deserialize(m.input(), json) {
        Ok(msg) => msg.encode_to_vec(),
        Err(e) => {
            let loc = g.request.as_ref().map_or(g.loc, |r| r.loc);
            cx.err(
                loc,
                format!(
                    "the request is not a valid `{}`: {e}",
                    m.input().full_name()
                ),
            );
            return None;
        }
    };
    if !ok {
        return None;
    }
    Some(GrpcSpec {
        service: service_name.to_owned(),
        method: method_name.to_owned(),
        request: request.into(),
        output: m.output(),
        server_streaming: m.is_server_streaming(),
        metadata,
        host,
        timeout: timeout?,
    })
}

/// `` `A`, `B` and `C` ``.
fn list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}
