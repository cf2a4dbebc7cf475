//! The one snapshot every figure of a moment comes from, and how fresh its
//! data is.
//!
//! The correlator publishes a snapshot per judgement (site states, cohort
//! tallies per provider and role, incidents and their phases), stamped with
//! the newest probe it includes. Pages, feeds and exports read "now" from
//! it, never from a query of their own, so they cannot disagree; each says
//! which snapshot it shows and how old its data is.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::words;

/// How fresh the figures on a page are, as the page says it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Freshness {
    /// The snapshot's version: the same on every page of one moment.
    pub version: u64,
    /// The newest probe the figures include.
    pub data_until: Option<DateTime<Utc>>,
    /// Now, on the server's clock (virtual in a replay).
    pub now: DateTime<Utc>,
    /// Older than two probe intervals: probing may have stalled.
    pub stale: bool,
    /// Set when the figures are a replay of a past outage, not live: what
    /// the banner says.
    pub replay: Option<String>,
}

impl Freshness {
    /// The day times are given without a date.
    pub fn today(&self) -> Option<chrono::NaiveDate> {
        Some(self.now.date_naive())
    }

    /// Seconds between the newest probe and now.
    pub fn age_seconds(&self) -> Option<i64> {
        self.data_until
            .map(|at| (self.now - at).num_seconds().max(0))
    }

    /// "Probes up to 13:42:10 UTC, 8 s ago."
    pub fn sentence(&self) -> String {
        match (self.data_until, self.age_seconds()) {
            (Some(at), Some(age)) => format!(
                "Probes up to {}, {} ago.",
                words::moment(at, self.today()),
                words::age(age)
            ),
            _ => "No probe has been judged yet.".to_owned(),
        }
    }

    /// The warning to show when the data is old, in plain words.
    pub fn warning(&self) -> Option<String> {
        self.stale.then(|| {
            format!(
                "These figures are {} old: probing may have stalled, so the current state is not known.",
                words::age(self.age_seconds().unwrap_or_default())
            )
        })
    }
}

#[cfg(feature = "ssr")]
pub use server::Status;

#[cfg(feature = "ssr")]
mod server {
    use std::sync::Arc;

    use chrono::{DateTime, TimeDelta, Utc};
    use engine::correlate::Snapshot;
    use tokio::sync::watch;

    use super::Freshness;

    /// The server's view of now: the latest snapshot and the clock it is
    /// judged against (virtual in a replay). Given to every request.
    #[derive(Clone)]
    pub struct Status {
        snapshots: watch::Receiver<Arc<Snapshot>>,
        clock: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
        /// Data older than this is called stale.
        stale_after: TimeDelta,
        /// The banner of a replay.
        replay: Option<String>,
    }

    impl Status {
        pub fn new(
            snapshots: watch::Receiver<Arc<Snapshot>>,
            clock: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
            stale_after: TimeDelta,
        ) -> Self {
            Self {
                snapshots,
                clock,
                stale_after,
                replay: None,
            }
        }

        /// Marks every page as a replay, with `banner` saying of what.
        pub fn with_replay(mut self, banner: String) -> Self {
            self.replay = Some(banner);
            self
        }

        /// A status that never changes from `snapshot`, on the system clock:
        /// for a server that does not probe, and for tests.
        pub fn fixed(snapshot: Snapshot) -> Self {
            let (_, snapshots) = watch::channel(Arc::new(snapshot));
            Self::new(snapshots, Arc::new(Utc::now), TimeDelta::seconds(120))
        }

        /// The latest snapshot.
        pub fn snapshot(&self) -> Arc<Snapshot> {
            self.snapshots.borrow().clone()
        }

        /// Now, on the clock the data is judged against.
        pub fn now(&self) -> DateTime<Utc> {
            (self.clock)()
        }

        /// How fresh `snapshot` is now.
        pub fn freshness(&self, snapshot: &Snapshot) -> Freshness {
            let now = self.now();
            Freshness {
                version: snapshot.version,
                data_until: snapshot.data_until,
                now,
                stale: snapshot
                    .data_until
                    .is_some_and(|at| now - at > self.stale_after),
                replay: self.replay.clone(),
            }
        }

        /// The current snapshot's version, for keying cached pages.
        pub fn version(&self) -> u64 {
            self.snapshots.borrow().version
        }
    }

    impl std::fmt::Debug for Status {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Status")
                .field("version", &self.version())
                .field("stale_after", &self.stale_after)
                .finish_non_exhaustive()
        }
    }
}
