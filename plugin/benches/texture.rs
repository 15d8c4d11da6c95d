//! Remote video into Bevy textures: CPU per picture from decoded to written into the `Image`
//! (the Upload set), the copy render extraction makes of it, and glass to glass (capture stamp
//! to texture write) inside a Bevy app, at 720p and 1080p.
//!
//! `cargo bench -p bevy_livestage --bench texture`

use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy_livestage::prelude::*;
use bevy_livestage::{UploadTimings, video_image};
use livestage_net::Engine;
use livestage_net::engine::JoinOptions;
use livestage_net::publish::{Publisher, Video, VideoSource};

fn main() {
    println!(
        "| size | upload CPU / picture (mean) | extraction copy / picture | glass to glass p50 / p95 | pictures |"
    );
    println!("|---|---|---|---|---|");
    for (w, h) in [(1280, 720), (1920, 1080)] {
        run(w, h);
    }
}

fn run(width: u32, height: u32) {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default()))
        .init_asset::<Image>()
        .add_plugins(LivestagePlugin::embedded().without_audio_device());
    let channel = format!("bench{width}");
    let livestage = app.world().resource::<Livestage>();
    let server = livestage.server().expect("embedded").clone();
    let viewer_token = livestage
        .token(&channel, "viewer", grants::AUDIENCE, 600)
        .expect("token");
    let host_token = livestage
        .token(&channel, "host", grants::HOST, 600)
        .expect("token");
    let stage = app.world_mut().spawn(Channel::new(channel.clone())).id();
    app.world_mut().trigger(Join::audience(stage, viewer_token));

    let engine = Arc::new(Engine::new().expect("engine"));
    engine.join(JoinOptions::new(
        server.addr,
        &server.cert_pem,
        &channel,
        &host_token,
        Role::Host,
    ));
    let mut video = Video::new(
        VideoSource::TestPattern {
            width,
            height,
            textured: true,
        },
        30.0,
    );
    video.bitrate_bps = Some(if width > 1280 { 4_000_000 } else { 2_000_000 });
    let publisher =
        Publisher::start(engine.clone(), &channel, Some(video), None).expect("publisher");

    // Warm up until pictures flow, then measure for 8 s.
    let mut latencies = Vec::new();
    let mut last = 0;
    let warm = Instant::now() + Duration::from_secs(2);
    let end = warm + Duration::from_secs(8);
    while Instant::now() < end {
        app.update();
        while let Ok(event) = engine.events().try_recv() {
            publisher.handle(&event.kind);
        }
        let world = app.world_mut();
        if Instant::now() < warm {
            *world.resource_mut::<UploadTimings>() = UploadTimings::default();
        } else {
            let mut q = world.query::<&RemoteVideo>();
            for video in q.iter(world) {
                if video.written != last {
                    last = video.written;
                    latencies.push(video.glass_to_glass_ms());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let timings = *app.world().resource::<UploadTimings>();
    // Render extraction clones a main-world image each time it changes.
    let image = video_image(width, height);
    let clones = 50;
    let started = Instant::now();
    for _ in 0..clones {
        std::hint::black_box(image.clone());
    }
    let copy = started.elapsed() / clones;
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "| {width}x{height} | {:.2} ms | {:.2} ms | {:.1} / {:.1} ms | {} |",
        timings.mean().as_secs_f64() * 1000.0,
        copy.as_secs_f64() * 1000.0,
        pct(0.5),
        pct(0.95),
        timings.pictures
    );
    let _ = publisher.stop();
}
