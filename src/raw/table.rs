//! One shard's open-addressing table of entry pointers.
//!
//! A table has `capacity` slots, probed linearly from the key's home slot
//! (the hash scaled to the capacity: `hash * capacity >> 64`, so any
//! capacity works, not only powers of two). Each slot is two atomics kept in
//! two arrays of one allocation:
//!
//! * a **control byte**, in a dense array of control *words* (`usize`, so
//!   8 bytes each on 64-bit targets): `EMPTY` (never used in this table;
//!   ends every probe), `TOMBSTONE` (held an entry that was unlinked; probes
//!   go on past it), or the **tag** of the linked key: 8 bits of its hash,
//!   folded into `2..=255`;
//! * an **entry pointer**, in a second array: the linked entry, or
//!   null.
//!
//! Past its home slot (tested on its own first, see below), a lookup reads
//! *windows*: the control bytes of a slot and the `GROUP - 1` after it,
//! taken from two adjacent words (a funnel shift). A few word operations
//! find every slot of the window whose tag matches and the first `EMPTY`
//! one; the lookup loads a pointer only for a matching slot before that
//! `EMPTY` (a slot of another key matches once in about 250). So a lookup
//! of an absent key reads only control words, and the number of slots it
//! walks past costs no branch: walking slot by slot, the loop's exit was the
//! most mispredicted branch of a lookup (cachegrind: 1.26 mispredicts per
//! read-heavy operation; 0.69 now). The writers' probe and rebuilds read
//! windows too; only the tombstone sweep of `unlink` goes byte by byte. The control
//! bytes of a 100,000-entry map take about 170 KB and stay in a core's L2,
//! where 8-byte slots holding tagged pointers took 1.3 MB and missed it. A
//! hit reads its control byte, its pointer and its entry: the home slot's
//! byte is tested on its own before any window (most hits are there), so
//! that, the branch predicted, the CPU loads the home pointer and its entry
//! while the byte is still on its way.
//!
//! Control words are only ever accessed as whole atomic words (no access
//! mixes sizes). The writer changes one byte by storing the whole word again
//! with that byte replaced. Bytes past the last slot, in the last word and in
//! one more word after it, hold `TOMBSTONE` forever, so a window that runs
//! past the table's end neither matches nor ends there, and the probe goes
//! on at slot 0.
//!
//! # The pointer decides, the control byte guides
//!
//! Only the shard's writer (holding the shard lock) stores into a table.
//! Linking writes the tag, then the pointer; unlinking nulls the pointer,
//! then writes `TOMBSTONE`. Every store is Release and every load Acquire
//! (free on x86-64). A reader loads control words in slot order (a window's
//! two words, then the next window's) and, on a tag match, the pointer, and
//! accepts only a non-null entry whose key compares equal and which is not
//! `DEAD`. Reading a window's bytes at once, in slot order, is as if each
//! byte were read in turn, so the byte-by-byte argument holds:
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
//!   missed a freed key, no later one finds it through a stale pointer. (An
//!   entry whose constructor failed is unlinked while still `INIT`, and
//!   marked `DEAD` after: readers treat `INIT` as absent, so the same
//!   holds);
//! * an unlinked entry is retired through the epoch only after its pointer
//!   was nulled, so a reader that loaded the pointer while pinned can still
//!   dereference it.
//!
//! `loom_models` (at the end of this file) checks these with every
//! interleaving of a writer that unlinks a key and links another into its
//! slot, under the same tag, while a reader looks both up: once with every
//! key in one control word, once with the window split over two words.
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
//! the control words: `capacity` bytes rounded up to whole words, and one
//! word more. The shard refers to it with a [`TableWord`]:
//! the allocation's address with the table's *capacity class* in its 7 low
//! bits. A reader therefore finds its slot from the one word it loads from
//! the shard: the capacity from the class (a lookup in a 1 KiB static
//! table), the home slot from the hash and the capacity, the pointer array
//! at the address itself, the control words one multiply-add further.
//! Decoding a word this way instead of with shifts and a rounded offset took
//! 10 instructions off a read-heavy operation (98 -> 88, cachegrind), and
//! every lookup and every writer step decodes one.
//!
//! # Capacity classes
//!
//! Class `c` has `((4 + c % 4) << (c / 4)) / 4` slots. Tables use the classes
//! from 12 on (`MIN_CAPACITY`): 8, 10, 12, 14, 16, 20, 24, 28, 32, ... (four
//! steps per doubling, each at most 25%). Steps that
//! fine let the shard keep every grown table between half and three
//! quarters full (see `shard.rs`), so slots cost at most 18 bytes per live
//! entry, where power-of-two tables cost up to 36.

use core::alloc::Layout;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};

use super::entry::{EntryHeader, Meta};
use crate::key::{Key, KeyHasher};
use crate::sync::{AtomicPtr, AtomicUsize, Ordering};

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

/// How many control words ahead [`Table::entries`] prefetches the entries
/// it will yield: 16 slots on 64-bit targets, about 10 entries in flight at
/// the loads tables are kept at.
const PREFETCH_WORDS: usize = 2;

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

/// Bytes per slot: a control byte and a pointer (the control words' padding
/// adds at most two words per table).
const SLOT_BYTES: usize = 1 + size_of::<AtomicPtr<EntryHeader>>();

/// Control bytes per control word (8 on 64-bit targets).
const GROUP: usize = size_of::<usize>();

/// `0x0101...01`: one in every byte of a word.
const ONES: usize = usize::MAX / 0xFF;

/// `0x8080...80`: the high bit of every byte.
const HIGHS: usize = ONES << 7;

/// Control words of a table of `capacity` slots: enough for its control
/// bytes, then one more, so that a window starting at any slot reads two
/// whole words. The bytes past the last slot hold `TOMBSTONE` forever.
#[inline(always)]
const fn control_words(capacity: usize) -> usize {
    capacity.div_ceil(GROUP) + 1
}

/// The control word with every byte `TOMBSTONE` at and after byte `from`
/// (slots past the table's end) and `EMPTY` before it.
const fn padded_word(from: usize) -> usize {
    if from >= GROUP {
        0
    } else {
        (ONES >> (8 * from)) << (8 * from)
    }
}

/// The high bit of every zero byte of `w`, and possibly of bytes after the
/// first zero one that hold 1 (the classic borrow test, three operations:
/// exact up to and including the first zero byte, which is where a probe
/// ends or finds its first candidate).
#[inline(always)]
const fn zero_bytes_from_first(w: usize) -> usize {
    w.wrapping_sub(ONES) & !w & HIGHS
}

/// The high bit of every non-zero byte of `x`, and only those (no carry
/// crosses a byte: `0x7F + 0x7F` fits in one).
#[inline(always)]
const fn nonzero_bytes(x: usize) -> usize {
    (((x & !HIGHS) + !HIGHS) | x) & HIGHS
}

/// The index of the lowest byte flagged in `mask` (a mask from the byte
/// tests above, not zero).
#[inline(always)]
const fn first_byte(mask: usize) -> usize {
    mask.trailing_zeros() as usize / 8
}

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

/// What a lock-free lookup found: the key's entry, its state as the lookup
/// loaded it (never `DEAD`), and the table and slot it was linked at.
#[derive(Clone, Copy)]
pub(crate) struct Hit {
    /// The table's pointer array: its identity, for [`Table::still_holds`].
    table: NonNull<AtomicPtr<EntryHeader>>,
    pub(crate) index: usize,
    pub(crate) entry: *const EntryHeader,
    pub(crate) meta: Meta,
}

/// Iterator of [`Table::entries`].
pub(crate) struct Entries<'a> {
    table: Table<'a>,
    /// The control word to read next.
    next_word: usize,
    /// Control words holding slots (the extra padding word excluded).
    words: usize,
    /// Slots of word `next_word - 1` not yielded yet (see [`Table::tagged`]).
    tagged: usize,
}

impl Iterator for Entries<'_> {
    type Item = (usize, *const EntryHeader);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        while self.tagged == 0 {
            if self.next_word == self.words {
                return None;
            }
            self.tagged = self.table.tagged(self.next_word);
            if self.next_word + PREFETCH_WORDS < self.words {
                self.table.prefetch_entries(self.next_word + PREFETCH_WORDS);
            }
            self.next_word += 1;
        }
        let i = (self.next_word - 1) * GROUP + first_byte(self.tagged);
        self.tagged &= self.tagged - 1;
        let e = self.table.load_pointer(i);
        // Under the lock (or owned) a slot holds a tag exactly while it holds
        // an entry: linking and unlinking finish before the lock is released.
        debug_assert!(!e.is_null(), "a tagged slot without an entry");
        Some((i, e))
    }
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

/// A view of a live table: its control words, pointers and capacity,
/// decoded from a [`TableWord`]. Valid for `'a` (the caller's pin or shard
/// lock keeps the table alive).
#[derive(Clone, Copy)]
pub(crate) struct Table<'a> {
    controls: NonNull<AtomicUsize>,
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
            // SAFETY: `i < capacity`: inside the allocation and aligned (see
            // `layout`).
            unsafe {
                table
                    .pointers
                    .as_ptr()
                    .add(i)
                    .write(AtomicPtr::new(ptr::null_mut()))
            };
        }
        for g in 0..control_words(capacity) {
            let padding_from = capacity.saturating_sub(g * GROUP);
            // SAFETY: `g < control_words`: inside the allocation and aligned
            // (see `layout`).
            unsafe {
                table
                    .controls
                    .as_ptr()
                    .add(g)
                    .write(AtomicUsize::new(padded_word(padding_from)))
            };
        }
        word
    }

    fn layout(capacity: usize) -> Layout {
        // The control words follow the pointers unpadded.
        const { assert!(align_of::<AtomicUsize>() <= align_of::<AtomicPtr<EntryHeader>>()) };
        control_words(capacity)
            .checked_mul(size_of::<AtomicUsize>())
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
        for g in 0..control_words(table.capacity()) {
            // SAFETY: every control word was initialized in `alloc`; each is
            // dropped once (a no-op with std atomics; loom atomics need it).
            unsafe { ptr::drop_in_place(table.controls.as_ptr().add(g)) };
        }
        for i in 0..table.capacity() {
            // SAFETY: as above, for the pointers.
            unsafe { ptr::drop_in_place(table.pointers.as_ptr().add(i)) };
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
#[cfg(not(shadow_vars_loom))]
pub(crate) fn prefetch_home(word: TableWord, hash: u64) {
    let (base, capacity) = decode(word);
    let i = home_slot(hash, capacity);
    prefetch(base.wrapping_add(i * size_of::<AtomicPtr<EntryHeader>>()));
    prefetch(base.wrapping_add(controls_offset(capacity) + i / GROUP * GROUP));
}

/// A table word's allocation address and capacity (no memory read but the
/// static class table).
#[inline(always)]
fn decode(word: TableWord) -> (*mut u8, usize) {
    let capacity = CLASS_CAPACITIES[word.addr() & CLASS_BITS];
    (word.map_addr(|a| a & !CLASS_BITS).cast::<u8>(), capacity)
}

/// The slot a key with this hash is probed from in a table of `capacity`
/// slots: the high bits of the hash scaled to the capacity (a multiply, no
/// division).
#[inline(always)]
pub(crate) fn home_slot(hash: u64, capacity: usize) -> usize {
    ((u128::from(hash) * capacity as u128) >> 64) as usize
}

impl<'a> Table<'a> {
    /// The table a word points to.
    ///
    /// # Safety
    /// `word` came from [`Table::alloc`] and stays allocated for `'a`.
    #[inline(always)]
    pub(crate) unsafe fn from_word(word: TableWord) -> Table<'a> {
        let (base, capacity) = decode(word);
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

    /// Where the window after the one at slot `i` starts: `GROUP` slots on,
    /// or slot 0 past the last slot (the padding ends a window there).
    #[inline(always)]
    fn next_window(&self, i: usize) -> usize {
        if i + GROUP >= self.capacity {
            0
        } else {
            i + GROUP
        }
    }

    /// The slot before `i`, wrapping around.
    #[inline(always)]
    fn prev(&self, i: usize) -> usize {
        if i == 0 { self.capacity - 1 } else { i - 1 }
    }

    /// Control word `g` (`g < control_words(capacity)`), without a bounds
    /// check.
    #[inline(always)]
    fn word(&self, g: usize) -> &'a AtomicUsize {
        debug_assert!(g < control_words(self.capacity));
        // Every index passed here is a slot index (below `capacity`)
        // divided by `GROUP`, or that plus one.
        // SAFETY: `control_words` words, initialized in `alloc`, live for 'a.
        unsafe { &*self.controls.as_ptr().add(g) }
    }

    /// Pointer `i` (`i < capacity`), without a bounds check.
    #[inline(always)]
    fn pointer(&self, i: usize) -> &'a AtomicPtr<EntryHeader> {
        debug_assert!(i < self.capacity);
        // Every index passed here comes from `home`, `next` or `prev` (all
        // below `capacity`) or from a probe of this table.
        // SAFETY: `capacity` pointers, initialized in `alloc`, live for 'a.
        unsafe { &*self.pointers.as_ptr().add(i) }
    }

    /// Loads control byte `i` (`i < capacity`). Acquire: pairs with the
    /// Release stores of control words, so that a reader that saw a slot
    /// change also sees what its writer did before, in particular a
    /// replaced entry's `DEAD` mark and null pointer (see the module docs
    /// for why a lookup needs it).
    #[inline(always)]
    fn load_control(&self, i: usize) -> u8 {
        (self.word(i / GROUP).load(Ordering::Acquire) >> (8 * (i % GROUP))) as u8
    }

    /// Stores control byte `i` (shard lock held, or a table not yet
    /// published). The word's other bytes are stored again unchanged.
    ///
    /// The load is Relaxed: only the lock's holder stores control words, and
    /// the lock orders the holders, so it sees the word's latest value. The
    /// store is Release (module docs).
    #[inline(always)]
    fn store_control(&self, i: usize, control: u8) {
        let word = self.word(i / GROUP);
        let shift = 8 * (i % GROUP);
        let old = word.load(Ordering::Relaxed);
        let new = (old & !(0xFF << shift)) | (usize::from(control) << shift);
        word.store(new, Ordering::Release);
    }

    /// The control bytes of slots `i..i + GROUP`, slot `i` in the low byte;
    /// bytes past the table's last slot read `TOMBSTONE` (no wrap-around).
    /// Two Acquire loads, in slot order (module docs).
    #[inline(always)]
    fn window(&self, i: usize) -> usize {
        let g = i / GROUP;
        let shift = 8 * (i % GROUP);
        let low = self.word(g).load(Ordering::Acquire);
        let high = self.word(g + 1).load(Ordering::Acquire);
        // `high << (BITS - shift)`, in two steps so that `shift == 0` does
        // not shift by the word's width.
        (low >> shift) | ((high << 1) << (usize::BITS as usize - 1 - shift))
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
    /// non-`EMPTY` (writers rebuild before exceeding that, and growth past
    /// the largest class panics instead; emptying tombstones only adds
    /// `EMPTY` slots), so every probe sequence meets an `EMPTY` slot.
    ///
    /// Safety of the returned pointer: valid while the caller stays pinned
    /// in the epoch in which it loaded this table (entries are retired
    /// through the epoch after being unlinked).
    #[inline(always)]
    pub(crate) fn find(&self, hash: u64, key: Key) -> Option<Hit> {
        let tag = tag(hash);
        let tags = ONES * usize::from(tag);
        let mut i = self.home(hash);
        // The home slot first, byte by byte: most hits are there, and a
        // branch on its byte lets the CPU load the home pointer, and the
        // entry after it, while the control word is still on its way. Found
        // from the window instead, the pointer's address would wait for the
        // window's bytes (a prefetch in its place lost 50% on hits in a 4M
        // map: prefetches can be dropped when many misses are in flight).
        if self.load_control(i) == tag
            && let Some(found) = self.candidate(i, key)
        {
            return Some(found);
        }
        // The home byte's bit, already checked (first window only).
        let mut checked = HIGHS & 0xFF;
        loop {
            let window = self.window(i);
            let empty = zero_bytes_from_first(window);
            // Slots whose tag matches, up to the first `EMPTY` one (all of
            // the window if it has none: `empty ^ (empty - 1)` keeps the
            // bits up to and including the first set one). A slot after a
            // match may show up as a false candidate (see
            // `zero_bytes_from_first`); its pointer is compared and rejected.
            // Padding never does: `TOMBSTONE ^ tag` is neither 0 nor 1.
            let mut candidates =
                zero_bytes_from_first(window ^ tags) & (empty ^ empty.wrapping_sub(1)) & !checked;
            while candidates != 0 {
                let j = i + first_byte(candidates);
                if let Some(found) = self.candidate(j, key) {
                    return Some(found);
                }
                candidates &= candidates - 1;
            }
            if empty != 0 {
                return None;
            }
            i = self.next_window(i);
            checked = 0;
        }
    }

    /// The entry at slot `j` if it is `key`'s and not `DEAD` (the pointer
    /// decides; the caller is pinned).
    #[inline(always)]
    fn candidate(&self, j: usize, key: Key) -> Option<Hit> {
        let e = self.load_pointer(j);
        if e.is_null() {
            return None;
        }
        // SAFETY: an entry is retired through the epoch only after its
        // pointer was nulled; the caller is pinned.
        let h = unsafe { &*e };
        if h.parent == key.parent && h.id == key.id {
            let meta = h.meta();
            if !meta.is_dead() {
                return Some(Hit {
                    table: self.pointers,
                    index: j,
                    entry: e,
                    meta,
                });
            }
        }
        None
    }

    /// Writer's lookup (shard lock held): the key's slot, or where to put
    /// it: the first tombstone on its probe path, else the `EMPTY` slot that
    /// ends the path.
    ///
    /// It reads windows as [`find`](Table::find) does, with the same byte
    /// test: the slots whose tag matches up to the first `EMPTY` one, and
    /// the first tombstone before it (`TOMBSTONE` is 1, so the test on
    /// `window ^ ONES` flags the first one exactly; the padding past the
    /// table's last slot also reads `TOMBSTONE`, and is masked off). Walking
    /// slot by slot, the loop's exit was the most mispredicted branch of
    /// growing a map (cachegrind: 2.43 -> 1.50 mispredicts per insert).
    pub(crate) fn probe(&self, hash: u64, key: Key) -> Probe {
        let tags = ONES * usize::from(tag(hash));
        let mut i = self.home(hash);
        let mut first_tombstone = None;
        loop {
            let window = self.window(i);
            let empty = zero_bytes_from_first(window);
            // The window's slots up to and including its first `EMPTY` one
            // (all of them if it has none).
            let upto = empty ^ empty.wrapping_sub(1);
            // A false candidate (see `zero_bytes_from_first`) holds `tag ^ 1`,
            // another key's tag: its entry is compared and rejected.
            let mut candidates = zero_bytes_from_first(window ^ tags) & upto;
            while candidates != 0 {
                let j = i + first_byte(candidates);
                let e = self.load_pointer(j);
                debug_assert!(
                    !e.is_null(),
                    "a tagged slot without an entry, under the lock"
                );
                // SAFETY: under the shard lock, every entry linked in the
                // current table is live (only this lock's holder unlinks).
                let h = unsafe { &*e };
                if h.parent == key.parent && h.id == key.id {
                    debug_assert!(!h.meta().is_dead());
                    return Probe::Found { index: j, entry: e };
                }
                candidates &= candidates - 1;
            }
            if first_tombstone.is_none() {
                let mut tombstones = zero_bytes_from_first(window ^ ONES) & upto & !empty;
                if i + GROUP > self.capacity {
                    // Padding bytes are not slots.
                    tombstones &= (1 << (8 * (self.capacity - i))) - 1;
                }
                if tombstones != 0 {
                    first_tombstone = Some(i + first_byte(tombstones));
                }
            }
            if empty != 0 {
                return match first_tombstone {
                    Some(index) => Probe::Vacant {
                        index,
                        reuses_tombstone: true,
                    },
                    None => Probe::Vacant {
                        index: i + first_byte(empty),
                        reuses_tombstone: false,
                    },
                };
            }
            i = self.next_window(i);
        }
    }

    /// Whether `hit`, found by a lookup under the caller's current pin, is of
    /// this table and still holds (shard lock held): `probe` would return
    /// `Found` with the same slot and entry.
    ///
    /// Under the lock only this lock's holder changes a table, and a slot's
    /// pointer is non-null exactly while the entry it points to is linked
    /// there. Neither address can have been reused since the lookup: a
    /// replaced table and an unlinked entry are both retired through the
    /// epoch, so while the caller stays pinned the same address means the
    /// same table and the same entry.
    pub(crate) fn still_holds(&self, hit: &Hit) -> bool {
        self.pointers == hit.table && self.load_pointer(hit.index) == hit.entry
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
        self.store_control(index, tag(hash));
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
    /// an emptied slot also sees the entry's `DEAD` mark (or, for a failed
    /// constructor's entry, its `INIT` state, also absent to readers) and
    /// the null pointer stored before it, so once a lookup missed the key,
    /// no later lookup of that reader can find the entry through a stale
    /// pointer (module docs).
    pub(crate) fn unlink(&self, index: usize) -> isize {
        self.pointer(index)
            .store(ptr::null_mut(), Ordering::Release);
        self.store_control(index, TOMBSTONE);
        if self.load_control(self.next(index)) != EMPTY {
            return 1;
        }
        // The cluster ends here: empty the tombstones before it, last first,
        // so every emptied slot is followed by an EMPTY one when it empties.
        let mut emptied = 0;
        let mut i = index;
        while self.load_control(i) == TOMBSTONE && emptied < self.capacity {
            self.store_control(i, EMPTY);
            emptied += 1;
            i = self.prev(i);
        }
        1 - emptied as isize
    }

    /// Every entry linked in this table, with its slot index, in slot order
    /// (shard lock held, or the map owned: `Drop`).
    ///
    /// The iteration reads control words: each yields its tagged slots' bit
    /// by bit, so empty and tombstoned slots cost no branch. As it enters a
    /// word, it prefetches the entries of the word [`PREFETCH_WORDS`]
    /// ahead: every caller dereferences the entries it gets (to rehash or
    /// destroy them), and entries lie in allocation order, not slot order,
    /// so without it a table larger than the caches costs one serial cache
    /// miss per entry.
    pub(crate) fn entries(self) -> Entries<'a> {
        Entries {
            table: self,
            next_word: 0,
            words: self.capacity.div_ceil(GROUP),
            tagged: 0,
        }
    }

    /// The slots of control word `g` that hold a tag (a linked key), as the
    /// high bit of their byte. Exact: neither `EMPTY`, `TOMBSTONE` nor the
    /// padding (`TOMBSTONE`) is flagged.
    #[inline(always)]
    fn tagged(&self, g: usize) -> usize {
        nonzero_bytes(self.word(g).load(Ordering::Acquire) & (ONES * 0xFE))
    }

    /// Prefetches the entries linked in control word `g`'s slots.
    #[inline(always)]
    fn prefetch_entries(&self, g: usize) {
        let mut tagged = self.tagged(g);
        while tagged != 0 {
            prefetch(self.load_pointer(g * GROUP + first_byte(tagged)));
            tagged &= tagged - 1;
        }
    }

    /// A new table of `capacity` slots holding the same entries (shard lock
    /// held). Entries are not moved, only their pointers are copied; each is
    /// read once, for its key's hash.
    ///
    /// The keys are distinct and the new table has no tombstones, so each
    /// goes to the first `EMPTY` slot from its home: where [`probe`] would
    /// put it, found a window at a time, without comparing keys.
    ///
    /// [`probe`]: Table::probe
    pub(crate) fn rebuilt(&self, capacity: usize, hasher: &KeyHasher) -> TableWord {
        let word = Table::alloc(capacity);
        // SAFETY: just allocated; freed by no one before we return it.
        let new = unsafe { Table::from_word(word) };
        for (_, e) in self.entries() {
            // SAFETY: under the shard lock, linked entries are live.
            let h = unsafe { &*e };
            let hash = hasher.hash(h.key());
            debug_assert!(
                matches!(new.probe(hash, h.key()), Probe::Vacant { .. }),
                "a key linked twice in one table"
            );
            new.link(new.first_empty(hash), hash, e);
        }
        word
    }

    /// The first `EMPTY` slot from `hash`'s home (a table being built: no
    /// tombstones, no concurrent writer). Windows never report padding
    /// bytes as `EMPTY`, so the slot is below `capacity`.
    #[inline(always)]
    fn first_empty(&self, hash: u64) -> usize {
        let mut i = self.home(hash);
        loop {
            let empty = zero_bytes_from_first(self.window(i));
            if empty != 0 {
                let j = i + first_byte(empty);
                debug_assert!(j < self.capacity && self.load_control(j) == EMPTY);
                return j;
            }
            i = self.next_window(i);
        }
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

    /// The byte test a probe relies on, against a byte-by-byte reference:
    /// every zero byte is flagged, the first one exactly, and the only other
    /// bits are bytes holding 1 after the first zero one.
    #[test]
    fn zero_bytes_from_first_flags_what_probes_rely_on() {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let bytes = [0u8, 1, 2, 0x7f, 0x80, 0x81, 0xfe, 0xff];
        for _ in 0..if cfg!(miri) { 2_000 } else { 200_000 } {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut w = 0usize;
            for b in 0..GROUP {
                w |= usize::from(bytes[(x >> (3 * b)) as usize & 7]) << (8 * b);
            }
            let nonzero = (0..GROUP)
                .filter(|b| (w >> (8 * b)) as u8 != 0)
                .fold(0, |m, b| m | 0x80 << (8 * b));
            assert_eq!(nonzero_bytes(w), nonzero, "{w:#x}");
            let flagged = zero_bytes_from_first(w);
            let byte = |b: usize| (w >> (8 * b)) as u8;
            let first_zero = (0..GROUP).find(|&b| byte(b) == 0);
            for b in 0..GROUP {
                let bit = flagged >> (8 * b) & 0xFF;
                assert!(bit == 0 || bit == 0x80, "{w:#x}: stray bits");
                let allowed = byte(b) == 0 || (byte(b) == 1 && first_zero.is_some_and(|f| b > f));
                assert!(bit == 0 || allowed, "{w:#x}: byte {b} flagged");
                assert!(byte(b) != 0 || bit != 0, "{w:#x}: zero byte {b} missed");
            }
            if let Some(f) = first_zero {
                assert_eq!(flagged.trailing_zeros() as usize, 8 * f + 7, "{w:#x}");
            }
        }
    }

    /// Windows read slot `i` first, then the slots after it up to
    /// `GROUP`, with `TOMBSTONE` past the table's end.
    #[test]
    fn windows_start_at_their_slot_and_pad_the_end_with_tombstones() {
        for cap in capacities().filter(|c| (MIN_CAPACITY..=64).contains(c)) {
            let word = Table::alloc(cap);
            // SAFETY: allocated above, freed at the end of this iteration.
            let t = unsafe { Table::from_word(word) };
            for i in 0..cap {
                t.store_control(i, (i % 200) as u8 + 2);
            }
            for i in 0..cap {
                let w = t.window(i);
                for b in 0..GROUP {
                    let want = if i + b < cap { (i + b) % 200 + 2 } else { 1 };
                    assert_eq!(
                        (w >> (8 * b)) as u8,
                        want as u8,
                        "cap {cap}, slot {i}, byte {b}"
                    );
                }
            }
            // SAFETY: no one else uses the table.
            unsafe { Table::free(word) };
        }
    }

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
                .map(|&k| Entry::<u64>::new_init(k, |c| slab.alloc(c)))
                .collect();
            for (&k, &e) in keys.iter().zip(&entries) {
                let hash = hasher.hash(k);
                match t.probe(hash, k) {
                    Probe::Vacant { index, .. } => t.link(index, hash, e),
                    Probe::Found { .. } => panic!("{k:?} found before it was linked"),
                }
            }
            let mut last = None;
            for (i, e) in t.entries() {
                assert!(last < Some(i), "capacity {cap}: slots out of order");
                assert_eq!(t.entry_at(i), Some(e), "capacity {cap}: slot {i}");
                last = Some(i);
            }
            let mut seen: Vec<_> = t.entries().map(|(_, e)| e.addr()).collect();
            seen.sort_unstable();
            let mut linked: Vec<_> = entries.iter().map(|e| e.addr()).collect();
            linked.sort_unstable();
            assert_eq!(seen, linked, "capacity {cap}");
            for (i, (&k, &e)) in keys.iter().zip(&entries).enumerate() {
                let hash = hasher.hash(k);
                assert_eq!(t.find(hash, k).map(|f| f.entry), Some(e.cast_const()));
                if i % 2 == 0 {
                    let Probe::Found { index, entry } = t.probe(hash, k) else {
                        panic!("{k:?} not found by the writer's probe");
                    };
                    assert_eq!(entry, e.cast_const());
                    t.unlink(index);
                }
            }
            // Every odd key linked, every even one unlinked, as lookups in
            // `table` must see it.
            let odd_half_linked = |table: &Table<'_>, context: &str| {
                for (i, (&k, &e)) in keys.iter().zip(&entries).enumerate() {
                    let found = table.find(hasher.hash(k), k).map(|f| f.entry);
                    assert_eq!(found, (i % 2 == 1).then_some(e.cast_const()), "{context}");
                }
            };
            odd_half_linked(&t, &format!("capacity {cap}"));
            for (i, &k) in keys.iter().enumerate() {
                if i % 2 == 0 {
                    // Where the writer would relink it: the first tombstone
                    // on its path, else the `EMPTY` slot that ends it,
                    // found byte by byte.
                    let mut j = t.home(hasher.hash(k));
                    let mut first_tombstone = None;
                    while t.load_control(j) != EMPTY {
                        if t.load_control(j) == TOMBSTONE {
                            first_tombstone.get_or_insert(j);
                        }
                        j = t.next(j);
                    }
                    let want = first_tombstone.unwrap_or(j);
                    match t.probe(hasher.hash(k), k) {
                        Probe::Vacant {
                            index,
                            reuses_tombstone,
                        } => {
                            assert_eq!(index, want, "capacity {cap}");
                            assert_eq!(reuses_tombstone, first_tombstone.is_some());
                        }
                        Probe::Found { .. } => panic!("{k:?} found after its unlink"),
                    }
                }
            }
            // Rebuilt into a smaller, the same and a larger class: every key
            // left is found, none unlinked is, and each lands where the
            // writers' probe would have put it (a reference table built
            // with `probe`, in the same order).
            let live = keys.len() - keys.len().div_ceil(2);
            for new_cap in [
                capacity_at_least((live * 4).div_ceil(3).max(MIN_CAPACITY)),
                Some(cap),
                capacity_at_least(cap + 1),
            ]
            .into_iter()
            .flatten()
            {
                let rebuilt = t.rebuilt(new_cap, &hasher);
                let reference = Table::alloc(new_cap);
                // SAFETY: both allocated just above, freed below.
                let (r, want) = unsafe { (Table::from_word(rebuilt), Table::from_word(reference)) };
                for (_, e) in t.entries() {
                    // SAFETY: the test's entries, alive until the end.
                    let k = unsafe { (*e).key() };
                    let hash = hasher.hash(k);
                    let Probe::Vacant { index, .. } = want.probe(hash, k) else {
                        panic!("{k:?} twice");
                    };
                    want.link(index, hash, e);
                }
                for j in 0..new_cap {
                    assert_eq!(
                        r.load_control(j),
                        want.load_control(j),
                        "{cap} -> {new_cap}: slot {j}"
                    );
                    assert_eq!(
                        r.load_pointer(j),
                        want.load_pointer(j),
                        "{cap} -> {new_cap}: slot {j}"
                    );
                }
                odd_half_linked(&r, &format!("{cap} -> {new_cap}"));
                // SAFETY: nothing uses either table any more.
                unsafe {
                    Table::free(rebuilt);
                    Table::free(reference);
                }
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

    /// A hash whose home slot in a table of `1 << bits` slots is `home`,
    /// with tag `tag`.
    fn hash(home: usize, bits: u32, tag: u8) -> u64 {
        ((home as u64) << (64 - bits)) | u64::from(tag)
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
    ///
    /// All three keys share one control word here.
    #[test]
    fn reader_vs_unlink_and_relink_of_one_slot() {
        slot_reuse_model("table_slot_reuse", 3, 0, 0, 1);
    }

    /// As above with the keys' home in the last slot of control word 0,
    /// where X sits, and A after it, in word 1: every lookup of A or B
    /// reads its window from two words, one of which the writer changes.
    /// A ends its cluster, so unlinking it empties its slot, and B is
    /// linked into that `EMPTY` slot.
    #[test]
    fn reader_vs_unlink_and_relink_across_control_words() {
        slot_reuse_model(
            "table_slot_reuse_across_words",
            4,
            GROUP - 1,
            GROUP,
            GROUP - 1,
        );
    }

    /// The model above, in a table of `1 << bits` slots where A, B and X
    /// all have home slot `home`, A is linked at `slot_a` and X at
    /// `slot_x`.
    fn slot_reuse_model(name: &'static str, bits: u32, home: usize, slot_a: usize, slot_x: usize) {
        let a_ends_cluster = slot_a > slot_x;
        use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
        let executions = std::sync::Arc::new(AtomicUsize::new(0));
        let counted = executions.clone();
        let start = std::time::Instant::now();
        // Unbounded: two threads and a dozen atomic operations.
        loom::model::Builder::new().check(move || {
            counted.fetch_add(1, Relaxed);
            let slab = Slab::new();
            let (a, x, b) = (key(0x100), key(0x200), key(0x300));
            let (ha, hx, hb) = (
                hash(home, bits, 7),
                hash(home, bits, 9),
                hash(home, bits, 7),
            );
            let ea = Entry::<u64>::new_init(a, |c| slab.alloc(c));
            let ex = Entry::<u64>::new_init(x, |c| slab.alloc(c));
            let eb = Entry::<u64>::new_init(b, |c| slab.alloc(c));
            let shared = Arc::new(Shared(Table::alloc(1 << bits), ea, eb));
            let t = shared.table();
            t.link(slot_a, ha, ea);
            t.link(slot_x, hx, ex);
            let writer = {
                let shared = shared.clone();
                loom::thread::spawn(move || {
                    let t = shared.table();
                    // SAFETY: the entry lives until after the join.
                    unsafe { (*shared.1).mark_dead() };
                    let tombstones = t.unlink(slot_a);
                    assert_eq!(tombstones, if a_ends_cluster { 0 } else { 1 });
                    match t.probe(hb, b) {
                        Probe::Vacant {
                            index,
                            reuses_tombstone,
                        } if index == slot_a && reuses_tombstone != a_ends_cluster => {
                            t.link(slot_a, hb, shared.2)
                        }
                        _ => panic!("B should reuse A's slot"),
                    }
                })
            };
            let b1 = t.find(hb, b).is_some();
            let a1 = t.find(ha, a).is_some();
            let b2 = t.find(hb, b).is_some();
            let a2 = t.find(ha, a).is_some();
            // Seen linked, then lost; missed, then found again.
            assert!(!b1 || b2, "a key seen linked was lost");
            assert!(a1 || !a2, "an unlinked key came back");
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
            "loom model {name}: unbounded, {} executions, {:.1} s",
            executions.load(Relaxed),
            start.elapsed().as_secs_f64()
        );
    }
}
