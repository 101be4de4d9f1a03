//! Live progress of a load run: one line per target.
//!
//! elapsed / total, achieved vs intended rate, p50 / p99 of the last 5 s,
//! errors, dropped. Drawn with indicatif when stdout is a terminal and `CI`
//! is unset; otherwise one plain line per target every 10 s.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::time::Duration;

use hdrhistogram::Histogram;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::hdr::histogram;
use crate::load::schedule::Shape;
use crate::record::{Aggregator, Finished};

struct Line {
    name: String,
    target: usize,
    bar: Option<ProgressBar>,
    recent: VecDeque<(u64, Histogram<u64>)>,
    requests: u64,
    errors: u64,
    dropped: u64,
}

pub struct Progress {
    lines: Vec<Line>,
    checks: usize,
    shape: Shape,
    plain: bool,
    _multi: Option<MultiProgress>,
}

impl Progress {
    /// `targets`: (index in the plan, name) of every loaded target.
    pub fn new(targets: &[(usize, String)], checks: usize, shape: Shape) -> Progress {
        let fancy = std::io::stdout().is_terminal() && std::env::var_os("CI").is_none();
        let multi = fancy.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout()));
        let total = shape.total().as_secs().max(1);
        let width = targets.iter().map(|(_, n)| n.len()).max().unwrap_or(0);
        let lines = targets
            .iter()
            .map(|(target, name)| {
                let bar = multi.as_ref().map(|m| {
                    let b = m.add(ProgressBar::new(total));
                    let style =
                        ProgressStyle::with_template("{prefix} {bar:20} {pos:>4}/{len}s {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar());
                    b.set_style(style);
                    b.set_prefix(format!("{name:<width$}"));
                    b
                });
                Line {
                    name: name.clone(),
                    target: *target,
                    bar,
                    recent: VecDeque::new(),
                    requests: 0,
                    errors: 0,
                    dropped: 0,
                }
            })
            .collect();
        Progress {
            lines,
            checks,
            shape,
            plain: !fancy,
            _multi: multi,
        }
    }

    /// Takes one finished second.
    pub fn second(&mut self, done: &Finished, _agg: &Aggregator) {
        let t = Duration::from_secs(done.second + 1);
        let intended = self.shape.rate_at(Duration::from_secs(done.second));
        for line in &mut self.lines {
            let mut h = histogram();
            let (mut req, mut err, mut drop) = (0, 0, 0);
            for c in 0..self.checks {
                if let Some(Some(b)) = done.buckets.get(line.target * self.checks + c) {
                    let _ = h.add(&b.latency);
                    req += b.requests;
                    err += b.errors + b.server_errors();
                    drop += b.dropped;
                }
            }
            line.requests += req;
            line.errors += err;
            line.dropped += drop;
            line.recent.push_back((req, h));
            if line.recent.len() > 5 {
                line.recent.pop_front();
            }
            let mut last5 = histogram();
            for (_, h) in &line.recent {
                let _ = last5.add(h);
            }
            let ms = |q: f64| last5.value_at_quantile(q) as f64 / 1000.0;
            let msg = format!(
                "{req}/{intended:.0} req/s  p50 {:.2} ms  p99 {:.2} ms  errors {}  dropped {}",
                ms(0.5),
                ms(0.99),
                line.errors,
                line.dropped
            );
            match &line.bar {
                Some(b) => {
                    b.set_position(t.as_secs());
                    b.set_message(msg);
                }
                None if self.plain && (done.second + 1).is_multiple_of(10) => {
                    super::output::say!(
                        "{} {}s/{}s {msg}",
                        line.name,
                        t.as_secs(),
                        self.shape.total().as_secs()
                    );
                }
                None => {}
            }
        }
    }

    /// Clears the bars.
    pub fn finish(self) {
        for line in self.lines {
            if let Some(b) = line.bar {
                b.finish_and_clear();
            }
        }
    }
}
