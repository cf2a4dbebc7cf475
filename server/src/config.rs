//! Configuration: one struct, read from a TOML file, overlaid by
//! `FAULTLINE_*` environment variables and then by command-line flags.
//!
//! Nested keys use a double underscore in the environment:
//! `FAULTLINE_PROBE__CONCURRENCY=64` sets `probe.concurrency`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// The file read when no `--config` is given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "faultline.toml";
/// A configuration file larger than this is refused rather than parsed.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the web app listens on.
    pub listen: SocketAddr,
    /// Where the data lives: a SQLite file, created with its directory if
    /// missing, or a PostgreSQL server (`postgres://user:password@host/db`).
    pub database: Database,
    /// Directory holding the built assets (`pkg/` with the wasm, JS and CSS).
    pub site_root: PathBuf,
    /// The address people reach this server at (`https://status.example`),
    /// for permalinks, feeds and exports; when https, the admin's session
    /// cookie is marked `Secure`. Unset: taken from each request's `Host`.
    pub public_url: Option<url::Url>,
    pub log: LogConfig,
    /// How each probe is made: resolver, timeouts, the SSRF guard.
    pub probe: probe::ProberConfig,
    /// The probe loop: concurrency, canaries, retention.
    pub monitor: MonitorSettings,
    /// Provider files overlaying the builtin knowledge base.
    pub knowledge: crate::knowledge::KnowledgeConfig,
    /// "Check it now" for sites not on the watchlist.
    pub on_demand: OnDemandSettings,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-*` headers are
    /// believed; from anyone else they are dropped. Empty: nobody's.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Alert deliveries: what they may reach, retries, email.
    pub alerts: crate::alerts::AlertSettings,
    /// The public API under `/api/v1`.
    pub api: ApiSettings,
    /// `/metrics` for Prometheus.
    pub metrics: MetricsSettings,
    /// Providers' own status pages, read beside what the probes measure.
    pub statuses: crate::statuses::StatusSettings,
}

/// Where `/metrics` is served. Off unless one of the two is set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// A listener of its own (`127.0.0.1:9464`), without a token: for a
    /// private network the public cannot reach.
    pub listen: Option<SocketAddr>,
    /// On the public listener, for scrapes that bring this bearer token
    /// (only its hash is kept in memory). At least 16 characters.
    pub token: Option<String>,
}

impl MetricsSettings {
    /// The SHA-256 of the token, once it is long enough to be a secret.
    pub fn token_sha256(&self) -> Result<Option<[u8; 32]>, String> {
        use sha2::Digest as _;
        match self.token.as_deref().map(str::trim) {
            None => Ok(None),
            Some(token) if token.len() < 16 => {
                Err("metrics.token must be at least 16 characters".to_owned())
            }
            Some(token) => Ok(Some(sha2::Sha256::digest(token.as_bytes()).into())),
        }
    }
}

/// The public API's limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSettings {
    /// Requests a minute from one client address (an IPv6 client by its
    /// /64), cached answers included.
    pub requests_per_minute: u32,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            requests_per_minute: 300,
        }
    }
}

/// The public "check it now" button. Its prober never takes the watchlist
/// prober's `allow_private` or `allowed_networks`: it reaches public
/// addresses only, on ports 80 and 443 only, also on redirects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OnDemandSettings {
    /// Offer the button (off: the check page says it only knows the
    /// watchlist).
    pub enabled: bool,
}

impl Default for OnDemandSettings {
    fn default() -> Self {
        Self { enabled: true }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorSettings {
    /// Probe the watchlist (off: serve the pages only).
    pub enabled: bool,
    /// Probes in flight at once. Unset: sized for the watchlist, so that
    /// every probe started within one total timeout may hang until it,
    /// within the open-files limit.
    pub concurrency: Option<usize>,
    /// Probes in flight at once to one host.
    pub per_host: usize,
    /// Canary URLs on independent providers for the own-network guard.
    pub canaries: Vec<String>,
    /// Hours raw probes are kept; rollups are kept longer.
    pub raw_retention_hours: i64,
    /// The region this server's own prober probes from, beside its agents'
    /// (such as eu-west): incidents seen from some regions only name them.
    pub region: String,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            concurrency: None,
            per_host: 2,
            canaries: [
                "https://www.google.com/",
                "https://www.cloudflare.com/",
                "https://www.amazon.com/",
                "https://www.microsoft.com/",
                "https://www.fastly.com/",
                "https://www.wikipedia.org/",
            ]
            .map(str::to_owned)
            .to_vec(),
            raw_retention_hours: 48,
            region: "central".to_owned(),
        }
    }
}

impl MonitorSettings {
    /// The loop's settings; `total_timeout` is a probe's longest, and
    /// `open_files` the probes' share of the process's open-files limit.
    pub fn to_monitor_config(
        &self,
        total_timeout: std::time::Duration,
        open_files: usize,
    ) -> crate::monitor::MonitorConfig {
        let retention = store::Retention {
            raw: chrono::TimeDelta::hours(self.raw_retention_hours.clamp(1, 24 * 365)),
            ..store::Retention::default()
        };
        crate::monitor::MonitorConfig {
            concurrency: match self.concurrency {
                Some(fixed) => crate::monitor::Capacity::Fixed(fixed.clamp(1, 100_000)),
                None => crate::monitor::Capacity::Sized {
                    floor: 256,
                    ceiling: open_files,
                    timeout: total_timeout,
                },
            },
            per_host: self.per_host.clamp(1, 64),
            canaries: self.canaries.clone(),
            retention,
            region: self.region.clone(),
            ..crate::monitor::MonitorConfig::default()
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `server=debug,info`; `RUST_LOG` wins.
    pub level: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            database: Database::File(PathBuf::from("data/faultline.db")),
            site_root: PathBuf::from("target/site"),
            public_url: None,
            log: LogConfig::default(),
            probe: probe::ProberConfig::default(),
            monitor: MonitorSettings::default(),
            knowledge: crate::knowledge::KnowledgeConfig::default(),
            on_demand: OnDemandSettings::default(),
            api: ApiSettings::default(),
            metrics: MetricsSettings::default(),
            trusted_proxies: Vec::new(),
            alerts: crate::alerts::AlertSettings::default(),
            statuses: crate::statuses::StatusSettings::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is {size} bytes; the limit is {MAX_CONFIG_BYTES}")]
    TooLarge { path: PathBuf, size: u64 },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Where the data lives: a SQLite file (the embedded default) or a
/// PostgreSQL server, named by a `postgres://` or `postgresql://` URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Database {
    File(PathBuf),
    Postgres(String),
}

impl From<String> for Database {
    fn from(setting: String) -> Self {
        if store::is_postgres_url(&setting) {
            Database::Postgres(setting)
        } else {
            Database::File(PathBuf::from(setting))
        }
    }
}

impl From<Database> for String {
    fn from(database: Database) -> Self {
        match database {
            Database::File(path) => path.to_string_lossy().into_owned(),
            Database::Postgres(url) => url,
        }
    }
}

impl std::str::FromStr for Database {
    type Err = std::convert::Infallible;

    fn from_str(setting: &str) -> Result<Self, Self::Err> {
        Ok(Database::from(setting.to_owned()))
    }
}

/// Connections a PostgreSQL store keeps open: enough for the probe writer,
/// the correlator, the dispatcher and the pages at once.
const POSTGRES_CONNECTIONS: u32 = 16;

impl Database {
    /// Opens the store, creating and migrating the database if needed.
    pub async fn open(&self) -> Result<store::Store, store::StoreError> {
        match self {
            Database::File(path) => store::Store::open(path).await,
            Database::Postgres(url) => store::Store::connect(url, POSTGRES_CONNECTIONS).await,
        }
    }
}

/// Shown without a PostgreSQL password, so logs and messages can carry it.
impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::File(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => f.write_str(&store::redacted_url(url)),
        }
    }
}

/// Values given on the command line; `None` leaves the lower layers alone.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<Database>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_root: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<LogOverrides>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct LogOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<LogFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
}

impl Config {
    /// Layers, lowest first: defaults, the file (`file`, or `faultline.toml`
    /// if present), the environment, then `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        Self::load_with_env(file, overrides, Env::prefixed("FAULTLINE_"))
    }

    fn load_with_env(
        file: Option<&Path>,
        overrides: &Overrides,
        env: Env,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let implicit = Path::new(DEFAULT_CONFIG_FILE);
        let file = file.or_else(|| implicit.exists().then_some(implicit));
        if let Some(path) = file {
            check_readable_and_bounded(path)?;
            figment = figment.merge(Toml::file(path));
        }
        // FAULTLINE_CONFIG names the file itself and is not a setting.
        let env = env.ignore(&["config"]).split("__");
        let config: Config = figment
            .merge(env)
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(|error| ConfigError::Invalid(one_line(&error)))?;
        if let Some(url) = &config.public_url {
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(ConfigError::Invalid(format!(
                    "public_url: {url} is not an http(s) URL with a host"
                )));
            }
        }
        config.alerts.check().map_err(ConfigError::Invalid)?;
        config.statuses.check().map_err(ConfigError::Invalid)?;
        if !crate::agents::valid_region(&config.monitor.region) {
            return Err(ConfigError::Invalid(format!(
                "monitor.region: {:?} is not a region: lower-case letters, digits and '-', such as eu-west",
                config.monitor.region
            )));
        }
        Ok(config)
    }
}

fn check_readable_and_bounded(path: &Path) -> Result<(), ConfigError> {
    let read_err = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_err)?.len();
    if size > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_path_buf(),
            size,
        });
    }
    std::fs::File::open(path).map_err(read_err)?;
    Ok(())
}

/// Figment's message names the key and the source; keep it on one line.
fn one_line(error: &figment::Error) -> String {
    error
        .clone()
        .into_iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("faultline.toml");
        std::fs::write(&path, text).unwrap();
        Config::load_with_env(
            Some(&path),
            &Overrides::default(),
            Env::prefixed("FAULTLINE_TEST_UNUSED_"),
        )
    }

    #[test]
    fn the_readme_example_loads_and_bad_status_settings_are_refused() {
        let readme = include_str!("../../README.md");
        let example: String = readme
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .unwrap()
            .to_owned();
        let config = load(&example).unwrap();
        assert_eq!(config.statuses.interval_seconds, 300);
        for (bad, says) in [
            ("[statuses]\ninterval_seconds = 5\n", "at least 60"),
            (
                "[statuses]\nsources = [{ provider = \"x\", url = \"ftp://a.example/\", format = \"feed\" }]\n",
                "http or https",
            ),
            (
                "[statuses]\nsources = [{ provider = \"x\", url = \"https://a.example/\", format = \"html\" }]\n",
                "html",
            ),
        ] {
            let error = load(bad).unwrap_err().to_string();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }

    #[test]
    fn file_values_apply_and_flags_win() {
        let config = load("listen = \"127.0.0.1:4000\"\n[log]\nformat = \"json\"\n").unwrap();
        assert_eq!(config.listen.port(), 4000);
        assert_eq!(config.log.format, LogFormat::Json);
        assert_eq!(
            config.database,
            Database::File(PathBuf::from("data/faultline.db"))
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:4000\"").unwrap();
        let overrides = Overrides {
            listen: Some("127.0.0.1:5000".parse().unwrap()),
            ..Overrides::default()
        };
        let config = Config::load_with_env(
            Some(&path),
            &overrides,
            Env::prefixed("FAULTLINE_TEST_UNUSED_"),
        )
        .unwrap();
        assert_eq!(config.listen.port(), 5000);
    }

    #[test]
    fn a_bad_value_names_the_key() {
        let error = load("listen = \"not an address\"").unwrap_err().to_string();
        assert!(error.contains("listen"), "{error}");
        assert!(!error.contains('\n'), "{error}");
    }

    #[test]
    fn public_url_must_be_an_http_url_with_a_host() {
        let config = load("public_url = \"https://status.example.org\"").unwrap();
        assert_eq!(
            config.public_url.map(String::from).as_deref(),
            Some("https://status.example.org/")
        );
        for bad in ["ftp://status.example.org", "not a url"] {
            let error = load(&format!("public_url = \"{bad}\""))
                .unwrap_err()
                .to_string();
            assert!(error.contains("public_url"), "{error}");
        }
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let error = load("listne = \"127.0.0.1:4000\"").unwrap_err().to_string();
        assert!(error.contains("listne"), "{error}");
    }

    #[test]
    fn malformed_toml_is_an_error_not_a_panic() {
        let error = load("listen = [").unwrap_err().to_string();
        assert!(error.starts_with("invalid configuration"), "{error}");
    }

    #[test]
    fn an_oversized_file_is_refused_unread() {
        let text = format!("# {}\n", "x".repeat(MAX_CONFIG_BYTES as usize));
        assert!(matches!(load(&text), Err(ConfigError::TooLarge { .. })));
    }
}
