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
    /// The named track is not published (or not of the kind the request needs).
    UnknownTrack,
    /// Publishing this track would exceed the per-kind track cap.
    TooManyTracks,
    /// Screen capture is not possible here (no display server, or a Wayland session without
    /// the portal); the message says what is missing.
    ScreenUnavailable,
    /// A local source stopped by itself (a shared window closed, a display went away); its
    /// track was unpublished.
    SourceEnded,
    /// No webcam can be used here (none, no permission, or another program holds it); the
    /// message says which.
    CameraUnavailable,
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
            Self::UnknownTrack => "unknown_track",
            Self::TooManyTracks => "too_many_tracks",
            Self::ScreenUnavailable => "screen_unavailable",
            Self::SourceEnded => "source_ended",
            Self::CameraUnavailable => "camera_unavailable",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest error message, in bytes.
pub const MAX_MESSAGE: usize = 1024;

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
    /// Builds an error from a code and a message. A message is cut to
    /// [`MAX_MESSAGE`] bytes, so an error that quotes what a peer sent always fits a frame.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.len() > MAX_MESSAGE {
            let mut end = MAX_MESSAGE - 3;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push_str("...");
        }
        Self { code, message }
    }
}

#[cfg(test)]
mod tests {
    use super::{Error, ErrorCode, MAX_MESSAGE};

    #[test]
    fn a_long_message_is_cut_on_a_character_boundary() {
        let e = Error::new(ErrorCode::ProtocolError, "é".repeat(MAX_MESSAGE));
        assert!(e.message.len() <= MAX_MESSAGE);
        assert!(e.message.ends_with("..."));
        assert_eq!(Error::new(ErrorCode::Kicked, "short").message, "short");
    }
}
