//! Loom models of shadow-vars: shared helpers. See `README.md` for the
//! command and `../docs/VERIFICATION.md` for what each model proves.
//!
//! Everything here only exists in the loom build (`--cfg shadow_vars_loom`),
//! where the crate's sync shim and crossbeam-epoch's internals are loom's.
//!
//! * `model` runs one model with a fixed preemption bound and prints how
//!   many executions it explored and how long it took.
//! * `Counters` and `Val` are the oracles: `Val` is a value with two
//!   fields written by its constructor, kept in `loom::cell::UnsafeCell`s, so
//!   that loom itself reports a read that does not happen after the
//!   constructor's writes (a half-built value) or a drop that does not happen
//!   after a reader's read (a use after free). `Counters` counts constructions,
//!   drops and destructor-closure runs per execution, with plain std atomics
//!   (loom runs the threads of one execution on one OS thread, one at a time).
//! * `collect` flushes crossbeam-epoch's (loom-local) global collector so
//!   that deferred drops run before a model asserts its counts.
#![cfg(shadow_vars_loom)]
#![warn(missing_docs)]

use std::cell::Cell;
use std::sync::Arc as StdArc;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering::SeqCst};
use std::time::Instant;

pub use shadow_vars::{Parent, ShadowId, ShadowMap};

/// Per-execution event counters (std atomics: an oracle, not modelled).
#[derive(Debug, Default)]
pub struct Counters {
    /// Constructors that ran to completion (successfully or not).
    pub ctors: StdAtomicUsize,
    /// `Val`s dropped.
    pub drops: StdAtomicUsize,
    /// `free_with` / `free_all_with` closures run.
    pub dtors: StdAtomicUsize,
}

impl Counters {
    /// Fresh counters for one execution.
    pub fn new() -> StdArc<Counters> {
        StdArc::new(Counters::default())
    }
    /// Constructions so far.
    pub fn ctors(&self) -> usize {
        self.ctors.load(SeqCst)
    }
    /// Drops so far.
    pub fn drops(&self) -> usize {
        self.drops.load(SeqCst)
    }
    /// Destructor closures so far.
    pub fn dtors(&self) -> usize {
        self.dtors.load(SeqCst)
    }
}

/// A value whose constructor writes two fields, tracked by loom.
///
/// * `a == tag`, `b == tag + 1` once constructed: [`Val::check`] reads both
///   and asserts it; loom panics ("causality violation") if the read does not
///   happen after the constructor's writes.
/// * `Drop` writes both fields: loom panics if a reader's read is not
///   ordered before the drop (the value dropped while a reader could use it).
pub struct Val {
    a: loom::cell::UnsafeCell<usize>,
    b: loom::cell::UnsafeCell<usize>,
    counters: StdArc<Counters>,
}

// SAFETY: the fields are only written by the constructor (before the value
// is published) and by `Drop` (exclusive access); every other access is a
// read. Whether the map orders these correctly is exactly what loom checks
// through the cells.
unsafe impl Sync for Val {}

/// Written to both fields when a value is dropped.
const POISON: usize = 0xdead;

impl Val {
    /// Constructs a value (counts a construction). The fields are written
    /// one after the other, as a constructor filling a struct would.
    pub fn new(tag: usize, counters: &StdArc<Counters>) -> Val {
        let v = Val {
            a: loom::cell::UnsafeCell::new(0),
            b: loom::cell::UnsafeCell::new(0),
            counters: counters.clone(),
        };
        // SAFETY: `v` is not shared yet: these writes race with nothing.
        v.a.with_mut(|p| unsafe { *p = tag });
        // SAFETY: as above.
        v.b.with_mut(|p| unsafe { *p = tag + 1 });
        counters.ctors.fetch_add(1, SeqCst);
        v
    }

    /// Reads both fields, asserts the value is whole (not half-built, not
    /// dropped), and returns its tag.
    pub fn check(&self) -> usize {
        // SAFETY: a read; loom checks it is ordered after the writes.
        let a = self.a.with(|p| unsafe { *p });
        // SAFETY: as above.
        let b = self.b.with(|p| unsafe { *p });
        assert_ne!(a, POISON, "read a dropped value");
        assert!(a != 0 && b == a + 1, "half-constructed value: a={a} b={b}");
        a
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        let tag = self.check();
        assert!(tag != 0);
        // Writes: loom reports any reader read not ordered before the drop.
        // SAFETY: `&mut self`; loom checks no read races these writes.
        self.a.with_mut(|p| unsafe { *p = POISON });
        // SAFETY: as above.
        self.b.with_mut(|p| unsafe { *p = POISON });
        self.counters.drops.fetch_add(1, SeqCst);
    }
}

impl std::fmt::Debug for Val {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Val")
    }
}

/// The ids the models use.
pub const ID: ShadowId<Val> = ShadowId::new(1);
/// A second id (for models that mix ids).
pub const ID2: ShadowId<Val> = ShadowId::new(2);

/// A parent address (nothing is dereferenced: it is only a key).
pub fn parent(n: usize) -> Parent {
    Parent::from_addr(0x1000 * n)
}

/// The first of `parent(2)`, `parent(3)`, ... whose variables live in
/// another shard of `map` than `near`'s: for models that need two shards
/// (the fixed loom seed decides which parents share one).
pub fn other_shard_parent(map: &ShadowMap, near: Parent) -> Parent {
    (2..64)
        .map(parent)
        .find(|&p| map.shard_index(p) != map.shard_index(near))
        .expect("a map of one shard")
}

/// One execution of a creator racing a pinned reader, both through
/// `ShadowMapRef`s (borrowed pins), on a one-shard map: the creator makes
/// the value of `parent(1)` under [`ID`] with `create` (which returns the
/// value's tag and address), the reader looks it up twice. Every value the
/// reader sees must be the created one, whole, at its final address: the
/// only thing that orders the value's writes before the reader's reads is
/// the publication of the entry, which loom checks. Returns the counters,
/// for [`model`].
pub fn pinned_reader_vs_creator(
    create: fn(&shadow_vars::ShadowMapRef<'_>, &StdArc<Counters>) -> (usize, usize),
) -> StdArc<Counters> {
    let map = loom::sync::Arc::new(ShadowMap::builder().shards(1).build());
    let c = Counters::new();
    let (m, c2) = (map.clone(), c.clone());
    let writer = loom::thread::spawn(move || create(&m.pin(), &c2));
    let seen: Vec<_> = {
        let pinned = map.pin();
        (0..2)
            .filter_map(|_| {
                pinned
                    .get(parent(1), ID)
                    .map(|v| (v.check(), v as *const Val as usize))
            })
            .collect()
    };
    let created = writer.join().unwrap();
    assert!(
        seen.iter().all(|s| *s == created),
        "{seen:?} vs {created:?}"
    );
    c
}

/// Pushes this thread's deferred functions to the global queue and tries
/// to advance the epoch and collect, a few times: called by a thread that
/// freed something, so that reclamation can happen *inside* the model while
/// other threads may still hold pins (what the reclamation protocol must
/// survive). With `--cfg crossbeam_sanitize`, `collect` empties the queue of
/// every expired bag.
pub fn collect() {
    for _ in 0..3 {
        crossbeam_epoch::pin().flush();
    }
}

/// Installs (once) a panic hook that silences the panics models plant on
/// purpose (payloads starting with `"planned"`) and forwards the rest, so
/// that a real failure is still printed.
pub fn quiet_planned_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = panic_message(info.payload());
            let planned = msg.starts_with("planned")
                || (MISMATCH_EXPECTED.with(Cell::get) && msg.starts_with(TYPE_MISMATCH));
            if !planned {
                default(info);
            }
        }));
    });
}

/// How the map's type-mismatch panics begin.
const TYPE_MISMATCH: &str = "shadow variable type mismatch";

thread_local! {
    /// Set while [`catch_type_mismatch`] runs. A std thread-local: loom runs
    /// every thread of a model on its test's OS thread, one at a time.
    static MISMATCH_EXPECTED: Cell<bool> = const { Cell::new(false) };
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("")
}

/// Runs `f`, which may panic with the map's type-mismatch message on
/// purpose. That panic is caught, not printed, and its message returned as
/// the error; any other panic goes on unwinding.
pub fn catch_type_mismatch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    MISMATCH_EXPECTED.with(|m| m.set(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    MISMATCH_EXPECTED.with(|m| m.set(false));
    r.or_else(|p| match panic_message(&*p) {
        msg if msg.starts_with(TYPE_MISMATCH) => Err(msg.to_owned()),
        _ => std::panic::resume_unwind(p),
    })
}

/// Asserts that every `Val` constructed in an execution was dropped exactly
/// once by its end (a second drop already panics inside `Val::drop`).
fn verify_exactly_once(c: &Counters, execution: usize) {
    assert_eq!(
        c.drops(),
        c.ctors(),
        "execution {execution}: {} values constructed but {} dropped by the end of the execution \
         (leak or double drop)",
        c.ctors(),
        c.drops()
    );
}

/// Runs model `name` under loom with preemption bound `bound` and prints the
/// number of executions explored and the time taken.
///
/// The bound is the model's own (chosen so that the whole suite stays within
/// its time budget). `LOOM_MAX_PREEMPTIONS`, when set, *caps* it (so a quick
/// run with `LOOM_MAX_PREEMPTIONS=1` never raises a 3-thread model's bound);
/// `SHADOW_VARS_LOOM_BOUND` replaces it (to explore deeper on purpose).
///
/// `f` is one execution; it returns the execution's [`Counters`]. Once the
/// execution is over, *including* the teardown of every thread's epoch
/// handle and of crossbeam-epoch's (per-execution) global collector, which
/// runs every deferred function still queued, the wrapper asserts that every
/// constructed value was dropped exactly once. This check cannot run inside
/// the execution: loom's `JoinHandle::join` returns before the joined
/// thread's thread-locals are destroyed, so a joined thread's epoch handle
/// may still be pinned (in its own finalization) while `join` returns, and
/// a collection attempted by the joining thread may legitimately find
/// nothing to collect. It runs at the start of the next execution and once
/// more after the last one, naming the execution that failed.
pub fn model<F>(name: &str, bound: usize, f: F)
where
    F: Fn() -> StdArc<Counters> + Sync + Send + 'static,
{
    quiet_planned_panics();
    let mut b = loom::model::Builder::new();
    let bound = match std::env::var("SHADOW_VARS_LOOM_BOUND") {
        Ok(v) => v.parse().expect("invalid SHADOW_VARS_LOOM_BOUND"),
        Err(_) => b.preemption_bound.map_or(bound, |cap| cap.min(bound)),
    };
    b.preemption_bound = Some(bound);
    // Every map operation pins an epoch and may run crossbeam's collector,
    // which loom models step by step: executions are long.
    if std::env::var_os("LOOM_MAX_BRANCHES").is_none() {
        b.max_branches = 100_000;
    }
    // The last finished execution (its number and counters), checked at the
    // start of the next one.
    type Pending = std::sync::Mutex<Option<(usize, StdArc<Counters>)>>;
    let pending: StdArc<Pending> = StdArc::default();
    let execs = StdArc::new(StdAtomicUsize::new(0));
    let (p, counted) = (pending.clone(), execs.clone());
    let start = Instant::now();
    b.check(move || {
        let n = counted.fetch_add(1, SeqCst) + 1;
        if let Some((prev, c)) = p.lock().unwrap().take() {
            verify_exactly_once(&c, prev);
        }
        // Register this thread with the epoch first, so that its handle (torn
        // down last, after loom drops its lazy statics) holds the collector
        // until the end: the deferred functions then run inside the execution.
        drop(crossbeam_epoch::pin());
        let c = f();
        *p.lock().unwrap() = Some((n, c));
    });
    if let Some((prev, c)) = pending.lock().unwrap().take() {
        verify_exactly_once(&c, prev);
    }
    eprintln!(
        "loom model {name}: preemption bound {}, {} executions, {:.1} s",
        b.preemption_bound.unwrap(),
        execs.load(SeqCst),
        start.elapsed().as_secs_f64()
    );
}
