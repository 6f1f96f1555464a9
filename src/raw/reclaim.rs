//! Keeping reclamation up with the entries a thread retires.
//!
//! crossbeam-epoch reclaims inside `pin`: every 128th pin of a thread tries
//! to advance the epoch and runs at most 8 bags of the global queue (64
//! deferred functions each), so at most 512 retired entries per 128 pins.
//! A thread that pins once per call retires at most one entry per `free`,
//! well within that. A thread that frees many entries under one pin
//! (`ShadowMapRef`, `free_all`, `free_parent`) can retire faster than that,
//! and the rest piles up for as long as it goes on: measured, a loop of
//! batches of 64 write-heavy operations, each batch under one
//! `ShadowMap::pin()`, had freed 1,000,000 values after 8,000,000
//! operations and dropped only 496,000 of them (the backlog grew linearly).
//!
//! So every thread counts what it retires, and every
//! [`RETIRES_PER_FLUSH`]th entry it flushes (`Guard::flush`): its bag goes to
//! the global queue and up to 8 expired bags are run. Between two flushes
//! the thread queues at most three bags (two full, one partial) and each
//! flush may run eight, so the backlog stays bounded whatever the batch
//! size (`tests/reclaim.rs`).
//!
//! A flush runs deferred destructions, among them values' `Drop`, so it is
//! only called with no lock of the map held: the same rule as `pin` (see
//! `Shard::write`). It cannot free anything the caller still holds: what
//! was retired during the caller's pin expires only after that pin ends.

use core::cell::Cell;

use crossbeam_epoch::Guard;

use crate::sync::thread_local;

/// How many retired entries a thread lets pass between two flushes: twice
/// crossbeam-epoch's bag (64 deferred functions), so that a flush pushes at
/// most three bags and may run eight. Under Miri crossbeam's bags hold 4, so
/// the flushes come 8 times as often. Under loom every retirement flushes,
/// so that the models run deferred destructions at this point of `free` too.
#[cfg(not(any(shadow_vars_loom, miri)))]
pub(crate) const RETIRES_PER_FLUSH: u32 = 128;
#[cfg(all(miri, not(shadow_vars_loom)))]
pub(crate) const RETIRES_PER_FLUSH: u32 = 16;
#[cfg(shadow_vars_loom)]
pub(crate) const RETIRES_PER_FLUSH: u32 = 1;

thread_local! {
    /// Entries this thread retired since its last flush.
    // Not `const { .. }`: loom's `thread_local!` does not accept that form.
    #[allow(clippy::missing_const_for_thread_local)]
    static RETIRED: Cell<u32> = Cell::new(0);
}

/// Records that this thread retired `n` entries under `guard`, and flushes
/// when [`RETIRES_PER_FLUSH`] have built up. The caller holds no lock of
/// the map.
#[inline]
pub(crate) fn retired(n: usize, guard: &Guard) {
    // `try_with`: during thread teardown the slot may already be gone; the
    // thread's bag is then flushed by crossbeam when its handle is dropped.
    let due = RETIRED
        .try_with(|c| {
            let total = c.get().saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
            let due = total >= RETIRES_PER_FLUSH;
            c.set(if due { 0 } else { total });
            due
        })
        .unwrap_or(false);
    if due {
        guard.flush();
    }
}
