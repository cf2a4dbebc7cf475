//! Which agent of a region probes which site. Every region probes every
//! site; within a region the sites are split among its agents by
//! rendezvous hashing: each site goes to the agent that scores highest for
//! it, so when an agent joins or leaves only the sites it gains or had
//! move, and every central computes the same split without talking.

/// A well-mixed 64-bit score from a number; fixed here, never a library's
/// hasher, so the split is the same in every build and on every machine.
fn mix(mut z: u64) -> u64 {
    // splitmix64's finaliser.
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// How much `agent` wants `site`; ties broken by the agent's id.
fn score(site: i64, agent: i64) -> (u64, i64) {
    (
        mix(mix(site.cast_unsigned()) ^ agent.cast_unsigned()),
        agent,
    )
}

/// The agent among `agents` (one region's, by id) that probes `site`, or
/// `None` when the region has none.
pub fn owner(site: i64, agents: &[i64]) -> Option<i64> {
    agents
        .iter()
        .copied()
        .max_by_key(|&agent| score(site, agent))
}

/// The sites of `sites` that `agent` probes, its region's agents being
/// `agents` (it among them).
pub fn sites_of(agent: i64, agents: &[i64], sites: &[i64]) -> Vec<i64> {
    sites
        .iter()
        .copied()
        .filter(|&site| owner(site, agents) == Some(agent))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        #[test]
        fn every_site_has_exactly_one_agent_of_the_region(
            agents in proptest::collection::btree_set(1_i64..1_000, 1..8),
            sites in proptest::collection::btree_set(1_i64..1_000_000, 0..300),
        ) {
            let agents: Vec<i64> = agents.into_iter().collect();
            let sites: Vec<i64> = sites.into_iter().collect();
            let mut seen = BTreeSet::new();
            for &agent in &agents {
                for site in sites_of(agent, &agents, &sites) {
                    prop_assert!(seen.insert(site), "site {} given twice", site);
                }
            }
            prop_assert_eq!(seen.len(), sites.len());
        }

        #[test]
        fn an_agent_leaving_moves_only_its_own_sites(
            agents in proptest::collection::btree_set(1_i64..1_000, 2..8),
            sites in proptest::collection::btree_set(1_i64..1_000_000, 1..300),
            leaving in 0_usize..8,
        ) {
            let agents: Vec<i64> = agents.into_iter().collect();
            let gone = agents[leaving % agents.len()];
            let rest: Vec<i64> = agents.iter().copied().filter(|&a| a != gone).collect();
            for &site in &sites {
                let before = owner(site, &agents);
                let after = owner(site, &rest);
                if before != Some(gone) {
                    prop_assert_eq!(before, after, "site {} moved", site);
                }
            }
        }
    }

    #[test]
    fn the_split_is_even_and_fixed() {
        let agents = [3, 17, 42];
        let sites: Vec<i64> = (1..=30_000).collect();
        for agent in agents {
            let share = sites_of(agent, &agents, &sites).len();
            // A third each, within a few per cent.
            assert!((9_300..=10_700).contains(&share), "agent {agent}: {share}");
        }
        assert_eq!(owner(1, &[]), None);
        // Fixed across builds: the same site goes to the same agent.
        let firsts: Vec<Option<i64>> = (1..=5).map(|site| owner(site, &agents)).collect();
        assert_eq!(firsts, FIRST_OWNERS);
    }

    /// Recorded once from this function; a change of the mixer moves every
    /// site of every deployment at once, so it must be deliberate.
    const FIRST_OWNERS: [Option<i64>; 5] = [Some(3), Some(3), Some(3), Some(17), Some(42)];
}
