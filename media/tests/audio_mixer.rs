//! The mixer applies each user's volume, sums, and soft-clips into full scale.
#![allow(clippy::unwrap_used)]

use livestage_media::audio::Format;
use livestage_media::audio::Mixer;
use livestage_media::audio::error::Error;
use livestage_media::audio::mixer::{KNEE, soft_clip};

const FORMAT: Format = Format::STEREO_48K;

fn constant(value: f32) -> Vec<f32> {
    vec![value; FORMAT.frame_len()]
}

fn assert_all(frame: &[f32], expected: f32) {
    assert_eq!(frame.len(), FORMAT.frame_len());
    for (i, &s) in frame.iter().enumerate() {
        assert!(
            (s - expected).abs() < 1e-6,
            "sample {i}: {s}, expected {expected}"
        );
    }
}

#[test]
fn each_user_is_scaled_by_their_volume_then_summed() {
    let mut mixer = Mixer::new(FORMAT).unwrap();
    let (alice, bob) = (constant(0.1), constant(-0.3));
    assert_all(mixer.mix([(&alice[..], 1.0)]).unwrap(), 0.1);
    assert_all(mixer.mix([(&alice[..], 2.0)]).unwrap(), 0.2);
    assert_all(
        mixer.mix([(&alice[..], 1.0), (&bob[..], 0.5)]).unwrap(),
        0.1 - 0.15,
    );
    assert_all(
        mixer.mix([(&alice[..], 0.0), (&bob[..], 1.0)]).unwrap(),
        -0.3,
    );
    assert_all(mixer.mix([]).unwrap(), 0.0);
}

#[test]
fn loud_sums_are_soft_clipped_into_full_scale() {
    let mut mixer = Mixer::new(FORMAT).unwrap();
    let loud = constant(0.9);
    let quiet = constant(-0.9);
    let twice = mixer.mix([(&loud[..], 2.0), (&loud[..], 2.0)]).unwrap()[0];
    assert!(twice <= 1.0 && twice > 0.99, "3.6 becomes {twice}");
    let once = mixer.mix([(&loud[..], 1.0)]).unwrap()[0];
    assert!(
        once > KNEE && once < 0.9 && once < twice,
        "0.9 becomes {once}"
    );
    let negative = mixer.mix([(&quiet[..], 2.0), (&quiet[..], 2.0)]).unwrap()[0];
    assert_eq!(negative, -twice, "symmetric");

    // Continuous and monotonic through the knee, never beyond ±1.
    let mut last = -1.0;
    for i in -400..=400 {
        let x = i as f32 / 100.0;
        let y = soft_clip(x);
        assert!((-1.0..=1.0).contains(&y), "{x} -> {y}");
        assert!(y >= last && y - last < 0.011, "{x} -> {y} after {last}");
        last = y;
    }
    assert_eq!(soft_clip(KNEE), KNEE);
    assert_eq!(soft_clip(0.5), 0.5);
}

#[test]
fn bad_volume_or_frame_length_is_an_error() {
    let mut mixer = Mixer::new(FORMAT).unwrap();
    let frame = constant(0.1);
    for volume in [-0.1, 2.01, f32::NAN, f32::INFINITY] {
        let result = mixer.mix([(&frame[..], volume)]);
        assert!(
            matches!(result, Err(Error::Volume(_))),
            "volume {volume}: {result:?}"
        );
    }
    let short = vec![0.0; FORMAT.frame_len() - 1];
    assert!(matches!(
        mixer.mix([(&short[..], 1.0)]),
        Err(Error::FrameLength { .. })
    ));
    assert!(
        Mixer::new(Format {
            sample_rate: 44_100,
            channels: 2
        })
        .is_err()
    );
    // NaN samples count as silence instead of poisoning the mix.
    let mut broken = constant(0.1);
    broken[3] = f32::NAN;
    let mixed = mixer.mix([(&broken[..], 1.0), (&frame[..], 1.0)]).unwrap();
    assert!((mixed[3] - 0.1).abs() < 1e-6 && (mixed[4] - 0.2).abs() < 1e-6);
}

#[test]
fn mixing_reuses_one_output_buffer() {
    let mut mixer = Mixer::new(FORMAT).unwrap();
    let frame = constant(0.1);
    let first = mixer.mix([(&frame[..], 1.0)]).unwrap().as_ptr();
    for _ in 0..10 {
        assert_eq!(
            mixer
                .mix([(&frame[..], 1.0), (&frame[..], 0.5)])
                .unwrap()
                .as_ptr(),
            first
        );
    }
}
