//! [`LivestagePlugin`]: its settings, and the wiring of systems, observers and messages.

use std::sync::Arc;

use bevy::prelude::*;
use livestage_net::Engine;
use livestage_net::playout::{self, Playout};

use crate::client::{Livestage, RemoteServer};
use crate::events::{
    ConnectionChanged, DataReceived, HandChanged, Joined, Left, LivestageError, RoleChanged,
    TokenExpiring,
};
use crate::receive::Directory;
use crate::stats::StatsTimer;
use crate::video::VideoUpload;
use bevy::camera::visibility::VisibilitySystems;

use crate::{audio, offscreen, publish, receive, requests, stats, video, video_hooks, voice, yuv};

/// Which server the app talks to.
#[derive(Clone, Debug)]
pub enum Server {
    /// Start a server inside the app on a loopback port, with a self-signed certificate and a
    /// random secret: no setup at all. Tokens come from [`Livestage::token`].
    #[cfg(feature = "embedded")]
    Embedded,
    /// A server elsewhere (`livestage serve`); tokens come from the game's backend.
    Remote(RemoteServer),
}

/// The Livestage plugin. Needs Bevy's `AssetPlugin` and the `Image` asset (both part of
/// `DefaultPlugins`).
#[derive(Clone, Debug)]
pub struct LivestagePlugin {
    /// Which server to use.
    pub server: Server,
    /// Play remote voice through the system's output device; `false` uses a silent null
    /// device (dedicated servers, tests, CI). With `true` and no device, the null device is
    /// used and the reason is logged.
    pub audio_device: bool,
    /// How long remote voice waits in the jitter buffer, in milliseconds.
    pub jitter_ms: u64,
    /// How remote pictures reach their textures: [`VideoUpload::Rgba`] (the default) converts
    /// them on the main thread; [`VideoUpload::YuvShader`] uploads their planes and converts
    /// them on the GPU, for many or large streams. Either way [`RemoteVideo::image`] is the
    /// texture to show. Without a renderer the RGBA path is used; the [`VideoUpload`] resource
    /// says which one runs.
    ///
    /// [`RemoteVideo::image`]: crate::RemoteVideo::image
    pub video_upload: VideoUpload,
}

impl Default for LivestagePlugin {
    /// The embedded server when the `embedded` feature is on, with the audio device, a 60 ms
    /// jitter buffer and RGBA video upload.
    fn default() -> Self {
        Self {
            #[cfg(feature = "embedded")]
            server: Server::Embedded,
            #[cfg(not(feature = "embedded"))]
            server: Server::Remote(RemoteServer::new(
                std::net::SocketAddr::from(([127, 0, 0, 1], 4433)),
                Vec::new(),
            )),
            audio_device: true,
            jitter_ms: playout::Config::default().jitter_ms,
            video_upload: VideoUpload::Rgba,
        }
    }
}

impl LivestagePlugin {
    /// An in-process server on loopback, so the game runs with no setup.
    #[cfg(feature = "embedded")]
    pub fn embedded() -> Self {
        Self::default()
    }

    /// Connect to `server`.
    pub fn remote(server: RemoteServer) -> Self {
        Self {
            server: Server::Remote(server),
            ..Self::default()
        }
    }

    /// Plays voice into the null device instead of the speakers (tests, servers).
    pub fn without_audio_device(mut self) -> Self {
        self.audio_device = false;
        self
    }

    /// Uploads remote video with `upload` (see [`video_upload`](Self::video_upload)).
    pub fn with_video_upload(mut self, upload: VideoUpload) -> Self {
        self.video_upload = upload;
        self
    }
}

/// The plugin's system sets, in order: `Receive` and `Upload` run in `PreUpdate`, `Capture`
/// and `Send` in `PostUpdate`.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LivestageSystems {
    /// Engine events become entities, components, messages and observer events; statistics
    /// are refreshed; video sources opened in the background start publishing.
    Receive,
    /// New remote pictures are written into their textures.
    Upload,
    /// Local sources are sampled (previews, game frames).
    Capture,
    /// Settings the game changed this frame (voice volume, beauty) go to the engine.
    Send,
}

impl Plugin for LivestagePlugin {
    fn build(&self, app: &mut App) {
        let client = match start(self) {
            Ok(client) => client,
            Err(e) => {
                // Without an engine nothing can work; say so loudly, keep the game running.
                error!("livestage: cannot start: {e:#}");
                return;
            }
        };
        info!("livestage: voice plays through {}", client.audio_backend());
        app.insert_resource(client)
            .init_resource::<Directory>()
            .init_resource::<StatsTimer>()
            .init_resource::<video::UploadTimings>()
            .init_resource::<VideoUpload>()
            .add_message::<Joined>()
            .add_message::<Left>()
            .add_message::<RoleChanged>()
            .add_message::<HandChanged>()
            .add_message::<crate::PushState>()
            .add_message::<crate::InjectState>()
            .add_message::<crate::RelayState>()
            .add_message::<DataReceived>()
            .add_message::<ConnectionChanged>()
            .add_message::<TokenExpiring>()
            .add_message::<LivestageError>()
            .add_message::<audio::MusicChanged>()
            .add_message::<audio::EffectFinished>()
            .add_message::<audio::AudioHookRemoved>()
            .add_message::<audio::AudioRequestFailed>()
            .add_message::<video_hooks::VideoHookRemoved>()
            .add_observer(video_hooks::install_local)
            .add_observer(video_hooks::remove_local)
            .add_observer(video_hooks::install_remote)
            .add_observer(video_hooks::remove_remote)
            .add_observer(video_hooks::install_renderer)
            .add_observer(video_hooks::remove_renderer)
            .init_resource::<audio::MusicStatus>()
            .init_resource::<audio::Refusals>()
            .configure_sets(
                PreUpdate,
                (LivestageSystems::Receive, LivestageSystems::Upload).chain(),
            )
            .configure_sets(
                PostUpdate,
                (LivestageSystems::Capture, LivestageSystems::Send).chain(),
            )
            .add_systems(
                PreUpdate,
                (
                    (
                        receive::receive,
                        stats::refresh,
                        audio::report,
                        video_hooks::report_local,
                        publish::start_opened,
                    )
                        .chain()
                        .in_set(LivestageSystems::Receive),
                    video::upload.in_set(LivestageSystems::Upload),
                ),
            )
            .add_systems(
                PostUpdate,
                (
                    (
                        publish::preview_pattern,
                        publish::pace_readbacks,
                        publish::end_readbacks,
                    )
                        .in_set(LivestageSystems::Capture),
                    (
                        voice::apply_volume,
                        voice::place_voices,
                        publish::apply_beauty,
                    )
                        .in_set(LivestageSystems::Send),
                    (offscreen::pause_hidden, offscreen::resume_unshown)
                        .in_set(LivestageSystems::Send)
                        .after(VisibilitySystems::CheckVisibility),
                ),
            )
            .add_observer(requests::join)
            .add_observer(requests::leave)
            .add_observer(requests::set_role)
            .add_observer(requests::subscribe)
            .add_observer(requests::send_data)
            .add_observer(requests::moderate)
            .add_observer(requests::raise_hand)
            .add_observer(requests::push)
            .add_observer(requests::inject)
            .add_observer(requests::start_relay)
            .add_observer(requests::update_relay)
            .add_observer(requests::pause_relay)
            .add_observer(requests::stop_relay)
            .add_observer(requests::renew_token)
            .add_observer(publish::publish)
            .add_observer(publish::unpublish)
            .add_observer(publish::stop_screen_share)
            .add_observer(publish::push_frame)
            .add_observer(publish::turn_beauty_off)
            .add_observer(audio::play_music)
            .add_observer(audio::music_control)
            .add_observer(audio::preload_effect)
            .add_observer(audio::play_effect)
            .add_observer(audio::stop_effect)
            .add_observer(audio::change_voice)
            .add_observer(audio::set_voice_processing);
    }

    /// The render world's part of [`VideoUpload::YuvShader`]: here rather than in `build`
    /// because the graphics adapter, whose capabilities it needs, is known only once the
    /// renderer has started (the renderer's own `finish`, run first when `DefaultPlugins` come
    /// before this plugin).
    fn finish(&self, app: &mut App) {
        if self.video_upload != VideoUpload::YuvShader
            || !app.world().contains_resource::<Livestage>()
        {
            return;
        }
        match yuv::setup(app) {
            Ok(()) => {
                app.insert_resource(VideoUpload::YuvShader);
            }
            Err(why) => info!("livestage: remote video is uploaded as RGBA: {why}"),
        }
    }
}

fn start(plugin: &LivestagePlugin) -> anyhow::Result<Livestage> {
    let engine = Arc::new(Engine::new()?);
    let config = playout::Config {
        // Stereo, so proximity voice can place speakers left and right.
        format: livestage_media::audio::Format::STEREO_48K,
        jitter_ms: plugin.jitter_ms,
        device: plugin.audio_device,
        ..playout::Config::default()
    };
    let playout = Playout::start(engine.clone(), config)?;
    match &plugin.server {
        #[cfg(feature = "embedded")]
        Server::Embedded => {
            let server = livestage_server::Embedded::start(livestage_server::Config::default())?;
            info!("livestage: embedded server listening on {}", server.addr);
            let remote = RemoteServer::new(server.addr, server.cert_pem.clone().into_bytes());
            let mut client = Livestage::new(engine, playout, Some(remote));
            client.embedded = Some(server);
            Ok(client)
        }
        Server::Remote(remote) => Ok(Livestage::new(engine, playout, Some(remote.clone()))),
    }
}
