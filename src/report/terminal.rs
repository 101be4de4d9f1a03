//! The terminal summary printed after `check` (and later `run`).
//!
//! A check × target table (status, origin, latency, verdict), then every
//! failure and finding, then the verdict line. Plain text: no colour codes, so
//! it reads the same in CI logs and with `NO_COLOR`.

use std::fmt::Write;

use super::model::{LoadReport, Report, RunStatus, Verdict};

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
    for c in r.checks.iter().filter(|c| c.kind == "dns") {
        if let Some(d) = c.results.first().and_then(|x| x.details.as_ref()) {
            let shares: Vec<String> = d["shares"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    format!(
                        "{} {:.1} %{}",
                        s["target"].as_str().unwrap_or(""),
                        100.0 * s["observed"].as_f64().unwrap_or(0.0),
                        s["expected"]
                            .as_f64()
                            .map(|e| format!(" (expected {:.1} %)", 100.0 * e))
                            .unwrap_or_default()
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "\nDNS {}: {} of {} answered: {}",
                c.name,
                d["answered"],
                d["queries"],
                shares.join(", ")
            );
        }
    }
    if let Some(load) = &r.load {
        out.push('\n');
        out.push_str(&load_table(load));
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

/// Per check, the loaded targets side by side (one row each).
pub fn load_table(load: &LoadReport) -> String {
    let mut rows: Vec<Vec<String>> = vec![[
        "LOAD", "TARGET", "REQUESTS", "RATE/S", "P50", "P90", "P99", "P99.9", "MAX", "ERRORS",
        "DROPPED",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()];
    let checks = load.check_names();
    let ms = |v: f64| {
        if v >= 100.0 {
            format!("{v:.0} ms")
        } else {
            format!("{v:.2} ms")
        }
    };
    for check in checks {
        for t in &load.targets {
            let Some(c) = t.checks.iter().find(|c| c.check == check) else {
                continue;
            };
            let s = &c.totals;
            let failed = super::model::failed(s);
            rows.push(vec![
                check.to_owned(),
                t.target.clone(),
                s.requests.to_string(),
                format!("{:.1}", c.achieved_rate),
                ms(s.latency.p50),
                ms(s.latency.p90),
                ms(s.latency.p99),
                ms(s.latency.p999),
                ms(s.latency.max),
                failed.to_string(),
                s.dropped.to_string(),
            ]);
        }
    }
    let cols = rows[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    for t in &load.targets {
        let _ = writeln!(
            out,
            "{}: {:.1} req/s achieved of {:.1} intended, {} dropped{}",
            t.target,
            t.achieved_rate,
            t.intended_rate,
            t.totals.dropped,
            if load.interrupted {
                " (interrupted)"
            } else {
                ""
            }
        );
    }
    out
}
