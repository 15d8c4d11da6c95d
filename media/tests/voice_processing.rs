//! Voice processing on the capture path: the echo of what the playout plays is cancelled while
//! the near-end voice passes, noise is suppressed, every stage switches live, and with every
//! stage off the microphone passes bit-exact. Run with `--nocapture` for the measured curves.
#![allow(clippy::unwrap_used)]

mod voice;

use livestage_media::audio::processing::{CAPACITY_MS, CHUNK, Settings, VoiceProcessor};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use voice::{FRAME, Livestage, RATE, TONE_HZ, Talker};

const ECHO_ONLY: Settings = Settings {
    echo_cancellation: true,
    ..Settings::OFF
};

const NOISE_ONLY: Settings = Settings {
    noise_suppression: true,
    ..Settings::OFF
};

/// The echo canceller has converged after this much far-end speech (measured: the first window
/// above 40 dB starts at 3.5 s, and every later one stays above 44 dB).
const CONVERGED_S: f64 = 3.5;
/// ERLE every 0.5 s window must reach once converged (measured 44.6-52.4 dB).
const MIN_ERLE_DB: f64 = 40.0;

#[test]
fn echo_of_the_playout_is_cancelled_and_the_near_end_passes() {
    let mut chain = Livestage::new(ECHO_ONLY);
    let report = voice::echo_scenario(&mut chain);
    println!(
        "echo: far-end speech through a 60 ms, -10 dB room; ERLE = 10 log10(echo power in / \
         residual power out) per 0.5 s of far end alone"
    );
    for w in &report.windows {
        println!(
            "  {:4.1} s  echo {:6.1} dBFS  residual {:6.1} dBFS  ERLE {:5.1} dB  (AEC3's own {})",
            w.start_s,
            w.echo_dbfs,
            w.residual_dbfs,
            w.erle_db,
            w.estimate_db
                .map_or("-".to_string(), |db| format!("{db:.1} dB"))
        );
    }
    println!(
        "near end 440 Hz: in {:.1} dBFS; out {:.1} dBFS in double talk, {:.1} dBFS alone",
        report.near_in_dbfs, report.near_double_talk_dbfs, report.near_alone_dbfs
    );
    let stats = chain.processor.stats();
    println!("stats at the end: {stats:?}");

    for w in report.windows.iter().filter(|w| w.start_s >= CONVERGED_S) {
        assert!(
            w.erle_db >= MIN_ERLE_DB,
            "ERLE {:.1} dB at {:.1} s, expected at least {MIN_ERLE_DB} dB after {CONVERGED_S} s",
            w.erle_db,
            w.start_s
        );
    }
    // The near end passes: within 1 dB alone (measured -0.5 dB), within 3 dB through double
    // talk with the far end still playing (measured -1.6 dB).
    let alone = report.near_alone_dbfs - report.near_in_dbfs;
    let double_talk = report.near_double_talk_dbfs - report.near_in_dbfs;
    assert!(
        alone.abs() <= 1.0,
        "near end alone changed by {alone:.1} dB"
    );
    assert!(
        double_talk.abs() <= 3.0,
        "near end in double talk changed by {double_talk:.1} dB"
    );
    // It found the room's 60 ms (in 4 ms blocks, less its own headroom) and lost nothing.
    let delay = stats.delay_ms.unwrap();
    assert!((40..=64).contains(&delay), "delay estimate {delay} ms");
    assert_eq!(stats.far_end_dropped, 0);
    assert_eq!(stats.far_end_chunks, 2 * stats.frames);
}

/// SNR improvement noise suppression must give in every second after the first (measured
/// 10.8-11.0 dB; 10.1 dB over the first second, while it learns the noise; the tone itself
/// loses 0.8-1.7 dB).
const MIN_SNR_GAIN_DB: f64 = 10.0;

#[test]
fn noise_suppression_lifts_a_tone_out_of_white_noise() {
    let (mut processor, _far_end) = VoiceProcessor::new(NOISE_ONLY).unwrap();
    let mut signal = voice::tone_in_noise(6);
    let input = signal.clone();
    for frame in signal.chunks_exact_mut(FRAME) {
        processor.process(frame);
    }
    println!("noise: a keyed 1 kHz tone in white noise; SNR = tone bins (+-10 Hz) / the rest");
    for second in 0..6 {
        let window = second * RATE..(second + 1) * RATE;
        let (snr_in, snr_out) = (
            voice::snr_db(&input[window.clone()], TONE_HZ),
            voice::snr_db(&signal[window.clone()], TONE_HZ),
        );
        let tone_change = voice::db(
            voice::tone_power(&signal[window.clone()], TONE_HZ)
                / voice::tone_power(&input[window], TONE_HZ),
        );
        println!(
            "  {second} s: SNR in {snr_in:5.1} dB, out {snr_out:5.1} dB ({:+.1} dB); \
             tone {tone_change:+.1} dB",
            snr_out - snr_in
        );
        if second >= 1 {
            assert!(
                snr_out - snr_in >= MIN_SNR_GAIN_DB,
                "SNR improved by {:.1} dB at {second} s, expected {MIN_SNR_GAIN_DB} dB",
                snr_out - snr_in
            );
            assert!(
                tone_change.abs() <= 3.0,
                "the tone changed by {tone_change:.1} dB"
            );
        }
    }
}

#[test]
fn with_every_stage_off_the_microphone_passes_bit_exact() {
    let (mut processor, mut far_end) = VoiceProcessor::new(Settings::OFF).unwrap();
    let mut rng = SmallRng::seed_from_u64(5);
    let mut talker = Talker::new(1, 0.5);
    for _ in 0..200 {
        let mut far = [0.0; FRAME];
        talker.fill(&mut far);
        far_end.push(&far);
        let input: Vec<f32> = (0..FRAME).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let mut frame = input.clone();
        processor.process(&mut frame);
        assert_eq!(
            frame.iter().map(|s| s.to_bits()).collect::<Vec<_>>(),
            input.iter().map(|s| s.to_bits()).collect::<Vec<_>>()
        );
    }
    // The far end was taken (and discarded), so the ring never filled.
    assert_eq!(far_end.dropped(), 0);
    assert_eq!(processor.stats().far_end_chunks, 0);
}

#[test]
fn stages_switch_live() {
    let (mut processor, mut far_end) = VoiceProcessor::new(Settings::default()).unwrap();
    let mut talker = Talker::new(2, 0.5);
    let mut near = Talker::new(3, 0.2);
    for i in 0..400 {
        let bits = i / 10 % 8;
        let settings = Settings {
            echo_cancellation: bits & 1 != 0,
            noise_suppression: bits & 2 != 0,
            auto_gain: bits & 4 != 0,
        };
        processor.set_settings(settings);
        assert_eq!(processor.settings(), settings);
        let mut far = [0.0; FRAME];
        talker.fill(&mut far);
        far_end.push(&far);
        let mut frame = [0.0; FRAME];
        near.fill(&mut frame);
        let input = frame;
        processor.process(&mut frame);
        assert!(frame.iter().all(|s| s.is_finite() && s.abs() <= 1.0));
        if !settings.any() {
            assert_eq!(frame, input);
        }
    }
    assert_eq!(processor.stats().frames, 400);
}

#[test]
fn a_full_far_end_drops_and_counts_without_blocking() {
    let (mut processor, mut far_end) = VoiceProcessor::new(ECHO_ONLY).unwrap();
    let capacity_frames = CAPACITY_MS / 20;
    // Nobody takes the far end: the ring fills, then each push is dropped and counted.
    let pushes = capacity_frames + 15;
    let handle = std::thread::spawn(move || {
        for _ in 0..pushes {
            far_end.push(&[0.1; FRAME]);
        }
        far_end
    });
    let mut far_end = handle.join().unwrap();
    assert_eq!(far_end.dropped(), 15);
    // The capture side takes everything that waits, and the playout can push again.
    processor.process(&mut [0.0; FRAME]);
    let stats = processor.stats();
    assert_eq!(
        stats.far_end_chunks,
        (capacity_frames * FRAME / CHUNK) as u64
    );
    assert_eq!(stats.far_end_dropped, 15);
    far_end.push(&[0.1; FRAME]);
    assert_eq!(far_end.dropped(), 15);
}
