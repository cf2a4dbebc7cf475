//! The public API over HTTP, against the small Cloudflare outage the page
//! tests use: its answers agree with the pages and the exports, lists
//! page and filter, reads are conditional and open to other origins,
//! refusals are problem details, and the budget per client holds.

use serde_json::Value;

use crate::pages::populate;
use crate::support::{spawn_app, spawn_app_with};

async fn json(url: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap())
}

/// The text as a page's HTML escapes it.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[tokio::test]
async fn an_incident_answer_agrees_with_its_page_and_its_csv_export() {
    let app = spawn_app().await;
    let id = populate(&app).await;

    let (status, headers, api) = json(&app.url(&format!("/api/v1/incidents/{id}"))).await;
    assert_eq!(status, 200, "{api}");
    assert_eq!(headers["content-type"], "application/json");
    let page = reqwest::get(app.url(&format!("/incident/{id}")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csv_text = reqwest::get(app.url(&format!("/incidents/{id}/export.csv")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    // The same snapshot as the page.
    let version = api["snapshot"]["version"].as_u64().unwrap();
    assert!(version > 0);
    assert!(
        page.contains(&format!("data-version=\"{version}\"")),
        "the page shows another snapshot than version {version}"
    );
    // The same figures: peak, sites affected, and the paragraph to cite.
    let incident = &api["incident"];
    assert_eq!(incident["id"], id);
    assert_eq!(incident["provider"], "cloudflare");
    assert_eq!(incident["phase"], "resolved");
    assert_eq!(incident["pattern"], "intermittent");
    assert_eq!(incident["sites_affected"], 2);
    let peak = format!(
        "{} of {} ({} %)",
        incident["peak"]["failing"], incident["peak"]["of"], incident["peak"]["percent"]
    );
    assert_eq!(peak, "2 of 2 (100 %)");
    assert!(page.contains(&peak), "the page does not show {peak}");
    let citation = api["citation"].as_str().unwrap();
    assert!(citation.contains("Cloudflare"), "{citation}");
    assert!(
        page.contains(&escaped(citation)) || page.contains(citation),
        "the page does not cite {citation:?}"
    );
    assert!(page.contains(&escaped(incident["title"].as_str().unwrap())));

    // The same affected sites, with the same first and last failures.
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let columns = reader.headers().unwrap().clone();
    let column = |name: &str| columns.iter().position(|c| c == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let sites = api["affected_sites"].as_array().unwrap();
    assert_eq!(rows.len(), sites.len());
    for (row, site) in rows.iter().zip(sites) {
        assert_eq!(&row[column("host")], site["host"].as_str().unwrap());
        assert_eq!(
            &row[column("first_failure")],
            site["first_failure"].as_str().unwrap()
        );
        assert_eq!(
            &row[column("last_failure")],
            site["last_failure"].as_str().unwrap()
        );
        assert_eq!(&row[column("fault")], site["fault"].as_str().unwrap());
        assert!(page.contains(site["host"].as_str().unwrap()));
    }
    // The timeline and its marked moments.
    assert_eq!(api["timeline"].as_array().unwrap().len(), 4);
    let labels: Vec<&str> = api["moments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["label"].as_str().unwrap())
        .collect();
    for label in ["Onset", "Detected", "Recovering", "Resolved"] {
        assert!(labels.contains(&label), "{labels:?}");
    }
    assert_eq!(
        incident["links"]["csv"],
        app.url(&format!("/incidents/{id}/export.csv"))
    );

    let (status, _, unknown) = json(&app.url("/api/v1/planets")).await;
    assert_eq!(status, 404);
    assert_eq!(unknown["detail"], "No such API resource.");
    let (status, headers, problem) = json(&app.url("/api/v1/incidents/999")).await;
    assert_eq!(status, 404);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(problem["status"], 404);
    assert_eq!(problem["title"], "Not Found");
    assert_eq!(problem["detail"], "No such incident.");
    app.stop().await;
}

#[tokio::test]
async fn incident_lists_filter_and_page_and_refuse_what_does_not_read() {
    let app = spawn_app().await;
    let id = populate(&app).await;

    let (_, _, all) = json(&app.url("/api/v1/incidents?kind=provider")).await;
    let items = all["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{all}");
    assert_eq!(items[0]["id"], id);
    assert_eq!(items[0]["title"], "Cloudflare-wide CDN outage");
    assert!(all["next_cursor"].is_null());

    for (query, expected) in [
        ("provider=cloudflare", 1),
        ("provider=fastly", 0),
        ("state=open&kind=provider", 0),
        ("state=resolved&kind=provider", 1),
        ("since=2025-11-18T11:40:00Z&kind=provider", 0),
        ("until=2025-11-18T11:10:00Z", 0),
        (
            "since=2025-11-18T11:00:00Z&until=2025-11-18T12:00:00Z&kind=provider",
            1,
        ),
    ] {
        let (status, _, list) = json(&app.url(&format!("/api/v1/incidents?{query}"))).await;
        assert_eq!(status, 200, "{query}: {list}");
        assert_eq!(list["items"].as_array().unwrap().len(), expected, "{query}");
    }

    for query in [
        "state=maybe",
        "kind=planet",
        "since=yesterday",
        "limit=0",
        "limit=1000",
        "limit=x",
        "cursor=nonsense",
    ] {
        let (status, headers, problem) =
            json(&app.url(&format!("/api/v1/incidents?{query}"))).await;
        assert_eq!(status, 400, "{query}: {problem}");
        assert_eq!(headers["content-type"], "application/problem+json");
        assert!(!problem["detail"].as_str().unwrap().is_empty());
    }

    // Sites page by cursor until the last page says there is none.
    let mut hosts = Vec::new();
    let mut url = app.url("/api/v1/sites?limit=2");
    loop {
        let (status, _, page) = json(&url).await;
        assert_eq!(status, 200, "{page}");
        hosts.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["host"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => url = app.url(&format!("/api/v1/sites?limit=2&cursor={cursor}")),
            None => break,
        }
    }
    assert_eq!(hosts, ["a.test", "b.test", "c.test"]);
    let (_, _, found) = json(&app.url("/api/v1/sites?q=B.T")).await;
    assert_eq!(found["items"][0]["host"], "b.test");
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn site_and_provider_answers_say_what_their_pages_say() {
    let app = spawn_app().await;
    let id = populate(&app).await;

    let (status, _, site) = json(&app.url("/api/v1/sites/a.test")).await;
    assert_eq!(status, 200, "{site}");
    assert_eq!(site["status"]["state"], "up");
    assert_eq!(site["last_error"]["fault"], "edge_error");
    assert_eq!(site["last_error"]["fault_side"], "edge");
    assert_eq!(site["last_error"]["error_page_by"], "cloudflare");
    assert_eq!(site["explained_by"]["id"], id);
    let providers = site["providers"].as_array().unwrap();
    assert_eq!(providers[0]["provider"], "cloudflare");
    assert_eq!(providers[0]["evidence"][0], "server: cloudflare");
    assert_eq!(site["series"]["window"], "24h");
    assert!(!site["series"]["bins"].as_array().unwrap().is_empty());
    let (_, _, week) = json(&app.url("/api/v1/sites/a.test?window=7d")).await;
    assert_eq!(week["series"]["window"], "7d");
    let (status, _, missing) = json(&app.url("/api/v1/sites/nowhere.test")).await;
    assert_eq!(status, 404, "{missing}");
    assert_eq!(
        json(&app.url("/api/v1/sites/a.test?window=1y")).await.0,
        400
    );

    let (_, _, providers) = json(&app.url("/api/v1/providers")).await;
    let ids: Vec<&str> = providers["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["cloudflare", "fastly"]);
    let cloudflare = &providers["items"][0];
    assert_eq!(cloudflare["name"], "Cloudflare");
    assert_eq!(cloudflare["cohorts"][0]["role"], "cdn");
    assert_eq!(cloudflare["cohorts"][0]["sites"], 2);

    let (status, _, one) = json(&app.url("/api/v1/providers/cloudflare")).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["past_incidents"][0]["id"], id);
    assert_eq!(one["sites"].as_array().unwrap().len(), 2);
    let page = reqwest::get(app.url("/provider/cloudflare"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let health = one["cohorts"][0]["health_text"].as_str().unwrap();
    assert!(page.contains(health), "the page does not say {health:?}");
    assert_eq!(json(&app.url("/api/v1/providers/nobody")).await.0, 404);
    app.stop().await;
}

#[tokio::test]
async fn reads_are_conditional_shared_for_seconds_and_open_to_other_origins() {
    let app = spawn_app().await;
    populate(&app).await;
    let client = reqwest::Client::new();
    let url = app.url("/api/v1/providers");

    let first = client.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let headers = first.headers().clone();
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert!(headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age=5"));
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert_eq!(headers["ratelimit-policy"], "\"api\";q=300;w=60");
    assert!(headers["ratelimit"]
        .to_str()
        .unwrap()
        .starts_with("\"api\";r="));

    let again = client
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    let preflight = client
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://newsroom.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "if-none-match")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    assert!(preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("if-none-match"));

    // Writes are not open to other origins' pages.
    let explained = client
        .post(app.url("/api/v1/explain"))
        .json(&serde_json::json!({"html": "<h1>502 Bad Gateway</h1>"}))
        .send()
        .await
        .unwrap();
    assert_eq!(explained.status(), 200);
    assert!(explained
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    app.stop().await;
}

#[tokio::test]
async fn past_its_budget_a_client_is_told_when_to_come_back() {
    let app = spawn_app_with(|mut state| {
        state.api_limits = server::api::ApiLimits::per_minute(3);
        state
    })
    .await;
    let client = reqwest::Client::new();
    for left in (0..3).rev() {
        let response = client
            .get(app.url("/api/v1/incidents"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["ratelimit"],
            format!("\"api\";r={left};t=0").as_str()
        );
    }
    let refused = client
        .get(app.url("/api/v1/incidents"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["status"], 429);
    // The pages are not the API's budget.
    assert_eq!(client.get(app.url("/")).send().await.unwrap().status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn explain_classifies_a_posted_page_and_refuses_bodies_that_do_not_read() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let page = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../engine/tests/fixtures/error-pages/cloudflare__500__1.html"),
    )
    .unwrap();
    let answer: Value = client
        .post(app.url("/api/v1/explain"))
        .json(&serde_json::json!({ "html": page }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["provider"], "Cloudflare", "{answer}");
    assert_eq!(answer["fault_side"], "edge");
    assert_eq!(answer["status"], 500);
    assert_eq!(answer["status_from_page"], true);

    for (body, content_type, status) in [
        ("{\"html\": 5}", "application/json", 422),
        ("{\"html\": ", "application/json", 400),
        ("html=x", "application/x-www-form-urlencoded", 415),
    ] {
        let response = client
            .post(app.url("/api/v1/explain"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{body}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{body}"
        );
    }
    // Check-now without a prober says so.
    let response = client
        .post(app.url("/api/v1/check"))
        .json(&serde_json::json!({ "url": "example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let response = client
        .post(app.url("/api/v1/check"))
        .json(&serde_json::json!({ "url": "not a site" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    app.stop().await;
}

#[tokio::test]
async fn the_document_lists_every_route_and_its_reference_page_renders_it() {
    let app = spawn_app().await;
    let (status, _, document) = json(&app.url("/api/openapi.json")).await;
    assert_eq!(status, 200);
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();
    for path in [
        "/api/v1/sites",
        "/api/v1/sites/{host}",
        "/api/v1/providers",
        "/api/v1/providers/{id}",
        "/api/v1/incidents",
        "/api/v1/incidents/{id}",
        "/api/v1/check",
        "/api/v1/explain",
    ] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
    // Words are documented with their spellings.
    let phase = &document["components"]["schemas"]["IncidentItem"]["properties"]["phase"];
    assert!(
        phase["enum"]
            .as_array()
            .unwrap()
            .contains(&Value::from("recovering")),
        "{phase}"
    );

    let response = reqwest::get(app.url("/api")).await.unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    for path in paths.keys() {
        assert!(html.contains(&escaped(path)), "the reference lacks {path}");
    }
    assert!(html.contains("id=\"schema-incidentdetail\""));
    app.stop().await;
}

/// A program installed into `.tools/venv` by `scripts/setup`.
fn tool(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../.tools/venv/bin/{name}"))
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_undocumented_status_or_schema_violation() {
    // 18 Nov 2025 replayed: open and resolved incidents, sites up and
    // down, the answers worth fuzzing. A budget no fuzzer reaches.
    let replay = crate::support::Replayed::start_with("cloudflare-2025-11-18.toml", |mut state| {
        state.api_limits = server::api::ApiLimits::per_minute(1_000_000);
        state
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let document = dir.path().join("openapi.json");
    let text = reqwest::get(replay.url("/api/openapi.json"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    std::fs::write(&document, &text).unwrap();
    let operations: usize = serde_json::from_str::<Value>(&text).unwrap()["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();

    let validated = tokio::process::Command::new(tool("openapi-spec-validator"))
        .arg(&document)
        .output()
        .await
        .unwrap();
    assert!(
        validated.status.success(),
        "openapi-spec-validator refuses the document: {}{}",
        String::from_utf8_lossy(&validated.stdout),
        String::from_utf8_lossy(&validated.stderr)
    );

    let fuzzed = tokio::process::Command::new(tool("schemathesis"))
        .current_dir(dir.path())
        .args([
            "--no-color",
            "run",
            &replay.url("/api/openapi.json"),
            "--url",
            &replay.url(""),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples",
            "40",
            "--seed",
            "18112025",
        ])
        .output()
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&fuzzed.stdout);
    assert!(
        fuzzed.status.success(),
        "schemathesis found failures:\n{report}\n{}",
        String::from_utf8_lossy(&fuzzed.stderr)
    );
    // Every operation the document lists, the writes included (which
    // answer 401 to a fuzzer without a token, as documented).
    assert!(
        report.contains(&format!("Tested: {operations}")),
        "{report}"
    );
    replay.finish().await;
}

/// A token made as `faultline tokens create` makes one.
async fn token(
    app: &crate::support::TestApp,
    name: &str,
    scope: store::TokenScope,
) -> (i64, String) {
    let (token, hash) = app::admin_tokens::new_token();
    let id = app
        .store
        .create_api_token(name, scope, &hash, "test", chrono::Utc::now())
        .await
        .unwrap();
    (id, token)
}

#[tokio::test]
async fn a_write_token_keeps_the_watchlist_and_notes_and_nothing_else_may() {
    let app = spawn_app().await;
    let incident = populate(&app).await;
    let (writer_id, writer) = token(&app, "newsroom", store::TokenScope::Write).await;
    let (_, reader) = token(&app, "dashboard", store::TokenScope::Read).await;
    let client = reqwest::Client::new();
    let add = |token: Option<&str>| {
        let mut request = client
            .post(app.url("/api/v1/sites"))
            .json(&serde_json::json!({ "url": "https://d.test/", "tags": ["shop"] }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request
    };

    // No token, an unknown one, one that may only read.
    let refused = add(None).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(
        add(Some("flt_nonsense")).send().await.unwrap().status(),
        401
    );
    assert_eq!(add(Some(&reader)).send().await.unwrap().status(), 403);
    // A read token reads, on a budget of its own.
    let read = client
        .get(app.url("/api/v1/providers"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    assert_eq!(read.headers()["ratelimit-policy"], "\"api\";q=3000;w=60");

    // Added, then already there.
    let added = add(Some(&writer)).send().await.unwrap();
    assert_eq!(added.status(), 201);
    assert_eq!(added.headers()["location"], "/api/v1/sites/d.test");
    let site: Value = added.json().await.unwrap();
    assert_eq!(site["host"], "d.test");
    assert_eq!(site["tags"][0], "shop");
    assert_eq!(add(Some(&writer)).send().await.unwrap().status(), 200);

    // Edited within the watchlist's rules.
    let edit = |body: Value| {
        client
            .patch(app.url("/api/v1/sites/d.test"))
            .bearer_auth(&writer)
            .json(&body)
            .send()
    };
    let edited: Value = edit(serde_json::json!({ "name": "Dee", "interval_s": 120 }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(edited["name"], "Dee");
    assert_eq!(edited["interval_s"], 120);
    assert_eq!(edited["tags"][0], "shop", "left out, so kept");
    let refused = edit(serde_json::json!({ "interval_s": 1 })).await.unwrap();
    assert_eq!(refused.status(), 400);
    let refused = edit(serde_json::json!({ "colour": "red" })).await.unwrap();
    assert_eq!(refused.status(), 422);

    // Imported: the good line added, the bad one said.
    let imported: Value = client
        .post(app.url("/api/v1/sites/import"))
        .bearer_auth(&writer)
        .json(&serde_json::json!({ "format": "plain", "text": "https://e.test/\nftp://nope\n" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(imported["added"], 1, "{imported}");
    assert_eq!(imported["rejected"].as_array().unwrap().len(), 1);
    assert!(imported["rejected"][0].as_str().unwrap().contains("line 2"));

    // Removed; its history stays, so a second removal finds nothing.
    let remove = || {
        client
            .delete(app.url("/api/v1/sites/d.test"))
            .bearer_auth(&writer)
            .send()
    };
    assert_eq!(remove().await.unwrap().status(), 204);
    assert_eq!(remove().await.unwrap().status(), 404);
    let (_, _, listed) = json(&app.url("/api/v1/sites?q=d.test")).await;
    assert!(listed["items"].as_array().unwrap().is_empty(), "{listed}");

    // A note on the incident, shown with its author, then deleted.
    let note: Value = client
        .post(app.url(&format!("/api/v1/incidents/{incident}/notes")))
        .bearer_auth(&writer)
        .json(&serde_json::json!({
            "text": "Cloudflare: investigating",
            "url": "https://www.cloudflarestatus.com/",
            "at": "2025-11-18T11:48:00Z",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(note["author"], "token:newsroom");
    let (_, _, detail) = json(&app.url(&format!("/api/v1/incidents/{incident}"))).await;
    assert_eq!(
        detail["annotations"][0]["text"],
        "Cloudflare: investigating"
    );
    let deleted = client
        .delete(app.url(&format!(
            "/api/v1/incidents/{incident}/notes/{}",
            note["id"]
        )))
        .bearer_auth(&writer)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);

    // Alert subscriptions: a webhook the delivery guard refuses, one it
    // takes (its secret in that answer only), listed, removed.
    let subscribe = |target: &str| {
        client
            .post(app.url("/api/v1/subscriptions"))
            .bearer_auth(&writer)
            .json(&serde_json::json!({
                "channel": "webhook",
                "target": target,
                "follows": ["provider:cloudflare"],
                "early_warning": true,
            }))
            .send()
    };
    let refused = subscribe("http://127.0.0.1:9/hook").await.unwrap();
    assert_eq!(refused.status(), 400);
    let made = subscribe("https://hooks.example.com/faultline")
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let made: Value = made.json().await.unwrap();
    assert!(
        made["secret"].as_str().unwrap().starts_with("whsec_"),
        "{made}"
    );
    assert_eq!(made["state"], "active");
    assert!(
        made["follows"].as_str().unwrap().contains("Cloudflare"),
        "{made}"
    );
    let listed: Value = client
        .get(app.url("/api/v1/subscriptions"))
        .bearer_auth(&writer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["target"], "https://hooks.example.com/faultline");
    assert!(listed[0]["secret"].is_null(), "a secret is shown once");
    let listing = client
        .get(app.url("/api/v1/subscriptions"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(listing.status(), 403, "targets are private");
    let removed = client
        .delete(app.url(&format!("/api/v1/subscriptions/{}", made["id"])))
        .bearer_auth(&writer)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);

    // Every change is in the audit trail under the token's name, and the
    // token's use is noted.
    let audit = app.store.recent_audit(20).await.unwrap();
    let actions: Vec<&str> = audit
        .iter()
        .filter(|e| e.username == "token:newsroom")
        .map(|e| e.action.as_str())
        .collect();
    for action in [
        "add site",
        "edit site",
        "import",
        "remove site",
        "add note",
        "delete note",
        "add subscription",
        "remove subscription",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    let tokens = app.store.api_tokens().await.unwrap();
    let used = tokens.iter().find(|t| t.id == writer_id).unwrap();
    assert!(used.last_used_at.is_some());

    // Revoked: refused at once.
    app.store
        .revoke_api_token(writer_id, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(add(Some(&writer)).send().await.unwrap().status(), 401);
    app.stop().await;
}
