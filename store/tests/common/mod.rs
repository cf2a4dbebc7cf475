//! The two databases every store test runs against: a SQLite file in a
//! temporary directory, and a fresh database on the PostgreSQL server that
//! `scripts/test` starts (its URL in `TEST_POSTGRES_URL`).

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;
use store::Store;

/// The variable that names the test PostgreSQL server.
const POSTGRES_VAR: &str = "TEST_POSTGRES_URL";

/// A store for one test, with what keeps it alive.
pub struct TestDb {
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = Store::open(&dir.path().join("faultline.db"))
            .await
            .expect("a SQLite store");
        Self {
            store,
            _dir: Some(dir),
        }
    }

    /// A store on a new database of the test server; `None` (the test is
    /// skipped, and says so) when no server was started, except under CI,
    /// where a missing server fails the test.
    pub async fn postgres() -> Option<Self> {
        let url = new_postgres_database().await?;
        let store = Store::connect(&url, 4).await.expect("a PostgreSQL store");
        Some(Self { store, _dir: None })
    }
}

/// The URL of a new, empty database on the test server; `None` (the test
/// is skipped, and says so) when no server was started, except under CI,
/// where a missing server fails the test.
#[allow(dead_code, reason = "not every test file makes its own databases")]
pub async fn new_postgres_database() -> Option<String> {
    let Ok(server) = std::env::var(POSTGRES_VAR) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{POSTGRES_VAR} is not set: under CI every store test must also run on PostgreSQL (scripts/test starts the server)"
        );
        eprintln!("skipped on PostgreSQL: {POSTGRES_VAR} is not set (scripts/test sets it)");
        return None;
    };
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "store_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = sqlx::PgConnection::connect(&server)
        .await
        .expect("the test PostgreSQL server answers");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("a new database");
    admin.close().await.ok();
    match server.rsplit_once('/') {
        Some((base, _)) => Some(format!("{base}/{name}")),
        None => panic!("{POSTGRES_VAR} must end with a database name: {server}"),
    }
}

/// Runs the async test function `$test(store: Store)` once on each
/// database, as `$test::sqlite` and `$test::postgres`.
#[macro_export]
macro_rules! on_both {
    ($test:ident) => {
        mod $test {
            #[tokio::test]
            async fn sqlite() {
                let db = $crate::common::TestDb::sqlite().await;
                super::$test(db.store.clone()).await;
            }

            #[tokio::test]
            async fn postgres() {
                let Some(db) = $crate::common::TestDb::postgres().await else {
                    return;
                };
                super::$test(db.store.clone()).await;
            }
        }
    };
}
