//! Identifiers that cross the wire: user ids and channel names.

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode};

/// The longest user id or channel name, in bytes.
pub const MAX_ID_LEN: usize = 64;

/// Checks a user id or channel name: 1 to 64 characters of `[A-Za-z0-9_.-]`.
pub fn validate(kind: &str, id: &str) -> Result<(), Error> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if id.is_empty() || id.len() > MAX_ID_LEN || !id.chars().all(ok_char) {
        // Quote no more than an id's worth of what was sent.
        let shown: String = id.chars().take(MAX_ID_LEN).collect();
        let cut = if shown.len() < id.len() { "..." } else { "" };
        return Err(Error::new(
            ErrorCode::ProtocolError,
            format!(
                "{kind} {shown:?}{cut} must be 1 to {MAX_ID_LEN} characters of A-Z a-z 0-9 _ . -"
            ),
        ));
    }
    Ok(())
}

/// A participant's stable id, as bound in its token.
pub type UserId = String;

/// A channel's name.
pub type ChannelId = String;

/// Identifies one session on a server; used to resume it on a new connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SessionId(pub u64);

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn accepts_and_refuses() {
        assert!(validate("user", "alice_01.x-y").is_ok());
        assert!(validate("user", "").is_err());
        assert!(validate("user", "has space").is_err());
        assert!(validate("user", "é").is_err());
        assert!(validate("user", &"a".repeat(64)).is_ok());
        assert!(validate("user", &"a".repeat(65)).is_err());
    }
}
