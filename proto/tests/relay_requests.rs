//! Relay requests in the core: only a host with the `relay` grant relays, never into its own
//! channel and into at most six destinations (counted across updates), what reaches the glue,
//! that states reach the host alone, and that a relay stops when its host leaves, is kicked or
//! is demoted at home (not when it only joined again from elsewhere).
#![allow(clippy::unwrap_used)]

mod common;

use common::{CHANNEL, Net};
use livestage_proto::ErrorCode;
use livestage_proto::relay::{self, Destination, MAX_DESTINATIONS, State, Target};
use livestage_proto::wire::{Action, Event, Request, Role};

const RELAYING_HOST: &str = "join,publish-audio,publish-video,publish-data,relay";

fn to(channel: &str) -> Target {
    Target {
        channel: channel.into(),
        server: None,
    }
}

fn dest(channel: &str) -> Destination {
    Destination {
        target: to(channel),
        token: "a.b.c".into(),
    }
}

fn start(channels: &[&str]) -> Request {
    let destinations = channels.iter().map(|c| dest(c)).collect();
    Request::Relay(Box::new(relay::Request::Start { destinations }))
}

fn update(add: &[&str], remove: &[&str]) -> Request {
    Request::Relay(Box::new(relay::Request::Update {
        add: add.iter().map(|c| dest(c)).collect(),
        remove: remove.iter().map(|c| to(c)).collect(),
    }))
}

fn relays(events: Vec<Event>) -> Vec<(String, &'static str)> {
    events
        .into_iter()
        .filter_map(|e| match e {
            Event::Relay { to, state } => Some((to.to_string(), state.as_str())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_host_with_the_grant_relays_and_nobody_less_may() {
    let mut net = Net::new();
    let alice = net.join("alice", RELAYING_HOST, Role::Host);
    let plain = net.host("plain");
    let fan = net.join("fan", RELAYING_HOST, Role::Audience);
    net.send(alice, start(&["b"]));
    net.send(plain, start(&["b"]));
    net.send(fan, start(&["b"]));
    assert_eq!(net.refusals(alice), vec![]);
    assert_eq!(net.refusals(plain), vec![ErrorCode::NotPermitted]);
    assert_eq!(net.refusals(fan), vec![ErrorCode::NotPermitted]);
    assert_eq!(net.relays.len(), 1);
    let (channel, by, request) = &net.relays[0];
    assert_eq!((channel.as_str(), by.as_str()), (CHANNEL, "alice"));
    assert!(matches!(request, relay::Request::Start { destinations } if destinations.len() == 1));
}

#[test]
fn its_own_channel_duplicates_and_more_than_six_are_refused_across_updates() {
    let mut net = Net::new();
    let alice = net.join("alice", RELAYING_HOST, Role::Host);
    net.send(alice, start(&[CHANNEL]));
    net.send(alice, start(&["b", "b"]));
    net.send(alice, update(&["c"], &[]));
    assert_eq!(
        net.refusals(alice),
        vec![ErrorCode::InvalidInput; 3],
        "own channel, twice the same, an update of nothing"
    );
    net.advance(3_000); // The request budget (bursts of five).
    net.send(alice, start(&["b1", "b2", "b3", "b4", "b5"]));
    net.send(alice, update(&["b6"], &[]));
    net.send(alice, update(&["b7"], &[]));
    net.send(alice, update(&["b7"], &["b1"]));
    net.send(alice, update(&["b2"], &[]));
    assert_eq!(
        net.refusals(alice),
        vec![ErrorCode::InvalidInput; 2],
        "a seventh, then one running already"
    );
    net.advance(3_000);
    net.send(alice, update(&[], &["nowhere"]));
    assert_eq!(net.refusals(alice), vec![ErrorCode::InvalidInput]);
    let held = net.server.relay_targets(CHANNEL, "alice");
    assert_eq!(held.len(), MAX_DESTINATIONS);
    assert!(!held.contains(&to("b1")) && held.contains(&to("b7")));
}

#[test]
fn states_reach_the_relaying_host_alone_and_final_ones_free_the_destination() {
    let mut net = Net::new();
    let alice = net.join("alice", RELAYING_HOST, Role::Host);
    let m = net.moderator("m");
    net.send(alice, start(&["b", "c"]));
    net.server
        .relay_state(CHANNEL, "alice", &to("b"), State::Running);
    let failed = State::failed(ErrorCode::TooManyHosts, "c has 17 hosts already");
    net.server.relay_state(CHANNEL, "alice", &to("c"), failed);
    net.run();
    assert_eq!(
        relays(net.events(alice)),
        vec![("b".into(), "running"), ("c".into(), "failed")]
    );
    assert_eq!(relays(net.events(m)), vec![]);
    assert_eq!(net.server.relay_targets(CHANNEL, "alice"), vec![to("b")]);
    // A destination that failed may be added again.
    net.send(alice, update(&["c"], &[]));
    assert_eq!(net.refusals(alice), vec![]);
}

#[test]
fn a_relay_stops_when_its_host_leaves_the_stage_at_home() {
    for how in ["leave", "demote", "kick", "step down"] {
        let mut net = Net::new();
        let alice = net.join("alice", RELAYING_HOST, Role::Host);
        let m = net.moderator("m");
        net.send(alice, start(&["b"]));
        match how {
            "leave" => net.send(alice, Request::Leave),
            "demote" => net.send(m, Request::Moderate(Action::Demote("alice".into()))),
            "kick" => net.send(
                m,
                Request::Moderate(Action::Kick {
                    user: "alice".into(),
                    until: None,
                }),
            ),
            _ => net.send(alice, Request::SetRole(Role::Audience)),
        }
        assert_eq!(net.relays.last().unwrap().2, relay::Request::Stop, "{how}");
        assert!(
            net.server.relay_targets(CHANNEL, "alice").is_empty(),
            "{how}"
        );
    }
}

#[test]
fn joining_again_from_elsewhere_keeps_the_relay() {
    let mut net = Net::new();
    let alice = net.join("alice", RELAYING_HOST, Role::Host);
    net.send(alice, start(&["b"]));
    let again = net.join("alice", RELAYING_HOST, Role::Host);
    assert_eq!(net.relays.len(), 1, "no stop");
    assert_eq!(net.server.relay_targets(CHANNEL, "alice"), vec![to("b")]);
    net.server
        .relay_state(CHANNEL, "alice", &to("b"), State::Running);
    net.run();
    assert_eq!(relays(net.events(again)), vec![("b".into(), "running")]);
    let _ = alice;
}
