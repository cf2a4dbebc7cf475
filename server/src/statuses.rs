//! The status-page poller: reads what each provider says on its own status
//! page (the knowledge base's `[status]`, or `[statuses] sources`), stores
//! each statement once, and links each to the provider incident Faultline
//! measured that it describes.
//!
//! Polite: one document per provider every `interval_seconds` (5 minutes
//! by default), conditional requests (`If-None-Match`,
//! `If-Modified-Since`), a bounded body, no redirects. Every connection
//! goes through a prober's SSRF guard. A document that fails to arrive or
//! to parse is logged and recorded with its reason; what was stored from
//! the last good one stays.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use engine::vocab::StatusFormat;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;

/// `[statuses]` in the configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusSettings {
    /// Poll providers' status pages.
    pub enabled: bool,
    /// Seconds between two polls of one document; at least 60.
    pub interval_seconds: u64,
    /// Status documents besides the knowledge base's; one given for a
    /// provider the knowledge base already has replaces it.
    pub sources: Vec<SourceSetting>,
    /// Networks besides public addresses the poller may reach (for a
    /// status page on a private network, and tests). Empty by default.
    pub allowed_networks: Vec<ipnet::IpNet>,
}

impl Default for StatusSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_seconds: 300,
            sources: Vec::new(),
            allowed_networks: Vec::new(),
        }
    }
}

/// One status document to poll.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSetting {
    pub provider: String,
    pub url: String,
    pub format: StatusFormat,
}

/// Shortest interval accepted: status pages are read by many.
pub const MIN_INTERVAL_SECONDS: u64 = 60;
/// How long one poll may take.
const POLL_TIMEOUT: Duration = Duration::from_secs(20);
/// How far back statements are matched to incidents.
const MATCH_WINDOW: TimeDelta = TimeDelta::days(14);

impl StatusSettings {
    /// Refuses what cannot work, naming it.
    pub fn check(&self) -> Result<(), String> {
        if self.interval_seconds < MIN_INTERVAL_SECONDS {
            return Err(format!(
                "[statuses] interval_seconds must be at least {MIN_INTERVAL_SECONDS}"
            ));
        }
        for source in &self.sources {
            if engine::ProviderId::parse(&source.provider).is_none() {
                return Err(format!(
                    "[statuses] source {:?}: not a provider id",
                    source.provider
                ));
            }
            let url = url::Url::parse(&source.url)
                .map_err(|error| format!("[statuses] source {:?}: {error}", source.url))?;
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                return Err(format!(
                    "[statuses] source {:?}: must be an http or https URL",
                    source.url
                ));
            }
            if source.format == StatusFormat::Unknown {
                return Err(format!(
                    "[statuses] source {:?}: unknown format",
                    source.url
                ));
            }
        }
        Ok(())
    }

    /// The guard polls keep to: public addresses and `allowed_networks`.
    pub fn guard(&self) -> probe::GuardPolicy {
        probe::GuardPolicy {
            allow_private: false,
            allowed_networks: self.allowed_networks.clone(),
            ..probe::GuardPolicy::default()
        }
    }
}

/// What one round found, for logs and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub polled: usize,
    pub unchanged: usize,
    pub failed: usize,
    pub new_updates: u64,
    pub matched: usize,
}

pub struct StatusPoller {
    store: store::Store,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    prober: Arc<probe::LiveProber>,
    knowledge: Option<Arc<crate::knowledge::Knowledge>>,
    settings: StatusSettings,
    limits: statements::Limits,
    metrics: Option<crate::metrics::Metrics>,
}

/// Why one poll failed.
#[derive(Debug, thiserror::Error)]
enum PollError {
    #[error("refused: {0}")]
    Refused(String),
    #[error("{0}")]
    Transport(String),
    #[error("answered {0}")]
    Status(u16),
    #[error("redirected to {0:?}; set the status URL to where it now lives")]
    Redirected(String),
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error(transparent)]
    Document(#[from] statements::StatementError),
    #[error("cannot store: {0}")]
    Store(#[from] store::StoreError),
}

impl StatusPoller {
    /// A poller reading through `prober`'s guard. `knowledge` gives the
    /// providers' status pages (none: only `settings.sources`).
    pub fn new(
        store: store::Store,
        clock: Arc<dyn Clock>,
        prober: Arc<probe::LiveProber>,
        knowledge: Option<Arc<crate::knowledge::Knowledge>>,
        settings: StatusSettings,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(crate::guarded::GuardedDns(prober.clone())))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(POLL_TIMEOUT)
            .user_agent(concat!(
                "Faultline-Status/",
                env!("CARGO_PKG_VERSION"),
                " (reads providers' status pages)"
            ))
            .build()?;
        Ok(Self {
            store,
            clock,
            http,
            prober,
            knowledge,
            settings,
            limits: statements::Limits::default(),
            metrics: None,
        })
    }

    /// Counts each round's polls on `/metrics`.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Every document to poll: the knowledge base's, then the settings'
    /// (which replace the knowledge base's for their providers).
    pub fn sources(&self) -> Vec<SourceSetting> {
        let mut sources: Vec<SourceSetting> = match &self.knowledge {
            Some(knowledge) => knowledge
                .current()
                .status_pages()
                .filter(|(id, _)| {
                    !self
                        .settings
                        .sources
                        .iter()
                        .any(|s| s.provider == id.as_str())
                })
                .map(|(id, page)| SourceSetting {
                    provider: id.as_str().to_owned(),
                    url: page.url.clone(),
                    format: page.format,
                })
                .collect(),
            None => Vec::new(),
        };
        sources.extend(self.settings.sources.iter().cloned());
        sources
    }

    /// Polls until `shutdown`, one round every interval.
    pub async fn run(self, shutdown: CancellationToken) {
        let interval = TimeDelta::seconds(
            i64::try_from(self.settings.interval_seconds.max(MIN_INTERVAL_SECONDS)).unwrap_or(300),
        );
        loop {
            let now = self.clock.now();
            let round = self.round(now).await;
            tracing::debug!(
                statuses.polled = round.polled,
                statuses.unchanged = round.unchanged,
                statuses.failed = round.failed,
                statuses.new_updates = round.new_updates,
                statuses.matched = round.matched,
                "status pages polled"
            );
            tokio::select! {
                () = self.clock.sleep_until(now + interval) => {}
                () = shutdown.cancelled() => break,
            }
        }
    }

    /// Polls every document once, then matches what is unmatched.
    pub async fn round(&self, now: DateTime<Utc>) -> Round {
        let mut round = Round::default();
        for source in self.sources() {
            round.polled += 1;
            match self.poll(&source, now).await {
                Ok(Some(new_updates)) => round.new_updates += new_updates,
                Ok(None) => round.unchanged += 1,
                Err(error) => {
                    round.failed += 1;
                    tracing::warn!(
                        provider = %source.provider,
                        statuses.url = %source.url,
                        %error,
                        "cannot read a status page; keeping what it said before"
                    );
                    let reason = error.to_string();
                    if let Err(error) = self
                        .store
                        .record_status_poll(
                            &source.url,
                            &source.provider,
                            (None, None),
                            Some(&reason),
                            now,
                        )
                        .await
                    {
                        tracing::error!(%error, "cannot record a failed status poll");
                    }
                }
            }
        }
        match self.match_statements(now).await {
            Ok(matched) => round.matched = matched,
            Err(error) => tracing::error!(%error, "cannot match statements to incidents"),
        }
        if let Some(metrics) = &self.metrics {
            let read = round.polled - round.unchanged - round.failed;
            metrics.status_round(read, round.unchanged, round.failed);
        }
        round
    }

    /// One document: `None` when unchanged since the last poll, else how
    /// many updates were new.
    async fn poll(
        &self,
        source: &SourceSetting,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, PollError> {
        let url = self.check(&source.url)?;
        let previous = self.store.status_source(&source.url).await?;
        let mut request = self.http.get(url).header(
            reqwest::header::ACCEPT,
            "application/json, application/atom+xml, application/rss+xml, application/xml;q=0.9, */*;q=0.5",
        );
        if let Some(previous) = previous
            .as_ref()
            .filter(|p| p.error.is_none() || p.ok_at.is_some())
        {
            if let Some(etag) = &previous.etag {
                request = request.header(reqwest::header::IF_NONE_MATCH, etag);
            }
            if let Some(modified) = &previous.last_modified {
                request = request.header(reqwest::header::IF_MODIFIED_SINCE, modified);
            }
        }
        let mut response = request
            .send()
            .await
            .map_err(|error| PollError::Transport(crate::guarded::describe(&error)))?;
        let status = response.status();
        let header = |name: reqwest::header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .filter(|value| value.len() <= 256)
                .map(str::to_owned)
        };
        let etag = header(reqwest::header::ETAG);
        let last_modified = header(reqwest::header::LAST_MODIFIED);
        if status == reqwest::StatusCode::NOT_MODIFIED {
            self.store
                .record_status_poll(
                    &source.url,
                    &source.provider,
                    (
                        etag.as_deref()
                            .or(previous.as_ref().and_then(|p| p.etag.as_deref())),
                        last_modified
                            .as_deref()
                            .or(previous.as_ref().and_then(|p| p.last_modified.as_deref())),
                    ),
                    None,
                    now,
                )
                .await?;
            return Ok(None);
        }
        if status.is_redirection() {
            return Err(PollError::Redirected(
                header(reqwest::header::LOCATION).unwrap_or_default(),
            ));
        }
        if !status.is_success() {
            return Err(PollError::Status(status.as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| PollError::Transport(crate::guarded::describe(&error)))?
        {
            if body.len() + chunk.len() > self.limits.max_bytes {
                return Err(PollError::TooLarge(self.limits.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        let document = statements::parse(source.format, &body, &source.url, &self.limits)?;
        let recorded = self
            .store
            .record_statements(&source.provider, &source.url, &document, now)
            .await?;
        self.store
            .record_status_poll(
                &source.url,
                &source.provider,
                (etag.as_deref(), last_modified.as_deref()),
                None,
                now,
            )
            .await?;
        if recorded.new_updates > 0 {
            tracing::info!(
                provider = %source.provider,
                statuses.new_incidents = recorded.new_incidents,
                statuses.new_updates = recorded.new_updates,
                "the provider published new statements"
            );
        }
        Ok(Some(recorded.new_updates))
    }

    /// The URL, if the guard allows it at all: http(s), no credentials,
    /// an allowed port, and an address literal only if allowed (names are
    /// checked as they resolve).
    fn check(&self, url: &str) -> Result<url::Url, PollError> {
        let parsed = url::Url::parse(url).map_err(|error| PollError::Refused(error.to_string()))?;
        let guard = self.prober.guard();
        if !matches!(parsed.scheme(), "http" | "https")
            || !parsed.username().is_empty()
            || parsed.password().is_some()
        {
            return Err(PollError::Refused(
                "only http(s) URLs without credentials".to_owned(),
            ));
        }
        let port = parsed.port_or_known_default().unwrap_or(0);
        if !guard.allows_port(port) {
            return Err(PollError::Refused(format!("port {port} is not allowed")));
        }
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
            None => return Err(PollError::Refused("no host".to_owned())),
        };
        if let Some(ip) = literal {
            guard
                .check(ip)
                .map_err(|refusal| PollError::Refused(refusal.to_string()))?;
        }
        Ok(parsed)
    }

    /// Links each unmatched statement of the last two weeks to the
    /// confirmed provider incident it describes, if there is one.
    async fn match_statements(&self, now: DateTime<Utc>) -> Result<usize, store::StoreError> {
        let since = now - MATCH_WINDOW;
        let unmatched = self.store.unmatched_statements(since).await?;
        if unmatched.is_empty() {
            return Ok(0);
        }
        let spans = self.store.provider_spans_since(since).await?;
        let measured: Vec<statements::matching::Measured<'_>> = spans
            .iter()
            .map(|span| statements::matching::Measured {
                id: span.id,
                provider: &span.provider,
                onset_at: span.onset_at,
                resolved_at: span.resolved_at,
            })
            .collect();
        let mut matched = 0;
        for statement in &unmatched {
            let stated = statements::matching::Stated {
                provider: &statement.provider,
                started_at: statement.started_at,
                acknowledged_at: statement.acknowledged_at,
                resolved_at: statement.resolved_at,
            };
            if let Some(incident) = statements::matching::best_match(&stated, &measured) {
                self.store
                    .link_statement(statement.id, incident, now)
                    .await?;
                matched += 1;
            }
        }
        Ok(matched)
    }
}
