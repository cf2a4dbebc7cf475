//! `spawn_app()`: a real server per test, on its own port and database.

use std::net::SocketAddr;
use std::path::PathBuf;

use server::config::Config;
use server::http::{self, AppState};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    pub addr: SocketAddr,
    pub store: store::Store,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
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
    let addr = listener.local_addr().expect("bound address");
    let config = Config {
        listen: addr,
        database: dir.path().join("faultline.db"),
        site_root: site_root(),
        ..Config::default()
    };
    let store = store::Store::open(&config.database)
        .await
        .expect("open the test database");
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(http::serve(
        listener,
        adjust(AppState::new(&config, store.clone())),
        shutdown.clone(),
    ));
    TestApp {
        addr,
        store,
        shutdown,
        server,
        _dir: dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Stops the server as SIGTERM would and waits for it to finish.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.server
            .await
            .expect("server task")
            .expect("server result");
        self.store.close().await;
    }
}
