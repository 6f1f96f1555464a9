//! One shard's open-addressing table of entry pointers.
//!
//! A table is a power-of-two array of slots probed linearly from the key's
//! hash. A slot is an atomic word holding one of:
//!
//! * `EMPTY` (null): never used in this table; ends every probe;
//! * `TOMBSTONE`: held an entry that was unlinked; probes go on past it;
//! * an entry pointer with a 4-bit **fingerprint** of the key's hash in its
//!   low bits (entries are 16-aligned), so a probe dereferences an entry only
//!   when 4 more bits of the hash agree.
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
//! A table is one 64-aligned allocation of slots and nothing else. The shard
//! refers to it with a [`TableWord`]: the allocation's address with
//! `log2(capacity)` in its 6 low bits. A reader therefore finds its slot
//! from the one word it loads from the shard (address + index from the hash
//! and the capacity in the same word): shard word, slot, entry are the only
//! dependent loads of a lookup.

use core::alloc::Layout;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};

use super::entry::{ENTRY_ALIGN, EntryHeader, Meta};
use crate::key::{Key, KeyHasher};
use crate::sync::{AtomicPtr, Ordering};

const TAG_MASK: usize = ENTRY_ALIGN - 1;
const TOMBSTONE_ADDR: usize = 1;

/// The smallest table (slots). Tables never shrink below it. Under loom it
/// is 2, so that a model forces growth with two entries.
pub(crate) const MIN_CAPACITY: usize = if cfg!(shadow_vars_loom) { 2 } else { 8 };

/// Fingerprint of a hash: its top 4 bits (the slot index uses the low bits).
#[inline(always)]
fn fingerprint(hash: u64) -> usize {
    (hash >> 60) as usize & TAG_MASK
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

/// The pointee type of a [`TableWord`]: gives the word its 64-byte alignment
/// (6 tag bits). Never read as such.
#[repr(C, align(64))]
pub(crate) struct TableBlock([u8; 64]);

/// A table allocation's address with `log2(capacity)` in its low 6 bits.
pub(crate) type TableWord = *mut TableBlock;

const CAPACITY_BITS: usize = 63;

/// A view of a live table: its slots and mask, decoded from a [`TableWord`].
/// Valid for `'a` (the caller's pin or shard lock keeps the table alive).
#[derive(Clone, Copy)]
pub(crate) struct Table<'a> {
    slots: NonNull<AtomicPtr<EntryHeader>>,
    mask: usize,
    _life: PhantomData<&'a [AtomicPtr<EntryHeader>]>,
}

impl Table<'_> {
    /// Allocates a table of `capacity` slots, all `EMPTY` (a power of two, at
    /// least `MIN_CAPACITY`), and returns its word. Free it with [`free`].
    ///
    /// # Panics
    /// If the allocation size overflows (never for capacities from
    /// `shard::slots_for`, which checks first).
    pub(crate) fn alloc(capacity: usize) -> TableWord {
        debug_assert!(capacity.is_power_of_two() && capacity >= MIN_CAPACITY);
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
        let log2 = capacity.trailing_zeros() as usize;
        base.cast::<TableBlock>().map_addr(|a| a | log2)
    }

    fn layout(capacity: usize) -> Layout {
        Layout::array::<AtomicPtr<EntryHeader>>(capacity)
            .and_then(|l| l.align_to(64))
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
        let log2 = word.addr() & CAPACITY_BITS;
        let base = word
            .map_addr(|a| a & !CAPACITY_BITS)
            .cast::<AtomicPtr<EntryHeader>>();
        // SAFETY: a table's address is never null (by the caller).
        let slots = unsafe { NonNull::new_unchecked(base) };
        Table {
            slots,
            mask: (1usize << log2) - 1,
            _life: PhantomData,
        }
    }

    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.mask + 1
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
    /// Terminates: at most half of a table's slots are ever non-`EMPTY`
    /// (writers rebuild before exceeding that; emptying tombstones only adds
    /// `EMPTY` slots), so every probe sequence meets an `EMPTY` slot.
    ///
    /// Safety of the returned pointer: valid while the caller stays pinned
    /// in the epoch in which it loaded this table (entries are retired
    /// through the epoch after being unlinked).
    #[inline(always)]
    pub(crate) fn find(&self, hash: u64, key: Key) -> Option<(*const EntryHeader, Meta)> {
        let fp = fingerprint(hash);
        let mut i = hash as usize & self.mask;
        loop {
            let word = self.slot(i).load(Ordering::Acquire);
            let addr = word.addr();
            // An entry whose fingerprint matches (the common case on a hit);
            // EMPTY (0) and TOMBSTONE (1) have no address bits.
            if addr & TAG_MASK == fp && addr > TAG_MASK {
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
            i = (i + 1) & self.mask;
        }
    }

    /// Slot `i & mask`, without a bounds check.
    #[inline(always)]
    fn slot(&self, i: usize) -> &'a AtomicPtr<EntryHeader> {
        debug_assert!(i <= self.mask);
        // SAFETY: the table has `mask + 1` initialized slots (`alloc`) and
        // lives for 'a; `i & mask <= mask`.
        unsafe { &*self.slots.as_ptr().add(i & self.mask) }
    }

    /// Writer's lookup (shard lock held): the key's slot, or where to put it.
    pub(crate) fn probe(&self, hash: u64, key: Key) -> Probe {
        let fp = fingerprint(hash);
        let mut i = hash as usize & self.mask;
        let mut first_tombstone = None;
        for _ in 0..=self.mask {
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
            i = (i + 1) & self.mask;
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
        if !matches!(self.load((index + 1) & self.mask), SlotWord::Empty) {
            return 1;
        }
        // The cluster ends here: empty the tombstones before it, last first,
        // so every emptied slot is followed by an EMPTY one when it empties.
        let mut emptied = 0;
        let mut i = index;
        while matches!(self.load(i), SlotWord::Tombstone) && emptied <= self.mask {
            self.slot(i).store(ptr::null_mut(), Ordering::Release);
            emptied += 1;
            i = i.wrapping_sub(1) & self.mask;
        }
        1 - emptied as isize
    }

    /// Every entry linked in this table, with its slot index.
    ///
    /// The pointers are valid as long as the caller is pinned (readers) or
    /// holds the shard lock (writers) or owns the map (`Drop`).
    pub(crate) fn entries(self) -> impl Iterator<Item = (usize, *const EntryHeader)> + 'a {
        (0..self.capacity()).filter_map(move |i| match self.load(i) {
            SlotWord::Entry(e, _) => Some((i, e)),
            _ => None,
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
