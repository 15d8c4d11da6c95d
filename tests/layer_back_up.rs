//! A custom source (frames the app pushes) publishes a low layer scaled from its own pictures;
//! a viewer behind a narrow path is moved down to it by the server, and after the bottleneck is
//! lifted in the impairment proxy the server tries the high layer again and the viewer stays
//! there. Prints how long moving back up took (BENCHMARKS.md, "Tracks and screen sharing").
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use livestage::net::engine::EventKind;
use livestage::net::playout::{Config, Playout};
use livestage::net::proxy::{self, Impairment, Proxy};
use livestage::net::publish::{Publisher, Video, VideoSource};
use livestage::net::{Engine, JoinOptions};
use livestage::proto::media::Layer;
use livestage::proto::track;
use livestage::proto::wire::Role;
use livestage::server::Config as ServerConfig;
use livestage_media::video::{CustomSource, I420, TestPattern};

/// Polls `f` every 50 ms for up to `limit`.
fn poll(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn a_custom_source_viewer_moves_down_on_a_narrow_path_and_back_up_when_it_widens() {
    let server = server(ServerConfig::default());
    // ~2.5 Mbps high layer, ~0.7 Mbps low layer; the viewer's downlink carries 1.2 Mbps.
    let narrow = Impairment {
        rate_bps: Some(1_200_000),
        queue: Duration::from_millis(150),
        ..Default::default()
    };
    let proxy = Proxy::spawn(proxy::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        upstream: server.addr,
        seed: 7,
        up: Impairment::default(),
        down: narrow,
    })
    .unwrap();
    let host = Arc::new(join(&server, server.addr, "host", HOST, Role::Host));
    let (viewer, host_id) = join_through(&server, proxy.local_addr());
    let viewer = Arc::new(viewer);
    let playout = Playout::start(
        viewer.clone(),
        Config {
            device: false,
            ..Config::default()
        },
    )
    .unwrap();

    // The app pushes textured 1280x720 frames at 30 fps; the publisher scales the low layer.
    let (source, sender) = CustomSource::new(1280, 720).unwrap();
    let video = Video {
        dual: true,
        bitrate_bps: Some(2_500_000),
        ..Video::new(VideoSource::Custom(source), 30.0)
    };
    let publisher = Publisher::start(host.clone(), CHANNEL, Some(video), None).unwrap();
    assert!(publisher.tracks()[0].low_layer);
    let stop = Arc::new(AtomicBool::new(false));
    let pusher = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let pattern = TestPattern::new(1280, 720).unwrap().with_texture(true);
            let mut frame = I420::new(1280, 720).unwrap();
            for n in 0u64.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let now = livestage::net::engine::now_us();
                pattern.frame_into(n, now, &mut frame).unwrap();
                let _ = sender.push_i420(frame.clone(), now);
                std::thread::sleep(Duration::from_millis(33));
            }
        })
    };
    let layer = |playout: &Playout| {
        playout
            .latest_video(CHANNEL, host_id, track::CAMERA)
            .filter(|f| livestage::net::engine::now_us().saturating_sub(f.decoded_us) < 500_000)
            .map(|f| (f.layer, f.picture.size()))
    };
    let pump = || {
        for e in host.events().try_iter() {
            publisher.handle(&e.kind);
        }
    };

    let down = poll(Duration::from_secs(30), || {
        pump();
        layer(&playout).is_some_and(|(l, _)| l == Layer::Low)
    });
    let Some(down) = down else {
        panic!(
            "never moved to the low layer; showing {:?}",
            layer(&playout)
        );
    };
    let (_, size) = layer(&playout).unwrap();
    assert_eq!(size, (640, 360), "the low layer is a quarter of the area");
    eprintln!("moved down after {down:?} on a 1.2 Mbps path");

    // Lift the bottleneck: the server tries the high layer again and it holds.
    proxy
        .handle()
        .set_impairment(Impairment::default(), Impairment::default());
    let up = poll(Duration::from_secs(40), || {
        pump();
        layer(&playout).is_some_and(|(l, _)| l == Layer::High)
    });
    let Some(up) = up else {
        panic!("never moved back up; showing {:?}", layer(&playout));
    };
    eprintln!("back on the high layer {up:?} after the bottleneck lifted");
    // It stays up (the try held).
    std::thread::sleep(Duration::from_secs(5));
    pump();
    assert_eq!(layer(&playout).map(|(l, _)| l), Some(Layer::High));
    stop.store(true, Ordering::Relaxed);
    pusher.join().unwrap();
}

/// Joins the viewer through `via` and returns it with the host's media id from its welcome.
fn join_through(server: &livestage::server::Embedded, via: std::net::SocketAddr) -> (Engine, u64) {
    let engine = Engine::new().unwrap();
    let token = server.token(CHANNEL, "viewer", "join", 3600).unwrap();
    let cert = server.cert_pem.as_bytes();
    engine.join(JoinOptions::new(via, cert, CHANNEL, &token, Role::Audience));
    let seen = wait(&engine, Duration::from_secs(10), |k| {
        matches!(k, EventKind::Joined { .. })
    })
    .expect("the viewer joins through the proxy");
    let host_id = seen
        .iter()
        .find_map(|k| match k {
            EventKind::Joined { peers, .. } => peers.iter().find(|p| p.user == "host"),
            _ => None,
        })
        .map(|p| p.media_id)
        .expect("the viewer sees the host");
    (engine, host_id)
}
