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
            let (points, changes) = super::dns_changes::judge(
                plan,
                check,
                &spec.name,
                &series.points,
                &answers,
                &load.events,
            );
            findings.extend(changes);
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

#[cfg(test)]
mod tests {
    //! The verdict of a synthetic check pass: no sockets, no files, no clock.

    use super::*;
    use crate::probe::{Origin, ProbeResult, Response, Sample};
    use crate::run::{CheckPass, Mode};

    fn plan(extra: &str) -> Plan {
        let yaml = format!(
            r#"name: synthetic
host: shop.example.test
targets:
  ingress: {{ connect: "192.0.2.10:80" }}
  gateway: {{ connect: "192.0.2.20:80" }}
checks:
  - name: old links
    http: {{ path: /old }}
    expect: {{ status: 308 }}
    parity: [status]
{extra}"#
        );
        crate::scenario::load_str(&yaml, std::path::Path::new("s.yaml"), &|_| None)
            .unwrap_or_else(|e| panic!("valid scenario: {e}"))
    }

    fn answer(status: u16, origin: Origin) -> Option<ProbeResult> {
        Some(ProbeResult::Http(Sample {
            url: "http://shop.example.test/old".into(),
            response: Some(Response {
                status,
                origin,
                ..Default::default()
            }),
            error: None,
            latency: std::time::Duration::from_millis(1),
            ttfb: None,
        }))
    }

    fn recorded(samples: Vec<Option<ProbeResult>>) -> Recorded {
        Recorded {
            mode: Mode::Check,
            started: std::time::UNIX_EPOCH,
            ended: std::time::UNIX_EPOCH,
            pass: CheckPass {
                samples: vec![samples],
                noise: vec![Vec::new()],
                target_addrs: vec![Vec::new(), Vec::new()],
                interrupted: false,
            },
            load: None,
            interrupted: false,
        }
    }

    #[test]
    fn an_expectation_and_a_parity_failure_on_the_same_status_are_said_once() {
        let p = plan("");
        let r = recorded(vec![
            answer(308, Origin::Ingress),
            answer(301, Origin::Gateway),
        ]);
        let v = judge(&p, &r, None);
        assert!(!v.passed());
        assert_eq!(v.findings.len(), 1, "{:#?}", v.findings);
        assert_eq!(
            v.findings[0].message,
            "status 301 where 308 was expected; ingress answered 308"
        );
        assert_eq!(
            v.results[0],
            vec![(Some(0), CheckVerdict::Pass), (Some(1), CheckVerdict::Fail)]
        );
        assert_eq!(v.status, RunStatus::Completed);
    }

    #[test]
    fn an_accepted_difference_passes_the_check_and_keeps_the_reason() {
        let p = plan(
            "known_differences: [{ check: old links, target: gateway, reason: \"301 is fine\" }]",
        );
        let r = recorded(vec![
            answer(308, Origin::Ingress),
            answer(301, Origin::Gateway),
        ]);
        let v = judge(&p, &r, None);
        assert!(v.passed(), "{:#?}", v.findings);
        assert_eq!(v.findings[0].level, crate::analyze::Level::Accepted);
        assert_eq!(v.findings[0].accepted.as_deref(), Some("301 is fine"));
        assert_eq!(v.check(0), CheckVerdict::Pass);
    }

    #[test]
    fn a_check_not_run_is_skipped_and_an_interrupted_run_says_so() {
        let p = plan("");
        let mut r = recorded(vec![answer(308, Origin::Ingress), None]);
        r.interrupted = true;
        let v = judge(&p, &r, None);
        assert_eq!(v.results[0][1], (Some(1), CheckVerdict::Skipped));
        assert_eq!(v.status, RunStatus::Interrupted);
        assert!(v.passed());
    }
}
