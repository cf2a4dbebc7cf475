//! Failed lookups: whose DNS failed, from the CNAME chain and the zone's NS.

use engine::FailureClass;
use engine::{DnsFacts, Fault, FaultSide, KnowledgeBase};

fn facts(cname: &[&str], ns: &[&str]) -> DnsFacts {
    DnsFacts {
        cname: cname.iter().map(|s| (*s).to_owned()).collect(),
        addresses: Vec::new(),
        ns: ns.iter().map(|s| (*s).to_owned()).collect(),
    }
}

#[test]
fn a_cname_into_a_provider_whose_target_fails_blames_that_provider() {
    let kb = KnowledgeBase::shared();
    let c = kb.classify_dns_failure(
        &facts(&["www.example.com.edgekey.net"], &["ns1.example.com"]),
        FailureClass::DnsServfail,
    );
    assert_eq!(c.provider.as_ref().map(|p| p.as_str()), Some("akamai"));
    assert_eq!(c.fault_side, Some(FaultSide::Edge));
    assert_eq!(c.fault, Some(Fault::DnsError));
    assert!(
        c.evidence.iter().any(|e| e.contains("edgekey.net")),
        "{c:?}"
    );
}

#[test]
fn a_zone_hosted_by_a_dns_provider_that_fails_blames_it_less_surely() {
    let kb = KnowledgeBase::shared();
    let c = kb.classify_dns_failure(
        &facts(&[], &["ada.ns.cloudflare.com"]),
        FailureClass::DnsServfail,
    );
    assert_eq!(c.provider.as_ref().map(|p| p.as_str()), Some("cloudflare"));
    assert_eq!(c.fault_side, Some(FaultSide::Edge));
    assert!(c.confidence < 0.85);
}

#[test]
fn nxdomain_or_no_provider_is_the_sites_own_dns() {
    let kb = KnowledgeBase::shared();
    let c = kb.classify_dns_failure(
        &facts(&[], &["ada.ns.cloudflare.com"]),
        FailureClass::DnsNxdomain,
    );
    assert_eq!(c.provider, None);
    assert_eq!(c.fault_side, Some(FaultSide::Origin));
    assert_eq!(c.fault, Some(Fault::DnsError));
    let c = kb.classify_dns_failure(&facts(&[], &["ns1.example.net"]), FailureClass::DnsServfail);
    assert_eq!(c.provider, None);
    assert_eq!(c.fault_side, Some(FaultSide::Origin));
}
