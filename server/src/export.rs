//! Incident exports and feeds for people who reuse the figures: an
//! incident's affected sites as CSV, the whole incident as JSON, and Atom
//! feeds of provider-wide incidents (all, or one provider's).

use crate::markup::escape;
use app::incident::IncidentSummary;
use app::knowledge::provider_name;
use app::words;
use atom_syndication::{Entry, Feed, Link, Person, Text};
use axum::extract::{FromRef, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use engine::{
    FailureClass, Fault, FaultSide, IncidentKind, Mechanism, Pattern, Phase, Role, Scope,
};
use serde::Serialize;

/// Incidents in a feed.
const FEED_LIMIT: i64 = 50;

/// What the export handlers read: the store, the public address for
/// permalinks and the knowledge base that names providers. The router's
/// state provides it through `FromRef`.
#[derive(Clone, Debug)]
pub struct ExportState {
    pub store: store::Store,
    pub public_origin: app::PublicOrigin,
    pub knowledge: std::sync::Arc<crate::knowledge::Knowledge>,
    /// The snapshot the figures of an open incident come from.
    pub status: app::status::Status,
}

impl ExportState {
    /// Runs `render` with the knowledge base in force given as the pages
    /// get it, so exports and feeds name providers as the pages do (an
    /// operator's override names included).
    pub(crate) fn named<T>(&self, render: impl FnOnce() -> T) -> T {
        let owner = leptos::prelude::Owner::new();
        owner.with(|| {
            leptos::prelude::provide_context(self.knowledge.current());
            render()
        })
    }
}

/// The export and feed routes, for a router whose state provides an
/// `ExportState`.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    ExportState: FromRef<S>,
{
    Router::new()
        .route("/incidents.atom", get(incidents_feed))
        .route("/incidents/{id}/export.csv", get(incident_csv))
        .route("/incidents/{id}/export.json", get(incident_json))
        .route("/official/export.csv", get(official_csv))
        .route("/provider/{id}/incidents.atom", get(provider_feed))
        .route("/site/{host}/incidents.atom", get(site_feed))
}

/// What an export request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no such incident")]
    NotFound,
    #[error("no such site")]
    NoSite,
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("cannot write the export: {0}")]
    Write(String),
}

impl IntoResponse for ExportError {
    fn into_response(self) -> Response {
        match self {
            ExportError::NotFound => (StatusCode::NOT_FOUND, "no such incident\n").into_response(),
            ExportError::NoSite => {
                (StatusCode::NOT_FOUND, "no such site on the watchlist\n").into_response()
            }
            error => {
                tracing::error!(%error, "export failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the export is unavailable right now\n",
                )
                    .into_response()
            }
        }
    }
}

/// One affected site, as the CSV and JSON exports carry it.
#[derive(Debug, Serialize)]
pub struct ExportSite {
    pub host: String,
    pub url: String,
    pub first_failure: String,
    pub last_failure: String,
    pub status: Option<i64>,
    pub failure: Option<FailureClass>,
    pub error_page_by: Option<String>,
    pub fault_side: Option<FaultSide>,
    pub fault: Option<Fault>,
    pub evidence: Vec<String>,
}

/// One judgement on an incident's timeline: the weighted share the
/// thresholds compare, and the sites failing of those judged (absent in
/// timelines stored before the counts were kept).
#[derive(Debug, Serialize)]
pub struct ExportPoint {
    pub at: String,
    pub share: f64,
    pub failing: Option<u32>,
    pub of: Option<u32>,
}

/// Which snapshot an export's figures come from: the same version as the
/// pages of that moment.
#[derive(Debug, Serialize)]
pub struct ExportSnapshot {
    pub version: u64,
    /// The newest probe the figures include.
    pub data_until: Option<String>,
}

/// A count of failing sites out of those judged, with its percentage.
#[derive(Debug, Serialize)]
pub struct ExportTally {
    pub failing: u32,
    pub of: u32,
    pub percent: u32,
}

impl From<engine::Tally> for ExportTally {
    fn from(tally: engine::Tally) -> Self {
        Self {
            failing: tally.failing,
            of: tally.of,
            percent: tally.percent(),
        }
    }
}

/// The JSON export of one incident.
#[derive(Debug, Serialize)]
pub struct ExportIncident {
    pub snapshot: ExportSnapshot,
    pub id: i64,
    pub permalink: String,
    pub kind: IncidentKind,
    pub title: String,
    pub provider: Option<String>,
    pub role: Option<Role>,
    /// A provider incident's mechanism: `own` or `edge_to_origin`.
    pub mechanism: Option<Mechanism>,
    /// Seen by vantages in several regions: `global` or `regional`; none
    /// when one region probes.
    pub scope: Option<Scope>,
    /// The regions that saw it.
    pub regions: Vec<String>,
    pub phase: Phase,
    pub pattern: Pattern,
    pub onset_at: String,
    pub detected_at: String,
    pub confirmed_at: Option<String>,
    pub peak_at: Option<String>,
    pub peak_share: Option<f64>,
    /// The most sites failing at once.
    pub peak: Option<ExportTally>,
    /// Its provider's sites failing now, while the incident is in the
    /// snapshot.
    pub now: Option<ExportTally>,
    /// Resolved, and these affected sites still fail with its errors.
    pub tail: Vec<String>,
    pub recovering_at: Option<String>,
    pub resolved_at: Option<String>,
    pub confidence: Option<f64>,
    pub sites_affected: i64,
    pub evidence: Vec<String>,
    /// (time, share of the provider's watched sites implicated)
    pub timeline: Vec<ExportPoint>,
    pub annotations: Vec<ExportAnnotation>,
    /// The provider's first statement about it on its status page.
    pub acknowledged_at: Option<String>,
    /// Seconds from detection to that statement: positive when Faultline
    /// was first.
    pub lead_time_s: Option<i64>,
    /// What the provider said about it, each update as published.
    pub official: Vec<ExportStatement>,
    pub sites: Vec<ExportSite>,
}

/// One update of a provider's status page.
#[derive(Debug, Serialize)]
pub struct ExportStatement {
    pub provider: String,
    /// The provider's id for its incident.
    pub incident: String,
    pub title: String,
    pub status: engine::vocab::OfficialStatus,
    /// When the provider published it.
    pub at: String,
    /// When Faultline first read it.
    pub seen_at: String,
    pub text: String,
    /// The incident's page on the provider's status site.
    pub url: Option<String>,
    /// The status document it was read from.
    pub source: String,
}

#[derive(Debug, Serialize)]
pub struct ExportAnnotation {
    pub at: String,
    pub text: String,
    pub url: Option<String>,
    pub author: String,
}

fn evidence(json: Option<&str>) -> Vec<String> {
    json.and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default()
}

/// A cell a spreadsheet shows as text, never runs: one starting with `=`,
/// `+`, `-`, `@`, a tab or a carriage return (a formula to Excel, Sheets
/// and LibreOffice) gets a leading apostrophe. Hosts, URLs and evidence
/// come from the sites Faultline watches, so they are not trusted.
fn inert_cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

/// A CSV cell for an optional word: empty when there is none.
fn word(spelling: Option<&str>) -> String {
    spelling.unwrap_or_default().to_owned()
}

/// The id from `{id}`; anything that is not a number is not an incident.
fn incident_id(raw: &str) -> Result<i64, ExportError> {
    raw.parse().map_err(|_| ExportError::NotFound)
}

async fn export_sites(
    store: &store::Store,
    id: i64,
    snapshot: &engine::correlate::Snapshot,
) -> Result<(store::Incident, Vec<ExportSite>), ExportError> {
    let incident = store.incident(id).await?.ok_or(ExportError::NotFound)?;
    let incident = app::incident::as_of_snapshot(incident, snapshot);
    let sites = store
        .incident_sites(id)
        .await?
        .into_iter()
        .map(|s| ExportSite {
            evidence: evidence(s.evidence.as_deref()),
            host: s.host,
            url: s.url,
            first_failure: words::rfc3339(s.first_failure),
            last_failure: words::rfc3339(s.last_failure),
            status: s.status,
            failure: s.failure,
            error_page_by: s.generator,
            fault_side: s.fault_side,
            fault: s.fault,
        })
        .collect();
    Ok((incident, sites))
}

/// `GET /incidents/{id}/export.csv`: one row per affected site.
pub async fn incident_csv(
    State(state): State<ExportState>,
    Path(id): Path<String>,
) -> Result<Response, ExportError> {
    let id = incident_id(&id)?;
    let (incident, sites) = export_sites(&state.store, id, &state.status.snapshot()).await?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    let write = |e: csv::Error| ExportError::Write(e.to_string());
    writer
        .write_record([
            "incident",
            "provider",
            "role",
            "host",
            "url",
            "first_failure",
            "last_failure",
            "status",
            "failure",
            "error_page_by",
            "fault_side",
            "fault",
            "evidence",
        ])
        .map_err(write)?;
    for site in &sites {
        let record = [
            id.to_string(),
            incident.provider.clone().unwrap_or_default(),
            incident
                .role
                .map(Role::as_str)
                .unwrap_or_default()
                .to_owned(),
            site.host.clone(),
            site.url.clone(),
            site.first_failure.clone(),
            site.last_failure.clone(),
            site.status.map(|s| s.to_string()).unwrap_or_default(),
            word(site.failure.map(FailureClass::as_str)),
            site.error_page_by.clone().unwrap_or_default(),
            word(site.fault_side.map(FaultSide::as_str)),
            word(site.fault.map(Fault::as_str)),
            site.evidence.join(" | "),
        ];
        writer
            .write_record(record.iter().map(|field| inert_cell(field)))
            .map_err(write)?;
    }
    let body = writer
        .into_inner()
        .map_err(|e| ExportError::Write(e.to_string()))?;
    Ok(csv_attachment(
        body,
        &format!("faultline-incident-{id}.csv"),
    ))
}

/// A CSV document offered for download as `filename` (letters, digits,
/// dashes and dots only, so it needs no quoting).
fn csv_attachment(body: Vec<u8>, filename: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /incidents/{id}/export.json`: the incident, its timeline, notes
/// and affected sites.
pub async fn incident_json(
    State(state): State<ExportState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ExportError> {
    let id = incident_id(&id)?;
    let snapshot = state.status.snapshot();
    let (incident, sites) = export_sites(&state.store, id, &snapshot).await?;
    let live = snapshot.incidents.iter().find(|i| i.id == Some(id));
    let tail = match live {
        Some(live) => state
            .store
            .watched_sites(&live.tail)
            .await?
            .into_iter()
            .map(|site| site.host)
            .collect(),
        None => Vec::new(),
    };
    let annotations = state
        .store
        .annotations(id)
        .await?
        .into_iter()
        .map(|a| ExportAnnotation {
            at: words::rfc3339(a.at),
            text: a.text,
            url: a.url,
            author: a.author,
        })
        .collect();
    let timeline: Vec<engine::TimelinePoint> =
        serde_json::from_str(&incident.timeline).unwrap_or_default();
    let time = |at: Option<DateTime<Utc>>| at.map(words::rfc3339);
    let said = state.store.statements_for_incident(id).await?;
    let acknowledged = said
        .iter()
        .filter_map(store::Statement::acknowledged_at)
        .min();
    let official = said
        .iter()
        .flat_map(|statement| {
            statement.updates.iter().map(|update| ExportStatement {
                provider: statement.provider.clone(),
                incident: statement.reference.clone(),
                title: statement.title.clone(),
                status: update.status,
                at: words::rfc3339(update.published_at),
                seen_at: words::rfc3339(update.first_seen_at),
                text: update.text.clone(),
                url: statement.url.clone(),
                source: statement.source.clone(),
            })
        })
        .collect();
    let export = ExportIncident {
        acknowledged_at: acknowledged.map(words::rfc3339),
        lead_time_s: acknowledged.map(|at| (at - incident.detected_at).num_seconds()),
        official,
        snapshot: ExportSnapshot {
            version: snapshot.version,
            data_until: snapshot.data_until.map(words::rfc3339),
        },
        peak: engine::figures::peak(&timeline).map(|point| point.tally.into()),
        now: live.map(|live| live.now.into()),
        tail,
        id,
        permalink: format!("{}/incident/{id}", state.public_origin.or_request(&headers)),
        title: state.named(|| IncidentSummary::from_store(incident.clone(), None).title()),
        kind: incident.kind,
        mechanism: match incident.kind {
            IncidentKind::Provider => Some(incident.mechanism.unwrap_or(Mechanism::Own)),
            _ => None,
        },
        scope: incident.scope,
        regions: incident.regions(),
        provider: incident.provider,
        role: incident.role,
        phase: incident.phase,
        pattern: incident.pattern,
        onset_at: words::rfc3339(incident.onset_at),
        detected_at: words::rfc3339(incident.detected_at),
        confirmed_at: time(incident.confirmed_at),
        peak_at: time(incident.peak_at),
        peak_share: incident.peak_share,
        recovering_at: time(incident.recovering_at),
        resolved_at: time(incident.resolved_at),
        confidence: incident.confidence,
        sites_affected: incident.sites_affected,
        evidence: app::incident::readable_evidence(&state.store, &incident.evidence).await?,
        timeline: timeline
            .into_iter()
            .map(|point| ExportPoint {
                at: words::rfc3339(point.at),
                share: point.share,
                failing: point.counted().then_some(point.tally.failing),
                of: point.counted().then_some(point.tally.of),
            })
            .collect(),
        annotations,
        sites,
    };
    Ok((
        [(
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"faultline-incident-{id}.json\""),
        )],
        axum::Json(export),
    )
        .into_response())
}

/// `GET /official/export.csv`: every provider incident beside what its
/// provider said, and every statement matched to no incident.
pub async fn official_csv(State(state): State<ExportState>) -> Result<Response, ExportError> {
    let sources = app::official::ComparisonSources::read(&state.store).await?;
    let comparison = state.named(|| sources.compare());
    let mut writer = csv::Writer::from_writer(Vec::new());
    let write = |e: csv::Error| ExportError::Write(e.to_string());
    writer
        .write_record([
            "provider",
            "incident",
            "detected_at",
            "first_official_statement_at",
            "lead_time_s",
            "official_resolved_at",
            "measured_recovery_at",
            "official_titles",
            "official_url",
        ])
        .map_err(write)?;
    let time = |at: Option<DateTime<Utc>>| at.map(words::rfc3339).unwrap_or_default();
    for row in &comparison.rows {
        let record = [
            row.provider.clone(),
            row.incident_id.map(|id| id.to_string()).unwrap_or_default(),
            time(row.detected_at),
            time(row.acknowledged_at),
            row.lead_seconds()
                .map(|s| s.to_string())
                .unwrap_or_default(),
            time(row.official_resolved_at),
            time(row.recovered_at),
            row.official_titles.join(" | "),
            row.official_url.clone().unwrap_or_default(),
        ];
        writer
            .write_record(record.iter().map(|field| inert_cell(field)))
            .map_err(write)?;
    }
    let body = writer
        .into_inner()
        .map_err(|e| ExportError::Write(e.to_string()))?;
    Ok(csv_attachment(body, "faultline-vs-official.csv"))
}

/// `GET /incidents.atom`: every provider-wide incident.
pub async fn incidents_feed(
    State(state): State<ExportState>,
    headers: HeaderMap,
) -> Result<Response, ExportError> {
    let snapshot = state.status.snapshot();
    let incidents = state
        .store
        .provider_incidents(None, FEED_LIMIT)
        .await?
        .into_iter()
        .map(|incident| app::incident::as_of_snapshot(incident, &snapshot))
        .collect();
    let origin = state.public_origin.or_request(&headers);
    Ok(atom(state.named(|| {
        feed(
            &origin,
            FeedOf {
                path: "/incidents.atom",
                page: "/incidents",
                title: "Faultline: provider-wide incidents",
                site: None,
            },
            incidents,
            &state.status.freshness(&snapshot),
        )
        .to_string()
    })))
}

/// `GET /provider/{id}/incidents.atom`: one provider's incidents.
pub async fn provider_feed(
    State(state): State<ExportState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ExportError> {
    let provider = provider.to_ascii_lowercase();
    let snapshot = state.status.snapshot();
    let incidents = state
        .store
        .provider_incidents(Some(&provider), FEED_LIMIT)
        .await?
        .into_iter()
        .map(|incident| app::incident::as_of_snapshot(incident, &snapshot))
        .collect();
    let origin = state.public_origin.or_request(&headers);
    let path = format!("/provider/{provider}/incidents.atom");
    Ok(atom(state.named(|| {
        let title = format!("Faultline: {} incidents", provider_name(&provider));
        feed(
            &origin,
            FeedOf {
                path: &path,
                page: &format!("/provider/{provider}"),
                title: &title,
                site: None,
            },
            incidents,
            &state.status.freshness(&snapshot),
        )
        .to_string()
    })))
}

/// `GET /site/{host}/incidents.atom`: one site's own incidents and the
/// provider outages it was caught in.
pub async fn site_feed(
    State(state): State<ExportState>,
    Path(host): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ExportError> {
    let host = host.to_ascii_lowercase();
    let site = state
        .store
        .site_by_host(&host)
        .await?
        .ok_or(ExportError::NoSite)?;
    let snapshot = state.status.snapshot();
    let incidents = state
        .store
        .site_incidents(site.id, FEED_LIMIT)
        .await?
        .into_iter()
        .map(|incident| app::incident::as_of_snapshot(incident, &snapshot))
        .collect();
    let origin = state.public_origin.or_request(&headers);
    let path = format!("/site/{}/incidents.atom", site.host);
    Ok(atom(state.named(|| {
        feed(
            &origin,
            FeedOf {
                path: &path,
                page: &format!("/site/{}", site.host),
                title: &format!("Faultline: {} incidents", site.host),
                site: Some(&site.host),
            },
            incidents,
            &state.status.freshness(&snapshot),
        )
        .to_string()
    })))
}

fn atom(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        body,
    )
        .into_response()
}

/// When an incident last changed, as far as its stored times tell.
fn last_change(incident: &store::Incident) -> DateTime<Utc> {
    [
        Some(incident.detected_at),
        incident.confirmed_at,
        incident.peak_at,
        incident.recovering_at,
        incident.resolved_at,
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(incident.detected_at)
}

/// What a feed is: where it and its page live, its title, and the site
/// its site incidents are about (for a site's feed).
pub struct FeedOf<'a> {
    pub path: &'a str,
    pub page: &'a str,
    pub title: &'a str,
    pub site: Option<&'a str>,
}

/// An Atom feed of `incidents`, one entry per incident; an incident's
/// entry is updated whenever its phase changes. Its subtitle names the
/// snapshot the figures come from.
pub fn feed(
    origin: &str,
    of: FeedOf<'_>,
    incidents: Vec<store::Incident>,
    freshness: &app::status::Freshness,
) -> Feed {
    let updated = incidents
        .iter()
        .map(last_change)
        .max()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let entries = incidents
        .into_iter()
        .map(|incident| {
            let changed = last_change(&incident);
            let summary = IncidentSummary::from_store(incident, of.site.map(str::to_owned));
            let link = format!("{origin}/incident/{}", summary.id);
            let mut entry = Entry::default();
            entry.set_id(link.clone());
            entry.set_title(Text::plain(format!(
                "{} ({})",
                summary.title(),
                summary.phase.plain()
            )));
            entry.set_updated(changed.fixed_offset());
            entry.set_published(Some(summary.detected_at.fixed_offset()));
            entry.set_summary(Some(Text::html(entry_html(&summary))));
            entry.set_links(vec![Link {
                href: link,
                mime_type: Some("text/html".to_owned()),
                ..Link::default()
            }]);
            entry
        })
        .collect::<Vec<_>>();
    let mut feed = Feed::default();
    feed.set_id(format!("{origin}{}", of.path));
    feed.set_title(Text::plain(of.title));
    feed.set_subtitle(Some(Text::plain(format!(
        "Snapshot {}. {}",
        freshness.version,
        freshness.sentence()
    ))));
    feed.set_updated(updated.fixed_offset());
    feed.set_authors(vec![Person {
        name: "Faultline".to_owned(),
        ..Person::default()
    }]);
    feed.set_links(vec![
        Link {
            href: format!("{origin}{}", of.path),
            rel: "self".to_owned(),
            mime_type: Some("application/atom+xml".to_owned()),
            ..Link::default()
        },
        Link {
            href: format!("{origin}{}", of.page),
            mime_type: Some("text/html".to_owned()),
            ..Link::default()
        },
    ]);
    feed.set_entries(entries);
    feed
}

/// An entry's summary, as HTML a feed reader shows: the sentence, then the
/// figures as a list.
fn entry_html(i: &IncidentSummary) -> String {
    let mut sentence = format!("{} from {}", i.title(), words::utc(i.onset_at));
    match i.resolved_at {
        Some(end) => sentence.push_str(&format!(" to {}", words::utc(end))),
        None => sentence.push_str(&format!(", {}", i.phase.plain())),
    }
    sentence.push('.');
    if i.kind == engine::IncidentKind::Site {
        // A site's own incident: its cause and the outage that explains it.
        let mut figures = Vec::new();
        if let Some(fault) = i.fault {
            figures.push(format!("Fault: {}", fault.plain()));
        }
        if let Some(id) = i.explained_by {
            figures.push(format!("Explained by provider incident {id}"));
        }
        let items: String = figures
            .iter()
            .map(|figure| format!("<li>{}</li>", escape(figure)))
            .collect();
        return format!("<p>{}</p><ul>{items}</ul>", escape(&sentence));
    }
    let mut figures = vec![format!(
        "Peak: {} of the watched sites failing",
        i.peak_text()
    )];
    figures.push(format!(
        "Sites affected: {}",
        words::count(
            usize::try_from(i.sites_affected).unwrap_or(0),
            "site",
            "sites"
        )
    ));
    if let Some(confidence) = i.confidence {
        figures.push(format!("Confidence: {}", words::percent(confidence)));
    }
    if i.pattern == engine::Pattern::Intermittent {
        figures.push("Pattern: intermittent, the failures came and went".to_owned());
    }
    let items: String = figures
        .iter()
        .map(|figure| format!("<li>{}</li>", escape(figure)))
        .collect();
    format!("<p>{}</p><ul>{items}</ul>", escape(&sentence))
}

#[cfg(test)]
mod tests {
    use super::inert_cell;

    #[test]
    fn formulas_reach_a_spreadsheet_as_text() {
        for formula in [
            "=HYPERLINK(\"http://x\")",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
        ] {
            assert_eq!(inert_cell(formula), format!("'{formula}"));
        }
        for plain in [
            "example.com",
            "https://example.com/",
            "cf-ray: 8a1",
            "",
            "500",
        ] {
            assert_eq!(inert_cell(plain), plain);
        }
    }
}
