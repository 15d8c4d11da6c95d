//! The Livestage SFU as a library: [`glue`] runs the sans-IO core of `livestage-proto` on
//! quinn; [`Embedded`] starts one in-process on loopback for games, examples and tests.
//!
//! ```
//! use livestage_server::{Config, Embedded};
//!
//! let server = Embedded::start(Config::default())?;
//! let token = server.token("lobby", "alice", "join,publish-data", 3600)?;
//! assert!(server.addr.ip().is_loopback());
//! # let _ = token;
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod allow;
pub mod config;
pub mod glue;
pub mod inject;
mod loopback;
pub mod page;
pub mod push;
pub mod relay;
pub mod rtmp;
pub mod tls;
mod voice;
pub mod web;

use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use livestage_proto::token::{self, Claims, Grant};
use rand::RngCore;
use tokio::sync::oneshot;

pub use config::Config;
pub use tls::Identity;

/// A fresh random app secret (hex), for development.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random seed for session resume keys.
pub fn random_seed() -> u64 {
    rand::thread_rng().next_u64()
}

/// Mints a token for `user` in `channel` with a comma-separated grant list.
pub fn mint_token(
    app: &str,
    secret: &str,
    channel: &str,
    user: &str,
    grants: &str,
    ttl_secs: u64,
) -> anyhow::Result<String> {
    livestage_proto::id::validate("channel", channel)?;
    livestage_proto::id::validate("user id", user)?;
    let grants = Grant::parse_list(grants).map_err(anyhow::Error::msg)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    Ok(token::mint(
        &Claims::new(app, channel, user, grants, now, ttl_secs),
        secret.as_bytes(),
    )?)
}

/// A server running on its own thread, stopped when dropped.
pub struct Embedded {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its self-signed certificate, for clients to trust.
    pub cert_pem: String,
    /// Its app id.
    pub app: String,
    /// Its token secret.
    pub secret: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Embedded {
    /// Starts a server with a self-signed certificate. The listen address defaults to
    /// `127.0.0.1:0` unless the config names another; the secret is random unless set.
    pub fn start(mut config: Config) -> anyhow::Result<Self> {
        if config.listen == Config::default().listen {
            config.listen = "127.0.0.1:0".parse().expect("literal socket address");
        }
        let secret = config.resolve_secret()?.unwrap_or_else(random_secret);
        config::check_secret(&secret)?;
        let identity = Identity::self_signed()?;
        let cert_pem = identity.cert_pem.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("livestage-server")
            .enable_all()
            .build()?;
        let core = config.core(&secret, random_seed());
        let mut listener = runtime.block_on(async { glue::bind(config.listen, identity, core) })?;
        listener.allow_pushes(config.push.clone(), &config.server_name);
        listener.allow_injects(config.inject.clone());
        listener.allow_relays(config.relay.clone());
        listener.serve_browsers(config.webtransport)?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("livestage-server".into())
            .spawn(move || runtime.block_on(listener.run(stopped)))
            .context("cannot start the server thread")?;
        Ok(Self {
            addr,
            cert_pem,
            app: config.app,
            secret,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Mints a token for this server.
    pub fn token(
        &self,
        channel: &str,
        user: &str,
        grants: &str,
        ttl_secs: u64,
    ) -> anyhow::Result<String> {
        mint_token(&self.app, &self.secret, channel, user, grants, ttl_secs)
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
