//! The playout layer over a real server: remote video is decoded into the newest picture (whose
//! burned-in stamp reads back), remote voice goes through the jitter buffer into the mixer and a
//! null device, and a speaking tone raises a speaking event.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use livestage::net::playout::{Config, Playout, PlayoutEvent};
use livestage::proto::media::{Layer, VideoHeader};
use livestage::proto::track::{self, Track};
use livestage::proto::wire::Role;
use livestage::server::Config as ServerConfig;
use livestage_media::audio::{self, Tone};
use livestage_media::video::{Encoder, TestPattern, encode, read_stamp};

#[test]
fn video_is_decoded_and_voice_is_played() {
    let server = server(ServerConfig::default());
    let host = Arc::new(join(&server, server.addr, "host", HOST, Role::Host));
    let (viewer, host_id) = join_watching(&server, "viewer", "join", Role::Audience, "host");
    let viewer = Arc::new(viewer);
    announce(&host, &[Track::camera(), Track::microphone()]);
    let playout = Playout::start(
        viewer.clone(),
        Config {
            device: false,
            ..Config::default()
        },
    )
    .unwrap();

    // Publish 1.5 s of stamped 320x180 video at 30 fps and a 440 Hz tone.
    let publisher = std::thread::spawn(move || {
        let pattern = TestPattern::new(320, 180).unwrap();
        let mut video =
            Encoder::new(encode::Config::new(320, 180, 30.0, 300_000).unwrap()).unwrap();
        let mut tone = Tone::new(audio::Format::MONO_48K, 440.0, 0.5).unwrap();
        let mut voice = audio::Encoder::new(audio::Format::MONO_48K, 32_000).unwrap();
        let start = Instant::now();
        let mut sent = 0;
        for tick in 0u64..75 {
            let capture_us = livestage::net::engine::now_us();
            let packet = voice.encode(&tone.next_frame()).unwrap();
            host.send_audio(
                CHANNEL,
                track::MICROPHONE,
                1,
                tick as u32,
                capture_us,
                &packet,
            );
            if tick % 2 == 0 {
                let n = tick / 2;
                if let Some(e) = video
                    .encode(&pattern.frame(n, capture_us), capture_us)
                    .unwrap()
                {
                    let header = VideoHeader {
                        media_id: 0,
                        track: track::CAMERA,
                        layer: Layer::High,
                        stream: 1,
                        frame: sent,
                        keyframe: e.keyframe,
                        capture_us,
                    };
                    host.send_video(CHANNEL, header, e.data);
                    sent += 1;
                }
            }
            let next = start + Duration::from_millis(20 * (tick + 1));
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
    });
    let speaking = playout
        .events()
        .recv_timeout(Duration::from_secs(5))
        .unwrap();
    assert_eq!(
        speaking,
        PlayoutEvent::Speaking {
            channel: CHANNEL.into(),
            media_id: host_id,
            track: track::MICROPHONE,
            speaking: true
        }
    );
    publisher.join().unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let frame = playout
        .latest_video(CHANNEL, host_id, track::CAMERA)
        .expect("a decoded picture");
    let stamp = read_stamp(&frame.picture).expect("the stamp reads back");
    assert_eq!(stamp.capture_us, frame.capture_us);
    assert!(
        stamp.frame_number >= 30,
        "the newest picture is recent: {}",
        stamp.frame_number
    );
    let stats = playout.participant_stats(CHANNEL, host_id).unwrap();
    assert!(stats.video_frames >= 30, "{stats:?}");
    assert_eq!(stats.video_errors, 0);
    assert!(stats.audio_played >= 50, "{stats:?}");
    // The tone stops, so speaking stops.
    let stopped = playout
        .events()
        .recv_timeout(Duration::from_secs(3))
        .unwrap();
    assert_eq!(
        stopped,
        PlayoutEvent::Speaking {
            channel: CHANNEL.into(),
            media_id: host_id,
            track: track::MICROPHONE,
            speaking: false
        }
    );
}
