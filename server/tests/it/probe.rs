//! The live prober against real servers on loopback.

use std::net::SocketAddr;
use std::time::Duration;

use std::io::Write;

use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::get;
use axum::Router;
use chrono::{TimeDelta, Utc};
use probe::guard::GuardPolicy;
use probe::{gunzip, LiveProber, ProberConfig};
use tokio::net::TcpListener;

const ERROR_PAGE: &str =
    "<html><body><h1>502 Bad Gateway</h1><hr><center>nginx</center></body></html>";

async fn origin() -> SocketAddr {
    let app =
        Router::new()
            .route("/ok", get(|| async { "fine" }))
            .route(
                "/error",
                get(|| async { (axum::http::StatusCode::BAD_GATEWAY, Html(ERROR_PAGE)) }),
            )
            .route(
                "/big-error",
                get(|| async {
                    (
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        "x".repeat(1 << 20),
                    )
                }),
            )
            .route(
                "/to-private",
                get(|| async { Redirect::temporary("http://10.0.0.1/") }),
            )
            .route(
                "/to-metadata",
                get(|| async { Redirect::temporary("http://169.254.169.254/latest/meta-data/") }),
            )
            .route(
                "/to-mapped",
                get(|| async { Redirect::temporary("http://[::ffff:169.254.169.254]/") }),
            )
            .route("/loop", get(|| async { Redirect::temporary("/loop") }))
            .route(
                "/chain/{n}",
                get(|Path(n): Path<u32>| async move {
                    Redirect::temporary(&format!("/chain/{}", n + 1))
                }),
            )
            .route("/gzip-error", get(gzip_error))
            .route("/private", get(private))
            .route("/hop", get(|| async { Redirect::temporary("/ok") }))
            .route(
                "/to-port/{port}",
                get(|Path(port): Path<u16>| async move {
                    Redirect::temporary(&format!("http://127.0.0.1:{port}/ok"))
                }),
            )
            .route(
                "/to-intranet",
                get(|| async { Redirect::temporary("http://intranet.test/") }),
            )
            .route(
                "/stall",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    "late".into_response()
                }),
            );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn gzip_error() -> impl IntoResponse {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(ERROR_PAGE.as_bytes()).unwrap();
    (
        axum::http::StatusCode::BAD_GATEWAY,
        [("content-encoding", "gzip"), ("content-type", "text/html")],
        encoder.finish().unwrap(),
    )
}

/// 200 for "user:pa ss" (percent-encoded in the URL), 401 otherwise.
async fn private(headers: HeaderMap) -> axum::http::StatusCode {
    let expected = "Basic dXNlcjpwYSBzcw==";
    match headers.get("authorization") {
        Some(value) if value.as_bytes() == expected.as_bytes() => axum::http::StatusCode::OK,
        _ => axum::http::StatusCode::UNAUTHORIZED,
    }
}

fn prober(guard: GuardPolicy) -> LiveProber {
    LiveProber::new(ProberConfig {
        // A name server that never answers: no test may depend on real DNS.
        nameservers: vec!["127.0.0.1:9".parse().unwrap()],
        dns_timeout_ms: 300,
        connect_timeout_ms: 1_000,
        total_timeout_ms: 1_500,
        max_body_bytes: 64 * 1024,
        guard,
        ..ProberConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn a_healthy_page_is_ok_with_timings() {
    let addr = origin().await;
    let record = prober(GuardPolicy::loopback_only())
        .probe_url(&format!("http://{addr}/hop"), Utc::now())
        .await;
    assert!(record.ok, "{record:?}");
    assert_eq!(record.status, Some(200));
    assert!(record.total_ms.is_some() && record.ttfb_ms.is_some());
    assert!(record.connect_ms.is_some(), "{record:?}");
    assert_eq!(record.tls_ms, None, "plain HTTP has no TLS phase");
    assert_eq!(record.body_gz, None, "bodies of healthy pages are not kept");
}

#[tokio::test]
async fn probes_and_their_lookups_leave_from_the_source_address() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let source: std::net::IpAddr = "127.0.0.11".parse().unwrap();
    // A server that says who connected.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (peers, mut connected) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, peer)) = listener.accept().await {
            let _ = peers.send(peer.ip());
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request).await;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                .await;
        }
    });
    let from_source = |nameservers: Vec<SocketAddr>| {
        LiveProber::new(ProberConfig {
            nameservers,
            dns_timeout_ms: 400,
            total_timeout_ms: 2_000,
            guard: GuardPolicy::loopback_only(),
            source_address: Some(source),
            ..ProberConfig::default()
        })
        .unwrap()
    };
    let record = from_source(Vec::new())
        .probe_url(&format!("http://{addr}/"), Utc::now())
        .await;
    assert!(record.ok, "{record:?}");
    assert_eq!(connected.recv().await, Some(source));

    // A name server that notes where a query came from.
    let dns = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let prober = from_source(vec![dns.local_addr().unwrap()]);
    let probing =
        tokio::spawn(async move { prober.probe_url("http://agent.test/", Utc::now()).await });
    let mut query = [0u8; 512];
    let (_, from) = dns.recv_from(&mut query).await.unwrap();
    assert_eq!(from.ip(), source);
    assert!(!probing.await.unwrap().ok, "nobody answered the lookup");
}

#[tokio::test]
async fn an_error_page_is_kept_compressed_as_evidence() {
    let addr = origin().await;
    let record = prober(GuardPolicy::loopback_only())
        .probe_url(&format!("http://{addr}/error"), Utc::now())
        .await;
    assert_eq!(
        (record.ok, record.status, record.failure.map(|w| w.as_str())),
        (false, Some(502), Some("http_status"))
    );
    let body = gunzip(record.body_gz.as_deref().unwrap(), 1 << 20).unwrap();
    assert_eq!(body, ERROR_PAGE.as_bytes());
    assert!(record.facts.unwrap().contains("\"headers\""));
}

#[tokio::test]
async fn a_gzip_error_page_is_inflated_before_it_is_kept() {
    let addr = origin().await;
    let record = prober(GuardPolicy::loopback_only())
        .probe_url(&format!("http://{addr}/gzip-error"), Utc::now())
        .await;
    assert_eq!(record.failure.map(|w| w.as_str()), Some("http_status"));
    let body = gunzip(record.body_gz.as_deref().unwrap(), 1 << 20).unwrap();
    assert_eq!(body, ERROR_PAGE.as_bytes());
}

#[tokio::test]
async fn credentials_in_the_url_are_sent_as_basic_auth_and_not_kept() {
    let addr = origin().await;
    let record = prober(GuardPolicy::loopback_only())
        .probe_url(&format!("http://user:pa%20ss@{addr}/private"), Utc::now())
        .await;
    assert!(record.ok, "{record:?}");
    let facts = record.facts.unwrap();
    assert!(!facts.contains("user"), "{facts}");
}

#[tokio::test]
async fn redirects_are_followed_to_a_bound() {
    let addr = origin().await;
    let record = prober(GuardPolicy::loopback_only())
        .probe_url(&format!("http://{addr}/chain/0"), Utc::now())
        .await;
    assert_eq!(
        record.failure.map(|w| w.as_str()),
        Some("too_many_redirects"),
        "{:?}",
        record.detail
    );
}

#[tokio::test]
async fn a_port_policy_holds_on_the_first_request_and_on_redirects() {
    let addr = origin().await;
    let other = origin().await;
    let prober = prober(GuardPolicy {
        allowed_ports: vec![addr.port()],
        ..GuardPolicy::loopback_only()
    });
    let allowed = prober
        .probe_url(&format!("http://{addr}/hop"), Utc::now())
        .await;
    assert!(allowed.ok, "{:?}", allowed.detail);
    for url in [
        format!("http://{other}/ok"),
        format!("http://{addr}/to-port/{}", other.port()),
    ] {
        let record = prober.probe_url(&url, Utc::now()).await;
        assert_eq!(
            record.failure.map(|w| w.as_str()),
            Some("blocked_target"),
            "{url}: {:?}",
            record.detail
        );
        assert!(record.detail.unwrap_or_default().contains("is not probed"));
    }
}

#[tokio::test]
async fn an_oversized_error_page_is_cut_at_the_limit() {
    let addr = origin().await;
    let record = prober(GuardPolicy::loopback_only())
        .probe_url(&format!("http://{addr}/big-error"), Utc::now())
        .await;
    let body = gunzip(record.body_gz.as_deref().unwrap(), 1 << 21).unwrap();
    assert_eq!(body.len(), 64 * 1024);
    assert!(record.facts.unwrap().contains("\"body_truncated\":true"));
}

#[tokio::test]
async fn each_failure_gets_its_class() {
    let addr = origin().await;
    let refusing = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    }; // dropped: nothing listens there now
    let prober = prober(GuardPolicy::loopback_only());
    for (url, class) in [
        (format!("http://{refusing}/"), "connect_refused"),
        (format!("http://{addr}/stall"), "read_timeout"),
        (format!("http://{addr}/loop"), "redirect_loop"),
        (format!("http://{addr}/to-private"), "blocked_target"),
        (format!("http://{addr}/to-metadata"), "blocked_target"),
        (format!("http://{addr}/to-mapped"), "blocked_target"),
        ("http://no-such-host.test/".to_owned(), "dns_timeout"),
        ("ftp://example.test/".to_owned(), "blocked_target"),
        ("not a url".to_owned(), "invalid_url"),
    ] {
        let record = prober.probe_url(&url, Utc::now()).await;
        assert_eq!(
            record.failure.map(|w| w.as_str()),
            Some(class),
            "{url}: {:?}",
            record.detail
        );
        assert!(!record.ok);
    }
}

#[tokio::test]
async fn private_targets_are_refused_before_any_connection() {
    let addr = origin().await;
    let port = addr.port();
    let prober = prober(GuardPolicy::default());
    for url in [
        format!("http://127.0.0.1:{port}/ok"),
        format!("http://2130706433:{port}/ok"), // decimal 127.0.0.1
        format!("http://0x7f.1:{port}/ok"),     // hex and short form
        format!("http://0177.0.0.1:{port}/ok"), // octal
        format!("http://[::ffff:127.0.0.1]:{port}/ok"),
        format!("http://[::1]:{port}/ok"),
        // Full-width digits and dots: IDNA maps them to 127.0.0.1.
        format!("http://\u{ff11}\u{ff12}\u{ff17}\u{ff0e}\u{ff10}\u{ff0e}\u{ff10}\u{ff0e}\u{ff11}:{port}/ok"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://100.100.100.200/".to_owned(),
    ] {
        let record = prober.probe_url(&url, Utc::now()).await;
        assert_eq!(
            record.failure.map(|w| w.as_str()),
            Some("blocked_target"),
            "{url}: {:?}",
            record.detail
        );
        assert!(record.status.is_none(), "{url} must not have been fetched");
    }
    // Even with private targets allowed, metadata stays out of reach.
    let permissive = self::prober(GuardPolicy {
        allow_private: true,
        ..GuardPolicy::default()
    });
    let record = permissive
        .probe_url(&format!("http://127.0.0.1:{port}/to-metadata"), Utc::now())
        .await;
    assert_eq!(
        record.failure.map(|w| w.as_str()),
        Some("blocked_target"),
        "{:?}",
        record.detail
    );
}

mod dns {
    use super::*;
    use server::sim::dns::{DnsFault, DnsServer};

    fn prober_with(dns: &DnsServer) -> LiveProber {
        LiveProber::new(ProberConfig {
            nameservers: vec![dns.addr()],
            dns_timeout_ms: 400,
            connect_timeout_ms: 1_000,
            total_timeout_ms: 1_500,
            guard: GuardPolicy::loopback_only(),
            ..ProberConfig::default()
        })
        .unwrap()
    }

    #[tokio::test]
    async fn the_cname_chain_and_addresses_are_recorded() {
        let addr = origin().await;
        let dns = DnsServer::start().await.unwrap();
        dns.add_cname("www.shop.test", "shop.test.cdn.cloudflare.net");
        dns.add_addresses(
            "shop.test.cdn.cloudflare.net",
            &["127.0.0.1".parse().unwrap()],
        );
        let record = prober_with(&dns)
            .probe_url(
                &format!("http://www.shop.test:{}/ok", addr.port()),
                Utc::now(),
            )
            .await;
        assert!(record.ok, "{record:?}");
        assert!(record.dns_ms.is_some());
        let facts: serde_json::Value =
            serde_json::from_str(record.facts.as_deref().unwrap()).unwrap();
        assert_eq!(facts["dns"]["cname"][0], "shop.test.cdn.cloudflare.net");
        assert_eq!(facts["dns"]["addresses"][0], "127.0.0.1");
        assert_eq!(facts["dns"]["resolver"], dns.addr().to_string());
    }

    #[tokio::test]
    async fn the_zone_name_servers_attribute_dns_and_outlive_a_failing_zone() {
        let addr = origin().await;
        let dns = DnsServer::start().await.unwrap();
        dns.add_addresses("www.shop.test", &["127.0.0.1".parse().unwrap()]);
        dns.add_ns(
            "shop.test",
            &["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
        );
        let prober = prober_with(&dns);
        let url = format!("http://www.shop.test:{}/ok", addr.port());
        let record = prober.probe_url(&url, Utc::now()).await;
        assert!(record.ok, "{record:?}");
        let facts: serde_json::Value =
            serde_json::from_str(record.facts.as_deref().unwrap()).unwrap();
        assert_eq!(facts["dns"]["ns"][0], "ada.ns.cloudflare.com");
        assert!(
            record.providers.iter().any(
                |serving| serving.provider == "cloudflare" && serving.role == engine::Role::Dns
            ),
            "{:?}",
            record.providers
        );

        // The zone's servers fail: the NS read before still names them.
        dns.set_fault("shop.test", Some(DnsFault::ServFail));
        let record = prober.probe_url(&url, Utc::now()).await;
        assert_eq!(record.failure.map(|w| w.as_str()), Some("dns_servfail"));
        assert_eq!(record.provider.as_deref(), Some("cloudflare"));
        assert_eq!(record.fault_side.map(|w| w.as_str()), Some("edge"));
        assert_eq!(record.fault.map(|w| w.as_str()), Some("dns_error"));
    }

    #[tokio::test]
    async fn dns_faults_get_their_class() {
        let dns = DnsServer::start().await.unwrap();
        dns.add_addresses("a.test", &["127.0.0.1".parse().unwrap()]);
        let prober = prober_with(&dns);
        for (fault, class) in [
            (DnsFault::ServFail, "dns_servfail"),
            (DnsFault::NxDomain, "dns_nxdomain"),
            (DnsFault::Silence, "dns_timeout"),
        ] {
            dns.set_fault("a.test", Some(fault));
            let record = prober.probe_url("http://a.test/", Utc::now()).await;
            assert_eq!(
                record.failure.map(|w| w.as_str()),
                Some(class),
                "{fault:?}: {:?}",
                record.detail
            );
        }
        let record = prober.probe_url("http://missing.test/", Utc::now()).await;
        assert_eq!(
            record.failure.map(|w| w.as_str()),
            Some("dns_nxdomain"),
            "{:?}",
            record.detail
        );
    }

    #[tokio::test]
    async fn a_silent_name_server_spends_from_the_probe_total() {
        let dns = DnsServer::start().await.unwrap();
        dns.set_fault("slow.test", Some(DnsFault::Silence));
        let prober = LiveProber::new(ProberConfig {
            nameservers: vec![dns.addr()],
            // A lookup may take longer than the whole probe may.
            dns_timeout_ms: 10_000,
            total_timeout_ms: 600,
            guard: GuardPolicy::loopback_only(),
            ..ProberConfig::default()
        })
        .unwrap();
        let record = prober.probe_url("http://slow.test/", Utc::now()).await;
        assert_eq!(record.failure.map(|w| w.as_str()), Some("dns_timeout"));
        let total = record.total_ms.unwrap();
        assert!(total < 5_000, "the probe took {total} ms, past its total");
        assert!(
            record
                .detail
                .as_deref()
                .unwrap_or_default()
                .contains("600 ms"),
            "{:?}",
            record.detail
        );
    }

    #[tokio::test]
    async fn a_name_resolving_to_a_private_address_is_refused() {
        let dns = DnsServer::start().await.unwrap();
        dns.add_addresses("intranet.test", &["10.0.0.1".parse().unwrap()]);
        dns.add_addresses("metadata.test", &["169.254.169.254".parse().unwrap()]);
        // A Unicode name is looked up by its punycode form, and checked.
        dns.add_addresses("xn--bcher-kva.test", &["10.0.0.2".parse().unwrap()]);
        let prober = prober_with(&dns);
        for host in ["intranet.test", "metadata.test", "bücher.test"] {
            let record = prober
                .probe_url(&format!("http://{host}/"), Utc::now())
                .await;
            assert_eq!(
                record.failure.map(|w| w.as_str()),
                Some("blocked_target"),
                "{host}: {:?}",
                record.detail
            );
        }
    }

    #[tokio::test]
    async fn a_redirect_to_a_name_is_resolved_and_checked_too() {
        let addr = origin().await;
        let dns = DnsServer::start().await.unwrap();
        dns.add_addresses("shop.test", &["127.0.0.1".parse().unwrap()]);
        dns.add_addresses("intranet.test", &["10.0.0.1".parse().unwrap()]);
        let record = prober_with(&dns)
            .probe_url(
                &format!("http://shop.test:{}/to-intranet", addr.port()),
                Utc::now(),
            )
            .await;
        assert_eq!(
            record.failure.map(|w| w.as_str()),
            Some("blocked_target"),
            "{:?}",
            record.detail
        );
    }

    #[tokio::test]
    async fn a_rebinding_answer_cannot_redirect_the_connection() {
        let addr = origin().await;
        let dns = DnsServer::start().await.unwrap();
        // Checked once and connected to the checked address: the second,
        // private answer is never asked for.
        dns.add_rebinding(
            "rebind.test",
            &["127.0.0.1".parse().unwrap()],
            &["10.0.0.1".parse().unwrap()],
        );
        let record = prober_with(&dns)
            .probe_url(
                &format!("http://rebind.test:{}/ok", addr.port()),
                Utc::now(),
            )
            .await;
        assert!(record.ok, "{record:?}");
        assert_eq!(
            record.remote_ip,
            Some(std::net::IpAddr::from([127, 0, 0, 1]))
        );
        let a_queries = dns.queries();
        assert!(
            a_queries <= 2,
            "one lookup (A and AAAA) expected, saw {a_queries} queries"
        );
    }

    /// Our first resolver goes silent while the second answers: every probe
    /// still succeeds, through the second; the first is reported failing
    /// and set aside, then tried again and reported healthy once it
    /// answers. A name that does not exist is an answer, not a failure of
    /// the resolver that gave it; a zone that fails everywhere fails the
    /// probe and sets no resolver aside.
    #[tokio::test]
    async fn a_silent_resolver_is_set_aside_and_probes_go_on_through_another() {
        let addr = origin().await;
        let dns = DnsServer::start_with(2).await.unwrap();
        dns.add_addresses("www.shop.test", &["127.0.0.1".parse().unwrap()]);
        let [first, second] = [dns.addrs()[0], dns.addrs()[1]];
        let prober = LiveProber::new(ProberConfig {
            nameservers: dns.addrs(),
            dns_timeout_ms: 300,
            connect_timeout_ms: 1_000,
            total_timeout_ms: 2_000,
            guard: GuardPolicy::loopback_only(),
            ..ProberConfig::default()
        })
        .unwrap();
        let url = format!("http://www.shop.test:{}/ok", addr.port());
        let t0 = Utc::now();
        let healthy = prober.probe_url(&url, t0).await;
        assert!(healthy.ok, "{healthy:?}");
        assert_eq!(healthy.resolvers_failing, Some(Vec::new()));

        dns.set_resolver_fault(0, Some(DnsFault::Silence));
        let through_second = prober.probe_url(&url, t0 + TimeDelta::seconds(1)).await;
        assert!(through_second.ok, "{through_second:?}");
        assert_eq!(
            through_second.resolvers_failing,
            Some(vec![first.to_string()])
        );
        let facts: serde_json::Value =
            serde_json::from_str(through_second.facts.as_deref().unwrap()).unwrap();
        assert_eq!(facts["dns"]["resolver"], second.to_string());
        // Set aside: the next probe asks the second resolver first and
        // does not wait for the silent one.
        let quick = prober.probe_url(&url, t0 + TimeDelta::seconds(2)).await;
        assert!(quick.ok && quick.dns_ms.unwrap() < 250, "{quick:?}");
        assert_eq!(quick.resolvers_failing, Some(vec![first.to_string()]));

        // It answers again: after its time aside, one probe tries it first.
        dns.set_resolver_fault(0, None);
        let back = prober.probe_url(&url, t0 + TimeDelta::seconds(40)).await;
        assert!(back.ok, "{back:?}");
        assert_eq!(back.resolvers_failing, Some(Vec::new()));

        let missing = prober
            .probe_url(
                &format!("http://missing.test:{}/", addr.port()),
                t0 + TimeDelta::seconds(41),
            )
            .await;
        assert_eq!(missing.failure, Some(engine::FailureClass::DnsNxdomain));
        assert_eq!(missing.resolvers_failing, Some(Vec::new()));

        dns.set_fault("shop.test", Some(DnsFault::ServFail));
        let zone_down = prober.probe_url(&url, t0 + TimeDelta::seconds(42)).await;
        assert_eq!(zone_down.failure, Some(engine::FailureClass::DnsServfail));
        assert_eq!(zone_down.resolvers_failing, Some(Vec::new()));
    }
}
