//! The `livestage` binary end to end: `serve --dev`, `token`, `bot` reports and exit codes,
//! and a small `load` run.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::cli::*;
use serde_json::Value;

#[test]
fn host_sends_and_audience_receives_in_order() {
    let server = serve(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (rh, ra) = (dir.path().join("host.json"), dir.path().join("aud.json"));
    let audience = bot(
        &server,
        &token("lobby", "viewer", "join", "600"),
        &["--wait-data", "50", "--duration", "20"],
        &ra,
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    let host = bot(
        &server,
        &token("lobby", "alice", HOST, "600"),
        &["--role", "host", "--send-data", "50", "--duration", "8"],
        &rh,
    );
    let (host_ok, h) = finish(host, &rh);
    let (aud_ok, a) = finish(audience, &ra);
    assert!(host_ok, "{h}");
    assert!(aud_ok, "{a}");
    assert_eq!(h["joined"], true);
    assert_eq!(h["role"], "host");
    assert_eq!(h["error"], Value::Null);
    assert_eq!(h["data"]["sent"], 50);
    assert_eq!(a["data"]["received"], 50);
    assert_eq!(a["data"]["in_order"], true);
    assert_eq!(a["data"]["duplicates"], 0);
    assert_eq!(a["data"]["from"]["alice"], 50);
    assert!(
        a["peers"]
            .as_array()
            .unwrap()
            .contains(&Value::from("alice"))
    );
    assert_eq!(a["reconnects"], 0);
}

#[test]
fn refusals_have_stable_codes_and_fail_the_bot() {
    let server = serve(&["--host-cap", "1"]);
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, token: String, args: &[&str]| {
        let path = dir.path().join(format!("{name}.json"));
        finish(bot(&server, &token, args, &path), &path)
    };
    // A token signed with another secret.
    let forged = {
        let out = Command::new(BIN)
            .args([
                "token",
                "--secret",
                "wrong",
                "--channel",
                "lobby",
                "--user",
                "eve",
                "--grants",
                HOST,
            ])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let (ok, r) = run("forged", forged, &["--duration", "3"]);
    assert!(!ok);
    assert_eq!(r["joined"], false);
    assert_eq!(r["error"]["code"], "token_invalid");

    let first = bot(
        &server,
        &token("lobby", "h1", HOST, "600"),
        &["--role", "host", "--duration", "6"],
        &dir.path().join("h1.json"),
    );
    std::thread::sleep(std::time::Duration::from_millis(800));
    let (ok, r) = run(
        "h2",
        token("lobby", "h2", HOST, "600"),
        &["--role", "host", "--duration", "1"],
    );
    assert!(!ok, "asked to host but could not");
    assert_eq!(r["joined"], true);
    assert_eq!(r["role"], "audience");
    assert_eq!(r["error"]["code"], "too_many_hosts");

    let (ok, r) = run(
        "aud",
        token("lobby", "v", "join,publish-data", "600"),
        &["--send-data", "3", "--duration", "2"],
    );
    assert!(!ok);
    assert_eq!(r["error"]["code"], "not_permitted");
    assert_eq!(r["data"]["sent"], 0);

    // The same user again replaces the first session.
    let (_, r) = run(
        "h1-again",
        token("lobby", "h1", HOST, "600"),
        &["--role", "host", "--duration", "1"],
    );
    assert_eq!(r["role"], "host");
    let (ok, r) = finish(first, &dir.path().join("h1.json"));
    assert!(!ok);
    assert_eq!(r["error"]["code"], "replaced");
}

#[test]
fn unreachable_server_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let server = serve(&[]);
    std::fs::copy(&server.cert, &cert).unwrap();
    drop(server);
    let report = dir.path().join("r.json");
    let out = Command::new(BIN)
        .args(["bot", "--server", "127.0.0.1:9", "--cert"])
        .arg(&cert)
        .args([
            "--token",
            &token("lobby", "x", "join", "600"),
            "--duration",
            "15",
            "--report",
        ])
        .arg(&report)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["error"]["code"], "server_unreachable");
}

#[test]
fn load_admits_two_hundred_audience_connections() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("load.json");
    let out = Command::new(BIN)
        .args([
            "load",
            "--connections",
            "200",
            "--duration",
            "1",
            "--report",
        ])
        .arg(&report)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert!(out.status.success(), "{r}");
    assert_eq!(r["joined"], 200);
    assert_eq!(r["dropped_while_idle"], 0);
    assert!(r["server_kib_per_connection"].as_f64().unwrap() > 0.0);
}
