//! Administration over HTTP, as a browser without JavaScript uses it: plain
//! form posts, redirects and a session cookie.

use engine::{Phase, Role};
use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::StatusCode;

use crate::support::{spawn_app, TestApp};

const PASSWORD: &str = "correct horse battery staple";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

async fn with_admin() -> TestApp {
    let app = spawn_app().await;
    let hash = app::admin::password::hash(PASSWORD).unwrap();
    app.store
        .create_admin("ada", &hash, chrono::Utc::now())
        .await
        .unwrap()
        .unwrap();
    app
}

/// Posts a form as a browser does; returns the status, the redirect target
/// and the response's `Set-Cookie`.
async fn post_form(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
    cookie: Option<&str>,
) -> (StatusCode, String, Option<String>) {
    let mut request = client()
        .post(app.url(path))
        .header("accept", "text/html")
        .header("origin", format!("http://{}", app.addr))
        .form(form);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let response = request.send().await.unwrap();
    let header = |name| {
        response
            .headers()
            .get(name)
            .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_owned())
    };
    (
        response.status(),
        header(LOCATION).unwrap_or_default(),
        header(SET_COOKIE),
    )
}

async fn sign_in(app: &TestApp) -> String {
    let (status, location, set_cookie) = post_form(
        app,
        "/api/admin/login",
        &[("username", "ada"), ("password", PASSWORD)],
        None,
    )
    .await;
    assert!(status.is_redirection(), "{status}");
    assert_eq!(location, "/admin");
    let set_cookie = set_cookie.expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    set_cookie.split(';').next().unwrap().trim().to_owned()
}

async fn get_page(app: &TestApp, path: &str, cookie: &str) -> (StatusCode, String) {
    let response = client()
        .get(app.url(path))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn admin_pages_send_a_stranger_to_sign_in() {
    let app = with_admin().await;
    for path in [
        "/admin",
        "/admin/sites",
        "/admin/alerts",
        "/admin/incident/1",
    ] {
        let response = client().get(app.url(path)).send().await.unwrap();
        assert!(response.status().is_redirection(), "{path}");
        assert_eq!(response.headers()[LOCATION], "/admin/login", "{path}");
    }
    // A forged cookie is no better than none.
    let forged = format!("faultline_session={}", "ab".repeat(32));
    let response = client()
        .get(app.url("/admin"))
        .header(COOKIE, forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[LOCATION], "/admin/login");
    let login = client().get(app.url("/admin/login")).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    assert_eq!(login.headers()["cache-control"], "no-store");
    assert!(login.text().await.unwrap().contains("Sign in"));
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_repeated_attempts_are_limited() {
    let app = with_admin().await;
    let wrong = [("username", "ada"), ("password", "not the password")];
    let (_, location, cookie) = post_form(&app, "/api/admin/login", &wrong, None).await;
    assert_eq!(location, "/admin/login?failed=1");
    assert!(cookie.is_none());
    let unknown = [("username", "mallory"), ("password", PASSWORD)];
    let (_, location, _) = post_form(&app, "/api/admin/login", &unknown, None).await;
    assert_eq!(location, "/admin/login?failed=1");
    for _ in 0..3 {
        post_form(&app, "/api/admin/login", &wrong, None).await;
    }
    // The sixth attempt within a minute is refused, even with the right
    // password.
    let right = [("username", "ada"), ("password", PASSWORD)];
    let (_, location, cookie) = post_form(&app, "/api/admin/login", &right, None).await;
    assert_eq!(location, "/admin/login?failed=limit");
    assert!(cookie.is_none());
    let (_, page) = get_page(&app, "/admin/login?failed=limit", "").await;
    assert!(page.contains("Too many attempts"), "{page}");
    app.stop().await;
}

#[tokio::test]
async fn an_admin_manages_the_watchlist_with_plain_forms() {
    let app = with_admin().await;
    let cookie = sign_in(&app).await;

    let (status, home) = get_page(&app, "/admin", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(home.contains("Signed in as"), "{home}");
    assert!(home.contains("builtin"), "knowledge base state: {home}");
    assert!(home.contains("Our vantage point is online"), "{home}");
    // The session token is kept only as its hash.
    let token = cookie.split_once('=').unwrap().1;
    let hashed = app::admin::session::token_hash(token);
    assert!(app
        .store
        .session_admin(&hashed, chrono::Utc::now())
        .await
        .unwrap()
        .is_some());
    assert!(app
        .store
        .session_admin(token, chrono::Utc::now())
        .await
        .unwrap()
        .is_none());

    let add = [
        ("url", "https://shop.example/"),
        ("name", "Example Shop"),
        ("tags", "Shop, EU"),
        ("interval_s", "5m"),
    ];
    let (_, location, _) = post_form(&app, "/api/admin/sites/add", &add, Some(&cookie)).await;
    assert_eq!(location, "/admin/sites");
    let sites = app.store.list_sites().await.unwrap();
    assert_eq!(sites.len(), 1);
    let site = &sites[0];
    assert_eq!(
        (
            site.host.as_str(),
            site.name.as_str(),
            site.tags.as_str(),
            site.interval_s
        ),
        ("shop.example", "Example Shop", "shop,eu", 300)
    );
    let (_, page) = get_page(&app, "/admin/sites", &cookie).await;
    assert!(page.contains("Now watching shop.example."), "{page}");
    // The message is shown once.
    let (_, page) = get_page(&app, "/admin/sites", &cookie).await;
    assert!(!page.contains("Now watching shop.example."));
    assert!(page.contains("Example Shop"));

    // A hostile target is refused with the reason, and nothing is added.
    let bad = [
        ("url", "javascript:alert(1)"),
        ("name", ""),
        ("tags", ""),
        ("interval_s", ""),
    ];
    post_form(&app, "/api/admin/sites/add", &bad, Some(&cookie)).await;
    let (_, page) = get_page(&app, "/admin/sites", &cookie).await;
    assert!(page.contains("Not added:"), "{page}");
    assert_eq!(app.store.list_sites().await.unwrap().len(), 1);

    // An import keeps the good lines and names the bad ones.
    let list = "a.example\nnot a host name!\nhttps://b.example/status\n";
    let import = [("text", list), ("format", "plain")];
    post_form(&app, "/api/admin/sites/import", &import, Some(&cookie)).await;
    let (_, page) = get_page(&app, "/admin/sites", &cookie).await;
    assert!(
        page.contains("2 sites added, 0 already watched, 1 line skipped."),
        "{page}"
    );
    assert!(page.contains("line 2:"), "{page}");
    assert_eq!(app.store.list_sites().await.unwrap().len(), 3);

    // Edit, then remove and watch again: the site keeps its id.
    let id = site.id.to_string();
    let edit = [
        ("id", id.as_str()),
        ("name", "Shop"),
        ("tags", "shop"),
        ("interval_s", "120"),
    ];
    post_form(&app, "/api/admin/sites/update", &edit, Some(&cookie)).await;
    let edited = app.store.site(site.id).await.unwrap().unwrap();
    assert_eq!((edited.name.as_str(), edited.interval_s), ("Shop", 120));
    // The audit trail keeps what it was and what it became.
    let audit = app.store.recent_audit(5).await.unwrap();
    let edit_line = audit.iter().find(|e| e.action == "edit site").unwrap();
    assert!(
        edit_line.detail
            == "shop.example: name \"Example Shop\" → \"Shop\"; \
                tags \"shop,eu\" → \"shop\"; interval 300 s → 120 s",
        "{edit_line:?}"
    );
    let remove = [("id", id.as_str()), ("watched", "false")];
    post_form(&app, "/api/admin/sites/watch", &remove, Some(&cookie)).await;
    assert!(!app.store.site(site.id).await.unwrap().unwrap().enabled);
    let (_, page) = get_page(&app, "/admin/sites", &cookie).await;
    assert!(page.contains("its history is kept"), "{page}");
    assert!(page.contains("Watch again"), "{page}");

    // Every change is in the audit trail on the status page.
    let (_, home) = get_page(&app, "/admin", &cookie).await;
    for action in ["sign-in", "add site", "import", "edit site", "remove site"] {
        assert!(
            home.contains(action),
            "{action} missing from the audit trail"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn changes_need_a_session_and_a_same_site_origin() {
    let app = with_admin().await;
    let add = [
        ("url", "a.example"),
        ("name", ""),
        ("tags", ""),
        ("interval_s", ""),
    ];
    let (_, location, _) = post_form(&app, "/api/admin/sites/add", &add, None).await;
    assert_eq!(location, "/admin/login");
    assert!(app.store.list_sites().await.unwrap().is_empty());

    let cookie = sign_in(&app).await;
    let response = client()
        .post(app.url("/api/admin/sites/add"))
        .header("accept", "text/html")
        .header("origin", "https://evil.example")
        .header(COOKIE, &cookie)
        .form(&add)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(app.store.list_sites().await.unwrap().is_empty());

    // Signing out ends the session on the server, not only in the browser.
    let (_, location, cleared) = post_form(&app, "/api/admin/logout", &[], Some(&cookie)).await;
    assert_eq!(location, "/admin/login?signed_out=1");
    assert!(cleared.unwrap().contains("Max-Age=0"));
    let response = client()
        .get(app.url("/admin"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[LOCATION], "/admin/login");
    app.stop().await;
}

#[tokio::test]
async fn notes_added_by_an_admin_appear_on_the_public_incident_page() {
    let app = with_admin().await;
    let onset: chrono::DateTime<chrono::Utc> = "2025-11-18T11:20:00Z".parse().unwrap();
    let row = store::ProviderIncidentRow {
        mechanism: engine::Mechanism::Own,
        origins: 0,
        provider: "cloudflare".into(),
        role: Role::Cdn,
        phase: Phase::Resolved,
        onset_at: onset,
        detected_at: onset + chrono::TimeDelta::seconds(60),
        confirmed_at: Some(onset + chrono::TimeDelta::seconds(90)),
        resolved_at: Some(onset + chrono::TimeDelta::hours(3)),
        peak_share: 0.8,
        peak_at: onset,
        confidence: 0.9,
        ..Default::default()
    };
    let id = app
        .store
        .save_provider_incident(None, &row, chrono::Utc::now())
        .await
        .unwrap();
    let cookie = sign_in(&app).await;
    let incident = id.to_string();
    let note = [
        ("incident", incident.as_str()),
        ("at", "2025-11-18 11:48"),
        ("text", "Cloudflare: investigating widespread 500 errors"),
        ("url", "https://www.cloudflarestatus.com/"),
    ];
    let (_, location, _) = post_form(&app, "/api/admin/incident/note", &note, Some(&cookie)).await;
    assert_eq!(location, format!("/admin/incident/{id}"));
    let (_, page) = get_page(&app, &format!("/admin/incident/{id}"), &cookie).await;
    assert!(page.contains("Note added."), "{page}");

    let public = reqwest::get(app.url(&format!("/incident/{id}")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        public.contains("investigating widespread 500 errors"),
        "{public}"
    );
    assert!(public.contains("https://www.cloudflarestatus.com/"));

    // A link that is not http(s) is refused.
    let bad = [
        ("incident", incident.as_str()),
        ("at", ""),
        ("text", "see this"),
        ("url", "javascript:alert(1)"),
    ];
    post_form(&app, "/api/admin/incident/note", &bad, Some(&cookie)).await;
    assert_eq!(app.store.annotations(id).await.unwrap().len(), 1);

    let note_id = app.store.annotations(id).await.unwrap()[0].id.to_string();
    let delete = [("incident", incident.as_str()), ("note", note_id.as_str())];
    post_form(
        &app,
        "/api/admin/incident/note/delete",
        &delete,
        Some(&cookie),
    )
    .await;
    assert!(app.store.annotations(id).await.unwrap().is_empty());
    app.stop().await;
}

#[test]
fn the_first_admin_is_created_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("faultline.db");
    let database = database.to_str().unwrap();
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(args)
            .args(["--database", database])
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        let output = child.wait_with_output().unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };

    let (code, stdout, stderr) = run(
        &["admin", "create", "ada", "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), "created administrator ada");
    let (code, _, stderr) = run(&["admin", "create", "ada"], None);
    assert_eq!(code, 2);
    assert!(stderr.contains("exists"), "{stderr}");
    let (code, _, stderr) = run(
        &["admin", "create", "bob", "--password-stdin"],
        Some("short\n"),
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("12"), "{stderr}");
    let (code, _, _) = run(&["admin", "create", "bad name"], None);
    assert_eq!(code, 2);
    let (code, stdout, _) = run(&["admin", "create", "bob"], None);
    assert_eq!(code, 0);
    let generated = stdout.rsplit(": ").next().unwrap().trim().to_owned();
    assert_eq!(generated.len(), 20, "{stdout}");
    let (_, stdout, _) = run(&["admin", "list"], None);
    assert_eq!(stdout.lines().collect::<Vec<_>>(), ["ada", "bob"]);

    // The database holds argon2id hashes that verify, never the passwords.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = store::Store::open(std::path::Path::new(database))
            .await
            .unwrap();
        let (_, hash) = store.admin_credentials("ada").await.unwrap().unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains(PASSWORD));
        assert!(app::admin::password::verify(PASSWORD.into(), hash.clone()).await);
        assert!(!app::admin::password::verify("wrong password!".into(), hash).await);
        let (_, hash) = store.admin_credentials("bob").await.unwrap().unwrap();
        assert!(app::admin::password::verify(generated.clone(), hash).await);
        store.close().await;
    });
}

#[tokio::test]
async fn an_oversized_body_is_refused_before_it_is_read() {
    let app = with_admin().await;
    let cookie = sign_in(&app).await;
    let huge = "a".repeat(server::http::MAX_BODY_BYTES + 1);
    let response = client()
        .post(app.url("/api/admin/sites/import"))
        .header("accept", "text/html")
        .header(COOKIE, &cookie)
        .form(&[("text", huge.as_str()), ("format", "plain")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(app.store.list_sites().await.unwrap().is_empty());
    // A watchlist over the import limit but under the body limit gets a
    // message, not an error page.
    let big = "a.example\n".repeat(app::admin::MAX_IMPORT_BYTES / 10 + 1);
    post_form(
        &app,
        "/api/admin/sites/import",
        &[("text", big.as_str()), ("format", "plain")],
        Some(&cookie),
    )
    .await;
    let (_, page) = get_page(&app, "/admin/sites", &cookie).await;
    assert!(page.contains("larger than 1024 KiB"), "{page}");
    app.stop().await;
}

#[tokio::test]
async fn a_write_that_does_not_show_its_origin_is_refused_and_sign_ins_are_audited() {
    let app = with_admin().await;
    // A wrong password from this address is recorded with the address.
    let (status, location, _) = post_form(
        &app,
        "/api/admin/login",
        &[("username", "ada"), ("password", "not it")],
        None,
    )
    .await;
    assert!(status.is_redirection(), "{status}");
    assert_eq!(location, "/admin/login?failed=1");
    let audit = app.store.recent_audit(10).await.unwrap();
    assert!(
        audit.iter().any(|e| e.action == "failed sign-in"
            && e.username == "ada"
            && e.detail == "127.0.0.1"),
        "{audit:?}"
    );
    let cookie = sign_in(&app).await;
    let add = [
        ("url", "a.example"),
        ("name", ""),
        ("tags", ""),
        ("interval_s", ""),
    ];
    // Neither Origin nor Sec-Fetch-Site, or a sibling site: refused, for
    // changes, sign-in and sign-out alike.
    for (header, value) in [(None, ""), (Some("sec-fetch-site"), "same-site")] {
        for (path, form) in [
            ("/api/admin/sites/add", &add[..]),
            (
                "/api/admin/login",
                &[("username", "ada"), ("password", PASSWORD)][..],
            ),
            ("/api/admin/logout", &[][..]),
        ] {
            let mut request = client()
                .post(app.url(path))
                .header("accept", "text/html")
                .header(COOKIE, &cookie)
                .form(form);
            if let Some(header) = header {
                request = request.header(header, value);
            }
            let response = request.send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "{path} {header:?}"
            );
        }
    }
    assert!(app.store.list_sites().await.unwrap().is_empty());
    // The browser's own word is enough without an Origin.
    let response = client()
        .post(app.url("/api/admin/sites/add"))
        .header("accept", "text/html")
        .header("sec-fetch-site", "same-origin")
        .header(COOKIE, &cookie)
        .form(&add)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    assert_eq!(app.store.list_sites().await.unwrap().len(), 1);
    // Signing out is recorded too.
    post_form(&app, "/api/admin/logout", &[], Some(&cookie)).await;
    let audit = app.store.recent_audit(10).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "sign-out"), "{audit:?}");
    app.stop().await;
}

#[tokio::test]
async fn over_https_the_session_cookie_is_host_only_and_secure() {
    let app = crate::support::spawn_app_with(|mut state| {
        state.public_origin = app::PublicOrigin::new(Some("https://status.example.org"));
        state
    })
    .await;
    let hash = app::admin::password::hash(PASSWORD).unwrap();
    app.store
        .create_admin("ada", &hash, chrono::Utc::now())
        .await
        .unwrap()
        .unwrap();
    let (_, location, set_cookie) = post_form(
        &app,
        "/api/admin/login",
        &[("username", "ada"), ("password", PASSWORD)],
        None,
    )
    .await;
    assert_eq!(location, "/admin");
    let set_cookie = set_cookie.unwrap();
    assert!(
        set_cookie.starts_with("__Host-faultline_session="),
        "{set_cookie}"
    );
    for attribute in ["Secure", "Path=/", "HttpOnly", "SameSite=Strict"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Domain"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let admin = |cookie: String| {
        let url = app.url("/admin");
        async move {
            client()
                .get(url)
                .header(COOKIE, cookie)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(admin(cookie.clone()).await, StatusCode::OK);
    // The same token under the plain name does not count over https.
    let plain = cookie.replacen("__Host-", "", 1);
    assert!(admin(plain).await.is_redirection());
    app.stop().await;
}

/// Posts the sign-in form as if from `address`, behind a trusted proxy;
/// returns where it sent the browser.
async fn sign_in_from(app: &TestApp, address: &str, password: &str) -> String {
    let response = client()
        .post(app.url("/api/admin/login"))
        .header("accept", "text/html")
        .header("origin", format!("http://{}", app.addr))
        .header("x-forwarded-for", address)
        .form(&[("username", "ada"), ("password", password)])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    response.headers()[LOCATION].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_flood_of_wrong_passwords_slows_strangers_but_not_the_owner() {
    let app = crate::support::spawn_app_with(|mut state| {
        state.trusted_proxies = std::sync::Arc::new(vec!["127.0.0.0/8".parse().unwrap()]);
        state
    })
    .await;
    let hash = app::admin::password::hash(PASSWORD).unwrap();
    app.store
        .create_admin("ada", &hash, chrono::Utc::now())
        .await
        .unwrap()
        .unwrap();
    let home = "198.51.100.7";
    assert_eq!(sign_in_from(&app, home, PASSWORD).await, "/admin");

    // Wrong guesses from many addresses, each under its own limit.
    let mut outcomes = Vec::new();
    for n in 1..=12 {
        outcomes.push(sign_in_from(&app, &format!("10.9.0.{n}"), "guess").await);
    }
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| *o == "/admin/login?failed=1")
            .count(),
        5,
        "{outcomes:?}"
    );
    assert!(
        outcomes.iter().any(|o| o == "/admin/login?failed=wait"),
        "{outcomes:?}"
    );
    // A stranger with the right password waits too, without a verification.
    assert_eq!(
        sign_in_from(&app, "203.0.113.9", PASSWORD).await,
        "/admin/login?failed=wait"
    );
    let (_, page) = get_page(&app, "/admin/login?failed=wait", "").await;
    assert!(
        page.contains("Too many failed sign-ins for this name"),
        "{page}"
    );
    // The owner, from where she signed in before, is not slowed.
    assert_eq!(sign_in_from(&app, home, PASSWORD).await, "/admin");
    // Her success forgets the failures; the wait was a delay, not a lock.
    assert_eq!(sign_in_from(&app, "203.0.113.9", PASSWORD).await, "/admin");
    app.stop().await;
}

#[tokio::test]
async fn an_admin_sees_every_subscription_and_replays_a_dead_delivery() {
    use server::alerts::{AlertSettings, Dispatcher};
    let app = with_admin().await;
    let cookie = sign_in(&app).await;
    let receiver = crate::alerts::Receiver::default();
    let addr = receiver.start().await;
    let hook = format!("http://{addr}/hook");
    let webhook = app
        .store
        .create_subscription(
            &store::NewSubscription {
                channel: engine::AlertChannel::Webhook,
                format: engine::AlertFormat::Slack,
                target: hook.clone(),
                secrets: vec![server::alerts::sign::new_secret()],
                interests: engine::alert::Interests {
                    scopes: vec![engine::alert::Scope::parse("provider:cloudflare").unwrap()],
                    events: engine::AlertEvent::DEFAULTS.to_vec(),
                    mutes: Vec::new(),
                },
                min_interval_s: 0,
                remind_every_s: 0,
                confirmed_at: None,
                created_by: "command line".to_owned(),
                owner: None,
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    // One attempt and no retries: a failure is dead at once.
    let settings = AlertSettings {
        allowed_networks: vec!["127.0.0.0/8".parse().unwrap()],
        retry_seconds: Vec::new(),
        ..AlertSettings::default()
    };
    let prober = probe::LiveProber::new(probe::ProberConfig {
        nameservers: vec!["127.0.0.1:9".parse().unwrap()],
        guard: settings.guard(),
        ..probe::ProberConfig::default()
    })
    .unwrap();
    let mut dispatcher = Dispatcher::new(
        app.store.clone(),
        std::sync::Arc::new(server::clock::SystemClock),
        server::alerts::webhook::WebhookClient::new(std::sync::Arc::new(prober)).unwrap(),
        server::knowledge::Knowledge::builtin(),
        "https://faultline.example".to_owned(),
        &settings,
    );
    receiver.answer(&[(500, &[])]);
    let now = chrono::Utc::now();
    app.store
        .save_provider_incident(
            None,
            &crate::alerts::incident(engine::Phase::Confirmed, now),
            now,
        )
        .await
        .unwrap();
    dispatcher.round().await.unwrap();
    let dead = app
        .store
        .delivery_log(Some(engine::DeliveryState::Dead), 10)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    let delivery = dead[0].id;

    // The page lists the subscription with its health, and the dead
    // delivery with the answer it got and how long it took.
    let (status, page) = get_page(&app, "/admin/alerts", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&hook), "{page}");
    assert!(page.contains("Cloudflare"), "{page}");
    assert!(page.contains("failing since"), "{page}");
    assert!(page.contains("0 delivered, 0 waiting, 1 dead"), "{page}");
    assert!(page.contains("Dead deliveries: 1"), "{page}");
    assert!(
        page.contains(&format!("data-test=\"replay-{delivery}\"")),
        "{page}"
    );
    assert!(page.contains(" ms"), "{page}");

    // Replay it: it goes again and, the endpoint fixed, arrives.
    let (_, location, _) = post_form(
        &app,
        "/api/admin/alerts/replay",
        &[("id", &delivery.to_string())],
        Some(&cookie),
    )
    .await;
    assert_eq!(location, "/admin/alerts");
    dispatcher.round().await.unwrap();
    assert_eq!(receiver.got().len(), 2);
    let (_, page) = get_page(&app, "/admin/alerts", &cookie).await;
    assert!(page.contains("queued again"), "{page}");
    assert!(page.contains("1 delivered, 0 waiting, 0 dead"), "{page}");
    assert!(page.contains("last delivered"), "{page}");
    assert!(page.contains("Dead deliveries: 0"), "{page}");

    // Stop it, start it again, send it a test alert, remove it.
    let change = |change: &'static str| {
        let app = &app;
        let cookie = cookie.clone();
        async move {
            post_form(
                app,
                "/api/admin/alerts/subscription",
                &[("id", &webhook.to_string()), ("change", change)],
                Some(&cookie),
            )
            .await
            .1
        }
    };
    assert_eq!(change("stop").await, "/admin/alerts");
    let stopped = app.store.subscription(webhook).await.unwrap().unwrap();
    assert_eq!(stopped.disabled_reason.as_deref(), Some("stopped by ada"));
    let (_, page) = get_page(&app, "/admin/alerts", &cookie).await;
    assert!(page.contains("stopped: stopped by ada"), "{page}");
    change("test").await;
    let (_, page) = get_page(&app, "/admin/alerts", &cookie).await;
    assert!(page.contains("is not active"), "{page}");
    change("start").await;
    assert!(app
        .store
        .subscription(webhook)
        .await
        .unwrap()
        .unwrap()
        .is_active());
    change("test").await;
    dispatcher.round().await.unwrap();
    assert_eq!(receiver.got().len(), 3);
    change("remove").await;
    assert!(app.store.subscription(webhook).await.unwrap().is_none());
    let audit = app.store.recent_audit(20).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    for action in [
        "replay delivery",
        "stop subscription",
        "start subscription",
        "test subscription",
        "remove subscription",
    ] {
        assert!(actions.contains(&action), "{actions:?}");
    }

    // Add subscriptions from the page: a webhook gets its secret in the
    // notice, once; an address is mailed a confirmation first; what the
    // delivery guard refuses, or a scope that is not one, is named.
    let add = |form: Vec<(&'static str, &'static str)>| {
        let app = &app;
        let cookie = cookie.clone();
        async move {
            post_form(app, "/api/admin/alerts/add", &form, Some(&cookie)).await;
            get_page(app, "/admin/alerts", &cookie).await.1
        }
    };
    let page = add(vec![
        ("channel", "webhook"),
        ("target", "https://hooks.example.com/faultline"),
        ("format", "slack"),
        ("follows", "provider:cloudflare, site:shop.example"),
        ("early", "on"),
        ("remind_hours", "4"),
    ])
    .await;
    let added = app
        .store
        .subscriptions()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.target == "https://hooks.example.com/faultline")
        .expect("the webhook was added");
    assert_eq!(added.created_by, "ada");
    assert_eq!(added.format, engine::AlertFormat::Slack);
    assert_eq!(added.interests.scopes.len(), 2);
    assert!(added
        .interests
        .events
        .contains(&engine::AlertEvent::ProviderSuspected));
    assert_eq!(added.remind_every_s, 4 * 3600);
    assert!(page.contains(&added.secrets[0]), "{page}");
    let (_, again) = get_page(&app, "/admin/alerts", &cookie).await;
    assert!(
        !again.contains(&added.secrets[0]),
        "the secret is shown once"
    );
    let page = add(vec![
        ("channel", "email"),
        ("target", "ops@example.org"),
        ("format", "standard"),
        ("follows", "all"),
        ("remind_hours", "0"),
    ])
    .await;
    assert!(page.contains("gets a confirmation link"), "{page}");
    let mail = app
        .store
        .email_subscriptions_of("ops@example.org")
        .await
        .unwrap();
    assert_eq!(mail.len(), 1);
    assert!(mail[0].confirmed_at.is_none() && !mail[0].is_active());
    let before = app.store.subscriptions().await.unwrap().len();
    for (form, why) in [
        (
            vec![
                ("channel", "webhook"),
                ("target", "http://127.0.0.1:9/hook"),
                ("format", "standard"),
                ("follows", "all"),
                ("remind_hours", "0"),
            ],
            "cannot take alerts",
        ),
        (
            vec![
                ("channel", "webhook"),
                ("target", "http://169.254.169.254/"),
                ("format", "standard"),
                ("follows", "all"),
                ("remind_hours", "0"),
            ],
            "cannot take alerts",
        ),
        (
            vec![
                ("channel", "webhook"),
                ("target", "https://hooks.example.com/x"),
                ("format", "standard"),
                ("follows", "provider"),
                ("remind_hours", "0"),
            ],
            "is not a scope",
        ),
        (
            vec![
                ("channel", "email"),
                ("target", "not an address"),
                ("format", "standard"),
                ("follows", "all"),
                ("remind_hours", "0"),
            ],
            "is not an email address",
        ),
    ] {
        let page = add(form).await;
        assert!(page.contains(why), "{why}: {page}");
    }
    assert_eq!(app.store.subscriptions().await.unwrap().len(), before);
    let audit = app.store.recent_audit(20).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.action == "add subscription")
            .count(),
        2
    );

    // Nobody else sees it or changes anything.
    let (status, page) = get_page(&app, "/admin/alerts", "faultline_session=nothing").await;
    assert!(status.is_redirection(), "{status}");
    assert!(!page.contains(&hook));
    let (_, location, _) = post_form(
        &app,
        "/api/admin/alerts/replay",
        &[("id", &delivery.to_string())],
        None,
    )
    .await;
    assert_eq!(location, "/admin/login");
    app.stop().await;
}

#[tokio::test]
async fn an_admin_makes_a_token_once_sees_its_use_and_revokes_it() {
    let app = with_admin().await;
    let cookie = sign_in(&app).await;
    let (status, location, _) = post_form(
        &app,
        "/api/admin/tokens/create",
        &[("name", "newsroom"), ("scope", "write")],
        Some(&cookie),
    )
    .await;
    assert!(status.is_redirection(), "{status}");
    assert_eq!(location, "/admin/tokens");
    let (_, page) = get_page(&app, "/admin/tokens", &cookie).await;
    let token = page
        .split("Shown only this once: ")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or_else(|| panic!("no token shown: {page}"))
        .trim()
        .to_owned();
    assert!(token.starts_with("flt_"), "{token}");
    // Once: the next visit lists it by name, never the token.
    let (_, page) = get_page(&app, "/admin/tokens", &cookie).await;
    assert!(!page.contains(&token));
    assert!(page.contains("newsroom"));
    assert!(page.contains("never"), "not used yet");

    let added = client()
        .post(app.url("/api/v1/sites"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "url": "https://from-the-api.test/" }))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    let (_, page) = get_page(&app, "/admin/tokens", &cookie).await;
    assert!(!page.contains(">never<"), "its use is shown: {page}");

    let id = app.store.api_tokens().await.unwrap()[0].id.to_string();
    let (status, _, _) = post_form(
        &app,
        "/api/admin/tokens/revoke",
        &[("id", id.as_str())],
        Some(&cookie),
    )
    .await;
    assert!(status.is_redirection(), "{status}");
    let refused = client()
        .get(app.url("/api/v1/providers"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let audit = app.store.recent_audit(10).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"create token"), "{actions:?}");
    assert!(actions.contains(&"revoke token"), "{actions:?}");
    assert!(
        audit.iter().all(|e| !e.detail.contains(&token)),
        "the token is never written down"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_admin_sees_which_status_pages_fail_and_healthz_counts_them() {
    use std::sync::{Arc, Mutex};

    use crate::statuses::{status_page, Answer};
    use server::statuses::{SourceSetting, StatusPoller, StatusSettings};

    let app = with_admin().await;
    let real = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../statements/tests/fixtures/statuspage/cloudflare-incidents.json"
    ))
    .unwrap();
    let cloudflare = Arc::new(Mutex::new(Answer::Document(real.clone())));
    let github = Arc::new(Mutex::new(Answer::Document(real)));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sources = vec![
        SourceSetting {
            provider: "cloudflare".to_owned(),
            url: status_page(cloudflare.clone(), seen.clone()).await,
            format: engine::vocab::StatusFormat::Statuspage,
        },
        SourceSetting {
            provider: "github-pages".to_owned(),
            url: status_page(github.clone(), seen.clone()).await,
            format: engine::vocab::StatusFormat::Statuspage,
        },
    ];
    let prober = probe::LiveProber::new(probe::ProberConfig {
        guard: probe::GuardPolicy::loopback_only(),
        ..probe::ProberConfig::default()
    })
    .unwrap();
    let poller = StatusPoller::new(
        app.store.clone(),
        std::sync::Arc::new(server::clock::SystemClock),
        std::sync::Arc::new(prober),
        None,
        StatusSettings {
            sources,
            ..StatusSettings::default()
        },
    )
    .unwrap();
    let now = chrono::Utc::now();
    assert_eq!(poller.round(now).await.failed, 0);
    // GitHub's page starts failing; Cloudflare's is read as before.
    *github.lock().unwrap() = Answer::Failing(StatusCode::SERVICE_UNAVAILABLE);
    let round = poller.round(now + chrono::TimeDelta::minutes(5)).await;
    assert_eq!((round.unchanged, round.failed), (1, 1), "{round:?}");

    let cookie = sign_in(&app).await;
    let (status, page) = get_page(&app, "/admin", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("1 of 2 status documents failed at their last poll"),
        "{page}"
    );
    assert!(page.contains("failing: answered 503"), "{page}");
    let failing = page.find("data-provider=\"github-pages\"").unwrap();
    let read = page.find("data-provider=\"cloudflare\"").unwrap();
    assert!(failing < read, "the failing page is listed first");

    let health: serde_json::Value = client()
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        health["status_pages"],
        serde_json::json!({"polled": 2, "failing": 1})
    );
    assert!(
        !health.to_string().contains("503"),
        "which page fails, and why, is for the admin: {health}"
    );
    app.stop().await;
}
