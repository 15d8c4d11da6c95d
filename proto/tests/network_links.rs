//! Paths for network quality: each second every member hears its own path (as the server
//! measures the downlink, with the round trip) and the hosts' (with the uplink loss each
//! reported); never the audience's, never in a backlog, and a flood of reports is ignored.
#![allow(clippy::unwrap_used)]

mod common;

use common::Net;
use livestage_proto::client::Notice;
use livestage_proto::wire::{MAX_LINKS, PeerLink};

fn links(net: &mut Net, i: usize) -> Vec<Vec<PeerLink>> {
    net.notices(i)
        .into_iter()
        .filter_map(|n| match n {
            Notice::Links(l) => Some(l),
            _ => None,
        })
        .collect()
}

fn measured(net: &mut Net, i: usize, rtt_ms: u32, downlink: u8) {
    let conn = net.clients[i].conn.unwrap();
    net.server.path_measured(conn, rtt_ms, downlink);
}

#[test]
fn each_member_hears_its_own_path_and_the_hosts() {
    let mut net = Net::new();
    let a = net.host("a");
    let b = net.host("b");
    let v = net.audience("v");
    measured(&mut net, a, 30, 2);
    measured(&mut net, b, 80, 0);
    measured(&mut net, v, 120, 45);
    net.clients[a].session.report_link(12);
    net.clients[v].session.report_link(60);
    net.run();
    net.advance(1_100);
    for i in [a, b, v] {
        links(&mut net, i);
    }
    net.advance(1_000);

    let at_v = links(&mut net, v);
    assert_eq!(at_v.len(), 1, "one frame a second");
    let at_v = &at_v[0];
    assert_eq!(at_v[0].user, "v", "its own path first");
    assert_eq!(
        (
            at_v[0].rtt_ms,
            at_v[0].downlink_loss_percent,
            at_v[0].uplink_loss_percent
        ),
        (120, 45, 60)
    );
    let a_seen = at_v.iter().find(|l| l.user == "a").unwrap();
    assert_eq!(
        (
            a_seen.rtt_ms,
            a_seen.uplink_loss_percent,
            a_seen.downlink_loss_percent
        ),
        (30, 12, 2)
    );
    assert_eq!(at_v.len(), 3, "v and both hosts: {at_v:?}");

    // A host sees itself and the other host, not the audience.
    let at_a = links(&mut net, a).pop().unwrap();
    let users: Vec<&str> = at_a.iter().map(|l| l.user.as_str()).collect();
    assert_eq!(users, vec!["a", "b"]);
    // Nothing of this went through the event backlog.
    assert!(net.events(v).is_empty());
}

#[test]
fn reports_are_taken_once_a_half_second_and_clamped() {
    let mut net = Net::new();
    let a = net.host("a");
    let v = net.audience("v");
    net.clients[a].session.report_link(10);
    net.run();
    // A flood right after: ignored until half a second has passed.
    for _ in 0..100 {
        net.clients[a].session.report_link(250);
    }
    net.run();
    net.advance(1_100);
    let seen = links(&mut net, v).pop().unwrap();
    let a_seen = seen.iter().find(|l| l.user == "a").unwrap();
    assert_eq!(a_seen.uplink_loss_percent, 10);
    net.clients[a].session.report_link(250);
    net.run();
    net.advance(1_100);
    let seen = links(&mut net, v).pop().unwrap();
    let a_seen = seen.iter().find(|l| l.user == "a").unwrap();
    assert_eq!(a_seen.uplink_loss_percent, 100, "clamped to 100");
}

#[test]
fn the_frame_is_bounded_however_many_hosts() {
    let mut net = Net::with(livestage_proto::server::Config {
        host_cap: 100,
        ..Default::default()
    });
    for n in 0..60 {
        net.host(&format!("host-with-a-long-name-to-fill-the-frame-{n:03}"));
    }
    let v = net.audience("v");
    net.advance(1_100);
    let seen = links(&mut net, v).pop().unwrap();
    assert_eq!(seen.len(), MAX_LINKS);
    assert_eq!(seen[0].user, "v");
}
