//! `spawn_app()`: a real server per test, on its own port and database.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use engine::correlate::{Correlator, Snapshot, Thresholds};
use engine::Role;

use server::config::Config;
use server::http::{self, AppState};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    pub addr: SocketAddr,
    pub store: store::Store,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Where the test publishes the snapshot the pages show.
    status: tokio::sync::watch::Sender<Arc<Snapshot>>,
    dir: tempfile::TempDir,
}

/// The workspace's `target/site`, where `cargo leptos build` puts the assets.
pub fn site_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/site")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|state| state).await
}

/// A server whose state `adjust` may extend (on-demand checks, say).
pub async fn spawn_app_with(adjust: impl FnOnce(AppState) -> AppState) -> TestApp {
    let dir = tempfile::tempdir().expect("temporary directory");
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    serve_on(listener, dir, adjust).await
}

async fn serve_on(
    listener: TcpListener,
    dir: tempfile::TempDir,
    adjust: impl FnOnce(AppState) -> AppState,
) -> TestApp {
    let addr = listener.local_addr().expect("bound address");
    let config = Config {
        listen: addr,
        database: server::config::Database::File(dir.path().join("faultline.db")),
        site_root: site_root(),
        ..Config::default()
    };
    let store = server::startup::open_store(&config.database)
        .await
        .expect("open the test database");
    let shutdown = CancellationToken::new();
    let (status, snapshots) = tokio::sync::watch::channel(Arc::new(Snapshot::default()));
    let state = AppState::new(&config, store.clone()).with_status(app::status::Status::new(
        snapshots,
        Arc::new(chrono::Utc::now),
        chrono::TimeDelta::seconds(120),
    ));
    let server = tokio::spawn(http::serve(listener, adjust(state), shutdown.clone()));
    TestApp {
        addr,
        store,
        shutdown,
        server,
        status,
        dir,
    }
}

/// A server stopped, its address and database kept to start it again.
pub struct Halted {
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Halted {
    /// Starts the server again at its address, on its database.
    pub async fn start(self) -> TestApp {
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("bind the same loopback port again");
        serve_on(listener, self.dir, |state| state).await
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Publishes `snapshot`, as the correlation task does after a judgement.
    pub fn publish(&self, snapshot: Snapshot) {
        self.status.send_replace(Arc::new(snapshot));
    }

    /// Stops the server as SIGTERM would and waits for it to finish.
    pub async fn stop(self) {
        self.halt().await;
    }

    /// Stops the server, keeping its address and database for `start`.
    pub async fn halt(self) -> Halted {
        self.shutdown.cancel();
        self.server
            .await
            .expect("server task")
            .expect("server result");
        self.store.close().await;
        Halted {
            addr: self.addr,
            dir: self.dir,
        }
    }
}

/// What the correlator makes of `probes` from sites served as `members`
/// say: each probe observed in time order, a judgement after each moment.
pub fn judge(members: &[(i64, &str, Role)], probes: &[store::ProbeRecord]) -> Snapshot {
    let mut correlator = Correlator::new(Thresholds::default());
    for (site, provider, role) in members {
        correlator.add_member(*site, provider, *role);
    }
    let mut probes: Vec<&store::ProbeRecord> = probes.iter().collect();
    probes.sort_by_key(|probe| probe.started_at);
    let mut moment = None;
    for probe in probes {
        if let Some(at) = moment.filter(|at| *at != probe.started_at) {
            correlator.tick(at, false);
        }
        moment = Some(probe.started_at);
        correlator.observe(server::monitor::correlation::observation_of(probe));
    }
    if let Some(at) = moment {
        correlator.tick(at, false);
    }
    correlator.snapshot()
}

/// `count` sites behind Cloudflare's CDN probed once a minute from
/// `start` for `minutes`; `failing(site, minute)` says which got its edge
/// 500. Sites are numbered from 1.
pub fn cloudflare_minutes(
    count: i64,
    start: chrono::DateTime<chrono::Utc>,
    minutes: i64,
    failing: impl Fn(i64, i64) -> bool,
) -> (Vec<(i64, &'static str, Role)>, Vec<store::ProbeRecord>) {
    let members = (1..=count)
        .map(|site| (site, "cloudflare", Role::Cdn))
        .collect();
    let mut probes = Vec::new();
    for minute in 0..minutes {
        for site in 1..=count {
            let started_at = start + chrono::TimeDelta::minutes(minute);
            probes.push(if failing(site, minute) {
                store::ProbeRecord {
                    site_id: site,
                    started_at,
                    status: Some(500),
                    failure: Some(engine::FailureClass::HttpStatus),
                    provider: Some("cloudflare".to_owned()),
                    fault_side: Some(engine::FaultSide::Edge),
                    fault: Some(engine::Fault::EdgeError),
                    ..store::ProbeRecord::default()
                }
            } else {
                store::ProbeRecord {
                    site_id: site,
                    started_at,
                    ok: true,
                    status: Some(200),
                    ..store::ProbeRecord::default()
                }
            });
        }
    }
    (members, probes)
}

/// A server over the database a whole scenario left behind.
pub struct Replayed {
    pub addr: std::net::SocketAddr,
    pub store: store::Store,
    stop: tokio_util::sync::CancellationToken,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Replayed {
    /// Plays `file` from `scenarios/` to its end, then serves its database.
    pub async fn start(file: &str) -> Self {
        Self::start_with(file, |state| state).await
    }

    /// As [`Replayed::start`], with the server's state as `adjust` makes it.
    pub async fn start_with(file: &str, adjust: impl FnOnce(AppState) -> AppState) -> Self {
        use server::sim::scenario::Scenario;
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scenarios")
            .join(file);
        let scenario = Scenario::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let database = server::config::Database::File(dir.path().join("replay.db"));
        let mut simulation = server::sim::simulate::Simulation::start(
            &scenario,
            &database,
            server::sim::simulate::SIMULATED_SITE_URL,
        )
        .await
        .unwrap();
        simulation.run(&scenario).await;
        // The last snapshot stays readable once the simulation has stopped.
        let status = server::startup::replay_status(&simulation, &scenario);
        simulation.finish(&scenario).await.unwrap();
        let store = database.open().await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = server::config::Config {
            listen: addr,
            database,
            site_root: site_root(),
            ..Default::default()
        };
        let stop = tokio_util::sync::CancellationToken::new();
        // As a server that mails alerts: the pages offer them, and the
        // links in mails lead somewhere.
        let signer = server::alerts::token::Signer::load(&store).await.unwrap();
        let state = server::http::AppState::new(&config, store.clone())
            .with_status(status)
            .with_alert_links(
                signer,
                probe::GuardPolicy::loopback_only(),
                std::sync::Arc::new(tokio::sync::Notify::new()),
            );
        let served = tokio::spawn(server::http::serve(listener, adjust(state), stop.clone()));
        Self {
            addr,
            store,
            stop,
            served,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn finish(self) {
        self.stop.cancel();
        self.served.await.unwrap().unwrap();
        self.store.close().await;
    }
}

/// A new, empty database on the PostgreSQL server `scripts/with-postgres`
/// started; `None` (the caller skips, and says so) when there is none,
/// except under CI, where a missing server fails the test.
pub async fn postgres_database() -> Option<server::config::Database> {
    use sqlx::Connection;
    use std::sync::atomic::{AtomicU32, Ordering};
    const VAR: &str = "TEST_POSTGRES_URL";
    let Ok(server) = std::env::var(VAR) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{VAR} is not set: under CI the PostgreSQL tests must run (scripts/test starts the server)"
        );
        eprintln!("skipped on PostgreSQL: {VAR} is not set (scripts/test sets it)");
        return None;
    };
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "server_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    Some(server::config::Database::Postgres(format!("{base}/{name}")))
}

/// Origins on loopback: `/up` answers 200, `/down` 503.
pub async fn origins() -> std::net::SocketAddr {
    use axum::routing::get;
    let router = axum::Router::new()
        .route("/up", get(|| async { "fine" }))
        .route(
            "/down",
            get(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// Waits, up to `within`, for `done`; says `what` if it never came.
pub async fn wait_for<F, Fut>(within: std::time::Duration, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// Every slot a vantage stored for `site`, oldest first.
pub async fn slots(
    store: &store::Store,
    site: i64,
    vantage: i64,
) -> Vec<chrono::DateTime<chrono::Utc>> {
    let mut slots: Vec<_> = store
        .recent_probes(site, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|probe| probe.vantage_id == vantage)
        .filter_map(|probe| probe.slot)
        .collect();
    slots.sort_unstable();
    slots
}
