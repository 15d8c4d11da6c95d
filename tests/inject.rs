//! Injects end to end: `livestage serve --dev --allow DIR`, files made by ffmpeg (H.264 and a
//! 440 Hz AAC tone), `livestage inject` as a moderator, and an audience bot that must see and
//! hear `inject-<name>` like any host: frames in order and decodable, the tone's frequency.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../server/tests/nginx/mod.rs"]
mod nginx;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::cli::{self, BIN, Server};
use nginx::Nginx;
use serde_json::Value;

const TONE: f64 = 440.0;

/// A server whose injects may open files in `dir` and play streams from `rtmp://127.0.0.1`.
fn stage() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let server = cli::serve(&["--allow", dir.path().to_str().unwrap(), "--allow", RTMP]);
    (server, dir)
}

/// The RTMP servers injects may play from in these tests (nginx picks a free port).
const RTMP: &str = "rtmp://127.0.0.1";

/// An ffmpeg publishing to RTMP, stopped when dropped (also when an assertion fails).
struct Publishing(Child);

impl Drop for Publishing {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// ffmpeg publishing a 320x240 30 fps test picture and a 440 Hz AAC tone to `url` in real
/// time for `secs`, with the extra x264 arguments `x264`.
fn publish_rtmp(url: &str, secs: u32, x264: &[&str]) -> Publishing {
    let child = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=30",
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args([
            "-t",
            &secs.to_string(),
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "30",
        ])
        .args(x264)
        .args(["-c:a", "aac", "-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg (./dev setup installs it; CI has it)");
    Publishing(child)
}

/// Runs `livestage inject` as the moderator `mod` with `args`; its exit status and report.
fn inject(server: &Server, dir: &Path, token: &str, args: &[&str]) -> Child {
    Command::new(BIN)
        .args(["inject", "--server", &server.addr, "--cert"])
        .arg(&server.cert)
        .args(["--token", token, "--report"])
        .arg(report_path(dir, "inject"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn report_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.json"))
}

fn moderator() -> String {
    cli::token("show", "mod", "join,moderator", "600")
}

/// An audience bot in `show` for `secs` seconds.
fn viewer(server: &Server, dir: &Path, secs: u32, extra: &[&str]) -> (Child, PathBuf) {
    let token = cli::token("show", "fan", "join", "600");
    let report = report_path(dir, "fan");
    let mut args = vec!["--duration".to_owned(), secs.to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (cli::bot(server, &token, &args, &report), report)
}

/// The one video and the one audio entry of `user` in a bot report.
fn media<'a>(report: &'a Value, kind: &str, user: &str) -> &'a Value {
    let entries = report[kind].as_object().unwrap();
    let mine: Vec<&Value> = entries
        .iter()
        .filter(|(key, _)| key.starts_with(&format!("{user}/")))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(mine.len(), 1, "one {kind} track of {user}: {report}");
    mine[0]
}

fn states(report: &Value) -> Vec<&str> {
    report["states"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

#[test]
fn a_file_is_injected_and_the_audience_sees_and_hears_it_until_it_ends() {
    let (server, dir) = stage();
    let film = dir.path().join("film.mp4");
    common::test_clip_with_tone(&film, 4, 440, &["-g", "30", "-bf", "0"]);
    let (fan, fan_report) = viewer(&server, dir.path(), 9, &[]);
    std::thread::sleep(Duration::from_millis(500));
    let args = [
        "--source",
        film.to_str().unwrap(),
        "--name",
        "film",
        "--duration",
        "20",
    ];
    let child = inject(&server, dir.path(), &moderator(), &args);
    let (ok, report) = cli::finish(child, &report_path(dir.path(), "inject"));
    // A file played once ends by itself, long before the 20 s.
    assert!(ok, "{report}");
    assert_eq!(
        states(&report),
        ["connecting", "running", "stopped"],
        "{report}"
    );

    let (ok, fan) = cli::finish(fan, &fan_report);
    assert!(ok, "{fan}");
    assert!(
        fan["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "inject-film"),
        "{fan}"
    );
    let video = media(&fan, "video", "inject-film");
    // 4 s at 30 fps, forwarded as the file holds it: every frame, in order, decodable.
    assert!(video["frames"].as_u64().unwrap() >= 115, "{video}");
    assert_eq!(video["in_order"], true, "{video}");
    assert_eq!(video["decode_errors"], 0, "{video}");
    let audio = media(&fan, "audio", "inject-film");
    // 4 s of 20 ms frames is 200.
    assert!(audio["frames"].as_u64().unwrap() >= 180, "{audio}");
    assert_eq!(audio["decode_errors"], 0, "{audio}");
    let hz = audio["tone_hz"].as_f64().unwrap();
    assert!((hz - TONE).abs() < 5.0, "the file's tone, got {hz} Hz");
}

#[test]
fn a_looped_file_re_encoded_at_a_smaller_size_plays_until_it_is_stopped() {
    let (server, dir) = stage();
    let film = dir.path().join("short.mkv");
    common::test_clip_with_tone(&film, 2, 440, &[]);
    let snapshots = dir.path().join("snap");
    let snap = snapshots.to_str().unwrap();
    let (fan, fan_report) = viewer(&server, dir.path(), 9, &["--snapshot", snap]);
    std::thread::sleep(Duration::from_millis(500));
    let args = [
        "--source",
        film.to_str().unwrap(),
        "--name",
        "film",
        "--loop",
        "--size",
        "160x120",
        "--fps",
        "15",
        "--duration",
        "7",
    ];
    let child = inject(&server, dir.path(), &moderator(), &args);
    let (ok, report) = cli::finish(child, &report_path(dir.path(), "inject"));
    assert!(ok, "{report}");
    assert_eq!(
        states(&report),
        ["connecting", "running", "stopped"],
        "{report}"
    );

    let (ok, fan) = cli::finish(fan, &fan_report);
    assert!(ok, "{fan}");
    // Three and a half passes of a 2 s file, at 15 fps: about 105 frames and 350 of sound.
    let video = media(&fan, "video", "inject-film");
    assert!(video["frames"].as_u64().unwrap() >= 85, "{video}");
    assert_eq!(video["in_order"], true, "{video}");
    let audio = media(&fan, "audio", "inject-film");
    assert!(
        audio["frames"].as_u64().unwrap() >= 280,
        "looped sound: {audio}"
    );
    let hz = audio["tone_hz"].as_f64().unwrap();
    assert!((hz - TONE).abs() < 5.0, "the file's tone, got {hz} Hz");
    let picture = std::fs::read_dir(&snapshots)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("inject-film"))
        .expect("a snapshot of the inject");
    let file = std::io::BufReader::new(std::fs::File::open(&picture).unwrap());
    let png = png::Decoder::new(file).read_info().unwrap();
    let size = (png.info().width, png.info().height);
    assert_eq!(size, (160, 120), "re-encoded at the asked size");
}

#[test]
fn a_moderator_kicking_the_injected_participant_ends_the_inject() {
    let (server, dir) = stage();
    let film = dir.path().join("film.mp4");
    common::test_clip_with_tone(&film, 2, 440, &[]);
    let args = [
        "--source",
        film.to_str().unwrap(),
        "--name",
        "film",
        "--loop",
        "--duration",
        "20",
    ];
    let child = inject(&server, dir.path(), &moderator(), &args);
    std::thread::sleep(Duration::from_secs(3));
    let boss = cli::token("show", "boss", "join,moderator", "600");
    let boss_report = report_path(dir.path(), "boss");
    let args = ["--moderate", "kick:inject-film", "--duration", "1"];
    let (ok, boss) = cli::finish(cli::bot(&server, &boss, &args, &boss_report), &boss_report);
    assert!(ok, "{boss}");
    let (ok, report) = cli::finish(child, &report_path(dir.path(), "inject"));
    assert!(!ok, "a kicked inject fails: {report}");
    assert_eq!(states(&report).last(), Some(&"failed"), "{report}");
    let failure = report["failure"].as_str().unwrap();
    assert!(
        failure.starts_with("refused:") && failure.contains("kicked"),
        "{failure}"
    );
}

#[test]
fn sources_outside_the_allow_list_missing_or_not_video_and_non_moderators_are_refused() {
    let (server, dir) = stage();
    let not_video = dir.path().join("notes.txt");
    std::fs::write(&not_video, "not a film").unwrap();
    let missing = dir.path().join("missing.mp4");
    let outside = tempfile::NamedTempFile::new().unwrap();
    let cases = [
        (outside.path().to_str().unwrap(), "not_allowed:"),
        (missing.to_str().unwrap(), "not_found:"),
        (not_video.to_str().unwrap(), "unsupported:"),
        ("rtsp://127.0.0.1/live", "bad_url:"),
        ("rtmp://127.0.0.1", "bad_url:"),
        ("rtmp://192.0.2.1/live/film", "not_allowed:"),
    ];
    for (source, reason) in cases {
        let args = ["--source", source, "--duration", "5"];
        let child = inject(&server, dir.path(), &moderator(), &args);
        let (ok, report) = cli::finish(child, &report_path(dir.path(), "inject"));
        assert!(!ok, "{source}: {report}");
        let failure = report["failure"].as_str().unwrap();
        assert!(failure.starts_with(reason), "{source}: {failure}");
    }
    let host = cli::token("show", "host", "join,publish-audio,publish-video", "600");
    let args = ["--source", not_video.to_str().unwrap(), "--duration", "5"];
    let (ok, report) = cli::finish(
        inject(&server, dir.path(), &host, &args),
        &report_path(dir.path(), "inject"),
    );
    assert!(!ok);
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .starts_with("not_permitted"),
        "{report}"
    );
}

#[test]
fn a_live_rtmp_stream_is_injected_and_the_audience_sees_and_hears_it() {
    let Some(nginx) = Nginx::start() else {
        return;
    };
    let (server, dir) = stage();
    let source = nginx.url("film");
    let ffmpeg = publish_rtmp(&source, 12, &["-bf", "0"]);
    std::thread::sleep(Duration::from_secs(1));
    let (fan, fan_report) = viewer(&server, dir.path(), 9, &[]);
    std::thread::sleep(Duration::from_millis(500));
    let args = ["--source", &source, "--name", "live", "--duration", "7"];
    let child = inject(&server, dir.path(), &moderator(), &args);
    let (ok, report) = cli::finish(child, &report_path(dir.path(), "inject"));
    assert!(ok, "{report}");
    assert_eq!(
        states(&report),
        ["connecting", "running", "stopped"],
        "{report}"
    );
    let (ok, fan) = cli::finish(fan, &fan_report);
    drop(ffmpeg);
    assert!(ok, "{fan}");
    // About 6.5 s on stage at 30 fps (the stream's own frames, forwarded): 195.
    let video = media(&fan, "video", "inject-live");
    assert!(video["frames"].as_u64().unwrap() >= 150, "{video}");
    assert_eq!(video["in_order"], true, "{video}");
    assert_eq!(video["decode_errors"], 0, "{video}");
    let audio = media(&fan, "audio", "inject-live");
    assert!(audio["frames"].as_u64().unwrap() >= 250, "{audio}");
    let hz = audio["tone_hz"].as_f64().unwrap();
    assert!((hz - TONE).abs() < 5.0, "the stream's tone, got {hz} Hz");
}

#[test]
fn a_b_frame_stream_is_re_encoded_and_the_inject_recovers_when_its_server_restarts() {
    let Some(mut nginx) = Nginx::start() else {
        return;
    };
    let (server, dir) = stage();
    let source = nginx.url("film");
    let ffmpeg = publish_rtmp(&source, 30, &["-bf", "2"]);
    std::thread::sleep(Duration::from_secs(1));
    let (fan, fan_report) = viewer(&server, dir.path(), 14, &[]);
    std::thread::sleep(Duration::from_millis(500));
    let args = ["--source", &source, "--name", "live", "--duration", "12"];
    let child = inject(&server, dir.path(), &moderator(), &args);
    std::thread::sleep(Duration::from_secs(4));
    // The RTMP server goes away and comes back; the stream is published again.
    drop(ffmpeg);
    nginx.restart();
    let ffmpeg = publish_rtmp(&source, 30, &["-bf", "2"]);
    let (ok, report) = cli::finish(child, &report_path(dir.path(), "inject"));
    let (fan_ok, fan) = cli::finish(fan, &fan_report);
    drop(ffmpeg);
    assert!(ok, "{report}");
    let states = states(&report);
    let recovered = states.windows(2).any(|w| w == ["recovering", "running"]);
    assert!(recovered, "{states:?}");
    assert_eq!(states.last(), Some(&"stopped"));
    assert!(fan_ok, "{fan}");
    // Decoded and encoded again, before and after the restart: forwarded, B-frames fail in
    // the receivers' decoder after a few frames (decode errors), so none means re-encoded.
    let video = media(&fan, "video", "inject-live");
    assert!(video["frames"].as_u64().unwrap() >= 150, "{video}");
    assert_eq!(video["decode_errors"], 0, "{video}");
    assert_eq!(video["in_order"], true, "{video}");
    let audio = media(&fan, "audio", "inject-live");
    let hz = audio["tone_hz"].as_f64().unwrap();
    assert!((hz - TONE).abs() < 5.0, "the stream's tone, got {hz} Hz");
}

#[test]
fn an_flv_file_plays_through_the_stream_path_until_it_ends() {
    let (server, dir) = stage();
    let film = dir.path().join("recording.flv");
    common::test_clip_with_tone(&film, 3, 440, &["-g", "30", "-bf", "0"]);
    let (fan, fan_report) = viewer(&server, dir.path(), 8, &[]);
    std::thread::sleep(Duration::from_millis(500));
    let args = [
        "--source",
        film.to_str().unwrap(),
        "--name",
        "rec",
        "--duration",
        "20",
    ];
    let child = inject(&server, dir.path(), &moderator(), &args);
    let (ok, report) = cli::finish(child, &report_path(dir.path(), "inject"));
    assert!(ok, "{report}");
    assert_eq!(
        states(&report),
        ["connecting", "running", "stopped"],
        "{report}"
    );
    let (ok, fan) = cli::finish(fan, &fan_report);
    assert!(ok, "{fan}");
    // 3 s at 30 fps, paced by the tags' timestamps: 90 frames.
    let video = media(&fan, "video", "inject-rec");
    assert!(video["frames"].as_u64().unwrap() >= 85, "{video}");
    assert_eq!(video["in_order"], true, "{video}");
    assert_eq!(video["decode_errors"], 0, "{video}");
    let audio = media(&fan, "audio", "inject-rec");
    assert!(audio["frames"].as_u64().unwrap() >= 130, "{audio}");
    let hz = audio["tone_hz"].as_f64().unwrap();
    assert!((hz - TONE).abs() < 5.0, "the recording's tone, got {hz} Hz");
}
