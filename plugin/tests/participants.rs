//! Participant entities appear when someone joins and disappear when they leave, with the
//! right role components and relationship to their channel.
#![allow(clippy::unwrap_used)]

mod common;

use bevy_livestage::prelude::*;
use common::*;

#[test]
fn participants_appear_and_disappear_with_their_roles() {
    let mut app = app();
    collect::<Joined>(&mut app);
    let stage = join(
        &mut app,
        "stage",
        "viewer",
        grants::AUDIENCE,
        Role::Audience,
    );
    update_until(&mut app, "joined", |w| w.get::<Connected>(stage).is_some());
    update_until(&mut app, "Joined message", |w| {
        !seen::<Joined>(w).is_empty()
    });

    let me = seen::<Joined>(app.world())[0].me;
    let world = app.world();
    assert!(world.get::<LocalParticipant>(me).is_some());
    assert!(world.get::<Audience>(me).is_some());
    assert!(world.get::<Host>(me).is_none());
    assert_eq!(world.get::<ParticipantOf>(me).unwrap().0, stage);
    assert_eq!(world.get::<Participant>(me).unwrap().user, "viewer");

    let bot = Bot::join(
        &server(&app),
        &token(&app, "stage", "alice", grants::HOST),
        "stage",
        Role::Host,
    );
    update_until(&mut app, "alice's entity", |w| {
        participant(w, stage, "alice").is_some()
    });
    let alice = participant(app.world_mut(), stage, "alice").unwrap();
    let world = app.world();
    assert!(world.get::<Host>(alice).is_some());
    assert!(world.get::<Audience>(alice).is_none());
    assert!(world.get::<LocalParticipant>(alice).is_none());
    assert!(
        world.get::<NetworkQuality>(alice).is_some(),
        "required components come along"
    );
    let members = world
        .get::<Participants>(stage)
        .unwrap()
        .entities()
        .to_vec();
    assert!(members.contains(&alice) && members.contains(&me));

    bot.leave();
    update_until(&mut app, "alice's entity to go", |w| {
        participant(w, stage, "alice").is_none()
    });
    assert!(
        app.world().get_entity(alice).is_err(),
        "the entity is despawned"
    );
    assert!(app.world().get_entity(me).is_ok());
}

#[test]
fn an_audience_member_does_not_see_other_audience_members() {
    let mut app = app();
    let stage = join(&mut app, "hall", "viewer", grants::AUDIENCE, Role::Audience);
    update_until(&mut app, "joined", |w| w.get::<Connected>(stage).is_some());
    let _other = Bot::join(
        &server(&app),
        &token(&app, "hall", "other", grants::AUDIENCE),
        "hall",
        Role::Audience,
    );
    let _host = Bot::join(
        &server(&app),
        &token(&app, "hall", "host", grants::HOST),
        "hall",
        Role::Host,
    );
    update_until(&mut app, "the host", |w| {
        participant(w, stage, "host").is_some()
    });
    assert!(participant(app.world_mut(), stage, "other").is_none());
}

#[test]
fn leaving_despawns_participants_and_keeps_the_channel() {
    let mut app = app();
    collect::<Left>(&mut app);
    let stage = join(&mut app, "room", "me", grants::HOST, Role::Host);
    let _bot = Bot::join(
        &server(&app),
        &token(&app, "room", "bob", grants::HOST),
        "room",
        Role::Host,
    );
    update_until(&mut app, "bob", |w| participant(w, stage, "bob").is_some());
    app.world_mut().trigger(Leave { entity: stage });
    update_until(&mut app, "disconnected", |w| {
        w.get::<Disconnected>(stage).is_some()
    });
    update_until(&mut app, "Left message", |w| !seen::<Left>(w).is_empty());
    assert!(
        app.world()
            .get::<Participants>(stage)
            .is_none_or(|p| p.entities().is_empty())
    );
    assert!(
        seen::<Left>(app.world())[0].error.is_none(),
        "a leave asked for has no error"
    );
    assert!(app.world().get::<Channel>(stage).is_some());
}
