//! Media through the impairment proxy at 10% loss and 50 ms round trip: video keeps being
//! decoded (late or lost frames are skipped, the stream recovers at keyframes) and audio keeps
//! arriving with the gaps rebuilt (the server sends the lossy viewer's voice twice; FEC and
//! DRED fill what is still missing), not silent.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::cli::*;
use livestage::net::proxy::{self, Impairment, Proxy};

#[test]
fn ten_percent_loss_and_fifty_ms_rtt() {
    let server = serve(&[]);
    let lossy = Impairment {
        loss: 0.1,
        delay: Duration::from_millis(25),
        ..Default::default()
    };
    let proxy = Proxy::spawn(proxy::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        upstream: server.addr.parse().unwrap(),
        seed: 10,
        up: lossy.clone(),
        down: lossy,
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (rh, ra) = (dir.path().join("h.json"), dir.path().join("a.json"));
    let via = proxy.local_addr().to_string();
    let audience = bot_at(
        &via,
        &server.cert,
        &token("show", "viewer", "join", "600"),
        &["--duration", "8"],
        &ra,
    );
    std::thread::sleep(Duration::from_millis(600));
    let publish = [
        "--role",
        "host",
        "--publish",
        "video=testpattern:640x360@30,audio=tone:440",
        "--duration",
        "6",
    ];
    let host = bot(&server, &token("show", "host", HOST, "600"), &publish, &rh);
    let (ok, h) = finish(host, &rh);
    assert!(ok, "{h}");
    // The host's own path is clean: it measured no loss worth protecting against, so the
    // lossy viewer made it send nothing more.
    let link = &h["link"];
    assert!(
        link["max_uplink_loss_percent"].as_u64().unwrap() < 5,
        "{link}"
    );
    assert_eq!(link["voice_copies"], 0, "{link}");
    let (ok, a) = finish(audience, &ra);
    assert!(ok, "{a}");
    let v = &a["video"]["host"];
    let frames = v["frames"].as_u64().unwrap();
    assert!(frames >= 60, "video recovers and keeps flowing: {v}");
    assert_eq!(v["in_order"], true);
    let au = &a["audio"]["host"];
    let received = au["frames"].as_u64().unwrap();
    assert!(received >= 200, "{au}");
    let rebuilt = au["recovered"].as_u64().unwrap() + au["concealed"].as_u64().unwrap();
    assert!(rebuilt > 0, "loss really happened: {au}");
    assert!(au["heard"].as_f64().unwrap() > 0.97, "{au}");
    let hz = au["tone_hz"].as_f64().unwrap();
    assert!((hz - 440.0).abs() < 9.0, "the tone survives: {hz}");
    assert!(proxy.handle().stats().dropped > 0);
    eprintln!("viewer report at 10% loss, 50 ms RTT: {a}");
}
