//! The Unity bridge as a 60 fps game sees it through Mono and the C ABI: the cost of fetching a
//! new picture and glass-to-glass latency from the burned-in stamp, at 720p and 1080p. Prints
//! the figures recorded in BENCHMARKS.md ("Unity bridge").
//!
//! `cargo build --release -p livestage-ffi && cargo bench --bench unity_bridge`
#![allow(clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::cli::*;
use common::mono::*;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let exe = build_viewer(dir.path());
    for (width, height) in [(1280, 720), (1920, 1080)] {
        let server = serve(&[]);
        let report = dir.path().join(format!("viewer-{height}.json"));
        let viewer = start_viewer(
            &exe,
            &server,
            &token("bench", "viewer", "join", "600"),
            "12",
            &report,
        );
        let rc = dir.path().join(format!("cam-{height}.json"));
        let video = format!("video=textured:{width}x{height}@30");
        let publish = ["--role", "host", "--publish", &video, "--duration", "13"];
        let cam = bot(&server, &token("bench", "cam", HOST, "600"), &publish, &rc);
        let (ok, v) = finish_viewer(viewer, &report, Duration::from_secs(40));
        assert!(ok, "{v:#}");
        let video = &v["video"]["cam"];
        println!(
            "{width}x{height}: frames {} (stamped {}), fetch ms p50 {:.2} p95 {:.2} max {:.2}, \
             glass-to-glass ms p50 {:.1} p95 {:.1} max {:.1}",
            video["frames"],
            video["stamped"],
            video["fetch_ms"]["p50"].as_f64().unwrap(),
            video["fetch_ms"]["p95"].as_f64().unwrap(),
            video["fetch_ms"]["max"].as_f64().unwrap(),
            video["latency_ms"]["p50"].as_f64().unwrap(),
            video["latency_ms"]["p95"].as_f64().unwrap(),
            video["latency_ms"]["max"].as_f64().unwrap(),
        );
        assert!(video["stamped"].as_u64().unwrap() > 100, "{video:#}");
        let (ok, c) = finish(cam, &rc);
        assert!(ok, "{c}");
    }
}
