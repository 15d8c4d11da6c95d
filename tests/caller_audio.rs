//! Audio owned by the app, as a game engine does it: the host pushes its microphone (a 440 Hz
//! tone at 24 kHz stereo, in uneven chunks) through a custom audio source, and the viewer's
//! playout hands its mixed voice to the caller in 20 ms frames of the caller's format (48 kHz
//! stereo) instead of playing it on a device.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use livestage::net::playout::{Config, Playout};
use livestage::net::publish::{AudioSource, CustomAudio, Publisher};
use livestage::proto::wire::Role;
use livestage::server::Config as ServerConfig;
use livestage_media::audio::{Format, Level, Tone, dominant_frequency, format::to_mono};

#[test]
fn pushed_voice_reaches_a_caller_that_plays_the_mix_itself() {
    let server = server(ServerConfig::default());
    let host = Arc::new(join(&server, server.addr, "host", HOST, Role::Host));
    let (viewer, _) = join_watching(&server, "viewer", "join", Role::Audience, "host");
    let (voice_tx, voice) = crossbeam_channel::unbounded();
    let playout = Playout::start(
        Arc::new(viewer),
        Config {
            format: Format::STEREO_48K,
            voice: Some(voice_tx),
            ..Config::default()
        },
    )
    .unwrap();
    assert!(
        matches!(playout.backend(), livestage_media::audio::Backend::Null(_)),
        "no device is opened for a caller that takes the voice"
    );

    let pushed = Format::new(24_000, 2).unwrap();
    let (source, mut sender) = CustomAudio::new(pushed).unwrap();
    let publisher = Publisher::start(
        host.clone(),
        CHANNEL,
        None,
        Some(AudioSource::Custom(source)),
    )
    .unwrap();
    let mut tone = Tone::new(pushed, 440.0, 0.5).unwrap();
    // 1.5 s of tone in 700-sample chunks (350 stereo frames, not a multiple of 20 ms).
    let mut chunk = vec![0.0f32; 700];
    let start = Instant::now();
    let mut sent = 0usize;
    while sent < 24_000 * 2 * 3 / 2 {
        tone.fill(&mut chunk);
        sender.push(&chunk);
        sent += chunk.len();
        let due = Duration::from_secs_f64(sent as f64 / (24_000.0 * 2.0));
        std::thread::sleep(due.saturating_sub(start.elapsed()));
    }
    std::thread::sleep(Duration::from_millis(300));
    let frames_sent = publisher.audio_frames.load(Ordering::Relaxed);
    publisher.stop().unwrap();
    assert_eq!(frames_sent, 75, "every whole 20 ms pushed is encoded once");

    let mut left = Vec::new();
    for frame in voice.try_iter() {
        assert_eq!(
            frame.len(),
            Format::STEREO_48K.frame_len(),
            "20 ms of 48 kHz stereo"
        );
        assert!(
            frame.chunks(2).all(|lr| lr[0] == lr[1]),
            "mono voice on both sides"
        );
        if Level::measure(&frame).dbfs > -30.0 {
            left.extend(to_mono(&frame, 2));
        }
    }
    assert!(
        left.len() >= 48_000,
        "at least 1 s of audible voice, got {}",
        left.len()
    );
    let hz = dominant_frequency(&left, 48_000).unwrap();
    assert!((hz - 440.0).abs() < 5.0, "the pushed tone arrives: {hz} Hz");
}
