//! The probe loop: takes due sites from the schedule, probes them with
//! bounded concurrency (globally and per host), judges our own network with
//! the canaries, and hands every result to its two stages, the writer and
//! the correlation task.
//!
//! The loop owns the vantage guard. Probe and canary tasks send what they
//! found back to it over a bounded channel; it records each result in the
//! guard, marks a site probe suspect there and then, and passes it on. The
//! correlation task sees the guard's state through a `watch`.
//!
//! `run` is the live loop; `run_once` is one step of it and `settle` waits
//! for the probes a step started, so tests and the simulator step the very
//! same code.

pub mod correlation;
pub mod writer;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use store::{ProbeRecord, Store};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::Clock;
use engine::correlate::{Observation, Snapshot};
use engine::schedule::{Schedule, Target};
use engine::vantage::{FailingResolver, Transition, VantageGuard, VantageState};
use engine::FailureClass;
use probe::{Outcome, Probe};

/// How many probes may be in flight at once, over all sites.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capacity {
    /// Exactly this many.
    Fixed(usize),
    /// Enough for every probe started within one `timeout` to hang until
    /// it (as during an outage, when targets accept connections and never
    /// answer), at least `floor` and at most `ceiling` (what the open-files
    /// limit allows). Sized again whenever the watchlist is re-read.
    Sized {
        floor: usize,
        ceiling: usize,
        timeout: std::time::Duration,
    },
}

impl Capacity {
    /// In-flight probes for a watchlist probed `probes_per_second` times.
    pub fn for_rate(self, probes_per_second: f64) -> usize {
        match self {
            Self::Fixed(n) => n.max(1),
            Self::Sized {
                floor,
                ceiling,
                timeout,
            } => {
                // Rounded first: a sum of 1/interval is not exact.
                let needed =
                    ((probes_per_second * timeout.as_secs_f64() * 1e6).round() / 1e6).ceil();
                // A float beyond usize saturates: the ceiling decides.
                (needed as usize).clamp(floor.max(1), ceiling.max(floor).max(1))
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct MonitorConfig {
    /// Probes in flight at once, over all sites.
    pub concurrency: Capacity,
    /// Probes in flight at once to one host.
    pub per_host: usize,
    /// How often the watchlist is re-read for additions and removals.
    pub sync_every: TimeDelta,
    /// Canary URLs on independent providers.
    pub canaries: Vec<String>,
    pub canary_every: TimeDelta,
    pub retention: store::Retention,
    pub prune_every: TimeDelta,
    /// The region this prober probes from.
    pub region: String,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            concurrency: Capacity::Fixed(256),
            per_host: 2,
            sync_every: TimeDelta::seconds(30),
            canaries: Vec::new(),
            canary_every: TimeDelta::seconds(20),
            retention: store::Retention::default(),
            prune_every: TimeDelta::hours(1),
            region: "central".to_owned(),
        }
    }
}

/// Results waiting for the loop; probe tasks wait when it is full.
const RESULTS_QUEUE: usize = 1024;

/// Where the monitor's sites come from and where its results go.
enum Home {
    /// This central: the watchlist and every result in the store; results
    /// judged by the correlation task.
    Central(Store),
    /// An agent: its share of the watchlist from its central's latest
    /// assignment (fetched by a task of its own, so a slow central never
    /// holds the loop up); results sent to the central through the spool.
    /// Nothing is judged or stored here.
    Agent(watch::Receiver<Option<Arc<crate::agents::Assignment>>>),
}

/// What only an agent's stages need: its central, its spool, and where the
/// assignment it fetches goes.
struct AgentStages {
    central: crate::agents::link::Central,
    spool: crate::agents::spool::Spool,
    assignments: watch::Sender<Option<Arc<crate::agents::Assignment>>>,
}

pub struct Monitor {
    home: Home,
    clock: Arc<dyn Clock>,
    prober: Arc<dyn Probe>,
    config: MonitorConfig,
    /// The own-network guard; only the loop reads or changes it.
    guard: VantageGuard,
    /// The guard's state, for the correlation task and anyone else who asks.
    vantage: watch::Sender<VantageState>,
    /// Our resolvers failing while another answers, since when; only the
    /// loop changes it, the correlation task publishes it.
    resolvers: watch::Sender<Vec<FailingResolver>>,
    schedule: Schedule,
    hosts: HashMap<String, Arc<Semaphore>>,
    global: Arc<Semaphore>,
    /// Permits `global` was given.
    capacity: usize,
    /// The watchlist's version when it was last read.
    synced_version: Option<i64>,
    next_sync: DateTime<Utc>,
    next_canary: DateTime<Utc>,
    next_prune: DateTime<Utc>,
    /// When the next step is due.
    wake: DateTime<Utc>,
    /// Probe and canary tasks.
    probes: TaskTracker,
    /// Cloned into each probe task, which sends its result back with it.
    results: mpsc::Sender<Finished>,
    finished: mpsc::Receiver<Finished>,
    records: mpsc::Sender<ProbeRecord>,
    observations: mpsc::Sender<Observation>,
    /// The correlation task's latest snapshot.
    status: watch::Receiver<Arc<Snapshot>>,
    /// The stages' inputs, until `spawn_stages` hands them over.
    stages: Option<Stages>,
    metrics: crate::metrics::Metrics,
}

/// The receiving ends of the writer's and the correlation task's queues,
/// and where the correlation task publishes; an agent's spool.
struct Stages {
    records: mpsc::Receiver<ProbeRecord>,
    observations: mpsc::Receiver<Observation>,
    status: watch::Sender<Arc<Snapshot>>,
    agent: Option<AgentStages>,
}

/// A probe that finished, on its way back to the loop.
#[derive(Debug)]
enum Finished {
    Site {
        record: Box<ProbeRecord>,
        at: DateTime<Utc>,
        /// Our resolvers set aside after this probe's lookup, if it made one.
        resolvers_failing: Option<Vec<String>>,
    },
    Canary {
        url: String,
        failure: Option<FailureClass>,
        at: DateTime<Utc>,
        resolvers_failing: Option<Vec<String>>,
    },
}

impl Monitor {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        prober: Arc<dyn Probe>,
        config: MonitorConfig,
    ) -> Self {
        Self::at_home(Home::Central(store), None, clock, prober, config)
    }

    /// The monitor of an agent: it probes its share of the watchlist, as
    /// `central` assigns it, and sends every result there through `spool`.
    pub fn for_agent(
        central: crate::agents::link::Central,
        spool: crate::agents::spool::Spool,
        clock: Arc<dyn Clock>,
        prober: Arc<dyn Probe>,
        config: MonitorConfig,
    ) -> Self {
        let (assignments, assigned) = watch::channel(None);
        let stages = AgentStages {
            central,
            spool,
            assignments,
        };
        Self::at_home(Home::Agent(assigned), Some(stages), clock, prober, config)
    }

    fn at_home(
        home: Home,
        agent: Option<AgentStages>,
        clock: Arc<dyn Clock>,
        prober: Arc<dyn Probe>,
        config: MonitorConfig,
    ) -> Self {
        let now = clock.now();
        let guard = VantageGuard::new(config.canaries.len(), now);
        let (vantage, _) = watch::channel(guard.state());
        let (resolvers, _) = watch::channel(Vec::new());
        let (results, finished) = mpsc::channel(RESULTS_QUEUE);
        let (records, written) = writer::channel();
        let (observations, observed) = correlation::channel();
        let (published, status) = watch::channel(Arc::new(Snapshot::default()));
        Self {
            global: Arc::new(Semaphore::new(config.concurrency.for_rate(0.0))),
            capacity: config.concurrency.for_rate(0.0),
            synced_version: None,
            home,
            clock,
            prober,
            config,
            guard,
            vantage,
            resolvers,
            schedule: Schedule::default(),
            hosts: HashMap::new(),
            next_sync: now,
            next_canary: now,
            next_prune: now,
            wake: now,
            probes: TaskTracker::new(),
            results,
            finished,
            records,
            observations,
            status,
            stages: Some(Stages {
                records: written,
                observations: observed,
                status: published,
                agent,
            }),
            metrics: crate::metrics::Metrics::new(),
        }
    }

    /// Counts probes, their phases and lateness, and the writer's work in
    /// `metrics`.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        metrics.capacity(self.capacity);
        self.metrics = metrics;
        self
    }

    /// Runs until `shutdown`; then waits for probes in flight (each is
    /// bounded by its own timeouts), passes their results on and waits for
    /// the writer to store them.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let stages = TaskTracker::new();
        self.spawn_stages(&stages, &shutdown);
        let mut wake = self.run_once(self.clock.now()).await;
        loop {
            tokio::select! {
                () = self.clock.sleep_until(wake) => {
                    wake = self.run_once(self.clock.now()).await;
                }
                Some(finished) = self.finished.recv() => self.pass_on(finished).await,
                () = shutdown.cancelled() => break,
            }
        }
        self.finish().await;
        stages.close();
        stages.wait().await;
        tracing::info!("probing stopped");
    }

    /// Starts the writer and the correlation task on `tasks`. The writer
    /// ends once the monitor is finished and it has stored everything; the
    /// correlation task then too, or at `shutdown`. Only the first call
    /// starts anything.
    pub fn spawn_stages(&mut self, tasks: &TaskTracker, shutdown: &CancellationToken) {
        let Some(stages) = self.stages.take() else {
            return;
        };
        let store = match (&self.home, stages.agent) {
            (Home::Central(store), _) => store.clone(),
            (Home::Agent(_), Some(agent)) => {
                tasks.spawn(crate::agents::upload::run(
                    agent.central.clone(),
                    agent.spool,
                    stages.records,
                ));
                tasks.spawn(crate::agents::upload::fetch_assignments(
                    agent.central,
                    agent.assignments,
                    shutdown.clone(),
                ));
                return;
            }
            (Home::Agent(_), None) => {
                tracing::error!("an agent's monitor has no spool; its results go nowhere");
                return;
            }
        };
        tasks.spawn(writer::run(
            store.clone(),
            stages.records,
            self.metrics.clone(),
        ));
        let correlation = correlation::Correlation::new(
            store,
            self.clock.clone(),
            self.vantage.subscribe(),
            stages.status,
        )
        .with_resolvers(self.resolvers.subscribe())
        .with_own_region(&self.config.region);
        tasks.spawn(correlation.run(stages.observations, shutdown.clone()));
    }

    /// One step at `now`: re-reads the watchlist, probes the canaries and
    /// prunes old rows when each is due, and starts every probe due. Returns
    /// when the next step is due. Results come back to `run` or `settle`.
    #[tracing::instrument(
        name = "monitor.step",
        skip_all,
        fields(monitor.sites, monitor.probes_started)
    )]
    pub async fn run_once(&mut self, now: DateTime<Utc>) -> DateTime<Utc> {
        if now >= self.next_sync {
            self.sync_watchlist(now).await;
            self.next_sync = now + self.config.sync_every;
        }
        if now >= self.next_canary {
            self.spawn_canaries(now);
            self.next_canary = now + self.config.canary_every;
        }
        if let (true, Home::Central(store)) = (now >= self.next_prune, &self.home) {
            match store.prune(now, self.config.retention).await {
                Ok(pruned) => tracing::debug!(
                    prune.probe_rows = pruned.probes,
                    prune.rollup_rows = pruned.rollups,
                    "pruned old rows"
                ),
                Err(error) => tracing::warn!(%error, "pruning failed; will retry"),
            }
            self.next_prune = now + self.config.prune_every;
        }
        let due = self.schedule.take_due(now);
        tracing::Span::current().record("monitor.probes_started", due.len());
        for due in due {
            let host = self
                .hosts
                .entry(due.target.host.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(self.config.per_host.max(1))))
                .clone();
            self.probes
                .spawn(probe_one(self.probe_context(), due, host));
        }
        self.wake = [
            self.schedule.next_at(),
            Some(self.next_sync),
            Some(self.next_canary),
            Some(self.next_prune),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now + TimeDelta::seconds(1));
        self.wake
    }

    /// Re-reads the watchlist into the schedule, if it changed since the
    /// last read (a large watchlist takes a noticeable moment to read, on
    /// this loop), and sizes the probes' capacity for it.
    async fn sync_watchlist(&mut self, now: DateTime<Utc>) {
        let targets = match &mut self.home {
            Home::Central(store) => {
                // Read before the list: a change made meanwhile is read next time.
                let version = match store.watchlist_version().await {
                    Ok(version) => Some(version),
                    Err(error) => {
                        tracing::warn!(%error, "cannot read the watchlist's version; reading it whole");
                        None
                    }
                };
                if version.is_some() && version == self.synced_version {
                    return;
                }
                match store.list_sites().await {
                    Ok(sites) => {
                        self.synced_version = version;
                        sites
                            .into_iter()
                            .filter(|s| s.enabled)
                            .map(|s| Target {
                                site_id: s.id,
                                interval: TimeDelta::seconds(s.interval_s),
                                url: s.url,
                                host: s.host,
                            })
                            .collect()
                    }
                    Err(error) => {
                        tracing::error!(%error, "cannot read the watchlist; keeping the current schedule");
                        return;
                    }
                }
            }
            Home::Agent(assigned) => {
                if !assigned.has_changed().unwrap_or(false) {
                    return;
                }
                let Some(assignment) = assigned.borrow_and_update().clone() else {
                    return;
                };
                assignment
                    .sites
                    .iter()
                    .map(|site| Target {
                        site_id: site.id,
                        interval: TimeDelta::seconds(site.interval_s.max(1)),
                        url: site.url.clone(),
                        host: site.host.clone(),
                    })
                    .collect()
            }
        };
        let targets: Vec<Target> = targets;
        let rate: f64 = targets
            .iter()
            .map(|t| 1.0 / t.interval.num_seconds().max(1) as f64)
            .sum();
        self.resize(self.config.concurrency.for_rate(rate), rate);
        self.schedule.sync(targets, now);
        self.hosts
            .retain(|_, semaphore| Arc::strong_count(semaphore) > 1);
        tracing::Span::current().record("monitor.sites", self.schedule.len());
    }

    /// Gives the probes `capacity` permits in all: added at once, or taken
    /// back as probes in flight finish.
    fn resize(&mut self, capacity: usize, rate: f64) {
        if capacity == self.capacity {
            return;
        }
        if capacity > self.capacity {
            self.global.add_permits(capacity - self.capacity);
        } else {
            let surplus = self.capacity - capacity;
            let taken = self.global.forget_permits(surplus);
            // Permits held by probes now are taken back when they end.
            let global = self.global.clone();
            let rest = u32::try_from(surplus - taken).unwrap_or(u32::MAX);
            if rest > 0 {
                self.probes.spawn(async move {
                    if let Ok(permits) = global.acquire_many_owned(rest).await {
                        permits.forget();
                    }
                });
            }
        }
        tracing::info!(
            monitor.capacity = capacity,
            monitor.previous_capacity = self.capacity,
            monitor.probes_per_second = rate,
            "probes in flight sized for the watchlist"
        );
        self.capacity = capacity;
        self.metrics.capacity(capacity);
    }

    /// Probes allowed in flight at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// When the next step is due: the monitor's start until the first step.
    pub fn next_wake(&self) -> DateTime<Utc> {
        self.wake
    }

    /// Waits for every probe in flight and passes each result on, as `run`
    /// does while it sleeps.
    pub async fn settle(&mut self) {
        self.probes.close();
        loop {
            tokio::select! {
                Some(finished) = self.finished.recv() => self.pass_on(finished).await,
                () = self.probes.wait() => break,
            }
        }
        // Each task sends before it ends: what it sent is queued by now.
        while let Ok(finished) = self.finished.try_recv() {
            self.pass_on(finished).await;
        }
        self.probes.reopen();
    }

    /// Settles the probes in flight and closes the stages' inputs, so the
    /// writer stores what is left and ends.
    pub async fn finish(mut self) {
        self.settle().await;
    }

    /// Observations passed on that the correlation task has not taken yet.
    pub fn correlation_backlog(&self) -> usize {
        self.observations.max_capacity() - self.observations.capacity()
    }

    /// What the monitor counts.
    pub fn metrics(&self) -> crate::metrics::Metrics {
        self.metrics.clone()
    }

    /// The vantage guard's state as it changes.
    pub fn vantage(&self) -> watch::Receiver<VantageState> {
        self.vantage.subscribe()
    }

    /// Our resolvers failing while another answers, as that changes.
    pub fn resolvers(&self) -> watch::Receiver<Vec<FailingResolver>> {
        self.resolvers.subscribe()
    }

    /// The correlation task's snapshots as they are published: what every
    /// page says about now.
    pub fn status(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.status.clone()
    }

    fn probe_context(&self) -> ProbeContext {
        ProbeContext {
            global: self.global.clone(),
            prober: self.prober.clone(),
            clock: self.clock.clone(),
            results: self.results.clone(),
            metrics: self.metrics.clone(),
        }
    }

    fn spawn_canaries(&self, now: DateTime<Utc>) {
        for (index, url) in self.config.canaries.iter().enumerate() {
            let target = Target {
                site_id: -(index as i64) - 1,
                url: url.clone(),
                host: url.clone(),
                interval: self.config.canary_every,
            };
            let ProbeContext {
                prober,
                clock,
                results,
                ..
            } = self.probe_context();
            self.probes.spawn(async move {
                let outcome = prober.probe(&target.url, now).await;
                let finished = Finished::Canary {
                    url: target.url,
                    failure: outcome.failure,
                    at: clock.now(),
                    resolvers_failing: outcome.resolvers_failing,
                };
                if results.send(finished).await.is_err() {
                    // Only once the monitor itself is gone, when no one
                    // is left to judge the network.
                    tracing::debug!(
                        canary.index = index,
                        "the probe loop stopped; canary result dropped"
                    );
                }
            });
        }
    }

    /// Records a finished probe in the guard and passes it on: a site
    /// probe, marked suspect if the guard distrusts it now, to the writer
    /// and the correlator; a canary, to the guard's judgement.
    async fn pass_on(&mut self, finished: Finished) {
        match finished {
            Finished::Site {
                mut record,
                at,
                resolvers_failing,
            } => {
                self.note_resolvers(resolvers_failing, at).await;
                self.guard.record_site(record.failure, at);
                record.suspect = self.guard.is_suspect(record.failure);
                self.metrics.probe_finished(&record);
                let site_id = record.site_id;
                let observation = correlation::observation_of(&record);
                if self.records.send(*record).await.is_err() {
                    tracing::warn!(site.id = site_id, "writer gone; probe result dropped");
                }
                if matches!(self.home, Home::Agent(_)) {
                    // Judged by the central, with every other vantage's.
                } else if self.observations.send(observation).await.is_err() {
                    // The correlation task stops at shutdown, before the
                    // last probes are settled; the writer still stores them.
                    tracing::debug!(
                        site.id = site_id,
                        "correlation stopped; observation dropped"
                    );
                }
            }
            Finished::Canary {
                url,
                failure,
                at,
                resolvers_failing,
            } => {
                self.note_resolvers(resolvers_failing, at).await;
                self.guard.record_canary(&url, failure, at);
                if let Some(transition) = self.guard.evaluate(at) {
                    self.vantage.send_replace(transition.to);
                    self.record_transition(&transition).await;
                }
            }
        }
    }

    /// Keeps track of our resolvers that fail while another answers, from
    /// what a probe's lookup left set aside: each start and end is logged,
    /// and stored once on a central.
    async fn note_resolvers(&mut self, failing: Option<Vec<String>>, at: DateTime<Utc>) {
        let Some(failing) = failing else {
            return;
        };
        let known: Vec<String> = self
            .resolvers
            .borrow()
            .iter()
            .map(|r| r.resolver.clone())
            .collect();
        if known == failing {
            return;
        }
        for resolver in failing.iter().filter(|r| !known.contains(r)) {
            tracing::warn!(
                resolver = %resolver,
                "one of our resolvers fails while another answers; probing through the others"
            );
            if let Home::Central(store) = &self.home {
                if let Err(error) = store.record_resolver_failing(resolver, at).await {
                    tracing::error!(%error, "cannot record the resolver event");
                }
            }
        }
        for resolver in known.iter().filter(|r| !failing.contains(r)) {
            tracing::info!(resolver = %resolver, "our resolver answers again");
            if let Home::Central(store) = &self.home {
                if let Err(error) = store.record_resolver_recovered(resolver, at).await {
                    tracing::error!(%error, "cannot record the resolver event");
                }
            }
        }
        self.resolvers.send_modify(|resolvers| {
            resolvers.retain(|r| failing.contains(&r.resolver));
            for resolver in &failing {
                if !resolvers.iter().any(|r| &r.resolver == resolver) {
                    resolvers.push(FailingResolver {
                        resolver: resolver.clone(),
                        since: at,
                    });
                }
            }
        });
    }

    async fn record_transition(&self, transition: &Transition) {
        tracing::warn!(
            vantage.from = transition.from.as_str(),
            vantage.to = transition.to.as_str(),
            vantage.detail = %transition.detail,
            "vantage state changed"
        );
        // An agent's own results say when its network failed: each failure
        // probed while it distrusted its network is marked suspect.
        let Home::Central(store) = &self.home else {
            return;
        };
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
}

/// What every probe task needs.
#[derive(Clone)]
struct ProbeContext {
    global: Arc<Semaphore>,
    prober: Arc<dyn Probe>,
    clock: Arc<dyn Clock>,
    results: mpsc::Sender<Finished>,
    metrics: crate::metrics::Metrics,
}

/// Counts a probe in flight for as long as it lives.
struct InFlight(crate::metrics::Metrics);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.probe_ended();
    }
}

#[tracing::instrument(
    name = "probe",
    level = "debug",
    skip_all,
    fields(site.id = due.target.site_id, probe.total_ms)
)]
async fn probe_one(context: ProbeContext, due: engine::schedule::Due, host: Arc<Semaphore>) {
    let ProbeContext {
        global,
        prober,
        clock,
        results,
        metrics,
    } = context;
    let target = due.target;
    let mut outcome = {
        let Ok(_host_permit) = host.acquire_owned().await else {
            return;
        };
        let Ok(_global_permit) = global.acquire_owned().await else {
            return;
        };
        let started = clock.now();
        metrics.probe_started(started - due.slot);
        let _in_flight = InFlight(metrics);
        prober.probe(&target.url, started).await
        // The permits go back here, before the result waits for the loop:
        // a busy loop must not keep the network's capacity from new probes.
    };
    let resolvers_failing = outcome.resolvers_failing.take();
    let mut record = record_of(target.site_id, outcome);
    record.slot = Some(due.slot);
    // DNS and TLS facts are evidence for failures; healthy probes drop them
    // to keep the database small (attribution keeps its own record).
    if record.ok {
        record.facts = None;
    }
    tracing::Span::current().record("probe.total_ms", record.total_ms);
    let finished = Finished::Site {
        record: Box::new(record),
        at: clock.now(),
        resolvers_failing,
    };
    if results.send(finished).await.is_err() {
        // Only once the monitor itself is gone; `run` and `settle` keep
        // receiving until every probe has ended.
        tracing::debug!("the probe loop stopped; probe result dropped");
    }
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
        // This central's own prober; the caller names the slot.
        vantage_id: 0,
        slot: None,
        providers: outcome
            .providers
            .into_iter()
            .map(|serving| (serving.provider, serving.role, serving.evidence))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;

    use super::*;
    use crate::clock::SimClock;

    /// Watched sites `s{n}.test` probed every minute.
    fn watched(numbers: std::ops::RangeInclusive<u32>) -> Vec<store::NewSite> {
        numbers
            .map(|n| {
                crate::watchlist::site(&format!("https://s{n}.test/"), None, "", Some(60))
                    .expect("site")
            })
            .collect()
    }

    /// Every probe fails at the network layer, as when our own link is down.
    struct Unreachable;

    impl Probe for Unreachable {
        fn probe<'a>(
            &'a self,
            _url: &'a str,
            now: DateTime<Utc>,
        ) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> {
            Box::pin(async move {
                Outcome {
                    started_at: now,
                    failure: Some(FailureClass::DnsTimeout),
                    ..Outcome::default()
                }
            })
        }
    }

    #[tokio::test]
    async fn a_step_probes_what_is_due_and_the_loop_marks_failures_while_offline_suspect() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = Store::open(&dir.path().join("db")).await.expect("database");
        let t0: DateTime<Utc> = "2025-11-18T10:30:00Z".parse().expect("time");
        let sites = watched(1..=3);
        store.add_sites(&sites, t0).await.expect("sites");
        let clock = SimClock::new(t0);
        let mut monitor = Monitor::new(
            store.clone(),
            Arc::new(clock.clone()),
            Arc::new(Unreachable),
            MonitorConfig {
                canaries: vec!["https://a.test/".to_owned(), "https://b.test/".to_owned()],
                ..MonitorConfig::default()
            },
        );
        let vantage = monitor.vantage();
        let Some(Stages {
            records: mut written,
            observations: mut observed,
            ..
        }) = monitor.stages.take()
        else {
            panic!("the stages were not started");
        };

        // The first step reads the watchlist and asks the canaries; no
        // site's slot is due yet.
        let wake = monitor.run_once(t0).await;
        assert!(wake > t0 && wake <= t0 + TimeDelta::seconds(20), "{wake}");
        monitor.settle().await;
        assert_eq!(*vantage.borrow(), VantageState::Offline);
        assert!(written.try_recv().is_err(), "no site probed yet");

        // A minute on, every site is due; each failure is ours, not theirs.
        let later = t0 + TimeDelta::seconds(60);
        clock.advance_to(later);
        let wake = monitor.run_once(later).await;
        assert!(wake > later, "{wake}");
        monitor.settle().await;
        let mut probed = Vec::new();
        while let Ok(record) = written.try_recv() {
            assert!(record.suspect, "{record:?}");
            let observation = observed.try_recv().expect("an observation per record");
            assert!(observation.suspect);
            probed.push(record.site_id);
        }
        probed.sort_unstable();
        assert_eq!(probed.len(), 3, "{probed:?}");
        let events = store
            .vantage_events(t0, later + TimeDelta::seconds(1))
            .await
            .expect("vantage events");
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].state, VantageState::Offline);
    }

    #[test]
    fn capacity_covers_one_timeout_of_probes_within_the_open_files() {
        let sized = Capacity::Sized {
            floor: 256,
            ceiling: 17_500,
            timeout: std::time::Duration::from_secs(20),
        };
        // 100 000 sites a minute: 33 334 hanging probes would be needed;
        // the open files allow 17 500.
        assert_eq!(sized.for_rate(100_000.0 / 60.0), 17_500);
        assert_eq!(sized.for_rate(3_000.0 / 60.0), 1_000);
        assert_eq!(sized.for_rate(10.0 / 60.0), 256);
        assert_eq!(sized.for_rate(f64::INFINITY), 17_500);
        assert_eq!(Capacity::Fixed(0).for_rate(1e9), 1);
    }

    #[tokio::test]
    async fn the_capacity_follows_the_watchlist() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = Store::open(&dir.path().join("db")).await.expect("database");
        let t0: DateTime<Utc> = "2025-11-18T10:30:00Z".parse().expect("time");
        let clock = SimClock::new(t0);
        let mut monitor = Monitor::new(
            store.clone(),
            Arc::new(clock.clone()),
            Arc::new(Unreachable),
            MonitorConfig {
                concurrency: Capacity::Sized {
                    floor: 8,
                    ceiling: 400,
                    timeout: std::time::Duration::from_secs(20),
                },
                sync_every: TimeDelta::seconds(30),
                ..MonitorConfig::default()
            },
        );
        assert_eq!(monitor.capacity(), 8);
        let sites = watched(1..=600);
        store.add_sites(&sites, t0).await.expect("sites");
        monitor.run_once(t0).await;
        // 10 probes a second, each allowed 20 s: 200 in flight.
        assert_eq!(monitor.capacity(), 200);
        assert_eq!(monitor.global.available_permits(), 200);

        let more = watched(601..=3_000);
        store.add_sites(&more, t0).await.expect("sites");
        let later = t0 + TimeDelta::seconds(30);
        clock.advance_to(later);
        monitor.run_once(later).await;
        assert_eq!(monitor.capacity(), 400, "the open files' ceiling");

        let ids: Vec<i64> = store
            .list_sites()
            .await
            .expect("sites")
            .into_iter()
            .map(|s| s.id)
            .skip(300)
            .collect();
        for id in ids {
            store.set_site_enabled(id, false).await.expect("removed");
        }
        let last = later + TimeDelta::seconds(30);
        clock.advance_to(last);
        monitor.run_once(last).await;
        monitor.settle().await;
        assert_eq!(monitor.capacity(), 100);
        assert_eq!(monitor.global.available_permits(), 100);
    }
}
