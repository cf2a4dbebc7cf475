//! The provider knowledge base in force, and its reloads.
//!
//! The builtin set is compiled in. An operator may point
//! `[knowledge] dir` at a directory of provider files that overlays it; the
//! directory is watched and reloaded when it changes. A file that fails to
//! validate never takes the service down: the last good set stays in force,
//! and the failure is logged, counted and kept for the admin to read.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use engine::knowledge::LoadErrorKind;
use engine::{KnowledgeBase, Limits, LoadError, SourceFile};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnowledgeConfig {
    /// Directory of provider files overlaying the builtin set; none by default.
    pub dir: Option<PathBuf>,
    /// Seconds between checks of `dir` for changes.
    pub reload_seconds: Option<u64>,
}

const DEFAULT_RELOAD: Duration = Duration::from_secs(30);

/// What the admin shows about the knowledge base.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KnowledgeStatus {
    /// `builtin`, or the override directory in force.
    pub source: String,
    pub providers: usize,
    pub loaded_at: DateTime<Utc>,
    /// Why the last load of the override directory failed, if it did.
    pub last_error: Option<String>,
    pub failed_loads: u64,
}

/// The knowledge base in force; cheap to read from every probe.
pub struct Knowledge {
    dir: Option<PathBuf>,
    current: RwLock<Arc<KnowledgeBase>>,
    status: RwLock<KnowledgeStatus>,
}

impl Knowledge {
    /// The builtin set only.
    pub fn builtin() -> Arc<Self> {
        let base = KnowledgeBase::shared();
        Arc::new(Self {
            dir: None,
            status: RwLock::new(status_of(&base, "builtin".to_owned())),
            current: RwLock::new(base),
        })
    }

    /// The builtin set overlaid by `dir` when given. A directory that does
    /// not load leaves the builtin set in force, with the error recorded.
    pub fn load(dir: Option<&Path>) -> Arc<Self> {
        let knowledge = Self::builtin();
        let Some(dir) = dir else {
            return knowledge;
        };
        let knowledge = Arc::new(Self {
            dir: Some(dir.to_path_buf()),
            current: RwLock::new(knowledge.current()),
            status: RwLock::new(knowledge.status()),
        });
        // The outcome is recorded in the status either way.
        let _ = knowledge.reload();
        knowledge
    }

    pub fn current(&self) -> Arc<KnowledgeBase> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn status(&self) -> KnowledgeStatus {
        self.status
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Loads the override directory again; on failure the set in force is
    /// kept and the error recorded.
    pub fn reload(&self) -> Result<(), LoadError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        match load_dir(dir) {
            Ok(base) => {
                let base = Arc::new(base);
                *self.status.write().unwrap_or_else(PoisonError::into_inner) =
                    status_of(&base, dir.display().to_string());
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = base;
                tracing::info!(knowledge.dir = %dir.display(), "loaded provider knowledge base");
                Ok(())
            }
            Err(error) => {
                let mut status = self.status.write().unwrap_or_else(PoisonError::into_inner);
                status.last_error = Some(error.to_string());
                status.failed_loads += 1;
                tracing::error!(
                    %error,
                    knowledge.in_force = %status.source,
                    "provider files rejected; keeping the last good knowledge base"
                );
                Err(error)
            }
        }
    }

    /// Reloads whenever the override directory changes, until `shutdown`.
    pub async fn watch(self: Arc<Self>, every: Option<u64>, shutdown: CancellationToken) {
        let Some(dir) = self.dir.clone() else {
            return;
        };
        let every = every.map_or(DEFAULT_RELOAD, |s| Duration::from_secs(s.clamp(1, 86_400)));
        let mut seen = fingerprint(&dir);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            let now = fingerprint(&dir);
            if now != seen {
                seen = now;
                let this = Arc::clone(&self);
                // Loading compiles regexes: keep it off the async workers.
                // A rejected load is logged and kept in the status by `reload`.
                if let Err(error) = tokio::task::spawn_blocking(move || this.reload()).await {
                    tracing::error!(%error, "the provider reload failed");
                }
            }
        }
    }
}

impl probe::KnowledgeSource for Knowledge {
    fn current(&self) -> Arc<KnowledgeBase> {
        Knowledge::current(self)
    }
}

impl std::fmt::Debug for Knowledge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Knowledge")
            .field("dir", &self.dir)
            .field("status", &self.status())
            .finish()
    }
}

fn status_of(base: &KnowledgeBase, source: String) -> KnowledgeStatus {
    KnowledgeStatus {
        source,
        providers: base.ids().count(),
        loaded_at: Utc::now(),
        last_error: None,
        failed_loads: 0,
    }
}

/// The builtin set overlaid by the `*.toml` files in `dir` (other files are
/// ignored) and the IP range files in `dir/ipranges/`, with the default
/// [`Limits`].
pub fn load_dir(dir: &Path) -> Result<KnowledgeBase, LoadError> {
    load_dir_with(dir, &Limits::default())
}

/// Reads the override directory within `limits` (file count and sizes are
/// checked while reading, so an oversized file is never read whole) and
/// hands the text to the engine, which validates it. Nothing is returned
/// unless everything validates, so on `Err` the caller keeps the base it
/// already has.
pub fn load_dir_with(dir: &Path, limits: &Limits) -> Result<KnowledgeBase, LoadError> {
    let dir_name = dir.display().to_string();
    let io_err = |file: &str, e: std::io::Error| LoadError {
        file: file.to_owned(),
        line: 0,
        kind: LoadErrorKind::Io(e.to_string()),
    };
    let too_many = |file: String| LoadError {
        file,
        line: 0,
        kind: LoadErrorKind::TooManyFiles {
            limit: limits.max_files,
        },
    };
    let mut names = Vec::new();
    for item in std::fs::read_dir(dir).map_err(|e| io_err(&dir_name, e))? {
        let path = item.map_err(|e| io_err(&dir_name, e))?.path();
        if path.extension().is_some_and(|x| x == "toml") && path.is_file() {
            names.push(path);
            if names.len() > limits.max_files {
                return Err(too_many(dir_name));
            }
        }
    }
    names.sort();
    let mut overrides = Vec::new();
    for path in names {
        let name = path.display().to_string();
        let text = read_capped(&path, limits.max_file_bytes).map_err(|e| io_err(&name, e))?;
        overrides.push(SourceFile { name, text });
    }
    let mut ip_files = Vec::new();
    let ip_dir = dir.join("ipranges");
    if ip_dir.is_dir() {
        let ip_dir_name = ip_dir.display().to_string();
        for item in std::fs::read_dir(&ip_dir).map_err(|e| io_err(&ip_dir_name, e))? {
            let path = item.map_err(|e| io_err(&ip_dir_name, e))?.path();
            if !path.is_file() {
                continue;
            }
            let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if ip_files.len() >= limits.max_files {
                return Err(too_many(ip_dir_name));
            }
            let shown = path.display().to_string();
            let text =
                read_capped(&path, limits.max_ip_file_bytes).map_err(|e| io_err(&shown, e))?;
            ip_files.push(SourceFile {
                name: file_name.to_owned(),
                text,
            });
        }
    }
    KnowledgeBase::overlay(&overrides, &ip_files, limits)
}

/// Reads at most `limit + 1` bytes so an oversized file is caught without
/// reading it all; the engine then reports the size with a line.
fn read_capped(path: &Path, limit: usize) -> std::io::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    file.take(limit as u64 + 1).read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Names, sizes and modification times of the files a load reads.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut files = Vec::new();
    for folder in [dir.to_path_buf(), dir.join("ipranges")] {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten().take(1024) {
            if let Ok(meta) = entry.metadata() {
                files.push((entry.path(), meta.len(), meta.modified().ok()));
            }
        }
    }
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXTRA: &str = r#"
id = "examplecdn"
name = "Example CDN"
role = "cdn"
source = "test"
cname_suffixes = ["examplecdn.test"]
"#;

    #[test]
    fn a_bad_override_keeps_the_last_good_set_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("examplecdn.toml"), EXTRA).unwrap();
        let knowledge = Knowledge::load(Some(dir.path()));
        let status = knowledge.status();
        assert_eq!(status.last_error, None, "{status:?}");
        let builtin = KnowledgeBase::shared().ids().count();
        assert_eq!(status.providers, builtin + 1);

        std::fs::write(
            dir.path().join("broken.toml"),
            "id = \"x\"\nserver = ['(']\n",
        )
        .unwrap();
        assert!(knowledge.reload().is_err());
        let status = knowledge.status();
        assert_eq!(status.failed_loads, 1);
        assert!(
            status
                .last_error
                .as_deref()
                .unwrap()
                .contains("broken.toml"),
            "{status:?}"
        );
        assert_eq!(knowledge.current().ids().count(), builtin + 1);
    }

    #[test]
    fn a_directory_that_never_loaded_leaves_the_builtin_set() {
        let knowledge = Knowledge::load(Some(Path::new("/nonexistent/faultline-providers")));
        let status = knowledge.status();
        assert_eq!(status.source, "builtin");
        assert!(status.last_error.is_some());
        assert_eq!(
            knowledge.current().ids().count(),
            KnowledgeBase::shared().ids().count()
        );
    }

    const GOOD: &str = r#"id = "example"
name = "Example CDN"
role = "cdn"
source = "test"
server = ['^example$']

[[page]]
body = ["Example CDN error"]
fault_side = "edge"
fault = "edge_error"
"#;

    #[test]
    fn an_override_directory_is_read_with_its_ip_ranges_and_other_files_ignored() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("example.toml"),
            GOOD.replace("server =", "ip_range_files = [\"r.txt\"]\nserver ="),
        )
        .unwrap();
        std::fs::write(dir.path().join("README.md"), "ignored").unwrap();
        std::fs::create_dir(dir.path().join("ipranges")).unwrap();
        std::fs::write(dir.path().join("ipranges/r.txt"), "192.0.2.0/24\n").unwrap();
        let kb = load_dir(dir.path()).unwrap();
        assert_eq!(kb.name_of("example"), Some("Example CDN"));
        assert!(kb.name_of("fastly").is_some());
        assert_eq!(
            kb.ip_range_count(),
            KnowledgeBase::shared().ip_range_count() + 1
        );
    }

    #[test]
    fn an_oversized_file_is_refused_without_reading_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let big = format!("{GOOD}\n# {}\n", "x".repeat(128 * 1024));
        std::fs::write(dir.path().join("example.toml"), big).unwrap();
        let error = load_dir(dir.path()).unwrap_err();
        assert!(
            matches!(error.kind, LoadErrorKind::TooLarge { .. }),
            "{error}"
        );
    }

    #[test]
    fn a_failed_reload_keeps_the_last_good_set() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("example.toml"), GOOD).unwrap();
        let knowledge = Knowledge::load(Some(dir.path()));
        assert_eq!(knowledge.current().name_of("example"), Some("Example CDN"));
        std::fs::write(
            dir.path().join("example.toml"),
            GOOD.replace("'^example$'", "'('"),
        )
        .unwrap();
        let error = knowledge.reload().unwrap_err();
        assert!(
            error.to_string().contains("example.toml:5: bad regex"),
            "{error}"
        );
        assert_eq!(knowledge.current().name_of("example"), Some("Example CDN"));
        assert_eq!(knowledge.status().failed_loads, 1);
    }

    #[test]
    fn a_missing_directory_is_an_error_not_a_panic() {
        let error = load_dir(Path::new("/nonexistent/faultline-providers")).unwrap_err();
        assert!(matches!(error.kind, LoadErrorKind::Io(_)));
    }
}
