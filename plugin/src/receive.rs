//! [`LivestageSystems::Receive`](crate::LivestageSystems): drains the engine's events and
//! playout's speaking changes into the ECS (participant and track entities, role and state
//! components, messages and observer events). Never waits: it only takes what already arrived.

use std::collections::HashMap;

use bevy::prelude::*;
use livestage_net::engine::{ConnectionState, Event, EventKind};
use livestage_net::playout::PlayoutEvent;
use livestage_net::publish::Publisher;
use livestage_proto::client::RosterChange;
use livestage_proto::quality::Quality;
use livestage_proto::track::TrackId;
use livestage_proto::wire::{self, Role};

use crate::channel::{
    Audience, AudienceCount, AudioMuted, Connected, Connecting, Disconnected, HandRaised, Hearing,
    Host, Link, LocalParticipant, MediaStats, Moderator, Participant, ParticipantOf, Participants,
    Reconnecting, Speaking, VideoMuted,
};
use crate::client::Livestage;
use crate::events::{
    ConnectionChanged, DataReceived, HandChanged, InjectState, Joined, Left, LivestageError,
    PushState, RelayState, RoleChanged, TokenExpiring,
};
use crate::publish::OpeningVideo;
use crate::track;

/// Participant entities by channel entity and user id, and by channel and media id.
#[derive(Resource, Default)]
pub(crate) struct Directory {
    by_user: HashMap<(Entity, String), Entity>,
    by_media: HashMap<(Entity, u64), Entity>,
}

impl Directory {
    pub(crate) fn by_media(&self, channel: Entity, media_id: u64) -> Option<Entity> {
        self.by_media.get(&(channel, media_id)).copied()
    }

    fn forget_channel(&mut self, channel: Entity) {
        self.by_user.retain(|(c, _), _| *c != channel);
        self.by_media.retain(|(c, _), _| *c != channel);
    }
}

pub(crate) fn receive(world: &mut World) {
    let (events, speaking): (Vec<Event>, Vec<PlayoutEvent>) = {
        let client = world.resource::<Livestage>();
        (
            client.engine.events().try_iter().collect(),
            client.playout.events().try_iter().collect(),
        )
    };
    for event in events {
        let Some(channel) = world.resource::<Livestage>().entity_of(&event.channel) else {
            continue; // A link this app replaced by joining again on the same entity.
        };
        if world.get_entity(channel).is_err() {
            // The game despawned the channel entity: leave quietly.
            world.resource::<Livestage>().engine.leave(&event.channel);
            continue;
        }
        let client = world.resource::<Livestage>();
        for publisher in [
            client.publishers.get(&channel),
            client.screens.get(&channel),
        ]
        .into_iter()
        .flatten()
        {
            publisher.handle(&event.kind);
        }
        apply(world, channel, event.kind);
    }
    for event in speaking {
        let PlayoutEvent::Speaking {
            channel,
            media_id,
            speaking,
            ..
        } = event
        else {
            crate::audio::playout_hook_removed(world, &event);
            crate::video_hooks::playout_event(world, &event);
            continue;
        };
        let Some(channel) = world.resource::<Livestage>().entity_of(&channel) else {
            continue;
        };
        let Some(participant) = world.resource::<Directory>().by_media(channel, media_id) else {
            continue;
        };
        if let Ok(mut entity) = world.get_entity_mut(participant) {
            if speaking {
                entity.insert(Speaking);
            } else {
                entity.remove::<Speaking>();
            }
        }
    }
}

fn apply(world: &mut World, channel: Entity, kind: EventKind) {
    match kind {
        EventKind::State { state, error } => {
            set_state(world, channel, state, error.clone());
            report(
                world,
                ConnectionChanged {
                    channel,
                    state,
                    error: error.clone(),
                },
            );
            if state == ConnectionState::Disconnected {
                world
                    .entity_mut(channel)
                    .despawn_related::<Participants>()
                    .remove::<OpeningVideo>();
                world.resource_mut::<Directory>().forget_channel(channel);
                let mut client = world.resource_mut::<Livestage>();
                let publishers = [
                    client.publishers.remove(&channel),
                    client.screens.remove(&channel),
                ];
                publishers.into_iter().flatten().for_each(Publisher::retire);
                report(world, Left { channel, error });
            }
        }
        EventKind::Joined {
            me,
            peers,
            audience,
            resumed,
            ..
        } => {
            world.entity_mut(channel).insert(AudienceCount(audience));
            let me = reconcile(world, channel, Some(me), peers);
            if let Some(me) = me {
                report(
                    world,
                    Joined {
                        channel,
                        me,
                        resumed,
                    },
                );
            }
        }
        EventKind::Roster(change) => roster_change(world, channel, change),
        EventKind::Server(event) => server_event(world, channel, event),
        EventKind::PeerLinks(links) => {
            for link in links {
                let key = (channel, link.user);
                let Some(entity) = world.resource::<Directory>().by_user.get(&key).copied() else {
                    continue;
                };
                if let Some(mut stats) = world.get_mut::<MediaStats>(entity) {
                    stats.rtt_ms = link.rtt_ms;
                    stats.uplink_loss_percent = link.uplink_loss_percent;
                    stats.downlink_loss_percent = link.downlink_loss_percent;
                    stats.uplink = Quality::of_path(link.uplink_loss_percent, link.rtt_ms);
                }
            }
        }
        EventKind::Link(link) => {
            world.entity_mut(channel).insert(Link(link));
        }
        // A local source that ended by itself (a shared window closed) is an error to show.
        EventKind::LocalError(error) | EventKind::TrackEnded { error, .. } => report(
            world,
            LivestageError {
                entity: channel,
                error,
            },
        ),
    }
}

/// Mirrors the client session's roster: the session decides who is visible, the plugin only
/// keeps one entity per participant in step with it.
fn roster_change(world: &mut World, channel: Entity, change: RosterChange) {
    match change {
        RosterChange::Upsert(p) => {
            let local = local_participant(world, channel)
                .and_then(|e| world.get::<Participant>(e))
                .is_some_and(|me| me.user == p.user);
            upsert(world, channel, &p, local);
        }
        RosterChange::Replace(peers) => {
            reconcile(world, channel, None, peers);
        }
        RosterChange::Gone(user) => {
            let key = (channel, user);
            if let Some(entity) = world.resource_mut::<Directory>().by_user.remove(&key) {
                let media_id = world.get::<Participant>(entity).map(|p| p.media_id);
                if let Some(media_id) = media_id {
                    world
                        .resource_mut::<Directory>()
                        .by_media
                        .remove(&(channel, media_id));
                    forget_media(world, channel, media_id, None);
                }
                // Its track entities go with it.
                world.despawn(entity);
            }
        }
    }
}

fn server_event(world: &mut World, channel: Entity, event: wire::Event) {
    let entity_of = |world: &World, user: &str| {
        world
            .resource::<Directory>()
            .by_user
            .get(&(channel, user.to_owned()))
            .copied()
    };
    match event {
        // Membership and participant state arrived as roster changes just before.
        wire::Event::PeerJoined(_)
        | wire::Event::PeerLeft { .. }
        | wire::Event::MuteChanged { .. }
        | wire::Event::TrackPublished { .. }
        | wire::Event::TrackUnpublished { .. } => {}
        wire::Event::Audience { count } => {
            world.entity_mut(channel).insert(AudienceCount(count));
        }
        wire::Event::RoleChanged { participant, by } => {
            let Some(entity) = entity_of(world, &participant.user) else {
                return;
            };
            report(
                world,
                RoleChanged {
                    channel,
                    participant: entity,
                    user: participant.user,
                    role: participant.role,
                    by,
                },
            );
        }
        wire::Event::HandChanged { participant } => {
            let Some(entity) = entity_of(world, &participant.user) else {
                return; // Someone this client cannot see (the server only tells those who can).
            };
            report(
                world,
                HandChanged {
                    channel,
                    participant: entity,
                    user: participant.user,
                    raised: participant.hand_raised,
                },
            );
        }
        wire::Event::HearingChanged { hears } => {
            let me = local_participant(world, channel);
            if let Some(me) = me {
                world.entity_mut(me).insert(Hearing(hears));
            }
        }
        wire::Event::Data {
            from,
            seq,
            private,
            payload,
        } => {
            let sender = world
                .resource::<Directory>()
                .by_user
                .get(&(channel, from.clone()))
                .copied();
            report(
                world,
                DataReceived {
                    channel,
                    from,
                    sender,
                    seq,
                    private,
                    payload,
                },
            );
        }
        wire::Event::Refused { error, .. } => report(
            world,
            LivestageError {
                entity: channel,
                error,
            },
        ),
        wire::Event::TokenExpiring { remaining_secs } => {
            report(
                world,
                TokenExpiring {
                    channel,
                    remaining_secs,
                },
            );
        }
        wire::Event::LayerChanged {
            media_id, layer, ..
        } => {
            let participant = world.resource::<Directory>().by_media(channel, media_id);
            if let Some(mut stats) = participant.and_then(|p| world.get_mut::<MediaStats>(p)) {
                stats.layer = Some(layer);
            }
        }
        // Publisher hints, handled by the channel's publisher before this.
        wire::Event::KeyframeRequest { .. } | wire::Event::TokenRenewed { .. } => {}
        wire::Event::Push { name, url, state } => {
            report(
                world,
                PushState {
                    channel,
                    name,
                    url,
                    state,
                },
            );
        }
        wire::Event::Inject { name, state } => {
            report(
                world,
                InjectState {
                    channel,
                    name,
                    state,
                },
            );
        }
        wire::Event::Relay { to, state } => {
            report(world, RelayState { channel, to, state });
        }
    }
}

/// Brings a channel's participant entities in line with a full view of it. `me` is given on
/// join; a roster update leaves the local participant alone.
fn reconcile(
    world: &mut World,
    channel: Entity,
    me: Option<wire::Participant>,
    peers: Vec<wire::Participant>,
) -> Option<Entity> {
    let local = me.as_ref().map(|m| m.user.clone()).or_else(|| {
        local_participant(world, channel)
            .and_then(|e| world.get::<Participant>(e).map(|p| p.user.clone()))
    });
    let mut keep: Vec<String> = peers.iter().map(|p| p.user.clone()).collect();
    keep.extend(local.clone());
    let gone: Vec<(String, Entity)> = world
        .resource::<Directory>()
        .by_user
        .iter()
        .filter(|((c, user), _)| *c == channel && !keep.contains(user))
        .map(|((_, user), &e)| (user.clone(), e))
        .collect();
    for (user, entity) in gone {
        let mut directory = world.resource_mut::<Directory>();
        directory.by_user.remove(&(channel, user));
        directory.by_media.retain(|_, e| *e != entity);
        world.despawn(entity);
    }
    for peer in &peers {
        upsert(world, channel, peer, false);
    }
    me.map(|me| upsert(world, channel, &me, true))
}

/// Spawns or updates a participant entity from the server's view of it.
fn upsert(world: &mut World, channel: Entity, p: &wire::Participant, local: bool) -> Entity {
    let key = (channel, p.user.clone());
    let existing = world.resource::<Directory>().by_user.get(&key).copied();
    let entity = match existing {
        Some(entity) if world.get_entity(entity).is_ok() => entity,
        _ => world
            .spawn((
                Participant {
                    user: p.user.clone(),
                    media_id: p.media_id,
                },
                ParticipantOf(channel),
            ))
            .id(),
    };
    let mut directory = world.resource_mut::<Directory>();
    directory.by_user.insert(key, entity);
    directory.by_media.insert((channel, p.media_id), entity);
    let mut e = world.entity_mut(entity);
    if let Some(mut participant) = e.get_mut::<Participant>() {
        participant.media_id = p.media_id;
    }
    match p.role {
        Role::Host => {
            e.remove::<Audience>().insert(Host);
        }
        Role::Audience => {
            e.remove::<Host>().insert(Audience);
        }
    }
    toggle::<Moderator>(&mut e, p.moderator);
    toggle::<AudioMuted>(&mut e, p.audio_muted);
    toggle::<VideoMuted>(&mut e, p.video_muted);
    toggle::<HandRaised>(&mut e, p.hand_raised);
    if local {
        e.insert(LocalParticipant);
    }
    for ended in track::sync(world, entity, &p.tracks) {
        forget_media(world, channel, p.media_id, Some(ended));
    }
    entity
}

/// Playout forgets what it decoded of a track (or all of a publisher's) that ended.
fn forget_media(world: &World, channel: Entity, media_id: u64, track: Option<TrackId>) {
    let client = world.resource::<Livestage>();
    if let Some(link) = client.link_of(channel) {
        client.playout.forget(link, media_id, track);
    }
}

fn local_participant(world: &mut World, channel: Entity) -> Option<Entity> {
    let participants = world.get::<Participants>(channel)?.entities().to_vec();
    participants
        .into_iter()
        .find(|&e| world.get::<LocalParticipant>(e).is_some())
}

fn set_state(
    world: &mut World,
    channel: Entity,
    state: ConnectionState,
    error: Option<wire_error::Error>,
) {
    let mut e = world.entity_mut(channel);
    e.remove::<(Connecting, Connected, Reconnecting, Disconnected)>();
    match state {
        ConnectionState::Connecting => e.insert(Connecting),
        ConnectionState::Connected => e.insert(Connected),
        ConnectionState::Reconnecting => e.insert(Reconnecting),
        ConnectionState::Disconnected => e.insert(Disconnected { error }),
    };
}

fn toggle<C: Component + Default>(entity: &mut EntityWorldMut, present: bool) {
    if present {
        entity.insert(C::default());
    } else {
        entity.remove::<C>();
    }
}

/// Writes `event` as a message and triggers it for observers.
fn report<E>(world: &mut World, event: E)
where
    E: Message + Clone + for<'a> bevy::ecs::event::EntityEvent<Trigger<'a>: Default>,
{
    world.write_message(event.clone());
    world.trigger(event);
}

use livestage_proto::error as wire_error;
