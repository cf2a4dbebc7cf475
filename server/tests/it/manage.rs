//! The page a subscriber manages their alerts from, through the signed link
//! in every mail: each form posted as a browser without JavaScript would,
//! against the real server, and a webhook added there receiving a test
//! alert that the Standard Webhooks reference verifier accepts.

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{TimeDelta, Utc};
use engine::alert::Scope;
use engine::{AlertChannel, AlertEvent};
use server::alerts::token::{Purpose, Signer};
use server::alerts::webhook::WebhookClient;
use server::alerts::{AlertSettings, Dispatcher};
use server::clock::SimClock;
use store::NewSubscription;

use crate::alerts::{as_signed, verify, Receiver};
use crate::support::TestApp;

fn email(address: &str, scope: &str, confirmed: bool) -> NewSubscription {
    NewSubscription {
        channel: AlertChannel::Email,
        format: engine::AlertFormat::Standard,
        target: address.to_owned(),
        secrets: Vec::new(),
        interests: engine::alert::Interests {
            scopes: vec![Scope::parse(scope).unwrap()],
            events: AlertEvent::DEFAULTS.to_vec(),
            mutes: Vec::new(),
        },
        min_interval_s: 0,
        remind_every_s: 0,
        confirmed_at: confirmed.then(Utc::now),
        created_by: "public".to_owned(),
        owner: None,
    }
}

struct Manage {
    app: TestApp,
    signer: Signer,
    client: reqwest::Client,
    wake: Arc<tokio::sync::Notify>,
}

impl Manage {
    async fn start() -> Self {
        let signer = Signer::with_key(b"a test key for links").unwrap();
        let wake = Arc::new(tokio::sync::Notify::new());
        let app = {
            let (signer, wake) = (signer.clone(), wake.clone());
            crate::support::spawn_app_with(move |state| {
                state.with_alert_links(signer, probe::GuardPolicy::loopback_only(), wake)
            })
            .await
        };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            app,
            signer,
            client,
            wake,
        }
    }

    fn link(&self, id: i64) -> String {
        format!(
            "/alerts/manage/{}",
            self.signer.token(Purpose::Manage, id, Utc::now())
        )
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self.client.get(self.app.url(path)).send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// Posts a form; the status, where it leads, and the page.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String, String) {
        let response = self
            .client
            .post(self.app.url(path))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, location, response.text().await.unwrap())
    }

    async fn subscription(&self, id: i64) -> Option<store::Subscription> {
        self.app.store.subscription(id).await.unwrap()
    }
}

#[tokio::test]
async fn a_subscriber_edits_follows_events_and_quiet_times_from_the_signed_link() {
    let manage = Manage::start().await;
    let store = manage.app.store.clone();
    let ada = store
        .create_subscription(
            &email("ada@example.org", "provider:cloudflare", true),
            Utc::now(),
        )
        .await
        .unwrap();
    let other = store
        .create_subscription(
            &email("ada@example.org", "site:shop.example", true),
            Utc::now(),
        )
        .await
        .unwrap();
    let link = manage.link(ada);
    store
        .add_sites(
            &[server::watchlist::site("https://news.example/", None, "", None).unwrap()],
            Utc::now(),
        )
        .await
        .unwrap();

    let (status, page) = manage.get(&link).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("ada@example.org"), "{page}");
    assert!(page.contains("Alerts about Cloudflare to"), "{page}");
    assert!(
        page.contains("value=\"provider.confirmed\" checked"),
        "{page}"
    );
    assert!(
        !page.contains("value=\"provider.suspected\" checked"),
        "suspicions are off by default: {page}"
    );
    // The address's other subscription, with a link of its own that works.
    assert!(page.contains("Your other alerts"), "{page}");
    let other_link = manage.link(other);
    assert!(page.contains(&other_link), "{page}");
    assert!(manage.get(&other_link).await.1.contains("shop.example"));

    // Follow a provider from the list, and a site by a pasted address.
    let (status, location, _) = manage
        .post(
            &format!("{link}/follow"),
            &[("kind", "provider"), ("provider", "fastly")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, format!("{link}?done=followed"));
    manage
        .post(
            &format!("{link}/follow"),
            &[("kind", "site"), ("site", "https://News.Example/today")],
        )
        .await;
    let scopes: Vec<String> = manage
        .subscription(ada)
        .await
        .unwrap()
        .interests
        .scopes
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        scopes,
        [
            "provider:cloudflare",
            "provider:fastly",
            "site:news.example"
        ]
    );
    let (_, page) = manage.get(&location).await;
    assert!(
        page.contains("New alerts about it will come here"),
        "{page}"
    );

    // A site that is not watched has no alerts to follow.
    let (status, _, page) = manage
        .post(
            &format!("{link}/follow"),
            &[("kind", "site"), ("site", "elsewhere.example")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("does not watch elsewhere.example"), "{page}");
    // The followed site's and provider's feeds are linked.
    let (_, page) = manage.get(&link).await;
    assert!(
        page.contains("href=\"/site/news.example/incidents.atom\""),
        "{page}"
    );
    assert!(
        page.contains("href=\"/provider/cloudflare/incidents.atom\""),
        "{page}"
    );

    // A provider not in the knowledge base is refused, with the reason, and
    // nothing changes.
    let (status, _, page) = manage
        .post(
            &format!("{link}/follow"),
            &[("kind", "provider"), ("provider", "nobody")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Pick a provider from the list"), "{page}");
    assert_eq!(
        manage
            .subscription(ada)
            .await
            .unwrap()
            .interests
            .scopes
            .len(),
        3
    );

    // Stop following one; the last one cannot go (that is unsubscribing).
    manage
        .post(&format!("{link}/unfollow"), &[("scope", "provider:fastly")])
        .await;
    manage
        .post(
            &format!("{link}/unfollow"),
            &[("scope", "site:news.example")],
        )
        .await;
    let (status, _, page) = manage
        .post(
            &format!("{link}/unfollow"),
            &[("scope", "provider:cloudflare")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("unsubscribe below"), "{page}");
    assert_eq!(
        manage.subscription(ada).await.unwrap().interests.scopes,
        [Scope::parse("provider:cloudflare").unwrap()]
    );

    // Pick the events and the least interval.
    let (status, location, _) = manage
        .post(
            &format!("{link}/events"),
            &[
                ("event", "provider.suspected"),
                ("event", "provider.confirmed"),
                ("event", "provider.resolved"),
                ("min_interval", "15"),
                ("remind_hours", "6"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, format!("{link}?done=events"));
    let saved = manage.subscription(ada).await.unwrap();
    assert_eq!(
        saved.interests.events,
        [
            AlertEvent::ProviderSuspected,
            AlertEvent::ProviderConfirmed,
            AlertEvent::ProviderResolved
        ]
    );
    assert_eq!(saved.min_interval_s, 900);
    assert_eq!(saved.remind_every_s, 6 * 3600);
    let (_, page) = manage.get(&link).await;
    assert!(page.contains("value=\"provider.suspected\" checked"));
    assert!(!page.contains("value=\"site.down\" checked"));
    for bad in [
        vec![("min_interval", "5")],
        vec![("event", "test")],
        vec![("event", "provider.confirmed"), ("min_interval", "-1")],
        vec![("event", "provider.confirmed"), ("remind_hours", "500")],
    ] {
        let (status, _, _) = manage.post(&format!("{link}/events"), &bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
    }
    assert_eq!(manage.subscription(ada).await.unwrap(), saved);

    // A quiet time, as a browser's date-time fields send it (UTC).
    let from = (Utc::now() + TimeDelta::days(1))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let until = (Utc::now() + TimeDelta::days(2))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let (status, _, _) = manage
        .post(
            &format!("{link}/mute"),
            &[("from", &from), ("until", &until)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let mutes = manage.subscription(ada).await.unwrap().interests.mutes;
    assert_eq!(mutes.len(), 1);
    assert_eq!(mutes[0].from.format("%Y-%m-%dT%H:%M").to_string(), from);
    for (bad_from, bad_until) in [
        (until.as_str(), from.as_str()),
        ("2020-01-01T00:00", "2020-01-02T00:00"),
        (from.as_str(), "2099-01-01T00:00"),
        ("tomorrow", "later"),
    ] {
        let (status, _, _) = manage
            .post(
                &format!("{link}/mute"),
                &[("from", bad_from), ("until", bad_until)],
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad_from} {bad_until}"
        );
    }
    let (_, page) = manage.get(&link).await;
    assert!(page.contains(&from.replace('T', " ")), "{page}");
    manage
        .post(
            &format!("{link}/unmute"),
            &[
                ("from", &mutes[0].from.to_rfc3339()),
                ("until", &mutes[0].until.to_rfc3339()),
            ],
        )
        .await;
    assert!(manage
        .subscription(ada)
        .await
        .unwrap()
        .interests
        .mutes
        .is_empty());

    // No such form; a form larger than any this page sends; a forged link.
    assert_eq!(
        manage.post(&format!("{link}/nothing"), &[]).await.0,
        StatusCode::NOT_FOUND
    );
    let huge = "x".repeat(20_000);
    assert_eq!(
        manage
            .post(&format!("{link}/follow"), &[("site", &huge)])
            .await
            .0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let forged = link.replacen(&format!("m{ada}."), &format!("m{other}."), 1);
    assert_ne!(forged, link, "the token names its subscription");
    assert_eq!(manage.get(&forged).await.0, StatusCode::NOT_FOUND);
    manage.app.stop().await;
}

#[tokio::test]
async fn a_confirmed_subscriber_adds_a_webhook_and_its_test_alert_verifies() {
    let manage = Manage::start().await;
    let store = manage.app.store.clone();
    let ada = store
        .create_subscription(
            &email("ada@example.org", "provider:cloudflare", true),
            Utc::now(),
        )
        .await
        .unwrap();
    let bob = store
        .create_subscription(
            &email("bob@example.org", "provider:cloudflare", false),
            Utc::now(),
        )
        .await
        .unwrap();
    let receiver = Receiver::default();
    let addr = receiver.start().await;
    let hook = format!("http://{addr}/hook");
    let link = manage.link(ada);

    // Bob has not confirmed: no webhooks, and no test alerts either.
    let bob_link = manage.link(bob);
    let (_, page) = manage.get(&bob_link).await;
    assert!(page.contains("Once your address is confirmed"), "{page}");
    let (status, _, page) = manage
        .post(
            &format!("{bob_link}/add-webhook"),
            &[("url", &hook), ("format", "standard")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Confirm your address first"), "{page}");
    assert_eq!(
        manage.post(&format!("{bob_link}/test"), &[]).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Ada adds one; its secret is on the answer, once.
    let (status, _, page) = manage
        .post(
            &format!("{link}/add-webhook"),
            &[("url", &hook), ("format", "standard")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let webhooks = store.webhooks_owned_by("ada@example.org").await.unwrap();
    assert_eq!(webhooks.len(), 1);
    let webhook = &webhooks[0];
    assert_eq!(webhook.target, hook);
    assert_eq!(
        webhook.interests,
        manage.subscription(ada).await.unwrap().interests
    );
    let secret = &webhook.secrets[0];
    assert!(page.contains(secret.as_str()), "{page}");
    let (_, page) = manage.get(&link).await;
    assert!(page.contains(&hook), "{page}");
    assert!(!page.contains(secret.as_str()), "the secret is shown once");

    // Addresses the delivery guard refuses, twice the same, a bad kind.
    for (url, format, why) in [
        (
            "http://169.254.169.254/latest",
            "standard",
            "cannot take alerts",
        ),
        ("http://10.0.0.8/hook", "slack", "cannot take alerts"),
        ("ftp://example.com/", "standard", "cannot take alerts"),
        (hook.as_str(), "standard", "already"),
        ("https://hooks.example/x", "carrier-pigeon", "Pick the kind"),
    ] {
        let (status, _, page) = manage
            .post(
                &format!("{link}/add-webhook"),
                &[("url", url), ("format", format)],
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        assert!(page.contains(why), "{url}: {page}");
    }
    assert_eq!(
        store
            .webhooks_owned_by("ada@example.org")
            .await
            .unwrap()
            .len(),
        1
    );

    // "Send a test alert" queues one and rings the dispatcher; delivered,
    // the reference verifier accepts it with the secret the page showed.
    let rung = manage.wake.notified();
    let id = webhook.id.to_string();
    let (status, location, _) = manage
        .post(&format!("{link}/test"), &[("endpoint", &id)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, format!("{link}?done=test"));
    tokio::time::timeout(std::time::Duration::from_secs(1), rung)
        .await
        .expect("the dispatcher was told");
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
    let mut dispatcher = Dispatcher::new(
        store.clone(),
        Arc::new(SimClock::new(Utc::now())),
        WebhookClient::new(Arc::new(prober)).unwrap(),
        server::knowledge::Knowledge::builtin(),
        "https://faultline.example".to_owned(),
        &settings,
    );
    dispatcher.round().await.unwrap();
    dispatcher.round().await.unwrap();
    let got = receiver.got();
    assert_eq!(got.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["type"], "test", "{body}");
    assert_eq!(verify(secret, &[as_signed(&got[0])]), ["ok"]);

    // Nobody tests or removes another address's webhook.
    let (status, _, _) = manage
        .post(&format!("{bob_link}/remove-webhook"), &[("endpoint", &id)])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(manage.subscription(webhook.id).await.is_some());

    // Unsubscribing the address's last subscription takes its webhook with
    // it: a webhook needs an owner who can manage it.
    let token = link.trim_start_matches("/alerts/manage/");
    let (status, _, page) = manage
        .post(&format!("/alerts/unsubscribe/{token}"), &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("webhook it added is removed too"), "{page}");
    assert!(manage.subscription(webhook.id).await.is_none());
    assert!(manage.subscription(bob).await.is_some());
    manage.app.stop().await;
}
