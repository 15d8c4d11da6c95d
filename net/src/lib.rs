//! Livestage networking glue: the client [`Engine`] over QUIC and the impairment [`proxy`].

pub mod proxy;
