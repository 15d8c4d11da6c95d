//! Co-hosting across channels (PK): a host relays its own tracks into other channels, here or
//! on another server. Destinations are written as the bot's `--relay` takes them; each one's
//! state arrives as a `relay` event (`to`, `state`, and for a failure the destination's `code`).

use std::ffi::c_char;

use livestage_proto::relay::Request;

use crate::args;
use crate::engine::request;
use crate::error::{Error, LIVESTAGE_ERR_ARGUMENT, Result};

fn bad(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(LIVESTAGE_ERR_ARGUMENT, format!("{what}: {e:#}"))
}

fn destinations(text: &str) -> Result<Vec<livestage_proto::relay::Destination>> {
    livestage_net::relay::parse(text).map_err(|e| bad("destinations", e))
}

/// Starts relaying this host's tracks from `channel` into 1 to 6 `destinations`, a
/// comma-separated list of `CHANNEL:TOKEN` (a channel on the same server) or
/// `CHANNEL@ADDR#CERT:TOKEN` (on another server; `CERT` is its certificate's PEM file or its
/// `sha256:HEX` pin). Each token is for this client's own user in that channel, with
/// publishing grants; this client's token must grant `relay`. Every destination then reports
/// `relay` events (`connecting`, `running`, `failed` with the destination's error code...);
/// a refusal of the whole request arrives as a `refused` event.
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `channel` and `destinations` must be NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_relay_start(
    engine: i64,
    channel: *const c_char,
    destinations: *const c_char,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe {
        request(engine, channel, |client, channel| {
            let text = args::text(destinations, "destinations")?;
            let destinations = self::destinations(text)?;
            client
                .engine
                .relay(channel, Request::Start { destinations });
            Ok(())
        })
    }
}

/// Changes a running relay: starts the destinations in `add` (written as for
/// `livestage_relay_start`; may be empty or NULL) and stops those in `remove` (`CHANNEL` or
/// `CHANNEL@ADDR#CERT`, comma-separated; may be empty or NULL).
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `channel` must be a NUL-terminated string; `add` and `remove` NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_relay_update(
    engine: i64,
    channel: *const c_char,
    add: *const c_char,
    remove: *const c_char,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe {
        request(engine, channel, |client, channel| {
            let add = match args::optional_text(add, "add")? {
                Some(text) if !text.trim().is_empty() => destinations(text)?,
                _ => Vec::new(),
            };
            let remove = match args::optional_text(remove, "remove")? {
                Some(text) => {
                    livestage_net::relay::parse_targets(text).map_err(|e| bad("remove", e))?
                }
                None => Vec::new(),
            };
            client
                .engine
                .relay(channel, Request::Update { add, remove });
            Ok(())
        })
    }
}

/// Pauses (`paused` 1) or resumes (`paused` 0) every destination of the relay: paused, this
/// host stays on each destination's stage and sends nothing; resumed, each starts again from
/// a keyframe.
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `channel` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_relay_pause(
    engine: i64,
    channel: *const c_char,
    paused: i32,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe {
        request(engine, channel, |client, channel| {
            let request = if paused != 0 {
                Request::Pause
            } else {
                Request::Resume
            };
            client.engine.relay(channel, request);
            Ok(())
        })
    }
}

/// Stops the relay: every destination reports `stopped` and this host leaves them. Leaving
/// `channel`, or being demoted or kicked there, stops it too.
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `channel` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_relay_stop(engine: i64, channel: *const c_char) -> i32 {
    // SAFETY: the caller's contract.
    unsafe {
        request(engine, channel, |client, channel| {
            client.engine.relay(channel, Request::Stop);
            Ok(())
        })
    }
}
