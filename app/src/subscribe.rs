//! "Get alerts" on the public pages: a visitor leaves an email address for
//! a site or a provider; the server mails a confirmation link (double
//! opt-in) and nothing else until it is followed.
//!
//! The form is a plain POST that redirects back to the page with the
//! outcome in `?alerts=`, so it works the same with and without
//! JavaScript. The answer is the same whether or not the address is new
//! or already has many subscriptions, so the form tells nothing about
//! anyone's address.

use leptos::prelude::*;

use crate::error::AppError;

/// Longest address accepted (RFC 5321's path limit).
pub const MAX_ADDRESS: usize = 254;

/// What the page says after a subscription attempt, from `?alerts=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A confirmation is on its way (or would be, for a valid address).
    Sent,
    Invalid,
    Limited,
    /// This server does not send email.
    Off,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [Self::Sent, Self::Invalid, Self::Limited, Self::Off];

    pub fn key(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Invalid => "invalid",
            Self::Limited => "limit",
            Self::Off => "off",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.key() == key)
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::Sent => "Check your inbox: a confirmation link is on its way. Nothing is sent until you follow it.",
            Self::Invalid => "That does not look like an email address.",
            Self::Limited => "Too many requests from your address. Try again later.",
            Self::Off => "This server does not send email alerts.",
        }
    }
}

/// Whether `text` looks like one email address: one `@`, a dotted domain,
/// no spaces or control characters. The SMTP server has the last word.
pub fn plausible_address(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    text.len() <= MAX_ADDRESS
        && !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && text
            .chars()
            .all(|c| c.is_ascii_graphic() || (!c.is_ascii() && !c.is_control()))
}

/// The page a form may send the browser back to: one of the pages that
/// carry it, nothing else (no open redirect).
pub fn back_to(path: &str) -> String {
    let local = ["/site/", "/provider/", "/incident/"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
        && path.len() <= 300
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '-' | '_'));
    if local {
        path.to_owned()
    } else {
        "/".to_owned()
    }
}

/// Subscribes an address to a site or a provider; back to the page with
/// the outcome.
#[server(endpoint = "alerts/subscribe")]
pub async fn subscribe_email(address: String, scope: String, back: String) -> Result<(), AppError> {
    let back = back_to(&back);
    let outcome = subscribe(address.trim(), &scope).await?;
    leptos_axum::redirect(&format!("{back}?alerts={}#alerts", outcome.key()));
    Ok(())
}

#[cfg(feature = "ssr")]
async fn subscribe(address: &str, scope: &str) -> Result<Outcome, AppError> {
    let Some(offer) = use_context::<AlertOffer>() else {
        return Ok(Outcome::Off);
    };
    let client = crate::client::address().await;
    if !offer.allow(client) {
        return Ok(Outcome::Limited);
    }
    if !plausible_address(address) {
        return Ok(Outcome::Invalid);
    }
    let scope = match engine::alert::Scope::parse(scope) {
        Ok(scope @ (engine::alert::Scope::Site(_) | engine::alert::Scope::Provider { .. })) => {
            scope
        }
        _ => return Err(AppError::bad_input("Alerts are for a site or a provider.")),
    };
    let store = expect_context::<store::Store>();
    let address = address.to_owned();
    // The same answer either way: the form tells nothing about an address.
    let held = store.subscriptions_of(&address).await?;
    let already = store
        .has_subscription(&address, std::slice::from_ref(&scope))
        .await?;
    if held < AlertOffer::PER_ADDRESS && !already {
        let new = store::NewSubscription {
            channel: engine::AlertChannel::Email,
            format: engine::AlertFormat::Standard,
            target: address,
            secrets: Vec::new(),
            interests: engine::alert::Interests {
                scopes: vec![scope],
                events: engine::AlertEvent::DEFAULTS.to_vec(),
                mutes: Vec::new(),
            },
            min_interval_s: 0,
            remind_every_s: 0,
            confirmed_at: None,
            created_by: "public".to_owned(),
            owner: None,
        };
        store.create_subscription(&new, chrono::Utc::now()).await?;
        // The confirmation goes now, not at the dispatcher's next round.
        offer.wake();
    }
    Ok(Outcome::Sent)
}

/// Whether this server takes email subscriptions (it was given an
/// [`AlertOffer`]).
#[cfg(feature = "ssr")]
pub fn email_offered() -> bool {
    use_context::<AlertOffer>().is_some()
}

#[cfg(feature = "ssr")]
pub use server_side::AlertOffer;

#[cfg(feature = "ssr")]
mod server_side {
    use std::net::IpAddr;
    use std::num::NonZeroU32;
    use std::sync::Arc;

    /// Email subscriptions a visitor may ask for: given to requests only
    /// when this server sends email.
    #[derive(Clone)]
    pub struct AlertOffer {
        limiter: Arc<governor::DefaultKeyedRateLimiter<IpAddr>>,
        /// Tells the alert dispatcher that a confirmation waits.
        wake: Option<Arc<tokio::sync::Notify>>,
    }

    impl std::fmt::Debug for AlertOffer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("AlertOffer")
        }
    }

    impl Default for AlertOffer {
        fn default() -> Self {
            Self::new()
        }
    }

    impl AlertOffer {
        /// Subscription requests per client address per hour.
        pub const PER_HOUR: u32 = 10;
        /// Subscriptions one address may hold.
        pub const PER_ADDRESS: i64 = 20;

        pub fn new() -> Self {
            let quota = governor::Quota::per_hour(
                NonZeroU32::new(Self::PER_HOUR).unwrap_or(NonZeroU32::MIN),
            );
            Self {
                limiter: Arc::new(governor::RateLimiter::keyed(quota)),
                wake: None,
            }
        }

        /// Rings `wake` whenever a subscription is made.
        pub fn with_wake(mut self, wake: Arc<tokio::sync::Notify>) -> Self {
            self.wake = Some(wake);
            self
        }

        pub(super) fn wake(&self) {
            if let Some(wake) = &self.wake {
                wake.notify_one();
            }
        }

        pub(super) fn allow(&self, client: Option<IpAddr>) -> bool {
            let allowed = self
                .limiter
                .check_key(&crate::client::rate_key(client))
                .is_ok();
            self.limiter.retain_recent();
            allowed
        }
    }
}
