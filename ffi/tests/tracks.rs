//! Video tracks through the C ABI, against an in-process server: a host engine publishes its
//! camera and a second, custom video track of pushed frames; a viewer engine sees both in the
//! participant's `tracks`, fetches each track's pictures on its own (colours intact, so they
//! are not mixed up), counts them per track, and is told when the second track goes.
// Calling a C ABI from Rust takes unsafe blocks; each says why its pointers are valid.
#![allow(unsafe_code, clippy::unwrap_used)]

mod common;

use std::ffi::CStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{HOST, join_engine, last_error, wait_event};
use livestage_ffi::*;
use livestage_server::{Config, Embedded};

const SIZE: (u32, u32) = (160, 120);

fn join(server: &Embedded, user: &str, grants: &str, role: i32) -> i64 {
    join_engine(server, user, grants, role, 2).0
}

/// A solid RGBA frame of `SIZE`.
fn solid(rgb: [u8; 3]) -> Vec<u8> {
    [rgb[0], rgb[1], rgb[2], 255].repeat((SIZE.0 * SIZE.1) as usize)
}

/// The newest picture of `track` as (seq, centre pixel), fetching into `buf`.
fn fetch(
    engine: i64,
    user: &CStr,
    track: u8,
    last: u64,
    buf: &mut Vec<u8>,
) -> Option<(u64, [u8; 3])> {
    let mut frame = LivestageFrame::default();
    // SAFETY: literal C strings, `buf` valid for its length, `frame` valid.
    let rc = unsafe {
        livestage_video_frame_track(
            engine,
            c"show".as_ptr(),
            user.as_ptr(),
            track,
            last,
            0,
            buf.as_mut_ptr(),
            buf.len(),
            &mut frame,
        )
    };
    assert!(rc >= 0, "track {track}: {}", last_error());
    if rc == 0 {
        return None;
    }
    assert_eq!((frame.width, frame.height), SIZE);
    let centre = ((SIZE.1 / 2 * SIZE.0 + SIZE.0 / 2) * 4) as usize;
    Some((frame.seq, [buf[centre], buf[centre + 1], buf[centre + 2]]))
}

fn stats(engine: i64, user: &CStr, track: Option<u8>) -> LivestageStats {
    let mut out = LivestageStats::default();
    // SAFETY: literal C strings and a valid `out`.
    let rc = unsafe {
        match track {
            Some(t) => livestage_stats_track(engine, c"show".as_ptr(), user.as_ptr(), t, &mut out),
            None => livestage_stats(engine, c"show".as_ptr(), user.as_ptr(), &mut out),
        }
    };
    assert!(rc >= 0, "{}", last_error());
    out
}

#[test]
fn a_second_video_track_is_published_and_received_on_its_own() {
    let server = Embedded::start(Config::default()).unwrap();
    let host = join(&server, "cam", HOST, LIVESTAGE_ROLE_HOST);
    let viewer = join(&server, "viewer", "join", LIVESTAGE_ROLE_AUDIENCE);
    let show = c"show";
    let (w, h) = SIZE;
    // SAFETY (the calls below): literal C strings.
    unsafe {
        assert_eq!(
            livestage_video_publish(host, show.as_ptr(), w, h, 30.0, 0),
            0
        );
        let rc = livestage_video_publish_track(
            host,
            show.as_ptr(),
            5,
            LIVESTAGE_SOURCE_CUSTOM,
            w,
            h,
            30.0,
            0,
        );
        assert_eq!(rc, 0, "{}", last_error());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let pusher = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (red, blue) = (solid([220, 30, 30]), solid([30, 30, 220]));
            while !stop.load(Ordering::Relaxed) {
                // SAFETY: literal C strings; the frames are valid for their lengths.
                unsafe {
                    let camera = livestage_video_push(
                        host,
                        c"show".as_ptr(),
                        red.as_ptr(),
                        red.len(),
                        w,
                        h,
                        0,
                    );
                    assert_eq!(camera, 0, "{}", last_error());
                    let custom = livestage_video_push_track(
                        host,
                        c"show".as_ptr(),
                        5,
                        blue.as_ptr(),
                        blue.len(),
                        w,
                        h,
                        LIVESTAGE_FLIP_Y,
                    );
                    assert_eq!(custom, 0, "{}", last_error());
                }
                std::thread::sleep(Duration::from_millis(33));
            }
        })
    };

    // The viewer learns of both tracks through the roster.
    let cam = c"cam";
    let event = wait_event(viewer, Duration::from_secs(10), |e| {
        e["type"] == "participant"
            && e["participant"]["user"] == "cam"
            && e["participant"]["tracks"].as_array().unwrap().len() == 2
    });
    let tracks = event["participant"]["tracks"].as_array().unwrap();
    let custom = tracks.iter().find(|t| t["id"] == 5).unwrap();
    assert_eq!(
        (custom["kind"].as_str(), custom["source"].as_str()),
        (Some("video"), Some("custom")),
        "{event:#}"
    );
    assert!(
        tracks
            .iter()
            .any(|t| t["id"] == 0 && t["source"] == "camera"),
        "{event:#}"
    );

    // Each track's pictures are fetched on their own, with their own counters.
    let mut buf = vec![0u8; (w * h * 4) as usize];
    let (mut seq_camera, mut seq_custom) = (0, 0);
    let (mut camera_frames, mut custom_frames) = (0, 0);
    let end = Instant::now() + Duration::from_secs(15);
    while (camera_frames < 10 || custom_frames < 10) && Instant::now() < end {
        if let Some((seq, [r, _, b])) = fetch(viewer, cam, 0, seq_camera, &mut buf) {
            assert!(r > 150 && b < 100, "the camera is red, not ({r}, _, {b})");
            (seq_camera, camera_frames) = (seq, camera_frames + 1);
        }
        if let Some((seq, [r, _, b])) = fetch(viewer, cam, 5, seq_custom, &mut buf) {
            assert!(b > 150 && r < 100, "track 5 is blue, not ({r}, _, {b})");
            (seq_custom, custom_frames) = (seq, custom_frames + 1);
        }
        std::thread::sleep(Duration::from_millis(15));
    }
    assert!(
        camera_frames >= 10 && custom_frames >= 10,
        "camera {camera_frames}, track 5 {custom_frames}"
    );
    assert_eq!(
        fetch(viewer, cam, 3, 0, &mut buf),
        None,
        "nothing on a track not published"
    );
    let (camera, custom, all) = (
        stats(viewer, cam, Some(0)),
        stats(viewer, cam, Some(5)),
        stats(viewer, cam, None),
    );
    assert!(custom.video_frames >= 10, "{custom:?}");
    assert!(
        all.video_frames >= camera.video_frames + custom.video_frames,
        "{all:?}"
    );

    stop.store(true, Ordering::Relaxed);
    pusher.join().unwrap();

    // Unpublishing the second track tells the viewer.
    // SAFETY: a literal C string.
    assert_eq!(
        unsafe { livestage_video_unpublish_track(host, show.as_ptr(), 5) },
        0
    );
    let gone = wait_event(viewer, Duration::from_secs(5), |e| {
        e["type"] == "track_unpublished"
    });
    assert_eq!(
        (gone["user"].as_str(), gone["track"].as_u64()),
        (Some("cam"), Some(5))
    );
    // SAFETY: a literal C string.
    let rc = unsafe { livestage_video_unpublish_track(host, show.as_ptr(), 5) };
    assert_eq!(rc, LIVESTAGE_ERR_NOT_PUBLISHING);
    assert_eq!(livestage_engine_free(viewer), LIVESTAGE_OK);
    assert_eq!(livestage_engine_free(host), LIVESTAGE_OK);
}
