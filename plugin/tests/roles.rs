//! Role changes — going on stage, leaving it, a moderator's demotion — show as components and
//! `RoleChanged` messages.
#![allow(clippy::unwrap_used)]

mod common;

use bevy_livestage::prelude::*;
use common::*;

#[test]
fn going_on_stage_and_leaving_it_changes_the_role_components() {
    let mut app = app();
    collect::<RoleChanged>(&mut app);
    collect::<Joined>(&mut app);
    let stage = join(&mut app, "party", "ann", grants::HOST, Role::Audience);
    update_until(&mut app, "joined", |w| !seen::<Joined>(w).is_empty());
    let me = seen::<Joined>(app.world())[0].me;
    assert!(app.world().get::<Audience>(me).is_some());

    app.world_mut().trigger(SetRole {
        entity: stage,
        role: Role::Host,
    });
    update_until(&mut app, "on stage", |w| w.get::<Host>(me).is_some());
    assert!(app.world().get::<Audience>(me).is_none());
    let changed = &seen::<RoleChanged>(app.world())[0];
    assert_eq!(
        (changed.participant, changed.role, changed.user.as_str()),
        (me, Role::Host, "ann")
    );

    app.world_mut().trigger(SetRole {
        entity: stage,
        role: Role::Audience,
    });
    update_until(&mut app, "off stage", |w| w.get::<Audience>(me).is_some());
    assert!(app.world().get::<Host>(me).is_none());
}

#[test]
fn a_moderator_demotes_a_host_and_everyone_sees_it() {
    let mut app = app();
    collect::<RoleChanged>(&mut app);
    let stage = join(
        &mut app,
        "village",
        "narrator",
        grants::MODERATOR,
        Role::Host,
    );
    update_until(&mut app, "joined", |w| w.get::<Connected>(stage).is_some());
    let _wolf = Bot::join(
        &server(&app),
        &token(&app, "village", "wolf", grants::HOST),
        "village",
        Role::Host,
    );
    update_until(&mut app, "wolf", |w| {
        participant(w, stage, "wolf").is_some()
    });
    let wolf = participant(app.world_mut(), stage, "wolf").unwrap();
    let narrator = participant(app.world_mut(), stage, "narrator").unwrap();
    assert!(app.world().get::<Moderator>(narrator).is_some());
    assert!(app.world().get::<Moderator>(wolf).is_none());

    app.world_mut().trigger(Moderate {
        entity: stage,
        action: Action::Demote("wolf".into()),
    });
    // The message names the entity; then, in the audience, the wolf leaves the narrator's
    // view (a host sees the audience as a count).
    update_until(&mut app, "wolf demoted", |w| {
        w.get_entity(wolf).is_err() && !seen::<RoleChanged>(w).is_empty()
    });
    let changed = seen::<RoleChanged>(app.world()).last().unwrap().clone();
    assert_eq!(
        (
            changed.participant,
            changed.user.as_str(),
            changed.role,
            changed.by.as_str()
        ),
        (wolf, "wolf", Role::Audience, "narrator")
    );
}

#[test]
fn a_role_the_token_does_not_allow_is_refused_with_an_error() {
    let mut app = app();
    collect::<LivestageError>(&mut app);
    let stage = join(&mut app, "show", "fan", grants::AUDIENCE, Role::Audience);
    update_until(&mut app, "joined", |w| w.get::<Connected>(stage).is_some());
    app.world_mut().trigger(SetRole {
        entity: stage,
        role: Role::Host,
    });
    update_until(&mut app, "refusal", |w| {
        !seen::<LivestageError>(w).is_empty()
    });
    assert_eq!(
        seen::<LivestageError>(app.world())[0].error.code,
        ErrorCode::NotPermitted
    );
    assert!(
        app.world().get::<Connected>(stage).is_some(),
        "still in the channel"
    );
}
