//! Publishing over RTMP to a real nginx-rtmp: what ffprobe sees, several URLs, recovering
//! from a server restart, giving up on an unreachable one.

mod nginx;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use livestage_media::audio::aac;
use livestage_media::video::{Encoder, TestPattern, encode};
use livestage_server::rtmp::{
    Backoff, FailReason, Feed, Headers, Options, Output, Report, Tag, UrlState, flv,
};
use tokio::runtime::Runtime;
use tokio::sync::mpsc::UnboundedReceiver;

use nginx::Nginx;

const WIDTH: u32 = 640;
const HEIGHT: u32 = 360;
const FPS: u32 = 30;
const RATE: u32 = 48_000;

/// An encoder thread: a 640x360@30 test pattern (openh264) and a 440 Hz stereo tone (AAC)
/// in real time, into an [`Output`], until dropped.
struct Source {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Source {
    fn start(output: Feed) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let pattern = TestPattern::new(WIDTH, HEIGHT).expect("pattern");
            let config = encode::Config::new(WIDTH, HEIGHT, FPS as f32, 800_000).expect("config");
            let mut video = Encoder::new(config).expect("encoder");
            let mut audio = aac::Encoder::new(aac::Config {
                sample_rate: RATE,
                channels: 2,
                bitrate_bps: 128_000,
            })
            .expect("aac");
            let mut headers_set = false;
            let mut packets = Vec::new();
            let mut phase = 0f32;
            let mut pcm = Vec::new();
            let start = Instant::now();
            let mut frame = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let ts_us = frame * 1_000_000 / u64::from(FPS);
                let ts_ms = (ts_us / 1000) as u32;
                let picture = pattern.frame(frame, ts_us);
                if let Some(encoded) = video.encode(&picture, ts_us).expect("encode") {
                    if encoded.keyframe && !headers_set {
                        let (sps, pps) = flv::sps_pps(&encoded.data).expect("SPS and PPS");
                        output.set_headers(Headers {
                            info: flv::Info {
                                width: WIDTH,
                                height: HEIGHT,
                                fps: FPS as f32,
                                video_bitrate_bps: 800_000,
                                audio_sample_rate: Some(RATE),
                                audio_channels: 2,
                                audio_bitrate_bps: 128_000,
                            },
                            video: flv::avc_sequence_header(sps, pps).expect("header"),
                            audio: Some(flv::aac_sequence_header(&audio.audio_specific_config())),
                        });
                        headers_set = true;
                    }
                    if headers_set
                        && let Some(body) = flv::avc_frame(&encoded.data, encoded.keyframe, 0)
                    {
                        output.send(Tag::Video {
                            ts_ms,
                            keyframe: encoded.keyframe,
                            body,
                        });
                    }
                }
                pcm.clear();
                for _ in 0..RATE / FPS {
                    let s = 0.3 * (std::f32::consts::TAU * phase).sin();
                    phase = (phase + 440.0 / RATE as f32).fract();
                    pcm.extend([s, s]);
                }
                packets.clear();
                audio.push(&pcm, &mut packets).expect("aac push");
                if headers_set {
                    for p in &packets {
                        output.send(Tag::Audio {
                            ts_ms: (p.pts * 1000 / u64::from(RATE)) as u32,
                            body: flv::aac_frame(&p.data),
                        });
                    }
                }
                frame += 1;
                let due = start + Duration::from_micros(frame * 1_000_000 / u64::from(FPS));
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Waits up to `within` for `url` to report a state matching `want`; panics with the states
/// seen otherwise.
fn wait_for(
    runtime: &Runtime,
    reports: &mut UnboundedReceiver<Report>,
    url: &str,
    within: Duration,
    want: impl Fn(&UrlState) -> bool,
) -> UrlState {
    let mut seen = Vec::new();
    let found = runtime.block_on(async {
        tokio::time::timeout(within, async {
            while let Some((u, state)) = reports.recv().await {
                seen.push((u.clone(), state.clone()));
                if u == url && want(&state) {
                    return Some(state);
                }
            }
            None
        })
        .await
    });
    match found {
        Ok(Some(state)) => state,
        _ => panic!("{url}: no matching state within {within:?}; saw {seen:?}"),
    }
}

/// `ffprobe -show_streams` of a live RTMP stream, killed after 15 s.
fn probe(url: &str) -> Vec<serde_json::Value> {
    let mut child = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-rw_timeout",
            "10000000",
            "-show_streams",
            "-of",
            "json",
            url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffprobe (apt-get install ffmpeg)");
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ffprobe {url} did not finish in 15 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("ffprobe output");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("ffprobe {url}: {}", String::from_utf8_lossy(&out.stderr)));
    json["streams"].as_array().cloned().unwrap_or_default()
}

/// One H.264 640x360 stream and one AAC 48 kHz stream.
fn assert_h264_and_aac(url: &str) {
    let streams = probe(url);
    let video: Vec<_> = streams
        .iter()
        .filter(|s| s["codec_type"] == "video")
        .collect();
    let audio: Vec<_> = streams
        .iter()
        .filter(|s| s["codec_type"] == "audio")
        .collect();
    assert_eq!(video.len(), 1, "{url}: {streams:?}");
    assert_eq!(audio.len(), 1, "{url}: {streams:?}");
    assert_eq!(video[0]["codec_name"], "h264");
    assert_eq!(
        (video[0]["width"].as_u64(), video[0]["height"].as_u64()),
        (Some(640), Some(360))
    );
    assert_eq!(audio[0]["codec_name"], "aac");
    assert_eq!(audio[0]["sample_rate"], "48000");
}

fn running(state: &UrlState) -> bool {
    *state == UrlState::Running
}

#[test]
fn ffprobe_sees_h264_and_aac_on_the_published_stream() {
    let Some(nginx) = Nginx::start() else { return };
    let runtime = runtime();
    let (tx, mut reports) = tokio::sync::mpsc::unbounded_channel();
    let mut output = Output::new(runtime.handle().clone(), Options::default(), tx);
    let url = nginx.url("main");
    output.add(&url);
    let source = Source::start(output.feed());
    wait_for(
        &runtime,
        &mut reports,
        &url,
        Duration::from_secs(10),
        running,
    );
    assert_h264_and_aac(&url);
    drop(source);
    drop(output);
    wait_for(&runtime, &mut reports, &url, Duration::from_secs(5), |s| {
        *s == UrlState::Stopped
    });
}

#[test]
fn two_urls_receive_and_removing_one_leaves_the_other() {
    let Some(nginx) = Nginx::start() else { return };
    let runtime = runtime();
    let (tx, mut reports) = tokio::sync::mpsc::unbounded_channel();
    let mut output = Output::new(runtime.handle().clone(), Options::default(), tx);
    let (a, b) = (nginx.url("first"), nginx.url("second"));
    output.add(&a);
    output.add(&b);
    assert_eq!(output.urls(), vec![a.clone(), b.clone()]);
    let _source = Source::start(output.feed());
    wait_for(&runtime, &mut reports, &a, Duration::from_secs(10), running);
    // b may have reported Running before a; check by probing both.
    assert_h264_and_aac(&a);
    assert_h264_and_aac(&b);
    let task = output.remove(&a).expect("a was added");
    runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(5), task).await })
        .expect("a stops within 5 s")
        .expect("a's task ended cleanly");
    wait_for(&runtime, &mut reports, &a, Duration::from_secs(1), |s| {
        *s == UrlState::Stopped
    });
    assert_eq!(output.urls(), vec![b.clone()]);
    std::thread::sleep(Duration::from_secs(1));
    while let Ok((url, state)) = reports.try_recv() {
        assert!(
            url != b || state == UrlState::Running,
            "{b} changed to {state:?}"
        );
    }
    assert_h264_and_aac(&b);
}

#[test]
fn a_restarted_server_gets_the_stream_again() {
    let Some(mut nginx) = Nginx::start() else {
        return;
    };
    let runtime = runtime();
    let (tx, mut reports) = tokio::sync::mpsc::unbounded_channel();
    let mut output = Output::new(runtime.handle().clone(), Options::default(), tx);
    let url = nginx.url("restart");
    output.add(&url);
    let _source = Source::start(output.feed());
    wait_for(
        &runtime,
        &mut reports,
        &url,
        Duration::from_secs(10),
        running,
    );
    nginx.stop();
    let state = wait_for(&runtime, &mut reports, &url, Duration::from_secs(5), |s| {
        matches!(s, UrlState::Recovering { .. })
    });
    assert!(
        matches!(state, UrlState::Recovering { attempt: 1, .. }),
        "{state:?}"
    );
    std::thread::sleep(Duration::from_millis(700));
    nginx.restart();
    wait_for(
        &runtime,
        &mut reports,
        &url,
        Duration::from_secs(15),
        running,
    );
    assert_h264_and_aac(&url);
}

#[test]
fn an_unreachable_url_fails_and_a_malformed_one_is_refused() {
    let runtime = runtime();
    let (tx, mut reports) = tokio::sync::mpsc::unbounded_channel();
    let options = Options {
        backoff: Backoff {
            give_up_after: Duration::from_secs(2),
            ..Backoff::default()
        },
        ..Options::default()
    };
    let mut output = Output::new(runtime.handle().clone(), options, tx);
    let bad = "rtmp://127.0.0.1/live";
    output.add(bad);
    let state = wait_for(&runtime, &mut reports, bad, Duration::from_secs(1), |_| {
        true
    });
    assert!(
        matches!(
            state,
            UrlState::Failed {
                reason: FailReason::BadUrl,
                ..
            }
        ),
        "{state:?}"
    );
    let url = format!("rtmp://127.0.0.1:{}/live/nobody", nginx::free_port());
    output.add(&url);
    wait_for(&runtime, &mut reports, &url, Duration::from_secs(5), |s| {
        matches!(s, UrlState::Recovering { .. })
    });
    let state = wait_for(&runtime, &mut reports, &url, Duration::from_secs(10), |s| {
        matches!(s, UrlState::Failed { .. })
    });
    match state {
        UrlState::Failed { reason, message } => {
            assert_eq!(reason, FailReason::Unreachable, "{message}");
            assert!(!message.contains("nobody"), "the key leaked: {message}");
        }
        other => panic!("{other:?}"),
    }
}
