//! The audio error type: every way bad input is refused.

/// Result alias for the audio module.
pub type Result<T> = std::result::Result<T, Error>;

/// Bad input to an audio component. Each message says what was expected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The sample rate or channel count is not one Opus supports here.
    #[error(
        "unsupported audio format {sample_rate} Hz x {channels} channel(s); \
         use 16000, 24000 or 48000 Hz with 1 or 2 channels"
    )]
    Format {
        /// The requested sample rate.
        sample_rate: u32,
        /// The requested channel count.
        channels: u16,
    },
    /// A frame did not hold exactly one 20 ms frame of interleaved samples.
    #[error("expected one 20 ms frame of {expected} interleaved samples, got {actual}")]
    FrameLength {
        /// Interleaved samples in one frame of the format.
        expected: usize,
        /// Samples actually given.
        actual: usize,
    },
    /// A sample was NaN or infinite.
    #[error("sample {index} is not a finite number")]
    NonFinite {
        /// Index of the first bad sample.
        index: usize,
    },
    /// A bitrate outside the supported range.
    #[error("bitrate {0} bps is out of range; use 6000..=256000")]
    Bitrate(u32),
    /// An expected-loss percentage above 100.
    #[error("expected loss {0}% is out of range; use 0..=100")]
    Loss(u8),
    /// A volume that is not a number in `0.0..=2.0`.
    #[error("volume {0} is out of range; use 0.0..=2.0")]
    Volume(f32),
    /// A tone parameter out of range.
    #[error("tone {what} {value} is out of range; {expected}")]
    Tone {
        /// Which parameter.
        what: &'static str,
        /// The value given.
        value: f32,
        /// The accepted range.
        expected: &'static str,
    },
    /// An empty packet (a lost packet is signalled with `conceal`, not with an empty packet).
    #[error("empty audio packet; call conceal() for a lost frame")]
    EmptyPacket,
    /// A packet larger than any 20 ms Opus packet.
    #[error("audio packet of {0} bytes is larger than the {max} byte limit", max = super::codec::MAX_PACKET_BYTES)]
    PacketSize(usize),
    /// A packet that does not hold exactly one 20 ms frame.
    #[error(
        "audio packet holds {actual} samples per channel, expected one 20 ms frame of {expected}"
    )]
    PacketDuration {
        /// Samples per channel in a 20 ms frame.
        expected: usize,
        /// Samples per channel in the packet.
        actual: usize,
    },
    /// The thread that runs an audio device could not be started.
    #[error("could not start the audio device thread: {0}")]
    Thread(#[source] std::io::Error),
    /// libopus refused the input (for a packet: it is corrupt).
    #[error("opus {op} failed: {}", code.message())]
    Opus {
        /// What was being done.
        op: &'static str,
        /// The libopus error.
        code: opusic_c::ErrorCode,
    },
}

impl Error {
    /// Wraps a libopus error with what was being done.
    pub(crate) fn opus(op: &'static str) -> impl FnOnce(opusic_c::ErrorCode) -> Error {
        move |code| Error::Opus { op, code }
    }
}
