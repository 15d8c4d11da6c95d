//! Music fixtures made by ffmpeg at test time (no audio files in the repo), a loopback HTTP
//! server with range requests, and a paced pull through a mix tap.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use livestage_media::audio::{LocalMix, MixEvent, MixTap};

/// A `secs` long sine at `hz` in the container `ext` (wav, mp3, flac, ogg, m4a), stereo at
/// 44.1 kHz (so the resampler is on the path).
pub fn fixture(dir: &Path, ext: &str, hz: u32, secs: f32) -> PathBuf {
    let path = dir.join(format!("tone-{hz}-{secs}.{ext}"));
    let codec: &[&str] = match ext {
        "ogg" => &["-c:a", "libvorbis"],
        "m4a" => &["-c:a", "aac"],
        "mp3" => &["-c:a", "libmp3lame"],
        _ => &[],
    };
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!(
            "sine=frequency={hz}:duration={secs}:sample_rate=44100"
        ))
        .args(["-ac", "2"])
        .args(codec)
        .arg(&path)
        .status()
        .expect("ffmpeg (./dev setup installs it)");
    assert!(status.success(), "ffmpeg made no {ext}");
    path
}

/// Serves `dir` on loopback over HTTP/1.1 with `Range: bytes=N-` support; returns the base URL.
pub fn serve(dir: &Path) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let dir = dir.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let mut from = 0usize;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                        break;
                    }
                    if let Some(range) = header.to_ascii_lowercase().strip_prefix("range: bytes=") {
                        from = range.trim().trim_end_matches('-').parse().unwrap_or(0);
                    }
                }
                let Ok(body) = std::fs::read(dir.join(path.trim_start_matches('/'))) else {
                    let _ = stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    return;
                };
                let from = from.min(body.len());
                let status = if from > 0 {
                    "206 Partial Content"
                } else {
                    "200 OK"
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nAccept-Ranges: bytes\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len() - from
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body[from..]);
            });
        }
    });
    format!("http://{addr}")
}

/// What a paced pull heard.
pub struct Heard {
    /// Mono 48 kHz samples of every block pulled.
    pub samples: Vec<f32>,
    /// Blocks that held sound.
    pub sounding: usize,
    /// Blocks pulled until the music completed (or all of them).
    pub until_completed: Option<usize>,
    /// Events seen.
    pub events: Vec<MixEvent>,
}

/// Pulls `blocks` 20 ms blocks through `tap`, one every `pace` (faster than real time is fine:
/// the worker decodes ahead much faster), stopping early once the music completed.
pub fn pull(mix: &LocalMix, tap: &mut MixTap, blocks: usize, pace: Duration) -> Heard {
    // Let the worker open the source and fill its ring first.
    std::thread::sleep(Duration::from_millis(200));
    let mut heard = Heard {
        samples: Vec::new(),
        sounding: 0,
        until_completed: None,
        events: Vec::new(),
    };
    for i in 0..blocks {
        let mut frame = vec![0.0f32; 960];
        if tap.add_to(&mut frame, 1) {
            heard.sounding += 1;
        }
        heard.samples.extend_from_slice(&frame);
        let events = mix.poll_events();
        let done = events.iter().any(|e| {
            matches!(
                e,
                MixEvent::Music(livestage_media::audio::music::MusicState::Completed)
            )
        });
        heard.events.extend(events);
        if done {
            heard.until_completed = Some(i + 1);
            break;
        }
        std::thread::sleep(pace);
    }
    heard
}
