//! Probe results: the raw rows, the latest status per site and the rollups,
//! all written by one batch in one transaction.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use engine::{FailureClass, Fault, FaultSide, Role};
use serde::{Deserialize, Serialize};

use crate::{postgres, Pools, Store, StoreError};

/// The vantage of this central's own prober; an agent's is its id.
pub const OWN_VANTAGE: i64 = 0;

/// One probe as stored. The server builds it from the prober's outcome and
/// the engine's classification.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeRecord {
    pub site_id: i64,
    pub started_at: DateTime<Utc>,
    pub ok: bool,
    pub status: Option<i64>,
    pub failure: Option<FailureClass>,
    pub detail: Option<String>,
    pub dns_ms: Option<i64>,
    pub connect_ms: Option<i64>,
    pub tls_ms: Option<i64>,
    pub ttfb_ms: Option<i64>,
    pub total_ms: Option<i64>,
    pub remote_ip: Option<String>,
    /// JSON with the DNS, TLS and redirect facts; kept for failures.
    pub facts: Option<String>,
    /// gzip of an error page; kept for error responses only.
    pub body_gz: Option<Vec<u8>>,
    pub provider: Option<String>,
    pub fault_side: Option<FaultSide>,
    pub fault: Option<Fault>,
    pub confidence: Option<f64>,
    /// JSON array of strings.
    pub evidence: Option<String>,
    pub suspect: bool,
    /// Who probed: 0 for this central's own prober, else the agent's id.
    #[serde(default)]
    pub vantage_id: i64,
    /// The schedule slot the probe was for; none means the moment it
    /// started. A site, a vantage and a slot make one result.
    #[serde(default)]
    pub slot: Option<DateTime<Utc>>,
    /// Providers this probe showed serving the site: (provider, role,
    /// evidence). Stored through `record_attribution`, not in `probes`.
    #[serde(default)]
    pub providers: Vec<(String, Role, Vec<String>)>,
}

impl ProbeRecord {
    /// The slot this result is stored under.
    pub fn slot_or_start(&self) -> DateTime<Utc> {
        self.slot.unwrap_or(self.started_at)
    }
}

typed_row!(ProbeRecord {
    site_id: plain,
    started_at: plain,
    ok: plain,
    status: plain,
    failure: maybe_word,
    detail: plain,
    dns_ms: plain,
    connect_ms: plain,
    tls_ms: plain,
    ttfb_ms: plain,
    total_ms: plain,
    remote_ip: plain,
    facts: plain,
    body_gz: plain,
    provider: plain,
    fault_side: maybe_word,
    fault: maybe_word,
    confidence: plain,
    evidence: plain,
    suspect: plain,
    vantage_id: plain,
    slot: plain,
    providers: skip,
});

/// How long each kind of row is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    pub raw: TimeDelta,
    pub minute: TimeDelta,
    pub hour: TimeDelta,
    pub day: TimeDelta,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            raw: TimeDelta::hours(48),
            minute: TimeDelta::days(3),
            hour: TimeDelta::days(90),
            day: TimeDelta::days(3 * 365),
        }
    }
}

/// Rows removed by one retention pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Raw probe rows deleted one by one.
    pub probes: u64,
    pub rollups: u64,
    /// PostgreSQL: whole days of raw probes dropped (their rows are not
    /// counted in `probes`, which would mean reading them all).
    pub probe_days: u64,
}

/// One rollup bucket of one site.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct RollupRow {
    pub bucket: DateTime<Utc>,
    pub probes: i64,
    pub failures: i64,
    pub suspect: i64,
    pub total_ms_sum: i64,
    pub total_ms_max: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    Minute,
    Hour,
    Day,
}

impl Resolution {
    const ALL: [Resolution; 3] = [Resolution::Minute, Resolution::Hour, Resolution::Day];

    pub(crate) fn table(self) -> &'static str {
        match self {
            Resolution::Minute => "rollup_minute",
            Resolution::Hour => "rollup_hour",
            Resolution::Day => "rollup_day",
        }
    }

    fn width(self) -> TimeDelta {
        match self {
            Resolution::Minute => TimeDelta::minutes(1),
            Resolution::Hour => TimeDelta::hours(1),
            Resolution::Day => TimeDelta::days(1),
        }
    }

    fn bucket(self, at: DateTime<Utc>) -> DateTime<Utc> {
        at.duration_trunc(self.width()).unwrap_or(at)
    }
}

/// How new probes are queued for the leader's correlator: each encoded,
/// and the moment they were queued.
type Queue<'a> = (
    &'a (dyn Fn(&ProbeRecord) -> Option<String> + Sync),
    DateTime<Utc>,
);

/// The encoded bodies of the probes of `batch` that `new` marks as new.
fn encoded_new(
    batch: &[ProbeRecord],
    new: &[bool],
    encode: &(dyn Fn(&ProbeRecord) -> Option<String> + Sync),
) -> Vec<String> {
    batch
        .iter()
        .zip(new)
        .filter(|(_, new)| **new)
        .filter_map(|(probe, _)| encode(probe))
        .collect()
}

/// The columns of a raw probe row, in the order every insert binds them.
const INSERT_PROBE: &str = "INSERT INTO probes (site_id, started_at, ok, status, failure, detail,
    dns_ms, connect_ms, tls_ms, ttfb_ms, total_ms, remote_ip, facts, body_gz, provider, fault_side,
    fault, confidence, evidence, suspect, vantage_id, slot) ";

impl Store {
    /// Writes a batch of probes in one transaction: the raw rows, each
    /// site's latest status from each vantage and the three rollups. Either
    /// all of the batch is stored or none of it. A probe already stored (the
    /// same site, vantage and slot: a retried batch) is skipped and counted
    /// once. Returns, for each probe of the batch in order, whether it was
    /// new.
    pub async fn insert_probes(&self, batch: &[ProbeRecord]) -> Result<Vec<bool>, StoreError> {
        self.insert_probes_then(batch, None).await
    }

    /// Does what [`Store::insert_probes`] does and, in the same
    /// transaction, queues each new probe as `encode` writes it for the
    /// leader's correlator ([`Store::take_observations`]): a probe is never
    /// stored without being queued, nor queued twice.
    pub async fn insert_and_queue_probes(
        &self,
        batch: &[ProbeRecord],
        encode: &(dyn Fn(&ProbeRecord) -> Option<String> + Sync),
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>, StoreError> {
        self.insert_probes_then(batch, Some((encode, now))).await
    }

    async fn insert_probes_then(
        &self,
        batch: &[ProbeRecord],
        queue: Option<Queue<'_>>,
    ) -> Result<Vec<bool>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let pool = match &self.pools {
            Pools::Postgres(pool) => {
                let Some((encode, now)) = queue else {
                    return postgres::ingest(pool, &self.probe_days, batch, true).await;
                };
                self.probe_days
                    .ensure(pool, batch.iter().map(ProbeRecord::slot_or_start))
                    .await?;
                let mut tx = pool.begin().await?;
                let new = postgres::ingest_on(&mut tx, batch, true).await?;
                let bodies = encoded_new(batch, &new, encode);
                crate::cluster::queue_on(crate::Tx::from(&mut *tx), &bodies, now).await?;
                tx.commit().await?;
                return Ok(new);
            }
            Pools::Sqlite { writer, .. } => writer,
        };
        // SQLite: row by row in one transaction (PostgreSQL ingests the batch
        // in one statement, above).
        {
            let insert = format!(
                "{INSERT_PROBE} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                 $15, $16, $17, $18, $19, $20, $21, $22)
                 ON CONFLICT (site_id, vantage_id, slot) DO NOTHING RETURNING id"
            );
            let mut tx = pool.begin_with(crate::SQLITE_BEGIN).await?;
            let mut new = Vec::with_capacity(batch.len());
            for probe in batch {
                let stored: Option<i64> = sqlx::query_scalar(&insert)
                    .bind(probe.site_id)
                    .bind(probe.started_at)
                    .bind(probe.ok)
                    .bind(probe.status)
                    .bind(probe.failure.map(FailureClass::as_str))
                    .bind(&probe.detail)
                    .bind(probe.dns_ms)
                    .bind(probe.connect_ms)
                    .bind(probe.tls_ms)
                    .bind(probe.ttfb_ms)
                    .bind(probe.total_ms)
                    .bind(&probe.remote_ip)
                    .bind(&probe.facts)
                    .bind(&probe.body_gz)
                    .bind(&probe.provider)
                    .bind(probe.fault_side.map(FaultSide::as_str))
                    .bind(probe.fault.map(Fault::as_str))
                    .bind(probe.confidence)
                    .bind(&probe.evidence)
                    .bind(probe.suspect)
                    .bind(probe.vantage_id)
                    .bind(probe.slot_or_start())
                    .fetch_optional(&mut *tx)
                    .await?;
                new.push(stored.is_some());
                // Stored before (a retried batch): counted already.
                let Some(probe_id) = stored else {
                    continue;
                };

                // A probe older than the stored status (a late batch) leaves it alone.
                sqlx::query(
                "INSERT INTO site_status (site_id, vantage_id, probe_id, started_at, ok, suspect, failure, fault, provider, since)
                 VALUES ($1, $9, $2, $3, $4, $5, $6, $7, $8, $3)
                 ON CONFLICT (site_id, vantage_id) DO UPDATE SET
                   since = CASE WHEN site_status.ok = excluded.ok THEN site_status.since ELSE excluded.started_at END,
                   probe_id = excluded.probe_id, started_at = excluded.started_at, ok = excluded.ok,
                   suspect = excluded.suspect, failure = excluded.failure, fault = excluded.fault,
                   provider = excluded.provider
                 WHERE excluded.started_at >= site_status.started_at",
            )
            .bind(probe.site_id)
            .bind(probe_id)
            .bind(probe.started_at)
            .bind(probe.ok)
            .bind(probe.suspect)
            .bind(probe.failure.map(FailureClass::as_str))
            .bind(probe.fault.map(Fault::as_str))
            .bind(&probe.provider)
            .bind(probe.vantage_id)
            .execute(&mut *tx)
            .await?;

                let failed = i64::from(!probe.ok && !probe.suspect);
                let suspect = i64::from(probe.suspect);
                let ms = if probe.ok {
                    probe.total_ms.unwrap_or(0)
                } else {
                    0
                };
                for resolution in Resolution::ALL {
                    let sql = format!(
                    "INSERT INTO {table} (site_id, bucket, probes, failures, suspect, total_ms_sum, total_ms_max)
                     VALUES ($1, $2, 1, $3, $4, $5, $6)
                     ON CONFLICT (site_id, bucket) DO UPDATE SET
                       probes = {table}.probes + 1, failures = {table}.failures + excluded.failures,
                       suspect = {table}.suspect + excluded.suspect,
                       total_ms_sum = {table}.total_ms_sum + excluded.total_ms_sum,
                       total_ms_max = {greatest}({table}.total_ms_max, excluded.total_ms_max)",
                    table = resolution.table(),
                    greatest = crate::Dialect::Sqlite.greatest(),
                );
                    sqlx::query(&sql)
                        .bind(probe.site_id)
                        .bind(resolution.bucket(probe.started_at))
                        .bind(failed)
                        .bind(suspect)
                        .bind(ms)
                        .bind(ms)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            if let Some((encode, now)) = queue {
                let bodies = encoded_new(batch, &new, encode);
                crate::cluster::queue_on(crate::Tx::from(&mut *tx), &bodies, now).await?;
            }
            tx.commit().await?;
            Ok(new)
        }
    }

    /// Adds raw probe rows in bulk, skipping any already stored, and nothing else:
    /// neither the sites' latest status nor the rollups, which an import
    /// writes with [`Store::add_rollups`]. The writer stores probes with
    /// [`Store::insert_probes`], which keeps all three together.
    pub async fn add_probes(&self, probes: &[ProbeRecord]) -> Result<(), StoreError> {
        let pool = match &self.pools {
            Pools::Postgres(pool) => {
                for chunk in probes.chunks(10_000) {
                    postgres::ingest(pool, &self.probe_days, chunk, false).await?;
                }
                return Ok(());
            }
            Pools::Sqlite { writer, .. } => writer,
        };
        {
            // 20 parameters a row, well within SQLite's limit per statement.
            const ROWS_PER_STATEMENT: usize = 500;
            if probes.is_empty() {
                return Ok(());
            }
            let mut tx = pool.begin_with(crate::SQLITE_BEGIN).await?;
            for chunk in probes.chunks(ROWS_PER_STATEMENT) {
                let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(INSERT_PROBE);
                insert.push_values(chunk, |mut values, probe| {
                    values
                        .push_bind(probe.site_id)
                        .push_bind(probe.started_at)
                        .push_bind(probe.ok)
                        .push_bind(probe.status)
                        .push_bind(probe.failure.map(FailureClass::as_str))
                        .push_bind(&probe.detail)
                        .push_bind(probe.dns_ms)
                        .push_bind(probe.connect_ms)
                        .push_bind(probe.tls_ms)
                        .push_bind(probe.ttfb_ms)
                        .push_bind(probe.total_ms)
                        .push_bind(&probe.remote_ip)
                        .push_bind(&probe.facts)
                        .push_bind(&probe.body_gz)
                        .push_bind(&probe.provider)
                        .push_bind(probe.fault_side.map(FaultSide::as_str))
                        .push_bind(probe.fault.map(Fault::as_str))
                        .push_bind(probe.confidence)
                        .push_bind(&probe.evidence)
                        .push_bind(probe.suspect)
                        .push_bind(probe.vantage_id)
                        .push_bind(probe.slot_or_start());
                });
                insert.push(" ON CONFLICT (site_id, vantage_id, slot) DO NOTHING");
                insert.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        }
    }

    /// Adds rollup rows in bulk, in one transaction: each row is summed into
    /// the stored bucket of its site, as that many probes would have been.
    /// For backfills and imports; the writer keeps rollups up to date per
    /// probe in [`Store::insert_probes`]. Buckets are truncated to the
    /// resolution.
    pub async fn add_rollups(
        &self,
        resolution: Resolution,
        rows: &[(i64, RollupRow)],
    ) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            // 7 parameters a row, well within SQLite's limit per statement.
            const ROWS_PER_STATEMENT: usize = 1000;
            if rows.is_empty() {
                return Ok(());
            }
            let mut tx = pool.begin_with(BEGIN).await?;
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let mut insert = sqlx::QueryBuilder::<Db>::new(format!(
                "INSERT INTO {} (site_id, bucket, probes, failures, suspect, total_ms_sum, total_ms_max) ",
                resolution.table()
            ));
                insert.push_values(chunk, |mut values, (site_id, row)| {
                    values
                        .push_bind(*site_id)
                        .push_bind(resolution.bucket(row.bucket))
                        .push_bind(row.probes)
                        .push_bind(row.failures)
                        .push_bind(row.suspect)
                        .push_bind(row.total_ms_sum)
                        .push_bind(row.total_ms_max);
                });
                insert.push(format!(
                    " ON CONFLICT (site_id, bucket) DO UPDATE SET
                   probes = {table}.probes + excluded.probes, failures = {table}.failures + excluded.failures,
                   suspect = {table}.suspect + excluded.suspect,
                   total_ms_sum = {table}.total_ms_sum + excluded.total_ms_sum,
                   total_ms_max = {greatest}({table}.total_ms_max, excluded.total_ms_max)",
                    table = resolution.table(),
                    greatest = DIALECT.greatest(),
                ));
                insert.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Deletes rows older than their retention, relative to `now`.
    pub async fn prune(
        &self,
        now: DateTime<Utc>,
        retention: Retention,
    ) -> Result<Pruned, StoreError> {
        let mut probe_days = 0;
        if let Pools::Postgres(pool) = &self.pools {
            probe_days =
                postgres::drop_probe_days(pool, &self.probe_days, now - retention.raw).await?;
            self.probe_days
                .ensure(pool, postgres::days_ahead(now))
                .await?;
        }
        on_writer!(self, |pool| {
            let mut tx = pool.begin_with(BEGIN).await?;
            let probes = sqlx::query("DELETE FROM probes WHERE started_at < $1")
                .bind(now - retention.raw)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let mut rollups = 0;
            for (resolution, keep) in [
                (Resolution::Minute, retention.minute),
                (Resolution::Hour, retention.hour),
                (Resolution::Day, retention.day),
            ] {
                let sql = format!("DELETE FROM {} WHERE bucket < $1", resolution.table());
                rollups += sqlx::query(&sql)
                    .bind(now - keep)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            sqlx::query("DELETE FROM agent_batches WHERE received_at < $1")
                .bind(now - crate::agent::BATCH_ANSWER_KEPT)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM pending_observations WHERE queued_at < $1")
                .bind(now - crate::cluster::PENDING_KEPT)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Pruned {
                probes,
                rollups,
                probe_days,
            })
        })
    }

    /// The latest probes of a site, newest first.
    pub async fn recent_probes(
        &self,
        site_id: i64,
        limit: i64,
    ) -> Result<Vec<ProbeRecord>, StoreError> {
        on_reader!(self, |pool| {
            let rows = sqlx::query_as::<_, ProbeRecord>(
            "SELECT site_id, started_at, ok, status, failure, detail, dns_ms, connect_ms, tls_ms, ttfb_ms,
                    total_ms, remote_ip, facts, body_gz, provider, fault_side, fault, confidence, evidence, suspect,
                    vantage_id, slot
             FROM probes WHERE site_id = $1 ORDER BY started_at DESC LIMIT $2",
        )
        .bind(site_id)
        .bind(limit)
        .fetch_all(pool)
        .await?;
            Ok(rows)
        })
    }

    /// A site's rollup buckets in `[from, until)`, oldest first.
    pub async fn rollups(
        &self,
        site_id: i64,
        resolution: Resolution,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<RollupRow>, StoreError> {
        on_reader!(self, |pool| {
            let sql = format!(
                "SELECT bucket, probes, failures, suspect, total_ms_sum, total_ms_max FROM {}
             WHERE site_id = $1 AND bucket >= $2 AND bucket < $3 ORDER BY bucket",
                resolution.table()
            );
            let rows = sqlx::query_as::<_, RollupRow>(&sql)
                .bind(site_id)
                .bind(from)
                .bind(until)
                .fetch_all(pool)
                .await?;
            Ok(rows)
        })
    }

    /// How many probes are stored (all sites).
    pub async fn probe_count(&self) -> Result<i64, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_scalar("SELECT COUNT(*) FROM probes")
                .fetch_one(pool)
                .await?)
        })
    }
}
