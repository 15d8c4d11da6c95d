//! The committed header `ffi/include/livestage.h` is what cbindgen makes of the sources now.
//! When it is stale this test fails; regenerate it with
//! `LIVESTAGE_BLESS=1 cargo test -p livestage-ffi --test header` and commit the result.
#![allow(clippy::unwrap_used)]

use std::path::Path;

#[test]
fn the_committed_header_is_up_to_date() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).unwrap();
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen understands the crate");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let generated = String::from_utf8(generated).unwrap();
    let path = crate_dir.join("include/livestage.h");
    if std::env::var_os("LIVESTAGE_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale (the C ABI changed). Regenerate it with\n    \
         LIVESTAGE_BLESS=1 cargo test -p livestage-ffi --test header\nand commit it.",
        path.display()
    );
}
