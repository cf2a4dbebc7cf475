//! Published IP ranges, looked up by address.
//!
//! Ranges are grouped by prefix length; each group is a sorted vector of
//! network addresses searched with a binary search, longest prefix first.
//! That handles overlapping ranges from different providers (a plain sorted
//! list of intervals does not), costs at most one binary search per distinct
//! prefix length (about 20 in the shipped data) and needs no extra crate
//! beyond `ipnet` for parsing, which the workspace already uses. A trie
//! (`iprange`, `ip_network_table`) would be faster still, but lookups happen
//! once per probed address, so clarity wins.

use ipnet::IpNet;
use std::net::IpAddr;

/// Prefixes of one length: (length, sorted (network, owner, prefix)).
type Group<K> = (u8, Vec<(K, usize, IpNet)>);

/// A set of prefixes, each tagged with the index of the provider that
/// publishes it.
#[derive(Clone, Debug, Default)]
pub struct IpRangeSet {
    /// IPv4 groups, longest prefix first.
    v4: Vec<Group<u32>>,
    v6: Vec<Group<u128>>,
    len: usize,
}

impl IpRangeSet {
    /// Builds the index. Exact duplicates are the loader's business (it
    /// rejects them with the file named); here they are kept and the first
    /// owner wins.
    pub fn new(ranges: impl IntoIterator<Item = (IpNet, usize)>) -> Self {
        let mut v4: Vec<Group<u32>> = Vec::new();
        let mut v6: Vec<Group<u128>> = Vec::new();
        let mut len = 0;
        for (net, owner) in ranges {
            let net = net.trunc();
            len += 1;
            match net {
                IpNet::V4(n) => {
                    let key = u32::from(n.network());
                    group(&mut v4, n.prefix_len()).push((key, owner, net));
                }
                IpNet::V6(n) => {
                    let key = u128::from(n.network());
                    group(&mut v6, n.prefix_len()).push((key, owner, net));
                }
            }
        }
        for (_, g) in v4.iter_mut() {
            g.sort_by_key(|e| e.0);
        }
        for (_, g) in v6.iter_mut() {
            g.sort_by_key(|e| e.0);
        }
        v4.sort_by_key(|g| std::cmp::Reverse(g.0));
        v6.sort_by_key(|g| std::cmp::Reverse(g.0));
        Self { v4, v6, len }
    }

    /// The most specific range containing `ip`, with its owner's index.
    pub fn lookup(&self, ip: IpAddr) -> Option<(usize, IpNet)> {
        match ip.to_canonical() {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4.iter().find_map(|(plen, g)| {
                    let key = a & mask32(*plen);
                    g.binary_search_by_key(&key, |e| e.0)
                        .ok()
                        .and_then(|i| g.get(i))
                        .map(|e| (e.1, e.2))
                })
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6.iter().find_map(|(plen, g)| {
                    let key = a & mask128(*plen);
                    g.binary_search_by_key(&key, |e| e.0)
                        .ok()
                        .and_then(|i| g.get(i))
                        .map(|e| (e.1, e.2))
                })
            }
        }
    }

    /// How many prefixes the set holds.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

fn group<K>(groups: &mut Vec<(u8, Vec<K>)>, plen: u8) -> &mut Vec<K> {
    let pos = match groups.iter().position(|(p, _)| *p == plen) {
        Some(pos) => pos,
        None => {
            groups.push((plen, Vec::new()));
            groups.len() - 1
        }
    };
    &mut groups[pos].1
}

fn mask32(plen: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(plen.min(32)))
        .unwrap_or(0)
}

fn mask128(plen: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(plen.min(128)))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(list: &[(&str, usize)]) -> IpRangeSet {
        IpRangeSet::new(list.iter().map(|(n, o)| (n.parse().unwrap(), *o)))
    }

    #[test]
    fn most_specific_range_wins_and_edges_are_inclusive() {
        let s = set(&[
            ("104.16.0.0/13", 0),
            ("104.16.5.0/24", 1),
            ("2606:4700::/32", 2),
        ]);
        assert_eq!(s.lookup("104.16.0.0".parse().unwrap()).unwrap().0, 0);
        assert_eq!(s.lookup("104.23.255.255".parse().unwrap()).unwrap().0, 0);
        assert_eq!(s.lookup("104.16.5.9".parse().unwrap()).unwrap().0, 1);
        assert!(s.lookup("104.24.0.0".parse().unwrap()).is_none());
        assert_eq!(s.lookup("2606:4700::1".parse().unwrap()).unwrap().0, 2);
        assert!(s.lookup("2606:4701::1".parse().unwrap()).is_none());
    }

    #[test]
    fn zero_length_prefix_and_mapped_v4() {
        let s = set(&[("0.0.0.0/0", 7), ("10.0.0.0/8", 3)]);
        assert_eq!(s.lookup("1.2.3.4".parse().unwrap()).unwrap().0, 7);
        assert_eq!(s.lookup("::ffff:10.1.2.3".parse().unwrap()).unwrap().0, 3);
    }
}
