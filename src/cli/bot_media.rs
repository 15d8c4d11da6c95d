//! The bot's received media: verifying what arrives per publisher track (frame order,
//! glass-to-glass latency from the burned-in capture stamp, tone frequency), keeping each video
//! track's last picture for `--snapshot`. Voice plays out every 20 ms through the same
//! [`RemoteVoice`] as a real client (jitter buffer, FEC and DRED recovery, concealment).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use livestage_media::audio::jitter::Arrival;
use livestage_media::audio::remote::{Counts, Outcome};
use livestage_media::audio::{self, RemoteVoice, dominant_frequency};
use livestage_media::video::{self, I420, read_stamp};
pub use livestage_net::engine::now_us;
use livestage_net::{Engine, MediaEvent, MediaKind};
use livestage_proto::media::Layer;
use livestage_proto::track::TrackId;
use livestage_proto::wire::{Participant, Request};
use serde::Serialize;

use super::bot_moderate::Requests;

/// What arrived from one publisher's video.
#[derive(Serialize, Default, Clone)]
pub struct VideoReport {
    /// Frames decoded (stamped or not).
    pub frames: u64,
    /// Glass-to-glass latency: capture stamp to decoded frame.
    pub latency_ms: Percentiles,
    /// From join to the first decoded frame.
    pub first_frame_ms: Option<u64>,
    /// Frames the decoder refused.
    pub decode_errors: u64,
    /// Decoded frame numbers only ever increased: the stamp's number, or the wire's for a
    /// picture without a stamp (a screen share, a still, a file).
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

/// What arrived from one publisher's audio, played out as a client plays it.
#[derive(Serialize, Default, Clone)]
pub struct AudioReport {
    /// Packets received (each frame once, however many copies came).
    pub frames: u64,
    /// Frames played from their own packet.
    pub played: u64,
    /// Frames lost on the way and rebuilt from a later packet (FEC or DRED).
    pub recovered: u64,
    /// Of those, rebuilt from DRED.
    pub dred: u64,
    /// Frames lost beyond recovery, concealed (not counting the slots after the sender's
    /// last packet).
    pub concealed: u64,
    /// Frames the sender sent from the first to the last packet that arrived here.
    pub sent: u64,
    /// Share of those heard (played or recovered), `0..=1`: frames never played out (while
    /// playout waited to buffer again) count as not heard.
    pub heard: f64,
    /// Voice received, all copies counted, kbit/s of Opus payload from the first packet to
    /// the last.
    pub kbps: f64,
    /// Copies of packets already received (the redundancy that arrived twice).
    pub duplicates: u64,
    /// Packets the decoder refused.
    pub decode_errors: u64,
    /// Mouth to ear: the capture timestamp in the packet header to the moment the jitter
    /// buffer hands the frame to the mixer (for a rebuilt frame, the later packet's stamp less
    /// the frames between), in milliseconds. Not a stamp read from the sound itself.
    pub latency_ms: Percentiles,
    /// The jitter buffer's delay at the end, milliseconds.
    pub delay_ms: u64,
    /// Frames the jitter buffer dropped to shrink its delay, over the whole run (never
    /// played: not heard).
    pub skipped: u64,
    /// Times playout stopped with nothing to play and buffered again, over the whole run.
    pub rebuffers: u64,
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
    voice: RemoteVoice,
    stream: u32,
    /// First and last sequence number of the current stream, and the frames sent in the
    /// streams before it.
    seqs: Option<(u32, u32)>,
    sent_before: u64,
    /// The current voice's counts when counting (re)started.
    offset: Counts,
    /// Payload bytes received (copies included), and when the first and last packet came.
    bytes: u64,
    arrivals: Option<(u64, u64)>,
    /// Counts of the streams before the current one.
    before: Counts,
    latencies: Vec<f64>,
    tail: Vec<f32>,
    report: AudioReport,
}

/// The bot's playout delay target, as a client's default.
const JITTER_MS: u64 = 60;

impl AudioState {
    fn new(stream: u32) -> Option<Self> {
        Some(Self {
            voice: RemoteVoice::new(audio::Format::MONO_48K, JITTER_MS).ok()?,
            stream,
            seqs: None,
            sent_before: 0,
            offset: Counts::default(),
            bytes: 0,
            arrivals: None,
            before: Counts::default(),
            latencies: Vec::new(),
            tail: Vec::new(),
            report: AudioReport::default(),
        })
    }

    /// One 20 ms slot of playout.
    fn tick(&mut self, now_ms: u64) {
        let Some(frame) = self.voice.pop(now_ms) else {
            return;
        };
        if frame.outcome != Outcome::Stretched
            && let Some(capture) = frame.capture_us
        {
            self.latencies
                .push(now_us().saturating_sub(capture) as f64 / 1000.0);
        }
        self.tail.extend_from_slice(&frame.samples);
        // Keep the last second for the frequency check.
        if self.tail.len() > 48_000 {
            self.tail.drain(..self.tail.len() - 48_000);
        }
    }

    /// Counts from now on: what played so far is forgotten, and the frames sent are counted
    /// from the next slot to play.
    fn restart_counts(&mut self) {
        self.offset = self.voice.counts();
        self.before = Counts::default();
        self.sent_before = 0;
        self.bytes = 0;
        self.arrivals = None;
        self.latencies.clear();
        self.report.frames = 0;
        self.report.duplicates = 0;
        if let Some((_, last)) = self.seqs {
            let next = self
                .voice
                .jitter()
                .last_popped()
                .map_or(last, |s| s.wrapping_add(1));
            self.seqs = Some((next, last));
        }
    }

    /// Frames sent in the current stream from the first packet seen to the last.
    fn sent_now(&self) -> u64 {
        self.seqs
            .map_or(0, |(first, last)| u64::from(last.wrapping_sub(first)) + 1)
    }

    /// Notes packet `seq` of `payload_len` bytes arriving at `now_ms`.
    fn count(&mut self, seq: u32, payload_len: usize, now_ms: u64) {
        self.bytes += payload_len as u64;
        let first = self.arrivals.map_or(now_ms, |(first, _)| first);
        self.arrivals = Some((first, now_ms));
        self.seqs = Some(match self.seqs {
            None => (seq, seq),
            // Ahead of the last (within half the sequence space): the new last.
            Some((first, last)) if seq.wrapping_sub(last) < u32::MAX / 2 => (first, seq),
            Some(seqs) => seqs,
        });
    }

    fn finish(mut self) -> AudioReport {
        let mut all = self.before + (self.voice.counts() - self.offset);
        // The sender stopped: the slots played out after its last packet were not lost.
        all.concealed = all.concealed.saturating_sub(self.voice.trailing_missing());
        let sent = self.sent_before + self.sent_now();
        let r = &mut self.report;
        r.played = all.played;
        r.recovered = all.fec + all.dred;
        r.dred = all.dred;
        r.concealed = all.concealed;
        r.sent = sent;
        r.heard = all.heard() as f64 / r.sent.max(1) as f64;
        if let Some((first, last)) = self.arrivals.filter(|(f, l)| l > f) {
            r.kbps = self.bytes as f64 * 8.0 / (last - first) as f64;
        }
        r.decode_errors = all.decode_errors;
        r.delay_ms = self.voice.jitter().delay_ms();
        let jitter = self.voice.jitter().stats();
        (r.skipped, r.rebuffers) = (jitter.skipped, jitter.rebuffers);
        r.latency_ms = Percentiles::of(self.latencies);
        r.tone_hz = dominant_frequency(&self.tail, 48_000);
        r.peaks_hz = audio::spectrum::peaks(&self.tail, 48_000, 4);
        self.report
    }
}

/// Verifies incoming media on a thread; [`Verifier::finish`] returns reports by track.
pub struct Verifier {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Received>,
}

impl Verifier {
    /// Starts verifying; `joined` is when the join began (for first-frame time). Decode
    /// errors ask the publisher for a keyframe, so the stream recovers quickly; those requests
    /// go through `requests`, which numbers everything the bot sends.
    /// Voice is counted from `measure_from` on.
    pub fn start(
        engine: Arc<Engine>,
        requests: Arc<Requests>,
        joined: Instant,
        measure_from: Instant,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut videos: HashMap<TrackKey, VideoState> = HashMap::new();
            let mut audios: HashMap<TrackKey, AudioState> = HashMap::new();
            let clock = Instant::now();
            let mut slots = 0u64;
            let mut measuring = false;
            while !flag.load(Ordering::Relaxed) {
                if !measuring && Instant::now() >= measure_from {
                    measuring = true;
                    audios.values_mut().for_each(AudioState::restart_counts);
                }
                // Voice plays out on a 20 ms clock, as a client's does.
                let due = Duration::from_millis(20 * (slots + 1));
                let now = clock.elapsed();
                if now >= due {
                    slots += 1;
                    let now_ms = now.as_millis() as u64;
                    audios.values_mut().for_each(|a| a.tick(now_ms));
                    continue;
                }
                let Ok(event) = engine.media().recv_timeout(due - now) else {
                    continue;
                };
                let key = (event.media_id, event.track);
                let now_ms = clock.elapsed().as_millis() as u64;
                if let Some(layer) = on_media(event, joined, now_ms, &mut videos, &mut audios) {
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
                .map(|(key, a)| (key, a.finish()))
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
    now_ms: u64,
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
                // A decoder starts at a keyframe: the frames before it (joined mid-GOP) have
                // nothing to refer to, so they are skipped, not counted as decode errors, and
                // a keyframe is asked for.
                if !header.keyframe {
                    return Some(header.layer);
                }
                v.decoder = video::Decoder::new().ok();
            }
            let decoder = v.decoder.as_mut()?;
            match decoder.decode(&data) {
                Ok(Some(frame)) => {
                    let stamp = read_stamp(&frame);
                    v.picture = Some(frame);
                    v.report.frames += 1;
                    v.report
                        .first_frame_ms
                        .get_or_insert(joined.elapsed().as_millis() as u64);
                    // A picture without a stamp (a screen share, a file) is not timed, and its
                    // order is the wire's frame numbers.
                    let number = match stamp {
                        Some(stamp) => {
                            let latency_ms =
                                now_us().saturating_sub(stamp.capture_us) as f64 / 1000.0;
                            v.latencies.push(latency_ms);
                            stamp.frame_number
                        }
                        None => header.frame,
                    };
                    match v.last {
                        Some(last) if number <= last => v.report.in_order = false,
                        Some(last) => v.report.skipped += number - last - 1,
                        None => v.report.in_order = true,
                    }
                    v.last = Some(number.max(v.last.unwrap_or(0)));
                }
                Ok(None) => {}
                Err(_) => {
                    v.report.decode_errors += 1;
                    return Some(header.layer);
                }
            }
            None
        }
        MediaKind::Audio {
            stream,
            seq,
            capture_us,
            payload,
        } => {
            let a = match audios.entry(key) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(AudioState::new(stream)?),
            };
            if a.stream != stream {
                // A new publication numbers its frames from 0 again: a fresh voice.
                let fresh = RemoteVoice::new(audio::Format::MONO_48K, JITTER_MS).ok()?;
                let old = std::mem::replace(&mut a.voice, fresh).counts();
                a.before += old - std::mem::take(&mut a.offset);
                a.sent_before += a.sent_now();
                a.seqs = None;
                a.stream = stream;
            }
            a.count(seq, payload.len(), now_ms);
            match a.voice.push(seq, payload.to_vec(), capture_us, now_ms) {
                Arrival::Buffered => a.report.frames += 1,
                Arrival::Duplicate => a.report.duplicates += 1,
                Arrival::Late => {}
            }
            None
        }
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
