//! Sampled parity under load (`load.parity`): counts, not bodies.
//!
//! A [`Sampler`] (one per worker) picks a share of each check's requests to
//! a non-baseline target at random. A picked request is read with its body
//! kept (the rest of the load only counts bodies); once it is answered, the
//! same request is sent twice to the baseline target, and the three answers
//! are compared leaf by leaf by JSON pointer ([`crate::jsondiff`]): target
//! against the first baseline answer counts as **raw**, the two baseline
//! answers against each other as **noise** (Diffy's primary, secondary and
//! candidate). Only the counts are kept, in a [`ParityTally`] per target ×
//! check; the bodies are dropped as soon as they are compared. The baseline
//! requests are extra requests (not arrivals): they are not in the load's
//! statistics.
//!
//! Invariants: memory is bounded (at most [`MAX_POINTERS`] pointers per
//! tally, later ones counted in `untracked`); the check's ignore patterns
//! apply; a status difference counts under the pseudo-pointer `status`,
//! bodies that are not JSON under `(body)` by hash. Nothing here judges:
//! `analyze::load_parity` applies the thresholds.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::worker_plan::{CheckKind, WorkerPlan};
use crate::jsondiff;
use crate::probe::Sample;
use crate::scenario::plan::{LoadPlan, Parity, Plan, ProbeSpec};

/// Pointers one tally keeps counts for.
pub const MAX_POINTERS: usize = 256;

/// Raw and noise difference counts of one target × check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParityTally {
    /// Sampled requests whose three answers were compared.
    pub sampled: u64,
    /// Pointer → (raw, noise).
    pub pointers: BTreeMap<String, (u64, u64)>,
    /// Differences at pointers past [`MAX_POINTERS`].
    pub untracked: u64,
}

impl ParityTally {
    fn count(&mut self, pointer: &str, raw: bool) {
        self.count_n(pointer, u64::from(raw), u64::from(!raw));
    }

    fn count_n(&mut self, pointer: &str, raw: u64, noise: u64) {
        if !self.pointers.contains_key(pointer) && self.pointers.len() >= MAX_POINTERS {
            self.untracked += raw + noise;
            return;
        }
        let slot = self.pointers.entry(pointer.to_owned()).or_default();
        slot.0 += raw;
        slot.1 += noise;
    }

    /// Adds one sampled request: `target` against `base`, `base` against `again`.
    pub fn add(&mut self, rule: &Parity, target: &Sample, base: &Sample, again: &Sample) {
        let (Some(t), Some(b), Some(a)) = (&target.response, &base.response, &again.response)
        else {
            return;
        };
        self.sampled += 1;
        for (other, raw) in [(t, true), (a, false)] {
            if b.status != other.status {
                self.count("status", raw);
                continue;
            }
            let parse =
                |r: &crate::probe::Response| serde_json::from_slice::<Value>(&r.body.prefix).ok();
            match (parse(b), parse(other)) {
                (Some(x), Some(y)) => {
                    for leaf in jsondiff::diff(&x, &y) {
                        if !rule.ignores(&leaf.pointer) {
                            self.count(&leaf.pointer, raw);
                        }
                    }
                }
                _ if b.body.sha256 != other.body.sha256 => self.count("(body)", raw),
                _ => {}
            }
        }
    }

    pub fn merge(&mut self, other: &ParityTally) {
        self.sampled += other.sampled;
        self.untracked += other.untracked;
        for (p, &(raw, noise)) in &other.pointers {
            self.count_n(p, raw, noise);
        }
    }
}

/// Tallies of every worker, `key = target * checks + check` (plan indices).
pub type Tallies = Arc<Mutex<Vec<ParityTally>>>;

/// One worker's sampling decisions.
pub(super) struct Sampler {
    share: f64,
    /// The baseline's index among the worker plan's targets.
    baseline: usize,
    /// Per plan check: its parity rule, when its load answers are sampled.
    rules: Arc<Vec<Option<Parity>>>,
    checks: usize,
    rng: Cell<u64>,
    tallies: Tallies,
}

/// What a picked request needs for its comparison.
pub(super) struct Job {
    /// The baseline's index among the worker plan's targets, and the check's
    /// index among the baseline's checks.
    pub(super) baseline: usize,
    pub(super) baseline_check: usize,
    key: usize,
    rule: Parity,
    tallies: Tallies,
}

impl Sampler {
    /// The sampler of worker `worker`, when the load samples parity.
    pub(super) fn new(
        plan: &Plan,
        load: &LoadPlan,
        wp: &WorkerPlan,
        tallies: &Tallies,
        worker: usize,
    ) -> Option<Sampler> {
        let lp = load.parity?;
        let baseline = wp
            .targets
            .iter()
            .position(|t| t.key_base == plan.baseline * plan.checks.len())?;
        let rules = plan
            .checks
            .iter()
            .map(|c| {
                let http = matches!(c.probe, ProbeSpec::Http(_));
                (http && (c.parity.body.is_some() || c.parity.status)).then(|| c.parity.clone())
            })
            .collect();
        Some(Sampler {
            share: lp.sample,
            baseline,
            rules: Arc::new(rules),
            checks: plan.checks.len(),
            rng: Cell::new(0x2545_F491_4F6C_DD1D ^ ((worker as u64 + 1) << 17)),
            tallies: Arc::clone(tallies),
        })
    }

    /// Whether request `c` to target `t` (worker plan indices) is sampled.
    pub(super) fn pick(&self, wp: &WorkerPlan, t: usize, c: usize) -> Option<Job> {
        if t == self.baseline {
            return None;
        }
        let key = wp.targets[t].checks[c].key;
        let ci = key % self.checks.max(1);
        let rule = self.rules.get(ci)?.as_ref()?;
        if self.unit() >= self.share {
            return None;
        }
        let base = &wp.targets[self.baseline];
        let baseline_check = base
            .checks
            .iter()
            .position(|k| k.key == base.key_base + ci && matches!(k.kind, CheckKind::Http(_)))?;
        Some(Job {
            baseline: self.baseline,
            baseline_check,
            key,
            rule: rule.clone(),
            tallies: Arc::clone(&self.tallies),
        })
    }

    /// Uniform in `[0, 1)` (xorshift64).
    fn unit(&self) -> f64 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Job {
    /// Counts the three answers into the tally, and drops them.
    pub(super) fn record(self, target: &Sample, base: &Sample, again: &Sample) {
        let mut one = ParityTally::default();
        one.add(&self.rule, target, base, again);
        if let Ok(mut all) = self.tallies.lock() {
            if let Some(t) = all.get_mut(self.key) {
                t.merge(&one);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{Body, Response};

    fn answer(body: &str) -> Sample {
        Sample {
            url: "http://x/".into(),
            response: Some(Response {
                status: 200,
                body: Body {
                    size: body.len() as u64,
                    sha256: body.to_owned(),
                    prefix: bytes::Bytes::from(body.to_owned()),
                    truncated: false,
                },
                ..Default::default()
            }),
            error: None,
            latency: std::time::Duration::ZERO,
            ttfb: None,
        }
    }

    #[test]
    fn raw_and_noise_are_counted_per_pointer() {
        let rule = Parity::default();
        let mut t = ParityTally::default();
        t.add(
            &rule,
            &answer(r#"{"at":3,"p":2}"#),
            &answer(r#"{"at":1,"p":1}"#),
            &answer(r#"{"at":2,"p":1}"#),
        );
        t.add(
            &rule,
            &answer(r#"{"at":6,"p":1}"#),
            &answer(r#"{"at":4,"p":1}"#),
            &answer(r#"{"at":5,"p":1}"#),
        );
        assert_eq!(t.sampled, 2);
        assert_eq!(t.pointers["/at"], (2, 2));
        assert_eq!(t.pointers["/p"], (1, 0));
    }

    #[test]
    fn pointers_are_bounded() {
        let rule = Parity::default();
        let mut t = ParityTally::default();
        let wide = |v: u32| {
            let m: serde_json::Map<String, Value> = (0..MAX_POINTERS + 10)
                .map(|i| (format!("k{i}"), Value::from(v)))
                .collect();
            answer(&Value::Object(m).to_string())
        };
        t.add(&rule, &wide(1), &wide(2), &wide(2));
        assert_eq!(t.pointers.len(), MAX_POINTERS);
        assert_eq!(t.untracked, 10);
    }
}
