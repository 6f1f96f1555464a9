//! The five `extern "C"` functions, with the kernel's names and signatures.
//!
//! Every body runs inside [`no_unwind`]: a panic from the map (a type mismatch on a
//! pair that Rust code created with another type, a constructor asking for its own
//! pair) becomes NULL or a no-op, never an unwind into C. `klp_shadow_free_all` skips
//! Rust's variables of its id instead.

#![allow(non_camel_case_types)]

use std::ffi::{c_int, c_uint, c_ulong, c_void};
use std::ptr;

use shadow_vars::{Parent, TryAllocError, global};

use crate::block::{CShadow, c_id};
use crate::report::{ctor_failed, duplicate, no_unwind};

/// GFP allocation flags: accepted for source compatibility with the kernel, ignored.
pub type gfp_t = c_uint;

/// `int (*klp_shadow_ctor_t)(void *obj, void *shadow_data, void *ctor_data)`: fills in
/// freshly zeroed data; returns 0 on success, anything else rejects the creation.
pub type klp_shadow_ctor_t = Option<
    unsafe extern "C" fn(
        obj: *mut c_void,
        shadow_data: *mut c_void,
        ctor_data: *mut c_void,
    ) -> c_int,
>;

/// `void (*klp_shadow_dtor_t)(void *obj, void *shadow_data)`: releases what the data
/// refers to, while the data is still valid.
pub type klp_shadow_dtor_t =
    Option<unsafe extern "C" fn(obj: *mut c_void, shadow_data: *mut c_void)>;

/// Why a creation produced no variable.
enum CreateError {
    /// The data block could not be allocated.
    NoMemory,
    /// The constructor returned this nonzero value.
    Ctor(c_int),
}

/// Allocates the zeroed block and runs `ctor` on it: the closure the map runs, outside
/// its locks, at most once per successful creation.
///
/// # Safety
///
/// `ctor`, if not `None`, must be safe to call with `obj`, a pointer to `size` writable
/// bytes, and `ctor_data`.
unsafe fn construct(
    obj: *mut c_void,
    size: usize,
    ctor: klp_shadow_ctor_t,
    ctor_data: *mut c_void,
) -> Result<CShadow, CreateError> {
    let block = CShadow::zeroed(size).ok_or(CreateError::NoMemory)?;
    if let Some(ctor) = ctor {
        // SAFETY: the caller vouches for `ctor` with these arguments; the block is
        // `size` writable bytes that nobody else can see yet.
        let err = unsafe { ctor(obj, block.data_ptr(), ctor_data) };
        if err != 0 {
            // Dropping `block` frees it: nothing is inserted.
            return Err(CreateError::Ctor(err));
        }
    }
    Ok(block)
}

/// Retrieves the data of shadow variable `<obj, id>`.
///
/// Returns the data pointer, or NULL if there is no such variable (or its constructor
/// is still running in another thread). Takes no lock and never blocks.
///
/// # Safety
///
/// None for the call itself (`obj` is only used as an address). The returned pointer
/// is valid until the variable is freed; as with the kernel, the caller must make sure
/// no `klp_shadow_free*` of this variable can run while it still uses the pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn klp_shadow_get(obj: *mut c_void, id: c_ulong) -> *mut c_void {
    no_unwind(ptr::null_mut(), || {
        global()
            .get(Parent::from(obj), c_id(id))
            .map_or(ptr::null_mut(), |s| s.data_ptr())
    })
}

/// Allocates and attaches a new shadow variable `<obj, id>`.
///
/// Allocates `size` zeroed bytes (`size` may be 0) aligned for any C type, runs
/// `ctor(obj, data, ctor_data)` on them if `ctor` is not NULL, and attaches them.
/// `gfp_flags` is ignored.
///
/// Returns the data, or NULL if `<obj, id>` already exists (then one line
/// `Duplicate shadow variable <obj, id>` goes to stderr and the existing variable is
/// untouched), if `ctor` returns nonzero (one line `Failed to construct shadow variable
/// <obj, id> (err)`; nothing is attached), or if the data block cannot be allocated
/// (an existing pair is still reported as a duplicate).
///
/// `ctor` runs outside every lock of the table, at most once, only when this call
/// creates the variable; it may use the `klp_shadow_*` functions for other pairs.
/// Another thread creating the same pair waits for it.
///
/// # Safety
///
/// `ctor`, if not NULL, must be a valid function that may be called with `obj`, a
/// pointer to `size` writable bytes, and `ctor_data`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn klp_shadow_alloc(
    obj: *mut c_void,
    id: c_ulong,
    size: usize,
    gfp_flags: gfp_t,
    ctor: klp_shadow_ctor_t,
    ctor_data: *mut c_void,
) -> *mut c_void {
    let _ = gfp_flags;
    no_unwind(ptr::null_mut(), || {
        if ctor.is_none() {
            // Nothing to construct: the zeroed block is the whole value, and
            // `insert` links it complete (cheaper than `try_alloc`: no
            // initializing state to publish). It waits for a constructor of
            // the same pair running elsewhere, as `try_alloc` would.
            let Some(block) = CShadow::zeroed(size) else {
                // Out of memory; but an existing pair is reported as the
                // kernel would (it looks before it allocates).
                if global().contains(Parent::from(obj), c_id(id)) {
                    duplicate(obj, id);
                }
                return ptr::null_mut();
            };
            return match global().insert(Parent::from(obj), c_id(id), block) {
                Ok(shadow) => shadow.data_ptr(),
                // The block given back is freed here.
                Err(_block) => {
                    duplicate(obj, id);
                    ptr::null_mut()
                }
            };
        }
        // SAFETY: our caller's contract on `ctor` is the one `construct` needs.
        let made = global().try_alloc(Parent::from(obj), c_id(id), || unsafe {
            construct(obj, size, ctor, ctor_data)
        });
        match made {
            Ok(shadow) => shadow.data_ptr(),
            Err(TryAllocError::Exists) => {
                duplicate(obj, id);
                ptr::null_mut()
            }
            Err(TryAllocError::Ctor(CreateError::Ctor(err))) => {
                ctor_failed(obj, id, err);
                ptr::null_mut()
            }
            Err(TryAllocError::Ctor(CreateError::NoMemory)) => ptr::null_mut(),
        }
    })
}

/// Returns the data of shadow variable `<obj, id>`, creating it first if needed.
///
/// If the variable exists its data is returned and `size`, `ctor` and `ctor_data` are
/// ignored (`ctor` does not run). Otherwise it is created exactly as by
/// [`klp_shadow_alloc`]. Concurrent callers for one pair all get the same pointer, and
/// one `ctor` runs (another only if it fails). `gfp_flags` is ignored.
///
/// Returns NULL only if `ctor` fails (one line `Failed to construct shadow variable
/// <obj, id> (err)` on stderr) or the data block cannot be allocated.
///
/// # Safety
///
/// As for [`klp_shadow_alloc`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn klp_shadow_get_or_alloc(
    obj: *mut c_void,
    id: c_ulong,
    size: usize,
    gfp_flags: gfp_t,
    ctor: klp_shadow_ctor_t,
    ctor_data: *mut c_void,
) -> *mut c_void {
    let _ = gfp_flags;
    no_unwind(ptr::null_mut(), || {
        // SAFETY: our caller's contract on `ctor` is the one `construct` needs.
        let made = global().try_get_or_alloc(Parent::from(obj), c_id(id), || unsafe {
            construct(obj, size, ctor, ctor_data)
        });
        match made {
            Ok(shadow) => shadow.data_ptr(),
            Err(CreateError::Ctor(err)) => {
                ctor_failed(obj, id, err);
                ptr::null_mut()
            }
            Err(CreateError::NoMemory) => ptr::null_mut(),
        }
    })
}

/// Detaches and frees shadow variable `<obj, id>`; does nothing if there is none.
///
/// `dtor(obj, data)`, if not NULL, runs once before this call returns, outside every
/// lock of the table, while the data is still valid. The memory itself is reclaimed
/// later, once no concurrent `klp_shadow_get` can still be reading it; the caller must
/// stop using the data pointer.
///
/// # Safety
///
/// `dtor`, if not NULL, must be a valid function that may be called with `obj` and the
/// variable's data.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn klp_shadow_free(obj: *mut c_void, id: c_ulong, dtor: klp_shadow_dtor_t) {
    no_unwind((), || {
        global().free_with(Parent::from(obj), c_id(id), |_, data: &CShadow| {
            if let Some(dtor) = dtor {
                // SAFETY: the caller vouches for `dtor`; `data` is still allocated (it
                // is reclaimed only after this closure returns and readers are gone).
                unsafe { dtor(obj, data.data_ptr()) }
            }
        });
    });
}

/// Detaches and frees every shadow variable with `id`, on every parent.
///
/// `dtor(obj, data)`, if not NULL, runs once per variable before this call returns,
/// outside every lock of the table; the memory is reclaimed later, as for
/// [`klp_shadow_free`]. Variables whose constructor is running in another thread, and
/// variables that Rust code created under `id` with another type, are left alone.
///
/// # Safety
///
/// `dtor`, if not NULL, must be a valid function that may be called with each parent
/// and its variable's data.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn klp_shadow_free_all(id: c_ulong, dtor: klp_shadow_dtor_t) {
    no_unwind((), || {
        // Variables of `id` that Rust code created with another type are not
        // C's: they stay (the typed `free_all_with` would panic on them,
        // halfway through the table).
        global().free_all_with_skipping_other_types(c_id(id), |parent, data: &CShadow| {
            if let Some(dtor) = dtor {
                let obj = ptr::with_exposed_provenance_mut::<c_void>(parent.addr());
                // SAFETY: the caller vouches for `dtor`; `data` is still allocated (it
                // is reclaimed only after this closure returns and readers are gone).
                unsafe { dtor(obj, data.data_ptr()) }
            }
        });
    });
}
