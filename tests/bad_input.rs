//! Bad input on the real server: random datagrams, an oversized control frame, garbage on the
//! control stream, a forged token. Each offender gets a clear error; everyone else carries on.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use livestage::net::transport;
use livestage::proto::ErrorCode;
use livestage::proto::wire::{self, Role, ServerFrame};
use livestage::server::Config;

/// Opens a raw QUIC connection and control stream to the server.
async fn raw_stream(
    server: &livestage::server::Embedded,
) -> (
    quinn::Endpoint,
    transport::Connection,
    transport::SendStream,
    transport::RecvStream,
) {
    let endpoint = livestage::net::engine::client_endpoint(server.addr).unwrap();
    let config = transport::client_config(server.cert_pem.as_bytes()).unwrap();
    let conn = endpoint
        .connect_with(config, server.addr, "localhost")
        .unwrap()
        .await
        .unwrap();
    let conn = transport::Connection::raw(conn);
    let (send, recv) = conn.open_bi().await.unwrap();
    (endpoint, conn, send, recv)
}

async fn goodbye(recv: &mut transport::RecvStream) -> livestage::proto::Error {
    let body = tokio::time::timeout(Duration::from_secs(5), transport::read_frame(recv))
        .await
        .unwrap()
        .unwrap();
    match wire::decode::<ServerFrame>(&body).unwrap() {
        ServerFrame::Goodbye(e) => e,
        other => panic!("expected goodbye, got {other:?}"),
    }
}

#[test]
fn offenders_are_refused_and_others_keep_talking() {
    let server = server(Config::default());
    let a = join(&server, server.addr, "a", HOST, Role::Host);
    let b = join(&server, server.addr, "b", HOST, Role::Host);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // Random datagrams at the server's port.
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in [1usize, 20, 1200, 1500, 60_000] {
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            socket.send_to(&junk, server.addr).await.unwrap();
        }

        // An oversized control frame.
        let (_e1, _c1, mut send, mut recv) = raw_stream(&server).await;
        send.write_all(&((wire::MAX_FRAME as u32 + 1).to_be_bytes()))
            .await
            .unwrap();
        let e = goodbye(&mut recv).await;
        assert_eq!(e.code, ErrorCode::ProtocolError);
        assert!(e.message.contains("exceeds"), "{e}");

        // Garbage instead of a hello.
        let (_e2, _c2, mut send, mut recv) = raw_stream(&server).await;
        send.write_all(&[0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef])
            .await
            .unwrap();
        assert_eq!(goodbye(&mut recv).await.code, ErrorCode::ProtocolError);

        // A forged token.
        let (_e3, _c3, mut send, mut recv) = raw_stream(&server).await;
        let hello = wire::Hello {
            version: wire::VERSION,
            intent: wire::Intent::Join {
                channel: CHANNEL.into(),
                token: "eyJhbGciOiJub25lIn0.e30.".into(),
                role: Role::Host,
            },
        };
        send.write_all(&wire::encode(&hello)).await.unwrap();
        assert_eq!(goodbye(&mut recv).await.code, ErrorCode::TokenInvalid);
    });

    for n in 0..10 {
        a.send_data(CHANNEL, vec![], counter(n));
    }
    let (got, _) = collect_data(&b, 10, Duration::from_secs(10));
    assert_exactly_once_in_order(&got, 10);
}
