//! Native hosts of the C ABI in tests: the built `liblivestage_ffi` shared library, and the
//! external tools (gcc, Mono's mcs and mono) with a clear failure when one is missing.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

use super::cli::BIN;

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The shared library's file name on this platform.
pub const LIBRARY: &str = if cfg!(target_os = "windows") {
    "livestage_ffi.dll"
} else if cfg!(target_os = "macos") {
    "liblivestage_ffi.dylib"
} else {
    "liblivestage_ffi.so"
};

/// Newest modification time of the Rust sources the library is built from.
fn newest_source() -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut dirs: Vec<PathBuf> = ["ffi/src", "net/src", "media/src", "proto/src"]
        .iter()
        .map(|d| root().join(d))
        .collect();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Ok(modified) = entry.metadata().and_then(|m| m.modified()) {
                newest = newest.max(modified);
            }
        }
    }
    newest
}

/// The freshest `liblivestage_ffi` next to the `livestage` binary (`cargo build -p
/// livestage-ffi` puts one there; `cargo test --workspace` leaves one in `deps/`). Fails
/// with the command to run when there is none, or when it is older than its sources.
pub fn library() -> PathBuf {
    let bin_dir = Path::new(BIN).parent().unwrap();
    let found = [bin_dir.join(LIBRARY), bin_dir.join("deps").join(LIBRARY)]
        .into_iter()
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
        .max();
    let Some((built, path)) = found else {
        panic!(
            "{LIBRARY} is not built next to {BIN}; run `cargo build -p livestage-ffi` \
             (./dev test does) or `cargo test --workspace`"
        );
    };
    assert!(
        built >= newest_source(),
        "{} is older than its sources; run `cargo build -p livestage-ffi` first",
        path.display()
    );
    path
}

/// Runs `program` with `args` and returns its output; panics naming the Debian package when
/// the program is not installed (CI installs it through `./dev setup`).
pub fn run(program: &str, args: &[&str], package: &str) -> Output {
    let output = Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {program} ({e}); install it: apt-get install {package} (./dev setup does)")
    });
    assert!(
        output.status.success(),
        "{program} {} failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
