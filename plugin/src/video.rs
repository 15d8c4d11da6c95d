//! [`LivestageSystems::Upload`](crate::LivestageSystems): remote video into Bevy textures.
//! Each frame, every remote video track's newest decoded picture (decoded on playout's
//! threads) is written into its `Image`, only when a new picture arrived: with
//! [`VideoUpload::Rgba`] converted to RGBA on this thread straight into the image's data
//! through `AssetMut`; with [`VideoUpload::YuvShader`] handed to the render world as planes,
//! which a shader converts into the same texture (see `yuv.rs`). The newest picture wins;
//! nothing here waits for the network.

use std::time::{Duration, Instant};

use bevy::asset::RenderAssetUsages;
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use livestage_media::video::{Rgba, convert};
use livestage_net::engine::now_us;
use livestage_net::playout::VideoFrame;

use crate::channel::{LocalParticipant, Participant, ParticipantOf};
use crate::client::Livestage;
use crate::track::{Track, TrackOf};
use crate::video_hooks::VideoRenderer;
use crate::yuv;

/// How remote pictures reach their textures; chosen with
/// [`LivestagePlugin::video_upload`](crate::LivestagePlugin::video_upload). As a resource it
/// says which path the app actually uses.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VideoUpload {
    /// Converted to RGBA on the main thread (4 bytes a pixel uploaded) into an image that keeps
    /// its pixels in the main world too, so the game can read them (`Image::get_color_at`).
    /// Works in every app, headless ones included.
    #[default]
    Rgba,
    /// The three I420 planes are uploaded (1.5 bytes a pixel) and a render pass converts them
    /// into the RGBA texture on the GPU before the cameras render; the main thread only hands
    /// over a reference to the decoded picture. The image has no CPU data (a render target), so
    /// its pixels cannot be read in the main world. Needs a renderer: in an app without one
    /// (`MinimalPlugins`) pictures are uploaded as [`Rgba`](Self::Rgba).
    YuvShader,
}

/// A remote video track as a texture, on the [`Track`] entity. Added when its first picture
/// arrives; show `image` on a sprite, a UI node or a material.
#[derive(Component, Clone, Debug)]
pub struct RemoteVideo {
    /// The texture (RGBA, sRGB), resized when the publisher's picture size changes. With
    /// [`VideoUpload::YuvShader`] it is drawn on the GPU and holds no pixels in the main world.
    pub image: Handle<Image>,
    /// The publisher's frame number of the picture in the texture.
    pub frame: u64,
    /// Its size.
    pub size: UVec2,
    /// When it was captured, microseconds since the Unix epoch (the publisher's clock).
    pub capture_us: u64,
    /// When playout decoded it (this machine's clock).
    pub decoded_us: u64,
    /// When it was written into the texture (this machine's clock).
    pub written_us: u64,
    /// Pictures written into the texture so far.
    pub written: u64,
}

impl RemoteVideo {
    /// Capture to texture, in milliseconds (publisher and viewer clocks assumed in sync).
    pub fn glass_to_glass_ms(&self) -> f64 {
        self.written_us.saturating_sub(self.capture_us) as f64 / 1000.0
    }
}

/// CPU time [`LivestageSystems::Upload`](crate::LivestageSystems) spent writing pictures into
/// textures (converting them to RGBA, or handing their planes to the render world): what
/// remote video costs the game's main thread in that set.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq)]
pub struct UploadTimings {
    /// Pictures written.
    pub pictures: u64,
    /// Total time spent writing them.
    pub total: Duration,
    /// The latest one.
    pub last: Duration,
}

impl UploadTimings {
    /// Mean time per picture.
    pub fn mean(&self) -> Duration {
        self.total
            .checked_div(self.pictures.max(1) as u32)
            .unwrap_or_default()
    }
}

/// A new RGBA image of `size` for video, opaque black, kept in both worlds so it can be
/// rewritten in place. Built from one `repeat`: `Image::new_fill` copies pixel by pixel, which
/// took 19 ms of a game frame at 720p.
pub fn video_image(width: u32, height: u32) -> Image {
    Image::new(
        Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        [0, 0, 0, 255].repeat(width as usize * height as usize),
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::MAIN_WORLD | RenderAssetUsages::RENDER_WORLD,
    )
}

pub(crate) fn upload(
    mut commands: Commands,
    client: Res<Livestage>,
    mut images: ResMut<Assets<Image>>,
    mut timings: ResMut<UploadTimings>,
    mut planes: Option<ResMut<yuv::Pictures>>,
    participants: Query<(&Participant, &ParticipantOf), Without<LocalParticipant>>,
    mut tracks: Query<(
        Entity,
        &Track,
        &TrackOf,
        Option<&mut RemoteVideo>,
        Option<&VideoRenderer>,
    )>,
) {
    if let Some(planes) = planes.as_mut() {
        planes.clear();
    }
    for (entity, track, of, video, renderer) in &mut tracks {
        if track.kind != livestage_proto::track::Kind::Video
            || renderer.is_some_and(|r| !r.keeps_texture())
        {
            continue;
        }
        let Ok((participant, channel)) = participants.get(of.0) else {
            continue; // This client's own tracks, or a participant being despawned.
        };
        let Some(link) = client.link_of(channel.0) else {
            continue;
        };
        let Some(frame) = client
            .playout
            .latest_video(link, participant.media_id, track.id)
        else {
            continue;
        };
        let started = Instant::now();
        match video {
            Some(mut video) => {
                if video.frame == frame.frame && video.decoded_us == frame.decoded_us {
                    continue;
                }
                let written = match planes.as_mut() {
                    Some(planes) => hand_over(&mut images, &video.image, &frame, planes),
                    None => images
                        .get_mut(&video.image)
                        .map(|mut image| write_picture(&mut image, &frame))
                        .is_some(),
                };
                if !written {
                    continue; // The game removed the image.
                }
                mark_written(&mut video, &frame);
            }
            None => {
                let (w, h) = frame.picture.size();
                let image = match planes.as_mut() {
                    Some(planes) => {
                        let image = images.add(yuv::target(w, h));
                        planes.push(image.id(), frame.picture.clone());
                        image
                    }
                    None => {
                        let mut image = video_image(w, h);
                        write_picture(&mut image, &frame);
                        images.add(image)
                    }
                };
                let mut video = RemoteVideo {
                    image,
                    frame: 0,
                    size: UVec2::new(w, h),
                    capture_us: 0,
                    decoded_us: 0,
                    written_us: 0,
                    written: 0,
                };
                mark_written(&mut video, &frame);
                commands.entity(entity).insert(video);
            }
        }
        let spent = started.elapsed();
        timings.pictures += 1;
        timings.total += spent;
        timings.last = spent;
    }
}

/// YUV-shader path: hands the picture to the render world for `handle`'s texture, remaking the
/// (data-less) image only when the size changed. `false` if the image is gone.
fn hand_over(
    images: &mut Assets<Image>,
    handle: &Handle<Image>,
    frame: &VideoFrame,
    planes: &mut yuv::Pictures,
) -> bool {
    let (w, h) = frame.picture.size();
    let Some(image) = images.get(handle) else {
        return false;
    };
    if (image.width() != w || image.height() != h)
        && images.insert(handle, yuv::target(w, h)).is_err()
    {
        return false;
    }
    planes.push(handle.id(), frame.picture.clone());
    true
}

fn mark_written(video: &mut RemoteVideo, frame: &VideoFrame) {
    video.frame = frame.frame;
    video.size = UVec2::from(frame.picture.size());
    video.capture_us = frame.capture_us;
    video.decoded_us = frame.decoded_us;
    video.written_us = now_us();
    video.written += 1;
}

/// Converts the picture to RGBA in the image's own buffer (resizing it first if needed).
fn write_picture(image: &mut Image, frame: &VideoFrame) {
    let (w, h) = frame.picture.size();
    if image.width() != w || image.height() != h || image.data.is_none() {
        *image = video_image(w, h);
    }
    let data = image.data.take().unwrap_or_default();
    let mut rgba = match Rgba::from_data(w, h, data) {
        Ok(rgba) => rgba,
        Err(_) => Rgba::new(w, h).expect("decoded pictures have a valid size"),
    };
    convert::i420_to_rgba_into(&frame.picture, &mut rgba).expect("same size by construction");
    image.data = Some(rgba.into_data());
}
