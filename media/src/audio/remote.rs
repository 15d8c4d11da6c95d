//! One remote voice on its way to the mixer: packets in as they arrive, one decoded 20 ms
//! frame out every 20 ms, through the [`JitterBuffer`] and the [`Decoder`]'s recovery.
//!
//! This is the receive path every front end shares (the playout's audio clock, the bot's
//! verifier): what counts as played, recovered or concealed is decided here once.
//!
//! ```
//! use livestage_media::audio::{Encoder, Format, RemoteVoice, Tone};
//!
//! let format = Format::MONO_48K;
//! let mut tone = Tone::new(format, 440.0, 0.5)?;
//! let mut encoder = Encoder::new(format, 32_000)?;
//! encoder.set_expected_loss(40)?; // the sender's path loses packets: DRED on
//! let mut voice = RemoteVoice::new(format, 40)?;
//! for seq in 0..100u32 {
//!     let now_ms = u64::from(seq) * 20;
//!     let packet = encoder.encode(&tone.next_frame())?;
//!     if seq % 3 != 1 {
//!         voice.push(seq, packet, now_ms * 1_000, now_ms); // every third packet is lost
//!     }
//!     let _frame = voice.pop(now_ms); // None while buffering
//! }
//! let counts = voice.counts();
//! assert!(counts.fec + counts.dred > 20, "{counts:?}"); // lost frames come back from DRED
//! # Ok::<(), livestage_media::audio::Error>(())
//! ```

use std::collections::VecDeque;

use super::codec::{Decoder, Recovery};
use super::error::Result;
use super::format::{FRAME_MS, Format};
use super::jitter::{Arrival, JitterBuffer, Slot};

/// What one slot of a remote voice was made from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Its own packet, decoded.
    Played,
    /// Rebuilt from the in-band FEC of the next packet.
    Fec,
    /// Rebuilt from the DRED of a later packet.
    Dred,
    /// Nothing covered it (or its packet did not decode): concealed.
    Concealed,
    /// A slot inserted to grow the jitter delay, concealed; no frame of the sender.
    Stretched,
}

/// One 20 ms frame for the mixer.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Interleaved samples in the voice's format.
    pub samples: Vec<f32>,
    /// What it was made from.
    pub outcome: Outcome,
    /// When the sender captured it, microseconds since the Unix epoch (for a recovered
    /// frame, derived from the later packet's stamp), if known.
    pub capture_us: Option<u64>,
}

/// Slots by what they were made from, since the voice started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Decoded from their own packet.
    pub played: u64,
    /// Rebuilt from in-band FEC.
    pub fec: u64,
    /// Rebuilt from DRED.
    pub dred: u64,
    /// Concealed (lost beyond recovery, or a packet that did not decode).
    pub concealed: u64,
    /// Inserted to grow the delay.
    pub stretched: u64,
    /// Packets the decoder refused (each also counts as concealed).
    pub decode_errors: u64,
}

impl std::ops::Add for Counts {
    type Output = Counts;

    fn add(self, o: Counts) -> Counts {
        Counts {
            played: self.played + o.played,
            fec: self.fec + o.fec,
            dred: self.dred + o.dred,
            concealed: self.concealed + o.concealed,
            stretched: self.stretched + o.stretched,
            decode_errors: self.decode_errors + o.decode_errors,
        }
    }
}

impl std::ops::Sub for Counts {
    type Output = Counts;

    /// The counts since `o` was taken (saturating).
    fn sub(self, o: Counts) -> Counts {
        Counts {
            played: self.played.saturating_sub(o.played),
            fec: self.fec.saturating_sub(o.fec),
            dred: self.dred.saturating_sub(o.dred),
            concealed: self.concealed.saturating_sub(o.concealed),
            stretched: self.stretched.saturating_sub(o.stretched),
            decode_errors: self.decode_errors.saturating_sub(o.decode_errors),
        }
    }
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        *self = *self + o;
    }
}

impl Counts {
    /// Frames of the sender that were heard (played or rebuilt).
    pub fn heard(&self) -> u64 {
        self.played + self.fec + self.dred
    }

    /// Frames of the sender that played out in any way (heard or concealed).
    pub fn total(&self) -> u64 {
        self.heard() + self.concealed
    }
}

enum SlotKind {
    Missing,
    Other,
}

/// Capture stamps kept for the packets buffered (the jitter buffer holds at most a second).
const STAMPS: usize = 64;

/// Played packets between two readings of how far back the stream's redundancy reaches
/// (for the jitter buffer; it changes with the publisher's loss, within seconds).
const REACH_EVERY: u64 = 10;

/// One remote voice stream: a jitter buffer, a decoder and the counts of what played.
#[derive(Debug)]
pub struct RemoteVoice {
    jitter: JitterBuffer,
    decoder: Decoder,
    /// Capture time of recent packets by sequence number, newest last.
    stamps: VecDeque<(u32, u64)>,
    counts: Counts,
    /// Slots concealed in a row with no later packet to go on.
    missing_run: u64,
}

impl RemoteVoice {
    /// A voice decoded to `format` whose playout starts `target_delay_ms` after its first
    /// packet (more when the path loses packets; see [`JitterBuffer`]).
    pub fn new(format: Format, target_delay_ms: u64) -> Result<RemoteVoice> {
        Ok(RemoteVoice {
            jitter: JitterBuffer::new(target_delay_ms),
            decoder: Decoder::new(format)?,
            stamps: VecDeque::with_capacity(STAMPS),
            counts: Counts::default(),
            missing_run: 0,
        })
    }

    /// Takes in packet `seq`, captured at `capture_us`, that arrived at `now_ms`.
    pub fn push(&mut self, seq: u32, payload: Vec<u8>, capture_us: u64, now_ms: u64) -> Arrival {
        let arrival = self.jitter.push(seq, payload, now_ms);
        if arrival == Arrival::Buffered {
            if self.stamps.len() == STAMPS {
                self.stamps.pop_front();
            }
            self.stamps.push_back((seq, capture_us));
        }
        arrival
    }

    /// The frame for the next 20 ms slot; call every 20 ms. `None` while buffering (play
    /// silence).
    pub fn pop(&mut self, now_ms: u64) -> Option<Frame> {
        let slot = self.jitter.pop(now_ms)?;
        let slot_kind = match slot {
            Slot::Missing => SlotKind::Missing,
            _ => SlotKind::Other,
        };
        let seq = self.jitter.last_popped();
        let stamp = |seq: u32| {
            self.stamps
                .iter()
                .rev()
                .find(|(s, _)| *s == seq)
                .map(|(_, at)| *at)
        };
        let frame_us = u64::from(FRAME_MS) * 1_000;
        let (decoded, outcome, capture_us) = match slot {
            Slot::Packet(packet) => {
                let capture = seq.and_then(stamp);
                // Not the very first packet: DRED builds up over the first few.
                if self.counts.played % REACH_EVERY == REACH_EVERY - 1
                    && let Ok(reach) = self.decoder.reach(&packet)
                {
                    self.jitter.set_reach(reach);
                }
                match self.decoder.decode(&packet) {
                    Ok(samples) => (Ok(samples), Outcome::Played, capture),
                    Err(_) => {
                        self.counts.decode_errors += 1;
                        (self.decoder.conceal(), Outcome::Concealed, capture)
                    }
                }
            }
            Slot::Recover { later, distance } => {
                let capture = seq
                    .and_then(|s| stamp(s.wrapping_add(distance)))
                    .map(|at| at.saturating_sub(u64::from(distance) * frame_us));
                match self.decoder.recover(&later, distance) {
                    Ok((samples, how)) => {
                        let outcome = match how {
                            Recovery::Fec => Outcome::Fec,
                            Recovery::Dred => Outcome::Dred,
                            Recovery::Concealed => Outcome::Concealed,
                        };
                        (Ok(samples), outcome, capture)
                    }
                    Err(_) => {
                        self.counts.decode_errors += 1;
                        (self.decoder.conceal(), Outcome::Concealed, capture)
                    }
                }
            }
            Slot::Stretch => (self.decoder.conceal(), Outcome::Stretched, None),
            Slot::Missing => (self.decoder.conceal(), Outcome::Concealed, None),
        };
        self.missing_run = if matches!(slot_kind, SlotKind::Missing) {
            self.missing_run + 1
        } else {
            0
        };
        match outcome {
            Outcome::Played => self.counts.played += 1,
            Outcome::Fec => self.counts.fec += 1,
            Outcome::Dred => self.counts.dred += 1,
            Outcome::Concealed => self.counts.concealed += 1,
            Outcome::Stretched => self.counts.stretched += 1,
        }
        let samples = decoded.unwrap_or_else(|_| vec![0.0; self.decoder.format().frame_len()]);
        Some(Frame {
            samples,
            outcome,
            capture_us,
        })
    }

    /// What played so far.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// The slots concealed since the last packet with nothing after them: when the sender
    /// has stopped, these were its silence, not loss.
    pub fn trailing_missing(&self) -> u64 {
        self.missing_run
    }

    /// The jitter buffer, for its delay and counters.
    pub fn jitter(&self) -> &JitterBuffer {
        &self.jitter
    }
}
