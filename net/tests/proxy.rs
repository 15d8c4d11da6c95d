//! Integration tests of the UDP impairment proxy, over loopback with a UDP echo server.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use livestage_net::proxy::{Burst, Config, Handle, Impairment, Proxy};
use tokio::net::UdpSocket;
use tokio::time::{Instant, sleep, timeout};

/// Every async test body is wrapped in this so a regression fails instead of hanging.
const HARD_TIMEOUT: Duration = Duration::from_secs(10);
/// Most datagrams in flight at once, so kernel socket buffers never overflow and every loss
/// is a proxy decision.
const WINDOW: u64 = 32;
const PAYLOAD: usize = 64;

/// Starts a UDP echo server that answers each datagram after `reply_delay`.
async fn echo_server(reply_delay: Duration) -> SocketAddr {
    let socket = Arc::new(
        UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind echo server"),
    );
    let addr = socket.local_addr().expect("echo server address");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65535];
        loop {
            let Ok((len, from)) = socket.recv_from(&mut buf).await else {
                continue;
            };
            let data = buf[..len].to_vec();
            if reply_delay.is_zero() {
                let _ = socket.send_to(&data, from).await;
            } else {
                let socket = socket.clone();
                tokio::spawn(async move {
                    sleep(reply_delay).await;
                    let _ = socket.send_to(&data, from).await;
                });
            }
        }
    });
    addr
}

/// Proxy in front of a fresh echo server, and a client socket connected to the proxy.
async fn setup(seed: u64, up: Impairment, down: Impairment) -> (Proxy, UdpSocket) {
    setup_with_echo(seed, up, down, Duration::ZERO).await
}

async fn setup_with_echo(
    seed: u64,
    up: Impairment,
    down: Impairment,
    reply_delay: Duration,
) -> (Proxy, UdpSocket) {
    let upstream = echo_server(reply_delay).await;
    let listen = "127.0.0.1:0".parse().expect("valid address");
    let proxy = Proxy::start(Config {
        listen,
        upstream,
        seed,
        up,
        down,
    })
    .await
    .expect("start");
    let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind client");
    client
        .connect(proxy.local_addr())
        .await
        .expect("connect client");
    (proxy, client)
}

fn packet(seq: u32) -> Vec<u8> {
    let mut msg = vec![0u8; PAYLOAD];
    msg[..4].copy_from_slice(&seq.to_be_bytes());
    msg
}

fn seq_of(msg: &[u8]) -> u32 {
    let head: [u8; 4] = msg[..4].try_into().expect("echo returns at least 4 bytes");
    u32::from_be_bytes(head)
}

/// Sends sequence numbers `0..n` through the proxy, at most [`WINDOW`] unsettled at a time,
/// and returns the echoed sequence numbers in arrival order. A datagram is settled once it
/// is echoed back or the proxy counts it dropped.
async fn pump(client: &UdpSocket, handle: &Handle, n: u32) -> Vec<u32> {
    let dropped_before = handle.stats().dropped;
    let mut got = Vec::new();
    let mut sent = 0u32;
    let mut buf = vec![0u8; 2048];
    loop {
        let settled = got.len() as u64 + (handle.stats().dropped - dropped_before);
        if sent == n && settled >= u64::from(n) {
            return got;
        }
        if sent < n && u64::from(sent).saturating_sub(settled) < WINDOW {
            client.send(&packet(sent)).await.expect("client send");
            sent += 1;
            continue;
        }
        if let Ok(received) = timeout(Duration::from_millis(5), client.recv(&mut buf)).await {
            let len = received.expect("client recv");
            got.push(seq_of(&buf[..len]));
        }
    }
}

/// One round trip with sequence number `seq`; `None` if no echo arrives within `wait`.
async fn ping(client: &UdpSocket, seq: u32, wait: Duration) -> Option<Duration> {
    let start = Instant::now();
    client.send(&packet(seq)).await.expect("client send");
    let mut buf = vec![0u8; 2048];
    let deadline = start + wait;
    loop {
        let len = match tokio::time::timeout_at(deadline, client.recv(&mut buf)).await {
            Ok(received) => received.expect("client recv"),
            Err(_) => return None,
        };
        // Skip stale echoes of earlier pings.
        if seq_of(&buf[..len]) == seq {
            return Some(start.elapsed());
        }
    }
}

/// True if nothing at all arrives on `client` within `wait`.
async fn silent_for(client: &UdpSocket, wait: Duration) -> bool {
    let mut buf = vec![0u8; 2048];
    let deadline = Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, client.recv(&mut buf)).await {
            Err(_) => return true,
            Ok(Ok(_)) => return false,
            // ICMP port unreachable (e.g. from a stopped proxy) is not data.
            Ok(Err(_)) => continue,
        }
    }
}

/// Number of maximal runs of consecutive missing sequence numbers in `0..n`, and total missing.
fn loss_runs(received: &[u32], n: u32) -> (u32, u32) {
    let got: HashSet<u32> = received.iter().copied().collect();
    let (mut runs, mut missing, mut in_run) = (0, 0, false);
    for seq in 0..n {
        let lost = !got.contains(&seq);
        if lost {
            missing += 1;
            if !in_run {
                runs += 1;
            }
        }
        in_run = lost;
    }
    (runs, missing)
}

#[tokio::test]
async fn perfect_link_echoes_everything() {
    timeout(HARD_TIMEOUT, async {
        let (proxy, client) = setup(1, Impairment::default(), Impairment::default()).await;
        let handle = proxy.handle();
        let got = pump(&client, &handle, 200).await;

        let mut sorted = got.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..200).collect::<Vec<_>>());
        // A perfect link keeps order, too.
        assert_eq!(got, sorted);
        let stats = handle.stats();
        assert_eq!(stats.dropped, 0);
        assert_eq!(stats.forwarded, 400, "200 up + 200 down");

        // Dropping the proxy stops forwarding.
        let addr = proxy.local_addr();
        drop(proxy);
        sleep(Duration::from_millis(50)).await;
        let probe = UdpSocket::bind("127.0.0.1:0").await.expect("bind probe");
        probe.connect(addr).await.expect("connect probe");
        let _ = probe.send(&packet(1)).await;
        assert!(
            silent_for(&probe, Duration::from_millis(300)).await,
            "proxy still forwarding"
        );
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn seeded_loss_is_in_range_and_reproducible() {
    timeout(HARD_TIMEOUT, async {
        let lossy = Impairment {
            loss: 0.2,
            ..Impairment::default()
        };
        let run = |seed| {
            let lossy = lossy.clone();
            async move {
                let (proxy, client) = setup(seed, lossy, Impairment::default()).await;
                let handle = proxy.handle();
                let got = pump(&client, &handle, 2000).await;
                let stats = handle.stats();
                assert_eq!(got.len() as u64 + stats.dropped, 2000);
                assert_eq!(
                    stats.forwarded,
                    2 * got.len() as u64,
                    "echoes go up and down"
                );
                let got: HashSet<u32> = got.into_iter().collect();
                (stats.dropped, got)
            }
        };

        let (dropped, first) = run(7).await;
        assert!(
            (300..=500).contains(&dropped),
            "dropped {dropped} of 2000 at 20% loss"
        );
        let (dropped_again, second) = run(7).await;
        assert_eq!(dropped, dropped_again, "same seed, same drop count");
        assert_eq!(first, second, "same seed, same datagrams dropped");
        let (_, other) = run(8).await;
        assert_ne!(first, other, "the seed should matter");
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn delay_applies_in_both_directions() {
    timeout(HARD_TIMEOUT, async {
        let slow = Impairment {
            delay: Duration::from_millis(50),
            ..Impairment::default()
        };
        let (_proxy, client) = setup(3, slow.clone(), slow).await;
        for seq in 0..3 {
            let rtt = ping(&client, seq, Duration::from_secs(2))
                .await
                .expect("echo arrives");
            assert!(
                rtt >= Duration::from_millis(100),
                "round trip {rtt:?} under 2 x 50 ms"
            );
            assert!(rtt < Duration::from_secs(1), "round trip {rtt:?} too slow");
        }
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn outage_drops_everything_until_lifted() {
    timeout(HARD_TIMEOUT, async {
        let (proxy, client) = setup(4, Impairment::default(), Impairment::default()).await;
        let handle = proxy.handle();
        let wait = Duration::from_secs(1);
        assert!(
            ping(&client, 0, wait).await.is_some(),
            "link works before the outage"
        );

        handle.set_outage(true);
        for seq in 1..=10 {
            client.send(&packet(seq)).await.expect("client send");
        }
        assert!(
            silent_for(&client, Duration::from_millis(300)).await,
            "outage leaked"
        );
        assert_eq!(handle.stats().dropped, 10);

        handle.set_outage(false);
        assert!(
            ping(&client, 11, wait).await.is_some(),
            "link works after the outage"
        );

        let started = Instant::now();
        handle.outage_for(Duration::from_millis(300));
        client.send(&packet(12)).await.expect("client send");
        assert!(
            silent_for(&client, Duration::from_millis(150)).await,
            "timed outage leaked"
        );
        assert_eq!(handle.stats().dropped, 11);
        tokio::time::sleep_until(started + Duration::from_millis(350)).await;
        assert!(
            ping(&client, 13, wait).await.is_some(),
            "timed outage heals by itself"
        );
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn impairment_after_a_clean_period() {
    timeout(HARD_TIMEOUT, async {
        let (proxy, client) = setup(6, Impairment::default(), Impairment::default()).await;
        let handle = proxy.handle();
        let lossy = Impairment {
            loss: 1.0,
            ..Impairment::default()
        };
        let started = Instant::now();
        handle.set_impairment_after(Duration::from_millis(300), lossy.clone(), lossy);
        for seq in 0..5 {
            assert!(
                ping(&client, seq, Duration::from_millis(200))
                    .await
                    .is_some(),
                "clean before the change"
            );
        }
        assert!(
            started.elapsed() < Duration::from_millis(300),
            "pings are quick"
        );
        tokio::time::sleep_until(started + Duration::from_millis(320)).await;
        assert!(
            ping(&client, 5, Duration::from_millis(200)).await.is_none(),
            "impaired after it"
        );
        handle.set_impairment(Impairment::default(), Impairment::default());
        assert!(ping(&client, 6, Duration::from_millis(200)).await.is_some());
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn outage_drops_replies_too() {
    timeout(HARD_TIMEOUT, async {
        // The echo answers late, so the outage starts after the request went up and before
        // the reply comes down.
        let (proxy, client) = setup_with_echo(
            5,
            Impairment::default(),
            Impairment::default(),
            Duration::from_millis(150),
        )
        .await;
        let handle = proxy.handle();
        client.send(&packet(0)).await.expect("client send");
        while handle.stats().forwarded == 0 {
            sleep(Duration::from_millis(1)).await;
        }
        handle.set_outage(true);
        assert!(
            silent_for(&client, Duration::from_millis(400)).await,
            "reply leaked"
        );
        let stats = handle.stats();
        assert_eq!((stats.forwarded, stats.dropped), (1, 1));

        handle.set_outage(false);
        assert!(ping(&client, 1, Duration::from_secs(1)).await.is_some());
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn reorder_inverts_without_losing() {
    timeout(HARD_TIMEOUT, async {
        let shuffled = Impairment {
            reorder: 0.3,
            ..Impairment::default()
        };
        let (proxy, client) = setup(6, shuffled, Impairment::default()).await;
        let handle = proxy.handle();
        let got = pump(&client, &handle, 300).await;

        let mut sorted = got.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (0..300).collect::<Vec<_>>(),
            "reordering must not lose datagrams"
        );
        let inversions = got.windows(2).filter(|w| w[1] < w[0]).count();
        assert!(inversions >= 1, "no datagram overtook another");
        assert_eq!(handle.stats().dropped, 0);
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn burst_loss_comes_in_runs() {
    timeout(HARD_TIMEOUT, async {
        let n = 2000;
        let bursty = Impairment {
            burst: Some(Burst {
                enter: 0.05,
                leave: 0.3,
            }),
            ..Impairment::default()
        };
        let (proxy, client) = setup(10, bursty, Impairment::default()).await;
        let got = pump(&client, &proxy.handle(), n).await;
        let (runs, missing) = loss_runs(&got, n);
        assert!(
            missing >= 100,
            "burst loss barely dropped anything: {missing}"
        );
        let mean = f64::from(missing) / f64::from(runs);
        assert!(
            mean > 1.5,
            "mean loss run {mean:.2} ({missing} lost in {runs} runs)"
        );

        // Control: independent loss at the same average rate gives runs near 1, so the check
        // above really measures burstiness.
        let independent = Impairment {
            loss: 0.14,
            ..Impairment::default()
        };
        let (proxy, client) = setup(10, independent, Impairment::default()).await;
        let got = pump(&client, &proxy.handle(), n).await;
        let (runs, missing) = loss_runs(&got, n);
        let mean = f64::from(missing) / f64::from(runs);
        assert!(mean < 1.5, "independent loss has mean run {mean:.2}");
    })
    .await
    .expect("test timed out");
}

#[test]
fn spawned_proxy_relays_and_stops_on_drop() {
    use std::net::UdpSocket as StdUdpSocket;

    let echo = StdUdpSocket::bind("127.0.0.1:0").expect("bind echo server");
    let upstream = echo.local_addr().expect("echo server address");
    // Detached: it only ever blocks in recv, and the test process ends anyway.
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65535];
        while let Ok((len, from)) = echo.recv_from(&mut buf) {
            let _ = echo.send_to(&buf[..len], from);
        }
    });

    let listen = "127.0.0.1:0".parse().expect("valid address");
    let proxy = Proxy::spawn(Config {
        listen,
        upstream,
        seed: 11,
        up: Impairment::default(),
        down: Impairment::default(),
    })
    .expect("spawn");
    let client = StdUdpSocket::bind("127.0.0.1:0").expect("bind client");
    client
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("set read timeout");
    client.connect(proxy.local_addr()).expect("connect client");

    let mut buf = [0u8; 2048];
    client.send(&packet(42)).expect("client send");
    let len = client
        .recv(&mut buf)
        .expect("echo through the spawned proxy");
    assert_eq!(seq_of(&buf[..len]), 42);
    let handle = proxy.handle();
    // The proxy thread counts a datagram just after sending it, so the echo can win the race.
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while handle.stats().forwarded < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(handle.stats().forwarded, 2);

    let started = std::time::Instant::now();
    drop(proxy);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "drop took {:?}",
        started.elapsed()
    );

    // The proxy's socket is closed: nothing comes back any more.
    let _ = client.send(&packet(43));
    assert!(
        client.recv(&mut buf).is_err(),
        "proxy still forwarding after drop"
    );
    // The handle outlives the proxy harmlessly.
    handle.set_outage(true);
    assert_eq!(handle.stats().forwarded, 2);
}

#[tokio::test]
async fn start_and_spawn_report_bind_errors() {
    // Hold a port so binding the proxy to it fails.
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind placeholder");
    let config = Config {
        listen: taken.local_addr().expect("placeholder address"),
        upstream: "127.0.0.1:9".parse().expect("valid address"),
        seed: 0,
        up: Impairment::default(),
        down: Impairment::default(),
    };
    assert!(Proxy::start(config.clone()).await.is_err());
    // Called from inside a runtime on purpose: the error path must not panic here.
    assert!(Proxy::spawn(config).is_err());
}
