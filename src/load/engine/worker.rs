//! What each worker thread runs: a ticker and one driver per loaded target.
//!
//! [`worker_main`] owns the worker's recorder. Its ticker hands every second
//! on to the recorder when the worker's clock passes it, even when nothing
//! completes, so the aggregator never waits on an idle worker; when every
//! driver has ended it flushes the last second and finishes the recorder,
//! which closes the worker's end of the flush channel.
//!
//! [`drive`] walks the shape's phases, in order, for one target on one worker:
//!
//! - open: this worker's arrivals (`i ≡ worker mod workers`), each dispatched
//!   at its intended time (waited for by the [`Pacer`]) as a task of its own,
//!   latency measured from that time. An arrival that finds `cap` requests in
//!   flight is counted as dropped in the second it was due: never sent late,
//!   never backfilled.
//! - closed: this worker's share of the clients, each sending its next
//!   request when the last completes, until the phase ends.
//! - sockets: this worker's sockets (`j ≡ worker mod workers`), opened evenly
//!   over the ramp and held until the phase ends (`sockets.rs`).
//!
//! After a stop no request or socket starts; those in flight get `grace` to
//! finish, then are counted as cancelled in the second they were given up
//! (the recorder knows every request it was told was sent and not answered). Every request goes through a
//! [`RequestSender`], so the tests below drive all of this under paused time
//! with a synthetic sender.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::mix::XorShift;
use super::sender::{Answer, RequestSender};
use super::sockets::Socket;
use super::worker_plan::{share_of, WorkerPlan};
use super::Recorder;
use crate::load::pacing::Pacer;
use crate::load::schedule::Phase;
use crate::record::{Flush, WorkerRecorder};

/// Runs worker `worker`: one driver per target of `wp`, until all have ended.
pub(super) async fn worker_main<S: RequestSender>(
    worker: usize,
    wp: Arc<WorkerPlan>,
    keys: usize,
    start: Instant,
    tx: mpsc::UnboundedSender<Flush>,
    stop: watch::Receiver<bool>,
    sender: Rc<S>,
) {
    let rec: Recorder = Rc::new(RefCell::new(WorkerRecorder::new(worker, keys, tx)));
    // Seconds pass even when nothing completes: the ticker hands them on.
    let ticker = {
        let rec = Rc::clone(&rec);
        tokio::task::spawn_local(async move {
            let mut second = 1;
            loop {
                tokio::time::sleep_until(start + Duration::from_secs(second)).await;
                rec.borrow_mut().advance(second);
                second += 1;
            }
        })
    };
    let mut drivers = Vec::new();
    for t in 0..wp.targets.len() {
        let (wp, rec, stop, sender) = (
            Arc::clone(&wp),
            Rc::clone(&rec),
            stop.clone(),
            Rc::clone(&sender),
        );
        drivers.push(tokio::task::spawn_local(async move {
            drive(worker, &wp, t, start, &rec, stop, sender).await
        }));
    }
    for d in drivers {
        let _ = d.await;
    }
    ticker.abort();
    let mut rec = rec.borrow_mut();
    rec.advance(start.elapsed().as_secs());
    rec.finish();
}

/// Records one completed request in `second`: its sample with `latency`
/// and service time, and a gRPC call's code.
fn record(
    r: &mut WorkerRecorder,
    key: usize,
    second: u64,
    answer: &Answer,
    (latency, service): (Duration, Duration),
    failed: bool,
) {
    r.record_judged(key, second, &answer.sample, latency, service, failed);
    if let Some(code) = answer.grpc {
        let origin = answer
            .sample
            .response
            .as_ref()
            .map_or(crate::probe::Origin::Unknown, |resp| resp.origin);
        r.grpc(key, second, code, origin, failed);
    }
}

/// Runs every phase of the shape for one target on one worker.
async fn drive<S: RequestSender>(
    worker: usize,
    wp: &Arc<WorkerPlan>,
    t: usize,
    start: Instant,
    rec: &Recorder,
    mut stop: watch::Receiver<bool>,
    sender: Rc<S>,
) {
    let ctx = &wp.targets[t];
    let sockets_only = wp
        .shape
        .phases
        .iter()
        .all(|p| matches!(p, Phase::Sockets { .. }));
    if ctx.checks.is_empty() && !sockets_only {
        return;
    }
    let in_flight = Rc::new(Cell::new(0u64));
    let pacer = Pacer::new(wp.pacing);
    // Arrival k of target t picks its check from (t, k) alone, so workers
    // and shards pick what the unsharded run picks.
    let mix_seed = 0x9E37_79B9_7F4A_7C15 ^ t as u64;
    let mut arrivals = wp.shape.arrivals(wp.lane, wp.lanes).peekable();
    let stopped = |stop: &watch::Receiver<bool>| *stop.borrow();
    'phases: for phase in &wp.shape.phases {
        if stopped(&stop) {
            break;
        }
        match *phase {
            Phase::Open { end, .. } => {
                while let Some(a) = arrivals.next_if(|a| a.at < end) {
                    let due = start + a.at;
                    tokio::select! {
                        () = pacer.until(due) => {}
                        _ = stop.changed() => break 'phases,
                    }
                    if stopped(&stop) {
                        break 'phases;
                    }
                    let c = ctx.mix.pick_for(mix_seed, a.index);
                    let key = ctx.checks[c].key;
                    let second = (due - start).as_secs();
                    if in_flight.get() >= ctx.cap {
                        rec.borrow_mut().dropped(key, second);
                        continue;
                    }
                    in_flight.set(in_flight.get() + 1);
                    rec.borrow_mut().sent(key, second);
                    let (rec, in_flight) = (Rc::clone(rec), Rc::clone(&in_flight));
                    let wp = Arc::clone(wp);
                    let request = sender.send(t, c);
                    tokio::task::spawn_local(async move {
                        let answer = request.await;
                        let done = Instant::now();
                        let service = answer.sample.latency;
                        let failed = answer.fails(&wp.targets[t].checks[c]);
                        let mut r = rec.borrow_mut();
                        r.answered(key, second);
                        record(
                            &mut r,
                            key,
                            (done - start).as_secs(),
                            &answer,
                            (done - due, service),
                            failed,
                        );
                        drop(r);
                        in_flight.set(in_flight.get() - 1);
                    });
                }
            }
            Phase::Closed {
                end, concurrency, ..
            } => {
                let share = share_of(concurrency, wp.lanes as usize, wp.lane as usize);
                let end = start + end;
                let mut clients = Vec::new();
                for client in 0..share {
                    let (wp, rec, stop, sender) = (
                        Arc::clone(wp),
                        Rc::clone(rec),
                        stop.clone(),
                        Rc::clone(&sender),
                    );
                    clients.push(tokio::task::spawn_local(async move {
                        let ctx = &wp.targets[t];
                        let mut rng =
                            XorShift::new(0xD1B5_4A32_D192_ED03 ^ client ^ ((worker as u64) << 40));
                        while Instant::now() < end && !*stop.borrow() {
                            let c = ctx.mix.pick(&mut rng);
                            let key = ctx.checks[c].key;
                            let sent = (Instant::now() - start).as_secs();
                            rec.borrow_mut().sent(key, sent);
                            let answer = sender.send(t, c).await;
                            let done = Instant::now();
                            let failed = answer.fails(&ctx.checks[c]);
                            let mut r = rec.borrow_mut();
                            r.answered(key, sent);
                            let took = answer.sample.latency;
                            record(
                                &mut r,
                                key,
                                (done - start).as_secs(),
                                &answer,
                                (took, took),
                                failed,
                            );
                        }
                    }));
                }
                let all = async {
                    for c in clients {
                        let _ = c.await;
                    }
                };
                tokio::pin!(all);
                tokio::select! {
                    () = &mut all => {}
                    _ = stop.changed() => {
                        // Clients finish the request they are in, within the grace period.
                        let _ = tokio::time::timeout(wp.grace, &mut all).await;
                        break 'phases;
                    }
                }
            }
            Phase::Sockets {
                start: from,
                end,
                sockets,
                ramp,
                interval,
                check,
            } => {
                let (from, end) = (start + from, start + end);
                let mut held = Vec::new();
                let mut j = wp.lane;
                while j < sockets {
                    let open_at = from + ramp.mul_f64(j as f64 / sockets as f64);
                    let socket = Socket {
                        t,
                        check,
                        key: ctx.key_base + check,
                        open_at,
                        until: end,
                        interval,
                        run_start: start,
                    };
                    let (rec, stop, sender) = (Rc::clone(rec), stop.clone(), Rc::clone(&sender));
                    held.push(tokio::task::spawn_local(async move {
                        sender.socket(socket, rec, stop).await
                    }));
                    j += wp.lanes;
                }
                let all = async {
                    for h in held {
                        let _ = h.await;
                    }
                };
                tokio::pin!(all);
                tokio::select! {
                    () = &mut all => {}
                    _ = stop.changed() => {
                        let _ = tokio::time::timeout(wp.grace, &mut all).await;
                        break 'phases;
                    }
                }
            }
        }
    }
    // Let in-flight requests finish, up to the grace period after a stop.
    let grace_end = if stopped(&stop) {
        Instant::now() + wp.grace
    } else {
        Instant::now() + Duration::from_secs(3600)
    };
    while in_flight.get() > 0 && Instant::now() < grace_end {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[cfg(test)]
mod tests {
    //! The engine's schedule, drops and closed loop under paused time, with a
    //! synthetic sender (a fixed service time, no network): what is asserted is
    //! exact, because the virtual clock moves only when every task waits.
    use super::super::{Options, Pacing};
    use super::*;
    use crate::load::schedule::Shape;
    use crate::probe::{Origin, Response, Sample};
    use crate::record::Aggregator;

    struct SyntheticSender(Duration);

    impl RequestSender for SyntheticSender {
        fn send(
            &self,
            _t: usize,
            _c: usize,
        ) -> impl std::future::Future<Output = Answer> + 'static {
            let service = self.0;
            async move {
                let start = Instant::now();
                tokio::time::sleep(service).await;
                Answer::from(Sample {
                    url: "http://shop.example.test/".into(),
                    response: Some(Response {
                        status: 200,
                        origin: Origin::App,
                        ..Default::default()
                    }),
                    error: None,
                    latency: start.elapsed(),
                    ttfb: None,
                })
            }
        }
    }

    /// Runs the load section `load` with `workers` workers; stops at `stop_at`.
    async fn run_synthetic(
        load: &str,
        service: Duration,
        workers: usize,
        stop_at: Option<Duration>,
    ) -> Aggregator {
        let yaml = format!(
            "host: shop.example.test\ntargets:\n  ingress: {{ connect: 127.0.0.1:9 }}\nchecks:\n  - name: a\n    http: {{ path: /a }}\n  - name: b\n    http: {{ path: /b }}\n{load}"
        );
        let plan = crate::scenario::load_str(&yaml, std::path::Path::new("t.yaml"), &|_| None)
            .expect("valid");
        let load = plan.load.clone().expect("load section");
        let connectors = crate::run::checks::connectors(&plan).await;
        let shape = Shape::new(&load.stages, 1.0, None);
        let options = Options {
            workers,
            pacing: Pacing::Timer,
            ..Options::default()
        };
        let keys = plan.targets.len() * plan.checks.len();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = watch::channel(false);
        let local = tokio::task::LocalSet::new();
        let start = Instant::now();
        for w in 0..workers {
            let wp = Arc::new(WorkerPlan::new(
                &plan,
                &load,
                &connectors,
                &shape,
                &options,
                workers,
                w,
            ));
            local.spawn_local(worker_main(
                w,
                wp,
                keys,
                start,
                tx.clone(),
                stop_rx.clone(),
                Rc::new(SyntheticSender(service)),
            ));
        }
        drop(tx);
        if let Some(at) = stop_at {
            local.spawn_local(async move {
                tokio::time::sleep_until(start + at).await;
                let _ = stop_tx.send(true);
            });
        }
        local.await;
        let mut agg = Aggregator::new(workers, keys);
        while let Some(f) = rx.recv().await {
            agg.add(f);
        }
        agg.drain();
        agg
    }

    fn per_second(agg: &Aggregator) -> Vec<u64> {
        let mut out: Vec<u64> = Vec::new();
        for series in &agg.series {
            for s in series {
                let i = s.second as usize;
                if out.len() <= i {
                    out.resize(i + 1, 0);
                }
                out[i] += s.stats.requests;
            }
        }
        out
    }

    fn total(agg: &Aggregator) -> crate::record::Bucket {
        let mut b = crate::record::Bucket::default();
        for t in &agg.totals {
            b.merge(t);
        }
        b
    }

    #[tokio::test(start_paused = true)]
    async fn requests_start_at_their_intended_times() {
        let agg = run_synthetic(
            "load: { stages: [{ rate: 100/s, for: 2s }] }",
            Duration::from_millis(5),
            2,
            None,
        )
        .await;
        assert_eq!(per_second(&agg), [100, 100]);
        let t = total(&agg);
        // Every request was sent exactly when intended: latency is the service time.
        assert!(t.latency.equivalent(t.latency.min(), t.latency.max()));
        assert!(
            (5000..=5005).contains(&t.latency.max()),
            "{}",
            t.latency.max()
        );
        assert_eq!(t.dropped, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn ramps_follow_the_integrated_rate() {
        // N(t) = 10t + 5t²: 15 arrivals in the first second, 25 in the second.
        let agg = run_synthetic(
            "load: { stages: [{ from: 10/s, to: 30/s, for: 2s }] }",
            Duration::from_millis(5),
            2,
            None,
        )
        .await;
        assert_eq!(per_second(&agg), [15, 25]);
    }

    #[tokio::test(start_paused = true)]
    async fn stage_boundaries_switch_rates_exactly() {
        let agg = run_synthetic(
            "load: { stages: [{ rate: 10/s, for: 1s }, { rate: 20/s, for: 1s }] }",
            Duration::from_millis(5),
            1,
            None,
        )
        .await;
        assert_eq!(per_second(&agg), [10, 20]);
    }

    #[tokio::test(start_paused = true)]
    async fn arrivals_over_the_in_flight_cap_are_dropped_not_delayed() {
        // Every 10 ms an arrival; each takes 45 ms; at most 2 in flight: of every
        // 5 arrivals, 2 are sent and 3 dropped.
        let agg = run_synthetic(
            "load: { stages: [{ rate: 100/s, for: 1s }], max_in_flight: 2 }",
            Duration::from_millis(45),
            1,
            None,
        )
        .await;
        let t = total(&agg);
        assert_eq!((t.requests, t.dropped), (40, 60));
        // Those sent were sent on time.
        assert!(t.latency.max() <= 45_050, "{}", t.latency.max());
    }

    #[tokio::test(start_paused = true)]
    async fn closed_model_keeps_its_clients_busy() {
        let agg = run_synthetic(
            "load: { stages: [{ concurrency: 3, for: 1s }] }",
            Duration::from_millis(100),
            2,
            None,
        )
        .await;
        let t = total(&agg);
        assert_eq!(t.requests, 30);
        assert!((100_000..=100_100).contains(&t.latency.value_at_quantile(0.5)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_lets_closed_clients_finish_their_request() {
        // 2 clients, 100 ms each: at 250 ms each is in its third request, which completes.
        let agg = run_synthetic(
            "load: { stages: [{ concurrency: 2, for: 10s }] }",
            Duration::from_millis(100),
            1,
            Some(Duration::from_millis(250)),
        )
        .await;
        assert_eq!(total(&agg).requests, 6);
    }

    #[tokio::test(start_paused = true)]
    async fn the_mix_follows_its_weights() {
        let agg = run_synthetic(
            "load: { stages: [{ rate: 400/s, for: 1s }], mix: { a: 3, b: 1 } }",
            Duration::from_millis(1),
            1,
            None,
        )
        .await;
        let (a, b) = (agg.totals[0].requests, agg.totals[1].requests);
        assert_eq!(a + b, 400);
        assert!((270..=330).contains(&a), "a = {a}, b = {b}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_ends_the_schedule_and_counts_every_completed_request() {
        let agg = run_synthetic(
            "load: { stages: [{ rate: 100/s, for: 10s }] }",
            Duration::from_millis(5),
            2,
            Some(Duration::from_millis(505)),
        )
        .await;
        // Arrivals at 0, 10, …, 500 ms: 51, all completed within the grace period.
        assert_eq!(total(&agg).requests, 51);
    }
}
