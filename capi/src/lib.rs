//! The Linux kernel's shadow-variable API (`klp_shadow_*`) for C and C++, on the
//! process-wide table of `shadow_vars::global()`.
//!
//! This crate builds `libklp_shadow.a` and `libklp_shadow.so`; the matching header is
//! `include/klp_shadow.h` at the top of the repository. The five functions keep the
//! kernel's names, signatures and behaviour:
//!
//! | function | behaviour |
//! |---|---|
//! | [`klp_shadow_get`] | the data of `<obj, id>` or NULL; lock-free, never blocks |
//! | [`klp_shadow_alloc`] | `size` zeroed bytes, run `ctor`, insert; NULL (and one stderr line) if `<obj, id>` exists |
//! | [`klp_shadow_get_or_alloc`] | the existing data (new arguments ignored), or create as `klp_shadow_alloc` |
//! | [`klp_shadow_free`] | unhash `<obj, id>`, run `dtor` before returning, reclaim the memory once no reader can see it |
//! | [`klp_shadow_free_all`] | the same for every parent with `id` |
//!
//! # Differences from the kernel
//!
//! - No global lock: readers take no lock, writers on different shards never contend,
//!   and the table grows instead of having 4096 fixed buckets.
//! - `ctor` and `dtor` run outside every lock of the table, so they may call the
//!   `klp_shadow_*` functions for other `<obj, id>` pairs. A `ctor` that asks for its own
//!   pair gets NULL (the kernel would deadlock on its spinlock).
//! - Concurrent creators of one pair coalesce: one `ctor` runs, the other callers wait
//!   for it; then `klp_shadow_get_or_alloc` returns its data and `klp_shadow_alloc`
//!   reports a duplicate (if it fails, one of them runs its own `ctor`).
//! - `ctor` and `dtor` are called from Rust: they must return normally (a C++
//!   exception or a `longjmp` out of one is undefined behaviour).
//! - `gfp_flags` is accepted for source compatibility and ignored.
//!
//! # Data
//!
//! The data is `size` bytes (zero allowed: the variable is then a flag, and its pointer
//! is still non-NULL and unique) zeroed before `ctor` runs, aligned to
//! [`DATA_ALIGN`] (`_Alignof(max_align_t)`), and stays at one address until it is freed.
//! As in the kernel, the caller provides any mutual exclusion the data itself needs, and
//! must stop using a pointer once the variable may have been freed.
//!
//! # Sharing the table with Rust
//!
//! The C functions use `shadow_vars::global()` with the ids
//! `ShadowId::<CShadow>::new(id)` (see [`c_id`]), so Rust code can read a variable
//! that C created. On a pair that Rust code created with another type under the same
//! id, `klp_shadow_get` and the allocators return NULL and `klp_shadow_free` does
//! nothing (the map's type-mismatch panic is caught at the boundary, after the panic
//! hook printed it; no Rust panic ever unwinds into C); `klp_shadow_free_all` frees
//! the id's C variables and leaves Rust's.

#![deny(unsafe_op_in_unsafe_fn)]

mod abi;
mod block;
mod report;

pub use abi::{
    gfp_t, klp_shadow_alloc, klp_shadow_ctor_t, klp_shadow_dtor_t, klp_shadow_free,
    klp_shadow_free_all, klp_shadow_get, klp_shadow_get_or_alloc,
};
pub use block::{CShadow, DATA_ALIGN, c_id};
