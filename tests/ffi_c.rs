//! A C program built with gcc against the committed header and the built `liblivestage_ffi`
//! joins a real `livestage serve --dev` (pinning its certificate by fingerprint), receives a
//! bot's data, video and voice, reads the burned-in stamp of the frames it fetched, and sees
//! bad input refused with the documented codes (`ffi/tests/c/join.c`).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::cli::*;
use common::native;

#[test]
fn a_c_program_joins_and_receives_data_video_and_voice() {
    let library = native::library();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&library, dir.path().join(native::LIBRARY)).unwrap();
    let program = dir.path().join("join");
    let source = native::root().join("ffi/tests/c/join.c");
    let include = native::root().join("ffi/include");
    let lib_dir = dir.path().to_str().unwrap();
    native::run(
        "gcc",
        &[
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-D_POSIX_C_SOURCE=200809L",
            source.to_str().unwrap(),
            "-I",
            include.to_str().unwrap(),
            "-L",
            lib_dir,
            "-llivestage_ffi",
            &format!("-Wl,-rpath,{lib_dir}"),
            "-o",
            program.to_str().unwrap(),
        ],
        "gcc",
    );

    let server = serve(&[]);
    let mut child = Command::new(&program)
        .args([
            server.addr.as_str(),
            server.cert.to_str().unwrap(),
            &token("show", "viewer", "join", "600"),
            "cam",
            "15",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|l: &String| l.starts_with("joined channel=show"))
    {
        match lines.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("the C program did not join; it printed {seen:#?}"),
        }
    }

    let reports = tempfile::tempdir().unwrap();
    let (rc, rd) = (
        reports.path().join("cam.json"),
        reports.path().join("chat.json"),
    );
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

    let status = wait_for(&mut child, Duration::from_secs(40));
    seen.extend(lines.try_iter());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        status,
        "the C program failed:\n{}\n{stderr}",
        seen.join("\n")
    );
    let values: HashMap<&str, &str> = seen.iter().filter_map(|l| l.split_once('=')).collect();
    let number = |key: &str| -> i64 { values[key].parse().unwrap() };
    assert_eq!(seen.last().map(String::as_str), Some("ok"), "{seen:#?}");
    assert!(values["fingerprint"].starts_with("sha256:"));
    assert_eq!(number("joined"), 1);
    assert!(number("data") >= 5, "data messages: {seen:#?}");
    assert!(number("stamped") >= 10, "stamped frames: {seen:#?}");
    assert_eq!((number("width"), number("height")), (320, 240));
    assert!(number("voiced") >= number("audible"), "{seen:#?}");
    assert!(
        number("audible") > 48_000,
        "the tone pulled as voice: {seen:#?}"
    );

    let (ok, report) = finish(chat, &rd);
    assert!(ok, "{report}");
    let (ok, report) = finish(cam, &rc);
    assert!(ok, "{report}");
}

/// Waits for `child` to exit, killing it after `limit`; true when it exited successfully.
fn wait_for(child: &mut std::process::Child, limit: Duration) -> bool {
    let end = std::time::Instant::now() + limit;
    while std::time::Instant::now() < end {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}
