//! Oversized or malformed control frames end only the offending session, with a clear error.
#![allow(clippy::unwrap_used)]

mod common;

use common::Net;
use livestage_proto::ErrorCode;
use livestage_proto::server::Input;
use livestage_proto::wire;

#[test]
fn an_oversized_frame_drops_that_client_only() {
    let mut net = Net::new();
    let bad = net.host("bad");
    let good = net.host("good");
    let watcher = net.host("watcher");
    let err = wire::frame_len((wire::MAX_FRAME as u32 + 1).to_be_bytes()).unwrap_err();
    assert_eq!(err.code, ErrorCode::ProtocolError);
    net.raw(bad, Input::Malformed(err));
    assert_eq!(net.ended(bad), Some(ErrorCode::ProtocolError));
    net.data(good, b"ok");
    assert_eq!(net.data_received(watcher).len(), 1);
}

#[test]
fn garbage_bytes_drop_that_client_only() {
    let mut net = Net::new();
    let bad = net.host("bad");
    let good = net.host("good");
    net.raw(bad, Input::Frame(vec![0xff; 40]));
    assert_eq!(net.ended(bad), Some(ErrorCode::ProtocolError));
    assert_eq!(net.server.participants(common::CHANNEL).len(), 1);
    assert!(net.clients[good].conn.is_some());
}

#[test]
fn a_wrong_version_hello_is_refused() {
    let mut net = Net::new();
    let hello = wire::Hello {
        version: 99,
        intent: wire::Intent::Resume {
            session: livestage_proto::id::SessionId(1),
            key: 0,
            received: 0,
        },
    };
    let conn = livestage_proto::server::ConnId(999);
    net.server.handle_input(
        conn,
        Input::Frame(wire::encode(&hello)[4..].to_vec()),
        net.now,
    );
    let out = net.server.poll_output().unwrap();
    assert!(
        matches!(out, livestage_proto::server::Output::Send { frame: wire::ServerFrame::Goodbye(e), .. } if e.message.contains("version 99"))
    );
}

#[test]
fn a_skipped_request_sequence_is_a_protocol_error() {
    let mut net = Net::new();
    let bad = net.host("bad");
    let frame = wire::ClientFrame::Request {
        seq: 5,
        request: wire::Request::SetRole(wire::Role::Audience),
    };
    net.raw(bad, Input::Frame(wire::encode(&frame)[4..].to_vec()));
    assert_eq!(net.ended(bad), Some(ErrorCode::ProtocolError));
}
