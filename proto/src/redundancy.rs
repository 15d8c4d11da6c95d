//! Voice redundancy per network leg: how many extra copies of each audio datagram a sender
//! puts on a path, decided from the loss measured on that path alone.
//!
//! Each leg decides for itself. A publisher adds copies on its uplink according to the loss
//! its own QUIC connection measures there (the server's acknowledgements say what arrived);
//! the server drops those copies ([`Dedup`]) and adds copies again on each subscriber's
//! downlink according to that connection's loss, so a lossy viewer costs only its own path
//! more and the server still never decodes. QUIC's loss figures count every packet sent, so
//! copies do not hide the loss that asked for them (no feedback loop).
//!
//! Copy `k` of frame `n` is due with frame `n + k * SPREAD` ([`History::due`]): spread in
//! time, so a burst that takes a frame rarely takes its copies too. It leaves `k *`
//! [`COPY_GAP_MS`] after that frame ([`Deferred`]): datagrams handed to QUIC together leave in
//! one packet and are lost together, which at 80% loss on both legs made the copies worth
//! almost nothing (48% heard in net/benches/voice_loss.rs, 98% with the gap).
//!
//! ```
//! use livestage_proto::redundancy::{self, History, LossMeter};
//!
//! let mut meter = LossMeter::default();
//! meter.update(1_000, 0);
//! meter.update(2_000, 500); // half of the last thousand packets were lost
//! let copies = redundancy::copies(meter.percent());
//! let mut history = History::default();
//! for seq in 0..10u32 {
//!     history.push(seq, format!("frame {seq}"));
//!     for copy in history.due(seq, copies) {
//!         // send `copy` again
//!         let _ = copy;
//!     }
//! }
//! assert_eq!(copies, 2);
//! ```

use std::collections::VecDeque;

/// Frames between a datagram and its next copy (60 ms): longer than most loss bursts on a
/// busy path, short enough for a jitter buffer to wait for.
pub const SPREAD: u32 = 3;

/// The most extra copies of a datagram.
pub const MAX_COPIES: u8 = 2;

/// Extra copies of each voice datagram for a path losing `loss_percent` of its packets:
/// none below 5%, one below 25%, then [`MAX_COPIES`].
///
/// With `c` copies a frame is lost only if all `c + 1` datagrams are: at 80% loss two copies
/// deliver 49% of frames instead of 20%, and the codec's own redundancy (DRED) rebuilds
/// most of the rest from the frames that arrive.
pub fn copies(loss_percent: u8) -> u8 {
    match loss_percent {
        0..5 => 0,
        5..25 => 1,
        _ => MAX_COPIES,
    }
}

/// Smoothed packet loss of one path from the cumulative counters QUIC keeps (packets sent,
/// packets declared lost).
#[derive(Clone, Debug, Default)]
pub struct LossMeter {
    last: Option<(u64, u64)>,
    /// Loss in per mille, smoothed.
    smoothed: Option<f64>,
}

/// Fewer packets than this since the last update are too few to say anything; the counters
/// are kept for the next update.
const MIN_SAMPLE: u64 = 10;

/// Weight of the newest sample; updates every 200 ms settle in about a second.
const WEIGHT: f64 = 0.3;

impl LossMeter {
    /// Takes the path's cumulative `sent` and `lost` packet counts.
    pub fn update(&mut self, sent: u64, lost: u64) {
        let Some((sent_then, lost_then)) = self.last else {
            self.last = Some((sent, lost));
            return;
        };
        let sent_now = sent.saturating_sub(sent_then);
        if sent_now < MIN_SAMPLE {
            return;
        }
        let lost_now = lost.saturating_sub(lost_then).min(sent_now);
        let sample = lost_now as f64 / sent_now as f64;
        self.smoothed = Some(match self.smoothed {
            None => sample,
            Some(s) => s + WEIGHT * (sample - s),
        });
        self.last = Some((sent, lost));
    }

    /// The smoothed loss, `0..=100` percent (0 before enough packets were counted).
    pub fn percent(&self) -> u8 {
        self.smoothed
            .map_or(0, |s| (s * 100.0).round().clamp(0.0, 100.0) as u8)
    }
}

/// The last few datagrams of one stream, for sending copies.
#[derive(Clone, Debug)]
pub struct History<T> {
    recent: VecDeque<(u32, T)>,
}

impl<T> Default for History<T> {
    fn default() -> Self {
        Self {
            recent: VecDeque::new(),
        }
    }
}

/// Datagrams kept: enough for [`MAX_COPIES`] copies [`SPREAD`] frames apart.
const KEPT: usize = (MAX_COPIES as usize) * (SPREAD as usize) + 1;

impl<T> History<T> {
    /// Remembers the datagram of frame `seq`.
    pub fn push(&mut self, seq: u32, datagram: T) {
        if self.recent.len() == KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back((seq, datagram));
    }

    /// The datagrams to send again along with frame `seq` for `copies` copies: those of
    /// frames `seq - SPREAD`, `seq - 2 * SPREAD`, ... that are still held.
    pub fn due(&self, seq: u32, copies: u8) -> impl Iterator<Item = &T> {
        (1..=u32::from(copies.min(MAX_COPIES))).filter_map(move |k| {
            let want = seq.wrapping_sub(k * SPREAD);
            self.recent.iter().find(|(s, _)| *s == want).map(|(_, d)| d)
        })
    }

    /// Forgets everything (a new stream starts its numbering again).
    pub fn clear(&mut self) {
        self.recent.clear();
    }
}

/// How long after the frame it is due with copy `k` of an earlier frame leaves, times `k`:
/// long enough that QUIC sends it in a packet of its own, short against the 20 ms frame.
pub const COPY_GAP_MS: u64 = 7;

/// The most copies a [`Deferred`] holds; more are handed back to be sent at once.
pub const DEFERRED_MAX: usize = 65_536;

/// Copies waiting for their moment ([`COPY_GAP_MS`]), earliest first, with whatever the
/// sender needs to send each (the connection, the datagram). Time is an input of any ordered
/// type (an `Instant`, milliseconds); nothing here reads a clock. Bounded by
/// [`DEFERRED_MAX`]: a copy that does not fit is handed back, to go out late rather than not.
#[derive(Debug)]
pub struct Deferred<K, T> {
    queue: VecDeque<(K, T)>,
}

impl<K, T> Default for Deferred<K, T> {
    fn default() -> Self {
        Self {
            queue: VecDeque::new(),
        }
    }
}

impl<K: Ord + Copy, T> Deferred<K, T> {
    /// Holds `item` until `at`; `Err(item)` when full.
    pub fn push(&mut self, at: K, item: T) -> Result<(), T> {
        if self.queue.len() >= DEFERRED_MAX {
            return Err(item);
        }
        // Mostly at the back: frames arrive in time order, each adding its copies.
        let i = self.queue.partition_point(|(t, _)| *t <= at);
        self.queue.insert(i, (at, item));
        Ok(())
    }

    /// When the earliest copy is due.
    pub fn next_at(&self) -> Option<K> {
        self.queue.front().map(|(t, _)| *t)
    }

    /// The next copy due by `now`, if any.
    pub fn pop_due(&mut self, now: K) -> Option<T> {
        if self.queue.front().is_some_and(|(t, _)| *t <= now) {
            self.queue.pop_front().map(|(_, item)| item)
        } else {
            None
        }
    }

    /// Copies waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether none is waiting.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

/// Tells the first copy of each frame of one track from the copies that follow it.
#[derive(Clone, Debug, Default)]
pub struct Dedup {
    stream: Option<u32>,
    /// The highest sequence number seen.
    highest: u32,
    /// Bit `i` set: frame `highest - i` was seen.
    seen: u64,
}

impl Dedup {
    /// Whether frame `seq` of `stream` arrives for the first time. A new stream starts afresh;
    /// a frame more than 63 behind the newest counts as seen (it is too late to play).
    pub fn first(&mut self, stream: u32, seq: u32) -> bool {
        if self.stream != Some(stream) {
            *self = Self {
                stream: Some(stream),
                highest: seq,
                seen: 1,
            };
            return true;
        }
        let ahead = seq.wrapping_sub(self.highest);
        if ahead == 0 {
            return false;
        }
        if ahead < u32::MAX / 2 {
            self.seen = if ahead >= 64 { 0 } else { self.seen << ahead };
            self.seen |= 1;
            self.highest = seq;
            return true;
        }
        let behind = self.highest.wrapping_sub(seq);
        if behind >= 64 || self.seen & (1 << behind) != 0 {
            return false;
        }
        self.seen |= 1 << behind;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deferred_copies_leave_in_time_order_and_a_full_queue_hands_back() {
        let mut d = Deferred::default();
        assert!(d.push(14, "b").is_ok());
        assert!(d.push(7, "a").is_ok());
        assert!(d.push(14, "c").is_ok());
        assert_eq!(d.next_at(), Some(7));
        assert_eq!(d.pop_due(6), None);
        assert_eq!(d.pop_due(20), Some("a"));
        assert_eq!(d.pop_due(20), Some("b"));
        assert_eq!(d.pop_due(20), Some("c"));
        assert!(d.is_empty());
        for i in 0..DEFERRED_MAX {
            assert!(d.push(i as u64, "x").is_ok());
        }
        assert_eq!(d.push(0, "late"), Err("late"));
        assert_eq!(d.len(), DEFERRED_MAX);
    }

    #[test]
    fn copies_grow_with_loss() {
        assert_eq!(copies(0), 0);
        assert_eq!(copies(4), 0);
        assert_eq!(copies(5), 1);
        assert_eq!(copies(24), 1);
        assert_eq!(copies(25), 2);
        assert_eq!(copies(100), 2);
    }

    #[test]
    fn meter_smooths_and_waits_for_enough_packets() {
        let mut m = LossMeter::default();
        assert_eq!(m.percent(), 0);
        m.update(100, 0);
        m.update(105, 5); // too few packets to judge
        assert_eq!(m.percent(), 0);
        m.update(200, 80); // 80 of 100
        assert_eq!(m.percent(), 80);
        m.update(300, 80); // none of the next 100
        assert_eq!(m.percent(), 56);
        for i in 0..20 {
            m.update(400 + i * 100, 80);
        }
        assert_eq!(m.percent(), 0);
    }

    #[test]
    fn meter_survives_counters_that_go_backwards() {
        let mut m = LossMeter::default();
        m.update(1_000, 900);
        m.update(10, 10_000);
        m.update(500, 0);
        assert!(m.percent() <= 100);
    }

    #[test]
    fn history_hands_back_spread_copies() {
        let mut h = History::default();
        for seq in 0..20u32 {
            h.push(seq, seq);
        }
        let due: Vec<u32> = h.due(19, 2).copied().collect();
        assert_eq!(due, vec![19 - SPREAD, 19 - 2 * SPREAD]);
        assert_eq!(h.due(19, 0).count(), 0);
        assert_eq!(h.due(19, 9).count(), MAX_COPIES as usize, "capped");
        // A frame whose datagram never came has no copy.
        let mut gaps = History::default();
        gaps.push(10, 10);
        gaps.push(13, 13);
        assert_eq!(gaps.due(13, 2).copied().collect::<Vec<_>>(), vec![10]);
    }

    #[test]
    fn history_wraps_with_the_sequence() {
        let mut h = History::default();
        for seq in [u32::MAX - 2, u32::MAX - 1, u32::MAX, 0, 1] {
            h.push(seq, seq);
        }
        assert_eq!(h.due(0, 1).copied().collect::<Vec<_>>(), vec![u32::MAX - 2]);
    }

    #[test]
    fn dedup_passes_each_frame_once() {
        let mut d = Dedup::default();
        assert!(d.first(7, 0));
        assert!(!d.first(7, 0));
        assert!(d.first(7, 3));
        assert!(d.first(7, 1), "late but new");
        assert!(!d.first(7, 1));
        assert!(!d.first(7, 3));
        assert!(d.first(7, 200));
        assert!(!d.first(7, 100), "too far behind");
        assert!(d.first(8, 0), "a new stream starts afresh");
        assert!(d.first(8, u32::MAX.wrapping_add(2)));
    }

    #[test]
    fn dedup_wraps() {
        let mut d = Dedup::default();
        assert!(d.first(1, u32::MAX));
        assert!(d.first(1, 0));
        assert!(!d.first(1, u32::MAX));
        assert!(d.first(1, u32::MAX - 1));
    }
}
