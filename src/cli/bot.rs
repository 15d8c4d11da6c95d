//! `livestage bot`: a headless participant. It joins, sends what it is asked to, checks what
//! it receives (order, duplicates) and writes a JSON report.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use livestage_net::engine::{ConnectionState, EventKind};
use livestage_proto::wire::Participant;

use super::bot_media::{AudioReport, Publish, Publisher, Verifier, VideoReport, by_user};
use livestage_net::{Engine, JoinOptions};
use livestage_proto::token;
use livestage_proto::wire::{Event, Role};
use serde::Serialize;

/// Flags of `livestage bot`.
#[derive(clap::Args)]
pub struct Args {
    /// Server UDP address.
    #[arg(long)]
    server: SocketAddr,
    /// PEM certificate to trust (the dev server writes livestage-dev-cert.pem).
    #[arg(long)]
    cert: PathBuf,
    /// Access token; its channel is joined.
    #[arg(long)]
    token: String,
    /// Role to ask for.
    #[arg(long, value_enum, default_value = "audience")]
    role: RoleArg,
    /// Send this many data messages (paced under the server's rate limit).
    #[arg(long, default_value_t = 0)]
    send_data: u64,
    /// Bytes per data message (at least 8).
    #[arg(long, default_value_t = 32)]
    data_size: usize,
    /// Send data as fast as asked, ignoring the rate limit (to test the server's limit).
    #[arg(long)]
    no_pacing: bool,
    /// Stop early once this many data messages have been received (and all were sent).
    #[arg(long)]
    wait_data: Option<u64>,
    /// Seconds to stay in the channel at most.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Name in the server certificate.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// Write the JSON report here (it is also printed).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Publish media as a host: `video=testpattern:1280x720@30,audio=tone:440`.
    #[arg(long)]
    publish: Option<String>,
    /// Also publish a low video layer (a quarter of the area).
    #[arg(long)]
    dual: bool,
    /// Receive the low video layer of every publisher instead of the high one.
    #[arg(long)]
    low: bool,
}

/// Role flag values.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    /// On stage.
    Host,
    /// Watching.
    Audience,
}

/// The JSON report.
#[derive(Serialize, Default)]
pub struct Report {
    joined: bool,
    error: Option<ErrorReport>,
    user: String,
    channel: String,
    role: Option<&'static str>,
    peers: BTreeSet<String>,
    data: DataReport,
    reconnects: u32,
    join_ms: Option<u64>,
    video: BTreeMap<String, VideoReport>,
    audio: BTreeMap<String, AudioReport>,
    published: Published,
    /// The last audio loss subscribers reported to this publisher (its FEC setting).
    fec_loss_percent: Option<u8>,
}

#[derive(Serialize, Default)]
struct Published {
    video_frames: u64,
    audio_frames: u64,
}

#[derive(Serialize)]
struct ErrorReport {
    code: String,
    message: String,
}

#[derive(Serialize, Default)]
struct DataReport {
    sent: u64,
    refused: u64,
    received: u64,
    in_order: bool,
    duplicates: u64,
    from: BTreeMap<String, u64>,
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Host => "host",
        Role::Audience => "audience",
    }
}

/// Runs the bot; exit code 1 when it could not do what it was asked.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let pem = std::fs::read(&args.cert)
        .with_context(|| format!("cannot read certificate {}", args.cert.display()))?;
    let claims = token::peek(&args.token)?;
    let role = match args.role {
        RoleArg::Host => Role::Host,
        RoleArg::Audience => Role::Audience,
    };
    let mut options = JoinOptions::new(args.server, &pem, &claims.ch, &args.token, role);
    options.server_name = args.server_name.clone();
    options.pace_data = !args.no_pacing;

    let publish = args.publish.as_deref().map(Publish::parse).transpose()?;
    let engine = Arc::new(Engine::new()?);
    let started = Instant::now();
    let verifier = Verifier::start(engine.clone(), started);
    let mut publisher: Option<Publisher> = None;
    let mut media_users: HashMap<u64, String> = HashMap::new();
    let mut learn = |p: &Participant, engine: &Engine| {
        if media_users.insert(p.media_id, p.user.clone()).is_none() && args.low {
            engine.subscribe(
                &claims.ch,
                &p.user,
                true,
                Some(livestage_proto::media::Layer::Low),
            );
        }
    };
    let deadline = started + Duration::from_secs_f64(args.duration);
    engine.join(options);

    let mut report = Report {
        user: claims.sub.clone(),
        channel: claims.ch.clone(),
        ..Report::default()
    };
    report.data.in_order = true;
    let mut last_seq: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    let mut sending_done = args.send_data == 0;
    let mut ended = false;

    while !ended {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let done_receiving = args.wait_data.is_some_and(|n| report.data.received >= n);
        if report.joined && sending_done && done_receiving {
            break;
        }
        let Ok(event) = engine.events().recv_timeout(deadline - now) else {
            break;
        };
        match event.kind {
            EventKind::State {
                state: ConnectionState::Disconnected,
                error,
            } => {
                if let Some(e) = error {
                    report.error = Some(ErrorReport {
                        code: e.code.to_string(),
                        message: e.message,
                    });
                }
                ended = true;
            }
            EventKind::State { .. } => {}
            EventKind::Joined {
                me, peers, resumed, ..
            } => {
                for p in &peers {
                    learn(p, &engine);
                }
                report.peers.extend(peers.into_iter().map(|p| p.user));
                if let (Some(spec), None, Role::Host) = (&publish, &publisher, me.role) {
                    publisher = Some(spec.start(engine.clone(), &claims.ch, args.dual)?);
                }
                report.role = Some(role_name(me.role));
                if resumed {
                    report.reconnects += 1;
                } else {
                    report.joined = true;
                    report.join_ms = Some(started.elapsed().as_millis() as u64);
                    for n in 0..args.send_data {
                        let mut payload = vec![0u8; args.data_size.max(8)];
                        payload[..8].copy_from_slice(&n.to_be_bytes());
                        engine.send_data(&claims.ch, Vec::new(), payload);
                    }
                    report.data.sent = args.send_data;
                    sending_done = true;
                }
            }
            EventKind::Server(event) => {
                match &event {
                    Event::PeerJoined(p) | Event::RoleChanged { participant: p, .. } => {
                        learn(p, &engine)
                    }
                    Event::Roster(all) => all.iter().for_each(|p| learn(p, &engine)),
                    Event::KeyframeRequest { .. } | Event::AudioLoss { .. } => {
                        if let Some(p) = &publisher {
                            p.handle(&EventKind::Server(event.clone()));
                        }
                        if let Event::AudioLoss { percent } = &event {
                            report.fec_loss_percent = Some(*percent);
                        }
                    }
                    _ => {}
                }
                on_server_event(event, &claims.sub, &mut report, &mut last_seq)
            }
            EventKind::LocalError(e) => {
                report.data.refused += 1;
                report.error.get_or_insert(ErrorReport {
                    code: e.code.to_string(),
                    message: e.message,
                });
            }
        }
    }
    if !ended {
        engine.leave(&claims.ch);
        // Wait briefly for the leave to be acknowledged, so peers see a clean departure.
        let until = Instant::now() + Duration::from_secs(10);
        while let Ok(event) = engine
            .events()
            .recv_timeout(until.saturating_duration_since(Instant::now()))
        {
            if matches!(
                event.kind,
                EventKind::State {
                    state: ConnectionState::Disconnected,
                    ..
                }
            ) {
                break;
            }
        }
    }
    report.data.sent = report.data.sent.saturating_sub(report.data.refused);
    let mut media_ok = true;
    if let Some(p) = publisher {
        report.published.video_frames = p.video_frames.load(Ordering::Relaxed);
        report.published.audio_frames = p.audio_frames.load(Ordering::Relaxed);
        if let Err(e) = p.stop() {
            media_ok = false;
            report.error.get_or_insert(ErrorReport {
                code: "media_error".into(),
                message: format!("{e:#}"),
            });
        }
    } else if publish.is_some() {
        media_ok = false; // Asked to publish but never became a host.
    }
    let (videos, audios) = verifier.finish();
    report.video = by_user(&videos, &media_users);
    report.audio = by_user(&audios, &media_users);

    let json = serde_json::to_string_pretty(&report)?;
    println!("{json}");
    if let Some(path) = &args.report {
        std::fs::write(path, &json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let ok =
        report.joined && report.error.is_none() && report.data.sent == args.send_data && media_ok;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn on_server_event(
    event: Event,
    me: &str,
    report: &mut Report,
    last_seq: &mut BTreeMap<String, BTreeSet<u64>>,
) {
    match event {
        Event::PeerJoined(p) => {
            report.peers.insert(p.user);
        }
        Event::RoleChanged { participant, .. } if participant.user == me => {
            report.role = Some(role_name(participant.role));
        }
        Event::RoleChanged { participant, .. } => {
            report.peers.insert(participant.user);
        }
        Event::Roster(all) => report.peers.extend(all.into_iter().map(|p| p.user)),
        Event::Data { from, seq, .. } => {
            report.data.received += 1;
            *report.data.from.entry(from.clone()).or_default() += 1;
            let seen = last_seq.entry(from).or_default();
            if !seen.insert(seq) {
                report.data.duplicates += 1;
            }
            if seen.last().is_some_and(|&max| max > seq) {
                report.data.in_order = false;
            }
        }
        Event::Refused { request, error } => {
            // Request 0 is the join itself (e.g. too_many_hosts); the bot's other requests are data.
            if request != 0 {
                report.data.refused += 1;
            }
            report.error.get_or_insert(ErrorReport {
                code: error.code.to_string(),
                message: error.message,
            });
        }
        _ => {}
    }
}
