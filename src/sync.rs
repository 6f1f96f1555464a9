//! The one place that chooses between `std` and `loom`.
//!
//! Every atomic, lock, condition variable, thread-local, spin hint and the
//! entries' value cell of the crate is imported from here, so that building with
//! `RUSTFLAGS="--cfg shadow_vars_loom --cfg crossbeam_loom"` puts every
//! protocol of the crate (and, through crossbeam-epoch's `loom` feature, the
//! epoch reclamation underneath it) under the loom model checker. Every source
//! of non-determinism (shard count, hash seed, spin limit) is routed through
//! here as well, so that loom explores a fixed configuration.

#[cfg(not(shadow_vars_loom))]
mod imp {
    pub(crate) use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
    pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};
    pub(crate) use std::thread_local;

    /// `core::cell::UnsafeCell` with loom's access API (`with`, `with_mut`),
    /// so that the same code compiles against loom's cell, which checks
    /// every access. Transparent: no size or cost.
    #[repr(transparent)]
    pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        #[inline(always)]
        pub(crate) const fn new(value: T) -> Self {
            UnsafeCell(core::cell::UnsafeCell::new(value))
        }

        /// Runs `f` with a pointer for reading the contents.
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Runs `f` with a pointer for writing the contents.
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }

    /// Busy-wait hint used while a waiter spins on an initializing entry.
    #[inline]
    pub(crate) fn spin_hint() {
        std::hint::spin_loop();
    }

    /// How many times a waiter re-checks an initializing entry before parking.
    ///
    /// A constructor that finishes within a few microseconds is waited for
    /// without a syscall; a slow one costs its waiters a park, not a core.
    pub(crate) const SPIN_LIMIT: u32 = 64;

    /// Default shard count: four shards per core, at least `MIN_SHARDS`, as
    /// a power of two.
    ///
    /// Four per core makes two writers meeting in one shard rare on a large
    /// machine (on 16 cores, writes stopped gaining past 64 shards). The
    /// floor is for small machines and containers, where the threads often
    /// outnumber the cores `available_parallelism` reports, and a writer
    /// that finds its shard locked may have to park: on 2 cores, the
    /// write-heavy mix at 2 threads ran 8.3% faster with 32 shards than with
    /// 8 (BENCHMARKS, "Shard count"). The price is memory for an empty map:
    /// 464 bytes per shard.
    pub(crate) fn default_shards() -> usize {
        const MIN_SHARDS: usize = 32;
        let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
        (cores.saturating_mul(4))
            .next_power_of_two()
            .clamp(MIN_SHARDS, 1024)
    }

    /// A per-map random seed for the key hash.
    pub(crate) fn random_seed() -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(0x5eed);
        h.finish()
    }
}

#[cfg(shadow_vars_loom)]
mod imp {
    /// Loom's cell records each access and reports two that race (one a
    /// write, neither ordered before the other) as a causality violation.
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
    pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
    pub(crate) use loom::thread_local;

    /// Under loom a spin is a yield, so the model can run the constructor.
    #[inline]
    pub(crate) fn spin_hint() {
        loom::thread::yield_now();
    }

    /// One re-check before parking keeps the explored state space small while
    /// still exercising both the spin and the park branch.
    pub(crate) const SPIN_LIMIT: u32 = 1;

    /// Two shards: enough to model cross-shard operations, small for loom.
    pub(crate) fn default_shards() -> usize {
        2
    }

    /// A fixed seed: loom must explore the same configuration every run.
    pub(crate) fn random_seed() -> u64 {
        1
    }
}

pub(crate) use imp::*;

/// Locks `m`, ignoring poison: the map never panics while holding one of its
/// locks (every check that may panic runs after the guard is dropped), so a
/// poisoned lock can only come from a panic unrelated to the data it guards.
#[inline]
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
