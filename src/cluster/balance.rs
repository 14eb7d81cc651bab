//! Which partitions an instance should claim or release (CLUSTER.md,
//! Owners). A pure decision over what the claims bucket shows; the claims
//! loop applies it with compare-and-set, so two instances deciding at once
//! can never both win a partition.

use std::collections::{BTreeMap, BTreeSet};

/// What one look at the claims bucket showed.
#[derive(Debug, Clone)]
pub struct Claims<'a> {
    /// The instance deciding.
    pub me: &'a str,
    /// Instances whose heartbeat has not expired (`me` among them).
    pub instances: &'a BTreeSet<String>,
    /// Partition → the instance holding its claim (unexpired claims only).
    pub owners: &'a BTreeMap<u32, String>,
    pub partitions: u32,
}

/// What to do now.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Free partitions to try to create claims for.
    pub claim: Vec<u32>,
    /// Partitions of ours to stop reading and give up.
    pub release: Vec<u32>,
}

/// How many partitions `name` should hold: an even split, the first
/// instances (by name) taking one more when it does not divide.
pub fn share(name: &str, instances: &BTreeSet<String>, partitions: u32) -> u32 {
    let count = u32::try_from(instances.len()).unwrap_or(u32::MAX).max(1);
    let index = instances
        .iter()
        .position(|i| i == name)
        .and_then(|i| u32::try_from(i).ok())
        .unwrap_or(count);
    partitions / count + u32::from(index < partitions % count)
}

/// The plan for `claims.me`: claim free partitions up to its share; give up
/// those above its share once nothing is free and another instance is short
/// of its own (so a partition is never released to nobody).
pub fn plan(claims: &Claims<'_>) -> Plan {
    let mut instances = claims.instances.clone();
    instances.insert(claims.me.to_string());
    let held = |name: &str| {
        u32::try_from(claims.owners.values().filter(|o| *o == name).count()).unwrap_or(u32::MAX)
    };
    let mine: Vec<u32> = claims
        .owners
        .iter()
        .filter(|(_, o)| *o == claims.me)
        .map(|(p, _)| *p)
        .collect();
    let target = share(claims.me, &instances, claims.partitions);
    let owned = u32::try_from(mine.len()).unwrap_or(u32::MAX);
    let free: Vec<u32> = (0..claims.partitions)
        .filter(|p| !claims.owners.contains_key(p))
        .collect();
    let mut plan = Plan::default();
    if owned < target && !free.is_empty() {
        // Start at a place of our own, so instances starting together try
        // different partitions first instead of racing for the same ones.
        let index = instances.iter().position(|i| i == claims.me).unwrap_or(0);
        let start = index * free.len() / instances.len().max(1);
        let wanted = usize::try_from(target - owned).unwrap_or(usize::MAX);
        plan.claim = free
            .iter()
            .cycle()
            .skip(start)
            .take(free.len().min(wanted))
            .copied()
            .collect();
    } else if owned > target && free.is_empty() {
        let someone_short = instances
            .iter()
            .any(|i| i != claims.me && held(i) < share(i, &instances, claims.partitions));
        if someone_short {
            let extra = usize::try_from(owned - target).unwrap_or(usize::MAX);
            plan.release = mine.iter().rev().take(extra).copied().collect();
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn owners(list: &[(u32, &str)]) -> BTreeMap<u32, String> {
        list.iter().map(|(p, o)| (*p, o.to_string())).collect()
    }

    #[test]
    fn eight_over_three_is_three_three_two() {
        let all = names(&["a", "b", "c"]);
        let shares: Vec<u32> = ["a", "b", "c"].iter().map(|n| share(n, &all, 8)).collect();
        assert_eq!(shares, vec![3, 3, 2]);
    }

    /// Runs every instance's plan in turn, applying claims the way
    /// compare-and-set would (first come), until nothing changes.
    fn settle(
        instances: &BTreeSet<String>,
        mut held: BTreeMap<u32, String>,
        n: u32,
    ) -> BTreeMap<u32, String> {
        for _round in 0..20 {
            let before = held.clone();
            for me in instances {
                let p = plan(&Claims {
                    me,
                    instances,
                    owners: &held,
                    partitions: n,
                });
                for r in p.release {
                    held.remove(&r);
                }
                for c in p.claim {
                    held.entry(c).or_insert_with(|| me.clone());
                }
            }
            if held == before {
                return held;
            }
        }
        panic!("did not settle: {held:?}");
    }

    fn counts(held: &BTreeMap<u32, String>) -> Vec<usize> {
        let mut by: BTreeMap<&str, usize> = BTreeMap::new();
        for o in held.values() {
            *by.entry(o).or_default() += 1;
        }
        let mut c: Vec<usize> = by.into_values().collect();
        c.sort_unstable_by(|a, b| b.cmp(a));
        c
    }

    #[test]
    fn three_fresh_instances_settle_evenly() {
        let all = names(&["a", "b", "c"]);
        let held = settle(&all, BTreeMap::new(), 8);
        assert_eq!(held.len(), 8);
        assert_eq!(counts(&held), vec![3, 3, 2]);
    }

    #[test]
    fn a_newcomer_gets_its_share_from_one_that_held_everything() {
        let all = names(&["a", "b"]);
        let everything = (0..8).map(|p| (p, "a".to_string())).collect();
        let held = settle(&all, everything, 8);
        assert_eq!(counts(&held), vec![4, 4]);
    }

    #[test]
    fn the_partitions_of_a_lost_instance_are_taken_by_the_others() {
        let survivors = names(&["a", "b"]);
        let left = owners(&[(0, "a"), (1, "a"), (2, "a"), (3, "b"), (4, "b"), (5, "b")]);
        let held = settle(&survivors, left, 8);
        assert_eq!(held.len(), 8);
        assert_eq!(counts(&held), vec![4, 4]);
    }

    #[test]
    fn nothing_is_released_while_partitions_are_free() {
        let all = names(&["a", "b"]);
        let held = owners(&[(0, "a"), (1, "a"), (2, "a"), (3, "a"), (4, "a")]);
        let p = plan(&Claims {
            me: "a",
            instances: &all,
            owners: &held,
            partitions: 8,
        });
        assert_eq!(p, Plan::default());
    }

    #[test]
    fn a_lone_instance_claims_everything() {
        let me = names(&["a"]);
        let p = plan(&Claims {
            me: "a",
            instances: &me,
            owners: &BTreeMap::new(),
            partitions: 4,
        });
        assert_eq!(p.claim.len(), 4);
    }
}
