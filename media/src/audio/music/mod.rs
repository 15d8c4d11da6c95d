//! Music under the microphone (online KTV, a class's backing track, a narrator's ambience):
//! a file or an `http(s)://` stream decoded ahead of time on a worker thread and handed to the
//! audio clock in 20 ms blocks through a lock-free ring, so the audio path only reads ready
//! samples. Loops, a start position, pause, resume, seek, pitch (semitones) and speed, with
//! state events.
//!
//! Files: `source.rs` opens paths and URLs, `decode.rs` turns them into 48 kHz stereo
//! (symphonia, rubato), `worker.rs` runs ahead (loops, seeks, signalsmith-stretch for pitch
//! and speed) and this file is the [`MusicPlayer`] the clock reads. [`LocalMix`](super::LocalMix)
//! owns the player and sends the music to the channel and to the local speakers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::Sender;

mod decode;
mod source;
mod worker;

pub use decode::{CHANNELS, Decoded, RATE, decode_all};
pub use source::Location;

/// Samples in one 20 ms block of 48 kHz stereo.
pub const BLOCK_LEN: usize = 960 * CHANNELS;
/// Blocks decoded ahead of the clock (400 ms): enough to ride out a slow read, short enough
/// that a seek or a pitch change is heard soon.
pub const AHEAD: usize = 20;

/// Pitch shifts accepted, in semitones.
pub const PITCH: std::ops::RangeInclusive<f32> = -12.0..=12.0;
/// Playback speeds accepted (1.0 is normal).
pub const SPEED: std::ops::RangeInclusive<f32> = 0.5..=4.0;
/// Volumes accepted (1.0 is the file as it is).
pub const VOLUME: std::ops::RangeInclusive<f32> = 0.0..=1.0;

/// Why music (or an effect) could not play.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MusicError {
    /// No such file, or the server answered 404.
    #[error("not found: {0}")]
    NotFound(String),
    /// Not audio, or a container or codec that is not supported.
    #[error("unsupported format: {0}")]
    Unsupported(String),
    /// The stream broke mid-file (truncated file, bad data, a dropped connection).
    #[error("decode error: {0}")]
    Decode(String),
    /// The file or URL could not be read.
    #[error("cannot read: {0}")]
    Io(String),
    /// The source cannot seek there (a stream whose server takes no range requests).
    #[error("cannot seek: {0}")]
    Seek(String),
    /// A sound effect longer than the limit.
    #[error("longer than {0} s, too long for a sound effect; play it as music")]
    TooLong(u32),
    /// An option outside its range, an unknown effect id.
    #[error("{0}")]
    InvalidArgument(String),
}

impl MusicError {
    /// The product error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "file_not_found",
            Self::Unsupported(_) => "unsupported_format",
            Self::Decode(_) => "decode_error",
            Self::Io(_) => "io_error",
            Self::Seek(_) => "seek_failed",
            Self::TooLong(_) => "too_long",
            Self::InvalidArgument(_) => "invalid_argument",
        }
    }
}

/// How many times to play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loops {
    /// This many times in all (at least once).
    Count(u32),
    /// Until stopped.
    Forever,
}

/// How to play music.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MusicOptions {
    /// How many times.
    pub loops: Loops,
    /// Where the first play starts, in milliseconds (later loops start at 0).
    pub start_ms: u64,
    /// Pitch shift in semitones ([`PITCH`]); the speed is unchanged.
    pub pitch: f32,
    /// Playback speed ([`SPEED`]); the pitch is unchanged.
    pub speed: f32,
    /// How loud the channel hears it ([`VOLUME`]).
    pub publish_volume: f32,
    /// How loud this player hears it ([`VOLUME`]).
    pub local_volume: f32,
    /// Only this player hears it; nothing is sent.
    pub local_only: bool,
}

impl Default for MusicOptions {
    fn default() -> Self {
        Self {
            loops: Loops::Count(1),
            start_ms: 0,
            pitch: 0.0,
            speed: 1.0,
            publish_volume: 1.0,
            local_volume: 1.0,
            local_only: false,
        }
    }
}

impl MusicOptions {
    /// Checks every range.
    ///
    /// # Errors
    ///
    /// [`MusicError::InvalidArgument`] naming the first value out of range.
    pub fn validate(&self) -> Result<(), MusicError> {
        check_pitch(self.pitch)?;
        check_speed(self.speed)?;
        check_volume("publish volume", self.publish_volume)?;
        check_volume("local volume", self.local_volume)?;
        if self.loops == Loops::Count(0) {
            return Err(MusicError::InvalidArgument(
                "loops must be at least 1 (or forever)".into(),
            ));
        }
        Ok(())
    }
}

pub(crate) fn check_pitch(semitones: f32) -> Result<(), MusicError> {
    if PITCH.contains(&semitones) {
        Ok(())
    } else {
        Err(MusicError::InvalidArgument(format!(
            "pitch {semitones} semitones is outside -12 to +12"
        )))
    }
}

pub(crate) fn check_speed(speed: f32) -> Result<(), MusicError> {
    if SPEED.contains(&speed) {
        Ok(())
    } else {
        Err(MusicError::InvalidArgument(format!(
            "speed {speed} is outside 0.5 to 4.0"
        )))
    }
}

pub(crate) fn check_volume(what: &str, volume: f32) -> Result<(), MusicError> {
    if VOLUME.contains(&volume) {
        Ok(())
    } else {
        Err(MusicError::InvalidArgument(format!(
            "{what} {volume} is outside 0.0 to 1.0"
        )))
    }
}

/// What happened to the music.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MusicState {
    /// Opened and playing (also after resume).
    Playing,
    /// Paused.
    Paused,
    /// Stopped by the app (or replaced by other music).
    Stopped,
    /// The last loop ended.
    Completed,
    /// It cannot play (it stopped), or a seek failed (it plays on).
    Failed(MusicError),
}

/// A block of music on its way from the worker to the clock.
pub(crate) struct Block {
    pub samples: [f32; BLOCK_LEN],
    /// Where in the source the block starts.
    pub pos_ms: u64,
    /// Blocks of an earlier generation were decoded before a seek and are skipped.
    pub generation: u32,
    /// The last block of the last loop.
    pub last: bool,
}

/// Commands from the player to its worker.
pub(crate) enum Command {
    Seek { ms: u64, generation: u32 },
    Pitch(f32),
    Speed(f32),
}

/// Duration not known (yet).
const UNKNOWN: u64 = u64::MAX;

/// One piece of music playing: the clock's end of the worker. Dropping it stops the worker.
pub struct MusicPlayer {
    commands: Sender<Command>,
    blocks: rtrb::Consumer<Block>,
    events: Sender<MusicState>,
    worker: Option<JoinHandle<()>>,
    duration_ms: Arc<AtomicU64>,
    options: MusicOptions,
    generation: u32,
    position_ms: u64,
    paused: bool,
    finished: bool,
    underruns: u64,
}

impl MusicPlayer {
    /// Starts decoding `location` ahead on a worker thread. Events (playing, completed, failed
    /// with the reason) go to `events`; a missing local file fails here at once.
    ///
    /// # Errors
    ///
    /// [`MusicError::InvalidArgument`] for options out of range, [`MusicError::NotFound`] for
    /// a local file that does not exist, [`MusicError::Io`] when no thread can be started.
    pub fn start(
        location: &str,
        options: MusicOptions,
        events: Sender<MusicState>,
    ) -> Result<Self, MusicError> {
        options.validate()?;
        let location = Location::parse(location);
        if let Location::Path(path) = &location
            && !path.exists()
        {
            return Err(MusicError::NotFound(path.display().to_string()));
        }
        let (commands, receiver) = crossbeam_channel::unbounded();
        let (producer, blocks) = rtrb::RingBuffer::new(AHEAD);
        let duration_ms = Arc::new(AtomicU64::new(UNKNOWN));
        let worker = worker::spawn(
            location,
            options,
            receiver,
            producer,
            events.clone(),
            duration_ms.clone(),
        )
        .map_err(|e| MusicError::Io(format!("no music thread: {e}")))?;
        Ok(Self {
            commands,
            blocks,
            events,
            worker: Some(worker),
            duration_ms,
            options,
            generation: 0,
            position_ms: options.start_ms,
            paused: false,
            finished: false,
            underruns: 0,
        })
    }

    /// The options now (volumes, pitch and speed follow the setters).
    pub fn options(&self) -> MusicOptions {
        self.options
    }

    /// Copies the next 20 ms block (48 kHz stereo) into `out`; `false` (and `out` untouched)
    /// when paused, finished, or the worker has nothing ready (an underrun, counted).
    pub fn next_block(&mut self, out: &mut [f32; BLOCK_LEN]) -> bool {
        if self.paused || self.finished {
            return false;
        }
        loop {
            let Ok(block) = self.blocks.pop() else {
                if self.worker.as_ref().is_some_and(JoinHandle::is_finished) {
                    // The worker failed (and said why) or stopped.
                    self.finished = true;
                } else {
                    self.underruns += 1;
                }
                return false;
            };
            if block.generation != self.generation {
                continue;
            }
            out.copy_from_slice(&block.samples);
            self.position_ms = block.pos_ms;
            if block.last {
                self.finished = true;
                let _ = self.events.try_send(MusicState::Completed);
            }
            return true;
        }
    }

    /// Pauses; the position holds.
    pub fn pause(&mut self) {
        if !self.paused && !self.finished {
            self.paused = true;
            let _ = self.events.try_send(MusicState::Paused);
        }
    }

    /// Resumes after [`pause`](Self::pause).
    pub fn resume(&mut self) {
        if self.paused {
            self.paused = false;
            let _ = self.events.try_send(MusicState::Playing);
        }
    }

    /// Whether paused.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Whether the last loop has been played (or it failed).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Moves to `ms` from the start; what was decoded ahead is dropped.
    pub fn seek(&mut self, ms: u64) {
        self.generation = self.generation.wrapping_add(1);
        self.position_ms = ms;
        self.finished = false;
        let _ = self.commands.send(Command::Seek {
            ms,
            generation: self.generation,
        });
    }

    /// Changes the pitch while playing.
    ///
    /// # Errors
    ///
    /// [`MusicError::InvalidArgument`] outside [`PITCH`].
    pub fn set_pitch(&mut self, semitones: f32) -> Result<(), MusicError> {
        check_pitch(semitones)?;
        self.options.pitch = semitones;
        let _ = self.commands.send(Command::Pitch(semitones));
        Ok(())
    }

    /// Changes the speed while playing.
    ///
    /// # Errors
    ///
    /// [`MusicError::InvalidArgument`] outside [`SPEED`].
    pub fn set_speed(&mut self, speed: f32) -> Result<(), MusicError> {
        check_speed(speed)?;
        self.options.speed = speed;
        let _ = self.commands.send(Command::Speed(speed));
        Ok(())
    }

    /// Changes what the channel and this player hear.
    ///
    /// # Errors
    ///
    /// [`MusicError::InvalidArgument`] outside [`VOLUME`].
    pub fn set_volumes(&mut self, publish: f32, local: f32) -> Result<(), MusicError> {
        check_volume("publish volume", publish)?;
        check_volume("local volume", local)?;
        self.options.publish_volume = publish;
        self.options.local_volume = local;
        Ok(())
    }

    /// Where it is, in milliseconds from the start of the source.
    pub fn position_ms(&self) -> u64 {
        self.position_ms
    }

    /// The source's length, once known.
    pub fn duration_ms(&self) -> Option<u64> {
        match self.duration_ms.load(Ordering::Relaxed) {
            UNKNOWN => None,
            ms => Some(ms),
        }
    }

    /// Blocks the clock wanted and the worker did not have ready.
    pub fn underruns(&self) -> u64 {
        self.underruns
    }
}

// Dropping the player drops the command channel and the ring's consumer: the worker sees
// either at its next look and ends (not joined here, so a clock thread never waits on a
// stalled stream).
