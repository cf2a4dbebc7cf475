//! The watchlist.

use chrono::{DateTime, Utc};
use engine::{FailureClass, Fault};
use serde::{Deserialize, Serialize};

use crate::{Store, StoreError};

/// A site as the watchlist holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Site {
    pub id: i64,
    pub url: String,
    pub host: String,
    pub name: String,
    pub tags: String,
    pub interval_s: i64,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

/// A site to add to the watchlist; `url` and `host` are already validated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSite {
    pub url: String,
    pub host: String,
    pub name: String,
    pub tags: Vec<String>,
    pub interval_s: i64,
}

/// Counts shown in the headline of the home page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteSummary {
    pub watched: i64,
    pub probed: i64,
    pub failing: i64,
}

impl Store {
    /// Adds sites that are not yet watched, in one transaction; returns how
    /// many were new. A removed site is watched again, with its history;
    /// watched URLs are left as they are.
    pub async fn add_sites(
        &self,
        sites: &[NewSite],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        on_writer!(self, |pool| {
            let mut tx = pool.begin().await?;
            let mut added = 0;
            for site in sites {
                let result = sqlx::query(
                    "INSERT INTO sites (url, host, name, tags, interval_s, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (url) DO UPDATE SET enabled = TRUE WHERE sites.enabled = FALSE",
                )
                .bind(&site.url)
                .bind(&site.host)
                .bind(&site.name)
                .bind(site.tags.join(","))
                .bind(site.interval_s)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                added += result.rows_affected();
            }
            tx.commit().await?;
            Ok(added)
        })
    }

    /// A number that changes whenever a site is added, changed or removed
    /// (kept by triggers), so a reader can tell the watchlist is as it was.
    pub async fn watchlist_version(&self) -> Result<i64, StoreError> {
        on_reader!(self, |pool| {
            Ok(
                sqlx::query_scalar("SELECT version FROM watchlist_version WHERE id = 1")
                    .fetch_one(pool)
                    .await?,
            )
        })
    }

    pub async fn list_sites(&self) -> Result<Vec<Site>, StoreError> {
        on_reader!(self, |pool| {
            let sites = sqlx::query_as::<_, Site>(
            "SELECT id, url, host, name, tags, interval_s, enabled, created_at FROM sites ORDER BY host",
        )
        .fetch_all(pool)
        .await?;
            Ok(sites)
        })
    }

    /// How many sites are watched, how many have been probed, and how many
    /// failed their latest probe.
    pub async fn site_summary(&self) -> Result<SiteSummary, StoreError> {
        on_reader!(self, |pool| {
            let (watched, probed, failing): (i64, i64, i64) = sqlx::query_as(
                "SELECT
               (SELECT COUNT(*) FROM sites WHERE enabled = TRUE),
               COUNT(st.site_id),
               COALESCE(SUM(CASE WHEN st.ok = FALSE AND st.suspect = FALSE THEN 1 ELSE 0 END), 0)
             FROM sites s JOIN site_status st ON st.site_id = s.id AND st.vantage_id = 0
             WHERE s.enabled = TRUE",
            )
            .fetch_one(pool)
            .await?;
            Ok(SiteSummary {
                watched,
                probed,
                failing,
            })
        })
    }
}

/// A site whose latest probe failed, for the "failing now" list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailingSite {
    pub site_id: i64,
    pub name: String,
    pub host: String,
    pub failure: Option<FailureClass>,
    pub fault: Option<Fault>,
    pub provider: Option<String>,
    pub since: DateTime<Utc>,
}

typed_row!(FailingSite {
    site_id: plain,
    name: plain,
    host: plain,
    failure: maybe_word,
    fault: maybe_word,
    provider: plain,
    since: plain,
});

impl Store {
    /// Sites failing now (suspect probes excluded), most recent first.
    pub async fn failing_sites(&self, limit: i64) -> Result<Vec<FailingSite>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_as::<_, FailingSite>(
            "SELECT s.id AS site_id, s.name, s.host, st.failure, st.fault, st.provider, st.since
             FROM site_status st JOIN sites s ON s.id = st.site_id AND st.vantage_id = 0
             WHERE st.ok = FALSE AND st.suspect = FALSE AND s.enabled = TRUE
             ORDER BY st.since DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(pool)
        .await?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(url: &str) -> NewSite {
        NewSite {
            url: url.to_owned(),
            host: url
                .trim_start_matches("https://")
                .trim_end_matches('/')
                .to_owned(),
            name: url.to_owned(),
            tags: vec!["test".to_owned()],
            interval_s: 60,
        }
    }

    #[tokio::test]
    async fn adding_sites_is_idempotent_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/faultline.db");
        let store = Store::open(&path).await.unwrap();
        let now = Utc::now();
        let batch = [site("https://a.test/"), site("https://b.test/")];
        assert_eq!(store.add_sites(&batch, now).await.unwrap(), 2);
        assert_eq!(store.add_sites(&batch, now).await.unwrap(), 0);
        store.close().await;

        let store = Store::open(&path).await.unwrap();
        let sites = store.list_sites().await.unwrap();
        assert_eq!(
            sites.iter().map(|s| s.host.as_str()).collect::<Vec<_>>(),
            ["a.test", "b.test"]
        );
        assert_eq!(sites[0].tags, "test");
        let summary = store.site_summary().await.unwrap();
        assert_eq!(
            summary,
            SiteSummary {
                watched: 2,
                probed: 0,
                failing: 0
            }
        );
    }

    #[tokio::test]
    async fn open_fails_with_the_path_when_the_directory_cannot_be_created() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"not a directory").unwrap();
        let error = Store::open(&blocker.join("db.sqlite")).await.unwrap_err();
        assert!(matches!(error, StoreError::CreateDir { .. }), "{error}");
        assert!(error.to_string().contains("file"), "{error}");
    }
}
