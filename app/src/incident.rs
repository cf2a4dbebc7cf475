//! Incidents as the list, the incident page and its citation show them.

use chrono::{DateTime, Utc};
use engine::{IncidentKind, Pattern, Role};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::chart::{Moment, TimeChart, YUnit};
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::knowledge::provider_name;
use crate::official::{self, OfficialView};
use crate::status::Freshness;
use crate::words;

/// An incident without its evidence and timeline: for lists and links.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentSummary {
    pub id: i64,
    /// `provider` or `site`.
    pub kind: engine::IncidentKind,
    pub provider: Option<String>,
    pub provider_name: Option<String>,
    pub role: Option<engine::Role>,
    /// What showed a provider incident (`None` for a site incident, or one
    /// stored before this was kept: its own failures).
    pub mechanism: Option<engine::Mechanism>,
    /// The site of a site incident.
    pub site: Option<String>,
    pub phase: engine::Phase,
    pub pattern: engine::Pattern,
    pub fault: Option<engine::Cause>,
    pub onset_at: DateTime<Utc>,
    pub detected_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub peak_share: Option<f64>,
    pub peak_at: Option<DateTime<Utc>>,
    /// The most sites failing at once, from the timeline's counts (none in
    /// timelines stored before they were kept).
    pub peak: Option<engine::Tally>,
    pub recovering_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub confidence: Option<f64>,
    pub sites_affected: i64,
    pub explained_by: Option<i64>,
    /// Provider incidents seen from vantages in several regions: global,
    /// or regional and where.
    #[serde(default)]
    pub scope: Option<engine::Scope>,
    #[serde(default)]
    pub regions: Vec<String>,
}

impl IncidentSummary {
    #[cfg(feature = "ssr")]
    pub fn from_store(incident: store::Incident, site: Option<String>) -> Self {
        let timeline: Vec<engine::TimelinePoint> =
            serde_json::from_str(&incident.timeline).unwrap_or_default();
        let regions = incident.regions();
        Self {
            peak: engine::figures::peak(&timeline).map(|point| point.tally),
            id: incident.id,
            site: (incident.kind == engine::IncidentKind::Site)
                .then_some(site)
                .flatten(),
            kind: incident.kind,
            provider_name: incident.provider.as_deref().map(provider_name),
            provider: incident.provider,
            role: incident.role,
            mechanism: incident.mechanism,
            phase: incident.phase,
            pattern: incident.pattern,
            fault: incident.fault,
            onset_at: incident.onset_at,
            detected_at: incident.detected_at,
            confirmed_at: incident.confirmed_at,
            peak_share: incident.peak_share,
            peak_at: incident.peak_at,
            recovering_at: incident.recovering_at,
            resolved_at: incident.resolved_at,
            confidence: incident.confidence,
            sites_affected: incident.sites_affected,
            explained_by: incident.explained_by,
            regions,
            scope: incident.scope,
        }
    }

    /// "Cloudflare-wide CDN outage", "Cloudflare CDN outage in eu-west" or
    /// "example.com down".
    pub fn title(&self) -> String {
        let regional = words::regional(self.scope, &self.regions);
        match (self.kind, &self.provider_name, &self.site) {
            (IncidentKind::Provider, Some(name), _)
                if self.mechanism == Some(engine::Mechanism::EdgeToOrigin) =>
            {
                match regional {
                    Some(regions) => format!("{name} edge-to-origin failure in {regions}"),
                    None => format!("{name}-wide edge-to-origin failure"),
                }
            }
            (IncidentKind::Provider, Some(name), _) => {
                let role = self.role.map_or("provider", Role::as_str).to_uppercase();
                match regional {
                    Some(regions) => format!("{name} {role} outage in {regions}"),
                    None => format!("{name}-wide {role} outage"),
                }
            }
            (_, _, Some(site)) => format!("{site} down"),
            _ => format!("Incident {}", self.id),
        }
    }

    /// "2 of 2 (100 %)" or, for timelines without counts, "100 %".
    pub fn peak_text(&self) -> String {
        self.peak
            .map(engine::Tally::short)
            .or_else(|| self.peak_share.map(words::percent))
            .unwrap_or_else(|| "–".to_owned())
    }

    /// How long it lasted, or has lasted by `now`.
    pub fn duration(&self, now: DateTime<Utc>) -> String {
        let end = self.resolved_at.unwrap_or(now);
        let text = words::duration((end - self.onset_at).num_seconds());
        if self.resolved_at.is_some() {
            text
        } else {
            format!("{text} so far")
        }
    }

    pub fn is_open(&self) -> bool {
        self.phase.is_open()
    }

    /// Where it was seen, when vantages probe from several regions.
    pub fn reach(&self) -> Option<String> {
        words::reach(self.scope, &self.regions)
    }
}

/// A provider incident as of the current snapshot: what the home page,
/// the provider page and the incident page all say about it now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LiveIncident {
    /// The stored incident; none in the moment before it is stored.
    pub id: Option<i64>,
    pub provider: String,
    pub provider_name: String,
    pub role: Role,
    /// What shows it: its own failures, or its pages blaming unrelated
    /// origins at once.
    pub mechanism: engine::Mechanism,
    /// An edge-to-origin failure: how many unrelated origins fail.
    pub origins: u32,
    pub phase: engine::Phase,
    pub pattern: Pattern,
    pub onset_at: DateTime<Utc>,
    /// Failures fell below the threshold at this time and have stayed
    /// there, for less than the recovery hold.
    pub easing_since: Option<DateTime<Utc>>,
    pub recovering_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Its cohort now: sites failing for a reason this role explains.
    pub now: engine::Tally,
    /// The most sites failing at once, and when.
    pub peak: engine::Tally,
    pub peak_at: Option<DateTime<Utc>>,
    /// How many times failures rose: 1 for a steady outage.
    pub waves: u32,
    pub sites_affected: u32,
    pub confidence: f64,
    /// Global or regional, when vantages probe from several regions, and
    /// the regions that see it.
    pub scope: Option<engine::Scope>,
    pub regions: Vec<String>,
    /// Resolved, but these affected sites still fail with its errors.
    pub tail: Vec<SiteName>,
    /// The share failing over the incident, at most [`STRIP_POINTS`]
    /// points (each the highest of its stretch): the card's timeline strip.
    pub strip: Vec<(i64, f64)>,
}

/// Points on an incident card's timeline strip.
pub const STRIP_POINTS: usize = 96;

/// `timeline` thinned to at most `most` points, each the highest share of
/// its stretch, so no wave is lost.
pub fn thin(timeline: &[engine::TimelinePoint], most: usize) -> Vec<(i64, f64)> {
    let per = timeline.len().div_ceil(most.max(1)).max(1);
    timeline
        .chunks(per)
        .filter_map(|stretch| {
            let first = stretch.first()?;
            let highest = stretch.iter().map(|p| p.share).fold(0.0, f64::max);
            Some((first.at.timestamp(), highest))
        })
        .collect()
}

/// A watched site as pages link it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteName {
    pub host: String,
    pub name: String,
}

impl LiveIncident {
    /// "Cloudflare-wide CDN outage", or "Cloudflare CDN outage in eu-west".
    pub fn title(&self) -> String {
        let role = self.role.as_str().to_uppercase();
        match words::regional(self.scope, &self.regions) {
            Some(regions) => format!("{} {role} outage in {regions}", self.provider_name),
            None => format!("{}-wide {role} outage", self.provider_name),
        }
    }

    /// "Cloudflare-wide outage", or "Cloudflare outage in eu-west".
    fn outage(&self) -> String {
        match words::regional(self.scope, &self.regions) {
            Some(regions) => format!("{} outage in {regions}", self.provider_name),
            None => format!("{}-wide outage", self.provider_name),
        }
    }

    /// Where it is seen, when vantages probe from several regions.
    pub fn reach(&self) -> Option<String> {
        words::reach(self.scope, &self.regions)
    }

    /// "watched Cloudflare sites", what the tallies count.
    pub fn noun(&self) -> String {
        format!("watched {} sites", self.provider_name)
    }

    /// Where the incident is, in plain words with the moments dated on
    /// `today`'s terms: "ongoing", "intermittent: failures come and go
    /// (wave 3; quiet since 11:25 UTC)", "recovering since 14:31 UTC",
    /// "over since 14:31 UTC".
    pub fn state(&self, today: Option<chrono::NaiveDate>) -> String {
        use engine::Phase;
        let when = |at: DateTime<Utc>| words::when(at, today);
        match (
            self.phase,
            self.resolved_at,
            self.recovering_at,
            self.easing_since,
        ) {
            (Phase::Resolved, Some(end), _, _) => format!("over since {}", when(end)),
            (Phase::Recovering, _, Some(since), _) => format!("recovering since {}", when(since)),
            (_, _, _, Some(quiet)) if self.waves > 1 || self.pattern == Pattern::Intermittent => {
                format!(
                    "intermittent: failures come and go (wave {}; quiet since {})",
                    self.waves,
                    when(quiet)
                )
            }
            (_, _, _, Some(quiet)) => {
                format!("failures eased at {}, not over yet", when(quiet))
            }
            _ if self.waves > 1 => {
                format!("ongoing, wave {} of an intermittent outage", self.waves)
            }
            _ => "ongoing".to_owned(),
        }
    }

    /// One sentence for a headline or a card, with absolute figures first.
    pub fn sentence(&self, today: Option<chrono::NaiveDate>) -> String {
        let name = &self.provider_name;
        let since = words::when(self.onset_at, today);
        let noun = self.noun();
        let peak = if self.peak.failing > self.now.failing {
            format!("; peak {}", self.peak.short())
        } else {
            String::new()
        };
        match self.phase {
            engine::Phase::Resolved => {
                let mut text = format!(
                    "The {} from {since} is {}",
                    self.outage(),
                    self.state(today)
                );
                if !self.tail.is_empty() {
                    text.push_str(&format!(
                        ": {} still {} its errors",
                        words::count(self.tail.len(), "site", "sites"),
                        if self.tail.len() == 1 {
                            "shows"
                        } else {
                            "show"
                        },
                    ));
                }
                text.push('.');
                text
            }
            engine::Phase::Recovering => format!(
                "{} since {since}, {}: {} still failing{peak}.",
                self.outage(),
                self.state(today),
                self.now.phrase(&noun),
            ),
            _ => {
                let state = self.state(today);
                let state = if state == "ongoing" {
                    String::new()
                } else {
                    format!(", {state}")
                };
                if self.mechanism == engine::Mechanism::EdgeToOrigin {
                    let wide = match words::regional(self.scope, &self.regions) {
                        Some(regions) => format!("{name} failure, seen from {regions},"),
                        None => format!("{name}-wide failure"),
                    };
                    return format!(
                        "Likely {wide} between its edge and the sites' servers \
                         since {since}{state}: {} get {name}'s page saying it cannot reach \
                         their servers, across {} unrelated origins{peak}.",
                        self.now.phrase(&noun),
                        self.origins,
                    );
                }
                format!(
                    "Likely {} since {since}{state}: {} failing now{peak}.",
                    self.outage(),
                    self.now.phrase(&noun),
                )
            }
        }
    }

    #[cfg(feature = "ssr")]
    pub(crate) fn from_now(now: &engine::correlate::IncidentNow, tail: Vec<SiteName>) -> Self {
        let incident = &now.incident;
        let peak = engine::figures::peak(&incident.timeline);
        Self {
            id: now.id,
            provider_name: provider_name(&incident.provider),
            provider: incident.provider.clone(),
            role: incident.role,
            mechanism: incident.mechanism,
            origins: incident.origins,
            phase: incident.phase,
            pattern: incident.pattern,
            onset_at: incident.onset_at,
            easing_since: now.easing_since,
            recovering_at: incident.recovering_at,
            resolved_at: incident.resolved_at,
            now: now.now,
            peak: peak.map(|point| point.tally).unwrap_or(now.now),
            peak_at: peak.map(|point| point.at),
            waves: now.waves(),
            sites_affected: u32::try_from(incident.sites.len()).unwrap_or(u32::MAX),
            confidence: incident.confidence,
            tail,
            strip: thin(&incident.timeline, STRIP_POINTS),
            scope: (!incident.regions.is_empty()).then_some(incident.scope),
            regions: incident.regions.clone(),
        }
    }

    /// What the outage means for someone who uses or runs a site behind
    /// the provider, in one or two sentences.
    pub fn meaning(&self) -> String {
        let name = &self.provider_name;
        if !self.phase.is_open() {
            return match self.tail.len() {
                0 => format!("Sites behind {name} should be back to normal."),
                n => format!(
                    "Most sites behind {name} are back to normal; {} below still {} its errors.",
                    words::count(n, "site", "sites"),
                    if n == 1 { "shows" } else { "show" }
                ),
            };
        }
        if self.mechanism == engine::Mechanism::EdgeToOrigin {
            return format!(
                "{name}'s error pages say each site's own servers cannot be reached, but \
                 unrelated servers do not fail together at the same moment: the network \
                 between {name} and them is the likely cause. Site owners' servers are \
                 probably fine, and your own connection is not the cause."
            );
        }
        match self.role {
            Role::Dns => format!(
                "Sites whose names {name} answers for may not be found (\"server not found\"). \
                 Your own router, network or browser is not the cause; switching them will not help. \
                 Site owners can only wait for {name} or move their DNS."
            ),
            Role::Host => format!(
                "Sites and apps hosted on {name} may be slow or failing. \
                 Their owners can do little until {name} recovers; your own connection is not the cause."
            ),
            _ => format!(
                "If a site shows a {name} error page, the site's own servers are probably fine: \
                 {name} is failing in front of them. Your own connection is not the cause; \
                 wait for {name} to recover, or watch this page."
            ),
        }
    }
}

/// The stored incident as of `snapshot`: while the correlator still holds
/// it, its phase, figures and timeline are the snapshot's (the stored row
/// changes only with the phase), so a page, an export and a feed of one
/// moment agree.
#[cfg(feature = "ssr")]
pub fn as_of_snapshot(
    mut stored: store::Incident,
    snapshot: &engine::correlate::Snapshot,
) -> store::Incident {
    let Some(now) = snapshot.incidents.iter().find(|i| i.id == Some(stored.id)) else {
        return stored;
    };
    let live = &now.incident;
    stored.phase = live.phase;
    stored.pattern = live.pattern;
    stored.confirmed_at = live.confirmed_at;
    stored.recovering_at = live.recovering_at;
    stored.resolved_at = live.resolved_at;
    stored.peak_share = Some(live.peak_share);
    stored.peak_at = Some(live.peak_at);
    stored.confidence = Some(live.confidence);
    stored.sites_affected = i64::try_from(live.sites.len()).unwrap_or(i64::MAX);
    stored.relapses = i64::from(live.relapses);
    if !live.regions.is_empty() {
        stored.scope = Some(live.scope);
        stored.regions = Some(serde_json::to_string(&live.regions).unwrap_or_default());
    }
    if let Ok(timeline) = serde_json::to_string(&live.timeline) {
        stored.timeline = timeline;
    }
    stored
}

/// The snapshot's incidents as the pages show them, with the names of the
/// sites in their tails.
#[cfg(feature = "ssr")]
pub async fn live_incidents(
    store: &store::Store,
    snapshot: &engine::correlate::Snapshot,
) -> Result<Vec<LiveIncident>, AppError> {
    let ids: Vec<i64> = snapshot
        .incidents
        .iter()
        .flat_map(|incident| incident.tail.iter().copied())
        .collect();
    let names: std::collections::HashMap<i64, SiteName> = store
        .watched_sites(&ids)
        .await?
        .into_iter()
        .map(|site| {
            (
                site.id,
                SiteName {
                    host: site.host,
                    name: site.name,
                },
            )
        })
        .collect();
    Ok(snapshot
        .incidents
        .iter()
        .map(|now| {
            let tail = now
                .tail
                .iter()
                .filter_map(|id| names.get(id).cloned())
                .collect();
            LiveIncident::from_now(now, tail)
        })
        .collect())
}

/// An incident's evidence in words, naming its sites by host.
#[cfg(feature = "ssr")]
pub async fn readable_evidence(
    store: &store::Store,
    evidence_json: &str,
) -> Result<Vec<String>, store::StoreError> {
    let lines = words::evidence(Some(evidence_json));
    let ids: Vec<i64> = lines
        .iter()
        .filter_map(|line| line.strip_prefix("site ")?.split_once(':')?.0.parse().ok())
        .collect();
    let hosts: std::collections::HashMap<i64, String> = store
        .watched_sites(&ids)
        .await?
        .into_iter()
        .map(|site| (site.id, site.host))
        .collect();
    Ok(lines
        .iter()
        .map(|line| words::evidence_line(line, |id| hosts.get(&id).cloned()))
        .collect())
}

/// A site affected by a provider incident, with its sample evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AffectedSite {
    pub host: String,
    pub name: String,
    pub first_failure: DateTime<Utc>,
    pub last_failure: DateTime<Utc>,
    pub status: Option<i64>,
    pub failure: Option<engine::FailureClass>,
    /// The provider that made the error page.
    pub generator: Option<String>,
    pub generator_name: Option<String>,
    pub fault_side: Option<engine::FaultSide>,
    pub fault: Option<engine::Fault>,
    pub evidence: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnnotationView {
    pub at: DateTime<Utc>,
    pub text: String,
    pub url: Option<String>,
    pub author: String,
}

/// One line of an incident's timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineLine {
    pub at: DateTime<Utc>,
    pub label: String,
    /// The provider's own update, not a moment Faultline measured.
    pub official: bool,
    /// For a provider's update: what it said.
    pub said: Option<String>,
    /// For a provider's update: its incident page.
    pub url: Option<String>,
}

/// Everything the incident page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentPage {
    pub incident: IncidentSummary,
    /// This server takes email subscriptions.
    #[serde(default)]
    pub email_alerts: bool,
    pub evidence: Vec<String>,
    /// (Unix seconds, share of the cohort implicated), as judged.
    pub timeline: Vec<(i64, f64)>,
    /// True when the timeline was derived from the affected sites' first
    /// and last failures because none was recorded.
    pub derived: bool,
    /// Watched sites behind the provider in this role now.
    pub cohort: i64,
    pub sites: Vec<AffectedSite>,
    pub annotations: Vec<AnnotationView>,
    /// "http://host:port" as the request named it, for the permalink.
    pub origin: String,
    /// The most sites failing at once, as counted on the timeline.
    pub peak: Option<(DateTime<Utc>, engine::Tally)>,
    /// The incident as of the snapshot, while it is open or recent.
    pub live: Option<LiveIncident>,
    pub freshness: Freshness,
    /// Rises above half the peak share, from the recorded timeline.
    pub waves: Vec<engine::figures::Wave>,
    /// What the provider said on its status page about this incident.
    #[serde(default)]
    pub official: Vec<OfficialView>,
    /// The provider's status page, when the knowledge base knows one.
    #[serde(default)]
    pub status_page: Option<String>,
}

/// The share of `cohort` between their first and last failure at each
/// change: a stand-in when the correlator's own timeline is missing.
pub fn derived_share(spans: &[(i64, i64)], cohort: i64) -> Vec<(i64, f64)> {
    if cohort <= 0 {
        return Vec::new();
    }
    let mut changes: Vec<(i64, i64)> = spans
        .iter()
        .flat_map(|(first, last)| [(*first, 1), (*last + 1, -1)])
        .collect();
    changes.sort_unstable();
    let mut active = 0;
    let mut points: Vec<(i64, f64)> = Vec::new();
    for (at, change) in changes {
        active += change;
        let share = active as f64 / cohort as f64;
        match points.last_mut() {
            Some(last) if last.0 == at => last.1 = share,
            _ => points.push((at, share)),
        }
    }
    points
}

/// Separate waves above half the peak share.
pub fn waves(timeline: &[(i64, f64)]) -> usize {
    let peak = timeline.iter().map(|(_, s)| *s).fold(0.0, f64::max);
    if peak <= 0.0 {
        return 0;
    }
    let mut above = false;
    let mut count = 0;
    for (_, share) in timeline {
        let now_above = *share >= peak / 2.0;
        if now_above && !above {
            count += 1;
        }
        above = now_above;
    }
    count
}

impl IncidentPage {
    /// Who spoke first, Faultline or the provider's status page, in one
    /// sentence; `None` for a site incident or when nothing was matched.
    pub fn lead(&self) -> Option<String> {
        let acknowledged = official::acknowledged_at(&self.official)?;
        Some(official::lead_sentence(
            self.incident
                .provider_name
                .as_deref()
                .unwrap_or("the provider"),
            self.incident.detected_at,
            acknowledged,
        ))
    }

    pub fn permalink(&self) -> String {
        format!("{}/incident/{}", self.origin, self.incident.id)
    }

    /// A paragraph a journalist can paste, with every figure in it.
    pub fn cite(&self) -> String {
        let i = &self.incident;
        let mut text = format!(
            "Faultline observed a {} starting at {} (first failing probe), detected at {}",
            i.title(),
            words::utc(i.onset_at),
            words::utc(i.detected_at),
        );
        match i.resolved_at {
            Some(end) => text.push_str(&format!(
                " and resolved at {} ({}).",
                words::utc(end),
                i.duration(self.freshness.now)
            )),
            None => text.push_str(&format!(
                "; {} as of {}.",
                self.live.as_ref().map_or_else(
                    || format!("still {}", i.phase.plain()),
                    |live| live.state(None)
                ),
                words::utc(self.freshness.data_until.unwrap_or(self.freshness.now))
            )),
        }
        let name = i.provider_name.as_deref().unwrap_or_default();
        match (self.peak, i.peak_share, i.peak_at) {
            (Some((at, tally)), _, _) => text.push_str(&format!(
                " At its peak at {}, {} were failing;",
                words::utc(at),
                tally.phrase(&format!("watched {name} sites")),
            )),
            (None, Some(share), Some(at)) => text.push_str(&format!(
                " At its peak at {}, {} of the watched sites served by {name} were failing;",
                words::utc(at),
                words::percent(share),
            )),
            _ => {}
        }
        let affected = usize::try_from(i.sites_affected).unwrap_or_default();
        text.push_str(&format!(
            " {} {} affected",
            words::count(affected, "site", "sites"),
            if affected == 1 { "was" } else { "were" }
        ));
        if let Some(confidence) = i.confidence {
            text.push_str(&format!(
                "; confidence in the attribution {}",
                words::percent(confidence)
            ));
        }
        if i.pattern == Pattern::Intermittent {
            text.push_str("; the failures were intermittent");
        }
        text.push('.');
        if let Some(acknowledged) = official::acknowledged_at(&self.official) {
            let name = i.provider_name.as_deref().unwrap_or("the provider");
            let link = self
                .official
                .iter()
                .find_map(|view| view.url.clone())
                .map(|url| format!(" ({url})"))
                .unwrap_or_default();
            text.push_str(&format!(
                " {name}'s status page first acknowledged it at {}{link}",
                words::utc(acknowledged)
            ));
            match official::resolved_at(&self.official) {
                Some(end) => text.push_str(&format!(
                    " and declared it resolved at {}.",
                    words::utc(end)
                )),
                None => text.push('.'),
            }
        }
        text.push_str(&format!(
            " Source: Faultline incident #{}, {}",
            i.id,
            self.permalink()
        ));
        text
    }

    /// The timeline's lines: the incident's moments and, marked, each
    /// update the provider published, with an excerpt of its words.
    pub fn timeline_lines(&self) -> Vec<TimelineLine> {
        let mut lines: Vec<TimelineLine> = self
            .measured_moments()
            .into_iter()
            .map(|(at, label)| TimelineLine {
                at,
                label,
                official: false,
                said: None,
                url: None,
            })
            .collect();
        for view in &self.official {
            for update in &view.updates {
                lines.push(TimelineLine {
                    at: update.at,
                    label: format!("{}: {}", view.provider_name, official::stage(update.status)),
                    official: true,
                    said: (!update.text.is_empty()).then(|| official::excerpt(&update.text, 160)),
                    url: view.url.clone(),
                });
            }
        }
        lines.sort_by_key(|line| line.at);
        lines
    }

    /// The key moments, the provider's updates among them, in time order:
    /// the chart's marks.
    pub fn moments(&self) -> Vec<(DateTime<Utc>, String)> {
        let mut moments = self.measured_moments();
        for view in &self.official {
            for update in &view.updates {
                moments.push((
                    update.at,
                    format!("{}: {}", view.provider_name, official::stage(update.status)),
                ));
            }
        }
        moments.sort_by_key(|(at, _)| *at);
        moments
    }

    /// The moments Faultline measured (and its notes), in time order.
    fn measured_moments(&self) -> Vec<(DateTime<Utc>, String)> {
        let i = &self.incident;
        let mut moments = vec![
            (i.onset_at, "Onset".to_owned()),
            (i.detected_at, "Detected".to_owned()),
        ];
        if let Some(at) = i.confirmed_at.filter(|at| *at != i.detected_at) {
            moments.push((at, "Confirmed".to_owned()));
        }
        match (self.peak, i.peak_at, i.peak_share) {
            (Some((at, tally)), _, _) => moments.push((at, format!("Peak {}", tally.short()))),
            (None, Some(at), Some(share)) => {
                moments.push((at, format!("Peak {}", words::percent(share))));
            }
            _ => {}
        }
        if let Some(at) = i.recovering_at {
            moments.push((at, "Recovering".to_owned()));
        }
        if let Some(at) = i.resolved_at {
            moments.push((at, "Resolved".to_owned()));
        }
        for (n, note) in self.annotations.iter().enumerate() {
            moments.push((note.at, format!("Note {}", n + 1)));
        }
        moments.sort_by_key(|(at, _)| *at);
        moments
    }

    /// The share of affected sites over time with the moments marked.
    pub fn chart(&self) -> TimeChart {
        let i = &self.incident;
        let mut start = i.onset_at.timestamp();
        let mut end = i
            .resolved_at
            .unwrap_or(i.detected_at)
            .timestamp()
            .max(self.timeline.last().map_or(start, |p| p.0))
            .max(
                self.sites
                    .iter()
                    .map(|s| s.last_failure.timestamp())
                    .max()
                    .unwrap_or(start),
            );
        for note in &self.annotations {
            start = start.min(note.at.timestamp());
            end = end.max(note.at.timestamp());
        }
        for update in self.official.iter().flat_map(|view| &view.updates) {
            start = start.min(update.at.timestamp());
            end = end.max(update.at.timestamp());
        }
        let pad = ((end - start) / 12).max(120);
        let (from, until) = (start - pad, end + pad);
        let mut line = self.timeline.clone();
        if let Some(first) = line.first().copied() {
            // Nothing was failing before the onset.
            line.insert(0, (start.min(first.0), 0.0));
            line.insert(0, (from, 0.0));
        }
        let peak = line.iter().map(|(_, s)| *s).fold(0.0, f64::max);
        let summary = format!(
            "The share of {}'s watched sites failing, {} from {} to {}; peak {}.",
            i.provider_name.as_deref().unwrap_or_default(),
            if self.derived {
                "derived from each affected site's first and last failure"
            } else {
                "as the correlator judged it every few seconds"
            },
            words::utc(i.onset_at),
            i.resolved_at.map_or_else(|| "now".to_owned(), words::utc),
            words::percent(i.peak_share.unwrap_or(peak)),
        );
        TimeChart {
            id: format!("incident-{}", i.id),
            title: "Share of sites failing over time".to_owned(),
            summary,
            from,
            until,
            y_max: 1.0,
            y_unit: YUnit::Percent,
            line,
            step: true,
            // The chart joins moments too close to label apart.
            // The provider's updates are numbered as the list below.
            moments: self
                .measured_moments()
                .into_iter()
                .map(|(at, label)| Moment {
                    at: at.timestamp(),
                    label,
                    official: false,
                })
                .chain(
                    self.timeline_lines()
                        .into_iter()
                        .enumerate()
                        .filter(|(_, line)| line.official)
                        .map(|(n, line)| Moment {
                            at: line.at.timestamp(),
                            label: (n + 1).to_string(),
                            official: true,
                        }),
                )
                .collect(),
            ..TimeChart::default()
        }
    }
}

/// The incidents list: provider incidents as of the snapshot, newest
/// first, and that snapshot's freshness.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentList {
    pub incidents: Vec<IncidentSummary>,
    pub freshness: Freshness,
}

/// Confirmed provider incidents, newest first.
#[server]
pub async fn list_incidents() -> Result<IncidentList, AppError> {
    let store = expect_context::<store::Store>();
    let status = expect_context::<crate::status::Status>();
    let snapshot = status.snapshot();
    let incidents = store
        .provider_incidents(None, 200)
        .await?
        .into_iter()
        .map(|i| IncidentSummary::from_store(as_of_snapshot(i, &snapshot), None))
        .collect();
    Ok(IncidentList {
        incidents,
        freshness: status.freshness(&snapshot),
    })
}

/// The incidents list's live updates, from the short memo.
#[server]
pub async fn poll_incidents() -> Result<IncidentList, AppError> {
    crate::live::memoised((), list_incidents()).await
}

/// An incident page's live updates, from the short memo.
#[server]
pub async fn poll_incident(id: i64) -> Result<IncidentPage, AppError> {
    crate::live::memoised(id, get_incident(id)).await
}

#[server]
pub async fn get_incident(id: i64) -> Result<IncidentPage, AppError> {
    let store = expect_context::<store::Store>();
    let Some(stored) = store.incident(id).await? else {
        return Err(AppError::not_found("No such incident."));
    };
    let site = match stored.site_id {
        Some(site_id) => store.site(site_id).await?.map(|s| s.host),
        None => None,
    };
    let evidence = readable_evidence(&store, &stored.evidence).await?;
    let status = expect_context::<crate::status::Status>();
    let snapshot = status.snapshot();
    let freshness = status.freshness(&snapshot);
    let stored = as_of_snapshot(stored, &snapshot);
    let recorded: Vec<engine::TimelinePoint> =
        serde_json::from_str(&stored.timeline).unwrap_or_default();
    let incident = IncidentSummary::from_store(stored, site);
    let live = live_incidents(&store, &snapshot)
        .await?
        .into_iter()
        .find(|live| live.id == Some(id));
    let peak = engine::figures::peak(&recorded).map(|point| (point.at, point.tally));
    let waves = engine::figures::waves(&recorded);
    let sites: Vec<AffectedSite> = store
        .incident_sites(id)
        .await?
        .into_iter()
        .map(|s| AffectedSite {
            evidence: words::evidence(s.evidence.as_deref()),
            host: s.host,
            name: s.name,
            first_failure: s.first_failure,
            last_failure: s.last_failure,
            status: s.status,
            failure: s.failure,
            generator_name: s.generator.as_deref().map(provider_name),
            generator: s.generator,
            fault_side: s.fault_side,
            fault: s.fault,
        })
        .collect();
    let cohort = match (&incident.provider, &incident.role) {
        (Some(provider), Some(role)) => store
            .provider_cohorts()
            .await?
            .into_iter()
            .filter(|c| &c.provider == provider && c.role.cohort() == *role)
            .map(|c| c.sites)
            .sum(),
        _ => 0,
    };
    let mut timeline: Vec<(i64, f64)> = recorded
        .into_iter()
        .map(|point| (point.at.timestamp(), point.share))
        .collect();
    let derived = timeline.is_empty();
    if derived {
        let spans: Vec<(i64, i64)> = sites
            .iter()
            .map(|s| (s.first_failure.timestamp(), s.last_failure.timestamp()))
            .collect();
        timeline = derived_share(&spans, cohort.max(sites.len() as i64));
    }
    let annotations = store
        .annotations(id)
        .await?
        .into_iter()
        .map(|a| AnnotationView {
            at: a.at,
            text: a.text,
            url: a.url,
            author: a.author,
        })
        .collect();
    let official: Vec<OfficialView> = store
        .statements_for_incident(id)
        .await?
        .into_iter()
        .map(OfficialView::from_store)
        .collect();
    let status_page = incident
        .provider
        .as_deref()
        .and_then(crate::knowledge::status_page);
    Ok(IncidentPage {
        email_alerts: crate::subscribe::email_offered(),
        incident,
        evidence,
        timeline,
        derived,
        cohort,
        sites,
        annotations,
        origin: crate::origin::request_origin(),
        peak,
        live,
        freshness,
        waves,
        official,
        status_page,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_share_counts_sites_between_first_and_last_failure() {
        let points = derived_share(&[(10, 20), (15, 30)], 4);
        assert_eq!(points, [(10, 0.25), (15, 0.5), (21, 0.25), (31, 0.0)]);
        assert!(derived_share(&[(1, 2)], 0).is_empty());
    }

    #[test]
    fn waves_count_rises_above_half_the_peak() {
        let steady = [(0, 0.1), (1, 0.8), (2, 0.9), (3, 0.1)];
        assert_eq!(waves(&steady), 1);
        let intermittent = [(0, 0.8), (1, 0.1), (2, 0.7), (3, 0.0), (4, 0.9)];
        assert_eq!(waves(&intermittent), 3);
    }
}
