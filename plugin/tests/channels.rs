//! One app in several channels at once, including the same channel twice as two users.
#![allow(clippy::unwrap_used)]

mod common;

use bevy_livestage::prelude::*;
use common::*;

#[test]
fn two_channels_at_once_keep_their_participants_apart() {
    let mut app = app();
    let red = join(&mut app, "red", "me", grants::HOST, Role::Host);
    let blue = join(&mut app, "blue", "me", grants::HOST, Role::Host);
    update_until(&mut app, "both joined", |w| {
        w.get::<Connected>(red).is_some() && w.get::<Connected>(blue).is_some()
    });
    let server = server(&app);
    let _r = Bot::publishing(&server, &token(&app, "red", "rita", grants::HOST), "red");
    let _b = Bot::publishing(&server, &token(&app, "blue", "bart", grants::HOST), "blue");
    update_until(&mut app, "both bots' video", |w| {
        let rita = participant(w, red, "rita");
        let bart = participant(w, blue, "bart");
        rita.zip(bart)
            .is_some_and(|(r, b)| camera_video(w, r).is_some() && camera_video(w, b).is_some())
    });
    assert!(participant(app.world_mut(), red, "bart").is_none());
    assert!(participant(app.world_mut(), blue, "rita").is_none());

    app.world_mut().trigger(Leave { entity: red });
    update_until(&mut app, "red left", |w| {
        w.get::<Disconnected>(red).is_some()
    });
    run_for(&mut app, std::time::Duration::from_millis(300));
    assert!(
        app.world().get::<Connected>(blue).is_some(),
        "blue is untouched"
    );
    assert!(participant(app.world_mut(), blue, "bart").is_some());
}

#[test]
fn the_same_channel_joined_twice_as_two_users_sees_both() {
    // The viewer sees the streamer; the streamer sees the viewer in the audience count (a host
    // sees audience members only when they raise a hand).
    let mut app = app();
    let streamer = join(&mut app, "arena", "streamer", grants::HOST, Role::Host);
    let viewer = join(
        &mut app,
        "arena",
        "viewer",
        grants::AUDIENCE,
        Role::Audience,
    );
    update_until(&mut app, "viewer sees the streamer", |w| {
        participant(w, viewer, "streamer").is_some()
    });
    update_until(&mut app, "streamer counts the viewer", |w| {
        w.get::<AudienceCount>(streamer) == Some(&AudienceCount(1))
    });
    assert!(participant(app.world_mut(), streamer, "viewer").is_none());
}
