//! Providers: the home page grid and one provider's page.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::incident::{IncidentSummary, LiveIncident};
#[cfg(feature = "ssr")]
use crate::knowledge::provider_name;
use crate::site::{Series, Window};
use crate::status::Freshness;

/// A provider in one role and how its watched sites fare now, as of the
/// snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cohort {
    pub provider: String,
    pub provider_name: String,
    pub role: engine::Role,
    /// Watched sites it serves in this role.
    pub sites: u32,
    /// Sites failing for a reason this role explains (edge errors for a
    /// CDN, failed lookups for DNS), of those with a fresh probe.
    pub tally: engine::Tally,
    /// Sites failing for another reason, such as their own servers.
    pub failing_otherwise: u32,
    /// Its open provider-wide incident.
    pub incident: Option<i64>,
}

impl Cohort {
    /// "All 60 answering", "54 of 60 failing (90 %)", with what failing
    /// means for the role.
    pub fn health(&self) -> String {
        let tally = self.tally;
        if tally.of == 0 {
            "Not probed yet".to_owned()
        } else if tally.failing == 0 {
            match self.role {
                engine::Role::Dns => format!("All {} resolving", tally.of),
                _ => format!("All {} answering", tally.of),
            }
        } else {
            let what = match self.role {
                engine::Role::Dns => "failing to resolve",
                engine::Role::Host => "failing at their servers",
                _ => "failing at its edge",
            };
            format!("{} {what}", tally.short())
        }
    }

    /// "down" (an open incident), "degraded" (some failing) or "up", for
    /// the card's colour and pattern.
    pub fn health_class(&self) -> &'static str {
        if self.incident.is_some() {
            "down"
        } else if self.tally.failing > 0 {
            "degraded"
        } else {
            "up"
        }
    }
}

/// The snapshot's cohorts as the pages show them.
#[cfg(feature = "ssr")]
pub fn cohorts(snapshot: &engine::correlate::Snapshot) -> Vec<Cohort> {
    let ids: std::collections::HashMap<usize, i64> = snapshot
        .incidents
        .iter()
        .filter_map(|incident| Some((incident.key, incident.id?)))
        .collect();
    snapshot
        .cohorts
        .iter()
        .map(|c| Cohort {
            provider_name: provider_name(&c.provider),
            provider: c.provider.clone(),
            role: c.role,
            sites: c.members,
            tally: c.tally,
            failing_otherwise: c.failing_otherwise,
            incident: c.incident.and_then(|key| ids.get(&key).copied()),
        })
        .collect()
}

/// A site behind the provider.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CohortSite {
    pub host: String,
    pub name: String,
    pub role: engine::Role,
    /// Its latest probe, as of the snapshot; none before the first.
    pub ok: Option<bool>,
    pub suspect: bool,
    pub what: Option<engine::Cause>,
    /// Failing for a reason this role explains.
    pub explained: bool,
    /// The provider that made the error page.
    pub generator: Option<String>,
    pub generator_name: Option<String>,
    pub since: Option<DateTime<Utc>>,
}

impl CohortSite {
    /// "up", "down: edge error", "failing, but not at DNS: edge error".
    pub fn state(&self) -> String {
        let what = self.what.map_or("failure", engine::Cause::plain);
        match (self.ok, self.suspect, self.explained) {
            (None, _, _) => "not probed yet".to_owned(),
            (Some(true), _, _) => "up".to_owned(),
            (Some(false), true, _) => "unknown (own network down)".to_owned(),
            (Some(false), false, true) => format!("down: {what}"),
            (Some(false), false, false) => {
                let role = match self.role {
                    engine::Role::Dns => "its DNS",
                    engine::Role::Host => "its host",
                    _ => "this edge",
                };
                format!("failing, but not at {role}: {what}")
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProviderPage {
    pub id: String,
    /// This server takes email subscriptions.
    #[serde(default)]
    pub email_alerts: bool,
    pub name: String,
    pub freshness: Freshness,
    pub cohorts: Vec<Cohort>,
    /// Its incidents in the snapshot: open, or resolved in the last hours.
    pub live: Vec<LiveIncident>,
    pub sites: Vec<CohortSite>,
    pub window: Window,
    pub series: Series,
    /// Its stored incidents, except those open now.
    pub past: Vec<IncidentSummary>,
    /// What its own status page says.
    #[serde(default)]
    pub official: OfficialNow,
}

/// A provider's own status page as Faultline last read it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OfficialNow {
    /// The page people read, when the knowledge base knows one.
    pub page: Option<String>,
    /// Its latest incidents, newest first.
    pub latest: Vec<crate::official::OfficialView>,
    /// When it was last read successfully.
    pub read_at: Option<DateTime<Utc>>,
    /// Why the last read failed, if it did.
    pub error: Option<String>,
}

impl OfficialNow {
    /// Its incidents the provider still calls open.
    pub fn open(&self) -> Vec<&crate::official::OfficialView> {
        self.latest.iter().filter(|view| view.is_open()).collect()
    }
}

/// A provider page's live updates, from the short memo.
#[server]
pub async fn poll_provider(id: String, window: String) -> Result<ProviderPage, AppError> {
    // One key per page: the id as looked up, a window the page knows.
    let window = Window::parse(&window).key().to_owned();
    let key = (id.to_ascii_lowercase(), window.clone());
    crate::live::memoised(key, get_provider(id, window)).await
}

#[server]
pub async fn get_provider(id: String, window: String) -> Result<ProviderPage, AppError> {
    let store = expect_context::<store::Store>();
    let status = expect_context::<crate::status::Status>();
    let snapshot = status.snapshot();
    let freshness = status.freshness(&snapshot);
    let id = id.to_ascii_lowercase();
    let all = cohorts(&snapshot);
    let implicated: std::collections::HashSet<(engine::Role, i64)> = snapshot
        .cohorts
        .iter()
        .filter(|c| c.provider == id)
        .flat_map(|c| c.implicated.iter().map(move |site| (c.role, *site)))
        .collect();
    let cohorts: Vec<Cohort> = all.into_iter().filter(|c| c.provider == id).collect();
    let live: Vec<LiveIncident> = crate::incident::live_incidents(&store, &snapshot)
        .await?
        .into_iter()
        .filter(|incident| incident.provider == id)
        .collect();
    let open: Vec<i64> = live
        .iter()
        .filter(|incident| incident.phase.is_open())
        .filter_map(|incident| incident.id)
        .collect();
    let past: Vec<IncidentSummary> = store
        .provider_incidents(Some(&id), 100)
        .await?
        .into_iter()
        .filter(|incident| !open.contains(&incident.id))
        .map(|i| IncidentSummary::from_store(crate::incident::as_of_snapshot(i, &snapshot), None))
        .collect();
    if cohorts.is_empty() && past.is_empty() && live.is_empty() {
        return Err(AppError::not_found(
            "No watched site is attributed to this provider.",
        ));
    }
    let sites = store
        .provider_sites(&id)
        .await?
        .into_iter()
        .map(|s| {
            let now = snapshot.sites.get(&s.site_id).filter(|now| !now.stale);
            CohortSite {
                host: s.host,
                name: s.name,
                role: s.role,
                ok: now.map(|now| now.ok),
                suspect: now.is_some_and(|now| now.suspect),
                what: now.and_then(|now| now.cause),
                explained: implicated.contains(&(s.role.cohort(), s.site_id)),
                generator_name: now.and_then(|now| now.generator.as_deref().map(provider_name)),
                generator: now.and_then(|now| now.generator.clone()),
                since: now.and_then(|now| now.failing_since),
            }
        })
        .collect();
    let now = freshness.now;
    let window = Window::parse(&window);
    // Summing hundreds of sites' minute rollups would read hundreds of
    // thousands of rows: a cohort's day is drawn in hours.
    let (resolution, bin) = match window {
        Window::Day => (store::Resolution::Hour, 3_600),
        other => (other.resolution(), other.span_and_bin().1),
    };
    let (span, _) = window.span_and_bin();
    let latest = snapshot.data_until.unwrap_or(now);
    let until = (latest.timestamp().div_euclid(bin) + 1) * bin;
    let from = until - span;
    let at = |seconds: i64| DateTime::<Utc>::from_timestamp(seconds, 0).unwrap_or(now);
    let rows = store
        .provider_rollups(&id, resolution, at(from), at(until))
        .await?;
    let series = Series::from_rollups(from, until, bin, rows);
    let source = store.status_source_of(&id).await?;
    let official = OfficialNow {
        page: crate::knowledge::status_page(&id),
        latest: store
            .statements_of_provider(&id, 5)
            .await?
            .into_iter()
            .map(crate::official::OfficialView::from_store)
            .collect(),
        read_at: source.as_ref().and_then(|source| source.ok_at),
        error: source.and_then(|source| source.error),
    };
    Ok(ProviderPage {
        official,
        email_alerts: crate::subscribe::email_offered(),
        name: provider_name(&id),
        id,
        freshness,
        cohorts,
        live,
        sites,
        window,
        series,
        past,
    })
}
