//! The raw scenario model: what the YAML says, before validation.
//!
//! Every struct denies unknown fields (reported with a did-you-mean by
//! `yaml.rs`), every value validation may reject is wrapped in [`At`] so its
//! error points at the file, and every section or list element that may fail on
//! its own is [`Lenient`], so one broken part does not hide errors elsewhere.
//! Nothing here is trusted: `plan/` turns it into a validated `Plan`.

use std::fmt;

use serde::de::{self, Visitor};
use serde::Deserialize;

use super::yaml::{unknown_message, At, Entries, Lenient};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: Option<At<String>>,
    pub host: Option<At<String>>,
    pub baseline: Option<At<String>>,
    pub targets: Option<At<Entries<Lenient<RawTarget>>>>,
    pub defaults: Option<Lenient<RawDefaults>>,
    pub checks: Option<At<Vec<Lenient<RawCheck>>>>,
    pub load: Option<Lenient<RawLoad>>,
    pub events: Option<Vec<Lenient<At<RawEvent>>>>,
    pub analysis: Option<Lenient<RawAnalysis>>,
    pub known_differences: Option<Vec<Lenient<At<RawKnownDifference>>>>,
    pub watch: Option<Lenient<At<RawWatch>>>,
}

/// `watch: {rate: 2/s, every: 1m, windows: [1m, 5m], checkpoint: 1m, alerts: {…}}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWatch {
    /// Steady requests per target, spread over its HTTP checks.
    pub rate: Option<At<String>>,
    /// How often the one-shot checks run again.
    pub every: Option<At<String>>,
    pub windows: Option<Vec<At<String>>>,
    pub checkpoint: Option<At<String>>,
    pub alerts: Option<RawWatchAlerts>,
}

/// `alerts: {error_ratio: 0.05, min_requests: 20}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWatchAlerts {
    /// Failed share over the longest window that raises `failure_rate`.
    pub error_ratio: Option<At<f64>>,
    /// Requests a window needs before a ratio is judged.
    pub min_requests: Option<At<u64>>,
}

/// `{check: login, target: gateway, kind: parity, reason: "…"}`: a finding
/// the team accepts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKnownDifference {
    pub check: Option<At<String>>,
    pub target: Option<At<String>>,
    pub kind: Option<At<String>>,
    pub reason: Option<At<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAnalysis {
    pub spike_503: Option<RawSpike>,
    pub latency: Option<RawLatency>,
    pub thresholds: Option<RawThresholds>,
    pub abort: Option<RawAbort>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSpike {
    pub after_event: Option<At<String>>,
    pub before_event: Option<At<String>>,
    pub max_ratio: Option<At<f64>>,
    /// One-sided Poisson p-value below which a run of 503s is a spike.
    pub significance: Option<At<f64>>,
    /// 503s a spike must add to the expected count.
    pub min_increase: Option<At<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLatency {
    pub p50_max_ratio: Option<At<f64>>,
    pub p90_max_ratio: Option<At<f64>>,
    pub p99_max_ratio: Option<At<f64>>,
    pub p999_max_ratio: Option<At<f64>>,
    /// Critical ratios: past them a regression fails the run.
    pub p50_critical_ratio: Option<At<f64>>,
    pub p90_critical_ratio: Option<At<f64>>,
    pub p99_critical_ratio: Option<At<f64>>,
    pub p999_critical_ratio: Option<At<f64>>,
    pub min_delta: Option<At<String>>,
    pub critical_delta: Option<At<String>>,
    pub significance: Option<At<f64>>,
    /// Samples needed beyond a quantile on both sides to judge it.
    pub min_tail_samples: Option<At<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThresholds {
    /// Transport errors + 5xx over requests, per target, over the whole load.
    pub error_ratio: Option<At<f64>>,
    pub server_error_ratio: Option<At<f64>>,
    pub p99: Option<At<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAbort {
    pub error_ratio: At<f64>,
    #[serde(rename = "for")]
    pub duration: At<String>,
}

/// `{at: 2m, name: rollout api, run: "kubectl …", timeout: 5m}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEvent {
    pub at: At<String>,
    pub name: At<String>,
    pub run: Option<String>,
    pub timeout: Option<At<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    pub connect: At<String>,
    pub role: Option<At<String>>,
    pub proxy: Option<At<String>>,
    pub host: Option<At<String>>,
    pub scheme: Option<At<String>>,
    pub tls: Option<RawTls>,
    pub headers: Option<Entries<At<String>>>,
    /// Addresses or CNAME targets that DNS answers with for this target.
    pub dns_answers: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub ca: Option<At<String>>,
    pub insecure: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    pub scheme: Option<At<String>>,
    pub timeout: Option<At<String>>,
    pub headers: Option<Entries<At<String>>>,
    pub body_cap: Option<At<String>>,
    pub follow_redirects: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    pub name: At<String>,
    pub targets: Option<Vec<At<String>>>,
    pub http: Option<At<RawHttp>>,
    pub websocket: Option<At<RawWebSocket>>,
    pub cors: Option<At<RawCors>>,
    pub dns: Option<At<RawDns>>,
    pub rate_limit: Option<At<RawRateLimit>>,
    pub body_limit: Option<At<RawBodyLimit>>,
    pub route_timeout: Option<At<RawRouteTimeout>>,
    pub redirect: Option<At<RawRedirect>>,
    pub forwarded_headers: Option<At<RawForwarded>>,
    pub hostnames: Option<At<RawHostnames>>,
    pub grpc: Option<At<RawGrpc>>,
    pub expect: Option<RawExpect>,
    pub parity: Option<At<RawParity>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub method: Option<At<String>>,
    pub path: Option<At<String>>,
    pub host: Option<At<String>>,
    pub query: Option<Entries<At<String>>>,
    pub headers: Option<Entries<At<String>>>,
    pub body: Option<String>,
    pub body_file: Option<At<String>>,
    pub json: Option<serde_json::Value>,
    pub timeout: Option<At<String>>,
    pub follow_redirects: Option<bool>,
    pub body_cap: Option<At<String>>,
    /// `auto` (default), `h1`, `h2` or `h2c`.
    pub version: Option<At<String>>,
}

/// `grpc: {method: cutover.lab.v1.Shop/GetItem, descriptor: shop.pb, request: {id: "1"}}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGrpc {
    /// `package.Service/Method`.
    pub method: Option<At<String>>,
    /// A descriptor set (`protoc --include_imports --descriptor_set_out`),
    /// relative to the scenario.
    pub descriptor: Option<At<String>>,
    /// The request message as JSON (protobuf's JSON mapping); `{}` if absent.
    pub request: Option<At<serde_json::Value>>,
    /// Request metadata (sent as headers).
    pub metadata: Option<Entries<At<String>>>,
    pub host: Option<At<String>>,
    pub timeout: Option<At<String>>,
}

/// `rate_limit: {path: /api/login, count: 40, rate: 20/s, source_addresses: [127.0.0.1, 127.0.0.2]}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    pub method: Option<At<String>>,
    pub path: Option<At<String>>,
    pub host: Option<At<String>>,
    pub headers: Option<Entries<At<String>>>,
    /// Requests sent at most, over every source (default 50).
    pub count: Option<At<u64>>,
    /// Requests per second (default 20/s).
    pub rate: Option<At<String>>,
    /// Local addresses to send from, in order.
    pub source_addresses: Option<Vec<At<String>>>,
    /// Allow a `count` or `rate` above the safe maximum.
    pub force: Option<bool>,
    pub timeout: Option<At<String>>,
}

/// `body_limit: {path: /upload, size: 1m, method: POST}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBodyLimit {
    pub method: Option<At<String>>,
    pub path: Option<At<String>>,
    pub host: Option<At<String>>,
    pub headers: Option<Entries<At<String>>>,
    pub size: Option<At<String>>,
    pub timeout: Option<At<String>>,
}

/// `route_timeout: {path: "/slow?ms=16000", duration: 16s}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouteTimeout {
    pub method: Option<At<String>>,
    pub path: Option<At<String>>,
    pub host: Option<At<String>>,
    pub headers: Option<Entries<At<String>>>,
    /// How long the slow endpoint takes to answer.
    pub duration: Option<At<String>>,
    pub timeout: Option<At<String>>,
}

/// `redirect: {path: /login, method: POST, http_port: 80}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedirect {
    pub method: Option<At<String>>,
    pub path: Option<At<String>>,
    pub host: Option<At<String>>,
    pub headers: Option<Entries<At<String>>>,
    pub http_port: Option<At<u64>>,
    pub timeout: Option<At<String>>,
}

/// `forwarded_headers: {echo_path: /echo-headers}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawForwarded {
    pub echo_path: Option<At<String>>,
    pub host: Option<At<String>>,
    pub headers: Option<Entries<At<String>>>,
    pub timeout: Option<At<String>>,
}

/// `hostnames: {path: /, variants: [trailing_dot, upper_case, port]}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHostnames {
    pub method: Option<At<String>>,
    pub path: Option<At<String>>,
    pub host: Option<At<String>>,
    pub headers: Option<Entries<At<String>>>,
    pub variants: Option<Vec<At<String>>>,
    pub timeout: Option<At<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    pub status: Option<At<OneOrMany>>,
    pub headers: Option<Entries<At<RawHeaderExpect>>>,
    pub body_contains: Option<At<OneOrMany>>,
    pub json: Option<Entries<serde_json::Value>>,
    pub max_latency: Option<At<String>>,
    /// CORS checks: the exact Access-Control-Allow-Origin.
    pub allow_origin: Option<At<String>>,
    /// CORS checks: Access-Control-Allow-Credentials.
    pub allow_credentials: Option<bool>,
    /// CORS checks: Access-Control-Max-Age, exact (`600`) or a range (`600..86400`).
    pub max_age: Option<At<String>>,
    /// DNS checks: target → weight.
    pub weights: Option<Entries<At<f64>>>,
    /// DNS checks: fail the split below this p-value (default 0.001).
    pub significance: Option<At<f64>>,
    /// DNS checks: a private or non-routable answer is a finding (default true).
    pub routable_only: Option<bool>,
    /// DNS checks: the highest acceptable TTL (`60s`).
    pub max_ttl: Option<At<String>>,
    /// gRPC checks: the status code, by name (`UNAVAILABLE`) or number (default OK).
    pub grpc_code: Option<At<Word>>,
    /// gRPC checks: text `grpc-message` contains.
    pub grpc_message: Option<At<String>>,
    /// gRPC checks: trailers, like `headers`.
    pub trailers: Option<Entries<At<RawHeaderExpect>>>,
    /// gRPC checks: messages a server-streaming call answers with.
    pub messages: Option<At<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDns {
    pub name: Option<At<String>>,
    pub nameservers: Option<Vec<At<String>>>,
    /// `A` (default) or `AAAA`.
    pub record: Option<At<String>>,
    pub samples: Option<At<u64>>,
    pub rate: Option<At<String>>,
    pub concurrency: Option<At<u64>>,
    pub timeout: Option<At<String>>,
    /// Networks whose answers are not findings (`127.0.0.0/8` for labs).
    pub allow_private: Option<Vec<At<String>>>,
    /// During `run`: sample again at this interval (default 30s).
    pub every: Option<At<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebSocket {
    pub path: Option<At<String>>,
    pub host: Option<At<String>>,
    pub query: Option<Entries<At<String>>>,
    pub headers: Option<Entries<At<String>>>,
    pub origin: Option<At<String>>,
    pub subprotocols: Option<Vec<String>>,
    pub send: Option<Vec<At<RawWsMessage>>>,
    pub expect_echo: Option<bool>,
    pub expect_regex: Option<At<String>>,
    pub expect_json: Option<Entries<serde_json::Value>>,
    pub hold: Option<At<String>>,
    pub ping_interval: Option<At<String>>,
    /// While holding: how long the pong to a ping may take (default 10s).
    pub pong_timeout: Option<At<String>>,
    pub timeout: Option<At<String>>,
    /// The largest message accepted from the server (`1m`; default 16 MiB).
    pub max_message: Option<At<String>>,
}

/// `hello` (text), `{text: hello}` or `{binary: aGVsbG8=}` (base64).
#[derive(Debug, Clone, PartialEq)]
pub enum RawWsMessage {
    Text(String),
    Binary(String),
}

impl<'de> Deserialize<'de> for RawWsMessage {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawWsMessage;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a text message, {text: …} or {binary: <base64>}")
            }
            fn visit_str<E>(self, v: &str) -> Result<RawWsMessage, E> {
                Ok(RawWsMessage::Text(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<RawWsMessage, E> {
                Ok(RawWsMessage::Text(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawWsMessage, E> {
                Ok(RawWsMessage::Text(v.to_string()))
            }
            fn visit_map<A: de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RawWsMessage, A::Error> {
                let Some(key) = map.next_key::<String>()? else {
                    return Err(de::Error::custom(
                        "empty message: use {text: …} or {binary: <base64>}",
                    ));
                };
                let out = match key.as_str() {
                    "text" => RawWsMessage::Text(map.next_value()?),
                    "binary" => RawWsMessage::Binary(map.next_value()?),
                    other => {
                        return Err(de::Error::custom(unknown_message(
                            "message kind",
                            other,
                            &["text", "binary"],
                        )))
                    }
                };
                if map.next_key::<String>()?.is_some() {
                    return Err(de::Error::custom("a message is either text or binary"));
                }
                Ok(out)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCors {
    pub path: Option<At<String>>,
    pub host: Option<At<String>>,
    pub headers: Option<Entries<At<String>>>,
    pub origin: Option<At<String>>,
    pub method: Option<At<String>>,
    pub request_headers: Option<Vec<String>>,
    pub disallowed_origin: Option<At<String>>,
    /// Also send the actual request: `true` (GET), `false`, or a method.
    pub actual: Option<At<String>>,
    pub timeout: Option<At<String>>,
}

/// One string or a list of strings (numbers are read as their text).
#[derive(Debug, Clone)]
pub struct OneOrMany(pub Vec<At<String>>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value or a list of values")
            }
            fn visit_i64<E>(self, v: i64) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![unlocated(v.to_string())]))
            }
            fn visit_u64<E>(self, v: u64) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![unlocated(v.to_string())]))
            }
            fn visit_str<E>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![unlocated(v.to_owned())]))
            }
            fn visit_string<E>(self, v: String) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![unlocated(v)]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<At<String>>()? {
                    out.push(v);
                }
                Ok(OneOrMany(out))
            }
        }
        d.deserialize_any(V)
    }
}

fn unlocated(value: String) -> At<String> {
    At {
        value,
        loc: Default::default(),
    }
}

/// `content-type: application/json` (equals) or `{contains|regex|equals: …}` / `{absent: true}`.
#[derive(Debug, Clone, PartialEq)]
pub enum RawHeaderExpect {
    Equals(String),
    Contains(String),
    Regex(String),
    Absent,
}

impl<'de> Deserialize<'de> for RawHeaderExpect {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        const KEYS: &[&str] = &["equals", "contains", "regex", "absent"];
        impl<'de> Visitor<'de> for V {
            type Value = RawHeaderExpect;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a header value, or one of {equals, contains, regex, absent}")
            }
            fn visit_str<E>(self, v: &str) -> Result<RawHeaderExpect, E> {
                Ok(RawHeaderExpect::Equals(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<RawHeaderExpect, E> {
                Ok(RawHeaderExpect::Equals(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawHeaderExpect, E> {
                Ok(RawHeaderExpect::Equals(v.to_string()))
            }
            fn visit_map<A: de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RawHeaderExpect, A::Error> {
                let Some(key) = map.next_key::<String>()? else {
                    return Err(de::Error::custom(
                        "empty header expectation: use one of equals, contains, regex, absent",
                    ));
                };
                let out = match key.as_str() {
                    "equals" => RawHeaderExpect::Equals(map.next_value()?),
                    "contains" => RawHeaderExpect::Contains(map.next_value()?),
                    "regex" => RawHeaderExpect::Regex(map.next_value()?),
                    "absent" => {
                        let absent: bool = map.next_value()?;
                        if !absent {
                            return Err(de::Error::custom(
                                "`absent: false` means nothing; expect a value instead",
                            ));
                        }
                        RawHeaderExpect::Absent
                    }
                    other => {
                        return Err(de::Error::custom(unknown_message(
                            "header rule",
                            other,
                            KEYS,
                        )))
                    }
                };
                if map.next_key::<String>()?.is_some() {
                    return Err(de::Error::custom(
                        "a header expectation takes exactly one rule",
                    ));
                }
                Ok(out)
            }
        }
        d.deserialize_any(V)
    }
}

/// What must be equal between targets.
///
/// List form: `[status, "header:content-type", headers, body, "body:json",
/// "ignore:date", "ignore:/served_at", "noise:off"]`; map form: `{status: true,
/// headers: [content-type] | all, body: exact | json, ignore_headers: [date],
/// ignore: ["/served_at", "/items/*/updated_at"], noise: on | off,
/// noise_samples: 2, noise_unsafe: false}`. Both become located items that
/// validation checks one by one (map-form pointers as `ignore_pointer:…`,
/// an unknown key as `?key`).
#[derive(Debug, Clone, Default)]
pub struct RawParity {
    pub items: Vec<At<String>>,
}

/// The keys of `parity:`'s map form.
pub const PARITY_KEYS: &[&str] = &[
    "status",
    "headers",
    "body",
    "ignore_headers",
    "ignore",
    "noise",
    "noise_samples",
    "noise_unsafe",
];

/// A scalar of any YAML type, as its text (`on`, `true`, `3`).
#[derive(Debug)]
pub struct Word(pub String);

impl<'de> Deserialize<'de> for Word {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Word;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a word, a number or true/false")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Word, E> {
                Ok(Word(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Word, E> {
                Ok(Word(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Word, E> {
                Ok(Word(v.to_string()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Word, E> {
                Ok(Word(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawParity {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawParity;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list like [status, \"header:content-type\", body] or a mapping")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<RawParity, A::Error> {
                let mut items = Vec::new();
                while let Some(v) = seq.next_element::<At<String>>()? {
                    items.push(v);
                }
                Ok(RawParity { items })
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<RawParity, A::Error> {
                let mut items = Vec::new();
                while let Some(key) = map.next_key::<At<String>>()? {
                    let loc = key.loc;
                    let item = |s: String| At { value: s, loc };
                    match key.value.as_str() {
                        "status" => {
                            if map.next_value::<bool>()? {
                                items.push(item("status".into()));
                            }
                        }
                        "headers" => {
                            let names: OneOrMany = map.next_value()?;
                            for n in names.0 {
                                items.push(if n.value == "all" {
                                    item("headers".into())
                                } else {
                                    At {
                                        value: format!("header:{}", n.value),
                                        loc: n.loc,
                                    }
                                });
                            }
                        }
                        "body" => {
                            let mode: At<Word> = map.next_value()?;
                            match mode.value.0.as_str() {
                                "exact" | "true" => items.push(item("body".into())),
                                "json" => items.push(item("body:json".into())),
                                "false" => {}
                                other => items.push(At {
                                    value: format!("body:{other}"),
                                    loc: mode.loc,
                                }),
                            }
                        }
                        "ignore_headers" | "ignore" => {
                            let prefix = if key.value == "ignore" {
                                "ignore_pointer"
                            } else {
                                "ignore"
                            };
                            let names: OneOrMany = map.next_value()?;
                            for n in names.0 {
                                let loc = if n.loc == Default::default() {
                                    loc
                                } else {
                                    n.loc
                                };
                                items.push(At {
                                    value: format!("{prefix}:{}", n.value),
                                    loc,
                                });
                            }
                        }
                        "noise" | "noise_samples" | "noise_unsafe" => {
                            let v: At<Word> = map.next_value()?;
                            items.push(At {
                                value: format!("{}:{}", key.value, v.value.0),
                                loc: v.loc,
                            });
                        }
                        // Reported by validation, at the key.
                        other => {
                            map.next_value::<de::IgnoredAny>()?;
                            items.push(item(format!("?{other}")));
                        }
                    }
                }
                Ok(RawParity { items })
            }
        }
        d.deserialize_any(V)
    }
}

/// `parity: { sample: 1%, relative: 20%, absolute: 0.03% }` under `load:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoadParity {
    pub sample: Option<At<String>>,
    pub relative: Option<At<String>>,
    pub absolute: Option<At<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoad {
    pub stages: Option<At<Vec<Lenient<At<RawStage>>>>>,
    pub mix: Option<Entries<At<f64>>>,
    pub max_in_flight: Option<At<u64>>,
    pub connections: Option<At<u64>>,
    pub targets: Option<Vec<At<String>>>,
    pub connection: Option<At<String>>,
    /// `full` (default) or `status`.
    pub judge: Option<At<String>>,
    /// Sampled parity under load.
    pub parity: Option<At<RawLoadParity>>,
    /// The largest WebSocket message a socket stage accepts (default 64 KiB).
    pub websocket_max_message: Option<At<String>>,
    /// Lift the one-machine limits on rates and counts tenfold.
    pub force: Option<bool>,
    /// `h1` (default), `h2` (over TLS, ALPN `h2`) or `h2c` (cleartext, prior knowledge).
    pub http_version: Option<At<String>>,
    /// The most concurrent streams per HTTP/2 connection (default 100).
    pub max_streams: Option<At<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    pub rate: Option<At<String>>,
    pub from: Option<At<String>>,
    pub to: Option<At<String>>,
    pub concurrency: Option<At<u64>>,
    /// WebSocket stage: sockets held open per target.
    pub sockets: Option<At<u64>>,
    /// WebSocket stage: how long opening all sockets takes.
    pub ramp: Option<At<String>>,
    /// WebSocket stage: messages per socket (`1/s`).
    pub message_rate: Option<At<String>>,
    /// WebSocket stage: the `websocket:` check whose path and message it uses.
    pub check: Option<At<String>>,
    #[serde(rename = "for")]
    pub duration: Option<At<String>>,
}
