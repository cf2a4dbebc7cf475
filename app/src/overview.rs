//! What the home page needs: the headline, the incidents, the provider
//! cards and the failing sites, all from one snapshot.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::incident::LiveIncident;
#[cfg(feature = "ssr")]
use crate::knowledge::provider_name;
use crate::provider::Cohort;
use crate::status::Freshness;
use crate::words;

/// The state of the watchlist as the home page reports it: every figure
/// from one snapshot.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    pub freshness: Freshness,
    /// Sites on the watchlist.
    pub watched: i64,
    /// Sites with a fresh, trusted probe.
    pub probed: u32,
    /// Of those, failing.
    pub failing: u32,
    /// Set while our own network looks cut off: site failures are then ours.
    pub vantage: Option<VantageNotice>,
    /// Our resolvers failing while another answers: probes go on through
    /// the others.
    pub resolvers_failing: Vec<ResolverNotice>,
    /// Provider-wide incidents still open, then those resolved in the last
    /// hours (with their tails).
    pub incidents: Vec<LiveIncident>,
    /// Every provider and role with watched sites, largest first.
    pub cohorts: Vec<Cohort>,
    /// Sites failing now, most recent first.
    pub failing_sites: Vec<FailingSite>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailingSite {
    pub name: String,
    pub host: String,
    /// The fault in the project's vocabulary, or the probe's failure class.
    pub what: Option<engine::Cause>,
    /// The provider that made the error page.
    pub provider: Option<String>,
    pub provider_name: Option<String>,
    pub since: DateTime<Utc>,
}

/// The own-network guard's verdict, when it is not "online".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResolverNotice {
    /// The resolver as configured (`ip:port`).
    pub resolver: String,
    pub since: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VantageNotice {
    pub state: engine::VantageState,
    pub since: DateTime<Utc>,
    pub detail: String,
}

/// How many failing sites the home page lists.
#[cfg(feature = "ssr")]
const FAILING_LISTED: usize = 10;

impl Overview {
    /// Open incidents.
    pub fn open(&self) -> impl Iterator<Item = &LiveIncident> {
        self.incidents.iter().filter(|i| i.phase.is_open())
    }

    /// Incidents resolved in the last hours.
    pub fn recently_resolved(&self) -> impl Iterator<Item = &LiveIncident> {
        self.incidents.iter().filter(|i| !i.phase.is_open())
    }

    /// What a failing resolver of ours means, in one sentence; `None` while
    /// every resolver answers.
    pub fn resolver_notice(&self) -> Option<String> {
        let today = self.freshness.today();
        let first = self.resolvers_failing.first()?;
        let which = self
            .resolvers_failing
            .iter()
            .map(|r| r.resolver.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        Some(format!(
            "Faultline's own DNS resolver {which} has been failing since {}; probes go on \
             through its other resolver, so this says nothing about the sites.",
            words::when(first.since, today)
        ))
    }

    /// One sentence that answers "is something down?".
    pub fn headline(&self) -> String {
        let today = self.freshness.today();
        if let Some(vantage) = &self.vantage {
            let since = words::when(vantage.since, today);
            return if vantage.state == engine::VantageState::Offline {
                format!(
                    "Faultline's own network connection is down since {since}: failures seen now are ours, not the sites'."
                )
            } else {
                format!("Faultline's own network connection is unreliable since {since}: treat failures with care.")
            };
        }
        if let Some(incident) = self.open().next() {
            return incident.sentence(today);
        }
        if self.freshness.stale {
            return format!(
                "No recent probes: the last were judged {} ago, so whether sites are up now is not known.",
                words::age(self.freshness.age_seconds().unwrap_or_default())
            );
        }
        if self.watched == 0 {
            "No sites are watched yet.".to_owned()
        } else if self.probed == 0 {
            format!(
                "Watching {} sites; the first probes are on their way.",
                self.watched
            )
        } else if self.failing == 0 {
            format!(
                "All clear: every one of the {} probed sites answered.",
                self.probed
            )
        } else {
            format!(
                "{} of {} probed sites are failing, none of them in a provider-wide outage.",
                self.failing, self.probed
            )
        }
    }

    /// For the document title: the outage, or the plain name.
    pub fn title(&self) -> String {
        match self.open().next() {
            Some(incident) => format!(
                "{}-wide outage: {} failing · Faultline",
                incident.provider_name,
                incident.now.short()
            ),
            None => "Faultline: is it down, and whose fault is it?".to_owned(),
        }
    }
}

/// The overview for a page's live updates, from the short memo.
#[server]
pub async fn poll_overview() -> Result<Overview, AppError> {
    let version = expect_context::<crate::status::Status>().version();
    crate::live::memoised(version, get_overview()).await
}

#[server]
pub async fn get_overview() -> Result<Overview, AppError> {
    let store = expect_context::<store::Store>();
    let status = expect_context::<crate::status::Status>();
    let snapshot = status.snapshot();
    let freshness = status.freshness(&snapshot);
    let summary = store.site_summary().await?;
    let vantage = match snapshot.vantage {
        engine::VantageState::Offline | engine::VantageState::Degraded => store
            .current_vantage_event()
            .await?
            .map(|event| VantageNotice {
                state: event.state,
                since: event.started_at,
                detail: event.detail,
            }),
        _ => None,
    };
    let incidents = crate::incident::live_incidents(&store, &snapshot).await?;
    let cohorts = crate::provider::cohorts(&snapshot);
    let current = |site: &&engine::correlate::SiteNow| !site.stale && !site.suspect;
    let probed = snapshot.sites.values().filter(current).count();
    let mut failing: Vec<(i64, &engine::correlate::SiteNow)> = snapshot
        .sites
        .iter()
        .filter(|(_, site)| current(site) && !site.ok)
        .map(|(id, site)| (*id, site))
        .collect();
    failing.sort_by_key(|(id, site)| (std::cmp::Reverse(site.failing_since), *id));
    let listed: Vec<i64> = failing
        .iter()
        .take(FAILING_LISTED)
        .map(|(id, _)| *id)
        .collect();
    let names: std::collections::HashMap<i64, store::Site> = store
        .watched_sites(&listed)
        .await?
        .into_iter()
        .map(|site| (site.id, site))
        .collect();
    let failing_sites = failing
        .iter()
        .take(FAILING_LISTED)
        .filter_map(|(id, now)| {
            let site = names.get(id)?;
            Some(FailingSite {
                name: site.name.clone(),
                host: site.host.clone(),
                what: now.cause,
                provider_name: now.generator.as_deref().map(provider_name),
                provider: now.generator.clone(),
                since: now.failing_since.unwrap_or(now.at),
            })
        })
        .collect();
    Ok(Overview {
        freshness,
        watched: summary.watched,
        probed: u32::try_from(probed).unwrap_or(u32::MAX),
        failing: u32::try_from(failing.len()).unwrap_or(u32::MAX),
        vantage,
        resolvers_failing: snapshot
            .resolvers_failing
            .iter()
            .map(|r| ResolverNotice {
                resolver: r.resolver.clone(),
                since: r.since,
            })
            .collect(),
        incidents,
        cohorts,
        failing_sites,
    })
}
