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

/// A real server built as `faultline serve` builds it, from `adjust`ed
/// settings, with the monitor off; stopped when the check is done.
async fn served(adjust: impl FnOnce(&mut server::config::Config)) -> (String, impl FnOnce()) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = server::config::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database: server::config::Database::File(dir.path().join("faultline.db")),
        site_root: crate::support::site_root(),
        ..Default::default()
    };
    config.monitor.enabled = false;
    adjust(&mut config);
    let stop = tokio_util::sync::CancellationToken::new();
    let app = server::startup::Application::build(&config, stop.clone())
        .await
        .unwrap();
    let origin = format!("http://{}", app.address().unwrap());
    let running = tokio::spawn(app.run_until_stopped());
    (origin, move || {
        stop.cancel();
        drop(running);
        drop(dir);
    })
}

/// An address inside each registry range, as a name may resolve to it.
fn inside(net: &ipnet::IpNet, name: &str) -> std::net::IpAddr {
    match name {
        // Judged by the IPv4 address they carry: carry a private one.
        "IPv4-mapped" => "::ffff:10.0.0.1".parse().unwrap(),
        "NAT64" => "64:ff9b::a00:1".parse().unwrap(),
        "local-use NAT64" => "64:ff9b:1::a9fe:a9fe".parse().unwrap(),
        "6to4" => "2002:a00:1::1".parse().unwrap(),
        _ => match net {
            ipnet::IpNet::V4(v4) if v4.prefix_len() < 32 => {
                std::net::Ipv4Addr::from(u32::from(v4.network()) + 1).into()
            }
            ipnet::IpNet::V6(v6) if v6.prefix_len() < 128 => {
                std::net::Ipv6Addr::from(u128::from(v6.network()) + 1).into()
            }
            other => other.network(),
        },
    }
}

#[tokio::test]
async fn the_public_check_refuses_every_special_range_whatever_the_watchlist_allows() {
    // Names a stranger may ask about, each resolving into one registry
    // range, and Azure's platform address.
    let dns = DnsServer::start().await.unwrap();
    let mut targets: Vec<(String, std::net::IpAddr)> = probe::guard::SPECIAL_PURPOSE
        .iter()
        .enumerate()
        .map(|(n, (net, name))| {
            let net: ipnet::IpNet = net.parse().unwrap();
            (format!("special-{n}.test"), inside(&net, name))
        })
        .collect();
    targets.push(("azure.test".to_owned(), "168.63.129.16".parse().unwrap()));
    for (name, ip) in &targets {
        dns.add_addresses(name, &[*ip]);
    }
    let nameserver = dns.addr();
    let (origin, stop) = served(move |config| {
        config.probe.nameservers = vec![nameserver];
        // An operator who monitors internal hosts...
        config.probe.guard.allow_private = true;
        config.probe.guard.allowed_networks = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    // ...does not open them to strangers. Each check comes from an address
    // of its own, as many visitors' would, to stay within the per-client
    // limit.
    for (n, (name, ip)) in targets.iter().enumerate() {
        let client = reqwest::Client::builder()
            .local_address(std::net::IpAddr::from([
                127,
                0,
                1,
                u8::try_from(n + 1).unwrap(),
            ]))
            .build()
            .unwrap();
        let html = client
            .get(format!("{origin}/check?q={name}&now=1"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            html.contains(&format!("{name} is unreachable from here")),
            "{name} ({ip}) was not refused: {html}"
        );
        assert!(
            html.contains("Faultline may not probe this address or port"),
            "{name} ({ip}): {html}"
        );
        // No internal detail: no address, no connection error text.
        for detail in [ip.to_string().as_str(), "tcp connect", "Detail:"] {
            assert!(!html.contains(detail), "{name} leaks {detail:?}: {html}");
        }
    }
    stop();
}

#[tokio::test]
async fn check_now_can_be_switched_off() {
    let (origin, stop) = served(|config| config.on_demand.enabled = false).await;
    let html = reqwest::get(format!("{origin}/check?q=unwatched.example"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("checks only the sites on its watchlist"),
        "{html}"
    );
    assert!(!html.contains("data-test=\"check-now\""), "{html}");
    stop();
}

/// A prober that takes its time, as a slow site does.
struct Slow;

impl app::ondemand::OnDemandProber for Slow {
    fn check<'a>(
        &'a self,
        host: &'a str,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = app::ondemand::OnDemandResult> + Send + 'a>,
    > {
        Box::pin(async move {
            tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
            app::ondemand::OnDemandResult {
                host: host.to_owned(),
                url: format!("https://{host}/"),
                ok: true,
                status: Some(200),
                failure: None,
                detail: None,
                explanation: None,
                dns_ms: None,
                ttfb_ms: None,
                total_ms: None,
                providers: Vec::new(),
            }
        })
    }
}

#[tokio::test]
async fn checks_in_flight_are_capped_for_everyone() {
    let app = spawn_app_with(|state| state.with_on_demand(Arc::new(Slow))).await;
    let ask = |n: u8| {
        let url = app.url(&format!("/check?q=site-{n}.example&now=1"));
        async move {
            reqwest::Client::builder()
                .local_address(std::net::IpAddr::from([127, 0, 2, n]))
                .build()
                .unwrap()
                .get(url)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // As many visitors as there are turns, each from an address of its own.
    let busy: Vec<_> = (1..=app::ondemand::CONCURRENT_CHECKS as u8)
        .map(|n| tokio::spawn(ask(n)))
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(ask(200).await, 429, "one more check was not refused");
    for handle in busy {
        assert_eq!(handle.await.unwrap(), 200);
    }
    assert_eq!(ask(201).await, 200, "a turn did not come back");
    app.stop().await;
}
