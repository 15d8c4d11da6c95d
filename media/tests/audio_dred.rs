//! DRED, Opus 1.5's deep redundancy: a packet rebuilds the frames lost before it, so a
//! remote voice is heard through bursts and through 80% random loss, which in-band FEC and
//! concealment alone turn mostly into silence.
#![allow(clippy::unwrap_used)]

use livestage_media::audio::remote::Counts;
use livestage_media::audio::{
    Decoder, Encoder, Format, Protection, Recovery, RemoteVoice, Tone, dominant_frequency,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn tone_packets(loss: u8, protection: Protection, frames: usize) -> Vec<Vec<u8>> {
    packets_at(32_000, loss, protection, frames)
}

#[test]
fn a_burst_of_ten_lost_frames_is_rebuilt_from_the_packet_after_it() {
    let packets = tone_packets(80, Protection::for_loss(80), 100);
    let mut decoder = Decoder::new(Format::MONO_48K).unwrap();
    let mut rebuilt = Vec::new();
    for packet in &packets[..60] {
        decoder.decode(packet).unwrap();
    }
    // 60..70 are lost; 70 arrives and carries them.
    for distance in (1..=10).rev() {
        let (frame, how) = decoder.recover(&packets[70], distance).unwrap();
        // DRED rebuilds them all (FEC is off where DRED fits).
        assert_eq!(how, Recovery::Dred, "distance {distance}");
        rebuilt.extend(frame);
    }
    let hz = dominant_frequency(&rebuilt, 48_000).unwrap();
    assert!(
        (hz - 440.0).abs() < 15.0,
        "the burst sounds like the tone: {hz}"
    );
    // The decoder goes on with the packet itself.
    assert_eq!(decoder.decode(&packets[70]).unwrap().len(), 960);
}

#[test]
fn dred_reaches_no_further_than_the_encoder_put_in() {
    let short = Protection {
        fec: false,
        dred_ms: 100,
        min_bitrate: 48_000,
    };
    let packets = tone_packets(40, short, 60);
    let mut decoder = Decoder::new(Format::MONO_48K).unwrap();
    for packet in &packets[..40] {
        decoder.decode(packet).unwrap();
    }
    let (_, far) = decoder.recover(&packets[59], 19).unwrap();
    assert_eq!(
        far,
        Recovery::Concealed,
        "380 ms back is beyond 100 ms of DRED"
    );
    let (_, near) = decoder.recover(&packets[59], 2).unwrap();
    assert_eq!(near, Recovery::Dred);
}

/// Plays `frames` of a tone through independent random `loss`, arriving 20 ms late with
/// up to 20 ms jitter; returns what played and the tone heard.
/// Also returns the jitter delay at the end and how many frames were sent between the first
/// and the last delivered.
fn through_loss(loss: f64, protection: Protection, seed: u64) -> (Counts, f32, u64, u64) {
    let frames = 1_500;
    let packets = tone_packets((loss * 100.0) as u8, protection, frames);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut link: Vec<(u64, u32, Vec<u8>)> = Vec::new();
    for (seq, p) in packets.into_iter().enumerate() {
        if !rng.gen_bool(loss) {
            link.push((seq as u64 * 20 + 20 + rng.gen_range(0..=20), seq as u32, p));
        }
    }
    link.sort_by_key(|(at, ..)| *at);
    let last = link.iter().map(|(_, seq, _)| *seq).max().unwrap();
    let first = link.iter().map(|(_, seq, _)| *seq).min().unwrap();
    let sent = u64::from(last - first + 1);
    let mut voice = RemoteVoice::new(Format::MONO_48K, 60).unwrap();
    let end = link.last().map_or(0, |(at, ..)| *at) + 1_000;
    let mut arrivals = link.into_iter().peekable();
    let mut tail = Vec::new();
    let mut now = 3;
    while now < end {
        while let Some((_, seq, p)) = arrivals.next_if(|(at, ..)| *at <= now) {
            voice.push(seq, p, 0, now);
        }
        if let Some(frame) = voice.pop(now) {
            tail.extend(frame.samples);
            if tail.len() > 5 * 48_000 {
                tail.drain(..48_000);
            }
        }
        now += 20;
    }
    let hz = dominant_frequency(&tail, 48_000).unwrap_or(0.0);
    (voice.counts(), hz, voice.jitter().delay_ms(), sent)
}

#[test]
fn eighty_percent_loss_is_heard_with_dred_and_lost_without() {
    let with = through_loss(0.8, Protection::for_loss(80), 80);
    let without = through_loss(
        0.8,
        Protection {
            dred_ms: 0,
            ..Protection::for_loss(80)
        },
        80,
    );
    // Frames never played out (while playout waited to buffer again) count as not heard.
    let heard = |c: &Counts, sent: u64| c.heard() as f64 / sent as f64;
    eprintln!(
        "80% loss: with DRED {:.3} heard ({:?}, {} Hz, delay {} ms); without {:.3} ({:?})",
        heard(&with.0, with.3),
        with.0,
        with.1,
        with.2,
        heard(&without.0, without.3),
        without.0
    );
    assert!(heard(&with.0, with.3) >= 0.93, "{:?}", with.0);
    // In-band FEC alone rebuilds only a frame whose next packet came.
    assert!(heard(&without.0, without.3) <= 0.45, "{:?}", without.0);
    assert!((with.1 - 440.0).abs() < 15.0, "tone {} Hz", with.1);
    assert!(with.2 <= 400, "delay within the bound: {} ms", with.2);
}

fn packets_at(bitrate: u32, loss: u8, protection: Protection, frames: usize) -> Vec<Vec<u8>> {
    let format = Format::MONO_48K;
    let mut tone = Tone::new(format, 440.0, 0.5).unwrap();
    let mut encoder = Encoder::new(format, bitrate).unwrap();
    encoder.set_protection(loss, protection).unwrap();
    (0..frames)
        .map(|_| encoder.encode(&tone.next_frame()).unwrap())
        .collect()
}

/// How many frames back a packet rebuilds (FEC or DRED), after the stream settled.
fn reach(packets: &[Vec<u8>]) -> u32 {
    let at = packets.len() - 1;
    (1..=50u32)
        .take_while(|&d| {
            let mut decoder = Decoder::new(Format::MONO_48K).unwrap();
            for p in &packets[..at - d as usize] {
                decoder.decode(p).unwrap();
            }
            decoder.recover(&packets[at], d).unwrap().1 != Recovery::Concealed
        })
        .last()
        .unwrap_or(0)
}

/// How far back each loss band's packets rebuild lost frames, at the default 32 kbit/s and at
/// a low 16 kbit/s (FEC only). Fails when a band's DRED shrinks or disappears, as it did when
/// FEC was on beside it (libopus then gave DRED too few bits for two chunks).
#[test]
fn each_loss_band_reaches_as_far_back_as_it_claims() {
    // (loss, bitrate, least reach in frames, measured with libopus 1.6)
    let bands = [
        (0, 32_000, 10),
        (5, 32_000, 10),
        (20, 32_000, 20),
        (40, 32_000, 26),
        (80, 32_000, 26),
        (0, 16_000, 0),
        (5, 16_000, 1),
    ];
    for (loss, bitrate, least) in bands {
        let packets = packets_at(bitrate, loss, Protection::for_loss(loss), 150);
        let bytes: usize = packets[50..].iter().map(Vec::len).sum();
        let kbps = bytes as f64 * 8.0 / 2.0 / 1000.0;
        let frames = reach(&packets);
        eprintln!("{loss}% at {bitrate} bit/s: {frames} frames back, {kbps:.1} kbit/s");
        assert!(frames >= least, "{loss}% at {bitrate}: {frames} < {least}");
    }
}
