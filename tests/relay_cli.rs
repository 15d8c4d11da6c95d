//! Co-hosting across channels with the real binary: `livestage serve --dev` and bots. Two
//! hosts in PK on one server, each with `--relay` into the other's channel, and an audience bot
//! in each channel that decodes both hosts' stamped pictures in order and hears both tones;
//! then a destination on a second `livestage serve`, pinned by its certificate, that restarts
//! in the middle of the relay (the relay recovers and a new viewer there sees the host again).
//! Each run prints glass-to-glass latency (stamp read from the decoded pixels) for the direct
//! and the relayed viewer side by side.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::cli;
use serde_json::Value;

const RELAYING_HOST: &str = "join,publish-audio,publish-video,publish-data,relay";
const HOST: &str = "join,publish-audio,publish-video,publish-data";

fn host_args<'a>(media: &'a str, relay: &'a str, secs: &'a str) -> Vec<&'a str> {
    vec![
        "--role",
        "host",
        "--publish",
        media,
        "--relay",
        relay,
        "--duration",
        secs,
    ]
}

/// Checks that `fan` decoded `user`'s pictures in order and heard its voice; returns the
/// glass-to-glass p50 in milliseconds.
fn sees_and_hears(fan: &Value, user: &str, min_frames: u64) -> f64 {
    let video = &fan["video"][user];
    let frames = video["frames"].as_u64().unwrap_or(0);
    assert!(frames >= min_frames, "{user}: {frames} frames: {fan:#}");
    assert_eq!(video["in_order"], true, "{user}: {fan:#}");
    assert_eq!(video["decode_errors"], 0, "{user}: {fan:#}");
    let audio = &fan["audio"][user];
    assert!(
        audio["frames"].as_u64().unwrap_or(0) >= min_frames,
        "{user}: {fan:#}"
    );
    assert!(
        audio["heard"].as_f64().unwrap_or(0.0) > 0.9,
        "{user}: {fan:#}"
    );
    video["latency_ms"]["p50"].as_f64().unwrap()
}

#[test]
fn pk_on_one_server_each_audience_decodes_both_hosts() {
    let server = cli::serve(&[]);
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(format!("{name}.json"));
    let media = "video=testpattern:640x360@30,audio=tone:440";
    let into_b = format!("b:{}", cli::token("b", "alice", HOST, "600"));
    let into_a = format!("a:{}", cli::token("a", "bob", HOST, "600"));
    let alice = cli::bot(
        &server,
        &cli::token("a", "alice", RELAYING_HOST, "600"),
        &host_args(media, &into_b, "9"),
        &path("alice"),
    );
    let bob = cli::bot(
        &server,
        &cli::token("b", "bob", RELAYING_HOST, "600"),
        &host_args(media, &into_a, "9"),
        &path("bob"),
    );
    std::thread::sleep(Duration::from_secs(1));
    let watch = ["--duration", "7"];
    let fan_a = cli::bot(
        &server,
        &cli::token("a", "fan-a", "join", "600"),
        &watch,
        &path("fan-a"),
    );
    let fan_b = cli::bot(
        &server,
        &cli::token("b", "fan-b", "join", "600"),
        &watch,
        &path("fan-b"),
    );
    let (_, fan_a) = cli::finish(fan_a, &path("fan-a"));
    let (_, fan_b) = cli::finish(fan_b, &path("fan-b"));
    let (alice_ok, alice) = cli::finish(alice, &path("alice"));
    let (bob_ok, bob) = cli::finish(bob, &path("bob"));
    assert!(alice_ok && bob_ok, "{alice:#} {bob:#}");
    assert_eq!(alice["relay"]["b"]["state"], "running", "{alice:#}");
    assert_eq!(bob["relay"]["a"]["state"], "running", "{bob:#}");
    // Each host hears the other: the relayed one is a host of its own channel.
    for (host, other) in [(&alice, "bob"), (&bob, "alice")] {
        let heard = host["audio"][other]["heard"].as_f64().unwrap_or(0.0);
        assert!(heard > 0.9, "{other} heard {heard}: {host:#}");
    }

    // Six seconds of 30 fps each, less the start.
    let direct = sees_and_hears(&fan_a, "alice", 120);
    let relayed = sees_and_hears(&fan_b, "alice", 120);
    sees_and_hears(&fan_a, "bob", 120);
    sees_and_hears(&fan_b, "bob", 120);
    println!(
        "glass to glass, alice -> fan-a (direct) p50 {direct:.1} ms; alice -> fan-b (relayed on \
         one server) p50 {relayed:.1} ms; the relay hop {:+.1} ms",
        relayed - direct
    );
}

/// A `livestage serve --dev` on `addr` with a certificate that survives a restart.
fn serve_at(addr: &str, cert: &Path, key: &Path) -> cli::Server {
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    cli::serve_on(addr, &["--cert", cert, "--key", key])
}

/// A P-256 certificate for localhost and 127.0.0.1 and its key, made by openssl.
fn certificate(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("b-cert.pem"), dir.join("b-key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        // A leaf, not a CA: the bots trust it directly.
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl (./dev setup installs it)");
    assert!(made.success());
    (cert, key)
}

#[test]
fn a_relay_to_another_server_recovers_when_that_server_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(format!("{name}.json"));
    let (cert, key) = certificate(dir.path());
    let b_addr = {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().to_string()
    };
    let a = cli::serve(&[]);
    let b = serve_at(&b_addr, &cert, &key);
    let dest = format!(
        "b@{b_addr}#{}:{}",
        cert.display(),
        cli::token("b", "alice", HOST, "600")
    );
    let alice = cli::bot(
        &a,
        &cli::token("a", "alice", RELAYING_HOST, "600"),
        &host_args("video=testpattern:640x360@30,audio=tone:440", &dest, "30"),
        &path("alice"),
    );
    std::thread::sleep(Duration::from_secs(1));
    let watch = ["--duration", "5"];
    let fan_a = cli::bot(
        &a,
        &cli::token("a", "fan-a", "join", "600"),
        &watch,
        &path("fan-a"),
    );
    let fan_b = cli::bot_at(
        &b_addr,
        &cert,
        &cli::token("b", "fan-b", "join", "600"),
        &watch,
        &path("fan-b"),
    );
    let (_, fan_a) = cli::finish(fan_a, &path("fan-a"));
    let (_, fan_b) = cli::finish(fan_b, &path("fan-b"));
    let direct = sees_and_hears(&fan_a, "alice", 90);
    let relayed = sees_and_hears(&fan_b, "alice", 90);
    println!(
        "glass to glass, alice -> fan-a (direct) p50 {direct:.1} ms; alice -> fan-b (relayed to \
         a second server) p50 {relayed:.1} ms; the relay hop {:+.1} ms",
        relayed - direct
    );

    // The destination's server goes away and comes back on the same address and certificate.
    drop(b);
    std::thread::sleep(Duration::from_secs(2));
    let _b = serve_at(&b_addr, &cert, &key);
    let later = ["--duration", "12"];
    let fan_b = cli::bot_at(
        &b_addr,
        &cert,
        &cli::token("b", "fan-b2", "join", "600"),
        &later,
        &path("fan-b2"),
    );
    let (_, fan_b) = cli::finish(fan_b, &path("fan-b2"));
    sees_and_hears(&fan_b, "alice", 90);
    let (_, alice) = cli::finish(alice, &path("alice"));
    let states = &report_states(&alice, &format!("b@{b_addr}"));
    assert!(states.contains(&"recovering".to_owned()), "{alice:#}");
    assert_eq!(
        states.last().map(String::as_str),
        Some("running"),
        "{alice:#}"
    );
}

fn report_states(report: &Value, to: &str) -> Vec<String> {
    report["relay"][to]["states"]
        .as_array()
        .unwrap_or_else(|| panic!("no relay states for {to}: {report:#}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}
