//! Alerts: the dispatcher that turns the outbox into deliveries.
//!
//! Incident changes write alert events into the store's outbox in their own
//! transaction. The dispatcher, one task, repeatedly: fans each due event
//! out into one delivery per subscription that hears it (the rules are
//! `engine::alert`; the fan-out is one transaction, so a crash repeats it
//! whole or not at all), then sends the due deliveries, at most
//! [`IN_FLIGHT`] at once, recording every attempt. A delivery is retried on
//! the Standard Webhooks schedule with jitter, sooner or later as a 429 or
//! 503 asks; a 410 disables its endpoint; exhausted, it is parked as dead
//! for an administrator to replay. An endpoint that keeps failing trips a
//! breaker, so its deliveries wait instead of holding up the rest. While
//! the own-network guard says Faultline's network is down, nothing goes
//! out; the first alerts after it say they were held.
//!
//! Because a delivery is recorded only after its attempt, a crash between
//! the two sends it again, with the same `webhook-id`: at least once.

pub mod format;
pub mod links;
pub mod listen;
pub mod mail;
pub mod manage;
pub mod payload;
pub mod sign;
pub mod token;
pub mod webhook;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use engine::alert::{decide, Decision, Happening, Heard};
use engine::{AlertEvent, VantageState};
use serde::{Deserialize, Serialize};
use store::{
    AfterAttempt, AlertEventRow, Attempt, DueDelivery, NewDelivery, Store, StoreError, Subscription,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::knowledge::Knowledge;
use webhook::{PostOutcome, WebhookClient};

/// Deliveries in flight at once.
pub const IN_FLIGHT: usize = 64;
/// Events fanned out, and deliveries sent, per round.
const BATCH: i64 = 512;
/// Failures in a row after which an endpoint's breaker opens.
const BREAKER_AFTER: u32 = 3;
/// How long an open breaker holds an endpoint's deliveries, at most.
const BREAKER_MOST: TimeDelta = TimeDelta::minutes(10);
/// How long the dispatcher sleeps with nothing due (it is woken sooner
/// when an incident changes).
const IDLE: TimeDelta = TimeDelta::seconds(30);

/// The `[alerts]` settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// Run the dispatcher (off: events are kept, nothing is sent).
    pub enabled: bool,
    /// Networks deliveries may reach besides public addresses, for
    /// internal receivers and tests (`["127.0.0.0/8"]`). Empty by default.
    pub allowed_networks: Vec<ipnet::IpNet>,
    /// Seconds to wait before each retry, after the first attempt:
    /// Standard Webhooks' schedule by default (5 s, 5 min, 30 min, 2 h,
    /// 5 h, 10 h, 10 h). A delivery gets one attempt more than this lists.
    pub retry_seconds: Vec<u64>,
    /// An SMTP server for email alerts (`smtp://127.0.0.1:2525`).
    pub smtp_url: Option<String>,
    /// The sender of email alerts.
    pub from: String,
    /// A webhook whose every attempt has failed for this many hours is
    /// stopped, and its owner told.
    pub stop_after_hours: u64,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            allowed_networks: Vec::new(),
            retry_seconds: vec![5, 300, 1_800, 7_200, 18_000, 36_000, 36_000],
            smtp_url: None,
            from: "Faultline <alerts@localhost>".to_owned(),
            stop_after_hours: 72,
        }
    }
}

impl AlertSettings {
    /// Refuses settings that would misbehave: a retry schedule too long or
    /// too slow, an SMTP URL that is not one.
    pub fn check(&self) -> Result<(), String> {
        if self.retry_seconds.len() > 20 {
            return Err("alerts.retry_seconds: at most 20 retries".to_owned());
        }
        if let Some(wait) = self.retry_seconds.iter().find(|s| **s > 7 * 24 * 3600) {
            return Err(format!(
                "alerts.retry_seconds: {wait} s is longer than a week"
            ));
        }
        if !(1..=30 * 24).contains(&self.stop_after_hours) {
            return Err(format!(
                "alerts.stop_after_hours: {} is not from 1 to 720 hours",
                self.stop_after_hours
            ));
        }
        if let Some(smtp) = &self.smtp_url {
            let url = url::Url::parse(smtp)
                .map_err(|error| format!("alerts.smtp_url: {smtp} is not a URL: {error}"))?;
            if !matches!(url.scheme(), "smtp" | "smtps") || url.host_str().is_none() {
                return Err(format!(
                    "alerts.smtp_url: {smtp} is not an smtp:// or smtps:// URL"
                ));
            }
        }
        Ok(())
    }

    /// The delivery guard: public addresses, plus the allow-listed networks;
    /// never the watchlist prober's private ranges.
    pub fn guard(&self) -> probe::GuardPolicy {
        probe::GuardPolicy {
            allow_private: false,
            allowed_networks: self.allowed_networks.clone(),
            ..probe::GuardPolicy::default()
        }
    }
}

/// An endpoint's recent failures.
#[derive(Debug, Default)]
struct Breaker {
    failures: u32,
    open_until: Option<DateTime<Utc>>,
}

pub struct Dispatcher {
    store: Store,
    clock: Arc<dyn Clock>,
    client: Arc<WebhookClient>,
    /// Email: the mailer and the signer of the links in each mail.
    mail: Option<(Arc<mail::Mailer>, token::Signer)>,
    knowledge: Arc<Knowledge>,
    /// Where permalinks point.
    base: String,
    retries: Vec<TimeDelta>,
    /// How long a webhook may fail before it is stopped.
    stop_after: TimeDelta,
    vantage: Option<watch::Receiver<VantageState>>,
    /// Each new judgement may have stored events: a round follows it.
    snapshots: Option<watch::Receiver<Arc<engine::correlate::Snapshot>>>,
    /// Rung by the pages when they queue something (a test event, a
    /// confirmation mail): a round follows at once.
    wake: Arc<tokio::sync::Notify>,
    breakers: HashMap<i64, Breaker>,
    /// When Faultline's own network went down, while it is.
    held_since: Option<DateTime<Utc>>,
    /// The last hold, told in the alerts sent after it.
    last_hold: Option<(DateTime<Utc>, DateTime<Utc>)>,
    metrics: crate::metrics::Metrics,
}

impl Dispatcher {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        client: WebhookClient,
        knowledge: Arc<Knowledge>,
        base: String,
        settings: &AlertSettings,
    ) -> Self {
        Self {
            store,
            clock,
            client: Arc::new(client),
            mail: None,
            knowledge,
            base: base.trim_end_matches('/').to_owned(),
            retries: settings
                .retry_seconds
                .iter()
                .map(|s| TimeDelta::seconds(i64::try_from(*s).unwrap_or(i64::MAX / 1_000_000)))
                .collect(),
            stop_after: TimeDelta::hours(
                i64::try_from(settings.stop_after_hours).unwrap_or(i64::MAX / 3_600_000),
            ),
            vantage: None,
            snapshots: None,
            wake: Arc::new(tokio::sync::Notify::new()),
            breakers: HashMap::new(),
            held_since: None,
            last_hold: None,
            metrics: crate::metrics::Metrics::new(),
        }
    }

    /// Counts delivery attempts by outcome in `metrics`.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Sends email alerts (and confirmations) with `mailer`, their links
    /// signed by `signer`. Without it, email subscriptions wait.
    pub fn with_mail(mut self, mailer: mail::Mailer, signer: token::Signer) -> Self {
        self.mail = Some((Arc::new(mailer), signer));
        self
    }

    /// Holds alerts while the own-network guard says our network is down.
    pub fn with_vantage(mut self, vantage: watch::Receiver<VantageState>) -> Self {
        self.vantage = Some(vantage);
        self
    }

    /// Runs a round whenever `wake` is notified.
    pub fn with_wake(mut self, wake: Arc<tokio::sync::Notify>) -> Self {
        self.wake = wake;
        self
    }

    /// Runs a round after each of the correlator's judgements.
    pub fn with_trigger(
        mut self,
        snapshots: watch::Receiver<Arc<engine::correlate::Snapshot>>,
    ) -> Self {
        self.snapshots = Some(snapshots);
        self
    }

    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            let next = match self.round().await {
                Ok(next) => next,
                Err(error) => {
                    tracing::error!(%error, "alert round failed; trying again shortly");
                    Some(self.clock.now() + TimeDelta::seconds(5))
                }
            };
            let now = self.clock.now();
            let until = next.map_or(now + IDLE, |next| next.min(now + IDLE));
            let clock = self.clock.clone();
            let wake = self.wake.clone();
            let snapshots = &mut self.snapshots;
            let judged = async {
                let changed = match snapshots.as_mut() {
                    Some(snapshots) => snapshots.changed().await.is_ok(),
                    None => false,
                };
                if !changed {
                    // No correlator (or it stopped): only the timer.
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                () = clock.sleep_until(until) => {}
                () = judged => {}
                () = wake.notified() => {}
                () = shutdown.cancelled() => break,
            }
        }
    }

    /// One round: fan out the due events, send the due deliveries. Returns
    /// when the next is due, if anything waits.
    pub async fn round(&mut self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let now = self.clock.now();
        // While our own network is down, what is said about outages waits;
        // confirmations and test alerts, which a person is waiting for, go.
        let which = if self.holding(now) {
            store::Sendable::TestsOnly
        } else {
            store::Sendable::All
        };
        let events = self.store.events_to_fan_out(now, which, BATCH).await?;
        if !events.is_empty() {
            let subscriptions = self.store.subscriptions().await?;
            for event in &events {
                self.fan_out(event, &subscriptions, now).await?;
            }
        }
        if which == store::Sendable::All {
            // Checked each round: the dispatcher wakes at least every
            // 30 s, well within any reminder's hours.
            self.store.queue_reminders(now).await?;
        }
        self.send_confirmations(now).await?;
        let due = self.store.due_deliveries(now, which, BATCH).await?;
        self.send_all(due, now).await?;
        if which == store::Sendable::TestsOnly {
            return Ok(Some(now + TimeDelta::seconds(10)));
        }
        let next_event = self.store.next_event_due().await?;
        let next_delivery = self.store.next_delivery_due().await?;
        Ok([next_event, next_delivery].into_iter().flatten().min())
    }

    /// Whether alerts are held now; notes when a hold starts and ends.
    fn holding(&mut self, now: DateTime<Utc>) -> bool {
        let offline = self
            .vantage
            .as_ref()
            .is_some_and(|vantage| *vantage.borrow() == VantageState::Offline);
        match (offline, self.held_since) {
            (true, None) => {
                tracing::warn!("own network down: holding alerts");
                self.held_since = Some(now);
            }
            (false, Some(since)) => {
                tracing::info!("own network back: sending held alerts");
                self.last_hold = Some((since, now));
                self.held_since = None;
            }
            _ => {}
        }
        offline
    }

    async fn fan_out(
        &self,
        event: &AlertEventRow,
        subscriptions: &[Subscription],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let heard: HashSet<i64> = match event.incident_id {
            Some(id) => self.store.heard_of(id).await?.into_iter().collect(),
            None => HashSet::new(),
        };
        let last: HashMap<i64, DateTime<Utc>> = match event.incident_id {
            Some(id) => self.store.last_alert_of(id).await?.into_iter().collect(),
            None => HashMap::new(),
        };
        let mut deliveries = Vec::new();
        let mut decide_for = |subscription: &Subscription,
                              happening: &Happening<'_>,
                              explaining: &HashSet<i64>,
                              host: Option<String>| {
            let heard = Heard {
                this_incident: heard.contains(&subscription.id),
                explaining_incident: explaining.contains(&subscription.id),
            };
            let (sent_as, state) = match decide(happening, &subscription.interests, heard, now) {
                Decision::Send(sent_as) => (sent_as, engine::DeliveryState::Pending),
                Decision::Muted(sent_as) => (sent_as, engine::DeliveryState::Muted),
                Decision::Skip => return,
            };
            let spacing = TimeDelta::seconds(subscription.min_interval_s.max(0));
            let due_at = last
                .get(&subscription.id)
                .map_or(now, |last| (*last + spacing).max(now));
            deliveries.push(NewDelivery {
                subscription_id: subscription.id,
                sent_as,
                host,
                state,
                due_at,
            });
        };
        let active = subscriptions.iter().filter(|s| s.is_active());
        match event.event {
            AlertEvent::Test => {
                for subscription in subscriptions
                    .iter()
                    .filter(|s| Some(s.id) == event.test_for && s.is_active())
                {
                    decide_for(subscription, &Happening::Test, &HashSet::new(), None);
                }
            }
            AlertEvent::SiteDown | AlertEvent::SiteRecovered => {
                let Some(site_id) = event.detail.site_id else {
                    return self.store.fan_out(event.id, &[], now).await;
                };
                let Some((site, explained_by)) = self
                    .store
                    .site_audience(site_id, event.detail.explained_by, event.at)
                    .await?
                else {
                    return self.store.fan_out(event.id, &[], now).await;
                };
                let explaining: HashSet<i64> = match explained_by {
                    Some(id) => self.store.heard_of(id).await?.into_iter().collect(),
                    None => HashSet::new(),
                };
                let happening = Happening::Site {
                    event: event.event,
                    site: &site,
                    explained_by,
                };
                for subscription in active {
                    decide_for(
                        subscription,
                        &happening,
                        &explaining,
                        Some(site.host.clone()),
                    );
                }
            }
            _ => {
                let (Some(provider), Some(role), Some(incident)) =
                    (&event.detail.provider, event.detail.role, event.incident_id)
                else {
                    return self.store.fan_out(event.id, &[], now).await;
                };
                let audience = self
                    .store
                    .provider_audience(provider, role, incident)
                    .await?;
                let happening = Happening::Provider {
                    event: event.event,
                    provider,
                    role,
                    sites: &audience.sites,
                };
                for subscription in active {
                    // A site subscriber is told about its own site: the
                    // affected one first.
                    let host = audience
                        .sites
                        .iter()
                        .filter(|(site, _)| subscription.interests.follows_site(site))
                        .max_by_key(|(_, affected)| *affected)
                        .map(|(site, _)| site.host.clone());
                    decide_for(subscription, &happening, &HashSet::new(), host);
                }
            }
        }
        self.store.fan_out(event.id, &deliveries, now).await
    }

    /// Sends the confirmation mail of each new email subscription, once.
    async fn send_confirmations(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let Some((mailer, signer)) = &self.mail else {
            return Ok(());
        };
        for subscription in self.store.confirmations_to_send(BATCH).await? {
            let confirm = format!(
                "{}/alerts/confirm/{}",
                self.base,
                signer.token(token::Purpose::Confirm, subscription.id, Utc::now())
            );
            let follows = subscription
                .interests
                .follows_in_words(&self.knowledge.current());
            let sent = match mailer.confirmation(&subscription.target, &confirm, &follows) {
                Ok(message) => mailer.send(message).await,
                Err(error) => mail::Sent {
                    code: None,
                    error: Some(error),
                },
            };
            match sent.error {
                None => self.store.confirmation_sent(subscription.id, now).await?,
                Some(error) => {
                    // Tried again next round.
                    tracing::warn!(alerts.subscription = subscription.id, %error, "cannot send a confirmation mail");
                }
            }
        }
        Ok(())
    }

    async fn send_all(
        &mut self,
        due: Vec<DueDelivery>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut sending = tokio::task::JoinSet::new();
        for delivery in due {
            let breaker = self.breakers.entry(delivery.subscription.id).or_default();
            if let Some(until) = breaker.open_until.filter(|until| *until > now) {
                self.store.defer_delivery(delivery.id, until).await?;
                continue;
            }
            // Each attempt is recorded as soon as it ends, so a crash
            // repeats only those in flight.
            while sending.len() >= IN_FLIGHT {
                if let Some(Ok((done, outcome))) = sending.join_next().await {
                    self.record(&done, &outcome).await?;
                }
            }
            let request = self.request(&delivery);
            let client = self.client.clone();
            let mailer = self.mail.as_ref().map(|(mailer, _)| mailer.clone());
            sending.spawn(async move {
                let started = std::time::Instant::now();
                let failed = |reason: String| PostOutcome {
                    status: None,
                    retry_after: None,
                    error: Some(reason),
                    duration_ms: 0,
                };
                let outcome = match (request, mailer) {
                    (Ok(Request::Webhook(url, headers, body)), _) => {
                        client.post(&url, headers, body, now).await
                    }
                    (Ok(Request::Mail(message)), Some(mailer)) => {
                        let sent = mailer.send(*message).await;
                        PostOutcome {
                            status: sent.code,
                            retry_after: None,
                            error: sent.error,
                            duration_ms: i64::try_from(started.elapsed().as_millis())
                                .unwrap_or(i64::MAX),
                        }
                    }
                    (Ok(Request::Mail(_)), None) => failed("email is not configured".to_owned()),
                    (Err(reason), _) => failed(reason),
                };
                (delivery, outcome)
            });
        }
        while let Some(joined) = sending.join_next().await {
            if let Ok((done, outcome)) = joined {
                self.record(&done, &outcome).await?;
            }
        }
        Ok(())
    }

    /// What a delivery sends: a signed webhook request, or a mail.
    fn request(&self, delivery: &DueDelivery) -> Result<Request, String> {
        let subscription = &delivery.subscription;
        let knowledge = self.knowledge.current();
        let name_of = |id: &str| knowledge.name_of(id).unwrap_or(id).to_owned();
        let context = payload::Context {
            base: &self.base,
            name_of: &name_of,
        };
        let mut alert = payload::build(
            &delivery.event,
            delivery.sent_as,
            delivery.host.as_deref(),
            &context,
        );
        if let Some((from, until)) = self
            .last_hold
            .filter(|(_, until)| delivery.event.at < *until)
        {
            alert.data.note = Some(format!(
                "Held while Faultline's own network was down, {} to {} UTC.",
                from.format("%H:%M"),
                until.format("%H:%M")
            ));
        }
        // Stable across retries and restarts: the same event for the same
        // subscription is the same message.
        let id = format!("msg_{}_{}", delivery.event.id, subscription.id);
        if subscription.channel == engine::AlertChannel::Email {
            let Some((mailer, signer)) = &self.mail else {
                return Err("email is not configured ([alerts] smtp_url)".to_owned());
            };
            let manage = signer.token(token::Purpose::Manage, subscription.id, Utc::now());
            let links = mail::Links {
                manage: format!("{}/alerts/manage/{manage}", self.base),
                unsubscribe: format!("{}/alerts/unsubscribe/{manage}", self.base),
            };
            let message = mailer.alert(&subscription.target, &id, &alert, &links)?;
            return Ok(Request::Mail(Box::new(message)));
        }
        let rendered = format::render(subscription.format, &alert, &subscription.target)?;
        let body = rendered.body;
        // The attempt's real time, which receivers check against their own
        // clock (a replay's events happened long ago).
        let timestamp = Utc::now().timestamp();
        let mut headers = reqwest::header::HeaderMap::new();
        let mut put = |name: &'static str, value: String| {
            if let Ok(value) = reqwest::header::HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        };
        put("content-type", rendered.content_type.to_owned());
        put("webhook-id", id.clone());
        put("webhook-timestamp", timestamp.to_string());
        put(
            "webhook-signature",
            sign::signature_header(&subscription.secrets, &id, timestamp, &body),
        );
        Ok(Request::Webhook(rendered.url, headers, body))
    }

    async fn record(
        &mut self,
        delivery: &DueDelivery,
        outcome: &PostOutcome,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let subscription = delivery.subscription.id;
        let breaker = self.breakers.entry(subscription).or_default();
        let next = if outcome.delivered() {
            *breaker = Breaker::default();
            AfterAttempt::Delivered
        } else {
            breaker.failures += 1;
            if breaker.failures >= BREAKER_AFTER {
                let doublings = (breaker.failures - BREAKER_AFTER).min(8);
                let hold = (TimeDelta::seconds(5) * (1 << doublings)).min(BREAKER_MOST);
                breaker.open_until = Some(now + hold);
            }
            if outcome.status == Some(410) {
                tracing::warn!(
                    alerts.subscription = subscription,
                    "endpoint gone (410): disabled"
                );
                self.store
                    .disable_subscription(subscription, "the endpoint answered 410 Gone", now)
                    .await?;
                AfterAttempt::Dead
            } else {
                match self
                    .retries
                    .get(usize::try_from(delivery.attempts).unwrap_or(usize::MAX))
                {
                    Some(wait) => {
                        let asked = outcome
                            .retry_after
                            .filter(|_| matches!(outcome.status, Some(429 | 503)))
                            .and_then(|asked| TimeDelta::from_std(asked).ok());
                        AfterAttempt::RetryAt(now + asked.unwrap_or_else(|| jittered(*wait)))
                    }
                    None => {
                        tracing::warn!(
                            alerts.subscription = subscription,
                            alerts.delivery = delivery.id,
                            "delivery failed every attempt: parked as dead"
                        );
                        AfterAttempt::Dead
                    }
                }
            }
        };
        let gone = outcome.status == Some(410);
        self.metrics.delivery(match next {
            AfterAttempt::Delivered => "delivered",
            AfterAttempt::RetryAt(_) => "retry",
            AfterAttempt::Dead if gone => "gone",
            AfterAttempt::Dead => "dead",
        });
        let attempt = Attempt {
            at: now,
            status: outcome.status,
            duration_ms: outcome.duration_ms,
            error: outcome.error.clone(),
            next,
        };
        let failing_since = self.store.record_attempt(delivery.id, &attempt).await?;
        let webhook = &delivery.subscription;
        if let Some(since) = failing_since.filter(|since| {
            !gone
                && webhook.channel == engine::AlertChannel::Webhook
                && now - *since >= self.stop_after
        }) {
            let last = match (outcome.status, &outcome.error) {
                (Some(status), _) => format!("HTTP {status}"),
                (None, Some(error)) => error.clone(),
                (None, None) => "no answer".to_owned(),
            };
            let why = format!(
                "every attempt has failed since {} UTC (the last: {last})",
                since.format("%Y-%m-%d %H:%M")
            );
            tracing::warn!(alerts.subscription = subscription, %why, "webhook stopped");
            // Several attempts may end together: one stops it, one tells.
            if self
                .store
                .disable_subscription(subscription, &why, now)
                .await?
            {
                self.tell_owner(webhook, &why).await?;
            }
        }
        Ok(())
    }

    /// Mails a stopped webhook's owner, if it has one and mail is set up;
    /// a webhook from the command line or the admin pages is seen there.
    async fn tell_owner(&self, webhook: &Subscription, why: &str) -> Result<(), StoreError> {
        let (Some(owner), Some((mailer, signer))) = (&webhook.owner, &self.mail) else {
            return Ok(());
        };
        let Some(page) = self
            .store
            .email_subscriptions_of(owner)
            .await?
            .first()
            .cloned()
        else {
            return Ok(());
        };
        let manage = format!(
            "{}/alerts/manage/{}",
            self.base,
            signer.token(token::Purpose::Manage, page.id, Utc::now())
        );
        let sent = match mailer.webhook_stopped(owner, &webhook.target, why, &manage) {
            Ok(message) => mailer.send(message).await,
            Err(error) => mail::Sent {
                code: None,
                error: Some(error),
            },
        };
        if let Some(error) = sent.error {
            tracing::warn!(alerts.subscription = webhook.id, %error, "could not tell a stopped webhook's owner");
        }
        Ok(())
    }
}

/// What one delivery sends.
enum Request {
    Webhook(String, reqwest::header::HeaderMap, Vec<u8>),
    Mail(Box<lettre::Message>),
}

/// `wait`, give or take a tenth, so endpoints that failed together do not
/// all retry in the same second.
fn jittered(wait: TimeDelta) -> TimeDelta {
    use rand::Rng;
    let tenth = wait.num_milliseconds() / 10;
    if tenth <= 0 {
        return wait;
    }
    wait + TimeDelta::milliseconds(rand::thread_rng().gen_range(-tenth..=tenth))
}
