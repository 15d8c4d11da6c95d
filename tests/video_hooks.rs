//! Raw video hooks end to end: a publisher's pre-encode hook inverts colours and the viewer
//! sees the inverted pattern; a remote hook sees every decoded frame number in order; a custom
//! renderer receives the same I420 planes the built-in path holds; a hook that panics is
//! removed and reported while pictures go on.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use livestage::net::playout::{Config, Playout, PlayoutEvent};
use livestage::net::publish::{Publisher, Video, VideoControls, VideoSource};
use livestage::proto::track::CAMERA;
use livestage::proto::wire::Role;
use livestage::server::Config as ServerConfig;
use livestage_media::video::hooks::{self, Format, FrameMut, Picture, Verdict};
use livestage_media::video::{I420, TestPattern, convert};

const W: u32 = 320;
const H: u32 = 180;

fn playout(viewer: &Arc<livestage::net::Engine>) -> Playout {
    Playout::start(
        viewer.clone(),
        Config {
            device: false,
            ..Config::default()
        },
    )
    .unwrap()
}

/// Mean absolute difference per RGB channel between two pictures.
fn mean_rgb_difference(a: &I420, b: &I420) -> f64 {
    let (a, b) = (convert::i420_to_rgba(a), convert::i420_to_rgba(b));
    let sum: u64 = a
        .data()
        .chunks_exact(4)
        .zip(b.data().chunks_exact(4))
        .map(|(p, q)| (0..3).map(|c| u64::from(p[c].abs_diff(q[c]))).sum::<u64>())
        .sum();
    sum as f64 / (f64::from(W * H) * 3.0)
}

#[test]
fn a_pre_encode_hook_inverts_what_viewers_see_and_remote_hooks_see_every_frame() {
    let server = server(ServerConfig::default());
    let host = Arc::new(join(&server, server.addr, "host", HOST, Role::Host));
    let (viewer, host_id) = join_watching(&server, "viewer", "join", Role::Audience, "host");
    let viewer = Arc::new(viewer);
    let playout = playout(&viewer);

    // The viewer's remote hook records frame numbers; its renderer keeps the last planes.
    let seen = Arc::new(Mutex::new(Vec::<u64>::new()));
    let rendered = Arc::new(Mutex::new(None::<(u64, I420)>));
    let log = seen.clone();
    playout.set_video_hook(
        Some((CHANNEL, host_id, CAMERA)),
        Some(Box::new(hooks::hook_fn(Format::I420, move |_, info| {
            log.lock().unwrap().push(info.frame);
            Verdict::Keep
        }))),
    );
    let last = rendered.clone();
    playout.set_renderer(
        None,
        Some(Box::new(hooks::renderer_fn(
            Format::I420,
            move |picture, info| {
                let Picture::I420(planes) = picture else {
                    panic!("asked for I420");
                };
                *last.lock().unwrap() = Some((info.frame, planes.clone()));
            },
        ))),
    );

    // The publisher inverts every picture before it is encoded.
    let controls = VideoControls::default();
    controls.set_hook(Some(Box::new(hooks::hook_fn(Format::Rgba, |frame, _| {
        if let FrameMut::Rgba(rgba) = frame {
            for px in rgba.data_mut().chunks_exact_mut(4) {
                px[..3].iter_mut().for_each(|c| *c = 255 - *c);
            }
        }
        Verdict::Keep
    }))));
    let video = Video {
        controls,
        ..Video::new(
            VideoSource::TestPattern {
                width: W,
                height: H,
                textured: false,
            },
            30.0,
        )
    };
    let publisher = Publisher::start(host.clone(), CHANNEL, Some(video), None).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.lock().unwrap().len() < 45 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    publisher.stop().unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let frame = playout
        .latest_video(CHANNEL, host_id, CAMERA)
        .expect("the viewer decoded frames");
    let pattern = TestPattern::new(W, H).unwrap();
    let sent = pattern.frame(frame.frame, frame.capture_us);
    let mut inverted = convert::i420_to_rgba(&sent);
    for px in inverted.data_mut().chunks_exact_mut(4) {
        px[..3].iter_mut().for_each(|c| *c = 255 - *c);
    }
    let inverted = convert::rgba_to_i420(&inverted);
    let to_inverted = mean_rgb_difference(&frame.picture, &inverted);
    let to_plain = mean_rgb_difference(&frame.picture, &sent);
    assert!(
        to_inverted < 12.0 && to_plain > 60.0,
        "the viewer sees the inverted pattern: {to_inverted:.1} from inverted, {to_plain:.1} from plain"
    );

    let seen = seen.lock().unwrap().clone();
    let decoded = playout
        .stats(CHANNEL, host_id, CAMERA)
        .unwrap()
        .video_frames;
    assert!(
        seen.len() >= 45,
        "the remote hook saw {} frames",
        seen.len()
    );
    assert_eq!(
        seen.len() as u64,
        decoded,
        "the hook saw every decoded frame"
    );
    assert!(
        seen.windows(2).all(|w| w[1] == w[0] + 1),
        "in order with no gaps: {seen:?}"
    );

    let (number, planes) = rendered.lock().unwrap().clone().expect("the renderer ran");
    assert_eq!(
        number, frame.frame,
        "the renderer got the newest picture too"
    );
    assert_eq!(
        &planes, &*frame.picture,
        "the renderer's planes are the built-in picture's"
    );
}

#[test]
fn a_remote_hook_that_panics_is_removed_and_pictures_go_on() {
    let server = server(ServerConfig::default());
    let host = Arc::new(join(&server, server.addr, "host", HOST, Role::Host));
    let (viewer, host_id) = join_watching(&server, "viewer", "join", Role::Audience, "host");
    let viewer = Arc::new(viewer);
    let playout = playout(&viewer);
    playout.set_video_hook(
        None,
        Some(Box::new(hooks::hook_fn(Format::I420, |_, info| {
            assert!(info.frame < 5, "the filter broke on frame {}", info.frame);
            Verdict::Keep
        }))),
    );
    let video = Video::new(
        VideoSource::TestPattern {
            width: W,
            height: H,
            textured: false,
        },
        30.0,
    );
    let publisher = Publisher::start(host.clone(), CHANNEL, Some(video), None).unwrap();
    let removed = playout
        .events()
        .recv_timeout(Duration::from_secs(10))
        .expect("the failure is reported");
    let PlayoutEvent::VideoHookRemoved {
        target,
        renderer,
        reason,
    } = removed
    else {
        panic!("expected VideoHookRemoved, got {removed:?}");
    };
    assert_eq!((target, renderer), (None, false));
    assert!(reason.to_string().contains("broke on frame 5"), "{reason}");
    let before = playout
        .stats(CHANNEL, host_id, CAMERA)
        .unwrap()
        .video_frames;
    std::thread::sleep(Duration::from_millis(700));
    let after = playout
        .stats(CHANNEL, host_id, CAMERA)
        .unwrap()
        .video_frames;
    assert!(after >= before + 10, "pictures go on: {before} -> {after}");
    publisher.stop().unwrap();
}
