//! Webcams, pictures and video files as `LocalVideo` sources, and `Beauty` on the channel: a
//! PNG the test writes reaches a viewer's texture, lightening raises the luma the viewer sees
//! and removing it brings it back, a video file made by ffmpeg plays through, and a source
//! that cannot be opened (or a beauty strength out of range) is a `LivestageError` with the
//! right code, never a panic.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bevy::prelude::*;
use bevy_livestage::prelude::*;
use common::*;

/// Skin (BT.601 Y 150, Cb 110, Cr 150), where beauty acts, with a little noise.
const SKIN: [u8; 3] = [191, 145, 120];

/// A 320x240 skin-toned PNG at `path`.
fn write_skin_png(path: &Path) {
    let (width, height) = (320u32, 240u32);
    let data: Vec<u8> = (0..width * height)
        .flat_map(|i| SKIN.map(|c| c + (i * 7919 % 5) as u8))
        .collect();
    let file = std::fs::File::create(path).unwrap();
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&data).unwrap();
    writer.finish().unwrap();
}

/// A 2 s 320x240 H.264 baseline MP4 at 30 fps (no B-frames, so it can be forwarded).
fn video_file() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin_video_sources");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("clip.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi"])
        .args(["-i", "testsrc=size=320x240:rate=30", "-t", "2"])
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .args(["-profile:v", "baseline", "-g", "15", "-bf", "0"])
        .arg(&path)
        .status()
        .expect("ffmpeg (./dev setup installs it; CI has it)");
    assert!(status.success(), "ffmpeg made no clip.mp4");
    path
}

/// A streamer (host) and a viewer (audience) of one channel in one app, both joined.
fn stage(app: &mut App, channel: &str) -> (Entity, Entity) {
    let streamer = join(app, channel, "streamer", grants::HOST, Role::Host);
    let viewer = join(app, channel, "viewer", grants::AUDIENCE, Role::Audience);
    update_until(app, "both joined", |w| {
        w.get::<Connected>(streamer).is_some() && w.get::<Connected>(viewer).is_some()
    });
    (streamer, viewer)
}

/// The streamer's camera video as the viewer sees it, once a picture arrived.
fn seen_video(w: &mut World, viewer: Entity) -> Option<RemoteVideo> {
    let p = participant(w, viewer, "streamer")?;
    camera_video(w, p).cloned()
}

/// The size and mean luma (0.299 R + 0.587 G + 0.114 B) of a texture.
fn size_and_luma(w: &World, image: &Handle<Image>) -> (UVec2, f64) {
    let image = w.resource::<Assets<Image>>().get(image).unwrap();
    let rgba = image.data.as_ref().unwrap();
    let sum: f64 = rgba
        .chunks_exact(4)
        .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
        .sum();
    (image.size(), sum / (rgba.len() / 4) as f64)
}

/// Steps until the viewer has `more` pictures beyond the `written` count of now, and gives the
/// mean luma of the newest.
fn luma_after(app: &mut App, viewer: Entity, more: u64) -> f64 {
    let written = seen_video(app.world_mut(), viewer).map_or(0, |v| v.written);
    update_until(app, "more pictures", |w| {
        seen_video(w, viewer).is_some_and(|v| v.written >= written + more)
    });
    let video = seen_video(app.world_mut(), viewer).unwrap();
    size_and_luma(app.world(), &video.image).1
}

#[test]
fn a_picture_reaches_the_viewer_and_beauty_lightens_it_live() {
    let mut app = app();
    collect::<LivestageError>(&mut app);
    let (streamer, viewer) = stage(&mut app, "brb");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("brb.png");
    write_skin_png(&path);
    app.world_mut().trigger(Publish {
        entity: streamer,
        video: Some(LocalVideo::Image {
            path: path.clone(),
            fps: 10.0,
        }),
        audio: None,
    });
    update_until(&mut app, "the viewer sees the picture", |w| {
        seen_video(w, viewer).is_some_and(|v| v.written >= 3)
    });
    let video = seen_video(app.world_mut(), viewer).unwrap();
    let (size, _) = size_and_luma(app.world(), &video.image);
    assert_eq!(size, UVec2::new(320, 240));
    let preview = app.world().get::<LocalPreview>(streamer).unwrap().clone();
    assert_eq!(preview.source, LocalVideo::Image { path, fps: 10.0 });
    let (preview_size, preview_luma) = size_and_luma(app.world(), &preview.image);
    assert_eq!(
        preview_size,
        UVec2::new(320, 240),
        "the preview is the picture"
    );
    let plain = luma_after(&mut app, viewer, 3);
    assert!(
        (plain - preview_luma).abs() < 4.0,
        "the viewer sees the picture as sent: preview {preview_luma:.1}, seen {plain:.1}"
    );

    app.world_mut()
        .entity_mut(streamer)
        .insert(Beauty(beauty::Options {
            lightening: 1.0,
            ..default()
        }));
    let mut lit = plain;
    update_until(&mut app, "lightened pictures", |w| {
        if let Some(video) = seen_video(w, viewer) {
            lit = size_and_luma(w, &video.image).1;
        }
        lit > plain + 8.0
    });

    // Out of range: refused, and the pictures stay lightened.
    app.world_mut()
        .get_mut::<Beauty>(streamer)
        .unwrap()
        .0
        .lightening = 2.0;
    update_until(&mut app, "the refusal", |w| {
        !seen::<LivestageError>(w).is_empty()
    });
    let refused = seen::<LivestageError>(app.world())[0].clone();
    assert_eq!(refused.entity, streamer);
    assert_eq!(refused.error.code, ErrorCode::InvalidInput);
    assert!(
        refused.error.message.contains("lightening"),
        "{}",
        refused.error.message
    );
    let still_lit = luma_after(&mut app, viewer, 5);
    assert!(
        still_lit > plain + 8.0,
        "a refused value leaves beauty as it was: plain {plain:.1}, seen {still_lit:.1}"
    );

    // Removed: the viewer soon sees the picture as sent again.
    app.world_mut().entity_mut(streamer).remove::<Beauty>();
    let mut seen_luma = lit;
    update_until(&mut app, "plain pictures again", |w| {
        if let Some(video) = seen_video(w, viewer) {
            seen_luma = size_and_luma(w, &video.image).1;
        }
        (seen_luma - plain).abs() < 3.0
    });
    assert_eq!(seen::<LivestageError>(app.world()).len(), 1);
}

#[test]
fn a_video_file_plays_through_to_the_viewer() {
    let path = video_file();
    let mut app = app();
    collect::<LivestageError>(&mut app);
    let (streamer, viewer) = stage(&mut app, "clip");
    app.world_mut().trigger(Publish {
        entity: streamer,
        video: Some(LocalVideo::File {
            path,
            looped: true,
            mode: file::Mode::Auto,
        }),
        audio: Some(LocalAudio::Tone(440.0)),
    });
    update_until(&mut app, "the viewer sees the file", |w| {
        seen_video(w, viewer).is_some_and(|v| v.written >= 30)
    });
    let video = seen_video(app.world_mut(), viewer).unwrap();
    assert_eq!(
        size_and_luma(app.world(), &video.image).0,
        UVec2::new(320, 240)
    );
    assert!(seen::<LivestageError>(app.world()).is_empty());
    assert!(app.world().get::<OpeningVideo>(streamer).is_none());
}

#[test]
fn sources_that_cannot_open_are_errors_with_their_code() {
    let mut app = app();
    collect::<LivestageError>(&mut app);
    let streamer = join(&mut app, "broken", "streamer", grants::HOST, Role::Host);
    update_until(&mut app, "joined", |w| {
        w.get::<Connected>(streamer).is_some()
    });
    let expect = |app: &mut App, video: LocalVideo| -> bevy_livestage::Error {
        let before = seen::<LivestageError>(app.world()).len();
        app.world_mut().trigger(Publish {
            entity: streamer,
            video: Some(video),
            audio: Some(LocalAudio::Tone(440.0)),
        });
        update_until(app, "the error", |w| {
            seen::<LivestageError>(w).len() > before
        });
        let error = seen::<LivestageError>(app.world())[before].clone();
        assert_eq!(error.entity, streamer);
        assert!(app.world().get::<OpeningVideo>(streamer).is_none());
        assert!(app.world().get::<LocalPreview>(streamer).is_none());
        error.error
    };

    let missing = expect(
        &mut app,
        LocalVideo::Image {
            path: "/nonexistent/brb.png".into(),
            fps: 5.0,
        },
    );
    assert_eq!(missing.code, ErrorCode::InvalidInput);
    assert!(
        missing.message.contains("/nonexistent/brb.png"),
        "{missing}"
    );

    let missing = expect(
        &mut app,
        LocalVideo::File {
            path: "/nonexistent/clip.mp4".into(),
            looped: false,
            mode: file::Mode::Auto,
        },
    );
    assert_eq!(missing.code, ErrorCode::InvalidInput);
    assert!(
        missing.message.contains("/nonexistent/clip.mp4"),
        "{missing}"
    );

    let webcam = expect(
        &mut app,
        LocalVideo::Webcam {
            device: Some(9999),
            size: UVec2::new(1280, 720),
            fps: 30.0,
        },
    );
    if bevy_livestage::webcam::devices().is_err() {
        // No camera here (CI): there is none to use at all.
        assert_eq!(webcam.code, ErrorCode::CameraUnavailable, "{webcam}");
        assert_eq!(webcam.code.as_str(), "camera_unavailable");
    } else {
        // Cameras exist, but not one with index 9999.
        assert_eq!(webcam.code, ErrorCode::InvalidInput, "{webcam}");
    }

    // The channel still publishes after all that.
    app.world_mut().trigger(Publish {
        entity: streamer,
        video: Some(LocalVideo::TestPattern {
            size: UVec2::new(320, 240),
            fps: 15.0,
        }),
        audio: None,
    });
    run_for(&mut app, Duration::from_millis(200));
    assert!(app.world().get::<LocalPreview>(streamer).is_some());
    let errors = seen::<LivestageError>(app.world()).len();
    assert_eq!(errors, 3, "{:?}", seen::<LivestageError>(app.world()));
}
