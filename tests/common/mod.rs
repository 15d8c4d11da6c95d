//! Helpers for end-to-end tests on loopback: an embedded server, engines, and waiting for events
//! with hard timeouts.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod cli;
pub mod mono;
pub mod native;
pub mod party;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use livestage::net::engine::{ConnectionState, EventKind};
use livestage::net::{Engine, JoinOptions};
use livestage::proto::wire::{Event, Participant, Role};
use livestage::server::{Config, Embedded};

pub const CHANNEL: &str = "stage";
pub const HOST: &str = "join,publish-audio,publish-video,publish-data";

pub fn server(config: Config) -> Embedded {
    Embedded::start(config).expect("embedded server starts")
}

/// Joins `user` through `via` (the server or a proxy in front of it) and waits for the welcome.
pub fn join(server: &Embedded, via: SocketAddr, user: &str, grants: &str, role: Role) -> Engine {
    join_to(server, via, CHANNEL, user, grants, role).0
}

/// Joins `user` directly and returns the media id under which `peer` (already joined)
/// publishes, as the welcome reported it.
pub fn join_watching(
    server: &Embedded,
    user: &str,
    grants: &str,
    role: Role,
    peer: &str,
) -> (Engine, u64) {
    let (engine, peers) = join_to(server, server.addr, CHANNEL, user, grants, role);
    let media_id = peers
        .iter()
        .find(|p| p.user == peer)
        .map(|p| p.media_id)
        .unwrap_or_else(|| panic!("{user} does not see {peer}"));
    (engine, media_id)
}

/// Joins `channel` as `user` through `via` and waits for the welcome; returns the engine and
/// the participants the welcome listed.
pub fn join_to(
    server: &Embedded,
    via: SocketAddr,
    channel: &str,
    user: &str,
    grants: &str,
    role: Role,
) -> (Engine, Vec<Participant>) {
    let engine = Engine::new().unwrap();
    let token = server.token(channel, user, grants, 3600).unwrap();
    engine.join(JoinOptions::new(
        via,
        server.cert_pem.as_bytes(),
        channel,
        &token,
        role,
    ));
    let seen = wait(&engine, Duration::from_secs(10), |k| {
        matches!(k, EventKind::Joined { .. })
    })
    .unwrap_or_else(|seen| panic!("{user} did not join {channel}; saw {seen:#?}"));
    let peers = seen
        .into_iter()
        .find_map(|k| match k {
            EventKind::Joined { peers, .. } => Some(peers),
            _ => None,
        })
        .unwrap_or_default();
    (engine, peers)
}

/// Collects events until `done` says so; `Err` with what was seen on timeout.
pub fn wait(
    engine: &Engine,
    limit: Duration,
    mut done: impl FnMut(&EventKind) -> bool,
) -> Result<Vec<EventKind>, Vec<EventKind>> {
    let end = Instant::now() + limit;
    let mut seen = Vec::new();
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match engine.events().recv_timeout(left) {
            Ok(e) => {
                let stop = done(&e.kind);
                seen.push(e.kind);
                if stop {
                    return Ok(seen);
                }
            }
            Err(_) => return Err(seen),
        }
    }
}

/// Data messages as (sender, sequence number, payload).
pub type Received = Vec<(String, u64, Vec<u8>)>;

/// Receives data messages until `count` arrived or `limit` passed; returns (from, seq, payload)
/// and every other event seen.
pub fn collect_data(engine: &Engine, count: usize, limit: Duration) -> (Received, Vec<EventKind>) {
    let mut data = Vec::new();
    let mut other = Vec::new();
    let _ = wait(engine, limit, |k| {
        if let EventKind::Server(Event::Data {
            from, seq, payload, ..
        }) = k
        {
            data.push((from.clone(), *seq, payload.clone()));
        } else {
            other.push(k.clone());
        }
        data.len() >= count
    });
    (data, other)
}

pub fn disconnected(kinds: &[EventKind]) -> Option<Option<livestage::proto::ErrorCode>> {
    kinds.iter().find_map(|k| match k {
        EventKind::State {
            state: ConnectionState::Disconnected,
            error,
        } => Some(error.as_ref().map(|e| e.code)),
        _ => None,
    })
}

/// Independent random loss of `loss` (0 to 1) and nothing else, for the impairment proxy.
pub fn lossy(loss: f64) -> livestage::net::proxy::Impairment {
    livestage::net::proxy::Impairment {
        loss,
        ..Default::default()
    }
}

/// Payload `n` as the tests send it: a big-endian counter.
pub fn counter(n: u64) -> Vec<u8> {
    n.to_be_bytes().to_vec()
}

pub fn decode_counter(payload: &[u8]) -> u64 {
    u64::from_be_bytes(payload[..8].try_into().unwrap())
}

/// Asserts messages are exactly 0..n in order with sequence numbers 1..=n.
pub fn assert_exactly_once_in_order(data: &[(String, u64, Vec<u8>)], n: u64) {
    let counters: Vec<u64> = data.iter().map(|(_, _, p)| decode_counter(p)).collect();
    let expected: Vec<u64> = (0..n).collect();
    assert_eq!(counters.len() as u64, n, "count");
    assert_eq!(counters, expected, "exactly once, in order");
    let seqs: Vec<u64> = data.iter().map(|(_, s, _)| *s).collect();
    assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "sequence numbers");
}

/// Publishes `tracks` for `engine` (a host) and waits until the server has them, so media
/// sent right after is not held back by the client (which sends a track's media only once
/// the server announced the track).
pub fn announce(engine: &Engine, tracks: &[livestage::proto::track::Track]) {
    for t in tracks {
        engine.publish_track(CHANNEL, t.clone());
    }
    let all = |k: &EventKind| {
        matches!(k, EventKind::Roster(livestage::proto::client::RosterChange::Upsert(p))
            if tracks.iter().all(|t| p.track(t.id).is_some()))
    };
    wait(engine, Duration::from_secs(5), all).expect("the server announced the tracks");
}

/// Writes a 320x240 30 fps H.264 test video (ffmpeg's `testsrc`) of `secs` seconds to `path`,
/// with the extra ffmpeg arguments `args` (profile, GOP, B-frames).
pub fn test_clip(path: &std::path::Path, secs: u32, args: &[&str]) {
    clip(path, secs, None, args);
}

/// The same with a sine tone of `hz` at 44.1 kHz as AAC beside the video.
pub fn test_clip_with_tone(path: &std::path::Path, secs: u32, hz: u32, args: &[&str]) {
    clip(path, secs, Some(hz), args);
}

fn clip(path: &std::path::Path, secs: u32, tone: Option<u32>, args: &[&str]) {
    let mut command = std::process::Command::new("ffmpeg");
    command
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc=size=320x240:rate=30");
    if let Some(hz) = tone {
        command
            .args(["-f", "lavfi", "-i"])
            .arg(format!("sine=frequency={hz}:sample_rate=44100"))
            .args(["-c:a", "aac", "-b:a", "96k"]);
    }
    let status = command
        .args([
            "-t",
            &secs.to_string(),
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(args)
        .arg(path)
        .status()
        .expect("ffmpeg (./dev setup installs it; CI has it)");
    assert!(status.success(), "ffmpeg made no {}", path.display());
}
