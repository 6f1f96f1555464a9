//! [`ShadowMap`]: the public table of shadow variables.

use core::fmt;
use core::ptr::NonNull;

use crate::builder::ShadowMapBuilder;
use crate::error::{AllocError, TryAllocError};
use crate::key::{Key, Parent, ShadowId};
use crate::pinned::ShadowMapRef;
use crate::raw::{CreateError, Located, Mode, OtherTypes, RawMap};
use crate::shadow::Shadow;

/// A concurrent table of shadow variables, found by *(parent, id)*.
///
/// Lookups are lock-free; writers lock one shard for a few instructions;
/// constructors and destructors run outside every lock. See the
/// [crate documentation](crate) for the guarantees.
///
/// Every method that returns a value takes an epoch pin for you and returns
/// a [`Shadow`] that holds it. For many operations in a row, take one pin
/// with [`pin`](ShadowMap::pin) and use the [`ShadowMapRef`] it returns.
///
/// ```
/// use shadow_vars::{ShadowId, ShadowMap};
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// struct Conn { fd: i32 }                       // a type we cannot change
/// const RETRIES: ShadowId<AtomicU32> = ShadowId::new(1);
///
/// let map = ShadowMap::new();
/// let conn = Box::new(Conn { fd: 3 });
/// map.get_or_default(&*conn, RETRIES).fetch_add(1, Ordering::Relaxed);
/// assert_eq!(map.get(&*conn, RETRIES).unwrap().load(Ordering::Relaxed), 1);
/// map.free_parent(&*conn);                      // before `conn` is dropped
/// assert!(map.is_empty());
/// ```
pub struct ShadowMap {
    raw: RawMap,
}

impl Default for ShadowMap {
    fn default() -> Self {
        ShadowMap::new()
    }
}

impl fmt::Debug for ShadowMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShadowMap")
            .field("len", &self.len())
            .field("shards", &self.raw.shard_count())
            .finish()
    }
}

impl ShadowMap {
    /// An empty map with the default shard count (four per core, at least
    /// 32: see [`ShadowMapBuilder::shards`]).
    ///
    /// ```
    /// let map = shadow_vars::ShadowMap::new();
    /// assert!(map.is_empty());
    /// ```
    pub fn new() -> Self {
        ShadowMapBuilder::new().build()
    }

    /// An empty map sized to hold `n` variables without growing.
    ///
    /// # Panics
    /// If `n` is too large to size a table for (capacity overflow).
    ///
    /// ```
    /// let map = shadow_vars::ShadowMap::with_capacity(100_000);
    /// assert_eq!(map.len(), 0);
    /// ```
    pub fn with_capacity(n: usize) -> Self {
        ShadowMapBuilder::new().capacity(n).build()
    }

    /// A builder to choose the shard count and initial capacity.
    ///
    /// ```
    /// let map = shadow_vars::ShadowMap::builder().shards(1).capacity(16).build();
    /// assert_eq!(map.shards(), 1);
    /// ```
    pub fn builder() -> ShadowMapBuilder {
        ShadowMapBuilder::new()
    }

    pub(crate) fn from_raw(raw: RawMap) -> Self {
        ShadowMap { raw }
    }

    pub(crate) fn raw(&self) -> &RawMap {
        &self.raw
    }

    /// Locates *(obj, id)* and prefetches its home slot: the first step of
    /// every keyed method that pins per call, taken before it pins (see
    /// `Located::prefetch`).
    #[inline(always)]
    fn locate_before_pin<T>(&self, obj: impl Into<Parent>, id: ShadowId<T>) -> Located<'_> {
        self.raw.locate(Key::new(obj, id)).prefetch()
    }

    /// The number of shards (a power of two).
    ///
    /// ```
    /// assert!(shadow_vars::ShadowMap::new().shards().is_power_of_two());
    /// ```
    pub fn shards(&self) -> usize {
        self.raw.shard_count()
    }

    /// The index of the shard holding `obj`'s variables. Only in the loom
    /// build: the models use it to put keys in one shard or in two on
    /// purpose, rather than by the luck of the fixed seed.
    #[cfg(shadow_vars_loom)]
    #[doc(hidden)]
    pub fn shard_index(&self, obj: impl Into<Parent>) -> usize {
        self.raw.shard_of_parent(obj.into().addr())
    }

    /// Pins the current thread once for many operations: the returned
    /// [`ShadowMapRef`] has the same methods, returning plain `&T` tied to
    /// the pin, without a pin per call.
    ///
    /// **Reclamation:** nothing freed anywhere in the process is reclaimed
    /// while the pin lives; drop it (or [`repin`](ShadowMapRef::repin)) often.
    ///
    /// ```
    /// use shadow_vars::{ShadowId, ShadowMap};
    /// const ID: ShadowId<u64> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// let objs: Vec<Box<u8>> = (0..10).map(Box::new).collect();
    /// let m = map.pin();
    /// for o in &objs {
    ///     m.get_or_alloc(&**o, ID, || u64::from(**o));
    /// }
    /// let sum: u64 = objs.iter().map(|o| *m.get(&**o, ID).unwrap()).sum();
    /// assert_eq!(sum, 45);
    /// ```
    pub fn pin(&self) -> ShadowMapRef<'_> {
        ShadowMapRef::new(self, crossbeam_epoch::pin())
    }

    /// The value of *(obj, id)*, or `None` (the kernel's `klp_shadow_get`).
    ///
    /// Lock-free; never blocks. A variable whose constructor is still running
    /// is not visible yet.
    ///
    /// # Panics
    /// If the variable holds another type than `T` (the same number used with
    /// two types).
    ///
    /// ```
    /// use shadow_vars::{ShadowId, ShadowMap};
    /// const ID: ShadowId<&str> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// let obj = 0u8;
    /// assert!(map.get(&obj, ID).is_none());
    /// map.alloc(&obj, ID, || "hi").unwrap();
    /// assert_eq!(*map.get(&obj, ID).unwrap(), "hi");
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
    ) -> Option<Shadow<'_, T>> {
        let at = self.locate_before_pin(obj, id);
        let guard = crossbeam_epoch::pin();
        let value = NonNull::from(self.raw.get::<T>(at, &guard)?);
        Some(Shadow::new(guard, value))
    }

    /// Whether *(obj, id)* exists (is constructed). Lock-free.
    ///
    /// # Panics
    /// As [`get`](ShadowMap::get).
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap};
    /// # const ID: ShadowId<u8> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// let obj = 0u8;
    /// assert!(!map.contains(&obj, ID));
    /// map.get_or_default(&obj, ID);
    /// assert!(map.contains(&obj, ID));
    /// ```
    #[inline]
    pub fn contains<T: Send + Sync + 'static>(
        &self,
        obj: impl Into<Parent>,
        id: ShadowId<T>,
    ) -> bool {
        let at = self.locate_before_pin(obj, id);
        self.raw.get::<T>(at, &crossbeam_epoch::pin()).is_some()
    }

    /// Creates *(obj, id)* with the value `ctor()` (the kernel's
    /// `klp_shadow_alloc`); fails if it exists.
    ///
    /// `ctor` runs at most once, outside every lock, only if this call
    /// creates the variable. Concurrent creators of the same *(obj, id)*
    /// wait for it; if it panics, nothing is inserted, one of them retries
    /// and the panic propagates to this caller.
    ///
    /// # Errors
    /// [`AllocError::Exists`] if the variable exists (`ctor` does not run and
    /// the existing value is untouched).
    ///
    /// # Panics
    /// If `ctor` panics; if `ctor` asks for this same *(obj, id)* (recursive
    /// initialization); on a type mismatch (see [`get`](ShadowMap::get)).
    ///
    /// ```
    /// # use shadow_vars::{AllocError, ShadowId, ShadowMap};
    /// # const ID: ShadowId<Vec<u8>> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// let obj = 0u8;
    /// assert_eq!(map.alloc(&obj, ID, || vec![1, 2]).unwrap().len(), 2);
    /// assert_eq!(map.alloc(&obj, ID, || unreachable!()).unwrap_err(), AllocError::Exists);
    /// ```
    pub fn alloc<T: Send + Sync + 'static>(
        &self,
        obj: impl Into<Parent>,
        id: ShadowId<T>,
        ctor: impl FnOnce() -> T,
    ) -> Result<Shadow<'_, T>, AllocError> {
        let at = self.locate_before_pin(obj, id);
        let mut guard = crossbeam_epoch::pin();
        match self
            .raw
            .get_or_create(at, &mut guard, Mode::CreateOnly, || {
                Ok::<T, core::convert::Infallible>(ctor())
            }) {
            Ok(v) => {
                let v = NonNull::from(v);
                Ok(Shadow::new(guard, v))
            }
            Err(CreateError::Exists) => Err(AllocError::Exists),
            Err(CreateError::Ctor(never)) => match never {},
        }
    }

    /// Like [`alloc`](ShadowMap::alloc) with a fallible constructor.
    ///
    /// # Errors
    /// [`TryAllocError::Exists`] if the variable exists (`ctor` does not
    /// run); [`TryAllocError::Ctor`] with `ctor`'s error, in which case
    /// nothing was inserted (a waiting creator may then create it).
    ///
    /// # Panics
    /// As [`alloc`](ShadowMap::alloc).
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap, TryAllocError};
    /// # const ID: ShadowId<u32> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// let obj = 0u8;
    /// assert_eq!(map.try_alloc(&obj, ID, || "42".parse::<u32>()).map(|v| *v), Ok(42));
    /// assert!(matches!(map.try_alloc(&obj, ID, || "x".parse::<u32>()), Err(TryAllocError::Exists)));
    /// ```
    pub fn try_alloc<T: Send + Sync + 'static, E>(
        &self,
        obj: impl Into<Parent>,
        id: ShadowId<T>,
        ctor: impl FnOnce() -> Result<T, E>,
    ) -> Result<Shadow<'_, T>, TryAllocError<E>> {
        let at = self.locate_before_pin(obj, id);
        let mut guard = crossbeam_epoch::pin();
        match self
            .raw
            .get_or_create(at, &mut guard, Mode::CreateOnly, ctor)
        {
            Ok(v) => {
                let v = NonNull::from(v);
                Ok(Shadow::new(guard, v))
            }
            Err(CreateError::Exists) => Err(TryAllocError::Exists),
            Err(CreateError::Ctor(e)) => Err(TryAllocError::Ctor(e)),
        }
    }

    /// Creates *(obj, id)* holding `value`, already constructed; fails if
    /// it exists, giving `value` back.
    ///
    /// [`alloc`](ShadowMap::alloc) with a value instead of a constructor,
    /// and cheaper: with no constructor to run outside the lock, the entry
    /// is linked complete, where `alloc` links it *initializing* and then
    /// publishes its value with one more atomic read-modify-write (the step
    /// that lets concurrent creators wait for a constructor). Use it when
    /// the value is cheap to build even if the variable turns out to exist.
    /// A constructor of the same *(obj, id)* running in another thread is
    /// waited for, as by `alloc`: if it fails, this call creates.
    ///
    /// # Errors
    /// `Err(value)` if the variable exists (the existing value is
    /// untouched).
    ///
    /// # Panics
    /// If called from the constructor of this same *(obj, id)* (recursive
    /// initialization); on a type mismatch (see [`get`](ShadowMap::get)).
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap};
    /// # const ID: ShadowId<String> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// let obj = 0u8;
    /// assert_eq!(*map.insert(&obj, ID, "first".to_string()).unwrap(), "first");
    /// let back = map.insert(&obj, ID, "second".to_string()).unwrap_err();
    /// assert_eq!(back, "second");
    /// assert_eq!(*map.get(&obj, ID).unwrap(), "first");
    /// ```
    pub fn insert<T: Send + Sync + 'static>(
        &self,
        obj: impl Into<Parent>,
        id: ShadowId<T>,
        value: T,
    ) -> Result<Shadow<'_, T>, T> {
        let at = self.locate_before_pin(obj, id);
        let mut guard = crossbeam_epoch::pin();
        let v = NonNull::from(self.raw.insert(at, &mut guard, value)?);
        Ok(Shadow::new(guard, v))
    }

    /// The existing value of *(obj, id)*, or a new one from `ctor` (the
    /// kernel's `klp_shadow_get_or_alloc`).
    ///
    /// On an existing variable `ctor` does not run. Concurrent callers for
    /// the same *(obj, id)* coalesce: exactly one runs its `ctor`, outside
    /// every lock; the others wait for it (spin briefly, then park) and
    /// return its value. The fast path (variable exists) is lock-free.
    ///
    /// # Panics
    /// If `ctor` panics (nothing is inserted; a waiter retries with its own
    /// constructor); if `ctor` asks for this same *(obj, id)*; on a type
    /// mismatch.
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap};
    /// # const ID: ShadowId<String> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// let obj = 0u8;
    /// assert_eq!(*map.get_or_alloc(&obj, ID, || "first".into()), "first");
    /// assert_eq!(*map.get_or_alloc(&obj, ID, || "second".into()), "first");
    /// ```
    #[inline]
    pub fn get_or_alloc<T: Send + Sync + 'static>(
        &self,
        obj: impl Into<Parent>,
        id: ShadowId<T>,
        ctor: impl FnOnce() -> T,
    ) -> Shadow<'_, T> {
        match self.try_get_or_alloc(obj, id, || Ok::<T, core::convert::Infallible>(ctor())) {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }

    /// Like [`get_or_alloc`](ShadowMap::get_or_alloc) with a fallible
    /// constructor.
    ///
    /// # Errors
    /// `ctor`'s error, when this call ran it and it failed; nothing was
    /// inserted.
    ///
    /// # Panics
    /// As [`get_or_alloc`](ShadowMap::get_or_alloc).
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap};
    /// # const ID: ShadowId<u32> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// let obj = 0u8;
    /// assert!(map.try_get_or_alloc(&obj, ID, || Err("not now")).is_err());
    /// assert_eq!(*map.try_get_or_alloc(&obj, ID, || Ok::<_, &str>(5)).unwrap(), 5);
    /// ```
    #[inline]
    pub fn try_get_or_alloc<T: Send + Sync + 'static, E>(
        &self,
        obj: impl Into<Parent>,
        id: ShadowId<T>,
        ctor: impl FnOnce() -> Result<T, E>,
    ) -> Result<Shadow<'_, T>, E> {
        let at = self.locate_before_pin(obj, id);
        let mut guard = crossbeam_epoch::pin();
        match self
            .raw
            .get_or_create(at, &mut guard, Mode::GetOrCreate, ctor)
        {
            Ok(v) => {
                let v = NonNull::from(v);
                Ok(Shadow::new(guard, v))
            }
            Err(CreateError::Ctor(e)) => Err(e),
            Err(CreateError::Exists) => unreachable!("GetOrCreate never reports Exists"),
        }
    }

    /// The value of *(obj, id)*, created as `T::default()` if absent (the
    /// kernel's zeroed default).
    ///
    /// # Panics
    /// As [`get_or_alloc`](ShadowMap::get_or_alloc).
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap};
    /// # const ID: ShadowId<u64> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// let obj = 0u8;
    /// assert_eq!(*map.get_or_default(&obj, ID), 0);
    /// ```
    #[inline]
    pub fn get_or_default<T: Send + Sync + Default + 'static>(
        &self,
        obj: impl Into<Parent>,
        id: ShadowId<T>,
    ) -> Shadow<'_, T> {
        self.get_or_alloc(obj, id, T::default)
    }

    /// Frees *(obj, id)* (the kernel's `klp_shadow_free` without a dtor).
    /// Returns whether it existed. The value is dropped once no reader can
    /// still see it. If its constructor is running, waits for the outcome.
    ///
    /// # Panics
    /// On a type mismatch; if called from the constructor of this same
    /// *(obj, id)*.
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap};
    /// # const ID: ShadowId<u8> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// let obj = 0u8;
    /// map.get_or_default(&obj, ID);
    /// assert!(map.free(&obj, ID));
    /// assert!(!map.free(&obj, ID));
    /// ```
    pub fn free<T: Send + Sync + 'static>(&self, obj: impl Into<Parent>, id: ShadowId<T>) -> bool {
        let at = self.locate_before_pin(obj, id);
        self.raw.free::<T>(at, &mut crossbeam_epoch::pin(), |_| ())
    }

    /// Frees *(obj, id)*, first calling `dtor(parent, &value)` synchronously,
    /// exactly once, with no lock held (the kernel's `klp_shadow_free` with
    /// a dtor). Returns whether it existed (`dtor` runs only then). The
    /// value's own `Drop` runs later, once no reader can see it.
    ///
    /// # Panics
    /// As [`free`](ShadowMap::free); a panic of `dtor` propagates (the
    /// variable is freed all the same).
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap};
    /// # const ID: ShadowId<u32> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// let obj = 0u8;
    /// map.alloc(&obj, ID, || 7).unwrap();
    /// let mut seen = None;
    /// assert!(map.free_with(&obj, ID, |_, v| seen = Some(*v)));
    /// assert_eq!(seen, Some(7));
    /// ```
    pub fn free_with<T: Send + Sync + 'static>(
        &self,
        obj: impl Into<Parent>,
        id: ShadowId<T>,
        dtor: impl FnOnce(Parent, &T),
    ) -> bool {
        let parent = obj.into();
        let at = self.locate_before_pin(parent, id);
        self.raw
            .free::<T>(at, &mut crossbeam_epoch::pin(), |v| dtor(parent, v))
    }

    /// Frees every variable with `id`, on every parent (the kernel's
    /// `klp_shadow_free_all` without a dtor). Returns how many.
    ///
    /// Not atomic across the table: it visits shard by shard; a variable
    /// created concurrently (or whose constructor is running when its shard
    /// is visited) may survive.
    ///
    /// # Panics
    /// If a variable with `id` holds another type than `T`. The shards
    /// visited before the one holding it have been freed by then; that
    /// shard and the ones after it are left untouched.
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap};
    /// # const ID: ShadowId<u8> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// let objs = [0u8; 4];
    /// for o in &objs { map.get_or_default(o, ID); }
    /// assert_eq!(map.free_all(ID), 4);
    /// assert!(map.is_empty());
    /// ```
    pub fn free_all<T: Send + Sync + 'static>(&self, id: ShadowId<T>) -> usize {
        self.raw.free_all::<T>(
            id.raw(),
            OtherTypes::Panic,
            &crossbeam_epoch::pin(),
            |_, _| (),
        )
    }

    /// Like [`free_all`](ShadowMap::free_all), calling `dtor(parent, &value)`
    /// synchronously, once per freed variable, with no lock held.
    ///
    /// # Panics
    /// As [`free_all`](ShadowMap::free_all); a panic of `dtor` propagates
    /// (variables of the shard being processed are freed all the same).
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap};
    /// # const ID: ShadowId<u32> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// let objs = [0u8; 3];
    /// for (i, o) in objs.iter().enumerate() { map.alloc(o, ID, || i as u32).unwrap(); }
    /// let mut sum = 0;
    /// assert_eq!(map.free_all_with(ID, |_, v| sum += v), 3);
    /// assert_eq!(sum, 3);
    /// ```
    pub fn free_all_with<T: Send + Sync + 'static>(
        &self,
        id: ShadowId<T>,
        dtor: impl FnMut(Parent, &T),
    ) -> usize {
        self.free_all_in(id, OtherTypes::Panic, dtor)
    }

    /// [`free_all_with`](ShadowMap::free_all_with) for the C ABI
    /// (`klp_shadow_free_all`): variables with `id` that hold another type
    /// than `T` (Rust code using the same id) are left in place instead of
    /// panicking. Not part of the stable API.
    #[doc(hidden)]
    pub fn free_all_with_skipping_other_types<T: Send + Sync + 'static>(
        &self,
        id: ShadowId<T>,
        dtor: impl FnMut(Parent, &T),
    ) -> usize {
        self.free_all_in(id, OtherTypes::Skip, dtor)
    }

    /// The two `free_all_with`s: `others` says what entries of `id` holding
    /// another type than `T` do.
    fn free_all_in<T: Send + Sync + 'static>(
        &self,
        id: ShadowId<T>,
        others: OtherTypes,
        mut dtor: impl FnMut(Parent, &T),
    ) -> usize {
        self.raw
            .free_all::<T>(id.raw(), others, &crossbeam_epoch::pin(), |p, v| {
                dtor(Parent::from_addr(p), v)
            })
    }

    /// Frees every variable of `obj`, whatever its id or type; call it when
    /// the parent dies, so that nothing leaks and a new object at the same
    /// address does not inherit stale data. Returns how many. Waits for
    /// constructors of this parent that are running.
    ///
    /// Cost: one lookup per id in use in the parent's shard; no table scan.
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap};
    /// const A: ShadowId<u8> = ShadowId::new(1);
    /// const B: ShadowId<String> = ShadowId::new(2);
    /// let map = ShadowMap::new();
    /// let obj = Box::new(0u64);
    /// map.get_or_default(&*obj, A);
    /// map.get_or_default(&*obj, B);
    /// assert_eq!(map.free_parent(&*obj), 2);
    /// drop(obj);
    /// ```
    pub fn free_parent(&self, obj: impl Into<Parent>) -> usize {
        self.raw
            .free_parent(obj.into().addr(), &mut crossbeam_epoch::pin())
    }

    /// The number of variables, counting any whose constructor is running.
    /// Exact when no other thread is writing; a moment's approximation
    /// otherwise.
    ///
    /// It takes each shard's writer lock in turn, briefly (no constructor
    /// ever runs under one): the map keeps no shared counter, which every
    /// create and free would have to update.
    ///
    /// ```
    /// # use shadow_vars::{ShadowId, ShadowMap};
    /// # const ID: ShadowId<u8> = ShadowId::new(1);
    /// let map = ShadowMap::new();
    /// map.get_or_default(&0u8, ID);
    /// assert_eq!(map.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether [`len`](ShadowMap::len) is zero.
    ///
    /// ```
    /// assert!(shadow_vars::ShadowMap::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
