//! Which keys this thread is constructing right now: how a constructor that
//! asks for its own *(parent, id)* is told so with a panic instead of waiting
//! for itself forever.
//!
//! Each running constructor has a [`Frame`] on its creator's stack, linked
//! to the enclosing one through a thread-local pointer: entering and leaving
//! cost a thread-local read and a write, and the list is only walked on the
//! slow path (when an `INIT` entry is found).

use core::cell::Cell;
use core::ptr;

use crate::key::Key;
use crate::sync::thread_local;

thread_local! {
    /// The innermost running constructor's frame on this thread, or null.
    // Not `const { .. }`: loom's `thread_local!` does not accept that form.
    #[allow(clippy::missing_const_for_thread_local)]
    static INNERMOST: Cell<*const Frame> = Cell::new(ptr::null());
}

/// One running constructor: `(map address, key)`, and the enclosing frame.
///
/// Invariant: while linked (between [`enter`] and the drop of its
/// [`Entered`]), a frame lives on the stack of a call that is still running
/// on this thread, and frames are linked and unlinked in LIFO order (the
/// guard restores the previous frame, also on unwind). A map cannot move or
/// be dropped while one of its constructors runs (they run inside `&self`).
pub(crate) struct Frame {
    map: usize,
    key: Key,
    prev: Cell<*const Frame>,
}

impl Frame {
    pub(crate) fn new(map: usize, key: Key) -> Self {
        Frame {
            map,
            key,
            prev: Cell::new(ptr::null()),
        }
    }
}

/// Links `frame` as this thread's innermost constructor until the returned
/// guard is dropped.
pub(crate) fn enter(frame: &Frame) -> Entered<'_> {
    INNERMOST.with(|c| {
        frame.prev.set(c.get());
        c.set(frame);
    });
    Entered(frame)
}

/// Whether this thread is running the constructor of `key` in map `map`.
pub(crate) fn is_constructing(map: usize, key: Key) -> bool {
    INNERMOST.with(|c| {
        let mut p = c.get();
        while !p.is_null() {
            // SAFETY: linked frames are alive (see `Frame`'s invariant).
            let f = unsafe { &*p };
            if f.map == map && f.key == key {
                return true;
            }
            p = f.prev.get();
        }
        false
    })
}

/// Unlinks its frame when dropped (also on unwind).
pub(crate) struct Entered<'f>(&'f Frame);

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        // `try_with`: during thread teardown the slot may already be gone.
        let _ = INNERMOST.try_with(|c| {
            debug_assert!(
                ptr::eq(c.get(), self.0),
                "constructor frames unlinked out of order"
            );
            c.set(self.0.prev.get());
        });
    }
}
