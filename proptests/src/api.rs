//! One trait over `ShadowMap` and `ShadowMapRef`, so the same executor drives both
//! (their methods have the same names; one returns `Shadow`, the other `&T`).

use std::ops::Deref;

use shadow_vars::{AllocError, Parent, ShadowId, ShadowMap, ShadowMapRef, TryAllocError};

use crate::value::Value;

/// The error the harness's fallible constructors return: the tag they would have made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CtorError(pub u64);

/// The operations of SPEC §3, for one value type.
#[allow(missing_docs)]
pub trait Api<V: Value> {
    /// What a lookup hands out: `Shadow<'_, V>` or `&V`.
    type Out<'a>: Deref<Target = V>
    where
        Self: 'a;

    fn get(&self, p: Parent, id: ShadowId<V>) -> Option<Self::Out<'_>>;
    fn contains(&self, p: Parent, id: ShadowId<V>) -> bool;
    fn alloc(
        &self,
        p: Parent,
        id: ShadowId<V>,
        ctor: impl FnOnce() -> V,
    ) -> Result<Self::Out<'_>, AllocError>;
    fn try_alloc(
        &self,
        p: Parent,
        id: ShadowId<V>,
        ctor: impl FnOnce() -> Result<V, CtorError>,
    ) -> Result<Self::Out<'_>, TryAllocError<CtorError>>;
    fn insert(&self, p: Parent, id: ShadowId<V>, value: V) -> Result<Self::Out<'_>, V>;
    fn get_or_alloc(&self, p: Parent, id: ShadowId<V>, ctor: impl FnOnce() -> V) -> Self::Out<'_>;
    fn try_get_or_alloc(
        &self,
        p: Parent,
        id: ShadowId<V>,
        ctor: impl FnOnce() -> Result<V, CtorError>,
    ) -> Result<Self::Out<'_>, CtorError>;
    fn get_or_default(&self, p: Parent, id: ShadowId<V>) -> Self::Out<'_>;
    fn free(&self, p: Parent, id: ShadowId<V>) -> bool;
    fn free_with(&self, p: Parent, id: ShadowId<V>, dtor: impl FnOnce(Parent, &V)) -> bool;
    fn free_all(&self, id: ShadowId<V>) -> usize;
    fn free_all_with(&self, id: ShadowId<V>, dtor: impl FnMut(Parent, &V)) -> usize;
    fn free_parent(&self, p: Parent) -> usize;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool;
    /// `iter(id)` (through a fresh `pin()` for `ShadowMap`), as (address, tag) pairs.
    fn iter_tags(&self, id: ShadowId<V>) -> Vec<(usize, u64)>;
}

macro_rules! forward_common {
    () => {
        fn get(&self, p: Parent, id: ShadowId<V>) -> Option<Self::Out<'_>> {
            Self::get(self, p, id)
        }
        fn contains(&self, p: Parent, id: ShadowId<V>) -> bool {
            Self::contains(self, p, id)
        }
        fn alloc(
            &self,
            p: Parent,
            id: ShadowId<V>,
            ctor: impl FnOnce() -> V,
        ) -> Result<Self::Out<'_>, AllocError> {
            Self::alloc(self, p, id, ctor)
        }
        fn try_alloc(
            &self,
            p: Parent,
            id: ShadowId<V>,
            ctor: impl FnOnce() -> Result<V, CtorError>,
        ) -> Result<Self::Out<'_>, TryAllocError<CtorError>> {
            Self::try_alloc(self, p, id, ctor)
        }
        fn insert(&self, p: Parent, id: ShadowId<V>, value: V) -> Result<Self::Out<'_>, V> {
            Self::insert(self, p, id, value)
        }
        fn get_or_alloc(
            &self,
            p: Parent,
            id: ShadowId<V>,
            ctor: impl FnOnce() -> V,
        ) -> Self::Out<'_> {
            Self::get_or_alloc(self, p, id, ctor)
        }
        fn try_get_or_alloc(
            &self,
            p: Parent,
            id: ShadowId<V>,
            ctor: impl FnOnce() -> Result<V, CtorError>,
        ) -> Result<Self::Out<'_>, CtorError> {
            Self::try_get_or_alloc(self, p, id, ctor)
        }
        fn get_or_default(&self, p: Parent, id: ShadowId<V>) -> Self::Out<'_> {
            Self::get_or_default(self, p, id)
        }
        fn free(&self, p: Parent, id: ShadowId<V>) -> bool {
            Self::free(self, p, id)
        }
        fn free_with(&self, p: Parent, id: ShadowId<V>, dtor: impl FnOnce(Parent, &V)) -> bool {
            Self::free_with(self, p, id, dtor)
        }
        fn free_all(&self, id: ShadowId<V>) -> usize {
            Self::free_all(self, id)
        }
        fn free_all_with(&self, id: ShadowId<V>, dtor: impl FnMut(Parent, &V)) -> usize {
            Self::free_all_with(self, id, dtor)
        }
        fn free_parent(&self, p: Parent) -> usize {
            Self::free_parent(self, p)
        }
        fn len(&self) -> usize {
            Self::len(self)
        }
        fn is_empty(&self) -> bool {
            Self::is_empty(self)
        }
    };
}

impl<V: Value> Api<V> for ShadowMap {
    type Out<'a> = shadow_vars::Shadow<'a, V>;
    forward_common!();
    fn iter_tags(&self, id: ShadowId<V>) -> Vec<(usize, u64)> {
        self.pin()
            .iter(id)
            .map(|(p, v)| (p.addr(), v.tag()))
            .collect()
    }
}

impl<V: Value> Api<V> for ShadowMapRef<'_> {
    type Out<'a>
        = &'a V
    where
        Self: 'a;
    forward_common!();
    fn iter_tags(&self, id: ShadowId<V>) -> Vec<(usize, u64)> {
        self.iter(id).map(|(p, v)| (p.addr(), v.tag())).collect()
    }
}
