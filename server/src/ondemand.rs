//! The prober behind the "check it now" button for sites not on the
//! watchlist: the live prober, its SSRF guard and the knowledge base in
//! force, answering in the app's terms.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use app::ondemand::{OnDemandProber, OnDemandResult};

use crate::knowledge::Knowledge;
use probe::LiveProber;

pub struct LiveCheck {
    prober: LiveProber,
    knowledge: Arc<Knowledge>,
    /// Scheme and port a checked host is asked on: `https` and its
    /// default, unless an internal deployment says otherwise.
    scheme: &'static str,
    port: Option<u16>,
    metrics: Option<crate::metrics::Metrics>,
}

impl LiveCheck {
    pub fn new(prober: LiveProber, knowledge: Arc<Knowledge>) -> Self {
        Self {
            prober,
            knowledge,
            scheme: "https",
            port: None,
            metrics: None,
        }
    }

    /// Counts checks by outcome in `metrics`.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Asks checked hosts over plain HTTP on `port` (internal networks and
    /// the loopback test fleet).
    pub fn over_http_on(mut self, port: u16) -> Self {
        self.scheme = "http";
        self.port = Some(port);
        self
    }
}

impl OnDemandProber for LiveCheck {
    fn check<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = OnDemandResult> + Send + 'a>> {
        Box::pin(async move {
            let url = match self.port {
                Some(port) => format!("{}://{host}:{port}/", self.scheme),
                None => format!("{}://{host}/", self.scheme),
            };
            let record = self.prober.probe_url(&url, chrono::Utc::now()).await;
            // The detail names addresses and ports: for the log, not for
            // a stranger's page.
            if let Some(detail) = &record.detail {
                tracing::debug!(check.host = host, check.detail = %detail, "check now");
            }
            if let Some(metrics) = &self.metrics {
                metrics.on_demand(if record.ok { "up" } else { "down" });
            }
            let knowledge = self.knowledge.current();
            let name = |id: &str| knowledge.name_of(id).unwrap_or(id).to_owned();
            let explanation = record.fault.as_ref().map(|_| {
                let classification = engine::Classification {
                    provider: record
                        .provider
                        .as_deref()
                        .and_then(engine::ProviderId::parse),
                    fault_side: record.fault_side,
                    fault: record.fault,
                    status: record.status,
                    confidence: record.confidence.unwrap_or_default(),
                    evidence: Vec::new(),
                    server_software: None,
                    providers: Vec::new(),
                };
                knowledge.explain(&classification)
            });
            OnDemandResult {
                host: host.to_owned(),
                url,
                ok: record.ok,
                status: record.status,
                failure: record.failure,
                detail: None,
                explanation,
                dns_ms: record.dns_ms,
                ttfb_ms: record.ttfb_ms,
                total_ms: record.total_ms,
                providers: record
                    .providers
                    .iter()
                    .map(|serving| format!("{} ({})", name(&serving.provider), serving.role))
                    .collect(),
            }
        })
    }
}
