//! `cutover merge`: reads the shard reports and the scenario, merges, writes
//! and prints the merged report like a run's, and exits with its verdict.
//!
//! A report argument may be a `report.json` or the directory holding one
//! (`merge /reports/shard-*`). The scenario is the one the reports name
//! unless `--scenario` says where it is now (a merge Job mounts it
//! elsewhere); either way its content hash must be the shards'.

use std::path::{Path, PathBuf};

use super::deliver::{deliver, load, report_exit};
use super::{Exit, OutputArgs};
use crate::merge::{self, ShardReport};
use crate::report;

/// What `cutover merge` was given.
pub struct Args {
    pub reports: Vec<PathBuf>,
    pub scenario: Option<PathBuf>,
    pub baseline: Option<PathBuf>,
}

/// Merges, writes and prints; the exit code is the merged verdict's.
pub fn merge(args: &Args, output: &OutputArgs) -> Exit {
    if output.json {
        super::output::human_to_stderr();
    }
    let mut shards = Vec::new();
    for p in &args.reports {
        let path = report_path(p);
        match report::saved::read(&path) {
            Ok(report) => shards.push(ShardReport { path, report }),
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Usage;
            }
        }
    }
    let Some(first) = shards.first() else {
        eprintln!(
            "error: give the shard reports to merge (report.json files or their directories)"
        );
        return Exit::Usage;
    };
    let scenario = args
        .scenario
        .clone()
        .unwrap_or_else(|| PathBuf::from(&first.report.scenario.path));
    if !scenario.exists() {
        eprintln!(
            "error: the shards ran `{}`, which is not here: pass the scenario file with --scenario",
            scenario.display()
        );
        return Exit::Usage;
    }
    let plan = match load(&scenario) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let baseline = match &args.baseline {
        Some(p) => match report::read_baseline(p) {
            Ok(b) => Some(b),
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Usage;
            }
        },
        None => None,
    };
    let merged = match merge::merge(&plan, shards, baseline.as_ref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    let merged = match report::redact(&merged, &plan.secrets) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::ReportWrite;
        }
    };
    let outputs = match report::outputs::prepare(
        output.out.as_deref(),
        output.junit.as_deref(),
        &format!("{}-merged", plan.name),
        std::time::SystemTime::now(),
        output.force,
    ) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    match deliver(&merged, &outputs, output, false) {
        Ok(()) => report_exit(&merged),
        Err(code) => code,
    }
}

/// A report argument as the file it names: a directory's `report.json`.
fn report_path(p: &Path) -> PathBuf {
    if p.is_dir() {
        p.join("report.json")
    } else {
        p.to_path_buf()
    }
}
