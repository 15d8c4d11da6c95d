//! Local media: what this client publishes in a channel, and its preview texture.
//! [`Publish`] starts a publisher on the channel's engine link from one of the sources below
//! (the camera track and the voice, or with [`LocalVideo::Screen`] a screen share as its own
//! track beside them);
//! [`LivestageSystems::Capture`](crate::LivestageSystems) feeds the preview and pushes game
//! frames; a camera's render target is read back from the GPU and pushed as custom frames.

use std::time::Duration;

use bevy::camera::RenderTarget;
use bevy::prelude::*;
use bevy::render::gpu_readback::{Readback, ReadbackComplete};
use bevy::render::render_resource::TextureUsages;
use livestage_media::video::screen::{self, ContentHint, Rect, ScreenSource, Target};
use livestage_media::video::{CustomSender, CustomSource, Rgba, TestPattern};
use livestage_net::engine::now_us;
use livestage_net::publish::{Audio, AudioSource, Publisher, Video, VideoSource, screen_error};
use livestage_proto::track::Track;

use crate::client::Livestage;
use crate::events::LivestageError;
use crate::video::video_image;

/// Where published video comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum LocalVideo {
    /// The stamped test pattern (frame number and capture time readable after decoding),
    /// with a low layer of a quarter of the area for viewers on narrow paths.
    TestPattern {
        /// Size in pixels (at least 160x40).
        size: UVec2,
        /// Frames per second.
        fps: f32,
    },
    /// Frames the game pushes with [`PushFrame`] (RGBA of exactly `size`).
    Custom {
        /// Size in pixels.
        size: UVec2,
        /// Frames per second the encoder runs at (the newest pushed frame wins).
        fps: f32,
    },
    /// What a Bevy camera sees: the camera is pointed at a texture of `size`, which is read
    /// back from the GPU each frame and published (streaming the game view itself).
    Camera {
        /// The camera entity.
        camera: Entity,
        /// Size in pixels.
        size: UVec2,
        /// Frames per second.
        fps: f32,
    },
    /// A display, a window or a region of the screen (list them with
    /// [`screen::displays`] / [`screen::windows`]), published as the screen track beside the
    /// camera, with a low layer. A window that closes or a display that goes away ends the
    /// share with a [`LivestageError`] whose code is `source_ended`.
    Screen {
        /// What to share.
        target: Target,
        /// Only this part of the target (relative to its top-left corner).
        region: Option<Rect>,
        /// Frames per second (15 is the usual for documents, 30 for games).
        fps: f32,
        /// Largest size sent; the picture keeps its aspect ratio and is never upscaled.
        max_size: UVec2,
        /// Draw the mouse cursor.
        cursor: bool,
        /// What is shared: `Detail` (text, slides: sharper) or `Motion` (games: smoother).
        hint: ContentHint,
    },
}

impl LocalVideo {
    /// Shares `target` at 15 fps, up to 1920x1080, with the cursor, tuned for detail.
    pub fn screen(target: Target) -> Self {
        LocalVideo::Screen {
            target,
            region: None,
            fps: 15.0,
            max_size: UVec2::new(1920, 1080),
            cursor: true,
            hint: ContentHint::Detail,
        }
    }
}

/// Where published voice comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LocalAudio {
    /// A sine tone (Hz), for tests and bots.
    Tone(f32),
    /// The default microphone (silence from the null device when there is none).
    Microphone,
}

/// Start publishing in a joined channel, replacing what was published before on the same
/// tracks: the camera and the voice, or (with [`LocalVideo::Screen`] and no audio) the screen
/// share, leaving the camera and voice as they are. The token must grant it and the local
/// participant must be a host, or the server refuses it with a [`LivestageError`]; it is
/// published again by itself when the participant is promoted.
#[derive(EntityEvent, Clone, Debug)]
pub struct Publish {
    /// The channel entity.
    pub entity: Entity,
    /// The video source, if any.
    pub video: Option<LocalVideo>,
    /// The voice source, if any.
    pub audio: Option<LocalAudio>,
}

/// Stop publishing in a channel: the camera, the voice and a screen share.
#[derive(EntityEvent, Clone, Copy, Debug)]
pub struct Unpublish {
    /// The channel entity.
    pub entity: Entity,
}

/// Stop only the screen share of a channel.
#[derive(EntityEvent, Clone, Copy, Debug)]
pub struct StopScreenShare {
    /// The channel entity.
    pub entity: Entity,
}

/// Push one RGBA frame (tightly packed, `size.x * size.y * 4` bytes) into a channel's
/// [`LocalVideo::Custom`] source. A frame of the wrong size is refused with a
/// [`LivestageError`]; nothing is sent.
#[derive(EntityEvent, Clone, Debug)]
pub struct PushFrame {
    /// The channel entity.
    pub entity: Entity,
    /// Frame size.
    pub size: UVec2,
    /// RGBA pixels.
    pub rgba: Vec<u8>,
}

/// What a channel entity publishes, with the local preview texture.
#[derive(Component, Clone, Debug)]
pub struct LocalPreview {
    /// What this client sends, as a texture (for a camera source, the camera's target).
    pub image: Handle<Image>,
    /// The source.
    pub source: LocalVideo,
}

/// The sending end of a custom or camera source; clone the sender to push from other threads.
#[derive(Component, Clone)]
pub struct CustomVideo {
    sender: CustomSender,
}

impl CustomVideo {
    /// A sender that pushes frames from any thread (the newest frame wins).
    pub fn sender(&self) -> &CustomSender {
        &self.sender
    }
}

/// Preview state of a test pattern source (rendered locally at a low rate).
#[derive(Component)]
pub(crate) struct PatternPreview {
    pattern: TestPattern,
    timer: Timer,
    frame: u64,
}

/// Reads a camera's target back from the GPU into a channel's custom source, at the stream's
/// frame rate only: [`Readback`] is on the entity from when a frame is due until it arrived.
#[derive(Component)]
pub(crate) struct CameraCapture {
    channel: Entity,
    sender: CustomSender,
    image: Handle<Image>,
    period: Duration,
    /// When the next frame is due ([`Time::elapsed`]).
    due: Duration,
    /// A readback is under way.
    reading: bool,
}

pub(crate) fn publish(
    request: On<Publish>,
    mut commands: Commands,
    mut client: ResMut<Livestage>,
    mut images: ResMut<Assets<Image>>,
) {
    let channel = request.entity;
    let Some(link) = client.link_of(channel).map(str::to_owned) else {
        commands.write_message(LivestageError::local(
            channel,
            "Publish needs a joined channel (trigger Join first)",
        ));
        return;
    };
    if let Some(LocalVideo::Screen { .. }) = &request.video {
        share_screen(&mut commands, &mut client, channel, &link, &request);
        return;
    }
    stop(&mut commands, &mut client, channel);
    let mut source = None;
    if let Some(video) = &request.video {
        match video_source(&mut commands, &mut images, channel, video) {
            Ok(s) => source = Some(s),
            Err(e) => {
                commands.write_message(LivestageError::local(
                    channel,
                    format!("cannot publish video: {e:#}"),
                ));
                return;
            }
        }
    }
    let fps = match &request.video {
        Some(
            LocalVideo::TestPattern { fps, .. }
            | LocalVideo::Custom { fps, .. }
            | LocalVideo::Camera { fps, .. }
            | LocalVideo::Screen { fps, .. },
        ) => *fps,
        None => 30.0,
    };
    let controls = client.video_controls(channel);
    let video = source.map(|source| {
        let dual = matches!(source, VideoSource::TestPattern { .. });
        Video {
            dual,
            controls,
            ..Video::new(source, fps)
        }
    });
    let audio = request.audio.map(|a| Audio {
        controls: client.voice.clone(),
        mix: Some(client.mix.publish_tap()),
        echo: Some(client.playout.echo_reference()),
        ..Audio::new(match a {
            LocalAudio::Tone(hz) => AudioSource::Tone(hz),
            LocalAudio::Microphone => AudioSource::Capture,
        })
    });
    match Publisher::start_with(client.engine.clone(), &link, video, audio) {
        Ok(publisher) => {
            client.publishers.insert(channel, publisher);
        }
        Err(e) => {
            commands.write_message(LivestageError::local(
                channel,
                format!("cannot publish: {e:#}"),
            ));
        }
    }
}

/// Builds the publisher's video source and the ECS side of it (preview, sender, readback).
fn video_source(
    commands: &mut Commands,
    images: &mut Assets<Image>,
    channel: Entity,
    video: &LocalVideo,
) -> anyhow::Result<VideoSource> {
    match *video {
        LocalVideo::TestPattern { size, fps } => {
            let pattern = TestPattern::new(size.x, size.y)?;
            let image = images.add(video_image(size.x, size.y));
            commands.entity(channel).insert((
                LocalPreview {
                    image,
                    source: video.clone(),
                },
                PatternPreview {
                    pattern,
                    timer: Timer::new(
                        Duration::from_secs_f32(1.0 / fps.clamp(1.0, 10.0)),
                        TimerMode::Repeating,
                    ),
                    frame: 0,
                },
            ));
            Ok(VideoSource::TestPattern {
                width: size.x,
                height: size.y,
                textured: false,
            })
        }
        LocalVideo::Custom { size, .. } => {
            let (source, sender) = CustomSource::new(size.x, size.y)?;
            let image = images.add(video_image(size.x, size.y));
            commands.entity(channel).insert((
                LocalPreview {
                    image,
                    source: video.clone(),
                },
                CustomVideo { sender },
            ));
            Ok(VideoSource::Custom(source))
        }
        // Started by `share_screen`, never through here.
        LocalVideo::Screen { .. } => anyhow::bail!("a screen share is published on its own"),
        LocalVideo::Camera { camera, size, fps } => {
            let (source, sender) = CustomSource::new(size.x, size.y)?;
            let mut target = video_image(size.x, size.y);
            target.texture_descriptor.usage = TextureUsages::TEXTURE_BINDING
                | TextureUsages::COPY_DST
                | TextureUsages::COPY_SRC
                | TextureUsages::RENDER_ATTACHMENT;
            let image = images.add(target);
            commands
                .entity(camera)
                .insert(RenderTarget::Image(image.clone().into()));
            commands
                .spawn((
                    CameraCapture {
                        channel,
                        sender: sender.clone(),
                        image: image.clone(),
                        period: Duration::from_secs_f32(1.0 / fps.clamp(1.0, 60.0)),
                        due: Duration::ZERO,
                        reading: false,
                    },
                    ChildOf(channel),
                ))
                .observe(read_back);
            commands.entity(channel).insert((
                LocalPreview {
                    image,
                    source: video.clone(),
                },
                CustomVideo { sender },
            ));
            Ok(VideoSource::Custom(source))
        }
    }
}

/// Starts (or replaces) the channel's screen share.
fn share_screen(
    commands: &mut Commands,
    client: &mut Livestage,
    channel: Entity,
    link: &str,
    request: &Publish,
) {
    let Some(LocalVideo::Screen {
        target,
        region,
        fps,
        max_size,
        cursor,
        hint,
    }) = request.video.clone()
    else {
        return;
    };
    if request.audio.is_some() {
        commands.write_message(LivestageError::local(
            channel,
            "a screen share publishes video only; publish the voice with the camera request",
        ));
        return;
    }
    stop_screen(client, channel);
    let options = screen::Options {
        max_width: max_size.x,
        max_height: max_size.y,
        fps,
        cursor,
        hint,
        region,
        ..screen::Options::default()
    };
    let started = ScreenSource::new(target, options)
        .map_err(|e| screen_error(&e))
        .and_then(|source| {
            let video = Video {
                dual: true,
                ..Video::new(VideoSource::Screen(source), fps)
            }
            .as_track(Track::screen());
            Publisher::start(client.engine.clone(), link, Some(video), None).map_err(|e| {
                livestage_proto::Error::new(
                    livestage_proto::ErrorCode::InvalidInput,
                    format!("cannot share the screen: {e:#}"),
                )
            })
        });
    match started {
        Ok(publisher) => {
            client.screens.insert(channel, publisher);
        }
        Err(error) => {
            commands.write_message(LivestageError {
                entity: channel,
                error,
            });
        }
    }
}

pub(crate) fn unpublish(
    request: On<Unpublish>,
    mut commands: Commands,
    mut client: ResMut<Livestage>,
) {
    stop(&mut commands, &mut client, request.entity);
    stop_screen(&mut client, request.entity);
}

pub(crate) fn stop_screen_share(request: On<StopScreenShare>, mut client: ResMut<Livestage>) {
    stop_screen(&mut client, request.entity);
}

/// Stopping never waits for the media threads: the frame goes on while they wind down.
fn stop_screen(client: &mut Livestage, channel: Entity) {
    if let Some(publisher) = client.screens.remove(&channel) {
        publisher.retire();
    }
}

fn stop(commands: &mut Commands, client: &mut Livestage, channel: Entity) {
    if let Some(publisher) = client.publishers.remove(&channel) {
        publisher.retire();
    }
    if let Ok(mut entity) = commands.get_entity(channel) {
        entity.remove::<(LocalPreview, CustomVideo, PatternPreview)>();
    }
}

/// Stops camera readbacks whose channel no longer publishes from a camera.
pub(crate) fn end_readbacks(
    mut commands: Commands,
    captures: Query<(Entity, &CameraCapture)>,
    custom: Query<&CustomVideo>,
) {
    for (entity, capture) in &captures {
        if capture.sender.is_closed() || custom.get(capture.channel).is_err() {
            commands.entity(entity).despawn();
        }
    }
}

pub(crate) fn push_frame(
    request: On<PushFrame>,
    mut commands: Commands,
    sources: Query<(&CustomVideo, &LocalPreview)>,
    mut images: ResMut<Assets<Image>>,
) {
    let channel = request.entity;
    let Ok((custom, preview)) = sources.get(channel) else {
        commands.write_message(LivestageError::local(
            channel,
            "PushFrame needs a channel publishing LocalVideo::Custom",
        ));
        return;
    };
    let frame = match Rgba::from_data(request.size.x, request.size.y, request.rgba.clone()) {
        Ok(frame) => frame,
        Err(e) => {
            commands.write_message(LivestageError::local(
                channel,
                format!("custom frame refused: {e}"),
            ));
            return;
        }
    };
    if let Err(e) = custom.sender.push_rgba(frame, now_us()) {
        commands.write_message(LivestageError::local(
            channel,
            format!("custom frame refused: {e}"),
        ));
        return;
    }
    if let Some(mut image) = images.get_mut(&preview.image) {
        image.data = Some(request.rgba.clone());
    }
}

/// Starts a camera readback when the stream's next frame is due.
pub(crate) fn pace_readbacks(
    time: Res<Time>,
    mut commands: Commands,
    mut captures: Query<(Entity, &mut CameraCapture)>,
) {
    let now = time.elapsed();
    for (entity, mut capture) in &mut captures {
        if !capture.reading && now >= capture.due {
            capture.reading = true;
            commands
                .entity(entity)
                .insert(Readback::texture(capture.image.clone()));
        }
    }
}

/// The camera's target arrived from the GPU: strip the row padding and push it, and stop
/// reading back until the next frame is due.
fn read_back(
    readback: On<ReadbackComplete>,
    time: Res<Time>,
    mut captures: Query<&mut CameraCapture>,
    mut commands: Commands,
) {
    let Ok(mut capture) = captures.get_mut(readback.entity) else {
        return;
    };
    if !capture.reading {
        return; // One more that was already under way when the frame arrived.
    }
    capture.reading = false;
    let now = time.elapsed();
    capture.due = (capture.due + capture.period).max(now);
    commands.entity(readback.entity).remove::<Readback>();
    let (w, h) = capture.sender.size();
    let row = w as usize * 4;
    let padded = (row).next_multiple_of(256);
    let mut data = Vec::with_capacity(row * h as usize);
    for y in 0..h as usize {
        match readback.data.get(y * padded..y * padded + row) {
            Some(line) => data.extend_from_slice(line),
            None => {
                commands.write_message(LivestageError::local(
                    capture.channel,
                    "camera readback was shorter than its texture",
                ));
                return;
            }
        }
    }
    let pushed =
        Rgba::from_data(w, h, data).and_then(|frame| capture.sender.push_rgba(frame, now_us()));
    if let Err(e) = pushed {
        commands.write_message(LivestageError::local(
            capture.channel,
            format!("camera frame refused: {e}"),
        ));
    }
}

/// Renders the test pattern preview at a low rate.
pub(crate) fn preview_pattern(
    time: Res<Time>,
    mut previews: Query<(&LocalPreview, &mut PatternPreview)>,
    mut images: ResMut<Assets<Image>>,
) {
    for (preview, mut pattern) in &mut previews {
        if !pattern.timer.tick(time.delta()).just_finished() {
            continue;
        }
        pattern.frame += 1;
        let picture = pattern.pattern.frame(pattern.frame, now_us());
        if let Some(mut image) = images.get_mut(&preview.image) {
            let rgba = livestage_media::video::convert::i420_to_rgba(&picture);
            image.data = Some(rgba.into_data());
        }
    }
}
