//! The party game example's binary (`cargo test` builds the examples next to the tests).

use std::path::PathBuf;

pub fn binary() -> PathBuf {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let path = deps.parent().unwrap().join("examples").join("party");
    assert!(
        path.exists(),
        "{} is missing; `cargo test` builds it",
        path.display()
    );
    path
}
