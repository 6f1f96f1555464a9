//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Scales a count down under Miri, which is ~1000x slower.
pub fn scaled(native: usize, miri: usize) -> usize {
    if cfg!(miri) { miri } else { native }
}

/// Runs `f` on its own thread and fails the test if it does not finish
/// within `secs` (a deadlock must fail the test, not hang CI). Panics of `f`
/// are propagated.
pub fn within<R: Send + 'static>(secs: u64, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let r = f();
        let _ = tx.send(());
        r
    });
    let limit = if cfg!(miri) {
        Duration::from_secs(3600)
    } else {
        Duration::from_secs(secs)
    };
    match rx.recv_timeout(limit) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Ok(r) => r,
            Err(p) => std::panic::resume_unwind(p),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("test did not finish within {secs} s (deadlock?)")
        }
    }
}

/// Counts live values: +1 on creation, -1 on drop; panics on a double drop.
#[derive(Clone, Default, Debug)]
pub struct Counters {
    pub created: Arc<AtomicUsize>,
    pub dropped: Arc<AtomicUsize>,
}

impl Counters {
    pub fn new_value(&self, payload: u64) -> Tracked {
        self.created.fetch_add(1, Ordering::SeqCst);
        Tracked {
            payload,
            check: !payload,
            dropped: Arc::clone(&self.dropped),
            live: true,
        }
    }
    pub fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }
    /// Drives epoch reclamation until every created value was dropped, or
    /// fails after `secs` (other tests of this binary may hold pins briefly).
    pub fn wait_all_dropped(&self, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(if cfg!(miri) { 3600 } else { secs });
        loop {
            crossbeam_epoch::pin().flush();
            let (c, d) = (self.created(), self.dropped());
            assert!(d <= c, "dropped {d} > created {c}");
            if c == d {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "only {d} of {c} values dropped after {secs} s"
            );
            std::thread::yield_now();
        }
    }
}

/// A value that checks its own integrity and counts its drop.
#[derive(Debug)]
pub struct Tracked {
    pub payload: u64,
    /// `!payload`: a torn or stale read shows as a mismatch.
    pub check: u64,
    dropped: Arc<AtomicUsize>,
    live: bool,
}

impl Tracked {
    pub fn verify(&self) -> u64 {
        assert!(self.live, "use after drop");
        assert_eq!(self.check, !self.payload, "torn value");
        self.payload
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        assert!(self.live, "value dropped twice");
        self.live = false;
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}
