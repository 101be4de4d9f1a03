//! JSON diffs by pointer, pointer patterns, and header multimaps.
//!
//! [`diff`] walks two JSON values together and lists every differing leaf
//! by its RFC 6901 pointer (`/items/2/price_cents`): a key missing on one
//! side, a changed scalar, a changed type (reported at the pointer where the
//! types part, with the whole value on each side), arrays element by element
//! (an element past the shorter array is missing on the other side). Object
//! keys are visited in sorted order, so the list is deterministic.
//!
//! [`Pattern`] is an ignore rule over pointers: `*` matches one segment,
//! `**` any number of segments (none included). [`headers`] compares two
//! header lists as multimaps by name (the values of a repeated header
//! compared as a sorted list), producing the same [`Leaf`] shape with the
//! header's name as its pointer.
//!
//! Invariants: pure (no I/O); values are shown as compact JSON text, so
//! `"1"` and `1` read differently; a `None` side means "absent".

use std::collections::BTreeMap;

use serde_json::Value;

/// One differing leaf: where, and the value on each side (`None`: absent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leaf {
    pub pointer: String,
    pub baseline: Option<String>,
    pub target: Option<String>,
}

impl Leaf {
    /// `/served_at: "10:00" → "10:01"`, `absent` for a missing side.
    pub fn describe(&self) -> String {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "absent".to_owned());
        format!(
            "{}: {} → {}",
            self.pointer,
            show(&self.baseline),
            show(&self.target)
        )
    }
}

/// Every differing leaf between `base` and `other`, in pointer order.
pub fn diff(base: &Value, other: &Value) -> Vec<Leaf> {
    let mut out = Vec::new();
    walk(&mut String::new(), Some(base), Some(other), &mut out);
    out
}

fn walk(ptr: &mut String, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<Leaf>) {
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let len = ptr.len();
                ptr.push('/');
                ptr.push_str(&escape(k));
                walk(ptr, x.get(k), y.get(k), out);
                ptr.truncate(len);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            for i in 0..x.len().max(y.len()) {
                let len = ptr.len();
                ptr.push('/');
                ptr.push_str(&i.to_string());
                walk(ptr, x.get(i), y.get(i), out);
                ptr.truncate(len);
            }
        }
        (x, y) if x == y => {}
        (x, y) => out.push(Leaf {
            pointer: ptr.clone(),
            baseline: x.map(Value::to_string),
            target: y.map(Value::to_string),
        }),
    }
}

/// A key as one pointer segment (RFC 6901: `~` → `~0`, `/` → `~1`).
pub fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// An ignore rule over pointers: `/items/*/updated_at`, `/**/etag`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    segments: Vec<String>,
}

impl Pattern {
    /// Parses a pattern; the error says what to write instead.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        if !text.starts_with('/') {
            return Err(format!(
                "invalid JSON pointer pattern `{text}`: it starts with `/`, like /served_at or /items/*/updated_at"
            ));
        }
        let segments: Vec<String> = text[1..].split('/').map(str::to_owned).collect();
        if let Some(s) = segments
            .iter()
            .find(|s| s.contains('*') && *s != "*" && *s != "**")
        {
            return Err(format!(
                "invalid JSON pointer pattern `{text}`: `{s}` mixes `*` with text; `*` matches one whole segment and `**` any depth"
            ));
        }
        Ok(Pattern {
            text: text.to_owned(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `pointer` (or a value above it) is matched by this pattern.
    pub fn matches(&self, pointer: &str) -> bool {
        let parts: Vec<&str> = if pointer.is_empty() {
            Vec::new()
        } else {
            pointer[1..].split('/').collect()
        };
        // A pattern matching an ancestor covers everything below it.
        (0..=parts.len()).any(|n| glob(&self.segments, &parts[..n]))
    }
}

fn glob(pat: &[String], parts: &[&str]) -> bool {
    match pat.split_first() {
        None => parts.is_empty(),
        Some((p, rest)) if p == "**" => (0..=parts.len()).any(|i| glob(rest, &parts[i..])),
        Some((p, rest)) => match parts.split_first() {
            Some((first, tail)) => (p == "*" || p == first) && glob(rest, tail),
            None => false,
        },
    }
}

/// Whether `pointer` is `noise` itself or lies below it.
pub fn covered_by(pointer: &str, noise: &str) -> bool {
    pointer == noise
        || (pointer.starts_with(noise) && pointer.as_bytes().get(noise.len()) == Some(&b'/'))
}

/// Header lists compared as multimaps: for each name in `names` whose sorted
/// values differ, a [`Leaf`] with the name as pointer and the values as a
/// JSON string (one value) or array (repeated).
pub fn headers(
    base: &[(String, String)],
    other: &[(String, String)],
    names: &[String],
) -> Vec<Leaf> {
    let group = |hs: &[(String, String)]| {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (n, v) in hs {
            m.entry(n.to_ascii_lowercase()).or_default().push(v.clone());
        }
        for v in m.values_mut() {
            v.sort();
        }
        m
    };
    let (b, o) = (group(base), group(other));
    let show = |v: Option<&Vec<String>>| {
        v.map(|v| match v.as_slice() {
            [one] => Value::from(one.as_str()).to_string(),
            many => Value::from(many.to_vec()).to_string(),
        })
    };
    let mut names = names.to_vec();
    names.sort();
    names.dedup();
    names
        .iter()
        .filter(|n| b.get(*n) != o.get(*n))
        .map(|n| Leaf {
            pointer: n.clone(),
            baseline: show(b.get(n)),
            target: show(o.get(n)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pointers(a: Value, b: Value) -> Vec<String> {
        diff(&a, &b).into_iter().map(|l| l.describe()).collect()
    }

    #[test]
    fn equal_values_have_no_leaves() {
        let v = json!({"a": [1, {"b": null}], "c": "x"});
        assert!(diff(&v, &v.clone()).is_empty());
    }

    #[test]
    fn scalars_missing_keys_and_type_changes_by_pointer() {
        assert_eq!(
            pointers(
                json!({"a": 1, "b": "x", "c": {"d": true}, "gone": 1}),
                json!({"a": 2, "b": "x", "c": "flat", "new": [1]})
            ),
            [
                "/a: 1 → 2",
                r#"/c: {"d":true} → "flat""#,
                "/gone: 1 → absent",
                "/new: absent → [1]",
            ]
        );
    }

    #[test]
    fn arrays_element_by_element() {
        assert_eq!(
            pointers(
                json!({"items": [{"p": 1}, {"p": 2}, {"p": 3}]}),
                json!({"items": [{"p": 1}, {"p": 5}]})
            ),
            ["/items/1/p: 2 → 5", r#"/items/2: {"p":3} → absent"#]
        );
        assert_eq!(pointers(json!([1]), json!("1")), [r#": [1] → "1""#]);
    }

    #[test]
    fn keys_are_escaped() {
        assert_eq!(
            pointers(json!({"a/b~c": 1}), json!({})),
            ["/a~1b~0c: 1 → absent"]
        );
    }

    #[test]
    fn one_star_matches_one_segment_two_stars_any_depth() {
        let p = |s| Pattern::parse(s).expect("valid");
        assert!(p("/items/*/updated_at").matches("/items/3/updated_at"));
        assert!(!p("/items/*/updated_at").matches("/items/3/x/updated_at"));
        assert!(!p("/items/*/updated_at").matches("/items/3/price"));
        assert!(p("/**/etag").matches("/etag"));
        assert!(p("/**/etag").matches("/a/b/c/etag"));
        assert!(!p("/**/etag").matches("/a/etags"));
        assert!(p("/meta/**").matches("/meta/a/b"));
        // A pattern over an object covers its leaves.
        assert!(p("/meta").matches("/meta/cache/age"));
        assert!(!p("/meta").matches("/metadata"));
        assert!(Pattern::parse("served_at").is_err());
        assert!(Pattern::parse("/items/x*").is_err());
    }

    #[test]
    fn noise_covers_its_subtree_only() {
        assert!(covered_by("/a/b", "/a"));
        assert!(covered_by("/a", "/a"));
        assert!(!covered_by("/ab", "/a"));
    }

    #[test]
    fn headers_are_multimaps() {
        let h = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        let a = h(&[("set-cookie", "b=2"), ("set-cookie", "a=1"), ("x", "1")]);
        let b = h(&[("set-cookie", "a=1"), ("set-cookie", "b=2"), ("x", "1")]);
        let names = vec!["set-cookie".to_owned(), "x".to_owned()];
        assert!(headers(&a, &b, &names).is_empty());
        let c = h(&[("set-cookie", "a=1")]);
        let d: Vec<String> = headers(&a, &c, &names).iter().map(Leaf::describe).collect();
        assert_eq!(
            d,
            [r#"set-cookie: ["a=1","b=2"] → "a=1""#, r#"x: "1" → absent"#]
        );
    }
}
