//! The app's code on remote video: the remote hook (may rewrite or drop each decoded picture)
//! and the renderer (gets each picture, to draw it its own way), per track or for all tracks.
//!
//! [`Playout`](super::Playout) keeps what the app installed in its shared state; each track's
//! decoder thread keeps a [`TrackHooks`] that picks the ones for its track (the track's own,
//! else the one for all tracks) whenever the app changed them, and runs them on its thread.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use livestage_media::video::hooks::{self, Hook, Info, Point, Renderer, Runner, Verdict};
use livestage_media::video::{I420, Rgba};
use livestage_proto::media::VideoHeader;

use super::{Key, PlayoutEvent, Shared};

/// How long a remote hook may take per picture before the picture is shown as it came.
pub const REMOTE_BUDGET: Duration = Duration::from_millis(33);

/// A hook shared by the decoder threads of the tracks it is installed for.
pub(super) type SharedHook = Arc<Mutex<Box<dyn Hook>>>;
/// A renderer shared the same way.
pub(super) type SharedRenderer = Arc<Mutex<Box<dyn Renderer>>>;

/// What the app installed on remote video: keyed by track, `None` for all tracks.
#[derive(Default)]
pub(super) struct Installed {
    /// Changes so far; decoder threads look again when it moved.
    pub version: u64,
    pub hooks: HashMap<Option<Key>, SharedHook>,
    pub renderers: HashMap<Option<Key>, SharedRenderer>,
}

impl Installed {
    /// Removes `failed` wherever it is still installed; where it was, if anywhere.
    fn remove_hook(&mut self, failed: &SharedHook) -> Option<Option<Key>> {
        let at = remove(&mut self.hooks, failed)?;
        self.version += 1;
        Some(at)
    }

    fn remove_renderer(&mut self, failed: &SharedRenderer) -> Option<Option<Key>> {
        let at = remove(&mut self.renderers, failed)?;
        self.version += 1;
        Some(at)
    }
}

/// Takes `failed` out of `map` (the app may have replaced it meanwhile); its key.
fn remove<T: ?Sized>(
    map: &mut HashMap<Option<Key>, Arc<T>>,
    failed: &Arc<T>,
) -> Option<Option<Key>> {
    let at = map
        .iter()
        .find(|(_, installed)| Arc::ptr_eq(installed, failed))
        .map(|(k, _)| k.clone())?;
    map.remove(&at);
    Some(at)
}

/// The track's own entry of `map`, else the one for all tracks.
fn pick<T: Clone>(map: &HashMap<Option<Key>, T>, key: &Key) -> Option<T> {
    map.get(&Some(key.clone()))
        .or_else(|| map.get(&None))
        .cloned()
}

/// One track's view of the installed hook and renderer, owned by its decoder thread.
pub(super) struct TrackHooks {
    key: Key,
    version: u64,
    hook: Option<(SharedHook, Runner)>,
    renderer: Option<SharedRenderer>,
    /// The renderer's RGBA conversion buffer.
    rgba: Option<Rgba>,
}

impl TrackHooks {
    pub(super) fn new(key: Key) -> Self {
        Self {
            key,
            version: 0,
            hook: None,
            renderer: None,
            rgba: None,
        }
    }

    /// Takes the app's changes (call with the shared state locked, once per picture).
    pub(super) fn refresh(&mut self, installed: &Installed) {
        if installed.version == self.version {
            return;
        }
        self.version = installed.version;
        let hook = pick(&installed.hooks, &self.key);
        // Keep the runner (and its failure count) when the hook did not change.
        if hook.as_ref().map(Arc::as_ptr) != self.hook.as_ref().map(|(h, _)| Arc::as_ptr(h)) {
            self.hook = hook.map(|h| (h.clone(), Runner::new(Box::new(h), REMOTE_BUDGET)));
        }
        self.renderer = pick(&installed.renderers, &self.key);
    }

    /// Whether anything is installed for this track.
    pub(super) fn any(&self) -> bool {
        self.hook.is_some() || self.renderer.is_some()
    }

    /// Runs the hook on `picture`; `false` when it dropped it. A failing hook is removed.
    pub(super) fn run_hook(
        &mut self,
        picture: &mut I420,
        header: &VideoHeader,
        shared: &Mutex<Shared>,
    ) -> bool {
        let Some((hook, mut runner)) = self.hook.take() else {
            return true;
        };
        let ran = runner.run(picture, &info(&self.key, header));
        match ran {
            Ok(verdict) => {
                self.hook = Some((hook, runner));
                verdict == Verdict::Keep
            }
            Err(reason) => {
                let mut s = super::lock(shared);
                if let Some(target) = s.video_hooks.remove_hook(&hook) {
                    tracing::warn!("livestage: removed a remote video hook: {reason}");
                    s.report(PlayoutEvent::VideoHookRemoved {
                        target,
                        renderer: false,
                        reason,
                    });
                }
                true
            }
        }
    }

    /// Hands `picture` to the renderer. A renderer that panics is removed.
    pub(super) fn render(&mut self, picture: &I420, header: &VideoHeader, shared: &Mutex<Shared>) {
        let Some(renderer) = self.renderer.clone() else {
            return;
        };
        let rendered = hooks::render(
            &mut renderer.clone(),
            picture,
            &info(&self.key, header),
            &mut self.rgba,
        );
        if let Err(reason) = rendered {
            self.renderer = None;
            let mut s = super::lock(shared);
            if let Some(target) = s.video_hooks.remove_renderer(&renderer) {
                tracing::warn!("livestage: removed a video renderer: {reason}");
                s.report(PlayoutEvent::VideoHookRemoved {
                    target,
                    renderer: true,
                    reason,
                });
            }
        }
    }
}

/// What a hook or renderer is told about a picture of `key`.
fn info<'a>(key: &'a Key, header: &VideoHeader) -> Info<'a> {
    Info {
        point: Point::Remote,
        channel: Some(&key.0),
        media_id: Some(key.1),
        track: Some(key.2),
        frame: header.frame,
        capture_us: header.capture_us,
    }
}
