//! Every parser of network input turns random bytes, truncations and bit flips into errors,
//! never panics: control frames (both directions), hellos, video headers, audio datagrams, and
//! the server state machine fed garbage on a live session.
#![allow(clippy::unwrap_used)]

mod common;

use common::Net;
use livestage_proto::media::{AudioPacket, Layer, VideoHeader};
use livestage_proto::server::{Config, Input};
use livestage_proto::wire::{self, ClientFrame, Hello, Request, ServerFrame};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn samples() -> Vec<Vec<u8>> {
    let request = ClientFrame::Request {
        seq: 3,
        request: Request::Data {
            to: vec!["x".into()],
            payload: vec![1; 50],
        },
    };
    let hello = Hello {
        version: wire::VERSION,
        intent: wire::Intent::Join {
            channel: "c".into(),
            token: "t".into(),
            role: wire::Role::Host,
        },
    };
    let header = VideoHeader {
        media_id: 9,
        track: 0,
        layer: Layer::Low,
        stream: 0x7f00_0001,
        frame: 77,
        keyframe: true,
        capture_us: 123,
    };
    vec![
        wire::encode(&request)[4..].to_vec(),
        wire::encode(&hello)[4..].to_vec(),
        wire::encode(&ServerFrame::Ack { upto: 5 })[4..].to_vec(),
        header.encode()[2..].to_vec(),
        AudioPacket {
            media_id: 1,
            track: 0,
            stream: 4,
            seq: 2,
            capture_us: 3,
            payload: &[7; 40],
        }
        .encode(),
    ]
}

/// Random buffers, every truncation and single-bit flips of valid messages.
fn inputs() -> Vec<Vec<u8>> {
    let mut rng = StdRng::seed_from_u64(0xf022);
    let mut out = Vec::new();
    for _ in 0..3000 {
        let len = rng.gen_range(0..200);
        out.push((0..len).map(|_| rng.r#gen::<u8>()).collect());
    }
    for s in samples() {
        for cut in 0..s.len() {
            out.push(s[..cut].to_vec());
        }
        for bit in 0..s.len() * 8 {
            let mut flipped = s.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            out.push(flipped);
        }
    }
    out
}

#[test]
fn decoders_return_errors_not_panics() {
    for input in inputs() {
        let _ = wire::decode::<ClientFrame>(&input);
        let _ = wire::decode::<ServerFrame>(&input);
        let _ = wire::decode::<Hello>(&input);
        let _ = VideoHeader::decode(&input);
        let _ = AudioPacket::decode(&input);
        if input.len() >= 4 {
            let _ = wire::frame_len(input[..4].try_into().unwrap());
        }
    }
}

#[test]
fn the_server_survives_garbage_on_live_sessions() {
    // Every garbage sender stays a host unless its garbage ends its session.
    let mut net = Net::with(Config {
        host_cap: 10_000,
        ..Config::default()
    });
    let watcher = net.host("watcher");
    for (i, input) in inputs().into_iter().enumerate().step_by(7) {
        let user = format!("u{i}");
        let c = net.host(&user);
        net.raw(c, Input::Frame(input));
    }
    // Whatever the garbage did to its senders, the server still serves the others.
    let other = net.host("other");
    net.data(other, b"still here");
    assert_eq!(net.data_received(watcher).len(), 1);
}
