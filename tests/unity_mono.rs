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
//! Its own audio: the Viewer, a host, pushes a tone as its voice with the voice changer, music,
//! an effect and two audio hooks set from C#; a watching bot hears the changed voice and the
//! music, and the Viewer reports the music's and the effect's events, its hooks' calls and the
//! one that threw being removed. In the same run it publishes a PNG as its camera with beauty
//! set from C# (an out-of-range value refused first), which the bot receives.
//!
//! Co-hosting across channels from C#: the Viewer, a host whose token grants `relay`, relays its
//! pushed camera into another channel with `Engine.StartRelay`; an audience bot there decodes it
//! under the Viewer's own user id, and the Viewer reports the relay running.
//!
//! Raw video from C#: in the first test the Viewer's remote video hook, its RGBA renderer and
//! its I420 fetches see the bot's camera (`video_hooks` in its report).
//!
//! The measurement behind BENCHMARKS.md ("Unity bridge") is `benches/unity_bridge.rs`.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../media/tests/xserver/mod.rs"]
mod xserver;

use std::path::{Path, PathBuf};
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
    let viewer = start_viewer_with(
        &exe,
        &server,
        &token("show", "viewer", "join", "600"),
        "6",
        &report,
        &["--video-hooks", "rgba"],
        None,
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
    // The path as the link events grade it: a clean loopback, though a busy machine may
    // stretch its round trip.
    let link = &v["link"];
    assert!(link["rtt_ms"].as_u64().is_some_and(|r| r >= 1), "{v:#}");
    assert!(
        ["excellent", "good", "poor"].contains(&link["quality"].as_str().unwrap_or("")),
        "{v:#}"
    );
    // And the publishing host's path, as the server tells it.
    let cam_path = &v["peer_links"]["cam"];
    assert!(cam_path["rtt_ms"].as_u64().is_some_and(|r| r >= 1), "{v:#}");
    assert!(
        ["excellent", "good", "poor"].contains(&cam_path["quality"].as_str().unwrap_or("")),
        "{v:#}"
    );
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
    // From C#: a remote video hook saw the camera's frames in order, a renderer got each as
    // RGBA (the copied pixels still carry the stamp), and I420 fetches got the planes.
    let hooks = &v["video_hooks"];
    let calls = |part: &str| hooks[part]["calls"].as_u64().unwrap();
    assert!(calls("hook") >= 40, "{hooks:#}");
    assert_eq!(hooks["hook"]["out_of_order"], 0, "{hooks:#}");
    assert_eq!(hooks["hook"]["channel"], "show", "{hooks:#}");
    assert!(calls("renderer") >= 40, "{hooks:#}");
    let renderer = &hooks["renderer"];
    assert_eq!(
        (
            &renderer["width"],
            &renderer["height"],
            &renderer["stride"],
            &renderer["stamped"]
        ),
        (&320.into(), &240.into(), &(320 * 4).into(), &true.into()),
        "{hooks:#}"
    );
    let i420 = &hooks["i420"];
    eprintln!(
        "mono: the C# video hook saw {} pictures, the renderer {}, I420 fetches {}",
        calls("hook"),
        calls("renderer"),
        i420["frames"]
    );
    assert!(i420["frames"].as_u64().unwrap() >= 40, "{hooks:#}");
    assert_eq!(
        (&i420["width"], &i420["height"]),
        (&320.into(), &240.into())
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
fn the_viewer_relays_its_camera_into_another_channel_under_mono() {
    let dir = tempfile::tempdir().unwrap();
    let exe = build_viewer(dir.path());
    let server = serve(&[]);
    let report = dir.path().join("viewer.json");
    let into = format!("away:{}", token("away", "unity", HOST, "600"));
    let flags = ["--role", "host", "--publish-track", "5", "--relay", &into];
    let grants = format!("{HOST},relay");
    let viewer = start_viewer_with(
        &exe,
        &server,
        &token("show", "unity", &grants, "600"),
        "7",
        &report,
        &flags,
        None,
    );
    let rf = dir.path().join("fan.json");
    let watch = ["--duration", "5"];
    let fan = bot(&server, &token("away", "fan", "join", "600"), &watch, &rf);
    let (_, f) = finish(fan, &rf);
    let (ok, v) = finish_viewer(viewer, &report, Duration::from_secs(30));
    assert!(ok, "{v:#}");
    assert_eq!(v["relay"]["away"]["state"], "running", "{v:#}");
    let relayed = &f["video"]["unity"];
    assert!(relayed["frames"].as_u64().unwrap_or(0) >= 40, "{f:#}");
    assert_eq!(relayed["decode_errors"], 0, "{f:#}");
    assert_eq!(relayed["in_order"], true, "{f:#}");
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

/// A 160x120 skin-toned PNG for the Viewer to publish as its camera.
fn picture(dir: &Path) -> PathBuf {
    let path = dir.join("card.png");
    let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut encoder = png::Encoder::new(file, 160, 120);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer
        .write_image_data(&[191, 145, 120].repeat(160 * 120))
        .unwrap();
    writer.finish().unwrap();
    path
}

#[test]
fn the_viewer_publishes_music_an_effect_and_a_changed_voice_with_hooks_under_mono() {
    let dir = tempfile::tempdir().unwrap();
    let exe = build_viewer(dir.path());
    let (music, effect) = (tone_file(dir.path(), 660, 3), tone_file(dir.path(), 880, 1));
    let card = picture(dir.path());
    let server = serve(&[]);
    let report = dir.path().join("viewer.json");
    let flags = [
        "--role",
        "host",
        "--publish-voice",
        "440",
        "--voice",
        "higher",
        "--music",
        music.to_str().unwrap(),
        "--music-loops",
        "2",
        "--effect",
        effect.to_str().unwrap(),
        "--hook",
        "encode",
        "--hook-throw",
        "playback",
        "--publish-image",
        card.to_str().unwrap(),
        "--beauty",
        "0.5",
    ];
    let viewer = start_viewer_with(
        &exe,
        &server,
        &token("show", "viewer", HOST, "600"),
        "8",
        &report,
        &flags,
        None,
    );
    // The bot's peaks are of the last second it heard, while the music (6 s) still plays.
    let rw = dir.path().join("watch.json");
    let watch = bot(
        &server,
        &token("show", "watch", "join", "600"),
        &["--duration", "4"],
        &rw,
    );

    let (ok, v) = finish_viewer(viewer, &report, Duration::from_secs(30));
    assert!(ok, "{v:#}");
    assert_eq!(v["error"], Value::Null, "{v:#}");
    let local = &v["local_audio"];
    assert_eq!(
        local["music_states"],
        serde_json::json!(["playing", "completed"]),
        "{local:#}"
    );
    assert_eq!(
        local["effects_finished"],
        serde_json::json!([1]),
        "{local:#}"
    );
    let duration = local["music_duration_ms"].as_u64().unwrap();
    assert!((2950..=3050).contains(&duration), "{local:#}");
    assert!(
        local["music_position_ms"].as_u64().unwrap() >= 2500,
        "the second loop played: {local:#}"
    );
    // Refused on purpose: pausing before any music, a missing file, an effect not loaded.
    let refused = &local["refused"];
    assert_eq!(refused["pause_without_music"], -8, "{local:#}");
    assert_eq!(refused["missing_music"], -6, "{local:#}");
    assert_eq!(refused["unloaded_effect"], -6, "{local:#}");
    // The C# encode hook got 48 kHz mono 20 ms frames, 50 a second for about 7 s.
    let hook = &local["hook"];
    assert!(hook["calls"].as_u64().unwrap() >= 300, "{local:#}");
    assert_eq!(
        (
            hook["sample_rate"].as_u64(),
            hook["channels"].as_u64(),
            hook["length"].as_u64()
        ),
        (Some(48_000), Some(1), Some(960)),
        "{local:#}"
    );
    // The playback hook threw on its 10th call: removed, told once.
    let removed = local["hooks_removed"].as_array().unwrap();
    assert_eq!(removed.len(), 1, "{local:#}");
    assert!(
        removed[0]
            .as_str()
            .unwrap()
            .starts_with("playback: the C# audio hook threw"),
        "{local:#}"
    );
    // This player heard its music and effect in what its audio thread pulled.
    let voice = &v["voice_out"];
    assert!(voice["rms"].as_f64().unwrap() > 0.05, "{voice:#}");
    let hz = voice["hz"].as_f64().unwrap();
    assert!((640.0..=900.0).contains(&hz), "music and effect: {hz} Hz");

    // The channel heard the voice four semitones up (554 Hz) and the music in its own key.
    let (ok, w) = finish(watch, &rw);
    assert!(ok, "{w}");
    let peaks: Vec<f64> = w["audio"]["viewer"]["peaks_hz"]
        .as_array()
        .unwrap_or_else(|| panic!("nothing heard from the Viewer: {w:#}"))
        .iter()
        .map(|p| p.as_f64().unwrap())
        .collect();
    eprintln!(
        "mono: the channel's peaks {peaks:?} Hz; the Viewer pulled {hz:.1} Hz; encode hook {} calls",
        hook["calls"]
    );
    let has = |hz: f64| peaks.iter().any(|p| (p - hz).abs() < hz * 0.02);
    assert!(
        has(554.4) && has(660.0) && !has(440.0),
        "voice higher, music unchanged: {peaks:?}"
    );

    // From C#: beauty out of range refused, the picture published as the camera (10 fps) with
    // beauty on, and the cameras listed (none on CI).
    assert_eq!(v["beauty_refused"], -3, "{v:#}");
    assert_eq!(v["image"], "ok", "{v:#}");
    assert!(
        v["cameras"] == "unavailable" || v["cameras"].is_u64(),
        "{v:#}"
    );
    let frames = w["video"]["viewer/camera"]["frames"].as_u64().unwrap_or(0);
    assert!(frames >= 20, "the picture reached the channel: {w:#}");
    assert_eq!(w["video"]["viewer/camera"]["decode_errors"], 0, "{w:#}");
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
