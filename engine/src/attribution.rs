//! Which providers serve a site, from what any probe has: response headers
//! and DNS facts. Used on every probe, successful or not; the classifier
//! builds on it to report the outer layers of an error.

use crate::knowledge::{Entry, Kind, KnowledgeBase};
use crate::observation::DnsFacts;
use crate::provider::ProviderId;
use crate::vocab::Role;
use serde::{Deserialize, Serialize};

/// Longest header value quoted in evidence, in characters.
const MAX_QUOTED: usize = 80;

/// One provider in one role, with the signals that showed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Involvement {
    pub provider: ProviderId,
    pub role: Role,
    /// e.g. `header cf-ray`, `cname suffix .cdn.cloudflare.net`,
    /// `ip 104.16.0.0/13`, `ns suffix .ns.cloudflare.com`.
    pub evidence: Vec<String>,
}

/// Every provider seen, and the origin software named by the headers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    /// In the order first seen: headers, then CNAME chain, addresses, NS.
    pub providers: Vec<Involvement>,
    /// Origin software named by `Server` or its own headers (`nginx`,
    /// `envoy`...), which is never a provider.
    pub server_software: Option<String>,
    #[serde(skip)]
    pub(crate) seen: Vec<Seen>,
}

/// Which knowledge-base entry was seen and how, for the classifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Seen {
    pub entry: usize,
    pub in_headers: bool,
}

impl Attribution {
    /// Whether `id` was seen in any role.
    pub fn has(&self, id: &str) -> bool {
        self.providers.iter().any(|i| i.provider.as_str() == id)
    }

    /// The roles in which `id` was seen.
    pub fn roles_of<'a>(&'a self, id: &'a str) -> impl Iterator<Item = Role> + 'a {
        self.providers
            .iter()
            .filter(move |i| i.provider.as_str() == id)
            .map(|i| i.role)
    }

    pub(crate) fn add(
        &mut self,
        entry: usize,
        e: &Entry,
        role: Role,
        evidence: String,
        in_headers: bool,
    ) {
        match self
            .providers
            .iter_mut()
            .find(|i| i.provider == e.id && i.role == role)
        {
            Some(i) => {
                if !i.evidence.contains(&evidence) {
                    i.evidence.push(evidence);
                }
            }
            None => self.providers.push(Involvement {
                provider: e.id.clone(),
                role,
                evidence: vec![evidence],
            }),
        }
        match self.seen.iter_mut().find(|s| s.entry == entry) {
            Some(s) => s.in_headers |= in_headers,
            None => self.seen.push(Seen { entry, in_headers }),
        }
    }
}

/// Attributes with the builtin knowledge base; see
/// [`KnowledgeBase::attribute`].
pub fn attribute(headers: &[(String, String)], dns: Option<&DnsFacts>) -> Attribution {
    KnowledgeBase::shared().attribute(headers, dns)
}

impl KnowledgeBase {
    /// Providers serving a site according to its response headers and DNS.
    pub fn attribute(&self, headers: &[(String, String)], dns: Option<&DnsFacts>) -> Attribution {
        let mut a = Attribution::default();
        for (index, e) in self.entries.iter().enumerate() {
            let mut hits = Vec::new();
            for (name, value) in headers {
                if name.eq_ignore_ascii_case("server")
                    && e.server.iter().any(|re| re.is_match(value.trim()))
                {
                    hits.push((e.role, format!("header server: {}", quote(value))));
                }
                for h in &e.headers {
                    if !name.eq_ignore_ascii_case(&h.name) {
                        continue;
                    }
                    match &h.value {
                        None => hits.push((h.role, format!("header {}", h.name))),
                        Some(re) if re.is_match(value.trim()) => {
                            hits.push((h.role, format!("header {}: {}", h.name, quote(value))))
                        }
                        Some(_) => {}
                    }
                }
            }
            if hits.is_empty() {
                continue;
            }
            match e.kind {
                Kind::Software => {
                    if a.server_software.is_none() {
                        a.server_software = Some(e.id.to_string());
                    }
                }
                Kind::Provider => {
                    for (role, ev) in hits {
                        a.add(index, e, role, ev, true);
                    }
                }
            }
        }
        if let Some(dns) = dns {
            self.attribute_dns(dns, &mut a);
        }
        a
    }

    fn attribute_dns(&self, dns: &DnsFacts, a: &mut Attribution) {
        for name in &dns.cname {
            if let Some((index, suffix)) = self.longest_suffix(name, false) {
                if let Some(e) = self.entries.get(index) {
                    a.add(index, e, e.role, format!("cname suffix .{suffix}"), false);
                }
            }
        }
        for ip in &dns.addresses {
            if let Some((index, net)) = self.ip.lookup(*ip) {
                if let Some(e) = self.entries.get(index) {
                    a.add(index, e, e.role, format!("ip {net}"), false);
                }
            }
        }
        for name in &dns.ns {
            if let Some((index, suffix)) = self.longest_suffix(name, true) {
                if let Some(e) = self.entries.get(index) {
                    a.add(index, e, Role::Dns, format!("ns suffix .{suffix}"), false);
                }
            }
        }
    }

    /// The provider whose suffix matches `name` on a label boundary, the
    /// longest suffix winning (`cdn.cloudflare.net` before `cloudflare.net`).
    fn longest_suffix(&self, name: &str, ns: bool) -> Option<(usize, &str)> {
        let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
        let mut best: Option<(usize, &str)> = None;
        for (index, e) in self.entries.iter().enumerate() {
            if e.kind != Kind::Provider {
                continue;
            }
            let list = if ns {
                &e.ns_suffixes
            } else {
                &e.cname_suffixes
            };
            for s in list {
                let hit = name == *s
                    || (name.len() > s.len()
                        && name.ends_with(s.as_str())
                        && name.as_bytes().get(name.len() - s.len() - 1) == Some(&b'.'));
                if hit && best.is_none_or(|(_, b)| s.len() > b.len()) {
                    best = Some((index, s.as_str()));
                }
            }
        }
        best
    }
}

/// A header value as evidence: trimmed and cut to a readable length.
pub(crate) fn quote(value: &str) -> String {
    let v = value.trim();
    if v.chars().count() <= MAX_QUOTED {
        v.to_owned()
    } else {
        let mut s: String = v.chars().take(MAX_QUOTED).collect();
        s.push('…');
        s
    }
}

/// The registrable domain a host name belongs to (`shop.example.co.uk` →
/// `example.co.uk`), by the Public Suffix List: names under one owner
/// usually share an origin, names of different owners do not. A name the
/// list cannot split is its own owner.
pub fn owner_domain(host: &str) -> String {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    psl::domain_str(&host).map_or_else(|| host.clone(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::owner_domain;

    #[test]
    fn names_of_one_owner_share_a_domain_and_others_do_not() {
        assert_eq!(owner_domain("shop.example.co.uk"), "example.co.uk");
        assert_eq!(owner_domain("WWW.Example.com."), "example.com");
        assert_eq!(owner_domain("api.bigshop.test"), "bigshop.test");
        assert_eq!(owner_domain("cloudfront-001.test"), "cloudfront-001.test");
        assert_ne!(owner_domain("a.github.io"), owner_domain("b.github.io"));
        assert_eq!(owner_domain("localhost"), "localhost");
    }
}
