//! Measurement loops. Threads start together on a barrier; each thread replays
//! its own precomputed stream; results feed `black_box` so nothing is elided.

use std::hint::black_box;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::backends::{BATCH, Backend, BoxedFloor, Floor, Ops, Row, Visit, for_each_backend, rows};
use super::workload::{
    FRESH, KEY_MASK, OP_ALLOC, OP_FREE, OP_GET, OP_GET_OR_ALLOC, Rng, cycle, key, prefill_keys,
};

/// Runs one stream word against `s`; returns something to sum.
#[inline(always)]
pub(crate) fn exec<S: Ops>(s: &S, op: u32) -> u64 {
    let i = (op & KEY_MASK) as usize;
    let (p, id) = key(i);
    match op >> 30 {
        OP_GET => s.get(p, id).unwrap_or(1),
        OP_ALLOC => s.alloc(p, id, || i as u64) as u64,
        OP_GET_OR_ALLOC => s.get_or_alloc(p, id, || i as u64),
        _ => {
            debug_assert_eq!(op >> 30, OP_FREE);
            s.free(p, id) as u64
        }
    }
}

/// Runs `BATCH` operations from `stream` (cyclically from `*pos`) in one session.
#[inline(always)]
fn batch<S: Ops>(s: &S, stream: &[u32], pos: &mut usize) -> u64 {
    let mask = stream.len() - 1;
    let mut sum = 0u64;
    for _ in 0..BATCH {
        sum = sum.wrapping_add(exec(s, stream[*pos & mask]));
        *pos += 1;
    }
    sum
}

/// Runs `n` operations (rounded up to whole batches) of `stream` from `*pos`.
pub(crate) fn run_ops<B: Backend>(map: &B, pinned: bool, stream: &[u32], pos: &mut usize, n: u64) {
    let mut sum = 0u64;
    let batches = n.div_ceil(BATCH as u64);
    for _ in 0..batches {
        sum = sum.wrapping_add(if pinned {
            batch(&map.pin(), stream, pos)
        } else {
            batch(&map, stream, pos)
        });
    }
    black_box(sum);
}

/// A map of type `B` holding the standard 100,000-entry prefill.
pub(crate) fn prefilled<B: Backend>() -> B {
    let map = B::new();
    for &i in prefill_keys() {
        let (p, id) = key(i as usize);
        map.prefill(p, id, i as u64);
    }
    map
}

/// Total operations per second of `streams.len()` threads on `map` for `dur`,
/// after `warm` of the same work untimed.
///
/// The warm-up matters when several maps take turns (`compare` measures
/// every row in slices, round-robin): each slice starts with caches full of
/// the other rows' maps, and a 5 MB map takes milliseconds of misses to read
/// back in. Without it, a 20 ms slice measures partly that reload (see
/// BENCHMARKS, "Cold slices"). Threads keep running between the two phases,
/// so the timed phase starts in the steady state.
pub(crate) fn throughput_on<B: Backend>(
    map: &B,
    pinned: bool,
    streams: &[Vec<u32>],
    warm: Duration,
    dur: Duration,
) -> f64 {
    let threads = streams.len();
    let barrier = Barrier::new(threads + 1);
    let (timing, stop) = (AtomicBool::new(false), AtomicBool::new(false));
    thread::scope(|s| {
        let handles: Vec<_> = streams
            .iter()
            .map(|stream| {
                let (barrier, timing, stop) = (&barrier, &timing, &stop);
                s.spawn(move || {
                    let mut pos = 0usize;
                    barrier.wait();
                    while !timing.load(Ordering::Relaxed) {
                        run_ops(map, pinned, stream, &mut pos, BATCH as u64);
                    }
                    let mut ops = 0u64;
                    let t0 = Instant::now();
                    while !stop.load(Ordering::Relaxed) {
                        run_ops(map, pinned, stream, &mut pos, BATCH as u64);
                        ops += BATCH as u64;
                    }
                    ops as f64 / t0.elapsed().as_secs_f64()
                })
            })
            .collect();
        barrier.wait();
        thread::sleep(warm);
        timing.store(true, Ordering::Relaxed);
        thread::sleep(dur);
        stop.store(true, Ordering::Relaxed);
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

/// `(per-thread streams, warm-up, duration) -> ops/s`.
pub(crate) type Measure = dyn FnMut(&[Vec<u32>], Duration, Duration) -> f64;

/// A row with its own prefilled map, ready to be measured again and again:
/// `measure(streams, warm, dur)` returns ops/s.
pub(crate) struct Contestant {
    pub(crate) row: Row,
    pub(crate) measure: Box<Measure>,
}

/// One prefilled map per selected row, every backend.
pub(crate) fn contestants() -> Vec<Contestant> {
    struct V(Vec<Contestant>);
    impl Visit for V {
        fn visit<B: Backend>(&mut self) {
            for row in rows::<B>() {
                let map = prefilled::<B>();
                self.0.push(Contestant {
                    row,
                    measure: Box::new(move |s, w, d| throughput_on(&map, row.pinned, s, w, d)),
                });
            }
        }
    }
    let mut v = V(Vec::new());
    for_each_backend(&mut v);
    v.0
}

/// Median of `rounds` measurements per contestant, taken round-robin (every
/// contestant once per round) so that a drift in machine load hits them all.
pub(crate) fn round_robin(
    cs: &mut [Contestant],
    streams: &[Vec<u32>],
    warm: Duration,
    slice: Duration,
    rounds: usize,
) -> Vec<(Row, f64)> {
    let mut samples = vec![Vec::with_capacity(rounds); cs.len()];
    for _ in 0..rounds {
        for (c, s) in cs.iter_mut().zip(&mut samples) {
            s.push((c.measure)(streams, warm, slice));
        }
    }
    cs.iter()
        .zip(samples)
        .map(|(c, s)| (c.row, median(s)))
        .collect()
}

/// Median (mean of the middle two for an even count).
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

// ------------------------------------------------------------------ latency

/// Keys `0..n` with values forming one random cycle (`value = next key`), and
/// a random order of `0..n` (capped at 1M) for the independent lookups.
pub(crate) struct LatencySet {
    pub(crate) n: usize,
    pub(crate) next: Vec<u32>,
    pub(crate) order: Vec<u32>,
}

impl LatencySet {
    pub(crate) fn new(n: usize) -> Self {
        let next = cycle(n, 0xC7C1E ^ n as u64);
        let mut rng = Rng::new(0x0BDE ^ n as u64);
        let order = (0..n.min(1 << 20)).map(|_| rng.below(n) as u32).collect();
        LatencySet { n, next, order }
    }

    pub(crate) fn fill<B: Backend>(&self, map: &B) {
        for (i, &v) in self.next.iter().enumerate() {
            let (p, id) = key(i);
            map.prefill(p, id, v as u64);
        }
    }

    pub(crate) fn floor(&self) -> Floor {
        let mut f = Floor::new();
        for (i, &v) in self.next.iter().enumerate() {
            f.0.insert(key(i), v as u64);
        }
        f
    }

    /// The reference row with boxed values, built the same way.
    pub(crate) fn boxed_floor(&self) -> BoxedFloor {
        let mut f = BoxedFloor::new();
        for (i, &v) in self.next.iter().enumerate() {
            f.0.insert(key(i), Box::new(v as u64));
        }
        f
    }
}

/// `batches` x `BATCH` lookups of a dependent chain from `*k` (each key is the
/// previous value), one session per batch.
#[inline(never)]
pub(crate) fn dependent_chain<S: Ops>(mk: &impl Fn() -> S, k: &mut usize, batches: u64) {
    let mut cur = *k;
    for _ in 0..batches {
        let s = mk();
        for _ in 0..BATCH {
            let (p, id) = key(cur);
            cur = s.get(p, id).expect("latency keys are all present") as usize;
        }
    }
    *k = black_box(cur);
}

/// `batches` x `BATCH` independent lookups of the keys in `order` (cyclically from
/// `*pos`), values summed, one session per batch.
#[inline(never)]
pub(crate) fn independent_batch<S: Ops>(
    mk: &impl Fn() -> S,
    order: &[u32],
    pos: &mut usize,
    batches: u64,
) {
    let mut sum = 0u64;
    let mut j = *pos % order.len();
    for _ in 0..batches {
        let s = mk();
        for _ in 0..BATCH {
            let (p, id) = key(order[j] as usize);
            sum = sum.wrapping_add(s.get(p, id).unwrap_or(0));
            j += 1;
            if j == order.len() {
                j = 0;
            }
        }
    }
    *pos = j;
    black_box(sum);
}

/// Where a latency slice starts in a cycle of `n` keys: a different place
/// each time (a Weyl sequence), so that repeated slices at millions of
/// entries do not all walk the same prefix, warm from the slice before.
fn slice_start(n: usize) -> usize {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let x = NEXT.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    ((u128::from(x) * n as u128) >> 64) as usize
}

/// Nanoseconds per lookup of a dependent chain, for about `dur`, starting at
/// a key of the cycle of `n` keys that no recent slice started at.
pub(crate) fn dependent_ns<S: Ops>(mk: impl Fn() -> S, n: usize, dur: Duration) -> f64 {
    let mut k = slice_start(n);
    let mut ops = 0u64;
    let t0 = Instant::now();
    while t0.elapsed() < dur {
        dependent_chain(&mk, &mut k, 16);
        ops += 16 * BATCH as u64;
    }
    t0.elapsed().as_nanos() as f64 / ops as f64
}

/// Nanoseconds per lookup of independent lookups, for about `dur`.
pub(crate) fn independent_ns<S: Ops>(mk: impl Fn() -> S, order: &[u32], dur: Duration) -> f64 {
    let mut pos = slice_start(order.len());
    let mut ops = 0u64;
    let t0 = Instant::now();
    while t0.elapsed() < dur {
        independent_batch(&mk, order, &mut pos, 16);
        ops += 16 * BATCH as u64;
    }
    t0.elapsed().as_nanos() as f64 / ops as f64
}

/// (dependent, independent) ns per lookup of `map` in one mode.
pub(crate) fn latency<B: Backend>(
    map: &B,
    pinned: bool,
    set: &LatencySet,
    dur: Duration,
) -> (f64, f64) {
    if pinned {
        (
            dependent_ns(|| map.pin(), set.n, dur),
            independent_ns(|| map.pin(), &set.order, dur),
        )
    } else {
        (
            dependent_ns(|| map, set.n, dur),
            independent_ns(|| map, &set.order, dur),
        )
    }
}

/// Latency of one row next to the floor, in ns per lookup.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LatencyRow {
    pub(crate) dep: f64,
    pub(crate) indep: f64,
    pub(crate) floor_dep: f64,
    pub(crate) floor_indep: f64,
}

/// Best of `rounds` (the minimum) for `map` and for the floor, measured
/// alternately in slices of `slice`. Interference from other processes only ever
/// adds time, so on a shared machine the minimum is the steadiest estimate, and
/// alternating puts the floor and the row under the same conditions.
pub(crate) fn latency_vs_floor<B: Backend>(
    map: &B,
    pinned: bool,
    set: &LatencySet,
    floor: &Floor,
    slice: Duration,
    rounds: usize,
) -> LatencyRow {
    if pinned {
        ops_latency_vs_floor(|| map.pin(), set, floor, slice, rounds)
    } else {
        ops_latency_vs_floor(|| map, set, floor, slice, rounds)
    }
}

/// [`latency_vs_floor`] for any [`Ops`]: sessions from `mk`, one per batch.
pub(crate) fn ops_latency_vs_floor<S: Ops>(
    mk: impl Fn() -> S,
    set: &LatencySet,
    floor: &Floor,
    slice: Duration,
    rounds: usize,
) -> LatencyRow {
    let min = |v: f64, m: &mut f64| *m = m.min(v);
    let mut r = LatencyRow {
        dep: f64::INFINITY,
        indep: f64::INFINITY,
        floor_dep: f64::INFINITY,
        floor_indep: f64::INFINITY,
    };
    for _ in 0..rounds {
        min(dependent_ns(|| floor, set.n, slice), &mut r.floor_dep);
        min(dependent_ns(&mk, set.n, slice), &mut r.dep);
        min(
            independent_ns(|| floor, &set.order, slice),
            &mut r.floor_indep,
        );
        min(independent_ns(&mk, &set.order, slice), &mut r.indep);
    }
    r
}

// ------------------------------------------------------------------- growth

/// Result of inserting `n` keys into an empty map.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Growth {
    pub(crate) inserted: u64,
    pub(crate) secs: f64,
    /// The time cap stopped it before `n`.
    pub(crate) capped: bool,
    /// Seconds to drop the filled map (destroying every value).
    pub(crate) drop_secs: f64,
}

impl Growth {
    pub(crate) fn mops(&self) -> f64 {
        self.inserted as f64 / self.secs / 1e6
    }

    /// Nanoseconds per entry to drop the filled map.
    pub(crate) fn drop_ns(&self) -> f64 {
        self.drop_secs * 1e9 / self.inserted.max(1) as f64
    }
}

/// `threads` threads insert disjoint slices of keys `0..n` (each slice in
/// order) into an empty map through `alloc`; stops early at `cap`. Then
/// times dropping the map (one thread: the caller).
pub(crate) fn growth<B: Backend>(pinned: bool, threads: usize, n: usize, cap: Duration) -> Growth {
    let map = B::new();
    let barrier = Barrier::new(threads);
    let inserted = AtomicU64::new(0);
    let capped = AtomicBool::new(false);
    let spans: Vec<(Instant, Instant)> = thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (map, barrier, inserted, capped) = (&map, &barrier, &inserted, &capped);
                s.spawn(move || {
                    let (lo, hi) = (n * t / threads, n * (t + 1) / threads);
                    barrier.wait();
                    let t0 = Instant::now();
                    let mut done = 0u64;
                    let mut i = lo;
                    while i < hi {
                        let end = (i + 4096).min(hi);
                        if pinned {
                            let mut j = i;
                            while j < end {
                                let s = map.pin();
                                for k in j..(j + BATCH).min(end) {
                                    let (p, id) = key(k);
                                    done += s.alloc(p, id, || k as u64) as u64;
                                }
                                j += BATCH;
                            }
                        } else {
                            for k in i..end {
                                let (p, id) = key(k);
                                done += map.alloc(p, id, || k as u64) as u64;
                            }
                        }
                        i = end;
                        if t0.elapsed() > cap {
                            capped.store(true, Ordering::Relaxed);
                            break;
                        }
                    }
                    inserted.fetch_add(done, Ordering::Relaxed);
                    (t0, Instant::now())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let secs = wall(&spans).as_secs_f64();
    let inserted = inserted.load(Ordering::Relaxed);
    let capped = capped.load(Ordering::Relaxed);
    assert!(capped || inserted == n as u64, "{}: lost inserts", B::NAME);
    let t = Instant::now();
    drop(map);
    let drop_secs = t.elapsed().as_secs_f64();
    Growth {
        inserted,
        secs,
        capped,
        drop_secs,
    }
}

/// From the first thread's start to the last thread's end. Each thread stamps
/// its own span: a coordinating thread that stamped the start itself could be
/// descheduled past the barrier and start its clock late.
pub(crate) fn wall(spans: &[(Instant, Instant)]) -> Duration {
    let start = spans
        .iter()
        .map(|s| s.0)
        .min()
        .expect("at least one thread");
    let end = spans
        .iter()
        .map(|s| s.1)
        .max()
        .expect("at least one thread");
    end - start
}

// -------------------------------------------------------- constructor race

/// Result of two threads racing `get_or_alloc` over the same fresh keys.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Race {
    pub(crate) keys: u64,
    pub(crate) ctor_runs: u64,
    /// Keys for which the two threads got different values (must be 0).
    pub(crate) disagreements: u64,
}

impl Race {
    pub(crate) fn extra(&self) -> u64 {
        self.ctor_runs - self.keys
    }
}

/// Two threads call `get_or_alloc` on the same `n` fresh keys in the same order;
/// every constructor run returns a distinct value.
pub(crate) fn ctor_race<B: Backend>(pinned: bool, n: usize) -> Race {
    let map = B::new();
    let runs = AtomicU64::new(0);
    let barrier = Barrier::new(2);
    let seen: Vec<Vec<u64>> = thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let (map, runs, barrier) = (&map, &runs, &barrier);
                s.spawn(move || {
                    let ctor = || runs.fetch_add(1, Ordering::Relaxed) + 1;
                    let mut out = Vec::with_capacity(n);
                    barrier.wait();
                    let mut i = 0;
                    while i < n {
                        let end = (i + BATCH).min(n);
                        if pinned {
                            let s = map.pin();
                            for k in i..end {
                                let (p, id) = key(FRESH + k);
                                out.push(s.get_or_alloc(p, id, ctor));
                            }
                        } else {
                            for k in i..end {
                                let (p, id) = key(FRESH + k);
                                out.push(map.get_or_alloc(p, id, ctor));
                            }
                        }
                        i = end;
                    }
                    out
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let disagreements = seen[0].iter().zip(&seen[1]).filter(|(a, b)| a != b).count() as u64;
    Race {
        keys: n as u64,
        ctor_runs: runs.load(Ordering::Relaxed),
        disagreements,
    }
}

// --------------------------------------------------- slow-constructor isolation

/// Result of the slow-constructor isolation test.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Isolation {
    /// Reader ops/s alone (mean over the alone slices).
    pub(crate) alone: f64,
    /// Reader ops/s while the constructor thread runs.
    pub(crate) with_ctor: f64,
    /// Fraction of the reader's time spent in stalls alone: batches of `BATCH`
    /// operations that took longer than the constructor (preemption by other
    /// processes, mostly).
    pub(crate) stalled_alone: f64,
    /// The same beside the constructor thread: the excess over `stalled_alone`
    /// is the reader waiting for someone else's constructor.
    pub(crate) stalled_beside: f64,
    /// Constructor-thread iterations (get_or_alloc + free of a fresh key).
    pub(crate) ctor_loops: u64,
    /// Constructor runs beyond one per iteration.
    pub(crate) extra_ctor_runs: u64,
    /// Mean time one constructor call actually took, in microseconds.
    pub(crate) ctor_mean_us: f64,
}

impl Isolation {
    pub(crate) fn ratio(&self) -> f64 {
        self.with_ctor / self.alone
    }
}

/// How the slow constructor spends its time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SlowCtor {
    /// `thread::sleep`: the constructor waits (I/O, a lock elsewhere) and leaves
    /// the CPU to others, so the reader's loss measures blocking alone.
    Sleep,
    /// Busy-waits: the constructor computes (as the kernel's must, with
    /// interrupts off). On a machine with few idle cores this also measures the
    /// CPU the constructor takes from the reader.
    Spin,
}

impl SlowCtor {
    /// From `SV_ISO_CTOR` (`sleep`, the default, or `spin`).
    pub(crate) fn from_env() -> Self {
        match std::env::var("SV_ISO_CTOR").as_deref() {
            Ok("spin") => SlowCtor::Spin,
            _ => SlowCtor::Sleep,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            SlowCtor::Sleep => "sleeping",
            SlowCtor::Spin => "busy",
        }
    }

    fn wait(self, d: Duration) {
        match self {
            SlowCtor::Sleep => thread::sleep(d),
            SlowCtor::Spin => {
                let t0 = Instant::now();
                while t0.elapsed() < d {
                    std::hint::spin_loop();
                }
            }
        }
    }
}

/// One reader on the current thread for about `dur`: (ops/s, fraction of the
/// time spent in stalls), a stall being a batch of `BATCH` operations that took
/// longer than `stall`.
fn reader_on<B: Backend>(
    map: &B,
    pinned: bool,
    stream: &[u32],
    dur: Duration,
    stall: Duration,
) -> (f64, f64) {
    let (mut pos, mut ops, mut stalled) = (0usize, 0u64, Duration::ZERO);
    let t0 = Instant::now();
    let mut last = t0;
    loop {
        run_ops(map, pinned, stream, &mut pos, BATCH as u64);
        ops += BATCH as u64;
        let now = Instant::now();
        if now - last > stall {
            stalled += now - last;
        }
        last = now;
        if now - t0 >= dur {
            let secs = (now - t0).as_secs_f64();
            return (ops as f64 / secs, stalled.as_secs_f64() / secs);
        }
    }
}

/// One reader thread runs `reader` (read-heavy) on a prefilled map, in `rounds`
/// alternating slices of `slice`: alone, then beside a thread that loops
/// `get_or_alloc(fresh key, ctor taking ctor_time)` + `free`. Alternating keeps
/// a drift in machine load from landing on one side only.
pub(crate) fn isolation<B: Backend>(
    pinned: bool,
    reader: &[u32],
    slice: Duration,
    rounds: usize,
    ctor_time: Duration,
    how: SlowCtor,
) -> Isolation {
    let map = prefilled::<B>();
    let runs = AtomicU64::new(0);
    let ctor_ns = AtomicU64::new(0);
    let (mut alone, mut beside, mut loops) = (Vec::new(), Vec::new(), 0u64);
    for _ in 0..rounds {
        alone.push(reader_on(&map, pinned, reader, slice, ctor_time));
        let stop = AtomicBool::new(false);
        let (r, l) = thread::scope(|s| {
            let (map, stop, runs, ctor_ns) = (&map, &stop, &runs, &ctor_ns);
            let writer = s.spawn(move || {
                let mut j = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let i = FRESH + (1 << 20) + j as usize;
                    let (p, id) = key(i);
                    let ctor = || {
                        runs.fetch_add(1, Ordering::Relaxed);
                        let t0 = Instant::now();
                        how.wait(ctor_time);
                        ctor_ns.fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
                        i as u64
                    };
                    if pinned {
                        let s = map.pin();
                        black_box(s.get_or_alloc(p, id, ctor));
                        s.free(p, id);
                    } else {
                        black_box(map.get_or_alloc(p, id, ctor));
                        map.free(p, id);
                    }
                    j += 1;
                }
                j
            });
            // Let the writer get going before the reader's clock starts.
            thread::sleep(Duration::from_millis(1));
            let r = reader_on(map, pinned, reader, slice, ctor_time);
            stop.store(true, Ordering::Relaxed);
            (r, writer.join().unwrap())
        });
        beside.push(r);
        loops += l;
    }
    let runs = runs.load(Ordering::Relaxed);
    let mean = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| {
        v.iter().map(f).sum::<f64>() / v.len().max(1) as f64
    };
    Isolation {
        alone: mean(&alone, |x| x.0),
        with_ctor: mean(&beside, |x| x.0),
        stalled_alone: mean(&alone, |x| x.1),
        stalled_beside: mean(&beside, |x| x.1),
        ctor_loops: loops,
        extra_ctor_runs: runs - loops,
        ctor_mean_us: ctor_ns.load(Ordering::Relaxed) as f64 / 1e3 / runs.max(1) as f64,
    }
}
