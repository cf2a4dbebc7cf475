//! Real status documents, saved from providers' status pages (sources in
//! `fixtures/SOURCES.md`), read as the poller reads them; and hostile or
//! broken ones refused with a reason.

use engine::vocab::{OfficialImpact, OfficialStatus, StatusFormat};
use statements::{parse, Document, Limits, StatementError};

fn read(format: StatusFormat, path: &str, base: &str) -> Document {
    let bytes = std::fs::read(format!(
        "{}/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap_or_else(|error| panic!("{path}: {error}"));
    parse(format, &bytes, base, &Limits::default())
        .unwrap_or_else(|error| panic!("{path}: {error}"))
}

#[test]
fn cloudflare_incidents_json() {
    let document = read(
        StatusFormat::Statuspage,
        "statuspage/cloudflare-incidents.json",
        "https://www.cloudflarestatus.com/api/v2/incidents.json",
    );
    assert_eq!(document.incidents.len(), 2);
    let api = &document.incidents[0];
    assert_eq!(api.title, "Cloudflare API service issues");
    assert_eq!(api.impact, OfficialImpact::Minor);
    let stages: Vec<_> = api.updates.iter().map(|u| u.status).collect();
    assert_eq!(
        stages,
        [
            OfficialStatus::Investigating,
            OfficialStatus::Investigating,
            OfficialStatus::Monitoring,
            OfficialStatus::Resolved
        ]
    );
    assert!(!api.is_open());
    assert_eq!(api.url.as_deref(), Some("http://stspg.io/7f079791e"));
    assert!(api.updates.iter().all(|u| !u.text.is_empty()));
}

#[test]
fn github_summary_during_an_incident() {
    let document = read(
        StatusFormat::Statuspage,
        "statuspage/github-summary.json",
        "https://www.githubstatus.com/api/v2/summary.json",
    );
    assert_eq!(document.incidents.len(), 1);
    let open = &document.incidents[0];
    assert!(open.is_open());
    assert_eq!(open.status(), OfficialStatus::Investigating);
    assert_eq!(open.impact, OfficialImpact::Major);
    assert_eq!(open.updates.len(), 7);
    assert!(open
        .updates
        .windows(2)
        .all(|w| w[0].published_at <= w[1].published_at));
}

#[test]
fn github_incidents_with_markup_in_a_body() {
    let document = read(
        StatusFormat::Statuspage,
        "statuspage/github-incidents.json",
        "https://www.githubstatus.com/api/v2/incidents.json",
    );
    assert_eq!(document.incidents.len(), 2);
    for incident in &document.incidents {
        assert_eq!(incident.status(), OfficialStatus::Resolved);
        assert!(incident.resolved_at.is_some());
        for update in &incident.updates {
            assert!(!update.text.contains("<br"), "{}", update.text);
        }
    }
}

#[test]
fn statuspage_history_feeds_list_every_update() {
    for path in [
        "feeds/streamyard-history.atom",
        "feeds/streamyard-history.rss",
    ] {
        let document = read(
            StatusFormat::Feed,
            path,
            "https://status.streamyard.com/history.atom",
        );
        assert_eq!(document.incidents.len(), 17, "{path}");
        let networking = document
            .incidents
            .iter()
            .find(|i| i.title == "Networking issues")
            .unwrap_or_else(|| panic!("{path}: no 'Networking issues'"));
        let first = &networking.updates[0];
        assert_eq!(first.status, OfficialStatus::Investigating, "{path}");
        assert_eq!(
            first.published_at.to_rfc3339(),
            "2024-02-08T08:29:00+00:00",
            "{path}"
        );
        assert!(
            first
                .text
                .starts_with("Some users are experiencing networking issues"),
            "{path}"
        );
        assert_eq!(networking.status(), OfficialStatus::Resolved, "{path}");
        assert!(!networking.is_open(), "{path}");
    }
}

#[test]
fn aws_health_dashboard_rss() {
    let document = read(
        StatusFormat::Feed,
        "feeds/aws-all.rss",
        "https://status.aws.amazon.com/rss/all.rss",
    );
    assert_eq!(document.incidents.len(), 2);
    let aurora = &document.incidents[0];
    assert_eq!(aurora.status(), OfficialStatus::Resolved);
    assert_eq!(
        aurora.title,
        "[RESOLVED] Connectivity issues affecting some instances"
    );
    assert_eq!(
        aurora.updates[0].published_at.to_rfc3339(),
        "2023-02-10T23:48:00+00:00"
    );
    let billing = &document.incidents[1];
    assert_eq!(billing.status(), OfficialStatus::Update);
    assert!(billing.is_open());
}

#[test]
fn google_cloud_incidents_json() {
    let document = read(
        StatusFormat::GoogleCloud,
        "google/incidents.json",
        "https://status.cloud.google.com/incidents.json",
    );
    assert_eq!(document.incidents.len(), 46);
    let newest = &document.incidents[0];
    assert_eq!(newest.reference, "TaA75H7XA1DQyM2ReK2f");
    assert_eq!(newest.updates.len(), 5);
    assert_eq!(newest.status(), OfficialStatus::Resolved);
    assert!(newest
        .url
        .as_deref()
        .is_some_and(|url| url.starts_with("https://status.cloud.google.com/incidents/")));
    assert!(document.incidents.iter().all(|i| !i.components.is_empty()));
}

#[test]
fn limits_keep_the_newest_and_cut_long_texts() {
    let bytes = std::fs::read(format!(
        "{}/tests/fixtures/google/incidents.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let limits = Limits {
        max_incidents: 3,
        max_updates: 2,
        max_text: 40,
        ..Limits::default()
    };
    let document = parse(
        StatusFormat::GoogleCloud,
        &bytes,
        "https://status.cloud.google.com/",
        &limits,
    )
    .unwrap();
    assert_eq!(document.incidents.len(), 3);
    assert_eq!(document.incidents[0].reference, "TaA75H7XA1DQyM2ReK2f");
    for incident in &document.incidents {
        assert!(incident.updates.len() <= 2);
        assert!(incident
            .updates
            .iter()
            .all(|u| u.text.chars().count() <= 40));
    }
}

#[test]
fn broken_and_hostile_documents_are_refused_with_a_reason() {
    let real = std::fs::read(format!(
        "{}/tests/fixtures/statuspage/cloudflare-incidents.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    // Cut short mid-download.
    let cut = &real[..real.len() / 2];
    let error = parse(StatusFormat::Statuspage, cut, "", &Limits::default()).unwrap_err();
    assert!(matches!(error, StatementError::Malformed { .. }), "{error}");
    // The wrong format for the URL.
    let error = parse(StatusFormat::GoogleCloud, &real, "", &Limits::default()).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("not a Google Cloud incidents document"),
        "{error}"
    );
    let error = parse(StatusFormat::Feed, &real, "", &Limits::default()).unwrap_err();
    assert!(
        error.to_string().starts_with("not an Atom or RSS feed"),
        "{error}"
    );
    // Too large is refused before it is read.
    let small = Limits {
        max_bytes: 1024,
        ..Limits::default()
    };
    let error = parse(StatusFormat::Statuspage, &real, "", &small).unwrap_err();
    assert!(matches!(error, StatementError::TooLarge { .. }), "{error}");
    // Deeply nested JSON fails cleanly instead of exhausting the stack.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse(
        StatusFormat::GoogleCloud,
        deep.as_bytes(),
        "",
        &Limits::default()
    )
    .is_err());
    // A script where a link belongs is dropped; markup in a title is text.
    let hostile = r#"{"page": {"url": "javascript:alert(1)"}, "incidents": [{
        "id": "x1", "name": "<img src=x onerror=alert(1)>Outage", "created_at": "2025-11-18T11:48:00Z",
        "shortlink": "javascript:alert(1)", "incident_updates": [{"id": "u1", "status": "investigating",
        "body": "<script>alert(1)</script>We are investigating.", "created_at": "2025-11-18T11:48:00Z"}]}]}"#;
    let document = parse(
        StatusFormat::Statuspage,
        hostile.as_bytes(),
        "",
        &Limits::default(),
    )
    .unwrap();
    let incident = &document.incidents[0];
    assert_eq!(incident.url, None);
    assert_eq!(incident.updates[0].text, "We are investigating.");
}
