//! [`ShadowMapBuilder`]: shard count and initial capacity.

use crate::map::ShadowMap;
use crate::raw::RawMap;
use crate::sync;

/// Configures a [`ShadowMap`] before it is built.
///
/// ```
/// let map = shadow_vars::ShadowMap::builder().shards(64).capacity(1 << 20).build();
/// assert_eq!(map.shards(), 64);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ShadowMapBuilder {
    shards: Option<usize>,
    capacity: usize,
}

impl ShadowMapBuilder {
    /// A builder with the defaults: shards from the machine (four per core,
    /// at least 32, rounded up to a power of two), no capacity reserved.
    ///
    /// ```
    /// let map = shadow_vars::ShadowMapBuilder::new().build();
    /// assert!(map.is_empty());
    /// ```
    pub fn new() -> Self {
        ShadowMapBuilder::default()
    }

    /// The number of shards, rounded up to a power of two (at most 65,536).
    /// More shards: less writer contention, more memory for an empty map.
    ///
    /// # Panics
    /// If `n` is zero.
    ///
    /// ```
    /// assert_eq!(shadow_vars::ShadowMap::builder().shards(3).build().shards(), 4);
    /// ```
    pub fn shards(mut self, n: usize) -> Self {
        assert!(n > 0, "a ShadowMap needs at least one shard");
        self.shards = Some(n);
        self
    }

    /// Room for `n` variables before any table grows. Tables never shrink
    /// below this size.
    ///
    /// ```
    /// let map = shadow_vars::ShadowMap::builder().capacity(1000).build();
    /// assert!(map.is_empty());
    /// ```
    pub fn capacity(mut self, n: usize) -> Self {
        self.capacity = n;
        self
    }

    /// Builds the map.
    ///
    /// # Panics
    /// If the capacity is too large to size a table for.
    ///
    /// ```
    /// let map = shadow_vars::ShadowMap::builder().build();
    /// assert!(map.is_empty());
    /// ```
    pub fn build(self) -> ShadowMap {
        let shards = self.shards.unwrap_or_else(sync::default_shards);
        ShadowMap::from_raw(RawMap::new(shards, self.capacity))
    }
}
