//! Probe agents registered with this central: name, region and the hash of
//! the token each pushes results with.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::{Store, StoreError};

/// An agent as listed: never its token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Agent {
    pub id: i64,
    pub name: String,
    pub region: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A vantage's latest result for each site it probes, summed up: how well
/// its own network was when it last probed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VantageHealth {
    pub vantage_id: i64,
    /// Sites with a latest result from it.
    pub sites: i64,
    /// Of those, results taken while its own network failed.
    pub suspect: i64,
    pub latest: Option<DateTime<Utc>>,
}

impl VantageHealth {
    /// Its network as its latest results say: offline when most were
    /// taken while it failed, degraded when some were.
    pub fn state(&self) -> engine::VantageState {
        use engine::VantageState;
        match (self.sites, self.suspect) {
            (0, _) => VantageState::Unknown,
            (_, 0) => VantageState::Online,
            (sites, suspect) if 2 * suspect > sites => VantageState::Offline,
            _ => VantageState::Degraded,
        }
    }
}

/// How long the answer to an agent's batch is kept for a retry of it.
pub const BATCH_ANSWER_KEPT: TimeDelta = TimeDelta::days(1);

const AGENT_COLUMNS: &str = "id, name, region, created_at, last_seen_at, revoked_at";

impl Store {
    /// Registers an agent by its token's hash; returns its id, or `None`
    /// when an agent of that name exists already (revoked ones included:
    /// a name always means the same vantage).
    pub async fn add_agent(
        &self,
        name: &str,
        region: &str,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        on_writer!(self, |pool| {
            Ok(sqlx::query_scalar(
                "INSERT INTO agents (name, region, token_hash, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO NOTHING RETURNING id",
            )
            .bind(name)
            .bind(region)
            .bind(token_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// Every agent by name, revoked ones included.
    pub async fn agents(&self) -> Result<Vec<Agent>, StoreError> {
        on_reader!(self, |pool| {
            let sql = format!("SELECT {AGENT_COLUMNS} FROM agents ORDER BY name");
            Ok(sqlx::query_as::<_, Agent>(&sql).fetch_all(pool).await?)
        })
    }

    /// The live (not revoked) agent whose token has this hash.
    pub async fn agent_by_token(&self, token_hash: &str) -> Result<Option<Agent>, StoreError> {
        on_reader!(self, |pool| {
            let sql = format!(
                "SELECT {AGENT_COLUMNS} FROM agents WHERE token_hash = $1 AND revoked_at IS NULL"
            );
            Ok(sqlx::query_as::<_, Agent>(&sql)
                .bind(token_hash)
                .fetch_optional(pool)
                .await?)
        })
    }

    /// Notes that an agent was heard from at `now`; written at most once
    /// a minute per agent.
    pub async fn touch_agent(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            sqlx::query(&format!(
                "UPDATE agents SET last_seen_at = $1 WHERE id = $2
                 AND (last_seen_at IS NULL OR {last_seen} <= {a_minute_ago})",
                last_seen = DIALECT.moment("last_seen_at"),
                a_minute_ago = DIALECT.moment("$3"),
            ))
            .bind(now)
            .bind(id)
            .bind(now - chrono::TimeDelta::minutes(1))
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Each vantage's latest results, summed up (see [`VantageHealth`]).
    pub async fn vantage_health(&self) -> Result<Vec<VantageHealth>, StoreError> {
        on_reader!(self, |pool| {
            let rows: Vec<(i64, i64, i64, Option<DateTime<Utc>>)> = sqlx::query_as(
                "SELECT vantage_id, COUNT(*), SUM(CASE WHEN suspect = TRUE THEN 1 ELSE 0 END), MAX(started_at)
                 FROM site_status GROUP BY vantage_id ORDER BY vantage_id",
            )
            .fetch_all(pool)
            .await?;
            Ok(rows
                .into_iter()
                .map(|(vantage_id, sites, suspect, latest)| VantageHealth {
                    vantage_id,
                    sites,
                    suspect,
                    latest,
                })
                .collect())
        })
    }

    /// Revokes an agent by name: its token stops working at once. `false`
    /// when there is no live agent of that name.
    pub async fn revoke_agent(&self, name: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        on_writer!(self, |pool| {
            let done = sqlx::query(
                "UPDATE agents SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(name)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// The answer given to an agent's batch with this idempotency key, if
    /// it came within [`BATCH_ANSWER_KEPT`].
    pub async fn agent_batch_answer(
        &self,
        agent_id: i64,
        batch_key: &str,
    ) -> Result<Option<String>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_scalar(
                "SELECT answer FROM agent_batches WHERE agent_id = $1 AND batch_key = $2",
            )
            .bind(agent_id)
            .bind(batch_key)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// Keeps the answer given to an agent's batch; the first answer to a
    /// key stays.
    pub async fn record_agent_batch(
        &self,
        agent_id: i64,
        batch_key: &str,
        now: DateTime<Utc>,
        answer: &str,
    ) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            sqlx::query(
                "INSERT INTO agent_batches (agent_id, batch_key, received_at, answer)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (agent_id, batch_key) DO NOTHING",
            )
            .bind(agent_id)
            .bind(batch_key)
            .bind(now)
            .bind(answer)
            .execute(pool)
            .await?;
            Ok(())
        })
    }
}
