use crate::support::{cloudflare_minutes, judge, spawn_app};
use engine::Phase;

#[tokio::test]
async fn healthz_reports_ok_with_the_site_count() {
    let app = spawn_app().await;
    let response = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["sites"], 0);
    assert_eq!(
        body["status_pages"],
        serde_json::json!({"polled": 0, "failing": 0})
    );
    // Nothing about the server's files or errors, in public.
    let mut keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["leads", "sites", "status", "status_pages"]);
    // The test's server runs no monitor, so it leads nothing.
    assert_eq!(body["leads"], false);
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

async fn home_page(app: &crate::support::TestApp) -> String {
    reqwest::get(app.url("/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The headline's text, as a reader sees it.
fn headline(html: &str) -> &str {
    html.split_once(r#"data-test="headline""#)
        .and_then(|(_, rest)| rest.split_once('>'))
        .and_then(|(_, rest)| rest.split_once('<'))
        .map_or("", |(text, _)| text)
}

fn start() -> chrono::DateTime<chrono::Utc> {
    "2025-11-18T11:20:00Z".parse().unwrap()
}

#[tokio::test]
async fn the_headline_names_an_active_provider_incident_with_absolute_figures() {
    let app = spawn_app().await;
    // Six of ten Cloudflare sites get its edge 500 from 11:30.
    let (members, probes) =
        cloudflare_minutes(10, start(), 20, |site, minute| site <= 6 && minute >= 10);
    app.publish(judge(&members, &probes));
    let html = home_page(&app).await;
    let headline = "Likely Cloudflare-wide outage since 11:30 UTC, 18 Nov 2025: 6 of 10 watched Cloudflare sites (60 %) failing now.";
    assert!(html.contains(headline), "{html}");
    // The document title carries the outage too, and the card agrees.
    assert!(
        html.contains("<title>Cloudflare-wide outage: 6 of 10 (60 %) failing"),
        "{html}"
    );
    assert!(html.contains(r#"data-failing="6" data-of="10""#), "{html}");
    // The provider card counts the same failures, the same way.
    assert!(
        html.contains("6 of 10 (60 %) failing at its edge"),
        "{html}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_headline_says_recovering_only_once_recovery_has_held_and_keeps_the_peak() {
    let app = spawn_app().await;
    // Nine of ten failing from 11:30 to 12:00, then one until the end.
    let (members, probes) = cloudflare_minutes(10, start(), 54, |site, minute| {
        (site <= 9 && (10..40).contains(&minute)) || (site == 1 && minute >= 10)
    });
    let snapshot = judge(&members, &probes[..probes.len() - 10 * 8]);
    assert_eq!(
        snapshot.incidents[0].incident.phase,
        Phase::Confirmed,
        "six minutes on: not yet"
    );
    app.publish(snapshot);
    let html = home_page(&app).await;
    let text = headline(&html);
    assert!(
        text.contains("failures eased at 12:00 UTC, 18 Nov 2025, not over yet"),
        "{text}"
    );
    assert!(!text.contains("recovering"), "{text}");

    app.publish(judge(&members, &probes));
    let html = home_page(&app).await;
    assert!(
        html.contains("Cloudflare-wide outage since 11:30 UTC, 18 Nov 2025, recovering since 12:00 UTC, 18 Nov 2025: 1 of 10 watched Cloudflare sites (10 %) still failing; peak 9 of 10 (90 %)."),
        "{html}"
    );
    app.stop().await;
}

#[tokio::test]
async fn between_waves_the_headline_says_intermittent_not_recovering() {
    let app = spawn_app().await;
    // Five minutes failing, five answering, three times; judged in the
    // third lull.
    let (members, probes) = cloudflare_minutes(10, start(), 38, |site, minute| {
        site <= 8 && minute >= 10 && (minute - 10) % 10 < 5
    });
    app.publish(judge(&members, &probes));
    let html = home_page(&app).await;
    let text = headline(&html);
    assert!(
        text.contains(
            "intermittent: failures come and go (wave 3; quiet since 11:55 UTC, 18 Nov 2025)"
        ),
        "{text}"
    );
    assert!(!text.contains("recovering"), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn old_figures_are_called_stale_not_all_clear() {
    let app = spawn_app().await;
    let (members, probes) = cloudflare_minutes(10, start(), 5, |_, _| false);
    app.publish(judge(&members, &probes));
    let html = home_page(&app).await;
    let text = headline(&html);
    assert!(text.starts_with("No recent probes"), "{text}");
    assert!(html.contains("probing may have stalled"), "{html}");
    assert!(
        html.contains(r#"Probes up to <time data-test="as-of" datetime="2025-11-18T11:24:00Z">11:24:00 UTC, 18 Nov 2025</time>"#),
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

#[tokio::test]
async fn a_new_snapshot_reaches_the_cached_pages_at_once() {
    let app = spawn_app().await;
    let (members, probes) =
        cloudflare_minutes(10, start(), 20, |site, minute| site <= 6 && minute >= 10);
    let before = judge(&members, &probes[..probes.len() - 10 * 8]);
    let after = judge(&members, &probes);
    assert!(after.version > before.version);
    app.publish(before.clone());
    let first = home_page(&app).await;
    assert!(
        first.contains(&format!(r#"data-version="{}""#, before.version)),
        "{first}"
    );
    // Within the cache's freshness, the same version is served from it...
    assert_eq!(home_page(&app).await, first);
    // ...and a new one is not.
    app.publish(after.clone());
    let second = home_page(&app).await;
    assert!(
        second.contains(&format!(r#"data-version="{}""#, after.version)),
        "{second}"
    );
    app.stop().await;
}

#[tokio::test]
async fn every_answer_carries_a_policy_and_pages_allow_only_their_own_scripts() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/incidents",
        "/explain",
        "/healthz",
        "/incidents.atom",
        "/favicon.svg",
    ] {
        let response = reqwest::get(app.url(path)).await.unwrap();
        let headers = response.headers().clone();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert!(headers.contains_key("referrer-policy"), "{path}");
        let policy = headers["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
        let body = response.text().await.unwrap();
        if body.starts_with("<!DOCTYPE html>") {
            // One hash per inline script, and scripts from the app only.
            let inline = body.matches("<script").count() - body.matches("<script src=").count();
            assert_eq!(
                policy.matches("'sha256-").count(),
                inline,
                "{path}: {policy}"
            );
            assert!(
                policy.contains("script-src 'self' 'wasm-unsafe-eval'"),
                "{path}"
            );
        } else {
            assert!(policy.starts_with("default-src 'none'"), "{path}: {policy}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn ten_thousand_random_queries_leave_the_cache_bounded() {
    let mut cache = None;
    let app = crate::support::spawn_app_with(|state| {
        cache = Some(state.cache.clone());
        state
    })
    .await;
    let cache = cache.unwrap();
    let client = reqwest::Client::new();
    let paths = ["/", "/incidents", "/explain", "/provider/cloudflare"];
    for n in 0..10_000u32 {
        let path = paths[n as usize % paths.len()];
        let junk = format!("{path}?utm={n}&window={n}&now={n}&{n}={n}");
        client.get(app.url(&junk)).send().await.unwrap();
    }
    let usage = cache.usage();
    // One page per path (the provider page is a 404, never kept).
    assert!(usage.pages <= paths.len(), "{usage:?}");
    assert!(usage.bytes < 1024 * 1024, "{usage:?}");
    assert_eq!(usage.filling, 0, "{usage:?}");
    println!("after 10 000 random queries: {usage:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_revalidated_page_keeps_its_own_policy() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let first = client.get(app.url("/")).send().await.unwrap();
    let policy = first.headers()["content-security-policy"].clone();
    let etag = first.headers()["etag"].clone();
    assert!(policy.to_str().unwrap().contains("'sha256-"), "{policy:?}");
    let again = client
        .get(app.url("/"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    // The browser merges these headers into the page it kept: the page's
    // policy, never the closed one of other answers.
    assert_eq!(
        again.headers().get("content-security-policy"),
        Some(&policy)
    );
    app.stop().await;
}
