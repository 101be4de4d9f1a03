//! Waiting for an arrival's intended time, precisely and without spinning.
//!
//! tokio's timer wheel has a 1 ms resolution: sleeping until an intended time
//! wakes up to 1 ms late, which at loopback speeds would dominate the measured
//! latency. [`Pacer`] waits on a Linux `timerfd` registered with the runtime's
//! reactor instead (tens of µs late at most, no busy loop, no extra thread);
//! where a timerfd cannot be made it falls back to tokio's timer.
//! [`Pacing::Timer`] uses tokio's timer only, which is exact under
//! `tokio::time::pause()`, for tests.

use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::time::{Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::time::Instant;

/// How a worker waits for an arrival's intended time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pacing {
    /// A timerfd per driver: sub-millisecond precision (production).
    Precise,
    /// tokio's timer only: exact under `tokio::time::pause()` (tests).
    Timer,
}

/// Below this, one turn of the runtime may be enough to reach the time.
const SPIN: Duration = Duration::from_micros(50);

/// One driver's waiting.
pub struct Pacer {
    timerfd: Option<AsyncFd<OwnedFd>>,
}

impl Pacer {
    pub fn new(pacing: Pacing) -> Pacer {
        let timerfd = match pacing {
            Pacing::Timer => None,
            Pacing::Precise => rustix::time::timerfd_create(
                TimerfdClockId::Monotonic,
                TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
            )
            .ok()
            // SAFETY: the timerfd is an `OwnedFd` moved into the `AsyncFd`: it
            // stays open, and is the same descriptor, for the AsyncFd's lifetime.
            .and_then(|fd| unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.ok()),
        };
        Pacer { timerfd }
    }

    /// Returns at `due` (or just after); at once if `due` has passed.
    pub async fn until(&self, due: Instant) {
        let Some(fd) = &self.timerfd else {
            tokio::time::sleep_until(due).await;
            return;
        };
        let now = Instant::now();
        if due <= now {
            return;
        }
        let mut wait = due - now;
        if wait <= SPIN {
            // Give the runtime one turn (completions, other arrivals), then arm the timer:
            // a busy loop here would take the CPU from the server on a shared machine.
            tokio::task::yield_now().await;
            let now = Instant::now();
            if due <= now {
                return;
            }
            wait = due - now;
        }
        let spec = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: Timespec {
                tv_sec: wait.as_secs() as _,
                tv_nsec: wait.subsec_nanos() as _,
            },
        };
        if rustix::time::timerfd_settime(fd.get_ref(), TimerfdTimerFlags::empty(), &spec).is_err() {
            tokio::time::sleep_until(due).await;
            return;
        }
        loop {
            let Ok(mut ready) = fd.readable().await else {
                tokio::time::sleep_until(due).await;
                return;
            };
            let mut expirations = [0u8; 8];
            match ready.try_io(|inner| {
                rustix::io::read(inner.get_ref(), &mut expirations).map_err(std::io::Error::from)
            }) {
                Ok(_) => return,
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn precise_waits_reach_the_due_time() {
        let pacer = Pacer::new(Pacing::Precise);
        assert!(pacer.timerfd.is_some(), "timerfd is available on Linux");
        for micros in [5, 300, 2500] {
            let due = Instant::now() + Duration::from_micros(micros);
            pacer.until(due).await;
            // Never early; how late depends on the machine, so it is measured in bench/, not here.
            assert!(Instant::now() >= due);
        }
    }
}
