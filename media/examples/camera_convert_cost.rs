//! What turning one webcam frame into I420 costs, per pixel format, at 1280x720 and 1920x1080:
//! YUYV and NV12 (rows padded by 64 bytes, as some drivers do) and MJPEG (4:2:2, quality 90, of
//! the textured test pattern, whose noise makes the JPEG about as large as a camera's). Also
//! what a [`StillSource`] frame costs: one copy of the picture.
//!
//! Prints p50 and p95 milliseconds over [`FRAMES`] conversions, on this machine's CPU, one
//! thread:
//!
//! ```text
//! cargo run --release -p livestage-media --example camera_convert_cost
//! ```

use std::error::Error;
use std::time::Instant;

use hdrhistogram::Histogram;
use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
use livestage_media::video::convert::i420_to_rgba;
use livestage_media::video::pixel::{Converter, Format};
use livestage_media::video::{I420, StillSource, TestPattern};

/// Conversions measured per row.
const FRAMES: usize = 200;
/// Padding at the end of each YUYV and NV12 row.
const PADDING: usize = 64;

/// Times `step` [`FRAMES`] times (after a few warm-up runs), in microseconds.
fn measure(mut step: impl FnMut()) -> Result<Histogram<u64>, Box<dyn Error>> {
    for _ in 0..5 {
        step();
    }
    let mut histogram = Histogram::<u64>::new(3)?;
    for _ in 0..FRAMES {
        let start = Instant::now();
        step();
        histogram.record(u64::try_from(start.elapsed().as_micros())?)?;
    }
    Ok(histogram)
}

fn row(what: &str, (width, height): (u32, u32), histogram: &Histogram<u64>) {
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "| {what} | {width}x{height} | {:.3} | {:.3} |",
        ms(histogram.value_at_quantile(0.5)),
        ms(histogram.value_at_quantile(0.95)),
    );
}

fn yuyv(frame: &I420, stride: usize) -> Vec<u8> {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let mut out = vec![0; stride * h];
    for y in 0..h {
        for pair in 0..w / 2 {
            let c = (y / 2) * (w / 2) + pair;
            out[y * stride + pair * 4..][..4].copy_from_slice(&[
                frame.y()[y * w + pair * 2],
                frame.u()[c],
                frame.y()[y * w + pair * 2 + 1],
                frame.v()[c],
            ]);
        }
    }
    out
}

fn nv12(frame: &I420, stride: usize) -> Vec<u8> {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let mut out = vec![0; stride * (h + h / 2)];
    for y in 0..h {
        out[y * stride..][..w].copy_from_slice(&frame.y()[y * w..][..w]);
    }
    for cy in 0..h / 2 {
        for cx in 0..w / 2 {
            let at = (h + cy) * stride + cx * 2;
            let c = cy * (w / 2) + cx;
            out[at..at + 2].copy_from_slice(&[frame.u()[c], frame.v()[c]]);
        }
    }
    out
}

fn mjpeg(frame: &I420) -> Result<Vec<u8>, Box<dyn Error>> {
    let rgb: Vec<u8> = i420_to_rgba(frame)
        .data()
        .chunks_exact(4)
        .flat_map(|px| [px[0], px[1], px[2]])
        .collect();
    let mut jpeg = Vec::new();
    let mut encoder = Encoder::new(&mut jpeg, 90);
    encoder.set_sampling_factor(SamplingFactor::R_4_2_2);
    let (w, h) = frame.size();
    encoder.encode(&rgb, u16::try_from(w)?, u16::try_from(h)?, ColorType::Rgb)?;
    Ok(jpeg)
}

fn main() -> Result<(), Box<dyn Error>> {
    println!("{FRAMES} conversions per row, one thread, this machine's CPU");
    println!("| conversion into I420 | size | p50 ms | p95 ms |");
    println!("| --- | --- | --- | --- |");
    let mut converter = Converter::new();
    for size @ (width, height) in [(1280, 720), (1920, 1080)] {
        let picture = TestPattern::new(width, height)?
            .with_texture(true)
            .frame(1, 0);
        let mut out = I420::new(width, height)?;
        let stride = width as usize * 2 + PADDING;
        let data = yuyv(&picture, stride);
        let cost = measure(|| {
            converter
                .convert(Format::Yuyv, &data, width, height, stride as u32, &mut out)
                .expect("the YUYV frame is whole");
        })?;
        row("YUYV (padded rows)", size, &cost);
        let stride = width as usize + PADDING;
        let data = nv12(&picture, stride);
        let cost = measure(|| {
            converter
                .convert(Format::Nv12, &data, width, height, stride as u32, &mut out)
                .expect("the NV12 frame is whole");
        })?;
        row("NV12 (padded rows)", size, &cost);
        let data = mjpeg(&picture)?;
        let cost = measure(|| {
            converter
                .convert(Format::Mjpeg, &data, width, height, 0, &mut out)
                .expect("the JPEG is whole");
        })?;
        row(
            &format!("MJPEG 4:2:2 ({} KB)", data.len() / 1000),
            size,
            &cost,
        );
    }
    for size @ (width, height) in [(1920, 1080), (3840, 2160)] {
        let mut still = StillSource::new(I420::new(width, height)?, 60.0);
        let cost = measure(|| {
            std::hint::black_box(still.picture().clone());
        })?;
        row("still frame (a copy)", size, &cost);
        // The first call always gives a frame; this checks the copy is what latest() does.
        assert!(still.latest().is_some());
    }
    Ok(())
}
