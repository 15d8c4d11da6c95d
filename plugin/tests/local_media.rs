//! What the app publishes — frames the game pushes, the test pattern, a tone — arrives at a
//! viewer (here a second channel entity of the same app joined as another user).
#![allow(clippy::unwrap_used)]

mod common;

use bevy::prelude::*;
use bevy_livestage::prelude::*;
use common::*;

#[test]
fn custom_frames_pushed_by_the_game_arrive_with_their_colour() {
    let mut app = app();
    let size = UVec2::new(320, 180);
    let streamer = join(&mut app, "cast", "streamer", grants::HOST, Role::Host);
    let viewer = join(&mut app, "cast", "viewer", grants::AUDIENCE, Role::Audience);
    update_until(&mut app, "both joined", |w| {
        w.get::<Connected>(streamer).is_some() && w.get::<Connected>(viewer).is_some()
    });
    app.world_mut().trigger(Publish {
        entity: streamer,
        video: Some(LocalVideo::Custom { size, fps: 30.0 }),
        audio: Some(LocalAudio::Tone(330.0)),
    });
    let orange = [230u8, 120, 30, 255];
    let frame: Vec<u8> = orange
        .iter()
        .copied()
        .cycle()
        .take((size.x * size.y * 4) as usize)
        .collect();
    update_until(&mut app, "the streamer's picture at the viewer", |w| {
        w.trigger(PushFrame {
            entity: streamer,
            size,
            rgba: frame.clone(),
        });
        participant(w, viewer, "streamer")
            .and_then(|p| camera_video(w, p))
            .is_some_and(|v| v.written >= 3)
    });
    let p = participant(app.world_mut(), viewer, "streamer").unwrap();
    let video = camera_video(app.world(), p).unwrap().clone();
    let image = app
        .world()
        .resource::<Assets<Image>>()
        .get(&video.image)
        .unwrap();
    let px = image
        .get_color_at(100, 90)
        .unwrap()
        .to_srgba()
        .to_u8_array();
    for c in 0..3 {
        assert!(
            (i32::from(px[c]) - i32::from(orange[c])).abs() <= 12,
            "{px:?} vs {orange:?}"
        );
    }
    // The preview shows what was pushed.
    let preview = app
        .world()
        .get::<LocalPreview>(streamer)
        .unwrap()
        .image
        .clone();
    let preview = app
        .world()
        .resource::<Assets<Image>>()
        .get(&preview)
        .unwrap();
    assert_eq!(
        preview.get_color_at(5, 5).unwrap().to_srgba().to_u8_array(),
        orange
    );
    // And the tone is heard.
    update_until(&mut app, "voice frames", |w| {
        w.get::<MediaStats>(p).is_some_and(|s| s.audio_frames > 10)
    });
}

#[test]
fn the_test_pattern_publishes_and_previews() {
    let mut app = app();
    let streamer = join(&mut app, "pattern", "streamer", grants::HOST, Role::Host);
    let viewer = join(
        &mut app,
        "pattern",
        "viewer",
        grants::AUDIENCE,
        Role::Audience,
    );
    update_until(&mut app, "both joined", |w| {
        w.get::<Connected>(streamer).is_some() && w.get::<Connected>(viewer).is_some()
    });
    app.world_mut().trigger(Publish {
        entity: streamer,
        video: Some(LocalVideo::TestPattern {
            size: UVec2::new(320, 180),
            fps: 15.0,
        }),
        audio: None,
    });
    update_until(&mut app, "pattern at the viewer", |w| {
        participant(w, viewer, "streamer")
            .and_then(|p| camera_video(w, p))
            .is_some_and(|v| v.written >= 3)
    });
    let p = participant(app.world_mut(), viewer, "streamer").unwrap();
    update_until(&mut app, "stats", |w| {
        w.get::<MediaStats>(p).is_some_and(|s| s.video_fps > 5.0)
    });
    let stats = *app.world().get::<MediaStats>(p).unwrap();
    assert!(stats.video_kbps > 10.0, "{stats:?}");
    assert_ne!(
        *app.world().get::<NetworkQuality>(p).unwrap(),
        NetworkQuality(Quality::Unknown)
    );
    assert!(app.world().get::<LocalPreview>(streamer).is_some());

    app.world_mut().trigger(Unpublish { entity: streamer });
    app.update();
    assert!(app.world().get::<LocalPreview>(streamer).is_none());
}
