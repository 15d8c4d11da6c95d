//! Livestage media: everything between a source and the wire, with no networking and no Bevy.
//!
//! - [`video`]: I420 frames, RGBA <-> I420 conversion, the H.264 encoder and decoder
//!   (openh264), the stamped test pattern, and the sources: app-pushed, screen capture and video
//!   files (MP4, MKV).
//! - [`audio`]: Opus encoding and decoding, the tone source, the jitter buffer with loss
//!   concealment, the mixer, levels and speaking detection, and cpal devices with a null
//!   fallback.

pub mod audio;
pub mod panic;
pub mod video;
