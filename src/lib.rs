#![doc = include_str!("../README.md")]
//!
//! This facade re-exports the workspace crates; the README above is its front page and its Rust
//! example is compiled as a doctest.

pub use livestage_media as media;
pub use livestage_net as net;
pub use livestage_proto as proto;
pub use livestage_server as server;
