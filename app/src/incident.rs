//! Incidents as the list, the incident page and its citation show them.

use chrono::{DateTime, Utc};
use engine::{IncidentKind, Pattern, Role};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::chart::{Moment, TimeChart, YUnit};
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::knowledge::provider_name;
use crate::words;

/// An incident without its evidence and timeline: for lists and links.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentSummary {
    pub id: i64,
    /// `provider` or `site`.
    pub kind: engine::IncidentKind,
    pub provider: Option<String>,
    pub provider_name: Option<String>,
    pub role: Option<engine::Role>,
    /// The site of a site incident.
    pub site: Option<String>,
    pub phase: engine::Phase,
    pub pattern: engine::Pattern,
    pub fault: Option<engine::Cause>,
    pub onset_at: DateTime<Utc>,
    pub detected_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub peak_share: Option<f64>,
    pub peak_at: Option<DateTime<Utc>>,
    pub recovering_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub confidence: Option<f64>,
    pub sites_affected: i64,
    pub explained_by: Option<i64>,
}

impl IncidentSummary {
    #[cfg(feature = "ssr")]
    pub fn from_store(incident: store::Incident, site: Option<String>) -> Self {
        Self {
            id: incident.id,
            site: (incident.kind == engine::IncidentKind::Site)
                .then_some(site)
                .flatten(),
            kind: incident.kind,
            provider_name: incident.provider.as_deref().map(provider_name),
            provider: incident.provider,
            role: incident.role,
            phase: incident.phase,
            pattern: incident.pattern,
            fault: incident.fault,
            onset_at: incident.onset_at,
            detected_at: incident.detected_at,
            confirmed_at: incident.confirmed_at,
            peak_share: incident.peak_share,
            peak_at: incident.peak_at,
            recovering_at: incident.recovering_at,
            resolved_at: incident.resolved_at,
            confidence: incident.confidence,
            sites_affected: incident.sites_affected,
            explained_by: incident.explained_by,
        }
    }

    /// "Cloudflare (CDN) outage" or "example.com down".
    pub fn title(&self) -> String {
        match (self.kind, &self.provider_name, &self.site) {
            (IncidentKind::Provider, Some(name), _) => format!(
                "{name}-wide {} outage",
                self.role.map_or("provider", Role::as_str).to_uppercase()
            ),
            (_, _, Some(site)) => format!("{site} down"),
            _ => format!("Incident {}", self.id),
        }
    }

    /// How long it lasted, or has lasted by `now`.
    pub fn duration(&self, now: DateTime<Utc>) -> String {
        let end = self.resolved_at.unwrap_or(now);
        let text = words::duration((end - self.onset_at).num_seconds());
        if self.resolved_at.is_some() {
            text
        } else {
            format!("{text} so far")
        }
    }

    pub fn is_open(&self) -> bool {
        self.phase.is_open()
    }
}

/// A site affected by a provider incident, with its sample evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AffectedSite {
    pub host: String,
    pub name: String,
    pub first_failure: DateTime<Utc>,
    pub last_failure: DateTime<Utc>,
    pub status: Option<i64>,
    pub failure: Option<engine::FailureClass>,
    /// The provider that made the error page.
    pub generator: Option<String>,
    pub generator_name: Option<String>,
    pub fault_side: Option<engine::FaultSide>,
    pub fault: Option<engine::Fault>,
    pub evidence: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnnotationView {
    pub at: DateTime<Utc>,
    pub text: String,
    pub url: Option<String>,
    pub author: String,
}

/// Everything the incident page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentPage {
    pub incident: IncidentSummary,
    pub evidence: Vec<String>,
    /// (Unix seconds, share of the cohort implicated), as judged.
    pub timeline: Vec<(i64, f64)>,
    /// True when the timeline was derived from the affected sites' first
    /// and last failures because none was recorded.
    pub derived: bool,
    /// Watched sites behind the provider in this role now.
    pub cohort: i64,
    pub sites: Vec<AffectedSite>,
    pub annotations: Vec<AnnotationView>,
    /// "http://host:port" as the request named it, for the permalink.
    pub origin: String,
    pub as_of: DateTime<Utc>,
}

/// The share of `cohort` between their first and last failure at each
/// change: a stand-in when the correlator's own timeline is missing.
pub fn derived_share(spans: &[(i64, i64)], cohort: i64) -> Vec<(i64, f64)> {
    if cohort <= 0 {
        return Vec::new();
    }
    let mut changes: Vec<(i64, i64)> = spans
        .iter()
        .flat_map(|(first, last)| [(*first, 1), (*last + 1, -1)])
        .collect();
    changes.sort_unstable();
    let mut active = 0;
    let mut points: Vec<(i64, f64)> = Vec::new();
    for (at, change) in changes {
        active += change;
        let share = active as f64 / cohort as f64;
        match points.last_mut() {
            Some(last) if last.0 == at => last.1 = share,
            _ => points.push((at, share)),
        }
    }
    points
}

/// Joins moments closer than `within` seconds into one label, so labels
/// drawn at the same place do not overlap: "Onset / Detected".
pub fn merge_close(moments: Vec<Moment>, within: i64) -> Vec<Moment> {
    let mut merged: Vec<Moment> = Vec::new();
    for moment in moments {
        match merged.last_mut() {
            Some(last) if moment.at - last.at < within => {
                last.label = format!("{} / {}", last.label, moment.label);
            }
            _ => merged.push(moment),
        }
    }
    merged
}

/// Separate waves above half the peak share.
pub fn waves(timeline: &[(i64, f64)]) -> usize {
    let peak = timeline.iter().map(|(_, s)| *s).fold(0.0, f64::max);
    if peak <= 0.0 {
        return 0;
    }
    let mut above = false;
    let mut count = 0;
    for (_, share) in timeline {
        let now_above = *share >= peak / 2.0;
        if now_above && !above {
            count += 1;
        }
        above = now_above;
    }
    count
}

impl IncidentPage {
    pub fn permalink(&self) -> String {
        format!("{}/incident/{}", self.origin, self.incident.id)
    }

    /// A paragraph a journalist can paste, with every figure in it.
    pub fn cite(&self) -> String {
        let i = &self.incident;
        let mut text = format!(
            "Faultline observed a {} starting at {} (first failing probe), detected at {}",
            i.title(),
            words::utc(i.onset_at),
            words::utc(i.detected_at),
        );
        match i.resolved_at {
            Some(end) => text.push_str(&format!(
                " and resolved at {} ({}).",
                words::utc(end),
                i.duration(self.as_of)
            )),
            None => text.push_str(&format!(
                "; still {} as of {}.",
                i.phase,
                words::utc(self.as_of)
            )),
        }
        if let (Some(share), Some(at)) = (i.peak_share, i.peak_at) {
            text.push_str(&format!(
                " At its peak at {}, {} of the watched sites served by {} were failing",
                words::utc(at),
                words::percent(share),
                i.provider_name.as_deref().unwrap_or_default(),
            ));
            if self.cohort > 0 {
                text.push_str(&format!(" ({} sites watched now)", self.cohort));
            }
            text.push(';');
        }
        text.push_str(&format!(" {} sites were affected", i.sites_affected));
        if let Some(confidence) = i.confidence {
            text.push_str(&format!(
                "; confidence in the attribution {}",
                words::percent(confidence)
            ));
        }
        if i.pattern == Pattern::Intermittent {
            text.push_str("; the failures were intermittent");
        }
        text.push_str(&format!(
            ". Source: Faultline incident #{}, {}",
            i.id,
            self.permalink()
        ));
        text
    }

    /// The key moments, in time order.
    pub fn moments(&self) -> Vec<(DateTime<Utc>, String)> {
        let i = &self.incident;
        let mut moments = vec![
            (i.onset_at, "Onset".to_owned()),
            (i.detected_at, "Detected".to_owned()),
        ];
        if let Some(at) = i.confirmed_at.filter(|at| *at != i.detected_at) {
            moments.push((at, "Confirmed".to_owned()));
        }
        if let (Some(at), Some(share)) = (i.peak_at, i.peak_share) {
            moments.push((at, format!("Peak {}", words::percent(share))));
        }
        if let Some(at) = i.recovering_at {
            moments.push((at, "Recovering".to_owned()));
        }
        if let Some(at) = i.resolved_at {
            moments.push((at, "Resolved".to_owned()));
        }
        for (n, note) in self.annotations.iter().enumerate() {
            moments.push((note.at, format!("Note {}", n + 1)));
        }
        moments.sort_by_key(|(at, _)| *at);
        moments
    }

    /// The share of affected sites over time with the moments marked.
    pub fn chart(&self) -> TimeChart {
        let i = &self.incident;
        let mut start = i.onset_at.timestamp();
        let mut end = i
            .resolved_at
            .unwrap_or(i.detected_at)
            .timestamp()
            .max(self.timeline.last().map_or(start, |p| p.0))
            .max(
                self.sites
                    .iter()
                    .map(|s| s.last_failure.timestamp())
                    .max()
                    .unwrap_or(start),
            );
        for note in &self.annotations {
            start = start.min(note.at.timestamp());
            end = end.max(note.at.timestamp());
        }
        let pad = ((end - start) / 12).max(120);
        let (from, until) = (start - pad, end + pad);
        let mut line = self.timeline.clone();
        if let Some(first) = line.first().copied() {
            // Nothing was failing before the onset.
            line.insert(0, (start.min(first.0), 0.0));
            line.insert(0, (from, 0.0));
        }
        let peak = line.iter().map(|(_, s)| *s).fold(0.0, f64::max);
        let summary = format!(
            "The share of {}'s watched sites failing, {} from {} to {}; peak {}.",
            i.provider_name.as_deref().unwrap_or_default(),
            if self.derived {
                "derived from each affected site's first and last failure"
            } else {
                "as the correlator judged it every few seconds"
            },
            words::utc(i.onset_at),
            i.resolved_at.map_or_else(|| "now".to_owned(), words::utc),
            words::percent(i.peak_share.unwrap_or(peak)),
        );
        TimeChart {
            id: format!("incident-{}", i.id),
            title: "Share of sites failing over time".to_owned(),
            summary,
            from,
            until,
            y_max: 1.0,
            y_unit: YUnit::Percent,
            line,
            step: true,
            moments: merge_close(
                self.moments()
                    .into_iter()
                    .map(|(at, label)| Moment {
                        at: at.timestamp(),
                        label,
                    })
                    .collect(),
                (until - from) / 14,
            ),
            ..TimeChart::default()
        }
    }
}

/// Confirmed provider incidents, newest first.
#[server]
pub async fn list_incidents() -> Result<Vec<IncidentSummary>, AppError> {
    let store = expect_context::<store::Store>();
    Ok(store
        .provider_incidents(None, 200)
        .await?
        .into_iter()
        .map(|i| IncidentSummary::from_store(i, None))
        .collect())
}

/// An incident page's live updates, from the short memo.
#[server]
pub async fn poll_incident(id: i64) -> Result<IncidentPage, AppError> {
    crate::live::memoised(id, get_incident(id)).await
}

#[server]
pub async fn get_incident(id: i64) -> Result<IncidentPage, AppError> {
    let store = expect_context::<store::Store>();
    let Some(stored) = store.incident(id).await? else {
        return Err(AppError::not_found("No such incident."));
    };
    let site = match stored.site_id {
        Some(site_id) => store.site(site_id).await?.map(|s| s.host),
        None => None,
    };
    let evidence = words::evidence(Some(&stored.evidence));
    let recorded: Vec<(DateTime<Utc>, f64)> =
        serde_json::from_str(&stored.timeline).unwrap_or_default();
    let incident = IncidentSummary::from_store(stored, site);
    let sites: Vec<AffectedSite> = store
        .incident_sites(id)
        .await?
        .into_iter()
        .map(|s| AffectedSite {
            evidence: words::evidence(s.evidence.as_deref()),
            host: s.host,
            name: s.name,
            first_failure: s.first_failure,
            last_failure: s.last_failure,
            status: s.status,
            failure: s.failure,
            generator_name: s.generator.as_deref().map(provider_name),
            generator: s.generator,
            fault_side: s.fault_side,
            fault: s.fault,
        })
        .collect();
    let cohort = match (&incident.provider, &incident.role) {
        (Some(provider), Some(role)) => store
            .provider_cohorts()
            .await?
            .into_iter()
            .filter(|c| &c.provider == provider && c.role.cohort() == *role)
            .map(|c| c.sites)
            .sum(),
        _ => 0,
    };
    let mut timeline: Vec<(i64, f64)> = recorded
        .into_iter()
        .map(|(at, share)| (at.timestamp(), share))
        .collect();
    let derived = timeline.is_empty();
    if derived {
        let spans: Vec<(i64, i64)> = sites
            .iter()
            .map(|s| (s.first_failure.timestamp(), s.last_failure.timestamp()))
            .collect();
        timeline = derived_share(&spans, cohort.max(sites.len() as i64));
    }
    let annotations = store
        .annotations(id)
        .await?
        .into_iter()
        .map(|a| AnnotationView {
            at: a.at,
            text: a.text,
            url: a.url,
            author: a.author,
        })
        .collect();
    Ok(IncidentPage {
        incident,
        evidence,
        timeline,
        derived,
        cohort,
        sites,
        annotations,
        origin: crate::origin::request_origin(),
        as_of: Utc::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_share_counts_sites_between_first_and_last_failure() {
        let points = derived_share(&[(10, 20), (15, 30)], 4);
        assert_eq!(points, [(10, 0.25), (15, 0.5), (21, 0.25), (31, 0.0)]);
        assert!(derived_share(&[(1, 2)], 0).is_empty());
    }

    #[test]
    fn close_moments_share_one_label() {
        let moment = |at, label: &str| Moment {
            at,
            label: label.to_owned(),
        };
        let merged = merge_close(
            vec![
                moment(0, "Onset"),
                moment(20, "Detected"),
                moment(500, "Resolved"),
            ],
            60,
        );
        assert_eq!(
            merged,
            [moment(0, "Onset / Detected"), moment(500, "Resolved")]
        );
    }

    #[test]
    fn waves_count_rises_above_half_the_peak() {
        let steady = [(0, 0.1), (1, 0.8), (2, 0.9), (3, 0.1)];
        assert_eq!(waves(&steady), 1);
        let intermittent = [(0, 0.8), (1, 0.1), (2, 0.7), (3, 0.0), (4, 0.9)];
        assert_eq!(waves(&intermittent), 3);
    }
}
