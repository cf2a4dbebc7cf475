//! Badges and the embeddable widget as other sites use them: the SVG is
//! well-formed XML that draws, the JSON is shields.io's endpoint schema,
//! and in Chromium a page of another origin shows the badge and the
//! widget in an iframe, while an ordinary page refuses to be framed.

use fantoccini::Locator;

use crate::browser::{journey_with, Scripts, Step, WAIT};
use crate::pages::populate;
use crate::support::spawn_app;

#[tokio::test]
async fn badges_say_the_state_in_svg_and_in_shields_json() {
    let app = spawn_app().await;
    populate(&app).await;

    for (path, title) in [
        ("/badge/site/a.test.svg", "a.test: up"),
        ("/badge/provider/cloudflare.svg", "Cloudflare: operational"),
    ] {
        let response = reqwest::get(app.url(path)).await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], "image/svg+xml");
        assert!(response.headers()["etag"].to_str().is_ok(), "{path}");
        let svg = response.text().await.unwrap();
        // A real SVG parser reads it and finds something to draw.
        let tree = resvg::usvg::Tree::from_str(&svg, &resvg::usvg::Options::default())
            .unwrap_or_else(|error| panic!("{path} is not SVG: {error}\n{svg}"));
        assert!(tree.size().width() > 40.0, "{path}");
        assert!(svg.contains("role=\"img\""), "{svg}");
        assert!(svg.contains(&format!("<title>{title}</title>")), "{svg}");
        assert!(svg.contains(&format!("aria-label=\"{title}\"")), "{svg}");
    }

    let shields: serde_json::Value = reqwest::get(app.url("/badge/site/a.test.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shields["schemaVersion"], 1);
    assert_eq!(shields["label"], "a.test");
    assert_eq!(shields["message"], "up");
    assert!(shields["color"].as_str().unwrap().len() == 6);

    let missing = reqwest::get(app.url("/badge/site/nowhere.test.svg"))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("not watched"));
    assert_eq!(
        reqwest::get(app.url("/badge/site/a.test.png"))
            .await
            .unwrap()
            .status(),
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn only_the_widget_may_be_framed() {
    let app = spawn_app().await;
    populate(&app).await;
    let embed = reqwest::get(app.url("/embed/site/a.test")).await.unwrap();
    assert_eq!(embed.status(), 200);
    assert!(embed.headers().get("x-frame-options").is_none());
    let policy = embed.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("frame-ancestors *"), "{policy}");
    let html = embed.text().await.unwrap();
    assert!(html.contains("a.test"));
    assert!(html.contains("Last 24 hours: answered"), "{html}");

    for page in [
        "/",
        "/provider/cloudflare",
        "/api",
        "/badge/site/a.test.svg",
    ] {
        let response = reqwest::get(app.url(page)).await.unwrap();
        assert_eq!(response.headers()["x-frame-options"], "DENY", "{page}");
    }
    assert_eq!(
        reqwest::get(app.url("/embed/provider/nobody"))
            .await
            .unwrap()
            .status(),
        404
    );
    app.stop().await;
}

/// A page on another origin that shows Faultline's badge and widget, and
/// tries to frame an ordinary page.
async fn other_site(faultline: String) -> (String, tokio::task::JoinHandle<()>) {
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>A status page</title></head>\
         <body><h1>Our status</h1>\
         <img id=\"badge\" alt=\"Cloudflare status\" src=\"{faultline}/badge/provider/cloudflare.svg\">\
         <iframe id=\"widget\" title=\"Cloudflare on Faultline\" src=\"{faultline}/embed/provider/cloudflare\" width=\"320\" height=\"160\"></iframe>\
         <iframe id=\"ordinary\" title=\"Faultline's provider page\" src=\"{faultline}/provider/cloudflare\" width=\"320\" height=\"160\"></iframe>\
         </body></html>"
    );
    let router = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let page = page.clone();
            async move { axum::response::Html(page) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let served = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (url, served)
}

#[tokio::test]
async fn another_site_shows_the_badge_and_the_widget_but_cannot_frame_a_page() {
    let app = spawn_app().await;
    populate(&app).await;
    let (url, other) = other_site(app.url("")).await;
    journey_with("widgets", Scripts::On, &[], move |browser| async move {
        browser.goto(&url).await.map_err(|e| e.to_string())?;
        browser
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css("#widget"))
            .await
            .map_err(|e| e.to_string())?;
        // The badge drew: an image with a size of its own.
        let width = browser
            .execute(
                "const img = document.getElementById('badge'); \
                 return img.complete ? img.naturalWidth : 0;",
                vec![],
            )
            .await
            .map_err(|e| e.to_string())?;
        let width = width.as_f64().unwrap_or_default();
        if width < 40.0 {
            return Err(format!("the badge did not draw (width {width})"));
        }
        // The widget shows Cloudflare's state inside its frame.
        let frame = browser
            .find(Locator::Css("#widget"))
            .await
            .map_err(|e| e.to_string())?;
        frame.enter_frame().await.map_err(|e| e.to_string())?;
        let state = browser
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(".state"))
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        if !state.contains("Operational") {
            return Err(format!("the widget says {state:?}"));
        }
        browser
            .enter_parent_frame()
            .await
            .map_err(|e| e.to_string())?;
        // The ordinary page was refused: nothing of Faultline's inside.
        let frame = browser
            .find(Locator::Css("#ordinary"))
            .await
            .map_err(|e| e.to_string())?;
        frame.enter_frame().await.map_err(|e| e.to_string())?;
        let framed = browser
            .execute(
                "return document.querySelector('[data-test=freshness]') !== null \
                 || document.title.includes('Faultline');",
                vec![],
            )
            .await
            .map_err(|e| e.to_string())?;
        if framed.as_bool() != Some(false) {
            return Err("an ordinary page was shown in another site's frame".to_owned());
        }
        Step::Ok(())
    })
    .await;
    other.abort();
    app.stop().await;
}
