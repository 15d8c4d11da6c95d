//! Media through the real server with opaque payloads: hosts reach subscribers with the server's
//! stamp; the audience's media goes nowhere; mutes, hearing sets and layer choices are honoured;
//! a viewer arriving asks the publisher for a keyframe.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use livestage::net::engine::EventKind;
use livestage::net::{Engine, MediaEvent, MediaKind};
use livestage::proto::ErrorCode;
use livestage::proto::client::RosterChange;
use livestage::proto::media::{Layer, VideoHeader};
use livestage::proto::track::{self, Track};
use livestage::proto::wire::{Action, Event, Role};
use livestage::server::Config;

/// The one publication each test's hosts send.
const STREAM: u32 = 1;

fn publish(engine: &Engine, layer: Layer, frame: u64) {
    let header = VideoHeader {
        media_id: 0,
        track: track::CAMERA,
        layer,
        stream: STREAM,
        frame,
        keyframe: frame.is_multiple_of(10),
        capture_us: frame,
    };
    engine.send_video(CHANNEL, header, vec![frame as u8; 3000]);
    engine.send_audio(
        CHANNEL,
        track::MICROPHONE,
        STREAM,
        frame as u32,
        frame,
        &[frame as u8; 60],
    );
}

/// Media received within `limit`.
fn drain(engine: &Engine, limit: Duration) -> Vec<MediaEvent> {
    let end = Instant::now() + limit;
    let mut got = Vec::new();
    while let Ok(m) = engine
        .media()
        .recv_timeout(end.saturating_duration_since(Instant::now()))
    {
        got.push(m);
    }
    got
}

fn counts(media: &[MediaEvent], from: u64) -> (usize, usize, usize) {
    let of = |layer| {
        media
            .iter()
            .filter(|m| {
                m.media_id == from
                    && matches!(&m.kind, MediaKind::Video { header, .. } if header.layer == layer)
            })
            .count()
    };
    let audio = media
        .iter()
        .filter(|m| m.media_id == from && matches!(m.kind, MediaKind::Audio { .. }))
        .count();
    (of(Layer::High), of(Layer::Low), audio)
}

#[test]
fn media_follows_roles_mutes_hearing_and_layers() {
    let server = server(Config::default());
    let host = join(&server, server.addr, "host", HOST, Role::Host);
    let m = join(
        &server,
        server.addr,
        "m",
        &format!("{HOST},moderator"),
        Role::Host,
    );
    let (viewer, host_id) = join_watching(&server, "viewer", HOST, Role::Audience, "host");
    // The host announces a camera with a low layer and a microphone before sending.
    host.publish_track(
        CHANNEL,
        Track {
            low_layer: true,
            ..Track::camera()
        },
    );
    host.publish_track(CHANNEL, Track::microphone());
    let has_both = |k: &EventKind| matches!(k, EventKind::Roster(RosterChange::Upsert(p)) if p.user == "host" && p.tracks.len() == 2);
    let seen = wait(&viewer, Duration::from_secs(5), has_both);
    assert!(seen.is_ok(), "the viewer never saw the tracks: {seen:?}");
    // The host knows its tracks are live (its media waits for that), and the new video track
    // asked it for a keyframe on the way.
    let seen = wait(&host, Duration::from_secs(5), has_both).expect("the host sees its tracks");
    assert!(
        seen.iter().any(|k| matches!(
            k,
            EventKind::Server(Event::KeyframeRequest {
                layer: Layer::High,
                ..
            })
        )),
        "no keyframe request: {seen:?}"
    );

    for f in 0..20 {
        publish(&host, Layer::High, f);
        publish(&host, Layer::Low, f);
        std::thread::sleep(Duration::from_millis(5));
    }
    let got = drain(&viewer, Duration::from_millis(800));
    let (high, low, audio) = counts(&got, host_id);
    assert_eq!((high, low), (20, 0), "high layer by default");
    assert!(audio >= 18, "audio datagrams arrive ({audio})");
    let frames: Vec<u64> = got
        .iter()
        .filter_map(|m| match &m.kind {
            MediaKind::Video { header, .. } => Some(header.frame),
            _ => None,
        })
        .collect();
    let mut sorted = frames.clone();
    sorted.sort();
    assert_eq!(sorted, (0..20).collect::<Vec<_>>(), "every frame once");

    // The audience's media goes nowhere and it is told why.
    for f in 0..10 {
        publish(&viewer, Layer::High, f);
    }
    let refused = wait(
        &viewer,
        Duration::from_secs(5),
        |k| matches!(k, EventKind::Server(Event::Refused { error, .. }) if error.code == ErrorCode::NotPermitted),
    );
    assert!(refused.is_ok());
    assert!(drain(&host, Duration::from_millis(300)).is_empty());
    assert!(
        drain(&m, Duration::from_millis(10))
            .iter()
            .all(|e| e.media_id == host_id)
    );

    // The viewer picks the low layer and no audio.
    viewer.subscribe(CHANNEL, "host", false, Some(Layer::Low));
    std::thread::sleep(Duration::from_millis(300));
    for f in 20..30 {
        publish(&host, Layer::High, f);
        publish(&host, Layer::Low, f);
        std::thread::sleep(Duration::from_millis(5));
    }
    let (high, low, audio) = counts(&drain(&viewer, Duration::from_millis(600)), host_id);
    assert_eq!((high, low, audio), (0, 10, 0));

    // Muting the host's audio and video, then a hearing set, stop delivery to the moderator.
    drain(&m, Duration::from_millis(10));
    m.moderate(
        CHANNEL,
        Action::Mute {
            user: "host".into(),
            audio: Some(true),
            video: Some(true),
        },
    );
    std::thread::sleep(Duration::from_millis(300));
    for f in 30..40 {
        publish(&host, Layer::High, f);
    }
    assert!(
        drain(&m, Duration::from_millis(500)).is_empty(),
        "muted media goes nowhere"
    );
    m.moderate(
        CHANNEL,
        Action::Mute {
            user: "host".into(),
            audio: Some(false),
            video: Some(false),
        },
    );
    m.moderate(
        CHANNEL,
        Action::SetHearing {
            listener: "m".into(),
            hears: Some(vec![]),
        },
    );
    std::thread::sleep(Duration::from_millis(300));
    for f in 40..50 {
        publish(&host, Layer::High, f);
    }
    assert!(
        drain(&m, Duration::from_millis(500)).is_empty(),
        "hearing set excludes the host"
    );
    let (_, low, _) = counts(&drain(&viewer, Duration::from_millis(10)), host_id);
    assert_eq!(
        low, 0,
        "the viewer still gets only the low layer, and none was sent"
    );
}
