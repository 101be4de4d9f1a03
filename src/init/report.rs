//! What `cutover init` says: the inputs read, the lint, the annotations no
//! check covers, in the terminal and in Markdown (`FILE.lint.md`).
//! Invariant: pure; both renderings list the same findings in the same order.

use std::fmt::Write as _;
use std::path::Path;

use super::generate::Generated;
use super::k8s::Manifests;
use super::lint::{Lint, LintLevel};
use super::read::Problem;

/// Everything one `init` produced.
pub struct Report<'a> {
    pub manifests: &'a Manifests,
    pub problems: &'a [Problem],
    pub lints: &'a [Lint],
    pub generated: &'a Generated,
    pub scenario: &'a Path,
}

fn level(l: LintLevel) -> &'static str {
    match l {
        LintLevel::Fail => "FAIL",
        LintLevel::Warn => "WARN",
    }
}

impl Report<'_> {
    /// A lint finding fails.
    pub fn fails(&self) -> bool {
        self.lints.iter().any(|l| l.level == LintLevel::Fail)
    }

    fn counts(&self) -> String {
        let fails = self
            .lints
            .iter()
            .filter(|l| l.level == LintLevel::Fail)
            .count();
        let warns = self.lints.len() - fails;
        let m = self.manifests;
        format!(
            "{} from {}, {}, {}; lint: {fails} failing, {}; {} unmapped; {}",
            count(self.generated.checks, "check", "checks"),
            count(m.ingresses.len(), "Ingress", "Ingresses"),
            count(m.routes.len(), "HTTPRoute", "HTTPRoutes"),
            count(m.gateways.len(), "Gateway", "Gateways"),
            count(warns, "warning", "warnings"),
            count(self.generated.unmapped.len(), "annotation", "annotations"),
            count(self.problems.len(), "input problem", "input problems")
        )
    }

    /// The terminal text.
    pub fn terminal(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "wrote {}: {}", self.scenario.display(), self.counts());
        for l in self.lints {
            let _ = writeln!(
                out,
                "\n{} {} {} ({})\n  {}\n  hint: {}",
                level(l.level),
                l.rule.as_str(),
                l.object,
                l.source,
                l.message,
                l.hint
            );
        }
        if !self.generated.unmapped.is_empty() {
            out.push_str("\nannotations no check covers:\n");
            for u in &self.generated.unmapped {
                let _ = writeln!(
                    out,
                    "  {} {}: {}\n    usually replaced by {}",
                    u.object, u.annotation, u.value, u.replacement
                );
            }
        }
        out
    }

    /// The Markdown report.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let verdict = if self.fails() { "❌ FAIL" } else { "✅ PASS" };
        let _ = writeln!(
            out,
            "# cutover init: migration lint — {verdict}\n\nScenario: `{}` · {}\n",
            self.scenario.display(),
            cell(&self.counts())
        );
        if !self.lints.is_empty() {
            out.push_str("## Lint\n\n| level | rule | object | finding | what to do |\n|---|---|---|---|---|\n");
            for l in self.lints {
                let _ = writeln!(
                    out,
                    "| {} | `{}` | {} ({}) | {} | {} |",
                    level(l.level),
                    l.rule.as_str(),
                    cell(&l.object),
                    cell(&l.source),
                    cell(&l.message),
                    cell(&l.hint)
                );
            }
        }
        if !self.generated.unmapped.is_empty() {
            out.push_str("\n## Annotations no check covers\n\n| object | annotation | value | usually replaced by |\n|---|---|---|---|\n");
            for u in &self.generated.unmapped {
                let _ = writeln!(
                    out,
                    "| {} | `{}` | `{}` | {} |",
                    cell(&u.object),
                    cell(&u.annotation),
                    cell(&u.value),
                    cell(u.replacement)
                );
            }
        }
        if !self.problems.is_empty() {
            out.push_str("\n## Inputs not read\n\n");
            for p in self.problems {
                let _ = writeln!(out, "- {}", cell(&p.to_string()));
            }
        }
        out
    }
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
