//! What a run hands on: the recorded samples and series, nothing judged.
//!
//! A [`Recorded`] is everything the I/O side of `check` and `run` observed:
//! the check pass's samples, the load engine's per-second buckets and totals,
//! the events and marks with their times, the DNS re-samples, and whether the
//! abort rail tripped. It is plain data: the analyzers judge it into a
//! verdict and the report builder lays it out; neither reaches back into the
//! run.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::load::engine::Outcome;
use crate::probe::dns::DnsResult;
use crate::probe::{ProbeResult, Sample};

/// Which command produced the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Check,
    Run,
    /// `cutover watch`: check passes again and again beside a steady rate.
    Watch,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Check => "check",
            Mode::Run => "run",
            Mode::Watch => "watch",
        }
    }
}

/// Everything one execution of a plan observed.
pub struct Recorded {
    pub mode: Mode,
    pub started: SystemTime,
    pub ended: SystemTime,
    pub pass: CheckPass,
    /// The load phase of `run` (absent for `check`, or when the check pass
    /// was interrupted).
    pub load: Option<LoadRecord>,
    /// Ctrl-C or SIGTERM stopped the run.
    pub interrupted: bool,
}

/// Samples of one check pass: `samples[check][target index in Plan::targets]`.
pub struct CheckPass {
    pub samples: Vec<Vec<Option<ProbeResult>>>,
    /// `noise[check]`: the baseline target's further answers to the same
    /// request (for parity noise); empty for checks not asked again.
    pub noise: Vec<Vec<Sample>>,
    /// Each target's resolved connect addresses (what DNS answers with for it
    /// when the scenario declares no `dns_answers`).
    pub target_addrs: Vec<Vec<IpAddr>>,
    pub interrupted: bool,
}

/// What the load phase recorded.
pub struct LoadRecord {
    pub outcome: Outcome,
    pub workers: usize,
    /// Scenario events and `cutover mark` marks, in time order.
    pub events: Vec<EventRecord>,
    /// DNS checks sampled again during the load.
    pub dns: Vec<DnsResamples>,
    /// The abort rail's decision, when it stopped the load.
    pub abort: Option<AbortTrip>,
    /// The machine's name (a sharded run's report says where each shard ran).
    pub host: String,
}

/// One DNS check's samples taken during the load.
pub struct DnsResamples {
    /// Index into `Plan::checks`.
    pub check: usize,
    /// `(seconds since the load started, what the sampling saw)`.
    pub points: Vec<(f64, DnsResult)>,
}

/// Why the abort rail stopped the load.
#[derive(Clone, Debug, PartialEq)]
pub struct AbortTrip {
    /// Index into `Plan::targets`.
    pub target: usize,
    /// The second (since the load started) that decided it.
    pub second: u64,
    /// Consecutive seconds above the ratio.
    pub seconds: u64,
    /// That second's failed and total requests.
    pub failed: u64,
    pub requests: u64,
    pub ratio: f64,
    pub hold: Duration,
}

/// What happened to one event (a scenario event or a mark).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub name: String,
    /// Seconds since the load started.
    pub at_s: f64,
    pub end_s: Option<f64>,
    pub exit_code: Option<i32>,
    /// Combined stdout and stderr: the first and last KiB, with the count of
    /// what was left out between them.
    pub output: String,
    /// Bytes of output the command wrote in all.
    #[serde(default)]
    pub output_bytes: u64,
    /// Why the command could not run or did not finish.
    pub error: Option<String>,
    /// The DNS weights expected from this moment (`cutover mark --weights`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<std::collections::BTreeMap<String, f64>>,
}

impl EventRecord {
    /// Why the event failed, if it did.
    pub fn failure(&self) -> Option<String> {
        self.error.clone().or_else(|| match self.exit_code {
            Some(0) | None => None,
            Some(c) => Some(format!("the command exited with status {c}")),
        })
    }
}
