//! `livestage push`: asks a server to push its channel to RTMP URLs with a layout, as the
//! token's user (a moderator or a holder of the `push` grant), keeps it running for a while,
//! changes it on a schedule (`--update-layout`, `--add-url`, `--remove-url`, each timed by the
//! `--after` that follows it) and reports every URL's states.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use livestage_net::engine::{ConnectionState, EventKind};
use livestage_net::{Engine, JoinOptions};
use livestage_proto::push::{self, Layout, UrlState};
use livestage_proto::token;
use livestage_proto::wire::{Event, Role};
use serde::{Deserialize, Serialize};

/// Flags of `livestage push`.
#[derive(clap::Args)]
pub struct Args {
    /// Server UDP address.
    #[arg(long)]
    server: SocketAddr,
    /// PEM certificate to trust.
    #[arg(long)]
    cert: PathBuf,
    /// Access token (moderator or `push` grant); its channel is pushed.
    #[arg(long)]
    token: String,
    /// Name in the server certificate.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// An RTMP URL to push to; repeatable.
    #[arg(long = "url", required = true)]
    urls: Vec<String>,
    /// The layout, a JSON file: `width`, `height`, `fps`, `bitrate_kbps`, `gop`, `background`
    /// (`#rrggbb`), `background_image` and `watermark` (PNG paths), `users: [{user, x, y,
    /// width, height, z, alpha, fit}]`, `audio: {sample_rate, bitrate_kbps, channels, users}`.
    #[arg(long)]
    layout: PathBuf,
    /// The push's name in the channel.
    #[arg(long, default_value = "main")]
    name: String,
    /// Seconds to keep the push running before stopping it.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Write the JSON report here (it is also printed).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Change the layout to this file (timed by the `--after` that follows).
    #[arg(long = "update-layout", value_name = "FILE")]
    update_layout: Vec<PathBuf>,
    /// Start sending to this URL too (timed by the `--after` that follows).
    #[arg(long = "add-url", value_name = "URL")]
    add_url: Vec<String>,
    /// Stop sending to this URL (timed by the `--after` that follows).
    #[arg(long = "remove-url", value_name = "URL")]
    remove_url: Vec<String>,
    /// Seconds after the start at which the change named just before happens.
    #[arg(long = "after", value_name = "SECS")]
    after: Vec<f64>,
}

/// What the push did, as JSON.
#[derive(Debug, Default, Serialize)]
struct Report {
    joined: bool,
    /// Why the push could not run (a refusal or a lost connection).
    error: Option<String>,
    /// Each URL: every state in order, the last one and its failure if any.
    urls: BTreeMap<String, UrlReport>,
    /// The scheduled changes that were sent, as (seconds, what).
    changes: Vec<(f64, String)>,
}

#[derive(Debug, Default, Serialize)]
struct UrlReport {
    states: Vec<String>,
    last: String,
    /// `reason: message` of a failure.
    failure: Option<String>,
}

/// One scheduled change.
#[derive(Debug)]
enum Change {
    Layout(PathBuf),
    Add(String),
    Remove(String),
}

/// Runs the push.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let claims = token::peek(&args.token).context("the token cannot be read")?;
    let pem = std::fs::read(&args.cert)
        .with_context(|| format!("cannot read certificate {}", args.cert.display()))?;
    let layout = read_layout(&args.layout)?;
    let mut schedule = schedule(&args)?;
    let request = push::Request::Start {
        name: args.name.clone(),
        urls: args.urls.clone(),
        layout,
    };
    request.validate().map_err(anyhow::Error::msg)?;

    let engine = Engine::new()?;
    let channel = claims.ch.clone();
    let mut options = JoinOptions::new(args.server, &pem, &channel, &args.token, Role::Audience);
    options.server_name = args.server_name.clone();
    engine.join(options);
    let mut report = Report::default();
    let started = Instant::now();
    let stop_at = started + Duration::from_secs_f64(args.duration);
    let mut stopping: Option<Instant> = None;
    let mut start = Some(request);
    loop {
        let now = Instant::now();
        if stopping.is_none() && now >= stop_at {
            engine.push(
                &channel,
                push::Request::Stop {
                    name: args.name.clone(),
                },
            );
            stopping = Some(now);
        }
        let all_final = !report.urls.is_empty()
            && report
                .urls
                .values()
                .all(|u| matches!(u.last.as_str(), "stopped" | "failed"));
        if stopping.is_some_and(|t| all_final || now >= t + Duration::from_secs(3)) {
            break;
        }
        if report.error.is_some() || (start.is_none() && all_final && stopping.is_none()) {
            break;
        }
        while report.joined && schedule.first().is_some_and(|(at, _)| started + *at <= now) {
            let (at, change) = schedule.remove(0);
            report
                .changes
                .push((at.as_secs_f64(), format!("{change:?}")));
            engine.push(&channel, update(&args.name, change)?);
        }
        let Ok(event) = engine.events().recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        match event.kind {
            EventKind::Joined { .. } => {
                report.joined = true;
                if let Some(request) = start.take() {
                    engine.push(&channel, request);
                }
            }
            EventKind::State {
                state: ConnectionState::Disconnected,
                error,
            } => {
                report.error = Some(error.map_or("disconnected".into(), |e| e.to_string()));
            }
            EventKind::Server(Event::Refused { error, .. }) => {
                report.error = Some(error.to_string());
            }
            EventKind::LocalError(error) => report.error = Some(error.to_string()),
            EventKind::Server(Event::Push { name, url, state }) if name == args.name => {
                eprintln!("{url}: {}", describe(&state));
                let entry = report.urls.entry(url).or_default();
                entry.states.push(state.as_str().to_owned());
                entry.last = state.as_str().to_owned();
                if let UrlState::Failed { reason, message } = &state {
                    entry.failure = Some(format!("{}: {message}", reason.as_str()));
                }
            }
            _ => {}
        }
    }
    engine.leave(&channel);
    let json = serde_json::to_string_pretty(&report)?;
    println!("{json}");
    if let Some(path) = &args.report {
        std::fs::write(path, &json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(if report.joined && report.error.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn describe(state: &UrlState) -> String {
    match state {
        UrlState::Recovering { attempt, reason } => {
            format!("recovering (attempt {attempt}: {reason})")
        }
        UrlState::Failed { reason, message } => format!("failed ({}: {message})", reason.as_str()),
        other => other.as_str().to_owned(),
    }
}

fn update(name: &str, change: Change) -> anyhow::Result<push::Request> {
    let (mut layout, mut add, mut remove) = (None, Vec::new(), Vec::new());
    match change {
        Change::Layout(path) => layout = Some(read_layout(&path)?),
        Change::Add(url) => add.push(url),
        Change::Remove(url) => remove.push(url),
    }
    Ok(push::Request::Update {
        name: name.to_owned(),
        layout,
        add,
        remove,
    })
}

/// Pairs each change flag with the `--after` that follows it on the command line, in order.
fn schedule(args: &Args) -> anyhow::Result<Vec<(Duration, Change)>> {
    let (mut layouts, mut adds, mut removes) = (
        args.update_layout.iter(),
        args.add_url.iter(),
        args.remove_url.iter(),
    );
    let mut afters = args.after.iter();
    let mut out = Vec::new();
    let mut pending: Option<Change> = None;
    for arg in std::env::args() {
        let change = match arg.split('=').next().unwrap_or_default() {
            "--update-layout" => layouts.next().map(|p| Change::Layout(p.clone())),
            "--add-url" => adds.next().map(|u| Change::Add(u.clone())),
            "--remove-url" => removes.next().map(|u| Change::Remove(u.clone())),
            "--after" => {
                let Some(change) = pending.take() else {
                    bail!("--after must follow --update-layout, --add-url or --remove-url");
                };
                let secs = afters.next().copied().unwrap_or_default();
                if !secs.is_finite() || secs < 0.0 {
                    bail!("--after {secs} must be a number of seconds");
                }
                out.push((Duration::from_secs_f64(secs), change));
                continue;
            }
            _ => continue,
        };
        if let Some(unscheduled) = pending.replace(change.expect("clap counted this flag")) {
            bail!("{unscheduled:?} needs an --after SECS after it");
        }
    }
    if let Some(unscheduled) = pending {
        bail!("{unscheduled:?} needs an --after SECS after it");
    }
    out.sort_by_key(|(at, _)| *at);
    Ok(out)
}

/// The layout file's shape (flat regions, colours as `#rrggbb`, alpha 0.0 to 1.0, images as
/// paths).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LayoutFile {
    width: u32,
    height: u32,
    #[serde(default = "default_fps")]
    fps: u32,
    #[serde(default = "default_bitrate")]
    bitrate_kbps: u32,
    #[serde(default = "default_gop")]
    gop: u32,
    #[serde(default = "default_background")]
    background: String,
    background_image: Option<PathBuf>,
    watermark: Option<WatermarkFile>,
    #[serde(default)]
    users: Vec<RegionFile>,
    #[serde(default)]
    audio: Option<AudioFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionFile {
    user: String,
    x: u32,
    y: u32,
    width: u32,
    height: u32,
    #[serde(default)]
    z: i32,
    #[serde(default = "default_alpha")]
    alpha: f32,
    #[serde(default)]
    fit: push::Fit,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WatermarkFile {
    image: PathBuf,
    x: u32,
    y: u32,
    width: u32,
    height: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AudioFile {
    #[serde(default = "default_rate")]
    sample_rate: u32,
    #[serde(default = "default_audio_bitrate")]
    bitrate_kbps: u32,
    #[serde(default = "default_channels")]
    channels: u8,
    users: Option<Vec<String>>,
}

fn default_fps() -> u32 {
    Layout::default().fps
}
fn default_bitrate() -> u32 {
    Layout::default().bitrate_kbps
}
fn default_gop() -> u32 {
    Layout::default().gop
}
fn default_background() -> String {
    "#000000".into()
}
fn default_alpha() -> f32 {
    1.0
}
fn default_rate() -> u32 {
    push::Audio::default().sample_rate
}
fn default_audio_bitrate() -> u32 {
    push::Audio::default().bitrate_kbps
}
fn default_channels() -> u8 {
    push::Audio::default().channels
}

/// Reads and checks a layout file.
pub fn read_layout(path: &Path) -> anyhow::Result<Layout> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read layout {}", path.display()))?;
    let file: LayoutFile = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid layout", path.display()))?;
    let png = |p: &Path| -> anyhow::Result<push::Png> {
        Ok(push::Png(
            std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?,
        ))
    };
    let mut users = Vec::new();
    for r in file.users {
        if !(0.0..=1.0).contains(&r.alpha) {
            bail!("user {:?}: alpha {} must be 0.0 to 1.0", r.user, r.alpha);
        }
        users.push(push::Region {
            user: r.user,
            rect: push::Rect {
                x: r.x,
                y: r.y,
                width: r.width,
                height: r.height,
            },
            z: r.z,
            alpha: (r.alpha * 255.0).round() as u8,
            fit: r.fit,
        });
    }
    let audio = file
        .audio
        .map_or_else(push::Audio::default, |a| push::Audio {
            sample_rate: a.sample_rate,
            bitrate_kbps: a.bitrate_kbps,
            channels: a.channels,
            users: a.users,
        });
    let layout = Layout {
        width: file.width,
        height: file.height,
        fps: file.fps,
        bitrate_kbps: file.bitrate_kbps,
        gop: file.gop,
        background: parse_colour(&file.background)?,
        background_image: file.background_image.as_deref().map(png).transpose()?,
        users,
        watermark: match file.watermark {
            Some(w) => Some(push::Image {
                png: png(&w.image)?,
                rect: push::Rect {
                    x: w.x,
                    y: w.y,
                    width: w.width,
                    height: w.height,
                },
            }),
            None => None,
        },
        audio,
    };
    layout
        .validate()
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message))?;
    Ok(layout)
}

fn parse_colour(text: &str) -> anyhow::Result<[u8; 3]> {
    let hex = text.strip_prefix('#').unwrap_or(text);
    let ok = hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit());
    if !ok {
        bail!("colour {text:?} must be #rrggbb");
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).context("hex digit");
    Ok([byte(0)?, byte(2)?, byte(4)?])
}
