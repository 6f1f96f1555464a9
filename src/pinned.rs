//! [`ShadowMapRef`]: one epoch pin for many operations.

use core::fmt;

use crossbeam_epoch::Guard;

use crate::error::{AllocError, TryAllocError};
use crate::key::{Key, Parent, ShadowId};
use crate::map::ShadowMap;
use crate::raw::{self, CreateError, Mode, OtherTypes};

/// A [`ShadowMap`] with the current thread pinned, from
/// [`ShadowMap::pin`]. Its methods mirror the map's but return `&T` that
/// lives as long as the borrow of this `ShadowMapRef`, and skip the per-call
/// pin (the fastest way to do many lookups).
///
/// **Reclamation:** nothing freed anywhere in the process is reclaimed while
/// a pin is held. Keep a `ShadowMapRef` for a batch of work, not forever;
/// [`repin`](ShadowMapRef::repin) lets reclamation progress in long loops.
///
/// ```
/// use shadow_vars::{ShadowId, ShadowMap};
/// const ID: ShadowId<u32> = ShadowId::new(1);
/// let map = ShadowMap::new();
/// let obj = 0u8;
/// let m = map.pin();
/// let v = m.get_or_alloc(&obj, ID, || 3);
/// assert!(m.free(&obj, ID));
/// assert_eq!(*v, 3); // still valid: the pin keeps freed values alive
/// ```
pub struct ShadowMapRef<'m> {
    map: &'m ShadowMap,
    guard: Guard,
}

impl fmt::Debug for ShadowMapRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShadowMapRef")
            .field("map", self.map)
            .finish_non_exhaustive()
    }
}

impl<'m> ShadowMapRef<'m> {
    pub(crate) fn new(map: &'m ShadowMap, guard: Guard) -> Self {
        ShadowMapRef { map, guard }
    }

    /// Locates *(obj, id)* in the map (no prefetch: this pin is already
    /// held, so nothing holds the slot's loads back).
    #[inline(always)]
    fn locate<T>(&self, obj: impl Into<Parent>, id: ShadowId<T>) -> raw::Located<'m> {
        self.map.raw().locate(Key::new(obj, id))
    }

    /// The map this pin is for.
    ///
    /// ```
    /// let map = shadow_vars::ShadowMap::new();
    /// assert!(std::ptr::eq(map.pin().map(), &map));
    /// ```
    pub fn map(&self) -> &'m ShadowMap {
        self.map
    }

    /// Unpins and pins again, so that values freed meanwhile can be
    /// reclaimed. Needs `&mut self`: no reference from this pin survives it.
    ///
    /// ```
    /// let map = shadow_vars::ShadowMap::new();
    /// let mut m = map.pin();
    /// for _ in 0..3 { m.repin(); }
    /// ```
    pub fn repin(&mut self) {
        self.guard.repin();
    }

    /// See [`ShadowMap::get`].
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap};
    /// # const ID: ShadowId<u8> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// assert!(map.pin().get(&0u8, ID).is_none());
    /// ```
    // Always inlined: the lookup is the hot path, and with a hint only, a
    // program calling `get` from several places can get an out-of-line copy
    // that costs about 20 instructions more per lookup (call, saved
    // registers; measured with scripts/opcount.sh, read-heavy, 109 -> 130).
    #[inline(always)]
    pub fn get<T: Send + Sync + 'static>(
        &self,
        obj: impl Into<Parent>,
        id: ShadowId<T>,
    ) -> Option<&T> {
        self.map.raw().get::<T>(self.locate(obj, id), &self.guard)
    }

    /// See [`ShadowMap::contains`].
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap};
    /// # const ID: ShadowId<u8> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// assert!(!map.pin().contains(&0u8, ID));
    /// ```
    #[inline]
    pub fn contains<T: Send + Sync + 'static>(
        &self,
        obj: impl Into<Parent>,
        id: ShadowId<T>,
    ) -> bool {
        self.get(obj, id).is_some()
    }

    /// See [`ShadowMap::alloc`].
    ///
    /// # Errors
    /// [`AllocError::Exists`] if the variable exists.
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap};
    /// # const ID: ShadowId<u8> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// let m = map.pin();
    /// assert_eq!(*m.alloc(&0u8, ID, || 4).unwrap(), 4);
    /// ```
    pub fn alloc<T: Send + Sync + 'static>(
        &self,
        obj: impl Into<Parent>,
        id: ShadowId<T>,
        ctor: impl FnOnce() -> T,
    ) -> Result<&T, AllocError> {
        self.try_alloc(obj, id, || Ok::<T, core::convert::Infallible>(ctor()))
            .map_err(|e| match e {
                TryAllocError::Exists => AllocError::Exists,
                TryAllocError::Ctor(never) => match never {},
            })
    }

    /// See [`ShadowMap::try_alloc`].
    ///
    /// # Errors
    /// [`TryAllocError::Exists`] or [`TryAllocError::Ctor`].
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap, TryAllocError};
    /// # const ID: ShadowId<u8> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// let m = map.pin();
    /// assert_eq!(m.try_alloc(&0u8, ID, || Err(())), Err(TryAllocError::Ctor(())));
    /// ```
    pub fn try_alloc<T: Send + Sync + 'static, E>(
        &self,
        obj: impl Into<Parent>,
        id: ShadowId<T>,
        ctor: impl FnOnce() -> Result<T, E>,
    ) -> Result<&T, TryAllocError<E>> {
        self.map
            .raw()
            .get_or_create(self.locate(obj, id), &self.guard, Mode::CreateOnly, ctor)
            .map_err(|e| match e {
                CreateError::Exists => TryAllocError::Exists,
                CreateError::Ctor(e) => TryAllocError::Ctor(e),
            })
    }

    /// See [`ShadowMap::insert`].
    ///
    /// # Errors
    /// `Err(value)` if the variable exists.
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap};
    /// # const ID: ShadowId<u8> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// let m = map.pin();
    /// assert_eq!(m.insert(&0u8, ID, 4), Ok(&4));
    /// assert_eq!(m.insert(&0u8, ID, 5), Err(5));
    /// ```
    pub fn insert<T: Send + Sync + 'static>(
        &self,
        obj: impl Into<Parent>,
        id: ShadowId<T>,
        value: T,
    ) -> Result<&T, T> {
        self.map
            .raw()
            .insert(self.locate(obj, id), &self.guard, value)
    }

    /// See [`ShadowMap::get_or_alloc`].
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap};
    /// # const ID: ShadowId<u8> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// let obj = 0u8;
    /// let m = map.pin();
    /// assert_eq!(*m.get_or_alloc(&obj, ID, || 1), 1);
    /// assert_eq!(*m.get_or_alloc(&obj, ID, || 2), 1);
    /// ```
    #[inline]
    pub fn get_or_alloc<T: Send + Sync + 'static>(
        &self,
        obj: impl Into<Parent>,
        id: ShadowId<T>,
        ctor: impl FnOnce() -> T,
    ) -> &T {
        match self.try_get_or_alloc(obj, id, || Ok::<T, core::convert::Infallible>(ctor())) {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }

    /// See [`ShadowMap::try_get_or_alloc`].
    ///
    /// # Errors
    /// The constructor's error, if this call ran it and it failed.
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap};
    /// # const ID: ShadowId<u8> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// assert_eq!(map.pin().try_get_or_alloc(&0u8, ID, || Err::<u8, _>("e")), Err("e"));
    /// ```
    #[inline]
    pub fn try_get_or_alloc<T: Send + Sync + 'static, E>(
        &self,
        obj: impl Into<Parent>,
        id: ShadowId<T>,
        ctor: impl FnOnce() -> Result<T, E>,
    ) -> Result<&T, E> {
        self.map
            .raw()
            .get_or_create(self.locate(obj, id), &self.guard, Mode::GetOrCreate, ctor)
            .map_err(|e| match e {
                CreateError::Ctor(e) => e,
                CreateError::Exists => unreachable!("GetOrCreate never reports Exists"),
            })
    }

    /// See [`ShadowMap::get_or_default`].
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap};
    /// # const ID: ShadowId<u8> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// assert_eq!(*map.pin().get_or_default(&0u8, ID), 0);
    /// ```
    #[inline]
    pub fn get_or_default<T: Send + Sync + Default + 'static>(
        &self,
        obj: impl Into<Parent>,
        id: ShadowId<T>,
    ) -> &T {
        self.get_or_alloc(obj, id, T::default)
    }

    /// See [`ShadowMap::free`].
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap};
    /// # const ID: ShadowId<u8> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// assert!(!map.pin().free(&0u8, ID));
    /// ```
    pub fn free<T: Send + Sync + 'static>(&self, obj: impl Into<Parent>, id: ShadowId<T>) -> bool {
        self.map
            .raw()
            .free::<T>(self.locate(obj, id), &self.guard, |_| ())
    }

    /// See [`ShadowMap::free_with`].
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap};
    /// # const ID: ShadowId<u8> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// let obj = 0u8;
    /// let m = map.pin();
    /// m.get_or_default(&obj, ID);
    /// assert!(m.free_with(&obj, ID, |_, v| assert_eq!(*v, 0)));
    /// ```
    pub fn free_with<T: Send + Sync + 'static>(
        &self,
        obj: impl Into<Parent>,
        id: ShadowId<T>,
        dtor: impl FnOnce(Parent, &T),
    ) -> bool {
        let parent = obj.into();
        self.map
            .raw()
            .free::<T>(self.locate(parent, id), &self.guard, |v| dtor(parent, v))
    }

    /// See [`ShadowMap::free_all`].
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap};
    /// # const ID: ShadowId<u8> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// assert_eq!(map.pin().free_all(ID), 0);
    /// ```
    pub fn free_all<T: Send + Sync + 'static>(&self, id: ShadowId<T>) -> usize {
        self.map
            .raw()
            .free_all::<T>(id.raw(), OtherTypes::Panic, &self.guard, |_, _| ())
    }

    /// See [`ShadowMap::free_all_with`].
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap};
    /// # const ID: ShadowId<u8> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// assert_eq!(map.pin().free_all_with(ID, |_, _| unreachable!()), 0);
    /// ```
    pub fn free_all_with<T: Send + Sync + 'static>(
        &self,
        id: ShadowId<T>,
        mut dtor: impl FnMut(Parent, &T),
    ) -> usize {
        self.map
            .raw()
            .free_all::<T>(id.raw(), OtherTypes::Panic, &self.guard, |p, v| {
                dtor(Parent::from_addr(p), v)
            })
    }

    /// See [`ShadowMap::free_parent`].
    ///
    /// ```
    /// let map = shadow_vars::ShadowMap::new();
    /// assert_eq!(map.pin().free_parent(&0u8), 0);
    /// ```
    pub fn free_parent(&self, obj: impl Into<Parent>) -> usize {
        self.map.raw().free_parent(obj.into().addr(), &self.guard)
    }

    /// See [`ShadowMap::len`].
    ///
    /// ```
    /// assert_eq!(shadow_vars::ShadowMap::new().pin().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// See [`ShadowMap::is_empty`].
    ///
    /// ```
    /// assert!(shadow_vars::ShadowMap::new().pin().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every variable with `id`: `(parent, &value)`, in no particular order.
    ///
    /// Weakly consistent: a variable that exists for the whole iteration is
    /// yielded exactly once; one created or freed meanwhile may or may not
    /// be. Lock-free.
    ///
    /// # Panics
    /// If a variable with `id` holds another type than `T`.
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap};
    /// # const ID: ShadowId<u32> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// let objs = [0u8; 3];
    /// for o in &objs { map.get_or_alloc(o, ID, || 2); }
    /// let m = map.pin();
    /// assert_eq!(m.iter(ID).map(|(_, v)| *v).sum::<u32>(), 6);
    /// ```
    pub fn iter<T: Send + Sync + 'static>(&self, id: ShadowId<T>) -> Iter<'_, T> {
        Iter {
            inner: self.map.raw().iter::<T>(id.raw(), &self.guard),
        }
    }
}

/// Iterator over the variables of one id, from [`ShadowMapRef::iter`].
pub struct Iter<'g, T> {
    inner: raw::Iter<'g, T>,
}

impl<'g, T: Send + Sync + 'static> Iterator for Iter<'g, T> {
    type Item = (Parent, &'g T);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
}

impl<T> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").finish_non_exhaustive()
    }
}
