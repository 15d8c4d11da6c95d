//! Without a sound card, playback and capture fall back to null devices that run at real
//! time; the null devices can also be asked for directly.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use livestage_media::audio::{Backend, Capture, Format, Playback};

const FORMAT: Format = Format::MONO_48K;

/// Reads 10 frames (200 ms of audio) and returns them with the time it took.
fn read_ten_frames(capture: &mut Capture) -> (Vec<Vec<f32>>, Duration) {
    let start = Instant::now();
    let frames: Vec<Vec<f32>> = (0..10)
        .map(|i| {
            let frame = capture.reader().read_timeout(Duration::from_secs(1));
            frame
                .unwrap_or_else(|| panic!("frame {i} did not arrive"))
                .to_vec()
        })
        .collect();
    (frames, start.elapsed())
}

#[test]
fn device_handles_can_move_to_another_thread() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Playback>();
    shareable::<Capture>();
}

#[test]
fn opening_the_default_devices_never_fails() {
    let playback = Playback::open(FORMAT).unwrap();
    let capture = Capture::open(FORMAT).unwrap();
    eprintln!(
        "playback: {:?}, capture: {:?}",
        playback.backend(),
        capture.backend()
    );
    // On a machine without a sound card (CI, this workspace's machine) both are null, and
    // say why.
    for backend in [playback.backend(), capture.backend()] {
        match backend {
            Backend::Null(reason) => assert!(!reason.is_empty()),
            Backend::Device(name) => assert!(!name.is_empty()),
        }
    }
    assert!(
        Playback::open(Format {
            sample_rate: 44_100,
            channels: 1
        })
        .is_err()
    );
    assert!(
        Capture::open(Format {
            sample_rate: 48_000,
            channels: 0
        })
        .is_err()
    );
}

#[test]
fn capture_yields_frames_at_real_time() {
    for open in [Capture::open, Capture::null] {
        let mut capture = open(FORMAT).unwrap();
        let (frames, elapsed) = read_ten_frames(&mut capture);
        assert!(
            elapsed >= Duration::from_millis(120) && elapsed <= Duration::from_millis(800),
            "10 frames took {elapsed:?} on {:?}",
            capture.backend()
        );
        assert!(frames.iter().all(|f| f.len() == FORMAT.frame_len()));
        if capture.is_null() {
            assert!(
                frames.iter().flatten().all(|&s| s == 0.0),
                "the null source is silent"
            );
        }
        assert!(capture.stats().frames >= 10);
    }
}

#[test]
fn playback_accepts_writes_and_plays_them_at_real_time() {
    for open in [Playback::open, Playback::null] {
        let mut playback = open(FORMAT).unwrap();
        let backend = playback.backend().clone();
        let before = playback.stats().frames;
        let start = Instant::now();
        // 100 ms of audio in odd-sized writes: they are gathered into whole frames.
        let audio = vec![0.25; 5 * FORMAT.frame_len()];
        for chunk in audio.chunks(700) {
            playback.writer().write(chunk);
        }
        assert!(playback.writer().queued_frames() <= 5);
        while playback.stats().frames < before + 5 {
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "{backend:?} stalled"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(60),
            "5 frames played in {elapsed:?}"
        );
        assert_eq!(playback.writer().queued_frames(), 0);
        assert_eq!(playback.stats().dropped, 0);
    }
}

#[test]
fn an_overflowing_playback_queue_stays_bounded_and_never_blocks() {
    let mut playback = Playback::null(FORMAT).unwrap();
    let start = Instant::now();
    for _ in 0..40 {
        playback.writer().write(&vec![0.5; FORMAT.frame_len()]);
    }
    // Writing never blocks, and the queue stays bounded (the oldest frames are dropped;
    // `queue`'s unit tests check which).
    assert!(
        start.elapsed() < Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
    let queued = playback.writer().queued_frames();
    assert!((5..=10).contains(&queued), "{queued} frames queued");
    assert!(playback.stats().dropped >= 20, "{:?}", playback.stats());
}

#[test]
fn dropping_a_device_stops_it_promptly() {
    let playback = Playback::null(FORMAT).unwrap();
    let capture = Capture::null(FORMAT).unwrap();
    std::thread::sleep(Duration::from_millis(30));
    let start = Instant::now();
    drop(playback);
    drop(capture);
    assert!(
        start.elapsed() < Duration::from_millis(200),
        "{:?}",
        start.elapsed()
    );
}
