//! `report.html`: one self-contained page for people deciding a cutover.
//!
//! Sections, each left out when it has nothing to show: the verdict banner
//! (the same [`Headline`] every renderer prints), the check × target table,
//! the findings grouped by check and target ([`groups`]) with their evidence,
//! hints and accepted reasons, parity differences by pointer, then the load:
//! per check a latency-over-time plot (p50 and p99 of every target, the
//! failed share on a second axis, events as vertical markers) and an HDR
//! percentile-distribution plot (log scale on the percentile axis, every
//! target), the status breakdown per target, WebSocket messages and RTT
//! distributions, the CORS header comparison, the DNS split over time as
//! stacked bars with the expected weights, the timeline and the targets.
//!
//! Invariants: reads only the report model and never judges; every string
//! from the scenario or from responses is escaped ([`esc`]); no script, no
//! font, no stylesheet or image from anywhere: CSS and SVG are inline, so
//! the file opens offline and prints. The same report always renders to the
//! same bytes. Plots stay bounded: a series longer than
//! [`MAX_POINTS`] seconds is aggregated per minute (or per several minutes),
//! merging the per-second HDR histograms, so hours of data draw as a few
//! hundred points and one second still shows as a dot.

use std::collections::BTreeMap;
use std::fmt::Write;

use hdrhistogram::Histogram;

use super::model::{
    CheckKind, CheckLoad, CorsHeaders, Details, Evidence, Finding, LoadReport, Report, RunStatus,
    SecondStats, Stats, TargetResult, Verdict,
};
use super::svg::{self, esc, num, Axis, Chart, Line, Marker, Scale, Stroke};
use super::{groups, Headline};

/// Points a time plot draws at most per line; longer series are aggregated.
pub const MAX_POINTS: u64 = 900;

/// Points of a percentile-distribution curve.
const CURVE_POINTS: usize = 120;

/// Colours of the targets, in the report's order.
const PALETTE: &[&str] = &["#2b6cb0", "#dd6b20", "#2f855a", "#6b46c1", "#b83280"];

/// The page's inline stylesheet (also used by `compare.html`).
pub const STYLE: &str = r#"
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1100px; padding: 16px 24px; color: #1a202c; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; border-bottom: 1px solid #e2e8f0; padding-bottom: 4px; margin-top: 28px; } h3 { font-size: 15px; margin: 18px 0 6px; }
.banner { border-radius: 6px; padding: 12px 16px; margin: 8px 0 16px; border: 2px solid; }
.banner.pass { background: #f0fff4; border-color: #38a169; } .banner.fail { background: #fff5f5; border-color: #e53e3e; }
.banner .word { font-weight: 700; font-size: 20px; margin-right: 8px; }
.meta { color: #4a5568; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { border: 1px solid #e2e8f0; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f7fafc; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #276749; } .fail, .error { color: #c53030; } .skipped { color: #718096; }
.diff { background: #fffaf0; font-weight: 600; }
code, pre { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { background: #f7fafc; padding: 6px 8px; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
ul.findings { list-style: none; padding-left: 0; } ul.findings > li { border-left: 4px solid #cbd5e0; padding: 4px 10px; margin: 6px 0; }
li.level-fail { border-color: #e53e3e !important; } li.level-warn { border-color: #d69e2e !important; } li.level-inconclusive { border-color: #3182ce !important; } li.level-accepted { border-color: #a0aec0 !important; }
.tag { font-size: 11px; text-transform: uppercase; font-weight: 700; margin-right: 6px; } .kind { color: #4a5568; }
.hint, .accepted { color: #4a5568; margin-top: 2px; }
.bar { display: inline-block; height: 10px; background: #a0aec0; vertical-align: middle; margin-right: 4px; }
svg.plot { width: 100%; max-width: 760px; height: auto; display: block; margin: 4px 0 12px; }
svg .grid { stroke: #edf2f7; } svg .frame { fill: none; stroke: #a0aec0; }
svg .tick, svg .legend, svg .marker-label { font-size: 10px; fill: #4a5568; } svg .axis { font-size: 11px; fill: #2d3748; }
svg .line { fill: none; stroke-width: 1.6; } svg .dashed { stroke-dasharray: 6 3; } svg .dotted { stroke-dasharray: 2 2; stroke-width: 1.2; }
svg .marker { stroke: #805ad5; stroke-dasharray: 4 3; } svg .expected { stroke: #1a202c; stroke-dasharray: 5 3; fill: none; stroke-width: 1.4; }
@media print { body { max-width: none; padding: 0; } h2 { break-after: avoid; } svg.plot, table, li { break-inside: avoid; } .banner { -webkit-print-color-adjust: exact; print-color-adjust: exact; } }
"#;

/// The whole page.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let headline = Headline::of(r);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>cutover {}: {} — {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        r.mode.as_str(),
        esc(&r.scenario.name),
        headline.word()
    );
    banner(&mut out, r, &headline);
    check_table(&mut out, r);
    findings(&mut out, r);
    parity(&mut out, r);
    if let Some(load) = &r.load {
        load_section(&mut out, r, load);
    }
    websockets(&mut out, r);
    cors(&mut out, r);
    dns(&mut out, r);
    timeline(&mut out, r);
    targets(&mut out, r);
    let _ = writeln!(
        out,
        "<p class=\"meta\">Written by {} {} from report.json (schema version {}).</p>\n</body>\n</html>",
        esc(&r.tool.name),
        esc(&r.tool.version),
        r.schema_version
    );
    out
}

fn color(r: &Report, target: &str) -> &'static str {
    let i = r
        .targets
        .iter()
        .position(|t| t.name == target)
        .unwrap_or(r.targets.len());
    PALETTE[i % PALETTE.len()]
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Error => "error",
        Verdict::Skipped => "skipped",
    }
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.2} ms")
    }
}

fn pct(v: f64) -> String {
    format!("{:.1} %", 100.0 * v)
}

fn banner(out: &mut String, r: &Report, h: &Headline) {
    let _ = write!(
        out,
        "<h1>cutover {}: {}</h1>\n<div class=\"banner {}\"><span class=\"word\">{}</span>{}</div>\n<p class=\"meta\">host <code>{}</code> · {} targets · started {} · {:.1} s · scenario <code>{}</code> (sha256 <code>{}</code>)</p>\n",
        r.mode.as_str(),
        esc(&r.scenario.name),
        if h.passed { "pass" } else { "fail" },
        h.word(),
        esc(&h.counts()),
        esc(&r.scenario.host),
        r.targets.len(),
        esc(&r.started_at),
        r.duration_ms as f64 / 1000.0,
        esc(&r.scenario.path),
        esc(r.scenario.sha256.get(..12).unwrap_or(&r.scenario.sha256))
    );
    match r.status {
        RunStatus::Interrupted => out.push_str(
            "<p class=\"fail\">The run was <b>interrupted</b>: only what completed is reported.</p>\n",
        ),
        RunStatus::Aborted => {
            out.push_str("<p class=\"fail\">The run was <b>aborted</b> by the abort rule.</p>\n")
        }
        RunStatus::Completed => {}
    }
}

fn check_table(out: &mut String, r: &Report) {
    if r.checks.is_empty() {
        return;
    }
    out.push_str("<h2 id=\"checks\">Checks</h2>\n<table><tr><th>check</th>");
    for t in &r.targets {
        let _ = write!(out, "<th>{} ({})</th>", esc(&t.name), esc(t.role.as_str()));
    }
    out.push_str("</tr>\n");
    for c in &r.checks {
        let _ = write!(
            out,
            "<tr><td>{} <code>{}</code></td>",
            esc(&c.name),
            esc(&c.request)
        );
        if c.kind == CheckKind::Dns {
            let cell = c.results.first().map(dns_cell).unwrap_or_default();
            let _ = write!(
                out,
                "<td colspan=\"{}\">{cell}</td>",
                r.targets.len().max(1)
            );
        } else {
            for t in &r.targets {
                match c.results.iter().find(|x| x.target == t.name) {
                    Some(res) => {
                        let _ = write!(out, "<td>{}</td>", result_cell(res));
                    }
                    None => out.push_str("<td>—</td>"),
                }
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

fn result_cell(res: &TargetResult) -> String {
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
    let mut cell = format!(
        "<span class=\"{}\">{}</span> {} · {:.1} ms",
        verdict_class(res.verdict),
        res.verdict.as_str().to_uppercase(),
        esc(&what),
        res.latency_ms
    );
    for f in &res.failures {
        let _ = write!(cell, "<br><small>{}</small>", esc(f));
    }
    cell
}

fn dns_cell(res: &TargetResult) -> String {
    let what = match &res.details {
        Some(Details::Dns(d)) => format!(
            "{} of {} answered · split p = {}",
            d.answered,
            d.queries,
            d.p_value
                .map(|p| format!("{p:.3}"))
                .unwrap_or_else(|| "n/a".into())
        ),
        _ => match &res.error {
            Some(e) => e.kind.as_str().to_owned(),
            None => "not run".into(),
        },
    };
    format!(
        "<span class=\"{}\">{}</span> {}",
        verdict_class(res.verdict),
        res.verdict.as_str().to_uppercase(),
        esc(&what)
    )
}

fn findings(out: &mut String, r: &Report) {
    let groups = groups(r);
    if groups.is_empty() {
        return;
    }
    out.push_str("<h2 id=\"findings\">Findings</h2>\n");
    for g in groups {
        let _ = writeln!(out, "<h3>{}</h3>\n<ul class=\"findings\">", esc(&g.title()));
        for f in g.findings {
            finding(out, f);
        }
        out.push_str("</ul>\n");
    }
}

fn finding(out: &mut String, f: &Finding) {
    let level = f.level.as_str();
    let _ = write!(
        out,
        "<li class=\"level-{level}\"><span class=\"tag\">{level}</span><code class=\"kind\">{}</code> {}",
        esc(f.kind.as_str()),
        esc(&f.message)
    );
    if let Some(reason) = &f.accepted {
        let _ = write!(
            out,
            "<div class=\"accepted\">accepted: {}</div>",
            esc(reason)
        );
    }
    if let Some(h) = &f.hint {
        let _ = write!(out, "<div class=\"hint\">hint: {}</div>", esc(h));
    }
    if let Some(e) = &f.evidence {
        evidence(out, e);
    }
    for rep in &f.reproduce {
        let _ = write!(
            out,
            "<div>reproduce ({}):</div><pre>{}</pre>",
            esc(&rep.target),
            esc(&rep.command)
        );
    }
    out.push_str("</li>\n");
}

fn evidence(out: &mut String, e: &Evidence) {
    match e {
        Evidence::Compared {
            what,
            baseline_target,
            baseline,
            target,
        } => {
            let _ = write!(
                out,
                "<table><tr><th>{}</th><th>{} (baseline)</th><th>this target</th></tr><tr><td>{}</td><td>{}</td><td class=\"diff\">{}</td></tr></table>",
                esc(what),
                esc(baseline_target),
                esc(what),
                esc(baseline),
                esc(target)
            );
        }
        Evidence::Parity {
            what,
            baseline_target,
            differences,
            unlisted,
            noise,
        } => {
            let _ = write!(
                out,
                "<table><tr><th>{} pointer</th><th>{} (baseline)</th><th>this target</th></tr>",
                esc(what),
                esc(baseline_target)
            );
            for d in differences {
                let show =
                    |v: &Option<String>| v.as_deref().map(esc).unwrap_or("<i>absent</i>".into());
                let _ = write!(
                    out,
                    "<tr><td><code>{}</code></td><td><code>{}</code></td><td class=\"diff\"><code>{}</code></td></tr>",
                    esc(&d.pointer),
                    show(&d.baseline),
                    show(&d.target)
                );
            }
            out.push_str("</table>");
            if *unlisted > 0 {
                let _ = write!(out, "<div>… and {unlisted} more differing leaves.</div>");
            }
            if !noise.is_empty() {
                let list: Vec<String> = noise.iter().map(|n| esc(n)).collect();
                let _ = write!(
                    out,
                    "<div class=\"hint\">not compared (noise): {}</div>",
                    list.join("; ")
                );
            }
        }
        Evidence::ParityCounts {
            baseline_target,
            sampled,
            pointers,
            ..
        } => {
            let _ = write!(
                out,
                "<table><tr><th>pointer</th><th>differs from {}</th><th>{} differs from itself</th><th>of sampled</th></tr>",
                esc(baseline_target),
                esc(baseline_target)
            );
            for p in pointers {
                let _ = write!(
                    out,
                    "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{sampled}</td></tr>",
                    esc(&p.pointer),
                    p.raw,
                    p.noise
                );
            }
            out.push_str("</table>");
        }
        Evidence::Limit {
            metric,
            observed,
            limit,
            n,
        } => {
            let _ = write!(
                out,
                "<div><code>{}</code> {} against the limit {} over {n} requests</div>",
                esc(metric),
                num(*observed),
                num(*limit)
            );
        }
        Evidence::Latency {
            quantiles,
            p,
            superiority,
            n_target,
            n_baseline,
        } => {
            out.push_str(
                "<table><tr><th>quantile</th><th>target</th><th>baseline</th><th>ratio</th></tr>",
            );
            for q in quantiles {
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">×{:.2}</td></tr>",
                    esc(&q.quantile),
                    ms(q.target_ms),
                    ms(q.baseline_ms),
                    q.ratio
                );
            }
            let _ = write!(
                out,
                "</table><div>P(slower) = {superiority:.2}, p = {p:.2e}, n = {n_target} / {n_baseline}</div>"
            );
        }
        Evidence::Failures {
            failed,
            requests,
            causes,
            origins,
        } => {
            let _ = write!(
                out,
                "<div>{failed} of {requests} failed · causes: {} · origins: {}</div>",
                esc(&counts(causes)),
                esc(&counts(origins))
            );
        }
        Evidence::Spike {
            start_s,
            end_s,
            count,
            requests,
            peak_ratio,
            baseline_ratio,
            p,
            event,
            origins,
        } => {
            let _ = write!(
                out,
                "<div>seconds {start_s}–{end_s}: {count} 503s of {requests} requests, peak {} against {} before, p = {p:.2e}{} · origins: {}</div>",
                pct(*peak_ratio),
                pct(*baseline_ratio),
                event
                    .as_deref()
                    .map(|e| format!(", after `{}`", esc(e)))
                    .unwrap_or_default(),
                esc(&counts(origins))
            );
        }
    }
}

fn counts(m: &BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter()
        .map(|(k, n)| format!("{k} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every parity difference by pointer, across findings.
fn parity(out: &mut String, r: &Report) {
    let mut rows = String::new();
    for f in &r.findings {
        if let Some(Evidence::Parity {
            what,
            differences,
            baseline_target,
            ..
        }) = &f.evidence
        {
            for d in differences {
                let show =
                    |v: &Option<String>| v.as_deref().map(esc).unwrap_or("<i>absent</i>".into());
                let _ = writeln!(
                    rows,
                    "<tr><td>{}</td><td>{} → {}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td class=\"diff\"><code>{}</code></td></tr>",
                    esc(f.check.as_deref().unwrap_or("run")),
                    esc(baseline_target),
                    esc(f.target.as_deref().unwrap_or("—")),
                    esc(what),
                    esc(&d.pointer),
                    show(&d.baseline),
                    show(&d.target)
                );
            }
        }
    }
    if rows.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<h2 id=\"parity\">Parity differences by pointer</h2>\n<table><tr><th>check</th><th>targets</th><th>what</th><th>pointer</th><th>baseline</th><th>target</th></tr>\n{rows}</table>\n"
    );
}

fn load_section(out: &mut String, r: &Report, load: &LoadReport) {
    let _ = write!(
        out,
        "<h2 id=\"load\">Load</h2>\n<p>{:.1} s, {} connections over {}, max {} in flight per target. Latency from the intended start (coordinated-omission corrected).{}</p>\n<table><tr><th>check</th><th>target</th><th>requests</th><th>rate/s</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>failed</th><th>dropped</th></tr>\n",
        load.duration_ms as f64 / 1000.0,
        esc(&load.connection),
        esc(&load.wire()),
        load.max_in_flight,
        load.provenance()
            .map(|p| format!(" This load: {}.", esc(&p)))
            .unwrap_or_default()
    );
    for check in load.check_names() {
        for t in &load.targets {
            let Some(c) = t.checks.iter().find(|c| c.check == check) else {
                continue;
            };
            let s = &c.totals;
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(check),
                esc(&t.target),
                s.requests,
                c.achieved_rate,
                ms(s.latency.p50),
                ms(s.latency.p90),
                ms(s.latency.p99),
                ms(s.latency.p999),
                ms(s.latency.max),
                super::model::failed(s),
                s.dropped
            );
        }
    }
    out.push_str("</table>\n");
    for check in load.check_names() {
        let per_target: Vec<(&str, &CheckLoad)> = load
            .targets
            .iter()
            .filter_map(|t| {
                t.checks
                    .iter()
                    .find(|c| c.check == check)
                    .map(|c| (t.target.as_str(), c))
            })
            .collect();
        let _ = writeln!(out, "<h3>{}</h3>", esc(check));
        let markers: Vec<Marker> = load
            .events
            .iter()
            .map(|e| Marker {
                x: e.at_s,
                label: e.name.clone(),
            })
            .collect();
        out.push_str(&time_plot(r, check, &per_target, &markers));
        let curves: Vec<(String, &str, Option<Histogram<u64>>)> = per_target
            .iter()
            .map(|(t, c)| {
                (
                    (*t).to_owned(),
                    color(r, t),
                    crate::hdr::decode(&c.totals.latency_hist),
                )
            })
            .collect();
        out.push_str(&distribution_plot(
            &format!("latency distribution of {check}"),
            "latency (ms)",
            &curves,
        ));
    }
    statuses(out, load);
}

/// One point of a time plot: a second, or a minute (or several) merged.
#[derive(Clone, Debug, PartialEq)]
pub struct TimePoint {
    /// Start of the bucket, in seconds since the load started.
    pub start_s: u64,
    pub p50: f64,
    pub p99: f64,
    /// Failed requests / (requests + failed without answer), 0 when none.
    pub failed_share: f64,
}

/// The seconds a time plot's point covers for a series spanning `span_s`:
/// 1 up to [`MAX_POINTS`] seconds, then whole minutes.
pub fn bucket_seconds(span_s: u64) -> u64 {
    if span_s <= MAX_POINTS {
        1
    } else {
        60 * span_s.div_ceil(MAX_POINTS * 60)
    }
}

/// A series as plot points: per second, or merged per bucket when long.
pub fn time_points(series: &[SecondStats]) -> (Vec<TimePoint>, u64) {
    let span = series.last().map_or(0, |s| s.second + 1);
    let bucket = bucket_seconds(span);
    let mut out: Vec<TimePoint> = Vec::new();
    let mut i = 0;
    while i < series.len() {
        let start = series[i].second / bucket * bucket;
        let mut j = i;
        while j < series.len() && series[j].second / bucket * bucket == start {
            j += 1;
        }
        out.push(merge_point(start, &series[i..j], bucket == 1));
        i = j;
    }
    (out, bucket)
}

fn merge_point(start_s: u64, seconds: &[SecondStats], single: bool) -> TimePoint {
    let failed: u64 = seconds.iter().map(|s| super::model::failed(&s.stats)).sum();
    let requests: u64 = seconds
        .iter()
        .map(|s| s.stats.requests + s.stats.cancelled)
        .sum();
    let failed_share = if requests == 0 {
        0.0
    } else {
        (failed as f64 / requests as f64).min(1.0)
    };
    if single {
        if let [s] = seconds {
            return TimePoint {
                start_s,
                p50: s.stats.latency.p50,
                p99: s.stats.latency.p99,
                failed_share,
            };
        }
    }
    let mut merged: Option<Histogram<u64>> = None;
    for s in seconds {
        let Some(h) = crate::hdr::decode(&s.stats.latency_hist) else {
            continue;
        };
        match merged.as_mut() {
            Some(m) => {
                let _ = m.add(&h);
            }
            None => merged = Some(h),
        }
    }
    let (p50, p99) = match merged.filter(|h| !h.is_empty()) {
        Some(h) => (
            h.value_at_quantile(0.5) as f64 / 1000.0,
            h.value_at_quantile(0.99) as f64 / 1000.0,
        ),
        // Histograms unreadable: the highest per-second values, an upper bound.
        None => (
            seconds
                .iter()
                .map(|s| s.stats.latency.p50)
                .fold(0.0, f64::max),
            seconds
                .iter()
                .map(|s| s.stats.latency.p99)
                .fold(0.0, f64::max),
        ),
    };
    TimePoint {
        start_s,
        p50,
        p99,
        failed_share,
    }
}

/// p50 and p99 over time for every target, the failed share on the right axis.
pub fn time_plot(
    r: &Report,
    check: &str,
    per_target: &[(&str, &CheckLoad)],
    markers: &[Marker],
) -> String {
    let mut lines = Vec::new();
    let mut bucket = 1;
    let mut max_t: f64 = 0.0;
    let mut max_ms: f64 = 0.0;
    let mut max_share: f64 = 0.0;
    let mut with_requests = Vec::new();
    for (t, c) in per_target {
        let (points, b) = time_points(&c.series);
        bucket = bucket.max(b);
        with_requests.push((*t, points));
    }
    let unit = if bucket >= 60 { 60.0 } else { 1.0 };
    for (t, points) in &with_requests {
        let x = |p: &TimePoint| p.start_s as f64 / unit;
        for p in points {
            max_t = max_t.max(x(p) + bucket as f64 / unit);
            max_ms = max_ms.max(p.p99).max(p.p50);
            max_share = max_share.max(p.failed_share);
        }
        let col = color(r, t).to_owned();
        lines.push(Line {
            label: format!("{t} p50"),
            color: col.clone(),
            stroke: Stroke::Dashed,
            right: false,
            points: points.iter().map(|p| (x(p), p.p50)).collect(),
        });
        lines.push(Line {
            label: format!("{t} p99"),
            color: col.clone(),
            stroke: Stroke::Solid,
            right: false,
            points: points.iter().map(|p| (x(p), p.p99)).collect(),
        });
        if points.iter().any(|p| p.failed_share > 0.0) {
            lines.push(Line {
                label: format!("{t} failed"),
                color: col,
                stroke: Stroke::Dotted,
                right: true,
                points: points
                    .iter()
                    .map(|p| (x(p), 100.0 * p.failed_share))
                    .collect(),
            });
        }
    }
    for m in markers {
        max_t = max_t.max(m.x / unit);
    }
    let (x0, x1) = svg::x_range();
    let (y0, y1) = svg::y_range();
    let xs = Scale::new(0.0, max_t, x0, x1, 1.0);
    let ys = Scale::new(0.0, max_ms * 1.1, y0, y1, 1.0);
    let y2s = Scale::new(0.0, (100.0 * max_share * 1.1).max(1.0), y0, y1, 1.0);
    let x_title = match bucket {
        1 => "seconds since the load started".to_owned(),
        60 => "minutes since the load started (per minute)".to_owned(),
        b => format!("minutes since the load started (per {} minutes)", b / 60),
    };
    let mut chart = Chart::new(&format!("latency over time of {check}"));
    let right = lines.iter().any(|l| l.right);
    let y2 = Axis {
        title: "failed (%)".into(),
        scale: y2s,
        ticks: None,
        unit: " %".into(),
    };
    chart.axes(
        &Axis {
            title: x_title,
            scale: xs,
            ticks: None,
            unit: String::new(),
        },
        &Axis {
            title: "latency (ms)".into(),
            scale: ys,
            ticks: None,
            unit: String::new(),
        },
        right.then_some(&y2),
    );
    let shifted: Vec<Marker> = markers
        .iter()
        .map(|m| Marker {
            x: m.x / unit,
            label: m.label.clone(),
        })
        .collect();
    chart.markers(&shifted, &xs);
    for l in &lines {
        chart.line(l, &xs, if l.right { &y2s } else { &ys });
    }
    chart.finish()
}

/// `(x, ms)` of a percentile-distribution curve: x is the number of nines,
/// `-log10(1 - q)`, up to what the sample count supports.
pub fn curve(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    let n = h.len();
    if n == 0 {
        return Vec::new();
    }
    let top = (n as f64).log10().min(5.0);
    if top <= 0.0 {
        return vec![(0.0, h.value_at_quantile(0.5) as f64 / 1000.0)];
    }
    (0..=CURVE_POINTS)
        .map(|k| {
            let x = top * k as f64 / CURVE_POINTS as f64;
            let q = 1.0 - 10f64.powf(-x);
            (x, h.value_at_quantile(q) as f64 / 1000.0)
        })
        .collect()
}

/// Percentile distributions of every target in one plot.
pub fn distribution_plot(
    title: &str,
    y_title: &str,
    curves: &[(String, &str, Option<Histogram<u64>>)],
) -> String {
    let mut lines = Vec::new();
    let (mut max_x, mut max_y): (f64, f64) = (1.0, 0.0);
    for (label, col, h) in curves {
        let Some(h) = h else { continue };
        let points = curve(h);
        for (x, y) in &points {
            max_x = max_x.max(*x);
            max_y = max_y.max(*y);
        }
        lines.push(Line {
            label: label.clone(),
            color: (*col).to_owned(),
            stroke: Stroke::Solid,
            right: false,
            points,
        });
    }
    if lines.is_empty() {
        return String::new();
    }
    let (x0, x1) = svg::x_range();
    let (y0, y1) = svg::y_range();
    let max_x = max_x.ceil();
    let xs = Scale::new(0.0, max_x, x0, x1, 1.0);
    let ys = Scale::new(0.0, max_y * 1.1, y0, y1, 1.0);
    let ticks = (0..=max_x as u32)
        .map(|k| {
            let label = match k {
                0 => "0 %".to_owned(),
                k => format!("{} %", 100.0 - 100.0 * 10f64.powi(-(k as i32))),
            };
            (f64::from(k), label)
        })
        .collect();
    let mut chart = Chart::new(title);
    chart.axes(
        &Axis {
            title: "percentile (log scale)".into(),
            scale: xs,
            ticks: Some(ticks),
            unit: String::new(),
        },
        &Axis {
            title: y_title.into(),
            scale: ys,
            ticks: None,
            unit: String::new(),
        },
        None,
    );
    for l in &lines {
        chart.line(l, &xs, &ys);
    }
    chart.finish()
}

/// Statuses and error kinds per target, over all loaded checks.
fn statuses(out: &mut String, load: &LoadReport) {
    out.push_str("<h3>Statuses per target</h3>\n");
    for t in &load.targets {
        let s: &Stats = &t.totals;
        let total: u64 =
            s.statuses.values().sum::<u64>() + s.error_kinds.values().sum::<u64>() + s.cancelled;
        let _ = write!(
            out,
            "<table><tr><th colspan=\"3\">{}: {} requests</th></tr>",
            esc(&t.target),
            s.requests
        );
        let mut rows: Vec<(String, u64)> = Vec::new();
        for (status, n) in &s.statuses {
            let failed: BTreeMap<String, u64> =
                s.failed_statuses.get(status).cloned().unwrap_or_default();
            let failed_n: u64 = failed.values().sum();
            if *n > failed_n {
                rows.push((status.clone(), n - failed_n));
            }
            for (origin, m) in failed {
                rows.push((format!("{status} failed, from {origin}"), m));
            }
        }
        for (kind, n) in &s.error_kinds {
            rows.push((kind.clone(), *n));
        }
        if s.cancelled > 0 {
            rows.push(("cancelled".into(), s.cancelled));
        }
        for (what, n) in rows {
            let share = if total == 0 {
                0.0
            } else {
                n as f64 / total as f64
            };
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=\"n\">{n}</td><td><span class=\"bar\" style=\"width:{}px\"></span>{}</td></tr>",
                esc(&what),
                num((200.0 * share).max(1.0)),
                pct(share)
            );
        }
        out.push_str("</table>\n");
    }
}

fn websockets(out: &mut String, r: &Report) {
    let mut body = String::new();
    for c in r.checks.iter().filter(|c| c.kind == CheckKind::Websocket) {
        let _ = write!(
            body,
            "<h3>{} <code>{}</code></h3>\n<table><tr><th>target</th><th>upgraded</th><th>subprotocol</th><th>messages</th><th>RTT p50 / p99</th><th>ended</th></tr>",
            esc(&c.name),
            esc(&c.request)
        );
        for res in &c.results {
            let Some(Details::Websocket(w)) = &res.details else {
                continue;
            };
            let messages: Vec<String> = w
                .messages
                .iter()
                .map(|m| {
                    let what = match (&m.rtt_ms, &m.failure) {
                        (_, Some(f)) => format!("failed: {}", esc(f)),
                        (Some(rtt), None) => ms(*rtt),
                        (None, None) => "no reply".into(),
                    };
                    format!("<code>{}</code> {what}", esc(&m.sent))
                })
                .collect();
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{} / {}</td><td>{}</td></tr>",
                esc(&res.target),
                if w.upgraded { "yes" } else { "no" },
                esc(w.subprotocol.as_deref().unwrap_or("—")),
                messages.join("<br>"),
                ms(w.rtt.p50),
                ms(w.rtt.p99),
                w.ended
                    .as_ref()
                    .map(|e| format!("{} after {}", esc(&e.how), ms(e.after_ms)))
                    .unwrap_or_else(|| "—".into())
            );
        }
        body.push_str("</table>\n");
    }
    if let Some(load) = &r.load {
        for check in load.check_names() {
            let curves: Vec<(String, &str, Option<Histogram<u64>>)> = load
                .targets
                .iter()
                .filter_map(|t| {
                    let c = t.checks.iter().find(|c| c.check == check)?;
                    let m = c.totals.messages.as_ref()?;
                    Some((
                        t.target.clone(),
                        color(r, &t.target),
                        crate::hdr::decode(&m.rtt_hist),
                    ))
                })
                .collect();
            if curves.is_empty() {
                continue;
            }
            let _ = writeln!(body, "<h3>message RTT of {} under load</h3>", esc(check));
            body.push_str(&distribution_plot(
                &format!("WebSocket message RTT distribution of {check}"),
                "round trip (ms)",
                &curves,
            ));
        }
    }
    if !body.is_empty() {
        out.push_str("<h2 id=\"websockets\">WebSockets</h2>\n");
        out.push_str(&body);
    }
}

fn cors(out: &mut String, r: &Report) {
    let mut body = String::new();
    for c in r.checks.iter().filter(|c| c.kind == CheckKind::Cors) {
        let answers: Vec<(&str, &super::model::CorsDetails)> = c
            .results
            .iter()
            .filter_map(|res| match &res.details {
                Some(Details::Cors(d)) => Some((res.target.as_str(), d.as_ref())),
                _ => None,
            })
            .collect();
        if answers.is_empty() {
            continue;
        }
        let _ = write!(
            body,
            "<h3>{} <code>{}</code></h3>\n<table><tr><th>answer</th><th>header</th>",
            esc(&c.name),
            esc(&c.request)
        );
        for (t, _) in &answers {
            let _ = write!(body, "<th>{}</th>", esc(t));
        }
        body.push_str("</tr>\n");
        type Pick = fn(&super::model::CorsDetails) -> Option<&CorsHeaders>;
        let kinds: [(&str, Pick); 3] = [
            ("preflight", |d| Some(&d.preflight)),
            ("other origin", |d| d.negative.as_ref()),
            ("actual request", |d| d.actual.as_ref()),
        ];
        for (answer, pick) in kinds {
            if answers.iter().all(|(_, d)| pick(d).is_none()) {
                continue;
            }
            for (header, value) in cors_fields() {
                let values: Vec<Option<String>> = answers
                    .iter()
                    .map(|(_, d)| pick(d).and_then(value))
                    .collect();
                if values.iter().all(Option::is_none) {
                    continue;
                }
                let _ = write!(body, "<tr><td>{answer}</td><td><code>{header}</code></td>");
                for v in &values {
                    let differs = v != &values[0];
                    let _ = write!(
                        body,
                        "<td{}>{}</td>",
                        if differs { " class=\"diff\"" } else { "" },
                        v.as_deref()
                            .map(esc)
                            .unwrap_or_else(|| "<i>absent</i>".into())
                    );
                }
                body.push_str("</tr>\n");
            }
        }
        body.push_str("</table>\n");
    }
    if !body.is_empty() {
        out.push_str("<h2 id=\"cors\">CORS headers</h2>\n");
        out.push_str(&body);
    }
}

type CorsField = (&'static str, fn(&CorsHeaders) -> Option<String>);

fn cors_fields() -> [CorsField; 7] {
    [
        ("status", |h| h.status.map(|s| s.to_string())),
        ("access-control-allow-origin", |h| h.allow_origin.clone()),
        ("access-control-allow-credentials", |h| {
            h.allow_credentials.clone()
        }),
        ("access-control-allow-methods", |h| h.allow_methods.clone()),
        ("access-control-allow-headers", |h| h.allow_headers.clone()),
        ("access-control-max-age", |h| h.max_age.clone()),
        ("vary", |h| h.vary.clone()),
    ]
}

/// DNS bars drawn at most; more points are averaged in groups.
const MAX_DNS_BARS: usize = 300;

fn dns(out: &mut String, r: &Report) {
    let mut body = String::new();
    for c in &r.checks {
        let Some(Details::Dns(d)) = c.results.first().and_then(|x| x.details.as_ref()) else {
            continue;
        };
        let _ = write!(
            body,
            "<h3>{} <code>{}</code></h3>\n<p>{} of {} queries answered, p = {}</p>\n<table><tr><th>target</th><th>answers</th><th>observed</th><th>95 % interval</th><th>expected</th></tr>",
            esc(&c.name),
            esc(&c.request),
            d.answered,
            d.queries,
            d.p_value.map(|p| format!("{p:.3}")).unwrap_or_else(|| "n/a".into())
        );
        for s in &d.shares {
            let _ = write!(
                body,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}–{}</td><td class=\"n\">{}</td></tr>",
                esc(&s.target),
                s.count,
                pct(s.observed),
                pct(s.low),
                pct(s.high),
                s.expected.map(pct).unwrap_or_else(|| "—".into())
            );
        }
        body.push_str("</table>\n");
        let expected: BTreeMap<String, f64> = d
            .shares
            .iter()
            .filter_map(|s| s.expected.map(|e| (s.target.clone(), e)))
            .collect();
        if let Some(load) = &r.load {
            for series in load
                .dns
                .iter()
                .filter(|s| s.check == c.name && !s.points.is_empty())
            {
                body.push_str(&dns_plot(r, load, &series.points, &expected, &c.name));
            }
        }
    }
    if !body.is_empty() {
        out.push_str("<h2 id=\"dns\">Weighted DNS</h2>\n");
        out.push_str(&body);
    }
}

/// The split over time as stacked bars; expected weights as dashed steps.
fn dns_plot(
    r: &Report,
    load: &LoadReport,
    points: &[super::model::DnsPoint],
    expected: &BTreeMap<String, f64>,
    check: &str,
) -> String {
    let per = points.len().div_ceil(MAX_DNS_BARS).max(1);
    let bars: Vec<(f64, f64, BTreeMap<String, f64>)> = points
        .chunks(per)
        .map(|g| {
            let mut shares: BTreeMap<String, f64> = BTreeMap::new();
            for p in g {
                for (t, v) in &p.shares {
                    *shares.entry(t.clone()).or_default() += v / g.len() as f64;
                }
            }
            (g[0].at_s, g[g.len() - 1].at_s, shares)
        })
        .collect();
    let order: Vec<String> = {
        let mut o: Vec<String> = r.targets.iter().map(|t| t.name.clone()).collect();
        for (_, _, s) in &bars {
            for t in s.keys() {
                if !o.contains(t) {
                    o.push(t.clone());
                }
            }
        }
        o
    };
    let last = bars.last().map_or(0.0, |b| b.1);
    let step = if bars.len() > 1 {
        (last - bars[0].0) / (bars.len() - 1) as f64
    } else {
        1.0
    }
    .max(1e-3);
    let (x0, x1) = svg::x_range();
    let (y0, y1) = svg::y_range();
    let end = (last + step).max(load.duration_ms as f64 / 1000.0);
    let xs = Scale::new(0.0, end, x0, x1, 1.0);
    let ys = Scale::new(0.0, 100.0, y0, y1, 1.0);
    let mut chart = Chart::new(&format!("DNS split over time of {check}"));
    chart.axes(
        &Axis {
            title: "seconds since the load started".into(),
            scale: xs,
            ticks: None,
            unit: String::new(),
        },
        &Axis {
            title: "share of answers (%)".into(),
            scale: ys,
            ticks: None,
            unit: " %".into(),
        },
        None,
    );
    for (at, _, shares) in &bars {
        let mut base = 0.0;
        for t in &order {
            let Some(v) = shares.get(t) else { continue };
            let top = base + 100.0 * v;
            chart.rect(
                &xs,
                &ys,
                (*at, base),
                (*at + step * 0.8, top),
                color(r, t),
                &format!("{t} {:.1} % at {at:.0} s", 100.0 * v),
            );
            base = top;
        }
    }
    for t in &order {
        if shares_seen(&bars, t) {
            chart.legend(t, color(r, t));
        }
    }
    // Expected cumulative boundaries, changing where a mark set new weights.
    let mut changes: Vec<(f64, BTreeMap<String, f64>)> = vec![(0.0, expected.clone())];
    for e in &load.events {
        if let Some(w) = &e.weights {
            let total: f64 = w.values().sum();
            if total > 0.0 {
                changes.push((
                    e.at_s,
                    w.iter().map(|(k, v)| (k.clone(), v / total)).collect(),
                ));
            }
        }
    }
    if changes.iter().any(|(_, w)| !w.is_empty()) {
        for boundary in 0..order.len().saturating_sub(1) {
            let mut d = Vec::new();
            for (i, (at, w)) in changes.iter().enumerate() {
                let to = changes.get(i + 1).map_or(end, |c| c.0);
                let cum: f64 = order[..=boundary].iter().filter_map(|t| w.get(t)).sum();
                d.push((*at, 100.0 * cum));
                d.push((to, 100.0 * cum));
            }
            chart.line(
                &Line {
                    label: if boundary == 0 {
                        "expected".into()
                    } else {
                        String::new()
                    },
                    color: "#1a202c".into(),
                    stroke: Stroke::Dashed,
                    right: false,
                    points: d,
                },
                &xs,
                &ys,
            );
        }
    }
    chart.finish()
}

fn shares_seen(bars: &[(f64, f64, BTreeMap<String, f64>)], t: &str) -> bool {
    bars.iter().any(|(_, _, s)| s.contains_key(t))
}

fn timeline(out: &mut String, r: &Report) {
    let Some(load) = r.load.as_ref().filter(|l| !l.events.is_empty()) else {
        return;
    };
    out.push_str("<h2 id=\"timeline\">Timeline</h2>\n<table><tr><th>second</th><th>event</th><th>result</th></tr>\n");
    for e in &load.events {
        let result = match (&e.error, e.exit_code) {
            (Some(err), _) => format!("<span class=\"fail\">{}</span>", esc(err)),
            (None, Some(0)) => "<span class=\"pass\">exit 0</span>".to_owned(),
            (None, Some(c)) => format!("<span class=\"fail\">exit {c}</span>"),
            (None, None) => "mark".to_owned(),
        };
        let _ = writeln!(
            out,
            "<tr><td class=\"n\">{:.1}</td><td>{}</td><td>{result}</td></tr>",
            e.at_s,
            esc(&e.name)
        );
    }
    out.push_str("</table>\n");
}

fn targets(out: &mut String, r: &Report) {
    out.push_str("<h2 id=\"targets\">Targets</h2>\n<table><tr><th>target</th><th>role</th><th>proxy</th><th>connect</th><th>host</th></tr>\n");
    for t in &r.targets {
        let _ = writeln!(
            out,
            "<tr><td><span class=\"bar\" style=\"width:10px;background:{}\"></span>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
            color(r, &t.name),
            esc(&t.name),
            esc(t.role.as_str()),
            esc(t.proxy.as_str()),
            esc(&t.connect),
            esc(&t.host)
        );
    }
    out.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn second(second: u64, p50: f64, p99: f64, requests: u64, failed: u64) -> SecondStats {
        let mut stats = Stats {
            requests,
            failed,
            ..Stats::default()
        };
        stats.latency.p50 = p50;
        stats.latency.p99 = p99;
        SecondStats { second, stats }
    }

    #[test]
    fn short_series_are_drawn_per_second_long_ones_per_minute() {
        assert_eq!(bucket_seconds(1), 1);
        assert_eq!(bucket_seconds(MAX_POINTS), 1);
        assert_eq!(bucket_seconds(7_200), 60);
        assert_eq!(bucket_seconds(24 * 3600), 120);
        let one = vec![second(0, 1.0, 2.0, 10, 1)];
        let (points, bucket) = time_points(&one);
        assert_eq!(bucket, 1);
        assert_eq!(points.len(), 1);
        assert!((points[0].failed_share - 0.1).abs() < 1e-9);
        let long: Vec<SecondStats> = (0..7_200).map(|s| second(s, 1.0, 3.0, 10, 0)).collect();
        let (points, bucket) = time_points(&long);
        assert_eq!(bucket, 60);
        assert_eq!(points.len(), 120);
        // Unreadable histograms: the per-second values bound the merged ones.
        assert_eq!(points[0].p99, 3.0);
    }

    #[test]
    fn a_curve_of_one_sample_is_one_point_and_of_many_is_bounded() {
        let mut h = crate::hdr::histogram();
        h.record(1_000).expect("in range");
        assert_eq!(curve(&h).len(), 1);
        for v in 1..100_000u64 {
            h.record(v).expect("in range");
        }
        let c = curve(&h);
        assert_eq!(c.len(), CURVE_POINTS + 1);
        assert!(c.windows(2).all(|w| w[0].1 <= w[1].1), "monotone");
    }
}
