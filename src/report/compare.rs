//! `cutover compare A B`: two saved runs of the same scenario side by side.
//!
//! Per check × target: requests, latency quantiles and failed shares of both
//! runs with their deltas, and the regression judgement `--baseline` applies
//! (the same [`crate::analyze::load::regression_finding`] on the decoded HDR
//! histograms, B against A, with the default latency rules since a report
//! does not carry the scenario's); then the findings that appear in B and
//! those gone since A, keyed by kind, check, target and level.
//!
//! Invariants: reads only the two report models; judges nothing itself (the
//! latency analyzer does); two runs of different scenarios (name or content
//! hash) are refused, naming both. Rendered to the terminal, to Markdown and
//! to HTML (both runs' distributions in one plot per check × target).

use std::fmt::Write;

use serde::Serialize;

use super::html;
use super::model::{Finding, FindingKind, Level, Report, Stats};
use super::svg::esc;
use crate::analyze::latency::LatencyRules;

/// One run's numbers for one check × target.
#[derive(Clone, Debug, Serialize)]
pub struct Side {
    pub requests: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    /// Failed / (requests + cancelled).
    pub failed_share: f64,
    /// `200 ×11,491 · 503 ×509 gateway`.
    pub statuses: String,
    #[serde(skip)]
    hist: String,
}

impl Side {
    fn of(s: &Stats) -> Side {
        let n = s.requests + s.cancelled;
        Side {
            requests: s.requests,
            p50: s.latency.p50,
            p90: s.latency.p90,
            p99: s.latency.p99,
            p999: s.latency.p999,
            failed_share: if n == 0 {
                0.0
            } else {
                super::model::failed(s) as f64 / n as f64
            },
            statuses: s.breakdown(),
            hist: s.latency_hist.clone(),
        }
    }
}

/// One check × target in both runs.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub check: String,
    pub target: String,
    pub a: Option<Side>,
    pub b: Option<Side>,
    /// B against A: a `baseline_regression` finding (fail or inconclusive).
    pub regression: Option<Finding>,
}

/// A run as the comparison names it.
#[derive(Clone, Debug, Serialize)]
pub struct RunInfo {
    pub path: String,
    pub started_at: String,
    /// The run's own headline.
    pub headline: String,
}

/// Two runs side by side.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub scenario: String,
    pub a: RunInfo,
    pub b: RunInfo,
    pub rows: Vec<Row>,
    /// Findings of B that A did not have.
    pub new: Vec<Finding>,
    /// Findings of A that B no longer has.
    pub gone: Vec<Finding>,
}

impl Comparison {
    /// Whether B regressed against A (the exit code is 1 then).
    pub fn regressed(&self) -> bool {
        self.rows
            .iter()
            .filter_map(|r| r.regression.as_ref())
            .any(Finding::fails)
    }
}

/// Why two runs cannot be compared.
#[derive(Debug, thiserror::Error)]
#[error("the runs are of different scenarios: A is `{a_name}` (sha256 {a_hash}) and B is `{b_name}` (sha256 {b_hash}); compare two runs of the same scenario file")]
pub struct DifferentScenarios {
    pub a_name: String,
    pub a_hash: String,
    pub b_name: String,
    pub b_hash: String,
}

/// Compares run B with run A.
pub fn compare(
    a: &Report,
    a_path: &str,
    b: &Report,
    b_path: &str,
) -> Result<Comparison, DifferentScenarios> {
    if a.scenario.name != b.scenario.name || a.scenario.sha256 != b.scenario.sha256 {
        let short = |h: &str| h.get(..12).unwrap_or(h).to_owned();
        return Err(DifferentScenarios {
            a_name: a.scenario.name.clone(),
            a_hash: short(&a.scenario.sha256),
            b_name: b.scenario.name.clone(),
            b_hash: short(&b.scenario.sha256),
        });
    }
    let rules = LatencyRules::default();
    let mut rows: Vec<Row> = Vec::new();
    for (which, r) in [(0, a), (1, b)] {
        let Some(load) = &r.load else { continue };
        for check in load.check_names() {
            for t in &load.targets {
                let Some(c) = t.checks.iter().find(|c| c.check == check) else {
                    continue;
                };
                let side = Side::of(&c.totals);
                let row = match rows
                    .iter_mut()
                    .position(|x| x.check == check && x.target == t.target)
                {
                    Some(i) => &mut rows[i],
                    None => {
                        rows.push(Row {
                            check: check.to_owned(),
                            target: t.target.clone(),
                            a: None,
                            b: None,
                            regression: None,
                        });
                        let last = rows.len() - 1;
                        &mut rows[last]
                    }
                };
                if which == 0 {
                    row.a = Some(side);
                } else {
                    row.b = Some(side);
                }
            }
        }
    }
    for row in &mut rows {
        let (Some(sa), Some(sb)) = (&row.a, &row.b) else {
            continue;
        };
        let (Some(ha), Some(hb)) = (crate::hdr::decode(&sa.hist), crate::hdr::decode(&sb.hist))
        else {
            continue;
        };
        if ha.is_empty() || hb.is_empty() {
            continue;
        }
        let cmp = crate::analyze::latency::compare(&hb, &ha, &rules);
        let target = row.target.clone();
        row.regression = crate::analyze::load::regression_finding(
            &cmp,
            &rules,
            FindingKind::BaselineRegression,
            Level::Fail,
            &row.check,
            &row.target,
            |c| {
                format!(
                    "B is slower than A: {}",
                    c.describe(&format!("{target} B"), "A")
                )
            },
        );
    }
    let key = |f: &Finding| (f.kind, f.check.clone(), f.target.clone(), f.level);
    let shown = |f: &&Finding| f.level != Level::Info;
    let new = b
        .findings
        .iter()
        .filter(shown)
        .filter(|f| !a.findings.iter().any(|x| key(x) == key(f)))
        .cloned()
        .collect();
    let gone = a
        .findings
        .iter()
        .filter(shown)
        .filter(|f| !b.findings.iter().any(|x| key(x) == key(f)))
        .cloned()
        .collect();
    let info = |r: &Report, path: &str| RunInfo {
        path: path.to_owned(),
        started_at: r.started_at.clone(),
        headline: super::Headline::of(r).to_string(),
    };
    Ok(Comparison {
        scenario: a.scenario.name.clone(),
        a: info(a, a_path),
        b: info(b, b_path),
        rows,
        new,
        gone,
    })
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// `+12 %`, or `—` without both sides.
fn delta(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if a > 0.0 => format!("{:+.0} %", 100.0 * (b / a - 1.0)),
        (Some(a), Some(b)) => format!("{:+.2}", b - a),
        _ => "—".into(),
    }
}

/// `1.2 % → 3.4 % (+2.2 pt)`.
fn failed_cell(a: Option<&Side>, b: Option<&Side>) -> String {
    let p = |s: Option<&Side>| {
        s.map(|s| format!("{:.2} %", 100.0 * s.failed_share))
            .unwrap_or_else(|| "—".into())
    };
    let d = match (a, b) {
        (Some(a), Some(b)) => format!(" ({:+.2} pt)", 100.0 * (b.failed_share - a.failed_share)),
        _ => String::new(),
    };
    format!("{} → {}{d}", p(a), p(b))
}

fn statuses(s: Option<&Side>) -> String {
    s.map_or_else(|| "—".into(), |s| s.statuses.clone())
}

/// The table rows as text cells: check, target, then per quantile A → B (Δ).
fn cells(row: &Row) -> Vec<String> {
    let q = |f: fn(&Side) -> f64| {
        let (a, b) = (row.a.as_ref().map(f), row.b.as_ref().map(f));
        let show = |v: Option<f64>| v.map(ms).unwrap_or_else(|| "—".into());
        format!("{} → {} ({})", show(a), show(b), delta(a, b))
    };
    vec![
        row.check.clone(),
        row.target.clone(),
        format!(
            "{} → {}",
            row.a
                .as_ref()
                .map_or("—".into(), |s| s.requests.to_string()),
            row.b
                .as_ref()
                .map_or("—".into(), |s| s.requests.to_string())
        ),
        q(|s| s.p50),
        q(|s| s.p99),
        q(|s| s.p999),
        failed_cell(row.a.as_ref(), row.b.as_ref()),
        match &row.regression {
            Some(f) if f.fails() => "REGRESSION".into(),
            Some(_) => "inconclusive".into(),
            None => "ok".into(),
        },
    ]
}

const HEADER: [&str; 8] = [
    "CHECK", "TARGET", "REQUESTS", "P50 MS", "P99 MS", "P99.9 MS", "FAILED", "VERDICT",
];

/// The terminal table, regressions and findings new and gone.
pub fn terminal(c: &Comparison) -> String {
    let mut rows: Vec<Vec<String>> = vec![HEADER.iter().map(|s| s.to_string()).collect()];
    rows.extend(c.rows.iter().map(cells));
    let widths: Vec<usize> = (0..HEADER.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!(
        "compare `{}`: A {} ({}) → B {} ({})\n",
        c.scenario, c.a.path, c.a.started_at, c.b.path, c.b.started_at
    );
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(s, w)| format!("{s:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    for f in c.rows.iter().filter_map(|r| r.regression.as_ref()) {
        let _ = writeln!(
            out,
            "{} {} [{}]: {}",
            f.level.as_str().to_uppercase(),
            f.check.as_deref().unwrap_or("run"),
            f.target.as_deref().unwrap_or("-"),
            f.message
        );
    }
    for (title, list) in [("new in B", &c.new), ("gone since A", &c.gone)] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\nfindings {title}:");
        for f in list {
            let _ = writeln!(
                out,
                "  {} {} {}",
                f.level.as_str().to_uppercase(),
                f.kind,
                f.message
            );
        }
    }
    let _ = writeln!(
        out,
        "\n{}",
        if c.regressed() {
            "FAIL: B regressed against A"
        } else {
            "PASS: no regression of B against A"
        }
    );
    out
}

fn md(s: &str) -> String {
    s.replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `compare.md`.
pub fn markdown(c: &Comparison) -> String {
    let mut out = format!(
        "# cutover compare: {}\n\nA: `{}` ({}) — {}\n\nB: `{}` ({}) — {}\n\n**{}**\n\n",
        md(&c.scenario),
        md(&c.a.path),
        md(&c.a.started_at),
        md(&c.a.headline),
        md(&c.b.path),
        md(&c.b.started_at),
        md(&c.b.headline),
        if c.regressed() {
            "❌ B regressed against A"
        } else {
            "✅ no regression of B against A"
        }
    );
    out.push_str("| check | target | requests | p50 ms | p99 ms | p99.9 ms | failed | verdict |\n|---|---|---|---|---|---|---|---|\n");
    for row in &c.rows {
        let cells: Vec<String> = cells(row).iter().map(|s| md(s)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push_str("\n| check | target | statuses A | statuses B |\n|---|---|---|---|\n");
    for row in &c.rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            md(&row.check),
            md(&row.target),
            md(&statuses(row.a.as_ref())),
            md(&statuses(row.b.as_ref()))
        );
    }
    for f in c.rows.iter().filter_map(|r| r.regression.as_ref()) {
        let _ = writeln!(out, "\n- **{}**: {}", f.level.as_str(), md(&f.message));
    }
    for (title, list) in [("New in B", &c.new), ("Gone since A", &c.gone)] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n## Findings {}\n", title.to_lowercase());
        for f in list {
            let _ = writeln!(
                out,
                "- **{}** `{}`: {}",
                f.level.as_str(),
                f.kind,
                md(&f.message)
            );
        }
    }
    out
}

/// `compare.html`: the table, and per check × target both runs' distributions in one plot.
pub fn html(c: &Comparison) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>cutover compare: {}</title>\n<style>{}</style>\n</head>\n<body>\n<h1>cutover compare: {}</h1>\n<div class=\"banner {}\"><span class=\"word\">{}</span>{}</div>\n<p class=\"meta\">A: <code>{}</code> ({}) — {}<br>B: <code>{}</code> ({}) — {}</p>\n<table><tr>",
        esc(&c.scenario),
        html::STYLE,
        esc(&c.scenario),
        if c.regressed() { "fail" } else { "pass" },
        if c.regressed() { "FAIL" } else { "PASS" },
        if c.regressed() {
            "B regressed against A"
        } else {
            "no regression of B against A"
        },
        esc(&c.a.path),
        esc(&c.a.started_at),
        esc(&c.a.headline),
        esc(&c.b.path),
        esc(&c.b.started_at),
        esc(&c.b.headline)
    );
    for h in HEADER {
        let _ = write!(out, "<th>{}</th>", h.to_lowercase());
    }
    out.push_str("</tr>\n");
    for row in &c.rows {
        out.push_str("<tr>");
        for cell in cells(row) {
            let _ = write!(out, "<td>{}</td>", esc(&cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n<table><tr><th>check</th><th>target</th><th>statuses A</th><th>statuses B</th></tr>\n");
    for row in &c.rows {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&row.check),
            esc(&row.target),
            esc(&statuses(row.a.as_ref())),
            esc(&statuses(row.b.as_ref()))
        );
    }
    out.push_str("</table>\n");
    for f in c.rows.iter().filter_map(|r| r.regression.as_ref()) {
        let _ = writeln!(
            out,
            "<p class=\"{}\">{}: {}</p>",
            if f.fails() { "fail" } else { "meta" },
            f.level.as_str(),
            esc(&f.message)
        );
    }
    for row in &c.rows {
        let curves = vec![
            (
                "A".to_owned(),
                "#2b6cb0",
                row.a.as_ref().and_then(|s| crate::hdr::decode(&s.hist)),
            ),
            (
                "B".to_owned(),
                "#dd6b20",
                row.b.as_ref().and_then(|s| crate::hdr::decode(&s.hist)),
            ),
        ];
        let _ = writeln!(out, "<h3>{} [{}]</h3>", esc(&row.check), esc(&row.target));
        out.push_str(&html::distribution_plot(
            &format!(
                "latency distribution of {} [{}], A and B",
                row.check, row.target
            ),
            "latency (ms)",
            &curves,
        ));
    }
    for (title, list) in [("New in B", &c.new), ("Gone since A", &c.gone)] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "<h2>Findings {}</h2>\n<ul>", title.to_lowercase());
        for f in list {
            let _ = writeln!(
                out,
                "<li><b>{}</b> <code>{}</code> {}</li>",
                f.level.as_str(),
                f.kind,
                esc(&f.message)
            );
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}
