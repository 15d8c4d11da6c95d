//! One inject, on its own thread: opens the file, joins the channel as the host
//! `inject-<name>` and publishes its video and sound as two tracks of source `inject`, paced in
//! real time; follows volume changes and stop requests until the file ends (played once),
//! the participant is removed (a moderator kicked it) or it is stopped.
//!
//! Video is forwarded as the file holds it when every receiver decodes it (no encoder at all),
//! and decoded and encoded again otherwise, or when an output size or frame rate is asked for
//! (then scaled to that size and sent with a low layer). Sound is decoded by the media crate's
//! music decoder (AAC, MP3, Opus, ... at any rate, resampled to 48 kHz) and encoded as Opus.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};
use livestage_media::audio::Format;
use livestage_media::audio::music::{
    self, BLOCK_LEN, Loops, MusicOptions, MusicPlayer, MusicState,
};
use livestage_media::video::file::{self, Demuxer, FileError, Mode};
use livestage_media::video::{CustomSender, CustomSource, FileSource, Scaler};
use livestage_net::Engine;
use livestage_net::engine::{ConnectionState, EventKind};
use livestage_net::publish::{
    Audio, AudioSender, AudioSource, CustomAudio, Publisher, Video, VideoSource,
};
use livestage_proto::inject::{self, Options};
use livestage_proto::push::{FailReason, UrlState};
use livestage_proto::track::{CAMERA, Kind, MICROPHONE, Source as TrackSource, Track};
use livestage_proto::wire::Role;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::{Command, Key, Report, Source, failed};
use crate::loopback::{self, JoinError};
use crate::push::Context;

/// The audio clock's tick: one 20 ms block of 48 kHz stereo.
const TICK: Duration = Duration::from_millis(20);
/// Blocks caught up at most after the thread was late, so a long stall is skipped, not
/// burst out.
const CATCH_UP: u32 = 5;

/// Everything one inject needs to start.
pub(super) struct Job {
    pub ctx: Context,
    pub key: Key,
    pub run: u64,
    pub source: Source,
    pub options: Options,
}

/// Starts the thread of `job`; its states go to `reports`, the last one final.
pub(super) fn spawn(
    job: Job,
    commands: Receiver<Command>,
    reports: mpsc::UnboundedSender<Report>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(format!("livestage-inject-{}", job.run))
        .spawn(move || {
            let report = |state| {
                let _ = reports.send(Report {
                    key: job.key.clone(),
                    run: job.run,
                    state,
                });
            };
            report(UrlState::Connecting);
            let last = match Worker::start(&job) {
                Ok(worker) => {
                    report(UrlState::Running);
                    worker.run(&commands)
                }
                Err(state) => state,
            };
            report(last);
        })
        .map(drop)
}

/// Decoded pictures scaled to the asked size on their way to the encoder.
struct Reencode {
    file: FileSource,
    sender: CustomSender,
    scaler: Scaler,
}

/// The file's sound on its way to the encoder, at the inject's volume.
struct Sound {
    player: MusicPlayer,
    states: Receiver<MusicState>,
    sender: AudioSender,
    done: bool,
}

struct Worker {
    engine: Arc<Engine>,
    channel: String,
    publisher: Option<Publisher>,
    reencode: Option<Reencode>,
    sound: Option<Sound>,
    volume: f32,
    video_done: bool,
}

impl Worker {
    /// Opens the source, joins and starts publishing; a failure is the inject's final state.
    fn start(job: &Job) -> Result<Self, UrlState> {
        let Source::File(path) = &job.source;
        let demuxer = open_video(path)?;
        let location = path.to_string_lossy().into_owned();
        // A file without (playable) sound is injected as video only.
        let has_sound = match music::Decoded::open(&music::Location::parse(&location)) {
            Ok(_) => true,
            Err(e) => {
                info!(inject = job.key.1, "no sound injected: {e}");
                false
            }
        };
        let (channel, name) = (&job.key.0, &job.key.1);
        let user = inject::user_of(name);
        let grants = if has_sound {
            "join,publish-audio,publish-video"
        } else {
            "join,publish-video"
        };
        let (engine, _) =
            loopback::join(&job.ctx, channel, &user, grants, Role::Host).map_err(|e| match e {
                JoinError::Refused(e) => failed(FailReason::Refused, format!("{user}: {e}")),
                JoinError::Failed(why) => failed(FailReason::Internal, why),
            })?;
        let internal = |e: anyhow::Error| failed(FailReason::Internal, format!("{e:#}"));
        let (video, reencode) =
            video(demuxer, &job.options).map_err(|e| failed(FailReason::Unsupported, e))?;
        let (audio, sound) = if has_sound {
            let (audio, sound) = sound(&location, job.options.looped).map_err(internal)?;
            (Some(audio), Some(sound))
        } else {
            (None, None)
        };
        let publisher =
            Publisher::start_with(engine.clone(), channel, Some(video), audio).map_err(internal)?;
        Ok(Self {
            engine,
            channel: channel.clone(),
            publisher: Some(publisher),
            reencode,
            sound,
            volume: f32::from(job.options.volume) / 100.0,
            video_done: false,
        })
    }

    /// Plays until the end, a stop or the participant's removal; returns the final state.
    fn run(mut self, commands: &Receiver<Command>) -> UrlState {
        let start = Instant::now();
        let mut ticks: u64 = 0;
        let last = loop {
            match commands.try_recv() {
                Ok(Command::Volume(volume)) => self.volume = f32::from(volume) / 100.0,
                // The manager is gone (the server is stopping) or asked to stop.
                Ok(Command::Stop) | Err(TryRecvError::Disconnected) => break UrlState::Stopped,
                Err(TryRecvError::Empty) => {}
            }
            if let Some(state) = self.follow_engine() {
                break state;
            }
            let due = (start.elapsed().as_millis() / TICK.as_millis()) as u64;
            let late = due.saturating_sub(ticks);
            for _ in 0..late.min(u64::from(CATCH_UP)) {
                self.feed_sound();
            }
            ticks = due;
            self.feed_video();
            let sound_done = self.sound.as_ref().is_none_or(|s| s.done);
            if self.video_done && sound_done {
                break UrlState::Stopped;
            }
            let next = start + TICK * u32::try_from(ticks + 1).unwrap_or(u32::MAX);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        };
        if let Some(publisher) = self.publisher.take()
            && let Err(e) = publisher.stop()
        {
            warn!(
                channel = self.channel,
                "the inject's publisher stopped with: {e:#}"
            );
        }
        self.engine.leave(&self.channel);
        last
    }

    /// Hands the engine's events to the publisher; the final state once the participant is
    /// out of the channel.
    fn follow_engine(&mut self) -> Option<UrlState> {
        while let Ok(event) = self.engine.events().try_recv() {
            if let Some(publisher) = &self.publisher {
                publisher.handle(&event.kind);
            }
            match event.kind {
                EventKind::TrackEnded { track: CAMERA, .. } => self.video_done = true,
                EventKind::State {
                    state: ConnectionState::Disconnected,
                    error,
                } => {
                    let why = error.map_or_else(|| "disconnected".to_owned(), |e| e.to_string());
                    let message = format!("the inject's participant left the channel: {why}");
                    return Some(failed(FailReason::Refused, message));
                }
                _ => {}
            }
        }
        None
    }

    /// One 20 ms block of sound, at the volume.
    fn feed_sound(&mut self) {
        let Some(sound) = &mut self.sound else {
            return;
        };
        while let Ok(state) = sound.states.try_recv() {
            match state {
                MusicState::Completed | MusicState::Stopped => sound.done = true,
                MusicState::Failed(e) => {
                    warn!(channel = self.channel, "the inject's sound stopped: {e}");
                    sound.done = true;
                }
                MusicState::Playing | MusicState::Paused => {}
            }
        }
        let mut block = [0.0; BLOCK_LEN];
        if sound.player.next_block(&mut block) {
            for s in &mut block {
                *s *= self.volume;
            }
            sound.sender.push(&block);
        } else if sound.player.is_finished() {
            sound.done = true;
        }
    }

    /// The newest decoded picture, scaled, to the encoder (re-encoding only).
    fn feed_video(&mut self) {
        let Some(re) = &mut self.reencode else {
            return;
        };
        if let Some((frame, capture_us)) = re.file.latest() {
            let (w, h) = re.sender.size();
            let scaled = if frame.size() == (w, h) {
                Ok(frame)
            } else {
                re.scaler.scale(&frame, w, h)
            };
            match scaled {
                Ok(picture) => {
                    let _ = re.sender.push_i420(picture, capture_us);
                }
                Err(e) => warn!(channel = self.channel, "cannot scale the inject: {e}"),
            }
        }
        match re.file.ended() {
            None => {}
            Some(FileError::Ended) => self.video_done = true,
            Some(e) => {
                warn!(channel = self.channel, "the inject's video stopped: {e}");
                self.video_done = true;
            }
        }
    }
}

/// Opens the file's video, or says why it cannot be played.
fn open_video(path: &Path) -> Result<Demuxer, UrlState> {
    let unsupported = |e: FileError| failed(FailReason::Unsupported, e.to_string());
    let demuxer = Demuxer::open(path).map_err(unsupported)?;
    demuxer.info().decodable().map_err(unsupported)?;
    Ok(demuxer)
}

/// The video track: the file forwarded (or decoded by the publisher) as it is, or decoded
/// here and scaled for the asked size and rate.
fn video(demuxer: Demuxer, options: &Options) -> Result<(Video, Option<Reencode>), String> {
    let info = demuxer.info();
    let own_fps = info.fps;
    let own_size = (info.width, info.height);
    let mut track = Track::new(CAMERA, Kind::Video, TrackSource::Inject);
    track.name = "inject".into();
    let looped = options.looped;
    if !options.reencodes() {
        let source = VideoSource::File {
            demuxer,
            options: file::Options {
                looped,
                mode: Mode::Auto,
            },
        };
        return Ok((Video::new(source, own_fps).as_track(track), None));
    }
    let (width, height) = options.size.unwrap_or(own_size);
    let fps = options.fps.map_or(own_fps, f32::from);
    let file = FileSource::new(
        demuxer,
        file::Options {
            looped,
            mode: Mode::Decode,
        },
    )
    .map_err(|e| e.to_string())?;
    let (custom, sender) = CustomSource::new(width, height).map_err(|e| e.to_string())?;
    let mut video = Video::new(VideoSource::Custom(custom), fps).as_track(track);
    video.dual = true;
    let reencode = Reencode {
        file,
        sender,
        scaler: Scaler::new(),
    };
    Ok((video, Some(reencode)))
}

/// The sound track and the player that feeds it.
fn sound(location: &str, looped: bool) -> anyhow::Result<(Audio, Sound)> {
    let (custom, sender) = CustomAudio::new(Format::STEREO_48K)?;
    let mut audio = Audio::new(AudioSource::Custom(custom));
    audio.track = Track::new(MICROPHONE, Kind::Audio, TrackSource::Inject);
    audio.track.name = "inject".into();
    let options = MusicOptions {
        loops: if looped {
            Loops::Forever
        } else {
            Loops::Count(1)
        },
        ..MusicOptions::default()
    };
    let (states_tx, states) = crossbeam_channel::bounded(16);
    let player = MusicPlayer::start(location, options, states_tx)?;
    let sound = Sound {
        player,
        states,
        sender,
        done: false,
    };
    Ok((audio, sound))
}
