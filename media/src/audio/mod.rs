//! Audio: 20 ms frames of interleaved `f32` samples from source to wire and back.
//!
//! - [`aac`]: the AAC-LC [`aac::Encoder`] for RTMP/FLV output (CDN push).
//! - [`format`](mod@format): the [`Format`] (16, 24 or 48 kHz, mono or stereo) and the 20 ms frame.
//! - [`codec`]: the Opus [`Encoder`] (loss-adaptive [`Protection`]: DRED, a bitrate floor,
//!   FEC where DRED does not fit) and [`Decoder`] (decode, recovery from a later packet's FEC
//!   or DRED, concealment).
//! - [`tone`]: the [`Tone`] test source and [`dominant_frequency`] to check what arrived.
//! - [`jitter`]: the sans-IO [`JitterBuffer`], which says for each 20 ms [`Slot`] whether to
//!   decode, recover or conceal, with a delay that grows with loss.
//! - [`remote`]: a [`RemoteVoice`], the jitter buffer and decoder of one remote stream, as
//!   every front end plays it.
//! - [`mixer`]: the [`Mixer`] of several remote users with per-user volume and soft clipping.
//! - [`level`]: frame [`Level`]s and the [`SpeakingDetector`].
//! - [`music`], [`effects`] and [`local_mix`]: music (file or URL, decoded ahead) and sound
//!   effects this client plays, pulled into what it publishes and what it hears through
//!   [`MixTap`]s of one [`LocalMix`].
//! - [`voice_changer`]: presets that disguise a voice, as a hook.
//! - [`hooks`]: app code on the path ([`AudioHook`]s at four [`HookPoint`]s).
//! - [`device`]: cpal [`Playback`] and [`Capture`] with a null fallback, fed through the
//!   lock-free frame queues of [`queue`].
//!
//! The receive path for one remote user, driven every 20 ms by the playout side:
//!
//! ```
//! use livestage_media::audio::{Decoder, Encoder, Format, JitterBuffer, Level, Slot, Tone};
//!
//! let format = Format::new(48_000, 1)?;
//! let mut tone = Tone::new(format, 440.0, 0.5)?;
//! let mut encoder = Encoder::new(format, 32_000)?;
//! encoder.set_expected_loss(5)?; // measured on the path; turns FEC on
//! let mut decoder = Decoder::new(format)?;
//! let mut jitter = JitterBuffer::new(40);
//!
//! for seq in 0..10u32 {
//!     let now_ms = u64::from(seq) * 20;
//!     let packet = encoder.encode(&tone.next_frame())?;
//!     if seq != 5 {
//!         jitter.push(seq, packet, now_ms); // packet 5 is lost on the way
//!     }
//!     let frame = match jitter.pop(now_ms) {
//!         None => continue, // still buffering: play silence
//!         Some(Slot::Packet(packet)) => decoder.decode(&packet)?,
//!         Some(Slot::Recover { later, distance }) => decoder.recover(&later, distance)?.0,
//!         Some(Slot::Missing | Slot::Stretch) => decoder.conceal()?,
//!     };
//!     assert!(Level::measure(&frame).dbfs > -30.0);
//! }
//! assert_eq!(jitter.stats().recovered, 1);
//! # Ok::<(), livestage_media::audio::Error>(())
//! ```

pub mod aac;
pub mod codec;
pub mod device;
pub mod effects;
pub mod error;
pub mod format;
pub mod hooks;
pub mod jitter;
pub mod level;
pub mod local_mix;
pub mod mixer;
pub mod music;
pub mod processing;
pub mod queue;
pub mod remote;
pub mod spectrum;
pub mod tone;
pub mod voice_changer;

pub use codec::{Decoder, Encoder, Protection, Recovery};
pub use device::{Backend, Capture, Playback};
pub use error::{Error, Result};
pub use format::{FRAME_MS, Format};
pub use hooks::{AudioHook, HookFormat, HookInfo, HookPoint, HookRunner};
pub use jitter::{JitterBuffer, Slot};
pub use level::{Level, SpeakingDetector};
pub use local_mix::{LocalMix, MixEvent, MixTap};
pub use mixer::Mixer;
pub use queue::{Reader, Writer};
pub use remote::RemoteVoice;
pub use tone::{Tone, dominant_frequency};
pub use voice_changer::{VoiceChanger, VoicePreset};
