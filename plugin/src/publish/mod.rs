//! Local media: what this client publishes in a channel, and its preview texture.
//! [`Publish`] starts a publisher on the channel's engine link from one of the sources below
//! (the camera track and the voice, or with [`LocalVideo::Screen`] a screen share as its own
//! track beside them). `source.rs` makes the publisher's video from a [`LocalVideo`] (opening
//! a webcam, a picture or a file on a thread of its own); `capture.rs` feeds the preview and
//! pushes game frames in [`LivestageSystems::Capture`](crate::LivestageSystems), reading a
//! camera's render target back from the GPU; `beauty.rs` holds the [`Beauty`] component.

use std::path::PathBuf;

use bevy::prelude::*;
use livestage_media::video::file;
use livestage_media::video::screen::{self, ContentHint, Rect, ScreenSource, Target};
use livestage_net::publish::{Audio, AudioSource, Publisher, Video, VideoSource, screen_error};
use livestage_proto::track::Track;

use crate::client::Livestage;
use crate::events::LivestageError;

mod beauty;
mod capture;
mod source;

pub use beauty::Beauty;
pub(crate) use beauty::{apply_beauty, turn_beauty_off};
use capture::PatternPreview;
pub use capture::{CustomVideo, LocalPreview, PushFrame};
pub(crate) use capture::{end_readbacks, pace_readbacks, preview_pattern, push_frame};
pub use source::OpeningVideo;
pub(crate) use source::start_opened;

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
    /// A webcam (list them with [`webcam::devices`](crate::webcam::devices)), with a low
    /// layer. It opens in the background (a camera takes up to a second to send its first
    /// frame) with [`OpeningVideo`] on the channel entity meanwhile; one that cannot be used
    /// is a [`LivestageError`]: `camera_unavailable` when there is no camera here (or no
    /// permission, or another program holds it), `invalid_input` for an index or size it
    /// does not have. Unplugging it ends the track with `source_ended`. No local preview.
    Webcam {
        /// Its index in [`webcam::devices`](crate::webcam::devices); `None`: the first.
        device: Option<u32>,
        /// The size wanted; the camera's closest mode is used.
        size: UVec2,
        /// The frame rate wanted; the camera's mode sets the rate sent.
        fps: f32,
    },
    /// A PNG or JPEG picture (a "be right back" card, a logo), read in the background like a
    /// webcam; one that cannot be read or decoded (or is under 16x16) is a [`LivestageError`]
    /// with `invalid_input`. A picture over 3840x2160 is scaled down. Its [`LocalPreview`]
    /// shows the picture.
    Image {
        /// The picture file.
        path: PathBuf,
        /// Frames per second it is sent at (a few suffice; each is the same picture).
        fps: f32,
    },
    /// A video file (MP4 or Matroska with H.264), played in real time at its own frame rate,
    /// opened in the background like a webcam; one that cannot be played is a
    /// [`LivestageError`] with `invalid_input`. A file played once ends its track with
    /// `source_ended`. No local preview.
    File {
        /// The video file.
        path: PathBuf,
        /// Start again from the first frame after the last one, without end.
        looped: bool,
        /// [`file::Mode::Forward`]: its H.264 goes out as it is (no encoder, no low layer, no
        /// [`Beauty`] or [`LocalVideoHook`](crate::LocalVideoHook)), refused for a file with
        /// B-frames; [`file::Mode::Decode`]: decoded and encoded again; [`file::Mode::Auto`]:
        /// forwarded when the file allows it and the channel has no beauty or hook as it
        /// starts, decoded otherwise.
        mode: file::Mode,
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
/// published again by itself when the participant is promoted. A webcam, a picture or a file
/// opens on a thread first ([`OpeningVideo`]); the voice starts with it.
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
    let video = match &request.video {
        Some(video) => {
            match source::build(&mut commands, &mut images, channel, video, request.audio) {
                Ok(Some(video)) => Some(video),
                // It opens on a thread; `start_opened` starts publishing when it is open.
                Ok(None) => return,
                Err(e) => {
                    commands.write_message(LivestageError::local(
                        channel,
                        format!("cannot publish video: {e:#}"),
                    ));
                    return;
                }
            }
        }
        None => None,
    };
    start(&mut commands, &mut client, channel, video, request.audio);
}

/// Starts the channel's camera publisher: `video` through the channel's picture processing,
/// and `audio` through the voice chain and the music mix.
fn start(
    commands: &mut Commands,
    client: &mut Livestage,
    channel: Entity,
    video: Option<Video>,
    audio: Option<LocalAudio>,
) {
    let Some(link) = client.link_of(channel).map(str::to_owned) else {
        commands.write_message(LivestageError::local(
            channel,
            "the channel was left before its video source opened",
        ));
        return;
    };
    let controls = client.video_controls(channel);
    let video = video.map(|video| Video { controls, ..video });
    let audio = audio.map(|a| Audio {
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
        entity.remove::<(LocalPreview, CustomVideo, PatternPreview, OpeningVideo)>();
    }
}
