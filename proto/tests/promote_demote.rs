//! A moderator promotes and demotes; everyone who can see the change is told; others are refused.
#![allow(clippy::unwrap_used)]

mod common;

use common::Net;
use livestage_proto::ErrorCode;
use livestage_proto::wire::{Action, Event, Request, Role};

#[test]
fn moderator_promotes_and_demotes() {
    let mut net = Net::new();
    let m = net.moderator("m");
    let host = net.host("host");
    let a = net.audience("a");
    let watcher = net.audience("watcher");
    net.events(host);
    net.events(watcher);
    net.send(m, Request::Moderate(Action::Promote("a".into())));
    assert_eq!(net.role(a), Role::Host);
    let changed = |evs: Vec<Event>| {
        evs.iter().any(|e| matches!(e, Event::RoleChanged { participant, by } if participant.user == "a" && participant.role == Role::Host && by == "m"))
    };
    assert!(changed(net.events(host)));
    assert!(
        changed(net.events(watcher)),
        "audience learns of a new host"
    );
    // The promoted user now sees the hosts (the audience is counted, not listed).
    let seen: Vec<_> = net.clients[a]
        .session
        .roster()
        .map(|p| p.user.clone())
        .collect();
    assert_eq!(seen, vec!["host", "m"]);
    assert_eq!(net.clients[a].session.audience(), 1, "watcher");

    net.send(m, Request::Moderate(Action::Demote("host".into())));
    assert_eq!(net.role(host), Role::Audience);
    let watcher_roster: Vec<_> = net.clients[watcher]
        .session
        .roster()
        .map(|p| p.user.clone())
        .collect();
    assert_eq!(
        watcher_roster,
        vec!["a", "m"],
        "the audience sees hosts only"
    );
}

#[test]
fn others_cannot_moderate() {
    let mut net = Net::new();
    let host = net.host("host");
    let victim = net.host("victim");
    net.audience("a");
    for action in [
        Action::Promote("a".into()),
        Action::Demote("victim".into()),
        Action::Kick {
            user: "victim".into(),
            until: None,
        },
        Action::Mute {
            user: "victim".into(),
            audio: Some(true),
            video: None,
        },
        Action::SetHearing {
            listener: "victim".into(),
            hears: Some(vec![]),
        },
    ] {
        net.send(host, Request::Moderate(action));
        assert_eq!(net.refusals(host), vec![ErrorCode::NotPermitted]);
    }
    assert_eq!(net.role(victim), Role::Host);
    assert!(net.clients[victim].conn.is_some());
}

#[test]
fn promotion_needs_a_publishing_grant() {
    let mut net = Net::new();
    let m = net.moderator("m");
    let viewer = net.join("viewer", "join", Role::Audience);
    net.send(m, Request::Moderate(Action::Promote("viewer".into())));
    assert_eq!(net.refusals(m), vec![ErrorCode::NotPermitted]);
    assert_eq!(net.role(viewer), Role::Audience);
    net.send(viewer, Request::SetRole(Role::Host));
    assert_eq!(net.refusals(viewer), vec![ErrorCode::NotPermitted]);
    net.send(m, Request::Moderate(Action::Promote("nobody".into())));
    assert_eq!(net.refusals(m), vec![ErrorCode::UnknownUser]);
}
