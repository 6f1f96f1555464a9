//! The C functions and Rust code on one table: Rust reads variables created from C,
//! and an id Rust uses with another type makes the C calls fail without unwinding.

use std::ffi::{c_ulong, c_void};
use std::ptr;

use shadow_vars::{
    CShadow, DATA_ALIGN, c_id, klp_shadow_alloc, klp_shadow_free, klp_shadow_free_all,
    klp_shadow_get, klp_shadow_get_or_alloc,
};
use shadow_vars_core::{Parent, ShadowId, global};

/// Ids of this file; the C tests use 0x1000..0x3000.
const ID_SHARED: c_ulong = 0x3001;
const ID_RUST_TYPED: c_ulong = 0x3002;

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

    // Whether free_all skips or stops at the `u32` entry, it must not unwind into C
    // or run the dtor on it.
    // SAFETY: the dtor is valid (and must not run).
    unsafe { klp_shadow_free_all(ID_RUST_TYPED, Some(dtor_must_not_run)) };
    global().free(&*parent, rust_id);
    assert!(!global().contains(&*parent, rust_id));
}
