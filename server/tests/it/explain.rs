//! The error-page explainer as a visitor uses it: a plain form post, a
//! redirect to the kept answer, the answer in plain words.

use crate::support::spawn_app;

fn fixture(relative: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../engine/tests/fixtures")
        .join(relative);
    String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned()
}

#[tokio::test]
async fn a_pasted_page_is_explained_at_a_link_of_its_own() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = client.get(app.url("/explain")).send().await.unwrap();
    assert_eq!(form.status(), 200);
    assert!(form.text().await.unwrap().contains("name=\"html\""));

    let raw = fixture("raw/cloudflare__522__1.http");
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let posted = client
        .post(app.url("/api/explain"))
        // As a browser submits a form.
        .header("accept", "text/html,application/xhtml+xml")
        .form(&[("html", body), ("headers", head)])
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_redirection(), "{}", posted.status());
    let location = posted.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/explain/"), "{location}");
    let answer = client.get(app.url(&location)).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let html = answer.text().await.unwrap();
    assert!(
        html.contains("produced by Cloudflare, but the fault is the site&#x27;s own server")
            || html.contains("produced by Cloudflare, but the fault is the site's own server"),
        "{html}"
    );
    assert!(html.contains("origin_timeout"), "{html}");

    // The 18 Nov page, body only: Cloudflare's own fault.
    let edge = fixture("error-pages/cloudflare__500__1.html");
    let posted = client
        .post(app.url("/api/explain"))
        // As a browser submits a form.
        .header("accept", "text/html,application/xhtml+xml")
        .form(&[("html", edge.as_str()), ("headers", "")])
        .send()
        .await
        .unwrap();
    let location = posted.headers()["location"].to_str().unwrap().to_owned();
    let html = client
        .get(app.url(&location))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("fault is Cloudflare"), "{html}");

    let missing = client
        .get(app.url("/explain/0000000000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn one_client_cannot_flood_the_explainer() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut refused = 0;
    for _ in 0..30 {
        let response = client
            .post(app.url("/api/explain"))
            .form(&[
                ("html", "<html>oops</html>"),
                ("headers", "HTTP/1.1 502 Bad Gateway"),
            ])
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            refused += 1;
        }
    }
    assert!(refused >= 5, "only {refused} of 30 refused");
    app.stop().await;
}

/// Posts `html` to the explainer and returns the answer page.
async fn explained(app: &crate::support::TestApp, html: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let posted = client
        .post(app.url("/api/explain"))
        .form(&[("html", html), ("headers", "")])
        .send()
        .await
        .unwrap();
    let location = posted.headers()["location"].to_str().unwrap().to_owned();
    client
        .get(app.url(&location))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_text_copied_from_an_error_page_is_explained_in_plain_words() {
    let app = spawn_app().await;
    let text = fixture("visible-text/cloudflare__524__1.txt");
    let html = explained(&app, &text).await;
    assert!(
        html.contains("produced by Cloudflare, but the fault is the site"),
        "{html}"
    );
    assert!(html.contains("524, read from the page"), "{html}");
    // Codes only inside the details.
    let (plain, details) = html.split_once("How Faultline decided").unwrap();
    assert!(!plain.contains("origin_timeout"), "{plain}");
    assert!(details.contains("origin_timeout"), "{details}");
    // No live incident: none is named.
    assert!(!html.contains("data-test=\"explained-incident\""), "{html}");
    app.stop().await;
}

#[tokio::test]
async fn an_explained_page_links_the_live_incident_of_its_provider() {
    use crate::support::{cloudflare_minutes, judge};
    let app = spawn_app().await;
    let start = chrono::DateTime::parse_from_rfc3339("2025-11-18T11:00:00Z")
        .unwrap()
        .to_utc();
    let (members, probes) =
        cloudflare_minutes(10, start, 20, |site, minute| site <= 8 && minute >= 5);
    let mut snapshot = judge(&members, &probes);
    let live = snapshot
        .incidents
        .first_mut()
        .expect("the judged minutes open an incident");
    live.id = Some(41);
    app.publish(snapshot);
    let html = explained(&app, &fixture("error-pages/cloudflare__500__1.html")).await;
    let (_, link) = html
        .split_once("data-test=\"explained-incident\"")
        .unwrap_or_else(|| panic!("no incident named: {html}"));
    assert!(link.contains("href=\"/incident/41\""), "{link}");
    assert!(link.contains("Cloudflare-wide outage"), "{link}");
    app.stop().await;
}

/// Statuses of `count` explanations posted as coming from `forwarded_for`.
async fn posted_as(app: &crate::support::TestApp, forwarded_for: &str, count: usize) -> Vec<u16> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..count {
        let response = client
            .post(app.url("/api/explain"))
            .header("x-forwarded-for", forwarded_for)
            .form(&[("html", "<html>oops</html>"), ("headers", "")])
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn limits_key_on_the_real_client_only_behind_a_trusted_proxy() {
    // Not trusted: a client cannot escape its budget by naming others.
    let app = spawn_app().await;
    let mut refused = 0;
    for n in 0..30 {
        refused += posted_as(&app, &format!("198.51.100.{n}"), 1)
            .await
            .iter()
            .filter(|s| **s == 429)
            .count();
    }
    assert!(
        refused >= 5,
        "forwarded addresses were believed: {refused} refused"
    );
    app.stop().await;

    // Trusted: each client behind the proxy has its own budget, and an
    // IPv6 client's whole /64 shares one.
    let app = crate::support::spawn_app_with(|mut state| {
        state.trusted_proxies = std::sync::Arc::new(vec!["127.0.0.0/8".parse().unwrap()]);
        state
    })
    .await;
    let flooding = posted_as(&app, "2001:db8:1:2::1, 127.0.0.1", 25).await;
    assert!(flooding.contains(&429), "{flooding:?}");
    let same_block = posted_as(&app, "2001:db8:1:2::ffff", 1).await;
    assert_eq!(same_block, [429]);
    let someone_else = posted_as(&app, "2001:db8:1:3::1", 1).await;
    assert_ne!(someone_else, [429]);
    app.stop().await;
}
