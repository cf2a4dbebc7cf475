//! Administrators, their sessions, watchlist edits and the audit trail.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Store, StoreError};

/// A signed-in administrator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct AdminAccount {
    pub id: i64,
    pub username: String,
}

/// One line of the audit trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub username: String,
    pub action: String,
    pub detail: String,
}

/// Changes to a watched site; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteChanges {
    pub name: Option<String>,
    pub tags: Option<Vec<String>>,
    pub interval_s: Option<i64>,
}

impl Store {
    /// Creates an administrator; `None` when the name is taken.
    pub async fn create_admin(
        &self,
        username: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        on_writer!(self, |pool| {
            Ok(sqlx::query_scalar(
                "INSERT INTO admins (username, password_hash, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (username) DO NOTHING RETURNING id",
            )
            .bind(username)
            .bind(password_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// Replaces an administrator's password and ends their sessions;
    /// `false` when there is no such administrator.
    pub async fn set_admin_password(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        on_writer!(self, |pool| {
            let mut tx = pool.begin().await?;
            let id: Option<i64> = sqlx::query_scalar(
                "UPDATE admins SET password_hash = $1 WHERE username = $2 RETURNING id",
            )
            .bind(password_hash)
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(id) = id {
                sqlx::query("DELETE FROM admin_sessions WHERE admin_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(id.is_some())
        })
    }

    /// The account and password hash for a login attempt.
    pub async fn admin_credentials(
        &self,
        username: &str,
    ) -> Result<Option<(AdminAccount, String)>, StoreError> {
        on_reader!(self, |pool| {
            let row: Option<(i64, String, String)> = sqlx::query_as(
                "SELECT id, username, password_hash FROM admins WHERE username = $1",
            )
            .bind(username)
            .fetch_optional(pool)
            .await?;
            Ok(row.map(|(id, username, hash)| (AdminAccount { id, username }, hash)))
        })
    }

    pub async fn list_admins(&self) -> Result<Vec<AdminAccount>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_as::<_, AdminAccount>(
                "SELECT id, username FROM admins ORDER BY username",
            )
            .fetch_all(pool)
            .await?)
        })
    }

    /// Starts a session, dropping sessions that have expired.
    pub async fn create_session(
        &self,
        token_hash: &str,
        admin_id: i64,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM admin_sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO admin_sessions (token_hash, admin_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4)",
            )
            .bind(token_hash)
            .bind(admin_id)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The administrator of an unexpired session.
    pub async fn session_admin(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<AdminAccount>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_as::<_, AdminAccount>(
                "SELECT a.id, a.username FROM admin_sessions s JOIN admins a ON a.id = s.admin_id
             WHERE s.token_hash = $1 AND s.expires_at > $2",
            )
            .bind(token_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?)
        })
    }

    pub async fn end_session(&self, token_hash: &str) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            sqlx::query("DELETE FROM admin_sessions WHERE token_hash = $1")
                .bind(token_hash)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    pub async fn record_audit(
        &self,
        username: &str,
        action: &str,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            sqlx::query(
                "INSERT INTO admin_audit (at, username, action, detail) VALUES ($1, $2, $3, $4)",
            )
            .bind(now)
            .bind(username)
            .bind(action)
            .bind(detail)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// The addresses `username` signed in from since `since`, newest first.
    pub async fn admin_sign_in_addresses(
        &self,
        username: &str,
        since: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_scalar(
                "SELECT detail FROM admin_audit \
             WHERE username = $1 AND action = 'sign-in' AND at >= $2 AND detail <> '' \
             GROUP BY detail ORDER BY MAX(id) DESC LIMIT $3",
            )
            .bind(username)
            .bind(since)
            .bind(limit)
            .fetch_all(pool)
            .await?)
        })
    }

    /// The newest entries of the audit trail, newest first.
    pub async fn recent_audit(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_as::<_, AuditEntry>(
                "SELECT at, username, action, detail FROM admin_audit ORDER BY id DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Stops or resumes watching a site, keeping its history; `false` when
    /// there is no such site.
    pub async fn set_site_enabled(&self, site_id: i64, enabled: bool) -> Result<bool, StoreError> {
        on_writer!(self, |pool| {
            let result = sqlx::query("UPDATE sites SET enabled = $1 WHERE id = $2")
                .bind(enabled)
                .bind(site_id)
                .execute(pool)
                .await?;
            Ok(result.rows_affected() == 1)
        })
    }

    /// How many sites were removed from the watchlist (their history kept).
    pub async fn removed_sites(&self) -> Result<i64, StoreError> {
        on_reader!(self, |pool| {
            Ok(
                sqlx::query_scalar("SELECT COUNT(*) FROM sites WHERE enabled = FALSE")
                    .fetch_one(pool)
                    .await?,
            )
        })
    }

    /// Applies `changes` to a site; `false` when there is no such site.
    pub async fn update_site(
        &self,
        site_id: i64,
        changes: &SiteChanges,
    ) -> Result<bool, StoreError> {
        on_writer!(self, |pool| {
            let result = sqlx::query(
                "UPDATE sites SET name = COALESCE($1, name), tags = COALESCE($2, tags),
               interval_s = COALESCE($3, interval_s)
             WHERE id = $4",
            )
            .bind(changes.name.as_deref())
            .bind(changes.tags.as_ref().map(|tags| tags.join(",")))
            .bind(changes.interval_s)
            .bind(site_id)
            .execute(pool)
            .await?;
            Ok(result.rows_affected() == 1)
        })
    }

    /// Each probed site's latest state: `false` when it is failing (probes
    /// the own-network guard marked suspect do not count as failing).
    pub async fn site_health(&self) -> Result<Vec<(i64, bool)>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT site_id, NOT (ok = FALSE AND suspect = FALSE) FROM site_status WHERE vantage_id = 0",
            )
            .fetch_all(pool)
            .await?)
        })
    }

    /// Removes a note from an incident's timeline; `false` when it was not
    /// there.
    pub async fn delete_annotation(
        &self,
        incident_id: i64,
        annotation_id: i64,
    ) -> Result<bool, StoreError> {
        on_writer!(self, |pool| {
            let result = sqlx::query("DELETE FROM annotations WHERE id = $1 AND incident_id = $2")
                .bind(annotation_id)
                .bind(incident_id)
                .execute(pool)
                .await?;
            Ok(result.rows_affected() == 1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[tokio::test]
    async fn sessions_expire_and_end_with_a_new_password() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
        let now = Utc::now();
        let id = store
            .create_admin("ada", "hash-1", now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(store.create_admin("ada", "other", now).await.unwrap(), None);

        store
            .create_session("t1", id, now, now + TimeDelta::hours(1))
            .await
            .unwrap();
        let admin = store.session_admin("t1", now).await.unwrap().unwrap();
        assert_eq!(admin.username, "ada");
        assert_eq!(
            store
                .session_admin("t1", now + TimeDelta::hours(2))
                .await
                .unwrap(),
            None
        );
        assert_eq!(store.session_admin("t2", now).await.unwrap(), None);

        assert!(store.set_admin_password("ada", "hash-2").await.unwrap());
        assert_eq!(store.session_admin("t1", now).await.unwrap(), None);
        let (_, hash) = store.admin_credentials("ada").await.unwrap().unwrap();
        assert_eq!(hash, "hash-2");
        assert!(!store.set_admin_password("bob", "x").await.unwrap());
    }

    #[tokio::test]
    async fn a_removed_site_keeps_its_row_and_comes_back_when_added_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
        let now = Utc::now();
        let site = crate::NewSite {
            url: "https://a.test/".into(),
            host: "a.test".into(),
            name: "A".into(),
            tags: vec![],
            interval_s: 60,
        };
        store
            .add_sites(std::slice::from_ref(&site), now)
            .await
            .unwrap();
        let id = store.list_sites().await.unwrap()[0].id;
        assert!(store.set_site_enabled(id, false).await.unwrap());
        assert_eq!(store.site_summary().await.unwrap().watched, 0);
        assert_eq!(store.add_sites(&[site], now).await.unwrap(), 1);
        let sites = store.list_sites().await.unwrap();
        assert_eq!((sites.len(), sites[0].id, sites[0].enabled), (1, id, true));

        let changes = SiteChanges {
            tags: Some(vec!["shop".into(), "eu".into()]),
            interval_s: Some(300),
            ..SiteChanges::default()
        };
        assert!(store.update_site(id, &changes).await.unwrap());
        let site = &store.list_sites().await.unwrap()[0];
        assert_eq!(
            (site.name.as_str(), site.tags.as_str(), site.interval_s),
            ("A", "shop,eu", 300)
        );
    }
}
