//! The video side of a [`Publisher`](super::Publisher): a [`VideoSource`], its layers, and the
//! thread that paces, processes, encodes and sends them.
//!
//! Every encoded source can send the low layer (a quarter of the area): the test pattern
//! renders its own (so its stamp stays readable), any other source is scaled down from the
//! high layer's picture on the same thread. A forwarded file is sent as it is, high layer only.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use livestage_media::video::file::Mode;
use livestage_media::video::screen::ContentHint;
use livestage_media::video::{
    self, Access, EncodedSource, FileSource, I420, Scaler, StillSource, TestPattern, scale,
};
use livestage_proto::media::{Layer, VideoHeader};
use livestage_proto::track::{Track, TrackId};
use livestage_proto::{Error, ErrorCode};

use super::video_chain::{Chain, VideoControls};
use super::video_source::{Frames, VideoSource, file_error};
use crate::engine::Engine;

/// Video publishing settings.
pub struct Video {
    /// The source.
    pub source: VideoSource,
    /// Frames per second (1 to 60); a camera or a file keeps its own rate.
    pub fps: f32,
    /// Bitrate; by default about 1.5 Mbps at 720p30, scaled by pixels per second (and doubled
    /// for a screen share hinted as [`ContentHint::Detail`], so text stays sharp).
    pub bitrate_bps: Option<u32>,
    /// Also send a low layer of a quarter of the area.
    pub dual: bool,
    /// The track it is published as (a camera by default); `low_layer` follows `dual`.
    pub track: Track,
    /// Processing between the source and the encoder (beauty, the local hook); share one
    /// with every publisher of a client.
    pub controls: VideoControls,
}

impl Video {
    /// One layer of `source` at `fps` with the default bitrate, as the camera track.
    pub fn new(source: VideoSource, fps: f32) -> Self {
        Self {
            source,
            fps,
            bitrate_bps: None,
            dual: false,
            track: Track::camera(),
            controls: VideoControls::default(),
        }
    }

    /// The same, published as `track` (e.g. [`Track::screen`]).
    pub fn as_track(self, track: Track) -> Self {
        Self { track, ..self }
    }
}

/// A bitrate that suits the frame size (about 1.5 Mbps at 720p30).
fn bitrate_for(width: u32, height: u32, fps: f32) -> u32 {
    let pixels_per_sec = f64::from(width * height) * f64::from(fps);
    (pixels_per_sec * 0.055).clamp(100_000.0, 8_000_000.0) as u32
}

/// What one video thread shares with its [`Publisher`](super::Publisher).
pub(super) struct Shared {
    pub stop: Arc<AtomicBool>,
    /// A keyframe was asked for, per layer.
    pub keyframe: Arc<[AtomicBool; 2]>,
    /// Frames sent, both layers.
    pub count: Arc<AtomicU64>,
}

/// Where a layer's pictures come from.
enum Picture {
    /// The source's frame itself (the high layer).
    Source,
    /// A test pattern of its own size, stamped with the same frame number and time.
    Pattern(TestPattern),
    /// The source's frame scaled down into this buffer.
    Scaled(Scaler, I420),
}

struct Layered {
    layer: Layer,
    picture: Picture,
    encoder: video::Encoder,
    /// Frames sent, the wire frame number of the next one.
    sent: u64,
}

/// Where a video thread's frames go.
struct Out {
    engine: Arc<Engine>,
    channel: String,
    track: TrackId,
    stream: u32,
    shared: Shared,
}

impl Out {
    fn send(&self, layer: Layer, frame: u64, keyframe: bool, capture_us: u64, data: Vec<u8>) {
        let header = VideoHeader {
            media_id: 0,
            track: self.track,
            layer,
            stream: self.stream,
            frame,
            keyframe,
            capture_us,
        };
        self.engine.send_video(&self.channel, header, data);
        self.shared.count.fetch_add(1, Ordering::Relaxed);
    }

    fn stopped(&self) -> bool {
        self.shared.stop.load(Ordering::Relaxed)
    }

    fn end(&self, error: Error) {
        self.engine.end_track(&self.channel, self.track, error);
    }
}

/// What the video thread runs, made on the thread by [`prepare`].
#[allow(
    clippy::large_enum_variant,
    reason = "made once per video thread, never copied"
)]
enum Prepared {
    /// Frames to process and encode, per layer, at `fps`.
    Encode {
        frames: Frames,
        layered: Vec<Layered>,
        chain: Chain,
        fps: f32,
    },
    /// H.264 that goes out as it is.
    Forward(Forwarded),
}

/// Encoded video forwarded without decoding.
enum Forwarded {
    /// A file, paced by its own thread.
    File(FileSource),
    /// A live stream's access units, as they arrive.
    Stream(EncodedSource),
}

impl Forwarded {
    fn next(&mut self, timeout: Duration) -> Option<Access> {
        match self {
            Self::File(file) => file.next_encoded_timeout(timeout),
            Self::Stream(stream) => stream.next_timeout(timeout),
        }
    }

    /// Why nothing more will come, once that is so.
    fn ended(&self) -> Option<Error> {
        match self {
            Self::File(file) => file.ended().map(|e| file_error(&e)),
            Self::Stream(stream) => stream
                .is_closed()
                .then(|| Error::new(ErrorCode::SourceEnded, "the stream ended")),
        }
    }
}

/// Starts the video thread of `video` as track `track`; it stops when `shared.stop` is set,
/// or ends the track when its source ends. The source's pictures and the encoders are made on
/// the thread (a 720p test pattern costs a millisecond the caller, a game's main thread, should
/// not pay); what can be checked cheaply is checked here, and a later failure ends the track
/// with the error ([`EventKind::TrackEnded`](crate::engine::EventKind::TrackEnded)).
pub(super) fn spawn(
    engine: Arc<Engine>,
    channel: &str,
    video: Video,
    stream: u32,
    shared: Shared,
) -> anyhow::Result<std::thread::JoinHandle<anyhow::Result<()>>> {
    if let VideoSource::TestPattern { width, height, .. } = video.source {
        TestPattern::check(width, height)?;
        if video.dual {
            let (w, h) = scale::low_layer_size(width, height);
            TestPattern::check(w, h)?;
        }
    }
    let track = video.track.id;
    let out = Out {
        engine,
        channel: channel.to_owned(),
        track,
        stream,
        shared,
    };
    let thread = std::thread::Builder::new()
        .name(format!("livestage-video-{track}"))
        .spawn(move || match prepare(video) {
            Ok(Prepared::Encode {
                frames,
                layered,
                chain,
                fps,
            }) => encode(&out, frames, layered, chain, fps),
            Ok(Prepared::Forward(source)) => {
                forward(&out, source);
                Ok(())
            }
            Err(e) => {
                let message = format!("cannot start the video: {e:#}");
                out.end(Error::new(ErrorCode::InvalidInput, message));
                Err(e)
            }
        })?;
    Ok(thread)
}

/// Paces the source at `fps`: each tick takes its newest frame, processes it and encodes and
/// sends each layer, until stopped or the source ends.
fn encode(
    out: &Out,
    mut frames: Frames,
    mut layered: Vec<Layered>,
    mut chain: Chain,
    fps: f32,
) -> anyhow::Result<()> {
    let period = Duration::from_secs_f32(1.0 / fps);
    let start = Instant::now();
    for n in 0u64.. {
        if out.stopped() {
            break;
        }
        match frames.next(n) {
            Some((mut frame, capture_us)) => {
                if chain.process(&mut frame, n, capture_us) {
                    for l in &mut layered {
                        send_layer(out, l, &frame, n, capture_us)?;
                    }
                }
            }
            // Only once nothing is left to take, so a file's last frames still go out.
            None => {
                if let Some(error) = frames.ended() {
                    out.end(error);
                    break;
                }
            }
        }
        sleep_until(start + period * (n as u32 + 1));
    }
    Ok(())
}

/// Sends a forwarded file's access units as they fall due, as the high layer, until stopped
/// or the file ends. Keyframe requests cannot be honoured without an encoder: the file's next
/// keyframe serves them.
fn forward(out: &Out, mut source: Forwarded) {
    let mut sent = 0;
    while !out.stopped() {
        for requested in out.shared.keyframe.iter() {
            requested.store(false, Ordering::Relaxed);
        }
        match source.next(Duration::from_millis(20)) {
            Some(access) => {
                out.send(
                    Layer::High,
                    sent,
                    access.keyframe,
                    access.capture_us,
                    access.data,
                );
                sent += 1;
            }
            None => {
                if let Some(error) = source.ended() {
                    out.end(error);
                    break;
                }
            }
        }
    }
}

/// The source's frames, one encoder per layer, and the processing chain of `video`; or a
/// file to forward.
fn prepare(video: Video) -> anyhow::Result<Prepared> {
    let processes = video.controls.processes();
    let (frames, hint, low) = match video.source {
        VideoSource::TestPattern {
            width,
            height,
            textured,
        } => {
            let low = if video.dual {
                let (w, h) = scale::low_layer_size(width, height);
                Some(Picture::Pattern(
                    TestPattern::new(w, h)?.with_texture(textured),
                ))
            } else {
                None
            };
            let pattern = TestPattern::new(width, height)?.with_texture(textured);
            (Frames::Pattern(pattern), None, low)
        }
        VideoSource::Custom(c) => (Frames::Custom(c), None, None),
        VideoSource::Screen(s) => {
            let hint = s.hint();
            (Frames::Screen(s), Some(hint), None)
        }
        VideoSource::Camera(c) => (Frames::Camera(c), None, None),
        VideoSource::Still(picture) => (
            Frames::Still(StillSource::new(picture, video.fps)),
            None,
            None,
        ),
        VideoSource::Encoded(stream) => return Ok(Prepared::Forward(Forwarded::Stream(stream))),
        VideoSource::File {
            demuxer,
            mut options,
        } => {
            if options.mode == Mode::Auto && processes {
                options.mode = Mode::Decode;
            }
            let file = FileSource::new(demuxer, options)?;
            if file.mode() == Mode::Forward {
                return Ok(Prepared::Forward(Forwarded::File(file)));
            }
            (Frames::File(file), None, None)
        }
    };
    let fps = frames.own_fps().unwrap_or(video.fps).clamp(1.0, 60.0);
    let (w, h) = frames.size();
    let low = match low {
        Some(pattern) => Some(pattern),
        None if video.dual => {
            let (lw, lh) = scale::low_layer_size(w, h);
            Some(Picture::Scaled(Scaler::new(), I420::new(lw, lh)?))
        }
        None => None,
    };
    let mut layers = vec![(Layer::High, Picture::Source, (w, h))];
    if let Some(low) = low {
        let size = match &low {
            Picture::Pattern(p) => p.size(),
            Picture::Scaled(_, buf) => buf.size(),
            Picture::Source => (w, h),
        };
        layers.push((Layer::Low, low, size));
    }
    let mut layered = Vec::new();
    for (layer, picture, (lw, lh)) in layers {
        let mut bitrate = bitrate_for(lw, lh, fps);
        if hint == Some(ContentHint::Detail) {
            bitrate = bitrate.saturating_mul(2).min(8_000_000);
        }
        if layer == Layer::High {
            bitrate = video.bitrate_bps.unwrap_or(bitrate);
        }
        let config = if lw > video::encode::MAX_WIDTH || lh > video::encode::MAX_HEIGHT {
            video::encode::Config::custom(lw, lh, fps, bitrate)?
        } else {
            video::encode::Config::new(lw, lh, fps, bitrate)?
        };
        layered.push(Layered {
            layer,
            picture,
            encoder: video::Encoder::new(config)?,
            sent: 0,
        });
    }
    let chain = Chain::new(video.controls, fps);
    Ok(Prepared::Encode {
        frames,
        layered,
        chain,
        fps,
    })
}

/// Encodes and sends one layer's picture of tick `n`.
fn send_layer(
    out: &Out,
    l: &mut Layered,
    frame: &I420,
    n: u64,
    capture_us: u64,
) -> anyhow::Result<()> {
    if out.shared.keyframe[l.layer as usize].swap(false, Ordering::Relaxed) {
        l.encoder.request_keyframe();
    }
    let own;
    let picture = match &mut l.picture {
        Picture::Source => frame,
        Picture::Pattern(p) => {
            own = p.frame(n, capture_us);
            &own
        }
        Picture::Scaled(scaler, buf) => {
            scaler.scale_into(frame, buf);
            &*buf
        }
    };
    if let Some(encoded) = l.encoder.encode(picture, capture_us)? {
        // Wire frame numbers count frames sent, with no gaps when the encoder's rate control
        // skips one (the receiver's reordering would otherwise wait for a frame that never
        // comes).
        out.send(l.layer, l.sent, encoded.keyframe, capture_us, encoded.data);
        l.sent += 1;
    }
    Ok(())
}

pub(super) fn sleep_until(when: Instant) {
    let now = Instant::now();
    if when > now {
        std::thread::sleep(when - now);
    }
}
