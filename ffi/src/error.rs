//! Error codes, the per-thread last error message, and the guard every entry point runs in.
//!
//! A function that fails returns one of the negative `LIVESTAGE_ERR_*` codes and leaves a
//! message a person can act on, readable with `livestage_last_error` on the same thread. A
//! success does not clear it (like `errno`). A panic inside the library never crosses the C
//! boundary: it is caught and reported as `LIVESTAGE_ERR_PANIC`.

use std::any::Any;
use std::borrow::Cow;
use std::cell::RefCell;
use std::ffi::c_char;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Success.
pub const LIVESTAGE_OK: i32 = 0;
/// A pointer that must not be null was null.
pub const LIVESTAGE_ERR_NULL: i32 = -1;
/// The engine handle is unknown or was freed.
pub const LIVESTAGE_ERR_HANDLE: i32 = -2;
/// An argument is unusable: not UTF-8, out of range, or a frame or buffer of the wrong size.
pub const LIVESTAGE_ERR_ARGUMENT: i32 = -3;
/// The output buffer is too small; the size needed was reported (see each function).
pub const LIVESTAGE_ERR_BUFFER_TOO_SMALL: i32 = -4;
/// The channel is not joined: never joined, left, or its session ended (kicked, refused...).
pub const LIVESTAGE_ERR_NOT_JOINED: i32 = -5;
/// No such participant is in the channel (as far as this client can see), no such music or
/// effect file (or the server answered 404), or no effect loaded with that id.
pub const LIVESTAGE_ERR_NOT_FOUND: i32 = -6;
/// Frames or samples were pushed to a channel where this kind of media is not published.
pub const LIVESTAGE_ERR_NOT_PUBLISHING: i32 = -7;
/// Not possible in the engine's configuration or state (e.g. reading the voice while a device
/// plays it, pausing music when none was started, changing a hook from inside a hook).
pub const LIVESTAGE_ERR_STATE: i32 = -8;
/// Another thread is reading the voice at this moment; read it from one thread only.
pub const LIVESTAGE_ERR_BUSY: i32 = -9;
/// The engine could not do it (a thread, codec or socket failed); the message says why.
pub const LIVESTAGE_ERR_INTERNAL: i32 = -10;
/// A bug inside the library was caught before it could crash the application.
pub const LIVESTAGE_ERR_PANIC: i32 = -11;
/// Screen capture or a camera is not possible here (no X server, Wayland without X, an
/// unsupported format; no webcam, no permission, another program holds it: the product error
/// `camera_unavailable`), or the shared window or display went away; the message says what
/// to do.
pub const LIVESTAGE_ERR_UNAVAILABLE: i32 = -12;
/// A music or effect file that is not audio Livestage can play: an unsupported container or
/// codec, or data that does not decode; the message says which.
pub const LIVESTAGE_ERR_UNSUPPORTED: i32 = -13;
/// A music or effect file or URL could not be read (permissions, the network); the message
/// says why.
pub const LIVESTAGE_ERR_IO: i32 = -14;

/// A failed call: its code and its message.
#[derive(Debug)]
pub(crate) struct Error {
    code: i32,
    message: Cow<'static, str>,
}

/// What every fallible helper returns.
pub(crate) type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error with `code` and `message`; a `&'static str` message costs no allocation,
    /// which the audio thread relies on.
    pub(crate) fn new(code: i32, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// `LIVESTAGE_ERR_NULL` naming the parameter.
    pub(crate) fn null(parameter: &str) -> Self {
        Self::new(
            LIVESTAGE_ERR_NULL,
            format!("`{parameter}` is a null pointer; pass a valid pointer"),
        )
    }

    /// `LIVESTAGE_ERR_ARGUMENT` with a message.
    pub(crate) fn argument(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(LIVESTAGE_ERR_ARGUMENT, message)
    }

    /// `LIVESTAGE_ERR_INTERNAL` from any error, with its causes.
    pub(crate) fn internal(error: impl std::fmt::Display) -> Self {
        Self::new(LIVESTAGE_ERR_INTERNAL, format!("{error:#}"))
    }

    /// The code.
    pub(crate) fn code(&self) -> i32 {
        self.code
    }
}

thread_local! {
    /// The message of the last failed call on this thread. Const-initialised, so reading or
    /// setting it never allocates by itself.
    static LAST_ERROR: RefCell<Cow<'static, str>> = const { RefCell::new(Cow::Borrowed("")) };
}

fn set_last_error(message: Cow<'static, str>) {
    LAST_ERROR.with(|last| *last.borrow_mut() = message);
}

/// Runs an entry point's body: returns its value, or records the error (or a caught panic)
/// and returns its negative code.
pub(crate) fn guard<T: From<i32>>(body: impl FnOnce() -> Result<T>) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value,
        Ok(Err(error)) => {
            let code = error.code;
            set_last_error(error.message);
            T::from(code)
        }
        Err(panic) => {
            set_last_error(Cow::Owned(format!(
                "internal error in livestage (a bug; please report it): {}",
                panic_message(&*panic)
            )));
            T::from(LIVESTAGE_ERR_PANIC)
        }
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "unknown panic"
    }
}

/// Copies `text` and a terminating NUL into `buf` when it fits in `capacity` bytes, and stores
/// the size needed (text plus NUL) in `needed` when that is not null.
///
/// # Errors
///
/// `LIVESTAGE_ERR_BUFFER_TOO_SMALL` when `buf` is null or `capacity` is less than needed.
///
/// # Safety
///
/// `buf` must be null or valid for `capacity` bytes of writing; `needed` null or valid.
pub(crate) unsafe fn write_text(
    text: &str,
    buf: *mut c_char,
    capacity: usize,
    needed: *mut usize,
) -> Result<()> {
    let size = text.len() + 1;
    if !needed.is_null() {
        // SAFETY: the caller passes a valid pointer or null (checked).
        unsafe { needed.write(size) };
    }
    if buf.is_null() || capacity < size {
        return Err(Error::new(
            LIVESTAGE_ERR_BUFFER_TOO_SMALL,
            format!("the buffer holds {capacity} bytes but {size} are needed"),
        ));
    }
    // SAFETY: `buf` is valid for `capacity >= size` bytes (the caller's contract, checked).
    let out = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), size) };
    out[..text.len()].copy_from_slice(text.as_bytes());
    out[text.len()] = 0;
    Ok(())
}

/// Writes a listing (`livestage_screens`, `livestage_cameras`) into `buf` as NUL-terminated
/// UTF-8 when it fits in `capacity` bytes, and returns the size it needs (NUL included)
/// either way: the caller calls again with a buffer that large when it did not fit.
///
/// # Safety
///
/// `buf` must be null or valid for `capacity` bytes of writing.
pub(crate) unsafe fn write_listing(text: &str, buf: *mut c_char, capacity: usize) -> i32 {
    let size = text.len() + 1;
    if !buf.is_null() && capacity >= size {
        // SAFETY: `buf` is valid for `capacity >= size` bytes (the caller's contract).
        let out = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), size) };
        out[..text.len()].copy_from_slice(text.as_bytes());
        out[text.len()] = 0;
    }
    i32::try_from(size).unwrap_or(i32::MAX)
}

/// Copies the message of the last failed call on this thread into `buf` as NUL-terminated
/// UTF-8, cut at a character boundary when `capacity` is too small, and returns the size in
/// bytes (NUL included) the whole message needs. An empty message when nothing failed yet.
///
/// Any thread; the message is per thread.
///
/// # Safety
///
/// `buf` must be null (to ask for the size only) or valid for `capacity` bytes of writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_last_error(buf: *mut c_char, capacity: usize) -> i32 {
    guard(|| {
        LAST_ERROR.with(|last| {
            let last = last.borrow();
            if !buf.is_null() && capacity > 0 {
                let mut cut = last.len().min(capacity - 1);
                while !last.is_char_boundary(cut) {
                    cut -= 1;
                }
                // SAFETY: `buf` is valid for `capacity > cut` bytes (the caller's contract).
                let out = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), cut + 1) };
                out[..cut].copy_from_slice(&last.as_bytes()[..cut]);
                out[cut] = 0;
            }
            Ok(i32::try_from(last.len() + 1).unwrap_or(i32::MAX))
        })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn last_error() -> String {
        let mut buf = [0 as c_char; 256];
        // SAFETY: the buffer is valid for its length.
        let size = unsafe { livestage_last_error(buf.as_mut_ptr(), buf.len()) };
        assert!(size > 0);
        // SAFETY: livestage_last_error NUL-terminates what it writes.
        unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn errors_and_panics_become_codes_with_messages() {
        let code: i32 = guard(|| Err(Error::argument("width must be even")));
        assert_eq!(code, LIVESTAGE_ERR_ARGUMENT);
        assert_eq!(last_error(), "width must be even");
        let code: i64 = guard(|| -> Result<i64> { panic!("boom") });
        assert_eq!(code, i64::from(LIVESTAGE_ERR_PANIC));
        assert!(last_error().contains("boom"), "{}", last_error());
        let ok: i32 = guard(|| Ok(7));
        assert_eq!(ok, 7);
        assert!(
            last_error().contains("boom"),
            "a success keeps the last error"
        );
    }

    #[test]
    fn a_short_buffer_gets_a_cut_message_and_the_size_needed() {
        let _: i32 = guard(|| Err(Error::argument("0123456789")));
        let mut buf = [0x7f as c_char; 4];
        // SAFETY: the buffer is valid for its length.
        let size = unsafe { livestage_last_error(buf.as_mut_ptr(), buf.len()) };
        assert_eq!(size, 11);
        assert_eq!(buf.map(|c| c as u8), *b"012\0");
        // SAFETY: a null buffer asks for the size only.
        assert_eq!(unsafe { livestage_last_error(std::ptr::null_mut(), 0) }, 11);
    }

    #[test]
    fn write_text_reports_the_size_needed() {
        let mut needed = 0usize;
        let mut small = [0 as c_char; 3];
        // SAFETY: both pointers are valid.
        let result = unsafe { write_text("hello", small.as_mut_ptr(), 3, &mut needed) };
        assert_eq!(result.unwrap_err().code(), LIVESTAGE_ERR_BUFFER_TOO_SMALL);
        assert_eq!(needed, 6);
        let mut big = [0 as c_char; 6];
        // SAFETY: both pointers are valid.
        unsafe { write_text("hello", big.as_mut_ptr(), 6, &mut needed) }.unwrap();
        assert_eq!(big.map(|c| c as u8), *b"hello\0");
    }
}
