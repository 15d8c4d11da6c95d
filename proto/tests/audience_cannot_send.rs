//! The audience cannot send data: the request is refused and nothing is forwarded.
#![allow(clippy::unwrap_used)]

mod common;

use common::Net;
use livestage_proto::ErrorCode;

#[test]
fn audience_data_is_refused_and_goes_nowhere() {
    let mut net = Net::new();
    let host = net.host("host");
    let viewer = net.audience("viewer");
    let other = net.audience("other");
    net.data(viewer, b"let me talk");
    assert_eq!(net.refusals(viewer), vec![ErrorCode::NotPermitted]);
    assert!(net.data_received(host).is_empty());
    assert!(net.data_received(other).is_empty());
}

#[test]
fn a_token_without_publish_data_cannot_send() {
    let mut net = Net::new();
    let host = net.host("host");
    let mute = net.join(
        "mute",
        "join,publish-audio",
        livestage_proto::wire::Role::Host,
    );
    net.data(mute, b"hi");
    assert_eq!(net.refusals(mute), vec![ErrorCode::NotPermitted]);
    assert!(net.data_received(host).is_empty());
}
