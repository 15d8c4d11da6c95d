//! What a CDN push's own media work costs, part by part, on one thread (the whole push,
//! with its viewer's decoding and the RTMP senders, is `benches/push_cost.sh`):
//!
//! - the [`Compositor`]: 2, 4, 9 and 17 hosts' 640x360 pictures (cropped into a grid, the
//!   scaling every push does) and two 1280x720 pictures side by side, onto a 1280x720 canvas;
//!   ms per frame, p50 and p99 over 300 frames, wall clock and thread CPU time;
//! - the AAC encoder ([`aac::Encoder`], pure-Rust `rusty_aac`): CPU seconds to encode 10 s of
//!   48 kHz stereo at 128 kbps, fed in 20 ms frames as a push does; beside it, ffmpeg's native
//!   AAC encoder on the same samples (`ffmpeg -f f32le ... -c:a aac`, the whole process's CPU,
//!   when ffmpeg is installed), the licence-clean alternative we compared it with.
//!
//! ```text
//! cargo run --release -p livestage-media --example push_parts_cost
//! ```

use std::hint::black_box;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use hdrhistogram::Histogram;
use livestage_media::audio::aac;
use livestage_media::video::compose::{Canvas, Compositor, Layer, Region};
use livestage_media::video::{I420, TestPattern};
use rustix::time::ClockId;

/// Frames timed per layout.
const FRAMES: usize = 300;
/// Untimed frames first, so buffers are allocated and caches warm.
const WARM_UP: usize = 10;
/// Seconds of sound encoded.
const SOUND_SECS: usize = 10;

fn main() {
    println!("load average before: {}", load_average());
    compositor();
    println!();
    aac_encoders();
    println!("load average after: {}", load_average());
}

fn compositor() {
    println!(
        "Compositor::compose onto 1280x720, one thread, {FRAMES} frames, ms wall / thread CPU"
    );
    println!("| layout | p50 | p99 |");
    println!("| --- | --- | --- |");
    let canvas = Canvas {
        width: 1280,
        height: 720,
        background: [0, 0, 0],
    };
    let small = pictures(640, 360, 17);
    for n in [2usize, 4, 9, 17] {
        let layers = grid(n, &small);
        row(&format!("{n} hosts of 640x360 in a grid"), canvas, &layers);
    }
    let big = pictures(1280, 720, 2);
    let side_by_side = vec![
        Layer::new(Region::new(0, 0, 640, 720), Some(&big[0])),
        Layer::new(Region::new(640, 0, 640, 720), Some(&big[1])),
    ];
    row("2 hosts of 1280x720 side by side", canvas, &side_by_side);
}

/// `count` different test pattern frames of `width`x`height`.
fn pictures(width: u32, height: u32, count: usize) -> Vec<I420> {
    let pattern = TestPattern::new(width, height).expect("a valid size");
    (0..count as u64)
        .map(|n| pattern.frame(n * 7, n * 1_000_000))
        .collect()
}

/// A grid of `n` regions on 1280x720, each cropping its picture.
fn grid<'a>(n: usize, pictures: &'a [I420]) -> Vec<Layer<'a>> {
    let cols = (n as f64).sqrt().ceil() as usize;
    let rows = n.div_ceil(cols);
    let (w, h) = (1280 / cols as u32 / 2 * 2, 720 / rows as u32 / 2 * 2);
    (0..n)
        .map(|i| {
            let (x, y) = ((i % cols) as u32 * w, (i / cols) as u32 * h);
            Layer::new(Region::new(x as i32, y as i32, w, h), Some(&pictures[i]))
        })
        .collect()
}

fn row(name: &str, canvas: Canvas, layers: &[Layer<'_>]) {
    let new = || Histogram::<u64>::new(3).expect("3 significant figures is valid");
    let (mut wall, mut cpu) = (new(), new());
    let mut compositor = Compositor::new(canvas).expect("a valid canvas");
    for n in 0..WARM_UP + FRAMES {
        let (start, start_cpu) = (Instant::now(), cpu_ns());
        black_box(compositor.compose(black_box(layers)).expect("valid layers"));
        let (elapsed, elapsed_cpu) = (start.elapsed(), cpu_ns() - start_cpu);
        if n >= WARM_UP {
            let in_range = "a frame takes less than the histogram's range";
            wall.record(elapsed.as_nanos() as u64).expect(in_range);
            cpu.record(elapsed_cpu).expect(in_range);
        }
    }
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1e6;
    println!(
        "| {name} | {:.2} / {:.2} | {:.2} / {:.2} |",
        ms(&wall, 0.5),
        ms(&cpu, 0.5),
        ms(&wall, 0.99),
        ms(&cpu, 0.99)
    );
}

fn aac_encoders() {
    // A chord with a slow sweep, so the encoder has real work (silence would be free).
    let rate = 48_000usize;
    let samples: Vec<f32> = (0..rate * SOUND_SECS)
        .flat_map(|i| {
            let t = i as f32 / rate as f32;
            let sweep = 200.0 + 1800.0 * (t / SOUND_SECS as f32);
            let l = 0.3 * (std::f32::consts::TAU * 440.0 * t).sin()
                + 0.2 * (std::f32::consts::TAU * sweep * t).sin();
            let r = 0.3 * (std::f32::consts::TAU * 660.0 * t).sin()
                + 0.2 * (std::f32::consts::TAU * sweep * 1.5 * t).sin();
            [l, r]
        })
        .collect();
    println!("AAC-LC, {SOUND_SECS} s of 48 kHz stereo at 128 kbps");
    println!("| encoder | CPU s | bytes out |");
    println!("| --- | --- | --- |");
    let config = aac::Config::default();
    let mut encoder = aac::Encoder::new(config).expect("the default configuration is valid");
    let mut packets = Vec::new();
    let start = cpu_ns();
    for frame in samples.chunks(960 * 2) {
        encoder
            .push(frame, &mut packets)
            .expect("whole stereo samples");
    }
    encoder.flush(&mut packets).expect("flushes");
    let secs = (cpu_ns() - start) as f64 / 1e9;
    let bytes: usize = packets.iter().map(|p| p.data.len()).sum();
    println!("| rusty_aac (aac::Encoder, in 20 ms frames) | {secs:.3} | {bytes} |");
    match ffmpeg_aac(&samples) {
        Some((secs, bytes)) => {
            println!("| ffmpeg native aac (whole process) | {secs:.3} | {bytes} |")
        }
        None => println!("| ffmpeg native aac | (ffmpeg not installed) | |"),
    }
}

/// CPU seconds (user + system, from `/proc`, in 10 ms ticks) and output bytes of ffmpeg
/// encoding `samples`.
fn ffmpeg_aac(samples: &[f32]) -> Option<(f64, usize)> {
    let out = std::env::temp_dir().join(format!("push_parts_cost_{}.aac", std::process::id()));
    let mut child = Command::new("ffmpeg")
        .args([
            "-v", "error", "-y", "-f", "f32le", "-ar", "48000", "-ac", "2", "-i", "-",
        ])
        .args(["-c:a", "aac", "-b:a", "128k"])
        .arg(&out)
        .stdin(Stdio::piped())
        .spawn()
        .ok()?;
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    child.stdin.take()?.write_all(&bytes).ok()?;
    // A finished child stays in /proc, with its CPU times, until it is waited for.
    let stat = format!("/proc/{}/stat", child.id());
    let secs = loop {
        let text = std::fs::read_to_string(&stat).ok()?;
        let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
        if fields.first() == Some(&"Z") {
            let ticks: f64 = fields[11].parse::<f64>().ok()? + fields[12].parse::<f64>().ok()?;
            break ticks / 100.0; // USER_HZ, 100 on Linux.
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    if !child.wait().ok()?.success() {
        return None;
    }
    let size = std::fs::metadata(&out).ok()?.len() as usize;
    let _ = std::fs::remove_file(&out);
    Some((secs, size))
}

/// This thread's CPU time so far, in nanoseconds.
fn cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(ClockId::ThreadCPUTime);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".into(),
        |s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}
