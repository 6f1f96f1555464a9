//! The kernel's shadow-variable sample (samples/livepatch/livepatch-shadow-*.c),
//! replayed in userspace with threads.
//!
//! The "module": worker threads create `Dummy` objects that expire after a
//! while. Each one allocates a buffer at creation and loses the pointer: a
//! leak. The "fix" (livepatch-shadow-fix1) cannot add a field to `Dummy`, so
//! it hangs the leaked pointer off each new object as a shadow variable
//! (`alloc` at creation) and frees it with a destructor when the object
//! expires. The second fix (livepatch-shadow-fix2) counts how often each
//! object is checked with a lazily attached counter (`get_or_default`),
//! including objects created before it was applied. At "module exit",
//! `free_all` releases what is still attached.
//!
//! Run: `cargo run --release --example livepatch [seconds]`

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shadow_vars::{ShadowId, global};

/// The object the module allocates; its layout cannot change.
struct Dummy {
    expires: Instant,
}

/// The buffer the original code leaks, made to count its own frees.
struct Leak {
    _bytes: Box<[u8; 64]>,
}

static LEAKS_LIVE: AtomicUsize = AtomicUsize::new(0);
static LEAKS_CREATED: AtomicUsize = AtomicUsize::new(0);
static LEAKS_FREED_BY_DTOR: AtomicUsize = AtomicUsize::new(0);

impl Leak {
    fn new() -> Self {
        LEAKS_LIVE.fetch_add(1, Ordering::Relaxed);
        LEAKS_CREATED.fetch_add(1, Ordering::Relaxed);
        Leak {
            _bytes: Box::new([0xa5; 64]),
        }
    }
}

impl Drop for Leak {
    fn drop(&mut self) {
        LEAKS_LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The kernel sample's ids: SV_LEAK holds the leaked pointer, SV_COUNTER
/// the per-object check counter.
const SV_LEAK: ShadowId<Leak> = ShadowId::new(1);
const SV_COUNTER: ShadowId<AtomicU64> = ShadowId::new(2);

#[derive(Default)]
struct Stats {
    objects: AtomicUsize,
    objects_before_fix: AtomicUsize,
    expired: AtomicUsize,
    checks: AtomicU64,
    counters_freed: AtomicUsize,
    counters_created: AtomicUsize,
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let threads = std::thread::available_parallelism()
        .map_or(4, |n| n.get())
        .max(4);
    let stats = Arc::new(Stats::default());
    let fix_applied = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    // Objects in flight, shared by all workers (any worker may check or expire any).
    let in_flight: Arc<Vec<Mutex<Vec<Box<Dummy>>>>> =
        Arc::new((0..threads).map(|_| Mutex::new(Vec::new())).collect());

    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (stats, fix, stop, in_flight) = (
                stats.clone(),
                fix_applied.clone(),
                stop.clone(),
                in_flight.clone(),
            );
            std::thread::spawn(move || {
                let mut rng = 0x2545_f491_4f6c_dd1du64 ^ ((t as u64 + 1) * 0x9e37);
                while !stop.load(Ordering::Relaxed) {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let bucket = &in_flight[(rng % threads as u64) as usize];
                    match rng >> 60 {
                        // dummy_alloc: a new object, with its leak.
                        0..=4 => {
                            let d = Box::new(Dummy {
                                expires: Instant::now()
                                    + Duration::from_micros(200 + (rng >> 40) % 2000),
                            });
                            if fix.load(Ordering::Acquire) {
                                // fix1: keep the leaked pointer as a shadow variable.
                                global()
                                    .alloc(&*d, SV_LEAK, Leak::new)
                                    .expect("fresh object");
                            } else {
                                // The unpatched module: the buffer is lost.
                                std::mem::forget(Leak::new());
                                stats.objects_before_fix.fetch_add(1, Ordering::Relaxed);
                            }
                            stats.objects.fetch_add(1, Ordering::Relaxed);
                            bucket.lock().unwrap().push(d);
                        }
                        // dummy_check: fix2 counts checks on any object in flight.
                        5..=12 => {
                            let objs = bucket.lock().unwrap();
                            if let Some(d) = objs.get((rng >> 20) as usize % objs.len().max(1))
                                && fix.load(Ordering::Acquire)
                            {
                                let counter = global().get_or_alloc(&**d, SV_COUNTER, || {
                                    stats.counters_created.fetch_add(1, Ordering::Relaxed);
                                    AtomicU64::new(0)
                                });
                                counter.fetch_add(1, Ordering::Relaxed);
                                stats.checks.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        // dummy_free: expired objects go, with their shadow variables.
                        _ => {
                            let now = Instant::now();
                            let expired: Vec<Box<Dummy>> = {
                                let mut objs = bucket.lock().unwrap();
                                let (gone, keep) = objs.drain(..).partition(|d| d.expires <= now);
                                *objs = keep;
                                gone
                            };
                            for d in expired {
                                // fix1's dtor: free the leaked buffer (here: count it;
                                // the value itself is dropped by the map).
                                global().free_with(&*d, SV_LEAK, |_, _leak| {
                                    LEAKS_FREED_BY_DTOR.fetch_add(1, Ordering::Relaxed);
                                });
                                if global().free(&*d, SV_COUNTER) {
                                    stats.counters_freed.fetch_add(1, Ordering::Relaxed);
                                }
                                stats.expired.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            })
        })
        .collect();

    // Run unpatched for a fifth of the time, then "load the livepatch".
    std::thread::sleep(Duration::from_secs_f64(secs / 5.0));
    let leaked_before_fix = LEAKS_LIVE.load(Ordering::Relaxed);
    fix_applied.store(true, Ordering::Release);
    std::thread::sleep(Duration::from_secs_f64(secs * 4.0 / 5.0));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }

    // Module exit: free what is still attached to objects in flight.
    let in_flight_at_exit: usize = in_flight.iter().map(|b| b.lock().unwrap().len()).sum();
    let leak_vars_at_exit = global().free_all_with(SV_LEAK, |_, _| {
        LEAKS_FREED_BY_DTOR.fetch_add(1, Ordering::Relaxed);
    });
    let counters_at_exit = global().free_all(SV_COUNTER);
    // Freed values are dropped once no thread can see them: let the epoch advance.
    let leaked_after_fix = {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            crossbeam_epoch::pin().flush();
            let live = LEAKS_LIVE.load(Ordering::Relaxed) - leaked_before_fix;
            if live == 0 || Instant::now() > deadline {
                break live;
            }
            std::thread::yield_now();
        }
    };
    drop(in_flight);

    let s = &stats;
    let created = LEAKS_CREATED.load(Ordering::Relaxed) - leaked_before_fix;
    println!(
        "shadow-vars livepatch sample: {threads} threads, {:.1} s",
        start.elapsed().as_secs_f64()
    );
    println!(
        "  objects created                 {:>10}",
        s.objects.load(Ordering::Relaxed)
    );
    println!(
        "    before the fix (leaking)      {:>10}",
        s.objects_before_fix.load(Ordering::Relaxed)
    );
    println!(
        "  objects expired                 {:>10}",
        s.expired.load(Ordering::Relaxed)
    );
    println!(
        "  objects in flight at exit       {:>10}",
        in_flight_at_exit
    );
    println!("  SV_LEAK variables created       {:>10}", created);
    println!(
        "    freed by dtor on expiry       {:>10}",
        LEAKS_FREED_BY_DTOR.load(Ordering::Relaxed) - leak_vars_at_exit
    );
    println!(
        "    freed by free_all at exit     {:>10}",
        leak_vars_at_exit
    );
    println!(
        "  SV_COUNTER variables created    {:>10}",
        s.counters_created.load(Ordering::Relaxed)
    );
    println!(
        "    freed on expiry               {:>10}",
        s.counters_freed.load(Ordering::Relaxed)
    );
    println!("    freed by free_all at exit     {:>10}", counters_at_exit);
    println!(
        "  checks counted                  {:>10}",
        s.checks.load(Ordering::Relaxed)
    );
    println!(
        "  leaked before the fix           {:>10}",
        leaked_before_fix
    );
    println!("  leaked after the fix            {:>10}", leaked_after_fix);
    println!("  variables left in the table     {:>10}", global().len());
    assert_eq!(leaked_after_fix, 0, "the fix must leak nothing");
    assert_eq!(global().len(), 0);
    assert_eq!(
        LEAKS_FREED_BY_DTOR.load(Ordering::Relaxed),
        created,
        "one dtor call per variable"
    );
    println!(
        "result: 0 leaked after the fix ({} leaks prevented)",
        created
    );
}
