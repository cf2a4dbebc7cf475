//! Time as a dependency: the live server reads the system clock, the
//! simulator drives a virtual one through the very same scheduler code.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
    /// Completes once `now() >= at`.
    fn sleep_until(&self, at: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        // Recomputed from absolute times on every call, so sleeps never
        // accumulate drift.
        let wait = (at - Utc::now()).to_std().unwrap_or_default();
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A virtual clock for simulations: time stands still until the driver
/// moves it to the next deadline some task sleeps until, and only once the
/// simulation is idle, so hours of scenario run in seconds through the same
/// loops as the live server.
#[derive(Clone, Debug)]
pub struct SimClock {
    now: Arc<tokio::sync::watch::Sender<DateTime<Utc>>>,
    deadlines: Arc<Mutex<BTreeMap<DateTime<Utc>, usize>>>,
}

impl SimClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(tokio::sync::watch::Sender::new(start)),
            deadlines: Arc::default(),
        }
    }

    /// How many tasks are asleep on this clock, waiting for a time still to
    /// come. One whose deadline has passed counts as awake until it sleeps
    /// again, so the driver waits for it.
    pub fn sleepers(&self) -> usize {
        let now = *self.now.borrow();
        self.deadlines
            .lock()
            .map(|d| {
                d.range((std::ops::Bound::Excluded(now), std::ops::Bound::Unbounded))
                    .map(|(_, n)| n)
                    .sum()
            })
            .unwrap_or(0)
    }

    /// The earliest time a sleeper waits for.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.deadlines.lock().ok()?.keys().next().copied()
    }

    /// Moves time to `at` (never backwards), waking every sleeper due.
    pub fn advance_to(&self, at: DateTime<Utc>) {
        self.now.send_if_modified(|now| {
            let moved = at > *now;
            if moved {
                *now = at;
            }
            moved
        });
    }
}

struct Registration {
    at: DateTime<Utc>,
    deadlines: Arc<Mutex<BTreeMap<DateTime<Utc>, usize>>>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut deadlines) = self.deadlines.lock() {
            if let Some(count) = deadlines.get_mut(&self.at) {
                *count -= 1;
                if *count == 0 {
                    deadlines.remove(&self.at);
                }
            }
        }
    }
}

impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let mut receiver = self.now.subscribe();
        if let Ok(mut deadlines) = self.deadlines.lock() {
            *deadlines.entry(at).or_default() += 1;
        }
        let registration = Registration {
            at,
            deadlines: self.deadlines.clone(),
        };
        Box::pin(async move {
            let _registered = registration;
            // An error means the clock itself is gone: no time will come.
            let _ = receiver.wait_for(|now| *now >= at).await;
        })
    }
}
