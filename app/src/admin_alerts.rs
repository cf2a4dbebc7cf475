//! `/admin/alerts`: every subscription with its endpoint's health, the
//! dead deliveries (to replay once the endpoint is fixed) and the delivery
//! log with status codes and timings; and the changes an administrator
//! makes there, each audited like the watchlist's.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::admin::Flash;
use crate::error::AppError;

/// Deliveries shown in the log, and dead ones listed for replay.
pub const LOG_LINES: i64 = 100;

/// One subscription as the administrator sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionLine {
    pub id: i64,
    pub channel: engine::AlertChannel,
    pub format: engine::AlertFormat,
    pub target: String,
    /// "Cloudflare and shop.example".
    pub follows: String,
    pub events: Vec<engine::AlertEvent>,
    /// "active", "waiting for confirmation", "stopped: ...".
    pub state: String,
    pub stopped: bool,
    pub owner: Option<String>,
    pub created_by: String,
    pub failing_since: Option<DateTime<Utc>>,
    pub last_delivered_at: Option<DateTime<Utc>>,
    pub delivered: i64,
    pub pending: i64,
    pub dead: i64,
}

/// One delivery in the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryLine {
    pub id: i64,
    pub subscription_id: i64,
    pub target: String,
    pub incident_id: Option<i64>,
    pub event: engine::AlertEvent,
    pub state: engine::DeliveryState,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_ms: Option<i64>,
    pub due_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdminAlerts {
    pub username: String,
    pub flash: Option<Flash>,
    pub subscriptions: Vec<SubscriptionLine>,
    pub dead: Vec<DeliveryLine>,
    pub log: Vec<DeliveryLine>,
}

#[cfg(feature = "ssr")]
impl From<store::DeliveryLine> for DeliveryLine {
    fn from(line: store::DeliveryLine) -> Self {
        Self {
            id: line.id,
            subscription_id: line.subscription_id,
            target: line.target,
            incident_id: line.incident_id,
            event: line.sent_as,
            state: line.state,
            attempts: line.attempts,
            last_status: line.last_status,
            last_error: line.last_error,
            last_attempt_at: line.last_attempt_at,
            last_ms: line.last_ms,
            due_at: line.due_at,
        }
    }
}

#[server]
pub async fn load_admin_alerts() -> Result<AdminAlerts, AppError> {
    use engine::DeliveryState;
    let auth = expect_context::<crate::admin::AdminAuth>();
    let store = expect_context::<store::Store>();
    let Some(admin) = crate::admin::session::current_admin(&store).await? else {
        return Err(crate::admin::signed_out());
    };
    let knowledge = use_context::<std::sync::Arc<engine::KnowledgeBase>>()
        .unwrap_or_else(engine::KnowledgeBase::shared);
    let counts = store.delivery_counts().await?;
    let subscriptions = store
        .subscriptions()
        .await?
        .into_iter()
        .map(|s| {
            let count = |state| {
                counts
                    .get(&s.id)
                    .and_then(|c| c.get(&state))
                    .copied()
                    .unwrap_or(0)
            };
            let state = match (&s.disabled_reason, s.channel, s.confirmed_at) {
                (Some(reason), _, _) => format!("stopped: {reason}"),
                (None, engine::AlertChannel::Email, None) => {
                    "waiting for the address to be confirmed".to_owned()
                }
                (None, _, _) => "active".to_owned(),
            };
            SubscriptionLine {
                follows: s.interests.follows_in_words(&knowledge),
                events: s.interests.events.clone(),
                stopped: s.disabled_at.is_some(),
                delivered: count(DeliveryState::Delivered),
                pending: count(DeliveryState::Pending),
                dead: count(DeliveryState::Dead),
                state,
                id: s.id,
                channel: s.channel,
                format: s.format,
                target: s.target,
                owner: s.owner,
                created_by: s.created_by,
                failing_since: s.failing_since,
                last_delivered_at: s.last_delivered_at,
            }
        })
        .collect();
    let dead = store
        .delivery_log(Some(DeliveryState::Dead), LOG_LINES)
        .await?
        .into_iter()
        .map(DeliveryLine::from)
        .collect();
    let log = store
        .delivery_log(None, LOG_LINES)
        .await?
        .into_iter()
        .map(DeliveryLine::from)
        .collect();
    Ok(AdminAlerts {
        flash: auth.take_flash(admin.id),
        username: admin.username,
        subscriptions,
        dead,
        log,
    })
}

#[cfg(feature = "ssr")]
const BACK: &str = "/admin/alerts";

/// Sends a dead delivery again, from its first attempt.
#[server(endpoint = "admin/alerts/replay")]
pub async fn admin_replay_delivery(id: i64) -> Result<(), AppError> {
    let Some((admin, auth, store)) = crate::admin::authorize_change().await? else {
        return Ok(());
    };
    if !store.replay_delivery(id, Utc::now()).await? {
        return crate::admin::done(&auth, &admin, BACK, Err("No such dead delivery.".into()));
    }
    crate::admin::audit(&store, &admin.username, "replay delivery", &id.to_string()).await;
    crate::admin::done(
        &auth,
        &admin,
        BACK,
        Ok(format!("Delivery {id} is queued again.")),
    )
}

/// Adds a subscription: a webhook (its secret shown once, in the notice
/// that follows) or an email address (mailed a confirmation first, as
/// from the public pages). `follows` lists `provider:ID[/ROLE]`,
/// `site:HOST`, `tag:TAG` or `all`, separated by spaces or commas.
#[server(endpoint = "admin/alerts/add")]
pub async fn admin_add_subscription(
    channel: String,
    target: String,
    format: String,
    follows: String,
    early: Option<String>,
    remind_hours: String,
) -> Result<(), AppError> {
    let Some((admin, auth, store)) = crate::admin::authorize_change().await? else {
        return Ok(());
    };
    let asked = SubscriptionRequest {
        channel: &channel,
        target: &target,
        format: &format,
        follows: &follows,
        early: early.is_some(),
        remind_hours: &remind_hours,
    };
    let (new, secret) = match asked.check(auth.webhooks.as_ref(), &admin.username) {
        Ok(checked) => checked,
        Err(why) => return crate::admin::done(&auth, &admin, BACK, Err(why)),
    };
    let target = new.target.clone();
    let id = store.create_subscription(&new, Utc::now()).await?;
    crate::admin::audit(
        &store,
        &admin.username,
        "add subscription",
        &format!("{id} ({target})"),
    )
    .await;
    let message = match secret {
        Some(secret) => format!(
            "Added subscription {id}. Its signing secret, shown only this once: {secret}"
        ),
        None => format!(
            "Added subscription {id}: {target} gets a confirmation link, and nothing else until it is followed."
        ),
    };
    crate::admin::done(&auth, &admin, BACK, Ok(message))
}

/// A subscription as an administrator (on `/admin/alerts` or with a token
/// through the API) asks for it, before it is checked.
#[cfg(feature = "ssr")]
pub struct SubscriptionRequest<'a> {
    /// `webhook` or `email`.
    pub channel: &'a str,
    pub target: &'a str,
    /// A webhook's kind: `standard`, `slack`, `discord`, `teams`, `ntfy`.
    pub format: &'a str,
    /// `provider:ID[/ROLE]`, `site:HOST`, `tag:TAG` or `all`, separated by
    /// spaces or commas.
    pub follows: &'a str,
    /// Early warnings (suspected outages) too.
    pub early: bool,
    /// Hours between reminders while an outage stays confirmed; empty or
    /// 0 for none.
    pub remind_hours: &'a str,
}

#[cfg(feature = "ssr")]
impl SubscriptionRequest<'_> {
    /// The subscription to store and, for a webhook, its new signing
    /// secret; or why it is refused, in words.
    pub fn check(
        &self,
        webhooks: &dyn crate::admin::WebhookRules,
        created_by: &str,
    ) -> Result<(store::NewSubscription, Option<String>), String> {
        let target = self.target.trim().to_owned();
        let (channel, format) = self.channel_and_format(&target, webhooks)?;
        let scopes = self.scopes()?;
        let remind_hours = match self.remind_hours.trim() {
            "" => 0,
            text => match text.parse::<i64>() {
                Ok(hours) if (0..=engine::alert::MAX_REMIND_HOURS).contains(&hours) => hours,
                _ => {
                    return Err(format!(
                        "Reminders come every 1 to {} hours, or never (0).",
                        engine::alert::MAX_REMIND_HOURS
                    ))
                }
            },
        };
        let mut events = engine::AlertEvent::DEFAULTS.to_vec();
        if self.early {
            events.insert(0, engine::AlertEvent::ProviderSuspected);
        }
        let secret = (channel == engine::AlertChannel::Webhook).then(|| webhooks.new_secret());
        let new = store::NewSubscription {
            channel,
            format,
            target,
            secrets: secret.iter().cloned().collect(),
            interests: engine::alert::Interests {
                scopes,
                events,
                mutes: Vec::new(),
            },
            min_interval_s: 0,
            remind_every_s: remind_hours * 3600,
            confirmed_at: None,
            created_by: created_by.to_owned(),
            owner: None,
        };
        Ok((new, secret))
    }

    fn channel_and_format(
        &self,
        target: &str,
        webhooks: &dyn crate::admin::WebhookRules,
    ) -> Result<(engine::AlertChannel, engine::AlertFormat), String> {
        match self.channel {
            "webhook" => {
                if target.len() > 2048 {
                    return Err("A webhook URL is at most 2048 characters.".into());
                }
                if let Err(why) = webhooks.check(target) {
                    return Err(format!("{target} cannot take alerts: {why}."));
                }
                match engine::AlertFormat::from_name(self.format) {
                    Some(format) if format != engine::AlertFormat::Unknown => {
                        Ok((engine::AlertChannel::Webhook, format))
                    }
                    _ => Err("Pick the kind of webhook.".into()),
                }
            }
            "email" if crate::subscribe::plausible_address(target) => {
                Ok((engine::AlertChannel::Email, engine::AlertFormat::Standard))
            }
            "email" => Err(format!("{target:.80} is not an email address.")),
            _ => Err("Pick a webhook or an email address.".into()),
        }
    }

    fn scopes(&self) -> Result<Vec<engine::alert::Scope>, String> {
        let mut scopes = Vec::new();
        for word in self
            .follows
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|w| !w.is_empty())
        {
            match engine::alert::Scope::parse(word) {
                Ok(scope) if !scopes.contains(&scope) => scopes.push(scope),
                Ok(_) => {}
                Err(error) => return Err(format!("{error}.")),
            }
        }
        if scopes.is_empty() || scopes.len() > engine::alert::MAX_SCOPES {
            return Err(format!(
                "Say what it follows: 1 to {} of provider:ID, site:HOST, tag:TAG or all.",
                engine::alert::MAX_SCOPES
            ));
        }
        Ok(scopes)
    }
}

/// What an administrator may do to a subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriptionChange {
    Test,
    Stop,
    Start,
    Remove,
}

impl SubscriptionChange {
    pub fn key(self) -> &'static str {
        match self {
            Self::Test => "test",
            Self::Stop => "stop",
            Self::Start => "start",
            Self::Remove => "remove",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        [Self::Test, Self::Stop, Self::Start, Self::Remove]
            .into_iter()
            .find(|change| change.key() == key)
    }
}

/// Sends a subscription a test alert, stops it, starts it again or
/// removes it.
#[server(endpoint = "admin/alerts/subscription")]
pub async fn admin_change_subscription(id: i64, change: String) -> Result<(), AppError> {
    let Some((admin, auth, store)) = crate::admin::authorize_change().await? else {
        return Ok(());
    };
    let Some(change) = SubscriptionChange::from_key(&change) else {
        return Err(AppError::bad_input("No such change."));
    };
    let Some(subscription) = store.subscription(id).await? else {
        return crate::admin::done(&auth, &admin, BACK, Err("No such subscription.".into()));
    };
    let now = Utc::now();
    let who = format!("{id} ({})", subscription.target);
    let message = match change {
        SubscriptionChange::Test if !subscription.is_active() => {
            return crate::admin::done(
                &auth,
                &admin,
                BACK,
                Err(format!(
                    "Subscription {who} is not active: nothing can be sent to it."
                )),
            );
        }
        SubscriptionChange::Test => {
            store.queue_test_event(id, now).await?;
            format!("A test alert is queued for {who}.")
        }
        SubscriptionChange::Stop => {
            let reason = format!("stopped by {}", admin.username);
            store.disable_subscription(id, &reason, now).await?;
            format!("Stopped {who}.")
        }
        SubscriptionChange::Start => {
            store.resume_subscription(id).await?;
            format!("Started {who} again.")
        }
        SubscriptionChange::Remove => {
            store.remove_subscription(id).await?;
            format!("Removed {who} and its deliveries.")
        }
    };
    crate::admin::audit(
        &store,
        &admin.username,
        &format!("{} subscription", change.key()),
        &who,
    )
    .await;
    crate::admin::done(&auth, &admin, BACK, Ok(message))
}
