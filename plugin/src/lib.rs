//! Livestage for Bevy: live channels as ECS data.
//!
//! A channel is an entity; everyone in it is a [`Participant`] entity related to it
//! ([`ParticipantOf`] / [`Participants`]) with role components ([`Host`], [`Audience`],
//! [`Moderator`]), [`Speaking`], [`AudioLevel`] and [`NetworkQuality`]. What a participant
//! publishes are [`Track`] entities related to it ([`TrackOf`] / [`Tracks`]) with a
//! [`TrackSource`] (camera, screen, microphone); a video track gets a [`RemoteVideo`] texture
//! once its pictures arrive (converted to RGBA on the CPU, or from YUV planes on the GPU with
//! [`VideoUpload::YuvShader`]). Requests are [`EntityEvent`]s ([`Join`], [`SetRole`],
//! [`RaiseHand`], [`Publish`], [`SendData`], ...); what happened arrives as messages and
//! observer events ([`Joined`], [`RoleChanged`], [`HandChanged`], [`DataReceived`], ...).
//! Remote voice plays through cpal.
//!
//! ```no_run
//! use bevy::prelude::*;
//! use bevy_livestage::prelude::*;
//!
//! fn main() {
//!     App::new()
//!         // embedded(): an in-process server on loopback; LivestagePlugin::remote(..) for a real one.
//!         .add_plugins((DefaultPlugins, LivestagePlugin::embedded()))
//!         .add_systems(Startup, join)
//!         .add_systems(Update, (show_new_video, on_stage))
//!         .run();
//! }
//!
//! fn join(mut commands: Commands, livestage: Res<Livestage>) {
//!     let stage = commands.spawn(Channel::new("werewolf")).id();
//!     let token = livestage.token("werewolf", "alice", grants::HOST, 3600).expect("embedded server");
//!     commands.trigger(Join::audience(stage, token));          // watch first
//! }
//!
//! // ShowsVideo: while the sprite is off screen or hidden, that video is not sent or decoded.
//! fn show_new_video(mut commands: Commands, new: Query<(Entity, &RemoteVideo), Added<RemoteVideo>>) {
//!     for (track, video) in &new {
//!         commands.spawn((Sprite::from_image(video.image.clone()), ShowsVideo(track)));
//!     }
//! }
//!
//! // The narrator invited us on stage: publish video (here the test pattern) and the microphone.
//! fn on_stage(mut commands: Commands, mut changed: MessageReader<RoleChanged>, me: Query<(), With<LocalParticipant>>) {
//!     for change in changed.read() {
//!         if change.role == Role::Host && me.contains(change.participant) {
//!             commands.trigger(Publish {
//!                 entity: change.channel,
//!                 video: Some(LocalVideo::TestPattern { size: UVec2::new(1280, 720), fps: 30.0 }),
//!                 audio: Some(LocalAudio::Microphone),
//!             });
//!         }
//!     }
//! }
//! ```
//!
//! What a channel publishes comes from a [`LocalVideo`]: the test pattern, frames the game
//! pushes, a Bevy camera's view, the screen, a webcam ([`webcam::devices`] lists them), a
//! picture or a video file ([`file::Mode`]: forwarded as it is or decoded); the last three open
//! on a thread of their own ([`OpeningVideo`]), so the frame never waits for them. [`Beauty`]
//! on the channel entity smooths, lightens, reddens and sharpens what it publishes.
//!
//! Systems run in [`LivestageSystems`]: `Receive` then `Upload` in `PreUpdate` (so `Update`
//! sees this frame's state), `Capture` then `Send` in `PostUpdate`. None of them waits on the
//! network: the engine runs on its own threads and hands over what already arrived.

pub mod audio;
mod channel;
mod client;
mod events;
mod offscreen;
mod plugin;
mod publish;
mod receive;
mod requests;
mod stats;
mod track;
mod video;
pub mod video_hooks;
mod voice;
mod yuv;

pub use audio::{
    AudioHookRemoved, AudioRequestFailed, ChangeVoice, EffectFinished, MusicChanged, MusicControl,
    MusicStatus, PlayEffect, PlayMusic, PreloadEffect, SetVoiceProcessing, StopEffect,
};
pub use channel::{
    Audience, AudienceCount, AudioLevel, AudioMuted, Channel, Connected, Connecting, Disconnected,
    HandRaised, Hearing, Host, Link, LocalParticipant, MediaStats, Moderator, NetworkQuality,
    Participant, ParticipantOf, Participants, Reconnecting, Speaking, VideoMuted,
};
pub use client::{Livestage, RemoteServer, grants};
pub use events::{
    ConnectionChanged, DataReceived, HandChanged, InjectState, Joined, Left, LivestageError,
    PushState, RelayState, RoleChanged, TokenExpiring,
};
pub use livestage_media::video::camera as webcam;
pub use livestage_media::video::screen::{
    self, ContentHint, Rect as ScreenRect, Target as ScreenTarget,
};
pub use livestage_media::video::{beauty, file};
pub use livestage_net::engine::{ConnectionState, LinkStats};
pub use livestage_net::playout::Placement;
pub use livestage_proto::error::{Error, ErrorCode};
pub use livestage_proto::media::Layer;
pub use livestage_proto::quality::Quality;
pub use livestage_proto::wire::{Action, Role};
pub use livestage_proto::{inject as inject_request, push as push_request, relay as relay_request};
pub use offscreen::{HIDDEN_GRACE, ShownBy, ShowsVideo, VideoPaused};
pub use plugin::{LivestagePlugin, LivestageSystems, Server};
pub use publish::{
    Beauty, CustomVideo, LocalAudio, LocalPreview, LocalVideo, OpeningVideo, Publish, PushFrame,
    StopScreenShare, Unpublish,
};
pub use requests::{
    Inject, Join, Leave, Moderate, PauseRelay, Push, RaiseHand, RenewToken, SendData, SetRole,
    StartRelay, StopRelay, Subscribe, UpdateRelay,
};
pub use track::{Track, TrackMuted, TrackOf, TrackSource, Tracks, track_of};
pub use video::{RemoteVideo, UploadTimings, VideoUpload, video_image};
pub use video_hooks::{LocalVideoHook, RemoteVideoHook, VideoHookRemoved, VideoRenderer};
pub use voice::{SpatialVoice, VoiceListener, VoiceVolume};

/// Everything a game usually needs.
pub mod prelude {
    pub use crate::{
        Action, Audience, AudienceCount, AudioHookRemoved, AudioLevel, AudioRequestFailed, Beauty,
        ChangeVoice, Channel, Connected, Connecting, CustomVideo, DataReceived, Disconnected,
        EffectFinished, Error, ErrorCode, HandChanged, HandRaised, Host, Join, Joined, Layer,
        Leave, Left, Livestage, LivestageError, LivestagePlugin, LivestageSystems, LocalAudio,
        LocalParticipant, LocalPreview, LocalVideo, LocalVideoHook, MediaStats, Moderate,
        Moderator, MusicChanged, MusicControl, MusicStatus, NetworkQuality, OpeningVideo,
        Participant, ParticipantOf, Participants, PauseRelay, PlayEffect, PlayMusic, PreloadEffect,
        Publish, PushFrame, Quality, RaiseHand, RelayState, RemoteVideo, RemoteVideoHook, Role,
        RoleChanged, ScreenTarget, SendData, SetRole, SetVoiceProcessing, ShowsVideo, SpatialVoice,
        Speaking, StartRelay, StopEffect, StopRelay, StopScreenShare, Subscribe, Track, TrackOf,
        TrackSource, Tracks, Unpublish, UpdateRelay, VideoHookRemoved, VideoRenderer, VideoUpload,
        VoiceListener, VoiceVolume, beauty, file, grants,
    };
}
