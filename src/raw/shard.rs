//! A shard: the current table, the writers' lock, and the parking lot for
//! threads waiting on an initializing entry.
//!
//! Readers never touch the lock: they load the current table (Acquire) and
//! probe it. Writers take the shard's lock for the short critical section
//! that links or unlinks one entry (never while a constructor, a destructor
//! or a `free_with` closure runs), and grow or shrink the table there by
//! building a new one and publishing it (readers of the old one are not
//! blocked: they finish on it, and it is retired through the epoch).

use std::panic::{self, AssertUnwindSafe};

use crossbeam_epoch::Guard;
use crossbeam_utils::CachePadded;

use super::entry::EntryHeader;
use super::ids::IdCounts;
use super::slab::{Slab, Stash};
use super::table::{Probe, Table, TableBlock, TableWord, capacity_at_least, capacity_at_most};
use crate::key::{Key, KeyHasher};
use crate::sync::{self, AtomicPtr, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering};

pub(crate) struct Shard {
    /// The current table (a `TableWord`: address and capacity in one word).
    /// Never null. Replaced only by the lock holder; read by everyone with
    /// Acquire (pairs with the Release publish in `ShardWriter::replace`).
    ///
    /// Alone in its cache line: every lookup reads it, and it changes only
    /// when a table is replaced, while the fields below change on every
    /// write (the lock word, the writers' counts). Sharing a line with them,
    /// each write would evict the word from every other core's cache, and
    /// their next lookups in this shard would miss on it.
    table: CachePadded<AtomicPtr<TableBlock>>,
    /// Everything only writers touch.
    writer: Mutex<WriterState>,
    /// Threads waiting for an `INIT` entry of this shard park here.
    parked: Condvar,
    /// Bumped under `writer` each time an `INIT` entry with registered
    /// waiters is resolved; a parked waiter leaves once it changed.
    wakeups: AtomicUsize,
    /// Where this shard's small entries are allocated.
    slab: Slab,
}

/// Writer-side bookkeeping, guarded by the shard lock.
struct WriterState {
    /// Entries linked in the current table (`INIT` or `READY`).
    occupied: usize,
    /// Tombstones in the current table.
    tombstones: usize,
    /// The table never shrinks below this (the capacity asked for).
    min_capacity: usize,
    /// Linked entries per id: lets `free_parent` probe each id in use
    /// instead of scanning, and `free_all` skip shards without the id.
    ids: IdCounts,
    /// The key hasher, for rebuilding tables.
    hasher: KeyHasher,
    /// Blocks taken from `slab` in a batch, for the next entries created
    /// here (see `ShardWriter::block`).
    stash: Stash,
}

impl Shard {
    pub(crate) fn new(capacity: usize, hasher: KeyHasher) -> Shard {
        Shard {
            table: CachePadded::new(AtomicPtr::new(Table::alloc(capacity))),
            writer: Mutex::new(WriterState {
                occupied: 0,
                tombstones: 0,
                min_capacity: capacity,
                ids: IdCounts::new(),
                hasher,
                stash: Stash::new(),
            }),
            parked: Condvar::new(),
            wakeups: AtomicUsize::new(0),
            slab: Slab::new(),
        }
    }

    /// The slab this shard's entries are allocated from.
    pub(crate) fn slab(&self) -> &Slab {
        &self.slab
    }

    /// Prefetches the home slot of `hash` in the current table; callers are
    /// not pinned yet. Relaxed: the word is only used as an address, never
    /// dereferenced (the table it names may be freed by the time the
    /// prefetch runs), so no ordering is needed; a stale word only makes the
    /// prefetch useless. Compiled out under loom, where the extra load would
    /// only multiply the interleavings explored.
    #[inline(always)]
    pub(crate) fn prefetch_home(&self, hash: u64) {
        #[cfg(not(shadow_vars_loom))]
        super::table::prefetch_home(self.table.load(Ordering::Relaxed), hash);
        #[cfg(shadow_vars_loom)]
        let _ = hash;
    }

    /// The current table, valid while `guard` is pinned.
    #[inline(always)]
    pub(crate) fn table<'g>(&self, _guard: &'g Guard) -> Table<'g> {
        let word = self.table.load(Ordering::Acquire);
        // The word always holds a table from `Table::alloc` (set at creation,
        // only replaced by new ones), and a replaced table is retired through
        // the epoch.
        // SAFETY: so the table outlives every guard that could load it ('g).
        unsafe { Table::from_word(word) }
    }

    /// Takes the writers' lock. The caller must already be pinned (never pin
    /// while holding the lock: crossbeam-epoch runs deferred drops inside
    /// `pin`, and a value's `Drop` may use the map).
    pub(crate) fn write<'a, 'g>(&'a self, guard: &'g Guard) -> ShardWriter<'a, 'g> {
        ShardWriter {
            shard: self,
            state: Some(sync::lock(&self.writer)),
            guard,
            retired: None,
        }
    }

    /// The entries linked in this shard (`READY`, or `INIT` with their
    /// constructor running), read under the writers' lock.
    ///
    /// There is no lock-free counter: one updated on every create and free
    /// was a cache line of its own that every writing thread took in turn
    /// (write-heavy at 2 threads: 4.3% faster without it, BENCHMARKS
    /// "Writes at two threads"). `occupied` sits with the lock, in lines the
    /// writer already holds.
    pub(crate) fn linked_len(&self) -> usize {
        sync::lock(&self.writer).occupied
    }

    /// First half of waiting for the `INIT` entry `h` (caller pinned, not
    /// `h`'s owner): spins `SPIN_LIMIT` times, then registers as a waiter.
    /// Returns the ticket to [`park`](Shard::park) with, or `None` if `h` was
    /// resolved meanwhile (nothing to wait for).
    ///
    /// No lost wake-up: the ticket is read before the registration CAS on
    /// `h.meta` (AcqRel), and the owner's resolving swap (AcqRel) reads that
    /// CAS or a later value, so the ticket read happens-before the owner's
    /// `wakeups` increment and cannot observe it. Either the waiter re-checks
    /// under the lock after the increment (and leaves), or it is waiting when
    /// the owner, after taking the lock, notifies.
    pub(crate) fn register_wait(&self, h: &EntryHeader) -> Option<usize> {
        for _ in 0..sync::SPIN_LIMIT {
            if !h.meta().is_init() {
                return None;
            }
            sync::spin_hint();
        }
        // Relaxed: ordered by the registration CAS below (see above).
        let ticket = self.wakeups.load(Ordering::Relaxed);
        h.register_waiter().then_some(ticket)
    }

    /// Second half of waiting: parks until an `INIT` entry of this shard with
    /// registered waiters is resolved after `ticket` was taken. Touches no
    /// entry, so the caller may be unpinned.
    pub(crate) fn park(&self, ticket: usize) {
        let mut state = sync::lock(&self.writer);
        // Relaxed: the lock orders this read after any increment made by a
        // previous holder.
        while self.wakeups.load(Ordering::Relaxed) == ticket {
            state = self.parked.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for Shard {
    fn drop(&mut self) {
        // Stashed blocks were never used: back to the slab, first (before any
        // value's `Drop`, which may panic).
        // SAFETY: the shard's stash holds only blocks of the shard's slab.
        unsafe { sync::lock(&self.writer).stash.give_back(&self.slab) };
        // Relaxed: `&mut self` means no other thread can reach this shard, and
        // whatever published the word happens-before our exclusive access.
        let word = self.table.load(Ordering::Relaxed);
        // SAFETY: the current table is live (see `table`).
        let table = unsafe { Table::from_word(word) };
        // Every entry linked in the current table of a map being dropped is
        // READY (constructors run inside `&self` calls, which have ended),
        // and is destroyed only here, once: first its value, then its memory.
        // A value's `Drop` may panic: the other values are still dropped and
        // every entry freed, and then the first panic goes on (as a slice's
        // elements are dropped), unless the thread is unwinding already.
        let (mut in_slab, mut boxed, mut first_panic) = (0, 0, None);
        for (_, e) in table.entries() {
            // A value whose `Drop` panicked counts as dropped, as with
            // `drop_in_place`.
            let dropped = panic::catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: as just said; freed below.
                unsafe { EntryHeader::drop_value_now(e.cast_mut()) }
            }));
            let slab_block = dropped.unwrap_or_else(|p| {
                first_panic.get_or_insert(p);
                // SAFETY: exclusive access; the entry is still allocated.
                unsafe { EntryHeader::in_slab(e) }
            });
            if slab_block {
                in_slab += 1;
            } else {
                boxed += 1;
            }
        }
        // If the table's entries are all the slab's blocks still out (no
        // deferred free of a retired entry is pending), the slab's chunks go
        // all at once instead of block by block. Nothing can change that
        // between here and `release_all`: this shard is ours, so no block can
        // be allocated, and no deferred free is pending to come back.
        let release_all = self.slab.blocks_out() == in_slab;
        if boxed > 0 || !release_all {
            for (_, e) in table.entries() {
                // SAFETY: exclusive access; the entry's value was dropped
                // above and the entry is freed once, here or (a slab block
                // whose slab is released whole) in `release_all`.
                unsafe {
                    if !(release_all && EntryHeader::in_slab(e)) {
                        EntryHeader::free_dropped(e.cast_mut(), &self.slab);
                    }
                }
            }
        }
        if release_all {
            // SAFETY: every block still out is an entry of this table, whose
            // values were dropped above and which nothing uses any more.
            unsafe { self.slab.release_all() };
        }
        // SAFETY: exclusive access; the current table is freed only here
        // (replaced ones were retired when replaced).
        unsafe { Table::free(word) };
        if let Some(p) = first_panic
            && !std::thread::panicking()
        {
            panic::resume_unwind(p);
        }
    }
}

/// The shard lock, held. Replaced tables are retired when it is released,
/// after the lock (so no deferred function can run under it).
pub(crate) struct ShardWriter<'a, 'g> {
    shard: &'a Shard,
    state: Option<MutexGuard<'a, WriterState>>,
    guard: &'g Guard,
    retired: Option<TableWord>,
}

impl<'g> ShardWriter<'_, 'g> {
    fn state(&mut self) -> &mut WriterState {
        self.state.as_mut().expect("shard lock held")
    }

    /// The current table (stable while the lock is held).
    pub(crate) fn table(&self) -> Table<'g> {
        self.shard.table(self.guard)
    }

    pub(crate) fn probe(&self, hash: u64, key: Key) -> Probe {
        self.table().probe(hash, key)
    }

    /// Whether any entry with `id` is linked in this shard.
    pub(crate) fn has_id(&mut self, id: u64) -> bool {
        self.state().ids.contains(id)
    }

    /// The ids with entries linked in this shard.
    pub(crate) fn ids(&mut self) -> Vec<u64> {
        self.state().ids.ids()
    }

    /// Makes room to link `key` at the vacant slot `probe_index` that
    /// `probe` returned: grows (or cleans) the table first if linking would
    /// leave too few `EMPTY` slots. Returns the slot to link at, and whether
    /// it reuses a tombstone, in the table that is current now. Called
    /// before the entry is allocated, so that a table which cannot grow
    /// (capacity overflow) panics with nothing to leak.
    pub(crate) fn make_room(
        &mut self,
        probe_index: usize,
        reuses_tombstone: bool,
        hash: u64,
        key: Key,
    ) -> (usize, bool) {
        let cap = self.table().capacity();
        let st = self.state();
        let used_after = st.occupied + st.tombstones + usize::from(!reuses_tombstone);
        // Keep a quarter of the slots EMPTY, so probes stay short and end.
        if used_after * MAX_LOAD.1 <= cap * MAX_LOAD.0 {
            return (probe_index, reuses_tombstone);
        }
        let live = st.occupied + 1;
        // Live entries over 5/8 of the table: grow to the largest class with
        // at most 2 slots per live entry. Classes step by at most 25%, so
        // that class holds at least 1.6 slots per entry: the new table is
        // between 1/2 and 5/8 full, and the next rebuild is at least cap/8
        // links away (amortised O(1) per link). Otherwise the tombstones are
        // the problem: rebuild at the same size.
        let new_cap = if live * 8 > cap * 5 {
            grown_capacity(live)
        } else {
            cap
        };
        self.replace(new_cap);
        match self.probe(hash, key) {
            Probe::Vacant {
                index,
                reuses_tombstone,
            } => (index, reuses_tombstone),
            Probe::Found { .. } => unreachable!("key linked while its creator held the lock"),
        }
    }

    /// Links a new entry for `key` (`INIT`, or `READY` for `insert`) at the
    /// slot that [`make_room`](Self::make_room) returned, with the lock held
    /// since.
    pub(crate) fn link(
        &mut self,
        index: usize,
        reuses: bool,
        hash: u64,
        key: Key,
        entry: *const EntryHeader,
    ) {
        debug_assert!(
            (self.state().occupied + self.state().tombstones + usize::from(!reuses)) * MAX_LOAD.1
                <= self.table().capacity() * MAX_LOAD.0,
            "link without make_room"
        );
        self.table().link(index, hash, entry);
        let st = self.state();
        st.occupied += 1;
        if reuses {
            st.tombstones -= 1;
        }
        st.ids.add(key.id);
    }

    /// Unlinks the entry at `index` (already marked `DEAD` or being resolved
    /// `DEAD` by its owner). Does not shrink: call `maybe_shrink` after a
    /// batch.
    pub(crate) fn unlink(&mut self, index: usize, id: u64) {
        let tombstones_added = self.table().unlink(index);
        let st = self.state();
        st.occupied -= 1;
        st.tombstones = st.tombstones.wrapping_add_signed(tombstones_added);
        st.ids.remove(id);
    }

    /// A block of slab class `class` for a new entry: from the stash,
    /// refilled from the slab when empty. Taking blocks in batches saves a
    /// slab lock per insert (measured: growth 6-24% faster, see
    /// `docs/BENCHMARKS.md`); the stash is given back when the shard empties.
    pub(crate) fn block(&mut self, class: usize) -> core::ptr::NonNull<u8> {
        let slab = &self.shard.slab;
        // SAFETY: the shard's stash holds only blocks of the shard's slab.
        unsafe { self.state().stash.take(slab, class) }
    }

    /// Shrinks the table once live entries fill under 1/8 of it, so that a
    /// map emptied by frees gives its memory back (down to its initial size).
    pub(crate) fn maybe_shrink(&mut self) {
        let cap = self.table().capacity();
        let slab = &self.shard.slab;
        let st = self.state();
        if st.occupied == 0 {
            // SAFETY: the shard's stash holds only blocks of the shard's slab.
            unsafe { st.stash.give_back(slab) };
        }
        if cap > st.min_capacity && st.occupied * 8 < cap {
            let new_cap = capacity_at_most(st.occupied * 2).max(st.min_capacity);
            self.replace(new_cap);
        }
    }

    /// Bumps the shard's wake-up counter (the caller notifies after unlock).
    pub(crate) fn bump_wakeups(&mut self) {
        // Relaxed: written under the lock, read under the lock by parked
        // waiters (see `Shard::register_wait` for the ticket argument).
        self.shard.wakeups.fetch_add(1, Ordering::Relaxed);
    }

    /// Builds a table of `capacity` slots with the same entries, publishes
    /// it, and keeps the old one to retire once the lock is released.
    fn replace(&mut self, capacity: usize) {
        let hasher = self.state().hasher;
        let new = self.table().rebuilt(capacity, &hasher);
        // Release: the new table's slots (and the entries they point to) are
        // visible to readers that load the word with Acquire.
        let old = self.shard.table.swap(new, Ordering::Release);
        let st = self.state();
        st.tombstones = 0;
        if let Some(prev) = self.retired.replace(old) {
            // Replaced twice under one lock hold: retire the first now.
            // Deferring only queues the destruction; nothing runs here.
            retire_table(prev, self.guard);
        }
    }
}

impl Drop for ShardWriter<'_, '_> {
    fn drop(&mut self) {
        drop(self.state.take());
        if let Some(old) = self.retired.take() {
            retire_table(old, self.guard);
        }
    }
}

/// Frees a replaced table once no pinned reader can still hold it.
fn retire_table(word: TableWord, guard: &Guard) {
    // `word` is no longer any shard's current table (its replacer swapped it
    // out), so no new reader can load it; readers that did are pinned in an
    // epoch no later than ours. Each replaced table is retired once.
    // SAFETY: the deferred free runs only after those readers unpin.
    unsafe { guard.defer_unchecked(move || Table::free(word)) };
}

impl Shard {
    /// Wakes every waiter of this shard (after an `INIT` entry with
    /// registered waiters was resolved). Never called with the lock held.
    pub(crate) fn wake_waiters(&self, guard: &Guard) {
        let mut w = self.write(guard);
        w.bump_wakeups();
        drop(w);
        self.parked.notify_all();
    }

    /// Wakes waiters after `ShardWriter::bump_wakeups` (lock released).
    pub(crate) fn notify_parked(&self) {
        self.parked.notify_all();
    }
}

/// Most slots in use (live entries and tombstones) per slot of a table, as
/// a fraction: past it, the writer rebuilds the table before linking.
const MAX_LOAD: (usize, usize) = (3, 4);

/// The capacity a table grows to when `live` entries fill more than 5/8 of
/// it: the largest class with at most two slots per entry (at least 1.6,
/// see `ShardWriter::make_room`).
///
/// # Panics
/// If no capacity class holds `live` entries at that load: past about
/// 2.3 billion entries in one shard on 64-bit targets, where the classes
/// end (below that, classes step by at most 25%, so the check always holds).
fn grown_capacity(live: usize) -> usize {
    let cap = live.checked_mul(2).map(capacity_at_most);
    match cap {
        Some(cap)
            if cap
                .checked_mul(5)
                .is_some_and(|c| c >= live.saturating_mul(8)) =>
        {
            cap
        }
        _ => panic!("capacity overflow: a shard cannot hold {live} entries"),
    }
}

/// Slots for a shard that should hold `entries` without growing.
pub(crate) fn slots_for(entries: usize) -> usize {
    entries
        .checked_mul(MAX_LOAD.1)
        .map(|n| n.div_ceil(MAX_LOAD.0))
        .and_then(capacity_at_least)
        .unwrap_or_else(|| panic!("capacity overflow: cannot size a table for {entries} entries"))
}

#[cfg(all(test, not(shadow_vars_loom)))]
mod tests {
    use super::grown_capacity;
    use crate::raw::table::capacity_at_most;

    /// The entries a shard can hold: 5/8 of the largest capacity class.
    fn most_entries() -> usize {
        let largest = capacity_at_most(usize::MAX);
        (largest as u128 * 5 / 8) as usize
    }

    #[test]
    fn growth_leaves_between_1_6_and_2_slots_per_entry() {
        let mut live = 6;
        while live <= most_entries() {
            let cap = grown_capacity(live);
            assert!(
                cap * 5 >= live * 8 && cap <= 2 * live,
                "{live} entries: {cap} slots"
            );
            live += live / 7 + 1;
        }
        let last = most_entries();
        assert!(grown_capacity(last) * 5 >= last * 8);
    }

    /// Past the largest class, growth panics instead of rebuilding at the
    /// same size until no slot is `EMPTY` (where probes never end).
    #[test]
    #[should_panic(expected = "capacity overflow")]
    fn growth_past_the_largest_class_panics() {
        grown_capacity(most_entries() + 1);
    }
}
