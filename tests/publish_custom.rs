//! An app pushes its own RGBA frames from another thread (a custom video source); a viewer's
//! playout shows them, colour intact. A frame of the wrong size is an error, not a crash.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use livestage::net::playout::{Config, Playout};
use livestage::net::publish::{Publisher, Video, VideoSource};
use livestage::proto::wire::Role;
use livestage::server::Config as ServerConfig;
use livestage_media::video::{CustomSource, Rgba, convert};

#[test]
fn pushed_frames_reach_the_viewer() {
    let server = server(ServerConfig::default());
    let host = Arc::new(join(&server, server.addr, "host", HOST, Role::Host));
    let (viewer, host_id) = join_watching(&server, "viewer", "join", Role::Audience, "host");
    let viewer = Arc::new(viewer);
    let playout = Playout::start(
        viewer.clone(),
        Config {
            device: false,
            ..Config::default()
        },
    )
    .unwrap();

    let (source, sender) = CustomSource::new(320, 180).unwrap();
    let publisher = Publisher::start(
        host.clone(),
        CHANNEL,
        Some(Video::new(VideoSource::Custom(source), 30.0)),
        None,
    )
    .unwrap();
    let pusher = std::thread::spawn(move || {
        let red: Vec<u8> = [220u8, 30, 30, 255].repeat(320 * 180);
        for _ in 0..45 {
            sender
                .push_rgba(
                    Rgba::from_data(320, 180, red.clone()).unwrap(),
                    livestage::net::engine::now_us(),
                )
                .unwrap();
            std::thread::sleep(Duration::from_millis(33));
        }
        let wrong = Rgba::new(64, 64).unwrap();
        assert!(
            sender.push_rgba(wrong, 0).is_err(),
            "a frame of the wrong size is refused"
        );
    });
    pusher.join().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    publisher.stop().unwrap();

    let frame = playout
        .latest_video(CHANNEL, host_id, livestage::proto::track::CAMERA)
        .expect("the viewer decoded a pushed frame");
    let rgba = convert::i420_to_rgba(&frame.picture);
    let [r, g, b, _] = rgba.pixel(160, 90).unwrap();
    assert!(r > 180 && g < 70 && b < 70, "colour survives: {r},{g},{b}");
    assert!(
        playout
            .stats(CHANNEL, host_id, livestage::proto::track::CAMERA)
            .unwrap()
            .video_frames
            >= 20
    );
}
