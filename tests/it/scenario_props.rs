//! Property tests of scenario loading: near-valid scenarios with random
//! values (extremes included) and arbitrary text go through the parser and
//! validation. Whatever comes in: no panic; a refusal is a list of
//! `path:line:col: message` lines; an accepted plan is within the limits of
//! `scenario::plan::limits`, so `run` can lay out its schedule and run it in
//! bounded memory.
//!
//! 256 cases per property in the suite; `bash bench/fuzz.sh` runs a long
//! campaign (`PROPTEST_CASES`).

use std::path::Path;
use std::time::Duration;

use cutover::load::plan::Stage;
use cutover::load::schedule::Shape;
use cutover::scenario::plan::limits::*;
use cutover::scenario::{self, Plan, ProbeSpec, ScenarioError};
use proptest::prelude::*;
use proptest::test_runner::Config;

const PATH: &str = "fuzz.yaml";

fn config() -> Config {
    // PROPTEST_CASES overrides the in-suite count (bench/fuzz.sh).
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    Config {
        cases,
        // Failures are printed with their input; nothing is written into tests/.
        failure_persistence: None,
        ..Config::default()
    }
}

/// How often a value is drawn from the wild (extremes, wrong units, wrong
/// types) rather than from the values a scenario would use, in percent. Drawn
/// once per scenario, so that some scenarios are entirely plausible (and get
/// accepted) while others are mostly garbage.
type Wild = u32;

fn wildness() -> impl Strategy<Value = Wild> {
    prop::sample::select(vec![0, 0, 2, 10, 50])
}

/// A number as a scenario may spell it when it goes wrong: around a limit,
/// extreme, negative, not finite, empty.
fn wild_number() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "0",
            "1",
            "604800",
            "604801",
            "10000",
            "10001",
            "25001",
            "50001",
            "100000",
            "1000000",
            "1000001",
            "10000001",
            "100000000",
            "18446744073709551615",
            "18446744073709551616",
            "340282366920938463463374607431768211456",
            "-1",
            "0.5",
            "1e8",
            "1e308",
            "1e-300",
            "NaN",
            "inf",
            "",
        ])
        .prop_map(str::to_owned),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|f| f.to_string()),
    ]
}

/// `valid` most of the time, else a wild number with any of `units`.
fn value(
    w: Wild,
    valid: BoxedStrategy<String>,
    units: &'static [&'static str],
) -> BoxedStrategy<String> {
    let wild = (wild_number(), prop::sample::select(units))
        .prop_map(|(n, u)| format!("{n}{u}"))
        .boxed();
    either(w, valid, wild)
        .prop_map(|v| format!("\"{v}\""))
        .boxed()
}

/// `wild` in `w` percent of draws, else `valid`.
fn either<T: std::fmt::Debug + 'static>(
    w: Wild,
    valid: BoxedStrategy<T>,
    wild: BoxedStrategy<T>,
) -> BoxedStrategy<T> {
    match w {
        0 => valid,
        100.. => wild,
        _ => prop_oneof![100 - w => valid, w => wild].boxed(),
    }
}

/// `Some` with probability `p` (0 and 1 included).
fn maybe<T: std::fmt::Debug + Clone + 'static>(
    p: f64,
    s: BoxedStrategy<T>,
) -> BoxedStrategy<Option<T>> {
    if p <= 0.0 {
        Just(None).boxed()
    } else if p >= 1.0 {
        s.prop_map(Some).boxed()
    } else {
        prop::option::weighted(p, s).boxed()
    }
}

fn duration(w: Wild) -> BoxedStrategy<String> {
    let valid = prop_oneof![
        8 => (1u64..600, prop::sample::select(vec!["ms", "s", "m"]))
            .prop_map(|(n, u)| format!("{n}{u}")),
        1 => prop::sample::select(vec!["7d", "604800s", "168h", "1h30m"]).prop_map(str::to_owned),
    ];
    value(
        w,
        valid.boxed(),
        &[
            "ns", "us", "ms", "s", "m", "h", "d", "w", "y", "", "parsecs",
        ],
    )
}

fn rate(w: Wild) -> BoxedStrategy<String> {
    let valid = prop_oneof![
        8 => (1u64..1000, prop::sample::select(vec!["s", "m", "h"]))
            .prop_map(|(n, u)| format!("{n}/{u}")),
        1 => prop::sample::select(vec!["1000000/s", "1/h", "0.5/s"]).prop_map(str::to_owned),
    ];
    value(
        w,
        valid.boxed(),
        &["/s", "/m", "/h", "/d", "", "/fortnight"],
    )
}

fn size(w: Wild) -> BoxedStrategy<String> {
    let valid = prop_oneof![
        (1u64..100, prop::sample::select(vec!["", "k", "m"])).prop_map(|(n, u)| format!("{n}{u}")),
        prop::sample::select(vec!["64m", "64k", "16m"]).prop_map(str::to_owned),
    ];
    value(w, valid.boxed(), &["", "k", "m", "g", "kib", "t"])
}

/// A count as YAML: a plausible integer, or (wild) anything, even not an integer.
fn count(w: Wild) -> BoxedStrategy<String> {
    let valid = prop_oneof![
        8 => (1u64..100).prop_map(|n| n.to_string()),
        1 => prop::sample::select(vec!["10000", "25000", "50000"]).prop_map(str::to_owned),
    ];
    let wild = prop_oneof![
        4 => wild_number(),
        1 => Just("[1]".to_owned()),
        1 => Just("\"ten\"".to_owned()),
    ];
    either(w, valid.boxed(), wild.boxed())
}

/// Paths that exist here as every kind of file, or not at all (relative to
/// the test's working directory, the package root). Only `Cargo.toml` is a
/// usable body; none is a CA bundle.
fn file(w: Wild) -> BoxedStrategy<String> {
    let wild = prop::sample::select(vec![".", "/dev/zero", "/dev/null", "missing.json", "tests"]);
    either(w, Just("Cargo.toml").boxed(), wild.boxed())
        .prop_map(str::to_owned)
        .boxed()
}

/// `key: value, ` with the value drawn from `s`, or nothing.
fn field(key: &'static str, s: BoxedStrategy<String>) -> BoxedStrategy<String> {
    prop::option::weighted(0.3, s)
        .prop_map(move |v| v.map(|v| format!("{key}: {v}, ")).unwrap_or_default())
        .boxed()
}

/// `field` that only the wild draw: settings that are wrong wherever they are.
fn wild_field(w: Wild, key: &'static str, s: BoxedStrategy<String>) -> BoxedStrategy<String> {
    maybe(f64::from(w) / 200.0, s)
        .prop_map(move |v| v.map(|v| format!("{key}: {v}, ")).unwrap_or_default())
        .boxed()
}

fn stage(w: Wild) -> BoxedStrategy<String> {
    let body = prop_oneof![
        rate(w).prop_map(|r| format!("rate: {r}, ")),
        (rate(w), rate(w)).prop_map(|(a, b)| format!("from: {a}, to: {b}, ")),
        count(w).prop_map(|c| format!("concurrency: {c}, ")),
        (
            count(w),
            field("ramp", duration(w)),
            field("message_rate", rate(w)),
            field("check", Just("chat".to_owned()).boxed()),
        )
            .prop_map(|(n, b, c, d)| format!("sockets: {n}, {b}{c}{d}")),
    ];
    let length = maybe(1.0 - f64::from(w) / 200.0, duration(w))
        .prop_map(|d| d.map(|d| format!("for: {d}")).unwrap_or_default());
    (body, wild_field(w, "concurrency", count(w)), length)
        .prop_map(|(b, extra, f)| format!("    - {{ {b}{extra}{f} }}\n"))
        .boxed()
}

fn load(w: Wild) -> BoxedStrategy<String> {
    let setting = |key: &'static str, s: BoxedStrategy<String>| {
        prop::option::weighted(0.25, s)
            .prop_map(move |v| v.map(|v| format!("  {key}: {v}\n")).unwrap_or_default())
    };
    let min_stages = usize::from(w == 0);
    (
        prop::collection::vec(stage(w), min_stages..4),
        setting("max_in_flight", count(w)),
        setting("connections", count(w)),
        setting("websocket_max_message", size(w)),
        setting("force", any::<bool>().prop_map(|b| b.to_string()).boxed()),
    )
        .prop_map(|(stages, a, b, c, d)| {
            let list = if stages.is_empty() {
                "  stages: []\n".to_owned()
            } else {
                format!("  stages:\n{}", stages.concat())
            };
            format!("load:\n{a}{b}{c}{d}{list}")
        })
        .boxed()
}

fn checks(w: Wild) -> BoxedStrategy<String> {
    (
        (
            field("timeout", duration(w)),
            field("body_file", file(w)),
            field("body_cap", size(w)),
        ),
        (
            field("timeout", duration(w)),
            field("ping_interval", duration(w)),
            field("pong_timeout", duration(w)),
            field("hold", duration(w)),
            field("max_message", size(w)),
        ),
        (
            field("rate", rate(w)),
            field("concurrency", count(w)),
            field("samples", count(w)),
            field("timeout", duration(w)),
            field("every", duration(w)),
        ),
        field("max_latency", duration(w)),
    )
        .prop_map(|((a, b, c), (d, e, f, g, h), (i, j, k, l, m), x)| {
            format!(
                "checks:\n  - name: items\n    http: {{ {a}{b}{c}path: /a }}\n    expect: {{ {x}status: 200 }}\n  - name: chat\n    websocket: {{ {d}{e}{f}{g}{h}path: /ws }}\n  - name: split\n    dns: {{ {i}{j}{k}{l}{m}nameservers: [127.0.0.1] }}\n"
            )
        })
        .boxed()
}

fn events(w: Wild) -> BoxedStrategy<String> {
    prop::collection::vec(
        (duration(w), field("timeout", duration(w)))
            .prop_map(|(at, t)| format!("  - {{ at: {at}, {t}name: deploy, run: \"true\" }}\n")),
        0..3,
    )
    .prop_map(|e| {
        if e.is_empty() {
            String::new()
        } else {
            format!("events:\n{}", e.concat())
        }
    })
    .boxed()
}

fn head(w: Wild) -> BoxedStrategy<String> {
    (
        field("timeout", duration(w)),
        wild_field(w, "ca", file(w)),
        prop::option::weighted(0.2, duration(w)),
    )
        .prop_map(|(t, ca, abort)| {
            let abort = abort
                .map(|d| format!("analysis:\n  abort: {{ error_ratio: 0.5, for: {d} }}\n"))
                .unwrap_or_default();
            format!(
                "host: shop.example.test\ntargets:\n  ingress: {{ connect: 127.0.0.1:9, tls: {{ {ca}insecure: false }} }}\n  gateway: {{ connect: 127.0.0.1:10 }}\ndefaults: {{ {t}scheme: http }}\n{abort}"
            )
        })
        .boxed()
}

/// A near-valid scenario: every section, random values.
fn scenario_text() -> impl Strategy<Value = String> {
    wildness().prop_flat_map(|w| {
        (
            head(w),
            checks(w),
            prop::option::weighted(0.8, load(w)),
            events(w),
        )
            .prop_map(|(h, c, l, e)| format!("{h}{c}{}{e}", l.unwrap_or_default()))
    })
}

/// A near-valid scenario with one edit: a line dropped, a character changed,
/// or text cut short.
fn mutated_text() -> impl Strategy<Value = String> {
    (
        scenario_text(),
        any::<prop::sample::Index>(),
        0u8..4,
        any::<char>(),
    )
        .prop_map(|(text, at, how, c)| {
            let lines: Vec<&str> = text.lines().collect();
            let i = at.index(lines.len().max(1));
            match how {
                0 => {
                    let mut l = lines.clone();
                    if !l.is_empty() {
                        l.remove(i);
                    }
                    l.join("\n")
                }
                1 => {
                    let chars: Vec<char> = text.chars().collect();
                    let j = at.index(chars.len().max(1));
                    let mut out: String = chars[..j.min(chars.len())].iter().collect();
                    out.push(c);
                    out.extend(chars.iter().skip(j + 1));
                    out
                }
                2 => text
                    .chars()
                    .take(at.index(text.chars().count() + 1))
                    .collect(),
                _ => text,
            }
        })
}

/// Every refusal is `path:line:col: message`, positioned inside the text.
fn assert_positioned(err: &ScenarioError, text: &str) -> Result<(), TestCaseError> {
    let ScenarioError::Invalid { diagnostics, .. } = err else {
        return Err(TestCaseError::fail(format!("not a diagnostic: {err}")));
    };
    prop_assert!(!diagnostics.is_empty());
    let lines = text.lines().count() as u32 + 1;
    for d in diagnostics {
        prop_assert!(
            d.loc.line >= 1 && d.loc.col >= 1 && d.loc.line <= lines,
            "unpositioned diagnostic {}: {}",
            d.loc,
            d.message
        );
        let m = &d.message;
        prop_assert!(
            !m.trim().is_empty() && !m.contains('\n'),
            "bad message {m:?}"
        );
        // Rust Debug text never reaches a user (what the user wrote, quoted
        // in backticks or double quotes, may say anything).
        let ours = outside_quotes(m);
        for debug in ["Some(", "None", "Error {", "Location", "u64", "i64", "f64"] {
            prop_assert!(!ours.contains(debug), "Debug text in {m:?}");
        }
    }
    for line in err.to_string().lines() {
        let rest = line.strip_prefix(&format!("{PATH}:"));
        let ok = rest.is_some_and(|r| {
            let mut parts = r.splitn(3, ':');
            let (l, c, msg) = (parts.next(), parts.next(), parts.next());
            l.is_some_and(|l| l.parse::<u32>().is_ok())
                && c.is_some_and(|c| c.parse::<u32>().is_ok())
                && msg.is_some_and(|m| m.starts_with(' ') && m.len() > 1)
        });
        prop_assert!(ok, "not `path:line:col: message`: {line}");
    }
    Ok(())
}

/// `m` without its `quoted` and "quoted" parts.
fn outside_quotes(m: &str) -> String {
    let mut out = String::new();
    let mut quote = None;
    for c in m.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '`' || c == '"' => quote = Some(c),
            None => out.push(c),
        }
    }
    out
}

/// An accepted plan is within every limit, and its schedule lays out.
fn assert_bounded(plan: &Plan) -> Result<(), TestCaseError> {
    let positive = |d: Duration| !d.is_zero() && d <= MAX_DURATION;
    prop_assert!(positive(plan.timeout));
    for e in &plan.events {
        prop_assert!(e.at <= MAX_DURATION && positive(e.timeout), "{e:?}");
    }
    if let Some((_, d)) = plan.analysis.abort {
        prop_assert!(d <= MAX_DURATION);
    }
    for c in &plan.checks {
        match &c.probe {
            ProbeSpec::Http(h) => prop_assert!(positive(h.timeout)),
            ProbeSpec::WebSocket(w) => {
                prop_assert!(positive(w.timeout) && positive(w.ping_interval));
                prop_assert!(positive(w.pong_timeout));
                prop_assert!(w.hold.is_none_or(|h| h <= MAX_DURATION));
                prop_assert!((1..=MAX_MESSAGE).contains(&w.max_message));
            }
            ProbeSpec::Cors(c) => prop_assert!(positive(c.timeout)),
            ProbeSpec::Dns(d) => {
                prop_assert!(positive(d.timeout) && positive(d.every));
                prop_assert!(d.rate >= MIN_RATE && d.rate <= MAX_RATE);
                prop_assert!(d.concurrency as u64 <= MAX_CONCURRENCY);
            }
            ProbeSpec::Behaviour(b) => prop_assert!(positive(b.request().timeout)),
            ProbeSpec::Grpc(g) => prop_assert!(positive(g.timeout)),
        }
    }
    let Some(load) = &plan.load else {
        return Ok(());
    };
    let factor = if load.force { FORCE_FACTOR } else { 1 };
    let rate_ok = |r: f64| (MIN_RATE..=MAX_RATE * factor as f64).contains(&r);
    prop_assert!((1..=MAX_IN_FLIGHT * factor).contains(&load.max_in_flight));
    prop_assert!((1..=MAX_CONNECTIONS * factor).contains(&load.connections));
    prop_assert!((1..=MAX_MESSAGE).contains(&load.websocket_max_message));
    let mut total = Duration::ZERO;
    for s in &load.stages {
        let d = match *s {
            Stage::Constant { rate, duration } => {
                prop_assert!(rate_ok(rate.0), "{s:?}");
                duration
            }
            Stage::Ramp { from, to, duration } => {
                prop_assert!(rate_ok(from.0) && rate_ok(to.0), "{s:?}");
                duration
            }
            Stage::Closed {
                concurrency,
                duration,
            } => {
                prop_assert!((1..=MAX_CONCURRENCY * factor).contains(&concurrency));
                duration
            }
            Stage::Sockets {
                sockets,
                ramp,
                interval,
                duration,
                ..
            } => {
                prop_assert!((1..=MAX_SOCKETS * factor).contains(&sockets));
                prop_assert!(ramp <= duration);
                prop_assert!(rate_ok(sockets as f64 / interval.as_secs_f64()), "{s:?}");
                duration
            }
        };
        prop_assert!(positive(d), "{s:?}");
        total += d;
    }
    prop_assert!(total <= MAX_DURATION);
    // Events run during the load: `--duration` stretches their offsets with it.
    for e in &plan.events {
        prop_assert!(e.at < total, "{e:?} after a load of {total:?}");
    }
    // What `run` does with the plan: lay out the schedule, as scenario says
    // and stretched to the longest `--duration`.
    let shape = Shape::new(&load.stages, 1.0, None);
    prop_assert!(shape.total() <= MAX_DURATION + Duration::from_millis(1));
    let stretched = Shape::new(&load.stages, 1.0, Some(MAX_DURATION));
    prop_assert!(stretched.total() <= MAX_DURATION + Duration::from_millis(1));
    Ok(())
}

fn check(text: &str) -> Result<(), TestCaseError> {
    let env = |name: &str| (name == "SET").then(|| "value".to_owned());
    match scenario::load_str(text, Path::new(PATH), &env) {
        Ok(plan) => assert_bounded(&plan),
        Err(e) => assert_positioned(&e, text),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn near_valid_scenarios_are_refused_with_positions_or_accepted_within_limits(
        text in scenario_text()
    ) {
        check(&text)?;
    }

    #[test]
    fn edited_scenarios_are_refused_with_positions_or_accepted_within_limits(
        text in mutated_text()
    ) {
        check(&text)?;
    }

    #[test]
    fn arbitrary_text_never_panics_and_every_refusal_is_positioned(
        text in prop_oneof![
            any::<String>(),
            "[a-z:{}\\[\\], \n-]{0,200}",
            "(host|targets|checks|load|for|rate|[ :{}\n-]|[0-9]+|/s){0,60}",
        ]
    ) {
        check(&text)?;
    }
}

#[test]
fn the_generator_produces_accepted_scenarios_too() {
    // Guards the generator: a property over refusals only would prove little.
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let accepted = (0..300)
        .filter(|_| {
            let text = scenario_text()
                .new_tree(&mut runner)
                .expect("a value")
                .current();
            scenario::load_str(&text, Path::new(PATH), &|_| None).is_ok_and(|p| p.load.is_some())
        })
        .count();
    assert!(accepted >= 30, "only {accepted} of 300 scenarios accepted");
}
