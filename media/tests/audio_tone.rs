//! The tone source is continuous across frames, and its frequency can be measured back.
#![allow(clippy::unwrap_used)]

use livestage_media::audio::format::to_mono;
use livestage_media::audio::{Format, Tone, dominant_frequency};

#[test]
fn frames_continue_the_phase() {
    let format = Format::STEREO_48K;
    let mut tone = Tone::new(format, 440.0, 0.8).unwrap();
    let frames: Vec<f32> = (0..5).flat_map(|_| tone.next_frame()).collect();
    assert_eq!(frames.len(), 5 * format.frame_len());
    let left: Vec<f32> = frames.iter().step_by(2).copied().collect();
    let right: Vec<f32> = frames.iter().skip(1).step_by(2).copied().collect();
    assert_eq!(left, right, "every channel carries the tone");
    // One continuous sine: no jump bigger than one sample's step anywhere, frame edges
    // included.
    let max_step = 0.8 * std::f32::consts::TAU * 440.0 / 48_000.0;
    for (i, pair) in left.windows(2).enumerate() {
        assert!(
            (pair[1] - pair[0]).abs() <= max_step * 1.01,
            "jump at sample {i}"
        );
    }
    assert!(left.iter().all(|s| s.abs() <= 0.8));
}

#[test]
fn dominant_frequency_is_within_two_percent_over_100_ms() {
    for rate in [16_000, 24_000, 48_000] {
        let format = Format::new(rate, 1).unwrap();
        for freq in [60.0, 150.0, 440.0, 1_000.0, 3_333.0, 7_000.0] {
            let mut tone = Tone::new(format, freq, 0.3).unwrap();
            let samples: Vec<f32> = (0..5).flat_map(|_| tone.next_frame()).collect();
            let measured = dominant_frequency(&samples, rate).unwrap();
            assert!(
                (measured - freq).abs() < freq * 0.02,
                "{rate} Hz: {freq} read {measured}"
            );
        }
    }
}

#[test]
fn dominant_frequency_of_interleaved_audio_needs_a_mono_mix() {
    let format = Format::STEREO_48K;
    let mut tone = Tone::new(format, 440.0, 0.5).unwrap();
    let stereo: Vec<f32> = (0..10).flat_map(|_| tone.next_frame()).collect();
    let freq = dominant_frequency(&to_mono(&stereo, 2), 48_000).unwrap();
    assert!((freq - 440.0).abs() < 4.4, "{freq}");
}

#[test]
fn silence_and_too_little_signal_have_no_dominant_frequency() {
    assert_eq!(dominant_frequency(&[0.0; 4_800], 48_000), None);
    assert_eq!(
        dominant_frequency(&[0.3; 4_800], 48_000),
        None,
        "DC is not a tone"
    );
    let faint = Tone::new(Format::MONO_48K, 440.0, 0.0005)
        .unwrap()
        .next_frame();
    assert_eq!(dominant_frequency(&faint, 48_000), None, "below -60 dBFS");
    assert_eq!(
        dominant_frequency(&[0.5, -0.5], 48_000),
        None,
        "under 10 ms"
    );
    assert_eq!(dominant_frequency(&[f32::NAN; 960], 48_000), None);
    assert_eq!(dominant_frequency(&[0.5; 960], 0), None);
    assert!(
        Tone::new(Format::MONO_48K, 30_000.0, 0.5).is_err(),
        "above Nyquist"
    );
    assert!(Tone::new(Format::MONO_48K, 440.0, 1.5).is_err());
    assert!(Tone::new(Format::MONO_48K, f32::NAN, 0.5).is_err());
}
