//! Engine handles: positive 64-bit integers validated on every call, in a fixed table that is
//! read without locks, so the audio thread can use a handle too.
//!
//! A handle names a slot (`handle % SLOTS`) and an incarnation: handles are never reused, so
//! a freed handle stays invalid even after its slot holds another engine. A call *pins* the
//! slot (an atomic counter) while it uses the engine; freeing unpublishes the engine first and
//! then waits until no call has it pinned before dropping it. Readers never wait.

use std::sync::atomic::{AtomicI64, AtomicPtr, AtomicUsize, Ordering::SeqCst};

use crate::client::Client;
use crate::error::{Error, LIVESTAGE_ERR_HANDLE, LIVESTAGE_ERR_INTERNAL, Result};

/// Most engines alive at once in one process.
const SLOTS: usize = 64;

/// One engine's place in the table.
struct Slot {
    /// The engine, or null.
    client: AtomicPtr<Client>,
    /// The handle of the engine in `client`, or 0 while there is none (or it is being freed).
    handle: AtomicI64,
    /// Calls using the engine right now.
    pins: AtomicUsize,
}

impl Slot {
    const fn empty() -> Slot {
        Slot {
            client: AtomicPtr::new(std::ptr::null_mut()),
            handle: AtomicI64::new(0),
            pins: AtomicUsize::new(0),
        }
    }
}

static TABLE: [Slot; SLOTS] = [const { Slot::empty() }; SLOTS];
/// Incarnations handed out so far; a handle is `incarnation * SLOTS + slot`.
static INCARNATIONS: AtomicI64 = AtomicI64::new(1);

const UNKNOWN: &str = "unknown or freed engine handle; use the value livestage_engine_new returned and \
                       do not use it after livestage_engine_free";

/// Puts an engine in the table and returns its new handle.
pub(crate) fn insert(client: Client) -> Result<i64> {
    let client = Box::into_raw(Box::new(client));
    for (index, slot) in TABLE.iter().enumerate() {
        if slot
            .client
            .compare_exchange(std::ptr::null_mut(), client, SeqCst, SeqCst)
            .is_ok()
        {
            let handle = INCARNATIONS.fetch_add(1, SeqCst) * SLOTS as i64 + index as i64;
            slot.handle.store(handle, SeqCst);
            return Ok(handle);
        }
    }
    // SAFETY: `client` came from `Box::into_raw` above and was never published.
    drop(unsafe { Box::from_raw(client) });
    Err(Error::new(
        LIVESTAGE_ERR_INTERNAL,
        format!(
            "{SLOTS} engines are alive already; free one first (one engine can join many channels)"
        ),
    ))
}

/// Keeps a slot's engine alive while a call uses it.
struct Pin(&'static Slot);

impl Drop for Pin {
    fn drop(&mut self) {
        self.0.pins.fetch_sub(1, SeqCst);
    }
}

/// Pins `handle`'s slot and returns the engine while it is the one `handle` names.
fn pin(handle: i64) -> Result<(Pin, *mut Client)> {
    if handle <= 0 {
        return Err(Error::new(LIVESTAGE_ERR_HANDLE, UNKNOWN));
    }
    let slot = &TABLE[(handle % SLOTS as i64) as usize];
    slot.pins.fetch_add(1, SeqCst);
    let pin = Pin(slot);
    // `handle` is written after the engine is published and cleared before it is withdrawn, and
    // never written twice: reading it on both sides of the pointer proves the pointer is its.
    let before = slot.handle.load(SeqCst);
    let client = slot.client.load(SeqCst);
    let after = slot.handle.load(SeqCst);
    if before != handle || after != handle || client.is_null() {
        return Err(Error::new(LIVESTAGE_ERR_HANDLE, UNKNOWN));
    }
    Ok((pin, client))
}

/// Runs `f` with the engine `handle` names. Lock-free and allocation-free on success.
pub(crate) fn with<R>(handle: i64, f: impl FnOnce(&Client) -> Result<R>) -> Result<R> {
    let (_pin, client) = pin(handle)?;
    // SAFETY: the engine stays allocated while the slot is pinned: `remove` withdraws it and
    // then waits for every pin to go before dropping it, and we pinned before reading it.
    f(unsafe { &*client })
}

/// Withdraws the engine `handle` names, waits until no call uses it, and drops it.
pub(crate) fn remove(handle: i64) -> Result<()> {
    let (pin, client) = pin(handle)?;
    let slot = pin.0;
    // Only one caller wins the right to free it.
    if slot
        .handle
        .compare_exchange(handle, 0, SeqCst, SeqCst)
        .is_err()
    {
        return Err(Error::new(LIVESTAGE_ERR_HANDLE, UNKNOWN));
    }
    slot.client.store(std::ptr::null_mut(), SeqCst);
    drop(pin);
    // Calls that pinned before the withdrawal finish; later ones fail validation. A call is
    // short, so this wait is too (the audio thread's read takes microseconds).
    while slot.pins.load(SeqCst) != 0 {
        std::thread::yield_now();
    }
    // SAFETY: `client` came from `Box::into_raw` in `insert`, was withdrawn above by the one
    // caller that won the exchange, and no call uses it any more.
    drop(unsafe { Box::from_raw(client) });
    Ok(())
}
