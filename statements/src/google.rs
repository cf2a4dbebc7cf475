//! Google Cloud's `incidents.json`: every incident of its status dashboard,
//! with the affected products and each update's text and status
//! (`SERVICE_INFORMATION`, `SERVICE_DISRUPTION`, `SERVICE_OUTAGE`, and
//! `AVAILABLE` once over). Updates carry no id; their time is one.

use serde::Deserialize;

use crate::text::{self, MAX_COMPONENT, MAX_COMPONENTS, MAX_REFERENCE, MAX_TITLE};
use crate::{link, time, Limits, OfficialIncident, OfficialUpdate, StatementError};
use engine::vocab::{OfficialImpact, OfficialStatus};

const FORMAT: &str = "a Google Cloud incidents document";

#[derive(Deserialize)]
struct Incident {
    id: String,
    begin: String,
    end: Option<String>,
    external_desc: String,
    #[serde(default)]
    updates: Vec<Update>,
    status_impact: Option<String>,
    #[serde(default)]
    affected_products: Vec<Product>,
    uri: Option<String>,
}

#[derive(Deserialize)]
struct Update {
    when: Option<String>,
    created: String,
    text: Option<String>,
    status: Option<String>,
}

#[derive(Deserialize)]
struct Product {
    title: String,
}

pub(crate) fn parse(
    bytes: &[u8],
    base: &str,
    limits: &Limits,
) -> Result<Vec<OfficialIncident>, StatementError> {
    let incidents: Vec<Incident> =
        serde_json::from_slice(bytes).map_err(|error| StatementError::Malformed {
            format: FORMAT,
            message: error.to_string(),
        })?;
    incidents
        .into_iter()
        .map(|incident| read_incident(incident, base, limits))
        .collect()
}

fn read_incident(
    incident: Incident,
    base: &str,
    limits: &Limits,
) -> Result<OfficialIncident, StatementError> {
    let reference = text::bounded(&incident.id, MAX_REFERENCE);
    if reference.is_empty() || reference != incident.id {
        return Err(StatementError::Invalid {
            incident: text::bounded(&incident.external_desc, MAX_TITLE),
            message: format!("id must be 1–{MAX_REFERENCE} printable characters"),
        });
    }
    let started_at = time(&incident.begin, &reference, "begin")?;
    let resolved_at = match incident.end.as_deref().filter(|end| !end.is_empty()) {
        Some(end) => Some(time(end, &reference, "end")?),
        None => None,
    };
    let mut updates = Vec::new();
    for update in &incident.updates {
        let when = update.when.as_deref().unwrap_or(&update.created);
        let published_at = time(when, &reference, "an update's time")?;
        updates.push(OfficialUpdate {
            reference: published_at.to_rfc3339(),
            status: match update.status.as_deref() {
                Some("AVAILABLE") => OfficialStatus::Resolved,
                _ => OfficialStatus::Update,
            },
            text: text::readable(update.text.as_deref().unwrap_or_default(), limits.max_text),
            published_at,
        });
    }
    if updates.is_empty() {
        updates.push(OfficialUpdate {
            reference: started_at.to_rfc3339(),
            status: OfficialStatus::Update,
            text: String::new(),
            published_at: started_at,
        });
    }
    let mut components: Vec<String> = Vec::new();
    for product in &incident.affected_products {
        let name = text::bounded(&product.title, MAX_COMPONENT);
        if !name.is_empty() && !components.contains(&name) && components.len() < MAX_COMPONENTS {
            components.push(name);
        }
    }
    Ok(OfficialIncident {
        title: text::bounded(&incident.external_desc, MAX_TITLE),
        impact: match incident.status_impact.as_deref() {
            Some("SERVICE_OUTAGE") => OfficialImpact::Critical,
            Some("SERVICE_DISRUPTION") => OfficialImpact::Major,
            Some("SERVICE_INFORMATION") => OfficialImpact::Minor,
            _ => OfficialImpact::Unknown,
        },
        components,
        started_at: Some(started_at),
        resolved_at,
        url: incident.uri.as_deref().and_then(|uri| link(uri, base)),
        updates,
        reference,
    })
}

#[cfg(test)]
mod tests {
    use crate::{parse, Limits};
    use engine::vocab::{OfficialImpact, OfficialStatus, StatusFormat};

    #[test]
    fn reads_products_updates_and_the_end() {
        let document = r#"[{
          "id": "ow5i3PPK96RduMcb1SsW", "number": "1", "begin": "2025-06-12T17:51:00+00:00",
          "created": "2025-06-12T18:46:00+00:00", "end": "2025-06-13T06:18:00+00:00",
          "modified": "2025-06-13T06:18:00+00:00",
          "external_desc": "Multiple GCP products are experiencing Service issues",
          "updates": [
            {"created": "2025-06-13T06:18:00+00:00", "when": "2025-06-13T06:18:00+00:00",
             "text": "The issue is **resolved**.", "status": "AVAILABLE"},
            {"created": "2025-06-12T18:46:00+00:00", "when": "2025-06-12T18:46:00+00:00",
             "text": "We are investigating.", "status": "SERVICE_OUTAGE"}
          ],
          "status_impact": "SERVICE_OUTAGE", "severity": "high",
          "affected_products": [{"title": "Identity and Access Management", "id": "x"}],
          "uri": "incidents/ow5i3PPK96RduMcb1SsW"
        }]"#;
        let document = parse(
            StatusFormat::GoogleCloud,
            document.as_bytes(),
            "https://status.cloud.google.com/incidents.json",
            &Limits::default(),
        )
        .unwrap();
        let incident = &document.incidents[0];
        assert_eq!(incident.impact, OfficialImpact::Critical);
        assert_eq!(incident.components, ["Identity and Access Management"]);
        assert_eq!(
            incident.url.as_deref(),
            Some("https://status.cloud.google.com/incidents/ow5i3PPK96RduMcb1SsW")
        );
        assert_eq!(incident.updates[0].status, OfficialStatus::Update);
        assert_eq!(incident.updates[1].status, OfficialStatus::Resolved);
        assert!(!incident.is_open());
    }
}
