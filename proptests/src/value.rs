//! The values stored in the map under test: distinguishable by a `tag`, and (for
//! [`Tracked`]) counting their drops so the tests can prove exactly-once destruction.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

/// A value the harness can create with a known tag and read the tag back from.
///
/// `Default` is the constructor `get_or_default` runs: it takes its tag from
/// [`set_default_tag`] and counts itself in [`default_runs`], so the harness knows
/// which value it expects and whether the constructor ran.
pub trait Value: Default + Send + Sync + 'static {
    /// Whether this type reports its drops to the current [`DropLog`].
    const TRACKED: bool;
    /// A value carrying `tag`.
    fn new(tag: u64) -> Self;
    /// The tag given at creation.
    fn tag(&self) -> u64;
}

thread_local! {
    static DEFAULT_TAG: Cell<u64> = const { Cell::new(0) };
    static DEFAULT_RUNS: Cell<u64> = const { Cell::new(0) };
    static CTOR_DELAY: Cell<(u32, u32)> = const { Cell::new((0, 0)) };
    static CURRENT_LOG: RefCell<Option<Arc<DropLog>>> = const { RefCell::new(None) };
}

/// Sets the tag the next `V::default()` on this thread gets.
pub fn set_default_tag(tag: u64) {
    DEFAULT_TAG.with(|t| t.set(tag));
}

/// How many times `V::default()` ran on this thread.
pub fn default_runs() -> u64 {
    DEFAULT_RUNS.with(|r| r.get())
}

/// Makes every harness constructor on this thread spin `spins` times, then yield
/// the processor `yields` times, before returning. Slow constructors widen the
/// window in which creators (and waiters) of one key overlap; yielding inside one
/// lets other threads run in that window even when the test has a single core.
pub fn set_ctor_delay(spins: u32, yields: u32) {
    CTOR_DELAY.with(|s| s.set((spins, yields)));
}

/// Delays as set by [`set_ctor_delay`]; called by the harness's constructors.
pub fn ctor_delay() {
    let (spins, yields) = CTOR_DELAY.with(|s| s.get());
    for _ in 0..spins {
        std::hint::spin_loop();
    }
    for _ in 0..yields {
        std::thread::yield_now();
    }
}

fn take_default_tag() -> u64 {
    ctor_delay();
    DEFAULT_RUNS.with(|r| r.set(r.get() + 1));
    DEFAULT_TAG.with(|t| t.get())
}

/// A plain tagged value: no drop accounting.
#[derive(Debug, PartialEq, Eq)]
pub struct Plain(pub u64);

impl Default for Plain {
    fn default() -> Self {
        Plain(take_default_tag())
    }
}

impl Value for Plain {
    const TRACKED: bool = false;
    fn new(tag: u64) -> Self {
        Plain(tag)
    }
    fn tag(&self) -> u64 {
        self.0
    }
}

/// A tagged value that records its creation and its drop in the [`DropLog`]
/// installed on the creating thread ([`set_current_log`]). Its drop may run on any
/// thread (crossbeam-epoch runs deferred drops wherever garbage is collected), so it
/// keeps its own handle on the log.
pub struct Tracked {
    tag: u64,
    log: Arc<DropLog>,
}

impl std::fmt::Debug for Tracked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tracked({})", self.tag)
    }
}

impl Default for Tracked {
    fn default() -> Self {
        Tracked::new(take_default_tag())
    }
}

impl Value for Tracked {
    const TRACKED: bool = true;
    fn new(tag: u64) -> Self {
        let log = CURRENT_LOG
            .with(|l| l.borrow().clone())
            .expect("Tracked::new: no DropLog installed on this thread (set_current_log)");
        log.created(tag);
        Tracked { tag, log }
    }
    fn tag(&self) -> u64 {
        self.tag
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.log.dropped(self.tag);
    }
}

/// Installs (or removes) the log that `Tracked` values created on this thread report to.
pub fn set_current_log(log: Option<Arc<DropLog>>) {
    CURRENT_LOG.with(|l| *l.borrow_mut() = log);
}

/// Creation and drop counts of every [`Tracked`] value, by tag.
#[derive(Debug, Default)]
pub struct DropLog {
    // tag -> drop count. Tags are unique per log; a tag is inserted when its value
    // is created. Never locked across a call into the map or crossbeam-epoch, so a
    // deferred drop run inside `pin()` can always take it.
    counts: Mutex<HashMap<u64, Arc<AtomicU32>>>,
}

impl DropLog {
    /// A new, empty log.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn created(&self, tag: u64) {
        let prev = self
            .counts
            .lock()
            .unwrap()
            .insert(tag, Arc::new(AtomicU32::new(0)));
        assert!(prev.is_none(), "harness bug: tag {tag} created twice");
    }

    fn dropped(&self, tag: u64) {
        let c = self.counts.lock().unwrap().get(&tag).cloned();
        match c {
            Some(c) => {
                c.fetch_add(1, Ordering::SeqCst);
            }
            None => eprintln!("DropLog: drop of a value never created (tag {tag})"),
        }
    }

    /// How many times the value tagged `tag` has been dropped (0 if never created).
    pub fn drops(&self, tag: u64) -> u32 {
        let c = self.counts.lock().unwrap().get(&tag).cloned();
        c.map_or(0, |c| c.load(Ordering::SeqCst))
    }

    /// Number of values created so far.
    pub fn created_count(&self) -> usize {
        self.counts.lock().unwrap().len()
    }

    /// `Ok` once every created value is dropped exactly once; `Err` with the pending
    /// and over-dropped tags otherwise.
    fn status(&self) -> Result<(), Tally> {
        let counts = self.counts.lock().unwrap();
        let mut pending = Vec::new();
        let mut over = Vec::new();
        for (&tag, c) in counts.iter() {
            match c.load(Ordering::SeqCst) {
                0 => pending.push(tag),
                1 => {}
                n => over.push((tag, n)),
            }
        }
        if pending.is_empty() && over.is_empty() {
            Ok(())
        } else {
            pending.sort_unstable();
            over.sort_unstable();
            Err(Tally { pending, over })
        }
    }

    /// Drives crossbeam-epoch's collector (`pin().flush()`) until every created value
    /// has been dropped exactly once. Call after the map is dropped: freed values are
    /// dropped through deferred functions, possibly on another thread, once no guard
    /// can still see them. Gives up (a leak) when no value has been dropped for
    /// `stall` (so a leaking case fails fast while shrinking), or after `timeout`.
    pub fn wait_all_dropped_once(&self, stall: Duration, timeout: Duration) -> Result<(), String> {
        let start = Instant::now();
        let mut last_progress = start;
        let mut last_pending = usize::MAX;
        let mut spins = 0u32;
        loop {
            match self.status() {
                Ok(()) => return Ok(()),
                Err(Tally { over, .. }) if !over.is_empty() => {
                    return Err(format!(
                        "values dropped more than once (tag, drops): {over:?}"
                    ));
                }
                Err(Tally { pending, .. }) => {
                    let now = Instant::now();
                    if pending.len() < last_pending {
                        last_pending = pending.len();
                        last_progress = now;
                    }
                    if now - last_progress >= stall || now - start >= timeout {
                        return Err(format!(
                            "{} of {} created values never dropped (leak; waited {:?}); tags: {:?}",
                            pending.len(),
                            self.created_count(),
                            now - start,
                            &pending[..pending.len().min(20)]
                        ));
                    }
                    crossbeam_epoch::pin().flush();
                    spins += 1;
                    if spins & 63 == 0 {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
            }
        }
    }
}

/// Values not yet dropped, and values dropped more than once (tag, drops).
struct Tally {
    pending: Vec<u64>,
    over: Vec<(u64, u32)>,
}

/// Payload of the constructor panics the harness plants (`std::panic::panic_any`).
#[derive(Debug)]
pub struct PlannedPanic;

/// Installs, once per process, a panic hook that stays silent for [`PlannedPanic`]
/// and passes every other panic to the hook that was installed before it (the
/// default one, or libFuzzer's, which aborts).
pub fn install_quiet_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<PlannedPanic>() {
                prev(info);
            }
        }));
    });
}
