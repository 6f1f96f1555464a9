//! Memory per entry, with a counting global allocator.
//!
//! A binary that wants these numbers installs the allocator:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: common::mem::CountingAlloc = common::mem::CountingAlloc;
//! ```
//!
//! Counting is off until [`child_main`] turns it on, so the allocator costs one
//! relaxed load per call elsewhere. Each backend is measured in a child process
//! (the same executable, re-run with `--sv-mem-child NAME N`), so that garbage
//! another map left in an epoch collector is never counted against it.
//! Counted bytes are the sizes requested from the allocator (`Layout::size`),
//! not malloc's own per-block overhead.

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

use super::backends::{Backend, Visit, for_each_backend};
use super::workload::key;

static ON: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// `System`, plus a count of live bytes while counting is on.
#[derive(Debug)]
pub(crate) struct CountingAlloc;

// SAFETY: every call forwards to `System` with the caller's arguments unchanged;
// the counters are plain atomics that never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if ON.load(Ordering::Relaxed) && !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc_zeroed(layout) };
        if ON.load(Ordering::Relaxed) && !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ON.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if ON.load(Ordering::Relaxed) && !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Bytes held by one map, relative to before it was created.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Mem {
    pub(crate) n: usize,
    /// The empty map.
    pub(crate) empty: isize,
    /// With `n` entries (after `quiesce`).
    pub(crate) full: isize,
    /// After freeing every entry and `quiesce`.
    pub(crate) after_free: isize,
    /// After dropping the map and `quiesce`.
    pub(crate) after_drop: isize,
}

impl Mem {
    pub(crate) fn per_entry(&self) -> f64 {
        (self.full - self.empty) as f64 / self.n as f64
    }
}

fn measure<B: Backend>(n: usize) -> Mem {
    // The epoch schemes' own process-wide and per-thread state is not the map's:
    // bring it to its steady state (crossbeam-epoch keeps a bag or two of its
    // own queue nodes in flight) before taking the baseline.
    for _ in 0..4096 {
        let guard = crossbeam_epoch::pin();
        guard.defer(|| ());
        guard.flush();
    }
    super::backends::quiesce_global();
    let base = live();
    let map = B::new();
    let empty = live() - base;
    for i in 0..n {
        let (p, id) = key(i);
        map.prefill(p, id, i as u64);
    }
    assert_eq!(map.len(), n, "{}: wrong len after fill", B::NAME);
    map.quiesce();
    let full = live() - base;
    // Newest first: the kernel-style table inserts at the head of its chains,
    // so this keeps its frees O(1) (the order is irrelevant to the others).
    for i in (0..n).rev() {
        let (p, id) = key(i);
        assert!(map.free(p, id), "{}: free failed", B::NAME);
    }
    map.quiesce();
    let after_free = live() - base;
    drop(map);
    super::backends::quiesce_global();
    let after_drop = live() - base;
    Mem {
        n,
        empty,
        full,
        after_free,
        after_drop,
    }
}

/// If this process was started as a memory child, measures, prints one line and
/// returns `true` (the caller should then exit).
pub(crate) fn child_main() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let Some(at) = args.iter().position(|a| a == "--sv-mem-child") else {
        return false;
    };
    let name = args[at + 1].clone();
    let n: usize = args[at + 2].parse().expect("entry count");
    ON.store(true, Ordering::SeqCst);
    struct Find {
        name: String,
        n: usize,
        out: Option<Mem>,
    }
    impl Visit for Find {
        fn visit<B: Backend>(&mut self) {
            if B::NAME == self.name {
                self.out = Some(measure::<B>(self.n));
            }
        }
    }
    let mut f = Find { name, n, out: None };
    for_each_backend(&mut f);
    let m = f.out.expect("unknown backend name");
    ON.store(false, Ordering::SeqCst);
    println!(
        "SVMEM {} {} {} {} {}",
        m.n, m.empty, m.full, m.after_free, m.after_drop
    );
    true
}

/// Runs the memory probe for backend `name` in a child process.
pub(crate) fn measure_in_child(name: &str, n: usize) -> Result<Mem, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .args(["--sv-mem-child", name, &n.to_string()])
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("SVMEM "))
        .ok_or_else(|| {
            format!(
                "child failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })?;
    let v: Vec<isize> = line[6..].split(' ').map(|x| x.parse().unwrap()).collect();
    Ok(Mem {
        n: v[0] as usize,
        empty: v[1],
        full: v[2],
        after_free: v[3],
        after_drop: v[4],
    })
}
