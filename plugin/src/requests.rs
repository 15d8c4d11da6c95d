//! What a game asks of a channel, as [`EntityEvent`]s triggered on the channel (or participant)
//! entity. Observers hand each request to the engine without blocking; the outcome comes back
//! as messages and component changes in [`LivestageSystems::Receive`](crate::LivestageSystems).

use bevy::prelude::*;
use livestage_net::engine::JoinOptions;
use livestage_proto::media::Layer;
use livestage_proto::wire::{Action, Role};

use crate::channel::{
    Channel, Connected, Connecting, Disconnected, Participant, ParticipantOf, Reconnecting,
};
use crate::client::Livestage;
use crate::events::LivestageError;
use crate::offscreen::{self, VideoPaused};
use crate::track::{Track, TrackOf, Tracks};

/// Join the channel entity's channel with a token. Progress shows as [`Connecting`], then
/// [`Connected`] and a [`Joined`](crate::Joined) message, or [`Disconnected`] with the error.
#[derive(EntityEvent, Clone, Debug)]
pub struct Join {
    /// The channel entity (it must have a [`Channel`]).
    pub entity: Entity,
    /// The access token (from the game's backend, or [`Livestage::token`] on the embedded
    /// server).
    pub token: String,
    /// The role asked for.
    pub role: Role,
}

impl Join {
    /// Join `entity` as audience.
    pub fn audience(entity: Entity, token: impl Into<String>) -> Self {
        Self {
            entity,
            token: token.into(),
            role: Role::Audience,
        }
    }

    /// Join `entity` as a host (on stage).
    pub fn host(entity: Entity, token: impl Into<String>) -> Self {
        Self {
            entity,
            token: token.into(),
            role: Role::Host,
        }
    }
}

/// Leave the channel; its participant entities are despawned, the channel entity stays.
#[derive(EntityEvent, Clone, Copy, Debug)]
pub struct Leave {
    /// The channel entity.
    pub entity: Entity,
}

/// Go on stage ([`Role::Host`]) or leave it ([`Role::Audience`]). A refusal arrives as a
/// [`LivestageError`].
#[derive(EntityEvent, Clone, Copy, Debug)]
pub struct SetRole {
    /// The channel entity.
    pub entity: Entity,
    /// The role asked for.
    pub role: Role,
}

/// Raise (`raised: true`) or lower this client's hand in the channel, asking the moderators
/// to invite it on stage. Only the audience may raise a hand (a host gets a
/// [`LivestageError`] with `not_permitted`); the change shows as [`HandRaised`](crate::HandRaised)
/// and a [`HandChanged`](crate::HandChanged) message. Going on stage lowers it.
#[derive(EntityEvent, Clone, Copy, Debug)]
pub struct RaiseHand {
    /// The channel entity.
    pub entity: Entity,
    /// Raise (`true`) or lower (`false`).
    pub raised: bool,
}

/// Start, change or stop a CDN push of the channel (moderators and holders of the `push`
/// grant): the server composes the hosts with the request's layout and pushes RTMP. Each URL's
/// progress arrives as a [`PushState`](crate::PushState) message; a refusal as a
/// [`LivestageError`].
#[derive(EntityEvent, Clone, Debug)]
pub struct Push {
    /// The channel entity.
    pub entity: Entity,
    /// What to do.
    pub request: livestage_proto::push::Request,
}

/// Start, change or stop an inject (moderators): the server publishes an RTMP stream or a
/// file into the channel as the host `inject-<name>`, which then appears as a participant.
/// Its progress arrives as an [`InjectState`](crate::InjectState) message.
#[derive(EntityEvent, Clone, Debug)]
pub struct Inject {
    /// The channel entity.
    pub entity: Entity,
    /// What to do.
    pub request: livestage_proto::inject::Request,
}

/// Relay this client's own tracks into other channels (co-hosting across channels, PK): a
/// host whose token grants `relay` names 1 to 6 destinations, each a channel here or on
/// another server with a token for it. There this host appears as a host participant under
/// its own user id. Each destination's progress arrives as a [`RelayState`](crate::RelayState)
/// message; a refusal of the whole request as a [`LivestageError`].
#[derive(EntityEvent, Clone, Debug)]
pub struct StartRelay {
    /// The channel entity (the host's own channel).
    pub entity: Entity,
    /// Where to relay.
    pub destinations: Vec<livestage_proto::relay::Destination>,
}

/// Change a running relay: start some destinations, stop others (they report `stopped`).
#[derive(EntityEvent, Clone, Debug)]
pub struct UpdateRelay {
    /// The channel entity.
    pub entity: Entity,
    /// Destinations to start.
    pub add: Vec<livestage_proto::relay::Destination>,
    /// Destinations to stop.
    pub remove: Vec<livestage_proto::relay::Target>,
}

/// Pause (`true`) or resume (`false`) every destination of the relay: a paused destination
/// keeps this host on its stage and sends nothing; resuming starts from a keyframe.
#[derive(EntityEvent, Clone, Copy, Debug)]
pub struct PauseRelay {
    /// The channel entity.
    pub entity: Entity,
    /// Pause or resume.
    pub paused: bool,
}

/// Stop the relay: every destination reports `stopped` and this host leaves them. Leaving the
/// channel, or being demoted or kicked in it, stops it too.
#[derive(EntityEvent, Clone, Copy, Debug)]
pub struct StopRelay {
    /// The channel entity.
    pub entity: Entity,
}

/// Choose what to receive from a remote participant (its voice, and the high or low video
/// layer or none, for all its tracks) or from one of its tracks (a [`Track`] entity: `audio`
/// for an audio track, `video` for a video track). Everyone is received at the high layer
/// until this is sent. Tracks shown only by hidden entities are paused on top of this choice
/// (see [`ShowsVideo`](crate::ShowsVideo)).
#[derive(EntityEvent, Clone, Copy, Debug)]
pub struct Subscribe {
    /// The participant or track entity.
    pub entity: Entity,
    /// Receive its voice.
    pub audio: bool,
    /// Which video layer, or none.
    pub video: Option<Layer>,
}

impl Subscribe {
    /// Receive everything from `participant`, video at `layer`.
    pub fn all(participant: Entity, layer: Layer) -> Self {
        Self {
            entity: participant,
            audio: true,
            video: Some(layer),
        }
    }

    /// Receive nothing from `participant`.
    pub fn none(participant: Entity) -> Self {
        Self {
            entity: participant,
            audio: false,
            video: None,
        }
    }
}

/// Send a data message (votes, chat) to everyone who hears this client, or only to the users
/// in `to`. The server stamps the sender; up to 4 KiB each, rate limited.
#[derive(EntityEvent, Clone, Debug)]
pub struct SendData {
    /// The channel entity.
    pub entity: Entity,
    /// Recipients' user ids; empty for everyone who hears this client.
    pub to: Vec<String>,
    /// The message.
    pub payload: Vec<u8>,
}

/// A moderator action (promote, demote, mute, kick, hearing sets); refused unless the local
/// token grants moderation.
#[derive(EntityEvent, Clone, Debug)]
pub struct Moderate {
    /// The channel entity.
    pub entity: Entity,
    /// What to do.
    pub action: Action,
}

pub(crate) fn join(
    join: On<Join>,
    mut commands: Commands,
    mut client: ResMut<Livestage>,
    channels: Query<&Channel>,
) {
    let entity = join.entity;
    let Ok(channel) = channels.get(entity) else {
        commands.write_message(LivestageError::local(
            entity,
            "Join needs an entity with a Channel component",
        ));
        return;
    };
    let Some(server) = client.server.clone() else {
        commands.write_message(LivestageError::local(entity, "no server is configured"));
        return;
    };
    let link = client.link_for(entity, &channel.name);
    let mut options = JoinOptions::new(
        server.addr,
        &server.cert_pem,
        &channel.name,
        &join.token,
        join.role,
    );
    options.server_name = server.server_name;
    options.link = link;
    client.engine.join(options);
    commands
        .entity(entity)
        .remove::<(Connected, Reconnecting, Disconnected)>()
        .insert(Connecting);
}

pub(crate) fn leave(leave: On<Leave>, client: Res<Livestage>) {
    if let Some(link) = client.link_of(leave.entity) {
        client.engine.leave(link);
    }
}

pub(crate) fn set_role(request: On<SetRole>, client: Res<Livestage>, mut commands: Commands) {
    match client.link_of(request.entity) {
        Some(link) => client.engine.set_role(link, request.role),
        None => {
            commands.write_message(not_joined(request.entity));
        }
    };
}

pub(crate) fn subscribe(
    request: On<Subscribe>,
    client: Res<Livestage>,
    participants: Query<(&Participant, &ParticipantOf, Option<&Tracks>)>,
    tracks: Query<(&Track, &TrackOf, Has<VideoPaused>)>,
    mut commands: Commands,
) {
    // A track entity: a choice for that track only.
    if let Ok((track, of, _)) = tracks.get(request.entity) {
        let Ok((participant, channel, _)) = participants.get(of.0) else {
            return;
        };
        let Some(link) = client.link_of(channel.0) else {
            commands.write_message(not_joined(channel.0));
            return;
        };
        client.engine.subscribe_track(
            link,
            &participant.user,
            track.id,
            request.audio,
            request.video,
        );
        // The game's choice for this track; visibility takes over again from here.
        commands
            .entity(request.entity)
            .remove::<(VideoPaused, offscreen::HiddenSince)>();
        return;
    }
    let Ok((participant, of, own_tracks)) = participants.get(request.entity) else {
        commands.write_message(LivestageError::local(
            request.entity,
            "Subscribe needs a participant or track entity",
        ));
        return;
    };
    let Some(link) = client.link_of(of.0) else {
        commands.write_message(not_joined(of.0));
        return;
    };
    client
        .engine
        .subscribe(link, &participant.user, request.audio, request.video);
    commands
        .entity(request.entity)
        .insert(offscreen::ChosenVideo(request.video));
    // A participant-wide choice replaces per-track ones on the server: tracks paused because
    // nobody sees them stay paused.
    for &t in own_tracks.into_iter().flat_map(Tracks::entities) {
        if let Ok((track, _, true)) = tracks.get(t) {
            client
                .engine
                .subscribe_track(link, &participant.user, track.id, false, None);
        }
    }
}

pub(crate) fn send_data(request: On<SendData>, client: Res<Livestage>, mut commands: Commands) {
    match client.link_of(request.entity) {
        Some(link) => client
            .engine
            .send_data(link, request.to.clone(), request.payload.clone()),
        None => {
            commands.write_message(not_joined(request.entity));
        }
    };
}

pub(crate) fn moderate(request: On<Moderate>, client: Res<Livestage>, mut commands: Commands) {
    match client.link_of(request.entity) {
        Some(link) => client.engine.moderate(link, request.action.clone()),
        None => {
            commands.write_message(not_joined(request.entity));
        }
    };
}

pub(crate) fn raise_hand(request: On<RaiseHand>, client: Res<Livestage>, mut commands: Commands) {
    match client.link_of(request.entity) {
        Some(link) => client.engine.raise_hand(link, request.raised),
        None => {
            commands.write_message(not_joined(request.entity));
        }
    };
}

pub(crate) fn push(request: On<Push>, client: Res<Livestage>, mut commands: Commands) {
    match client.link_of(request.entity) {
        Some(link) => client.engine.push(link, request.request.clone()),
        None => {
            commands.write_message(not_joined(request.entity));
        }
    };
}

pub(crate) fn inject(request: On<Inject>, client: Res<Livestage>, mut commands: Commands) {
    match client.link_of(request.entity) {
        Some(link) => client.engine.inject(link, request.request.clone()),
        None => {
            commands.write_message(not_joined(request.entity));
        }
    };
}

/// Sends one relay request of the channel `entity`.
fn relay(
    entity: Entity,
    request: livestage_proto::relay::Request,
    client: &Livestage,
    commands: &mut Commands,
) {
    match client.link_of(entity) {
        Some(link) => client.engine.relay(link, request),
        None => {
            commands.write_message(not_joined(entity));
        }
    }
}

pub(crate) fn start_relay(request: On<StartRelay>, client: Res<Livestage>, mut commands: Commands) {
    let destinations = request.destinations.clone();
    let start = livestage_proto::relay::Request::Start { destinations };
    relay(request.entity, start, &client, &mut commands);
}

pub(crate) fn update_relay(
    request: On<UpdateRelay>,
    client: Res<Livestage>,
    mut commands: Commands,
) {
    let update = livestage_proto::relay::Request::Update {
        add: request.add.clone(),
        remove: request.remove.clone(),
    };
    relay(request.entity, update, &client, &mut commands);
}

pub(crate) fn pause_relay(request: On<PauseRelay>, client: Res<Livestage>, mut commands: Commands) {
    let change = if request.paused {
        livestage_proto::relay::Request::Pause
    } else {
        livestage_proto::relay::Request::Resume
    };
    relay(request.entity, change, &client, &mut commands);
}

pub(crate) fn stop_relay(request: On<StopRelay>, client: Res<Livestage>, mut commands: Commands) {
    let stop = livestage_proto::relay::Request::Stop;
    relay(request.entity, stop, &client, &mut commands);
}

fn not_joined(channel: Entity) -> LivestageError {
    LivestageError::local(
        channel,
        "this channel entity has not joined (trigger Join first)",
    )
}

/// Replace the channel's token before it expires (see [`TokenExpiring`](crate::TokenExpiring)).
#[derive(EntityEvent, Clone, Debug)]
pub struct RenewToken {
    /// The channel entity.
    pub entity: Entity,
    /// The new token.
    pub token: String,
}

pub(crate) fn renew_token(request: On<RenewToken>, client: Res<Livestage>, mut commands: Commands) {
    match client.link_of(request.entity) {
        Some(link) => client.engine.renew_token(link, &request.token),
        None => {
            commands.write_message(not_joined(request.entity));
        }
    }
}
