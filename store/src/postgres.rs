//! What only PostgreSQL does: set-based ingest of probe batches and raw
//! probes kept in one partition per UTC day, dropped whole by retention.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use engine::{FailureClass, Fault, FaultSide};
use sqlx::{PgConnection, PgPool};

use crate::{ProbeRecord, StoreError};

/// The days whose probe partition this process knows to exist, so a batch
/// asks the server only for a day it has not seen.
#[derive(Clone, Debug, Default)]
pub(crate) struct ProbeDays(Arc<Mutex<BTreeSet<NaiveDate>>>);

impl ProbeDays {
    /// Makes the partitions of the days of `moments` that are not known yet.
    pub(crate) async fn ensure(
        &self,
        pool: &PgPool,
        moments: impl IntoIterator<Item = DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let wanted: BTreeSet<NaiveDate> = moments.into_iter().map(|at| at.date_naive()).collect();
        let missing: Vec<NaiveDate> = {
            let known = self
                .0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            wanted.difference(&known).copied().collect()
        };
        for day in missing {
            sqlx::query("SELECT faultline_probe_partition($1)")
                .bind(day)
                .execute(pool)
                .await?;
            self.0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .insert(day);
        }
        Ok(())
    }

    /// Forgets days whose partitions were dropped.
    fn forget_before(&self, day: NaiveDate) {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .retain(|known| *known >= day);
    }
}

/// The partitions to make ahead of time: today and the next two days, so a
/// batch at midnight never waits for one.
pub(crate) fn days_ahead(now: DateTime<Utc>) -> [DateTime<Utc>; 3] {
    [now, now + TimeDelta::days(1), now + TimeDelta::days(2)]
}

/// Drops the day partitions of raw probes that end at or before `cutoff`;
/// returns how many were dropped. Rows of the day `cutoff` falls in are
/// left to a row delete.
pub(crate) async fn drop_probe_days(
    pool: &PgPool,
    days: &ProbeDays,
    cutoff: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname FROM pg_inherits i
         JOIN pg_class c ON c.oid = i.inhrelid
         JOIN pg_class p ON p.oid = i.inhparent
         WHERE p.relname = 'probes' AND c.relname ~ '^probes_[0-9]{8}$'
         ORDER BY c.relname",
    )
    .fetch_all(pool)
    .await?;
    let first_kept = cutoff.date_naive();
    let mut dropped = 0;
    for name in names {
        let Some(day) = name
            .strip_prefix("probes_")
            .and_then(|digits| NaiveDate::parse_from_str(digits, "%Y%m%d").ok())
        else {
            continue;
        };
        // The partition holds [day, day + 1); it may go once day + 1 <= cutoff.
        if day >= first_kept {
            continue;
        }
        // The name comes from the catalogue and matched the pattern above,
        // so quoting it is enough.
        sqlx::query(&format!("DROP TABLE IF EXISTS \"{name}\""))
            .execute(pool)
            .await?;
        dropped += 1;
    }
    days.forget_before(first_kept);
    Ok(dropped)
}

/// Stores a batch of probes in one statement: the raw rows, skipping any
/// already stored for the same site and moment (a retried batch), and, when
/// `with_status_and_rollups`, each site's latest status from each vantage
/// and the three rollups of the rows that were new. Returns, for each probe
/// of the batch in order, whether it was new.
pub(crate) async fn ingest(
    pool: &PgPool,
    days: &ProbeDays,
    batch: &[ProbeRecord],
    with_status_and_rollups: bool,
) -> Result<Vec<bool>, StoreError> {
    days.ensure(pool, batch.iter().map(ProbeRecord::slot_or_start))
        .await?;
    let mut connection = pool.acquire().await?;
    ingest_on(&mut connection, batch, with_status_and_rollups).await
}

/// [`ingest`] on a connection the caller holds (in a transaction of its
/// own, say), once the batch's day partitions exist.
pub(crate) async fn ingest_on(
    connection: &mut PgConnection,
    batch: &[ProbeRecord],
    with_status_and_rollups: bool,
) -> Result<Vec<bool>, StoreError> {
    let column = |pick: fn(&ProbeRecord) -> Option<i64>| batch.iter().map(pick).collect::<Vec<_>>();
    let text = |pick: fn(&ProbeRecord) -> Option<&str>| {
        batch
            .iter()
            .map(|probe| pick(probe).map(str::to_owned))
            .collect::<Vec<Option<String>>>()
    };
    let site_ids: Vec<i64> = batch.iter().map(|probe| probe.site_id).collect();
    let started: Vec<DateTime<Utc>> = batch.iter().map(|probe| probe.started_at).collect();
    let ok: Vec<bool> = batch.iter().map(|probe| probe.ok).collect();
    let suspect: Vec<bool> = batch.iter().map(|probe| probe.suspect).collect();
    let vantages: Vec<i64> = batch.iter().map(|probe| probe.vantage_id).collect();
    let slots: Vec<DateTime<Utc>> = batch.iter().map(ProbeRecord::slot_or_start).collect();
    let confidence: Vec<Option<f64>> = batch.iter().map(|probe| probe.confidence).collect();
    let bodies: Vec<Option<Vec<u8>>> = batch.iter().map(|probe| probe.body_gz.clone()).collect();

    let insert = "INSERT INTO probes (site_id, started_at, ok, status, failure, detail,
            dns_ms, connect_ms, tls_ms, ttfb_ms, total_ms, remote_ip, facts, body_gz, provider,
            fault_side, fault, confidence, evidence, suspect, vantage_id, slot)
        SELECT * FROM UNNEST($1::bigint[], $2::timestamptz[], $3::boolean[], $4::bigint[],
            $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[],
            $11::bigint[], $12::text[], $13::text[], $14::bytea[], $15::text[], $16::text[],
            $17::text[], $18::double precision[], $19::text[], $20::boolean[], $21::bigint[],
            $22::timestamptz[])
        ON CONFLICT (site_id, vantage_id, slot) DO NOTHING
        RETURNING id, site_id, vantage_id, slot, started_at, ok, suspect, failure, fault, provider, total_ms";
    let sql = if with_status_and_rollups {
        format!(
            "WITH inserted AS ({insert}),
             -- Each site's newest new row, and since when its state (up or
             -- down) has held within the batch: the first row after the
             -- last one in the other state. Window functions only: the
             -- planner cannot size a batch of arrays, and a join between
             -- two steps of it may become a loop of one over the other.
             ordered AS (
               SELECT i.*, first_value(i.ok) OVER newest_first AS last_ok,
                      row_number() OVER newest_first AS recency
               FROM inserted i
               WINDOW newest_first AS (PARTITION BY i.site_id, i.vantage_id ORDER BY i.started_at DESC)),
             marked AS (
               SELECT o.*, MAX(o.started_at) FILTER (WHERE o.ok <> o.last_ok)
                             OVER (PARTITION BY o.site_id, o.vantage_id) AS last_other
               FROM ordered o),
             runs AS (
               SELECT m.*, m.last_other IS NOT NULL AS changed,
                      MIN(m.started_at) FILTER (WHERE m.started_at > COALESCE(m.last_other, '-infinity'))
                        OVER (PARTITION BY m.site_id, m.vantage_id) AS run_start
               FROM marked m),
             status AS (
               INSERT INTO site_status (site_id, vantage_id, probe_id, started_at, ok, suspect, failure, fault, provider, since)
               SELECT r.site_id, r.vantage_id, r.id, r.started_at, r.ok, r.suspect, r.failure, r.fault, r.provider,
                      CASE WHEN NOT r.changed AND s.ok = r.ok THEN s.since ELSE r.run_start END
               FROM runs r LEFT JOIN site_status s ON s.site_id = r.site_id AND s.vantage_id = r.vantage_id
               WHERE r.recency = 1
               ON CONFLICT (site_id, vantage_id) DO UPDATE SET
                 since = excluded.since, probe_id = excluded.probe_id, started_at = excluded.started_at,
                 ok = excluded.ok, suspect = excluded.suspect, failure = excluded.failure,
                 fault = excluded.fault, provider = excluded.provider
               WHERE excluded.started_at >= site_status.started_at
               RETURNING 1),
             {minute}, {hour}, {day}
             SELECT site_id, vantage_id, slot FROM inserted",
            minute = rollup("minute", "rollup_minute"),
            hour = rollup("hour", "rollup_hour"),
            day = rollup("day", "rollup_day"),
        )
    } else {
        format!("WITH inserted AS ({insert}) SELECT site_id, vantage_id, slot FROM inserted")
    };
    let new: Vec<(i64, i64, DateTime<Utc>)> = sqlx::query_as(&sql)
        .bind(site_ids)
        .bind(started)
        .bind(ok)
        .bind(column(|probe| probe.status))
        .bind(text(|probe| probe.failure.map(FailureClass::as_str)))
        .bind(text(|probe| probe.detail.as_deref()))
        .bind(column(|probe| probe.dns_ms))
        .bind(column(|probe| probe.connect_ms))
        .bind(column(|probe| probe.tls_ms))
        .bind(column(|probe| probe.ttfb_ms))
        .bind(column(|probe| probe.total_ms))
        .bind(text(|probe| probe.remote_ip.as_deref()))
        .bind(text(|probe| probe.facts.as_deref()))
        .bind(bodies)
        .bind(text(|probe| probe.provider.as_deref()))
        .bind(text(|probe| probe.fault_side.map(FaultSide::as_str)))
        .bind(text(|probe| probe.fault.map(Fault::as_str)))
        .bind(confidence)
        .bind(text(|probe| probe.evidence.as_deref()))
        .bind(suspect)
        .bind(vantages)
        .bind(slots)
        .fetch_all(&mut *connection)
        .await?;
    // Keyed to the microsecond, the database's precision; a key twice in
    // one batch is new once, as row by row.
    let mut new: std::collections::HashSet<(i64, i64, i64)> = new
        .into_iter()
        .map(|(site, vantage, slot)| (site, vantage, slot.timestamp_micros()))
        .collect();
    Ok(batch
        .iter()
        .map(|probe| {
            new.remove(&(
                probe.site_id,
                probe.vantage_id,
                probe.slot_or_start().timestamp_micros(),
            ))
        })
        .collect())
}

/// One rollup's part of the ingest statement: the new rows summed per site
/// and bucket (UTC), added to the stored bucket. Failures count neither
/// suspect probes nor successes; times count successes only.
fn rollup(unit: &str, table: &str) -> String {
    format!(
        "{table} AS (
           INSERT INTO {table} (site_id, bucket, probes, failures, suspect, total_ms_sum, total_ms_max)
           SELECT site_id, date_trunc('{unit}', started_at, 'UTC'), COUNT(*),
                  COUNT(*) FILTER (WHERE NOT ok AND NOT suspect), COUNT(*) FILTER (WHERE suspect),
                  COALESCE(SUM(CASE WHEN ok THEN COALESCE(total_ms, 0) ELSE 0 END), 0),
                  COALESCE(MAX(CASE WHEN ok THEN COALESCE(total_ms, 0) ELSE 0 END), 0)
           FROM inserted GROUP BY 1, 2
           ON CONFLICT (site_id, bucket) DO UPDATE SET
             probes = {table}.probes + excluded.probes,
             failures = {table}.failures + excluded.failures,
             suspect = {table}.suspect + excluded.suspect,
             total_ms_sum = {table}.total_ms_sum + excluded.total_ms_sum,
             total_ms_max = GREATEST({table}.total_ms_max, excluded.total_ms_max)
           RETURNING 1)"
    )
}
