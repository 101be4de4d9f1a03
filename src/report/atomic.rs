//! Writing report files so that a reader never sees half of one.
//!
//! `cutover watch` rewrites its report files for hours while people (and
//! scripts) read them; a run can be killed at any moment. Every report file
//! is written through [`write`], and the event log grows through
//! [`append_line`]:
//!
//! - [`write`] writes the bytes to a temporary file beside the target
//!   (`.{name}.tmp-{pid}-{n}`, created exclusively, so two writers never
//!   share one), flushes and fsyncs it, then renames it over the target. A
//!   reader that opens the path gets the old file or the new one, whole;
//!   never an empty or a partial one. A kill leaves at most a stray temp
//!   file: the next write of the same name removes the strays of processes
//!   that no longer exist, and [`sweep`] does so for a whole directory at
//!   the end. A symlink at the path is replaced, not written through, and
//!   the new file has the default permissions, like a newly created one.
//! - [`append_line`] appends one JSON value as one line (`O_APPEND`, the
//!   line and its newline in one buffer handed to one write), so lines of
//!   concurrent writers never interleave, and a reader that takes only
//!   whole lines (up to the last newline) never sees part of one.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Numbers this process's temp files, so concurrent writes of one path
/// never share a temp file.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Replaces the file at `path` with `bytes` atomically (see the module
/// docs). The directory must exist.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let (dir, name) = split(path)?;
    let tmp = dir.join(format!(
        "{}{}-{}",
        temp_prefix(&name),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let written = write_temp(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    // The rename itself reaches the disk with the directory; best effort,
    // as some file systems cannot sync a directory.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    sweep_matching(&dir, Some(&name));
    Ok(())
}

/// Appends `value` as one line of NDJSON to `path` (created if missing).
pub fn append_line(path: &Path, value: &serde_json::Value) -> std::io::Result<()> {
    // Compact JSON escapes every newline inside strings: one value, one line.
    let mut line = serde_json::to_vec(value)?;
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // One buffer, one write(2) (a regular file takes it whole unless the
    // disk is full); O_APPEND puts it after every other writer's line.
    file.write_all(&line)?;
    file.sync_data()
}

/// Removes the stray temp files in `dir` left by processes that no longer
/// exist (a killed run): for the end of a watch. Errors are ignored: a
/// stray file that cannot be removed is harmless.
pub fn sweep(dir: &Path) {
    sweep_matching(dir, None);
}

/// The directory and file name of `path`.
fn split(path: &Path) -> std::io::Result<(PathBuf, String)> {
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("`{}` does not name a file", path.display()),
        )
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name.to_string_lossy().into_owned()))
}

/// `.{name}.tmp-`: what every temp file of `name` starts with.
fn temp_prefix(name: &str) -> String {
    format!(".{name}.tmp-")
}

fn write_temp(tmp: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)?;
    file.write_all(bytes)?;
    file.flush()?;
    file.sync_all()
}

/// Removes temp files (of `name`, or of any name) whose writing process is
/// gone. This process's own temp files may be in use by another thread and
/// are left alone.
fn sweep_matching(dir: &Path, name: Option<&str>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let me = std::process::id();
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = stray_pid(&file.to_string_lossy(), name) else {
            continue;
        };
        if pid != me && !alive(pid) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The writer's pid if `file` is a temp file of `name` (or of any name).
fn stray_pid(file: &str, name: Option<&str>) -> Option<u32> {
    let rest = match name {
        Some(n) => file.strip_prefix(&temp_prefix(n))?,
        None => {
            let (_, rest) = file.strip_prefix('.')?.rsplit_once(".tmp-")?;
            rest
        }
    };
    let (pid, n) = rest.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Whether a process with this pid exists (one we may not signal counts:
/// it exists).
fn alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    /// A JSON document of about `size` bytes.
    fn document(size: usize, n: usize) -> Vec<u8> {
        let body = serde_json::json!({ "n": n, "pad": "x".repeat(size) });
        serde_json::to_vec_pretty(&body).expect("serializes")
    }

    fn temp_files(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .expect("read dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect()
    }

    #[test]
    fn a_reader_polling_a_rewritten_report_always_reads_whole_json() {
        let t = tempfile::tempdir().expect("tempdir");
        let path = t.path().join("report.json");
        write(&path, &document(1024, 0)).expect("first write");
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (path, done) = (path.clone(), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while !done.load(Ordering::Relaxed) {
                    let bytes = std::fs::read(&path).expect("the report is always there");
                    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                        panic!("read {} bytes that are not whole JSON: {e}", bytes.len())
                    });
                    assert!(v["n"].is_u64(), "{v}");
                    reads += 1;
                }
                reads
            })
        };
        for n in 1..=40 {
            let size = if n % 2 == 0 { 1024 } else { 2 * 1024 * 1024 };
            write(&path, &document(size, n)).expect("rewrite");
        }
        done.store(true, Ordering::Relaxed);
        let reads = reader.join().expect("the reader saw only whole JSON");
        assert!(reads > 0);
        let last: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        assert_eq!(last["n"], 40);
        assert_eq!(temp_files(t.path()), Vec::<String>::new());
    }

    #[test]
    fn appended_lines_of_concurrent_writers_are_whole_json_lines() {
        let t = tempfile::tempdir().expect("tempdir");
        let path = t.path().join("events.ndjson");
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for i in 0..100 {
                        // Sizes up to 16 KiB, past a page and a pipe buffer,
                        // and a newline inside a string.
                        let value = serde_json::json!({
                            "writer": w, "i": i, "text": format!("a\nb{}", "y".repeat(i * 160)),
                        });
                        append_line(&path, &value).expect("append");
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().expect("writer");
        }
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.ends_with('\n'));
        let mut seen = std::collections::BTreeSet::new();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("a whole JSON line");
            assert!(seen.insert((v["writer"].as_u64(), v["i"].as_u64())));
        }
        assert_eq!(seen.len(), 400);
    }

    #[test]
    fn a_killed_writers_temp_file_is_removed_by_the_next_write() {
        let t = tempfile::tempdir().expect("tempdir");
        let path = t.path().join("report.json");
        // No process has this pid (it is above any pid_max).
        let dead = t.path().join(".report.json.tmp-2147483646-0");
        // A temp file of this process may be another thread's write.
        let ours = t
            .path()
            .join(format!(".report.json.tmp-{}-999999", std::process::id()));
        let other_name = t.path().join(".summary.md.tmp-2147483646-3");
        for p in [&dead, &ours, &other_name] {
            std::fs::write(p, "partial").expect("stray");
        }
        write(&path, b"{}").expect("write");
        assert!(!dead.exists(), "the dead writer's temp file is removed");
        assert!(ours.exists(), "this process's temp file is left alone");
        assert!(other_name.exists(), "a write sweeps only its own name");
        sweep(t.path());
        assert!(!other_name.exists(), "the end sweeps every name");
        assert!(ours.exists());
    }

    #[test]
    fn a_path_without_a_file_name_is_refused_with_a_sentence() {
        let err = write(Path::new("/"), b"x").expect_err("refused");
        assert_eq!(err.to_string(), "`/` does not name a file");
    }

    #[test]
    fn stray_names_parse_only_our_pattern() {
        assert_eq!(stray_pid(".a.json.tmp-12-3", Some("a.json")), Some(12));
        assert_eq!(stray_pid(".a.json.tmp-12-3", None), Some(12));
        assert_eq!(stray_pid(".a.json.tmp-12-3", Some("b.json")), None);
        assert_eq!(stray_pid("a.json.tmp-12-3", None), None);
        assert_eq!(stray_pid(".a.json.tmp-x-3", None), None);
        assert_eq!(stray_pid(".a.json.tmp-12", None), None);
    }
}
