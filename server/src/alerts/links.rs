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
use crate::knowledge::Knowledge;
use crate::markup::escape;

/// Requests to these pages per client address per minute.
const PER_MINUTE: u32 = 30;

/// What the link pages need; none of them works without a signer.
#[derive(Clone)]
pub struct LinkState {
    pub store: store::Store,
    pub signer: Option<Signer>,
    pub limiter: Arc<governor::DefaultKeyedRateLimiter<IpAddr>>,
    /// Where webhooks added from the manage page may deliver: the
    /// dispatcher's own guard.
    pub guard: probe::GuardPolicy,
    /// Rung when a page queues a test alert, so it goes at once.
    pub wake: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for LinkState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkState")
    }
}

impl LinkState {
    /// Link pages that say email alerts are off; `guard` still judges
    /// webhooks added from `/admin`.
    pub fn off(store: store::Store, guard: probe::GuardPolicy) -> Self {
        Self::new(store, None, guard, Arc::new(tokio::sync::Notify::new()))
    }

    pub fn new(
        store: store::Store,
        signer: Option<Signer>,
        guard: probe::GuardPolicy,
        wake: Arc<tokio::sync::Notify>,
    ) -> Self {
        let quota =
            governor::Quota::per_minute(NonZeroU32::new(PER_MINUTE).unwrap_or(NonZeroU32::MIN));
        Self {
            store,
            signer,
            limiter: Arc::new(governor::RateLimiter::keyed(quota)),
            guard,
            wake,
        }
    }
}

pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    LinkState: FromRef<S>,
    Arc<Knowledge>: FromRef<S>,
{
    Router::new()
        .route("/alerts/confirm/{token}", get(confirm_page).post(confirm))
        .route(
            "/alerts/unsubscribe/{token}",
            get(unsubscribe_page).post(unsubscribe),
        )
}

/// The subscription a link is for, or the page that says why not.
pub(super) async fn subscription(
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
            Width::Narrow,
        ));
    }
    state.limiter.retain_recent();
    let Some(signer) = &state.signer else {
        return Err(page(
            StatusCode::NOT_FOUND,
            "Email alerts are off",
            "<p>This server does not send email alerts.</p>",
            Width::Narrow,
        ));
    };
    let id =
        match signer.check(token, purpose, Utc::now()) {
            Ok(id) => id,
            Err(TokenError::Expired) => return Err(page(
                StatusCode::GONE,
                "This link has expired",
                "<p>Confirmation links work for 48 hours. Subscribe again to get a new one.</p>",
                Width::Narrow,
            )),
            Err(TokenError::Invalid) => {
                return Err(page(
                    StatusCode::NOT_FOUND,
                    "This link is not valid",
                    "<p>Check that the whole link was copied from the mail.</p>",
                    Width::Narrow,
                ))
            }
        };
    match state.store.subscription(id).await {
        Ok(Some(subscription)) => Ok(subscription),
        Ok(None) => Err(page(
            StatusCode::OK,
            "No such subscription",
            "<p>This subscription does not exist any more: nothing is sent for it.</p>",
            Width::Narrow,
        )),
        Err(error) => {
            tracing::error!(%error, "cannot read a subscription");
            Err(unavailable())
        }
    }
}

async fn confirm_page(
    State(state): State<LinkState>,
    State(knowledge): State<Arc<Knowledge>>,
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
            escape(&subscription.interests.follows_in_words(&knowledge.current())),
            escape(&subscription.target)
        ), Width::Narrow,
    )
}

async fn confirm(
    State(state): State<LinkState>,
    State(knowledge): State<Arc<Knowledge>>,
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
            escape(&subscription.interests.follows_in_words(&knowledge.current())),
            escape(&subscription.target),
            escape(&manage)
        ), Width::Narrow,
    )
}

async fn unsubscribe_page(
    State(state): State<LinkState>,
    State(knowledge): State<Arc<Knowledge>>,
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
            escape(&subscription.interests.follows_in_words(&knowledge.current())),
            escape(&subscription.target)
        ), Width::Narrow,
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
    match state.store.remove_email_subscription(subscription.id).await {
        Ok(webhooks) => {
            let also = match webhooks.unwrap_or(0) {
                0 => String::new(),
                1 => " It was this address's last subscription, so the webhook it added is removed too.".to_owned(),
                n => format!(" It was this address's last subscription, so the {n} webhooks it added are removed too."),
            };
            page(
                StatusCode::OK,
                "Unsubscribed",
                &format!(
                    "<p>No more alerts will go to <strong>{}</strong> for this subscription.{also}</p>",
                    escape(&subscription.target)
                ),
                Width::Narrow,
            )
        }
        Err(error) => {
            tracing::error!(%error, "cannot remove a subscription");
            unavailable()
        }
    }
}

/// The page for a database that does not answer: the visitor may retry.
pub(super) fn unavailable() -> Response {
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Unavailable",
        "<p>Faultline cannot use its database just now; try the link again in a minute.</p>",
        Width::Narrow,
    )
}

/// How wide a page's column is: a sentence and a button, or the forms of
/// the manage page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Width {
    Narrow,
    Wide,
}

/// A small page in the site's style, with a policy of its own: the style
/// sheet, forms to this site, nothing else.
pub(super) fn page(status: StatusCode, title: &str, body: &str, width: Width) -> Response {
    let column = match width {
        Width::Narrow => "stack narrow",
        Width::Wide => "alerts-page",
    };
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\">\
         <title>{} · Faultline</title><link rel=\"stylesheet\" href=\"/pkg/faultline.css\"></head>\
         <body><main class=\"{column}\"><p><a href=\"/\">Faultline</a></p><h1>{}</h1>{body}</main></body></html>",
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
