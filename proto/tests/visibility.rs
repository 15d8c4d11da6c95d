//! Who sees whom: everyone sees the hosts, hosts also see raised hands, and the rest of the
//! audience is a count. A large audience therefore costs O(hosts) per join, for everyone.
#![allow(clippy::unwrap_used)]

mod common;

use common::Net;
use livestage_proto::wire::{Event, Request};

fn roster(net: &Net, i: usize) -> Vec<String> {
    net.clients[i]
        .session
        .roster()
        .map(|p| p.user.clone())
        .collect()
}

#[test]
fn an_audience_join_is_counted_not_announced() {
    let mut net = Net::new();
    let host = net.host("host");
    let v1 = net.audience("v1");
    net.events(host);
    net.events(v1);
    net.audience("v2");
    assert!(net.events(host).is_empty(), "no event per viewer");
    assert!(net.events(v1).is_empty());
    assert_eq!(roster(&net, v1), vec!["host"]);
    assert_eq!(roster(&net, host), Vec::<String>::new());
    net.advance(1_100);
    let counts: Vec<u32> = net
        .events(host)
        .into_iter()
        .filter_map(|e| match e {
            Event::Audience { count } => Some(count),
            _ => None,
        })
        .collect();
    assert_eq!(counts, vec![2], "one count for the whole second");
    assert_eq!(net.clients[host].session.audience(), 2);
}

#[test]
fn a_raised_hand_brings_a_viewer_into_the_hosts_view_and_back_out() {
    let mut net = Net::new();
    let host = net.host("host");
    let fan = net.audience("fan");
    let other = net.audience("other");
    net.send(fan, Request::RaiseHand(true));
    assert_eq!(roster(&net, host), vec!["fan"]);
    assert_eq!(roster(&net, other), vec!["host"], "viewers see hosts only");
    net.send(fan, Request::RaiseHand(false));
    assert_eq!(roster(&net, host), Vec::<String>::new());
    // A late host sees the hand in its first roster.
    net.send(fan, Request::RaiseHand(true));
    let late = net.host("late");
    assert_eq!(roster(&net, late), vec!["fan", "host"]);
    // Leaving with the hand up is announced to the hosts.
    net.cut(fan);
    net.advance(25_000);
    assert_eq!(roster(&net, late), vec!["host"]);
}
