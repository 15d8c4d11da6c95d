//! Seeded userspace UDP impairment proxy.
//!
//! `tc netem` needs root and a kernel module, so tests and the `livestage proxy` CLI use this
//! instead: a UDP relay that sits between a QUIC client and server and drops, delays and
//! reorders datagrams in each direction.
//!
//! Every random decision comes from one seeded [`SmallRng`]. The seed is split into one
//! independent stream per direction, and each datagram consumes a fixed number of draws, so
//! the same seed and the same packet order in a direction give the same decisions, no matter
//! how the two directions interleave or which impairments are enabled.
//!
//! ```no_run
//! use std::time::Duration;
//! use livestage_net::proxy::{Config, Impairment, Proxy};
//!
//! # fn main() -> anyhow::Result<()> {
//! let proxy = Proxy::spawn(Config {
//!     listen: "127.0.0.1:0".parse()?,
//!     upstream: "127.0.0.1:4433".parse()?,
//!     seed: 42,
//!     up: Impairment { loss: 0.05, delay: Duration::from_millis(20), ..Impairment::default() },
//!     down: Impairment::default(),
//! })?;
//! // Point the client at `proxy.local_addr()`; use `proxy.handle()` to change the link.
//! proxy.handle().outage_for(Duration::from_secs(2));
//! # Ok(())
//! # }
//! ```

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use anyhow::Context as _;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

/// Most client flows (distinct client source addresses) kept at once; the least recently
/// active flow is evicted to make room for a new one.
const MAX_FLOWS: usize = 1024;
/// A flow with no traffic in either direction for this long is closed.
const FLOW_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often idle flows are looked for.
const SWEEP_INTERVAL: Duration = Duration::from_secs(5);
/// Most datagrams waiting for their due time; more are dropped and counted.
const MAX_IN_FLIGHT: usize = 8192;
/// Capacity of the channel carrying server replies to the relay task; overflow is dropped.
const DOWN_QUEUE: usize = 1024;
/// Receive buffer size: the largest UDP payload fits.
const MAX_DATAGRAM: usize = 65535;
/// Margin added to a reordered packet's hold-back so it lands after the slowest regular packet.
const REORDER_MARGIN: Duration = Duration::from_millis(5);

/// How one direction of traffic is impaired. Default = perfect link.
///
/// Probabilities outside `0..=1` behave as clamped (NaN counts as 0).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Impairment {
    /// Independent drop probability per datagram, `0..=1`.
    pub loss: f64,
    /// Gilbert-Elliott two-state burst loss, applied in addition to `loss`.
    pub burst: Option<Burst>,
    /// One-way base delay added to every datagram.
    pub delay: Duration,
    /// Uniform extra delay in `0..=jitter` per datagram.
    pub jitter: Duration,
    /// Probability a datagram is held back an extra `delay + jitter + 5 ms`, so later
    /// datagrams overtake it.
    pub reorder: f64,
    /// A bottleneck: datagrams leave at most this many bits per second, waiting in a queue
    /// that holds at most `queue` of backlog; beyond it they are dropped (tail drop).
    pub rate_bps: Option<u64>,
    /// The bottleneck queue's capacity, as time to drain it (used with `rate_bps`).
    pub queue: Duration,
}

/// Gilbert-Elliott burst loss: a two-state (good/bad) Markov chain stepped once per datagram;
/// every datagram in the bad state is dropped. Mean burst length is `1 / leave`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Burst {
    /// Probability per datagram of moving from the good to the bad state.
    pub enter: f64,
    /// Probability per datagram of moving from the bad to the good state.
    pub leave: f64,
}

/// Proxy configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on for clients (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Server address datagrams are relayed to.
    pub upstream: SocketAddr,
    /// Seed of the RNG that makes every drop and delay decision.
    pub seed: u64,
    /// Impairment of client -> server traffic.
    pub up: Impairment,
    /// Impairment of server -> client traffic.
    pub down: Impairment,
}

/// Datagram counters, both directions together.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Datagrams handed to the kernel for delivery.
    pub forwarded: u64,
    /// Datagrams dropped for any reason: impairment, outage, full queues or send errors.
    pub dropped: u64,
}

/// A running proxy. Dropping it stops the proxy and closes its sockets.
pub struct Proxy {
    local_addr: SocketAddr,
    handle: Handle,
    /// Dropping the sender tells the relay task to stop.
    shutdown: Option<oneshot::Sender<()>>,
    runner: Runner,
}

/// Where the relay task runs, so `Drop` can stop it the right way.
enum Runner {
    /// A task on the caller's runtime ([`Proxy::start`]).
    Task(JoinHandle<()>),
    /// A dedicated thread with its own runtime ([`Proxy::spawn`]).
    Thread(Option<thread::JoinHandle<()>>),
}

impl Proxy {
    /// Starts on the current tokio runtime.
    ///
    /// Fails if the listening socket cannot be bound.
    pub async fn start(config: Config) -> anyhow::Result<Proxy> {
        let (relay, local_addr, handle) = Relay::new(config)?;
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(relay.run(rx));
        Ok(Proxy {
            local_addr,
            handle,
            shutdown: Some(tx),
            runner: Runner::Task(task),
        })
    }

    /// Starts on its own background thread with its own single-threaded tokio runtime (for
    /// sync tests and the CLI).
    ///
    /// Fails if the listening socket cannot be bound or the runtime cannot be built.
    pub fn spawn(config: Config) -> anyhow::Result<Proxy> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("building the proxy runtime")?;
        // Sockets register with the runtime they are created in, so enter it first.
        let built = {
            let _guard = runtime.enter();
            Relay::new(config)
        };
        let (relay, local_addr, handle) = match built {
            Ok(built) => built,
            Err(e) => {
                // A plain drop would panic if the caller is itself inside an async context.
                runtime.shutdown_background();
                return Err(e);
            }
        };
        let (tx, rx) = oneshot::channel();
        let thread = thread::Builder::new()
            .name("udp-proxy".into())
            .spawn(move || runtime.block_on(relay.run(rx)))
            .context("spawning the proxy thread")?;
        Ok(Proxy {
            local_addr,
            handle,
            shutdown: Some(tx),
            runner: Runner::Thread(Some(thread)),
        })
    }

    /// Address clients send to. An unspecified listen address (`0.0.0.0`, `::`) is reported
    /// as the loopback address of the same family, with the bound port.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A cheap, cloneable handle to change the link and read stats while the proxy runs.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Closing the channel makes the relay loop return; its flows abort their readers.
        drop(self.shutdown.take());
        match &mut self.runner {
            // Abort too, in case the caller's runtime is not polling the task any more.
            Runner::Task(task) => task.abort(),
            Runner::Thread(thread) => {
                if let Some(thread) = thread.take() {
                    // The relay loop exits at its next poll, so this join is short.
                    if thread.join().is_err() {
                        tracing::warn!("udp proxy thread panicked");
                    }
                }
            }
        }
    }
}

/// Controls a running [`Proxy`] from any thread. Cheap to clone.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    /// While on, every datagram in both directions is dropped, including those already
    /// delayed inside the proxy. Turning it off also ends an [`outage_for`](Self::outage_for).
    pub fn set_outage(&self, on: bool) {
        let mut link = self.shared.link();
        link.outage = on;
        link.outage_until = None;
    }

    /// Starts an outage that ends by itself after `d`. Returns immediately.
    ///
    /// Replaces any earlier timed outage; an outage switched on with
    /// [`set_outage(true)`](Self::set_outage) stays on until switched off.
    pub fn outage_for(&self, d: Duration) {
        let until = Instant::now().checked_add(d);
        let mut link = self.shared.link();
        match until {
            Some(until) => link.outage_until = Some(until),
            // Too far in the future to represent: treat it as permanent.
            None => link.outage = true,
        }
    }

    /// Replaces the impairment of both directions; applies to datagrams received from now on.
    pub fn set_impairment(&self, up: Impairment, down: Impairment) {
        let mut link = self.shared.link();
        link.up = up;
        link.down = down;
        link.pending = None;
    }

    /// Replaces the impairment of both directions `after` from now (the link stays as it is
    /// until then), so a client can join over a clean path that degrades later. Returns
    /// immediately; a later call replaces a change still waiting.
    pub fn set_impairment_after(&self, after: Duration, up: Impairment, down: Impairment) {
        let Some(at) = Instant::now().checked_add(after) else {
            return; // Never, in practice.
        };
        self.shared.link().pending = Some((at, up, down));
    }

    /// Counters since the proxy started.
    pub fn stats(&self) -> Stats {
        Stats {
            forwarded: self.shared.forwarded.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
        }
    }
}

/// State shared between the relay task and [`Handle`]s.
struct Shared {
    link: Mutex<Link>,
    forwarded: AtomicU64,
    dropped: AtomicU64,
}

impl Shared {
    fn link(&self) -> MutexGuard<'_, Link> {
        // Link is plain data with no invariants a panicking holder could break.
        self.link.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The impairment of one direction now, applying a pending change that is due.
    fn impairment(&self, now: Instant, up: bool) -> Impairment {
        let mut link = self.link();
        if let Some((at, ..)) = &link.pending
            && now >= *at
            && let Some((_, up, down)) = link.pending.take()
        {
            link.up = up;
            link.down = down;
        }
        if up {
            link.up.clone()
        } else {
            link.down.clone()
        }
    }

    fn in_outage(&self, now: Instant) -> bool {
        let link = self.link();
        link.outage || link.outage_until.is_some_and(|until| now < until)
    }

    fn count_forwarded(&self) {
        self.forwarded.fetch_add(1, Ordering::Relaxed);
    }

    fn count_dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// The link as currently configured through [`Handle`].
struct Link {
    up: Impairment,
    down: Impairment,
    outage: bool,
    outage_until: Option<Instant>,
    /// A change of both directions' impairment, and when it applies.
    pending: Option<(Instant, Impairment, Impairment)>,
}

/// Per-direction decision state: its own RNG stream and Gilbert-Elliott state.
struct Direction {
    rng: SmallRng,
    bad: bool,
    /// When the bottleneck link finishes sending what it already holds.
    busy_until: Option<Instant>,
}

impl Direction {
    /// Decides one datagram's fate: `None` to drop it, or how long to hold it.
    ///
    /// Always draws exactly four numbers so later decisions do not depend on which
    /// impairments are enabled.
    fn decide(&mut self, imp: &Impairment) -> Option<Duration> {
        let [transition, loss, jitter, reorder]: [f64; 4] =
            std::array::from_fn(|_| self.rng.r#gen::<f64>());
        self.bad = match imp.burst {
            Some(burst) if self.bad => transition >= burst.leave,
            Some(burst) => transition < burst.enter,
            None => false,
        };
        if self.bad || loss < imp.loss {
            return None;
        }
        // `jitter` is in [0, 1), so the product never exceeds `imp.jitter`.
        let mut hold = imp.delay.saturating_add(imp.jitter.mul_f64(jitter));
        if reorder < imp.reorder {
            let extra = imp
                .delay
                .saturating_add(imp.jitter)
                .saturating_add(REORDER_MARGIN);
            hold = hold.saturating_add(extra);
        }
        Some(hold)
    }

    /// Applies the bottleneck rate to a datagram of `len` bytes that arrived at `now`:
    /// extra hold while it waits its turn, or `None` when the queue is full.
    fn shape(
        &mut self,
        imp: &Impairment,
        now: Instant,
        len: usize,
        hold: Option<Duration>,
    ) -> Option<Duration> {
        let (Some(rate), Some(hold)) = (imp.rate_bps.filter(|r| *r > 0), hold) else {
            return hold;
        };
        let start = self.busy_until.filter(|b| *b > now).unwrap_or(now);
        if start - now > imp.queue {
            return None;
        }
        let done = start + Duration::from_secs_f64(len as f64 * 8.0 / rate as f64);
        self.busy_until = Some(done);
        Some(hold + (done - now))
    }
}

/// Where a datagram goes when it is due.
enum Dest {
    /// To the server, through a flow's connected socket.
    Upstream(Arc<StdUdpSocket>),
    /// To a client, from the listening socket.
    Client(SocketAddr),
}

/// A datagram waiting for its due time.
struct Pending {
    due: Instant,
    /// Arrival order, so datagrams due at the same instant keep their order.
    seq: u64,
    dest: Dest,
    data: Vec<u8>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    /// Reversed so `BinaryHeap` (a max-heap) pops the earliest due datagram first.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

/// One client source address and its dedicated upstream socket.
struct Flow {
    /// Non-blocking send side of the upstream socket.
    upstream: Arc<StdUdpSocket>,
    /// Task receiving server replies on the same socket.
    reader: JoinHandle<()>,
    last_active: Instant,
}

impl Drop for Flow {
    fn drop(&mut self) {
        // Closes the upstream socket once no delayed datagram still holds it.
        self.reader.abort();
    }
}

/// The relay task's state.
struct Relay {
    /// Receive side of the listening socket.
    listen: UdpSocket,
    /// Send side of the listening socket (a clone of the same socket).
    listen_tx: StdUdpSocket,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    up: Direction,
    down: Direction,
    flows: HashMap<SocketAddr, Flow>,
    queue: BinaryHeap<Pending>,
    next_seq: u64,
    down_tx: mpsc::Sender<(SocketAddr, Vec<u8>)>,
    down_rx: mpsc::Receiver<(SocketAddr, Vec<u8>)>,
}

impl Relay {
    /// Binds the listening socket; must run inside the runtime that will run the relay.
    fn new(config: Config) -> anyhow::Result<(Relay, SocketAddr, Handle)> {
        let Config {
            listen,
            upstream,
            seed,
            up,
            down,
        } = config;
        let listen_tx = StdUdpSocket::bind(listen)
            .with_context(|| format!("binding the proxy listen socket on {listen}"))?;
        // Sends go straight through the std socket so they never wait on tokio readiness;
        // a full send buffer is a drop, like on a real congested link.
        listen_tx
            .set_nonblocking(true)
            .context("making the listen socket non-blocking")?;
        let listen_rx =
            UdpSocket::from_std(listen_tx.try_clone().context("cloning the listen socket")?)
                .context("registering the listen socket with tokio")?;
        let mut local_addr = listen_tx
            .local_addr()
            .context("reading the listen address")?;
        if local_addr.ip().is_unspecified() {
            local_addr.set_ip(loopback_like(local_addr.ip()));
        }

        // One seeded RNG, split into an independent stream per direction so the up decisions
        // do not depend on how replies interleave with requests.
        let mut root = SmallRng::seed_from_u64(seed);
        let up_dir = Direction {
            rng: SmallRng::seed_from_u64(root.r#gen()),
            bad: false,
            busy_until: None,
        };
        let down_dir = Direction {
            rng: SmallRng::seed_from_u64(root.r#gen()),
            bad: false,
            busy_until: None,
        };

        let shared = Arc::new(Shared {
            link: Mutex::new(Link {
                up,
                down,
                outage: false,
                outage_until: None,
                pending: None,
            }),
            forwarded: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        let (down_tx, down_rx) = mpsc::channel(DOWN_QUEUE);
        let relay = Relay {
            listen: listen_rx,
            listen_tx,
            upstream,
            shared: shared.clone(),
            up: up_dir,
            down: down_dir,
            flows: HashMap::new(),
            queue: BinaryHeap::new(),
            next_seq: 0,
            down_tx,
            down_rx,
        };
        Ok((relay, local_addr, Handle { shared }))
    }

    /// Relays until `shutdown` resolves (sent or dropped).
    async fn run(mut self, mut shutdown: oneshot::Receiver<()>) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut sweep = tokio::time::interval(SWEEP_INTERVAL);
        sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let next_due = self.queue.peek().map(|p| p.due);
            // With nothing queued the branch is disabled, so the placeholder deadline is unused.
            let timer = tokio::time::sleep_until(next_due.unwrap_or_else(Instant::now));
            tokio::select! {
                _ = &mut shutdown => break,
                received = self.listen.recv_from(&mut buf) => match received {
                    Ok((len, client)) => self.on_client_datagram(client, &buf[..len]),
                    Err(e) => recv_error("listen socket", e).await,
                },
                Some((client, data)) = self.down_rx.recv() => self.on_server_datagram(client, data),
                () = timer, if next_due.is_some() => self.flush(Instant::now()),
                _ = sweep.tick() => self.expire_idle(Instant::now()),
            }
        }
        tracing::debug!("udp proxy stopped");
    }

    /// A datagram from a client, bound for the server.
    fn on_client_datagram(&mut self, client: SocketAddr, data: &[u8]) {
        let now = Instant::now();
        if self.shared.in_outage(now) {
            self.shared.count_dropped();
            return;
        }
        let Some(upstream) = self.flow_for(client, now) else {
            self.shared.count_dropped();
            return;
        };
        let imp = self.shared.impairment(now, true);
        let hold = self.up.decide(&imp);
        let hold = self.up.shape(&imp, now, data.len(), hold);
        self.schedule(now, hold, Dest::Upstream(upstream), data.to_vec());
    }

    /// A reply from the server, bound for `client`.
    fn on_server_datagram(&mut self, client: SocketAddr, data: Vec<u8>) {
        let now = Instant::now();
        if let Some(flow) = self.flows.get_mut(&client) {
            flow.last_active = now;
        }
        if self.shared.in_outage(now) {
            self.shared.count_dropped();
            return;
        }
        let imp = self.shared.impairment(now, false);
        let hold = self.down.decide(&imp);
        let hold = self.down.shape(&imp, now, data.len(), hold);
        self.schedule(now, hold, Dest::Client(client), data);
    }

    /// Queues a datagram (or counts its drop) and sends whatever is due.
    fn schedule(&mut self, now: Instant, hold: Option<Duration>, dest: Dest, data: Vec<u8>) {
        let due = hold.and_then(|hold| now.checked_add(hold));
        match due {
            Some(due) if self.queue.len() < MAX_IN_FLIGHT => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.queue.push(Pending {
                    due,
                    seq,
                    dest,
                    data,
                });
            }
            _ => self.shared.count_dropped(),
        }
        // Undelayed datagrams go out now, after anything that fell due before them.
        self.flush(now);
    }

    /// Sends every queued datagram due at or before `now`, in due order.
    fn flush(&mut self, now: Instant) {
        let mut outage = None;
        while self.queue.peek().is_some_and(|p| p.due <= now) {
            let Some(p) = self.queue.pop() else { break };
            // A datagram still "on the wire" when the link goes down is lost too.
            if *outage.get_or_insert_with(|| self.shared.in_outage(now)) {
                self.shared.count_dropped();
                continue;
            }
            let sent = match &p.dest {
                Dest::Upstream(socket) => socket.send(&p.data),
                Dest::Client(addr) => self.listen_tx.send_to(&p.data, addr),
            };
            match sent {
                Ok(_) => self.shared.count_forwarded(),
                Err(e) => {
                    tracing::debug!("udp proxy send failed: {e}");
                    self.shared.count_dropped();
                }
            }
        }
    }

    /// The upstream socket for `client`, creating its flow if needed.
    fn flow_for(&mut self, client: SocketAddr, now: Instant) -> Option<Arc<StdUdpSocket>> {
        if let Some(flow) = self.flows.get_mut(&client) {
            flow.last_active = now;
            return Some(flow.upstream.clone());
        }
        if self.flows.len() >= MAX_FLOWS {
            self.expire_idle(now);
        }
        if self.flows.len() >= MAX_FLOWS {
            // Still full: evict the least recently active flow rather than lock out new ones.
            let oldest = self
                .flows
                .iter()
                .min_by_key(|(_, f)| f.last_active)
                .map(|(a, _)| *a);
            if let Some(oldest) = oldest {
                self.flows.remove(&oldest);
            }
        }
        match self.open_flow(client, now) {
            Ok(flow) => {
                let upstream = flow.upstream.clone();
                self.flows.insert(client, flow);
                Some(upstream)
            }
            Err(e) => {
                tracing::warn!("udp proxy cannot open upstream socket for {client}: {e}");
                None
            }
        }
    }

    fn open_flow(&self, client: SocketAddr, now: Instant) -> io::Result<Flow> {
        let bind_ip = if self.upstream.ip().is_loopback() {
            loopback_like(self.upstream.ip())
        } else {
            // A loopback-bound socket cannot reach a remote server.
            match self.upstream.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            }
        };
        let socket = StdUdpSocket::bind(SocketAddr::new(bind_ip, 0))?;
        socket.connect(self.upstream)?;
        socket.set_nonblocking(true)?;
        let rx = UdpSocket::from_std(socket.try_clone()?)?;
        let reader = tokio::spawn(read_upstream(
            rx,
            client,
            self.down_tx.clone(),
            self.shared.clone(),
        ));
        Ok(Flow {
            upstream: Arc::new(socket),
            reader,
            last_active: now,
        })
    }

    fn expire_idle(&mut self, now: Instant) {
        self.flows
            .retain(|_, flow| now.saturating_duration_since(flow.last_active) < FLOW_IDLE_TIMEOUT);
    }
}

/// Forwards server replies on one flow's socket to the relay task, tagged with the client.
async fn read_upstream(
    socket: UdpSocket,
    client: SocketAddr,
    to_relay: mpsc::Sender<(SocketAddr, Vec<u8>)>,
    shared: Arc<Shared>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match socket.recv(&mut buf).await {
            Ok(len) => match to_relay.try_send((client, buf[..len].to_vec())) {
                Ok(()) => {}
                // The relay is behind; dropping beats unbounded buffering.
                Err(mpsc::error::TrySendError::Full(_)) => shared.count_dropped(),
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            },
            Err(e) => recv_error("upstream socket", e).await,
        }
    }
}

/// Logs a receive error; backs off briefly on unexpected ones so a persistent error cannot
/// spin the loop.
async fn recv_error(what: &str, e: io::Error) {
    match e.kind() {
        // ICMP port unreachable from a peer that is not (yet) listening: harmless.
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset => {
            tracing::trace!("udp proxy {what}: {e}");
        }
        _ => {
            tracing::warn!("udp proxy {what} receive failed: {e}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The loopback address of the same family as `ip`.
fn loopback_like(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direction(seed: u64) -> Direction {
        Direction {
            rng: SmallRng::seed_from_u64(seed),
            bad: false,
            busy_until: None,
        }
    }

    #[test]
    fn perfect_link_never_drops_or_delays() {
        let mut d = direction(1);
        for _ in 0..1000 {
            assert_eq!(d.decide(&Impairment::default()), Some(Duration::ZERO));
        }
    }

    #[test]
    fn decisions_are_reproducible() {
        let imp = Impairment {
            loss: 0.3,
            jitter: Duration::from_millis(10),
            reorder: 0.1,
            ..Impairment::default()
        };
        let mut a = direction(9);
        let mut b = direction(9);
        for _ in 0..1000 {
            assert_eq!(a.decide(&imp), b.decide(&imp));
        }
    }

    #[test]
    fn delay_stays_within_bounds() {
        let imp = Impairment {
            delay: Duration::from_millis(20),
            jitter: Duration::from_millis(10),
            reorder: 0.2,
            ..Impairment::default()
        };
        let (mut normal, mut held) = (0, 0);
        let mut d = direction(3);
        for _ in 0..2000 {
            let hold = d.decide(&imp).expect("no loss configured");
            if hold <= Duration::from_millis(30) {
                assert!(hold >= Duration::from_millis(20));
                normal += 1;
            } else {
                // Held back by at least the worst regular delay plus the margin.
                assert!(hold >= Duration::from_millis(55), "{hold:?}");
                assert!(hold <= Duration::from_millis(65), "{hold:?}");
                held += 1;
            }
        }
        assert!(normal > 1400 && held > 250, "normal {normal}, held {held}");
    }

    #[test]
    fn pending_pops_earliest_then_oldest() {
        let now = Instant::now();
        let mut heap = BinaryHeap::new();
        let at = |ms, seq| Pending {
            due: now + Duration::from_millis(ms),
            seq,
            dest: Dest::Client(SocketAddr::from(([127, 0, 0, 1], 1))),
            data: Vec::new(),
        };
        heap.push(at(5, 0));
        heap.push(at(1, 2));
        heap.push(at(1, 1));
        let order: Vec<u64> = std::iter::from_fn(|| heap.pop().map(|p| p.seq)).collect();
        assert_eq!(order, [1, 2, 0]);
    }

    #[test]
    fn a_bottleneck_paces_and_tail_drops() {
        let mut d = direction(3);
        let imp = Impairment {
            rate_bps: Some(8_000),
            queue: Duration::from_millis(250),
            ..Impairment::default()
        };
        let now = Instant::now();
        // 100 bytes at 8 kbit/s take 100 ms each: 0.1 s, 0.2 s, 0.3 s, then the queue is full.
        let holds: Vec<Option<Duration>> = (0..4)
            .map(|_| d.shape(&imp, now, 100, Some(Duration::ZERO)))
            .collect();
        assert_eq!(holds[0], Some(Duration::from_millis(100)));
        assert_eq!(holds[1], Some(Duration::from_millis(200)));
        assert_eq!(holds[2], Some(Duration::from_millis(300)));
        assert_eq!(holds[3], None, "over 250 ms of backlog is dropped");
    }
}
