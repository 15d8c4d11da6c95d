//! What stands between the engine's media threads and a C function the app installed (an
//! audio hook, a video hook or renderer): a [`Gate`] that can be closed for good, the caller's
//! `user_data`, and a mark on the thread while it runs the app's code.
//!
//! Replacing or removing a callback closes its gate, which waits for a call in flight and turns
//! later ones away, so once the call that replaced it returns (or the event that reports it
//! removed is queued) the old callback and its `user_data` are never used again, although a
//! media thread may hold the wrapper itself until its next frame.

use std::cell::Cell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

use crate::error::{Error, LIVESTAGE_ERR_STATE, Result};

thread_local! {
    /// Set while this thread runs a C callback. Const-initialised: no allocation on audio
    /// threads.
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
}

/// Whether the calling thread is inside a C hook or renderer, where calls that wait for them
/// would wait for themselves.
pub(crate) fn in_hook() -> bool {
    IN_HOOK.with(Cell::get)
}

/// Refuses a call made from inside a hook or renderer.
pub(crate) fn not_in_hook(call: &str) -> Result<()> {
    if in_hook() {
        return Err(Error::new(
            LIVESTAGE_ERR_STATE,
            format!("{call} was called from inside a hook or renderer, which it would wait for"),
        ));
    }
    Ok(())
}

/// Lets calls through to one installed C function until it is closed.
#[derive(Default)]
pub(crate) struct Gate {
    closed: AtomicBool,
    /// Calls in flight.
    calls: AtomicUsize,
}

impl Gate {
    /// Runs `call` (which calls the C function) with the thread marked as inside a hook, unless
    /// the gate is closed; `None` when it is (then nothing was called).
    pub(crate) fn call<R>(&self, call: impl FnOnce() -> R) -> Option<R> {
        // Counted before the check, and `close` sets before it counts (both SeqCst): a call
        // either sees the gate closed or is seen by `close`, never neither.
        self.calls.fetch_add(1, SeqCst);
        if self.closed.load(SeqCst) {
            self.calls.fetch_sub(1, SeqCst);
            return None;
        }
        IN_HOOK.with(|h| h.set(true));
        let result = call();
        IN_HOOK.with(|h| h.set(false));
        self.calls.fetch_sub(1, SeqCst);
        Some(result)
    }

    /// Turns later calls away and waits for the one in flight, if any (a hook returns within
    /// its frame, or is removed for overrunning).
    pub(crate) fn close(&self) {
        self.closed.store(true, SeqCst);
        while self.calls.load(SeqCst) != 0 {
            std::thread::yield_now();
        }
    }
}

/// The caller's `user_data`, handed back to its callback and never read here.
pub(crate) struct UserData(pub(crate) *mut c_void);

// SAFETY: the pointer is never dereferenced by the library, only passed back to the caller's
// callback. Every call that installs a callback makes the caller promise that it may use
// `user_data` from any media thread (one call at a time per installed callback) until it is
// replaced or removed, which is all that moving it to that thread asks.
unsafe impl Send for UserData {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_closed_gate_turns_calls_away_and_the_mark_is_cleared() {
        let gate = Gate::default();
        assert_eq!(gate.call(in_hook), Some(true));
        assert!(!in_hook(), "cleared after the call");
        assert!(gate.call(|| not_in_hook("x")).unwrap().is_err());
        gate.close();
        assert_eq!(gate.call(|| 1), None);
    }
}
