//! Every public page, over a replayed outage, passes the checkers people
//! use to judge a site: the Nu HTML Checker (valid HTML), axe-core
//! (accessibility) at desktop and phone widths in light and dark, and at a
//! phone's width the page never scrolls sideways nor shows text smaller
//! than 11 px. `scripts/setup --browser` installs both checkers into
//! `.tools/`. Phone screenshots land in `target/browser-screenshots/`.

use std::path::PathBuf;
use std::process::Stdio;

use crate::browser::{err, hydrated, journey_with, shot, Scripts, Step};
use crate::support::Replayed;

fn tools() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/node_modules")
}

/// The public pages of a replayed 18 Nov 2025, as (name, path).
async fn public_pages(replay: &Replayed) -> Vec<(String, String)> {
    let incident = replay
        .store
        .provider_incidents(Some("cloudflare"), 1)
        .await
        .unwrap()
        .into_iter()
        .next()
        .expect("the replay opened a Cloudflare incident");
    let host = replay.store.incident_sites(incident.id).await.unwrap()[0]
        .host
        .clone();
    // An explanation's page exists once a page was pasted.
    let page = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../engine/tests/fixtures/error-pages/cloudflare__500__1.html"),
    )
    .unwrap();
    let answered = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(replay.url("/api/explain"))
        .form(&[("html", page.as_str()), ("headers", "")])
        .send()
        .await
        .unwrap();
    let explanation = answered
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .expect("an explanation's address")
        .to_owned();
    // The pages behind the links in alert mails, for the replay's
    // newsroom, which follows Cloudflare by email.
    let signer = server::alerts::token::Signer::load(&replay.store)
        .await
        .unwrap();
    let newsroom = replay
        .store
        .email_subscriptions_of(&server::sim::mailbox::MailReceiver::address("newsroom"))
        .await
        .unwrap()
        .first()
        .expect("the replay's newsroom subscribes by email")
        .id;
    let now = chrono::Utc::now();
    let manage = signer.token(server::alerts::token::Purpose::Manage, newsroom, now);
    let confirm = signer.token(server::alerts::token::Purpose::Confirm, newsroom, now);
    [
        ("alerts-manage", format!("/alerts/manage/{manage}")),
        ("alerts-confirm", format!("/alerts/confirm/{confirm}")),
        (
            "alerts-unsubscribe",
            format!("/alerts/unsubscribe/{manage}"),
        ),
        ("home", "/".to_owned()),
        ("site", format!("/site/{host}")),
        ("provider", "/provider/cloudflare".to_owned()),
        ("incidents", "/incidents".to_owned()),
        ("official", "/official".to_owned()),
        ("incident", format!("/incident/{}", incident.id)),
        ("explain", "/explain".to_owned()),
        ("explanation", explanation),
        ("check", "/check?q=unwatched.example".to_owned()),
        ("sign-in", "/admin/login".to_owned()),
        ("api-reference", "/api".to_owned()),
        ("embed-provider", "/embed/provider/cloudflare".to_owned()),
        ("embed-site", format!("/embed/site/{host}")),
        ("not-found", "/no/such/page".to_owned()),
    ]
    .into_iter()
    .map(|(name, path)| (name.to_owned(), path))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nu_html_checker_finds_no_error_on_any_public_page() {
    let jar = tools().join("vnu-jar/build/dist/vnu.jar");
    assert!(
        jar.exists(),
        "no {}: run scripts/setup --browser",
        jar.display()
    );
    let replay = Replayed::start("cloudflare-2025-11-18.toml").await;
    let pages = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (name, path) in public_pages(&replay).await {
        let html = reqwest::get(replay.url(&path))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let file = pages.path().join(format!("{name}.html"));
        std::fs::write(&file, html).unwrap();
        files.push(file);
    }
    replay.finish().await;
    let output = tokio::process::Command::new("java")
        .arg("-jar")
        .arg(&jar)
        .args(["--errors-only", "--format", "json", "--stdout"])
        .args(&files)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("java runs (scripts/setup --browser installs it)");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "vnu printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let errors: Vec<String> = report["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let file = m["url"].as_str().unwrap_or_default();
            let page = file.rsplit('/').next().unwrap_or(file);
            format!(
                "{page}:{}: {} [{}]",
                m["lastLine"],
                m["message"].as_str().unwrap_or_default(),
                m["extract"].as_str().unwrap_or_default().trim()
            )
        })
        .collect();
    assert!(
        errors.is_empty(),
        "the Nu HTML Checker found {} errors:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

/// Runs axe-core on the page in view; its violations, one line each.
async fn axe_violations(browser: &fantoccini::Client, source: &str) -> Result<Vec<String>, String> {
    browser.execute(source, vec![]).await.map_err(err)?;
    let found = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
               .then(r => done(r.violations.map(v =>
                 v.id + ' (' + v.impact + '): ' + v.help + ' at ' +
                 v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))))
               .catch(e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await
        .map_err(err)?;
    serde_json::from_value(found).map_err(err)
}

/// At the window's width: whether the page has its one `h1`, whether it
/// scrolls sideways (and what sticks out), and every visible text smaller
/// than 11 px.
const PHONE_CHECKS: &str = r#"
const width = window.innerWidth;
const problems = [];
if (document.querySelectorAll('h1').length !== 1) {
  problems.push(`${document.querySelectorAll('h1').length} h1 headings, not one`);
}
if (document.documentElement.scrollWidth > width) {
  problems.push(`the page is ${document.documentElement.scrollWidth} px wide in a ${width} px window`);
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.right > width + 1 && el.children.length === 0 && problems.length < 8) {
      problems.push(`  sticks out: <${el.tagName.toLowerCase()} class="${el.getAttribute('class') || ''}"> to ${Math.round(r.right)} px`);
    }
  }
}
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {
  const text = walker.currentNode.textContent.trim();
  const el = walker.currentNode.parentElement;
  if (!text || !el || el.closest('script,style,template,title,desc,noscript')) continue;
  const r = el.getBoundingClientRect();
  if (!el.getClientRects().length || r.width <= 1 || r.height <= 1) continue;
  const style = getComputedStyle(el);
  if (style.visibility === 'hidden') continue;
  let size = parseFloat(style.fontSize);
  if (el instanceof SVGElement && el.getScreenCTM()) {
    const m = el.getScreenCTM();
    size *= Math.hypot(m.a, m.b);
  }
  if (size < 10.95 && problems.length < 30) {
    problems.push(`text at ${size.toFixed(1)} px: "${text.slice(0, 40)}"`);
  }
}
return problems;
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_public_page_passes_axe_and_reads_on_a_phone() {
    let axe = tools().join("axe-core/axe.min.js");
    let source = std::fs::read_to_string(&axe)
        .unwrap_or_else(|e| panic!("{}: {e}: run scripts/setup --browser", axe.display()));
    let replay = Replayed::start("cloudflare-2025-11-18.toml").await;
    let pages: Vec<(String, String)> = public_pages(&replay)
        .await
        .into_iter()
        .map(|(name, path)| (name, replay.url(&path)))
        .collect();
    for (theme, flags) in [("light", &[][..]), ("dark", &["--force-dark-mode"][..])] {
        let (pages, source) = (pages.clone(), source.clone());
        journey_with(
            &format!("checkers-{theme}"),
            Scripts::On,
            flags,
            move |browser| async move {
                let dark = browser
                    .execute(
                        "return matchMedia('(prefers-color-scheme: dark)').matches;",
                        vec![],
                    )
                    .await
                    .map_err(err)?;
                if dark != serde_json::json!(theme == "dark") {
                    return Err(format!("the browser did not take the {theme} theme"));
                }
                let mut problems = Vec::new();
                for (width, height, size) in [(1280, 900, "desktop"), (390, 844, "phone")] {
                    browser.set_window_size(width, height).await.map_err(err)?;
                    for (name, url) in &pages {
                        browser.goto(url).await.map_err(err)?;
                        // The pages behind mail links, the API reference and
                        // the widgets are plain HTML.
                        if !["alerts-", "api-", "embed-"]
                            .iter()
                            .any(|plain| name.starts_with(plain))
                        {
                            hydrated(&browser).await?;
                        }
                        for violation in axe_violations(&browser, &source).await? {
                            problems.push(format!("{name} ({size}, {theme}): {violation}"));
                        }
                        if size == "phone" {
                            shot(&browser, &format!("phone-{theme}-{name}")).await;
                            let found = browser.execute(PHONE_CHECKS, vec![]).await.map_err(err)?;
                            let found: Vec<String> = serde_json::from_value(found).map_err(err)?;
                            problems.extend(
                                found
                                    .into_iter()
                                    .map(|p| format!("{name} (phone, {theme}): {p}")),
                            );
                        }
                    }
                }
                checked(problems)
            },
        )
        .await;
    }
    replay.finish().await;
}

fn checked(problems: Vec<String>) -> Step {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} problems:\n{}",
            problems.len(),
            problems.join("\n")
        ))
    }
}
