//! CDN push end to end against real servers on loopback: `livestage serve --dev`, two host
//! bots publishing a red and a blue picture with two tones, `livestage push` composing them
//! side by side into Debian's nginx-rtmp, and ffmpeg/ffprobe watching what nginx serves.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../server/tests/nginx/mod.rs"]
mod nginx;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cli::{self, BIN, Server};
use livestage::media::audio::spectrum;
use nginx::Nginx;
use serde_json::Value;

const RED: [u8; 3] = [220, 30, 30];
const BLUE: [u8; 3] = [30, 30, 220];
/// The watcher's picture: the canvas scaled down to this.
const W: usize = 64;
const H: usize = 36;

/// A solid PNG.
fn png(path: &Path, colour: [u8; 3]) {
    let (w, h) = (320u32, 180u32);
    let file = std::fs::File::create(path).unwrap();
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    encoder.set_color(png::ColorType::Rgb);
    let mut writer = encoder.write_header().unwrap();
    let data: Vec<u8> = (0..w * h).flat_map(|_| colour).collect();
    writer.write_image_data(&data).unwrap();
}

/// A side-by-side layout of `left` and `right` on a 640x360 canvas at 15 fps.
fn layout(dir: &Path, name: &str, left: &str, right: &str) -> PathBuf {
    let path = dir.join(name);
    let json = serde_json::json!({
        "width": 640, "height": 360, "fps": 15, "bitrate_kbps": 800, "gop": 15,
        "background": "#000000",
        "users": [
            {"user": left, "x": 0, "y": 0, "width": 320, "height": 360},
            {"user": right, "x": 320, "y": 0, "width": 320, "height": 360},
        ],
        "audio": {"sample_rate": 48000, "bitrate_kbps": 96, "channels": 2},
    });
    std::fs::write(&path, json.to_string()).unwrap();
    path
}

/// A server with two hosts on stage: `red` (440 Hz) and `blue` (880 Hz).
struct Stage {
    server: Server,
    dir: tempfile::TempDir,
    hosts: Vec<Child>,
}

impl Stage {
    fn start(secs: u32) -> Self {
        let server = cli::serve(&[]);
        let dir = tempfile::tempdir().unwrap();
        let mut hosts = Vec::new();
        for (user, colour, tone) in [("red", RED, 440), ("blue", BLUE, 880)] {
            let picture = dir.path().join(format!("{user}.png"));
            png(&picture, colour);
            let token = cli::token("show", user, "join,publish-audio,publish-video", "600");
            let publish = format!("video=image:{}@15,audio=tone:{tone}", picture.display());
            let report = dir.path().join(format!("{user}.json"));
            let args = [
                "--role",
                "host",
                "--publish",
                &publish,
                "--duration",
                &secs.to_string(),
            ];
            hosts.push(cli::bot(&server, &token, &args, &report));
        }
        Self { server, dir, hosts }
    }

    /// Runs `livestage push` as the moderator with `args` after the common ones.
    fn push(&self, token: &str, args: &[&str]) -> (Child, PathBuf) {
        let report = self
            .dir
            .path()
            .join(format!("push-{}.json", fastrand::u32(..)));
        let child = Command::new(BIN)
            .args(["push", "--server", &self.server.addr, "--cert"])
            .arg(&self.server.cert)
            .args(["--token", token, "--report"])
            .arg(&report)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        (child, report)
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        for host in &mut self.hosts {
            let _ = host.kill();
            let _ = host.wait();
        }
    }
}

/// The pushes encode, ffmpeg decodes and nginx relays on a CI machine of two cores: one test
/// at a time, so each one's timing claims hold.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn moderator() -> String {
    cli::token("show", "mod", "join,moderator", "600")
}

fn finish(mut child: Child, report: &Path) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "livestage push did not end");
        std::thread::sleep(Duration::from_millis(100));
    }
    serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap()
}

/// The states `url` went through, by name.
fn states(report: &Value, url: &str) -> Vec<String> {
    report["urls"][url]["states"]
        .as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

/// ffprobe's streams of `url`, once it serves one (within `limit`).
fn probe(url: &str, limit: Duration) -> Option<Vec<Value>> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let out = Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-rw_timeout",
                "3000000",
                "-show_streams",
                "-of",
                "json",
                url,
            ])
            .output()
            .unwrap();
        if out.status.success()
            && let Ok(json) = serde_json::from_slice::<Value>(&out.stdout)
            && let Some(streams) = json["streams"].as_array()
            && streams.len() >= 2
        {
            return Some(streams.clone());
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    None
}

/// What an ffmpeg viewer of a URL saw: each picture's arrival and its left and right halves'
/// mean colours.
struct Watcher {
    child: Child,
    seen: Arc<Mutex<Vec<(Instant, [u8; 3], [u8; 3])>>>,
}

impl Watcher {
    fn start(url: &str) -> Self {
        let mut child = Command::new("ffmpeg")
            .args(["-v", "error", "-fflags", "nobuffer", "-probesize", "100000"])
            .args(["-analyzeduration", "500000", "-i", url, "-an"])
            .args([
                "-vf",
                &format!("scale={W}:{H}"),
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "-",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        std::thread::spawn(move || {
            let mut frame = vec![0u8; W * H * 3];
            while out.read_exact(&mut frame).is_ok() {
                let half = |x0: usize| {
                    let mut sum = [0u64; 3];
                    let mut n = 0;
                    for y in H / 4..H * 3 / 4 {
                        for x in x0 + W / 8..x0 + W * 3 / 8 {
                            for c in 0..3 {
                                sum[c] += u64::from(frame[(y * W + x) * 3 + c]);
                            }
                            n += 1;
                        }
                    }
                    sum.map(|s| (s / n) as u8)
                };
                sink.lock()
                    .unwrap()
                    .push((Instant::now(), half(0), half(W / 2)));
            }
        });
        Self { child, seen }
    }

    /// When the first picture at or after `from` showed `left` and `right`.
    fn first(&self, from: Instant, left: [u8; 3], right: [u8; 3]) -> Option<Instant> {
        let near = |a: [u8; 3], b: [u8; 3]| a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 45);
        self.seen
            .lock()
            .unwrap()
            .iter()
            .find(|(t, l, r)| *t >= from && near(*l, left) && near(*r, right))
            .map(|(t, ..)| *t)
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// About `secs` of `url`'s audio, decoded to 48 kHz mono.
fn listen(url: &str, secs: u32) -> Vec<f32> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i", url, "-vn", "-t", &secs.to_string()])
        .args(["-ac", "1", "-ar", "48000", "-f", "f32le", "-"])
        .output()
        .unwrap();
    out.stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[test]
fn a_side_by_side_push_reaches_nginx_and_follows_a_live_layout_change() {
    let _serial = serial();
    let Some(nginx) = Nginx::start() else { return };
    let stage = Stage::start(30);
    let dir = stage.dir.path();
    let side = layout(dir, "side.json", "red", "blue");
    let swap = layout(dir, "swap.json", "blue", "red");
    let url = nginx.url("show");
    let started = Instant::now();
    let (push, report) = stage.push(
        &moderator(),
        &[
            "--url",
            &url,
            "--layout",
            side.to_str().unwrap(),
            "--duration",
            "16",
        ]
        .into_iter()
        .chain(["--update-layout", swap.to_str().unwrap(), "--after", "10"])
        .collect::<Vec<_>>(),
    );

    let streams = probe(&url, Duration::from_secs(15)).expect("nginx serves the push");
    let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
    let audio = streams.iter().find(|s| s["codec_type"] == "audio").unwrap();
    assert_eq!(video["codec_name"], "h264");
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(640), Some(360))
    );
    assert_eq!(video["r_frame_rate"], "15/1", "{video}");
    assert_eq!(audio["codec_name"], "aac");
    assert_eq!(audio["sample_rate"], "48000");

    let watcher = Watcher::start(&url);
    let sound = listen(&url, 3);
    let peaks = spectrum::peaks(&sound, 48_000, 4);
    for tone in [440.0, 880.0] {
        assert!(
            peaks.iter().any(|p| (p - tone).abs() < 15.0),
            "the mix holds both tones: peaks {peaks:?}"
        );
    }
    let side_by_side = watcher.first(started, RED, BLUE);
    assert!(
        side_by_side.is_some(),
        "red left, blue right ({} pictures)",
        watcher.count()
    );

    let swap_at = started + Duration::from_secs(10);
    std::thread::sleep(
        (swap_at + Duration::from_secs(4)).saturating_duration_since(Instant::now()),
    );
    let swapped = watcher
        .first(swap_at, BLUE, RED)
        .expect("the swapped layout shows up");
    let delay = swapped.duration_since(swap_at);
    // The change is sent at 10 s by the push CLI's clock (started a moment after ours).
    assert!(
        delay < Duration::from_millis(2500),
        "the layout change took {delay:?}"
    );
    eprintln!("layout change visible after {delay:?}");

    let report = finish(push, &report);
    assert_eq!(report["joined"], true, "{report}");
    assert_eq!(report["error"], Value::Null, "{report}");
    let states = states(&report, &url);
    assert_eq!(
        states.first().map(String::as_str),
        Some("connecting"),
        "{states:?}"
    );
    assert!(states.contains(&"running".to_owned()), "{states:?}");
    assert_eq!(
        states.last().map(String::as_str),
        Some("stopped"),
        "{states:?}"
    );
}

#[test]
fn urls_are_added_and_removed_while_the_push_runs() {
    let _serial = serial();
    let Some(nginx) = Nginx::start() else { return };
    let stage = Stage::start(45);
    let side = layout(stage.dir.path(), "side.json", "red", "blue");
    let (a, b) = (nginx.url("a"), nginx.url("b"));
    let started = Instant::now();
    let (push, report) = stage.push(
        &moderator(),
        &[
            "--url",
            &a,
            "--layout",
            side.to_str().unwrap(),
            "--duration",
            "30",
            "--add-url",
            &b,
            "--after",
            "5",
            "--remove-url",
            &a,
            "--after",
            "10",
        ],
    );
    assert!(
        probe(&a, Duration::from_secs(10)).is_some(),
        "the first URL receives"
    );
    assert!(
        probe(&b, Duration::from_secs(10)).is_some(),
        "the added URL receives too"
    );
    // `a` is removed at 10 s by the push CLI's clock; nginx drops its stream at once.
    std::thread::sleep(
        (started + Duration::from_secs(12)).saturating_duration_since(Instant::now()),
    );
    assert!(
        probe(&a, Duration::from_secs(2)).is_none(),
        "the removed URL no longer receives"
    );
    assert!(
        probe(&b, Duration::from_secs(5)).is_some(),
        "the other URL still receives"
    );
    let report = finish(push, &report);
    let (sa, sb) = (states(&report, &a), states(&report, &b));
    assert!(
        sa.contains(&"running".to_owned()) && sa.last().unwrap() == "stopped",
        "{sa:?}"
    );
    assert!(
        sb.contains(&"running".to_owned()) && sb.last().unwrap() == "stopped",
        "{sb:?}"
    );
}

#[test]
fn a_push_recovers_when_the_rtmp_server_restarts() {
    let _serial = serial();
    let Some(mut nginx) = Nginx::start() else {
        return;
    };
    let stage = Stage::start(40);
    let side = layout(stage.dir.path(), "side.json", "red", "blue");
    let url = nginx.url("show");
    let (push, report) = stage.push(
        &moderator(),
        &[
            "--url",
            &url,
            "--layout",
            side.to_str().unwrap(),
            "--duration",
            "24",
        ],
    );
    assert!(
        probe(&url, Duration::from_secs(12)).is_some(),
        "the push runs"
    );
    nginx.stop();
    std::thread::sleep(Duration::from_secs(2));
    let restarted = Instant::now();
    nginx.restart();
    assert!(
        probe(&url, Duration::from_secs(12)).is_some(),
        "frames flow again"
    );
    eprintln!("recovered {:?} after the restart", restarted.elapsed());
    let report = finish(push, &report);
    let states = states(&report, &url);
    let recovering = states
        .iter()
        .position(|s| s == "recovering")
        .expect("recovering reported");
    assert!(
        states[recovering..].contains(&"running".to_owned()),
        "running again after recovering: {states:?}"
    );
}

#[test]
fn a_url_off_the_allow_list_and_a_non_moderator_are_refused() {
    let _serial = serial();
    let Some(nginx) = Nginx::start() else { return };
    // Only example.invalid is allowed: loopback is not.
    let server = cli::serve(&["--allow", "rtmp://example.invalid/"]);
    let dir = tempfile::tempdir().unwrap();
    let side = layout(dir.path(), "side.json", "red", "blue");
    let url = nginx.url("x");
    let run = |token: &str| {
        let report = dir.path().join(format!("{}.json", fastrand::u32(..)));
        let mut child = Command::new(BIN)
            .args(["push", "--server", &server.addr, "--cert"])
            .arg(&server.cert)
            .args(["--token", token, "--report"])
            .arg(&report)
            .args([
                "--url",
                &url,
                "--layout",
                side.to_str().unwrap(),
                "--duration",
                "4",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let code = child.wait().unwrap();
        (code.success(), finish(child, &report))
    };
    let (_, report) = run(&moderator());
    assert_eq!(states(&report, &url), vec!["failed"], "{report}");
    let failure = report["urls"][&url]["failure"].as_str().unwrap();
    assert!(failure.starts_with("not_allowed"), "{failure}");

    let host = cli::token("show", "host", "join,publish-video", "600");
    let (ok, report) = run(&host);
    assert!(!ok);
    let error = report["error"].as_str().unwrap();
    assert!(error.starts_with("not_permitted"), "{error}");
    assert!(
        probe(&url, Duration::from_secs(1)).is_none(),
        "nothing reached nginx"
    );
}
