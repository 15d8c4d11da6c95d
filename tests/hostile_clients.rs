//! Hostile clients against a real server on loopback (the same glue `livestage serve` runs): a
//! client that never acknowledges, and an audience connection that floods media streams. The
//! server stays up, ends only the offender, and everyone else carries on.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{CHANNEL, HOST, join, server, wait};
use livestage::net::engine::EventKind;
use livestage::net::transport;
use livestage::proto::client::Session;
use livestage::proto::wire::{self, Action, ClientFrame, Event, Request, Role, ServerFrame};
use livestage::proto::{ErrorCode, media};
use livestage::server::{Config, Embedded};

/// A client that speaks the wire format by hand and acknowledges nothing.
struct Raw {
    conn: transport::Connection,
    send: transport::SendStream,
    recv: transport::RecvStream,
    next: u64,
}

impl Raw {
    async fn join(server: &Embedded, user: &str, grants: &str, role: Role) -> Self {
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        let config = transport::client_config(server.cert_pem.as_bytes()).unwrap();
        endpoint.set_default_client_config(config);
        let conn = endpoint
            .connect(server.addr, "localhost")
            .unwrap()
            .await
            .unwrap();
        let conn = transport::Connection::raw(conn);
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        let token = server.token(CHANNEL, user, grants, 3600).unwrap();
        let hello = Session::new(CHANNEL, &token, role).hello();
        transport::write_frame(&mut send, &wire::encode(&hello))
            .await
            .unwrap();
        let welcome = transport::read_frame(&mut recv).await.unwrap();
        assert!(matches!(
            wire::decode::<ServerFrame>(&welcome).unwrap(),
            ServerFrame::Welcome(_)
        ));
        Self {
            conn,
            send,
            recv,
            next: 1,
        }
    }

    async fn request(&mut self, request: Request) {
        let frame = ClientFrame::Request {
            seq: self.next,
            request,
        };
        self.next += 1;
        transport::write_frame(&mut self.send, &wire::encode(&frame))
            .await
            .unwrap();
    }

    /// Reads frames until one matches, or the stream ends (`None`).
    async fn until(&mut self, mut found: impl FnMut(&ServerFrame) -> bool) -> Option<ServerFrame> {
        while let Ok(body) = transport::read_frame(&mut self.recv).await {
            let frame = wire::decode::<ServerFrame>(&body).unwrap();
            if found(&frame) {
                return Some(frame);
            }
        }
        None
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_client_that_never_acknowledges_is_dropped_and_the_server_keeps_serving() {
    let server = Arc::new(server(Config {
        max_backlog: 4,
        ..Config::default()
    }));
    let moderator = join(
        &server,
        server.addr,
        "m",
        &format!("{HOST},moderator"),
        Role::Host,
    );
    let rt = runtime();
    let mut stuck = rt.block_on(Raw::join(&server, "stuck", HOST, Role::Host));
    // Refused requests (a host cannot raise a hand) fill its backlog: it never acknowledges.
    rt.block_on(async {
        for _ in 0..4 {
            stuck.request(Request::RaiseHand(true)).await;
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    // The demotion's events overflow it: before the fix this panicked the server's task.
    moderator.moderate(CHANNEL, Action::Demote("stuck".into()));
    let goodbye = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(5),
            stuck.until(|f| matches!(f, ServerFrame::Goodbye(_))),
        )
        .await
        .unwrap()
    });
    let Some(ServerFrame::Goodbye(error)) = goodbye else {
        panic!("no goodbye: {goodbye:?}");
    };
    assert_eq!(error.code, ErrorCode::Overloaded);
    // The moderator saw the demotion through (in the audience, `stuck` left its view, so its
    // departure is a count, not a PeerLeft).
    wait(&moderator, Duration::from_secs(5), |k| {
        matches!(k, EventKind::Server(Event::RoleChanged { participant, .. })
            if participant.user == "stuck" && participant.role == Role::Audience)
    })
    .unwrap();
    // The same server goes on admitting people, in this channel and in another.
    join(&server, server.addr, "late", HOST, Role::Audience);
    let other = livestage::net::Engine::new().unwrap();
    let token = server.token("second", "x", HOST, 3600).unwrap();
    other.join(livestage::net::JoinOptions::new(
        server.addr,
        server.cert_pem.as_bytes(),
        "second",
        &token,
        Role::Host,
    ));
    wait(&other, Duration::from_secs(5), |k| {
        matches!(k, EventKind::Joined { .. })
    })
    .unwrap();
    drop(stuck);
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn an_audience_that_opens_1000_media_streams_is_stopped_unread() {
    let server = server(Config::default());
    let a = join(&server, server.addr, "a", HOST, Role::Host);
    let b = join(&server, server.addr, "b", HOST, Role::Host);
    let rt = runtime();
    let mut fan = rt.block_on(Raw::join(&server, "fan", HOST, Role::Audience));
    let before = rss_kib();
    let started = Instant::now();
    // Each stream claims a full-size frame; the server stops it before reading the body.
    let chunk = vec![0u8; 64 * 1024];
    let stopped = rt.block_on(async {
        let mut stopped = 0;
        for _ in 0..1000 {
            let Ok(mut s) = fan.conn.open_uni().await else {
                break;
            };
            let header = media::VideoHeader {
                media_id: 0,
                track: 0,
                layer: media::Layer::High,
                stream: 1,
                frame: 0,
                keyframe: true,
                capture_us: 0,
            };
            let _ = s.write_all(&header.encode()).await;
            let mut refused = false;
            for _ in 0..64 {
                if s.write_all(&chunk).await.is_err() {
                    refused = true;
                    break;
                }
            }
            // Writes the peer never read may still sit in this side's send buffer; the
            // server's STOP_SENDING is what counts.
            if !refused {
                refused = matches!(
                    tokio::time::timeout(Duration::from_secs(2), s.stopped()).await,
                    Ok(Ok(Some(_)))
                );
            }
            stopped += usize::from(refused);
        }
        stopped
    });
    let took = started.elapsed();
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    // Server and client share this process: the growth bounds what the server kept.
    eprintln!("1000 streams: {stopped} stopped in {took:?}; the process grew {grown_mib} MiB");
    assert!(stopped >= 990, "{stopped} of 1000 streams were stopped");
    assert!(took < Duration::from_secs(20), "took {took:?}");
    // Had the server read them, it would have held up to 4 MiB a stream.
    assert!(grown_mib < 64, "the process grew {grown_mib} MiB");
    // The fan was told why (throttled), and the hosts' control path never stalled.
    let refused = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(5),
            fan.until(|f| {
                matches!(f, ServerFrame::Event { event: Event::Refused { error, .. }, .. }
                    if error.code == ErrorCode::NotPermitted)
            }),
        )
        .await
    });
    assert!(matches!(refused, Ok(Some(_))));
    a.send_data(CHANNEL, vec![], b"still here".to_vec());
    let (data, _) = common::collect_data(&b, 1, Duration::from_secs(5));
    assert_eq!(data.len(), 1);
}

#[test]
fn a_flood_of_control_frames_is_read_at_the_pace_and_others_are_served() {
    use livestage::proto::rate::{CONTROL_FRAME_BURST, CONTROL_FRAMES_PER_SEC};
    let server = Arc::new(server(Config::default()));
    let rt = runtime();
    let mut flooder = rt.block_on(Raw::join(&server, "flood", HOST, Role::Audience));
    // Frames no per-kind limit charges (link reports), then one request: its
    // acknowledgement comes only once the reader has paced through everything before it.
    let extra = 3 * CONTROL_FRAMES_PER_SEC;
    let started = Instant::now();
    rt.block_on(async {
        let link = wire::encode(&ClientFrame::Link {
            uplink_loss_percent: 0,
        });
        for _ in 0..CONTROL_FRAME_BURST + extra {
            transport::write_frame(&mut flooder.send, &link)
                .await
                .unwrap();
        }
        flooder.request(Request::RaiseHand(true)).await;
    });
    // Meanwhile an honest client joins the same server at once.
    let honest = Instant::now();
    join(&server, server.addr, "honest", HOST, Role::Audience);
    let honest = honest.elapsed();
    let acked = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(15),
            flooder.until(|f| matches!(f, ServerFrame::Ack { upto: 1 })),
        )
        .await
        .unwrap()
    });
    assert!(acked.is_some(), "the flooder stays connected, only slowed");
    let took = started.elapsed();
    eprintln!(
        "flood of {} frames read in {took:?}; honest join {honest:?}",
        CONTROL_FRAME_BURST + extra
    );
    assert!(
        took >= Duration::from_millis(
            u64::from(extra) * 1_000 / u64::from(CONTROL_FRAMES_PER_SEC) * 9 / 10
        ),
        "read no faster than the pace: {took:?}"
    );
    assert!(
        honest < Duration::from_secs(2),
        "honest join took {honest:?}"
    );
}
