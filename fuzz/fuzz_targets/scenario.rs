//! Any text as a scenario file must be parsed or refused with a message,
//! never panic. A scenario that parses is one the simulator can play: at
//! most `MAX_SITES` sites, one name per site, groups defined once, shares
//! and flakiness in 0..=1, every fault ending after it starts, and every
//! instant the simulator computes from it (the end, the expectations'
//! deadlines) a representable time.
#![no_main]

use std::collections::HashSet;

use chrono::TimeDelta;
use libfuzzer_sys::fuzz_target;
use server::sim::scenario::{Scenario, ScenarioError, MAX_SITES};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let scenario = match Scenario::parse(&text) {
        Ok(scenario) => scenario,
        Err(ScenarioError::Invalid { line, message }) => {
            let lines = 1 + text.matches('\n').count();
            assert!((1..=lines).contains(&line), "line {line} of {lines}");
            assert!(!message.is_empty());
            return;
        }
        Err(error) => {
            assert!(!error.to_string().is_empty());
            return;
        }
    };
    let end = scenario.start.checked_add_signed(scenario.duration);
    assert!(end.is_some(), "the end is not a time");
    assert!(scenario.duration >= TimeDelta::zero());
    assert!(scenario.probe_interval >= TimeDelta::seconds(10));

    let total: u64 = scenario.sites.iter().map(|g| u64::from(g.count)).sum();
    assert!(total <= u64::from(MAX_SITES), "{total} sites");
    let names = scenario.site_names();
    assert_eq!(names.len() as u64, total);
    let mut groups = HashSet::new();
    for group in &scenario.sites {
        assert!(groups.insert(&group.group), "group {:?} twice", group.group);
        assert!((0.0..=1.0).contains(&group.flaky));
    }

    for fault in &scenario.faults {
        assert!(fault.from < fault.until);
        assert!((0.0..=1.0).contains(&fault.share));
        if let Some(pattern) = &fault.intermittent {
            assert!(pattern.failing <= pattern.period);
        }
        // Asking whether it is in force must not panic at any moment.
        for offset in [
            TimeDelta::zero(),
            fault.from,
            fault.until,
            (fault.until - fault.from) / 2 + fault.from,
            scenario.duration,
        ] {
            let _ = fault.active_at(offset);
        }
    }
    for expect in &scenario.expects {
        for by in [expect.detected_by, expect.resolved_by]
            .into_iter()
            .flatten()
        {
            assert!(
                scenario.start.checked_add_signed(by).is_some(),
                "a deadline is not a time"
            );
        }
    }
});
