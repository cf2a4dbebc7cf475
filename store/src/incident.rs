//! Incidents: provider-wide and per site, as the correlator reports them.

use chrono::{DateTime, Utc};
use engine::{AlertEvent, Cause, IncidentKind, Mechanism, Pattern, Phase, Role, Scope};
use serde::{Deserialize, Serialize};

use crate::alert::AlertDetail;
use crate::{Store, StoreError};

/// A provider incident to insert or update, keyed by its database id.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderIncidentRow {
    pub provider: String,
    pub role: Role,
    pub mechanism: Mechanism,
    /// Edge-to-origin incidents: unrelated origins failing together.
    pub origins: u32,
    pub phase: Phase,
    pub pattern: Pattern,
    pub onset_at: DateTime<Utc>,
    pub detected_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub peak_share: f64,
    pub peak_at: DateTime<Utc>,
    pub recovering_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub confidence: f64,
    /// (site id, first failure, last failure)
    pub sites: Vec<(i64, DateTime<Utc>, DateTime<Utc>)>,
    pub evidence: Vec<String>,
    pub timeline: Vec<engine::TimelinePoint>,
    /// Seen from every region that probes, or from some only; the regions
    /// that saw it, when several probe.
    #[serde(default)]
    pub scope: Scope,
    #[serde(default)]
    pub regions: Vec<String>,
    /// How many times failures came back after a lull: waves less one.
    #[serde(default)]
    pub relapses: u32,
}

/// An incident as pages and exports read it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: i64,
    pub kind: IncidentKind,
    pub provider: Option<String>,
    pub role: Option<Role>,
    /// Provider incidents: what shows it (`None` when stored before this
    /// was kept: the provider's own failures).
    pub mechanism: Option<Mechanism>,
    pub origins: Option<i64>,
    pub site_id: Option<i64>,
    pub phase: Phase,
    pub pattern: Pattern,
    /// Site incidents: why the site was down.
    pub fault: Option<Cause>,
    pub onset_at: DateTime<Utc>,
    pub detected_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub peak_share: Option<f64>,
    pub peak_at: Option<DateTime<Utc>>,
    pub recovering_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub confidence: Option<f64>,
    pub sites_affected: i64,
    pub explained_by: Option<i64>,
    pub evidence: String,
    pub timeline: String,
    /// Provider incidents seen from vantages in several regions: global or
    /// regional (`None` when one region probes, or stored before).
    pub scope: Option<Scope>,
    /// The regions that saw it, as a JSON array; see [`Incident::regions`].
    pub regions: Option<String>,
    /// Provider incidents: how many times failures came back after a lull
    /// (0 for a steady one, and for incidents stored before this was kept).
    pub relapses: i64,
}

impl Incident {
    /// The regions that saw this provider incident, when several probe.
    pub fn regions(&self) -> Vec<String> {
        regions_of(self.regions.as_deref())
    }
}

/// Regions as the `regions` column holds them (a JSON array); none when
/// the column is empty or does not read.
fn regions_of(json: Option<&str>) -> Vec<String> {
    json.and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default()
}

typed_row!(Incident {
    id: plain,
    kind: word,
    provider: plain,
    role: maybe_word,
    mechanism: maybe_word,
    origins: plain,
    site_id: plain,
    phase: word,
    pattern: word,
    fault: maybe_word,
    onset_at: plain,
    detected_at: plain,
    confirmed_at: plain,
    peak_share: plain,
    peak_at: plain,
    recovering_at: plain,
    resolved_at: plain,
    confidence: plain,
    sites_affected: plain,
    explained_by: plain,
    evidence: plain,
    timeline: plain,
    scope: maybe_word,
    regions: plain,
    relapses: plain,
});

pub(crate) const INCIDENT_COLUMNS: &str = "id, kind, provider, role, mechanism, origins, site_id, phase, pattern, fault, onset_at, detected_at,
    confirmed_at, peak_share, peak_at, recovering_at, resolved_at, confidence, sites_affected, explained_by,
    evidence, timeline, scope, regions, relapses";

impl ProviderIncidentRow {
    /// Its scope, when vantages in several regions saw (or did not see) it.
    fn scope_if_regional(&self) -> Option<Scope> {
        (!self.regions.is_empty() && self.scope != Scope::Unknown).then_some(self.scope)
    }

    /// Its regions as stored: a JSON array, or nothing when one region probes.
    fn regions_json(&self) -> Option<String> {
        (!self.regions.is_empty()).then(|| crate::json(&self.regions))
    }
}

/// A provider incident's figures at the moment of an alert event.
fn provider_detail(row: &ProviderIncidentRow) -> AlertDetail {
    AlertDetail {
        provider: Some(row.provider.clone()),
        role: Some(row.role),
        phase: Some(row.phase),
        tally: row
            .timeline
            .last()
            .filter(|point| point.counted())
            .map(|point| point.tally),
        peak_share: Some(row.peak_share),
        affected_sites: Some(row.sites.len() as i64),
        onset_at: Some(row.onset_at),
        confirmed_at: row.confirmed_at,
        resolved_at: row.resolved_at,
        confidence: Some(row.confidence),
        evidence: row.evidence.iter().take(5).cloned().collect(),
        scope: row.scope_if_regional(),
        regions: row.regions.clone(),
        ..AlertDetail::default()
    }
}

impl Store {
    /// Inserts (`id` None) or updates a provider incident; returns its id.
    pub async fn save_provider_incident(
        &self,
        id: Option<i64>,
        row: &ProviderIncidentRow,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        on_writer!(self, |pool| {
            let mut tx = pool.begin_with(BEGIN).await?;
            let before: Option<(String, Option<String>)> = match id {
                Some(id) => {
                    sqlx::query_as("SELECT phase, regions FROM incidents WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?
                }
                None => None,
            };
            let (before, regions_before) = match before {
                Some((phase, regions)) => (
                    Some(Phase::from(phase.as_str())),
                    regions_of(regions.as_deref()),
                ),
                None => (None, Vec::new()),
            };
            let id = match id {
            Some(id) => {
                sqlx::query(
                    "UPDATE incidents SET phase = $1, pattern = $2, confirmed_at = $3, peak_share = $4, peak_at = $5,
                       recovering_at = $6, resolved_at = $7, confidence = $8, sites_affected = $9, evidence = $10,
                       timeline = $11, origins = $12, updated_at = $13, scope = $15, regions = $16, relapses = $17
                     WHERE id = $14",
                )
                .bind(row.phase.as_str())
                .bind(row.pattern.as_str())
                .bind(row.confirmed_at)
                .bind(row.peak_share)
                .bind(row.peak_at)
                .bind(row.recovering_at)
                .bind(row.resolved_at)
                .bind(row.confidence)
                .bind(row.sites.len() as i64)
                .bind(crate::json(&row.evidence))
                .bind(crate::json(&row.timeline))
                .bind(i64::from(row.origins))
                .bind(now)
                .bind(id)
                .bind(row.scope_if_regional().map(Scope::as_str))
                .bind(row.regions_json())
                .bind(i64::from(row.relapses))
                .execute(&mut *tx)
                .await?;
                id
            }
            None => {
                sqlx::query_scalar(
                    "INSERT INTO incidents (kind, provider, role, mechanism, origins, phase, pattern, onset_at,
                       detected_at, confirmed_at, peak_share, peak_at, recovering_at, resolved_at, confidence,
                       sites_affected, evidence, timeline, updated_at, scope, regions, relapses)
                     VALUES ('provider', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                       $19, $20, $21) RETURNING id",
                )
                .bind(&row.provider)
                .bind(row.role.as_str())
                .bind(row.mechanism.as_str())
                .bind(i64::from(row.origins))
                .bind(row.phase.as_str())
                .bind(row.pattern.as_str())
                .bind(row.onset_at)
                .bind(row.detected_at)
                .bind(row.confirmed_at)
                .bind(row.peak_share)
                .bind(row.peak_at)
                .bind(row.recovering_at)
                .bind(row.resolved_at)
                .bind(row.confidence)
                .bind(row.sites.len() as i64)
                .bind(crate::json(&row.evidence))
                .bind(crate::json(&row.timeline))
                .bind(now)
                .bind(row.scope_if_regional().map(Scope::as_str))
                .bind(row.regions_json())
                .bind(i64::from(row.relapses))
                .fetch_one(&mut *tx)
                .await?
            }
        };
            for (site_id, first, last) in &row.sites {
                sqlx::query(
                "INSERT INTO incident_sites (incident_id, site_id, first_failure, last_failure) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (incident_id, site_id) DO UPDATE SET last_failure = excluded.last_failure",
            )
            .bind(id)
            .bind(site_id)
            .bind(first)
            .bind(last)
            .execute(&mut *tx)
            .await?;
            }
            // The alert event goes with the change that causes it: a new
            // phase, or a confirmed outage seen from a region it was not.
            let spread = before == Some(Phase::Confirmed)
                && row.phase == Phase::Confirmed
                && !regions_before.is_empty()
                && row
                    .regions
                    .iter()
                    .any(|region| !regions_before.contains(region));
            let event = if before != Some(row.phase) {
                Some(AlertEvent::of_phase(
                    row.phase,
                    before == Some(Phase::Recovering),
                ))
            } else {
                spread.then_some(AlertEvent::ProviderSpread)
            };
            if let Some(event) = event {
                crate::alert::insert_event(
                    crate::Tx::from(&mut *tx),
                    id,
                    event,
                    now,
                    now,
                    &provider_detail(row),
                )
                .await?;
            }
            tx.commit().await?;
            Ok(id)
        })
    }

    /// Opens a site incident; returns its id. A site never has two
    /// incidents at once: if it still has an open one, or one that ended
    /// after `onset_at`, that one goes on (reopened, from the earlier onset)
    /// instead.
    pub async fn open_site_incident(
        &self,
        site_id: i64,
        onset_at: DateTime<Utc>,
        detected_at: DateTime<Utc>,
        cause: Option<Cause>,
        explained_by: Option<i64>,
    ) -> Result<i64, StoreError> {
        on_writer!(self, |pool| {
            let mut tx = pool.begin_with(BEGIN).await?;
            let id = open_site(
                crate::Tx::from(&mut *tx),
                site_id,
                onset_at,
                detected_at,
                cause,
                explained_by,
            )
            .await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    /// Resolves the open incident of a site, if any.
    pub async fn resolve_site_incident(
        &self,
        site_id: i64,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.apply_site_changes(&[SiteChange::Up { site_id, at }])
            .await
    }

    /// Applies the correlator's site changes in order, in one transaction:
    /// when thousands of sites go down together, one commit instead of one
    /// each keeps the correlator abreast of the probes.
    pub async fn apply_site_changes(&self, changes: &[SiteChange]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        on_writer!(self, |pool| {
            let mut tx = pool.begin_with(BEGIN).await?;
            for change in changes {
                match *change {
                    SiteChange::Down {
                        site_id,
                        onset_at,
                        detected_at,
                        cause,
                        explained_by,
                    } => {
                        open_site(
                            crate::Tx::from(&mut *tx),
                            site_id,
                            onset_at,
                            detected_at,
                            cause,
                            explained_by,
                        )
                        .await?;
                    }
                    SiteChange::Up { site_id, at } => {
                        resolve_site(crate::Tx::from(&mut *tx), site_id, at).await?;
                    }
                }
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Incidents of `kind` (or all), newest first.
    pub async fn list_incidents(
        &self,
        kind: Option<IncidentKind>,
        limit: i64,
    ) -> Result<Vec<Incident>, StoreError> {
        on_reader!(self, |pool| {
            let sql = format!(
                "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE ($1 IS NULL OR kind = $1)
             ORDER BY detected_at DESC, id DESC LIMIT $2"
            );
            Ok(sqlx::query_as::<_, Incident>(&sql)
                .bind(kind.map(IncidentKind::as_str))
                .bind(limit)
                .fetch_all(pool)
                .await?)
        })
    }

    /// Every provider incident not yet resolved, suspected ones included,
    /// as the correlator wrote it (with its implicated sites): what a
    /// correlator starting afresh (after a restart, or on the central that
    /// takes the lead) goes on with instead of opening them again.
    pub async fn unresolved_provider_incidents(
        &self,
    ) -> Result<Vec<(i64, ProviderIncidentRow)>, StoreError> {
        let incidents: Vec<Incident> = on_reader!(self, |pool| {
            let sql = format!(
                "SELECT {INCIDENT_COLUMNS} FROM incidents
                 WHERE kind = 'provider' AND phase <> 'resolved' ORDER BY id"
            );
            Ok::<_, StoreError>(sqlx::query_as::<_, Incident>(&sql).fetch_all(pool).await?)
        })?;
        let mut rows = Vec::with_capacity(incidents.len());
        for incident in incidents {
            let sites: Vec<(i64, DateTime<Utc>, DateTime<Utc>)> = on_reader!(self, |pool| {
                Ok::<_, StoreError>(
                    sqlx::query_as(
                        "SELECT site_id, first_failure, last_failure FROM incident_sites
                         WHERE incident_id = $1 ORDER BY site_id",
                    )
                    .bind(incident.id)
                    .fetch_all(pool)
                    .await?,
                )
            })?;
            let regions = incident.regions();
            rows.push((
                incident.id,
                ProviderIncidentRow {
                    provider: incident.provider.unwrap_or_default(),
                    role: incident.role.unwrap_or(Role::Unknown),
                    mechanism: incident.mechanism.unwrap_or_default(),
                    origins: u32::try_from(incident.origins.unwrap_or(0)).unwrap_or(0),
                    phase: incident.phase,
                    pattern: incident.pattern,
                    onset_at: incident.onset_at,
                    detected_at: incident.detected_at,
                    confirmed_at: incident.confirmed_at,
                    peak_share: incident.peak_share.unwrap_or(0.0),
                    peak_at: incident.peak_at.unwrap_or(incident.detected_at),
                    recovering_at: incident.recovering_at,
                    resolved_at: incident.resolved_at,
                    confidence: incident.confidence.unwrap_or(0.0),
                    sites,
                    evidence: serde_json::from_str(&incident.evidence).unwrap_or_default(),
                    timeline: serde_json::from_str(&incident.timeline).unwrap_or_default(),
                    scope: incident.scope.unwrap_or_default(),
                    regions,
                    relapses: u32::try_from(incident.relapses).unwrap_or(0),
                },
            ));
        }
        Ok(rows)
    }

    /// Provider incidents not yet resolved, and confirmed at some point.
    pub async fn active_provider_incidents(&self) -> Result<Vec<Incident>, StoreError> {
        on_reader!(self, |pool| {
            let sql = format!(
                "SELECT {INCIDENT_COLUMNS} FROM incidents
             WHERE kind = 'provider' AND phase <> 'resolved' AND confirmed_at IS NOT NULL
             ORDER BY detected_at DESC, id DESC"
            );
            Ok(sqlx::query_as::<_, Incident>(&sql).fetch_all(pool).await?)
        })
    }
}

/// A change to one site's incident, as the correlator reports it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SiteChange {
    /// The site went down at `detected_at`, failing since `onset_at`;
    /// `explained_by` is the provider incident that explains it.
    Down {
        site_id: i64,
        onset_at: DateTime<Utc>,
        detected_at: DateTime<Utc>,
        cause: Option<Cause>,
        explained_by: Option<i64>,
    },
    /// The site answers again.
    Up { site_id: i64, at: DateTime<Utc> },
}

/// [`Store::open_site_incident`] within a caller's transaction.
async fn open_site(
    tx: crate::Tx<'_>,
    site_id: i64,
    onset_at: DateTime<Utc>,
    detected_at: DateTime<Utc>,
    cause: Option<Cause>,
    explained_by: Option<i64>,
) -> Result<i64, StoreError> {
    on_tx!(tx, |tx| {
        let overlapping: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM incidents
             WHERE kind = 'site' AND site_id = $1 AND (phase <> 'resolved' OR resolved_at >= $2)
             ORDER BY detected_at DESC, id DESC LIMIT 1",
        )
        .bind(site_id)
        .bind(onset_at)
        .fetch_optional(&mut *tx)
        .await?;
        let id = match overlapping {
            Some(id) => {
                sqlx::query(&format!(
                    "UPDATE incidents SET phase = 'confirmed', resolved_at = NULL,
                       onset_at = {least}(onset_at, $1), explained_by = COALESCE(explained_by, $2),
                       updated_at = $3
                     WHERE id = $4",
                    least = DIALECT.least()
                ))
                .bind(onset_at)
                .bind(explained_by)
                .bind(detected_at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                id
            }
            None => {
                sqlx::query_scalar(
                    "INSERT INTO incidents (kind, site_id, phase, fault, onset_at, detected_at, explained_by, sites_affected, updated_at)
                     VALUES ('site', $1, 'confirmed', $2, $3, $4, $5, 1, $6) RETURNING id",
                )
                .bind(site_id)
                .bind(cause.map(Cause::as_str))
                .bind(onset_at)
                .bind(detected_at)
                .bind(explained_by)
                .bind(detected_at)
                .fetch_one(&mut *tx)
                .await?
            }
        };
        let detail = AlertDetail {
            site_id: Some(site_id),
            onset_at: Some(onset_at),
            cause: cause.map(|cause| cause.as_str().to_owned()),
            explained_by,
            ..AlertDetail::default()
        };
        crate::alert::insert_event(
            crate::Tx::from(&mut *tx),
            id,
            AlertEvent::SiteDown,
            detected_at,
            detected_at + crate::alert::SITE_EVENT_WAIT,
            &detail,
        )
        .await?;
        Ok(id)
    })
}

/// [`Store::resolve_site_incident`] within a caller's transaction.
async fn resolve_site(
    tx: crate::Tx<'_>,
    site_id: i64,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_tx!(tx, |tx| {
        let resolved: Vec<i64> = sqlx::query_scalar(
            "UPDATE incidents SET phase = 'resolved', resolved_at = $1, updated_at = $2
             WHERE kind = 'site' AND site_id = $3 AND phase <> 'resolved' RETURNING id",
        )
        .bind(at)
        .bind(at)
        .bind(site_id)
        .fetch_all(&mut *tx)
        .await?;
        let detail = AlertDetail {
            site_id: Some(site_id),
            resolved_at: Some(at),
            ..AlertDetail::default()
        };
        for id in resolved {
            // Waits as long as the site's going down did, so it follows it.
            crate::alert::insert_event(
                crate::Tx::from(&mut *tx),
                id,
                AlertEvent::SiteRecovered,
                at,
                at + crate::alert::SITE_EVENT_WAIT,
                &detail,
            )
            .await?;
        }
        Ok(())
    })
}
