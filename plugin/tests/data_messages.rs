//! Data messages arrive as `DataReceived` messages and observer events, with the sender the
//! server stamped.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy_livestage::prelude::*;
use common::*;
use livestage_net::engine::{Event, EventKind};
use livestage_proto::wire;

#[derive(Resource, Default)]
struct Observed(Vec<String>);

#[test]
fn data_messages_arrive_in_order_as_messages_and_events() {
    let mut app = app();
    collect::<DataReceived>(&mut app);
    app.init_resource::<Observed>();
    let stage = join(&mut app, "votes", "narrator", grants::MODERATOR, Role::Host);
    app.world_mut().entity_mut(stage).observe(
        |data: On<DataReceived>, mut seen: ResMut<Observed>| {
            seen.0
                .push(String::from_utf8_lossy(&data.payload).into_owned());
        },
    );
    update_until(&mut app, "joined", |w| w.get::<Connected>(stage).is_some());
    let bot = Bot::join(
        &server(&app),
        &token(&app, "votes", "carol", grants::HOST),
        "votes",
        Role::Host,
    );
    update_until(&mut app, "carol", |w| {
        participant(w, stage, "carol").is_some()
    });
    for i in 0..20 {
        bot.send(format!("vote {i}").as_bytes());
    }
    update_until(&mut app, "20 messages", |w| {
        seen::<DataReceived>(w).len() >= 20
    });

    let carol = participant(app.world_mut(), stage, "carol").unwrap();
    let got = seen::<DataReceived>(app.world());
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m.payload, format!("vote {i}").into_bytes());
        assert_eq!(
            (m.from.as_str(), m.sender, m.channel),
            ("carol", Some(carol), stage)
        );
        assert_eq!(m.seq, i as u64 + 1);
    }
    assert_eq!(
        app.world().resource::<Observed>().0.len(),
        20,
        "observers see them too"
    );
}

#[test]
fn the_app_sends_data_and_the_bot_receives_it_from_the_right_sender() {
    let mut app = app();
    let stage = join(&mut app, "chat", "dave", grants::HOST, Role::Host);
    update_until(&mut app, "joined", |w| w.get::<Connected>(stage).is_some());
    let bot = Bot::join(
        &server(&app),
        &token(&app, "chat", "erin", grants::HOST),
        "chat",
        Role::Host,
    );
    app.world_mut().trigger(SendData {
        entity: stage,
        to: vec!["erin".into()],
        payload: b"psst".to_vec(),
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        app.update();
        let event = bot.engine.events().recv_timeout(Duration::from_millis(20));
        if let Ok(Event {
            kind:
                EventKind::Server(wire::Event::Data {
                    from,
                    private,
                    payload,
                    ..
                }),
            ..
        }) = event
        {
            assert_eq!(
                (from.as_str(), private, payload.as_slice()),
                ("dave", true, &b"psst"[..])
            );
            return;
        }
        assert!(Instant::now() < deadline, "erin never got the message");
    }
}
