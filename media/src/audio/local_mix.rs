//! What this client plays itself: music and sound effects, mixed into what it publishes and
//! into what it hears, each at its own volume (or only one of them).
//!
//! There is no clock of its own: each consumer (the publisher's voice thread, the playout's
//! audio clock) pulls its next 20 ms through its [`MixTap`] at its own pace. The first to ask
//! for a block makes it (one music block from the worker's ring, the effects summed from
//! memory) and the block is kept for the others in a short history ([`HISTORY`]), so both sides
//! hear the same music in the same order without a queue between them; a side that falls
//! further behind than the history skips ahead. With nothing playing a pull costs a lock and a
//! comparison, and touches no samples.
//!
//! ```
//! use livestage_media::audio::{LocalMix, music::MusicOptions};
//!
//! let mix = LocalMix::new();
//! let mut to_channel = mix.publish_tap();
//! let mut to_speakers = mix.local_tap();
//! assert!(mix.start_music("no/such/file.mp3", MusicOptions::default()).is_err());
//! // every 20 ms, on the voice thread and on the playout clock:
//! let mut voice = vec![0.0f32; 960];
//! let sounded = to_channel.add_to(&mut voice, 1);
//! assert!(!sounded);
//! # let _ = &mut to_speakers;
//! ```

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_channel::{Receiver, Sender};

use super::effects::{EffectOptions, Effects};
use super::music::{BLOCK_LEN, CHANNELS, MusicError, MusicOptions, MusicPlayer, MusicState};

/// Blocks kept for the slower side (160 ms).
pub const HISTORY: usize = 8;
/// Events kept for the app before the oldest are dropped.
const EVENTS: usize = 64;

/// What happened to music or an effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MixEvent {
    /// The music's state changed.
    Music(MusicState),
    /// An effect finished its last loop.
    EffectFinished(u32),
}

/// One 20 ms block for both sides.
struct Mixed {
    index: u64,
    publish: [f32; BLOCK_LEN],
    local: [f32; BLOCK_LEN],
    publish_sounds: bool,
    local_sounds: bool,
}

struct Inner {
    music: Option<MusicPlayer>,
    effects: Effects,
    next_index: u64,
    history: VecDeque<Box<Mixed>>,
    spare: Vec<Box<Mixed>>,
    music_block: [f32; BLOCK_LEN],
    finished: Vec<u32>,
}

impl Inner {
    /// Makes block `next_index` and keeps it.
    fn make_next(&mut self, events: &Sender<MixEvent>) {
        let mut block = self.spare.pop().unwrap_or_else(|| {
            Box::new(Mixed {
                index: 0,
                publish: [0.0; BLOCK_LEN],
                local: [0.0; BLOCK_LEN],
                publish_sounds: false,
                local_sounds: false,
            })
        });
        block.index = self.next_index;
        self.next_index += 1;
        block.publish_sounds = false;
        block.local_sounds = false;
        let got = self
            .music
            .as_mut()
            .is_some_and(|m| m.next_block(&mut self.music_block));
        let music = self.music.as_ref().filter(|_| got);
        let effects = self.effects.is_playing();
        if music.is_some() || effects {
            block.publish.fill(0.0);
            block.local.fill(0.0);
        }
        if let Some(music) = music {
            let options = music.options();
            for ((p, l), s) in block
                .publish
                .iter_mut()
                .zip(block.local.iter_mut())
                .zip(&self.music_block)
            {
                if !options.local_only {
                    *p += s * options.publish_volume;
                }
                *l += s * options.local_volume;
            }
            block.publish_sounds = !options.local_only;
            block.local_sounds = true;
        }
        if effects {
            let Mixed { publish, local, .. } = &mut *block;
            self.effects.mix(publish, local, &mut self.finished);
            block.publish_sounds = true;
            block.local_sounds = true;
            for id in self.finished.drain(..) {
                let _ = events.try_send(MixEvent::EffectFinished(id));
            }
        }
        if self.history.len() >= HISTORY
            && let Some(old) = self.history.pop_front()
        {
            self.spare.push(old);
        }
        self.history.push_back(block);
    }
}

/// Music and effects for one client; share it between the publishers and the playout with
/// [`publish_tap`](Self::publish_tap) and [`local_tap`](Self::local_tap). Clones are handles
/// on the same mix (a background thread can preload an effect through one).
#[derive(Clone)]
pub struct LocalMix {
    inner: Arc<Mutex<Inner>>,
    events_in: Sender<MixEvent>,
    events: Receiver<MixEvent>,
    music_in: Sender<MusicState>,
    music_events: Receiver<MusicState>,
}

impl Default for LocalMix {
    fn default() -> Self {
        Self::new()
    }
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // Mixing holds no invariant a panic elsewhere could break halfway.
    inner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LocalMix {
    /// Nothing playing.
    pub fn new() -> Self {
        let (events_in, events) = crossbeam_channel::bounded(EVENTS);
        let (music_in, music_events) = crossbeam_channel::bounded(EVENTS);
        Self {
            inner: Arc::new(Mutex::new(Inner {
                music: None,
                effects: Effects::default(),
                next_index: 0,
                history: VecDeque::with_capacity(HISTORY),
                spare: Vec::new(),
                music_block: [0.0; BLOCK_LEN],
                finished: Vec::new(),
            })),
            events_in,
            events,
            music_in,
            music_events,
        }
    }

    /// The side that goes into what this client publishes.
    pub fn publish_tap(&self) -> MixTap {
        MixTap {
            inner: self.inner.clone(),
            events: self.events_in.clone(),
            publish: true,
            next: None,
        }
    }

    /// The side this client hears.
    pub fn local_tap(&self) -> MixTap {
        MixTap {
            publish: false,
            ..self.publish_tap()
        }
    }

    /// Plays music from a path or an `http(s)://` URL, replacing what played before (which
    /// reports [`MusicState::Stopped`]). Opening and decoding happen on a worker; its outcome
    /// arrives as [`MixEvent::Music`].
    ///
    /// # Errors
    ///
    /// As [`MusicPlayer::start`]: options out of range, a local file that does not exist.
    pub fn start_music(&self, location: &str, options: MusicOptions) -> Result<(), MusicError> {
        let player = MusicPlayer::start(location, options, self.music_in.clone())?;
        if lock(&self.inner).music.replace(player).is_some() {
            let _ = self
                .events_in
                .try_send(MixEvent::Music(MusicState::Stopped));
        }
        Ok(())
    }

    /// Stops the music.
    pub fn stop_music(&self) {
        if lock(&self.inner).music.take().is_some() {
            let _ = self
                .events_in
                .try_send(MixEvent::Music(MusicState::Stopped));
        }
    }

    /// Runs `f` on the music playing, if any (pause, resume, seek, pitch, speed, volumes,
    /// position and duration are [`MusicPlayer`]'s).
    pub fn with_music<T>(&self, f: impl FnOnce(&mut MusicPlayer) -> T) -> Option<T> {
        lock(&self.inner).music.as_mut().map(f)
    }

    /// Runs `f` on the effects (preload, play, stop, unload).
    pub fn with_effects<T>(&self, f: impl FnOnce(&mut Effects) -> T) -> T {
        f(&mut lock(&self.inner).effects)
    }

    /// Preloads effect `id` from a path or URL. Decodes on the caller's thread, outside the
    /// mixing lock.
    ///
    /// # Errors
    ///
    /// As [`Effects::preload`].
    pub fn preload_effect(&self, id: u32, location: &str) -> Result<(), MusicError> {
        let clip = super::music::decode_all(
            &super::music::Location::parse(location),
            super::effects::MAX_EFFECT_SECS,
        )?;
        let mut inner = lock(&self.inner);
        if !inner.effects.is_loaded(id) && inner.effects.loaded() >= super::effects::MAX_EFFECTS {
            return Err(MusicError::InvalidArgument(format!(
                "at most {} effects are loaded at once; unload one first",
                super::effects::MAX_EFFECTS
            )));
        }
        inner.effects.insert(id, clip.into());
        Ok(())
    }

    /// Plays effect `id`.
    ///
    /// # Errors
    ///
    /// As [`Effects::play`].
    pub fn play_effect(&self, id: u32, options: EffectOptions) -> Result<(), MusicError> {
        lock(&self.inner).effects.play(id, options)
    }

    /// What happened since the last call, oldest first.
    pub fn poll_events(&self) -> Vec<MixEvent> {
        let mut out: Vec<MixEvent> = self.music_events.try_iter().map(MixEvent::Music).collect();
        out.extend(self.events.try_iter());
        out
    }
}

/// One side's pull on a [`LocalMix`]. `Send`: it moves to the thread that pulls.
pub struct MixTap {
    inner: Arc<Mutex<Inner>>,
    events: Sender<MixEvent>,
    publish: bool,
    next: Option<u64>,
}

impl MixTap {
    /// Adds this side's next 20 ms into `out` (one 48 kHz frame, interleaved `channels`: 1 or
    /// 2, stereo folded to mono); returns whether anything sounded (when not, `out` is
    /// untouched).
    pub fn add_to(&mut self, out: &mut [f32], channels: u16) -> bool {
        let mut inner = lock(&self.inner);
        // A new tap starts at the newest block, which the other side may be hearing now.
        let want = self
            .next
            .unwrap_or_else(|| inner.history.back().map_or(inner.next_index, |b| b.index));
        if want >= inner.next_index {
            inner.make_next(&self.events);
        }
        let oldest = inner.history.front().map_or(0, |b| b.index);
        let index = want.max(oldest);
        let Some(block) = inner.history.iter().find(|b| b.index == index) else {
            return false;
        };
        self.next = Some(index + 1);
        let (samples, sounds) = if self.publish {
            (&block.publish, block.publish_sounds)
        } else {
            (&block.local, block.local_sounds)
        };
        if !sounds {
            return false;
        }
        match channels {
            1 => {
                for (o, pair) in out.iter_mut().zip(samples.chunks_exact(CHANNELS)) {
                    *o += (pair[0] + pair[1]) * 0.5;
                }
            }
            _ => {
                for (o, s) in out.iter_mut().zip(samples.iter()) {
                    *o += s;
                }
            }
        }
        true
    }
}
