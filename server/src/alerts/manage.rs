//! The page a subscriber manages their alerts from, reached by the signed
//! link in every alert mail: what the subscription follows, which events
//! it hears, quiet times, the webhook endpoints its address added (each
//! secret shown once, a test event on request), the address's other
//! subscriptions, and unsubscribing.
//!
//! Each change is a plain form POST to `/alerts/manage/{token}/{action}`,
//! answered by a redirect back to the page (303) with a word on what was
//! done, so it works without JavaScript and reloading repeats nothing. A
//! refused change shows the page again with the reason. Only the adding
//! of a webhook answers with a page of its own: it shows the secret, once.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use engine::alert::{MuteWindow, Scope, MAX_REMIND_HOURS};
use engine::{AlertChannel, AlertEvent, AlertFormat};

use super::links::{page, subscription, unavailable, LinkState, Width};
use super::token::Purpose;
use crate::knowledge::Knowledge;
use crate::markup::escape;
use store::Subscription;

/// Webhook endpoints one address may add.
pub const MAX_WEBHOOKS: usize = 5;
/// Longest webhook URL taken.
const MAX_URL: usize = 2048;
/// Largest form body: the longest form here is a URL and a word.
const MAX_FORM: usize = 8 * 1024;
/// Longest quiet time: a holiday, not a way to unsubscribe.
const LONGEST_MUTE: TimeDelta = TimeDelta::days(31);
/// Largest least interval between two alerts of one incident.
const MAX_INTERVAL_MINUTES: i64 = 24 * 60;

/// The events a subscriber may pick, with what each means.
const CHOICES: &[(AlertEvent, &str)] = &[
    (
        AlertEvent::ProviderSuspected,
        "early warning: a provider's sites start failing together (may end as a blip)",
    ),
    (
        AlertEvent::ProviderConfirmed,
        "a provider outage is confirmed",
    ),
    (AlertEvent::ProviderRecovering, "the outage is recovering"),
    (AlertEvent::ProviderResolved, "the outage is over"),
    (
        AlertEvent::ProviderRelapsed,
        "a recovering outage came back",
    ),
    (
        AlertEvent::ProviderSpread,
        "an outage seen from some regions is now seen from more",
    ),
    (
        AlertEvent::ProviderAcknowledged,
        "the provider's status page acknowledges the outage",
    ),
    (
        AlertEvent::ProviderOfficiallyResolved,
        "the provider's status page declares the outage resolved",
    ),
    (AlertEvent::SiteDown, "a site you follow is down on its own"),
    (AlertEvent::SiteRecovered, "the site is back"),
    (
        AlertEvent::SiteExplained,
        "a site you follow is down, and a provider outage explains it",
    ),
    (
        AlertEvent::SiteProviderFailing,
        "early warning: a site's provider is failing, the site not (yet)",
    ),
];

/// What a change did, told on the page it leads back to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Done {
    Followed,
    Unfollowed,
    Events,
    Muted,
    Unmuted,
    TestQueued,
    WebhookRemoved,
    WebhookResumed,
}

impl Done {
    const ALL: [Done; 8] = [
        Self::Followed,
        Self::Unfollowed,
        Self::Events,
        Self::Muted,
        Self::Unmuted,
        Self::TestQueued,
        Self::WebhookRemoved,
        Self::WebhookResumed,
    ];

    fn key(self) -> &'static str {
        match self {
            Self::Followed => "followed",
            Self::Unfollowed => "unfollowed",
            Self::Events => "events",
            Self::Muted => "muted",
            Self::Unmuted => "unmuted",
            Self::TestQueued => "test",
            Self::WebhookRemoved => "webhook-removed",
            Self::WebhookResumed => "webhook-resumed",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Self::Followed => "Added. New alerts about it will come here.",
            Self::Unfollowed => "Removed. Nothing more about it will come here.",
            Self::Events => "Saved.",
            Self::Muted => {
                "Quiet time added: new alerts are held back during it; resolutions still come."
            }
            Self::Unmuted => "Quiet time removed.",
            Self::TestQueued => "A test alert is on its way.",
            Self::WebhookRemoved => "Webhook removed. Nothing more is sent to it.",
            Self::WebhookResumed => {
                "Webhook started again. Send it a test alert to see that it answers."
            }
        }
    }

    fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|done| done.key() == key)
    }
}

/// Why a change was not made.
enum Refused {
    /// The form asked for something this page does not do, in words.
    Input(String),
    Store(store::StoreError),
}

impl From<store::StoreError> for Refused {
    fn from(error: store::StoreError) -> Self {
        Self::Store(error)
    }
}

/// What a change answers.
enum Answer {
    Done(Done),
    Page(Response),
}

/// The manage page and its forms, for a router whose state provides a
/// `LinkState` and the knowledge base.
pub fn routes<S>() -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
    LinkState: axum::extract::FromRef<S>,
    Arc<Knowledge>: axum::extract::FromRef<S>,
{
    axum::Router::new()
        .route("/alerts/manage/{token}", axum::routing::get(manage_page))
        .route(
            "/alerts/manage/{token}/{action}",
            axum::routing::post(manage_action),
        )
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct PageQuery {
    done: Option<String>,
}

async fn manage_page(
    State(state): State<LinkState>,
    State(knowledge): State<Arc<Knowledge>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    let subscription = match subscription(&state, client, &token, Purpose::Manage).await {
        Ok(subscription) => subscription,
        Err(page) => return page,
    };
    let notice = query
        .done
        .as_deref()
        .and_then(Done::from_key)
        .map(|done| Notice::Done(done.message().to_owned()));
    render(
        &state,
        &knowledge,
        &token,
        &subscription,
        notice,
        StatusCode::OK,
    )
    .await
}

async fn manage_action(
    State(state): State<LinkState>,
    State(knowledge): State<Arc<Knowledge>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path((token, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let subscription = match subscription(&state, client, &token, Purpose::Manage).await {
        Ok(subscription) => subscription,
        Err(page) => return page,
    };
    if body.len() > MAX_FORM {
        return page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too much",
            "<p>That form was larger than any this page sends.</p>",
            Width::Narrow,
        );
    }
    let form = Form::read(&body);
    let now = Utc::now();
    let answer = match action.as_str() {
        "follow" => follow(&state, &knowledge, &subscription, &form).await,
        "unfollow" => unfollow(&state, &subscription, &form).await,
        "events" => events(&state, &subscription, &form).await,
        "mute" => mute(&state, &subscription, &form, now).await,
        "unmute" => unmute(&state, &subscription, &form, now).await,
        "test" => test(&state, &subscription, &form, now).await,
        "add-webhook" => add_webhook(&state, &knowledge, &token, &subscription, &form, now).await,
        "remove-webhook" => remove_webhook(&state, &subscription, &form).await,
        "resume-webhook" => resume_webhook(&state, &subscription, &form).await,
        _ => {
            return page(
                StatusCode::NOT_FOUND,
                "Not found",
                "<p>This page has no such form.</p>",
                Width::Narrow,
            )
        }
    };
    match answer {
        Ok(Answer::Done(done)) => {
            let to = format!("/alerts/manage/{token}?done={}", done.key());
            let mut response = StatusCode::SEE_OTHER.into_response();
            if let Ok(location) = HeaderValue::from_str(&to) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Ok(Answer::Page(response)) => response,
        Err(Refused::Input(why)) => {
            // The page as it stands, with the reason.
            let current = match state.store.subscription(subscription.id).await {
                Ok(Some(current)) => current,
                Ok(None) => subscription,
                Err(error) => {
                    tracing::error!(%error, "cannot read a subscription");
                    return unavailable();
                }
            };
            render(
                &state,
                &knowledge,
                &token,
                &current,
                Some(Notice::Refused(why)),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(Refused::Store(error)) => {
            tracing::error!(%error, action, "cannot change a subscription");
            unavailable()
        }
    }
}

/// A form's fields, as sent (`application/x-www-form-urlencoded`).
struct Form(Vec<(String, String)>);

impl Form {
    fn read(body: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`, trimmed; empty when absent.
    fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.trim())
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.trim())
    }
}

fn refuse<T>(why: impl Into<String>) -> Result<T, Refused> {
    Err(Refused::Input(why.into()))
}

async fn save(
    state: &LinkState,
    subscription: &Subscription,
    interests: &engine::alert::Interests,
    cadence: store::Cadence,
    done: Done,
) -> Result<Answer, Refused> {
    state
        .store
        .set_interests(subscription.id, interests, cadence)
        .await?;
    Ok(Answer::Done(done))
}

/// Follows a provider (picked from the knowledge base) or a site (a host
/// name or a pasted address).
async fn follow(
    state: &LinkState,
    knowledge: &Knowledge,
    subscription: &Subscription,
    form: &Form,
) -> Result<Answer, Refused> {
    let scope = match form.get("kind") {
        "provider" => {
            let id = form.get("provider");
            let base = knowledge.current();
            let known = base.ids().any(|(known, kind)| {
                kind == engine::knowledge::Kind::Provider && known.as_str() == id
            });
            if !known {
                return refuse("Pick a provider from the list.");
            }
            Scope::Provider {
                id: id.to_owned(),
                role: None,
            }
        }
        "site" => {
            let host = site_host(form.get("site")).ok_or_else(|| {
                Refused::Input("Enter a site's address, such as example.com.".to_owned())
            })?;
            // Only watched sites are probed, so only they have alerts.
            if state.store.site_by_host(&host).await?.is_none() {
                return refuse(format!(
                    "Faultline does not watch {host}: only sites on its watchlist have alerts."
                ));
            }
            Scope::Site(host)
        }
        _ => return refuse("Follow a provider or a site."),
    };
    let mut interests = subscription.interests.clone();
    if interests.scopes.contains(&scope) {
        return Ok(Answer::Done(Done::Followed));
    }
    if interests.scopes.len() >= engine::alert::MAX_SCOPES {
        return refuse(format!(
            "A subscription follows at most {} things; remove one first.",
            engine::alert::MAX_SCOPES
        ));
    }
    interests.scopes.push(scope);
    save(
        state,
        subscription,
        &interests,
        subscription.cadence(),
        Done::Followed,
    )
    .await
}

/// The host of a site as a visitor types it: `example.com`,
/// `https://www.example.com/page`, `Example.COM.`.
fn site_host(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() || text.len() > 2048 {
        return None;
    }
    let host = if text.contains("://") {
        url::Url::parse(text).ok()?.host_str()?.to_owned()
    } else {
        text.split(['/', '?', '#']).next()?.to_owned()
    };
    match Scope::parse(&format!("site:{host}")).ok()? {
        Scope::Site(host) if host.contains('.') => Some(host),
        _ => None,
    }
}

async fn unfollow(
    state: &LinkState,
    subscription: &Subscription,
    form: &Form,
) -> Result<Answer, Refused> {
    let Ok(scope) = Scope::parse(form.get("scope")) else {
        return refuse("That is not something this subscription follows.");
    };
    let mut interests = subscription.interests.clone();
    interests.scopes.retain(|kept| *kept != scope);
    if interests.scopes.is_empty() {
        return refuse(
            "This is the last thing this subscription follows. To stop every alert, unsubscribe below.",
        );
    }
    save(
        state,
        subscription,
        &interests,
        subscription.cadence(),
        Done::Unfollowed,
    )
    .await
}

async fn events(
    state: &LinkState,
    subscription: &Subscription,
    form: &Form,
) -> Result<Answer, Refused> {
    let mut events = Vec::new();
    for name in form.all("event") {
        match CHOICES.iter().find(|(event, _)| event.as_str() == name) {
            Some((event, _)) if !events.contains(event) => events.push(*event),
            Some(_) => {}
            None => return refuse("That is not a kind of alert this page offers."),
        }
    }
    if events.is_empty() {
        return refuse("Pick at least one kind of alert. To stop them all, unsubscribe below.");
    }
    let minutes = match form.get("min_interval") {
        "" => 0,
        text => match text.parse::<i64>() {
            Ok(minutes) if (0..=MAX_INTERVAL_MINUTES).contains(&minutes) => minutes,
            _ => {
                return refuse(format!(
                    "The least time between alerts is a number of minutes from 0 to {MAX_INTERVAL_MINUTES}."
                ))
            }
        },
    };
    let remind_hours = match form.get("remind_hours") {
        "" => 0,
        text => match text.parse::<i64>() {
            Ok(hours) if (0..=MAX_REMIND_HOURS).contains(&hours) => hours,
            _ => {
                return refuse(format!(
                    "Reminders come every 1 to {MAX_REMIND_HOURS} hours, or never (0)."
                ))
            }
        },
    };
    let mut interests = subscription.interests.clone();
    interests.events = events;
    let cadence = store::Cadence {
        min_interval_s: minutes * 60,
        remind_every_s: remind_hours * 3600,
    };
    save(state, subscription, &interests, cadence, Done::Events).await
}

/// A time as a browser's `datetime-local` field sends it, read as UTC.
fn utc_time(text: &str) -> Option<DateTime<Utc>> {
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|time| time.and_utc())
}

async fn mute(
    state: &LinkState,
    subscription: &Subscription,
    form: &Form,
    now: DateTime<Utc>,
) -> Result<Answer, Refused> {
    let (Some(from), Some(until)) = (utc_time(form.get("from")), utc_time(form.get("until")))
    else {
        return refuse("Give the start and the end of the quiet time, as dates and times in UTC.");
    };
    if until <= from {
        return refuse("A quiet time ends after it starts.");
    }
    if until <= now {
        return refuse("That quiet time is over already.");
    }
    if until - from > LONGEST_MUTE {
        return refuse("A quiet time lasts at most 31 days. To stop alerts for good, unsubscribe.");
    }
    let mut interests = subscription.interests.clone();
    // Quiet times that are over are of no use: they go now.
    interests.mutes.retain(|window| window.until > now);
    if interests.mutes.len() >= engine::alert::MAX_MUTES {
        return refuse(format!(
            "At most {} quiet times; remove one first.",
            engine::alert::MAX_MUTES
        ));
    }
    interests.mutes.push(MuteWindow { from, until });
    interests.mutes.sort_by_key(|window| window.from);
    save(
        state,
        subscription,
        &interests,
        subscription.cadence(),
        Done::Muted,
    )
    .await
}

async fn unmute(
    state: &LinkState,
    subscription: &Subscription,
    form: &Form,
    now: DateTime<Utc>,
) -> Result<Answer, Refused> {
    let (Some(from), Some(until)) = (
        DateTime::parse_from_rfc3339(form.get("from")).ok(),
        DateTime::parse_from_rfc3339(form.get("until")).ok(),
    ) else {
        return refuse("That is not one of this subscription's quiet times.");
    };
    let gone = MuteWindow {
        from: from.with_timezone(&Utc),
        until: until.with_timezone(&Utc),
    };
    let mut interests = subscription.interests.clone();
    interests
        .mutes
        .retain(|window| *window != gone && window.until > now);
    save(
        state,
        subscription,
        &interests,
        subscription.cadence(),
        Done::Unmuted,
    )
    .await
}

/// The webhook of this address that the form's `endpoint` names.
async fn own_webhook(
    state: &LinkState,
    subscription: &Subscription,
    form: &Form,
) -> Result<Subscription, Refused> {
    endpoint(state, subscription, form)
        .await?
        .ok_or_else(|| Refused::Input("That is not one of your webhooks.".to_owned()))
}

/// A webhook of this address named by the form's `endpoint`, or `None`
/// for the subscription itself.
async fn endpoint(
    state: &LinkState,
    subscription: &Subscription,
    form: &Form,
) -> Result<Option<Subscription>, Refused> {
    let id = form.get("endpoint");
    if id.is_empty() {
        return Ok(None);
    }
    let Ok(id) = id.parse::<i64>() else {
        return refuse("That is not one of your webhooks.");
    };
    match state.store.subscription(id).await? {
        Some(webhook)
            if webhook.channel == AlertChannel::Webhook
                && webhook.owner.as_deref() == Some(subscription.target.as_str()) =>
        {
            Ok(Some(webhook))
        }
        _ => refuse("That is not one of your webhooks."),
    }
}

async fn test(
    state: &LinkState,
    subscription: &Subscription,
    form: &Form,
    now: DateTime<Utc>,
) -> Result<Answer, Refused> {
    let target = endpoint(state, subscription, form)
        .await?
        .unwrap_or_else(|| subscription.clone());
    if !target.is_active() {
        return refuse(match target.channel {
            AlertChannel::Email => "Confirm your address first: the link is in the first mail.",
            _ => "That webhook is stopped; start it again first.",
        });
    }
    state.store.queue_test_event(target.id, now).await?;
    state.wake.notify_one();
    Ok(Answer::Done(Done::TestQueued))
}

async fn remove_webhook(
    state: &LinkState,
    subscription: &Subscription,
    form: &Form,
) -> Result<Answer, Refused> {
    let webhook = own_webhook(state, subscription, form).await?;
    state.store.remove_subscription(webhook.id).await?;
    Ok(Answer::Done(Done::WebhookRemoved))
}

async fn resume_webhook(
    state: &LinkState,
    subscription: &Subscription,
    form: &Form,
) -> Result<Answer, Refused> {
    let webhook = own_webhook(state, subscription, form).await?;
    state.store.resume_subscription(webhook.id).await?;
    Ok(Answer::Done(Done::WebhookResumed))
}

/// Adds a webhook that follows and hears what this subscription does, and
/// shows its secret once.
async fn add_webhook(
    state: &LinkState,
    knowledge: &Knowledge,
    token: &str,
    subscription: &Subscription,
    form: &Form,
    now: DateTime<Utc>,
) -> Result<Answer, Refused> {
    if subscription.confirmed_at.is_none() {
        return refuse("Confirm your address first: a webhook needs an owner who can be reached.");
    }
    let url = form.get("url");
    if url.is_empty() || url.len() > MAX_URL {
        return refuse("Enter the webhook's address, starting with https://.");
    }
    if let Err(reason) = super::webhook::check_target(url, &state.guard) {
        return refuse(format!("That address cannot take alerts: {reason}."));
    }
    let format = match AlertFormat::from_name(form.get("format")) {
        Some(format) if format != AlertFormat::Unknown => format,
        _ => return refuse("Pick the kind of webhook from the list."),
    };
    let owned = state.store.webhooks_owned_by(&subscription.target).await?;
    if owned.len() >= MAX_WEBHOOKS {
        return refuse(format!(
            "An address may add at most {MAX_WEBHOOKS} webhooks; remove one first."
        ));
    }
    if owned.iter().any(|webhook| webhook.target == url) {
        return refuse("You have added that webhook already.");
    }
    let secret = super::sign::new_secret();
    let new = store::NewSubscription {
        channel: AlertChannel::Webhook,
        format,
        target: url.to_owned(),
        secrets: vec![secret.clone()],
        interests: subscription.interests.clone(),
        min_interval_s: subscription.min_interval_s,
        remind_every_s: subscription.remind_every_s,
        confirmed_at: None,
        created_by: "public".to_owned(),
        owner: Some(subscription.target.clone()),
    };
    let id = state.store.create_subscription(&new, now).await?;
    let signing = if format == AlertFormat::Standard {
        format!(
            "<p>Its requests are signed per Standard Webhooks with this secret. Copy it now: it is shown only this once.</p>\
             <p><code class=\"secret\" data-test=\"secret\">{}</code></p>",
            escape(&secret)
        )
    } else {
        format!(
            "<p>It sends {} messages, which carry no signature.</p>",
            escape(format.plain())
        )
    };
    Ok(Answer::Page(page(
        StatusCode::OK,
        "Webhook added",
        &format!(
            "<p>Alerts about {} will also go to <code>{}</code> (webhook {id}).</p>{signing}\
             <p><a href=\"/alerts/manage/{}\">Back to your alerts</a>, where you can send it a test alert.</p>",
            escape(&subscription.interests.follows_in_words(&knowledge.current())),
            escape(url),
            escape(token),
        ),
        Width::Wide,
    )))
}

/// What the page says above everything else.
enum Notice {
    Done(String),
    Refused(String),
}

/// The manage page for `subscription`, as it stands.
async fn render(
    state: &LinkState,
    knowledge: &Knowledge,
    token: &str,
    subscription: &Subscription,
    notice: Option<Notice>,
    status: StatusCode,
) -> Response {
    if subscription.channel != AlertChannel::Email {
        return page(
            StatusCode::NOT_FOUND,
            "This link is not valid",
            "<p>Check that the whole link was copied from the mail.</p>",
            Width::Narrow,
        );
    }
    let (webhooks, others) = match tokio::try_join!(
        state.store.webhooks_owned_by(&subscription.target),
        state.store.email_subscriptions_of(&subscription.target),
    ) {
        Ok(found) => found,
        Err(error) => {
            tracing::error!(%error, "cannot read an address's subscriptions");
            return unavailable();
        }
    };
    let action = |name: &str| format!("/alerts/manage/{}/{name}", escape(token));
    let base = knowledge.current();
    let mut html = String::new();
    let state_line = match (&subscription.disabled_reason, subscription.confirmed_at) {
        (Some(reason), _) => format!("stopped: {}", escape(reason)),
        (None, None) => {
            "waiting for the address to be confirmed (the link is in the first mail)".to_owned()
        }
        (None, Some(_)) => "active".to_owned(),
    };
    html.push_str(&format!(
        "<p>Alerts about {} to <strong data-test=\"address\">{}</strong>: {state_line}.</p>",
        escape(
            &subscription
                .interests
                .follows_in_words(&knowledge.current())
        ),
        escape(&subscription.target),
    ));
    match notice {
        Some(Notice::Done(text)) => html.push_str(&format!(
            "<p class=\"notice\" role=\"status\" data-test=\"done\">{}</p>",
            escape(&text)
        )),
        Some(Notice::Refused(text)) => html.push_str(&format!(
            "<div class=\"error\" role=\"alert\" data-test=\"refused\"><p>{}</p></div>",
            escape(&text)
        )),
        None => {}
    }
    if subscription.is_active() {
        html.push_str(&format!(
            "<form method=\"post\" action=\"{}\"><button type=\"submit\" data-test=\"test-email\">Send a test alert to this address</button></form>",
            action("test")
        ));
    }

    // What it follows.
    html.push_str("<section><h2>What you follow</h2><ul class=\"follows\">");
    for scope in &subscription.interests.scopes {
        // A feed of the same incidents, for a feed reader.
        let feed = match scope {
            Scope::Provider { id, .. } => Some(format!("/provider/{id}/incidents.atom")),
            Scope::Site(host) => Some(format!("/site/{host}/incidents.atom")),
            _ => None,
        }
        .map(|feed| {
            format!(
                " <a href=\"{}\" rel=\"external\">Atom feed</a>",
                escape(&feed)
            )
        })
        .unwrap_or_default();
        html.push_str(&format!(
            "<li>{}{feed} <form class=\"inline\" method=\"post\" action=\"{}\">\
             <input type=\"hidden\" name=\"scope\" value=\"{}\">\
             <button type=\"submit\" class=\"link\">stop following</button></form></li>",
            escape(&scope.in_words(&base)),
            action("unfollow"),
            escape(&scope.to_string()),
        ));
    }
    html.push_str("</ul>");
    let mut providers: Vec<(String, String)> = base
        .ids()
        .filter(|(_, kind)| *kind == engine::knowledge::Kind::Provider)
        .map(|(id, _)| {
            let id = id.as_str().to_owned();
            let name = base.name_of(&id).unwrap_or(&id).to_owned();
            (id, name)
        })
        .collect();
    providers.sort_by_key(|(_, name)| name.to_lowercase());
    let options: String = providers
        .iter()
        .map(|(id, name)| format!("<option value=\"{}\">{}</option>", escape(id), escape(name)))
        .collect();
    html.push_str(&format!(
        "<div class=\"admin-forms\">\
         <form class=\"stack\" method=\"post\" action=\"{follow}\"><input type=\"hidden\" name=\"kind\" value=\"provider\">\
         <label for=\"follow-provider\">Follow a provider</label>\
         <select id=\"follow-provider\" name=\"provider\">{options}</select>\
         <button type=\"submit\">Follow</button></form>\
         <form class=\"stack\" method=\"post\" action=\"{follow}\"><input type=\"hidden\" name=\"kind\" value=\"site\">\
         <label for=\"follow-site\">Follow a site</label>\
         <input id=\"follow-site\" name=\"site\" placeholder=\"example.com\" maxlength=\"2048\" required>\
         <button type=\"submit\">Follow</button></form></div></section>",
        follow = action("follow"),
    ));

    // Which events, how often.
    html.push_str(&format!(
        "<section><h2>What you hear</h2><form class=\"stack wide\" method=\"post\" action=\"{}\">\
         <fieldset><legend>Send an alert when</legend>",
        action("events")
    ));
    for (event, meaning) in CHOICES {
        let checked = if subscription.interests.events.contains(event) {
            " checked"
        } else {
            ""
        };
        html.push_str(&format!(
            "<label class=\"choice\"><input type=\"checkbox\" name=\"event\" value=\"{}\"{checked}> {}</label>",
            event.as_str(),
            escape(meaning),
        ));
    }
    html.push_str(&format!(
        "</fieldset><label for=\"min-interval\">At least this many minutes between two alerts about one outage (0: as it happens)</label>\
         <input id=\"min-interval\" name=\"min_interval\" type=\"number\" min=\"0\" max=\"{MAX_INTERVAL_MINUTES}\" value=\"{}\">\
         <label for=\"remind-hours\">While an outage stays confirmed, remind me every this many hours (0: never)</label>\
         <input id=\"remind-hours\" name=\"remind_hours\" type=\"number\" min=\"0\" max=\"{MAX_REMIND_HOURS}\" value=\"{}\">\
         <button type=\"submit\" data-test=\"save-events\">Save</button></form></section>",
        subscription.min_interval_s / 60,
        subscription.remind_every_s / 3600
    ));

    // Quiet times.
    html.push_str("<section><h2>Quiet times</h2><p class=\"hint\">During a quiet time new alerts are held back (a maintenance window, a holiday); an outage ending still reaches you, and nothing already known is sent again afterwards. Times are UTC.</p>");
    let now = Utc::now();
    let mutes: Vec<&MuteWindow> = subscription
        .interests
        .mutes
        .iter()
        .filter(|window| window.until > now)
        .collect();
    if !mutes.is_empty() {
        html.push_str("<ul>");
        for window in mutes {
            html.push_str(&format!(
                "<li>{} – {} UTC <form class=\"inline\" method=\"post\" action=\"{}\">\
                 <input type=\"hidden\" name=\"from\" value=\"{}\"><input type=\"hidden\" name=\"until\" value=\"{}\">\
                 <button type=\"submit\" class=\"link\">remove</button></form></li>",
                window.from.format("%Y-%m-%d %H:%M"),
                window.until.format("%Y-%m-%d %H:%M"),
                action("unmute"),
                window.from.to_rfc3339(),
                window.until.to_rfc3339(),
            ));
        }
        html.push_str("</ul>");
    }
    html.push_str(&format!(
        "<form class=\"stack\" method=\"post\" action=\"{}\">\
         <label for=\"mute-from\">From (UTC)</label><input id=\"mute-from\" name=\"from\" type=\"datetime-local\" required>\
         <label for=\"mute-until\">Until (UTC)</label><input id=\"mute-until\" name=\"until\" type=\"datetime-local\" required>\
         <button type=\"submit\">Add a quiet time</button></form></section>",
        action("mute")
    ));

    // Webhooks.
    html.push_str("<section><h2>Webhooks</h2>");
    if subscription.confirmed_at.is_none() {
        html.push_str("<p>Once your address is confirmed you can send these alerts to webhooks too (your own endpoint, Slack, Discord, Microsoft Teams or ntfy).</p>");
    } else {
        if webhooks.is_empty() {
            html.push_str("<p>Send these alerts to a webhook too: your own endpoint (signed JSON), Slack, Discord, Microsoft Teams or ntfy. A webhook added here follows and hears what this subscription does now.</p>");
        } else {
            html.push_str("<table class=\"data\" data-test=\"webhooks\"><thead><tr><th>Address</th><th>Kind</th><th>Follows</th><th>State</th><th></th></tr></thead><tbody>");
            for webhook in &webhooks {
                let state = match (&webhook.disabled_reason, webhook.failing_since) {
                    (Some(reason), _) => format!(
                        "stopped: {} <form class=\"inline\" method=\"post\" action=\"{}\">\
                         <input type=\"hidden\" name=\"endpoint\" value=\"{}\">\
                         <button type=\"submit\" data-test=\"resume-webhook\">Start again</button></form>",
                        escape(reason),
                        action("resume-webhook"),
                        webhook.id
                    ),
                    (None, Some(since)) => format!(
                        "failing since {} UTC",
                        since.format("%Y-%m-%d %H:%M")
                    ),
                    (None, None) => "active".to_owned(),
                };
                html.push_str(&format!(
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{state}</td><td>\
                     <form class=\"inline\" method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"endpoint\" value=\"{id}\">\
                     <button type=\"submit\" data-test=\"test-webhook\">Send a test alert</button></form>\
                     <form class=\"inline\" method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"endpoint\" value=\"{id}\">\
                     <button type=\"submit\" class=\"link\">remove</button></form></td></tr>",
                    escape(&webhook.target),
                    escape(webhook.format.plain()),
                    escape(&webhook.interests.follows_in_words(&base)),
                    action("test"),
                    action("remove-webhook"),
                    id = webhook.id,
                ));
            }
            html.push_str("</tbody></table>");
        }
        if webhooks.len() < MAX_WEBHOOKS {
            let formats: String = AlertFormat::ALL
                .iter()
                .filter(|format| **format != AlertFormat::Unknown)
                .map(|format| {
                    format!(
                        "<option value=\"{}\">{}</option>",
                        format.as_str(),
                        escape(format.plain())
                    )
                })
                .collect();
            html.push_str(&format!(
                "<form class=\"stack\" method=\"post\" action=\"{}\">\
                 <label for=\"webhook-url\">Webhook address</label>\
                 <input id=\"webhook-url\" name=\"url\" type=\"url\" placeholder=\"https://\" maxlength=\"{MAX_URL}\" required>\
                 <label for=\"webhook-format\">Kind</label><select id=\"webhook-format\" name=\"format\">{formats}</select>\
                 <button type=\"submit\" data-test=\"add-webhook\">Add the webhook</button></form>",
                action("add-webhook")
            ));
        }
    }
    html.push_str("</section>");

    // The address's other subscriptions.
    let others: Vec<&Subscription> = others
        .iter()
        .filter(|other| other.id != subscription.id)
        .collect();
    if let (false, Some(signer)) = (others.is_empty(), &state.signer) {
        html.push_str("<section><h2>Your other alerts</h2><ul>");
        for other in others {
            html.push_str(&format!(
                "<li><a href=\"/alerts/manage/{}\">{}</a></li>",
                escape(&signer.token(Purpose::Manage, other.id, now)),
                escape(&other.interests.follows_in_words(&base)),
            ));
        }
        html.push_str("</ul></section>");
    }

    html.push_str(&format!(
        "<section><h2>Stop</h2><form method=\"post\" action=\"/alerts/unsubscribe/{}\">\
         <button type=\"submit\" data-test=\"unsubscribe\">Unsubscribe from these alerts</button></form></section>",
        escape(token)
    ));
    page(status, "Your alerts", &html, Width::Wide)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_site_is_taken_as_typed_or_pasted() {
        assert_eq!(site_host("example.com").as_deref(), Some("example.com"));
        assert_eq!(
            site_host(" https://WWW.Example.com/page?x=1 ").as_deref(),
            Some("www.example.com")
        );
        assert_eq!(
            site_host("example.com/path").as_deref(),
            Some("example.com")
        );
        assert_eq!(site_host("Example.COM.").as_deref(), Some("example.com"));
        for bad in ["", "localhost", "exa mple.com", "<script>", "ftp://", "a@b"] {
            assert_eq!(site_host(bad), None, "{bad}");
        }
    }

    #[test]
    fn quiet_times_are_read_as_utc() {
        let at = utc_time("2026-12-24T18:30").unwrap();
        assert_eq!(at.to_rfc3339(), "2026-12-24T18:30:00+00:00");
        assert_eq!(
            utc_time("2026-12-24T18:30:15")
                .map(|t| t.to_rfc3339())
                .as_deref(),
            Some("2026-12-24T18:30:15+00:00")
        );
        assert_eq!(utc_time("24/12/2026"), None);
        assert_eq!(utc_time(""), None);
    }

    #[test]
    fn every_done_word_reads_back() {
        for done in Done::ALL {
            assert_eq!(Done::from_key(done.key()), Some(done));
        }
        assert_eq!(Done::from_key("<b>"), None);
    }

    #[test]
    fn the_choices_are_every_event_a_subscriber_can_hear() {
        // Reminders have their own field; tests are asked for.
        let offered: Vec<AlertEvent> = CHOICES.iter().map(|(event, _)| *event).collect();
        let hearable: Vec<AlertEvent> = AlertEvent::ALL
            .iter()
            .copied()
            .filter(|event| {
                !matches!(
                    event,
                    AlertEvent::Test | AlertEvent::Unknown | AlertEvent::ProviderOngoing
                )
            })
            .collect();
        assert_eq!(offered, hearable);
    }
}
