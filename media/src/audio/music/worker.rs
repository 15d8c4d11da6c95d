//! The music worker: decodes ahead of the clock into the block ring, loops, seeks on command,
//! and applies pitch and speed with signalsmith-stretch (skipped, bit-exact, at pitch 0 and
//! speed 1). It ends when the player is dropped, after the last loop once the player has read
//! it, or on an error it reports.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use signalsmith_stretch::Stretch;

use super::decode::{CHANNELS, Decoded, RATE};
use super::{BLOCK_LEN, Block, Command, Location, Loops, MusicOptions, MusicState};

/// Frames per block.
const FRAMES: usize = BLOCK_LEN / CHANNELS;
/// How long the worker waits when the ring is full (the clock takes a block every 20 ms).
const FULL_WAIT: Duration = Duration::from_millis(5);

pub(super) fn spawn(
    location: Location,
    options: MusicOptions,
    commands: Receiver<Command>,
    blocks: rtrb::Producer<Block>,
    events: Sender<MusicState>,
    duration: Arc<AtomicU64>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("livestage-music".into())
        .spawn(move || {
            let mut worker = match Worker::open(&location, options, &duration) {
                Ok(w) => w,
                Err(e) => {
                    let _ = events.try_send(MusicState::Failed(e));
                    return;
                }
            };
            let _ = events.try_send(MusicState::Playing);
            if let Err(e) = worker.run(&commands, blocks, &events) {
                let _ = events.try_send(MusicState::Failed(e));
            }
        })
}

/// Pitch and speed: the stretcher, or nothing at neutral settings.
struct Shift {
    stretch: Option<Stretch>,
    pitch: f32,
    speed: f32,
    /// Fractional input frames carried between blocks at speeds that do not divide evenly.
    carry: f64,
}

impl Shift {
    fn new(pitch: f32, speed: f32) -> Self {
        let mut shift = Self {
            stretch: None,
            pitch: 0.0,
            speed: 1.0,
            carry: 0.0,
        };
        shift.set(pitch, speed);
        shift
    }

    fn set(&mut self, pitch: f32, speed: f32) {
        self.pitch = pitch;
        self.speed = speed;
        if pitch == 0.0 && speed == 1.0 {
            self.stretch = None;
            return;
        }
        let stretch = self
            .stretch
            .get_or_insert_with(|| Stretch::preset_default(CHANNELS as u32, RATE));
        stretch.set_transpose_factor_semitones(pitch, None);
    }

    fn reset(&mut self) {
        self.carry = 0.0;
        if let Some(s) = &mut self.stretch {
            s.reset();
        }
    }

    /// Source frames the next block needs.
    fn input_frames(&mut self) -> usize {
        if self.stretch.is_none() {
            return FRAMES;
        }
        let exact = FRAMES as f64 * f64::from(self.speed) + self.carry;
        let whole = exact.floor();
        self.carry = exact - whole;
        whole as usize
    }
}

struct Worker {
    location: Location,
    decoded: Decoded,
    options: MusicOptions,
    shift: Shift,
    /// Source frames consumed (48 kHz), for positions.
    position: u64,
    loops_done: u32,
    generation: u32,
    input: Vec<f32>,
}

impl Worker {
    fn open(
        location: &Location,
        options: MusicOptions,
        duration: &AtomicU64,
    ) -> Result<Self, super::MusicError> {
        let mut decoded = Decoded::open(location)?;
        if let Some(ms) = decoded.duration_ms() {
            duration.store(ms, Ordering::Relaxed);
        }
        let mut position = 0;
        if options.start_ms > 0 {
            let at = decoded.seek(options.start_ms)?;
            position = at * u64::from(RATE) / 1000;
        }
        Ok(Self {
            location: location.clone(),
            decoded,
            shift: Shift::new(options.pitch, options.speed),
            options,
            position,
            loops_done: 0,
            generation: 0,
            input: Vec::with_capacity(FRAMES * CHANNELS * 5),
        })
    }

    fn run(
        &mut self,
        commands: &Receiver<Command>,
        mut blocks: rtrb::Producer<Block>,
        events: &Sender<MusicState>,
    ) -> Result<(), super::MusicError> {
        let mut pending: Option<Block> = None;
        let mut finished = false;
        loop {
            if blocks.is_abandoned() {
                return Ok(());
            }
            // Commands first: a seek drops what is waiting.
            loop {
                match commands.try_recv() {
                    Ok(command) => {
                        if self.apply(command, events) {
                            pending = None;
                            finished = false;
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return Ok(()),
                }
            }
            if let Some(block) = pending.take() {
                match blocks.push(block) {
                    Ok(()) => {}
                    Err(rtrb::PushError::Full(block)) => {
                        pending = Some(block);
                        match commands.recv_timeout(FULL_WAIT) {
                            Ok(command) => {
                                if self.apply(command, events) {
                                    pending = None;
                                    finished = false;
                                }
                            }
                            Err(RecvTimeoutError::Timeout) => {}
                            Err(RecvTimeoutError::Disconnected) => return Ok(()),
                        }
                    }
                }
                continue;
            }
            if finished {
                // Wait for a seek (which plays again) or the end of the player.
                match commands.recv_timeout(FULL_WAIT * 20) {
                    Ok(command) => {
                        if self.apply(command, events) {
                            finished = false;
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return Ok(()),
                }
                continue;
            }
            let block = self.next_block()?;
            finished = block.last;
            pending = Some(block);
        }
    }

    /// Applies a command; `true` when it was a seek (what waits is stale).
    fn apply(&mut self, command: Command, events: &Sender<MusicState>) -> bool {
        match command {
            Command::Seek { ms, generation } => {
                self.generation = generation;
                self.shift.reset();
                self.input.clear();
                match self.decoded.seek(ms) {
                    Ok(at) => self.position = at * u64::from(RATE) / 1000,
                    Err(e) => {
                        // It plays on from wherever the source is now.
                        let _ = events.try_send(MusicState::Failed(e));
                    }
                }
                true
            }
            Command::Pitch(p) => {
                self.shift.set(p, self.shift.speed);
                false
            }
            Command::Speed(s) => {
                self.shift.set(self.shift.pitch, s);
                false
            }
        }
    }

    /// Decodes one block: the source frames it needs (looping at the end), shifted.
    fn next_block(&mut self) -> Result<Block, super::MusicError> {
        let need = self.shift.input_frames();
        let pos_ms = self.position * 1000 / u64::from(RATE);
        let mut last = false;
        while self.input.len() < need * CHANNELS {
            let missing = need - self.input.len() / CHANNELS;
            let got = self.decoded.read(&mut self.input, missing)?;
            self.position += got as u64;
            if got == 0 {
                self.loops_done += 1;
                let again = match self.options.loops {
                    Loops::Forever => true,
                    Loops::Count(n) => self.loops_done < n,
                };
                if !again {
                    last = true;
                    break;
                }
                // Opened again rather than sought back: symphonia 0.6 cannot read an MP4
                // again after a seek from its end ("isomp4: no atom pending read").
                self.decoded = Decoded::open(&self.location)?;
                self.position = 0;
            }
        }
        // The last loop ends exactly here: this block is the last one.
        let final_loop = match self.options.loops {
            Loops::Forever => false,
            Loops::Count(n) => self.loops_done + 1 >= n,
        };
        if !last && final_loop && self.input.len() <= need * CHANNELS && self.decoded.at_end()? {
            last = true;
            self.loops_done += 1;
        }
        let mut block = Block {
            samples: [0.0; BLOCK_LEN],
            pos_ms,
            generation: self.generation,
            last,
        };
        let frames = (self.input.len() / CHANNELS).min(need);
        match &mut self.shift.stretch {
            None => {
                block.samples[..frames * CHANNELS].copy_from_slice(&self.input[..frames * CHANNELS])
            }
            Some(stretch) => {
                if frames < need {
                    // The end: pad the input so the stretcher keeps its pace.
                    self.input.resize(need * CHANNELS, 0.0);
                }
                stretch.process(&self.input[..need * CHANNELS], &mut block.samples[..]);
            }
        }
        let used = (frames.max(if self.shift.stretch.is_some() {
            need
        } else {
            0
        }) * CHANNELS)
            .min(self.input.len());
        self.input.drain(..used);
        Ok(block)
    }
}
