//! Voice processing on the capture path: echo cancellation, noise suppression and automatic
//! gain, each switchable, all on by default for the microphone.
//!
//! The stages are WebRTC's audio processing module (AEC3, the noise suppressor, AGC2 with its
//! limiter, and the high-pass filter in front of them) as ported to Rust by [`sonora`].
//!
//! # Where it sits
//!
//! ```text
//! capture -> [hook 1] -> VoiceProcessor -> music/effects mix -> [hook 2] -> encoder
//! playout mix -> device
//!             \-> FarEnd (a copy of exactly what the device plays) -> VoiceProcessor
//! ```
//!
//! The echo canceller takes out of the microphone what the playout played: the playout thread
//! hands every frame it plays to [`FarEnd::push`], and [`VoiceProcessor::process`], on the
//! capture thread, first feeds the far-end audio that arrived since its last call to the echo
//! canceller, then processes the capture frame in place. It runs before the music and effects
//! mix so that music is neither cancelled nor suppressed, and only the microphone is.
//!
//! The playout should push every frame the device plays, silence included: the echo canceller
//! aligns the far end to the microphone by counting samples, so a far end that skips its
//! silent frames would look like a jumping echo delay.
//!
//! # Latency
//!
//! [`VoiceProcessor::process`] takes a 20 ms frame and gives it back processed in the same call,
//! so it adds no buffering. The filters themselves delay the microphone by [`LATENCY_MS`] with
//! every stage on (measured: 15.0 ms; echo cancellation alone 9.0 ms, noise suppression alone
//! 7.0 ms, automatic gain alone 1.0 ms, all off 0): the band-splitting filter bank and the
//! block and overlap framing inside WebRTC's stages. `examples/processing_cost.rs` measures it
//! as the lag of the cross-correlation peak between white-noise bursts going in and what comes
//! out. The echo path itself may be a few hundred milliseconds long; the echo canceller finds
//! its delay ([`ProcessorStats::delay_ms`]).
//!
//! # Convergence
//!
//! In the test's room (far-end speech coming back 60 ms later at -10 dB through a short
//! reverberant tail, `tests/voice_processing.rs`), the echo is 10-37 dB down over the first
//! 3 s of far-end speech and more than 44 dB down from 3.5 s on.
//!
//! # Switching stages
//!
//! With every stage off, [`VoiceProcessor::process`] leaves the frame bit-exact and only
//! discards the far-end audio. [`VoiceProcessor::set_settings`] switches stages live; any change
//! reinitialises the whole chain (it allocates, the echo canceller converges again as above,
//! and the gain starts again from its initial value).
//!
//! ```
//! use livestage_media::audio::processing::{Settings, VoiceProcessor};
//!
//! let (mut processor, mut far_end) = VoiceProcessor::new(Settings::default())?;
//! // The playout thread hands over each frame it plays...
//! std::thread::spawn(move || far_end.push(&[0.0; 960])).join().expect("pushes");
//! // ...and the capture thread processes each microphone frame in place.
//! let mut frame = vec![0.0; 960];
//! processor.process(&mut frame);
//! processor.set_settings(Settings { auto_gain: false, ..Settings::default() });
//! assert_eq!(processor.stats().frames, 1);
//! # Ok::<(), livestage_media::audio::Error>(())
//! ```

mod far_end;

use sonora::config::{
    AdaptiveDigital, EchoCanceller, GainController2, HighPassFilter, MaxProcessingRate,
    NoiseSuppression, Pipeline,
};
use sonora::{AudioProcessing, Config, StreamConfig};

use super::error::Result;
use super::format::Format;

pub use far_end::{CAPACITY_MS, FarEnd};

/// The format processed: 48 kHz mono, both for the capture and the far end.
pub const FORMAT: Format = Format::MONO_48K;

/// Samples in one 10 ms chunk, the unit the processing works in.
pub const CHUNK: usize = FORMAT.sample_rate as usize / 100;

/// The delay the filters add to the microphone with every stage on, in milliseconds (measured
/// 14.96 ms; see the module doc for each stage and how it is measured).
pub const LATENCY_MS: f32 = 15.0;

/// Which stages run. All on by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Settings {
    /// Remove the far-end audio (what the playout plays) from the microphone (WebRTC AEC3).
    pub echo_cancellation: bool,
    /// Attenuate stationary background noise by about 12 dB (WebRTC NS, moderate level).
    pub noise_suppression: bool,
    /// Bring speech to a steady level with an adaptive digital gain and a limiter (WebRTC
    /// AGC2); it never touches the system's microphone volume.
    pub auto_gain: bool,
}

impl Settings {
    /// Every stage off: the frame passes through bit-exact.
    pub const OFF: Settings = Settings {
        echo_cancellation: false,
        noise_suppression: false,
        auto_gain: false,
    };

    /// Whether any stage runs.
    pub fn any(&self) -> bool {
        self.echo_cancellation || self.noise_suppression || self.auto_gain
    }

    /// The WebRTC configuration of these settings. The high-pass filter (80 Hz) runs whenever
    /// any stage does, as in WebRTC's voice defaults: rumble and DC would otherwise mislead
    /// the echo canceller and the gain.
    fn config(&self) -> Config {
        Config {
            pipeline: Pipeline {
                maximum_internal_processing_rate: MaxProcessingRate::Rate48kHz,
                ..Pipeline::default()
            },
            high_pass_filter: self.any().then(HighPassFilter::default),
            echo_canceller: self.echo_cancellation.then(EchoCanceller::default),
            noise_suppression: self.noise_suppression.then(NoiseSuppression::default),
            gain_controller2: self.auto_gain.then(|| GainController2 {
                input_volume_controller: false,
                adaptive_digital: Some(AdaptiveDigital::default()),
                ..GainController2::default()
            }),
            ..Config::default()
        }
    }
}

impl Default for Settings {
    /// Echo cancellation, noise suppression and automatic gain all on.
    fn default() -> Self {
        Settings {
            echo_cancellation: true,
            noise_suppression: true,
            auto_gain: true,
        }
    }
}

/// What the processor measured and counted.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessorStats {
    /// Echo return loss in dB, as the echo canceller estimates it: how much quieter the echo in
    /// the microphone is than the far end. `None` with echo cancellation off.
    pub echo_return_loss_db: Option<f64>,
    /// Echo return loss enhancement in dB, as the echo canceller estimates it for its linear
    /// filter alone (the suppressor after it removes more). `None` with echo cancellation off.
    pub echo_return_loss_enhancement_db: Option<f64>,
    /// The far-end to microphone delay the echo canceller aligns to, in ms (a multiple of 4).
    /// `None` with echo cancellation off.
    pub delay_ms: Option<i32>,
    /// Capture frames processed.
    pub frames: u64,
    /// 10 ms far-end chunks fed to the echo canceller.
    pub far_end_chunks: u64,
    /// Far-end frames the playout's [`FarEnd`] dropped because the ring was full.
    pub far_end_dropped: u64,
}

/// Echo cancellation, noise suppression and automatic gain for one microphone. Lives on the
/// capture thread; see the [module doc](self).
pub struct VoiceProcessor {
    settings: Settings,
    apm: AudioProcessing,
    far_end: far_end::Reader,
    /// One 10 ms chunk of input (the processing reads one buffer and writes another).
    input: Box<[f32; CHUNK]>,
    /// One 10 ms chunk of far end, and where the processing copies it back to.
    render: Box<[f32; CHUNK]>,
    render_out: Box<[f32; CHUNK]>,
    frames: u64,
    far_end_chunks: u64,
}

impl std::fmt::Debug for VoiceProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceProcessor")
            .field("settings", &self.settings)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl VoiceProcessor {
    /// A processor for 48 kHz mono in 20 ms frames, and the far-end writer the playout uses.
    pub fn new(settings: Settings) -> Result<(VoiceProcessor, FarEnd)> {
        let stream = StreamConfig::new(FORMAT.sample_rate, FORMAT.channels);
        let apm = AudioProcessing::builder()
            .config(settings.config())
            .capture_config(stream)
            .render_config(stream)
            .build();
        let (writer, far_end) = far_end::ring();
        let processor = VoiceProcessor {
            settings,
            apm,
            far_end,
            input: Box::new([0.0; CHUNK]),
            render: Box::new([0.0; CHUNK]),
            render_out: Box::new([0.0; CHUNK]),
            frames: 0,
            far_end_chunks: 0,
        };
        Ok((processor, writer))
    }

    /// Switches stages live. A change reinitialises the whole chain: it allocates, the echo
    /// canceller converges again and the gain starts again from its initial value.
    pub fn set_settings(&mut self, settings: Settings) {
        if settings != self.settings {
            self.settings = settings;
            self.apm.apply_config(settings.config());
        }
    }

    /// The stages that run.
    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// Processes one capture frame in place (20 ms, 960 samples; any whole number of 10 ms
    /// chunks works). First feeds the far-end audio that arrived to the echo canceller, or
    /// discards it with echo cancellation off. With every stage off the frame is left as it
    /// is, at no cost.
    ///
    /// Not for an audio device callback: sonora's echo canceller and gain allocate small
    /// buffers on every frame (about 87 and 22 allocations per 20 ms; the noise suppressor
    /// none), which the voice thread can afford and a device callback cannot.
    ///
    /// # Panics
    ///
    /// If `frame` is not a whole number of 10 ms chunks ([`CHUNK`] samples): the capture
    /// pipeline works in 20 ms frames of 48 kHz mono, so any other length is a bug upstream.
    pub fn process(&mut self, frame: &mut [f32]) {
        assert!(
            frame.len().is_multiple_of(CHUNK),
            "voice processing takes whole 10 ms chunks of 48 kHz mono ({CHUNK} samples), got {}",
            frame.len()
        );
        self.frames += 1;
        self.take_far_end();
        if !self.settings.any() {
            return;
        }
        for chunk in frame.chunks_exact_mut(CHUNK) {
            self.input.copy_from_slice(chunk);
            // Cannot fail: the stream is 48 kHz mono as built, and both buffers hold 10 ms.
            let processed = self
                .apm
                .process_capture_f32(&[&self.input[..]], &mut [chunk]);
            debug_assert!(processed.is_ok(), "48 kHz mono 10 ms: {processed:?}");
        }
    }

    /// Feeds the whole 10 ms chunks of far end that arrived to the echo canceller, or discards
    /// them when it is off.
    fn take_far_end(&mut self) {
        let chunks = self.far_end.available() / CHUNK;
        if !self.settings.echo_cancellation {
            self.far_end.discard(chunks * CHUNK);
            return;
        }
        for _ in 0..chunks {
            if !self.far_end.pop(&mut self.render[..]) {
                break;
            }
            // Cannot fail: the stream is 48 kHz mono as built, and both buffers hold 10 ms.
            let analysed = self
                .apm
                .process_render_f32(&[&self.render[..]], &mut [&mut self.render_out[..]]);
            debug_assert!(analysed.is_ok(), "48 kHz mono 10 ms: {analysed:?}");
            self.far_end_chunks += 1;
        }
    }

    /// What the processor measured and counted.
    pub fn stats(&self) -> ProcessorStats {
        let apm = self.apm.statistics();
        let echo = self.settings.echo_cancellation;
        ProcessorStats {
            echo_return_loss_db: apm.echo_return_loss.filter(|_| echo),
            echo_return_loss_enhancement_db: apm.echo_return_loss_enhancement.filter(|_| echo),
            delay_ms: apm.delay_ms.filter(|_| echo),
            frames: self.frames,
            far_end_chunks: self.far_end_chunks,
            far_end_dropped: self.far_end.dropped(),
        }
    }
}
