//! The party game's narrator shares a window (a rules card) with everyone: on a private X
//! server (Xvfb with openbox) a headless game with `--share window:ID` runs to its end, and
//! every seat and the spectator received the narrator's screen track, counted by playout.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../media/tests/xserver/mod.rs"]
mod xserver;

use std::process::Command;

use serde_json::Value;
use xserver::TestWindow;

#[test]
fn the_narrator_shares_a_window_with_every_seat() {
    let x = xserver::Server::start(1280, 720, true);
    let window = TestWindow::open(&x, "Rules card", (100, 100), (480, 360));
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let share = format!("window:{:#x}@10", window.id);
    let output = Command::new(common::party::binary())
        .args([
            "--headless",
            "--bots",
            "5",
            "--spectators",
            "1",
            "--rounds",
            "2",
        ])
        .args(["--share", &share, "--report", report.to_str().unwrap()])
        .env("DISPLAY", &x.name)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "party failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let screen = report["screen"]
        .as_object()
        .unwrap_or_else(|| panic!("no screen: {report}"));
    let players = report["players"].as_object().unwrap();
    for (user, role) in players {
        if role == "narrator" {
            continue;
        }
        // Two rounds of 3 s phases at 10 fps: dozens of frames, not a stray keyframe.
        let frames = screen.get(user).and_then(Value::as_u64).unwrap_or(0);
        assert!(
            frames >= 20,
            "{user} ({role}) received {frames} screen frames: {screen:?}"
        );
    }
}
