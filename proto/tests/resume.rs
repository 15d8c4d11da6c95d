//! A lost connection resumes the same session: nothing is lost, nothing is repeated, and
//! after the resume window the peers see the participant go offline.
#![allow(clippy::unwrap_used)]

mod common;

use common::Net;
use livestage_proto::ErrorCode;
use livestage_proto::client::Notice;
use livestage_proto::wire::{Event, LeaveReason, Role};

#[test]
fn requests_lost_in_flight_are_resent_once() {
    let mut net = Net::new();
    let a = net.host("a");
    let b = net.host("b");
    // Queue five messages, then lose the connection before anything is sent.
    for n in 0..5u8 {
        net.queue(a, vec![n]);
    }
    net.cut(a);
    assert!(net.data_received(b).is_empty());
    net.advance(3000);
    net.connect(a);
    let got: Vec<u8> = net
        .data_received(b)
        .into_iter()
        .map(|(_, _, p)| p[0])
        .collect();
    assert_eq!(got, vec![0, 1, 2, 3, 4]);
    assert!(net.notices(a).contains(&Notice::Welcomed { resumed: true }));
}

#[test]
fn requests_applied_but_unacknowledged_are_not_applied_twice() {
    let mut net = Net::new();
    let a = net.host("a");
    let b = net.host("b");
    for n in 0..5u8 {
        net.queue(a, vec![n]);
    }
    // The server applies them, but the acks die with the connection.
    net.client_sends(a);
    net.cut(a);
    net.connect(a);
    net.advance(500);
    let got: Vec<u8> = net
        .data_received(b)
        .into_iter()
        .map(|(_, _, p)| p[0])
        .collect();
    assert_eq!(got, vec![0, 1, 2, 3, 4]);
    assert_eq!(net.clients[a].session.pending(), 0);
}

#[test]
fn events_sent_during_the_outage_arrive_once_after_resume() {
    let mut net = Net::new();
    let a = net.host("a");
    let b = net.host("b");
    net.data(b, b"before");
    net.cut(a);
    net.data(b, b"during-1");
    net.data(b, b"during-2");
    net.advance(10_000);
    net.connect(a);
    let got: Vec<Vec<u8>> = net
        .data_received(a)
        .into_iter()
        .map(|(_, _, p)| p)
        .collect();
    assert_eq!(
        got,
        vec![
            b"before".to_vec(),
            b"during-1".to_vec(),
            b"during-2".to_vec()
        ]
    );
    assert_eq!(net.role(a), Role::Host, "role kept");
}

#[test]
fn after_the_window_peers_see_it_go_offline() {
    let mut net = Net::new();
    let a = net.host("a");
    let b = net.host("b");
    net.events(b);
    net.cut(a);
    net.advance(19_000);
    assert!(net.events(b).is_empty(), "still within the resume window");
    net.advance(1_500);
    let evs = net.events(b);
    assert_eq!(
        evs,
        vec![Event::PeerLeft {
            user: "a".into(),
            reason: LeaveReason::Offline
        }]
    );
    net.connect(a);
    assert_eq!(net.ended(a), Some(ErrorCode::SessionExpired));
}
