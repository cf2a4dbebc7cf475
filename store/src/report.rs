//! What the public pages, exports and feeds read: one site with its status,
//! last error, providers and incidents; one provider's cohort; one incident
//! with its affected sites and annotations. Read-only queries.

use chrono::{DateTime, Utc};
use engine::{FailureClass, Fault, FaultSide, IncidentKind, Role};
use serde::{Deserialize, Serialize};

use crate::incident::INCIDENT_COLUMNS;
use crate::probe::Resolution;
use crate::{Incident, ProbeRecord, RollupRow, Site, Store, StoreError};

/// The latest probe's verdict for one site (`site_status`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteStatus {
    pub site_id: i64,
    pub started_at: DateTime<Utc>,
    pub ok: bool,
    pub suspect: bool,
    pub failure: Option<FailureClass>,
    pub fault: Option<Fault>,
    /// Who generated the error page, when the probe failed with one.
    pub provider: Option<String>,
    /// When `ok` last changed.
    pub since: DateTime<Utc>,
}

typed_row!(SiteStatus {
    site_id: plain,
    started_at: plain,
    ok: plain,
    suspect: plain,
    failure: maybe_word,
    fault: maybe_word,
    provider: plain,
    since: plain,
});

/// A provider seen serving a site, current (`until` None) or past.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderSighting {
    pub provider: String,
    pub role: Role,
    /// JSON array of evidence strings.
    pub evidence: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

typed_row!(ProviderSighting {
    provider: plain,
    role: word,
    evidence: plain,
    first_seen: plain,
    last_seen: plain,
    until: plain,
});

/// A provider in one role with how its watched sites fare now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderCohort {
    pub provider: String,
    pub role: Role,
    /// Watched sites currently served by it in this role.
    pub sites: i64,
    /// Of those, how many have been probed.
    pub probed: i64,
    /// Failing their latest probe (suspect probes excluded).
    pub failing: i64,
    /// Failing with an error page this provider generated.
    pub failing_here: i64,
    /// The newest probe among its sites.
    pub latest_probe: Option<DateTime<Utc>>,
}

typed_row!(ProviderCohort {
    provider: plain,
    role: word,
    sites: plain,
    probed: plain,
    failing: plain,
    failing_here: plain,
    latest_probe: plain,
});

/// One site behind a provider, with its latest status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohortSite {
    pub site_id: i64,
    pub host: String,
    pub name: String,
    pub role: Role,
    pub ok: Option<bool>,
    pub suspect: Option<bool>,
    pub failure: Option<FailureClass>,
    pub fault: Option<Fault>,
    /// Who generated the error page of the latest failing probe.
    pub generator: Option<String>,
    pub since: Option<DateTime<Utc>>,
}

typed_row!(CohortSite {
    site_id: plain,
    host: plain,
    name: plain,
    role: word,
    ok: plain,
    suspect: plain,
    failure: maybe_word,
    fault: maybe_word,
    generator: plain,
    since: plain,
});

/// A site affected by a provider incident, with the probe of its last
/// implicating failure when raw probes still hold it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AffectedSite {
    pub site_id: i64,
    pub host: String,
    pub name: String,
    pub url: String,
    pub first_failure: DateTime<Utc>,
    pub last_failure: DateTime<Utc>,
    pub status: Option<i64>,
    pub failure: Option<FailureClass>,
    pub generator: Option<String>,
    pub fault_side: Option<FaultSide>,
    pub fault: Option<Fault>,
    /// JSON array of evidence strings.
    pub evidence: Option<String>,
}

typed_row!(AffectedSite {
    site_id: plain,
    host: plain,
    name: plain,
    url: plain,
    first_failure: plain,
    last_failure: plain,
    status: plain,
    failure: maybe_word,
    generator: plain,
    fault_side: maybe_word,
    fault: maybe_word,
    evidence: plain,
});

/// A note on an incident's timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Annotation {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub text: String,
    pub url: Option<String>,
    pub author: String,
}

const PROBE_COLUMNS_WITHOUT_BODY: &str = "site_id, started_at, ok, status, failure, detail, dns_ms,
    connect_ms, tls_ms, ttfb_ms, total_ms, remote_ip, facts, NULL AS body_gz, provider, fault_side,
    fault, confidence, evidence, suspect, vantage_id, slot";

/// Which incidents a list shows; every field narrows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IncidentFilter {
    pub kind: Option<IncidentKind>,
    pub provider: Option<String>,
    /// Open (not resolved) or resolved.
    pub open: Option<bool>,
    /// Still open at or resolved after this time.
    pub since: Option<DateTime<Utc>>,
    /// Begun at or before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only incidents older than this id: the cursor of the next page.
    pub before_id: Option<i64>,
}

impl Store {
    /// The watched site for a host, the oldest first when several URLs share it.
    pub async fn site_by_host(&self, host: &str) -> Result<Option<Site>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_as::<_, Site>(
                "SELECT id, url, host, name, tags, interval_s, enabled, created_at FROM sites
             WHERE host = $1 ORDER BY id LIMIT 1",
            )
            .bind(host)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// The watched sites among `ids`, by host: names for the sites a
    /// snapshot mentions by id.
    pub async fn watched_sites(&self, ids: &[i64]) -> Result<Vec<Site>, StoreError> {
        on_reader!(self, |pool| {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".to_owned());
            Ok(sqlx::query_as::<_, Site>(&format!(
                "SELECT id, url, host, name, tags, interval_s, enabled, created_at FROM sites
                 WHERE enabled = TRUE AND id IN {ids} ORDER BY host",
                ids = DIALECT.ids_in_json("$1")
            ))
            .bind(ids)
            .fetch_all(pool)
            .await?)
        })
    }

    /// One site by id.
    pub async fn site(&self, id: i64) -> Result<Option<Site>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_as::<_, Site>(
            "SELECT id, url, host, name, tags, interval_s, enabled, created_at FROM sites WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await?)
        })
    }

    /// The latest verdict of this central's own prober for a site, if it
    /// has probed it.
    pub async fn site_status(&self, site_id: i64) -> Result<Option<SiteStatus>, StoreError> {
        self.site_status_from(site_id, crate::OWN_VANTAGE).await
    }

    /// The latest verdict of one vantage for a site, if it has probed it.
    pub async fn site_status_from(
        &self,
        site_id: i64,
        vantage_id: i64,
    ) -> Result<Option<SiteStatus>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_as::<_, SiteStatus>(
                "SELECT site_id, started_at, ok, suspect, failure, fault, provider, since
             FROM site_status WHERE site_id = $1 AND vantage_id = $2",
            )
            .bind(site_id)
            .bind(vantage_id)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// The newest failed probe of a site still kept raw, without its body.
    pub async fn latest_failure(&self, site_id: i64) -> Result<Option<ProbeRecord>, StoreError> {
        on_reader!(self, |pool| {
            let sql = format!(
                "SELECT {PROBE_COLUMNS_WITHOUT_BODY} FROM probes
             WHERE site_id = $1 AND ok = FALSE ORDER BY started_at DESC LIMIT 1"
            );
            Ok(sqlx::query_as::<_, ProbeRecord>(&sql)
                .bind(site_id)
                .fetch_optional(pool)
                .await?)
        })
    }

    /// The latest probes of a site, newest first, without error bodies.
    pub async fn probe_history(
        &self,
        site_id: i64,
        limit: i64,
    ) -> Result<Vec<ProbeRecord>, StoreError> {
        on_reader!(self, |pool| {
            let sql = format!(
                "SELECT {PROBE_COLUMNS_WITHOUT_BODY} FROM probes
             WHERE site_id = $1 ORDER BY started_at DESC LIMIT $2"
            );
            Ok(sqlx::query_as::<_, ProbeRecord>(&sql)
                .bind(site_id)
                .bind(limit)
                .fetch_all(pool)
                .await?)
        })
    }

    /// Every provider seen serving a site, current ones first.
    pub async fn site_provider_history(
        &self,
        site_id: i64,
    ) -> Result<Vec<ProviderSighting>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_as::<_, ProviderSighting>(
                "SELECT provider, role, evidence, first_seen, last_seen, until FROM site_providers
             WHERE site_id = $1 ORDER BY until IS NOT NULL, role, provider, first_seen DESC",
            )
            .bind(site_id)
            .fetch_all(pool)
            .await?)
        })
    }

    /// A site's own incidents and the confirmed provider incidents that
    /// counted it among the affected sites, newest first.
    pub async fn site_incidents(
        &self,
        site_id: i64,
        limit: i64,
    ) -> Result<Vec<Incident>, StoreError> {
        on_reader!(self, |pool| {
            let sql = format!(
                "SELECT {INCIDENT_COLUMNS} FROM incidents
             WHERE (kind = 'site' AND site_id = $1)
                OR (kind = 'provider' AND confirmed_at IS NOT NULL
                    AND id IN (SELECT incident_id FROM incident_sites WHERE site_id = $1))
             ORDER BY detected_at DESC, id DESC LIMIT $2"
            );
            Ok(sqlx::query_as::<_, Incident>(&sql)
                .bind(site_id)
                .bind(limit)
                .fetch_all(pool)
                .await?)
        })
    }

    /// Each provider and role with its watched sites and how many fail now,
    /// largest cohorts first.
    pub async fn provider_cohorts(&self) -> Result<Vec<ProviderCohort>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_as::<_, ProviderCohort>(
            "SELECT sp.provider, sp.role, COUNT(*) AS sites,
               COUNT(st.site_id) AS probed,
               COALESCE(SUM(CASE WHEN st.ok = FALSE AND st.suspect = FALSE THEN 1 ELSE 0 END), 0) AS failing,
               COALESCE(SUM(CASE WHEN st.ok = FALSE AND st.suspect = FALSE AND st.provider = sp.provider
                            THEN 1 ELSE 0 END), 0) AS failing_here,
               MAX(st.started_at) AS latest_probe
             FROM site_providers sp
             JOIN sites s ON s.id = sp.site_id AND s.enabled = TRUE
             LEFT JOIN site_status st ON st.site_id = sp.site_id AND st.vantage_id = 0
             WHERE sp.until IS NULL
             GROUP BY sp.provider, sp.role
             ORDER BY sites DESC, sp.provider, sp.role",
        )
        .fetch_all(pool)
        .await?)
        })
    }

    /// The watched sites a provider currently serves, failing ones first.
    pub async fn provider_sites(&self, provider: &str) -> Result<Vec<CohortSite>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_as::<_, CohortSite>(
            "SELECT s.id AS site_id, s.host, s.name, sp.role, st.ok, st.suspect, st.failure, st.fault,
                    st.provider AS generator, st.since
             FROM site_providers sp
             JOIN sites s ON s.id = sp.site_id AND s.enabled = TRUE
             LEFT JOIN site_status st ON st.site_id = sp.site_id AND st.vantage_id = 0
             WHERE sp.provider = $1 AND sp.until IS NULL
             ORDER BY COALESCE(st.ok, TRUE), s.host, sp.role",
        )
        .bind(provider)
        .fetch_all(pool)
        .await?)
        })
    }

    /// The rollups of every site a provider currently serves, summed per
    /// bucket, in `[from, until)`, oldest first.
    pub async fn provider_rollups(
        &self,
        provider: &str,
        resolution: Resolution,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<RollupRow>, StoreError> {
        on_reader!(self, |pool| {
            let sql = format!(
            "SELECT r.bucket, CAST(SUM(r.probes) AS BIGINT) AS probes,
                    CAST(SUM(r.failures) AS BIGINT) AS failures,
                    CAST(SUM(r.suspect) AS BIGINT) AS suspect,
                    CAST(SUM(r.total_ms_sum) AS BIGINT) AS total_ms_sum,
                    MAX(r.total_ms_max) AS total_ms_max
             FROM {table} r
             WHERE r.site_id IN (SELECT site_id FROM site_providers WHERE provider = $1 AND until IS NULL)
               AND r.bucket >= $2 AND r.bucket < $3
             GROUP BY r.bucket ORDER BY r.bucket",
            table = resolution.table()
        );
            Ok(sqlx::query_as::<_, RollupRow>(&sql)
                .bind(provider)
                .bind(from)
                .bind(until)
                .fetch_all(pool)
                .await?)
        })
    }

    /// Confirmed provider incidents (of one provider, or all), newest first.
    /// Suspicions that never confirmed are left out.
    pub async fn provider_incidents(
        &self,
        provider: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Incident>, StoreError> {
        let filter = IncidentFilter {
            kind: Some(IncidentKind::Provider),
            provider: provider.map(str::to_owned),
            ..IncidentFilter::default()
        };
        self.incidents(&filter, limit).await
    }

    /// The incidents `filter` picks, newest first (by id, which follows
    /// detection), at most `limit`. Provider suspicions that never
    /// confirmed are not incidents and never listed.
    pub async fn incidents(
        &self,
        filter: &IncidentFilter,
        limit: i64,
    ) -> Result<Vec<Incident>, StoreError> {
        on_reader!(self, |pool| {
            let sql = format!(
                "SELECT {INCIDENT_COLUMNS} FROM incidents
             WHERE (kind <> 'provider' OR confirmed_at IS NOT NULL)
               AND ($1 IS NULL OR kind = $1)
               AND ($2 IS NULL OR provider = $2)
               AND ($3 IS NULL OR ($3 = 'open') = (phase <> 'resolved'))
               AND ($4 IS NULL OR resolved_at IS NULL OR {resolved} >= {since})
               AND ($5 IS NULL OR {onset} <= {until})
               AND ($6 IS NULL OR id < $6)
             ORDER BY id DESC LIMIT $7",
                resolved = DIALECT.moment("resolved_at"),
                since = DIALECT.moment("$4"),
                onset = DIALECT.moment("onset_at"),
                until = DIALECT.moment("$5"),
            );
            Ok(sqlx::query_as::<_, Incident>(&sql)
                .bind(filter.kind.map(IncidentKind::as_str))
                .bind(filter.provider.as_deref())
                .bind(
                    filter
                        .open
                        .map(|open| if open { "open" } else { "resolved" }),
                )
                .bind(filter.since)
                .bind(filter.until)
                .bind(filter.before_id)
                .bind(limit)
                .fetch_all(pool)
                .await?)
        })
    }

    /// Enabled sites whose host or name contains `text` (any case; all
    /// when none), by host, after the host `after`, at most `limit`.
    pub async fn search_sites(
        &self,
        text: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Site>, StoreError> {
        on_reader!(self, |pool| {
            // LIKE's wildcards in the search are meant literally.
            let pattern = text.map(|text| {
                let escaped = text
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                format!("%{escaped}%")
            });
            Ok(sqlx::query_as::<_, Site>(&format!(
                "SELECT id, url, host, name, tags, interval_s, enabled, created_at FROM sites
                 WHERE enabled = TRUE
                   AND ($1 IS NULL OR host {like} $1 ESCAPE '\\' OR name {like} $1 ESCAPE '\\')
                   AND ($2 IS NULL OR host > $2)
                 ORDER BY host, id LIMIT $3",
                like = DIALECT.like_any_case()
            ))
            .bind(pattern)
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?)
        })
    }

    /// One incident by id.
    pub async fn incident(&self, id: i64) -> Result<Option<Incident>, StoreError> {
        on_reader!(self, |pool| {
            let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1");
            Ok(sqlx::query_as::<_, Incident>(&sql)
                .bind(id)
                .fetch_optional(pool)
                .await?)
        })
    }

    /// The sites an incident affected, in the order they started failing,
    /// each with its last failing probe if still kept: a provider incident's
    /// implicated sites, or a site incident's own site.
    pub async fn incident_sites(&self, incident_id: i64) -> Result<Vec<AffectedSite>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_as::<_, AffectedSite>(
                "SELECT s.id AS site_id, s.host, s.name, s.url, i.first_failure, i.last_failure,
                    p.status, p.failure, p.provider AS generator, p.fault_side, p.fault, p.evidence
             FROM incident_sites i
             JOIN sites s ON s.id = i.site_id
             LEFT JOIN probes p ON p.id = (
               SELECT id FROM probes WHERE site_id = i.site_id AND started_at = i.last_failure
               ORDER BY id DESC LIMIT 1)
             WHERE i.incident_id = $1
             UNION ALL
             -- A site incident's own site, with its last failure in it.
             SELECT s.id AS site_id, s.host, s.name, s.url, inc.onset_at AS first_failure,
                    COALESCE(p.started_at, inc.detected_at) AS last_failure,
                    p.status, p.failure, p.provider AS generator, p.fault_side, p.fault, p.evidence
             FROM incidents inc
             JOIN sites s ON s.id = inc.site_id
             LEFT JOIN probes p ON p.id = (
               SELECT id FROM probes
               WHERE site_id = inc.site_id AND ok = FALSE AND started_at >= inc.onset_at
                 AND (inc.resolved_at IS NULL OR started_at <= inc.resolved_at)
               ORDER BY started_at DESC, id DESC LIMIT 1)
             WHERE inc.id = $2 AND inc.kind = 'site'
             ORDER BY first_failure, host",
            )
            .bind(incident_id)
            .bind(incident_id)
            .fetch_all(pool)
            .await?)
        })
    }

    /// The notes on an incident's timeline, oldest first.
    pub async fn annotations(&self, incident_id: i64) -> Result<Vec<Annotation>, StoreError> {
        on_reader!(self, |pool| {
            Ok(sqlx::query_as::<_, Annotation>(
            "SELECT id, at, text, url, author FROM annotations WHERE incident_id = $1 ORDER BY at, id",
        )
        .bind(incident_id)
        .fetch_all(pool)
        .await?)
        })
    }

    /// Adds a note to an incident's timeline; returns its id.
    pub async fn annotate_incident(
        &self,
        incident_id: i64,
        at: DateTime<Utc>,
        text: &str,
        url: Option<&str>,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        on_writer!(self, |pool| {
            Ok(sqlx::query_scalar(
                "INSERT INTO annotations (incident_id, at, text, url, author, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(incident_id)
            .bind(at)
            .bind(text)
            .bind(url)
            .bind(author)
            .bind(now)
            .fetch_one(pool)
            .await?)
        })
    }
}
