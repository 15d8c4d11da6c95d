//! Levels are measured in dBFS, and speaking is detected with hysteresis.
#![allow(clippy::unwrap_used)]

use livestage_media::audio::level::{Hysteresis, SILENCE_DBFS};
use livestage_media::audio::{Format, Level, SpeakingDetector, Tone};

const FORMAT: Format = Format::MONO_48K;

fn silence() -> Vec<f32> {
    vec![0.0; FORMAT.frame_len()]
}

#[test]
fn levels_are_rms_in_dbfs() {
    assert_eq!(Level::measure(&silence()), Level::SILENCE);
    assert_eq!(Level::measure(&[]).dbfs, SILENCE_DBFS);

    let full = Level::measure(&Tone::new(FORMAT, 1_000.0, 1.0).unwrap().next_frame());
    assert!(
        (full.dbfs - -3.01).abs() < 0.05,
        "full-scale sine: {}",
        full.dbfs
    );
    assert!((full.linear - std::f32::consts::FRAC_1_SQRT_2).abs() < 0.001);
    let half = Level::measure(&Tone::new(FORMAT, 1_000.0, 0.5).unwrap().next_frame());
    assert!(
        (half.dbfs - -9.03).abs() < 0.05,
        "half-scale sine: {}",
        half.dbfs
    );

    let square = Level::measure(&[1.0, -1.0, 1.0, -1.0]);
    assert_eq!((square.dbfs, square.linear), (0.0, 1.0));
    let over = Level::measure(&[2.0, -2.0]);
    assert_eq!(over.linear, 1.0, "linear level stays within 0..=1");
    assert_eq!(Level::measure(&[f32::NAN, f32::INFINITY]), Level::SILENCE);

    assert_eq!(Level::SILENCE.meter(), 0.0);
    assert_eq!(square.meter(), 1.0);
    assert!(
        (Level {
            dbfs: -30.0,
            linear: 0.03
        }
        .meter()
            - 0.5)
            .abs()
            < 1e-6
    );
}

#[test]
fn silence_is_never_speaking() {
    let mut detector = SpeakingDetector::default();
    let quiet = Level::measure(&Tone::new(FORMAT, 300.0, 0.005).unwrap().next_frame());
    assert!(quiet.dbfs < -40.0);
    for _ in 0..100 {
        assert!(!detector.update(Level::measure(&silence())));
        assert!(!detector.update(quiet));
    }
}

#[test]
fn a_tone_is_speaking_after_two_frames() {
    let mut detector = SpeakingDetector::default();
    let mut tone = Tone::new(FORMAT, 300.0, 0.3).unwrap();
    assert!(
        !detector.update(Level::measure(&tone.next_frame())),
        "one frame is a click"
    );
    assert!(detector.update(Level::measure(&tone.next_frame())));
    assert!(detector.is_speaking());

    // Lone loud frames between quiet ones (clicks, a door) never start speaking.
    let mut detector = SpeakingDetector::default();
    for _ in 0..20 {
        assert!(!detector.update(Level::measure(&tone.next_frame())));
        assert!(!detector.update(Level::measure(&silence())));
    }
}

#[test]
fn speaking_survives_pauses_and_stops_after_300_ms_of_quiet() {
    let config = Hysteresis::default();
    assert_eq!(
        (
            config.threshold_dbfs,
            config.start_frames,
            config.stop_frames
        ),
        (-40.0, 2, 15)
    );
    let mut detector = SpeakingDetector::new(config);
    let loud = Level {
        dbfs: -20.0,
        linear: 0.1,
    };
    let quiet = Level::measure(&silence());
    detector.update(loud);
    assert!(detector.update(loud));

    // A 280 ms pause between words keeps speaking.
    for _ in 0..14 {
        assert!(detector.update(quiet));
    }
    assert!(detector.update(loud));
    // 300 ms of quiet stops it, exactly at the 15th quiet frame.
    for i in 1..=15 {
        assert_eq!(detector.update(quiet), i < 15, "quiet frame {i}");
    }
    assert!(!detector.update(loud), "starting again takes two frames");
    assert!(detector.update(loud));
}
