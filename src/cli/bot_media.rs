//! The bot's media: publishing a stamped test pattern and a tone, and verifying what arrives
//! (frame order, glass-to-glass latency from the burned-in capture stamp, tone frequency).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use livestage_media::audio::{self, dominant_frequency};
use livestage_media::video::{self, read_stamp};
use livestage_net::{Engine, MediaEvent, MediaKind};
use livestage_proto::media::Layer;
use livestage_proto::wire::Request;
use serde::Serialize;

use super::bot_moderate::Requests;

pub use livestage_net::engine::now_us;
pub use livestage_net::publish::Publisher;
use livestage_net::publish::{AudioSource, Video, VideoSource};

/// What `--publish` asked for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Publish {
    /// Test pattern width, height and frame rate.
    pub video: Option<(u32, u32, f32)>,
    /// Add changing texture so the encoder uses its whole bitrate.
    pub textured: bool,
    /// Tone frequency in Hz.
    pub audio: Option<f32>,
}

impl Publish {
    /// Parses `video=testpattern:1280x720@30,audio=tone:440`; `video=textured:...` is the test
    /// pattern with changing texture, which costs its full bitrate like game footage.
    pub fn parse(spec: &str) -> anyhow::Result<Self> {
        let mut out = Publish::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
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
                _ => bail!(
                    "unknown media source {part:?}; use video=testpattern:WxH@FPS, video=textured:WxH@FPS or audio=tone:HZ"
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
}

/// Least time between two keyframe requests for one publisher.
const KEYFRAME_RETRY: Duration = Duration::from_millis(250);

#[derive(Default)]
struct VideoState {
    decoder: Option<video::Decoder>,
    asked: Option<Instant>,
    latencies: Vec<f64>,
    last: Option<u64>,
    report: VideoReport,
}

struct AudioState {
    /// Frames received and concealed when loss was last reported.
    reported: (u64, u64),
    decoder: audio::Decoder,
    last_seq: Option<u32>,
    tail: Vec<f32>,
    report: AudioReport,
}

/// Verifies incoming media on a thread; [`Verifier::finish`] returns reports by media id.
pub struct Verifier {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<(HashMap<u64, VideoReport>, HashMap<u64, AudioReport>)>,
}

impl Verifier {
    /// Starts verifying; `joined` is when the join began (for first-frame time). Decode
    /// errors ask the publisher for a keyframe, so the stream recovers quickly; those requests
    /// and loss reports go through `requests`, which numbers everything the bot sends.
    pub fn start(engine: Arc<Engine>, requests: Arc<Requests>, joined: Instant) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut videos: HashMap<u64, VideoState> = HashMap::new();
            let mut audios: HashMap<u64, AudioState> = HashMap::new();
            let mut last_loss_report = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                if last_loss_report.elapsed() >= Duration::from_secs(1) {
                    last_loss_report = Instant::now();
                    report_loss(&requests, &mut audios);
                }
                let Ok(event) = engine.media().recv_timeout(Duration::from_millis(50)) else {
                    continue;
                };
                let media_id = event.media_id;
                if let Some(layer) = on_media(event, joined, &mut videos, &mut audios) {
                    let v = videos
                        .get_mut(&media_id)
                        .expect("a video state exists for a video frame");
                    if v.asked.is_none_or(|t| t.elapsed() >= KEYFRAME_RETRY) {
                        v.asked = Some(Instant::now());
                        requests.send(Request::RequestKeyframe { media_id, layer });
                    }
                }
            }
            let videos = videos
                .into_iter()
                .map(|(id, mut v)| {
                    v.report.latency_ms = Percentiles::of(std::mem::take(&mut v.latencies));
                    (id, v.report)
                })
                .collect();
            let audios = audios
                .into_iter()
                .map(|(id, mut a)| {
                    a.report.tone_hz = dominant_frequency(&a.tail, 48_000);
                    (id, a.report)
                })
                .collect();
            (videos, audios)
        });
        Self { stop, thread }
    }

    /// Stops and returns what arrived, keyed by publisher media id.
    pub fn finish(self) -> (HashMap<u64, VideoReport>, HashMap<u64, AudioReport>) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

fn on_media(
    event: MediaEvent,
    joined: Instant,
    videos: &mut HashMap<u64, VideoState>,
    audios: &mut HashMap<u64, AudioState>,
) -> Option<Layer> {
    match event.kind {
        MediaKind::Video { header, data } => {
            let v = videos.entry(event.media_id).or_default();
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
                    let Some(stamp) = read_stamp(&frame) else {
                        v.report.decode_errors += 1;
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
            let a = match audios.entry(event.media_id) {
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
fn report_loss(requests: &Requests, audios: &mut HashMap<u64, AudioState>) {
    for (&media_id, a) in audios.iter_mut() {
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
    /// Starts publishing what was asked (with a low layer when `dual`).
    pub fn start(
        &self,
        engine: Arc<Engine>,
        channel: &str,
        dual: bool,
    ) -> anyhow::Result<Publisher> {
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
        Publisher::start(engine, channel, video, self.audio.map(AudioSource::Tone))
    }
}

/// Maps media-id-keyed reports to user ids.
pub fn by_user<T: Clone>(
    reports: &HashMap<u64, T>,
    users: &HashMap<u64, String>,
) -> BTreeMap<String, T> {
    reports
        .iter()
        .map(|(id, r)| {
            (
                users
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| format!("media-{id}")),
                r.clone(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::Publish;

    #[test]
    fn parses_publish_specs() {
        let p = Publish::parse("video=testpattern:1280x720@30,audio=tone:440").expect("valid");
        assert_eq!(
            p,
            Publish {
                video: Some((1280, 720, 30.0)),
                textured: false,
                audio: Some(440.0)
            }
        );
        assert!(
            Publish::parse("video=textured:640x360@15")
                .expect("valid")
                .textured
        );
        assert!(Publish::parse("video=camera").is_err());
        assert!(Publish::parse("video=testpattern:axb").is_err());
    }
}
