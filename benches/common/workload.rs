//! Keys, operation mixes and key streams, generated once from fixed seeds so that
//! every backend replays exactly the same sequence.

use std::sync::OnceLock;

/// Number of distinct keys the throughput workloads draw from.
pub(crate) const KEY_SPACE: usize = 200_000;
/// Entries present before a throughput cell starts.
pub(crate) const PREFILL: usize = 100_000;
/// Operations per thread stream (the stream is replayed cyclically).
pub(crate) const STREAM_LEN: usize = 1 << 18;
/// Key indices at and above this are "fresh": never prefilled, never in a stream.
pub(crate) const FRESH: usize = 1 << 28;

const PARENT_BASE: usize = 0x7f3a_0000_0000;
/// Parents are spaced like 64-byte heap objects.
const PARENT_STRIDE: usize = 64;
/// Each parent carries this many shadow ids (1 and 2).
const IDS_PER_PARENT: usize = 2;

/// The `(parent address, id)` of key index `i`.
#[inline(always)]
pub(crate) fn key(i: usize) -> (usize, u64) {
    (
        PARENT_BASE + (i / IDS_PER_PARENT) * PARENT_STRIDE,
        1 + (i % IDS_PER_PARENT) as u64,
    )
}

/// SplitMix64: small, seeded, good enough to draw keys.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n`.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A random permutation of `0..n` (Fisher-Yates).
pub(crate) fn permutation(n: usize, seed: u64) -> Vec<u32> {
    let mut v: Vec<u32> = (0..n as u32).collect();
    let mut rng = Rng::new(seed);
    for i in (1..n).rev() {
        v.swap(i, rng.below(i + 1));
    }
    v
}

/// `next[i]`: one random cycle through all of `0..n` (Sattolo), so a chain of
/// lookups `i = next[i]` visits every key before repeating.
pub(crate) fn cycle(n: usize, seed: u64) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut rng = Rng::new(seed);
    for i in (1..n).rev() {
        order.swap(i, rng.below(i));
    }
    let mut next = vec![0u32; n];
    for w in 0..n {
        next[order[w] as usize] = order[(w + 1) % n];
    }
    next
}

/// The `PREFILL` keys present at the start of every throughput cell, in insertion
/// order (a random half of the key space).
pub(crate) fn prefill_keys() -> &'static [u32] {
    static KEYS: OnceLock<Vec<u32>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut p = permutation(KEY_SPACE, 0xF111);
        p.truncate(PREFILL);
        p
    })
}

/// Operation kinds, stored in the top two bits of a stream word.
pub(crate) const OP_GET: u32 = 0;
pub(crate) const OP_ALLOC: u32 = 1;
pub(crate) const OP_GET_OR_ALLOC: u32 = 2;
pub(crate) const OP_FREE: u32 = 3;
pub(crate) const KEY_MASK: u32 = (1 << 30) - 1;

/// An operation mix, in percent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mix {
    pub(crate) name: &'static str,
    pub(crate) get: u32,
    pub(crate) alloc: u32,
    pub(crate) get_or_alloc: u32,
    pub(crate) free: u32,
}

/// 98% get, 1% alloc (fails if present), 1% free.
pub(crate) const READ_HEAVY: Mix = Mix {
    name: "read-heavy",
    get: 98,
    alloc: 1,
    get_or_alloc: 0,
    free: 1,
};
/// 80% get, 10% get_or_alloc, 10% free.
pub(crate) const MIXED: Mix = Mix {
    name: "mixed",
    get: 80,
    alloc: 0,
    get_or_alloc: 10,
    free: 10,
};
/// 50% get, 25% get_or_alloc, 25% free.
pub(crate) const WRITE_HEAVY: Mix = Mix {
    name: "write-heavy",
    get: 50,
    alloc: 0,
    get_or_alloc: 25,
    free: 25,
};
pub(crate) const MIXES: [Mix; 3] = [READ_HEAVY, MIXED, WRITE_HEAVY];

/// Key distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dist {
    Uniform,
    /// Zipf with exponent 0.99 over the key space; ranks scattered by a fixed
    /// permutation so hot keys are not neighbours.
    Zipf,
}

impl Dist {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Dist::Uniform => "uniform",
            Dist::Zipf => "zipf",
        }
    }
}
pub(crate) const DISTS: [Dist; 2] = [Dist::Uniform, Dist::Zipf];

struct ZipfTable {
    cdf: Vec<f64>,
    rank_to_key: Vec<u32>,
}

fn zipf_table() -> &'static ZipfTable {
    static T: OnceLock<ZipfTable> = OnceLock::new();
    T.get_or_init(|| {
        const S: f64 = 0.99;
        let mut cdf = Vec::with_capacity(KEY_SPACE);
        let mut acc = 0.0;
        for r in 0..KEY_SPACE {
            acc += 1.0 / ((r + 1) as f64).powf(S);
            cdf.push(acc);
        }
        for c in &mut cdf {
            *c /= acc;
        }
        ZipfTable {
            cdf,
            rank_to_key: permutation(KEY_SPACE, 0x21FF),
        }
    })
}

fn draw(dist: Dist, rng: &mut Rng) -> u32 {
    match dist {
        Dist::Uniform => rng.below(KEY_SPACE) as u32,
        Dist::Zipf => {
            let t = zipf_table();
            let u = rng.unit();
            let r = t.cdf.partition_point(|&c| c < u).min(KEY_SPACE - 1);
            t.rank_to_key[r]
        }
    }
}

/// The operation stream of thread `thread` for one (mix, distribution): the same
/// for every backend.
pub(crate) fn stream(mix: Mix, dist: Dist, thread: usize) -> Vec<u32> {
    let seed = 0x5EED_0000 ^ ((thread as u64) << 8) ^ (dist as u64) ^ ((mix.get as u64) << 32);
    let mut rng = Rng::new(seed);
    (0..STREAM_LEN)
        .map(|_| {
            let p = rng.below(100) as u32;
            let op = if p < mix.get {
                OP_GET
            } else if p < mix.get + mix.alloc {
                OP_ALLOC
            } else if p < mix.get + mix.alloc + mix.get_or_alloc {
                OP_GET_OR_ALLOC
            } else {
                OP_FREE
            };
            (op << 30) | draw(dist, &mut rng)
        })
        .collect()
}

/// Streams for threads `0..threads`.
pub(crate) fn streams(mix: Mix, dist: Dist, threads: usize) -> Vec<Vec<u32>> {
    (0..threads).map(|t| stream(mix, dist, t)).collect()
}
