//! What the publisher does to its voice between the source and the encoder, and the handle
//! the app changes it through while it runs:
//!
//! ```text
//! source ─▶ [Capture hook] ─▶ echo, noise, gain ─▶ voice changer ─▶ + music, effects ─▶ [Encode hook] ─▶ Opus
//!                                   ▲ what the playout plays (EchoReference)
//! ```
//!
//! The voice thread owns the stages; [`VoiceControls`] (cloneable, any thread) leaves changes
//! that the thread takes before its next frame. A hook that fails is removed by the thread and
//! reported on [`VoiceControls::failures`].

use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_channel::{Receiver, Sender};
use livestage_media::audio::hooks::HookFailure;
use livestage_media::audio::processing::{self, VoiceProcessor};
use livestage_media::audio::{
    self, AudioHook, HookInfo, HookPoint, HookRunner, MixTap, VoiceChanger, VoicePreset,
};

use crate::playout::EchoReference;

/// Failures kept for the app before the oldest are dropped.
const FAILURES: usize = 16;

/// A hook every publisher sharing the controls runs (each converts with its own runner).
type SharedHook = Arc<Mutex<Box<dyn AudioHook>>>;

/// The settings, and how many times they changed (each chain applies a change once).
#[derive(Default)]
struct Settings {
    version: u64,
    capture: Option<SharedHook>,
    encode: Option<SharedHook>,
    preset: Option<VoicePreset>,
    /// Voice processing chosen by the app; `None` leaves each source's default.
    processing: Option<processing::Settings>,
}

/// The app's handle on the voice chain of one or more publishers: give clones to every
/// publisher of a client and a change reaches them all before their next frame.
#[derive(Clone)]
pub struct VoiceControls {
    settings: Arc<Mutex<Settings>>,
    failures_in: Sender<(HookPoint, HookFailure)>,
    failures: Receiver<(HookPoint, HookFailure)>,
}

impl Default for VoiceControls {
    fn default() -> Self {
        let (failures_in, failures) = crossbeam_channel::bounded(FAILURES);
        Self {
            settings: Arc::default(),
            failures_in,
            failures,
        }
    }
}

impl VoiceControls {
    fn lock(&self) -> MutexGuard<'_, Settings> {
        self.settings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Installs `hook` at [`HookPoint::Capture`] or [`HookPoint::Encode`] (replacing the one
    /// there), or removes it with `None`.
    ///
    /// # Errors
    ///
    /// [`HookFailure::Format`] for the playout's points (use the playout) or a format hooks
    /// are not offered in.
    pub fn set_hook(
        &self,
        point: HookPoint,
        hook: Option<Box<dyn AudioHook>>,
    ) -> Result<(), HookFailure> {
        if let Some(h) = &hook {
            // Checked here so the caller hears of a bad format, not the voice thread.
            HookRunner::check(h.as_ref())?;
        }
        let hook = hook.map(|h| Arc::new(Mutex::new(h)));
        let mut settings = self.lock();
        match point {
            HookPoint::Capture => settings.capture = hook,
            HookPoint::Encode => settings.encode = hook,
            _ => {
                return Err(HookFailure::Format(format!(
                    "{point:?} hooks are installed on the playout"
                )));
            }
        }
        settings.version += 1;
        Ok(())
    }

    /// Changes the voice changer's preset.
    pub fn set_preset(&self, preset: VoicePreset) {
        let mut settings = self.lock();
        settings.preset = Some(preset);
        settings.version += 1;
    }

    /// The voice changer's preset.
    pub fn preset(&self) -> VoicePreset {
        self.lock().preset.unwrap_or(VoicePreset::Off)
    }

    /// Switches echo cancellation, noise suppression and automatic gain (for every source,
    /// replacing each source's default: on for the microphone, off for tones and pushed voice).
    pub fn set_processing(&self, settings: processing::Settings) {
        let mut s = self.lock();
        s.processing = Some(settings);
        s.version += 1;
    }

    /// The voice processing the app chose, if it chose.
    pub fn processing(&self) -> Option<processing::Settings> {
        self.lock().processing
    }

    /// Hooks a voice thread removed, and why.
    pub fn failures(&self) -> &Receiver<(HookPoint, HookFailure)> {
        &self.failures
    }

    /// `failed` failed on one publisher: it goes for all of them (unless the app already
    /// replaced it with another).
    fn remove(&self, point: HookPoint, failed: &SharedHook, reason: HookFailure) {
        let mut settings = self.lock();
        let slot = match point {
            HookPoint::Capture => &mut settings.capture,
            _ => &mut settings.encode,
        };
        if slot.as_ref().is_some_and(|h| Arc::ptr_eq(h, failed)) {
            *slot = None;
            settings.version += 1;
        }
        let _ = self.failures_in.try_send((point, reason));
    }
}

/// The stages, owned by the voice thread.
pub(super) struct Chain {
    controls: VoiceControls,
    /// The settings version applied.
    version: u64,
    format: audio::Format,
    channel: String,
    /// The hooks running, each with the shared hook it runs (to remove that one on failure).
    capture: Option<(SharedHook, HookRunner)>,
    encode: Option<(SharedHook, HookRunner)>,
    changer: Option<VoiceChanger>,
    mix: Option<MixTap>,
    /// Echo cancellation, noise suppression, gain (48 kHz mono voice only).
    processor: Option<VoiceProcessor>,
    /// The source's default processing, when the app chose none.
    default_processing: processing::Settings,
    /// Where the processor's far end comes from.
    echo: Option<EchoReference>,
}

impl Chain {
    pub(super) fn new(
        controls: VoiceControls,
        format: audio::Format,
        channel: &str,
        mix: Option<MixTap>,
        default_processing: processing::Settings,
        echo: Option<EchoReference>,
    ) -> Self {
        if mix.is_some() && format.sample_rate != 48_000 {
            tracing::warn!(
                "livestage: music and effects mix into 48 kHz voice only; this {} Hz voice goes out without them",
                format.sample_rate
            );
        }
        Self {
            controls,
            version: 0,
            format,
            channel: channel.to_owned(),
            capture: None,
            encode: None,
            changer: None,
            mix,
            processor: None,
            default_processing,
            echo,
        }
    }

    /// Applies the app's changes, if any (and if the lock is free; else next frame).
    fn update(&mut self) {
        let settings = Arc::clone(&self.controls.settings);
        let Ok(settings) = settings.try_lock() else {
            return;
        };
        if settings.version == self.version {
            return;
        }
        self.version = settings.version;
        let format = self.format;
        let runner = |hook: &Option<SharedHook>| {
            let h = hook.as_ref()?;
            let runner = HookRunner::new(Box::new(h.clone()), format).ok()?;
            Some((h.clone(), runner))
        };
        self.capture = runner(&settings.capture);
        self.encode = runner(&settings.encode);
        let wanted = settings.processing.unwrap_or(self.default_processing);
        let preset = settings.preset.unwrap_or(VoicePreset::Off);
        drop(settings);
        self.set_processing(wanted);
        if self.changer.as_ref().map(VoiceChanger::preset) != Some(preset) {
            // The changer works on 48 kHz voice; other rates (pushed voice) pass unchanged.
            self.changer = (preset != VoicePreset::Off && self.format.sample_rate == 48_000)
                .then(|| VoiceChanger::new(preset));
        }
    }

    /// Makes, changes or drops the processor for `wanted`.
    fn set_processing(&mut self, wanted: processing::Settings) {
        if !wanted.any() || self.format != processing::FORMAT {
            self.processor = None;
            return;
        }
        match &mut self.processor {
            Some(p) if p.settings() == wanted => {}
            Some(p) => p.set_settings(wanted),
            None => {
                if let Ok((processor, far_end)) = VoiceProcessor::new(wanted) {
                    if let Some(echo) = &self.echo {
                        echo.attach(far_end);
                    }
                    self.processor = Some(processor);
                }
            }
        }
    }

    /// Runs every stage on one frame: the capture hook, voice processing, the changer, the
    /// music and effects, the encode hook. Returns whether music or effects sounded.
    pub(super) fn process(&mut self, frame: &mut [f32]) -> bool {
        if self.version == 0 && self.processor.is_none() {
            // Before any change by the app: the source's default.
            self.set_processing(self.default_processing);
        }
        self.update();
        run_hook(
            &mut self.capture,
            frame,
            HookPoint::Capture,
            &self.channel,
            &self.controls,
        );
        if let Some(processor) = &mut self.processor {
            processor.process(frame);
        }
        if let Some(changer) = &mut self.changer {
            changer.process_frame(frame);
        }
        let mixed = match &mut self.mix {
            Some(tap) if self.format.sample_rate == 48_000 => tap.add_to(frame, 1),
            _ => false,
        };
        if mixed {
            for s in frame.iter_mut() {
                *s = audio::mixer::soft_clip(*s);
            }
        }
        run_hook(
            &mut self.encode,
            frame,
            HookPoint::Encode,
            &self.channel,
            &self.controls,
        );
        mixed
    }
}

fn run_hook(
    slot: &mut Option<(SharedHook, HookRunner)>,
    frame: &mut [f32],
    point: HookPoint,
    channel: &str,
    controls: &VoiceControls,
) {
    let Some((hook, runner)) = slot else {
        return;
    };
    let info = HookInfo {
        point,
        media_id: None,
        channel: Some(channel),
    };
    if let Err(e) = runner.run(frame, &info) {
        tracing::warn!("livestage: removed the {point:?} audio hook: {e}");
        controls.remove(point, hook, e);
        *slot = None;
    }
}
