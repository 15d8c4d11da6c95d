//! What a front end shows and plays: decodes the [`Engine`]'s encoded media into the newest
//! picture per publisher, and runs remote voice through a jitter buffer, loss recovery,
//! per-user volume and the mixer into a playback device (the null device when there is none),
//! or hands each mixed frame to the caller ([`Config::voice`]) when the caller plays it itself.
//!
//! Two threads: one decodes video (and hands audio packets over), one is the 20 ms audio clock.
//! Neither is the device callback, which only reads a lock-free queue.
//!
//! A publisher that publishes again starts a new stream ([`Streams`]): its decoder, jitter
//! buffer and [`Stats`] start afresh, and stragglers of the stream it replaced are dropped.
//!
//! ```no_run
//! # use std::sync::Arc;
//! use livestage_net::{Engine, playout::{Config, Playout}};
//!
//! let engine = Arc::new(Engine::new()?);
//! let playout = Playout::start(engine.clone(), Config::default())?;
//! // each game frame:
//! if let Some(frame) = playout.latest_video("lobby", 7) {
//!     println!("{}x{} frame {}", frame.picture.width(), frame.picture.height(), frame.frame);
//! }
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use livestage_media::audio::{self, JitterBuffer, Level, Mixer, Playback, Slot, SpeakingDetector};
use livestage_media::video::{self, I420};
use livestage_proto::media::{Layer, Stream, Streams};

use crate::engine::{Engine, MediaEvent, MediaKind, now_us};

/// Playout settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// The voice format (publishers send 48 kHz mono by default).
    pub format: audio::Format,
    /// Jitter buffer delay.
    pub jitter_ms: u64,
    /// Open the system's output device (falls back to the null device when there is none);
    /// `false` always uses the null device (servers, tests, bots).
    pub device: bool,
    /// Hand the mixed voice to the caller instead of a device: every 20 ms one interleaved
    /// frame in [`format`](Self::format) is offered here (and dropped when the channel is
    /// full), and no device is opened, whatever [`device`](Self::device) says. For hosts that
    /// own their audio output, such as a game engine's audio callback.
    pub voice: Option<Sender<Vec<f32>>>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            format: audio::Format::MONO_48K,
            jitter_ms: 60,
            device: true,
            voice: None,
        }
    }
}

/// The newest decoded picture of one publisher.
#[derive(Clone, Debug)]
pub struct VideoFrame {
    /// The publisher's media id.
    pub media_id: u64,
    /// Which layer.
    pub layer: Layer,
    /// The publication it belongs to.
    pub stream: u32,
    /// The publisher's frame number (from 0 in each stream).
    pub frame: u64,
    /// Capture time, microseconds since the Unix epoch.
    pub capture_us: u64,
    /// When it was decoded, same clock.
    pub decoded_us: u64,
    /// The picture.
    pub picture: Arc<I420>,
}

/// What changed in playout.
#[derive(Clone, Debug, PartialEq)]
pub enum PlayoutEvent {
    /// A remote user started or stopped speaking.
    Speaking {
        /// The channel.
        channel: String,
        /// The publisher.
        media_id: u64,
        /// Speaking now.
        speaking: bool,
    },
}

/// Per-publisher counters of its current publication: the video counters start again when a
/// new video stream arrives, the audio counters when a new audio stream does.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// The video stream counted, once one arrived.
    pub video_stream: Option<u32>,
    /// The audio stream counted, once one arrived.
    pub audio_stream: Option<u32>,
    /// Video frames decoded.
    pub video_frames: u64,
    /// Video frames the decoder refused (a keyframe was requested).
    pub video_errors: u64,
    /// Encoded video bytes of the decoded frames.
    pub video_bytes: u64,
    /// Audio frames played from packets.
    pub audio_played: u64,
    /// Audio frames recovered from the next packet's FEC.
    pub audio_recovered: u64,
    /// Audio frames concealed.
    pub audio_concealed: u64,
    /// Latest audio level.
    pub level_dbfs: f32,
}

impl Stats {
    /// Starts counting video `stream` (from zero unless it is the one counted already).
    fn count_video(&mut self, stream: u32) {
        if self.video_stream != Some(stream) {
            self.video_stream = Some(stream);
            self.video_frames = 0;
            self.video_errors = 0;
            self.video_bytes = 0;
        }
    }

    /// Starts counting audio `stream` (from zero unless it is the one counted already).
    fn count_audio(&mut self, stream: u32) {
        if self.audio_stream != Some(stream) {
            self.audio_stream = Some(stream);
            self.audio_played = 0;
            self.audio_recovered = 0;
            self.audio_concealed = 0;
        }
    }
}

type Key = (String, u64);

#[derive(Default)]
struct Shared {
    video: HashMap<Key, Arc<VideoFrame>>,
    stats: HashMap<Key, Stats>,
    volume: HashMap<u64, f32>,
    placement: HashMap<u64, Placement>,
}

/// Where a voice sits relative to the listener: a gain for each ear of a stereo output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    /// Left gain (0.0 to 1.0).
    pub left: f32,
    /// Right gain (0.0 to 1.0).
    pub right: f32,
}

impl Placement {
    /// A voice at `pan` (-1.0 hard left, 0.0 centre, 1.0 hard right) attenuated to `gain`
    /// (0.0 to 1.0). Balance law: the centre keeps full level in both ears, and one ear fades
    /// out as the voice moves to the other side.
    pub fn new(pan: f32, gain: f32) -> Self {
        let (pan, gain) = (pan.clamp(-1.0, 1.0), gain.clamp(0.0, 1.0));
        Self {
            left: gain * (1.0 - pan).min(1.0),
            right: gain * (1.0 + pan).min(1.0),
        }
    }

    /// Scales an interleaved frame: per ear in stereo, by the louder ear in mono.
    fn apply(self, frame: &mut [f32], channels: u16) {
        if channels == 2 {
            for pair in frame.chunks_exact_mut(2) {
                pair[0] *= self.left;
                pair[1] *= self.right;
            }
        } else {
            let gain = self.left.max(self.right);
            frame.iter_mut().for_each(|x| *x *= gain);
        }
    }
}

/// Decoding and voice playout for one engine; stops when dropped.
pub struct Playout {
    shared: Arc<Mutex<Shared>>,
    events: Receiver<PlayoutEvent>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    backend: audio::Backend,
}

impl Playout {
    /// Starts decoding the engine's media and playing remote voice.
    pub fn start(engine: Arc<Engine>, config: Config) -> anyhow::Result<Self> {
        let playback = match (&config.voice, config.device) {
            (Some(_), _) => None,
            (None, true) => Some(Playback::open(config.format)?),
            (None, false) => Some(Playback::null(config.format)?),
        };
        let backend = playback.as_ref().map_or_else(
            || audio::Backend::Null("the caller plays the mixed voice".into()),
            |p| p.backend().clone(),
        );
        let shared = Arc::new(Mutex::new(Shared::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (events_tx, events) = crossbeam_channel::unbounded();
        let (audio_tx, audio_rx) = crossbeam_channel::bounded(1024);
        let video = {
            let (shared, stop, engine) = (shared.clone(), stop.clone(), engine.clone());
            std::thread::Builder::new()
                .name("livestage-video".into())
                .spawn(move || decode_video(&engine, &shared, &stop, &audio_tx))?
        };
        let voice = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::Builder::new()
                .name("livestage-voice".into())
                .spawn(move || {
                    play_voice(
                        config, playback, &audio_rx, &shared, &stop, &events_tx, &engine,
                    )
                })?
        };
        Ok(Self {
            shared,
            events,
            stop,
            threads: vec![video, voice],
            backend,
        })
    }

    /// The newest decoded picture of a publisher in a channel.
    pub fn latest_video(&self, channel: &str, media_id: u64) -> Option<Arc<VideoFrame>> {
        self.lock()
            .video
            .get(&(channel.to_owned(), media_id))
            .cloned()
    }

    /// Counters for a publisher in a channel.
    pub fn stats(&self, channel: &str, media_id: u64) -> Option<Stats> {
        self.lock()
            .stats
            .get(&(channel.to_owned(), media_id))
            .copied()
    }

    /// Sets a publisher's voice volume (0.0 to 2.0; 1.0 by default).
    pub fn set_volume(&self, media_id: u64, volume: f32) {
        self.lock().volume.insert(media_id, volume.clamp(0.0, 2.0));
    }

    /// Places a publisher's voice in the stereo field (proximity voice), or back in the centre
    /// at full level with `None`. With a mono [`Config::format`] only the gain applies.
    pub fn set_placement(&self, media_id: u64, placement: Option<Placement>) {
        let mut shared = self.lock();
        match placement {
            Some(p) => shared.placement.insert(media_id, p),
            None => shared.placement.remove(&media_id),
        };
    }

    /// Speaking changes.
    pub fn events(&self) -> &Receiver<PlayoutEvent> {
        &self.events
    }

    /// Which output device plays the voice (or why the null device does, or that the caller
    /// takes it).
    pub fn backend(&self) -> &audio::Backend {
        &self.backend
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        // Only plain maps are behind the lock; a panic elsewhere cannot leave them torn.
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Playout {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Least time between two keyframe requests for one publisher.
const KEYFRAME_RETRY: Duration = Duration::from_millis(250);

fn decode_video(
    engine: &Engine,
    shared: &Mutex<Shared>,
    stop: &AtomicBool,
    audio: &Sender<Voiced>,
) {
    let mut decoders: HashMap<(Key, Layer), Picture> = HashMap::new();
    while !stop.load(Ordering::Relaxed) {
        let Ok(MediaEvent {
            channel,
            media_id,
            kind,
        }) = engine.media().recv_timeout(Duration::from_millis(50))
        else {
            continue;
        };
        let key = (channel, media_id);
        match kind {
            MediaKind::Audio {
                stream,
                seq,
                payload,
                ..
            } => {
                let _ = audio.try_send(Voiced {
                    key,
                    stream,
                    seq,
                    payload: payload.to_vec(),
                });
            }
            MediaKind::Video { header, data } => {
                let slot = match decoders.entry((key.clone(), header.layer)) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => match video::Decoder::new() {
                        Ok(decoder) => e.insert(Picture {
                            streams: Streams::new(),
                            decoder,
                            asked: None,
                        }),
                        Err(_) => continue,
                    },
                };
                let first = slot.streams.current().is_none();
                match slot.streams.check(header.stream) {
                    Stream::Current => {}
                    Stream::Ended => continue,
                    Stream::New => {
                        // A new publication: its keyframe starts a fresh decoder and counters.
                        if !first {
                            match video::Decoder::new() {
                                Ok(decoder) => slot.decoder = decoder,
                                Err(_) => continue,
                            }
                            slot.asked = None;
                        }
                        let mut s = lock(shared);
                        s.stats
                            .entry(key.clone())
                            .or_default()
                            .count_video(header.stream);
                    }
                }
                match slot.decoder.decode(&data) {
                    Ok(Some(picture)) => {
                        let frame = VideoFrame {
                            media_id,
                            layer: header.layer,
                            stream: header.stream,
                            frame: header.frame,
                            capture_us: header.capture_us,
                            decoded_us: now_us(),
                            picture: Arc::new(picture),
                        };
                        let mut s = lock(shared);
                        let stats = s.stats.entry(key.clone()).or_default();
                        stats.video_frames += 1;
                        stats.video_bytes += data.len() as u64;
                        s.video.insert(key, Arc::new(frame));
                    }
                    Ok(None) => {}
                    Err(_) => {
                        lock(shared)
                            .stats
                            .entry(key.clone())
                            .or_default()
                            .video_errors += 1;
                        if slot.asked.is_none_or(|t| t.elapsed() >= KEYFRAME_RETRY) {
                            slot.asked = Some(Instant::now());
                            engine.request_keyframe(&key.0, media_id, header.layer);
                        }
                    }
                }
            }
        }
    }
}

/// One publisher layer's video decoding.
struct Picture {
    streams: Streams,
    decoder: video::Decoder,
    /// When a keyframe was last asked for.
    asked: Option<Instant>,
}

/// An audio packet on its way from the decoding thread to the audio clock.
struct Voiced {
    key: Key,
    stream: u32,
    seq: u32,
    payload: Vec<u8>,
}

struct Voice {
    streams: Streams,
    /// Frames counted and lost when loss was last reported (of the current stream).
    reported: (u64, u64),
    jitter: JitterBuffer,
    decoder: audio::Decoder,
    speaking: SpeakingDetector,
    frame: Vec<f32>,
}

impl Voice {
    fn new(config: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            streams: Streams::new(),
            reported: (0, 0),
            jitter: JitterBuffer::new(config.jitter_ms),
            decoder: audio::Decoder::new(config.format)?,
            speaking: SpeakingDetector::new(Default::default()),
            frame: Vec::new(),
        })
    }

    /// Takes in a packet of `stream`; a new stream starts the jitter buffer, decoder and
    /// loss reports afresh (its sequence numbers start again at 0), an ended one is dropped.
    fn push(&mut self, config: &Config, stream: u32, seq: u32, payload: Vec<u8>, now_ms: u64) {
        let first = self.streams.current().is_none();
        match self.streams.check(stream) {
            Stream::Current => {}
            Stream::Ended => return,
            Stream::New if first => {}
            Stream::New => {
                if let Ok(decoder) = audio::Decoder::new(config.format) {
                    self.decoder = decoder;
                }
                self.jitter = JitterBuffer::new(config.jitter_ms);
                self.reported = (0, 0);
            }
        }
        self.jitter.push(seq, payload, now_ms);
    }
}

fn play_voice(
    config: Config,
    mut playback: Option<Playback>,
    packets: &Receiver<Voiced>,
    shared: &Mutex<Shared>,
    stop: &AtomicBool,
    events: &Sender<PlayoutEvent>,
    engine: &Engine,
) {
    let Ok(mut mixer) = Mixer::new(config.format) else {
        return;
    };
    let mut voices: HashMap<Key, Voice> = HashMap::new();
    let start = Instant::now();
    let silence = vec![0.0f32; config.format.frame_len()];
    for tick in 1u32.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let now_ms = start.elapsed().as_millis() as u64;
        while let Ok(packet) = packets.try_recv() {
            let voice = match voices.entry(packet.key) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => match Voice::new(&config) {
                    Ok(voice) => e.insert(voice),
                    Err(_) => continue,
                },
            };
            voice.push(&config, packet.stream, packet.seq, packet.payload, now_ms);
        }
        let mut guard = lock(shared);
        // Through a plain reference, so stats and placement borrow as separate fields.
        let s = &mut *guard;
        for (key, voice) in &mut voices {
            let stats = s.stats.entry(key.clone()).or_default();
            if let Some(stream) = voice.streams.current() {
                stats.count_audio(stream);
            }
            let decoded = match voice.jitter.pop(now_ms) {
                None => None,
                Some(Slot::Packet(p)) => voice
                    .decoder
                    .decode(&p)
                    .ok()
                    .inspect(|_| stats.audio_played += 1),
                Some(Slot::Recover { next }) => voice
                    .decoder
                    .decode_fec(&next)
                    .ok()
                    .inspect(|_| stats.audio_recovered += 1),
                Some(Slot::Missing) => voice
                    .decoder
                    .conceal()
                    .ok()
                    .inspect(|_| stats.audio_concealed += 1),
            };
            voice.frame = decoded.unwrap_or_else(|| silence.clone());
            let level = Level::measure(&voice.frame);
            stats.level_dbfs = level.dbfs;
            // Speaking and level describe the voice as sent; placement is what this ear hears.
            if let Some(placement) = s.placement.get(&key.1) {
                placement.apply(&mut voice.frame, config.format.channels);
            }
            // Once a second, tell the publisher how much it lost to us, so it can tune FEC.
            if tick % 50 == 0 {
                let total = stats.audio_played + stats.audio_recovered + stats.audio_concealed;
                let lost = stats.audio_recovered + stats.audio_concealed;
                let (total_then, lost_then) = voice.reported;
                if total > total_then {
                    let percent = (lost - lost_then) * 100 / (total - total_then);
                    engine.report_loss(&key.0, key.1, percent.min(100) as u8);
                }
                voice.reported = (total, lost);
            }
            let was = voice.speaking.is_speaking();
            if voice.speaking.update(level) != was {
                let speaking = !was;
                let _ = events.send(PlayoutEvent::Speaking {
                    channel: key.0.clone(),
                    media_id: key.1,
                    speaking,
                });
            }
        }
        let inputs = voices.iter().map(|(key, v)| {
            (
                v.frame.as_slice(),
                s.volume.get(&key.1).copied().unwrap_or(1.0),
            )
        });
        if let Ok(mixed) = mixer.mix(inputs) {
            if let Some(caller) = &config.voice {
                let _ = caller.try_send(mixed.to_vec());
            } else if let Some(playback) = &mut playback {
                playback.writer().write(mixed);
            }
        }
        drop(guard);
        let next = start + Duration::from_millis(u64::from(tick) * 20);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}
