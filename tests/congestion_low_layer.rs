//! A viewer whose path cannot carry a publisher's high layer is moved by the server to the low
//! layer, and keeps watching.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::cli::*;
use livestage::net::proxy::{self, Impairment, Proxy};

#[test]
fn a_narrow_path_gets_the_low_layer() {
    let server = serve(&[]);
    // ~1.5 Mbps high layer and ~0.4 Mbps low layer; the viewer's downlink carries 0.9 Mbps.
    let narrow = Impairment {
        rate_bps: Some(900_000),
        queue: Duration::from_millis(150),
        ..Default::default()
    };
    let proxy = Proxy::spawn(proxy::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        upstream: server.addr.parse().unwrap(),
        seed: 4,
        up: Impairment::default(),
        down: narrow,
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (rh, rv) = (dir.path().join("h.json"), dir.path().join("v.json"));
    let via = proxy.local_addr().to_string();
    let viewer = bot_at(
        &via,
        &server.cert,
        &token("show", "viewer", "join", "600"),
        &["--duration", "14"],
        &rv,
    );
    std::thread::sleep(Duration::from_millis(600));
    let publish = [
        "--role",
        "host",
        "--publish",
        "video=textured:1280x720@30",
        "--dual",
        "--duration",
        "12",
    ];
    let host = bot(&server, &token("show", "host", HOST, "600"), &publish, &rh);
    let (ok, h) = finish(host, &rh);
    assert!(ok, "{h}");
    let (ok, v) = finish(viewer, &rv);
    assert!(ok, "{v}");
    let video = &v["video"]["host"];
    let layers = video["layers"].as_array().unwrap();
    assert!(
        layers.contains(&"low".into()),
        "moved to the low layer: {video}"
    );
    assert!(
        video["frames"].as_u64().unwrap() >= 100,
        "and kept watching: {video}"
    );
    eprintln!("viewer on a 0.9 Mbps path: {video}");
}
