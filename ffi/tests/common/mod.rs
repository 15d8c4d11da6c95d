//! What the C ABI tests share: the last error as text, and waiting for an event.
#![allow(dead_code, clippy::unwrap_used)]

use std::ffi::{CStr, CString, c_char};
use std::ptr::null;
use std::time::{Duration, Instant};

use livestage_ffi::{
    livestage_engine_new, livestage_join, livestage_last_error, livestage_poll_event,
};
use livestage_server::Embedded;
use serde_json::Value;

/// Grants of a host.
pub const HOST: &str = "join,publish-audio,publish-video,publish-data";

pub fn last_error() -> String {
    let mut buf = [0 as c_char; 512];
    // SAFETY: the buffer is valid for its length.
    unsafe { livestage_last_error(buf.as_mut_ptr(), buf.len()) };
    // SAFETY: NUL-terminated by livestage_last_error.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// Takes events until `done` returns true for one, within `limit`.
pub fn wait_event(engine: i64, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let end = Instant::now() + limit;
    let mut seen = Vec::new();
    let mut buf = vec![0 as c_char; 64 * 1024];
    while Instant::now() < end {
        let mut size = 0;
        // SAFETY: the buffer and `size` are valid.
        let rc = unsafe { livestage_poll_event(engine, buf.as_mut_ptr(), buf.len(), &mut size) };
        assert!(rc >= 0, "{}", last_error());
        if rc == 0 {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        // SAFETY: NUL-terminated by livestage_poll_event.
        let json = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap();
        let event: Value = serde_json::from_str(json).unwrap();
        if done(&event) {
            return event;
        }
        seen.push(event);
    }
    panic!("no matching event within {limit:?}; saw {seen:#?}");
}

/// A 48 kHz engine with `channels` of mixed voice, joined to channel `show` of `server` as
/// `user`; returns it and its `joined` event.
pub fn join_engine(
    server: &Embedded,
    user: &str,
    grants: &str,
    role: i32,
    channels: u32,
) -> (i64, Value) {
    let engine = livestage_engine_new(48_000, channels, 0);
    assert!(engine > 0, "{}", last_error());
    let token = CString::new(server.token("show", user, grants, 600).unwrap()).unwrap();
    let (addr, cert) = (
        CString::new(server.addr.to_string()).unwrap(),
        CString::new(server.cert_pem.clone()).unwrap(),
    );
    // SAFETY: NUL-terminated strings; a null channel means the token's.
    let rc = unsafe {
        livestage_join(
            engine,
            addr.as_ptr(),
            cert.as_ptr(),
            token.as_ptr(),
            null(),
            role,
            null(),
        )
    };
    assert_eq!(rc, 0, "{}", last_error());
    let joined = wait_event(engine, Duration::from_secs(10), |e| e["type"] == "joined");
    (engine, joined)
}
