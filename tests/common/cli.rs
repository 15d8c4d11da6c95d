//! Running the `livestage` binary from tests: a `serve --dev` child, tokens and bots.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_livestage");
pub const SECRET: &str = "cli-test-secret-at-least-32-bytes-long";
#[allow(unused_imports)]
pub use super::HOST;

pub struct Server {
    pub child: Child,
    pub addr: String,
    pub cert: PathBuf,
    /// The certificate's SHA-256 in hex, as browsers pin it (printed when WebTransport is on).
    pub hash: Option<String>,
    /// The demo page's URL with `TOKEN` for the token (printed with `--web`).
    pub page: Option<String>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve(extra: &[&str]) -> Server {
    serve_on("127.0.0.1:0", extra)
}

/// `serve --dev` listening on `listen` (with `--cert` and `--key` among `extra`, a restart
/// keeps its certificate).
pub fn serve_on(listen: &str, extra: &[&str]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let mut child = Command::new(BIN)
        .args(["serve", "--dev", "--listen", listen, "--cert-out"])
        .arg(&cert)
        .args(extra)
        .env("LIVESTAGE_SECRET", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut hash, mut page) = (None, None);
    let addr = lines
        .by_ref()
        .map(Result::unwrap)
        .find_map(|l| {
            if let Some((_, hex)) = l.split_once("certificate sha-256 ") {
                hash = Some(hex.trim().to_owned());
            }
            if let Some(url) = l.strip_prefix("demo page: ") {
                page = Some(url.trim().to_owned());
            }
            l.strip_prefix("listening on ").map(str::to_owned)
        })
        .expect("server prints its address");
    // Keep draining stdout so the server never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Server {
        child,
        addr,
        cert,
        hash,
        page,
        _dir: dir,
    }
}

pub fn token(channel: &str, user: &str, grants: &str, ttl: &str) -> String {
    let out = Command::new(BIN)
        .args([
            "token",
            "--secret",
            SECRET,
            "--channel",
            channel,
            "--user",
            user,
            "--grants",
            grants,
            "--ttl",
            ttl,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

pub fn bot(server: &Server, token: &str, args: &[&str], report: &Path) -> Child {
    bot_at(&server.addr, &server.cert, token, args, report)
}

/// A bot whose screen shares capture the X server `display` (e.g. `":3"`).
pub fn bot_on(display: &str, server: &Server, token: &str, args: &[&str], report: &Path) -> Child {
    bot_command(&server.addr, &server.cert, token, args, report)
        .env("DISPLAY", display)
        .spawn()
        .unwrap()
}

/// A bot reaching the server at `addr` (e.g. through a proxy).
pub fn bot_at(addr: &str, cert: &Path, token: &str, args: &[&str], report: &Path) -> Child {
    bot_command(addr, cert, token, args, report)
        .spawn()
        .unwrap()
}

fn bot_command(addr: &str, cert: &Path, token: &str, args: &[&str], report: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(["bot", "--server", addr, "--cert"])
        .arg(cert)
        .args(["--token", token, "--report"])
        .arg(report)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

pub fn finish(mut child: Child, report: &Path) -> (bool, Value) {
    let ok = child.wait().unwrap().success();
    let json: Value = serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    (ok, json)
}

/// Waits for a bot; its exit code (None if killed by a signal) and its report.
pub fn finish_code(mut child: Child, report: &Path) -> (Option<i32>, Value) {
    let code = child.wait().unwrap().code();
    let json: Value = serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    (code, json)
}

/// `token` with its header replaced by `{"alg":"none","typ":"JWT"}` and no signature.
pub fn alg_none(token: &str) -> String {
    // base64url of {"alg":"none","typ":"JWT"}
    const NONE: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    format!("{NONE}.{payload}.")
}
