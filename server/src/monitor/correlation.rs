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
/// Most incident updates kept while the database refuses them: an hour
/// of a large outage's site changes.
const MAX_UNSAVED: usize = 100_000;

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
    /// Events the database did not take yet, oldest first.
    unsaved: Vec<Event>,
    /// The watchlist version the sites' owners were last read at.
    owners_of: Option<i64>,
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
            unsaved: Vec::new(),
            owners_of: None,
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
        if !self.unsaved.is_empty() {
            // One last try: what is still refused now is lost with us.
            self.store_events(Vec::new()).await;
            if !self.unsaved.is_empty() {
                tracing::error!(
                    updates = self.unsaved.len(),
                    "stopping with incident updates the database did not take"
                );
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
        // Read again only when the watchlist changed.
        let version = match self.store.watchlist_version().await {
            Ok(version) => version,
            Err(error) => {
                tracing::warn!(%error, "cannot read the watchlist's version; owners unchanged");
                return;
            }
        };
        if self.owners_of == Some(version) {
            return;
        }
        match self.store.list_sites().await {
            Ok(sites) => {
                for site in sites {
                    self.correlator
                        .set_owner(site.id, &engine::attribution::owner_domain(&site.host));
                }
                self.owners_of = Some(version);
            }
            Err(error) => tracing::warn!(%error, "cannot read the watchlist; owners unchanged"),
        }
    }

    /// Stores events in the order they came, after any that could not be
    /// stored before. Site changes are stored together in one transaction;
    /// a provider incident is stored before the site changes after it,
    /// which may name it as their explanation. When the database fails,
    /// what was not stored is kept, in order, and tried again with the
    /// next events (at the latest at the next judgement).
    async fn store_events(&mut self, events: Vec<Event>) {
        let mut pending = std::mem::take(&mut self.unsaved);
        pending.extend(events);
        let mut events = pending.into_iter();
        let mut site_events: Vec<Event> = Vec::new();
        while let Some(event) = events.next() {
            let Event::Provider { key, incident } = &event else {
                site_events.push(event);
                continue;
            };
            if !self.store_site_events(&site_events).await {
                site_events.push(event);
                self.keep_unsaved(site_events.into_iter().chain(events));
                return;
            }
            site_events.clear();
            if !self.store_provider_incident(*key, incident).await {
                self.keep_unsaved(std::iter::once(event).chain(events));
                return;
            }
        }
        if !self.store_site_events(&site_events).await {
            self.keep_unsaved(site_events);
        }
    }

    /// Stores site events in one transaction; false if the database failed.
    async fn store_site_events(&self, events: &[Event]) -> bool {
        let changes: Vec<SiteChange> = events
            .iter()
            .filter_map(|event| match *event {
                Event::SiteDown {
                    site_id,
                    at,
                    onset_at,
                    cause,
                    explained_by,
                } => Some(SiteChange::Down {
                    site_id,
                    onset_at,
                    detected_at: at,
                    cause,
                    explained_by: explained_by.and_then(|key| self.ids.get(&key).copied()),
                }),
                Event::SiteUp { site_id, at } => Some(SiteChange::Up { site_id, at }),
                Event::Provider { .. } => None,
            })
            .collect();
        if changes.is_empty() {
            return true;
        }
        match self.store.apply_site_changes(&changes).await {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(%error, changes = changes.len(), "cannot store site incident updates; kept to try again");
                false
            }
        }
    }

    /// Keeps events the database did not take, oldest first, up to
    /// [`MAX_UNSAVED`]: beyond that the oldest go, and the log says so.
    fn keep_unsaved(&mut self, events: impl IntoIterator<Item = Event>) {
        self.unsaved.extend(events);
        let over = self.unsaved.len().saturating_sub(MAX_UNSAVED);
        if over > 0 {
            self.unsaved.drain(..over);
            tracing::error!(
                dropped = over,
                "the database has refused incident updates for too long; the oldest are dropped"
            );
        }
    }

    /// Stores a provider incident's update; false if the database failed.
    async fn store_provider_incident(&mut self, key: usize, incident: &ProviderIncident) -> bool {
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
                true
            }
            Err(error) => {
                tracing::error!(%error, "cannot store a provider incident update; kept to try again");
                false
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;

    /// A real SQLite file whose write lock another connection holds, as a
    /// backup or a stuck writer would: the updates wait and are stored,
    /// in order, once the database takes writes again.
    #[tokio::test]
    async fn updates_the_database_refuses_are_stored_once_it_takes_them_again() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("faultline.db");
        let store = Store::open(&path).await.expect("store");
        let now = Utc::now();
        store
            .add_sites(
                &[store::NewSite {
                    url: "https://shop.test/".to_owned(),
                    host: "shop.test".to_owned(),
                    name: "shop.test".to_owned(),
                    tags: vec![],
                    interval_s: 60,
                }],
                now,
            )
            .await
            .expect("site");
        let site_id = store.list_sites().await.expect("sites")[0].id;
        let (_vantage, vantage_state) = watch::channel(VantageState::Online);
        let (status, _) = watch::channel(Arc::new(Snapshot::default()));
        let mut correlation = Correlation::new(
            store.clone(),
            Arc::new(crate::clock::SystemClock),
            vantage_state,
            status,
        );
        let incident = incident_of(ProviderIncidentRow {
            provider: "cloudflare".to_owned(),
            role: Role::Cdn,
            phase: engine::Phase::Confirmed,
            onset_at: now,
            detected_at: now,
            confirmed_at: Some(now),
            peak_at: now,
            sites: vec![(site_id, now, now)],
            ..ProviderIncidentRow::default()
        });
        let events = vec![
            Event::Provider { key: 0, incident },
            Event::SiteDown {
                site_id,
                at: now,
                onset_at: now,
                cause: None,
                explained_by: Some(0),
            },
        ];

        let mut blocker = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("second connection");
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut blocker)
            .await
            .expect("write lock");
        correlation.store_events(events).await;
        assert_eq!(correlation.unsaved.len(), 2, "both kept while refused");
        assert!(store
            .list_incidents(None, 10)
            .await
            .expect("incidents")
            .is_empty());

        sqlx::query("ROLLBACK")
            .execute(&mut blocker)
            .await
            .expect("lock released");
        correlation.store_events(Vec::new()).await;
        assert!(correlation.unsaved.is_empty());
        let incidents = store.list_incidents(None, 10).await.expect("incidents");
        let provider = incidents
            .iter()
            .find(|i| i.kind == engine::IncidentKind::Provider)
            .expect("the provider incident, stored late");
        let site = incidents
            .iter()
            .find(|i| i.kind == engine::IncidentKind::Site)
            .expect("the site incident, stored late");
        assert_eq!(site.site_id, Some(site_id));
        assert_eq!(
            site.explained_by,
            Some(provider.id),
            "stored after the incident that explains it"
        );
    }
}
