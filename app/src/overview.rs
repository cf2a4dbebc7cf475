//! What the home page headline needs: how many sites are watched and failing.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::knowledge::provider_name;

/// The state of the watchlist as the home page reports it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    pub watched: i64,
    pub probed: i64,
    pub failing: i64,
    /// When the server answered, RFC 3339; shown so readers know how fresh it is.
    pub as_of: String,
    /// Set while our own network looks cut off: site failures are then ours.
    pub vantage: Option<VantageNotice>,
    /// Provider-wide incidents not yet resolved.
    pub incidents: Vec<ActiveIncident>,
    /// Sites failing now, most recent first.
    pub failing_sites: Vec<FailingSite>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActiveIncident {
    pub id: i64,
    pub provider: String,
    pub provider_name: String,
    pub role: engine::Role,
    pub phase: engine::Phase,
    pub onset_at: String,
    pub peak_share: f64,
    /// The share of the cohort failing at the correlator's last judgement.
    pub current_share: f64,
    pub sites_affected: i64,
    pub confidence: f64,
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
    pub since: String,
}

/// "11:21" from an RFC 3339 time.
pub fn clock_time(rfc3339: &str) -> &str {
    rfc3339.get(11..16).unwrap_or(rfc3339)
}

/// The own-network guard's verdict, when it is not "online".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VantageNotice {
    pub state: engine::VantageState,
    pub since: String,
    pub detail: String,
}

impl Overview {
    /// One sentence that answers "is something down?".
    pub fn headline(&self) -> String {
        if let Some(vantage) = &self.vantage {
            let since = vantage.since.get(11..16).unwrap_or(&vantage.since);
            return if vantage.state == engine::VantageState::Offline {
                format!(
                    "Faultline's own network connection is down since {since} UTC: failures seen now are ours, not the sites'."
                )
            } else {
                format!("Faultline's own network connection is unreliable since {since} UTC: treat failures with care.")
            };
        }
        if let Some(incident) = self.incidents.first() {
            let name = &incident.provider_name;
            let since = clock_time(&incident.onset_at);
            let now = incident.current_share * 100.0;
            let peak = incident.peak_share * 100.0;
            // The share now is the news; the peak says how bad it got.
            let peak_note = if peak - now >= 5.0 {
                format!(" (peak {peak:.0} %)")
            } else {
                String::new()
            };
            return if incident.phase == engine::Phase::Recovering {
                format!(
                    "{name}-wide outage since {since} UTC is recovering: {now:.0} % of watched {name} sites still failing{peak_note}."
                )
            } else {
                format!(
                    "Likely {name}-wide outage since {since} UTC: {now:.0} % of watched {name} sites failing{peak_note}."
                )
            };
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
                "{} of {} probed sites are failing.",
                self.failing, self.probed
            )
        }
    }
}

/// The overview for a page's live updates, from the short memo.
#[server]
pub async fn poll_overview() -> Result<Overview, AppError> {
    crate::live::memoised((), get_overview()).await
}

#[server]
pub async fn get_overview() -> Result<Overview, AppError> {
    let store = expect_context::<store::Store>();
    let summary = store.site_summary().await?;
    let vantage = store
        .current_vantage_event()
        .await?
        .map(|event| VantageNotice {
            state: event.state,
            since: event
                .started_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            detail: event.detail,
        });
    let rfc3339 =
        |at: chrono::DateTime<chrono::Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let incidents = store
        .active_provider_incidents()
        .await?
        .into_iter()
        .map(|incident| ActiveIncident {
            id: incident.id,
            provider_name: provider_name(incident.provider.as_deref().unwrap_or_default()),
            provider: incident.provider.unwrap_or_default(),
            role: incident.role.unwrap_or_default(),
            phase: incident.phase,
            onset_at: rfc3339(incident.onset_at),
            peak_share: incident.peak_share.unwrap_or_default(),
            current_share: serde_json::from_str::<Vec<(chrono::DateTime<chrono::Utc>, f64)>>(
                &incident.timeline,
            )
            // A timeline that does not read leaves the peak as the latest figure.
            .ok()
            .and_then(|timeline| timeline.last().map(|(_, share)| *share))
            .unwrap_or(incident.peak_share.unwrap_or_default()),
            sites_affected: incident.sites_affected,
            confidence: incident.confidence.unwrap_or_default(),
        })
        .collect();
    let failing_sites = store
        .failing_sites(10)
        .await?
        .into_iter()
        .map(|site| FailingSite {
            name: site.name,
            host: site.host,
            what: engine::Cause::of(site.fault, site.failure),
            provider_name: site.provider.as_deref().map(provider_name),
            provider: site.provider,
            since: rfc3339(site.since),
        })
        .collect();
    Ok(Overview {
        vantage,
        incidents,
        failing_sites,
        watched: summary.watched,
        probed: summary.probed,
        failing: summary.failing,
        as_of: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}
