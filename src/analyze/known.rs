//! Known differences: findings the team has decided to live with.
//!
//! A scenario's `known_differences: [{check, target, kind, reason}]` names
//! findings by check, target and kind (each optional, but at least one is
//! given). A matching finding is kept, with level `accepted` and the reason
//! beside it: it no longer fails the run, and every report still says so.
//! An entry that matches no finding is itself a warning
//! (`unused_known_difference`): it is stale, or it is misspelt. Applying the
//! entries again to findings they already accepted changes nothing.

use super::finding::{Finding, FindingKind, Level};

/// One `known_differences` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct KnownDifference {
    pub check: Option<String>,
    pub target: Option<String>,
    pub kind: Option<FindingKind>,
    pub reason: String,
    /// Where the entry is written (`file:line:col`), for the unused warning.
    pub at: String,
}

impl KnownDifference {
    fn matches(&self, f: &Finding) -> bool {
        self.check
            .as_ref()
            .is_none_or(|c| f.check.as_ref() == Some(c))
            && self
                .target
                .as_ref()
                .is_none_or(|t| f.target.as_ref() == Some(t))
            && self.kind.is_none_or(|k| f.kind == k)
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = &self.check {
            parts.push(format!("check `{c}`"));
        }
        if let Some(t) = &self.target {
            parts.push(format!("target `{t}`"));
        }
        if let Some(k) = self.kind {
            parts.push(format!("kind `{k}`"));
        }
        parts.join(", ")
    }
}

/// Accepts the findings the entries match; warns about entries that matched none.
pub fn apply(known: &[KnownDifference], findings: &mut Vec<Finding>) {
    let mut unused = Vec::new();
    for k in known {
        let mut used = false;
        for f in findings.iter_mut() {
            // Only what would otherwise be shown as a problem can be accepted.
            if matches!(f.level, Level::Fail | Level::Warn) && k.matches(f) {
                f.level = Level::Accepted;
                f.accepted = Some(k.reason.clone());
                used = true;
            } else if f.level == Level::Accepted
                && f.accepted.as_deref() == Some(k.reason.as_str())
                && k.matches(f)
            {
                // Accepted by this entry before (a merge judges the shards'
                // check-pass findings again): still in use.
                used = true;
            }
        }
        if !used {
            unused.push(
                Finding::new(
                    FindingKind::UnusedKnownDifference,
                    Level::Warn,
                    k.check.as_deref(),
                    k.target.as_deref(),
                    format!(
                        "the known difference at {} ({}) matched no finding of this run",
                        k.at,
                        k.describe()
                    ),
                )
                .with_hint("remove the entry if the difference is gone, or correct its check, target or kind"),
            );
        }
    }
    findings.extend(unused);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(kind: FindingKind, check: &str, target: &str) -> Finding {
        Finding::new(kind, Level::Fail, Some(check), Some(target), "x")
    }

    #[test]
    fn a_matching_entry_accepts_the_finding_with_its_reason() {
        let mut fs = vec![
            finding(FindingKind::Parity, "login", "gateway"),
            finding(FindingKind::Parity, "items", "gateway"),
        ];
        let known = [KnownDifference {
            check: Some("login".into()),
            target: Some("gateway".into()),
            kind: Some(FindingKind::Parity),
            reason: "kgateway redirects with 301".into(),
            at: "s.yaml:3:5".into(),
        }];
        apply(&known, &mut fs);
        assert_eq!(fs[0].level, Level::Accepted);
        assert_eq!(
            fs[0].accepted.as_deref(),
            Some("kgateway redirects with 301")
        );
        assert_eq!(fs[1].level, Level::Fail);
        assert_eq!(fs.len(), 2);
    }

    #[test]
    fn applying_twice_is_applying_once() {
        let mut fs = vec![finding(FindingKind::Parity, "login", "gateway")];
        let known = [KnownDifference {
            check: Some("login".into()),
            target: None,
            kind: None,
            reason: "r".into(),
            at: "s.yaml:3:5".into(),
        }];
        apply(&known, &mut fs);
        let once = fs.clone();
        apply(&known, &mut fs);
        assert_eq!(fs, once, "no unused warning for an entry already applied");
    }

    #[test]
    fn an_entry_matching_nothing_is_a_warning() {
        let mut fs = vec![finding(FindingKind::Parity, "login", "gateway")];
        let known = [KnownDifference {
            check: Some("logout".into()),
            target: None,
            kind: None,
            reason: "r".into(),
            at: "s.yaml:9:5".into(),
        }];
        apply(&known, &mut fs);
        assert_eq!(fs[0].level, Level::Fail);
        let w = &fs[1];
        assert_eq!(
            (w.kind, w.level),
            (FindingKind::UnusedKnownDifference, Level::Warn)
        );
        assert!(w.message.contains("s.yaml:9:5"), "{}", w.message);
    }
}
