//! `summary.md`: for PR comments and `$GITHUB_STEP_SUMMARY`.
//!
//! The headline first (the same [`Headline`] the terminal and JUnit show),
//! then the check × target table, then the findings grouped by check and
//! target (a group of more than [`FOLD`] findings folds into `<details>`),
//! then load, timeline, DNS and targets. A section with nothing to show is
//! left out. Reads only the report model; every cell is escaped for Markdown.

use std::fmt::Write;

use super::model::{CheckKind, Details, Finding, Level, Report, RunStatus, TargetResult, Verdict};
use super::{groups, Headline};

/// Findings in a group beyond which the group is folded.
pub const FOLD: usize = 5;

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let verdict = match r.verdict {
        Verdict::Pass => "✅ PASS",
        _ => "❌ FAIL",
    };
    let _ = writeln!(
        out,
        "# cutover {}: {} — {verdict}\n",
        r.mode.as_str(),
        cell(&r.scenario.name)
    );
    let headline = Headline::of(r);
    let _ = writeln!(
        out,
        "**{verdict}**: {} · host `{}` · {} targets · started {} · {:.1} s\n",
        cell(&headline.counts()),
        cell(&r.scenario.host),
        r.targets.len(),
        r.started_at,
        r.duration_ms as f64 / 1000.0
    );
    match r.status {
        RunStatus::Interrupted => {
            out.push_str("> ⚠️ The run was **interrupted**: only what completed is reported.\n\n")
        }
        RunStatus::Aborted => out.push_str("> ⚠️ The run was **aborted** by the abort rule.\n\n"),
        RunStatus::Completed => {}
    }
    out.push_str("| check |");
    for t in &r.targets {
        let _ = write!(out, " {} ({}) |", cell(&t.name), t.role.as_str());
    }
    out.push_str("\n|---|");
    for _ in &r.targets {
        out.push_str("---|");
    }
    out.push('\n');
    for c in &r.checks {
        let _ = write!(out, "| {} `{}` |", cell(&c.name), cell(&c.request));
        if c.kind == CheckKind::Dns {
            // One result for the whole split, shown across the targets' columns.
            if let Some(res) = c.results.first() {
                let _ = write!(out, " {} |", dns_cell(res));
            }
            for _ in 1..r.targets.len() {
                out.push_str(" ″ |");
            }
            out.push('\n');
            continue;
        }
        for t in &r.targets {
            match c.results.iter().find(|x| x.target == t.name) {
                Some(res) => {
                    let _ = write!(out, " {} |", result_cell(res));
                }
                None => out.push_str(" — |"),
            }
        }
        out.push('\n');
    }
    findings(&mut out, r);
    if let Some(w) = &r.watch {
        watch_section(&mut out, w);
    }
    if let Some(load) = &r.load {
        let _ = writeln!(
            out,
            "\n## Load\n\n{:.1} s, {} connections over {}, max {} in flight per target. Latency from the intended start (coordinated-omission corrected).\n",
            load.duration_ms as f64 / 1000.0,
            load.connection,
            load.wire(),
            load.max_in_flight
        );
        if let Some(p) = load.provenance() {
            let _ = writeln!(out, "This load: {p}.\n");
        }
        out.push_str("| check | target | requests | rate/s | p50 | p90 | p99 | p99.9 | max | failed | dropped | statuses |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        let checks = load.check_names();
        for check in checks {
            for t in &load.targets {
                let Some(c) = t.checks.iter().find(|c| c.check == check) else {
                    continue;
                };
                let s = &c.totals;
                let failed = super::model::failed(s);
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {:.1} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {} | {} | {} |",
                    cell(check),
                    cell(&t.target),
                    s.requests,
                    c.achieved_rate,
                    s.latency.p50,
                    s.latency.p90,
                    s.latency.p99,
                    s.latency.p999,
                    s.latency.max,
                    failed,
                    s.dropped,
                    cell(&s.breakdown())
                );
            }
        }
    }
    if let Some(load) = &r.load {
        for t in &load.targets {
            for c in &t.checks {
                if let Some(m) = &c.totals.messages {
                    let _ = writeln!(
                        out,
                        "\n{} [{}]: {} WebSocket message replies, RTT p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} failed, {} dropped.",
                        cell(&c.check),
                        cell(&t.target),
                        m.replies,
                        m.rtt.p50,
                        m.rtt.p99,
                        m.rtt.max,
                        m.failures,
                        m.dropped
                    );
                }
            }
        }
    }
    if let Some(load) = r.load.as_ref().filter(|l| !l.events.is_empty()) {
        out.push_str("\n## Timeline\n\n| second | event | result |\n|---|---|---|\n");
        for e in &load.events {
            let result = match (&e.error, e.exit_code) {
                (Some(err), _) => format!("❌ {}", cell(err)),
                (None, Some(0)) => "✅ exit 0".to_owned(),
                (None, Some(c)) => format!("❌ exit {c}"),
                (None, None) => "mark".to_owned(),
            };
            let _ = writeln!(out, "| {:.1} | {} | {result} |", e.at_s, cell(&e.name));
        }
    }
    let dns: Vec<_> = r
        .checks
        .iter()
        .filter_map(
            |c| match c.results.first().and_then(|x| x.details.as_ref()) {
                Some(Details::Dns(d)) => Some((c, d)),
                _ => None,
            },
        )
        .collect();
    if !dns.is_empty() {
        out.push_str("\n## Weighted DNS\n\n");
        for (c, d) in dns {
            let _ = writeln!(
                out,
                "**{}** ({}): {} of {} queries answered, p = {}\n",
                cell(&c.name),
                cell(&c.request),
                d.answered,
                d.queries,
                d.p_value
                    .map(|p| format!("{p:.3}"))
                    .unwrap_or_else(|| "n/a".into())
            );
            out.push_str("| target | answers | observed | 95 % interval | expected |\n|---|---|---|---|---|\n");
            let pct = |v: f64| format!("{:.1} %", 100.0 * v);
            for s in &d.shares {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {}–{} | {} |",
                    cell(&s.target),
                    s.count,
                    pct(s.observed),
                    pct(s.low),
                    pct(s.high),
                    s.expected.map(pct).unwrap_or_else(|| "—".into())
                );
            }
            let series = r
                .load
                .iter()
                .flat_map(|l| &l.dns)
                .filter(|s| s.check == c.name && !s.points.is_empty());
            for series in series {
                let _ = writeln!(out, "\nSplit over time:\n");
                for p in &series.points {
                    let shares: Vec<String> = p
                        .shares
                        .iter()
                        .map(|(t, v)| format!("{} {:.1} %", cell(t), 100.0 * v))
                        .collect();
                    let _ = writeln!(out, "- {:.0} s: {}", p.at_s, shares.join(", "));
                }
            }
        }
    }
    out.push_str(
        "\n## Targets\n\n| target | role | proxy | connect | host |\n|---|---|---|---|---|\n",
    );
    for t in &r.targets {
        let _ = writeln!(
            out,
            "| {} | {} | {} | `{}` | `{}` |",
            cell(&t.name),
            t.role.as_str(),
            t.proxy.as_str(),
            cell(&t.connect),
            cell(&t.host)
        );
    }
    out
}

fn dns_cell(res: &TargetResult) -> String {
    let mark = match res.verdict {
        Verdict::Pass => "✅",
        Verdict::Skipped => "⏭️",
        _ => "❌",
    };
    match &res.details {
        Some(Details::Dns(d)) => format!(
            "{mark} {} of {} answered · split p = {}",
            d.answered,
            d.queries,
            d.p_value
                .map(|p| format!("{p:.3}"))
                .unwrap_or_else(|| "n/a".into())
        ),
        _ => match &res.error {
            Some(e) => format!("{mark} {}", e.kind.as_str()),
            None => format!("{mark} not run"),
        },
    }
}

fn result_cell(res: &TargetResult) -> String {
    let mark = match res.verdict {
        Verdict::Pass => "✅",
        Verdict::Skipped => "⏭️",
        _ => "❌",
    };
    let what = match (res.status_text(), &res.error) {
        (Some(s), _) => {
            let origin = res
                .origin
                .map(|o| format!(" ({})", o.as_str()))
                .unwrap_or_default();
            format!("{s}{origin}")
        }
        (None, Some(e)) => e.kind.as_str().to_owned(),
        (None, None) => "not run".to_owned(),
    };
    format!("{mark} {what} · {:.1} ms", res.latency_ms)
}

/// Escapes text for a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The findings, grouped by check and target; nothing when there are none.
fn findings(out: &mut String, r: &Report) {
    let groups = groups(r);
    if groups.is_empty() {
        return;
    }
    out.push_str("\n## Findings\n");
    for g in groups {
        let _ = writeln!(out, "\n### {}\n", cell(&g.title()));
        let list = g.findings;
        let folded = list.len() > FOLD;
        for (i, f) in list.iter().enumerate() {
            if folded && i == FOLD - 1 {
                let _ = writeln!(
                    out,
                    "\n<details><summary>{} more</summary>\n",
                    list.len() - i
                );
            }
            out.push_str(&finding(f, i.checked_sub(1).map(|p| list[p])));
        }
        if folded {
            out.push_str("\n</details>\n");
        }
    }
}

fn finding(f: &Finding, previous: Option<&Finding>) -> String {
    let mark = match f.level {
        Level::Fail => "❌",
        Level::Warn => "⚠️",
        Level::Inconclusive => "❔",
        Level::Accepted => "☑️",
        Level::Info => "ℹ️",
    };
    let mut s = format!(
        "- {mark} **{}** `{}`: {}",
        f.level.as_str(),
        f.kind,
        cell(&f.message)
    );
    if let Some(reason) = &f.accepted {
        let _ = write!(s, " — accepted: {}", cell(reason));
    }
    if let Some(h) = &f.hint {
        let _ = write!(s, " — _hint: {}_", cell(h));
    }
    s.push('\n');
    for line in super::parity_lines(f, previous) {
        let _ = writeln!(s, "  - `` {line} ``");
    }
    s
}

/// Unix seconds as RFC 3339, UTC.
pub(super) fn unix_time(unix: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix))
        .to_string()
}

/// Rows of the traffic table shown at most (the newest; the report keeps all).
const WATCH_ROWS: usize = 60;

fn watch_section(out: &mut String, w: &crate::report::model::WatchReport) {
    let windows: Vec<String> = w.windows_s.iter().map(|s| format!("{s} s")).collect();
    let _ = writeln!(
        out,
        "\n## Watch\n\n{:.1} requests/s per target · checks every {} s ({} passes) · windows {}\n",
        w.rate,
        w.every_s,
        w.check_passes,
        windows.join(" and ")
    );
    if w.dropped > 0 {
        let _ = writeln!(
            out,
            "⚠️ {} watch requests were not sent: a target already had the most in flight (it stopped answering).\n",
            w.dropped
        );
    }
    if w.active.is_empty() {
        out.push_str("No alert is raised at the end.\n");
    } else {
        out.push_str("**Raised at the end:**\n\n| since | rule | target | check | why |\n|---|---|---|---|---|\n");
        for a in &w.active {
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {} | {} |",
                unix_time(a.since),
                a.rule.as_str(),
                cell(a.target.as_deref().unwrap_or("—")),
                cell(a.check.as_deref().unwrap_or("—")),
                cell(&a.message)
            );
        }
    }
    if !w.raised.is_empty() {
        let raised: Vec<String> = w
            .raised
            .iter()
            .map(|(r, n)| format!("`{r}` ×{n}"))
            .collect();
        let _ = writeln!(out, "\nRaised over the watch: {}.", raised.join(", "));
    }
    if !w.alerts.is_empty() {
        out.push_str("\n### Alert changes\n\n| time | change | rule | target | check | why |\n|---|---|---|---|---|---|\n");
        if w.alerts_dropped > 0 {
            let _ = writeln!(
                out,
                "| … | {} older changes not kept | | | | |",
                w.alerts_dropped
            );
        }
        for c in &w.alerts {
            let _ = writeln!(
                out,
                "| {} | {} | `{}` | {} | {} | {} |",
                unix_time(c.at),
                match c.state {
                    crate::analyze::alerts::State::Raised => "raised",
                    crate::analyze::alerts::State::Cleared => "cleared",
                },
                c.key.rule.as_str(),
                cell(c.key.target.as_deref().unwrap_or("—")),
                cell(c.key.check.as_deref().unwrap_or("—")),
                cell(&c.message)
            );
        }
    }
    if !w.events.is_empty() {
        out.push_str("\n### Events and marks\n\n");
        for e in &w.events {
            let weights = e
                .weights
                .as_ref()
                .map(|w| {
                    let parts: Vec<String> =
                        w.iter().map(|(t, v)| format!("{}={v}", cell(t))).collect();
                    format!(" (weights {})", parts.join(", "))
                })
                .unwrap_or_default();
            let _ = writeln!(out, "- {} {}{weights}", unix_time(e.at), cell(&e.name));
        }
    }
    if !w.timeline.is_empty() {
        out.push_str("\n### Traffic\n\n");
        if w.timeline.len() > WATCH_ROWS {
            let _ = writeln!(
                out,
                "The last {WATCH_ROWS} of {} rows; report.json has them all.\n",
                w.timeline.len()
            );
        }
        out.push_str("| from | length | target | requests | failed | 503 | p50 | p99 |\n|---|---|---|---|---|---|---|---|\n");
        for p in w
            .timeline
            .iter()
            .skip(w.timeline.len().saturating_sub(WATCH_ROWS))
        {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {:.1} ms | {:.1} ms |",
                unix_time(p.at),
                if p.seconds >= 3600 { "1 h" } else { "1 min" },
                cell(&p.target),
                p.requests,
                p.failed,
                p.s503,
                p.p50_ms,
                p.p99_ms
            );
        }
    }
}
