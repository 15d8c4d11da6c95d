//! What the main thread feeds a publisher or its preview: frames the game pushes
//! ([`PushFrame`], [`CustomVideo`]), a Bevy camera's target read back from the GPU, and the
//! test pattern's preview, all in [`LivestageSystems::Capture`](crate::LivestageSystems).

use std::time::Duration;

use bevy::prelude::*;
use bevy::render::gpu_readback::{Readback, ReadbackComplete};
use livestage_media::video::{CustomSender, Rgba, TestPattern};
use livestage_net::engine::now_us;

use super::LocalVideo;
use crate::events::LivestageError;

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
    pub(super) sender: CustomSender,
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
    pub(super) pattern: TestPattern,
    pub(super) timer: Timer,
    pub(super) frame: u64,
}

/// Reads a camera's target back from the GPU into a channel's custom source, at the stream's
/// frame rate only: [`Readback`] is on the entity from when a frame is due until it arrived.
#[derive(Component)]
pub(crate) struct CameraCapture {
    pub(super) channel: Entity,
    pub(super) sender: CustomSender,
    pub(super) image: Handle<Image>,
    pub(super) period: Duration,
    /// When the next frame is due ([`Time::elapsed`]).
    pub(super) due: Duration,
    /// A readback is under way.
    pub(super) reading: bool,
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
pub(super) fn read_back(
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
