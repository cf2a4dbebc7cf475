//! The public API under `/api/v1`: JSON for newsrooms' tools, dashboards
//! and runbooks. Every answer comes from the same page functions as the
//! pages (run with the pages' context, see `http::PageContext`), so an
//! answer and the page of the same moment agree.
//!
//! Reads are public and open to other origins. Errors are RFC 9457
//! problem details. Each client has a budget of reads per minute, told in
//! `RateLimit` headers; the two writes (check a site now, explain a page)
//! keep the limits of their pages. Anonymous reads go through the page
//! cache, which gives them their `ETag`, conditional requests and
//! `Cache-Control`.

pub mod doc;
pub mod types;
pub mod write;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use axum::{Json, Router};
use base64::Engine as _;
use governor::clock::{Clock as _, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use serde::Deserialize;

use crate::pages::PageContext;
use app::error::AppError;
use types::*;

/// Items in a list page unless asked for fewer.
const DEFAULT_LIMIT: i64 = 50;
/// Most items in one list page.
const MAX_LIMIT: i64 = 200;
/// Longest search text.
const MAX_SEARCH: usize = 256;

/// What the API handlers read.
#[derive(Clone)]
pub struct ApiState {
    store: store::Store,
    status: app::status::Status,
    public_origin: app::PublicOrigin,
    pages: Arc<PageContext>,
    /// Each token's budget of writes.
    writes: write::WriteLimits,
    /// Which webhooks may take alerts (the delivery guard), and their secrets.
    webhooks: Arc<dyn app::admin::WebhookRules>,
}

impl ApiState {
    pub fn new(
        store: store::Store,
        status: app::status::Status,
        public_origin: app::PublicOrigin,
        pages: Arc<PageContext>,
        limits: &ApiLimits,
        webhooks: Arc<dyn app::admin::WebhookRules>,
    ) -> Self {
        Self {
            store,
            status,
            public_origin,
            pages,
            writes: limits.writes.clone(),
            webhooks,
        }
    }

    /// A watched site as lists give it, with its state in the snapshot.
    fn site_item(&self, parts: &Parts, site: store::Site) -> SiteItem {
        let snapshot = self.status.snapshot();
        let now = snapshot.sites.get(&site.id);
        SiteItem {
            href: format!("{}/api/v1/sites/{}", self.origin(parts), site.host),
            state: SiteState::of(now),
            failing_since: now.filter(|n| !n.ok).and_then(|n| n.failing_since),
            cause: now.filter(|n| !n.ok).and_then(|n| n.cause),
            tags: site
                .tags
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
            host: site.host,
            name: site.name,
            url: site.url,
            interval_s: site.interval_s,
        }
    }

    /// The origin links are made with: the configured public address, or
    /// the one the request named.
    fn origin(&self, parts: &Parts) -> String {
        self.public_origin.clone().or_request(&parts.headers)
    }
}

/// The API's routes, the document and its reference page.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/sites", get(list_sites).post(write::add_site))
        .route("/api/v1/sites/import", post(write::import_sites))
        .route(
            "/api/v1/sites/{host}",
            get(one_site)
                .patch(write::edit_site)
                .delete(write::remove_site),
        )
        .route("/api/v1/incidents/{id}/notes", post(write::add_note))
        .route(
            "/api/v1/subscriptions",
            get(write::list_subscriptions).post(write::add_subscription),
        )
        .route(
            "/api/v1/subscriptions/{id}",
            delete(write::remove_subscription),
        )
        .route(
            "/api/v1/incidents/{id}/notes/{note}",
            delete(write::delete_note),
        )
        .route("/api/v1/providers", get(list_providers))
        .route("/api/v1/providers/{id}", get(one_provider))
        .route("/api/v1/incidents", get(list_incidents))
        .route("/api/v1/incidents/{id}", get(one_incident))
        .route("/api/v1/check", post(check))
        .route("/api/v1/explain", post(explain))
        .route("/api/openapi.json", get(doc::openapi_json))
        .route("/api", get(doc::reference))
        .route("/api/v1/{*rest}", any(not_found))
}

/// An answer that failed: problem details with the status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: String,
    /// Seconds to wait, for a refusal by a rate limit.
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            retry_after: None,
        }
    }

    fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    fn unauthorised(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        let mut answer = Self::new(error.status(), error.to_string());
        if matches!(error, AppError::RateLimited(_)) {
            answer.retry_after = Some(60);
        }
        answer
    }
}

impl From<store::StoreError> for ApiError {
    fn from(error: store::StoreError) -> Self {
        AppError::from(error).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        problem(self.status, &self.detail, self.retry_after)
    }
}

/// RFC 9457 problem details for `status`.
pub fn problem(status: StatusCode, detail: &str, retry_after: Option<u64>) -> Response {
    let body = Problem {
        kind: "about:blank".to_owned(),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: detail.to_owned(),
    };
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    // A refusal is about this request: never shared.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(seconds) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"faultline\""),
        );
    }
    response
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "No such API resource.")
}

/// Query parameters, refused as problem details when they do not read.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|query| Self(query.0))
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
    }
}

/// A JSON body, refused as problem details when it does not read.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        Json::<T>::from_request(request, state)
            .await
            .map(|json| Self(json.0))
            .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))
    }
}

/// A list page's size: `limit` if given, within bounds.
fn page_size(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}."
        ))),
    }
}

/// Cursors are opaque to clients: a prefix naming the list and its key.
fn cursor(list: &str, key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{list}:{key}"))
}

fn read_cursor(list: &str, text: &str) -> Result<String, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(&format!("{list}:")).map(str::to_owned))
        .ok_or_else(|| ApiError::bad_request("cursor is not one this list gave."))
}

/// The chart window a `window` parameter names.
fn window(text: Option<&str>) -> Result<app::site::Window, ApiError> {
    match text {
        None => Ok(app::site::Window::Day),
        Some(text) => app::site::Window::ALL
            .into_iter()
            .find(|w| w.key() == text)
            .ok_or_else(|| ApiError::bad_request("window must be one of 24h, 7d, 30d.")),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SiteQuery {
    /// Part of a host or name, any case.
    q: Option<String>,
    /// From `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Items per page, 1 to 200 (50 unless given).
    limit: Option<i64>,
}

/// Watched sites, by host, with their state now.
#[utoipa::path(get, path = "/api/v1/sites", tag = "sites", params(SiteQuery),
    responses(
        (status = 200, description = "A page of sites", body = SiteList),
        (status = 400, description = "A parameter does not read", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this client", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_sites(
    State(state): State<ApiState>,
    parts: Parts,
    ApiQuery(query): ApiQuery<SiteQuery>,
) -> Result<Json<SiteList>, ApiError> {
    let limit = page_size(query.limit)?;
    let text = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if text.is_some_and(|q| q.len() > MAX_SEARCH) {
        return Err(ApiError::bad_request(format!(
            "q is longer than {MAX_SEARCH} bytes."
        )));
    }
    let after = query
        .cursor
        .as_deref()
        .map(|c| read_cursor("site", c))
        .transpose()?;
    let mut sites = state
        .store
        .search_sites(text, after.as_deref(), limit + 1)
        .await?;
    let more = sites.len() as i64 > limit;
    sites.truncate(limit as usize);
    let snapshot = state.status.snapshot();
    let freshness = state.status.freshness(&snapshot);
    let next_cursor = more
        .then(|| sites.last().map(|s| cursor("site", &s.host)))
        .flatten();
    let items = sites
        .into_iter()
        .map(|site| state.site_item(&parts, site))
        .collect();
    Ok(Json(SiteList {
        items,
        next_cursor,
        snapshot: SnapshotInfo::from(&freshness),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WindowQuery {
    /// The series' window: `24h` (default), `7d` or `30d`.
    window: Option<String>,
}

/// One watched site: its state now, last error explained, providers with
/// evidence, availability and response times, incidents.
#[utoipa::path(get, path = "/api/v1/sites/{host}", tag = "sites",
    params(("host" = String, Path, description = "The site's host name"), WindowQuery),
    responses(
        (status = 200, description = "The site", body = SiteDetail),
        (status = 400, description = "A parameter does not read", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not on the watchlist", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this client", body = Problem, content_type = "application/problem+json"),
    ))]
async fn one_site(
    State(state): State<ApiState>,
    Path(host): Path<String>,
    parts: Parts,
    ApiQuery(query): ApiQuery<WindowQuery>,
) -> Result<Json<SiteDetail>, ApiError> {
    let window = window(query.window.as_deref())?;
    let origin = state.origin(&parts);
    let page = state
        .pages
        .run(parts, app::site::get_site(host, window.key().to_owned()))
        .await?;
    Ok(Json(SiteDetail {
        page: format!("{origin}/site/{}", page.host),
        status: page.status.as_ref().map(|s| SiteStatus {
            checked_at: s.checked_at,
            state: SiteState::from_verdict(Some(s.ok), s.suspect),
            failure: s.failure,
            fault: s.fault,
            error_page_by: s.provider.clone(),
            since: s.since,
        }),
        last_error: page.last_error.clone().map(Probe::from),
        explained_by: page
            .explained_by
            .clone()
            .map(|i| IncidentItem::of(i, &origin)),
        providers: page
            .providers
            .iter()
            .map(|p| Sighting {
                provider: p.provider.clone(),
                name: p.provider_name.clone(),
                role: p.role,
                evidence: p.evidence.clone(),
                first_seen: p.first_seen,
                last_seen: p.last_seen,
                until: p.until,
            })
            .collect(),
        series: SeriesOut::of(&page.series, page.window),
        recent_probes: page.probes.iter().cloned().map(Probe::from).collect(),
        incidents: page
            .incidents
            .iter()
            .cloned()
            .map(|i| IncidentItem::of(i, &origin))
            .collect(),
        snapshot: SnapshotInfo::from(&page.freshness),
        host: page.host,
        name: page.name,
        url: page.url,
        interval_s: page.interval_s,
    }))
}

/// Every provider serving a watched site, with its health now.
#[utoipa::path(get, path = "/api/v1/providers", tag = "providers",
    responses(
        (status = 200, description = "The providers", body = ProviderList),
        (status = 429, description = "Too many requests from this client", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_providers(State(state): State<ApiState>, parts: Parts) -> Json<ProviderList> {
    let origin = state.origin(&parts);
    let snapshot = state.status.snapshot();
    let freshness = state.status.freshness(&snapshot);
    let cohorts = state
        .pages
        .run(parts, async { app::provider::cohorts(&snapshot) })
        .await;
    let mut items: Vec<ProviderItem> = Vec::new();
    for cohort in &cohorts {
        match items.iter_mut().find(|p| p.id == cohort.provider) {
            Some(item) => item.cohorts.push(Cohort::from(cohort)),
            None => items.push(ProviderItem {
                href: format!("{origin}/api/v1/providers/{}", cohort.provider),
                id: cohort.provider.clone(),
                name: cohort.provider_name.clone(),
                health: Health::Up,
                cohorts: vec![Cohort::from(cohort)],
            }),
        }
    }
    for item in &mut items {
        item.health = Health::worst(item.cohorts.iter().map(|c| c.health));
    }
    items.sort_by(|a, b| a.id.cmp(&b.id));
    Json(ProviderList {
        items,
        snapshot: SnapshotInfo::from(&freshness),
    })
}

/// One provider: its cohorts now, incidents, sites and their availability.
#[utoipa::path(get, path = "/api/v1/providers/{id}", tag = "providers",
    params(("id" = String, Path, description = "The provider's id, such as `cloudflare`"), WindowQuery),
    responses(
        (status = 200, description = "The provider", body = ProviderDetail),
        (status = 400, description = "A parameter does not read", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No watched site is attributed to it", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this client", body = Problem, content_type = "application/problem+json"),
    ))]
async fn one_provider(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    parts: Parts,
    ApiQuery(query): ApiQuery<WindowQuery>,
) -> Result<Json<ProviderDetail>, ApiError> {
    let window = window(query.window.as_deref())?;
    let origin = state.origin(&parts);
    let page = state
        .pages
        .run(
            parts,
            app::provider::get_provider(id, window.key().to_owned()),
        )
        .await?;
    let today = page.freshness.today();
    let cohorts: Vec<Cohort> = page.cohorts.iter().map(Cohort::from).collect();
    Ok(Json(ProviderDetail {
        page: format!("{origin}/provider/{}", page.id),
        health: Health::worst(cohorts.iter().map(|c| c.health)),
        cohorts,
        incidents_now: page
            .live
            .iter()
            .map(|live| LiveIncidentOut::of(live, today))
            .collect(),
        sites: page
            .sites
            .iter()
            .map(|s| ProviderSite {
                host: s.host.clone(),
                name: s.name.clone(),
                role: s.role,
                state: SiteState::from_verdict(s.ok, s.suspect),
                cause: s.what,
                explained: s.explained,
                error_page_by: s.generator.clone(),
                failing_since: s.since,
            })
            .collect(),
        series: SeriesOut::of(&page.series, page.window),
        past_incidents: page
            .past
            .iter()
            .cloned()
            .map(|i| IncidentItem::of(i, &origin))
            .collect(),
        snapshot: SnapshotInfo::from(&page.freshness),
        id: page.id,
        name: page.name,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentQuery {
    /// Only this provider's incidents.
    provider: Option<String>,
    /// `open` or `resolved`.
    state: Option<String>,
    /// `provider` or `site`.
    kind: Option<String>,
    /// Only incidents still open at or resolved after this time (RFC 3339).
    since: Option<String>,
    /// Only incidents begun at or before this time (RFC 3339).
    until: Option<String>,
    /// From `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Items per page, 1 to 200 (50 unless given).
    limit: Option<i64>,
}

fn time(name: &str, text: Option<&str>) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    text.map(|text| {
        chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|_| {
                ApiError::bad_request(format!(
                    "{name} must be an RFC 3339 time, such as 2025-11-18T11:20:00Z."
                ))
            })
    })
    .transpose()
}

/// Incidents, newest first: provider-wide outages and single sites down.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(IncidentQuery),
    responses(
        (status = 200, description = "A page of incidents", body = IncidentList),
        (status = 400, description = "A parameter does not read", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this client", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_incidents(
    State(state): State<ApiState>,
    parts: Parts,
    ApiQuery(query): ApiQuery<IncidentQuery>,
) -> Result<Json<IncidentList>, ApiError> {
    let limit = page_size(query.limit)?;
    let open = match query.state.as_deref() {
        None => None,
        Some("open") => Some(true),
        Some("resolved") => Some(false),
        Some(_) => return Err(ApiError::bad_request("state must be open or resolved.")),
    };
    let kind = match query.kind.as_deref() {
        None => None,
        Some(text) => Some(
            engine::IncidentKind::from_name(text)
                .filter(|kind| *kind != engine::IncidentKind::Unknown)
                .ok_or_else(|| ApiError::bad_request("kind must be provider or site."))?,
        ),
    };
    let before_id = query
        .cursor
        .as_deref()
        .map(|c| {
            read_cursor("incident", c)?
                .parse::<i64>()
                .map_err(|_| ApiError::bad_request("cursor is not one this list gave."))
        })
        .transpose()?;
    let filter = store::IncidentFilter {
        kind,
        provider: query.provider.map(|p| p.to_ascii_lowercase()),
        open,
        since: time("since", query.since.as_deref())?,
        until: time("until", query.until.as_deref())?,
        before_id,
    };
    let mut incidents = state.store.incidents(&filter, limit + 1).await?;
    let more = incidents.len() as i64 > limit;
    incidents.truncate(limit as usize);
    let next_cursor = more
        .then(|| {
            incidents
                .last()
                .map(|i| cursor("incident", &i.id.to_string()))
        })
        .flatten();
    let site_ids: Vec<i64> = incidents.iter().filter_map(|i| i.site_id).collect();
    let hosts: std::collections::HashMap<i64, String> = state
        .store
        .watched_sites(&site_ids)
        .await?
        .into_iter()
        .map(|s| (s.id, s.host))
        .collect();
    let snapshot = state.status.snapshot();
    let freshness = state.status.freshness(&snapshot);
    let origin = state.origin(&parts);
    let items = state
        .pages
        .run(parts, async {
            incidents
                .into_iter()
                .map(|i| {
                    let host = i.site_id.and_then(|id| hosts.get(&id).cloned());
                    let summary = app::incident::IncidentSummary::from_store(
                        app::incident::as_of_snapshot(i, &snapshot),
                        host,
                    );
                    IncidentItem::of(summary, &origin)
                })
                .collect()
        })
        .await;
    Ok(Json(IncidentList {
        items,
        next_cursor,
        snapshot: SnapshotInfo::from(&freshness),
    }))
}

/// One incident: its timeline, phases, affected sites, evidence, notes and
/// the paragraph to cite.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "The incident's id")),
    responses(
        (status = 200, description = "The incident", body = IncidentDetail),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this client", body = Problem, content_type = "application/problem+json"),
    ))]
async fn one_incident(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    parts: Parts,
) -> Result<Json<IncidentDetail>, ApiError> {
    let Ok(id) = id.parse::<i64>() else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "No such incident."));
    };
    let origin = state.origin(&parts);
    let page = state
        .pages
        .run(parts, app::incident::get_incident(id))
        .await?;
    Ok(Json(IncidentDetail::of(&page, &origin)))
}

/// Probes a site once, now, from this server, through the same prober and
/// guard as the watchlist; limited per client like the page's button.
#[utoipa::path(post, path = "/api/v1/check", tag = "tools", request_body = CheckRequest,
    responses(
        (status = 200, description = "The probe's result", body = CheckResult),
        (status = 400, description = "Not a public domain or URL, or a body that does not read", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The JSON does not have the fields asked for", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many checks from this client, or in all", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "This server does not check sites on demand", body = Problem, content_type = "application/problem+json"),
    ))]
async fn check(
    State(state): State<ApiState>,
    parts: Parts,
    ApiJson(request): ApiJson<CheckRequest>,
) -> Result<Json<CheckResult>, ApiError> {
    use app::ondemand::OnDemandOutcome;
    match state
        .pages
        .run(parts, app::ondemand::check_now(request.url))
        .await?
    {
        OnDemandOutcome::Checked(result) => Ok(Json(result.into())),
        OnDemandOutcome::Invalid => Err(ApiError::bad_request(
            "url must be a public domain name or an http(s) URL.",
        )),
        // Not a failure: the operator turned checks off.
        OnDemandOutcome::Unavailable => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "This server does not check sites on demand.",
        )),
    }
}

/// Classifies an error page: who generated it, whose fault, what fault.
#[utoipa::path(post, path = "/api/v1/explain", tag = "tools", request_body = ExplainRequest,
    responses(
        (status = 200, description = "The classification", body = Explanation),
        (status = 400, description = "A body that does not read", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The JSON does not have the fields asked for", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many explanations from this client", body = Problem, content_type = "application/problem+json"),
    ))]
async fn explain(
    State(state): State<ApiState>,
    parts: Parts,
    ApiJson(request): ApiJson<ExplainRequest>,
) -> Result<Json<Explanation>, ApiError> {
    let headers = request.headers.unwrap_or_default();
    let answer = state
        .pages
        .run(parts, async move {
            app::explain::explain(&request.html, &headers).await
        })
        .await?;
    Ok(Json(answer.into()))
}

type ReadLimiter = governor::RateLimiter<
    IpAddr,
    DefaultKeyedStateStore<IpAddr>,
    DefaultClock,
    StateInformationMiddleware,
>;

type TokenLimiter = governor::RateLimiter<
    i64,
    DefaultKeyedStateStore<i64>,
    DefaultClock,
    StateInformationMiddleware,
>;

/// A token's budget, against a client address's.
const TOKEN_BUDGET_FACTOR: u32 = 10;

/// The per-client budget of API requests (a token's is its own, and ten
/// times larger), and each token's budget of writes; cheap to clone.
#[derive(Clone)]
pub struct ApiLimits {
    limiter: Arc<ReadLimiter>,
    tokens: Arc<TokenLimiter>,
    per_minute: u32,
    writes: write::WriteLimits,
    /// When each token's use was last written down.
    touched: Arc<std::sync::Mutex<std::collections::HashMap<i64, std::time::Instant>>>,
}

impl std::fmt::Debug for ApiLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiLimits")
            .field("per_minute", &self.per_minute)
            .finish()
    }
}

/// Clients tracked before forgotten budgets are dropped.
const TRACKED_CLIENTS: usize = 10_000;

impl ApiLimits {
    /// `per_minute` requests per client, all of them at once if it likes.
    pub fn per_minute(per_minute: u32) -> Self {
        let per_minute = per_minute.max(1);
        let quota =
            |n: u32| governor::Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Self {
            limiter: Arc::new(governor::RateLimiter::keyed(quota(per_minute)).with_middleware()),
            tokens: Arc::new(
                governor::RateLimiter::keyed(quota(per_minute.saturating_mul(TOKEN_BUDGET_FACTOR)))
                    .with_middleware(),
            ),
            per_minute,
            writes: write::WriteLimits::default(),
            touched: Arc::default(),
        }
    }

    /// Whether a token's use is worth writing down now: once a minute.
    fn due_for_touch(&self, id: i64) -> bool {
        let mut touched = self
            .touched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = std::time::Instant::now();
        match touched.get(&id) {
            Some(at) if now.duration_since(*at) < std::time::Duration::from_secs(60) => false,
            _ => {
                touched.insert(id, now);
                true
            }
        }
    }
}

const RATE_LIMIT: HeaderName = HeaderName::from_static("ratelimit");
const RATE_LIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// Every API answer's edge, outside the page cache: the client's budget
/// (with `RateLimit` headers, and 429 with `Retry-After` past it), and
/// reads open to other origins.
pub async fn edge(
    State(edge): State<Arc<(ApiLimits, store::Store)>>,
    mut request: Request,
    next: Next,
) -> Response {
    let (limits, store) = &*edge;
    let path = request.uri().path();
    let is_api = path.starts_with("/api/v1/") || path == "/api/openapi.json";
    if !is_api {
        return next.run(request).await;
    }
    let method = request.method().clone();
    if method == Method::OPTIONS {
        return preflight();
    }
    let client = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    let key = app::client::rate_key(client);
    if limits.limiter.len() > TRACKED_CLIENTS {
        limits.limiter.retain_recent();
    }
    // A token brought is checked here, for reads and writes alike; the
    // token itself is never logged.
    let (parts, body) = request.into_parts();
    let token = match write::bearer(&parts) {
        None => None,
        Some(token) => match store
            .api_token_by_hash(&app::admin_tokens::token_hash(token))
            .await
        {
            Ok(Some(found)) => Some(found),
            Ok(None) => {
                return problem(
                    StatusCode::UNAUTHORIZED,
                    "This API token is not known or was revoked.",
                    None,
                )
            }
            Err(error) => return ApiError::from(error).into_response(),
        },
    };
    request = Request::from_parts(parts, body);
    let quota = match &token {
        Some(_) => limits.per_minute.saturating_mul(TOKEN_BUDGET_FACTOR),
        None => limits.per_minute,
    };
    let policy = HeaderValue::from_str(&format!("\"api\";q={quota};w=60"))
        .unwrap_or_else(|_| HeaderValue::from_static("\"api\""));
    let checked = match &token {
        Some(token) => limits.tokens.check_key(&token.id),
        None => limits.limiter.check_key(&key),
    };
    if let Some(token) = token {
        if limits.due_for_touch(token.id) {
            if let Err(error) = store.touch_api_token(token.id, chrono::Utc::now()).await {
                tracing::warn!(%error, "cannot note a token's use");
            }
        }
        request.extensions_mut().insert(write::Authenticated(token));
    }
    let (mut response, remaining, reset) = match checked {
        Ok(state) => {
            let response = next.run(request).await;
            (response, state.remaining_burst_capacity(), 0)
        }
        Err(not_until) => {
            let wait = not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs()
                + 1;
            let response = problem(
                StatusCode::TOO_MANY_REQUESTS,
                &format!(
                    "More than {quota} API requests a minute from your address or token; try again in {wait} s."
                ),
                Some(wait),
            );
            (response, 0, wait)
        }
    };
    let headers = response.headers_mut();
    headers.insert(RATE_LIMIT_POLICY, policy);
    if let Ok(value) = HeaderValue::from_str(&format!("\"api\";r={remaining};t={reset}")) {
        headers.insert(RATE_LIMIT, value);
    }
    if method == Method::GET || method == Method::HEAD {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("etag, ratelimit, ratelimit-policy, retry-after"),
        );
    }
    response
}

/// A browser asking whether another origin may read: yes, with `GET`
/// and a conditional request.
fn preflight() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("if-none-match"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    response
}
