//! Remote video tiles uploaded as RGBA (converted on the main thread) or as YUV planes that a
//! shader converts on the GPU: the rendered test compares the two paths' pictures, and
//! `--measure` reports what each costs the main thread.
//!
//! Bots on the embedded server each publish one still, stamped test-pattern picture, pushed
//! `--fps` times a second (every run shows the same picture, and encoding a still is cheap, so
//! many large streams fit on a small machine). Tiles sit in a grid, at their own size when it
//! fits:
//! `cargo run -p bevy_livestage --example video_upload -- [--upload rgba|yuv] [--bots N]
//! [--size WxH] [--fps N] [--screenshot FILE --frames N] [--measure SECONDS]`
//!
//! `--measure S` waits until every bot's video is on screen, warms up for 3 s, measures for S
//! seconds, prints one Markdown table row (the columns of BENCHMARKS.md's "Remote video upload"
//! section) and exits.

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy::render::RenderApp;
use bevy_livestage::UploadTimings;
use bevy_livestage::prelude::*;
use livestage_media::video::{CustomSource, TestPattern};
use livestage_net::engine::now_us;
use livestage_net::publish::{Video, VideoSource};

const CHANNEL: &str = "stage";
const WINDOW: UVec2 = UVec2::new(1280, 720);
/// The still picture's stamp.
const FRAME: u64 = 7;
const CAPTURE_US: u64 = 1_700_000_000_000_000;
const WARM_UP: Duration = Duration::from_secs(3);

/// `--size`, `--fps` and `--measure`.
#[derive(Resource, Clone, Copy, Debug)]
struct Settings {
    size: UVec2,
    fps: f32,
    measure: Option<Duration>,
}

fn main() {
    let mut settings = Settings {
        size: UVec2::new(320, 240),
        fps: 15.0,
        measure: None,
    };
    let options = support::Options::from_args_with(
        1,
        "[--size WxH] [--fps N] [--measure SECONDS]",
        |flag, value| match flag {
            "--size" => parse_size(value).map(|s| settings.size = s).is_some(),
            "--fps" => value.parse().map(|f| settings.fps = f).is_ok(),
            "--measure" => value
                .parse()
                .map(|s| settings.measure = Some(Duration::from_secs_f64(s)))
                .is_ok(),
            _ => false,
        },
    );
    let mut app = App::new();
    app.add_plugins((
        DefaultPlugins.set(WindowPlugin {
            primary_window: Some(Window {
                title: "Livestage — video upload".into(),
                resolution: WINDOW.into(),
                ..default()
            }),
            ..default()
        }),
        LivestagePlugin::embedded()
            .without_audio_device()
            .with_video_upload(options.upload),
        support::screenshot_plugin,
    ))
    .insert_resource(options)
    .insert_resource(settings)
    .insert_resource(ClearColor(Color::srgb(0.08, 0.08, 0.1)))
    .add_systems(Startup, setup)
    .add_systems(Update, (spawn_tiles, layout_tiles).chain());
    if settings.measure.is_some() {
        app.add_plugins(Meter);
    }
    app.run();
}

fn parse_size(value: &str) -> Option<UVec2> {
    let (w, h) = value.split_once('x')?;
    Some(UVec2::new(w.parse().ok()?, h.parse().ok()?))
}

fn setup(
    mut commands: Commands,
    livestage: Res<Livestage>,
    options: Res<support::Options>,
    settings: Res<Settings>,
) {
    commands.spawn(Camera2d);
    let stage = commands.spawn(Channel::new(CHANNEL)).id();
    match livestage.token(CHANNEL, "viewer", grants::AUDIENCE, 3600) {
        Ok(token) => commands.trigger(Join::audience(stage, token)),
        Err(e) => error!("no token: {e:#}"),
    }
    let Settings { size, fps, .. } = *settings;
    let still = match TestPattern::new(size.x, size.y) {
        Ok(pattern) => pattern.frame(FRAME, CAPTURE_US),
        Err(e) => {
            error!("--size {}x{}: {e}", size.x, size.y);
            return;
        }
    };
    let bots = support::start_bots_with(&livestage, CHANNEL, options.bots, |_| {
        let (source, sender) = match CustomSource::new(size.x, size.y) {
            Ok(pair) => pair,
            Err(e) => {
                error!("{e}");
                return (None, None);
            }
        };
        // Pushes the still until the publisher stops (it drops the source).
        let still = still.clone();
        std::thread::spawn(move || {
            while !sender.is_closed() {
                let _ = sender.push_i420(still.clone(), now_us());
                std::thread::sleep(Duration::from_secs_f32(1.0 / fps));
            }
        });
        (Some(Video::new(VideoSource::Custom(source), fps)), None)
    });
    commands.insert_resource(bots);
}

/// A sprite showing a track's video.
#[derive(Component)]
struct Tile(Entity);

fn spawn_tiles(mut commands: Commands, new: Query<(Entity, &RemoteVideo), Added<RemoteVideo>>) {
    for (track, video) in &new {
        commands.spawn((
            Sprite::from_image(video.image.clone()),
            Tile(track),
            ShowsVideo(track),
        ));
    }
}

/// A grid filling the window; each tile at its picture's size, scaled down only to fit.
fn layout_tiles(
    mut tiles: Query<(Entity, &Tile, &mut Sprite, &mut Transform)>,
    videos: Query<&RemoteVideo>,
) {
    let count = tiles.iter().count() as u32;
    if count == 0 {
        return;
    }
    let columns = (count as f32).sqrt().ceil() as u32;
    let rows = count.div_ceil(columns);
    let cell = Vec2::new((WINDOW.x / columns) as f32, (WINDOW.y / rows) as f32);
    let mut sorted: Vec<_> = tiles.iter_mut().collect();
    sorted.sort_by_key(|(e, ..)| *e);
    for (index, (_, tile, mut sprite, mut transform)) in sorted.into_iter().enumerate() {
        let Ok(video) = videos.get(tile.0) else {
            continue;
        };
        let picture = video.size.as_vec2();
        let scale = ((cell - 4.0) / picture).min_element().min(1.0);
        // Even sizes at whole-pixel centres, so a tile at scale 1 maps texels to pixels.
        let size = (picture * scale / 2.0).floor() * 2.0;
        sprite.custom_size = Some(size);
        let (column, row) = (index as u32 % columns, index as u32 / columns);
        let centre = Vec2::new(
            (column as f32 + 0.5) * cell.x - WINDOW.x as f32 / 2.0,
            WINDOW.y as f32 / 2.0 - (row as f32 + 0.5) * cell.y,
        )
        .round();
        transform.translation = centre.extend(0.0);
    }
}

/// `--measure`: what the main thread pays per frame, printed as a table row.
struct Meter;

/// Time spent extracting into the render world (on the main thread), in nanoseconds.
#[derive(Resource, Clone, Default)]
struct ExtractNanos(Arc<AtomicU64>);

#[derive(Resource, Default)]
struct Measurement {
    /// When every bot's video was first on screen.
    all_shown: Option<Instant>,
    /// Start of the measured window, with the counters then.
    start: Option<(Instant, UploadTimings, u64, Duration)>,
    frame_start: Option<Instant>,
    /// The main schedule's duration (`First` to `Last`) of each measured frame.
    schedule: Vec<Duration>,
}

impl Plugin for Meter {
    fn build(&self, app: &mut App) {
        app.init_resource::<ExtractNanos>()
            .init_resource::<Measurement>()
            .add_systems(First, frame_started)
            .add_systems(Last, frame_ended)
            .add_systems(Update, measure);
    }

    /// Wraps the render world's extraction, which runs on the main thread between frames.
    fn finish(&self, app: &mut App) {
        let nanos = app.world().resource::<ExtractNanos>().0.clone();
        let Some(render) = app.get_sub_app_mut(RenderApp) else {
            return;
        };
        let Some(mut extract) = render.take_extract() else {
            return;
        };
        render.set_extract(move |main, render| {
            let started = Instant::now();
            extract(main, render);
            nanos.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        });
    }
}

fn frame_started(mut measurement: ResMut<Measurement>) {
    measurement.frame_start = Some(Instant::now());
}

fn frame_ended(mut measurement: ResMut<Measurement>) {
    if measurement.start.is_some()
        && let Some(started) = measurement.frame_start
    {
        measurement.schedule.push(started.elapsed());
    }
}

fn measure(
    mut measurement: ResMut<Measurement>,
    options: Res<support::Options>,
    settings: Res<Settings>,
    upload: Res<VideoUpload>,
    timings: Res<UploadTimings>,
    extract: Res<ExtractNanos>,
    videos: Query<&RemoteVideo>,
    mut exit: MessageWriter<AppExit>,
) {
    let Some(length) = settings.measure else {
        return;
    };
    let now = Instant::now();
    let shown = videos.iter().filter(|v| v.written > 0).count();
    let Some(all_shown) = measurement.all_shown else {
        if shown >= options.bots {
            measurement.all_shown = Some(now);
        }
        return;
    };
    let Some((start, timings0, extract0, cpu0)) = measurement.start else {
        if now - all_shown >= WARM_UP {
            let nanos = extract.0.load(Ordering::Relaxed);
            measurement.start = Some((now, *timings, nanos, process_cpu()));
        }
        return;
    };
    let elapsed = now - start;
    if elapsed < length {
        return;
    }
    let frames = measurement.schedule.len().max(1) as f64;
    let pictures = timings.pictures - timings0.pictures;
    let upload_total = timings.total - timings0.total;
    let extract_total = extract.0.load(Ordering::Relaxed) - extract0;
    let cpu = process_cpu() - cpu0;
    let mut schedule = measurement.schedule.clone();
    schedule.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let percentile = |p: f64| {
        schedule
            .get(((schedule.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or_default()
    };
    let path = match *upload {
        VideoUpload::Rgba => "RGBA",
        VideoUpload::YuvShader => "YUV shader",
    };
    println!(
        "| {} | {}x{} | {path} | {:.0} | {:.3} ms | {:.3} ms | {:.2} ms | {:.1} / {:.1} ms | {:.1} | {:.0}% |",
        options.bots,
        settings.size.x,
        settings.size.y,
        pictures as f64 / elapsed.as_secs_f64(),
        ms(upload_total) / pictures.max(1) as f64,
        ms(upload_total) / frames,
        extract_total as f64 / 1e6 / frames,
        ms(percentile(0.5)),
        ms(percentile(0.95)),
        frames / elapsed.as_secs_f64(),
        cpu.as_secs_f64() / elapsed.as_secs_f64() * 100.0,
    );
    exit.write(AppExit::Success);
}

/// CPU time of this process so far (user + system, all threads; lavapipe included), from
/// `/proc/self/stat` at 100 ticks a second.
fn process_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the parenthesised name: state is the first; utime and stime the 12th and
    // 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}
