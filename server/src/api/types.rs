//! The API's answers: a stable, documented shape made from the page data
//! (the pages may change what they show; these change only with a new
//! version). Words are the vocabulary's spellings, times RFC 3339 in UTC.

use app::incident::{IncidentPage, IncidentSummary, LiveIncident};
use app::site::{Series, Window};
use app::status::Freshness;
use chrono::{DateTime, Utc};
use engine::vocab::OfficialStatus;
use engine::{
    Cause, FailureClass, Fault, FaultSide, IncidentKind, Mechanism, Pattern, Phase, Role, Scope,
};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::ToSchema;

/// A string schema whose values are `spellings`; with null too when the
/// field may be absent.
fn word_schema<'a>(spellings: impl IntoIterator<Item = &'a str>, nullable: bool) -> ObjectBuilder {
    let mut values: Vec<serde_json::Value> = spellings.into_iter().map(Into::into).collect();
    let kind = if nullable {
        values.push(serde_json::Value::Null);
        utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null])
    } else {
        utoipa::openapi::schema::SchemaType::new(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(kind)
        .enum_values(Some(values))
}

/// Schema functions for each word, required and nullable.
macro_rules! word_schemas {
    ($($word:ident => $required:ident, $nullable:ident;)*) => {$(
        #[allow(dead_code, reason = "not every word is required somewhere")]
        pub(crate) fn $required() -> ObjectBuilder {
            word_schema($word::ALL.iter().map(|w| w.as_str()), false)
        }
        #[allow(dead_code, reason = "not every word is optional somewhere")]
        pub(crate) fn $nullable() -> ObjectBuilder {
            word_schema($word::ALL.iter().map(|w| w.as_str()), true)
        }
    )*};
}

word_schemas! {
    FailureClass => failure_class, failure_class_or_null;
    Fault => fault, fault_or_null;
    FaultSide => fault_side, fault_side_or_null;
    Role => role, role_or_null;
    IncidentKind => incident_kind, incident_kind_or_null;
    Phase => phase, phase_or_null;
    Pattern => pattern, pattern_or_null;
    Mechanism => mechanism, mechanism_or_null;
    Scope => scope, scope_or_null;
    OfficialStatus => official_status, official_status_or_null;
}

/// A cause is a fault's spelling or a failure class's.
fn cause_or_null() -> ObjectBuilder {
    word_schema(
        Fault::ALL
            .iter()
            .map(|w| w.as_str())
            .chain(FailureClass::ALL.iter().map(|w| w.as_str())),
        true,
    )
}

/// Which published snapshot the figures come from: the same version as
/// the pages of that moment.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotInfo {
    /// The same on every page and answer of one moment.
    pub version: u64,
    /// The newest probe the figures include.
    pub data_until: Option<DateTime<Utc>>,
    /// Now, on the server's clock.
    pub now: DateTime<Utc>,
    /// The data is older than two probe intervals: probing may have stalled.
    pub stale: bool,
    /// Set when the figures are a replay of a past outage, not live.
    pub replay: Option<String>,
}

impl From<&Freshness> for SnapshotInfo {
    fn from(freshness: &Freshness) -> Self {
        Self {
            version: freshness.version,
            data_until: freshness.data_until,
            now: freshness.now,
            stale: freshness.stale,
            replay: freshness.replay.clone(),
        }
    }
}

/// Sites failing out of those judged.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
pub struct Tally {
    pub failing: u32,
    pub of: u32,
    /// `failing` of `of`, rounded to a whole percent.
    pub percent: u32,
}

impl From<engine::Tally> for Tally {
    fn from(tally: engine::Tally) -> Self {
        Self {
            failing: tally.failing,
            of: tally.of,
            percent: tally.percent(),
        }
    }
}

/// A site's state as the snapshot judged it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SiteState {
    Up,
    Down,
    /// Probed while our own network failed, or too long ago to say.
    Unknown,
    NotProbedYet,
}

impl SiteState {
    /// The state of a site whose latest probe answered `ok` (none before
    /// the first), or whose probe says nothing (`unsure`: taken while our
    /// network failed, or too old).
    pub fn from_verdict(ok: Option<bool>, unsure: bool) -> Self {
        match (ok, unsure) {
            (None, _) => Self::NotProbedYet,
            (Some(_), true) => Self::Unknown,
            (Some(true), false) => Self::Up,
            (Some(false), false) => Self::Down,
        }
    }

    pub fn of(now: Option<&engine::correlate::SiteNow>) -> Self {
        match now {
            None => Self::NotProbedYet,
            Some(now) => Self::from_verdict(Some(now.ok), now.stale || now.suspect),
        }
    }
}

/// A watched site in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteItem {
    pub host: String,
    pub name: String,
    pub url: String,
    pub tags: Vec<String>,
    pub interval_s: i64,
    pub state: SiteState,
    /// Failing since, while down.
    pub failing_since: Option<DateTime<Utc>>,
    #[schema(schema_with = cause_or_null)]
    pub cause: Option<Cause>,
    /// The site's API resource.
    pub href: String,
}

/// A page of sites.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteList {
    pub items: Vec<SiteItem>,
    /// Pass as `cursor` for the next page; none on the last.
    pub next_cursor: Option<String>,
    pub snapshot: SnapshotInfo,
}

/// The latest verdict on a site.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteStatus {
    pub checked_at: DateTime<Utc>,
    pub state: SiteState,
    #[schema(schema_with = failure_class_or_null)]
    pub failure: Option<FailureClass>,
    #[schema(schema_with = fault_or_null)]
    pub fault: Option<Fault>,
    /// The provider that generated the error page.
    pub error_page_by: Option<String>,
    /// Up or failing since.
    pub since: DateTime<Utc>,
}

/// The phase timings of one probe, in milliseconds.
#[derive(Debug, Serialize, ToSchema)]
pub struct Timings {
    pub dns_ms: Option<i64>,
    pub connect_ms: Option<i64>,
    pub tls_ms: Option<i64>,
    pub ttfb_ms: Option<i64>,
    pub total_ms: Option<i64>,
}

/// One probe and what its answer says.
#[derive(Debug, Serialize, ToSchema)]
pub struct Probe {
    pub at: DateTime<Utc>,
    pub ok: bool,
    /// Taken while our own network failed: it says nothing about the site.
    pub suspect: bool,
    pub status: Option<i64>,
    #[schema(schema_with = failure_class_or_null)]
    pub failure: Option<FailureClass>,
    pub detail: Option<String>,
    pub timings: Timings,
    pub remote_ip: Option<String>,
    /// The provider that generated the error page, by id.
    pub error_page_by: Option<String>,
    pub error_page_by_name: Option<String>,
    #[schema(schema_with = fault_side_or_null)]
    pub fault_side: Option<FaultSide>,
    /// Whose fault, in plain words.
    pub at_fault: Option<String>,
    #[schema(schema_with = fault_or_null)]
    pub fault: Option<Fault>,
    pub confidence: Option<f64>,
    pub evidence: Vec<String>,
}

impl From<app::site::ProbeView> for Probe {
    fn from(p: app::site::ProbeView) -> Self {
        Self {
            at: p.at,
            ok: p.ok,
            suspect: p.suspect,
            status: p.status,
            failure: p.failure,
            detail: p.detail,
            timings: Timings {
                dns_ms: p.dns_ms,
                connect_ms: p.connect_ms,
                tls_ms: p.tls_ms,
                ttfb_ms: p.ttfb_ms,
                total_ms: p.total_ms,
            },
            remote_ip: p.remote_ip,
            error_page_by: p.provider,
            error_page_by_name: p.provider_name,
            fault_side: p.fault_side,
            at_fault: p.at_fault,
            fault: p.fault,
            confidence: p.confidence,
            evidence: p.evidence,
        }
    }
}

/// A provider seen serving a site, with what showed it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Sighting {
    pub provider: String,
    pub name: String,
    #[schema(schema_with = role)]
    pub role: Role,
    pub evidence: Vec<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// No longer seen since; none while it still serves the site.
    pub until: Option<DateTime<Utc>>,
}

/// One bar of a series.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesBin {
    pub start: DateTime<Utc>,
    pub probes: i64,
    pub failures: i64,
    /// Probes taken while our own network failed, counted neither way.
    pub suspect: i64,
    /// Share of counted probes that answered; none without any.
    pub availability: Option<f64>,
    /// Mean response time of the answered probes.
    pub mean_ms: Option<f64>,
}

/// Availability and response time over a window, in bins.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesOut {
    /// `24h`, `7d` or `30d`.
    pub window: String,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub bin_s: i64,
    /// Over the whole window; none without a counted probe.
    pub availability: Option<f64>,
    pub bins: Vec<SeriesBin>,
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

impl SeriesOut {
    pub fn of(series: &Series, window: Window) -> Self {
        Self {
            window: window.key().to_owned(),
            from: at(series.from),
            until: at(series.until),
            bin_s: series.bin_s,
            availability: series.availability(),
            bins: series
                .bins
                .iter()
                .map(|bin| SeriesBin {
                    start: at(bin.start),
                    probes: bin.probes,
                    failures: bin.failures,
                    suspect: bin.suspect,
                    availability: bin.availability(),
                    mean_ms: bin.mean_ms(),
                })
                .collect(),
        }
    }
}

/// Links to an incident's page, resource and exports.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentLinks {
    pub page: String,
    pub href: String,
    pub csv: String,
    pub json: String,
}

/// An incident without its timeline and evidence.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentItem {
    pub id: i64,
    #[schema(schema_with = incident_kind)]
    pub kind: IncidentKind,
    /// "Cloudflare-wide CDN outage" or "example.com down".
    pub title: String,
    pub provider: Option<String>,
    pub provider_name: Option<String>,
    #[schema(schema_with = role_or_null)]
    pub role: Option<Role>,
    /// What showed a provider incident: `own` (its own error pages, an
    /// unreachable edge, failed lookups) or `edge_to_origin` (its pages
    /// blamed the sites' servers, but unrelated servers failed together).
    /// Null for a site incident.
    #[schema(schema_with = mechanism_or_null)]
    pub mechanism: Option<Mechanism>,
    /// The site of a site incident.
    pub site: Option<String>,
    #[schema(schema_with = phase)]
    pub phase: Phase,
    #[schema(schema_with = pattern)]
    pub pattern: Pattern,
    /// A site incident's cause.
    #[schema(schema_with = cause_or_null)]
    pub fault: Option<Cause>,
    pub onset_at: DateTime<Utc>,
    pub detected_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub recovering_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The most sites failing at once.
    pub peak: Option<Tally>,
    /// The highest weighted share the thresholds compared.
    pub peak_share: Option<f64>,
    pub peak_at: Option<DateTime<Utc>>,
    pub confidence: Option<f64>,
    pub sites_affected: i64,
    /// The provider incident a site incident was part of.
    pub explained_by: Option<i64>,
    /// A provider incident seen by vantages in several regions: `global`
    /// (from every region) or `regional` (from some only); null when one
    /// region probes.
    #[schema(schema_with = scope_or_null)]
    pub scope: Option<Scope>,
    /// The regions that saw it; empty when one region probes.
    pub regions: Vec<String>,
    pub links: IncidentLinks,
}

impl IncidentItem {
    pub fn of(summary: IncidentSummary, origin: &str) -> Self {
        let id = summary.id;
        Self {
            title: summary.title(),
            id,
            kind: summary.kind,
            provider: summary.provider,
            provider_name: summary.provider_name,
            role: summary.role,
            mechanism: match summary.kind {
                IncidentKind::Provider => Some(summary.mechanism.unwrap_or(Mechanism::Own)),
                _ => None,
            },
            site: summary.site,
            phase: summary.phase,
            pattern: summary.pattern,
            fault: summary.fault,
            onset_at: summary.onset_at,
            detected_at: summary.detected_at,
            confirmed_at: summary.confirmed_at,
            recovering_at: summary.recovering_at,
            resolved_at: summary.resolved_at,
            peak: summary.peak.map(Tally::from),
            peak_share: summary.peak_share,
            peak_at: summary.peak_at,
            confidence: summary.confidence,
            sites_affected: summary.sites_affected,
            explained_by: summary.explained_by,
            scope: summary.scope,
            regions: summary.regions,
            links: IncidentLinks {
                page: format!("{origin}/incident/{id}"),
                href: format!("{origin}/api/v1/incidents/{id}"),
                csv: format!("{origin}/incidents/{id}/export.csv"),
                json: format!("{origin}/incidents/{id}/export.json"),
            },
        }
    }
}

/// A page of incidents.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentList {
    pub items: Vec<IncidentItem>,
    /// Pass as `cursor` for the next page; none on the last.
    pub next_cursor: Option<String>,
    pub snapshot: SnapshotInfo,
}

/// Everything known about one watched site.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteDetail {
    pub host: String,
    pub name: String,
    pub url: String,
    pub interval_s: i64,
    /// None before its first probe.
    pub status: Option<SiteStatus>,
    /// Its latest failed probe, explained.
    pub last_error: Option<Probe>,
    /// The provider incident that explains the last error, if one does.
    pub explained_by: Option<IncidentItem>,
    pub providers: Vec<Sighting>,
    pub series: SeriesOut,
    /// The latest probes, newest first.
    pub recent_probes: Vec<Probe>,
    pub incidents: Vec<IncidentItem>,
    /// The site's page.
    pub page: String,
    pub snapshot: SnapshotInfo,
}

/// A provider in one role and how its watched sites fare now.
#[derive(Debug, Serialize, ToSchema)]
pub struct Cohort {
    #[schema(schema_with = role)]
    pub role: Role,
    /// Watched sites it serves in this role.
    pub sites: u32,
    /// Sites failing for a reason this role explains, of those with a
    /// fresh probe.
    pub failing: Tally,
    /// Sites failing for another reason, such as their own servers.
    pub failing_otherwise: u32,
    pub health: Health,
    /// The health in words: "54 of 60 failing at its edge (90 %)".
    pub health_text: String,
    /// Its open provider-wide incident.
    pub incident: Option<i64>,
}

/// How a provider fares: an open incident, some sites failing, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Up,
    Degraded,
    Down,
}

impl Health {
    /// A cohort's health, as its card on the pages is coloured.
    pub fn of(cohort: &app::provider::Cohort) -> Self {
        match cohort.health_class() {
            "down" => Self::Down,
            "degraded" => Self::Degraded,
            _ => Self::Up,
        }
    }

    /// The worst of `healths`; up when there are none.
    pub fn worst(healths: impl IntoIterator<Item = Health>) -> Self {
        healths.into_iter().max().unwrap_or(Self::Up)
    }
}

impl From<&app::provider::Cohort> for Cohort {
    fn from(c: &app::provider::Cohort) -> Self {
        Self {
            role: c.role,
            sites: c.sites,
            failing: c.tally.into(),
            failing_otherwise: c.failing_otherwise,
            health: Health::of(c),
            health_text: c.health(),
            incident: c.incident,
        }
    }
}

/// A provider and its health now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderItem {
    pub id: String,
    pub name: String,
    /// The worst of its cohorts.
    pub health: Health,
    pub cohorts: Vec<Cohort>,
    pub href: String,
}

/// Every provider serving a watched site.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderList {
    pub items: Vec<ProviderItem>,
    pub snapshot: SnapshotInfo,
}

/// A provider incident as of the snapshot.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveIncidentOut {
    /// None in the moment before it is stored.
    pub id: Option<i64>,
    #[schema(schema_with = role)]
    pub role: Role,
    #[schema(schema_with = phase)]
    pub phase: Phase,
    #[schema(schema_with = pattern)]
    pub pattern: Pattern,
    pub onset_at: DateTime<Utc>,
    pub recovering_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Its cohort now.
    pub now: Tally,
    pub peak: Tally,
    pub peak_at: Option<DateTime<Utc>>,
    /// How many times failures rose: 1 for a steady outage.
    pub waves: u32,
    pub sites_affected: u32,
    pub confidence: f64,
    /// The incident in one sentence, as the home page says it.
    pub sentence: String,
    /// A provider incident seen by vantages in several regions: `global`
    /// (from every region) or `regional` (from some only); null when one
    /// region probes.
    #[schema(schema_with = scope_or_null)]
    pub scope: Option<Scope>,
    /// The regions that saw it; empty when one region probes.
    pub regions: Vec<String>,
}

impl LiveIncidentOut {
    pub fn of(live: &LiveIncident, today: Option<chrono::NaiveDate>) -> Self {
        Self {
            id: live.id,
            role: live.role,
            phase: live.phase,
            pattern: live.pattern,
            onset_at: live.onset_at,
            recovering_at: live.recovering_at,
            resolved_at: live.resolved_at,
            now: live.now.into(),
            peak: live.peak.into(),
            peak_at: live.peak_at,
            waves: live.waves,
            sites_affected: live.sites_affected,
            confidence: live.confidence,
            sentence: live.sentence(today),
            scope: live.scope,
            regions: live.regions.clone(),
        }
    }
}

/// A site behind a provider and how it fares now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderSite {
    pub host: String,
    pub name: String,
    #[schema(schema_with = role)]
    pub role: Role,
    pub state: SiteState,
    #[schema(schema_with = cause_or_null)]
    pub cause: Option<Cause>,
    /// Failing for a reason this role explains.
    pub explained: bool,
    pub error_page_by: Option<String>,
    pub failing_since: Option<DateTime<Utc>>,
}

/// Everything known about one provider.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderDetail {
    pub id: String,
    pub name: String,
    pub health: Health,
    pub cohorts: Vec<Cohort>,
    /// Its incidents in the snapshot: open, or resolved in the last hours.
    pub incidents_now: Vec<LiveIncidentOut>,
    pub sites: Vec<ProviderSite>,
    /// Its sites' availability together.
    pub series: SeriesOut,
    /// Its stored incidents, except those open now.
    pub past_incidents: Vec<IncidentItem>,
    pub page: String,
    pub snapshot: SnapshotInfo,
}

/// One judgement on an incident's timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelinePoint {
    pub at: DateTime<Utc>,
    /// Weighted share of the cohort failing, 0 to 1.
    pub share: f64,
}

/// A marked moment: onset, detection, confirmation, peak, recovery,
/// resolution, a note.
#[derive(Debug, Serialize, ToSchema)]
pub struct Moment {
    pub at: DateTime<Utc>,
    pub label: String,
}

/// A site an incident affected.
#[derive(Debug, Serialize, ToSchema)]
pub struct AffectedSite {
    pub host: String,
    pub name: String,
    pub first_failure: DateTime<Utc>,
    pub last_failure: DateTime<Utc>,
    pub status: Option<i64>,
    #[schema(schema_with = failure_class_or_null)]
    pub failure: Option<FailureClass>,
    pub error_page_by: Option<String>,
    #[schema(schema_with = fault_side_or_null)]
    pub fault_side: Option<FaultSide>,
    #[schema(schema_with = fault_or_null)]
    pub fault: Option<Fault>,
    pub evidence: Vec<String>,
}

/// A note an administrator added to an incident.
#[derive(Debug, Serialize, ToSchema)]
pub struct Annotation {
    pub at: DateTime<Utc>,
    pub text: String,
    pub url: Option<String>,
    pub author: String,
}

/// One incident with its timeline, phases, sites, evidence and notes.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentDetail {
    pub incident: IncidentItem,
    /// The incident as of the snapshot, while it is open or recent.
    pub live: Option<LiveIncidentOut>,
    /// Share of the cohort failing over time, as judged.
    pub timeline: Vec<TimelinePoint>,
    /// The timeline was derived from the sites' first and last failures,
    /// none having been recorded.
    pub timeline_derived: bool,
    /// Watched sites behind the provider in this role now.
    pub cohort_sites: i64,
    pub moments: Vec<Moment>,
    pub affected_sites: Vec<AffectedSite>,
    /// Sample evidence, in words.
    pub evidence: Vec<String>,
    pub annotations: Vec<Annotation>,
    /// A paragraph to quote, with every figure in it.
    pub citation: String,
    /// The provider's first statement about it on its status page.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Seconds from Faultline's detection to that statement: positive
    /// when Faultline was first.
    pub lead_time_s: Option<i64>,
    /// Each update the provider published about it, oldest first.
    pub official: Vec<OfficialUpdate>,
    pub snapshot: SnapshotInfo,
}

/// One update of a provider's status page about an incident.
#[derive(Debug, Serialize, ToSchema)]
pub struct OfficialUpdate {
    pub provider: String,
    /// The provider's id for its incident.
    pub incident: String,
    pub title: String,
    #[schema(schema_with = official_status)]
    pub status: OfficialStatus,
    /// When the provider published it.
    pub at: DateTime<Utc>,
    /// When Faultline first read it.
    pub seen_at: DateTime<Utc>,
    pub text: String,
    /// The incident's page on the provider's status site.
    pub url: Option<String>,
}

impl IncidentDetail {
    pub fn of(page: &IncidentPage, origin: &str) -> Self {
        let today = page.freshness.today();
        Self {
            incident: IncidentItem::of(page.incident.clone(), origin),
            live: page
                .live
                .as_ref()
                .map(|live| LiveIncidentOut::of(live, today)),
            timeline: page
                .timeline
                .iter()
                .map(|(seconds, share)| TimelinePoint {
                    at: at(*seconds),
                    share: *share,
                })
                .collect(),
            timeline_derived: page.derived,
            cohort_sites: page.cohort,
            moments: page
                .moments()
                .into_iter()
                .map(|(at, label)| Moment { at, label })
                .collect(),
            affected_sites: page
                .sites
                .iter()
                .map(|s| AffectedSite {
                    host: s.host.clone(),
                    name: s.name.clone(),
                    first_failure: s.first_failure,
                    last_failure: s.last_failure,
                    status: s.status,
                    failure: s.failure,
                    error_page_by: s.generator.clone(),
                    fault_side: s.fault_side,
                    fault: s.fault,
                    evidence: s.evidence.clone(),
                })
                .collect(),
            evidence: page.evidence.clone(),
            annotations: page
                .annotations
                .iter()
                .map(|a| Annotation {
                    at: a.at,
                    text: a.text.clone(),
                    url: a.url.clone(),
                    author: a.author.clone(),
                })
                .collect(),
            citation: page.cite(),
            acknowledged_at: app::official::acknowledged_at(&page.official),
            lead_time_s: app::official::acknowledged_at(&page.official)
                .map(|at| (at - page.incident.detected_at).num_seconds()),
            official: page
                .official
                .iter()
                .flat_map(|view| {
                    view.updates.iter().map(|update| OfficialUpdate {
                        provider: view.provider.clone(),
                        incident: view.reference.clone(),
                        title: view.title.clone(),
                        status: update.status,
                        at: update.at,
                        seen_at: update.seen_at,
                        text: update.text.clone(),
                        url: view.url.clone(),
                    })
                })
                .collect(),
            snapshot: SnapshotInfo::from(&page.freshness),
        }
    }
}

/// A site to check now.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CheckRequest {
    /// A domain or a URL: `example.com`, `https://example.com/page`.
    #[schema(example = "example.com")]
    pub url: String,
}

/// One probe of a site, now, from this server.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckResult {
    pub host: String,
    pub url: String,
    pub ok: bool,
    pub status: Option<u16>,
    #[schema(schema_with = failure_class_or_null)]
    pub failure: Option<FailureClass>,
    pub detail: Option<String>,
    /// Who produced the error page and whose fault it is, in words.
    pub explanation: Option<String>,
    pub dns_ms: Option<i64>,
    pub ttfb_ms: Option<i64>,
    pub total_ms: Option<i64>,
    /// Providers seen, as "Name (role)".
    pub providers: Vec<String>,
}

impl From<app::ondemand::OnDemandResult> for CheckResult {
    fn from(r: app::ondemand::OnDemandResult) -> Self {
        Self {
            host: r.host,
            url: r.url,
            ok: r.ok,
            status: r.status,
            failure: r.failure,
            detail: r.detail,
            explanation: r.explanation,
            dns_ms: r.dns_ms,
            ttfb_ms: r.ttfb_ms,
            total_ms: r.total_ms,
            providers: r.providers,
        }
    }
}

/// An error page to explain.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ExplainRequest {
    /// The page's HTML (at most 256 KiB are read).
    pub html: String,
    /// The response's status line and headers, one per line, if known.
    #[serde(default)]
    pub headers: Option<String>,
}

/// The live provider incident named beside an explanation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExplainingIncident {
    pub id: i64,
    pub sentence: String,
}

/// Who generated an error page and what it says went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct Explanation {
    /// The verdict in one sentence.
    pub explanation: String,
    pub status: Option<u16>,
    /// The status was read from the page, none having been given.
    pub status_from_page: bool,
    /// The provider that produced the page, by name.
    pub provider: Option<String>,
    #[schema(schema_with = fault_side_or_null)]
    pub fault_side: Option<FaultSide>,
    pub at_fault: Option<String>,
    #[schema(schema_with = fault_or_null)]
    pub fault: Option<Fault>,
    pub confidence: f64,
    /// The confidence in words: "very likely", "likely", ...
    pub certainty: String,
    pub evidence: Vec<String>,
    /// Every provider seen, as "Name (role)".
    pub seen: Vec<String>,
    pub server_software: Option<String>,
    pub incident: Option<ExplainingIncident>,
}

impl From<app::explain::Explanation> for Explanation {
    fn from(e: app::explain::Explanation) -> Self {
        Self {
            certainty: e.certainty().to_owned(),
            explanation: e.explanation,
            status: e.status,
            status_from_page: e.status_from_page,
            provider: e.provider,
            fault_side: e.fault_side,
            at_fault: e.at_fault,
            fault: e.fault,
            confidence: e.confidence,
            evidence: e.evidence,
            seen: e.seen,
            server_software: e.server_software,
            incident: e.incident.map(|i| ExplainingIncident {
                id: i.id,
                sentence: i.sentence,
            }),
        }
    }
}

/// An error, as RFC 9457 problem details.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    pub status: u16,
    /// What went wrong, for a person.
    pub detail: String,
}
