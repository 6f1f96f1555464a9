//! Errors are values: a duplicate and a constructor failure are told apart,
//! and a constructor's own error reaches its caller unchanged.

use core::fmt;

/// [`alloc`](crate::ShadowMap::alloc) found the *(parent, id)* already
/// present and left it untouched (the kernel's `klp_shadow_alloc` returns
/// NULL and warns here).
///
/// ```
/// use shadow_vars::{AllocError, ShadowId, ShadowMap};
/// const ID: ShadowId<u32> = ShadowId::new(1);
/// let map = ShadowMap::new();
/// let obj = 0u8;
/// map.alloc(&obj, ID, || 1).unwrap();
/// assert_eq!(map.alloc(&obj, ID, || 2).unwrap_err(), AllocError::Exists);
/// assert_eq!(*map.get(&obj, ID).unwrap(), 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AllocError {
    /// A variable with this *(parent, id)* already exists.
    Exists,
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllocError::Exists => {
                f.write_str("a shadow variable with this (parent, id) already exists")
            }
        }
    }
}

impl std::error::Error for AllocError {}

/// Why [`try_alloc`](crate::ShadowMap::try_alloc) created nothing.
///
/// ```
/// use shadow_vars::{ShadowId, ShadowMap, TryAllocError};
/// const ID: ShadowId<u32> = ShadowId::new(1);
/// let map = ShadowMap::new();
/// let obj = 0u8;
/// let r = map.try_alloc(&obj, ID, || Err::<u32, _>("no memory"));
/// assert_eq!(r.unwrap_err(), TryAllocError::Ctor("no memory"));
/// assert!(!map.contains(&obj, ID)); // nothing was inserted
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TryAllocError<E> {
    /// A variable with this *(parent, id)* already exists; the constructor
    /// did not run.
    Exists,
    /// The constructor failed with this error; nothing was inserted.
    Ctor(E),
}

impl<E: fmt::Display> fmt::Display for TryAllocError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAllocError::Exists => fmt::Display::fmt(&AllocError::Exists, f),
            TryAllocError::Ctor(e) => write!(f, "shadow variable constructor failed: {e}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for TryAllocError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TryAllocError::Exists => None,
            TryAllocError::Ctor(e) => Some(e),
        }
    }
}

impl From<AllocError> for TryAllocError<core::convert::Infallible> {
    fn from(AllocError::Exists: AllocError) -> Self {
        TryAllocError::Exists
    }
}
