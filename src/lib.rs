//! Livestage: interactive live streaming for games. This facade re-exports the workspace crates.

pub use livestage_net as net;
pub use livestage_proto as proto;
pub use livestage_server as server;
