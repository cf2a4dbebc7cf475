//! The command line: `faultline [serve]` and its sibling commands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, LogFormat, LogOverrides, Overrides};
use crate::http::{self, AppState};

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
}

#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:3000; env: FAULTLINE_LISTEN]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// SQLite database file, created if missing [default: data/faultline.db; env: FAULTLINE_DATABASE]
    #[arg(long, value_name = "FILE")]
    pub database: Option<PathBuf>,
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

fn serve(config_file: Option<PathBuf>, args: &ServeArgs) -> Result<(), Failure> {
    let config = Config::load(config_file.as_deref(), &args.overrides())
        .map_err(|error| Failure::Usage(error.to_string()))?;
    crate::telemetry::init(config.log.format, &config.log.level);
    let runtime = tokio::runtime::Runtime::new().map_err(|error| {
        Failure::Runtime(anyhow::Error::new(error).context("cannot start the async runtime"))
    })?;
    runtime.block_on(serve_async(config))
}

async fn serve_async(config: Config) -> Result<(), Failure> {
    let store = store::Store::open(&config.database)
        .await
        .map_err(|error| Failure::Usage(error.to_string()))?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|error| Failure::Usage(format!("cannot listen on {}: {error}", config.listen)))?;
    let shutdown = CancellationToken::new();
    crate::shutdown::cancel_on_signal(shutdown.clone());

    tracing::info!(
        address = %config.listen,
        database = %config.database.display(),
        "serving Faultline at http://{}",
        config.listen
    );
    let state = AppState::new(&config, store.clone());
    let served = http::serve(listener, state, shutdown).await;
    store.close().await;
    tracing::info!("stopped cleanly");
    served.map_err(|error| {
        Failure::Runtime(anyhow::Error::new(error).context("the web server failed"))
    })
}
