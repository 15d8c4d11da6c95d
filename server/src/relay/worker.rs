//! One relay's thread: a single engine holds the host's home channel (as the audience member
//! `relay-<host>`, receiving the host only) and one link per destination (as the host, with
//! the destination's token). It mirrors the host's tracks into every destination, forwards
//! each encoded frame unchanged, passes keyframe requests home, and rejoins a destination whose
//! server went away, with backoff.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, select};
use livestage_net::Engine;
use livestage_net::engine::{
    ConnectionState, Event, EventKind, JoinOptions, MediaEvent, MediaKind,
};
use livestage_net::transport::format_fingerprint;
use livestage_proto::client::RosterChange;
use livestage_proto::media::Layer;
use livestage_proto::relay::{Destination, State, Target};
use livestage_proto::token;
use livestage_proto::track::{Track, TrackId};
use livestage_proto::wire::{self, Participant, Role};
use livestage_proto::{Error, ErrorCode};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::{Command, Job, News, Report};

/// The home link's name in the engine (destinations are `dest-<n>`).
const HOME: &str = "home";
/// What the relay's home participant is called, before the host's id.
pub const USER_PREFIX: &str = "relay-";
/// How long one try to reach a destination's server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// First wait before joining a destination again; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait between tries.
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// Tries before a destination that cannot be reached fails (about four minutes).
const MAX_ATTEMPTS: u32 = 32;
/// Longest wait for the links' goodbyes when the relay ends.
const LEAVE_WAIT: Duration = Duration::from_secs(2);
/// How often the thread looks at its timers when nothing else happens.
const IDLE: Duration = Duration::from_millis(100);
/// How often a destination still waiting for a keyframe asks again (the server lets one
/// request through per keyframe interval, and one made just before may have used it).
const KEYFRAME_AGAIN: Duration = Duration::from_millis(250);

/// Starts the thread of `job`; its reports go to `reports`, the last one [`News::Ended`].
pub(super) fn spawn(
    job: Job,
    commands: Receiver<Command>,
    reports: mpsc::UnboundedSender<Report>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(format!("livestage-relay-{}", job.run))
        .spawn(move || {
            let report = |news| {
                let _ = reports.send(Report {
                    key: job.key.clone(),
                    run: job.run,
                    news,
                });
            };
            match Relay::start(&job) {
                Ok(mut relay) => relay.run(&commands, &report),
                Err(e) => {
                    // Nothing joined yet: every destination asked for fails alike.
                    let error = Error::new(ErrorCode::ServerUnreachable, format!("{e:#}"));
                    while let Ok(command) = commands.try_recv() {
                        if let Command::Add(destinations) = command {
                            for d in destinations {
                                let state = State::failed(error.code, error.message.clone());
                                report(News::State(d.target, state));
                            }
                        }
                    }
                }
            }
            report(News::Ended);
        })
        .map(drop)
}

/// Where one destination stands in the worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Joining (first time, or again after its server went away).
    Joining,
    /// Joined, but as audience: the server's refusal (host cap, grants) is on its way.
    Refused,
    /// A host there.
    OnStage,
    /// Waiting to join again.
    Backoff(Instant),
}

struct Leg {
    target: Target,
    token: String,
    link: String,
    phase: Phase,
    /// The last state reported.
    state: State,
    attempt: u32,
    /// Video tracks whose next keyframe has not been sent here yet: their deltas are held back
    /// so a destination never starts mid-picture.
    waiting: BTreeSet<TrackId>,
    /// When a keyframe was last asked for on this destination's behalf.
    asked_at: Option<Instant>,
}

struct Relay {
    engine: Arc<Engine>,
    ctx: super::Context,
    owner: String,
    /// The host at home as last seen: its media id and tracks.
    host: Option<Participant>,
    /// The other hosts at home, asked not to be received.
    quieted: BTreeSet<String>,
    legs: BTreeMap<String, Leg>,
    next_leg: u64,
    paused: bool,
    /// Stop asked (or the manager is gone): leave everything and end.
    stopping: bool,
    /// Destinations left while running, whose goodbye the end waits for.
    left: Vec<String>,
}

impl Relay {
    /// Joins the host's home channel as its relay's viewer.
    fn start(job: &Job) -> anyhow::Result<Self> {
        let (channel, owner) = (&job.key.0, &job.key.1);
        let viewer: String = format!("{USER_PREFIX}{owner}")
            .chars()
            .take(livestage_proto::id::MAX_ID_LEN)
            .collect();
        let ctx = &job.ctx;
        let token = crate::mint_token(
            &ctx.app,
            &ctx.secret,
            channel,
            &viewer,
            "join",
            ctx.token_secs,
        )?;
        let engine = Arc::new(Engine::new()?);
        let mut options =
            JoinOptions::new(ctx.server, &ctx.cert_pem, channel, &token, Role::Audience);
        options.server_name = ctx.server_name.clone();
        options.link = HOME.into();
        engine.join(options);
        Ok(Self {
            engine,
            ctx: ctx.clone(),
            owner: owner.clone(),
            host: None,
            quieted: BTreeSet::new(),
            legs: BTreeMap::new(),
            next_leg: 1,
            paused: false,
            stopping: false,
            left: Vec::new(),
        })
    }

    fn run(&mut self, commands: &Receiver<Command>, report: &dyn Fn(News)) {
        let (events, media) = (self.engine.events().clone(), self.engine.media().clone());
        // The manager queued the first destinations before starting this thread: take them
        // before anything else, or an early event would find no destination and end the relay.
        while let Ok(command) = commands.try_recv() {
            self.obey(command, report);
        }
        loop {
            select! {
                recv(commands) -> command => match command {
                    Ok(command) => self.obey(command, report),
                    Err(_) => self.obey(Command::Stop, report),
                },
                recv(media) -> item => {
                    if let Ok(item) = item {
                        self.forward(item);
                    }
                }
                recv(events) -> event => match event {
                    Ok(event) => self.follow(event, report),
                    Err(_) => {
                        let error = Error::new(ErrorCode::ServerUnreachable, "the relay's engine stopped");
                        self.fail_all(&error, report);
                    }
                },
                default(IDLE) => {}
            }
            self.retry_due();
            self.ask_due();
            if self.stopping || self.legs.is_empty() {
                break;
            }
        }
        self.leave_all();
    }

    /// Leaves every link still open and waits (a little) until each has: the engine's runtime
    /// stops when it is dropped, and a destination left without a goodbye would keep the host
    /// on its stage until the server gives up on the connection.
    fn leave_all(&mut self) {
        let mut open: BTreeSet<String> = self.legs.keys().cloned().collect();
        open.extend(self.left.drain(..));
        open.insert(HOME.to_owned());
        for link in &open {
            self.engine.leave(link);
        }
        let deadline = Instant::now() + LEAVE_WAIT;
        while !open.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(event) = self.engine.events().recv_timeout(left) else {
                break;
            };
            if let EventKind::State {
                state: ConnectionState::Disconnected,
                ..
            } = event.kind
            {
                open.remove(&event.channel);
            }
        }
    }

    fn obey(&mut self, command: Command, report: &dyn Fn(News)) {
        match command {
            Command::Add(destinations) => {
                for d in destinations {
                    self.add(d, report);
                }
            }
            Command::Remove(targets) => {
                let links: Vec<String> = self
                    .legs
                    .values()
                    .filter(|leg| targets.contains(&leg.target))
                    .map(|leg| leg.link.clone())
                    .collect();
                for link in links {
                    self.end(&link, State::Stopped, report);
                }
            }
            Command::Pause(paused) => {
                self.paused = paused;
                let links: Vec<String> = self.legs.keys().cloned().collect();
                for link in links {
                    if self
                        .legs
                        .get(&link)
                        .is_some_and(|l| l.phase == Phase::OnStage)
                    {
                        self.start_sending(&link, report);
                    }
                }
            }
            Command::Stop => {
                let links: Vec<String> = self.legs.keys().cloned().collect();
                for link in links {
                    self.end(&link, State::Stopped, report);
                }
                self.stopping = true;
            }
        }
    }

    /// Starts a destination: checks its token names the host and the channel, then joins.
    fn add(&mut self, d: Destination, report: &dyn Fn(News)) {
        let link = format!("dest-{}", self.next_leg);
        self.next_leg += 1;
        let mut leg = Leg {
            target: d.target,
            token: d.token,
            link: link.clone(),
            phase: Phase::Joining,
            state: State::Connecting,
            attempt: 0,
            waiting: BTreeSet::new(),
            asked_at: None,
        };
        if let Err(e) = self.check_token(&leg) {
            report(News::State(leg.target, State::failed(e.code, e.message)));
            return;
        }
        report(News::State(leg.target.clone(), State::Connecting));
        self.join(&mut leg);
        self.legs.insert(link, leg);
    }

    /// The destination's server verifies the token; this only catches a token for someone
    /// else or another channel before it is sent anywhere.
    fn check_token(&self, leg: &Leg) -> Result<(), Error> {
        let claims = token::peek(&leg.token)?;
        let wrong = |what: &str, got: &str, want: &str| {
            let msg = format!(
                "the token for {} is for {what} {got:?}, not {want:?}",
                leg.target
            );
            Err(Error::new(ErrorCode::TokenInvalid, msg))
        };
        if claims.sub != self.owner {
            return wrong("user", &claims.sub, &self.owner);
        }
        if claims.ch != leg.target.channel {
            return wrong("channel", &claims.ch, &leg.target.channel);
        }
        Ok(())
    }

    fn join(&self, leg: &mut Leg) {
        let (server, cert) = match &leg.target.server {
            None => (self.ctx.server, self.ctx.cert_pem.clone()),
            Some(remote) => (remote.addr, format_fingerprint(&remote.pin).into_bytes()),
        };
        let mut options =
            JoinOptions::new(server, &cert, &leg.target.channel, &leg.token, Role::Host);
        if leg.target.server.is_none() {
            options.server_name = self.ctx.server_name.clone();
        }
        options.link = leg.link.clone();
        options.connect_timeout = CONNECT_TIMEOUT;
        self.engine.join(options);
        leg.phase = Phase::Joining;
    }

    /// Leaves a destination with its final state.
    fn end(&mut self, link: &str, state: State, report: &dyn Fn(News)) {
        if let Some(leg) = self.legs.remove(link) {
            self.engine.leave(link);
            self.left.push(leg.link);
            report(News::State(leg.target, state));
        }
    }

    fn fail_all(&mut self, error: &Error, report: &dyn Fn(News)) {
        let links: Vec<String> = self.legs.keys().cloned().collect();
        for link in links {
            self.end(
                &link,
                State::failed(error.code, error.message.clone()),
                report,
            );
        }
    }

    fn set_state(&mut self, link: &str, state: State, report: &dyn Fn(News)) {
        if let Some(leg) = self.legs.get_mut(link)
            && leg.state != state
        {
            leg.state = state.clone();
            report(News::State(leg.target.clone(), state));
        }
    }

    /// A destination is (again) a host: mirror the host's tracks, and run or pause.
    fn on_stage(&mut self, link: &str, report: &dyn Fn(News)) {
        let Some(leg) = self.legs.get_mut(link) else {
            return;
        };
        leg.phase = Phase::OnStage;
        leg.attempt = 0;
        for track in self.host_tracks() {
            self.engine.publish_track(link, track);
        }
        self.start_sending(link, report);
    }

    /// Runs (from the next keyframe of each video track) or pauses a destination on stage.
    fn start_sending(&mut self, link: &str, report: &dyn Fn(News)) {
        let video: BTreeSet<TrackId> = self
            .host_tracks()
            .iter()
            .filter(|t| t.is_video())
            .map(|t| t.id)
            .collect();
        let Some(leg) = self.legs.get_mut(link) else {
            return;
        };
        leg.waiting = video;
        leg.asked_at = None;
        let state = if self.paused {
            State::Paused
        } else {
            State::Running
        };
        self.set_state(link, state, report);
        self.ask_due();
    }

    /// Asks the host for a keyframe of each track a running destination waits for, at most
    /// every [`KEYFRAME_AGAIN`].
    fn ask_due(&mut self) {
        if self.paused {
            return;
        }
        let now = Instant::now();
        let mut tracks = BTreeSet::new();
        for leg in self.legs.values_mut().filter(|l| l.phase == Phase::OnStage) {
            if !leg.waiting.is_empty()
                && leg
                    .asked_at
                    .is_none_or(|at| now.duration_since(at) >= KEYFRAME_AGAIN)
            {
                leg.asked_at = Some(now);
                tracks.extend(leg.waiting.iter().copied());
            }
        }
        self.ask_keyframes(tracks.into_iter());
    }

    /// The host's tracks as a destination publishes them: the high layer only (the relay
    /// receives that one), never marked muted (a mute at home stops the media there).
    fn host_tracks(&self) -> Vec<Track> {
        let Some(host) = &self.host else {
            return Vec::new();
        };
        host.tracks
            .iter()
            .map(|t| Track {
                low_layer: false,
                muted: false,
                ..t.clone()
            })
            .collect()
    }

    fn ask_keyframes(&self, tracks: impl Iterator<Item = TrackId>) {
        if let Some(host) = &self.host {
            for track in tracks {
                self.engine
                    .request_keyframe(HOME, host.media_id, track, Layer::High);
            }
        }
    }

    /// Sends one frame of the host on into every running destination.
    fn forward(&mut self, item: MediaEvent) {
        if item.channel != HOME || self.paused {
            return;
        }
        let Some(host) = &self.host else {
            return;
        };
        if item.media_id != host.media_id {
            return;
        }
        for leg in self.legs.values_mut().filter(|l| l.phase == Phase::OnStage) {
            match &item.kind {
                MediaKind::Video { header, data } => {
                    if header.layer != Layer::High {
                        continue;
                    }
                    if leg.waiting.contains(&item.track) {
                        if !header.keyframe {
                            continue;
                        }
                        leg.waiting.remove(&item.track);
                    }
                    self.engine.send_video(&leg.link, *header, data.clone());
                }
                MediaKind::Audio {
                    stream,
                    seq,
                    capture_us,
                    payload,
                } => self.engine.send_audio(
                    &leg.link,
                    item.track,
                    *stream,
                    *seq,
                    *capture_us,
                    payload,
                ),
            }
        }
    }

    fn follow(&mut self, event: Event, report: &dyn Fn(News)) {
        if event.channel == HOME {
            return self.follow_home(event.kind, report);
        }
        let link = event.channel;
        if !self.legs.contains_key(&link) {
            // A destination already left; its goodbye is through.
            if matches!(
                event.kind,
                EventKind::State {
                    state: ConnectionState::Disconnected,
                    ..
                }
            ) {
                self.left.retain(|l| *l != link);
            }
            return;
        }
        match event.kind {
            EventKind::Joined { me, .. } => {
                if me.role == Role::Host {
                    self.on_stage(&link, report);
                } else if let Some(leg) = self.legs.get_mut(&link) {
                    leg.phase = Phase::Refused;
                }
            }
            EventKind::Server(wire::Event::Refused { request: 0, error }) => {
                // Joined as audience: the host cap, or a token that grants no publishing.
                self.end(&link, State::failed(error.code, error.message), report);
            }
            EventKind::Server(wire::Event::RoleChanged { participant, by })
                if participant.user == self.owner && participant.role != Role::Host =>
            {
                let target = self
                    .legs
                    .get(&link)
                    .map(|l| l.target.to_string())
                    .unwrap_or_default();
                let msg = format!("{by} moved {} to the audience in {target}", self.owner);
                self.end(&link, State::failed(ErrorCode::NotPermitted, msg), report);
            }
            EventKind::Server(wire::Event::KeyframeRequest { track, .. }) => {
                self.ask_keyframes(std::iter::once(track));
            }
            EventKind::State {
                state: ConnectionState::Reconnecting,
                ..
            } => {
                // Nothing heard for seconds: the destination's server may have restarted, and
                // the connection would only be given up after QUIC's idle timeout. Join again
                // at once (a server still there replaces the old session with the new one).
                let msg = "nothing heard from the destination's server";
                let error = Error::new(ErrorCode::ServerUnreachable, msg);
                self.disconnected(&link, Some(error), report);
            }
            EventKind::State {
                state: ConnectionState::Disconnected,
                error,
            } => {
                self.disconnected(&link, error, report);
            }
            _ => {}
        }
    }

    /// A destination's link ended: fail it for good, or try again later when its server
    /// went away or could not be reached.
    fn disconnected(&mut self, link: &str, error: Option<Error>, report: &dyn Fn(News)) {
        let error = error.unwrap_or_else(|| {
            Error::new(
                ErrorCode::ServerUnreachable,
                "the destination closed the connection",
            )
        });
        let passing = matches!(
            error.code,
            ErrorCode::ServerUnreachable | ErrorCode::SessionExpired
        );
        let Some(leg) = self.legs.get_mut(link) else {
            return;
        };
        if !passing || leg.attempt >= MAX_ATTEMPTS {
            return self.end(link, State::failed(error.code, error.message), report);
        }
        leg.attempt += 1;
        // The first try is at once: a restarted server is usually back.
        let backoff = if leg.attempt == 1 {
            Duration::ZERO
        } else {
            FIRST_BACKOFF
                .saturating_mul(1 << (leg.attempt - 2).min(5))
                .min(MAX_BACKOFF)
        };
        leg.phase = Phase::Backoff(Instant::now() + backoff);
        let attempt = leg.attempt;
        debug!(to = %leg.target, attempt, "relay destination unreachable: {error}");
        self.set_state(link, State::recovering(attempt, error.to_string()), report);
    }

    /// Joins again each destination whose backoff is over.
    fn retry_due(&mut self) {
        let now = Instant::now();
        let due: Vec<String> = self
            .legs
            .values()
            .filter(|l| matches!(l.phase, Phase::Backoff(at) if at <= now))
            .map(|l| l.link.clone())
            .collect();
        for link in due {
            if let Some(mut leg) = self.legs.remove(&link) {
                self.join(&mut leg);
                self.legs.insert(link, leg);
            }
        }
    }

    fn follow_home(&mut self, kind: EventKind, report: &dyn Fn(News)) {
        let before = self.host_tracks();
        match kind {
            EventKind::Joined { peers, .. } | EventKind::Roster(RosterChange::Replace(peers)) => {
                self.quieted.clear();
                self.host = None;
                for p in peers {
                    self.seen(p);
                }
            }
            EventKind::Roster(RosterChange::Upsert(p)) => self.seen(p),
            EventKind::Roster(RosterChange::Gone(user)) => {
                self.quieted.remove(&user);
                if user == self.owner {
                    self.host = None;
                }
            }
            EventKind::State {
                state: ConnectionState::Disconnected,
                error,
            } => {
                let error = error.unwrap_or_else(|| {
                    Error::new(
                        ErrorCode::ServerUnreachable,
                        "the relay lost the host's channel",
                    )
                });
                warn!(host = self.owner, "a relay's home link ended: {error}");
                return self.fail_all(&error, report);
            }
            _ => {}
        }
        self.mirror(&before);
    }

    /// Notes a participant seen at home: the host itself, or another host, whose media the
    /// relay asks not to receive (once).
    fn seen(&mut self, p: Participant) {
        if p.user == self.owner {
            self.host = (p.role == Role::Host).then_some(p);
        } else if p.role == Role::Host && self.quieted.insert(p.user.clone()) {
            self.engine.subscribe(HOME, &p.user, false, None);
        }
    }

    /// Publishes and unpublishes in every destination what changed in the host's tracks.
    fn mirror(&mut self, before: &[Track]) {
        let after = self.host_tracks();
        if after == before {
            return;
        }
        let new_video: Vec<TrackId> = after
            .iter()
            .filter(|t| t.is_video() && !before.iter().any(|b| b.id == t.id))
            .map(|t| t.id)
            .collect();
        for leg in self.legs.values_mut().filter(|l| l.phase == Phase::OnStage) {
            for gone in before
                .iter()
                .filter(|b| !after.iter().any(|a| a.id == b.id))
            {
                self.engine.unpublish_track(&leg.link, gone.id);
            }
            for track in after.iter().filter(|a| !before.contains(a)) {
                self.engine.publish_track(&leg.link, track.clone());
            }
            leg.waiting.extend(new_video.iter().copied());
            leg.asked_at = None;
        }
        self.ask_due();
    }
}
