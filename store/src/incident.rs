//! Incidents: provider-wide and per site, as the correlator reports them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Store, StoreError};

/// A provider incident to insert or update, keyed by its database id.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderIncidentRow {
    pub provider: String,
    pub role: String,
    pub phase: String,
    pub pattern: String,
    pub onset_at: DateTime<Utc>,
    pub detected_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub peak_share: f64,
    pub peak_at: DateTime<Utc>,
    pub recovering_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub confidence: f64,
    /// (site id, first failure, last failure)
    pub sites: Vec<(i64, DateTime<Utc>, DateTime<Utc>)>,
    pub evidence: Vec<String>,
    pub timeline: Vec<(DateTime<Utc>, f64)>,
}

/// An incident as pages and exports read it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Incident {
    pub id: i64,
    pub kind: String,
    pub provider: Option<String>,
    pub role: Option<String>,
    pub site_id: Option<i64>,
    pub phase: String,
    pub pattern: String,
    pub fault: Option<String>,
    pub onset_at: DateTime<Utc>,
    pub detected_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub peak_share: Option<f64>,
    pub peak_at: Option<DateTime<Utc>>,
    pub recovering_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub confidence: Option<f64>,
    pub sites_affected: i64,
    pub explained_by: Option<i64>,
    pub evidence: String,
    pub timeline: String,
}

pub(crate) const INCIDENT_COLUMNS: &str = "id, kind, provider, role, site_id, phase, pattern, fault, onset_at, detected_at,
    confirmed_at, peak_share, peak_at, recovering_at, resolved_at, confidence, sites_affected, explained_by,
    evidence, timeline";

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".to_owned())
}

impl Store {
    /// Inserts (`id` None) or updates a provider incident; returns its id.
    pub async fn save_provider_incident(
        &self,
        id: Option<i64>,
        row: &ProviderIncidentRow,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.writer().begin_with("BEGIN IMMEDIATE").await?;
        let id = match id {
            Some(id) => {
                sqlx::query(
                    "UPDATE incidents SET phase = ?, pattern = ?, confirmed_at = ?, peak_share = ?, peak_at = ?,
                       recovering_at = ?, resolved_at = ?, confidence = ?, sites_affected = ?, evidence = ?,
                       timeline = ?, updated_at = ? WHERE id = ?",
                )
                .bind(&row.phase)
                .bind(&row.pattern)
                .bind(row.confirmed_at)
                .bind(row.peak_share)
                .bind(row.peak_at)
                .bind(row.recovering_at)
                .bind(row.resolved_at)
                .bind(row.confidence)
                .bind(row.sites.len() as i64)
                .bind(to_json(&row.evidence))
                .bind(to_json(&row.timeline))
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                id
            }
            None => {
                sqlx::query_scalar(
                    "INSERT INTO incidents (kind, provider, role, phase, pattern, onset_at, detected_at, confirmed_at,
                       peak_share, peak_at, recovering_at, resolved_at, confidence, sites_affected, evidence,
                       timeline, updated_at)
                     VALUES ('provider', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                )
                .bind(&row.provider)
                .bind(&row.role)
                .bind(&row.phase)
                .bind(&row.pattern)
                .bind(row.onset_at)
                .bind(row.detected_at)
                .bind(row.confirmed_at)
                .bind(row.peak_share)
                .bind(row.peak_at)
                .bind(row.recovering_at)
                .bind(row.resolved_at)
                .bind(row.confidence)
                .bind(row.sites.len() as i64)
                .bind(to_json(&row.evidence))
                .bind(to_json(&row.timeline))
                .bind(now)
                .fetch_one(&mut *tx)
                .await?
            }
        };
        for (site_id, first, last) in &row.sites {
            sqlx::query(
                "INSERT INTO incident_sites (incident_id, site_id, first_failure, last_failure) VALUES (?, ?, ?, ?)
                 ON CONFLICT (incident_id, site_id) DO UPDATE SET last_failure = excluded.last_failure",
            )
            .bind(id)
            .bind(site_id)
            .bind(first)
            .bind(last)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// Opens a site incident; returns its id.
    pub async fn open_site_incident(
        &self,
        site_id: i64,
        onset_at: DateTime<Utc>,
        detected_at: DateTime<Utc>,
        fault: Option<&str>,
        explained_by: Option<i64>,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO incidents (kind, site_id, phase, fault, onset_at, detected_at, explained_by, sites_affected, updated_at)
             VALUES ('site', ?, 'confirmed', ?, ?, ?, ?, 1, ?) RETURNING id",
        )
        .bind(site_id)
        .bind(fault)
        .bind(onset_at)
        .bind(detected_at)
        .bind(explained_by)
        .bind(detected_at)
        .fetch_one(self.writer())
        .await?)
    }

    /// Resolves the open incident of a site, if any.
    pub async fn resolve_site_incident(
        &self,
        site_id: i64,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE incidents SET phase = 'resolved', resolved_at = ?, updated_at = ?
             WHERE kind = 'site' AND site_id = ? AND phase <> 'resolved'",
        )
        .bind(at)
        .bind(at)
        .bind(site_id)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Incidents of `kind` (or all), newest first.
    pub async fn list_incidents(
        &self,
        kind: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Incident>, StoreError> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE (?1 IS NULL OR kind = ?1)
             ORDER BY detected_at DESC LIMIT ?2"
        );
        Ok(sqlx::query_as::<_, Incident>(&sql)
            .bind(kind)
            .bind(limit)
            .fetch_all(self.reader())
            .await?)
    }

    /// Provider incidents not yet resolved, and confirmed at some point.
    pub async fn active_provider_incidents(&self) -> Result<Vec<Incident>, StoreError> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents
             WHERE kind = 'provider' AND phase <> 'resolved' AND confirmed_at IS NOT NULL
             ORDER BY detected_at DESC"
        );
        Ok(sqlx::query_as::<_, Incident>(&sql)
            .fetch_all(self.reader())
            .await?)
    }
}
