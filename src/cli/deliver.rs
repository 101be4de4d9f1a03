//! The end every judged command shares: reading the scenario (every error
//! printed at its position), writing and printing a report, and the exit
//! code a saved report stands for. `check`, `run`, `dns` and `merge` end
//! here.

use std::path::Path;

use super::output::{say, say_raw};
use super::Exit;
use super::OutputArgs;
use crate::analyze::RunStatus;
use crate::report::{self, Report};
use crate::scenario::{self, Plan};

/// Reads and validates a scenario; its errors are printed, and exit 2.
pub(super) fn load(path: &Path) -> Result<Plan, Exit> {
    scenario::load(path).map_err(|e| {
        eprintln!("{e}");
        if e.count() > 1 {
            eprintln!("{} errors in {}", e.count(), path.display());
        }
        Exit::Usage
    })
}

/// Writes a judged report's files (and the JUnit file), then prints it: the
/// terminal rendering, or with `--json` the model on stdout. `blank` puts an
/// empty line first (after a load's progress).
pub(super) fn deliver(
    report: &Report,
    outputs: &report::outputs::Outputs,
    output: &OutputArgs,
    blank: bool,
) -> Result<(), Exit> {
    let dir = &outputs.dir;
    if let Err(e) = report::write_all(report, dir) {
        eprintln!(
            "error: {e}; the run's verdict was: {}",
            report::Headline::of(report)
        );
        return Err(Exit::ReportWrite);
    }
    if let Some(junit) = &outputs.junit {
        if let Err(e) = report::write_junit(report, junit) {
            eprintln!("error: {e}");
            return Err(Exit::ReportWrite);
        }
    }
    if output.json {
        // stdout is one JSON document; people read the headline on stderr.
        match serde_json::to_string_pretty(report) {
            Ok(text) => super::output::data_raw(&format!("{text}\n")),
            Err(e) => {
                eprintln!("error: cannot serialize the report: {e}");
                return Err(Exit::ReportWrite);
            }
        }
        eprintln!("{}", report::Headline::of(report));
        eprintln!("report: {}", dir.display());
        return Ok(());
    }
    let style = report::terminal::Style::detect(output.quiet);
    if blank && !output.quiet {
        say!();
    }
    say_raw(&report::terminal::render(report, style));
    if !output.quiet {
        say!("report: {}", dir.display());
    }
    Ok(())
}

/// The exit code a saved report's verdict stands for.
pub(super) fn report_exit(r: &Report) -> Exit {
    match (r.status, r.verdict) {
        (RunStatus::Interrupted, _) => Exit::Interrupted,
        (RunStatus::Aborted, _) => Exit::Aborted,
        (_, report::Verdict::Pass) => Exit::Pass,
        _ => Exit::Fail,
    }
}
