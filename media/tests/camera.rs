//! Webcam frames into I420, and the camera source on recorded frames: a test pattern expressed
//! as YUYV, NV12 and MJPEG (4:2:2, as webcams send it) comes out close to the original with its
//! stamp readable; padded rows and odd sizes are handled; bad data (cut, garbage, 400 damaged
//! JPEGs, also as stills) is an error or a smeared picture, never a panic;
//! a replayed recording goes through the same thread and slot as a camera; without a camera
//! every call says so clearly.
#![allow(clippy::unwrap_used)]

use std::thread;
use std::time::{Duration, Instant};

use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
use livestage_media::video::camera::{self, CameraError, CameraSource, Options, Recording};
use livestage_media::video::convert::i420_to_rgba;
use livestage_media::video::pixel::{self, Converter, Format};
use livestage_media::video::{I420, TestPattern, read_stamp};

const WIDTH: u32 = 640;
const HEIGHT: u32 = 360;
/// Capture time of frame 0 in the patterns (any value; it comes back in the stamp).
const EPOCH_US: u64 = 1_700_000_000_000_000;
/// Filler for row padding, so that reading it by mistake shows.
const PAD: u8 = 0xA5;

fn pattern(width: u32, height: u32, n: u64) -> I420 {
    TestPattern::new(width, height)
        .unwrap()
        .with_colour([200, 60, 30])
        .frame(n, EPOCH_US + n * 33_333)
}

/// The luma (or 16, outside the picture) and chroma of `frame` at a pixel.
fn sample(frame: &I420, x: u32, y: u32) -> (u8, u8, u8) {
    let (w, h) = frame.size();
    let (x, y) = (x.min(w - 1) as usize, y.min(h - 1) as usize);
    let cw = w as usize / 2;
    let c = (y / 2) * cw + x / 2;
    (frame.y()[y * w as usize + x], frame.u()[c], frame.v()[c])
}

/// `frame` as `width`x`height` YUYV with rows `stride` bytes apart (pixels beyond the frame
/// repeat its edge).
fn to_yuyv(frame: &I420, width: u32, height: u32, stride: usize) -> Vec<u8> {
    let mut out = vec![PAD; stride * height as usize];
    for y in 0..height {
        let row = &mut out[y as usize * stride..];
        for pair in 0..width.div_ceil(2) {
            let (y0, u, v) = sample(frame, pair * 2, y);
            let (y1, _, _) = sample(frame, pair * 2 + 1, y);
            row[pair as usize * 4..][..4].copy_from_slice(&[y0, u, y1, v]);
        }
    }
    out
}

/// `frame` as `width`x`height` NV12 with both planes' rows `stride` bytes apart.
fn to_nv12(frame: &I420, width: u32, height: u32, stride: usize) -> Vec<u8> {
    let chroma_rows = height.div_ceil(2) as usize;
    let mut out = vec![PAD; stride * (height as usize + chroma_rows)];
    for y in 0..height {
        for x in 0..width {
            out[y as usize * stride + x as usize] = sample(frame, x, y).0;
        }
    }
    let uv = &mut out[height as usize * stride..];
    for cy in 0..chroma_rows {
        for cx in 0..width.div_ceil(2) {
            let (_, u, v) = sample(frame, cx * 2, cy as u32 * 2);
            uv[cy * stride + cx as usize * 2..][..2].copy_from_slice(&[u, v]);
        }
    }
    out
}

/// `frame` as a 4:2:2 JPEG, as a webcam would send it.
fn to_mjpeg(frame: &I420, quality: u8) -> Vec<u8> {
    let rgb: Vec<u8> = i420_to_rgba(frame)
        .data()
        .chunks_exact(4)
        .flat_map(|px| [px[0], px[1], px[2]])
        .collect();
    let mut jpeg = Vec::new();
    let mut encoder = Encoder::new(&mut jpeg, quality);
    encoder.set_sampling_factor(SamplingFactor::R_4_2_2);
    let (w, h) = frame.size();
    encoder
        .encode(&rgb, w as u16, h as u16, ColorType::Rgb)
        .unwrap();
    jpeg
}

/// The JPEG without its Huffman table segments, as many webcams send MJPEG.
fn without_huffman_tables(jpeg: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    let mut at = 2;
    while jpeg[at + 1] != 0xDA {
        let len = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        if jpeg[at + 1] != 0xC4 {
            out.extend_from_slice(&jpeg[at..at + 2 + len]);
        }
        at += 2 + len;
    }
    out.extend_from_slice(&jpeg[at..]);
    out
}

/// Peak signal-to-noise ratio over all three planes, in dB.
fn psnr(a: &I420, b: &I420) -> f64 {
    assert_eq!(a.size(), b.size());
    let planes = [(a.y(), b.y()), (a.u(), b.u()), (a.v(), b.v())];
    let (mut sum, mut count) = (0.0f64, 0usize);
    for (p, q) in planes {
        for (&x, &y) in p.iter().zip(q) {
            sum += (f64::from(x) - f64::from(y)).powi(2);
        }
        count += p.len();
    }
    let mse = sum / count as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

fn convert(format: Format, data: &[u8], width: u32, height: u32, stride: u32) -> I420 {
    let mut frame = I420::new(width & !1, height & !1).unwrap();
    Converter::new()
        .convert(format, data, width, height, stride, &mut frame)
        .unwrap();
    frame
}

#[test]
fn yuyv_and_nv12_convert_without_loss() {
    let original = pattern(WIDTH, HEIGHT, 7);
    let yuyv = to_yuyv(&original, WIDTH, HEIGHT, WIDTH as usize * 2);
    let nv12 = to_nv12(&original, WIDTH, HEIGHT, WIDTH as usize);
    for (format, data, stride) in [(Format::Yuyv, yuyv, WIDTH * 2), (Format::Nv12, nv12, WIDTH)] {
        let frame = convert(format, &data, WIDTH, HEIGHT, stride);
        let quality = psnr(&frame, &original);
        assert!(quality >= 35.0, "{format}: {quality:.1} dB");
        assert_eq!(
            read_stamp(&frame).map(|s| s.frame_number),
            Some(7),
            "{format}"
        );
    }
}

#[test]
fn padded_rows_are_skipped() {
    let original = pattern(WIDTH, HEIGHT, 3);
    let yuyv = to_yuyv(&original, WIDTH, HEIGHT, WIDTH as usize * 2 + 64);
    let frame = convert(Format::Yuyv, &yuyv, WIDTH, HEIGHT, WIDTH * 2 + 64);
    assert!(psnr(&frame, &original) >= 35.0);
    let nv12 = to_nv12(&original, WIDTH, HEIGHT, WIDTH as usize + 32);
    let frame = convert(Format::Nv12, &nv12, WIDTH, HEIGHT, WIDTH + 32);
    assert!(psnr(&frame, &original) >= 35.0);
    assert_eq!(read_stamp(&frame).map(|s| s.frame_number), Some(3));
}

#[test]
fn an_odd_size_loses_its_last_column_and_row() {
    let original = pattern(320, 180, 5);
    let (w, h) = (321, 181);
    let yuyv = to_yuyv(&original, w, h, 644 + 12);
    let frame = convert(Format::Yuyv, &yuyv, w, h, 644 + 12);
    assert_eq!(frame.size(), (320, 180));
    assert!(psnr(&frame, &original) >= 35.0);
    let nv12 = to_nv12(&original, w, h, 336);
    let frame = convert(Format::Nv12, &nv12, w, h, 336);
    assert!(psnr(&frame, &original) >= 35.0);
    // A JPEG of an odd size, cropped the same way.
    let mut wide = I420::new(322, 182).unwrap();
    livestage_media::video::scale::scale_into(&original, &mut wide);
    let jpeg = to_mjpeg(&wide, 95);
    let jpeg = patch_size(&jpeg, 321, 181);
    let mut frame = I420::new(320, 180).unwrap();
    let size = Converter::new().mjpeg_into(&jpeg, &mut frame).unwrap();
    assert_eq!(size, (321, 181));
    assert_eq!(read_stamp(&frame).map(|s| s.frame_number), Some(5));
}

/// The JPEG with the size in its frame header changed (a smaller size crops the picture).
fn patch_size(jpeg: &[u8], width: u16, height: u16) -> Vec<u8> {
    let mut out = jpeg.to_vec();
    let sof = out.windows(2).position(|m| m == [0xFF, 0xC0]).unwrap();
    out[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    out[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    out
}

#[test]
fn mjpeg_422_decodes_close_to_the_original() {
    let original = pattern(WIDTH, HEIGHT, 11);
    let jpeg = to_mjpeg(&original, 90);
    let frame = convert(Format::Mjpeg, &jpeg, WIDTH, HEIGHT, 0);
    let quality = psnr(&frame, &original);
    assert!(quality >= 30.0, "MJPEG: {quality:.1} dB");
    assert_eq!(read_stamp(&frame).map(|s| s.frame_number), Some(11));
}

#[test]
fn mjpeg_without_huffman_tables_uses_the_standard_ones() {
    let original = pattern(WIDTH, HEIGHT, 12);
    let jpeg = to_mjpeg(&original, 90);
    let bare = without_huffman_tables(&jpeg);
    assert!(bare.len() < jpeg.len(), "the tables were taken out");
    let frame = convert(Format::Mjpeg, &bare, WIDTH, HEIGHT, 0);
    assert_eq!(frame, convert(Format::Mjpeg, &jpeg, WIDTH, HEIGHT, 0));
}

#[test]
fn bad_data_is_an_error_not_a_panic() {
    let original = pattern(WIDTH, HEIGHT, 1);
    let jpeg = to_mjpeg(&original, 90);
    let mut frame = I420::new(WIDTH, HEIGHT).unwrap();
    let mut converter = Converter::new();
    // A frame cut anywhere in its data fails (one missing only its end marker still decodes:
    // all of the picture is there).
    for cut in [0, 2, 100, jpeg.len() / 2, jpeg.len() - 200] {
        let result = converter.mjpeg_into(&jpeg[..cut], &mut frame);
        assert!(
            matches!(result, Err(pixel::Error::Jpeg(_))),
            "{cut} of {} bytes: {result:?}",
            jpeg.len()
        );
    }
    let garbage: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
    assert!(converter.mjpeg_into(&garbage, &mut frame).is_err());
    // A JPEG of another size than the camera said.
    let small = to_mjpeg(&pattern(320, 180, 1), 90);
    let err = converter
        .convert(Format::Mjpeg, &small, WIDTH, HEIGHT, 0, &mut frame)
        .unwrap_err();
    assert!(err.to_string().contains("320x180"), "{err}");

    let yuyv = to_yuyv(&original, WIDTH, HEIGHT, WIDTH as usize * 2);
    let short = &yuyv[..yuyv.len() - 1];
    let err = pixel::yuyv_to_i420_into(short, WIDTH, HEIGHT, WIDTH * 2, &mut frame).unwrap_err();
    assert!(matches!(err, pixel::Error::Short { .. }), "{err}");
    assert!(err.to_string().contains("incomplete"), "{err}");
    let err = pixel::yuyv_to_i420_into(&yuyv, WIDTH, HEIGHT, WIDTH, &mut frame).unwrap_err();
    assert!(matches!(err, pixel::Error::Stride { .. }), "{err}");
    let nv12 = to_nv12(&original, WIDTH, HEIGHT, WIDTH as usize);
    let err = pixel::nv12_to_i420_into(
        &nv12[..WIDTH as usize * HEIGHT as usize],
        WIDTH,
        HEIGHT,
        WIDTH,
        &mut frame,
    )
    .unwrap_err();
    assert!(matches!(err, pixel::Error::Short { .. }), "{err}");
    let mut wrong = I420::new(320, 180).unwrap();
    let err = pixel::nv12_to_i420_into(&nv12, WIDTH, HEIGHT, WIDTH, &mut wrong).unwrap_err();
    assert!(err.to_string().contains("640x360 I420"), "{err}");
    let err = converter
        .convert(
            Format::Other(*b"H264"),
            &nv12,
            WIDTH,
            HEIGHT,
            WIDTH,
            &mut frame,
        )
        .unwrap_err();
    assert!(err.to_string().contains("H264"), "{err}");
}

/// A recording of `count` stamped frames in `format`, padded where the format has rows.
fn recording(format: Format, count: u64, fps: f32, repeat: bool) -> Recording {
    let stride = match format {
        Format::Yuyv => WIDTH * 2 + 32,
        Format::Nv12 => WIDTH + 32,
        _ => 0,
    };
    let frames = (0..count)
        .map(|n| {
            let frame = pattern(WIDTH, HEIGHT, n);
            match format {
                Format::Yuyv => to_yuyv(&frame, WIDTH, HEIGHT, stride as usize),
                Format::Nv12 => to_nv12(&frame, WIDTH, HEIGHT, stride as usize),
                _ => to_mjpeg(&frame, 90),
            }
        })
        .collect();
    Recording {
        format,
        width: WIDTH,
        height: HEIGHT,
        stride,
        fps,
        frames,
        repeat,
    }
}

/// Every frame `source` hands out until it ends or `limit` passes: (frame number, capture
/// time), and the last frame.
fn drain(source: &mut CameraSource, limit: Duration) -> (Vec<(u64, u64)>, Option<I420>) {
    let deadline = Instant::now() + limit;
    let (mut seen, mut last) = (Vec::new(), None);
    while Instant::now() < deadline && source.ended().is_none() {
        if let Some((frame, capture_us)) = source.latest() {
            let stamp = read_stamp(&frame).expect("each frame carries a readable stamp");
            seen.push((stamp.frame_number, capture_us));
            last = Some(frame);
        }
        thread::sleep(Duration::from_millis(3));
    }
    (seen, last)
}

#[test]
fn a_recording_replays_in_order_through_the_source() {
    for format in [Format::Yuyv, Format::Nv12, Format::Mjpeg] {
        let mut source =
            CameraSource::replay(recording(format, 12, 40.0, false), &Options::default()).unwrap();
        assert_eq!(source.size(), (WIDTH, HEIGHT), "{format}");
        assert_eq!(source.setting().format, format);
        let (seen, _) = drain(&mut source, Duration::from_secs(10));
        assert!(
            seen.len() >= 4,
            "{format}: only {} frames came out",
            seen.len()
        );
        assert!(
            seen.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1),
            "{format}: frames out of order: {seen:?}"
        );
        // Without repeat the recording ends like an unplugged camera.
        assert_eq!(source.ended(), Some(CameraError::Disconnected), "{format}");
        assert!(source.latest().is_none());
    }
}

#[test]
fn a_repeated_recording_goes_on_and_stops_when_dropped() {
    let mut source =
        CameraSource::replay(recording(Format::Nv12, 3, 60.0, true), &Options::default()).unwrap();
    let (seen, _) = drain(&mut source, Duration::from_millis(500));
    assert_eq!(source.ended(), None);
    assert!(seen.iter().any(|s| s.0 == 2) && seen.iter().any(|s| s.0 == 0));
    let started = Instant::now();
    drop(source);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "drop joins quickly"
    );
}

#[test]
fn max_size_scales_the_frames_down() {
    let options = Options {
        max_size: Some((320, 320)),
        ..Options::default()
    };
    let mut source =
        CameraSource::replay(recording(Format::Yuyv, 4, 30.0, true), &options).unwrap();
    assert_eq!(source.size(), (320, 180));
    let (seen, last) = drain(&mut source, Duration::from_millis(400));
    assert!(!seen.is_empty());
    assert_eq!(last.unwrap().size(), (320, 180));
}

#[test]
fn bad_frames_are_skipped_and_only_a_run_of_them_ends_capture() {
    let mut good = recording(Format::Mjpeg, 4, 60.0, true);
    let truncated = good.frames[1][..good.frames[1].len() / 3].to_vec();
    good.frames[1] = truncated;
    let mut source = CameraSource::replay(good, &Options::default()).unwrap();
    let (seen, _) = drain(&mut source, Duration::from_millis(600));
    assert_eq!(
        source.ended(),
        None,
        "one bad frame in four does not end capture"
    );
    assert!(
        seen.iter().all(|s| s.0 != 1),
        "the damaged frame never comes out"
    );
    assert!(seen.iter().any(|s| s.0 == 3));

    let mut broken = recording(Format::Mjpeg, 1, 120.0, true);
    broken.frames[0].truncate(500);
    let mut source = CameraSource::replay(broken, &Options::default()).unwrap();
    let (seen, _) = drain(&mut source, Duration::from_secs(10));
    assert!(seen.is_empty());
    let ended = source
        .ended()
        .expect("a camera that only sends bad frames ends");
    assert!(matches!(ended, CameraError::Capture(_)), "{ended}");
    assert!(
        ended.to_string().contains("could not be converted"),
        "{ended}"
    );
}

#[test]
fn an_unusable_recording_is_refused() {
    let mut empty = recording(Format::Yuyv, 1, 30.0, false);
    empty.frames.clear();
    let mut other = recording(Format::Yuyv, 1, 30.0, false);
    other.format = Format::Other(*b"H264");
    let mut tiny = recording(Format::Yuyv, 1, 30.0, false);
    (tiny.width, tiny.height) = (8, 8);
    for (what, recording) in [("empty", empty), ("H264", other), ("8x8", tiny)] {
        let err = CameraSource::replay(recording, &Options::default()).unwrap_err();
        assert!(matches!(err, CameraError::Format(_)), "{what}: {err}");
    }
}

/// Whether this machine has a camera; the tests below check the no-camera answers only where
/// there is none (CI and the development machines have none).
fn no_camera_here() -> Option<CameraError> {
    match camera::devices() {
        Ok(devices) => {
            eprintln!("this machine has cameras ({devices:?}); the no-camera checks are skipped");
            assert!(!devices.is_empty(), "an empty list is an error instead");
            None
        }
        Err(e) => Some(e),
    }
}

#[test]
fn without_a_camera_listing_says_what_to_do() {
    let Some(err) = no_camera_here() else { return };
    let CameraError::Unavailable(message) = &err else {
        panic!("expected Unavailable, got {err:?}");
    };
    assert_eq!(err.code(), "camera_unavailable");
    assert!(
        message.contains("no camera found") || message.contains("permission"),
        "{message}"
    );
    assert!(
        message.contains("/dev/video") || message.contains("only implemented on Linux"),
        "{message}"
    );
    assert!(
        message.contains("plug in") || message.contains("group video"),
        "{message}"
    );
}

#[test]
fn without_a_camera_opening_is_unavailable() {
    let Some(listing) = no_camera_here() else {
        return;
    };
    for device in [None, Some(0), Some(7)] {
        let err = CameraSource::open(device, Options::default()).unwrap_err();
        assert_eq!(
            err, listing,
            "opening {device:?} gives the listing's reason"
        );
    }
}

/// Xorshift: the same damage on every run.
fn next(seed: &mut u32) -> u32 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 17;
    *seed ^= *seed << 5;
    *seed
}

#[test]
fn damaged_jpegs_never_panic_as_camera_frames_or_stills() {
    let jpeg = to_mjpeg(&pattern(WIDTH, HEIGHT, 1), 80);
    let mut frame = I420::new(WIDTH, HEIGHT).unwrap();
    let mut converter = Converter::new();
    let mut seed = 0x2545_f491_u32;
    let mut decoded = 0;
    for round in 0..400 {
        let mut damaged = jpeg.clone();
        // A few bytes overwritten anywhere (headers, tables, entropy data), sometimes cut.
        for _ in 0..1 + round % 6 {
            let at = next(&mut seed) as usize % damaged.len();
            damaged[at] = (next(&mut seed) >> 24) as u8;
        }
        if round % 5 == 0 {
            damaged.truncate(next(&mut seed) as usize % damaged.len());
        }
        if converter
            .convert(Format::Mjpeg, &damaged, WIDTH, HEIGHT, 0, &mut frame)
            .is_ok()
        {
            decoded += 1;
        }
        let _ = livestage_media::video::still::decode(&damaged, (WIDTH, HEIGHT));
    }
    // Damage in the entropy data still decodes (a smeared picture), so some do.
    assert!(decoded > 0, "no damaged frame decoded at all");
    // The converter is still good after all of that.
    let good = to_mjpeg(&pattern(WIDTH, HEIGHT, 2), 80);
    converter
        .convert(Format::Mjpeg, &good, WIDTH, HEIGHT, 0, &mut frame)
        .unwrap();
    assert_eq!(read_stamp(&frame).unwrap().frame_number, 2);
}
