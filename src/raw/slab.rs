//! A shard's slab: small entries packed into chunks instead of one heap
//! allocation each.
//!
//! Entries of up to 32 bytes (an `Entry<u64>`, or any value of up to 8
//! bytes) and of up to 64 bytes (values of up to 40 bytes) are carved from
//! 64-aligned chunks of blocks of exactly that size. Compared with one
//! `malloc` per entry this is:
//!
//! * **dense**: a 32-byte entry takes 32 bytes, where glibc's allocator
//!   takes a 48-byte chunk for it;
//! * **aligned**: a block never straddles two cache lines (a 32-byte entry
//!   in a 48-byte malloc chunk straddles one time in four, and a lookup of
//!   such an entry misses twice);
//! * **cheaper**: allocating and freeing are a few list operations under an
//!   uncontended lock, instead of the allocator's slow path (the epoch frees
//!   entries in batches, which drains the allocator's per-thread caches).
//!
//! Larger entries use the global allocator (`Box`), as before.
//!
//! # Concurrency and lifetime
//!
//! Everything is under one mutex per slab. Blocks are allocated in batches
//! by creators holding the shard's writer lock, into the shard's [`Stash`],
//! from which each new entry takes one; they are freed one by one by whoever
//! runs an entry's deferred destruction, on any thread, possibly after the
//! map was dropped. So the slab's shared part lives in its own allocation, and is
//! freed by whoever leaves it last: the shard (dropping its [`Slab`]) if no
//! chunk is left, else the free that empties the last chunk. Both decide
//! under the mutex, and nothing can reach the slab after that: the shard is
//! gone and every block was freed. Empty chunks are freed at once, so a map
//! emptied by frees gives its memory back.
//!
//! The mutex is never held while user code runs (a value's `Drop` runs
//! before its block is freed, and no allocation runs a constructor), it is
//! the innermost lock (taken inside the shard's writer lock, never the other
//! way round), and nothing pins while holding it (so no deferred destruction
//! can run under it): it cannot take part in a deadlock.

use core::alloc::Layout;
use core::ptr::{self, NonNull};

use crossbeam_utils::CachePadded;

use crate::sync::{self, Mutex};

/// Block sizes of the classes (a block's alignment is its size).
pub(crate) const CLASS_SIZES: [usize; 2] = [32, 64];

/// Chunks are aligned to this (the largest block size).
const CHUNK_ALIGN: usize = 64;
/// A class's first chunk holds this many blocks, the next twice as many,
/// and so on up to `MAX_CHUNK_BYTES`: a shard with a handful of entries
/// takes little, a large one allocates a chunk every few hundred entries.
const MIN_CHUNK_BLOCKS: usize = 4;
const MAX_CHUNK_BYTES: usize = 8 << 10;

/// The slab class of a block of `layout`, if any.
pub(crate) const fn class_of(layout: Layout) -> Option<usize> {
    if layout.size() <= CLASS_SIZES[0] && layout.align() <= CLASS_SIZES[0] {
        Some(0)
    } else if layout.size() <= CLASS_SIZES[1] && layout.align() <= CLASS_SIZES[1] {
        Some(1)
    } else {
        None
    }
}

/// The shared part: the state behind its mutex, in cache lines of its own
/// (each shard's is a separate small allocation, and the allocator would
/// otherwise pack neighbouring shards' mutexes into one line, so writers of
/// different shards would take it from each other).
type Shared = CachePadded<Mutex<SlabState>>;

/// The shard's handle on its slab (owner of the shared part until dropped).
pub(crate) struct Slab {
    shared: NonNull<Shared>,
}

/// A copy of the slab's address, captured by deferred destructions; valid
/// while a block allocated from the slab is not freed yet (see the module
/// docs).
#[derive(Clone, Copy)]
pub(crate) struct SlabRef {
    shared: NonNull<Shared>,
}

// SAFETY: the shared state is only accessed under its mutex; the pointer
// itself is an address, and its lifetime rule (module docs) does not depend
// on the thread.
unsafe impl Send for Slab {}
// SAFETY: as above; through `&Slab` (here and in `Stash`) the shared state
// is only reached under its mutex.
unsafe impl Sync for Slab {}
// SAFETY: as for `Slab`.
unsafe impl Send for SlabRef {}
// SAFETY: as for `Slab`.
unsafe impl Sync for SlabRef {}

/// Blocks a shard took from its slab in a batch and has not used yet: per
/// class, a list linked through each block's first word (as a chunk's free
/// blocks are). It lives under the shard's writer lock, so a shard creating
/// entries takes the slab's mutex once per [`STASH_BATCH`] entries instead
/// of once per entry. Used only with the slab it was filled from; empty
/// when dropped (the shard gives it back first).
pub(crate) struct Stash {
    heads: [*mut u8; CLASS_SIZES.len()],
}

/// Blocks a stash takes from its slab at once.
pub(crate) const STASH_BATCH: usize = 16;

// SAFETY: stashed blocks are memory owned by whoever holds the stash;
// nothing in them is tied to a thread.
unsafe impl Send for Stash {}

impl Stash {
    pub(crate) const fn new() -> Stash {
        Stash {
            heads: [ptr::null_mut(); CLASS_SIZES.len()],
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.heads.iter().all(|h| h.is_null())
    }

    /// A block of class `class`, as from [`Slab::alloc`]: from the stash,
    /// refilled with [`STASH_BATCH`] blocks from `slab` when empty.
    ///
    /// # Safety
    /// `slab` is the slab of every block already in this stash.
    pub(crate) unsafe fn take(&mut self, slab: &Slab, class: usize) -> NonNull<u8> {
        let head = &mut self.heads[class];
        if head.is_null() {
            // SAFETY: the shard owns the slab, so the shared part is live.
            let mut st = sync::lock(unsafe { slab.shared.as_ref() });
            for _ in 0..STASH_BATCH {
                let b = st.alloc_one(class).as_ptr();
                // SAFETY: a fresh block, ours, at least pointer-sized and
                // -aligned (32 or 64 bytes, aligned to its size).
                unsafe { b.cast::<*mut u8>().write(*head) };
                *head = b;
            }
        }
        let b = *head;
        // SAFETY: `b` is a stashed block (not null: just refilled), whose
        // first word holds the next stashed block's address (written above).
        *head = unsafe { b.cast::<*mut u8>().read() };
        // SAFETY: not null, as just said.
        unsafe { NonNull::new_unchecked(b) }
    }

    /// Frees every stashed block back to `slab`, leaving the stash empty.
    ///
    /// # Safety
    /// As for [`Stash::take`].
    pub(crate) unsafe fn give_back(&mut self, slab: &Slab) {
        if self.is_empty() {
            return;
        }
        // SAFETY: the shard owns the slab, so the shared part is live.
        let mut st = sync::lock(unsafe { slab.shared.as_ref() });
        for head in &mut self.heads {
            while let Some(b) = NonNull::new(*head) {
                // SAFETY: a stashed block holds the next one's address in
                // its first word (see `take`).
                *head = unsafe { b.as_ptr().cast::<*mut u8>().read() };
                // SAFETY: a block of this slab (caller), unused, freed once:
                // it has just left the stash.
                unsafe { st.free_one(b) };
            }
        }
    }
}

impl Drop for Stash {
    fn drop(&mut self) {
        debug_assert!(self.is_empty(), "a stash dropped with blocks: they leak");
    }
}

struct SlabState {
    /// Cleared when the shard drops its `Slab`.
    owned: bool,
    /// Every chunk, sorted by address (a freed block finds its chunk by
    /// binary search).
    chunks: Vec<Chunk>,
    /// Per class: chunks with a free block (a stack of indices into
    /// `chunks`; each chunk with room is in it exactly once).
    avail: [Vec<usize>; 2],
}

struct Chunk {
    base: NonNull<u8>,
    class: usize,
    /// Blocks in the chunk.
    blocks: usize,
    /// Blocks handed out so far from the never-used tail.
    bumped: usize,
    /// Blocks allocated and not freed.
    live: usize,
    /// Freed blocks, linked through their first word.
    free: *mut u8,
}

impl Chunk {
    fn layout(class: usize, blocks: usize) -> Layout {
        Layout::from_size_align(CLASS_SIZES[class] * blocks, CHUNK_ALIGN).expect("chunk layout")
    }

    fn bytes(&self) -> usize {
        CLASS_SIZES[self.class] * self.blocks
    }

    fn has_room(&self) -> bool {
        self.live < self.blocks
    }

    /// Gives the chunk's memory back.
    ///
    /// # Safety
    /// No block of the chunk is used any more, and the chunk is no longer
    /// listed in its slab.
    unsafe fn dealloc(self) {
        // SAFETY: allocated in `new_chunk` with this layout; unused (caller).
        unsafe { std::alloc::dealloc(self.base.as_ptr(), Chunk::layout(self.class, self.blocks)) };
    }
}

impl Slab {
    pub(crate) fn new() -> Slab {
        let state = Mutex::new(SlabState {
            owned: true,
            chunks: Vec::new(),
            avail: [Vec::new(), Vec::new()],
        });
        Slab {
            shared: NonNull::from(Box::leak(Box::new(CachePadded::new(state)))),
        }
    }

    /// A copy of the slab's address for a deferred free.
    pub(crate) fn handle(&self) -> SlabRef {
        SlabRef {
            shared: self.shared,
        }
    }

    /// A block of class `class` (`CLASS_SIZES[class]` bytes, aligned to its
    /// size), uninitialized. Free it with [`SlabRef::free`]. (The map takes
    /// blocks in batches, through a [`Stash`].)
    #[cfg(test)]
    pub(crate) fn alloc(&self, class: usize) -> NonNull<u8> {
        // SAFETY: the shard owns the slab, so the shared part is live.
        sync::lock(unsafe { self.shared.as_ref() }).alloc_one(class)
    }

    /// Blocks allocated and not freed yet, in all classes.
    pub(crate) fn blocks_out(&self) -> usize {
        // SAFETY: the shard owns the slab, so the shared part is live.
        let st = sync::lock(unsafe { self.shared.as_ref() });
        st.chunks.iter().map(|c| c.live).sum()
    }

    /// Frees every chunk at once, whatever blocks are still out (dropping a
    /// map whose every block is an entry of its table: freeing them one by
    /// one would search each one's chunk to end up freeing all chunks).
    ///
    /// # Safety
    /// No block of this slab is used or freed any more: every block still
    /// out belongs to the caller, who abandons it (so no deferred free of
    /// this slab is pending: [`blocks_out`](Self::blocks_out) counted only
    /// the caller's blocks, and none can be allocated meanwhile).
    pub(crate) unsafe fn release_all(&self) {
        // SAFETY: the shard owns the slab, so the shared part is live.
        let mut st = sync::lock(unsafe { self.shared.as_ref() });
        for chunk in core::mem::take(&mut st.chunks) {
            // SAFETY: no block of it is used any more (caller), and it is no
            // longer listed.
            unsafe { chunk.dealloc() };
        }
        st.avail = [Vec::new(), Vec::new()];
    }
}

impl SlabState {
    /// Puts `block` back in its chunk, and frees the chunk if it is empty.
    ///
    /// # Safety
    /// As for [`SlabRef::free`].
    unsafe fn free_one(&mut self, block: NonNull<u8>) {
        let i = self.find(block.as_ptr().addr());
        let chunk = &mut self.chunks[i];
        let had_room = chunk.has_room();
        // SAFETY: the block is ours (caller), at least pointer-sized and
        // -aligned (32 or 64 bytes, aligned to its size).
        unsafe { block.as_ptr().cast::<*mut u8>().write(chunk.free) };
        chunk.free = block.as_ptr();
        chunk.live -= 1;
        let (class, empty) = (chunk.class, chunk.live == 0);
        if !had_room {
            self.avail[class].push(i);
        }
        if empty {
            self.free_chunk(i);
        }
    }

    /// A block of `class` (see [`Slab::alloc`]).
    fn alloc_one(&mut self, class: usize) -> NonNull<u8> {
        let i = match self.avail[class].last() {
            Some(&i) => i,
            None => self.new_chunk(class),
        };
        let chunk = &mut self.chunks[i];
        let block = if chunk.free.is_null() {
            // SAFETY: `bumped < blocks` (the chunk has room and no free
            // block): inside the chunk.
            let b = unsafe { chunk.base.as_ptr().add(chunk.bumped * CLASS_SIZES[class]) };
            chunk.bumped += 1;
            b
        } else {
            let b = chunk.free;
            // SAFETY: a freed block of this chunk holds the next free block's
            // address in its first word (written by `free`, aligned).
            chunk.free = unsafe { b.cast::<*mut u8>().read() };
            b
        };
        chunk.live += 1;
        if !chunk.has_room() {
            self.avail[class].pop();
        }
        // SAFETY: a block address inside a live chunk is not null.
        unsafe { NonNull::new_unchecked(block) }
    }

    /// The index of the chunk containing address `addr`.
    fn find(&self, addr: usize) -> usize {
        let i = self
            .chunks
            .partition_point(|c| c.base.as_ptr().addr() <= addr)
            .checked_sub(1)
            .expect("a block of this slab");
        debug_assert!(addr < self.chunks[i].base.as_ptr().addr() + self.chunks[i].bytes());
        i
    }

    /// Allocates an empty chunk of `class`, adds it to `chunks` and to the
    /// class's `avail`, and returns its index.
    fn new_chunk(&mut self, class: usize) -> usize {
        let max_blocks = MAX_CHUNK_BYTES / CLASS_SIZES[class];
        // Once per chunk, so counting the class's chunks here is simpler
        // than keeping a count in step with every insert and removal.
        let n = self.chunks.iter().filter(|c| c.class == class).count();
        let blocks = (MIN_CHUNK_BLOCKS << n.min(16)).min(max_blocks);
        let layout = Chunk::layout(class, blocks);
        // SAFETY: the layout's size is non-zero.
        let base = NonNull::new(unsafe { std::alloc::alloc(layout) })
            .unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        let i = self.chunks.partition_point(|c| c.base < base);
        for j in self.avail.iter_mut().flatten() {
            *j += usize::from(*j >= i);
        }
        self.chunks.insert(
            i,
            Chunk {
                base,
                class,
                blocks,
                bumped: 0,
                live: 0,
                free: ptr::null_mut(),
            },
        );
        self.avail[class].push(i);
        i
    }

    /// Frees the now empty chunk at index `i`.
    fn free_chunk(&mut self, i: usize) {
        let chunk = self.chunks.remove(i);
        debug_assert_eq!(chunk.live, 0);
        let avail = &mut self.avail[chunk.class];
        // An empty chunk has room, so it is in `avail` exactly once.
        let at = avail
            .iter()
            .rposition(|&j| j == i)
            .expect("empty chunk in avail");
        avail.swap_remove(at);
        for j in self.avail.iter_mut().flatten() {
            *j -= usize::from(*j > i);
        }
        // SAFETY: no block of it is in use (`live == 0`) and it is no longer
        // listed anywhere.
        unsafe { chunk.dealloc() };
        if self.chunks.is_empty() {
            // Give the bookkeeping's memory back too.
            self.chunks = Vec::new();
            self.avail = [Vec::new(), Vec::new()];
        }
    }
}

impl SlabRef {
    /// Returns `block` to the slab, and frees the slab if the shard is gone
    /// and this was its last block.
    ///
    /// # Safety
    /// `block` came from [`Slab::alloc`] of this slab, is freed once, and
    /// nothing uses it any more (its value, if any, was dropped).
    pub(crate) unsafe fn free(self, block: NonNull<u8>) {
        // SAFETY: `block` is not freed yet, so its chunk is live, so the
        // shared part is live (module docs).
        let shared = unsafe { self.shared.as_ref() };
        let mut st = sync::lock(shared);
        // SAFETY: by the caller.
        unsafe { st.free_one(block) };
        let last = !st.owned && st.chunks.is_empty();
        drop(st);
        if last {
            // One thread may still be inside the mutex's unlock: the one that
            // released it to us, if we had been waiting. std's futex unlock
            // makes a `futex_wake` system call on the lock word after the
            // release, and that may come after this free. The kernel does not
            // read the word for a wake, so nothing reads freed memory (at
            // worst a waiter on a futex later placed at that address wakes
            // spuriously, which futex users tolerate); it is the pattern of
            // rust-lang/rust#55005, left as it is.
            //
            // SAFETY: the shard dropped its handle and no block is left, so
            // no one can reach the slab any more (module docs).
            unsafe { free_shared(self.shared) };
        }
    }
}

impl Drop for Slab {
    fn drop(&mut self) {
        // SAFETY: the shard still owns the slab until the end of this call.
        let shared = unsafe { self.shared.as_ref() };
        let mut st = sync::lock(shared);
        st.owned = false;
        let last = st.chunks.is_empty();
        drop(st);
        if last {
            // SAFETY: no block is outstanding and the owner is gone.
            unsafe { free_shared(self.shared) };
        }
    }
}

/// Frees the shared part.
///
/// # Safety
/// No one holds or can obtain a reference to it any more.
unsafe fn free_shared(shared: NonNull<Shared>) {
    // SAFETY: allocated by `Box::leak` in `Slab::new`; unreachable (caller).
    drop(unsafe { Box::from_raw(shared.as_ptr()) });
}

#[cfg(all(test, not(shadow_vars_loom)))]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_distinct_and_memory_returns() {
        let slab = Slab::new();
        let mut blocks = Vec::new();
        for i in 0..2000 {
            let class = i % 2;
            let b = slab.alloc(class);
            assert_eq!(b.as_ptr().addr() % CLASS_SIZES[class], 0);
            // SAFETY: a fresh block of at least 32 bytes.
            unsafe { b.as_ptr().write_bytes(i as u8, CLASS_SIZES[class]) };
            blocks.push((b, class, i as u8));
        }
        let mut addrs: Vec<usize> = blocks.iter().map(|b| b.0.as_ptr().addr()).collect();
        addrs.sort_unstable();
        addrs.dedup();
        assert_eq!(addrs.len(), blocks.len(), "a block handed out twice");
        // Free every other one, reallocate, then free all.
        for (b, class, fill) in blocks.iter().step_by(2) {
            // SAFETY: written above, not freed yet.
            assert!((0..CLASS_SIZES[*class]).all(|k| unsafe { *b.as_ptr().add(k) } == *fill));
            // SAFETY: from this slab, freed once.
            unsafe { slab.handle().free(*b) };
        }
        let again: Vec<_> = (0..1000).map(|i| (slab.alloc(i % 2), i % 2)).collect();
        for (b, _) in again {
            // SAFETY: from this slab, freed once.
            unsafe { slab.handle().free(b) };
        }
        for (b, _, _) in blocks.iter().skip(1).step_by(2) {
            // SAFETY: from this slab, freed once.
            unsafe { slab.handle().free(*b) };
        }
        // SAFETY: owned; no one else holds the slab.
        let st = sync::lock(unsafe { slab.shared.as_ref() });
        assert!(st.chunks.is_empty() && st.chunks.capacity() == 0);
        assert!(st.avail.iter().all(|a| a.capacity() == 0));
    }

    /// Random allocations and frees in both classes: no block is handed out
    /// twice, contents survive, and once all are freed every chunk is gone.
    #[test]
    fn random_churn_keeps_blocks_distinct_and_returns_memory() {
        let slab = Slab::new();
        let mut live: Vec<(NonNull<u8>, usize, u8)> = Vec::new();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let steps = if cfg!(miri) { 600 } else { 40_000 };
        for step in 0..steps {
            // Grow for the first half, shrink for the second, churn always.
            let grow = if step < steps / 2 { 60 } else { 40 };
            if live.is_empty() || next() % 100 < grow {
                let class = (next() % 2) as usize;
                let b = slab.alloc(class);
                let fill = (step % 251) as u8;
                // SAFETY: a fresh block of `CLASS_SIZES[class]` bytes.
                unsafe { b.as_ptr().write_bytes(fill, CLASS_SIZES[class]) };
                live.push((b, class, fill));
            } else {
                let (b, class, fill) = live.swap_remove(next() as usize % live.len());
                // SAFETY: written when allocated, not freed since.
                let intact = (0..CLASS_SIZES[class]).all(|k| unsafe { *b.as_ptr().add(k) } == fill);
                assert!(intact, "a live block was overwritten");
                // SAFETY: from this slab, freed once.
                unsafe { slab.handle().free(b) };
            }
        }
        let mut addrs: Vec<usize> = live.iter().map(|b| b.0.as_ptr().addr()).collect();
        addrs.sort_unstable();
        addrs.dedup();
        assert_eq!(addrs.len(), live.len(), "a block handed out twice");
        for (b, _, _) in live {
            // SAFETY: from this slab, freed once.
            unsafe { slab.handle().free(b) };
        }
        // SAFETY: owned; no one else holds the slab.
        let st = sync::lock(unsafe { slab.shared.as_ref() });
        assert!(st.chunks.is_empty() && st.chunks.capacity() == 0);
    }

    /// A shard's stash: distinct aligned blocks, usable one by one and
    /// freed with `SlabRef::free`, or given back unused; memory returns
    /// either way.
    #[test]
    fn stash_blocks_are_distinct_and_given_back() {
        let slab = Slab::new();
        let mut stash = Stash::new();
        let mut used = Vec::new();
        let rounds = if cfg!(miri) { 40 } else { 2000 };
        for round in 0..rounds {
            let class = round % 2;
            // SAFETY: this stash is only ever used with `slab`.
            let b = unsafe { stash.take(&slab, class) };
            assert_eq!(b.as_ptr().addr() % CLASS_SIZES[class], 0);
            // SAFETY: a fresh block of `CLASS_SIZES[class]` bytes.
            unsafe { b.as_ptr().write_bytes(round as u8, CLASS_SIZES[class]) };
            used.push((b, class, round as u8));
            if round % 7 == 3 {
                // Free one used block now and then: its chunk may empty.
                let (b, _, _) = used.swap_remove(round % used.len());
                // SAFETY: from this slab, freed once.
                unsafe { slab.handle().free(b) };
            }
        }
        let mut addrs: Vec<usize> = used.iter().map(|b| b.0.as_ptr().addr()).collect();
        addrs.sort_unstable();
        addrs.dedup();
        assert_eq!(addrs.len(), used.len(), "a block handed out twice");
        assert!(!stash.is_empty());
        let stashed = slab.blocks_out() - used.len();
        assert!(0 < stashed && stashed < 2 * STASH_BATCH);
        for (b, class, fill) in used {
            // SAFETY: written when taken, not freed since.
            let intact = (0..CLASS_SIZES[class]).all(|k| unsafe { *b.as_ptr().add(k) } == fill);
            assert!(intact, "a used block was overwritten");
            // SAFETY: from this slab, freed once.
            unsafe { slab.handle().free(b) };
        }
        assert_eq!(slab.blocks_out(), stashed);
        // SAFETY: as above.
        unsafe { stash.give_back(&slab) };
        assert!(stash.is_empty());
        assert_eq!(slab.blocks_out(), 0);
        // SAFETY: owned; no one else holds the slab.
        let st = sync::lock(unsafe { slab.shared.as_ref() });
        assert!(st.chunks.is_empty() && st.chunks.capacity() == 0);
    }

    #[test]
    fn release_all_frees_every_chunk() {
        let slab = Slab::new();
        let blocks: Vec<_> = (0..500).map(|i| slab.alloc(i % 2)).collect();
        for b in &blocks[..100] {
            // SAFETY: from this slab, freed once.
            unsafe { slab.handle().free(*b) };
        }
        assert_eq!(slab.blocks_out(), 400);
        // SAFETY: the 400 blocks still out are abandoned, unused.
        unsafe { slab.release_all() };
        assert_eq!(slab.blocks_out(), 0);
        // Dropping the slab frees its state: Miri's leak check (scripts/
        // miri.sh) reports any chunk or state left.
    }

    #[test]
    fn outlives_its_shard_until_the_last_free() {
        let slab = Slab::new();
        let b = slab.alloc(0);
        let handle = slab.handle();
        drop(slab);
        // SAFETY: allocated above, freed once; the slab is freed here (Miri
        // reports a leak or a use after free otherwise).
        unsafe { handle.free(b) };
    }
}
