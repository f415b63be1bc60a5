//! RFC 9162 Merkle tree math (§2.1): leaf and node hashing, tree heads, inclusion and
//! consistency proofs, and their verification — the arithmetic of the verifiable audit log
//! of PROTOCOL.md §9, without any storage.
//!
//! The log stores the hash of every *perfect* subtree (a subtree of 2^level leaves starting
//! at a multiple of 2^level) as it is completed; that is O(log n) new hashes per append.
//! Every root and proof the RFC defines for any tree size can be assembled from those
//! hashes, so the functions here take a lookup `perfect(level, index)` instead of the
//! leaves, and the same code serves the gateway, a partner verifying a receipt and the
//! offline `verify-store` tool.

use crate::core::envelope::{sha256, Digest32};

/// A SHA-256 hash of the tree.
pub type Hash = Digest32;

/// RFC 9162: the hash of a leaf is SHA-256(0x00 || leaf).
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut input = Vec::with_capacity(leaf.len() + 1);
    input.push(0);
    input.extend_from_slice(leaf);
    sha256(&input)
}

/// RFC 9162: an interior node is SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut input = [0u8; 65];
    input[0] = 1;
    input[1..33].copy_from_slice(left);
    input[33..].copy_from_slice(right);
    sha256(&input)
}

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    sha256(&[])
}

/// §9's leaf for an envelope the gateway accepted: 0x01 || digest || i64be(received_at_ms).
pub fn accepted_leaf(envelope_digest: &[u8], received_at_ms: i64) -> Vec<u8> {
    envelope_leaf(1, envelope_digest, received_at_ms)
}

/// §9's leaf for an envelope the gateway issued: 0x02 || digest || i64be(created_at_ms).
pub fn issued_leaf(envelope_digest: &[u8], created_at_ms: i64) -> Vec<u8> {
    envelope_leaf(2, envelope_digest, created_at_ms)
}

fn envelope_leaf(kind: u8, digest: &[u8], at_ms: i64) -> Vec<u8> {
    let mut leaf = Vec::with_capacity(1 + digest.len() + 8);
    leaf.push(kind);
    leaf.extend_from_slice(digest);
    leaf.extend_from_slice(&at_ms.to_be_bytes());
    leaf
}

/// The largest power of two strictly smaller than `n` (n ≥ 2): RFC 9162's split point k.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Why a proof could not be produced.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is not in a tree of size {size}")]
    LeafOutOfRange {
        /// Requested leaf.
        index: u64,
        /// Requested tree size.
        size: u64,
    },
    /// A tree size beyond the log.
    #[error("tree size {requested} is larger than the log ({log_size} entries)")]
    SizeBeyondLog {
        /// Requested size.
        requested: u64,
        /// Entries in the log.
        log_size: u64,
    },
    /// Consistency between sizes that do not satisfy 0 < first ≤ second.
    #[error("no consistency proof from size {first} to size {second}")]
    BadRange {
        /// Older size.
        first: u64,
        /// Newer size.
        second: u64,
    },
    /// A hash the proof needs is missing from storage.
    #[error("subtree hash at level {level}, index {index} is missing")]
    Missing {
        /// Level (leaves are 0).
        level: u32,
        /// Index at that level.
        index: u64,
    },
}

/// Hashes of perfect subtrees, however they are stored.
pub trait PerfectSubtrees {
    /// The hash of the perfect subtree of 2^level leaves starting at leaf index·2^level.
    fn perfect(&self, level: u32, index: u64) -> Option<Hash>;
}

impl<F: Fn(u32, u64) -> Option<Hash>> PerfectSubtrees for F {
    fn perfect(&self, level: u32, index: u64) -> Option<Hash> {
        self(level, index)
    }
}

/// MTH(D[start:end]) from perfect-subtree hashes. Ranges here are always ones RFC 9162's
/// recursion produces: `start` is a multiple of the largest power of two ≤ end − start.
fn range_hash(tree: &impl PerfectSubtrees, start: u64, end: u64) -> Result<Hash, ProofError> {
    let n = end - start;
    if n.is_power_of_two() && start.is_multiple_of(n) {
        let level = n.trailing_zeros();
        let index = start >> level;
        return tree
            .perfect(level, index)
            .ok_or(ProofError::Missing { level, index });
    }
    let k = split(n);
    Ok(node_hash(
        &range_hash(tree, start, start + k)?,
        &range_hash(tree, start + k, end)?,
    ))
}

/// The tree head's root for the first `size` leaves.
pub fn root(tree: &impl PerfectSubtrees, size: u64) -> Result<Hash, ProofError> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_hash(tree, 0, size)
}

/// RFC 9162 §2.1.3.1: the audit path of leaf `index` in the tree of `size` leaves.
pub fn inclusion_proof(
    tree: &impl PerfectSubtrees,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError> {
    if index >= size {
        return Err(ProofError::LeafOutOfRange { index, size });
    }
    let mut path = Vec::new();
    let (mut start, mut end, mut m) = (0u64, size, index);
    // Walk down from the root; the sibling hashes come out root-first, so reverse at the end.
    while end - start > 1 {
        let k = split(end - start);
        if m < k {
            path.push(range_hash(tree, start + k, end)?);
            end = start + k;
        } else {
            path.push(range_hash(tree, start, start + k)?);
            start += k;
            m -= k;
        }
    }
    path.reverse();
    Ok(path)
}

/// RFC 9162 §2.1.4.1: the proof that the tree of `first` leaves is a prefix of the tree of
/// `second` leaves.
pub fn consistency_proof(
    tree: &impl PerfectSubtrees,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, ProofError> {
    if first == 0 || first > second {
        return Err(ProofError::BadRange { first, second });
    }
    let mut proof = Vec::new();
    let (mut start, mut end, mut m, mut whole) = (0u64, second, first, true);
    loop {
        let n = end - start;
        if m == n {
            if !whole {
                proof.push(range_hash(tree, start, end)?);
            }
            break;
        }
        let k = split(n);
        if m <= k {
            proof.push(range_hash(tree, start + k, end)?);
            end = start + k;
        } else {
            proof.push(range_hash(tree, start, start + k)?);
            start += k;
            m -= k;
            whole = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// RFC 9162 §2.1.3.2: does `path` prove that `leaf` is leaf `index` of the tree of `size`
/// leaves with root `root`?
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: does `proof` show that the tree of `first` leaves with root
/// `first_root` is a prefix of the tree of `second` leaves with root `second_root`?
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> bool {
    if first == 0 || first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    if proof.is_empty() {
        return false;
    }
    let mut proof = proof.to_vec();
    if first.is_power_of_two() {
        proof.insert(0, *first_root);
    }
    let (mut fn_, mut sn) = (first - 1, second - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (proof[0], proof[0]);
    for c in &proof[1..] {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && fr == *first_root && sr == *second_root
}

/// The perfect subtrees completed by appending the leaf at position `index` (whose hash is
/// `leaf`), given the perfect subtrees already stored: (level, index, hash) for the leaf
/// itself and every ancestor it completes. O(log n) lookups and hashes.
pub fn completed_by_append(
    tree: &impl PerfectSubtrees,
    index: u64,
    leaf: Hash,
) -> Result<Vec<(u32, u64, Hash)>, ProofError> {
    let mut out = vec![(0, index, leaf)];
    let (mut level, mut i, mut hash) = (0u32, index, leaf);
    while i & 1 == 1 {
        let left = tree.perfect(level, i - 1).ok_or(ProofError::Missing {
            level,
            index: i - 1,
        })?;
        hash = node_hash(&left, &hash);
        level += 1;
        i >>= 1;
        out.push((level, i, hash));
    }
    Ok(out)
}

/// The right edge of a growing tree: the latest completed perfect subtree at each level.
///
/// It is all an appender needs (O(log n) hashes, whatever the size) to compute the subtrees
/// each new leaf completes and the current root, so the gateway's writer keeps one in memory
/// and `verify-store` rebuilds one while it streams the whole log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// `edge[level]`: the latest completed subtree of 2^level leaves, if any.
    edge: Vec<Option<Hash>>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The frontier of a stored tree of `size` leaves, read from its perfect subtrees.
    pub fn load(tree: &impl PerfectSubtrees, size: u64) -> Result<Self, ProofError> {
        let mut edge = Vec::new();
        for level in 0..Self::levels(size) {
            let count = size >> level;
            edge.push(match count {
                0 => None,
                _ => Some(tree.perfect(level, count - 1).ok_or(ProofError::Missing {
                    level,
                    index: count - 1,
                })?),
            });
        }
        Ok(Self { size, edge })
    }

    /// Which `(level, index)` subtrees [`Frontier::load`] reads for a tree of `size`
    /// leaves, so that a store can fetch them in one query.
    pub fn load_keys(size: u64) -> Vec<(u32, u64)> {
        (0..Self::levels(size))
            .filter_map(|level| (size >> level).checked_sub(1).map(|i| (level, i)))
            .collect()
    }

    fn levels(size: u64) -> u32 {
        64 - size.leading_zeros()
    }

    /// Leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf; returns the perfect subtrees it completes, `(level, index, hash)`,
    /// the leaf itself first. O(log n).
    pub fn push(&mut self, leaf: Hash) -> Vec<(u32, u64, Hash)> {
        let edge = &self.edge;
        let completed = completed_by_append(
            &|level: u32, index: u64| {
                // The left sibling a new leaf needs at `level` is always the latest subtree
                // completed there.
                edge.get(level as usize)
                    .copied()
                    .flatten()
                    .filter(|_| (self.size >> level) == index + 1)
            },
            self.size,
            leaf,
        );
        // The edge always holds every left sibling an append needs, so the lookup never misses.
        let completed = completed.unwrap_or_else(|_| vec![(0, self.size, leaf)]);
        for &(level, _, hash) in &completed {
            let level = level as usize;
            if self.edge.len() <= level {
                self.edge.resize(level + 1, None);
            }
            self.edge[level] = Some(hash);
        }
        self.size += 1;
        completed
    }

    /// The root of the tree so far (RFC 9162 MTH): the completed subtrees of the size's
    /// binary decomposition, folded from the smallest to the largest.
    pub fn root(&self) -> Hash {
        let mut acc: Option<Hash> = None;
        for level in 0..Self::levels(self.size) {
            if (self.size >> level) & 1 == 1 {
                if let Some(Some(subtree)) = self.edge.get(level as usize) {
                    acc = Some(match acc {
                        None => *subtree,
                        Some(right) => node_hash(subtree, &right),
                    });
                }
            }
        }
        acc.unwrap_or_else(empty_root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Perfect-subtree hashes of a tree built by appending leaves one at a time.
    #[derive(Default)]
    struct MemoryTree {
        nodes: HashMap<(u32, u64), Hash>,
        size: u64,
    }

    impl PerfectSubtrees for MemoryTree {
        fn perfect(&self, level: u32, index: u64) -> Option<Hash> {
            self.nodes.get(&(level, index)).copied()
        }
    }

    impl MemoryTree {
        fn push(&mut self, leaf: &[u8]) {
            for (level, index, hash) in
                completed_by_append(self, self.size, leaf_hash(leaf)).unwrap()
            {
                self.nodes.insert((level, index), hash);
            }
            self.size += 1;
        }
    }

    /// RFC 9162's MTH straight from the definition, as the reference.
    fn mth(leaves: &[Vec<u8>]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaf_hash(&leaves[0]),
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn leaves(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| vec![i as u8; i % 5 + 1]).collect()
    }

    #[test]
    fn roots_match_the_definition_for_every_size_up_to_64() {
        let all = leaves(64);
        let mut tree = MemoryTree::default();
        assert_eq!(root(&tree, 0).unwrap(), empty_root());
        for n in 1..=64 {
            tree.push(&all[n - 1]);
            for m in 1..=n {
                assert_eq!(
                    root(&tree, m as u64).unwrap(),
                    mth(&all[..m]),
                    "size {m} within {n}"
                );
            }
        }
    }

    /// The eight-leaf reference tree published with the RFC 6962 reference implementations
    /// (certificate-transparency, trillian): roots of every size and sample proofs.
    #[test]
    fn reproduces_the_rfc6962_reference_tree() {
        let leaves: Vec<Vec<u8>> = [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|h| hex::decode(h).unwrap())
        .collect();
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let mut tree = MemoryTree::default();
        for (n, leaf) in leaves.iter().enumerate() {
            tree.push(leaf);
            assert_eq!(hex::encode(root(&tree, n as u64 + 1).unwrap()), roots[n]);
        }
        let hashes = |list: &[&str]| -> Vec<Hash> {
            list.iter()
                .map(|h| Hash::try_from(hex::decode(h).unwrap().as_slice()).unwrap())
                .collect()
        };
        assert_eq!(
            inclusion_proof(&tree, 0, 8).unwrap(),
            hashes(&[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ])
        );
        assert_eq!(
            consistency_proof(&tree, 6, 8).unwrap(),
            hashes(&[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ])
        );
        assert_eq!(
            consistency_proof(&tree, 2, 5).unwrap(),
            hashes(&[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ])
        );
    }

    #[test]
    fn frontier_appends_and_roots_like_the_stored_tree_for_every_size_up_to_130() {
        let all = leaves(130);
        let mut tree = MemoryTree::default();
        let mut frontier = Frontier::new();
        assert_eq!(frontier.root(), empty_root());
        for (n, leaf) in all.iter().enumerate() {
            let before = tree.nodes.len();
            tree.push(leaf);
            let completed = frontier.push(leaf_hash(leaf));
            assert_eq!(completed.len(), tree.nodes.len() - before, "size {}", n + 1);
            for (level, index, hash) in completed {
                assert_eq!(tree.nodes.get(&(level, index)), Some(&hash));
            }
            let size = n as u64 + 1;
            assert_eq!(frontier.size(), size);
            assert_eq!(frontier.root(), mth(&all[..=n]), "size {size}");
            let loaded = Frontier::load(&tree, size).unwrap();
            assert_eq!(loaded.root(), frontier.root(), "loaded at size {size}");
            assert_eq!(
                Frontier::load_keys(size).len(),
                64 - size.leading_zeros() as usize
            );
        }
        // A store missing a subtree the frontier needs is reported, not guessed.
        let empty = MemoryTree::default();
        assert_eq!(
            Frontier::load(&empty, 3),
            Err(ProofError::Missing { level: 0, index: 2 })
        );
    }

    #[test]
    fn every_inclusion_and_consistency_proof_round_trips_up_to_64() {
        let all = leaves(64);
        let mut tree = MemoryTree::default();
        for leaf in &all {
            tree.push(leaf);
        }
        for n in 1..=64u64 {
            let r = root(&tree, n).unwrap();
            for i in 0..n {
                let path = inclusion_proof(&tree, i, n).unwrap();
                let leaf = leaf_hash(&all[i as usize]);
                assert!(verify_inclusion(&leaf, i, n, &path, &r), "leaf {i} of {n}");
                let other = leaf_hash(b"tampered");
                assert!(
                    !verify_inclusion(&other, i, n, &path, &r),
                    "tampered leaf {i} of {n}"
                );
                let mut wrong_root = r;
                wrong_root[0] ^= 1;
                assert!(!verify_inclusion(&leaf, i, n, &path, &wrong_root));
            }
            for m in 1..=n {
                let proof = consistency_proof(&tree, m, n).unwrap();
                let rm = root(&tree, m).unwrap();
                assert!(verify_consistency(m, n, &rm, &r, &proof), "{m} → {n}");
                let mut wrong = rm;
                wrong[31] ^= 1;
                assert!(
                    !verify_consistency(m, n, &wrong, &r, &proof),
                    "wrong old root {m} → {n}"
                );
            }
        }
        assert_eq!(
            inclusion_proof(&tree, 64, 64),
            Err(ProofError::LeafOutOfRange {
                index: 64,
                size: 64
            })
        );
        assert_eq!(
            consistency_proof(&tree, 0, 3),
            Err(ProofError::BadRange {
                first: 0,
                second: 3
            })
        );
        assert_eq!(
            consistency_proof(&tree, 4, 3),
            Err(ProofError::BadRange {
                first: 4,
                second: 3
            })
        );
    }

    #[test]
    fn reproduces_the_independent_vectors() {
        let text = include_str!("../../tests/vectors/vectors.json");
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let m = &v["merkle_rfc9162"];
        let hexes = |value: &serde_json::Value| -> Vec<Hash> {
            value
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    hex::decode(h.as_str().unwrap())
                        .unwrap()
                        .try_into()
                        .unwrap()
                })
                .collect()
        };
        let mut tree = MemoryTree::default();
        for leaf in m["leaves"].as_array().unwrap() {
            tree.push(&hex::decode(leaf.as_str().unwrap()).unwrap());
        }
        assert_eq!(hex::encode(empty_root()), m["empty_root"].as_str().unwrap());
        for (size, expected) in m["roots"].as_object().unwrap() {
            let size: u64 = size.parse().unwrap();
            assert_eq!(
                hex::encode(root(&tree, size).unwrap()),
                expected.as_str().unwrap(),
                "root {size}"
            );
        }
        for case in m["inclusion"].as_array().unwrap() {
            let (i, n) = (
                case["leaf_index"].as_u64().unwrap(),
                case["tree_size"].as_u64().unwrap(),
            );
            assert_eq!(
                inclusion_proof(&tree, i, n).unwrap(),
                hexes(&case["path"]),
                "inclusion {i} in {n}"
            );
        }
        for case in m["consistency"].as_array().unwrap() {
            let (a, b) = (
                case["first"].as_u64().unwrap(),
                case["second"].as_u64().unwrap(),
            );
            assert_eq!(
                consistency_proof(&tree, a, b).unwrap(),
                hexes(&case["proof"]),
                "consistency {a} → {b}"
            );
        }
        let leaf = &v["audit_leaf_accepted"];
        let digest = hex::decode(leaf["envelope_digest"].as_str().unwrap()).unwrap();
        let built = accepted_leaf(&digest, leaf["received_at_ms"].as_i64().unwrap());
        assert_eq!(hex::encode(&built), leaf["leaf"].as_str().unwrap());
        assert_eq!(
            hex::encode(leaf_hash(&built)),
            leaf["leaf_hash"].as_str().unwrap()
        );
    }
}
