//! Token buckets: the data message limits (messages per second and bytes per second) and the
//! per-kind limits on every other request.

use crate::wire::DataLimits;

/// A token bucket on a millisecond clock passed in by the caller.
#[derive(Clone, Debug)]
struct Bucket {
    capacity: f64,
    per_ms: f64,
    level: f64,
    last_ms: u64,
}

impl Bucket {
    fn new(per_sec: f64, capacity: f64, now_ms: u64) -> Self {
        Self {
            capacity,
            per_ms: per_sec / 1000.0,
            level: capacity,
            last_ms: now_ms,
        }
    }

    fn refill(&mut self, now_ms: u64) {
        // A clock that steps back refills nothing rather than draining.
        let elapsed = now_ms.saturating_sub(self.last_ms) as f64;
        self.level = (self.level + elapsed * self.per_ms).min(self.capacity);
        self.last_ms = self.last_ms.max(now_ms);
    }

    fn wait_ms(&self, amount: f64) -> u64 {
        if self.level >= amount {
            0
        } else {
            ((amount - self.level) / self.per_ms).ceil() as u64
        }
    }
}

/// Both data limits of one sender: a message passes only when both buckets allow it.
#[derive(Clone, Debug)]
pub struct DataRate {
    messages: Bucket,
    bytes: Bucket,
}

impl DataRate {
    /// The server's enforcement: up to one second's worth may arrive at once.
    pub fn enforce(limits: DataLimits, now_ms: u64) -> Self {
        Self::with_scale(limits, 1.0, 1.0, now_ms)
    }

    /// The client's pacing: a little under the server's limit with a smaller burst, so network
    /// jitter bunching messages together never trips the server's limit.
    pub fn pace(limits: DataLimits, now_ms: u64) -> Self {
        Self::with_scale(limits, 0.9, 0.5, now_ms)
    }

    fn with_scale(limits: DataLimits, rate: f64, burst: f64, now_ms: u64) -> Self {
        let msgs = f64::from(limits.messages_per_sec);
        let bytes = f64::from(limits.bytes_per_sec);
        Self {
            messages: Bucket::new(msgs * rate, (msgs * burst).max(1.0), now_ms),
            // A single maximum-size message must always fit in the byte bucket.
            bytes: Bucket::new(
                bytes * rate,
                (bytes * burst).max(f64::from(limits.max_payload)),
                now_ms,
            ),
        }
    }

    /// Milliseconds until a message of `len` bytes may pass (0 = now).
    pub fn wait_ms(&mut self, len: usize, now_ms: u64) -> u64 {
        self.messages.refill(now_ms);
        self.bytes.refill(now_ms);
        self.messages
            .wait_ms(1.0)
            .max(self.bytes.wait_ms(len as f64))
    }

    /// Takes a message of `len` bytes if both limits allow it now.
    pub fn try_take(&mut self, len: usize, now_ms: u64) -> bool {
        if self.wait_ms(len, now_ms) > 0 {
            return false;
        }
        self.messages.level -= 1.0;
        self.bytes.level -= len as f64;
        true
    }
}

/// Control frames one connection may send per second, whatever their kind.
pub const CONTROL_FRAMES_PER_SEC: u32 = 1_000;

/// How many control frames may arrive at once, above [`CONTROL_FRAMES_PER_SEC`].
pub const CONTROL_FRAME_BURST: u32 = 2_000;

/// Paces the control frames read from one connection, whatever their kind: acknowledgements,
/// link reports and requests re-sent after a resume cost the server a little each and no
/// per-kind limit charges them. The reader waits what [`FramePace::take`] says before handing
/// a frame on, so QUIC's flow control holds a flooding sender back and the server core never
/// sees more than the pace. An honest client sends a few a second (one acknowledgement per
/// batch of events, requests limited by kind), far below it.
#[derive(Clone, Debug)]
pub struct FramePace {
    bucket: Bucket,
}

impl FramePace {
    /// A full bucket at `now_ms`.
    pub fn new(now_ms: u64) -> Self {
        Self {
            bucket: Bucket::new(
                f64::from(CONTROL_FRAMES_PER_SEC),
                f64::from(CONTROL_FRAME_BURST),
                now_ms,
            ),
        }
    }

    /// Counts one frame read at `now_ms`; returns how many milliseconds to wait before
    /// handing it on (0: now). Frames over the pace run into debt, paid back in waiting.
    pub fn take(&mut self, now_ms: u64) -> u64 {
        self.bucket.refill(now_ms);
        let wait = self.bucket.wait_ms(1.0);
        self.bucket.level -= 1.0;
        wait
    }
}

/// A request kind with a rate limit of its own. Data messages and raised hands are limited by
/// [`DataRate`] (the client paces them); these are limited here, refused or not, so a request
/// the server turns down still costs the sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limited {
    /// Changing one's own role: every change is announced to the whole channel.
    Role,
    /// Moderator actions (a narrator resets a table's hearing sets at once).
    Moderate,
    /// Subscription choices (one per publisher when joining a stage).
    Subscribe,
    /// Token renewals (each verifies a signature).
    Renew,
    /// Keyframe requests (after decode errors).
    Hint,
    /// Publishing and unpublishing tracks: each is announced to the whole channel.
    Track,
    /// CDN push, inject and relay requests: each may start decoders, an encoder, RTMP or
    /// QUIC connections on the server.
    Push,
}

impl Limited {
    /// Requests per second allowed, and how many may arrive at once.
    pub const fn limit(self) -> (u32, u32) {
        match self {
            Limited::Role => (2, 4),
            Limited::Moderate => (40, 80),
            Limited::Subscribe => (40, 80),
            Limited::Renew => (1, 2),
            Limited::Hint => (60, 120),
            Limited::Track => (5, 16),
            Limited::Push => (2, 5),
        }
    }

    const ALL: [Limited; 7] = [
        Limited::Role,
        Limited::Moderate,
        Limited::Subscribe,
        Limited::Renew,
        Limited::Hint,
        Limited::Track,
        Limited::Push,
    ];
}

/// One sender's buckets for the [`Limited`] request kinds.
#[derive(Clone, Debug)]
pub struct RequestRate {
    buckets: [Bucket; 7],
}

impl RequestRate {
    /// Full buckets at `now_ms`.
    pub fn new(now_ms: u64) -> Self {
        Self {
            buckets: Limited::ALL.map(|kind| {
                let (per_sec, burst) = kind.limit();
                Bucket::new(f64::from(per_sec), f64::from(burst), now_ms)
            }),
        }
    }

    /// Takes one request of `kind` if its limit allows it now.
    pub fn try_take(&mut self, kind: Limited, now_ms: u64) -> bool {
        let bucket = &mut self.buckets[kind as usize];
        bucket.refill(now_ms);
        if bucket.level < 1.0 {
            return false;
        }
        bucket.level -= 1.0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::{CONTROL_FRAME_BURST, CONTROL_FRAMES_PER_SEC, FramePace, Limited, RequestRate};

    #[test]
    fn a_flood_of_control_frames_waits_at_the_pace() {
        let mut pace = FramePace::new(0);
        for _ in 0..CONTROL_FRAME_BURST {
            assert_eq!(pace.take(0), 0, "the burst passes at once");
        }
        // Every frame beyond it waits its turn: a second's worth waits a second.
        let mut waited = 0;
        for _ in 0..CONTROL_FRAMES_PER_SEC {
            waited = pace.take(0);
        }
        assert_eq!(waited, 1_000);
        // Once the debt is paid in time, frames at the pace pass at once again.
        let mut now = 1_000;
        assert_eq!(pace.take(now), 1);
        for _ in 0..100 {
            now += 2;
            assert_eq!(pace.take(now), 0);
        }
    }

    #[test]
    fn a_kind_allows_its_burst_then_its_rate() {
        let mut rate = RequestRate::new(0);
        let (per_sec, burst) = Limited::Role.limit();
        let passed = (0..100).filter(|_| rate.try_take(Limited::Role, 0)).count();
        assert_eq!(passed, burst as usize);
        let later = (0..100)
            .filter(|_| rate.try_take(Limited::Role, 1000))
            .count();
        assert_eq!(later, per_sec as usize);
        assert!(
            rate.try_take(Limited::Moderate, 1000),
            "kinds do not share a bucket"
        );
    }
}
