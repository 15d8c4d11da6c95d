//! Headless apps against the embedded server, and bots that join it with the plain engine.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy_livestage::prelude::*;
use bevy_livestage::{RemoteServer, track_of};
use livestage_net::Engine;
use livestage_net::engine::{ConnectionState, EventKind, JoinOptions};
use livestage_net::publish::{AudioSource, Publisher, Video, VideoSource};

/// A headless app (`MinimalPlugins`, assets, images) with the plugin on an embedded server and
/// the null audio device.
pub fn app() -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default()))
        .init_asset::<Image>()
        .add_plugins(LivestagePlugin::embedded().without_audio_device());
    app
}

/// An app on `server` instead of an embedded one.
pub fn app_on(server: RemoteServer) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default()))
        .init_asset::<Image>()
        .add_plugins(LivestagePlugin::remote(server).without_audio_device());
    app
}

pub fn token(app: &App, channel: &str, user: &str, grants: &str) -> String {
    app.world()
        .resource::<Livestage>()
        .token(channel, user, grants, 3600)
        .unwrap()
}

pub fn server(app: &App) -> RemoteServer {
    app.world()
        .resource::<Livestage>()
        .server()
        .unwrap()
        .clone()
}

/// Spawns a channel entity and joins it.
pub fn join(app: &mut App, channel: &str, user: &str, grants: &str, role: Role) -> Entity {
    let token = token(app, channel, user, grants);
    let entity = app.world_mut().spawn(Channel::new(channel)).id();
    app.world_mut().trigger(Join {
        entity,
        token,
        role,
    });
    entity
}

/// Steps the app until `done` holds, failing after 10 s.
pub fn update_until(app: &mut App, what: &str, mut done: impl FnMut(&mut World) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        app.update();
        if done(app.world_mut()) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Steps the app for `duration`.
pub fn run_for(app: &mut App, duration: Duration) {
    let end = Instant::now() + duration;
    while Instant::now() < end {
        app.update();
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The participant entity of `user` in `channel`, if there is one.
pub fn participant(world: &mut World, channel: Entity, user: &str) -> Option<Entity> {
    let mut q = world.query::<(Entity, &Participant, &ParticipantOf)>();
    q.iter(world)
        .find(|(_, p, of)| p.user == user && of.0 == channel)
        .map(|(e, _, _)| e)
}

/// A participant outside the app: the plain client engine, optionally publishing.
pub struct Bot {
    pub engine: Arc<Engine>,
    pub publisher: Option<Publisher>,
    pub channel: String,
}

impl Bot {
    /// Joins `channel` as `user` with `role`, waiting until connected.
    pub fn join(server: &RemoteServer, token: &str, channel: &str, role: Role) -> Bot {
        let engine = Arc::new(Engine::new().unwrap());
        engine.join(JoinOptions::new(
            server.addr,
            &server.cert_pem,
            channel,
            token,
            role,
        ));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let event = engine.events().recv_timeout(Duration::from_millis(100));
            if let Ok(event) = event {
                match event.kind {
                    EventKind::Joined { .. } => break,
                    EventKind::State {
                        state: ConnectionState::Disconnected,
                        error,
                    } => panic!("bot could not join: {error:?}"),
                    _ => {}
                }
            }
            assert!(Instant::now() < deadline, "bot join timed out");
        }
        Bot {
            engine,
            publisher: None,
            channel: channel.into(),
        }
    }

    /// A host publishing a 320x240 test pattern at 15 fps and a 440 Hz tone.
    pub fn publishing(server: &RemoteServer, token: &str, channel: &str) -> Bot {
        let mut bot = Bot::join(server, token, channel, Role::Host);
        let video = Video::new(
            VideoSource::TestPattern {
                width: 320,
                height: 240,
                textured: false,
            },
            15.0,
        );
        let publisher = Publisher::start(
            bot.engine.clone(),
            channel,
            Some(video),
            Some(AudioSource::Tone(440.0)),
        )
        .unwrap();
        bot.publisher = Some(publisher);
        bot
    }

    pub fn send(&self, payload: &[u8]) {
        self.engine
            .send_data(&self.channel, Vec::new(), payload.to_vec());
    }

    pub fn leave(self) {
        self.engine.leave(&self.channel);
        if let Some(p) = self.publisher {
            p.stop().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Collects every message of type `M` into a resource, for asserting later.
#[derive(Resource)]
pub struct Seen<M: Message + Clone>(pub Vec<M>);

pub fn collect<M: Message + Clone>(app: &mut App) {
    app.insert_resource(Seen::<M>(Vec::new())).add_systems(
        Update,
        |mut reader: MessageReader<M>, mut seen: ResMut<Seen<M>>| {
            seen.0.extend(reader.read().cloned());
        },
    );
}

pub fn seen<M: Message + Clone>(world: &World) -> &[M] {
    &world.resource::<Seen<M>>().0
}

/// The remote video of `participant`'s camera track, once its first picture arrived.
pub fn camera_video(w: &World, participant: Entity) -> Option<&RemoteVideo> {
    track_of(w, participant, TrackSource::CAMERA).and_then(|t| w.get::<RemoteVideo>(t))
}
