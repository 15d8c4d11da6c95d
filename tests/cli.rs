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

/// Runs `livestage load` with `args`: whether it succeeded, and its report.
fn load(args: &[&str]) -> (bool, Value) {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("load.json");
    let out = Command::new(BIN)
        .arg("load")
        .args(args)
        .arg("--report")
        .arg(&report)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&report).unwrap();
    (out.status.success(), serde_json::from_str(&text).unwrap())
}

#[test]
fn load_admits_two_hundred_audience_connections() {
    let (ok, r) = load(&["--connections", "200", "--duration", "1"]);
    assert!(ok, "{r}");
    assert_eq!(r["joined"], 200);
    assert_eq!(r["dropped_while_idle"], 0);
    assert!(r["server_kib_per_connection"].as_f64().unwrap() > 0.0);
}

/// A short soak: misbehaving connections come and go while a host publishes to a steady
/// audience, which must not notice (the full run is `livestage load --churn 60`).
#[test]
fn a_short_soak_leaves_the_server_up_and_the_steady_audience_whole() {
    let (ok, r) = load(&["--churn", "6", "--churners", "40", "--steady", "4"]);
    assert!(ok, "{r}");
    assert_eq!(r["server_panics"], 0);
    assert_eq!(r["server_alive"], true);
    assert_eq!(r["steady"]["data_lost"], 0);
    assert_eq!(r["steady"]["dropped"], 0);
    assert!(r["steady"]["published_frames"].as_u64().unwrap() > 0, "{r}");
    // Every kind of misbehaviour ran, and the server refused what it had to.
    assert_eq!(r["sessions"].as_object().unwrap().len(), 8, "{r}");
    assert!(r["refused"]["not_permitted"].as_u64().unwrap() > 0, "{r}");
    assert!(r["refused"]["rate_limited"].as_u64().unwrap() > 0, "{r}");
}

/// Results of a report's `moderation` list as (action, user, result).
fn moderation(report: &Value) -> Vec<(String, String, String)> {
    report["moderation"]
        .as_array()
        .unwrap_or_else(|| panic!("no moderation list in {report}"))
        .iter()
        .map(|m| {
            let s = |k: &str| m[k].as_str().unwrap().to_owned();
            (s("action"), s("user"), s("result"))
        })
        .collect()
}

fn triples(list: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    list.iter()
        .map(|(a, u, r)| (a.to_string(), u.to_string(), r.to_string()))
        .collect()
}

#[test]
fn a_moderator_bot_promotes_mutes_demotes_and_kicks() {
    let server = serve(&[]);
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(format!("{name}.json"));
    // v1 may publish but watches; h1 is on stage; v2 may only watch.
    let v1 = bot(
        &server,
        &token("lobby", "v1", HOST, "600"),
        &["--duration", "9"],
        &path("v1"),
    );
    let h1 = bot(
        &server,
        &token("lobby", "h1", HOST, "600"),
        &["--role", "host", "--duration", "9"],
        &path("h1"),
    );
    let v2 = bot(
        &server,
        &token("lobby", "v2", "join", "600"),
        &["--duration", "9"],
        &path("v2"),
    );
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let actions = "promote:v1,mute-audio:v1,mute-video:v1,unmute-video:v1,demote:h1,\
                   promote:v2,kick:v2";
    let boss = bot(
        &server,
        &token("lobby", "boss", "join,moderator", "600"),
        &["--moderate", actions, "--duration", "3"],
        &path("boss"),
    );
    let (ok, b) = finish(boss, &path("boss"));
    assert!(!ok, "one action was refused, so the bot failed: {b}");
    assert_eq!(b["joined"], true);
    assert_eq!(b["error"], Value::Null, "{b}");
    assert_eq!(
        moderation(&b),
        triples(&[
            ("promote", "v1", "ok"),
            ("mute-audio", "v1", "ok"),
            ("mute-video", "v1", "ok"),
            ("unmute-video", "v1", "ok"),
            ("demote", "h1", "ok"),
            ("promote", "v2", "not_permitted"),
            ("kick", "v2", "ok"),
        ]),
        "{b}"
    );
    let (_, r) = finish(v2, &path("v2"));
    assert_eq!(r["error"]["code"], "kicked", "{r}");
    let (_, r) = finish(v1, &path("v1"));
    assert_eq!(r["role"], "host", "{r}");
    assert_eq!(r["muted"]["audio"], true, "{r}");
    assert_eq!(r["muted"]["video"], false, "{r}");
    let (_, r) = finish(h1, &path("h1"));
    assert_eq!(r["role"], "audience", "{r}");
}

#[test]
fn moderating_someone_absent_or_without_the_grant_is_refused() {
    let server = serve(&[]);
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, grants: &str, actions: &str| {
        let path = dir.path().join(format!("{name}.json"));
        let args = ["--moderate", actions, "--duration", "2"];
        finish(
            bot(&server, &token("lobby", name, grants, "600"), &args, &path),
            &path,
        )
    };
    let (ok, r) = run("boss", "join,moderator", "kick:nobody,mute-audio:nobody");
    assert!(!ok);
    assert_eq!(r["joined"], true);
    assert_eq!(
        moderation(&r),
        triples(&[
            ("kick", "nobody", "unknown_user"),
            ("mute-audio", "nobody", "unknown_user")
        ]),
        "{r}"
    );
    let (ok, r) = run("pretender", "join", "promote:pretender");
    assert!(!ok);
    assert_eq!(
        moderation(&r),
        triples(&[("promote", "pretender", "not_permitted")]),
        "{r}"
    );
    // A moderator acting on itself is answered like anyone else.
    let (ok, r) = run("boss2", "join,moderator,publish-audio", "promote:boss2");
    assert!(ok, "{r}");
    assert_eq!(r["role"], "host");
    assert_eq!(moderation(&r), triples(&[("promote", "boss2", "ok")]));
}

#[test]
fn bad_flags_and_unreadable_tokens_still_write_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, "not used: the bot stops before connecting").unwrap();
    let run = |name: &str, token: &str, args: &[&str]| {
        let path = dir.path().join(format!("{name}.json"));
        finish_code(bot_at("127.0.0.1:9", &cert, token, args, &path), &path)
    };
    let good = token("lobby", "x", "join,moderator", "600");
    for (name, spec, says) in [
        ("verb", "ban:x", "unknown moderator action \"ban\""),
        ("user", "kick:has space", "user id"),
        ("shape", "kick", "ACTION:USER"),
    ] {
        let (code, r) = run(name, &good, &["--moderate", spec]);
        assert_eq!(code, Some(2), "{r}");
        assert_eq!(r["joined"], false);
        assert_eq!(r["error"]["code"], "invalid_input", "{r}");
        let message = r["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{spec}: {message}");
    }
    // An unsigned token (alg: none) cannot even be read, so nothing is sent; the report says
    // why, and lists the actions that were never sent.
    let (code, r) = run("none", &alg_none(&good), &["--moderate", "kick:y"]);
    assert_eq!(code, Some(2), "{r}");
    assert_eq!(r["joined"], false);
    assert_eq!(r["error"]["code"], "token_invalid", "{r}");
    assert_eq!(moderation(&r), triples(&[("kick", "y", "not_sent")]));
    let (code, r) = run("garbage", "not-a-token", &[]);
    assert_eq!(code, Some(2));
    assert_eq!(r["error"]["code"], "token_invalid", "{r}");
}

#[test]
fn an_audience_bot_asked_to_publish_hears_the_server_refuse() {
    let server = serve(&[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aud.json");
    let publish = "audio=tone:440,video=testpattern:160x120@10";
    let aud = bot(
        &server,
        &token("lobby", "viewer", HOST, "600"),
        &["--publish", publish, "--duration", "3"],
        &path,
    );
    let (ok, r) = finish(aud, &path);
    assert!(!ok, "{r}");
    assert_eq!(r["joined"], true);
    assert_eq!(r["role"], "audience");
    assert_eq!(r["error"]["code"], "not_permitted", "{r}");
    assert!(r["published"]["audio_frames"].as_u64().unwrap() > 0, "{r}");
}

/// Kicking bans the user from the channel until its token expires: joining again with the
/// same token is refused with `kicked`.
#[test]
fn a_kicked_user_cannot_rejoin_with_the_same_token() {
    let server = serve(&[]);
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(format!("{name}.json"));
    let victim = token("lobby", "troll", "join,publish-data", "600");
    let first = bot(&server, &victim, &["--duration", "8"], &path("first"));
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let boss = bot(
        &server,
        &token("lobby", "boss", "join,moderator", "600"),
        &["--moderate", "kick:troll", "--duration", "1"],
        &path("boss"),
    );
    let (ok, b) = finish(boss, &path("boss"));
    assert!(ok, "{b}");
    assert_eq!(moderation(&b), triples(&[("kick", "troll", "ok")]));
    let (_, r) = finish(first, &path("first"));
    assert_eq!(r["error"]["code"], "kicked", "{r}");
    let again = bot(&server, &victim, &["--duration", "3"], &path("again"));
    let (ok, r) = finish(again, &path("again"));
    assert!(!ok, "{r}");
    assert_eq!(r["joined"], false, "the ban holds: {r}");
    assert_eq!(r["error"]["code"], "kicked", "{r}");
}
