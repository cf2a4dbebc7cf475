//! The own-network guard's record: when our vantage point looked cut off.

use chrono::{DateTime, Utc};
use engine::VantageState;
use serde::{Deserialize, Serialize};

use crate::{Store, StoreError};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VantageEvent {
    pub id: i64,
    pub state: VantageState,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub detail: String,
}

typed_row!(VantageEvent {
    id: plain,
    state: word,
    started_at: plain,
    ended_at: plain,
    detail: plain,
});

impl Store {
    /// Closes the open event, if any, and opens one for `state` unless it
    /// is `online` (being online is the absence of an event).
    pub async fn record_vantage_state(
        &self,
        state: VantageState,
        at: DateTime<Utc>,
        detail: &str,
    ) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            let mut tx = pool.begin_with(BEGIN).await?;
            sqlx::query("UPDATE vantage_events SET ended_at = $1 WHERE ended_at IS NULL")
                .bind(at)
                .execute(&mut *tx)
                .await?;
            if state != VantageState::Online {
                sqlx::query(
                    "INSERT INTO vantage_events (state, started_at, detail) VALUES ($1, $2, $3)",
                )
                .bind(state.as_str())
                .bind(at)
                .bind(detail)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Marks this central's own network-layer failures since `from` as
    /// suspect: they were probed while its network was already failing,
    /// before the guard could tell (an agent judges its own network).
    /// Returns how many probes were marked.
    pub async fn mark_suspect_since(&self, from: DateTime<Utc>) -> Result<u64, StoreError> {
        on_writer!(self, |pool| {
            let mut tx = pool.begin_with(BEGIN).await?;
            let marked = sqlx::query(
            "UPDATE probes SET suspect = TRUE
             WHERE started_at >= $1 AND ok = FALSE AND suspect = FALSE AND vantage_id = 0
               AND (failure LIKE 'dns\\_%' ESCAPE '\\' OR failure LIKE 'connect\\_%' ESCAPE '\\' OR failure = 'read_timeout')",
        )
        .bind(from)
        .execute(&mut *tx)
        .await?
        .rows_affected();
            sqlx::query(
            "UPDATE site_status SET suspect = TRUE
             WHERE started_at >= $1 AND ok = FALSE AND vantage_id = 0
               AND (failure LIKE 'dns\\_%' ESCAPE '\\' OR failure LIKE 'connect\\_%' ESCAPE '\\' OR failure = 'read_timeout')",
        )
        .bind(from)
        .execute(&mut *tx)
        .await?;
            tx.commit().await?;
            Ok(marked)
        })
    }

    /// Vantage events overlapping `[from, until)`, oldest first.
    pub async fn vantage_events(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<VantageEvent>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_as::<_, VantageEvent>(
                "SELECT id, state, started_at, ended_at, detail FROM vantage_events
             WHERE started_at < $1 AND (ended_at IS NULL OR ended_at >= $2) ORDER BY started_at",
            )
            .bind(until)
            .bind(from)
            .fetch_all(pool)
            .await?)
        })
    }

    /// The event in force now, if the vantage is not online.
    pub async fn current_vantage_event(&self) -> Result<Option<VantageEvent>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_as::<_, VantageEvent>(
                "SELECT id, state, started_at, ended_at, detail FROM vantage_events
             WHERE ended_at IS NULL ORDER BY started_at DESC LIMIT 1",
            )
            .fetch_optional(pool)
            .await?)
        })
    }

    /// One of our resolvers began failing while another answered; nothing
    /// is recorded if it is already recorded as failing.
    pub async fn record_resolver_failing(
        &self,
        resolver: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            sqlx::query(
                "INSERT INTO resolver_events (resolver, started_at)
             SELECT $1, $2 WHERE NOT EXISTS
               (SELECT 1 FROM resolver_events WHERE resolver = $1 AND ended_at IS NULL)",
            )
            .bind(resolver)
            .bind(at)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// One of our resolvers answers again.
    pub async fn record_resolver_recovered(
        &self,
        resolver: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            sqlx::query(
                "UPDATE resolver_events SET ended_at = $1 WHERE resolver = $2 AND ended_at IS NULL",
            )
            .bind(at)
            .bind(resolver)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Resolver failures overlapping `[from, until)`, oldest first.
    pub async fn resolver_events(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<ResolverEvent>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_as::<_, ResolverEvent>(
            "SELECT id, resolver, started_at, ended_at FROM resolver_events
             WHERE started_at < $1 AND (ended_at IS NULL OR ended_at >= $2) ORDER BY started_at, id",
        )
        .bind(until)
        .bind(from)
        .fetch_all(pool)
        .await?)
        })
    }
}

/// A time one of our own resolvers failed while another answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ResolverEvent {
    pub id: i64,
    pub resolver: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}
