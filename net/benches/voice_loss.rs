//! Voice through loss on each leg, simulated in virtual time with the real parts: the Opus
//! encoder and its loss policy ([`Protection::for_loss`]), the copies per leg
//! ([`redundancy::copies`], spread [`redundancy::SPREAD`] frames, the server forwarding the
//! first copy of each frame), and the receiver's [`RemoteVoice`] (jitter buffer, FEC and DRED
//! recovery, concealment). Each leg measures its loss exactly here (in the product, QUIC's
//! counters, smoothed over about a second).
//!
//! Prints a table of loss (uplink, downlink or both; independent or in Gilbert-Elliott bursts
//! of 200 ms mean) against frames heard, mouth to ear (sender's capture time to the frame
//! leaving the jitter buffer, 20 ms network delay and up to 10 ms jitter per leg) and the Opus
//! payload bitrate on each leg, with DRED and without it (in-band FEC and copies only).
//!
//! Run with `cargo bench -p livestage-net --bench voice_loss` (release build, about a minute).
#![allow(clippy::unwrap_used)]

use hdrhistogram::Histogram;
use livestage_media::audio::{Encoder, Format, Protection, RemoteVoice, Tone};
use livestage_proto::redundancy::{self, COPY_GAP_MS, SPREAD};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// 30 s of voice per case.
const FRAMES: u64 = 1_500;
const FRAME_MS: u64 = 20;
const LEG_DELAY_MS: u64 = 20;
const LEG_JITTER_MS: u64 = 10;
const VOICE_BPS: u32 = 32_000;

#[derive(Clone, Copy)]
enum Pattern {
    Random,
    /// Gilbert-Elliott stepped every 20 ms: mean burst 200 ms, `loss` of the time in bursts.
    Bursts,
}

/// Drops datagrams of one leg, in send order.
struct Leg {
    loss: f64,
    pattern: Pattern,
    bad: bool,
    rng: StdRng,
    /// The 20 ms tick the burst state was last stepped for.
    tick: u64,
}

impl Leg {
    fn new(loss: f64, pattern: Pattern, seed: u64) -> Self {
        Self {
            loss,
            pattern,
            bad: false,
            rng: StdRng::seed_from_u64(seed),
            tick: 0,
        }
    }

    /// Whether a datagram sent at `at_ms` arrives, and when.
    fn pass(&mut self, at_ms: u64) -> Option<u64> {
        let lost = match self.pattern {
            Pattern::Random => self.rng.gen_bool(self.loss),
            Pattern::Bursts => {
                let leave = 0.1; // mean burst of ten 20 ms ticks
                let enter = if self.loss >= 1.0 {
                    1.0
                } else {
                    (self.loss * leave / (1.0 - self.loss)).min(1.0)
                };
                while self.tick <= at_ms / FRAME_MS {
                    let p = if self.bad { 1.0 - leave } else { enter };
                    self.bad = self.rng.gen_bool(p);
                    self.tick += 1;
                }
                self.bad
            }
        };
        let jitter = self.rng.gen_range(0..=LEG_JITTER_MS);
        (!lost).then_some(at_ms + LEG_DELAY_MS + jitter)
    }
}

/// Sends each of `frames` (send time, seq, payload; in send order) and after it, as the
/// product does ([`redundancy::History::due`], [`COPY_GAP_MS`]), `copies` earlier frames
/// [`SPREAD`] apart; returns the first arrival of each frame and the bytes sent.
fn over(
    leg: &mut Leg,
    frames: &[(u64, u64, Vec<u8>)],
    copies: u8,
) -> (Vec<(u64, u64, Vec<u8>)>, u64) {
    let by_seq: std::collections::HashMap<u64, usize> = frames
        .iter()
        .enumerate()
        .map(|(i, (_, seq, _))| (*seq, i))
        .collect();
    let mut sends: Vec<(u64, usize)> = Vec::new();
    for (i, (at, seq, _)) in frames.iter().enumerate() {
        sends.push((*at, i));
        for k in 1..=u64::from(copies) {
            let earlier = seq.checked_sub(k * u64::from(SPREAD));
            if let Some(&j) = earlier.and_then(|s| by_seq.get(&s)) {
                sends.push((*at + k * COPY_GAP_MS, j));
            }
        }
    }
    sends.sort();
    let mut first: Vec<Option<u64>> = vec![None; frames.len()];
    let mut bytes = 0;
    // Datagrams queued at the same moment leave in one QUIC packet, lost or not together.
    let mut packet: Option<(u64, Option<u64>)> = None;
    for (at, i) in sends {
        bytes += frames[i].2.len() as u64;
        let fate = match packet {
            Some((sent, fate)) if sent == at => fate,
            _ => leg.pass(at),
        };
        packet = Some((at, fate));
        if let Some(arrival) = fate {
            first[i] = Some(first[i].map_or(arrival, |f: u64| f.min(arrival)));
        }
    }
    let arrived = frames
        .iter()
        .zip(first)
        .filter_map(|((_, seq, p), at)| at.map(|at| (at, *seq, p.clone())))
        .collect();
    (arrived, bytes)
}

struct Row {
    heard: f64,
    p50: u64,
    p95: u64,
    up_kbps: f64,
    down_kbps: f64,
}

fn run(up: f64, down: f64, pattern: Pattern, dred: bool, seed: u64) -> Row {
    let format = Format::MONO_48K;
    let up_percent = (up * 100.0).round() as u8;
    let down_percent = (down * 100.0).round() as u8;
    let mut encoder = Encoder::new(format, VOICE_BPS).unwrap();
    let mut protection = Protection::for_loss(up_percent);
    if !dred {
        protection.dred_ms = 0;
        protection.min_bitrate = 0;
    }
    encoder.set_protection(up_percent, protection).unwrap();
    let mut tone = Tone::new(format, 440.0, 0.5).unwrap();
    let sent: Vec<(u64, u64, Vec<u8>)> = (0..FRAMES)
        .map(|n| (n * FRAME_MS, n, encoder.encode(&tone.next_frame()).unwrap()))
        .collect();
    let mut uplink = Leg::new(up, pattern, seed);
    let (mut at_server, up_bytes) = over(&mut uplink, &sent, redundancy::copies(up_percent));
    at_server.sort();
    let mut downlink = Leg::new(down, pattern, seed ^ 0x5eed);
    let (mut at_viewer, down_bytes) =
        over(&mut downlink, &at_server, redundancy::copies(down_percent));
    at_viewer.sort();
    let mut voice = RemoteVoice::new(format, 60).unwrap();
    let mut latency = Histogram::<u64>::new(3).unwrap();
    let mut arrivals = at_viewer.into_iter().peekable();
    let end = FRAMES * FRAME_MS + 2_000;
    let mut now = 7;
    while now < end {
        while let Some((_, seq, p)) = arrivals.next_if(|(at, ..)| *at <= now) {
            voice.push(seq as u32, p, seq * FRAME_MS * 1_000, now);
        }
        if let Some(frame) = voice.pop(now)
            && let Some(capture_us) = frame.capture_us
        {
            latency
                .record(now.saturating_sub(capture_us / 1_000))
                .unwrap();
        }
        now += FRAME_MS;
    }
    let secs = (FRAMES * FRAME_MS) as f64 / 1_000.0;
    Row {
        heard: voice.counts().heard() as f64 / FRAMES as f64,
        p50: latency.value_at_quantile(0.5),
        p95: latency.value_at_quantile(0.95),
        up_kbps: up_bytes as f64 * 8.0 / secs / 1_000.0,
        down_kbps: down_bytes as f64 * 8.0 / secs / 1_000.0,
    }
}

fn main() {
    println!(
        "| loss | pattern | DRED | heard | mouth to ear p50 / p95 | uplink kbit/s | downlink kbit/s |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut cases = Vec::new();
    for loss in [0.0, 0.1, 0.2, 0.4, 0.6, 0.8] {
        for (legs, up, down) in [("up", loss, 0.0), ("down", 0.0, loss), ("both", loss, loss)] {
            if loss == 0.0 && legs != "up" {
                continue;
            }
            cases.push((legs, up, down, Pattern::Random, "random"));
        }
    }
    for loss in [0.1, 0.3] {
        for (legs, up, down) in [("up", loss, 0.0), ("down", 0.0, loss)] {
            cases.push((legs, up, down, Pattern::Bursts, "200 ms bursts"));
        }
    }
    for (i, (legs, up, down, pattern, name)) in cases.into_iter().enumerate() {
        for dred in [true, false] {
            let r = run(up, down, pattern, dred, 17 + i as u64);
            let loss = if legs == "both" { up } else { up.max(down) };
            println!(
                "| {:.0}% {legs} | {name} | {} | {:.1}% | {} / {} ms | {:.1} | {:.1} |",
                loss * 100.0,
                if dred { "on" } else { "off" },
                r.heard * 100.0,
                r.p50,
                r.p95,
                r.up_kbps,
                r.down_kbps,
            );
        }
    }
}
