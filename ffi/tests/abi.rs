//! The C ABI without a server: handles that stay invalid once freed (even while an audio
//! thread is reading), and bad input refused with the documented codes and a message, never a
//! crash (track ids, video sources, screen targets included). Joining an address nobody
//! answers on is enough to exercise a joined channel.
// Calling a C ABI from Rust takes unsafe blocks; each says why its pointers are valid.
#![allow(unsafe_code, clippy::unwrap_used)]

use std::ffi::{CStr, CString, c_char};
use std::ptr::{null, null_mut};
use std::time::{Duration, Instant};

use livestage_ffi::*;

/// A fingerprint nobody's certificate has: the join is accepted and never connects.
const PIN: &CStr = c"sha256:0000000000000000000000000000000000000000000000000000000000000000";
/// A token for user `ann` in channel `lobby` (`livestage token --channel lobby --user ann`).
const TOKEN: &CStr = c"eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJhcHAiOiJsaXZlc3RhZ2UiLCJjaCI6ImxvYmJ5Iiwic3ViIjoiYW5uIiwiZ3JhbnRzIjpbImpvaW4iXSwiZXhwIjo0Nzk1NjI5MzEyLCJpYXQiOjE3OTU2MjkzMTJ9.Ki6Uj9juzpK7MIyXop3MH3WXK9h0vJvml2l8S7n9Aeg";

fn last_error() -> String {
    let mut buf = [0 as c_char; 512];
    // SAFETY: the buffer is valid for its length.
    unsafe { livestage_last_error(buf.as_mut_ptr(), buf.len()) };
    // SAFETY: NUL-terminated by livestage_last_error.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// Takes events until `done` returns true for one, within `limit`.
fn wait_event(engine: i64, limit: Duration, done: impl Fn(&str) -> bool) -> Vec<String> {
    let end = Instant::now() + limit;
    let mut seen = Vec::new();
    let mut buf = vec![0 as c_char; 16 * 1024];
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
        let json = unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(size, json.len() + 1);
        let stop = done(&json);
        seen.push(json);
        if stop {
            return seen;
        }
    }
    panic!("no matching event within {limit:?}; saw {seen:#?}");
}

#[test]
fn a_freed_handle_stays_invalid_even_for_an_audio_thread_reading_through_the_free() {
    let engine = livestage_engine_new(48_000, 2, 0);
    assert!(engine > 0, "{}", last_error());
    let reader = std::thread::spawn(move || {
        let mut out = [0.0f32; 256];
        let mut reads = 0u64;
        loop {
            // SAFETY: `out` is valid for its length.
            let rc = unsafe { livestage_audio_read(engine, out.as_mut_ptr(), out.len(), 2) };
            if rc == LIVESTAGE_ERR_HANDLE {
                return reads;
            }
            assert!(rc >= 0, "read failed with {rc}");
            reads += 1;
        }
    });
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(livestage_engine_free(engine), LIVESTAGE_OK);
    assert!(reader.join().unwrap() > 0, "the reader ran before the free");
    assert_eq!(livestage_engine_free(engine), LIVESTAGE_ERR_HANDLE);
    assert!(
        last_error().contains("unknown or freed"),
        "{}",
        last_error()
    );

    let next = livestage_engine_new(0, 0, 0);
    assert!(next > 0 && next != engine, "handles are never reused");
    let mut out = [0.0f32; 4];
    // SAFETY: `out` is valid for its length.
    let rc = unsafe { livestage_audio_read(engine, out.as_mut_ptr(), out.len(), 2) };
    assert_eq!(
        rc, LIVESTAGE_ERR_HANDLE,
        "the old handle does not reach the new engine"
    );
    for bad in [0, -5, i64::MAX] {
        assert_eq!(livestage_engine_free(bad), LIVESTAGE_ERR_HANDLE);
    }
    assert_eq!(livestage_engine_free(next), LIVESTAGE_OK);
}

#[test]
fn an_engine_that_plays_on_the_device_reports_events_and_refuses_reads() {
    let engine = livestage_engine_new(48_000, 2, LIVESTAGE_PLAY_ON_DEVICE);
    assert!(engine > 0, "{}", last_error());
    // SAFETY: literal C strings.
    let rc = unsafe {
        livestage_join(
            engine,
            c"127.0.0.1:9".as_ptr(),
            PIN.as_ptr(),
            TOKEN.as_ptr(),
            null(),
            0,
            null(),
        )
    };
    assert_eq!(rc, 0, "{}", last_error());
    wait_event(engine, Duration::from_secs(2), |e| {
        e.contains(r#""state":"connecting""#)
    });
    let mut out = [0.0f32; 8];
    // SAFETY: `out` is valid for its length.
    let rc = unsafe { livestage_audio_read(engine, out.as_mut_ptr(), out.len(), 2) };
    assert_eq!(rc, LIVESTAGE_ERR_STATE);
    assert!(last_error().contains("output device"), "{}", last_error());
    assert_eq!(livestage_engine_free(engine), LIVESTAGE_OK);
}

#[test]
fn engine_settings_out_of_range_are_refused() {
    for (rate, channels, flags) in [(1_000, 2, 0), (48_000, 3, 0), (48_000, 2, 8)] {
        assert_eq!(
            livestage_engine_new(rate, channels, flags),
            i64::from(LIVESTAGE_ERR_ARGUMENT)
        );
    }
    assert!(last_error().contains("flags"), "{}", last_error());
}

#[test]
fn a_joined_channel_takes_requests_and_refuses_bad_ones_and_nothing_after_leaving() {
    let engine = livestage_engine_new(44_100, 2, 0);
    let server = c"127.0.0.1:9";
    let lobby = c"lobby";
    // SAFETY (every call below): literal C strings, valid buffers, or deliberate nulls that
    // the ABI must refuse.
    unsafe {
        let join = |server: *const c_char, cert: *const c_char, token: *const c_char, role| {
            livestage_join(engine, server, cert, token, null(), role, null())
        };
        assert_eq!(
            join(null(), PIN.as_ptr(), TOKEN.as_ptr(), 0),
            LIVESTAGE_ERR_NULL
        );
        assert!(last_error().contains("`server`"), "{}", last_error());
        let bad = [
            (c"nowhere".as_ptr(), PIN.as_ptr(), TOKEN.as_ptr()),
            (
                server.as_ptr(),
                c"not a certificate".as_ptr(),
                TOKEN.as_ptr(),
            ),
            (server.as_ptr(), c"sha256:beef".as_ptr(), TOKEN.as_ptr()),
            (server.as_ptr(), PIN.as_ptr(), c"not-a-token".as_ptr()),
        ];
        for (server, cert, token) in bad {
            assert_eq!(join(server, cert, token, 0), LIVESTAGE_ERR_ARGUMENT);
        }
        assert_eq!(
            join(server.as_ptr(), PIN.as_ptr(), TOKEN.as_ptr(), 5),
            LIVESTAGE_ERR_ARGUMENT
        );
        assert_eq!(
            livestage_video_publish(engine, lobby.as_ptr(), 64, 64, 30.0, 0),
            LIVESTAGE_ERR_NOT_JOINED
        );

        // The token names the channel.
        assert_eq!(
            join(
                server.as_ptr(),
                PIN.as_ptr(),
                TOKEN.as_ptr(),
                LIVESTAGE_ROLE_HOST
            ),
            0
        );
        wait_event(engine, Duration::from_secs(2), |e| {
            e.contains(r#""state":"connecting""#) && e.contains(r#""channel":"lobby""#)
        });

        // Requests are queued; bad ones are refused here.
        assert_eq!(
            livestage_send_data(
                engine,
                lobby.as_ptr(),
                b"hi".as_ptr(),
                2,
                c"bob,cy".as_ptr()
            ),
            0
        );
        assert_eq!(
            livestage_send_data(engine, lobby.as_ptr(), null(), 2, null()),
            LIVESTAGE_ERR_NULL
        );
        assert_eq!(
            livestage_send_data(
                engine,
                lobby.as_ptr(),
                b"x".as_ptr(),
                1,
                c"bad name".as_ptr()
            ),
            LIVESTAGE_ERR_ARGUMENT
        );
        assert_eq!(
            livestage_mute(
                engine,
                lobby.as_ptr(),
                c"bob".as_ptr(),
                1,
                LIVESTAGE_MUTE_KEEP
            ),
            0
        );
        assert_eq!(
            livestage_mute(engine, lobby.as_ptr(), c"bob".as_ptr(), 2, 0),
            LIVESTAGE_ERR_ARGUMENT
        );
        assert_eq!(
            livestage_set_hearing(engine, lobby.as_ptr(), c"bob".as_ptr(), c"ann".as_ptr()),
            0
        );
        assert_eq!(livestage_raise_hand(engine, lobby.as_ptr(), 1), 0);
        assert_eq!(livestage_raise_hand(engine, lobby.as_ptr(), 0), 0);
        assert_eq!(
            livestage_raise_hand(engine, lobby.as_ptr(), 2),
            LIVESTAGE_ERR_ARGUMENT
        );
        assert!(last_error().contains("`raised`"), "{}", last_error());
        assert_eq!(livestage_raise_hand(engine, null(), 1), LIVESTAGE_ERR_NULL);
        assert_eq!(
            livestage_raise_hand(engine, c"elsewhere".as_ptr(), 1),
            LIVESTAGE_ERR_NOT_JOINED
        );
        assert_eq!(
            livestage_raise_hand(i64::MAX, lobby.as_ptr(), 1),
            LIVESTAGE_ERR_HANDLE
        );
        assert_eq!(
            livestage_subscribe(engine, lobby.as_ptr(), c"bob".as_ptr(), 1, 9),
            LIVESTAGE_ERR_ARGUMENT
        );
        let mut frame = LivestageFrame::default();
        let rc = livestage_video_frame(
            engine,
            lobby.as_ptr(),
            c"bob".as_ptr(),
            0,
            0,
            null_mut(),
            0,
            &mut frame,
        );
        assert_eq!(rc, LIVESTAGE_ERR_NOT_FOUND);
        let invalid_utf8 = [0xc3u8, 0x28, 0];
        assert_eq!(
            livestage_kick(engine, lobby.as_ptr(), invalid_utf8.as_ptr().cast()),
            LIVESTAGE_ERR_ARGUMENT
        );
        assert!(last_error().contains("UTF-8"), "{}", last_error());

        // Video: pushed frames must match the published size.
        let pixels = vec![0u8; 64 * 48 * 4];
        let push = |w, h, len| {
            livestage_video_push(
                engine,
                lobby.as_ptr(),
                pixels.as_ptr(),
                len,
                w,
                h,
                LIVESTAGE_FLIP_Y,
            )
        };
        assert_eq!(push(64, 48, pixels.len()), LIVESTAGE_ERR_NOT_PUBLISHING);
        assert_eq!(
            livestage_video_publish(engine, lobby.as_ptr(), 63, 48, 30.0, 0),
            LIVESTAGE_ERR_ARGUMENT
        );
        assert_eq!(
            livestage_video_publish(engine, lobby.as_ptr(), 64, 48, 0.0, 0),
            LIVESTAGE_ERR_ARGUMENT
        );
        assert_eq!(
            livestage_video_publish(engine, lobby.as_ptr(), 64, 48, 30.0, 0),
            0
        );
        assert_eq!(push(64, 48, pixels.len()), 0);
        assert_eq!(push(64, 48, pixels.len() - 4), LIVESTAGE_ERR_ARGUMENT);
        assert_eq!(push(32, 96, pixels.len()), LIVESTAGE_ERR_ARGUMENT);
        assert!(
            last_error().contains("set up for 64x48"),
            "{}",
            last_error()
        );

        // Video tracks: ids below 16, video sources only, at most 4, pushes to what is there.
        let publish_track = |track, source| {
            livestage_video_publish_track(engine, lobby.as_ptr(), track, source, 64, 48, 30.0, 0)
        };
        assert_eq!(
            publish_track(16, LIVESTAGE_SOURCE_CUSTOM),
            LIVESTAGE_ERR_ARGUMENT
        );
        assert!(
            last_error().contains("track ids are 0 to 15"),
            "{}",
            last_error()
        );
        for source in [LIVESTAGE_SOURCE_MICROPHONE, LIVESTAGE_SOURCE_MUSIC, 9] {
            assert_eq!(publish_track(3, source), LIVESTAGE_ERR_ARGUMENT);
            assert!(last_error().contains("video track is"), "{}", last_error());
        }
        let push_track = |track| {
            livestage_video_push_track(
                engine,
                lobby.as_ptr(),
                track,
                pixels.as_ptr(),
                pixels.len(),
                64,
                48,
                0,
            )
        };
        assert_eq!(push_track(3), LIVESTAGE_ERR_NOT_PUBLISHING);
        assert!(
            last_error().contains("livestage_video_publish_track"),
            "{}",
            last_error()
        );
        assert_eq!(push_track(200), LIVESTAGE_ERR_ARGUMENT);
        for track in [3, 4, 5] {
            assert_eq!(
                publish_track(track, LIVESTAGE_SOURCE_CUSTOM),
                0,
                "{}",
                last_error()
            );
        }
        assert_eq!(push_track(3), 0);
        assert_eq!(
            publish_track(6, LIVESTAGE_SOURCE_SCREEN),
            LIVESTAGE_ERR_ARGUMENT
        );
        assert!(last_error().contains("4 video tracks"), "{}", last_error());
        assert_eq!(
            publish_track(5, LIVESTAGE_SOURCE_SCREEN),
            0,
            "a track is replaced"
        );
        for track in [4, 5] {
            assert_eq!(
                livestage_video_unpublish_track(engine, lobby.as_ptr(), track),
                0
            );
        }
        assert_eq!(
            livestage_video_unpublish_track(engine, lobby.as_ptr(), 4),
            LIVESTAGE_ERR_NOT_PUBLISHING
        );
        assert_eq!(
            livestage_video_frame_track(
                engine,
                lobby.as_ptr(),
                c"bob".as_ptr(),
                16,
                0,
                0,
                null_mut(),
                0,
                &mut frame,
            ),
            LIVESTAGE_ERR_ARGUMENT
        );
        let mut stats = LivestageStats::default();
        assert_eq!(
            livestage_stats_track(engine, lobby.as_ptr(), c"bob".as_ptr(), 0, &mut stats),
            LIVESTAGE_ERR_NOT_FOUND
        );

        // Screen sharing: bad targets are refused before capture is tried.
        let share = |target, width, fps| {
            livestage_screen_share(engine, lobby.as_ptr(), target, 0, 0, 0, width, 16, fps)
        };
        assert_eq!(share(7, 0, 15.0), LIVESTAGE_ERR_ARGUMENT);
        assert_eq!(
            share(LIVESTAGE_SCREEN_REGION, 0, 15.0),
            LIVESTAGE_ERR_ARGUMENT
        );
        assert_eq!(
            share(LIVESTAGE_SCREEN_DISPLAY, 0, 0.0),
            LIVESTAGE_ERR_ARGUMENT
        );
        assert_eq!(
            livestage_screen_stop(engine, lobby.as_ptr()),
            LIVESTAGE_ERR_NOT_PUBLISHING
        );
        if std::env::var_os("DISPLAY").is_none() {
            assert_eq!(
                share(LIVESTAGE_SCREEN_DISPLAY, 0, 15.0),
                LIVESTAGE_ERR_UNAVAILABLE
            );
            assert!(last_error().contains("unavailable"), "{}", last_error());
            let mut json = [0 as c_char; 64];
            assert_eq!(
                livestage_screens(json.as_mut_ptr(), json.len()),
                LIVESTAGE_ERR_UNAVAILABLE
            );
        }

        // Voice: 44.1 kHz stereo is resampled; half a frame is refused.
        assert_eq!(
            livestage_audio_publish(engine, lobby.as_ptr(), 44_100, 2),
            0
        );
        assert_eq!(
            publish_track(1, LIVESTAGE_SOURCE_CUSTOM),
            LIVESTAGE_ERR_ARGUMENT,
            "the microphone's id"
        );
        assert!(last_error().contains("microphone"), "{}", last_error());
        let samples = vec![0.1f32; 2 * 441];
        assert_eq!(
            livestage_audio_push(engine, lobby.as_ptr(), samples.as_ptr(), samples.len()),
            0
        );
        assert_eq!(
            livestage_audio_push(engine, lobby.as_ptr(), samples.as_ptr(), 3),
            LIVESTAGE_ERR_ARGUMENT
        );
        assert_eq!(livestage_audio_unpublish(engine, lobby.as_ptr()), 0);
        assert_eq!(
            livestage_audio_unpublish(engine, lobby.as_ptr()),
            LIVESTAGE_ERR_NOT_PUBLISHING
        );

        // Leaving ends it all: publishers stop, later calls are refused.
        assert_eq!(livestage_leave(engine, lobby.as_ptr()), 0);
        // Never connected: the link gives up after its 5 s connect timeout.
        wait_event(engine, Duration::from_secs(12), |e| {
            e.contains(r#""state":"disconnected""#)
        });
        assert_eq!(push(64, 48, pixels.len()), LIVESTAGE_ERR_NOT_JOINED);
        assert_eq!(
            livestage_set_role(engine, lobby.as_ptr(), 0),
            LIVESTAGE_ERR_NOT_JOINED
        );
        assert_eq!(
            livestage_raise_hand(engine, lobby.as_ptr(), 1),
            LIVESTAGE_ERR_NOT_JOINED
        );
        assert_eq!(
            livestage_leave(engine, lobby.as_ptr()),
            LIVESTAGE_ERR_NOT_JOINED
        );
        assert!(
            last_error().contains("not joined to channel \"lobby\""),
            "{}",
            last_error()
        );
    }
    assert_eq!(livestage_engine_free(engine), LIVESTAGE_OK);
    // SAFETY: a literal C string.
    let rc = unsafe { livestage_raise_hand(engine, c"lobby".as_ptr(), 1) };
    assert_eq!(rc, LIVESTAGE_ERR_HANDLE, "a freed handle");
}

#[test]
fn a_small_event_buffer_is_told_the_size_and_the_event_is_kept() {
    let engine = livestage_engine_new(48_000, 1, 0);
    // SAFETY: literal C strings.
    let rc = unsafe {
        livestage_join(
            engine,
            c"127.0.0.1:9".as_ptr(),
            PIN.as_ptr(),
            TOKEN.as_ptr(),
            c"other".as_ptr(),
            0,
            null(),
        )
    };
    assert_eq!(rc, 0, "{}", last_error());
    let mut size = 0usize;
    let end = Instant::now() + Duration::from_secs(2);
    let mut rc = 0;
    while rc == 0 && Instant::now() < end {
        // SAFETY: a null buffer asks for the size.
        rc = unsafe { livestage_poll_event(engine, null_mut(), 0, &mut size) };
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(rc, LIVESTAGE_ERR_BUFFER_TOO_SMALL);
    let mut buf = vec![0 as c_char; size];
    // SAFETY: the buffer holds `size` bytes.
    let rc = unsafe { livestage_poll_event(engine, buf.as_mut_ptr(), buf.len(), &mut size) };
    assert_eq!(rc, 1);
    // SAFETY: NUL-terminated.
    let json = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap();
    assert!(json.contains(r#""channel":"other""#), "{json}");
    let channel = CString::new("other").unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { livestage_leave(engine, channel.as_ptr()) }, 0);
    assert_eq!(livestage_engine_free(engine), LIVESTAGE_OK);
}
