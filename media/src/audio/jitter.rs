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
//! - the delay adapts to loss and jitter: for each slot the buffer notes when the first
//!   packet that could rebuild it arrived (its own, or a later one within the codec's reach,
//!   [`JitterBuffer::set_reach`]),
//!   measured from the slot's turn at the target delay, also for slots concealed because it
//!   came too late; it then waits long enough that 99 slots in 100 had theirs in time
//!   (random loss and bursts alike; a slot nothing rebuilds, such as the silence of a sender
//!   that stopped, does not count), never more than [`MAX_DELAY_MS`]. It grows by a
//!   concealed slot ([`Slot::Stretch`]) at most every [`GROW_EVERY`] slots and shrinks back
//!   by skipping a frame ([`Stats::skipped`]) at most every [`SHRINK_EVERY`];
//! - after [`REBUFFER_AFTER`] consecutive missing slots with nothing buffered (the sender
//!   stopped or the network stalled) playout stops and [`pop`](JitterBuffer::pop) returns
//!   `None` until the next packet has waited the delay again; playout then resumes with the
//!   slots before that packet that it can rebuild (after a burst of loss; a sender that
//!   paused numbers on without a gap), and if that packet is far behind what was played (the
//!   sender restarted its numbering) the stream starts afresh.
//!
//! One buffer serves one stream. Livestage packets name their stream
//! (`livestage_proto::media::AudioPacket::stream`), and a receiver starts a new buffer when a
//! new stream arrives (as `livestage_net::playout` does), so a publisher that publishes again
//! is followed at once; the restart rule above covers senders that give no stream id.

use std::collections::{BTreeMap, VecDeque};

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
/// undo it, and each step down drops a frame. 160 ms above, a quarter of it.
pub const SHRINK_EVERY: u32 = 100;

/// How far back a later packet rebuilds a lost frame, in slots, until the receiver says
/// ([`JitterBuffer::set_reach`]): the DRED a 32 kbit/s stream carries even on a clean path
/// (200 ms; `codec::BASELINE_DRED_MS`, measured in media/tests/audio_dred.rs).
pub const DEFAULT_REACH: u32 = 10;

/// Weight of each slot in the waits measured (about the last four seconds count).
const WAIT_WEIGHT: f64 = 1.0 / 200.0;

/// Wait long enough that the packet that rebuilds a slot comes too late at most this often.
const UNCOVERED: f64 = 0.01;

/// Slots of delay tracked below the target (a packet that came this early would have been
/// in time with this much less delay): as many as [`MAX_DELAY_MS`] has.
const EARLY_BINS: i64 = (MAX_DELAY_MS / 20) as i64;

/// Delays tracked, in slots from [`EARLY_BINS`] below the target to [`MAX_DELAY_MS`] over
/// it. A packet that came later than that is not counted: no delay allowed would have
/// helped.
const WAIT_BINS: usize = (EARLY_BINS as usize) * 2 + 1;

/// For recent slots, how much delay over the target (or under it: negative) it took to have
/// a packet that plays or rebuilds each, as smoothed shares by slots of delay. Measured from
/// where playout runs, so a playout that started late (on a packet that came late) shows as
/// packets that came early, and the delay shrinks.
#[derive(Debug, Clone)]
struct Waits {
    share: [f64; WAIT_BINS],
    samples: u32,
}

impl Waits {
    fn new() -> Self {
        Self {
            share: [0.0; WAIT_BINS],
            samples: 0,
        }
    }

    /// Notes a slot whose rescuing packet came `late_ms` after its turn at the target delay
    /// (negative: before it).
    fn record(&mut self, late_ms: i64) {
        // Slots of delay it needed, rounded up.
        let needed = late_ms.div_euclid(20) + i64::from(late_ms.rem_euclid(20) > 0);
        let slots = (needed + EARLY_BINS).max(0) as usize;
        if slots >= WAIT_BINS {
            return;
        }
        // A plain average over the first slots, so the first second already counts.
        self.samples = self.samples.saturating_add(1);
        let weight = (1.0 / f64::from(self.samples)).max(WAIT_WEIGHT);
        for share in &mut self.share {
            *share *= 1.0 - weight;
        }
        self.share[slots] += weight;
    }

    /// The fewest slots of delay over the target (negative: under it) that would have had
    /// all but `1 - q` of the slots in time; `None` before anything was measured.
    fn quantile(&self, q: f64) -> Option<i64> {
        if self.samples == 0 {
            return None;
        }
        let mut tail: f64 = self.share.iter().sum();
        for (bin, share) in self.share.iter().enumerate() {
            tail -= share;
            if tail <= 1.0 - q {
                return Some(bin as i64 - EARLY_BINS);
            }
        }
        Some(WAIT_BINS as i64 - EARLY_BINS)
    }
}

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
    /// Packets by unwrapped sequence number, with when each arrived.
    frames: BTreeMap<u64, (Vec<u8>, u64)>,
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
    /// How long recent slots took to have a packet that plays or rebuilds them.
    waits: Waits,
    /// The same for slots played from their own packet: where packets arrive, relative to
    /// where playout runs.
    arrivals: Waits,
    /// Slots handed out with nothing that rebuilds them, with their turn at the target delay,
    /// oldest first: a packet that arrives after all says how much longer it would have taken.
    unrescued: VecDeque<(u64, u64)>,
    /// Slots added (positive) or skipped (negative) since playout started: the delay now is
    /// the target plus this many frames.
    adapted: i64,
    /// Slots since the delay last changed.
    since_adapt: u32,
    /// How many slots back a later packet rebuilds a lost one.
    reach: u64,
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
            waits: Waits::new(),
            arrivals: Waits::new(),
            unrescued: VecDeque::new(),
            adapted: 0,
            since_adapt: 0,
            reach: u64::from(DEFAULT_REACH),
        }
    }

    /// The delay playout aims for now, as the wait of a typical packet (like
    /// [`delay_ms`](Self::delay_ms)): what recent slots needed to have a packet that plays or
    /// rebuilds them 99 times in 100, within [`MAX_DELAY_MS`] (the target until measured).
    pub fn wanted_delay_ms(&self) -> u64 {
        (self.wanted_extra() * 20 - self.typical_arrival_ms()).max(0) as u64
    }

    /// The delay wanted in slots over the target (or under it), counted from where playout
    /// runs.
    fn wanted_extra(&self) -> i64 {
        let wanted = self.waits.quantile(1.0 - UNCOVERED).unwrap_or(0);
        wanted.min(self.most_extra())
    }

    /// The most slots over the target that keep a typical packet's wait within
    /// [`MAX_DELAY_MS`]: fewer when playout started on a late packet.
    fn most_extra(&self) -> i64 {
        (MAX_DELAY_MS.max(self.target_delay_ms) as i64 + self.typical_arrival_ms()).div_euclid(20)
    }

    /// When a typical packet arrives, in milliseconds after its slot's turn at the target
    /// delay (negative: before it; `-target` when playout started on a packet on time).
    fn typical_arrival_ms(&self) -> i64 {
        self.arrivals
            .quantile(0.5)
            .map_or(-(self.target_delay_ms as i64), |slots| slots * 20)
    }

    /// Tells how many slots back a later packet rebuilds a lost one (the codec's redundancy:
    /// `Decoder::reach`; at most [`CAPACITY`]): the delay then waits only for packets that
    /// help.
    pub fn set_reach(&mut self, slots: u32) {
        self.reach = u64::from(slots).min(CAPACITY as u64);
    }

    /// How long a typical packet waits in the buffer now: the target plus the slots added,
    /// less those skipped, corrected by where packets arrive (more when playout started on
    /// one that came early, less on one that came late).
    pub fn delay_ms(&self) -> u64 {
        (self.adapted * 20 - self.typical_arrival_ms()).max(0) as u64
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
                self.rescue(ext, now_ms);
                self.stats.late += 1;
                return Arrival::Late;
            }
        }
        self.rescue(ext, now_ms);
        if self.frames.contains_key(&ext) {
            self.stats.duplicates += 1;
            return Arrival::Duplicate;
        }
        self.frames.insert(ext, (payload, now_ms));
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        if self.state == State::Idle {
            // A new start measures from this packet: never less than the target.
            let most = MAX_DELAY_MS.max(self.target_delay_ms);
            let delay = (self.target_delay_ms + self.wanted_extra().max(0) as u64 * 20).min(most);
            self.state = State::Buffering {
                start_at: now_ms.saturating_add(delay),
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
            // Playout starts at the delay the loss asks for (see `push`).
            let extra = self.wanted_extra().max(0);
            // A stream going on after a gap that stopped playout (a long burst of loss) that
            // the first packet can rebuild: playout resumes where it stopped, later by as many
            // slots (within the delay's bound). After a longer gap it starts afresh.
            let room = (self.most_extra() - extra).max(0) as u64;
            let back = match self.next {
                Some(next) if first > next && first - next <= self.reach.min(room) => first - next,
                _ => 0,
            };
            self.skip_to(first - back);
            self.missing_run = 0;
            self.state = State::Playing;
            self.adapted = extra + back as i64;
            self.since_adapt = 0;
        }
        if self.state != State::Playing {
            return None;
        }
        let seq = self.next?;
        // This slot's turn had the delay been the target.
        let base_turn = now_ms.saturating_add_signed(-self.adapted * 20);
        self.since_adapt = self.since_adapt.saturating_add(1);
        if self.since_adapt >= GROW_EVERY {
            let (now, wanted) = (self.adapted, self.wanted_extra());
            if wanted > now {
                // Grow: play a concealed slot and keep this one for the next call.
                self.adapted += 1;
                self.since_adapt = 0;
                self.stats.stretched += 1;
                return Some(Slot::Stretch);
            }
            // 80 ms more than needed: a step down every two seconds; 160 ms more (playout
            // started on a late packet): four times as often.
            let due = if now >= wanted + 8 {
                SHRINK_EVERY / 4
            } else {
                SHRINK_EVERY
            };
            if self.since_adapt >= due && now >= wanted + 4 && self.frames.contains_key(&(seq + 1))
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
        if let Some((packet, arrived)) = self.frames.remove(&seq) {
            self.played_bits |= 1;
            self.missing_run = 0;
            self.stats.played += 1;
            let late = arrived as i64 - base_turn as i64;
            self.waits.record(late);
            self.arrivals.record(late);
            return Some(Slot::Packet(packet));
        }
        // The first packet that can rebuild this slot, if one is here.
        let rescuer = self
            .frames
            .range(seq + 1..seq + 1 + self.reach)
            .map(|(_, (_, at))| *at)
            .min();
        match rescuer {
            Some(at) => self.waits.record(at as i64 - base_turn as i64),
            None => {
                if self.unrescued.len() == CAPACITY {
                    self.unrescued.pop_front();
                }
                self.unrescued.push_back((seq, base_turn));
            }
        }
        let later = self.frames.range(seq + 1..).next();
        if let Some((later_seq, later)) = later.map(|(&s, (p, _))| (s, p.clone())) {
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

    /// A packet for slot `seq` arrived at `now_ms`: the slots before it that nothing could
    /// rebuild at their turn and that it reaches note how much later it came. Slots it does
    /// not reach stay noted until a packet that does arrives or they fall out of the record
    /// (then they were never rebuildable: a sender that went quiet is not loss).
    fn rescue(&mut self, seq: u64, now_ms: u64) {
        let (waits, reach) = (&mut self.waits, self.reach);
        self.unrescued.retain(|&(slot, base_turn)| {
            let reaches = seq >= slot && seq - slot <= reach;
            if reaches {
                waits.record(now_ms as i64 - base_turn as i64);
            }
            !reaches
        });
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
