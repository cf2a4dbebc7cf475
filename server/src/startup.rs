//! Start-up: from a validated configuration to the running service. Opens
//! the store, loads the knowledge base, builds the probers, the monitor and
//! the HTTP state, and starts the long-lived tasks; `serve` and `demo` run
//! them until shutdown. Each step says what failed.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::FromRef;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::http::{self, AppState};
use crate::knowledge::Knowledge;
use crate::sim::scenario::Scenario;
use crate::sim::simulate::Simulation;

/// Why the service did not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Input we refuse: an address we cannot listen on, a database path we
    /// cannot create, a probe setting the prober rejects. The message names it.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// The service `faultline serve` runs: built, not yet serving.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    store: store::Store,
    shutdown: CancellationToken,
    /// Every long-lived task: the signal listener, the knowledge reloads,
    /// the cluster's (which tracks the leader's work: the monitor, with its
    /// own writer and correlation tasks, the dispatcher, the status poller).
    tasks: TaskTracker,
}

impl Application {
    /// Opens the store (creating and migrating it if needed), binds the
    /// listener and starts the background work; `shutdown` (also cancelled
    /// by SIGINT/SIGTERM) stops it all.
    pub async fn build(config: &Config, shutdown: CancellationToken) -> Result<Self, StartupError> {
        let store = open_store(&config.database).await?;
        seed_default_watchlist(&store)
            .await
            .context("failed to fill the empty watchlist")?;
        let listener = bind(config.listen).await?;
        tracing::info!(
            http.address = %config.listen,
            store.database = %config.database,
            "serving Faultline at http://{}",
            config.listen
        );
        match store.list_admins().await {
            Ok(admins) if admins.is_empty() => tracing::info!(
                "no administrator yet: create one with `faultline admin create NAME` to use /admin"
            ),
            Ok(_) => {}
            // Only a hint is lost; the pages say more if the database is unwell.
            Err(error) => tracing::debug!(%error, "cannot list the administrators"),
        }
        let knowledge = Knowledge::load(config.knowledge.dir.as_deref());
        let probe_prober = if config.monitor.enabled {
            Some(Arc::new(live_prober(config, &knowledge)?))
        } else {
            None
        };
        let on_demand = if config.on_demand.enabled {
            // Its own policy: never the watchlist prober's private ranges.
            let mut public = config.clone();
            public.probe.guard = probe::GuardPolicy::public_web();
            Some(live_prober(&public, &knowledge)?)
        } else {
            None
        };

        let metrics_token = config
            .metrics
            .token_sha256()
            .map_err(StartupError::Refused)?;
        let metrics_listener = match config.metrics.listen {
            Some(address) => Some(bind(address).await?),
            None => None,
        };
        let metrics = crate::metrics::Metrics::new();
        // Email's links are signed with a key kept in the database.
        let signer = match &config.alerts.smtp_url {
            Some(_) => Some(
                crate::alerts::token::Signer::load(&store)
                    .await
                    .context("failed to load the key that signs alert links")?,
            ),
            None => None,
        };
        // Deliveries, and webhooks added from the pages, keep to one guard.
        let mut delivery_guard = config.alerts.guard();
        delivery_guard.own_addresses = own_public_addresses();
        let wake = Arc::new(tokio::sync::Notify::new());

        // The work one central does for all: the leader's.
        let duties = leader_duties(
            config,
            &store,
            &knowledge,
            probe_prober,
            &metrics,
            signer.clone(),
            delivery_guard.clone(),
            wake.clone(),
        );
        let published = crate::cluster::Published::default();
        let mut cluster = crate::cluster::Cluster::new(
            store.clone(),
            published.clone(),
            duties,
            config.monitor.enabled,
        );
        let term = cluster
            .lead_if_free(&shutdown)
            .await
            .map_err(|error| match error {
                crate::cluster::LeadError::Duties(inner) => {
                    match inner.downcast::<StartupError>() {
                        Ok(startup) => *startup,
                        Err(other) => StartupError::Unexpected(anyhow::anyhow!(other)),
                    }
                }
                ask @ crate::cluster::LeadError::Ask(_) => StartupError::Unexpected(
                    anyhow::Error::new(ask).context("failed to start as a central"),
                ),
            })?;
        // Nothing below fails, so no task is left behind by an error.
        let tasks = TaskTracker::new();
        crate::shutdown::cancel_on_signal(&tasks, shutdown.clone());
        tasks.spawn(
            knowledge
                .clone()
                .watch(config.knowledge.reload_seconds, shutdown.clone()),
        );
        tasks.spawn(cluster.run(term, shutdown.clone()));

        // Pages show "now" when this central probes or another shares it.
        let judged_here_or_shared = config.monitor.enabled || store.is_shared();
        let mut state =
            AppState::new(config, store.clone()).with_leading(published.leading.subscribe());
        if judged_here_or_shared {
            state = state.with_status(app::status::Status::new(
                published.status.subscribe(),
                Arc::new(chrono::Utc::now),
                stale_after(crate::watchlist::DEFAULT_INTERVAL_S),
            ));
        }
        let mut state = state.with_knowledge(knowledge.clone()).with_metrics(
            metrics.clone(),
            judged_here_or_shared.then(|| published.vantage.subscribe()),
            metrics_token,
        );
        if let Some(listener) = metrics_listener {
            let mut scrapes = crate::metrics::MetricsState::from_ref(&state);
            // Its own listener, on a network the operator chose: no token.
            scrapes.token_sha256 = None;
            let router = http::metrics_router(scrapes);
            let stop = shutdown.clone();
            tasks.spawn(async move {
                let served = axum::serve(listener, router)
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await;
                if let Err(error) = served {
                    tracing::error!(%error, "the metrics listener failed");
                }
            });
        }
        if let Some(signer) = signer {
            state = state.with_alert_links(signer, delivery_guard, wake);
        }
        if let Some(on_demand) = on_demand {
            state = state.with_on_demand(Arc::new(
                crate::ondemand::LiveCheck::new(on_demand, knowledge).with_metrics(metrics),
            ));
        }
        Ok(Self {
            listener,
            state,
            store,
            shutdown,
            tasks,
        })
    }

    /// The address the listener is bound to.
    pub fn address(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until shutdown, then waits for every task to finish and
    /// closes the store.
    pub async fn run_until_stopped(self) -> Result<(), StartupError> {
        let Self {
            listener,
            state,
            store,
            shutdown,
            tasks,
        } = self;
        let served = http::serve(listener, state, shutdown.clone()).await;
        shutdown.cancel();
        tasks.close();
        tasks.wait().await;
        store.close().await;
        tracing::info!("stopped cleanly");
        served.context("failed to serve HTTP")?;
        Ok(())
    }
}

/// Serves the web app over a simulation replaying `scenario` at `speed`
/// virtual seconds per real second, with its database at `database`, until
/// shutdown (SIGINT/SIGTERM).
pub async fn demo(
    config: &Config,
    scenario: &Scenario,
    speed: u32,
    database: &Path,
) -> Result<(), StartupError> {
    let listener = bind(config.listen).await?;
    let database = crate::config::Database::File(database.to_path_buf());
    let mut simulation = Simulation::start(scenario, &database, &site_url(config))
        .await
        .context("failed to start the synthetic internet")?;
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    crate::shutdown::cancel_on_signal(&tasks, shutdown.clone());
    println!(
        "Faultline demo: replaying {} ({}) at {}x on a synthetic internet.\nOpen http://{} and watch; Ctrl-C to stop.",
        scenario.name, scenario.description, speed, config.listen
    );
    let metrics_token = config
        .metrics
        .token_sha256()
        .map_err(StartupError::Refused)?;
    let state = AppState::new(config, simulation.store.clone())
        .with_status(
            replay_status(&simulation, scenario).with_replay(replay_banner(scenario, speed)),
        )
        .with_metrics(
            simulation.metrics(),
            Some(simulation.vantage()),
            metrics_token,
        );
    let server = tasks.spawn(http::serve(listener, state, shutdown.clone()));
    simulation.pace(scenario, speed, &shutdown).await;
    if !shutdown.is_cancelled() {
        println!("The replay has ended; the pages stay up until Ctrl-C.");
        shutdown.cancelled().await;
    }
    let served = server.await;
    tasks.close();
    tasks.wait().await;
    // The report is for `simulate`; here only a failure to stop matters.
    if let Err(error) = simulation.finish(scenario).await {
        tracing::warn!(%error, "the simulation did not stop cleanly");
    }
    served
        .context("failed to run the web server task")?
        .context("failed to serve HTTP")?;
    Ok(())
}

/// Where links that leave the server (alerts, mails) lead: `public_url`, or
/// the address it listens on.
fn site_url(config: &Config) -> String {
    config
        .public_url
        .as_ref()
        .map_or_else(|| format!("http://{}", config.listen), ToString::to_string)
}

/// Opens (creating and migrating if needed) the database. A directory we
/// cannot create is input we refuse; a database that does not open, connect
/// or migrate is a failure of its own, reported as such.
pub async fn open_store(database: &crate::config::Database) -> Result<store::Store, StartupError> {
    match database.open().await {
        Ok(store) => Ok(store),
        Err(error @ store::StoreError::CreateDir { .. }) => {
            Err(StartupError::Refused(error.to_string()))
        }
        Err(
            error @ (store::StoreError::Migrate { .. } | store::StoreError::MigratePostgres { .. }),
        ) => Err(anyhow::Error::new(error)
            .context("failed to migrate the database")
            .into()),
        Err(error) => Err(anyhow::Error::new(error)
            .context("failed to open the database")
            .into()),
    }
}

/// What the pages over a replay show: the simulation's snapshots, judged
/// against its virtual clock (which stands still once the replay ends).
pub fn replay_status(simulation: &Simulation, scenario: &Scenario) -> app::status::Status {
    let clock = simulation.clock.clone();
    app::status::Status::new(
        simulation.status(),
        Arc::new(move || crate::clock::Clock::now(&clock)),
        stale_after(scenario.probe_interval.num_seconds()),
    )
}

/// "Replay of cloudflare-2025-11-18 (Cloudflare edge 500s, ...) at 120×":
/// what every page of a demo says first.
pub fn replay_banner(scenario: &Scenario, speed: u32) -> String {
    format!(
        "Replay of {} ({}), from {}, at {speed}× on a synthetic internet: every time shown is the replay's clock.",
        scenario.name,
        scenario.description,
        scenario.start.format("%-d %b %Y %H:%M UTC"),
    )
}

/// Figures older than two probe intervals are called stale: probing may
/// have stalled.
fn stale_after(interval_s: i64) -> chrono::TimeDelta {
    chrono::TimeDelta::seconds(2 * interval_s.max(1))
}

async fn bind(address: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(address)
        .await
        .map_err(|error| StartupError::Refused(format!("cannot listen on {address}: {error}")))
}

pub(crate) fn live_prober(
    config: &Config,
    knowledge: &Arc<Knowledge>,
) -> Result<probe::LiveProber, StartupError> {
    let mut settings = config.probe.clone();
    settings.guard.own_addresses = own_public_addresses();
    Ok(probe::LiveProber::new(settings)
        .map_err(|error| StartupError::Refused(error.to_string()))?
        .with_knowledge(knowledge.clone()))
}

/// Open files the probes may hold: the process's limit, raised to what
/// the system allows, less a reserve for the database, the web server's
/// connections and everything else. A probe holds one socket at a time.
pub fn probes_open_files() -> usize {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "cannot read or raise the open-files limit; assuming 1024");
            1024
        }
    };
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let reserve = (limit / 8).max(512);
    let budget = limit.saturating_sub(reserve).max(64);
    tracing::info!(
        open_files.limit = limit,
        open_files.probes = budget,
        "open-files limit"
    );
    budget
}

/// What the leading central starts, each time it takes the lead: the
/// monitor (probes, writer, correlator), the alert dispatcher and the
/// status-page poller, as configured.
#[allow(
    clippy::too_many_arguments,
    reason = "the pieces start-up already built"
)]
fn leader_duties(
    config: &Config,
    store: &store::Store,
    knowledge: &Arc<Knowledge>,
    prober: Option<Arc<probe::LiveProber>>,
    metrics: &crate::metrics::Metrics,
    signer: Option<crate::alerts::token::Signer>,
    delivery_guard: probe::GuardPolicy,
    wake: Arc<tokio::sync::Notify>,
) -> crate::cluster::Duties {
    let config = config.clone();
    let store = store.clone();
    let knowledge = knowledge.clone();
    let metrics = metrics.clone();
    let open_files = prober.as_ref().map(|_| probes_open_files()).unwrap_or(0);
    Box::new(move |tasks, stop| {
        let mut leading = crate::cluster::Leading::default();
        if let Some(prober) = &prober {
            let monitor = crate::monitor::Monitor::new(
                store.clone(),
                Arc::new(crate::clock::SystemClock),
                prober.clone(),
                config.monitor.to_monitor_config(
                    std::time::Duration::from_millis(config.probe.total_timeout_ms),
                    open_files,
                ),
            )
            .with_metrics(metrics.clone());
            leading.status = Some(monitor.status());
            leading.vantage = Some(monitor.vantage());
            tasks.spawn(monitor.run(stop.clone()));
        }
        if config.alerts.enabled {
            let mut dispatcher = dispatcher(
                &config,
                &store,
                &knowledge,
                signer.clone(),
                delivery_guard.clone(),
            )
            .map_err(duties_failed)?
            .with_wake(wake.clone())
            .with_metrics(metrics.clone());
            if let (Some(vantage), Some(snapshots)) = (&leading.vantage, &leading.status) {
                dispatcher = dispatcher
                    .with_vantage(vantage.clone())
                    .with_trigger(snapshots.clone());
            }
            tasks.spawn(dispatcher.run(stop.clone()));
        }
        // Providers' own status pages, read while Faultline watches.
        if config.monitor.enabled && config.statuses.enabled {
            tasks.spawn(
                status_poller(&config, &store, &knowledge)
                    .map_err(duties_failed)?
                    .with_metrics(metrics.clone())
                    .run(stop.clone()),
            );
        }
        Ok(leading)
    })
}

/// A duty that did not start, kept whole for start-up to report.
fn duties_failed(error: StartupError) -> crate::cluster::LeadError {
    crate::cluster::LeadError::Duties(Box::new(error))
}

/// The status-page poller, reading through its own guard: public
/// addresses and `[statuses] allowed_networks`.
fn status_poller(
    config: &Config,
    store: &store::Store,
    knowledge: &Arc<Knowledge>,
) -> Result<crate::statuses::StatusPoller, StartupError> {
    let mut settings = config.probe.clone();
    settings.guard = config.statuses.guard();
    settings.guard.own_addresses = own_public_addresses();
    let prober = probe::LiveProber::new(settings)
        .map_err(|error| StartupError::Refused(error.to_string()))?;
    crate::statuses::StatusPoller::new(
        store.clone(),
        Arc::new(crate::clock::SystemClock),
        Arc::new(prober),
        Some(knowledge.clone()),
        config.statuses.clone(),
    )
    .map_err(|error| StartupError::Unexpected(anyhow::Error::new(error)))
}

/// The alert dispatcher, delivering through its own guard: public
/// addresses and `[alerts] allowed_networks`, never the watchlist's.
fn dispatcher(
    config: &Config,
    store: &store::Store,
    knowledge: &Arc<Knowledge>,
    signer: Option<crate::alerts::token::Signer>,
    guard: probe::GuardPolicy,
) -> Result<crate::alerts::Dispatcher, StartupError> {
    let mut settings = config.probe.clone();
    settings.guard = guard;
    let prober = probe::LiveProber::new(settings)
        .map_err(|error| StartupError::Refused(error.to_string()))?;
    let client = crate::alerts::webhook::WebhookClient::new(Arc::new(prober))
        .map_err(|error| StartupError::Unexpected(anyhow::Error::new(error)))?;
    let base = site_url(config);
    let mut dispatcher = crate::alerts::Dispatcher::new(
        store.clone(),
        Arc::new(crate::clock::SystemClock),
        client,
        knowledge.clone(),
        base.clone(),
        &config.alerts,
    );
    if let (Some(smtp), Some(signer)) = (&config.alerts.smtp_url, signer) {
        let mailer = crate::alerts::mail::Mailer::new(smtp, &config.alerts.from, &base)
            .map_err(StartupError::Refused)?;
        dispatcher = dispatcher.with_mail(mailer, signer);
    }
    Ok(dispatcher)
}

/// The public addresses of this machine's interfaces: what a stranger
/// could otherwise make the server probe on itself. Private ones are the
/// guard's already.
fn own_public_addresses() -> Vec<std::net::IpAddr> {
    match if_addrs::get_if_addrs() {
        Ok(interfaces) => {
            let own: Vec<_> = interfaces
                .iter()
                .map(if_addrs::Interface::ip)
                .filter(|ip| probe::guard::is_public(*ip))
                .collect();
            tracing::debug!(?own, "own public addresses refused to the probers");
            own
        }
        Err(error) => {
            tracing::warn!(%error, "cannot list this machine's addresses");
            Vec::new()
        }
    }
}

/// On first start the watchlist is empty: fill it with the default one.
async fn seed_default_watchlist(store: &store::Store) -> anyhow::Result<()> {
    let summary = store
        .site_summary()
        .await
        .context("failed to count the watched sites")?;
    if summary.watched > 0 {
        return Ok(());
    }
    let parsed = crate::watchlist::parse(
        crate::watchlist::DEFAULT_WATCHLIST,
        crate::watchlist::Format::Csv,
    )
    .context("failed to parse the built-in watchlist")?;
    let added = store
        .add_sites(&parsed.sites, chrono::Utc::now())
        .await
        .context("failed to add the default watchlist")?;
    tracing::info!(
        watchlist.sites_added = added,
        "empty watchlist: added the default watchlist"
    );
    Ok(())
}
