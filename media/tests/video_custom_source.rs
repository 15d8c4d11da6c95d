//! The custom source: frames pushed from other threads arrive converted, the newest wins, and
//! pushing never blocks, even when nobody takes the frames.
#![allow(clippy::unwrap_used)]

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use livestage_media::video::{CustomSource, I420, Rgba};

const WIDTH: u32 = 64;
const HEIGHT: u32 = 32;

/// An RGBA frame of one grey level.
fn grey(level: u8) -> Rgba {
    let data = [level, level, level, 255].repeat((WIDTH * HEIGHT) as usize);
    Rgba::from_data(WIDTH, HEIGHT, data).unwrap()
}

#[test]
fn a_frame_pushed_from_another_thread_arrives_as_i420() {
    let (mut source, sender) = CustomSource::new(WIDTH, HEIGHT).unwrap();
    thread::spawn(move || sender.push_rgba(grey(255), 42).unwrap())
        .join()
        .unwrap();
    let (frame, capture_us) = source.latest().unwrap();
    assert_eq!((frame.size(), capture_us), ((WIDTH, HEIGHT), 42));
    // White is luma 235 in BT.601 limited range; grey has neutral chroma.
    assert!(frame.y().iter().all(|&y| y.abs_diff(235) <= 1));
    assert!(
        frame
            .u()
            .iter()
            .chain(frame.v())
            .all(|&c| c.abs_diff(128) <= 1)
    );
    assert!(source.latest().is_none(), "a frame is handed out once");
}

#[test]
fn the_newest_frame_wins() {
    let (mut source, sender) = CustomSource::new(WIDTH, HEIGHT).unwrap();
    for n in 0..10u8 {
        sender.push_rgba(grey(n * 20), u64::from(n)).unwrap();
    }
    let (frame, capture_us) = source.latest().unwrap();
    assert_eq!(capture_us, 9);
    let expected = livestage_media::video::convert::rgba_to_i420(&grey(180));
    assert_eq!(frame.y(), expected.y());
    assert!(source.latest().is_none());
}

#[test]
fn pushing_never_blocks_when_nobody_reads() {
    let (source, sender) = CustomSource::new(WIDTH, HEIGHT).unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    let pushers: Vec<_> = (0..4)
        .map(|t| {
            let sender = sender.clone();
            let done_tx = done_tx.clone();
            thread::spawn(move || {
                for n in 0..1_000u64 {
                    sender
                        .push_i420(I420::new(WIDTH, HEIGHT).unwrap(), t * 10_000 + n)
                        .unwrap();
                }
                done_tx.send(()).unwrap();
            })
        })
        .collect();
    for _ in 0..4 {
        done_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("4,000 pushes with no reader finished without blocking");
    }
    for pusher in pushers {
        pusher.join().unwrap();
    }
    drop(source);
    assert!(sender.is_closed());
    // Pushing to a closed source is not an error; the frame is dropped.
    sender
        .push_i420(I420::new(WIDTH, HEIGHT).unwrap(), 0)
        .unwrap();
}

#[test]
fn a_reader_racing_a_pusher_sees_rising_timestamps_and_the_last_frame() {
    let (mut source, sender) = CustomSource::new(WIDTH, HEIGHT).unwrap();
    const LAST: u64 = 2_000;
    let pusher = thread::spawn(move || {
        for n in 1..=LAST {
            sender
                .push_i420(I420::new(WIDTH, HEIGHT).unwrap(), n)
                .unwrap();
        }
    });
    let mut seen = Vec::new();
    loop {
        if let Some((_, capture_us)) = source.latest() {
            seen.push(capture_us);
            if capture_us == LAST {
                break;
            }
        }
        if pusher.is_finished() && seen.last() != Some(&LAST) {
            // The pusher is done: the last frame must be waiting now.
            seen.push(source.latest().expect("the last frame is kept").1);
            break;
        }
        thread::yield_now();
    }
    pusher.join().unwrap();
    assert_eq!(seen.last(), Some(&LAST));
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "timestamps went backwards: {seen:?}"
    );
}
