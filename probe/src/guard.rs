//! The SSRF guard: which addresses the prober may connect to.
//!
//! Checked after resolution, on the exact addresses we then connect to, for
//! every redirect hop. Refused by default: loopback, private (RFC 1918),
//! CGNAT, link-local, unique-local, multicast, broadcast, unspecified,
//! documentation and benchmarking ranges, and IPv6 forms that embed an IPv4
//! address (mapped, compatible, NAT64, 6to4, Teredo), judged by the address
//! they embed. Cloud metadata and platform addresses (all of link-local,
//! fd00:ec2::/32, Azure's 168.63.129.16, ...) are refused even when private
//! targets are allowed, and so are the server's own public addresses. A
//! policy may also name the only ports a URL may use.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// What the prober may reach.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardPolicy {
    /// Allow every non-public address (self-hosted internal monitoring).
    pub allow_private: bool,
    /// Allow these networks only, e.g. `["127.0.0.0/8"]` for a test fleet.
    pub allowed_networks: Vec<IpNet>,
    /// Ports a URL may name (its scheme's default when it names none);
    /// empty: any.
    pub allowed_ports: Vec<u16>,
    /// This server's own public addresses, refused whatever else is
    /// allowed: a probe of ourselves reaches services bound to every
    /// interface that the public must not. Found at start-up, never
    /// configured.
    #[serde(skip)]
    pub own_addresses: Vec<IpAddr>,
}

/// Why an address was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Metadata,
    Own,
    NonPublic(&'static str),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Metadata => f.write_str("a cloud metadata address"),
            Refusal::Own => f.write_str("this server's own address"),
            Refusal::NonPublic(kind) => write!(f, "a {kind} address"),
        }
    }
}

impl GuardPolicy {
    /// Allows only loopback: what tests and the synthetic internet use.
    pub fn loopback_only() -> Self {
        Self {
            allow_private: false,
            allowed_networks: vec![
                IpNet::V4(ipnet::Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8)),
                IpNet::V6(ipnet::Ipv6Net::new_assert(Ipv6Addr::LOCALHOST, 128)),
            ],
            allowed_ports: Vec::new(),
            own_addresses: Vec::new(),
        }
    }

    /// The public "check it now" policy: public addresses only, on the
    /// web's two ports, whatever the watchlist prober allows.
    pub fn public_web() -> Self {
        Self {
            allow_private: false,
            allowed_networks: Vec::new(),
            allowed_ports: vec![80, 443],
            own_addresses: Vec::new(),
        }
    }

    /// Whether a URL may name `port`.
    pub fn allows_port(&self, port: u16) -> bool {
        self.allowed_ports.is_empty() || self.allowed_ports.contains(&port)
    }

    pub fn check(&self, ip: IpAddr) -> Result<(), Refusal> {
        let ip = canonical(ip);
        if is_metadata(ip) {
            return Err(Refusal::Metadata);
        }
        if self.own_addresses.iter().any(|own| canonical(*own) == ip) {
            return Err(Refusal::Own);
        }
        match non_public_kind(ip) {
            None => Ok(()),
            Some(_) if self.allow_private => Ok(()),
            Some(_) if self.allowed_networks.iter().any(|net| net.contains(&ip)) => Ok(()),
            Some(kind) => Err(Refusal::NonPublic(kind)),
        }
    }
}

/// Whether `ip` is in no special-purpose registry entry: the kind of
/// address a public web server has.
pub fn is_public(ip: IpAddr) -> bool {
    non_public_kind(canonical(ip)).is_none()
}

/// The IPv4 address an IPv6 address stands for, where it embeds one.
pub fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    let s = v6.segments();
    let low32 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    // ::a.b.c.d (deprecated IPv4-compatible), but not :: and ::1.
    if s[..6] == [0; 6] && u32::from(low32) > 1 {
        return IpAddr::V4(low32);
    }
    // NAT64: the well-known prefix 64:ff9b::/96, and the local-use
    // 64:ff9b:1::/48 (RFC 8215) read the same way.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || s[..3] == [0x64, 0xff9b, 1] {
        return IpAddr::V4(low32);
    }
    // 6to4 2002:AABB:CCDD::/48 embeds AA.BB.CC.DD.
    if s[0] == 0x2002 {
        return IpAddr::V4(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    // Teredo 2001:0::/32: the client's IPv4 is the last 32 bits, inverted.
    if s[0] == 0x2001 && s[1] == 0 {
        return IpAddr::V4(Ipv4Addr::from(!u32::from(low32)));
    }
    ip
}

fn is_metadata(ip: IpAddr) -> bool {
    const V4: [Ipv4Addr; 3] = [
        Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud
        Ipv4Addr::new(192, 0, 0, 192),     // Oracle Cloud
        Ipv4Addr::new(168, 63, 129, 16),   // Azure platform (WireServer, DNS, health)
    ];
    match ip {
        // All of link-local: AWS, GCP, Azure and OpenStack metadata at
        // 169.254.169.254, ECS at 169.254.170.2, and others elsewhere in it.
        IpAddr::V4(v4) => v4.is_link_local() || V4.contains(&v4),
        // fd00:ec2::/32, AWS's IPv6 metadata endpoints.
        IpAddr::V6(v6) => v6.segments()[..2] == [0xfd00, 0x0ec2],
    }
}

/// The IANA special-purpose address registries, every entry, with the
/// multicast blocks: none of it is a public web server. Sources: IANA
/// "IPv4 Special-Purpose Address Registry" and "IPv6 Special-Purpose
/// Address Registry" (as updated 2024-07, RFC 6890 and its updates, with
/// RFC 9637 and RFC 9602), RFC 5771 and RFC 4291 for multicast. IPv6
/// forms that embed an IPv4 address (mapped, NAT64, 6to4, Teredo) are
/// judged by [`canonical`] before this table is read.
pub const SPECIAL_PURPOSE: &[(&str, &str)] = &[
    ("0.0.0.0/8", "\"this network\""),
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("100.64.0.0/10", "carrier-grade NAT"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.0.0.0/24", "IETF protocol assignment"),
    ("192.0.2.0/24", "documentation"),
    ("192.31.196.0/24", "AS112"),
    ("192.52.193.0/24", "AMT"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("192.175.48.0/24", "AS112 direct delegation"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("255.255.255.255/32", "broadcast"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::ffff:0:0/96", "IPv4-mapped"),
    ("64:ff9b::/96", "NAT64"),
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("100::/64", "discard-only"),
    ("2001::/23", "IETF protocol assignment"),
    ("2001:db8::/32", "documentation"),
    ("2002::/16", "6to4"),
    ("2620:4f:8000::/48", "AS112 direct delegation"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing (SRv6)"),
    ("fc00::/7", "unique-local"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local (deprecated)"),
    ("ff00::/8", "multicast"),
];

/// [`SPECIAL_PURPOSE`], parsed once. An entry that does not parse is left
/// out (a test checks that every one does).
static SPECIAL: std::sync::LazyLock<Vec<(IpNet, &'static str)>> = std::sync::LazyLock::new(|| {
    SPECIAL_PURPOSE
        .iter()
        .filter_map(|(net, name)| net.parse().ok().map(|net| (net, *name)))
        .collect()
});

/// The registry entry `ip` falls in (the most specific), if any.
fn non_public_kind(ip: IpAddr) -> Option<&'static str> {
    SPECIAL
        .iter()
        .filter(|(net, _)| net.contains(&ip))
        .max_by_key(|(net, _)| net.prefix_len())
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(policy: &GuardPolicy, ip: &str) -> bool {
        policy.check(ip.parse().unwrap()).is_err()
    }

    #[test]
    fn the_servers_own_addresses_are_refused_under_any_policy() {
        let own: IpAddr = "198.51.99.10".parse().unwrap();
        for mut policy in [
            GuardPolicy::default(),
            GuardPolicy::public_web(),
            GuardPolicy {
                allow_private: true,
                allowed_networks: vec!["0.0.0.0/0".parse().unwrap()],
                ..GuardPolicy::default()
            },
        ] {
            assert!(!refused(&policy, "198.51.99.10"));
            policy.own_addresses = vec![own];
            assert_eq!(policy.check(own), Err(Refusal::Own));
            // Also when written as IPv4-mapped IPv6.
            assert!(refused(&policy, "::ffff:198.51.99.10"));
            assert!(!refused(&policy, "198.51.99.11"));
        }
    }

    /// The address `offset` after `net`'s last (or before its first).
    fn beside(net: &IpNet, after: bool) -> Option<IpAddr> {
        match net {
            IpNet::V4(net) => {
                let edge = if after {
                    u32::from(net.broadcast()).checked_add(1)
                } else {
                    u32::from(net.network()).checked_sub(1)
                };
                edge.map(|n| IpAddr::V4(Ipv4Addr::from(n)))
            }
            IpNet::V6(net) => {
                let edge = if after {
                    u128::from(net.broadcast()).checked_add(1)
                } else {
                    u128::from(net.network()).checked_sub(1)
                };
                edge.map(|n| IpAddr::V6(Ipv6Addr::from(n)))
            }
        }
    }

    #[test]
    fn every_registry_range_is_refused_and_its_neighbours_are_not_it() {
        assert_eq!(
            SPECIAL.len(),
            SPECIAL_PURPOSE.len(),
            "an entry does not parse"
        );
        let policy = GuardPolicy::default();
        for (net, name) in SPECIAL.iter() {
            // Inside: its first and last address. Embedded IPv4 forms are
            // judged by the address they carry, so test them with a
            // private one inside.
            let inside: Vec<IpAddr> = match *name {
                "IPv4-mapped" => vec!["::ffff:10.0.0.1".parse().unwrap()],
                "NAT64" => vec!["64:ff9b::a00:1".parse().unwrap()],
                "local-use NAT64" => vec!["64:ff9b:1::a9fe:a9fe".parse().unwrap()],
                "6to4" => vec!["2002:a00:1::1".parse().unwrap()],
                _ => vec![net.network(), net.broadcast()],
            };
            for ip in inside {
                assert!(policy.check(ip).is_err(), "{ip} in {net} ({name}) allowed");
            }
            // Just outside: in no entry, or in another one.
            for ip in [beside(net, true), beside(net, false)]
                .into_iter()
                .flatten()
            {
                let outside = non_public_kind(canonical(ip));
                assert!(!net.contains(&ip), "{ip} is inside {net}");
                if let Some(kind) = outside {
                    assert!(
                        kind != *name || !net.contains(&ip),
                        "{ip} beside {net} read as {kind}"
                    );
                }
            }
        }
        // A public neighbour of each well-known private block answers.
        for ip in [
            "11.0.0.0",
            "100.128.0.0",
            "128.0.0.0",
            "172.32.0.0",
            "192.169.0.0",
            "198.20.0.0",
            "2a00::1",
        ] {
            assert!(policy.check(ip.parse().unwrap()).is_ok(), "{ip} refused");
        }
    }

    #[test]
    fn private_and_special_addresses_are_refused_by_default() {
        let policy = GuardPolicy::default();
        for ip in [
            // Named in the hardening review.
            "168.63.129.16",
            "192.0.0.1",
            "198.18.0.1",
            "198.19.255.255",
            "240.0.0.1",
            "64:ff9b:1::a00:1",
            "5f00::1",
            "3fff::1",
            "100::1",
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "2001:0:4136:e378:8000:63bf:f5ff:fffe",
            "2001:db8::1",
            "100.100.100.200",
            "fd00:ec2::254",
        ] {
            assert!(refused(&policy, ip), "{ip} should be refused");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "2002:5db8:d822::",
        ] {
            assert!(!refused(&policy, ip), "{ip} should be allowed");
        }
    }

    #[test]
    fn allowing_private_targets_never_allows_metadata() {
        let policy = GuardPolicy {
            allow_private: true,
            ..GuardPolicy::default()
        };
        assert!(!refused(&policy, "10.0.0.1"));
        assert!(!refused(&policy, "127.0.0.1"));
        // Just outside: other private and public neighbours stay as they were.
        assert!(!refused(&policy, "fd00:ec3::1"));
        assert!(!refused(&policy, "168.63.129.17"));
        assert!(!refused(&policy, "169.253.255.255"));
        for ip in [
            "169.254.169.254",
            "::ffff:169.254.169.254",
            "100.100.100.200",
            "fd00:ec2::254",
            "fd00:ec2::23",
            // Local-use NAT64 carrying the metadata address.
            "64:ff9b:1::a9fe:a9fe",
            "169.254.170.2",
            "169.254.0.1",
            "169.254.255.254",
            "168.63.129.16",
            "::ffff:168.63.129.16",
        ] {
            assert_eq!(
                policy.check(ip.parse().unwrap()),
                Err(Refusal::Metadata),
                "{ip}"
            );
        }
    }

    #[test]
    fn an_allowed_network_opens_only_itself() {
        let policy = GuardPolicy::loopback_only();
        assert!(!refused(&policy, "127.0.0.1"));
        assert!(!refused(&policy, "127.8.9.10"));
        assert!(!refused(&policy, "::ffff:127.0.0.1"));
        assert!(refused(&policy, "10.0.0.1"));
        assert!(refused(&policy, "169.254.169.254"));
    }
}
