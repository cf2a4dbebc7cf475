//! When each site is probed next. Pure: time comes in as an argument.
//!
//! Each site keeps a fixed phase within its interval, derived from its id by
//! the golden-ratio sequence: consecutive ids land far apart, so start times
//! spread evenly over the interval instead of bursting, and a restart puts
//! every site back on the same slots. Slots are absolute times
//! (`phase + k * interval`), so the schedule never drifts.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use chrono::{DateTime, TimeDelta, Utc};

/// What the scheduler needs to know about a site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub site_id: i64,
    pub url: String,
    pub host: String,
    pub interval: TimeDelta,
}

/// A probe that is due now, with the slot it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Due {
    pub target: Target,
    pub slot: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct Schedule {
    queue: BinaryHeap<Reverse<(DateTime<Utc>, i64)>>,
    targets: HashMap<i64, (Target, DateTime<Utc>)>,
}

impl Schedule {
    /// Makes the schedule hold exactly `targets`: new sites get their next
    /// slot, removed ones are dropped, changed intervals take effect.
    pub fn sync(&mut self, targets: impl IntoIterator<Item = Target>, now: DateTime<Utc>) {
        let mut next = HashMap::new();
        for target in targets {
            let slot = match self.targets.get(&target.site_id) {
                Some((old, slot)) if old.interval == target.interval => *slot,
                _ => next_slot(target.site_id, target.interval, now),
            };
            next.insert(target.site_id, (target, slot));
        }
        self.targets = next;
        self.queue = self
            .targets
            .iter()
            .map(|(id, (_, slot))| Reverse((*slot, *id)))
            .collect();
    }

    pub fn len(&self) -> usize {
        self.targets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The earliest pending slot.
    pub fn next_at(&self) -> Option<DateTime<Utc>> {
        self.queue.peek().map(|Reverse((at, _))| *at)
    }

    /// Takes every probe due at `now` and books each site's next slot. A
    /// site whose slots were missed (a pause, a slow machine) is probed once,
    /// not once per missed slot.
    pub fn take_due(&mut self, now: DateTime<Utc>) -> Vec<Due> {
        let mut due = Vec::new();
        while let Some(Reverse((slot, id))) = self.queue.peek().copied() {
            if slot > now {
                break;
            }
            self.queue.pop();
            let Some((target, booked)) = self.targets.get_mut(&id) else {
                continue;
            };
            if *booked != slot {
                continue; // stale entry from before a sync
            }
            let mut next = slot + target.interval;
            if next <= now {
                next = next_slot(id, target.interval, now);
            }
            *booked = next;
            self.queue.push(Reverse((next, id)));
            due.push(Due {
                target: target.clone(),
                slot,
            });
        }
        due
    }
}

/// The first slot of `site_id` strictly after `now`.
pub fn next_slot(site_id: i64, interval: TimeDelta, now: DateTime<Utc>) -> DateTime<Utc> {
    let interval_ms = interval.num_milliseconds().max(1);
    let phase_ms = phase_ms(site_id, interval_ms);
    let now_ms = now.timestamp_millis();
    let k = (now_ms - phase_ms).div_euclid(interval_ms) + 1;
    let slot_ms = k * interval_ms + phase_ms;
    DateTime::from_timestamp_millis(slot_ms).unwrap_or(now + interval)
}

fn phase_ms(site_id: i64, interval_ms: i64) -> i64 {
    const GOLDEN: f64 = 0.618_033_988_749_894_9;
    let fraction = (site_id as f64 * GOLDEN).fract().abs();
    ((fraction * interval_ms as f64) as i64).clamp(0, interval_ms - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(id: i64, seconds: i64) -> Target {
        Target {
            site_id: id,
            url: format!("https://s{id}.test/"),
            host: format!("s{id}.test"),
            interval: TimeDelta::seconds(seconds),
        }
    }

    fn t0() -> DateTime<Utc> {
        "2025-11-18T10:30:00Z".parse().unwrap()
    }

    #[test]
    fn starts_spread_evenly_over_the_interval() {
        let mut schedule = Schedule::default();
        schedule.sync((1..=600).map(|id| target(id, 60)), t0());
        // Count the probes falling in each 6-second tenth of the first minute.
        let mut tenths = [0usize; 10];
        let mut now = t0();
        while now < t0() + TimeDelta::seconds(60) {
            now += TimeDelta::milliseconds(100);
            for due in schedule.take_due(now) {
                let offset = (due.slot - t0()).num_milliseconds().clamp(0, 59_999);
                tenths[(offset / 6000) as usize] += 1;
            }
        }
        assert_eq!(tenths.iter().sum::<usize>(), 600);
        for count in tenths {
            assert!((55..=65).contains(&count), "uneven spread: {tenths:?}");
        }
    }

    #[test]
    fn slots_never_drift_over_hours() {
        let mut schedule = Schedule::default();
        schedule.sync([target(7, 60)], t0());
        let first = schedule.next_at().unwrap();
        let mut slots = Vec::new();
        // Wake up late by a varying amount each time, as a busy machine would.
        for i in 0..(6 * 60) {
            let now = schedule.next_at().unwrap() + TimeDelta::milliseconds(i % 900);
            slots.extend(schedule.take_due(now).into_iter().map(|d| d.slot));
        }
        assert_eq!(slots.len(), 360);
        assert_eq!(*slots.last().unwrap(), first + TimeDelta::minutes(359));
    }

    #[test]
    fn a_restart_keeps_the_same_slots() {
        let mut before = Schedule::default();
        before.sync((1..=50).map(|id| target(id, 60)), t0());
        let mut after = Schedule::default();
        after.sync(
            (1..=50).map(|id| target(id, 60)),
            t0() + TimeDelta::minutes(37),
        );
        let phase = |at: DateTime<Utc>| at.timestamp_millis().rem_euclid(60_000);
        assert_eq!(
            phase(before.next_at().unwrap()),
            phase(after.next_at().unwrap())
        );
    }

    #[test]
    fn missed_slots_are_probed_once_not_in_a_burst() {
        let mut schedule = Schedule::default();
        schedule.sync([target(1, 60)], t0());
        let due = schedule.take_due(t0() + TimeDelta::minutes(30));
        assert_eq!(due.len(), 1);
        assert!(schedule.next_at().unwrap() > t0() + TimeDelta::minutes(30));
    }

    #[test]
    fn sync_adds_removes_and_reschedules() {
        let mut schedule = Schedule::default();
        schedule.sync([target(1, 60), target(2, 60)], t0());
        schedule.sync([target(2, 300), target(3, 60)], t0());
        assert_eq!(schedule.len(), 2);
        let due: Vec<i64> = schedule
            .take_due(t0() + TimeDelta::minutes(5))
            .iter()
            .map(|d| d.target.site_id)
            .collect();
        assert!(!due.contains(&1));
        assert!(due.contains(&2) && due.contains(&3));
    }
}
