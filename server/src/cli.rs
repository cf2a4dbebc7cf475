//! The command line: `faultline [serve]` and its sibling commands.

mod agents;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, LogFormat, LogOverrides, Overrides};
use crate::startup::{Application, StartupError};
use crate::watchlist;

/// Exit code for input we refuse: bad flags, configuration or paths.
const EXIT_USAGE: u8 = 2;

/// Faultline: is this site down, and whose fault is it?
#[derive(Debug, Parser)]
#[command(name = "faultline", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (TOML). Default: ./faultline.toml when it exists.
    #[arg(
        long,
        short,
        global = true,
        env = "FAULTLINE_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web app and the probes (the default command).
    Serve(ServeArgs),
    /// Manage the watchlist.
    #[command(subcommand)]
    Sites(SitesCommand),
    /// Replay a scenario file on a synthetic internet (loopback only) with a
    /// virtual clock, through the same pipeline as `serve`, and report what
    /// was detected. Exits 1 if the scenario's `[[expect]]` blocks are not met.
    Simulate(SimulateArgs),
    /// Serve the web app on top of a synthetic internet replaying an outage
    /// (default: Cloudflare, 18 Nov 2025) at a watchable speed. Loopback only.
    Demo(DemoArgs),
    /// Explain saved error pages: who produced each one and whose fault it
    /// is. Prints one JSON object per file, one per line. Exits 2 if a file
    /// could not be read (the others are still classified).
    Classify(ClassifyArgs),
    /// The provider knowledge base: validate override files, refresh the
    /// published IP ranges.
    #[command(subcommand)]
    Providers(ProvidersCommand),
    /// Administrators of the web app (`/admin`).
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Alert subscriptions and their deliveries.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// API tokens: for the API's writes, or reads with a budget of their own.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Probe agents: register them with this central, list and revoke them.
    #[command(subcommand)]
    Agent(agents::AgentCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Make a token. Prints it once; only its hash is kept.
    Create(TokenCreateArgs),
    /// List the tokens, with when each was last used.
    List(ListArgs),
    /// Revoke a token: it stops working at once.
    Revoke(AlertIdArgs),
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ScopeArg {
    /// Reads, with a budget of its own.
    Read,
    /// Reads and changes: the watchlist, incident notes.
    Write,
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// What the token is for, such as the tool that uses it.
    #[arg(value_name = "NAME")]
    pub name: String,
    #[arg(long, value_enum, default_value = "read")]
    pub scope: ScopeArg,
    #[command(flatten)]
    pub database: DatabaseArg,
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Subscribe a webhook. Prints the subscription's id and its signing
    /// secret (shown once).
    AddWebhook(AddWebhookArgs),
    /// Subscribe an email address. The address gets a confirmation mail
    /// (sent by the running server) and nothing else until it confirms.
    AddEmail(AddEmailArgs),
    /// List the subscriptions.
    List(ListArgs),
    /// Delete a subscription and its deliveries.
    Remove(AlertIdArgs),
    /// Send a test event to a subscription.
    Test(AlertIdArgs),
    /// The latest deliveries, newest first.
    Deliveries(ListArgs),
    /// Send a dead delivery again, from its first attempt.
    Replay(AlertIdArgs),
    /// Receive webhooks on a loopback address and print each alert in one
    /// line, checking its signature against the given secrets: a receiver
    /// for trying alerts out (with `faultline demo`, say).
    Listen(ListenArgs),
}

#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Where to listen (loopback only).
    #[arg(value_name = "ADDR", default_value = "127.0.0.1:9000")]
    pub listen: std::net::SocketAddr,
    /// A subscription's signing secret (`whsec_...`); repeat for several.
    #[arg(long, value_name = "SECRET")]
    pub secret: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AddEmailArgs {
    #[arg(value_name = "ADDRESS")]
    pub address: String,
    #[command(flatten)]
    pub scopes: ScopeArgs,
    /// Event types, comma-separated (as for add-webhook) [default: all but
    /// provider.suspected]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub events: Vec<String>,
    /// While a provider outage stays confirmed, a reminder this often.
    #[arg(long, value_name = "HOURS", default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=168))]
    pub remind_hours: u16,
    #[command(flatten)]
    pub database: DatabaseArg,
}

#[derive(Debug, Args)]
pub struct AddWebhookArgs {
    /// Where to POST alerts (http or https).
    #[arg(value_name = "URL")]
    pub url: String,
    /// How the body is shaped.
    #[arg(long, value_enum, default_value_t = AlertFormatArg::Standard)]
    pub format: AlertFormatArg,
    #[command(flatten)]
    pub scopes: ScopeArgs,
    /// Event types, comma-separated (provider.suspected, provider.confirmed,
    /// provider.recovering, provider.resolved, provider.relapsed,
    /// provider.spread, site.down, site.recovered, site.explained,
    /// site.provider_failing) [default: all but provider.suspected]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub events: Vec<String>,
    /// Least seconds between two alerts of one incident.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub min_interval: u32,
    /// While a provider outage stays confirmed, a reminder this often.
    #[arg(long, value_name = "HOURS", default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=168))]
    pub remind_hours: u16,
    #[command(flatten)]
    pub database: DatabaseArg,
}

/// What a subscription follows; at least one.
#[derive(Debug, Args)]
pub struct ScopeArgs {
    /// A provider, by id, optionally with a role: `cloudflare`, `cloudflare/dns`.
    #[arg(long, value_name = "ID[/ROLE]")]
    pub provider: Vec<String>,
    /// A site, by host.
    #[arg(long, value_name = "HOST")]
    pub site: Vec<String>,
    /// Every watched site with this tag.
    #[arg(long, value_name = "TAG")]
    pub tag: Vec<String>,
    /// Every provider incident, and every site that fails on its own.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct AlertIdArgs {
    #[arg(value_name = "ID")]
    pub id: i64,
    #[command(flatten)]
    pub database: DatabaseArg,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum AlertFormatArg {
    Standard,
    Slack,
    Discord,
    Teams,
    Ntfy,
}

impl From<AlertFormatArg> for engine::AlertFormat {
    fn from(format: AlertFormatArg) -> Self {
        match format {
            AlertFormatArg::Standard => Self::Standard,
            AlertFormatArg::Slack => Self::Slack,
            AlertFormatArg::Discord => Self::Discord,
            AlertFormatArg::Teams => Self::Teams,
            AlertFormatArg::Ntfy => Self::Ntfy,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an administrator. Prints a generated password once, or takes
    /// one from standard input with --password-stdin.
    Create(AdminArgs),
    /// Give an administrator a new password (generated, or from standard
    /// input) and end their sessions.
    Passwd(AdminArgs),
    /// List the administrators.
    List(DatabaseArg),
}

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The name to sign in with: letters, digits and . _ @ -
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Read the password from the first line of standard input (at least 12
    /// characters) instead of generating one.
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub database: DatabaseArg,
}

#[derive(Debug, Subcommand)]
pub enum ProvidersCommand {
    /// Validate a directory of provider files as `serve` would load it over
    /// the built-in set; errors name the file and line. Exit 2 if invalid.
    Check(ProvidersDirArg),
    /// Fetch the IP ranges providers publish (Cloudflare, Fastly,
    /// CloudFront, Google) into DIR/ipranges/, which overrides the built-in
    /// snapshot when DIR is the `[knowledge] dir`. Needs internet access.
    /// A source that fails leaves its previous file; exit 1 if any failed.
    RefreshRanges(RefreshRangesArgs),
}

#[derive(Debug, Args)]
pub struct ProvidersDirArg {
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct RefreshRangesArgs {
    /// The override directory (created if missing).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Where to fetch from, as TOML `[[source]]` tables (file, urls, format
    /// `lines` or `json` with `keys` and an optional `where`) [default: the providers' own lists]
    #[arg(long, value_name = "FILE")]
    pub sources: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// Raw HTTP responses (status line, headers, blank line, body) or bare
    /// HTML bodies; `-` reads standard input.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// What DNS said about the site, as JSON:
    /// `{"cname": [...], "addresses": [...], "ns": [...]}`.
    #[arg(long, value_name = "FILE")]
    pub dns: Option<PathBuf>,
    /// Provider files overlaying the builtin set [default: `[knowledge] dir` from the configuration]
    #[arg(long, value_name = "DIR")]
    pub providers: Option<PathBuf>,
    /// Print one plain sentence per file instead of JSON.
    #[arg(long)]
    pub text: bool,
}

/// Most bytes read of one file to classify; the classifier reads the first
/// 256 KiB of a body, so more is never needed.
const MAX_CLASSIFY_INPUT: u64 = 1024 * 1024;
/// Largest `--dns` file.
const MAX_DNS_FACTS_BYTES: usize = 64 * 1024;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Scenario to replay [default: the built-in Cloudflare 18 Nov 2025 scenario]
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Virtual seconds per real second [default: 120: the outage starts in about 25 s]
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub speed: u32,
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// The scenario `faultline demo` replays by default.
const DEMO_SCENARIO: &str = include_str!("../../scenarios/cloudflare-2025-11-18.toml");

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The scenario (TOML; see scenarios/FORMAT.md).
    #[arg(value_name = "SCENARIO")]
    pub file: PathBuf,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Keep the simulation's database here: a SQLite file or a PostgreSQL URL [default: a temporary file]
    #[arg(long, value_name = "FILE|URL")]
    pub database: Option<crate::config::Database>,
}

#[derive(Debug, Subcommand)]
pub enum SitesCommand {
    /// Add the sites of a watchlist file: a plain list of domains or URLs
    /// (one per line, optionally followed by a name), CSV
    /// (`url,name,tags,interval_s`) or TOML (`[[site]]` tables). Invalid lines
    /// are reported with their numbers and skipped; valid ones are kept.
    Import(ImportArgs),
    /// Print the watchlist.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The watchlist file; `-` reads standard input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// File format [default: from the extension: .csv, .toml, else plain]
    #[arg(long, value_enum)]
    pub format: Option<WatchlistFormat>,
    #[command(flatten)]
    pub database: DatabaseArg,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub database: DatabaseArg,
}

#[derive(Debug, Args)]
pub struct DatabaseArg {
    /// SQLite database file or PostgreSQL URL [default: from the configuration, data/faultline.db]
    #[arg(long, value_name = "FILE|URL")]
    pub database: Option<crate::config::Database>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum WatchlistFormat {
    Plain,
    Csv,
    Toml,
}

impl From<WatchlistFormat> for watchlist::Format {
    fn from(format: WatchlistFormat) -> Self {
        match format {
            WatchlistFormat::Plain => watchlist::Format::Plain,
            WatchlistFormat::Csv => watchlist::Format::Csv,
            WatchlistFormat::Toml => watchlist::Format::Toml,
        }
    }
}

#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:3000; env: FAULTLINE_LISTEN]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// SQLite database file, created if missing, or a PostgreSQL URL (postgres://…) [default: data/faultline.db; env: FAULTLINE_DATABASE]
    #[arg(long, value_name = "FILE|URL")]
    pub database: Option<crate::config::Database>,
    /// Directory of built web assets [default: target/site; env: FAULTLINE_SITE_ROOT]
    #[arg(long, value_name = "DIR")]
    pub site_root: Option<PathBuf>,
    /// Log format [default: text; env: FAULTLINE_LOG__FORMAT]
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter such as `info` or `server=debug` [default: info; env: FAULTLINE_LOG__LEVEL, RUST_LOG]
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
}

impl ServeArgs {
    fn overrides(&self) -> Overrides {
        let log = (self.log_format.is_some() || self.log_level.is_some()).then(|| LogOverrides {
            format: self.log_format,
            level: self.log_level.clone(),
        });
        Overrides {
            listen: self.listen,
            database: self.database.clone(),
            site_root: self.site_root.clone(),
            log,
        }
    }
}

/// Runs the chosen command and turns its outcome into an exit code.
pub fn run(cli: Cli) -> ExitCode {
    let command = cli.command.unwrap_or(Command::Serve(ServeArgs::default()));
    let result = match command {
        Command::Serve(args) => serve(cli.config, &args),
        Command::Sites(SitesCommand::Import(args)) => import(cli.config, &args),
        Command::Sites(SitesCommand::List(args)) => list(cli.config, &args),
        Command::Simulate(args) => simulate(&args),
        Command::Demo(args) => demo(cli.config, &args),
        Command::Classify(args) => classify(cli.config, &args),
        Command::Admin(AdminCommand::Create(args)) => admin_password(cli.config, &args, true),
        Command::Admin(AdminCommand::Passwd(args)) => admin_password(cli.config, &args, false),
        Command::Admin(AdminCommand::List(database)) => admin_list(cli.config, &database),
        Command::Providers(ProvidersCommand::Check(args)) => check_providers(&args),
        Command::Providers(ProvidersCommand::RefreshRanges(args)) => refresh_ranges(&args),
        Command::Alerts(command) => alerts(cli.config, command),
        Command::Tokens(command) => tokens(cli.config, command),
        Command::Agent(command) => agents::run(cli.config, command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("faultline: {message}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Runtime(error)) => {
            eprintln!("faultline: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Why a command failed: input we refuse (exit 2) or trouble while running (exit 1).
enum Failure {
    Usage(String),
    Runtime(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure::Runtime(error)
    }
}

impl From<StartupError> for Failure {
    fn from(error: StartupError) -> Self {
        match error {
            StartupError::Refused(message) => Failure::Usage(message),
            StartupError::Unexpected(error) => Failure::Runtime(error),
        }
    }
}

fn serve(config_file: Option<PathBuf>, args: &ServeArgs) -> Result<(), Failure> {
    let config = Config::load(config_file.as_deref(), &args.overrides())
        .map_err(|error| Failure::Usage(error.to_string()))?;
    crate::telemetry::init(config.log.format, &config.log.level);
    block_on(async {
        let application = Application::build(&config, CancellationToken::new()).await?;
        application.run_until_stopped().await?;
        Ok(())
    })
}

/// Loads the configuration for a command that only needs the database.
fn database_config(
    config_file: Option<PathBuf>,
    database: &DatabaseArg,
) -> Result<Config, Failure> {
    let overrides = Overrides {
        database: database.database.clone(),
        ..Overrides::default()
    };
    let config = Config::load(config_file.as_deref(), &overrides)
        .map_err(|error| Failure::Usage(error.to_string()))?;
    crate::telemetry::init(config.log.format, "warn");
    Ok(config)
}

async fn open_store(config: &Config) -> Result<store::Store, Failure> {
    Ok(crate::startup::open_store(&config.database).await?)
}

fn block_on<F: std::future::Future<Output = Result<(), Failure>>>(
    future: F,
) -> Result<(), Failure> {
    block_on_value(future)?
}

fn import(config_file: Option<PathBuf>, args: &ImportArgs) -> Result<(), Failure> {
    let config = database_config(config_file, &args.database)?;
    let text = read_input(&args.file, watchlist::MAX_WATCHLIST_BYTES)?;
    let format = args
        .format
        .map_or_else(|| watchlist::Format::from_path(&args.file), Into::into);
    let parsed = watchlist::parse(&text, format)
        .map_err(|error| Failure::Usage(format!("{}: {error}", args.file.display())))?;
    for rejected in &parsed.rejected {
        eprintln!(
            "{}:{}: {}",
            args.file.display(),
            rejected.line,
            rejected.reason
        );
    }
    block_on(async {
        let store = open_store(&config).await?;
        let added = store
            .add_sites(&parsed.sites, chrono::Utc::now())
            .await
            .map_err(|e| Failure::Runtime(e.into()));
        store.close().await;
        let added = added?;
        println!(
            "imported {added} new sites ({} already watched), skipped {} invalid lines",
            parsed.sites.len() as u64 - added,
            parsed.rejected.len()
        );
        Ok(())
    })
}

/// Creates an administrator (`create`) or replaces their password.
fn admin_password(
    config_file: Option<PathBuf>,
    args: &AdminArgs,
    create: bool,
) -> Result<(), Failure> {
    use app::admin::password;
    let name = args.name.trim();
    let valid_name = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c));
    if !valid_name {
        return Err(Failure::Usage(format!(
            "{name:?} is not a valid name: use 1 to 64 letters, digits and . _ @ -"
        )));
    }
    let (secret, generated) = if args.password_stdin {
        let text = read_input(std::path::Path::new("-"), 4096)?;
        let line = text.lines().next().unwrap_or_default().to_owned();
        let length = line.chars().count();
        if !(password::MIN_LENGTH..=1024).contains(&length) {
            return Err(Failure::Usage(format!(
                "the password must be {} to 1024 characters long",
                password::MIN_LENGTH
            )));
        }
        (line, false)
    } else {
        (password::generate(), true)
    };
    let hash = password::hash(&secret).map_err(|e| Failure::Runtime(anyhow::anyhow!(e)))?;
    let config = database_config(config_file, &args.database)?;
    block_on(async {
        let store = open_store(&config).await?;
        let now = chrono::Utc::now();
        let outcome = if create {
            store
                .create_admin(name, &hash, now)
                .await
                .map(|id| id.is_some())
        } else {
            store.set_admin_password(name, &hash).await
        };
        let audit = if create {
            "create admin"
        } else {
            "new password"
        };
        if let Ok(true) = outcome {
            if let Err(error) = store.record_audit("command line", audit, name, now).await {
                tracing::warn!(%error, "the change is made but missing from the audit trail");
            }
        }
        store.close().await;
        match outcome.map_err(|e| Failure::Runtime(e.into()))? {
            true => {
                let done = if create {
                    "created administrator"
                } else {
                    "new password for"
                };
                if generated {
                    println!("{done} {name}; password (shown once): {secret}");
                } else {
                    println!("{done} {name}");
                }
                Ok(())
            }
            false if create => Err(Failure::Usage(format!(
                "an administrator named {name} exists; use `faultline admin passwd {name}`"
            ))),
            false => Err(Failure::Usage(format!("no administrator named {name}"))),
        }
    })
}

fn alerts(config_file: Option<PathBuf>, command: AlertsCommand) -> Result<(), Failure> {
    let database = match &command {
        AlertsCommand::Listen(args) => return alerts_listen(args),
        AlertsCommand::AddWebhook(args) => &args.database,
        AlertsCommand::AddEmail(args) => &args.database,
        AlertsCommand::List(args) | AlertsCommand::Deliveries(args) => &args.database,
        AlertsCommand::Remove(args) | AlertsCommand::Test(args) | AlertsCommand::Replay(args) => {
            &args.database
        }
    };
    let config = database_config(config_file, database)?;
    let new = match &command {
        AlertsCommand::AddWebhook(args) => Some(new_webhook(args, &config)?),
        AlertsCommand::AddEmail(args) => Some(new_email(args)?),
        _ => None,
    };
    block_on(async {
        let store = open_store(&config).await?;
        let done = alerts_with(&store, command, new).await;
        store.close().await;
        done
    })
}

/// A webhook subscription from the command line, checked: the URL against
/// the delivery guard, the scopes and the event names.
fn new_webhook(args: &AddWebhookArgs, config: &Config) -> Result<store::NewSubscription, Failure> {
    crate::alerts::webhook::check_target(&args.url, &config.alerts.guard()).map_err(|reason| {
        let hint = if reason.starts_with("refused") {
            "; deliveries reach private and loopback receivers only if [alerts] allowed_networks \
             lists them (for example FAULTLINE_ALERTS__ALLOWED_NETWORKS='[\"127.0.0.0/8\"]')"
        } else {
            ""
        };
        Failure::Usage(format!("{}: {reason}{hint}", args.url))
    })?;
    let interests = interests(&args.scopes, &args.events)?;
    Ok(store::NewSubscription {
        channel: engine::AlertChannel::Webhook,
        format: args.format.into(),
        target: args.url.clone(),
        secrets: vec![crate::alerts::sign::new_secret()],
        interests,
        min_interval_s: i64::from(args.min_interval),
        remind_every_s: i64::from(args.remind_hours) * 3600,
        confirmed_at: None,
        created_by: "command line".to_owned(),
        owner: None,
    })
}

/// An email subscription from the command line, unconfirmed.
fn new_email(args: &AddEmailArgs) -> Result<store::NewSubscription, Failure> {
    let address = args.address.trim();
    let valid = address.len() <= 254 && address.parse::<lettre::Address>().is_ok();
    if !valid {
        return Err(Failure::Usage(format!(
            "{address:?} is not an email address"
        )));
    }
    Ok(store::NewSubscription {
        channel: engine::AlertChannel::Email,
        format: engine::AlertFormat::Standard,
        target: address.to_owned(),
        secrets: Vec::new(),
        interests: interests(&args.scopes, &args.events)?,
        min_interval_s: 0,
        remind_every_s: i64::from(args.remind_hours) * 3600,
        confirmed_at: None,
        created_by: "command line".to_owned(),
        owner: None,
    })
}

/// What a subscription follows and hears, from the command line's words.
fn interests(
    scope_args: &ScopeArgs,
    event_names: &[String],
) -> Result<engine::alert::Interests, Failure> {
    let mut scopes = Vec::new();
    if scope_args.all {
        scopes.push("all".to_owned());
    }
    scopes.extend(scope_args.provider.iter().map(|p| format!("provider:{p}")));
    scopes.extend(scope_args.site.iter().map(|s| format!("site:{s}")));
    scopes.extend(scope_args.tag.iter().map(|t| format!("tag:{t}")));
    if scopes.is_empty() {
        return Err(Failure::Usage(
            "say what to follow: --provider, --site, --tag or --all".to_owned(),
        ));
    }
    if scopes.len() > engine::alert::MAX_SCOPES {
        return Err(Failure::Usage(format!(
            "at most {} scopes",
            engine::alert::MAX_SCOPES
        )));
    }
    let scopes = scopes
        .iter()
        .map(|text| engine::alert::Scope::parse(text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| Failure::Usage(error.to_string()))?;
    let events = if event_names.is_empty() {
        engine::AlertEvent::DEFAULTS.to_vec()
    } else {
        event_names
            .iter()
            .map(|name| {
                engine::AlertEvent::from_name(name.trim())
                    .filter(|e| {
                        !matches!(e, engine::AlertEvent::Unknown | engine::AlertEvent::Test)
                    })
                    .ok_or_else(|| Failure::Usage(format!("{name:?} is not an event type")))
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    Ok(engine::alert::Interests {
        scopes,
        events,
        mutes: Vec::new(),
    })
}

fn alerts_listen(args: &ListenArgs) -> Result<(), Failure> {
    let addr = crate::alerts::listen::check_address(args.listen).map_err(Failure::Usage)?;
    crate::telemetry::init(crate::config::LogFormat::Text, "warn");
    block_on(async {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|error| Failure::Usage(format!("cannot listen on {addr}: {error}")))?;
        let shutdown = CancellationToken::new();
        let tasks = tokio_util::task::TaskTracker::new();
        crate::shutdown::cancel_on_signal(&tasks, shutdown.clone());
        println!("listening for alerts on http://{addr}/ (Ctrl-C to stop)");
        let say: Arc<dyn Fn(String) + Send + Sync> = Arc::new(|line| println!("{line}"));
        crate::alerts::listen::listen(listener, args.secret.clone(), say, shutdown)
            .await
            .map_err(|error| {
                Failure::Runtime(anyhow::Error::new(error).context("the listener failed"))
            })?;
        tasks.close();
        tasks.wait().await;
        Ok(())
    })
}

async fn alerts_with(
    store: &store::Store,
    command: AlertsCommand,
    new: Option<store::NewSubscription>,
) -> Result<(), Failure> {
    let failed = |error: store::StoreError| Failure::Runtime(error.into());
    let now = chrono::Utc::now();
    match command {
        AlertsCommand::AddWebhook(_) => {
            let Some(new) = new else { return Ok(()) };
            let id = store.create_subscription(&new, now).await.map_err(failed)?;
            let secret = new.secrets.first().cloned().unwrap_or_default();
            println!("subscription {id}; signing secret (shown once): {secret}");
        }
        AlertsCommand::AddEmail(_) => {
            let Some(new) = new else { return Ok(()) };
            /// Subscriptions one address may hold.
            const PER_ADDRESS: i64 = 50;
            if store.subscriptions_of(&new.target).await.map_err(failed)? >= PER_ADDRESS {
                return Err(Failure::Usage(format!(
                    "{} has {PER_ADDRESS} subscriptions already",
                    new.target
                )));
            }
            let id = store.create_subscription(&new, now).await.map_err(failed)?;
            println!(
                "subscription {id}; a running server mails {} a confirmation link, and nothing else until it is followed",
                new.target
            );
        }
        AlertsCommand::List(args) => {
            for subscription in store.subscriptions().await.map_err(failed)? {
                if args.json {
                    let mut value = serde_json::to_value(&subscription)
                        .map_err(|e| Failure::Runtime(e.into()))?;
                    // The secrets were shown once, at creation.
                    if let Some(object) = value.as_object_mut() {
                        object.remove("secrets");
                    }
                    println!("{value}");
                } else {
                    let scopes: Vec<String> = subscription
                        .interests
                        .scopes
                        .iter()
                        .map(ToString::to_string)
                        .collect();
                    let state = match &subscription.disabled_reason {
                        Some(reason) => format!("disabled: {reason}"),
                        None => "active".to_owned(),
                    };
                    println!(
                        "{}\t{} {}\t{}\t{}\t{state}",
                        subscription.id,
                        subscription.channel.as_str(),
                        subscription.format,
                        subscription.target,
                        scopes.join(" "),
                    );
                }
            }
        }
        AlertsCommand::Remove(args) => {
            if !store.remove_subscription(args.id).await.map_err(failed)? {
                return Err(Failure::Usage(format!("no subscription {}", args.id)));
            }
            println!("removed subscription {}", args.id);
        }
        AlertsCommand::Test(args) => {
            if store.subscription(args.id).await.map_err(failed)?.is_none() {
                return Err(Failure::Usage(format!("no subscription {}", args.id)));
            }
            store.queue_test_event(args.id, now).await.map_err(failed)?;
            println!(
                "test event queued for subscription {}; a running server sends it",
                args.id
            );
        }
        AlertsCommand::Deliveries(args) => {
            for line in store.delivery_log(None, 100).await.map_err(failed)? {
                if args.json {
                    let json =
                        serde_json::to_string(&line).map_err(|e| Failure::Runtime(e.into()))?;
                    println!("{json}");
                } else {
                    println!(
                        "{}\t{}\t{}\t{:?}\tattempts {}\t{}\t{}",
                        line.id,
                        line.sent_as,
                        line.target,
                        line.state,
                        line.attempts,
                        line.last_status.map(|s| s.to_string()).unwrap_or_default(),
                        line.last_error.unwrap_or_default(),
                    );
                }
            }
        }
        AlertsCommand::Listen(_) => {}
        AlertsCommand::Replay(args) => {
            if !store.replay_delivery(args.id, now).await.map_err(failed)? {
                return Err(Failure::Usage(format!("no dead delivery {}", args.id)));
            }
            println!("delivery {} queued again", args.id);
        }
    }
    Ok(())
}

fn tokens(config_file: Option<PathBuf>, command: TokensCommand) -> Result<(), Failure> {
    match command {
        TokensCommand::Create(args) => {
            let name = args.name.trim();
            if !app::admin_tokens::valid_name(name) {
                return Err(Failure::Usage(format!(
                    "a token's name needs 1 to {} printable characters",
                    app::admin_tokens::MAX_TOKEN_NAME
                )));
            }
            let scope = match args.scope {
                ScopeArg::Read => store::TokenScope::Read,
                ScopeArg::Write => store::TokenScope::Write,
            };
            let config = database_config(config_file, &args.database)?;
            block_on(async {
                let store = open_store(&config).await?;
                let (token, hash) = app::admin_tokens::new_token();
                let made = store
                    .create_api_token(name, scope, &hash, "command line", chrono::Utc::now())
                    .await;
                if made.is_ok() {
                    let _ = store
                        .record_audit("command line", "create token", name, chrono::Utc::now())
                        .await;
                }
                store.close().await;
                let id = made.map_err(|e| Failure::Runtime(e.into()))?;
                eprintln!(
                    "Token {id} ({}) for {name}. Shown once: keep it now.",
                    scope.as_str()
                );
                println!("{token}");
                Ok(())
            })
        }
        TokensCommand::List(args) => {
            let config = database_config(config_file, &args.database)?;
            block_on(async {
                let store = open_store(&config).await?;
                let tokens = store.api_tokens().await;
                store.close().await;
                for token in tokens.map_err(|e| Failure::Runtime(e.into()))? {
                    if args.json {
                        let line = serde_json::to_string(&token)
                            .map_err(|e| Failure::Runtime(e.into()))?;
                        println!("{line}");
                    } else {
                        let when = |at: Option<chrono::DateTime<chrono::Utc>>| {
                            at.map_or("-".to_owned(), |at| at.format("%Y-%m-%d %H:%M").to_string())
                        };
                        println!(
                            "{}\t{}\t{}\tused {}\t{}",
                            token.id,
                            token.name,
                            token.scope.as_str(),
                            when(token.last_used_at),
                            token.revoked_at.map_or("live".to_owned(), |at| format!(
                                "revoked {}",
                                when(Some(at))
                            ))
                        );
                    }
                }
                Ok(())
            })
        }
        TokensCommand::Revoke(args) => {
            let config = database_config(config_file, &args.database)?;
            block_on(async {
                let store = open_store(&config).await?;
                let revoked = store.revoke_api_token(args.id, chrono::Utc::now()).await;
                if matches!(revoked, Ok(true)) {
                    let _ = store
                        .record_audit(
                            "command line",
                            "revoke token",
                            &args.id.to_string(),
                            chrono::Utc::now(),
                        )
                        .await;
                }
                store.close().await;
                match revoked.map_err(|e| Failure::Runtime(e.into()))? {
                    true => {
                        eprintln!("Token {} revoked.", args.id);
                        Ok(())
                    }
                    false => Err(Failure::Usage(format!("no live token {}", args.id))),
                }
            })
        }
    }
}

fn admin_list(config_file: Option<PathBuf>, database: &DatabaseArg) -> Result<(), Failure> {
    let config = database_config(config_file, database)?;
    block_on(async {
        let store = open_store(&config).await?;
        let admins = store.list_admins().await;
        store.close().await;
        for admin in admins.map_err(|e| Failure::Runtime(e.into()))? {
            println!("{}", admin.username);
        }
        Ok(())
    })
}

fn list(config_file: Option<PathBuf>, args: &ListArgs) -> Result<(), Failure> {
    let config = database_config(config_file, &args.database)?;
    block_on(async {
        let store = open_store(&config).await?;
        let sites = store
            .list_sites()
            .await
            .map_err(|e| Failure::Runtime(e.into()));
        store.close().await;
        for site in sites? {
            if args.json {
                let line = serde_json::to_string(&site).map_err(|e| Failure::Runtime(e.into()))?;
                println!("{line}");
            } else {
                println!(
                    "{}\t{}\t{}s\t{}",
                    site.url, site.name, site.interval_s, site.tags
                );
            }
        }
        Ok(())
    })
}

/// Reads a whole input file of at most `limit` bytes, or standard input for `-`.
fn read_input(path: &std::path::Path, limit: usize) -> Result<String, Failure> {
    use std::io::Read;
    let max = limit;
    let limit = limit as u64 + 1;
    let mut bytes = Vec::new();
    let result = if path.as_os_str() == "-" {
        std::io::stdin().take(limit).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|file| file.take(limit).read_to_end(&mut bytes))
    };
    result.map_err(|error| Failure::Usage(format!("cannot read {}: {error}", path.display())))?;
    if bytes.len() > max {
        return Err(Failure::Usage(format!(
            "{} is larger than {max} bytes",
            path.display()
        )));
    }
    String::from_utf8(bytes)
        .map_err(|_| Failure::Usage(format!("{} is not UTF-8 text", path.display())))
}

/// One line of `faultline classify`.
#[derive(serde::Serialize)]
struct ClassifiedFile<'a> {
    file: String,
    #[serde(flatten)]
    classification: &'a engine::Classification,
    explanation: String,
}

fn classify(config_file: Option<PathBuf>, args: &ClassifyArgs) -> Result<(), Failure> {
    crate::telemetry::init(LogFormat::Text, "error");
    let providers = match &args.providers {
        Some(dir) => Some(dir.clone()),
        None => {
            Config::load(config_file.as_deref(), &Overrides::default())
                .map_err(|error| Failure::Usage(error.to_string()))?
                .knowledge
                .dir
        }
    };
    let knowledge = match &providers {
        Some(dir) => crate::knowledge::load_dir(dir)
            .map(Arc::new)
            .map_err(|error| Failure::Usage(format!("provider files: {error}")))?,
        None => engine::KnowledgeBase::shared(),
    };
    let dns = match &args.dns {
        Some(path) => {
            let text = read_input(path, MAX_DNS_FACTS_BYTES)?;
            Some(
                serde_json::from_str::<engine::DnsFacts>(&text)
                    .map_err(|error| Failure::Usage(format!("{}: {error}", path.display())))?,
            )
        }
        None => None,
    };
    let mut unreadable = 0;
    for path in &args.files {
        let shown = path.display().to_string();
        let bytes = match read_bytes(path, MAX_CLASSIFY_INPUT) {
            Ok(bytes) => bytes,
            Err(error) => {
                unreadable += 1;
                eprintln!("faultline: cannot read {shown}: {error}");
                if !args.text {
                    println!(
                        "{}",
                        serde_json::json!({ "file": shown, "error": error.to_string() })
                    );
                }
                continue;
            }
        };
        let mut observation = engine::Observation::parse(&bytes);
        observation.dns.clone_from(&dns);
        let classification = knowledge.classify(&observation);
        let explanation = knowledge.explain(&classification);
        if args.text {
            println!("{shown}: {explanation}");
        } else {
            let line = ClassifiedFile {
                file: shown,
                classification: &classification,
                explanation,
            };
            let json = serde_json::to_string(&line).map_err(|e| Failure::Runtime(e.into()))?;
            println!("{json}");
        }
    }
    if unreadable > 0 {
        return Err(Failure::Usage(format!(
            "{unreadable} of {} files could not be read",
            args.files.len()
        )));
    }
    Ok(())
}

fn check_providers(args: &ProvidersDirArg) -> Result<(), Failure> {
    let base = crate::knowledge::load_dir(&args.dir)
        .map_err(|error| Failure::Usage(format!("provider files: {error}")))?;
    println!(
        "{}: valid; {} providers and origin servers known, {} IP ranges",
        args.dir.display(),
        base.ids().count(),
        base.ip_range_count()
    );
    Ok(())
}

fn refresh_ranges(args: &RefreshRangesArgs) -> Result<(), Failure> {
    crate::telemetry::init(LogFormat::Text, "warn");
    let text = match &args.sources {
        Some(path) => read_input(path, 64 * 1024)?,
        None => crate::ranges::DEFAULT_SOURCES.to_owned(),
    };
    let sources =
        crate::ranges::Sources::parse(&text).map_err(|error| Failure::Usage(error.to_string()))?;
    std::fs::create_dir_all(&args.dir).map_err(|error| {
        Failure::Usage(format!("cannot create {}: {error}", args.dir.display()))
    })?;
    let outcomes = block_on_value(crate::ranges::refresh(&args.dir, &sources))?;
    let mut failed = 0;
    for outcome in &outcomes {
        match &outcome.result {
            Ok(count) => println!("{}: {count} prefixes", outcome.file),
            Err(error) => {
                failed += 1;
                eprintln!(
                    "faultline: {}: kept the previous file: {error}",
                    outcome.file
                );
            }
        }
    }
    if failed > 0 {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "{failed} of {} sources could not be refreshed",
            outcomes.len()
        )));
    }
    Ok(())
}

fn block_on_value<T, F: std::future::Future<Output = T>>(future: F) -> Result<T, Failure> {
    Ok(tokio::runtime::Runtime::new()
        .map_err(|error| {
            Failure::Runtime(anyhow::Error::new(error).context("failed to start the async runtime"))
        })?
        .block_on(future))
}

/// The first `limit` bytes of a file, or of standard input for `-`.
fn read_bytes(path: &std::path::Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin().take(limit).read_to_end(&mut bytes)?;
    } else {
        std::fs::File::open(path)?
            .take(limit)
            .read_to_end(&mut bytes)?;
    }
    Ok(bytes)
}

fn simulate(args: &SimulateArgs) -> Result<(), Failure> {
    crate::telemetry::init(crate::config::LogFormat::Text, "error");
    let text = read_input(&args.file, crate::sim::scenario::MAX_SCENARIO_BYTES)?;
    let scenario = crate::sim::scenario::Scenario::parse(&text)
        .map_err(|error| Failure::Usage(format!("{}: {error}", args.file.display())))?;
    let scratch = tempfile::tempdir().map_err(|e| {
        Failure::Runtime(anyhow::Error::new(e).context("failed to create a temporary directory"))
    })?;
    let database = args
        .database
        .clone()
        .unwrap_or_else(|| crate::config::Database::File(scratch.path().join("simulation.db")));
    let started = std::time::Instant::now();
    block_on(async {
        let report = crate::sim::simulate::simulate(&scenario, &database)
            .await
            .map_err(|e| {
                Failure::Runtime(anyhow::Error::new(e).context("the simulation failed"))
            })?;
        let unmet = crate::sim::simulate::check(&scenario, &report);
        if args.json {
            let json = serde_json::to_string(&report).map_err(|e| Failure::Runtime(e.into()))?;
            println!("{json}");
        } else {
            println!(
                "{}: {} to {}, {} probes, simulated in {:.1} s",
                report.scenario,
                report.start,
                report.end,
                report.probes,
                started.elapsed().as_secs_f64()
            );
            for incident in &report.incidents {
                if let crate::sim::simulate::ReportIncident::Provider {
                    provider,
                    role,
                    mechanism,
                    origins,
                    onset_at,
                    detected_at,
                    resolved_at,
                    peak_share,
                    sites_affected,
                    pattern,
                    confidence,
                    acknowledged_at,
                    lead_time_s,
                    ..
                } = incident
                {
                    let role = match (mechanism, origins) {
                        (engine::Mechanism::EdgeToOrigin, Some(origins)) => {
                            format!("{role}, edge to origin, {origins} unrelated origins")
                        }
                        _ => role.to_string(),
                    };
                    println!(
                        "provider incident: {provider} ({role}), onset {onset_at}, detected {detected_at}, resolved {}, peak {:.0} %, {sites_affected} sites, {pattern}, confidence {:.0} %",
                        resolved_at.as_deref().unwrap_or("no"),
                        peak_share * 100.0,
                        confidence * 100.0
                    );
                    if let (Some(at), Some(lead)) = (acknowledged_at, lead_time_s) {
                        let minutes = lead.abs() / 60;
                        let order = if *lead >= 0 { "after" } else { "before" };
                        println!(
                            "  {provider}'s status page acknowledged it at {at}, {minutes} min {order} Faultline detected it"
                        );
                    }
                }
            }
            for statement in &report.unmatched_statements {
                println!(
                    "statement matching no incident: {} {} {} \"{}\"",
                    statement.provider, statement.at, statement.status, statement.title
                );
            }
            let sites = report
                .incidents
                .iter()
                .filter(|i| matches!(i, crate::sim::simulate::ReportIncident::Site { .. }))
                .count();
            println!("site incidents: {sites}");
            for event in &report.vantage_events {
                println!(
                    "vantage {} from {} until {}",
                    event.state,
                    event.from,
                    event.until.as_deref().unwrap_or("the end")
                );
            }
            for event in &report.resolver_events {
                println!(
                    "resolver {} failing from {} until {} (probes went on through the others)",
                    event.resolver,
                    event.from,
                    event.until.as_deref().unwrap_or("the end")
                );
            }
            for alert in &report.alerts {
                println!(
                    "alert {} to {} at {}",
                    alert.event, alert.subscription, alert.at
                );
            }
        }
        for failure in &unmet {
            eprintln!("expectation not met: {failure}");
        }
        if !unmet.is_empty() {
            return Err(Failure::Runtime(anyhow::anyhow!(
                "{} expectation(s) of {} not met",
                unmet.len(),
                scenario.name
            )));
        }
        Ok(())
    })
}

fn demo(config_file: Option<PathBuf>, args: &DemoArgs) -> Result<(), Failure> {
    let config = Config::load(config_file.as_deref(), &args.serve.overrides())
        .map_err(|error| Failure::Usage(error.to_string()))?;
    crate::telemetry::init(config.log.format, "warn");
    let text = match &args.scenario {
        Some(path) => read_input(path, crate::sim::scenario::MAX_SCENARIO_BYTES)?,
        None => DEMO_SCENARIO.to_owned(),
    };
    let scenario = crate::sim::scenario::Scenario::parse(&text)
        .map_err(|error| Failure::Usage(error.to_string()))?;
    // The replay writes a database of its own: a named file must be new, so
    // a demo can never write into a real one.
    let scratch = tempfile::tempdir().map_err(|e| {
        Failure::Runtime(anyhow::Error::new(e).context("failed to create a temporary directory"))
    })?;
    let database = match &args.serve.database {
        Some(crate::config::Database::Postgres(_)) => {
            return Err(Failure::Usage(
                "the demo replays into a SQLite file of its own; name a file, not a PostgreSQL server"
                    .to_owned(),
            ))
        }
        Some(crate::config::Database::File(path)) if path.exists() => {
            return Err(Failure::Usage(format!(
                "{} already exists: the demo writes a new database, so name a file that does not exist yet",
                path.display()
            )))
        }
        Some(crate::config::Database::File(path)) => path.clone(),
        None => scratch.path().join("demo.db"),
    };
    block_on(async {
        crate::startup::demo(&config, &scenario, args.speed, &database).await?;
        Ok(())
    })
}
