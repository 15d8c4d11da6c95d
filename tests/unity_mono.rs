//! The Unity package under Mono, the runtime family Unity uses: `Runtime/Native` and the
//! console Viewer are compiled with `mcs` and run against a real `livestage serve --dev`, a bot
//! publishing a stamped test pattern and a tone, and a bot sending data; the Viewer's report
//! (the bot's keys) shows the frames, voice and data it received, and the voice it pulled the
//! way `OnAudioFilterRead` does. `Runtime/Unity` is compiled against the UnityEngine stub in
//! `tests/unity_stub`, so its type errors are caught without Unity.
//!
//! Tracks: on a private X server, a bot shares its screen beside its camera and the Viewer
//! lists both tracks and fetches each one's pictures on its own; the Viewer, a host, publishes
//! pushed frames as its camera and as a second, custom video track and shares the display
//! through the C ABI from C#, and a watching bot receives each as a track of its own.
//!
//! The measurement behind BENCHMARKS.md ("Unity bridge") is `benches/unity_bridge.rs`.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../media/tests/xserver/mod.rs"]
mod xserver;

use std::time::Duration;

use common::cli::*;
use common::mono::*;
use common::native;
use serde_json::Value;

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
fn the_viewer_fetches_each_track_and_publishes_a_second_video_track_under_mono() {
    let x = xserver::Server::start(640, 360, false);
    let dir = tempfile::tempdir().unwrap();
    let exe = build_viewer(dir.path());
    let server = serve(&[]);
    let report = dir.path().join("viewer.json");
    let flags = [
        "--role",
        "host",
        "--publish-track",
        "5",
        "--share-screen",
        "display",
    ];
    let viewer = start_viewer_with(
        &exe,
        &server,
        &token("show", "viewer", HOST, "600"),
        "7",
        &report,
        &flags,
        Some(&x.name),
    );
    let (rc, rw) = (dir.path().join("cam.json"), dir.path().join("watch.json"));
    let publish = [
        "--role",
        "host",
        "--publish",
        "video=testpattern:320x240@15,screen=display@10",
        "--duration",
        "6",
    ];
    let cam = bot_on(
        &x.name,
        &server,
        &token("show", "cam", HOST, "600"),
        &publish,
        &rc,
    );
    let watch = bot(
        &server,
        &token("show", "watch", "join", "600"),
        &["--duration", "6"],
        &rw,
    );

    let (ok, v) = finish_viewer(viewer, &report, Duration::from_secs(30));
    assert!(ok, "{v:#}");
    assert_eq!(v["error"], Value::Null, "{v:#}");
    // The C# side lists the bot's tracks and fetches each one's pictures on its own.
    let tracks = &v["tracks"]["cam"];
    for track in ["0:camera", "2:screen"] {
        assert!(tracks.as_array().unwrap().contains(&track.into()), "{v:#}");
    }
    let frames = |key: &str| v["video"][key]["frames"].as_u64().unwrap_or(0);
    assert!(frames("cam/camera") >= 30, "{v:#}");
    assert!(frames("cam/screen") >= 15, "{v:#}");
    assert_eq!(v["video"]["cam"], v["video"]["cam/camera"], "{v:#}");
    assert_eq!(
        (
            v["video"]["cam/camera"]["width"].clone(),
            v["video"]["cam/screen"]["width"].clone()
        ),
        (320.into(), 640.into()),
        "{v:#}"
    );
    assert!(
        v["video"]["cam/camera"]["stamped"].as_u64().unwrap() >= 28,
        "{v:#}"
    );
    assert_eq!(
        v["video"]["cam/screen"]["stamped"], 0,
        "a screen has no stamp: {v:#}"
    );
    // From C#: Screens() found the display, and the share started.
    assert_eq!(v["screens"]["displays"], 1, "{v:#}");
    assert_eq!(v["screen_share"], "ok", "{v:#}");
    assert!(v["published"]["pushed"].as_u64().unwrap() > 100, "{v:#}");

    // A watcher receives the Viewer's camera, its second video and its screen, each a track.
    let (ok, w) = finish(watch, &rw);
    assert!(ok, "{w}");
    let seen = |key: &str| w["video"][key]["frames"].as_u64().unwrap_or(0);
    assert!(seen("viewer/camera") >= 30, "{w:#}");
    assert!(seen("viewer/custom") >= 30, "{w:#}");
    assert!(seen("viewer/screen") >= 15, "{w:#}");
    assert_eq!(w["video"]["viewer/custom"]["decode_errors"], 0, "{w:#}");
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
