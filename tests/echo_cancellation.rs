//! Echo cancellation end to end: `me` hears `far` (speech-like voice pushed by the test)
//! through its playout, a synthetic room feeds what the playout plays back into `me`'s
//! microphone 60 ms later at -10 dB, and a viewer hears what `me` publishes. With the echo
//! reference wired from `me`'s playout to its publisher, the echo the viewer hears is at least
//! 20 dB below the echo that went into the microphone, while `me`'s own voice (a 440 Hz tone in
//! double talk) passes within 3 dB.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../media/tests/voice/mod.rs"]
mod voice;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use livestage::net::playout::{Config, Playout};
use livestage::net::publish::{Audio, AudioSource, CustomAudio, Publisher};
use livestage::proto::wire::Role;
use livestage::server::Config as ServerConfig;
use livestage_media::audio::processing::Settings;
use livestage_media::audio::{Format, Tone};
use voice::{Room, Talker, db, power, tone_power};

/// Frames heard, each with when it arrived.
type Heard = Vec<(Instant, Vec<f32>)>;

fn window(heard: &Heard, from: Instant, to: Instant) -> Vec<f32> {
    heard
        .iter()
        .filter(|(at, _)| *at >= from && *at < to)
        .flat_map(|(_, f)| f.iter().copied())
        .collect()
}

#[test]
fn the_viewer_hears_the_voice_without_the_room_echo() {
    let server = server(ServerConfig::default());
    let far = Arc::new(join(&server, server.addr, "far", HOST, Role::Host));
    let (me, _) = join_watching(&server, "me", HOST, Role::Host, "far");
    let me = Arc::new(me);
    let (viewer, _) = join_watching(&server, "viewer", "join", Role::Audience, "me");
    // The viewer listens to `me` only.
    viewer.subscribe(CHANNEL, "far", false, None);

    // `far` talks (speech-like, paced in real time).
    let (far_source, mut far_voice) = CustomAudio::new(Format::MONO_48K).unwrap();
    let _far_publisher = Publisher::start(
        far.clone(),
        CHANNEL,
        None,
        Some(AudioSource::Custom(far_source)),
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let talking = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut talker = Talker::new(7, 0.5);
            let mut frame = vec![0.0f32; 960];
            let start = Instant::now();
            for n in 1u32.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                talker.fill(&mut frame);
                far_voice.push(&frame);
                std::thread::sleep(
                    (start + Duration::from_millis(20) * n)
                        .saturating_duration_since(Instant::now()),
                );
            }
        })
    };

    // `me` plays what arrives (to the test, which is the room) and publishes its microphone
    // with echo cancellation fed by that playout.
    let (played_tx, played) = crossbeam_channel::unbounded();
    let my_playout = Playout::start(
        me.clone(),
        Config {
            format: Format::MONO_48K,
            voice: Some(played_tx),
            ..Config::default()
        },
    )
    .unwrap();
    let (mic_source, mut mic) = CustomAudio::new(Format::MONO_48K).unwrap();
    let audio = Audio {
        processing: Settings {
            echo_cancellation: true,
            ..Settings::OFF
        },
        echo: Some(my_playout.echo_reference()),
        ..Audio::new(AudioSource::Custom(mic_source))
    };
    let _my_publisher = Publisher::start_with(me.clone(), CHANNEL, None, Some(audio)).unwrap();

    let (heard_tx, heard_rx) = crossbeam_channel::unbounded();
    let _viewer_playout = Playout::start(
        Arc::new(viewer),
        Config {
            format: Format::MONO_48K,
            voice: Some(heard_tx),
            ..Config::default()
        },
    )
    .unwrap();

    // The room, driven by the playout's clock: each frame played comes back as echo, plus the
    // near-end voice (a 440 Hz tone) from 8 s to 10 s.
    let start = Instant::now();
    let near_from = start + Duration::from_secs(8);
    let mut room = Room::new(60, 10f32.powf(-10.0 / 20.0), 3);
    let mut near = Tone::new(Format::MONO_48K, 440.0, 0.1).unwrap();
    let mut echo = vec![0.0f32; 960];
    let mut echoes: Heard = Vec::new();
    let mut heard: Heard = Vec::new();
    while start.elapsed() < Duration::from_secs(10) {
        let Ok(frame) = played.recv_timeout(Duration::from_secs(1)) else {
            continue;
        };
        room.play(&frame, &mut echo);
        let mut microphone = echo.clone();
        if Instant::now() >= near_from {
            for (m, n) in microphone.iter_mut().zip(near.next_frame()) {
                *m += n;
            }
        }
        echoes.push((Instant::now(), echo.clone()));
        mic.push(&microphone);
        heard.extend(heard_rx.try_iter().map(|f| (Instant::now(), f)));
    }
    stop.store(true, Ordering::Relaxed);
    talking.join().unwrap();

    // Converged (from 4 s) and before the near end speaks: the echo is gone.
    let (from, to) = (start + Duration::from_secs(4), near_from);
    let echo_in = power(&window(&echoes, from, to));
    let residual = power(&window(&heard, from + Duration::from_millis(300), to));
    let erle = db(echo_in / residual.max(1e-12));
    println!(
        "echo in {:.1} dB, heard {:.1} dB: {erle:.1} dB less",
        db(echo_in),
        db(residual)
    );
    assert!(echo_in > 1e-4, "the room echoed: {echo_in}");
    assert!(erle >= 20.0, "echo reduced by {erle:.1} dB only");

    // Double talk: the near-end voice passes.
    let talk = window(
        &heard,
        near_from + Duration::from_millis(500),
        start + Duration::from_secs(10),
    );
    let tone = tone_power(&talk[..talk.len() / 48_000 * 48_000], 440.0);
    let change = db(tone / 0.005);
    println!("near-end tone {change:+.1} dB");
    assert!(
        change.abs() <= 3.0,
        "the near-end voice changed by {change:+.1} dB"
    );
}
