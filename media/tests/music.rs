//! Music and effects through a LocalMix, as the publisher and the playout pull them: every
//! container decodes (through the 44.1 -> 48 kHz resampler), a URL streams from a loopback
//! server, loops, speed, pitch, seek, volumes, local-only, overlapping effects and the errors.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use livestage_media::audio::effects::EffectOptions;
use livestage_media::audio::music::{Loops, MusicError, MusicOptions, MusicState};
use livestage_media::audio::spectrum::{dominant_frequency, peaks};
use livestage_media::audio::{LocalMix, MixEvent};
use support::*;

const FAST: Duration = Duration::from_millis(2);

fn near(f: Option<f32>, hz: f32) -> bool {
    f.is_some_and(|f| (f - hz).abs() < hz * 0.02)
}

#[test]
fn every_container_plays_at_its_pitch_for_its_length() {
    let dir = tempfile::tempdir().unwrap();
    for ext in ["wav", "mp3", "flac", "ogg", "m4a"] {
        let file = fixture(dir.path(), ext, 660, 2.0);
        let mix = LocalMix::new();
        let mut tap = mix.publish_tap();
        mix.start_music(file.to_str().unwrap(), MusicOptions::default())
            .unwrap();
        let heard = pull(&mix, &mut tap, 300, FAST);
        let f = dominant_frequency(&heard.samples[48_000..72_000], 48_000);
        assert!(near(f, 660.0), "{ext}: {f:?}");
        // 2 s is 100 blocks; codecs pad a little (MP3 and AAC priming).
        let blocks = heard
            .until_completed
            .unwrap_or_else(|| panic!("{ext} never completed"));
        assert!(
            (99..=106).contains(&blocks),
            "{ext}: completed after {blocks} blocks"
        );
        assert!(
            heard.events.contains(&MixEvent::Music(MusicState::Playing)),
            "{ext}"
        );
        let duration = mix.with_music(|m| m.duration_ms()).flatten();
        assert!(
            duration.is_some_and(|d| d.abs_diff(2000) < 80),
            "{ext}: duration {duration:?}"
        );
    }
}

#[test]
fn a_url_streams_and_seeks_over_range_requests() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path(), "mp3", 660, 4.0);
    let base = serve(dir.path());
    let mix = LocalMix::new();
    let mut tap = mix.publish_tap();
    let url = format!("{base}/tone-660-4.mp3");
    mix.start_music(&url, MusicOptions::default()).unwrap();
    let heard = pull(&mix, &mut tap, 25, FAST);
    assert!(near(
        dominant_frequency(&heard.samples[9600..], 48_000),
        660.0
    ));
    mix.with_music(|m| m.seek(3000)).unwrap();
    let heard = pull(&mix, &mut tap, 300, FAST);
    let position_after_seek = heard.until_completed.unwrap();
    assert!(
        (45..=56).contains(&position_after_seek),
        "the last second took {position_after_seek} blocks"
    );

    // A missing URL fails with its reason, as an event.
    mix.start_music(&format!("{base}/nothing.mp3"), MusicOptions::default())
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let events = mix.poll_events();
    assert!(
        events.iter().any(|e| matches!(
            e,
            MixEvent::Music(MusicState::Failed(MusicError::NotFound(_)))
        )),
        "{events:?}"
    );
}

#[test]
fn loops_speed_and_pitch() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixture(dir.path(), "wav", 660, 1.0);
    let path = file.to_str().unwrap();

    // Completed arrives after exactly three loops.
    let mix = LocalMix::new();
    let mut tap = mix.publish_tap();
    let three = MusicOptions {
        loops: Loops::Count(3),
        ..Default::default()
    };
    mix.start_music(path, three).unwrap();
    let heard = pull(&mix, &mut tap, 400, FAST);
    assert_eq!(heard.until_completed, Some(150), "three 1 s loops");

    // Twice the speed: a 4 s file in about 2 s.
    let file4 = fixture(dir.path(), "wav", 660, 4.0);
    let fast = MusicOptions {
        speed: 2.0,
        ..Default::default()
    };
    mix.start_music(file4.to_str().unwrap(), fast).unwrap();
    let heard = pull(&mix, &mut tap, 400, FAST);
    let blocks = heard.until_completed.unwrap();
    assert!(
        (98..=106).contains(&blocks),
        "4 s at 2x took {blocks} blocks"
    );
    let f = dominant_frequency(&heard.samples[24_000..72_000], 48_000);
    assert!(near(f, 660.0), "speed keeps the pitch: {f:?}");

    // An octave up: 660 Hz is heard at 1320 Hz, at the same speed.
    let up = MusicOptions {
        pitch: 12.0,
        ..Default::default()
    };
    mix.start_music(file4.to_str().unwrap(), up).unwrap();
    let heard = pull(&mix, &mut tap, 400, FAST);
    let f = dominant_frequency(&heard.samples[48_000..96_000], 48_000);
    assert!(near(f, 1320.0), "pitch +12: {f:?}");
    let blocks = heard.until_completed.unwrap();
    assert!(
        (198..=210).contains(&blocks),
        "pitch keeps the speed: {blocks}"
    );
}

#[test]
fn volumes_and_local_only_split_the_two_sides() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixture(dir.path(), "wav", 660, 2.0);
    let mix = LocalMix::new();
    let mut channel = mix.publish_tap();
    let mut speakers = mix.local_tap();
    let quiet_channel = MusicOptions {
        publish_volume: 0.0,
        ..Default::default()
    };
    mix.start_music(file.to_str().unwrap(), quiet_channel)
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let (mut to_channel, mut to_me) = (vec![0.0f32; 960 * 25], vec![0.0f32; 960 * 25]);
    for (c, m) in to_channel.chunks_mut(960).zip(to_me.chunks_mut(960)) {
        channel.add_to(c, 1);
        speakers.add_to(m, 1);
        std::thread::sleep(FAST);
    }
    assert!(
        to_channel.iter().all(|s| *s == 0.0),
        "volume 0 sends silence"
    );
    assert!(near(dominant_frequency(&to_me, 48_000), 660.0));

    let local_only = MusicOptions {
        local_only: true,
        ..Default::default()
    };
    mix.start_music(file.to_str().unwrap(), local_only).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut sent = 0;
    let mut played = 0;
    for _ in 0..25 {
        let (mut c, mut m) = (vec![0.0f32; 960], vec![0.0f32; 960]);
        sent += usize::from(channel.add_to(&mut c, 1));
        played += usize::from(speakers.add_to(&mut m, 1));
        std::thread::sleep(FAST);
    }
    assert_eq!(sent, 0, "local-only music is not sent");
    assert!(played >= 24, "local-only music is played ({played})");
}

#[test]
fn two_effects_overlap_and_finish() {
    let dir = tempfile::tempdir().unwrap();
    let low = fixture(dir.path(), "wav", 440, 0.5);
    let high = fixture(dir.path(), "ogg", 1000, 0.5);
    let mix = LocalMix::new();
    let mut tap = mix.publish_tap();
    mix.preload_effect(1, low.to_str().unwrap()).unwrap();
    mix.preload_effect(2, high.to_str().unwrap()).unwrap();
    mix.play_effect(1, EffectOptions::default()).unwrap();
    mix.play_effect(
        2,
        EffectOptions {
            volume: 0.8,
            pan: 0.5,
            ..Default::default()
        },
    )
    .unwrap();
    let mut heard = Vec::new();
    for _ in 0..30 {
        let mut frame = vec![0.0f32; 960];
        tap.add_to(&mut frame, 1);
        heard.extend(frame);
    }
    let found = peaks(&heard[..19_200], 48_000, 4);
    assert!(found.iter().any(|f| (f - 440.0).abs() < 9.0), "{found:?}");
    assert!(found.iter().any(|f| (f - 1000.0).abs() < 20.0), "{found:?}");
    let events = mix.poll_events();
    assert!(events.contains(&MixEvent::EffectFinished(1)), "{events:?}");
    assert!(events.contains(&MixEvent::EffectFinished(2)), "{events:?}");

    // Unknown ids and bad options are refused; nothing else stops.
    assert!(mix.play_effect(9, EffectOptions::default()).is_err());
    assert!(
        mix.play_effect(
            1,
            EffectOptions {
                pitch: 3.0,
                ..Default::default()
            }
        )
        .is_err()
    );
}

#[test]
fn bad_input_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let mix = LocalMix::new();
    let missing = mix.start_music("/no/such/song.mp3", MusicOptions::default());
    assert!(
        matches!(missing, Err(MusicError::NotFound(_))),
        "{missing:?}"
    );
    let text = dir.path().join("notes.mp3");
    std::fs::write(&text, "not audio at all, just words ".repeat(100)).unwrap();
    mix.start_music(text.to_str().unwrap(), MusicOptions::default())
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let events = mix.poll_events();
    assert!(
        events.iter().any(|e| matches!(
            e,
            MixEvent::Music(MusicState::Failed(MusicError::Unsupported(_)))
        )),
        "{events:?}"
    );
    for bad in [
        MusicOptions {
            pitch: 13.0,
            ..Default::default()
        },
        MusicOptions {
            speed: 0.2,
            ..Default::default()
        },
        MusicOptions {
            local_volume: 1.5,
            ..Default::default()
        },
        MusicOptions {
            loops: Loops::Count(0),
            ..Default::default()
        },
    ] {
        let wav = fixture(dir.path(), "wav", 440, 0.2);
        let refused = mix.start_music(wav.to_str().unwrap(), bad);
        assert!(
            matches!(refused, Err(MusicError::InvalidArgument(_))),
            "{bad:?}"
        );
    }
    assert!(mix.preload_effect(1, text.to_str().unwrap()).is_err());

    // A file cut off mid-way plays what it has and ends (MP3, FLAC), or fails with the decode
    // error at once (OGG: the reader looks for the last page when it opens); never stuck.
    for ext in ["mp3", "flac", "ogg"] {
        let whole = fixture(dir.path(), ext, 660, 2.0);
        let bytes = std::fs::read(&whole).unwrap();
        let cut = dir.path().join(format!("cut.{ext}"));
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let mut tap = mix.publish_tap();
        mix.start_music(cut.to_str().unwrap(), MusicOptions::default())
            .unwrap();
        let heard = pull(&mix, &mut tap, 150, FAST);
        let failed = heard.events.iter().any(|e| {
            matches!(
                e,
                MixEvent::Music(MusicState::Failed(MusicError::Decode(_)))
            )
        });
        match heard.until_completed {
            Some(_) => assert!(
                (30..=75).contains(&heard.sounding),
                "{ext}: {} blocks of about 50 played",
                heard.sounding
            ),
            None => assert!(failed, "{ext}: {:?}", heard.events),
        }
    }
}

#[test]
fn pause_resume_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixture(dir.path(), "flac", 660, 3.0);
    let mix = LocalMix::new();
    let mut tap = mix.publish_tap();
    mix.start_music(file.to_str().unwrap(), MusicOptions::default())
        .unwrap();
    let heard = pull(&mix, &mut tap, 50, FAST);
    assert_eq!(heard.sounding, 50);
    let at = mix.with_music(|m| m.position_ms()).unwrap();
    assert!((960..=1000).contains(&at), "after 50 blocks: {at} ms");

    mix.with_music(|m| m.pause()).unwrap();
    let paused = pull(&mix, &mut tap, 25, FAST);
    assert_eq!(paused.sounding, 0, "paused music is silent");
    assert_eq!(
        mix.with_music(|m| m.position_ms()),
        Some(at),
        "and holds its place"
    );
    assert!(paused.events.contains(&MixEvent::Music(MusicState::Paused)));

    mix.with_music(|m| m.resume()).unwrap();
    let resumed = pull(&mix, &mut tap, 200, FAST);
    assert!(
        resumed
            .events
            .contains(&MixEvent::Music(MusicState::Playing))
    );
    // The remaining 2 s (100 blocks) then completed.
    let blocks = resumed.until_completed.unwrap();
    assert!(
        (99..=103).contains(&blocks),
        "the rest took {blocks} blocks"
    );

    mix.stop_music();
    assert_eq!(
        mix.poll_events(),
        vec![MixEvent::Music(MusicState::Stopped)]
    );
}
