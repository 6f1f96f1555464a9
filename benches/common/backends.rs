//! One small interface over every map under test.
//!
//! `Ops` is what a workload does; `Backend` adds construction, an optional pinned
//! session (one guard held for a batch of operations) and the hooks the memory
//! probe needs. A row of a table is a backend plus a mode: per call (`&B`), or
//! pinned (`B::pin()`, held for `BATCH` operations) where the backend has one.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

use shadow_vars::{Parent, ShadowId, ShadowMap, ShadowMapRef};

use super::kernel::KernelStyle;

/// Key of every peer map: (parent address, id).
pub(crate) type Key = (usize, u64);
/// The one seeded hasher every peer that takes a hasher gets.
pub(crate) type Hasher = foldhash::fast::FixedState;
/// Operations per pinned session (and per stop-flag check).
pub(crate) const BATCH: usize = 64;

pub(crate) fn hasher() -> Hasher {
    foldhash::fast::FixedState::with_seed(0x5AD0_5EED)
}

/// What a workload does to a map. Values are `u64`, returned by copy.
pub(crate) trait Ops {
    fn get(&self, parent: usize, id: u64) -> Option<u64>;
    /// Kernel `klp_shadow_alloc`: constructs and inserts only if absent; `true` if
    /// inserted.
    fn alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> bool;
    /// Kernel `klp_shadow_get_or_alloc`: existing value, or a new one from `ctor`.
    fn get_or_alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> u64;
    /// `true` if something was removed.
    fn free(&self, parent: usize, id: u64) -> bool;
}

impl<T: Ops + ?Sized> Ops for &T {
    #[inline(always)]
    fn get(&self, parent: usize, id: u64) -> Option<u64> {
        (**self).get(parent, id)
    }
    #[inline(always)]
    fn alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> bool {
        (**self).alloc(parent, id, ctor)
    }
    #[inline(always)]
    fn get_or_alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> u64 {
        (**self).get_or_alloc(parent, id, ctor)
    }
    #[inline(always)]
    fn free(&self, parent: usize, id: u64) -> bool {
        (**self).free(parent, id)
    }
}

/// A map under test.
pub(crate) trait Backend: Ops + Send + Sync + Sized + 'static {
    /// Row label for the per-call API.
    const NAME: &'static str;
    /// Row label for the pinned API, where the backend has one.
    const PINNED_NAME: Option<&'static str> = None;
    /// `true` for this crate's rows.
    const OURS: bool = false;
    /// `true` for rows measured only when `SV_BACKENDS` names them (variants
    /// of a row, kept out of the default tables).
    const OPT_IN: bool = false;
    /// A session holding one guard for many operations (`&Self` where none).
    type Pinned<'a>: Ops
    where
        Self: 'a;

    /// An empty map with default sizing (no capacity hint).
    fn new() -> Self;
    fn pin(&self) -> Self::Pinned<'_>;
    fn len(&self) -> usize;
    /// Setup-only insertion of a key known to be absent: the map's plain insert
    /// where it has one (papaya's closure inserts, used by `alloc`, can leave
    /// its default incremental resize unfinished, which would skew every later
    /// lookup), else `alloc`.
    fn prefill(&self, parent: usize, id: u64, value: u64) {
        let inserted = self.alloc(parent, id, || value);
        debug_assert!(inserted);
    }
    /// Runs deferred frees as far as the backend allows (memory probe only).
    fn quiesce(&self) {}
}

/// Repeated `crossbeam_epoch::pin().flush()`: runs the global collector's
/// deferred destructors (this thread must be the only pinned one).
pub(crate) fn flush_crossbeam() {
    for _ in 0..1024 {
        crossbeam_epoch::pin().flush();
    }
}

/// Runs what every process-wide collector (crossbeam-epoch's, sdd's) will run.
pub(crate) fn quiesce_global() {
    flush_crossbeam();
    quiesce_sdd();
}

/// A table row: backend type plus mode.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Row {
    pub(crate) name: &'static str,
    pub(crate) pinned: bool,
    pub(crate) ours: bool,
}

/// The rows of `B`, filtered by `SV_BACKENDS` (comma-separated substrings of row
/// names; unset = all but the opt-in ones).
pub(crate) fn rows<B: Backend>() -> Vec<Row> {
    let mut v = all_rows::<B>();
    v.retain(|r| selected(r.name, B::OPT_IN));
    v
}

/// Every row of `B`, opt-in ones included, whatever `SV_BACKENDS` says.
pub(crate) fn all_rows<B: Backend>() -> Vec<Row> {
    let mut v = vec![Row {
        name: B::NAME,
        pinned: false,
        ours: B::OURS,
    }];
    if let Some(name) = B::PINNED_NAME {
        v.push(Row {
            name,
            pinned: true,
            ours: B::OURS,
        });
    }
    v
}

fn selected(name: &str, opt_in: bool) -> bool {
    match std::env::var("SV_BACKENDS") {
        Ok(f) if !f.trim().is_empty() => f
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .any(|s| name.to_lowercase().contains(&s.to_lowercase())),
        _ => !opt_in,
    }
}

/// Something to do once per backend type.
pub(crate) trait Visit {
    fn visit<B: Backend>(&mut self);
}

/// Calls `v.visit::<B>()` for every backend, this crate first.
pub(crate) fn for_each_backend(v: &mut impl Visit) {
    v.visit::<ShadowVars>();
    v.visit::<ShadowVarsInsert>();
    v.visit::<KernelStyle>();
    v.visit::<MutexMap>();
    v.visit::<RwLockMap>();
    v.visit::<Dash>();
    v.visit::<Papaya<false>>();
    v.visit::<Papaya<true>>();
    v.visit::<SccMap>();
    v.visit::<SccIndex>();
}

// ---------------------------------------------------------------- shadow-vars

const fn sid(id: u64) -> ShadowId<u64> {
    ShadowId::new(id)
}

/// This crate. `SV_SHARDS` sets the shard count through the builder.
pub(crate) struct ShadowVars(ShadowMap);

impl Ops for ShadowVars {
    #[inline]
    fn get(&self, parent: usize, id: u64) -> Option<u64> {
        self.0.get(Parent::from_addr(parent), sid(id)).map(|v| *v)
    }
    #[inline]
    fn alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> bool {
        self.0
            .alloc(Parent::from_addr(parent), sid(id), ctor)
            .is_ok()
    }
    #[inline]
    fn get_or_alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> u64 {
        *self
            .0
            .get_or_alloc(Parent::from_addr(parent), sid(id), ctor)
    }
    #[inline]
    fn free(&self, parent: usize, id: u64) -> bool {
        self.0.free(Parent::from_addr(parent), sid(id))
    }
}

/// `ShadowMap::pin()`: one guard for a batch.
pub(crate) struct ShadowVarsPin<'a>(ShadowMapRef<'a>);

impl Ops for ShadowVarsPin<'_> {
    #[inline]
    fn get(&self, parent: usize, id: u64) -> Option<u64> {
        self.0.get(Parent::from_addr(parent), sid(id)).copied()
    }
    #[inline]
    fn alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> bool {
        self.0
            .alloc(Parent::from_addr(parent), sid(id), ctor)
            .is_ok()
    }
    #[inline]
    fn get_or_alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> u64 {
        *self
            .0
            .get_or_alloc(Parent::from_addr(parent), sid(id), ctor)
    }
    #[inline]
    fn free(&self, parent: usize, id: u64) -> bool {
        self.0.free(Parent::from_addr(parent), sid(id))
    }
}

impl Backend for ShadowVars {
    const NAME: &'static str = "shadow-vars";
    const PINNED_NAME: Option<&'static str> = Some("shadow-vars pin x64");
    const OURS: bool = true;
    type Pinned<'a> = ShadowVarsPin<'a>;

    fn new() -> Self {
        match super::env_num::<usize>("SV_SHARDS", 0) {
            0 => ShadowVars(ShadowMap::new()),
            n => ShadowVars(ShadowMap::builder().shards(n).build()),
        }
    }
    fn pin(&self) -> ShadowVarsPin<'_> {
        ShadowVarsPin(self.0.pin())
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn quiesce(&self) {
        flush_crossbeam();
    }
}

/// This crate through `insert` (opt-in rows): the value is built before the
/// call, so `alloc` and `get_or_alloc` run their constructor even when the
/// key turns out to exist (the constructor race counts those runs), and in
/// exchange a creation links a complete entry: one lock, no publishing swap.
pub(crate) struct ShadowVarsInsert(ShadowMap);

/// `ShadowVarsInsert` through one `ShadowMapRef` per batch.
pub(crate) struct ShadowVarsInsertPin<'a>(ShadowMapRef<'a>);

/// The `Ops` of both insert rows (`.0` is a `ShadowMap` or a
/// `ShadowMapRef`: the same method names): `get` and `free` as the
/// constructor rows; `alloc` = `insert(ctor())`; `get_or_alloc` = `get`, else
/// a value built once and inserted, or the existing one read back (retried
/// if it was freed in between).
macro_rules! insert_ops {
    ($ty:ty) => {
        impl Ops for $ty {
            #[inline]
            fn get(&self, parent: usize, id: u64) -> Option<u64> {
                self.0.get(Parent::from_addr(parent), sid(id)).map(|v| *v)
            }
            #[inline]
            fn alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> bool {
                self.0
                    .insert(Parent::from_addr(parent), sid(id), ctor())
                    .is_ok()
            }
            #[inline]
            fn get_or_alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> u64 {
                let (p, id) = (Parent::from_addr(parent), sid(id));
                if let Some(v) = self.0.get(p, id) {
                    return *v;
                }
                let mut value = ctor();
                loop {
                    match self.0.insert(p, id, value) {
                        Ok(v) => return *v,
                        Err(back) => match self.0.get(p, id) {
                            Some(v) => return *v,
                            None => value = back,
                        },
                    }
                }
            }
            #[inline]
            fn free(&self, parent: usize, id: u64) -> bool {
                self.0.free(Parent::from_addr(parent), sid(id))
            }
        }
    };
}

insert_ops!(ShadowVarsInsert);
insert_ops!(ShadowVarsInsertPin<'_>);

impl Backend for ShadowVarsInsert {
    const NAME: &'static str = "shadow-vars insert";
    const PINNED_NAME: Option<&'static str> = Some("shadow-vars insert pin x64");
    const OURS: bool = true;
    const OPT_IN: bool = true;
    type Pinned<'a> = ShadowVarsInsertPin<'a>;

    fn new() -> Self {
        ShadowVarsInsert(ShadowVars::new().0)
    }
    fn pin(&self) -> ShadowVarsInsertPin<'_> {
        ShadowVarsInsertPin(self.0.pin())
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn quiesce(&self) {
        flush_crossbeam();
    }
}

// ------------------------------------------------------- Mutex / RwLock<HashMap>

/// `klp_shadow_alloc` on a locked std `HashMap`: `ctor` runs (under the
/// caller's lock) only if `key` is absent; `true` if it inserted.
fn insert_absent(
    map: &mut HashMap<Key, u64, Hasher>,
    key: Key,
    ctor: impl FnOnce() -> u64,
) -> bool {
    match map.entry(key) {
        std::collections::hash_map::Entry::Occupied(_) => false,
        std::collections::hash_map::Entry::Vacant(v) => {
            v.insert(ctor());
            true
        }
    }
}

/// `Mutex<std HashMap>`; constructors run under the lock.
pub(crate) struct MutexMap(Mutex<HashMap<Key, u64, Hasher>>);

impl Ops for MutexMap {
    #[inline]
    fn get(&self, parent: usize, id: u64) -> Option<u64> {
        self.0.lock().unwrap().get(&(parent, id)).copied()
    }
    fn alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> bool {
        insert_absent(&mut self.0.lock().unwrap(), (parent, id), ctor)
    }
    fn get_or_alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> u64 {
        *self
            .0
            .lock()
            .unwrap()
            .entry((parent, id))
            .or_insert_with(ctor)
    }
    fn free(&self, parent: usize, id: u64) -> bool {
        self.0.lock().unwrap().remove(&(parent, id)).is_some()
    }
}

impl Backend for MutexMap {
    const NAME: &'static str = "Mutex<HashMap>";
    type Pinned<'a> = &'a Self;
    fn new() -> Self {
        MutexMap(Mutex::new(HashMap::with_hasher(hasher())))
    }
    fn prefill(&self, parent: usize, id: u64, value: u64) {
        self.0.lock().unwrap().insert((parent, id), value);
    }
    fn pin(&self) -> &Self {
        self
    }
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// `RwLock<std HashMap>`: reads share the lock; `get_or_alloc` reads first, then
/// writes with the constructor under the write lock.
pub(crate) struct RwLockMap(RwLock<HashMap<Key, u64, Hasher>>);

impl Ops for RwLockMap {
    #[inline]
    fn get(&self, parent: usize, id: u64) -> Option<u64> {
        self.0.read().unwrap().get(&(parent, id)).copied()
    }
    fn alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> bool {
        if self.get(parent, id).is_some() {
            return false;
        }
        insert_absent(&mut self.0.write().unwrap(), (parent, id), ctor)
    }
    fn get_or_alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> u64 {
        if let Some(v) = self.get(parent, id) {
            return v;
        }
        *self
            .0
            .write()
            .unwrap()
            .entry((parent, id))
            .or_insert_with(ctor)
    }
    fn free(&self, parent: usize, id: u64) -> bool {
        self.0.write().unwrap().remove(&(parent, id)).is_some()
    }
}

impl Backend for RwLockMap {
    const NAME: &'static str = "RwLock<HashMap>";
    type Pinned<'a> = &'a Self;
    fn new() -> Self {
        RwLockMap(RwLock::new(HashMap::with_hasher(hasher())))
    }
    fn prefill(&self, parent: usize, id: u64, value: u64) {
        self.0.write().unwrap().insert((parent, id), value);
    }
    fn pin(&self) -> &Self {
        self
    }
    fn len(&self) -> usize {
        self.0.read().unwrap().len()
    }
}

// ------------------------------------------------------------------- dashmap

/// dashmap 6: sharded `RwLock<HashMap>`; the entry constructor runs under the
/// shard's write lock. `get_or_alloc` reads first.
pub(crate) struct Dash(dashmap::DashMap<Key, u64, Hasher>);

impl Ops for Dash {
    #[inline]
    fn get(&self, parent: usize, id: u64) -> Option<u64> {
        self.0.get(&(parent, id)).map(|r| *r)
    }
    fn alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> bool {
        if self.get(parent, id).is_some() {
            return false;
        }
        match self.0.entry((parent, id)) {
            dashmap::mapref::entry::Entry::Occupied(_) => false,
            dashmap::mapref::entry::Entry::Vacant(v) => {
                v.insert(ctor());
                true
            }
        }
    }
    fn get_or_alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> u64 {
        if let Some(v) = self.get(parent, id) {
            return v;
        }
        *self.0.entry((parent, id)).or_insert_with(ctor)
    }
    fn free(&self, parent: usize, id: u64) -> bool {
        self.0.remove(&(parent, id)).is_some()
    }
}

impl Backend for Dash {
    const NAME: &'static str = "dashmap";
    type Pinned<'a> = &'a Self;
    fn new() -> Self {
        Dash(dashmap::DashMap::with_hasher(hasher()))
    }
    fn prefill(&self, parent: usize, id: u64, value: u64) {
        self.0.insert((parent, id), value);
    }
    fn pin(&self) -> &Self {
        self
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

// -------------------------------------------------------------------- papaya

type PapayaMap = papaya::HashMap<Key, u64, Hasher>;

/// papaya 0.2: lock-free; `get_or_insert_with`/`try_insert_with` may run the
/// closure in every racing caller. `BLOCKING` selects `ResizeMode::Blocking`
/// (the default, incremental mode, can leave a resize unfinished).
pub(crate) struct Papaya<const BLOCKING: bool>(PapayaMap);

impl<const BLOCKING: bool> Ops for Papaya<BLOCKING> {
    #[inline]
    fn get(&self, parent: usize, id: u64) -> Option<u64> {
        self.0.pin().get(&(parent, id)).copied()
    }
    fn alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> bool {
        self.0.pin().try_insert_with((parent, id), ctor).is_ok()
    }
    fn get_or_alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> u64 {
        *self.0.pin().get_or_insert_with((parent, id), ctor)
    }
    fn free(&self, parent: usize, id: u64) -> bool {
        self.0.pin().remove(&(parent, id)).is_some()
    }
}

/// papaya's `HashMap::pin()` held for a batch.
pub(crate) struct PapayaPin<'a>(papaya::HashMapRef<'a, Key, u64, Hasher, papaya::LocalGuard<'a>>);

impl Ops for PapayaPin<'_> {
    #[inline]
    fn get(&self, parent: usize, id: u64) -> Option<u64> {
        self.0.get(&(parent, id)).copied()
    }
    fn alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> bool {
        self.0.try_insert_with((parent, id), ctor).is_ok()
    }
    fn get_or_alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> u64 {
        *self.0.get_or_insert_with((parent, id), ctor)
    }
    fn free(&self, parent: usize, id: u64) -> bool {
        self.0.remove(&(parent, id)).is_some()
    }
}

impl<const BLOCKING: bool> Backend for Papaya<BLOCKING> {
    const NAME: &'static str = if BLOCKING {
        "papaya blocking"
    } else {
        "papaya"
    };
    const PINNED_NAME: Option<&'static str> = if BLOCKING {
        Some("papaya blocking pin x64")
    } else {
        None
    };
    type Pinned<'a> = PapayaPin<'a>;

    fn new() -> Self {
        let mode = if BLOCKING {
            papaya::ResizeMode::Blocking
        } else {
            Default::default()
        };
        Papaya(
            papaya::HashMap::builder()
                .hasher(hasher())
                .resize_mode(mode)
                .build(),
        )
    }
    fn pin(&self) -> PapayaPin<'_> {
        PapayaPin(self.0.pin())
    }
    fn prefill(&self, parent: usize, id: u64, value: u64) {
        self.0.pin().insert((parent, id), value);
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn quiesce(&self) {
        use papaya::Guard as _;
        for _ in 0..64 {
            self.0.guard().flush();
        }
    }
}

// ----------------------------------------------------------------------- scc

fn quiesce_sdd() {
    // sdd frees a retired node once this thread has seen three more epochs, and
    // advances epochs only while it holds garbage; creating guards drives it.
    for _ in 0..1_000_000 {
        let guard = scc::Guard::new();
        if !guard.has_garbage() {
            break;
        }
        guard.accelerate();
    }
}

/// `scc::HashMap`: reads take a bucket lock; the entry constructor runs under
/// the bucket's write lock. `get_or_alloc` reads first.
pub(crate) struct SccMap(scc::HashMap<Key, u64, Hasher>);

impl Ops for SccMap {
    #[inline]
    fn get(&self, parent: usize, id: u64) -> Option<u64> {
        self.0.read_sync(&(parent, id), |_, v| *v)
    }
    fn alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> bool {
        if self.get(parent, id).is_some() {
            return false;
        }
        match self.0.entry_sync((parent, id)) {
            scc::hash_map::Entry::Occupied(_) => false,
            scc::hash_map::Entry::Vacant(v) => {
                v.insert_entry(ctor());
                true
            }
        }
    }
    fn get_or_alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> u64 {
        if let Some(v) = self.get(parent, id) {
            return v;
        }
        *self.0.entry_sync((parent, id)).or_insert_with(ctor).get()
    }
    fn free(&self, parent: usize, id: u64) -> bool {
        self.0.remove_sync(&(parent, id)).is_some()
    }
}

impl Backend for SccMap {
    const NAME: &'static str = "scc HashMap";
    type Pinned<'a> = &'a Self;
    fn new() -> Self {
        SccMap(scc::HashMap::with_hasher(hasher()))
    }
    fn prefill(&self, parent: usize, id: u64, value: u64) {
        let _ = self.0.insert_sync((parent, id), value);
    }
    fn pin(&self) -> &Self {
        self
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn quiesce(&self) {
        quiesce_sdd();
    }
}

/// `scc::HashIndex`: lock-free reads (`peek`), writers lock a bucket.
pub(crate) struct SccIndex(scc::HashIndex<Key, u64, Hasher>);

impl Ops for SccIndex {
    #[inline]
    fn get(&self, parent: usize, id: u64) -> Option<u64> {
        self.0.peek_with(&(parent, id), |_, v| *v)
    }
    fn alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> bool {
        if self.get(parent, id).is_some() {
            return false;
        }
        self.insert_locked(parent, id, ctor)
    }
    fn get_or_alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> u64 {
        if let Some(v) = self.get(parent, id) {
            return v;
        }
        self.get_or_insert_locked(parent, id, ctor)
    }
    fn free(&self, parent: usize, id: u64) -> bool {
        self.0.remove_sync(&(parent, id))
    }
}

impl SccIndex {
    /// `alloc` after its lock-free look missed: the bucket lock decides.
    fn insert_locked(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> bool {
        match self.0.entry_sync((parent, id)) {
            scc::hash_index::Entry::Occupied(_) => false,
            scc::hash_index::Entry::Vacant(v) => {
                v.insert_entry(ctor());
                true
            }
        }
    }
    /// `get_or_alloc` after its lock-free look missed.
    fn get_or_insert_locked(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> u64 {
        *self.0.entry_sync((parent, id)).or_insert_with(ctor).get()
    }
}

/// `scc::HashIndex` with one `scc::Guard` held for a batch of `peek`s.
pub(crate) struct SccIndexGuard<'a> {
    map: &'a SccIndex,
    guard: scc::Guard,
}

impl Ops for SccIndexGuard<'_> {
    #[inline]
    fn get(&self, parent: usize, id: u64) -> Option<u64> {
        self.map.0.peek(&(parent, id), &self.guard).copied()
    }
    fn alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> bool {
        if self.get(parent, id).is_some() {
            return false;
        }
        self.map.insert_locked(parent, id, ctor)
    }
    fn get_or_alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> u64 {
        if let Some(v) = self.get(parent, id) {
            return v;
        }
        self.map.get_or_insert_locked(parent, id, ctor)
    }
    fn free(&self, parent: usize, id: u64) -> bool {
        self.map.free(parent, id)
    }
}

impl Backend for SccIndex {
    const NAME: &'static str = "scc HashIndex";
    const PINNED_NAME: Option<&'static str> = Some("scc HashIndex guard x64");
    type Pinned<'a> = SccIndexGuard<'a>;
    fn new() -> Self {
        SccIndex(scc::HashIndex::with_hasher(hasher()))
    }
    fn prefill(&self, parent: usize, id: u64, value: u64) {
        let _ = self.0.insert_sync((parent, id), value);
    }
    fn pin(&self) -> SccIndexGuard<'_> {
        SccIndexGuard {
            map: self,
            guard: scc::Guard::new(),
        }
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn quiesce(&self) {
        quiesce_sdd();
    }
}

// --------------------------------------------------------------------- floor

/// Unsynchronized std `HashMap` with the same hasher: the floor for lookup
/// latency. Read-only after construction.
pub(crate) struct Floor(pub(crate) HashMap<Key, u64, Hasher>);

impl Floor {
    /// Empty, no capacity hint (grown by insertion like every other map).
    pub(crate) fn new() -> Self {
        Floor(HashMap::with_hasher(hasher()))
    }
}

impl Ops for Floor {
    #[inline]
    fn get(&self, parent: usize, id: u64) -> Option<u64> {
        self.0.get(&(parent, id)).copied()
    }
    fn alloc(&self, _: usize, _: u64, _: impl FnOnce() -> u64) -> bool {
        unreachable!("the floor is read-only")
    }
    fn get_or_alloc(&self, _: usize, _: u64, _: impl FnOnce() -> u64) -> u64 {
        unreachable!("the floor is read-only")
    }
    fn free(&self, _: usize, _: u64) -> bool {
        unreachable!("the floor is read-only")
    }
}

/// Unsynchronized std `HashMap` with every value in a `Box` of its own, same
/// hasher: what std's table costs once its values never move (SPEC 2.7: a
/// hit reads the slot, then the value it points to), with no
/// synchronization at all. A reference row for the latency section, not a
/// peer: the gap between it and [`Floor`] is the price of stable addresses,
/// the gap between shadow-vars and it is everything else. Read-only after
/// construction.
pub(crate) struct BoxedFloor(pub(crate) HashMap<Key, Box<u64>, Hasher>);

impl BoxedFloor {
    pub(crate) const NAME: &'static str = "HashMap<_, Box> (ref)";

    /// Empty, no capacity hint (grown by insertion like every other map).
    pub(crate) fn new() -> Self {
        BoxedFloor(HashMap::with_hasher(hasher()))
    }
}

impl Ops for BoxedFloor {
    #[inline]
    fn get(&self, parent: usize, id: u64) -> Option<u64> {
        self.0.get(&(parent, id)).map(|v| **v)
    }
    fn alloc(&self, _: usize, _: u64, _: impl FnOnce() -> u64) -> bool {
        unreachable!("the boxed floor is read-only")
    }
    fn get_or_alloc(&self, _: usize, _: u64, _: impl FnOnce() -> u64) -> u64 {
        unreachable!("the boxed floor is read-only")
    }
    fn free(&self, _: usize, _: u64) -> bool {
        unreachable!("the boxed floor is read-only")
    }
}
