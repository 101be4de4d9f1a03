//! YAML → located tree → typed raw model, collecting every error on the way.
//!
//! serde-saphyr parses the text (and reports syntax errors with line:column);
//! we keep its output as a tree of [`Node`]s, each carrying the [`Loc`] it came
//! from. [`from_node`] then drives the serde-derived raw model (`model.rs`) over
//! that tree with a deserializer of our own, which differs from a plain serde
//! pass in three ways that make "every error at once" possible:
//!
//! * unknown keys are recorded (with a did-you-mean) and skipped, so the rest of
//!   the struct still deserializes;
//! * [`Lenient<T>`] records the error of one element (a check, a target, a
//!   section) and yields `None`, so one broken check does not hide the others;
//! * [`At<T>`] captures the location of a value, so validation can point at it.
//!
//! `${NAME}` in any string is replaced by the environment variable `NAME`; an
//! unset variable is an error naming it, and every interpolated value is kept
//! in the sink's secret list so reports can redact it. `$${` writes a literal `${`.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::Deserialize;

/// A 1-based line and column in the scenario file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Loc {
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

impl From<&serde_saphyr::Location> for Loc {
    fn from(l: &serde_saphyr::Location) -> Self {
        Loc {
            line: u32::try_from(l.line()).unwrap_or(u32::MAX),
            col: u32::try_from(l.column()).unwrap_or(u32::MAX),
        }
    }
}

/// One located YAML value.
#[derive(Clone, Debug)]
pub struct Node {
    pub value: Value,
    pub loc: Loc,
}

/// The shape of a YAML value.
#[derive(Clone, Debug)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Value {
    fn unexpected(&self) -> de::Unexpected<'_> {
        match self {
            Value::Null => de::Unexpected::Unit,
            Value::Bool(b) => de::Unexpected::Bool(*b),
            Value::Int(i) => match i64::try_from(*i) {
                Ok(i) => de::Unexpected::Signed(i),
                Err(_) => de::Unexpected::Other("a large integer"),
            },
            Value::Float(f) => de::Unexpected::Float(*f),
            Value::Str(s) => de::Unexpected::Str(s),
            Value::Seq(_) => de::Unexpected::Seq,
            Value::Map(_) => de::Unexpected::Map,
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<Value>::deserialize(d)?;
        Ok(Node {
            loc: Loc::from(&spanned.referenced),
            value: spanned.value,
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_none<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
                Value::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
                Ok(Value::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Int(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
                Ok(Value::Int(v.into()))
            }
            fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
                Ok(Value::Int(v))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
                i128::try_from(v)
                    .map(Value::Int)
                    .map_err(|_| E::custom("integer too large"))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
                Ok(Value::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Value, E> {
                Ok(Value::Str(v))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let mut items = Vec::new();
                while let Some(n) = seq.next_element::<Node>()? {
                    items.push(n);
                }
                Ok(Value::Seq(items))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
                let mut entries = Vec::new();
                while let Some((k, v)) = map.next_entry::<Node, Node>()? {
                    entries.push((k, v));
                }
                Ok(Value::Map(entries))
            }
        }
        d.deserialize_any(V)
    }
}

/// One problem in the scenario, at a place in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub loc: Loc,
    pub message: String,
}

/// Where errors and interpolated secrets accumulate during one load.
pub struct Sink<'e> {
    pub errors: RefCell<Vec<Diagnostic>>,
    pub secrets: RefCell<Vec<String>>,
    /// `(variable, value)` of every non-empty interpolated variable, so a
    /// reproduce command can name the variable instead of its value.
    pub vars: RefCell<Vec<(String, String)>>,
    env: &'e dyn Fn(&str) -> Option<String>,
}

impl<'e> Sink<'e> {
    pub fn new(env: &'e dyn Fn(&str) -> Option<String>) -> Self {
        Sink {
            errors: RefCell::new(Vec::new()),
            secrets: RefCell::new(Vec::new()),
            vars: RefCell::new(Vec::new()),
            env,
        }
    }

    pub fn error(&self, loc: Loc, message: impl Into<String>) {
        self.errors.borrow_mut().push(Diagnostic {
            loc,
            message: message.into(),
        });
    }

    fn push(&self, e: Error, fallback: Loc) {
        if e.suppressed {
            return;
        }
        self.error(e.loc.unwrap_or(fallback), e.msg);
    }

    /// Replaces `${NAME}` by the environment's value; `$${` is a literal `${`.
    fn interpolate(&self, s: &str, loc: Loc) -> String {
        if !s.contains("${") {
            return s.to_owned();
        }
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            if let Some(after) = tail.strip_prefix("$${") {
                out.push_str("${");
                rest = after;
            } else if let Some(after) = tail.strip_prefix("${") {
                match after.find('}') {
                    Some(end) => {
                        let name = after[..end].trim();
                        match (self.env)(name) {
                            Some(v) => {
                                if !v.is_empty() {
                                    self.secrets.borrow_mut().push(v.clone());
                                    self.vars.borrow_mut().push((name.to_owned(), v.clone()));
                                }
                                out.push_str(&v);
                            }
                            None => {
                                self.error(loc, format!("environment variable `{name}` is not set"))
                            }
                        }
                        rest = &after[end + 1..];
                    }
                    None => {
                        self.error(loc, "unclosed `${` in string (write `$${` for a literal)");
                        out.push_str(tail);
                        rest = "";
                    }
                }
            } else {
                out.push('$');
                rest = &tail[1..];
            }
        }
        out.push_str(rest);
        out
    }
}

/// A deserialization error, located when we know where.
#[derive(Debug)]
pub struct Error {
    pub msg: String,
    pub loc: Option<Loc>,
    /// Already explained by another diagnostic (a "missing field" after its misspelling).
    pub suppressed: bool,
}

impl Error {
    fn at(mut self, loc: Loc) -> Self {
        self.loc.get_or_insert(loc);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error {
            msg: msg.to_string(),
            loc: None,
            suppressed: false,
        }
    }

    fn invalid_type(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        de::Error::custom(format!(
            "wrong type: found {unexp}, expected {}",
            expected_text(exp)
        ))
    }

    fn invalid_value(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        de::Error::custom(format!(
            "invalid value: found {unexp}, expected {}",
            expected_text(exp)
        ))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        de::Error::custom(unknown_message("value", variant, expected))
    }
}

/// What serde expected, in words: never a Rust type name (`u64`, `struct RawLoad`).
fn expected_text(exp: &dyn de::Expected) -> String {
    let exp = exp.to_string();
    match exp.as_str() {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number of 0 or more".into(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        _ if exp.starts_with("struct ") => "a mapping of settings".into(),
        _ => exp,
    }
}

/// "unknown field `conect`, did you mean `connect`?" or the list of choices.
pub fn unknown_message(what: &str, got: &str, expected: &[&str]) -> String {
    match did_you_mean(got, expected) {
        Some(best) => format!("unknown {what} `{got}`, did you mean `{best}`?"),
        None if expected.is_empty() => format!("unknown {what} `{got}`, none is allowed here"),
        None => format!(
            "unknown {what} `{got}`, expected one of {}",
            expected
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The closest candidate, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(got: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(got, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Parses YAML text into a located tree; a syntax error comes back located.
pub fn parse(text: &str) -> Result<Node, Diagnostic> {
    match serde_saphyr::from_str::<Node>(text) {
        Ok(node) => Ok(node),
        Err(e) => {
            let loc = e
                .location()
                .map(|l| Loc::from(&l))
                .unwrap_or(Loc { line: 1, col: 1 });
            let rendered = e.without_snippet().to_string();
            // serde-saphyr appends " at line X column Y"; we print the location first.
            let message = rendered
                .lines()
                .next()
                .unwrap_or("invalid YAML")
                .split(" at line ")
                .next()
                .unwrap_or("invalid YAML")
                .trim()
                .to_owned();
            let message = match message.strip_prefix("duplicate mapping key: ") {
                Some(key) => format!("duplicate key `{}`", key.split(',').next().unwrap_or(key)),
                None => format!("invalid YAML: {message}"),
            };
            Err(Diagnostic { loc, message })
        }
    }
}

/// Deserializes `T` from a located tree; errors go to the sink, `None` if `T` failed.
pub fn from_node<T: de::DeserializeOwned>(node: &Node, sink: &Sink<'_>) -> Option<T> {
    match T::deserialize(NodeDe { node, sink }) {
        Ok(v) => Some(v),
        Err(e) => {
            sink.push(e, node.loc);
            None
        }
    }
}

/// A value with the location it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct At<T> {
    pub value: T,
    pub loc: Loc,
}

impl<T> std::ops::Deref for At<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

const AT_MARKER: &str = "$cutover::At";
const LENIENT_MARKER: &str = "$cutover::Lenient";

impl<'de, T: Deserialize<'de>> Deserialize<'de> for At<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = At<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a located value")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<At<T>, A::Error> {
                let line: u32 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("missing line"))?;
                let col: u32 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("missing column"))?;
                let value: T = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("missing value"))?;
                Ok(At {
                    value,
                    loc: Loc { line, col },
                })
            }
        }
        d.deserialize_newtype_struct(AT_MARKER, V(std::marker::PhantomData))
    }
}

/// An element whose failure is recorded and does not fail its parent.
#[derive(Clone, Debug)]
pub struct Lenient<T>(pub Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Lenient<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Lenient<T>, A::Error> {
                Ok(Lenient(seq.next_element()?))
            }
        }
        d.deserialize_newtype_struct(LENIENT_MARKER, V(std::marker::PhantomData))
    }
}

/// A mapping that keeps the file's order and each key's location.
#[derive(Clone, Debug)]
pub struct Entries<V>(pub Vec<(At<String>, V)>);

impl<V> Default for Entries<V> {
    fn default() -> Self {
        Entries(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Entries<V> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Vis<V> {
            type Value = Entries<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_unit<E>(self) -> Result<Entries<V>, E> {
                Ok(Entries(Vec::new()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Entries<V>, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<At<String>, V>()? {
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(Vis(std::marker::PhantomData))
    }
}

struct NodeDe<'a, 'e> {
    node: &'a Node,
    sink: &'a Sink<'e>,
}

impl<'a, 'e> NodeDe<'a, 'e> {
    fn invalid<V: Visitor<'a>>(&self, visitor: &V) -> Error {
        de::Error::invalid_type(self.node.value.unexpected(), visitor)
    }
}

macro_rules! forward_any {
    ($($name:ident)*) => {
        $(fn $name<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.deserialize_any(visitor)
        })*
    };
}

impl<'de, 'a: 'de, 'e> de::Deserializer<'de> for NodeDe<'a, 'e> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let loc = self.node.loc;
        let r = match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => match (i64::try_from(*i), u64::try_from(*i)) {
                (Ok(i), _) => visitor.visit_i64(i),
                (_, Ok(u)) => visitor.visit_u64(u),
                // serde would say "integer `…` as i128": type names are not for users.
                _ => Err(de::Error::custom(format!(
                    "the number {i} is too large: use a smaller one, or quote it if it is text"
                ))),
            },
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Str(s) => visitor.visit_string(self.sink.interpolate(s, loc)),
            Value::Seq(items) => visitor.visit_seq(SeqDe {
                items: items.iter(),
                sink: self.sink,
            }),
            Value::Map(entries) => visitor.visit_map(MapDe {
                entries: entries.iter().collect::<Vec<_>>().into_iter(),
                value: None,
                sink: self.sink,
            }),
        };
        r.map_err(|e| e.at(loc))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let loc = self.node.loc;
        let text = match &self.node.value {
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            _ => return self.deserialize_any(visitor),
        };
        visitor.visit_string(text).map_err(|e: Error| e.at(loc))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.node.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        match name {
            AT_MARKER => visitor.visit_seq(AtDe {
                node: self.node,
                sink: self.sink,
                step: 0,
            }),
            LENIENT_MARKER => visitor.visit_seq(LenientDe {
                node: Some(self.node),
                sink: self.sink,
            }),
            _ => visitor.visit_newtype_struct(self),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let loc = self.node.loc;
        let mut suggested: Vec<&str> = Vec::new();
        let entries: Vec<&(Node, Node)> = match &self.node.value {
            Value::Null => Vec::new(),
            Value::Map(entries) => entries
                .iter()
                .filter(|(k, _)| match &k.value {
                    Value::Str(key) if fields.contains(&key.as_str()) => true,
                    Value::Str(key) => {
                        suggested.extend(did_you_mean(key, fields));
                        self.sink
                            .error(k.loc, unknown_message("field", key, fields));
                        false
                    }
                    _ => {
                        self.sink.error(k.loc, "keys here must be plain strings");
                        false
                    }
                })
                .collect(),
            _ => return Err(self.invalid(&visitor).at(loc)),
        };
        visitor
            .visit_map(MapDe {
                entries: entries.into_iter(),
                value: None,
                sink: self.sink,
            })
            .map_err(|mut e| {
                if suggested
                    .iter()
                    .any(|s| e.msg == format!("missing field `{s}`"))
                {
                    e.suppressed = true;
                }
                e.at(loc)
            })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let loc = self.node.loc;
        match &self.node.value {
            Value::Str(s) => visitor
                .visit_enum(s.as_str().into_deserializer())
                .map_err(|e: Error| e.at(loc)),
            Value::Map(entries) if entries.len() == 1 => {
                let (k, v) = &entries[0];
                visitor
                    .visit_enum(EnumDe {
                        key: k,
                        value: v,
                        sink: self.sink,
                    })
                    .map_err(|e| e.at(loc))
            }
            _ => Err(self.invalid(&visitor).at(loc)),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    forward_any! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_bytes
        deserialize_byte_buf deserialize_unit deserialize_seq deserialize_map
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }
}

struct SeqDe<'a, 'e> {
    items: std::slice::Iter<'a, Node>,
    sink: &'a Sink<'e>,
}

impl<'de, 'a: 'de, 'e> de::SeqAccess<'de> for SeqDe<'a, 'e> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.items.next() {
            Some(node) => seed
                .deserialize(NodeDe {
                    node,
                    sink: self.sink,
                })
                .map(Some)
                .map_err(|e| e.at(node.loc)),
            None => Ok(None),
        }
    }
}

struct MapDe<'a, 'e, I: Iterator<Item = &'a (Node, Node)>> {
    entries: I,
    value: Option<&'a Node>,
    sink: &'a Sink<'e>,
}

impl<'de, 'a: 'de, 'e, I: Iterator<Item = &'a (Node, Node)>> de::MapAccess<'de>
    for MapDe<'a, 'e, I>
{
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.entries.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(NodeDe {
                    node: k,
                    sink: self.sink,
                })
                .map(Some)
                .map_err(|e| e.at(k.loc))
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(node) => seed
                .deserialize(NodeDe {
                    node,
                    sink: self.sink,
                })
                .map_err(|e| e.at(node.loc)),
            None => Err(de::Error::custom("value requested before key")),
        }
    }
}

/// Feeds `At<T>`'s visitor: line, column, then the value itself.
struct AtDe<'a, 'e> {
    node: &'a Node,
    sink: &'a Sink<'e>,
    step: u8,
}

impl<'de, 'a: 'de, 'e> de::SeqAccess<'de> for AtDe<'a, 'e> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.step += 1;
        match self.step {
            1 => seed
                .deserialize(self.node.loc.line.into_deserializer())
                .map(Some),
            2 => seed
                .deserialize(self.node.loc.col.into_deserializer())
                .map(Some),
            3 => seed
                .deserialize(NodeDe {
                    node: self.node,
                    sink: self.sink,
                })
                .map(Some),
            _ => Ok(None),
        }
    }
}

/// Feeds `Lenient<T>`'s visitor: the value, or `None` after recording its error.
struct LenientDe<'a, 'e> {
    node: Option<&'a Node>,
    sink: &'a Sink<'e>,
}

impl<'de, 'a: 'de, 'e> de::SeqAccess<'de> for LenientDe<'a, 'e> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some(node) = self.node.take() else {
            return Ok(None);
        };
        match seed.deserialize(NodeDe {
            node,
            sink: self.sink,
        }) {
            Ok(v) => Ok(Some(v)),
            Err(e) => {
                self.sink.push(e, node.loc);
                Ok(None)
            }
        }
    }
}

struct EnumDe<'a, 'e> {
    key: &'a Node,
    value: &'a Node,
    sink: &'a Sink<'e>,
}

impl<'de, 'a: 'de, 'e> de::EnumAccess<'de> for EnumDe<'a, 'e> {
    type Error = Error;
    type Variant = NodeDe<'a, 'e>;
    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), Error> {
        let v = seed
            .deserialize(NodeDe {
                node: self.key,
                sink: self.sink,
            })
            .map_err(|e| e.at(self.key.loc))?;
        Ok((
            v,
            NodeDe {
                node: self.value,
                sink: self.sink,
            },
        ))
    }
}

impl<'de, 'a: 'de, 'e> de::VariantAccess<'de> for NodeDe<'a, 'e> {
    type Error = Error;
    fn unit_variant(self) -> Result<(), Error> {
        match self.node.value {
            Value::Null => Ok(()),
            _ => {
                Err(<Error as de::Error>::custom("this value takes no settings").at(self.node.loc))
            }
        }
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_any(self, visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_struct(self, "", fields, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        connect: At<String>,
        #[serde(default)]
        port: Option<u16>,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        items: Vec<Lenient<Inner>>,
    }

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cret".to_owned())
    }

    #[test]
    fn collects_errors_from_every_element() {
        let text = "items:\n  - conect: a\n  - connect: b\n    port: nope\n  - connect: c\n";
        let node = parse(text).unwrap();
        let sink = Sink::new(&env);
        let outer: Outer = from_node(&node, &sink).unwrap();
        let errors = sink.errors.borrow();
        assert_eq!(outer.items.len(), 3);
        let third = outer.items[2].0.as_ref().unwrap();
        assert_eq!(third.port, None);
        assert_eq!(
            errors[0].message,
            "unknown field `conect`, did you mean `connect`?"
        );
        assert_eq!(errors[0].loc, Loc { line: 2, col: 5 });
        // "missing field `connect`" would repeat the misspelling: it is suppressed.
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(
            errors[1].message,
            // Not `expected u16`: Rust type names are not for users.
            "wrong type: found string \"nope\", expected a whole number of 0 or more"
        );
        assert_eq!(errors[1].loc, Loc { line: 4, col: 11 });
        assert_eq!(third.connect.loc, Loc { line: 5, col: 14 });
    }

    #[test]
    fn interpolates_environment_and_records_secrets() {
        let node = parse("items:\n  - connect: \"Bearer ${TOKEN} $${X} ${MISSING}\"\n").unwrap();
        let sink = Sink::new(&env);
        let outer: Outer = from_node(&node, &sink).unwrap();
        let inner = outer.items[0].0.as_ref().unwrap();
        assert_eq!(inner.connect.value, "Bearer s3cret ${X} ");
        assert_eq!(sink.secrets.borrow().as_slice(), ["s3cret"]);
        assert_eq!(
            sink.errors.borrow()[0].message,
            "environment variable `MISSING` is not set"
        );
    }

    #[test]
    fn syntax_errors_are_located() {
        let err = parse("a: [1, 2\nb: c\n").unwrap_err();
        assert!(err.loc.line >= 1);
        assert!(err.message.starts_with("invalid YAML"), "{}", err.message);
    }

    #[test]
    fn numbers_out_of_range_are_explained_without_rust_type_names() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Count {
            #[allow(dead_code)]
            count: u64,
        }
        let first_error = |text: &str| {
            let env = |_: &str| None;
            let sink = Sink::new(&env);
            let count: Option<Count> = from_node(&parse(text).unwrap(), &sink);
            let errors = sink.errors.into_inner();
            assert_eq!(count.is_some(), errors.is_empty());
            errors.first().map(|e| e.message.clone())
        };
        assert_eq!(first_error("count: 18446744073709551615"), None);
        assert_eq!(
            first_error("count: -1").as_deref(),
            Some("invalid value: found integer `-1`, expected a whole number of 0 or more")
        );
        let too_large = first_error("count: 18446744073709551616").unwrap();
        assert!(
            too_large.ends_with("expected a whole number of 0 or more"),
            "{too_large}"
        );
    }
}
