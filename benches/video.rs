//! Video throughput: H.264 encode and decode of the test pattern at 720p and 1080p, and RGBA <->
//! I420 conversion at 1080p. Prints a table of median per-frame times.
//!
//! Run with `cargo bench --bench video` (release build, well under a minute).
//!
//! "pattern" is the test pattern as it is streamed (flat background, changing stamp, moving
//! bar: easy to compress). "textured" adds low-amplitude noise that changes every frame, which
//! makes the encoder spend its whole bitrate, closer to game footage.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use livestage_media::video::{Decoder, Encoded, Encoder, I420, Rgba, TestPattern, convert, encode};

const FRAMES: u64 = 150;
const CONVERSIONS: usize = 60;
const FPS: f32 = 30.0;
const FRAME_US: u64 = 33_333;

struct Row {
    case: String,
    samples: Vec<Duration>,
    note: String,
}

fn main() {
    let mut rows = Vec::new();
    for (width, height, bitrate_bps) in [(1280, 720, 3_000_000), (1920, 1080, 6_000_000)] {
        for textured in [false, true] {
            let kind = if textured { "textured" } else { "pattern" };
            let (encode_row, packets) = bench_encode(width, height, bitrate_bps, textured);
            let label = format!("{width}x{height} {kind} @ {} Mbps", bitrate_bps / 1_000_000);
            rows.push(Row {
                case: format!("encode {label}"),
                ..encode_row
            });
            rows.push(bench_decode(&format!("decode {label}"), &packets));
        }
    }
    rows.extend(bench_convert(1920, 1080));
    print_table(&rows);
}

fn bench_encode(width: u32, height: u32, bitrate_bps: u32, textured: bool) -> (Row, Vec<Encoded>) {
    let pattern = TestPattern::new(width, height).unwrap();
    let config = encode::Config::new(width, height, FPS, bitrate_bps).unwrap();
    let mut encoder = Encoder::new(config).unwrap();
    let mut frame = I420::new(width, height).unwrap();
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let mut samples = Vec::new();
    let mut packets = Vec::new();
    let mut skipped = 0;
    for n in 0..FRAMES {
        let capture_us = n * FRAME_US;
        pattern.frame_into(n, capture_us, &mut frame).unwrap();
        if textured {
            noise.add_to(
                frame.planes_mut().0,
                pattern.band_height() as usize * width as usize,
            );
        }
        let start = Instant::now();
        let encoded = encoder.encode(&frame, capture_us).unwrap();
        samples.push(start.elapsed());
        match encoded {
            Some(encoded) => packets.push(encoded),
            None => skipped += 1,
        }
    }
    let bytes: usize = packets.iter().map(|p| p.data.len()).sum();
    let kbps = bytes as f64 * 8.0 * f64::from(FPS) / FRAMES as f64 / 1000.0;
    let note = format!("{kbps:.0} kbps out, {skipped} skipped");
    (
        Row {
            case: String::new(),
            samples,
            note,
        },
        packets,
    )
}

fn bench_decode(case: &str, packets: &[Encoded]) -> Row {
    let mut decoder = Decoder::new().unwrap();
    let mut samples = Vec::new();
    let mut pictures = 0;
    for packet in packets {
        let start = Instant::now();
        let picture = decoder.decode(&packet.data).unwrap();
        samples.push(start.elapsed());
        pictures += usize::from(picture.is_some());
    }
    let note = format!("{pictures} pictures from {} packets", packets.len());
    Row {
        case: case.to_owned(),
        samples,
        note,
    }
}

fn bench_convert(width: u32, height: u32) -> [Row; 2] {
    let pattern = TestPattern::new(width, height).unwrap();
    let mut rgba = Rgba::new(width, height).unwrap();
    convert::i420_to_rgba_into(&pattern.frame(1, 1), &mut rgba).unwrap();
    let mut i420 = I420::new(width, height).unwrap();

    let to_i420 = (0..CONVERSIONS)
        .map(|_| time(|| convert::rgba_to_i420_into(&rgba, &mut i420).unwrap()))
        .collect();
    let to_rgba = (0..CONVERSIONS)
        .map(|_| time(|| convert::i420_to_rgba_into(&i420, &mut rgba).unwrap()))
        .collect();
    [
        Row {
            case: format!("RGBA -> I420 {width}x{height}"),
            samples: to_i420,
            note: "into a reused buffer".into(),
        },
        Row {
            case: format!("I420 -> RGBA {width}x{height}"),
            samples: to_rgba,
            note: "into a reused buffer".into(),
        },
    ]
}

fn time(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn print_table(rows: &[Row]) {
    println!();
    println!("| case | n | median ms/frame | fps at median | p95 ms | note |");
    println!("|---|---|---|---|---|---|");
    for row in rows {
        let mut sorted = row.samples.clone();
        sorted.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let median = ms(sorted[sorted.len() / 2]);
        let p95 = ms(sorted[(sorted.len() * 95 / 100).min(sorted.len() - 1)]);
        println!(
            "| {} | {} | {median:.2} | {:.0} | {p95:.2} | {} |",
            row.case,
            sorted.len(),
            1000.0 / median,
            row.note
        );
    }
}

/// xorshift64: cheap, deterministic texture so the bench needs no extra dependency.
struct Noise(u64);

impl Noise {
    /// Adds 0..16 to every luma byte from `skip` on (leaving the stamp band alone).
    fn add_to(&mut self, luma: &mut [u8], skip: usize) {
        for chunk in luma[skip..].chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            for (px, byte) in chunk.iter_mut().zip(self.0.to_le_bytes()) {
                *px = px.saturating_add(byte & 15);
            }
        }
    }
}
