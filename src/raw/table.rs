//! One shard's open-addressing table of entry pointers.
//!
//! A table has `capacity` slots, probed linearly from the key's home slot
//! (the hash scaled to the capacity: `hash * capacity >> 64`, so any
//! capacity works, not only powers of two). Each slot is two atomics kept in
//! two arrays of one allocation:
//!
//! * a **control byte**, in a dense array: `EMPTY` (never used
//!   in this table; ends every probe), `TOMBSTONE` (held an entry that was
//!   unlinked; probes go on past it), or the **tag** of the linked key: 8
//!   bits of its hash, folded into `2..=255`;
//! * an **entry pointer**, in a second array: the linked entry, or
//!   null.
//!
//! A probe reads control bytes and loads a pointer only where the tag
//! matches (a slot of another key matches once in about 250). So a lookup of
//! an absent key reads only control bytes, one byte per slot: the control
//! bytes of a 100,000-entry map take about 170 KB and stay in a core's L2,
//! where 8-byte slots holding tagged pointers took 1.3 MB and missed it. A
//! hit reads its control byte, its pointer and its entry; the pointer's
//! address depends only on the slot index, not on the control byte, so the
//! CPU loads the two in parallel.
//!
//! # The pointer decides, the control byte guides
//!
//! Only the shard's writer (holding the shard lock) stores into a table.
//! Linking writes the tag, then the pointer; unlinking nulls the pointer,
//! then writes `TOMBSTONE`. Every store is Release and every load Acquire
//! (free on x86-64). A reader loads the control byte and, on a tag match,
//! the pointer, and accepts only a non-null entry whose key compares equal
//! and which is not `DEAD`. So:
//!
//! * a key is linked from the moment its pointer is stored: a reader that
//!   loads the pointer sees the entry's header, and anyone ordered after
//!   that reader also sees the tag (stored before the pointer), so no later
//!   lookup can miss the key;
//! * a stale control byte costs at most a wasted pointer load: a stale tag
//!   finds a null pointer or another key's entry (compared, rejected), and a
//!   reader that misses a tag being written is concurrent with the link;
//! * a reader that saw a slot change (a tombstone, an emptied slot, a null
//!   pointer, the next key's tag) also sees, through Acquire, the unlinked
//!   entry's `DEAD` mark and null pointer stored before it: once a lookup
//!   missed a freed key, no later one finds it through a stale pointer;
//! * an unlinked entry is retired through the epoch only after its pointer
//!   was nulled, so a reader that loaded the pointer while pinned can still
//!   dereference it.
//!
//! `loom_models` (at the end of this file) checks these with every
//! interleaving of a writer that unlinks a key and links another into its
//! slot, under the same tag, while a reader looks both up.
//!
//! A control byte goes back to `EMPTY` only when it is a tombstone *at the
//! end of a cluster* (its next slot is `EMPTY`): no linked key's probe path
//! can pass through such a slot, because every slot between a key's home
//! and the key is non-`EMPTY`, and emptying proceeds from a cluster's end
//! backwards. So a lock-free reader that probes while a writer works always
//! reaches the key's slot if the key stays linked, and every probe still
//! ends at an `EMPTY` slot. Growth and shrinking never touch a published
//! table: the writer builds a new one, copies the entry pointers (entries
//! never move), publishes it, and retires the old one to the epoch (see
//! `shard.rs`).
//!
//! # Layout
//!
//! A table is one 128-aligned allocation: `capacity` pointers, then
//! `capacity` control bytes. The shard refers to it with a [`TableWord`]:
//! the allocation's address with the table's *capacity class* in its 7 low
//! bits. A reader therefore finds its slot from the one word it loads from
//! the shard: the capacity from the class (a lookup in a 1 KiB static
//! table), the home slot from the hash and the capacity, the pointer array
//! at the address itself, the control bytes one multiply-add further.
//! Decoding a word this way instead of with shifts and a rounded offset took
//! 10 instructions off a read-heavy operation (98 -> 88, cachegrind), and
//! every lookup and every writer step decodes one.
//!
//! # Capacity classes
//!
//! Class `c` has `((4 + c % 4) << (c / 4)) / 4` slots: 8, 10, 12, 14, 16, 20,
//! 24, 28, 32, ... (four steps per doubling, each at most 25%). Steps that
//! fine let the shard keep every grown table between half and three
//! quarters full (see `shard.rs`), so slots cost at most 18 bytes per live
//! entry, where power-of-two tables cost up to 36.

use core::alloc::Layout;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};

use super::entry::{EntryHeader, Meta};
use crate::key::{Key, KeyHasher};
use crate::sync::{AtomicPtr, AtomicU8, Ordering};

/// Control byte of a slot never used in this table.
const EMPTY: u8 = 0;
/// Control byte of a slot whose entry was unlinked.
const TOMBSTONE: u8 = 1;

/// The smallest table (slots). Tables never shrink below it. Under loom it
/// is 2, so that a model forces growth with two entries.
pub(crate) const MIN_CAPACITY: usize = if cfg!(shadow_vars_loom) { 2 } else { 8 };

/// The control byte of a linked key: the hash's 8 low bits, with 0 and 1
/// (`EMPTY`, `TOMBSTONE`) folded into 2. The home slot comes from the high
/// bits, through the multiply in [`Table::home`], so the two are
/// independent.
#[inline(always)]
fn tag(hash: u64) -> u8 {
    (hash as u8).max(2)
}

/// How many slots ahead [`Table::entries`] prefetches the entry it will
/// yield: at the loads tables are kept at, about 10 entries in flight.
const PREFETCH_AHEAD: usize = 16;

/// Asks the CPU to start loading the cache line at `addr` (x86-64 only; a
/// no-op elsewhere, and under Miri and loom, which have no caches).
#[inline(always)]
fn prefetch<T>(addr: *const T) {
    #[cfg(all(target_arch = "x86_64", not(miri), not(shadow_vars_loom)))]
    // SAFETY: a prefetch is a hint: it never faults, whatever the address,
    // and does not change what any load or store observes.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(addr.cast())
    };
    #[cfg(not(all(target_arch = "x86_64", not(miri), not(shadow_vars_loom))))]
    let _ = addr;
}

/// Class codes fit in the 7 low bits of a 128-aligned address.
const CLASS_BITS: usize = 127;

/// Bytes per slot: a control byte and a pointer.
const SLOT_BYTES: usize = size_of::<AtomicU8>() + size_of::<AtomicPtr<EntryHeader>>();

/// Slots of capacity class `code` (see the module docs).
#[inline(always)]
const fn class_capacity(code: usize) -> usize {
    ((4 + (code & 3)) << (code >> 2)) >> 2
}

/// Whether [`class_capacity`]'s shift stays inside a `usize`.
const fn class_shift_fits(code: usize) -> bool {
    (code >> 2) < usize::BITS as usize - 3
}

/// Slots of every class code, looked up when a table word is decoded (one
/// load from a line that stays cached, instead of four dependent shifts and
/// adds); 0 for codes too large for the address space.
static CLASS_CAPACITIES: [usize; CLASS_BITS + 1] = {
    let mut table = [0; CLASS_BITS + 1];
    let mut code = 0;
    while code <= CLASS_BITS {
        if class_shift_fits(code) {
            table[code] = class_capacity(code);
        }
        code += 1;
    }
    table
};

/// The largest table any class describes that fits the address space.
fn class_fits(code: usize) -> bool {
    class_shift_fits(code) && class_capacity(code) <= isize::MAX as usize / SLOT_BYTES
}

/// The capacities of every class that fits, smallest first.
fn capacities() -> impl Iterator<Item = usize> {
    (0..=CLASS_BITS)
        .take_while(|&c| class_fits(c))
        .map(class_capacity)
}

/// The smallest capacity class with at least `n` slots (and at least
/// [`MIN_CAPACITY`]), or `None` if no table that large can exist.
pub(crate) fn capacity_at_least(n: usize) -> Option<usize> {
    let n = n.max(MIN_CAPACITY);
    capacities().find(|&cap| cap >= n)
}

/// The largest capacity class with at most `n` slots, but never below
/// [`MIN_CAPACITY`].
pub(crate) fn capacity_at_most(n: usize) -> usize {
    capacities()
        .filter(|&cap| cap >= MIN_CAPACITY && cap <= n)
        .last()
        .unwrap_or(MIN_CAPACITY)
}

/// The class code of a capacity returned by the two functions above.
fn class_code(capacity: usize) -> usize {
    CLASS_CAPACITIES
        .iter()
        .position(|&c| c == capacity)
        .expect("a table capacity is a capacity class")
}

/// Where a key is, or where it would go.
pub(crate) enum Probe {
    /// The key's entry (any state but `DEAD`) at slot `index`.
    Found {
        index: usize,
        entry: *const EntryHeader,
    },
    /// The key is absent; `index` is where to link it (the first tombstone on
    /// its probe path, else the empty slot that ended the probe).
    Vacant {
        index: usize,
        reuses_tombstone: bool,
    },
}

/// The pointee type of a [`TableWord`]: gives the word its 128-byte
/// alignment (7 tag bits). Never read as such.
#[repr(C, align(128))]
pub(crate) struct TableBlock([u8; 128]);

/// A table allocation's address with its capacity class in its low 7 bits.
pub(crate) type TableWord = *mut TableBlock;

/// Offset of the control bytes in a table of `capacity` slots: right after
/// the pointers (one `lea` from the table's address).
#[inline(always)]
const fn controls_offset(capacity: usize) -> usize {
    capacity * size_of::<AtomicPtr<EntryHeader>>()
}

/// A view of a live table: its control bytes, pointers and capacity,
/// decoded from a [`TableWord`]. Valid for `'a` (the caller's pin or shard
/// lock keeps the table alive).
#[derive(Clone, Copy)]
pub(crate) struct Table<'a> {
    controls: NonNull<AtomicU8>,
    pointers: NonNull<AtomicPtr<EntryHeader>>,
    capacity: usize,
    _life: PhantomData<&'a [AtomicPtr<EntryHeader>]>,
}

impl Table<'_> {
    /// Allocates a table of `capacity` slots, all `EMPTY` (a capacity class
    /// from [`capacity_at_least`] or [`capacity_at_most`]), and returns its
    /// word. Free it with [`Table::free`].
    ///
    /// # Panics
    /// If `capacity` is not a capacity class.
    pub(crate) fn alloc(capacity: usize) -> TableWord {
        let code = class_code(capacity);
        debug_assert!(capacity >= MIN_CAPACITY);
        let layout = Self::layout(capacity);
        // SAFETY: the layout has a non-zero size (capacity >= 2 slots).
        let base = unsafe { std::alloc::alloc(layout) };
        if base.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        let word = base.cast::<TableBlock>().map_addr(|a| a | code);
        // SAFETY: just allocated with the layout of this capacity's class.
        let table = unsafe { Table::from_word(word) };
        for i in 0..capacity {
            // SAFETY: `i < capacity`: both writes are inside the allocation
            // and aligned (see `layout`).
            unsafe {
                table.controls.as_ptr().add(i).write(AtomicU8::new(EMPTY));
                table
                    .pointers
                    .as_ptr()
                    .add(i)
                    .write(AtomicPtr::new(ptr::null_mut()));
            }
        }
        word
    }

    fn layout(capacity: usize) -> Layout {
        // The control bytes follow the pointers unpadded.
        const { assert!(align_of::<AtomicU8>() <= align_of::<AtomicPtr<EntryHeader>>()) };
        capacity
            .checked_mul(size_of::<AtomicU8>())
            .and_then(|controls| controls.checked_add(controls_offset(capacity)))
            .and_then(|size| Layout::from_size_align(size, align_of::<TableBlock>()).ok())
            .expect("capacity overflow: table too large")
    }

    /// Frees the table `word` (its slots only: entries are not touched).
    ///
    /// # Safety
    /// `word` came from [`Table::alloc`], is freed once, and no one can use
    /// it any more (the epoch or exclusive access guarantees it).
    pub(crate) unsafe fn free(word: TableWord) {
        // SAFETY: by the caller, the table is live and ours to free.
        let table = unsafe { Table::from_word(word) };
        for i in 0..table.capacity() {
            // SAFETY: every control byte and pointer was initialized in
            // `alloc`; each is dropped once (a no-op with std atomics; loom
            // atomics need it).
            unsafe {
                ptr::drop_in_place(table.controls.as_ptr().add(i));
                ptr::drop_in_place(table.pointers.as_ptr().add(i));
            }
        }
        // SAFETY: allocated in `alloc` with this layout.
        unsafe {
            std::alloc::dealloc(
                table.pointers.as_ptr().cast(),
                Self::layout(table.capacity()),
            )
        };
    }
}

/// Asks the CPU to start loading the two lines a lookup of `hash` reads
/// first in the table `word` names: the home slot's control byte and its
/// pointer. The word may name a table that is already retired and freed:
/// only addresses are computed (with wrapping arithmetic), nothing is read.
#[inline(always)]
pub(crate) fn prefetch_home(word: TableWord, hash: u64) {
    let capacity = CLASS_CAPACITIES[word.addr() & CLASS_BITS];
    let i = home_slot(hash, capacity);
    let base = word.map_addr(|a| a & !CLASS_BITS).cast::<u8>();
    prefetch(base.wrapping_add(i * size_of::<AtomicPtr<EntryHeader>>()));
    prefetch(base.wrapping_add(controls_offset(capacity) + i));
}

/// The slot a key with this hash is probed from in a table of `capacity`
/// slots: the high bits of the hash scaled to the capacity (a multiply, no
/// division).
#[inline(always)]
fn home_slot(hash: u64, capacity: usize) -> usize {
    ((u128::from(hash) * capacity as u128) >> 64) as usize
}

impl<'a> Table<'a> {
    /// The table a word points to.
    ///
    /// # Safety
    /// `word` came from [`Table::alloc`] and stays allocated for `'a`.
    #[inline(always)]
    pub(crate) unsafe fn from_word(word: TableWord) -> Table<'a> {
        let capacity = CLASS_CAPACITIES[word.addr() & CLASS_BITS];
        let base = word.map_addr(|a| a & !CLASS_BITS).cast::<u8>();
        // SAFETY: a table's address is never null, and its control bytes
        // lie `controls_offset` bytes into the same allocation (by the
        // caller and `layout`).
        unsafe {
            Table {
                controls: NonNull::new_unchecked(base.add(controls_offset(capacity)).cast()),
                pointers: NonNull::new_unchecked(base.cast()),
                capacity,
                _life: PhantomData,
            }
        }
    }

    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The slot a key with this hash is probed from ([`home_slot`]).
    #[inline(always)]
    pub(crate) fn home(&self, hash: u64) -> usize {
        home_slot(hash, self.capacity)
    }

    /// The slot after `i`, wrapping around.
    #[inline(always)]
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.capacity { 0 } else { i + 1 }
    }

    /// The slot before `i`, wrapping around.
    #[inline(always)]
    fn prev(&self, i: usize) -> usize {
        if i == 0 { self.capacity - 1 } else { i - 1 }
    }

    /// Control byte `i` (`i < capacity`), without a bounds check.
    #[inline(always)]
    fn control(&self, i: usize) -> &'a AtomicU8 {
        debug_assert!(i < self.capacity);
        // Every index passed here comes from `home`, `next` or `prev` (all
        // below `capacity`) or from a probe of this table.
        // SAFETY: `capacity` control bytes, initialized in `alloc`, live for 'a.
        unsafe { &*self.controls.as_ptr().add(i) }
    }

    /// Pointer `i` (`i < capacity`), without a bounds check.
    #[inline(always)]
    fn pointer(&self, i: usize) -> &'a AtomicPtr<EntryHeader> {
        debug_assert!(i < self.capacity);
        // SAFETY: as in `control`, for the `capacity` pointers.
        unsafe { &*self.pointers.as_ptr().add(i) }
    }

    /// Loads control byte `i`. Acquire: pairs with the Release stores of
    /// control bytes, so that a reader that saw a slot change also sees
    /// what its writer did before, in particular a replaced entry's `DEAD`
    /// mark and null pointer (see the module docs for why a lookup needs it).
    #[inline(always)]
    fn load_control(&self, i: usize) -> u8 {
        self.control(i).load(Ordering::Acquire)
    }

    /// Loads pointer `i` (null if the slot holds no entry). Acquire: pairs
    /// with the Release store that linked the entry, so the entry's header
    /// (written before linking) is visible.
    #[inline(always)]
    fn load_pointer(&self, i: usize) -> *const EntryHeader {
        self.pointer(i).load(Ordering::Acquire).cast_const()
    }

    /// Lock-free lookup: the key's entry unless absent or `DEAD`.
    ///
    /// A `DEAD` entry is only visible in a table that is stale (replaced, but
    /// loaded before the replacement) or while its unlinking writer works;
    /// it is skipped, as if already unlinked. (Returning it would still be
    /// linearizable, since such a lookup overlaps the free; skipping it is
    /// defence in depth that costs one bit test on a loaded word.)
    ///
    /// Terminates: at most three quarters of a table's slots are ever
    /// non-`EMPTY` (writers rebuild before exceeding that; emptying
    /// tombstones only adds `EMPTY` slots), so every probe sequence meets an
    /// `EMPTY` slot.
    ///
    /// Safety of the returned pointer: valid while the caller stays pinned
    /// in the epoch in which it loaded this table (entries are retired
    /// through the epoch after being unlinked).
    #[inline(always)]
    pub(crate) fn find(&self, hash: u64, key: Key) -> Option<(*const EntryHeader, Meta)> {
        let tag = tag(hash);
        let mut i = self.home(hash);
        loop {
            let control = self.load_control(i);
            if control == tag {
                let e = self.load_pointer(i);
                if !e.is_null() {
                    // SAFETY: an entry is retired through the epoch only
                    // after its pointer was nulled; the caller is pinned.
                    let h = unsafe { &*e };
                    if h.parent == key.parent && h.id == key.id {
                        let meta = h.meta();
                        if !meta.is_dead() {
                            return Some((e, meta));
                        }
                    }
                }
            } else if control == EMPTY {
                return None;
            }
            i = self.next(i);
        }
    }

    /// Writer's lookup (shard lock held): the key's slot, or where to put it.
    pub(crate) fn probe(&self, hash: u64, key: Key) -> Probe {
        let tag = tag(hash);
        let mut i = self.home(hash);
        let mut first_tombstone = None;
        for _ in 0..self.capacity {
            match self.load_control(i) {
                EMPTY => break,
                TOMBSTONE => {
                    first_tombstone.get_or_insert(i);
                }
                control if control == tag => {
                    let e = self.load_pointer(i);
                    debug_assert!(
                        !e.is_null(),
                        "a tagged slot without an entry, under the lock"
                    );
                    // SAFETY: under the shard lock, every entry linked in the
                    // current table is live (only this lock's holder unlinks).
                    let h = unsafe { &*e };
                    if h.parent == key.parent && h.id == key.id {
                        debug_assert!(!h.meta().is_dead());
                        return Probe::Found { index: i, entry: e };
                    }
                }
                _ => {}
            }
            i = self.next(i);
        }
        match first_tombstone {
            Some(index) => Probe::Vacant {
                index,
                reuses_tombstone: true,
            },
            None => {
                debug_assert_eq!(self.load_control(i), EMPTY, "table full");
                Probe::Vacant {
                    index: i,
                    reuses_tombstone: false,
                }
            }
        }
    }

    /// Links `entry` at `index` (shard lock held; the slot is vacant): the
    /// tag, then the pointer.
    ///
    /// Both stores Release. The pointer's publishes the entry: its header
    /// (and its `INIT` meta) become visible to every reader that loads the
    /// pointer with Acquire, and so does the tag before it. The tag's makes
    /// a reader that sees it also see the slot's earlier changes (module
    /// docs).
    pub(crate) fn link(&self, index: usize, hash: u64, entry: *const EntryHeader) {
        self.control(index).store(tag(hash), Ordering::Release);
        self.pointer(index)
            .store(entry.cast_mut(), Ordering::Release);
    }

    /// Replaces the entry at `index` with a tombstone (shard lock held),
    /// then turns the tombstones that end its cluster back into `EMPTY` (see
    /// the module docs for why readers stay correct). Returns how many
    /// tombstones the table holds more than before (1, 0 or negative).
    ///
    /// Without this, a churning table fills with tombstones and must be
    /// rebuilt (every entry dereferenced to rehash) every few thousand frees.
    ///
    /// Release stores: a reader that sees the null pointer, the tombstone or
    /// an emptied slot also sees the entry's `DEAD` mark and the null
    /// pointer stored before it, so once a lookup missed the key, no later
    /// lookup of that reader can find the entry through a stale pointer
    /// (module docs).
    pub(crate) fn unlink(&self, index: usize) -> isize {
        self.pointer(index)
            .store(ptr::null_mut(), Ordering::Release);
        self.control(index).store(TOMBSTONE, Ordering::Release);
        if self.load_control(self.next(index)) != EMPTY {
            return 1;
        }
        // The cluster ends here: empty the tombstones before it, last first,
        // so every emptied slot is followed by an EMPTY one when it empties.
        let mut emptied = 0;
        let mut i = index;
        while self.load_control(i) == TOMBSTONE && emptied < self.capacity {
            self.control(i).store(EMPTY, Ordering::Release);
            emptied += 1;
            i = self.prev(i);
        }
        1 - emptied as isize
    }

    /// Every entry linked in this table, with its slot index.
    ///
    /// The pointers are valid as long as the caller is pinned (readers) or
    /// holds the shard lock (writers) or owns the map (`Drop`).
    ///
    /// Slots are visited in order and each entry is prefetched
    /// [`PREFETCH_AHEAD`] slots before it is yielded: every caller
    /// dereferences the entries it gets (to rehash or destroy them), and
    /// entries lie in allocation order, not slot order, so without it a
    /// table larger than the caches costs one serial cache miss per entry.
    pub(crate) fn entries(self) -> impl Iterator<Item = (usize, *const EntryHeader)> + 'a {
        let cap = self.capacity();
        (0..cap).filter_map(move |i| {
            if i + PREFETCH_AHEAD < cap {
                let ahead = self.load_pointer(i + PREFETCH_AHEAD);
                if !ahead.is_null() {
                    prefetch(ahead);
                }
            }
            self.entry_at(i).map(|e| (i, e))
        })
    }

    /// A new table of `capacity` slots holding the same entries (shard lock
    /// held). Entries are not touched, only their pointers are copied.
    pub(crate) fn rebuilt(&self, capacity: usize, hasher: &KeyHasher) -> TableWord {
        let word = Table::alloc(capacity);
        // SAFETY: just allocated; freed by no one before we return it.
        let new = unsafe { Table::from_word(word) };
        for (_, e) in self.entries() {
            // SAFETY: under the shard lock, linked entries are live.
            let h = unsafe { &*e };
            let hash = hasher.hash(h.key());
            match new.probe(hash, h.key()) {
                Probe::Vacant { index, .. } => new.link(index, hash, e),
                Probe::Found { .. } => unreachable!("a key linked twice in one table"),
            }
        }
        word
    }

    /// The entry at slot `i`, if any (for iteration; pinned caller). The
    /// pointer alone decides (module docs).
    #[inline]
    pub(crate) fn entry_at(&self, i: usize) -> Option<*const EntryHeader> {
        let e = self.load_pointer(i);
        (!e.is_null()).then_some(e)
    }
}

#[cfg(all(test, not(shadow_vars_loom)))]
mod tests {
    use super::*;
    use crate::raw::entry::Entry;
    use crate::raw::slab::Slab;

    /// Every small capacity class, filled to three quarters, then half
    /// unlinked: each slot's control byte and pointer are written and read
    /// through the decoded word (Miri checks the layout's bounds), and
    /// lookups, probes and `entries` agree with what was linked.
    #[test]
    fn tables_of_every_small_class_link_find_and_unlink() {
        let hasher = KeyHasher::new(7);
        let slab = Slab::new();
        let max = if cfg!(miri) { 40 } else { 300 };
        for cap in capacities().filter(|&c| c >= MIN_CAPACITY && c <= max) {
            let word = Table::alloc(cap);
            // SAFETY: allocated above, freed at the end of this iteration.
            let t = unsafe { Table::from_word(word) };
            assert_eq!(t.capacity(), cap);
            let keys: Vec<Key> = (0..cap * 3 / 4)
                .map(|i| Key {
                    parent: 0x1000 + 64 * i,
                    id: i as u64,
                })
                .collect();
            let entries: Vec<*mut EntryHeader> = keys
                .iter()
                .map(|&k| Entry::<u64>::new_init(k, &slab))
                .collect();
            for (&k, &e) in keys.iter().zip(&entries) {
                let hash = hasher.hash(k);
                match t.probe(hash, k) {
                    Probe::Vacant { index, .. } => t.link(index, hash, e),
                    Probe::Found { .. } => panic!("{k:?} found before it was linked"),
                }
            }
            let mut seen: Vec<_> = t.entries().map(|(_, e)| e.addr()).collect();
            seen.sort_unstable();
            let mut linked: Vec<_> = entries.iter().map(|e| e.addr()).collect();
            linked.sort_unstable();
            assert_eq!(seen, linked, "capacity {cap}");
            for (i, (&k, &e)) in keys.iter().zip(&entries).enumerate() {
                let hash = hasher.hash(k);
                assert_eq!(t.find(hash, k).map(|(f, _)| f), Some(e.cast_const()));
                if i % 2 == 0 {
                    let Probe::Found { index, entry } = t.probe(hash, k) else {
                        panic!("{k:?} not found by the writer's probe");
                    };
                    assert_eq!(entry, e.cast_const());
                    t.unlink(index);
                }
            }
            for (i, (&k, &e)) in keys.iter().zip(&entries).enumerate() {
                let found = t.find(hasher.hash(k), k).map(|(f, _)| f);
                assert_eq!(
                    found,
                    (i % 2 == 1).then_some(e.cast_const()),
                    "capacity {cap}"
                );
            }
            for e in entries {
                // SAFETY: never published outside this test; freed once.
                unsafe { Entry::<u64>::free_unpublished(e, slab.handle()) };
            }
            // SAFETY: nothing uses the table any more.
            unsafe { Table::free(word) };
        }
    }
}

/// Loom model of the control-byte protocol, driving a table directly so
/// that it can place keys in chosen slots (the map's tests cannot choose
/// hashes). Run by `scripts/loom.sh`.
#[cfg(all(test, shadow_vars_loom))]
mod loom_models {
    use super::*;
    use crate::raw::entry::Entry;
    use crate::raw::slab::Slab;
    use loom::sync::Arc;

    /// A hash whose home slot in an 8-slot table is `home`, with tag `tag`.
    fn hash(home: u64, tag: u8) -> u64 {
        (home << 61) | u64::from(tag)
    }

    fn key(parent: usize) -> Key {
        Key { parent, id: 1 }
    }

    /// The table and two entries, shareable (all outlive both threads).
    struct Shared(TableWord, *mut EntryHeader, *mut EntryHeader);
    // SAFETY: the threads share the table's atomics and the entries' meta
    // words (atomics); the rest is addresses and fields never written.
    unsafe impl Send for Shared {}
    // SAFETY: as above.
    unsafe impl Sync for Shared {}

    impl Shared {
        fn table(&self) -> Table<'_> {
            // SAFETY: freed only after both threads are done.
            unsafe { Table::from_word(self.0) }
        }
    }

    /// A writer unlinks key A and links key B into A's slot, which stays a
    /// tombstone (key X after it ends the cluster later), while a reader
    /// looks both keys up twice. B has A's tag, so a reader holding A's
    /// stale control byte loads B's pointer: the case where a key could be
    /// seen through a slot before its control byte says so. Once a lookup
    /// saw B, a later one must see it; once one missed A, a later one must
    /// miss it.
    #[test]
    fn reader_vs_unlink_and_relink_of_one_slot() {
        use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
        let executions = std::sync::Arc::new(AtomicUsize::new(0));
        let counted = executions.clone();
        let start = std::time::Instant::now();
        // Unbounded: two threads and a dozen atomic operations.
        loom::model::Builder::new().check(move || {
            counted.fetch_add(1, Relaxed);
            let slab = Slab::new();
            let (a, x, b) = (key(0x100), key(0x200), key(0x300));
            let (ha, hx, hb) = (hash(0, 7), hash(0, 9), hash(0, 7));
            let ea = Entry::<u64>::new_init(a, &slab);
            let ex = Entry::<u64>::new_init(x, &slab);
            let eb = Entry::<u64>::new_init(b, &slab);
            let shared = Arc::new(Shared(Table::alloc(8), ea, eb));
            let t = shared.table();
            t.link(0, ha, ea);
            t.link(1, hx, ex);
            let writer = {
                let shared = shared.clone();
                loom::thread::spawn(move || {
                    let t = shared.table();
                    // SAFETY: the entry lives until after the join.
                    unsafe { (*shared.1).mark_dead() };
                    assert_eq!(t.unlink(0), 1, "slot 0 stays a tombstone");
                    match t.probe(hb, b) {
                        Probe::Vacant {
                            index: 0,
                            reuses_tombstone: true,
                        } => t.link(0, hb, shared.2),
                        _ => panic!("B should reuse A's slot"),
                    }
                })
            };
            let b1 = t.find(hb, b).is_some();
            let a1 = t.find(ha, a).is_some();
            let b2 = t.find(hb, b).is_some();
            let a2 = t.find(ha, a).is_some();
            assert!(!(b1 && !b2), "a key seen linked was lost");
            assert!(!(!a1 && a2), "an unlinked key came back");
            assert!(
                t.find(hx, x).is_some(),
                "a key that stayed linked was missed"
            );
            writer.join().unwrap();
            assert!(t.find(hb, b).is_some() && t.find(ha, a).is_none());
            for e in [ea, ex, eb] {
                // SAFETY: never published beyond this model, whose threads
                // are done; each freed once.
                unsafe { Entry::<u64>::free_unpublished(e, slab.handle()) };
            }
            // SAFETY: nothing uses the table any more.
            unsafe { Table::free(shared.0) };
        });
        println!(
            "loom model table_slot_reuse: unbounded, {} executions, {:.1} s",
            executions.load(Relaxed),
            start.elapsed().as_secs_f64()
        );
    }
}
