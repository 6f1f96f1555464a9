//! [`Shadow`]: a reference to a shadow variable that keeps it alive.

use core::fmt;
use core::marker::PhantomData;
use core::ops::Deref;
use core::ptr::NonNull;

use crossbeam_epoch::Guard;

/// A shared reference to a shadow variable's value, returned by the
/// [`ShadowMap`](crate::ShadowMap) methods.
///
/// It holds an epoch pin: the value stays valid (and at the same address)
/// while the `Shadow` lives, even if another thread frees the variable
/// meanwhile; the value is then dropped after the last such `Shadow` goes.
///
/// **Reclamation:** a `Shadow` held for long delays every free in the
/// process (crossbeam-epoch reclaims nothing retired after a pin while the
/// pin lives). Keep it for the duration of an operation, not in a struct;
/// to do many lookups at once, use [`ShadowMap::pin`](crate::ShadowMap::pin).
///
/// A `Shadow` is not `Send`: the pin belongs to the thread that took it.
///
/// ```
/// use shadow_vars::{ShadowId, ShadowMap};
/// use std::sync::Mutex;
/// const NOTES: ShadowId<Mutex<Vec<String>>> = ShadowId::new(7);
/// let map = ShadowMap::new();
/// let obj = Box::new(0u64);
/// let notes = map.get_or_default(&*obj, NOTES);
/// notes.lock().unwrap().push("seen".into());
/// assert_eq!(map.get(&*obj, NOTES).unwrap().lock().unwrap().len(), 1);
/// ```
pub struct Shadow<'m, T> {
    value: NonNull<T>,
    /// Keeps `value` from being reclaimed. Declared after `value` only for
    /// readability; `value` has no drop glue.
    _guard: Guard,
    _map: PhantomData<&'m T>,
}

impl<'m, T> Shadow<'m, T> {
    /// Wraps a value that stays valid while `guard` is pinned.
    pub(crate) fn new(guard: Guard, value: NonNull<T>) -> Self {
        Shadow {
            value,
            _guard: guard,
            _map: PhantomData,
        }
    }

    /// The value's address: stable from creation until the variable is freed
    /// (and valid for reads while this `Shadow` lives).
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap};
    /// # const ID: ShadowId<u64> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// let obj = 0u8;
    /// let a = map.get_or_default(&obj, ID).as_ptr();
    /// let b = map.get(&obj, ID).unwrap().as_ptr();
    /// assert_eq!(a, b);
    /// ```
    pub fn as_ptr(&self) -> *const T {
        self.value.as_ptr()
    }
}

impl<T> Deref for Shadow<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the value was live when this `Shadow` was made, and
        // `_guard` keeps it from being reclaimed until the `Shadow` drops.
        unsafe { self.value.as_ref() }
    }
}

impl<T: fmt::Debug> fmt::Debug for Shadow<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Shadow").field(&**self).finish()
    }
}

impl<T: fmt::Display> fmt::Display for Shadow<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T> AsRef<T> for Shadow<'_, T> {
    fn as_ref(&self) -> &T {
        self
    }
}
