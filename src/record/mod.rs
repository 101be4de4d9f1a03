//! The recorder: per target × check × 1-second bucket, HDR histograms and counters.
//!
//! Each load worker owns a [`WorkerRecorder`] (no lock on the hot path): a
//! sample goes into the bucket of the second it completed in (a dropped
//! arrival into the second it was due). When a worker's clock passes a second,
//! it hands that second's buckets to the [`Aggregator`], which merges the
//! workers' buckets once all of them have reported the second, keeps a
//! [`Compact`] record of it (counters, quantiles, and the histograms
//! serialized losslessly as HdrHistogram V2 + base64) and folds the second
//! into the totals. Memory therefore depends on the number of seconds and
//! keys, never on the number of requests. How these are written into a report
//! is the report model's business (`report::stats`), not this module's.
//!
//! Latency is in microseconds, 3 significant digits, from 1 µs to 100 s;
//! longer values are clamped to 100 s (and counted in `clamped`). gRPC calls
//! are counted by status code too (`grpc_codes`, and the failed ones by code
//! and origin), beside their HTTP statuses; the codes of a bucket add up to
//! its calls that ended with a status.

pub mod window;

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

// The histogram helpers live in the leaf `hdr` (probes build histograms too);
// re-exported so `record::histogram` and friends keep working.
pub use crate::hdr::{decode, encode, histogram, micros, MAX_US};
use crate::probe::grpc::Code;
use crate::probe::{ErrorKind, Origin, Sample};

const KINDS: [ErrorKind; 9] = [
    ErrorKind::Dns,
    ErrorKind::ConnectRefused,
    ErrorKind::ConnectTimeout,
    ErrorKind::Tls,
    ErrorKind::Reset,
    ErrorKind::Timeout,
    ErrorKind::Protocol,
    ErrorKind::BodyTooLarge,
    ErrorKind::Other,
];
const ORIGINS: [Origin; 4] = [
    Origin::Gateway,
    Origin::Ingress,
    Origin::App,
    Origin::Unknown,
];

/// Everything recorded for one key in one second (or in total).
#[derive(Clone, Debug)]
pub struct Bucket {
    /// From the intended start (open model) or the actual start (closed model) to the last byte.
    pub latency: Histogram<u64>,
    /// From the actual send to the last byte.
    pub service: Histogram<u64>,
    /// Completed requests (with a response or an error).
    pub requests: u64,
    /// Requests that ended with a transport error.
    pub errors: u64,
    /// Arrivals not sent because `max_in_flight` was reached.
    pub dropped: u64,
    /// Requests still in flight when the grace after a stop ran out: sent,
    /// never answered, counted in the second they were given up.
    pub cancelled: u64,
    /// Requests that failed: a transport error, or an answer its check's
    /// expectation rejects (judged by the engine as it records).
    pub failed: u64,
    /// Failed answers by origin (transport errors have none).
    failed_origins: [u64; ORIGINS.len()],
    /// `(status, origin, count)` of the failed answers.
    pub failed_statuses: Vec<(u16, Origin, u64)>,
    /// Latencies above the histogram's range, clamped to it.
    pub clamped: u64,
    pub statuses: Vec<(u16, u64)>,
    error_kinds: [u64; KINDS.len()],
    origins: [u64; ORIGINS.len()],
    /// WebSocket messages held sockets exchanged (socket stages only).
    pub messages: Option<Box<Messages>>,
    /// 503 answers by origin (gateway, ingress, app, unknown).
    s503: [u64; ORIGINS.len()],
    /// `(code, count)` of the gRPC calls that ended with a status.
    pub grpc_codes: Vec<(Code, u64)>,
    /// `(code, origin, count)` of the failed gRPC calls (a code other than
    /// the check's `expect.grpc_code`).
    pub failed_grpc_codes: Vec<(Code, Origin, u64)>,
}

/// What held WebSockets exchanged: reply round-trip times and the misses.
#[derive(Clone, Debug)]
pub struct Messages {
    pub rtt: Histogram<u64>,
    /// Replies that arrived.
    pub replies: u64,
    /// Messages whose reply was wrong or missing, and sockets that ended early.
    pub failures: u64,
    /// Messages not sent because the previous reply was still awaited at their time.
    pub dropped: u64,
}

impl Default for Messages {
    fn default() -> Self {
        Messages {
            rtt: histogram(),
            replies: 0,
            failures: 0,
            dropped: 0,
        }
    }
}

/// The compact view of [`Messages`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CompactMessages {
    pub replies: u64,
    pub failures: u64,
    pub dropped: u64,
    pub rtt: Spread,
    /// HdrHistogram V2, base64 (µs).
    pub rtt_hist: String,
}

impl Default for Bucket {
    fn default() -> Self {
        Bucket {
            latency: histogram(),
            service: histogram(),
            requests: 0,
            errors: 0,
            dropped: 0,
            cancelled: 0,
            failed: 0,
            failed_origins: [0; ORIGINS.len()],
            failed_statuses: Vec::new(),
            clamped: 0,
            statuses: Vec::new(),
            error_kinds: [0; KINDS.len()],
            origins: [0; ORIGINS.len()],
            messages: None,
            s503: [0; ORIGINS.len()],
            grpc_codes: Vec::new(),
            failed_grpc_codes: Vec::new(),
        }
    }
}

impl Bucket {
    /// Records one completed request.
    pub fn record(
        &mut self,
        sample: &Sample,
        latency: std::time::Duration,
        service: std::time::Duration,
    ) {
        // Without a check's expectation: an error, or a status of 400 or more.
        let failed = sample.error.is_some() || sample.status().is_some_and(|s| s >= 400);
        self.record_judged(sample, latency, service, failed);
    }

    /// Records one completed request, `failed` as its check judged it.
    pub fn record_judged(
        &mut self,
        sample: &Sample,
        latency: std::time::Duration,
        service: std::time::Duration,
        failed: bool,
    ) {
        if failed {
            self.failed += 1;
            if let Some(r) = &sample.response {
                if let Some(i) = ORIGINS.iter().position(|o| *o == r.origin) {
                    self.failed_origins[i] += 1;
                }
                match self
                    .failed_statuses
                    .iter_mut()
                    .find(|(c, o, _)| *c == r.status && *o == r.origin)
                {
                    Some((_, _, n)) => *n += 1,
                    None => self.failed_statuses.push((r.status, r.origin, 1)),
                }
            }
        }
        self.requests += 1;
        let (l, s) = (micros(latency), micros(service));
        if l > MAX_US {
            self.clamped += 1;
        }
        self.latency.saturating_record(l);
        self.service.saturating_record(s);
        if let Some(e) = &sample.error {
            if sample.response.is_none() {
                self.errors += 1;
            }
            if let Some(i) = KINDS.iter().position(|k| *k == e.kind) {
                self.error_kinds[i] += 1;
            }
        }
        if let Some(r) = &sample.response {
            match self.statuses.iter_mut().find(|(code, _)| *code == r.status) {
                Some((_, n)) => *n += 1,
                None => self.statuses.push((r.status, 1)),
            }
            if let Some(i) = ORIGINS.iter().position(|o| *o == r.origin) {
                self.origins[i] += 1;
                if r.status == 503 {
                    self.s503[i] += 1;
                }
            }
        }
    }

    /// Counts the status `code` of a gRPC call already recorded, and with
    /// `failed` (a code its check does not expect) the call's `origin`.
    pub fn grpc(&mut self, code: Code, origin: Origin, failed: bool) {
        add_to(&mut self.grpc_codes, code, 1);
        if failed {
            match self
                .failed_grpc_codes
                .iter_mut()
                .find(|(c, o, _)| *c == code && *o == origin)
            {
                Some((_, _, n)) => *n += 1,
                None => self.failed_grpc_codes.push((code, origin, 1)),
            }
        }
    }

    /// Counts 503 answers by origin, as a watch's per-second cells carry them.
    pub fn add_503s(&mut self, by_origin: impl IntoIterator<Item = (Origin, u64)>) {
        for (o, n) in by_origin {
            if let Some(i) = ORIGINS.iter().position(|x| *x == o) {
                self.s503[i] += n;
                self.origins[i] += n;
            }
        }
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Bucket) {
        // Both histograms share bounds, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        let _ = self.service.add(&other.service);
        self.requests += other.requests;
        self.errors += other.errors;
        self.dropped += other.dropped;
        self.cancelled += other.cancelled;
        self.failed += other.failed;
        for (a, b) in self.failed_origins.iter_mut().zip(other.failed_origins) {
            *a += b;
        }
        for &(code, origin, n) in &other.failed_statuses {
            match self
                .failed_statuses
                .iter_mut()
                .find(|(c, o, _)| *c == code && *o == origin)
            {
                Some((_, _, m)) => *m += n,
                None => self.failed_statuses.push((code, origin, n)),
            }
        }
        self.clamped += other.clamped;
        for &(code, n) in &other.statuses {
            match self.statuses.iter_mut().find(|(c, _)| *c == code) {
                Some((_, m)) => *m += n,
                None => self.statuses.push((code, n)),
            }
        }
        for (a, b) in self.error_kinds.iter_mut().zip(other.error_kinds) {
            *a += b;
        }
        for (a, b) in self.origins.iter_mut().zip(other.origins) {
            *a += b;
        }
        for (a, b) in self.s503.iter_mut().zip(other.s503) {
            *a += b;
        }
        for &(code, n) in &other.grpc_codes {
            add_to(&mut self.grpc_codes, code, n);
        }
        for &(code, origin, n) in &other.failed_grpc_codes {
            match self
                .failed_grpc_codes
                .iter_mut()
                .find(|(c, o, _)| *c == code && *o == origin)
            {
                Some((_, _, m)) => *m += n,
                None => self.failed_grpc_codes.push((code, origin, n)),
            }
        }
        if let Some(o) = &other.messages {
            let m = self.messages.get_or_insert_with(Box::default);
            let _ = m.rtt.add(&o.rtt);
            m.replies += o.replies;
            m.failures += o.failures;
            m.dropped += o.dropped;
        }
    }

    /// A held socket that had upgraded failed (the server closed or dropped
    /// it early, a message over the cap, no reply in time): the socket,
    /// counted as one request at its upgrade, now counts as failed.
    pub fn socket_failed(&mut self, kind: ErrorKind) {
        self.failed += 1;
        self.errors += 1;
        if let Some(i) = KINDS.iter().position(|k| *k == kind) {
            self.error_kinds[i] += 1;
        }
        self.messages().failures += 1;
    }

    /// The message counters of this bucket, created on first use.
    pub fn messages(&mut self) -> &mut Messages {
        self.messages.get_or_insert_with(Box::default)
    }

    /// 503 answers by origin name, for spike detection.
    pub fn s503_by_origin(&self) -> Vec<(String, u64)> {
        ORIGINS
            .iter()
            .zip(self.s503)
            .filter(|(_, n)| *n > 0)
            .map(|(o, n)| (o.as_str().to_owned(), n))
            .collect()
    }

    /// Responses with a 5xx status.
    pub fn server_errors(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(c, _)| *c >= 500)
            .map(|(_, n)| n)
            .sum()
    }

    /// The bucket a [`Compact`] was made of, for `cutover merge`: the
    /// counters as they were and the histograms decoded losslessly. `None`
    /// when a histogram does not decode.
    pub fn restore(c: &Compact) -> Option<Bucket> {
        let hist = |text: &str| -> Option<Histogram<u64>> {
            let mut h = histogram();
            if !text.is_empty() {
                h.add(decode(text)?).ok()?;
            }
            Some(h)
        };
        let by_origin = |list: &[(Origin, u64)]| {
            let mut a = [0; ORIGINS.len()];
            for (o, n) in list {
                if let Some(i) = ORIGINS.iter().position(|x| x == o) {
                    a[i] += n;
                }
            }
            a
        };
        let mut error_kinds = [0; KINDS.len()];
        for (k, n) in &c.error_kinds {
            if let Some(i) = KINDS.iter().position(|x| x == k) {
                error_kinds[i] += n;
            }
        }
        let messages = match &c.messages {
            Some(m) => Some(Box::new(Messages {
                rtt: hist(&m.rtt_hist)?,
                replies: m.replies,
                failures: m.failures,
                dropped: m.dropped,
            })),
            None => None,
        };
        Some(Bucket {
            latency: hist(&c.latency_hist)?,
            service: hist(&c.service_hist)?,
            requests: c.requests,
            errors: c.errors,
            dropped: c.dropped,
            cancelled: c.cancelled,
            failed: c.failed,
            failed_origins: by_origin(&c.failed_origins),
            failed_statuses: c.failed_statuses.clone(),
            clamped: c.clamped,
            statuses: c.statuses.clone(),
            error_kinds,
            origins: by_origin(&c.origins),
            messages,
            s503: by_origin(&c.s503_origins),
            grpc_codes: c.grpc_codes.clone(),
            failed_grpc_codes: c.failed_grpc_codes.clone(),
        })
    }

    /// The compact view of this bucket: counters by typed key, quantiles,
    /// and the histograms encoded.
    pub fn compact(&self) -> Compact {
        let mut statuses: Vec<_> = self.statuses.clone();
        statuses.sort_unstable();
        Compact {
            requests: self.requests,
            errors: self.errors,
            dropped: self.dropped,
            cancelled: self.cancelled,
            failed: self.failed,
            failed_origins: ORIGINS
                .iter()
                .copied()
                .zip(self.failed_origins)
                .filter(|(_, n)| *n > 0)
                .collect(),
            failed_statuses: {
                let mut f = self.failed_statuses.clone();
                f.sort_unstable_by_key(|(c, o, _)| (*c, o.as_str()));
                f
            },
            clamped: self.clamped,
            statuses,
            error_kinds: KINDS
                .iter()
                .copied()
                .zip(self.error_kinds)
                .filter(|(_, n)| *n > 0)
                .collect(),
            origins: ORIGINS
                .iter()
                .copied()
                .zip(self.origins)
                .filter(|(_, n)| *n > 0)
                .collect(),
            s503_origins: ORIGINS
                .iter()
                .copied()
                .zip(self.s503)
                .filter(|(_, n)| *n > 0)
                .collect(),
            latency: Spread::of(&self.latency),
            service: Spread::of(&self.service),
            latency_hist: encode(&self.latency),
            service_hist: encode(&self.service),
            messages: self.messages.as_ref().map(|m| CompactMessages {
                replies: m.replies,
                failures: m.failures,
                dropped: m.dropped,
                rtt: Spread::of(&m.rtt),
                rtt_hist: encode(&m.rtt),
            }),
            grpc_codes: {
                let mut g = self.grpc_codes.clone();
                g.sort_unstable_by_key(|(c, _)| c.number());
                g
            },
            failed_grpc_codes: {
                let mut f = self.failed_grpc_codes.clone();
                f.sort_unstable_by_key(|(c, o, _)| (c.number(), o.as_str()));
                f
            },
        }
    }
}

/// Adds `n` to `code`'s count in `list`.
fn add_to(list: &mut Vec<(Code, u64)>, code: Code, n: u64) {
    match list.iter_mut().find(|(c, _)| *c == code) {
        Some((_, m)) => *m += n,
        None => list.push((code, n)),
    }
}

/// Latency quantiles of one histogram, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Spread {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(h: &Histogram<u64>) -> Spread {
        if h.is_empty() {
            return Spread::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Spread {
            min: ms(h.min()),
            mean: h.mean() / 1000.0,
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

/// A closed bucket kept compactly: what one key saw in one second (or in all).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Compact {
    pub requests: u64,
    pub errors: u64,
    pub dropped: u64,
    pub cancelled: u64,
    pub failed: u64,
    pub failed_origins: Vec<(Origin, u64)>,
    /// `(status, origin, count)` of the failed answers, by status.
    pub failed_statuses: Vec<(u16, Origin, u64)>,
    pub clamped: u64,
    /// `(status, count)`, by status.
    pub statuses: Vec<(u16, u64)>,
    pub error_kinds: Vec<(ErrorKind, u64)>,
    pub origins: Vec<(Origin, u64)>,
    /// 503 answers by origin.
    pub s503_origins: Vec<(Origin, u64)>,
    pub latency: Spread,
    pub service: Spread,
    /// HdrHistogram V2, base64: merge and re-analyse later without loss.
    pub latency_hist: String,
    pub service_hist: String,
    /// Messages of held WebSockets (socket stages only).
    pub messages: Option<CompactMessages>,
    /// `(code, count)` of gRPC calls, by code number.
    pub grpc_codes: Vec<(Code, u64)>,
    /// `(code, origin, count)` of the failed gRPC calls, by code number.
    pub failed_grpc_codes: Vec<(Code, Origin, u64)>,
}

/// One second of one key.
#[derive(Clone, Debug, PartialEq)]
pub struct SecondRecord {
    /// Seconds since the load started.
    pub second: u64,
    pub stats: Compact,
}

/// A worker's buckets for one second, handed to the aggregator.
#[derive(Debug)]
pub struct Flush {
    pub worker: usize,
    pub second: u64,
    /// `(key, bucket)` for the keys that saw anything in that second.
    pub buckets: Vec<(usize, Box<Bucket>)>,
    /// `(key, [(second it started, count)])`: requests still in flight when
    /// the second ended, for the keys that have any.
    pub outstanding: Vec<(usize, Vec<(u64, u64)>)>,
}

/// The per-thread recorder of a load worker.
pub struct WorkerRecorder {
    worker: usize,
    second: u64,
    buckets: Vec<Option<Box<Bucket>>>,
    /// Per key: requests in flight, by the second they started.
    outstanding: Vec<BTreeMap<u64, u64>>,
    out: tokio::sync::mpsc::UnboundedSender<Flush>,
    /// After [`WorkerRecorder::finish`], late completions are ignored: they
    /// were counted as cancelled.
    finished: bool,
}

impl WorkerRecorder {
    pub fn new(worker: usize, keys: usize, out: tokio::sync::mpsc::UnboundedSender<Flush>) -> Self {
        WorkerRecorder {
            worker,
            second: 0,
            buckets: (0..keys).map(|_| None).collect(),
            outstanding: vec![BTreeMap::new(); keys],
            out,
            finished: false,
        }
    }

    fn bucket(&mut self, key: usize, second: u64) -> &mut Bucket {
        self.advance(second);
        self.buckets[key].get_or_insert_with(Box::default)
    }

    /// Records a completed request that finished in `second`.
    pub fn record(
        &mut self,
        key: usize,
        second: u64,
        sample: &Sample,
        latency: std::time::Duration,
        service: std::time::Duration,
    ) {
        if self.finished {
            return;
        }
        self.bucket(key, second).record(sample, latency, service);
    }

    /// Records a completed request that finished in `second`, `failed` as
    /// its check judged it.
    pub fn record_judged(
        &mut self,
        key: usize,
        second: u64,
        sample: &Sample,
        latency: std::time::Duration,
        service: std::time::Duration,
        failed: bool,
    ) {
        if self.finished {
            return;
        }
        self.bucket(key, second)
            .record_judged(sample, latency, service, failed);
    }

    /// The gRPC status `code` of a call of `key` recorded in `second`
    /// (with [`WorkerRecorder::record_judged`]), `failed` as its check judged it.
    pub fn grpc(&mut self, key: usize, second: u64, code: Code, origin: Origin, failed: bool) {
        if self.finished {
            return;
        }
        self.bucket(key, second).grpc(code, origin, failed);
    }

    /// A request of `key` was sent in second `started`; it is outstanding
    /// until [`WorkerRecorder::answered`].
    pub fn sent(&mut self, key: usize, started: u64) {
        *self.outstanding[key].entry(started).or_insert(0) += 1;
    }

    /// The request of `key` sent in second `started` is no longer outstanding.
    pub fn answered(&mut self, key: usize, started: u64) {
        if let Some(n) = self.outstanding[key].get_mut(&started) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.outstanding[key].remove(&started);
            }
        }
    }

    /// Requests still in flight, over every key.
    pub fn in_flight(&self) -> u64 {
        self.outstanding.iter().flat_map(|m| m.values()).sum()
    }

    /// The bucket of `key` in `second`, for counters the engine keeps itself.
    pub fn at(&mut self, key: usize, second: u64) -> &mut Bucket {
        self.bucket(key, second)
    }

    /// Counts an arrival dropped in `second`.
    pub fn dropped(&mut self, key: usize, second: u64) {
        self.bucket(key, second).dropped += 1;
    }

    /// Hands every second before `second` to the aggregator.
    pub fn advance(&mut self, second: u64) {
        while self.second < second {
            self.flush();
            self.second += 1;
        }
    }

    fn flush(&mut self) {
        let buckets = self
            .buckets
            .iter_mut()
            .enumerate()
            .filter_map(|(k, b)| b.take().map(|b| (k, b)))
            .collect();
        let outstanding = self
            .outstanding
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.is_empty())
            .map(|(k, m)| (k, m.iter().map(|(s, n)| (*s, *n)).collect()))
            .collect();
        // The aggregator outlives the workers; a closed channel means the run is over.
        let _ = self.out.send(Flush {
            worker: self.worker,
            second: self.second,
            buckets,
            outstanding,
        });
    }

    /// The worker is done: requests still in flight are counted as
    /// cancelled in the current second, which is flushed.
    pub fn finish(&mut self) {
        let second = self.second;
        for key in 0..self.outstanding.len() {
            let n: u64 = std::mem::take(&mut self.outstanding[key]).values().sum();
            if n > 0 {
                self.bucket(key, second).cancelled += n;
            }
        }
        self.flush();
        self.second += 1;
        self.finished = true;
    }
}

/// One optional bucket per key.
pub type Buckets = Vec<Option<Box<Bucket>>>;

/// Merges the workers' seconds into per-key series and totals.
pub struct Aggregator {
    workers: usize,
    keys: usize,
    /// Per second: how many workers reported it, the merged buckets and
    /// outstanding requests so far.
    pending: BTreeMap<u64, (usize, Buckets, Outstanding)>,
    /// Per key: one entry per finished second that saw anything.
    pub series: Vec<Vec<SecondRecord>>,
    /// Per key: everything.
    pub totals: Vec<Bucket>,
    /// Seconds finished so far (all workers reported them).
    pub finished: u64,
}

/// Per key: requests in flight at the end of a second, `(second it started, count)`.
pub type Outstanding = Vec<Vec<(u64, u64)>>;

/// A second all workers have reported, merged per key.
pub struct Finished {
    pub second: u64,
    pub buckets: Vec<Option<Box<Bucket>>>,
    /// Per key: what was still in flight when the second ended, by start second.
    pub outstanding: Outstanding,
}

impl Aggregator {
    pub fn new(workers: usize, keys: usize) -> Self {
        Aggregator {
            workers,
            keys,
            pending: BTreeMap::new(),
            series: vec![Vec::new(); keys],
            totals: (0..keys).map(|_| Bucket::default()).collect(),
            finished: 0,
        }
    }

    /// An aggregator holding finished seconds and totals made elsewhere
    /// (`cutover merge` restores them from saved reports).
    pub fn restored(series: Vec<Vec<SecondRecord>>, totals: Vec<Bucket>) -> Self {
        let finished = series
            .iter()
            .filter_map(|s| s.last())
            .map(|r| r.second + 1)
            .max()
            .unwrap_or(0);
        Aggregator {
            workers: 1,
            keys: totals.len(),
            pending: BTreeMap::new(),
            series,
            totals,
            finished,
        }
    }

    /// Takes one flush; returns the seconds it completed, in order.
    pub fn add(&mut self, flush: Flush) -> Vec<Finished> {
        let keys = self.keys;
        let entry = self
            .pending
            .entry(flush.second)
            .or_insert_with(|| (0, (0..keys).map(|_| None).collect(), vec![Vec::new(); keys]));
        entry.0 += 1;
        for (k, b) in flush.buckets {
            match &mut entry.1[k] {
                Some(mine) => mine.merge(&b),
                slot @ None => *slot = Some(b),
            }
        }
        for (k, list) in flush.outstanding {
            for (started, n) in list {
                match entry.2[k].iter_mut().find(|(s, _)| *s == started) {
                    Some((_, m)) => *m += n,
                    None => entry.2[k].push((started, n)),
                }
            }
        }
        let mut done = Vec::new();
        while let Some(entry) = self.pending.first_entry() {
            if entry.get().0 < self.workers || *entry.key() != self.finished {
                break;
            }
            let (second, (_, buckets, outstanding)) = entry.remove_entry();
            self.close(second, &buckets);
            done.push(Finished {
                second,
                buckets,
                outstanding,
            });
        }
        done
    }

    /// Closes every pending second (workers that stopped early report no more).
    pub fn drain(&mut self) -> Vec<Finished> {
        let mut done = Vec::new();
        while let Some((second, (_, buckets, outstanding))) = self.pending.pop_first() {
            self.close(second, &buckets);
            done.push(Finished {
                second,
                buckets,
                outstanding,
            });
        }
        done
    }

    fn close(&mut self, second: u64, buckets: &[Option<Box<Bucket>>]) {
        for (k, b) in buckets.iter().enumerate() {
            if let Some(b) = b {
                self.totals[k].merge(b);
                self.series[k].push(SecondRecord {
                    second,
                    stats: b.compact(),
                });
            }
        }
        self.finished = second + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{ProbeError, Response};
    use std::time::Duration;

    fn ok(status: u16) -> Sample {
        Sample {
            url: "http://x/".into(),
            response: Some(Response {
                status,
                origin: Origin::App,
                ..Default::default()
            }),
            error: None,
            latency: Duration::ZERO,
            ttfb: None,
        }
    }

    /// A deterministic spread of latencies (xorshift), in µs.
    fn values(n: usize, seed: u64) -> Vec<u64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                1 + x % 2_000_000
            })
            .collect()
    }

    #[test]
    fn merged_histograms_equal_one_histogram_of_all_values() {
        let vals = values(50_000, 42);
        let mut whole = histogram();
        let mut parts: Vec<Histogram<u64>> = (0..7).map(|_| histogram()).collect();
        for (i, v) in vals.iter().enumerate() {
            whole.record(*v).unwrap();
            parts[i % 7].record(*v).unwrap();
        }
        let mut merged = histogram();
        for p in &parts {
            merged.add(p).unwrap();
        }
        assert_eq!(merged, whole);
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(merged.value_at_quantile(q), whole.value_at_quantile(q));
        }
    }

    #[test]
    fn a_restored_bucket_is_the_bucket_that_was_compacted() {
        let mut b = Bucket::default();
        for (i, v) in values(5_000, 7).iter().enumerate() {
            let s = match i % 9 {
                0 => ok(503),
                1 => ok(404),
                _ => ok(200),
            };
            b.record_judged(
                &s,
                Duration::from_micros(*v),
                Duration::from_micros(*v / 3),
                i % 9 < 2,
            );
        }
        b.socket_failed(ErrorKind::Reset);
        b.messages().rtt.record(1_234).unwrap();
        b.dropped = 17;
        b.cancelled = 3;
        for (code, origin, failed) in [
            (Code::Unavailable, Origin::Gateway, true),
            (Code::Ok, Origin::App, false),
            (Code::Unavailable, Origin::Ingress, true),
            (Code::Ok, Origin::App, false),
        ] {
            b.grpc(code, origin, failed);
        }
        let c = b.compact();
        assert_eq!(c.grpc_codes, [(Code::Ok, 2), (Code::Unavailable, 2)]);
        let restored = Bucket::restore(&c).expect("decodes");
        assert_eq!(restored.compact(), c);
        // …and through the report's form, as `cutover merge` reads it back.
        let stats = crate::report::stats::Stats::from(&c);
        assert_eq!(stats.grpc_codes["UNAVAILABLE"], 2);
        assert_eq!(stats.failed_grpc_codes["UNAVAILABLE"]["gateway"], 1);
        assert!(
            stats
                .breakdown()
                .starts_with("OK ×2 · UNAVAILABLE ×1 gateway · UNAVAILABLE ×1 ingress"),
            "{}",
            stats.breakdown()
        );
        let back = Compact::try_from(&stats).expect("reads back");
        assert_eq!(
            (back.grpc_codes, back.failed_grpc_codes),
            (c.grpc_codes.clone(), c.failed_grpc_codes.clone())
        );
        assert_eq!(restored.latency, b.latency);
        // Two restored halves merge into the whole, exactly.
        let mut twice = restored.clone();
        twice.merge(&restored);
        assert_eq!(twice.requests, 2 * b.requests);
        assert_eq!(twice.latency.len(), 2 * b.latency.len());
        assert_eq!(
            twice.latency.value_at_quantile(0.99),
            b.latency.value_at_quantile(0.99)
        );
        assert!(Bucket::restore(&Compact {
            latency_hist: "not base64!".into(),
            ..c
        })
        .is_none());
    }

    #[test]
    fn per_second_buckets_add_up_to_the_totals() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut workers: Vec<WorkerRecorder> = (0..2)
            .map(|w| WorkerRecorder::new(w, 3, tx.clone()))
            .collect();
        let vals = values(3000, 9);
        for (i, v) in vals.iter().enumerate() {
            let w = &mut workers[i % 2];
            let second = (i / 500) as u64;
            let s = if i % 10 == 0 { ok(503) } else { ok(200) };
            w.record(
                i % 3,
                second,
                &s,
                Duration::from_micros(*v),
                Duration::from_micros(*v / 2),
            );
            if i % 100 == 0 {
                w.dropped(i % 3, second);
            }
        }
        let mut err = Sample::failed(
            "http://x/".into(),
            ProbeError::new(ErrorKind::Reset, "reset"),
            Duration::ZERO,
        );
        err.latency = Duration::from_millis(1);
        workers[0].record(
            0,
            5,
            &err,
            Duration::from_millis(1),
            Duration::from_millis(1),
        );
        for mut w in workers {
            w.finish();
        }
        drop(tx);
        let mut agg = Aggregator::new(2, 3);
        let mut finished = Vec::new();
        while let Ok(f) = rx.try_recv() {
            finished.extend(agg.add(f).into_iter().map(|f| f.second));
        }
        assert_eq!(
            finished,
            (0..6).collect::<Vec<_>>(),
            "every second closes once, in order"
        );
        let mut all_requests = 0;
        for k in 0..3 {
            let series = &agg.series[k];
            let sum: u64 = series.iter().map(|s| s.stats.requests).sum();
            assert_eq!(sum, agg.totals[k].requests);
            let dropped: u64 = series.iter().map(|s| s.stats.dropped).sum();
            assert_eq!(dropped, agg.totals[k].dropped);
            let mut merged = histogram();
            for s in series {
                merged.add(decode(&s.stats.latency_hist).unwrap()).unwrap();
            }
            assert_eq!(merged, agg.totals[k].latency);
            all_requests += agg.totals[k].requests;
        }
        assert_eq!(all_requests, 3001);
        let t0 = agg.totals[0].compact();
        assert_eq!(t0.errors, 1);
        assert_eq!(t0.error_kinds, vec![(ErrorKind::Reset, 1)]);
        assert_eq!(
            agg.totals.iter().map(|t| t.server_errors()).sum::<u64>(),
            300
        );
        assert_eq!(agg.totals.iter().map(|t| t.dropped).sum::<u64>(), 30);
    }
}
