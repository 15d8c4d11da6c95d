//! What a front end shows and plays: decodes the [`Engine`]'s encoded media into the newest
//! picture per publisher track, and runs remote voice through a jitter buffer, loss recovery,
//! per-user volume and the mixer into a playback device (the null device when there is none),
//! or hands each mixed frame to the caller ([`Config::voice`]) when the caller plays it itself.
//!
//! Threads ([`video`] and [`voice`]): a dispatcher hands voice to the 20 ms audio clock at once
//! and each video track layer to a decoder thread of its own through a bounded queue
//! ([`TRACK_QUEUE`]), so tracks decode in parallel and video never delays voice. None of them
//! is the device callback, which only reads a lock-free queue.
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
//! if let Some(frame) = playout.latest_video("lobby", 7, livestage_proto::track::CAMERA) {
//!     println!("{}x{} frame {}", frame.picture.width(), frame.picture.height(), frame.frame);
//! }
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use livestage_media::audio::hooks::HookFailure;
use livestage_media::audio::processing::FarEnd;
use livestage_media::audio::{self, AudioHook, HookPoint, HookRunner, MixTap, Playback};
use livestage_media::video::{self as media_video, I420};
use livestage_proto::media::Layer;
use livestage_proto::track::TrackId;

use crate::engine::Engine;

mod video;
mod video_hooks;
mod voice;

pub use video::TRACK_QUEUE;
pub use video_hooks::REMOTE_BUDGET;

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

/// The newest decoded picture of one publisher track.
#[derive(Clone, Debug)]
pub struct VideoFrame {
    /// The publisher's media id.
    pub media_id: u64,
    /// Its track.
    pub track: TrackId,
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
        /// Its audio track.
        track: TrackId,
        /// Speaking now.
        speaking: bool,
    },
    /// An audio hook on the playout failed and was removed; the voice plays on without it.
    HookRemoved {
        /// Which hook.
        point: HookPoint,
        /// Why.
        reason: HookFailure,
    },
    /// A remote video hook or renderer failed and was removed; pictures go on without it.
    VideoHookRemoved {
        /// The track it was installed for (channel, media id, track), or `None` for all.
        target: Option<(String, u64, TrackId)>,
        /// A renderer, not a hook.
        renderer: bool,
        /// Why.
        reason: media_video::hooks::Failure,
    },
}

/// Per-track counters of its current publication: the video counters (of a video track) start
/// again when a new video stream arrives, the audio counters (of an audio track) when a new
/// audio stream does.
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
    /// Video frames dropped because the track's decoder fell [`TRACK_QUEUE`] frames behind
    /// (and the frames after them until a keyframe).
    pub video_dropped: u64,
    /// Encoded video bytes of the decoded frames.
    pub video_bytes: u64,
    /// Audio frames played from packets.
    pub audio_played: u64,
    /// Audio frames lost on the way and rebuilt from a later packet's FEC or DRED.
    pub audio_recovered: u64,
    /// Audio frames lost beyond recovery and concealed.
    pub audio_concealed: u64,
    /// The jitter buffer's delay now, in milliseconds (it grows with loss; see
    /// [`audio::jitter`]).
    pub audio_delay_ms: u64,
    /// Audio packets dropped because the audio clock fell behind.
    pub audio_dropped: u64,
    /// Latest audio level.
    pub level_dbfs: f32,
}

impl Stats {
    /// The counters of two tracks together (the streams are the first's where it has one).
    fn add(self, other: Stats) -> Stats {
        Stats {
            video_stream: self.video_stream.or(other.video_stream),
            audio_stream: self.audio_stream.or(other.audio_stream),
            video_frames: self.video_frames + other.video_frames,
            video_errors: self.video_errors + other.video_errors,
            video_dropped: self.video_dropped + other.video_dropped,
            video_bytes: self.video_bytes + other.video_bytes,
            audio_played: self.audio_played + other.audio_played,
            audio_recovered: self.audio_recovered + other.audio_recovered,
            audio_concealed: self.audio_concealed + other.audio_concealed,
            audio_dropped: self.audio_dropped + other.audio_dropped,
            audio_delay_ms: self.audio_delay_ms.max(other.audio_delay_ms),
            level_dbfs: self.level_dbfs.max(other.level_dbfs),
        }
    }

    /// Starts counting video `stream` (from zero unless it is the one counted already).
    fn count_video(&mut self, stream: u32) {
        if self.video_stream != Some(stream) {
            self.video_stream = Some(stream);
            self.video_frames = 0;
            self.video_errors = 0;
            self.video_dropped = 0;
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

/// Channel, publisher media id, track.
type Key = (String, u64, TrackId);

/// A hook every remote voice runs through (each voice converts with its own runner).
type SharedHook = Arc<Mutex<Box<dyn AudioHook>>>;

#[derive(Default)]
struct Shared {
    video: HashMap<Key, Arc<VideoFrame>>,
    stats: HashMap<Key, Stats>,
    volume: HashMap<u64, f32>,
    placement: HashMap<u64, Placement>,
    /// The [`HookPoint::RemoteVoice`] hook and how many times it was set (voices rebuild
    /// their runners when it changes).
    remote_hook: Option<SharedHook>,
    remote_hook_set: u64,
    /// The [`HookPoint::Playback`] hook.
    playback_hook: Option<HookRunner>,
    /// The local side of the client's music and effects, mixed into what plays.
    local_mix: Option<MixTap>,
    /// The echo cancellers that hear what plays.
    echo: EchoReference,
    /// Remote video hooks and renderers.
    video_hooks: video_hooks::Installed,
    /// Where decoder threads report (the voice thread has its own sender).
    events: Option<Sender<PlayoutEvent>>,
}

impl Shared {
    fn report(&self, event: PlayoutEvent) {
        if let Some(events) = &self.events {
            let _ = events.send(event);
        }
    }
}

/// Where the playout hands what it plays to the echo cancellers of this client's publishers.
/// Cheap to clone; give one to each publisher ([`Audio::echo`](crate::publish::Audio::echo)).
#[derive(Clone, Default)]
pub struct EchoReference(Arc<Mutex<Vec<FarEnd>>>);

impl EchoReference {
    /// Adds an echo canceller's far end: from now on it gets every frame played (as 48 kHz
    /// mono), until its processor is dropped.
    pub fn attach(&self, far_end: FarEnd) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(far_end);
    }

    /// Hands `frame` (interleaved `channels`) to every far end, forgetting those whose
    /// processor is gone. Takes the lock only if it is free: a frame missed while a publisher
    /// attaches is one gap the canceller's delay estimator rides over.
    fn push(&self, frame: &[f32], channels: u16, mono: &mut Vec<f32>) {
        let Ok(mut ends) = self.0.try_lock() else {
            return;
        };
        if ends.is_empty() {
            return;
        }
        ends.retain(|e| !e.is_abandoned());
        let frame = if channels == 1 {
            frame
        } else {
            mono.clear();
            mono.extend(frame.chunks_exact(2).map(|p| (p[0] + p[1]) * 0.5));
            &mono[..]
        };
        for end in ends.iter_mut() {
            end.push(frame);
        }
    }
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
    format: audio::Format,
    echo: EchoReference,
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
        let echo = EchoReference::default();
        let (events_tx, events) = crossbeam_channel::unbounded();
        let shared = Arc::new(Mutex::new(Shared {
            echo: echo.clone(),
            events: Some(events_tx.clone()),
            ..Shared::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let format = config.format;
        let (audio_tx, audio_rx) = crossbeam_channel::bounded(1024);
        let video = {
            let (shared, stop, engine) = (shared.clone(), stop.clone(), engine.clone());
            std::thread::Builder::new()
                .name("livestage-media".into())
                .spawn(move || video::dispatch(&engine, &shared, &stop, &audio_tx))?
        };
        let voice = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::Builder::new()
                .name("livestage-voice".into())
                .spawn(move || {
                    voice::play(config, playback, &audio_rx, &shared, &stop, &events_tx)
                })?
        };
        Ok(Self {
            shared,
            events,
            stop,
            threads: vec![video, voice],
            backend,
            format,
            echo,
        })
    }

    /// Where this playout hands what it plays to echo cancellers (48 kHz output only).
    pub fn echo_reference(&self) -> EchoReference {
        self.echo.clone()
    }

    /// Installs `hook` at [`HookPoint::RemoteVoice`] (each remote user's decoded voice, before
    /// volume and mixing) or [`HookPoint::Playback`] (the mix as it goes out), replacing the
    /// one there, or removes it with `None`. A hook that fails later is removed and reported as
    /// [`PlayoutEvent::HookRemoved`].
    ///
    /// # Errors
    ///
    /// [`HookFailure::Format`] for the publisher's points or a format hooks are not offered in.
    pub fn set_hook(
        &self,
        point: HookPoint,
        hook: Option<Box<dyn AudioHook>>,
    ) -> Result<(), HookFailure> {
        match point {
            HookPoint::RemoteVoice => {
                if let Some(h) = &hook {
                    HookRunner::check(h.as_ref())?;
                }
                let mut s = self.lock();
                s.remote_hook = hook.map(|h| Arc::new(Mutex::new(h)));
                s.remote_hook_set += 1;
            }
            HookPoint::Playback => {
                let runner = hook.map(|h| HookRunner::new(h, self.format)).transpose()?;
                self.lock().playback_hook = runner;
            }
            _ => {
                return Err(HookFailure::Format(format!(
                    "{point:?} hooks are installed on the publisher"
                )));
            }
        }
        Ok(())
    }

    /// Installs `hook` on the decoded pictures of one track (`Some((channel, media_id,
    /// track))`) or of every track without a hook of its own (`None`), replacing the one
    /// there, or removes it with `hook: None`. It runs on the track's decoder thread before
    /// renderers and textures get the picture, with a budget of [`REMOTE_BUDGET`]; a failure
    /// is reported as [`PlayoutEvent::VideoHookRemoved`].
    pub fn set_video_hook(
        &self,
        target: Option<(&str, u64, TrackId)>,
        hook: Option<Box<dyn media_video::hooks::Hook>>,
    ) {
        let key = target.map(|(c, m, t)| (c.to_owned(), m, t));
        let mut s = self.lock();
        match hook {
            Some(h) => s.video_hooks.hooks.insert(key, Arc::new(Mutex::new(h))),
            None => s.video_hooks.hooks.remove(&key),
        };
        s.video_hooks.version += 1;
    }

    /// Installs a custom `renderer` for one track or every track without one of its own (see
    /// [`set_video_hook`](Self::set_video_hook) for `target`), or removes it with `None`. It
    /// gets every decoded picture (after the hook) on the track's decoder thread, as well as
    /// [`latest_video`](Self::latest_video) keeping the newest for the built-in path.
    pub fn set_renderer(
        &self,
        target: Option<(&str, u64, TrackId)>,
        renderer: Option<Box<dyn media_video::hooks::Renderer>>,
    ) {
        let key = target.map(|(c, m, t)| (c.to_owned(), m, t));
        let mut s = self.lock();
        match renderer {
            Some(r) => s.video_hooks.renderers.insert(key, Arc::new(Mutex::new(r))),
            None => s.video_hooks.renderers.remove(&key),
        };
        s.video_hooks.version += 1;
    }

    /// Mixes the local side of the client's music and effects into what plays (after the
    /// remote voices, before the playback hook), or stops with `None`.
    pub fn set_local_mix(&self, tap: Option<MixTap>) {
        self.lock().local_mix = tap;
    }

    /// The newest decoded picture of a publisher's video track in a channel.
    pub fn latest_video(
        &self,
        channel: &str,
        media_id: u64,
        track: TrackId,
    ) -> Option<Arc<VideoFrame>> {
        self.lock()
            .video
            .get(&(channel.to_owned(), media_id, track))
            .cloned()
    }

    /// Counters for a publisher's track in a channel.
    pub fn stats(&self, channel: &str, media_id: u64, track: TrackId) -> Option<Stats> {
        self.lock()
            .stats
            .get(&(channel.to_owned(), media_id, track))
            .copied()
    }

    /// Counters for all of a publisher's tracks in a channel, added up (the level is the
    /// loudest voice track's); `None` before anything arrived from it.
    pub fn participant_stats(&self, channel: &str, media_id: u64) -> Option<Stats> {
        let s = self.lock();
        let mut tracks = s
            .stats
            .iter()
            .filter(|(k, _)| k.0 == channel && k.1 == media_id)
            .map(|(_, stats)| *stats);
        let first = tracks.next()?;
        Some(tracks.fold(first, Stats::add))
    }

    /// Forgets the pictures and counters of a track that ended (unpublished, or its
    /// publisher left), so a front end does not show its last picture forever.
    pub fn forget(&self, channel: &str, media_id: u64, track: Option<TrackId>) {
        let mut s = self.lock();
        let gone = |k: &Key| k.0 == channel && k.1 == media_id && track.is_none_or(|t| t == k.2);
        s.video.retain(|k, _| !gone(k));
        s.stats.retain(|k, _| !gone(k));
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
