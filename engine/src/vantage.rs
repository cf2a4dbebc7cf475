//! The own-network guard: is our vantage point cut off?
//!
//! Canary targets on independent providers are probed continuously, and the
//! site probes' network-layer failures are counted. When most canaries and
//! most sites fail at the network layer together, the fault is ours, not the
//! internet's: the guard says `offline`, and probes that fail meanwhile are
//! marked suspect so that later stages never turn them into outages.
//! Pure: results and time come in as arguments.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};

pub use crate::vocab::{FailureClass, VantageState};

/// A change of state, to be recorded as a vantage event.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub from: VantageState,
    pub to: VantageState,
    pub at: DateTime<Utc>,
    pub detail: String,
}

/// One of our own resolvers, failing while another answers: probes go on
/// through the others, so nothing about the sites follows from it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FailingResolver {
    /// The resolver as configured (`ip:port`).
    pub resolver: String,
    pub since: DateTime<Utc>,
}

/// Canary results older than this no longer count.
const CANARY_FRESHNESS: TimeDelta = TimeDelta::minutes(2);
/// Site probes are judged over this window.
const SITE_WINDOW: TimeDelta = TimeDelta::seconds(90);
/// Fewer site probes than this in the window: judge by the canaries alone.
const MIN_SITE_SAMPLES: usize = 10;

#[derive(Debug)]
pub struct VantageGuard {
    /// Fewer fresh canary results than this: too early to judge.
    quorum: usize,
    canaries: HashMap<String, (DateTime<Utc>, Option<FailureClass>)>,
    sites: VecDeque<(DateTime<Utc>, bool)>,
    state: VantageState,
    since: DateTime<Utc>,
    /// Whether enough canaries have reported to judge at all. Until then
    /// a failure at the network layer might be our own network's: a
    /// vantage that starts cut off must not report the internet down.
    judged: bool,
}

impl VantageGuard {
    /// `canaries` is how many canaries are configured; the guard judges
    /// once at least half of them have reported.
    pub fn new(canaries: usize, now: DateTime<Utc>) -> Self {
        Self {
            quorum: canaries.div_ceil(2).max(1),
            canaries: HashMap::new(),
            sites: VecDeque::new(),
            state: VantageState::Online,
            since: now,
            // With no canaries there is nothing to wait for.
            judged: canaries == 0,
        }
    }

    pub fn state(&self) -> VantageState {
        self.state
    }

    pub fn since(&self) -> DateTime<Utc> {
        self.since
    }

    /// A canary probe finished; `failure` is its failure class, if any.
    pub fn record_canary(&mut self, name: &str, failure: Option<FailureClass>, now: DateTime<Utc>) {
        self.canaries.insert(name.to_owned(), (now, failure));
    }

    /// A site probe finished.
    pub fn record_site(&mut self, failure: Option<FailureClass>, now: DateTime<Utc>) {
        self.sites
            .push_back((now, failure.is_some_and(FailureClass::is_network)));
        while self
            .sites
            .front()
            .is_some_and(|(at, _)| *at < now - SITE_WINDOW)
        {
            self.sites.pop_front();
        }
    }

    /// Whether a probe that failed with `failure` should be distrusted now:
    /// a failure at the network layer while our network is not known to be
    /// well (failing, or not judged yet).
    pub fn is_suspect(&self, failure: Option<FailureClass>) -> bool {
        (self.state != VantageState::Online || !self.judged)
            && failure.is_some_and(FailureClass::is_network)
    }

    /// Re-judges the state from the evidence; returns the transition if the
    /// state changed.
    pub fn evaluate(&mut self, now: DateTime<Utc>) -> Option<Transition> {
        let fresh: Vec<Option<FailureClass>> = self
            .canaries
            .values()
            .filter(|(at, _)| *at >= now - CANARY_FRESHNESS)
            .map(|(_, failure)| *failure)
            .collect();
        if fresh.len() < self.quorum {
            return None;
        }
        self.judged = true;
        let canary_failing = fresh
            .iter()
            .filter(|f| f.is_some_and(FailureClass::is_network))
            .count();
        let canary_share = canary_failing as f64 / fresh.len() as f64;
        let dns_only = canary_failing > 0
            && fresh
                .iter()
                .flatten()
                .filter(|f| f.is_network())
                .all(|f| f.is_dns());
        let samples = self.sites.len();
        let site_share = if samples == 0 {
            0.0
        } else {
            self.sites.iter().filter(|(_, network)| *network).count() as f64 / samples as f64
        };
        let sites_agree = samples < MIN_SITE_SAMPLES || site_share >= 0.5;

        let next = match self.state {
            // Hysteresis: leaving a bad state needs clearly healthy canaries.
            VantageState::Offline | VantageState::Degraded if canary_share > 0.25 => {
                if canary_share >= 0.75 && sites_agree {
                    VantageState::Offline
                } else {
                    VantageState::Degraded
                }
            }
            _ if canary_share >= 0.75 && sites_agree => VantageState::Offline,
            _ if canary_share >= 0.5 => VantageState::Degraded,
            _ => VantageState::Online,
        };
        if next == self.state {
            return None;
        }
        let detail = format!(
            "{canary_failing} of {} canaries failing at the network layer{}; {:.0} % of {samples} recent site probes failed at the network layer",
            fresh.len(),
            if dns_only { " (all at DNS: the resolver looks unreachable)" } else { "" },
            site_share * 100.0,
        );
        let transition = Transition {
            from: self.state,
            to: next,
            at: now,
            detail,
        };
        self.state = next;
        self.since = now;
        Some(transition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(seconds: i64) -> DateTime<Utc> {
        "2025-11-18T10:30:00Z".parse::<DateTime<Utc>>().unwrap() + TimeDelta::seconds(seconds)
    }

    const CANARIES: [&str; 4] = ["google", "cloudflare", "amazon", "wikipedia"];

    #[test]
    fn losing_the_network_goes_offline_and_marks_failures_suspect() {
        let mut guard = VantageGuard::new(CANARIES.len(), t(0));
        for name in CANARIES {
            guard.record_canary(name, None, t(1));
        }
        assert_eq!(guard.evaluate(t(2)), None);
        for i in 0..20 {
            guard.record_site(Some(FailureClass::DnsTimeout), t(10 + i));
        }
        for name in CANARIES {
            guard.record_canary(name, Some(FailureClass::DnsTimeout), t(30));
        }
        let transition = guard.evaluate(t(31)).unwrap();
        assert_eq!(transition.to, VantageState::Offline);
        assert!(
            transition.detail.contains("resolver"),
            "{}",
            transition.detail
        );
        assert!(guard.is_suspect(Some(FailureClass::ConnectTimeout)));
        assert!(
            !guard.is_suspect(Some(FailureClass::HttpStatus)),
            "a server's answer is still evidence"
        );

        for name in CANARIES {
            guard.record_canary(name, None, t(60));
        }
        assert_eq!(guard.evaluate(t(61)).unwrap().to, VantageState::Online);
    }

    /// A vantage that starts cut off: its first probes fail before its
    /// canaries have said whether the network is ours to blame.
    #[test]
    fn network_failures_are_suspect_until_the_canaries_have_reported() {
        let mut guard = VantageGuard::new(CANARIES.len(), t(0));
        assert!(guard.is_suspect(Some(FailureClass::DnsTimeout)));
        assert!(!guard.is_suspect(Some(FailureClass::HttpStatus)));
        guard.record_canary("google", None, t(1));
        assert_eq!(guard.evaluate(t(2)), None, "one of four: no quorum");
        assert!(guard.is_suspect(Some(FailureClass::ConnectTimeout)));
        guard.record_canary("amazon", None, t(2));
        assert_eq!(guard.evaluate(t(3)), None, "judged, and well");
        assert!(!guard.is_suspect(Some(FailureClass::ConnectTimeout)));
        // With no canaries to wait for, nothing is held back.
        let bare = VantageGuard::new(0, t(0));
        assert!(!bare.is_suspect(Some(FailureClass::ConnectTimeout)));
    }

    #[test]
    fn one_failing_canary_is_not_an_outage_of_ours() {
        let mut guard = VantageGuard::new(CANARIES.len(), t(0));
        for name in CANARIES {
            guard.record_canary(name, None, t(1));
        }
        guard.record_canary("cloudflare", Some(FailureClass::ConnectTimeout), t(5));
        assert_eq!(guard.evaluate(t(6)), None);
        assert_eq!(guard.state(), VantageState::Online);
    }

    #[test]
    fn canaries_down_while_sites_answer_is_only_degraded() {
        let mut guard = VantageGuard::new(CANARIES.len(), t(0));
        for i in 0..30 {
            guard.record_site(None, t(i));
        }
        for name in CANARIES {
            guard.record_canary(name, Some(FailureClass::ConnectRefused), t(30));
        }
        assert_eq!(guard.evaluate(t(31)).unwrap().to, VantageState::Degraded);
    }

    #[test]
    fn stale_canaries_do_not_count() {
        let mut guard = VantageGuard::new(CANARIES.len(), t(0));
        for name in CANARIES {
            guard.record_canary(name, Some(FailureClass::DnsTimeout), t(0));
        }
        assert_eq!(guard.evaluate(t(600)), None);
    }
}
