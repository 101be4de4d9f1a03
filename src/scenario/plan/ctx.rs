//! The validation context every stage of [`super::build`] shares.
//!
//! Invariants: every problem goes to the sink with the location of the value
//! at fault, and a stage that records one carries on, so the user sees every
//! error in one pass. Values parsed here (durations, sizes, rates, files,
//! headers) report their own errors, hard limits included (`limits.rs`:
//! durations of at most 7 days, rates of at least 1/h, regular files under a
//! size cap); callers only decide what `None` means.
//! Credential header values are collected as secrets on the way.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::limits::{MAX_DURATION, MAX_DURATION_TEXT, MIN_RATE};
use crate::load::plan::Rate;
use crate::scenario::units::format_size;
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

    /// A duration of at most [`MAX_DURATION`]: longer ones overflow the run's clock.
    pub(super) fn duration(&self, v: &At<String>) -> Option<Duration> {
        let d = parse_duration(v).map_err(|e| self.err(v.loc, e)).ok()?;
        if d > MAX_DURATION {
            self.err(
                v.loc,
                format!(
                    "duration `{}` is longer than {MAX_DURATION_TEXT}, the longest a scenario may give: shorten it",
                    v.value.trim()
                ),
            );
            return None;
        }
        Some(d)
    }

    /// A duration more than zero and at most [`MAX_DURATION`]; `what` names
    /// it in the error (`a timeout`, "`ping_interval`").
    pub(super) fn positive_duration(&self, v: &At<String>, what: &str) -> Option<Duration> {
        let d = self.duration(v)?;
        if d.is_zero() {
            self.err(
                v.loc,
                format!("{what} must be more than zero, like {}", example(what)),
            );
            return None;
        }
        Some(d)
    }

    pub(super) fn size(&self, v: &At<String>) -> Option<u64> {
        parse_size(v).map_err(|e| self.err(v.loc, e)).ok()
    }

    /// A rate of at least [`MIN_RATE`] (one an hour); the upper limits depend
    /// on what the rate paces, so callers check them.
    pub(super) fn rate(&self, v: &At<String>) -> Option<Rate> {
        let r = parse_rate(v).map_err(|e| self.err(v.loc, e)).ok()?;
        if r.0 < MIN_RATE {
            self.err(
                v.loc,
                format!(
                    "rate `{}` is less than one an hour (1/h), the lowest a scenario may give",
                    v.value.trim()
                ),
            );
            return None;
        }
        Some(r)
    }

    /// Reads the regular file `v` names (relative to the scenario) if it
    /// holds at most `cap` bytes. Never blocks: a FIFO, device or directory
    /// is an error before anything is read, and at most `cap + 1` bytes are.
    pub(super) fn file(&self, v: &At<String>, what: &str, cap: u64) -> Option<(PathBuf, Vec<u8>)> {
        let path = self.dir.join(&v.value);
        match read_regular(&path, cap) {
            Ok(bytes) => Some((path, bytes)),
            Err(why) => {
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

/// A valid value for the error of a zero duration.
fn example(what: &str) -> &'static str {
    if what.contains("timeout") {
        "10s"
    } else {
        "1s"
    }
}

/// The bytes of a regular file of at most `cap` bytes, or why not, as the
/// end of a sentence that starts with the file's name.
fn read_regular(path: &Path, cap: u64) -> Result<Vec<u8>, String> {
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => "does not exist".to_owned(),
        _ => format!("cannot be read: {e}"),
    };
    let too_large = || {
        format!(
            "is larger than {}, the most a scenario reads: use a smaller file",
            format_size(cap)
        )
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    not_regular(&meta)?;
    if meta.len() > cap {
        return Err(too_large());
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // Should the path turn into a FIFO after the check above, opening it
    // still returns at once; the check below then refuses it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    let file = options.open(path).map_err(io)?;
    not_regular(&file.metadata().map_err(io)?)?;
    let mut bytes = Vec::new();
    file.take(cap + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > cap {
        return Err(too_large());
    }
    Ok(bytes)
}

/// `Err` naming what the path is when it is not a regular file.
fn not_regular(meta: &std::fs::Metadata) -> Result<(), String> {
    let ft = meta.file_type();
    if ft.is_file() {
        return Ok(());
    }
    let kind = if ft.is_dir() {
        "a directory"
    } else {
        special_kind(&ft)
    };
    Err(format!(
        "is {kind}, not a regular file: give the path of a file"
    ))
}

#[cfg(unix)]
fn special_kind(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        "a named pipe (FIFO)"
    } else if ft.is_char_device() || ft.is_block_device() {
        "a device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &std::fs::FileType) -> &'static str {
    "a special file"
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

/// Builds path and query from a `path` and a `query` mapping.
pub(super) fn path_and_query(
    cx: &Ctx,
    path: Option<&At<String>>,
    query: Option<&Entries<At<String>>>,
) -> Option<String> {
    let mut out = path.map(|p| p.value.clone()).unwrap_or_else(|| "/".into());
    if let Some(p) = path {
        if !p.starts_with('/') {
            cx.err(p.loc, format!("path `{}` must start with `/`", p.value));
            return None;
        }
    }
    if let Some(q) = query {
        let mut ser = reqwest::Url::parse("http://x/").ok()?;
        {
            let mut pairs = ser.query_pairs_mut();
            for (k, v) in &q.0 {
                pairs.append_pair(&k.value, &v.value);
            }
        }
        let sep = if out.contains('?') { '&' } else { '?' };
        if let Some(qs) = ser.query() {
            out = format!("{out}{sep}{qs}");
        }
    }
    Some(out)
}

/// A duration more than zero (`what` names it in errors), else `default`.
pub(super) fn optional_duration(
    cx: &Ctx,
    v: Option<&At<String>>,
    what: &str,
    default: Duration,
    ok: &mut bool,
) -> Duration {
    match v {
        Some(t) => cx.positive_duration(t, what).unwrap_or_else(|| {
            *ok = false;
            default
        }),
        None => default,
    }
}
