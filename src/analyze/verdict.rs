//! The verdict: every finding of a run, and what they mean for each check
//! and for the exit code.
//!
//! [`judge`] is the one place a run is judged: the check pass
//! ([`super::checks`]), the load ([`super::load`]), then the scenario's
//! `known_differences` ([`super::known`]). Each check × target then gets its
//! [`CheckVerdict`] from the findings that concern it, and the run passes
//! exactly when no finding is at level `fail`. Every renderer shows this
//! verdict; none decides again.

use serde::{Deserialize, Serialize};

use super::dns::Split;
use super::finding::Finding;
use super::load::Baseline;
use crate::run::Recorded;
use crate::scenario::plan::{Plan, ProbeSpec};

/// One check against one target, as judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckVerdict {
    Pass,
    Fail,
    /// No response at all (transport error); counts as a failure.
    Error,
    /// Not run (interrupted before it started).
    Skipped,
}

impl CheckVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckVerdict::Pass => "pass",
            CheckVerdict::Fail => "fail",
            CheckVerdict::Error => "error",
            CheckVerdict::Skipped => "skipped",
        }
    }

    pub fn is_failure(self) -> bool {
        matches!(self, CheckVerdict::Fail | CheckVerdict::Error)
    }
}

/// How the run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Completed,
    /// Stopped by Ctrl-C or SIGTERM; what completed is reported.
    Interrupted,
    /// Stopped by the abort rail.
    Aborted,
}

/// Everything judged about a run.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub status: RunStatus,
    pub findings: Vec<Finding>,
    /// `results[check]`: `(target index, verdict)` per target the check ran
    /// against; a DNS check has one entry with target `None`.
    pub results: Vec<Vec<(Option<usize>, CheckVerdict)>>,
    /// Per check: the analysed split of a DNS check.
    pub splits: Vec<Option<Split>>,
    /// Per DNS check re-sampled during the load: `(check, [(second, split)])`.
    pub dns_over_time: Vec<(usize, Vec<(f64, Split)>)>,
}

impl Verdict {
    /// No finding at level `fail`.
    pub fn passed(&self) -> bool {
        !self.findings.iter().any(Finding::fails)
    }

    /// The overall verdict of a check across its targets.
    pub fn check(&self, ci: usize) -> CheckVerdict {
        let r = &self.results[ci];
        if let [(None, v)] = r.as_slice() {
            // A DNS check: its one result is the check's.
            return *v;
        }
        if r.iter().any(|(_, v)| v.is_failure()) {
            CheckVerdict::Fail
        } else if r.iter().all(|(_, v)| *v == CheckVerdict::Skipped) {
            CheckVerdict::Skipped
        } else {
            CheckVerdict::Pass
        }
    }

    /// Findings that concern one check × target (`None` target: the whole check).
    pub fn findings_of<'a>(
        &'a self,
        check: &'a str,
        target: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| {
            f.kind.is_check_pass()
                && f.check.as_deref() == Some(check)
                && f.target.as_deref() == target
        })
    }
}

/// Judges a recorded run.
pub fn judge(plan: &Plan, recorded: &Recorded, baseline: Option<&Baseline>) -> Verdict {
    let pass = super::checks::judge(plan, &recorded.pass);
    let mut findings = pass.findings;
    let mut dns_over_time = Vec::new();
    if let Some(load) = &recorded.load {
        findings.extend(super::load::judge(plan, load, baseline));
        let answers = super::checks::target_answers(plan, &recorded.pass.target_addrs);
        for series in &load.dns {
            let check = &plan.checks[series.check];
            let ProbeSpec::Dns(spec) = &check.probe else {
                continue;
            };
            let points = series
                .points
                .iter()
                .map(|(at, d)| {
                    let (split, _) =
                        super::dns::analyze(&spec.name, d, &answers, &check.dns_expect);
                    (*at, split)
                })
                .collect();
            dns_over_time.push((series.check, points));
        }
    }
    super::known::apply(&plan.known_differences, &mut findings);
    let status = if recorded.load.as_ref().is_some_and(|l| l.abort.is_some()) {
        RunStatus::Aborted
    } else if recorded.interrupted {
        RunStatus::Interrupted
    } else {
        RunStatus::Completed
    };
    let mut verdict = Verdict {
        status,
        findings,
        results: Vec::new(),
        splits: pass.splits,
        dns_over_time,
    };
    verdict.results = plan
        .checks
        .iter()
        .enumerate()
        .map(|(ci, check)| {
            if let ProbeSpec::Dns(_) = check.probe {
                let sampled = check
                    .targets
                    .first()
                    .and_then(|ti| recorded.pass.samples[ci][*ti].as_ref());
                let v = match (sampled, &verdict.splits[ci]) {
                    (None, _) => CheckVerdict::Skipped,
                    (Some(_), Some(s)) if s.answered == 0 => CheckVerdict::Error,
                    (Some(_), None) => CheckVerdict::Error,
                    _ if verdict.findings_of(&check.name, None).any(Finding::fails) => {
                        CheckVerdict::Fail
                    }
                    _ => CheckVerdict::Pass,
                };
                return vec![(None, v)];
            }
            check
                .targets
                .iter()
                .map(|&ti| {
                    let name = &plan.targets[ti].name;
                    let fails = verdict
                        .findings_of(&check.name, Some(name))
                        .any(Finding::fails);
                    let v = match &recorded.pass.samples[ci][ti] {
                        None => CheckVerdict::Skipped,
                        Some(r) if r.primary().response.is_none() && fails => CheckVerdict::Error,
                        Some(_) if fails => CheckVerdict::Fail,
                        Some(_) => CheckVerdict::Pass,
                    };
                    (Some(ti), v)
                })
                .collect()
        })
        .collect();
    verdict
}
