//! `livestage inject`: asks a server to publish a live RTMP stream or a file on the server into
//! the token's channel as the host `inject-<name>` (the token's user must be a moderator),
//! keeps it running for a while and reports its states.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use livestage_net::engine::{ConnectionState, EventKind};
use livestage_net::{Engine, JoinOptions};
use livestage_proto::inject::{self, Options};
use livestage_proto::push::UrlState;
use livestage_proto::token;
use livestage_proto::wire::{Event, Role};
use serde::Serialize;

/// Flags of `livestage inject`.
#[derive(clap::Args)]
pub struct Args {
    /// Server UDP address.
    #[arg(long)]
    server: SocketAddr,
    /// PEM certificate to trust.
    #[arg(long)]
    cert: PathBuf,
    /// Access token (moderator); the stream is injected into its channel.
    #[arg(long)]
    token: String,
    /// Name in the server certificate.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// What to inject: an `rtmp://` URL, or a path on the server (MP4, Matroska or FLV with
    /// H.264), on the server's `[inject]` allow-list.
    #[arg(long)]
    source: String,
    /// Play the file again from the start when it ends.
    #[arg(long = "loop")]
    looped: bool,
    /// The inject's name; it publishes as `inject-<name>`.
    #[arg(long, default_value = "stream")]
    name: String,
    /// Volume in percent (0 to 100).
    #[arg(long, default_value_t = 100)]
    volume: u8,
    /// Re-encode at this size, `WIDTHxHEIGHT` (otherwise the H.264 is forwarded when it can).
    #[arg(long)]
    size: Option<String>,
    /// Re-encode at this frame rate.
    #[arg(long)]
    fps: Option<u8>,
    /// Seconds to keep the inject running before stopping it (it also ends with its file).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Write the JSON report here (it is also printed).
    #[arg(long)]
    report: Option<PathBuf>,
}

/// What the inject did, as JSON.
#[derive(Debug, Default, Serialize)]
struct Report {
    joined: bool,
    /// Why the request could not be made (a refusal or a lost connection).
    error: Option<String>,
    /// Every state in order.
    states: Vec<String>,
    /// The last state.
    last: String,
    /// `reason: message` of a failure.
    failure: Option<String>,
}

/// Runs the inject.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let claims = token::peek(&args.token).context("the token cannot be read")?;
    let pem = std::fs::read(&args.cert)
        .with_context(|| format!("cannot read certificate {}", args.cert.display()))?;
    let size = args.size.as_deref().map(parse_size).transpose()?;
    let request = inject::Request::Start {
        name: args.name.clone(),
        source: args.source.clone(),
        options: Options {
            volume: args.volume,
            looped: args.looped,
            size,
            fps: args.fps,
        },
    };
    request.validate().map_err(anyhow::Error::msg)?;

    let engine = Engine::new()?;
    let channel = claims.ch.clone();
    let mut options = JoinOptions::new(args.server, &pem, &channel, &args.token, Role::Audience);
    options.server_name = args.server_name.clone();
    engine.join(options);
    let mut report = Report::default();
    let stop_at = Instant::now() + Duration::from_secs_f64(args.duration);
    let mut stopping: Option<Instant> = None;
    let mut start = Some(request);
    let is_final = |last: &str| matches!(last, "stopped" | "failed");
    loop {
        let now = Instant::now();
        if is_final(&report.last) || report.error.is_some() {
            break;
        }
        if stopping.is_none() && now >= stop_at {
            let stop = inject::Request::Stop {
                name: args.name.clone(),
            };
            engine.inject(&channel, stop);
            stopping = Some(now);
        }
        if stopping.is_some_and(|t| now >= t + Duration::from_secs(3)) {
            break;
        }
        let Ok(event) = engine.events().recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        match event.kind {
            EventKind::Joined { .. } => {
                report.joined = true;
                if let Some(request) = start.take() {
                    engine.inject(&channel, request);
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
            EventKind::Server(Event::Inject { name, state }) if name == args.name => {
                eprintln!("{}: {}", inject::user_of(&name), state.as_str());
                report.states.push(state.as_str().to_owned());
                report.last = state.as_str().to_owned();
                if let UrlState::Failed { reason, message } = &state {
                    report.failure = Some(format!("{}: {message}", reason.as_str()));
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
    let ok = report.joined && report.error.is_none() && report.failure.is_none();
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn parse_size(text: &str) -> anyhow::Result<(u32, u32)> {
    let Some((w, h)) = text.split_once('x') else {
        bail!("--size {text:?} must be WIDTHxHEIGHT");
    };
    Ok((w.parse()?, h.parse()?))
}
