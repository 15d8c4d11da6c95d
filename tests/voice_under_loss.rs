//! Voice through heavy loss on each leg: a host publishes a tone through one impairment proxy
//! (its uplink), a viewer listens through another (its downlink). Both join over a clean path;
//! the loss starts 2 s in (`set_impairment_after`, the proxy's `--after`) and the viewer counts
//! from 3 s on (`--measure-after`), once each leg measured its loss and adapted: the publisher
//! its Opus protection (DRED, bitrate floor) and copies, the server its copies to that viewer, the
//! viewer its jitter delay.
//!
//! "Heard" is frames played from their packet or rebuilt from a later one's redundancy, over
//! every frame sent in the measured span. Mouth to ear is the capture timestamp in the packet
//! header to the frame leaving the jitter buffer.
//!
//! The bounds are the product's claims (BENCHMARKS.md has the measured figures: 80% on one
//! leg 98-99.6%, 40% + 40% 99.8-100%), except in 200 ms bursts on the downlink: 80% here
//! (the delay is still growing into the bursts during the 11 s measured), 91% once settled.
//! A viewer's own downlink is protected only by the server's copies and the publisher's
//! baseline DRED (200 ms at 32 kbit/s), and a burst longer than that loses what DRED and the
//! copies (60 and 120 ms later) cannot reach.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::cli::*;
use common::lossy;
use livestage::net::proxy::{self, Burst, Impairment, Proxy};
use serde_json::Value;

/// The path is clean this long, so both sides join first.
const CLEAN: Duration = Duration::from_secs(2);

/// A proxy in front of `server` whose `up` / `down` impairments start after [`CLEAN`].
fn proxy_to(server: &Server, seed: u64, up: Impairment, down: Impairment) -> Proxy {
    let proxy = Proxy::spawn(proxy::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        upstream: server.addr.parse().unwrap(),
        seed,
        up: Impairment::default(),
        down: Impairment::default(),
    })
    .unwrap();
    proxy.handle().set_impairment_after(CLEAN, up, down);
    proxy
}

struct Run {
    /// The viewer's report of the host's voice.
    heard: Value,
    host: Value,
    viewer: Value,
}

/// A host publishing a tone with `uplink` impairment, a viewer listening with `downlink`.
fn through(uplink: Impairment, downlink: Impairment, seed: u64) -> Run {
    let server = serve(&[]);
    let up = proxy_to(&server, seed, uplink, Impairment::default());
    let down = proxy_to(&server, seed + 1, Impairment::default(), downlink);
    let dir = tempfile::tempdir().unwrap();
    let (rh, rv) = (dir.path().join("h.json"), dir.path().join("v.json"));
    let viewer = bot_at(
        &down.local_addr().to_string(),
        &server.cert,
        &token("loss", "viewer", "join", "600"),
        &["--duration", "14", "--measure-after", "3"],
        &rv,
    );
    std::thread::sleep(Duration::from_millis(300));
    let host = bot_at(
        &up.local_addr().to_string(),
        &server.cert,
        &token("loss", "host", HOST, "600"),
        &[
            "--role",
            "host",
            "--publish",
            "audio=tone:440",
            "--duration",
            "13",
        ],
        &rh,
    );
    let (ok, host) = finish(host, &rh);
    assert!(ok, "{host}");
    let (ok, viewer) = finish(viewer, &rv);
    assert!(ok, "{viewer}");
    let heard = viewer["audio"]["host"].clone();
    eprintln!(
        "viewer heard: {heard}\nhost link: {}\nviewer link: {}\nthe host's path at the viewer: {}",
        host["link"], viewer["link"], viewer["peer_links"]["host"]
    );
    Run {
        heard,
        host,
        viewer,
    }
}

fn check(run: &Run, at_least: f64) {
    let a = &run.heard;
    assert!(
        a["sent"].as_u64().unwrap() >= 450,
        "measured long enough: {a}"
    );
    let heard = a["heard"].as_f64().unwrap();
    assert!(heard >= at_least, "heard {heard} < {at_least}: {a}");
    let hz = a["tone_hz"].as_f64().unwrap();
    assert!((hz - 440.0).abs() < 15.0, "the tone survives: {hz} Hz");
    let p95 = a["latency_ms"]["p95"].as_f64().unwrap();
    assert!(
        p95 <= 450.0,
        "mouth to ear p95 {p95} ms within the bound: {a}"
    );
}

#[test]
fn forty_percent_up_and_forty_percent_down() {
    let run = through(lossy(0.4), lossy(0.4), 40);
    check(&run, 0.98);
}

#[test]
fn eighty_percent_on_the_uplink() {
    let run = through(lossy(0.8), Impairment::default(), 80);
    check(&run, 0.95);
    // The publisher saw its own loss and protected its voice.
    let link = &run.host["link"];
    assert!(
        link["max_uplink_loss_percent"].as_u64().unwrap() >= 50,
        "{link}"
    );
    assert_eq!(link["voice_copies"], 2, "{link}");
    // The viewer was told the host's uplink as the host measured it, graded.
    let seen = &run.viewer["peer_links"]["host"];
    assert!(
        seen["max_uplink_loss_percent"].as_u64().unwrap() >= 50,
        "{seen}"
    );
    assert_eq!(seen["quality"], "very_bad", "{seen}");
}

#[test]
fn eighty_percent_on_the_downlink() {
    let run = through(Impairment::default(), lossy(0.8), 81);
    check(&run, 0.95);
    // The server measured this viewer's downlink and told it.
    let link = &run.viewer["link"];
    assert!(
        link["max_downlink_loss_percent"].as_u64().unwrap() >= 50,
        "{link}"
    );
    assert_eq!(link["worst_quality"], "very_bad", "{link}");
    // The server sent this viewer copies; the publisher, on a clean path, added none.
    assert!(
        run.heard["duplicates"].as_u64().unwrap() > 0,
        "{}",
        run.heard
    );
    assert_eq!(run.host["link"]["voice_copies"], 0);
}

#[test]
fn thirty_percent_in_bursts_of_two_hundred_ms() {
    // Gilbert-Elliott per datagram: a mean burst of 20 datagrams is about 200 ms of voice and
    // its copies (roughly 100 datagrams a second); 30% of the time in the bad state.
    let leave = 1.0 / 20.0;
    let bursts = Impairment {
        burst: Some(Burst {
            enter: leave * 0.3 / 0.7,
            leave,
        }),
        ..Impairment::default()
    };
    let run = through(Impairment::default(), bursts, 30);
    // Below the 95% aimed for: see the module's note.
    check(&run, 0.75);
}

#[test]
fn a_lossy_viewer_costs_a_clean_viewer_nothing() {
    let server = serve(&[]);
    let down = proxy_to(&server, 7, Impairment::default(), lossy(0.8));
    let dir = tempfile::tempdir().unwrap();
    let (rh, rl, rc) = (
        dir.path().join("h.json"),
        dir.path().join("l.json"),
        dir.path().join("c.json"),
    );
    let args = ["--duration", "9", "--measure-after", "3"];
    let lossy_viewer = bot_at(
        &down.local_addr().to_string(),
        &server.cert,
        &token("loss", "lossy", "join", "600"),
        &args,
        &rl,
    );
    let clean_viewer = bot(&server, &token("loss", "clean", "join", "600"), &args, &rc);
    std::thread::sleep(Duration::from_millis(300));
    let publish = [
        "--role",
        "host",
        "--publish",
        "audio=tone:440",
        "--duration",
        "8",
    ];
    let host = bot(&server, &token("loss", "host", HOST, "600"), &publish, &rh);
    let (ok, host) = finish(host, &rh);
    assert!(ok, "{host}");
    let (ok, lossy) = finish(lossy_viewer, &rl);
    assert!(ok, "{lossy}");
    let (ok, clean) = finish(clean_viewer, &rc);
    assert!(ok, "{clean}");
    let (l, c) = (&lossy["audio"]["host"], &clean["audio"]["host"]);
    eprintln!("lossy viewer: {l}\nclean viewer: {c}");
    // Only the lossy viewer's leg carries copies; the publisher protects nothing.
    assert!(l["duplicates"].as_u64().unwrap() > 0, "{l}");
    assert_eq!(c["duplicates"], 0, "{c}");
    assert_eq!(host["link"]["voice_copies"], 0, "{}", host["link"]);
    // The clean viewer receives 32 kbps voice with the baseline DRED (Opus payload), not the
    // 40 kbit/s floor a lossy uplink would ask for (45 kbit/s out), and no copies.
    let kbps = c["kbps"].as_f64().unwrap();
    assert!(
        (30.0..=42.0).contains(&kbps),
        "clean viewer receives {kbps} kbit/s"
    );
    assert!(c["heard"].as_f64().unwrap() > 0.99, "{c}");
}
