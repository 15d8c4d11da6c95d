//! What the bot publishes: `--publish` parsed into a [`Publish`] (a camera-track source, a
//! screen share, a tone) and started as [`Publisher`]s.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use livestage_media::audio::MixTap;
use livestage_media::video::camera::{self, CameraSource};
use livestage_media::video::file;
use livestage_media::video::screen::{ScreenSource, Share};
use livestage_net::Engine;
use livestage_net::publish::{
    Audio, AudioSource, Publisher, Video, VideoControls, VideoSource, VoiceControls, camera_error,
    screen_error,
};
use livestage_proto::track::Track;

/// What `--publish video=` asked for.
#[derive(Clone, Debug, PartialEq)]
pub enum VideoSpec {
    /// The stamped test pattern; `textured` adds changing texture so the encoder uses its
    /// whole bitrate.
    Pattern {
        width: u32,
        height: u32,
        fps: f32,
        textured: bool,
    },
    /// A PNG or JPEG picture sent at `fps`.
    Image { path: PathBuf, fps: f32 },
    /// An MP4 or MKV file with H.264, played once or looped, at its own rate.
    File { path: PathBuf, looped: bool },
    /// A webcam (the first when `device` is `None`) at about this size and rate.
    Camera {
        device: Option<u32>,
        width: u32,
        height: u32,
        fps: f32,
    },
}

/// What `--publish` asked for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Publish {
    /// The camera track's source.
    pub video: Option<VideoSpec>,
    /// Tone frequency in Hz.
    pub audio: Option<f32>,
    /// A screen share beside the camera.
    pub screen: Option<Share>,
}

/// The parts of a spec: `kind=source` items separated by commas, where a source may hold
/// commas itself (`region:X,Y,W,H`).
fn spec_parts(spec: &str) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    for piece in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match parts.last_mut() {
            Some(last) if !piece.contains('=') => {
                last.push(',');
                last.push_str(piece);
            }
            _ => parts.push(piece.to_owned()),
        }
    }
    parts
}

/// `WIDTHxHEIGHT`.
fn size(text: &str) -> anyhow::Result<(u32, u32)> {
    let (w, h) = text.split_once('x').context("a size is WIDTHxHEIGHT")?;
    Ok((w.parse()?, h.parse()?))
}

/// `TEXT@SUFFIX` split at the last `@` when the suffix is what `is_suffix` accepts (a path may
/// hold `@` itself).
fn split_suffix(text: &str, is_suffix: impl Fn(&str) -> bool) -> (&str, Option<&str>) {
    match text.rsplit_once('@') {
        Some((head, suffix)) if is_suffix(suffix) => (head, Some(suffix)),
        _ => (text, None),
    }
}

impl VideoSpec {
    /// The source after `video=`: `testpattern:WxH[@FPS]`, `textured:WxH[@FPS]`,
    /// `image:PATH[@FPS]` (5 fps by default), `file:PATH[@loop]`, `camera[:N][@WxH[@FPS]]`
    /// (1280x720 at 30 by default).
    fn parse(source: &str) -> anyhow::Result<Self> {
        let (kind, rest) = source.split_once(':').unwrap_or((source, ""));
        let is_number = |s: &str| s.parse::<f32>().is_ok();
        Ok(match kind {
            "testpattern" | "textured" => {
                let (geometry, fps) = split_suffix(rest, is_number);
                let (width, height) = size(geometry)?;
                VideoSpec::Pattern {
                    width,
                    height,
                    fps: fps.map_or(Ok(30.0), str::parse)?,
                    textured: kind == "textured",
                }
            }
            "image" if !rest.is_empty() => {
                let (path, fps) = split_suffix(rest, is_number);
                VideoSpec::Image {
                    path: path.into(),
                    fps: fps.map_or(Ok(5.0), str::parse)?,
                }
            }
            "file" if !rest.is_empty() => {
                let (path, looped) = split_suffix(rest, |s| s == "loop");
                VideoSpec::File {
                    path: path.into(),
                    looped: looped.is_some(),
                }
            }
            _ if source == "camera"
                || source.starts_with("camera:")
                || source.starts_with("camera@") =>
            {
                let rest = &source["camera".len()..];
                let (device, settings) = rest.split_once('@').unwrap_or((rest, ""));
                let device = match device.strip_prefix(':') {
                    Some(n) => Some(
                        n.parse()
                            .context("a camera is camera:N (see /dev/videoN)")?,
                    ),
                    None => None,
                };
                let (geometry, fps) = settings.split_once('@').unwrap_or((settings, "30"));
                let (width, height) = if geometry.is_empty() {
                    (1280, 720)
                } else {
                    size(geometry)?
                };
                VideoSpec::Camera {
                    device,
                    width,
                    height,
                    fps: fps.parse()?,
                }
            }
            _ => bail!("unknown video source {source:?}"),
        })
    }

    /// Opens the source, as a camera-track video with a low layer when `dual`.
    fn open(&self, dual: bool, controls: VideoControls) -> anyhow::Result<Video> {
        let (source, fps) = match self {
            VideoSpec::Pattern {
                width,
                height,
                fps,
                textured,
            } => (
                VideoSource::TestPattern {
                    width: *width,
                    height: *height,
                    textured: *textured,
                },
                *fps,
            ),
            VideoSpec::Image { path, fps } => (VideoSource::still(path)?, *fps),
            VideoSpec::File { path, looped } => {
                let options = file::Options {
                    looped: *looped,
                    mode: file::Mode::Auto,
                };
                (VideoSource::file(path, options)?, 30.0)
            }
            VideoSpec::Camera {
                device,
                width,
                height,
                fps,
            } => {
                let options = camera::Options {
                    width: *width,
                    height: *height,
                    fps: *fps,
                    max_size: None,
                };
                let camera = CameraSource::open(*device, options).map_err(|e| camera_error(&e))?;
                (VideoSource::Camera(camera), *fps)
            }
        };
        Ok(Video {
            dual,
            controls,
            ..Video::new(source, fps)
        })
    }
}

impl Publish {
    /// Parses `video=testpattern:1280x720@30,screen=window:0x1e00004@15,audio=tone:440`;
    /// `video=textured:...` is the test pattern with changing texture, which costs its full
    /// bitrate like game footage; the other video sources are listed at [`VideoSpec::parse`].
    pub fn parse(spec: &str) -> anyhow::Result<Self> {
        let mut out = Publish::default();
        for part in spec_parts(spec) {
            let part = part.as_str();
            let (kind, source) = part
                .split_once('=')
                .context("expected kind=source, e.g. video=testpattern:1280x720@30")?;
            match (kind, source.split_once(':')) {
                ("video", _) => out.video = Some(VideoSpec::parse(source)?),
                ("audio", Some(("tone", hz))) => out.audio = Some(hz.parse()?),
                ("screen", _) => {
                    out.screen = Some(source.parse::<Share>().map_err(anyhow::Error::msg)?);
                }
                _ => bail!(
                    "unknown media source {part:?}; use video=testpattern:WxH@FPS, video=textured:WxH@FPS, video=image:PATH@FPS, video=file:PATH[@loop], video=camera[:N][@WxH@FPS], screen=display|display:ID|window:ID|region:X,Y,W,H[@FPS] or audio=tone:HZ"
                ),
            }
        }
        Ok(out)
    }
}

impl Publish {
    /// Starts publishing what was asked (with a low layer when `dual`): the camera and the
    /// voice as one publisher, the screen share as another, each its own track; `controls`
    /// process every video picture before it is encoded (beauty).
    pub fn start(
        &self,
        engine: Arc<Engine>,
        channel: &str,
        dual: bool,
        voice: Option<(MixTap, VoiceControls)>,
        controls: &VideoControls,
    ) -> anyhow::Result<Vec<Publisher>> {
        let mut publishers = Vec::new();
        let video = self
            .video
            .as_ref()
            .map(|spec| spec.open(dual, controls.clone()))
            .transpose()?;
        if video.is_some() || self.audio.is_some() {
            let audio = self.audio.map(|hz| {
                let mut audio = Audio::new(AudioSource::Tone(hz));
                if let Some((mix, controls)) = voice {
                    audio.mix = Some(mix);
                    audio.controls = controls;
                }
                audio
            });
            publishers.push(Publisher::start_with(
                engine.clone(),
                channel,
                video,
                audio,
            )?);
        }
        if let Some(share) = self.screen {
            let target = share.resolve().map_err(|e| screen_error(&e))?;
            let options = share.options();
            let fps = options.fps;
            let source = ScreenSource::new(target, options).map_err(|e| screen_error(&e))?;
            let video = Video {
                dual,
                controls: controls.clone(),
                ..Video::new(VideoSource::Screen(source), fps)
            }
            .as_track(Track::screen());
            publishers.push(Publisher::start(engine, channel, Some(video), None)?);
        }
        Ok(publishers)
    }
}

#[cfg(test)]
mod tests {
    use super::{Publish, Share, VideoSpec};
    use livestage_media::video::screen::Target;

    #[test]
    fn parses_publish_specs() {
        let p = Publish::parse("video=testpattern:1280x720@30,audio=tone:440").expect("valid");
        assert_eq!(
            p,
            Publish {
                video: Some(VideoSpec::Pattern {
                    width: 1280,
                    height: 720,
                    fps: 30.0,
                    textured: false
                }),
                audio: Some(440.0),
                screen: None,
            }
        );
        let p = Publish::parse(
            "video=testpattern:640x360@30,screen=region:10,20,300,200@30,audio=tone:440",
        )
        .expect("valid");
        assert_eq!(
            p.screen,
            Some(Share {
                target: Some(Target::Region {
                    x: 10,
                    y: 20,
                    width: 300,
                    height: 200
                }),
                fps: Some(30.0)
            })
        );
        assert_eq!(p.audio, Some(440.0));
        let window = Publish::parse("screen=window:0x1e00004").expect("valid");
        assert_eq!(
            window.screen.map(|s| s.target),
            Some(Some(Target::Window(0x1e0_0004)))
        );
        assert_eq!(
            Publish::parse("screen=display").expect("valid").screen,
            Some(Share {
                target: None,
                fps: None
            })
        );
        assert!(Publish::parse("screen=region:1,2,3").is_err());
        assert!(Publish::parse("screen=monitor").is_err());
        assert!(matches!(
            Publish::parse("video=textured:640x360@15")
                .expect("valid")
                .video,
            Some(VideoSpec::Pattern {
                textured: true,
                fps: 15.0,
                ..
            })
        ));
        assert!(Publish::parse("video=testpattern:axb").is_err());
    }

    #[test]
    fn parses_video_sources() {
        let video = |spec: &str| Publish::parse(spec).expect(spec).video.expect(spec);
        assert_eq!(
            video("video=image:/tmp/brb@card.png@2"),
            VideoSpec::Image {
                path: "/tmp/brb@card.png".into(),
                fps: 2.0
            }
        );
        assert_eq!(
            video("video=image:card.png"),
            VideoSpec::Image {
                path: "card.png".into(),
                fps: 5.0
            }
        );
        assert_eq!(
            video("video=file:clip.mp4@loop"),
            VideoSpec::File {
                path: "clip.mp4".into(),
                looped: true
            }
        );
        assert_eq!(
            video("video=file:clip.mkv"),
            VideoSpec::File {
                path: "clip.mkv".into(),
                looped: false
            }
        );
        let camera = |device, width, height, fps| VideoSpec::Camera {
            device,
            width,
            height,
            fps,
        };
        assert_eq!(video("video=camera"), camera(None, 1280, 720, 30.0));
        assert_eq!(video("video=camera:2"), camera(Some(2), 1280, 720, 30.0));
        assert_eq!(
            video("video=camera:1@640x480@15"),
            camera(Some(1), 640, 480, 15.0)
        );
        assert_eq!(video("video=camera@640x360"), camera(None, 640, 360, 30.0));
        for bad in [
            "video=camera:x",
            "video=cameras",
            "video=image:",
            "video=file:",
            "video=webcam",
        ] {
            assert!(Publish::parse(bad).is_err(), "{bad}");
        }
    }
}
