//! The synthetic internet: loopback servers that stand in for DNS providers,
//! CDN edges and origins, for tests, the simulator and the demo.

pub mod dns;
pub mod front;
pub mod mailbox;
pub mod receiver;
pub mod scenario;
pub mod simulate;
pub mod world;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::clock::{Clock, SimClock};
use crate::monitor::Monitor;

/// Plays `monitor` on `clock` to `until`, one step at a time, as its live
/// loop would: whenever the other `loops` tasks that sleep on the clock
/// (the correlation task) are asleep and have taken every observation the
/// monitor passed on, moves the clock to the next deadline,
/// the monitor's or theirs, steps at least `quantum` at a time (deadlines
/// inside a step are served together, at most `quantum` late) and calls
/// `before` with each new time before the clock moves there. When the
/// monitor is due it runs `run_once` and settles every probe that step
/// started before the clock moves again. The step at `until` is played,
/// and what it passed on taken in before this returns, so a snapshot read
/// then is the step's last.
pub async fn drive(
    monitor: &mut Monitor,
    clock: &SimClock,
    until: DateTime<Utc>,
    loops: usize,
    quantum: TimeDelta,
    mut before: impl FnMut(DateTime<Utc>),
) {
    if clock.now() >= monitor.next_wake() {
        monitor.run_once(clock.now()).await;
        monitor.settle().await;
    }
    loop {
        // Let tasks woken by the last step run before judging idleness.
        for _ in 0..16 {
            tokio::task::yield_now().await;
        }
        if clock.sleepers() < loops || monitor.correlation_backlog() > 0 {
            tokio::time::sleep(Duration::from_micros(200)).await;
            continue;
        }
        if clock.now() >= until {
            return;
        }
        let wake = monitor.next_wake();
        let next = clock.next_deadline().map_or(wake, |at| at.min(wake));
        if next > until {
            return;
        }
        let at = next.max(clock.now() + quantum).min(until);
        before(at);
        clock.advance_to(at);
        if at >= monitor.next_wake() {
            monitor.run_once(at).await;
            monitor.settle().await;
        }
    }
}
