//! Keyframes: the stream starts with one, one follows a request and one comes every two seconds;
//! a decoder that joins mid-stream shows nothing until a keyframe, then the right frames;
//! lowering the bitrate shrinks the frames.
#![allow(clippy::unwrap_used)]

use livestage_media::video::{
    Decoder, Encoded, Encoder, I420, TestPattern, decode, encode, read_stamp,
};
use rand::{Rng, SeedableRng, rngs::StdRng};

const WIDTH: u32 = 320;
const HEIGHT: u32 = 180;
const FRAME_US: u64 = 33_333;

fn encoder(bitrate_bps: u32) -> Encoder {
    Encoder::new(encode::Config::new(WIDTH, HEIGHT, 30.0, bitrate_bps).unwrap()).unwrap()
}

fn encode_frame(encoder: &mut Encoder, pattern: &TestPattern, n: u64) -> Encoded {
    let frame = pattern.frame(n, n * FRAME_US);
    encoder
        .encode(&frame, n * FRAME_US)
        .unwrap()
        .expect("the test pattern is never skipped")
}

#[test]
fn first_frame_is_a_keyframe_and_the_next_ones_are_not() {
    let pattern = TestPattern::new(WIDTH, HEIGHT).unwrap();
    let mut encoder = encoder(300_000);
    let kinds: Vec<bool> = (0..10)
        .map(|n| encode_frame(&mut encoder, &pattern, n).keyframe)
        .collect();
    assert_eq!(
        kinds,
        [
            true, false, false, false, false, false, false, false, false, false
        ]
    );
}

#[test]
fn request_keyframe_makes_the_next_frame_a_keyframe() {
    let pattern = TestPattern::new(WIDTH, HEIGHT).unwrap();
    let mut encoder = encoder(300_000);
    for n in 0..5 {
        encode_frame(&mut encoder, &pattern, n);
    }
    encoder.request_keyframe();
    assert!(encode_frame(&mut encoder, &pattern, 5).keyframe);
    assert!(!encode_frame(&mut encoder, &pattern, 6).keyframe);
}

#[test]
fn a_keyframe_comes_every_two_seconds_without_a_request() {
    let pattern = TestPattern::new(WIDTH, HEIGHT).unwrap();
    let mut encoder = encoder(300_000);
    let keyframes: Vec<u64> = (0..=125)
        .filter(|&n| encode_frame(&mut encoder, &pattern, n).keyframe)
        .collect();
    // 2 s at 33.333 ms per frame is 60.0006 frames: the first frame at or after 2 s is 61.
    assert_eq!(keyframes, [0, 61, 122]);
}

#[test]
fn a_decoder_joining_mid_stream_waits_for_the_keyframe_then_decodes() {
    let pattern = TestPattern::new(WIDTH, HEIGHT).unwrap();
    let mut encoder = encoder(300_000);
    let mut decoder = Decoder::new().unwrap();
    for n in 0..10 {
        let packet = encode_frame(&mut encoder, &pattern, n);
        // The decoder only gets the stream from frame 4 on: P-frames only.
        if n >= 4 {
            assert!(!packet.keyframe);
            match decoder.decode(&packet.data) {
                Err(decode::Error::NeedKeyframe) | Ok(None) => {}
                other => panic!("frame {n} before any keyframe gave {other:?}"),
            }
        }
    }
    encoder.request_keyframe();
    for n in 10..20 {
        let packet = encode_frame(&mut encoder, &pattern, n);
        assert_eq!(packet.keyframe, n == 10);
        let picture = decoder
            .decode(&packet.data)
            .unwrap()
            .expect("decodes from the keyframe on");
        let stamp = read_stamp(&picture).expect("a readable stamp");
        assert_eq!((stamp.frame_number, stamp.capture_us), (n, n * FRAME_US));
    }
}

#[test]
fn a_decoder_that_lost_a_frame_refuses_p_frames_until_the_next_keyframe() {
    let pattern = TestPattern::new(WIDTH, HEIGHT).unwrap();
    let mut encoder = encoder(300_000);
    let packets: Vec<Encoded> = (0..10)
        .map(|n| encode_frame(&mut encoder, &pattern, n))
        .collect();
    encoder.request_keyframe();
    let key = encode_frame(&mut encoder, &pattern, 10);

    // Frame 5 arrives cut in half, or not at all.
    let cut = &packets[5].data[..packets[5].data.len() / 2];
    for damaged in [Some(cut), None] {
        let mut decoder = Decoder::new().unwrap();
        for packet in &packets[..5] {
            decoder.decode(&packet.data).unwrap().unwrap();
        }
        if let Some(cut) = damaged {
            assert!(decoder.decode(cut).is_err());
        }
        for packet in &packets[6..] {
            let result = decoder.decode(&packet.data);
            assert!(result.is_err(), "a P-frame after a loss gave {result:?}");
            assert!(decoder.waiting_for_keyframe());
        }
        let picture = decoder.decode(&key.data).unwrap().unwrap();
        assert_eq!(read_stamp(&picture).map(|s| s.frame_number), Some(10));
        assert!(!decoder.waiting_for_keyframe());
    }
}

/// The test pattern plus fresh low-amplitude noise: enough detail that the encoder spends
/// whatever bitrate it is given.
fn textured(pattern: &TestPattern, n: u64, rng: &mut StdRng) -> I420 {
    let mut frame = pattern.frame(n, n * FRAME_US);
    let band = (pattern.band_height() * WIDTH) as usize;
    for px in &mut frame.planes_mut().0[band..] {
        *px = px.saturating_add(rng.gen_range(0..16));
    }
    frame
}

#[test]
fn set_bitrate_lowers_the_output_size() {
    let pattern = TestPattern::new(WIDTH, HEIGHT).unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let mut encoder = encoder(3_000_000);
    let mut average_bytes = |encoder: &mut Encoder, first: u64| {
        let mut bytes = 0;
        for n in first..first + 30 {
            let frame = textured(&pattern, n, &mut rng);
            if let Some(packet) = encoder.encode(&frame, n * FRAME_US).unwrap() {
                bytes += packet.data.len();
            }
        }
        bytes / 30
    };
    let high = average_bytes(&mut encoder, 0);
    encoder.set_bitrate(300_000).unwrap();
    assert_eq!(encoder.config().bitrate_bps(), 300_000);
    let low = average_bytes(&mut encoder, 30);
    // 3 Mbps at 30 fps is 12.5 kB a frame, 300 kbps 1.25 kB.
    assert!(high > 8_000, "3 Mbps gave only {high} bytes a frame");
    assert!(
        low * 4 < high,
        "300 kbps gave {low} bytes a frame, 3 Mbps {high}"
    );
}

#[test]
fn set_bitrate_and_set_fps_reject_bad_values_and_keep_the_old_ones() {
    let mut encoder = encoder(300_000);
    assert!(matches!(
        encoder.set_bitrate(0),
        Err(encode::Error::Bitrate(0))
    ));
    assert!(encoder.set_fps(0.0).is_err());
    assert!(encoder.set_fps(f32::NAN).is_err());
    assert_eq!(encoder.config().bitrate_bps(), 300_000);
    assert_eq!(encoder.config().fps(), 30.0);
    encoder.set_fps(15.0).unwrap();
    assert_eq!(encoder.config().fps(), 15.0);
}
