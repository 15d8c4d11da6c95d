//! Stable error codes shared by the server, the client engine, the CLI and the C ABI.

use serde::{Deserialize, Serialize};

/// Why something was refused or a session ended. The snake_case names are stable: reports,
/// logs and other languages match on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The token is malformed, signed with another key or algorithm, or bound to another
    /// app, channel or user.
    TokenInvalid,
    /// The token's `exp` has passed (or its `nbf` has not come yet).
    TokenExpired,
    /// The token does not grant what was asked, or the role does not allow it.
    NotPermitted,
    /// The channel already has its maximum number of hosts.
    TooManyHosts,
    /// A data message is larger than the limit.
    MessageTooLarge,
    /// The sender exceeded the data message rate limit.
    RateLimited,
    /// A moderator removed this participant.
    Kicked,
    /// The same user joined again; this older session was closed.
    Replaced,
    /// The server could not be reached.
    ServerUnreachable,
    /// The peer sent something that does not follow the protocol.
    ProtocolError,
    /// The named participant is not in the channel.
    UnknownUser,
    /// This client did not read its messages fast enough and was disconnected.
    Overloaded,
    /// The session to resume no longer exists; join again.
    SessionExpired,
    /// A local call was given something it cannot use (a frame of the wrong size, an entity
    /// that is not a channel); nothing was sent.
    InvalidInput,
}

impl ErrorCode {
    /// The stable snake_case name, e.g. `too_many_hosts`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TokenInvalid => "token_invalid",
            Self::TokenExpired => "token_expired",
            Self::NotPermitted => "not_permitted",
            Self::TooManyHosts => "too_many_hosts",
            Self::MessageTooLarge => "message_too_large",
            Self::RateLimited => "rate_limited",
            Self::Kicked => "kicked",
            Self::Replaced => "replaced",
            Self::ServerUnreachable => "server_unreachable",
            Self::ProtocolError => "protocol_error",
            Self::UnknownUser => "unknown_user",
            Self::Overloaded => "overloaded",
            Self::SessionExpired => "session_expired",
            Self::InvalidInput => "invalid_input",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error code with a message a person can act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    /// The stable code.
    pub code: ErrorCode,
    /// What happened and, where possible, what to do about it.
    pub message: String,
}

impl Error {
    /// Builds an error from a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}
