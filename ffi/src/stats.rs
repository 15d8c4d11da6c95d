//! Counters of what was received: from all of a user's tracks together, or from one track.

use std::ffi::c_char;

use livestage_net::playout::Stats;

use crate::args;
use crate::client::Client;
use crate::error::{Error, Result, guard};
use crate::handles;

/// Per-publisher counters from `livestage_stats` and `livestage_stats_track`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LivestageStats {
    /// Video frames decoded.
    pub video_frames: u64,
    /// Video frames the decoder refused (a keyframe was asked for).
    pub video_errors: u64,
    /// Voice frames played from packets.
    pub audio_played: u64,
    /// Voice frames recovered from the next packet's error correction.
    pub audio_recovered: u64,
    /// Voice frames concealed (lost).
    pub audio_concealed: u64,
    /// The voice's latest level, dBFS.
    pub level_dbfs: f32,
}

impl From<Stats> for LivestageStats {
    fn from(s: Stats) -> Self {
        LivestageStats {
            video_frames: s.video_frames,
            video_errors: s.video_errors,
            audio_played: s.audio_played,
            audio_recovered: s.audio_recovered,
            audio_concealed: s.audio_concealed,
            level_dbfs: s.level_dbfs,
        }
    }
}

/// Writes the counters `find` looks up for (channel, user) into `*out`: 1 when there are
/// some, 0 (and zeros) when nothing arrived yet.
///
/// # Safety
///
/// `channel` and `user` must be NUL-terminated strings; `out` valid for writing a
/// `LivestageStats`.
unsafe fn write_stats(
    engine: i64,
    channel: *const c_char,
    user: *const c_char,
    out: *mut LivestageStats,
    find: impl FnOnce(&Client, &str, u64) -> Result<Option<Stats>>,
) -> i32 {
    guard(|| {
        if out.is_null() {
            return Err(Error::null("out"));
        }
        // SAFETY: the caller's contract.
        let channel = unsafe { args::text(channel, "channel") }?;
        // SAFETY: the caller's contract.
        let user = unsafe { args::text(user, "user") }?;
        handles::with(engine, |client| {
            let stats = find(client, channel, client.media_id(channel, user)?)?;
            let value = stats.map_or_else(LivestageStats::default, LivestageStats::from);
            // SAFETY: non-null and valid (the caller's contract).
            unsafe { out.write(value) };
            Ok(i32::from(stats.is_some()))
        })
    })
}

/// Fills `*out` with what was received from `user` in `channel` so far, all its tracks
/// added up (the level is its loudest voice's): returns 1, or 0 (and zeros) when nothing
/// arrived from it yet.
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `channel` and `user` must be NUL-terminated strings; `out` valid for writing a
/// `LivestageStats`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_stats(
    engine: i64,
    channel: *const c_char,
    user: *const c_char,
    out: *mut LivestageStats,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe {
        write_stats(engine, channel, user, out, |client, channel, media_id| {
            Ok(client.playout.participant_stats(channel, media_id))
        })
    }
}

/// Fills `*out` with what was received from one track of `user` in `channel` (track ids are
/// in the participant's `tracks`): returns 1, or 0 (and zeros) when nothing arrived on it
/// yet. `LIVESTAGE_ERR_ARGUMENT` for a track id of 16 or more.
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `channel` and `user` must be NUL-terminated strings; `out` valid for writing a
/// `LivestageStats`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_stats_track(
    engine: i64,
    channel: *const c_char,
    user: *const c_char,
    track: u8,
    out: *mut LivestageStats,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe {
        write_stats(engine, channel, user, out, |client, channel, media_id| {
            let track = args::track(track)?;
            Ok(client.playout.stats(channel, media_id, track))
        })
    }
}
