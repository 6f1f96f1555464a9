//! Per-shard counts of linked entries per id, kept under the shard lock.
//!
//! They let `free_parent` probe each id in use in the parent's shard instead
//! of scanning its table, and `free_all` skip shards without the id. A
//! program uses a handful of ids, so the counts live in a small vector
//! searched linearly (a few instructions per link or unlink); past
//! `SMALL_MAX` distinct ids in one shard they move to a hash map.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Distinct ids kept in the linear vector before switching to a hash map.
const SMALL_MAX: usize = 16;

pub(crate) enum IdCounts {
    Small(Vec<(u64, usize)>),
    Large(HashMap<u64, usize, BuildHasherDefault<IdHasher>>),
}

impl IdCounts {
    pub(crate) fn new() -> Self {
        IdCounts::Small(Vec::new())
    }

    /// One more linked entry with `id`.
    #[inline]
    pub(crate) fn add(&mut self, id: u64) {
        match self {
            IdCounts::Small(v) => {
                if let Some((_, n)) = v.iter_mut().find(|(i, _)| *i == id) {
                    *n += 1;
                } else if v.len() < SMALL_MAX {
                    v.push((id, 1));
                } else {
                    let mut m: HashMap<_, _, _> = v.drain(..).collect();
                    m.insert(id, 1);
                    *self = IdCounts::Large(m);
                }
            }
            IdCounts::Large(m) => *m.entry(id).or_insert(0) += 1,
        }
    }

    /// One linked entry with `id` fewer.
    ///
    /// # Panics
    /// If no entry with `id` was counted (a bookkeeping bug).
    #[inline]
    pub(crate) fn remove(&mut self, id: u64) {
        let missing = || -> ! { unreachable!("id count missing for a linked entry") };
        match self {
            IdCounts::Small(v) => {
                let pos = v
                    .iter()
                    .position(|(i, _)| *i == id)
                    .unwrap_or_else(|| missing());
                if v[pos].1 > 1 {
                    v[pos].1 -= 1;
                } else {
                    v.swap_remove(pos);
                    if v.is_empty() {
                        // Give the memory back: an emptied map keeps nothing.
                        *v = Vec::new();
                    }
                }
            }
            IdCounts::Large(m) => match m.get_mut(&id) {
                Some(n) if *n > 1 => *n -= 1,
                Some(_) => {
                    m.remove(&id);
                    if m.len() <= SMALL_MAX / 2 {
                        *self = IdCounts::Small(m.drain().collect());
                    }
                }
                None => missing(),
            },
        }
    }

    pub(crate) fn contains(&self, id: u64) -> bool {
        match self {
            IdCounts::Small(v) => v.iter().any(|(i, _)| *i == id),
            IdCounts::Large(m) => m.contains_key(&id),
        }
    }

    /// The ids with at least one linked entry.
    pub(crate) fn ids(&self) -> Vec<u64> {
        match self {
            IdCounts::Small(v) => v.iter().map(|(i, _)| *i).collect(),
            IdCounts::Large(m) => m.keys().copied().collect(),
        }
    }
}

/// A hasher for ids: small integers chosen by programmers, so a multiply is
/// enough (and it is deterministic under loom).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ self.0)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(26);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_survive_the_switch_to_a_map() {
        let mut c = IdCounts::new();
        for id in 0..40u64 {
            c.add(id);
            c.add(id);
        }
        assert!(matches!(c, IdCounts::Large(_)));
        for id in 0..40u64 {
            c.remove(id);
            assert!(c.contains(id));
            c.remove(id);
            assert!(!c.contains(id));
        }
        assert!(c.ids().is_empty());
    }

    #[test]
    fn small_counts() {
        let mut c = IdCounts::new();
        c.add(7);
        c.add(9);
        c.add(7);
        c.remove(7);
        let mut ids = c.ids();
        ids.sort();
        assert_eq!(ids, vec![7, 9]);
    }
}
