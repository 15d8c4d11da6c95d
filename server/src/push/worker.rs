//! One push's pipeline, on its own thread: every frame interval it takes each shown user's
//! newest picture from the [`Viewer`], composes the canvas, encodes H.264; every 20 ms of
//! mixed voice becomes AAC ([`Sound`]); both go out as FLV tags to [`rtmp::Output`], which
//! runs one sender per URL. Layout and URL changes arrive as [`Command`]s between frames.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use crossbeam_channel::{Receiver, TryRecvError};
use livestage_media::video::compose::{self, Canvas, Compositor, Fit};
use livestage_media::video::{Encoder, I420, Rgba, convert, encode};
use livestage_proto::push::{self, FailReason, Layout, UrlState};
use tokio::sync::mpsc;

use super::sound::Sound;
use super::viewer::Viewer;
use super::{Command, Context, Key, Report};
use crate::rtmp;

/// Starts the thread of push `key`.
pub(super) fn spawn(
    ctx: Context,
    key: Key,
    run: u64,
    layout: Layout,
    urls: Vec<String>,
    commands: Receiver<Command>,
    reports: mpsc::UnboundedSender<Report>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(format!("livestage-push-{run}"))
        .spawn(move || {
            let report = |url: &str, state| {
                let _ = reports.send(Report::State {
                    key: key.clone(),
                    run,
                    url: url.to_owned(),
                    state,
                });
            };
            let result = Worker::start(&ctx, &key, run, layout, &urls)
                .and_then(|worker| worker.run(&commands, &report));
            if let Err(e) = result {
                let _ = reports.send(Report::Ended {
                    key: key.clone(),
                    run,
                    error: format!("{e:#}"),
                });
            }
        })
        .map(drop)
}

struct Worker {
    viewer: Viewer,
    layout: Layout,
    compositor: Compositor,
    encoder: Encoder,
    sound: Sound,
    /// The layout's background image, converted once.
    background: Option<I420>,
    output: rtmp::Output,
    states: mpsc::UnboundedReceiver<rtmp::Report>,
    /// The AVC sequence header of the current encoder, once it made a keyframe.
    video_header: Option<Bytes>,
    /// Frames encoded since the last keyframe.
    since_key: u32,
    started: Instant,
}

impl Worker {
    fn start(
        ctx: &Context,
        key: &Key,
        run: u64,
        layout: Layout,
        urls: &[String],
    ) -> anyhow::Result<Self> {
        let user: String = format!("push.{run}.{}", key.1).chars().take(64).collect();
        let viewer = Viewer::join(ctx, &key.0, &user, u16::from(layout.audio.channels))?;
        viewer.subscribe_all(&layout);
        let (states_tx, states) = mpsc::unbounded_channel();
        let mut output =
            rtmp::Output::new(ctx.runtime.clone(), rtmp::Options::default(), states_tx);
        for url in urls {
            output.add(url);
        }
        let mut worker = Self {
            viewer,
            compositor: Compositor::new(canvas(&layout))?,
            encoder: Encoder::new(encoder_config(&layout)?)?,
            sound: Sound::new(&layout.audio)?,
            background: None,
            layout: layout.clone(),
            output,
            states,
            video_header: None,
            since_key: 0,
            started: Instant::now(),
        };
        let (watermark, background) = images(&layout)?;
        worker.compositor.set_watermark(watermark)?;
        worker.background = background;
        Ok(worker)
    }

    fn run(
        mut self,
        commands: &Receiver<Command>,
        report: &impl Fn(&str, UrlState),
    ) -> anyhow::Result<()> {
        let mut next = Instant::now();
        loop {
            loop {
                let command = match commands.try_recv() {
                    Ok(command) => command,
                    Err(TryRecvError::Empty) => break,
                    // The manager is gone: the server is stopping.
                    Err(TryRecvError::Disconnected) => return Ok(()),
                };
                match command {
                    Command::Stop => return Ok(()),
                    Command::Update {
                        layout,
                        add,
                        remove,
                    } => {
                        for url in &remove {
                            self.output.remove(url);
                        }
                        for url in &add {
                            self.output.add(url);
                        }
                        if let Some(layout) = layout
                            && let Err(e) = self.relayout(layout)
                        {
                            tracing::warn!("a push's new layout was not applied: {e:#}");
                        }
                    }
                }
            }
            if let Some(why) = self.viewer.poll(&self.layout) {
                anyhow::bail!("the push's viewer left the channel: {why}");
            }
            while let Ok((url, state)) = self.states.try_recv() {
                report(&url, url_state(state));
            }
            self.video()?;
            self.audio();
            next += Duration::from_secs_f64(1.0 / f64::from(self.layout.fps));
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else {
                next = now; // Behind: drop the lost time rather than rushing frames.
            }
        }
    }

    /// Composes and encodes one frame.
    fn video(&mut self) -> anyhow::Result<()> {
        let pictures: Vec<_> = self
            .layout
            .users
            .iter()
            .map(|r| self.viewer.picture(&r.user))
            .collect();
        let full = push::Rect {
            x: 0,
            y: 0,
            width: self.layout.width,
            height: self.layout.height,
        };
        let background = self
            .background
            .as_ref()
            .map(|b| compose::Layer::new(rect_region(&full).with_z(i32::MIN), Some(b)));
        let users =
            self.layout.users.iter().zip(&pictures).map(|(r, p)| {
                compose::Layer::new(region(r), p.as_ref().map(|f| f.picture.as_ref()))
            });
        let layers: Vec<compose::Layer> = background.into_iter().chain(users).collect();
        let canvas = self.compositor.compose(&layers)?;
        let ms = self.started.elapsed().as_millis() as u64;
        if self.since_key + 1 >= self.layout.gop {
            self.encoder.request_keyframe();
        }
        let Some(encoded) = self.encoder.encode(canvas, ms * 1000)? else {
            return Ok(());
        };
        if encoded.keyframe {
            self.since_key = 0;
            let header = rtmp::flv::sps_pps(&encoded.data)
                .and_then(|(sps, pps)| rtmp::flv::avc_sequence_header(sps, pps));
            if header.is_some() && header != self.video_header {
                self.video_header = header;
                self.publish_headers();
            }
        } else {
            self.since_key += 1;
        }
        if let Some(body) = rtmp::flv::avc_frame(&encoded.data, encoded.keyframe, 0) {
            self.output.send(rtmp::Tag::Video {
                ts_ms: ms as u32,
                keyframe: encoded.keyframe,
                body,
            });
        }
        Ok(())
    }

    /// Encodes the mixed voice that arrived since the last frame.
    fn audio(&mut self) {
        while let Ok(frame) = self.viewer.voice.try_recv() {
            let output = &self.output;
            self.sound.push(&frame, |ts_ms, au| {
                output.send(rtmp::Tag::Audio {
                    ts_ms,
                    body: rtmp::flv::aac_frame(&au),
                });
            });
        }
    }

    /// Applies a new layout: subscriptions, canvas, encoder and images; the URLs stay
    /// connected. The sound's format (rate, channels, bitrate) stays as the push started, so
    /// its timeline never restarts; only whose voices are mixed changes. A layout whose images
    /// cannot be read changes nothing.
    fn relayout(&mut self, mut layout: Layout) -> anyhow::Result<()> {
        let (watermark, background) = images(&layout)?;
        let old = std::mem::replace(&mut self.layout, layout.clone());
        layout.audio = push::Audio {
            users: layout.audio.users.clone(),
            ..old.audio.clone()
        };
        self.layout = layout;
        let layout = &self.layout;
        self.viewer.subscribe_all(layout);
        if (old.width, old.height, old.fps, old.bitrate_kbps)
            != (layout.width, layout.height, layout.fps, layout.bitrate_kbps)
        {
            self.encoder = Encoder::new(encoder_config(layout)?)?;
            self.since_key = 0;
        }
        self.compositor.set_canvas(canvas(layout))?;
        self.compositor.set_watermark(watermark)?;
        self.background = background;
        self.publish_headers();
        Ok(())
    }

    /// What every connection sends first: `onMetaData` and both sequence headers (once the
    /// encoder made its first keyframe).
    fn publish_headers(&self) {
        let Some(video) = self.video_header.clone() else {
            return;
        };
        let layout = &self.layout;
        let info = rtmp::flv::Info {
            width: layout.width,
            height: layout.height,
            fps: layout.fps as f32,
            video_bitrate_bps: layout.bitrate_kbps * 1000,
            audio_sample_rate: Some(layout.audio.sample_rate),
            audio_channels: u32::from(layout.audio.channels),
            audio_bitrate_bps: layout.audio.bitrate_kbps * 1000,
        };
        let audio = rtmp::flv::aac_sequence_header(&self.sound.config());
        self.output.set_headers(rtmp::Headers {
            info,
            video,
            audio: Some(audio),
        });
    }
}

fn canvas(layout: &Layout) -> Canvas {
    Canvas {
        width: layout.width,
        height: layout.height,
        background: layout.background,
    }
}

fn encoder_config(layout: &Layout) -> anyhow::Result<encode::Config> {
    encode::Config::new(
        layout.width,
        layout.height,
        layout.fps as f32,
        layout.bitrate_kbps * 1000,
    )
    .context("encoder settings")
}

fn rect_region(rect: &push::Rect) -> compose::Region {
    compose::Region::new(rect.x as i32, rect.y as i32, rect.width, rect.height)
}

fn region(r: &push::Region) -> compose::Region {
    let fit = match r.fit {
        push::Fit::Crop => Fit::Crop,
        push::Fit::Fit => Fit::Fit,
    };
    rect_region(&r.rect)
        .with_z(r.z)
        .with_alpha(f32::from(r.alpha) / 255.0)
        .with_fit(fit)
}

/// The layout's watermark and background image, decoded.
fn images(layout: &Layout) -> anyhow::Result<(Option<compose::Watermark>, Option<I420>)> {
    let watermark = match &layout.watermark {
        Some(mark) => Some(compose::Watermark {
            image: decode_png(&mark.png)?,
            region: rect_region(&mark.rect),
        }),
        None => None,
    };
    let background = match &layout.background_image {
        Some(png) => Some(convert::rgba_to_i420(&even(decode_png(png)?)?)),
        None => None,
    };
    Ok((watermark, background))
}

/// The picture cropped to even dimensions, as I420 needs.
fn even(rgba: Rgba) -> anyhow::Result<Rgba> {
    let (w, h) = rgba.size();
    if w % 2 == 0 && h % 2 == 0 {
        return Ok(rgba);
    }
    let (ew, eh) = (w & !1, h & !1);
    let data = rgba.data();
    let rows = (0..eh as usize).flat_map(|y| {
        let start = y * w as usize * 4;
        data[start..start + ew as usize * 4].iter().copied()
    });
    Ok(Rgba::from_data(ew, eh, rows.collect())?)
}

fn decode_png(png: &push::Png) -> anyhow::Result<Rgba> {
    let image = image::load_from_memory_with_format(&png.0, image::ImageFormat::Png)
        .context("a layout image is not a readable PNG")?
        .into_rgba8();
    let (w, h) = image.dimensions();
    Ok(Rgba::from_data(w, h, image.into_raw())?)
}

/// The RTMP sender's state as the wire reports it (messages cut to fit a control frame).
fn url_state(state: rtmp::UrlState) -> UrlState {
    let cut = |s: String| s.chars().take(MAX_MESSAGE).collect::<String>();
    match state {
        rtmp::UrlState::Connecting => UrlState::Connecting,
        rtmp::UrlState::Running => UrlState::Running,
        rtmp::UrlState::Recovering { attempt, reason } => UrlState::Recovering {
            attempt,
            reason: cut(reason),
        },
        rtmp::UrlState::Failed { reason, message } => UrlState::Failed {
            reason: match reason {
                rtmp::FailReason::BadUrl => FailReason::BadUrl,
                rtmp::FailReason::Refused => FailReason::Refused,
                rtmp::FailReason::Unreachable => FailReason::Unreachable,
                rtmp::FailReason::NotAllowed => FailReason::NotAllowed,
            },
            message: cut(message),
        },
        rtmp::UrlState::Stopped => UrlState::Stopped,
    }
}

/// Longest state message sent on (the URL and name fit beside it in a control frame).
const MAX_MESSAGE: usize = 300;
