//! The classifier's answer in plain words, for people who pasted an error
//! page and want to know whose fault it is. Shared by the `classify`
//! command and the web app's explainer, so both say the same thing.

use crate::classify::Classification;
use crate::knowledge::KnowledgeBase;
use crate::vocab::{Fault, FaultSide};

impl KnowledgeBase {
    /// One or two sentences: who produced the page and whose fault it is.
    pub fn explain(&self, c: &Classification) -> String {
        let Some(fault) = c.fault else {
            return match c.status {
                Some(status) => {
                    format!("The response was successful (HTTP {status}): there is no error to explain.")
                }
                None => String::from(
                    "Nothing in this page marks it as an error, and no status code was given.",
                ),
            };
        };
        let name = c
            .provider
            .as_ref()
            .map(|id| self.name_of(id.as_str()).unwrap_or(id.as_str()).to_owned());
        let status = c
            .status
            .map_or_else(String::new, |s| format!(" (HTTP {s})"));
        if c.status.is_none() && fault == Fault::DnsError {
            return match name {
                Some(name) => format!(
                    "The site's name could not be resolved, and the failure is in {name}'s DNS: {}.",
                    if c.fault_side == Some(FaultSide::Edge) {
                        "the provider's name servers did not answer for it"
                    } else {
                        "the site's own records point there"
                    }
                ),
                None => String::from(
                    "The site's name could not be resolved, and no provider is involved: the fault is in the site's own DNS.",
                ),
            };
        }
        match (name, c.fault_side) {
            (Some(name), Some(FaultSide::Edge)) => format!(
                "This page{status} was produced by {name}, and the fault is {name}'s own: {}.",
                edge_phrase(fault, &name)
            ),
            (Some(name), Some(FaultSide::Origin)) => format!(
                "This page{status} was produced by {name}, but the fault is the site's own {}.",
                origin_phrase(fault, &name)
            ),
            (Some(name), Some(FaultSide::Policy)) => format!(
                "This page{status} was produced by {name}, which {} on purpose: access control, not an outage.",
                policy_phrase(fault)
            ),
            (Some(name), _) => format!(
                "This page{status} was produced by {name}, but it does not say who failed."
            ),
            (None, Some(FaultSide::Origin)) => {
                let by = c.server_software.as_deref().map_or_else(
                    || String::from("the site's own server"),
                    |software| format!("the site's own server ({software})"),
                );
                format!(
                    "No provider's error page: this one{status} came from {by}, so the fault is the site's own {}.",
                    origin_phrase(fault, "the server")
                )
            }
            (None, Some(FaultSide::Policy)) => format!(
                "The site{status} {} on purpose: access control, not an outage.",
                policy_phrase(fault)
            ),
            (None, _) => format!(
                "This is an error page{status}, but nothing in it says who produced it or who failed."
            ),
        }
    }
}

fn edge_phrase(fault: Fault, name: &str) -> String {
    match fault {
        Fault::DnsError => format!("{name}'s DNS did not answer for the site"),
        Fault::Maintenance => format!("{name} is down for maintenance"),
        _ => String::from(
            "its servers failed while handling the request, and the site behind it may well be fine",
        ),
    }
}

fn origin_phrase(fault: Fault, name: &str) -> String {
    match fault {
        Fault::OriginUnreachable => format!("server: {name} could not reach it"),
        Fault::OriginTimeout => format!("server: it did not answer {name} in time"),
        Fault::OriginTls => format!("server: {name} could not make a secure connection to it"),
        Fault::OriginError => String::from("server: it failed while handling the request"),
        Fault::DnsError => String::from("DNS: the site's name could not be resolved"),
        Fault::ConfigError => {
            format!("configuration: {name} does not know this site, app or deployment")
        }
        Fault::NotFound => String::from("content: the page does not exist"),
        Fault::Maintenance => String::from("operators: the site is down for maintenance"),
        _ => String::from("side"),
    }
}

fn policy_phrase(fault: Fault) -> &'static str {
    match fault {
        Fault::Challenge => "asked the browser to prove it is not a robot",
        Fault::RateLimited => "slowed down a client that sent too many requests",
        _ => "blocked the request",
    }
}

#[cfg(test)]
mod tests {
    use crate::{FailureClass, KnowledgeBase, Observation};

    fn explain(page: &[u8]) -> String {
        let kb = KnowledgeBase::shared();
        kb.explain(&kb.classify(&Observation::parse(page)))
    }

    #[test]
    fn cloudflare_pages_in_plain_words() {
        let origin = explain(include_bytes!(
            "../tests/fixtures/error-pages/cloudflare__521__1.html"
        ));
        assert!(
            origin.contains("Cloudflare") && origin.contains("the site's own server"),
            "{origin}"
        );
        let edge = explain(include_bytes!(
            "../tests/fixtures/error-pages/cloudflare__500__1.html"
        ));
        assert!(edge.contains("the fault is Cloudflare's own"), "{edge}");
    }

    #[test]
    fn failed_lookups_name_whose_dns_failed() {
        let kb = KnowledgeBase::shared();
        let behind_akamai = crate::DnsFacts {
            cname: vec!["shop.example.com.edgekey.net".to_owned()],
            ..crate::DnsFacts::default()
        };
        let c = kb.classify_dns_failure(&behind_akamai, FailureClass::DnsServfail);
        let words = kb.explain(&c);
        assert!(words.contains("Akamai's DNS"), "{words}");
        let c = kb.classify_dns_failure(&crate::DnsFacts::default(), FailureClass::DnsNxdomain);
        let words = kb.explain(&c);
        assert!(words.contains("no provider is involved"), "{words}");
    }

    #[test]
    fn success_and_anonymous_errors() {
        assert!(explain(b"HTTP/1.1 200 OK\r\n\r\nhi").contains("successful"));
        let plain = explain(b"HTTP/1.1 500 Internal Server Error\r\n\r\noops");
        assert!(plain.contains("the site's own server"), "{plain}");
    }
}
