//! A model of Linux livepatch's shadow-variable table (`kernel/livepatch/shadow.c`),
//! as a baseline:
//!
//! * `DEFINE_HASHTABLE(klp_shadow_hash, 12)`: 4096 fixed buckets, never resized,
//!   hashed on the parent address only (`hash_ptr`), entries chained per bucket;
//! * `klp_shadow_get`: RCU read side, walks the chain without any lock;
//! * `klp_shadow_alloc`/`get_or_alloc`: lockless lookup first, allocate the node
//!   outside the lock, then take the one global spin lock, look again, run the
//!   constructor **under the lock**, publish at the head of the chain;
//! * `klp_shadow_free`: under the spin lock, unlink, free after a grace period
//!   (`kfree_rcu`).
//!
//! RCU is modelled with crossbeam-epoch: one pin per call in the `kernel-style`
//! row, where the kernel's `rcu_read_lock` is nearly free, so the
//! `kernel-style pin x64` row holds one pin for a batch, as this crate's pinned
//! row does. The spin lock is an atomic flag that spins, then yields (in
//! userspace a lock holder can be preempted; the kernel's holder cannot,
//! because interrupts are off). Lock and bucket array sit in cache lines of
//! their own, as the kernel's two statics do: a reader never loads the line a
//! writer's lock operations take. Retired nodes are flushed to the collector
//! every 128 frees per thread, like this crate's entries, so that a pinned
//! row pays for its own frees.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crossbeam_epoch::{self as epoch, Atomic, Guard, Owned, Shared};
use crossbeam_utils::CachePadded;

use super::backends::{Backend, Ops};

const BITS: u32 = 12;
const BUCKETS: usize = 1 << BITS;

struct Node {
    next: Atomic<Node>,
    parent: usize,
    id: u64,
    data: u64,
}

/// The kernel-style table.
pub(crate) struct KernelStyle {
    buckets: Box<[Atomic<Node>]>,
    /// The writers' lock and the entry count (a benchmark's, not the
    /// kernel's), taken only by writers.
    writers: CachePadded<Writers>,
}

struct Writers {
    lock: SpinLock,
    len: AtomicUsize,
}

struct SpinLock(AtomicBool);

struct SpinGuard<'a>(&'a SpinLock);

impl SpinLock {
    fn lock(&self) -> SpinGuard<'_> {
        let mut spins = 0u32;
        loop {
            if !self.0.load(Ordering::Relaxed)
                && self
                    .0
                    .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return SpinGuard(self);
            }
            spins += 1;
            if spins < 1 << 10 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}

impl Drop for SpinGuard<'_> {
    fn drop(&mut self) {
        self.0.0.store(false, Ordering::Release);
    }
}

thread_local! {
    static RETIRED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Flushes every 128 nodes a thread retires, as shadow-vars does
/// (`src/raw/reclaim.rs`): crossbeam-epoch alone reclaims too slowly for a
/// thread that frees many nodes per pin (the pinned row), and the backlog
/// would be left to whoever pins next.
fn retired(guard: &Guard) {
    let due = RETIRED.with(|c| {
        let n = c.get() + 1;
        c.set(if n >= 128 { 0 } else { n });
        n >= 128
    });
    if due {
        guard.flush();
    }
}

/// The kernel's `hash_ptr(obj, 12)`: `hash_64` with `GOLDEN_RATIO_64`.
#[inline]
fn bucket(parent: usize) -> usize {
    ((parent as u64).wrapping_mul(0x61C8_8646_80B5_83EB) >> (64 - BITS)) as usize
}

impl KernelStyle {
    fn find<'g>(&self, parent: usize, id: u64, guard: &'g Guard) -> Option<&'g Node> {
        let mut cur = self.buckets[bucket(parent)].load(Ordering::Acquire, guard);
        // SAFETY: nodes reachable from a bucket are unlinked only under the lock
        // and destroyed through `defer_destroy`, so they outlive `guard`.
        while let Some(node) = unsafe { cur.as_ref() } {
            if node.parent == parent && node.id == id {
                return Some(node);
            }
            cur = node.next.load(Ordering::Acquire, guard);
        }
        None
    }

    /// `__klp_shadow_get_or_alloc`: returns `(value, created)`.
    fn get_or_alloc_inner(
        &self,
        parent: usize,
        id: u64,
        ctor: impl FnOnce() -> u64,
        warn_on_exist: bool,
        guard: &Guard,
    ) -> (u64, bool) {
        if let Some(n) = self.find(parent, id, guard) {
            return (n.data, false);
        }
        // kzalloc outside the lock.
        let mut node = Owned::new(Node {
            next: Atomic::null(),
            parent,
            id,
            data: 0,
        });
        let _lock = self.writers.lock.lock();
        if let Some(n) = self.find(parent, id, guard) {
            let _ = warn_on_exist;
            return (n.data, false);
        }
        let value = ctor(); // the constructor runs under the global lock
        node.data = value;
        let head = &self.buckets[bucket(parent)];
        node.next
            .store(head.load(Ordering::Relaxed, guard), Ordering::Relaxed);
        head.store(node, Ordering::Release);
        self.writers.len.fetch_add(1, Ordering::Relaxed);
        (value, true)
    }

    fn free_inner(&self, parent: usize, id: u64, guard: &Guard) -> bool {
        let lock = self.writers.lock.lock();
        let mut link = &self.buckets[bucket(parent)];
        loop {
            let cur = link.load(Ordering::Relaxed, guard);
            // SAFETY: under the lock no node is unlinked by anyone else, and the
            // guard keeps every node reachable at pin time alive.
            let Some(node) = (unsafe { cur.as_ref() }) else {
                return false;
            };
            if node.parent == parent && node.id == id {
                link.store(node.next.load(Ordering::Relaxed, guard), Ordering::Release);
                self.writers.len.fetch_sub(1, Ordering::Relaxed);
                // SAFETY: `cur` is now unreachable from the table; readers that
                // still see it are pinned, and the destruction waits for them.
                unsafe { guard.defer_destroy(cur) };
                drop(lock);
                retired(guard);
                return true;
            }
            link = &node.next;
        }
    }
}

/// Per call: one pin per operation.
impl Ops for KernelStyle {
    #[inline]
    fn get(&self, parent: usize, id: u64) -> Option<u64> {
        self.find(parent, id, &epoch::pin()).map(|n| n.data)
    }

    fn alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> bool {
        self.get_or_alloc_inner(parent, id, ctor, true, &epoch::pin())
            .1
    }

    fn get_or_alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> u64 {
        self.get_or_alloc_inner(parent, id, ctor, false, &epoch::pin())
            .0
    }

    fn free(&self, parent: usize, id: u64) -> bool {
        self.free_inner(parent, id, &epoch::pin())
    }
}

/// One pin held for a batch (the `rcu_read_lock` the kernel's callers could
/// hold across many calls).
pub(crate) struct KernelPin<'a> {
    map: &'a KernelStyle,
    guard: Guard,
}

impl Ops for KernelPin<'_> {
    #[inline]
    fn get(&self, parent: usize, id: u64) -> Option<u64> {
        self.map.find(parent, id, &self.guard).map(|n| n.data)
    }

    fn alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> bool {
        self.map
            .get_or_alloc_inner(parent, id, ctor, true, &self.guard)
            .1
    }

    fn get_or_alloc(&self, parent: usize, id: u64, ctor: impl FnOnce() -> u64) -> u64 {
        self.map
            .get_or_alloc_inner(parent, id, ctor, false, &self.guard)
            .0
    }

    fn free(&self, parent: usize, id: u64) -> bool {
        self.map.free_inner(parent, id, &self.guard)
    }
}

impl Backend for KernelStyle {
    const NAME: &'static str = "kernel-style";
    const PINNED_NAME: Option<&'static str> = Some("kernel-style pin x64");
    type Pinned<'a> = KernelPin<'a>;

    fn new() -> Self {
        KernelStyle {
            buckets: (0..BUCKETS).map(|_| Atomic::null()).collect(),
            writers: CachePadded::new(Writers {
                lock: SpinLock(AtomicBool::new(false)),
                len: AtomicUsize::new(0),
            }),
        }
    }

    fn pin(&self) -> KernelPin<'_> {
        KernelPin {
            map: self,
            guard: epoch::pin(),
        }
    }

    fn len(&self) -> usize {
        self.writers.len.load(Ordering::Relaxed)
    }

    /// Setup only: head insertion without the duplicate check (keys are unique),
    /// so that multi-million-entry prefills do not take minutes.
    fn prefill(&self, parent: usize, id: u64, value: u64) {
        let guard = epoch::pin();
        let _lock = self.writers.lock.lock();
        let head = &self.buckets[bucket(parent)];
        let node = Owned::new(Node {
            next: Atomic::from(head.load(Ordering::Relaxed, &guard)),
            parent,
            id,
            data: value,
        });
        head.store(node, Ordering::Release);
        self.writers.len.fetch_add(1, Ordering::Relaxed);
    }

    fn quiesce(&self) {
        super::backends::flush_crossbeam();
    }
}

impl Drop for KernelStyle {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no reader or writer is left, so nodes can be freed
        // directly.
        let guard = unsafe { epoch::unprotected() };
        for head in self.buckets.iter() {
            let mut cur: Shared<'_, Node> = head.load(Ordering::Relaxed, guard);
            while !cur.is_null() {
                // SAFETY: every linked node was created by `Owned::new` and is
                // owned by the table alone.
                let owned = unsafe { cur.into_owned() };
                cur = owned.next.load(Ordering::Relaxed, guard);
                drop(owned);
            }
        }
    }
}
