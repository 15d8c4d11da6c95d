//! Data messages: size limit, rate limits (messages and bytes per second), forged senders.
#![allow(clippy::unwrap_used)]

mod common;

use common::{CHANNEL, Net};
use livestage_proto::ErrorCode;
use livestage_proto::client::Session;
use livestage_proto::wire::{self, Request, Role};

fn unpaced_host(net: &mut Net, user: &str) -> usize {
    let token = net.token(user, "join,publish-audio,publish-data");
    net.join_with(
        user,
        Session::new(CHANNEL, &token, Role::Host).without_pacing(),
    )
}

#[test]
fn oversized_data_is_refused_by_the_client_and_by_the_server() {
    let mut net = Net::new();
    let sender = unpaced_host(&mut net, "sender");
    let rx = net.host("rx");
    let big = vec![0u8; wire::MAX_DATA + 1];
    let err = net.clients[sender].session.send(
        Request::Data {
            to: vec![],
            payload: big.clone(),
        },
        net.now,
    );
    assert_eq!(err.unwrap_err().code, ErrorCode::MessageTooLarge);
    // A tampered client that skips its own check meets the server's.
    let frame = wire::ClientFrame::Request {
        seq: 1,
        request: Request::Data {
            to: vec![],
            payload: big,
        },
    };
    net.raw(
        sender,
        livestage_proto::server::Input::Frame(wire::encode(&frame)[4..].to_vec()),
    );
    assert_eq!(net.refusals(sender), vec![ErrorCode::MessageTooLarge]);
    assert!(net.data_received(rx).is_empty());
    net.data(rx, &[1; wire::MAX_DATA]);
    assert_eq!(
        net.data_received(sender).len(),
        1,
        "exactly the limit passes"
    );
}

#[test]
fn more_than_sixty_messages_a_second_is_rate_limited() {
    let mut net = Net::new();
    let sender = unpaced_host(&mut net, "sender");
    let rx = net.host("rx");
    for n in 0..100u8 {
        net.queue(sender, vec![n]);
    }
    net.run();
    let refused = net.refusals(sender);
    assert_eq!(refused.len(), 40);
    assert!(refused.iter().all(|c| *c == ErrorCode::RateLimited));
    assert_eq!(net.data_received(rx).len(), 60);
    net.advance(1000);
    net.data(sender, b"later");
    assert_eq!(net.data_received(rx).len(), 1, "the limit refills");
}

#[test]
fn more_than_thirty_kib_a_second_is_rate_limited() {
    let mut net = Net::new();
    let sender = unpaced_host(&mut net, "sender");
    let rx = net.host("rx");
    for _ in 0..8 {
        let payload = vec![7u8; 4096];
        net.queue(sender, payload);
    }
    net.run();
    assert_eq!(net.refusals(sender), vec![ErrorCode::RateLimited]);
    assert_eq!(net.data_received(rx).len(), 7);
}

#[test]
fn a_paced_client_never_hits_the_limit_and_loses_nothing() {
    let mut net = Net::new();
    let sender = net.host("sender");
    let rx = net.host("rx");
    for n in 0..200u32 {
        let payload = n.to_be_bytes().to_vec();
        net.queue(sender, payload);
    }
    net.advance(5000);
    assert!(net.refusals(sender).is_empty());
    let got = net.data_received(rx);
    assert_eq!(got.len(), 200);
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, (_, seq, _))| *seq == i as u64 + 1)
    );
}

#[test]
fn the_sender_is_stamped_by_the_server() {
    let mut net = Net::new();
    let mallory = net.host("mallory");
    let rx = net.host("rx");
    // The request has no sender field at all; whatever the payload claims, `from` is the
    // authenticated user.
    net.data(mallory, br#"{"from":"narrator","vote":"rx"}"#);
    let got = net.data_received(rx);
    assert_eq!(got[0].0, "mallory");
}

#[test]
fn private_messages_reach_only_their_recipients() {
    let mut net = Net::new();
    let seer = net.host("seer");
    let narrator = net.moderator("narrator");
    let wolf = net.host("wolf");
    net.send(
        seer,
        Request::Data {
            to: vec!["narrator".into()],
            payload: b"is wolf a wolf?".to_vec(),
        },
    );
    assert_eq!(net.data_received(narrator).len(), 1);
    assert!(net.data_received(wolf).is_empty());
}

#[test]
fn pacing_holds_across_an_outage() {
    let mut net = Net::new();
    let sender = net.host("sender");
    let rx = net.host("rx");
    for n in 0..300u32 {
        let payload = n.to_be_bytes().to_vec();
        net.queue(sender, payload);
    }
    net.advance(1000);
    net.cut(sender);
    net.advance(5000);
    net.connect(sender);
    net.advance(10_000);
    assert!(
        net.refusals(sender).is_empty(),
        "no burst after the resume trips the limit"
    );
    assert_eq!(net.data_received(rx).len(), 300);
}

#[test]
fn a_stalled_path_holds_back_at_most_a_window_of_requests() {
    let mut net = Net::new();
    let sender = net.host("sender");
    net.host("rx");
    for n in 0..100u32 {
        let payload = n.to_be_bytes().to_vec();
        net.queue(sender, payload);
    }
    // Frames leave but nothing comes back (a stalled path): the window stops further sends.
    let conn = net.clients[sender].conn.take();
    net.advance(3000);
    let mut sent = 0;
    while net.clients[sender].session.poll_transmit().is_some() {
        sent += 1;
    }
    assert!(
        sent <= livestage_proto::client::MAX_IN_FLIGHT,
        "{sent} frames sent into a stalled path"
    );
    net.clients[sender].conn = conn;
}

#[test]
fn requests_resent_after_a_stall_stay_paced() {
    let mut net = Net::new();
    let sender = net.host("sender");
    let rx = net.host("rx");
    for n in 0..300u32 {
        let payload = n.to_be_bytes().to_vec();
        net.queue(sender, payload);
    }
    net.advance(1000);
    // The path stalls: frames leave the client and die; then the connection is declared lost.
    let conn = net.clients[sender].conn.take();
    net.advance(4000);
    while net.clients[sender].session.poll_transmit().is_some() {}
    net.clients[sender].conn = conn;
    net.cut(sender);
    net.advance(1000);
    net.connect(sender);
    net.advance(10_000);
    assert!(
        net.refusals(sender).is_empty(),
        "the resend burst must not trip the rate limit"
    );
    let got = net.data_received(rx);
    assert_eq!(got.len(), 300);
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, (_, seq, _))| *seq == i as u64 + 1)
    );
}
