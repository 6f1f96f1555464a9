//! The process-wide table, like the kernel's single shadow hashtable.

use std::sync::OnceLock;

use crate::map::ShadowMap;

static GLOBAL: OnceLock<ShadowMap> = OnceLock::new();

/// The process-wide [`ShadowMap`]: created on first use, never dropped
/// (values still in it at exit are not dropped, like any static). The C ABI
/// uses this table, so Rust and C code can share variables by id.
///
/// ```
/// use shadow_vars::{global, ShadowId};
/// const SEEN: ShadowId<bool> = ShadowId::new(0x5eed);
/// static OBJ: u8 = 0;
/// global().get_or_alloc(&OBJ, SEEN, || true);
/// assert!(*global().get(&OBJ, SEEN).unwrap());
/// global().free(&OBJ, SEEN);
/// ```
pub fn global() -> &'static ShadowMap {
    GLOBAL.get_or_init(ShadowMap::new)
}
