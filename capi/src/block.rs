//! The value a C shadow variable stores in the map: an owned, zeroed, aligned block.

use std::alloc::{self, Layout};
use std::ffi::{c_ulong, c_void};
use std::ptr::NonNull;

use shadow_vars::ShadowId;

/// Alignment of every C shadow variable's data: `_Alignof(max_align_t)`, which is 16
/// on the 64-bit System V targets (x86_64, aarch64) and on i686 glibc. The C tests
/// check the data against `_Alignof(max_align_t)` of the compiler that builds them.
pub const DATA_ALIGN: usize = 16;

// The block must hold any C scalar, `long double` and `__int128` included.
const _: () = assert!(DATA_ALIGN >= align_of::<u128>() && DATA_ALIGN >= align_of::<f64>());

/// The id under which the C functions store variable `id`: Rust code that wants to
/// read a variable created from C uses this id.
#[must_use]
pub const fn c_id(id: c_ulong) -> ShadowId<CShadow> {
    // `c_ulong` is 32 or 64 bits depending on the target: this widens, never truncates.
    #[allow(clippy::unnecessary_cast)]
    ShadowId::new(id as u64)
}

/// The data of one shadow variable created through the C ABI: `len()` zeroed bytes
/// aligned to [`DATA_ALIGN`], owned by the map entry and freed when the entry is
/// reclaimed.
///
/// The bytes belong to C code: Rust code may read the pointer, but reading or writing
/// the bytes needs the same synchronisation that the C code uses for them.
#[derive(Debug)]
pub struct CShadow {
    /// Invariant: allocated by `alloc_zeroed(layout)` and owned by this value until
    /// `Drop`; never null, even for `len() == 0`.
    ptr: NonNull<u8>,
    /// Invariant: `layout.size() == max(len, 1)` and `layout.align() == DATA_ALIGN`.
    layout: Layout,
    /// The size the C caller asked for.
    len: usize,
}

// SAFETY: `CShadow` only owns a heap block of plain bytes; moving that ownership to
// another thread is fine (the global allocator is thread-safe).
unsafe impl Send for CShadow {}
// SAFETY: through `&CShadow` Rust only reads `ptr`, `layout` and `len`, which never
// change. The bytes behind `ptr` are written by C code through a `*mut`, under the C
// API's own contract (the caller provides mutual exclusion for the data, as in the
// kernel); Rust never creates references to them.
unsafe impl Sync for CShadow {}

impl CShadow {
    /// Allocates `len` zeroed bytes aligned to [`DATA_ALIGN`]; `None` if the allocator
    /// fails or `len` is too large for a `Layout`.
    pub(crate) fn zeroed(len: usize) -> Option<Self> {
        // Size 0 still gets a real 1-byte block so that its address is unique.
        let layout = Layout::from_size_align(len.max(1), DATA_ALIGN).ok()?;
        // SAFETY: `layout` has a non-zero size.
        let ptr = NonNull::new(unsafe { alloc::alloc_zeroed(layout) })?;
        Some(Self { ptr, layout, len })
    }

    /// The data pointer handed to C: non-null, aligned to [`DATA_ALIGN`], stable until
    /// the variable is freed and reclaimed.
    #[must_use]
    pub fn data_ptr(&self) -> *mut c_void {
        self.ptr.as_ptr().cast()
    }

    /// The size in bytes the variable was created with (may be 0).
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the variable was created with size 0 (a flag without data).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for CShadow {
    fn drop(&mut self) {
        // SAFETY: by the field invariants `ptr` came from `alloc_zeroed(self.layout)`
        // and is still owned by `self`; `drop` runs once.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}
