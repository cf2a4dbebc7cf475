//! `/metrics`: how this Faultline is doing, for the operator's Prometheus.
//! One registry per process, kept in the app state and handed to the
//! tasks that count (no global); what is true at the moment of a scrape
//! (open incidents, the vantage, the database's size) is read then.

use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use sha2::Digest as _;

/// A probe's outcome and, when it failed, its failure class.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProbeLabels {
    /// `ok`, `failed`, or `suspect` (failed while our own network did).
    pub outcome: &'static str,
    pub failure: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    /// `dns`, `connect`, `tls`, `ttfb` or `total`.
    pub phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IncidentLabels {
    pub provider: String,
    pub role: &'static str,
    pub phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VantageLabels {
    pub state: &'static str,
}

/// Every metric Faultline keeps; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    probes: Family<ProbeLabels, Counter>,
    phases: Family<PhaseLabels, Histogram>,
    scheduler_lag: Histogram,
    /// The largest lateness since `take_lag_max` last asked, in ms.
    lag_max_ms: std::sync::atomic::AtomicU64,
    probes_in_flight: Gauge,
    probe_capacity: Gauge,
    writer_queue: Gauge,
    writer_batch: Histogram,
    database_bytes: Gauge,
    incidents_open: Family<IncidentLabels, Gauge>,
    vantage: Family<VantageLabels, Gauge>,
    resolvers_failing: Gauge,
    snapshot_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    cache: Family<OutcomeLabels, Counter>,
    on_demand: Family<OutcomeLabels, Counter>,
    deliveries: Family<OutcomeLabels, Counter>,
    status_polls: Family<OutcomeLabels, Counter>,
    agent_results: Family<OutcomeLabels, Counter>,
    status_pages_failing: Gauge,
    /// One scrape at a time sets the gauges read at scrape time.
    scrape: Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Seconds, from 1 ms to about 65 s: a probe's phases and its lateness.
fn seconds_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.001, 2.0, 17)
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("faultline");
        let probes = Family::<ProbeLabels, Counter>::default();
        registry.register(
            "probes",
            "Probes of watched sites by outcome and failure class",
            probes.clone(),
        );
        let phases = Family::<PhaseLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(seconds_buckets())
        });
        registry.register_with_unit(
            "probe_phase_duration",
            "Time each phase of a probe took: DNS, connect, TLS, first byte, total",
            Unit::Seconds,
            phases.clone(),
        );
        let scheduler_lag = Histogram::new(seconds_buckets());
        registry.register_with_unit(
            "scheduler_lag",
            "How late a probe started after its slot in the schedule",
            Unit::Seconds,
            scheduler_lag.clone(),
        );
        let probes_in_flight = Gauge::default();
        registry.register(
            "probes_in_flight",
            "Probes started and not yet finished",
            probes_in_flight.clone(),
        );
        let probe_capacity = Gauge::default();
        registry.register(
            "probe_capacity",
            "Probes allowed in flight at once, sized for the watchlist and the timeouts",
            probe_capacity.clone(),
        );
        let writer_queue = Gauge::default();
        registry.register(
            "writer_queue_depth",
            "Probe results waiting for the writer",
            writer_queue.clone(),
        );
        let writer_batch = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register_with_unit(
            "writer_batch_commit",
            "Time to store one batch of probe results",
            Unit::Seconds,
            writer_batch.clone(),
        );
        let database_bytes = Gauge::default();
        registry.register_with_unit(
            "database_size",
            "The SQLite database's files on disk",
            Unit::Bytes,
            database_bytes.clone(),
        );
        let incidents_open = Family::<IncidentLabels, Gauge>::default();
        registry.register(
            "incidents_open",
            "Provider-wide incidents open now, by provider, role and phase",
            incidents_open.clone(),
        );
        let vantage = Family::<VantageLabels, Gauge>::default();
        registry.register(
            "vantage_state",
            "The own-network guard's state: 1 for the current one",
            vantage.clone(),
        );
        let resolvers_failing = Gauge::default();
        registry.register(
            "resolvers_failing",
            "Our own resolvers failing while another answers (probes go on through the others)",
            resolvers_failing.clone(),
        );
        let snapshot_age = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register_with_unit(
            "snapshot_age",
            "Age of the newest probe in the published snapshot",
            Unit::Seconds,
            snapshot_age.clone(),
        );
        let cache = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "page_cache_requests",
            "Anonymous reads by how the page cache answered: hit, stale, miss",
            cache.clone(),
        );
        let on_demand = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "on_demand_checks",
            "Checks of sites on demand by outcome",
            on_demand.clone(),
        );
        let deliveries = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "alert_delivery_attempts",
            "Alert delivery attempts by outcome: delivered, retry, dead, gone",
            deliveries.clone(),
        );
        let status_polls = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "status_page_polls",
            "Polls of providers' status pages by outcome: read, unchanged, failed",
            status_polls.clone(),
        );
        let agent_results = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "agent_results",
            "Results probe agents pushed, by outcome: stored, duplicate (stored before), refused",
            agent_results.clone(),
        );
        let status_pages_failing = Gauge::default();
        registry.register(
            "status_pages_failing",
            "Providers' status pages whose last poll failed (what they said before is kept)",
            status_pages_failing.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                probes,
                phases,
                scheduler_lag,
                lag_max_ms: std::sync::atomic::AtomicU64::new(0),
                probes_in_flight,
                probe_capacity,
                writer_queue,
                writer_batch,
                database_bytes,
                incidents_open,
                vantage,
                resolvers_failing,
                snapshot_age,
                cache,
                on_demand,
                deliveries,
                status_polls,
                agent_results,
                status_pages_failing,
                scrape: Mutex::new(()),
            }),
        }
    }

    /// A probe of a watched site finished.
    pub fn probe_finished(&self, record: &store::ProbeRecord) {
        let outcome = match (record.ok, record.suspect) {
            (true, _) => "ok",
            (false, true) => "suspect",
            (false, false) => "failed",
        };
        let failure = record.failure.map_or("none", |f| f.as_str());
        self.inner
            .probes
            .get_or_create(&ProbeLabels { outcome, failure })
            .inc();
        for (phase, ms) in [
            ("dns", record.dns_ms),
            ("connect", record.connect_ms),
            ("tls", record.tls_ms),
            ("ttfb", record.ttfb_ms),
            ("total", record.total_ms),
        ] {
            if let Some(ms) = ms.filter(|ms| *ms >= 0) {
                self.inner
                    .phases
                    .get_or_create(&PhaseLabels { phase })
                    .observe(ms as f64 / 1000.0);
            }
        }
    }

    /// A probe started `late` after its slot.
    pub fn probe_started(&self, late: chrono::TimeDelta) {
        let late_ms = late.num_milliseconds().max(0);
        self.inner.scheduler_lag.observe(late_ms as f64 / 1000.0);
        self.inner.lag_max_ms.fetch_max(
            u64::try_from(late_ms).unwrap_or(0),
            std::sync::atomic::Ordering::Relaxed,
        );
        self.inner.probes_in_flight.inc();
    }

    pub fn probe_ended(&self) {
        self.inner.probes_in_flight.dec();
    }

    /// The largest lateness of a probe's start since the last call.
    pub fn take_lag_max(&self) -> std::time::Duration {
        std::time::Duration::from_millis(
            self.inner
                .lag_max_ms
                .swap(0, std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Probes in flight now.
    pub fn in_flight(&self) -> i64 {
        self.inner.probes_in_flight.get()
    }

    /// Probes allowed in flight at once, as last set.
    pub fn capacity_now(&self) -> i64 {
        self.inner.probe_capacity.get()
    }

    /// Probes allowed in flight at once.
    pub fn capacity(&self, capacity: usize) {
        self.inner
            .probe_capacity
            .set(i64::try_from(capacity).unwrap_or(i64::MAX));
    }

    /// The writer stored a batch in `took`, with `waiting` results queued.
    pub fn batch_stored(&self, took: std::time::Duration, waiting: usize) {
        self.inner.writer_batch.observe(took.as_secs_f64());
        self.inner
            .writer_queue
            .set(i64::try_from(waiting).unwrap_or(i64::MAX));
    }

    /// The page cache answered: `hit`, `stale` or `miss`.
    pub fn cache(&self, outcome: &'static str) {
        self.inner
            .cache
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// A check on demand ended: `up` or `down`.
    pub fn on_demand(&self, outcome: &'static str) {
        self.inner
            .on_demand
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// An alert delivery attempt ended.
    pub fn delivery(&self, outcome: &'static str) {
        self.inner
            .deliveries
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// A batch of an agent's results was answered.
    pub fn agent_batch(&self, stored: usize, duplicates: usize, refused: usize) {
        for (outcome, count) in [
            ("stored", stored),
            ("duplicate", duplicates),
            ("refused", refused),
        ] {
            self.inner
                .agent_results
                .get_or_create(&OutcomeLabels { outcome })
                .inc_by(count as u64);
        }
    }

    /// A round of the status-page poller ended.
    pub fn status_round(&self, read: usize, unchanged: usize, failed: usize) {
        for (outcome, count) in [("read", read), ("unchanged", unchanged), ("failed", failed)] {
            self.inner
                .status_polls
                .get_or_create(&OutcomeLabels { outcome })
                .inc_by(u64::try_from(count).unwrap_or(u64::MAX));
        }
        self.inner
            .status_pages_failing
            .set(i64::try_from(failed).unwrap_or(i64::MAX));
    }

    /// The registry as text: OpenMetrics, or Prometheus' text format.
    fn encode(&self, scrape: &Scrape, open_metrics: bool) -> Result<String, std::fmt::Error> {
        let _one_at_a_time = self
            .inner
            .scrape
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let inner = &self.inner;
        inner.incidents_open.clear();
        for (labels, count) in &scrape.incidents {
            inner.incidents_open.get_or_create(labels).set(*count);
        }
        inner.vantage.clear();
        for state in engine::VantageState::ALL {
            inner
                .vantage
                .get_or_create(&VantageLabels {
                    state: state.as_str(),
                })
                .set(i64::from(*state == scrape.vantage));
        }
        inner.resolvers_failing.set(scrape.resolvers_failing);
        inner.database_bytes.set(scrape.database_bytes);
        inner.snapshot_age.set(scrape.snapshot_age_s);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &inner.registry)?;
        Ok(if open_metrics {
            text
        } else {
            prometheus_text(&text)
        })
    }
}

/// OpenMetrics text as Prometheus' own text format (0.0.4) has it: a
/// counter's family is named with its `_total` suffix, and there are no
/// `# UNIT` or `# EOF` lines.
fn prometheus_text(open_metrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = open_metrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(open_metrics.len());
    for line in open_metrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(line) => text.push_str(&line),
            None => text.push_str(line),
        }
        text.push('\n');
    }
    text
}

/// What is read at the moment of a scrape.
struct Scrape {
    incidents: Vec<(IncidentLabels, i64)>,
    vantage: engine::VantageState,
    resolvers_failing: i64,
    database_bytes: i64,
    snapshot_age_s: f64,
}

/// What `/metrics` reads.
#[derive(Clone, Debug)]
pub struct MetricsState {
    pub metrics: Metrics,
    pub status: app::status::Status,
    pub vantage: Option<tokio::sync::watch::Receiver<engine::VantageState>>,
    /// The database, whose size a scrape reports.
    pub store: store::Store,
    /// SHA-256 of the bearer token a scrape must bring; none: no token
    /// needed (a listener of its own).
    pub token_sha256: Option<[u8; 32]>,
}

/// Whether `headers` bring the bearer token whose hash is `expected`.
fn authorised(headers: &HeaderMap, expected: &[u8; 32]) -> bool {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let given: [u8; 32] = sha2::Sha256::digest(token.trim().as_bytes()).into();
    // Equal hashes of equal length: compared without an early exit.
    given
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// `GET /metrics`.
pub async fn scrape(State(state): State<MetricsState>, headers: HeaderMap) -> Response {
    if let Some(expected) = &state.token_sha256 {
        if !authorised(&headers, expected) {
            let mut response = (
                StatusCode::UNAUTHORIZED,
                "a bearer token is needed for /metrics\n",
            )
                .into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"metrics\""),
            );
            return response;
        }
    }
    let snapshot = state.status.snapshot();
    let freshness = state.status.freshness(&snapshot);
    let mut counts: std::collections::HashMap<IncidentLabels, i64> = Default::default();
    for now in snapshot
        .incidents
        .iter()
        .filter(|i| i.incident.phase.is_open())
    {
        *counts
            .entry(IncidentLabels {
                provider: now.incident.provider.clone(),
                role: now.incident.role.as_str(),
                phase: now.incident.phase.as_str(),
            })
            .or_default() += 1;
    }
    let bytes = state.store.size_bytes().await.unwrap_or_else(|error| {
        tracing::warn!(%error, "cannot read the database's size");
        0
    });
    let scrape = Scrape {
        incidents: counts.into_iter().collect(),
        vantage: state
            .vantage
            .as_ref()
            .map_or(engine::VantageState::Unknown, |v| *v.borrow()),
        resolvers_failing: i64::try_from(snapshot.resolvers_failing.len()).unwrap_or(i64::MAX),
        database_bytes: bytes,
        snapshot_age_s: freshness.age_seconds().unwrap_or_default() as f64,
    };
    let open_metrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    match state.metrics.encode(&scrape, open_metrics) {
        Ok(text) => {
            let kind = if open_metrics {
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            } else {
                "text/plain; version=0.0.4; charset=utf-8"
            };
            let mut response = text.into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => {
            tracing::error!(%error, "metrics do not encode");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_names_counter_families_with_their_suffix() {
        let open_metrics = "# HELP x_probes Probes.\n# TYPE x_probes counter\nx_probes_total{a=\"b\"} 3\n\
                            # HELP x_lag Lag.\n# TYPE x_lag histogram\n# UNIT x_lag seconds\nx_lag_count 1\n# EOF\n";
        assert_eq!(
            prometheus_text(open_metrics),
            "# HELP x_probes_total Probes.\n# TYPE x_probes_total counter\nx_probes_total{a=\"b\"} 3\n\
             # HELP x_lag Lag.\n# TYPE x_lag histogram\nx_lag_count 1\n"
        );
    }

    #[test]
    fn a_scrape_needs_the_exact_token() {
        let expected: [u8; 32] = sha2::Sha256::digest(b"a-long-enough-token").into();
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("")),
            );
            authorised(&headers, &expected)
        };
        assert!(with("Bearer a-long-enough-token"));
        assert!(!with("Bearer a-long-enough-toke"));
        assert!(!with("a-long-enough-token"));
        assert!(!authorised(&HeaderMap::new(), &expected));
    }
}
