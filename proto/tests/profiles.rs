//! In a communication channel everyone who may publish is a host; in a live broadcast the
//! role asked for is kept.
#![allow(clippy::unwrap_used)]

mod common;

use common::{CHANNEL, Net};
use livestage_proto::server::Config;
use livestage_proto::wire::{Profile, Role};

#[test]
fn communication_makes_publishers_hosts() {
    let mut config = Config::default();
    config
        .profiles
        .insert(CHANNEL.into(), Profile::Communication);
    let mut net = Net::with(config);
    let a = net.audience("a");
    let viewer = net.join("viewer", "join", Role::Audience);
    assert_eq!(net.clients[a].session.profile(), Profile::Communication);
    assert_eq!(net.role(a), Role::Host, "asked for audience, made host");
    assert_eq!(
        net.role(viewer),
        Role::Audience,
        "no publish grant, stays audience"
    );
}

#[test]
fn live_broadcast_keeps_the_role_asked_for() {
    let mut net = Net::new();
    let a = net.audience("a");
    let h = net.host("h");
    assert_eq!(net.clients[a].session.profile(), Profile::LiveBroadcast);
    assert_eq!(net.role(a), Role::Audience);
    assert_eq!(net.role(h), Role::Host);
}
