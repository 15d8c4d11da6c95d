//! Server configuration: command-line flags and/or a TOML file.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use livestage_proto::server as core;
use livestage_proto::wire::{DataLimits, Profile};
use serde::Deserialize;

use crate::allow::Allow;

/// Everything `livestage serve` needs. In TOML:
///
/// ```toml
/// listen = "0.0.0.0:4443"
/// cert = "/etc/livestage/cert.pem"
/// key = "/etc/livestage/key.pem"
/// app = "livestage"
/// secret_env = "LIVESTAGE_SECRET"   # or: secret = "..."
/// host_cap = 17
/// profile = "live_broadcast"        # or "communication"
/// resume_secs = 20
/// max_token_secs = 86400            # optional: refuse tokens that live longer
/// max_backlog = 8192                # unacknowledged events before a client is dropped
/// webtransport = true               # browsers over WebTransport on the same port
///
/// [limits]
/// max_payload = 4096
/// messages_per_sec = 60
/// bytes_per_sec = 30720
///
/// [channels.lobby]
/// profile = "communication"
///
/// [push]                            # where CDN pushes may go (nothing by default)
/// allow = ["rtmp://live.example.com/app/"]
/// [inject]                          # what injects may pull (URL prefixes, file folders)
/// allow = ["rtmp://origin.example.com/", "/srv/media"]
/// [relay]                           # other servers relays may publish to
/// allow = ["livestage://10.0.0.7:4443"]
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// UDP address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// PEM certificate chain (not needed in dev mode).
    pub cert: Option<PathBuf>,
    /// PEM private key (not needed in dev mode).
    pub key: Option<PathBuf>,
    /// App id that tokens must name.
    #[serde(default = "default_app")]
    pub app: String,
    /// The token secret, inline.
    pub secret: Option<String>,
    /// The name of an environment variable holding the token secret.
    pub secret_env: Option<String>,
    /// Most hosts per channel.
    #[serde(default = "default_host_cap")]
    pub host_cap: usize,
    /// Profile of channels not listed under `channels`.
    #[serde(default)]
    pub profile: Profile,
    /// Seconds a lost session is kept for resuming.
    #[serde(default = "default_resume")]
    pub resume_secs: u64,
    /// Data message limits per user.
    #[serde(default)]
    pub limits: Limits,
    /// Per-channel settings.
    #[serde(default)]
    pub channels: HashMap<String, ChannelConfig>,
    /// Longest token lifetime accepted, in seconds from now to the token's `exp`.
    pub max_token_secs: Option<u64>,
    /// Most unacknowledged events per session before it is dropped as too slow.
    #[serde(default = "default_backlog")]
    pub max_backlog: usize,
    /// The name in the certificate: the server's own push viewers connect to it over loopback
    /// expecting this name (the dev certificate's is `localhost`).
    #[serde(default = "default_server_name")]
    pub server_name: String,
    /// Where CDN pushes may connect.
    #[serde(default)]
    pub push: Allow,
    /// What injects may pull from.
    #[serde(default)]
    pub inject: Allow,
    /// Which other servers (`livestage://ADDR`) a host's relay may publish to; channels on
    /// this server need no entry.
    #[serde(default)]
    pub relay: Allow,
    /// Whether browsers may connect over WebTransport (HTTP/3) on the same UDP port.
    #[serde(default = "default_true")]
    pub webtransport: bool,
}

fn default_true() -> bool {
    true
}

/// Shortest app secret accepted: HS256 wants a key as long as its 32-byte output.
pub const MIN_SECRET_LEN: usize = 32;

/// Refuses a secret too short to sign tokens safely.
pub fn check_secret(secret: &str) -> anyhow::Result<()> {
    if secret.len() < MIN_SECRET_LEN {
        bail!(
            "the app secret has {} bytes; use at least {MIN_SECRET_LEN} (e.g. `openssl rand -hex 32`)",
            secret.len()
        );
    }
    Ok(())
}

/// Data limits as written in TOML.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest data payload in bytes.
    pub max_payload: u32,
    /// Data messages per second per user.
    pub messages_per_sec: u32,
    /// Data bytes per second per user.
    pub bytes_per_sec: u32,
}

impl Default for Limits {
    fn default() -> Self {
        let d = DataLimits::default();
        Self {
            max_payload: d.max_payload,
            messages_per_sec: d.messages_per_sec,
            bytes_per_sec: d.bytes_per_sec,
        }
    }
}

/// One channel's settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// The channel's profile.
    pub profile: Profile,
}

fn default_listen() -> SocketAddr {
    "0.0.0.0:4443".parse().expect("literal socket address")
}
fn default_server_name() -> String {
    "localhost".into()
}
fn default_app() -> String {
    "livestage".into()
}
fn default_host_cap() -> usize {
    17
}
fn default_resume() -> u64 {
    20
}
fn default_backlog() -> usize {
    core::Config::default().max_backlog
}

impl Default for Config {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

impl Config {
    /// Reads a TOML file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Self::from_toml(&text).with_context(|| format!("{} is not a valid config", path.display()))
    }

    /// Parses the text of a TOML config (what [`Config::load`] reads from its file).
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// The token secret from `secret` or `secret_env`.
    pub fn resolve_secret(&self) -> anyhow::Result<Option<String>> {
        if let Some(s) = &self.secret {
            return Ok(Some(s.clone()));
        }
        match &self.secret_env {
            Some(var) => match std::env::var(var) {
                Ok(s) if !s.is_empty() => Ok(Some(s)),
                _ => bail!("the environment variable {var} (secret_env) is not set"),
            },
            None => Ok(None),
        }
    }

    /// The sans-IO core's policy, with the given secret and seed.
    pub fn core(&self, secret: &str, seed: u64) -> core::Config {
        core::Config {
            app: self.app.clone(),
            secret: secret.as_bytes().to_vec(),
            host_cap: self.host_cap,
            profile: self.profile,
            profiles: self
                .channels
                .iter()
                .map(|(k, v)| (k.clone(), v.profile))
                .collect(),
            resume_ms: self.resume_secs.saturating_mul(1000),
            limits: DataLimits {
                max_payload: self.limits.max_payload,
                messages_per_sec: self.limits.messages_per_sec,
                bytes_per_sec: self.limits.bytes_per_sec,
            },
            max_token_secs: self.max_token_secs,
            max_backlog: self.max_backlog,
            seed,
            ..core::Config::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_config_parses() {
        let text = r#"
            listen = "127.0.0.1:5000"
            cert = "c.pem"
            key = "k.pem"
            secret = "s"
            host_cap = 9
            profile = "communication"
            resume_secs = 30
            [limits]
            max_payload = 1024
            messages_per_sec = 10
            bytes_per_sec = 2048
            [channels.lobby]
            profile = "live_broadcast"
        "#;
        let c: Config = toml::from_str(text).expect("valid config");
        let core = c.core("s", 1);
        assert_eq!(core.host_cap, 9);
        assert_eq!(core.profile, Profile::Communication);
        assert_eq!(core.profiles["lobby"], Profile::LiveBroadcast);
        assert_eq!(core.resume_ms, 30_000);
        assert_eq!(core.limits.messages_per_sec, 10);
    }

    #[test]
    fn unknown_keys_and_missing_secrets_are_clear_errors() {
        let err = toml::from_str::<Config>("hostcap = 3").expect_err("typo refused");
        assert!(err.to_string().contains("unknown field `hostcap`"), "{err}");
        let c: Config =
            toml::from_str("secret_env = \"LIVESTAGE_TEST_UNSET_VAR\"").expect("parses");
        let err = c.resolve_secret().expect_err("unset variable");
        assert!(err.to_string().contains("LIVESTAGE_TEST_UNSET_VAR"));
    }
}
