//! Which providers serve each site, with history.

use chrono::{DateTime, Utc};
use engine::Role;
use serde::{Deserialize, Serialize};

use crate::{Store, StoreError};

/// One provider seen in front of (or behind) a site.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteProvider {
    pub site_id: i64,
    pub provider: String,
    pub role: Role,
    /// JSON array of evidence strings.
    pub evidence: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

typed_row!(SiteProvider {
    site_id: plain,
    provider: plain,
    role: word,
    evidence: plain,
    first_seen: plain,
    last_seen: plain,
});

impl Store {
    /// Records what a successful probe showed about a site's providers:
    /// rows still seen are refreshed, new ones opened, and ones no longer
    /// seen closed, so the history of a site's providers is kept.
    pub async fn record_attribution(
        &self,
        site_id: i64,
        seen: &[(String, Role, Vec<String>)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write_attribution(site_id, seen, at, true).await
    }

    /// Records providers seen by a failed probe, closing none: an error
    /// page shows only the layer that wrote it (a CDN's "origin
    /// unreachable" page hides the host behind it), which says nothing
    /// about the layers it hides.
    pub async fn add_attribution(
        &self,
        site_id: i64,
        seen: &[(String, Role, Vec<String>)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write_attribution(site_id, seen, at, false).await
    }

    async fn write_attribution(
        &self,
        site_id: i64,
        seen: &[(String, Role, Vec<String>)],
        at: DateTime<Utc>,
        close_unseen: bool,
    ) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            let mut tx = pool.begin_with(BEGIN).await?;
            let current: Vec<(String, String)> = if close_unseen {
                sqlx::query_as(
                "SELECT provider, role FROM site_providers WHERE site_id = $1 AND until IS NULL",
            )
            .bind(site_id)
            .fetch_all(&mut *tx)
            .await?
            } else {
                Vec::new()
            };
            for (provider, role) in &current {
                if !seen
                    .iter()
                    .any(|(p, r, _)| p == provider && r.as_str() == role)
                {
                    sqlx::query(
                    "UPDATE site_providers SET until = $1 WHERE site_id = $2 AND provider = $3 AND role = $4 AND until IS NULL",
                )
                .bind(at)
                .bind(site_id)
                .bind(provider)
                .bind(role)
                .execute(&mut *tx)
                .await?;
                }
            }
            for (provider, role, evidence) in seen {
                let evidence = serde_json::to_string(evidence).unwrap_or_else(|_| "[]".to_owned());
                sqlx::query(
                "INSERT INTO site_providers (site_id, provider, role, evidence, first_seen, last_seen)
                 VALUES ($1, $2, $3, $4, $5, $5)
                 ON CONFLICT (site_id, provider, role) WHERE until IS NULL
                 DO UPDATE SET last_seen = excluded.last_seen, evidence = excluded.evidence",
            )
            .bind(site_id)
            .bind(provider)
            .bind(role.as_str())
            .bind(evidence)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Every current (site, provider, role) membership.
    pub async fn current_providers(&self) -> Result<Vec<SiteProvider>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_as::<_, SiteProvider>(
            "SELECT site_id, provider, role, evidence, first_seen, last_seen FROM site_providers
             WHERE until IS NULL ORDER BY site_id, role",
        )
        .fetch_all(pool)
        .await?)
        })
    }
}
