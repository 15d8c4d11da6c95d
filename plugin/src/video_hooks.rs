//! Raw video in the ECS: components that install app code on what a channel publishes
//! ([`LocalVideoHook`] on the channel entity) or on a remote track's decoded pictures
//! ([`RemoteVideoHook`], [`VideoRenderer`] on the track entity), and [`VideoHookRemoved`] when
//! one fails. The code runs on media threads (the publisher's video thread, the track's decoder
//! thread), never on the main thread; removing the component uninstalls it.
//!
//! ```
//! use bevy::prelude::*;
//! use bevy_livestage::prelude::*;
//! use bevy_livestage::video_hooks::{Format, FrameMut, LocalVideoHook, Verdict, hook_fn};
//!
//! /// A white bar across the top of what this client sends (a watermark).
//! fn watermark(channel: Entity, mut commands: Commands) {
//!     commands.entity(channel).insert(LocalVideoHook::new(hook_fn(Format::I420, |frame, _| {
//!         if let FrameMut::I420(picture) = frame {
//!             let width = picture.width() as usize;
//!             picture.planes_mut().0[..width * 8].fill(235);
//!         }
//!         Verdict::Keep
//!     })));
//! }
//! ```

use std::sync::Mutex;

use bevy::ecs::world::DeferredWorld;
use bevy::prelude::*;
pub use livestage_media::video::hooks::{
    Failure, Format, FrameMut, Hook, Info, Picture, Point, Renderer, Verdict, hook_fn, renderer_fn,
};
use livestage_net::playout::PlayoutEvent;
use livestage_proto::track::TrackId;

use crate::channel::{Participant, ParticipantOf};
use crate::client::Livestage;
use crate::track::{Track, TrackOf};

/// On a channel entity: `hook` gets every picture this client publishes there (its camera,
/// custom frames or game view; not a screen share) after beauty and before encoding, and may
/// rewrite or drop it. Budget: one frame interval.
#[derive(Component)]
pub struct LocalVideoHook(Mutex<Option<Box<dyn Hook>>>);

impl LocalVideoHook {
    /// Installs `hook` once this component is inserted.
    pub fn new(hook: impl Hook + 'static) -> Self {
        Self(Mutex::new(Some(Box::new(hook))))
    }
}

/// On a remote video track entity: `hook` gets each decoded picture before it reaches the
/// texture and renderers, and may rewrite or drop it. Budget:
/// [`REMOTE_BUDGET`](livestage_net::playout::REMOTE_BUDGET).
#[derive(Component)]
pub struct RemoteVideoHook(Mutex<Option<Box<dyn Hook>>>);

impl RemoteVideoHook {
    /// Installs `hook` once this component is inserted.
    pub fn new(hook: impl Hook + 'static) -> Self {
        Self(Mutex::new(Some(Box::new(hook))))
    }
}

/// On a remote video track entity: a custom renderer that gets every decoded picture (I420
/// planes or RGBA, as it asks) on the track's decoder thread, as well as or instead of the
/// built-in texture ([`RemoteVideo`](crate::RemoteVideo)).
#[derive(Component)]
pub struct VideoRenderer {
    renderer: Mutex<Option<Box<dyn Renderer>>>,
    texture: bool,
}

impl VideoRenderer {
    /// `renderer` as well as the built-in texture.
    pub fn new(renderer: impl Renderer + 'static) -> Self {
        Self {
            renderer: Mutex::new(Some(Box::new(renderer))),
            texture: true,
        }
    }

    /// Instead of the built-in texture: no `RemoteVideo` is written for this track, which saves
    /// the main thread its colour conversion.
    #[must_use]
    pub fn instead_of_texture(self) -> Self {
        Self {
            texture: false,
            ..self
        }
    }

    /// Whether the built-in texture is written too.
    pub fn keeps_texture(&self) -> bool {
        self.texture
    }
}

/// A video hook or renderer failed (it panicked, or overran its budget or resized the picture
/// 5 frames in a row) and was removed; pictures go on without it. Its component stays until
/// the game removes it.
#[derive(Message, Clone, Debug, PartialEq, Eq)]
pub struct VideoHookRemoved {
    /// The channel entity (a local hook) or the track entity (a remote hook or renderer), when
    /// it still exists.
    pub entity: Option<Entity>,
    /// Where it ran.
    pub point: Point,
    /// A renderer rather than a hook.
    pub renderer: bool,
    /// Why.
    pub reason: Failure,
}

/// What a component on `track` installs for: (channel link, publisher media id, track id).
fn target(world: &World, track: Entity) -> Option<(String, u64, TrackId)> {
    let id = world.get::<Track>(track)?.id;
    let participant = world.get::<TrackOf>(track)?.0;
    let media_id = world.get::<Participant>(participant)?.media_id;
    let channel = world.get::<ParticipantOf>(participant)?.0;
    let link = world.resource::<Livestage>().link_of(channel)?.to_owned();
    Some((link, media_id, id))
}

fn take<T: ?Sized>(slot: &Mutex<Option<Box<T>>>) -> Option<Box<T>> {
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
}

pub(crate) fn install_local(added: On<Insert, LocalVideoHook>, mut world: DeferredWorld) {
    let channel = added.entity;
    let Some(hook) = world
        .get::<LocalVideoHook>(channel)
        .and_then(|h| take(&h.0))
    else {
        return;
    };
    world
        .resource_mut::<Livestage>()
        .video_controls(channel)
        .set_hook(Some(hook));
}

pub(crate) fn remove_local(removed: On<Discard, LocalVideoHook>, mut world: DeferredWorld) {
    world
        .resource_mut::<Livestage>()
        .video_controls(removed.entity)
        .set_hook(None);
}

pub(crate) fn install_remote(added: On<Insert, RemoteVideoHook>, world: DeferredWorld) {
    let Some((link, media_id, track)) = target(&world, added.entity) else {
        warn!("livestage: RemoteVideoHook belongs on a remote track entity (with Track, TrackOf)");
        return;
    };
    let hook = world
        .get::<RemoteVideoHook>(added.entity)
        .and_then(|h| take(&h.0));
    let client = world.resource::<Livestage>();
    client
        .playout
        .set_video_hook(Some((&link, media_id, track)), hook);
}

pub(crate) fn remove_remote(removed: On<Discard, RemoteVideoHook>, world: DeferredWorld) {
    if let Some((link, media_id, track)) = target(&world, removed.entity) {
        let client = world.resource::<Livestage>();
        client
            .playout
            .set_video_hook(Some((&link, media_id, track)), None);
    }
}

pub(crate) fn install_renderer(added: On<Insert, VideoRenderer>, world: DeferredWorld) {
    let Some((link, media_id, track)) = target(&world, added.entity) else {
        warn!("livestage: VideoRenderer belongs on a remote track entity (with Track, TrackOf)");
        return;
    };
    let renderer = world
        .get::<VideoRenderer>(added.entity)
        .and_then(|r| take(&r.renderer));
    let client = world.resource::<Livestage>();
    client
        .playout
        .set_renderer(Some((&link, media_id, track)), renderer);
}

pub(crate) fn remove_renderer(removed: On<Discard, VideoRenderer>, world: DeferredWorld) {
    if let Some((link, media_id, track)) = target(&world, removed.entity) {
        let client = world.resource::<Livestage>();
        client
            .playout
            .set_renderer(Some((&link, media_id, track)), None);
    }
}

/// Local hook failures, as messages.
pub(crate) fn report_local(client: Res<Livestage>, mut removed: MessageWriter<VideoHookRemoved>) {
    for (channel, controls) in client.video_controls_all() {
        for reason in controls.failures().try_iter() {
            removed.write(VideoHookRemoved {
                entity: Some(channel),
                point: Point::Local,
                renderer: false,
                reason,
            });
        }
    }
}

/// A playout event about a remote video hook or renderer, as a message.
pub(crate) fn playout_event(world: &mut World, event: &PlayoutEvent) {
    let PlayoutEvent::VideoHookRemoved {
        target: at,
        renderer,
        reason,
    } = event
    else {
        return;
    };
    let mut tracks = world.query_filtered::<Entity, With<Track>>();
    let candidates: Vec<Entity> = tracks.iter(world).collect();
    let entity = at.as_ref().and_then(|at| {
        candidates
            .into_iter()
            .find(|&e| target(world, e).as_ref() == Some(at))
    });
    world.write_message(VideoHookRemoved {
        entity,
        point: Point::Remote,
        renderer: *renderer,
        reason: reason.clone(),
    });
}
