//! What other sites put on their pages: status badges (SVG, and JSON for
//! shields.io's endpoint badge) and a small embeddable widget with the
//! status now and the last 24 hours. Every state comes from the published
//! snapshot, like the pages; the widget's strip from the pages' own
//! functions. The widget is the only page another site may frame.

use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use sha2::Digest as _;

use crate::api::types::{Health, SiteState};
use crate::markup::escape;
use crate::pages::PageContext;

/// Paths another site may frame.
const EMBED_PREFIX: &str = "/embed/";

/// Whether `path` is one of the embeddable widgets: framing allowed, its
/// own policy kept.
pub fn is_embed_path(path: &str) -> bool {
    path.starts_with(EMBED_PREFIX)
}

/// What the badges and widgets read.
#[derive(Clone)]
pub struct WidgetState {
    pub store: store::Store,
    pub status: app::status::Status,
    pub public_origin: app::PublicOrigin,
    pub pages: std::sync::Arc<PageContext>,
}

pub fn routes() -> Router<WidgetState> {
    Router::new()
        .route("/badge/site/{file}", get(site_badge))
        .route("/badge/provider/{file}", get(provider_badge))
        .route("/embed/site/{host}", get(site_embed))
        .route("/embed/provider/{id}", get(provider_embed))
}

/// What a badge says and in which colour; the words carry the meaning,
/// the colour only repeats it.
#[derive(Clone, Debug, PartialEq)]
pub struct Badge {
    pub label: String,
    pub message: String,
    /// `rrggbb`, dark enough for white text (contrast 4.5:1 or more).
    pub color: &'static str,
}

const GREEN: &str = "2e7d32";
const AMBER: &str = "8a5300";
const RED: &str = "c62828";
const GREY: &str = "5f6368";

fn site_words(state: SiteState) -> (&'static str, &'static str) {
    match state {
        SiteState::Up => ("up", GREEN),
        SiteState::Down => ("down", RED),
        SiteState::Unknown => ("unknown", GREY),
        SiteState::NotProbedYet => ("not probed yet", GREY),
    }
}

fn provider_words(health: Health) -> (&'static str, &'static str) {
    match health {
        Health::Up => ("operational", GREEN),
        Health::Degraded => ("some sites failing", AMBER),
        Health::Down => ("outage", RED),
    }
}

/// Width of `text` in Verdana at 11 px, near enough for a badge.
fn text_width(text: &str) -> usize {
    text.chars()
        .map(|c| match c {
            'i' | 'l' | 'j' | '.' | ',' | ':' | '\'' | ' ' | '|' | '!' => 4,
            'm' | 'w' | 'M' | 'W' => 10,
            c if c.is_ascii_uppercase() => 8,
            _ => 7,
        })
        .sum()
}

impl Badge {
    /// The badge as SVG: an image with a title, readable in any colour.
    pub fn svg(&self) -> String {
        let label_w = text_width(&self.label) + 12;
        let message_w = text_width(&self.message) + 12;
        let width = label_w + message_w;
        let text = format!("{}: {}", self.label, self.message);
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"20\" \
             viewBox=\"0 0 {width} 20\" role=\"img\" aria-label=\"{text}\">\
             <title>{text}</title>\
             <rect width=\"{label_w}\" height=\"20\" fill=\"#3c4043\"/>\
             <rect x=\"{label_w}\" width=\"{message_w}\" height=\"20\" fill=\"#{color}\"/>\
             <g fill=\"#fff\" font-family=\"Verdana,DejaVu Sans,sans-serif\" font-size=\"11\" \
             text-anchor=\"middle\">\
             <text x=\"{label_x}\" y=\"14\">{label}</text>\
             <text x=\"{message_x}\" y=\"14\">{message}</text></g></svg>",
            text = escape(&text),
            color = self.color,
            label_x = label_w / 2,
            message_x = label_w + message_w / 2,
            label = escape(&self.label),
            message = escape(&self.message),
        )
    }

    /// shields.io's endpoint badge schema.
    pub fn shields_json(&self) -> serde_json::Value {
        serde_json::json!({
            "schemaVersion": 1,
            "label": self.label,
            "message": self.message,
            "color": self.color,
            "cacheSeconds": 60,
        })
    }
}

/// `NAME.svg` or `NAME.json`: the name and whether JSON was asked for.
fn badge_file(file: &str) -> Option<(&str, bool)> {
    file.strip_suffix(".svg")
        .map(|name| (name, false))
        .or_else(|| file.strip_suffix(".json").map(|name| (name, true)))
        .filter(|(name, _)| !name.is_empty())
}

fn badge_answer(status: StatusCode, badge: &Badge, json: bool) -> Response {
    let (kind, body) = if json {
        ("application/json", badge.shields_json().to_string())
    } else {
        ("image/svg+xml", badge.svg())
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    // shields.io and status pages on other sites read it.
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// The site's state as the snapshot judged it.
async fn site_state(state: &WidgetState, host: &str) -> Result<Option<store::Site>, Response> {
    state
        .store
        .site_by_host(&host.to_ascii_lowercase())
        .await
        .map_err(|error| {
            tracing::error!(%error, "a badge cannot read the watchlist");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        })
}

/// `GET /badge/site/{host}.svg` (or `.json`).
async fn site_badge(State(state): State<WidgetState>, Path(file): Path<String>) -> Response {
    let Some((host, json)) = badge_file(&file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let site = match site_state(&state, host).await {
        Ok(site) => site,
        Err(response) => return response,
    };
    let Some(site) = site else {
        let badge = Badge {
            label: host.chars().take(64).collect(),
            message: "not watched".to_owned(),
            color: GREY,
        };
        return badge_answer(StatusCode::NOT_FOUND, &badge, json);
    };
    let snapshot = state.status.snapshot();
    let (message, color) = site_words(SiteState::of(snapshot.sites.get(&site.id)));
    let badge = Badge {
        label: site.host,
        message: message.to_owned(),
        color,
    };
    badge_answer(StatusCode::OK, &badge, json)
}

/// The provider's name and health now, if a watched site uses it.
async fn provider_health(state: &WidgetState, parts: Parts, id: &str) -> Option<(String, Health)> {
    let snapshot = state.status.snapshot();
    let cohorts = state
        .pages
        .run(parts, async { app::provider::cohorts(&snapshot) })
        .await;
    let mine: Vec<&app::provider::Cohort> = cohorts.iter().filter(|c| c.provider == id).collect();
    let name = mine.first()?.provider_name.clone();
    let health = Health::worst(mine.iter().map(|c| Health::of(c)));
    Some((name, health))
}

/// `GET /badge/provider/{id}.svg` (or `.json`).
async fn provider_badge(
    State(state): State<WidgetState>,
    Path(file): Path<String>,
    parts: Parts,
) -> Response {
    let Some((id, json)) = badge_file(&file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let id = id.to_ascii_lowercase();
    match provider_health(&state, parts, &id).await {
        Some((name, health)) => {
            let (message, color) = provider_words(health);
            let badge = Badge {
                label: name,
                message: message.to_owned(),
                color,
            };
            badge_answer(StatusCode::OK, &badge, json)
        }
        None => {
            let badge = Badge {
                label: id.chars().take(64).collect(),
                message: "not watched".to_owned(),
                color: GREY,
            };
            badge_answer(StatusCode::NOT_FOUND, &badge, json)
        }
    }
}

/// The widget's own style: inline, allowed by its hash.
const EMBED_STYLE: &str = "\
body{margin:0;font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;background:#fff;color:#202124}\
a.widget{display:block;padding:8px 10px;color:inherit;text-decoration:none;border:1px solid #dadce0;border-radius:8px}\
a.widget:hover,a.widget:focus{border-color:#5f6368}\
.name{margin:0;font-size:14px;font-weight:600;overflow-wrap:anywhere}\
.state{margin:0 0 4px;font-weight:600}\
.up{color:#1e6b22}.down{color:#b3261e}.degraded{color:#7a4a00}.unknown{color:#5f6368}\
.strip{display:block;width:100%;height:18px}\
.caption,.foot{margin:2px 0 0;font-size:12px;line-height:1.3;color:#5f6368}\
@media (prefers-color-scheme:dark){body{background:#202124;color:#e8eaed}a.widget{border-color:#5f6368}\
.up{color:#81c995}.down{color:#f28b82}.degraded{color:#fdd663}.unknown,.caption,.foot{color:#bdc1c6}}";

/// The strip of the last 24 hours: one bar per bin, its height and
/// colour from the share answered, a gap where nothing was probed.
fn strip(series: &app::site::Series, summary: &str) -> String {
    let width = series.bin_s.max(1);
    let count = ((series.until - series.from) / width).max(1);
    // The track: a period without bars had no probes.
    let mut bars = format!("<rect width=\"{count}\" height=\"10\" fill=\"#dadce0\"/>");
    for bin in &series.bins {
        let Some(availability) = bin.availability() else {
            continue;
        };
        let n = (bin.start - series.from).div_euclid(width);
        if !(0..count).contains(&n) {
            continue;
        }
        let fill = if availability >= 0.999 {
            "#2e7d32"
        } else if availability >= 0.5 {
            "#b26a00"
        } else {
            "#c62828"
        };
        bars.push_str(&format!(
            "<rect x=\"{n}\" y=\"0\" width=\"0.8\" height=\"10\" fill=\"{fill}\"/>"
        ));
    }
    format!(
        "<svg class=\"strip\" viewBox=\"0 0 {count} 10\" preserveAspectRatio=\"none\" role=\"img\" \
         aria-label=\"{summary}\"><title>{summary}</title>{bars}</svg>",
        summary = escape(summary)
    )
}

/// The availability of the last 24 hours in words.
fn strip_summary(series: &app::site::Series) -> String {
    let failing = series.bins.iter().filter(|b| b.failures > 0).count();
    let (one, many) = if series.bin_s >= 3_600 {
        ("hour", "hours")
    } else {
        ("quarter-hour", "quarter-hours")
    };
    let hours = if failing == 1 { one } else { many };
    match series.availability() {
        Some(share) => format!(
            "Last 24 hours: answered {:.2} % of probes; failures in {failing} {hours}.",
            share * 100.0,
        ),
        None => "Last 24 hours: no probes yet.".to_owned(),
    }
}

/// "Faultline · updated 8 s ago", or the stale warning's gist.
fn footer(freshness: &app::status::Freshness) -> String {
    match freshness.age_seconds() {
        Some(age) if freshness.stale => {
            format!("Faultline · figures {} old", app::words::age(age))
        }
        Some(age) => format!("Faultline · updated {} ago", app::words::age(age)),
        None => "Faultline · not probed yet".to_owned(),
    }
}

/// A widget page with its policy: framable by any site, its style by
/// hash, nothing else.
fn embed_page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{EMBED_STYLE}</style></head><body><main>{body}</main></body></html>",
        escape(title)
    );
    let style_hash = base64::engine::general_purpose::STANDARD
        .encode(sha2::Sha256::digest(EMBED_STYLE.as_bytes()));
    let policy = format!(
        "default-src 'none'; style-src 'sha256-{style_hash}'; img-src 'self'; \
         frame-ancestors *; base-uri 'none'; form-action 'none'"
    );
    let mut response = html.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(policy) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

fn embed_not_found(what: &str) -> Response {
    let mut response = embed_page(
        "Not watched · Faultline",
        &format!(
            "<div class=\"widget\"><h1 class=\"name\">{}</h1>\
             <p class=\"state unknown\">Not watched by this Faultline</p></div>",
            escape(what)
        ),
    );
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

/// `GET /embed/site/{host}`.
async fn site_embed(
    State(state): State<WidgetState>,
    Path(host): Path<String>,
    parts: Parts,
) -> Response {
    let origin = state.public_origin.clone().or_request(&parts.headers);
    let page = match state
        .pages
        .run(parts, app::site::get_site(host.clone(), "24h".to_owned()))
        .await
    {
        Ok(page) => page,
        Err(app::error::AppError::NotFound(_)) => return embed_not_found(&host),
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let today = page.freshness.today();
    let (class, words, since) = match &page.status {
        None => ("unknown", "Not probed yet".to_owned(), String::new()),
        Some(s) if s.suspect => (
            "unknown",
            "Unknown: our own network failed".to_owned(),
            String::new(),
        ),
        Some(s) if s.ok => (
            "up",
            "● Up".to_owned(),
            format!("since {}", app::words::when(s.since, today)),
        ),
        Some(s) => {
            let cause = s
                .fault
                .map(|f| f.plain())
                .or(s.failure.map(|f| f.plain()))
                .unwrap_or("failing");
            (
                "down",
                format!("✕ Down: {cause}"),
                format!("since {}", app::words::when(s.since, today)),
            )
        }
    };
    let summary = strip_summary(&page.series);
    let body = format!(
        "<a class=\"widget\" href=\"{origin}/site/{host}\" target=\"_blank\" rel=\"noopener\">\
         <h1 class=\"name\">{name}</h1><p class=\"state {class}\">{words} <small>{since}</small></p>\
         {strip}<p class=\"caption\">{summary}</p>\
         <p class=\"foot\">{fresh}</p></a>",
        origin = escape(&origin),
        host = escape(&page.host),
        name = escape(&page.host),
        words = escape(&words),
        since = escape(&since),
        strip = strip(&page.series, &summary),
        summary = escape(&summary),
        fresh = escape(&footer(&page.freshness)),
    );
    embed_page(&format!("{} on Faultline", page.host), &body)
}

/// `GET /embed/provider/{id}`.
async fn provider_embed(
    State(state): State<WidgetState>,
    Path(id): Path<String>,
    parts: Parts,
) -> Response {
    let origin = state.public_origin.clone().or_request(&parts.headers);
    let page = match state
        .pages
        .run(
            parts,
            app::provider::get_provider(id.clone(), "24h".to_owned()),
        )
        .await
    {
        Ok(page) => page,
        Err(app::error::AppError::NotFound(_)) => return embed_not_found(&id),
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let health = Health::worst(page.cohorts.iter().map(Health::of));
    let (class, words) = match health {
        Health::Up => ("up", "● Operational"),
        Health::Degraded => ("degraded", "▲ Some sites failing"),
        Health::Down => ("down", "✕ Likely outage"),
    };
    let detail = page
        .cohorts
        .iter()
        .map(app::provider::Cohort::health)
        .collect::<Vec<_>>()
        .join("; ");
    let summary = strip_summary(&page.series);
    let body = format!(
        "<a class=\"widget\" href=\"{origin}/provider/{id}\" target=\"_blank\" rel=\"noopener\">\
         <h1 class=\"name\">{name}</h1><p class=\"state {class}\">{words}</p>\
         <p class=\"caption\">{detail}</p>{strip}<p class=\"caption\">{summary}</p>\
         <p class=\"foot\">{fresh}</p></a>",
        origin = escape(&origin),
        id = escape(&page.id),
        name = escape(&page.name),
        detail = escape(&detail),
        strip = strip(&page.series, &summary),
        summary = escape(&summary),
        fresh = escape(&footer(&page.freshness)),
    );
    embed_page(&format!("{} on Faultline", page.name), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_badge_says_its_state_in_words_and_escapes_what_it_names() {
        let badge = Badge {
            label: "a&b.test".to_owned(),
            message: "down".to_owned(),
            color: RED,
        };
        let svg = badge.svg();
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("<title>a&amp;b.test: down</title>"));
        assert!(!svg.contains("a&b"));
        assert_eq!(badge.shields_json()["message"], "down");
        assert_eq!(badge_file("a.test.svg"), Some(("a.test", false)));
        assert_eq!(badge_file("a.test.json"), Some(("a.test", true)));
        assert_eq!(badge_file(".svg"), None);
        assert_eq!(badge_file("a.test.png"), None);
    }
}
