//! The probe loop: takes due sites from the schedule, probes them with
//! bounded concurrency (globally and per host), judges our own network with
//! the canaries, and hands every result to the writer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use probe::{Outcome, Probe};
use store::{ProbeRecord, Store};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub mod correlation;
pub mod writer;

use crate::clock::Clock;
use engine::schedule::{Schedule, Target};
use engine::vantage::{VantageGuard, VantageState};

#[derive(Clone, Debug)]
pub struct MonitorConfig {
    /// Probes in flight at once, over all sites.
    pub concurrency: usize,
    /// Probes in flight at once to one host.
    pub per_host: usize,
    /// How often the watchlist is re-read for additions and removals.
    pub sync_every: TimeDelta,
    /// Canary URLs on independent providers.
    pub canaries: Vec<String>,
    pub canary_every: TimeDelta,
    pub retention: store::Retention,
    pub prune_every: TimeDelta,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            concurrency: 256,
            per_host: 2,
            sync_every: TimeDelta::seconds(30),
            canaries: Vec::new(),
            canary_every: TimeDelta::seconds(20),
            retention: store::Retention::default(),
            prune_every: TimeDelta::hours(1),
        }
    }
}

pub struct Monitor {
    /// Probes spawned and not yet handed to the writer.
    in_flight: Arc<AtomicUsize>,
    store: Store,
    clock: Arc<dyn Clock>,
    prober: Arc<dyn Probe>,
    config: MonitorConfig,
    guard: Arc<Mutex<VantageGuard>>,
}

impl Monitor {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        prober: Arc<dyn Probe>,
        config: MonitorConfig,
    ) -> Self {
        let guard = Arc::new(Mutex::new(VantageGuard::new(
            config.canaries.len(),
            clock.now(),
        )));
        Self {
            in_flight: Arc::default(),
            store,
            clock,
            prober,
            config,
            guard,
        }
    }

    /// Runs until `shutdown`; then waits for probes in flight (each is
    /// bounded by its own timeouts) and for the writer to store them.
    pub async fn run(self, shutdown: CancellationToken) {
        let (sender, receiver) = writer::channel();
        let writer = tokio::spawn(writer::run(self.store.clone(), receiver));
        let (observations, observed) = correlation::channel();
        let correlation = correlation::Correlation::new(
            self.store.clone(),
            self.clock.clone(),
            self.guard.clone(),
        );
        let correlation = tokio::spawn(correlation.run(observed, shutdown.clone()));

        let tasks = TaskTracker::new();
        let global = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let sinks = Sinks {
            records: sender.clone(),
            observations,
        };
        let context = ProbeContext {
            global: global.clone(),
            prober: self.prober.clone(),
            clock: self.clock.clone(),
            guard: self.guard.clone(),
            sinks,
        };
        let mut hosts: HashMap<String, Arc<Semaphore>> = HashMap::new();
        let mut schedule = Schedule::default();
        let now = self.clock.now();
        let (mut next_sync, mut next_canary, mut next_prune) = (now, now, now);

        loop {
            let now = self.clock.now();
            if now >= next_sync {
                match self.store.list_sites().await {
                    Ok(sites) => {
                        let targets = sites.into_iter().filter(|s| s.enabled).map(|s| Target {
                            site_id: s.id,
                            interval: TimeDelta::seconds(s.interval_s),
                            url: s.url,
                            host: s.host,
                        });
                        schedule.sync(targets, now);
                        hosts.retain(|_, semaphore| Arc::strong_count(semaphore) > 1);
                    }
                    Err(error) => {
                        tracing::error!(%error, "cannot read the watchlist; keeping the current schedule")
                    }
                }
                next_sync = now + self.config.sync_every;
            }
            if now >= next_canary {
                self.spawn_canaries(&tasks, now);
                next_canary = now + self.config.canary_every;
            }
            if now >= next_prune {
                match self.store.prune(now, self.config.retention).await {
                    Ok(pruned) => tracing::debug!(
                        probes = pruned.probes,
                        rollups = pruned.rollups,
                        "pruned old rows"
                    ),
                    Err(error) => tracing::warn!(%error, "pruning failed; will retry"),
                }
                next_prune = now + self.config.prune_every;
            }
            for due in schedule.take_due(now) {
                let host = hosts
                    .entry(due.target.host.clone())
                    .or_insert_with(|| Arc::new(Semaphore::new(self.config.per_host.max(1))))
                    .clone();
                self.in_flight.fetch_add(1, Ordering::SeqCst);
                let in_flight = InFlight(self.in_flight.clone());
                tasks.spawn(probe_one(context.clone(), in_flight, due.target, host));
            }
            let wake = [
                schedule.next_at(),
                Some(next_sync),
                Some(next_canary),
                Some(next_prune),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now + TimeDelta::seconds(1));
            tokio::select! {
                () = self.clock.sleep_until(wake) => {}
                () = shutdown.cancelled() => break,
            }
        }
        tasks.close();
        tasks.wait().await;
        drop(sender);
        drop(context);
        if let Err(error) = writer.await {
            tracing::error!(%error, "the writer task failed");
        }
        if let Err(error) = correlation.await {
            tracing::error!(%error, "the correlation task failed");
        }
        tracing::info!("probing stopped");
    }

    fn spawn_canaries(&self, tasks: &TaskTracker, now: DateTime<Utc>) {
        for (index, url) in self.config.canaries.iter().enumerate() {
            let target = Target {
                site_id: -(index as i64) - 1,
                url: url.clone(),
                host: url.clone(),
                interval: self.config.canary_every,
            };
            let prober = self.prober.clone();
            let guard = self.guard.clone();
            let store = self.store.clone();
            let clock = self.clock.clone();
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            let in_flight = InFlight(self.in_flight.clone());
            tasks.spawn(async move {
                let _in_flight = in_flight;
                let outcome = prober.probe(&target.url, now).await;
                let finished = clock.now();
                let transition = {
                    let Ok(mut guard) = guard.lock() else { return };
                    guard.record_canary(&target.url, outcome.failure, finished);
                    guard.evaluate(finished)
                };
                if let Some(transition) = transition {
                    tracing::warn!(
                        from = transition.from.as_str(),
                        to = transition.to.as_str(),
                        detail = %transition.detail,
                        "vantage state changed"
                    );
                    if let Err(error) = store
                        .record_vantage_state(transition.to, transition.at, &transition.detail)
                        .await
                    {
                        tracing::error!(%error, "cannot record the vantage event");
                    }
                    if transition.to == VantageState::Offline {
                        // Failures just before the verdict were ours too.
                        let since = transition.at - TimeDelta::minutes(2);
                        if let Err(error) = store.mark_suspect_since(since).await {
                            tracing::error!(%error, "cannot mark earlier probes as suspect");
                        }
                    }
                }
            });
        }
    }

    /// Probes in flight, so a simulation can tell when the loop is idle.
    pub fn in_flight(&self) -> Arc<AtomicUsize> {
        self.in_flight.clone()
    }

    /// The guard, for pages that show the vantage state.
    pub fn guard(&self) -> Arc<Mutex<VantageGuard>> {
        self.guard.clone()
    }
}

/// What every probe task shares.
#[derive(Clone)]
struct ProbeContext {
    global: Arc<Semaphore>,
    prober: Arc<dyn Probe>,
    clock: Arc<dyn Clock>,
    guard: Arc<Mutex<VantageGuard>>,
    sinks: Sinks,
}

/// Where each probe result goes: the writer stores it, the correlator judges it.
#[derive(Clone)]
struct Sinks {
    records: mpsc::Sender<ProbeRecord>,
    observations: mpsc::Sender<engine::correlate::Observation>,
}

/// Counts a probe as in flight until dropped.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn probe_one(
    context: ProbeContext,
    _in_flight: InFlight,
    target: Target,
    host: Arc<Semaphore>,
) {
    let ProbeContext {
        global,
        prober,
        clock,
        guard,
        sinks,
    } = context;
    let Ok(_host_permit) = host.acquire_owned().await else {
        return;
    };
    let Ok(_global_permit) = global.acquire_owned().await else {
        return;
    };
    let started = clock.now();
    let mut record = record_of(target.site_id, prober.probe(&target.url, started).await);
    // DNS and TLS facts are evidence for failures; healthy probes drop them
    // to keep the database small (attribution keeps its own record).
    if record.ok {
        record.facts = None;
    }
    let finished = clock.now();
    if let Ok(mut guard) = guard.lock() {
        guard.record_site(record.failure, finished);
        record.suspect = guard.is_suspect(record.failure);
    }
    let observation = correlation::observation_of(&record);
    if sinks.records.send(record).await.is_err() {
        tracing::warn!(site = target.site_id, "writer gone; probe result dropped");
    }
    let _ = sinks.observations.send(observation).await;
}

/// The stored form of a probe's outcome.
pub fn record_of(site_id: i64, outcome: Outcome) -> ProbeRecord {
    ProbeRecord {
        site_id,
        started_at: outcome.started_at,
        ok: outcome.ok,
        status: outcome.status.map(i64::from),
        failure: outcome.failure,
        detail: outcome.detail,
        dns_ms: outcome.dns_ms,
        connect_ms: outcome.connect_ms,
        tls_ms: outcome.tls_ms,
        ttfb_ms: outcome.ttfb_ms,
        total_ms: outcome.total_ms,
        remote_ip: outcome.remote_ip.map(|ip| ip.to_string()),
        facts: outcome.facts,
        body_gz: outcome.body_gz,
        provider: outcome.provider,
        fault_side: outcome.fault_side,
        fault: outcome.fault,
        confidence: outcome.confidence,
        // The classifier's evidence, as the JSON array the store keeps.
        evidence: (!outcome.evidence.is_empty())
            .then(|| serde_json::to_string(&outcome.evidence).unwrap_or_default()),
        suspect: false,
        providers: outcome
            .providers
            .into_iter()
            .map(|serving| (serving.provider, serving.role, serving.evidence))
            .collect(),
    }
}
