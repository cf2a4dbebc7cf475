//! Alerts as a visitor gets them, in headless Chromium with and without
//! JavaScript: "Get alerts" on a provider page, the confirmation from a
//! real SMTP server's mail, the manage page from the signed link, a
//! webhook added there and its test alert, checked by the Standard
//! Webhooks reference verifier.

use std::sync::Arc;
use std::time::Duration;

use fantoccini::{Client, Locator};
use server::alerts::webhook::WebhookClient;
use server::alerts::{AlertSettings, Dispatcher};
use tokio_util::sync::CancellationToken;

use crate::alerts::{as_signed, verify, with_a_cloudflare_incident, MailServer, Receiver};
use crate::browser::{
    click, err, expect_path, expect_text, hydrated, journey_with, shot, Scripts, Step, WAIT,
};

/// The first link to `path` in the newest mail to `address`, once it came.
async fn link_in_mail(smtp: &MailServer, address: &str, path: &str) -> Result<String, String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        let text = smtp
            .mails()
            .iter()
            .rev()
            .find(|mail| mail["to"][0] == address)
            .and_then(|mail| mail["text"].as_str().map(str::to_owned));
        if let Some(start) = text.as_deref().and_then(|t| t.find("http://")) {
            let text = text.as_deref().unwrap_or_default();
            let link: String = text[start..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect();
            if link.contains(path) {
                return Ok(link);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("no mail to {address} with a link to {path}"))
}

async fn type_into(browser: &Client, css: &str, text: &str) -> Step {
    browser
        .find(Locator::Css(css))
        .await
        .map_err(err)?
        .send_keys(text)
        .await
        .map_err(err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_subscribes_confirms_manages_and_tests_a_webhook_in_the_browser() {
    let smtp = MailServer::start();
    let receiver = Receiver::default();
    let hook = format!("http://{}/hook", receiver.start().await);
    let signer = server::alerts::token::Signer::with_key(b"a browser test key").unwrap();
    let wake = Arc::new(tokio::sync::Notify::new());
    let app = {
        let (signer, wake) = (signer.clone(), wake.clone());
        crate::support::spawn_app_with(move |state| {
            state.with_alert_links(signer, probe::GuardPolicy::loopback_only(), wake)
        })
        .await
    };
    with_a_cloudflare_incident(&app).await;

    // The server's dispatcher: mails with links to this server, woken by
    // the pages.
    let base = app.url("");
    let base = base.trim_end_matches('/').to_owned();
    let settings = AlertSettings {
        allowed_networks: vec!["127.0.0.0/8".parse().unwrap()],
        ..AlertSettings::default()
    };
    let prober = probe::LiveProber::new(probe::ProberConfig {
        nameservers: vec!["127.0.0.1:9".parse().unwrap()],
        guard: settings.guard(),
        ..probe::ProberConfig::default()
    })
    .unwrap();
    let mailer = server::alerts::mail::Mailer::new(
        &format!("smtp://127.0.0.1:{}", smtp.port),
        "Faultline <alerts@faultline.example>",
        &base,
    )
    .unwrap();
    let dispatcher = Dispatcher::new(
        app.store.clone(),
        Arc::new(server::clock::SystemClock),
        WebhookClient::new(Arc::new(prober)).unwrap(),
        server::knowledge::Knowledge::builtin(),
        base.clone(),
        &settings,
    )
    .with_mail(mailer, signer)
    .with_wake(wake);
    let stop = CancellationToken::new();
    let dispatching = tokio::spawn(dispatcher.run(stop.clone()));

    for (scripts, name, address) in [
        (Scripts::Off, "alerts-no-js", "nojs@example.org"),
        (Scripts::On, "alerts", "js@example.org"),
    ] {
        let provider_page = app.url("/provider/cloudflare");
        let (smtp, receiver, hook) = (&smtp, &receiver, hook.clone());
        let before = receiver.got().len();
        journey_with(name, scripts, &[], move |browser| async move {
            // Get alerts on the provider page.
            browser.goto(&provider_page).await.map_err(err)?;
            if scripts == Scripts::On {
                hydrated(&browser).await?;
            }
            type_into(&browser, "#alerts-address", address).await?;
            click(&browser, "[data-test=get-alerts]").await?;
            expect_text(
                &browser,
                "[data-test=alerts-message]",
                "a confirmation link is on its way",
            )
            .await?;
            shot(&browser, &format!("{name}-asked")).await;

            // The mail's link asks first; the button confirms.
            let confirm = link_in_mail(smtp, address, "/alerts/confirm/").await?;
            browser.goto(&confirm).await.map_err(err)?;
            expect_text(&browser, "main", "Send alerts about Cloudflare").await?;
            click(&browser, "[data-test=confirm]").await?;
            expect_text(&browser, "h1", "Alerts confirmed").await?;

            // The manage page: hear early warnings too.
            click(&browser, "a[href^='/alerts/manage/']").await?;
            expect_text(&browser, "[data-test=address]", address).await?;
            click(&browser, "input[value='provider.suspected']").await?;
            click(&browser, "[data-test=save-events]").await?;
            expect_text(&browser, "[data-test=done]", "Saved.").await?;
            let manage = browser.current_url().await.map_err(err)?;

            // Add a webhook; its secret is shown once.
            type_into(&browser, "#webhook-url", &hook).await?;
            click(&browser, "[data-test=add-webhook]").await?;
            expect_text(&browser, "h1", "Webhook added").await?;
            let secret = browser
                .find(Locator::Css("[data-test=secret]"))
                .await
                .map_err(err)?
                .text()
                .await
                .map_err(err)?;
            if !secret.starts_with("whsec_") {
                return Err(format!("no secret shown: {secret:?}"));
            }
            shot(&browser, &format!("{name}-webhook")).await;
            click(&browser, "a[href^='/alerts/manage/']").await?;
            expect_path(&browser, manage.path()).await?;
            expect_text(&browser, "[data-test=webhooks]", &hook).await?;

            // Send it a test alert: it arrives, signed with that secret.
            click(&browser, "[data-test=test-webhook]").await?;
            expect_text(&browser, "[data-test=done]", "A test alert is on its way").await?;
            shot(&browser, &format!("{name}-manage")).await;
            let deadline = tokio::time::Instant::now() + WAIT;
            while receiver.got().len() == before && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let got = receiver.got();
            let Some(test) = got.get(before) else {
                return Err("the test alert did not arrive".to_owned());
            };
            let verdict = verify(&secret, &[as_signed(test)]);
            if verdict != ["ok"] {
                return Err(format!("the reference verifier said {verdict:?}"));
            }
            Ok(())
        })
        .await;
    }
    // Each visitor holds a confirmed subscription that now hears early
    // warnings, and one webhook.
    for address in ["nojs@example.org", "js@example.org"] {
        let mine = app.store.email_subscriptions_of(address).await.unwrap();
        assert_eq!(mine.len(), 1, "{address}");
        assert!(mine[0].confirmed_at.is_some());
        assert!(mine[0]
            .interests
            .events
            .contains(&engine::AlertEvent::ProviderSuspected));
        assert_eq!(app.store.webhooks_owned_by(address).await.unwrap().len(), 1);
    }
    stop.cancel();
    let _ = dispatching.await;
    app.stop().await;
}
