//! The validation context every stage of [`super::build`] shares.
//!
//! Invariants: every problem goes to the sink with the location of the value
//! at fault, and a stage that records one carries on, so the user sees every
//! error in one pass. Values parsed here (durations, sizes, rates, files,
//! headers) report their own errors; callers only decide what `None` means.
//! Credential header values are collected as secrets on the way.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::load::plan::Rate;
use crate::scenario::units::{parse_duration, parse_rate, parse_size};
use crate::scenario::yaml::{At, Entries, Loc, Sink};

/// Headers whose values are credentials: they never reach a report.
pub const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "x-auth-token",
];

/// What every validation stage shares: where errors go, the scenario's
/// directory (relative file paths), and the credentials seen so far.
pub(super) struct Ctx<'a, 'e> {
    pub(super) sink: &'a Sink<'e>,
    dir: PathBuf,
    pub(super) secrets: Vec<String>,
}

impl<'a, 'e> Ctx<'a, 'e> {
    pub(super) fn new(sink: &'a Sink<'e>, scenario: &Path) -> Self {
        Ctx {
            sink,
            dir: scenario.parent().map(Path::to_path_buf).unwrap_or_default(),
            secrets: Vec::new(),
        }
    }

    pub(super) fn err(&self, loc: Loc, msg: impl Into<String>) {
        self.sink.error(loc, msg);
    }

    pub(super) fn duration(&self, v: &At<String>) -> Option<Duration> {
        parse_duration(v).map_err(|e| self.err(v.loc, e)).ok()
    }

    pub(super) fn size(&self, v: &At<String>) -> Option<u64> {
        parse_size(v).map_err(|e| self.err(v.loc, e)).ok()
    }

    pub(super) fn rate(&self, v: &At<String>) -> Option<Rate> {
        parse_rate(v).map_err(|e| self.err(v.loc, e)).ok()
    }

    pub(super) fn file(&self, v: &At<String>, what: &str) -> Option<(PathBuf, Vec<u8>)> {
        let path = self.dir.join(&v.value);
        match std::fs::read(&path) {
            Ok(bytes) => Some((path, bytes)),
            Err(e) => {
                let why = match e.kind() {
                    std::io::ErrorKind::NotFound => "does not exist".to_owned(),
                    _ => format!("cannot be read: {e}"),
                };
                self.err(v.loc, format!("{what} `{}` {why}", path.display()));
                None
            }
        }
    }

    pub(super) fn headers(
        &mut self,
        entries: Option<&Entries<At<String>>>,
    ) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, value) in entries.map(|e| e.0.as_slice()).unwrap_or_default() {
            let lname = name.value.to_ascii_lowercase();
            if reqwest::header::HeaderName::from_bytes(lname.as_bytes()).is_err() {
                self.err(name.loc, format!("invalid header name `{}`", name.value));
                continue;
            }
            if reqwest::header::HeaderValue::from_str(&value.value).is_err() {
                self.err(
                    value.loc,
                    format!("invalid value for header `{lname}` (control characters or non-ASCII)"),
                );
                continue;
            }
            if SENSITIVE_HEADERS.contains(&lname.as_str()) && !value.value.is_empty() {
                self.secrets.push(value.value.clone());
                // `Bearer xyz`: the token alone must not leak either.
                if let Some((_, token)) = value.value.split_once(' ') {
                    if token.len() >= 4 {
                        self.secrets.push(token.to_owned());
                    }
                }
            }
            out.push((lname, value.value.clone()));
        }
        out
    }
}

/// The last line of a regex error (the one that says what is wrong), for
/// messages like "invalid regex `(`: unclosed group".
pub(super) fn regex_reason(err: &regex::Error) -> String {
    err.to_string()
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .trim_start_matches("error: ")
        .to_owned()
}
