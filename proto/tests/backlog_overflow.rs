//! A client that never acknowledges is dropped when its backlog is full, at the end of the
//! step, however the step reached it: a moderator's demotion, its own refused requests, a
//! token renewal. Nothing panics and everyone else carries on.
#![allow(clippy::unwrap_used)]

mod common;

use common::Net;
use livestage_proto::server::Config;
use livestage_proto::wire::{Action, ClientFrame, Request, Role};

const HOST: &str = "join,publish-audio,publish-video,publish-data";

fn small_backlog() -> Net {
    Net::with(Config {
        max_backlog: 4,
        ..Config::default()
    })
}

fn request(seq: u64, request: Request) -> ClientFrame {
    ClientFrame::Request { seq, request }
}

#[test]
fn a_demotion_that_overflows_the_backlog_drops_the_host_not_the_server() {
    let mut net = small_backlog();
    let m = net.moderator("m");
    let stuck = net.silent("stuck", HOST, Role::Host);
    // Refused requests fill the backlog of a client that never acks (hosts cannot raise hands).
    for seq in 1..=4 {
        net.silent_send(stuck, &request(seq, Request::RaiseHand(true)));
    }
    net.run();
    assert_eq!(net.server.participants(common::CHANNEL).len(), 2);
    net.send(m, Request::Moderate(Action::Demote("stuck".into())));
    let users: Vec<_> = net
        .server
        .participants(common::CHANNEL)
        .into_iter()
        .map(|p| p.user)
        .collect();
    assert_eq!(users, vec!["m"], "the stuck host is gone");
    assert!(net.ended(m).is_none());
    // The channel keeps working for the moderator.
    let fan = net.audience("fan");
    net.send(m, Request::Moderate(Action::Promote("fan".into())));
    assert_eq!(net.role(fan), Role::Host);
}

#[test]
fn its_own_role_change_and_renewal_overflow_safely() {
    for last in [
        Request::SetRole(Role::Audience),
        Request::RenewToken("not a token".into()),
    ] {
        let mut net = small_backlog();
        let watcher = net.host("watcher");
        let stuck = net.silent("stuck", HOST, Role::Host);
        for seq in 1..=4 {
            net.silent_send(stuck, &request(seq, Request::RaiseHand(true)));
        }
        net.silent_send(stuck, &request(5, last));
        net.run();
        let users: Vec<_> = net
            .server
            .participants(common::CHANNEL)
            .into_iter()
            .map(|p| p.user)
            .collect();
        assert_eq!(users, vec!["watcher"]);
        assert!(net.ended(watcher).is_none());
    }
}

#[test]
fn a_subscriber_that_stops_acknowledging_leaves_once() {
    let mut net = small_backlog();
    let a = net.host("a");
    let b = net.host("b");
    // b stops acknowledging: only the server's side of its session is driven from here.
    net.clients[b].conn = None;
    for i in 0..5u8 {
        net.data(a, &[i]);
    }
    assert!(net.ended(a).is_none());
    let left: Vec<_> = net
        .events(a)
        .into_iter()
        .filter(|e| matches!(e, livestage_proto::wire::Event::PeerLeft { user, .. } if user == "b"))
        .collect();
    assert_eq!(left.len(), 1);
}
