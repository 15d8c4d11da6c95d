//! Encoding and decoding the test pattern keeps every stamp exactly and the background colour
//! closely, at a high and at a low resolution and bitrate.
#![allow(clippy::unwrap_used)]

use livestage_media::video::{Decoder, Encoder, Stamp, TestPattern, convert, encode, read_stamp};

const FRAMES: u64 = 30;
/// 2026-01-01T00:00:00.123457Z, with low bits set so every timestamp bit is exercised.
const START_US: u64 = 1_767_225_600_123_457;
/// Frame numbers with high bits set, so the whole 64-bit field is exercised.
const FIRST_FRAME: u64 = 0xA5A5_0000_FFFF_0000;
const COLOUR: [u8; 3] = [200, 60, 30];
/// Largest difference per RGB channel between the drawn and the decoded background.
const COLOUR_TOLERANCE: u8 = 8;

fn roundtrip(width: u32, height: u32, bitrate_bps: u32) {
    let pattern = TestPattern::new(width, height).unwrap().with_colour(COLOUR);
    let config = encode::Config::new(width, height, 30.0, bitrate_bps).unwrap();
    let mut encoder = Encoder::new(config).unwrap();
    let mut decoder = Decoder::new().unwrap();

    let mut sent = Vec::new();
    let mut read = Vec::new();
    for n in 0..FRAMES {
        let stamp = Stamp {
            frame_number: FIRST_FRAME + n,
            capture_us: START_US + n * 33_333,
        };
        let frame = pattern.frame(stamp.frame_number, stamp.capture_us);
        let encoded = encoder
            .encode(&frame, stamp.capture_us)
            .unwrap()
            .expect("no frame skipped");
        assert_eq!(encoded.timestamp_us, stamp.capture_us);
        let decoded = decoder
            .decode(&encoded.data)
            .unwrap()
            .expect("one picture per frame");
        assert_eq!(decoded.size(), (width, height));

        let rgba = convert::i420_to_rgba(&decoded);
        let [r, g, b, _] = rgba.pixel(width / 2, height / 2).unwrap();
        for (got, want) in [r, g, b].into_iter().zip(COLOUR) {
            assert!(
                got.abs_diff(want) <= COLOUR_TOLERANCE,
                "{width}x{height} frame {n}: background {:?}, expected {COLOUR:?}",
                [r, g, b]
            );
        }
        sent.push(stamp);
        read.push(read_stamp(&decoded));
    }
    let sent: Vec<_> = sent.into_iter().map(Some).collect();
    assert_eq!(read, sent, "{width}x{height} at {bitrate_bps} bps");
}

#[test]
fn stamps_and_colour_survive_720p_at_1_5_mbps() {
    roundtrip(1280, 720, 1_500_000);
}

#[test]
fn stamps_and_colour_survive_320x180_at_150_kbps() {
    roundtrip(320, 180, 150_000);
}

#[test]
fn stamp_reads_back_before_encoding() {
    let pattern = TestPattern::new(640, 360).unwrap();
    for (frame_number, capture_us) in [(0, 0), (u64::MAX, u64::MAX), (1, START_US)] {
        let frame = pattern.frame(frame_number, capture_us);
        assert_eq!(
            read_stamp(&frame),
            Some(Stamp {
                frame_number,
                capture_us
            })
        );
    }
}

#[test]
fn a_frame_without_a_stamp_reads_as_none() {
    let pattern = TestPattern::new(640, 360).unwrap();
    let mut frame = pattern.frame(5, START_US);
    // Invert one data block: the CRC no longer matches.
    let block = 640 / 40;
    let (y, _, _) = frame.planes_mut();
    for row in 0..block {
        for px in &mut y[row * 640 + 10 * block..row * 640 + 11 * block] {
            *px = if *px > 128 { 16 } else { 235 };
        }
    }
    assert_eq!(read_stamp(&frame), None);
    let black = livestage_media::video::I420::new(640, 360).unwrap();
    assert_eq!(read_stamp(&black), None);
}

#[test]
fn textured_frames_fill_the_bitrate_and_keep_their_stamps() {
    let (w, h, bitrate) = (1280, 720, 1_500_000);
    let pattern = TestPattern::new(w, h).unwrap().with_texture(true);
    let mut encoder = Encoder::new(encode::Config::new(w, h, 30.0, bitrate).unwrap()).unwrap();
    let mut decoder = Decoder::new().unwrap();
    let (mut bytes, mut decoded) = (0usize, 0u64);
    for n in 0..30u64 {
        let capture_us = 1_000_000 + n * 33_333;
        let Some(packet) = encoder
            .encode(&pattern.frame(n, capture_us), capture_us)
            .unwrap()
        else {
            continue; // Rate control may skip a frame.
        };
        bytes += packet.data.len();
        if let Some(frame) = decoder.decode(&packet.data).unwrap() {
            let stamp = read_stamp(&frame).expect("stamp survives the texture");
            assert_eq!(
                stamp,
                Stamp {
                    frame_number: n,
                    capture_us
                }
            );
            decoded += 1;
        }
    }
    let kbps = bytes as f64 * 8.0 / 1000.0; // 30 frames = 1 s
    assert!(
        kbps > 1000.0,
        "texture makes the encoder spend its bitrate: {kbps} kbps"
    );
    assert!(decoded >= 25);
}
