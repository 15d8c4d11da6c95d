//! `livestage load`: many audience connections from one process, to measure how fast a server
//! admits them and what each idle one costs it. Without `--server` it starts its own
//! `livestage serve --dev` child so the server's memory and CPU can be read from /proc.
//! `--churn SECS` runs the soak instead (see `load_churn`).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use livestage_net::JoinOptions;
use livestage_net::engine::{self, ConnectionState, EventKind};
use livestage_proto::wire::Role;
use serde::Serialize;
use tokio::sync::mpsc;

/// Flags of `livestage load`.
#[derive(clap::Args)]
pub struct Args {
    /// A running server (otherwise a child `livestage serve --dev` is started).
    #[arg(long, requires_all = ["cert", "secret"])]
    server: Option<SocketAddr>,
    /// Its certificate.
    #[arg(long)]
    cert: Option<PathBuf>,
    /// Its app secret, to mint tokens.
    #[arg(long, env = "LIVESTAGE_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// The server's process id, to read its memory and CPU (known when started here).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Audience connections to open (subscribers when `--video` is given).
    #[arg(long, alias = "subscribers", default_value_t = 1000)]
    connections: usize,
    /// Most handshakes in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds to hold the connections open once all joined.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Channel to join.
    #[arg(long, default_value = "load")]
    pub(super) channel: String,
    /// Give up joining after this many seconds.
    #[arg(long, default_value_t = 120.0)]
    join_timeout: f64,
    /// Fan-out run: once everyone joined, one in-process host publishes this video source
    /// (`testpattern:1280x720@30`, or `textured:1280x720@30` which fills its ~1.5 Mbps like
    /// game footage) for `--duration` seconds to all subscribers.
    #[arg(long)]
    video: Option<String>,
    /// A frame arriving later than this after capture counts as late.
    #[arg(long, default_value_t = 150.0)]
    late_ms: f64,
    /// Write the JSON report here (it is also printed).
    #[arg(long)]
    pub(super) report: Option<PathBuf>,
    /// Soak for this many seconds instead: `--churners` connections join, leave, toggle
    /// roles, subscribe, send data, vanish and misbehave while a host publishes to `--steady`
    /// viewers (always against its own child server, whose log it reads for panics).
    #[arg(long, conflicts_with_all = ["server", "video"])]
    churn: Option<f64>,
    /// Churning connections at once in a soak.
    #[arg(long, default_value_t = 200)]
    churners: usize,
    /// Steady viewers in a soak.
    #[arg(long, default_value_t = 16)]
    steady: usize,
}

#[derive(Serialize)]
struct Report {
    connections: usize,
    joined: usize,
    failed: usize,
    join_secs: f64,
    joins_per_sec: f64,
    dropped_while_idle: usize,
    server_rss_before_kib: Option<u64>,
    server_rss_after_kib: Option<u64>,
    server_kib_per_connection: Option<f64>,
    server_cpu_secs_joining: Option<f64>,
    server_cpu_ms_per_join: Option<f64>,
    /// Server CPU while holding every connection idle, in percent of one core: keep-alives
    /// and timers. Part of it is also spent during the join window, on the connections
    /// already held, which is why CPU per join grows with the connection count.
    server_cpu_percent_idle: Option<f64>,
    client_rss_kib: Option<u64>,
    /// A host joining the full channel: time from starting its connection to its welcome
    /// (handshake included), the audience count it was told and the encoded size of the
    /// roster it received (welcome and pages, rebuilt from what it was given).
    host_join: Option<HostJoin>,
    video: Option<FanOut>,
}

/// What a host joining the loaded channel received, and how long it took.
#[derive(Serialize)]
struct HostJoin {
    join_ms: f64,
    audience: u32,
    peers: usize,
    roster_bytes: usize,
}

/// What a fan-out run measured.
#[derive(Serialize)]
struct FanOut {
    published_frames: u64,
    expected: u64,
    received: u64,
    late: u64,
    dropped: u64,
    late_or_dropped_percent: f64,
    latency_ms_p50: f64,
    latency_ms_p95: f64,
    server_cpu_percent: Option<f64>,
    server_cpu_ms_per_subscriber_second: Option<f64>,
    mbps_out: f64,
}

/// The client side of a load: a two-thread runtime and a handful of UDP sockets (quinn
/// endpoints) that carry all of its connections to `addr`.
pub(super) fn client_sockets(
    addr: SocketAddr,
) -> anyhow::Result<(tokio::runtime::Runtime, Vec<quinn::Endpoint>)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let endpoints = {
        let _guard = runtime.enter();
        (0..8)
            .map(|_| engine::client_endpoint(addr))
            .collect::<Result<_, _>>()?
    };
    Ok((runtime, endpoints))
}

/// Prints a report as JSON, and writes it to `path` when given.
pub(super) fn print_report(report: &impl Serialize, path: Option<&Path>) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(report)?;
    println!("{json}");
    if let Some(path) = path {
        std::fs::write(path, &json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Reads a process's resident memory in KiB.
pub(super) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Reads a process's user+system CPU time in seconds.
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

pub(super) struct ChildServer {
    pub(super) child: Child,
    pub(super) addr: SocketAddr,
    pub(super) cert: PathBuf,
    pub(super) secret: String,
    /// Lines of its log that report a panic (caught by the glue or not).
    pub(super) panics: Arc<AtomicU64>,
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.cert);
    }
}

pub(super) fn start_child_server() -> anyhow::Result<ChildServer> {
    let secret = livestage_server::random_secret();
    let cert = std::env::temp_dir().join(format!("livestage-load-{}.pem", std::process::id()));
    let mut child = Command::new(std::env::current_exe()?)
        .args(["serve", "--dev", "--listen", "127.0.0.1:0", "--cert-out"])
        .arg(&cert)
        .env("LIVESTAGE_SECRET", &secret)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start `livestage serve --dev`")?;
    // Its log passes through, counting panics on the way.
    let panics = Arc::new(AtomicU64::new(0));
    let stderr = child.stderr.take().context("child stderr")?;
    let counted = panics.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("panicked") {
                counted.fetch_add(1, Ordering::Relaxed);
            }
            eprintln!("{line}");
        }
    });
    let stdout = child.stdout.take().context("child stdout")?;
    let mut addr = None;
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line?;
        if let Some(a) = line.strip_prefix("listening on ") {
            addr = Some(a.trim().parse()?);
            break;
        }
    }
    // Keep draining stdout so the server never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let Some(addr) = addr else {
        let _ = child.kill();
        bail!("the server exited before it was listening");
    };
    Ok(ChildServer {
        child,
        addr,
        cert,
        secret,
        panics,
    })
}

/// Runs the load and prints the report.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(secs) = args.churn {
        return super::load_churn::run(&args, secs, args.churners, args.steady);
    }
    let child = if args.server.is_none() {
        Some(start_child_server()?)
    } else {
        None
    };
    let (addr, cert, secret, pid) = match &child {
        Some(c) => (c.addr, c.cert.clone(), c.secret.clone(), Some(c.child.id())),
        None => (
            args.server.context("--server")?,
            args.cert.clone().context("--cert")?,
            args.secret.clone().context("--secret")?,
            args.server_pid,
        ),
    };
    let pem = std::fs::read(&cert).with_context(|| format!("cannot read {}", cert.display()))?;
    let (runtime, endpoints) = client_sockets(addr)?;
    let _guard = runtime.enter();
    let (events_tx, events) = crossbeam_channel::unbounded();
    // Idle audience: no media flows; the receiver is kept so sends would not error.
    let (media_tx, media) = crossbeam_channel::bounded(1 << 16);
    let mut keep_open: Vec<mpsc::UnboundedSender<_>> = Vec::with_capacity(args.connections);

    std::thread::sleep(Duration::from_millis(300));
    let rss_before = pid.and_then(rss_kib);
    let cpu_before = pid.and_then(cpu_secs);
    let start = Instant::now();
    let join_deadline = start + Duration::from_secs_f64(args.join_timeout);
    let (mut launched, mut joined, mut failed) = (0usize, 0usize, 0usize);
    while joined + failed < args.connections && Instant::now() < join_deadline {
        while launched < args.connections && launched - joined - failed < args.concurrency {
            let user = format!("load-{launched}");
            let token = livestage_server::mint_token(
                "livestage",
                &secret,
                &args.channel,
                &user,
                "join",
                3600,
            )?;
            let options = JoinOptions::new(addr, &pem, &args.channel, &token, Role::Audience);
            let (tx, rx) = mpsc::unbounded_channel();
            let endpoint = endpoints[launched % endpoints.len()].clone();
            runtime.spawn(engine::run_link(
                endpoint,
                options,
                rx,
                events_tx.clone(),
                media_tx.clone(),
            ));
            keep_open.push(tx);
            launched += 1;
        }
        if let Ok(event) = events.recv_timeout(Duration::from_millis(100)) {
            match event.kind {
                EventKind::Joined { resumed: false, .. } => joined += 1,
                EventKind::State {
                    state: ConnectionState::Disconnected,
                    ..
                } => failed += 1,
                _ => {}
            }
        }
    }
    let join_secs = start.elapsed().as_secs_f64();
    let cpu_joining = pid.and_then(cpu_secs).zip(cpu_before).map(|(a, b)| a - b);
    eprintln!(
        "{joined} joined, {failed} failed in {join_secs:.2} s; holding for {} s",
        args.duration
    );

    let host_join = if args.video.is_none() {
        let token = livestage_server::mint_token(
            "livestage",
            &secret,
            &args.channel,
            "load-host",
            "join,publish-video",
            3600,
        )?;
        let options = JoinOptions::new(addr, &pem, &args.channel, &token, Role::Host);
        let (tx, rx) = mpsc::unbounded_channel();
        let started = Instant::now();
        runtime.spawn(engine::run_link(
            endpoints[0].clone(),
            options,
            rx,
            events_tx.clone(),
            media_tx.clone(),
        ));
        keep_open.push(tx);
        let deadline = started + Duration::from_secs(10);
        let mut found = None;
        while found.is_none() && Instant::now() < deadline {
            let Ok(event) = events.recv_timeout(Duration::from_millis(100)) else {
                continue;
            };
            if let EventKind::Joined {
                me,
                peers,
                audience,
                ..
            } = event.kind
                && me.user == "load-host"
            {
                let page = livestage_proto::wire::RosterPage {
                    start: true,
                    peers: peers.clone(),
                    more: false,
                };
                found = Some(HostJoin {
                    join_ms: started.elapsed().as_secs_f64() * 1000.0,
                    audience,
                    peers: peers.len(),
                    roster_bytes: livestage_proto::wire::encode(&page).len(),
                });
            }
        }
        found
    } else {
        None
    };

    let fan_out = match &args.video {
        Some(spec) => Some(fan_out(
            &args, spec, addr, &pem, &secret, pid, joined, &media,
        )?),
        None => None,
    };
    let hold_until = Instant::now()
        + Duration::from_secs_f64(if fan_out.is_some() {
            0.5
        } else {
            args.duration
        });
    let hold_start = Instant::now();
    let cpu_hold_start = pid.and_then(cpu_secs);
    let mut dropped = 0;
    while let Ok(event) = events.recv_timeout(hold_until.saturating_duration_since(Instant::now()))
    {
        if matches!(
            event.kind,
            EventKind::State {
                state: ConnectionState::Disconnected,
                ..
            }
        ) {
            dropped += 1;
        }
    }
    let cpu_idle = pid
        .and_then(cpu_secs)
        .zip(cpu_hold_start)
        .filter(|_| fan_out.is_none())
        .map(|(a, b)| (a - b) * 100.0 / hold_start.elapsed().as_secs_f64());
    let rss_after = pid.and_then(rss_kib);
    let per_conn = rss_before
        .zip(rss_after)
        .filter(|_| joined > 0)
        .map(|(b, a)| (a.saturating_sub(b)) as f64 / joined as f64);
    let report = Report {
        connections: args.connections,
        joined,
        failed,
        join_secs,
        joins_per_sec: joined as f64 / join_secs,
        dropped_while_idle: dropped,
        server_rss_before_kib: rss_before,
        server_rss_after_kib: rss_after,
        server_kib_per_connection: per_conn,
        server_cpu_secs_joining: cpu_joining,
        server_cpu_ms_per_join: cpu_joining
            .filter(|_| joined > 0)
            .map(|c| c * 1000.0 / joined as f64),
        server_cpu_percent_idle: cpu_idle,
        client_rss_kib: rss_kib(std::process::id()),
        host_join,
        video: fan_out,
    };
    print_report(&report, args.report.as_deref())?;
    drop(keep_open);
    runtime.shutdown_timeout(Duration::from_secs(1));
    drop(child);
    Ok(if joined == args.connections && dropped == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Publishes a test pattern from one in-process host to every joined subscriber and counts
/// what arrives, late and dropped, and what it cost the server.
#[allow(clippy::too_many_arguments)]
fn fan_out(
    args: &Args,
    spec: &str,
    addr: SocketAddr,
    pem: &[u8],
    secret: &str,
    pid: Option<u32>,
    subscribers: usize,
    media: &crossbeam_channel::Receiver<livestage_net::MediaEvent>,
) -> anyhow::Result<FanOut> {
    use super::bot_media::now_us;
    use super::bot_publish::Publish;

    let publish = Publish::parse(&format!("video={spec}"))?;
    let host = Arc::new(livestage_net::Engine::new()?);
    let token = livestage_server::mint_token(
        "livestage",
        secret,
        &args.channel,
        "load-host",
        "join,publish-video",
        3600,
    )?;
    host.join(JoinOptions::new(
        addr,
        pem,
        &args.channel,
        &token,
        Role::Host,
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match host.events().recv_timeout(left).map(|e| e.kind) {
            Ok(EventKind::Joined { .. }) => break,
            Ok(_) => {}
            Err(_) => anyhow::bail!("the publishing host could not join"),
        }
    }
    while media.try_recv().is_ok() {}
    let cpu_before = pid.and_then(cpu_secs);
    let started = Instant::now();
    // One publisher: the test pattern (a load publishes no screen share).
    let publisher = publish
        .start(
            host.clone(),
            &args.channel,
            false,
            None,
            &Default::default(),
        )?
        .pop()
        .context("--video gives a test pattern to publish")?;
    let (mut received, mut late, mut bytes) = (0u64, 0u64, 0u64);
    let mut latencies = Vec::new();
    let mut count = |event: livestage_net::MediaEvent| {
        if let livestage_net::MediaKind::Video { header, data } = event.kind {
            let ms = now_us().saturating_sub(header.capture_us) as f64 / 1000.0;
            received += 1;
            bytes += data.len() as u64;
            late += u64::from(ms > args.late_ms);
            if latencies.len() < 1_000_000 {
                latencies.push(ms);
            }
        }
    };
    let stop_at = started + Duration::from_secs_f64(args.duration);
    while Instant::now() < stop_at {
        // Keyframe requests from the server must reach the encoder.
        while let Ok(e) = host.events().try_recv() {
            publisher.handle(&e.kind);
        }
        if let Ok(e) = media.recv_timeout(Duration::from_millis(20)) {
            count(e);
        }
    }
    let sent = publisher.video_frames.clone();
    publisher.stop()?;
    let published = sent.load(Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = pid.and_then(cpu_secs).zip(cpu_before).map(|(a, b)| a - b);
    // Frames still in flight get a moment to land.
    let drain_until = Instant::now() + Duration::from_millis(700);
    while let Ok(e) = media.recv_timeout(drain_until.saturating_duration_since(Instant::now())) {
        count(e);
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| {
        latencies
            .get(((latencies.len().max(1) - 1) as f64 * q) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let expected = published * subscribers as u64;
    let dropped = expected.saturating_sub(received);
    Ok(FanOut {
        published_frames: published,
        expected,
        received,
        late,
        dropped,
        late_or_dropped_percent: if expected == 0 {
            0.0
        } else {
            (late + dropped) as f64 * 100.0 / expected as f64
        },
        latency_ms_p50: at(0.5),
        latency_ms_p95: at(0.95),
        server_cpu_percent: cpu.map(|c| c * 100.0 / elapsed),
        server_cpu_ms_per_subscriber_second: cpu
            .filter(|_| subscribers > 0)
            .map(|c| c * 1000.0 / elapsed / subscribers as f64),
        mbps_out: bytes as f64 * 8.0 / elapsed / 1e6,
    })
}
