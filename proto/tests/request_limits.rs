//! Every request kind is rate limited per user, refused or not, and names in requests are
//! checked like user ids: a flood costs the flooder, never the channel.
#![allow(clippy::unwrap_used)]

mod common;

use common::Net;
use livestage_proto::ErrorCode;
use livestage_proto::client::Session;
use livestage_proto::rate::Limited;
use livestage_proto::wire::{Action, Event, Request, Role};

#[test]
fn a_role_flood_is_refused_and_the_channel_sees_only_the_limit() {
    let mut net = Net::new();
    let token = net.token("flood", "join,publish-audio,publish-video");
    let flood = net.join_with(
        "flood",
        Session::new(common::CHANNEL, &token, Role::Audience).without_pacing(),
    );
    let watcher = net.audience("watcher");
    net.events(watcher);
    for i in 0..200 {
        let role = if i % 2 == 0 {
            Role::Host
        } else {
            Role::Audience
        };
        net.send(flood, Request::SetRole(role));
    }
    let (per_sec, burst) = Limited::Role.limit();
    let seen = net
        .events(watcher)
        .iter()
        .filter(|e| matches!(e, Event::RoleChanged { .. }))
        .count();
    assert!(seen <= burst as usize, "{seen} role changes seen at once");
    let refused = net.refusals(flood);
    assert!(refused.iter().all(|c| *c == ErrorCode::RateLimited));
    assert_eq!(refused.len(), 200 - burst as usize);
    // A second later the limit's rate is available again.
    net.advance(1_000);
    for _ in 0..10 {
        net.send(flood, Request::SetRole(Role::Host));
        net.send(flood, Request::SetRole(Role::Audience));
    }
    let seen = net
        .events(watcher)
        .iter()
        .filter(|e| matches!(e, Event::RoleChanged { .. }))
        .count();
    assert!(seen <= per_sec as usize + 1, "{seen} in the next second");
}

#[test]
fn refused_moderation_is_rate_limited_too() {
    let mut net = Net::new();
    let h = net.host("h");
    let (_, burst) = Limited::Moderate.limit();
    for _ in 0..burst + 10 {
        net.send(h, Request::Moderate(Action::Promote("nobody".into())));
    }
    let refused = net.refusals(h);
    let limited = refused
        .iter()
        .filter(|c| **c == ErrorCode::RateLimited)
        .count();
    assert_eq!(limited, 10);
}

#[test]
fn names_in_requests_are_validated() {
    let mut net = Net::new();
    let m = net.moderator("m");
    let long = "x".repeat(10_000);
    net.send(
        m,
        Request::Subscribe {
            track: None,
            user: long.clone(),
            audio: true,
            video: None,
        },
    );
    net.send(
        m,
        Request::Moderate(Action::Kick {
            user: "bad name".into(),
            until: None,
        }),
    );
    net.send(
        m,
        Request::Moderate(Action::SetHearing {
            listener: "m".into(),
            hears: Some(vec![long]),
        }),
    );
    net.send(
        m,
        Request::Data {
            to: vec!["é".into()],
            payload: b"x".to_vec(),
        },
    );
    assert_eq!(net.refusals(m), vec![ErrorCode::ProtocolError; 4]);
}

#[test]
fn a_subscribe_flood_is_rate_limited() {
    let mut net = Net::new();
    let v = net.audience("v");
    for i in 0..200 {
        net.send(
            v,
            Request::Subscribe {
                track: None,
                user: format!("ghost-{i}"),
                audio: false,
                video: None,
            },
        );
    }
    let (_, burst) = Limited::Subscribe.limit();
    let refused = net.refusals(v);
    assert_eq!(refused, vec![ErrorCode::RateLimited; 200 - burst as usize]);
    assert!(net.ended(v).is_none());
}
