//! What providers said about their incidents on their own status pages,
//! beside what Faultline measured: the statements matched to an incident,
//! the lead time in one sentence, and the comparison over every incident
//! ("Faultline vs official").

use chrono::{DateTime, Utc};
use engine::vocab::{OfficialImpact, OfficialStatus};
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::knowledge::provider_name;
use crate::words;

/// One update a provider published.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OfficialUpdateView {
    pub at: DateTime<Utc>,
    pub status: OfficialStatus,
    pub text: String,
    /// When Faultline first read it.
    pub seen_at: DateTime<Utc>,
}

/// One official incident with its updates, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OfficialView {
    pub provider: String,
    pub provider_name: String,
    /// The provider's id for it.
    pub reference: String,
    pub title: String,
    pub impact: OfficialImpact,
    pub components: Vec<String>,
    /// Its page on the provider's status site.
    pub url: Option<String>,
    /// The status document it was read from.
    pub source: String,
    /// The Faultline incident it describes.
    pub incident_id: Option<i64>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub updates: Vec<OfficialUpdateView>,
}

impl OfficialView {
    #[cfg(feature = "ssr")]
    pub fn from_store(statement: store::Statement) -> Self {
        Self {
            provider_name: provider_name(&statement.provider),
            resolved_at: statement.official_resolution(),
            provider: statement.provider,
            reference: statement.reference,
            title: statement.title,
            impact: statement.impact,
            components: statement.components,
            url: statement.url,
            source: statement.source,
            incident_id: statement.incident_id,
            updates: statement
                .updates
                .into_iter()
                .map(|update| OfficialUpdateView {
                    at: update.published_at,
                    status: update.status,
                    text: update.text,
                    seen_at: update.first_seen_at,
                })
                .collect(),
        }
    }

    /// When the provider first said anything.
    pub fn acknowledged_at(&self) -> Option<DateTime<Utc>> {
        self.updates.first().map(|update| update.at)
    }

    /// The stage of its latest update.
    pub fn status(&self) -> OfficialStatus {
        self.updates
            .last()
            .map_or(OfficialStatus::Unknown, |update| update.status)
    }

    /// Whether the provider still calls it open.
    pub fn is_open(&self) -> bool {
        self.resolved_at.is_none()
    }
}

/// The earliest acknowledgement among `views`.
pub fn acknowledged_at(views: &[OfficialView]) -> Option<DateTime<Utc>> {
    views.iter().filter_map(OfficialView::acknowledged_at).min()
}

/// The latest official resolution among `views`, if every one is resolved.
pub fn resolved_at(views: &[OfficialView]) -> Option<DateTime<Utc>> {
    if views.is_empty() || views.iter().any(OfficialView::is_open) {
        return None;
    }
    views.iter().filter_map(|view| view.resolved_at).max()
}

/// Who spoke first, in one sentence: "Faultline detected this outage
/// 27 min before Cloudflare's status page acknowledged it."
pub fn lead_sentence(
    provider_name: &str,
    detected_at: DateTime<Utc>,
    acknowledged_at: DateTime<Utc>,
) -> String {
    let lead = (acknowledged_at - detected_at).num_seconds();
    if lead >= 60 {
        format!(
            "Faultline detected this outage {} before {provider_name}'s status page acknowledged it.",
            words::duration(lead)
        )
    } else if lead <= -60 {
        format!(
            "{provider_name}'s status page acknowledged this outage {} before Faultline detected it.",
            words::duration(-lead)
        )
    } else {
        format!(
            "{provider_name}'s status page acknowledged this outage within a minute of Faultline detecting it."
        )
    }
}

/// The lead time as a figure: "+27 min" when Faultline was first,
/// "−5 min" when the provider was.
pub fn lead_figure(detected_at: DateTime<Utc>, acknowledged_at: DateTime<Utc>) -> String {
    let lead = (acknowledged_at - detected_at).num_seconds();
    if lead >= 0 {
        format!("+{}", words::duration(lead))
    } else {
        format!("−{}", words::duration(-lead))
    }
}

/// A stage said as a status page says it: "Investigating".
pub fn stage(status: OfficialStatus) -> String {
    let plain = status.plain();
    let mut chars = plain.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// An update's text cut for a timeline line, with an ellipsis if cut.
pub fn excerpt(text: &str, most: usize) -> String {
    if text.chars().count() <= most {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(most.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// One line of the comparison over every incident: a provider incident
/// Faultline measured with what the provider said about it, or a
/// statement that matches nothing Faultline measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComparisonRow {
    pub provider: String,
    pub provider_name: String,
    /// Faultline's incident, if it measured one.
    pub incident_id: Option<i64>,
    pub detected_at: Option<DateTime<Utc>>,
    /// When Faultline saw the provider's sites recover.
    pub recovered_at: Option<DateTime<Utc>>,
    /// The provider's incident titles, if it said anything.
    pub official_titles: Vec<String>,
    pub official_url: Option<String>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub official_resolved_at: Option<DateTime<Utc>>,
}

impl ComparisonRow {
    /// Seconds from Faultline's detection to the provider's first
    /// statement: positive when Faultline was first.
    pub fn lead_seconds(&self) -> Option<i64> {
        Some((self.acknowledged_at? - self.detected_at?).num_seconds())
    }

    /// What this line says in a few words.
    pub fn verdict(&self) -> String {
        match (self.detected_at, self.acknowledged_at) {
            (Some(detected), Some(acknowledged)) => lead_figure(detected, acknowledged),
            (Some(_), None) => "not reported by the provider".to_owned(),
            (None, Some(_)) => "not seen by Faultline".to_owned(),
            (None, None) => "–".to_owned(),
        }
    }
}

/// A measured provider incident, as the comparison needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    pub id: i64,
    pub provider: String,
    pub provider_name: String,
    pub detected_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Every measured incident with the statements matched to it, and every
/// statement matched to none, newest first.
pub fn compare(measured: &[Measured], statements: &[OfficialView]) -> Vec<ComparisonRow> {
    let mut rows: Vec<ComparisonRow> = measured
        .iter()
        .map(|incident| {
            let said: Vec<OfficialView> = statements
                .iter()
                .filter(|view| view.incident_id == Some(incident.id))
                .cloned()
                .collect();
            ComparisonRow {
                provider: incident.provider.clone(),
                provider_name: incident.provider_name.clone(),
                incident_id: Some(incident.id),
                detected_at: Some(incident.detected_at),
                recovered_at: incident.resolved_at,
                official_titles: said.iter().map(|view| view.title.clone()).collect(),
                official_url: said.iter().find_map(|view| view.url.clone()),
                acknowledged_at: acknowledged_at(&said),
                official_resolved_at: resolved_at(&said),
            }
        })
        .collect();
    for view in statements {
        let matched = view
            .incident_id
            .is_some_and(|id| measured.iter().any(|incident| incident.id == id));
        if matched {
            continue;
        }
        rows.push(ComparisonRow {
            provider: view.provider.clone(),
            provider_name: view.provider_name.clone(),
            incident_id: None,
            detected_at: None,
            recovered_at: None,
            official_titles: vec![view.title.clone()],
            official_url: view.url.clone(),
            acknowledged_at: view.acknowledged_at(),
            official_resolved_at: view.resolved_at,
        });
    }
    rows.sort_by_key(|row| std::cmp::Reverse(row.detected_at.or(row.acknowledged_at)));
    rows
}

/// The comparison page's data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub rows: Vec<ComparisonRow>,
}

/// Most lines of the comparison.
pub const COMPARISON_LIMIT: i64 = 500;

/// Faultline's provider incidents and the providers' statements, side by
/// side: the data of `/official` and its CSV export.
#[cfg(feature = "ssr")]
pub async fn comparison(store: &store::Store) -> Result<Comparison, store::StoreError> {
    Ok(ComparisonSources::read(store).await?.compare())
}

/// What the comparison is made of, as stored: read it in any context, then
/// compare where the knowledge base that names providers is given.
#[cfg(feature = "ssr")]
#[derive(Debug)]
pub struct ComparisonSources {
    incidents: Vec<store::Incident>,
    statements: Vec<store::Statement>,
}

#[cfg(feature = "ssr")]
impl ComparisonSources {
    pub async fn read(store: &store::Store) -> Result<Self, store::StoreError> {
        Ok(Self {
            incidents: store
                .list_incidents(Some(engine::IncidentKind::Provider), COMPARISON_LIMIT)
                .await?,
            statements: store.all_statements(COMPARISON_LIMIT).await?,
        })
    }

    /// The rows, naming providers by the knowledge base in context.
    pub fn compare(self) -> Comparison {
        let measured: Vec<Measured> = self
            .incidents
            .into_iter()
            .filter(|incident| incident.confirmed_at.is_some())
            .map(|incident| {
                let provider = incident.provider.unwrap_or_default();
                Measured {
                    id: incident.id,
                    provider_name: provider_name(&provider),
                    provider,
                    detected_at: incident.detected_at,
                    resolved_at: incident.resolved_at,
                }
            })
            .collect();
        let statements: Vec<OfficialView> = self
            .statements
            .into_iter()
            .map(OfficialView::from_store)
            .collect();
        Comparison {
            rows: compare(&measured, &statements),
        }
    }
}

/// The comparison page: every provider incident beside what its provider
/// said, and every statement Faultline saw no outage for.
#[leptos::server]
pub async fn get_comparison() -> Result<Comparison, crate::error::AppError> {
    let store = leptos::prelude::expect_context::<store::Store>();
    Ok(comparison(&store).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn the_lead_sentence_says_who_was_first() {
        let detected = at("2025-11-18T11:20:20Z");
        assert_eq!(
            lead_sentence("Cloudflare", detected, at("2025-11-18T11:48:00Z")),
            "Faultline detected this outage 27 min before Cloudflare's status page acknowledged it."
        );
        assert_eq!(
            lead_sentence("Fastly", detected, at("2025-11-18T11:10:00Z")),
            "Fastly's status page acknowledged this outage 10 min before Faultline detected it."
        );
        assert_eq!(
            lead_sentence("Fastly", detected, at("2025-11-18T11:20:50Z")),
            "Fastly's status page acknowledged this outage within a minute of Faultline detecting it."
        );
        assert_eq!(lead_figure(detected, at("2025-11-18T11:48:00Z")), "+27 min");
        assert_eq!(lead_figure(detected, at("2025-11-18T11:10:00Z")), "−10 min");
    }

    fn view(provider: &str, incident_id: Option<i64>, ack: &str) -> OfficialView {
        OfficialView {
            provider: provider.to_owned(),
            provider_name: provider.to_owned(),
            reference: ack.to_owned(),
            title: format!("{provider} issue"),
            impact: OfficialImpact::Major,
            components: Vec::new(),
            url: None,
            source: String::new(),
            incident_id,
            resolved_at: None,
            updates: vec![OfficialUpdateView {
                at: at(ack),
                status: OfficialStatus::Investigating,
                text: String::new(),
                seen_at: at(ack),
            }],
        }
    }

    #[test]
    fn the_comparison_keeps_unmatched_statements_and_unreported_incidents() {
        let measured = [
            Measured {
                id: 1,
                provider: "cloudflare".to_owned(),
                provider_name: "Cloudflare".to_owned(),
                detected_at: at("2025-11-18T11:20:20Z"),
                resolved_at: Some(at("2025-11-18T14:31:00Z")),
            },
            Measured {
                id: 2,
                provider: "fastly".to_owned(),
                provider_name: "Fastly".to_owned(),
                detected_at: at("2025-11-19T09:00:00Z"),
                resolved_at: None,
            },
        ];
        let statements = [
            view("cloudflare", Some(1), "2025-11-18T11:48:00Z"),
            view("akamai", None, "2025-11-20T10:00:00Z"),
        ];
        let rows = compare(&measured, &statements);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].provider, "akamai");
        assert_eq!(rows[0].verdict(), "not seen by Faultline");
        assert_eq!(rows[1].provider, "fastly");
        assert_eq!(rows[1].verdict(), "not reported by the provider");
        assert_eq!(rows[2].lead_seconds(), Some(1660));
        assert_eq!(rows[2].verdict(), "+27 min");
    }

    #[test]
    fn stages_and_excerpts_read_like_a_status_page() {
        assert_eq!(stage(OfficialStatus::Investigating), "Investigating");
        assert_eq!(excerpt("abcdef", 4), "abc…");
        assert_eq!(excerpt("abc", 4), "abc");
    }
}
