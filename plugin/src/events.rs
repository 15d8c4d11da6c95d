//! What happened in a channel. Each is written as a [`Message`] (read with `MessageReader`)
//! and triggered as an [`EntityEvent`] on the channel entity (watch with `On<..>` observers).

use bevy::prelude::*;
use livestage_net::engine::ConnectionState;
use livestage_proto::error::{Error, ErrorCode};
use livestage_proto::wire::Role;

/// This client joined (or resumed after a reconnect) a channel.
#[derive(Message, EntityEvent, Clone, Debug)]
pub struct Joined {
    /// The channel entity.
    #[event_target]
    pub channel: Entity,
    /// This client's participant entity in it.
    pub me: Entity,
    /// An earlier session continued after a reconnect.
    pub resumed: bool,
}

/// This client is no longer in a channel.
#[derive(Message, EntityEvent, Clone, Debug)]
pub struct Left {
    /// The channel entity.
    #[event_target]
    pub channel: Entity,
    /// Why, when it was not asked for (kicked, replaced, refused, unreachable, expired).
    pub error: Option<Error>,
}

/// A participant's role changed (a remote one, or this client going on or off stage).
#[derive(Message, EntityEvent, Clone, Debug)]
pub struct RoleChanged {
    /// The channel entity.
    #[event_target]
    pub channel: Entity,
    /// The participant entity.
    pub participant: Entity,
    /// The user id.
    pub user: String,
    /// The new role.
    pub role: Role,
    /// Who changed it (the user itself, or a moderator).
    pub by: String,
}

/// A participant raised or lowered their hand (a remote audience member, seen as a host, or
/// this client). Going on stage lowers a hand without this event: watch [`RoleChanged`] or
/// the [`HandRaised`](crate::HandRaised) component for that.
#[derive(Message, EntityEvent, Clone, Debug)]
pub struct HandChanged {
    /// The channel entity.
    #[event_target]
    pub channel: Entity,
    /// The participant entity.
    pub participant: Entity,
    /// The user id.
    pub user: String,
    /// The hand is raised now.
    pub raised: bool,
}

/// A URL of a CDN push this client started (or, for a moderator, any push of the channel)
/// changed state.
#[derive(Message, EntityEvent, Clone, Debug)]
pub struct PushState {
    /// The channel entity.
    #[event_target]
    pub channel: Entity,
    /// The push's name.
    pub name: String,
    /// The URL.
    pub url: String,
    /// Its state now (`failed` carries the reason and the server's message).
    pub state: livestage_proto::push::UrlState,
}

/// An inject this client started (or, for a moderator, any inject of the channel) changed
/// state; its participant is `inject-<name>`.
#[derive(Message, EntityEvent, Clone, Debug)]
pub struct InjectState {
    /// The channel entity.
    #[event_target]
    pub channel: Entity,
    /// The inject's name.
    pub name: String,
    /// Its state now (`failed` carries the reason and the server's message).
    pub state: livestage_proto::push::UrlState,
}

/// A destination of this host's relay into other channels changed state.
#[derive(Message, EntityEvent, Clone, Debug)]
pub struct RelayState {
    /// The channel entity (the host's own channel).
    #[event_target]
    pub channel: Entity,
    /// The destination.
    pub to: livestage_proto::relay::Target,
    /// Its state now (`Failed` carries the destination's error, e.g. `too_many_hosts`).
    pub state: livestage_proto::relay::State,
}

/// A data message arrived.
#[derive(Message, EntityEvent, Clone, Debug)]
pub struct DataReceived {
    /// The channel entity.
    #[event_target]
    pub channel: Entity,
    /// The sender's user id, stamped by the server (a client cannot forge it).
    pub from: String,
    /// The sender's participant entity, when this client can see the sender.
    pub sender: Option<Entity>,
    /// The sender's message number (per sender, from 1).
    pub seq: u64,
    /// Sent only to this client (and perhaps others), not to everyone.
    pub private: bool,
    /// The message.
    pub payload: Vec<u8>,
}

/// A channel's connection state changed.
#[derive(Message, EntityEvent, Clone, Debug)]
pub struct ConnectionChanged {
    /// The channel entity.
    #[event_target]
    pub channel: Entity,
    /// The new state.
    pub state: ConnectionState,
    /// Why, for a disconnect that was not asked for.
    pub error: Option<Error>,
}

/// The channel's token expires soon; trigger a renewal with [`RenewToken`](crate::RenewToken).
#[derive(Message, EntityEvent, Clone, Debug)]
pub struct TokenExpiring {
    /// The channel entity.
    #[event_target]
    pub channel: Entity,
    /// Seconds left.
    pub remaining_secs: u64,
}

/// A request was refused (by the server, or locally before it was sent), or local media
/// failed (a custom frame of the wrong size, a camera that cannot be read).
#[derive(Message, EntityEvent, Clone, Debug)]
pub struct LivestageError {
    /// The channel (or participant) entity the request was about.
    #[event_target]
    pub entity: Entity,
    /// What went wrong.
    pub error: Error,
}

impl LivestageError {
    /// A local error with a message.
    pub fn local(entity: Entity, message: impl Into<String>) -> Self {
        Self {
            entity,
            error: Error::new(ErrorCode::InvalidInput, message.into()),
        }
    }
}
