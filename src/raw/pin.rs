//! How an operation holds its epoch pin, and whether it may drop it while
//! it blocks.
//!
//! A running constructor and a parked waiter may take arbitrarily long. While
//! a thread is pinned, nothing retired anywhere in the process is reclaimed,
//! so an operation that owns its pin (`ShadowMap`'s methods, which return a
//! `Shadow`) unpins for those phases. An operation on a `ShadowMapRef` borrows
//! the user's pin and cannot: it stays pinned.

use crossbeam_epoch::Guard;

/// An epoch pin held for the lifetime `'g` of the references it hands out.
pub(crate) trait PinRef<'g> {
    /// The pin, for lookups and retiring.
    fn guard(&self) -> &Guard;

    /// Runs `f` (which must hold no reference obtained through this pin)
    /// unpinned if this pin is owned, pinned otherwise; pinned again after.
    fn unpinned<R>(&mut self, f: impl FnOnce() -> R) -> R;
}

/// A borrowed pin (`ShadowMapRef`): stays pinned.
impl<'g> PinRef<'g> for &'g Guard {
    #[inline]
    fn guard(&self) -> &Guard {
        self
    }

    #[inline]
    fn unpinned<R>(&mut self, f: impl FnOnce() -> R) -> R {
        f()
    }
}

/// An owned pin (`ShadowMap`): unpins around `f` (a no-op if the thread holds
/// other pins too) and pins again, also if `f` panics.
impl<'g> PinRef<'g> for &'g mut Guard {
    #[inline]
    fn guard(&self) -> &Guard {
        self
    }

    #[inline]
    fn unpinned<R>(&mut self, f: impl FnOnce() -> R) -> R {
        self.repin_after(f)
    }
}
