//! What voice processing costs and does, per stage: CPU time per 20 ms frame of 48 kHz mono
//! (mean, p50, p99, max), the delay it adds to the microphone, and the echo return loss
//! enhancement over time in the echo scenario of `tests/voice_processing.rs`.
//!
//! ```text
//! cargo run --release -p livestage-media --example processing_cost
//! ```
//!
//! The frames are the test's synthetic room (far-end speech coming back 60 ms later at -10 dB)
//! with a near-end talker on top, so every stage has work to do; the time is that of
//! [`VoiceProcessor::process`] alone, which includes feeding the far end that arrived to the
//! echo canceller. One thread, this machine's CPU.

#[path = "../tests/voice/mod.rs"]
mod voice;

use livestage_media::audio::processing::{Settings, VoiceProcessor};
use voice::{Livestage, RATE};

/// Seconds of audio timed per configuration (1500 frames).
const SECONDS: usize = 30;

/// The configurations measured, by name.
const CONFIGS: [(&str, Settings); 5] = [
    ("all off (pass-through)", Settings::OFF),
    (
        "echo cancellation alone",
        Settings {
            echo_cancellation: true,
            ..Settings::OFF
        },
    ),
    (
        "noise suppression alone",
        Settings {
            noise_suppression: true,
            ..Settings::OFF
        },
    ),
    (
        "auto gain alone",
        Settings {
            auto_gain: true,
            ..Settings::OFF
        },
    ),
    (
        "all three (default)",
        Settings {
            echo_cancellation: true,
            noise_suppression: true,
            auto_gain: true,
        },
    ),
];

fn main() {
    println!(
        "CPU per 20 ms frame ({SECONDS} s = {} frames), and the delay added to the microphone",
        SECONDS * 50
    );
    println!("| stages | mean us | p50 us | p99 us | max us | % of one core | added latency ms |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (name, settings) in CONFIGS {
        let times = voice::frame_times(&mut Livestage::new(settings), SECONDS);
        let lag = voice::latency(&mut Livestage::new(settings));
        let us = |ns: u64| ns as f64 / 1000.0;
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} |",
            times.mean() / 1000.0,
            us(times.value_at_quantile(0.5)),
            us(times.value_at_quantile(0.99)),
            us(times.max()),
            times.mean() / 20e6 * 100.0,
            lag as f64 * 1000.0 / RATE as f64,
        );
    }

    for (name, settings) in [CONFIGS[1], CONFIGS[4]] {
        let mut chain = Livestage::new(settings);
        let report = voice::echo_scenario(&mut chain);
        println!();
        println!("ERLE over time, {name}: 10 log10(echo power in / residual power out) per 0.5 s");
        println!("| from s | echo dBFS | residual dBFS | ERLE dB | AEC3's own estimate dB |");
        println!("| --- | --- | --- | --- | --- |");
        for w in &report.windows {
            println!(
                "| {:.1} | {:.1} | {:.1} | {:.1} | {} |",
                w.start_s,
                w.echo_dbfs,
                w.residual_dbfs,
                w.erle_db,
                w.estimate_db.map_or("-".into(), |db| format!("{db:.1}")),
            );
        }
        println!(
            "near-end 440 Hz tone: in {:.1} dBFS; out {:.1} dBFS in double talk, {:.1} dBFS alone",
            report.near_in_dbfs, report.near_double_talk_dbfs, report.near_alone_dbfs
        );
        print_stats(&chain.processor);
    }
}

fn print_stats(processor: &VoiceProcessor) {
    let stats = processor.stats();
    println!(
        "processor: delay {:?} ms, ERL {:.1?} dB, far-end chunks {}, dropped {}",
        stats.delay_ms, stats.echo_return_loss_db, stats.far_end_chunks, stats.far_end_dropped
    );
}
