//! The Unity package under Mono in tests and benches: compiling `ffi/unity` C# with `mcs` and
//! running the console Viewer against a server.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::cli::Server;
use super::native;

/// The `.cs` files of a package folder, in a stable order.
pub fn sources(folder: &str) -> Vec<String> {
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
pub fn mcs(args: &[&str], files: &[String]) {
    let mut all: Vec<&str> = vec!["-warnaserror+"];
    all.extend_from_slice(args);
    all.extend(files.iter().map(String::as_str));
    native::run("mcs", &all, "mono-mcs");
}

/// `Livestage.Native.dll` in `dir`.
pub fn build_native(dir: &Path) -> PathBuf {
    let dll = dir.join("Livestage.Native.dll");
    let out = format!("-out:{}", dll.display());
    mcs(&["-target:library", &out], &sources("Runtime/Native"));
    dll
}

/// `Viewer.exe` with the native DLL and the native library beside it.
pub fn build_viewer(dir: &Path) -> PathBuf {
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
pub fn start_viewer(
    exe: &Path,
    server: &Server,
    token: &str,
    seconds: &str,
    report: &Path,
) -> Child {
    start_viewer_with(exe, server, token, seconds, report, &[], None)
}

/// Starts the Viewer with more flags (`--role host`, `--publish-track 5`...) and, when
/// `display` is set, screen capture on that X server; waits until it printed that it joined.
pub fn start_viewer_with(
    exe: &Path,
    server: &Server,
    token: &str,
    seconds: &str,
    report: &Path,
    flags: &[&str],
    display: Option<&str>,
) -> Child {
    let mut command = Command::new("mono");
    if let Some(display) = display {
        command.env("DISPLAY", display);
    }
    let mut child = command
        .arg(exe)
        .args(["--server", &server.addr, "--cert"])
        .arg(&server.cert)
        .args(["--token", token, "--duration", seconds, "--report"])
        .arg(report)
        .args(flags)
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

/// A `secs` long sine at `hz` as WAV in `dir`, made by ffmpeg (its default amplitude, 1/8).
pub fn tone_file(dir: &Path, hz: u32, secs: u32) -> PathBuf {
    let path = dir.join(format!("sine-{hz}.wav"));
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("sine=frequency={hz}:duration={secs}"))
        .arg(&path)
        .status()
        .expect("ffmpeg (./dev setup installs it)");
    assert!(status.success());
    path
}

/// Waits for the Viewer (killing it after `limit`) and reads its report.
pub fn finish_viewer(mut child: Child, report: &Path, limit: Duration) -> (bool, Value) {
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
