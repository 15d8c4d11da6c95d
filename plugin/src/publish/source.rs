//! The publisher's video for a [`LocalVideo`], with the ECS side of it (preview, sender,
//! readback). What the main thread can make at once is made in the [`Publish`](super::Publish)
//! observer; a webcam, a picture or a file is opened on a thread of its own (a webcam takes up
//! to a second to send its first frame), with [`OpeningVideo`] on the channel entity until
//! [`start_opened`] starts publishing from it in [`LivestageSystems::Receive`].
//!
//! [`LivestageSystems::Receive`]: crate::LivestageSystems::Receive

use std::time::Duration;

use bevy::camera::RenderTarget;
use bevy::prelude::*;
use bevy::render::render_resource::TextureUsages;
use crossbeam_channel::{Receiver, TryRecvError};
use livestage_media::video::camera::{self, CameraSource};
use livestage_media::video::convert::i420_to_rgba;
use livestage_media::video::{CustomSource, Rgba, TestPattern, file, still};
use livestage_net::publish::{Video, VideoSource, camera_error, still_error};
use livestage_proto::{Error, ErrorCode};

use super::capture::{CameraCapture, CustomVideo, LocalPreview, PatternPreview, read_back};
use super::{LocalAudio, LocalVideo};
use crate::client::Livestage;
use crate::events::LivestageError;
use crate::video::video_image;

/// On a channel entity while its video source (a webcam, a picture or a file) opens in the
/// background. When it goes, the channel publishes from that source, or a [`LivestageError`]
/// said why it could not. Publishing again or [`Unpublish`](super::Unpublish) meanwhile
/// abandons it (a webcam opened too late is closed again).
#[derive(Component)]
pub struct OpeningVideo {
    /// The source asked for.
    source: LocalVideo,
    /// The voice to publish with it.
    audio: Option<LocalAudio>,
    /// Where the opening thread hands the source over.
    opened: Receiver<Result<Opened, Error>>,
}

impl OpeningVideo {
    /// The source that is opening.
    pub fn source(&self) -> &LocalVideo {
        &self.source
    }
}

/// A source the opening thread made, with the picture to preview (for a still picture).
struct Opened {
    video: Video,
    preview: Option<Rgba>,
}

/// The video to publish for `video`, made here; or `None` when it opens on a thread, and the
/// publisher (with `audio`) starts once it opened.
pub(super) fn build(
    commands: &mut Commands,
    images: &mut Assets<Image>,
    channel: Entity,
    video: &LocalVideo,
    audio: Option<LocalAudio>,
) -> anyhow::Result<Option<Video>> {
    let ready = match *video {
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
            let source = VideoSource::TestPattern {
                width: size.x,
                height: size.y,
                textured: false,
            };
            return Ok(Some(Video {
                dual: true,
                ..Video::new(source, fps)
            }));
        }
        LocalVideo::Custom { size, fps } => {
            let (source, sender) = CustomSource::new(size.x, size.y)?;
            let image = images.add(video_image(size.x, size.y));
            commands.entity(channel).insert((
                LocalPreview {
                    image,
                    source: video.clone(),
                },
                CustomVideo { sender },
            ));
            Video::new(VideoSource::Custom(source), fps)
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
            Video::new(VideoSource::Custom(source), fps)
        }
        LocalVideo::Webcam { device, size, fps } => {
            let options = camera::Options {
                width: size.x,
                height: size.y,
                fps,
                max_size: None,
            };
            open(commands, channel, video, audio, move || {
                let webcam = CameraSource::open(device, options).map_err(|e| camera_error(&e))?;
                let video = Video {
                    dual: true,
                    ..Video::new(VideoSource::Camera(webcam), fps)
                };
                Ok(Opened {
                    video,
                    preview: None,
                })
            })?;
            return Ok(None);
        }
        LocalVideo::Image { ref path, fps } => {
            let path = path.clone();
            open(commands, channel, video, audio, move || {
                let picture = still::open(&path).map_err(|e| still_error(&e))?;
                let preview = i420_to_rgba(&picture);
                Ok(Opened {
                    video: Video::new(VideoSource::Still(picture), fps),
                    preview: Some(preview),
                })
            })?;
            return Ok(None);
        }
        LocalVideo::File {
            ref path,
            looped,
            mode,
        } => {
            let path = path.clone();
            open(commands, channel, video, audio, move || {
                let source = VideoSource::file(&path, file::Options { looped, mode })?;
                // The file's own rate replaces this one.
                Ok(Opened {
                    video: Video::new(source, 30.0),
                    preview: None,
                })
            })?;
            return Ok(None);
        }
    };
    Ok(Some(ready))
}

/// Runs `opening` on a thread of its own, with [`OpeningVideo`] on the channel meanwhile.
fn open(
    commands: &mut Commands,
    channel: Entity,
    video: &LocalVideo,
    audio: Option<LocalAudio>,
    opening: impl FnOnce() -> Result<Opened, Error> + Send + 'static,
) -> anyhow::Result<()> {
    let (done, opened) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name("livestage-open-video".into())
        .spawn(move || {
            // Refused when the request was abandoned: the source is closed as it drops.
            let _ = done.send(opening());
        })?;
    commands.entity(channel).insert(OpeningVideo {
        source: video.clone(),
        audio,
        opened,
    });
    Ok(())
}

/// Starts publishing from each source that finished opening, or reports why it could not.
pub(crate) fn start_opened(
    mut commands: Commands,
    mut client: ResMut<Livestage>,
    mut images: ResMut<Assets<Image>>,
    opening: Query<(Entity, &OpeningVideo)>,
) {
    for (channel, opening) in &opening {
        let opened = match opening.opened.try_recv() {
            Ok(opened) => opened,
            Err(TryRecvError::Empty) => continue,
            Err(TryRecvError::Disconnected) => Err(Error::new(
                ErrorCode::InvalidInput,
                "opening the video source failed unexpectedly (its thread panicked)",
            )),
        };
        commands.entity(channel).remove::<OpeningVideo>();
        let Opened { video, preview } = match opened {
            Ok(opened) => opened,
            Err(error) => {
                commands.write_message(LivestageError {
                    entity: channel,
                    error,
                });
                continue;
            }
        };
        if let Some(rgba) = preview {
            let (width, height) = rgba.size();
            let mut image = video_image(width, height);
            image.data = Some(rgba.into_data());
            commands.entity(channel).insert(LocalPreview {
                image: images.add(image),
                source: opening.source.clone(),
            });
        }
        super::start(
            &mut commands,
            &mut client,
            channel,
            Some(video),
            opening.audio,
        );
    }
}
