//! What one 1080p screen frame costs: capture through MIT-SHM and through plain `GetImage`, the
//! BGRA -> I420 conversion, and the scale to the 960x540 low layer, each on its own.
//!
//! Starts its own Xvfb at 1920x1080 (like the tests) and prints a table of mean, p50 and p95
//! milliseconds over [`FRAMES`] frames per step:
//!
//! ```text
//! cargo run --release -p livestage-media --example screen_cost
//! ```

#[path = "../tests/xserver/mod.rs"]
mod xserver;

use std::error::Error;
use std::time::Instant;

use hdrhistogram::Histogram;
use livestage_media::video::convert::bgra_to_i420_into;
use livestage_media::video::screen::{Grabber, Options, Target};
use livestage_media::video::{I420, Scaler, scale};
use xserver::{Server, TestWindow};

/// Frames measured per step.
const FRAMES: usize = 100;
const WIDTH: u32 = 1920;
const HEIGHT: u32 = 1080;

/// Times `step` [`FRAMES`] times (after one warm-up run), in microseconds.
fn measure(mut step: impl FnMut()) -> Result<Histogram<u64>, Box<dyn Error>> {
    step();
    let mut histogram = Histogram::<u64>::new(3)?;
    for _ in 0..FRAMES {
        let start = Instant::now();
        step();
        histogram.record(u64::try_from(start.elapsed().as_micros())?)?;
    }
    Ok(histogram)
}

fn row(what: &str, histogram: &Histogram<u64>) {
    let ms = |us: f64| us / 1000.0;
    println!(
        "| {what} | {:.2} | {:.2} | {:.2} |",
        ms(histogram.mean()),
        ms(histogram.value_at_quantile(0.5) as f64),
        ms(histogram.value_at_quantile(0.95) as f64),
    );
}

fn main() -> Result<(), Box<dyn Error>> {
    let server = Server::start(WIDTH, HEIGHT, false);
    // Something on screen besides the black root.
    let _window = TestWindow::open(&server, "cost", (200, 100), (1200, 800));
    let options = |shared_memory| Options {
        server: Some(server.name.clone()),
        cursor: false,
        shared_memory,
        ..Options::default()
    };
    let display = Target::Region {
        x: 0,
        y: 0,
        width: WIDTH,
        height: HEIGHT,
    };
    let mut pixels = Vec::new();

    println!("{FRAMES} frames of {WIDTH}x{HEIGHT} per step, on Xvfb, this machine's CPU");
    println!("| step | mean ms | p50 ms | p95 ms |");
    println!("| --- | --- | --- | --- |");
    let mut shm = Grabber::new(display, &options(true))?;
    shm.grab(&mut pixels)?;
    if shm.shared_memory() {
        let grab = measure(|| {
            shm.grab(&mut pixels).expect("the grab succeeds");
        })?;
        row("capture, MIT-SHM (memfd, mmap)", &grab);
    } else {
        println!("| capture, MIT-SHM | not offered by this server | | |");
    }
    let mut plain = Grabber::new(display, &options(false))?;
    let grab = measure(|| {
        plain.grab(&mut pixels).expect("the grab succeeds");
    })?;
    row("capture, GetImage", &grab);

    let mut frame = I420::new(WIDTH, HEIGHT)?;
    let convert = measure(|| {
        bgra_to_i420_into(&pixels, WIDTH * 4, &mut frame).expect("the grab filled 1080p BGRX");
    })?;
    row("BGRA -> I420 (yuvutils-rs)", &convert);

    let (low_w, low_h) = scale::low_layer_size(WIDTH, HEIGHT);
    let mut low = I420::new(low_w, low_h)?;
    let mut scaler = Scaler::new();
    let scale = measure(|| scaler.scale_into(&frame, &mut low))?;
    row(&format!("scale I420 -> {low_w}x{low_h} (bilinear)"), &scale);
    Ok(())
}
