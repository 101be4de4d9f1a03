//! The sections that shape a run over time: `load` (stages, mix, targets,
//! connection policy, HTTP version, limits), `events` and `analysis`.
//!
//! Invariants: every stage has a duration; a stage is exactly one of
//! open (`rate`, or `from`/`to`), closed (`concurrency`) or sockets; a
//! socket stage names (or defaults to) a `websocket:` check; a mix names
//! known checks with finite non-negative weights, and an empty mix weighs
//! every check 1; counts that bound concurrency are at least 1; stages last
//! more than zero and at most 7 days in all; rates, counts and sockets ×
//! message rate are within the one-machine limits of `limits.rs` (lifted
//! tenfold by `force: true`); `http_version: h2` loads only https targets
//! and `h2c` only plain http ones, and `max_streams` (1 to 1000, not lifted
//! by `force`) is given only with one of them; an event's timeout is more than zero; events
//! are sorted by time; ratios are finite and non-negative.

use std::time::Duration;

use super::ctx::Ctx;
use super::limits::{
    check_rate, CountLimit, CONCURRENCY, CONNECTIONS, DEFAULT_LOAD_MAX_MESSAGE, IN_FLIGHT,
    MAX_DURATION, MAX_DURATION_TEXT, SOCKETS,
};
use super::probes::message_cap;
use super::targets::TargetNames;
use super::{AnalysisPlan, EventPlan, Thresholds};
use crate::analyze::latency::LatencyRules;
use crate::analyze::spike::SpikeRules;
use crate::load::plan::{
    ConnectionPolicy, HttpVersion, Judge, LoadParity, LoadPlan, Rate, Stage, DEFAULT_MAX_STREAMS,
    MAX_STREAMS,
};
use crate::scenario::model::{
    RawAnalysis, RawEvent, RawLatency, RawLoad, RawLoadParity, RawSpike, RawStage,
};
use crate::scenario::yaml::{unknown_message, At, Entries, Lenient, Loc};
use crate::target::{Scheme, Target};

/// The load section. `checks` are the declared check names, `websocket_checks`
/// the indices of the built `websocket:` checks, `built` the targets that
/// built (all of them, in declared order, unless an error was reported).
pub(super) fn build_load(
    cx: &Ctx,
    l: &RawLoad,
    checks: &[&str],
    websocket_checks: &[usize],
    (built, targets): (&[std::sync::Arc<Target>], &TargetNames),
    baseline: usize,
) -> LoadPlan {
    let force = l.force.unwrap_or(false);
    let stages = build_stages(cx, l.stages.as_ref(), checks, websocket_checks, force);
    let mix = build_mix(cx, l.mix.as_ref(), checks);
    let loaded: Vec<usize> = match &l.targets {
        Some(list) => list.iter().filter_map(|r| targets.resolve(cx, r)).collect(),
        None => (0..targets.len()).collect(),
    };
    let connection = connection_policy(cx, l.connection.as_ref());
    let http_version = http_version(cx, l.http_version.as_ref());
    if let (Some(v), true) = (&l.http_version, built.len() == targets.len()) {
        http_version_fits_targets(cx, v.loc, http_version, &targets_of(built, &loaded));
    }
    let max_streams = max_streams(
        cx,
        l.max_streams.as_ref(),
        l.http_version.as_ref(),
        http_version,
    );
    let judge = judge(cx, l.judge.as_ref());
    let max_in_flight = count(cx, l.max_in_flight.as_ref(), IN_FLIGHT, force, 1024);
    let connections = count(cx, l.connections.as_ref(), CONNECTIONS, force, 256);
    let websocket_max_message = l
        .websocket_max_message
        .as_ref()
        .and_then(|m| message_cap(cx, m, "websocket_max_message"))
        .unwrap_or(DEFAULT_LOAD_MAX_MESSAGE);
    let parity = l.parity.as_ref().map(|p| build_load_parity(cx, p));
    if let (Some(p), false) = (&l.parity, loaded.contains(&baseline)) {
        cx.err(
            p.loc,
            "`parity` under load compares with the baseline target, which `load.targets` leaves out: add it to `load.targets`",
        );
    }
    LoadPlan {
        stages,
        mix,
        max_in_flight,
        connections,
        targets: loaded,
        connection,
        judge,
        parity,
        websocket_max_message,
        force,
        http_version,
        max_streams,
    }
}

/// `http_version: h1 | h2 | h2c` (default h1).
fn http_version(cx: &Ctx, raw: Option<&At<String>>) -> HttpVersion {
    match raw.map(|v| (v, v.value.as_str())) {
        None | Some((_, "h1")) => HttpVersion::H1,
        Some((_, "h2")) => HttpVersion::H2,
        Some((_, "h2c")) => HttpVersion::H2c,
        Some((v, other)) => {
            cx.err(
                v.loc,
                unknown_message("http_version", other, &["h1", "h2", "h2c"]),
            );
            HttpVersion::H1
        }
    }
}

/// The loaded targets, by index.
fn targets_of<'a>(built: &'a [std::sync::Arc<Target>], loaded: &[usize]) -> Vec<&'a Target> {
    loaded
        .iter()
        .filter_map(|&i| built.get(i))
        .map(|t| &**t)
        .collect()
}

/// `h2` is HTTP/2 over TLS and `h2c` HTTP/2 over cleartext: each loaded
/// target's scheme must be the one its version speaks (reported at `loc`,
/// once per target that does not fit).
fn http_version_fits_targets(cx: &Ctx, loc: Loc, version: HttpVersion, loaded: &[&Target]) {
    for t in loaded {
        match (version, t.scheme) {
            (HttpVersion::H2, Scheme::Http) => cx.err(
                loc,
                format!(
                    "`http_version: h2` is HTTP/2 over TLS, but target `{}` is plain http: use `h2c` (HTTP/2 with prior knowledge) for plain-http targets, make the target https (`scheme: https`), or leave it out of `load.targets`",
                    t.name
                ),
            ),
            (HttpVersion::H2c, Scheme::Https) => cx.err(
                loc,
                format!(
                    "`http_version: h2c` is cleartext HTTP/2, but target `{}` is https: use `h2` (HTTP/2 over TLS, ALPN h2) for https targets, or leave it out of `load.targets`",
                    t.name
                ),
            ),
            _ => {}
        }
    }
}

/// `max_streams`: 1 to [`MAX_STREAMS`], and only where HTTP/2 carries streams.
fn max_streams(
    cx: &Ctx,
    raw: Option<&At<u64>>,
    version_given: Option<&At<String>>,
    version: HttpVersion,
) -> u64 {
    let Some(m) = raw else {
        return DEFAULT_MAX_STREAMS;
    };
    if !(1..=MAX_STREAMS).contains(&m.value) {
        cx.err(
            m.loc,
            format!(
                "`max_streams: {}` is out of range: it is the most requests in flight on one HTTP/2 connection, from 1 to {MAX_STREAMS} (default {DEFAULT_MAX_STREAMS}); `connections` bounds the connections",
                m.value
            ),
        );
        return DEFAULT_MAX_STREAMS;
    }
    // An unknown version was reported already: say nothing more about it.
    let unknown = version_given.is_some_and(|v| !matches!(v.value.as_str(), "h1" | "h2" | "h2c"));
    if version == HttpVersion::H1 && !unknown {
        cx.err(
            m.loc,
            "`max_streams` applies to HTTP/2 only, and this load speaks HTTP/1.1 (one request at a time per connection): set `http_version: h2` (https targets) or `h2c` (plain http), or remove `max_streams`",
        );
    }
    m.value
}

/// `judge: full | status`: how much of each check's expectation judges its
/// load responses.
fn judge(cx: &Ctx, raw: Option<&At<String>>) -> Judge {
    match raw.map(|j| (j, j.value.as_str())) {
        None | Some((_, "full")) => Judge::Full,
        Some((_, "status")) => Judge::Status,
        Some((j, other)) => {
            cx.err(j.loc, unknown_message("judge", other, &["full", "status"]));
            Judge::Full
        }
    }
}

/// `parity: { sample: 1%, relative: 20%, absolute: 0.03% }`.
fn build_load_parity(cx: &Ctx, p: &At<RawLoadParity>) -> LoadParity {
    let share = |v: Option<&At<String>>, what: &str, default: f64, zero_ok: bool| match v {
        None => default,
        Some(v) => match parse_share(&v.value) {
            Some(x) if x <= 1.0 && (x > 0.0 || zero_ok) => x,
            _ => {
                cx.err(
                    v.loc,
                    format!(
                        "invalid {what} `{}`: write a percentage like 1% (or a fraction like 0.01), {} 100%",
                        v.value,
                        if zero_ok { "from 0% to" } else { "above 0% and at most" }
                    ),
                );
                default
            }
        },
    };
    LoadParity {
        sample: share(p.sample.as_ref(), "sample", 0.01, false),
        relative: share(
            p.relative.as_ref(),
            "relative threshold",
            LoadParity::DEFAULT_RELATIVE,
            true,
        ),
        absolute: share(
            p.absolute.as_ref(),
            "absolute threshold",
            LoadParity::DEFAULT_ABSOLUTE,
            true,
        ),
    }
}

/// `1%` → 0.01, `0.25` → 0.25.
fn parse_share(text: &str) -> Option<f64> {
    let t = text.trim();
    let x = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().ok()? / 100.0,
        None => t.parse::<f64>().ok()?,
    };
    x.is_finite().then_some(x)
}

fn build_stages(
    cx: &Ctx,
    raw: Option<&At<Vec<Lenient<At<RawStage>>>>>,
    checks: &[&str],
    websocket_checks: &[usize],
    force: bool,
) -> Vec<Stage> {
    let mut stages = Vec::new();
    let Some(list) = raw else {
        cx.err(Loc { line: 1, col: 1 }, "`load` needs `stages:`");
        return stages;
    };
    if list.is_empty() {
        cx.err(
            list.loc,
            "`stages` is empty: add at least one stage, like {rate: 50/s, for: 1m}",
        );
    }
    for Lenient(st) in list.iter() {
        let Some(st) = st else { continue };
        let Some(dur) = &st.duration else {
            cx.err(
                st.loc,
                "a stage needs `for:` (how long it lasts), like {rate: 50/s, for: 1m}",
            );
            continue;
        };
        // A stage with a bad `for` is still checked, so its other errors show
        // too; as if it lasted the longest, so that no ramp is too long for it.
        let duration = cx.positive_duration(dur, "a stage's `for`");
        let placeholder = duration.unwrap_or(MAX_DURATION);
        let stage = if st.sockets.is_some() {
            socket_stage(cx, st, placeholder, checks, websocket_checks, force)
        } else {
            request_stage(cx, st, placeholder, force)
        };
        stages.extend(stage.filter(|_| duration.is_some()));
    }
    let total = stages
        .iter()
        .map(stage_duration)
        .fold(Duration::ZERO, Duration::saturating_add);
    if total > MAX_DURATION {
        cx.err(
            list.loc,
            format!(
                "the stages last {} in all, longer than {MAX_DURATION_TEXT}, the longest load a run may take: shorten them",
                days_and_seconds(total)
            ),
        );
    }
    stages
}

/// `8d`, `7d 1h 30s`: a long duration a person reads at a glance.
fn days_and_seconds(d: Duration) -> String {
    let s = d.as_secs();
    let parts = [
        (s / 86_400, "d"),
        (s / 3600 % 24, "h"),
        (s / 60 % 60, "m"),
        (s % 60, "s"),
    ];
    let text: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if text.is_empty() {
        format!("{}ms", d.as_millis())
    } else {
        text.join(" ")
    }
}

/// The load's natural length: its stages end to end.
pub(super) fn load_duration(load: &LoadPlan) -> Duration {
    load.stages
        .iter()
        .map(stage_duration)
        .fold(Duration::ZERO, Duration::saturating_add)
}

fn stage_duration(stage: &Stage) -> Duration {
    match *stage {
        Stage::Constant { duration, .. }
        | Stage::Ramp { duration, .. }
        | Stage::Closed { duration, .. }
        | Stage::Sockets { duration, .. } => duration,
    }
}

/// A rate within the one-machine limit (`force` lifts it), reported at `v`.
fn load_rate(cx: &Ctx, v: &At<String>, force: bool) -> Option<Rate> {
    let rate = cx.rate(v)?;
    let what = format!("rate `{}`", v.value.trim());
    match check_rate(&what, rate.0, force) {
        Some(e) => {
            cx.err(v.loc, e);
            None
        }
        None => Some(rate),
    }
}

/// `{sockets, for, ramp, message_rate, check}`: WebSockets held open.
fn socket_stage(
    cx: &Ctx,
    st: &At<RawStage>,
    duration: Duration,
    checks: &[&str],
    websocket_checks: &[usize],
    force: bool,
) -> Option<Stage> {
    let n = st.sockets.as_ref()?;
    if st.rate.is_some() || st.from.is_some() || st.concurrency.is_some() {
        cx.err(st.loc, "a socket stage takes {sockets, for, ramp, message_rate, check}, not rates or concurrency");
        return None;
    }
    if n.value == 0 {
        cx.err(n.loc, "`sockets` must be at least 1");
        return None;
    }
    if let Some(e) = SOCKETS.check(n.value, force) {
        cx.err(n.loc, e);
        return None;
    }
    let ramp = st
        .ramp
        .as_ref()
        .and_then(|r| cx.duration(r))
        .unwrap_or_default();
    if ramp > duration {
        if let Some(r) = &st.ramp {
            cx.err(r.loc, "the ramp is longer than the stage");
        }
    }
    let per_socket = match &st.message_rate {
        Some(r) => cx.rate(r),
        None => Some(Rate(1.0)),
    };
    if let Some(Rate(r)) = per_socket {
        let text = st.message_rate.as_ref().map_or("1/s", |m| m.value.trim());
        let what = format!(
            "{} sockets × `message_rate: {text}` ({}/s in all)",
            n.value,
            n.value as f64 * r
        );
        if let Some(e) = check_rate(&what, n.value as f64 * r, force) {
            cx.err(st.message_rate.as_ref().map_or(n.loc, |m| m.loc), e);
            return None;
        }
    }
    // At least 1/h (`cx.rate`), so the interval is at most an hour.
    let interval = per_socket.map(|r| Duration::from_secs_f64(1.0 / r.0));
    let check = match &st.check {
        Some(c) => match checks.iter().position(|n| *n == c.value) {
            Some(i) if websocket_checks.contains(&i) => Some(i),
            Some(_) => {
                cx.err(
                    c.loc,
                    format!("check `{}` is not a `websocket:` check", c.value),
                );
                None
            }
            None => {
                cx.err(c.loc, unknown_message("check", &c.value, checks));
                None
            }
        },
        None => match websocket_checks.first() {
            Some(i) => Some(*i),
            None => {
                cx.err(
                    n.loc,
                    "a socket stage needs a `websocket:` check (name it with `check:`)",
                );
                None
            }
        },
    };
    Some(Stage::Sockets {
        sockets: n.value,
        ramp,
        interval: interval?,
        check: check?,
        duration,
    })
}

/// `{rate, for}`, `{from, to, for}` or `{concurrency, for}`.
fn request_stage(cx: &Ctx, st: &At<RawStage>, duration: Duration, force: bool) -> Option<Stage> {
    match (&st.rate, &st.from, &st.to, &st.concurrency) {
        (Some(r), None, None, None) => {
            load_rate(cx, r, force).map(|rate| Stage::Constant { rate, duration })
        }
        (None, Some(f), Some(t), None) => {
            match (load_rate(cx, f, force), load_rate(cx, t, force)) {
                (Some(from), Some(to)) => Some(Stage::Ramp { from, to, duration }),
                _ => None,
            }
        }
        (None, None, None, Some(c)) if c.value > 0 => match CONCURRENCY.check(c.value, force) {
            Some(e) => {
                cx.err(c.loc, e);
                None
            }
            None => Some(Stage::Closed {
                concurrency: c.value,
                duration,
            }),
        },
        (None, None, None, Some(c)) => {
            cx.err(c.loc, "`concurrency` must be at least 1");
            None
        }
        _ => {
            cx.err(
                st.loc,
                "a stage is one of {rate, for}, {from, to, for} or {concurrency, for}",
            );
            None
        }
    }
}

/// Check index and weight; every check at weight 1 when none is named.
fn build_mix(cx: &Ctx, raw: Option<&Entries<At<f64>>>, checks: &[&str]) -> Vec<(usize, f64)> {
    let mut mix = Vec::new();
    for (name, w) in raw.map(|m| m.0.as_slice()).unwrap_or_default() {
        match checks.iter().position(|c| *c == name.value) {
            None => cx.err(name.loc, unknown_message("check", &name.value, checks)),
            Some(_) if !(w.value.is_finite() && w.value >= 0.0) => {
                cx.err(w.loc, "a mix weight is a number of 0 or more")
            }
            Some(i) => mix.push((i, w.value)),
        }
    }
    if mix.is_empty() {
        mix = (0..checks.len()).map(|i| (i, 1.0)).collect();
    }
    mix
}

fn connection_policy(cx: &Ctx, raw: Option<&At<String>>) -> ConnectionPolicy {
    match raw {
        None => ConnectionPolicy::KeepAlive,
        Some(c) => match c.value.as_str() {
            "keepalive" | "keep-alive" => ConnectionPolicy::KeepAlive,
            "fresh" => ConnectionPolicy::Fresh,
            other => {
                cx.err(
                    c.loc,
                    unknown_message("connection policy", other, &["keepalive", "fresh"]),
                );
                ConnectionPolicy::KeepAlive
            }
        },
    }
}

/// A count of at least 1 and within its one-machine limit (`force` lifts
/// it), else `default`.
fn count(cx: &Ctx, raw: Option<&At<u64>>, limit: CountLimit, force: bool, default: u64) -> u64 {
    match raw {
        Some(m) if m.value == 0 => {
            cx.err(m.loc, format!("`{}` must be at least 1", limit.field));
            1
        }
        Some(m) => match limit.check(m.value, force) {
            Some(e) => {
                cx.err(m.loc, e);
                default
            }
            None => m.value,
        },
        None => default,
    }
}

/// The events, in time order; one with a bad time is reported and left out.
/// `load` is the load's natural length: events run during the load, so one
/// at or after its end would never run (and `--duration` would stretch its
/// offset past any clock).
pub(super) fn build_events(
    cx: &Ctx,
    raw: Option<&Vec<Lenient<At<RawEvent>>>>,
    load: Option<Duration>,
) -> Vec<EventPlan> {
    let mut events = Vec::new();
    for Lenient(e) in raw.into_iter().flatten() {
        let Some(e) = e else { continue };
        let (Some(at), timeout) = (
            cx.duration(&e.at),
            e.timeout
                .as_ref()
                .map(|t| cx.positive_duration(t, "a timeout")),
        ) else {
            continue;
        };
        if let Some(total) = load.filter(|total| at >= *total && !total.is_zero()) {
            cx.err(
                e.at.loc,
                format!(
                    "event `{}` at {} would never run: the load ends at {}; move it earlier",
                    e.name.value,
                    e.at.value.trim(),
                    humantime::format_duration(total)
                ),
            );
            continue;
        }
        events.push(EventPlan {
            at,
            name: e.name.value.clone(),
            run: e.run.clone(),
            timeout: timeout.flatten().unwrap_or(Duration::from_secs(300)),
        });
    }
    events.sort_by_key(|e| e.at);
    events
}

/// The analysis section; what it leaves out keeps the analyzers' defaults.
pub(super) fn build_analysis(cx: &Ctx, a: &RawAnalysis) -> AnalysisPlan {
    let mut out = AnalysisPlan::default();
    if let Some(s) = &a.spike_503 {
        spike_rules(cx, s, &mut out.spike);
    }
    if let Some(l) = &a.latency {
        latency_rules(cx, l, &mut out.latency);
    }
    if let Some(t) = &a.thresholds {
        out.thresholds = Thresholds {
            error_ratio: t.error_ratio.as_ref().and_then(|r| ratio(cx, r)),
            server_error_ratio: t.server_error_ratio.as_ref().and_then(|r| ratio(cx, r)),
            p99: t.p99.as_ref().and_then(|d| cx.duration(d)),
        };
    }
    if let Some(ab) = &a.abort {
        if let (Some(r), Some(d)) = (ratio(cx, &ab.error_ratio), cx.duration(&ab.duration)) {
            out.abort = Some((r, d));
        }
    }
    out
}

fn spike_rules(cx: &Ctx, s: &RawSpike, out: &mut SpikeRules) {
    if let Some(d) = s.after_event.as_ref().and_then(|d| cx.duration(d)) {
        out.after = d.as_secs();
    }
    if let Some(d) = s.before_event.as_ref().and_then(|d| cx.duration(d)) {
        out.before = d.as_secs();
    }
    if let Some(r) = s.max_ratio.as_ref().and_then(|r| ratio(cx, r)) {
        out.max_ratio = r;
    }
    if let Some(p) = s.significance.as_ref().and_then(|p| p_value(cx, p)) {
        out.significance = p;
    }
    if let Some(n) = &s.min_increase {
        out.min_increase = n.value;
    }
}

/// A p-value strictly between 0 and 1.
fn p_value(cx: &Ctx, s: &At<f64>) -> Option<f64> {
    if s.value > 0.0 && s.value < 1.0 {
        Some(s.value)
    } else {
        cx.err(
            s.loc,
            "`significance` is a p-value between 0 and 1, like 0.001",
        );
        None
    }
}

fn latency_rules(cx: &Ctx, l: &RawLatency, out: &mut LatencyRules) {
    for (q, v) in [
        (0.5, &l.p50_max_ratio),
        (0.9, &l.p90_max_ratio),
        (0.99, &l.p99_max_ratio),
        (0.999, &l.p999_max_ratio),
    ] {
        if let Some(r) = v.as_ref().and_then(|r| ratio(cx, r)) {
            if let Some(slot) = out.ratios.iter_mut().find(|(x, _)| *x == q) {
                slot.1 = r;
            }
        }
    }
    for (q, v) in [
        (0.5, &l.p50_critical_ratio),
        (0.9, &l.p90_critical_ratio),
        (0.99, &l.p99_critical_ratio),
        (0.999, &l.p999_critical_ratio),
    ] {
        if let Some(r) = v.as_ref().and_then(|r| ratio(cx, r)) {
            if let Some(slot) = out.critical.iter_mut().find(|(x, _)| *x == q) {
                slot.1 = r;
            }
        }
    }
    if let Some(d) = l.min_delta.as_ref().and_then(|d| cx.duration(d)) {
        out.min_delta = d;
    }
    if let Some(d) = l.critical_delta.as_ref().and_then(|d| cx.duration(d)) {
        out.critical_delta = d;
    }
    if let Some(p) = l.significance.as_ref().and_then(|p| p_value(cx, p)) {
        out.significance = p;
    }
    if let Some(n) = &l.min_tail_samples {
        if n.value == 0 {
            cx.err(n.loc, "`min_tail_samples` is at least 1 (default 10)");
        } else {
            out.min_tail_samples = n.value;
        }
    }
}

/// A finite ratio of 0 or more, like 0.01 for 1 %.
fn ratio(cx: &Ctx, v: &At<f64>) -> Option<f64> {
    if v.value.is_finite() && v.value >= 0.0 {
        Some(v.value)
    } else {
        cx.err(v.loc, "a ratio is a number of 0 or more, like 0.01 for 1 %");
        None
    }
}

#[cfg(test)]
mod tests {
    use crate::load::plan::{ConnectionPolicy, Rate, Stage};
    use crate::scenario::load_str;
    use std::path::Path;
    use std::time::Duration;

    fn load_section(load: &str) -> Result<crate::load::plan::LoadPlan, String> {
        let yaml = format!(
            "host: shop.example.test\ntargets:\n  ingress: {{ connect: 127.0.0.1:9 }}\nchecks:\n  - name: a\n    http: {{ path: /a }}\n  - name: chat\n    websocket: {{ path: /ws }}\n{load}"
        );
        load_str(&yaml, Path::new("t.yaml"), &|_| None)
            .map(|p| p.load.expect("a load section"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn unnamed_mix_weighs_every_check_and_socket_stage_takes_the_first_websocket_check() {
        let load = load_section(
            "load:\n  stages:\n    - { rate: 5/s, for: 2s }\n    - { sockets: 3, for: 4s }\n",
        )
        .unwrap();
        assert_eq!(load.mix, vec![(0, 1.0), (1, 1.0)]);
        assert_eq!(
            load.stages,
            vec![
                Stage::Constant {
                    rate: Rate(5.0),
                    duration: Duration::from_secs(2)
                },
                Stage::Sockets {
                    sockets: 3,
                    ramp: Duration::ZERO,
                    interval: Duration::from_secs(1),
                    check: 1,
                    duration: Duration::from_secs(4)
                },
            ]
        );
        assert_eq!(load.connection, ConnectionPolicy::KeepAlive);
        assert_eq!((load.max_in_flight, load.connections), (1024, 256));
    }

    #[test]
    fn http_version_defaults_to_h1_and_max_streams_belongs_to_http2() {
        use crate::load::plan::HttpVersion;
        let load = load_section("load:\n  stages: [ { rate: 5/s, for: 2s } ]\n").unwrap();
        assert_eq!(
            (load.http_version, load.max_streams),
            (HttpVersion::H1, 100)
        );
        let load = load_section(
            "load:\n  http_version: h2c\n  max_streams: 8\n  stages: [ { rate: 5/s, for: 2s } ]\n",
        )
        .unwrap();
        assert_eq!((load.http_version, load.max_streams), (HttpVersion::H2c, 8));
        let err = load_section("load:\n  max_streams: 8\n  stages: [ { rate: 5/s, for: 2s } ]\n")
            .unwrap_err();
        assert!(
            err.contains("t.yaml:10:16: `max_streams` applies to HTTP/2 only"),
            "{err}"
        );
        // The test target is plain http: h2 (over TLS) does not fit it.
        let err = load_section("load:\n  http_version: h2\n  stages: [ { rate: 5/s, for: 2s } ]\n")
            .unwrap_err();
        assert!(
            err.contains(
                "`http_version: h2` is HTTP/2 over TLS, but target `ingress` is plain http"
            ),
            "{err}"
        );
    }

    #[test]
    fn limits_below_one_name_their_field() {
        let err = load_section(
            "load:\n  stages: [ { rate: 5/s, for: 2s } ]\n  max_in_flight: 0\n  connections: 0\n",
        )
        .unwrap_err();
        assert!(err.contains("`max_in_flight` must be at least 1"), "{err}");
        assert!(err.contains("`connections` must be at least 1"), "{err}");
    }

    #[test]
    fn one_machine_limits_are_refused_unless_forced_and_the_error_says_how() {
        let err = load_section(
            "load:\n  stages: [ { rate: 2000000/s, for: 1s }, { concurrency: 20000, for: 1s } ]\n",
        )
        .unwrap_err();
        assert_eq!(
            err.matches("set `force: true` under `load:`").count(),
            2,
            "{err}"
        );
        let load = load_section(
            "load:\n  force: true\n  stages: [ { rate: 2000000/s, for: 1s }, { concurrency: 20000, for: 1s } ]\n",
        )
        .unwrap();
        assert!(load.force);
        assert_eq!(load.stages.len(), 2);
    }

    #[test]
    fn websocket_message_caps_and_pong_timeout_parse_with_their_defaults() {
        let load = load_section("load:\n  stages: [ { sockets: 2, for: 1s } ]\n").unwrap();
        assert_eq!(load.websocket_max_message, 64 << 10);
        let load = load_section(
            "load:\n  websocket_max_message: 1m\n  stages: [ { sockets: 2, for: 1s } ]\n",
        )
        .unwrap();
        assert_eq!(load.websocket_max_message, 1 << 20);

        let ws = |spec: &str| {
            let yaml = format!(
                "host: shop.example.test\ntargets:\n  ingress: {{ connect: 127.0.0.1:9 }}\nchecks:\n  - name: chat\n    websocket: {{ path: /ws{spec} }}\n"
            );
            match load_str(&yaml, Path::new("t.yaml"), &|_| None).map(|p| p.checks[0].probe.clone())
            {
                Ok(crate::scenario::ProbeSpec::WebSocket(w)) => (w.max_message, w.pong_timeout),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(ws(""), (16 << 20, Duration::from_secs(10)));
        assert_eq!(
            ws(", max_message: 64k, pong_timeout: 2s"),
            (64 << 10, Duration::from_secs(2))
        );
    }
}
