//! The engine's own audio through the C ABI, against an in-process server: a host engine pushes
//! a tone as its voice and a viewer engine pulls the mixed voice with `livestage_audio_read`,
//! whose spectrum shows what the channel hears.
//!
//! - Music (a 660 Hz WAV) goes out under the pushed voice and plays in the host's own mix, with
//!   `music_state` events from `playing` to `completed`; a sound effect likewise, with
//!   `effect_finished`. Missing files and calls without music are refused with their codes.
//! - An encode hook installed through `livestage_audio_hook` gets the format it asked for and
//!   halves what the viewer hears; a null callback removes it and it is never called again; a
//!   slow hook is removed and reported; the viewer's remote-voice hook learns whose voice it
//!   hears and its playback hook silences it.
//! - The voice changer moves the pushed 440 Hz tone four semitones up, to 554 Hz.
// Calling a C ABI from Rust takes unsafe blocks; each says why its pointers are valid.
#![allow(unsafe_code, clippy::unwrap_used)]

mod common;

use std::ffi::{CString, c_void};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{HOST, join_engine, last_error, wait_event};
use livestage_ffi::*;
use livestage_media::audio::spectrum::{dominant_frequency, peaks};
use livestage_server::{Config, Embedded};
use serde_json::Value;

const RATE: u32 = 48_000;
/// Samples in 20 ms at [`RATE`], mono.
const FRAME: usize = 960;

/// A mono 48 kHz engine joined to `show`; returns it and its `joined` event.
fn join(server: &Embedded, user: &str, grants: &str, role: i32) -> (i64, Value) {
    join_engine(server, user, grants, role, 1)
}

/// A scratch folder for this test's files.
fn scratch(test: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("livestage-ffi-audio-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A `secs` long sine at `hz` as WAV, made by ffmpeg (its default amplitude, 1/8).
fn tone_file(dir: &Path, hz: u32, secs: u32) -> CString {
    let path = dir.join(format!("sine-{hz}.wav"));
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("sine=frequency={hz}:duration={secs}"))
        .arg(&path)
        .status()
        .expect("ffmpeg (./dev setup installs it)");
    assert!(status.success());
    CString::new(path.to_str().unwrap()).unwrap()
}

/// Pushes a sine as the host's voice, 20 ms at a time at the wall clock's pace.
struct Voice {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Voice {
    fn start(engine: i64, hz: f32, amplitude: f32) -> Self {
        // SAFETY: a literal C string.
        let rc = unsafe { livestage_audio_publish(engine, c"show".as_ptr(), RATE, 1) };
        assert_eq!(rc, 0, "{}", last_error());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let start = Instant::now();
                let step = std::f32::consts::TAU * hz / RATE as f32;
                let mut phase = 0.0f32;
                let mut frame = [0.0f32; FRAME];
                let mut sent = 0u32;
                while !stop.load(SeqCst) {
                    for s in &mut frame {
                        *s = amplitude * phase.sin();
                        phase = (phase + step) % std::f32::consts::TAU;
                    }
                    // SAFETY: a literal C string; `frame` is valid for its length.
                    let rc = unsafe {
                        livestage_audio_push(engine, c"show".as_ptr(), frame.as_ptr(), FRAME)
                    };
                    assert_eq!(rc, 0, "{}", last_error());
                    sent += 1;
                    let due = start + Duration::from_millis(20) * sent;
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                }
            })
        };
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Voice {
    fn drop(&mut self) {
        self.stop.store(true, SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Pulls an engine's mixed voice as an audio callback would (20 ms every 20 ms) and keeps what
/// carried sound.
struct Listener {
    samples: Arc<Mutex<Vec<f32>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    fn start(engine: i64) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (samples, stop) = (samples.clone(), stop.clone());
            std::thread::spawn(move || {
                let start = Instant::now();
                let mut out = [0.0f32; FRAME];
                let mut reads = 0u32;
                while !stop.load(SeqCst) {
                    // SAFETY: `out` is valid for its length.
                    let voiced =
                        unsafe { livestage_audio_read(engine, out.as_mut_ptr(), FRAME, 1) };
                    assert!(voiced >= 0, "{}", last_error());
                    samples
                        .lock()
                        .unwrap()
                        .extend_from_slice(&out[..voiced as usize]);
                    reads += 1;
                    let due = start + Duration::from_millis(20) * reads;
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                }
            })
        };
        Self {
            samples,
            stop,
            thread: Some(thread),
        }
    }

    /// Waits until the voice is heard (the publisher started, the server forwards it).
    fn wait_for_voice(&self) {
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            let heard = self.hear(0.2);
            if !heard.is_empty()
                && (heard.iter().map(|s| s * s).sum::<f32>() / heard.len() as f32).sqrt() > 0.05
            {
                // Past the first frames, which the decoder fades in.
                std::thread::sleep(Duration::from_millis(200));
                return;
            }
        }
        panic!("no voice heard within 10 s");
    }

    /// What was heard over the next `secs`.
    fn hear(&self, secs: f32) -> Vec<f32> {
        let mark = self.samples.lock().unwrap().len();
        std::thread::sleep(Duration::from_secs_f32(secs));
        self.samples.lock().unwrap()[mark..].to_vec()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn rms(samples: &[f32]) -> f32 {
    assert!(
        samples.len() > RATE as usize / 2,
        "{} samples heard",
        samples.len()
    );
    (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt()
}

/// The strongest frequencies heard, strongest first.
fn heard_peaks(samples: &[f32]) -> Vec<f32> {
    assert!(
        samples.len() > RATE as usize / 2,
        "{} samples heard",
        samples.len()
    );
    peaks(samples, RATE, 4)
}

fn has(peaks: &[f32], hz: f32) -> bool {
    peaks.iter().any(|p| (p - hz).abs() < hz * 0.02)
}

fn position(engine: i64) -> (i32, u64, u64) {
    let (mut position, mut duration) = (7, 7);
    // SAFETY: both pointers are valid.
    let rc = unsafe { livestage_music_position(engine, &mut position, &mut duration) };
    (rc, position, duration)
}

#[test]
fn music_and_an_effect_go_out_under_the_pushed_voice_and_play_locally() {
    let dir = scratch("music");
    let (music, effect) = (tone_file(&dir, 660, 3), tone_file(&dir, 880, 1));
    let server = Embedded::start(Config::default()).unwrap();
    let (host, _) = join(&server, "singer", HOST, LIVESTAGE_ROLE_HOST);
    let (viewer, _) = join(&server, "viewer", "join", LIVESTAGE_ROLE_AUDIENCE);
    let voice = Voice::start(host, 440.0, 0.25);
    let (channel, local) = (Listener::start(viewer), Listener::start(host));
    channel.wait_for_voice();

    // SAFETY (the calls below): literal or owned C strings and valid option structs.
    unsafe {
        assert_eq!(
            livestage_music_start(host, c"/no/such/song.mp3".as_ptr(), null()),
            LIVESTAGE_ERR_NOT_FOUND
        );
        assert!(
            last_error().contains("/no/such/song.mp3"),
            "{}",
            last_error()
        );
        let slow = LivestageMusicOptions {
            speed: 0.0,
            ..livestage_music_options_default()
        };
        assert_eq!(
            livestage_music_start(host, music.as_ptr(), &slow),
            LIVESTAGE_ERR_ARGUMENT
        );
    }
    assert_eq!(livestage_music_pause(host), LIVESTAGE_ERR_STATE);
    assert_eq!(
        position(host),
        (0, 0, LIVESTAGE_DURATION_UNKNOWN),
        "no music yet"
    );

    // Before the music, the channel hears the voice alone.
    let before = heard_peaks(&channel.hear(1.0));
    assert!(has(&before, 440.0) && !has(&before, 660.0), "{before:?}");

    // SAFETY: a valid C string; null options are the defaults.
    let rc = unsafe { livestage_music_start(host, music.as_ptr(), null()) };
    assert_eq!(rc, 0, "{}", last_error());
    let event = wait_event(host, Duration::from_secs(5), |e| e["type"] == "music_state");
    assert_eq!(
        (event["state"].as_str(), &event["error"], &event["channel"]),
        (Some("playing"), &Value::Null, &Value::Null),
        "{event:#}"
    );
    let started = Instant::now();
    let (heard, local_heard) = std::thread::scope(|s| {
        let local = s.spawn(|| local.hear(1.5));
        (channel.hear(1.5), local.join().unwrap())
    });
    let (rc, at, duration) = position(host);
    assert_eq!(rc, 1);
    assert!((1200..=2000).contains(&at), "position {at} ms after 1.5 s");
    assert!((2950..=3050).contains(&duration), "duration {duration} ms");
    // The channel hears voice and music; this player hears the music, not its own voice.
    let heard = heard_peaks(&heard);
    assert!(
        has(&heard, 440.0) && has(&heard, 660.0),
        "channel: {heard:?}"
    );
    let local_hz = dominant_frequency(&local_heard, RATE).unwrap();
    eprintln!(
        "music: the channel's peaks {heard:?} Hz, the player's own mix {local_hz} Hz, \
         at {at} of {duration} ms"
    );
    assert!(
        (local_hz - 660.0).abs() < 660.0 * 0.02,
        "local: {local_hz} Hz"
    );
    assert!(!has(&heard_peaks(&local_heard), 440.0), "local");

    let event = wait_event(host, Duration::from_secs(5), |e| e["type"] == "music_state");
    assert_eq!(event["state"], "completed", "{event:#}");
    let played = started.elapsed();
    eprintln!("music: completed {played:?} after `playing` was taken (a 3 s file)");
    assert!(
        (Duration::from_millis(2700)..=Duration::from_millis(3300)).contains(&played),
        "the 3 s file completed {played:?} after playing was told"
    );
    std::thread::sleep(Duration::from_millis(300));
    let after = heard_peaks(&channel.hear(1.0));
    assert!(
        has(&after, 440.0) && !has(&after, 660.0),
        "after: {after:?}"
    );

    // An effect: refused until it is loaded, then heard by the channel until it finishes.
    // SAFETY (the calls below): valid C strings and option structs.
    unsafe {
        assert_eq!(
            livestage_effect_preload(host, 7, c"/no/such/ding.wav".as_ptr()),
            LIVESTAGE_ERR_NOT_FOUND
        );
        assert_eq!(
            livestage_effect_play(host, 7, null()),
            LIVESTAGE_ERR_NOT_FOUND
        );
        assert_eq!(livestage_effect_preload(host, 7, effect.as_ptr()), 0);
        let twice = LivestageEffectOptions {
            loops: 2,
            ..livestage_effect_options_default()
        };
        assert_eq!(
            livestage_effect_play(host, 7, &twice),
            0,
            "{}",
            last_error()
        );
    }
    let started = Instant::now();
    let heard = heard_peaks(&channel.hear(1.0));
    assert!(
        has(&heard, 880.0) && has(&heard, 440.0),
        "effect: {heard:?}"
    );
    let event = wait_event(host, Duration::from_secs(5), |e| {
        e["type"] == "effect_finished"
    });
    assert_eq!(event["id"], 7, "{event:#}");
    let played = started.elapsed();
    eprintln!("effect: peaks {heard:?} Hz, finished {played:?} after play (1 s, twice)");
    assert!(
        (Duration::from_millis(1800)..=Duration::from_millis(2300)).contains(&played),
        "a 1 s effect twice finished after {played:?}"
    );
    assert_eq!(livestage_effect_unload(host, 7), 0);
    // SAFETY: null options are the defaults.
    let rc = unsafe { livestage_effect_play(host, 7, null()) };
    assert_eq!(rc, LIVESTAGE_ERR_NOT_FOUND, "unloaded");

    drop((voice, channel, local));
    assert_eq!(livestage_engine_free(viewer), LIVESTAGE_OK);
    assert_eq!(livestage_engine_free(host), LIVESTAGE_OK);
    let _ = std::fs::remove_dir_all(dir);
}

/// What a hook saw, through its `user_data`.
#[derive(Default)]
struct Probe {
    engine: AtomicU64,
    gain: AtomicU32,
    calls: AtomicU64,
    len: AtomicU64,
    rate: AtomicU32,
    channels: AtomicU32,
    point: AtomicI32,
    media_id: AtomicU64,
    /// What `livestage_audio_hook` answered when called from inside the hook.
    nested: AtomicI32,
    /// Milliseconds the hook sleeps (a slow hook).
    sleep_ms: AtomicU64,
}

impl Probe {
    fn new(engine: i64, gain: f32) -> Arc<Self> {
        let probe = Self::default();
        probe.engine.store(engine as u64, SeqCst);
        probe.gain.store(gain.to_bits(), SeqCst);
        Arc::new(probe)
    }

    fn user_data(self: &Arc<Self>) -> *mut c_void {
        Arc::as_ptr(self).cast_mut().cast()
    }
}

/// Multiplies the frame by the probe's gain and records what it was given.
unsafe extern "C" fn scale(
    samples: *mut f32,
    len: usize,
    sample_rate: u32,
    channels: u32,
    point: i32,
    media_id: u64,
    user_data: *mut c_void,
) {
    // SAFETY: the test passes an `Arc<Probe>` it keeps alive while the hook is installed.
    let probe = unsafe { &*user_data.cast::<Probe>() };
    // SAFETY: the engine passes a frame valid for `len` samples.
    let frame = unsafe { std::slice::from_raw_parts_mut(samples, len) };
    let gain = f32::from_bits(probe.gain.load(SeqCst));
    frame.iter_mut().for_each(|s| *s *= gain);
    probe.len.store(len as u64, SeqCst);
    probe.rate.store(sample_rate, SeqCst);
    probe.channels.store(channels, SeqCst);
    probe.point.store(point, SeqCst);
    probe.media_id.store(media_id, SeqCst);
    if probe.calls.fetch_add(1, SeqCst) == 0 {
        let engine = probe.engine.load(SeqCst) as i64;
        // SAFETY: removing (null callback) takes no pointers.
        let nested = unsafe { livestage_audio_hook(engine, point, null(), None, null_mut()) };
        probe.nested.store(nested, SeqCst);
    }
    std::thread::sleep(Duration::from_millis(probe.sleep_ms.load(SeqCst)));
}

fn install(
    engine: i64,
    point: i32,
    format: Option<&LivestageHookFormat>,
    probe: &Arc<Probe>,
) -> i32 {
    let format = format.map_or(null(), |f| f as *const _);
    // SAFETY: `format` is null or valid; `scale` and the probe stay valid while installed.
    unsafe { livestage_audio_hook(engine, point, format, Some(scale), probe.user_data()) }
}

fn remove(engine: i64, point: i32) -> i32 {
    // SAFETY: a null callback removes; no pointers are read.
    unsafe { livestage_audio_hook(engine, point, null(), None, null_mut()) }
}

#[test]
fn raw_audio_hooks_get_their_format_change_what_is_heard_and_stop_when_removed() {
    let server = Embedded::start(Config::default()).unwrap();
    let (host, _) = join(&server, "singer", HOST, LIVESTAGE_ROLE_HOST);
    let (viewer, joined) = join(&server, "viewer", "join", LIVESTAGE_ROLE_AUDIENCE);
    let singer = joined["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["user"] == "singer")
        .unwrap()["media_id"]
        .as_u64()
        .unwrap();
    let voice = Voice::start(host, 440.0, 0.4);
    let channel = Listener::start(viewer);
    channel.wait_for_voice();
    let full = rms(&channel.hear(1.0));
    assert!((0.25..=0.32).contains(&full), "a 0.4 sine: {full}");

    // Bad points and formats are refused.
    let odd = |sample_rate, channels, frame_ms| LivestageHookFormat {
        sample_rate,
        channels,
        frame_ms,
    };
    let probe = Probe::new(host, 0.5);
    assert_eq!(install(host, 9, None, &probe), LIVESTAGE_ERR_ARGUMENT);
    for format in [odd(22_050, 1, 20), odd(16_000, 3, 20), odd(16_000, 1, 5)] {
        assert_eq!(
            install(host, LIVESTAGE_HOOK_ENCODE, Some(&format), &probe),
            LIVESTAGE_ERR_ARGUMENT,
            "{format:?}"
        );
    }

    // Halving at encode, in 10 ms stereo frames at 16 kHz: the channel hears half the level.
    let format = odd(16_000, 2, 10);
    assert_eq!(
        install(host, LIVESTAGE_HOOK_ENCODE, Some(&format), &probe),
        0
    );
    std::thread::sleep(Duration::from_millis(300));
    let calls = probe.calls.load(SeqCst);
    let halved = channel.hear(1.0);
    let calls = probe.calls.load(SeqCst) - calls;
    let level = rms(&halved) / full;
    eprintln!("encode hook: level {level:.3} of {full:.3} rms, {calls} calls in 1 s");
    assert!(
        (0.45..=0.55).contains(&level),
        "halved: {level} of the level"
    );
    let hz = dominant_frequency(&halved, RATE).unwrap();
    assert!(
        (hz - 440.0).abs() < 440.0 * 0.01,
        "{hz} Hz through 16 kHz stereo"
    );
    assert!(
        (90..=110).contains(&calls),
        "{calls} calls in 1 s of 10 ms frames"
    );
    assert_eq!(probe.len.load(SeqCst), 160 * 2, "10 ms of 16 kHz stereo");
    assert_eq!(
        (probe.rate.load(SeqCst), probe.channels.load(SeqCst)),
        (16_000, 2)
    );
    assert_eq!(
        (probe.point.load(SeqCst), probe.media_id.load(SeqCst)),
        (LIVESTAGE_HOOK_ENCODE, 0)
    );
    assert_eq!(
        probe.nested.load(SeqCst),
        LIVESTAGE_ERR_STATE,
        "no hook changes from inside a hook"
    );

    // Removed: never called again from the moment the call returns, and the level is back.
    assert_eq!(remove(host, LIVESTAGE_HOOK_ENCODE), 0);
    let calls = probe.calls.load(SeqCst);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(probe.calls.load(SeqCst), calls, "called after removal");
    let level = rms(&channel.hear(1.0)) / full;
    assert!(
        (0.9..=1.1).contains(&level),
        "restored: {level} of the level"
    );

    // A hook slower than its frames is removed and reported, then never called.
    let slow = Probe::new(host, 1.0);
    slow.sleep_ms.store(25, SeqCst);
    assert_eq!(install(host, LIVESTAGE_HOOK_CAPTURE, None, &slow), 0);
    let event = wait_event(host, Duration::from_secs(5), |e| {
        e["type"] == "audio_hook_removed"
    });
    assert_eq!(
        (event["point"].as_str(), &event["channel"]),
        (Some("capture"), &Value::Null),
        "{event:#}"
    );
    assert!(
        event["reason"].as_str().unwrap().contains("5 times"),
        "{event:#}"
    );
    let calls = slow.calls.load(SeqCst);
    eprintln!("slow hook: removed after {calls} calls of 25 ms");
    assert!((5..=6).contains(&calls), "{calls} slow calls");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(slow.calls.load(SeqCst), calls, "called after the event");

    // The viewer's hooks: remote voice learns whose voice it is; playback silences the mix.
    let remote = Probe::new(viewer, 1.0);
    assert_eq!(
        install(viewer, LIVESTAGE_HOOK_REMOTE_VOICE, None, &remote),
        0
    );
    let mute = Probe::new(viewer, 0.0);
    assert_eq!(install(viewer, LIVESTAGE_HOOK_PLAYBACK, None, &mute), 0);
    std::thread::sleep(Duration::from_millis(300));
    let silent = rms(&channel.hear(1.0));
    assert!(silent < 1e-4, "a zeroing playback hook: {silent}");
    assert_eq!(
        remote.media_id.load(SeqCst),
        singer,
        "the singer's media id"
    );
    assert_eq!(
        (mute.len.load(SeqCst), mute.channels.load(SeqCst)),
        (FRAME as u64, 1),
        "playback defaults to the mix: 48 kHz mono, 20 ms"
    );
    // Freeing the engine removes its hooks first.
    drop((voice, channel));
    assert_eq!(livestage_engine_free(viewer), LIVESTAGE_OK);
    let calls = (remote.calls.load(SeqCst), mute.calls.load(SeqCst));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!((remote.calls.load(SeqCst), mute.calls.load(SeqCst)), calls);
    assert_eq!(livestage_engine_free(host), LIVESTAGE_OK);
}

#[test]
fn the_voice_changer_moves_a_pushed_tone_four_semitones_up() {
    let server = Embedded::start(Config::default()).unwrap();
    let (host, _) = join(&server, "singer", HOST, LIVESTAGE_ROLE_HOST);
    let (viewer, _) = join(&server, "viewer", "join", LIVESTAGE_ROLE_AUDIENCE);
    assert_eq!(
        livestage_voice_preset(host, 42, 0.0),
        LIVESTAGE_ERR_ARGUMENT
    );
    assert_eq!(
        livestage_voice_preset(host, LIVESTAGE_VOICE_PITCH, 13.0),
        LIVESTAGE_ERR_ARGUMENT
    );
    let voice = Voice::start(host, 440.0, 0.3);
    let channel = Listener::start(viewer);
    channel.wait_for_voice();
    let plain = dominant_frequency(&channel.hear(1.0), RATE).unwrap();
    assert!((plain - 440.0).abs() < 440.0 * 0.01, "{plain} Hz");

    assert_eq!(livestage_voice_preset(host, LIVESTAGE_VOICE_HIGHER, 0.0), 0);
    std::thread::sleep(Duration::from_millis(300));
    let higher = heard_peaks(&channel.hear(1.5));
    eprintln!("voice changer: 440 Hz pushed, peaks heard {higher:?} Hz");
    // 440 * 2^(4/12) = 554.4 Hz.
    assert!(
        has(&higher, 554.4) && !has(&higher, 440.0),
        "higher: {higher:?}"
    );
    assert!(
        (higher[0] - 554.4).abs() < 554.4 * 0.01,
        "the strongest: {higher:?}"
    );

    assert_eq!(livestage_voice_preset(host, LIVESTAGE_VOICE_OFF, 0.0), 0);
    std::thread::sleep(Duration::from_millis(300));
    let off = dominant_frequency(&channel.hear(1.0), RATE).unwrap();
    assert!((off - 440.0).abs() < 440.0 * 0.01, "off again: {off} Hz");

    // Voice processing: only the three stage bits are taken; noise suppression takes a steady
    // tone for noise and turns it down, and switched off the tone is back.
    assert_eq!(livestage_voice_processing(host, 8), LIVESTAGE_ERR_ARGUMENT);
    let plain = rms(&channel.hear(1.0));
    assert_eq!(
        livestage_voice_processing(host, LIVESTAGE_PROCESSING_NOISE),
        0
    );
    std::thread::sleep(Duration::from_millis(1500));
    let suppressed = rms(&channel.hear(1.0));
    eprintln!("noise suppression on a steady tone: {plain:.4} -> {suppressed:.4} rms");
    assert!(suppressed < plain * 0.5, "{plain} -> {suppressed}");
    assert_eq!(livestage_voice_processing(host, 0), 0);
    std::thread::sleep(Duration::from_millis(500));
    let back = rms(&channel.hear(1.0));
    assert!((back - plain).abs() < plain * 0.1, "{plain} -> {back}");

    drop((voice, channel));
    assert_eq!(livestage_engine_free(viewer), LIVESTAGE_OK);
    assert_eq!(livestage_engine_free(host), LIVESTAGE_OK);
}
