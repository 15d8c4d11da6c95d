//! `livestage load --churn SECS`: a soak. For a bounded time, hundreds of connections join,
//! leave, toggle roles, subscribe, send data, vanish without closing and misbehave, while a host
//! publishes video and data messages to a steady audience that must not notice. Runs against
//! its own `livestage serve --dev` child, whose memory it samples and whose log it reads for
//! panics.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use livestage_net::engine::{self, ConnectionState, EventKind, LinkCommand};
use livestage_net::{Event, JoinOptions, MediaEvent, MediaKind};
use livestage_proto::media::{Layer, VideoHeader};
use livestage_proto::wire::{self, Action, Request, Role};
use serde::Serialize;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::bot_publish::Publish;
use super::load::{Args, ChildServer, client_sockets, print_report, rss_kib, start_child_server};

/// What one churning connection does between joining and going.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
enum Behaviour {
    /// Stays a moment and leaves cleanly.
    Leave,
    /// Asks for the stage and steps down, faster than the role limit allows.
    Roles,
    /// Subscribes to names that exist and names that do not, past the subscription limit.
    Subscribe,
    /// Sends data messages unpaced, past the data limit.
    Data,
    /// Raises and lowers its hand, past the limit.
    Hands,
    /// Publishes video streams and audio datagrams as audience.
    PublishUnasked,
    /// Demotes, mutes and kicks (with a short ban) other churning users.
    Moderate,
    /// Stops answering without closing: the server must time it out.
    Vanish,
}

const BEHAVIOURS: [Behaviour; 8] = [
    Behaviour::Leave,
    Behaviour::Roles,
    Behaviour::Subscribe,
    Behaviour::Data,
    Behaviour::Hands,
    Behaviour::PublishUnasked,
    Behaviour::Moderate,
    Behaviour::Vanish,
];

/// The soak's report.
#[derive(Serialize)]
struct Report {
    secs: f64,
    churners: usize,
    steady_viewers: usize,
    /// Churning sessions started, per behaviour.
    sessions: BTreeMap<Behaviour, u64>,
    joins_failed: u64,
    /// Requests the server refused, per error code.
    refused: BTreeMap<String, u64>,
    server_rss_start_kib: Option<u64>,
    server_rss_peak_kib: Option<u64>,
    server_rss_end_kib: Option<u64>,
    /// Lines of the server's log that report a panic.
    server_panics: u64,
    server_alive: bool,
    steady: Steady,
}

/// What the steady audience received from the host.
#[derive(Serialize)]
struct Steady {
    published_frames: u64,
    /// Fewest video frames any steady viewer received, as a percentage of those published.
    frames_received_min_percent: f64,
    data_sent: u64,
    /// Data messages the host sent that some steady viewer did not receive, summed.
    data_lost: u64,
    /// Steady viewers whose session ended during the soak.
    dropped: u64,
}

/// Shared by the churning tasks.
struct Churn {
    addr: SocketAddr,
    pem: Vec<u8>,
    secret: String,
    channel: String,
    endpoints: Vec<quinn::Endpoint>,
    deadline: Instant,
    /// Churning users joined now, for moderators to pick on.
    present: Mutex<Vec<String>>,
    sessions: Mutex<BTreeMap<Behaviour, u64>>,
    refused: Mutex<BTreeMap<String, u64>>,
    joins_failed: AtomicU64,
    /// Receives the host's video sent to churners; drained and dropped.
    media: Sender<MediaEvent>,
}

/// The host everyone watches.
const HOST: &str = "soak-host";

/// Runs the soak and prints the report.
pub fn run(args: &Args, secs: f64, churners: usize, viewers: usize) -> anyhow::Result<ExitCode> {
    let server = start_child_server()?;
    let pem = std::fs::read(&server.cert)?;
    let (runtime, endpoints) = client_sockets(server.addr)?;
    let _guard = runtime.enter();
    let token = |user: &str, grants: &str| {
        livestage_server::mint_token(
            "livestage",
            &server.secret,
            &args.channel,
            user,
            grants,
            3600,
        )
    };

    // The steady part: a host publishing video and a data message every 250 ms.
    let host = Arc::new(livestage_net::Engine::new()?);
    let host_token = token(HOST, "join,publish-video,publish-data")?;
    host.join(JoinOptions::new(
        server.addr,
        &pem,
        &args.channel,
        &host_token,
        Role::Host,
    ));
    wait_joined(host.events(), Duration::from_secs(10))?;
    let mut watchers = Vec::new();
    for i in 0..viewers {
        let (events_tx, events) = crossbeam_channel::bounded(1 << 16);
        let (media_tx, media) = crossbeam_channel::bounded(1 << 12);
        let options = JoinOptions::new(
            server.addr,
            &pem,
            &args.channel,
            &token(&format!("steady-{i}"), "join")?,
            Role::Audience,
        );
        let (tx, rx) = mpsc::unbounded_channel();
        runtime.spawn(engine::run_link(
            endpoints[i % endpoints.len()].clone(),
            options,
            rx,
            events_tx,
            media_tx,
        ));
        wait_joined(&events, Duration::from_secs(10))?;
        watchers.push(Watcher {
            _keep_open: tx,
            events,
            media,
            frames: 0,
            data: HashSet::new(),
            dropped: false,
        });
    }
    let publisher = Publish::parse("video=testpattern:320x180@15")?
        .start(
            host.clone(),
            &args.channel,
            false,
            None,
            &Default::default(),
        )?
        .pop()
        .context("a test pattern publisher")?;

    let (sink, drained) = crossbeam_channel::bounded(1 << 16);
    std::thread::spawn(move || drained.iter().for_each(drop));
    let churn = Arc::new(Churn {
        addr: server.addr,
        pem: pem.clone(),
        secret: server.secret.clone(),
        channel: args.channel.clone(),
        endpoints,
        deadline: Instant::now() + Duration::from_secs_f64(secs),
        present: Mutex::new(Vec::new()),
        sessions: Mutex::new(BTreeMap::new()),
        refused: Mutex::new(BTreeMap::new()),
        joins_failed: AtomicU64::new(0),
        media: sink,
    });
    let rss_start = rss_kib(server.child.id());
    let mut rss_peak = rss_start;
    let tasks: Vec<_> = (0..churners)
        .map(|slot| runtime.spawn(churner(slot, churn.clone())))
        .collect();

    let (mut data_sent, mut next_data, mut next_sample) = (0u64, Instant::now(), Instant::now());
    while Instant::now() < churn.deadline {
        while let Ok(e) = host.events().try_recv() {
            publisher.handle(&e.kind);
        }
        if Instant::now() >= next_data {
            data_sent += 1;
            host.send_data(&args.channel, Vec::new(), data_sent.to_be_bytes().to_vec());
            next_data += Duration::from_millis(250);
        }
        if Instant::now() >= next_sample {
            rss_peak = rss_peak.max(rss_kib(server.child.id()));
            next_sample += Duration::from_secs(1);
        }
        watchers.iter_mut().for_each(Watcher::take);
        std::thread::sleep(Duration::from_millis(5));
    }
    let published = publisher.video_frames.load(Ordering::Relaxed);
    publisher.stop()?;
    let settle = Instant::now() + Duration::from_secs(3);
    while Instant::now() < settle {
        watchers.iter_mut().for_each(Watcher::take);
        std::thread::sleep(Duration::from_millis(5));
    }
    for task in tasks {
        task.abort();
    }
    let rss_end = rss_kib(server.child.id());
    let alive = server_alive(&server);

    let min_frames = watchers.iter().map(|w| w.frames).min().unwrap_or(0);
    let steady = Steady {
        published_frames: published,
        frames_received_min_percent: if published == 0 {
            0.0
        } else {
            min_frames as f64 * 100.0 / published as f64
        },
        data_sent,
        data_lost: watchers
            .iter()
            .map(|w| (1..=data_sent).filter(|s| !w.data.contains(s)).count() as u64)
            .sum(),
        dropped: watchers.iter().filter(|w| w.dropped).count() as u64,
    };
    let report = Report {
        secs,
        churners,
        steady_viewers: viewers,
        sessions: churn.sessions.lock().map(|s| s.clone()).unwrap_or_default(),
        joins_failed: churn.joins_failed.load(Ordering::Relaxed),
        refused: churn.refused.lock().map(|r| r.clone()).unwrap_or_default(),
        server_rss_start_kib: rss_start,
        server_rss_peak_kib: rss_peak,
        server_rss_end_kib: rss_end,
        server_panics: server.panics.load(Ordering::Relaxed),
        server_alive: alive,
        steady,
    };
    print_report(&report, args.report.as_deref())?;
    drop(watchers);
    runtime.shutdown_timeout(Duration::from_secs(1));
    let healthy = report.server_panics == 0
        && report.server_alive
        && report.steady.data_lost == 0
        && report.steady.dropped == 0
        && report.steady.frames_received_min_percent >= 90.0;
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn server_alive(server: &ChildServer) -> bool {
    std::fs::metadata(format!("/proc/{}/status", server.child.id())).is_ok()
        && rss_kib(server.child.id()).is_some()
}

/// Waits for a `Joined` among `events`.
fn wait_joined(events: &Receiver<Event>, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left).map(|e| e.kind) {
            Ok(EventKind::Joined { .. }) => return Ok(()),
            Ok(EventKind::State {
                state: ConnectionState::Disconnected,
                error,
            }) => anyhow::bail!("a steady participant could not join: {error:?}"),
            Ok(_) => {}
            Err(_) => anyhow::bail!("a steady participant did not join within {limit:?}"),
        }
    }
}

/// One steady viewer and what it received.
struct Watcher {
    _keep_open: mpsc::UnboundedSender<LinkCommand>,
    events: Receiver<Event>,
    media: Receiver<MediaEvent>,
    frames: u64,
    data: HashSet<u64>,
    dropped: bool,
}

impl Watcher {
    fn take(&mut self) {
        while let Ok(m) = self.media.try_recv() {
            self.frames += u64::from(matches!(m.kind, MediaKind::Video { .. }));
        }
        while let Ok(e) = self.events.try_recv() {
            match e.kind {
                EventKind::Server(wire::Event::Data { from, payload, .. }) if from == HOST => {
                    if let Ok(seq) = <[u8; 8]>::try_from(payload.as_slice()) {
                        self.data.insert(u64::from_be_bytes(seq));
                    }
                }
                EventKind::State {
                    state: ConnectionState::Disconnected | ConnectionState::Reconnecting,
                    ..
                } => self.dropped = true,
                _ => {}
            }
        }
    }
}

/// One churning slot: session after session until the deadline.
async fn churner(slot: usize, churn: Arc<Churn>) {
    let mut rng = fastrand::Rng::with_seed(slot as u64);
    let mut round = 0;
    while Instant::now() < churn.deadline {
        let behaviour = BEHAVIOURS[rng.usize(..BEHAVIOURS.len())];
        if let Ok(mut sessions) = churn.sessions.lock() {
            *sessions.entry(behaviour).or_default() += 1;
        }
        let user = format!("churn-{slot}-{round}");
        round += 1;
        if session(&churn, &user, behaviour, &mut rng).await.is_none() {
            churn.joins_failed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// One churning session; `None` when it could not join.
async fn session(
    churn: &Churn,
    user: &str,
    behaviour: Behaviour,
    rng: &mut fastrand::Rng,
) -> Option<()> {
    let grants = match behaviour {
        Behaviour::Roles => "join,publish-audio,publish-video",
        Behaviour::Moderate => "join,moderator",
        _ => "join,publish-data",
    };
    let token = livestage_server::mint_token(
        "livestage",
        &churn.secret,
        &churn.channel,
        user,
        grants,
        3600,
    )
    .ok()?;
    let relay = if behaviour == Behaviour::Vanish {
        Some(Relay::start(churn.addr).await.ok()?)
    } else {
        None
    };
    let (addr, endpoint) = match &relay {
        Some(relay) => (relay.addr, engine::client_endpoint(relay.addr).ok()?),
        None => (
            churn.addr,
            churn.endpoints[rng.usize(..churn.endpoints.len())].clone(),
        ),
    };
    let mut options = JoinOptions::new(addr, &churn.pem, &churn.channel, &token, Role::Audience);
    options.pace_data = false;
    let (events_tx, events) = crossbeam_channel::bounded(4096);
    let (tx, rx) = mpsc::unbounded_channel();
    let link = tokio::spawn(engine::run_link(
        endpoint,
        options,
        rx,
        events_tx,
        churn.media.clone(),
    ));
    let joined = wait(churn, &events, Duration::from_secs(10), |k| {
        matches!(k, EventKind::Joined { .. })
    })
    .await;
    if !joined {
        link.abort();
        return None;
    }
    if let Ok(mut present) = churn.present.lock() {
        present.push(user.to_owned());
    }
    let send = |r: Request| {
        let _ = tx.send(LinkCommand::Request(r));
    };
    let hold = Duration::from_millis(rng.u64(300..2000));
    let until = Instant::now() + hold;
    let mut step = 0u64;
    while Instant::now() < until {
        step += 1;
        match behaviour {
            Behaviour::Leave | Behaviour::Vanish => {}
            Behaviour::Roles => send(Request::SetRole(if step % 2 == 1 {
                Role::Host
            } else {
                Role::Audience
            })),
            Behaviour::Subscribe => {
                let name = match rng.u8(..4) {
                    0 => HOST.to_owned(),
                    1 => format!("steady-{}", rng.u8(..16)),
                    _ => format!("ghost-{}", rng.u32(..)),
                };
                let video = [None, Some(Layer::High), Some(Layer::Low)][rng.usize(..3)];
                send(Request::Subscribe {
                    user: name,
                    track: [None, Some(0), Some(rng.u8(..))][rng.usize(..3)],
                    audio: rng.bool(),
                    video,
                });
            }
            Behaviour::Data => {
                for _ in 0..20 {
                    send(Request::Data {
                        to: Vec::new(),
                        payload: vec![0; rng.usize(1..256)],
                    });
                }
            }
            Behaviour::Hands => send(Request::RaiseHand(step % 2 == 1)),
            Behaviour::PublishUnasked => {
                let header = VideoHeader {
                    media_id: 0,
                    track: rng.u8(..),
                    layer: Layer::High,
                    stream: rng.u32(..),
                    frame: step,
                    keyframe: true,
                    capture_us: 0,
                };
                let payload = Bytes::from(vec![0u8; rng.usize(1..20_000)]);
                let _ = tx.send(LinkCommand::Video { header, payload });
                let (track, datagram) = (rng.u8(..), Bytes::from(vec![7u8; 80]));
                let _ = tx.send(LinkCommand::Audio { track, datagram });
            }
            Behaviour::Moderate => {
                let target = churn.present.lock().ok().and_then(|p| {
                    let i = rng.usize(..p.len().max(1));
                    p.get(i).cloned()
                });
                if let Some(target) = target.filter(|t| t != user) {
                    let until = Some(now_secs() + 5);
                    let action = match rng.u8(..4) {
                        0 => Action::Demote(target),
                        1 => Action::Kick {
                            user: target,
                            until,
                        },
                        2 => Action::Unban(target),
                        _ => Action::Promote(target),
                    };
                    send(Request::Moderate(action));
                }
            }
        }
        count_refusals(churn, &events);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Ok(mut present) = churn.present.lock() {
        present.retain(|p| p != user);
    }
    match relay {
        Some(relay) => {
            // Silence, then drop the link: its goodbye goes nowhere.
            relay.cut();
            link.abort();
        }
        None => {
            send(Request::Leave);
            wait(churn, &events, Duration::from_secs(2), |k| {
                matches!(
                    k,
                    EventKind::State {
                        state: ConnectionState::Disconnected,
                        ..
                    }
                )
            })
            .await;
            drop(tx);
            link.abort();
        }
    }
    Some(())
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Counts the server's refusals among what arrived.
fn count_refusals(churn: &Churn, events: &Receiver<Event>) {
    while let Ok(e) = events.try_recv() {
        note(churn, &e.kind);
    }
}

fn note(churn: &Churn, kind: &EventKind) {
    if let EventKind::Server(wire::Event::Refused { error, .. }) = kind
        && let Ok(mut refused) = churn.refused.lock()
    {
        *refused.entry(error.code.as_str().to_owned()).or_default() += 1;
    }
}

/// Waits (without blocking the runtime) for an event matching `done`.
async fn wait(
    churn: &Churn,
    events: &Receiver<Event>,
    limit: Duration,
    done: impl Fn(&EventKind) -> bool,
) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        while let Ok(e) = events.try_recv() {
            note(churn, &e.kind);
            if done(&e.kind) {
                return true;
            }
            if let EventKind::State {
                state: ConnectionState::Disconnected,
                ..
            } = e.kind
            {
                return false;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// A UDP relay to the server that can be cut, so a client vanishes without a goodbye.
struct Relay {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
}

impl Relay {
    async fn start(server: SocketAddr) -> std::io::Result<Self> {
        let front = UdpSocket::bind("127.0.0.1:0").await?;
        let back = UdpSocket::bind("127.0.0.1:0").await?;
        back.connect(server).await?;
        let addr = front.local_addr()?;
        let cut = Arc::new(AtomicBool::new(false));
        let stop = cut.clone();
        tokio::spawn(async move {
            let (mut up, mut down) = (vec![0u8; 65_536], vec![0u8; 65_536]);
            let mut client = None;
            while !stop.load(Ordering::Relaxed) {
                tokio::select! {
                    got = front.recv_from(&mut up) => {
                        let Ok((n, from)) = got else { break };
                        client = Some(from);
                        let _ = back.send(&up[..n]).await;
                    }
                    got = back.recv(&mut down) => {
                        let Ok(n) = got else { break };
                        if let Some(client) = client {
                            let _ = front.send_to(&down[..n], client).await;
                        }
                    }
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        });
        Ok(Self { addr, cut })
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::Relaxed);
    }
}
