//! The links in alert mails: confirm an address, see a subscription,
//! unsubscribe. Each is a signed token (`alerts::token`), so none needs a
//! session or a cookie.
//!
//! Following a link (GET) never changes anything: mail scanners open
//! links. Each page offers a button that POSTs to the same address. The
//! unsubscribe address also takes RFC 8058's one-click POST from a mail
//! client (`List-Unsubscribe=One-Click`, no cookies), answered 200 with no
//! redirect.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;

use super::token::{Purpose, Signer, TokenError};
use crate::markup::escape;

/// Requests to these pages per client address per minute.
const PER_MINUTE: u32 = 30;

/// What the link pages need; none of them works without a signer.
#[derive(Clone)]
pub struct LinkState {
    pub store: store::Store,
    pub signer: Option<Signer>,
    pub limiter: Arc<governor::DefaultKeyedRateLimiter<IpAddr>>,
}

impl std::fmt::Debug for LinkState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkState")
    }
}

impl LinkState {
    pub fn new(store: store::Store, signer: Option<Signer>) -> Self {
        let quota =
            governor::Quota::per_minute(NonZeroU32::new(PER_MINUTE).unwrap_or(NonZeroU32::MIN));
        Self {
            store,
            signer,
            limiter: Arc::new(governor::RateLimiter::keyed(quota)),
        }
    }
}

pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    LinkState: FromRef<S>,
{
    Router::new()
        .route("/alerts/confirm/{token}", get(confirm_page).post(confirm))
        .route(
            "/alerts/unsubscribe/{token}",
            get(unsubscribe_page).post(unsubscribe),
        )
        .route("/alerts/manage/{token}", get(manage_page))
}

/// The subscription a link is for, or the page that says why not.
async fn subscription(
    state: &LinkState,
    client: SocketAddr,
    token: &str,
    purpose: Purpose,
) -> Result<store::Subscription, Response> {
    if state
        .limiter
        .check_key(&app::client::rate_key(Some(client.ip())))
        .is_err()
    {
        return Err(page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            "<p>Too many requests from your address; wait a minute.</p>",
        ));
    }
    state.limiter.retain_recent();
    let Some(signer) = &state.signer else {
        return Err(page(
            StatusCode::NOT_FOUND,
            "Email alerts are off",
            "<p>This server does not send email alerts.</p>",
        ));
    };
    let id =
        match signer.check(token, purpose, Utc::now()) {
            Ok(id) => id,
            Err(TokenError::Expired) => return Err(page(
                StatusCode::GONE,
                "This link has expired",
                "<p>Confirmation links work for 48 hours. Subscribe again to get a new one.</p>",
            )),
            Err(TokenError::Invalid) => {
                return Err(page(
                    StatusCode::NOT_FOUND,
                    "This link is not valid",
                    "<p>Check that the whole link was copied from the mail.</p>",
                ))
            }
        };
    match state.store.subscription(id).await {
        Ok(Some(subscription)) => Ok(subscription),
        Ok(None) => Err(page(
            StatusCode::OK,
            "No such subscription",
            "<p>This subscription does not exist any more: nothing is sent for it.</p>",
        )),
        Err(error) => {
            tracing::error!(%error, "cannot read a subscription");
            Err(unavailable())
        }
    }
}

async fn confirm_page(
    State(state): State<LinkState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
) -> Response {
    let subscription = match subscription(&state, client, &token, Purpose::Confirm).await {
        Ok(subscription) => subscription,
        Err(page) => return page,
    };
    page(
        StatusCode::OK,
        "Confirm your alerts",
        &format!(
            "<p>Send alerts about {} to <strong>{}</strong>?</p>\
             <form method=\"post\"><button type=\"submit\" data-test=\"confirm\">Confirm</button></form>",
            escape(&super::follows_in_words(&subscription)),
            escape(&subscription.target)
        ),
    )
}

async fn confirm(
    State(state): State<LinkState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
) -> Response {
    let subscription = match subscription(&state, client, &token, Purpose::Confirm).await {
        Ok(subscription) => subscription,
        Err(page) => return page,
    };
    if let Err(error) = state
        .store
        .confirm_subscription(subscription.id, Utc::now())
        .await
    {
        tracing::error!(%error, "cannot confirm a subscription");
        return unavailable();
    }
    let manage = state
        .signer
        .as_ref()
        .map(|signer| signer.token(Purpose::Manage, subscription.id, Utc::now()))
        .unwrap_or_default();
    page(
        StatusCode::OK,
        "Alerts confirmed",
        &format!(
            "<p>Alerts about {} will go to <strong>{}</strong>.</p>\
             <p>Every alert has a link to <a href=\"/alerts/manage/{}\">manage them</a> and one to unsubscribe.</p>",
            escape(&super::follows_in_words(&subscription)),
            escape(&subscription.target),
            escape(&manage)
        ),
    )
}

async fn unsubscribe_page(
    State(state): State<LinkState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
) -> Response {
    let subscription = match subscription(&state, client, &token, Purpose::Manage).await {
        Ok(subscription) => subscription,
        Err(page) => return page,
    };
    page(
        StatusCode::OK,
        "Unsubscribe",
        &format!(
            "<p>Stop sending alerts about {} to <strong>{}</strong>?</p>\
             <form method=\"post\"><button type=\"submit\" data-test=\"unsubscribe\">Unsubscribe</button></form>",
            escape(&super::follows_in_words(&subscription)),
            escape(&subscription.target)
        ),
    )
}

/// One click, from the page or straight from a mail client (RFC 8058).
async fn unsubscribe(
    State(state): State<LinkState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
) -> Response {
    let subscription = match subscription(&state, client, &token, Purpose::Manage).await {
        Ok(subscription) => subscription,
        Err(page) => return page,
    };
    match state.store.remove_subscription(subscription.id).await {
        Ok(_) => page(
            StatusCode::OK,
            "Unsubscribed",
            &format!(
                "<p>No more alerts will go to <strong>{}</strong> for this subscription.</p>",
                escape(&subscription.target)
            ),
        ),
        Err(error) => {
            tracing::error!(%error, "cannot remove a subscription");
            unavailable()
        }
    }
}

async fn manage_page(
    State(state): State<LinkState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
) -> Response {
    let subscription = match subscription(&state, client, &token, Purpose::Manage).await {
        Ok(subscription) => subscription,
        Err(page) => return page,
    };
    let events: Vec<&str> = subscription
        .interests
        .events
        .iter()
        .map(|event| event.plain())
        .collect();
    let state_line = match (&subscription.disabled_reason, subscription.confirmed_at) {
        (Some(reason), _) => format!("Stopped: {}", escape(reason)),
        (None, None) => "Waiting for the address to be confirmed".to_owned(),
        (None, Some(_)) => "Active".to_owned(),
    };
    page(
        StatusCode::OK,
        "Your alerts",
        &format!(
            "<dl><dt>To</dt><dd>{}</dd><dt>About</dt><dd>{}</dd><dt>Events</dt><dd>{}</dd>\
             <dt>State</dt><dd>{state_line}</dd></dl>\
             <form method=\"post\" action=\"/alerts/unsubscribe/{}\">\
             <button type=\"submit\" data-test=\"unsubscribe\">Unsubscribe</button></form>",
            escape(&subscription.target),
            escape(&super::follows_in_words(&subscription)),
            escape(&events.join(", ")),
            escape(&token)
        ),
    )
}

/// The page for a database that does not answer: the visitor may retry.
fn unavailable() -> Response {
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Unavailable",
        "<p>Faultline cannot use its database just now; try the link again in a minute.</p>",
    )
}

/// A small page in the site's style, with a policy of its own: the style
/// sheet, forms to this site, nothing else.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\">\
         <title>{} · Faultline</title><link rel=\"stylesheet\" href=\"/pkg/faultline.css\"></head>\
         <body><main class=\"stack narrow\"><p><a href=\"/\">Faultline</a></p><h1>{}</h1>{body}</main></body></html>",
        escape(title),
        escape(title)
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    response
}
