//! The bot's media: publishing a stamped test pattern, a screen share and a tone, and
//! verifying what arrives per publisher track (frame order, glass-to-glass latency from the
//! burned-in capture stamp, tone frequency), keeping each video track's last picture for
//! `--snapshot`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use livestage_media::audio::{self, dominant_frequency};
use livestage_media::video::screen::{ScreenSource, Share};
use livestage_media::video::{self, I420, read_stamp};
use livestage_net::{Engine, MediaEvent, MediaKind};
use livestage_proto::media::Layer;
use livestage_proto::track::{Track, TrackId};
use livestage_proto::wire::Request;
use serde::Serialize;

use super::bot_moderate::Requests;

use livestage_media::audio::MixTap;
pub use livestage_net::engine::now_us;
pub use livestage_net::publish::Publisher;
use livestage_net::publish::{Audio, AudioSource, Video, VideoSource, VoiceControls, screen_error};
use livestage_proto::wire::Participant;

/// What `--publish` asked for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Publish {
    /// Test pattern width, height and frame rate.
    pub video: Option<(u32, u32, f32)>,
    /// Add changing texture so the encoder uses its whole bitrate.
    pub textured: bool,
    /// Tone frequency in Hz.
    pub audio: Option<f32>,
    /// A screen share beside the camera.
    pub screen: Option<Share>,
}

/// The parts of a spec: `kind=source` items separated by commas, where a source may hold
/// commas itself (`region:X,Y,W,H`).
fn spec_parts(spec: &str) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    for piece in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match parts.last_mut() {
            Some(last) if !piece.contains('=') => {
                last.push(',');
                last.push_str(piece);
            }
            _ => parts.push(piece.to_owned()),
        }
    }
    parts
}

impl Publish {
    /// Parses `video=testpattern:1280x720@30,screen=window:0x1e00004@15,audio=tone:440`;
    /// `video=textured:...` is the test pattern with changing texture, which costs its full
    /// bitrate like game footage.
    pub fn parse(spec: &str) -> anyhow::Result<Self> {
        let mut out = Publish::default();
        for part in spec_parts(spec) {
            let part = part.as_str();
            let (kind, source) = part
                .split_once('=')
                .context("expected kind=source, e.g. video=testpattern:1280x720@30")?;
            match (kind, source.split_once(':')) {
                ("video", Some((source @ ("testpattern" | "textured"), geometry))) => {
                    out.textured = source == "textured";
                    let (size, fps) = geometry.split_once('@').unwrap_or((geometry, "30"));
                    let (w, h) = size.split_once('x').context("video size is WIDTHxHEIGHT")?;
                    out.video = Some((w.parse()?, h.parse()?, fps.parse()?));
                }
                ("audio", Some(("tone", hz))) => out.audio = Some(hz.parse()?),
                ("screen", _) => {
                    out.screen = Some(source.parse::<Share>().map_err(anyhow::Error::msg)?);
                }
                _ => bail!(
                    "unknown media source {part:?}; use video=testpattern:WxH@FPS, video=textured:WxH@FPS, screen=display|display:ID|window:ID|region:X,Y,W,H[@FPS] or audio=tone:HZ"
                ),
            }
        }
        Ok(out)
    }
}

/// What arrived from one publisher's video.
#[derive(Serialize, Default, Clone)]
pub struct VideoReport {
    /// Frames decoded with a readable stamp.
    pub frames: u64,
    /// Glass-to-glass latency: capture stamp to decoded frame.
    pub latency_ms: Percentiles,
    /// From join to the first decoded frame.
    pub first_frame_ms: Option<u64>,
    /// Frames the decoder refused.
    pub decode_errors: u64,
    /// Decoded frame numbers only ever increased.
    pub in_order: bool,
    /// Frame numbers skipped (dropped or late).
    pub skipped: u64,
    /// Layers seen.
    pub layers: Vec<String>,
}

/// Latency percentiles.
#[derive(Serialize, Default, Clone)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Worst.
    pub max: f64,
}

impl Percentiles {
    /// Percentiles of the samples (zeros when empty).
    pub fn of(mut samples: Vec<f64>) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_by(f64::total_cmp);
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Self {
            p50: at(0.5),
            p95: at(0.95),
            max: at(1.0),
        }
    }
}

/// What arrived from one publisher's audio.
#[derive(Serialize, Default, Clone)]
pub struct AudioReport {
    /// Packets received.
    pub frames: u64,
    /// Frames missing in the sequence, which a player conceals.
    pub concealed: u64,
    /// Packets the decoder refused.
    pub decode_errors: u64,
    /// Dominant frequency of the decoded audio, if any.
    pub tone_hz: Option<f32>,
    /// The strongest spectral peaks of the decoded audio (up to four, strongest first).
    pub peaks_hz: Vec<f32>,
}

/// Least time between two keyframe requests for one publisher.
const KEYFRAME_RETRY: Duration = Duration::from_millis(250);

#[derive(Default)]
struct VideoState {
    decoder: Option<video::Decoder>,
    asked: Option<Instant>,
    latencies: Vec<f64>,
    last: Option<u64>,
    /// The last decoded picture, for `--snapshot`.
    picture: Option<I420>,
    report: VideoReport,
}

/// A publisher's track: its media id and the track id.
pub type TrackKey = (u64, TrackId);

/// What arrived, by publisher track.
pub struct Received {
    /// Video reports.
    pub video: HashMap<TrackKey, VideoReport>,
    /// Audio reports.
    pub audio: HashMap<TrackKey, AudioReport>,
    /// The last decoded picture of each video track.
    pub pictures: HashMap<TrackKey, I420>,
}

struct AudioState {
    /// Frames received and concealed when loss was last reported.
    reported: (u64, u64),
    decoder: audio::Decoder,
    last_seq: Option<u32>,
    tail: Vec<f32>,
    report: AudioReport,
}

/// Verifies incoming media on a thread; [`Verifier::finish`] returns reports by track.
pub struct Verifier {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Received>,
}

impl Verifier {
    /// Starts verifying; `joined` is when the join began (for first-frame time). Decode
    /// errors ask the publisher for a keyframe, so the stream recovers quickly; those requests
    /// and loss reports go through `requests`, which numbers everything the bot sends.
    pub fn start(engine: Arc<Engine>, requests: Arc<Requests>, joined: Instant) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut videos: HashMap<TrackKey, VideoState> = HashMap::new();
            let mut audios: HashMap<TrackKey, AudioState> = HashMap::new();
            let mut last_loss_report = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                if last_loss_report.elapsed() >= Duration::from_secs(1) {
                    last_loss_report = Instant::now();
                    report_loss(&requests, &mut audios);
                }
                let Ok(event) = engine.media().recv_timeout(Duration::from_millis(50)) else {
                    continue;
                };
                let key = (event.media_id, event.track);
                if let Some(layer) = on_media(event, joined, &mut videos, &mut audios) {
                    let v = videos
                        .get_mut(&key)
                        .expect("a video state exists for a video frame");
                    if v.asked.is_none_or(|t| t.elapsed() >= KEYFRAME_RETRY) {
                        v.asked = Some(Instant::now());
                        requests.send(Request::RequestKeyframe {
                            media_id: key.0,
                            track: key.1,
                            layer,
                        });
                    }
                }
            }
            let mut pictures = HashMap::new();
            let video = videos
                .into_iter()
                .map(|(key, mut v)| {
                    v.report.latency_ms = Percentiles::of(std::mem::take(&mut v.latencies));
                    pictures.extend(v.picture.take().map(|p| (key, p)));
                    (key, v.report)
                })
                .collect();
            let audio = audios
                .into_iter()
                .map(|(key, mut a)| {
                    a.report.tone_hz = dominant_frequency(&a.tail, 48_000);
                    a.report.peaks_hz = audio::spectrum::peaks(&a.tail, 48_000, 4);
                    (key, a.report)
                })
                .collect();
            Received {
                video,
                audio,
                pictures,
            }
        });
        Self { stop, thread }
    }

    /// Stops and returns what arrived, keyed by publisher track.
    pub fn finish(self) -> Received {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_else(|_| Received {
            video: HashMap::new(),
            audio: HashMap::new(),
            pictures: HashMap::new(),
        })
    }
}

fn on_media(
    event: MediaEvent,
    joined: Instant,
    videos: &mut HashMap<TrackKey, VideoState>,
    audios: &mut HashMap<TrackKey, AudioState>,
) -> Option<Layer> {
    let key = (event.media_id, event.track);
    match event.kind {
        MediaKind::Video { header, data } => {
            let v = videos.entry(key).or_default();
            let layer = format!("{:?}", header.layer).to_lowercase();
            if !v.report.layers.contains(&layer) {
                v.report.layers.push(layer);
            }
            if v.decoder.is_none() {
                v.decoder = video::Decoder::new().ok();
            }
            let decoder = v.decoder.as_mut()?;
            match decoder.decode(&data) {
                Ok(Some(frame)) => {
                    let stamp = read_stamp(&frame);
                    v.picture = Some(frame);
                    let Some(stamp) = stamp else {
                        // A picture without a stamp (a screen share): counted, not timed.
                        v.report.frames += 1;
                        v.report
                            .first_frame_ms
                            .get_or_insert(joined.elapsed().as_millis() as u64);
                        return None;
                    };
                    let latency_ms = now_us().saturating_sub(stamp.capture_us) as f64 / 1000.0;
                    v.latencies.push(latency_ms);
                    v.report.frames += 1;
                    v.report
                        .first_frame_ms
                        .get_or_insert(joined.elapsed().as_millis() as u64);
                    match v.last {
                        Some(last) if stamp.frame_number <= last => v.report.in_order = false,
                        Some(last) => v.report.skipped += stamp.frame_number - last - 1,
                        None => v.report.in_order = true,
                    }
                    v.last = Some(stamp.frame_number.max(v.last.unwrap_or(0)));
                }
                Ok(None) => {}
                Err(_) => {
                    v.report.decode_errors += 1;
                    return Some(header.layer);
                }
            }
            None
        }
        MediaKind::Audio { seq, payload, .. } => {
            let a = match audios.entry(key) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let Ok(decoder) = audio::Decoder::new(audio::Format::MONO_48K) else {
                        return None;
                    };
                    let report = AudioReport::default();
                    e.insert(AudioState {
                        reported: (0, 0),
                        decoder,
                        last_seq: None,
                        tail: Vec::new(),
                        report,
                    })
                }
            };
            a.report.frames += 1;
            if let Some(last) = a.last_seq {
                let gap = seq.wrapping_sub(last);
                if gap > 1 && gap < 1000 {
                    a.report.concealed += u64::from(gap - 1);
                }
            }
            a.last_seq = Some(seq);
            match a.decoder.decode(&payload) {
                Ok(samples) => {
                    a.tail.extend_from_slice(&samples);
                    // Keep the last second for the frequency check.
                    if a.tail.len() > 48_000 {
                        a.tail.drain(..a.tail.len() - 48_000);
                    }
                }
                Err(_) => a.report.decode_errors += 1,
            }
            None
        }
    }
}

/// Tells each audio publisher how much of its audio was lost here in the last second.
fn report_loss(requests: &Requests, audios: &mut HashMap<TrackKey, AudioState>) {
    for (&(media_id, _), a) in audios.iter_mut() {
        let (got, lost) = (a.report.frames, a.report.concealed);
        let (got_then, lost_then) = a.reported;
        let total = (got - got_then) + (lost - lost_then);
        if let Some(percent) = ((lost - lost_then) * 100).checked_div(total) {
            let percent = percent.min(100) as u8;
            requests.send(Request::ReportLoss { media_id, percent });
        }
        a.reported = (got, lost);
    }
}

impl Publish {
    /// Starts publishing what was asked (with a low layer when `dual`): the camera and the
    /// voice as one publisher, the screen share as another, each its own track.
    pub fn start(
        &self,
        engine: Arc<Engine>,
        channel: &str,
        dual: bool,
        voice: Option<(MixTap, VoiceControls)>,
    ) -> anyhow::Result<Vec<Publisher>> {
        let mut publishers = Vec::new();
        let video = self.video.map(|(width, height, fps)| {
            let source = VideoSource::TestPattern {
                width,
                height,
                textured: self.textured,
            };
            Video {
                dual,
                ..Video::new(source, fps)
            }
        });
        if video.is_some() || self.audio.is_some() {
            let audio = self.audio.map(|hz| {
                let mut audio = Audio::new(AudioSource::Tone(hz));
                if let Some((mix, controls)) = voice {
                    audio.mix = Some(mix);
                    audio.controls = controls;
                }
                audio
            });
            publishers.push(Publisher::start_with(
                engine.clone(),
                channel,
                video,
                audio,
            )?);
        }
        if let Some(share) = self.screen {
            let target = share.resolve().map_err(|e| screen_error(&e))?;
            let options = share.options();
            let fps = options.fps;
            let source = ScreenSource::new(target, options).map_err(|e| screen_error(&e))?;
            let video = Video {
                dual,
                ..Video::new(VideoSource::Screen(source), fps)
            }
            .as_track(Track::screen());
            publishers.push(Publisher::start(engine, channel, Some(video), None)?);
        }
        Ok(publishers)
    }
}

/// Who publishes under each media id, with its tracks (from the roster).
pub type Publishers = HashMap<u64, Participant>;

/// Keys track reports for the JSON report: `user/source` for every track (`cam1/camera`,
/// `cam1/screen`; a second track of one source adds its id, `cam1/screen-5`), and also plain
/// `user` for a publisher's camera and microphone, as before tracks existed.
pub fn by_track<T: Clone>(
    reports: &HashMap<TrackKey, T>,
    publishers: &Publishers,
) -> BTreeMap<String, T> {
    let mut out = BTreeMap::new();
    for (&(media_id, track), report) in reports {
        let name = track_name(publishers, media_id, track);
        if let Some(user) = name
            .strip_suffix("/camera")
            .or_else(|| name.strip_suffix("/microphone"))
        {
            out.insert(user.to_owned(), report.clone());
        }
        out.insert(name, report.clone());
    }
    out
}

/// `user/source` for a publisher track (`media-ID/track-N` when the roster does not know it).
pub fn track_name(publishers: &Publishers, media_id: u64, track: TrackId) -> String {
    let Some(p) = publishers.get(&media_id) else {
        return format!("media-{media_id}/track-{track}");
    };
    match p.track(track) {
        Some(t) => {
            let first = p.tracks.iter().find(|o| o.source == t.source).map(|o| o.id);
            if first == Some(track) {
                format!("{}/{}", p.user, t.source)
            } else {
                format!("{}/{}-{track}", p.user, t.source)
            }
        }
        None => format!("{}/track-{track}", p.user),
    }
}

/// Writes each picture as `DIR/<user>-<source>.png`; returns the files written.
pub fn write_snapshots(
    dir: &std::path::Path,
    pictures: &HashMap<TrackKey, I420>,
    publishers: &Publishers,
) -> anyhow::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    for (&(media_id, track), picture) in pictures {
        let name = track_name(publishers, media_id, track).replace('/', "-");
        let path = dir.join(format!("{name}.png"));
        let rgba = video::convert::i420_to_rgba(picture);
        let file =
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut encoder =
            png::Encoder::new(std::io::BufWriter::new(file), rgba.width(), rgba.height());
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.write_header()?.write_image_data(rgba.data())?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::{Publish, Share};
    use livestage_media::video::screen::Target;

    #[test]
    fn parses_publish_specs() {
        let p = Publish::parse("video=testpattern:1280x720@30,audio=tone:440").expect("valid");
        assert_eq!(
            p,
            Publish {
                video: Some((1280, 720, 30.0)),
                textured: false,
                audio: Some(440.0),
                screen: None,
            }
        );
        let p = Publish::parse(
            "video=testpattern:640x360@30,screen=region:10,20,300,200@30,audio=tone:440",
        )
        .expect("valid");
        assert_eq!(
            p.screen,
            Some(Share {
                target: Some(Target::Region {
                    x: 10,
                    y: 20,
                    width: 300,
                    height: 200
                }),
                fps: Some(30.0)
            })
        );
        assert_eq!(p.audio, Some(440.0));
        let window = Publish::parse("screen=window:0x1e00004").expect("valid");
        assert_eq!(
            window.screen.map(|s| s.target),
            Some(Some(Target::Window(0x1e0_0004)))
        );
        assert_eq!(
            Publish::parse("screen=display").expect("valid").screen,
            Some(Share {
                target: None,
                fps: None
            })
        );
        assert!(Publish::parse("screen=region:1,2,3").is_err());
        assert!(Publish::parse("screen=monitor").is_err());
        assert!(
            Publish::parse("video=textured:640x360@15")
                .expect("valid")
                .textured
        );
        assert!(Publish::parse("video=camera").is_err());
        assert!(Publish::parse("video=testpattern:axb").is_err());
    }
}
