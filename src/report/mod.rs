//! Reports: the model, its redaction, and the renderers that read it.
//!
//! `build.rs` lays a judged run out as the one serde model (`model.rs`);
//! `markdown.rs`, `junit.rs`, `html.rs` (with `svg.rs`) and `terminal.rs`
//! render it, all from the same [`Headline`] and the same grouping of
//! findings ([`groups`]), so every output shows the same verdict;
//! [`write_all`] writes `report.json`, `summary.md`, `junit.xml` and
//! `report.html` into a run's directory, [`render_all`] the last three from
//! a saved report (`cutover report`). Before anything is
//! written the model is passed through [`redact`], so no secret value of the
//! scenario can reach a file. Every report file is written through
//! [`atomic::write`]: a reader sees the old file or the new one, never part
//! of one.

pub mod atomic;
pub mod build;
pub mod compare;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod model;
pub mod outputs;
pub mod redact;
pub mod saved;
pub mod stats;
pub mod svg;
pub mod terminal;

use std::path::{Path, PathBuf};

pub use model::{Report, RunStatus, Verdict};

use model::{Finding, FindingKind, Level};

/// What the verdict line says: the counts behind pass or fail.
#[derive(Clone, Debug, PartialEq)]
pub struct Headline {
    pub passed: bool,
    pub status: RunStatus,
    /// Checks with at least one failed result.
    pub failed_checks: usize,
    pub checks: usize,
    /// Failing findings outside the check pass, by kind (thresholds, abort, …).
    pub other_fails: Vec<(FindingKind, usize)>,
    pub warnings: usize,
    pub inconclusive: usize,
    pub accepted: usize,
}

impl Headline {
    pub fn of(r: &Report) -> Headline {
        let count = |l: Level| r.findings.iter().filter(|f| f.level == l).count();
        let mut other_fails: Vec<(FindingKind, usize)> = Vec::new();
        for f in r
            .findings
            .iter()
            .filter(|f| f.fails() && !f.kind.is_check_pass())
        {
            match other_fails.iter_mut().find(|(k, _)| *k == f.kind) {
                Some((_, n)) => *n += 1,
                None => other_fails.push((f.kind, 1)),
            }
        }
        Headline {
            passed: r.verdict == Verdict::Pass,
            status: r.status,
            failed_checks: r.checks.iter().filter(|c| c.verdict.is_failure()).count(),
            checks: r.checks.len(),
            other_fails,
            warnings: count(Level::Warn),
            inconclusive: count(Level::Inconclusive),
            accepted: count(Level::Accepted),
        }
    }

    /// `PASS` or `FAIL`.
    pub fn word(&self) -> &'static str {
        if self.passed {
            "PASS"
        } else {
            "FAIL"
        }
    }

    /// What failed (or passed), without the word:
    /// `2 checks failed, 1 threshold breached · 3 warnings`.
    pub fn counts(&self) -> String {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut main: Vec<String> = Vec::new();
        if self.passed {
            main.push(plural(self.checks, "check passed", "checks passed"));
        } else {
            if self.failed_checks > 0 {
                main.push(plural(self.failed_checks, "check failed", "checks failed"));
            }
            for (k, n) in &self.other_fails {
                let (one, many) = k.noun();
                main.push(plural(*n, one, many));
            }
            if main.is_empty() {
                main.push("the verdict failed".into());
            }
        }
        let mut out = vec![main.join(", ")];
        if self.warnings > 0 {
            out.push(plural(self.warnings, "warning", "warnings"));
        }
        if self.inconclusive > 0 {
            out.push(format!("{} inconclusive", self.inconclusive));
        }
        if self.accepted > 0 {
            out.push(format!("{} accepted", self.accepted));
        }
        let mut line = out.join(" · ");
        match self.status {
            RunStatus::Completed => {}
            RunStatus::Interrupted => line.push_str(" (interrupted)"),
            RunStatus::Aborted => line.push_str(" (aborted)"),
        }
        line
    }
}

impl std::fmt::Display for Headline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.word(), self.counts())
    }
}

/// The findings of one check × target (or of the whole run) to show.
#[derive(Clone, Debug)]
pub struct Group<'a> {
    /// `None`: findings about the whole run.
    pub check: Option<&'a str>,
    pub target: Option<&'a str>,
    pub findings: Vec<&'a Finding>,
}

impl Group<'_> {
    /// `check `items` [gateway]`, `run [gateway]`.
    pub fn title(&self) -> String {
        group_title(self.check, self.target)
    }
}

/// Findings to show, grouped by check (in the scenario's order, then the
/// run-wide ones) and target, in the order they were found; `info`
/// findings are left out.
pub fn groups(r: &Report) -> Vec<Group<'_>> {
    let mut out: Vec<Group<'_>> = Vec::new();
    let mut order: Vec<Option<&str>> = r.checks.iter().map(|c| Some(c.name.as_str())).collect();
    order.push(None);
    for f in r.findings.iter().filter(|f| f.level != Level::Info) {
        let (check, target) = (f.check.as_deref(), f.target.as_deref());
        match out
            .iter_mut()
            .find(|g| g.check == check && g.target == target)
        {
            Some(g) => g.findings.push(f),
            None => out.push(Group {
                check,
                target,
                findings: vec![f],
            }),
        }
    }
    let rank = |c: Option<&str>| order.iter().position(|o| *o == c).unwrap_or(order.len());
    out.sort_by_key(|g| rank(g.check));
    out
}

/// The lines a renderer shows under a finding: the first differing leaves
/// (`/items/1/price_cents: 2599 → 2499`), and the command that reproduces
/// the request through each target, unless `previous` (the finding shown
/// just before it in its group) already showed the same commands: five
/// parity lines of one CORS preflight share one pair of commands.
pub fn parity_lines(f: &Finding, previous: Option<&Finding>) -> Vec<String> {
    /// Leaves shown; report.json lists more.
    const SHOWN: usize = 5;
    let mut out = Vec::new();
    if let Some(model::Evidence::Parity {
        differences,
        unlisted,
        ..
    }) = &f.evidence
    {
        for d in differences.iter().take(SHOWN) {
            let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "absent".into());
            out.push(format!(
                "{}: {} → {}",
                d.pointer,
                show(&d.baseline),
                show(&d.target)
            ));
        }
        let more = differences.len().saturating_sub(SHOWN) as u64 + unlisted;
        if more > 0 {
            out.push(format!("… and {more} more (listed in report.json)"));
        }
    }
    if previous.is_none_or(|p| p.reproduce != f.reproduce) {
        for r in &f.reproduce {
            out.push(format!("reproduce ({}): {}", r.target, r.command));
        }
    }
    out
}

/// The heading of a group: `check `items` [gateway]`, `run [gateway]`.
pub fn group_title(check: Option<&str>, target: Option<&str>) -> String {
    let what = match check {
        Some(c) => format!("check `{c}`"),
        None => "run".to_owned(),
    };
    match target {
        Some(t) => format!("{what} [{t}]"),
        None => what,
    }
}

/// Reads a saved report's latency histograms to compare a run with (a
/// version-1 report is converted, see [`saved`]).
pub fn read_baseline(path: &Path) -> Result<crate::analyze::load::Baseline, ReportError> {
    let old = saved::read(path)?;
    let Some(load) = old.load else {
        return Err(ReportError::NotAReport {
            path: path.to_path_buf(),
            why: "it has no load section (it was written by `check`, not `run`)".into(),
        });
    };
    let mut latency = Vec::new();
    for t in &load.targets {
        for c in &t.checks {
            if let Some(h) = crate::record::decode(&c.totals.latency_hist) {
                latency.push((t.target.clone(), c.check.clone(), h));
            }
        }
    }
    Ok(crate::analyze::load::Baseline {
        started_at: old.started_at,
        latency,
    })
}

/// Why a report could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{}` is not a cutover report: {why}", path.display())]
    NotAReport { path: PathBuf, why: String },
    #[error("`{}` was written with report schema version {found}, and this cutover reads versions {} and {}: use the cutover that wrote it, or run the scenario again", path.display(), saved::PREVIOUS_VERSION, model::SCHEMA_VERSION)]
    Unsupported { path: PathBuf, found: u64 },
    #[error("cannot write report file `{}`: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot serialize the report: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// Replaces every secret, in every encoding it may have taken, in every
/// string of the report (see [`redact::Redactor`]).
pub fn redact(report: &Report, secrets: &[String]) -> Result<Report, ReportError> {
    let mut value = serde_json::to_value(report)?;
    redact::Redactor::new(secrets).scrub_json(&mut value);
    Ok(serde_json::from_value(value)?)
}

/// The directory a run writes to: `<base>/<scenario-slug>-<UTC timestamp>`.
pub fn run_dir(base: &Path, scenario: &str, started: std::time::SystemTime) -> PathBuf {
    let slug: String = scenario
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let stamp = humantime::format_rfc3339_seconds(started)
        .to_string()
        .replace(['-', ':'], "");
    base.join(format!(
        "{}-{stamp}",
        if slug.is_empty() { "scenario" } else { &slug }
    ))
}

/// Writes report.json, summary.md, junit.xml and report.html (already
/// redacted) into `dir`.
pub fn write_all(report: &Report, dir: &Path) -> Result<(), ReportError> {
    create_dir(dir)?;
    let mut json = serde_json::to_vec_pretty(report)?;
    json.push(b'\n');
    write_file(&dir.join("report.json"), &json)?;
    render_all(report, dir)
}

/// Writes summary.md, junit.xml and report.html of a report into `dir`:
/// what `cutover report` re-renders from a saved run.
pub fn render_all(report: &Report, dir: &Path) -> Result<(), ReportError> {
    create_dir(dir)?;
    write_file(&dir.join("summary.md"), markdown::render(report).as_bytes())?;
    write_file(&dir.join("junit.xml"), junit::render(report).as_bytes())?;
    write_file(&dir.join("report.html"), html::render(report).as_bytes())
}

fn create_dir(dir: &Path) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Write {
        path: dir.to_path_buf(),
        source,
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    atomic::write(path, bytes).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes only the JUnit file to `path` (for `--junit`).
pub fn write_junit(report: &Report, path: &Path) -> Result<(), ReportError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| ReportError::Write {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    write_file(path, junit::render(report).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_dir_is_a_slug_and_a_compact_utc_stamp() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let d = run_dir(Path::new("reports"), "Shop cutover!", t);
        assert_eq!(d, Path::new("reports/shop-cutover-20231114T221320Z"));
    }
}
