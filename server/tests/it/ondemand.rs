//! "Check it now" for sites not on the watchlist: a real probe through the
//! guarded prober, in plain words, limited per client.

use std::sync::Arc;

use probe::guard::GuardPolicy;
use probe::{LiveProber, ProberConfig};
use server::knowledge::Knowledge;
use server::ondemand::LiveCheck;
use server::sim::dns::DnsServer;

use crate::support::spawn_app_with;

/// A loopback origin: `/` answers 200 for up.test, 503 with nginx's page
/// for broken.test.
async fn origin() -> std::net::SocketAddr {
    use axum::http::{HeaderMap, StatusCode};
    let app = axum::Router::new().fallback(|headers: HeaderMap| async move {
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if host.starts_with("broken.test") {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [("server", "nginx")],
                "<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503 Service Temporarily Unavailable</h1></center><hr><center>nginx</center></body></html>",
            )
        } else {
            (StatusCode::OK, [("server", "nginx")], "<html>fine</html>")
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn checker(dns: &DnsServer, guard: GuardPolicy, port: u16) -> Arc<LiveCheck> {
    let prober = LiveProber::new(ProberConfig {
        nameservers: vec![dns.addr()],
        dns_timeout_ms: 500,
        connect_timeout_ms: 1_000,
        total_timeout_ms: 2_000,
        guard,
        ..ProberConfig::default()
    })
    .unwrap();
    Arc::new(LiveCheck::new(prober, Knowledge::builtin()).over_http_on(port))
}

async fn page(app: &crate::support::TestApp, query: &str) -> (u16, String) {
    let response = reqwest::get(app.url(&format!("/check?q={query}&now=1")))
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn an_unwatched_site_is_checked_now_and_explained() {
    let addr = origin().await;
    let dns = DnsServer::start().await.unwrap();
    for host in ["up.test", "broken.test", "gone.test"] {
        dns.add_addresses(host, &[addr.ip()]);
    }
    dns.set_fault("gone.test", Some(server::sim::dns::DnsFault::NxDomain));
    let check = checker(&dns, GuardPolicy::loopback_only(), addr.port());
    let app = spawn_app_with(|state| state.with_on_demand(check)).await;

    let (status, html) = page(&app, "up.test").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("up.test is up from here: it answered HTTP 200"),
        "{html}"
    );
    let (_, html) = page(&app, "https://broken.test/some/page").await;
    assert!(
        html.contains("broken.test answered with an error from here: HTTP 503"),
        "{html}"
    );
    assert!(
        html.contains("the site&#x27;s own server") || html.contains("the site's own server"),
        "{html}"
    );
    let (_, html) = page(&app, "gone.test").await;
    assert!(
        html.contains("gone.test is unreachable from here"),
        "{html}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_guard_keeps_checks_off_private_addresses_and_clients_are_limited() {
    let addr = origin().await;
    let dns = DnsServer::start().await.unwrap();
    for n in 0..10 {
        dns.add_addresses(&format!("inside-{n}.test"), &[addr.ip()]);
    }
    // The production guard: loopback is refused after resolution.
    let check = checker(&dns, GuardPolicy::default(), addr.port());
    let app = spawn_app_with(|state| state.with_on_demand(check)).await;
    let (_, html) = page(&app, "inside-0.test").await;
    assert!(
        html.contains("inside-0.test is unreachable from here"),
        "{html}"
    );
    assert!(
        !html.contains("fine"),
        "the private origin was fetched: {html}"
    );
    let mut limited = 0;
    for n in 1..10 {
        let (status, html) = page(&app, &format!("inside-{n}.test")).await;
        if status == 429 {
            assert!(html.contains("several checks"), "{html}");
            limited += 1;
        }
    }
    assert!(limited >= 3, "only {limited} of 9 checks were limited");
    app.stop().await;
}

#[tokio::test]
async fn without_a_prober_the_page_says_checks_are_off() {
    let app = spawn_app_with(|state| state).await;
    // Not offered, and not done when asked for all the same.
    let offered = reqwest::get(app.url("/check?q=example.com"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!offered.contains("data-test=\"check-now\""), "{offered}");
    assert!(
        offered.contains("checks only the sites on its watchlist"),
        "{offered}"
    );
    let (_, html) = page(&app, "example.com").await;
    assert!(
        html.contains("checks only the sites on its watchlist"),
        "{html}"
    );
    app.stop().await;
}
