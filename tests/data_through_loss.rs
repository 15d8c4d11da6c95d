//! 1,000 data messages through 20% packet loss in both directions arrive exactly once, in order.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use livestage::net::proxy::{self, Impairment, Proxy};
use livestage::proto::wire::Role;
use livestage::server::Config;
use livestage::server::config::Limits;

#[test]
fn thousand_messages_through_twenty_percent_loss() {
    // Raise the rate limit so the test measures loss recovery, not pacing.
    let limits = Limits {
        max_payload: 4096,
        messages_per_sec: 5000,
        bytes_per_sec: 1 << 20,
    };
    let server = server(Config {
        limits,
        ..Config::default()
    });
    let lossy = Impairment {
        loss: 0.2,
        delay: Duration::from_millis(10),
        ..Default::default()
    };
    let proxy = Proxy::spawn(proxy::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        upstream: server.addr,
        seed: 20,
        up: lossy.clone(),
        down: lossy,
    })
    .unwrap();
    let sender = join(&server, proxy.local_addr(), "sender", HOST, Role::Host);
    let receiver = join(&server, server.addr, "receiver", HOST, Role::Host);
    // 1 KiB each, so the messages span hundreds of packets rather than a few dozen.
    for n in 0..1000 {
        let mut payload = counter(n);
        payload.resize(1024, 0xab);
        sender.send_data(CHANNEL, vec![], payload);
    }
    let (got, _) = collect_data(&receiver, 1000, Duration::from_secs(60));
    assert_exactly_once_in_order(&got, 1000);
    let stats = proxy.handle().stats();
    assert!(
        stats.dropped > 50,
        "the proxy really dropped packets: {stats:?}"
    );
}
