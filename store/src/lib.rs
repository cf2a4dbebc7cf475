//! The only crate that speaks SQL. It owns the schemas (the top-level
//! `migrations/sqlite/` and `migrations/postgres/` folders), the connection
//! pools and every query.
//!
//! One `Store` runs on either database. On SQLite (the embedded default)
//! writes go through one connection so that SQLite never sees two writers
//! contend for the lock, and pages read through a separate pool that never
//! waits on the writer thanks to WAL. On PostgreSQL one pool serves both.
//!
//! Each query is written once: [`on_reader!`] and [`on_writer!`] compile the
//! same body for each driver, with numbered placeholders (`$1`), which both
//! accept. Where the dialects differ the body asks [`Dialect`].

/// Implements `sqlx::FromRow` for both drivers' rows, for a struct whose
/// columns are named like its fields, reading text columns of the
/// vocabulary into typed words at this edge: `plain` fields decode as they
/// are, `word` and `maybe_word` fields go through the word's lenient
/// `From<&str>` (unknown text becomes the word's `Unknown`, never an error),
/// `skip` fields take their default.
macro_rules! typed_row {
    ($ty:ident { $($field:ident: $how:ident),* $(,)? }) => {
        typed_row!(@impl sqlx::sqlite::SqliteRow, $ty { $($field: $how),* });
        typed_row!(@impl sqlx::postgres::PgRow, $ty { $($field: $how),* });
    };
    (@impl $row_ty:ty, $ty:ident { $($field:ident: $how:ident),* }) => {
        impl<'r> sqlx::FromRow<'r, $row_ty> for $ty {
            fn from_row(row: &'r $row_ty) -> Result<Self, sqlx::Error> {
                Ok(Self {
                    $($field: typed_row!(@get $how, row, stringify!($field)),)*
                })
            }
        }
    };
    (@get plain, $row:ident, $column:expr) => {
        sqlx::Row::try_get($row, $column)?
    };
    (@get word, $row:ident, $column:expr) => {
        From::from(sqlx::Row::try_get::<&str, _>($row, $column)?)
    };
    (@get maybe_word, $row:ident, $column:expr) => {
        sqlx::Row::try_get::<Option<&str>, _>($row, $column)?.map(From::from)
    };
    (@get skip, $row:ident, $column:expr) => {
        Default::default()
    };
}

/// Runs `$body` with `$pool` bound to the pool that reads, compiled once
/// per driver. Inside, `Db` names the driver's database type, `DIALECT` the
/// dialect and `BEGIN` the statement that opens a writing transaction.
macro_rules! on_reader {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pools {
            $crate::Pools::Sqlite { reader, .. } => {
                #[allow(dead_code)]
                type Db = sqlx::Sqlite;
                #[allow(dead_code)]
                const DIALECT: $crate::Dialect = $crate::Dialect::Sqlite;
                let $pool = reader;
                $body
            }
            $crate::Pools::Postgres(pool) => {
                #[allow(dead_code)]
                type Db = sqlx::Postgres;
                #[allow(dead_code)]
                const DIALECT: $crate::Dialect = $crate::Dialect::Postgres;
                let $pool = pool;
                $body
            }
        }
    };
}

/// Runs `$body` with `$pool` bound to the pool that writes; see
/// [`on_reader!`]. On SQLite `BEGIN` takes the write lock at once
/// (`BEGIN IMMEDIATE`), so a transaction never fails half-way on it.
macro_rules! on_writer {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pools {
            $crate::Pools::Sqlite { writer, .. } => {
                #[allow(dead_code)]
                type Db = sqlx::Sqlite;
                #[allow(dead_code)]
                const DIALECT: $crate::Dialect = $crate::Dialect::Sqlite;
                #[allow(dead_code)]
                const BEGIN: &str = $crate::SQLITE_BEGIN;
                let $pool = writer;
                $body
            }
            $crate::Pools::Postgres(pool) => {
                #[allow(dead_code)]
                type Db = sqlx::Postgres;
                #[allow(dead_code)]
                const DIALECT: $crate::Dialect = $crate::Dialect::Postgres;
                #[allow(dead_code)]
                const BEGIN: &str = "BEGIN";
                let $pool = pool;
                $body
            }
        }
    };
}

/// Runs `$body` with `$conn` bound to the connection of a [`Tx`], compiled
/// once per driver like [`on_reader!`].
macro_rules! on_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match $tx {
            $crate::Tx::Sqlite($conn) => {
                #[allow(dead_code)]
                type Db = sqlx::Sqlite;
                #[allow(dead_code)]
                const DIALECT: $crate::Dialect = $crate::Dialect::Sqlite;
                $body
            }
            $crate::Tx::Postgres($conn) => {
                #[allow(dead_code)]
                type Db = sqlx::Postgres;
                #[allow(dead_code)]
                const DIALECT: $crate::Dialect = $crate::Dialect::Postgres;
                $body
            }
        }
    };
}

mod admin;
mod agent;
mod alert;
mod attribution;
mod cluster;
mod incident;
mod postgres;
mod probe;
mod report;
mod site;
mod statement;
mod token;
mod vantage;

pub use admin::{AdminAccount, AuditEntry, SiteChanges};
pub use agent::{Agent, VantageHealth, BATCH_ANSWER_KEPT};
pub use alert::{
    AfterAttempt, AlertDetail, AlertEventRow, Attempt, Cadence, DeliveryLine, DueDelivery,
    NewDelivery, NewSubscription, OfficialSaid, ProviderAudience, Sendable, Subscription,
    SITE_EVENT_WAIT,
};
pub use attribution::SiteProvider;
pub use cluster::{Lease, SharedSnapshot, PENDING_KEPT};
pub use incident::{Incident, ProviderIncidentRow, SiteChange};
pub use probe::{ProbeRecord, Pruned, Resolution, Retention, RollupRow, OWN_VANTAGE};
pub use report::{
    AffectedSite, Annotation, CohortSite, IncidentFilter, ProviderCohort, ProviderSighting,
    SiteStatus,
};
pub use site::{FailingSite, NewSite, Site, SiteSummary};
pub use statement::{MeasuredSpan, Recorded, Statement, StatementUpdate, StatusSource, Unmatched};
pub use token::{ApiToken, TokenScope};
pub use vantage::{ResolverEvent, VantageEvent};

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::SqlitePool;

/// Errors at the storage boundary.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the database directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database {path}: {source}")]
    Open { path: PathBuf, source: sqlx::Error },
    #[error("cannot apply database migrations to {path}: {source}")]
    Migrate {
        path: PathBuf,
        source: sqlx::migrate::MigrateError,
    },
    #[error("cannot connect to the PostgreSQL database {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("cannot apply database migrations to the PostgreSQL database {url}: {source}")]
    MigratePostgres {
        url: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error(transparent)]
    Query(#[from] sqlx::Error),
}

/// Which SQL a store speaks, for the few queries the dialects disagree on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The larger of two values: SQLite's two-argument `MAX`.
    pub(crate) fn greatest(self) -> &'static str {
        match self {
            Dialect::Sqlite => "MAX",
            Dialect::Postgres => "GREATEST",
        }
    }

    /// A moment column or parameter in a form that compares by time: on
    /// SQLite moments are text, and `julianday` reads whatever offset or
    /// precision a value was written with.
    pub(crate) fn moment(self, expression: &str) -> String {
        match self {
            Dialect::Sqlite => format!("julianday({expression})"),
            Dialect::Postgres => expression.to_owned(),
        }
    }

    /// The ids in a JSON array of integers bound as text, as a subquery
    /// for `IN`: SQLite has no arrays, so both read the same JSON.
    pub(crate) fn ids_in_json(self, parameter: &str) -> String {
        match self {
            Dialect::Sqlite => format!("(SELECT value FROM json_each({parameter}))"),
            Dialect::Postgres => format!(
                "(SELECT CAST(value AS BIGINT) FROM jsonb_array_elements_text(CAST({parameter} AS jsonb)) AS value)"
            ),
        }
    }

    /// The strings of a JSON array bound as text, as rows of one column
    /// `value`, in the array's order.
    pub(crate) fn texts_in_json(self, parameter: &str) -> String {
        match self {
            Dialect::Sqlite => format!("(SELECT value FROM json_each({parameter}) ORDER BY key)"),
            Dialect::Postgres => format!(
                "(SELECT value FROM jsonb_array_elements_text(CAST({parameter} AS jsonb)) WITH ORDINALITY AS t (value, key) ORDER BY key)"
            ),
        }
    }

    /// `LIKE` that ignores ASCII case, as SQLite's does by default.
    pub(crate) fn like_any_case(self) -> &'static str {
        match self {
            Dialect::Sqlite => "LIKE",
            Dialect::Postgres => "ILIKE",
        }
    }

    /// The smaller of two values: SQLite's two-argument `MIN`.
    pub(crate) fn least(self) -> &'static str {
        match self {
            Dialect::Sqlite => "MIN",
            Dialect::Postgres => "LEAST",
        }
    }
}

/// The open database's pools.
#[derive(Clone, Debug)]
pub(crate) enum Pools {
    Sqlite {
        reader: SqlitePool,
        writer: SqlitePool,
    },
    Postgres(PgPool),
}

/// A connection inside a transaction, for the helpers that write as part
/// of a larger change.
pub(crate) enum Tx<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
}

impl<'c> From<&'c mut SqliteConnection> for Tx<'c> {
    fn from(connection: &'c mut SqliteConnection) -> Self {
        Tx::Sqlite(connection)
    }
}

impl<'c> From<&'c mut PgConnection> for Tx<'c> {
    fn from(connection: &'c mut PgConnection) -> Self {
        Tx::Postgres(connection)
    }
}

/// Opens a writing transaction on SQLite, taking the write lock at once so
/// the transaction never fails half-way on it.
const SQLITE_BEGIN: &str = "BEGIN IMMEDIATE";

/// Handle to the database: cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pools: Pools,
    /// The SQLite file; none on PostgreSQL.
    path: Option<PathBuf>,
    /// PostgreSQL: the day partitions of raw probes known to exist.
    probe_days: postgres::ProbeDays,
}

/// Whether a database setting names a PostgreSQL server rather than a file.
pub fn is_postgres_url(setting: &str) -> bool {
    setting.starts_with("postgres://") || setting.starts_with("postgresql://")
}

/// A PostgreSQL URL without its password, for messages and logs.
pub fn redacted_url(url: &str) -> String {
    match PgConnectOptions::from_str(url) {
        Ok(options) => format!(
            "postgres://{}@{}:{}/{}",
            options.get_username(),
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        ),
        Err(_) => "(a PostgreSQL URL that cannot be read)".to_owned(),
    }
}

impl Store {
    /// Opens (creating if missing) the database at `path`, in WAL mode with
    /// `synchronous=NORMAL`, and applies pending migrations. A directory or
    /// database file it creates is readable by the owner only (0700, 0600);
    /// SQLite gives its WAL and shared-memory files the database's mode.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            create_private_dir(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        create_private_file(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source: sqlx::Error::Io(source),
        })?;
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(open_err)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode: a committed transaction survives a process
            // crash; only an OS crash can lose the last few.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));

        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(open_err)?;
        sqlx::migrate!("../migrations/sqlite")
            .run(&writer)
            .await
            .map_err(|source| StoreError::Migrate {
                path: path.to_path_buf(),
                source,
            })?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await
            .map_err(open_err)?;
        Ok(Self {
            pools: Pools::Sqlite { reader, writer },
            path: Some(path.to_path_buf()),
            probe_days: postgres::ProbeDays::default(),
        })
    }

    /// Connects to the PostgreSQL database at `url` with a pool of at most
    /// `connections`, and applies pending migrations.
    pub async fn connect(url: &str, connections: u32) -> Result<Self, StoreError> {
        let shown = redacted_url(url);
        let options = PgConnectOptions::from_str(url).map_err(|source| StoreError::Connect {
            url: shown.clone(),
            source,
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Connect {
                url: shown.clone(),
                source,
            })?;
        sqlx::migrate!("../migrations/postgres")
            .run(&pool)
            .await
            .map_err(|source| StoreError::MigratePostgres { url: shown, source })?;
        let probe_days = postgres::ProbeDays::default();
        probe_days
            .ensure(&pool, postgres::days_ahead(chrono::Utc::now()))
            .await?;
        Ok(Self {
            pools: Pools::Postgres(pool),
            path: None,
            probe_days,
        })
    }

    /// Bytes the database takes: on SQLite its file with the write-ahead
    /// log, on PostgreSQL the database as the server counts it.
    pub async fn size_bytes(&self) -> Result<i64, StoreError> {
        match (&self.pools, &self.path) {
            (Pools::Postgres(pool), _) => Ok(sqlx::query_scalar(
                "SELECT pg_database_size(current_database())",
            )
            .fetch_one(pool)
            .await?),
            (Pools::Sqlite { .. }, Some(path)) => {
                let path = path.clone();
                let total = tokio::task::spawn_blocking(move || {
                    ["", "-wal", "-shm"]
                        .iter()
                        .filter_map(|suffix| {
                            let mut file = path.as_os_str().to_owned();
                            file.push(suffix);
                            std::fs::metadata(&file).ok()
                        })
                        .map(|meta| meta.len())
                        .sum::<u64>()
                })
                .await
                .unwrap_or_default();
                Ok(i64::try_from(total).unwrap_or(i64::MAX))
            }
            (Pools::Sqlite { .. }, None) => Ok(0),
        }
    }

    /// The SQLite file, on SQLite.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn dialect(&self) -> Dialect {
        match self.pools {
            Pools::Sqlite { .. } => Dialect::Sqlite,
            Pools::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Waits for in-flight queries and closes every connection; on SQLite
    /// it first checkpoints the WAL, so the database file is complete on
    /// its own.
    pub async fn close(&self) {
        match &self.pools {
            Pools::Sqlite { reader, writer } => {
                reader.close().await;
                if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(writer)
                    .await
                {
                    tracing::warn!(%error, "wal checkpoint at close failed");
                }
                writer.close().await;
            }
            Pools::Postgres(pool) => pool.close().await,
        }
    }

    /// Returns free pages to the file system (maintenance and size
    /// measurements): on SQLite it checkpoints the WAL and rebuilds the
    /// file, on PostgreSQL it vacuums every table.
    pub async fn vacuum(&self) -> Result<(), StoreError> {
        match &self.pools {
            Pools::Sqlite { writer, .. } => {
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(writer)
                    .await?;
                sqlx::query("VACUUM").execute(writer).await?;
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(writer)
                    .await?;
            }
            Pools::Postgres(pool) => {
                sqlx::query("VACUUM").execute(pool).await?;
            }
        }
        Ok(())
    }
}

/// JSON text of a value, for a column; a value that cannot be written
/// (none of ours can fail) is stored as an empty array.
pub(crate) fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".to_owned())
}

/// Creates `dir` and its missing parents, owner-only on Unix.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates an empty database file, owner-only on Unix, unless one exists
/// (SQLite takes an empty file as a new database).
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}
