use crate::support::spawn_app;
use engine::{Pattern, Phase, Role};

#[tokio::test]
async fn healthz_reports_ok_with_the_site_count() {
    let app = spawn_app().await;
    let response = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["sites"], 0);
    app.stop().await;
}

#[tokio::test]
async fn the_home_page_is_rendered_on_the_server() {
    let app = spawn_app().await;
    let response = reqwest::get(app.url("/")).await.unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("No sites are watched yet."), "{html}");
    assert!(
        html.contains("/pkg/faultline.js"),
        "hydration script missing: {html}"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_path_is_a_404_page() {
    let app = spawn_app().await;
    let response = reqwest::get(app.url("/no/such/page")).await.unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("Page not found"));
    app.stop().await;
}

#[tokio::test]
async fn the_headline_names_an_active_provider_incident() {
    let app = spawn_app().await;
    let onset: chrono::DateTime<chrono::Utc> = "2025-11-18T11:20:00Z".parse().unwrap();
    let row = store::ProviderIncidentRow {
        provider: "cloudflare".into(),
        role: Role::Cdn,
        phase: Phase::Confirmed,
        pattern: Pattern::Intermittent,
        onset_at: onset,
        detected_at: onset + chrono::TimeDelta::seconds(90),
        confirmed_at: Some(onset + chrono::TimeDelta::seconds(100)),
        peak_share: 0.63,
        peak_at: onset,
        confidence: 0.9,
        ..Default::default()
    };
    app.store
        .save_provider_incident(None, &row, chrono::Utc::now())
        .await
        .unwrap();
    let html = reqwest::get(app.url("/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Likely Cloudflare-wide outage since 11:20 UTC: 63 % of watched Cloudflare sites failing."),
        "{html}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_headline_quotes_the_share_failing_now_and_the_peak() {
    let app = spawn_app().await;
    let onset: chrono::DateTime<chrono::Utc> = "2025-11-18T11:20:00Z".parse().unwrap();
    let minutes = |m: i64| onset + chrono::TimeDelta::minutes(m);
    let row = store::ProviderIncidentRow {
        provider: "cloudflare".into(),
        role: Role::Cdn,
        phase: Phase::Recovering,
        pattern: Pattern::Steady,
        onset_at: onset,
        detected_at: minutes(1),
        confirmed_at: Some(minutes(2)),
        peak_share: 0.9,
        peak_at: minutes(30),
        confidence: 0.9,
        timeline: vec![(minutes(1), 0.4), (minutes(30), 0.9), (minutes(90), 0.12)],
        ..Default::default()
    };
    app.store
        .save_provider_incident(None, &row, chrono::Utc::now())
        .await
        .unwrap();
    let html = reqwest::get(app.url("/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Cloudflare-wide outage since 11:20 UTC is recovering: 12 % of watched Cloudflare sites still failing (peak 90 %)."),
        "{html}"
    );
    // The list of active incidents says the same, not the peak as if current.
    assert!(
        html.contains("12 % of its watched sites failing now (peak 90 %)"),
        "{html}"
    );
    app.stop().await;
}

#[tokio::test]
async fn public_pages_are_shared_compressed_and_revalidated_by_etag() {
    let app = spawn_app().await;
    // No automatic decompression: see what goes over the wire.
    let client = reqwest::Client::builder().no_gzip().build().unwrap();
    let first = client
        .get(app.url("/"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["content-encoding"], "gzip");
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(first.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("stale-while-revalidate"));
    let again = client
        .get(app.url("/"))
        .header("accept-encoding", "gzip")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    // The uncompressed variant is its own entry.
    let plain = client.get(app.url("/")).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    assert!(plain.text().await.unwrap().contains("Faultline"));
    // Operational endpoints are never cached.
    let health = client.get(app.url("/healthz")).send().await.unwrap();
    assert!(health.headers().get("etag").is_none());
    app.stop().await;
}
