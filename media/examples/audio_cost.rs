//! What the local audio work costs per 20 ms frame, on one thread of this machine: the mixing
//! path (music decoded ahead and pitch-shifted, two effects, both sides pulled), each voice
//! changer preset with the delay it adds, and a hook in another format (16 kHz stereo, 10 ms),
//! whose conversion both ways is the cost the path adds around the app's code.
//!
//! ```text
//! cargo run --release -p livestage-media --example audio_cost
//! ```
//!
//! Music is a 660 Hz tone file made with ffmpeg (FLAC at 44.1 kHz, so the decoder and the
//! resampler run); the time of a mix pull is the clock's side only (copying a ready block,
//! summing the effects), since decoding and pitch shifting run ahead on the music worker, whose
//! own time is reported separately from the process CPU time.

use std::process::Command;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use livestage_media::audio::effects::EffectOptions;
use livestage_media::audio::hooks::{HookRunner, hook_fn};
use livestage_media::audio::music::{Loops, MusicOptions};
use livestage_media::audio::{
    Format, HookFormat, HookInfo, HookPoint, LocalMix, Tone, VoiceChanger, VoicePreset,
};

const FRAMES: usize = 1500;

fn summary(name: &str, h: &Histogram<u64>, extra: &str) {
    println!(
        "{name:<40} mean {:>7.1} µs  p50 {:>6} µs  p99 {:>6} µs  max {:>6} µs  {extra}",
        h.mean(),
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.max()
    );
}

fn timed(mut f: impl FnMut()) -> Histogram<u64> {
    let mut h = Histogram::<u64>::new(3).expect("a histogram");
    for _ in 0..FRAMES {
        let t = Instant::now();
        f();
        h.record(t.elapsed().as_micros() as u64).expect("in range");
    }
    h
}

/// CPU time of this process so far (all threads).
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime, in clock ticks of 10 ms.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn ffmpeg(dir: &std::path::Path, name: &str, hz: u32, secs: u32) -> String {
    let path = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!(
            "sine=frequency={hz}:duration={secs}:sample_rate=44100"
        ))
        .args(["-ac", "2"])
        .arg(&path)
        .status()
        .expect("ffmpeg (./dev setup installs it)");
    assert!(status.success());
    path.to_string_lossy().into_owned()
}

fn main() {
    let dir = std::env::temp_dir().join(format!("livestage-audio-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let music = ffmpeg(&dir, "music.flac", 660, 40);
    let boom = ffmpeg(&dir, "boom.wav", 120, 1);
    let bell = ffmpeg(&dir, "bell.ogg", 1500, 1);

    println!("CPU per 20 ms frame ({FRAMES} frames), one thread");
    let mix = LocalMix::new();
    let (mut channel, mut speakers) = (mix.publish_tap(), mix.local_tap());
    let options = MusicOptions {
        loops: Loops::Forever,
        pitch: 3.0,
        local_volume: 0.5,
        ..MusicOptions::default()
    };
    mix.start_music(&music, options).expect("music starts");
    mix.preload_effect(1, &boom).expect("effect 1");
    mix.preload_effect(2, &bell).expect("effect 2");
    std::thread::sleep(Duration::from_millis(300));
    let looped = EffectOptions {
        loops: Loops::Forever,
        ..EffectOptions::default()
    };
    mix.play_effect(1, looped).expect("plays");
    mix.play_effect(2, EffectOptions { pan: 0.7, ..looped })
        .expect("plays");
    let (mut to_channel, mut to_me) = (vec![0.0f32; 960], vec![0.0f32; 1920]);
    let cpu_before = cpu();
    let wall = Instant::now();
    let mut starved = 0;
    let mut h = Histogram::<u64>::new(3).expect("a histogram");
    for n in 1..=FRAMES as u32 {
        let t = Instant::now();
        to_channel.fill(0.0);
        to_me.fill(0.0);
        if !channel.add_to(&mut to_channel, 1) {
            starved += 1;
        }
        speakers.add_to(&mut to_me, 2);
        h.record(t.elapsed().as_micros() as u64).expect("in range");
        // The clock's pace, so the worker decodes as it would live.
        std::thread::sleep(
            (wall + Duration::from_millis(20) * n).saturating_duration_since(Instant::now()),
        );
    }
    let spent = cpu().saturating_sub(cpu_before);
    let seconds = wall.elapsed().as_secs_f64();
    summary(
        "mix pull: music (+3 st) + 2 effects, both sides",
        &h,
        &format!(
            "(worker and all: {:.1}% of a core; {starved} frames without music)",
            spent.as_secs_f64() / seconds * 100.0
        ),
    );

    let mut tone = Tone::new(Format::MONO_48K, 220.0, 0.5).expect("a tone");
    for preset in [
        VoicePreset::Higher,
        VoicePreset::Lower,
        VoicePreset::Chipmunk,
        VoicePreset::Giant,
        VoicePreset::Pitch(7.0),
        VoicePreset::Robot,
        VoicePreset::Room,
    ] {
        let mut changer = VoiceChanger::new(preset);
        let mut frame = vec![0.0f32; 960];
        let h = timed(|| {
            tone.fill(&mut frame);
            changer.process_frame(&mut frame);
        });
        summary(
            &format!("voice changer {preset:?}"),
            &h,
            &format!("adds {:.1} ms", changer.latency_ms()),
        );
    }

    let format = HookFormat {
        sample_rate: 16_000,
        channels: 2,
        frame_ms: 10,
    };
    let mut runner = HookRunner::new(
        Box::new(hook_fn(format, |frame: &mut [f32], _: &HookInfo<'_>| {
            std::hint::black_box(frame);
        })),
        Format::MONO_48K,
    )
    .expect("a valid format");
    let info = HookInfo {
        point: HookPoint::Encode,
        media_id: None,
        channel: None,
    };
    let mut frame = vec![0.0f32; 960];
    let h = timed(|| {
        tone.fill(&mut frame);
        runner.run(&mut frame, &info).expect("an empty hook runs");
    });
    summary(
        "hook at 16 kHz stereo 10 ms (conversion)",
        &h,
        &format!("adds {:.1} ms", runner.latency_ms()),
    );
    let _ = std::fs::remove_dir_all(&dir);
}
