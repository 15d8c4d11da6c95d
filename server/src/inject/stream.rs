//! An inject of a live RTMP stream: plays it ([`rtmp::play`]) over a blocking TCP connection
//! on the inject's thread, and publishes what arrives as it arrives. An FLV file on the server
//! takes the same path, each tag when its timestamp falls due.
//!
//! - Video: the FLV's AVC configuration says what the stream is. When every receiver decodes
//!   it (no B-frames by its SPS) and no output size or rate was asked for, its access units are
//!   forwarded unchanged ([`VideoSource::Encoded`]); otherwise they are decoded here and
//!   encoded again (at the asked size and rate, with a low layer).
//! - Sound: AAC access units get an ADTS header and go through a pipe to a thread that decodes
//!   them with the media crate's decoder (symphonia, resampled to 48 kHz stereo) and feeds the
//!   Opus encoder at the inject's volume.
//!
//! The participant joins once the first keyframe arrives. A dropped connection is retried
//! with backoff (`recovering`), the participant staying on stage; a stream that never played
//! gives up after [`Backoff::give_up_after`](rtmp::Backoff::give_up_after); a refusal
//! (`StreamNotFound`, a rejected `connect`) fails at once.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use livestage_media::audio::music::Decoded;
use livestage_media::video::file::AvcConfig;
use livestage_media::video::{Access, Decoder, EncodedSender, encoded, file::QUEUE};
use livestage_net::engine::now_us;
use livestage_net::publish::{AudioSender, Video, VideoSource};
use livestage_proto::push::{FailReason, UrlState};
use tracing::{info, warn};

use super::flv_file::FlvFile;
use super::stage::{self, Heard, Pictures, Stage};
use super::{Command, Job, failed};
use crate::rtmp::flv::{self, Asc, AudioIn, VideoIn};
use crate::rtmp::play::{Media, Play};
use crate::rtmp::session::{Decision, Fault, Retry};
use crate::rtmp::{self, Url};

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a read waits, so commands and the engine are looked at in between.
const READ_TIMEOUT: Duration = Duration::from_millis(50);
/// A playing stream that sends nothing for this long is lost.
const STALL: Duration = Duration::from_secs(10);
/// ADTS frames waiting for the sound thread; beyond it new ones are dropped.
const SOUND_QUEUE: usize = 64;
/// Where a looped FLV file's next pass starts after the last tag of the one before.
const FRAME_MS: u64 = 33;
/// The longest jump between an FLV file's tag times that is played as it is.
const MAX_GAP_MS: u64 = 5_000;

/// Plays `url` for `job`; `report` hears each state but the last, which is returned.
pub(super) fn run(
    job: &Job,
    url: &Url,
    commands: &Receiver<Command>,
    report: &impl Fn(UrlState),
) -> UrlState {
    let mut pull = Pull::new(job, url.redacted());
    let last = pull.run(url, commands, report);
    pull.leave();
    last
}

/// Plays the FLV file at `path` for `job` the same way, paced by its timestamps.
pub(super) fn run_file(
    job: &Job,
    path: &Path,
    commands: &Receiver<Command>,
    report: &impl Fn(UrlState),
) -> UrlState {
    let mut pull = Pull::new(job, path.display().to_string());
    let last = pull.play_file(path, commands, report);
    pull.leave();
    last
}

/// Where one inject stands with its stream.
struct Pull<'a> {
    job: &'a Job,
    /// The source, for messages (a URL without its key's query).
    name: String,
    /// The volume as f32 bits, shared with the sound thread.
    volume: Arc<AtomicU32>,
    /// The participant and its feeds, once the first keyframe came.
    live: Option<Live>,
    /// The stream's AAC configuration, once it came.
    asc: Option<Asc>,
    /// The stream's AVC configuration, once it came.
    config: Option<AvcConfig>,
}

/// The participant on stage and what feeds its tracks.
struct Live {
    stage: Stage,
    video: Feed,
    /// ADTS frames to the sound thread (which ends when this is dropped).
    sound: Option<Sender<Vec<u8>>>,
}

/// Where access units go.
enum Feed {
    Forward(EncodedSender),
    Decode(Box<Decoder>, Pictures),
}

/// Why a connection ended.
enum Ended {
    /// The inject is over: this is its final state.
    Done(UrlState),
    /// The connection failed; retry unless it is a refusal.
    Lost(Fault),
}

impl<'a> Pull<'a> {
    fn new(job: &'a Job, name: String) -> Self {
        let volume = f32::from(job.options.volume) / 100.0;
        Self {
            job,
            name,
            volume: Arc::new(AtomicU32::new(volume.to_bits())),
            live: None,
            asc: None,
            config: None,
        }
    }

    fn leave(&mut self) {
        if let Some(live) = self.live.take() {
            live.stage.leave();
        }
    }

    /// Plays an FLV file, each tag when its timestamp falls due; again from the start when
    /// looped (the timeline continuing), until its end, a stop or a kick.
    fn play_file(
        &mut self,
        path: &Path,
        commands: &Receiver<Command>,
        report: &impl Fn(UrlState),
    ) -> UrlState {
        let open = || -> Result<FlvFile<BufReader<File>>, UrlState> {
            let file = File::open(path).map_err(|e| failed(FailReason::NotFound, e.to_string()))?;
            FlvFile::open(BufReader::new(file))
                .map_err(|e| failed(FailReason::Unsupported, e.to_string()))
        };
        let mut flv = match open() {
            Ok(flv) => flv,
            Err(state) => return state,
        };
        let start = Instant::now();
        // Where this pass starts on the timeline, the pass's first tag time, the latest time.
        let (mut base_ms, mut first, mut end_ms) = (0u64, None::<u32>, 0u64);
        let mut running = false;
        loop {
            let media = match flv.next() {
                Ok(Some(media)) => media,
                Ok(None) if self.job.options.looped && first.is_some() => {
                    base_ms = end_ms + FRAME_MS;
                    first = None;
                    flv = match open() {
                        Ok(flv) => flv,
                        Err(state) => return state,
                    };
                    continue;
                }
                Ok(None) => return UrlState::Stopped,
                Err(e) => return failed(FailReason::Unsupported, e.to_string()),
            };
            let ts = match &media {
                Media::Video { ts_ms, .. } | Media::Audio { ts_ms, .. } => *ts_ms,
            };
            let offset = u64::from(ts.saturating_sub(*first.get_or_insert(ts)));
            // A damaged file's absurd jump is cut to a few seconds.
            let at_ms = (base_ms + offset).min(end_ms + MAX_GAP_MS);
            end_ms = end_ms.max(at_ms);
            let due = start + Duration::from_millis(at_ms);
            loop {
                if let Some(state) = self.tend(commands) {
                    return state;
                }
                let left = due.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                std::thread::sleep(left.min(READ_TIMEOUT));
            }
            match self.media(media) {
                Ok(true) if !running => {
                    running = true;
                    report(UrlState::Running);
                }
                Ok(_) => {}
                Err(state) => return state,
            }
        }
    }

    fn run(
        &mut self,
        url: &Url,
        commands: &Receiver<Command>,
        report: &impl Fn(UrlState),
    ) -> UrlState {
        let mut retry = Retry::new(rtmp::Backoff::default(), Instant::now());
        loop {
            let fault = match self.connection(url, commands, report, &mut retry) {
                Ended::Done(state) => return state,
                Ended::Lost(fault) => fault,
            };
            let reason = match fault {
                Fault::Rejected { reason, message } => {
                    let reason = match reason {
                        rtmp::FailReason::NotAllowed => FailReason::NotAllowed,
                        _ => FailReason::Refused,
                    };
                    return failed(reason, message);
                }
                Fault::Transient(reason) => reason,
            };
            let (attempt, delay) = match retry.failed(Instant::now(), rand::random()) {
                Decision::Retry { attempt, delay } => (attempt, delay),
                Decision::GiveUp => {
                    let message = format!("{} never played: {reason}", self.name);
                    return failed(FailReason::Unreachable, message);
                }
            };
            info!(
                inject = self.job.key.1,
                attempt, "the stream was lost: {reason}"
            );
            report(UrlState::Recovering { attempt, reason });
            // Wait out the delay, still obeying commands and following the engine.
            let until = Instant::now() + delay;
            while Instant::now() < until {
                if let Some(state) = self.tend(commands) {
                    return state;
                }
                std::thread::sleep(READ_TIMEOUT);
            }
        }
    }

    /// Commands and the engine; `Some` once the inject is over.
    fn tend(&mut self, commands: &Receiver<Command>) -> Option<UrlState> {
        let mut volume = f32::from_bits(self.volume.load(Ordering::Relaxed));
        let stop = stage::obey(commands, &mut volume);
        self.volume.store(volume.to_bits(), Ordering::Relaxed);
        if stop.is_some() {
            return stop;
        }
        match self.live.as_mut().map(|live| live.stage.follow()) {
            Some(Heard::Gone(state)) => Some(state),
            _ => None,
        }
    }

    /// One connection: connect, play, publish what arrives, until it ends.
    fn connection(
        &mut self,
        url: &Url,
        commands: &Receiver<Command>,
        report: &impl Fn(UrlState),
        retry: &mut Retry,
    ) -> Ended {
        let transient = |e: std::io::Error| Ended::Lost(Fault::Transient(e.to_string()));
        let address = (url.host.as_str(), url.port);
        let addr = match address.to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(addr)) => addr,
            Ok(None) => return Ended::Lost(Fault::Transient("no address".into())),
            Err(e) => return transient(e),
        };
        let mut socket = match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(socket) => socket,
            Err(e) => return transient(e),
        };
        let _ = socket.set_nodelay(true);
        if let Err(e) = socket.set_read_timeout(Some(READ_TIMEOUT)) {
            return transient(e);
        }
        let mut play = match Play::new(url.clone()) {
            Ok(play) => play,
            Err(fault) => return Ended::Lost(fault),
        };
        let mut buf = vec![0u8; 64 * 1024];
        let mut heard = Instant::now();
        // Keyframes since this connection began: `running` is said at the first.
        let mut running = false;
        loop {
            let out = play.poll_transmit();
            if !out.is_empty()
                && let Err(e) = socket.write_all(&out)
            {
                return transient(e);
            }
            if let Some(state) = self.tend(commands) {
                return Ended::Done(state);
            }
            let n = match socket.read(&mut buf) {
                Ok(0) => return Ended::Lost(Fault::Transient("the server closed".into())),
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if heard.elapsed() > STALL {
                        let why = format!("nothing arrived for {STALL:?}");
                        return Ended::Lost(Fault::Transient(why));
                    }
                    continue;
                }
                Err(e) => return transient(e),
            };
            heard = Instant::now();
            let media = match play.handle_input(&buf[..n]) {
                Ok(media) => media,
                Err(fault) => return Ended::Lost(fault),
            };
            for m in media {
                match self.media(m) {
                    Ok(keyframe) if keyframe && !running => {
                        running = true;
                        retry.ran();
                        report(UrlState::Running);
                    }
                    Ok(_) => {}
                    Err(state) => return Ended::Done(state),
                }
            }
        }
    }

    /// One media body; `Ok(true)` for a keyframe that went out.
    fn media(&mut self, media: Media) -> Result<bool, UrlState> {
        match media {
            Media::Video { ts_ms, body } => match flv::parse_video(&body) {
                Ok(VideoIn::AvcConfig(record)) => {
                    let config = AvcConfig::from_record(record)
                        .map_err(|e| failed(FailReason::Unsupported, e.to_string()))?;
                    self.config = Some(config);
                    Ok(false)
                }
                Ok(VideoIn::Avc { data, .. }) => self.video(ts_ms, data),
                Ok(VideoIn::Other) => Ok(false),
                Err(e) => {
                    warn!(inject = self.job.key.1, "a video body is unreadable: {e}");
                    Ok(false)
                }
            },
            Media::Audio { body, .. } => {
                match flv::parse_audio(&body) {
                    Ok(AudioIn::AacConfig(asc)) => match Asc::parse(asc) {
                        Ok(asc) => {
                            self.asc = Some(asc);
                            self.start_sound()?;
                        }
                        Err(e) => warn!(inject = self.job.key.1, "no sound injected: {e}"),
                    },
                    Ok(AudioIn::Aac(unit)) => self.sound(unit),
                    Ok(AudioIn::Other) | Err(_) => {}
                }
                Ok(false)
            }
        }
    }

    /// One access unit; the participant goes on stage at the first keyframe.
    fn video(&mut self, ts_ms: u32, data: &[u8]) -> Result<bool, UrlState> {
        let Some(config) = &self.config else {
            return Ok(false); // Nothing decodes before the configuration.
        };
        let (annex_b, keyframe) = match config.annex_b(data) {
            Ok(unit) => unit,
            Err(e) => {
                warn!(inject = self.job.key.1, "an access unit is unreadable: {e}");
                return Ok(false);
            }
        };
        if self.live.is_none() {
            if !keyframe {
                return Ok(false);
            }
            self.live = Some(self.go_live()?);
            self.start_sound()?;
        }
        let Some(live) = &mut self.live else {
            return Ok(false);
        };
        let capture_us = now_us();
        match &mut live.video {
            Feed::Forward(sender) => sender.offer(Access {
                data: annex_b,
                keyframe,
                capture_us,
                pts_us: u64::from(ts_ms) * 1000,
            }),
            Feed::Decode(decoder, pictures) => match decoder.decode(&annex_b) {
                Ok(Some(picture)) => pictures.offer(picture, capture_us),
                Ok(None) => {}
                Err(e) => warn!(inject = self.job.key.1, "a frame did not decode: {e}"),
            },
        }
        Ok(keyframe)
    }

    /// Joins and starts publishing, forwarding or re-encoding as the stream allows.
    fn go_live(&self) -> Result<Live, UrlState> {
        let Some(config) = &self.config else {
            return Err(failed(FailReason::Internal, "no configuration".into()));
        };
        let info = config.stream_info();
        info.decodable()
            .map_err(|e| failed(FailReason::Unsupported, e.to_string()))?;
        let options = &self.job.options;
        let forward = !options.reencodes() && info.forwardable().is_ok();
        let internal = |e: String| failed(FailReason::Internal, e);
        let (mut video, feed) = if forward {
            let (sender, source) = encoded(QUEUE);
            (
                Video::new(VideoSource::Encoded(source), info.fps),
                Feed::Forward(sender),
            )
        } else {
            let size = options.size.unwrap_or((info.width, info.height));
            let fps = options.fps.map_or(info.fps, f32::from);
            let (custom, pictures) = Pictures::new(size).map_err(internal)?;
            let decoder = Decoder::reordering().map_err(|e| internal(e.to_string()))?;
            let mut video = Video::new(VideoSource::Custom(custom), fps);
            video.dual = true;
            (video, Feed::Decode(Box::new(decoder), pictures))
        };
        video.track = stage::video_track();
        // A stream's sound may start after its first keyframe: the grant is there for it.
        let mut stage = Stage::join(self.job, true)?;
        stage.publish(Some(video), None)?;
        info!(inject = self.job.key.1, forward, "the stream is live");
        Ok(Live {
            stage,
            video: feed,
            sound: None,
        })
    }

    /// Publishes the sound track once the participant is on stage and the stream's AAC
    /// configuration is known (whichever comes last); once only.
    fn start_sound(&mut self) -> Result<(), UrlState> {
        let (Some(asc), Some(live)) = (self.asc, &mut self.live) else {
            return Ok(());
        };
        if live.sound.is_some() {
            return Ok(());
        }
        let internal = |e: String| failed(FailReason::Internal, e);
        let (audio, sender) = stage::sound_track().map_err(|e| internal(format!("{e:#}")))?;
        let pipe = spawn_sound(asc, sender, self.volume.clone(), self.name.clone())
            .map_err(|e| internal(e.to_string()))?;
        live.stage.publish(None, Some(audio))?;
        live.sound = Some(pipe);
        Ok(())
    }

    /// One raw AAC access unit to the sound thread, as an ADTS frame.
    fn sound(&mut self, unit: &[u8]) {
        let (Some(asc), Some(live)) = (self.asc, &self.live) else {
            return;
        };
        let Some(pipe) = &live.sound else {
            return;
        };
        let mut frame = Vec::with_capacity(unit.len() + 7);
        frame.extend_from_slice(&asc.adts_header(unit.len()));
        frame.extend_from_slice(unit);
        let _ = pipe.try_send(frame);
    }
}

/// Starts the thread that decodes ADTS frames from the returned pipe and feeds `sender` at
/// `volume`; it ends when the pipe's sender is dropped.
fn spawn_sound(
    asc: Asc,
    mut sender: AudioSender,
    volume: Arc<AtomicU32>,
    name: String,
) -> std::io::Result<Sender<Vec<u8>>> {
    let (tx, rx) = crossbeam_channel::bounded(SOUND_QUEUE);
    std::thread::Builder::new()
        .name("livestage-inject-sound".into())
        .spawn(move || {
            let pipe = Box::new(Pipe {
                frames: rx,
                current: Vec::new(),
                at: 0,
            });
            let mut decoded = match Decoded::from_stream(pipe, "aac", &name) {
                Ok(decoded) => decoded,
                Err(e) => {
                    warn!("the inject's sound cannot be decoded ({asc:?}): {e}");
                    return;
                }
            };
            let mut block = Vec::new();
            loop {
                block.clear();
                match decoded.read(&mut block, 960) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e) => {
                        warn!("the inject's sound stopped: {e}");
                        return;
                    }
                }
                let gain = f32::from_bits(volume.load(Ordering::Relaxed));
                for s in &mut block {
                    *s *= gain;
                }
                sender.push(&block);
            }
        })?;
    Ok(tx)
}

/// ADTS frames read as one byte stream; the end once the sender is gone.
struct Pipe {
    frames: Receiver<Vec<u8>>,
    current: Vec<u8>,
    at: usize,
}

impl Read for Pipe {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.current.len() {
            match self.frames.recv() {
                Ok(frame) => (self.current, self.at) = (frame, 0),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len() - self.at);
        out[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
