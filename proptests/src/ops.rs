//! The operations the differential tests and the fuzz target apply, and the map
//! configurations they run under.

use shadow_vars::{Parent, ShadowId, ShadowMap};

/// A key of the small space: parent index `p` and id index `id` (reduced modulo the
/// configuration's counts when applied, so any byte is valid).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Key {
    /// Parent index (see [`parent_addr`]).
    pub p: u8,
    /// Id index (see [`ID_VALUES`]).
    pub id: u8,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "k({},{})", self.p, self.id)
    }
}

/// What a constructor does when the map runs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Ctor {
    /// Returns a fresh value.
    Ok,
    /// Returns `Err(CtorError(tag))` (only meaningful for the `try_*` calls; the
    /// infallible calls treat it as `Ok`).
    Err,
    /// Panics with [`crate::PlannedPanic`].
    Panic,
}

/// One step of a sequence. Every public operation of `ShadowMap` (and, inside
/// [`Op::Pinned`], of `ShadowMapRef`) has a variant.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Op {
    /// `get`; with `hold`, the returned `Shadow` / `&T` is kept until [`Op::Release`]
    /// (or the end of the pinned batch) and re-checked after every later step.
    Get { k: Key, hold: bool },
    /// `contains`.
    Contains { k: Key },
    /// `alloc` (a `Ctor::Err` acts as `Ok`: the call is infallible).
    Alloc { k: Key, ctor: Ctor },
    /// `try_alloc`.
    TryAlloc { k: Key, ctor: Ctor },
    /// `insert` of a fresh value (checking that a value given back is ours).
    Insert { k: Key },
    /// `get_or_alloc` (a `Ctor::Err` acts as `Ok`), optionally holding the result.
    GetOrAlloc { k: Key, ctor: Ctor, hold: bool },
    /// `try_get_or_alloc`.
    TryGetOrAlloc { k: Key, ctor: Ctor },
    /// `get_or_default`.
    GetOrDefault { k: Key },
    /// `free`.
    Free { k: Key },
    /// `free_with`, counting dtor calls and checking the parent and value passed.
    FreeWith { k: Key },
    /// `free_all`.
    FreeAll { id: u8 },
    /// `free_all_with`, checking the set of (parent, value) the dtor saw.
    FreeAllWith { id: u8 },
    /// `free_parent`.
    FreeParent { p: u8 },
    /// `len`.
    Len,
    /// `is_empty`.
    IsEmpty,
    /// `iter` (through `pin()` at top level), compared as a set with the model.
    Iter { id: u8 },
    /// Drops every held `Shadow`.
    Release,
    /// `get_or_alloc` on parents `from .. from + n` (indices past the small space are
    /// fresh addresses), to make the table grow mid-sequence.
    Fill { id: u8, from: u8, n: u8 },
    /// The inner steps run through one `ShadowMapRef` (`map.pin()`); references it
    /// returns stay checked until the batch ends.
    Pinned(Vec<Op>),
}

/// Addresses of the small parent space: ordinary, adjacent, high and extreme.
pub const PARENT_ADDRS: [usize; 8] = [
    0x1000,
    0x1008,
    0x7fff_ffff_f000,
    8,
    usize::MAX & !7,
    0x10_0000,
    0x2000,
    0x3000,
];

/// Raw ids of the small id space, including 0 and `u64::MAX`.
pub const ID_VALUES: [u64; 5] = [1, 0, u64::MAX, 42, 7];

/// The address of parent index `i`: [`PARENT_ADDRS`] first, then fresh 8-aligned
/// addresses (used by [`Op::Fill`]).
pub fn parent_addr(i: usize) -> usize {
    match PARENT_ADDRS.get(i) {
        Some(&a) => a,
        None => 0x4000_0000 + i * 24,
    }
}

/// How a configuration builds its map.
#[derive(Clone, Copy, Debug)]
pub enum Build {
    /// `ShadowMap::new()`.
    New,
    /// `ShadowMap::with_capacity(n)`.
    WithCapacity(usize),
    /// `ShadowMap::builder()`, with `.shards(n)` / `.capacity(n)` where given.
    Builder {
        /// Shard count (rounded up to a power of two by the map).
        shards: Option<usize>,
        /// Initial entries.
        capacity: Option<usize>,
    },
}

/// A map configuration and the size of the key space the sequences use.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Name for messages.
    pub name: &'static str,
    /// How the map is built.
    pub build: Build,
    /// Number of parents in the small space (1..=8).
    pub parents: u8,
    /// Number of ids (1..=5).
    pub ids: u8,
}

impl Config {
    /// Builds a fresh map.
    pub fn build_map(&self) -> ShadowMap {
        match self.build {
            Build::New => ShadowMap::new(),
            Build::WithCapacity(n) => ShadowMap::with_capacity(n),
            Build::Builder { shards, capacity } => {
                let mut b = ShadowMap::builder();
                if let Some(s) = shards {
                    b = b.shards(s);
                }
                if let Some(c) = capacity {
                    b = b.capacity(c);
                }
                b.build()
            }
        }
    }

    /// Parent index of a key, reduced into the small space.
    pub fn pidx(&self, p: u8) -> usize {
        usize::from(p % self.parents.clamp(1, 8))
    }

    /// The raw id of id index `id`, reduced into the small space.
    pub fn raw_id(&self, id: u8) -> u64 {
        ID_VALUES[usize::from(id % self.ids.clamp(1, 5))]
    }

    /// Typed id of id index `id`.
    pub fn id<V>(&self, id: u8) -> ShadowId<V> {
        ShadowId::new(self.raw_id(id))
    }

    /// The parent of parent index `i` (no reduction).
    pub fn parent(i: usize) -> Parent {
        Parent::from_addr(parent_addr(i))
    }
}
