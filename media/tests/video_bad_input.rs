//! Bad input is an `Err` (or no picture), never a panic: garbage, truncated and bit-flipped
//! H.264 into the decoder, wrong-size frames into the encoder and the custom source, and bad
//! sizes, frame rates and bitrates into the constructors.
#![allow(clippy::unwrap_used)]

use livestage_media::video::{
    CustomSource, Decoder, Encoded, Encoder, FrameError, I420, Rgba, TestPattern, decode, encode,
    read_stamp,
};
use rand::{Rng, SeedableRng, rngs::StdRng};

const WIDTH: u32 = 320;
const HEIGHT: u32 = 180;

/// A keyframe followed by four P-frames of the test pattern.
fn stream() -> Vec<Encoded> {
    let pattern = TestPattern::new(WIDTH, HEIGHT).unwrap();
    let config = encode::Config::new(WIDTH, HEIGHT, 30.0, 300_000).unwrap();
    let mut encoder = Encoder::new(config).unwrap();
    (0..5)
        .map(|n| encoder.encode(&pattern.frame(n, n), n).unwrap().unwrap())
        .collect()
}

/// The decoder still works: the real keyframe decodes to the right picture.
fn assert_recovers(decoder: &mut Decoder, keyframe: &Encoded) {
    let picture = decoder
        .decode(&keyframe.data)
        .unwrap()
        .expect("the keyframe decodes");
    assert_eq!(read_stamp(&picture).map(|s| s.frame_number), Some(0));
}

#[test]
fn random_bytes_do_not_panic_the_decoder() {
    let packets = stream();
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut decoder = Decoder::new().unwrap();
    for i in 0..2_000 {
        // Every other buffer starts like a NAL unit, so it gets past the framing check into
        // openh264; every 100th follows a real keyframe, so openh264 has an SPS/PPS to misuse.
        if i % 100 == 0 {
            let _ = decoder.decode(&packets[0].data);
        }
        let len = rng.gen_range(0..1_500);
        let mut buffer: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
        if i % 2 == 0 {
            let header = rng.gen_range(1..=28u8);
            buffer.splice(0..0, [0, 0, 0, 1, header]);
        }
        let _ = decoder.decode(&buffer);
    }
    assert_recovers(&mut decoder, &packets[0]);
}

#[test]
fn every_truncation_of_a_keyframe_is_survived() {
    let packets = stream();
    let keyframe = &packets[0].data;
    let mut decoder = Decoder::new().unwrap();
    for len in 0..keyframe.len() {
        let _ = decoder.decode(&keyframe[..len]);
    }
    assert_recovers(&mut decoder, &packets[0]);
}

#[test]
fn bit_flipped_frames_are_survived() {
    let packets = stream();
    let mut rng = StdRng::seed_from_u64(42);
    let mut decoder = Decoder::new().unwrap();
    let mut flipped = |data: &[u8]| {
        let mut data = data.to_vec();
        for _ in 0..rng.gen_range(1..=8) {
            let at = rng.gen_range(0..data.len());
            data[at] ^= 1 << rng.gen_range(0..8);
        }
        data
    };
    for _ in 0..300 {
        // A clean keyframe first, so the damaged P-frames reach openh264 instead of being
        // refused while the decoder waits for a keyframe.
        let _ = decoder.decode(&packets[0].data);
        for packet in &packets[1..] {
            let _ = decoder.decode(&flipped(&packet.data));
        }
        let _ = decoder.decode(&flipped(&packets[0].data));
    }
    assert_recovers(&mut decoder, &packets[0]);
}

#[test]
fn empty_and_unframed_packets_are_malformed() {
    let mut decoder = Decoder::new().unwrap();
    assert!(matches!(
        decoder.decode(&[]),
        Err(decode::Error::Malformed(_))
    ));
    assert!(matches!(
        decoder.decode(b"not h264 at all"),
        Err(decode::Error::Malformed(_))
    ));
    // Forbidden zero bit set.
    assert!(matches!(
        decoder.decode(&[0, 0, 1, 0xe5, 1, 2]),
        Err(decode::Error::Malformed(_))
    ));
}

#[test]
fn wrong_size_frames_are_rejected_by_the_encoder_which_keeps_working() {
    let config = encode::Config::new(WIDTH, HEIGHT, 30.0, 300_000).unwrap();
    let mut encoder = Encoder::new(config).unwrap();
    let wrong = I420::new(WIDTH + 2, HEIGHT).unwrap();
    let error = encoder.encode(&wrong, 0).unwrap_err();
    assert!(matches!(
        error,
        encode::Error::Frame(FrameError::SizeMismatch { .. })
    ));
    assert!(error.to_string().contains("322x180"), "{error}");
    let right = I420::new(WIDTH, HEIGHT).unwrap();
    assert!(encoder.encode(&right, 0).unwrap().unwrap().keyframe);
}

#[test]
fn wrong_size_frames_are_rejected_by_the_custom_source() {
    let (mut source, sender) = CustomSource::new(64, 32).unwrap();
    let rgba = Rgba::new(32, 64).unwrap();
    assert!(matches!(
        sender.push_rgba(rgba, 1),
        Err(FrameError::SizeMismatch { .. })
    ));
    let i420 = I420::new(64, 34).unwrap();
    assert!(matches!(
        sender.push_i420(i420, 2),
        Err(FrameError::SizeMismatch { .. })
    ));
    assert!(source.latest().is_none());
}

#[test]
fn bad_sizes_are_rejected_with_a_useful_message() {
    for (width, height) in [
        (0, 0),
        (15, 16),
        (16, 15),
        (3842, 2160),
        (3840, 2162),
        (u32::MAX, 2),
    ] {
        let error = I420::new(width, height).unwrap_err();
        assert!(
            matches!(error, FrameError::OutOfRange { .. }),
            "{width}x{height}: {error}"
        );
        assert!(error.to_string().contains("16x16 to 3840x2160"), "{error}");
        assert!(Rgba::new(width, height).is_err());
        assert!(CustomSource::new(width, height).is_err());
        assert!(encode::Config::custom(width, height, 30.0, 1_000_000).is_err());
    }
    for (width, height) in [(641, 360), (640, 361)] {
        let error = I420::new(width, height).unwrap_err();
        assert!(matches!(error, FrameError::OddSize { .. }), "{error}");
        assert!(error.to_string().contains("even"), "{error}");
        assert!(encode::Config::new(width, height, 30.0, 1_000_000).is_err());
    }
    // The built-in limit is 1920x1080; custom sources may go to 3840x2160.
    let error = encode::Config::new(1922, 1080, 30.0, 1_000_000).unwrap_err();
    assert!(matches!(error, encode::Error::TooLarge { .. }));
    assert!(error.to_string().contains("Config::custom"), "{error}");
    assert!(encode::Config::new(1920, 1082, 30.0, 1_000_000).is_err());
    assert!(encode::Config::new(1920, 1080, 60.0, 1_000_000).is_ok());
    assert!(encode::Config::custom(3840, 2160, 60.0, 20_000_000).is_ok());
    // The test pattern needs room for its stamp.
    assert!(TestPattern::new(16, 16).is_err());
}

#[test]
fn bad_frame_rates_and_bitrates_are_rejected() {
    for fps in [0.0, -30.0, 0.5, 61.0, f32::NAN, f32::INFINITY] {
        assert!(matches!(
            encode::Config::new(640, 360, fps, 1_000_000),
            Err(encode::Error::Fps(_))
        ));
    }
    for bps in [0, 1_000, u32::MAX] {
        assert!(matches!(
            encode::Config::new(640, 360, 30.0, bps),
            Err(encode::Error::Bitrate(_))
        ));
    }
}

#[test]
fn buffers_of_the_wrong_length_are_rejected() {
    let error = I420::from_planes(16, 16, vec![0; 256], vec![0; 64], vec![0; 63]).unwrap_err();
    assert!(
        matches!(error, FrameError::BufferLength { plane: "V", .. }),
        "{error}"
    );
    assert!(I420::from_planes(16, 16, vec![0; 255], vec![0; 64], vec![0; 64]).is_err());
    assert!(I420::from_planes(16, 16, vec![0; 256], vec![0; 64], vec![0; 64]).is_ok());
    let error = Rgba::from_data(16, 16, vec![0; 16 * 16 * 3]).unwrap_err();
    assert!(error.to_string().contains("RGBA"), "{error}");
    assert!(Rgba::from_data(16, 16, vec![0; 16 * 16 * 4]).is_ok());
}
