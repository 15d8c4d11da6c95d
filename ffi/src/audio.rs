//! Voice through the C ABI: the mixed remote voice pulled by the app's audio callback
//! (`livestage_audio_read`, the one real-time-safe function), and microphone samples pushed
//! by the app (`livestage_audio_push`), resampled to 48 kHz when pushed at another rate and
//! sent through the engine's voice chain (hooks, voice changer, music and effects).
//!
//! The playout's voice thread mixes a 20 ms frame every 20 ms at 48 kHz (with this engine's
//! music and effects); the pump thread resamples it when the app's rate is another (44.1 kHz,
//! for instance) and writes it into a [`Ring`]. The audio callback reads the ring with atomics only: no allocation, lock or
//! wait. When the callback stalls and the ring fills, the oldest voice is skipped on the next
//! read, so the delay stays bounded.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use livestage_media::audio::Format;
use livestage_net::publish::{Audio, AudioSender, AudioSource, CustomAudio, Publisher};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Async, FixedAsync, Resampler, SincInterpolationParameters};

use crate::args;
use crate::client::MIX_RATE;
use crate::error::{
    Error, LIVESTAGE_ERR_ARGUMENT, LIVESTAGE_ERR_BUSY, LIVESTAGE_ERR_NOT_PUBLISHING,
    LIVESTAGE_ERR_NULL, LIVESTAGE_ERR_STATE, Result, guard,
};
use crate::handles;

/// Sample rates the app may use, per channel.
pub const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 8_000..=192_000;
/// Voice the ring holds at most, in milliseconds.
const RING_MS: usize = 300;
/// When more than this much voice is waiting beyond a read, the read skips the oldest...
const MAX_QUEUED_MS: usize = 100;
/// ...down to this much.
const KEEP_MS: usize = 40;

/// A single-producer, single-consumer ring of interleaved samples, stored as `f32` bits in
/// atomics so both ends work through `&self`.
pub(crate) struct Ring {
    samples: Box<[AtomicU32]>,
    channels: usize,
    sample_rate: u32,
    /// Samples ever written (the producer's position).
    written: AtomicUsize,
    /// Samples ever consumed (the consumer's position).
    read: AtomicUsize,
    /// Set while a read runs, so two readers are refused rather than racing.
    reading: AtomicBool,
    /// Reads that ran out of voice and played silence.
    underruns: AtomicU64,
    /// Samples the producer dropped because nobody read them.
    dropped: AtomicU64,
}

impl Ring {
    /// A ring for `channels` interleaved channels at `sample_rate`.
    pub(crate) fn new(sample_rate: u32, channels: u16) -> Self {
        let channels = usize::from(channels);
        let capacity = samples_for(sample_rate, channels, RING_MS);
        Self {
            samples: (0..capacity).map(|_| AtomicU32::new(0)).collect(),
            channels,
            sample_rate,
            written: AtomicUsize::new(0),
            read: AtomicUsize::new(0),
            reading: AtomicBool::new(false),
            underruns: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Appends interleaved samples; what does not fit is dropped. One producer only.
    pub(crate) fn write(&self, samples: &[f32]) {
        let capacity = self.samples.len();
        let written = self.written.load(Ordering::Relaxed);
        let free = capacity - (written - self.read.load(Ordering::Acquire));
        let n = samples.len().min(free);
        for (i, &sample) in samples[..n].iter().enumerate() {
            self.samples[(written + i) % capacity].store(sample.to_bits(), Ordering::Relaxed);
        }
        self.written.store(written + n, Ordering::Release);
        self.dropped
            .fetch_add((samples.len() - n) as u64, Ordering::Relaxed);
    }

    /// Fills `out` (interleaved, `channels` per frame) with voice, then silence; returns the
    /// samples of `out` that carried voice. No allocation, lock or wait.
    fn read_into(&self, out: &mut [f32], channels: usize) -> std::result::Result<usize, Error> {
        if channels == 0 || !out.len().is_multiple_of(channels) {
            return Err(Error::new(
                LIVESTAGE_ERR_ARGUMENT,
                "the buffer length must be a whole number of frames of `channels` samples",
            ));
        }
        if self
            .reading
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(Error::new(
                LIVESTAGE_ERR_BUSY,
                "another thread is reading the voice; read it from one audio callback only",
            ));
        }
        let capacity = self.samples.len();
        let mut read = self.read.load(Ordering::Relaxed);
        let written = self.written.load(Ordering::Acquire);
        let frames = out.len() / channels;
        let wanted = frames * self.channels;
        // After a stall, skip the oldest voice so the delay stays bounded.
        let limit = wanted + samples_for(self.sample_rate, self.channels, MAX_QUEUED_MS);
        if written - read > limit {
            let keep = wanted + samples_for(self.sample_rate, self.channels, KEEP_MS);
            read = written - keep;
        }
        let available = (written - read) / self.channels;
        let voiced = frames.min(available);
        for (frame, out) in out.chunks_exact_mut(channels).take(voiced).enumerate() {
            let at = read + frame * self.channels;
            let sample = |c: usize| {
                f32::from_bits(self.samples[(at + c) % capacity].load(Ordering::Relaxed))
            };
            let (left, right) = if self.channels == 1 {
                (sample(0), sample(0))
            } else {
                (sample(0), sample(1))
            };
            match out {
                [mono] => *mono = (left + right) * 0.5,
                [l, r, rest @ ..] => {
                    *l = left;
                    *r = right;
                    rest.fill(0.0);
                }
                [] => {}
            }
        }
        out[voiced * channels..].fill(0.0);
        if voiced < frames {
            self.underruns.fetch_add(1, Ordering::Relaxed);
        }
        self.read
            .store(read + voiced * self.channels, Ordering::Release);
        self.reading.store(false, Ordering::Release);
        Ok(voiced * channels)
    }
}

/// Interleaved samples in `ms` milliseconds.
fn samples_for(sample_rate: u32, channels: usize, ms: usize) -> usize {
    sample_rate as usize * ms / 1000 * channels
}

/// Resamples interleaved audio from one rate to another in 20 ms chunks (rubato's sinc
/// resampler), for rates Opus does not take.
pub(crate) struct Resample {
    inner: Async<f32>,
    channels: usize,
    /// Interleaved input waiting for a whole chunk.
    input: Vec<f32>,
    output: Vec<f32>,
}

impl Resample {
    /// A resampler from `from` to `to` Hz for `channels` channels.
    pub(crate) fn new(from: u32, to: u32, channels: u16) -> Result<Self> {
        let chunk = from as usize / 50;
        let channels = usize::from(channels);
        let inner = Async::<f32>::new_sinc(
            f64::from(to) / f64::from(from),
            1.0,
            &SincInterpolationParameters::new(64, rubato::WindowFunction::BlackmanHarris2),
            chunk,
            channels,
            FixedAsync::Input,
        )
        .map_err(Error::internal)?;
        let output = vec![0.0; inner.output_frames_max() * channels];
        Ok(Self {
            inner,
            channels,
            input: Vec::with_capacity(chunk * channels * 2),
            output,
        })
    }

    /// Takes interleaved samples and hands every resampled chunk to `emit`.
    pub(crate) fn push(&mut self, samples: &[f32], mut emit: impl FnMut(&[f32])) {
        self.input.extend_from_slice(samples);
        loop {
            let frames = self.inner.input_frames_next();
            let needed = frames * self.channels;
            if self.input.len() < needed {
                return;
            }
            let out_frames = self.output.len() / self.channels;
            let done = InterleavedSlice::new(&self.input[..needed], self.channels, frames)
                .and_then(|input| {
                    let output =
                        InterleavedSlice::new_mut(&mut self.output, self.channels, out_frames)?;
                    Ok((input, output))
                })
                .map_err(|e| e.to_string())
                .and_then(|(input, mut output)| {
                    self.inner
                        .process_into_buffer(&input, &mut output, None)
                        .map_err(|e| e.to_string())
                });
            self.input.drain(..needed);
            match done {
                Ok((_, written)) => emit(&self.output[..written * self.channels]),
                Err(e) => tracing::warn!("resampling failed, dropping 20 ms: {e}"),
            }
        }
    }
}

/// The app's microphone: what it pushes goes (resampled when needed) to the voice publisher.
pub(crate) struct Mic {
    sender: AudioSender,
    resample: Option<Resample>,
    channels: usize,
}

impl Mic {
    fn push(&mut self, samples: &[f32]) {
        match &mut self.resample {
            Some(resample) => {
                let sender = &mut self.sender;
                resample.push(samples, |out| sender.push(out));
            }
            None => self.sender.push(samples),
        }
    }
}

/// Fills `out` with the mixed remote voice: `len` interleaved samples of `channels` channels
/// at the rate given to `livestage_engine_new` (mono voice goes
/// to every channel; a stereo mix to the first two). Returns how many samples carried voice
/// (the rest is silence, e.g. before anyone spoke or after a stall), or a negative error code.
///
/// **Audio thread**: meant for Unity's `OnAudioFilterRead` or any real-time callback. It never
/// allocates, locks or waits (errors on this thread carry static messages). Read from one
/// thread at a time (`LIVESTAGE_ERR_BUSY` otherwise).
///
/// # Safety
///
/// `out` must be valid for `len` floats of writing, aligned for `float`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_audio_read(
    engine: i64,
    out: *mut f32,
    len: usize,
    channels: u32,
) -> i32 {
    guard(|| {
        if out.is_null() {
            return Err(Error::new(LIVESTAGE_ERR_NULL, "`out` is a null pointer"));
        }
        if !out.is_aligned() {
            return Err(Error::new(
                LIVESTAGE_ERR_ARGUMENT,
                "`out` is not aligned for floats",
            ));
        }
        // SAFETY: non-null, aligned and valid for `len` floats (the caller's contract).
        let out = unsafe { std::slice::from_raw_parts_mut(out, len) };
        handles::with(engine, |client| {
            let ring = client.voice.as_ref().ok_or_else(|| {
                Error::new(
                    LIVESTAGE_ERR_STATE,
                    "this engine plays the voice on the output device (LIVESTAGE_PLAY_ON_DEVICE)",
                )
            })?;
            let voiced = ring.read_into(out, channels as usize)?;
            Ok(i32::try_from(voiced).unwrap_or(i32::MAX))
        })
    })
}

/// Starts publishing the app's microphone in a joined channel: samples pushed with
/// `livestage_audio_push` at `sample_rate` Hz (8000 to 192000; other rates than 48000 are
/// resampled to it) with `channels` (1 or 2) interleaved channels are encoded as 20 ms Opus
/// frames as they arrive (stereo is mixed to mono). On the way they pass the engine's capture
/// hook, voice changer (`livestage_voice_preset`), music and effects, and encode hook. Replaces
/// an earlier microphone publisher of the channel. The token must grant publishing audio and
/// the role must be host, or the server refuses the voice.
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `channel` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_audio_publish(
    engine: i64,
    channel: *const std::ffi::c_char,
    sample_rate: u32,
    channels: u32,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let channel = unsafe { args::text(channel, "channel") }?;
        if !SAMPLE_RATES.contains(&sample_rate) || !(1..=2).contains(&channels) {
            return Err(Error::argument(format!(
                "{sample_rate} Hz x {channels} channels: use 8000 to 192000 Hz and 1 or 2 channels"
            )));
        }
        let channels = channels as u16;
        handles::with(engine, |client| {
            // Stop an earlier microphone first: stopping unpublishes its track, which must not
            // undo the new one's publication.
            let old = client.channel(channel, |c| c.audio.take())?;
            drop(old);
            // The voice changer, music and effects work at 48 kHz: other rates are resampled.
            let format = Format {
                sample_rate: MIX_RATE,
                channels,
            };
            let resample = if sample_rate == MIX_RATE {
                None
            } else {
                Some(Resample::new(sample_rate, MIX_RATE, channels)?)
            };
            let (source, sender) = CustomAudio::new(format).map_err(Error::internal)?;
            let audio = Audio {
                controls: client.controls.clone(),
                mix: Some(client.mix.publish_tap()),
                // For echo cancellation, when the app switches voice processing on.
                echo: Some(client.playout.echo_reference()),
                ..Audio::new(AudioSource::Custom(source))
            };
            let publisher =
                Publisher::start_with(client.engine.clone(), channel, None, Some(audio))
                    .map_err(Error::internal)?;
            let mic = Mic {
                sender,
                resample,
                channels: usize::from(channels),
            };
            let old = client.channel(channel, |c| c.audio.replace((publisher, mic)))?;
            drop(old); // Another call raced this one: the later one wins.
            Ok(0)
        })
    })
}

/// Pushes `len` interleaved microphone samples (any length, a whole number of frames) to the
/// channel's microphone publisher; never blocks. When more than 200 ms wait unencoded the
/// oldest are dropped.
///
/// Main thread, or the thread that captures; not the playback audio callback (it allocates).
///
/// # Safety
///
/// `channel` must be a NUL-terminated string; `samples` valid for `len` floats.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_audio_push(
    engine: i64,
    channel: *const std::ffi::c_char,
    samples: *const f32,
    len: usize,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let channel = unsafe { args::text(channel, "channel") }?;
        // SAFETY: the caller's contract.
        let samples = unsafe { args::samples(samples, len, "samples") }?;
        handles::with(engine, |client| {
            client.channel(channel, |c| {
                let (_, mic) = c.audio.as_mut().ok_or_else(|| not_publishing(channel))?;
                if !samples.len().is_multiple_of(mic.channels) {
                    return Err(Error::argument(format!(
                        "{} samples are not a whole number of {}-channel frames",
                        samples.len(),
                        mic.channels
                    )));
                }
                mic.push(samples);
                Ok(0)
            })?
        })
    })
}

/// Stops publishing the microphone in a channel.
///
/// Main thread (any thread but the audio thread); waits up to 100 ms for the encoder.
///
/// # Safety
///
/// `channel` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_audio_unpublish(
    engine: i64,
    channel: *const std::ffi::c_char,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let channel = unsafe { args::text(channel, "channel") }?;
        handles::with(engine, |client| {
            let old = client.channel(channel, |c| c.audio.take())?;
            old.ok_or_else(|| not_publishing(channel))?;
            Ok(0)
        })
    })
}

fn not_publishing(channel: &str) -> Error {
    Error::new(
        LIVESTAGE_ERR_NOT_PUBLISHING,
        format!(
            "the microphone is not published in {channel:?}; call livestage_audio_publish first"
        ),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn mono_voice_reaches_every_output_channel_and_runs_dry_into_silence() {
        let ring = Ring::new(48_000, 1);
        ring.write(&[0.25; 960]);
        let mut out = vec![1.0; 2 * 1024];
        assert_eq!(ring.read_into(&mut out, 2).unwrap(), 2 * 960);
        assert!(out[..2 * 960].iter().all(|&s| s == 0.25));
        assert!(out[2 * 960..].iter().all(|&s| s == 0.0));
        assert_eq!(ring.underruns.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn stereo_goes_to_the_first_two_channels_or_is_averaged_for_mono() {
        let ring = Ring::new(48_000, 2);
        ring.write(&[0.5, -0.5].repeat(4));
        let mut surround = [9.0; 6 * 2];
        assert_eq!(ring.read_into(&mut surround, 6).unwrap(), 12);
        assert_eq!(surround[..6], [0.5, -0.5, 0.0, 0.0, 0.0, 0.0]);
        let mut mono = [9.0; 2];
        ring.read_into(&mut mono, 1).unwrap();
        assert_eq!(mono, [0.0, 0.0]);
        assert!(ring.read_into(&mut [0.0; 3], 2).is_err(), "half a frame");
    }

    #[test]
    fn after_a_stall_the_oldest_voice_is_skipped() {
        let ring = Ring::new(48_000, 1);
        for i in 0..15 {
            ring.write(&[i as f32; 960]); // 300 ms: the ring is full
        }
        ring.write(&[99.0; 960]); // dropped: nobody read
        assert_eq!(ring.dropped.load(Ordering::Relaxed), 960);
        let mut out = [0.0; 480];
        ring.read_into(&mut out, 1).unwrap();
        // The read keeps its 480 samples plus 40 ms (1920) of the newest 14400: it starts at
        // sample 12000, in the frame written 13th (value 12).
        assert_eq!(out[0], 12.0);
    }

    #[test]
    fn resampling_keeps_the_duration() {
        let mut resample = Resample::new(48_000, 44_100, 2).unwrap();
        let mut produced = 0;
        for _ in 0..50 {
            resample.push(&[0.1; 2 * 960], |out| produced += out.len());
        }
        // One second in, about one second out (less the filter's delay, which is within one
        // chunk).
        assert!(
            (2 * 44_100 - 2 * 882..=2 * 44_100).contains(&produced),
            "{produced}"
        );
    }
}
