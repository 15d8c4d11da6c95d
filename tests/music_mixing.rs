//! Music and the voice changer end to end with the real binary: hosts publish a 440 Hz tone
//! with music (a 660 Hz file) mixed under it, shifted an octave, muted for the channel, and
//! a voice changed by a preset; one viewer's spectrum hears exactly what each should.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::cli::*;
use serde_json::Value;

/// A `secs` long sine at `hz` as WAV, made by ffmpeg.
fn music(dir: &std::path::Path, hz: u32, secs: u32) -> String {
    let path = dir.join(format!("music-{hz}.wav"));
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!(
            "sine=frequency={hz}:duration={secs}:sample_rate=44100"
        ))
        .arg(&path)
        .status()
        .expect("ffmpeg (./dev setup installs it)");
    assert!(status.success());
    path.to_str().unwrap().to_owned()
}

fn peaks(report: &Value, user: &str) -> Vec<f64> {
    report["audio"][user]["peaks_hz"]
        .as_array()
        .unwrap_or_else(|| panic!("nothing heard from {user}: {report}"))
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

fn has(peaks: &[f64], hz: f64) -> bool {
    peaks.iter().any(|p| (p - hz).abs() < hz * 0.02)
}

#[test]
fn the_viewer_hears_the_voice_with_music_pitched_muted_or_changed() {
    let server = serve(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = music(dir.path(), 660, 10);
    let report = |name: &str| dir.path().join(format!("{name}.json"));
    let viewer = bot(
        &server,
        &token("ktv", "viewer", "join", "600"),
        &["--duration", "6"],
        &report("viewer"),
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    let host = |user: &str, extra: &[&str]| {
        let mut args = vec![
            "--role",
            "host",
            "--publish",
            "audio=tone:440",
            "--duration",
            "7",
        ];
        args.extend_from_slice(extra);
        bot(
            &server,
            &token("ktv", user, HOST, "600"),
            &args,
            &report(user),
        )
    };
    let hosts = [
        ("singer", host("singer", &["--music", &file])),
        (
            "octave",
            host("octave", &["--music", &file, "--music-pitch", "12"]),
        ),
        (
            "quiet",
            host("quiet", &["--music", &file, "--music-volume", "0"]),
        ),
        ("giant", host("giant", &["--voice", "higher"])),
    ];
    let (ok, seen) = finish(viewer, &report("viewer"));
    assert!(ok, "{seen}");
    for (user, child) in hosts {
        let (ok, r) = finish(child, &report(user));
        assert!(ok, "{user}: {r}");
        if user != "giant" {
            assert_eq!(r["music"]["states"][0], "playing", "{user}: {r}");
        }
    }

    let singer = peaks(&seen, "singer");
    assert!(
        has(&singer, 440.0) && has(&singer, 660.0),
        "voice and music: {singer:?}"
    );
    let octave = peaks(&seen, "octave");
    assert!(
        has(&octave, 440.0) && has(&octave, 1320.0),
        "music an octave up: {octave:?}"
    );
    assert!(!has(&octave, 660.0), "{octave:?}");
    let quiet = peaks(&seen, "quiet");
    assert!(
        has(&quiet, 440.0) && !has(&quiet, 660.0),
        "music at channel volume 0: {quiet:?}"
    );
    // Four semitones up: 440 Hz is heard at 554 Hz.
    let giant = peaks(&seen, "giant");
    assert!(
        has(&giant, 554.4) && !has(&giant, 440.0),
        "voice higher: {giant:?}"
    );
}

#[test]
fn a_missing_music_file_fails_with_its_reason() {
    let server = serve(&[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("host.json");
    let host = bot(
        &server,
        &token("ktv", "host", HOST, "600"),
        &[
            "--role",
            "host",
            "--publish",
            "audio=tone:440",
            "--music",
            "/no/such.mp3",
            "--duration",
            "2",
        ],
        &path,
    );
    let (ok, r) = finish(host, &path);
    assert!(!ok);
    assert_eq!(r["error"]["code"], "file_not_found", "{r}");
    assert!(
        r["published"]["audio_frames"].as_u64().unwrap() > 50,
        "the voice goes on: {r}"
    );

    let no_voice = bot(
        &server,
        &token("ktv", "mute", HOST, "600"),
        &["--role", "host", "--music", "x.mp3", "--music-pitch", "20"],
        &path,
    );
    let (ok, r) = finish(no_voice, &path);
    assert!(!ok);
    assert_eq!(r["error"]["code"], "invalid_input", "{r}");
}
