//! `livestage pattern` and `livestage stamps`: raw stamped frames out, stamps read back in, so
//! another pipeline (ffmpeg -> RTMP server -> ffmpeg) can be measured glass to glass on the same
//! clock as ours.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use livestage_media::video::{I420, TestPattern, read_stamp};
use serde::Serialize;

use super::bot_media::{Percentiles, now_us};

/// Flags of `livestage pattern`.
#[derive(clap::Args)]
pub struct PatternArgs {
    /// Frame size, WIDTHxHEIGHT.
    #[arg(long, default_value = "1280x720")]
    size: String,
    /// Frames per second.
    #[arg(long, default_value_t = 30.0)]
    fps: f32,
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Add changing texture (costs a full bitrate, like game footage).
    #[arg(long)]
    textured: bool,
}

/// Flags of `livestage stamps`.
#[derive(clap::Args)]
pub struct StampsArgs {
    /// Frame size, WIDTHxHEIGHT.
    #[arg(long, default_value = "1280x720")]
    size: String,
    /// Ignore the first frames (the pipeline filling up).
    #[arg(long, default_value_t = 30)]
    skip: u64,
    /// Write the JSON report here (it is also printed).
    #[arg(long)]
    report: Option<PathBuf>,
}

fn parse_size(size: &str) -> anyhow::Result<(u32, u32)> {
    let (w, h) = size.split_once('x').context("size is WIDTHxHEIGHT")?;
    Ok((w.parse()?, h.parse()?))
}

fn write_i420(out: &mut impl Write, frame: &I420) -> std::io::Result<()> {
    out.write_all(frame.y())?;
    out.write_all(frame.u())?;
    out.write_all(frame.v())
}

/// Writes raw I420 stamped test-pattern frames to stdout in real time.
pub fn pattern(args: PatternArgs) -> anyhow::Result<ExitCode> {
    let (w, h) = parse_size(&args.size)?;
    let pattern = TestPattern::new(w, h)?.with_texture(args.textured);
    let mut out = std::io::stdout().lock();
    let period = Duration::from_secs_f32(1.0 / args.fps);
    let start = Instant::now();
    for n in 0u64.. {
        if start.elapsed().as_secs_f64() >= args.duration {
            break;
        }
        let frame = pattern.frame(n, now_us());
        if write_i420(&mut out, &frame)
            .and_then(|()| out.flush())
            .is_err()
        {
            break; // The reader went away.
        }
        let next = start + period * (n as u32 + 1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct StampsReport {
    frames: u64,
    unreadable: u64,
    in_order: bool,
    latency_ms: Percentiles,
}

/// Reads raw I420 frames from stdin and reports the latency of their stamps.
pub fn stamps(args: StampsArgs) -> anyhow::Result<ExitCode> {
    let (w, h) = parse_size(&args.size)?;
    let (luma, chroma) = ((w * h) as usize, ((w / 2) * (h / 2)) as usize);
    let mut buf = vec![0u8; luma + 2 * chroma];
    let mut input = std::io::stdin().lock();
    let (mut frames, mut unreadable, mut last, mut in_order) = (0u64, 0u64, None, true);
    let mut latencies = Vec::new();
    while input.read_exact(&mut buf).is_ok() {
        let now = now_us();
        let frame = I420::from_planes(
            w,
            h,
            buf[..luma].to_vec(),
            buf[luma..luma + chroma].to_vec(),
            buf[luma + chroma..].to_vec(),
        )?;
        let Some(stamp) = read_stamp(&frame) else {
            unreadable += 1;
            continue;
        };
        frames += 1;
        in_order &= last.is_none_or(|l| stamp.frame_number > l);
        last = Some(stamp.frame_number);
        if frames > args.skip {
            latencies.push(now.saturating_sub(stamp.capture_us) as f64 / 1000.0);
        }
    }
    let report = StampsReport {
        frames,
        unreadable,
        in_order,
        latency_ms: Percentiles::of(latencies),
    };
    let json = serde_json::to_string_pretty(&report)?;
    println!("{json}");
    if let Some(path) = &args.report {
        std::fs::write(path, &json)?;
    }
    Ok(if frames > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
