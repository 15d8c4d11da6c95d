//! `livestage bot`: a headless participant. It joins, sends what it is asked to (data, media,
//! moderator actions), checks what it receives (order, duplicates) and writes a JSON report —
//! in every case, also when its flags or its token are refused before it connects.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use livestage_media::video::beauty;
use livestage_net::engine::{ConnectionState, EventKind};
use livestage_net::publish::VideoControls;
use livestage_net::{Engine, JoinOptions};
use livestage_proto::client::RosterChange;
use livestage_proto::media::Layer;
use livestage_proto::quality::Quality;
use livestage_proto::relay::{self, Destination};
use livestage_proto::token::{self, Claims};
use livestage_proto::wire::{Event, Participant, Request, Role};
use livestage_proto::{Error, ErrorCode};
use serde::Serialize;

use super::bot_media::{AudioReport, Publishers, Verifier, VideoReport, by_track, write_snapshots};
use super::bot_moderate::{self, Moderation, Outcome, Planned, Requests};
use super::bot_music::{Music, MusicArgs, MusicReport};
use super::bot_publish::Publish;
use super::bot_relay::{self, RelayReport};
use livestage_net::publish::Publisher;

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
    /// Count received voice (frames heard, concealed, bitrate, mouth to ear) only from this
    /// many seconds after the start, e.g. once an impairment begins.
    #[arg(long, default_value_t = 0.0)]
    measure_after: f64,
    /// Name in the server certificate.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// Write the JSON report here (it is also printed).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Publish media: `video=testpattern:1280x720@30,screen=display,audio=tone:440`, where
    /// `video=` is `testpattern:WxH[@FPS]`, `textured:WxH[@FPS]`, `image:PATH[@FPS]` (a PNG or
    /// JPEG up to 4K, 5 fps by default), `file:PATH[@loop]` (MP4/MKV with H.264, forwarded
    /// without re-encoding when it has no B-frames) or `camera[:N][@WxH[@FPS]]` (a webcam,
    /// `/dev/videoN`), and `screen=` shares `display` (the first), `display:ID`, `window:ID` or
    /// `region:X,Y,W,H` of the first display, optionally `@FPS` (see `livestage screens`).
    /// Tried in any role: as audience the server refuses it (`not_permitted`).
    #[arg(long)]
    publish: Option<String>,
    /// Beauty on the published video, each 0.0 to 1.0:
    /// `smooth=S,lighten=L,redness=R,sharpen=P[,contrast=low|normal|high]`.
    #[arg(long, value_name = "EFFECT=STRENGTH,...")]
    beauty: Option<String>,
    /// When leaving, write the last picture of each video track received as
    /// `DIR/<user>-<source>.png` (what this viewer saw).
    #[arg(long, value_name = "DIR")]
    snapshot: Option<PathBuf>,
    /// Also publish a low video layer (a quarter of the area).
    #[arg(long)]
    dual: bool,
    /// Receive the low video layer of every publisher instead of the high one.
    #[arg(long)]
    low: bool,
    /// Moderator actions to perform once joined, in order: `ACTION:USER[,ACTION:USER...]` with
    /// ACTION one of promote, demote, kick (a ban until the user's token expires), unban,
    /// mute-audio, mute-video, unmute-audio, unmute-video. The report lists each with its result (`ok` or the server's error code).
    #[arg(long, value_name = "ACTION:USER,...")]
    moderate: Option<String>,
    /// As a host whose token grants `relay`: once joined, relay this bot's tracks into other
    /// channels (co-hosting across channels, at most 6). A destination is `CHANNEL:TOKEN` on
    /// the same server or `CHANNEL@ADDR#CERT:TOKEN` on another, where `CERT` is that server's
    /// certificate (a PEM file) or its `sha256:HEX` pin; each token names this bot's user in
    /// that channel with publishing grants. The report's `relay` lists each destination's
    /// states and error code.
    #[arg(long, value_name = "DEST,...")]
    relay: Option<String>,
    #[command(flatten)]
    music: MusicArgs,
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
    /// Whether a moderator has muted this bot's audio and video.
    muted: Muted,
    peers: BTreeSet<String>,
    data: DataReport,
    /// The `--moderate` actions with their results.
    moderation: Vec<Outcome>,
    reconnects: u32,
    join_ms: Option<u64>,
    /// Video received, by `user/source` (and by `user` for its camera).
    video: BTreeMap<String, VideoReport>,
    /// Audio received, by `user/source` (and by `user` for its microphone).
    audio: BTreeMap<String, AudioReport>,
    /// PNG files `--snapshot` wrote.
    snapshots: Vec<PathBuf>,
    published: Published,
    /// The path to the server as this bot's QUIC connection last measured it.
    link: Option<LinkReport>,
    /// The hosts' paths, by user, as the server tells them.
    peer_links: BTreeMap<String, PeerLinkReport>,
    /// What became of `--music`.
    #[serde(skip_serializing_if = "Option::is_none")]
    music: Option<MusicReport>,
    /// What became of each `--relay` destination, by `CHANNEL` or `CHANNEL@ADDR`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    relay: BTreeMap<String, RelayReport>,
}

/// A host's path as the server last told ([`EventKind::PeerLinks`]), with the worst uplink
/// loss seen.
#[derive(Serialize, Default)]
struct PeerLinkReport {
    rtt_ms: u32,
    uplink_loss_percent: u8,
    max_uplink_loss_percent: u8,
    downlink_loss_percent: u8,
    /// Its uplink graded.
    quality: &'static str,
}

/// The last [`EventKind::Link`] figures, with the worst uplink loss seen.
#[derive(Serialize, Default)]
struct LinkReport {
    rtt_ms: u32,
    uplink_loss_percent: u8,
    max_uplink_loss_percent: u8,
    /// As the server measures it.
    downlink_loss_percent: u8,
    max_downlink_loss_percent: u8,
    bandwidth_kbps: u32,
    voice_copies: u8,
    /// The last grade (`excellent` .. `very_bad`, `down`).
    quality: &'static str,
    /// The worst grade reported.
    worst_quality: &'static str,
    #[serde(skip)]
    worst: Quality,
}

#[derive(Serialize, Default)]
struct Muted {
    audio: bool,
    video: bool,
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

impl From<Error> for ErrorReport {
    fn from(e: Error) -> Self {
        Self {
            code: e.code.to_string(),
            message: e.message,
        }
    }
}

/// A failure before connecting: its code, and the message with its causes.
fn local(code: ErrorCode, e: anyhow::Error) -> ErrorReport {
    ErrorReport {
        code: code.to_string(),
        message: format!("{e:#}"),
    }
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

/// Runs the bot and writes its report. Exit code 1 when it could not do what it was asked,
/// 2 when its flags or token were refused before connecting (the report says why).
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (report, code) = match Setup::read(&args) {
        Ok(setup) => {
            let mut report = Report {
                user: setup.claims.sub.clone(),
                channel: setup.claims.ch.clone(),
                ..Report::default()
            };
            report.data.in_order = true;
            match Engine::new() {
                Ok(engine) => Live::new(&args, setup, Arc::new(engine), report).run(),
                Err(e) => {
                    report.error = Some(ErrorReport {
                        code: "engine_error".into(),
                        message: format!("{e:#}"),
                    });
                    (report, ExitCode::from(2))
                }
            }
        }
        Err(error) => {
            eprintln!("error: {}: {}", error.code, error.message);
            let report = Report {
                error: Some(error),
                moderation: args
                    .moderate
                    .as_deref()
                    .and_then(|spec| bot_moderate::parse(spec).ok())
                    .map_or_else(Vec::new, |plan| bot_moderate::not_sent(&plan)),
                ..Report::default()
            };
            (report, ExitCode::from(2))
        }
    };
    let json = serde_json::to_string_pretty(&report)?;
    println!("{json}");
    if let Some(path) = &args.report {
        std::fs::write(path, &json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(code)
}

/// What the flags and the token say, checked before connecting.
struct Setup {
    pem: Vec<u8>,
    claims: Claims,
    publish: Option<Publish>,
    /// Processing of the published video (beauty).
    video: VideoControls,
    moderate: Vec<Planned>,
    music: Music,
    relay: Vec<Destination>,
}

impl Setup {
    fn read(args: &Args) -> Result<Self, ErrorReport> {
        let invalid = |e| local(ErrorCode::InvalidInput, e);
        let claims = token::peek(&args.token).map_err(ErrorReport::from)?;
        let publish = args.publish.as_deref().map(Publish::parse).transpose();
        let publish = publish.context("--publish").map_err(invalid)?;
        let video = VideoControls::default();
        if let Some(beauty) = &args.beauty {
            let options = beauty::Options::from_str(beauty)
                .and_then(|options| video.set_beauty(options))
                .context("--beauty");
            options.map_err(invalid)?;
        }
        let moderate = args
            .moderate
            .as_deref()
            .map(bot_moderate::parse)
            .transpose();
        let moderate = moderate.map_err(invalid)?.unwrap_or_default();
        let has_voice = publish.as_ref().is_some_and(|p| p.audio.is_some());
        let music = Music::read(&args.music, has_voice).map_err(invalid)?;
        let relay = args.relay.as_deref().map(bot_relay::parse).transpose();
        let relay = relay.map_err(invalid)?.unwrap_or_default();
        let pem = std::fs::read(&args.cert)
            .with_context(|| format!("cannot read certificate {}", args.cert.display()))
            .map_err(invalid)?;
        Ok(Self {
            pem,
            claims,
            publish,
            video,
            moderate,
            music,
            relay,
        })
    }
}

/// The bot in its channel.
struct Live<'a> {
    args: &'a Args,
    setup: Setup,
    engine: Arc<Engine>,
    requests: Arc<Requests>,
    started: Instant,
    report: Report,
    publishers: Vec<Publisher>,
    /// Whether the server ever made this bot a host (so what it publishes can go out).
    hosted: bool,
    /// Set once joined with `--moderate`.
    moderation: Option<Moderation>,
    /// The sequence number of the `--relay` request, once sent.
    relay_request: Option<u64>,
    /// Who publishes under each media id, as last seen.
    seen: Publishers,
    data_seen: BTreeMap<String, BTreeSet<u64>>,
    sending_done: bool,
    ended: bool,
}

impl<'a> Live<'a> {
    fn new(args: &'a Args, setup: Setup, engine: Arc<Engine>, report: Report) -> Self {
        let requests = Arc::new(Requests::new(engine.clone(), &setup.claims.ch));
        Self {
            args,
            setup,
            requests,
            engine,
            started: Instant::now(),
            report,
            publishers: Vec::new(),
            hosted: false,
            moderation: None,
            relay_request: None,
            seen: HashMap::new(),
            data_seen: BTreeMap::new(),
            sending_done: args.send_data == 0,
            ended: false,
        }
    }

    fn run(mut self) -> (Report, ExitCode) {
        let (args, channel) = (self.args, self.setup.claims.ch.clone());
        let role = match args.role {
            RoleArg::Host => Role::Host,
            RoleArg::Audience => Role::Audience,
        };
        let mut options =
            JoinOptions::new(args.server, &self.setup.pem, &channel, &args.token, role);
        options.server_name = args.server_name.clone();
        options.pace_data = !args.no_pacing;
        let measure_after =
            Duration::try_from_secs_f64(self.args.measure_after).unwrap_or_default();
        let verifier = Verifier::start(
            self.engine.clone(),
            self.requests.clone(),
            self.started,
            self.started + measure_after,
        );
        let deadline = self.started + Duration::from_secs_f64(args.duration);
        self.engine.join(options);

        while !self.ended {
            let now = Instant::now();
            let done_receiving = args
                .wait_data
                .is_some_and(|n| self.report.data.received >= n);
            if now >= deadline || (self.report.joined && self.sending_done && done_receiving) {
                break;
            }
            let Ok(event) = self.engine.events().recv_timeout(deadline - now) else {
                break;
            };
            self.handle(event.kind);
        }
        if !self.ended {
            self.requests.send(Request::Leave);
            // Wait briefly for the leave to be acknowledged, so peers see a clean departure;
            // answers to earlier requests still arrive on the way.
            let until = Instant::now() + Duration::from_secs(10);
            while !self.ended {
                let left = until.saturating_duration_since(Instant::now());
                let Ok(event) = self.engine.events().recv_timeout(left) else {
                    break;
                };
                self.handle(event.kind);
            }
        }
        self.finish(verifier)
    }

    fn handle(&mut self, kind: EventKind) {
        match kind {
            EventKind::State {
                state: ConnectionState::Disconnected,
                error,
            } => {
                if let Some(e) = error {
                    self.report.error = Some(e.into());
                }
                self.ended = true;
            }
            EventKind::State { .. } => {}
            EventKind::Joined {
                me, peers, resumed, ..
            } => {
                for p in &peers {
                    self.learn(p);
                }
                self.report.peers.extend(peers.into_iter().map(|p| p.user));
                self.report.role = Some(role_name(me.role));
                self.hosted |= me.role == Role::Host;
                self.report.muted = Muted {
                    audio: me.audio_muted,
                    video: me.video_muted,
                };
                if resumed {
                    self.report.reconnects += 1;
                } else {
                    self.on_first_join();
                }
            }
            // The roster as the client session keeps it: everyone this bot came to see.
            EventKind::Roster(RosterChange::Upsert(p)) => {
                self.learn(&p);
                if p.user != self.setup.claims.sub {
                    self.report.peers.insert(p.user);
                }
            }
            EventKind::Roster(RosterChange::Replace(all)) => {
                for p in all {
                    self.learn(&p);
                    self.report.peers.insert(p.user);
                }
            }
            EventKind::Roster(RosterChange::Gone(_)) => {}
            EventKind::Server(event) => {
                if let Event::KeyframeRequest { .. } = &event {
                    for p in &self.publishers {
                        p.handle(&EventKind::Server(event.clone()));
                    }
                }
                self.on_server_event(event)
            }
            EventKind::LocalError(e) => {
                self.report.data.refused += 1;
                self.report.error.get_or_insert(e.into());
            }
            EventKind::TrackEnded { error, .. } => {
                self.report.error.get_or_insert(error.into());
            }
            EventKind::PeerLinks(links) => {
                for l in links {
                    let peer = self.report.peer_links.entry(l.user).or_default();
                    peer.rtt_ms = l.rtt_ms;
                    peer.uplink_loss_percent = l.uplink_loss_percent;
                    peer.max_uplink_loss_percent =
                        peer.max_uplink_loss_percent.max(l.uplink_loss_percent);
                    peer.downlink_loss_percent = l.downlink_loss_percent;
                    peer.quality = Quality::of_path(l.uplink_loss_percent, l.rtt_ms).as_str();
                }
            }
            EventKind::Link(stats) => {
                for p in &self.publishers {
                    p.handle(&EventKind::Link(stats));
                }
                let link = self.report.link.get_or_insert_with(LinkReport::default);
                link.rtt_ms = stats.rtt_ms;
                link.uplink_loss_percent = stats.uplink_loss_percent;
                link.max_uplink_loss_percent =
                    link.max_uplink_loss_percent.max(stats.uplink_loss_percent);
                link.downlink_loss_percent = stats.downlink_loss_percent;
                link.max_downlink_loss_percent = link
                    .max_downlink_loss_percent
                    .max(stats.downlink_loss_percent);
                link.bandwidth_kbps = stats.bandwidth_kbps;
                link.voice_copies = stats.voice_copies;
                link.quality = stats.quality.as_str();
                link.worst = link.worst.min(stats.quality);
                link.worst_quality = link.worst.as_str();
            }
        }
    }

    /// Once in the channel: publish (in any role, so an audience bot hears the server's
    /// refusal), send data, perform the moderator actions.
    fn on_first_join(&mut self) {
        let (args, channel) = (self.args, &self.setup.claims.ch);
        self.report.joined = true;
        self.report.join_ms = Some(self.started.elapsed().as_millis() as u64);
        if let Some(spec) = &self.setup.publish
            && self.publishers.is_empty()
        {
            let music = &self.setup.music;
            let voice = Some((music.mix.publish_tap(), music.controls.clone()));
            let controls = &self.setup.video;
            match spec.start(self.engine.clone(), channel, args.dual, voice, controls) {
                Ok(p) => {
                    self.publishers = p;
                    if let Err(e) = music.start() {
                        self.report.error.get_or_insert(ErrorReport {
                            code: e.code().into(),
                            message: e.to_string(),
                        });
                    }
                }
                Err(e) => {
                    let error = e.downcast_ref::<Error>().map_or_else(
                        || ErrorReport {
                            code: "media_error".into(),
                            message: format!("{e:#}"),
                        },
                        |e| e.clone().into(),
                    );
                    self.report.error.get_or_insert(error);
                }
            }
        }
        for n in 0..args.send_data {
            let mut payload = vec![0u8; args.data_size.max(8)];
            payload[..8].copy_from_slice(&n.to_be_bytes());
            self.requests.send(Request::Data {
                to: Vec::new(),
                payload,
            });
        }
        self.report.data.sent = args.send_data;
        self.sending_done = true;
        if !self.setup.moderate.is_empty() {
            let m = Moderation::start(&self.setup.moderate, &self.requests, &args.token);
            self.moderation = Some(m);
        }
        if !self.setup.relay.is_empty() {
            let destinations = self.setup.relay.clone();
            let start = relay::Request::Start { destinations };
            self.relay_request = self.requests.send(Request::Relay(Box::new(start)));
        }
    }

    /// Remembers who publishes which tracks under which media id (and subscribes to its low
    /// layer when asked to).
    fn learn(&mut self, p: &Participant) {
        if self.seen.insert(p.media_id, p.clone()).is_none() && self.args.low {
            self.requests.send(Request::Subscribe {
                user: p.user.clone(),
                track: None,
                audio: true,
                video: Some(Layer::Low),
            });
        }
    }

    fn on_server_event(&mut self, event: Event) {
        let report = &mut self.report;
        let me = &self.setup.claims.sub;
        match event {
            Event::RoleChanged { participant, .. } if participant.user == *me => {
                report.role = Some(role_name(participant.role));
                self.hosted |= participant.role == Role::Host;
            }
            Event::MuteChanged { user, audio, video } if user == *me => {
                report.muted = Muted { audio, video };
            }
            Event::Data { from, seq, .. } => {
                report.data.received += 1;
                *report.data.from.entry(from.clone()).or_default() += 1;
                let seen = self.data_seen.entry(from).or_default();
                if !seen.insert(seq) {
                    report.data.duplicates += 1;
                }
                if seen.last().is_some_and(|&max| max > seq) {
                    report.data.in_order = false;
                }
            }
            Event::Relay { to, state } => bot_relay::record(&mut report.relay, &to, &state),
            Event::TokenRenewed { .. } => {
                if let Some(m) = &mut self.moderation {
                    m.renewed();
                }
            }
            Event::Refused { request, error } => {
                if let Some(m) = &mut self.moderation
                    && m.refused(request, &error)
                {
                    return;
                }
                if Some(request) == self.relay_request {
                    report.error.get_or_insert(error.into());
                    return;
                }
                // Request 0 is the join itself (e.g. too_many_hosts) or media the server
                // refused; the bot's other requests that can be refused are data.
                if request != 0 {
                    report.data.refused += 1;
                }
                report.error.get_or_insert(error.into());
            }
            _ => {}
        }
    }

    fn finish(mut self, verifier: Verifier) -> (Report, ExitCode) {
        let report = &mut self.report;
        report.data.sent = report.data.sent.saturating_sub(report.data.refused);
        let mut media_ok = self.setup.publish.is_none();
        for p in std::mem::take(&mut self.publishers) {
            report.published.video_frames += p.video_frames.load(Ordering::Relaxed);
            report.published.audio_frames += p.audio_frames.load(Ordering::Relaxed);
            media_ok = self.hosted;
            if let Err(e) = p.stop() {
                media_ok = false;
                report.error.get_or_insert(ErrorReport {
                    code: "media_error".into(),
                    message: format!("{e:#}"),
                });
            }
        }
        if self.setup.music.has_music() {
            let music = report.music.get_or_insert_default();
            self.setup.music.report(music);
            if let Some((code, message)) = &music.error {
                report.error.get_or_insert(ErrorReport {
                    code: code.clone(),
                    message: message.clone(),
                });
            }
        }
        let moderation_ok = match &self.moderation {
            Some(m) => {
                report.moderation = m.outcomes().to_vec();
                m.answered() && m.all_ok()
            }
            None => {
                report.moderation = bot_moderate::not_sent(&self.setup.moderate);
                self.setup.moderate.is_empty()
            }
        };
        let received = verifier.finish();
        report.video = by_track(&received.video, &self.seen);
        report.audio = by_track(&received.audio, &self.seen);
        if let Some(dir) = &self.args.snapshot {
            match write_snapshots(dir, &received.pictures, &self.seen) {
                Ok(files) => report.snapshots = files,
                Err(e) => {
                    report.error.get_or_insert(ErrorReport {
                        code: "snapshot_failed".into(),
                        message: format!("{e:#}"),
                    });
                }
            }
        }
        let ok = report.joined
            && report.error.is_none()
            && report.data.sent == self.args.send_data
            && media_ok
            && moderation_ok;
        let code = if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
        (self.report, code)
    }
}
