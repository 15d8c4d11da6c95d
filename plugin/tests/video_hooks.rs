//! Raw video hooks as components: a `LocalVideoHook` on the streamer's channel inverts what it
//! sends, a `RemoteVideoHook` and a `VideoRenderer` on the viewer's track entity see every
//! picture, removing them stops the calls, and a hook that panics is reported with
//! `VideoHookRemoved` while the stream goes on.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bevy::prelude::*;
use bevy_livestage::prelude::*;
use bevy_livestage::track_of;
use bevy_livestage::video_hooks::{Format, FrameMut, Picture, Verdict, hook_fn, renderer_fn};
use common::*;

const ORANGE: [u8; 4] = [230, 120, 30, 255];

fn orange_frame(size: UVec2) -> Vec<u8> {
    ORANGE
        .iter()
        .copied()
        .cycle()
        .take((size.x * size.y * 4) as usize)
        .collect()
}

#[test]
fn hooks_and_renderers_as_components() {
    let mut app = app();
    collect::<VideoHookRemoved>(&mut app);
    let size = UVec2::new(320, 180);
    let streamer = join(&mut app, "cast", "streamer", grants::HOST, Role::Host);
    let viewer = join(&mut app, "cast", "viewer", grants::AUDIENCE, Role::Audience);
    update_until(&mut app, "both joined", |w| {
        w.get::<Connected>(streamer).is_some() && w.get::<Connected>(viewer).is_some()
    });
    // Installed before publishing: it applies once the publisher starts.
    app.world_mut()
        .entity_mut(streamer)
        .insert(LocalVideoHook::new(hook_fn(Format::Rgba, |frame, _| {
            if let FrameMut::Rgba(rgba) = frame {
                for px in rgba.data_mut().chunks_exact_mut(4) {
                    px[..3].iter_mut().for_each(|c| *c = 255 - *c);
                }
            }
            Verdict::Keep
        })));
    app.world_mut().trigger(Publish {
        entity: streamer,
        video: Some(LocalVideo::Custom { size, fps: 30.0 }),
        audio: None,
    });
    update_until(&mut app, "the viewer sees the streamer's track", |w| {
        push_in(w, streamer, size);
        participant(w, viewer, "streamer")
            .and_then(|p| track_of(w, p, TrackSource::CAMERA))
            .is_some()
    });
    let p = participant(app.world_mut(), viewer, "streamer").unwrap();
    let track = track_of(app.world(), p, TrackSource::CAMERA).unwrap();
    let (hooked, rendered) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (h, r) = (hooked.clone(), rendered.clone());
    app.world_mut().entity_mut(track).insert((
        RemoteVideoHook::new(hook_fn(Format::I420, move |_, _| {
            h.fetch_add(1, Ordering::Relaxed);
            Verdict::Keep
        })),
        VideoRenderer::new(renderer_fn(Format::Rgba, move |picture, _| {
            assert!(matches!(picture, Picture::Rgba(_)));
            r.fetch_add(1, Ordering::Relaxed);
        })),
    ));
    update_until(&mut app, "hooked pictures in the texture", |w| {
        push_in(w, streamer, size);
        camera_video(w, p).is_some_and(|v| v.written >= 5) && rendered.load(Ordering::Relaxed) >= 5
    });
    let video = camera_video(app.world(), p).unwrap().clone();
    let px = app
        .world()
        .resource::<Assets<Image>>()
        .get(&video.image)
        .unwrap()
        .get_color_at(100, 90)
        .unwrap()
        .to_srgba()
        .to_u8_array();
    for c in 0..3 {
        let inverted = 255 - i32::from(ORANGE[c]);
        assert!(
            (i32::from(px[c]) - inverted).abs() <= 14,
            "the viewer sees the inverted orange: {px:?}"
        );
    }
    assert!(hooked.load(Ordering::Relaxed) >= rendered.load(Ordering::Relaxed));

    // Removed: no more calls.
    app.world_mut()
        .entity_mut(track)
        .remove::<(RemoteVideoHook, VideoRenderer)>();
    run_for(&mut app, Duration::from_millis(100));
    let (h0, r0) = (
        hooked.load(Ordering::Relaxed),
        rendered.load(Ordering::Relaxed),
    );
    let written = camera_video(app.world(), p).unwrap().written;
    update_until(&mut app, "pictures go on", |w| {
        push_in(w, streamer, size);
        camera_video(w, p).is_some_and(|v| v.written >= written + 5)
    });
    assert_eq!(hooked.load(Ordering::Relaxed), h0, "the hook is not called");
    assert_eq!(
        rendered.load(Ordering::Relaxed),
        r0,
        "the renderer is not called"
    );

    // A local hook that panics is reported, on the channel entity, and the stream goes on.
    app.world_mut()
        .entity_mut(streamer)
        .insert(LocalVideoHook::new(hook_fn(Format::I420, |_, _| {
            panic!("watermark asset missing")
        })));
    update_until(&mut app, "the failure reported", |w| {
        push_in(w, streamer, size);
        !seen::<VideoHookRemoved>(w).is_empty()
    });
    let removed = seen::<VideoHookRemoved>(app.world())[0].clone();
    assert_eq!(removed.entity, Some(streamer));
    assert!(
        removed
            .reason
            .to_string()
            .contains("watermark asset missing")
    );
    let written = camera_video(app.world(), p).unwrap().written;
    update_until(&mut app, "pictures after the failure", |w| {
        push_in(w, streamer, size);
        camera_video(w, p).is_some_and(|v| v.written >= written + 5)
    });
}

fn push_in(w: &mut World, streamer: Entity, size: UVec2) {
    w.trigger(PushFrame {
        entity: streamer,
        size,
        rgba: orange_frame(size),
    });
}
