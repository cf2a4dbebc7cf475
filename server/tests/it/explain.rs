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
