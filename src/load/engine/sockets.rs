//! Socket stages: one held WebSocket, from its upgrade to the stage's end.
//!
//! The driver spreads a stage's sockets over its ramp and hands each one a
//! [`Socket`] (when to open, until when to hold, how often to send).
//! [`hold_socket`] upgrades at `open_at` (the handshake recorded as a sample,
//! latency from `open_at`), then sends the check's first message every
//! `interval` and records each reply's round trip in the second it came back.
//! Only one message is outstanding at a time: a tick that comes while a reply
//! is still awaited is counted as a dropped message, never sent late. A
//! reply the check does not expect is a failed message; a socket the server
//! closes, errors, overflows (a message over `websocket_max_message`) or
//! leaves unanswered for the check's timeout is one failed request (with its
//! error kind, counted by thresholds and the abort rail), and is not
//! reopened. At the stage's end or on a stop the socket
//! is closed (waiting at most 1 s for the close handshake).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::Recorder;
use crate::probe::websocket::{check_reply, end_of, next_data, upgrade, WsMessage, WsSpec};
use crate::probe::ErrorKind;
use crate::target::Connector;

/// One held WebSocket of a socket stage.
#[derive(Clone, Copy, Debug)]
pub(super) struct Socket {
    /// The target (index into the worker plan's targets).
    pub(super) t: usize,
    /// The check (index into the plan's checks).
    pub(super) check: usize,
    pub(super) key: usize,
    pub(super) open_at: Instant,
    pub(super) until: Instant,
    pub(super) interval: Duration,
    pub(super) run_start: Instant,
}

/// A socket of a socket stage: upgrade at its time, then one message every
/// `interval` until the stage ends, each reply's round trip recorded. A tick
/// that comes while a reply is still awaited is a dropped message; a socket
/// the server closes or drops early is a failure.
pub(super) async fn hold_socket(
    conn: &Connector,
    spec: &WsSpec,
    s: Socket,
    rec: &Recorder,
    mut stop: watch::Receiver<bool>,
) {
    let second = |at: Instant| (at - s.run_start).as_secs();
    tokio::select! {
        () = tokio::time::sleep_until(s.open_at) => {}
        _ = stop.changed() => return,
    }
    if *stop.borrow() || Instant::now() >= s.until {
        return;
    }
    let t0 = Instant::now();
    let mut ws = match upgrade(conn, spec).await {
        Ok(u) => {
            let now = Instant::now();
            rec.borrow_mut()
                .record(s.key, second(now), &u.handshake, now - s.open_at, now - t0);
            u.ws
        }
        Err(sample) => {
            let now = Instant::now();
            rec.borrow_mut()
                .record(s.key, second(now), &sample, now - s.open_at, now - t0);
            return;
        }
    };
    let message = spec
        .send
        .first()
        .cloned()
        .unwrap_or_else(|| WsMessage::Text("ping".into()));
    // The socket ends early: it counts as a failed request (and message).
    let failed = |rec: &Recorder, kind: ErrorKind| {
        let now = Instant::now();
        rec.borrow_mut().at(s.key, second(now)).socket_failed(kind);
    };
    let mut next = Instant::now() + s.interval;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next.min(s.until)) => {}
            frame = ws.next() => match frame {
                Some(Ok(Message::Close(_))) | None => {
                    failed(rec, ErrorKind::Reset);
                    return;
                }
                Some(Err(e)) => {
                    failed(rec, end_of(e).kind());
                    return;
                }
                Some(Ok(_)) => continue,
            },
            _ = stop.changed() => break,
        }
        if Instant::now() >= s.until || *stop.borrow() {
            break;
        }
        let sent = Instant::now();
        if let Err(e) = ws.send(message.to_message()).await {
            failed(rec, end_of(e).kind());
            return;
        }
        match next_data(&mut ws, spec.timeout).await {
            Ok(reply) => {
                let now = Instant::now();
                let mut r = rec.borrow_mut();
                let m = r.at(s.key, second(now)).messages();
                m.rtt.saturating_record(crate::record::micros(now - sent));
                m.replies += 1;
                if check_reply(&spec.reply, &message, &reply).is_some() {
                    m.failures += 1;
                }
            }
            Err(end) => {
                failed(rec, end.kind());
                return;
            }
        }
        next += s.interval;
        let now = Instant::now();
        while next <= now {
            next += s.interval;
            rec.borrow_mut().at(s.key, second(now)).messages().dropped += 1;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
}
