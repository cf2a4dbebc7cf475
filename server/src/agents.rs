//! The central's side of the agents' protocol, under `/agent/v1/`: an
//! agent brings its own token (never an API token), and what it may see or
//! write follows from that token alone. Apart from the public API: not in
//! its document, not in its budgets, never cached.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
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

#[derive(Clone)]
pub struct AgentState {
    store: store::Store,
    limits: Arc<Keyed>,
    /// When each agent's visit was last written, so a busy agent costs one
    /// write a minute, not one a request.
    noted: Arc<std::sync::Mutex<std::collections::HashMap<i64, std::time::Instant>>>,
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
        }
    }
}

pub fn routes() -> Router<AgentState> {
    Router::new().route("/agent/v1/assignment", get(assignment))
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
                problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The database does not answer; try again shortly.",
                    Some(5),
                )
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
        let sites = state.store.list_sites().await?;
        Ok::<_, store::StoreError>((agents, sites))
    };
    let (agents, sites) = match read.await {
        Ok(read) => read,
        Err(error) => {
            tracing::error!(%error, "cannot read the watchlist for an agent");
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "The database does not answer; try again shortly.",
                Some(5),
            );
        }
    };
    let peers = region_peers(&agent, &agents, Utc::now());
    let sites: Vec<store::Site> = sites.into_iter().filter(|site| site.enabled).collect();
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
                url: site.url,
                host: site.host,
                interval_s: site.interval_s,
            })
            .collect(),
    };
    let mut response = Json(answer).into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
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
