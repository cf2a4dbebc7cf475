//! What providers said: their official incidents and updates, each stored
//! once, and the status documents they were read from.

use chrono::{DateTime, Utc};
use engine::vocab::{AlertEvent, OfficialImpact, OfficialStatus};

use crate::alert::{AlertDetail, OfficialSaid};
use serde::{Deserialize, Serialize};

use crate::{Store, StoreError};

/// An official incident as stored, with its updates oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    pub id: i64,
    pub provider: String,
    pub reference: String,
    pub title: String,
    pub impact: OfficialImpact,
    pub components: Vec<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub url: Option<String>,
    /// The status document it was read from.
    pub source: String,
    pub first_seen_at: DateTime<Utc>,
    /// The provider incident Faultline measured that it describes.
    pub incident_id: Option<i64>,
    pub updates: Vec<StatementUpdate>,
}

/// One update of an official incident.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatementUpdate {
    pub status: OfficialStatus,
    pub text: String,
    pub published_at: DateTime<Utc>,
    pub first_seen_at: DateTime<Utc>,
}

impl Statement {
    /// When the provider first said anything.
    pub fn acknowledged_at(&self) -> Option<DateTime<Utc>> {
        self.updates.first().map(|update| update.published_at)
    }

    /// When the provider said it was over: its resolution time, or its
    /// first update that resolved it.
    pub fn official_resolution(&self) -> Option<DateTime<Utc>> {
        self.resolved_at.or_else(|| {
            self.updates
                .iter()
                .find(|update| update.status.is_resolution())
                .map(|update| update.published_at)
        })
    }

    /// The stage of its latest update.
    pub fn status(&self) -> OfficialStatus {
        self.updates
            .last()
            .map_or(OfficialStatus::Unknown, |update| update.status)
    }
}

/// What one stored document added.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    pub new_incidents: u64,
    pub new_updates: u64,
}

/// A status document's last poll.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusSource {
    pub url: String,
    pub provider: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub checked_at: Option<DateTime<Utc>>,
    pub ok_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

typed_row!(StatusSource {
    url: plain,
    provider: plain,
    etag: plain,
    last_modified: plain,
    checked_at: plain,
    ok_at: plain,
    error: plain,
});

/// Official incidents waiting for a match, as matching needs them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmatched {
    pub id: i64,
    pub provider: String,
    pub started_at: Option<DateTime<Utc>>,
    pub acknowledged_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// A provider incident's span, as matching needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeasuredSpan {
    pub id: i64,
    pub provider: String,
    pub onset_at: DateTime<Utc>,
    pub detected_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

typed_row!(Unmatched {
    id: plain,
    provider: plain,
    started_at: plain,
    acknowledged_at: plain,
    resolved_at: plain,
});

typed_row!(MeasuredSpan {
    id: plain,
    provider: plain,
    onset_at: plain,
    detected_at: plain,
    resolved_at: plain,
});

/// An official incident's first update (or, `resolution`, its resolving
/// one), as an alert quotes it.
async fn said(
    tx: crate::Tx<'_>,
    official_id: i64,
    resolution: bool,
) -> Result<Option<OfficialSaid>, StoreError> {
    on_tx!(tx, |tx| {
        let order = if resolution {
            "ORDER BY (u.status IN ('resolved', 'postmortem')) DESC, u.published_at DESC"
        } else {
            "ORDER BY u.published_at"
        };
        /// Title, link, status, text, publication time.
        type Said = (String, Option<String>, String, String, DateTime<Utc>);
        let row: Option<Said> = sqlx::query_as(&format!(
            "SELECT o.title, o.url, u.status, u.text, u.published_at
             FROM official_incidents o JOIN official_updates u ON u.official_id = o.id
             WHERE o.id = $1 {order}, u.id LIMIT 1"
        ))
        .bind(official_id)
        .fetch_optional(&mut *tx)
        .await?;
        Ok(row.map(|(title, url, status, text, at)| OfficialSaid {
            title,
            status: OfficialStatus::from(status.as_str()),
            text: text.chars().take(1_000).collect(),
            at,
            url,
        }))
    })
}

/// Queues `provider.official_resolved` for `incident_id` once every
/// statement linked to it is resolved, if it was not queued before.
async fn official_resolution(
    tx: crate::Tx<'_>,
    incident_id: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_tx!(tx, |tx| {
        let (linked, open): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(*) - COUNT(resolved_at) FROM official_incidents WHERE incident_id = $1",
    )
    .bind(incident_id)
    .fetch_one(&mut *tx)
    .await?;
        let sent: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM alert_events WHERE incident_id = $1 AND event = $2",
        )
        .bind(incident_id)
        .bind(AlertEvent::ProviderOfficiallyResolved.as_str())
        .fetch_one(&mut *tx)
        .await?;
        if linked == 0 || open > 0 || sent > 0 {
            return Ok(());
        }
        let last: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM official_incidents WHERE incident_id = $1 ORDER BY resolved_at DESC, id DESC LIMIT 1",
    )
    .bind(incident_id)
    .fetch_optional(&mut *tx)
    .await?;
        if let Some(official_id) = last {
            if let Some(said) = said(crate::Tx::from(&mut *tx), official_id, true).await? {
                official_event(
                    crate::Tx::from(&mut *tx),
                    incident_id,
                    AlertEvent::ProviderOfficiallyResolved,
                    said,
                    now,
                )
                .await?;
            }
        }
        Ok(())
    })
}

/// Writes an alert event about what the provider said, with the figures
/// of the incident's last alert (as a reminder does).
async fn official_event(
    tx: crate::Tx<'_>,
    incident_id: i64,
    event: AlertEvent,
    said: OfficialSaid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_tx!(tx, |tx| {
        let last: Option<String> = sqlx::query_scalar(
            "SELECT detail FROM alert_events WHERE incident_id = $1 AND event LIKE 'provider.%'
         ORDER BY seq DESC LIMIT 1",
        )
        .bind(incident_id)
        .fetch_optional(&mut *tx)
        .await?;
        let mut detail: AlertDetail = last
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default();
        if detail.provider.is_none() {
            let facts: Option<(Option<String>, Option<String>, String)> =
                sqlx::query_as("SELECT provider, role, phase FROM incidents WHERE id = $1")
                    .bind(incident_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some((provider, role, phase)) = facts {
                detail.provider = provider;
                detail.role = role.as_deref().map(engine::Role::from);
                detail.phase = Some(engine::Phase::from(phase.as_str()));
            }
        }
        detail.official = Some(said);
        crate::alert::insert_event(
            crate::Tx::from(&mut *tx),
            incident_id,
            event,
            now,
            now,
            &detail,
        )
        .await
    })
}

const STATEMENT_COLUMNS: &str = "id, provider, reference, title, impact, components, started_at,
     resolved_at, url, source, first_seen_at, incident_id";

/// Which statements a list holds.
#[derive(Clone, Copy)]
enum Statements<'a> {
    OfIncident(i64),
    OfProvider(&'a str),
    All,
}

impl Store {
    /// Stores what `document` says for `provider`, read from `source` at
    /// `now`: new incidents and updates are added, an incident's title,
    /// impact, components and resolution follow the provider's latest
    /// words, and nothing already stored is lost. One transaction.
    pub async fn record_statements(
        &self,
        provider: &str,
        source: &str,
        document: &statements::Document,
        now: DateTime<Utc>,
    ) -> Result<Recorded, StoreError> {
        on_writer!(self, |pool| {
            let mut recorded = Recorded::default();
            let mut tx = pool.begin_with(BEGIN).await?;
            for incident in &document.incidents {
                let components =
                    serde_json::to_string(&incident.components).unwrap_or_else(|_| "[]".to_owned());
                let existing: Option<(i64, Option<DateTime<Utc>>, Option<i64>)> = sqlx::query_as(
                    "SELECT id, resolved_at, incident_id FROM official_incidents
                 WHERE provider = $1 AND reference = $2",
                )
                .bind(provider)
                .bind(&incident.reference)
                .fetch_optional(&mut *tx)
                .await?;
                let mut newly_resolved = None;
                let id = match existing {
                    Some((id, was_resolved, linked)) => {
                        if was_resolved.is_none() && incident.resolved_at.is_some() {
                            newly_resolved = linked;
                        }
                        sqlx::query(
                        "UPDATE official_incidents SET title = $1, impact = $2, components = $3,
                             started_at = $4, resolved_at = $5, url = $6, updated_seen_at = $7
                         WHERE id = $8",
                    )
                    .bind(&incident.title)
                    .bind(incident.impact.as_str())
                    .bind(&components)
                    .bind(incident.started_at)
                    .bind(incident.resolved_at)
                    .bind(&incident.url)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                        id
                    }
                    None => {
                        recorded.new_incidents += 1;
                        sqlx::query_scalar(
                            "INSERT INTO official_incidents (provider, reference, title, impact,
                             components, started_at, resolved_at, url, source, first_seen_at,
                             updated_seen_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                        )
                        .bind(provider)
                        .bind(&incident.reference)
                        .bind(&incident.title)
                        .bind(incident.impact.as_str())
                        .bind(&components)
                        .bind(incident.started_at)
                        .bind(incident.resolved_at)
                        .bind(&incident.url)
                        .bind(source)
                        .bind(now)
                        .bind(now)
                        .fetch_one(&mut *tx)
                        .await?
                    }
                };
                for update in &incident.updates {
                    recorded.new_updates += sqlx::query(
                        "INSERT INTO official_updates (official_id, reference, status, text,
                         published_at, first_seen_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (official_id, reference) DO NOTHING",
                    )
                    .bind(id)
                    .bind(&update.reference)
                    .bind(update.status.as_str())
                    .bind(&update.text)
                    .bind(update.published_at)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                }
                if let Some(linked) = newly_resolved {
                    official_resolution(crate::Tx::from(&mut *tx), linked, now).await?;
                }
            }
            tx.commit().await?;
            Ok(recorded)
        })
    }

    /// The last poll of the status document at `url`, if it was polled.
    pub async fn status_source(&self, url: &str) -> Result<Option<StatusSource>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT url, provider, etag, last_modified, checked_at, ok_at, error
             FROM status_sources WHERE url = $1",
            )
            .bind(url)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// The status document of `provider` polled most recently.
    pub async fn status_source_of(
        &self,
        provider: &str,
    ) -> Result<Option<StatusSource>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT url, provider, etag, last_modified, checked_at, ok_at, error
             FROM status_sources WHERE provider = $1
             ORDER BY checked_at DESC LIMIT 1",
            )
            .bind(provider)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// Every status document polled, by provider.
    pub async fn status_sources(&self) -> Result<Vec<StatusSource>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT url, provider, etag, last_modified, checked_at, ok_at, error
             FROM status_sources ORDER BY provider, url",
            )
            .fetch_all(pool)
            .await?)
        })
    }

    /// Records a poll of `url`: on success (`error` is `None`) its new
    /// validators; on failure the reason, keeping the validators and the
    /// last success.
    pub async fn record_status_poll(
        &self,
        url: &str,
        provider: &str,
        validators: (Option<&str>, Option<&str>),
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            let (etag, last_modified) = validators;
            let ok_at = error.is_none().then_some(now);
            sqlx::query(
            "INSERT INTO status_sources (url, provider, etag, last_modified, checked_at, ok_at, error)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (url) DO UPDATE SET
                 provider = excluded.provider,
                 etag = CASE WHEN excluded.error IS NULL THEN excluded.etag ELSE status_sources.etag END,
                 last_modified = CASE WHEN excluded.error IS NULL THEN excluded.last_modified ELSE status_sources.last_modified END,
                 checked_at = excluded.checked_at,
                 ok_at = COALESCE(excluded.ok_at, status_sources.ok_at),
                 error = excluded.error",
        )
        .bind(url)
        .bind(provider)
        .bind(etag)
        .bind(last_modified)
        .bind(now)
        .bind(ok_at)
        .bind(error)
        .execute(pool)
        .await?;
            Ok(())
        })
    }

    /// Official incidents without a match whose first update is after
    /// `since`.
    pub async fn unmatched_statements(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<Unmatched>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT o.id AS id, o.provider AS provider, o.started_at AS started_at,
                 MIN(u.published_at) AS acknowledged_at, o.resolved_at AS resolved_at
             FROM official_incidents o JOIN official_updates u ON u.official_id = o.id
             WHERE o.incident_id IS NULL
             GROUP BY o.id
             HAVING MIN(u.published_at) >= $1
             ORDER BY o.id",
            )
            .bind(since)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Confirmed provider incidents still open or resolved after `since`,
    /// as matching needs them (a suspicion that never confirmed is no
    /// outage to compare with).
    pub async fn provider_spans_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<MeasuredSpan>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT id, provider, onset_at, detected_at, resolved_at FROM incidents
             WHERE kind = 'provider' AND provider IS NOT NULL AND confirmed_at IS NOT NULL
               AND (resolved_at IS NULL OR resolved_at >= $1)
             ORDER BY id",
            )
            .bind(since)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Links an official incident to the provider incident it describes,
    /// and in the same transaction queues the alerts that news makes: the
    /// provider's first statement about the outage (`provider.acknowledged`)
    /// and, once every statement linked to it is resolved,
    /// `provider.official_resolved`.
    pub async fn link_statement(
        &self,
        official_id: i64,
        incident_id: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            let mut tx = pool.begin_with(BEGIN).await?;
            let earlier: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM official_incidents WHERE incident_id = $1",
            )
            .bind(incident_id)
            .fetch_one(&mut *tx)
            .await?;
            let linked = sqlx::query(
            "UPDATE official_incidents SET incident_id = $1 WHERE id = $2 AND incident_id IS NULL",
        )
        .bind(incident_id)
        .bind(official_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
            if linked > 0 {
                if earlier == 0 {
                    if let Some(said) = said(crate::Tx::from(&mut *tx), official_id, false).await? {
                        official_event(
                            crate::Tx::from(&mut *tx),
                            incident_id,
                            AlertEvent::ProviderAcknowledged,
                            said,
                            now,
                        )
                        .await?;
                    }
                }
                official_resolution(crate::Tx::from(&mut *tx), incident_id, now).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// The statements about provider incident `incident_id`, oldest first.
    pub async fn statements_for_incident(
        &self,
        incident_id: i64,
    ) -> Result<Vec<Statement>, StoreError> {
        self.statements_where(Statements::OfIncident(incident_id), 50)
            .await
    }

    /// `provider`'s latest statements, newest first, at most `limit`.
    pub async fn statements_of_provider(
        &self,
        provider: &str,
        limit: i64,
    ) -> Result<Vec<Statement>, StoreError> {
        let mut found = self
            .statements_where(Statements::OfProvider(provider), limit)
            .await?;
        found.reverse();
        Ok(found)
    }

    /// Every provider's statements, newest first, at most `limit`: matched
    /// and unmatched, for the comparison over all incidents.
    pub async fn all_statements(&self, limit: i64) -> Result<Vec<Statement>, StoreError> {
        let mut found = self.statements_where(Statements::All, limit).await?;
        found.reverse();
        Ok(found)
    }

    /// The newest `limit` statements of `which`, returned oldest first
    /// with their updates.
    async fn statements_where(
        &self,
        which: Statements<'_>,
        limit: i64,
    ) -> Result<Vec<Statement>, StoreError> {
        on_reader!(self, |pool| {
            type Row = (
                i64,
                String,
                String,
                String,
                String,
                String,
                Option<DateTime<Utc>>,
                Option<DateTime<Utc>>,
                Option<String>,
                String,
                DateTime<Utc>,
                Option<i64>,
            );
            let condition = match which {
                Statements::OfIncident(_) => "incident_id = $2",
                Statements::OfProvider(_) => "provider = $2",
                Statements::All => "$2 IS NULL",
            };
            let sql = format!(
                "SELECT * FROM (SELECT {STATEMENT_COLUMNS} FROM official_incidents
                 WHERE {condition}
                 ORDER BY COALESCE(started_at, first_seen_at) DESC, id DESC LIMIT $1) AS latest
                 ORDER BY COALESCE(started_at, first_seen_at), id"
            );
            let query = sqlx::query_as::<_, Row>(&sql).bind(limit);
            let rows = match which {
                Statements::OfIncident(id) => query.bind(id),
                Statements::OfProvider(provider) => query.bind(provider),
                Statements::All => query.bind(None::<i64>),
            }
            .fetch_all(pool)
            .await?;
            let mut statements = Vec::with_capacity(rows.len());
            for row in rows {
                let updates: Vec<(String, String, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
                    "SELECT status, text, published_at, first_seen_at FROM official_updates
                 WHERE official_id = $1 ORDER BY published_at, id",
                )
                .bind(row.0)
                .fetch_all(pool)
                .await?;
                statements.push(Statement {
                    id: row.0,
                    provider: row.1,
                    reference: row.2,
                    title: row.3,
                    impact: OfficialImpact::from(row.4.as_str()),
                    components: serde_json::from_str(&row.5).unwrap_or_default(),
                    started_at: row.6,
                    resolved_at: row.7,
                    url: row.8,
                    source: row.9,
                    first_seen_at: row.10,
                    incident_id: row.11,
                    updates: updates
                        .into_iter()
                        .map(
                            |(status, text, published_at, first_seen_at)| StatementUpdate {
                                status: OfficialStatus::from(status.as_str()),
                                text,
                                published_at,
                                first_seen_at,
                            },
                        )
                        .collect(),
                });
            }
            Ok(statements)
        })
    }
}
