//! The Unity package under Mono, the runtime family Unity uses: `Runtime/Native` and the
//! console Viewer are compiled with `mcs` and run against a real `livestage serve --dev`, a bot
//! publishing a stamped test pattern and a tone, and a bot sending data; the Viewer's report
//! (the bot's keys) shows the frames, voice and data it received, and the voice it pulled the
//! way `OnAudioFilterRead` does. `Runtime/Unity` is compiled against the UnityEngine stub in
//! `tests/unity_stub`, so its type errors are caught without Unity.
//!
//! The measurement behind BENCHMARKS.md ("Unity bridge") runs by name:
//! `cargo test -p livestage --test unity_mono -- --ignored --nocapture`.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::cli::*;
use common::native;
use serde_json::Value;

/// The `.cs` files of a package folder, in a stable order.
fn sources(folder: &str) -> Vec<String> {
    let dir = native::root().join("ffi/unity").join(folder);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cs"))
        .map(|p| p.to_str().unwrap().to_owned())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no C# in {}", dir.display());
    files
}

/// Compiles a C# target with warnings as errors.
fn mcs(args: &[&str], files: &[String]) {
    let mut all: Vec<&str> = vec!["-warnaserror+"];
    all.extend_from_slice(args);
    all.extend(files.iter().map(String::as_str));
    native::run("mcs", &all, "mono-mcs");
}

/// `Livestage.Native.dll` in `dir`.
fn build_native(dir: &Path) -> PathBuf {
    let dll = dir.join("Livestage.Native.dll");
    let out = format!("-out:{}", dll.display());
    mcs(&["-target:library", &out], &sources("Runtime/Native"));
    dll
}

/// `Viewer.exe` with the native DLL and the native library beside it.
fn build_viewer(dir: &Path) -> PathBuf {
    std::fs::copy(native::library(), dir.join(native::LIBRARY)).unwrap();
    let dll = build_native(dir);
    let exe = dir.join("Viewer.exe");
    let (out, reference) = (
        format!("-out:{}", exe.display()),
        format!("-r:{}", dll.display()),
    );
    mcs(&[&out, &reference], &sources("Samples~/Viewer"));
    exe
}

/// Starts the Viewer and waits until it printed that it joined.
fn start_viewer(exe: &Path, server: &Server, token: &str, seconds: &str, report: &Path) -> Child {
    let mut child = Command::new("mono")
        .arg(exe)
        .args(["--server", &server.addr, "--cert"])
        .arg(&server.cert)
        .args(["--token", token, "--duration", seconds, "--report"])
        .arg(report)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run mono ({e}); apt-get install mono-runtime"));
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, joined) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if line.starts_with("joined ") {
                let _ = tx.send(());
            }
        }
    });
    if joined.recv_timeout(Duration::from_secs(15)).is_err() {
        let _ = child.kill();
        panic!("the Viewer did not join within 15 s");
    }
    child
}

/// Waits for the Viewer (killing it after `limit`) and reads its report.
fn finish_viewer(mut child: Child, report: &Path, limit: Duration) -> (bool, Value) {
    let end = Instant::now() + limit;
    let ok = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.success();
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the Viewer did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let json = std::fs::read_to_string(report).unwrap();
    (ok, serde_json::from_str(&json).unwrap())
}

#[test]
fn the_viewer_receives_frames_voice_and_data_under_mono() {
    let dir = tempfile::tempdir().unwrap();
    let exe = build_viewer(dir.path());
    let server = serve(&[]);
    let report = dir.path().join("viewer.json");
    let viewer = start_viewer(
        &exe,
        &server,
        &token("show", "viewer", "join", "600"),
        "6",
        &report,
    );
    let (rc, rd) = (dir.path().join("cam.json"), dir.path().join("chat.json"));
    let publish = [
        "--role",
        "host",
        "--publish",
        "video=testpattern:320x240@15,audio=tone:440",
        "--duration",
        "8",
    ];
    let cam = bot(&server, &token("show", "cam", HOST, "600"), &publish, &rc);
    let chat = bot(
        &server,
        &token("show", "chat", HOST, "600"),
        &["--role", "host", "--send-data", "8", "--duration", "3"],
        &rd,
    );

    let (ok, v) = finish_viewer(viewer, &report, Duration::from_secs(30));
    assert!(ok, "{v:#}");
    assert_eq!(v["joined"], true, "{v:#}");
    assert_eq!(v["error"], Value::Null, "{v:#}");
    let peers = v["peers"].as_array().unwrap();
    assert!(
        peers.contains(&Value::from("cam")) && peers.contains(&Value::from("chat")),
        "{v:#}"
    );
    assert_eq!(v["data"]["received"], 8, "{v:#}");
    assert_eq!(v["data"]["from"]["chat"], 8, "{v:#}");
    let video = &v["video"]["cam"];
    let frames = video["frames"].as_u64().unwrap();
    assert!(frames >= 40, "15 fps for about 5 s: {video:#}");
    assert!(
        video["stamped"].as_u64().unwrap() >= frames - 2,
        "{video:#}"
    );
    assert_eq!(
        (video["width"].clone(), video["height"].clone()),
        (320.into(), 240.into())
    );
    assert!(
        video["latency_ms"]["p50"].as_f64().unwrap() < 150.0,
        "{video:#}"
    );
    let audio = &v["audio"]["cam"];
    assert!(
        audio["frames"].as_u64().unwrap() >= 150,
        "50 a second: {audio:#}"
    );
    let voice = &v["voice_out"];
    assert_eq!(voice["errors"], 0, "{voice:#}");
    assert!(
        voice["audible"].as_u64().unwrap() >= 48_000 * 3,
        "{voice:#}"
    );
    assert!(
        voice["rms"].as_f64().unwrap() > 0.2,
        "the tone's level: {voice:#}"
    );
    let hz = voice["hz"].as_f64().unwrap();
    assert!(
        (hz - 440.0).abs() < 15.0,
        "the tone heard through the pull: {hz} Hz"
    );

    let (ok, c) = finish(chat, &rd);
    assert!(ok, "{c}");
    let (ok, c) = finish(cam, &rc);
    assert!(ok, "{c}");
}

#[test]
fn the_unity_components_compile_against_the_stub() {
    let dir = tempfile::tempdir().unwrap();
    let native_dll = build_native(dir.path());
    let stub = dir.path().join("UnityEngine.dll");
    let stub_source = native::root().join("tests/unity_stub/UnityEngine.cs");
    mcs(
        &["-target:library", &format!("-out:{}", stub.display())],
        &[stub_source.to_str().unwrap().to_owned()],
    );
    let out = dir.path().join("Livestage.Unity.dll");
    mcs(
        &[
            "-target:library",
            &format!("-out:{}", out.display()),
            &format!("-r:{}", stub.display()),
            &format!("-r:{}", native_dll.display()),
        ],
        &sources("Runtime/Unity"),
    );
    assert!(out.exists());
}

/// Fetch cost and glass-to-glass latency at 720p and 1080p, as a 60 fps game sees them
/// through Mono and the C ABI. Prints the figures recorded in BENCHMARKS.md.
#[test]
#[ignore = "a measurement: cargo test -p livestage --test unity_mono -- --ignored --nocapture"]
fn measure_frame_fetch_and_glass_to_glass() {
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
