//! Providers: the home page grid and one provider's page.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::incident::IncidentSummary;
#[cfg(feature = "ssr")]
use crate::knowledge::provider_name;
use crate::site::{Series, Window};

/// A provider in one role and how its watched sites fare now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cohort {
    pub provider: String,
    pub provider_name: String,
    pub role: engine::Role,
    pub sites: i64,
    pub probed: i64,
    pub failing: i64,
    /// Failing with an error page this provider generated.
    pub failing_here: i64,
}

impl Cohort {
    /// "Healthy", "3 of 60 failing" ...
    pub fn health(&self) -> String {
        if self.probed == 0 {
            "Not probed yet".to_owned()
        } else if self.failing == 0 {
            format!("All {} answering", self.probed)
        } else {
            format!("{} of {} failing", self.failing, self.probed)
        }
    }
}

/// A site behind the provider.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CohortSite {
    pub host: String,
    pub name: String,
    pub role: engine::Role,
    pub ok: Option<bool>,
    pub suspect: bool,
    pub what: Option<engine::Cause>,
    /// The provider that made the error page.
    pub generator: Option<String>,
    pub generator_name: Option<String>,
    pub since: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProviderPage {
    pub id: String,
    pub name: String,
    pub cohorts: Vec<Cohort>,
    pub sites: Vec<CohortSite>,
    pub window: Window,
    pub series: Series,
    pub incidents: Vec<IncidentSummary>,
    pub as_of: DateTime<Utc>,
}

#[cfg(feature = "ssr")]
fn cohort(c: store::ProviderCohort) -> Cohort {
    Cohort {
        provider_name: provider_name(&c.provider),
        provider: c.provider,
        role: c.role,
        sites: c.sites,
        probed: c.probed,
        failing: c.failing,
        failing_here: c.failing_here,
    }
}

/// The provider grid for a page's live updates, from the short memo.
#[server]
pub async fn poll_providers() -> Result<Vec<Cohort>, AppError> {
    crate::live::memoised((), list_providers()).await
}

/// Every provider and role with watched sites, largest first.
#[server]
pub async fn list_providers() -> Result<Vec<Cohort>, AppError> {
    let store = expect_context::<store::Store>();
    Ok(store
        .provider_cohorts()
        .await?
        .into_iter()
        .map(cohort)
        .collect())
}

#[server]
pub async fn get_provider(id: String, window: String) -> Result<ProviderPage, AppError> {
    let store = expect_context::<store::Store>();
    let id = id.to_ascii_lowercase();
    let all = store.provider_cohorts().await?;
    let latest = all
        .iter()
        .filter(|c| c.provider == id)
        .filter_map(|c| c.latest_probe)
        .max();
    let cohorts: Vec<Cohort> = all
        .into_iter()
        .filter(|c| c.provider == id)
        .map(cohort)
        .collect();
    let incidents: Vec<IncidentSummary> = store
        .provider_incidents(Some(&id), 100)
        .await?
        .into_iter()
        .map(|i| IncidentSummary::from_store(i, None))
        .collect();
    if cohorts.is_empty() && incidents.is_empty() {
        return Err(AppError::not_found(
            "No watched site is attributed to this provider.",
        ));
    }
    let sites = store
        .provider_sites(&id)
        .await?
        .into_iter()
        .map(|s| CohortSite {
            host: s.host,
            name: s.name,
            role: s.role,
            ok: s.ok,
            suspect: s.suspect.unwrap_or(false),
            what: engine::Cause::of(s.fault, s.failure),
            generator_name: s.generator.as_deref().map(provider_name),
            generator: s.generator,
            since: s.since,
        })
        .collect();
    let now = Utc::now();
    let window = Window::parse(&window);
    // Summing hundreds of sites' minute rollups would read hundreds of
    // thousands of rows: a cohort's day is drawn in hours.
    let (resolution, bin) = match window {
        Window::Day => (store::Resolution::Hour, 3_600),
        other => (other.resolution(), other.span_and_bin().1),
    };
    let (span, _) = window.span_and_bin();
    let until = (latest.unwrap_or(now).timestamp().div_euclid(bin) + 1) * bin;
    let from = until - span;
    let at = |seconds: i64| DateTime::<Utc>::from_timestamp(seconds, 0).unwrap_or(now);
    let rows = store
        .provider_rollups(&id, resolution, at(from), at(until))
        .await?;
    let series = Series::from_rollups(from, until, bin, rows);
    Ok(ProviderPage {
        name: provider_name(&id),
        id,
        cohorts,
        sites,
        window,
        series,
        incidents,
        as_of: now,
    })
}
