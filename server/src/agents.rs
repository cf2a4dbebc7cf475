//! The central's side of the agents' protocol, under `/agent/v1/`: an
//! agent brings its own token (never an API token), and what it may see or
//! write follows from that token alone. Apart from the public API: not in
//! its document, not in its budgets, never cached.
//!
//! `GET /agent/v1/assignment` says which sites an agent probes;
//! `POST /agent/v1/results` takes what it found, in gzipped batches, each
//! with an idempotency key. A result's vantage is the calling agent's,
//! never a field of the batch.

pub mod link;
pub mod run;
pub mod spool;
pub mod upload;
pub mod wire;

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::api::problem;

/// Requests per agent per minute: an assignment a minute and a batch of
/// results every few seconds, with room for a backlog after an outage.
const REQUESTS_PER_MINUTE: u32 = 600;
/// An agent not heard from for this long is left out of its region's
/// split, so its sites go to the others until it is back.
pub const AGENT_FRESH: TimeDelta = TimeDelta::minutes(3);

type Keyed = governor::DefaultKeyedRateLimiter<i64>;

/// Most characters of an agent's name.
pub const MAX_AGENT_NAME: usize = 64;
/// Most characters of a region's name.
pub const MAX_REGION: usize = 32;

/// An agent's name goes into pages, exports and alerts: plain characters only.
pub fn valid_agent_name(name: &str) -> bool {
    (1..=MAX_AGENT_NAME).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A region reads like a cloud region: `eu-west`, `us-east-1`.
pub fn valid_region(region: &str) -> bool {
    (1..=MAX_REGION).contains(&region.len())
        && !region.starts_with('-')
        && !region.ends_with('-')
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[derive(Clone)]
pub struct AgentState {
    store: store::Store,
    limits: Arc<Keyed>,
    /// When each agent's visit was last written, so a busy agent costs one
    /// write a minute, not one a request.
    noted: Arc<std::sync::Mutex<std::collections::HashMap<i64, std::time::Instant>>>,
    /// The watchlist as last read, by its version: read whole only when
    /// it changed.
    watchlist: Arc<std::sync::Mutex<Watchlist>>,
    metrics: crate::metrics::Metrics,
}

#[derive(Default)]
struct Watchlist {
    version: Option<i64>,
    sites: Arc<Vec<store::Site>>,
}

impl AgentState {
    /// Whether this visit of `agent` should be written down.
    fn due_for_note(&self, agent: i64) -> bool {
        let now = std::time::Instant::now();
        let mut noted = self
            .noted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match noted.get(&agent) {
            Some(last) if now.duration_since(*last) < std::time::Duration::from_secs(60) => false,
            _ => {
                noted.insert(agent, now);
                true
            }
        }
    }
}

impl AgentState {
    pub fn new(store: store::Store) -> Self {
        let quota = governor::Quota::per_minute(
            NonZeroU32::new(REQUESTS_PER_MINUTE).unwrap_or(NonZeroU32::MIN),
        );
        Self {
            store,
            limits: Arc::new(governor::RateLimiter::keyed(quota)),
            noted: Arc::default(),
            watchlist: Arc::default(),
            metrics: crate::metrics::Metrics::new(),
        }
    }

    /// Counts the results agents push in `metrics`.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// The watchlist now, read whole only when its version changed.
    async fn watchlist(&self) -> Result<Arc<Vec<store::Site>>, store::StoreError> {
        let version = self.store.watchlist_version().await?;
        {
            let cached = self
                .watchlist
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if cached.version == Some(version) {
                return Ok(cached.sites.clone());
            }
        }
        let sites = Arc::new(self.store.list_sites().await?);
        *self
            .watchlist
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Watchlist {
            version: Some(version),
            sites: sites.clone(),
        };
        Ok(sites)
    }
}

pub fn routes() -> Router<AgentState> {
    Router::new()
        .route("/agent/v1/assignment", get(assignment))
        .route("/agent/v1/results", post(results))
}

/// The agent a request comes from, known by its live token and within its
/// budget.
pub struct CallingAgent(pub store::Agent);

impl FromRequestParts<AgentState> for CallingAgent {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AgentState) -> Result<Self, Response> {
        let Some(token) = crate::api::write::bearer(parts) else {
            return Err(problem(
                StatusCode::UNAUTHORIZED,
                "Agents bring their token: `Authorization: Bearer flt_…` (faultline agent add prints it).",
                None,
            ));
        };
        let found = state
            .store
            .agent_by_token(&app::admin_tokens::token_hash(token))
            .await
            .map_err(|error| {
                tracing::error!(%error, "cannot look an agent up");
                unavailable()
            })?;
        let Some(agent) = found else {
            return Err(problem(
                StatusCode::UNAUTHORIZED,
                "This agent token is not known or was revoked.",
                None,
            ));
        };
        if let Err(not_until) = state.limits.check_key(&agent.id) {
            let wait = not_until
                .wait_time_from(governor::clock::Clock::now(
                    &governor::clock::DefaultClock::default(),
                ))
                .as_secs()
                .max(1);
            return Err(problem(
                StatusCode::TOO_MANY_REQUESTS,
                "This agent is over its budget of requests; slow down.",
                Some(wait),
            ));
        }
        if state.due_for_note(agent.id) {
            if let Err(error) = state.store.touch_agent(agent.id, Utc::now()).await {
                tracing::warn!(%error, agent = %agent.name, "cannot note an agent's visit");
            }
        }
        Ok(Self(agent))
    }
}

/// What an agent probes: its share of the watchlist within its region.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub agent: String,
    pub region: String,
    /// How many agents of the region share the watchlist, this one included.
    pub region_agents: usize,
    pub sites: Vec<AssignedSite>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AssignedSite {
    pub id: i64,
    pub url: String,
    pub host: String,
    pub interval_s: i64,
}

async fn assignment(
    State(state): State<AgentState>,
    CallingAgent(agent): CallingAgent,
) -> Response {
    let read = async {
        let agents = state.store.agents().await?;
        let sites = state.watchlist().await?;
        Ok::<_, store::StoreError>((agents, sites))
    };
    let (agents, sites) = match read.await {
        Ok(read) => read,
        Err(error) => {
            tracing::error!(%error, "cannot read the watchlist for an agent");
            return unavailable();
        }
    };
    let peers = region_peers(&agent, &agents, Utc::now());
    let sites: Vec<&store::Site> = sites.iter().filter(|site| site.enabled).collect();
    let ids: Vec<i64> = sites.iter().map(|site| site.id).collect();
    let mine: std::collections::HashSet<i64> = engine::assign::sites_of(agent.id, &peers, &ids)
        .into_iter()
        .collect();
    let answer = Assignment {
        agent: agent.name,
        region: agent.region,
        region_agents: peers.len(),
        sites: sites
            .into_iter()
            .filter(|site| mine.contains(&site.id))
            .map(|site| AssignedSite {
                id: site.id,
                url: site.url.clone(),
                host: site.host.clone(),
                interval_s: site.interval_s,
            })
            .collect(),
    };
    no_store(Json(answer).into_response())
}

/// The idempotency key of a batch: 1 to 128 letters, digits and `-_.:`.
fn idempotency_key(headers: &HeaderMap) -> Option<&str> {
    let key = headers.get("idempotency-key")?.to_str().ok()?;
    let plain = !key.is_empty()
        && key.len() <= 128
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    plain.then_some(key)
}

/// A batch's JSON: the body as sent, or inflated from gzip to at most
/// [`wire::MAX_BATCH_JSON`]; else the refusal's status and words.
fn batch_json(headers: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, (StatusCode, &'static str)> {
    let encoding = headers
        .get(axum::http::header::CONTENT_ENCODING)
        .map(|value| value.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("identity") => Ok(body.to_vec()),
        Some("gzip") => {
            use std::io::Read as _;
            let mut json = Vec::new();
            let read = flate2::read::GzDecoder::new(body)
                .take(wire::MAX_BATCH_JSON + 1)
                .read_to_end(&mut json);
            match read {
                Err(_) => Err((StatusCode::BAD_REQUEST, "The batch is not valid gzip.")),
                Ok(_) if json.len() as u64 > wire::MAX_BATCH_JSON => Err((
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "The batch inflates to more than 32 MiB; send it as several.",
                )),
                Ok(_) => Ok(json),
            }
        }
        Some(_) => Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Batches are sent as JSON, gzipped or not (Content-Encoding: gzip).",
        )),
    }
}

fn unavailable() -> Response {
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "The database does not answer; try again shortly.",
        Some(5),
    )
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

/// Stores a batch of an agent's results under the agent's own vantage.
/// Each result is checked on its own: one refused (a site not watched, a
/// slot out of range, a field out of bounds) leaves the others stored.
async fn results(
    State(state): State<AgentState>,
    CallingAgent(agent): CallingAgent,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(key) = idempotency_key(&headers) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "Each batch needs an Idempotency-Key header: 1 to 128 letters, digits and -_.:",
            None,
        );
    };
    match state.store.agent_batch_answer(agent.id, key).await {
        Ok(Some(answer)) => {
            let mut response = no_store(
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    answer,
                )
                    .into_response(),
            );
            response.headers_mut().insert(
                "idempotent-replayed",
                axum::http::HeaderValue::from_static("true"),
            );
            return response;
        }
        Ok(None) => {}
        Err(error) => {
            tracing::error!(%error, "cannot look a batch up");
            return unavailable();
        }
    }
    let json = match batch_json(&headers, &body) {
        Ok(json) => json,
        Err((status, words)) => return problem(status, words, None),
    };
    let batch: wire::ResultBatch = match serde_json::from_slice(&json) {
        Ok(batch) => batch,
        Err(error) => {
            return problem(
                StatusCode::BAD_REQUEST,
                &format!("The batch is not a valid batch of results: {error}."),
                None,
            )
        }
    };
    if batch.results.len() > wire::MAX_RESULTS {
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "A batch holds at most {} results; send them as several.",
                wire::MAX_RESULTS
            ),
            None,
        );
    }
    let sites = match state.watchlist().await {
        Ok(sites) => sites,
        Err(error) => {
            tracing::error!(%error, "cannot read the watchlist for an agent's results");
            return unavailable();
        }
    };
    // Any watched site, not only this agent's share: a share moves when an
    // agent of the region comes or goes, and results probed just before
    // are still true.
    let watched: std::collections::HashSet<i64> = sites
        .iter()
        .filter(|site| site.enabled)
        .map(|site| site.id)
        .collect();
    let now = Utc::now();
    let mut answer = wire::BatchAnswer::default();
    let mut records = Vec::with_capacity(batch.results.len());
    for (index, result) in batch.results.into_iter().enumerate() {
        let site_id = result.site_id;
        let checked = if watched.contains(&site_id) {
            result.into_record(agent.id, now)
        } else {
            Err("no such site is watched".to_owned())
        };
        match checked {
            Ok(record) => records.push(record),
            Err(reason) => answer.refused.push(wire::Refusal {
                index,
                site_id,
                reason,
            }),
        }
    }
    // Only what is new is judged: a retried batch never counts twice. The
    // leader's correlator takes them from the queue, whichever central
    // stored them; a result is stored and queued together or not at all.
    let encode = |record: &store::ProbeRecord| {
        serde_json::to_string(&crate::monitor::correlation::observation_of(record)).ok()
    };
    let new = match state
        .store
        .insert_and_queue_probes(&records, &encode, now)
        .await
    {
        Ok(new) => new,
        Err(error) => {
            tracing::error!(%error, agent = %agent.name, "cannot store an agent's results");
            return unavailable();
        }
    };
    answer.stored = new.iter().filter(|new| **new).count();
    answer.duplicates = records.len() - answer.stored;
    state
        .metrics
        .agent_batch(answer.stored, answer.duplicates, answer.refused.len());
    tracing::debug!(
        agent = %agent.name,
        batch.stored = answer.stored,
        batch.duplicates = answer.duplicates,
        batch.refused = answer.refused.len(),
        "stored an agent's results"
    );
    let text = serde_json::to_string(&answer).unwrap_or_default();
    if let Err(error) = state
        .store
        .record_agent_batch(agent.id, key, now, &text)
        .await
    {
        // The results are stored; a retry finds them as duplicates.
        tracing::warn!(%error, "cannot keep a batch's answer");
    }
    no_store(
        (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            text,
        )
            .into_response(),
    )
}

/// The live agents of `agent`'s region heard from lately, by id; always
/// including `agent` itself, which is asking now.
fn region_peers(agent: &store::Agent, agents: &[store::Agent], now: DateTime<Utc>) -> Vec<i64> {
    let mut peers: Vec<i64> = agents
        .iter()
        .filter(|other| {
            other.region == agent.region
                && other.revoked_at.is_none()
                && other
                    .last_seen_at
                    .is_some_and(|seen| now - seen <= AGENT_FRESH)
        })
        .map(|other| other.id)
        .collect();
    if !peers.contains(&agent.id) {
        peers.push(agent.id);
    }
    peers.sort_unstable();
    peers
}
