//! A raised hand: an audience member asks to go on stage, the moderator sees it appear as a
//! participant with `HandRaised` and a `HandChanged` message, and a promotion takes the hand
//! down. A host sees the audience only as a count until someone raises a hand. Both memberships
//! live in one app, as two users of the same channel.
#![allow(clippy::unwrap_used)]

mod common;

use bevy::prelude::*;
use bevy_livestage::prelude::*;
use common::*;

/// A moderator and an audience member (who may be promoted) in `channel`, both connected, and
/// the member's raised hand as the moderator sees it. Returns (moderator's channel, member's
/// channel, the member's participant entity as the moderator sees it).
fn stage(app: &mut App, channel: &str) -> (Entity, Entity, Entity) {
    let host = join(app, channel, "narrator", grants::MODERATOR, Role::Host);
    update_until(app, "the moderator", |w| w.get::<Connected>(host).is_some());
    let fan = join(app, channel, "fan", grants::HOST, Role::Audience);
    update_until(app, "the fan, counted by the moderator", |w| {
        w.get::<Connected>(fan).is_some() && w.get::<AudienceCount>(host) == Some(&AudienceCount(1))
    });
    assert!(
        participant(app.world_mut(), host, "fan").is_none(),
        "a host does not see the audience"
    );
    app.world_mut().trigger(RaiseHand {
        entity: fan,
        raised: true,
    });
    update_until(app, "the raised hand", |w| {
        participant(w, host, "fan").is_some_and(|seen| w.get::<HandRaised>(seen).is_some())
            && seen_change(w, host).is_some()
            && participant(w, fan, "fan").is_some_and(|me| w.get::<HandRaised>(me).is_some())
    });
    let seen = participant(app.world_mut(), host, "fan").unwrap();
    (host, fan, seen)
}

#[test]
fn the_moderator_sees_a_raised_hand_and_a_promotion_takes_it_down() {
    let mut app = app();
    collect::<HandChanged>(&mut app);
    let (host, fan, seen) = stage(&mut app, "party");
    let changed = seen_change(app.world(), host).unwrap();
    assert_eq!(
        (changed.participant, changed.user.as_str(), changed.raised),
        (seen, "fan", true)
    );

    app.world_mut().trigger(Moderate {
        entity: host,
        action: Action::Promote("fan".into()),
    });
    update_until(&mut app, "the promotion", |w| w.get::<Host>(seen).is_some());
    assert!(
        app.world().get::<HandRaised>(seen).is_none(),
        "on stage, the hand is down"
    );
    let me = participant(app.world_mut(), fan, "fan").unwrap();
    update_until(&mut app, "the fan on stage", |w| {
        w.get::<Host>(me).is_some()
    });
    assert!(app.world().get::<HandRaised>(me).is_none());
}

#[test]
fn lowering_the_hand_takes_the_member_out_of_the_hosts_view() {
    let mut app = app();
    collect::<HandChanged>(&mut app);
    let (host, fan, seen) = stage(&mut app, "quiz");
    app.world_mut().trigger(RaiseHand {
        entity: fan,
        raised: false,
    });
    update_until(&mut app, "the lowered hand", |w| {
        seen_change(w, host).is_some_and(|c| !c.raised) && w.get_entity(seen).is_err()
    });
    // The message named the entity while it still existed.
    assert_eq!(seen_change(app.world(), host).unwrap().participant, seen);
    assert!(participant(app.world_mut(), host, "fan").is_none());
    assert_eq!(
        app.world().get::<AudienceCount>(host),
        Some(&AudienceCount(1))
    );
}

#[test]
fn a_host_raising_a_hand_is_refused_with_an_error() {
    let mut app = app();
    collect::<LivestageError>(&mut app);
    let host = join(&mut app, "show", "star", grants::HOST, Role::Host);
    update_until(&mut app, "joined", |w| w.get::<Connected>(host).is_some());
    app.world_mut().trigger(RaiseHand {
        entity: host,
        raised: true,
    });
    update_until(&mut app, "the refusal", |w| {
        !seen::<LivestageError>(w).is_empty()
    });
    assert_eq!(
        seen::<LivestageError>(app.world())[0].error.code,
        ErrorCode::NotPermitted
    );
}

/// The latest `HandChanged` the membership `channel` reported.
fn seen_change(world: &World, channel: Entity) -> Option<HandChanged> {
    seen::<HandChanged>(world)
        .iter()
        .rev()
        .find(|c| c.channel == channel)
        .cloned()
}
