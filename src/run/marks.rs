//! Marks: events added from outside a running `run` with `cutover mark`.
//!
//! `cutover mark NAME` appends one JSON line (`name`, `at_unix_ms`) to the
//! marks file; a running `run` watches that file from its end at load start
//! (polled every 200 ms) and puts each new line on its timeline. Only whole
//! lines are read, so a line being written is picked up next time; a
//! truncated file is read again from its start.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::recorded::EventRecord;

/// Appends one mark to the marks file (one JSON object a line).
///
/// `weights` (target → weight) changes the DNS split the run expects from
/// this moment: a weight change made on purpose is then no surprise.
pub fn append(
    name: &str,
    weights: Option<&std::collections::BTreeMap<String, f64>>,
    path: &Path,
) -> std::io::Result<()> {
    use std::io::Write as _;
    let at = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut line = serde_json::json!({ "name": name, "at_unix_ms": at });
    if let Some(w) = weights {
        line["weights"] = serde_json::json!(w);
    }
    let line = line.to_string();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| writeln!(f, "{line}"))
}

/// Reads the marks appended to the marks file since the last read.
pub struct MarksTail {
    path: PathBuf,
    offset: u64,
    started_ms: f64,
}

impl MarksTail {
    /// Starts at the file's current end; marks are timed from `started`.
    pub fn new(path: PathBuf, started: SystemTime) -> MarksTail {
        let offset = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let started_ms = started
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as f64)
            .unwrap_or(0.0);
        MarksTail {
            path,
            offset,
            started_ms,
        }
    }

    /// The whole lines appended since the last call, as events.
    pub fn poll(&mut self) -> Vec<EventRecord> {
        let mut out = Vec::new();
        let Ok(bytes) = std::fs::read(&self.path) else {
            return out;
        };
        let len = bytes.len() as u64;
        if len < self.offset {
            self.offset = 0; // truncated: start over
        }
        let new = &bytes[self.offset as usize..];
        // Only whole lines; a line being written is read next time.
        if let Some(end) = new.iter().rposition(|b| *b == b'\n') {
            for line in String::from_utf8_lossy(&new[..end]).lines() {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                let (Some(name), Some(at)) = (v["name"].as_str(), v["at_unix_ms"].as_f64()) else {
                    continue;
                };
                out.push(EventRecord {
                    name: name.to_owned(),
                    at_s: (at - self.started_ms) / 1000.0,
                    end_s: None,
                    exit_code: None,
                    output: "marked with `cutover mark`".into(),
                    output_bytes: 0,
                    error: None,
                    weights: serde_json::from_value(v["weights"].clone()).ok(),
                });
            }
            self.offset += end as u64 + 1;
        }
        out
    }
}

/// Watches the marks file from its current end until `stop`; returns the marks
/// as events, timed from `started` (a wall-clock time, as marks carry).
pub async fn watch(
    path: PathBuf,
    started: SystemTime,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<EventRecord> {
    let mut tail = MarksTail::new(path, started);
    let mut out = Vec::new();
    loop {
        let done = tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_millis(200)) => false,
            _ = stop.changed() => true,
        };
        out.extend(tail.poll());
        if done {
            break;
        }
    }
    out
}
