//! Browsers on the real server: headless Chromium (Debian's, driven by playwright-core through
//! `web/scripts/page.mjs`) opens the demo page that `livestage serve --dev --web` serves and
//! joins over WebTransport on the server's own port, beside native bots. The page's
//! `livestageReport()` has the bot's report shape, so both are checked alike.
//!
//! Needs `node`, `chromium` and the built page (`npm --prefix web ci && npm --prefix web run
//! build`), which `./dev setup` provides.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread::sleep;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::cli;
use livestage::proto::token::{self, Claims, Grant};
use serde_json::Value;

const WEB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/web");

/// One browser at a time: Chromium, the bots' encoders and the server share two cores here, and
/// the figures checked are timings.
static ONE_BROWSER: Mutex<()> = Mutex::new(());

fn one_browser() -> MutexGuard<'static, ()> {
    ONE_BROWSER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A token for `user` in `channel` minted two hours ago for an hour.
fn expired_token(channel: &str, user: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let grants = Grant::parse_list("join").unwrap();
    let claims = Claims::new("livestage", channel, user, grants, now - 7200, 3600);
    token::mint(&claims, cli::SECRET.as_bytes()).unwrap()
}

/// A `serve --dev` that also serves the built demo page.
fn serve(extra: &[&str]) -> cli::Server {
    let root = Path::new(WEB).join("dist");
    assert!(
        root.join("index.html").is_file(),
        "the demo page is not built: run `npm --prefix web ci && npm --prefix web run build`"
    );
    let root = root.to_str().unwrap().to_owned();
    let mut args = vec!["--web", "127.0.0.1:0", "--web-root", &root];
    args.extend_from_slice(extra);
    cli::serve(&args)
}

/// The demo page's URL for `token` and `query` (e.g. `role=host&publish=pattern`).
fn url(server: &cli::Server, token: &str, query: &str) -> String {
    let page = server
        .page
        .as_deref()
        .expect("the server prints the page's URL");
    format!("{}&{query}", page.replace("TOKEN", token))
}

/// Runs the page driver: the page at `url` for `seconds`, with `(at, js)` evaluated in it;
/// its report and the Chromium tree's CPU.
fn page(url: &str, seconds: f64, after: &[(f64, &str)]) -> (Value, Value) {
    page_with(url, seconds, &[], after)
}

/// [`page`] with `init` scripts run before the page's own.
fn page_with(url: &str, seconds: f64, init: &[&str], after: &[(f64, &str)]) -> (Value, Value) {
    let mut command = Command::new("node");
    command
        .arg(Path::new(WEB).join("scripts/page.mjs"))
        .args(["--url", url, "--seconds", &seconds.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for js in init {
        command.args(["--init", js]);
    }
    for (at, js) in after {
        command.args(["--after", &at.to_string(), "--eval-after", js]);
    }
    let out = command
        .output()
        .expect("node runs (./dev setup installs it)");
    assert!(out.status.success(), "the page driver failed: {out:?}");
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    let report = line["reports"][0].clone();
    eprintln!("page report: {report}");
    (report, line["cpu_percent"].clone())
}

fn frames(report: &Value, kind: &str, user: &str) -> u64 {
    report[kind][user]["frames"].as_u64().unwrap_or(0)
}

fn tone(report: &Value, user: &str) -> f64 {
    report["audio"][user]["tone_hz"].as_f64().unwrap_or(0.0)
}

/// `report` (a page's or a bot's) decoded `user`'s stamped pattern in order, with no decode
/// errors, and heard its 440 Hz tone, over about 5 s.
fn assert_saw_and_heard(report: &Value, user: &str) {
    let video = &report["video"][user];
    assert!(frames(report, "video", user) >= 90, "{report}");
    assert_eq!(video["in_order"], true, "{video}");
    assert_eq!(video["decode_errors"], 0, "{video}");
    // Glass to glass from the stamp read back out of the decoded pixels; loose here (two cores
    // shared with the encoders and Chromium), BENCHMARKS.md has the figures.
    let p50 = video["latency_ms"]["p50"].as_f64().unwrap();
    assert!(p50 > 0.0 && p50 < 150.0, "{video}");
    assert!(frames(report, "audio", user) >= 150, "{report}");
    assert!((tone(report, user) - 440.0).abs() < 5.0, "{report}");
}

#[test]
fn a_page_in_the_audience_sees_hears_and_reads_a_native_host() {
    let _one = one_browser();
    let server = serve(&[]);
    let viewer = cli::token("stage", "browser", "join", "600");
    let host = cli::token(
        "stage",
        "host",
        "join,publish-audio,publish-video,publish-data",
        "600",
    );
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("host.json");
    let url = url(&server, &viewer, "role=audience");
    let watching = std::thread::spawn(move || page(&url, 8.0, &[]));
    // The page joins first, so it is there for every data message.
    sleep(Duration::from_secs(2));
    let args = [
        "--role",
        "host",
        "--publish",
        "video=testpattern:640x360@30,audio=tone:440",
        "--send-data",
        "20",
        "--duration",
        "6",
    ];
    let host = cli::bot(&server, &host, &args, &report);
    let (page, _) = watching.join().unwrap();
    let (ok, _) = cli::finish(host, &report);
    assert!(ok);
    assert_eq!(page["joined"], true, "{page}");
    assert_eq!(page["error"], Value::Null);
    assert_eq!(page["role"], "audience");
    assert_eq!(page["peers"], serde_json::json!(["host"]));
    assert_saw_and_heard(&page, "host");
    assert_eq!(page["data"]["received"], 20, "{page}");
}

#[test]
fn a_page_that_goes_on_stage_is_seen_and_heard_by_a_native_viewer() {
    let _one = one_browser();
    let server = serve(&[]);
    let publisher = cli::token(
        "stage",
        "browser",
        "join,publish-audio,publish-video",
        "600",
    );
    let viewer = cli::token("stage", "viewer", "join", "600");
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("viewer.json");
    // It joins the audience and steps on stage a second later.
    let url = url(&server, &publisher, "role=audience");
    let on_stage = "livestage.setRole('host')\
        .then(() => livestage.publish({video: 'pattern', audio: 'tone:440'}))";
    let publishing = std::thread::spawn(move || page(&url, 9.0, &[(1.0, on_stage)]));
    sleep(Duration::from_secs(2));
    let watch = cli::bot(&server, &viewer, &["--duration", "6"], &report);
    let (ok, bot) = cli::finish(watch, &report);
    let (page, _) = publishing.join().unwrap();
    assert!(ok, "{bot}");
    assert_eq!(page["error"], Value::Null, "{page}");
    assert_eq!(page["role"], "host", "{page}");
    assert!(
        page["published"]["video_frames"].as_u64().unwrap() >= 150,
        "{page}"
    );
    // The bot reads the stamps the page drew, so frames are counted in the page's order.
    assert_saw_and_heard(&bot, "browser");
}

#[test]
fn an_audience_page_that_publishes_is_refused_and_nothing_reaches_viewers() {
    let _one = one_browser();
    let server = serve(&[]);
    let sneaky = cli::token(
        "stage",
        "browser",
        "join,publish-audio,publish-video",
        "600",
    );
    let viewer = cli::token("stage", "viewer", "join", "600");
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("viewer.json");
    let url = url(&server, &sneaky, "role=audience");
    let publish = "livestage.publish({video: 'pattern', audio: 'tone:440'})";
    let trying = std::thread::spawn(move || page(&url, 4.0, &[(1.0, publish)]));
    let watch = cli::bot(&server, &viewer, &["--duration", "4"], &report);
    let (page, _) = trying.join().unwrap();
    let (_, bot) = cli::finish(watch, &report);
    let refused = page["refused"].as_array().unwrap();
    assert!(!refused.is_empty(), "{page}");
    assert!(
        refused.iter().all(|r| r["code"] == "not_permitted"),
        "{page}"
    );
    assert_eq!(bot["video"], serde_json::json!({}), "{bot}");
    assert_eq!(bot["audio"], serde_json::json!({}), "{bot}");
}

#[test]
fn bad_input_is_a_clear_error_on_the_page() {
    let _one = one_browser();
    let server = serve(&[]);
    let good = cli::token("stage", "browser", "join", "600");
    let hash = server.hash.clone().unwrap();

    // A certificate hash that is not the server's.
    let wrong: String = hash.chars().rev().collect();
    let (page, _) = self::page(
        &url(&server, &good, "role=audience").replace(&hash, &wrong),
        2.0,
        &[],
    );
    assert_eq!(page["joined"], false);
    assert_eq!(page["error"]["code"], "unreachable", "{page}");
    assert!(
        page["error"]["message"]
            .as_str()
            .unwrap()
            .contains("certificate"),
        "{page}"
    );

    // A token signed with another secret, and one that expired.
    let forged = format!("{}AAAA", &good[..good.len() - 4]);
    let (page, _) = self::page(&url(&server, &forged, "role=audience"), 2.0, &[]);
    assert_eq!(page["error"]["code"], "token_invalid", "{page}");
    let expired = expired_token("stage", "browser");
    let (page, _) = self::page(&url(&server, &expired, "role=audience"), 2.0, &[]);
    assert_eq!(page["error"]["code"], "token_expired", "{page}");

    // A browser without H.264.
    let no_h264 = "VideoDecoder.isConfigSupported = async () => ({ supported: false });";
    let (page, _) = page_with(&url(&server, &good, "role=audience"), 2.0, &[no_h264], &[]);
    assert_eq!(page["error"]["code"], "codec_unsupported", "{page}");
    assert!(
        page["error"]["message"].as_str().unwrap().contains("H.264"),
        "{page}"
    );

    // A server that does not serve browsers: the page cannot reach it and says why it may be.
    let native_only = serve(&["--no-webtransport"]);
    let page_url = url(&native_only, &good, "role=audience");
    let (page, _) = self::page(&page_url, 2.0, &[]);
    assert_eq!(page["error"]["code"], "unreachable", "{page}");
    assert!(
        page["error"]["message"]
            .as_str()
            .unwrap()
            .contains("WebTransport"),
        "{page}"
    );
}

#[test]
fn a_browser_spectator_watches_the_party_game_from_the_link_its_host_prints() {
    let _one = one_browser();
    let mut party = Command::new(common::party::binary())
        .args([
            "--headless",
            "--bots",
            "5",
            "--rounds",
            "3",
            "--phase-secs",
            "4",
        ])
        .args(["--web", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(party.stdout.take().unwrap()));
    let link = lines
        .by_ref()
        .map(Result::unwrap)
        .find_map(|l| l.strip_prefix("Watch from a browser: ").map(str::to_owned))
        .expect("the host prints a link for browsers");
    std::thread::spawn(move || lines.for_each(drop));
    assert!(link.contains("?code="), "{link}");
    let (page, _) = page(&link, 6.0, &[]);
    let _ = party.kill();
    let _ = party.wait();
    assert_eq!(page["joined"], true, "{page}");
    assert_eq!(page["role"], "audience");
    let peers: Vec<&str> = page["peers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        peers.contains(&"narrator") && peers.contains(&"ada"),
        "{page}"
    );
    // The seats' avatars; one may be eliminated (and leave the stage) within these seconds.
    let seats = ["ada", "bo", "cy", "dee"];
    let watched = seats
        .iter()
        .filter(|seat| frames(&page, "video", seat) >= 30)
        .count();
    assert!(watched >= 3, "{page}");
    for seat in seats {
        let errors = page["video"][seat]["decode_errors"].as_u64().unwrap_or(0);
        assert_eq!(errors, 0, "{page}");
    }
}

#[test]
fn a_page_resumes_after_its_path_goes_dark() {
    let _one = one_browser();
    let server = serve(&[]);
    // A `livestage proxy` between the page and the server, on a port it can be restarted on.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let via = format!("127.0.0.1:{port}");
    let start_proxy = || {
        let child = Command::new(cli::BIN)
            .args(["proxy", "--listen", &via, "--upstream", &server.addr])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        sleep(Duration::from_millis(300));
        child
    };
    let mut proxy = start_proxy();
    let viewer = cli::token("stage", "browser", "join", "600");
    let host = cli::token("stage", "host", "join,publish-audio,publish-video", "600");
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("host.json");
    // The host publishes straight to the server for the whole test.
    let args = [
        "--role",
        "host",
        "--publish",
        "video=testpattern:640x360@30,audio=tone:440",
        "--duration",
        "34",
    ];
    let host = cli::bot(&server, &host, &args, &report);
    sleep(Duration::from_secs(1));
    let direct = url(&server, &viewer, "role=audience");
    let proxied = direct.replace(&format!("server={}", server.addr), &format!("server={via}"));
    assert_ne!(direct, proxied, "the page's URL names the server: {direct}");
    let watching = std::thread::spawn(move || page(&proxied, 30.0, &[]));
    // The page joins and watches for a few seconds; then its path goes dark for longer than
    // the QUIC idle timeout (15 s) but within the server's resume window (20 s).
    sleep(Duration::from_secs(4));
    let _ = proxy.kill();
    let _ = proxy.wait();
    let dark = std::time::Instant::now();
    sleep(Duration::from_millis(16_500));
    let mut proxy = start_proxy();
    eprintln!("path dark for {:?}", dark.elapsed());
    let (page, _) = watching.join().unwrap();
    let _ = proxy.kill();
    let _ = proxy.wait();
    let (ok, _) = cli::finish(host, &report);
    assert!(ok);
    assert_eq!(page["joined"], true, "{page}");
    assert_eq!(page["error"], Value::Null, "{page}");
    assert!(page["reconnects"].as_u64().unwrap_or(0) >= 1, "{page}");
    assert_eq!(page["peers"], serde_json::json!(["host"]), "{page}");
    // Before the outage the page can have decoded at most ~4 s of the host's 30 fps.
    let video = &page["video"]["host"];
    assert!(frames(&page, "video", "host") >= 200, "{page}");
    assert_eq!(video["in_order"], true, "{video}");
}
