//! A sans-IO jitter buffer for one remote audio stream.
//!
//! The network side calls [`JitterBuffer::push`] for each packet as it arrives; the playout
//! side calls [`JitterBuffer::pop`] every 20 ms and turns each [`Slot`] into one frame with
//! the [`Decoder`](super::codec::Decoder). The clock is an input (`now_ms`, any monotonic
//! millisecond count); the buffer never reads one.
//!
//! Behaviour, in order of arrival of a packet:
//! - sequence numbers are `u32` and wrap; they are unwrapped against the highest one seen;
//! - a packet for a slot already played out (or skipped) is *late* and dropped; if it is a
//!   copy of a packet that was played it counts as a duplicate instead;
//! - a copy of a buffered packet is a *duplicate* and dropped;
//! - the buffer spans at most [`CAPACITY`] consecutive sequence numbers: a newer packet
//!   pushes the oldest out and playout skips ahead, so latency stays bounded;
//! - playout starts `target_delay_ms` (more under loss, see below) after the first packet
//!   arrives, at the lowest sequence number buffered by then;
//! - a missing slot is handed out with the nearest later packet buffered
//!   ([`Slot::Recover`]), whose redundancy (FEC, DRED) may rebuild it;
//! - the delay adapts to loss: the buffer tracks how often a slot's packet is missing when
//!   its turn comes, and waits long enough that a later packet is there to recover from 99
//!   times in 100 (at 50% missing, 140 ms more), never more than [`MAX_DELAY_MS`]. It grows
//!   by a concealed slot ([`Slot::Stretch`]) at most every [`GROW_EVERY`] slots and shrinks
//!   back by skipping a frame ([`Stats::skipped`]) at most every [`SHRINK_EVERY`];
//! - after [`REBUFFER_AFTER`] consecutive missing slots with nothing buffered (the sender
//!   stopped or the network stalled) playout stops and [`pop`](JitterBuffer::pop) returns
//!   `None` until the next packet has waited `target_delay_ms` again; if that packet is far
//!   behind what was played (the sender restarted its numbering) the stream starts afresh.
//!
//! One buffer serves one stream. Livestage packets name their stream
//! (`livestage_proto::media::AudioPacket::stream`), and a receiver starts a new buffer when a
//! new stream arrives (as `livestage_net::playout` does), so a publisher that publishes again
//! is followed at once; the restart rule above covers senders that give no stream id.

use std::collections::BTreeMap;

/// The most consecutive sequence numbers held (50 frames, one second).
pub const CAPACITY: usize = 50;

/// Consecutive missing slots, with nothing buffered, after which playout stops (200 ms).
pub const REBUFFER_AFTER: u32 = 10;

/// The most the buffer delays playout, in milliseconds, however lossy the path: the
/// mouth-to-ear bound is this plus the one-way network delay and one 20 ms frame.
pub const MAX_DELAY_MS: u64 = 400;

/// Least slots between two steps up of the delay while playing (200 ms): loss that
/// arrives is met within a few seconds.
pub const GROW_EVERY: u32 = 10;

/// Least slots between two steps down (two seconds), and only when the delay is 80 ms above
/// what the loss asks for: the delay comes back slowly, so a passing quiet moment does not
/// undo it, and each step down drops a frame.
pub const SHRINK_EVERY: u32 = 100;

/// Weight of each slot in the missing rate (about the last two seconds count).
const MISSING_WEIGHT: f64 = 1.0 / 100.0;

/// Wait long enough that no later packet arrives at most this often.
const UNCOVERED: f64 = 0.01;

/// What to play for one 20 ms slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// The packet for this slot: decode it.
    Packet(Vec<u8>),
    /// This slot's packet is missing but a later one has arrived: recover this slot from
    /// its redundancy ([`Decoder::recover`](super::codec::Decoder::recover)). The later
    /// packet stays buffered and is played in its own slot.
    Recover {
        /// The nearest later packet buffered.
        later: Vec<u8>,
        /// How many slots after this one it plays (1: the next).
        distance: u32,
    },
    /// Nothing to go on: conceal ([`Decoder::conceal`](super::codec::Decoder::conceal)).
    Missing,
    /// No frame of the sender: a slot inserted to grow the delay under loss. Conceal it.
    Stretch,
}

/// What [`JitterBuffer::push`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Buffered for playout.
    Buffered,
    /// A copy of a packet already buffered or played: dropped.
    Duplicate,
    /// Its slot has already been played out or skipped: dropped.
    Late,
}

/// Counters since the buffer was created.
///
/// Every slot [`pop`](JitterBuffer::pop) returns counts once in `played`, `recovered`,
/// `concealed` or `stretched`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets pushed, including duplicates and late ones.
    pub received: u64,
    /// Packets dropped because their slot had passed.
    pub late: u64,
    /// Packets dropped as copies.
    pub duplicates: u64,
    /// Buffered packets dropped to keep the buffer within [`CAPACITY`].
    pub overflow: u64,
    /// Slots returned as [`Slot::Packet`].
    pub played: u64,
    /// Slots returned as [`Slot::Recover`].
    pub recovered: u64,
    /// Slots returned as [`Slot::Missing`].
    pub concealed: u64,
    /// Times playout stopped to buffer again.
    pub rebuffers: u64,
    /// Slots inserted to grow the delay ([`Slot::Stretch`]).
    pub stretched: u64,
    /// Slots skipped to shrink the delay (never returned, so in no other counter).
    pub skipped: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No packet waiting; `pop` returns `None`.
    Idle,
    /// Packets waiting; playout starts at `start_at`.
    Buffering { start_at: u64 },
    /// `pop` returns a slot every call.
    Playing,
}

/// Reorders packets by sequence number and says, every 20 ms, what to play.
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    target_delay_ms: u64,
    /// Packets by unwrapped sequence number.
    frames: BTreeMap<u64, Vec<u8>>,
    /// Highest unwrapped sequence number accepted: the reference for unwrapping.
    highest: Option<u64>,
    /// First slot not yet played out; `None` before playout first starts.
    next: Option<u64>,
    /// Bit `i` set: slot `next - 1 - i` was played from a packet (to tell duplicates from
    /// late packets).
    played_bits: u64,
    missing_run: u32,
    state: State,
    stats: Stats,
    /// How often a slot's packet was missing when its turn came, smoothed.
    missing_rate: f64,
    /// Slots counted in `missing_rate`.
    missing_samples: u32,
    /// Slots added (positive) or skipped (negative) since playout started: the delay now is
    /// the target plus this many frames.
    adapted: i64,
    /// Slots since the delay last changed.
    since_adapt: u32,
}

impl JitterBuffer {
    /// A buffer that starts playout `target_delay_ms` after the first packet arrives
    /// (40 to 80 ms suits most networks).
    pub fn new(target_delay_ms: u64) -> JitterBuffer {
        JitterBuffer {
            target_delay_ms,
            frames: BTreeMap::new(),
            highest: None,
            next: None,
            played_bits: 0,
            missing_run: 0,
            state: State::Idle,
            stats: Stats::default(),
            missing_rate: 0.0,
            missing_samples: 0,
            adapted: 0,
            since_adapt: 0,
        }
    }

    /// The delay playout aims for now: the target plus what the measured loss asks for,
    /// within [`MAX_DELAY_MS`].
    pub fn wanted_delay_ms(&self) -> u64 {
        let m = self.missing_rate;
        // Wait `d` more slots so that all of them miss with probability m^d <= UNCOVERED.
        let slots = if m < 0.02 {
            0.0
        } else {
            (UNCOVERED.ln() / m.min(0.99).ln()).ceil()
        };
        (self.target_delay_ms + slots as u64 * 20).min(MAX_DELAY_MS.max(self.target_delay_ms))
    }

    /// The delay playout runs at now: the target plus the slots added, less those skipped.
    pub fn delay_ms(&self) -> u64 {
        self.target_delay_ms
            .saturating_add_signed(self.adapted * 20)
    }

    /// How often a slot's packet was missing at its turn lately, `0.0..=1.0`.
    pub fn missing_rate(&self) -> f64 {
        self.missing_rate
    }

    /// The delay between the first packet and the start of playout.
    pub fn target_delay_ms(&self) -> u64 {
        self.target_delay_ms
    }

    /// Changes the target delay; it applies the next time playout starts.
    pub fn set_target_delay_ms(&mut self, target_delay_ms: u64) {
        self.target_delay_ms = target_delay_ms;
    }

    /// The sequence number of the slot [`pop`](Self::pop) returned last (as pushed).
    pub fn last_popped(&self) -> Option<u32> {
        self.next.map(|next| next.wrapping_sub(1) as u32)
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Packets buffered.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no packet is buffered.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Whether playout is running (every [`pop`](Self::pop) returns a slot).
    pub fn is_playing(&self) -> bool {
        self.state == State::Playing
    }

    /// Takes in a packet that arrived at `now_ms`.
    pub fn push(&mut self, seq: u32, payload: Vec<u8>, now_ms: u64) -> Arrival {
        self.stats.received += 1;
        let mut ext = self.unwrap_seq(seq);
        if let Some(next) = self.next
            && ext < next
        {
            let behind = next - ext;
            if behind <= 64 && (self.played_bits >> (behind - 1)) & 1 == 1 {
                self.stats.duplicates += 1;
                return Arrival::Duplicate;
            }
            if self.state == State::Idle && behind > CAPACITY as u64 {
                // Far behind what was played, after a pause: the sender started over.
                self.next = None;
                self.highest = None;
                self.played_bits = 0;
                ext = self.unwrap_seq(seq);
            } else {
                self.stats.late += 1;
                return Arrival::Late;
            }
        }
        if self.frames.contains_key(&ext) {
            self.stats.duplicates += 1;
            return Arrival::Duplicate;
        }
        self.frames.insert(ext, payload);
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        if self.state == State::Idle {
            self.state = State::Buffering {
                start_at: now_ms.saturating_add(self.wanted_delay_ms()),
            };
        }
        self.trim();
        Arrival::Buffered
    }

    /// What to play for the next 20 ms slot; call every 20 ms.
    ///
    /// `None` while buffering (before playout starts, or after it stopped): play silence.
    pub fn pop(&mut self, now_ms: u64) -> Option<Slot> {
        if let State::Buffering { start_at } = self.state {
            if now_ms < start_at {
                return None;
            }
            let first = *self.frames.keys().next()?;
            self.skip_to(first);
            self.missing_run = 0;
            self.state = State::Playing;
            // Playout starts at the delay the loss asks for (see `push`).
            let extra = self.wanted_delay_ms().saturating_sub(self.target_delay_ms) / 20;
            self.adapted = extra as i64;
            self.since_adapt = 0;
        }
        if self.state != State::Playing {
            return None;
        }
        let seq = self.next?;
        self.since_adapt = self.since_adapt.saturating_add(1);
        if self.since_adapt >= GROW_EVERY {
            let (now, wanted) = (self.delay_ms(), self.wanted_delay_ms());
            if wanted >= now + 20 {
                // Grow: play a concealed slot and keep this one for the next call.
                self.adapted += 1;
                self.since_adapt = 0;
                self.stats.stretched += 1;
                return Some(Slot::Stretch);
            }
            if self.since_adapt >= SHRINK_EVERY
                && now >= wanted + 80
                && self.frames.contains_key(&(seq + 1))
            {
                // Shrink: drop this slot's frame (a packet follows, so nothing is concealed).
                self.adapted -= 1;
                self.since_adapt = 0;
                self.stats.skipped += 1;
                self.next = Some(seq + 1);
                self.played_bits <<= 1;
                if self.frames.remove(&seq).is_some() {
                    self.played_bits |= 1;
                }
                return self.pop(now_ms);
            }
        }
        self.next = Some(seq + 1);
        self.played_bits <<= 1;
        if let Some(packet) = self.frames.remove(&seq) {
            self.played_bits |= 1;
            self.missing_run = 0;
            self.stats.played += 1;
            self.count_missing(false);
            return Some(Slot::Packet(packet));
        }
        let later = self.frames.range(seq + 1..).next();
        if let Some((later_seq, later)) = later.map(|(&s, p)| (s, p.clone())) {
            // A gap before a packet that came is loss; a sender that went quiet is not, so a
            // missing slot with nothing after it does not count.
            self.count_missing(true);
            self.missing_run = 0;
            self.stats.recovered += 1;
            return Some(Slot::Recover {
                later,
                distance: (later_seq - seq) as u32,
            });
        }
        self.missing_run += 1;
        self.stats.concealed += 1;
        if self.frames.is_empty() && self.missing_run >= REBUFFER_AFTER {
            self.state = State::Idle;
            self.stats.rebuffers += 1;
        }
        Some(Slot::Missing)
    }

    fn count_missing(&mut self, missing: bool) {
        let sample = if missing { 1.0 } else { 0.0 };
        // A plain average over the first slots, so the first second already counts.
        self.missing_samples = self.missing_samples.saturating_add(1);
        let weight = (1.0 / f64::from(self.missing_samples)).max(MISSING_WEIGHT);
        self.missing_rate += weight * (sample - self.missing_rate);
    }

    /// Extends a wrapping sequence number to 64 bits, nearest to the highest one seen.
    fn unwrap_seq(&self, seq: u32) -> u64 {
        match self.highest {
            // Start at 2^32 so that stepping back by up to 2^31 stays positive.
            None => (1 << 32) + u64::from(seq),
            Some(highest) => {
                let delta = i64::from(seq.wrapping_sub(highest as u32) as i32);
                highest.saturating_add_signed(delta)
            }
        }
    }

    /// Moves playout to `seq`, keeping the record of played slots aligned.
    fn skip_to(&mut self, seq: u64) {
        let distance = self.next.map_or(u64::MAX, |next| seq.saturating_sub(next));
        self.played_bits = if distance < 64 {
            self.played_bits << distance
        } else {
            0
        };
        self.next = Some(seq);
    }

    /// Drops packets more than [`CAPACITY`] slots behind the newest; playout skips to the
    /// oldest packet left if it was behind them.
    fn trim(&mut self) {
        let Some(highest) = self.highest else { return };
        let lowest_kept = highest.saturating_sub(CAPACITY as u64 - 1);
        while let Some(entry) = self.frames.first_entry() {
            if *entry.key() >= lowest_kept {
                break;
            }
            entry.remove();
            self.stats.overflow += 1;
        }
        if self.next.is_some_and(|next| next < lowest_kept)
            && let Some(&first) = self.frames.keys().next()
        {
            self.skip_to(first);
        }
    }
}
