//! Media end to end with the real binary: a host bot publishes a stamped 720p30 test pattern and
//! a 440 Hz tone; audience bots decode every frame in order, measure glass-to-glass latency from
//! the burned-in stamp, hear the tone; a late joiner sees its first frame quickly; the low layer
//! can be chosen.
#![allow(clippy::unwrap_used)]

mod common;

use common::cli::*;
use serde_json::Value;

#[test]
fn audience_verifies_video_and_tone_and_a_late_joiner_starts_fast() {
    let server = serve(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (rh, ra, rl, rlow) = (
        dir.path().join("h.json"),
        dir.path().join("a.json"),
        dir.path().join("late.json"),
        dir.path().join("low.json"),
    );
    let audience = bot(
        &server,
        &token("show", "viewer", "join", "600"),
        &["--duration", "6"],
        &ra,
    );
    let low = bot(
        &server,
        &token("show", "small", "join", "600"),
        &["--duration", "6", "--low"],
        &rlow,
    );
    std::thread::sleep(std::time::Duration::from_millis(400));
    let publish = [
        "--role",
        "host",
        "--publish",
        "video=testpattern:1280x720@30,audio=tone:440",
        "--dual",
        "--duration",
        "5",
    ];
    let host = bot(&server, &token("show", "host", HOST, "600"), &publish, &rh);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let late = bot(
        &server,
        &token("show", "late", "join", "600"),
        &["--duration", "2"],
        &rl,
    );

    let (ok, h) = finish(host, &rh);
    assert!(ok, "{h}");
    let published = h["published"]["video_frames"].as_u64().unwrap();
    assert!(
        published >= 250,
        "both layers at ~30 fps for 5 s: {published}"
    );

    let (ok, a) = finish(audience, &ra);
    assert!(ok, "{a}");
    let v = &a["video"]["host"];
    assert!(v["frames"].as_u64().unwrap() >= 120, "{v}");
    assert_eq!(v["in_order"], true);
    assert_eq!(v["decode_errors"], 0);
    assert_eq!(v["layers"], Value::from(vec!["high"]));
    assert!(v["latency_ms"]["p95"].as_f64().unwrap() < 200.0, "{v}");
    let au = &a["audio"]["host"];
    assert!(au["frames"].as_u64().unwrap() >= 200, "{au}");
    let hz = au["tone_hz"].as_f64().unwrap();
    assert!((hz - 440.0).abs() < 9.0, "tone {hz}");

    let (ok, l) = finish(late, &rl);
    assert!(ok, "{l}");
    let first = l["video"]["host"]["first_frame_ms"].as_u64().unwrap();
    assert!(
        first < 500,
        "late joiner waited {first} ms for its first frame"
    );

    let (ok, s) = finish(low, &rlow);
    assert!(ok, "{s}");
    assert_eq!(
        s["video"]["host"]["layers"],
        Value::from(vec!["low"]),
        "{s}"
    );
    assert!(s["video"]["host"]["frames"].as_u64().unwrap() >= 100);
}
