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
}

impl Overview {
    /// One sentence that answers "is something down?".
    pub fn headline(&self) -> String {
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
    Ok(Overview {
        watched: summary.watched,
        probed: summary.probed,
        failing: summary.failing,
        as_of: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}
