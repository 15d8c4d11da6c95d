//! What the beauty filter costs per frame: the time of one [`Beauty::apply`] at 1280x720 and
//! 1920x1080, for each effect alone and all together, p50 and p99 over 300 frames, on one
//! thread. Each cell gives the wall-clock time and the thread's CPU time (which leaves out time
//! the thread spent waiting for a core, when other processes share the machine); the load
//! average before and after is printed with the table.
//!
//! ```text
//! cargo run --release -p livestage-media --example beauty_cost
//! ```
//!
//! The frames are the tests' synthetic portrait (tests/portrait: a noisy skin-tone face with an
//! eyebrow band on a noisy background), 8 different noise seeds in turn. Each frame is copied
//! fresh from its original before it is filtered (the copy is not timed), so every call does
//! the same work as on a new camera frame. The filter has no shortcut for background or flat
//! areas, so the cost does not depend on the picture (only "all off" returns at once).

#[path = "../tests/portrait/mod.rs"]
mod portrait;

use std::hint::black_box;
use std::time::Instant;

use hdrhistogram::Histogram;
use livestage_media::video::I420;
use livestage_media::video::beauty::{Beauty, Contrast, Options};
use rustix::time::ClockId;

/// Frames timed per size and configuration.
const FRAMES: usize = 300;
/// Untimed frames first, so buffers are allocated and caches warm.
const WARM_UP: usize = 10;

fn main() {
    let off = Options::default();
    let configs = [
        ("all off (pass-through)", off),
        (
            "smoothness 1.0",
            Options {
                smoothness: 1.0,
                ..off
            },
        ),
        (
            "lightening 1.0 (high contrast)",
            Options {
                lightening: 1.0,
                contrast: Contrast::High,
                ..off
            },
        ),
        (
            "redness 1.0",
            Options {
                redness: 1.0,
                ..off
            },
        ),
        (
            "sharpness 1.0",
            Options {
                sharpness: 1.0,
                ..off
            },
        ),
        (
            "all four at 1.0",
            Options {
                smoothness: 1.0,
                lightening: 1.0,
                contrast: Contrast::High,
                redness: 1.0,
                sharpness: 1.0,
            },
        ),
    ];
    let sizes = [(1280, 720), (1920, 1080)];
    let sources: Vec<Vec<I420>> = sizes
        .iter()
        .map(|&(w, h)| {
            (0..8)
                .map(|seed| portrait::portrait(w, h, seed).0)
                .collect()
        })
        .collect();

    println!("load average before: {}", load_average());
    println!(
        "Beauty::apply, one thread, {FRAMES} frames per cell, ms as wall-clock / thread CPU time"
    );
    println!("| effect | 1280x720 p50 | 1280x720 p99 | 1920x1080 p50 | 1920x1080 p99 |");
    println!("| --- | --- | --- | --- | --- |");
    for (name, options) in configs {
        let mut row = format!("| {name} |");
        for frames in &sources {
            let (wall, cpu) = time(options, frames);
            for q in [0.5, 0.99] {
                let ms = |h: &Histogram<u64>| h.value_at_quantile(q) as f64 / 1e6;
                row += &format!(" {:.2} / {:.2} |", ms(&wall), ms(&cpu));
            }
        }
        println!("{row}");
    }
    println!("load average after: {}", load_average());
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

/// Nanoseconds per [`Beauty::apply`] of `options` over [`FRAMES`] copies of `frames`, wall
/// clock and thread CPU time.
fn time(options: Options, frames: &[I420]) -> (Histogram<u64>, Histogram<u64>) {
    let new = || Histogram::<u64>::new(3).expect("3 significant figures is valid");
    let (mut wall, mut cpu) = (new(), new());
    let mut beauty = Beauty::new(options).expect("the configurations are in range");
    let mut work = frames[0].clone();
    for n in 0..WARM_UP + FRAMES {
        let source = &frames[n % frames.len()];
        let (y, u, v) = work.planes_mut();
        y.copy_from_slice(source.y());
        u.copy_from_slice(source.u());
        v.copy_from_slice(source.v());
        let (start, start_cpu) = (Instant::now(), cpu_ns());
        beauty.apply(black_box(&mut work));
        let (elapsed, elapsed_cpu) = (start.elapsed(), cpu_ns() - start_cpu);
        if n >= WARM_UP {
            let in_range = "a frame takes less than the histogram's range";
            wall.record(elapsed.as_nanos() as u64).expect(in_range);
            cpu.record(elapsed_cpu).expect(in_range);
        }
    }
    (wall, cpu)
}
