//! The plugin's own audio: music through `Livestage::mix` reaches what this player hears (seen
//! by a playback hook) with `MusicChanged` messages, a remote-voice hook sees each remote
//! voice with its media id, and a hook that panics is removed with `AudioHookRemoved`.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bevy::prelude::*;
use bevy_livestage::audio::{
    HookFailure, HookFormat, HookInfo, HookPoint, MusicOptions, MusicState, hook_fn,
};
use bevy_livestage::prelude::*;
use common::*;

#[test]
fn music_plays_locally_hooks_see_the_voices_and_a_panicking_hook_goes() {
    let mut app = app();
    collect::<MusicChanged>(&mut app);
    collect::<AudioHookRemoved>(&mut app);
    let stage = join(
        &mut app,
        "ktv",
        "listener",
        grants::AUDIENCE,
        Role::Audience,
    );
    update_until(&mut app, "joined", |w| w.get::<Connected>(stage).is_some());
    let _singer = Bot::publishing(
        &server(&app),
        &token(&app, "ktv", "singer", grants::HOST),
        "ktv",
    );
    update_until(&mut app, "singer", |w| {
        participant(w, stage, "singer").is_some()
    });
    let singer = participant(app.world_mut(), stage, "singer").unwrap();
    let singer_media = app.world().get::<Participant>(singer).unwrap().media_id;

    // A remote-voice hook at 16 kHz mono: it sees the singer's voice, tagged.
    let voices = Arc::new(Mutex::new(Vec::<u64>::new()));
    let seen_by_hook = voices.clone();
    let format = HookFormat {
        sample_rate: 16_000,
        channels: 1,
        frame_ms: 20,
    };
    let remote = hook_fn(format, move |frame: &mut [f32], info: &HookInfo<'_>| {
        assert_eq!(frame.len(), 320);
        seen_by_hook.lock().unwrap().extend(info.media_id);
    });
    // A playback hook keeps what this player hears.
    let played = Arc::new(Mutex::new(Vec::<f32>::new()));
    let keep = played.clone();
    let playback = hook_fn(
        HookFormat {
            sample_rate: 48_000,
            channels: 2,
            frame_ms: 20,
        },
        move |frame: &mut [f32], _: &HookInfo<'_>| {
            keep.lock().unwrap().extend(frame.chunks(2).map(|lr| lr[0]));
        },
    );
    {
        let livestage = app.world().resource::<Livestage>();
        livestage
            .set_audio_hook(HookPoint::RemoteVoice, Some(Box::new(remote)))
            .unwrap();
        livestage
            .set_audio_hook(HookPoint::Playback, Some(Box::new(playback)))
            .unwrap();
        let odd = HookFormat {
            sample_rate: 11_025,
            channels: 1,
            frame_ms: 20,
        };
        let refused = livestage.set_audio_hook(
            HookPoint::Capture,
            Some(Box::new(hook_fn(odd, |_: &mut [f32], _: &HookInfo<'_>| {}))),
        );
        assert!(matches!(refused, Err(HookFailure::Format(_))));
    }
    run_for(&mut app, Duration::from_millis(600));
    assert!(
        voices
            .lock()
            .unwrap()
            .iter()
            .filter(|&&m| m == singer_media)
            .count()
            >= 10,
        "the remote-voice hook saw the singer"
    );

    // Music for this player only, 660 Hz under the singer's 440 Hz.
    let dir = tempfile::tempdir().unwrap();
    let song = dir.path().join("song.wav");
    let made = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=660:duration=3",
        ])
        .arg(&song)
        .status()
        .unwrap();
    assert!(made.success());
    let local_only = MusicOptions {
        local_only: true,
        ..MusicOptions::default()
    };
    app.world_mut()
        .trigger(PlayMusic::new(song.to_str().unwrap(), local_only));
    played.lock().unwrap().clear();
    run_for(&mut app, Duration::from_secs(1));
    let heard = played.lock().unwrap().clone();
    let peaks = livestage_media::audio::spectrum::peaks(&heard[9600..], 48_000, 3);
    assert!(
        peaks.iter().any(|f| (f - 660.0).abs() < 10.0),
        "music heard locally: {peaks:?}"
    );
    assert!(
        peaks.iter().any(|f| (f - 440.0).abs() < 8.0),
        "with the singer: {peaks:?}"
    );
    assert_eq!(
        seen::<MusicChanged>(app.world()).first(),
        Some(&MusicChanged(MusicState::Playing))
    );

    // A playback hook that panics is removed and reported; what plays goes on.
    let bad = hook_fn(HookFormat::VOICE, |_: &mut [f32], _: &HookInfo<'_>| {
        panic!("hook bug")
    });
    app.world()
        .resource::<Livestage>()
        .set_audio_hook(HookPoint::Playback, Some(Box::new(bad)))
        .unwrap();
    update_until(&mut app, "hook removed", |w| {
        !seen::<AudioHookRemoved>(w).is_empty()
    });
    let removed = seen::<AudioHookRemoved>(app.world())[0].clone();
    assert_eq!(removed.point, HookPoint::Playback);
    assert_eq!(removed.reason, HookFailure::Panicked("hook bug".into()));
}
