//! The only crate that speaks SQL. It owns the SQLite schema (the top-level
//! `migrations/` folder), the connection pools and every query.
//!
//! Writes go through one connection (`Store::writer`) so that SQLite never
//! sees two writers contend for the lock; pages read through a separate pool
//! and never wait on the writer thanks to WAL.

/// Implements `sqlx::FromRow` for a struct whose columns are named like its
/// fields, reading text columns of the vocabulary into typed words at this
/// edge: `plain` fields decode as they are, `word` and `maybe_word` fields
/// go through the word's lenient `From<&str>` (unknown text becomes the
/// word's `Unknown`, never an error), `skip` fields take their default.
macro_rules! typed_row {
    ($ty:ident { $($field:ident: $how:ident),* $(,)? }) => {
        impl<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> for $ty {
            fn from_row(row: &'r sqlx::sqlite::SqliteRow) -> Result<Self, sqlx::Error> {
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

mod admin;
mod alert;
mod attribution;
mod incident;
mod probe;
mod report;
mod site;
mod statement;
mod token;
mod vantage;

pub use admin::{AdminAccount, AuditEntry, SiteChanges};
pub use alert::{
    AfterAttempt, AlertDetail, AlertEventRow, Attempt, Cadence, DeliveryLine, DueDelivery,
    NewDelivery, NewSubscription, OfficialSaid, ProviderAudience, Sendable, Subscription,
    SITE_EVENT_WAIT,
};
pub use attribution::SiteProvider;
pub use incident::{Incident, ProviderIncidentRow};
pub use probe::{ProbeRecord, Pruned, Resolution, Retention, RollupRow};
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

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
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
    #[error(transparent)]
    Query(#[from] sqlx::Error),
}

/// Handle to the database: cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    reader: SqlitePool,
    writer: SqlitePool,
    path: PathBuf,
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
        sqlx::migrate!("../migrations")
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
            reader,
            writer,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for in-flight queries, checkpoints the WAL and closes every
    /// connection, so the database file is complete on its own.
    pub async fn close(&self) {
        self.reader.close().await;
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.writer)
            .await
        {
            tracing::warn!(%error, "wal checkpoint at close failed");
        }
        self.writer.close().await;
    }

    /// Checkpoints the WAL and rebuilds the file, returning free pages to
    /// the file system (maintenance and size measurements).
    pub async fn vacuum(&self) -> Result<(), StoreError> {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.writer)
            .await?;
        sqlx::query("VACUUM").execute(&self.writer).await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub(crate) fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    pub(crate) fn writer(&self) -> &SqlitePool {
        &self.writer
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
