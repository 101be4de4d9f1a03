//! Analysis: pure functions from samples (and later recorded series) to verdicts
//! and [`Finding`]s. No I/O here: every analyzer can be tested on synthetic data.
//!
//! One file per analyzer: `expect.rs` (a sample against its check's
//! expectations), `parity.rs` (a target against the baseline target),
//! `hints.rs` (known migration pitfalls recognised from a sample's origin).
//! `stats.rs` holds the statistics they share (chi-square, Wilson interval,
//! Mann-Whitney U), tested against reference values from scipy.

pub mod cors;
pub mod dns;
pub mod expect;
pub mod hints;
pub mod latency;
pub mod parity;
pub mod spike;
pub mod stats;

use serde::{Deserialize, Serialize};

/// How much a finding matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Fails the run.
    Error,
    /// Worth a look; does not fail the run.
    Warning,
    Info,
}

/// Something a user must look at.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable identifier of the finding's kind: `expectation`, `parity`,
    /// `probe_error`, `hostname_mismatch`, `no_healthy_upstream`, …
    pub kind: String,
    pub severity: Severity,
    pub check: String,
    /// The target it concerns; `None` for findings about the whole check.
    pub target: Option<String>,
    /// A full sentence with the numbers or values involved.
    pub message: String,
    /// What to do about it, when we know.
    pub hint: Option<String>,
}
