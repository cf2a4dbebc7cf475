//! "Is it down?" for a site Faultline does not watch: one probe now, from
//! Faultline's vantage point, through the same prober and SSRF guard as
//! the watchlist, limited per client.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One probe's outcome as the check page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OnDemandResult {
    pub host: String,
    pub url: String,
    pub ok: bool,
    pub status: Option<u16>,
    pub failure: Option<engine::FailureClass>,
    pub detail: Option<String>,
    /// Who produced the error page and whose fault it is, in plain words.
    pub explanation: Option<String>,
    pub dns_ms: Option<i64>,
    pub ttfb_ms: Option<i64>,
    pub total_ms: Option<i64>,
    /// Providers seen, as "Name (role)".
    pub providers: Vec<String>,
}

/// What a request for a check got.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OnDemandOutcome {
    Checked(OnDemandResult),
    Invalid,
    /// This server was started without on-demand checks.
    Unavailable,
}

/// The host a search means: a domain or a URL, any case, with or without
/// scheme, path or port; international names in their ASCII form.
#[cfg(feature = "ssr")]
pub fn normalise_query(query: &str) -> Option<String> {
    let query = query.trim();
    if query.is_empty() || query.len() > 2048 {
        return None;
    }
    let with_scheme = if query.contains("://") {
        query.to_owned()
    } else {
        format!("https://{query}")
    };
    let url = url::Url::parse(&with_scheme).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?.trim_end_matches('.').to_ascii_lowercase();
    let domain = matches!(url.host(), Some(url::Host::Domain(_)));
    (domain && host.contains('.')).then_some(host)
}

/// Probes `query` (a domain or URL) once, now; refused when this client
/// asked for too many checks just now.
#[server]
pub async fn check_now(query: String) -> Result<OnDemandOutcome, AppError> {
    let Some(host) = normalise_query(&query) else {
        return Ok(OnDemandOutcome::Invalid);
    };
    let Some(checks) = use_context::<OnDemand>() else {
        return Ok(OnDemandOutcome::Unavailable);
    };
    // Unknown without the connection's details; such clients share one budget.
    let client = crate::client::address().await;
    if !checks.allow(client) {
        return Err(AppError::rate_limited(
            "You have asked for several checks in a short time; try again in a minute.",
        ));
    }
    let Some(_turn) = checks.turn() else {
        return Err(AppError::rate_limited(
            "Faultline is checking many sites for others right now; try again in a minute.",
        ));
    };
    Ok(OnDemandOutcome::Checked(checks.prober.check(&host).await))
}

#[cfg(feature = "ssr")]
pub use limits::{OnDemand, OnDemandProber, CONCURRENT_CHECKS};

#[cfg(feature = "ssr")]
mod limits {
    use super::OnDemandResult;
    use std::future::Future;
    use std::net::IpAddr;
    use std::num::NonZeroU32;
    use std::pin::Pin;
    use std::sync::Arc;

    /// Checks per client address per minute.
    const PER_MINUTE: u32 = 6;

    /// The server's side of a check: probe a host now.
    pub trait OnDemandProber: Send + Sync {
        fn check<'a>(
            &'a self,
            host: &'a str,
        ) -> Pin<Box<dyn Future<Output = OnDemandResult> + Send + 'a>>;
    }

    /// The prober and the per-client limit, given to the app by the server.
    #[derive(Clone)]
    pub struct OnDemand {
        pub prober: Arc<dyn OnDemandProber>,
        limiter: Arc<governor::DefaultKeyedRateLimiter<IpAddr>>,
        /// Checks in flight, whoever asked.
        in_flight: Arc<tokio::sync::Semaphore>,
    }

    /// Checks in flight at once across all clients; one more is refused
    /// as "busy" rather than queued.
    pub const CONCURRENT_CHECKS: usize = 16;

    impl std::fmt::Debug for OnDemand {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("OnDemand")
        }
    }

    impl OnDemand {
        pub fn new(prober: Arc<dyn OnDemandProber>) -> Self {
            let quota =
                governor::Quota::per_minute(NonZeroU32::new(PER_MINUTE).unwrap_or(NonZeroU32::MIN));
            Self {
                prober,
                limiter: Arc::new(governor::RateLimiter::keyed(quota)),
                in_flight: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_CHECKS)),
            }
        }

        /// A turn to run one check, if fewer than [`CONCURRENT_CHECKS`]
        /// are running.
        pub fn turn(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
            self.in_flight.clone().try_acquire_owned().ok()
        }

        /// Whether `client` may start another check now; unknown
        /// addresses share one budget.
        pub fn allow(&self, client: Option<IpAddr>) -> bool {
            let key = crate::client::rate_key(client);
            let allowed = self.limiter.check_key(&key).is_ok();
            self.limiter.retain_recent();
            allowed
        }
    }
}
