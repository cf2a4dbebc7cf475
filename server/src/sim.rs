//! The synthetic internet: loopback servers that stand in for DNS providers,
//! CDN edges and origins, for tests, the simulator and the demo.

pub mod dns;
pub mod scenario;
pub mod simulate;
pub mod world;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::clock::SimClock;

/// Runs a simulation to `until`: whenever the simulated world is idle
/// (`loops` tasks asleep on the clock and `busy()` false), moves the clock
/// to the next deadline. Returns when no deadline is left before `until`.
pub async fn drive(clock: &SimClock, until: DateTime<Utc>, loops: usize, busy: impl Fn() -> bool) {
    drive_with(clock, until, loops, TimeDelta::zero(), busy, |_| ()).await;
}

/// Like `drive`, but steps at least `quantum` at a time (deadlines inside a
/// step are served together, at most `quantum` late) and calls `before` with
/// each new time before the clock moves there.
pub async fn drive_with(
    clock: &SimClock,
    until: DateTime<Utc>,
    loops: usize,
    quantum: TimeDelta,
    busy: impl Fn() -> bool,
    mut before: impl FnMut(DateTime<Utc>),
) {
    loop {
        // Let tasks woken by the last step run before judging idleness.
        for _ in 0..16 {
            tokio::task::yield_now().await;
        }
        if busy() || clock.sleepers() < loops {
            tokio::time::sleep(Duration::from_micros(200)).await;
            continue;
        }
        match clock.next_deadline() {
            Some(at) if at <= until => {
                let now = crate::clock::Clock::now(clock);
                let at = at.max(now + quantum).min(until);
                before(at);
                clock.advance_to(at);
                if at >= until {
                    return;
                }
            }
            _ => return,
        }
    }
}
