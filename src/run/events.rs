//! Scenario events: commands run at their offsets of the load (a deploy, a
//! weight change), recorded with start, end, exit status and output.
//!
//! Each command runs as `sh -c …` in a process group of its own, so that
//! everything it starts (the `sleep` under the shell, a `kubectl` under a
//! script) can be ended together. Invariants:
//!
//! - A command that outlives its `timeout` is ended: the whole group gets
//!   SIGTERM, then SIGKILL after [`KILL_GRACE`].
//! - A stop signal (Ctrl-C, SIGTERM, the abort rail) ends a running command
//!   the same way at once, so the run stops within about a second and writes
//!   its report; no event starts after it.
//! - At the natural end of the load no new event starts, and a running one
//!   is given its timeout to finish (it is part of the scenario).
//! - Output is never held whole: the first and last [`KEEP`] bytes of stdout
//!   and stderr together are kept, the rest only counted.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;

use super::recorded::EventRecord;
use crate::scenario::plan::Plan;

/// Bytes of output kept at the start and at the end.
pub const KEEP: usize = 1024;

/// How long a command's group has between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_millis(500);

/// The first and last [`KEEP`] bytes of a stream, and how many there were.
#[derive(Debug, Default)]
pub struct Capture {
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    total: u64,
}

impl Capture {
    pub fn push(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        if self.head.len() < KEEP {
            let take = (KEEP - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        if bytes.len() >= KEEP {
            self.tail.clear();
            self.tail.extend(&bytes[bytes.len() - KEEP..]);
        } else {
            let over = (self.tail.len() + bytes.len()).saturating_sub(KEEP);
            self.tail.drain(..over);
            self.tail.extend(bytes);
        }
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// The kept text, with the count of what was left out between head and tail.
    pub fn text(&self) -> String {
        let mut out = String::from_utf8_lossy(&self.head).into_owned();
        let kept = (self.head.len() + self.tail.len()) as u64;
        if self.total > kept {
            out.push_str(&format!("\n[… {} bytes left out …]\n", self.total - kept));
        }
        let tail: Vec<u8> = self.tail.iter().copied().collect();
        out.push_str(&String::from_utf8_lossy(&tail));
        out
    }
}

/// Reads a stream into a shared capture until it ends.
async fn drain(mut r: impl AsyncRead + Unpin, into: std::sync::Arc<std::sync::Mutex<Capture>>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Ok(mut c) = into.lock() {
                    c.push(&buf[..n]);
                }
            }
        }
    }
}

/// Sends `signal` to the process group `pgid`.
fn signal_group(pgid: u32, signal: rustix::process::Signal) {
    if let Some(pid) = i32::try_from(pgid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        // The group may be gone already; that is what we want.
        let _ = rustix::process::kill_process_group(pid, signal);
    }
}

/// How a command ended.
enum Ended {
    Exited(std::process::ExitStatus),
    TimedOut,
    Stopped,
    WaitFailed(std::io::Error),
}

/// Runs one command in its own process group; ends the group on timeout or stop.
async fn run_command(
    cmd: &str,
    timeout: Duration,
    stop: &mut watch::Receiver<bool>,
    record: &mut EventRecord,
) {
    let spawned = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(err) => {
            record.error = Some(format!("could not run the command: {err}"));
            return;
        }
    };
    let capture = std::sync::Arc::new(std::sync::Mutex::new(Capture::default()));
    let readers = [
        child
            .stdout
            .take()
            .map(|o| tokio::spawn(drain(o, std::sync::Arc::clone(&capture)))),
        child
            .stderr
            .take()
            .map(|e| tokio::spawn(drain(e, std::sync::Arc::clone(&capture)))),
    ];
    let pgid = child.id();
    let ended = tokio::select! {
        status = child.wait() => match status {
            Ok(s) => Ended::Exited(s),
            Err(e) => Ended::WaitFailed(e),
        },
        () = tokio::time::sleep(timeout) => Ended::TimedOut,
        _ = stop.wait_for(|s| *s) => Ended::Stopped,
    };
    if matches!(ended, Ended::TimedOut | Ended::Stopped) {
        if let Some(pgid) = pgid {
            signal_group(pgid, rustix::process::Signal::TERM);
            if tokio::time::timeout(KILL_GRACE, child.wait())
                .await
                .is_err()
            {
                signal_group(pgid, rustix::process::Signal::KILL);
            }
        }
        let _ = child.kill().await;
    }
    // The group is gone (or exited): its pipes close; a straggler that kept
    // them open is not waited for long.
    for r in readers.into_iter().flatten() {
        let _ = tokio::time::timeout(KILL_GRACE, r).await;
    }
    if let Ok(c) = capture.lock() {
        record.output = c.text();
        record.output_bytes = c.total();
    }
    match ended {
        Ended::Exited(s) => {
            record.exit_code = s.code();
            if s.code().is_none() {
                record.error = Some("the command was ended by a signal".into());
            }
        }
        Ended::WaitFailed(e) => record.error = Some(format!("could not wait for the command: {e}")),
        Ended::TimedOut => {
            record.error = Some(format!(
                "the command did not finish within {}; its process group was ended",
                humantime::format_duration(timeout)
            ))
        }
        Ended::Stopped => {
            record.error = Some(
                "the run was stopped while the command ran; its process group was ended".into(),
            )
        }
    }
}

/// Runs the plan's events at their offsets from `started`.
///
/// `stretch` scales the offsets like `--duration` scales the stages. `end`
/// flips at the natural end of the load (no new event starts); `stop` flips
/// on a signal or an abort (a running command is ended too).
pub async fn run_events(
    plan: &Plan,
    started: tokio::time::Instant,
    stretch: f64,
    mut end: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) -> Vec<EventRecord> {
    let mut out = Vec::new();
    for e in &plan.events {
        tokio::select! {
            () = tokio::time::sleep_until(started + e.at.mul_f64(stretch)) => {}
            _ = end.wait_for(|s| *s) => break,
            _ = stop.wait_for(|s| *s) => break,
        }
        let mut record = EventRecord {
            name: e.name.clone(),
            at_s: started.elapsed().as_secs_f64(),
            end_s: None,
            exit_code: None,
            output: String::new(),
            output_bytes: 0,
            error: None,
            weights: None,
        };
        if let Some(cmd) = &e.run {
            run_command(cmd, e.timeout, &mut stop, &mut record).await;
        }
        record.end_s = Some(started.elapsed().as_secs_f64());
        out.push(record);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_keeps_head_and_tail_and_counts_the_rest() {
        let mut c = Capture::default();
        let data: Vec<u8> = (0..10_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        for chunk in data.chunks(777) {
            c.push(chunk);
        }
        assert_eq!(c.total(), 10_000);
        let text = c.text();
        assert!(text.starts_with(std::str::from_utf8(&data[..KEEP]).expect("ascii")));
        assert!(text.ends_with(std::str::from_utf8(&data[10_000 - KEEP..]).expect("ascii")));
        assert!(text.contains(&format!("[… {} bytes left out …]", 10_000 - 2 * KEEP)));
    }

    #[test]
    fn capture_of_short_output_is_whole() {
        let mut c = Capture::default();
        c.push(b"hello ");
        c.push(b"world");
        assert_eq!(c.text(), "hello world");
        let mut c = Capture::default();
        let data = vec![b'x'; KEEP + 10];
        c.push(&data);
        assert_eq!(c.text().len(), KEEP + 10);
    }
}
