//! proto/tests/web_schema/main.rs: the browser client (web/) speaks this crate's control wire
//! format through a codec driven by one schema, `web/schema/wire.json`, traced from the Rust
//! types with serde-reflection (schema.rs), and proven by golden vectors, `web/schema/golden.json`,
//! made from the samples (samples.rs), that both this test and `npm --prefix web test` check. A
//! change to the wire types fails here until the files are regenerated (`LIVESTAGE_BLESS=1`), so
//! it cannot silently break the browser.
//!
//! The vectors' values have the shape serde_json gives the Rust values, except that a
//! `SocketAddr` (a string in JSON, which is human readable) is postcard's enum:
//! `{"V4": [[127, 0, 0, 1], 4433]}`.

mod samples;
mod schema;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_reflection::Registry;

use schema::{Vector, enum_variants, schema, schema_text, vector};

const REGENERATE: &str = "run `LIVESTAGE_BLESS=1 cargo test -p livestage-proto --test \
     web_schema`, then `npm --prefix web test`, and commit web/schema";

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web/schema")
}

/// The golden vectors, each checked against its Rust value, and the enum variants they cover.
fn golden(registry: &Registry) -> (Vec<Vector>, BTreeSet<(String, String)>) {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for v in samples::hellos() {
        out.push(vector(registry, &mut seen, "Hello", &v));
    }
    for v in samples::client_frames() {
        out.push(vector(registry, &mut seen, "ClientFrame", &v));
    }
    for v in samples::server_frames() {
        out.push(vector(registry, &mut seen, "ServerFrame", &v));
    }
    for v in samples::video_headers() {
        out.push(vector(registry, &mut seen, "VideoHeader", &v));
    }
    (out, seen)
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn golden_vectors_cover_every_variant() {
    let registry = schema();
    let (vectors, seen) = golden(&registry);
    let missing: Vec<String> = enum_variants(&registry)
        .difference(&seen)
        .map(|(e, v)| format!("{e}::{v}"))
        .collect();
    assert!(
        missing.is_empty(),
        "no golden vector holds {missing:?}: add one to the samples (tests/web_schema/samples.rs), then {REGENERATE}"
    );
    assert!(vectors.len() > 100);
}

#[test]
fn web_schema_files_are_current() {
    let registry = schema();
    let (vectors, _) = golden(&registry);
    // One vector a line, so that a change shows as the vectors it touches.
    let lines: Vec<String> = vectors
        .iter()
        .map(|v| serde_json::to_string(v).expect("JSON"))
        .collect();
    let golden_text = format!("[\n{}\n]\n", lines.join(",\n"));
    let files = BTreeMap::from([
        ("wire.json", schema_text(&registry)),
        ("golden.json", golden_text),
    ]);
    let dir = schema_dir();
    if std::env::var_os("LIVESTAGE_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(&dir).expect("creating web/schema");
        for (name, text) in &files {
            std::fs::write(dir.join(name), text).expect("writing web/schema");
        }
        return;
    }
    for (name, text) in &files {
        let Ok(committed) = std::fs::read_to_string(dir.join(name)) else {
            panic!("web/schema/{name} is missing: the wire format changed: {REGENERATE}");
        };
        if committed != *text {
            let line = committed
                .lines()
                .zip(text.lines())
                .position(|(a, b)| a != b)
                .map_or(committed.lines().count().min(text.lines().count()), |i| i)
                + 1;
            panic!(
                "web/schema/{name} differs from line {line}: the wire format changed: {REGENERATE}"
            );
        }
    }
}
