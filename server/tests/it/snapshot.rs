//! One truth on every page: replaying 18 Nov 2025, at ten moments the home
//! page, Cloudflare's page and the incident page (read in Chromium, once
//! hydrated), the Atom feed and the JSON export name the same snapshot and
//! give the same figures; and a journalist's citation gives the figures of
//! the incident page and the export.

use server::sim::scenario::Scenario;
use server::sim::simulate::Simulation;

/// `data-NAME="…"` of the first element carrying `marker`, after it.
fn attribute_after<'a>(html: &'a str, marker: &str, name: &str) -> Option<&'a str> {
    let (_, rest) = html.split_once(marker)?;
    let element = rest.split_once('>')?.0;
    let (_, value) = element.split_once(&format!("{name}=\""))?;
    value.split_once('"').map(|(value, _)| value)
}

/// The element carrying `marker` may have it after other attributes: look
/// from the element's start.
fn attribute_of<'a>(html: &'a str, marker: &str, name: &str) -> Option<&'a str> {
    let at = html.find(marker)?;
    let start = html[..at].rfind('<')?;
    attribute_after(&html[start..], "<", name)
}

/// The page at `url` as the browser holds it once hydrated and showing
/// snapshot `version` (a page served from a cache catches up by itself
/// as soon as it hydrates).
async fn hydrated_html(browser: &fantoccini::Client, url: String, version: &str) -> String {
    browser.goto(&url).await.unwrap();
    crate::browser::hydrated(browser)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let deadline = tokio::time::Instant::now() + crate::browser::WAIT;
    loop {
        let html = browser
            .execute("return document.documentElement.outerHTML;", vec![])
            .await
            .unwrap()
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let shown = attribute_of(&html, r#"data-test="freshness""#, "data-version");
        if shown == Some(version) || tokio::time::Instant::now() > deadline {
            return html;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_ten_moments_every_page_feed_and_export_gives_the_same_snapshot_and_figures() {
    let scenario = Scenario::parse(include_str!(
        "../../../scenarios/cloudflare-2025-11-18.toml"
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut simulation = Simulation::start(
        &scenario,
        &server::config::Database::File(dir.path().join("replay.db")),
        server::sim::simulate::SIMULATED_SITE_URL,
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = server::config::Config {
        listen: addr,
        site_root: crate::support::site_root(),
        ..Default::default()
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let status = server::startup::replay_status(&simulation, &scenario);
    let state =
        server::http::AppState::new(&config, simulation.store.clone()).with_status(status.clone());
    let served = tokio::spawn(server::http::serve(listener, state, stop.clone()));
    let url = |path: &str| format!("http://{addr}{path}");

    // During the first waves, between them, in the steady part, in the
    // tail after 14:30, once resolved and long after.
    let moments = [
        "+55m", "+62m", "+78m", "+95m", "+2h40m", "+3h30m", "+4h05m", "+4h20m", "+5h", "+6h30m",
    ];
    let (replay, played) = (&mut simulation, &scenario);
    crate::browser::journey_with(
        "snapshot",
        crate::browser::Scripts::On,
        &[],
        move |browser| async move {
            let mut seen_open = 0;
            let mut seen_resolved = 0;
            let mut cited = false;
            for moment in moments {
                let minutes: i64 = {
                    let text = moment.trim_start_matches('+');
                    let (hours, rest) = text.split_once('h').unwrap_or(("0", text));
                    hours.parse::<i64>().unwrap() * 60
                        + rest.trim_end_matches('m').parse::<i64>().unwrap_or(0)
                };
                replay
                    .run_until(played, played.start + chrono::TimeDelta::minutes(minutes))
                    .await;
                let snapshot = status.snapshot();
                let version = snapshot.version.to_string();
                let live = snapshot
                    .incidents
                    .iter()
                    .find(|i| i.incident.provider == "cloudflare")
                    .unwrap_or_else(|| panic!("{moment}: no Cloudflare incident in the snapshot"));
                let id = live
                    .id
                    .unwrap_or_else(|| panic!("{moment}: the incident is not stored"));
                let (failing, of) = (live.now.failing.to_string(), live.now.of.to_string());
                if live.incident.phase.is_open() {
                    seen_open += 1;
                } else {
                    seen_resolved += 1;
                }

                let home = hydrated_html(&browser, url("/"), &version).await;
                let provider = hydrated_html(&browser, url("/provider/cloudflare"), &version).await;
                let incident =
                    hydrated_html(&browser, url(&format!("/incident/{id}")), &version).await;
                for (page, html) in [
                    ("home", &home),
                    ("provider", &provider),
                    ("incident", &incident),
                ] {
                    assert_eq!(
                        attribute_of(html, r#"data-test="freshness""#, "data-version"),
                        Some(version.as_str()),
                        "{moment}: the {page} page shows another snapshot"
                    );
                }
                for (page, html) in [("home", &home), ("provider", &provider)] {
                    let card = r#"data-test="incident-card""#;
                    assert_eq!(
                        (
                            attribute_of(html, card, "data-failing"),
                            attribute_of(html, card, "data-of")
                        ),
                        (Some(failing.as_str()), Some(of.as_str())),
                        "{moment}: the {page} page's card disagrees"
                    );
                }
                if live.incident.phase.is_open() {
                    let summary = r#"data-test="incident-summary""#;
                    assert_eq!(
                        (
                            attribute_of(&incident, summary, "data-failing"),
                            attribute_of(&incident, summary, "data-of")
                        ),
                        (Some(failing.as_str()), Some(of.as_str())),
                        "{moment}: the incident page disagrees"
                    );
                    // Between waves and in the tail, never "recovering" too early.
                    let sentence = home
                        .split(r#"data-test="headline""#)
                        .nth(1)
                        .unwrap_or_default();
                    let sentence = sentence.split('<').next().unwrap_or_default();
                    if live.easing_since.is_some() {
                        assert!(!sentence.contains("recovering"), "{moment}: {sentence}");
                    }
                }

                let feed = reqwest::get(url("/incidents.atom"))
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                let feed = feed_rs::parser::parse(feed.as_ref()).unwrap();
                let subtitle = feed.description.map(|d| d.content).unwrap_or_default();
                assert!(
                    subtitle.starts_with(&format!("Snapshot {version}.")),
                    "{moment}: the feed says {subtitle:?}"
                );
                let export: serde_json::Value =
                    reqwest::get(url(&format!("/incidents/{id}/export.json")))
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                assert_eq!(
                    export["snapshot"]["version"].to_string(),
                    version,
                    "{moment}"
                );
                assert_eq!(export["now"]["failing"].to_string(), failing, "{moment}");
                assert_eq!(export["now"]["of"].to_string(), of, "{moment}");
                assert_eq!(export["phase"], live.incident.phase.as_str(), "{moment}");

                if !live.incident.phase.is_open() && !cited {
                    cited = true;
                    // The citation, as copied from the page: its peak, sites and
                    // times are the export's.
                    let cite = browser
                        .find(fantoccini::Locator::Css("[data-test=cite]"))
                        .await
                        .unwrap()
                        .text()
                        .await
                        .unwrap();
                    let peak = format!(
                        "{} of {} watched Cloudflare sites ({} %) were failing",
                        export["peak"]["failing"], export["peak"]["of"], export["peak"]["percent"]
                    );
                    assert!(cite.contains(&peak), "{cite:?} lacks {peak:?}");
                    let affected = format!("{} sites were affected", export["sites_affected"]);
                    assert!(cite.contains(&affected), "{cite:?} lacks {affected:?}");
                    for time in ["onset_at", "resolved_at"] {
                        let at =
                            chrono::DateTime::parse_from_rfc3339(export[time].as_str().unwrap())
                                .unwrap()
                                .format("%H:%M UTC, %-d %b %Y")
                                .to_string();
                        assert!(cite.contains(&at), "{cite:?} lacks the {time} {at:?}");
                        assert!(incident.contains(&at), "the incident page lacks {at:?}");
                    }
                    assert!(
                        incident.contains(&format!(
                            "{} of {} (",
                            export["peak"]["failing"], export["peak"]["of"]
                        )),
                        "the incident page lacks the peak"
                    );
                    // What Cloudflare said, beside what was measured: its
                    // first update 27 minutes after the detection.
                    let lead = "Faultline detected this outage 27 min before Cloudflare's status page acknowledged it.";
                    crate::browser::expect_text(&browser, "[data-test=lead-time]", lead).await?;
                    assert!(
                        cite.contains("Cloudflare's status page first acknowledged it at 11:48 UTC, 18 Nov 2025"),
                        "{cite:?} lacks the acknowledgement"
                    );
                    let updates = browser
                        .find_all(fantoccini::Locator::Css("[data-test=official-update]"))
                        .await
                        .unwrap();
                    assert!(updates.len() >= 10, "{} official updates on the timeline", updates.len());
                    let first = updates[0].text().await.unwrap();
                    assert!(
                        first.contains("Cloudflare: Investigating")
                            && first.contains("Cloudflare is experiencing an internal service degradation"),
                        "{first:?}"
                    );
                    assert_eq!(export["lead_time_s"], 1660, "the export's lead time");
                    assert_eq!(export["acknowledged_at"], "2025-11-18T11:48:00Z");
                    assert!(export["official"].as_array().is_some_and(|o| o.len() >= 10));
                    // Kept for people: the headline with the lead time, and
                    // the timeline with the provider's updates marked.
                    let shots = crate::browser::screenshot_path("incident-official");
                    if let Ok(png) = browser.screenshot().await {
                        let _ = std::fs::create_dir_all(shots.parent().unwrap());
                        let _ = std::fs::write(&shots, png);
                    }
                    let timeline = browser
                        .find(fantoccini::Locator::Css("section[aria-labelledby=timeline-title]"))
                        .await
                        .unwrap();
                    if let Ok(png) = timeline.screenshot().await {
                        let _ = std::fs::write(
                            crate::browser::screenshot_path("incident-official-timeline"),
                            png,
                        );
                    }
                    crate::browser::click(&browser, "[data-test=copy-cite]").await?;
                    crate::browser::expect_text(&browser, "[data-test=copy-cite]", "Copied")
                        .await?;
                }
            }
            assert!(
                seen_open >= 5 && seen_resolved >= 2,
                "{seen_open} open, {seen_resolved} resolved"
            );
            assert!(cited, "no resolved moment to cite");
            Ok(())
        },
    )
    .await;
    stop.cancel();
    served.await.unwrap().unwrap();
    simulation.finish(&scenario).await.unwrap();
}
