//! The two sides of a behaviour comparison: the check, the baseline target
//! and the compared one, and how one answer is said. Shared by every
//! behaviour analyzer ([`super::behaviour`] dispatches to them); a leaf, so
//! the analyzers and their dispatcher do not import each other.
//! Invariant: pure.

use super::finding::{Finding, FindingKind, Level};
use crate::probe::Sample;

/// The check and the two targets a comparison is about.
pub struct Sides<'a> {
    pub check: &'a str,
    pub baseline: &'a str,
    pub target: &'a str,
}

impl Sides<'_> {
    /// A finding about the compared target.
    pub fn finding(&self, kind: FindingKind, level: Level, message: String) -> Finding {
        Finding::new(kind, level, Some(self.check), Some(self.target), message)
    }
}

/// `503 from ingress`, `429 from gateway (local_rate_limited)`, `no answer`.
pub fn answer(s: &Sample) -> String {
    match &s.response {
        Some(r) => {
            let body = r.body.text();
            let body = body.trim();
            let text = if !body.is_empty() && body.len() <= 60 && !body.starts_with('<') {
                format!(" `{body}`")
            } else {
                String::new()
            };
            format!("{}{text} from {}", r.status, r.origin.as_str())
        }
        None => match &s.error {
            Some(e) => format!("no answer ({})", e.kind.as_str()),
            None => "no answer".to_owned(),
        },
    }
}
