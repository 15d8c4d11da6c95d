//! Opus round trips keep a tone's pitch in every format, refuse bad input, survive garbage,
//! and carry FEC only when loss is expected.
#![allow(clippy::unwrap_used)]

use livestage_media::audio::error::Error;
use livestage_media::audio::format::to_mono;
use livestage_media::audio::{Decoder, Encoder, Format, Level, Recovery, Tone, dominant_frequency};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn formats() -> Vec<Format> {
    let mut formats = Vec::new();
    for rate in [16_000, 24_000, 48_000] {
        for channels in [1, 2] {
            formats.push(Format::new(rate, channels).unwrap());
        }
    }
    formats
}

#[test]
fn tone_keeps_its_frequency_through_encode_and_decode_in_every_format() {
    for format in formats() {
        let mut tone = Tone::new(format, 440.0, 0.5).unwrap();
        let mut encoder = Encoder::new(format, 32_000).unwrap();
        let mut decoder = Decoder::new(format).unwrap();
        let mut decoded = Vec::new();
        for _ in 0..25 {
            let packet = encoder.encode(&tone.next_frame()).unwrap();
            let frame = decoder.decode(&packet).unwrap();
            assert_eq!(frame.len(), format.frame_len(), "{format:?}");
            decoded.extend(frame);
        }
        // Skip the codec's start-up (its look-ahead delay), keep 400 ms.
        let steady = &decoded[5 * format.frame_len()..];
        let freq = dominant_frequency(&to_mono(steady, format.channels), format.sample_rate);
        let freq = freq.unwrap_or_else(|| panic!("{format:?}: no tone decoded"));
        assert!(
            (freq - 440.0).abs() < 440.0 * 0.02,
            "{format:?}: decoded {freq} Hz"
        );
        let dbfs = Level::measure(steady).dbfs;
        assert!(
            (dbfs - -9.0).abs() < 3.0,
            "{format:?}: decoded level {dbfs} dBFS"
        );
    }
}

#[test]
fn wrong_length_or_non_finite_input_is_an_error() {
    for format in formats() {
        let mut encoder = Encoder::new(format, 32_000).unwrap();
        let n = format.frame_len();
        for len in [0, 1, n - 1, n + 1, 2 * n, n / 2] {
            let result = encoder.encode(&vec![0.0; len]);
            assert!(
                matches!(result, Err(Error::FrameLength { expected, actual }) if expected == n && actual == len),
                "{format:?} len {len}: {result:?}"
            );
        }
        let mut frame = vec![0.0; n];
        frame[7] = f32::NAN;
        assert!(matches!(
            encoder.encode(&frame),
            Err(Error::NonFinite { index: 7 })
        ));
        frame[7] = f32::INFINITY;
        assert!(matches!(
            encoder.encode(&frame),
            Err(Error::NonFinite { index: 7 })
        ));
        // Still usable afterwards.
        assert!(encoder.encode(&vec![0.0; n]).is_ok());
    }
}

#[test]
fn bad_settings_are_errors() {
    assert!(matches!(Format::new(44_100, 1), Err(Error::Format { .. })));
    assert!(matches!(Format::new(48_000, 0), Err(Error::Format { .. })));
    assert!(matches!(Format::new(48_000, 3), Err(Error::Format { .. })));
    let bad = Format {
        sample_rate: 8_000,
        channels: 1,
    };
    assert!(Encoder::new(bad, 32_000).is_err());
    assert!(Decoder::new(bad).is_err());
    let format = Format::MONO_48K;
    assert!(matches!(
        Encoder::new(format, 1_000),
        Err(Error::Bitrate(1_000))
    ));
    let mut encoder = Encoder::new(format, 24_000).unwrap();
    assert!(matches!(
        encoder.set_bitrate(10_000_000),
        Err(Error::Bitrate(_))
    ));
    assert_eq!(encoder.bitrate(), 24_000);
    assert!(matches!(
        encoder.set_expected_loss(101),
        Err(Error::Loss(101))
    ));
    assert!(!encoder.fec());
    // At 24 kbit/s DRED fits and protects alone; below, FEC stands in while loss is expected.
    encoder.set_expected_loss(5).unwrap();
    assert!(!encoder.fec());
    encoder.set_bitrate(16_000).unwrap();
    assert!(encoder.fec());
    encoder.set_expected_loss(0).unwrap();
    assert!(!encoder.fec());
}

#[test]
fn garbage_packets_are_errors_or_frames_never_panics() {
    let mut rng = StdRng::seed_from_u64(0x0b05);
    for format in [Format::MONO_48K, Format::new(16_000, 2).unwrap()] {
        let mut decoder = Decoder::new(format).unwrap();
        let (mut ok, mut err) = (0, 0);
        for i in 0..2_000 {
            let len = rng.gen_range(0..1_600);
            let mut packet: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
            // Half of them get a valid 20 ms TOC byte, to reach deeper into the decoder.
            if i % 2 == 0 && !packet.is_empty() {
                let config = [3u8, 7, 11, 13, 15, 19, 23, 27, 31][i % 9];
                packet[0] = (config << 3) | (packet[0] & 0b100);
            }
            let result = if i % 3 == 0 {
                decoder
                    .recover(&packet, 1 + (i as u32 % 4))
                    .map(|(frame, _)| frame)
            } else {
                decoder.decode(&packet)
            };
            match result {
                Ok(frame) => {
                    assert_eq!(frame.len(), format.frame_len());
                    ok += 1;
                }
                Err(_) => err += 1,
            }
        }
        assert!(ok > 0 && err > 0, "{format:?}: {ok} decoded, {err} refused");
        assert!(matches!(decoder.decode(&[]), Err(Error::EmptyPacket)));
        assert!(matches!(
            decoder.decode(&[0; 1_501]),
            Err(Error::PacketSize(1_501))
        ));

        // The decoder still works after all that.
        let mut tone = Tone::new(format, 440.0, 0.5).unwrap();
        let mut encoder = Encoder::new(format, 32_000).unwrap();
        let mut decoded = Vec::new();
        for _ in 0..15 {
            decoded.extend(
                decoder
                    .decode(&encoder.encode(&tone.next_frame()).unwrap())
                    .unwrap(),
            );
        }
        let tail = &decoded[decoded.len() / 2..];
        let freq = dominant_frequency(&to_mono(tail, format.channels), format.sample_rate);
        assert!(
            freq.is_some_and(|f| (f - 440.0).abs() < 9.0),
            "{format:?}: {freq:?}"
        );
    }
}

#[test]
fn packets_of_another_duration_are_errors() {
    // A 10 ms packet from a 10 ms encoder is valid Opus but not a 20 ms frame.
    use opusic_c::{Application, Channels, SampleRate};
    let mut ten_ms =
        opusic_c::Encoder::new(Channels::Mono, SampleRate::Hz48000, Application::Voip).unwrap();
    let mut packet = vec![0; 1_500];
    let len = ten_ms
        .encode_float_to_slice(&[0.1; 480], &mut packet)
        .unwrap();
    packet.truncate(len);
    let mut decoder = Decoder::new(Format::MONO_48K).unwrap();
    assert!(matches!(
        decoder.decode(&packet),
        Err(Error::PacketDuration {
            expected: 960,
            actual: 480
        })
    ));
}

/// Sum of squared differences between a recovered frame and the frame actually sent.
fn error_against(recovered: &[f32], truth: &[f32]) -> f32 {
    recovered
        .iter()
        .zip(truth)
        .map(|(a, b)| (a - b).powi(2))
        .sum()
}

#[test]
fn a_lost_frame_is_rebuilt_by_dred_and_by_fec_below_the_bitrate_dred_needs() {
    for format in [
        Format::MONO_48K,
        Format::new(16_000, 1).unwrap(),
        Format::STEREO_48K,
    ] {
        for (bitrate, loss, expected) in [
            (32_000, 0, Recovery::Dred),
            (32_000, 5, Recovery::Dred),
            (16_000, 5, Recovery::Fec),
        ] {
            // A tone that changes pitch every frame, so extrapolating the past (concealment)
            // goes wrong.
            let mut encoder = Encoder::new(format, bitrate).unwrap();
            encoder.set_expected_loss(loss).unwrap();
            let packets: Vec<Vec<u8>> = (0..40)
                .map(|i| {
                    let mut tone = Tone::new(format, 300.0 + 15.0 * i as f32, 0.5).unwrap();
                    encoder.encode(&tone.next_frame()).unwrap()
                })
                .collect();
            let mut reference = Decoder::new(format).unwrap();
            let mut fec = Decoder::new(format).unwrap();
            let mut plc = Decoder::new(format).unwrap();
            for packet in &packets[..30] {
                reference.decode(packet).unwrap();
                fec.decode(packet).unwrap();
                plc.decode(packet).unwrap();
            }
            // Packet 30 is lost.
            let truth = reference.decode(&packets[30]).unwrap();
            let (recovered, how) = fec.recover(&packets[31], 1).unwrap();
            assert_eq!(how, expected, "{format:?} at {bitrate} bit/s, {loss}% loss");
            let concealed = plc.conceal().unwrap();
            let pitch = |s: &[f32]| {
                let mono = to_mono(s, format.channels);
                dominant_frequency(&mono, format.sample_rate).unwrap_or(0.0)
            };
            let (want, got, guessed) = (pitch(&truth), pitch(&recovered), pitch(&concealed));
            eprintln!(
                "{format:?} {bitrate} {loss}%: {how:?} {got} Hz, concealed {guessed} Hz, truth {want} Hz"
            );
            // DRED rebuilds through a vocoder: the sound, not the waveform.
            assert!(
                (got - want).abs() < want * 0.05,
                "{format:?} {how:?}: {got} Hz vs {want} Hz"
            );
            if how == Recovery::Fec {
                // FEC is a waveform copy: close to the truth sample by sample.
                let (recovered, concealed) = (
                    error_against(&recovered, &truth),
                    error_against(&concealed, &truth),
                );
                assert!(
                    recovered * 4.0 < concealed,
                    "{format:?}: FEC error {recovered} vs concealment {concealed}"
                );
            }
        }
    }
}
