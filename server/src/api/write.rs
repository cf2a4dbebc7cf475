//! The API's writes, for administrators' tokens: the watchlist (add, edit,
//! remove, import) and incidents' notes, so a watchlist can be kept as
//! code. Each write is checked by the rules the admin pages apply, limited
//! per token and written to the audit trail under the token's name.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::types::{Problem, SiteItem};
use super::{ApiError, ApiJson, ApiState};
use app::admin::{ImportFormat, WatchlistRules as _};

/// Writes per token per minute.
const WRITES_PER_MINUTE: u32 = 60;

/// The bearer token a request brings, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// A request's token, once the API's edge has checked it.
#[derive(Clone, Debug)]
pub struct Authenticated(pub store::ApiToken);

type Keyed = governor::DefaultKeyedRateLimiter<i64>;

/// The per-token budget of writes; cheap to clone.
#[derive(Clone)]
pub struct WriteLimits(Arc<Keyed>);

impl Default for WriteLimits {
    fn default() -> Self {
        let quota = governor::Quota::per_minute(
            NonZeroU32::new(WRITES_PER_MINUTE).unwrap_or(NonZeroU32::MIN),
        );
        Self(Arc::new(governor::RateLimiter::keyed(quota)))
    }
}

/// A write's author: a live token with the write scope, within its budget.
pub struct Writer {
    token: store::ApiToken,
}

impl Writer {
    /// The name the audit trail gives changes made with this token.
    fn author(&self) -> String {
        format!("token:{}", self.token.name)
    }
}

impl FromRequestParts<ApiState> for Writer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let Some(Authenticated(token)) = parts.extensions.get::<Authenticated>().cloned() else {
            return Err(ApiError::unauthorised(
                "Changes need an API token with the write scope: `Authorization: Bearer flt_…`.",
            ));
        };
        if token.scope != store::TokenScope::Write {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "This token may only read; changes need one with the write scope.",
            ));
        }
        if state.writes.0.check_key(&token.id).is_err() {
            let mut error = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("More than {WRITES_PER_MINUTE} changes a minute with this token."),
            );
            error.retry_after = Some(60);
            return Err(error);
        }
        Ok(Self { token })
    }
}

async fn audit(state: &ApiState, writer: &Writer, action: &str, detail: &str) {
    if let Err(error) = state
        .store
        .record_audit(&writer.author(), action, detail, Utc::now())
        .await
    {
        tracing::error!(%error, "cannot record an API change in the audit trail");
    }
}

/// A site to watch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSiteRequest {
    /// The page to probe: `https://example.com/` or `example.com`.
    #[schema(example = "https://example.com/")]
    pub url: String,
    /// Shown on the pages; the host unless given.
    pub name: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Seconds between probes (at least 30); the default unless given.
    pub interval_s: Option<i64>,
}

/// Changes to a watched site; what is left out stays.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteChangeRequest {
    pub name: Option<String>,
    pub tags: Option<Vec<String>>,
    pub interval_s: Option<i64>,
}

/// A watchlist to import, in one of the formats `faultline sites import`
/// reads.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// `plain` (one URL a line), `csv` (url,name,tags,interval) or `toml`.
    pub format: String,
    /// At most 1 MiB.
    pub text: String,
}

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    pub added: u64,
    pub already_watched: u64,
    /// Each skipped line with why (at most 100).
    pub rejected: Vec<String>,
}

/// A note on an incident's timeline.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// 1 to 2000 characters.
    pub text: String,
    /// An http(s) link, such as the provider's statement.
    pub url: Option<String>,
    /// When it happened; now unless given.
    pub at: Option<chrono::DateTime<Utc>>,
}

/// A note as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoteOut {
    pub id: i64,
    pub incident: i64,
    pub at: chrono::DateTime<Utc>,
    pub text: String,
    pub url: Option<String>,
    pub author: String,
}

async fn site_answer(state: &ApiState, parts: &Parts, host: &str) -> Result<SiteItem, ApiError> {
    let site = state.store.site_by_host(host).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{host} is not on the watchlist."),
        )
    })?;
    Ok(state.site_item(parts, site))
}

/// Adds a site to the watchlist; a site removed earlier is watched again,
/// with its history.
#[utoipa::path(post, path = "/api/v1/sites", tag = "watchlist", request_body = NewSiteRequest,
    security(("token" = [])),
    responses(
        (status = 201, description = "Now watched", body = SiteItem),
        (status = 200, description = "Already watched", body = SiteItem),
        (status = 400, description = "The site is refused, or the body does not read", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A token that may only read", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The JSON does not have the fields asked for", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests", body = Problem, content_type = "application/problem+json"),
    ))]
pub(super) async fn add_site(
    State(state): State<ApiState>,
    writer: Writer,
    parts: Parts,
    ApiJson(request): ApiJson<NewSiteRequest>,
) -> Result<Response, ApiError> {
    let name = request
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    let site = crate::watchlist::Rules
        .site(
            &request.url,
            name,
            &request.tags.join(","),
            request.interval_s,
        )
        .map_err(|reason| ApiError::bad_request(format!("Not added: {reason}")))?;
    let added = state
        .store
        .add_sites(std::slice::from_ref(&site), Utc::now())
        .await?;
    if added == 1 {
        audit(&state, &writer, "add site", &site.url).await;
    }
    let item = site_answer(&state, &parts, &site.host).await?;
    let status = if added == 1 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = (status, Json(item)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/sites/{}", site.host)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Changes a watched site's name, tags or probe interval.
#[utoipa::path(patch, path = "/api/v1/sites/{host}", tag = "watchlist", request_body = SiteChangeRequest,
    params(("host" = String, Path, description = "The site's host name")),
    security(("token" = [])),
    responses(
        (status = 200, description = "Changed", body = SiteItem),
        (status = 400, description = "The change is refused, or the body does not read", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A token that may only read", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not on the watchlist", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The JSON does not have the fields asked for", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests", body = Problem, content_type = "application/problem+json"),
    ))]
pub(super) async fn edit_site(
    State(state): State<ApiState>,
    writer: Writer,
    Path(host): Path<String>,
    parts: Parts,
    ApiJson(request): ApiJson<SiteChangeRequest>,
) -> Result<Json<SiteItem>, ApiError> {
    let host = host.to_ascii_lowercase();
    let Some(site) = state.store.site_by_host(&host).await? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{host} is not on the watchlist."),
        ));
    };
    // The same rules as an import, applied to the site as it would be.
    let name = request
        .name
        .as_deref()
        .unwrap_or(&site.name)
        .trim()
        .to_owned();
    let tags = request
        .tags
        .as_ref()
        .map_or_else(|| site.tags.clone(), |tags| tags.join(","));
    let interval = request.interval_s.unwrap_or(site.interval_s);
    let checked = crate::watchlist::Rules
        .site(&site.url, Some(&name), &tags, Some(interval))
        .map_err(|reason| ApiError::bad_request(format!("Not changed: {reason}")))?;
    let changes = store::SiteChanges {
        name: Some(checked.name),
        tags: Some(checked.tags),
        interval_s: Some(checked.interval_s),
    };
    state.store.update_site(site.id, &changes).await?;
    audit(&state, &writer, "edit site", &site.host).await;
    Ok(Json(site_answer(&state, &parts, &site.host).await?))
}

/// Stops watching a site; its history stays, and adding it again resumes it.
#[utoipa::path(delete, path = "/api/v1/sites/{host}", tag = "watchlist",
    params(("host" = String, Path, description = "The site's host name")),
    security(("token" = [])),
    responses(
        (status = 204, description = "No longer watched"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A token that may only read", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not on the watchlist", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests", body = Problem, content_type = "application/problem+json"),
    ))]
pub(super) async fn remove_site(
    State(state): State<ApiState>,
    writer: Writer,
    Path(host): Path<String>,
) -> Result<StatusCode, ApiError> {
    let host = host.to_ascii_lowercase();
    let Some(site) = state.store.site_by_host(&host).await?.filter(|s| s.enabled) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{host} is not on the watchlist."),
        ));
    };
    state.store.set_site_enabled(site.id, false).await?;
    audit(&state, &writer, "remove site", &site.host).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Imports a watchlist: valid lines are added, bad ones listed with why.
#[utoipa::path(post, path = "/api/v1/sites/import", tag = "watchlist", request_body = ImportRequest,
    security(("token" = [])),
    responses(
        (status = 200, description = "What was added and skipped", body = ImportResult),
        (status = 400, description = "The watchlist or the body does not read", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A token that may only read", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The JSON does not have the fields asked for", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests", body = Problem, content_type = "application/problem+json"),
    ))]
pub(super) async fn import_sites(
    State(state): State<ApiState>,
    writer: Writer,
    ApiJson(request): ApiJson<ImportRequest>,
) -> Result<Json<ImportResult>, ApiError> {
    let format = ImportFormat::from_key(&request.format)
        .ok_or_else(|| ApiError::bad_request("format must be plain, csv or toml."))?;
    if request.text.len() > app::admin::MAX_IMPORT_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "The watchlist is larger than {} KiB; import it in parts.",
                app::admin::MAX_IMPORT_BYTES / 1024
            ),
        ));
    }
    let parsed = crate::watchlist::Rules
        .parse(&request.text, format)
        .map_err(|reason| ApiError::bad_request(format!("Nothing imported: {reason}")))?;
    let added = state.store.add_sites(&parsed.sites, Utc::now()).await?;
    audit(
        &state,
        &writer,
        "import",
        &format!("{added} added, {} skipped", parsed.rejected.len()),
    )
    .await;
    Ok(Json(ImportResult {
        added,
        already_watched: (parsed.sites.len() as u64).saturating_sub(added),
        rejected: parsed.rejected.into_iter().take(100).collect(),
    }))
}

/// Adds a note (an official statement, a link) to an incident's timeline.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/notes", tag = "incidents", request_body = NoteRequest,
    params(("id" = i64, Path, description = "The incident's id")),
    security(("token" = [])),
    responses(
        (status = 201, description = "Added", body = NoteOut),
        (status = 400, description = "The note is refused, or the body does not read", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A token that may only read", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The JSON does not have the fields asked for", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests", body = Problem, content_type = "application/problem+json"),
    ))]
pub(super) async fn add_note(
    State(state): State<ApiState>,
    writer: Writer,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<NoteRequest>,
) -> Result<Response, ApiError> {
    let no_such = || ApiError::new(StatusCode::NOT_FOUND, "No such incident.");
    let id: i64 = id.parse().map_err(|_| no_such())?;
    let text = request.text.trim();
    if text.is_empty() || text.chars().count() > app::admin::MAX_NOTE_CHARS {
        return Err(ApiError::bad_request(format!(
            "A note needs between 1 and {} characters.",
            app::admin::MAX_NOTE_CHARS
        )));
    }
    let url = match request
        .url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        None => None,
        Some(url) => match url::Url::parse(url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && url.len() <= 2000 => {
                Some(parsed.to_string())
            }
            _ => return Err(ApiError::bad_request("url must be an http or https URL.")),
        },
    };
    if state.store.incident(id).await?.is_none() {
        return Err(no_such());
    }
    let now = Utc::now();
    let at = request.at.unwrap_or(now);
    let author = writer.author();
    let note = state
        .store
        .annotate_incident(id, at, text, url.as_deref(), &author, now)
        .await?;
    audit(&state, &writer, "add note", &format!("incident {id}")).await;
    let body = NoteOut {
        id: note,
        incident: id,
        at,
        text: text.to_owned(),
        url,
        author,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Deletes a note from an incident's timeline.
#[utoipa::path(delete, path = "/api/v1/incidents/{id}/notes/{note}", tag = "incidents",
    params(
        ("id" = i64, Path, description = "The incident's id"),
        ("note" = i64, Path, description = "The note's id"),
    ),
    security(("token" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A token that may only read", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such note", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests", body = Problem, content_type = "application/problem+json"),
    ))]
pub(super) async fn delete_note(
    State(state): State<ApiState>,
    writer: Writer,
    Path((id, note)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let no_such = || ApiError::new(StatusCode::NOT_FOUND, "No such note.");
    let (Ok(id), Ok(note)) = (id.parse::<i64>(), note.parse::<i64>()) else {
        return Err(no_such());
    };
    if !state.store.delete_annotation(id, note).await? {
        return Err(no_such());
    }
    audit(&state, &writer, "delete note", &format!("incident {id}")).await;
    Ok(StatusCode::NO_CONTENT)
}

/// A subscription to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionRequestBody {
    /// `webhook`, or `email` (the address confirms before anything else is
    /// sent).
    pub channel: String,
    /// The webhook's URL or the email address.
    pub target: String,
    /// A webhook's kind: `standard` (signed per Standard Webhooks, the
    /// default), `slack`, `discord`, `teams` or `ntfy`.
    pub format: Option<String>,
    /// What it follows: `provider:ID[/ROLE]`, `site:HOST`, `tag:TAG` or `all`.
    pub follows: Vec<String>,
    /// Early warnings (suspected outages) too.
    #[serde(default)]
    pub early_warning: bool,
    /// Hours between reminders while an outage stays confirmed; none unless
    /// given.
    pub remind_hours: Option<i64>,
}

/// A subscription as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionOut {
    pub id: i64,
    /// `webhook` or `email`.
    pub channel: String,
    pub format: String,
    pub target: String,
    /// What it follows, in words.
    pub follows: String,
    /// `active`, `waiting for confirmation` or `stopped: WHY`.
    pub state: String,
    pub created_by: String,
    pub created_at: chrono::DateTime<Utc>,
    /// A new webhook's signing secret: in the answer that made it, once.
    pub secret: Option<String>,
}

fn subscription_out(
    subscription: store::Subscription,
    knowledge: &engine::KnowledgeBase,
    secret: Option<String>,
) -> SubscriptionOut {
    let state = match (&subscription.disabled_reason, subscription.is_active()) {
        (Some(reason), _) => format!("stopped: {reason}"),
        (None, true) => "active".to_owned(),
        (None, false) => "waiting for confirmation".to_owned(),
    };
    SubscriptionOut {
        id: subscription.id,
        channel: subscription.channel.as_str().to_owned(),
        format: subscription.format.as_str().to_owned(),
        follows: subscription.interests.follows_in_words(knowledge),
        target: subscription.target,
        state,
        created_by: subscription.created_by,
        created_at: subscription.created_at,
        secret,
    }
}

/// Every alert subscription; their targets are private, so a write token
/// is needed.
#[utoipa::path(get, path = "/api/v1/subscriptions", tag = "alerts",
    security(("token" = [])),
    responses(
        (status = 200, description = "The subscriptions", body = Vec<SubscriptionOut>),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A token that may only read", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests", body = Problem, content_type = "application/problem+json"),
    ))]
pub(super) async fn list_subscriptions(
    State(state): State<ApiState>,
    _writer: Writer,
) -> Result<Json<Vec<SubscriptionOut>>, ApiError> {
    let knowledge = state.pages.knowledge.current();
    let listed = state
        .store
        .subscriptions()
        .await?
        .into_iter()
        .map(|s| subscription_out(s, &knowledge, None))
        .collect();
    Ok(Json(listed))
}

/// Subscribes a webhook (its signing secret in this answer, once) or an
/// email address (mailed a confirmation first).
#[utoipa::path(post, path = "/api/v1/subscriptions", tag = "alerts", request_body = SubscriptionRequestBody,
    security(("token" = [])),
    responses(
        (status = 201, description = "Subscribed", body = SubscriptionOut),
        (status = 400, description = "The subscription is refused, or the body does not read", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A token that may only read", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The JSON does not have the fields asked for", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests", body = Problem, content_type = "application/problem+json"),
    ))]
pub(super) async fn add_subscription(
    State(state): State<ApiState>,
    writer: Writer,
    ApiJson(request): ApiJson<SubscriptionRequestBody>,
) -> Result<Response, ApiError> {
    let follows = request.follows.join(" ");
    let remind_hours = request.remind_hours.unwrap_or(0).to_string();
    let asked = app::admin_alerts::SubscriptionRequest {
        channel: &request.channel,
        target: &request.target,
        format: request.format.as_deref().unwrap_or("standard"),
        follows: &follows,
        early: request.early_warning,
        remind_hours: &remind_hours,
    };
    let (new, secret) = asked
        .check(state.webhooks.as_ref(), &writer.author())
        .map_err(ApiError::bad_request)?;
    let id = state.store.create_subscription(&new, Utc::now()).await?;
    audit(
        &state,
        &writer,
        "add subscription",
        &format!("{id} ({})", new.target),
    )
    .await;
    let Some(made) = state.store.subscription(id).await? else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The subscription was made but cannot be read back.",
        ));
    };
    let knowledge = state.pages.knowledge.current();
    let body = subscription_out(made, &knowledge, secret);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Deletes a subscription and its deliveries.
#[utoipa::path(delete, path = "/api/v1/subscriptions/{id}", tag = "alerts",
    params(("id" = i64, Path, description = "The subscription's id")),
    security(("token" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A token that may only read", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests", body = Problem, content_type = "application/problem+json"),
    ))]
pub(super) async fn remove_subscription(
    State(state): State<ApiState>,
    writer: Writer,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let no_such = || ApiError::new(StatusCode::NOT_FOUND, "No such subscription.");
    let id: i64 = id.parse().map_err(|_| no_such())?;
    if !state.store.remove_subscription(id).await? {
        return Err(no_such());
    }
    audit(&state, &writer, "remove subscription", &id.to_string()).await;
    Ok(StatusCode::NO_CONTENT)
}
