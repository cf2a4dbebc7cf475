//! The public pages as served HTML, the incident exports and the Atom
//! feeds, over HTTP against a database holding a small Cloudflare outage.

use chrono::{DateTime, TimeDelta, Utc};
use engine::{FailureClass, Fault, FaultSide, Pattern, Phase, Role};
use store::{NewSite, ProbeRecord, ProviderIncidentRow};

use crate::support::{judge, spawn_app, TestApp};

fn t(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// a.test and b.test behind Cloudflare get its edge 500 from 11:20 to
/// 11:29; c.test behind Fastly stays up. Publishes what the correlator
/// makes of the probes; returns the stored incident's id.
pub(crate) async fn populate(app: &TestApp) -> i64 {
    let store = &app.store;
    let start = t("2025-11-18T11:00:00Z");
    let sites: Vec<NewSite> = ["a.test", "b.test", "c.test"]
        .iter()
        .map(|host| NewSite {
            url: format!("https://{host}/"),
            host: (*host).to_owned(),
            name: (*host).to_owned(),
            tags: vec![],
            interval_s: 60,
        })
        .collect();
    store.add_sites(&sites, start).await.unwrap();
    let mut ids = Vec::new();
    for host in ["a.test", "b.test", "c.test"] {
        ids.push(store.site_by_host(host).await.unwrap().unwrap().id);
    }
    for (id, provider, evidence) in [
        (ids[0], "cloudflare", "server: cloudflare"),
        (ids[1], "cloudflare", "cf-ray header"),
        (ids[2], "fastly", "x-served-by: cache-"),
    ] {
        let seen = vec![(provider.to_owned(), Role::Cdn, vec![evidence.to_owned()])];
        store.record_attribution(id, &seen, start).await.unwrap();
    }
    let mut batch = Vec::new();
    for minute in 0..40 {
        let at = start + TimeDelta::minutes(minute);
        for (n, id) in ids.iter().enumerate() {
            let failing = n < 2 && (20..30).contains(&minute);
            batch.push(if failing {
                ProbeRecord {
                    site_id: *id,
                    started_at: at,
                    status: Some(500),
                    failure: Some(FailureClass::HttpStatus),
                    provider: Some("cloudflare".to_owned()),
                    fault_side: Some(FaultSide::Edge),
                    fault: Some(Fault::EdgeError),
                    confidence: Some(0.95),
                    evidence: Some(
                        r#"["cloudflare error page: cf-error-source","cf-ray: 8a1"]"#.to_owned(),
                    ),
                    total_ms: Some(30),
                    ..ProbeRecord::default()
                }
            } else {
                ProbeRecord {
                    site_id: *id,
                    started_at: at,
                    ok: true,
                    status: Some(200),
                    dns_ms: Some(2),
                    connect_ms: Some(9),
                    tls_ms: Some(18),
                    ttfb_ms: Some(95),
                    total_ms: Some(120),
                    ..ProbeRecord::default()
                }
            });
        }
    }
    store.insert_probes(&batch).await.unwrap();
    let members = [
        (ids[0], "cloudflare", Role::Cdn),
        (ids[1], "cloudflare", Role::Cdn),
        (ids[2], "fastly", Role::Cdn),
    ];
    app.publish(judge(&members, &batch));
    store
        .save_provider_incident(
            None,
            &ProviderIncidentRow {
                mechanism: engine::Mechanism::Own,
                origins: 0,
                provider: "cloudflare".to_owned(),
                role: Role::Cdn,
                phase: Phase::Resolved,
                pattern: Pattern::Intermittent,
                onset_at: t("2025-11-18T11:20:00Z"),
                detected_at: t("2025-11-18T11:21:00Z"),
                confirmed_at: Some(t("2025-11-18T11:21:00Z")),
                peak_share: 1.0,
                peak_at: t("2025-11-18T11:22:00Z"),
                recovering_at: Some(t("2025-11-18T11:30:00Z")),
                resolved_at: Some(t("2025-11-18T11:35:00Z")),
                confidence: 0.95,
                sites: vec![
                    (ids[0], t("2025-11-18T11:20:00Z"), t("2025-11-18T11:29:00Z")),
                    (ids[1], t("2025-11-18T11:20:00Z"), t("2025-11-18T11:29:00Z")),
                ],
                evidence: vec![format!("site {}: edge_error (page by cloudflare)", ids[0])],
                timeline: [
                    ("2025-11-18T11:21:00Z", 2),
                    ("2025-11-18T11:24:00Z", 0),
                    ("2025-11-18T11:26:00Z", 2),
                    ("2025-11-18T11:30:00Z", 0),
                ]
                .into_iter()
                .map(|(at, failing)| engine::TimelinePoint {
                    at: t(at),
                    share: f64::from(failing) / 2.0,
                    tally: engine::Tally::new(failing, 2),
                })
                .collect(),
                ..ProviderIncidentRow::default()
            },
            t("2025-11-18T11:35:00Z"),
        )
        .await
        .unwrap()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get(url: &str) -> (u16, String) {
    let response = no_redirects().get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn the_site_page_explains_the_last_error_and_charts_the_day() {
    let app = spawn_app().await;
    let incident = populate(&app).await;
    let (status, html) = get(&app.url("/site/a.test")).await;
    assert_eq!(status, 200, "{html}");
    for wanted in [
        "a.test is up: it answered normally at 11:39 UTC, 18 Nov 2025",
        "the error page was generated by Cloudflare",
        "s edge, not the site",
        &format!("/incident/{incident}"),
        "Cloudflare-wide CDN outage",
        "Failed probes, last 24 hours",
        "Response time, last 24 hours",
        "<title id=\"availability-title\">",
        "server: cloudflare",
        "First byte",
    ] {
        assert!(
            html.contains(wanted),
            "{wanted:?} missing from the site page"
        );
    }
    let (_, week) = get(&app.url("/site/a.test?window=7d")).await;
    assert!(week.contains("Failed probes, last 7 days"));

    let (status, html) = get(&app.url("/site/nowhere.test")).await;
    assert_eq!(status, 404);
    assert!(html.contains("nowhere.test is not on the watchlist"));
    app.stop().await;
}

#[tokio::test]
async fn a_search_goes_to_the_site_page_or_says_it_is_not_watched() {
    let app = spawn_app().await;
    populate(&app).await;
    let client = no_redirects();
    let response = client
        .get(app.url("/check?q=https%3A%2F%2FA.test%2Fsome%2Fpage"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], "/site/a.test");
    let response = client
        .get(app.url("/check?q=www.b.test"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], "/site/b.test");

    let (status, html) = get(&app.url("/check?q=elsewhere.example")).await;
    assert_eq!(status, 404);
    assert!(html.contains("elsewhere.example is not on Faultline"));
    let (status, html) = get(&app.url("/check?q=not+a+site")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Enter a domain"));
    app.stop().await;
}

#[tokio::test]
async fn provider_and_incident_pages_render_on_the_server() {
    let app = spawn_app().await;
    let incident = populate(&app).await;
    let (status, home) = get(&app.url("/")).await;
    assert_eq!(status, 200);
    assert!(home.contains("href=\"/provider/cloudflare\""));
    assert!(home.contains("action=\"/check\""));

    let (status, html) = get(&app.url("/provider/cloudflare")).await;
    assert_eq!(status, 200);
    for wanted in ["All 2 answering", "href=\"/site/b.test\"", "Past incidents"] {
        assert!(
            html.contains(wanted),
            "{wanted:?} missing from the provider page"
        );
    }
    assert_eq!(get(&app.url("/provider/nobody")).await.0, 404);

    let (status, html) = get(&app.url("/incidents")).await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!("href=\"/incident/{incident}\"")));
    assert!(
        html.contains("<link href=\"/incidents.atom\" rel=\"alternate\""),
        "feed discovery link missing"
    );

    app.store
        .annotate_incident(
            incident,
            t("2025-11-18T11:25:00Z"),
            "Cloudflare's status page: investigating",
            Some("https://status.example/"),
            "desk",
            t("2025-11-18T12:00:00Z"),
        )
        .await
        .unwrap();
    let (status, html) = get(&app.url(&format!("/incident/{incident}"))).await;
    assert_eq!(status, 200);
    for wanted in [
        "Note 1",
        "status page: investigating",
        "INTERMITTENT",
        "2 waves above half the peak share",
        "Peak 2 of 2 (100 %)",
        "Share of sites failing over time",
        "Source: Faultline incident #",
        &format!("/incidents/{incident}/export.csv"),
        "cf-ray: 8a1",
        // Evidence names the site, in words.
        "a.test: the provider",
        "to serve the page (error page by Cloudflare)",
        // The waves, the date in the title, the link preview's card.
        "data-test=\"waves\"",
        "<title>Cloudflare-wide CDN outage, 18 Nov 2025 · Faultline</title>",
        "property=\"og:title\" content=\"Cloudflare-wide CDN outage, 18 Nov 2025\"",
        "name=\"twitter:card\" content=\"summary_large_image\"",
        &format!("/incidents/{incident}/card.png\""),
    ] {
        assert!(
            html.contains(wanted),
            "{wanted:?} missing from the incident page"
        );
    }
    assert!(!html.contains("edge_error (page by"), "raw evidence shown");
    let waves = html.split("data-test=\"waves\"").nth(1).unwrap();
    let waves = waves.split("</table>").next().unwrap();
    assert_eq!(waves.matches("<tr>").count(), 3, "{waves}");
    let card = reqwest::get(app.url(&format!("/incidents/{incident}/card.png")))
        .await
        .unwrap();
    assert_eq!(card.status(), 200);
    assert_eq!(card.headers()["content-type"], "image/png");
    let png = card.bytes().await.unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let size = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    assert_eq!((size(16), size(20)), (1200, 630));
    assert_eq!(
        reqwest::get(app.url("/incidents/999/card.png"))
            .await
            .unwrap()
            .status(),
        404
    );
    let a = app.store.site_by_host("a.test").await.unwrap().unwrap().id;
    let own = app
        .store
        .open_site_incident(
            a,
            t("2025-11-18T11:20:00Z"),
            t("2025-11-18T11:22:00Z"),
            Some(engine::Cause::Fault(Fault::EdgeError)),
            Some(incident),
        )
        .await
        .unwrap();
    let (status, html) = get(&app.url(&format!("/incident/{own}"))).await;
    assert_eq!(status, 200);
    assert!(html.contains("a.test down"));
    assert!(html.contains(&format!(
        "Explained by the provider-wide <a href=\"/incident/{incident}\""
    )));
    assert_eq!(get(&app.url("/incident/999")).await.0, 404);
    assert_eq!(get(&app.url("/incident/abc")).await.0, 404);
    app.stop().await;
}

#[tokio::test]
async fn exports_carry_the_affected_sites_and_the_figures() {
    let app = spawn_app().await;
    let incident = populate(&app).await;

    let response = reqwest::get(app.url(&format!("/incidents/{incident}/export.csv")))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let body = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[3], "host");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let host = headers.iter().position(|h| h == "host").unwrap();
    let side = headers.iter().position(|h| h == "fault_side").unwrap();
    let evidence = headers.iter().position(|h| h == "evidence").unwrap();
    assert_eq!(&rows[0][host], "a.test");
    assert_eq!(&rows[0][side], "edge");
    assert_eq!(&rows[0][1], "cloudflare");
    assert!(rows[0][evidence].contains("cf-ray: 8a1"));

    let json: serde_json::Value =
        reqwest::get(app.url(&format!("/incidents/{incident}/export.json")))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(json["provider"], "cloudflare");
    assert_eq!(json["pattern"], "intermittent");
    assert_eq!(json["onset_at"], "2025-11-18T11:20:00Z");
    assert_eq!(json["sites_affected"], 2);
    assert_eq!(json["sites"].as_array().unwrap().len(), 2);
    assert_eq!(json["timeline"].as_array().unwrap().len(), 4);
    assert_eq!(json["timeline"][0]["failing"], 2);
    assert_eq!(json["peak"]["failing"], 2);
    assert_eq!(json["peak"]["percent"], 100);
    assert!(json["snapshot"]["version"].as_u64().unwrap() > 0);
    assert!(json["permalink"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/incident/{incident}")));

    for missing in ["/incidents/999/export.csv", "/incidents/x/export.json"] {
        let response = reqwest::get(app.url(missing)).await.unwrap();
        assert_eq!(response.status(), 404, "{missing}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_incident_feeds_are_atom_a_feed_reader_understands() {
    let app = spawn_app().await;
    let incident = populate(&app).await;
    let response = reqwest::get(app.url("/incidents.atom")).await.unwrap();
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/atom+xml"));
    let feed = feed_rs::parser::parse(response.bytes().await.unwrap().as_ref()).unwrap();
    assert_eq!(feed.feed_type, feed_rs::model::FeedType::Atom);
    assert_eq!(feed.entries.len(), 1);
    let entry = &feed.entries[0];
    let title = entry.title.as_ref().unwrap().content.clone();
    assert_eq!(title, "Cloudflare-wide CDN outage (resolved)");
    assert!(entry.links[0]
        .href
        .ends_with(&format!("/incident/{incident}")));
    assert_eq!(entry.updated, Some(t("2025-11-18T11:35:00Z")));
    let summary = entry.summary.as_ref().unwrap();
    assert_eq!(summary.content_type.to_string(), "text/html");
    assert!(
        summary
            .content
            .contains("<li>Peak: 2 of 2 (100 %) of the watched sites failing</li><li>Sites affected: 2 sites</li>"),
        "{}",
        summary.content
    );
    // The feed names the snapshot its figures come from, as the pages do.
    let subtitle = feed.description.as_ref().unwrap().content.clone();
    assert!(subtitle.starts_with("Snapshot "), "{subtitle}");

    let mine = reqwest::get(app.url("/provider/cloudflare/incidents.atom"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mine = feed_rs::parser::parse(mine.as_ref()).unwrap();
    assert_eq!(mine.entries.len(), 1);
    let none = reqwest::get(app.url("/provider/fastly/incidents.atom"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let none = feed_rs::parser::parse(none.as_ref()).unwrap();
    assert!(none.entries.is_empty());
    assert!(none.title.unwrap().content.contains("Fastly"));

    // A site's feed: the outages it was caught in, and its own incidents.
    let c = app.store.site_by_host("c.test").await.unwrap().unwrap().id;
    let own = app
        .store
        .open_site_incident(
            c,
            t("2025-11-18T12:00:00Z"),
            t("2025-11-18T12:01:00Z"),
            Some(engine::Cause::Fault(Fault::OriginError)),
            None,
        )
        .await
        .unwrap();
    let site_feed = |host: &'static str| {
        let url = app.url(&format!("/site/{host}/incidents.atom"));
        async move {
            let response = reqwest::get(url).await.unwrap();
            let status = response.status();
            (status, response.bytes().await.unwrap())
        }
    };
    let (status, body) = site_feed("A.test").await;
    assert_eq!(status, 200);
    let a = feed_rs::parser::parse(body.as_ref()).unwrap();
    assert_eq!(a.title.unwrap().content, "Faultline: a.test incidents");
    let titles: Vec<String> = a
        .entries
        .iter()
        .map(|e| e.title.as_ref().unwrap().content.clone())
        .collect();
    assert_eq!(titles, ["Cloudflare-wide CDN outage (resolved)"]);
    assert!(a.links.iter().any(|l| l.href.ends_with("/site/a.test")));
    let (_, body) = site_feed("c.test").await;
    let c_feed = feed_rs::parser::parse(body.as_ref()).unwrap();
    assert_eq!(c_feed.entries.len(), 1);
    let entry = &c_feed.entries[0];
    assert!(
        entry
            .title
            .as_ref()
            .unwrap()
            .content
            .starts_with("c.test down"),
        "{:?}",
        entry.title
    );
    assert!(entry.links[0].href.ends_with(&format!("/incident/{own}")));
    assert!(
        entry
            .summary
            .as_ref()
            .unwrap()
            .content
            .contains("Fault: the site's own server returned an error"),
        "{:?}",
        entry.summary
    );
    let (status, _) = site_feed("unknown.test").await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn permalinks_use_the_configured_public_url() {
    let app = crate::support::spawn_app_with(|mut state| {
        state.public_origin = app::PublicOrigin::new(Some("https://status.example.org/"));
        state
    })
    .await;
    let incident = populate(&app).await;
    let json: serde_json::Value =
        reqwest::get(app.url(&format!("/incidents/{incident}/export.json")))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(
        json["permalink"],
        format!("https://status.example.org/incident/{incident}")
    );
    let (_, page) = get(&app.url(&format!("/incident/{incident}"))).await;
    assert!(
        page.contains(&format!("https://status.example.org/incident/{incident}")),
        "{page}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_forged_host_or_scheme_changes_no_link_another_client_gets() {
    let app = spawn_app().await;
    let incident = populate(&app).await;
    let genuine = format!("http://{}", app.addr);
    let paths = [
        format!("/incident/{incident}"),
        format!("/incidents/{incident}/export.json"),
        "/incidents.atom".to_owned(),
        "/provider/cloudflare/incidents.atom".to_owned(),
        "/site/a.test/incidents.atom".to_owned(),
    ];
    let client = reqwest::Client::new();
    for path in &paths {
        // First the forger, so a shared cache would keep the forged page...
        let forged = client
            .get(app.url(path))
            .header("host", "evil.example")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "evil.example")
            .header("forwarded", "host=evil.example;proto=https")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        // ...whose own answer may name what it asked for, but never a
        // scheme from a proxy it is not.
        assert!(!forged.contains("https://evil.example"), "{path}: {forged}");
        // Then everyone else.
        let body = client
            .get(app.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!body.contains("evil.example"), "{path}: {body}");
        assert!(
            body.contains(&format!("{genuine}/incident/{incident}")),
            "{path} lacks {genuine}: {body}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_trusted_proxy_is_believed_about_the_scheme() {
    let app = crate::support::spawn_app_with(|mut state| {
        state.trusted_proxies = std::sync::Arc::new(vec!["127.0.0.0/8".parse().unwrap()]);
        state
    })
    .await;
    let incident = populate(&app).await;
    let client = reqwest::Client::new();
    let json = |proto: Option<&'static str>| {
        let mut request = client.get(app.url(&format!("/incidents/{incident}/export.json")));
        if let Some(proto) = proto {
            request = request.header("x-forwarded-proto", proto);
        }
        async move {
            let body: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
            body["permalink"].as_str().unwrap().to_owned()
        }
    };
    let host = app.addr;
    assert_eq!(
        json(Some("https")).await,
        format!("https://{host}/incident/{incident}")
    );
    // The plain variant is its own page, not the proxied one.
    assert_eq!(
        json(None).await,
        format!("http://{host}/incident/{incident}")
    );
    app.stop().await;
}

/// An edge-to-origin incident is named as one on its page, in the API and
/// in the export; an incident of the provider's own errors says `own`.
#[tokio::test]
async fn an_edge_to_origin_incident_is_named_as_one_everywhere() {
    let app = spawn_app().await;
    let own = populate(&app).await;
    let ids: Vec<i64> = app
        .store
        .list_sites()
        .await
        .unwrap()
        .iter()
        .map(|site| site.id)
        .collect();
    let incident = app
        .store
        .save_provider_incident(
            None,
            &ProviderIncidentRow {
                provider: "cloudfront".to_owned(),
                role: Role::Cdn,
                mechanism: engine::Mechanism::EdgeToOrigin,
                origins: 3,
                phase: Phase::Resolved,
                pattern: Pattern::Steady,
                onset_at: t("2025-11-19T10:00:00Z"),
                detected_at: t("2025-11-19T10:00:30Z"),
                confirmed_at: Some(t("2025-11-19T10:00:30Z")),
                peak_share: 1.0,
                peak_at: t("2025-11-19T10:01:00Z"),
                recovering_at: Some(t("2025-11-19T10:20:00Z")),
                resolved_at: Some(t("2025-11-19T10:20:00Z")),
                confidence: 0.8,
                sites: ids
                    .iter()
                    .map(|id| (*id, t("2025-11-19T10:00:00Z"), t("2025-11-19T10:19:00Z")))
                    .collect(),
                evidence: vec![
                    "3 of 3 sites (100 %) got cloudfront's page saying it could not reach \
                     their servers, across 3 unrelated origins, since 10:00 UTC"
                        .to_owned(),
                ],
                timeline: Vec::new(),
                ..ProviderIncidentRow::default()
            },
            t("2025-11-19T10:20:00Z"),
        )
        .await
        .unwrap();

    let (status, html) = get(&app.url(&format!("/incident/{incident}"))).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Amazon CloudFront-wide edge-to-origin failure"),
        "{html}"
    );
    assert!(html.contains("across 3 unrelated origins"));

    let api = |id: i64| {
        let url = app.url(&format!("/api/v1/incidents/{id}"));
        async move {
            reqwest::get(url)
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let answer = api(incident).await;
    assert_eq!(
        answer["incident"]["mechanism"], "edge_to_origin",
        "{answer}"
    );
    assert_eq!(api(own).await["incident"]["mechanism"], "own");

    let export: serde_json::Value =
        reqwest::get(app.url(&format!("/incidents/{incident}/export.json")))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(export["mechanism"], "edge_to_origin");
    assert_eq!(
        export["title"],
        "Amazon CloudFront-wide edge-to-origin failure"
    );
}

#[tokio::test]
async fn a_regional_incident_names_its_regions_everywhere() {
    let app = spawn_app().await;
    let own = populate(&app).await;
    let ids: Vec<i64> = app
        .store
        .list_sites()
        .await
        .unwrap()
        .iter()
        .map(|site| site.id)
        .collect();
    let row = ProviderIncidentRow {
        provider: "cloudflare".to_owned(),
        role: Role::Cdn,
        phase: Phase::Resolved,
        pattern: Pattern::Steady,
        onset_at: t("2025-11-20T10:00:00Z"),
        detected_at: t("2025-11-20T10:00:30Z"),
        confirmed_at: Some(t("2025-11-20T10:00:30Z")),
        peak_share: 1.0,
        peak_at: t("2025-11-20T10:01:00Z"),
        recovering_at: Some(t("2025-11-20T10:20:00Z")),
        resolved_at: Some(t("2025-11-20T10:20:00Z")),
        confidence: 0.8,
        sites: ids
            .iter()
            .map(|id| (*id, t("2025-11-20T10:00:00Z"), t("2025-11-20T10:19:00Z")))
            .collect(),
        scope: engine::Scope::Regional,
        regions: vec!["eu-west".to_owned()],
        ..ProviderIncidentRow::default()
    };
    let regional = app
        .store
        .save_provider_incident(None, &row, t("2025-11-20T10:20:00Z"))
        .await
        .unwrap();
    let global = app
        .store
        .save_provider_incident(
            None,
            &ProviderIncidentRow {
                scope: engine::Scope::Global,
                regions: vec![
                    "central".to_owned(),
                    "eu-west".to_owned(),
                    "us-east".to_owned(),
                ],
                onset_at: t("2025-11-21T10:00:00Z"),
                detected_at: t("2025-11-21T10:00:30Z"),
                confirmed_at: Some(t("2025-11-21T10:00:30Z")),
                peak_at: t("2025-11-21T10:01:00Z"),
                recovering_at: Some(t("2025-11-21T10:20:00Z")),
                resolved_at: Some(t("2025-11-21T10:20:00Z")),
                ..row
            },
            t("2025-11-21T10:20:00Z"),
        )
        .await
        .unwrap();

    let (status, html) = get(&app.url(&format!("/incident/{regional}"))).await;
    assert_eq!(status, 200);
    assert!(html.contains("Cloudflare CDN outage in eu-west"), "{html}");
    assert!(html.contains("Seen only from eu-west."), "{html}");
    let (_, html) = get(&app.url(&format!("/incident/{global}"))).await;
    assert!(html.contains("Cloudflare-wide CDN outage"), "{html}");
    assert!(
        html.contains("Seen from every region: central, eu-west and us-east."),
        "{html}"
    );
    // One region probing: nothing said of regions.
    let (_, html) = get(&app.url(&format!("/incident/{own}"))).await;
    assert!(!html.contains("data-test=\"reach\""), "{html}");

    let api: serde_json::Value = reqwest::get(app.url(&format!("/api/v1/incidents/{regional}")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(api["incident"]["scope"], "regional", "{api}");
    assert_eq!(api["incident"]["regions"], serde_json::json!(["eu-west"]));
    assert_eq!(api["incident"]["title"], "Cloudflare CDN outage in eu-west");
    let export: serde_json::Value =
        reqwest::get(app.url(&format!("/incidents/{regional}/export.json")))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(export["scope"], "regional");
    assert_eq!(export["regions"], serde_json::json!(["eu-west"]));
    let own_export: serde_json::Value =
        reqwest::get(app.url(&format!("/incidents/{own}/export.json")))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(own_export["scope"], serde_json::Value::Null);
}

/// A statement of the provider, as its status page would publish it.
fn statement(
    reference: &str,
    title: &str,
    updates: &[(&str, engine::vocab::OfficialStatus, &str)],
) -> statements::Document {
    statements::Document {
        incidents: vec![statements::OfficialIncident {
            reference: reference.to_owned(),
            title: title.to_owned(),
            impact: engine::vocab::OfficialImpact::Major,
            components: Vec::new(),
            started_at: None,
            resolved_at: updates
                .iter()
                .find(|(_, status, _)| status.is_resolution())
                .map(|(at, _, _)| t(at)),
            url: Some(format!(
                "https://www.cloudflarestatus.com/incidents/{reference}"
            )),
            updates: updates
                .iter()
                .enumerate()
                .map(|(n, (at, status, text))| statements::OfficialUpdate {
                    reference: format!("{reference}-{n}"),
                    status: *status,
                    text: (*text).to_owned(),
                    published_at: t(at),
                })
                .collect(),
        }],
    }
}

#[tokio::test]
async fn official_statements_sit_beside_the_measured_outage_and_unmatched_ones_say_so() {
    use engine::vocab::OfficialStatus::{Investigating, Resolved};
    let app = spawn_app().await;
    let id = populate(&app).await;
    let source = "https://www.cloudflarestatus.com/api/v2/incidents.json";
    let seen = t("2025-11-18T11:40:00Z");
    // Matched: said 11:31, ten minutes after Faultline's detection at 11:21.
    app.store
        .record_statements(
            "cloudflare",
            source,
            &statement(
                "kw0jrm3dmtvm",
                "Cloudflare Global Network experiencing issues",
                &[
                    (
                        "2025-11-18T11:31:00Z",
                        Investigating,
                        "Cloudflare is experiencing an internal service degradation.",
                    ),
                    (
                        "2025-11-18T11:50:00Z",
                        Resolved,
                        "This incident has been resolved.",
                    ),
                ],
            ),
            seen,
        )
        .await
        .unwrap();
    // Unmatched: a day later, nothing measured.
    app.store
        .record_statements(
            "cloudflare",
            source,
            &statement(
                "zzz111",
                "Dashboard login delays",
                &[(
                    "2025-11-19T08:00:00Z",
                    Investigating,
                    "Some users cannot log in.",
                )],
            ),
            seen,
        )
        .await
        .unwrap();
    let unmatched = app
        .store
        .unmatched_statements(t("2025-11-01T00:00:00Z"))
        .await
        .unwrap();
    let matched = unmatched
        .iter()
        .find(|u| u.acknowledged_at == t("2025-11-18T11:31:00Z"))
        .unwrap();
    app.store
        .link_statement(matched.id, id, seen)
        .await
        .unwrap();

    let (status, html) = get(&app.url(&format!("/incident/{id}"))).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Faultline detected this outage 10 min before Cloudflare&#x27;s status page acknowledged it.")
            || html.contains("Faultline detected this outage 10 min before Cloudflare's status page acknowledged it."),
        "no lead time on the incident page"
    );
    assert!(
        html.contains("data-test=\"official-update\""),
        "no official update on the timeline"
    );
    assert!(
        html.contains("Cloudflare: Investigating"),
        "the update's stage"
    );
    assert!(html.contains("Cloudflare is experiencing an internal service degradation."));
    assert!(html.contains("https://www.cloudflarestatus.com/incidents/kw0jrm3dmtvm"));

    let (status, html) = get(&app.url("/provider/cloudflare")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("data-test=\"official-now\""),
        "no official status on the provider page"
    );
    assert!(html.contains("Dashboard login delays"));
    assert!(
        html.contains("not matched to any outage Faultline measured"),
        "the unmatched statement says so"
    );

    let (status, html) = get(&app.url("/official")).await;
    assert_eq!(status, 200);
    assert!(html.contains("data-test=\"comparison\""));
    assert!(
        html.contains("not seen by Faultline"),
        "the unmatched statement's line"
    );
    assert!(html.contains("+10 min"), "the matched incident's lead time");

    let response = reqwest::get(app.url("/official/export.csv")).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 2, "{body}");
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let matched_row = rows
        .iter()
        .find(|r| r[column("incident")] == id.to_string())
        .unwrap();
    assert_eq!(&matched_row[column("lead_time_s")], "600");
    assert_eq!(
        &matched_row[column("official_resolved_at")],
        "2025-11-18T11:50:00Z"
    );
    let lonely = rows
        .iter()
        .find(|r| r[column("incident")].is_empty())
        .unwrap();
    assert_eq!(&lonely[column("official_titles")], "Dashboard login delays");

    let export: serde_json::Value = reqwest::get(app.url(&format!("/incidents/{id}/export.json")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(export["lead_time_s"], 600);
    assert_eq!(export["official"].as_array().map(Vec::len), Some(2));
    assert_eq!(export["official"][0]["status"], "investigating");
}

#[tokio::test]
async fn an_outage_the_provider_never_reported_says_so() {
    let app = spawn_app().await;
    let id = populate(&app).await;
    let (_, html) = get(&app.url(&format!("/incident/{id}"))).await;
    assert!(
        html.contains("data-test=\"official-none\""),
        "Cloudflare has a status page; an incident it never reported says so"
    );
    let (_, html) = get(&app.url("/official")).await;
    assert!(html.contains("not reported by the provider"));
}
