//! The lab app's gRPC service (`cutover.lab.v1.Shop`, `grpc/shop.proto`)
//! and the gRPC answers the two fronts make themselves.
//!
//! The app: `GetItem` answers items "1" (Widget) and "2" (Gadget), NOT_FOUND
//! for an id it does not know, and its own UNAVAILABLE ("item store
//! unavailable") for the id "unavailable"; `ListItems` streams `count` items
//! (at most 1,000) then OK. Errors are trailers-only, as gRPC servers send
//! them. Requests and answers are encoded with the same descriptor set the
//! tests give cutover.
//!
//! The fronts' own gRPC answers (`front.rs`) are built with
//! [`trailers_only`]. A leaf of the lab: the app and the fronts use it.

use std::sync::OnceLock;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{HeaderMap, Response};
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, Value};

/// The app's body type (`app::Body`), named here so this module stays a leaf.
pub type Body = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

/// The service's descriptor set, as committed beside its `.proto`.
pub const DESCRIPTOR_SET: &[u8] = include_bytes!("grpc/shop.pb");
/// The service's full name.
pub const SERVICE: &str = "cutover.lab.v1.Shop";
/// Items `ListItems` streams at most.
pub const MAX_LIST: i64 = 1000;
/// Envoy's local-reply text when it cannot reach the upstream.
pub const ENVOY_UNREACHABLE: &str =
    "upstream connect error or disconnect/reset before headers. reset reason: connection failure";

fn pool() -> Option<&'static DescriptorPool> {
    static POOL: OnceLock<Option<DescriptorPool>> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(DESCRIPTOR_SET).ok())
        .as_ref()
}

fn message(name: &str) -> Option<MessageDescriptor> {
    pool()?.get_message_by_name(&format!("cutover.lab.v1.{name}"))
}

/// Whether a request is a gRPC call (`content-type: application/grpc…`).
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/grpc"))
}

/// A trailers-only answer: HTTP 200 with the status in the headers.
pub fn trailers_only(code: u32, message: &str) -> Response<Body> {
    let mut r = Response::new(http_body_util::Empty::new().boxed());
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    h.insert("grpc-status", HeaderValue::from(code));
    if !message.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&percent_encode(message)) {
            h.insert("grpc-message", v);
        }
    }
    r
}

/// `grpc-message` is percent-encoded outside printable ASCII and `%`.
fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Frames one message: flags, length, bytes.
fn frame(bytes: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + bytes.len());
    b.extend_from_slice(&[0]);
    b.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    b.extend_from_slice(bytes);
    b.freeze()
}

/// An answer of `messages` then `grpc-status: 0` in the trailers.
fn ok_stream(messages: Vec<Bytes>) -> Response<Body> {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = messages
        .iter()
        .map(|m| Ok(Frame::data(frame(m))))
        .chain(std::iter::once(Ok(Frame::trailers(trailers))))
        .collect();
    let body = StreamBody::new(futures_util::stream::iter(frames)).boxed();
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    r
}

fn item(id: &str, name: &str, price_cents: i64) -> Option<Bytes> {
    let d = message("Item")?;
    let mut m = DynamicMessage::new(d);
    m.set_field_by_name("id", Value::String(id.to_owned()));
    m.set_field_by_name("name", Value::String(name.to_owned()));
    m.set_field_by_name("price_cents", Value::I64(price_cents));
    Some(m.encode_to_vec().into())
}

/// The request message of a framed body, decoded as `name`.
fn request(body: &[u8], name: &str) -> Option<DynamicMessage> {
    let bytes = body.get(5..)?;
    let len = u32::from_be_bytes(body.get(1..5)?.try_into().ok()?) as usize;
    DynamicMessage::decode(message(name)?, bytes.get(..len)?).ok()
}

/// The app's answer to a gRPC call of `path` with request `body`.
pub fn app(path: &str, body: &[u8]) -> Response<Body> {
    let Some(method) = path
        .strip_prefix('/')
        .and_then(|p| p.strip_prefix(SERVICE))
        .and_then(|p| p.strip_prefix('/'))
    else {
        return trailers_only(12, &format!("unknown service in {path}"));
    };
    let internal = || trailers_only(13, "the lab could not encode its answer");
    match method {
        "GetItem" => {
            let Some(req) = request(body, "GetItemRequest") else {
                return trailers_only(3, "the request is not a GetItemRequest");
            };
            let id = req
                .get_field_by_name("id")
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let found = match id.as_str() {
                "1" => item("1", "Widget", 1999),
                "2" => item("2", "Gadget", 2499),
                "unavailable" => return trailers_only(14, "item store unavailable"),
                other => return trailers_only(5, &format!("no item {other}")),
            };
            match found {
                Some(m) => ok_stream(vec![m]),
                None => internal(),
            }
        }
        "ListItems" => {
            let Some(req) = request(body, "ListItemsRequest") else {
                return trailers_only(3, "the request is not a ListItemsRequest");
            };
            let count = req
                .get_field_by_name("count")
                .and_then(|v| v.as_i32())
                .map_or(0, i64::from)
                .clamp(0, MAX_LIST);
            let items: Option<Vec<Bytes>> = (1..=count)
                .map(|i| item(&i.to_string(), &format!("Item {i}"), 100 * i))
                .collect();
            match items {
                Some(items) => ok_stream(items),
                None => internal(),
            }
        }
        other => trailers_only(12, &format!("unknown method {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_descriptor_set_is_the_service() {
        let pool = pool().expect("shop.pb decodes");
        let svc = pool.get_service_by_name(SERVICE).expect("the service");
        let methods: Vec<String> = svc.methods().map(|m| m.name().to_owned()).collect();
        assert_eq!(methods, ["GetItem", "ListItems"]);
        assert!(svc.methods().any(|m| m.is_server_streaming()));
        // The .proto beside it declares the same.
        let proto = include_str!("grpc/shop.proto");
        assert!(proto.contains("rpc GetItem(GetItemRequest) returns (Item);"));
        assert!(proto.contains("rpc ListItems(ListItemsRequest) returns (stream Item);"));
    }

    #[test]
    fn messages_are_percent_encoded() {
        assert_eq!(percent_encode("50% off"), "50%25 off");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }
}
