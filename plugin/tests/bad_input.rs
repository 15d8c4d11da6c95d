//! No server, a refused token, a wrong-sized frame: errors as components and messages, the
//! app keeps running.
#![allow(clippy::unwrap_used)]

mod common;

use bevy::math::UVec2;
use bevy_livestage::prelude::*;
use bevy_livestage::{ErrorCode, RemoteServer};
use common::*;

#[test]
fn no_server_reachable_is_a_disconnect_with_its_code() {
    // A port nobody listens on.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    drop(socket);
    let cert = app()
        .world()
        .resource::<Livestage>()
        .server()
        .unwrap()
        .cert_pem
        .clone();
    let mut app = app_on(RemoteServer::new(addr, cert));
    let stage = app.world_mut().spawn(Channel::new("void")).id();
    app.world_mut()
        .trigger(Join::audience(stage, "not-even-a-token"));
    update_until(&mut app, "disconnect", |w| {
        w.get::<Disconnected>(stage).is_some()
    });
    let error = app
        .world()
        .get::<Disconnected>(stage)
        .unwrap()
        .error
        .clone()
        .unwrap();
    assert_eq!(error.code, ErrorCode::ServerUnreachable);
    app.update(); // still running
}

#[test]
fn a_forged_token_is_refused_and_others_keep_going() {
    let mut app = app();
    let good = join(&mut app, "lobby", "good", grants::HOST, Role::Host);
    let forged = app.world_mut().spawn(Channel::new("lobby")).id();
    app.world_mut().trigger(Join::host(
        forged,
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
    ));
    update_until(&mut app, "refusal", |w| {
        w.get::<Disconnected>(forged).is_some()
    });
    let error = app
        .world()
        .get::<Disconnected>(forged)
        .unwrap()
        .error
        .clone()
        .unwrap();
    assert_eq!(error.code, ErrorCode::TokenInvalid);
    update_until(&mut app, "the good one joined", |w| {
        w.get::<Connected>(good).is_some()
    });
}

#[test]
fn a_custom_frame_of_the_wrong_size_is_an_error_event() {
    let mut app = app();
    collect::<LivestageError>(&mut app);
    let stage = join(&mut app, "studio", "me", grants::HOST, Role::Host);
    update_until(&mut app, "joined", |w| w.get::<Connected>(stage).is_some());
    let size = UVec2::new(320, 240);
    app.world_mut().trigger(Publish {
        entity: stage,
        video: Some(LocalVideo::Custom { size, fps: 15.0 }),
        audio: None,
    });
    app.update();
    app.world_mut().trigger(PushFrame {
        entity: stage,
        size: UVec2::new(64, 64),
        rgba: vec![0; 64 * 64 * 4],
    });
    app.world_mut().trigger(PushFrame {
        entity: stage,
        size,
        rgba: vec![0; 10],
    });
    app.update();
    let errors = seen::<LivestageError>(app.world());
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors
            .iter()
            .all(|e| e.error.code == ErrorCode::InvalidInput && e.entity == stage)
    );
    app.world_mut().trigger(PushFrame {
        entity: stage,
        size,
        rgba: vec![255; 320 * 240 * 4],
    });
    app.update();
    assert_eq!(
        seen::<LivestageError>(app.world()).len(),
        2,
        "a good frame is accepted"
    );
}

#[test]
fn a_request_before_joining_is_an_error_not_a_panic() {
    let mut app = app();
    collect::<LivestageError>(&mut app);
    let stage = app.world_mut().spawn(Channel::new("nowhere")).id();
    app.world_mut().trigger(SetRole {
        entity: stage,
        role: Role::Host,
    });
    app.world_mut().trigger(SendData {
        entity: stage,
        to: vec![],
        payload: b"x".to_vec(),
    });
    let not_a_channel = app.world_mut().spawn_empty().id();
    app.world_mut().trigger(Join::audience(not_a_channel, "t"));
    app.update();
    assert_eq!(seen::<LivestageError>(app.world()).len(), 3);
}
