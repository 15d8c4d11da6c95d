//! Hosts see everyone; the audience sees the hosts, so a large audience costs O(hosts) per join.
#![allow(clippy::unwrap_used)]

mod common;

use common::Net;
use livestage_proto::wire::Event;

#[test]
fn audience_joins_are_shown_to_hosts_only() {
    let mut net = Net::new();
    let host = net.host("host");
    let v1 = net.audience("v1");
    net.events(host);
    net.events(v1);
    net.audience("v2");
    assert!(
        net.events(host)
            .iter()
            .any(|e| matches!(e, Event::PeerJoined(p) if p.user == "v2"))
    );
    assert!(net.events(v1).is_empty());
    let seen: Vec<_> = net.clients[v1]
        .session
        .roster()
        .map(|p| p.user.clone())
        .collect();
    assert_eq!(seen, vec!["host"]);
    let seen: Vec<_> = net.clients[host]
        .session
        .roster()
        .map(|p| p.user.clone())
        .collect();
    assert_eq!(seen, vec!["v1", "v2"]);
}
