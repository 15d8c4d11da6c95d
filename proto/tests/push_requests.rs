//! CDN push requests in the core: who may push, names per channel, what reaches the glue, who
//! hears of each URL's state, and that a push stops with the user who started it.
#![allow(clippy::unwrap_used)]

mod common;

use common::{CHANNEL, Net};
use livestage_proto::ErrorCode;
use livestage_proto::push::{self, Layout, UrlState};
use livestage_proto::wire::{Event, Request, Role};

const URL: &str = "rtmp://127.0.0.1/live/main";

fn start(name: &str) -> Request {
    Request::Push(Box::new(push::Request::Start {
        name: name.into(),
        urls: vec![URL.into()],
        layout: Layout::default(),
    }))
}

fn stop(name: &str) -> Request {
    Request::Push(Box::new(push::Request::Stop { name: name.into() }))
}

/// The error codes of the requests refused among `events`.
fn refusals(events: Vec<Event>) -> Vec<ErrorCode> {
    events
        .into_iter()
        .filter_map(|e| match e {
            Event::Refused { error, .. } => Some(error.code),
            _ => None,
        })
        .collect()
}

/// The push states among `events`, as (name, state name).
fn states(events: Vec<Event>) -> Vec<(String, &'static str)> {
    events
        .into_iter()
        .filter_map(|e| match e {
            Event::Push { name, state, .. } => Some((name, state.as_str())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_moderator_starts_a_push_and_the_glue_gets_it() {
    let mut net = Net::new();
    let m = net.moderator("m");
    net.send(m, start("main"));
    assert_eq!(refusals(net.events(m)), vec![]);
    assert_eq!(net.pushes.len(), 1);
    let (channel, by, request) = &net.pushes[0];
    assert_eq!((channel.as_str(), by.as_str()), (CHANNEL, "m"));
    assert_eq!(request.name(), "main");
}

#[test]
fn the_push_grant_is_enough_and_nothing_less_is() {
    let mut net = Net::new();
    let pusher = net.join("pusher", "join,push", Role::Audience);
    let host = net.host("host");
    net.send(pusher, start("a"));
    net.send(host, start("b"));
    assert_eq!(refusals(net.events(pusher)), vec![]);
    assert_eq!(refusals(net.events(host)), vec![ErrorCode::NotPermitted]);
    assert_eq!(net.pushes.len(), 1);
}

#[test]
fn names_are_unique_and_pushes_per_channel_are_capped() {
    let mut net = Net::new();
    let m = net.moderator("m");
    net.send(m, start("a"));
    net.send(m, start("a"));
    for i in 0..push::MAX_PER_CHANNEL {
        net.send(m, start(&format!("n{i}")));
    }
    let refused = refusals(net.events(m));
    // The second "a", and the one over the cap.
    assert_eq!(refused, vec![ErrorCode::InvalidInput; 2]);
    assert_eq!(net.pushes.len(), push::MAX_PER_CHANNEL);
}

#[test]
fn updating_or_stopping_an_unknown_push_is_refused() {
    let mut net = Net::new();
    let m = net.moderator("m");
    net.send(m, stop("nope"));
    let update = push::Request::Update {
        name: "nope".into(),
        layout: None,
        add: vec![],
        remove: vec![],
    };
    net.send(m, Request::Push(Box::new(update)));
    assert_eq!(refusals(net.events(m)), vec![ErrorCode::InvalidInput; 2]);
    assert!(net.pushes.is_empty());
}

#[test]
fn an_invalid_layout_never_reaches_the_glue() {
    let mut net = Net::new();
    let m = net.moderator("m");
    let layout = Layout {
        width: 4000,
        ..Layout::default()
    };
    let bad = push::Request::Start {
        name: "main".into(),
        urls: vec![URL.into()],
        layout,
    };
    net.send(m, Request::Push(Box::new(bad)));
    assert_eq!(refusals(net.events(m)), vec![ErrorCode::InvalidInput]);
    assert!(net.pushes.is_empty());
}

#[test]
fn states_reach_the_requester_and_the_moderators_only() {
    let mut net = Net::new();
    let pusher = net.join("pusher", "join,push", Role::Audience);
    let m = net.moderator("m");
    let host = net.host("host");
    let fan = net.join("fan", "join", Role::Audience);
    net.send(pusher, start("main"));
    net.server
        .push_state(CHANNEL, "main", URL, UrlState::Running);
    net.run();
    let running = vec![("main".to_owned(), "running")];
    assert_eq!(states(net.events(pusher)), running);
    assert_eq!(states(net.events(m)), running);
    assert_eq!(states(net.events(host)), vec![]);
    assert_eq!(states(net.events(fan)), vec![]);
}

#[test]
fn a_stopped_push_frees_its_name_and_is_no_longer_reported() {
    let mut net = Net::new();
    let m = net.moderator("m");
    net.send(m, start("main"));
    net.send(m, stop("main"));
    net.server
        .push_state(CHANNEL, "main", URL, UrlState::Running);
    net.run();
    assert_eq!(states(net.events(m)), vec![]);
    net.send(m, start("main"));
    assert_eq!(refusals(net.events(m)), vec![]);
    assert_eq!(net.pushes.len(), 3);
}

#[test]
fn a_push_stops_when_its_requester_leaves() {
    let mut net = Net::new();
    let m = net.moderator("m");
    let other = net.moderator("other");
    net.send(m, start("main"));
    net.send(m, Request::Leave);
    let last = net.pushes.last().unwrap();
    assert_eq!(
        last.2,
        push::Request::Stop {
            name: "main".into()
        }
    );
    // The name is free for another moderator.
    net.send(other, start("main"));
    assert_eq!(refusals(net.events(other)), vec![]);
}

#[test]
fn push_requests_are_rate_limited() {
    let mut net = Net::new();
    let m = net.moderator("m");
    for _ in 0..20 {
        net.send(m, stop("nope"));
    }
    let refused = refusals(net.events(m));
    assert!(refused.contains(&ErrorCode::RateLimited), "{refused:?}");
}
