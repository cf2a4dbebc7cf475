//! Providers' statements in a real SQLite file: each stored once however
//! often it is read, updated as the provider edits it, matched to the
//! incident it describes, and the polls' validators kept.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on unexpected errors"
)]

mod common;

use chrono::{DateTime, Utc};
use engine::vocab::{OfficialImpact, OfficialStatus, Pattern, Phase, Role};
use statements::{Document, OfficialIncident, OfficialUpdate};
use store::{ProviderIncidentRow, Store};

fn t(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn update(reference: &str, status: OfficialStatus, at: &str, text: &str) -> OfficialUpdate {
    OfficialUpdate {
        reference: reference.to_owned(),
        status,
        text: text.to_owned(),
        published_at: t(at),
    }
}

fn document(updates: Vec<OfficialUpdate>, resolved_at: Option<&str>) -> Document {
    Document {
        incidents: vec![OfficialIncident {
            reference: "kw0jrm3dmtvm".to_owned(),
            title: "Cloudflare Global Network experiencing issues".to_owned(),
            impact: OfficialImpact::Critical,
            components: vec!["Cloudflare Sites and Services".to_owned()],
            started_at: Some(t("2025-11-18T11:48:00Z")),
            resolved_at: resolved_at.map(t),
            url: Some("https://www.cloudflarestatus.com/incidents/kw0jrm3dmtvm".to_owned()),
            updates,
        }],
    }
}

on_both!(statements_are_stored_once_and_follow_the_providers_edits);
async fn statements_are_stored_once_and_follow_the_providers_edits(store: Store) {
    let source = "https://www.cloudflarestatus.com/api/v2/incidents.json";
    let first = document(
        vec![update(
            "u1",
            OfficialStatus::Investigating,
            "2025-11-18T11:48:00Z",
            "Cloudflare is experiencing an internal service degradation.",
        )],
        None,
    );
    let recorded = store
        .record_statements("cloudflare", source, &first, t("2025-11-18T11:50:00Z"))
        .await
        .unwrap();
    assert_eq!((recorded.new_incidents, recorded.new_updates), (1, 1));
    // Polled again: nothing new, nothing doubled.
    let again = store
        .record_statements("cloudflare", source, &first, t("2025-11-18T11:55:00Z"))
        .await
        .unwrap();
    assert_eq!((again.new_incidents, again.new_updates), (0, 0));
    // Later the provider resolves it.
    let mut updates = first.incidents[0].updates.clone();
    updates.push(update(
        "u2",
        OfficialStatus::Resolved,
        "2025-11-18T17:06:00Z",
        "This incident has been resolved.",
    ));
    let later = document(updates, Some("2025-11-18T17:06:00Z"));
    let recorded = store
        .record_statements("cloudflare", source, &later, t("2025-11-18T17:10:00Z"))
        .await
        .unwrap();
    assert_eq!((recorded.new_incidents, recorded.new_updates), (0, 1));

    let stored = store
        .statements_of_provider("cloudflare", 10)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    let statement = &stored[0];
    assert_eq!(statement.status(), OfficialStatus::Resolved);
    assert_eq!(statement.acknowledged_at(), Some(t("2025-11-18T11:48:00Z")));
    assert_eq!(
        statement.official_resolution(),
        Some(t("2025-11-18T17:06:00Z"))
    );
    assert_eq!(statement.first_seen_at, t("2025-11-18T11:50:00Z"));
    assert_eq!(
        statement.updates[0].first_seen_at,
        t("2025-11-18T11:50:00Z")
    );
    assert_eq!(
        statement.updates[1].first_seen_at,
        t("2025-11-18T17:10:00Z")
    );
    assert_eq!(statement.components, ["Cloudflare Sites and Services"]);
    assert_eq!(statement.incident_id, None);

    // Matched to the outage Faultline measured.
    let unmatched = store
        .unmatched_statements(t("2025-11-18T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(unmatched.len(), 1);
    assert_eq!(unmatched[0].acknowledged_at, t("2025-11-18T11:48:00Z"));
    let incident = store
        .save_provider_incident(
            None,
            &ProviderIncidentRow {
                mechanism: engine::Mechanism::Own,
                provider: "cloudflare".to_owned(),
                role: Role::Cdn,
                phase: Phase::Confirmed,
                pattern: Pattern::Intermittent,
                onset_at: t("2025-11-18T11:20:00Z"),
                detected_at: t("2025-11-18T11:21:00Z"),
                confirmed_at: Some(t("2025-11-18T11:22:00Z")),
                peak_at: t("2025-11-18T11:30:00Z"),
                ..ProviderIncidentRow::default()
            },
            t("2025-11-18T11:21:00Z"),
        )
        .await
        .unwrap();
    let spans = store
        .provider_spans_since(t("2025-11-18T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].detected_at, t("2025-11-18T11:21:00Z"));
    store
        .link_statement(unmatched[0].id, incident, t("2025-11-18T11:55:00Z"))
        .await
        .unwrap();
    assert!(store
        .unmatched_statements(t("2025-11-18T00:00:00Z"))
        .await
        .unwrap()
        .is_empty());
    let about = store.statements_for_incident(incident).await.unwrap();
    assert_eq!(about.len(), 1);
    assert_eq!(about[0].updates.len(), 2);
}

on_both!(a_failed_poll_keeps_the_validators_and_the_last_success);
async fn a_failed_poll_keeps_the_validators_and_the_last_success(store: Store) {
    let url = "https://www.githubstatus.com/api/v2/incidents.json";
    store
        .record_status_poll(
            url,
            "github-pages",
            (Some("\"abc\""), None),
            None,
            t("2025-11-18T11:00:00Z"),
        )
        .await
        .unwrap();
    store
        .record_status_poll(
            url,
            "github-pages",
            (None, None),
            Some("timed out"),
            t("2025-11-18T11:05:00Z"),
        )
        .await
        .unwrap();
    let source = store.status_source(url).await.unwrap().unwrap();
    assert_eq!(source.etag.as_deref(), Some("\"abc\""));
    assert_eq!(source.ok_at, Some(t("2025-11-18T11:00:00Z")));
    assert_eq!(source.checked_at, Some(t("2025-11-18T11:05:00Z")));
    assert_eq!(source.error.as_deref(), Some("timed out"));
    assert_eq!(store.status_sources().await.unwrap().len(), 1);
    // A provider's page moved: the source polled last is the one in force.
    let moved = "https://www.githubstatus.com/api/v2/summary.json";
    store
        .record_status_poll(
            moved,
            "github-pages",
            (None, None),
            None,
            t("2025-11-18T11:10:00Z"),
        )
        .await
        .unwrap();
    let current = store
        .status_source_of("github-pages")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current.url, moved);
    assert!(store
        .status_source_of("cloudflare")
        .await
        .unwrap()
        .is_none());
}
