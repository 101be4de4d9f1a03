//! What `cutover watch` records: its traffic, bounded for any length of watch.
//!
//! - A [`Ring`] of per-second [`Cell`]s per key (target × check), as long
//!   as the longest rolling window: each cell keeps its counters and the raw
//!   latencies of its few requests (a watch sends a low, bounded rate), so a
//!   window's histogram is built exactly when it is judged.
//! - [`Minutes`]: per-minute aggregates per key (counters and HDR
//!   histograms, encoded as [`Compact`]) for the last [`MINUTES_KEPT`]
//!   minutes; older minutes merge into per-hour aggregates, at most
//!   [`HOURS_KEPT`] of them (a scenario's longest duration is 7 days).
//!
//! Invariants: memory is bounded by (longest window × rate) for the ring
//! and by the two caps for the aggregates, whatever the watch's length; a
//! second is added once, in order (a gap is filled with empty seconds);
//! nothing here does I/O or judges anything.

use std::collections::VecDeque;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::probe::{Origin, Sample};
use crate::record::{Bucket, Compact};

/// Per-minute aggregates kept before they merge into hours (24 h).
pub const MINUTES_KEPT: usize = 24 * 60;
/// Per-hour aggregates kept (7 days, the longest watch).
pub const HOURS_KEPT: usize = 7 * 24;
/// Latencies one cell keeps; past it, requests are counted but their
/// latency is not (a watch sends far fewer per second per key).
pub const CELL_LATENCIES: usize = 4096;

/// What one key saw in one second.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cell {
    pub requests: u32,
    pub failed: u32,
    /// Transport errors (no answer).
    pub errors: u32,
    /// 503 answers by origin.
    pub s503: Vec<(Origin, u32)>,
    /// Latency of each request, in microseconds.
    pub latencies_us: Vec<u32>,
}

impl Cell {
    fn record(&mut self, sample: &Sample, latency: Duration, failed: bool) {
        self.requests += 1;
        self.failed += u32::from(failed);
        if sample.response.is_none() {
            self.errors += 1;
        }
        if let Some(r) = sample.response.as_ref().filter(|r| r.status == 503) {
            match self.s503.iter_mut().find(|(o, _)| *o == r.origin) {
                Some((_, n)) => *n += 1,
                None => self.s503.push((r.origin, 1)),
            }
        }
        if self.latencies_us.len() < CELL_LATENCIES {
            let us = crate::hdr::micros(latency).min(u64::from(u32::MAX)) as u32;
            self.latencies_us.push(us);
        }
    }
}

/// One second of every key.
#[derive(Clone, Debug, PartialEq)]
pub struct Second {
    /// Unix time of the second's start.
    pub unix: u64,
    pub cells: Vec<Cell>,
}

/// The last seconds, per key: what rolling windows are judged on.
#[derive(Debug)]
pub struct Ring {
    keys: usize,
    capacity: usize,
    seconds: VecDeque<Second>,
}

/// One second of a window: `(unix, requests, 503s by origin)`.
pub type SecondCount = (u64, u64, Vec<(Origin, u64)>);

/// A rolling window of one key, summed.
#[derive(Clone, Debug)]
pub struct Window {
    pub seconds: u64,
    pub requests: u64,
    pub failed: u64,
    pub errors: u64,
    pub s503: Vec<(Origin, u64)>,
    pub latency: Histogram<u64>,
    /// Per second, oldest first.
    pub series: Vec<SecondCount>,
}

impl Window {
    /// Failed requests over all requests (0 without requests).
    pub fn failed_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.failed as f64 / self.requests as f64
        }
    }

    /// 503 answers, from any origin.
    pub fn s503_total(&self) -> u64 {
        self.s503.iter().map(|(_, n)| n).sum()
    }

    /// Adds another key's window of the same seconds (a target's checks).
    pub fn merge(&mut self, other: &Window) {
        self.requests += other.requests;
        self.failed += other.failed;
        self.errors += other.errors;
        for &(o, k) in &other.s503 {
            match self.s503.iter_mut().find(|(x, _)| *x == o) {
                Some((_, m)) => *m += k,
                None => self.s503.push((o, k)),
            }
        }
        let _ = self.latency.add(&other.latency);
        for (mine, theirs) in self.series.iter_mut().zip(&other.series) {
            mine.1 += theirs.1;
            for &(o, k) in &theirs.2 {
                match mine.2.iter_mut().find(|(x, _)| *x == o) {
                    Some((_, m)) => *m += k,
                    None => mine.2.push((o, k)),
                }
            }
        }
    }
}

impl Ring {
    /// A ring for `keys` keys as long as `longest`.
    pub fn new(keys: usize, longest: Duration) -> Ring {
        let capacity = longest.as_secs().max(1) as usize;
        Ring {
            keys,
            capacity,
            seconds: VecDeque::with_capacity(capacity + 1),
        }
    }

    /// The seconds held (at most the longest window).
    pub fn len(&self) -> usize {
        self.seconds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seconds.is_empty()
    }

    /// Adds a closed second; returns the seconds that fell out (oldest first).
    pub fn push(&mut self, second: Second) {
        debug_assert_eq!(second.cells.len(), self.keys);
        if let Some(last) = self.seconds.back() {
            if second.unix <= last.unix {
                return; // out of order: already closed
            }
        }
        self.seconds.push_back(second);
        while self.seconds.len() > self.capacity {
            self.seconds.pop_front();
        }
    }

    /// The last `len` of key `key`, ending with the newest second.
    pub fn window(&self, key: usize, len: Duration) -> Window {
        let n = (len.as_secs() as usize).min(self.seconds.len());
        let mut w = Window {
            seconds: n as u64,
            requests: 0,
            failed: 0,
            errors: 0,
            s503: Vec::new(),
            latency: crate::hdr::histogram(),
            series: Vec::with_capacity(n),
        };
        for s in self.seconds.iter().skip(self.seconds.len() - n) {
            let Some(c) = s.cells.get(key) else { continue };
            w.requests += u64::from(c.requests);
            w.failed += u64::from(c.failed);
            w.errors += u64::from(c.errors);
            for &(o, k) in &c.s503 {
                match w.s503.iter_mut().find(|(x, _)| *x == o) {
                    Some((_, m)) => *m += u64::from(k),
                    None => w.s503.push((o, u64::from(k))),
                }
            }
            for &us in &c.latencies_us {
                w.latency.saturating_record(u64::from(us).max(1));
            }
            let s503 = c.s503.iter().map(|&(o, k)| (o, u64::from(k))).collect();
            w.series.push((s.unix, u64::from(c.requests), s503));
        }
        w
    }

    /// The newest second's start, if any.
    pub fn newest(&self) -> Option<u64> {
        self.seconds.back().map(|s| s.unix)
    }
}

/// The second being filled, for every key.
#[derive(Debug)]
pub struct Open {
    pub unix: u64,
    pub cells: Vec<Cell>,
}

impl Open {
    pub fn new(unix: u64, keys: usize) -> Open {
        Open {
            unix,
            cells: vec![Cell::default(); keys],
        }
    }

    /// Records one request of `key`.
    pub fn record(&mut self, key: usize, sample: &Sample, latency: Duration, failed: bool) {
        if let Some(c) = self.cells.get_mut(key) {
            c.record(sample, latency, failed);
        }
    }

    /// Closes it into a [`Second`].
    pub fn close(self) -> Second {
        Second {
            unix: self.unix,
            cells: self.cells,
        }
    }
}

/// One aggregate: a minute (or an hour) of every key.
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    /// Unix time of its start.
    pub unix: u64,
    /// Its length in seconds (60 or 3600).
    pub seconds: u64,
    pub keys: Vec<Compact>,
}

/// Per-minute aggregates for the last day, per-hour before that.
#[derive(Debug)]
pub struct Minutes {
    keys: usize,
    /// The minute being filled.
    current: Option<(u64, Vec<Bucket>)>,
    pub minutes: VecDeque<Aggregate>,
    pub hours: VecDeque<Aggregate>,
    /// The hour being filled from minutes that left the last day.
    hour: Option<(u64, Vec<Bucket>)>,
}

impl Minutes {
    pub fn new(keys: usize) -> Minutes {
        Minutes {
            keys,
            current: None,
            minutes: VecDeque::new(),
            hours: VecDeque::new(),
            hour: None,
        }
    }

    /// Adds one closed second.
    pub fn add(&mut self, second: &Second) {
        let minute = second.unix - second.unix % 60;
        if self.current.as_ref().is_some_and(|(m, _)| *m != minute) {
            self.close_minute();
        }
        let keys = self.keys;
        let (_, buckets) = self
            .current
            .get_or_insert_with(|| (minute, (0..keys).map(|_| Bucket::default()).collect()));
        for (b, c) in buckets.iter_mut().zip(&second.cells) {
            add_cell(b, c);
        }
    }

    /// Closes the minute being filled (at a minute's end, or at the end).
    pub fn close_minute(&mut self) {
        let Some((unix, buckets)) = self.current.take() else {
            return;
        };
        self.minutes.push_back(Aggregate {
            unix,
            seconds: 60,
            keys: buckets.iter().map(Bucket::compact).collect(),
        });
        while self.minutes.len() > MINUTES_KEPT {
            if let Some(old) = self.minutes.pop_front() {
                self.merge_into_hour(&old);
            }
        }
    }

    fn merge_into_hour(&mut self, minute: &Aggregate) {
        let hour = minute.unix - minute.unix % 3600;
        if self.hour.as_ref().is_some_and(|(h, _)| *h != hour) {
            self.close_hour();
        }
        let keys = self.keys;
        let (_, buckets) = self
            .hour
            .get_or_insert_with(|| (hour, (0..keys).map(|_| Bucket::default()).collect()));
        for (b, c) in buckets.iter_mut().zip(&minute.keys) {
            merge_compact(b, c);
        }
    }

    fn close_hour(&mut self) {
        let Some((unix, buckets)) = self.hour.take() else {
            return;
        };
        self.hours.push_back(Aggregate {
            unix,
            seconds: 3600,
            keys: buckets.iter().map(Bucket::compact).collect(),
        });
        while self.hours.len() > HOURS_KEPT {
            self.hours.pop_front();
        }
    }

    /// Every aggregate, oldest first: hours, the hour being merged, minutes.
    pub fn all(&self) -> Vec<Aggregate> {
        let mut out: Vec<Aggregate> = self.hours.iter().cloned().collect();
        if let Some((unix, buckets)) = &self.hour {
            out.push(Aggregate {
                unix: *unix,
                seconds: 3600,
                keys: buckets.iter().map(Bucket::compact).collect(),
            });
        }
        out.extend(self.minutes.iter().cloned());
        if let Some((unix, buckets)) = &self.current {
            out.push(Aggregate {
                unix: *unix,
                seconds: 60,
                keys: buckets.iter().map(Bucket::compact).collect(),
            });
        }
        out
    }
}

/// Adds one second's cell to a bucket (counters and latencies).
fn add_cell(b: &mut Bucket, c: &Cell) {
    b.requests += u64::from(c.requests);
    b.failed += u64::from(c.failed);
    b.errors += u64::from(c.errors);
    for &us in &c.latencies_us {
        b.latency.saturating_record(u64::from(us).max(1));
    }
    b.add_503s(c.s503.iter().map(|&(o, n)| (o, u64::from(n))));
}

/// Adds a closed minute to an hour's bucket, histograms losslessly.
fn merge_compact(b: &mut Bucket, c: &Compact) {
    b.requests += c.requests;
    b.failed += c.failed;
    b.errors += c.errors;
    if let Some(h) = crate::hdr::decode(&c.latency_hist) {
        let _ = b.latency.add(&h);
    }
    b.add_503s(c.s503_origins.iter().copied());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Response;

    fn sample(status: u16, origin: Origin) -> Sample {
        Sample {
            response: Some(Response {
                status,
                origin,
                ..Response::default()
            }),
            url: "http://shop.example.test/".into(),
            error: None,
            latency: Duration::from_millis(2),
            ttfb: None,
        }
    }

    fn second(unix: u64, keys: usize, per_key: u32, s503: u32) -> Second {
        let mut open = Open::new(unix, keys);
        for k in 0..keys {
            for i in 0..per_key {
                let s = if i < s503 {
                    sample(503, Origin::Gateway)
                } else {
                    sample(200, Origin::App)
                };
                open.record(k, &s, Duration::from_millis(2 + u64::from(i % 7)), i < s503);
            }
        }
        open.close()
    }

    #[test]
    fn a_window_sums_its_last_seconds_and_the_ring_keeps_only_the_longest() {
        let mut ring = Ring::new(2, Duration::from_secs(300));
        for t in 0..400 {
            ring.push(second(1_000 + t, 2, 5, u32::from(t >= 390)));
        }
        assert_eq!(ring.len(), 300);
        let w = ring.window(1, Duration::from_secs(60));
        assert_eq!(w.seconds, 60);
        assert_eq!(w.requests, 300);
        assert_eq!(w.failed, 10);
        assert_eq!(w.s503, vec![(Origin::Gateway, 10)]);
        assert_eq!(w.latency.len(), 300);
        assert_eq!(w.series.len(), 60);
        assert_eq!(w.series[59].0, 1_399);
        assert!((w.failed_ratio() - 10.0 / 300.0).abs() < 1e-12);
        // An out-of-order second is ignored.
        ring.push(second(1_000, 2, 5, 0));
        assert_eq!(ring.newest(), Some(1_399));
    }

    #[test]
    fn minutes_merge_into_hours_after_a_day_and_stay_bounded() {
        let mut m = Minutes::new(1);
        // Nine days of seconds, one request each.
        let start = 1_700_000_000 - 1_700_000_000 % 3600;
        let days = 9;
        for t in 0..days * 86_400 {
            m.add(&second(start + t, 1, 1, 0));
        }
        m.close_minute();
        assert_eq!(m.minutes.len(), MINUTES_KEPT);
        assert_eq!(m.hours.len(), HOURS_KEPT);
        let total: u64 = m.all().iter().map(|a| a.keys[0].requests).sum();
        // Kept: the last day as minutes, the hour being merged, and the 7
        // days of closed hours before it; the oldest 23 hours fell off.
        assert_eq!(total, 8 * 86_400 + 3_600);
        let hour = &m.hours[0];
        assert_eq!(hour.seconds, 3600);
        assert_eq!(hour.keys[0].requests, 3600);
        assert_eq!(
            crate::hdr::decode(&hour.keys[0].latency_hist).map(|h| h.len()),
            Some(3600)
        );
    }
}
