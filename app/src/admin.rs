//! Administration: sign-in, the watchlist, notes on incidents, and the
//! state of the knowledge base and of the own-network guard.
//!
//! Every form is a plain POST to a server function that checks the session,
//! does its work, leaves a one-time message for the next page and redirects,
//! so the pages work the same with and without JavaScript. Sessions are
//! random tokens in an `HttpOnly`, `SameSite=Strict` cookie; the database
//! keeps only their SHA-256. Passwords are argon2id hashes. Sign-in is rate
//! limited per client address and slowed per account (a delay, not a lock;
//! an address the account signed in from before skips it), changes per
//! administrator, and a change whose
//! `Origin` is another site is refused.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::incident::IncidentSummary;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "faultline_session";
/// The session cookie's name over https: the `__Host-` prefix makes the
/// browser refuse it unless it is `Secure`, for this host only, path `/`,
/// so no sibling site can set one for us.
pub const SECURE_SESSION_COOKIE: &str = "__Host-faultline_session";
/// Most bytes of a pasted watchlist read.
pub const MAX_IMPORT_BYTES: usize = 1024 * 1024;
/// Longest note on an incident.
pub const MAX_NOTE_CHARS: usize = 2000;

/// The provider knowledge base in force, as the admin sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KnowledgeState {
    /// `builtin`, or the override directory in force.
    pub source: String,
    pub providers: usize,
    pub loaded_at: DateTime<Utc>,
    /// Why the last load of the override directory was rejected.
    pub last_error: Option<String>,
    pub failed_loads: u64,
}

/// One verdict of the own-network guard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VantageLine {
    pub state: engine::VantageState,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub detail: String,
}

/// A message left by a change for the page shown after it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Flash {
    pub ok: bool,
    pub message: String,
    /// Details, such as the lines of an import that were skipped.
    pub lines: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditLine {
    pub at: DateTime<Utc>,
    pub username: String,
    pub action: String,
    pub detail: String,
}

/// A provider's status document as the poller last read it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusPageLine {
    pub provider: String,
    pub provider_name: String,
    pub url: String,
    pub checked_at: Option<DateTime<Utc>>,
    /// The last time it was read and understood.
    pub ok_at: Option<DateTime<Utc>>,
    /// Why the last poll failed; none when it succeeded.
    pub error: Option<String>,
}

/// `/admin`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdminOverview {
    pub username: String,
    pub flash: Option<Flash>,
    pub knowledge: KnowledgeState,
    /// The guard's verdict in force when the vantage is not online.
    pub vantage_now: Option<VantageLine>,
    /// Verdicts and our resolvers' failures of the last 7 days, newest first.
    pub vantage_recent: Vec<VantageLine>,
    pub watched: i64,
    pub probed: i64,
    pub failing: i64,
    pub removed: i64,
    pub incidents: Vec<IncidentSummary>,
    /// Every provider status document polled, failing ones first.
    pub status_pages: Vec<StatusPageLine>,
    pub audit: Vec<AuditLine>,
}

/// A row of the watchlist table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchedSite {
    pub id: i64,
    pub url: String,
    pub host: String,
    pub name: String,
    pub tags: Vec<String>,
    pub interval_s: i64,
    pub watched: bool,
    /// The latest probe: `Some(true)` up, `Some(false)` failing.
    pub ok: Option<bool>,
}

/// `/admin/sites`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdminWatchlist {
    pub username: String,
    pub flash: Option<Flash>,
    pub sites: Vec<WatchedSite>,
    /// Every tag in use, for the filter.
    pub tags: Vec<String>,
}

/// A note as the admin lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoteLine {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub text: String,
    pub url: Option<String>,
    pub author: String,
}

/// `/admin/incident/:id`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdminIncident {
    pub username: String,
    pub flash: Option<Flash>,
    pub incident: IncidentSummary,
    pub notes: Vec<NoteLine>,
}

/// Watchlist formats an import accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportFormat {
    Plain,
    Csv,
    Toml,
}

impl ImportFormat {
    pub fn from_key(key: &str) -> Option<Self> {
        match key {
            "plain" => Some(Self::Plain),
            "csv" => Some(Self::Csv),
            "toml" => Some(Self::Toml),
            _ => None,
        }
    }
}

/// Signs in; back to the form with a message when the name or password is
/// wrong or the address tried too often.
#[server(endpoint = "admin/login")]
pub async fn admin_login(username: String, password: String) -> Result<(), AppError> {
    refuse_cross_site()?;
    let auth = expect_context::<AdminAuth>();
    let store = expect_context::<store::Store>();
    let client = client_address().await;
    if !auth.allow_login(client) {
        leptos_axum::redirect("/admin/login?failed=limit");
        return Ok(());
    }
    let username = username.trim().to_owned();
    if let Some(wait) = auth.account_wait(&username) {
        // Only a place this account signed in from before skips the wait:
        // a flood of guesses from everywhere slows the account down for
        // strangers, never for its owner at home.
        if !known_address(&store, &username, client).await {
            tracing::warn!(?client, "sign-in during an account's backoff");
            tracing::debug!(wait.s = wait.as_secs(), "account backoff");
            leptos_axum::redirect("/admin/login?failed=wait");
            return Ok(());
        }
    }
    let account = store.admin_credentials(&username).await?;
    let verified = match account {
        Some((account, hash)) => password::verify(password, hash).await.then_some(account),
        None => {
            // Spend the same time as for a real name, so timing does not
            // tell which names exist.
            password::verify(password, auth.decoy_hash().to_owned()).await;
            None
        }
    };
    let Some(account) = verified else {
        auth.account_failed(&username);
        tracing::warn!(?client, "failed admin sign-in");
        let from = client.map(|ip| ip.to_string()).unwrap_or_default();
        audit(&store, &username, "failed sign-in", &from).await;
        leptos_axum::redirect("/admin/login?failed=1");
        return Ok(());
    };
    auth.account_succeeded(&username);
    let token = session::new_token();
    let now = Utc::now();
    store
        .create_session(
            &session::token_hash(&token),
            account.id,
            now,
            now + session::LIFETIME,
        )
        .await?;
    let from = client.map(|ip| ip.to_string()).unwrap_or_default();
    audit(&store, &account.username, "sign-in", &from).await;
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        // A hex token and fixed attributes: always a valid header value.
        if let Ok(value) =
            http::HeaderValue::from_str(&session::cookie(&token, session::request_is_secure()))
        {
            response.append_header(http::header::SET_COOKIE, value);
        }
    }
    leptos_axum::redirect("/admin");
    Ok(())
}

/// Ends the session and clears the cookie.
#[server(endpoint = "admin/logout")]
pub async fn admin_logout() -> Result<(), AppError> {
    refuse_cross_site()?;
    let store = expect_context::<store::Store>();
    if let Some(admin) = session::current_admin(&store).await? {
        let from = client_address()
            .await
            .map(|ip| ip.to_string())
            .unwrap_or_default();
        audit(&store, &admin.username, "sign-out", &from).await;
    }
    if let Some(token) = session::token_from_request() {
        store.end_session(&session::token_hash(&token)).await?;
    }
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        // Fixed attributes only: always a valid header value.
        if let Ok(value) =
            http::HeaderValue::from_str(&session::expired_cookie(session::request_is_secure()))
        {
            response.append_header(http::header::SET_COOKIE, value);
        }
    }
    leptos_axum::redirect("/admin/login?signed_out=1");
    Ok(())
}

#[server]
pub async fn load_admin_overview() -> Result<AdminOverview, AppError> {
    let auth = expect_context::<AdminAuth>();
    let store = expect_context::<store::Store>();
    let Some(admin) = session::current_admin(&store).await? else {
        return Err(signed_out());
    };
    let now = Utc::now();
    let vantage = |e: store::VantageEvent| VantageLine {
        state: e.state,
        started_at: e.started_at,
        ended_at: e.ended_at,
        detail: e.detail,
    };
    let vantage_now = store.current_vantage_event().await?.map(vantage);
    let mut vantage_recent: Vec<VantageLine> = store
        .vantage_events(now - chrono::TimeDelta::days(7), now)
        .await?
        .into_iter()
        .map(vantage)
        .collect();
    // A resolver of ours failing while another answered: the vantage stayed
    // online, and the probes went on through the others.
    vantage_recent.extend(
        store
            .resolver_events(now - chrono::TimeDelta::days(7), now)
            .await?
            .into_iter()
            .map(|e| VantageLine {
                state: engine::VantageState::Online,
                started_at: e.started_at,
                ended_at: e.ended_at,
                detail: format!(
                    "our resolver {} failed while another answered; probes went on through the others",
                    e.resolver
                ),
            }),
    );
    vantage_recent.sort_by_key(|line| line.started_at);
    vantage_recent.reverse();
    vantage_recent.truncate(20);
    let summary = store.site_summary().await?;
    let removed = store.removed_sites().await?;
    let incidents = store
        .provider_incidents(None, 20)
        .await?
        .into_iter()
        .map(|i| IncidentSummary::from_store(i, None))
        .collect();
    let mut status_pages: Vec<StatusPageLine> = store
        .status_sources()
        .await?
        .into_iter()
        .map(|source| StatusPageLine {
            provider_name: crate::knowledge::provider_name(&source.provider),
            provider: source.provider,
            url: source.url,
            checked_at: source.checked_at,
            ok_at: source.ok_at,
            error: source.error,
        })
        .collect();
    status_pages.sort_by_key(|line| line.error.is_none());
    let audit = store
        .recent_audit(20)
        .await?
        .into_iter()
        .map(|a| AuditLine {
            at: a.at,
            username: a.username,
            action: a.action,
            detail: a.detail,
        })
        .collect();
    Ok(AdminOverview {
        flash: auth.take_flash(admin.id),
        username: admin.username,
        knowledge: (auth.knowledge)(),
        vantage_now,
        vantage_recent,
        watched: summary.watched,
        probed: summary.probed,
        failing: summary.failing,
        removed,
        incidents,
        status_pages,
        audit,
    })
}

#[server]
pub async fn load_admin_watchlist() -> Result<AdminWatchlist, AppError> {
    let auth = expect_context::<AdminAuth>();
    let store = expect_context::<store::Store>();
    let Some(admin) = session::current_admin(&store).await? else {
        return Err(signed_out());
    };
    let health: std::collections::HashMap<i64, bool> =
        store.site_health().await?.into_iter().collect();
    let mut tags = std::collections::BTreeSet::new();
    let sites = store
        .list_sites()
        .await?
        .into_iter()
        .map(|s| {
            let site_tags: Vec<String> = s
                .tags
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect();
            tags.extend(site_tags.iter().cloned());
            WatchedSite {
                ok: health.get(&s.id).copied(),
                id: s.id,
                url: s.url,
                host: s.host,
                name: s.name,
                tags: site_tags,
                interval_s: s.interval_s,
                watched: s.enabled,
            }
        })
        .collect();
    Ok(AdminWatchlist {
        flash: auth.take_flash(admin.id),
        username: admin.username,
        sites,
        tags: tags.into_iter().collect(),
    })
}

/// Adds one site; a site removed earlier is watched again with its history.
#[server(endpoint = "admin/sites/add")]
pub async fn admin_add_site(
    url: String,
    name: String,
    tags: String,
    interval_s: String,
) -> Result<(), AppError> {
    let Some((admin, auth, store)) = authorize_change().await? else {
        return Ok(());
    };
    let interval = match parse_interval(&interval_s) {
        Ok(interval) => interval,
        Err(message) => return done(&auth, &admin, "/admin/sites", Err(message)),
    };
    let name = Some(name.trim()).filter(|n| !n.is_empty());
    let site = match auth.rules.site(&url, name, &tags, interval) {
        Ok(site) => site,
        Err(reason) => {
            return done(
                &auth,
                &admin,
                "/admin/sites",
                Err(format!("Not added: {reason}")),
            )
        }
    };
    let added = store
        .add_sites(std::slice::from_ref(&site), Utc::now())
        .await?;
    let message = if added == 1 {
        audit(&store, &admin.username, "add site", &site.url).await;
        format!("Now watching {}.", site.host)
    } else {
        format!("{} is already watched.", site.url)
    };
    done(&auth, &admin, "/admin/sites", Ok(message))
}

/// Imports a pasted watchlist; bad lines are listed by number and skipped.
#[server(endpoint = "admin/sites/import")]
pub async fn admin_import(text: String, format: String) -> Result<(), AppError> {
    let Some((admin, auth, store)) = authorize_change().await? else {
        return Ok(());
    };
    let Some(format) = ImportFormat::from_key(&format) else {
        return done(&auth, &admin, "/admin/sites", Err("Unknown format.".into()));
    };
    if text.len() > MAX_IMPORT_BYTES {
        let message = format!(
            "The watchlist is larger than {} KiB; import it in parts or with `faultline sites import`.",
            MAX_IMPORT_BYTES / 1024
        );
        return done(&auth, &admin, "/admin/sites", Err(message));
    }
    let parsed = match auth.rules.parse(&text, format) {
        Ok(parsed) => parsed,
        Err(reason) => {
            return done(
                &auth,
                &admin,
                "/admin/sites",
                Err(format!("Nothing imported: {reason}")),
            )
        }
    };
    let added = store.add_sites(&parsed.sites, Utc::now()).await?;
    let valid = parsed.sites.len();
    audit(
        &store,
        &admin.username,
        "import",
        &format!("{added} added, {} skipped", parsed.rejected.len()),
    )
    .await;
    let message = format!(
        "{added} site{} added, {} already watched, {} line{} skipped.",
        if added == 1 { "" } else { "s" },
        valid as u64 - added,
        parsed.rejected.len(),
        if parsed.rejected.len() == 1 { "" } else { "s" },
    );
    auth.leave_flash(
        admin.id,
        Flash {
            ok: parsed.rejected.is_empty(),
            message,
            lines: parsed.rejected.into_iter().take(100).collect(),
        },
    );
    leptos_axum::redirect("/admin/sites");
    Ok(())
}

/// Changes a site's name, tags and probe interval.
#[server(endpoint = "admin/sites/update")]
pub async fn admin_update_site(
    id: i64,
    name: String,
    tags: String,
    interval_s: String,
) -> Result<(), AppError> {
    let Some((admin, auth, store)) = authorize_change().await? else {
        return Ok(());
    };
    let interval = match parse_interval(&interval_s) {
        Ok(interval) => interval,
        Err(message) => return done(&auth, &admin, "/admin/sites", Err(message)),
    };
    let Some(site) = store.site(id).await? else {
        return done(&auth, &admin, "/admin/sites", Err("No such site.".into()));
    };
    // The same rules as an import, applied to the edited fields.
    let checked = match auth
        .rules
        .site(&site.url, Some(name.trim()), &tags, interval)
    {
        Ok(checked) => checked,
        Err(reason) => {
            return done(
                &auth,
                &admin,
                "/admin/sites",
                Err(format!("Not changed: {reason}")),
            )
        }
    };
    let changes = store::SiteChanges {
        name: Some(checked.name),
        tags: Some(checked.tags),
        interval_s: Some(checked.interval_s),
    };
    store.update_site(id, &changes).await?;
    audit(
        &store,
        &admin.username,
        "edit site",
        &edit_detail(&site, &changes),
    )
    .await;
    done(
        &auth,
        &admin,
        "/admin/sites",
        Ok(format!("Saved {}.", site.host)),
    )
}

/// What an edit changed, before and after, for the audit trail:
/// `shop.example: name "Shop" → "The shop"; interval 60 s → 30 s`.
#[cfg(feature = "ssr")]
fn edit_detail(site: &store::Site, changes: &store::SiteChanges) -> String {
    let mut changed = Vec::new();
    if let Some(name) = changes.name.as_ref().filter(|name| **name != site.name) {
        changed.push(format!("name {:?} → {name:?}", site.name));
    }
    if let Some(tags) = changes.tags.as_ref().map(|tags| tags.join(",")) {
        if tags != site.tags {
            changed.push(format!("tags {:?} → {tags:?}", site.tags));
        }
    }
    if let Some(interval) = changes.interval_s.filter(|s| *s != site.interval_s) {
        changed.push(format!("interval {} s → {interval} s", site.interval_s));
    }
    if changed.is_empty() {
        format!("{}: nothing changed", site.host)
    } else {
        format!("{}: {}", site.host, changed.join("; "))
    }
}

/// Stops watching a site (its history stays), or watches it again.
#[server(endpoint = "admin/sites/watch")]
pub async fn admin_set_watched(id: i64, watched: bool) -> Result<(), AppError> {
    let Some((admin, auth, store)) = authorize_change().await? else {
        return Ok(());
    };
    let Some(site) = store.site(id).await? else {
        return done(&auth, &admin, "/admin/sites", Err("No such site.".into()));
    };
    store.set_site_enabled(id, watched).await?;
    let (action, message) = if watched {
        ("watch site", format!("Watching {} again.", site.host))
    } else {
        (
            "remove site",
            format!(
                "Removed {} from the watchlist; its history is kept.",
                site.host
            ),
        )
    };
    audit(&store, &admin.username, action, &site.host).await;
    done(&auth, &admin, "/admin/sites", Ok(message))
}

#[server]
pub async fn load_admin_incident(id: i64) -> Result<AdminIncident, AppError> {
    let auth = expect_context::<AdminAuth>();
    let store = expect_context::<store::Store>();
    let Some(admin) = session::current_admin(&store).await? else {
        return Err(signed_out());
    };
    let Some(incident) = store.incident(id).await? else {
        return Err(AppError::not_found("No such incident."));
    };
    let notes = store
        .annotations(id)
        .await?
        .into_iter()
        .map(|a| NoteLine {
            id: a.id,
            at: a.at,
            text: a.text,
            url: a.url,
            author: a.author,
        })
        .collect();
    Ok(AdminIncident {
        flash: auth.take_flash(admin.id),
        username: admin.username,
        incident: IncidentSummary::from_store(incident, None),
        notes,
    })
}

/// Adds a note (an official statement, a link) to an incident's timeline.
/// `at` is a UTC time such as `2025-11-18 11:48`; empty means now.
#[server(endpoint = "admin/incident/note")]
pub async fn admin_add_note(
    incident: i64,
    at: String,
    text: String,
    url: String,
) -> Result<(), AppError> {
    let Some((admin, auth, store)) = authorize_change().await? else {
        return Ok(());
    };
    let back = format!("/admin/incident/{incident}");
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_NOTE_CHARS {
        let message = format!("A note needs between 1 and {MAX_NOTE_CHARS} characters.");
        return done(&auth, &admin, &back, Err(message));
    }
    let url = url.trim();
    let url = if url.is_empty() {
        None
    } else {
        match url::Url::parse(url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && url.len() <= 2000 => {
                Some(parsed.to_string())
            }
            _ => {
                let message = "The link must be an http or https URL.".to_owned();
                return done(&auth, &admin, &back, Err(message));
            }
        }
    };
    let now = Utc::now();
    let at = match parse_utc(&at) {
        Ok(at) => at.unwrap_or(now),
        Err(message) => return done(&auth, &admin, &back, Err(message)),
    };
    if store.incident(incident).await?.is_none() {
        return done(&auth, &admin, "/admin", Err("No such incident.".into()));
    }
    store
        .annotate_incident(incident, at, text, url.as_deref(), &admin.username, now)
        .await?;
    audit(
        &store,
        &admin.username,
        "add note",
        &format!("incident {incident}"),
    )
    .await;
    done(&auth, &admin, &back, Ok("Note added.".into()))
}

#[server(endpoint = "admin/incident/note/delete")]
pub async fn admin_delete_note(incident: i64, note: i64) -> Result<(), AppError> {
    let Some((admin, auth, store)) = authorize_change().await? else {
        return Ok(());
    };
    let back = format!("/admin/incident/{incident}");
    let deleted = store.delete_annotation(incident, note).await?;
    if deleted {
        audit(
            &store,
            &admin.username,
            "delete note",
            &format!("incident {incident}"),
        )
        .await;
    }
    let result = if deleted {
        Ok("Note deleted.".to_owned())
    } else {
        Err("That note was already gone.".to_owned())
    };
    done(&auth, &admin, &back, result)
}

/// "60", "5m", "1h" or empty (the default) into seconds.
pub fn parse_interval(text: &str) -> Result<Option<i64>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, "s"),
    };
    let scale = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("{text:?} is not an interval: write 60, 5m or 1h.")),
    };
    number
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .map(Some)
        .ok_or_else(|| format!("{text:?} is not an interval: write 60, 5m or 1h."))
}

/// "2025-11-18 11:48" or "2025-11-18T11:48:00Z" (UTC), or empty.
pub fn parse_utc(text: &str) -> Result<Option<DateTime<Utc>>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(at.with_timezone(&Utc)));
    }
    ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .find_map(|format| chrono::NaiveDateTime::parse_from_str(text, format).ok())
        .map(|at| Some(at.and_utc()))
        .ok_or_else(|| format!("{text:?} is not a UTC time such as 2025-11-18 11:48."))
}

#[cfg(feature = "ssr")]
async fn client_address() -> Option<std::net::IpAddr> {
    crate::client::address().await
}

/// Whether the account signed in from the client's address (an IPv6
/// client's /64) within the last 30 days.
#[cfg(feature = "ssr")]
async fn known_address(
    store: &store::Store,
    username: &str,
    client: Option<std::net::IpAddr>,
) -> bool {
    let Some(client) = client else { return false };
    let since = Utc::now() - chrono::TimeDelta::days(30);
    match store.admin_sign_in_addresses(username, since, 50).await {
        Ok(addresses) => addresses
            .iter()
            .filter_map(|text| text.parse().ok())
            .any(|known| {
                crate::client::rate_key(Some(known)) == crate::client::rate_key(Some(client))
            }),
        Err(error) => {
            tracing::error!(%error, "cannot read where an account signed in from");
            false
        }
    }
}

#[cfg(feature = "ssr")]
pub(crate) async fn audit(store: &store::Store, username: &str, action: &str, detail: &str) {
    if let Err(error) = store
        .record_audit(username, action, detail, Utc::now())
        .await
    {
        tracing::error!(%error, action, "cannot record an admin action");
    }
}

/// Leaves the outcome for the next page and sends the browser there.
#[cfg(feature = "ssr")]
pub(crate) fn done(
    auth: &AdminAuth,
    admin: &store::AdminAccount,
    back: &str,
    outcome: Result<String, String>,
) -> Result<(), AppError> {
    let (ok, message) = match outcome {
        Ok(message) => (true, message),
        Err(message) => (false, message),
    };
    auth.leave_flash(
        admin.id,
        Flash {
            ok,
            message,
            lines: Vec::new(),
        },
    );
    leptos_axum::redirect(back);
    Ok(())
}

/// The administrator behind a change, when the change may go ahead. A
/// missing session sends the browser to sign in; a cross-site request or one
/// over the rate limit is refused.
#[cfg(feature = "ssr")]
pub(crate) async fn authorize_change(
) -> Result<Option<(store::AdminAccount, AdminAuth, store::Store)>, AppError> {
    refuse_cross_site()?;
    let auth = expect_context::<AdminAuth>();
    let store = expect_context::<store::Store>();
    let Some(admin) = session::current_admin(&store).await? else {
        leptos_axum::redirect("/admin/login");
        return Ok(None);
    };
    if !auth.allow_change(admin.id) {
        return Err(AppError::rate_limited(
            "Too many changes in a minute; wait a little.",
        ));
    }
    Ok(Some((admin, auth, store)))
}

/// Refuses a state-changing request that does not show it comes from
/// Faultline's own pages.
#[cfg(feature = "ssr")]
fn refuse_cross_site() -> Result<(), AppError> {
    match use_context::<http::request::Parts>() {
        Some(parts) if !session::same_origin(&parts.headers) => Err(AppError::forbidden(
            "Changes are only accepted from Faultline's own pages.",
        )),
        _ => Ok(()),
    }
}

/// What an admin page's data is without a session.
#[cfg(feature = "ssr")]
pub(crate) fn signed_out() -> AppError {
    AppError::unauthorised("You are not signed in.")
}

#[cfg(feature = "ssr")]
pub use server_side::{
    password, session, AccountBackoff, AdminAuth, ParsedWatchlist, WatchlistRules, WebhookRules,
};

#[cfg(feature = "ssr")]
mod server_side {
    use super::{Flash, ImportFormat, KnowledgeState};
    use std::collections::HashMap;
    use std::net::IpAddr;
    use std::num::NonZeroU32;
    use std::sync::{Arc, Mutex, OnceLock, PoisonError};
    use std::time::{Duration, Instant};

    /// Sign-in attempts per client address per minute.
    const LOGINS_PER_MINUTE: u32 = 5;
    /// Changes per administrator per minute.
    const CHANGES_PER_MINUTE: u32 = 60;

    /// What an import read: the valid sites, and each skipped line with why
    /// ("line 3: ...").
    #[derive(Debug, Default)]
    pub struct ParsedWatchlist {
        pub sites: Vec<store::NewSite>,
        pub rejected: Vec<String>,
    }

    /// The watchlist's validation rules, which the server owns (the same
    /// ones `faultline sites import` applies).
    pub trait WatchlistRules: Send + Sync {
        fn site(
            &self,
            target: &str,
            name: Option<&str>,
            tags: &str,
            interval_s: Option<i64>,
        ) -> Result<store::NewSite, String>;
        fn parse(&self, text: &str, format: ImportFormat) -> Result<ParsedWatchlist, String>;
    }

    /// What the server says about webhooks added from `/admin`: whether
    /// alerts may go to a URL (the delivery guard), and a new signing
    /// secret.
    pub trait WebhookRules: Send + Sync {
        fn check(&self, url: &str) -> Result<(), String>;
        fn new_secret(&self) -> String;
    }

    struct NoWebhooks;

    impl WebhookRules for NoWebhooks {
        fn check(&self, _url: &str) -> Result<(), String> {
            Err("webhooks cannot be added here".to_owned())
        }

        fn new_secret(&self) -> String {
            String::new()
        }
    }

    type Keyed<K> = governor::DefaultKeyedRateLimiter<K>;

    /// What the admin server functions share: rate limits, one-time
    /// messages, the watchlist rules and the knowledge base's state.
    #[derive(Clone)]
    pub struct AdminAuth {
        logins: Arc<Keyed<IpAddr>>,
        accounts: Arc<Mutex<AccountBackoff>>,
        changes: Arc<Keyed<i64>>,
        flashes: Arc<Mutex<HashMap<i64, Flash>>>,
        pub(super) rules: Arc<dyn WatchlistRules>,
        pub(super) knowledge: Arc<dyn Fn() -> KnowledgeState + Send + Sync>,
        /// Add `Secure` to the cookie (the public URL is https).
        pub(super) secure_cookies: bool,
        /// Webhooks added from `/admin`: refused unless given.
        pub(crate) webhooks: Arc<dyn WebhookRules>,
    }

    impl std::fmt::Debug for AdminAuth {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("AdminAuth")
        }
    }

    impl AdminAuth {
        pub fn new(
            rules: Arc<dyn WatchlistRules>,
            knowledge: Arc<dyn Fn() -> KnowledgeState + Send + Sync>,
            secure_cookies: bool,
        ) -> Self {
            let per_minute =
                |n: u32| governor::Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
            Self {
                logins: Arc::new(governor::RateLimiter::keyed(per_minute(LOGINS_PER_MINUTE))),
                accounts: Arc::default(),
                changes: Arc::new(governor::RateLimiter::keyed(per_minute(CHANGES_PER_MINUTE))),
                flashes: Arc::default(),
                rules,
                knowledge,
                secure_cookies,
                webhooks: Arc::new(NoWebhooks),
            }
        }

        /// Lets `/admin` add webhooks, judged and keyed by `webhooks`.
        pub fn with_webhooks(mut self, webhooks: Arc<dyn WebhookRules>) -> Self {
            self.webhooks = webhooks;
            self
        }

        /// Whether `client` may try to sign in now. Requests whose address
        /// is unknown share one budget.
        pub fn allow_login(&self, client: Option<IpAddr>) -> bool {
            let key = crate::client::rate_key(client);
            let allowed = self.logins.check_key(&key).is_ok();
            self.logins.retain_recent();
            allowed
        }

        /// How long sign-ins to `username` must still wait after its
        /// failures, if at all.
        pub fn account_wait(&self, username: &str) -> Option<Duration> {
            self.backoff().wait(username, Instant::now())
        }

        pub(super) fn account_failed(&self, username: &str) {
            self.backoff().failed(username, Instant::now());
        }

        pub(super) fn account_succeeded(&self, username: &str) {
            self.backoff().succeeded(username);
        }

        fn backoff(&self) -> std::sync::MutexGuard<'_, AccountBackoff> {
            self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
        }

        pub fn allow_change(&self, admin_id: i64) -> bool {
            self.changes.check_key(&admin_id).is_ok()
        }

        pub(super) fn leave_flash(&self, admin_id: i64, flash: Flash) {
            self.flashes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(admin_id, flash);
        }

        pub(crate) fn take_flash(&self, admin_id: i64) -> Option<Flash> {
            self.flashes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&admin_id)
        }

        /// A hash no password matches, verified when the name is unknown.
        pub(super) fn decoy_hash(&self) -> &'static str {
            static DECOY: OnceLock<String> = OnceLock::new();
            DECOY.get_or_init(|| password::hash(&super::session::new_token()).unwrap_or_default())
        }
    }

    /// Failed sign-ins per account name, from wherever they came. After
    /// [`AccountBackoff::FREE_FAILURES`] failures each further attempt must
    /// wait twice as long as the last (1 s, 2 s, 4 s … at most a minute): a
    /// delay that makes guessing slow, never a lock. Unknown names are
    /// counted like real ones, so the wait tells nothing about which exist.
    #[derive(Debug, Default)]
    pub struct AccountBackoff {
        accounts: HashMap<String, Failures>,
    }

    #[derive(Debug, Clone, Copy)]
    struct Failures {
        count: u32,
        last: Instant,
    }

    impl AccountBackoff {
        /// Failures allowed before any wait.
        pub const FREE_FAILURES: u32 = 5;
        /// The longest wait.
        pub const MAX_WAIT: Duration = Duration::from_secs(60);
        /// Failures are forgotten after this long without another.
        const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
        /// Account names remembered at most; past it the oldest go.
        const MAX_ACCOUNTS: usize = 10_000;

        fn key(username: &str) -> String {
            username.trim().to_lowercase()
        }

        /// How long the next attempt for `username` must still wait.
        pub fn wait(&self, username: &str, now: Instant) -> Option<Duration> {
            let failures = self.accounts.get(&Self::key(username))?;
            if failures.count < Self::FREE_FAILURES {
                return None;
            }
            let doublings = (failures.count - Self::FREE_FAILURES).min(6);
            let delay = Duration::from_secs(1 << doublings).min(Self::MAX_WAIT);
            let ready = failures.last + delay;
            (ready > now).then(|| ready - now)
        }

        pub fn failed(&mut self, username: &str, now: Instant) {
            self.accounts
                .retain(|_, f| now.saturating_duration_since(f.last) < Self::FORGET_AFTER);
            if self.accounts.len() >= Self::MAX_ACCOUNTS {
                if let Some(oldest) = self
                    .accounts
                    .iter()
                    .min_by_key(|(_, f)| f.last)
                    .map(|(name, _)| name.clone())
                {
                    self.accounts.remove(&oldest);
                }
            }
            let failures = self
                .accounts
                .entry(Self::key(username))
                .or_insert(Failures {
                    count: 0,
                    last: now,
                });
            failures.count = failures.count.saturating_add(1);
            failures.last = now;
        }

        pub fn succeeded(&mut self, username: &str) {
            self.accounts.remove(&Self::key(username));
        }
    }

    pub mod password {
        use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
        use argon2::Argon2;

        /// Shortest password accepted.
        pub const MIN_LENGTH: usize = 12;

        /// An argon2id PHC string (default parameters: 19 MiB, 2 passes).
        pub fn hash(password: &str) -> Result<String, String> {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|error| format!("cannot hash the password: {error}"))
        }

        /// Verifications running at once, whoever asks: each costs tens of
        /// milliseconds of a core and 19 MiB, so a flood of sign-ins from
        /// many addresses queues here instead of exhausting the machine.
        const CONCURRENT_VERIFICATIONS: usize = 2;
        /// How long a sign-in waits for its turn before it is refused.
        const TURN_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

        static TURNS: std::sync::LazyLock<tokio::sync::Semaphore> =
            std::sync::LazyLock::new(|| tokio::sync::Semaphore::new(CONCURRENT_VERIFICATIONS));

        /// Checks a password against a PHC string, off the async threads,
        /// at most [`CONCURRENT_VERIFICATIONS`] at once; false when no turn
        /// came in time.
        pub async fn verify(password: String, hash: String) -> bool {
            let Ok(Ok(_turn)) = tokio::time::timeout(TURN_WAIT, TURNS.acquire()).await else {
                return false;
            };
            tokio::task::spawn_blocking(move || {
                PasswordHash::new(&hash)
                    .map(|parsed| {
                        Argon2::default()
                            .verify_password(password.as_bytes(), &parsed)
                            .is_ok()
                    })
                    .unwrap_or(false)
            })
            .await
            // A check that did not finish lets nobody in.
            .unwrap_or(false)
        }

        /// A password for a new administrator: 20 characters from an
        /// alphabet without look-alikes (about 115 bits).
        pub fn generate() -> String {
            use rand::Rng;
            const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
            let mut rng = rand::rngs::OsRng;
            (0..20)
                .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
                .collect()
        }
    }

    pub mod session {
        use super::super::{SECURE_SESSION_COOKIE, SESSION_COOKIE};
        use leptos::prelude::*;
        use sha2::{Digest, Sha256};

        /// How long a session lasts.
        pub const LIFETIME: chrono::TimeDelta = chrono::TimeDelta::hours(12);

        /// 32 random bytes, hex.
        pub fn new_token() -> String {
            use rand::RngCore;
            let mut bytes = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            hex(&bytes)
        }

        /// What the database keeps of a token.
        pub fn token_hash(token: &str) -> String {
            hex(&Sha256::digest(token.as_bytes()))
        }

        fn hex(bytes: &[u8]) -> String {
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        }

        /// Whether this request reached us over https: the configured
        /// public address says so, or a trusted proxy does (forwarded
        /// headers from anyone else are dropped before this).
        pub fn is_secure(configured_https: bool, headers: &http::HeaderMap) -> bool {
            configured_https
                || headers
                    .get("x-forwarded-proto")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
        }

        fn name(secure: bool) -> &'static str {
            if secure {
                SECURE_SESSION_COOKIE
            } else {
                SESSION_COOKIE
            }
        }

        pub fn cookie(token: &str, secure: bool) -> String {
            let (name, flag) = (name(secure), if secure { "; Secure" } else { "" });
            format!(
                "{name}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{flag}",
                LIFETIME.num_seconds()
            )
        }

        pub fn expired_cookie(secure: bool) -> String {
            let (name, flag) = (name(secure), if secure { "; Secure" } else { "" });
            format!("{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{flag}")
        }

        /// The session token a request carries, if any: over https only in
        /// the `__Host-` cookie.
        pub fn token_in(headers: &http::HeaderMap, secure: bool) -> Option<String> {
            headers
                .get_all(http::header::COOKIE)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(';'))
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(cookie, _)| *cookie == name(secure))
                .map(|(_, token)| token.to_owned())
                .filter(|token| token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()))
        }

        /// Whether the current request came over https.
        pub(in super::super) fn request_is_secure() -> bool {
            let configured =
                use_context::<super::super::AdminAuth>().is_some_and(|auth| auth.secure_cookies);
            use_context::<http::request::Parts>()
                .is_some_and(|parts| is_secure(configured, &parts.headers))
                || configured
        }

        pub(in super::super) fn token_from_request() -> Option<String> {
            let secure = request_is_secure();
            use_context::<http::request::Parts>().and_then(|parts| token_in(&parts.headers, secure))
        }

        /// The administrator signed in on this request; `configured_https`:
        /// the public address is https.
        pub async fn admin_for(
            store: &store::Store,
            headers: &http::HeaderMap,
            configured_https: bool,
        ) -> Result<Option<store::AdminAccount>, store::StoreError> {
            match token_in(headers, is_secure(configured_https, headers)) {
                Some(token) => {
                    store
                        .session_admin(&token_hash(&token), chrono::Utc::now())
                        .await
                }
                None => Ok(None),
            }
        }

        pub(crate) async fn current_admin(
            store: &store::Store,
        ) -> Result<Option<store::AdminAccount>, crate::error::AppError> {
            match use_context::<http::request::Parts>() {
                Some(parts) => {
                    let configured = use_context::<super::super::AdminAuth>()
                        .is_some_and(|auth| auth.secure_cookies);
                    Ok(admin_for(store, &parts.headers, configured).await?)
                }
                None => Ok(None),
            }
        }

        /// True only when the request shows it comes from this server's
        /// own pages: an `Origin` naming this server, or, without one,
        /// `Sec-Fetch-Site: same-origin` (or `none`, typed by the user).
        /// Every supported browser sends one of them with a form; a request
        /// with neither is refused (fail closed), and so is one another
        /// site sent (`cross-site`, `same-site`).
        pub fn same_origin(headers: &http::HeaderMap) -> bool {
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
            match header("sec-fetch-site") {
                Some("same-origin" | "none") | None => {}
                Some(_) => return false,
            }
            match header("origin") {
                None => matches!(header("sec-fetch-site"), Some("same-origin" | "none")),
                Some(origin) => {
                    let ours = crate::origin::origin_of(headers);
                    let host = |o: &str| {
                        o.split_once("://")
                            .map(|(_, rest)| rest.to_owned())
                            .unwrap_or_default()
                    };
                    // Compare hosts: behind a TLS proxy the scheme we see
                    // may differ from the browser's.
                    !ours.is_empty() && host(origin) == host(&ours)
                }
            }
        }
    }
}
