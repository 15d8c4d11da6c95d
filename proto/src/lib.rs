//! Sans-IO core of Livestage: the wire format, access tokens, and the client and server state
//! machines. Nothing here does I/O or reads a clock: bytes and the time come in as inputs,
//! frames and events come out of `poll_*` methods.
//!
//! ```
//! use livestage_proto::token::{self, Claims, Expect, Grant};
//!
//! let grants = Grant::parse_list("join,publish-data").unwrap();
//! let claims = Claims::new("livestage", "lobby", "alice", grants, 1_700_000_000, 3600);
//! let jwt = token::mint(&claims, b"secret").unwrap();
//! let expect = Expect { app: "livestage", channel: "lobby", user: None };
//! assert_eq!(token::verify(&jwt, b"secret", expect, 1_700_000_010).unwrap().sub, "alice");
//! ```

pub mod client;
pub mod error;
pub mod id;
pub mod inject;
pub mod media;
pub mod push;
pub mod quality;
pub mod rate;
pub mod redundancy;
pub mod relay;
pub mod reorder;
pub mod server;
pub mod token;
pub mod track;
pub mod wire;

pub use error::{Error, ErrorCode};
