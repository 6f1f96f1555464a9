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
//! Only the shard's writer (holding the shard lock) stores into a table, and
//! a slot never goes back to `EMPTY`: that is why a lock-free reader that
//! probes while a writer works always reaches the key's slot if the key was
//! linked before the reader started. Growth and shrinking never touch a
//! published table: the writer builds a new one, copies the entry pointers
//! (entries never move), publishes it, and retires the old one to the epoch
//! (see `shard.rs`).

use core::ptr;

use super::entry::{ENTRY_ALIGN, EntryHeader, Meta};
use crate::key::{Key, KeyHasher};
use crate::sync::{AtomicPtr, Ordering};

const TAG_MASK: usize = ENTRY_ALIGN - 1;
const TOMBSTONE_ADDR: usize = 1;

/// The smallest table (slots). Tables never shrink below it.
pub(crate) const MIN_CAPACITY: usize = 8;

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

pub(crate) struct Table {
    mask: usize,
    slots: Box<[AtomicPtr<EntryHeader>]>,
}

impl Table {
    /// A table of `capacity` slots (a power of two, at least `MIN_CAPACITY`).
    pub(crate) fn new(capacity: usize) -> Table {
        debug_assert!(capacity.is_power_of_two() && capacity >= MIN_CAPACITY);
        let slots = (0..capacity)
            .map(|_| AtomicPtr::new(ptr::null_mut()))
            .collect();
        Table {
            mask: capacity - 1,
            slots,
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
    /// stores; it is skipped, as if already tombstoned.
    ///
    /// Terminates: a table always keeps at least half of its slots `EMPTY`
    /// (writers rebuild before exceeding that), and a slot never returns to
    /// `EMPTY`, so every probe sequence meets one.
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
    fn slot(&self, i: usize) -> &AtomicPtr<EntryHeader> {
        debug_assert!(i <= self.mask);
        // SAFETY: `slots.len() == mask + 1` (set together in `new`, never
        // changed), and `i & mask <= mask`.
        unsafe { self.slots.get_unchecked(i & self.mask) }
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
        self.slots[index].store(word, Ordering::Release);
    }

    /// Replaces the entry at `index` with a tombstone (shard lock held).
    ///
    /// Release orders the entry's earlier `DEAD` mark before the tombstone
    /// (readers do not rely on it for data; see `EntryHeader::mark_dead`).
    pub(crate) fn unlink(&self, index: usize) {
        self.slots[index].store(
            ptr::without_provenance_mut(TOMBSTONE_ADDR),
            Ordering::Release,
        );
    }

    /// Every entry linked in this table, with its slot index.
    ///
    /// The pointers are valid as long as the caller is pinned (readers) or
    /// holds the shard lock (writers) or owns the map (`Drop`).
    pub(crate) fn entries(&self) -> impl Iterator<Item = (usize, *const EntryHeader)> + '_ {
        (0..self.capacity()).filter_map(move |i| match self.load(i) {
            SlotWord::Entry(e, _) => Some((i, e)),
            _ => None,
        })
    }

    /// A new table of `capacity` slots holding the same entries (shard lock
    /// held). Entries are not touched, only their pointers are copied.
    pub(crate) fn rebuilt(&self, capacity: usize, hasher: &KeyHasher) -> Table {
        let new = Table::new(capacity);
        for (_, e) in self.entries() {
            // SAFETY: under the shard lock, linked entries are live.
            let h = unsafe { &*e };
            let hash = hasher.hash(h.key());
            match new.probe(hash, h.key()) {
                Probe::Vacant { index, .. } => new.link(index, hash, e),
                Probe::Found { .. } => unreachable!("a key linked twice in one table"),
            }
        }
        new
    }
}

impl Table {
    /// The entry at slot `i`, if any (for iteration; pinned caller).
    #[inline]
    pub(crate) fn entry_at(&self, i: usize) -> Option<*const EntryHeader> {
        match self.load(i) {
            SlotWord::Entry(e, _) => Some(e),
            _ => None,
        }
    }
}
