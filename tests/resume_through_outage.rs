//! A client behind a proxy loses its path for 17 s (past the 15 s QUIC idle timeout, so the
//! connection is given up) while data flows both ways; it resumes the same session on a new
//! connection and every message arrives exactly once, in order. (A shorter outage keeps the
//! connection: tests/join_under_loss.rs.)
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use livestage::net::engine::{ConnectionState, EventKind};
use livestage::net::proxy::{self, Proxy};
use livestage::proto::wire::Role;
use livestage::server::Config;

#[test]
fn an_outage_past_the_idle_timeout_loses_and_repeats_nothing() {
    let server = server(Config::default());
    let proxy = Proxy::spawn(proxy::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        upstream: server.addr,
        seed: 1,
        up: Default::default(),
        down: Default::default(),
    })
    .unwrap();
    let a = join(&server, proxy.local_addr(), "a", HOST, Role::Host);
    let b = join(&server, server.addr, "b", HOST, Role::Host);

    // ~300 messages at the paced rate take ~5.5 s; the outage hits the middle of them.
    for n in 0..300 {
        a.send_data(CHANNEL, vec![], counter(n));
    }
    std::thread::sleep(Duration::from_millis(1000));
    proxy.handle().outage_for(Duration::from_secs(17));
    std::thread::sleep(Duration::from_millis(500));
    for n in 0..50 {
        b.send_data(CHANNEL, vec![], counter(n));
    }

    let (at_b, _) = collect_data(&b, 300, Duration::from_secs(60));
    assert_exactly_once_in_order(&at_b, 300);
    let (at_a, events_a) = collect_data(&a, 50, Duration::from_secs(30));
    assert_exactly_once_in_order(&at_a, 50);
    // The path really broke and the session resumed (not a fresh join).
    let mut reconnecting = events_a.iter().any(|k| {
        matches!(
            k,
            EventKind::State {
                state: ConnectionState::Reconnecting,
                ..
            }
        )
    });
    let mut resumed = events_a
        .iter()
        .any(|k| matches!(k, EventKind::Joined { resumed: true, .. }));
    // Events before the data may already have been consumed while waiting for b's messages.
    while let Ok(e) = a.events().try_recv() {
        reconnecting |= matches!(
            e.kind,
            EventKind::State {
                state: ConnectionState::Reconnecting,
                ..
            }
        );
        resumed |= matches!(e.kind, EventKind::Joined { resumed: true, .. });
    }
    assert!(
        reconnecting && resumed,
        "expected a resume; saw {events_a:#?}"
    );
    assert!(proxy.handle().stats().dropped > 0);
}
