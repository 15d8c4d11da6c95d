//! A host unpublishes and publishes again (the party game does this between rounds): the new
//! publication's frame and audio counters start at 0 again, and the viewer recognises it as a
//! new stream rather than as frames older than the ones it already showed.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use livestage::net::Engine;
use livestage::net::engine::now_us;
use livestage::net::playout::{Config, Playout, VideoFrame};
use livestage::net::publish::{AudioSource, Publisher, Video, VideoSource};
use livestage::proto::wire::Role;
use livestage::server::Config as ServerConfig;
use livestage_media::video::read_stamp;

/// Publishes the stamped test pattern (320x180, 30 fps) and a tone.
fn publish(host: &Arc<Engine>) -> Publisher {
    let pattern = VideoSource::TestPattern {
        width: 320,
        height: 180,
        textured: false,
    };
    let video = Video::new(pattern, 30.0);
    Publisher::start(
        host.clone(),
        CHANNEL,
        Some(video),
        Some(AudioSource::Tone(440.0)),
    )
    .unwrap()
}

/// Polls `probe` every 5 ms until it gives something or `limit` passes.
fn poll<T>(limit: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    loop {
        if let Some(found) = probe() {
            return Some(found);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The viewer's newest picture of `media_id`, if `accept` takes it.
fn picture(
    playout: &Playout,
    media_id: u64,
    accept: impl Fn(&VideoFrame) -> bool,
) -> Option<Arc<VideoFrame>> {
    playout
        .latest_video(CHANNEL, media_id, livestage::proto::track::CAMERA)
        .filter(|f| accept(f))
}

#[test]
fn publish_unpublish_publish_again_and_the_viewer_decodes_the_second_stream() {
    let server = server(ServerConfig::default());
    let host = Arc::new(join(&server, server.addr, "host", HOST, Role::Host));
    let (viewer, host_id) = join_watching(&server, "viewer", "join", Role::Audience, "host");
    let playout = Playout::start(
        Arc::new(viewer),
        Config {
            device: false,
            ..Config::default()
        },
    )
    .unwrap();

    // The first publication runs for over a second, so the viewer has seen frame 30 and on.
    let first = publish(&host);
    let first_stream = first.stream();
    let seen = poll(Duration::from_secs(5), || {
        picture(&playout, host_id, |f| f.frame >= 30)
    })
    .expect("the viewer decodes the first publication");
    assert_eq!(seen.stream, first_stream);
    let stamp = read_stamp(&seen.picture).expect("the stamp reads back");
    assert_eq!(stamp.capture_us, seen.capture_us);
    first.stop().unwrap();
    std::thread::sleep(Duration::from_millis(300));

    // Publish again: a new stream, whose frame and audio counters restart at 0.
    let (started, since_us) = (Instant::now(), now_us());
    let second = publish(&host);
    assert_ne!(
        second.stream(),
        first_stream,
        "each publication is a new stream"
    );
    let fresh = poll(Duration::from_secs(3), || {
        picture(&playout, host_id, |f| f.capture_us >= since_us)
    });
    let took = started.elapsed();
    let fresh = fresh.expect("the viewer decodes the second publication");
    assert!(
        took < Duration::from_millis(500),
        "the second publication showed after {took:?}"
    );
    assert_eq!(fresh.stream, second.stream());
    let stamp = read_stamp(&fresh.picture).expect("the stamp reads back");
    assert_eq!(stamp.capture_us, fresh.capture_us, "a real decoded picture");

    // Its voice plays too, and the counters are those of the new stream.
    let heard = poll(Duration::from_secs(3), || {
        playout
            .stats(CHANNEL, host_id, livestage::proto::track::MICROPHONE)
            .filter(|s| s.audio_stream == Some(second.stream()) && s.audio_played > 0)
    });
    let took = started.elapsed();
    heard.expect("the viewer plays the second publication's voice");
    assert!(
        took < Duration::from_millis(500),
        "the second publication was heard after {took:?}"
    );
    // The video counters are the camera track's, also of the new stream.
    let stats = playout
        .stats(CHANNEL, host_id, livestage::proto::track::CAMERA)
        .unwrap();
    assert_eq!(stats.video_stream, Some(second.stream()), "{stats:?}");
    let sent = second.video_frames.load(Ordering::Relaxed);
    assert!(
        stats.video_frames <= sent,
        "video counted from the new stream ({sent} sent): {stats:?}"
    );
    assert_eq!(stats.video_errors, 0, "{stats:?}");
    second.stop().unwrap();
}
