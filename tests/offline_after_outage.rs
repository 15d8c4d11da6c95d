//! A client that stays away longer than the resume window is seen leaving as `offline`, and
//! coming back it is told its session has expired.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use livestage::net::engine::EventKind;
use livestage::net::proxy::{self, Proxy};
use livestage::proto::ErrorCode;
use livestage::proto::wire::{Event, LeaveReason, Role};
use livestage::server::Config;

#[test]
fn a_long_outage_goes_offline() {
    let server = server(Config {
        resume_secs: 2,
        ..Config::default()
    });
    let proxy = Proxy::spawn(proxy::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        upstream: server.addr,
        seed: 2,
        up: Default::default(),
        down: Default::default(),
    })
    .unwrap();
    let a = join(&server, proxy.local_addr(), "a", HOST, Role::Host);
    let b = join(&server, server.addr, "b", HOST, Role::Host);
    proxy.handle().set_outage(true);
    // The connection idles out after 15 s (transport::IDLE_TIMEOUT), then the 2 s window runs
    // out.
    let seen = wait(
        &b,
        Duration::from_secs(25),
        |k| matches!(k, EventKind::Server(Event::PeerLeft { user, reason: LeaveReason::Offline }) if user == "a"),
    );
    assert!(seen.is_ok(), "b never saw a go offline: {seen:#?}");
    proxy.handle().set_outage(false);
    let back = wait(&a, Duration::from_secs(15), |k| {
        disconnected(std::slice::from_ref(k)).is_some()
    });
    let events = back.unwrap_or_else(|e| panic!("a never ended: {e:#?}"));
    assert_eq!(disconnected(&events), Some(Some(ErrorCode::SessionExpired)));
}
