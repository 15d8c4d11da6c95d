//! Inject requests in the core: only moderators inject, names per channel, what reaches the
//! glue, who hears of the state, and that an inject stops with the user who started it.
#![allow(clippy::unwrap_used)]

mod common;

use common::{CHANNEL, Net};
use livestage_proto::ErrorCode;
use livestage_proto::inject::{self, Options};
use livestage_proto::push::UrlState;
use livestage_proto::wire::{Event, Request, Role};

fn start(name: &str) -> Request {
    Request::Inject(Box::new(inject::Request::Start {
        name: name.into(),
        source: "rtmp://127.0.0.1/live/film".into(),
        options: Options::default(),
    }))
}

fn stop(name: &str) -> Request {
    Request::Inject(Box::new(inject::Request::Stop { name: name.into() }))
}

fn refusals(events: Vec<Event>) -> Vec<ErrorCode> {
    events
        .into_iter()
        .filter_map(|e| match e {
            Event::Refused { error, .. } => Some(error.code),
            _ => None,
        })
        .collect()
}

fn states(events: Vec<Event>) -> Vec<(String, &'static str)> {
    events
        .into_iter()
        .filter_map(|e| match e {
            Event::Inject { name, state } => Some((name, state.as_str())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_moderator_injects_and_nobody_less_may() {
    let mut net = Net::new();
    let m = net.moderator("m");
    let pusher = net.join("pusher", "join,push", Role::Audience);
    let host = net.host("host");
    net.send(m, start("film"));
    net.send(pusher, start("a"));
    net.send(host, start("b"));
    assert_eq!(refusals(net.events(m)), vec![]);
    assert_eq!(refusals(net.events(pusher)), vec![ErrorCode::NotPermitted]);
    assert_eq!(refusals(net.events(host)), vec![ErrorCode::NotPermitted]);
    assert_eq!(net.injects.len(), 1);
    let (channel, by, request) = &net.injects[0];
    assert_eq!((channel.as_str(), by.as_str()), (CHANNEL, "m"));
    assert_eq!(request.user(), "inject-film");
}

#[test]
fn names_are_unique_injects_per_channel_are_capped_and_unknown_ones_are_refused() {
    let mut net = Net::new();
    let m = net.moderator("m");
    net.send(m, start("a"));
    net.send(m, start("a"));
    for i in 1..inject::MAX_PER_CHANNEL + 1 {
        net.send(m, start(&format!("n{i}")));
    }
    net.send(m, stop("nope"));
    // The second "a", the one over the cap, the unknown stop (five requests: the burst).
    assert_eq!(refusals(net.events(m)), vec![ErrorCode::InvalidInput; 3]);
    assert_eq!(net.injects.len(), inject::MAX_PER_CHANNEL);
}

#[test]
fn invalid_options_and_unknown_names_never_reach_the_glue() {
    let mut net = Net::new();
    let m = net.moderator("m");
    let bad = inject::Request::Start {
        name: "film".into(),
        source: "/srv/film.mp4".into(),
        options: Options {
            volume: 250,
            ..Options::default()
        },
    };
    net.send(m, Request::Inject(Box::new(bad)));
    // A name too long for its participant id (inject- plus 64 characters).
    net.send(m, start(&"x".repeat(64)));
    let update = inject::Request::Update {
        name: "nope".into(),
        volume: 50,
    };
    net.send(m, Request::Inject(Box::new(update)));
    assert_eq!(
        refusals(net.events(m)),
        vec![
            ErrorCode::InvalidInput,
            ErrorCode::ProtocolError,
            ErrorCode::InvalidInput
        ]
    );
    assert!(net.injects.is_empty());
}

#[test]
fn states_reach_the_requester_and_the_moderators_only_until_it_ends() {
    let mut net = Net::new();
    let m = net.moderator("m");
    let other = net.moderator("other");
    let host = net.host("host");
    let fan = net.join("fan", "join", Role::Audience);
    net.send(m, start("film"));
    net.server.inject_state(CHANNEL, "film", UrlState::Running);
    net.run();
    let running = vec![("film".to_owned(), "running")];
    assert_eq!(states(net.events(m)), running);
    assert_eq!(states(net.events(other)), running);
    assert_eq!(states(net.events(host)), vec![]);
    assert_eq!(states(net.events(fan)), vec![]);
    net.server.inject_ended(CHANNEL, "film");
    net.server.inject_state(CHANNEL, "film", UrlState::Running);
    net.run();
    assert_eq!(states(net.events(m)), vec![]);
}

#[test]
fn an_inject_stops_when_its_requester_leaves_and_requests_are_rate_limited() {
    let mut net = Net::new();
    let m = net.moderator("m");
    let other = net.moderator("other");
    net.send(m, start("film"));
    net.send(m, Request::Leave);
    assert_eq!(
        net.injects.last().unwrap().2,
        inject::Request::Stop {
            name: "film".into()
        }
    );
    net.send(other, start("film"));
    assert_eq!(refusals(net.events(other)), vec![]);
    for _ in 0..20 {
        net.send(other, stop("nope"));
    }
    assert!(refusals(net.events(other)).contains(&ErrorCode::RateLimited));
}
