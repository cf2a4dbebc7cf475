//! From one [`Observation`] to who generated an error and what the fault
//! is. No I/O: everything comes from the observation and the knowledge base.
//!
//! Layering (providers.md rule 8): the error is attributed to the innermost
//! layer whose *body* markers match, because only the layer that wrote the
//! page can put its template there; headers and DNS only say which layers
//! are present (a CloudFront `x-cache: Error from cloudfront` travels with a
//! page that Google wrote). Those outer layers are reported in `providers`.
//! When no body marker matches, a provider's status rules decide (an empty
//! Cloudflare 520), and failing that the status alone, with low confidence
//! and no provider: an unbranded 5xx came from the origin.

use crate::attribution::{quote, Involvement};
use crate::knowledge::{Kind, KnowledgeBase, PageMarker};
use crate::observation::{DnsFacts, Observation, MAX_BODY_BYTES};
use crate::page::PageFacts;
use crate::provider::ProviderId;
use crate::vocab::Role;
use crate::vocab::{FailureClass, Fault, FaultSide};
use serde::{Deserialize, Serialize};

/// Added to a page marker's confidence when headers or DNS show the same
/// provider.
const CORROBORATION_BONUS: f64 = 0.04;
/// Confidence of a fault read from the status code alone.
const STATUS_ONLY_CONFIDENCE: f64 = 0.3;
/// Longest matched text quoted in evidence, in characters.
const MAX_QUOTED: usize = 80;
/// A failed lookup behind a CNAME into a provider: its DNS failed.
const DNS_PROVIDER_CNAME_CONFIDENCE: f64 = 0.85;
/// A failed lookup in a zone a DNS provider hosts.
const DNS_PROVIDER_NS_CONFIDENCE: f64 = 0.6;
/// A failed lookup with no provider in sight: the site's own DNS.
const DNS_OWN_ZONE_CONFIDENCE: f64 = 0.5;

/// The classifier's answer for one observation. Serialises with the field
/// names the `classify` command prints (`file` is added by the caller).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    /// The provider that generated the error page; `None` for the origin's
    /// own pages, an unknown generator, or a successful response.
    pub provider: Option<ProviderId>,
    /// `None` for a successful response or when nothing says it is an error.
    pub fault_side: Option<FaultSide>,
    pub fault: Option<Fault>,
    pub status: Option<u16>,
    /// 0..1: how much the evidence supports `provider`/`fault_side`/`fault`.
    pub confidence: f64,
    /// The signals that decided, e.g. `body: "Error code 522"`, `status 520`.
    pub evidence: Vec<String>,
    /// Origin software that wrote the page or named itself in `Server`.
    pub server_software: Option<String>,
    /// Every provider seen (headers, DNS and the page itself), with roles.
    pub providers: Vec<Involvement>,
}

/// Classifies with the builtin knowledge base.
pub fn classify(obs: &Observation) -> Classification {
    KnowledgeBase::shared().classify(obs)
}

struct PageMatch<'a> {
    entry: usize,
    marker: &'a PageMarker,
    evidence: Vec<String>,
}

impl KnowledgeBase {
    /// Classifies one observation; see the module documentation.
    pub fn classify(&self, obs: &Observation) -> Classification {
        let attribution = self.attribute(&obs.headers, obs.dns.as_ref());
        let body = &obs.body[..obs.body.len().min(MAX_BODY_BYTES)];
        let mut c = Classification {
            provider: None,
            fault_side: None,
            fault: None,
            status: obs.status,
            confidence: 0.0,
            evidence: Vec::new(),
            server_software: attribution.server_software.clone(),
            providers: attribution.providers.clone(),
        };

        if let Some(s) = obs.status.filter(|s| (200..400).contains(s)) {
            c.confidence = 1.0;
            c.evidence.push(format!("status {s}"));
            return c;
        }

        if let Some(m) = self.match_page(body, obs.status) {
            let Some(entry) = self.entries.get(m.entry) else {
                return c;
            };
            c.fault_side = Some(m.marker.side);
            c.fault = Some(m.marker.fault);
            c.confidence = m.marker.confidence;
            c.evidence = m.evidence;
            if m.marker.fault == Fault::Unknown {
                if let Some(s) = obs.status {
                    if let Some(rule) = entry.status_rules.iter().find(|r| {
                        r.header.is_none() && r.empty_body != Some(true) && r.codes.contains(&s)
                    }) {
                        c.fault_side = Some(rule.side);
                        c.fault = Some(rule.fault);
                        c.confidence = rule.confidence.max(c.confidence * 0.9);
                        c.evidence.push(format!("status {s}"));
                    }
                }
            }
            match entry.kind {
                Kind::Provider => {
                    if let Some(seen) = attribution
                        .providers
                        .iter()
                        .find(|i| i.provider == entry.id)
                    {
                        c.confidence = (c.confidence + CORROBORATION_BONUS).min(0.99);
                        if let Some(ev) = seen.evidence.first() {
                            c.evidence.push(ev.clone());
                        }
                    } else {
                        c.providers.push(Involvement {
                            provider: entry.id.clone(),
                            role: entry.role,
                            evidence: c.evidence.clone(),
                        });
                    }
                    c.provider = Some(entry.id.clone());
                }
                Kind::Software => {
                    c.server_software = Some(entry.id.to_string());
                }
            }
            return c;
        }

        let Some(status) = obs.status.filter(|s| *s >= 400) else {
            return c;
        };
        c.evidence.push(format!("status {status}"));

        // Status rules of the providers seen, those in headers first: they
        // answered this request, DNS only says who could have.
        let mut seen = attribution.seen.clone();
        seen.sort_by_key(|s| !s.in_headers);
        let mut best: Option<(usize, &crate::knowledge::StatusRule, Option<String>)> = None;
        for s in &seen {
            let Some(entry) = self.entries.get(s.entry) else {
                continue;
            };
            for rule in &entry.status_rules {
                if !rule.codes.is_empty() && !rule.codes.contains(&status) {
                    continue;
                }
                if rule
                    .empty_body
                    .is_some_and(|want| want != body.iter().all(u8::is_ascii_whitespace))
                {
                    continue;
                }
                let header_ev = match &rule.header {
                    None => None,
                    Some((name, value)) => {
                        let hit = obs
                            .header_values(name)
                            .find(|v| value.as_ref().is_none_or(|re| re.is_match(v.trim())));
                        match hit {
                            Some(v) => Some(format!("header {name}: {}", quote(v))),
                            None => continue,
                        }
                    }
                };
                if best
                    .as_ref()
                    .is_none_or(|(_, b, _)| rule.confidence > b.confidence)
                {
                    best = Some((s.entry, rule, header_ev));
                }
            }
        }
        if let Some((index, rule, header_ev)) = best {
            if let Some(entry) = self.entries.get(index) {
                c.provider = Some(entry.id.clone());
                c.fault_side = Some(rule.side);
                c.fault = Some(rule.fault);
                c.confidence = rule.confidence;
                if let Some(ev) = header_ev {
                    c.evidence.push(ev);
                }
                if let Some(ev) = c
                    .providers
                    .iter()
                    .find(|i| i.provider == entry.id)
                    .and_then(|i| i.evidence.first())
                {
                    c.evidence.push(ev.clone());
                }
                return c;
            }
        }

        let (side, fault) = status_only(status);
        c.fault_side = Some(side);
        c.fault = Some(fault);
        c.confidence = STATUS_ONLY_CONFIDENCE;
        c.evidence.push(String::from("no known error page"));
        c
    }

    /// The best page marker matching `body`: highest priority, then the
    /// most conditions, then the first loaded.
    fn match_page<'a>(&'a self, body: &[u8], status: Option<u16>) -> Option<PageMatch<'a>> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        // Literals match ASCII case-insensitively, all found in one pass.
        let mut found = vec![false; self.literal_count];
        if let Some(ac) = &self.literals {
            for m in ac.find_overlapping_iter(body) {
                if let Some(f) = found.get_mut(m.pattern().as_usize()) {
                    *f = true;
                }
            }
        }
        let has = |id: usize| found.get(id).copied().unwrap_or(false);
        // Read lazily: most bodies match no marker that needs markup, and
        // most that do need only the title.
        let mut facts: Option<(PageFacts, bool)> = None;
        let mut best: Option<PageMatch> = None;
        for (index, e) in self.entries.iter().enumerate() {
            for marker in &e.pages {
                if let (Some(s), false) = (status, marker.status.is_empty()) {
                    if !marker.status.contains(&s) {
                        continue;
                    }
                }
                if let Some(b) = &best {
                    if (marker.priority, marker.specificity)
                        <= (b.marker.priority, b.marker.specificity)
                    {
                        continue;
                    }
                }
                if !marker.literals.iter().all(|(id, _)| has(*id)) {
                    continue;
                }
                let mut evidence: Vec<String> = marker
                    .literals
                    .iter()
                    .map(|(_, text)| format!("body: {:?}", clip(text)))
                    .collect();
                if let Some(re) = &marker.body_regex {
                    let gated_out = !marker.regex_gates.is_empty()
                        && !marker.regex_gates.iter().any(|id| has(*id));
                    if gated_out {
                        continue;
                    }
                    match re.find(body) {
                        Some(m) => evidence.push(format!(
                            "body: {:?}",
                            clip(&String::from_utf8_lossy(m.as_bytes()))
                        )),
                        None => continue,
                    }
                }
                if marker.title.is_some() || marker.element.is_some() {
                    let need_elements = marker.element.is_some();
                    if facts
                        .as_ref()
                        .is_none_or(|(_, full)| need_elements && !full)
                    {
                        facts = Some(if need_elements {
                            (PageFacts::parse_until(body, &self.element_ids), true)
                        } else {
                            (PageFacts::parse_title(body), false)
                        });
                    }
                    let Some((f, _)) = facts.as_ref() else {
                        continue;
                    };
                    if let Some(re) = &marker.title {
                        match f.title.as_deref().filter(|t| re.is_match(t)) {
                            Some(t) => evidence.push(format!("title: {:?}", clip(t))),
                            None => continue,
                        }
                    }
                    if let Some(el) = &marker.element {
                        if !f.element_has_class(&el.id, &el.class) {
                            continue;
                        }
                        evidence.push(format!("element #{}.{}", el.id, el.class));
                    }
                }
                if let (Some(s), false) = (status, marker.status.is_empty()) {
                    evidence.push(format!("status {s}"));
                }
                best = Some(PageMatch {
                    entry: index,
                    marker,
                    evidence,
                });
            }
        }
        best
    }
}

impl KnowledgeBase {
    /// Classifies a lookup that failed (`failure` is the prober's class,
    /// such as `dns_servfail`), from what DNS still told: the CNAME the
    /// site's own zone answered and the zone's name servers.
    ///
    /// A CNAME into a provider whose target then failed puts the fault in
    /// that provider's DNS (Akamai, 22 Jul 2021); a zone hosted by a DNS
    /// provider that stopped answering puts it there, with less certainty
    /// because the zone's owner may have broken it; otherwise the site's
    /// own DNS failed.
    pub fn classify_dns_failure(&self, dns: &DnsFacts, failure: FailureClass) -> Classification {
        let attribution = self.attribute(&[], Some(dns));
        let mut c = Classification {
            provider: None,
            fault_side: Some(FaultSide::Origin),
            fault: Some(Fault::DnsError),
            status: None,
            confidence: DNS_OWN_ZONE_CONFIDENCE,
            evidence: vec![format!("lookup failed: {}", clip(failure.as_str()))],
            server_software: None,
            providers: attribution.providers.clone(),
        };
        let blamed = attribution
            .providers
            .iter()
            .filter(|i| i.role != Role::Dns)
            .find(|i| i.evidence.iter().any(|e| e.starts_with("cname ")))
            .map(|i| (i, DNS_PROVIDER_CNAME_CONFIDENCE))
            .or_else(|| {
                // Only a server that answered "I failed" or stayed silent
                // implicates the zone's host; NXDOMAIN is its owner's word.
                (failure != FailureClass::DnsNxdomain)
                    .then(|| attribution.providers.iter().find(|i| i.role == Role::Dns))
                    .flatten()
                    .map(|i| (i, DNS_PROVIDER_NS_CONFIDENCE))
            });
        if let Some((involvement, confidence)) = blamed {
            c.provider = Some(involvement.provider.clone());
            c.fault_side = Some(FaultSide::Edge);
            c.confidence = confidence;
            c.evidence.extend(involvement.evidence.iter().cloned());
        } else {
            c.evidence
                .push(String::from("no provider in the CNAME chain or NS"));
        }
        c
    }
}

/// What a status says when nothing else does.
fn status_only(status: u16) -> (FaultSide, Fault) {
    match status {
        429 => (FaultSide::Policy, Fault::RateLimited),
        401 | 403 | 451 => (FaultSide::Policy, Fault::Blocked),
        404 | 410 => (FaultSide::Origin, Fault::NotFound),
        504 => (FaultSide::Origin, Fault::OriginTimeout),
        500..=599 => (FaultSide::Origin, Fault::OriginError),
        _ => (FaultSide::Unknown, Fault::Unknown),
    }
}

fn clip(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() <= MAX_QUOTED {
        s
    } else {
        let mut out: String = s.chars().take(MAX_QUOTED).collect();
        out.push('…');
        out
    }
}
