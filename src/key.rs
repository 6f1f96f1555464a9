//! Keys: the parent's address ([`Parent`]), typed ids ([`ShadowId`]) and the
//! seeded hash that places a key in a shard and a slot.

use core::fmt;
use core::hash::{Hash, Hasher};
use core::marker::PhantomData;
use core::ptr::NonNull;

/// The address of the object a shadow variable hangs off.
///
/// A parent is identified by its **address only**: pass the object itself
/// (`&*boxed`, `&*arc`, `&value`), not a local variable that holds a pointer
/// to it, or every call would see a different (stack) address. Nothing is
/// dereferenced: the address is just a key.
///
/// ```
/// use shadow_vars::Parent;
/// let obj = Box::new(7u32);
/// let p = Parent::from(&*obj);
/// assert_eq!(p.addr(), &*obj as *const u32 as usize);
/// assert_eq!(p, Parent::from_addr(p.addr()));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Parent(usize);

impl Parent {
    /// A parent from a raw address (for addresses kept as integers, or C).
    ///
    /// ```
    /// assert_eq!(shadow_vars::Parent::from_addr(0x1000).addr(), 0x1000);
    /// ```
    #[inline]
    pub const fn from_addr(addr: usize) -> Self {
        Parent(addr)
    }

    /// The address this parent stands for.
    ///
    /// ```
    /// let x = 5u8;
    /// assert_eq!(shadow_vars::Parent::from(&x).addr(), &x as *const u8 as usize);
    /// ```
    #[inline]
    pub fn addr(self) -> usize {
        self.0
    }
}

impl fmt::Debug for Parent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Parent({:#x})", self.0)
    }
}

impl<T: ?Sized> From<&T> for Parent {
    /// The address the reference points to (the object, not the reference).
    #[inline]
    fn from(r: &T) -> Self {
        Parent((r as *const T).cast::<()>() as usize)
    }
}

impl<T: ?Sized> From<&mut T> for Parent {
    /// The address the reference points to (the object, not the reference).
    #[inline]
    fn from(r: &mut T) -> Self {
        Parent((r as *mut T).cast::<()>() as usize)
    }
}

impl<T: ?Sized> From<*const T> for Parent {
    #[inline]
    fn from(p: *const T) -> Self {
        Parent(p.cast::<()>() as usize)
    }
}

impl<T: ?Sized> From<*mut T> for Parent {
    #[inline]
    fn from(p: *mut T) -> Self {
        Parent(p.cast::<()>() as usize)
    }
}

impl<T: ?Sized> From<NonNull<T>> for Parent {
    #[inline]
    fn from(p: NonNull<T>) -> Self {
        Parent(p.as_ptr().cast::<()>() as usize)
    }
}

/// A numeric shadow-variable id bound to the type of data stored under it.
///
/// The kernel's ids are bare `unsigned long`s over `void *` data; here the id
/// carries `T`, so [`ShadowMap::get`](crate::ShadowMap::get) hands out `&T`
/// and nothing else. Declare ids as constants next to the code that owns them:
///
/// ```
/// use shadow_vars::ShadowId;
/// use std::sync::atomic::AtomicU64;
/// const HITS: ShadowId<AtomicU64> = ShadowId::new(1);
/// assert_eq!(HITS.raw(), 1);
/// ```
///
/// Using one number with two types is a bug the map detects: an access whose
/// type differs from the stored value's panics and names the id and both types.
pub struct ShadowId<T> {
    id: u64,
    _type: PhantomData<fn() -> T>,
}

impl<T> ShadowId<T> {
    /// An id with the number `id`, for values of type `T`.
    ///
    /// ```
    /// let id = shadow_vars::ShadowId::<String>::new(42);
    /// assert_eq!(id.raw(), 42);
    /// ```
    #[inline]
    pub const fn new(id: u64) -> Self {
        ShadowId {
            id,
            _type: PhantomData,
        }
    }

    /// The number of this id.
    ///
    /// ```
    /// assert_eq!(shadow_vars::ShadowId::<u8>::new(9).raw(), 9);
    /// ```
    #[inline]
    pub const fn raw(self) -> u64 {
        self.id
    }
}

// Manual impls: derives would add `T: Clone`/`T: Eq`/... bounds.
impl<T> Clone for ShadowId<T> {
    #[inline]
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for ShadowId<T> {}
impl<T> PartialEq for ShadowId<T> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl<T> Eq for ShadowId<T> {}
impl<T> PartialOrd for ShadowId<T> {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for ShadowId<T> {
    #[inline]
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.id.cmp(&other.id)
    }
}
impl<T> Hash for ShadowId<T> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}
impl<T> fmt::Debug for ShadowId<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ShadowId<{}>({:#x})",
            core::any::type_name::<T>(),
            self.id
        )
    }
}

/// The full key of one shadow variable: *(parent address, id)*.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Key {
    pub(crate) parent: usize,
    pub(crate) id: u64,
}

impl Key {
    /// The key of *(obj, id)*: what every public operation looks up.
    #[inline(always)]
    pub(crate) fn new<T>(obj: impl Into<Parent>, id: ShadowId<T>) -> Key {
        Key {
            parent: obj.into().addr(),
            id: id.raw(),
        }
    }
}

impl fmt::Display for Key {
    /// The kernel's notation, `<parent, id>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{:#x}, {:#x}>", self.parent, self.id)
    }
}

/// Seeded hash of keys.
///
/// Two folded multiplies (the full 128-bit product, high half xor low half):
/// the first mixes the parent alone and picks the **shard**, so every
/// variable of one parent lives in one shard (this is what lets
/// `free_parent` avoid a scan); the second mixes in the id and picks the
/// **home slot** (high bits, scaled to the table) and the **tag** (the 8
/// low bits, kept in the slot's control byte).
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyHasher {
    seed: u64,
    /// `seed` rotated by 32 bits, the second multiply's seed. Kept rather
    /// than computed per key: it is 1.9 of the instructions of a lookup
    /// (`scripts/hitcost.sh`: 80.5 -> 78.6 per hit).
    id_seed: u64,
}

const MUL_PARENT: u64 = 0x9e37_79b9_7f4a_7c15;
const MUL_KEY: u64 = 0xd6e8_feb8_6659_fd93;

#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

impl KeyHasher {
    pub(crate) fn new(seed: u64) -> Self {
        KeyHasher {
            seed,
            id_seed: seed.rotate_left(32),
        }
    }

    /// Hash of the parent alone: selects the shard.
    #[inline(always)]
    pub(crate) fn parent_hash(&self, parent: usize) -> u64 {
        folded_multiply(parent as u64 ^ self.seed, MUL_PARENT)
    }

    /// The shard of a parent's hash among `mask + 1` (a power of two): bits
    /// 40 and up, so that up to 1024 shards take bits of the hash's upper
    /// half, which depend on every bit of the parent.
    #[inline(always)]
    pub(crate) fn shard_index(parent_hash: u64, mask: usize) -> usize {
        (parent_hash >> 40) as usize & mask
    }

    /// Hash of the whole key, given the parent's hash: selects slot and tag.
    #[inline(always)]
    pub(crate) fn key_hash(&self, parent_hash: u64, id: u64) -> u64 {
        folded_multiply(parent_hash ^ id ^ self.id_seed, MUL_KEY)
    }

    #[inline(always)]
    pub(crate) fn hash(&self, key: Key) -> u64 {
        self.key_hash(self.parent_hash(key.parent), key.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_conversions_agree() {
        let b = Box::new([1u8, 2, 3]);
        let r: &[u8] = &b[..];
        let a = r.as_ptr() as usize;
        assert_eq!(Parent::from(r).addr(), a);
        assert_eq!(Parent::from(r.as_ptr()).addr(), a);
        assert_eq!(Parent::from(NonNull::from(r)).addr(), a);
        assert_eq!(format!("{:?}", Parent::from_addr(0x10)), "Parent(0x10)");
    }

    #[test]
    fn shadow_id_needs_no_bounds() {
        struct NotClone;
        let a = ShadowId::<NotClone>::new(3);
        let b = a;
        assert_eq!(a, b);
        assert!(format!("{a:?}").contains("NotClone"));
    }

    #[test]
    fn hash_spreads_sequential_keys() {
        let h = KeyHasher::new(12345);
        let mut seen = std::collections::HashSet::new();
        for p in 0..64usize {
            for id in 0..16u64 {
                seen.insert(h.hash(Key { parent: p * 64, id }) & 0xffff);
            }
        }
        // 1024 keys into 65536 buckets: collisions should be rare.
        assert!(seen.len() > 990, "{}", seen.len());
    }

    /// Where `keys` land under the hash with `seed`: the mean distance from
    /// the home slot with linear probing into one table 62% full (the
    /// middle of the load range tables are kept in), and the largest of
    /// 32 shards divided by the mean shard.
    fn placement(seed: u64, keys: &[Key]) -> (f64, f64) {
        const SHARDS: usize = 32;
        let h = KeyHasher::new(seed);
        let capacity = keys.len() * 100 / 62;
        let mut used = vec![false; capacity];
        let mut shards = [0usize; SHARDS];
        let mut distance = 0usize;
        for &k in keys {
            let ph = h.parent_hash(k.parent);
            shards[KeyHasher::shard_index(ph, SHARDS - 1)] += 1;
            let mut i = crate::raw::home_slot(h.key_hash(ph, k.id), capacity);
            while used[i] {
                i = (i + 1) % capacity;
                distance += 1;
            }
            used[i] = true;
        }
        let n = keys.len() as f64;
        let largest = *shards.iter().max().unwrap() as f64;
        (distance as f64 / n, largest / (n / SHARDS as f64))
    }

    /// Parents in arithmetic progressions (objects of one size from one
    /// allocator, page-aligned objects) and runs of small ids must land as
    /// random keys would: at 62% load, linear probing puts a random key
    /// 0.82 slots from home on average (this hash: 0.79-0.84 here). Hashes
    /// that mix the parent with one multiply only, tried for speed, put
    /// keys of parents 4096 bytes apart 3.1 slots from home (the parent's
    /// hash plus a hash of the id), or keys of parents 32 bytes apart with 4
    /// ids each 3.9 (one multiply of the parent by the id); planted, the
    /// first fails here already at stride 8 (1.14).
    #[test]
    #[cfg_attr(
        miri,
        ignore = "arithmetic only, nothing for Miri to check, and slow under it"
    )]
    fn hash_places_strided_keys_like_random_ones() {
        const N: usize = 40_000;
        let base = 0x7f12_3456_0000usize;
        for seed in [1, 12345, 0x9e37_79b9_7f4a_7c15] {
            for stride in [8, 16, 32, 64, 4096, 1 << 20] {
                for ids in [1u64, 4] {
                    let keys: Vec<Key> = (0..N)
                        .map(|i| Key {
                            parent: base + (i / ids as usize) * stride,
                            id: i as u64 % ids,
                        })
                        .collect();
                    let (distance, largest) = placement(seed, &keys);
                    let what = format!("seed {seed:#x}, stride {stride}, {ids} ids");
                    assert!(distance < 1.1, "{what}: mean distance {distance:.2}");
                    assert!(
                        largest < 1.2,
                        "{what}: largest shard {largest:.2}x the mean"
                    );
                }
            }
            // One parent, many ids: one shard by design; slots still random.
            let keys: Vec<Key> = (0..N as u64).map(|id| Key { parent: base, id }).collect();
            let (distance, _) = placement(seed, &keys);
            assert!(distance < 1.1, "seed {seed:#x}, one parent: {distance:.2}");
        }
    }
}
