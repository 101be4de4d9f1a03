//! The terminal summary printed after `check` and `run`.
//!
//! A check × target table (status, origin, latency, verdict), DNS splits and
//! the load table, then every `fail`, `warn`, `inconclusive` and `accepted`
//! finding grouped by check and target with its hint, then the headline
//! ([`Headline`]), the same one summary.md and JUnit show. Colours and ✓/✗
//! only with [`Style::color`] (a TTY without `NO_COLOR`); `--quiet` prints
//! the headline alone.

use std::fmt::Write;

use super::model::{Details, Finding, Level, LoadReport, Report};
use super::{groups, Headline};

/// How to print.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    /// ANSI colours and ✓/✗ marks.
    pub color: bool,
    /// The headline only.
    pub quiet: bool,
}

impl Style {
    /// Colours on a terminal, unless `NO_COLOR` is set (to anything non-empty).
    pub fn detect(quiet: bool) -> Style {
        use std::io::IsTerminal as _;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: std::io::stdout().is_terminal() && !no_color,
            quiet,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// The whole summary.
pub fn render(r: &Report, style: Style) -> String {
    let headline = Headline::of(r);
    let line = style.paint(
        if headline.passed { "1;32" } else { "1;31" },
        &headline.to_string(),
    );
    if style.quiet {
        return format!("{line}\n");
    }
    let mut out = table(r, style);
    for c in &r.checks {
        let Some(Details::Dns(d)) = c.results.first().and_then(|x| x.details.as_ref()) else {
            continue;
        };
        let shares: Vec<String> = d
            .shares
            .iter()
            .map(|s| {
                format!(
                    "{} {:.1} %{}",
                    s.target,
                    100.0 * s.observed,
                    s.expected
                        .map(|e| format!(" (expected {:.1} %)", 100.0 * e))
                        .unwrap_or_default()
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "\nDNS {}: {} of {} answered: {}",
            c.name,
            d.answered,
            d.queries,
            shares.join(", ")
        );
    }
    if let Some(load) = &r.load {
        out.push('\n');
        if let Some(p) = load.provenance() {
            let _ = writeln!(out, "Load: {p}.");
        }
        if load.http_version.is_some() {
            let _ = writeln!(out, "Load over {}.", load.wire());
        }
        out.push_str(&load_table(load));
    }
    if let Some(w) = &r.watch {
        out.push_str(&watch_summary(w));
    }
    for g in groups(r) {
        let _ = writeln!(out, "\n{}", g.title());
        let mut previous = None;
        for f in g.findings {
            out.push_str(&finding(f, previous, style));
            previous = Some(f);
        }
    }
    let _ = writeln!(out, "\n{line}");
    out
}

fn finding(f: &Finding, previous: Option<&Finding>, style: Style) -> String {
    let (mark, code) = match (f.level, style.color) {
        (Level::Fail, true) => ("✗", "31"),
        (Level::Fail, false) => ("FAIL", ""),
        (Level::Warn, true) => ("!", "33"),
        (Level::Warn, false) => ("WARN", ""),
        (Level::Inconclusive, true) => ("?", "36"),
        (Level::Inconclusive, false) => ("INCONCLUSIVE", ""),
        (Level::Accepted, true) => ("✓", "2"),
        (Level::Accepted, false) => ("ACCEPTED", ""),
        (Level::Info, _) => ("info", ""),
    };
    let mut out = format!("  {} {}\n", style.paint(code, mark), f.message);
    if let Some(reason) = &f.accepted {
        let _ = writeln!(out, "      accepted: {reason}");
    }
    if let Some(h) = &f.hint {
        let _ = writeln!(out, "      hint: {h}");
    }
    for line in super::parity_lines(f, previous) {
        let _ = writeln!(out, "      {line}");
    }
    out
}

/// The check × target table.
fn table(r: &Report, style: Style) -> String {
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
                match (res.status_text(), &res.error) {
                    (Some(s), _) => s,
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
        let mut line = line.join("  ").trim_end().to_owned();
        if style.color {
            let v = &row[5];
            let code = match v.as_str() {
                "PASS" => Some("32"),
                "FAIL" | "ERROR" => Some("31"),
                _ => None,
            };
            if let Some(code) = code {
                if let Some(stripped) = line.strip_suffix(v.as_str()) {
                    line = format!("{stripped}{}", style.paint(code, v));
                }
            }
        }
        let _ = writeln!(out, "{line}");
    }
    out
}

/// Per check, the loaded targets side by side (one row each).
pub fn load_table(load: &LoadReport) -> String {
    let mut rows: Vec<Vec<String>> = vec![[
        "LOAD", "TARGET", "REQUESTS", "RATE/S", "P50", "P90", "P99", "P99.9", "MAX", "FAILED",
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
    for check in load.check_names() {
        for t in &load.targets {
            if let Some(c) = t.checks.iter().find(|c| c.check == check) {
                let _ = writeln!(out, "{check} [{}]: {}", t.target, c.totals.breakdown());
            }
        }
    }
    for t in &load.targets {
        let _ = writeln!(
            out,
            "{}: {:.1} req/s achieved of {:.1} intended, {} dropped{}{}",
            t.target,
            t.achieved_rate,
            t.intended_rate,
            t.totals.dropped,
            if t.totals.cancelled > 0 {
                format!(", {} cancelled at the stop", t.totals.cancelled)
            } else {
                String::new()
            },
            if load.interrupted {
                " (interrupted)"
            } else {
                ""
            }
        );
    }
    out
}

/// The watch's end: what was raised over the shift and what still is.
fn watch_summary(w: &crate::report::model::WatchReport) -> String {
    let mut out = String::new();
    let raised: Vec<String> = w.raised.iter().map(|(r, n)| format!("{r} ×{n}")).collect();
    let _ = writeln!(
        out,
        "\nwatch: {} check passes; alerts raised over the watch: {}",
        w.check_passes,
        if raised.is_empty() {
            "none".to_owned()
        } else {
            raised.join(", ")
        }
    );
    for a in &w.active {
        let who = [a.target.as_deref(), a.check.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(
            out,
            "  still raised since {}: {} {who}: {}",
            super::markdown::unix_time(a.since),
            a.rule.as_str(),
            a.message
        );
    }
    out
}
