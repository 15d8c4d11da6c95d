//! Publishing local media through an [`Engine`]: a video source (the stamped test pattern, or
//! frames the app pushes from any thread) and an audio source (a tone, the capture device
//! with its null fallback, or samples the app pushes through an [`AudioSender`]) are encoded
//! on their own threads and sent: generated and captured media paced by the wall clock, pushed
//! voice as it arrives. Keyframe requests and loss reports from subscribers are applied with
//! [`Publisher::handle`].
//!
//! Each start is a new publication with its own [`stream`](Publisher::stream) id, and its frame
//! and audio counters start at 0: receivers recognise it as a new stream, so unpublishing and
//! publishing again (or restarting the app) does not look like a stream gone backwards.
//!
//! ```no_run
//! # use std::sync::Arc;
//! use livestage_net::Engine;
//! use livestage_net::publish::{AudioSource, Publisher, Video, VideoSource};
//!
//! let engine = Arc::new(Engine::new()?);
//! let video = Video::new(VideoSource::TestPattern { width: 1280, height: 720, textured: false }, 30.0);
//! let publisher = Publisher::start(engine.clone(), "lobby", Some(video), Some(AudioSource::Tone(440.0)))?;
//! while let Ok(event) = engine.events().recv() {
//!     publisher.handle(&event.kind);
//! }
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::bail;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use livestage_media::audio;
use livestage_media::video::{self, CustomSource, TestPattern};
use livestage_proto::media::{Layer, VideoHeader};
use livestage_proto::wire;

use crate::engine::{Engine, EventKind, now_us};

/// Where video frames come from.
pub enum VideoSource {
    /// The stamped test pattern (frame number and capture time readable after decoding).
    TestPattern {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Add changing texture so the encoder spends its whole bitrate.
        textured: bool,
    },
    /// Frames the app pushes through the [`video::CustomSender`] paired with this source
    /// (up to 3840x2160); the newest frame is encoded at each tick.
    Custom(CustomSource),
}

/// Video publishing settings.
pub struct Video {
    /// The source.
    pub source: VideoSource,
    /// Frames per second (1 to 60).
    pub fps: f32,
    /// Bitrate; by default about 1.5 Mbps at 720p30, scaled by pixels per second.
    pub bitrate_bps: Option<u32>,
    /// Also send a low layer of a quarter of the area (test pattern only).
    pub dual: bool,
}

impl Video {
    /// One layer of `source` at `fps` with the default bitrate.
    pub fn new(source: VideoSource, fps: f32) -> Self {
        Self {
            source,
            fps,
            bitrate_bps: None,
            dual: false,
        }
    }
}

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

/// A bitrate that suits the frame size (about 1.5 Mbps at 720p30).
fn bitrate_for(width: u32, height: u32, fps: f32) -> u32 {
    let pixels_per_sec = f64::from(width * height) * f64::from(fps);
    (pixels_per_sec * 0.055).clamp(100_000.0, 8_000_000.0) as u32
}

/// FEC protection before any subscriber reported its loss.
const INITIAL_LOSS: u8 = 10;

/// Running publishers; stop them by dropping.
pub struct Publisher {
    /// This publication's stream id, in every header it sends.
    stream: u32,
    stop: Arc<AtomicBool>,
    keyframe: Arc<[AtomicBool; 2]>,
    /// The audio loss subscribers report, which sets the encoder's FEC.
    loss: Arc<AtomicU8>,
    threads: Vec<JoinHandle<anyhow::Result<()>>>,
    /// Video frames sent (both layers).
    pub video_frames: Arc<AtomicU64>,
    /// Audio frames sent.
    pub audio_frames: Arc<AtomicU64>,
}

impl Publisher {
    /// Starts publishing in `channel`; each source runs on its own thread.
    pub fn start(
        engine: Arc<Engine>,
        channel: &str,
        video: Option<Video>,
        audio_source: Option<AudioSource>,
    ) -> anyhow::Result<Self> {
        // Random rather than counted, so that a restarted app does not reuse the id of the
        // publication it replaces.
        let stream = rand::random::<u32>();
        let stop = Arc::new(AtomicBool::new(false));
        let keyframe = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
        let loss = Arc::new(AtomicU8::new(INITIAL_LOSS));
        let (video_frames, audio_frames) =
            (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let mut threads = Vec::new();
        if let Some(video) = video {
            for (layer, mut frames) in layers(video.source, video.dual)? {
                let (w, h) = frames.size();
                let fps = video.fps;
                let bitrate = video.bitrate_bps.unwrap_or_else(|| bitrate_for(w, h, fps));
                let config = if w > video::encode::MAX_WIDTH || h > video::encode::MAX_HEIGHT {
                    video::encode::Config::custom(w, h, fps, bitrate)?
                } else {
                    video::encode::Config::new(w, h, fps, bitrate)?
                };
                let mut encoder = video::Encoder::new(config)?;
                let (engine, channel, stop, keyframe, count) = (
                    engine.clone(),
                    channel.to_owned(),
                    stop.clone(),
                    keyframe.clone(),
                    video_frames.clone(),
                );
                threads.push(std::thread::spawn(move || {
                    let period = Duration::from_secs_f32(1.0 / fps);
                    let start = Instant::now();
                    let mut sent = 0u64;
                    for n in 0u64.. {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        if keyframe[layer as usize].swap(false, Ordering::Relaxed) {
                            encoder.request_keyframe();
                        }
                        if let Some((frame, capture_us)) = frames.next(n)
                            && let Some(encoded) = encoder.encode(&frame, capture_us)?
                        {
                            // Wire frame numbers count frames sent, with no gaps when the
                            // encoder's rate control skips one (the receiver's reordering
                            // would otherwise wait for a frame that never comes).
                            let header = VideoHeader {
                                media_id: 0,
                                layer,
                                stream,
                                frame: sent,
                                keyframe: encoded.keyframe,
                                capture_us,
                            };
                            engine.send_video(&channel, header, encoded.data);
                            sent += 1;
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                        sleep_until(start + period * (n as u32 + 1));
                    }
                    Ok(())
                }));
            }
        }
        if let Some(source) = audio_source {
            let mut format = audio::Format::MONO_48K;
            let mut input = match source {
                AudioSource::Tone(hz) => Input::Tone(audio::Tone::new(format, hz, 0.5)?),
                AudioSource::Capture => Input::Capture(Box::new(audio::Capture::open(format)?)),
                AudioSource::Custom(custom) => {
                    // Opus encodes the app's rate as it is; stereo is mixed down to mono.
                    format = audio::Format::new(custom.format.sample_rate, 1)?;
                    Input::Custom(custom)
                }
            };
            let mut encoder = audio::Encoder::new(format, 32_000)?;
            // Start with some protection until the first loss report arrives.
            encoder.set_expected_loss(INITIAL_LOSS)?;
            let (engine, channel, stop, count, loss) = (
                engine.clone(),
                channel.to_owned(),
                stop.clone(),
                audio_frames.clone(),
                loss.clone(),
            );
            threads.push(std::thread::spawn(move || {
                let start = Instant::now();
                let mut seq = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let reported = loss.load(Ordering::Relaxed);
                    if reported != encoder.expected_loss() {
                        encoder.set_expected_loss(reported)?;
                    }
                    let frame = input.next();
                    if let Some(frame) = &frame {
                        let packet = encoder.encode(frame)?;
                        engine.send_audio(&channel, stream, seq, now_us(), &packet);
                        count.fetch_add(1, Ordering::Relaxed);
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
            }));
        }
        Ok(Self {
            stream,
            stop,
            keyframe,
            loss,
            threads,
            video_frames,
            audio_frames,
        })
    }

    /// This publication's stream id (see [`VideoHeader::stream`]).
    pub fn stream(&self) -> u32 {
        self.stream
    }

    /// Applies what the server asks of a publisher: keyframes and FEC tuned to reported loss.
    pub fn handle(&self, event: &EventKind) {
        match event {
            EventKind::Server(wire::Event::KeyframeRequest { layer }) => {
                self.request_keyframe(*layer)
            }
            EventKind::Server(wire::Event::AudioLoss { percent }) => {
                self.set_expected_loss(*percent)
            }
            _ => {}
        }
    }

    /// Subscribers report `percent` audio loss: tune forward error correction to it.
    pub fn set_expected_loss(&self, percent: u8) {
        self.loss.store(percent.min(100), Ordering::Relaxed);
    }

    /// A subscriber asked for a keyframe of `layer`.
    pub fn request_keyframe(&self, layer: Layer) {
        self.keyframe[layer as usize].store(true, Ordering::Relaxed);
    }

    /// Stops publishing and reports the first error a thread met.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        for t in std::mem::take(&mut self.threads) {
            t.join()
                .map_err(|_| anyhow::anyhow!("a media thread panicked"))??;
        }
        Ok(())
    }
}

impl Drop for Publisher {
    /// Stops the media threads (what [`Publisher::stop`] does, without the report).
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn sleep_until(when: Instant) {
    let now = Instant::now();
    if when > now {
        std::thread::sleep(when - now);
    }
}

/// A video layer's frames.
enum Frames {
    Pattern(TestPattern),
    Custom(CustomSource),
}

impl Frames {
    fn size(&self) -> (u32, u32) {
        match self {
            Frames::Pattern(p) => p.size(),
            Frames::Custom(c) => c.size(),
        }
    }

    /// The frame for tick `n` and its capture time (none when the app pushed nothing yet).
    fn next(&mut self, n: u64) -> Option<(video::I420, u64)> {
        match self {
            Frames::Pattern(p) => {
                let capture_us = now_us();
                Some((p.frame(n, capture_us), capture_us))
            }
            Frames::Custom(c) => c.latest(),
        }
    }
}

/// The layers to encode: the source itself, plus a quarter-area test pattern when `dual`.
fn layers(source: VideoSource, dual: bool) -> anyhow::Result<Vec<(Layer, Frames)>> {
    Ok(match source {
        VideoSource::TestPattern {
            width,
            height,
            textured,
        } => {
            let mut layers = vec![(
                Layer::High,
                Frames::Pattern(TestPattern::new(width, height)?.with_texture(textured)),
            )];
            if dual {
                let (w, h) = ((width / 4) * 2, (height / 4) * 2);
                layers.push((
                    Layer::Low,
                    Frames::Pattern(TestPattern::new(w, h)?.with_texture(textured)),
                ));
            }
            layers
        }
        VideoSource::Custom(_) if dual => {
            bail!("a low layer needs a scaler; custom sources publish one layer")
        }
        VideoSource::Custom(source) => vec![(Layer::High, Frames::Custom(source))],
    })
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
