//! The C functions and Rust code on one table: Rust reads variables created from C,
//! an id Rust uses with another type makes the C calls on that pair fail without
//! unwinding, and `klp_shadow_free_all` frees C's variables of an id and leaves Rust's.

use std::ffi::{c_ulong, c_void};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

use klp_shadow::{
    CShadow, DATA_ALIGN, c_id, klp_shadow_alloc, klp_shadow_free, klp_shadow_free_all,
    klp_shadow_get, klp_shadow_get_or_alloc,
};
use shadow_vars::{Parent, ShadowId, global};

/// Ids of this file; the C tests use 0x1000..0x3000.
const ID_SHARED: c_ulong = 0x3001;
const ID_RUST_TYPED: c_ulong = 0x3002;
const ID_MIXED: c_ulong = 0x3003;

unsafe extern "C" fn must_not_run(_: *mut c_void, _: *mut c_void, _: *mut c_void) -> i32 {
    std::process::abort()
}

unsafe extern "C" fn dtor_must_not_run(_: *mut c_void, _: *mut c_void) {
    std::process::abort()
}

#[test]
fn rust_sees_variables_created_from_c() {
    let parent = Box::new(0_u64);
    let obj = ptr::from_ref(&*parent).cast_mut().cast::<c_void>();
    // SAFETY: no ctor.
    let data = unsafe { klp_shadow_alloc(obj, ID_SHARED, 24, 0, None, ptr::null_mut()) };
    assert!(!data.is_null());
    assert_eq!(data as usize % DATA_ALIGN, 0);

    let shadow = global()
        .get(&*parent, c_id(ID_SHARED))
        .expect("created from C");
    let block: &CShadow = &shadow;
    assert_eq!(block.data_ptr(), data);
    assert_eq!(block.len(), 24);
    drop(shadow);

    // SAFETY: no dtor.
    unsafe { klp_shadow_free(obj, ID_SHARED, None) };
    assert!(global().get(Parent::from(obj), c_id(ID_SHARED)).is_none());
}

#[test]
fn id_used_by_rust_with_another_type_fails_in_c_without_unwinding() {
    let parent = Box::new(0_u64);
    let obj = ptr::from_ref(&*parent).cast_mut().cast::<c_void>();
    let rust_id = ShadowId::<u32>::new(u64::from(ID_RUST_TYPED as u32));
    global().alloc(&*parent, rust_id, || 7).expect("fresh key");

    // Each call meets a `u32` where it expects a `CShadow`: the map panics, the C
    // function catches it and returns NULL / does nothing.
    // SAFETY: the ctor and dtor are valid functions (and must not run).
    unsafe {
        assert!(klp_shadow_get(obj, ID_RUST_TYPED).is_null());
        assert!(
            klp_shadow_alloc(
                obj,
                ID_RUST_TYPED,
                8,
                0,
                Some(must_not_run),
                ptr::null_mut()
            )
            .is_null()
        );
        assert!(
            klp_shadow_get_or_alloc(
                obj,
                ID_RUST_TYPED,
                8,
                0,
                Some(must_not_run),
                ptr::null_mut()
            )
            .is_null()
        );
        klp_shadow_free(obj, ID_RUST_TYPED, Some(dtor_must_not_run));
    }
    // The Rust variable is untouched by the failed C calls.
    assert_eq!(global().get(&*parent, rust_id).as_deref(), Some(&7));

    // free_all skips the `u32` entry: no unwind into C, no dtor on it.
    // SAFETY: the dtor is valid (and must not run).
    unsafe { klp_shadow_free_all(ID_RUST_TYPED, Some(dtor_must_not_run)) };
    assert_eq!(global().get(&*parent, rust_id).as_deref(), Some(&7));
    global().free(&*parent, rust_id);
    assert!(!global().contains(&*parent, rust_id));
}

static MIXED_DTOR_CALLS: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn count_mixed_dtor(_: *mut c_void, _: *mut c_void) {
    MIXED_DTOR_CALLS.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn free_all_from_c_frees_every_c_variable_and_leaves_rusts() {
    // C variables on many parents (so, in every shard) and one Rust variable of
    // another type under the same id: klp_shadow_free_all frees all the C ones,
    // wherever the Rust one sits, and leaves it alone.
    let parents: Vec<Box<u64>> = (0..200).map(Box::new).collect();
    let objs: Vec<*mut c_void> = parents
        .iter()
        .map(|p| ptr::from_ref(&**p).cast_mut().cast::<c_void>())
        .collect();
    for &obj in &objs {
        // SAFETY: no ctor.
        let data = unsafe { klp_shadow_alloc(obj, ID_MIXED, 8, 0, None, ptr::null_mut()) };
        assert!(!data.is_null());
    }
    let rust_parent = Box::new(0_u64);
    let rust_id = ShadowId::<u32>::new(u64::from(ID_MIXED as u32));
    global()
        .alloc(&*rust_parent, rust_id, || 9)
        .expect("fresh key");

    // SAFETY: the dtor is valid for every variable.
    unsafe { klp_shadow_free_all(ID_MIXED, Some(count_mixed_dtor)) };
    assert_eq!(MIXED_DTOR_CALLS.load(Ordering::SeqCst), objs.len());
    for &obj in &objs {
        // SAFETY: plain lookups.
        assert!(unsafe { klp_shadow_get(obj, ID_MIXED) }.is_null());
    }
    assert_eq!(global().get(&*rust_parent, rust_id).as_deref(), Some(&9));
    assert!(global().free(&*rust_parent, rust_id));
}
