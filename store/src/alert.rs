//! Alerts: subscriptions, the outbox of alert events and their deliveries.
//!
//! An incident change writes its alert event in its own transaction
//! ([`insert_event`], called by the incident writes); the dispatcher later
//! fans each event out into one delivery per subscription that hears it
//! ([`Store::fan_out`], idempotent), then delivers, recording each attempt.

use chrono::{DateTime, TimeDelta, Utc};
use engine::{AlertChannel, AlertEvent, AlertFormat, DeliveryState, Phase, Role};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::{Store, StoreError};

/// How long a site event waits before it is fanned out, so that a
/// provider incident detected a little later can explain it (and fold it).
pub const SITE_EVENT_WAIT: TimeDelta = TimeDelta::seconds(90);

/// Which alerts may go now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sendable {
    All,
    /// While Faultline's own network is down, only test alerts: a person
    /// asked for them, and they say nothing about anyone's outage.
    TestsOnly,
}

/// A subscription as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: i64,
    pub channel: AlertChannel,
    pub format: AlertFormat,
    pub target: String,
    /// Webhooks: `whsec_` secrets, newest first; several during a rotation.
    pub secrets: Vec<String>,
    pub interests: engine::alert::Interests,
    pub min_interval_s: i64,
    /// Reminders of an open outage this often; 0 for none.
    pub remind_every_s: i64,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// Webhooks added from an email subscriber's page: that address.
    pub owner: Option<String>,
    /// Since when every attempt failed; none after a delivery.
    pub failing_since: Option<DateTime<Utc>>,
    pub last_delivered_at: Option<DateTime<Utc>>,
}

impl Subscription {
    /// Whether anything may be sent to it now.
    pub fn is_active(&self) -> bool {
        self.disabled_at.is_none()
            && (self.channel == AlertChannel::Webhook || self.confirmed_at.is_some())
    }
}

/// How often a subscription may hear of one outage: at least
/// `min_interval_s` apart, and reminded every `remind_every_s` while it
/// stays confirmed (0: never).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cadence {
    pub min_interval_s: i64,
    pub remind_every_s: i64,
}

impl Subscription {
    pub fn cadence(&self) -> Cadence {
        Cadence {
            min_interval_s: self.min_interval_s,
            remind_every_s: self.remind_every_s,
        }
    }
}

/// A subscription to create.
#[derive(Clone, Debug, PartialEq)]
pub struct NewSubscription {
    pub channel: AlertChannel,
    pub format: AlertFormat,
    pub target: String,
    pub secrets: Vec<String>,
    pub interests: engine::alert::Interests,
    pub min_interval_s: i64,
    pub remind_every_s: i64,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub owner: Option<String>,
}

#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    id: i64,
    channel: String,
    format: String,
    target: String,
    secrets: String,
    scopes: String,
    events: String,
    mutes: String,
    min_interval_s: i64,
    remind_every_s: i64,
    confirmed_at: Option<DateTime<Utc>>,
    disabled_at: Option<DateTime<Utc>>,
    disabled_reason: Option<String>,
    created_at: DateTime<Utc>,
    created_by: String,
    owner: Option<String>,
    failing_since: Option<DateTime<Utc>>,
    last_delivered_at: Option<DateTime<Utc>>,
}

impl From<SubscriptionRow> for Subscription {
    fn from(row: SubscriptionRow) -> Self {
        // Lenient, like every word read back: an entry this version does not
        // know is left out rather than failing the whole subscription.
        let texts = |json: &str| serde_json::from_str::<Vec<String>>(json).unwrap_or_default();
        let interests = engine::alert::Interests {
            scopes: texts(&row.scopes)
                .iter()
                .filter_map(|text| engine::alert::Scope::parse(text).ok())
                .collect(),
            events: texts(&row.events)
                .iter()
                .map(|text| AlertEvent::from(text.as_str()))
                .filter(|event| *event != AlertEvent::Unknown)
                .collect(),
            mutes: serde_json::from_str(&row.mutes).unwrap_or_default(),
        };
        Self {
            id: row.id,
            channel: AlertChannel::from(row.channel.as_str()),
            format: AlertFormat::from(row.format.as_str()),
            target: row.target,
            secrets: texts(&row.secrets),
            interests,
            min_interval_s: row.min_interval_s,
            remind_every_s: row.remind_every_s,
            confirmed_at: row.confirmed_at,
            disabled_at: row.disabled_at,
            disabled_reason: row.disabled_reason,
            created_at: row.created_at,
            created_by: row.created_by,
            owner: row.owner,
            failing_since: row.failing_since,
            last_delivered_at: row.last_delivered_at,
        }
    }
}

const SUBSCRIPTION_COLUMNS: &str =
    "id, channel, format, target, secrets, scopes, events, mutes, min_interval_s, remind_every_s,
    confirmed_at, disabled_at, disabled_reason, created_at, created_by, owner,
    failing_since, last_delivered_at";

/// The figures of an incident at the moment of an alert event, kept with
/// the event so every delivery and retry of it says the same.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Sites failing in the way the provider's role explains, of those judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tally: Option<engine::Tally>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_share: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affected_sites: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onset_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// Site events: why the site is down (a fault or failure spelling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explained_by: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    /// What the provider's status page said, for the events about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub official: Option<OfficialSaid>,
    /// Provider incidents, when vantages probe from several regions:
    /// global or regional, and the regions that see it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<engine::Scope>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
}

/// One update of a provider's status page, as an alert quotes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OfficialSaid {
    pub title: String,
    pub status: engine::vocab::OfficialStatus,
    pub text: String,
    /// When the provider published it.
    pub at: DateTime<Utc>,
    /// The incident's page on the provider's status site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// An event of the outbox.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertEventRow {
    pub id: i64,
    pub incident_id: Option<i64>,
    pub event: AlertEvent,
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub not_before: DateTime<Utc>,
    pub detail: AlertDetail,
    pub test_for: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    incident_id: Option<i64>,
    event: String,
    seq: i64,
    at: DateTime<Utc>,
    not_before: DateTime<Utc>,
    detail: String,
    test_for: Option<i64>,
}

impl From<EventRow> for AlertEventRow {
    fn from(row: EventRow) -> Self {
        Self {
            id: row.id,
            incident_id: row.incident_id,
            event: AlertEvent::from(row.event.as_str()),
            seq: row.seq,
            at: row.at,
            not_before: row.not_before,
            detail: serde_json::from_str(&row.detail).unwrap_or_default(),
            test_for: row.test_for,
        }
    }
}

const EVENT_COLUMNS: &str = "id, incident_id, event, seq, at, not_before, detail, test_for";

/// Writes an alert event inside the transaction of the change that caused
/// it, numbered after the incident's earlier events.
pub(crate) async fn insert_event(
    tx: crate::Tx<'_>,
    incident_id: i64,
    event: AlertEvent,
    at: DateTime<Utc>,
    not_before: DateTime<Utc>,
    detail: &AlertDetail,
) -> Result<(), StoreError> {
    on_tx!(tx, |tx| {
        sqlx::query(
        "INSERT INTO alert_events (incident_id, event, seq, at, not_before, detail)
         VALUES ($1, $2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM alert_events WHERE incident_id = $1), $3, $4, $5)",
    )
    .bind(incident_id)
    .bind(event.as_str())
    .bind(at)
    .bind(not_before)
    .bind(serde_json::to_string(detail).unwrap_or_else(|_| "{}".to_owned()))
    .execute(&mut *tx)
    .await?;
        Ok(())
    })
}

/// A due delivery as first read: id, event as heard, host, attempts,
/// event id, subscription id.
type DueRow = (i64, String, Option<String>, i64, i64, i64);

/// One delivery the fan-out decided.
#[derive(Clone, Debug, PartialEq)]
pub struct NewDelivery {
    pub subscription_id: i64,
    pub sent_as: AlertEvent,
    /// The site it concerns, if one.
    pub host: Option<String>,
    pub state: DeliveryState,
    pub due_at: DateTime<Utc>,
}

/// A delivery due now, with what sending it needs.
#[derive(Clone, Debug, PartialEq)]
pub struct DueDelivery {
    pub id: i64,
    pub sent_as: AlertEvent,
    pub host: Option<String>,
    pub attempts: i64,
    pub event: AlertEventRow,
    pub subscription: Subscription,
}

/// What one attempt found, and what comes next.
#[derive(Clone, Debug, PartialEq)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    pub status: Option<u16>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub next: AfterAttempt,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterAttempt {
    Delivered,
    RetryAt(DateTime<Utc>),
    Dead,
}

/// A line of the delivery log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryLine {
    pub id: i64,
    pub subscription_id: i64,
    pub target: String,
    pub event_id: i64,
    pub incident_id: Option<i64>,
    pub sent_as: AlertEvent,
    pub state: DeliveryState,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub due_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// The last attempt: when, and how long it took.
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_ms: Option<i64>,
}

/// What the fan-out of a provider event needs: each watched site behind
/// the provider in the incident's role, and whether it is affected.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProviderAudience {
    pub sites: Vec<(engine::alert::SiteFacts, bool)>,
}

impl Store {
    pub async fn create_subscription(
        &self,
        new: &NewSubscription,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        on_writer!(self, |pool| {
            let scopes = scope_texts(&new.interests.scopes);
            let events: Vec<&str> = new.interests.events.iter().map(|e| e.as_str()).collect();
            Ok(sqlx::query_scalar(
            "INSERT INTO alert_subscriptions (channel, format, target, secrets, scopes, events, mutes,
               min_interval_s, remind_every_s, confirmed_at, created_at, created_by, owner)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
        )
        .bind(new.channel.as_str())
        .bind(new.format.as_str())
        .bind(&new.target)
        .bind(crate::json(&new.secrets))
        .bind(crate::json(&scopes))
        .bind(crate::json(&events))
        .bind(crate::json(&new.interests.mutes))
        .bind(new.min_interval_s)
        .bind(new.remind_every_s)
        .bind(new.confirmed_at)
        .bind(now)
        .bind(&new.created_by)
        .bind(&new.owner)
        .fetch_one(pool)
        .await?)
        })
    }

    /// How many subscriptions an address (email) or URL (webhook) has.
    pub async fn subscriptions_of(&self, target: &str) -> Result<i64, StoreError> {
        on_reader!(self, |pool| {
            Ok(
                sqlx::query_scalar("SELECT COUNT(*) FROM alert_subscriptions WHERE target = $1")
                    .bind(target)
                    .fetch_one(pool)
                    .await?,
            )
        })
    }

    /// Whether `target` already has a subscription to exactly `scopes`.
    pub async fn has_subscription(
        &self,
        target: &str,
        scopes: &[engine::alert::Scope],
    ) -> Result<bool, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM alert_subscriptions WHERE target = $1 AND scopes = $2)",
        )
        .bind(target)
        .bind(crate::json(&scope_texts(scopes)))
        .fetch_one(pool)
        .await?)
        })
    }

    /// Confirms an email subscription; `false` when there is no such
    /// subscription. Confirming twice changes nothing.
    pub async fn confirm_subscription(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_writer!(self, |pool| {
            let done = sqlx::query(
                "UPDATE alert_subscriptions SET confirmed_at = COALESCE(confirmed_at, $1)
             WHERE id = $2 AND channel = 'email'",
            )
            .bind(now)
            .bind(id)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Email subscriptions whose confirmation mail has not gone out yet.
    pub async fn confirmations_to_send(&self, limit: i64) -> Result<Vec<Subscription>, StoreError> {
        on_reader!(self, |pool| {
            let sql = format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM alert_subscriptions
             WHERE channel = 'email' AND confirmed_at IS NULL AND confirmation_sent_at IS NULL
               AND disabled_at IS NULL ORDER BY id LIMIT $1"
            );
            let rows = sqlx::query_as::<_, SubscriptionRow>(&sql)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            Ok(rows.into_iter().map(Subscription::from).collect())
        })
    }

    pub async fn confirmation_sent(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            sqlx::query("UPDATE alert_subscriptions SET confirmation_sent_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// The key named `name`, stored from `fresh` the first time it is
    /// asked for: the same key for every later caller and process.
    pub async fn server_key(
        &self,
        name: &str,
        fresh: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, StoreError> {
        on_writer!(self, |pool| {
            sqlx::query(
                "INSERT INTO server_keys (name, key, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(fresh)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(
                sqlx::query_scalar("SELECT key FROM server_keys WHERE name = $1")
                    .bind(name)
                    .fetch_one(pool)
                    .await?,
            )
        })
    }

    /// Every subscription, oldest first.
    pub async fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        on_reader!(self, |pool| {
            let sql = format!("SELECT {SUBSCRIPTION_COLUMNS} FROM alert_subscriptions ORDER BY id");
            let rows = sqlx::query_as::<_, SubscriptionRow>(&sql)
                .fetch_all(pool)
                .await?;
            Ok(rows.into_iter().map(Subscription::from).collect())
        })
    }

    pub async fn subscription(&self, id: i64) -> Result<Option<Subscription>, StoreError> {
        on_reader!(self, |pool| {
            let sql =
                format!("SELECT {SUBSCRIPTION_COLUMNS} FROM alert_subscriptions WHERE id = $1");
            let row = sqlx::query_as::<_, SubscriptionRow>(&sql)
                .bind(id)
                .fetch_optional(pool)
                .await?;
            Ok(row.map(Subscription::from))
        })
    }

    /// An email address's own subscriptions, oldest first.
    pub async fn email_subscriptions_of(
        &self,
        address: &str,
    ) -> Result<Vec<Subscription>, StoreError> {
        on_reader!(self, |pool| {
            let sql = format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM alert_subscriptions
             WHERE channel = 'email' AND target = $1 ORDER BY id"
            );
            let rows = sqlx::query_as::<_, SubscriptionRow>(&sql)
                .bind(address)
                .fetch_all(pool)
                .await?;
            Ok(rows.into_iter().map(Subscription::from).collect())
        })
    }

    /// The webhook endpoints an email address added, oldest first.
    pub async fn webhooks_owned_by(&self, address: &str) -> Result<Vec<Subscription>, StoreError> {
        on_reader!(self, |pool| {
            let sql = format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM alert_subscriptions
             WHERE channel = 'webhook' AND owner = $1 ORDER BY id"
            );
            let rows = sqlx::query_as::<_, SubscriptionRow>(&sql)
                .bind(address)
                .fetch_all(pool)
                .await?;
            Ok(rows.into_iter().map(Subscription::from).collect())
        })
    }

    /// Replaces what a subscription follows and hears; `false` when there
    /// is no such subscription.
    pub async fn set_interests(
        &self,
        id: i64,
        interests: &engine::alert::Interests,
        cadence: Cadence,
    ) -> Result<bool, StoreError> {
        on_writer!(self, |pool| {
            let events: Vec<&str> = interests.events.iter().map(|e| e.as_str()).collect();
            let done = sqlx::query(
                "UPDATE alert_subscriptions
             SET scopes = $1, events = $2, mutes = $3, min_interval_s = $4, remind_every_s = $5
             WHERE id = $6",
            )
            .bind(crate::json(&scope_texts(&interests.scopes)))
            .bind(crate::json(&events))
            .bind(crate::json(&interests.mutes))
            .bind(cadence.min_interval_s)
            .bind(cadence.remind_every_s)
            .bind(id)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Deletes a subscription and its deliveries; `false` when there is none.
    pub async fn remove_subscription(&self, id: i64) -> Result<bool, StoreError> {
        on_writer!(self, |pool| {
            let done = sqlx::query("DELETE FROM alert_subscriptions WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Deletes an email subscription. When it was its address's last, the
    /// webhooks that address added go with it: a webhook needs a confirmed
    /// owner who can manage it. `None` when there was no such subscription,
    /// else how many webhooks went.
    pub async fn remove_email_subscription(&self, id: i64) -> Result<Option<u64>, StoreError> {
        on_writer!(self, |pool| {
            let mut tx = pool.begin().await?;
            let address: Option<String> = sqlx::query_scalar(
            "DELETE FROM alert_subscriptions WHERE id = $1 AND channel = 'email' RETURNING target",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
            let Some(address) = address else {
                return Ok(None);
            };
            let webhooks = sqlx::query(
                "DELETE FROM alert_subscriptions WHERE channel = 'webhook' AND owner = $1
               AND NOT EXISTS (SELECT 1 FROM alert_subscriptions
                               WHERE channel = 'email' AND target = $1)",
            )
            .bind(&address)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok(Some(webhooks))
        })
    }

    /// Stops sending to a subscription, saying why; its pending deliveries
    /// stay pending, for an administrator to replay once it is fixed.
    /// `false` when it was stopped already (or is gone).
    pub async fn disable_subscription(
        &self,
        id: i64,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_writer!(self, |pool| {
            let done = sqlx::query(
                "UPDATE alert_subscriptions SET disabled_at = $1, disabled_reason = $2
             WHERE id = $3 AND disabled_at IS NULL",
            )
            .bind(now)
            .bind(reason)
            .bind(id)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Queues a test event for one subscription.
    pub async fn queue_test_event(
        &self,
        subscription_id: i64,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        on_writer!(self, |pool| {
            Ok(sqlx::query_scalar(
            "INSERT INTO alert_events (event, seq, at, not_before, test_for) VALUES ('test', 1, $1, $2, $3)
             RETURNING id",
        )
        .bind(now)
        .bind(now)
        .bind(subscription_id)
        .fetch_one(pool)
        .await?)
        })
    }

    /// Events not yet fanned out whose time has come, oldest first.
    pub async fn events_to_fan_out(
        &self,
        now: DateTime<Utc>,
        which: Sendable,
        limit: i64,
    ) -> Result<Vec<AlertEventRow>, StoreError> {
        on_reader!(self, |pool| {
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM alert_events
             WHERE fanned_out_at IS NULL AND not_before <= $1 AND ($2 OR event = 'test')
             ORDER BY id LIMIT $3"
            );
            let rows = sqlx::query_as::<_, EventRow>(&sql)
                .bind(now)
                .bind(which == Sendable::All)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            Ok(rows.into_iter().map(AlertEventRow::from).collect())
        })
    }

    /// When the next event waiting to be fanned out is due, if any.
    pub async fn next_event_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_scalar(
                "SELECT MIN(not_before) FROM alert_events WHERE fanned_out_at IS NULL",
            )
            .fetch_one(pool)
            .await?)
        })
    }

    /// The subscriptions that heard of `incident` before (anything but
    /// skipped: sent, pending, muted or dead).
    pub async fn heard_of(&self, incident: i64) -> Result<Vec<i64>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_scalar(
                "SELECT DISTINCT d.subscription_id FROM alert_deliveries d
             JOIN alert_events e ON e.id = d.event_id WHERE e.incident_id = $1",
            )
            .bind(incident)
            .fetch_all(pool)
            .await?)
        })
    }

    /// When each subscription last had an alert of `incident` sent or
    /// scheduled, for the minimum interval between two.
    pub async fn last_alert_of(
        &self,
        incident: i64,
    ) -> Result<Vec<(i64, DateTime<Utc>)>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT d.subscription_id, MAX(d.due_at) FROM alert_deliveries d
             JOIN alert_events e ON e.id = d.event_id
             WHERE e.incident_id = $1 AND d.state <> 'muted' GROUP BY d.subscription_id",
            )
            .bind(incident)
            .fetch_all(pool)
            .await?)
        })
    }

    /// The watched sites behind `provider` in `role` (a firewall counts
    /// with the CDNs), each with whether `incident` lists it as affected.
    pub async fn provider_audience(
        &self,
        provider: &str,
        role: Role,
        incident: i64,
    ) -> Result<ProviderAudience, StoreError> {
        on_reader!(self, |pool| {
            let roles: Vec<&str> = Role::ALL
                .iter()
                .filter(|r| r.cohort() == role.cohort())
                .map(|r| r.as_str())
                .collect();
            let rows: Vec<(String, String, String, bool)> = sqlx::query_as(
            "SELECT s.host, s.tags, sp.role,
                    EXISTS (SELECT 1 FROM incident_sites i WHERE i.incident_id = $1 AND i.site_id = s.id)
             FROM site_providers sp JOIN sites s ON s.id = sp.site_id
             WHERE sp.provider = $2 AND sp.until IS NULL AND s.enabled = TRUE",
        )
        .bind(incident)
        .bind(provider)
        .fetch_all(pool)
        .await?;
            let mut sites: Vec<(engine::alert::SiteFacts, bool)> = Vec::new();
            for (host, tags, row_role, affected) in rows {
                if !roles.contains(&row_role.as_str()) {
                    continue;
                }
                match sites.iter_mut().find(|(site, _)| site.host == host) {
                    Some((_, seen)) => *seen |= affected,
                    None => sites.push((site_facts(host, &tags), affected)),
                }
            }
            Ok(ProviderAudience { sites })
        })
    }

    /// A watched site's facts for the rules, and the provider incident that
    /// explains its failure at `at`: the one the correlator named, or a
    /// confirmed provider incident that lists the site and was open then.
    pub async fn site_audience(
        &self,
        site_id: i64,
        explained_by: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<Option<(engine::alert::SiteFacts, Option<i64>)>, StoreError> {
        on_reader!(self, |pool| {
            let Some((host, tags)) =
                sqlx::query_as::<_, (String, String)>("SELECT host, tags FROM sites WHERE id = $1")
                    .bind(site_id)
                    .fetch_optional(pool)
                    .await?
            else {
                return Ok(None);
            };
            let explaining =
                match explained_by {
                    Some(id) => Some(id),
                    None => sqlx::query_scalar(
                        "SELECT i.id FROM incidents i JOIN incident_sites s ON s.incident_id = i.id
                     WHERE i.kind = 'provider' AND s.site_id = $1 AND i.confirmed_at IS NOT NULL
                       AND (i.resolved_at IS NULL OR i.resolved_at >= $2)
                     ORDER BY i.detected_at DESC LIMIT 1",
                    )
                    .bind(site_id)
                    .bind(at)
                    .fetch_optional(pool)
                    .await?,
                };
            Ok(Some((site_facts(host, &tags), explaining)))
        })
    }

    /// Records an event's deliveries and marks it fanned out, at once: a
    /// crash before the commit leaves the event to be fanned out again, and
    /// a delivery that already exists is kept as it is.
    pub async fn fan_out(
        &self,
        event_id: i64,
        deliveries: &[NewDelivery],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            let mut tx = pool.begin_with(BEGIN).await?;
            for delivery in deliveries {
                sqlx::query(
                "INSERT INTO alert_deliveries (event_id, subscription_id, sent_as, host, state, due_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id, subscription_id) DO NOTHING",
            )
            .bind(event_id)
            .bind(delivery.subscription_id)
            .bind(delivery.sent_as.as_str())
            .bind(delivery.host.as_deref())
            .bind(delivery.state.as_str())
            .bind(delivery.due_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            }
            sqlx::query("UPDATE alert_events SET fanned_out_at = $1 WHERE id = $2")
                .bind(now)
                .bind(event_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Pending deliveries due by `now` to active subscriptions, oldest
    /// first.
    pub async fn due_deliveries(
        &self,
        now: DateTime<Utc>,
        which: Sendable,
        limit: i64,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        on_reader!(self, |pool| {
            let rows: Vec<DueRow> = sqlx::query_as(
                "SELECT d.id, d.sent_as, d.host, d.attempts, d.event_id, d.subscription_id
             FROM alert_deliveries d JOIN alert_subscriptions s ON s.id = d.subscription_id
             WHERE d.state = 'pending' AND d.due_at <= $1 AND s.disabled_at IS NULL
               AND ($2 OR d.sent_as = 'test')
             ORDER BY d.due_at, d.id LIMIT $3",
            )
            .bind(now)
            .bind(which == Sendable::All)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            // The events and subscriptions these deliveries need, one query
            // each (a round may hold hundreds of deliveries of one event).
            let ids = |pick: fn(&DueRow) -> i64| {
                let mut ids: Vec<i64> = rows.iter().map(pick).collect();
                ids.sort_unstable();
                ids.dedup();
                crate::json(&ids)
            };
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM alert_events WHERE id IN {ids}",
                ids = DIALECT.ids_in_json("$1")
            );
            let events: HashMap<i64, AlertEventRow> = sqlx::query_as::<_, EventRow>(&sql)
                .bind(ids(|row| row.4))
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|row| (row.id, AlertEventRow::from(row)))
                .collect();
            let sql = format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM alert_subscriptions WHERE id IN {ids}",
                ids = DIALECT.ids_in_json("$1")
            );
            let subscriptions: HashMap<i64, Subscription> =
                sqlx::query_as::<_, SubscriptionRow>(&sql)
                    .bind(ids(|row| row.5))
                    .fetch_all(pool)
                    .await?
                    .into_iter()
                    .map(|row| (row.id, Subscription::from(row)))
                    .collect();
            let due = rows
                .into_iter()
                .filter_map(|(id, sent_as, host, attempts, event_id, subscription_id)| {
                    Some(DueDelivery {
                        id,
                        sent_as: AlertEvent::from(sent_as.as_str()),
                        host,
                        attempts,
                        event: events.get(&event_id)?.clone(),
                        subscription: subscriptions.get(&subscription_id)?.clone(),
                    })
                })
                .collect();
            Ok(due)
        })
    }

    /// When the next pending delivery is due, if any.
    pub async fn next_delivery_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_scalar(
                "SELECT MIN(d.due_at) FROM alert_deliveries d
             JOIN alert_subscriptions s ON s.id = d.subscription_id
             WHERE d.state = 'pending' AND s.disabled_at IS NULL",
            )
            .fetch_one(pool)
            .await?)
        })
    }

    /// Moves a pending delivery's time without an attempt (its endpoint's
    /// breaker is open).
    pub async fn defer_delivery(
        &self,
        delivery_id: i64,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            sqlx::query(
                "UPDATE alert_deliveries SET due_at = $1 WHERE id = $2 AND state = 'pending'",
            )
            .bind(until)
            .bind(delivery_id)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Records one attempt and what follows it.
    /// Records an attempt and where its delivery stands after it, and the
    /// endpoint's health; returns since when the endpoint has been failing
    /// (none after a delivery).
    pub async fn record_attempt(
        &self,
        delivery_id: i64,
        attempt: &Attempt,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        on_writer!(self, |pool| {
            let mut tx = pool.begin_with(BEGIN).await?;
            sqlx::query(
            "INSERT INTO alert_attempts (delivery_id, at, status, duration_ms, error) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(delivery_id)
        .bind(attempt.at)
        .bind(attempt.status.map(i64::from))
        .bind(attempt.duration_ms)
        .bind(attempt.error.as_deref())
        .execute(&mut *tx)
        .await?;
            let (state, due_at, delivered_at) = match attempt.next {
                AfterAttempt::Delivered => (DeliveryState::Delivered, None, Some(attempt.at)),
                AfterAttempt::RetryAt(at) => (DeliveryState::Pending, Some(at), None),
                AfterAttempt::Dead => (DeliveryState::Dead, None, None),
            };
            sqlx::query(
            "UPDATE alert_deliveries SET state = $1, attempts = attempts + 1, last_status = $2, last_error = $3,
               due_at = COALESCE($4, due_at), delivered_at = COALESCE($5, delivered_at)
             WHERE id = $6",
        )
        .bind(state.as_str())
        .bind(attempt.status.map(i64::from))
        .bind(attempt.error.as_deref())
        .bind(due_at)
        .bind(delivered_at)
        .bind(delivery_id)
        .execute(&mut *tx)
        .await?;
            let delivered = matches!(attempt.next, AfterAttempt::Delivered);
            let failing_since: Option<Option<DateTime<Utc>>> = sqlx::query_scalar(
                "UPDATE alert_subscriptions
             SET failing_since = CASE WHEN $1 THEN NULL ELSE COALESCE(failing_since, $2) END,
                 last_delivered_at = CASE WHEN $1 THEN $2 ELSE last_delivered_at END
             WHERE id = (SELECT subscription_id FROM alert_deliveries WHERE id = $3)
             RETURNING failing_since",
            )
            .bind(delivered)
            .bind(attempt.at)
            .bind(delivery_id)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(failing_since.flatten())
        })
    }

    /// Queues a reminder of each confirmed provider outage still open for
    /// every subscription that heard of it, asked for reminders and is due
    /// one (`engine::alert::reminder_due`): one event per outage, fanned
    /// out at once to those due, with the outage's figures as stored now.
    /// Returns how many reminders it queued.
    pub async fn queue_reminders(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        on_writer!(self, |pool| {
            type Candidate = (i64, i64, i64, String, DateTime<Utc>);
            let candidates: Vec<Candidate> = sqlx::query_as(
                "SELECT i.id, s.id, s.remind_every_s, s.mutes, MAX(d.created_at)
             FROM incidents i
             JOIN alert_events e ON e.incident_id = i.id
             JOIN alert_deliveries d ON d.event_id = e.id AND d.state IN ('pending', 'delivered')
             JOIN alert_subscriptions s ON s.id = d.subscription_id
             WHERE i.kind = 'provider' AND i.phase = 'confirmed'
               AND s.remind_every_s > 0 AND s.disabled_at IS NULL
               AND (s.channel = 'webhook' OR s.confirmed_at IS NOT NULL)
             GROUP BY i.id, s.id",
            )
            .fetch_all(pool)
            .await?;
            let mut due: HashMap<i64, Vec<i64>> = HashMap::new();
            for (incident, subscription, every, mutes, last) in candidates {
                let interests = engine::alert::Interests {
                    mutes: serde_json::from_str(&mutes).unwrap_or_default(),
                    ..engine::alert::Interests::default()
                };
                if engine::alert::reminder_due(&interests, TimeDelta::seconds(every), last, now) {
                    due.entry(incident).or_default().push(subscription);
                }
            }
            let mut queued = 0;
            for (incident, subscriptions) in due {
                let mut tx = pool.begin_with(BEGIN).await?;
                // What the last phase change said, with the figures of now.
                let said: Option<String> = sqlx::query_scalar(
                "SELECT detail FROM alert_events WHERE incident_id = $1 AND event LIKE 'provider.%'
                 ORDER BY seq DESC LIMIT 1",
            )
            .bind(incident)
            .fetch_optional(&mut *tx)
            .await?;
                let mut detail: AlertDetail = said
                    .and_then(|json| serde_json::from_str(&json).ok())
                    .unwrap_or_default();
                let now_figures: Option<(String, Option<f64>, i64)> = sqlx::query_as(
                    "SELECT timeline, peak_share, sites_affected FROM incidents WHERE id = $1",
                )
                .bind(incident)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((timeline, peak_share, affected)) = now_figures {
                    let timeline: Vec<engine::TimelinePoint> =
                        serde_json::from_str(&timeline).unwrap_or_default();
                    if let Some(point) = timeline.iter().rev().find(|point| point.counted()) {
                        detail.tally = Some(point.tally);
                    }
                    detail.peak_share = peak_share.or(detail.peak_share);
                    detail.affected_sites = Some(affected);
                }
                detail.phase = Some(Phase::Confirmed);
                let event: i64 = sqlx::query_scalar(
                "INSERT INTO alert_events (incident_id, event, seq, at, not_before, detail, fanned_out_at)
                 VALUES ($1, $2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM alert_events WHERE incident_id = $1),
                         $3, $3, $4, $3)
                 RETURNING id",
            )
            .bind(incident)
            .bind(AlertEvent::ProviderOngoing.as_str())
            .bind(now)
            .bind(crate::json(&detail))
            .fetch_one(&mut *tx)
            .await?;
                for subscription in &subscriptions {
                    sqlx::query(
                    "INSERT INTO alert_deliveries (event_id, subscription_id, sent_as, state, due_at, created_at)
                     VALUES ($1, $2, $3, 'pending', $4, $4)",
                )
                .bind(event)
                .bind(subscription)
                .bind(AlertEvent::ProviderOngoing.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                }
                tx.commit().await?;
                queued += subscriptions.len();
            }
            Ok(queued)
        })
    }

    /// How many deliveries each subscription has in each state.
    pub async fn delivery_counts(
        &self,
    ) -> Result<HashMap<i64, HashMap<DeliveryState, i64>>, StoreError> {
        on_reader!(self, |pool| {
            let rows: Vec<(i64, String, i64)> = sqlx::query_as(
                "SELECT subscription_id, state, COUNT(*) FROM alert_deliveries GROUP BY 1, 2",
            )
            .fetch_all(pool)
            .await?;
            let mut counts: HashMap<i64, HashMap<DeliveryState, i64>> = HashMap::new();
            for (id, state, count) in rows {
                counts
                    .entry(id)
                    .or_default()
                    .insert(DeliveryState::from(state.as_str()), count);
            }
            Ok(counts)
        })
    }

    /// Starts a stopped subscription again, its failures forgotten; `false`
    /// when there is no such subscription.
    pub async fn resume_subscription(&self, id: i64) -> Result<bool, StoreError> {
        on_writer!(self, |pool| {
            let done = sqlx::query(
                "UPDATE alert_subscriptions
             SET disabled_at = NULL, disabled_reason = NULL, failing_since = NULL
             WHERE id = $1",
            )
            .bind(id)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Sends a dead delivery again from its first attempt; `false` when
    /// there is no dead delivery with that id.
    pub async fn replay_delivery(
        &self,
        delivery_id: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_writer!(self, |pool| {
            let done = sqlx::query(
                "UPDATE alert_deliveries SET state = 'pending', attempts = 0, due_at = $1
             WHERE id = $2 AND state = 'dead'",
            )
            .bind(now)
            .bind(delivery_id)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// The newest deliveries, newest first.
    /// The newest deliveries, only those in state `only` if given.
    pub async fn delivery_log(
        &self,
        only: Option<DeliveryState>,
        limit: i64,
    ) -> Result<Vec<DeliveryLine>, StoreError> {
        on_reader!(self, |pool| {
            type Row = (
                i64,
                i64,
                String,
                i64,
                Option<i64>,
                String,
                String,
                i64,
                Option<i64>,
                Option<String>,
                DateTime<Utc>,
                Option<DateTime<Utc>>,
                Option<DateTime<Utc>>,
                Option<i64>,
            );
            let rows: Vec<Row> = sqlx::query_as(
            "SELECT d.id, d.subscription_id, s.target, d.event_id, e.incident_id, d.sent_as, d.state,
                    d.attempts, d.last_status, d.last_error, d.due_at, d.delivered_at, a.at, a.duration_ms
             FROM alert_deliveries d
             JOIN alert_subscriptions s ON s.id = d.subscription_id
             JOIN alert_events e ON e.id = d.event_id
             LEFT JOIN alert_attempts a ON a.id =
                 (SELECT MAX(id) FROM alert_attempts WHERE delivery_id = d.id)
             WHERE $1 IS NULL OR d.state = $1
             ORDER BY d.id DESC LIMIT $2",
        )
        .bind(only.map(DeliveryState::as_str))
        .bind(limit)
        .fetch_all(pool)
        .await?;
            Ok(rows
                .into_iter()
                .map(|row| DeliveryLine {
                    id: row.0,
                    subscription_id: row.1,
                    target: row.2,
                    event_id: row.3,
                    incident_id: row.4,
                    sent_as: AlertEvent::from(row.5.as_str()),
                    state: DeliveryState::from(row.6.as_str()),
                    attempts: row.7,
                    last_status: row.8,
                    last_error: row.9,
                    due_at: row.10,
                    delivered_at: row.11,
                    last_attempt_at: row.12,
                    last_ms: row.13,
                })
                .collect())
        })
    }
}

/// Scopes as they are stored: their texts, in order.
fn scope_texts(scopes: &[engine::alert::Scope]) -> Vec<String> {
    scopes.iter().map(ToString::to_string).collect()
}

fn site_facts(host: String, tags: &str) -> engine::alert::SiteFacts {
    engine::alert::SiteFacts {
        host,
        tags: tags
            .split(',')
            .map(|tag| tag.trim().to_ascii_lowercase())
            .filter(|tag| !tag.is_empty())
            .collect(),
    }
}
