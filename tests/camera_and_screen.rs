//! One host publishes its camera (the test pattern) and a screen share at once, over a real
//! server and a private X server: a viewer decodes both tracks; a moderator stops only the
//! screen and the camera keeps flowing; the share follows its window when it moves; closing
//! the window ends the share with an event (and the viewers see the track go), not a frozen
//! picture.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../media/tests/xserver/mod.rs"]
mod xserver;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use livestage::net::engine::EventKind;
use livestage::net::playout::{Config, Playout};
use livestage::net::publish::{Publisher, Video, VideoSource};
use livestage::proto::ErrorCode;
use livestage::proto::client::RosterChange;
use livestage::proto::track::{self, Track};
use livestage::proto::wire::{Action, Role};
use livestage::server::Config as ServerConfig;
use livestage_media::video::convert;
use livestage_media::video::screen::{self as capture, ScreenSource, Target};
use xserver::{QUADRANTS, TestWindow};

/// Polls `f` every 20 ms for up to `limit`.
fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_camera_keeps_flowing_when_a_moderator_stops_the_screen_and_a_closed_window_ends_the_share() {
    let x = xserver::Server::start(1024, 640, true);
    let window = TestWindow::open(&x, "Map", (100, 100), (320, 240));
    let server = server(ServerConfig::default());
    let host = Arc::new(join(&server, server.addr, "host", HOST, Role::Host));
    let m = join(
        &server,
        server.addr,
        "m",
        &format!("{HOST},moderator"),
        Role::Host,
    );
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

    let camera = Video::new(
        VideoSource::TestPattern {
            width: 320,
            height: 180,
            textured: false,
        },
        15.0,
    );
    let cam = Publisher::start(host.clone(), CHANNEL, Some(camera), None).unwrap();
    let options = capture::Options {
        fps: 15.0,
        server: Some(x.name.clone()),
        ..capture::Options::default()
    };
    let share = ScreenSource::new(Target::Window(window.id), options).unwrap();
    let screen = Video {
        dual: true,
        ..Video::new(VideoSource::Screen(share), 15.0)
    }
    .as_track(Track::screen());
    let scr = Publisher::start(host.clone(), CHANNEL, Some(screen), None).unwrap();
    let pump = |host: &Arc<livestage::net::Engine>| {
        for e in host.events().try_iter() {
            cam.handle(&e.kind);
            scr.handle(&e.kind);
        }
    };

    // Both tracks reach the viewer; the screen shows the window's quadrants.
    let frames = |t| {
        playout
            .stats(CHANNEL, host_id, t)
            .map_or(0, |s| s.video_frames)
    };
    let both = poll(Duration::from_secs(10), || {
        pump(&host);
        (frames(track::CAMERA) >= 10 && frames(track::SCREEN) >= 5).then_some(())
    });
    assert!(
        both.is_some(),
        "camera {} screen {}",
        frames(track::CAMERA),
        frames(track::SCREEN)
    );
    let quadrants_shown = |playout: &Playout| {
        let Some(f) = playout.latest_video(CHANNEL, host_id, track::SCREEN) else {
            return false;
        };
        let rgba = convert::i420_to_rgba(&f.picture);
        let (w, h) = rgba.size();
        [
            (w / 4, h / 4),
            (3 * w / 4, h / 4),
            (w / 4, 3 * h / 4),
            (3 * w / 4, 3 * h / 4),
        ]
        .into_iter()
        .zip(QUADRANTS)
        .all(|((px, py), want)| {
            let got = rgba.pixel(px, py).unwrap();
            got.iter().zip(want).all(|(a, b)| a.abs_diff(b) <= 24)
        })
    };
    assert!(quadrants_shown(&playout));

    // Moving the window keeps it in the share.
    window.move_to(500, 300);
    let since = frames(track::SCREEN);
    let moved = poll(Duration::from_secs(5), || {
        pump(&host);
        (frames(track::SCREEN) >= since + 10 && quadrants_shown(&playout)).then_some(())
    });
    assert!(moved.is_some(), "the moved window is still shared");

    // A moderator stops the screen share only: everyone is told, the camera keeps flowing.
    m.moderate(
        CHANNEL,
        Action::MuteTrack {
            user: "host".into(),
            track: track::SCREEN,
            muted: true,
        },
    );
    let told = wait(&viewer, Duration::from_secs(5), |k| {
        matches!(k, EventKind::Roster(RosterChange::Upsert(p))
            if p.user == "host" && p.track(track::SCREEN).is_some_and(|t| t.muted))
    });
    assert!(told.is_ok(), "{told:?}");
    std::thread::sleep(Duration::from_millis(300));
    let (cam_then, screen_then) = (frames(track::CAMERA), frames(track::SCREEN));
    for _ in 0..50 {
        pump(&host);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(frames(track::CAMERA) >= cam_then + 8, "the camera flows");
    assert_eq!(
        frames(track::SCREEN),
        screen_then,
        "the muted screen does not"
    );

    // Closing the window ends the share: the host is told why, viewers see the track go.
    window.destroy();
    let ended = wait(
        &host,
        Duration::from_secs(5),
        |k| matches!(k, EventKind::TrackEnded { track: track::SCREEN, error } if error.code == ErrorCode::SourceEnded),
    );
    assert!(ended.is_ok(), "{ended:?}");
    let gone = wait(&viewer, Duration::from_secs(5), |k| {
        matches!(k, EventKind::Roster(RosterChange::Upsert(p))
            if p.user == "host" && p.track(track::SCREEN).is_none() && p.track(track::CAMERA).is_some())
    });
    assert!(gone.is_ok(), "{gone:?}");
    drop((cam, scr));
}
