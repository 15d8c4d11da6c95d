//! Livestage networking glue: QUIC transport shared by both ends, the client [`Engine`], and
//! the seeded impairment [`proxy`] used by tests.

pub mod engine;
mod link;
pub mod media;
pub mod playout;
pub mod proxy;
pub mod publish;
pub mod relay;
pub mod transport;

pub use engine::{Engine, Event, JoinOptions, MediaEvent, MediaKind};
