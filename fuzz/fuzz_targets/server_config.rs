//! The server's TOML config: `Config::from_toml` (what `livestage serve --config FILE` reads),
//! then `Config::core`, which turns it into the state machine's policy.
//!
//! The config module is compiled from its source file rather than through the
//! `livestage-server` crate, which would bring in quinn, tokio, rustls and the media codecs
//! (openh264, Opus) for one TOML parser; config.rs uses nothing of its crate but the
//! allow-lists (allow.rs, compiled the same way).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../server/src/allow.rs"]
mod allow;
#[allow(dead_code)]
#[path = "../../server/src/config.rs"]
mod config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = config::Config::from_toml(text) else {
        return;
    };
    let core = parsed.core("fuzz-secret", 7);
    assert_eq!(core.host_cap, parsed.host_cap);
    assert_eq!(core.app, parsed.app);
    assert_eq!(
        u128::from(core.resume_ms),
        u128::from(parsed.resume_secs) * 1000,
        "resume window"
    );
    assert_eq!(core.profiles.len(), parsed.channels.len());
});
