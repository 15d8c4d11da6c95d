//! What the publisher does to its pictures between the source and the encoder, and the handle
//! the app changes it through while it runs:
//!
//! ```text
//! source ─▶ beauty ─▶ [Local hook] ─▶ layers ─▶ H.264
//! ```
//!
//! The video thread owns the stages; [`VideoControls`] (cloneable, any thread) leaves changes
//! that the thread takes before its next frame. A hook that fails is removed by the thread and
//! reported on [`VideoControls::failures`]. A forwarded file (sent as it is encoded) has no
//! pictures to process, so neither stage applies to it.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use livestage_media::video::I420;
use livestage_media::video::beauty::{self, Beauty, BeautyError};
use livestage_media::video::hooks::{Failure, Hook, Info, Point, Runner, Verdict};

/// Failures kept for the app before the oldest are dropped.
const FAILURES: usize = 16;

/// A hook every publisher sharing the controls runs (each through its own runner).
type SharedHook = Arc<Mutex<Box<dyn Hook>>>;

/// The settings, and how many times they changed (each chain applies a change once).
#[derive(Default)]
struct Settings {
    version: u64,
    hook: Option<SharedHook>,
    beauty: beauty::Options,
}

/// The app's handle on the picture processing of one or more publishers: give clones to
/// every publisher of a client and a change reaches them all before their next frame.
#[derive(Clone)]
pub struct VideoControls {
    settings: Arc<Mutex<Settings>>,
    failures_in: Sender<Failure>,
    failures: Receiver<Failure>,
}

impl Default for VideoControls {
    fn default() -> Self {
        let (failures_in, failures) = crossbeam_channel::bounded(FAILURES);
        Self {
            settings: Arc::default(),
            failures_in,
            failures,
        }
    }
}

impl VideoControls {
    fn lock(&self) -> MutexGuard<'_, Settings> {
        self.settings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Installs `hook` on every local picture before it is encoded (replacing the one there),
    /// or removes it with `None`. It runs on each publisher's video thread with a budget of
    /// one frame interval.
    pub fn set_hook(&self, hook: Option<Box<dyn Hook>>) {
        let mut settings = self.lock();
        settings.hook = hook.map(|h| Arc::new(Mutex::new(h)));
        settings.version += 1;
    }

    /// Sets the beauty effects (all zeros turns them off), applied before the hook.
    ///
    /// # Errors
    ///
    /// [`BeautyError`] for a value outside 0.0 to 1.0 (or NaN); nothing changes.
    pub fn set_beauty(&self, options: beauty::Options) -> Result<(), BeautyError> {
        options.validate()?;
        let mut settings = self.lock();
        settings.beauty = options;
        settings.version += 1;
        Ok(())
    }

    /// The beauty effects set.
    pub fn beauty(&self) -> beauty::Options {
        self.lock().beauty
    }

    /// Whether anything would process pictures now (a forwarded file is re-encoded instead
    /// when this holds as it starts).
    pub fn processes(&self) -> bool {
        let settings = self.lock();
        settings.hook.is_some() || !settings.beauty.is_off()
    }

    /// Hooks a video thread removed, and why.
    pub fn failures(&self) -> &Receiver<Failure> {
        &self.failures
    }

    /// `failed` failed on one publisher: it goes for all of them (unless the app already
    /// replaced it with another).
    fn remove(&self, failed: &SharedHook, reason: Failure) {
        let mut settings = self.lock();
        if settings
            .hook
            .as_ref()
            .is_some_and(|h| Arc::ptr_eq(h, failed))
        {
            settings.hook = None;
            settings.version += 1;
        }
        let _ = self.failures_in.try_send(reason);
    }
}

/// The stages, owned by a video thread.
pub(super) struct Chain {
    controls: VideoControls,
    /// The settings version applied.
    version: u64,
    /// A hook's budget: one frame interval.
    budget: Duration,
    hook: Option<(SharedHook, Runner)>,
    beauty: Option<Beauty>,
}

impl Chain {
    pub(super) fn new(controls: VideoControls, fps: f32) -> Self {
        Self {
            controls,
            version: 0,
            budget: Duration::from_secs_f32(1.0 / fps.max(1.0)),
            hook: None,
            beauty: None,
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
        self.hook = settings
            .hook
            .as_ref()
            .map(|h| (h.clone(), Runner::new(Box::new(h.clone()), self.budget)));
        let options = settings.beauty;
        match &mut self.beauty {
            _ if options.is_off() => self.beauty = None,
            // Validated when set.
            Some(b) => drop(b.set(options)),
            None => self.beauty = Beauty::new(options).ok(),
        }
    }

    /// Runs every stage on tick `n`'s `frame`; `false` when a hook dropped it.
    pub(super) fn process(&mut self, frame: &mut I420, n: u64, capture_us: u64) -> bool {
        self.update();
        if let Some(beauty) = &mut self.beauty {
            beauty.apply(frame);
        }
        let Some((hook, runner)) = &mut self.hook else {
            return true;
        };
        let info = Info {
            capture_us,
            ..Info::local(n)
        };
        debug_assert_eq!(info.point, Point::Local);
        match runner.run(frame, &info) {
            Ok(verdict) => verdict == Verdict::Keep,
            Err(e) => {
                tracing::warn!("livestage: removed the local video hook: {e}");
                self.controls.remove(hook, e);
                self.hook = None;
                true
            }
        }
    }
}
