//! Atlassian Statuspage's JSON API: `/api/v2/incidents.json` (the latest
//! incidents) and `/api/v2/summary.json` (the open ones), which share the
//! shape of an incident. Scheduled maintenance is not an incident and is
//! left out.

use serde::Deserialize;

use crate::text::{self, MAX_COMPONENT, MAX_COMPONENTS, MAX_REFERENCE, MAX_TITLE};
use crate::{link, time, Limits, OfficialIncident, OfficialUpdate, StatementError};
use engine::vocab::{OfficialImpact, OfficialStatus};

const FORMAT: &str = "a Statuspage document";

#[derive(Deserialize)]
struct Page {
    page: Option<PageInfo>,
    incidents: Vec<Incident>,
}

#[derive(Deserialize)]
struct PageInfo {
    url: Option<String>,
}

#[derive(Deserialize)]
struct Incident {
    id: String,
    name: String,
    status: Option<String>,
    impact: Option<String>,
    created_at: String,
    started_at: Option<String>,
    resolved_at: Option<String>,
    shortlink: Option<String>,
    scheduled_for: Option<String>,
    #[serde(default)]
    incident_updates: Vec<Update>,
    #[serde(default)]
    components: Vec<Component>,
}

#[derive(Deserialize)]
struct Update {
    id: String,
    status: String,
    body: Option<String>,
    created_at: String,
    display_at: Option<String>,
    #[serde(default)]
    affected_components: Option<Vec<Component>>,
}

#[derive(Deserialize)]
struct Component {
    name: String,
}

pub(crate) fn parse(
    bytes: &[u8],
    limits: &Limits,
) -> Result<Vec<OfficialIncident>, StatementError> {
    let page: Page = serde_json::from_slice(bytes).map_err(|error| StatementError::Malformed {
        format: FORMAT,
        message: error.to_string(),
    })?;
    let base = page
        .page
        .and_then(|info| info.url)
        .and_then(|url| link(&url, ""))
        .unwrap_or_default();
    let mut incidents = Vec::new();
    for incident in page.incidents {
        if incident.scheduled_for.is_some() || incident.impact.as_deref() == Some("maintenance") {
            continue;
        }
        incidents.push(read_incident(incident, &base, limits)?);
    }
    Ok(incidents)
}

fn read_incident(
    incident: Incident,
    base: &str,
    limits: &Limits,
) -> Result<OfficialIncident, StatementError> {
    let reference = reference(&incident.id, &incident.name)?;
    let created_at = time(&incident.created_at, &reference, "created_at")?;
    let started_at = match &incident.started_at {
        Some(at) => Some(time(at, &reference, "started_at")?),
        None => Some(created_at),
    };
    let resolved_at = match &incident.resolved_at {
        Some(at) => Some(time(at, &reference, "resolved_at")?),
        None => None,
    };
    let mut components: Vec<String> = Vec::new();
    let named = incident.components.iter().chain(
        incident
            .incident_updates
            .iter()
            .flat_map(|update| update.affected_components.iter().flatten()),
    );
    for component in named {
        let name = text::bounded(&component.name, MAX_COMPONENT);
        if !name.is_empty() && !components.contains(&name) && components.len() < MAX_COMPONENTS {
            components.push(name);
        }
    }
    let mut updates = Vec::new();
    for update in &incident.incident_updates {
        let published = update.display_at.as_deref().unwrap_or(&update.created_at);
        updates.push(OfficialUpdate {
            reference: text::bounded(&update.id, MAX_REFERENCE),
            status: status(&update.status),
            text: text::readable(update.body.as_deref().unwrap_or_default(), limits.max_text),
            published_at: time(published, &reference, "an update's display_at")?,
        });
    }
    if updates.is_empty() {
        // An incident posted without an update still said something: its
        // status, at its creation.
        updates.push(OfficialUpdate {
            reference: reference.clone(),
            status: incident
                .status
                .as_deref()
                .map_or(OfficialStatus::Unknown, status),
            text: String::new(),
            published_at: created_at,
        });
    }
    let url = incident
        .shortlink
        .as_deref()
        .and_then(|short| link(short, base))
        .or_else(|| {
            (!base.is_empty())
                .then(|| link(&format!("/incidents/{reference}"), base))
                .flatten()
        });
    Ok(OfficialIncident {
        title: text::bounded(&incident.name, MAX_TITLE),
        impact: impact(incident.impact.as_deref()),
        components,
        started_at,
        resolved_at,
        url,
        updates,
        reference,
    })
}

/// An id is required, printable and short.
fn reference(id: &str, name: &str) -> Result<String, StatementError> {
    let clean = text::bounded(id, MAX_REFERENCE);
    if clean.is_empty() || clean != id || id.chars().count() > MAX_REFERENCE {
        return Err(StatementError::Invalid {
            incident: text::bounded(name, MAX_TITLE),
            message: format!(
                "id {:?} must be 1–{MAX_REFERENCE} printable characters",
                text::bounded(id, 40)
            ),
        });
    }
    Ok(clean)
}

fn status(word: &str) -> OfficialStatus {
    match word {
        "investigating" => OfficialStatus::Investigating,
        "identified" => OfficialStatus::Identified,
        "monitoring" => OfficialStatus::Monitoring,
        "resolved" => OfficialStatus::Resolved,
        "postmortem" => OfficialStatus::Postmortem,
        "scheduled" | "in_progress" | "verifying" | "completed" => OfficialStatus::Maintenance,
        _ => OfficialStatus::Update,
    }
}

fn impact(word: Option<&str>) -> OfficialImpact {
    match word {
        Some("none") => OfficialImpact::None,
        Some("minor") => OfficialImpact::Minor,
        Some("major") => OfficialImpact::Major,
        Some("critical") => OfficialImpact::Critical,
        Some("maintenance") => OfficialImpact::Maintenance,
        _ => OfficialImpact::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse as parse_document, Limits};
    use engine::vocab::StatusFormat;

    const DOCUMENT: &str = r#"{
      "page": {"id": "p", "name": "Example", "url": "https://status.example.com"},
      "incidents": [{
        "id": "inc1", "name": "Elevated errors", "status": "resolved", "impact": "major",
        "created_at": "2025-11-18T11:48:00.000Z", "started_at": "2025-11-18T11:48:00.000Z",
        "resolved_at": "2025-11-18T14:42:00.000Z", "shortlink": "https://stspg.io/abc",
        "incident_updates": [
          {"id": "u2", "status": "resolved", "body": "This incident has been resolved.",
           "created_at": "2025-11-18T14:42:00Z", "display_at": "2025-11-18T14:42:00Z",
           "affected_components": null},
          {"id": "u1", "status": "investigating", "body": "We are investigating.",
           "created_at": "2025-11-18T11:48:00Z", "display_at": "2025-11-18T11:48:00Z",
           "affected_components": [{"code": "c", "name": "CDN/Cache", "old_status": "operational", "new_status": "major_outage"}]}
        ],
        "components": [{"id": "c", "name": "CDN/Cache", "status": "operational"}]
      }, {
        "id": "m1", "name": "Planned work", "status": "scheduled", "impact": "maintenance",
        "created_at": "2025-11-17T00:00:00Z", "scheduled_for": "2025-11-20T00:00:00Z",
        "incident_updates": []
      }]
    }"#;

    #[test]
    fn reads_incidents_with_updates_oldest_first() {
        let document = parse_document(
            StatusFormat::Statuspage,
            DOCUMENT.as_bytes(),
            "https://status.example.com/api/v2/incidents.json",
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(document.incidents.len(), 1, "maintenance is left out");
        let incident = &document.incidents[0];
        assert_eq!(incident.reference, "inc1");
        assert_eq!(incident.impact, OfficialImpact::Major);
        assert_eq!(incident.components, ["CDN/Cache"]);
        assert_eq!(incident.url.as_deref(), Some("https://stspg.io/abc"));
        let stages: Vec<_> = incident.updates.iter().map(|u| u.status).collect();
        assert_eq!(
            stages,
            [OfficialStatus::Investigating, OfficialStatus::Resolved]
        );
        assert_eq!(
            incident.acknowledged_at().unwrap().to_rfc3339(),
            "2025-11-18T11:48:00+00:00"
        );
        assert!(!incident.is_open());
    }

    #[test]
    fn malformed_documents_are_refused_with_the_reason() {
        for (bad, says) in [
            ("{", "not a Statuspage document"),
            (r#"{"incidents": 3}"#, "not a Statuspage document"),
            (
                r#"{"incidents": [{"id": "i", "name": "n", "created_at": "soon"}]}"#,
                "created_at \"soon\" is not a time",
            ),
            (
                r#"{"incidents": [{"id": "", "name": "n", "created_at": "2025-01-01T00:00:00Z"}]}"#,
                "must be 1–128 printable characters",
            ),
        ] {
            let error = parse_document(
                StatusFormat::Statuspage,
                bad.as_bytes(),
                "",
                &Limits::default(),
            )
            .unwrap_err()
            .to_string();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }
}
