//! Which keys this thread is constructing right now: how a constructor that
//! asks for its own *(parent, id)* is told so with a panic instead of waiting
//! for itself forever.
//!
//! Only consulted on the slow path (when an `INIT` entry is found), so the
//! fast paths pay nothing for it.

use core::cell::RefCell;

use crate::key::Key;
use crate::sync::thread_local;

thread_local! {
    /// `(map address, key)` of every constructor running on this thread,
    /// innermost last. A map cannot move or be dropped while one of its
    /// constructors runs (they run inside `&self` calls).
    // Not `const { .. }`: loom's `thread_local!` does not accept that form.
    #[allow(clippy::missing_const_for_thread_local)]
    static CONSTRUCTING: RefCell<Vec<(usize, Key)>> = RefCell::new(Vec::new());
}

/// Records that this thread runs the constructor of `key` in map `map`
/// until the returned guard is dropped (also on unwind).
pub(crate) fn enter(map: usize, key: Key) -> Constructing {
    CONSTRUCTING.with(|c| c.borrow_mut().push((map, key)));
    Constructing { map, key }
}

/// Whether this thread is running the constructor of `key` in map `map`.
pub(crate) fn is_constructing(map: usize, key: Key) -> bool {
    CONSTRUCTING.with(|c| c.borrow().iter().any(|&(m, k)| m == map && k == key))
}

pub(crate) struct Constructing {
    map: usize,
    key: Key,
}

impl Drop for Constructing {
    fn drop(&mut self) {
        // `try_with`: on thread exit the list may already be gone.
        let _ = CONSTRUCTING.try_with(|c| {
            let mut c = c.borrow_mut();
            if let Some(pos) = c.iter().rposition(|&(m, k)| m == self.map && k == self.key) {
                c.remove(pos);
            }
        });
    }
}
