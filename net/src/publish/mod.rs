//! Publishing local media through an [`Engine`]: a video source (the stamped test pattern, or
//! frames the app pushes from any thread) and an audio source (a tone, the capture device
//! with its null fallback, or samples the app pushes through an [`AudioSender`]) are encoded
//! on their own threads and sent: generated and captured media paced by the wall clock, pushed
//! voice as it arrives. Keyframe requests and loss reports from subscribers are applied with
//! [`Publisher::handle`].
//!
//! Each source is a [`Track`]: the video a camera track and the voice a microphone track by
//! default. A second video (a screen share beside the camera) is a second `Publisher` with
//! another track id ([`Video::track`]). Starting publishes the tracks, stopping unpublishes them.
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

use livestage_proto::media::Layer;
use livestage_proto::track::{Track, TrackId};
use livestage_proto::wire;

use crate::engine::{Engine, EventKind};

mod audio;
mod chain;
mod video;
mod video_chain;
mod video_source;

pub use audio::{Audio, AudioSender, AudioSource, CUSTOM_AUDIO_FRAMES, CustomAudio};
pub use chain::VoiceControls;
pub use video::Video;
pub use video_chain::VideoControls;
pub use video_source::{VideoSource, camera_error, file_error, screen_error, still_error};

/// Voice protection before the path's loss is first measured.
const INITIAL_LOSS: u8 = 10;

/// Running publishers; stop them by dropping.
pub struct Publisher {
    engine: Arc<Engine>,
    channel: String,
    /// The tracks it published: the video's first, if any.
    tracks: Vec<Track>,
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
        Self::start_with(engine, channel, video, audio_source.map(Audio::new))
    }

    /// Starts publishing in `channel` with a voice chain (hooks, voice changer, music).
    pub fn start_with(
        engine: Arc<Engine>,
        channel: &str,
        video: Option<Video>,
        audio_source: Option<Audio>,
    ) -> anyhow::Result<Self> {
        // Random rather than counted, so that a restarted app does not reuse the id of the
        // publication it replaces.
        let stream = rand::random::<u32>();
        let stop = Arc::new(AtomicBool::new(false));
        let keyframe = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
        let loss = Arc::new(AtomicU8::new(INITIAL_LOSS));
        let (video_frames, audio_frames) =
            (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let mut tracks = Vec::new();
        if let Some(video) = &video {
            let track = Track {
                low_layer: video.dual,
                ..video.track.clone()
            };
            track.validate()?;
            tracks.push(track);
        }
        if let Some(audio) = &audio_source {
            audio.track.validate()?;
            tracks.push(audio.track.clone());
        }
        // Announced before the first frame, so no frame reaches the link before its track is
        // known there (the link holds a new track's media until the server confirms it). A
        // start that fails below unpublishes them again when `publisher` drops.
        for track in &tracks {
            engine.publish_track(channel, track.clone());
        }
        let mut publisher = Self {
            engine: engine.clone(),
            channel: channel.to_owned(),
            tracks,
            stream,
            stop: stop.clone(),
            keyframe: keyframe.clone(),
            loss: loss.clone(),
            threads: Vec::new(),
            video_frames: video_frames.clone(),
            audio_frames: audio_frames.clone(),
        };
        if let Some(video) = video {
            let shared = video::Shared {
                stop: stop.clone(),
                keyframe,
                count: video_frames,
            };
            let thread = video::spawn(engine.clone(), channel, video, stream, shared)?;
            publisher.threads.push(thread);
        }
        if let Some(source) = audio_source {
            let shared = audio::Shared {
                stop,
                loss,
                count: audio_frames,
            };
            let thread = audio::spawn(engine, channel, source, stream, shared)?;
            publisher.threads.push(thread);
        }
        Ok(publisher)
    }

    /// This publication's stream id (see [`VideoHeader::stream`]).
    pub fn stream(&self) -> u32 {
        self.stream
    }

    /// The tracks published (the video's first).
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// The video track's id, if it publishes video.
    fn video_track(&self) -> Option<TrackId> {
        self.tracks.iter().find(|t| t.is_video()).map(|t| t.id)
    }

    /// Applies what the server and the path ask of a publisher: keyframes of its video track,
    /// and voice protection tuned to the uplink's loss ([`EventKind::Link`]).
    pub fn handle(&self, event: &EventKind) {
        match event {
            EventKind::Server(wire::Event::KeyframeRequest { track, layer })
                if self.video_track() == Some(*track) =>
            {
                self.request_keyframe(*layer)
            }
            EventKind::Link(link) => self.set_expected_loss(link.uplink_loss_percent),
            _ => {}
        }
    }

    /// The uplink loses `percent` of its packets: protect voice accordingly
    /// ([`audio::Protection::for_loss`](livestage_media::audio::Protection::for_loss)).
    pub fn set_expected_loss(&self, percent: u8) {
        self.loss.store(percent.min(100), Ordering::Relaxed);
    }

    /// A subscriber asked for a keyframe of `layer`.
    pub fn request_keyframe(&self, layer: Layer) {
        self.keyframe[layer as usize].store(true, Ordering::Relaxed);
    }

    /// Stops the threads, then unpublishes the tracks: nothing of a track is sent after its
    /// unpublishing (which the server would refuse). Returns the first error a thread met.
    fn halt(&mut self) -> anyhow::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        let mut first = Ok(());
        for t in self.threads.drain(..) {
            let ended = t
                .join()
                .map_err(|_| anyhow::anyhow!("a media thread panicked"))
                .and_then(|r| r);
            if first.is_ok() {
                first = ended;
            }
        }
        for track in self.tracks.drain(..) {
            self.engine.unpublish_track(&self.channel, track.id);
        }
        first
    }

    /// Stops publishing and reports the first error a thread met.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.halt()
    }

    /// Stops publishing without waiting for the media threads (for a game's main thread): the
    /// tracks are unpublished now, frames a thread still sends are dropped by the link, and
    /// the threads are joined on a thread of their own, which logs their errors. Publishing
    /// the same tracks again at once is safe: the new publication has a new stream id.
    pub fn retire(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for track in self.tracks.drain(..) {
            self.engine.unpublish_track(&self.channel, track.id);
        }
        let threads = std::mem::take(&mut self.threads);
        if threads.is_empty() {
            return;
        }
        let joined = std::thread::Builder::new()
            .name("livestage-retire".into())
            .spawn(move || {
                for t in threads {
                    match t.join() {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::warn!("livestage: a publisher ended with: {e:#}"),
                        Err(_) => tracing::warn!("livestage: a media thread panicked"),
                    }
                }
            });
        if let Err(e) = joined {
            tracing::warn!("livestage: cannot join the stopping media threads: {e}");
        }
    }
}

impl Drop for Publisher {
    /// Stops the media threads and unpublishes (what [`Publisher::stop`] does, without the
    /// report).
    fn drop(&mut self) {
        let _ = self.halt();
    }
}
