//! Shared by the examples: `--screenshot FILE --frames N` (render N frames, save a screenshot,
//! exit) and in-process bots that publish test patterns on the embedded server.
// Each example uses part of this module.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, save_to_disk};
use bevy_livestage::prelude::*;
use livestage_net::Engine;
use livestage_net::engine::JoinOptions;
use livestage_net::publish::{AudioSource, Publisher, Video, VideoSource};

/// Command-line options every example accepts.
#[derive(Resource, Clone, Debug, Default)]
pub struct Options {
    /// Save a screenshot here after `frames` frames, then exit.
    pub screenshot: Option<PathBuf>,
    /// Frames to render before the screenshot.
    pub frames: u32,
    /// Bots to start.
    pub bots: usize,
    /// How remote video reaches its textures.
    pub upload: VideoUpload,
}

impl Options {
    /// Parses `--screenshot FILE --frames N --bots N --upload rgba|yuv`; exits with a usage
    /// line on anything else.
    pub fn from_args(default_bots: usize) -> Self {
        Self::from_args_with(default_bots, "", |_, _| false)
    }

    /// The same, passing every other `--flag value` pair to `extra`, which returns whether it
    /// took it; `usage` describes those flags.
    pub fn from_args_with(
        default_bots: usize,
        usage: &str,
        mut extra: impl FnMut(&str, &str) -> bool,
    ) -> Self {
        let mut options = Options {
            screenshot: None,
            frames: 120,
            bots: default_bots,
            upload: VideoUpload::Rgba,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let value = args.next();
            let parsed = match (arg.as_str(), value) {
                ("--screenshot", Some(v)) => {
                    options.screenshot = Some(v.into());
                    true
                }
                ("--frames", Some(v)) => v.parse().map(|n| options.frames = n).is_ok(),
                ("--bots", Some(v)) => v.parse().map(|n| options.bots = n).is_ok(),
                ("--upload", Some(v)) => match v.as_str() {
                    "rgba" => {
                        options.upload = VideoUpload::Rgba;
                        true
                    }
                    "yuv" => {
                        options.upload = VideoUpload::YuvShader;
                        true
                    }
                    _ => false,
                },
                (flag, Some(v)) => extra(flag, &v),
                _ => false,
            };
            if !parsed {
                eprintln!(
                    "usage: [--screenshot FILE --frames N] [--bots N] [--upload rgba|yuv] {usage}"
                );
                std::process::exit(2);
            }
        }
        options
    }
}

/// Adds the `--screenshot` behaviour.
pub fn screenshot_plugin(app: &mut App) {
    app.add_systems(Update, screenshot_and_exit);
}

fn screenshot_and_exit(
    mut commands: Commands,
    options: Res<Options>,
    mut frames: Local<u32>,
    mut exit: MessageWriter<AppExit>,
) {
    let Some(path) = &options.screenshot else {
        return;
    };
    *frames += 1;
    if *frames == options.frames {
        commands
            .spawn(Screenshot::primary_window())
            .observe(save_to_disk(path.clone()));
    }
    // The screenshot is written a few frames after it is asked for.
    if *frames > options.frames && path.exists() {
        info!("saved {}", path.display());
        exit.write(AppExit::Success);
    }
    if *frames > options.frames + 600 {
        error!("the screenshot was never written");
        exit.write(AppExit::error());
    }
}

/// A bot: its own engine on its own thread, joined as a host, publishing a test pattern and
/// a tone, answering keyframe requests. Stops when dropped.
pub struct Bot {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Bot {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Running bots, kept as a resource so they live as long as the app.
#[derive(Resource)]
pub struct Bots(pub Vec<Bot>);

/// Starts `count` bots in `channel` on the embedded server, each publishing a 320x180 test
/// pattern at 15 fps.
pub fn start_bots(livestage: &Livestage, channel: &str, count: usize) -> Bots {
    start_bots_with(livestage, channel, count, |i| {
        let video = Video::new(
            VideoSource::TestPattern {
                width: 320,
                height: 180,
                textured: false,
            },
            15.0,
        );
        (Some(video), Some(AudioSource::Tone(220.0 * (i + 2) as f32)))
    })
}

/// Starts `count` bots in `channel` on the embedded server, bot `i` publishing `media(i)`
/// (video, audio).
pub fn start_bots_with(
    livestage: &Livestage,
    channel: &str,
    count: usize,
    media: impl Fn(usize) -> (Option<Video>, Option<AudioSource>),
) -> Bots {
    Bots(
        (0..count)
            .filter_map(|i| {
                let (video, audio) = media(i);
                let user = format!("bot-{}", i + 1);
                start_bot(
                    livestage,
                    channel,
                    &user,
                    grants::HOST,
                    video,
                    audio,
                    |_| {},
                )
            })
            .collect(),
    )
}

/// Starts one bot `user` in `channel` on the embedded server with `grants`, publishing `video`
/// and `audio`; `joined` gets its engine once it asked to join (to send more requests).
pub fn start_bot(
    livestage: &Livestage,
    channel: &str,
    user: &str,
    grants: &str,
    video: Option<Video>,
    audio: Option<AudioSource>,
    joined: impl FnOnce(&Engine),
) -> Option<Bot> {
    let server = livestage.server()?;
    let token = livestage.token(channel, user, grants, 3600).ok()?;
    let engine = Arc::new(Engine::new().ok()?);
    let mut options = JoinOptions::new(server.addr, &server.cert_pem, channel, &token, Role::Host);
    options.server_name = server.server_name.clone();
    engine.join(options);
    joined(&engine);
    let publisher = Publisher::start(engine.clone(), channel, video, audio).ok()?;
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(event) = engine.events().recv_timeout(Duration::from_millis(100)) {
                    publisher.handle(&event.kind);
                }
            }
            let _ = publisher.stop();
        })
    };
    Some(Bot {
        stop,
        thread: Some(thread),
    })
}
