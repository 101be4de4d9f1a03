//! The terminal summary printed after `check` (and later `run`).
//!
//! A check × target table (status, origin, latency, verdict), then every
//! failure and finding, then the verdict line. Plain text: no colour codes, so
//! it reads the same in CI logs and with `NO_COLOR`.

use std::fmt::Write;

use super::model::{Report, RunStatus, Verdict};

pub fn render(r: &Report) -> String {
    let mut rows: Vec<[String; 6]> = vec![[
        "CHECK".into(),
        "TARGET".into(),
        "STATUS".into(),
        "ORIGIN".into(),
        "LATENCY".into(),
        "VERDICT".into(),
    ]];
    for c in &r.checks {
        for res in &c.results {
            rows.push([
                c.name.clone(),
                res.target.clone(),
                match (&res.status, &res.error) {
                    (Some(s), _) => s.to_string(),
                    (None, Some(e)) => e.kind.as_str().to_owned(),
                    _ => "-".into(),
                },
                res.origin
                    .map(|o| o.as_str().to_owned())
                    .unwrap_or_else(|| "-".into()),
                format!("{:.1} ms", res.latency_ms),
                res.verdict.as_str().to_uppercase(),
            ]);
        }
    }
    let mut widths = [0usize; 6];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(widths.iter())
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    let failures: Vec<_> = r
        .checks
        .iter()
        .flat_map(|c| c.results.iter().map(move |res| (c, res)))
        .filter(|(_, res)| !res.failures.is_empty())
        .collect();
    if !failures.is_empty() {
        out.push('\n');
        for (c, res) in failures {
            for f in &res.failures {
                let _ = writeln!(out, "✗ {} [{}]: {f}", c.name, res.target);
            }
        }
    }
    let hints: Vec<_> = r.findings.iter().filter(|f| f.hint.is_some()).collect();
    if !hints.is_empty() {
        out.push('\n');
        for f in hints {
            let target = f
                .target
                .as_deref()
                .map(|t| format!(" [{t}]"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "hint {}{}: {}",
                f.check,
                target,
                f.hint.as_deref().unwrap_or("")
            );
        }
    }
    let failed = r.checks.iter().filter(|c| c.verdict.is_failure()).count();
    let status = match r.status {
        RunStatus::Completed => "",
        RunStatus::Interrupted => " (interrupted)",
        RunStatus::Aborted => " (aborted)",
    };
    let _ = writeln!(
        out,
        "\n{}: {failed} of {} checks failed{status}",
        if r.verdict == Verdict::Pass {
            "PASS"
        } else {
            "FAIL"
        },
        r.checks.len()
    );
    out
}
