//! `summary.md`: for PR comments and `$GITHUB_STEP_SUMMARY`.
//!
//! Verdict first, then a check × target table, then findings, then the targets.
//! Reads only the report model; every cell is escaped for Markdown tables.

use std::fmt::Write;

use super::model::{Report, RunStatus, TargetResult, Verdict};

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let verdict = match r.verdict {
        Verdict::Pass => "✅ PASS",
        _ => "❌ FAIL",
    };
    let _ = writeln!(
        out,
        "# cutover {}: {} — {verdict}\n",
        r.mode,
        cell(&r.scenario.name)
    );
    let failed = r.checks.iter().filter(|c| c.verdict.is_failure()).count();
    let _ = writeln!(
        out,
        "**{verdict}**: {failed} of {} checks failed · host `{}` · {} targets · started {} · {:.1} s\n",
        r.checks.len(),
        cell(&r.scenario.host),
        r.targets.len(),
        r.started_at,
        r.duration_ms as f64 / 1000.0
    );
    match r.status {
        RunStatus::Interrupted => {
            out.push_str("> ⚠️ The run was **interrupted**: only what completed is reported.\n\n")
        }
        RunStatus::Aborted => {
            out.push_str("> ⚠️ The run was **aborted** by an abort threshold.\n\n")
        }
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
    if let Some(load) = &r.load {
        let _ = writeln!(
            out,
            "\n## Load\n\n{:.1} s, {} connections, max {} in flight per target. Latency from the intended start (coordinated-omission corrected).\n",
            load.duration_ms as f64 / 1000.0,
            load.connection,
            load.max_in_flight
        );
        out.push_str("| check | target | requests | rate/s | p50 | p90 | p99 | p99.9 | max | errors | dropped |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
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
                    "| {} | {} | {} | {:.1} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {} | {} |",
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
                    s.dropped
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
        for f in r.findings.iter().filter(|f| f.kind == "spike_503") {
            let _ = writeln!(out, "\n- {}", cell(&f.message));
        }
    }
    let dns: Vec<_> = r.checks.iter().filter(|c| c.kind == "dns").collect();
    if !dns.is_empty() {
        out.push_str("\n## Weighted DNS\n\n");
        for c in dns {
            let Some(d) = c.results.first().and_then(|x| x.details.as_ref()) else {
                continue;
            };
            let _ = writeln!(
                out,
                "**{}** ({}): {} of {} queries answered, p = {}\n",
                cell(&c.name),
                cell(&c.request),
                d["answered"],
                d["queries"],
                d["p_value"]
                    .as_f64()
                    .map(|p| format!("{p:.3}"))
                    .unwrap_or_else(|| "n/a".into())
            );
            out.push_str("| target | answers | observed | 95 % interval | expected |\n|---|---|---|---|---|\n");
            for s in d["shares"].as_array().into_iter().flatten() {
                let pct = |v: &serde_json::Value| {
                    v.as_f64()
                        .map(|x| format!("{:.1} %", 100.0 * x))
                        .unwrap_or_else(|| "—".into())
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {}–{} | {} |",
                    cell(s["target"].as_str().unwrap_or("")),
                    s["count"],
                    pct(&s["observed"]),
                    pct(&s["low"]),
                    pct(&s["high"]),
                    pct(&s["expected"])
                );
            }
        }
        if let Some(load) = &r.load {
            for series in &load.dns {
                let _ = writeln!(out, "\nSplit over time ({}):\n", cell(&series.check));
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
    out.push_str("\n## Findings\n\n");
    if r.findings.is_empty() {
        out.push_str("None.\n");
    }
    for f in &r.findings {
        let target = f
            .target
            .as_deref()
            .map(|t| format!(" [{t}]"))
            .unwrap_or_default();
        let _ = write!(
            out,
            "- **{:?}** `{}` · {}{}: {}",
            f.severity,
            f.kind,
            cell(&f.check),
            cell(&target),
            cell(&f.message)
        );
        if let Some(h) = &f.hint {
            let _ = write!(out, " — _hint: {}_", cell(h));
        }
        out.push('\n');
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

fn result_cell(res: &TargetResult) -> String {
    let mark = match res.verdict {
        Verdict::Pass => "✅",
        Verdict::Skipped => "⏭️",
        _ => "❌",
    };
    let what = match (&res.status, &res.error) {
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
