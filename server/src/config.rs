//! Server configuration: command-line flags and/or a TOML file.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use livestage_proto::server as core;
use livestage_proto::wire::{DataLimits, Profile};
use serde::Deserialize;

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
///
/// [limits]
/// max_payload = 4096
/// messages_per_sec = 60
/// bytes_per_sec = 30720
///
/// [channels.lobby]
/// profile = "communication"
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
fn default_app() -> String {
    "livestage".into()
}
fn default_host_cap() -> usize {
    17
}
fn default_resume() -> u64 {
    20
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
        toml::from_str(&text).with_context(|| format!("{} is not a valid config", path.display()))
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
            resume_ms: self.resume_secs * 1000,
            limits: DataLimits {
                max_payload: self.limits.max_payload,
                messages_per_sec: self.limits.messages_per_sec,
                bytes_per_sec: self.limits.bytes_per_sec,
            },
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
