//! A channel holds at most `host_cap` hosts; the next one joins as audience with
//! `too_many_hosts`, and a promotion past the cap is refused.
#![allow(clippy::unwrap_used)]

mod common;

use common::Net;
use livestage_proto::ErrorCode;
use livestage_proto::wire::{Action, Request, Role};

#[test]
fn the_eighteenth_host_stays_as_audience() {
    let mut net = Net::new();
    let hosts: Vec<usize> = (0..17).map(|n| net.host(&format!("h{n}"))).collect();
    assert!(hosts.iter().all(|&h| net.role(h) == Role::Host));
    let late = net.host("h17");
    assert_eq!(net.role(late), Role::Audience);
    assert_eq!(net.refusals(late), vec![ErrorCode::TooManyHosts]);
    assert!(net.clients[late].conn.is_some(), "still connected");
    net.send(late, Request::SetRole(Role::Host));
    assert_eq!(net.refusals(late), vec![ErrorCode::TooManyHosts]);
    // A host stepping down frees a seat.
    net.send(hosts[0], Request::SetRole(Role::Audience));
    net.send(late, Request::SetRole(Role::Host));
    assert_eq!(net.role(late), Role::Host);
}

#[test]
fn a_moderator_cannot_promote_past_the_cap() {
    let mut net = Net::with(livestage_proto::server::Config {
        host_cap: 2,
        ..Default::default()
    });
    let m = net.moderator("m");
    net.host("h1");
    let a = net.audience("a");
    net.send(m, Request::Moderate(Action::Promote("a".into())));
    assert_eq!(net.refusals(m), vec![ErrorCode::TooManyHosts]);
    assert_eq!(net.role(a), Role::Audience);
}
