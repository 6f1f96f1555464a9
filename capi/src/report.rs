//! The kernel's log lines, written to stderr, and the panic barrier at the C boundary.

use std::any::Any;
use std::ffi::{c_int, c_ulong, c_void};
use std::fmt;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};

/// Writes one line to stderr with a single `write_all`, so that lines from
/// concurrent threads do not interleave. Errors are ignored: a closed stderr must not
/// turn a log line into a failure.
fn log_line(args: fmt::Arguments<'_>) {
    let mut line = fmt::format(args);
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// The kernel's `WARN(1, "Duplicate shadow variable <%p, %lx>\n", obj, id)`.
pub(crate) fn duplicate(obj: *mut c_void, id: c_ulong) {
    log_line(format_args!("Duplicate shadow variable <{obj:p}, {id:x}>"));
}

/// The kernel's `pr_err("Failed to construct shadow variable <%p, %lx> (%d)\n", ...)`.
pub(crate) fn ctor_failed(obj: *mut c_void, id: c_ulong, err: c_int) {
    log_line(format_args!(
        "Failed to construct shadow variable <{obj:p}, {id:x}> ({err})"
    ));
}

/// Runs `f`, returning `fallback` if it panics: no unwind may cross an `extern "C"`
/// function. The panic hook has already reported the panic on stderr.
pub(crate) fn no_unwind<R>(fallback: R, f: impl FnOnce() -> R) -> R {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            discard(payload);
            fallback
        }
    }
}

/// Drops a panic payload, whose own `Drop` could panic: such a second payload is
/// leaked rather than dropped.
fn discard(payload: Box<dyn Any + Send>) {
    if let Err(again) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}
