//! What the home page headline needs: how many sites are watched and failing.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

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
}

/// The own-network guard's verdict, when it is not "online".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VantageNotice {
    pub state: String,
    pub since: String,
    pub detail: String,
}

impl Overview {
    /// One sentence that answers "is something down?".
    pub fn headline(&self) -> String {
        if let Some(vantage) = &self.vantage {
            let since = vantage.since.get(11..16).unwrap_or(&vantage.since);
            return if vantage.state == "offline" {
                format!(
                    "Faultline's own network connection is down since {since} UTC: failures seen now are ours, not the sites'."
                )
            } else {
                format!("Faultline's own network connection is unreliable since {since} UTC: treat failures with care.")
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

#[server]
pub async fn get_overview() -> Result<Overview, ServerFnError> {
    let store = expect_context::<store::Store>();
    let summary = store.site_summary().await.map_err(|error| {
        tracing::error!(%error, "overview query failed");
        ServerFnError::new("the overview is unavailable right now")
    })?;
    let vantage = store
        .current_vantage_event()
        .await
        .map_err(|error| {
            tracing::error!(%error, "vantage query failed");
            ServerFnError::new("the overview is unavailable right now")
        })?
        .map(|event| VantageNotice {
            state: event.state,
            since: event
                .started_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            detail: event.detail,
        });
    Ok(Overview {
        vantage,
        watched: summary.watched,
        probed: summary.probed,
        failing: summary.failing,
        as_of: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}
