//! The video side of a [`Publisher`](super::Publisher): a source (test pattern, pushed frames,
//! a screen share), its layers, and the thread that paces, encodes and sends them.
//!
//! Every source can send the low layer (a quarter of the area): the test pattern renders its
//! own (so its stamp stays readable), any other source is scaled down from the high layer's
//! picture on the same thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use livestage_media::video::screen::{ContentHint, ScreenError, ScreenSource};
use livestage_media::video::{self, CustomSource, I420, Scaler, TestPattern, scale};
use livestage_proto::media::{Layer, VideoHeader};
use livestage_proto::track::{Track, TrackId};
use livestage_proto::{Error, ErrorCode};

use super::video_chain::{Chain, VideoControls};
use crate::engine::{Engine, now_us};

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
    /// A display, window or region of the screen, captured on its own thread. When the window
    /// closes or the display goes away the track ends
    /// ([`EventKind::TrackEnded`](crate::engine::EventKind::TrackEnded)).
    Screen(ScreenSource),
}

/// Video publishing settings.
pub struct Video {
    /// The source.
    pub source: VideoSource,
    /// Frames per second (1 to 60).
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

/// A source's frames.
enum Frames {
    Pattern(TestPattern),
    Custom(CustomSource),
    Screen(ScreenSource),
}

impl Frames {
    fn size(&self) -> (u32, u32) {
        match self {
            Frames::Pattern(p) => p.size(),
            Frames::Custom(c) => c.size(),
            Frames::Screen(s) => s.size(),
        }
    }

    /// The frame for tick `n` and its capture time (none when nothing new was pushed or
    /// captured).
    fn next(&mut self, n: u64) -> Option<(I420, u64)> {
        match self {
            Frames::Pattern(p) => {
                let capture_us = now_us();
                Some((p.frame(n, capture_us), capture_us))
            }
            Frames::Custom(c) => c.latest(),
            Frames::Screen(s) => s.latest(),
        }
    }

    /// Why the source ended, once it did (a shared window closed).
    fn ended(&self) -> Option<Error> {
        match self {
            Frames::Screen(s) => s.ended().map(|e| screen_error(&e)),
            Frames::Pattern(_) | Frames::Custom(_) => None,
        }
    }
}

/// The product error for a screen capture error: `screen_unavailable` when capture cannot
/// work here, `source_ended` when the shared window or display went away, `invalid_input`
/// for a target that does not exist.
pub fn screen_error(e: &ScreenError) -> Error {
    let code = match e {
        ScreenError::Unavailable(_) => ErrorCode::ScreenUnavailable,
        ScreenError::WindowClosed | ScreenError::DisplayGone | ScreenError::Capture(_) => {
            ErrorCode::SourceEnded
        }
        ScreenError::NoSuchWindow(_)
        | ScreenError::NoSuchDisplay(_)
        | ScreenError::RegionOutside { .. } => ErrorCode::InvalidInput,
    };
    Error::new(code, e.to_string())
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
    let (channel, track) = (channel.to_owned(), video.track.id);
    let fps = video.fps;
    let thread = std::thread::Builder::new()
        .name(format!("livestage-video-{track}"))
        .spawn(move || {
            let (mut frames, mut layered, mut chain) = match prepare(video) {
                Ok(prepared) => prepared,
                Err(e) => {
                    let error = Error::new(
                        ErrorCode::InvalidInput,
                        format!("cannot start the video: {e:#}"),
                    );
                    engine.end_track(&channel, track, error);
                    return Err(e);
                }
            };
            let period = Duration::from_secs_f32(1.0 / fps);
            let start = Instant::now();
            for n in 0u64.. {
                if shared.stop.load(Ordering::Relaxed) {
                    break;
                }
                if let Some(error) = frames.ended() {
                    engine.end_track(&channel, track, error);
                    break;
                }
                if let Some((mut frame, capture_us)) = frames.next(n)
                    && chain.process(&mut frame, n, capture_us)
                {
                    for l in &mut layered {
                        send_layer(
                            &engine, &channel, track, stream, &shared, l, &frame, n, capture_us,
                        )?;
                    }
                }
                sleep_until(start + period * (n as u32 + 1));
            }
            Ok(())
        })?;
    Ok(thread)
}

/// The source's frames, one encoder per layer, and the processing chain of `video`.
fn prepare(video: Video) -> anyhow::Result<(Frames, Vec<Layered>, Chain)> {
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
    };
    let (w, h) = frames.size();
    let low = match low {
        Some(pattern) => Some(pattern),
        None if video.dual => {
            let (lw, lh) = scale::low_layer_size(w, h);
            Some(Picture::Scaled(Scaler::new(), I420::new(lw, lh)?))
        }
        None => None,
    };
    let fps = video.fps;
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
    Ok((frames, layered, chain))
}

/// Encodes and sends one layer's picture of tick `n`.
#[allow(clippy::too_many_arguments)]
fn send_layer(
    engine: &Engine,
    channel: &str,
    track: TrackId,
    stream: u32,
    shared: &Shared,
    l: &mut Layered,
    frame: &I420,
    n: u64,
    capture_us: u64,
) -> anyhow::Result<()> {
    if shared.keyframe[l.layer as usize].swap(false, Ordering::Relaxed) {
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
        let header = VideoHeader {
            media_id: 0,
            track,
            layer: l.layer,
            stream,
            frame: l.sent,
            keyframe: encoded.keyframe,
            capture_us,
        };
        engine.send_video(channel, header, encoded.data);
        l.sent += 1;
        shared.count.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

pub(super) fn sleep_until(when: Instant) {
    let now = Instant::now();
    if when > now {
        std::thread::sleep(when - now);
    }
}
