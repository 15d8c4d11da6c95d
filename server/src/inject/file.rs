//! An inject of a file on the server: its video is forwarded as the file holds it when every
//! receiver decodes it (no encoder at all), and decoded and encoded again otherwise, or when an
//! output size or frame rate is asked for (then scaled to that size and sent with a low
//! layer). Its sound is decoded by the media crate's music player (AAC, MP3, Opus, ... at any
//! rate, resampled to 48 kHz), paced by a 20 ms clock, and encoded as Opus. It plays until
//! the file ends (played once), the participant is removed, or it is stopped.

use std::path::Path;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use livestage_media::audio::music::{
    self, BLOCK_LEN, Loops, MusicOptions, MusicPlayer, MusicState,
};
use livestage_media::video::FileSource;
use livestage_media::video::file::{self, Demuxer, FileError, Mode};
use livestage_net::publish::{AudioSender, Video, VideoSource};
use livestage_proto::inject::Options;
use livestage_proto::push::{FailReason, UrlState};
use tracing::{info, warn};

use super::stage::{self, Heard, Pictures, Stage};
use super::{Command, Job, failed};

/// The audio clock's tick: one 20 ms block of 48 kHz stereo.
const TICK: Duration = Duration::from_millis(20);
/// Blocks caught up at most after the thread was late, so a long stall is skipped, not
/// burst out.
const CATCH_UP: u64 = 5;

/// Plays `path` for `job`; `report` hears each state but the last, which is returned.
pub(super) fn run(
    job: &Job,
    path: &Path,
    commands: &Receiver<Command>,
    report: &impl Fn(UrlState),
) -> UrlState {
    let started = Played::start(job, path);
    match started {
        Ok(played) => {
            report(UrlState::Running);
            played.run(commands, f32::from(job.options.volume) / 100.0)
        }
        Err(state) => state,
    }
}

/// Decoded pictures on their way to the encoder (re-encoding only).
struct Reencode {
    file: FileSource,
    pictures: Pictures,
}

/// The file's sound on its way to the encoder.
struct Sound {
    player: MusicPlayer,
    states: Receiver<MusicState>,
    sender: AudioSender,
    done: bool,
}

struct Played {
    stage: Stage,
    reencode: Option<Reencode>,
    sound: Option<Sound>,
    video_done: bool,
}

impl Played {
    /// Opens the file, joins and starts publishing; a failure is the inject's final state.
    fn start(job: &Job, path: &Path) -> Result<Self, UrlState> {
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
        let mut stage = Stage::join(job, has_sound)?;
        let (video, reencode) =
            video(demuxer, &job.options).map_err(|e| failed(FailReason::Unsupported, e))?;
        let (audio, sound) = if has_sound {
            let internal = |e: anyhow::Error| failed(FailReason::Internal, format!("{e:#}"));
            let (audio, sound) = sound(&location, job.options.looped).map_err(internal)?;
            (Some(audio), Some(sound))
        } else {
            (None, None)
        };
        stage.publish(Some(video), audio)?;
        Ok(Self {
            stage,
            reencode,
            sound,
            video_done: false,
        })
    }

    /// Plays until the end, a stop or the participant's removal; returns the final state.
    fn run(mut self, commands: &Receiver<Command>, mut volume: f32) -> UrlState {
        let start = Instant::now();
        let mut ticks: u64 = 0;
        let last = loop {
            if let Some(state) = stage::obey(commands, &mut volume) {
                break state;
            }
            match self.stage.follow() {
                Heard::Gone(state) => break state,
                Heard::VideoEnded => self.video_done = true,
                Heard::Nothing => {}
            }
            let due = (start.elapsed().as_millis() / TICK.as_millis()) as u64;
            for _ in 0..due.saturating_sub(ticks).min(CATCH_UP) {
                self.feed_sound(volume);
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
        self.stage.leave();
        last
    }

    /// One 20 ms block of sound, at `volume`.
    fn feed_sound(&mut self, volume: f32) {
        let Some(sound) = &mut self.sound else {
            return;
        };
        while let Ok(state) = sound.states.try_recv() {
            match state {
                MusicState::Completed | MusicState::Stopped => sound.done = true,
                MusicState::Failed(e) => {
                    warn!("the inject's sound stopped: {e}");
                    sound.done = true;
                }
                MusicState::Playing | MusicState::Paused => {}
            }
        }
        let mut block = [0.0; BLOCK_LEN];
        if sound.player.next_block(&mut block) {
            for s in &mut block {
                *s *= volume;
            }
            sound.sender.push(&block);
        } else if sound.player.is_finished() {
            sound.done = true;
        }
    }

    /// The newest decoded picture to the encoder (re-encoding only).
    fn feed_video(&mut self) {
        let Some(re) = &mut self.reencode else {
            return;
        };
        if let Some((frame, capture_us)) = re.file.latest() {
            re.pictures.offer(frame, capture_us);
        }
        match re.file.ended() {
            None => {}
            Some(FileError::Ended) => self.video_done = true,
            Some(e) => {
                warn!("the inject's video stopped: {e}");
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
    let (own_fps, own_size) = (info.fps, (info.width, info.height));
    let looped = options.looped;
    if !options.reencodes() {
        let source = VideoSource::File {
            demuxer,
            options: file::Options {
                looped,
                mode: Mode::Auto,
            },
        };
        return Ok((
            Video::new(source, own_fps).as_track(stage::video_track()),
            None,
        ));
    }
    let fps = options.fps.map_or(own_fps, f32::from);
    let mode = Mode::Decode;
    let file =
        FileSource::new(demuxer, file::Options { looped, mode }).map_err(|e| e.to_string())?;
    let (custom, pictures) = Pictures::new(options.size.unwrap_or(own_size))?;
    let mut video = Video::new(VideoSource::Custom(custom), fps).as_track(stage::video_track());
    video.dual = true;
    Ok((video, Some(Reencode { file, pictures })))
}

/// The sound track and the player that feeds it.
fn sound(location: &str, looped: bool) -> anyhow::Result<(livestage_net::publish::Audio, Sound)> {
    let (audio, sender) = stage::sound_track()?;
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
