//! DNS through hickory, filtered by the SSRF guard: a lookup returns only
//! the addresses the guard allows, the ones the probe then connects to, so
//! there is no second lookup a rebinding DNS server could change. The
//! zone's name servers are cached per host for an hour, for attribution.
//!
//! Several independent resolvers can be configured: our own resolver is not
//! the internet's DNS, and can fail alone (as 1.1.1.1 did on 14 July 2025).
//! A lookup goes to the first resolver not known to be failing; when one
//! fails and another answers, the failing one is set aside for a while and
//! reported, and the probe goes on with the answer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use engine::FailureClass;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;
use serde::{Deserialize, Serialize};

use crate::guard::GuardPolicy;
use crate::{bounded, StepFailure};

/// What DNS said about a host, kept as evidence with failures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DnsFacts {
    pub cname: Vec<String>,
    pub addresses: Vec<IpAddr>,
    /// Name servers of the site's zone, from a cached NS lookup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ns: Vec<String>,
    pub resolver: String,
}

impl DnsFacts {
    /// What the classifier reads of it.
    pub(crate) fn to_engine(&self) -> engine::DnsFacts {
        engine::DnsFacts {
            cname: self.cname.clone(),
            addresses: self.addresses.clone(),
            ns: self.ns.clone(),
        }
    }
}

/// One independent recursive resolver.
pub(crate) struct Upstream {
    pub(crate) dns: TokioResolver,
    pub(crate) label: Arc<str>,
    /// Failed while another answered: asked last until then (on the
    /// probes' clock, so a simulation's virtual time holds too).
    pub(crate) set_aside_until: Mutex<Option<DateTime<Utc>>>,
}

impl Upstream {
    pub(crate) fn new(dns: TokioResolver, label: String) -> Self {
        Self {
            dns,
            label: Arc::from(label),
            set_aside_until: Mutex::new(None),
        }
    }

    fn set_aside(&self, now: DateTime<Utc>) -> bool {
        self.set_aside_until
            .lock()
            .ok()
            .and_then(|until| *until)
            .is_some_and(|until| until > now)
    }
}

/// How long a resolver that failed while another answered is asked last;
/// then one lookup tries it first again.
const SET_ASIDE: TimeDelta = TimeDelta::seconds(30);

/// Resolves through hickory and returns only the addresses the guard
/// allowed, the ones the probe then connects to.
pub(crate) struct GuardedResolver {
    /// Independent resolvers, in the order of preference.
    pub(crate) upstreams: Vec<Upstream>,
    /// The probe time of the latest lookup.
    pub(crate) last_lookup: Mutex<Option<DateTime<Utc>>>,
    pub(crate) guard: GuardPolicy,
    pub(crate) timeout: Duration,
    /// Name servers per site host, so the zone is asked once an hour, not
    /// on every probe.
    pub(crate) name_servers: Mutex<NameServers>,
}

/// Site host to when its zone's name servers were read, and what they were.
pub(crate) type NameServers = HashMap<String, (Instant, Vec<String>)>;

/// How long a zone's name servers are trusted before they are asked again.
const NS_FOR: Duration = Duration::from_secs(3600);
/// How soon a zone whose NS could not be read is asked again.
const NS_RETRY: Duration = Duration::from_secs(300);
/// Most site hosts whose name servers are remembered.
const NS_CACHE_MAX: usize = 200_000;

impl GuardedResolver {
    /// The resolvers in the order to ask them: those not set aside first.
    fn order(&self, now: DateTime<Utc>) -> Vec<&Upstream> {
        let (aside, ready): (Vec<&Upstream>, Vec<&Upstream>) = self
            .upstreams
            .iter()
            .partition(|upstream| upstream.set_aside(now));
        ready.into_iter().chain(aside).collect()
    }

    /// The resolver to ask for facts around a lookup (CNAME, NS): the
    /// first not set aside at the last lookup.
    fn first(&self) -> Option<&TokioResolver> {
        let now = self
            .last_lookup
            .lock()
            .ok()
            .and_then(|at| *at)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        self.order(now).first().map(|upstream| &upstream.dns)
    }

    /// The resolvers set aside at `now`, having failed while another
    /// answered.
    pub(crate) fn failing(&self, now: DateTime<Utc>) -> Vec<String> {
        self.upstreams
            .iter()
            .filter(|upstream| upstream.set_aside(now))
            .map(|upstream| upstream.label.to_string())
            .collect()
    }

    /// After a failed lookup: where the site's own zone points (its CNAME),
    /// to tell a failure in the site's zone from one in a provider's.
    pub(crate) async fn cname_of(&self, host: &str) -> Vec<String> {
        let fqdn = if host.ends_with('.') {
            host.to_owned()
        } else {
            format!("{host}.")
        };
        let Some(dns) = self.first() else {
            return Vec::new();
        };
        let lookup = tokio::time::timeout(
            self.timeout,
            dns.lookup(
                fqdn.as_str(),
                hickory_resolver::proto::rr::RecordType::CNAME,
            ),
        )
        .await;
        let Ok(Ok(lookup)) = lookup else {
            return Vec::new();
        };
        lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::CNAME(target) => Some(target.0.to_ascii().trim_end_matches('.').to_owned()),
                _ => None,
            })
            .collect()
    }

    /// The name servers of the zone `host` lives in: the NS records of the
    /// host or of its nearest parent that has them (the registrable domain
    /// at the latest). Cached; a failed refresh keeps the last answer,
    /// because a zone whose servers fail is exactly when its NS matter.
    pub(crate) async fn ns_of(&self, host: &str) -> Vec<String> {
        let host = key(host);
        let cached = self
            .name_servers
            .lock()
            .ok()
            .and_then(|cache| cache.get(&host).cloned());
        if let Some((at, servers)) = &cached {
            let fresh_for = if servers.is_empty() { NS_RETRY } else { NS_FOR };
            if at.elapsed() < fresh_for {
                return servers.clone();
            }
        }
        let mut found = Vec::new();
        let labels: Vec<&str> = host.split('.').collect();
        // Never above a two-label name: a TLD's servers say nothing about the site.
        for start in 0..labels.len().saturating_sub(1).min(3) {
            let zone = labels[start..].join(".");
            found = self.ns_records(&zone).await;
            if !found.is_empty() {
                break;
            }
        }
        let servers = if found.is_empty() {
            cached.map(|(_, servers)| servers).unwrap_or_default()
        } else {
            found
        };
        if let Ok(mut cache) = self.name_servers.lock() {
            if cache.len() >= NS_CACHE_MAX {
                cache.clear();
            }
            cache.insert(host, (Instant::now(), servers.clone()));
        }
        servers
    }

    /// NS records owned by `zone` itself (not by a CNAME target).
    async fn ns_records(&self, zone: &str) -> Vec<String> {
        let fqdn = format!("{zone}.");
        let Some(dns) = self.first() else {
            return Vec::new();
        };
        let lookup = tokio::time::timeout(
            self.timeout,
            dns.lookup(fqdn.as_str(), hickory_resolver::proto::rr::RecordType::NS),
        )
        .await;
        let Ok(Ok(lookup)) = lookup else {
            return Vec::new();
        };
        lookup
            .answers()
            .iter()
            .filter(|record| key(&record.name.to_ascii()) == zone)
            .filter_map(|record| match &record.data {
                RData::NS(server) => Some(key(&server.0.to_ascii())),
                _ => None,
            })
            .take(16)
            .collect()
    }

    /// Resolves `host`: what DNS said, and the addresses the guard allows.
    /// Asks the next resolver when one fails without an answer (silence,
    /// SERVFAIL, a refusal); a name that does not exist is an answer. A
    /// resolver that failed where another then answered is set aside.
    pub(crate) async fn resolve(
        &self,
        host: &str,
        now: DateTime<Utc>,
    ) -> Result<(DnsFacts, Vec<IpAddr>), StepFailure> {
        if let Ok(mut last) = self.last_lookup.lock() {
            *last = Some(now);
        }
        let mut failed: Vec<&Upstream> = Vec::new();
        let mut last = None;
        for upstream in self.order(now) {
            match self.resolve_with(upstream, host).await {
                Err(failure) if failure.class != FailureClass::DnsNxdomain => {
                    failed.push(upstream);
                    last = Some(failure);
                }
                answered => {
                    let until = now + SET_ASIDE;
                    for upstream in &failed {
                        if let Ok(mut aside) = upstream.set_aside_until.lock() {
                            *aside = Some(until);
                        }
                    }
                    return answered;
                }
            }
        }
        Err(last.unwrap_or_else(|| StepFailure {
            class: FailureClass::DnsError,
            detail: "no resolver is configured".to_owned(),
        }))
    }

    async fn resolve_with(
        &self,
        upstream: &Upstream,
        host: &str,
    ) -> Result<(DnsFacts, Vec<IpAddr>), StepFailure> {
        let fqdn = if host.ends_with('.') {
            host.to_owned()
        } else {
            format!("{host}.")
        };
        let lookup = tokio::time::timeout(self.timeout, upstream.dns.lookup_ip(fqdn.as_str()))
            .await
            .map_err(|_| StepFailure {
                class: FailureClass::DnsTimeout,
                detail: format!(
                    "no answer for {host} within {} ms",
                    self.timeout.as_millis()
                ),
            })?
            .map_err(|error| classify_dns_error(host, &error))?;
        let mut facts = DnsFacts {
            resolver: upstream.label.to_string(),
            ..DnsFacts::default()
        };
        for record in lookup.as_lookup().answers() {
            if let RData::CNAME(target) = &record.data {
                facts
                    .cname
                    .push(target.0.to_ascii().trim_end_matches('.').to_owned());
            }
        }
        facts.addresses = lookup.iter().collect();
        if facts.addresses.is_empty() {
            return Err(StepFailure {
                class: FailureClass::DnsNxdomain,
                detail: format!("{host} has no A or AAAA records"),
            });
        }
        let allowed: Vec<IpAddr> = facts
            .addresses
            .iter()
            .copied()
            .filter(|ip| self.guard.check(*ip).is_ok())
            .collect();
        if allowed.is_empty() {
            let reason = facts
                .addresses
                .iter()
                .find_map(|ip| self.guard.check(*ip).err().map(|r| format!("{ip} is {r}")))
                .unwrap_or_default();
            return Err(StepFailure {
                class: FailureClass::BlockedTarget,
                detail: format!("{host} resolves only to refused addresses: {reason}"),
            });
        }
        Ok((facts, allowed))
    }
}

fn key(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

fn classify_dns_error(host: &str, error: &hickory_resolver::net::NetError) -> StepFailure {
    use hickory_resolver::net::{DnsError, NetError};
    use hickory_resolver::proto::op::ResponseCode;
    let class = match error {
        _ if error.is_nx_domain() => FailureClass::DnsNxdomain,
        NetError::Dns(DnsError::NoRecordsFound(_)) => FailureClass::DnsNxdomain,
        NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail)) => FailureClass::DnsServfail,
        NetError::Timeout => FailureClass::DnsTimeout,
        _ => {
            let text = error.to_string().to_ascii_lowercase();
            if text.contains("servfail") || text.contains("server failure") {
                FailureClass::DnsServfail
            } else if text.contains("timed out") || text.contains("timeout") {
                FailureClass::DnsTimeout
            } else {
                FailureClass::DnsError
            }
        }
    };
    StepFailure {
        class,
        detail: bounded(&format!("{host}: {error}")),
    }
}
