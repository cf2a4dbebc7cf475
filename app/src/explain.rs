//! "Explain an error page": a pasted page (and optionally its headers) run
//! through the same classifier as every probe, answered in plain words.
//!
//! The form posts straight to [`explain_page`], which keeps the answer (not
//! the page) under a short random-looking id and redirects to
//! `/explain/{id}`: the flow works without JavaScript and every answer has
//! a link that can be shared.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// Most bytes of a pasted page read; the classifier reads no more.
pub const MAX_PASTED_BYTES: usize = 256 * 1024;

/// The classifier's answer, as the page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    pub explanation: String,
    pub status: Option<u16>,
    /// The status was read from the page itself, none having been given.
    pub status_from_page: bool,
    /// Display name of the provider that produced the page.
    pub provider: Option<String>,
    pub fault_side: Option<engine::FaultSide>,
    /// Whose fault, in plain words with the provider's name.
    pub at_fault: Option<String>,
    pub fault: Option<engine::Fault>,
    pub confidence: f64,
    pub evidence: Vec<String>,
    /// Every provider seen, as "Name (role)".
    pub seen: Vec<String>,
    pub server_software: Option<String>,
    /// The live provider incident, at the time of asking, of the provider
    /// that produced the page.
    pub incident: Option<ExplainingIncident>,
}

/// A live provider incident named beside an explanation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExplainingIncident {
    pub id: i64,
    /// The incident's sentence, as the home page gives it.
    pub sentence: String,
}

impl Explanation {
    /// The classifier's confidence as people say it.
    pub fn certainty(&self) -> &'static str {
        match self.confidence {
            c if c >= 0.9 => "very likely",
            c if c >= 0.75 => "likely",
            c if c > 0.0 => "possible, not certain",
            _ => "no answer",
        }
    }
}

/// Classifies a pasted page and sends the browser to its answer.
#[server(endpoint = "explain")]
pub async fn explain_page(html: String, headers: String) -> Result<(), AppError> {
    let answer = explain(&html, &headers).await?;
    let id = expect_context::<Explanations>().keep(answer);
    leptos_axum::redirect(&format!("/explain/{id}"));
    Ok(())
}

/// Classifies a pasted page (and the headers pasted with it, if any) as
/// a probe's answer would be, limited per client: the page's form and
/// the API both ask here.
#[cfg(feature = "ssr")]
pub async fn explain(html: &str, headers: &str) -> Result<Explanation, AppError> {
    let explanations = expect_context::<Explanations>();
    let knowledge = expect_context::<std::sync::Arc<engine::KnowledgeBase>>();
    // Unknown without the connection's details; such clients share one budget.
    let client = crate::client::address().await;
    if !explanations.allow(client) {
        return Err(AppError::rate_limited(
            "Too many explanations from your address; try again in a minute.",
        ));
    }
    let mut observation = observation_of(headers, html);
    let status_from_page = observation.status.is_none();
    if status_from_page {
        observation.status = engine::page::status_in_page(&observation.body);
    }
    let status_from_page = status_from_page && observation.status.is_some();
    let classification = knowledge.classify(&observation);
    let incident = classification
        .provider
        .as_ref()
        .and_then(|provider| live_incident_of(provider.as_str()));
    let name = crate::knowledge::provider_name;
    let answer = Explanation {
        explanation: knowledge.explain(&classification),
        status: classification.status,
        status_from_page,
        provider: classification.provider.as_ref().map(|p| name(p.as_str())),
        fault_side: classification.fault_side,
        at_fault: classification.fault_side.map(|side| {
            crate::words::side(side, classification.provider.as_ref().map(|p| p.as_str()))
        }),
        fault: classification.fault,
        confidence: classification.confidence,
        evidence: classification.evidence.clone(),
        seen: classification
            .providers
            .iter()
            .map(|i| format!("{} ({})", name(i.provider.as_str()), i.role))
            .collect(),
        server_software: classification.server_software.clone(),
        incident,
    };
    Ok(answer)
}

/// The open provider incident of `provider` in the snapshot now, if any.
#[cfg(feature = "ssr")]
fn live_incident_of(provider: &str) -> Option<ExplainingIncident> {
    let status = expect_context::<crate::status::Status>();
    let snapshot = status.snapshot();
    let today = status.freshness(&snapshot).today();
    snapshot
        .incidents
        .iter()
        .filter(|now| now.incident.provider == provider && now.incident.phase.is_open())
        .find_map(|now| {
            let live = crate::incident::LiveIncident::from_now(now, Vec::new());
            Some(ExplainingIncident {
                id: now.id?,
                sentence: live.sentence(today),
            })
        })
}

/// A kept answer; not found when it expired or never existed.
#[server]
pub async fn get_explanation(id: String) -> Result<Explanation, AppError> {
    expect_context::<Explanations>()
        .get(&id)
        .ok_or_else(|| AppError::not_found("This answer has expired or never existed."))
}

/// Headers (a raw response head, or `Name: value` lines) and a body into
/// what the classifier reads.
#[cfg(feature = "ssr")]
fn observation_of(headers: &str, html: &str) -> engine::Observation {
    let mut html = html.as_bytes();
    if html.len() > MAX_PASTED_BYTES {
        html = &html[..MAX_PASTED_BYTES];
    }
    let head = headers.trim();
    if head.is_empty() {
        return engine::Observation::parse(html);
    }
    // Without a status line, pretend one so the header lines parse; the
    // status then stays unknown.
    let has_status = head.starts_with("HTTP/");
    let mut raw = Vec::with_capacity(head.len() + html.len() + 32);
    if !has_status {
        raw.extend_from_slice(b"HTTP/1.1 999 Unknown\r\n");
    }
    raw.extend_from_slice(head.replace("\r\n", "\n").as_bytes());
    raw.extend_from_slice(b"\n\n");
    raw.extend_from_slice(html);
    let mut observation = engine::Observation::parse(&raw);
    if !has_status {
        observation.status = None;
    }
    observation
}

#[cfg(feature = "ssr")]
pub use store_impl::Explanations;

#[cfg(feature = "ssr")]
mod store_impl {
    use super::Explanation;
    use std::collections::HashMap;
    use std::net::IpAddr;
    use std::num::NonZeroU32;
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::{Duration, Instant};

    /// How long an answer's link works.
    const KEEP_FOR: Duration = Duration::from_secs(24 * 3600);
    /// Most answers kept; the oldest go first.
    const MAX_KEPT: usize = 10_000;
    /// Explanations per client address per minute.
    const PER_MINUTE: u32 = 20;

    type Limiter = governor::DefaultKeyedRateLimiter<IpAddr>;

    /// Answers kept for their links, and the per-client rate limit.
    #[derive(Clone)]
    pub struct Explanations {
        kept: Arc<Mutex<HashMap<String, (Instant, Explanation)>>>,
        limiter: Arc<Limiter>,
    }

    impl Default for Explanations {
        fn default() -> Self {
            let quota =
                governor::Quota::per_minute(NonZeroU32::new(PER_MINUTE).unwrap_or(NonZeroU32::MIN));
            Self {
                kept: Arc::default(),
                limiter: Arc::new(governor::RateLimiter::keyed(quota)),
            }
        }
    }

    impl std::fmt::Debug for Explanations {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Explanations")
        }
    }

    impl Explanations {
        /// Whether `client` may have another explanation now. Requests
        /// whose address is unknown share one budget.
        pub fn allow(&self, client: Option<IpAddr>) -> bool {
            let key = crate::client::rate_key(client);
            let allowed = self.limiter.check_key(&key).is_ok();
            self.limiter.retain_recent();
            allowed
        }

        pub fn keep(&self, answer: Explanation) -> String {
            use rand::RngCore;
            let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
            kept.retain(|_, (at, _)| at.elapsed() < KEEP_FOR);
            if kept.len() >= MAX_KEPT {
                let oldest = kept
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(id, _)| id.clone());
                if let Some(oldest) = oldest {
                    kept.remove(&oldest);
                }
            }
            // From the operating system's random source: an answer's link
            // cannot be guessed from another's.
            let mut bytes = [0u8; 16];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            kept.insert(id.clone(), (Instant::now(), answer));
            id
        }

        pub fn get(&self, id: &str) -> Option<Explanation> {
            let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
            kept.get(id)
                .filter(|(at, _)| at.elapsed() < KEEP_FOR)
                .map(|(_, answer)| answer.clone())
        }
    }
}
