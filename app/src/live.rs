//! Live updates. Once hydrated, a page asks for its data afresh, then a
//! page that shows something still happening (an open incident, a failing
//! site) asks again every few seconds, a quiet one every minute. The server answers these polls from a short memo, so a crowd of
//! open pages during an outage costs one query per page and interval, not
//! one per visitor.

use std::time::Duration;

use leptos::prelude::*;

/// How often a page showing an open incident or a failure refreshes.
pub const BUSY_SECONDS: u64 = 15;
/// How often a quiet page refreshes.
pub const QUIET_SECONDS: u64 = 60;
/// How long the server reuses an answer to a poll.
pub const MEMO_TTL: Duration = Duration::from_secs(2);
const STEP_SECONDS: u64 = 5;

/// A counter that moves once as soon as the page has hydrated (a page may
/// come from a cache, so its data is fetched afresh), then every
/// `period()` seconds in the browser; never on the server (`None` pauses
/// it). Resources that read it refetch on each move.
pub fn use_poll(period: impl Fn() -> Option<u64> + Send + Sync + 'static) -> ReadSignal<u64> {
    let (tick, set_tick) = signal(0u64);
    let waited = StoredValue::new(0u64);
    let period = std::sync::Arc::new(period);
    // Effects run only in the browser, after hydration.
    Effect::new(move |_| {
        set_tick.update(|t| *t += 1);
        let period = period.clone();
        let handle = set_interval_with_handle(
            move || {
                let Some(period) = untrack(|| period()) else {
                    return;
                };
                let so_far = waited.get_value() + STEP_SECONDS;
                if so_far >= period {
                    waited.set_value(0);
                    set_tick.update(|t| *t += 1);
                } else {
                    waited.set_value(so_far);
                }
            },
            Duration::from_secs(STEP_SECONDS),
        );
        // Without a timer the page stays as rendered: complete, not live.
        if let Ok(handle) = handle {
            on_cleanup(move || handle.clear());
        }
    });
    tick
}

/// Tells a resource's fetcher whether it runs because of a poll (which the
/// server may answer from its memo) or because of navigation or a click
/// (which wants fresh data).
#[derive(Clone, Copy)]
pub struct PollGate {
    last: StoredValue<u64>,
}

impl Default for PollGate {
    fn default() -> Self {
        Self {
            last: StoredValue::new(0),
        }
    }
}

impl PollGate {
    pub fn is_poll(&self, tick: u64) -> bool {
        let polled = tick != self.last.get_value();
        self.last.set_value(tick);
        polled
    }
}

#[cfg(feature = "ssr")]
pub use memo::{memoised, LiveMemo, Memo};

#[cfg(feature = "ssr")]
mod memo {
    use std::collections::HashMap;
    use std::hash::Hash;
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::Instant;

    use super::MEMO_TTL;

    /// Most keys kept per memo; the map is emptied when full.
    const MAX_KEYS: usize = 4096;

    /// Answers kept for [`MEMO_TTL`], by key.
    pub struct Memo<K, V> {
        entries: Mutex<HashMap<K, (Instant, V)>>,
    }

    impl<K, V> Default for Memo<K, V> {
        fn default() -> Self {
            Self {
                entries: Mutex::new(HashMap::new()),
            }
        }
    }

    impl<K: Hash + Eq + Clone, V: Clone> Memo<K, V> {
        /// The kept answer for `key` if it is recent, else `load`'s (kept
        /// when it succeeds).
        pub async fn get_or<E, F>(&self, key: K, load: F) -> Result<V, E>
        where
            F: std::future::Future<Output = Result<V, E>>,
        {
            let recent = self
                .entries
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&key)
                .filter(|(at, _)| at.elapsed() < MEMO_TTL)
                .map(|(_, value)| value.clone());
            if let Some(value) = recent {
                return Ok(value);
            }
            let value = load.await?;
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            if entries.len() >= MAX_KEYS {
                entries.clear();
            }
            entries.insert(key, (Instant::now(), value.clone()));
            Ok(value)
        }
    }

    /// The memos behind the pages' polls, shared by all requests: one per
    /// key and answer type, made on first use. Each poll answers a type of
    /// its own, so each has its own memo without this module knowing them.
    #[derive(Clone, Default)]
    pub struct LiveMemo {
        memos: Arc<Mutex<http::Extensions>>,
    }

    impl LiveMemo {
        /// The memo of `V` answers by `K` keys.
        pub fn of<K, V>(&self) -> Arc<Memo<K, V>>
        where
            K: Send + Sync + 'static,
            V: Send + Sync + 'static,
        {
            self.memos
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert_default::<Arc<Memo<K, V>>>()
                .clone()
        }
    }

    impl std::fmt::Debug for LiveMemo {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("LiveMemo")
        }
    }

    /// `load`'s answer for a poll, from the memo the server gave this
    /// request when there is one. Answers are kept per snapshot version,
    /// so a poll never gets figures older than the snapshot.
    pub async fn memoised<K, V, E, F>(key: K, load: F) -> Result<V, E>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        F: std::future::Future<Output = Result<V, E>>,
    {
        let version =
            leptos::prelude::use_context::<crate::status::Status>().map(|status| status.version());
        match leptos::prelude::use_context::<LiveMemo>() {
            Some(live) => {
                live.of::<(Option<u64>, K), V>()
                    .get_or((version, key), load)
                    .await
            }
            None => load.await,
        }
    }
}
