//! The voice side of a [`Publisher`](super::Publisher): a tone, the capture device (with its
//! null fallback) or samples the app pushes, encoded with Opus on a thread of its own and sent
//! as the microphone track: generated and captured voice paced by the wall clock, pushed voice
//! as it arrives, protection (DRED, a bitrate floor) tuned to the uplink's loss.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use livestage_media::audio::{self, MixTap, processing};
use livestage_proto::track::{Source, Track};

use super::INITIAL_LOSS;
use super::chain::{Chain, VoiceControls};
use super::video::sleep_until;
use crate::engine::{Engine, now_us};
use crate::playout::EchoReference;

/// Where voice comes from.
pub enum AudioSource {
    /// A sine tone of this frequency (Hz).
    Tone(f32),
    /// The default capture device (silence from the null device when there is none).
    Capture,
    /// Samples the app pushes through the [`AudioSender`] paired with this source (a game
    /// engine's microphone); each 20 ms frame is encoded when it arrives.
    Custom(CustomAudio),
}

/// Voice to publish: where it comes from and what happens to it on the way (the hooks and the
/// voice changer through [`controls`](Self::controls), the client's music and effects
/// through [`mix`](Self::mix)).
pub struct Audio {
    /// Where it comes from.
    pub source: AudioSource,
    /// The live handle on the chain; keep a clone to change it while publishing.
    pub controls: VoiceControls,
    /// The publish side of the client's [`LocalMix`](audio::LocalMix), mixed in after the
    /// voice changer (48 kHz voice only).
    pub mix: Option<MixTap>,
    /// Echo cancellation, noise suppression and gain unless the app chose otherwise through
    /// [`controls`](Self::controls): all on for [`AudioSource::Capture`], off for tones and
    /// pushed voice (a game engine's microphone is usually processed already).
    pub processing: processing::Settings,
    /// The track it is published as (a microphone by default); a track of music or an
    /// injected stream is encoded at the music bitrate throughout.
    pub track: Track,
    /// What the playout plays, for the echo canceller ([`Playout::echo_reference`]).
    ///
    /// [`Playout::echo_reference`]: crate::playout::Playout::echo_reference
    pub echo: Option<EchoReference>,
}

impl Audio {
    /// `source` with an untouched chain and no music.
    pub fn new(source: AudioSource) -> Self {
        let processing = match source {
            AudioSource::Capture => processing::Settings::default(),
            _ => processing::Settings::OFF,
        };
        Self {
            source,
            controls: VoiceControls::default(),
            mix: None,
            processing,
            track: Track::microphone(),
            echo: None,
        }
    }
}

impl From<AudioSource> for Audio {
    fn from(source: AudioSource) -> Self {
        Self::new(source)
    }
}

/// Opus bitrate of plain voice.
const VOICE_BPS: u32 = 32_000;
/// Opus bitrate while music or effects are mixed in: music needs more than speech.
const MUSIC_BPS: u32 = 64_000;

/// Pushed 20 ms frames waiting for the encoder at most (200 ms); beyond it the oldest go.
pub const CUSTOM_AUDIO_FRAMES: usize = 10;

/// The encoding end of pushed voice, given to [`AudioSource::Custom`].
pub struct CustomAudio {
    format: audio::Format,
    frames: Receiver<Vec<f32>>,
}

/// The app's end of pushed voice: interleaved samples of any length go in, whole 20 ms frames
/// come out at the encoder through a queue of [`CUSTOM_AUDIO_FRAMES`] that drops the oldest
/// frame when full. Pushing never blocks (it may allocate, so not from an audio callback).
pub struct AudioSender {
    format: audio::Format,
    pending: Vec<f32>,
    frames: Sender<Vec<f32>>,
    /// Used to drop the oldest frame when the queue is full.
    evict: Receiver<Vec<f32>>,
}

impl CustomAudio {
    /// A source of voice in `format` (16, 24 or 48 kHz, mono or stereo; stereo is mixed down
    /// to mono before encoding) and the sender the app pushes into.
    ///
    /// # Errors
    ///
    /// If `format` is not one [`audio::Format::new`] accepts.
    pub fn new(format: audio::Format) -> anyhow::Result<(Self, AudioSender)> {
        format.validate()?;
        let (tx, rx) = crossbeam_channel::bounded(CUSTOM_AUDIO_FRAMES);
        let sender = AudioSender {
            format,
            pending: Vec::with_capacity(format.frame_len()),
            frames: tx,
            evict: rx.clone(),
        };
        Ok((Self { format, frames: rx }, sender))
    }

    /// The format pushed.
    pub fn format(&self) -> audio::Format {
        self.format
    }
}

impl AudioSender {
    /// The format to push.
    pub fn format(&self) -> audio::Format {
        self.format
    }

    /// Appends interleaved samples; every 20 ms frame they complete is queued for the encoder.
    pub fn push(&mut self, mut samples: &[f32]) {
        let frame_len = self.format.frame_len();
        while !samples.is_empty() {
            let n = (frame_len - self.pending.len()).min(samples.len());
            self.pending.extend_from_slice(&samples[..n]);
            samples = &samples[n..];
            if self.pending.len() == frame_len {
                let frame = std::mem::replace(&mut self.pending, Vec::with_capacity(frame_len));
                self.offer(frame);
            }
        }
    }

    fn offer(&self, mut frame: Vec<f32>) {
        // Two tries: if the queue is full, the oldest frame makes room for this one.
        for _ in 0..2 {
            match self.frames.try_send(frame) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(back)) => {
                    frame = back;
                    drop(self.evict.try_recv());
                }
            }
        }
    }
}

/// What the voice thread shares with its [`Publisher`](super::Publisher).
pub(super) struct Shared {
    pub stop: Arc<AtomicBool>,
    /// The uplink's loss, which sets the encoder's protection.
    pub loss: Arc<AtomicU8>,
    /// Frames sent.
    pub count: Arc<AtomicU64>,
}

/// Starts the voice thread; it stops when `shared.stop` is set.
pub(super) fn spawn(
    engine: Arc<Engine>,
    channel: &str,
    voice: Audio,
    stream: u32,
    shared: Shared,
) -> anyhow::Result<std::thread::JoinHandle<anyhow::Result<()>>> {
    let mut format = audio::Format::MONO_48K;
    // The capture device is opened on the thread: opening one can take longer than a game
    // frame.
    let ready = match voice.source {
        AudioSource::Tone(hz) => Some(Input::Tone(audio::Tone::new(format, hz, 0.5)?)),
        AudioSource::Capture => None,
        AudioSource::Custom(custom) => {
            // Opus encodes the app's rate as it is; stereo is mixed down to mono.
            format = audio::Format::new(custom.format.sample_rate, 1)?;
            Some(Input::Custom(custom))
        }
    };
    let track = voice.track.id;
    // Music and injected streams are not speech: they keep the music bitrate.
    let floor = if matches!(voice.track.source, Source::Music | Source::Inject) {
        MUSIC_BPS
    } else {
        VOICE_BPS
    };
    let mut encoder = audio::Encoder::new(format, floor)?;
    let mut chain = Chain::new(
        voice.controls,
        format,
        channel,
        voice.mix,
        voice.processing,
        voice.echo,
    );
    // Frames since music or effects last sounded; the bitrate drops back after a second.
    let mut since_music = u32::MAX;
    // Start with some protection until the path's loss is first measured.
    encoder.set_expected_loss(INITIAL_LOSS)?;
    let channel = channel.to_owned();
    let thread = std::thread::Builder::new()
        .name("livestage-voice-out".into())
        .spawn(move || {
            let mut input = match ready {
                Some(input) => input,
                None => Input::Capture(Box::new(audio::Capture::open(format)?)),
            };
            let start = Instant::now();
            let mut seq = 0u32;
            while !shared.stop.load(Ordering::Relaxed) {
                let reported = shared.loss.load(Ordering::Relaxed);
                if reported != encoder.expected_loss() {
                    encoder.set_expected_loss(reported)?;
                }
                let mut frame = input.next();
                if let Some(frame) = &mut frame {
                    let music = chain.process(frame);
                    since_music = if music {
                        0
                    } else {
                        since_music.saturating_add(1)
                    };
                    let bps = if since_music < 50 { MUSIC_BPS } else { floor };
                    if encoder.bitrate() != bps {
                        encoder.set_bitrate(bps)?;
                    }
                    let packet = encoder.encode(frame)?;
                    engine.send_audio(&channel, track, stream, seq, now_us(), &packet);
                    shared.count.fetch_add(1, Ordering::Relaxed);
                }
                if input.is_pushed() {
                    // The app's pace: only frames that arrived take a sequence number.
                    seq = seq.wrapping_add(u32::from(frame.is_some()));
                } else {
                    // The wall clock's pace: a tick without a frame is a gap receivers
                    // conceal.
                    seq = seq.wrapping_add(1);
                    sleep_until(start + Duration::from_millis(20) * seq);
                }
            }
            Ok(())
        })?;
    Ok(thread)
}

/// A voice source.
enum Input {
    Tone(audio::Tone),
    Capture(Box<audio::Capture>),
    Custom(CustomAudio),
}

/// How long the encoding thread waits for pushed voice before checking whether to stop.
const PUSH_WAIT: Duration = Duration::from_millis(100);

impl Input {
    /// The next mono frame: generated, captured if one is waiting, or pushed (waiting up to
    /// [`PUSH_WAIT`] for it).
    fn next(&mut self) -> Option<Vec<f32>> {
        match self {
            Input::Tone(t) => Some(t.next_frame()),
            Input::Capture(c) => c.reader().read().map(<[f32]>::to_vec),
            Input::Custom(c) => {
                let frame = c.frames.recv_timeout(PUSH_WAIT).ok()?;
                Some(match c.format.channels {
                    1 => frame,
                    n => audio::format::to_mono(&frame, n),
                })
            }
        }
    }

    /// Whether frames come at the app's pace rather than the wall clock's.
    fn is_pushed(&self) -> bool {
        matches!(self, Input::Custom(_))
    }
}
