//! Standard output that tolerates a closed pipe.
//!
//! `cutover check … | head -1` closes stdout after one line. Rust's
//! `println!` panics on the broken pipe (exit 101); [`say`] instead notes
//! that the reader is gone and prints nothing more, as ripgrep does, while
//! the run carries on: the report files are still written and the exit
//! code is still the verdict's. Any other write error is treated the same
//! way: the terminal is a view, the report files are the record.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);
static HUMAN_TO_STDERR: AtomicBool = AtomicBool::new(false);

/// With `--json`, stdout carries one JSON document: text for people
/// ([`say_raw`], `say!`) goes to stderr from then on.
pub fn human_to_stderr() {
    HUMAN_TO_STDERR.store(true, Ordering::Relaxed);
}

/// Writes text for people to stdout (stderr with `--json`) unless the
/// reader has gone away.
pub fn say_raw(text: &str) {
    if HUMAN_TO_STDERR.load(Ordering::Relaxed) {
        let _ = std::io::stderr().write_all(text.as_bytes());
        return;
    }
    data_raw(text);
}

/// Writes data (the `--json` document) to stdout unless the reader has
/// gone away.
pub fn data_raw(text: &str) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Whether stdout was found closed.
pub fn closed() -> bool {
    CLOSED.load(Ordering::Relaxed)
}

/// `println!` that stops quietly on a closed stdout.
macro_rules! say {
    () => {
        $crate::cli::output::say_raw("\n")
    };
    ($($arg:tt)*) => {
        $crate::cli::output::say_raw(&format!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use say;
