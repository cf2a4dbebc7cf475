//! The task that owns the correlator: feeds it observations, ticks it on
//! the clock, keeps its cohorts in step with the stored attribution, and
//! stores the incidents it reports.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use store::{ProviderIncidentRow, SiteChange, Store};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use engine::correlate::{
    Correlator, Event, Observation, ProviderIncident, Role, Snapshot, Thresholds,
};
use engine::vantage::{FailingResolver, VantageState};

/// How often cohorts are judged.
pub const TICK: TimeDelta = TimeDelta::seconds(10);
/// Most observations taken from the channel at once, beyond the first.
const DRAIN_AT_ONCE: usize = 2_000;
/// Most queued observations (agents' results) taken from the store at once.
const QUEUED_AT_ONCE: i64 = 5_000;
/// How often cohort membership is re-read from the attribution table.
const MEMBERSHIP_EVERY: TimeDelta = TimeDelta::seconds(60);

pub fn channel() -> (mpsc::Sender<Observation>, mpsc::Receiver<Observation>) {
    mpsc::channel(super::writer::QUEUE)
}

pub struct Correlation {
    store: Store,
    clock: Arc<dyn Clock>,
    /// The vantage guard's state, as the probe loop that owns it publishes it.
    vantage: watch::Receiver<VantageState>,
    /// Our resolvers failing while another answers, as the loop publishes them.
    resolvers: Option<watch::Receiver<Vec<FailingResolver>>>,
    /// Where each judgement's snapshot goes, for the pages.
    status: watch::Sender<Arc<Snapshot>>,
    correlator: Correlator,
    /// Correlator incident index to database id.
    ids: HashMap<usize, i64>,
    /// The vantages whose region the correlator knows.
    placed: std::collections::HashSet<i64>,
}

impl Correlation {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        vantage: watch::Receiver<VantageState>,
        status: watch::Sender<Arc<Snapshot>>,
    ) -> Self {
        Self {
            store,
            clock,
            vantage,
            resolvers: None,
            status,
            correlator: Correlator::new(Thresholds::default()),
            ids: HashMap::new(),
            placed: std::collections::HashSet::new(),
        }
    }

    /// Names the region this server's own prober probes from.
    pub fn with_own_region(mut self, region: &str) -> Self {
        self.correlator.set_region(store::OWN_VANTAGE, region);
        self.placed.insert(store::OWN_VANTAGE);
        self
    }

    /// Takes one observation, first learning its agent's region if it is
    /// new to us.
    async fn observe(&mut self, observation: Observation) -> Option<Event> {
        if !self.placed.contains(&observation.vantage) {
            self.load_agents().await;
            // Judged in no region of its own until the agent is known.
            self.placed.insert(observation.vantage);
        }
        self.correlator.observe(observation)
    }

    /// The region of every registered agent.
    async fn load_agents(&mut self) {
        match self.store.agents().await {
            Ok(agents) => {
                for agent in agents {
                    self.correlator.set_region(agent.id, &agent.region);
                    self.placed.insert(agent.id);
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read the agents' regions"),
        }
    }

    /// Publishes our failing resolvers with each snapshot.
    pub fn with_resolvers(mut self, resolvers: watch::Receiver<Vec<FailingResolver>>) -> Self {
        self.resolvers = Some(resolvers);
        self
    }

    /// Runs until the observation channel closes (the probe loop stopped)
    /// or `shutdown`; then stores what it knows and returns.
    pub async fn run(
        mut self,
        mut observations: mpsc::Receiver<Observation>,
        shutdown: CancellationToken,
    ) {
        let mut next_tick = self.clock.now();
        // Cohorts first, then the incidents a correlator before this one
        // left open, which their cohorts go on with.
        self.load_membership().await;
        self.adopt_unresolved().await;
        let mut next_membership = next_tick + MEMBERSHIP_EVERY;
        loop {
            tokio::select! {
                received = observations.recv() => match received {
                    Some(observation) => {
                        // Take what else is waiting too, so that thousands of
                        // sites failing together cost one commit, not one each.
                        let mut events: Vec<Event> =
                            self.observe(observation).await.into_iter().collect();
                        for _ in 0..DRAIN_AT_ONCE {
                            let Ok(observation) = observations.try_recv() else {
                                break;
                            };
                            events.extend(self.observe(observation).await);
                        }
                        self.store_events(events).await;
                    }
                    None => break,
                },
                () = self.clock.sleep_until(next_tick) => {
                    let now = self.clock.now();
                    if now >= next_membership {
                        self.load_membership().await;
                        next_membership = now + MEMBERSHIP_EVERY;
                    }
                    self.take_queued().await;
                    self.tick(now).await;
                    next_tick = now + TICK;
                }
                () = shutdown.cancelled() => break,
            }
        }
    }

    /// Goes on with the provider incidents stored open: this process
    /// restarted, or took the lead from a central that stopped.
    async fn adopt_unresolved(&mut self) {
        let unresolved = match self.store.unresolved_provider_incidents().await {
            Ok(unresolved) => unresolved,
            Err(error) => {
                tracing::warn!(%error, "cannot read the open incidents; an outage still on opens anew");
                return;
            }
        };
        for (id, row) in unresolved {
            if let Some(key) = self.correlator.adopt(incident_of(row)) {
                self.ids.insert(key, id);
                tracing::info!(incident.id = id, "going on with an open provider incident");
            }
        }
    }

    /// Observes the results agents pushed to any central since the last
    /// judgement, as the store queued them.
    async fn take_queued(&mut self) {
        // Bounded, so a flood waits for the next judgement rather than
        // holding this one up.
        for _ in 0..20 {
            let bodies = match self.store.take_observations(QUEUED_AT_ONCE).await {
                Ok(bodies) => bodies,
                Err(error) => {
                    tracing::warn!(%error, "cannot take agents' queued results; judged later");
                    return;
                }
            };
            let mut events = Vec::new();
            for body in &bodies {
                match serde_json::from_str::<Observation>(body) {
                    Ok(observation) => events.extend(self.observe(observation).await),
                    Err(error) => tracing::warn!(%error, "a queued result does not read; dropped"),
                }
            }
            self.store_events(events).await;
            if bodies.len() < usize::try_from(QUEUED_AT_ONCE).unwrap_or(usize::MAX) {
                return;
            }
        }
    }

    /// One judgement of every cohort at `now`.
    #[tracing::instrument(name = "correlation.tick", skip_all, fields(correlation.events))]
    pub async fn tick(&mut self, now: DateTime<Utc>) {
        let offline = *self.vantage.borrow() == VantageState::Offline;
        let events = self.correlator.tick(now, offline);
        tracing::Span::current().record("correlation.events", events.len());
        self.store_events(events).await;
        self.publish();
    }

    /// Publishes the latest judgement, with what only this task knows: the
    /// stored incidents' ids and the own-network verdict. Published after
    /// the events are stored, so a page never links an incident that is
    /// not there yet.
    fn publish(&self) {
        let mut snapshot = self.correlator.snapshot();
        snapshot.vantage = *self.vantage.borrow();
        if let Some(resolvers) = &self.resolvers {
            snapshot.resolvers_failing = resolvers.borrow().clone();
        }
        for incident in &mut snapshot.incidents {
            incident.id = self.ids.get(&incident.key).copied();
        }
        self.status.send_replace(Arc::new(snapshot));
    }

    pub fn correlator(&self) -> &Correlator {
        &self.correlator
    }

    pub async fn load_membership(&mut self) {
        match self.store.current_providers().await {
            Ok(rows) => {
                for row in rows.into_iter().filter(|row| row.role != Role::Unknown) {
                    self.correlator
                        .add_member(row.site_id, &row.provider, row.role);
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read provider attribution; cohorts unchanged")
            }
        }
        // Who owns each site: sites of one owner are not unrelated origins.
        match self.store.list_sites().await {
            Ok(sites) => {
                for site in sites {
                    self.correlator
                        .set_owner(site.id, &engine::attribution::owner_domain(&site.host));
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read the watchlist; owners unchanged"),
        }
    }

    /// Stores events in the order they came. Site changes are stored
    /// together in one transaction; a provider incident is stored before
    /// the site changes after it, which may name it as their explanation.
    async fn store_events(&mut self, events: Vec<Event>) {
        let mut changes = Vec::new();
        for event in events {
            match event {
                Event::Provider { key, incident } => {
                    self.store_site_changes(&mut changes).await;
                    self.store_provider_incident(key, &incident).await;
                }
                Event::SiteDown {
                    site_id,
                    at,
                    onset_at,
                    cause,
                    explained_by,
                } => changes.push(SiteChange::Down {
                    site_id,
                    onset_at,
                    detected_at: at,
                    cause,
                    explained_by: explained_by.and_then(|key| self.ids.get(&key).copied()),
                }),
                Event::SiteUp { site_id, at } => changes.push(SiteChange::Up { site_id, at }),
            }
        }
        self.store_site_changes(&mut changes).await;
    }

    async fn store_site_changes(&self, changes: &mut Vec<SiteChange>) {
        if let Err(error) = self.store.apply_site_changes(changes).await {
            tracing::error!(%error, changes = changes.len(), "cannot store site incident updates");
        }
        changes.clear();
    }

    async fn store_provider_incident(&mut self, key: usize, incident: &ProviderIncident) {
        // Suspicions are stored too; one that never confirmed ends
        // `resolved` with no `confirmed_at`, and pages leave it out.
        let row = provider_row(incident);
        match self
            .store
            .save_provider_incident(self.ids.get(&key).copied(), &row, self.clock.now())
            .await
        {
            Ok(id) => {
                if !self.ids.contains_key(&key) {
                    tracing::warn!(
                        provider.id = %incident.provider,
                        provider.role = incident.role.as_str(),
                        incident.peak_share = incident.peak_share,
                        "possible provider-wide outage"
                    );
                }
                self.ids.insert(key, id);
            }
            Err(error) => tracing::error!(%error, "cannot store a provider incident update"),
        }
    }
}

fn provider_row(incident: &ProviderIncident) -> ProviderIncidentRow {
    ProviderIncidentRow {
        provider: incident.provider.clone(),
        role: incident.role,
        mechanism: incident.mechanism,
        origins: incident.origins,
        phase: incident.phase,
        pattern: incident.pattern,
        onset_at: incident.onset_at,
        detected_at: incident.detected_at,
        confirmed_at: incident.confirmed_at,
        peak_share: incident.peak_share,
        peak_at: incident.peak_at,
        recovering_at: incident.recovering_at,
        resolved_at: incident.resolved_at,
        confidence: incident.confidence,
        sites: incident
            .sites
            .iter()
            .map(|(id, (first, last))| (*id, *first, *last))
            .collect(),
        evidence: incident.evidence.clone(),
        timeline: incident.timeline.clone(),
        scope: incident.scope,
        regions: incident.regions.clone(),
        relapses: incident.relapses,
    }
}

/// A stored provider incident as the correlator goes on with it.
fn incident_of(row: ProviderIncidentRow) -> ProviderIncident {
    ProviderIncident {
        provider: row.provider,
        role: row.role,
        mechanism: row.mechanism,
        origins: row.origins,
        scope: row.scope,
        regions: row.regions,
        phase: row.phase,
        onset_at: row.onset_at,
        detected_at: row.detected_at,
        confirmed_at: row.confirmed_at,
        peak_share: row.peak_share,
        peak_at: row.peak_at,
        recovering_at: row.recovering_at,
        resolved_at: row.resolved_at,
        relapses: row.relapses,
        pattern: row.pattern,
        confidence: row.confidence,
        sites: row
            .sites
            .into_iter()
            .map(|(id, first, last)| (id, (first, last)))
            .collect(),
        timeline: row.timeline,
        evidence: row.evidence,
    }
}

/// What the correlator needs from a stored probe.
pub fn observation_of(record: &store::ProbeRecord) -> Observation {
    Observation {
        site_id: record.site_id,
        vantage: record.vantage_id,
        at: record.started_at,
        ok: record.ok,
        suspect: record.suspect,
        failure: record.failure,
        generator: record.provider.clone(),
        fault_side: record.fault_side,
        fault: record.fault,
    }
}
