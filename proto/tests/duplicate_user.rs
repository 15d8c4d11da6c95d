//! The same user joining twice evicts the older session with `replaced`.
#![allow(clippy::unwrap_used)]

mod common;

use common::Net;
use livestage_proto::ErrorCode;
use livestage_proto::wire::{Event, LeaveReason};

#[test]
fn the_older_session_is_replaced() {
    let mut net = Net::new();
    let watcher = net.host("watcher");
    let first = net.host("alice");
    net.events(watcher);
    let second = net.host("alice");
    assert_eq!(net.ended(first), Some(ErrorCode::Replaced));
    assert!(net.clients[first].conn.is_none());
    assert!(net.clients[second].conn.is_some());
    let evs = net.events(watcher);
    assert!(evs.iter().any(
        |e| matches!(e, Event::PeerLeft { user, reason: LeaveReason::Replaced } if user == "alice")
    ));
    assert!(
        evs.iter()
            .any(|e| matches!(e, Event::PeerJoined(p) if p.user == "alice"))
    );
    assert_eq!(net.server.participants(common::CHANNEL).len(), 2);
}
