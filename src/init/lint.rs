//! The migration lint (placeholder until the rules land).

use super::k8s::Manifests;

/// One lint finding.
#[derive(Clone, Debug, PartialEq)]
pub struct Lint {
    pub rule: LintRule,
    pub level: LintLevel,
    pub source: String,
    pub object: String,
    pub message: String,
    pub hint: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LintRule {
    HostnameMismatch,
}

impl LintRule {
    pub fn as_str(self) -> &'static str {
        "hostname_mismatch"
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LintLevel {
    Fail,
    Warn,
}

pub fn lint(_m: &Manifests) -> Vec<Lint> {
    Vec::new()
}
