//! The live prober: one probe of one URL over the network.
//!
//! DNS goes through hickory (configurable name servers, so tests and the
//! synthetic internet can point it at a loopback server). Each answer is
//! checked by the SSRF guard, and `fetch` connects only to the addresses
//! that passed: there is no second lookup a rebinding DNS server could
//! change. IP-literal URLs never reach a resolver, so they are checked
//! before the request and on every redirect. Redirects are followed here,
//! each hop checked and resolved like the first, at most `max_redirects`.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use engine::FailureClass;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;
use serde::{Deserialize, Serialize};

use crate::fetch;
use crate::guard::GuardPolicy;
use crate::resolver::{GuardedResolver, Upstream};
use crate::{
    bounded, elapsed_ms, gzip, ms_between, Builtin, KnowledgeSource, Outcome, Probe, Serving,
    StepFailure,
};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProberConfig {
    /// Independent recursive resolvers as `ip:port`, asked in this order:
    /// when one fails and another answers, the probe goes on and the
    /// failing one is reported. Empty: the system's resolver configuration.
    pub nameservers: Vec<SocketAddr>,
    pub dns_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    pub total_timeout_ms: u64,
    pub max_redirects: usize,
    /// Bytes of an error page kept as evidence.
    pub max_body_bytes: usize,
    pub guard: GuardPolicy,
    pub user_agent: String,
    /// Extra trusted root certificates (PEM), added to the built-in roots:
    /// for internal sites signed by a private CA.
    pub ca_file: Option<std::path::PathBuf>,
    /// The local address probes and their DNS queries leave from, on a
    /// machine with several networks. None: the system's choice.
    pub source_address: Option<std::net::IpAddr>,
}

impl Default for ProberConfig {
    fn default() -> Self {
        Self {
            nameservers: Vec::new(),
            dns_timeout_ms: 5_000,
            connect_timeout_ms: 5_000,
            total_timeout_ms: 20_000,
            max_redirects: 5,
            max_body_bytes: 256 * 1024,
            guard: GuardPolicy::default(),
            user_agent: format!(
                "Faultline/{} (outage monitor; +https://github.com/faultline-radar/faultline)",
                env!("CARGO_PKG_VERSION")
            ),
            ca_file: None,
            source_address: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProberError {
    #[error("cannot configure the DNS resolver: {0}")]
    Resolver(String),
    #[error("the user agent is not a valid header value: {0}")]
    UserAgent(String),
    #[error("cannot read the CA file {path}: {reason}")]
    CaFile {
        path: std::path::PathBuf,
        reason: String,
    },
}

#[derive(Clone)]
pub struct LiveProber {
    fetcher: Arc<fetch::Fetcher>,
    resolver: Arc<GuardedResolver>,
    config: Arc<ProberConfig>,
    knowledge: Arc<dyn KnowledgeSource>,
}

impl LiveProber {
    pub fn new(config: ProberConfig) -> Result<Self, ProberError> {
        // Each configured name server is an independent resolver, asked in
        // turn; none: the system's configuration, as one.
        // Queries leave from the source address too, when one is set.
        let bind = |server: &mut NameServerConfig| {
            if let Some(source) = config.source_address {
                for connection in &mut server.connections {
                    connection.bind_addr = Some(SocketAddr::new(source, 0));
                }
            }
        };
        let configs: Vec<(ResolverConfig, String)> = if config.nameservers.is_empty() {
            let (system, _) = hickory_resolver::system_conf::read_system_conf()
                .map_err(|e| ProberError::Resolver(e.to_string()))?;
            let system = if config.source_address.is_some() {
                let servers = system
                    .name_servers()
                    .iter()
                    .cloned()
                    .map(|mut server| {
                        bind(&mut server);
                        server
                    })
                    .collect();
                ResolverConfig::from_name_servers(servers)
            } else {
                system
            };
            vec![(system, "system".to_owned())]
        } else {
            config
                .nameservers
                .iter()
                .map(|addr| {
                    let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                    for connection in &mut server.connections {
                        connection.port = addr.port();
                    }
                    bind(&mut server);
                    (
                        ResolverConfig::from_name_servers(vec![server]),
                        addr.to_string(),
                    )
                })
                .collect()
        };
        let mut upstreams = Vec::new();
        for (resolver_config, label) in configs {
            let mut builder = TokioResolver::builder_with_config(
                resolver_config,
                TokioRuntimeProvider::default(),
            );
            let options = builder.options_mut();
            options.timeout = Duration::from_millis(config.dns_timeout_ms);
            options.attempts = 1;
            // One A query when the site has IPv4 (nearly all do); AAAA only if not.
            options.ip_strategy = hickory_resolver::config::LookupIpStrategy::Ipv4thenIpv6;
            let dns = builder
                .build()
                .map_err(|e| ProberError::Resolver(e.to_string()))?;
            upstreams.push(Upstream::new(dns, label));
        }
        let resolver = GuardedResolver {
            upstreams,
            last_lookup: Mutex::default(),
            guard: config.guard.clone(),
            timeout: Duration::from_millis(config.dns_timeout_ms),
            name_servers: Mutex::default(),
        };
        let extra_roots = match &config.ca_file {
            Some(path) => read_certificates(path)?,
            None => Vec::new(),
        };
        let tls = fetch::tls_config(&extra_roots).map_err(|error| ProberError::CaFile {
            path: config.ca_file.clone().unwrap_or_default(),
            reason: error.to_string(),
        })?;
        let user_agent = hyper::header::HeaderValue::from_str(&config.user_agent)
            .map_err(|e| ProberError::UserAgent(e.to_string()))?;
        let fetcher = fetch::Fetcher::new(
            tls,
            user_agent,
            Duration::from_millis(config.connect_timeout_ms),
            config.max_body_bytes,
            config.source_address,
        );
        Ok(Self {
            fetcher: Arc::new(fetcher),
            resolver: Arc::new(resolver),
            config: Arc::new(config),
            knowledge: Arc::new(Builtin),
        })
    }

    /// Classifies with `knowledge` (an operator's overrides) instead of
    /// the builtin provider set.
    pub fn with_knowledge(mut self, knowledge: Arc<dyn KnowledgeSource>) -> Self {
        self.knowledge = knowledge;
        self
    }

    /// The addresses `host` resolves to that the guard allows, through the
    /// prober's own resolver: for other clients that must connect only
    /// where the guard says (alert deliveries). An error says why none.
    pub async fn allowed_addresses(&self, host: &str) -> Result<Vec<std::net::IpAddr>, String> {
        let total = Duration::from_millis(self.config.total_timeout_ms);
        // Deliveries run outside the probes' clock: the wall clock keeps
        // their resolvers' set-aside times.
        let now = Utc::now();
        match tokio::time::timeout(total, self.resolver.resolve(host, now)).await {
            Ok(Ok((_, allowed))) => Ok(allowed),
            Ok(Err(failure)) => Err(failure.detail),
            Err(_) => Err(format!("no DNS answer within {} ms", total.as_millis())),
        }
    }

    /// The SSRF policy this prober applies.
    pub fn guard(&self) -> &GuardPolicy {
        &self.config.guard
    }

    /// Probes `url`; every failure is described in the outcome.
    pub async fn probe_url(&self, url: &str, now: DateTime<Utc>) -> Outcome {
        let mut outcome = Outcome {
            started_at: now,
            ..Outcome::default()
        };
        let started = Instant::now();
        let mut facts = serde_json::Map::new();
        let finished = self.run(url, &mut outcome, &mut facts, started).await;
        outcome.total_ms = Some(elapsed_ms(started));
        if let Err(failure) = finished {
            outcome.ok = false;
            outcome.failure = Some(failure.class);
            outcome.detail = Some(bounded(&failure.detail));
        }
        outcome.facts = serde_json::to_string(&facts).ok();
        // The host only: a watched URL may carry credentials. At debug
        // level, so the probe path pays nothing for it in production.
        if tracing::enabled!(tracing::Level::DEBUG) {
            let host = url::Url::parse(url)
                .ok()
                .and_then(|parsed| parsed.host_str().map(str::to_owned));
            tracing::debug!(
                probe.host = host.as_deref().unwrap_or_default(),
                probe.status = outcome.status,
                probe.failure = outcome.failure.map(FailureClass::as_str),
                probe.total_ms = outcome.total_ms,
                "probed"
            );
        }
        outcome
    }

    async fn run(
        &self,
        url: &str,
        record: &mut Outcome,
        facts: &mut serde_json::Map<String, serde_json::Value>,
        started: Instant,
    ) -> Result<(), StepFailure> {
        let mut parsed = url::Url::parse(url).map_err(|e| StepFailure {
            class: FailureClass::InvalidUrl,
            detail: format!("{url}: {e}"),
        })?;
        let authorization = fetch::take_credentials(&mut parsed);
        // One budget for the whole probe: name lookups spend from it too, so
        // a slow resolver cannot stretch a probe past its total.
        let total = Duration::from_millis(self.config.total_timeout_ms);
        let deadline = tokio::time::Instant::from_std(started) + total;
        let out_of_time = || StepFailure {
            class: FailureClass::DnsTimeout,
            detail: format!("no DNS answer within the probe's {} ms", total.as_millis()),
        };
        let mut dns_facts = None;
        let now = record.started_at;
        let addresses = match (check_url(&parsed, &self.config.guard)?, parsed.host()) {
            (Some(ip), _) => vec![ip],
            (None, Some(url::Host::Domain(host))) => {
                let dns_started = Instant::now();
                let result = tokio::time::timeout_at(deadline, self.resolver.resolve(host, now))
                    .await
                    .unwrap_or_else(|_| Err(out_of_time()));
                record.dns_ms = Some(elapsed_ms(dns_started));
                record.resolvers_failing = Some(self.resolver.failing(now));
                let (mut dns, allowed) = match result {
                    Ok(answer) => answer,
                    Err(failure) => {
                        // A silent resolver says nothing about zones: only an
                        // answered failure is worth more questions.
                        if failure.class.is_dns() && failure.class != FailureClass::DnsTimeout {
                            let (cname, ns) = tokio::time::timeout_at(deadline, async {
                                tokio::join!(
                                    self.resolver.cname_of(host),
                                    self.resolver.ns_of(host)
                                )
                            })
                            .await
                            .unwrap_or_default();
                            let facts_now = engine::DnsFacts {
                                cname,
                                addresses: Vec::new(),
                                ns,
                            };
                            facts.insert(
                                "dns".to_owned(),
                                serde_json::to_value(&facts_now).unwrap_or_default(),
                            );
                            let verdict = self
                                .knowledge
                                .current()
                                .classify_dns_failure(&facts_now, failure.class);
                            apply_classification(record, &verdict);
                        }
                        return Err(failure);
                    }
                };
                dns.ns = tokio::time::timeout_at(deadline, self.resolver.ns_of(host))
                    .await
                    .unwrap_or_default();
                facts.insert(
                    "dns".to_owned(),
                    serde_json::to_value(&dns).unwrap_or_default(),
                );
                // Attribution from DNS alone stands even if the request then fails.
                let attribution = self
                    .knowledge
                    .current()
                    .attribute(&[], Some(&dns.to_engine()));
                record.providers = providers_of(&attribution.providers);
                dns_facts = Some(dns.to_engine());
                allowed
            }
            (None, _) => {
                return Err(StepFailure {
                    class: FailureClass::InvalidUrl,
                    detail: "the URL has no host".to_owned(),
                })
            }
        };
        let mut phases = fetch::Phases::default();
        let following = self.follow(parsed, addresses, authorization, &mut phases, now);
        let answer = tokio::time::timeout_at(deadline, following).await;
        // Only the first connection is timed; redirects count in the
        // first-byte and total times.
        record.connect_ms = phases.connect_ms;
        record.tls_ms = phases.tls_ms;
        let (final_url, answer) = answer.map_err(|_| StepFailure {
            class: FailureClass::ReadTimeout,
            detail: format!("no complete answer within {} ms", total.as_millis()),
        })??;
        record.ttfb_ms = Some(ms_between(started, answer.head_at));
        let status = answer.status.as_u16();
        record.status = Some(status);
        record.remote_ip = Some(answer.remote.ip());
        facts.insert("final_url".to_owned(), final_url.as_str().into());
        if let Some(certificate) = answer.certificate.as_deref().and_then(describe_certificate) {
            facts.insert("tls".to_owned(), certificate);
        }
        let headers: Vec<(String, String)> = answer
            .headers
            .iter()
            .take(64)
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    bounded(&String::from_utf8_lossy(value.as_bytes())),
                )
            })
            .collect();
        let is_error = status >= 400;
        let body = answer.body;
        let observation = engine::Observation {
            status: Some(status),
            headers,
            // Success is decided by the status; only an error page is read.
            body: match &body {
                Ok((bytes, _)) if is_error => bytes.clone(),
                _ => Vec::new(),
            },
            dns: dns_facts,
        };
        let verdict = self.knowledge.current().classify(&observation);
        let headers = observation.headers;
        apply_classification(record, &verdict);
        record.ok = !is_error;
        if is_error {
            facts.insert(
                "headers".to_owned(),
                serde_json::to_value(&headers).unwrap_or_default(),
            );
            match body {
                Ok((bytes, truncated)) => {
                    record.body_gz = gzip(&bytes);
                    facts.insert("body_truncated".to_owned(), truncated.into());
                }
                Err(failure) => facts
                    .insert("body_error".to_owned(), failure.detail.into())
                    .map_or((), |_| ()),
            }
            return Err(StepFailure {
                class: FailureClass::HttpStatus,
                detail: format!("HTTP {status}"),
            });
        }
        body.map(|_| ())
    }

    /// Requests `url` from `addresses`, then follows redirects: each hop
    /// is checked like the first (scheme, IP literal, or a name resolved
    /// and checked now), at most `max_redirects`, never back to a page
    /// already seen. Returns the final URL and its answer.
    async fn follow(
        &self,
        mut url: url::Url,
        mut addresses: Vec<IpAddr>,
        mut authorization: Option<hyper::header::HeaderValue>,
        phases: &mut fetch::Phases,
        now: DateTime<Utc>,
    ) -> Result<(url::Url, fetch::Answer), StepFailure> {
        let max_redirects = self.config.max_redirects;
        let mut later = fetch::Phases::default();
        let mut visited: Vec<url::Url> = Vec::new();
        loop {
            let timed = if visited.is_empty() {
                &mut *phases
            } else {
                &mut later
            };
            let answer = self
                .fetcher
                .get(
                    &url,
                    &addresses,
                    visited.last(),
                    authorization.as_ref(),
                    timed,
                )
                .await?;
            let Some(mut next) = answer.location.clone() else {
                return Ok((url, answer));
            };
            // Credentials go no further than the host they were given for,
            // and none are taken from a redirect.
            if !fetch::same_origin_host(&url, &next) {
                authorization = None;
            }
            let _ = fetch::take_credentials(&mut next);
            visited.push(url);
            if visited.len() > max_redirects {
                return Err(StepFailure {
                    class: FailureClass::TooManyRedirects,
                    detail: format!("more than {max_redirects} redirects"),
                });
            }
            if visited.contains(&next) {
                return Err(StepFailure {
                    class: FailureClass::RedirectLoop,
                    detail: format!("redirected back to {next}"),
                });
            }
            addresses = match (check_url(&next, &self.config.guard)?, next.host()) {
                (Some(ip), _) => vec![ip],
                (None, Some(url::Host::Domain(host))) => self.resolver.resolve(host, now).await?.1,
                (None, _) => {
                    return Err(StepFailure {
                        class: FailureClass::InvalidUrl,
                        detail: format!("{next} has no host"),
                    })
                }
            };
            url = next;
        }
    }
}

/// Copies the classifier's answer into the outcome.
fn apply_classification(outcome: &mut Outcome, verdict: &engine::Classification) {
    outcome.providers = providers_of(&verdict.providers);
    outcome.provider = verdict.provider.as_ref().map(ToString::to_string);
    outcome.fault_side = verdict.fault_side;
    outcome.fault = verdict.fault;
    let is_error = verdict.fault.is_some();
    outcome.confidence = is_error.then_some(verdict.confidence);
    outcome.evidence = if is_error {
        verdict.evidence.clone()
    } else {
        Vec::new()
    };
}

fn providers_of(involved: &[engine::Involvement]) -> Vec<Serving> {
    involved
        .iter()
        .map(|i| Serving {
            provider: i.provider.to_string(),
            role: i.role,
            evidence: i.evidence.clone(),
        })
        .collect()
}

impl Probe for LiveProber {
    fn probe<'a>(
        &'a self,
        url: &'a str,
        now: DateTime<Utc>,
    ) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> {
        Box::pin(self.probe_url(url, now))
    }
}

fn read_certificates(
    path: &std::path::Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, ProberError> {
    use rustls::pki_types::pem::PemObject;
    use std::io::Read;
    let failed = |reason: String| ProberError::CaFile {
        path: path.to_path_buf(),
        reason,
    };
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(1024 * 1024 + 1).read_to_end(&mut pem))
        .map_err(|e| failed(e.to_string()))?;
    if pem.len() > 1024 * 1024 {
        return Err(failed("larger than 1 MiB".to_owned()));
    }
    let certificates = rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| failed(format!("{e:?}")))?;
    if certificates.is_empty() {
        return Err(failed("no PEM certificate in it".to_owned()));
    }
    Ok(certificates)
}

/// Refuses non-http(s) URLs and IP literals the guard does not allow;
/// returns an IP literal that passed, `None` for a name.
fn check_url(url: &url::Url, guard: &GuardPolicy) -> Result<Option<IpAddr>, StepFailure> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(StepFailure {
            class: FailureClass::BlockedTarget,
            detail: format!("scheme {} is not probed", url.scheme()),
        });
    }
    if let Some(port) = url
        .port_or_known_default()
        .filter(|p| !guard.allows_port(*p))
    {
        return Err(StepFailure {
            class: FailureClass::BlockedTarget,
            detail: format!("port {port} is not probed"),
        });
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(url::Host::Domain(_)) => return Ok(None),
        None => {
            return Err(StepFailure {
                class: FailureClass::InvalidUrl,
                detail: "the URL has no host".to_owned(),
            })
        }
    };
    guard
        .check(ip)
        .map(|()| Some(ip))
        .map_err(|refusal| StepFailure {
            class: FailureClass::BlockedTarget,
            detail: format!("{ip} is {refusal}"),
        })
}

fn describe_certificate(der: &[u8]) -> Option<serde_json::Value> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(serde_json::json!({
        "issuer": certificate.issuer().to_string(),
        "subject": certificate.subject().to_string(),
        "not_after": certificate.validity().not_after.to_datetime().unix_timestamp(),
    }))
}
