//! The [`FileSource`]: a [`Demuxer`] on its own thread, paced by presentation times, handing
//! out access units (forward) or decoded frames (decode).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::{Demuxer, FileError, Info, Mode, Options, Sample};
use crate::video::encoded::{Access, EncodedSender, EncodedSource, encoded};
use crate::video::source::{CustomSender, CustomSource};
use crate::video::{Decoder, I420, Scaler, now_us};

/// Access units the forward queue holds (about a second at 30 fps) before the player drops.
pub const QUEUE: usize = 32;
/// The longest gap between two frames' times that is played as it is; a damaged file's absurd
/// times are cut to this, so the source never sleeps for hours.
const MAX_GAP_US: u64 = 5_000_000;
/// Decode mode: the most presentation times waiting for their pictures (openh264 holds a few
/// with B-frames); beyond this the oldest are stale (a picture was lost) and dropped.
const MAX_WAITING: usize = 16;

/// A video file played in real time on its own thread, forwarded or decoded (see the
/// [module docs](super)).
///
/// In [`Mode::Forward`], [`next_encoded`](Self::next_encoded) takes access units from a queue
/// of [`QUEUE`]. A consumer that falls behind loses frames, never the stream: when the queue is
/// full the frame due is dropped, and so is every frame after it until the next keyframe (they
/// would not decode without it); a keyframe that finds the queue still full replaces what is
/// queued, which is stale by then. [`dropped`](Self::dropped) counts all of these. In
/// [`Mode::Decode`], [`latest`](Self::latest) takes the newest frame; frames not taken in time
/// are replaced, never queued.
///
/// Dropping the source stops its thread.
#[derive(Debug)]
pub struct FileSource {
    info: Info,
    mode: Mode,
    access: EncodedSource,
    frames: Option<CustomSource>,
    stop: Sender<()>,
    ended: Arc<OnceLock<FileError>>,
    thread: Option<JoinHandle<()>>,
}

impl FileSource {
    /// Opens the file at `path` and starts playing it.
    ///
    /// # Errors
    ///
    /// As [`Demuxer::open`]; as [`Info::decodable`] when the video cannot be decoded;
    /// as [`Info::forwardable`] when [`Mode::Forward`] is asked for a file that does not allow
    /// it; [`FileError::Read`] if the thread cannot start.
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Self, FileError> {
        Self::new(Demuxer::open(path)?, options)
    }

    /// Starts playing what `demuxer` reads, from where it is.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), less the opening.
    pub fn new(demuxer: Demuxer, options: Options) -> Result<Self, FileError> {
        let info = demuxer.info().clone();
        info.decodable()?;
        let mode = match options.mode {
            Mode::Forward => {
                info.forwardable()?;
                Mode::Forward
            }
            Mode::Auto if info.forwardable().is_ok() => Mode::Forward,
            Mode::Auto | Mode::Decode => Mode::Decode,
        };
        let (sender, access) = encoded(QUEUE);
        let (output, frames) = if mode == Mode::Forward {
            (Output::Forward(sender), None)
        } else {
            let (frames, sender) =
                CustomSource::new(info.width, info.height).map_err(|_| FileError::Size {
                    width: info.width,
                    height: info.height,
                })?;
            let decoder = Decoder::reordering()
                .map_err(|e| FileError::Read(format!("cannot start the H.264 decoder: {e}")))?;
            (
                Output::Decode(Box::new(Decode::new(decoder, sender))),
                Some(frames),
            )
        };
        let (stop, stopped) = crossbeam_channel::bounded(0);
        let ended = Arc::new(OnceLock::new());
        let player = Player {
            demuxer,
            looped: options.looped,
            clock: Clock {
                start: Instant::now(),
                start_us: now_us(),
                stop: stopped,
            },
            ended: Arc::clone(&ended),
        };
        let thread = std::thread::Builder::new()
            .name("livestage-file".to_owned())
            .spawn(move || player.run(output))
            .map_err(|e| FileError::Read(format!("cannot start the file reader thread: {e}")))?;
        Ok(Self {
            info,
            mode,
            access,
            frames,
            stop,
            ended,
            thread: Some(thread),
        })
    }

    /// `(width, height)` of the video, fixed for the life of the source.
    pub fn size(&self) -> (u32, u32) {
        (self.info.width, self.info.height)
    }

    /// The video's frame rate (see [`Info::fps`]).
    pub fn fps(&self) -> f32 {
        self.info.fps
    }

    /// What the video is.
    pub fn info(&self) -> &Info {
        &self.info
    }

    /// How the video is handed out: [`Mode::Forward`] or [`Mode::Decode`] (never `Auto`).
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// [`Mode::Forward`]: the next access unit that is due, or `None` when none is (and always
    /// in [`Mode::Decode`]). Never blocks.
    pub fn next_encoded(&mut self) -> Option<Access> {
        self.access.next()
    }

    /// As [`next_encoded`](Self::next_encoded), waiting up to `timeout` for one.
    pub fn next_encoded_timeout(&mut self, timeout: Duration) -> Option<Access> {
        if self.mode != Mode::Forward {
            return None;
        }
        self.access.next_timeout(timeout)
    }

    /// [`Mode::Decode`]: the newest frame shown since the last call, with the time it was due
    /// in microseconds since the Unix epoch; `None` when there is none (and always in
    /// [`Mode::Forward`]).
    pub fn latest(&mut self) -> Option<(I420, u64)> {
        self.frames.as_mut().and_then(CustomSource::latest)
    }

    /// Access units dropped because the consumer fell behind ([`Mode::Forward`]).
    pub fn dropped(&self) -> u64 {
        self.access.dropped()
    }

    /// Why the source stopped: [`FileError::Ended`] once a file played once has shown its last
    /// frame, or the error that stopped reading; `None` while it plays. What was handed out
    /// before can still be taken.
    pub fn ended(&self) -> Option<FileError> {
        self.ended.get().cloned()
    }
}

impl Drop for FileSource {
    fn drop(&mut self) {
        // Closing the stop channel wakes the thread from any wait and stops it.
        let (closed, _) = crossbeam_channel::bounded(0);
        drop(std::mem::replace(&mut self.stop, closed));
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the video file thread panicked");
        }
    }
}

/// Why playing stopped.
enum Halt {
    /// The source was dropped.
    Stopped,
    /// The file ended (played once) or could not be read.
    End(FileError),
}

impl From<FileError> for Halt {
    fn from(error: FileError) -> Self {
        Self::End(error)
    }
}

/// The timeline: microseconds from the start, waited for on a monotonic clock.
struct Clock {
    start: Instant,
    /// The wall clock at `start`, in microseconds since the Unix epoch.
    start_us: u64,
    /// Disconnected when the source is dropped.
    stop: Receiver<()>,
}

impl Clock {
    /// Sleeps until `at_us` on the timeline (at once if it has passed).
    fn wait(&self, at_us: u64) -> Result<(), Halt> {
        let Some(deadline) = self.start.checked_add(Duration::from_micros(at_us)) else {
            // Beyond what an Instant holds: nothing is due before the source is dropped.
            let _ = self.stop.recv();
            return Err(Halt::Stopped);
        };
        match self.stop.recv_deadline(deadline) {
            Err(RecvTimeoutError::Timeout) => Ok(()),
            Ok(()) | Err(RecvTimeoutError::Disconnected) => Err(Halt::Stopped),
        }
    }

    /// The wall-clock time of `at_us` on the timeline.
    fn capture_us(&self, at_us: u64) -> u64 {
        self.start_us.saturating_add(at_us)
    }
}

/// The thread: reads passes of the file and hands each frame to the output when it is due.
struct Player {
    demuxer: Demuxer,
    looped: bool,
    clock: Clock,
    ended: Arc<OnceLock<FileError>>,
}

impl Player {
    fn run(mut self, mut output: Output) {
        let Halt::End(error) = self.play(&mut output) else {
            return;
        };
        if error == FileError::Ended {
            tracing::info!("the video file played to its end");
        } else {
            tracing::warn!("the video file stopped: {error}");
        }
        // Only this thread sets it, once, just before it stops.
        let _ = self.ended.set(error);
    }

    /// Plays passes until the source is dropped, the file (played once) ends, or reading fails.
    fn play(&mut self, output: &mut Output) -> Halt {
        let mut base_us = 0;
        loop {
            let end_us = match self.pass(output, base_us) {
                Ok(end_us) => end_us,
                Err(halt) => return halt,
            };
            if !self.looped {
                return match self.clock.wait(base_us.saturating_add(end_us)) {
                    Ok(()) => Halt::End(FileError::Ended),
                    Err(halt) => halt,
                };
            }
            base_us = base_us.saturating_add(end_us);
            if let Err(error) = self.demuxer.rewind() {
                return Halt::End(error);
            }
        }
    }

    /// Plays the file once from its first keyframe, with times from `base_us` on the timeline.
    /// Returns where the pass ends: the end of its last frame, from the pass's start.
    fn pass(&mut self, output: &mut Output, base_us: u64) -> Result<u64, Halt> {
        let (mut first_pts, mut last, mut end) = (None, 0u64, 0u64);
        while let Some(sample) = self.demuxer.read()? {
            let first = match first_pts {
                Some(first) => first,
                // Each pass starts at the file's first IDR.
                None if sample.keyframe => *first_pts.insert(sample.pts_us),
                None => continue,
            };
            let offset = sample
                .pts_us
                .saturating_sub(first)
                .min(last.saturating_add(MAX_GAP_US));
            last = last.max(offset);
            end = end.max(offset.saturating_add(sample.duration_us));
            output.play(sample, base_us.saturating_add(offset), &self.clock)?;
        }
        if first_pts.is_none() {
            return Err(Halt::End(FileError::Damaged(
                "the video has no keyframe (IDR) to start from".into(),
            )));
        }
        output.finish(&self.clock)?;
        Ok(end.max(1))
    }
}

/// Where due frames go.
enum Output {
    Forward(EncodedSender),
    Decode(Box<Decode>),
}

impl Output {
    /// Hands `sample`, due at `at_us` on the timeline, out.
    fn play(&mut self, sample: Sample, at_us: u64, clock: &Clock) -> Result<(), Halt> {
        match self {
            Self::Forward(forward) => {
                clock.wait(at_us)?;
                forward.offer(Access {
                    data: sample.data,
                    keyframe: sample.keyframe,
                    capture_us: clock.capture_us(at_us),
                    pts_us: sample.pts_us,
                });
                Ok(())
            }
            Self::Decode(decode) => decode.play(&sample, at_us, clock),
        }
    }

    /// The end of a pass: hands out what is still held.
    fn finish(&mut self, clock: &Clock) -> Result<(), Halt> {
        match self {
            Self::Forward(_) => Ok(()),
            Self::Decode(decode) => decode.finish(clock),
        }
    }
}

/// Decode mode: the decoder and the times its pictures are due.
struct Decode {
    decoder: Decoder,
    frames: CustomSender,
    /// Timeline times of the access units whose pictures have not come out yet, earliest
    /// first: with B-frames openh264 returns pictures later, in presentation order.
    waiting: BinaryHeap<Reverse<u64>>,
    /// The time of the last picture shown.
    shown_us: u64,
    scaler: Scaler,
}

impl Decode {
    fn new(decoder: Decoder, frames: CustomSender) -> Self {
        Self {
            decoder,
            frames,
            waiting: BinaryHeap::new(),
            shown_us: 0,
            scaler: Scaler::new(),
        }
    }

    fn play(&mut self, sample: &Sample, at_us: u64, clock: &Clock) -> Result<(), Halt> {
        self.waiting.push(Reverse(at_us));
        match self.decoder.decode(&sample.data) {
            Ok(Some(picture)) => self.show(picture, clock),
            Ok(None) => Ok(()),
            Err(e) => {
                // The decoder waits for the next keyframe; what it held is lost.
                tracing::debug!("a frame of the video file did not decode: {e}");
                self.waiting.clear();
                Ok(())
            }
        }
    }

    fn finish(&mut self, clock: &Clock) -> Result<(), Halt> {
        let held = self.decoder.flush().unwrap_or_else(|e| {
            tracing::debug!("flushing the video file's decoder failed: {e}");
            Vec::new()
        });
        for picture in held {
            self.show(picture, clock)?;
        }
        self.waiting.clear();
        // A fresh decoder for the next pass: after a flush, openh264 2.7 failed every frame
        // after the next pass's first few, so every other pass of a looped file was lost.
        match Decoder::reordering() {
            Ok(decoder) => self.decoder = decoder,
            Err(e) => tracing::warn!("no new decoder for the next pass, keeping the old: {e}"),
        }
        Ok(())
    }

    /// Offers `picture` when the earliest waiting time comes.
    fn show(&mut self, picture: I420, clock: &Clock) -> Result<(), Halt> {
        while self.waiting.len() > MAX_WAITING {
            self.waiting.pop();
        }
        let at_us = self.waiting.pop().map_or(self.shown_us, |Reverse(at)| at);
        self.shown_us = at_us;
        clock.wait(at_us)?;
        let size = self.frames.size();
        let picture = if picture.size() == size {
            picture
        } else {
            // The stream changed size mid-file: keep the size the source was opened with.
            let mut scaled = I420::new(size.0, size.1).expect("the source's size was checked");
            self.scaler.scale_into(&picture, &mut scaled);
            scaled
        };
        self.frames
            .push_i420(picture, clock.capture_us(at_us))
            .expect("the picture has the source's size");
        Ok(())
    }
}
