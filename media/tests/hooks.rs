//! Raw audio hooks and the voice changer on 48 kHz mono voice frames: a hook in another
//! format gets converted frames and its changes come back, an inverting hook inverts, a
//! panicking or slow hook is removed with the reason, and each voice preset moves a tone by its
//! ratio.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use livestage_media::audio::hooks::{HookFailure, HookRunner, hook_fn};
use livestage_media::audio::spectrum::{dominant_frequency, peaks};
use livestage_media::audio::{
    Format, HookFormat, HookInfo, HookPoint, Tone, VoiceChanger, VoicePreset,
};

fn info() -> HookInfo<'static> {
    HookInfo {
        point: HookPoint::Encode,
        media_id: None,
        channel: None,
    }
}

fn tone(hz: f32, frames: usize) -> Vec<Vec<f32>> {
    let mut t = Tone::new(Format::MONO_48K, hz, 0.5).unwrap();
    (0..frames).map(|_| t.next_frame()).collect()
}

#[test]
fn a_hook_in_its_own_format_sees_the_tone_and_changes_what_follows() {
    // 16 kHz stereo in 10 ms frames: resampled down and back, channels doubled and folded.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let format = HookFormat {
        sample_rate: 16_000,
        channels: 2,
        frame_ms: 10,
    };
    let hook = hook_fn(format, move |frame: &mut [f32], _: &HookInfo<'_>| {
        assert_eq!(frame.len(), 320);
        log.lock().unwrap().extend(frame.chunks(2).map(|p| p[0]));
        for s in frame.iter_mut() {
            *s *= 0.5;
        }
    });
    let mut runner = HookRunner::new(Box::new(hook), Format::MONO_48K).unwrap();
    let mut out = Vec::new();
    for mut frame in tone(440.0, 50) {
        runner.run(&mut frame, &info()).unwrap();
        out.extend(frame);
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 16_000);
    let f = dominant_frequency(&seen[3200..], 16_000).unwrap();
    assert!((f - 440.0).abs() < 4.0, "the hook heard {f} Hz");
    let f = dominant_frequency(&out[9600..], 48_000).unwrap();
    assert!((f - 440.0).abs() < 4.0, "{f} Hz came back");
    // Half as loud: the change is kept.
    let rms = (out[9600..].iter().map(|s| s * s).sum::<f32>() / (out.len() - 9600) as f32).sqrt();
    let expected = 0.5 * 0.5 / 2f32.sqrt();
    assert!((rms - expected).abs() < 0.02, "rms {rms} vs {expected}");
}

#[test]
fn an_inverting_hook_inverts_exactly_in_the_path_format() {
    let hook = hook_fn(HookFormat::VOICE, |frame: &mut [f32], _: &HookInfo<'_>| {
        for s in frame.iter_mut() {
            *s = -*s;
        }
    });
    let mut runner = HookRunner::new(Box::new(hook), Format::MONO_48K).unwrap();
    for frame in tone(440.0, 3) {
        let mut changed = frame.clone();
        runner.run(&mut changed, &info()).unwrap();
        assert!(changed.iter().zip(&frame).all(|(a, b)| *a == -*b));
    }
}

#[test]
fn a_panicking_or_slow_hook_is_removed_with_the_reason() {
    let hook = hook_fn(HookFormat::VOICE, |_: &mut [f32], _: &HookInfo<'_>| {
        panic!("boom")
    });
    let mut runner = HookRunner::new(Box::new(hook), Format::MONO_48K).unwrap();
    let mut frame = tone(440.0, 1).remove(0);
    let before = frame.clone();
    let failed = runner.run(&mut frame, &info());
    assert_eq!(failed, Err(HookFailure::Panicked("boom".into())));
    assert_eq!(
        frame, before,
        "a panicking hook leaves the frame as it came"
    );

    let slow = hook_fn(HookFormat::VOICE, |_: &mut [f32], _: &HookInfo<'_>| {
        std::thread::sleep(Duration::from_millis(25));
    });
    let mut runner = HookRunner::new(Box::new(slow), Format::MONO_48K).unwrap();
    let results: Vec<_> = (0..5).map(|_| runner.run(&mut frame, &info())).collect();
    assert!(results[..4].iter().all(Result::is_ok));
    assert!(
        matches!(results[4], Err(HookFailure::TooSlow(..))),
        "{results:?}"
    );

    let odd = HookFormat {
        sample_rate: 22_050,
        channels: 1,
        frame_ms: 20,
    };
    let bad = hook_fn(odd, |_: &mut [f32], _: &HookInfo<'_>| {});
    assert!(matches!(
        HookRunner::new(Box::new(bad), Format::MONO_48K),
        Err(HookFailure::Format(_))
    ));
}

/// The strongest frequency after 0.5 s of a 300 Hz tone through `preset`.
fn through(preset: VoicePreset) -> (Vec<f32>, VoiceChanger) {
    let mut changer = VoiceChanger::new(preset);
    let mut out = Vec::new();
    for mut frame in tone(300.0, 50) {
        changer.process_frame(&mut frame);
        out.extend(frame);
    }
    (out, changer)
}

#[test]
fn each_pitch_preset_moves_a_tone_by_its_ratio() {
    for preset in [
        VoicePreset::Higher,
        VoicePreset::Lower,
        VoicePreset::Chipmunk,
        VoicePreset::Giant,
        VoicePreset::Pitch(12.0),
        VoicePreset::Pitch(-5.0),
    ] {
        let (out, changer) = through(preset);
        let f = dominant_frequency(&out[24_000..], 48_000).unwrap();
        let expected = 300.0 * preset.ratio();
        assert!(
            (f - expected).abs() < expected * 0.02,
            "{preset:?}: {f} Hz, expected {expected}"
        );
        let latency = changer.latency_ms();
        assert!(
            latency > 0.0 && latency < 45.0,
            "{preset:?} adds {latency} ms"
        );
    }
}

#[test]
fn robot_room_and_off() {
    let (out, _) = through(VoicePreset::Robot);
    let found = peaks(&out[9600..], 48_000, 2);
    assert!(
        found.iter().any(|f| (f - 250.0).abs() < 5.0)
            && found.iter().any(|f| (f - 350.0).abs() < 5.0),
        "robot: {found:?}"
    );
    let (out, changer) = through(VoicePreset::Room);
    assert_eq!(changer.latency_ms(), 0.0);
    let f = dominant_frequency(&out[9600..], 48_000).unwrap();
    assert!((f - 300.0).abs() < 6.0, "room keeps the pitch: {f}");
    let (out, _) = through(VoicePreset::Off);
    let clean: Vec<f32> = tone(300.0, 50).concat();
    assert_eq!(out, clean, "off is bit-exact");
    assert_eq!(VoicePreset::parse("giant"), Ok(VoicePreset::Giant));
    assert_eq!(VoicePreset::parse("+3"), Ok(VoicePreset::Pitch(3.0)));
    assert!(VoicePreset::parse("dalek").is_err());
}
