//! The synthetic internet: loopback servers that stand in for DNS providers,
//! CDN edges and origins, for tests, the simulator and the demo.

pub mod dns;
pub mod world;

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::SimClock;

/// Runs a simulation to `until`: whenever the simulated world is idle
/// (`loops` tasks asleep on the clock and `busy()` false), moves the clock
/// to the next deadline. Returns when no deadline is left before `until`.
pub async fn drive(clock: &SimClock, until: DateTime<Utc>, loops: usize, busy: impl Fn() -> bool) {
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
            Some(at) if at <= until => clock.advance_to(at),
            _ => return,
        }
    }
}
