//! Journeys through headless Chromium, driven over WebDriver by Debian's
//! `chromedriver`. A failing journey leaves a screenshot under
//! `target/browser-screenshots/`.

use engine::{Phase, Role};
use std::future::Future;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::{site_root, spawn_app, Replayed};

pub(crate) type Step = Result<(), String>;

pub(crate) const WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn the_home_page_hydrates_and_a_click_fetches_fresh_numbers() {
    assert!(
        site_root().join("pkg/faultline.wasm").exists(),
        "no built assets in {}: run `cargo leptos build` first",
        site_root().display()
    );
    let app = spawn_app().await;
    let url = app.url("/");
    let store = app.store.clone();
    journey("home-hydrates", Scripts::On, move |browser| async move {
        browser.goto(&url).await.map_err(|e| e.to_string())?;
        expect_text(
            &browser,
            "[data-test=headline]",
            "No sites are watched yet.",
        )
        .await?;
        browser
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css("[data-live=true]"))
            .await
            .map_err(|e| format!("the page never hydrated: {e}"))?;

        // Change the data behind the page, then ask for it with a click:
        // only a hydrated page can answer without a reload.
        store
            .add_sites(&[sample_site()], chrono::Utc::now())
            .await
            .map_err(|e| e.to_string())?;
        browser
            .find(Locator::Css("[data-test=refresh]"))
            .await
            .map_err(|e| e.to_string())?
            .click()
            .await
            .map_err(|e| e.to_string())?;
        expect_text(&browser, "[data-test=headline]", "Watching 1 sites").await?;
        expect_text(&browser, "[data-test=watched]", "1").await
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn the_home_page_reads_without_javascript() {
    let app = spawn_app().await;
    app.store
        .add_sites(&[sample_site()], chrono::Utc::now())
        .await
        .unwrap();
    let url = app.url("/");
    journey("home-no-js", Scripts::Off, move |browser| async move {
        browser.goto(&url).await.map_err(|e| e.to_string())?;
        expect_text(&browser, "[data-test=headline]", "Watching 1 sites").await?;
        expect_text(&browser, ".live", "Static page").await
    })
    .await;
    app.stop().await;
}

fn sample_site() -> store::NewSite {
    store::NewSite {
        url: "https://example.test/".to_owned(),
        host: "example.test".to_owned(),
        name: "Example".to_owned(),
        tags: vec![],
        interval_s: 60,
    }
}

pub(crate) async fn expect_text(browser: &Client, css: &str, wanted: &str) -> Step {
    let mut last = String::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if let Ok(element) = browser.find(Locator::Css(css)).await {
            last = element.text().await.unwrap_or_default();
            if last.contains(wanted) {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "{css} shows {last:?}, expected it to contain {wanted:?}"
    ))
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Scripts {
    On,
    Off,
}

/// Runs `steps` in a fresh headless Chromium; on failure saves a screenshot
/// named after the journey and fails the test with the step's message.
async fn journey<F, Fut>(name: &str, scripts: Scripts, steps: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = Step>,
{
    journey_with(name, scripts, &[], steps).await;
}

/// [`journey`] in a Chromium started with `flags` as well.
pub(crate) async fn journey_with<F, Fut>(name: &str, scripts: Scripts, flags: &[&str], steps: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = Step>,
{
    let driver = Driver::start().await;
    let browser = driver.session(scripts, flags).await;
    let outcome = steps(browser.clone()).await;
    let shot = screenshot_path(name);
    // Screenshots are for people reading a failure; a test never fails for
    // want of one, nor for a browser that closed itself.
    if let Ok(png) = browser.screenshot().await {
        let _ = std::fs::create_dir_all(shot.parent().expect("screenshot directory"));
        let _ = std::fs::write(&shot, png);
    }
    let _ = browser.close().await;
    drop(driver);
    if let Err(message) = outcome {
        panic!(
            "journey {name} failed: {message} (screenshot: {})",
            shot.display()
        );
    }
}

pub(crate) fn screenshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/browser-screenshots")
        .join(format!("{name}.png"))
}

struct Driver {
    process: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Driver {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let program =
            std::env::var("FAULTLINE_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".to_owned());
        let mut process = Command::new(&program)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program} (install chromium-driver): {e}"));
        // chromedriver prints this line once it accepts sessions.
        let stdout = process.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(WAIT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("started successfully") {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(matches!(ready, Ok(true)), "chromedriver did not start");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            process,
            port,
            _profile: tempfile::tempdir().expect("profile directory"),
        }
    }

    async fn session(&self, scripts: Scripts, flags: &[&str]) -> Client {
        let binary =
            std::env::var("FAULTLINE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
        let mut options = json!({
            "binary": binary,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900",
                format!("--user-data-dir={}", self._profile.path().display()),
            ],
        });
        if let Some(args) = options["args"].as_array_mut() {
            args.extend(flags.iter().map(|flag| json!(flag)));
        }
        if scripts == Scripts::Off {
            options["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Already ended is as good as killed.
        let _ = self.process.start_kill();
    }
}

/// The demo as a newcomer sees it: the 18 Nov 2025 replay, and the home
/// page telling what is happening in one sentence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_home_page_names_the_cloudflare_outage() {
    use server::sim::scenario::Scenario;
    use server::sim::simulate::Simulation;
    let scenario = Scenario::parse(include_str!(
        "../../../scenarios/cloudflare-2025-11-18.toml"
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut simulation = Simulation::start(
        &scenario,
        &server::config::Database::File(dir.path().join("demo.db")),
        server::sim::simulate::SIMULATED_SITE_URL,
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = server::config::Config {
        listen: addr,
        site_root: site_root(),
        ..Default::default()
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let state = server::http::AppState::new(&config, simulation.store.clone()).with_status(
        server::startup::replay_status(&simulation, &scenario)
            .with_replay(server::startup::replay_banner(&scenario, 3600)),
    );
    let served = tokio::spawn(server::http::serve(listener, state, stop.clone()));
    let replay = async {
        simulation.pace(&scenario, 3600, &stop).await;
    };
    let url = format!("http://{addr}/");
    let look = journey("demo-home", Scripts::On, move |browser| async move {
        // Reload until the replay reaches the outage (11:20 on the scenario clock).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            browser.goto(&url).await.map_err(|e| e.to_string())?;
            let headline = browser
                .find(Locator::Css("[data-test=headline]"))
                .await
                .map_err(|e| e.to_string())?
                .text()
                .await
                .map_err(|e| e.to_string())?;
            if headline.starts_with("Likely Cloudflare-wide outage since 11:2") {
                expect_text(
                    &browser,
                    "[data-test=replay]",
                    "Replay of cloudflare-2025-11-18",
                )
                .await?;
                return expect_text(&browser, "[data-test=incidents]", "Cloudflare").await;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("the headline never named the outage: {headline:?}"));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    tokio::select! {
        () = look => {}
        () = replay => panic!("the replay ended before the page named the outage"),
    }
    stop.cancel();
    served.await.unwrap().unwrap();
    simulation.finish(&scenario).await.unwrap();
}

pub(crate) fn err(error: impl std::fmt::Display) -> String {
    error.to_string()
}

/// Saves what the browser shows now under `target/browser-screenshots/`.
pub(crate) async fn shot(browser: &Client, name: &str) {
    // Best effort, as in `journey`.
    if let Ok(png) = browser.screenshot().await {
        let path = screenshot_path(name);
        let _ = std::fs::create_dir_all(path.parent().expect("screenshot directory"));
        let _ = std::fs::write(path, png);
    }
}

pub(crate) async fn click(browser: &Client, css: &str) -> Step {
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .map_err(|e| format!("{css}: {e}"))?
        .click()
        .await
        .map_err(|e| format!("click {css}: {e}"))
}

pub(crate) async fn expect_path(browser: &Client, wanted: &str) -> Step {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let url = browser.current_url().await.map_err(err)?;
        if url.path() == wanted {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("at {url}, expected {wanted}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the page in view has hydrated.
pub(crate) async fn hydrated(browser: &Client) -> Step {
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("main[data-hydrated=true]"))
        .await
        .map(|_| ())
        .map_err(|e| format!("the page never hydrated: {e}"))
}

async fn search(browser: &Client, query: &str) -> Step {
    let input = browser.find(Locator::Css("#q")).await.map_err(err)?;
    input.send_keys(query).await.map_err(err)?;
    click(browser, "[data-test=check]").await
}

async fn attribute(browser: &Client, css: &str, name: &str) -> Result<String, String> {
    browser
        .find(Locator::Css(css))
        .await
        .map_err(|e| format!("{css}: {e}"))?
        .attr(name)
        .await
        .map_err(err)?
        .ok_or_else(|| format!("{css} has no {name}"))
}

/// The three public journeys over the 18 Nov 2025 Cloudflare outage,
/// replayed to its end: a reader checks a site, looks at Cloudflare's
/// page, and a journalist takes the incident's figures away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_journeys_over_a_replayed_outage() {
    assert!(
        site_root().join("pkg/faultline.wasm").exists(),
        "no built assets in {}: run `cargo leptos build` first",
        site_root().display()
    );
    let replay = Replayed::start("cloudflare-2025-11-18.toml").await;
    let incident = replay
        .store
        .provider_incidents(Some("cloudflare"), 1)
        .await
        .unwrap()
        .into_iter()
        .next()
        .expect("the replay opened a Cloudflare incident");
    let affected = replay.store.incident_sites(incident.id).await.unwrap();
    let host = affected[0].host.clone();

    // (a) Is my site down? Search from the home page, read the answer.
    let (home, site_path) = (replay.url("/"), format!("/site/{host}"));
    let wanted_host = host.clone();
    journey("journey-check", Scripts::On, move |browser| async move {
        browser.goto(&home).await.map_err(err)?;
        browser
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css("[data-live=true]"))
            .await
            .map_err(|e| format!("the home page never hydrated: {e}"))?;
        shot(&browser, "home").await;
        search(
            &browser,
            &format!("https://{}/some/page", wanted_host.to_uppercase()),
        )
        .await?;
        expect_path(&browser, &site_path).await?;
        hydrated(&browser).await?;
        expect_text(
            &browser,
            "[data-test=status]",
            &format!("{wanted_host} is up"),
        )
        .await?;
        expect_text(
            &browser,
            "[data-test=last-error]",
            "generated by Cloudflare",
        )
        .await?;
        expect_text(&browser, "[data-test=last-error]", "Cloudflare's edge").await?;
        expect_text(
            &browser,
            "[data-test=explained-by]",
            "Cloudflare-wide CDN outage",
        )
        .await?;
        expect_text(&browser, "[data-test=probes]", "First byte").await?;
        browser
            .find(Locator::Css("[data-test=chart-availability] svg title"))
            .await
            .map_err(|e| format!("no titled availability chart: {e}"))?;
        shot(&browser, "site").await;

        browser.goto(&home).await.map_err(err)?;
        search(&browser, "unwatched.example").await?;
        expect_text(
            &browser,
            "[data-test=check-result]",
            "not on Faultline's watchlist",
        )
        .await?;
        shot(&browser, "check-not-watched").await;
        Ok(())
    })
    .await;

    // (b) Cloudflare's page from the home page grid, then back to a site,
    // navigating inside the hydrated app.
    let home = replay.url("/");
    let wanted_host = host.clone();
    journey("journey-provider", Scripts::On, move |browser| async move {
        browser.goto(&home).await.map_err(err)?;
        browser
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css("[data-live=true]"))
            .await
            .map_err(|e| format!("the home page never hydrated: {e}"))?;
        click(
            &browser,
            "[data-test=providers] a[href='/provider/cloudflare']",
        )
        .await?;
        expect_path(&browser, "/provider/cloudflare").await?;
        expect_text(&browser, "h1", "Cloudflare").await?;
        expect_text(&browser, "[data-test=cohort-cdn]", "answering").await?;
        expect_text(
            &browser,
            "[data-test=incident-table]",
            "Cloudflare-wide CDN outage",
        )
        .await?;
        expect_text(&browser, "[data-test=cohort-sites]", &wanted_host).await?;
        browser
            .find(Locator::Css("[data-test=chart-cohort-availability] svg"))
            .await
            .map_err(|e| format!("no cohort chart: {e}"))?;
        shot(&browser, "provider").await;
        browser.refresh().await.map_err(err)?;
        hydrated(&browser).await?;
        click(&browser, "[data-test=window-7d]").await?;
        expect_text(
            &browser,
            "[data-test=chart-cohort-availability]",
            "last 7 days",
        )
        .await?;
        click(
            &browser,
            &format!("[data-test=cohort-sites] a[href='/site/{wanted_host}']"),
        )
        .await?;
        expect_path(&browser, &format!("/site/{wanted_host}")).await?;
        expect_text(&browser, "[data-test=providers]", "Cloudflare").await
    })
    .await;

    // (c) The incidents list, the incident's timeline, and its exports.
    let list = replay.url("/incidents");
    let incident_path = format!("/incident/{}", incident.id);
    let origin = replay.url("");
    let sites_affected = incident.sites_affected;
    let incident_id = incident.id;
    journey("journey-incident", Scripts::On, move |browser| async move {
        browser.goto(&list).await.map_err(err)?;
        expect_text(
            &browser,
            "[data-test=incident-table]",
            "Cloudflare-wide CDN outage",
        )
        .await?;
        hydrated(&browser).await?;
        shot(&browser, "incidents").await;
        click(
            &browser,
            &format!("[data-test=incident-table] a[href='{incident_path}']"),
        )
        .await?;
        expect_path(&browser, &incident_path).await?;
        expect_text(&browser, "[data-test=incident-summary]", "sites affected").await?;
        expect_text(&browser, "[data-test=intermittent]", "came and went").await?;
        expect_text(&browser, "[data-test=timeline]", "Onset").await?;
        expect_text(&browser, "[data-test=timeline]", "Resolved").await?;
        expect_text(&browser, "[data-test=cite]", "Source: Faultline incident #").await?;
        // Loaded afresh, the incident page hydrates too.
        browser.refresh().await.map_err(err)?;
        hydrated(&browser).await?;
        expect_text(&browser, "[data-test=cite]", "Source: Faultline incident #").await?;
        browser
            .find(Locator::Css(&format!(
                "[data-test=chart-incident-{incident_id}] .moment"
            )))
            .await
            .map_err(|e| format!("no moments on the timeline chart: {e}"))?;
        shot(&browser, "incident").await;

        let csv_href = attribute(&browser, "[data-test=export-csv]", "href").await?;
        let body = reqwest::get(format!("{origin}{csv_href}"))
            .await
            .map_err(err)?
            .text()
            .await
            .map_err(err)?;
        let mut reader = csv::Reader::from_reader(body.as_bytes());
        let rows = reader
            .records()
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        if rows.len() as i64 != sites_affected {
            return Err(format!(
                "{} CSV rows for {sites_affected} affected sites",
                rows.len()
            ));
        }
        let json_href = attribute(&browser, "[data-test=export-json]", "href").await?;
        let json: serde_json::Value = reqwest::get(format!("{origin}{json_href}"))
            .await
            .map_err(err)?
            .json()
            .await
            .map_err(err)?;
        if json["provider"] != "cloudflare"
            || json["sites"].as_array().map(Vec::len) != Some(rows.len())
        {
            return Err(format!("unexpected JSON export: {json}"));
        }
        Ok(())
    })
    .await;

    // Without JavaScript: the search form, the window links and the
    // incident page are plain HTML.
    let home = replay.url("/");
    let list = replay.url("/incidents");
    let wanted_host = host.clone();
    journey("journey-no-js", Scripts::Off, move |browser| async move {
        browser.goto(&home).await.map_err(err)?;
        search(&browser, &wanted_host).await?;
        expect_path(&browser, &format!("/site/{wanted_host}")).await?;
        expect_text(&browser, "[data-test=status]", "is up").await?;
        click(&browser, "[data-test=window-30d]").await?;
        expect_text(&browser, "[data-test=chart-availability]", "last 30 days").await?;
        shot(&browser, "site-no-js").await;
        // A phone's width: the page reflows, tables scroll on their own.
        browser.set_window_size(390, 844).await.map_err(err)?;
        shot(&browser, "site-phone").await;
        let width = browser
            .execute("return document.documentElement.scrollWidth;", vec![])
            .await
            .map_err(err)?;
        if width.as_u64().is_none_or(|w| w > 400) {
            return Err(format!("the page is {width} px wide on a phone"));
        }
        browser.set_window_size(1280, 900).await.map_err(err)?;
        browser.goto(&list).await.map_err(err)?;
        click(&browser, "[data-test=incident-table] a").await?;
        expect_text(&browser, "[data-test=cite]", "Cloudflare").await
    })
    .await;
    replay.finish().await;
}

#[tokio::test]
async fn a_pasted_error_page_is_explained_with_and_without_javascript() {
    let app = spawn_app().await;
    let page = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../engine/tests/fixtures/error-pages/cloudflare__500__1.html"),
    )
    .unwrap();
    for (scripts, name) in [(Scripts::Off, "explain-no-js"), (Scripts::On, "explain")] {
        let url = app.url("/explain");
        let page = page.clone();
        journey(name, scripts, move |browser| async move {
            browser.goto(&url).await.map_err(err)?;
            let html = browser.find(Locator::Css("#html")).await.map_err(err)?;
            html.send_keys(&page).await.map_err(err)?;
            let headers = browser.find(Locator::Css("#headers")).await.map_err(err)?;
            headers
                .send_keys("HTTP/1.1 500 Internal Server Error\nserver: cloudflare\ncf-ray: 9a1b2c3d4e5f6071-FRA")
                .await
                .map_err(err)?;
            click(&browser, "[data-test=explain]").await?;
            expect_text(&browser, "[data-test=explanation]", "the fault is Cloudflare's own").await?;
            expect_text(&browser, "[data-test=explained-side]", "edge").await?;
            let at = browser.current_url().await.map_err(err)?;
            if !at.path().starts_with("/explain/") {
                return Err(format!("the answer is not at a link of its own: {at}"));
            }
            Ok(())
        })
        .await;
    }
    app.stop().await;
}

/// An administrator signs in, adds a site and removes it again, with and
/// without JavaScript.
#[tokio::test]
async fn an_admin_signs_in_and_edits_the_watchlist_with_and_without_javascript() {
    let app = spawn_app().await;
    let password = "a long enough admin password";
    let hash = app::admin::password::hash(password).unwrap();
    app.store
        .create_admin("ada", &hash, chrono::Utc::now())
        .await
        .unwrap()
        .unwrap();
    for (scripts, name, host) in [
        (Scripts::Off, "admin-no-js", "nojs.example"),
        (Scripts::On, "admin", "js.example"),
    ] {
        let url = app.url("/admin");
        journey(name, scripts, move |browser| async move {
            // A stranger is sent to the sign-in form.
            browser.goto(&url).await.map_err(err)?;
            expect_path(&browser, "/admin/login").await?;
            if scripts == Scripts::On {
                hydrated(&browser).await?;
            }
            let field = |css: &'static str| {
                let browser = browser.clone();
                async move { browser.find(Locator::Css(css)).await.map_err(err) }
            };
            field("#username")
                .await?
                .send_keys("ada")
                .await
                .map_err(err)?;
            field("#password")
                .await?
                .send_keys(password)
                .await
                .map_err(err)?;
            click(&browser, "[data-test=sign-in]").await?;
            expect_path(&browser, "/admin").await?;
            expect_text(&browser, "[data-test=vantage-now]", "online").await?;
            expect_text(&browser, "[data-test=knowledge]", "builtin").await?;
            shot(&browser, &format!("{name}-status")).await;

            browser
                .goto(&url.replace("/admin", "/admin/sites"))
                .await
                .map_err(err)?;
            field("#add-url")
                .await?
                .send_keys(host)
                .await
                .map_err(err)?;
            field("#add-tags")
                .await?
                .send_keys("shop")
                .await
                .map_err(err)?;
            click(&browser, "[data-test=add-site] button").await?;
            expect_text(
                &browser,
                "[data-test=flash]",
                &format!("Now watching {host}."),
            )
            .await?;
            expect_text(&browser, "[data-test=watchlist]", host).await?;
            shot(&browser, &format!("{name}-watchlist")).await;

            click(
                &browser,
                &format!("tr[data-host=\"{host}\"] [data-test=toggle-watch]"),
            )
            .await?;
            expect_text(&browser, "[data-test=flash]", "its history is kept").await?;
            click(&browser, "[data-test=sign-out]").await?;
            expect_path(&browser, "/admin/login").await?;
            expect_text(&browser, "[data-test=login-message]", "signed out").await
        })
        .await;
    }
    let sites = app.store.list_sites().await.unwrap();
    assert_eq!(sites.len(), 2);
    assert!(sites.iter().all(|s| !s.enabled && s.tags == "shop"));
    app.stop().await;
}

/// An open incident's page follows it without a reload: a note added on the
/// server appears by itself.
#[tokio::test]
async fn an_open_incident_page_updates_itself() {
    let app = spawn_app().await;
    let now = chrono::Utc::now();
    let row = store::ProviderIncidentRow {
        mechanism: engine::Mechanism::Own,
        origins: 0,
        provider: "cloudflare".into(),
        role: Role::Cdn,
        phase: Phase::Confirmed,
        onset_at: now - chrono::TimeDelta::minutes(10),
        detected_at: now - chrono::TimeDelta::minutes(9),
        confirmed_at: Some(now - chrono::TimeDelta::minutes(8)),
        peak_share: 0.7,
        peak_at: now - chrono::TimeDelta::minutes(5),
        confidence: 0.9,
        ..Default::default()
    };
    let id = app
        .store
        .save_provider_incident(None, &row, now)
        .await
        .unwrap();
    let url = app.url(&format!("/incident/{id}"));
    let store = app.store.clone();
    journey("incident-live", Scripts::On, move |browser| async move {
        browser.goto(&url).await.map_err(err)?;
        hydrated(&browser).await?;
        expect_text(&browser, "[data-test=live]", "follows the incident").await?;
        // A page that reloads loses this.
        browser
            .execute("window.faultlineMarker = 42; return null;", vec![])
            .await
            .map_err(err)?;
        let note = "Cloudflare: a fix has been implemented";
        store
            .annotate_incident(
                id,
                chrono::Utc::now(),
                note,
                None,
                "ada",
                chrono::Utc::now(),
            )
            .await
            .map_err(err)?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
        loop {
            let text = browser
                .find(Locator::Css("main"))
                .await
                .map_err(err)?
                .text()
                .await
                .map_err(err)?;
            if text.contains(note) {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                return Err("the note never appeared without a reload".into());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let marker = browser
            .execute("return window.faultlineMarker || null;", vec![])
            .await
            .map_err(err)?;
        if marker != json!(42) {
            return Err(format!("the page was reloaded (marker {marker})"));
        }
        Ok(())
    })
    .await;
    app.stop().await;
}
