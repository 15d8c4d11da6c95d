//! Server-side participants (a push's viewer, an inject's host) are clients of this very
//! server over loopback QUIC, so the forwarding path treats them like anyone. This joins one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use livestage_net::Engine;
use livestage_net::engine::{ConnectionState, EventKind, JoinOptions};
use livestage_proto::Error;
use livestage_proto::wire::{Participant, Role};

use crate::push::Context;

/// How long joining may take before the server gives up.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a loopback participant could not join.
#[derive(Debug)]
pub enum JoinError {
    /// The server refused it (host cap, ban, ...); the server's own error.
    Refused(Error),
    /// It could not even try, or no answer came in time.
    Failed(String),
}

impl std::fmt::Display for JoinError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(e) => write!(f, "refused: {e}"),
            Self::Failed(why) => f.write_str(why),
        }
    }
}

/// Joins `channel` as `user` with `grants` and `role` (a token minted with the server's own
/// secret) and waits until it is in; returns the engine and the roster it joined into.
pub fn join(
    ctx: &Context,
    channel: &str,
    user: &str,
    grants: &str,
    role: Role,
) -> Result<(Arc<Engine>, Vec<Participant>), JoinError> {
    let failed = |e: anyhow::Error| JoinError::Failed(format!("{e:#}"));
    let token = crate::mint_token(&ctx.app, &ctx.secret, channel, user, grants, ctx.token_secs)
        .map_err(failed)?;
    let engine = Arc::new(Engine::new().map_err(failed)?);
    let mut options = JoinOptions::new(ctx.server, &ctx.cert_pem, channel, &token, role);
    options.server_name = ctx.server_name.clone();
    engine.join(options);
    let deadline = Instant::now() + JOIN_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(event) = engine.events().recv_timeout(left) else {
            return Err(JoinError::Failed(format!(
                "{user} could not join {channel} within {JOIN_TIMEOUT:?}"
            )));
        };
        match event.kind {
            EventKind::Joined { peers, .. } => return Ok((engine, peers)),
            EventKind::State {
                state: ConnectionState::Disconnected,
                error,
            } => {
                return Err(match error {
                    Some(e) => JoinError::Refused(e),
                    None => JoinError::Failed(format!("{user} was disconnected while joining")),
                });
            }
            _ => {}
        }
    }
}
