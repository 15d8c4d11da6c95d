//! The party game: Werewolf or Murder Mystery on live video, with the stage as a Livestage
//! channel and the game's rules enforced by the server's hearing sets.
//!
//! ```text
//! cargo run --release --example party                      # a window, 8 bots, embedded server
//! cargo run --release --example party -- --mode mystery --play ada
//! cargo run --release --example party -- --headless --bots 8 --rounds 6 --report game.json
//! cargo run --release --example party -- --join CODE       # a second process takes a seat
//! cargo run --release --example party -- --share window:0x1e00004  # the narrator shows a window
//! ```
//!
//! Data flow: `narrator` (the moderator: rules, phase clock, hearing sets, stage roles) and
//! `seat` (each player in this process: avatar video, voice, a bot's choices or a person's)
//! talk only through data messages on the channel (`messages`), like remote players do;
//! `report` measures what each seat actually received; `ui` draws the stage.

mod lobby;
mod messages;
mod mystery;
mod narrator;
mod report;
mod rules;
mod seat;
mod share;
mod ui;
mod werewolf;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bevy::app::ScheduleRunnerPlugin;
use bevy::log::LogPlugin;
use bevy::prelude::*;
use bevy_livestage::RemoteServer;
use bevy_livestage::prelude::*;
use clap::Parser;

use crate::rules::Mode;

/// Werewolf or Murder Mystery on live video.
#[derive(Parser, Resource, Clone, Debug)]
#[command(name = "party")]
pub struct Options {
    /// Which game.
    #[arg(long, value_enum, default_value = "werewolf")]
    pub mode: Mode,
    /// Seats filled by bots (at least 4 players are needed).
    #[arg(long, default_value_t = 8)]
    pub bots: usize,
    /// Bot spectators; each raises a hand and is invited on stage by day.
    #[arg(long, default_value_t = 1)]
    pub spectators: usize,
    /// Take this seat as a person (vote with the buttons, speak into the microphone).
    #[arg(long, value_name = "SEAT")]
    pub play: Option<String>,
    /// No window: play a whole game with bots, print the log, exit.
    #[arg(long)]
    pub headless: bool,
    /// The game ends after this many rounds even without a winner.
    #[arg(long, default_value_t = 10)]
    pub rounds: u32,
    /// Seconds per phase (default: 20 in a window, 3 headless).
    #[arg(long)]
    pub phase_secs: Option<f32>,
    /// Write the JSON report here when the game ends.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Render `--frames` frames (and on until every player's video shows), save a screenshot
    /// here and exit.
    #[arg(long)]
    pub screenshot: Option<PathBuf>,
    /// Frames to render at least before the screenshot.
    #[arg(long, default_value_t = 240)]
    pub frames: u32,
    /// Play on a `livestage serve` at this address (with `--cert` and LIVESTAGE_SECRET).
    #[arg(long)]
    pub server: Option<SocketAddr>,
    /// The remote server's certificate: a PEM file or its `sha256:` fingerprint.
    #[arg(long)]
    pub cert: Option<String>,
    /// The remote server's app id (tokens are minted with LIVESTAGE_SECRET).
    #[arg(long, default_value = "livestage")]
    pub app: String,
    /// Join someone else's game: a join code the host printed, or the server's address
    /// (with `--token` and `--cert`).
    #[arg(long, value_name = "CODE|ADDR")]
    pub join: Option<String>,
    /// The token for `--join ADDR`.
    #[arg(long)]
    pub token: Option<String>,
    /// What happens to the seat of a player who disconnects mid-game.
    #[arg(long, value_enum, default_value = "bot")]
    pub on_disconnect: narrator::Vacancy,
    /// A tampered client in this seat: it claims another player's identity in its votes,
    /// subscribes to everyone at night, and keeps voting after it is out.
    #[arg(long, value_name = "SEAT")]
    pub tamper: Option<String>,
    /// Also write the join codes (user -> code) to this JSON file.
    #[arg(long)]
    pub codes: Option<PathBuf>,
    /// Serve the browser demo page on this loopback address (e.g. 127.0.0.1:8080) and print
    /// a link that watches the stage as a spectator (the embedded server takes browsers over
    /// WebTransport; build the page first: `npm --prefix web run build`).
    #[arg(long, value_name = "ADDR")]
    pub web: Option<std::net::SocketAddr>,
    /// The narrator shares a screen with everyone once on stage: `display`, `window:ID` (from
    /// `livestage screens`) or `region:X,Y,W,H`, optionally `@FPS`. Also from the narrator's
    /// controls.
    #[arg(long, value_name = "SPEC")]
    pub share: Option<bevy_livestage::screen::Share>,
    /// Seed for dealing roles and the bots' choices.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

impl Options {
    /// Seconds each phase lasts.
    pub fn phase_secs(&self) -> f32 {
        self.phase_secs
            .unwrap_or(if self.headless { 3.0 } else { 20.0 })
    }
}

/// The channel every game is played in.
pub const STAGE: &str = "party";

fn main() -> AppExit {
    let options = Options::parse();
    let livestage = match plugin_for(&options) {
        Ok(plugin) => plugin,
        Err(e) => {
            eprintln!("party: {e:#}");
            return AppExit::error();
        }
    };
    let mut app = App::new();
    if options.headless {
        let frame = Duration::from_secs_f64(1.0 / 60.0);
        app.add_plugins((
            MinimalPlugins.set(ScheduleRunnerPlugin::run_loop(frame)),
            AssetPlugin::default(),
            LogPlugin {
                filter: "warn".into(),
                ..default()
            },
        ))
        .init_asset::<Image>()
        .add_plugins(livestage.without_audio_device());
    } else {
        app.add_plugins((
            DefaultPlugins.set(WindowPlugin {
                primary_window: Some(Window {
                    title: "Livestage — party game".into(),
                    resolution: (1440, 900).into(),
                    ..default()
                }),
                ..default()
            }),
            livestage,
            ui::plugin,
        ));
    }
    app.insert_resource(options)
        .configure_sets(
            Update,
            (
                PartySystems::Seats,
                PartySystems::Narrator,
                PartySystems::Report,
            )
                .chain(),
        )
        .add_systems(Startup, lobby::setup)
        .add_plugins((
            seat::plugin,
            narrator::plugin,
            report::plugin,
            share::plugin,
        ))
        .run()
}

/// The game's systems in `Update`, in order: seats hear and act, the narrator rules, the
/// report measures what this frame's phase changes closed.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PartySystems {
    /// `seat`.
    Seats,
    /// `narrator`.
    Narrator,
    /// `report`.
    Report,
}

/// The embedded server, or the remote one from `--server` / `--join`.
fn plugin_for(options: &Options) -> anyhow::Result<LivestagePlugin> {
    if let Some(join) = &options.join {
        let invite = lobby::Invite::parse(join, options.token.as_deref(), options.cert.as_deref())?;
        return Ok(LivestagePlugin::remote(RemoteServer::new(
            invite.addr,
            invite.cert.into_bytes(),
        )));
    }
    let Some(addr) = options.server else {
        return Ok(LivestagePlugin::embedded());
    };
    let cert = options
        .cert
        .as_deref()
        .context("--server needs --cert (the server's PEM file or sha256: fingerprint)")?;
    Ok(LivestagePlugin::remote(RemoteServer::new(
        addr,
        lobby::read_cert(cert)?.into_bytes(),
    )))
}
