//! `faultline agent run`: this binary as a probe agent. It probes its share
//! of its central's watchlist with the same prober, schedule and
//! own-network guard as a central, keeps no database, and sends what it
//! finds to the central through its spool.

use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::startup::StartupError;

/// An agent as the operator starts it.
#[derive(Clone, Debug)]
pub struct AgentRun {
    /// The central's public address, `https://status.example`.
    pub central: url::Url,
    pub token: String,
    /// Where batches wait until the central has them.
    pub spool: PathBuf,
    /// The spool's bound in bytes.
    pub spool_bytes: u64,
}

/// Probes until SIGINT/SIGTERM or `shutdown`, then sends what it can in a
/// few seconds and leaves the rest in the spool for the next start.
pub async fn run(
    config: &Config,
    agent: AgentRun,
    shutdown: CancellationToken,
) -> Result<(), StartupError> {
    if !matches!(agent.central.scheme(), "http" | "https") {
        return Err(StartupError::Refused(format!(
            "the central's address must be http or https: {}",
            agent.central
        )));
    }
    let loopback = match agent.central.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    if agent.central.scheme() == "http" && !loopback {
        tracing::warn!(
            central = %agent.central,
            "the central is reached over plain http: its token and results travel in clear"
        );
    }
    let (spool, recovered) = super::spool::Spool::open(&agent.spool, agent.spool_bytes)
        .map_err(|error| StartupError::Refused(error.to_string()))?;
    if recovered.batches > 0 {
        tracing::info!(
            spool.batches = recovered.batches,
            "batches from before the last stop wait in the spool; sending them first"
        );
    }
    let central = super::link::Central::new(agent.central.clone(), agent.token)
        .map_err(|error| StartupError::Refused(format!("cannot make an HTTP client: {error}")))?;
    let knowledge = crate::knowledge::Knowledge::load(config.knowledge.dir.as_deref());
    let prober = crate::startup::live_prober(config, &knowledge)?;
    let mut monitor_config = config.monitor.to_monitor_config(
        std::time::Duration::from_millis(config.probe.total_timeout_ms),
        crate::startup::probes_open_files(),
    );
    // The assignment arrives in its own time; the loop looks at it often.
    monitor_config.sync_every = chrono::TimeDelta::seconds(2);
    let monitor = crate::monitor::Monitor::for_agent(
        central,
        spool,
        Arc::new(crate::clock::SystemClock),
        Arc::new(prober),
        monitor_config,
    );
    tracing::info!(central = %agent.central, spool = %agent.spool.display(), "probing as an agent");
    let tasks = TaskTracker::new();
    crate::shutdown::cancel_on_signal(&tasks, shutdown.clone());
    tasks.spawn(
        knowledge
            .clone()
            .watch(config.knowledge.reload_seconds, shutdown.clone()),
    );
    tasks.spawn(monitor.run(shutdown));
    tasks.close();
    tasks.wait().await;
    Ok(())
}
