//! `cutover watch` on the command line: the terminal lines, the report
//! files, `events.ndjson`, and the final exit code.
//!
//! Every line starts with the wall-clock time (UTC, RFC 3339), so a
//! scrolling CI log or a pod's log reads on its own: alerts when raised and
//! cleared (a failing check is its `check_failing` alert), events and
//! marks, and a status line per target every 10 s (on a terminal, outside
//! CI, the status lines are redrawn in place every second instead, with the
//! other lines printed above them). The report files are rewritten at every
//! checkpoint (each file replaced whole) and once more at the end; each
//! alert change and event is appended to `events.ndjson` beside them.
//! `--metrics` serves Prometheus metrics while the watch runs;
//! `--webhook` posts each alert change (a failing webhook is logged, never
//! stops the watch). Both end after the final report.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::output::say;
use super::{Exit, OutputArgs};
use crate::analyze::alerts::{AlertChange, State};
use crate::report::{self, Report};
use crate::scenario::Plan;
use crate::watch::metrics::Metrics;
use crate::watch::webhook::{Notice, Webhook};
use crate::watch::{Sink, WatchOptions};

/// The watch's own command-line arguments.
pub struct Args {
    pub duration: Option<Duration>,
    pub metrics: Option<std::net::SocketAddr>,
    pub webhook: Option<reqwest::Url>,
    pub marks: PathBuf,
}

/// Runs the watch and returns its exit code.
pub async fn watch(plan: Plan, output: &OutputArgs, args: Args) -> Exit {
    let outputs = match report::outputs::prepare(
        output.out.as_deref(),
        output.junit.as_deref(),
        &plan.name,
        SystemTime::now(),
        output.force,
    ) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    // Ends the metrics server and the webhook once the final report is out.
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let metrics = match args.metrics {
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => {
                let m = std::sync::Arc::new(Metrics::new());
                let bound = listener.local_addr().map_or(addr, |a| a);
                tokio::spawn(crate::watch::metrics::serve(
                    listener,
                    std::sync::Arc::clone(&m),
                    done_rx.clone(),
                ));
                say!("{} metrics: http://{bound}/metrics (and /healthz)", now());
                Some(m)
            }
            Err(e) => {
                eprintln!("error: cannot listen on {addr} for --metrics ({e}): pick a free address, like 127.0.0.1:9464");
                return Exit::Usage;
            }
        },
        None => None,
    };
    let webhook = match args.webhook {
        Some(url) if !matches!(url.scheme(), "http" | "https") => {
            eprintln!(
                "error: --webhook takes an http or https URL, not `{}:`",
                url.scheme()
            );
            return Exit::Usage;
        }
        Some(url) => Some(Webhook::start(url, done_rx.clone())),
        None => None,
    };
    let (stop, signals) = super::signals::stop_on_signals();
    let wp = &plan.watch;
    say!(
        "{} watch: {:.1} req/s per target, checks every {}, windows {}, report every {} into {}",
        now(),
        wp.rate,
        humantime::format_duration(wp.every),
        wp.windows
            .iter()
            .map(|w| humantime::format_duration(*w).to_string())
            .collect::<Vec<_>>()
            .join(" and "),
        humantime::format_duration(wp.checkpoint),
        outputs.dir.display()
    );
    say!(
        "{} marks: `cutover mark NAME [--weights ingress=50,gateway=50]` adds an event (file {}); Ctrl-C ends the watch with the final report",
        now(),
        args.marks.display()
    );
    // On a terminal (and not in CI) the status lines are redrawn in place
    // every second; otherwise they are plain lines every 10 s.
    let live = {
        use std::io::IsTerminal as _;
        !output.quiet && std::io::stdout().is_terminal() && std::env::var_os("CI").is_none()
    };
    let mut sink = Terminal {
        live: live.then(Live::default),
        secrets: plan.secrets.clone(),
        dir: outputs.dir.clone(),
        junit: outputs.junit.clone(),
        quiet: output.quiet,
        write_error: None,
        metrics,
        webhook: webhook.clone(),
        scenario: plan.name.clone(),
    };
    let options = WatchOptions {
        duration: args.duration,
        marks: args.marks,
        status_every: Duration::from_secs(if live { 1 } else { 10 }),
    };
    let outcome = crate::watch::watch(plan, &options, &stop, &mut sink).await;
    signals.abort();
    if let Some(live) = sink.live.take() {
        live.clear();
    }
    if let Some(w) = &webhook {
        w.flush().await;
        let stats = w.stats();
        if stats.failed + stats.dropped + stats.pending > 0 {
            eprintln!(
                "warning: the webhook took {} alert changes; {} failed, {} were dropped from a full queue, {} were still waiting at the end",
                stats.delivered, stats.failed, stats.dropped, stats.pending
            );
        }
    }
    let _ = done_tx.send(true);
    if let Some(e) = sink.write_error {
        eprintln!("error: {e}");
        return Exit::ReportWrite;
    }
    let report = &outcome.report;
    let style = report::terminal::Style::detect(output.quiet);
    super::output::say_raw(&report::terminal::render(report, style));
    say!("report: {}", outputs.dir.display());
    if outcome.active == 0 && report.verdict == crate::report::model::Verdict::Pass {
        Exit::Pass
    } else {
        Exit::Fail
    }
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

fn at(unix: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(unix)).to_string()
}

/// The terminal and the files.
struct Terminal {
    secrets: Vec<String>,
    dir: PathBuf,
    junit: Option<PathBuf>,
    quiet: bool,
    /// The first report write that failed (the watch goes on; the exit says it).
    write_error: Option<String>,
    metrics: Option<std::sync::Arc<Metrics>>,
    webhook: Option<Webhook>,
    scenario: String,
    /// The status redrawn in place (a terminal), else `None`.
    live: Option<Live>,
}

/// One line per target, redrawn in place, with the other lines printed above.
#[derive(Default)]
struct Live {
    multi: Option<indicatif::MultiProgress>,
    bars: Vec<indicatif::ProgressBar>,
}

impl Live {
    fn show(&mut self, lines: &[String]) {
        let multi = self.multi.get_or_insert_with(|| {
            indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stdout())
        });
        while self.bars.len() < lines.len() {
            let bar = multi.add(indicatif::ProgressBar::new_spinner());
            bar.set_style(
                indicatif::ProgressStyle::with_template("{msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            self.bars.push(bar);
        }
        for (bar, line) in self.bars.iter().zip(lines) {
            bar.set_message(line.clone());
        }
    }

    /// Prints a line above the status lines.
    fn println(&self, text: &str) -> bool {
        match &self.multi {
            Some(m) => m.println(text).is_ok(),
            None => false,
        }
    }

    fn clear(self) {
        for bar in self.bars {
            bar.finish_and_clear();
        }
    }
}

impl Terminal {
    fn line(&self, text: &str) {
        if !self.quiet {
            let text = crate::report::redact::Redactor::new(&self.secrets).scrub(text);
            if !self.live.as_ref().is_some_and(|l| l.println(&text)) {
                say!("{text}");
            }
        }
    }

    fn append(&mut self, value: &serde_json::Value) {
        let mut value = value.clone();
        crate::report::redact::Redactor::new(&self.secrets).scrub_json(&mut value);
        if let Err(e) = report::atomic::append_line(&self.dir.join("events.ndjson"), &value) {
            self.write_error.get_or_insert(format!(
                "cannot append to {}: {e}",
                self.dir.join("events.ndjson").display()
            ));
        }
    }
}

impl Sink for Terminal {
    fn alert(&mut self, c: &AlertChange) {
        let who = [c.key.target.as_deref(), c.key.check.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let text = match c.state {
            State::Raised => format!(
                "{} RAISED  {} {who}: {}",
                at(c.at),
                c.key.rule.as_str(),
                c.message
            ),
            State::Cleared => format!(
                "{} CLEARED {} {who} (raised {}, for {})",
                at(c.at),
                c.key.rule.as_str(),
                at(c.raised_at),
                humantime::format_duration(Duration::from_secs(c.at.saturating_sub(c.raised_at)))
            ),
        };
        self.line(&text);
        if let Ok(v) = serde_json::to_value(c) {
            self.append(&serde_json::json!({ "type": "alert", "alert": v }));
            if let Some(w) = &self.webhook {
                let redactor = crate::report::redact::Redactor::new(&self.secrets);
                let mut fields = serde_json::json!({ "scenario": self.scenario, "alert": v });
                redactor.scrub_json(&mut fields);
                w.send(Notice {
                    text: redactor.scrub(&format!("cutover watch `{}`: {text}", self.scenario)),
                    fields,
                });
            }
        }
        if let Some(m) = &self.metrics {
            m.alert(
                c.key.rule.as_str(),
                c.key.target.as_deref().unwrap_or(""),
                c.state == State::Raised,
            );
        }
    }

    fn request(&mut self, target: &str, check: &str, done: &crate::watch::traffic::Done) {
        if let Some(m) = &self.metrics {
            let r = done.sample.response.as_ref();
            m.request(
                target,
                check,
                r.map(|r| r.status),
                r.map_or(crate::probe::Origin::Unknown, |r| r.origin),
                done.failed,
                done.sample.latency,
            );
        }
    }

    fn dns(&mut self, shares: &[crate::analyze::dns::Share]) {
        if let Some(m) = &self.metrics {
            for s in shares {
                m.dns_share(&s.target, s.observed, s.expected);
            }
        }
    }

    fn event(&mut self, unix: u64, name: &str, weights: Option<&BTreeMap<String, f64>>) {
        let w = weights
            .map(|w| {
                let parts: Vec<String> = w.iter().map(|(t, v)| format!("{t}={v}")).collect();
                format!(" (weights now {})", parts.join(","))
            })
            .unwrap_or_default();
        self.line(&format!("{} EVENT   {name}{w}", at(unix)));
        self.append(
            &serde_json::json!({ "type": "event", "at": unix, "name": name, "weights": weights }),
        );
    }

    fn status(&mut self, lines: &[String]) {
        let t = now();
        let redactor = crate::report::redact::Redactor::new(&self.secrets);
        let lines: Vec<String> = lines
            .iter()
            .map(|l| redactor.scrub(&format!("{t} {l}")))
            .collect();
        match self.live.as_mut() {
            Some(live) => live.show(&lines),
            None => {
                for l in &lines {
                    self.line(l);
                }
            }
        }
    }

    fn checks(&mut self, states: &[(String, String, bool)]) {
        // The terminal says a failing check once, as its `check_failing` alert.
        if let Some(m) = &self.metrics {
            for (target, check, passing) in states {
                m.check_state(target, check, *passing);
            }
        }
    }

    fn checkpoint(&mut self, report: &Report, _last: bool) {
        let report = match report::redact(report, &self.secrets) {
            Ok(r) => r,
            Err(e) => {
                self.write_error.get_or_insert(e.to_string());
                return;
            }
        };
        if let Err(e) = report::write_all(&report, &self.dir) {
            self.write_error.get_or_insert(e.to_string());
        }
        if let Some(j) = &self.junit {
            if let Err(e) = report::write_junit(&report, j) {
                self.write_error.get_or_insert(e.to_string());
            }
        }
    }
}
