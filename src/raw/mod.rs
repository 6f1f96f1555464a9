//! The raw core: a sharded table of type-erased entries, with the creation,
//! lookup and removal protocols. The public types in `crate::map`,
//! `crate::pinned` and `crate::shadow` are thin wrappers over [`RawMap`].
//!
//! * `entry.rs`: an entry and its initialization state machine;
//! * `table.rs`: one shard's open-addressing table of entry pointers;
//! * `shard.rs`: a shard (table, writer lock, waiters), growth and shrinking;
//! * `slab.rs`: the chunks a shard's small entries are allocated from;
//! * `constructing.rs`: re-entrancy detection for constructors;
//! * `ids.rs`: per-shard counts of entries per id (for `free_parent`, `free_all`);
//! * `pin.rs`: borrowed or owned epoch pins (owned ones unpin while blocked);
//! * `reclaim.rs`: flushes that keep reclamation up with many frees per pin;
//! * `iter.rs`: iteration over one id.
//!
//! Every operation takes a pinned `&Guard`; references it returns live as
//! long as that guard.

mod constructing;
mod entry;
mod ids;
mod iter;
mod pin;
mod reclaim;
mod shard;
mod slab;
mod table;

use core::marker::PhantomData;

use crossbeam_epoch::Guard;
use crossbeam_utils::CachePadded;

use self::entry::{Entry, EntryHeader, Meta, state};
pub(crate) use self::iter::Iter;
pub(crate) use self::pin::PinRef;
use self::shard::{Shard, slots_for};
use self::slab::SlabRef;
#[cfg(test)]
pub(crate) use self::table::home_slot;
use self::table::{Hit, Probe};
use crate::key::{Key, KeyHasher};
use crate::sync;

/// What a creator does when the key already exists.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    /// `get_or_alloc`: return the existing value.
    GetOrCreate,
    /// `alloc`: fail with `Exists`.
    CreateOnly,
}

/// Why a creation returned no new value.
#[derive(Debug)]
pub(crate) enum CreateError<E> {
    /// The key exists (only in `Mode::CreateOnly`).
    Exists,
    /// The constructor returned this error; nothing was inserted.
    Ctor(E),
}

pub(crate) struct RawMap {
    shards: Box<[CachePadded<Shard>]>,
    shard_mask: usize,
    hasher: KeyHasher,
}

/// A key with its shard and hash: what [`RawMap::locate`] computes and every
/// keyed operation takes.
#[derive(Clone, Copy)]
pub(crate) struct Located<'m> {
    key: Key,
    shard: &'m Shard,
    hash: u64,
}

impl Located<'_> {
    /// Asks the CPU to start loading the key's home slot (its control byte
    /// and pointer) in the shard's current table. For callers that are about
    /// to pin: `crossbeam_epoch::pin` ends in a locked instruction that no
    /// later load may pass, and a prefetch issued before it is not held back
    /// by it, so the slot's cache misses overlap the pin instead of
    /// following it. Reads nothing the lookup depends on (see
    /// [`Shard::prefetch_home`]).
    #[inline(always)]
    pub(crate) fn prefetch(self) -> Self {
        self.shard.prefetch_home(self.hash);
        self
    }
}

impl RawMap {
    /// A map of `shards` shards (rounded up to a power of two) sized for
    /// `capacity` entries without growing.
    ///
    /// # Panics
    /// If `capacity` cannot be represented as a table size.
    pub(crate) fn new(shards: usize, capacity: usize) -> RawMap {
        let shards = shards.clamp(1, 1 << 16).next_power_of_two();
        let hasher = KeyHasher::new(sync::random_seed());
        let per_shard = slots_for(capacity.div_ceil(shards));
        RawMap {
            shards: (0..shards)
                .map(|_| CachePadded::new(Shard::new(per_shard, hasher)))
                .collect(),
            shard_mask: shards - 1,
            hasher,
        }
    }

    pub(crate) fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// This map's identity for re-entrancy checks.
    fn addr(&self) -> usize {
        self as *const RawMap as usize
    }

    /// Where `key` lives: its shard (chosen by the parent alone) and its full
    /// hash. Every keyed operation starts here.
    #[inline(always)]
    pub(crate) fn locate(&self, key: Key) -> Located<'_> {
        let ph = self.hasher.parent_hash(key.parent);
        Located {
            key,
            shard: self.shard_of(ph),
            hash: self.hasher.key_hash(ph, key.id),
        }
    }

    /// Whether `shard` is one of this map's (debug checks of `Located`).
    fn holds(&self, shard: &Shard) -> bool {
        let first: *const Shard = &*self.shards[0];
        let offset = (shard as *const Shard).addr().wrapping_sub(first.addr());
        let i = offset / size_of::<CachePadded<Shard>>();
        i < self.shards.len() && core::ptr::eq(&*self.shards[i], shard)
    }

    /// The index of the shard holding `parent`'s variables (for models that
    /// place keys on purpose).
    #[cfg(shadow_vars_loom)]
    pub(crate) fn shard_of_parent(&self, parent: usize) -> usize {
        KeyHasher::shard_index(self.hasher.parent_hash(parent), self.shard_mask)
    }

    /// The shard of a parent, from the parent's hash.
    #[inline(always)]
    fn shard_of(&self, parent_hash: u64) -> &Shard {
        let i = KeyHasher::shard_index(parent_hash, self.shard_mask);
        debug_assert!(i < self.shards.len());
        // SAFETY: `shards.len() == shard_mask + 1` (both set in `new`).
        unsafe { self.shards.get_unchecked(i) }
    }

    /// The value of `key`, if it exists (is `READY`). Lock-free: one table
    /// load and a probe; never waits (an entry whose constructor is still
    /// running is reported absent).
    ///
    /// # Panics
    /// If the entry holds a type other than `T`.
    #[inline(always)]
    pub(crate) fn get<'g, T: Send + Sync + 'static>(
        &self,
        at: Located<'_>,
        guard: &'g Guard,
    ) -> Option<&'g T> {
        let Located { key, shard, hash } = at;
        debug_assert!(self.holds(shard), "a key located in another map");
        let Hit { entry: e, meta, .. } = shard.table(guard).find(hash, key)?;
        if meta.is_ready_as::<T>() {
            // SAFETY: READY as `T`, seen with Acquire (value initialized and
            // visible); the entry outlives `guard` (retired via the epoch).
            return Some(unsafe { Entry::<T>::value(e) });
        }
        check_type::<T>(key, meta);
        None
    }

    /// `get_or_alloc` / `alloc`: the existing value or a new one from `ctor`,
    /// which runs at most once per successful creation, outside every lock
    /// (and unpinned, if `pin` is owned).
    #[inline]
    pub(crate) fn get_or_create<'g, T, E>(
        &self,
        at: Located<'_>,
        pin: impl PinRef<'g>,
        mode: Mode,
        ctor: impl FnOnce() -> Result<T, E>,
    ) -> Result<&'g T, CreateError<E>>
    where
        T: Send + Sync + 'static,
    {
        let Located { key, shard, hash } = at;
        debug_assert!(self.holds(shard), "a key located in another map");
        // Fast path: an existing READY entry; no lock, no allocation, no CAS.
        let found = shard.table(pin.guard()).find(hash, key);
        if let Some(Hit { entry: e, meta, .. }) = found
            && meta.is_ready_as::<T>()
        {
            // SAFETY: READY as `T`, seen with Acquire; `pin` lives for 'g.
            return unsafe { existing(e, mode) };
        }
        self.create_slow(shard, hash, key, found, pin, mode, ctor)
    }

    /// `get_or_create` past its fast path, given what its lookup `found`
    /// (absent, `INIT`, or `READY` as another type), under the same pin.
    #[allow(clippy::too_many_arguments)]
    fn create_slow<'g, T, E>(
        &self,
        shard: &Shard,
        hash: u64,
        key: Key,
        found: Option<Hit>,
        mut pin: impl PinRef<'g>,
        mode: Mode,
        ctor: impl FnOnce() -> Result<T, E>,
    ) -> Result<&'g T, CreateError<E>>
    where
        T: Send + Sync + 'static,
    {
        let owned = match self.link_new::<T>(shard, hash, key, found, &mut pin, |_| {}) {
            Linked::New(entry) => entry,
            // SAFETY: READY as `T`, seen with Acquire; `pin` lives for 'g.
            Linked::Existing(e) => return unsafe { existing(e, mode) },
        };

        // We own `owned`: INIT, linked, changed by no one else but waiters
        // setting WAITING, retired by no one else. So it stays valid while
        // we are unpinned. Run the constructor with no lock held.
        let frame = constructing::Frame::new(self.addr(), key);
        let _constructing = constructing::enter(&frame);
        let mut failure = FailedInit {
            shard,
            hash,
            key,
            entry: owned,
            armed: true,
        };
        let made = pin.unpinned(ctor);
        match made {
            Ok(value) => {
                failure.armed = false;
                // SAFETY: we own the INIT `Entry<T>` `owned`.
                unsafe { Entry::<T>::write_value(owned, value) };
                // SAFETY: we own `owned`, linked and live.
                let h = unsafe { &*owned };
                // Pinned again before publishing: once READY, another thread
                // may free and retire the entry, but not reclaim it under
                // our pin.
                if h.resolve_init(state::READY) {
                    shard.wake_waiters(pin.guard());
                }
                // SAFETY: we wrote the value; the entry outlives `pin` ('g).
                Ok(unsafe { Entry::<T>::value(owned) })
            }
            // `failure` unlinks the entry when dropped (here, or on unwind).
            Err(e) => Err(CreateError::Ctor(e)),
        }
    }

    /// `insert`: links a new entry holding `value`, already `READY`, unless
    /// `key` exists (then `value` comes back). Waits for a running
    /// constructor of `key`, as `alloc` does: if it fails, this creates.
    /// No constructor runs, so there is no `INIT` state to publish the end
    /// of: one lock and no swap, where a creation with a constructor takes
    /// the lock and then resolves its entry with an atomic swap.
    pub(crate) fn insert<'g, T: Send + Sync + 'static>(
        &self,
        at: Located<'_>,
        mut pin: impl PinRef<'g>,
        value: T,
    ) -> Result<&'g T, T> {
        let Located { key, shard, hash } = at;
        debug_assert!(self.holds(shard), "a key located in another map");
        let found = shard.table(pin.guard()).find(hash, key);
        let mut value = Some(value);
        let made = self.link_new::<T>(shard, hash, key, found, &mut pin, |entry| {
            let value = value.take().expect("linked once");
            // SAFETY: `entry` is a fresh `Entry<T>`, not linked yet.
            unsafe { Entry::<T>::make_ready_unpublished(entry, value) };
        });
        match made {
            // SAFETY: READY with our value; linked under our pin, so it
            // outlives the pin ('g) even if freed at once by another thread.
            Linked::New(entry) => Ok(unsafe { Entry::<T>::value(entry) }),
            Linked::Existing(_) => Err(value.take().expect("not linked")),
        }
    }

    /// The loop every creation shares: given the caller's lock-free look
    /// (`found`), returns an existing `READY` entry of `key` holding a `T`,
    /// or links a new `Entry<T>` for it and returns it, the shard lock
    /// released again. A running constructor of `key` is waited for (then
    /// the key is looked up again); a key linked by someone else between the
    /// look and the lock is looked at again too. The new entry is written
    /// `INIT` under the lock, into a block of the shard's stash (a boxed
    /// entry, too large for the slab, is allocated before the lock and kept
    /// across retries), and `prepare` may change it before it is linked.
    fn link_new<'g, T: Send + Sync + 'static>(
        &self,
        shard: &Shard,
        hash: u64,
        key: Key,
        found: Option<Hit>,
        pin: &mut impl PinRef<'g>,
        prepare: impl FnOnce(*mut EntryHeader),
    ) -> Linked {
        // A boxed entry not linked yet, freed if we end up not linking it.
        let mut spare = Spare::<T>(None, shard.slab().handle(), PhantomData);
        // The caller's lookup serves the first round; every retry looks again.
        let mut first = Some(found);
        loop {
            let found = first
                .take()
                .unwrap_or_else(|| shard.table(pin.guard()).find(hash, key));
            if let Some(Hit { entry: e, meta, .. }) = found {
                if meta.is_ready_as::<T>() {
                    return Linked::Existing(e);
                }
                check_type::<T>(key, meta);
                // `find` never returns DEAD, and READY-as-T was handled: INIT.
                debug_assert!(meta.is_init());
                // SAFETY: found by `find` under this pin, unbroken since.
                unsafe { self.wait(shard, e, key, pin) };
                continue;
            }
            if !Entry::<T>::IN_SLAB && spare.0.is_none() {
                spare.0 = Some(Entry::<T>::new_init(key, |_| unreachable!()));
            }
            let mut w = shard.write(pin.guard());
            if let Probe::Vacant {
                index,
                reuses_tombstone,
            } = w.probe(hash, key)
            {
                // Growth first: if the table cannot grow, this panics before
                // an entry is taken or a value moved into one.
                let (index, reuses) = w.make_room(index, reuses_tombstone, hash, key);
                let entry = match spare.0.take() {
                    Some(e) => e,
                    None => Entry::<T>::new_init(key, |class| w.block(class)),
                };
                prepare(entry);
                w.link(index, reuses, hash, key, entry);
                return Linked::New(entry);
            }
            // Linked by someone else since our lock-free look: go back and
            // look at it without the lock.
        }
    }

    /// Waits for the `INIT` entry `e` of `key` to be resolved (unpinned while
    /// parked, if `pin` is owned), or panics if this thread is the one
    /// constructing it. The caller retries its operation afterwards.
    ///
    /// `e` comes as a pointer, not a reference: once unpinned, the entry may
    /// be freed before this returns (its constructor failed, and the epoch
    /// moved on), and a reference argument must stay valid for the whole
    /// call (Miri's Tree Borrows reports the free as undefined behaviour).
    ///
    /// # Safety
    /// `e` was seen linked while `pin` was pinned, and `pin` has stayed
    /// pinned since.
    unsafe fn wait<'g>(
        &self,
        shard: &Shard,
        e: *const EntryHeader,
        key: Key,
        pin: &mut impl PinRef<'g>,
    ) {
        if constructing::is_constructing(self.addr(), key) {
            panic!(
                "recursive initialization of shadow variable {key}: its constructor \
                 asked the map for its own (parent, id), which can never be ready"
            );
        }
        // SAFETY: still pinned since `e` was seen linked (by the caller), so
        // it is allocated; the reference ends with this call, before the
        // unpinned park.
        if let Some(ticket) = shard.register_wait(unsafe { &*e }) {
            pin.unpinned(|| shard.park(ticket));
        }
    }

    /// Removes `key`, runs `dtor` on its value (no lock held), and retires
    /// it. Waits for a running constructor of `key`. Returns whether a value
    /// was freed.
    pub(crate) fn free<'g, T: Send + Sync + 'static>(
        &self,
        at: Located<'_>,
        mut pin: impl PinRef<'g>,
        dtor: impl FnOnce(&T),
    ) -> bool {
        let Located { key, shard, hash } = at;
        debug_assert!(self.holds(shard), "a key located in another map");
        // Lock-free look first: freeing an absent key takes no lock. Like a
        // `get` that finds nothing, it linearizes at the probe's end (a
        // `DEAD` entry, being freed by someone else, counts as absent).
        let Some(hit) = shard.table(pin.guard()).find(hash, key) else {
            return false;
        };
        // What the look found, while this pin (taken before it) is unbroken.
        let mut unbroken = Some(hit);
        loop {
            let mut w = shard.write(pin.guard());
            // Under the lock, the look's slot is reused if it still holds
            // the entry (the common case); else the writers' probe decides.
            let (index, e) = match unbroken.take() {
                Some(hit) if w.table().still_holds(&hit) => (hit.index, hit.entry),
                _ => match w.probe(hash, key) {
                    Probe::Vacant { .. } => return false,
                    Probe::Found { index, entry } => (index, entry),
                },
            };
            // SAFETY: linked in the current table, under the lock: live.
            let h = unsafe { &*e };
            let meta = h.meta();
            if meta.is_init() {
                drop(w);
                // SAFETY: seen linked under the lock, pinned since.
                unsafe { self.wait(shard, e, key, &mut pin) };
                continue;
            }
            if !meta.holds::<T>() {
                drop(w);
                type_mismatch::<T>(key, meta);
            }
            h.mark_dead();
            w.unlink(index, key.id);
            w.maybe_shrink();
            drop(w);
            // SAFETY: unlinked just now by us (so retired once); READY, so
            // initialized. Retiring before `dtor` runs is safe: we stay
            // pinned, and it keeps a panicking `dtor` from leaking the entry.
            unsafe { EntryHeader::retire(e, true, shard.slab(), pin.guard()) };
            // SAFETY: READY as `T`; alive while we are pinned.
            dtor(unsafe { Entry::<T>::value(e) });
            reclaim::retired(1, pin.guard());
            return true;
        }
    }

    /// Frees every `READY` entry with `id`, shard by shard, running `dtor` on
    /// each with no lock held. Entries whose constructor is still running
    /// are skipped (their creation completes after this call's visit).
    ///
    /// # Panics
    /// If an entry with `id` holds another type than `T` and `others` is
    /// [`OtherTypes::Panic`] (entries of shards visited before are freed;
    /// the offending shard is left untouched).
    pub(crate) fn free_all<T: Send + Sync + 'static>(
        &self,
        id: u64,
        others: OtherTypes,
        guard: &Guard,
        mut dtor: impl FnMut(usize, &T),
    ) -> usize {
        let mut freed = 0;
        let (mut picked, mut unlinked) = (Vec::new(), Vec::new());
        for shard in self.shards.iter() {
            let mut mismatch = None;
            let mut w = shard.write(guard);
            if !w.has_id(id) {
                continue;
            }
            // One pass picks the entries to free and checks their type, and
            // only those are unlinked, so a mismatch leaves the shard as is.
            // Only what it saw `READY` qualifies: under the lock a `READY`
            // entry stays `READY`, but an `INIT` one may be published
            // (outside the lock) at any moment, with any type, and a second
            // look at the states could unlink a value that was never checked.
            picked.clear();
            for (index, e) in w.table().entries() {
                // SAFETY: under the lock, linked entries are live.
                let h = unsafe { &*e };
                let meta = h.meta();
                if h.id != id || meta.is_init() {
                    continue;
                }
                if !meta.holds::<T>() {
                    if others == OtherTypes::Skip {
                        continue;
                    }
                    mismatch = Some((h.key(), meta));
                    break;
                }
                picked.push((index, e));
            }
            if mismatch.is_none() {
                for (index, e) in picked.drain(..) {
                    // SAFETY: linked and `READY` (picked above, lock held).
                    unsafe { &*e }.mark_dead();
                    w.unlink(index, id);
                    unlinked.push(e);
                }
                w.maybe_shrink();
            }
            drop(w);
            if let Some((key, meta)) = mismatch {
                type_mismatch::<T>(key, meta);
            }
            let n = unlinked.len();
            for &e in &unlinked {
                // SAFETY: unlinked by us (retired once), READY.
                unsafe { EntryHeader::retire(e, true, shard.slab(), guard) };
            }
            for e in unlinked.drain(..) {
                // SAFETY: READY as `T` (picked above); alive while pinned.
                let (parent, value) = unsafe { ((*e).parent, Entry::<T>::value(e)) };
                freed += 1;
                dtor(parent, value);
            }
            reclaim::retired(n, guard);
        }
        freed
    }

    /// Frees every variable of `parent`, any id, any type. Looks up each id
    /// in use in the parent's shard: no scan of the table. Waits for running
    /// constructors of this parent, so that nothing of it is left behind.
    pub(crate) fn free_parent<'g>(&self, parent: usize, mut pin: impl PinRef<'g>) -> usize {
        let ph = self.hasher.parent_hash(parent);
        let shard = self.shard_of(ph);
        let mut freed = 0;
        loop {
            let mut unlinked = Vec::new();
            // A running constructor to wait for: its entry, key, and whether
            // it is this thread's own.
            let mut in_flight: Option<(*const EntryHeader, Key, bool)> = None;
            let mut w = shard.write(pin.guard());
            for id in w.ids() {
                let key = Key { parent, id };
                let hash = self.hasher.key_hash(ph, id);
                if let Probe::Found { index, entry } = w.probe(hash, key) {
                    // SAFETY: under the lock, linked entries are live.
                    let h = unsafe { &*entry };
                    if h.meta().is_init() {
                        // Wait for one running constructor, then look again;
                        // this thread's own comes first, so that `wait`
                        // panics at once instead of waiting on another
                        // thread's constructor, which may be waiting on ours.
                        let ours = constructing::is_constructing(self.addr(), key);
                        if ours || in_flight.is_none_or(|(_, _, o)| !o) {
                            in_flight = Some((entry, key, ours));
                        }
                    } else {
                        h.mark_dead();
                        w.unlink(index, id);
                        unlinked.push(entry);
                    }
                }
            }
            w.maybe_shrink();
            drop(w);
            let n = unlinked.len();
            freed += n;
            for e in unlinked {
                // SAFETY: unlinked by us (retired once), READY.
                unsafe { EntryHeader::retire(e, true, shard.slab(), pin.guard()) };
            }
            reclaim::retired(n, pin.guard());
            match in_flight {
                // SAFETY: seen linked under the lock, pinned since.
                Some((e, key, _)) => unsafe { self.wait(shard, e, key, &mut pin) },
                None => return freed,
            }
        }
    }

    /// Linked entries: `READY` ones and those whose constructor is running
    /// (a sum over shards, each read under its lock; exact when no one
    /// writes).
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.linked_len()).sum()
    }

    /// The `READY` entries with `id` (weakly consistent; see `Iter`).
    pub(crate) fn iter<'g, T: Send + Sync + 'static>(
        &'g self,
        id: u64,
        guard: &'g Guard,
    ) -> Iter<'g, T> {
        Iter::new(&self.shards, id, guard)
    }
}

/// What a creator returns for an existing entry: its value
/// (`get_or_alloc`), or `Exists` (`alloc`).
///
/// # Safety
/// `e` is `READY` as `T` (seen with Acquire) and outlives `'g`.
#[inline(always)]
unsafe fn existing<'g, T: Send + Sync + 'static, E>(
    e: *const EntryHeader,
    mode: Mode,
) -> Result<&'g T, CreateError<E>> {
    match mode {
        // SAFETY: by the caller.
        Mode::GetOrCreate => Ok(unsafe { Entry::<T>::value(e) }),
        Mode::CreateOnly => Err(CreateError::Exists),
    }
}

/// What [`RawMap::free_all`] does on an entry of its id that holds another
/// type than the one asked for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum OtherTypes {
    /// Panics (the typed API: an id used with two types is a bug).
    Panic,
    /// Leaves it linked (the C ABI: Rust code may use the id too).
    Skip,
}

/// How [`RawMap::link_new`] ended.
enum Linked {
    /// A new entry of ours, linked (the lock released again).
    New(*mut EntryHeader),
    /// The key's existing entry, `READY` and holding the caller's type (seen
    /// with Acquire, under the caller's pin).
    Existing(*const EntryHeader),
}

/// An entry allocated before the lock for a creation attempt (a boxed one:
/// slab entries are written under the lock) but not (yet) linked.
struct Spare<T: Send + Sync + 'static>(
    Option<*mut EntryHeader>,
    SlabRef,
    core::marker::PhantomData<fn() -> T>,
);

impl<T: Send + Sync + 'static> Drop for Spare<T> {
    fn drop(&mut self) {
        if let Some(e) = self.0.take() {
            // SAFETY: allocated with this slab, never linked, so never seen
            // by anyone.
            unsafe { Entry::<T>::free_unpublished(e, self.1) };
        }
    }
}

/// Undoes a creation whose constructor failed or panicked: unlinks the
/// `INIT` entry, resolves it `DEAD`, wakes its waiters (one of them retries
/// as the new creator) and retires it. Disarmed on success.
struct FailedInit<'a> {
    shard: &'a Shard,
    hash: u64,
    key: Key,
    entry: *mut EntryHeader,
    armed: bool,
}

impl Drop for FailedInit<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // Our own pin (nested, so cheap, if the caller is pinned): the
        // caller's may be borrowed by the unwinding constructor call. Taken
        // before the lock, like every pin.
        let guard = &crossbeam_epoch::pin();
        let mut w = self.shard.write(guard);
        match w.probe(self.hash, self.key) {
            Probe::Found { index, entry } if entry == self.entry.cast_const() => {
                w.unlink(index, self.key.id);
            }
            _ => unreachable!("an INIT entry was unlinked by someone other than its owner"),
        }
        // Resolve under the lock, after unlinking: a woken waiter must find
        // the key absent, not a DEAD entry still linked.
        // SAFETY: we own the entry; it is live.
        let had_waiters = unsafe { &*self.entry }.resolve_init(state::DEAD);
        if had_waiters {
            w.bump_wakeups();
        }
        w.maybe_shrink();
        drop(w);
        if had_waiters {
            self.shard.notify_parked();
        }
        // SAFETY: unlinked by us, once; its value was never initialized.
        unsafe { EntryHeader::retire(self.entry, false, self.shard.slab(), guard) };
    }
}

/// Panics unless the entry described by `meta` holds a `T`.
#[inline]
fn check_type<T: Send + Sync + 'static>(key: Key, meta: Meta) {
    if !meta.holds::<T>() {
        type_mismatch::<T>(key, meta);
    }
}

#[cold]
#[inline(never)]
fn type_mismatch<T>(key: Key, meta: Meta) -> ! {
    panic!(
        "shadow variable type mismatch: id {:#x} (key {key}) holds a `{}`, but was accessed as `{}`",
        key.id,
        (meta.vtable().type_name)(),
        core::any::type_name::<T>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Located` carries a shard reference; handing one to another map
    /// is a bug that debug builds catch.
    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "a key located in another map")]
    fn a_key_located_in_another_map_is_caught() {
        let (a, b) = (RawMap::new(4, 0), RawMap::new(4, 0));
        let key = Key {
            parent: 0x1000,
            id: 1,
        };
        let _ = a.get::<u64>(b.locate(key), &crossbeam_epoch::pin());
    }

    /// Parents spaced like heap objects must spread over shards and slots:
    /// with a random hash, linear probing at load `a` displaces a key by
    /// `(1 / (1 - a) - 1) / 2` slots on average (Knuth); clustering from a
    /// weak hash would show here long before it shows in a benchmark.
    #[test]
    fn keys_spread_over_shards_and_slots() {
        let map = RawMap::new(8, 0);
        let guard = &crossbeam_epoch::pin();
        let n = if cfg!(miri) { 400 } else { 70_000 };
        let key = |i: usize| Key {
            parent: 0x1000_0000 + i * 64,
            id: 1,
        };
        for i in 0..n {
            map.get_or_create(map.locate(key(i)), guard, Mode::CreateOnly, || {
                Ok::<usize, ()>(i)
            })
            .unwrap();
        }
        let mut displacement = 0usize;
        let mut expected = 0.0;
        for i in 0..n {
            let Located { shard, hash, .. } = map.locate(key(i));
            let t = shard.table(guard);
            let load = shard.linked_len() as f64 / t.capacity() as f64;
            expected += (1.0 / (1.0 - load) - 1.0) / 2.0;
            let home = t.home(hash);
            let d = (0..t.capacity())
                .find(|&d| {
                    t.entry_at((home + d) % t.capacity())
                        // SAFETY: pinned; linked entries are live.
                        .is_some_and(|e| unsafe { (*e).parent } == key(i).parent)
                })
                .expect("every key is linked");
            displacement += d;
        }
        let (avg, expected) = (displacement as f64 / n as f64, expected / n as f64);
        assert!(
            avg < expected * 1.25 + 0.05,
            "average displacement {avg:.2}, {expected:.2} expected"
        );
        let per_shard: Vec<usize> = map.shards.iter().map(|s| s.linked_len()).collect();
        let (min, max) = (
            per_shard.iter().min().unwrap(),
            per_shard.iter().max().unwrap(),
        );
        assert!(max - min < n / 8, "shard sizes {per_shard:?}");
    }

    /// While a map only grows, every table stays between half and three
    /// quarters full (past its minimum size): slots (9 bytes each) cost at
    /// most 18 bytes per entry, and probes always meet an `EMPTY` slot.
    #[test]
    fn growing_tables_stay_between_half_and_three_quarters_full() {
        let map = RawMap::new(1, 0);
        let guard = &crossbeam_epoch::pin();
        let n = if cfg!(miri) { 300 } else { 50_000 };
        for i in 0..n {
            let key = Key {
                parent: 0x1000_0000 + i * 64,
                id: 1,
            };
            map.get_or_create(map.locate(key), guard, Mode::CreateOnly, || {
                Ok::<usize, ()>(i)
            })
            .unwrap();
            let cap = map.shards[0].table(guard).capacity();
            let live = i + 1;
            assert!(live * 4 <= cap * 3, "{live} entries in {cap} slots");
            assert!(
                cap <= (2 * live).max(table::MIN_CAPACITY),
                "{live} entries in {cap} slots"
            );
        }
    }

    /// Emptied by every way of freeing (`free`, `free_all`, `free_parent`,
    /// failed constructors), a map gives back what its entries took: once
    /// the epoch has run the deferred frees, no slab block is out and every
    /// table is back to its smallest size (chunks are freed with their last
    /// block, see slab.rs).
    #[test]
    fn an_emptied_map_gives_everything_back() {
        let map = RawMap::new(4, 0);
        let n = if cfg!(miri) { 100 } else { 20_000 };
        let parent = |i: usize| 0x1000_0000 + i * 64;
        {
            let guard = &crossbeam_epoch::pin();
            for i in 0..n {
                let at = |id| {
                    map.locate(Key {
                        parent: parent(i),
                        id,
                    })
                };
                let mode = Mode::CreateOnly;
                // 32- and 64-byte slab blocks, a boxed entry, a failure.
                map.get_or_create(at(1), guard, mode, || Ok::<_, ()>(i as u64))
                    .unwrap();
                map.get_or_create(at(2), guard, mode, || Ok::<_, ()>([i as u64; 4]))
                    .unwrap();
                map.get_or_create(at(3), guard, mode, || Ok::<_, ()>([i as u64; 16]))
                    .unwrap();
                let failed = map.get_or_create(at(4), guard, mode, || Err::<u64, _>(()));
                assert!(matches!(failed, Err(CreateError::Ctor(()))));
            }
            assert_eq!(map.len(), 3 * n);
            for i in 0..n {
                let at = map.locate(Key {
                    parent: parent(i),
                    id: 1,
                });
                assert!(map.free::<u64>(at, guard, |_| ()));
            }
            let freed = map.free_all::<[u64; 4]>(2, OtherTypes::Panic, guard, |_, _| ());
            assert_eq!(freed, n);
            for i in 0..n {
                assert_eq!(map.free_parent(parent(i), guard), 1);
            }
        }
        assert_eq!(map.len(), 0);
        let start = std::time::Instant::now();
        loop {
            let out: usize = map.shards.iter().map(|s| s.slab().blocks_out()).sum();
            if out == 0 {
                break;
            }
            assert!(
                start.elapsed().as_secs() < 60,
                "{out} slab blocks still out"
            );
            crossbeam_epoch::pin().flush();
            std::thread::yield_now();
        }
        let guard = &crossbeam_epoch::pin();
        for shard in map.shards.iter() {
            assert_eq!(shard.table(guard).capacity(), table::MIN_CAPACITY);
        }
    }

    /// A map built with a capacity never shrinks below it: grown past
    /// it and emptied again by frees, its table is back to its initial size,
    /// not to the smallest class.
    #[test]
    fn frees_never_shrink_below_the_capacity_asked_for() {
        let map = RawMap::new(1, 1000);
        let guard = &crossbeam_epoch::pin();
        let initial = map.shards[0].table(guard).capacity();
        assert!(initial > table::MIN_CAPACITY);
        let at = |i: usize| {
            map.locate(Key {
                parent: 0x1000_0000 + i * 64,
                id: 1,
            })
        };
        let n = if cfg!(miri) { 1500 } else { 4000 };
        for i in 0..n {
            map.get_or_create(at(i), guard, Mode::CreateOnly, || Ok::<usize, ()>(i))
                .unwrap();
        }
        assert!(map.shards[0].table(guard).capacity() > initial);
        for i in 0..n {
            assert!(map.free::<usize>(at(i), guard, |_| ()));
            let cap = map.shards[0].table(guard).capacity();
            assert!(
                cap >= initial,
                "{cap} slots after a free, {initial} asked for"
            );
        }
        assert_eq!(map.shards[0].table(guard).capacity(), initial);
    }
}
