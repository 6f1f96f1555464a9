//! Iteration over the variables of one id, across shards.

use core::marker::PhantomData;

use crossbeam_epoch::Guard;
use crossbeam_utils::CachePadded;

use super::entry::Entry;
use super::shard::Shard;
use super::table::Table;
use crate::Parent;

/// The `READY` entries with one id, shard by shard: each shard's current
/// table when the iterator reaches the shard (not a snapshot: writers may
/// change it while the iterator walks it).
///
/// Weakly consistent: every entry that stays `READY` during the whole
/// iteration is yielded exactly once; entries created or freed meanwhile may
/// or may not be. Yields borrow from the guard: values stay valid while it
/// is pinned.
pub(crate) struct Iter<'g, T> {
    shards: &'g [CachePadded<Shard>],
    next_shard: usize,
    table: Option<Table<'g>>,
    slot: usize,
    id: u64,
    guard: &'g Guard,
    _type: PhantomData<fn() -> T>,
}

impl<'g, T: Send + Sync + 'static> Iter<'g, T> {
    pub(super) fn new(shards: &'g [CachePadded<Shard>], id: u64, guard: &'g Guard) -> Self {
        Iter {
            shards,
            next_shard: 0,
            table: None,
            slot: 0,
            id,
            guard,
            _type: PhantomData,
        }
    }
}

impl<'g, T: Send + Sync + 'static> Iterator for Iter<'g, T> {
    type Item = (Parent, &'g T);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let table = match self.table {
                Some(t) => t,
                None => {
                    let shard = self.shards.get(self.next_shard)?;
                    self.next_shard += 1;
                    self.slot = 0;
                    *self.table.insert(shard.table(self.guard))
                }
            };
            while self.slot < table.capacity() {
                let i = self.slot;
                self.slot += 1;
                let Some(e) = table.entry_at(i) else { continue };
                // SAFETY: pinned since the table was loaded: entries linked in
                // it are retired no earlier than our guard unpins.
                let h = unsafe { &*e };
                if h.id != self.id {
                    continue;
                }
                let meta = h.meta();
                if meta.is_ready_as::<T>() {
                    // SAFETY: READY as `T`, seen with Acquire; alive while pinned.
                    return Some((Parent::from_addr(h.parent), unsafe { Entry::<T>::value(e) }));
                }
                if !meta.is_init() && !meta.is_dead() {
                    super::check_type::<T>(h.key(), meta);
                }
            }
            self.table = None;
        }
    }
}
