//! Relays through the C ABI, against an in-process server: a host starts a relay into another
//! channel with the bot's destination syntax, sees it run, pause, resume and stop as `relay`
//! events, and a viewer of the destination sees the host arrive and leave; destinations that
//! do not parse are refused with `LIVESTAGE_ERR_ARGUMENT` before anything is sent.
// Calling a C ABI from Rust takes unsafe blocks; each says why its pointers are valid.
#![allow(unsafe_code, clippy::unwrap_used)]

mod common;

use std::ffi::CString;
use std::ptr::null;
use std::time::Duration;

use common::{HOST, join_engine, last_error, wait_event};
use livestage_ffi::*;
use livestage_server::{Config, Embedded};
use serde_json::Value;

fn relay_state(engine: i64, state: &str) -> Value {
    wait_event(engine, Duration::from_secs(10), |e| {
        e["type"] == "relay" && e["state"] == state
    })
}

#[test]
fn a_host_relays_into_another_channel_and_controls_it() {
    let server = Embedded::start(Config::default()).unwrap();
    let (ann, _) = join_engine(
        &server,
        "ann",
        &format!("{HOST},relay"),
        LIVESTAGE_ROLE_HOST,
        2,
    );
    let show = c"show";
    let into = CString::new(format!(
        "b:{}",
        server.token("b", "ann", HOST, 600).unwrap()
    ))
    .unwrap();
    // SAFETY (every call below): NUL-terminated strings or deliberate nulls.
    unsafe {
        for bad in [c"b", c"b@nowhere#x:t", c""] {
            assert_eq!(
                livestage_relay_start(ann, show.as_ptr(), bad.as_ptr()),
                LIVESTAGE_ERR_ARGUMENT
            );
            assert!(last_error().contains("destination"), "{}", last_error());
        }
        assert_eq!(
            livestage_relay_start(ann, show.as_ptr(), null()),
            LIVESTAGE_ERR_NULL
        );
        assert_eq!(
            livestage_relay_start(ann, c"elsewhere".as_ptr(), into.as_ptr()),
            LIVESTAGE_ERR_NOT_JOINED
        );

        assert_eq!(
            livestage_relay_start(ann, show.as_ptr(), into.as_ptr()),
            0,
            "{}",
            last_error()
        );
        let running = relay_state(ann, "running");
        assert_eq!(running["to"], "b");
        assert_eq!(livestage_relay_pause(ann, show.as_ptr(), 1), 0);
        relay_state(ann, "paused");
        assert_eq!(livestage_relay_pause(ann, show.as_ptr(), 0), 0);
        relay_state(ann, "running");
        assert_eq!(
            livestage_relay_update(ann, show.as_ptr(), null(), c"b".as_ptr()),
            0
        );
        relay_state(ann, "stopped");

        // A token for another user fails that destination with the server's code.
        let stolen = server.token("c", "bob", HOST, 600).unwrap();
        let stolen = CString::new(format!("c:{stolen}")).unwrap();
        assert_eq!(
            livestage_relay_start(ann, show.as_ptr(), stolen.as_ptr()),
            0
        );
        let failed = relay_state(ann, "failed");
        assert_eq!(failed["code"], "token_invalid", "{failed}");
        assert_eq!(livestage_relay_stop(ann, show.as_ptr()), 0);
        livestage_engine_free(ann);
    }
}
