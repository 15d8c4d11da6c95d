//! A publisher's test pattern lands in a Bevy `Image` with the pattern's colours, written only
//! when a new picture arrived.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bevy::prelude::*;
use bevy_livestage::prelude::*;
use bevy_livestage::{VideoPaused, track_of};
use common::*;
use livestage_media::video::TestPattern;

/// A viewer app whose camera video of a publishing bot has arrived: the app, the channel, the
/// anchor's participant entity and the bot (kept alive).
fn watching_an_anchor() -> (App, Entity, Entity, Bot) {
    watching_an_anchor_in(app())
}

fn watching_an_anchor_in(mut app: App) -> (App, Entity, Entity, Bot) {
    let stage = join(&mut app, "tv", "viewer", grants::AUDIENCE, Role::Audience);
    update_until(&mut app, "joined", |w| w.get::<Connected>(stage).is_some());
    let _bot = Bot::publishing(
        &server(&app),
        &token(&app, "tv", "anchor", grants::HOST),
        "tv",
    );
    update_until(&mut app, "anchor", |w| {
        participant(w, stage, "anchor").is_some()
    });
    let anchor = participant(app.world_mut(), stage, "anchor").unwrap();
    update_until(&mut app, "video", |w| {
        camera_video(w, anchor).is_some_and(|v| v.written >= 5)
    });
    (app, stage, anchor, _bot)
}

#[test]
fn a_remote_image_receives_the_test_patterns_pixels() {
    let (app, _stage, anchor, _bot) = watching_an_anchor();
    assert_pattern_pixels(&app, anchor);
}

/// The YUV-shader path needs a renderer; without one (here `MinimalPlugins`) the plugin says
/// so in the `VideoUpload` resource and uploads RGBA, so the image still gets the pixels.
#[test]
fn yuv_upload_without_a_renderer_falls_back_to_rgba() {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default()))
        .init_asset::<Image>()
        .add_plugins(
            LivestagePlugin::embedded()
                .without_audio_device()
                .with_video_upload(VideoUpload::YuvShader),
        );
    // What `App::run` does before the first update: the plugin looks for the renderer here.
    app.finish();
    app.cleanup();
    assert_eq!(*app.world().resource::<VideoUpload>(), VideoUpload::Rgba);

    let (app, _stage, anchor, _bot) = watching_an_anchor_in(app);
    assert_pattern_pixels(&app, anchor);
}

/// The anchor's remote image holds the test pattern (a 320x240 RGBA image with CPU data).
fn assert_pattern_pixels(app: &App, anchor: Entity) {
    let video = camera_video(app.world(), anchor).unwrap().clone();
    assert_eq!(video.size, UVec2::new(320, 240));
    let images = app.world().resource::<Assets<Image>>();
    let image = images.get(&video.image).unwrap();
    assert_eq!((image.width(), image.height()), (320, 240));
    // The middle of the pattern always shows its background colour; H.264 and BT.601 round
    // trips move it by a few levels at most.
    let centre = image
        .get_color_at(160, 120)
        .unwrap()
        .to_srgba()
        .to_u8_array();
    let expected = TestPattern::DEFAULT_COLOUR;
    for c in 0..3 {
        let diff = (i32::from(centre[c]) - i32::from(expected[c])).abs();
        assert!(
            diff <= 12,
            "centre {centre:?} vs pattern colour {expected:?}"
        );
    }
    // The stamp band at the top is grey, black and white blocks, not the background.
    let band = image.get_color_at(2, 2).unwrap().to_srgba().to_u8_array();
    assert_ne!(band[..3], centre[..3]);
    assert!(
        video.glass_to_glass_ms() < 1000.0,
        "{} ms",
        video.glass_to_glass_ms()
    );
}

#[test]
fn the_texture_is_written_only_when_a_new_picture_arrived() {
    let mut app = app();
    let stage = join(&mut app, "news", "viewer", grants::AUDIENCE, Role::Audience);
    update_until(&mut app, "joined", |w| w.get::<Connected>(stage).is_some());
    let _bot = Bot::publishing(
        &server(&app),
        &token(&app, "news", "anchor", grants::HOST),
        "news",
    );
    update_until(&mut app, "anchor", |w| {
        participant(w, stage, "anchor").is_some()
    });
    let anchor = participant(app.world_mut(), stage, "anchor").unwrap();
    update_until(&mut app, "video", |w| camera_video(w, anchor).is_some());

    // Many more app updates than pictures: the bot sends 15 per second.
    let before = camera_video(app.world(), anchor).unwrap().written;
    let mut updates = 0;
    let end = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < end {
        app.update();
        updates += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
    let written = camera_video(app.world(), anchor).unwrap().written - before;
    assert!(written >= 15, "{written} pictures in 2 s");
    assert!(written <= 32, "{written} writes for at most ~30 pictures");
    assert!(updates > written * 2, "{updates} updates, {written} writes");
}

/// A track shown only by a hidden entity is paused: the server stops sending it and nothing is
/// decoded; shown again, it resumes from a keyframe.
#[test]
fn a_track_nobody_can_see_is_not_received() {
    let (mut app, stage, anchor, _bot) = watching_an_anchor();
    let track = track_of(app.world(), anchor, TrackSource::CAMERA).unwrap();
    let media_id = app.world().get::<Participant>(anchor).unwrap().media_id;
    let frames = |app: &App| {
        app.world()
            .resource::<Livestage>()
            .received(stage, media_id)
            .unwrap()
            .video_frames
    };

    // A tile the game hid (UI-style: no visibility class, so inherited visibility counts).
    let tile = app
        .world_mut()
        .spawn((InheritedVisibility::HIDDEN, ShowsVideo(track)))
        .id();
    update_until(&mut app, "paused", |w| {
        w.get::<VideoPaused>(track).is_some()
    });
    // What was in flight drains, then nothing more arrives.
    run_for(&mut app, Duration::from_millis(500));
    let paused_at = frames(&app);
    run_for(&mut app, Duration::from_secs(1));
    assert_eq!(frames(&app), paused_at, "a hidden track kept arriving");

    // Shown again: it resumes within a keyframe's round trip.
    app.world_mut()
        .entity_mut(tile)
        .insert(InheritedVisibility::VISIBLE);
    let written = camera_video(app.world(), anchor).unwrap().written;
    update_until(&mut app, "resumed", |w| {
        w.get::<VideoPaused>(track).is_none()
            && camera_video(w, anchor).is_some_and(|v| v.written >= written + 10)
    });

    // A track without displays is always received.
    app.world_mut().despawn(tile);
    run_for(&mut app, Duration::from_millis(300));
    let before = frames(&app);
    run_for(&mut app, Duration::from_millis(700));
    assert!(frames(&app) > before + 5, "an unmarked track stopped");
}
