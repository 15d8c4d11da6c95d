//! Token buckets for the data message limits (messages per second and bytes per second).

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
