//! The correlator: from classified probes to site states and provider-wide
//! incidents. Pure: observations and time come in as arguments, events go
//! out; the caller stores them.
//!
//! A provider is implicated only by failures that point at it: its own edge
//! errors (and, for a CDN, failures to reach its edge at all; for a DNS
//! provider, failed lookups). Origin errors behind a provider do not count,
//! with one exception: when, within a few minutes, a large share of a CDN's
//! cohort gets the CDN's own page saying it could not reach or hear from
//! the origin, and those origins are unrelated (different owners), the path
//! between its edge and the origins is what failed: an edge-to-origin
//! incident ([`Mechanism::EdgeToOrigin`]). Each cohort (the sites sharing a provider in one role) is judged against
//! its own baseline, so a noisy cohort needs a clear jump, and a small
//! cohort or a single site can never open a provider incident. Probes the
//! own-network guard marked suspect never count.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

pub use crate::figures::{Tally, TimelinePoint};
pub use crate::vocab::{
    Cause, FailureClass, Fault, FaultSide, Mechanism, Pattern, Phase, Role, Scope, VantageState,
};

/// One classified probe of one site.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub site_id: i64,
    /// Who probed: 0 for this central's own prober, else an agent's id.
    pub vantage: i64,
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub suspect: bool,
    pub failure: Option<FailureClass>,
    /// The provider that generated the error page, if the classifier knew.
    pub generator: Option<String>,
    pub fault_side: Option<FaultSide>,
    pub fault: Option<Fault>,
}

/// A provider-wide incident as the correlator sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProviderIncident {
    pub provider: String,
    pub role: Role,
    /// What shows it: the provider's own failures, or pages blaming
    /// unrelated origins at once.
    #[serde(default)]
    pub mechanism: Mechanism,
    /// For an edge-to-origin incident, how many unrelated origins (owners)
    /// failed together when it opened.
    #[serde(default)]
    pub origins: u32,
    /// Seen from every region that probes, or from some only.
    #[serde(default)]
    pub scope: Scope,
    /// The regions that saw it, when the vantages are in several.
    #[serde(default)]
    pub regions: Vec<String>,
    pub phase: Phase,
    /// First failing probe among the implicated sites.
    pub onset_at: DateTime<Utc>,
    pub detected_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub peak_share: f64,
    pub peak_at: DateTime<Utc>,
    /// When the share fell below the threshold, once that has held for
    /// [`Thresholds::recovery_hold`].
    pub recovering_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub pattern: Pattern,
    /// Times the share fell below the threshold and rose again.
    pub relapses: u32,
    pub confidence: f64,
    /// Each implicated site with its first and last implicating probe.
    pub sites: BTreeMap<i64, (DateTime<Utc>, DateTime<Utc>)>,
    /// One point per tick: the weighted share and the count of sites
    /// whose failure the provider's role explains.
    pub timeline: Vec<TimelinePoint>,
    /// Short evidence strings: which sites said what.
    pub evidence: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A provider incident changed phase (or opened).
    Provider {
        key: usize,
        incident: ProviderIncident,
    },
    SiteDown {
        site_id: i64,
        at: DateTime<Utc>,
        onset_at: DateTime<Utc>,
        cause: Option<Cause>,
        explained_by: Option<usize>,
    },
    SiteUp {
        site_id: i64,
        at: DateTime<Utc>,
    },
}

#[derive(Clone, Debug)]
pub struct Thresholds {
    /// Cohorts smaller than this never open an incident.
    pub min_cohort: usize,
    /// Fewest distinct implicated sites for an incident.
    pub min_sites: usize,
    /// Lowest share of the cohort that can open an incident.
    pub min_share: f64,
    /// How far above its own baseline a cohort's share must rise.
    pub over_baseline: f64,
    /// Observations older than this are stale and not counted.
    pub freshness: TimeDelta,
    /// How long the share must stay low before an incident is called
    /// recovering: shorter lulls are the gaps between the waves of an
    /// intermittent outage, not a recovery.
    pub recovery_hold: TimeDelta,
    /// How long the share must stay low before an incident is resolved.
    pub resolve_after: TimeDelta,
    /// Consecutive failing (passing) probes before a site is down (up).
    pub site_down_after: u32,
    pub site_up_after: u32,
    /// An edge-to-origin incident needs its origin-blaming failures to
    /// begin within this window: scattered failures never add up.
    pub origin_burst: TimeDelta,
    /// The lowest share of the cohort such a burst must reach.
    pub min_origin_share: f64,
    /// Fewest unrelated origins (owners) in such a burst; and at least
    /// half the failing sites must be of different owners.
    pub min_origins: usize,
    /// How many of a site's fresh vantages must agree (fewer when fewer
    /// probe it) before it is down, or a provider's failure counts in it.
    pub confirm: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            min_cohort: 5,
            min_sites: 3,
            min_share: 0.25,
            over_baseline: 0.15,
            freshness: TimeDelta::seconds(150),
            recovery_hold: TimeDelta::minutes(10),
            resolve_after: TimeDelta::minutes(15),
            site_down_after: 2,
            site_up_after: 2,
            origin_burst: TimeDelta::minutes(10),
            min_origin_share: 0.3,
            min_origins: 5,
            confirm: 2,
        }
    }
}

#[derive(Debug, Default)]
struct SiteTrack {
    latest: Option<Observation>,
    failing_since: Option<DateTime<Utc>>,
    fails: u32,
    passes: u32,
    down: bool,
    /// Recent up/down changes, for flap control.
    changes: Vec<DateTime<Utc>>,
    /// Went down while flapping: needs a long calm to count as up.
    flapping: bool,
}

/// One site as every vantage sees it: each vantage's own track, and the
/// verdict enough of the fresh ones agree on.
#[derive(Debug, Default)]
struct SiteAcross {
    tracks: BTreeMap<i64, SiteTrack>,
    down: bool,
}

impl SiteTrack {
    /// Takes one probe from this track's vantage. Suspect probes say
    /// nothing either way.
    fn observe(&mut self, observation: Observation, thresholds: &Thresholds) {
        if observation.suspect {
            // That vantage's own network was failing: no evidence.
        } else if observation.ok {
            self.passes += 1;
            self.fails = 0;
            let needed = if self.flapping {
                FLAP_CALM_PASSES
            } else {
                thresholds.site_up_after
            };
            if self.down && self.passes >= needed {
                self.down = false;
                self.flapping = false;
                self.changes.push(observation.at);
            }
            if !self.down {
                self.failing_since = None;
            }
        } else {
            self.fails += 1;
            self.passes = 0;
            self.failing_since.get_or_insert(observation.at);
            if !self.down && self.fails >= thresholds.site_down_after {
                self.down = true;
                self.changes
                    .retain(|at| *at >= observation.at - FLAP_WINDOW);
                self.changes.push(observation.at);
                self.flapping = self.changes.len() >= FLAP_CHANGES;
            }
        }
        self.latest = Some(observation);
    }

    /// Its latest probe, if fresh at `now` and not suspect: a vantage whose
    /// own network fails is left out.
    fn heard(&self, now: DateTime<Utc>, freshness: TimeDelta) -> Option<&Observation> {
        self.latest
            .as_ref()
            .filter(|latest| !latest.suspect && latest.at >= now - freshness)
    }
}

impl SiteAcross {
    /// Down when at least `confirm` of the fresh vantages (all of them,
    /// when fewer probe it) say so; `None` when no fresh vantage can tell.
    fn verdict(&self, now: DateTime<Utc>, thresholds: &Thresholds) -> Option<bool> {
        let heard: Vec<&SiteTrack> = self
            .tracks
            .values()
            .filter(|track| track.heard(now, thresholds.freshness).is_some())
            .collect();
        if heard.is_empty() {
            return None;
        }
        let needed = thresholds.confirm.clamp(1, heard.len());
        Some(heard.iter().filter(|track| track.down).count() >= needed)
    }

    /// The track that speaks for the site: the latest of those agreeing
    /// with its verdict whose own network was well, else the latest of
    /// those agreeing, else the latest.
    fn speaker(&self) -> Option<&SiteTrack> {
        let latest = |track: &&SiteTrack| track.latest.as_ref().map(|o| o.at);
        let agreeing = |track: &&SiteTrack| track.down == self.down && track.latest.is_some();
        let trusted = |track: &&SiteTrack| track.latest.as_ref().is_some_and(|o| !o.suspect);
        self.tracks
            .values()
            .filter(agreeing)
            .filter(trusted)
            .max_by_key(latest)
            .or_else(|| self.tracks.values().filter(agreeing).max_by_key(latest))
            .or_else(|| self.tracks.values().max_by_key(latest))
    }

    /// Since when the site has failed: its down vantages' earliest.
    fn failing_since(&self) -> Option<DateTime<Utc>> {
        if self.down {
            self.tracks
                .values()
                .filter(|track| track.down)
                .filter_map(|track| track.failing_since)
                .min()
        } else {
            self.speaker().and_then(|track| track.failing_since)
        }
    }
}

/// Which vantages a measure listens to.
#[derive(Clone, Copy, Debug)]
enum Lens<'a> {
    All,
    Region(&'a str),
}

/// A site that changed state this often within `FLAP_WINDOW` is flapping:
/// it stays down until it has passed `FLAP_CALM_PASSES` probes in a row, so
/// it makes one long site incident instead of many short ones.
const FLAP_CHANGES: usize = 4;
const FLAP_WINDOW: TimeDelta = TimeDelta::minutes(30);
const FLAP_CALM_PASSES: u32 = 10;

#[derive(Debug, Default)]
struct Cohort {
    members: HashSet<i64>,
    baseline: f64,
    /// The usual share of members whose pages blame their origin.
    origin_baseline: f64,
    open: Option<usize>,
    below_since: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
pub struct Correlator {
    thresholds: Thresholds,
    sites: HashMap<i64, SiteAcross>,
    /// Each vantage's region; a vantage not named here is in "".
    regions: HashMap<i64, String>,
    cohorts: BTreeMap<(String, Role), Cohort>,
    site_cohorts: HashMap<i64, Vec<(String, Role)>>,
    /// Each site's owner (its registrable domain): sites of one owner are
    /// not unrelated origins.
    owners: HashMap<i64, String>,
    incidents: Vec<ProviderIncident>,
    /// Judgements so far: the version of the next snapshot.
    ticks: u64,
    last_tick: Option<DateTime<Utc>>,
    /// The newest probe observed.
    newest: Option<DateTime<Utc>>,
}

/// A cohort as judged at one moment.
struct Measure {
    /// Members with a fresh probe.
    counted: usize,
    /// The sum of the members' weights.
    score: f64,
    /// Members whose failure the role explains (weight at least 0.5), with
    /// when they began failing and their latest probe.
    implicated: Vec<(i64, DateTime<Utc>, Observation)>,
    /// Members failing for a reason the role does not explain.
    failing_otherwise: usize,
    /// Members of a CDN cohort whose latest probe got the provider's own
    /// page saying it could not reach, or hear from, their origin.
    origin_blamed: Vec<(i64, DateTime<Utc>, Observation)>,
}

impl Measure {
    fn share(&self) -> f64 {
        self.score / self.counted.max(1) as f64
    }

    fn tally(&self) -> Tally {
        Tally::new(
            u32::try_from(self.implicated.len()).unwrap_or(u32::MAX),
            u32::try_from(self.counted).unwrap_or(u32::MAX),
        )
    }
}

impl Correlator {
    pub fn new(thresholds: Thresholds) -> Self {
        Self {
            thresholds,
            ..Self::default()
        }
    }

    /// Declares that `site_id` is served by `provider` in `role`.
    /// A firewall joins the CDN cohort ([`Role::cohort`]).
    pub fn add_member(&mut self, site_id: i64, provider: &str, role: Role) {
        let key = (provider.to_owned(), role.cohort());
        if self
            .cohorts
            .entry(key.clone())
            .or_default()
            .members
            .insert(site_id)
        {
            self.site_cohorts.entry(site_id).or_default().push(key);
        }
    }

    /// Declares who owns `site_id` (its registrable domain, see
    /// [`crate::attribution::owner_domain`]). A site with no owner declared
    /// is taken as unrelated to every other.
    pub fn set_owner(&mut self, site_id: i64, owner: &str) {
        if self.owners.get(&site_id).is_none_or(|known| known != owner) {
            self.owners.insert(site_id, owner.to_owned());
        }
    }

    /// Every provider incident so far, confirmed or not, in opening order.
    pub fn incidents(&self) -> &[ProviderIncident] {
        &self.incidents
    }

    /// Goes on with an incident that an earlier correlator opened and did
    /// not resolve (stored, and read back after a restart or when another
    /// central takes the lead), instead of opening it again. Returns its
    /// key; `None` when it is resolved, or its cohort has an open incident.
    pub fn adopt(&mut self, incident: ProviderIncident) -> Option<usize> {
        if incident.phase == Phase::Resolved {
            return None;
        }
        let cohort = self
            .cohorts
            .entry((incident.provider.clone(), incident.role.cohort()))
            .or_default();
        if cohort.open.is_some() {
            return None;
        }
        self.incidents.push(incident);
        let index = self.incidents.len() - 1;
        cohort.open = Some(index);
        cohort.below_since = None;
        Some(index)
    }

    /// Names the region a vantage probes from.
    pub fn set_region(&mut self, vantage: i64, region: &str) {
        if self
            .regions
            .get(&vantage)
            .is_none_or(|known| known != region)
        {
            self.regions.insert(vantage, region.to_owned());
        }
    }

    fn region_of(&self, vantage: i64) -> &str {
        self.regions.get(&vantage).map_or("", String::as_str)
    }

    /// Takes one probe result; returns a site event if the site changed
    /// state: down once `confirm` of its fresh vantages see it down (all
    /// of them, when fewer probe it), up once too few do.
    pub fn observe(&mut self, observation: Observation) -> Option<Event> {
        self.newest = self.newest.max(Some(observation.at));
        let site_id = observation.site_id;
        let at = observation.at;
        let site = self.sites.entry(site_id).or_default();
        let track = site.tracks.entry(observation.vantage).or_default();
        if track
            .latest
            .as_ref()
            .is_some_and(|latest| latest.at > observation.at)
        {
            return None; // late result
        }
        track.observe(observation, &self.thresholds);
        let down = site.verdict(at, &self.thresholds)?;
        if down == site.down {
            return None;
        }
        site.down = down;
        if !down {
            return Some(Event::SiteUp { site_id, at });
        }
        let onset_at = site.failing_since().unwrap_or(at);
        let speaker = site.speaker()?.latest.clone()?;
        let explained_by = self.site_cohorts.get(&site_id).and_then(|keys| {
            keys.iter().find_map(|key| {
                let open = self.cohorts.get(key)?.open?;
                let mechanism = self.incidents.get(open)?.mechanism;
                (weight_in(&speaker, &key.0, key.1, mechanism) >= 0.5).then_some(open)
            })
        });
        Some(Event::SiteDown {
            site_id,
            at,
            onset_at,
            cause: Cause::of(speaker.fault, speaker.failure),
            explained_by,
        })
    }

    /// Re-judges every cohort at `now`. While our vantage is offline no
    /// incident opens or escalates.
    ///
    /// With vantages in several regions, each region's vantages are also
    /// heard on their own, so an outage only one region sees opens an
    /// incident scoped to it; our own vantage offline freezes judgement
    /// only when no other vantage is heard.
    pub fn tick(&mut self, now: DateTime<Utc>, vantage_offline: bool) -> Vec<Event> {
        self.ticks += 1;
        self.last_tick = Some(now);
        let heard = self.vantages_heard(now);
        let heard_elsewhere = heard.iter().any(|vantage| *vantage != 0);
        let frozen = vantage_offline && !heard_elsewhere;
        let mut regions: Vec<String> = heard
            .iter()
            .map(|vantage| self.region_of(*vantage).to_owned())
            .collect();
        regions.sort_unstable();
        regions.dedup();
        let mut events = Vec::new();
        let keys: Vec<(String, Role)> = self.cohorts.keys().cloned().collect();
        for key in keys {
            if let Some(event) = self.judge(&key, now, frozen, &regions) {
                events.push(event);
            }
        }
        events
    }

    /// The vantages heard from at `now`: one walk over the tracks.
    fn vantages_heard(&self, now: DateTime<Utc>) -> std::collections::BTreeSet<i64> {
        self.sites
            .values()
            .flat_map(|site| site.tracks.iter())
            .filter(|(_, track)| track.heard(now, self.thresholds.freshness).is_some())
            .map(|(vantage, _)| *vantage)
            .collect()
    }

    /// Whether a measure shows the provider failing.
    fn above(&self, role: Role, measure: &Measure, threshold: f64) -> bool {
        measure.counted >= self.thresholds.min_cohort
            && measure.share() >= threshold
            && measure.implicated.len() >= self.thresholds.min_sites
            && self.unrelated_enough(role, &measure.implicated)
    }

    fn judge(
        &mut self,
        key: &(String, Role),
        now: DateTime<Utc>,
        vantage_offline: bool,
        regions: &[String],
    ) -> Option<Event> {
        let thresholds = self.thresholds.clone();
        let (provider, role) = (key.0.as_str(), key.1);
        let global = self.measure(key, now, Lens::All)?;
        // Each region heard on its own, when there are several.
        let mut regional: Vec<(String, Measure)> = Vec::new();
        if regions.len() > 1 {
            for region in regions {
                if let Some(measure) = self.measure(key, now, Lens::Region(region)) {
                    regional.push((region.clone(), measure));
                }
            }
        }
        if global.counted < thresholds.min_cohort
            && regional
                .iter()
                .all(|(_, measure)| measure.counted < thresholds.min_cohort)
        {
            return None;
        }
        let cohort = self.cohorts.get(key)?;
        let baseline = cohort.baseline;
        let threshold = thresholds
            .min_share
            .max(baseline + thresholds.over_baseline);
        let global_above = !vantage_offline && self.above(role, &global, threshold);
        let mut regions_above: Vec<String> = Vec::new();
        let mut strongest: Option<Measure> = None;
        if !vantage_offline {
            for (region, measure) in regional {
                if self.above(role, &measure, threshold) {
                    regions_above.push(region);
                    if strongest
                        .as_ref()
                        .is_none_or(|best| measure.share() > best.share())
                    {
                        strongest = Some(measure);
                    }
                }
            }
        }
        let scope_now = if regions.len() > 1 && regions_above.len() < regions.len() {
            Scope::Regional
        } else {
            Scope::Global
        };

        let Some(index) = cohort.open else {
            let share = global.share();
            let origin_share = global.origin_share();
            let opening = if global_above || strongest.is_some() {
                let measure = match strongest {
                    Some(regional) if !global_above => regional,
                    _ => global,
                };
                let share = measure.share();
                Some(Opening {
                    mechanism: Mechanism::Own,
                    confidence: confidence(share, threshold, &measure.implicated, provider),
                    onset_at: earliest(&measure.implicated).unwrap_or(now),
                    origins: 0,
                    measure,
                })
            } else if vantage_offline {
                None
            } else {
                self.edge_to_origin(key, &global, cohort.origin_baseline, now)
            };
            let Some(opening) = opening else {
                // Learn what normal looks like for this cohort.
                if !vantage_offline {
                    let cohort = self.cohorts.get_mut(key)?;
                    cohort.baseline = 0.98 * cohort.baseline + 0.02 * share;
                    cohort.origin_baseline = 0.98 * cohort.origin_baseline + 0.02 * origin_share;
                }
                return None;
            };
            let share = opening.measure.share();
            let mut incident = ProviderIncident {
                provider: provider.to_owned(),
                role,
                mechanism: opening.mechanism,
                origins: u32::try_from(opening.origins).unwrap_or(u32::MAX),
                scope: scope_now,
                regions: if regions.len() > 1 {
                    regions_above.clone()
                } else {
                    Vec::new()
                },
                phase: Phase::Suspected,
                onset_at: opening.onset_at,
                detected_at: now,
                confirmed_at: None,
                peak_share: share,
                peak_at: now,
                recovering_at: None,
                resolved_at: None,
                pattern: Pattern::Steady,
                relapses: 0,
                confidence: opening.confidence,
                sites: BTreeMap::new(),
                timeline: vec![TimelinePoint {
                    at: now,
                    share,
                    tally: opening.measure.tally(),
                }],
                evidence: Vec::new(),
            };
            if opening.mechanism == Mechanism::EdgeToOrigin {
                incident.evidence.push(format!(
                    "{} of {} sites ({:.0} %) got {provider}'s page saying it could not reach \
                     their servers, across {} unrelated origins, since {}",
                    opening.measure.implicated.len(),
                    opening.measure.counted,
                    100.0 * share,
                    opening.origins,
                    opening.onset_at.format("%H:%M UTC"),
                ));
            }
            record_sites(&mut incident, &opening.measure.implicated);
            if share >= 0.5 {
                incident.phase = Phase::Confirmed;
                incident.confirmed_at = Some(now);
            }
            self.incidents.push(incident);
            let index = self.incidents.len() - 1;
            let cohort = self.cohorts.get_mut(key)?;
            cohort.open = Some(index);
            cohort.below_since = None;
            return Some(Event::Provider {
                key: index,
                incident: self.incidents[index].clone(),
            });
        };

        let above = global_above || strongest.is_some();
        let measure = match strongest {
            Some(regional) if !global_above => regional,
            _ => global,
        };
        let share = measure.share();
        let point = TimelinePoint {
            at: now,
            share,
            tally: measure.tally(),
        };
        let implicated = measure.implicated;
        let origins = self.owners_among(&implicated);
        let cohort = self.cohorts.get_mut(key)?;
        let incident = self.incidents.get_mut(index)?;
        incident.timeline.push(point);
        let before = incident.phase;
        let seen_before = incident.regions.len();
        let relapses_before = incident.relapses;
        if above && regions.len() > 1 {
            for region in regions_above {
                if !incident.regions.contains(&region) {
                    incident.regions.push(region);
                }
            }
            incident.regions.sort_unstable();
            if regions
                .iter()
                .all(|region| incident.regions.contains(region))
            {
                incident.scope = Scope::Global;
            }
        }
        if above {
            // Rising again after a lull is a new wave.
            if cohort.below_since.is_some()
                && matches!(incident.phase, Phase::Confirmed | Phase::Recovering)
            {
                incident.relapses += 1;
                if incident.relapses >= 2 {
                    incident.pattern = Pattern::Intermittent;
                }
            }
            record_sites(incident, &implicated);
            if incident.mechanism == Mechanism::EdgeToOrigin {
                incident.origins = incident
                    .origins
                    .max(u32::try_from(origins).unwrap_or(u32::MAX));
            }
            if share > incident.peak_share {
                incident.peak_share = share;
                incident.peak_at = now;
            }
            let now_confidence = match incident.mechanism {
                Mechanism::EdgeToOrigin => {
                    origin_confidence(share, threshold, origins, implicated.len())
                }
                _ => confidence(share, threshold, &implicated, provider),
            };
            incident.confidence = incident.confidence.max(now_confidence);
            match incident.phase {
                Phase::Suspected => {
                    incident.phase = Phase::Confirmed;
                    incident.confirmed_at = Some(now);
                }
                Phase::Recovering => incident.phase = Phase::Confirmed,
                Phase::Confirmed | Phase::Resolved | Phase::Unknown => {}
            }
            incident.recovering_at = None;
            cohort.below_since = None;
        } else {
            let below_since = *cohort.below_since.get_or_insert(now);
            match incident.phase {
                Phase::Suspected => {
                    // Never confirmed: a blip, not an incident.
                    incident.phase = Phase::Resolved;
                    incident.resolved_at = Some(now);
                    cohort.open = None;
                }
                Phase::Confirmed | Phase::Recovering
                    if now - below_since >= thresholds.resolve_after =>
                {
                    incident.phase = Phase::Resolved;
                    incident.recovering_at.get_or_insert(below_since);
                    incident.resolved_at = Some(below_since);
                    cohort.open = None;
                }
                Phase::Confirmed if now - below_since >= thresholds.recovery_hold => {
                    incident.phase = Phase::Recovering;
                    incident.recovering_at = Some(below_since);
                }
                _ => {}
            }
        }
        // A new region seeing it, or a new wave, is news too: the stored
        // incident says where it is seen and how many waves it had,
        // whatever its phase.
        let changed = incident.phase != before
            || incident.regions.len() != seen_before
            || incident.relapses != relapses_before;
        changed.then(|| Event::Provider {
            key: index,
            incident: incident.clone(),
        })
    }

    /// Whether a CDN cohort's origin-blaming failures show the path between
    /// its edge and the origins failing: enough of them began together,
    /// well above what is usual for the cohort, at unrelated origins.
    fn edge_to_origin(
        &self,
        key: &(String, Role),
        measure: &Measure,
        origin_baseline: f64,
        now: DateTime<Utc>,
    ) -> Option<Opening> {
        let thresholds = &self.thresholds;
        let burst: Vec<_> = measure
            .origin_blamed
            .iter()
            .filter(|(_, since, _)| *since >= now - thresholds.origin_burst)
            .cloned()
            .collect();
        let threshold = thresholds
            .min_origin_share
            .max(origin_baseline + thresholds.over_baseline);
        let share = burst.len() as f64 / measure.counted.max(1) as f64;
        let origins = self.owners_among(&burst);
        let unrelated = burst.len() >= thresholds.min_sites
            && share >= threshold
            && origins >= thresholds.min_origins
            && origins * 2 >= burst.len();
        if !unrelated {
            return None;
        }
        let measure = self.measure_as(key, now, Mechanism::EdgeToOrigin, Lens::All)?;
        Some(Opening {
            mechanism: Mechanism::EdgeToOrigin,
            confidence: origin_confidence(measure.share(), threshold, origins, burst.len()),
            onset_at: earliest(&burst).unwrap_or(now),
            origins,
            measure,
        })
    }

    /// Whether a host's failing sites are of enough different owners: one
    /// customer's many sites failing is that customer's outage, not the
    /// host's. A CDN's or DNS provider's own errors need no such check.
    fn unrelated_enough(
        &self,
        role: Role,
        implicated: &[(i64, DateTime<Utc>, Observation)],
    ) -> bool {
        if role.cohort() != Role::Host {
            return true;
        }
        let owners: HashSet<Owner<'_>> = implicated
            .iter()
            .map(|(site_id, _, _)| match self.owners.get(site_id) {
                Some(owner) => Owner::Named(owner),
                None => Owner::Alone(*site_id),
            })
            .collect();
        owners.len() >= self.thresholds.min_sites && owners.len() * 2 >= implicated.len()
    }

    /// How many unrelated origins the sites have: origins on one known
    /// hosting provider are one network (its failure explains them all),
    /// the rest count by owner.
    fn owners_among(&self, sites: &[(i64, DateTime<Utc>, Observation)]) -> usize {
        let owners: HashSet<Owner<'_>> = sites
            .iter()
            .map(|(site_id, _, _)| {
                let host = self.site_cohorts.get(site_id).and_then(|keys| {
                    keys.iter()
                        .find(|(_, role)| *role == Role::Host)
                        .map(|(provider, _)| provider.as_str())
                });
                match (host, self.owners.get(site_id)) {
                    (Some(host), _) => Owner::Host(host),
                    (None, Some(owner)) => Owner::Named(owner),
                    (None, None) => Owner::Alone(*site_id),
                }
            })
            .collect();
        owners.len()
    }
}

/// Where a site's origin is, for counting unrelated origins.
#[derive(PartialEq, Eq, Hash)]
enum Owner<'a> {
    /// On this hosting provider's network.
    Host(&'a str),
    /// Run by the owner of this registrable domain.
    Named(&'a str),
    /// Nothing known: related to no other site.
    Alone(i64),
}

/// What opens an incident.
struct Opening {
    mechanism: Mechanism,
    measure: Measure,
    onset_at: DateTime<Utc>,
    confidence: f64,
    origins: usize,
}

/// When the first of these sites began failing.
fn earliest(sites: &[(i64, DateTime<Utc>, Observation)]) -> Option<DateTime<Utc>> {
    sites.iter().map(|(_, since, _)| *since).min()
}

impl Correlator {
    /// Judges one cohort's members at `now` through `lens`, as its open
    /// incident sees them (by their own failures when none is open).
    fn measure(&self, key: &(String, Role), now: DateTime<Utc>, lens: Lens<'_>) -> Option<Measure> {
        let cohort = self.cohorts.get(key)?;
        let mechanism = cohort
            .open
            .and_then(|index| self.incidents.get(index))
            .map_or(Mechanism::Own, |incident| incident.mechanism);
        self.measure_as(key, now, mechanism, lens)
    }

    /// Judges one cohort's members at `now`: who has a fresh probe, and
    /// whose failure the provider's role explains, by `mechanism`. A site
    /// probed from several vantages in `lens` weighs what at least
    /// `confirm` of them agree on (all of them, when fewer probe it).
    fn measure_as(
        &self,
        key: &(String, Role),
        now: DateTime<Utc>,
        mechanism: Mechanism,
        lens: Lens<'_>,
    ) -> Option<Measure> {
        let cohort = self.cohorts.get(key)?;
        let (provider, role) = (key.0.as_str(), key.1);
        let mut measure = Measure {
            counted: 0,
            score: 0.0,
            implicated: Vec::new(),
            failing_otherwise: 0,
            origin_blamed: Vec::new(),
        };
        let freshness = self.thresholds.freshness;
        for site_id in &cohort.members {
            let Some(site) = self.sites.get(site_id) else {
                continue;
            };
            let mut fresh: Vec<(&SiteTrack, &Observation)> = site
                .tracks
                .iter()
                .filter(|(vantage, _)| match lens {
                    Lens::All => true,
                    Lens::Region(region) => self.region_of(**vantage) == region,
                })
                .filter_map(|(_, track)| {
                    let latest = track.latest.as_ref()?;
                    (latest.at >= now - freshness).then_some((track, latest))
                })
                .collect();
            // A vantage whose own network failed says nothing, unless no
            // other says anything (then the site counts, implicating none).
            if fresh.iter().any(|(_, latest)| !latest.suspect) {
                fresh.retain(|(_, latest)| !latest.suspect);
            }
            if fresh.is_empty() {
                continue;
            }
            let needed = self.thresholds.confirm.clamp(1, fresh.len());
            let mut weighed: Vec<(f64, &SiteTrack, &Observation)> = fresh
                .iter()
                .map(|(track, latest)| {
                    (
                        weight_in(latest, provider, role, mechanism),
                        *track,
                        *latest,
                    )
                })
                .collect();
            weighed.sort_by(|a, b| b.0.total_cmp(&a.0));
            let Some(&(w, track, latest)) = weighed.get(needed - 1) else {
                continue;
            };
            measure.counted += 1;
            let since = track.failing_since.unwrap_or(latest.at);
            if role.cohort() == Role::Cdn {
                let blaming: Vec<&(&SiteTrack, &Observation)> = fresh
                    .iter()
                    .filter(|(_, latest)| blames_origin(latest, provider))
                    .collect();
                if let Some((track, latest)) = blaming.first().filter(|_| blaming.len() >= needed) {
                    let since = track.failing_since.unwrap_or(latest.at);
                    measure
                        .origin_blamed
                        .push((*site_id, since, (*latest).clone()));
                }
            }
            measure.score += w;
            if w >= 0.5 {
                measure.implicated.push((*site_id, since, latest.clone()));
            } else if !latest.ok && !latest.suspect {
                measure.failing_otherwise += 1;
            }
        }
        Some(measure)
    }
}

impl Measure {
    /// The share of members whose pages blame their origin.
    fn origin_share(&self) -> f64 {
        self.origin_blamed.len() as f64 / self.counted.max(1) as f64
    }
}

/// How long a resolved incident stays in the snapshot, with the sites
/// still failing with its provider's errors (its tail).
pub const RECENT: TimeDelta = TimeDelta::hours(6);

/// Everything the pages say about "now", from one judgement: every figure
/// on every page, feed and export of that moment comes from one of these,
/// so they cannot disagree.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Grows by one with every judgement.
    pub version: u64,
    /// When the correlator judged, on its clock.
    pub judged_at: Option<DateTime<Utc>>,
    /// The newest probe the judgement includes.
    pub data_until: Option<DateTime<Utc>>,
    /// Every site probed so far, by id.
    pub sites: BTreeMap<i64, SiteNow>,
    /// Every provider and role with members, largest first.
    pub cohorts: Vec<CohortNow>,
    /// Confirmed incidents still open or resolved within [`RECENT`],
    /// newest first.
    pub incidents: Vec<IncidentNow>,
    /// The own-network guard's verdict, as the publisher adds it (the
    /// correlator only hears whether it is offline).
    pub vantage: VantageState,
    /// Our resolvers failing while another answers, as the publisher adds
    /// them.
    pub resolvers_failing: Vec<crate::vantage::FailingResolver>,
}

/// A site's latest probe and state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SiteNow {
    pub at: DateTime<Utc>,
    pub ok: bool,
    /// Our own network was failing: the probe says nothing about the site.
    pub suspect: bool,
    /// Its latest probe is older than the freshness window.
    pub stale: bool,
    /// Down after flap control (it has an open site incident).
    pub down: bool,
    pub failing_since: Option<DateTime<Utc>>,
    pub cause: Option<Cause>,
    /// Who generated the error page.
    pub generator: Option<String>,
    pub fault_side: Option<FaultSide>,
}

/// A provider in one role and how its watched sites fare.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CohortNow {
    pub provider: String,
    pub role: Role,
    pub members: u32,
    /// Members failing for a reason this role explains, of those with a
    /// fresh probe: edge errors and unreachable edges for a CDN, failed
    /// lookups for DNS, failing origins for a host.
    pub tally: Tally,
    /// Members failing for another reason (an origin behind a CDN).
    pub failing_otherwise: u32,
    /// The members counted in `tally.failing`, by id.
    pub implicated: Vec<i64>,
    /// Its open incident, by key.
    pub incident: Option<usize>,
}

/// An incident as of the snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentNow {
    /// The correlator's key, as in [`Event::Provider`].
    pub key: usize,
    /// The stored incident's id, as the publisher adds it.
    pub id: Option<i64>,
    pub incident: ProviderIncident,
    /// Its cohort now.
    pub now: Tally,
    /// Open, with failures down for less than the recovery hold: a lull
    /// between waves, or the first easing of a steady outage.
    pub easing_since: Option<DateTime<Utc>>,
    /// Resolved, and these affected sites still fail for a reason its
    /// provider's role explains: the tail of the outage.
    pub tail: Vec<i64>,
}

impl IncidentNow {
    /// How many times failures rose: 1 for a steady outage.
    pub fn waves(&self) -> u32 {
        self.incident.relapses + 1
    }
}

impl Correlator {
    /// What the latest judgement found. Pure: the same state gives the
    /// same snapshot.
    pub fn snapshot(&self) -> Snapshot {
        let Some(now) = self.last_tick else {
            return Snapshot {
                data_until: self.newest,
                ..Snapshot::default()
            };
        };
        let freshness = self.thresholds.freshness;
        let sites = self
            .sites
            .iter()
            .filter_map(|(site_id, site)| {
                let latest = site.speaker()?.latest.as_ref()?;
                Some((
                    *site_id,
                    SiteNow {
                        at: latest.at,
                        ok: latest.ok,
                        suspect: latest.suspect,
                        stale: latest.at < now - freshness,
                        down: site.down,
                        failing_since: site.failing_since(),
                        cause: Cause::of(latest.fault, latest.failure),
                        generator: latest.generator.clone(),
                        fault_side: latest.fault_side,
                    },
                ))
            })
            .collect();
        let mut measures = HashMap::new();
        let mut cohorts = Vec::new();
        for (key, cohort) in &self.cohorts {
            let Some(measure) = self.measure(key, now, Lens::All) else {
                continue;
            };
            cohorts.push(CohortNow {
                provider: key.0.clone(),
                role: key.1,
                members: u32::try_from(cohort.members.len()).unwrap_or(u32::MAX),
                tally: measure.tally(),
                failing_otherwise: u32::try_from(measure.failing_otherwise).unwrap_or(u32::MAX),
                implicated: {
                    let mut ids: Vec<i64> =
                        measure.implicated.iter().map(|(id, _, _)| *id).collect();
                    ids.sort_unstable();
                    ids
                },
                incident: cohort.open,
            });
            measures.insert(key.clone(), measure);
        }
        cohorts.sort_by(|a, b| {
            b.members
                .cmp(&a.members)
                .then_with(|| a.provider.cmp(&b.provider))
                .then_with(|| a.role.as_str().cmp(b.role.as_str()))
        });
        let mut incidents: Vec<IncidentNow> = self
            .incidents
            .iter()
            .enumerate()
            .filter(|(_, incident)| {
                incident.confirmed_at.is_some()
                    && incident.resolved_at.is_none_or(|end| end >= now - RECENT)
            })
            .map(|(key, incident)| {
                let cohort_key = (incident.provider.clone(), incident.role);
                // A regional incident is counted where it is seen.
                let seen_in = match (incident.scope, incident.regions.as_slice()) {
                    (Scope::Regional, [region]) => {
                        self.measure(&cohort_key, now, Lens::Region(region))
                    }
                    _ => None,
                };
                let measure = seen_in.as_ref().or_else(|| measures.get(&cohort_key));
                let open = incident.phase.is_open();
                let easing_since = self
                    .cohorts
                    .get(&cohort_key)
                    .filter(|_| open && incident.phase == Phase::Confirmed)
                    .and_then(|cohort| cohort.below_since);
                let mut tail: Vec<i64> = match measure {
                    Some(measure) if !open => {
                        // An edge-to-origin incident's tail is the sites
                        // still getting the pages that blamed their origin.
                        let blamed = match incident.mechanism {
                            Mechanism::EdgeToOrigin => measure.origin_blamed.as_slice(),
                            _ => &[],
                        };
                        measure
                            .implicated
                            .iter()
                            .chain(blamed)
                            .map(|(site_id, _, _)| *site_id)
                            .filter(|site_id| incident.sites.contains_key(site_id))
                            .collect()
                    }
                    _ => Vec::new(),
                };
                tail.sort_unstable();
                tail.dedup();
                IncidentNow {
                    key,
                    id: None,
                    incident: incident.clone(),
                    now: measure.map(Measure::tally).unwrap_or_default(),
                    easing_since,
                    tail,
                }
            })
            .collect();
        incidents.reverse();
        Snapshot {
            version: self.ticks,
            judged_at: Some(now),
            data_until: self.newest,
            sites,
            cohorts,
            incidents,
            vantage: VantageState::Unknown,
            resolvers_failing: Vec::new(),
        }
    }
}

/// Whether the provider's own page says it could not reach, or hear from,
/// the site's origin.
fn blames_origin(observation: &Observation, provider: &str) -> bool {
    !observation.ok
        && !observation.suspect
        && observation.generator.as_deref() == Some(provider)
        && observation.fault_side == Some(FaultSide::Origin)
        && matches!(
            observation.fault,
            Some(Fault::OriginUnreachable | Fault::OriginTimeout)
        )
}

/// [`weight`], as an incident of `mechanism` sees it: an edge-to-origin
/// incident counts the pages that blame the origin in full.
pub fn weight_in(
    observation: &Observation,
    provider: &str,
    role: Role,
    mechanism: Mechanism,
) -> f64 {
    if mechanism == Mechanism::EdgeToOrigin
        && role.cohort() == Role::Cdn
        && blames_origin(observation, provider)
    {
        1.0
    } else {
        weight(observation, provider, role)
    }
}

/// How strongly one observation implicates `provider` in `role`, 0 to 1.
pub fn weight(observation: &Observation, provider: &str, role: Role) -> f64 {
    if observation.ok || observation.suspect {
        return 0.0;
    }
    let failure = observation.failure;
    let side = observation.fault_side;
    let generated_here = observation.generator.as_deref() == Some(provider);
    match role.cohort() {
        Role::Cdn => {
            if generated_here && side == Some(FaultSide::Edge) {
                1.0
            } else if matches!(side, Some(FaultSide::Origin | FaultSide::Policy)) {
                0.0
            } else if failure.is_some_and(|f| f.is_connect())
                || matches!(
                    failure,
                    Some(FailureClass::TlsHandshake | FailureClass::ReadTimeout)
                )
            {
                // With a CDN in front, the connection goes to its edge.
                0.6
            } else if failure.is_some_and(FailureClass::is_dns) {
                0.3
            } else if generated_here {
                // The provider's own error page that does not say who
                // failed (Fastly's bare "Guru Mediation", Front Door's
                // generic page): across unrelated sites at once, the
                // shared layer is the likely culprit.
                0.8
            } else {
                0.1
            }
        }
        Role::Dns => {
            if failure.is_some_and(FailureClass::is_dns) {
                1.0
            } else {
                0.0
            }
        }
        Role::Host => {
            let origin_failed = side == Some(FaultSide::Origin)
                && !matches!(
                    observation.fault,
                    Some(Fault::ConfigError | Fault::NotFound)
                );
            if origin_failed || generated_here {
                0.8
            } else if failure.is_some_and(FailureClass::is_connect) {
                0.6
            } else {
                0.0
            }
        }
        Role::Waf | Role::Unknown => 0.0,
    }
}

fn confidence(
    share: f64,
    threshold: f64,
    implicated: &[(i64, DateTime<Utc>, Observation)],
    provider: &str,
) -> f64 {
    let over = ((share - threshold) / (1.0 - threshold).max(0.01)).clamp(0.0, 1.0);
    let branded = implicated
        .iter()
        .filter(|(_, _, o)| {
            o.generator.as_deref() == Some(provider) && o.fault_side == Some(FaultSide::Edge)
        })
        .count() as f64
        / implicated.len().max(1) as f64;
    let breadth = (implicated.len() as f64 / 10.0).min(1.0);
    (0.5 + 0.25 * over + 0.15 * branded + 0.1 * breadth).clamp(0.0, 0.99)
}

/// An edge-to-origin incident's confidence: lower than for the
/// provider's own errors (its pages blame someone else), rising with the
/// share over the threshold and with how unrelated the origins are.
fn origin_confidence(share: f64, threshold: f64, origins: usize, failing: usize) -> f64 {
    let over = ((share - threshold) / (1.0 - threshold).max(0.01)).clamp(0.0, 1.0);
    let unrelated = origins as f64 / failing.max(1) as f64;
    let breadth = (origins as f64 / 20.0).min(1.0);
    (0.4 + 0.2 * over + 0.2 * unrelated + 0.1 * breadth).clamp(0.0, 0.9)
}

fn record_sites(incident: &mut ProviderIncident, implicated: &[(i64, DateTime<Utc>, Observation)]) {
    for (site_id, since, observation) in implicated {
        let entry = incident
            .sites
            .entry(*site_id)
            .or_insert((*since, observation.at));
        entry.1 = entry.1.max(observation.at);
        if incident.evidence.len() < 20 {
            let what =
                Cause::of(observation.fault, observation.failure).map_or("failure", Cause::as_str);
            let by = observation.generator.as_deref().unwrap_or("unknown");
            let line = format!("site {site_id}: {what} (page by {by})");
            if !incident.evidence.contains(&line) {
                incident.evidence.push(line);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        "2025-11-18T10:30:00Z".parse().unwrap()
    }

    /// What a site answers at a given minute.
    #[derive(Clone, Copy)]
    enum Answer {
        Ok,
        EdgeError,
        OriginDown,
        Suspect,
    }

    fn observation(site_id: i64, at: DateTime<Utc>, answer: Answer, provider: &str) -> Observation {
        let failed = |side: FaultSide, fault: Fault| Observation {
            site_id,
            at,
            ok: false,
            failure: Some(FailureClass::HttpStatus),
            generator: Some(provider.into()),
            fault_side: Some(side),
            fault: Some(fault),
            ..Observation::default()
        };
        match answer {
            Answer::Ok => Observation {
                site_id,
                at,
                ok: true,
                ..Observation::default()
            },
            Answer::EdgeError => failed(FaultSide::Edge, Fault::EdgeError),
            Answer::OriginDown => failed(FaultSide::Origin, Fault::OriginUnreachable),
            Answer::Suspect => Observation {
                site_id,
                at,
                suspect: true,
                failure: Some(FailureClass::DnsTimeout),
                ..Observation::default()
            },
        }
    }

    /// Runs `minutes` of 60 s probing of `sites` CDN sites (ids 1..) spread
    /// over each minute, with ticks every 10 s; `answer(site, minute)`.
    fn run(
        sites: i64,
        minutes: i64,
        answer: impl Fn(i64, i64) -> Answer,
    ) -> (Correlator, Vec<Event>) {
        run_owned(sites, minutes, |site| format!("site-{site}.test"), answer)
    }

    /// [`run`], with each site's owner given by `owner(site)`.
    fn run_owned(
        sites: i64,
        minutes: i64,
        owner: impl Fn(i64) -> String,
        answer: impl Fn(i64, i64) -> Answer,
    ) -> (Correlator, Vec<Event>) {
        let mut correlator = Correlator::new(Thresholds::default());
        for id in 1..=sites {
            correlator.add_member(id, "cloudflare", Role::Cdn);
            correlator.set_owner(id, &owner(id));
        }
        let mut events = Vec::new();
        for second in (0..minutes * 60).step_by(10) {
            let now = t0() + TimeDelta::seconds(second);
            for id in 1..=sites {
                let phase = (id * 60 / sites) % 60;
                if second % 60 <= phase && phase < second % 60 + 10 {
                    let answer = answer(id, second / 60);
                    events.extend(correlator.observe(observation(id, now, answer, "cloudflare")));
                }
            }
            events.extend(correlator.tick(now, false));
        }
        (correlator, events)
    }

    /// Three vantages, one per region: ours (0) in "local", agents 7 and 8
    /// in eu-west and us-east.
    const VANTAGES: [(i64, &str); 3] = [(0, "local"), (7, "eu-west"), (8, "us-east")];

    /// [`run`] from every vantage of [`VANTAGES`]: `answer(vantage, site,
    /// minute)`; `offline(vantage, minute)` says when our own network is.
    fn run_from_vantages(
        sites: i64,
        minutes: i64,
        answer: impl Fn(i64, i64, i64) -> Answer,
        own_offline: impl Fn(i64) -> bool,
    ) -> (Correlator, Vec<Event>) {
        let mut correlator = Correlator::new(Thresholds::default());
        for (vantage, region) in VANTAGES {
            correlator.set_region(vantage, region);
        }
        for id in 1..=sites {
            correlator.add_member(id, "cloudflare", Role::Cdn);
            correlator.set_owner(id, &format!("site-{id}.test"));
        }
        let mut events = Vec::new();
        for second in (0..minutes * 60).step_by(10) {
            let now = t0() + TimeDelta::seconds(second);
            for id in 1..=sites {
                let phase = (id * 60 / sites) % 60;
                if second % 60 <= phase && phase < second % 60 + 10 {
                    for (vantage, _) in VANTAGES {
                        let answer = answer(vantage, id, second / 60);
                        let seen = Observation {
                            vantage,
                            ..observation(id, now, answer, "cloudflare")
                        };
                        events.extend(correlator.observe(seen));
                    }
                }
            }
            events.extend(correlator.tick(now, own_offline(second / 60)));
        }
        (correlator, events)
    }

    fn sites_down(events: &[Event]) -> usize {
        events
            .iter()
            .filter(|event| matches!(event, Event::SiteDown { .. }))
            .count()
    }

    #[test]
    fn an_outage_seen_from_every_region_is_one_global_incident() {
        let (correlator, events) = run_from_vantages(
            20,
            20,
            |_, _, minute| {
                if (5..12).contains(&minute) {
                    Answer::EdgeError
                } else {
                    Answer::Ok
                }
            },
            |_| false,
        );
        let incidents = confirmed(&correlator);
        assert_eq!(incidents.len(), 1, "{incidents:#?}");
        assert_eq!(incidents[0].scope, Scope::Global);
        assert_eq!(incidents[0].regions, ["eu-west", "local", "us-east"]);
        assert_eq!(sites_down(&events), 20);
    }

    #[test]
    fn an_outage_seen_from_one_region_is_regional_and_downs_no_site() {
        let (correlator, events) = run_from_vantages(
            20,
            20,
            |vantage, _, minute| {
                if vantage == 7 && (5..12).contains(&minute) {
                    Answer::EdgeError
                } else {
                    Answer::Ok
                }
            },
            |_| false,
        );
        let incidents = confirmed(&correlator);
        assert_eq!(incidents.len(), 1, "{incidents:#?}");
        assert_eq!(incidents[0].scope, Scope::Regional);
        assert_eq!(incidents[0].regions, ["eu-west"]);
        // One vantage of three is not enough to call a site down.
        assert_eq!(sites_down(&events), 0);
        let snapshot = correlator.snapshot();
        let live = &snapshot.incidents[0];
        assert_eq!(live.incident.scope, Scope::Regional);
    }

    #[test]
    fn an_outage_spreading_to_every_region_becomes_global_and_says_so() {
        let (correlator, events) = run_from_vantages(
            20,
            20,
            |vantage, _, minute| match (vantage, minute) {
                (7, 5..14) => Answer::EdgeError,
                (_, 9..14) => Answer::EdgeError,
                _ => Answer::Ok,
            },
            |_| false,
        );
        let incidents = confirmed(&correlator);
        assert_eq!(incidents.len(), 1, "{incidents:#?}");
        assert_eq!(incidents[0].scope, Scope::Global);
        let scopes: Vec<(Scope, usize)> = events
            .iter()
            .filter_map(|event| match event {
                Event::Provider { incident, .. } => Some((incident.scope, incident.regions.len())),
                _ => None,
            })
            .collect();
        assert_eq!(scopes.first(), Some(&(Scope::Regional, 1)), "{scopes:?}");
        assert!(scopes.contains(&(Scope::Global, 3)), "{scopes:?}");
    }

    #[test]
    fn a_site_is_down_once_two_fresh_vantages_agree() {
        let (_, one) = run_from_vantages(
            10,
            10,
            |vantage, site, minute| {
                if site == 1 && vantage == 8 && minute >= 3 {
                    Answer::OriginDown
                } else {
                    Answer::Ok
                }
            },
            |_| false,
        );
        assert_eq!(sites_down(&one), 0, "{one:?}");
        let (correlator, two) = run_from_vantages(
            10,
            10,
            |vantage, site, minute| {
                if site == 1 && vantage != 0 && minute >= 3 {
                    Answer::OriginDown
                } else {
                    Answer::Ok
                }
            },
            |_| false,
        );
        assert_eq!(sites_down(&two), 1, "{two:?}");
        assert!(correlator.snapshot().sites[&1].down);
        assert!(
            confirmed(&correlator).is_empty(),
            "one origin is no provider"
        );
    }

    #[test]
    fn a_vantage_whose_network_fails_is_left_out_not_everything_frozen() {
        // Agent 8's own network fails (its failures are suspect) while
        // agents 7 and our vantage see the sites fine: nothing is down.
        let (correlator, events) = run_from_vantages(
            20,
            12,
            |vantage, _, minute| {
                if vantage == 8 && minute >= 3 {
                    Answer::Suspect
                } else {
                    Answer::Ok
                }
            },
            |_| false,
        );
        assert_eq!(sites_down(&events), 0);
        assert!(correlator.incidents().is_empty());
        // The site speaks with a trusted vantage's latest, not the
        // distrusted one's, whichever came last.
        let snapshot = correlator.snapshot();
        assert!(
            snapshot.sites.values().all(|site| site.ok && !site.suspect),
            "{:?}",
            snapshot.sites.values().find(|site| site.suspect)
        );

        // Our own network is offline, and the agents still see an outage:
        // it is judged from them.
        let (correlator, events) = run_from_vantages(
            20,
            20,
            |vantage, _, minute| match (vantage, minute) {
                (0, 4..) => Answer::Suspect,
                (_, 5..12) => Answer::EdgeError,
                _ => Answer::Ok,
            },
            |minute| minute >= 4,
        );
        let incidents = confirmed(&correlator);
        assert_eq!(incidents.len(), 1, "{incidents:#?}");
        assert_eq!(incidents[0].regions, ["eu-west", "us-east"]);
        assert_eq!(sites_down(&events), 20);
    }

    fn confirmed(correlator: &Correlator) -> Vec<&ProviderIncident> {
        correlator
            .incidents()
            .iter()
            .filter(|i| i.confirmed_at.is_some())
            .collect()
    }

    #[test]
    fn a_provider_wide_edge_outage_is_detected_within_a_probe_interval() {
        let (correlator, _) = run(40, 90, |site, minute| {
            if (20..50).contains(&minute) && site % 7 != 0 {
                Answer::EdgeError
            } else {
                Answer::Ok
            }
        });
        let incidents = confirmed(&correlator);
        assert_eq!(incidents.len(), 1, "{incidents:#?}");
        let incident = incidents[0];
        let onset = t0() + TimeDelta::minutes(20);
        assert!(
            incident.detected_at - onset <= TimeDelta::seconds(90),
            "{:?}",
            incident.detected_at
        );
        assert!(incident.onset_at >= onset && incident.onset_at <= onset + TimeDelta::seconds(60));
        assert_eq!(incident.pattern, Pattern::Steady);
        assert_eq!(incident.phase, Phase::Resolved);
        let resolved = incident.resolved_at.unwrap();
        assert!(
            resolved >= t0() + TimeDelta::minutes(50) && resolved <= t0() + TimeDelta::minutes(52),
            "{resolved}"
        );
        assert!(
            incident.peak_share > 0.8 && incident.confidence > 0.8,
            "{incident:?}"
        );
    }

    #[test]
    fn an_intermittent_outage_is_one_incident_labelled_intermittent() {
        let (correlator, _) = run(40, 120, |_, minute| {
            let failing = (20..80).contains(&minute) && (minute >= 60 || (minute - 20) % 10 < 5);
            if failing {
                Answer::EdgeError
            } else {
                Answer::Ok
            }
        });
        let incidents = confirmed(&correlator);
        assert_eq!(incidents.len(), 1, "{incidents:#?}");
        assert_eq!(incidents[0].pattern, Pattern::Intermittent);
        assert!(incidents[0].relapses >= 2);
    }

    #[test]
    fn one_origin_failing_behind_the_cdn_opens_no_provider_incident() {
        let (correlator, events) = run(40, 60, |site, minute| {
            if site == 3 && minute >= 10 {
                Answer::OriginDown
            } else {
                Answer::Ok
            }
        });
        assert!(correlator.incidents().is_empty());
        assert!(events.iter().any(|e| matches!(
            e,
            Event::SiteDown {
                site_id: 3,
                explained_by: None,
                ..
            }
        )));
    }

    #[test]
    fn unrelated_origins_failing_at_once_behind_a_cdn_open_an_edge_to_origin_incident() {
        let (correlator, events) = run(40, 60, |site, minute| {
            if site % 2 == 0 && minute >= 10 {
                Answer::OriginDown
            } else {
                Answer::Ok
            }
        });
        let incidents = confirmed(&correlator);
        assert_eq!(incidents.len(), 1, "{incidents:#?}");
        let incident = incidents[0];
        assert_eq!(incident.mechanism, Mechanism::EdgeToOrigin);
        assert_eq!(incident.origins, 20);
        assert!(incident.detected_at - (t0() + TimeDelta::minutes(10)) <= TimeDelta::minutes(2));
        assert!(incident.confidence < 0.9, "{}", incident.confidence);
        assert!(
            incident.evidence[0].contains("unrelated origins, since 10:40 UTC"),
            "{:?}",
            incident.evidence
        );
        // Sites going down inside it are explained by it.
        assert!(events.iter().any(|e| matches!(
            e,
            Event::SiteDown {
                explained_by: Some(0),
                ..
            }
        )));
    }

    #[test]
    fn many_sites_of_one_owner_failing_behind_the_cdn_do_not_implicate_it() {
        let (correlator, _) = run_owned(
            40,
            60,
            |site| {
                if site % 2 == 0 {
                    "bigshop.test".to_owned()
                } else {
                    format!("site-{site}.test")
                }
            },
            |site, minute| {
                if site % 2 == 0 && minute >= 10 {
                    Answer::OriginDown
                } else {
                    Answer::Ok
                }
            },
        );
        assert!(correlator.incidents().is_empty());
    }

    #[test]
    fn origins_on_one_failing_host_are_one_network_not_unrelated_origins() {
        let mut correlator = Correlator::new(Thresholds::default());
        for id in 1..=40 {
            correlator.add_member(id, "cloudflare", Role::Cdn);
            correlator.set_owner(id, &format!("site-{id}.test"));
            if id % 2 == 0 {
                correlator.add_member(id, "aws", Role::Host);
            }
        }
        for second in (0..40 * 60).step_by(10) {
            let now = t0() + TimeDelta::seconds(second);
            for id in 1..=40 {
                let phase = (id * 60 / 40) % 60;
                if second % 60 <= phase && phase < second % 60 + 10 {
                    let answer = if id % 2 == 0 && second >= 600 {
                        Answer::OriginDown
                    } else {
                        Answer::Ok
                    };
                    correlator.observe(observation(id, now, answer, "cloudflare"));
                }
            }
            correlator.tick(now, false);
        }
        assert!(
            correlator
                .incidents()
                .iter()
                .all(|incident| incident.provider != "cloudflare"),
            "{:#?}",
            correlator.incidents()
        );
    }

    #[test]
    fn a_host_is_implicated_by_its_customers_failing_not_by_one_customer() {
        for (owners, expect_incident) in [(40, true), (1, false)] {
            let mut correlator = Correlator::new(Thresholds::default());
            for id in 1..=40 {
                correlator.add_member(id, "vercel", Role::Host);
                let owner = if id % 2 == 0 {
                    format!("owner-{}.test", id % owners)
                } else {
                    format!("site-{id}.test")
                };
                correlator.set_owner(id, &owner);
            }
            for second in (0..40 * 60).step_by(10) {
                let now = t0() + TimeDelta::seconds(second);
                for id in 1..=40 {
                    let phase = (id * 60 / 40) % 60;
                    if second % 60 <= phase && phase < second % 60 + 10 {
                        let answer = if id % 2 == 0 && second >= 600 {
                            Answer::OriginDown
                        } else {
                            Answer::Ok
                        };
                        correlator.observe(observation(id, now, answer, "vercel"));
                    }
                }
                correlator.tick(now, false);
            }
            assert_eq!(
                !confirmed(&correlator).is_empty(),
                expect_incident,
                "{owners} owners: {:#?}",
                correlator.incidents()
            );
        }
    }

    #[test]
    fn origin_failures_spread_over_hours_do_not_implicate_the_cdn() {
        // 24 of 40 sites fail, each from its own minute over four hours,
        // for an hour and a half each.
        let (correlator, _) = run(40, 300, |site, minute| {
            let from = site * 10;
            if site <= 24 && (from..from + 90).contains(&minute) {
                Answer::OriginDown
            } else {
                Answer::Ok
            }
        });
        assert!(
            correlator.incidents().is_empty(),
            "{:#?}",
            correlator.incidents()
        );
    }
    #[test]
    fn suspect_probes_never_make_an_incident() {
        let (correlator, events) = run(40, 60, |_, minute| {
            if minute >= 10 {
                Answer::Suspect
            } else {
                Answer::Ok
            }
        });
        assert!(correlator.incidents().is_empty());
        assert!(events.is_empty(), "{events:?}");
    }

    #[test]
    fn a_small_cohort_cannot_open_an_incident() {
        let (correlator, _) = run(4, 60, |_, minute| {
            if minute >= 10 {
                Answer::EdgeError
            } else {
                Answer::Ok
            }
        });
        assert!(correlator.incidents().is_empty());
    }

    #[test]
    fn a_flapping_site_alone_never_implicates_its_provider() {
        // Two probes failing, two passing, for two hours.
        let (correlator, events) = run(40, 120, |site, minute| {
            if site == 5 && minute % 4 < 2 {
                Answer::EdgeError
            } else {
                Answer::Ok
            }
        });
        assert!(correlator.incidents().is_empty());
        let downs = events
            .iter()
            .filter(|e| matches!(e, Event::SiteDown { .. }))
            .count();
        assert!(
            (1..=3).contains(&downs),
            "a flapping site makes few site incidents, not 30: {downs}"
        );
    }

    #[test]
    fn site_incidents_during_a_provider_incident_are_explained_by_it() {
        let (_, events) = run(40, 60, |site, minute| {
            if minute >= 10 && site % 7 != 0 {
                Answer::EdgeError
            } else {
                Answer::Ok
            }
        });
        let explained = events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::SiteDown {
                        explained_by: Some(0),
                        ..
                    }
                )
            })
            .count();
        assert!(explained > 20, "{explained}");
    }

    #[test]
    fn between_waves_an_intermittent_outage_is_never_called_recovering() {
        // Five minutes failing, five answering, for an hour; then steady.
        let (correlator, events) = run(40, 120, |_, minute| {
            let failing = (20..80).contains(&minute) && (minute >= 60 || (minute - 20) % 10 < 5);
            if failing {
                Answer::EdgeError
            } else {
                Answer::Ok
            }
        });
        let mut phases: Vec<(Phase, Option<DateTime<Utc>>)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Provider { incident, .. } if incident.phase != Phase::Suspected => {
                    Some((incident.phase, incident.recovering_at))
                }
                _ => None,
            })
            .collect();
        // Each new wave is an event of its own, so the stored incident
        // counts them as it goes.
        let waves: Vec<u32> = events
            .iter()
            .filter_map(|e| match e {
                Event::Provider { incident, .. } => Some(incident.relapses + 1),
                _ => None,
            })
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|pair| pair[1] != pair[0])
            .map(|pair| pair[1])
            .collect();
        assert_eq!(waves, [2, 3, 4, 5], "{waves:?}");
        phases.dedup_by_key(|(phase, _)| *phase);
        // Confirmed once, recovering only after the last wave, then
        // resolved (a suspicion may come first).
        assert_eq!(
            phases.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
            [Phase::Confirmed, Phase::Recovering, Phase::Resolved],
            "{phases:?}"
        );
        let recovering_at = phases[1].1.expect("dated");
        assert!(
            recovering_at >= t0() + TimeDelta::minutes(80)
                && recovering_at <= t0() + TimeDelta::minutes(82),
            "dated from when the failures stopped: {recovering_at}"
        );
        let incident = &correlator.incidents()[0];
        assert_eq!(incident.pattern, Pattern::Intermittent);
        assert_eq!(incident.relapses + 1, 5, "five waves");
    }

    #[test]
    fn a_snapshot_counts_what_each_role_explains_and_names_the_lull() {
        let mut correlator = Correlator::new(Thresholds::default());
        for id in 1..=10 {
            correlator.add_member(id, "cloudflare", Role::Cdn);
            correlator.add_member(id, "cloudflare", Role::Dns);
        }
        let mut last = Vec::new();
        for minute in 0..12 {
            let now = t0() + TimeDelta::minutes(minute);
            for id in 1..=10 {
                // Eight edge errors from minute 2 to 5, then all answer.
                let answer = if (2..6).contains(&minute) && id <= 8 {
                    Answer::EdgeError
                } else if id == 10 && minute >= 2 {
                    Answer::OriginDown
                } else {
                    Answer::Ok
                };
                correlator.observe(observation(id, now, answer, "cloudflare"));
            }
            correlator.tick(now, false);
            last.push(correlator.snapshot());
        }
        let during = &last[4];
        assert_eq!(during.version, 5);
        assert_eq!(during.data_until, Some(t0() + TimeDelta::minutes(4)));
        let cdn = during
            .cohorts
            .iter()
            .find(|c| c.role == Role::Cdn)
            .expect("cdn");
        let dns = during
            .cohorts
            .iter()
            .find(|c| c.role == Role::Dns)
            .expect("dns");
        assert_eq!(cdn.tally, Tally::new(8, 10));
        assert_eq!(cdn.failing_otherwise, 1, "the origin behind it");
        assert_eq!(
            dns.tally,
            Tally::new(0, 10),
            "edge errors are not DNS failures"
        );
        assert_eq!(during.incidents.len(), 1);
        assert_eq!(during.incidents[0].now, Tally::new(8, 10));
        assert_eq!(during.incidents[0].easing_since, None);

        let lull = &last[7];
        let incident = &lull.incidents[0];
        assert_eq!(
            incident.incident.phase,
            Phase::Confirmed,
            "not recovering yet"
        );
        assert_eq!(incident.easing_since, Some(t0() + TimeDelta::minutes(6)));
        assert_eq!(incident.now, Tally::new(0, 10));
        assert!(!lull.sites[&10].ok && lull.sites[&1].ok);
    }

    /// A correlator that starts while an outage is open (after a restart,
    /// or on the central taking the lead) goes on with the stored incident:
    /// no second opening, and it resolves when the outage ends.
    #[test]
    fn an_adopted_incident_goes_on_and_resolves_instead_of_opening_twice() {
        let drive = |correlator: &mut Correlator, minutes: std::ops::Range<i64>| {
            let mut events = Vec::new();
            for minute in minutes {
                let now = t0() + TimeDelta::minutes(minute);
                for id in 1..=20 {
                    let answer = if (10..30).contains(&minute) && id % 5 != 0 {
                        Answer::EdgeError
                    } else {
                        Answer::Ok
                    };
                    events.extend(correlator.observe(observation(id, now, answer, "cloudflare")));
                }
                events.extend(correlator.tick(now, false));
            }
            events
        };
        let fresh = || {
            let mut correlator = Correlator::new(Thresholds::default());
            for id in 1..=20 {
                correlator.add_member(id, "cloudflare", Role::Cdn);
            }
            correlator
        };
        let mut before = fresh();
        drive(&mut before, 0..20);
        let open = before.incidents()[0].clone();
        assert_eq!(open.phase, Phase::Confirmed);

        let mut after = fresh();
        let key = after.adopt(open.clone()).expect("adopted");
        assert_eq!(
            after.adopt(open.clone()),
            None,
            "one open incident a cohort"
        );
        let events = drive(&mut after, 20..60);
        let keys: Vec<usize> = events
            .iter()
            .filter_map(|event| match event {
                Event::Provider { key, .. } => Some(*key),
                _ => None,
            })
            .collect();
        assert!(
            !keys.is_empty() && keys.iter().all(|k| *k == key),
            "{keys:?}"
        );
        let went_on = &after.incidents()[key];
        assert_eq!(after.incidents().len(), 1);
        assert_eq!(went_on.phase, Phase::Resolved);
        assert_eq!(went_on.onset_at, open.onset_at);
        assert!(went_on.timeline.len() > open.timeline.len());

        // Without adopting it, the same outage would open a second one.
        let mut forgetful = fresh();
        drive(&mut forgetful, 20..60);
        assert_eq!(forgetful.incidents().len(), 1);
        assert_ne!(forgetful.incidents()[0].onset_at, open.onset_at);
        // And a resolved incident is not taken back.
        let mut done = fresh();
        assert_eq!(done.adopt(went_on.clone()), None);
    }

    /// Other centrals read the leader's judgement as JSON: it must come
    /// back whole, incidents, tallies, causes and all.
    #[test]
    fn a_snapshot_survives_being_shared_as_json() {
        let (correlator, _) = run(40, 30, |site, minute| {
            if minute >= 10 && site % 5 != 0 {
                Answer::EdgeError
            } else {
                Answer::Ok
            }
        });
        let mut snapshot = correlator.snapshot();
        snapshot.vantage = VantageState::Degraded;
        snapshot.incidents[0].id = Some(42);
        assert!(snapshot.sites.values().any(|site| site.cause.is_some()));
        let json = serde_json::to_string(&snapshot).expect("encodes");
        let back: Snapshot = serde_json::from_str(&json).expect("decodes");
        assert_eq!(back, snapshot);
        let observation = observation(3, t0(), Answer::OriginDown, "cloudflare");
        let json = serde_json::to_string(&observation).expect("encodes");
        assert_eq!(
            serde_json::from_str::<Observation>(&json).expect("decodes"),
            observation
        );
    }

    #[test]
    fn sites_still_failing_after_resolution_are_the_tail() {
        let (correlator, _) = run(40, 60, |site, minute| {
            let core = (10..25).contains(&minute) && site % 5 != 0;
            let tail = minute >= 25 && site <= 3;
            if core || tail {
                Answer::EdgeError
            } else {
                Answer::Ok
            }
        });
        let snapshot = correlator.snapshot();
        let incident = &snapshot.incidents[0];
        assert_eq!(incident.incident.phase, Phase::Resolved);
        assert_eq!(incident.tail, vec![1, 2, 3]);
        assert_eq!(incident.now, Tally::new(3, 40));
    }

    /// A stable pseudo-random number for `site` under `seed` (FNV-1a).
    fn lot(seed: u64, site: i64, salt: u8) -> u64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
        for byte in site.to_le_bytes().into_iter().chain([salt]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash
    }

    mod edge_to_origin {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(32))]

            /// Unrelated origins (a few sharing an owner) failing together
            /// behind one CDN, from any share above the bar: one
            /// edge-to-origin incident, within two probe intervals.
            #[test]
            fn a_burst_at_unrelated_origins_opens_one_incident(
                sites in 20i64..80,
                failing_percent in 45u64..95,
                onset in 5i64..30,
                seed in any::<u64>(),
            ) {
                let fails = |site: i64| lot(seed, site, 0) % 100 < failing_percent;
                let failing = (1..=sites).filter(|site| fails(*site)).count() as f64;
                prop_assume!(failing / sites as f64 >= 0.4);
                let (correlator, _) = run_owned(
                    sites,
                    onset + 60,
                    |site| match lot(seed, site, 1) % 10 {
                        0 | 1 => format!("shared-{}.test", lot(seed, site, 2) % 3),
                        _ => format!("site-{site}.test"),
                    },
                    |site, minute| {
                        let from = onset + i64::from(lot(seed, site, 3).is_multiple_of(2));
                        if fails(site) && (from..onset + 40).contains(&minute) {
                            Answer::OriginDown
                        } else {
                            Answer::Ok
                        }
                    },
                );
                let incidents = confirmed(&correlator);
                prop_assert_eq!(incidents.len(), 1, "{:#?}", incidents);
                let incident = incidents[0];
                prop_assert_eq!(incident.mechanism, Mechanism::EdgeToOrigin);
                let start = t0() + TimeDelta::minutes(onset);
                prop_assert!(
                    incident.detected_at - start <= TimeDelta::seconds(130),
                    "detected {} after {start}", incident.detected_at
                );
                prop_assert!(incident.onset_at >= start);
            }

            /// The same failures spread over hours (recovering or not), a
            /// burst at the sites of a few owners, or a burst too small for
            /// the cohort: never a provider incident.
            #[test]
            fn scattered_related_or_few_origin_failures_open_nothing(
                sites in 20i64..80,
                shape in 0u8..4,
                seed in any::<u64>(),
            ) {
                let (correlator, _) = run_owned(
                    sites,
                    300,
                    |site| match shape {
                        1 => format!("owner-{}.test", lot(seed, site, 1) % 3),
                        _ => format!("site-{site}.test"),
                    },
                    |site, minute| {
                        let failing = match shape {
                            // 60 %, each from its own time over four hours,
                            // for half an hour to an hour and a half.
                            0 => {
                                let from = (lot(seed, site, 2) % 240) as i64;
                                let lasts = 30 + (lot(seed, site, 3) % 60) as i64;
                                lot(seed, site, 0) % 100 < 60
                                    && (from..from + lasts).contains(&minute)
                            }
                            // 60 %, each from its own time over four hours,
                            // staying down: in the end most of the cohort
                            // fails, but never together.
                            3 => {
                                let from = (lot(seed, site, 2) % 240) as i64;
                                lot(seed, site, 0) % 100 < 60 && minute >= from
                            }
                            // 60 % at once, at three owners' origins.
                            1 => lot(seed, site, 0) % 100 < 60 && (30..90).contains(&minute),
                            // A fifth at once: too few for the cohort.
                            _ => site % 5 == 0 && (30..90).contains(&minute),
                        };
                        if failing { Answer::OriginDown } else { Answer::Ok }
                    },
                );
                prop_assert!(correlator.incidents().is_empty(), "{:#?}", correlator.incidents());
            }
        }
    }
}
