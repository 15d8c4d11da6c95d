//! A moderator decides who hears whom; data follows hearing sets; mutes are announced; kicks remove.
#![allow(clippy::unwrap_used)]

mod common;

use common::Net;
use livestage_proto::ErrorCode;
use livestage_proto::wire::{Action, Event, Request};

#[test]
fn at_night_only_wolves_hear_wolves() {
    let mut net = Net::new();
    let m = net.moderator("narrator");
    let w1 = net.host("wolf1");
    let w2 = net.host("wolf2");
    let v = net.host("villager");
    for (listener, hears) in [
        ("wolf1", vec!["wolf2"]),
        ("wolf2", vec!["wolf1"]),
        ("villager", vec![]),
    ] {
        let hears = Some(hears.into_iter().map(String::from).collect());
        net.send(
            m,
            Request::Moderate(Action::SetHearing {
                listener: listener.into(),
                hears,
            }),
        );
    }
    assert!(net.events(v).contains(&Event::HearingChanged {
        hears: Some(vec![])
    }));
    net.data(w1, b"eat the baker");
    net.data(v, b"hello?");
    assert_eq!(net.data_received(w2).len(), 1);
    assert!(net.data_received(v).is_empty());
    assert_eq!(net.data_received(m).len(), 2, "the narrator hears everyone");
    // Morning: everyone hears everyone again.
    for listener in ["wolf1", "wolf2", "villager"] {
        net.send(
            m,
            Request::Moderate(Action::SetHearing {
                listener: listener.into(),
                hears: None,
            }),
        );
    }
    net.data(w2, b"good morning");
    assert_eq!(net.data_received(v).len(), 1);
}

#[test]
fn mute_is_announced_and_kick_removes() {
    let mut net = Net::new();
    let m = net.moderator("m");
    let a = net.host("a");
    let b = net.host("b");
    net.events(b);
    net.send(
        m,
        Request::Moderate(Action::Mute {
            user: "a".into(),
            audio: Some(true),
            video: None,
        }),
    );
    assert!(net.events(b).contains(&Event::MuteChanged {
        user: "a".into(),
        audio: true,
        video: false
    }));
    assert!(net.clients[a].session.me().unwrap().audio_muted);
    net.send(
        m,
        Request::Moderate(Action::Kick {
            user: "a".into(),
            until: None,
        }),
    );
    assert_eq!(net.ended(a), Some(ErrorCode::Kicked));
    assert_eq!(net.server.participants(common::CHANNEL).len(), 2);
}

#[test]
fn joining_again_does_not_lift_a_hearing_set_or_a_mute() {
    let mut net = Net::new();
    let m = net.moderator("narrator");
    let wolf = net.host("wolf");
    let _villager = net.host("villager");
    net.send(
        m,
        Request::Moderate(Action::SetHearing {
            listener: "villager".into(),
            hears: Some(vec!["narrator".into()]),
        }),
    );
    net.send(
        m,
        Request::Moderate(Action::Mute {
            user: "villager".into(),
            audio: Some(true),
            video: None,
        }),
    );
    // A modified client joins again as the same user (replacing its session) to listen in.
    let again = net.host("villager");
    assert!(net.events(again).contains(&Event::HearingChanged {
        hears: Some(vec!["narrator".into()])
    }));
    net.data(wolf, b"eat the baker");
    assert!(
        net.data_received(again).is_empty(),
        "the new session hears the wolf"
    );
    net.data(m, b"night falls");
    assert_eq!(
        net.data_received(again).len(),
        1,
        "it still hears the narrator"
    );
    let muted = net
        .events(m)
        .iter()
        .any(|e| matches!(e, Event::PeerJoined(p) if p.user == "villager" && p.audio_muted));
    assert!(muted, "the mute survives the new session");
}
