//! Raw audio hooks: app code that reads and may rewrite samples in place at four points of
//! the audio path, each in the format it asks for.
//!
//! ```text
//! microphone ─▶ [Capture] ─▶ voice processing ─▶ voice changer ─▶ + music, effects ─▶ [Encode] ─▶ Opus
//! remote voice ─▶ decode ─▶ [RemoteVoice] ─▶ volume, placement ─▶ mix + local music ─▶ [Playback] ─▶ device
//! ```
//!
//! A hook states its [`HookFormat`] (8 to 48 kHz, mono or stereo, 10 or 20 ms); a
//! [`HookRunner`] converts each 20 ms frame of the path to it (channels folded or doubled,
//! rubato's FFT resampler for another rate, the frame split in two for 10 ms) and back. A hook
//! runs on an audio thread: it must not block. One that panics, or overruns its frame's time
//! [`OVERRUNS`] times in a row, is removed ([`HookFailure`]) and the audio goes on without it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use super::format::Format;

/// Rates a hook may ask for.
pub const HOOK_RATES: [u32; 6] = [8_000, 16_000, 24_000, 32_000, 44_100, 48_000];
/// Consecutive frames over budget before a hook is removed.
pub const OVERRUNS: u32 = 5;

/// Where a hook sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookPoint {
    /// The microphone as captured, before anything else.
    Capture,
    /// What is about to be encoded: the voice (processed, changed) with music and effects.
    Encode,
    /// One remote user's decoded voice, before volume, placement and mixing.
    RemoteVoice,
    /// The mixed playback (remote voices and local music), as it goes to the device.
    Playback,
}

/// The format a hook wants its frames in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookFormat {
    /// One of [`HOOK_RATES`].
    pub sample_rate: u32,
    /// 1 or 2.
    pub channels: u16,
    /// 10 or 20.
    pub frame_ms: u32,
}

impl HookFormat {
    /// 48 kHz mono in 20 ms frames: the voice path's own, so nothing is converted.
    pub const VOICE: Self = Self {
        sample_rate: 48_000,
        channels: 1,
        frame_ms: 20,
    };

    /// Interleaved samples per frame.
    pub fn frame_len(&self) -> usize {
        (self.sample_rate as usize * self.frame_ms as usize / 1000) * usize::from(self.channels)
    }

    fn validate(&self) -> Result<(), HookFailure> {
        if HOOK_RATES.contains(&self.sample_rate)
            && matches!(self.channels, 1 | 2)
            && matches!(self.frame_ms, 10 | 20)
        {
            Ok(())
        } else {
            Err(HookFailure::Format(format!(
                "{} Hz, {} channels, {} ms: a hook takes {HOOK_RATES:?} Hz, 1 or 2 channels, 10 or 20 ms",
                self.sample_rate, self.channels, self.frame_ms
            )))
        }
    }
}

/// About the frame a hook gets.
#[derive(Debug, Clone, Copy)]
pub struct HookInfo<'a> {
    /// Where.
    pub point: HookPoint,
    /// The remote user's media id ([`HookPoint::RemoteVoice`] only).
    pub media_id: Option<u64>,
    /// The channel the frame belongs to, when one does (a publisher's, a remote user's).
    pub channel: Option<&'a str>,
}

/// App code on the audio path.
pub trait AudioHook: Send {
    /// The format of the frames it gets; asked once, when installed.
    fn format(&self) -> HookFormat;
    /// Reads and may rewrite `frame` (interleaved, [`format`](Self::format)'s length).
    fn process(&mut self, frame: &mut [f32], info: &HookInfo<'_>);
}

/// A closure as a hook.
pub struct FnHook<F> {
    format: HookFormat,
    f: F,
}

/// A hook from a closure.
pub fn hook_fn<F>(format: HookFormat, f: F) -> FnHook<F>
where
    F: FnMut(&mut [f32], &HookInfo<'_>) + Send,
{
    FnHook { format, f }
}

impl<F> AudioHook for FnHook<F>
where
    F: FnMut(&mut [f32], &HookInfo<'_>) + Send,
{
    fn format(&self) -> HookFormat {
        self.format
    }

    fn process(&mut self, frame: &mut [f32], info: &HookInfo<'_>) {
        (self.f)(frame, info);
    }
}

impl<H: AudioHook + ?Sized> AudioHook for Box<H> {
    fn format(&self) -> HookFormat {
        (**self).format()
    }

    fn process(&mut self, frame: &mut [f32], info: &HookInfo<'_>) {
        (**self).process(frame, info);
    }
}

/// One hook shared by several paths (each publisher, say): they take turns.
impl<H: AudioHook> AudioHook for Arc<Mutex<H>> {
    fn format(&self) -> HookFormat {
        self.lock().map(|h| h.format()).unwrap_or(HookFormat::VOICE)
    }

    fn process(&mut self, frame: &mut [f32], info: &HookInfo<'_>) {
        if let Ok(mut hook) = self.lock() {
            hook.process(frame, info);
        }
    }
}

/// Why a hook was removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookFailure {
    /// It panicked.
    #[error("the audio hook panicked: {0}")]
    Panicked(String),
    /// It took longer than its frame lasts, [`OVERRUNS`] times in a row.
    #[error("the audio hook took {0} ms for a {1} ms frame, {OVERRUNS} times in a row")]
    TooSlow(u32, u32),
    /// It asked for a format that is not offered.
    #[error("the audio hook's format is not offered: {0}")]
    Format(String),
}

/// Runs one hook on a path's 20 ms frames.
pub struct HookRunner {
    hook: Box<dyn AudioHook>,
    format: HookFormat,
    path: Format,
    to_hook: Option<Fft<f32>>,
    from_hook: Option<Fft<f32>>,
    /// The frame at the path's rate in the hook's channels.
    channels_buf: Vec<f32>,
    /// The frame at the hook's rate.
    hook_buf: Vec<f32>,
    overruns: u32,
}

impl HookRunner {
    /// Prepares `hook` for frames of `path`.
    ///
    /// # Errors
    ///
    /// [`HookFailure::Format`] for a format outside what hooks are offered.
    pub fn new(hook: Box<dyn AudioHook>, path: Format) -> Result<Self, HookFailure> {
        let format = hook.format();
        format.validate()?;
        let channels = usize::from(format.channels);
        let path_frames = path.samples_per_frame();
        let hook_frames = format.sample_rate as usize * 20 / 1000;
        let (to_hook, from_hook) = if format.sample_rate == path.sample_rate {
            (None, None)
        } else {
            let make = |from: u32, to: u32, chunk: usize| {
                Fft::<f32>::new(from as usize, to as usize, chunk, channels, FixedSync::Both)
                    .map_err(|e| HookFailure::Format(e.to_string()))
            };
            (
                Some(make(path.sample_rate, format.sample_rate, path_frames)?),
                Some(make(format.sample_rate, path.sample_rate, hook_frames)?),
            )
        };
        Ok(Self {
            hook,
            format,
            path,
            to_hook,
            from_hook,
            channels_buf: vec![0.0; path_frames * channels],
            hook_buf: vec![0.0; hook_frames * channels],
            overruns: 0,
        })
    }

    /// Checks that `hook`'s format is offered, without preparing anything.
    ///
    /// # Errors
    ///
    /// [`HookFailure::Format`].
    pub fn check(hook: &dyn AudioHook) -> Result<(), HookFailure> {
        hook.format().validate()
    }

    /// The delay the conversion adds to the path: the two resamplers' (none when the hook
    /// takes the path's rate).
    pub fn latency_ms(&self) -> f32 {
        let delay = |r: &Option<Fft<f32>>, rate: u32| {
            r.as_ref()
                .map_or(0.0, |r| r.output_delay() as f32 * 1000.0 / rate as f32)
        };
        delay(&self.to_hook, self.format.sample_rate)
            + delay(&self.from_hook, self.path.sample_rate)
    }

    /// The hook's format.
    pub fn format(&self) -> HookFormat {
        self.format
    }

    /// Runs the hook on one 20 ms `frame` of the path's format, converted both ways.
    ///
    /// # Errors
    ///
    /// [`HookFailure::Panicked`] or [`HookFailure::TooSlow`]: remove the runner (the frame is
    /// left as it came when it panicked).
    pub fn run(&mut self, frame: &mut [f32], info: &HookInfo<'_>) -> Result<(), HookFailure> {
        let path_channels = usize::from(self.path.channels);
        let channels = usize::from(self.format.channels);
        // Path channels -> hook channels.
        for (i, out) in self.channels_buf.chunks_exact_mut(channels).enumerate() {
            let input = &frame[i * path_channels..(i + 1) * path_channels];
            match (path_channels, channels) {
                (1, 2) => out.fill(input[0]),
                (2, 1) => out[0] = (input[0] + input[1]) * 0.5,
                _ => out.copy_from_slice(input),
            }
        }
        // Path rate -> hook rate.
        match &mut self.to_hook {
            None => self.hook_buf.copy_from_slice(&self.channels_buf),
            Some(resampler) => {
                resample(resampler, &self.channels_buf, &mut self.hook_buf, channels)
            }
        }
        let started = Instant::now();
        let half = self.hook_buf.len() / 2;
        let (hook, buf, format) = (&mut self.hook, &mut self.hook_buf, self.format);
        let ran = catch_unwind(AssertUnwindSafe(|| {
            if format.frame_ms == 10 {
                let (a, b) = buf.split_at_mut(half);
                hook.process(a, info);
                hook.process(b, info);
            } else {
                hook.process(buf, info);
            }
        }));
        if let Err(panic) = ran {
            return Err(HookFailure::Panicked(crate::panic::message(panic.as_ref())));
        }
        let took = started.elapsed();
        if took > Duration::from_millis(20) {
            self.overruns += 1;
            if self.overruns >= OVERRUNS {
                return Err(HookFailure::TooSlow(took.as_millis() as u32, 20));
            }
        } else {
            self.overruns = 0;
        }
        // Back: hook rate -> path rate, hook channels -> path channels.
        match &mut self.from_hook {
            None => self.channels_buf.copy_from_slice(&self.hook_buf),
            Some(resampler) => {
                resample(resampler, &self.hook_buf, &mut self.channels_buf, channels)
            }
        }
        for (i, input) in self.channels_buf.chunks_exact(channels).enumerate() {
            let out = &mut frame[i * path_channels..(i + 1) * path_channels];
            match (channels, path_channels) {
                (1, 2) => out.fill(input[0]),
                (2, 1) => out[0] = (input[0] + input[1]) * 0.5,
                _ => out.copy_from_slice(input),
            }
        }
        Ok(())
    }
}

/// One fixed-size chunk through an FFT resampler set up for exactly these lengths.
fn resample(resampler: &mut Fft<f32>, input: &[f32], output: &mut [f32], channels: usize) {
    let frames_in = input.len() / channels;
    let frames_out = output.len() / channels;
    let (Ok(src), Ok(mut dst)) = (
        InterleavedSlice::new(input, channels, frames_in),
        InterleavedSlice::new_mut(output, channels, frames_out),
    ) else {
        return;
    };
    // The lengths are the ones the resampler was made for; a failure leaves silence.
    if resampler.process_into_buffer(&src, &mut dst, None).is_err() {
        output.fill(0.0);
    }
}
