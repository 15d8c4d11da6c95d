//! Proximity voice: a voice placed to the left is heard in the left ear only, a voice placed
//! far away is silent, and clearing the placement brings it back to both ears.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use livestage::net::playout::{Config, Placement, Playout};
use livestage::net::publish::{AudioSource, Publisher};
use livestage::proto::wire::Role;
use livestage::server::Config as ServerConfig;
use livestage_media::audio::{Format, Level};

/// Mean level of each ear over the next `frames` audible-or-not 20 ms frames, in dBFS.
fn ears(voice: &crossbeam_channel::Receiver<Vec<f32>>, frames: usize) -> (f32, f32) {
    let _ = voice.try_iter().count(); // what was mixed before the change
    let (mut left, mut right) = (Vec::new(), Vec::new());
    while left.len() < frames * 960 {
        let frame = voice.recv_timeout(Duration::from_secs(2)).unwrap();
        left.extend(frame.chunks(2).map(|lr| lr[0]));
        right.extend(frame.chunks(2).map(|lr| lr[1]));
    }
    (Level::measure(&left).dbfs, Level::measure(&right).dbfs)
}

#[test]
fn a_placed_voice_is_heard_from_its_side_and_fades_out_far_away() {
    let server = server(ServerConfig::default());
    let host = Arc::new(join(&server, server.addr, "host", HOST, Role::Host));
    let (viewer, media_id) = join_watching(&server, "viewer", "join", Role::Audience, "host");
    let (voice_tx, voice) = crossbeam_channel::unbounded();
    let config = Config {
        format: Format::STEREO_48K,
        voice: Some(voice_tx),
        ..Config::default()
    };
    let playout = Playout::start(Arc::new(viewer), config).unwrap();
    let publisher = Publisher::start(host, CHANNEL, None, Some(AudioSource::Tone(300.0))).unwrap();
    std::thread::sleep(Duration::from_millis(500));

    let (l, r) = ears(&voice, 25);
    assert!(l > -20.0 && (l - r).abs() < 0.5, "centre: {l} / {r} dBFS");

    playout.set_placement(media_id, Some(Placement::new(-1.0, 1.0)));
    let (l, r) = ears(&voice, 25);
    assert!(l > -20.0 && r < -90.0, "hard left: {l} / {r} dBFS");

    playout.set_placement(media_id, Some(Placement::new(0.0, 0.0)));
    let (l, r) = ears(&voice, 25);
    assert!(l < -90.0 && r < -90.0, "out of range: {l} / {r} dBFS");

    playout.set_placement(media_id, None);
    let (l, r) = ears(&voice, 25);
    assert!(
        l > -20.0 && (l - r).abs() < 0.5,
        "back in the centre: {l} / {r} dBFS"
    );
    publisher.stop().unwrap();
}
