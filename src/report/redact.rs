//! Redaction: no secret value of the scenario reaches a report, in any
//! encoding it may have taken on the way.
//!
//! A secret (a `${VAR}` from the environment, a credential header's value) is
//! replaced by `[redacted]` wherever it appears in a string of the report:
//!
//! - as is;
//! - percent-encoded, as a URL path or query carries it (RFC 3986 and the
//!   form encoding, where a space is `+`), with upper- or lower-case hex;
//! - base64-encoded (standard and URL-safe alphabets, with or without
//!   padding);
//! - inside an HTTP basic-auth credential (`Basic dXNlcjpzM2NyZXQ=`): the
//!   token is decoded, and replaced whole when it holds a secret;
//! - for a cookie header's value (`session=…; theme=dark`), each cookie's
//!   value of six characters or more on its own as well.
//!
//! Longer patterns are replaced first, so a secret inside a longer one goes
//! with it. The lossless histograms (`*_hist`, base64 of binary data) are
//! left alone: they hold no text, and a replacement would corrupt them.

use base64::Engine as _;

/// Every pattern to replace, longest first.
pub struct Redactor {
    patterns: Vec<String>,
    secrets: Vec<String>,
}

const REDACTED: &str = "[redacted]";

fn percent(s: &str, keep: impl Fn(u8) -> bool, space_plus: bool, lower: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if keep(b) {
            out.push(b as char);
        } else if space_plus && b == b' ' {
            out.push('+');
        } else if lower {
            out.push_str(&format!("%{b:02x}"));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn form_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_')
}

/// The encodings one secret may appear in.
fn variants(secret: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let mut v = vec![secret.to_owned()];
    for lower in [false, true] {
        v.push(percent(secret, unreserved, false, lower));
        v.push(percent(secret, form_safe, true, lower));
        // Path segments keep `/`; queries keep `/`, `?`, `:`, `@`.
        v.push(percent(
            secret,
            |b| unreserved(b) || b == b'/',
            false,
            lower,
        ));
        v.push(percent(
            secret,
            |b| unreserved(b) || matches!(b, b'/' | b'?' | b':' | b'@'),
            false,
            lower,
        ));
    }
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        v.push(engine.encode(secret));
    }
    v.sort();
    v.dedup();
    v
}

/// A cookie header's values, when `secret` looks like one.
fn cookie_values(secret: &str) -> Vec<String> {
    if !secret.contains('=') {
        return Vec::new();
    }
    secret
        .split(';')
        .filter_map(|pair| pair.split_once('=').map(|(_, v)| v.trim().to_owned()))
        .filter(|v| v.len() >= 6)
        .collect()
}

impl Redactor {
    pub fn new(secrets: &[String]) -> Redactor {
        let mut base: Vec<String> = Vec::new();
        for s in secrets.iter().filter(|s| !s.is_empty()) {
            base.push(s.clone());
            base.extend(cookie_values(s));
        }
        let mut patterns: Vec<String> = base.iter().flat_map(|s| variants(s)).collect();
        // Longest first, so a token inside a longer secret is replaced as part of it.
        patterns.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        patterns.dedup();
        Redactor {
            patterns,
            secrets: base,
        }
    }

    /// The string with every secret, in every encoding, replaced.
    pub fn scrub(&self, s: &str) -> String {
        let mut out = self.basic_auth(s);
        for p in &self.patterns {
            if out.contains(p.as_str()) {
                out = out.replace(p.as_str(), REDACTED);
            }
        }
        out
    }

    /// Replaces a `Basic <base64>` credential whose decoded text holds a secret.
    fn basic_auth(&self, s: &str) -> String {
        let lower = s.to_ascii_lowercase();
        if !lower.contains("basic ") || self.secrets.is_empty() {
            return s.to_owned();
        }
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.to_ascii_lowercase().find("basic ") {
            let start = i + "basic ".len();
            out.push_str(&rest[..start]);
            let token_len = rest[start..]
                .find(|c: char| {
                    !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_'))
                })
                .unwrap_or(rest.len() - start);
            let token = &rest[start..start + token_len];
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(token)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(token))
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            match decoded {
                Some(text) if self.secrets.iter().any(|sec| text.contains(sec.as_str())) => {
                    out.push_str(REDACTED)
                }
                _ => out.push_str(token),
            }
            rest = &rest[start + token_len..];
        }
        out.push_str(rest);
        out
    }

    /// Scrubs every string of a JSON value, but the lossless histograms.
    pub fn scrub_json(&self, v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) => {
                let clean = self.scrub(s);
                if clean != *s {
                    *s = clean;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|i| self.scrub_json(i)),
            serde_json::Value::Object(map) => {
                for (k, i) in map.iter_mut() {
                    if !k.ends_with("_hist") {
                        self.scrub_json(i);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(secrets: &[&str]) -> Redactor {
        Redactor::new(&secrets.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn a_secret_with_plus_slash_and_equals_is_redacted_in_every_encoding() {
        let red = r(&["ab+c/d=e f"]);
        for leaked in [
            "ab+c/d=e f",
            "ab%2Bc%2Fd%3De%20f",
            "ab%2bc%2fd%3de%20f",
            "ab%2Bc%2Fd%3De+f",
            "ab%2Bc/d%3De%20f",
            "YWIrYy9kPWUgZg==",
            "YWIrYy9kPWUgZg",
        ] {
            let s = format!("http://shop.example.test/api?token={leaked}&x=1");
            assert_eq!(
                red.scrub(&s),
                "http://shop.example.test/api?token=[redacted]&x=1",
                "{leaked}"
            );
        }
    }

    #[test]
    fn a_basic_auth_credential_holding_a_secret_is_redacted_whole() {
        let red = r(&["s3cret-pass"]);
        // base64("ops:s3cret-pass")
        let token = base64::engine::general_purpose::STANDARD.encode("ops:s3cret-pass");
        let s = format!("authorization: Basic {token}, then more");
        assert_eq!(red.scrub(&s), "authorization: Basic [redacted], then more");
        // Another credential stays.
        let other = base64::engine::general_purpose::STANDARD.encode("ops:public");
        let s = format!("Basic {other}");
        assert_eq!(red.scrub(&s), s);
    }

    #[test]
    fn each_cookie_value_is_a_secret_of_its_own() {
        let red = r(&["session=abcdef123456; theme=dark"]);
        assert_eq!(
            red.scrub("set-cookie: session=abcdef123456; Path=/"),
            "set-cookie: session=[redacted]; Path=/"
        );
        assert_eq!(
            red.scrub("theme=dark"),
            "theme=dark",
            "short values are not secrets"
        );
    }

    #[test]
    fn histograms_are_left_alone() {
        let red = r(&["HISTO"]);
        let mut v = serde_json::json!({ "latency_hist": "xxHISTOxx", "message": "HISTO" });
        red.scrub_json(&mut v);
        assert_eq!(v["latency_hist"], "xxHISTOxx");
        assert_eq!(v["message"], "[redacted]");
    }
}
