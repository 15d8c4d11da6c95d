//! What a raw video hook costs the path, beyond the hook's own work: a hook that does nothing,
//! run through the [`Runner`] (the copy it works on, the size check, and for RGBA the
//! conversion there and back), per frame at 720p and 1080p.
//!
//! ```text
//! cargo run --release -p livestage-media --example video_hook_cost
//! ```
//!
//! One thread, this machine's CPU; 300 frames of the textured test pattern per row.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use livestage_media::video::TestPattern;
use livestage_media::video::hooks::{Format, Info, Runner, Verdict, hook_fn};

const FRAMES: u64 = 300;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("| size | hook format | p50 | p99 | max |");
    println!("|---|---|---|---|---|");
    for (width, height) in [(1280, 720), (1920, 1080)] {
        let pattern = TestPattern::new(width, height)?.with_texture(true);
        for format in [Format::I420, Format::Rgba] {
            let hook = hook_fn(format, |_, _| Verdict::Keep);
            let mut runner = Runner::new(Box::new(hook), Duration::from_secs(1));
            let mut times = Histogram::<u64>::new(3)?;
            for n in 0..FRAMES {
                let mut frame = pattern.frame(n, n * 33_333);
                let started = Instant::now();
                runner.run(&mut frame, &Info::local(n))?;
                times.record(started.elapsed().as_micros() as u64)?;
            }
            let ms = |us: u64| us as f64 / 1000.0;
            println!(
                "| {width}x{height} | {format:?} | {:.2} ms | {:.2} ms | {:.2} ms |",
                ms(times.value_at_quantile(0.5)),
                ms(times.value_at_quantile(0.99)),
                ms(times.max()),
            );
        }
    }
    Ok(())
}
