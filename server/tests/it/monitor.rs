//! The whole probe pipeline on a virtual clock: schedule, live prober over
//! loopback, writer, correlator and store.

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use chrono::{DateTime, TimeDelta, Utc};
use probe::guard::GuardPolicy;
use probe::{LiveProber, ProberConfig};
use server::clock::SimClock;
use server::monitor::{Monitor, MonitorConfig};
use server::sim::dns::DnsServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Ten sites on a loopback origin, two of them failing, and a monitor
/// probing them once a virtual minute.
struct Fleet {
    store: store::Store,
    clock: SimClock,
    monitor: Monitor,
    t0: DateTime<Utc>,
    _dns: DnsServer,
    _dir: tempfile::TempDir,
}

async fn fleet() -> Fleet {
    let origin = Router::new().route("/ok", get(|| async { "fine" })).route(
        "/fail",
        get(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down") }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, origin).await });
    let dns = DnsServer::start().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = store::Store::open(&dir.path().join("db")).await.unwrap();
    let sites: Vec<store::NewSite> = (1..=10)
        .map(|n| {
            let host = format!("s{n}.test");
            dns.add_addresses(&host, &["127.0.0.1".parse().unwrap()]);
            let path = if n <= 2 { "fail" } else { "ok" };
            server::watchlist::site(&format!("http://{host}:{port}/{path}"), None, "", Some(60))
                .unwrap()
        })
        .collect();
    let t0: DateTime<Utc> = "2025-11-18T10:30:00Z".parse().unwrap();
    store.add_sites(&sites, t0).await.unwrap();

    let prober = LiveProber::new(ProberConfig {
        nameservers: vec![dns.addr()],
        total_timeout_ms: 2_000,
        guard: GuardPolicy::loopback_only(),
        ..ProberConfig::default()
    })
    .unwrap();
    let clock = SimClock::new(t0);
    let monitor = Monitor::new(
        store.clone(),
        Arc::new(clock.clone()),
        Arc::new(prober),
        MonitorConfig {
            canaries: vec![],
            ..MonitorConfig::default()
        },
    );
    Fleet {
        store,
        clock,
        monitor,
        t0,
        _dns: dns,
        _dir: dir,
    }
}

#[tokio::test]
async fn five_virtual_minutes_of_probing_are_stored_and_judged() {
    let Fleet {
        store,
        clock,
        mut monitor,
        t0,
        _dns,
        _dir,
    } = fleet().await;
    let shutdown = CancellationToken::new();
    let stages = TaskTracker::new();
    monitor.spawn_stages(&stages, &shutdown);

    let started = std::time::Instant::now();
    server::sim::drive(
        &mut monitor,
        &clock,
        t0 + TimeDelta::minutes(5),
        1,
        TimeDelta::zero(),
        |_| (),
    )
    .await;
    shutdown.cancel();
    monitor.finish().await;
    stages.close();
    stages.wait().await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );

    assert_eq!(
        store.probe_count().await.unwrap(),
        50,
        "every site once a virtual minute"
    );
    let summary = store.site_summary().await.unwrap();
    assert_eq!((summary.probed, summary.failing), (10, 2));
    let site_incidents = store
        .list_incidents(Some(engine::IncidentKind::Site), 10)
        .await
        .unwrap();
    assert_eq!(site_incidents.len(), 2, "{site_incidents:#?}");
    assert!(store
        .list_incidents(Some(engine::IncidentKind::Provider), 10)
        .await
        .unwrap()
        .is_empty());
}

/// The live loop: it sleeps on the clock, wakes for the first slots, and at
/// shutdown settles the probes in flight and lets the writer store them.
#[tokio::test]
async fn the_live_loop_probes_when_the_clock_says_and_stores_everything_at_shutdown() {
    let Fleet {
        store,
        clock,
        monitor,
        t0,
        _dns,
        _dir,
    } = fleet().await;
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(monitor.run(shutdown.clone()));
    // Both loops (the monitor and the correlation task) asleep on a time
    // still to come: the step at the clock's time has run.
    let asleep = || async {
        while clock.sleepers() < 2 {
            tokio::task::yield_now().await;
        }
    };
    asleep().await;
    assert_eq!(
        store.probe_count().await.unwrap(),
        0,
        "no slot is due at start"
    );
    clock.advance_to(t0 + TimeDelta::seconds(60));
    asleep().await;
    shutdown.cancel();
    running.await.unwrap();
    assert_eq!(
        store.probe_count().await.unwrap(),
        10,
        "every site's first slot is within the first minute"
    );
}
