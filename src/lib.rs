//! Shadow variables for userspace: attach data to objects that already
//! exist, found by *(parent address, id)*, on a concurrent table built for
//! hot paths with dozens of threads.
//!
//! The idea comes from Linux livepatch (`klp_shadow_*`): a patch that must add
//! a field to a structure that is already allocated hangs the field off the
//! structure's address instead. The kernel keeps one global hashtable of 4096
//! buckets behind one spinlock, runs constructors and destructors under it
//! and hands out `void *`. This crate keeps the semantics and drops the limits:
//!
//! * **No global lock.** The table is sharded; lookups take no lock at all
//!   (they pin an epoch and follow atomic pointers; crossbeam-epoch keeps
//!   removed entries alive while a reader may still see them).
//! * **Constructors and destructors run outside every lock.** Once-only
//!   construction is kept by a per-entry state (*initializing / ready*):
//!   concurrent creators of one key coalesce on one constructor run; a
//!   failed or panicking constructor leaves nothing behind and one waiter
//!   retries; a constructor that asks for its own key panics ("recursive
//!   initialization") instead of deadlocking.
//! * **The table grows** (and shrinks) per shard without blocking readers,
//!   and **values never move**: a value keeps its address until freed.
//! * **Typed ids** ([`ShadowId<T>`]): the map never hands out a `&T` of the
//!   wrong type; a mismatch panics naming the id and both types.
//! * **Errors are values** ([`AllocError`], [`TryAllocError`]).
//!
//! # Usage
//!
//! ```
//! use shadow_vars::{ShadowId, ShadowMap};
//! use std::sync::Mutex;
//!
//! struct Packet { len: usize }              // a type we cannot change
//! const TRACE: ShadowId<Mutex<Vec<&'static str>>> = ShadowId::new(1);
//!
//! let map = ShadowMap::new();
//! let pkt = Box::new(Packet { len: 64 });
//!
//! map.get_or_default(&*pkt, TRACE).lock().unwrap().push("rx");
//! if let Some(trace) = map.get(&*pkt, TRACE) {
//!     trace.lock().unwrap().push("route");
//! }
//! assert_eq!(map.get(&*pkt, TRACE).unwrap().lock().unwrap().len(), 2);
//!
//! map.free_parent(&*pkt);                   // the parent dies: free its variables
//! drop(pkt);
//! ```
//!
//! A parent is identified by its **address only**: pass the object itself
//! (`&*boxed`, `&*arc`, `&value`), never a local variable holding a pointer
//! to it. Free a parent's variables ([`ShadowMap::free_parent`]) before the
//! object goes, or a new object at the same address inherits them.
//!
//! # Porting from `klp_shadow_*`
//!
//! | kernel | this crate |
//! |---|---|
//! | `klp_shadow_get(obj, id)` | [`get(obj, ID)`](ShadowMap::get) → `Option<Shadow<T>>` |
//! | `klp_shadow_alloc(obj, id, size, gfp, ctor, data)` | [`alloc(obj, ID, ctor)`](ShadowMap::alloc) / [`try_alloc`](ShadowMap::try_alloc); with no constructor, [`insert(obj, ID, value)`](ShadowMap::insert) (cheaper: see its docs) |
//! | `klp_shadow_get_or_alloc(...)` | [`get_or_alloc(obj, ID, ctor)`](ShadowMap::get_or_alloc) / [`try_get_or_alloc`](ShadowMap::try_get_or_alloc) / [`get_or_default`](ShadowMap::get_or_default) |
//! | `klp_shadow_free(obj, id, dtor)` | [`free(obj, ID)`](ShadowMap::free) / [`free_with(obj, ID, dtor)`](ShadowMap::free_with) |
//! | `klp_shadow_free_all(id, dtor)` | [`free_all(ID)`](ShadowMap::free_all) / [`free_all_with(ID, dtor)`](ShadowMap::free_all_with) |
//! | (none: variables leak when the parent dies) | [`free_parent(obj)`](ShadowMap::free_parent) |
//! | the global table | [`global()`] |
//!
//! C code keeps the kernel's names through the `shadow-vars-capi` library and
//! `include/klp_shadow.h`.
//!
//! # Consistency and memory ordering
//!
//! Everything a constructor wrote (the value and whatever it points to) is
//! visible to every thread that sees the value: the value is published with
//! a Release operation and every lookup reads it with Acquire. Each
//! operation on one *(parent, id)* is linearizable. `len`, `iter` and
//! `free_all` visit shards one after the other and are not atomic
//! snapshots of the whole table; `free_parent` works in the parent's shard
//! alone, in rounds (it waits for running constructors between them).
//!
//! The value is shared (`&T`); to mutate it, put a `Mutex`, a `RwLock` or
//! atomics inside `T` (the kernel leaves this to callers, too).
//!
//! # Lifetimes and reclamation
//!
//! A [`Shadow`] (and a [`ShadowMapRef`]) holds an epoch pin: the value stays
//! valid while it lives, even if freed meanwhile. Freed values are dropped
//! (exactly once) when no pinned thread can still see them; values left in
//! a map are dropped when the map is dropped. If a value's `Drop` panics
//! there, the map's other values are still dropped and its memory freed
//! before the panic reaches the code that dropped the map.
//!
//! **Reclamation hazard:** while any thread holds a pin, nothing freed after
//! it pinned is reclaimed, in this map or any other crossbeam-epoch user of
//! the process. Hold `Shadow`s and `ShadowMapRef`s briefly. `ShadowMap`'s
//! methods drop their pin while a constructor runs or while they wait for
//! another thread's constructor, so a slow constructor does not hold back
//! reclamation; through a `ShadowMapRef` the pin (the ref's) stays held.
//!
//! crossbeam-epoch collects garbage inside `pin` (every 128th pin of a
//! thread): any call that pins, `get` included, may run the `Drop` of values
//! freed earlier, by any thread. So may `free`, `free_parent` and `free_all`,
//! also through a `ShadowMapRef`: every 128 entries a thread frees, they
//! flush its garbage to the collector, so that a loop freeing many values
//! under one pin does not outrun reclamation. None of these runs a `Drop`
//! while a lock of the map is held.
//!
//! # Re-entrancy
//!
//! Constructors, `free_with`/`free_all_with` closures and values' `Drop` may
//! use the map freely (no lock of the map is held while they run). A
//! constructor that asks for its own *(parent, id)* panics. Two constructors
//! on two threads that each wait for the other's key deadlock, as with any
//! once-cell.
//!
//! # Performance
//!
//! A lookup hashes the key (two multiplies), loads one shard's table and
//! probes it linearly: a dense array of one control byte per slot (an
//! 8-bit tag of the key's hash) is read first, so a lookup of an absent key
//! touches no pointer and no entry, and a hit loads only its own slot's
//! pointer and entry. Values of up to 40 bytes live in per-shard slabs (32
//! bytes per entry for a `u64`, never across two cache lines), and while a
//! map grows its tables stay between half and three quarters full (9 bytes
//! per slot), so a growing map of `u64` values takes at most 50 bytes per
//! entry beyond the empty map (464 bytes per shard; 46 measured at 1M entries).
//! After frees, a table shrinks once it is under 1/8 full and empty slab
//! chunks are freed, so an emptied map returns to its initial size. Use
//! [`ShadowMap::pin`] to amortise the pin over a batch.
//!
//! A hit also checks the value's type: one address comparison when the
//! entry was created in the same codegen unit as the lookup, else a 128-bit
//! `TypeId` comparison. With Cargo's default release profile (16 codegen
//! units) the second is the common case; `codegen-units = 1` makes the first
//! one, and a pinned lookup then executes about 68 instructions instead of
//! 78 (`scripts/hitcost.sh`). Fat LTO alone does not: it merges the codegen
//! units after each has made its own copy of the type's vtable.
//! `docs/BENCHMARKS.md` compares against dashmap, papaya, scc and a model of
//! the kernel's table.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod builder;
mod error;
mod global;
mod key;
mod map;
mod pinned;
mod raw;
mod shadow;
mod sync;

pub use crate::builder::ShadowMapBuilder;
pub use crate::error::{AllocError, TryAllocError};
pub use crate::global::global;
pub use crate::key::{Parent, ShadowId};
pub use crate::map::ShadowMap;
pub use crate::pinned::{Iter, ShadowMapRef};
pub use crate::shadow::Shadow;
