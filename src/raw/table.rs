//! One shard's open-addressing table of entry pointers.
//!
//! A table is an array of slots probed linearly from the key's home slot
//! (the hash scaled to the capacity: `hash * capacity >> 64`, so any
//! capacity works, not only powers of two). A slot is an atomic word
//! holding one of:
//!
//! * `EMPTY` (null): never used in this table; ends every probe;
//! * `TOMBSTONE`: held an entry that was unlinked; probes go on past it;
//! * an entry pointer with a **fingerprint** of the key's hash in its unused
//!   bits: the 4 low ones (entries are 16-aligned) and, on x86-64, the 7 top
//!   ones (user-space addresses are canonical with bits 57-63 clear, with
//!   4- and 5-level paging alike). A probe dereferences an entry that is not
//!   the one it looks for once in 2048 slots it passes on x86-64: a lookup of
//!   an absent key touches no entry, and a hit touches only its own. Other
//!   targets keep 4 bits (once in 16): AArch64 may carry MTE or TBI tags in
//!   the top byte of heap pointers, which must not be overwritten.
//!
//! Only the shard's writer (holding the shard lock) stores into a table.
//! A slot goes back to `EMPTY` only when it is a tombstone *at the end of a
//! cluster* (its next slot is `EMPTY`): no linked key's probe path can pass
//! through such a slot, because every slot between a key's home and the key
//! is non-`EMPTY`, and emptying proceeds from a cluster's end backwards. So
//! a lock-free reader that probes while a writer works always reaches the
//! key's slot if the key stays linked, and every probe still ends at an
//! `EMPTY` slot. Growth and shrinking never touch a published table: the
//! writer builds a new one, copies the entry pointers (entries never move),
//! publishes it, and retires the old one to the epoch (see `shard.rs`).
//!
//! # Layout
//!
//! A table is one 128-aligned allocation of slots and nothing else. The
//! shard refers to it with a [`TableWord`]: the allocation's address with
//! the table's *capacity class* in its 7 low bits. A reader therefore finds
//! its slot from the one word it loads from the shard (address + index from
//! the hash and the capacity in the same word): shard word, slot, entry are
//! the only dependent loads of a lookup.
//!
//! # Capacity classes
//!
//! Class `c` has `((4 + c % 4) << (c / 4)) / 4` slots: 8, 10, 12, 14, 16, 20,
//! 24, 28, 32, ... (four steps per doubling, each at most 25%). Steps that
//! fine let the shard keep every grown table between half and three
//! quarters full (see `shard.rs`), so slots cost at most 16 bytes per live
//! entry, where power-of-two tables cost up to 32.

use core::alloc::Layout;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};

use super::entry::{ENTRY_ALIGN, EntryHeader, Meta};
use crate::key::{Key, KeyHasher};
use crate::sync::{AtomicPtr, Ordering};

/// Slot bits that hold the fingerprint, not the address: the low bits an
/// entry's alignment leaves zero, and on x86-64 the top 7 bits (see the
/// module docs for why not elsewhere).
const LOW_TAG: usize = ENTRY_ALIGN - 1;
const HIGH_TAG: usize = if cfg!(target_arch = "x86_64") {
    (0x7F_u64 << 57) as usize
} else {
    0
};
const TAG_MASK: usize = LOW_TAG | HIGH_TAG;
const TOMBSTONE_ADDR: usize = 1;

/// The smallest table (slots). Tables never shrink below it. Under loom it
/// is 2, so that a model forces growth with two entries.
pub(crate) const MIN_CAPACITY: usize = if cfg!(shadow_vars_loom) { 2 } else { 8 };

/// Fingerprint of a hash: its 11 low bits (4 where there is no high tag),
/// placed in the slot's tag bits (the home slot comes from the high bits,
/// through the multiply in [`Table::home`], so the two are independent).
#[inline(always)]
fn fingerprint(hash: u64) -> usize {
    ((hash & 0xF) | ((hash >> 4) & 0x7F) << 57) as usize & TAG_MASK
}

/// Panics if `entry`'s address uses bits a slot keeps for the fingerprint.
/// Called on every new entry, before any lock is taken: an allocator
/// handing out tagged pointers (x86-64 LAM) would otherwise have its tag
/// overwritten. Two instructions.
#[inline(always)]
pub(crate) fn assert_untagged(entry: *const EntryHeader) {
    assert!(
        entry.addr() & TAG_MASK == 0,
        "entry address {entry:p} uses the bits a table slot keeps for its fingerprint \
         (tagged heap pointers are not supported)"
    );
}

/// How many slots ahead [`Table::entries`] prefetches the entry it will
/// yield: at the loads tables are kept at, about 10 entries in flight.
const PREFETCH_AHEAD: usize = 16;

/// Asks the CPU to start loading `entry`'s first cache line (x86-64 only;
/// a no-op elsewhere, and under Miri and loom, which have no caches).
#[inline(always)]
fn prefetch(entry: *const EntryHeader) {
    #[cfg(all(target_arch = "x86_64", not(miri), not(shadow_vars_loom)))]
    // SAFETY: a prefetch is a hint: it never faults, whatever the address,
    // and does not change what any load or store observes.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(entry.cast())
    };
    #[cfg(not(all(target_arch = "x86_64", not(miri), not(shadow_vars_loom))))]
    let _ = entry;
}

/// Class codes fit in the 7 low bits of a 128-aligned address.
const CLASS_BITS: usize = 127;

/// Slots of capacity class `code` (see the module docs).
#[inline(always)]
const fn class_capacity(code: usize) -> usize {
    ((4 + (code & 3)) << (code >> 2)) >> 2
}

/// The largest table any class describes that fits the address space.
fn class_fits(code: usize) -> bool {
    (code >> 2) < usize::BITS as usize - 3
        && class_capacity(code) <= isize::MAX as usize / core::mem::size_of::<usize>()
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
    (0..=CLASS_BITS)
        .find(|&c| class_capacity(c) == capacity)
        .expect("a table capacity is a capacity class")
}

/// A decoded slot word.
enum SlotWord {
    Empty,
    Tombstone,
    Entry(*const EntryHeader, usize),
}

#[inline(always)]
fn decode(word: *mut EntryHeader) -> SlotWord {
    let addr = word.addr();
    if addr & !TAG_MASK != 0 {
        SlotWord::Entry(
            word.map_addr(|a| a & !TAG_MASK).cast_const(),
            addr & TAG_MASK,
        )
    } else if addr == 0 {
        SlotWord::Empty
    } else {
        SlotWord::Tombstone
    }
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

/// A view of a live table: its slots and capacity, decoded from a
/// [`TableWord`]. Valid for `'a` (the caller's pin or shard lock keeps the
/// table alive).
#[derive(Clone, Copy)]
pub(crate) struct Table<'a> {
    slots: NonNull<AtomicPtr<EntryHeader>>,
    capacity: usize,
    _life: PhantomData<&'a [AtomicPtr<EntryHeader>]>,
}

impl Table<'_> {
    /// Allocates a table of `capacity` slots, all `EMPTY` (a capacity class
    /// from [`capacity_at_least`] or [`capacity_at_most`]), and returns its
    /// word. Free it with [`free`].
    ///
    /// # Panics
    /// If `capacity` is not a capacity class.
    pub(crate) fn alloc(capacity: usize) -> TableWord {
        let code = class_code(capacity);
        debug_assert!(capacity >= MIN_CAPACITY);
        let layout = Self::layout(capacity);
        // SAFETY: the layout has a non-zero size (capacity >= 8 slots).
        let base = unsafe { std::alloc::alloc(layout) };
        if base.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        let slots = base.cast::<AtomicPtr<EntryHeader>>();
        for i in 0..capacity {
            // SAFETY: `i < capacity`: inside the allocation, aligned.
            unsafe { slots.add(i).write(AtomicPtr::new(ptr::null_mut())) };
        }
        base.cast::<TableBlock>().map_addr(|a| a | code)
    }

    fn layout(capacity: usize) -> Layout {
        Layout::array::<AtomicPtr<EntryHeader>>(capacity)
            .and_then(|l| l.align_to(core::mem::align_of::<TableBlock>()))
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
            // SAFETY: every slot was initialized in `alloc`; dropped once
            // (a no-op with std atomics; loom atomics need it).
            unsafe { ptr::drop_in_place(table.slots.as_ptr().add(i)) };
        }
        // SAFETY: allocated in `alloc` with this layout.
        unsafe { std::alloc::dealloc(table.slots.as_ptr().cast(), Self::layout(table.capacity())) };
    }
}

impl<'a> Table<'a> {
    /// The table a word points to.
    ///
    /// # Safety
    /// `word` came from [`Table::alloc`] and stays allocated for `'a`.
    #[inline(always)]
    pub(crate) unsafe fn from_word(word: TableWord) -> Table<'a> {
        let code = word.addr() & CLASS_BITS;
        let base = word
            .map_addr(|a| a & !CLASS_BITS)
            .cast::<AtomicPtr<EntryHeader>>();
        // SAFETY: a table's address is never null (by the caller).
        let slots = unsafe { NonNull::new_unchecked(base) };
        Table {
            slots,
            capacity: class_capacity(code),
            _life: PhantomData,
        }
    }

    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The slot a key with this hash is probed from: the high bits of the
    /// hash scaled to the capacity (a multiply, no division).
    #[inline(always)]
    pub(crate) fn home(&self, hash: u64) -> usize {
        ((u128::from(hash) * self.capacity as u128) >> 64) as usize
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

    /// Loads slot `i`. Acquire: pairs with the Release store that linked the
    /// entry, so the entry's header (written before linking) is visible.
    #[inline(always)]
    fn load(&self, i: usize) -> SlotWord {
        decode(self.slot(i).load(Ordering::Acquire))
    }

    /// Lock-free lookup: the key's entry unless absent or `DEAD`.
    ///
    /// A `DEAD` entry is only visible in a table that is stale (replaced, but
    /// loaded before the replacement) or between its unlinking writer's two
    /// stores; it is skipped, as if already tombstoned. (Returning it would
    /// still be linearizable, since such a lookup overlaps the free; skipping
    /// it is defence in depth that costs one bit test on a loaded word.)
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
        let fp = fingerprint(hash);
        let mut i = self.home(hash);
        loop {
            let word = self.slot(i).load(Ordering::Acquire);
            let addr = word.addr();
            // An entry whose fingerprint matches (the common case on a hit);
            // EMPTY (0) and TOMBSTONE (1) have no address bits.
            if addr & TAG_MASK == fp && addr > LOW_TAG {
                let e = word.map_addr(|a| a & !TAG_MASK).cast_const();
                // SAFETY: a linked entry stays allocated until retired
                // through the epoch, and the caller is pinned (see above).
                let h = unsafe { &*e };
                if h.parent == key.parent && h.id == key.id {
                    let meta = h.meta();
                    if !meta.is_dead() {
                        return Some((e, meta));
                    }
                }
            } else if addr == 0 {
                return None;
            }
            i = self.next(i);
        }
    }

    /// Slot `i` (`i < capacity`), without a bounds check.
    #[inline(always)]
    fn slot(&self, i: usize) -> &'a AtomicPtr<EntryHeader> {
        debug_assert!(i < self.capacity);
        // SAFETY: the table has `capacity` initialized slots (`alloc`) and
        // lives for 'a; every index passed here comes from `home`, `next` or
        // `prev` (all below `capacity`) or from a probe of this table.
        unsafe { &*self.slots.as_ptr().add(i) }
    }

    /// Writer's lookup (shard lock held): the key's slot, or where to put it.
    pub(crate) fn probe(&self, hash: u64, key: Key) -> Probe {
        let fp = fingerprint(hash);
        let mut i = self.home(hash);
        let mut first_tombstone = None;
        for _ in 0..self.capacity {
            match self.load(i) {
                SlotWord::Empty => break,
                SlotWord::Tombstone => {
                    first_tombstone.get_or_insert(i);
                }
                SlotWord::Entry(e, tag) => {
                    // SAFETY: under the shard lock, every entry linked in the
                    // current table is live (only this lock's holder unlinks).
                    let h = unsafe { &*e };
                    if tag == fp && h.parent == key.parent && h.id == key.id {
                        debug_assert!(!h.meta().is_dead());
                        return Probe::Found { index: i, entry: e };
                    }
                }
            }
            i = self.next(i);
        }
        match first_tombstone {
            Some(index) => Probe::Vacant {
                index,
                reuses_tombstone: true,
            },
            None => {
                debug_assert!(matches!(self.load(i), SlotWord::Empty), "table full");
                Probe::Vacant {
                    index: i,
                    reuses_tombstone: false,
                }
            }
        }
    }

    /// Links `entry` at `index` (shard lock held; the slot is vacant).
    ///
    /// Release: the entry's header (and its `INIT` meta) become visible to
    /// every reader that loads this slot with Acquire.
    pub(crate) fn link(&self, index: usize, hash: u64, entry: *const EntryHeader) {
        // Checked for real when the entry was allocated (`assert_untagged`).
        debug_assert_eq!(entry.addr() & TAG_MASK, 0, "entry address uses tag bits");
        let word = entry.cast_mut().map_addr(|a| a | fingerprint(hash));
        self.slot(index).store(word, Ordering::Release);
    }

    /// Replaces the entry at `index` with a tombstone (shard lock held),
    /// then turns the tombstones that end its cluster back into `EMPTY` (see
    /// the module docs for why readers stay correct). Returns how many
    /// tombstones the table holds more than before (1, 0 or negative).
    ///
    /// Without this, a churning table fills with tombstones and must be
    /// rebuilt (every entry dereferenced to rehash) every few thousand frees.
    ///
    /// Release orders the entry's earlier `DEAD` mark before the slot
    /// change (readers do not rely on it for data; see
    /// `EntryHeader::mark_dead`).
    pub(crate) fn unlink(&self, index: usize) -> isize {
        self.slot(index).store(
            ptr::without_provenance_mut(TOMBSTONE_ADDR),
            Ordering::Release,
        );
        if !matches!(self.load(self.next(index)), SlotWord::Empty) {
            return 1;
        }
        // The cluster ends here: empty the tombstones before it, last first,
        // so every emptied slot is followed by an EMPTY one when it empties.
        let mut emptied = 0;
        let mut i = index;
        while matches!(self.load(i), SlotWord::Tombstone) && emptied < self.capacity {
            self.slot(i).store(ptr::null_mut(), Ordering::Release);
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
            if i + PREFETCH_AHEAD < cap
                && let SlotWord::Entry(ahead, _) = self.load(i + PREFETCH_AHEAD)
            {
                prefetch(ahead);
            }
            match self.load(i) {
                SlotWord::Entry(e, _) => Some((i, e)),
                _ => None,
            }
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
}

impl Table<'_> {
    /// The entry at slot `i`, if any (for iteration; pinned caller).
    #[inline]
    pub(crate) fn entry_at(&self, i: usize) -> Option<*const EntryHeader> {
        match self.load(i) {
            SlotWord::Entry(e, _) => Some(e),
            _ => None,
        }
    }
}
