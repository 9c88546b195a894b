//! Rendezvous (highest-random-weight) hashing.
//!
//! Each node scores `(node, entity)` with a stable hash and the highest score wins. Every node
//! computes the same order from the same membership, and when a node leaves only the entities it
//! preferred move. FNV-1a is used because it is stable across builds and platforms (std's hasher
//! is not promised to be), and the entity key is already uniformly random (UUIDs).

/// Nodes ordered by preference for `entity`, most preferred first.
pub fn rank<'a>(nodes: impl IntoIterator<Item = &'a str>, entity: &str) -> Vec<&'a str> {
    let mut scored: Vec<(u64, &str)> = nodes
        .into_iter()
        .map(|node| (score(node, entity), node))
        .collect();
    // Ties (practically impossible) fall back to the name so the order stays total.
    scored.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.into_iter().map(|(_, node)| node).collect()
}

fn score(node: &str, entity: &str) -> u64 {
    let mut hash = fnv1a(0xcbf2_9ce4_8422_2325, node.as_bytes());
    hash = fnv1a(hash, &[0xff]);
    mix(fnv1a(hash, entity.as_bytes()))
}

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

// A finaliser (from splitmix64) so that similar inputs do not give correlated scores.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::rank;
    use std::collections::HashMap;

    const NODES: [&str; 3] = ["node-a", "node-b", "node-c"];

    #[test]
    fn every_node_computes_the_same_order_whatever_the_input_order() {
        let forward = rank(NODES, "workouts.42");
        let backward = rank(NODES.iter().rev().copied(), "workouts.42");
        assert_eq!(forward, backward);
        assert_eq!(forward.len(), 3);
    }

    #[test]
    fn load_spreads_roughly_evenly() {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for i in 0..3_000 {
            *counts
                .entry(rank(NODES, &format!("workouts.{i}"))[0])
                .or_default() += 1;
        }
        for node in NODES {
            let share = counts.get(node).copied().unwrap_or_default();
            assert!((800..1200).contains(&share), "{node} got {share} of 3000");
        }
    }

    #[test]
    fn removing_a_node_only_moves_what_it_owned() {
        for i in 0..1_000 {
            let entity = format!("trainees.{i}");
            let before = rank(NODES, &entity)[0];
            let after = rank(["node-a", "node-b"], &entity)[0];
            if before != "node-c" {
                assert_eq!(before, after, "{entity} moved although its node stayed");
            }
        }
    }
}
