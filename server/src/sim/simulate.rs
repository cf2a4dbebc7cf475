//! `faultline simulate`: a scenario replayed on a virtual clock through the
//! same monitor, prober, classifier, store and correlator as `serve`; only
//! the clock and the name servers differ.

use engine::{Cause, IncidentKind, Pattern, Role, VantageState};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::SimClock;
use crate::monitor::{Monitor, MonitorConfig};
use crate::sim::scenario::Scenario;
use crate::sim::world::World;
use probe::guard::GuardPolicy;
use probe::{LiveProber, ProberConfig};

/// What a simulation detected, in the JSON shape of `scenarios/FORMAT.md`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub scenario: String,
    pub start: String,
    pub end: String,
    pub probes: i64,
    pub incidents: Vec<ReportIncident>,
    pub vantage_events: Vec<ReportVantage>,
    /// Times one of our resolvers failed while another answered.
    pub resolver_events: Vec<ReportResolver>,
    /// Every alert the scenario's subscriptions received, in order.
    pub alerts: Vec<ReportAlert>,
    /// Providers' statements that match no provider incident reported.
    pub unmatched_statements: Vec<ReportStatement>,
}

/// One update of a provider's status page, as Faultline read it.
#[derive(Clone, Debug, Serialize)]
pub struct ReportStatement {
    pub provider: String,
    /// The official incident's id on the status page.
    pub incident: String,
    pub title: String,
    pub status: engine::vocab::OfficialStatus,
    /// When the provider published it.
    pub at: String,
    /// When Faultline's poller first read it.
    pub seen_at: String,
    pub text: String,
}

fn report_statements(statements: &[store::Statement]) -> Vec<ReportStatement> {
    statements
        .iter()
        .flat_map(|statement| {
            statement.updates.iter().map(|update| ReportStatement {
                provider: statement.provider.clone(),
                incident: statement.reference.clone(),
                title: statement.title.clone(),
                status: update.status,
                at: time(update.published_at),
                seen_at: time(update.first_seen_at),
                text: update.text.clone(),
            })
        })
        .collect()
}

/// One alert as the simulation's receiver got it.
#[derive(Clone, Debug, Serialize)]
pub struct ReportAlert {
    /// The subscription's name in the scenario.
    pub subscription: String,
    pub event: engine::AlertEvent,
    /// Its index in `incidents`, when it is about one listed there.
    pub incident: Option<usize>,
    pub at: String,
    pub channel: engine::AlertChannel,
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ReportIncident {
    Provider {
        provider: String,
        role: Role,
        /// What showed it: `own` or `edge_to_origin`.
        mechanism: engine::Mechanism,
        /// Edge-to-origin incidents: unrelated origins failing together.
        #[serde(skip_serializing_if = "Option::is_none")]
        origins: Option<i64>,
        onset_at: String,
        detected_at: String,
        resolved_at: Option<String>,
        peak_share: f64,
        sites_affected: i64,
        pattern: Pattern,
        confidence: f64,
        /// The provider's first statement about it, if one matched.
        #[serde(skip_serializing_if = "Option::is_none")]
        acknowledged_at: Option<String>,
        /// Seconds from Faultline's detection to the provider's first
        /// statement: positive when Faultline was first.
        #[serde(skip_serializing_if = "Option::is_none")]
        lead_time_s: Option<i64>,
        /// Every statement matched to it, oldest first.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        statements: Vec<ReportStatement>,
    },
    Site {
        site: String,
        onset_at: String,
        detected_at: String,
        resolved_at: Option<String>,
        fault: Option<Cause>,
        explained_by: Option<usize>,
    },
}

/// One of the vantage's resolvers failing, numbered from 1 as the
/// scenario's `resolver:N` targets are.
#[derive(Clone, Debug, Serialize)]
pub struct ReportResolver {
    pub resolver: usize,
    pub from: String,
    pub until: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ReportVantage {
    pub state: VantageState,
    pub from: String,
    pub until: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error("cannot start the synthetic internet: {0}")]
    World(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("cannot start the prober: {0}")]
    Prober(#[from] probe::ProberError),
    #[error("site {0}: {1}")]
    Site(String, String),
    #[error("cannot start the alert dispatcher: {0}")]
    Alerts(String),
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Tasks besides the monitor that sleep on the virtual clock: the
/// correlation task, the alert dispatcher and the status-page poller.
const CLOCK_LOOPS: usize = 3;

/// How often the simulation's poller reads the providers' status pages.
const STATUS_INTERVAL_SECONDS: u64 = 60;

/// The scenario's subscribers: the receiver their webhooks point at, and
/// each subscription's name by id.
struct SimAlerts {
    receiver: crate::sim::receiver::WebhookReceiver,
    mailbox: crate::sim::mailbox::MailReceiver,
    names: std::collections::HashMap<i64, String>,
}

/// A scenario's world and the live pipeline running on its virtual clock.
pub struct Simulation {
    pub clock: SimClock,
    pub world: World,
    pub store: store::Store,
    /// Stepped by `run` and `pace`.
    monitor: Monitor,
    shutdown: CancellationToken,
    /// The monitor's writer and correlation task.
    stages: TaskTracker,
    alerts: Option<SimAlerts>,
}

impl Simulation {
    /// The correlation task's snapshots, for pages served over the replay.
    pub fn status(&self) -> tokio::sync::watch::Receiver<Arc<engine::correlate::Snapshot>> {
        self.monitor.status()
    }

    /// What the replay's monitor and dispatcher count, for `/metrics`.
    pub fn metrics(&self) -> crate::metrics::Metrics {
        self.monitor.metrics()
    }

    /// The replay's own-network guard.
    pub fn vantage(&self) -> tokio::sync::watch::Receiver<engine::VantageState> {
        self.monitor.vantage()
    }

    /// Builds the world, fills the watchlist and starts the monitor's
    /// stages; the clock stands still until `run` or `pace` moves it.
    /// Links in the alerts it delivers start with `site_url`.
    pub async fn start(
        scenario: &Scenario,
        database: &crate::config::Database,
        site_url: &str,
    ) -> Result<Self, SimulateError> {
        let clock = SimClock::new(scenario.start);
        let world = World::start(scenario, clock.clone()).await?;
        let store = database.open().await?;
        let interval = scenario.probe_interval.num_seconds();
        let mut sites = Vec::new();
        for site in &world.sites {
            let new = crate::watchlist::site(
                &world.url(site),
                Some(&site.host),
                &site.group,
                Some(interval),
            )
            .map_err(|reason| SimulateError::Site(site.host.clone(), reason))?;
            sites.push(new);
        }
        store.add_sites(&sites, scenario.start).await?;
        let prober = LiveProber::new(ProberConfig {
            nameservers: world.dns.addrs(),
            // Loopback DNS answers in well under a millisecond.
            dns_timeout_ms: 100,
            connect_timeout_ms: 1_000,
            total_timeout_ms: 2_000,
            guard: GuardPolicy::loopback_only(),
            ..ProberConfig::default()
        })?;
        let mut monitor = Monitor::new(
            store.clone(),
            Arc::new(clock.clone()),
            Arc::new(prober),
            MonitorConfig {
                canaries: world.canaries(),
                ..MonitorConfig::default()
            },
        );
        let shutdown = CancellationToken::new();
        let stages = TaskTracker::new();
        monitor.spawn_stages(&stages, &shutdown);
        // Always dispatching: the scenario's subscribers and any made
        // during a demo, from the command line or the pages.
        let alerts = if scenario.subscriptions.is_empty() {
            None
        } else {
            Some(subscribe(scenario, &store, &clock).await?)
        };
        let mut dispatcher = dispatcher(&world, &store, &clock, site_url)?
            .with_vantage(monitor.vantage())
            .with_trigger(monitor.status())
            .with_metrics(monitor.metrics());
        if let Some(alerts) = &alerts {
            let mailer = crate::alerts::mail::Mailer::new(
                &alerts.mailbox.smtp_url(),
                "Faultline <alerts@faultline.test>",
                site_url,
            )
            .map_err(SimulateError::Alerts)?;
            let signer = crate::alerts::token::Signer::load(&store)
                .await
                .map_err(|error| SimulateError::Alerts(error.to_string()))?;
            dispatcher = dispatcher.with_mail(mailer, signer);
        }
        stages.spawn(dispatcher.run(shutdown.clone()));
        stages.spawn(
            status_poller(scenario, &world, &store, &clock)?
                .with_metrics(monitor.metrics())
                .run(shutdown.clone()),
        );
        Ok(Self {
            clock,
            world,
            store,
            monitor,
            shutdown,
            stages,
            alerts,
        })
    }

    /// Plays the scenario to its end as fast as the machine allows.
    pub async fn run(&mut self, scenario: &Scenario) {
        self.run_until(scenario, scenario.start + scenario.duration)
            .await;
    }

    /// Plays the scenario up to `until` (at most its end) as fast as the
    /// machine allows, and returns once every task has settled: the pages
    /// then show the judgement of that moment until the clock moves again.
    pub async fn run_until(&mut self, scenario: &Scenario, until: DateTime<Utc>) {
        crate::sim::drive(
            &mut self.monitor,
            &self.clock,
            until.min(scenario.start + scenario.duration),
            CLOCK_LOOPS,
            TimeDelta::seconds(5),
            |at| self.world.apply_dns_faults(scenario, at),
        )
        .await;
    }

    /// Plays the scenario at `speed` virtual seconds per real second, for
    /// watching (the demo), until its end or `stop`.
    pub async fn pace(&mut self, scenario: &Scenario, speed: u32, stop: &CancellationToken) {
        let end = scenario.start + scenario.duration;
        let step = TimeDelta::seconds(5);
        let real_step = std::time::Duration::from_secs_f64(5.0 / f64::from(speed.max(1)));
        let mut now = scenario.start;
        while now < end && !stop.is_cancelled() {
            let next = (now + step).min(end);
            let paced = crate::sim::drive(
                &mut self.monitor,
                &self.clock,
                next,
                CLOCK_LOOPS,
                step,
                |at| self.world.apply_dns_faults(scenario, at),
            );
            // A step is not cut short, so no probe result is lost at `stop`.
            let rest = async {
                tokio::select! {
                    () = tokio::time::sleep(real_step) => {}
                    () = stop.cancelled() => {}
                }
            };
            tokio::join!(paced, rest);
            now = next;
        }
    }

    /// Stops the monitor and the world, and reports what was detected.
    pub async fn finish(self, scenario: &Scenario) -> Result<Report, SimulateError> {
        self.shutdown.cancel();
        self.monitor.finish().await;
        self.stages.close();
        self.stages.wait().await;
        self.world.stop();
        self.world.stopped().await;
        let received = match &self.alerts {
            Some(alerts) => {
                alerts.receiver.stop();
                alerts.mailbox.stop();
                let mut received: Vec<_> = alerts
                    .receiver
                    .received()
                    .into_iter()
                    .chain(alerts.mailbox.received())
                    .filter(|r| alerts.names.values().any(|name| *name == r.name))
                    .collect();
                // By moment and subscriber; stable, so one subscriber's
                // alerts of one moment stay in the order they came in
                // (several subscribers are served at once, in no fixed order).
                received.sort_by(|a, b| (a.at, &a.name).cmp(&(b.at, &b.name)));
                received
            }
            None => Vec::new(),
        };
        let report = report(
            scenario,
            &self.store,
            scenario.start + scenario.duration,
            &received,
            &self.world.dns.addrs(),
        )
        .await;
        self.store.close().await;
        report
    }
}

/// Makes the scenario's subscriptions, each posting to the receiver under
/// its name.
async fn subscribe(
    scenario: &Scenario,
    store: &store::Store,
    clock: &SimClock,
) -> Result<SimAlerts, SimulateError> {
    let receiver = crate::sim::receiver::WebhookReceiver::start(clock.clone()).await?;
    let mailbox = crate::sim::mailbox::MailReceiver::start(clock.clone()).await?;
    let mut names = std::collections::HashMap::new();
    for subscription in &scenario.subscriptions {
        // A scenario's mail subscribers have confirmed their address.
        let (target, secrets, confirmed_at) = match subscription.channel {
            engine::AlertChannel::Email => (
                crate::sim::mailbox::MailReceiver::address(&subscription.name),
                Vec::new(),
                Some(scenario.start),
            ),
            _ => (
                receiver.url(&subscription.name),
                vec![crate::alerts::sign::new_secret()],
                None,
            ),
        };
        let id = store
            .create_subscription(
                &store::NewSubscription {
                    channel: subscription.channel,
                    format: engine::AlertFormat::Standard,
                    target,
                    secrets,
                    interests: subscription.interests.clone(),
                    min_interval_s: 0,
                    remind_every_s: 0,
                    confirmed_at,
                    created_by: "scenario".to_owned(),
                    owner: None,
                },
                scenario.start,
            )
            .await?;
        names.insert(id, subscription.name.clone());
    }
    Ok(SimAlerts {
        receiver,
        mailbox,
        names,
    })
}

/// The status-page poller on the virtual clock, reading the status pages
/// of the providers that publish statements in the scenario.
fn status_poller(
    scenario: &Scenario,
    world: &World,
    store: &store::Store,
    clock: &SimClock,
) -> Result<crate::statuses::StatusPoller, SimulateError> {
    let settings = crate::statuses::StatusSettings {
        interval_seconds: STATUS_INTERVAL_SECONDS,
        sources: scenario
            .statement_providers()
            .into_iter()
            .map(|provider| crate::statuses::SourceSetting {
                url: world.status_url(&provider),
                format: crate::sim::world::status_format(&provider),
                provider,
            })
            .collect(),
        ..crate::statuses::StatusSettings::default()
    };
    let prober = LiveProber::new(ProberConfig {
        nameservers: world.dns.addrs(),
        dns_timeout_ms: 100,
        total_timeout_ms: 2_000,
        guard: GuardPolicy::loopback_only(),
        ..ProberConfig::default()
    })?;
    crate::statuses::StatusPoller::new(
        store.clone(),
        Arc::new(clock.clone()),
        Arc::new(prober),
        None,
        settings,
    )
    .map_err(|error| SimulateError::Alerts(error.to_string()))
}

/// The alert dispatcher on the virtual clock, delivering to loopback.
fn dispatcher(
    world: &World,
    store: &store::Store,
    clock: &SimClock,
    site_url: &str,
) -> Result<crate::alerts::Dispatcher, SimulateError> {
    let settings = crate::alerts::AlertSettings {
        allowed_networks: GuardPolicy::loopback_only().allowed_networks,
        ..crate::alerts::AlertSettings::default()
    };
    let prober = LiveProber::new(ProberConfig {
        nameservers: vec![world.dns.addr()],
        dns_timeout_ms: 100,
        total_timeout_ms: 2_000,
        guard: settings.guard(),
        ..ProberConfig::default()
    })?;
    let client = crate::alerts::webhook::WebhookClient::new(Arc::new(prober))
        .map_err(|error| SimulateError::Alerts(error.to_string()))?;
    Ok(crate::alerts::Dispatcher::new(
        store.clone(),
        Arc::new(clock.clone()),
        client,
        crate::knowledge::Knowledge::builtin(),
        site_url.to_owned(),
        &settings,
    ))
}

/// Where a simulation without pages says its alerts' links lead: a name
/// that can never resolve (`.test` is reserved by RFC 2606).
pub const SIMULATED_SITE_URL: &str = "http://faultline.test";

/// Runs `scenario` into `database` and reports.
pub async fn simulate(
    scenario: &Scenario,
    database: &crate::config::Database,
) -> Result<Report, SimulateError> {
    let mut simulation = Simulation::start(scenario, database, SIMULATED_SITE_URL).await?;
    simulation.run(scenario).await;
    simulation.finish(scenario).await
}

async fn report(
    scenario: &Scenario,
    store: &store::Store,
    end: DateTime<Utc>,
    received: &[crate::sim::receiver::Received],
    resolvers: &[std::net::SocketAddr],
) -> Result<Report, SimulateError> {
    let hosts: std::collections::HashMap<i64, String> = store
        .list_sites()
        .await?
        .into_iter()
        .map(|s| (s.id, s.host))
        .collect();
    let mut all = store.list_incidents(None, 100_000).await?;
    // Incidents opened in one pass share a moment, and the order a pass
    // opens them in is not fixed: the site's host decides, so a report is
    // the same whichever database kept it.
    all.sort_by_key(|incident| {
        (
            incident.detected_at,
            incident.kind == IncidentKind::Site,
            incident.provider.clone(),
            incident.site_id.and_then(|id| hosts.get(&id).cloned()),
            incident.id,
        )
    });
    let providers: Vec<&store::Incident> = all
        .iter()
        .filter(|i| i.kind == IncidentKind::Provider && i.confirmed_at.is_some())
        .collect();
    let mut said = Vec::with_capacity(providers.len());
    for incident in &providers {
        said.push(store.statements_for_incident(incident.id).await?);
    }
    let mut incidents: Vec<ReportIncident> = providers
        .iter()
        .zip(&said)
        .map(|(i, said)| {
            let acknowledged = said
                .iter()
                .filter_map(store::Statement::acknowledged_at)
                .min();
            ReportIncident::Provider {
                provider: i.provider.clone().unwrap_or_default(),
                role: i.role.unwrap_or_default(),
                mechanism: i.mechanism.unwrap_or(engine::Mechanism::Own),
                origins: i
                    .origins
                    .filter(|_| i.mechanism == Some(engine::Mechanism::EdgeToOrigin)),
                onset_at: time(i.onset_at),
                detected_at: time(i.detected_at),
                resolved_at: i.resolved_at.map(time),
                peak_share: (i.peak_share.unwrap_or_default() * 100.0).round() / 100.0,
                sites_affected: i.sites_affected,
                pattern: i.pattern,
                confidence: (i.confidence.unwrap_or_default() * 100.0).round() / 100.0,
                acknowledged_at: acknowledged.map(time),
                lead_time_s: acknowledged
                    .map(|at| statements::matching::lead_time(i.detected_at, at).num_seconds()),
                statements: report_statements(said),
            }
        })
        .collect();
    // Database id to index in `incidents`: provider incidents first, then
    // site incidents, as they are listed.
    let mut index: std::collections::HashMap<i64, usize> = providers
        .iter()
        .enumerate()
        .map(|(n, incident)| (incident.id, n))
        .collect();
    for incident in all.iter().filter(|i| i.kind == IncidentKind::Site) {
        index.insert(incident.id, incidents.len());
        incidents.push(ReportIncident::Site {
            site: incident
                .site_id
                .and_then(|id| hosts.get(&id).cloned())
                .unwrap_or_default(),
            onset_at: time(incident.onset_at),
            detected_at: time(incident.detected_at),
            resolved_at: incident.resolved_at.map(time),
            fault: incident.fault,
            explained_by: incident
                .explained_by
                .and_then(|id| providers.iter().position(|p| p.id == id)),
        });
    }
    let vantage_events = store
        .vantage_events(scenario.start, end + TimeDelta::seconds(1))
        .await?
        .into_iter()
        .map(|event| ReportVantage {
            state: event.state,
            from: time(event.started_at),
            until: event.ended_at.map(time),
        })
        .collect();
    let resolver_events = store
        .resolver_events(scenario.start, end + TimeDelta::seconds(1))
        .await?
        .into_iter()
        .map(|event| ReportResolver {
            resolver: resolvers
                .iter()
                .position(|addr| addr.to_string() == event.resolver)
                .map_or(0, |index| index + 1),
            from: time(event.started_at),
            until: event.ended_at.map(time),
        })
        .collect();
    let alerts = received
        .iter()
        .map(|r| ReportAlert {
            subscription: r.name.clone(),
            event: r.event,
            incident: r.incident.and_then(|id| index.get(&id).copied()),
            at: time(r.at),
            channel: r.channel,
        })
        .collect();
    let unmatched: Vec<store::Statement> = store
        .all_statements(10_000)
        .await?
        .into_iter()
        .filter(|statement| {
            statement
                .incident_id
                .is_none_or(|id| !providers.iter().any(|p| p.id == id))
        })
        .collect();
    Ok(Report {
        unmatched_statements: report_statements(&unmatched),
        scenario: scenario.name.clone(),
        start: time(scenario.start),
        end: time(end),
        probes: store.probe_count().await?,
        incidents,
        vantage_events,
        resolver_events,
        alerts,
    })
}

/// One provider incident's figures, for checks and notes.
pub struct Detected<'a> {
    pub provider: &'a str,
    pub onset_at: DateTime<Utc>,
    pub detected_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub pattern: Pattern,
    /// The provider's statement matched to it.
    pub acknowledged: bool,
}

impl Report {
    pub fn provider_incidents(&self) -> Vec<Detected<'_>> {
        let parse = |text: &str| text.parse::<DateTime<Utc>>().ok();
        self.incidents
            .iter()
            .filter_map(|incident| match incident {
                ReportIncident::Provider {
                    provider,
                    onset_at,
                    detected_at,
                    resolved_at,
                    pattern,
                    acknowledged_at,
                    ..
                } => Some(Detected {
                    provider,
                    onset_at: parse(onset_at)?,
                    detected_at: parse(detected_at)?,
                    resolved_at: resolved_at.as_deref().and_then(parse),
                    pattern: *pattern,
                    acknowledged: acknowledged_at.is_some(),
                }),
                ReportIncident::Site { .. } => None,
            })
            .collect()
    }
}

/// Checks the scenario's `[[expect]]` blocks against a report; returns one
/// line per unmet expectation.
pub fn check(scenario: &Scenario, report: &Report) -> Vec<String> {
    let mut failures = Vec::new();
    let incidents = report.provider_incidents();
    for expect in &scenario.expects {
        if let Some(provider) = &expect.provider_incident {
            let mine: Vec<&Detected<'_>> = incidents
                .iter()
                .filter(|i| i.provider == provider)
                .collect();
            let Some(first) = mine.first() else {
                failures.push(format!("no provider incident for {provider}"));
                continue;
            };
            if let Some(by) = expect.detected_by {
                if first.detected_at > scenario.start + by {
                    failures.push(format!(
                        "{provider} detected at {}, later than +{}m",
                        time(first.detected_at),
                        by.num_minutes()
                    ));
                }
            }
            if let Some(by) = expect.resolved_by {
                match first.resolved_at {
                    Some(at) if at <= scenario.start + by => {}
                    other => failures.push(format!(
                        "{provider} resolved at {other:?}, expected by +{}m",
                        by.num_minutes()
                    )),
                }
            }
            if let Some(pattern) = &expect.pattern {
                if first.pattern != *pattern {
                    failures.push(format!(
                        "{provider} pattern {}, expected {pattern}",
                        first.pattern
                    ));
                }
            }
            if expect.acknowledged && !mine.iter().any(|i| i.acknowledged) {
                failures.push(format!(
                    "no statement of {provider}'s status page was matched to its incident"
                ));
            }
            if let Some(max) = expect.max_incidents {
                if mine.len() > max as usize {
                    failures.push(format!(
                        "{} incidents for {provider}, at most {max} expected",
                        mine.len()
                    ));
                }
            }
        }
        for provider in &expect.not_provider_incident {
            if incidents.iter().any(|i| i.provider == provider) {
                failures.push(format!("unexpected provider incident for {provider}"));
            }
        }
        if expect.no_provider_incident && !incidents.is_empty() {
            let names: Vec<&str> = incidents.iter().map(|i| i.provider).collect();
            failures.push(format!("unexpected provider incidents: {names:?}"));
        }
        if let Some(max) = expect.alerts_max {
            let count = report
                .alerts
                .iter()
                .filter(|a| {
                    expect
                        .subscription
                        .as_ref()
                        .is_none_or(|s| *s == a.subscription)
                })
                .count();
            if count > max as usize {
                let to = expect
                    .subscription
                    .as_deref()
                    .unwrap_or("all subscriptions");
                failures.push(format!("{count} alerts to {to}, at most {max} expected"));
            }
        }
        if let (Some(event), Some(name)) = (expect.alert, &expect.subscription) {
            let by = expect.by.map(|by| scenario.start + by);
            let arrived = report.alerts.iter().any(|a| {
                a.subscription == *name
                    && a.event == event
                    && by.is_none_or(|by| a.at.parse::<DateTime<Utc>>().is_ok_and(|at| at <= by))
            });
            if !arrived {
                let when = expect
                    .by
                    .map(|by| format!(" by +{}m", by.num_minutes()))
                    .unwrap_or_default();
                failures.push(format!("no {event} alert to {name}{when}"));
            }
        }
        if expect.vantage_offline
            && !report
                .vantage_events
                .iter()
                .any(|e| e.state == VantageState::Offline)
        {
            failures.push("the vantage was never reported offline".to_owned());
        }
        if expect.resolver_failed && report.resolver_events.is_empty() {
            failures.push("no resolver was ever reported failing".to_owned());
        }
    }
    failures
}
