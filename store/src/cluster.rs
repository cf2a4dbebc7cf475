//! Several centrals on one PostgreSQL database. One of them leads: it
//! holds a session advisory lock and runs the probes, the correlator and
//! the alerts; the others serve pages from the snapshot the leader shares
//! here, and queue the results agents push to them for its correlator.
//! On SQLite the file has one server, which always leads.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{Connection, PgConnection};

use crate::{Pools, Store, StoreError};

/// The advisory lock the leader holds: "faultline" in ASCII, so no other
/// application on the same server picks it by accident.
const LEADER_LOCK: i64 = 0x6661_756c_746c_696e;

/// How long an agent's result waits for a leader's correlator before it
/// is dropped from the queue (it stays stored either way).
pub const PENDING_KEPT: TimeDelta = TimeDelta::hours(1);

/// How long a check of the lease's connection may take before the leader
/// takes it as lost.
const LEASE_CHECK: Duration = Duration::from_secs(5);

/// The right to lead, held as long as this value lives: on PostgreSQL a
/// connection of its own holding the advisory lock, which the server
/// releases when the connection ends, by a clean close or the process
/// dying; on SQLite nothing.
#[derive(Debug)]
pub struct Lease {
    connection: Option<PgConnection>,
}

impl Lease {
    /// Whether the lease still holds: its connection answers. A leader
    /// whose connection broke has lost the lock, and another may lead.
    pub async fn holds(&mut self) -> bool {
        let Some(connection) = &mut self.connection else {
            return true;
        };
        matches!(
            tokio::time::timeout(LEASE_CHECK, connection.ping()).await,
            Ok(Ok(()))
        )
    }

    /// Gives the lease up, so another central may lead at once.
    pub async fn release(self) {
        if let Some(connection) = self.connection {
            if let Err(error) = connection.close().await {
                tracing::debug!(%error, "the lease's connection did not close cleanly");
            }
        }
    }
}

/// The latest judgement the leader shared: its version and its bytes, as
/// the leader encoded them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedSnapshot {
    pub version: i64,
    pub published_at: DateTime<Utc>,
    pub body: Vec<u8>,
}

impl Store {
    /// Whether other centrals may share this database: true on PostgreSQL.
    pub fn is_shared(&self) -> bool {
        matches!(self.pools, Pools::Postgres(_))
    }

    /// Takes the lead if no other central holds it. On PostgreSQL the
    /// asking connection, once it holds the lock, leaves the pool (one that
    /// did not get it goes back, holding nothing) and asks the server to
    /// notice a vanished peer within about half a minute (TCP keepalives),
    /// so the lock of a leader whose machine disappeared is freed too.
    pub async fn try_lead(&self) -> Result<Option<Lease>, StoreError> {
        let pool = match &self.pools {
            Pools::Sqlite { .. } => return Ok(Some(Lease { connection: None })),
            Pools::Postgres(pool) => pool,
        };
        let mut pooled = pool.acquire().await?;
        let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LEADER_LOCK)
            .fetch_one(&mut *pooled)
            .await?;
        if !held {
            return Ok(None);
        }
        // Ours until this connection ends: it never goes back to the pool.
        let mut connection = pooled.detach();
        for setting in [
            "SET tcp_keepalives_idle = 10",
            "SET tcp_keepalives_interval = 5",
            "SET tcp_keepalives_count = 3",
        ] {
            sqlx::query(setting).execute(&mut connection).await?;
        }
        Ok(Some(Lease {
            connection: Some(connection),
        }))
    }

    /// Replaces the shared snapshot with the leader's latest.
    pub async fn share_snapshot(
        &self,
        version: i64,
        published_at: DateTime<Utc>,
        body: &[u8],
    ) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            sqlx::query(
                "INSERT INTO shared_snapshot (id, version, published_at, body) VALUES (1, $1, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET version = $1, published_at = $2, body = $3",
            )
            .bind(version)
            .bind(published_at)
            .bind(body)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// The shared snapshot's version, cheap to ask often.
    pub async fn shared_snapshot_version(&self) -> Result<Option<i64>, StoreError> {
        on_reader!(self, |pool| {
            Ok(
                sqlx::query_scalar("SELECT version FROM shared_snapshot WHERE id = 1")
                    .fetch_optional(pool)
                    .await?,
            )
        })
    }

    /// The shared snapshot, if a leader has shared one.
    pub async fn shared_snapshot(&self) -> Result<Option<SharedSnapshot>, StoreError> {
        on_reader!(self, |pool| {
            let row: Option<(i64, DateTime<Utc>, Vec<u8>)> = sqlx::query_as(
                "SELECT version, published_at, body FROM shared_snapshot WHERE id = 1",
            )
            .fetch_optional(pool)
            .await?;
            Ok(row.map(|(version, published_at, body)| SharedSnapshot {
                version,
                published_at,
                body,
            }))
        })
    }

    /// Takes up to `limit` queued observations, oldest first: each is
    /// handed out once.
    pub async fn take_observations(&self, limit: i64) -> Result<Vec<String>, StoreError> {
        on_writer!(self, |pool| {
            let mut rows: Vec<(i64, String)> = sqlx::query_as(
                "DELETE FROM pending_observations WHERE id IN
                   (SELECT id FROM pending_observations ORDER BY id LIMIT $1)
                 RETURNING id, body",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.sort_unstable_by_key(|(id, _)| *id);
            Ok(rows.into_iter().map(|(_, body)| body).collect())
        })
    }
}

/// Queues `bodies` within a transaction the caller holds, so that what it
/// stores and what it queues go together.
pub(crate) async fn queue_on(
    tx: crate::Tx<'_>,
    bodies: &[String],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if bodies.is_empty() {
        return Ok(());
    }
    on_tx!(tx, |connection| {
        let sql = format!(
            "INSERT INTO pending_observations (queued_at, body) SELECT $1, value FROM {} AS queued",
            DIALECT.texts_in_json("$2")
        );
        sqlx::query(&sql)
            .bind(now)
            .bind(crate::json(&bodies))
            .execute(&mut *connection)
            .await?;
        Ok(())
    })
}
