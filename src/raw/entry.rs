//! One shadow variable in memory, and the per-entry initialization state.
//!
//! An entry is one heap allocation, `Entry<T>`, that holds the key, one atomic
//! word of **meta** and the value. It is allocated once, never moves (tables
//! hold pointers to it, so growth copies pointers, not values), and is freed
//! once, through the epoch, after it has been unlinked.
//!
//! # The meta word
//!
//! `meta` is the address of the entry's [`VTable`] (one per value type, at
//! least 8-aligned) with the entry's state in its three low bits:
//!
//! ```text
//!            link (under shard lock)        publish (swap, AcqRel)
//!   (none) ──────────────────────────► INIT ─────────────────────────► READY
//!                                       │  ▲                            │
//!          waiter CAS (AcqRel) sets     │  │                            │ free (under shard lock)
//!          WAITING, stays INIT ─────────┘  │                            ▼
//!                                       │ ctor failed / panicked       DEAD ──► dropped via epoch
//!                                       └─────────────────────────────► DEAD ──► deallocated via epoch
//! ```
//!
//! * `READY` is zero, so "ready and of type `T`" is the single comparison
//!   `meta == T's vtable`: the hot path of `get` is one load and one compare.
//! * `INIT`: linked into a table, the constructor is running. Only the thread
//!   that linked it (its *owner*) may change it, other than setting
//!   `WAITING`. Readers treat it as absent; creators and `free` wait for it.
//! * `WAITING` (only with `INIT`): someone is parked on the shard's condition
//!   variable for this entry, so the owner must wake the shard's waiters.
//! * `DEAD`: unlinked; only stale readers can still reach it.
//!
//! `insert` skips `INIT`: its value is written before the entry is linked,
//! and the entry goes from none to `READY` at the link (under the shard
//! lock), published by the table's Release store of the pointer.

use core::alloc::Layout;
use core::any::TypeId;
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ptr::{self, NonNull};

use super::slab::{self, Slab, SlabRef};
use crate::key::Key;
use crate::sync::{AtomicPtr, Ordering, UnsafeCell};

/// State bits kept in the low bits of `meta`.
pub(crate) mod state {
    /// The value is initialized and visible (zero: see the module docs).
    pub(crate) const READY: usize = 0;
    /// The owner's constructor is running; the value is not initialized.
    pub(crate) const INIT: usize = 0b001;
    /// With `INIT`: at least one thread waits for the outcome.
    pub(crate) const WAITING: usize = 0b010;
    /// Unlinked from the current table; about to be reclaimed.
    pub(crate) const DEAD: usize = 0b100;
    /// All state bits.
    pub(crate) const MASK: usize = 0b111;
}

/// Per-type operations of an entry, so that tables can hold type-erased
/// pointers. One per `T`, as a promoted constant (`Entry::<T>::VTABLE`).
///
/// The same `T` may get several copies of its vtable (one per codegen unit
/// that instantiates it), so the address comparison is only the fastest
/// path; the check that decides is the comparison of the stored [`TypeId`]
/// (a value, not a function: no indirect call on any lookup).
///
/// Aligned to 8 so that the meta word has 3 free low bits for the state on
/// 32-bit targets too (its fields alone are 4-aligned there).
#[repr(align(8))]
pub(crate) struct VTable {
    type_id: TypeId,
    pub(crate) type_name: fn() -> &'static str,
    /// Drops the value in place, then deallocates the entry.
    drop_ready: unsafe fn(*mut EntryHeader, SlabRef),
    /// Drops the value in place, and only that (map drop).
    drop_value: unsafe fn(*mut EntryHeader),
    /// Whether entries of this type are slab blocks (else boxes).
    in_slab: bool,
    /// Deallocates an entry whose value was never initialized.
    free_uninit: unsafe fn(*mut EntryHeader, SlabRef),
}

/// The type-erased head of every `Entry<T>` (at offset 0, `repr(C)`).
///
/// Invariant: `parent` and `id` never change after allocation; `meta`'s
/// vtable part never changes; only its state bits do, as described in the
/// module docs.
#[repr(C)]
pub(crate) struct EntryHeader {
    meta: AtomicPtr<VTable>,
    pub(crate) parent: usize,
    pub(crate) id: u64,
}

/// An entry holding a `T`.
#[repr(C)]
pub(crate) struct Entry<T> {
    header: EntryHeader,
    /// Initialized exactly when the state is `READY` (or `DEAD` after
    /// `READY`). Written once, by the owner, before the `READY` publish.
    /// The cell comes from `sync`: under loom, every access to a value (its
    /// write, each lookup's read, its drop) is checked for races.
    value: UnsafeCell<MaybeUninit<T>>,
}

impl<T: Send + Sync + 'static> Entry<T> {
    /// The vtable of `T` (promoted to a `'static`).
    pub(crate) const VTABLE: &'static VTable = &VTable {
        type_id: TypeId::of::<T>(),
        type_name: core::any::type_name::<T>,
        drop_ready: drop_ready::<T>,
        drop_value: drop_value::<T>,
        in_slab: Self::IN_SLAB,
        free_uninit: free_uninit::<T>,
    };

    /// The slab class of `Entry<T>`, or `None` for entries too large for
    /// the slab (allocated with `Box`).
    const SLAB_CLASS: Option<usize> = slab::class_of(Layout::new::<Entry<T>>());

    /// Whether `Entry<T>` comes from a slab (class `SLAB_CLASS`) rather than
    /// from `Box`.
    pub(crate) const IN_SLAB: bool = Self::SLAB_CLASS.is_some();

    /// An entry for `key` in the `INIT` state, not yet linked, written into
    /// a block from `alloc`, which is asked for a block of the entry's slab
    /// class; boxed if it is too large for the slab (`alloc` is not called).
    pub(crate) fn new_init(key: Key, alloc: impl FnOnce(usize) -> NonNull<u8>) -> *mut EntryHeader {
        let entry = Entry::<T> {
            header: EntryHeader {
                meta: AtomicPtr::new(with_state(Self::VTABLE, state::INIT)),
                parent: key.parent,
                id: key.id,
            },
            value: UnsafeCell::new(MaybeUninit::uninit()),
        };
        let p = match Self::SLAB_CLASS {
            Some(class) => {
                let p = alloc(class).as_ptr().cast::<Entry<T>>();
                // SAFETY: a fresh block of the class of `Entry<T>` (by
                // `alloc`'s contract): large and aligned enough, and ours.
                unsafe { p.write(entry) };
                p
            }
            None => Box::into_raw(Box::new(entry)),
        };
        p.cast::<EntryHeader>()
    }

    /// Frees an entry that was never linked (and so never seen by anyone).
    ///
    /// # Safety
    /// `h` came from [`Entry::<T>::new_init`] with `slab` and was never
    /// published.
    pub(crate) unsafe fn free_unpublished(h: *mut EntryHeader, slab: SlabRef) {
        // SAFETY: by the caller, `h` is an unpublished `Entry<T>` we own.
        unsafe { free_uninit::<T>(h, slab) }
    }

    /// Writes the value of an `INIT` entry.
    ///
    /// # Safety
    /// The caller owns `h` (it linked it in `INIT` and has not published it),
    /// and `h` is an `Entry<T>`.
    pub(crate) unsafe fn write_value(h: *const EntryHeader, value: T) {
        // SAFETY: `h` is an `Entry<T>` (caller).
        let cell = unsafe { Self::cell(h) };
        // SAFETY: while INIT only the owner touches the value cell, so this
        // write races with nothing.
        cell.with_mut(|v| unsafe { (*v).write(value) });
    }

    /// Turns an unpublished `INIT` entry into a `READY` one holding
    /// `value`, to be linked already constructed (`insert`): linking
    /// publishes it (the table's Release store of the pointer), so no swap
    /// and no wake-up are needed, as no one can have seen it `INIT`.
    ///
    /// # Safety
    /// `h` is an `Entry<T>` from [`Entry::<T>::new_init`], not linked yet.
    pub(crate) unsafe fn make_ready_unpublished(h: *mut EntryHeader, value: T) {
        // SAFETY: unpublished, so ours alone (caller).
        unsafe { Self::write_value(h, value) };
        // Relaxed: no one else can read the word before the entry is linked,
        // and the link's Release store orders this store before it.
        // SAFETY: as above.
        unsafe { &*h }
            .meta
            .store(with_state(Self::VTABLE, state::READY), Ordering::Relaxed);
    }

    /// The value of an entry.
    ///
    /// # Safety
    /// `h` is an `Entry<T>` whose value is initialized (it was seen `READY`
    /// with an Acquire load, or the caller wrote it), and the returned
    /// reference does not outlive the entry (the caller is pinned).
    #[inline]
    pub(crate) unsafe fn value<'a>(h: *const EntryHeader) -> &'a T {
        // SAFETY: `h` is an `Entry<T>` (caller).
        let cell = unsafe { Self::cell(h) };
        // SAFETY: initialized, and outlived by the entry (caller). Under loom
        // the read is recorded here, once; the reference lives on unchecked.
        cell.with(|v| unsafe { (*v).assume_init_ref() })
    }

    /// The value cell of an entry.
    ///
    /// # Safety
    /// `h` is a live `Entry<T>`, and outlives `'a`.
    #[inline(always)]
    unsafe fn cell<'a>(h: *const EntryHeader) -> &'a UnsafeCell<MaybeUninit<T>> {
        // SAFETY: by the caller; `repr(C)` puts the header at offset 0, so
        // the cast recovers the entry.
        unsafe { &(*h.cast::<Entry<T>>()).value }
    }
}

/// `vtable` with `bits` in its low bits, keeping the pointer's provenance.
#[inline]
fn with_state(vtable: &'static VTable, bits: usize) -> *mut VTable {
    const { assert!(core::mem::align_of::<VTable>() > state::MASK) };
    (vtable as *const VTable).cast_mut().map_addr(|a| a | bits)
}

/// A snapshot of an entry's meta word.
#[derive(Clone, Copy)]
pub(crate) struct Meta(*mut VTable);

impl Meta {
    #[inline]
    pub(crate) fn state(self) -> usize {
        self.0.addr() & state::MASK
    }

    #[inline]
    pub(crate) fn is_init(self) -> bool {
        self.state() & state::INIT != 0
    }

    #[inline]
    pub(crate) fn is_dead(self) -> bool {
        self.state() & state::DEAD != 0
    }

    #[inline]
    pub(crate) fn vtable(self) -> &'static VTable {
        // SAFETY: every meta word is a `&'static VTable` with state bits
        // added (`with_state`); clearing them gives the reference back.
        unsafe { &*self.0.map_addr(|a| a & !state::MASK) }
    }

    /// Whether this is `READY` holding a `T`: one compare when the vtable
    /// copy is this call site's, else a state test and a `TypeId` compare.
    #[inline(always)]
    pub(crate) fn is_ready_as<T: Send + Sync + 'static>(self) -> bool {
        self.0.addr() == (Entry::<T>::VTABLE as *const VTable).addr()
            || (self.state() == state::READY && self.holds::<T>())
    }

    /// Whether the entry holds a `T`, whatever its state.
    #[inline(always)]
    pub(crate) fn holds<T: Send + Sync + 'static>(self) -> bool {
        self.vtable().type_id == TypeId::of::<T>()
    }
}

impl EntryHeader {
    #[inline]
    pub(crate) fn key(&self) -> Key {
        Key {
            parent: self.parent,
            id: self.id,
        }
    }

    /// Loads the meta word. Acquire: seeing `READY` makes the value (written
    /// before the Release half of the publishing swap) visible.
    #[inline(always)]
    pub(crate) fn meta(&self) -> Meta {
        Meta(self.meta.load(Ordering::Acquire))
    }

    /// Publishes the outcome of the owner's constructor: `READY` (value
    /// written) or `DEAD` (constructor failed). Returns whether a waiter
    /// registered (the caller must then wake the shard's waiters).
    ///
    /// AcqRel: Release so that the value is visible to whoever sees `READY`;
    /// Acquire so that a waiter's registration CAS (which this swap reads, or
    /// follows in the modification order) happens-before the wake-up the
    /// caller sends, which is what makes the waiter's ticket valid (see
    /// `shard::Shard::register_wait`).
    pub(crate) fn resolve_init(&self, outcome: usize) -> bool {
        debug_assert!(outcome == state::READY || outcome == state::DEAD);
        let vt = self.meta().vtable();
        let old = Meta(self.meta.swap(with_state(vt, outcome), Ordering::AcqRel));
        debug_assert!(old.is_init(), "resolve_init on a non-INIT entry");
        old.state() & state::WAITING != 0
    }

    /// Marks a `READY` entry `DEAD`. Called under the shard lock just before
    /// the entry is unlinked; only stale readers can see the change.
    ///
    /// Relaxed: the mark publishes nothing (a `DEAD` entry's value is not
    /// read), and its order before the slot's null pointer and tombstone
    /// comes from those stores (`Table::unlink`, Release, after this one in
    /// program order): a reader that sees them, and then reaches this entry
    /// again through a stale pointer or table, sees the mark. A reader that
    /// reads the mark without having seen them is concurrent with the free,
    /// and `READY` or `DEAD` are both right answers for it.
    pub(crate) fn mark_dead(&self) {
        let vt = self.meta().vtable();
        self.meta
            .store(with_state(vt, state::DEAD), Ordering::Relaxed);
    }

    /// Registers the caller as a waiter on an `INIT` entry.
    ///
    /// Returns `false` if the entry is no longer `INIT` (nothing to wait for).
    /// The CAS is done even when `WAITING` is already set: it is this
    /// read-modify-write, not the bit, that orders the caller's earlier
    /// ticket read before the owner's wake-up (see `resolve_init`).
    pub(crate) fn register_waiter(&self) -> bool {
        let mut cur = self.meta.load(Ordering::Acquire);
        loop {
            if Meta(cur).state() & state::INIT == 0 {
                return false;
            }
            let new = cur.map_addr(|a| a | state::WAITING);
            // AcqRel on success: Release pairs with the owner's AcqRel swap
            // (see above). Acquire on failure: we re-inspect the new state.
            match self
                .meta
                .compare_exchange(cur, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Schedules the entry's destruction for when no pinned reader can see
    /// it, dropping the value if it was initialized.
    ///
    /// # Safety
    /// The entry is unlinked from every table a new reader could load, and
    /// no one else will retire it. `value_initialized` tells whether it went
    /// through `READY`; `slab` is the entry's shard's.
    pub(crate) unsafe fn retire(
        h: *const EntryHeader,
        value_initialized: bool,
        slab: &Slab,
        guard: &crossbeam_epoch::Guard,
    ) {
        // SAFETY (of the deref): the caller is pinned and the entry is live.
        let vt = unsafe { (*h).meta() }.vtable();
        let f = if value_initialized {
            vt.drop_ready
        } else {
            vt.free_uninit
        };
        let (p, slab) = (h.cast_mut(), slab.handle());
        // Readers that may still hold `h` are pinned in an epoch no later than
        // ours, and `defer_unchecked` runs `f` only after all of them unpinned.
        // The closure is three words (`f`, `p`, `slab`): crossbeam stores it
        // inline, without an allocation.
        // SAFETY: `f` runs after every reader of `h` unpinned; it matches the
        // entry's type and initialization, and runs once (retired once);
        // `slab` stays valid until `p` is freed (see `slab.rs`).
        unsafe { guard.defer_unchecked(move || f(p, slab)) };
    }

    /// Map drop, first step: drops the entry's value in place, leaving the
    /// entry allocated. Returns whether the entry is a slab block (else a
    /// box).
    ///
    /// # Safety
    /// The caller has exclusive access; the entry is `READY` (or `DEAD`
    /// after `READY`), its value is dropped once, and the entry is then freed
    /// with [`free_dropped`](Self::free_dropped) or with its whole slab.
    pub(crate) unsafe fn drop_value_now(h: *mut EntryHeader) -> bool {
        // SAFETY: exclusive access by the caller.
        let vt = unsafe { (*h).meta() }.vtable();
        // SAFETY: by the caller, the value is initialized and dropped once.
        unsafe { (vt.drop_value)(h) };
        vt.in_slab
    }

    /// Whether the entry is a slab block (else a box).
    ///
    /// # Safety
    /// The entry is allocated and the caller has exclusive access.
    pub(crate) unsafe fn in_slab(h: *const EntryHeader) -> bool {
        // SAFETY: by the caller.
        unsafe { (*h).meta() }.vtable().in_slab
    }

    /// Map drop, second step: frees an entry whose value
    /// [`drop_value_now`](Self::drop_value_now) dropped.
    ///
    /// # Safety
    /// As for `drop_value_now`, after it; `slab` is the entry's shard's;
    /// freed once.
    pub(crate) unsafe fn free_dropped(h: *mut EntryHeader, slab: &Slab) {
        // SAFETY: exclusive access by the caller.
        let vt = unsafe { (*h).meta() }.vtable();
        // SAFETY: the value was dropped (caller): free without dropping it.
        unsafe { (vt.free_uninit)(h, slab.handle()) }
    }
}

/// Drops an initialized `Entry<T>`'s value in place, and only that.
///
/// # Safety
/// `h` is an `Entry<T>` with an initialized value, dropped once.
unsafe fn drop_value<T: Send + Sync + 'static>(h: *mut EntryHeader) {
    // SAFETY: `h` is a live `Entry<T>` (caller).
    let cell = unsafe { Entry::<T>::cell(h) };
    // SAFETY: the value is initialized (caller) and dropped once, in place.
    cell.with_mut(|v| unsafe { ptr::drop_in_place((*v).as_mut_ptr()) });
}

/// Drops an initialized `Entry<T>`'s value in place (the value never moves,
/// not even to be dropped), then frees the entry, even if `T::drop` panics.
///
/// # Safety
/// `h` is an `Entry<T>` from `new_init` with `slab`, with an initialized
/// value, destroyed once.
unsafe fn drop_ready<T: Send + Sync + 'static>(h: *mut EntryHeader, slab: SlabRef) {
    struct Dealloc<T: Send + Sync + 'static>(*mut EntryHeader, SlabRef, PhantomData<T>);
    impl<T: Send + Sync + 'static> Drop for Dealloc<T> {
        fn drop(&mut self) {
            // SAFETY: by `drop_ready`'s caller; the value was dropped (or its
            // drop panicked) and is not dropped again.
            unsafe { free_uninit::<T>(self.0, self.1) };
        }
    }
    let _dealloc = Dealloc::<T>(h, slab, PhantomData);
    // SAFETY: the value is initialized (caller) and dropped once.
    unsafe { drop_value::<T>(h) };
}

/// Frees an `Entry<T>` without dropping its value (never written, or
/// already dropped).
///
/// # Safety
/// `h` is an `Entry<T>` from `new_init` with `slab`, freed once.
unsafe fn free_uninit<T: Send + Sync + 'static>(h: *mut EntryHeader, slab: SlabRef) {
    let e = h.cast::<Entry<T>>();
    match Entry::<T>::SLAB_CLASS {
        // SAFETY: by the caller, a block of `slab` that nothing uses.
        Some(_) => unsafe { slab.free(NonNull::new_unchecked(e.cast())) },
        // SAFETY: by the caller, from `Box::into_raw`; `MaybeUninit` keeps the
        // box from dropping the value.
        None => drop(unsafe { Box::from_raw(e) }),
    }
}
