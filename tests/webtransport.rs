//! The server's WebTransport side, driven by a Rust WebTransport client (web-transport-quinn's,
//! the one a browser stands in for): a session is only for `/livestage`, and once open it is a
//! member like any native client (the core sees the same Hello, frames and events).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use livestage::net::transport;
use livestage::proto::client::Session;
use livestage::proto::wire::{self, Event, ServerFrame};
use livestage::proto::wire::{ClientFrame, Role};
use livestage::server::Config;

/// A WebTransport session to `path` on `server`, trusting its certificate by hash as browsers do.
async fn open(
    server: &livestage::server::Embedded,
    path: &str,
) -> anyhow::Result<transport::Connection> {
    let certs = transport::certs_from_pem(server.cert_pem.as_bytes())?;
    let hash = transport::fingerprint(&certs[0]).to_vec();
    let client =
        web_transport_quinn::ClientBuilder::new().with_server_certificate_hashes(vec![hash])?;
    let url = url::Url::parse(&format!("https://{}{path}", server.addr))?;
    Ok(client.connect(url).await?)
}

async fn next_frame(recv: &mut transport::RecvStream) -> ServerFrame {
    let body = tokio::time::timeout(Duration::from_secs(5), transport::read_frame(recv))
        .await
        .unwrap()
        .unwrap();
    wire::decode(&body).unwrap()
}

#[test]
fn a_session_on_another_path_is_refused() {
    let server = server(Config::default());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let refused = rt.block_on(open(&server, "/elsewhere"));
    assert!(refused.is_err(), "only /livestage opens a session");
}

#[test]
fn a_webtransport_member_joins_and_hears_a_native_host() {
    let server = server(Config::default());
    let host = join(&server, server.addr, "host", HOST, Role::Host);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let session = open(&server, "/livestage").await.unwrap();
        let (mut send, mut recv) = session.open_bi().await.unwrap();
        let token = server.token(CHANNEL, "web", "join", 600).unwrap();
        let hello = Session::new(CHANNEL, &token, Role::Audience).hello();
        transport::write_frame(&mut send, &wire::encode(&hello))
            .await
            .unwrap();
        let ServerFrame::Welcome(welcome) = next_frame(&mut recv).await else {
            panic!("expected a welcome");
        };
        assert_eq!(welcome.you.role, Role::Audience);
        let users: Vec<&str> = welcome
            .roster
            .peers
            .iter()
            .map(|p| p.user.as_str())
            .collect();
        assert_eq!(users, ["host"]);

        host.send_data(CHANNEL, Vec::new(), b"to everyone".to_vec());
        loop {
            match next_frame(&mut recv).await {
                ServerFrame::Event {
                    seq,
                    event: Event::Data { from, payload, .. },
                } => {
                    assert_eq!(
                        (from.as_str(), payload.as_slice()),
                        ("host", b"to everyone".as_slice())
                    );
                    let ack = ClientFrame::Ack { upto: seq };
                    transport::write_frame(&mut send, &wire::encode(&ack))
                        .await
                        .unwrap();
                    break;
                }
                ServerFrame::Goodbye(e) => panic!("goodbye: {e:?}"),
                _ => {}
            }
        }
    });
}
