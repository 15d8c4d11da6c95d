//! What the narrator and the players say to each other, as JSON data messages on the stage
//! channel. The server stamps every sender, so the narrator trusts `from`, never the payload;
//! a player trusts only messages whose stamped sender is the narrator.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The narrator's user id in every game.
pub const NARRATOR: &str = "narrator";

/// From the narrator to everyone (or privately to one player).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FromNarrator {
    /// A phase began.
    Phase {
        /// `werewolf` or `mystery`.
        mode: String,
        /// `night`, `day`, `vote`, `explore`, `accuse`.
        name: String,
        /// From 1.
        round: u32,
        /// How long it lasts.
        seconds: f32,
        /// Living players.
        alive: Vec<String>,
        /// Murder Mystery: room -> occupants (empty in Werewolf).
        rooms: BTreeMap<String, Vec<String>>,
    },
    /// Your secret role (private), and the allies who share it (the other werewolves).
    Role {
        /// `werewolf`, `villager`, `seer`, `murderer`, `guest`.
        role: String,
        /// Allies.
        allies: Vec<String>,
    },
    /// Something happened (a death, a vote's result, an invitation).
    Announce {
        /// For people.
        text: String,
    },
    /// The answer to the seer's question (private).
    Seen {
        /// Whom the seer asked about.
        target: String,
        /// Whether it is a werewolf.
        werewolf: bool,
    },
    /// The game ended.
    Over {
        /// `werewolves`, `village`, `murderer`, `guests`, or `none` when the rounds ran out.
        winner: String,
    },
}

/// From a player to the narrator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FromPlayer {
    /// The phase's choice of a player: the day vote, the werewolves' victim, the murderer's
    /// victim, an accusation.
    Choose {
        /// The chosen player.
        target: String,
    },
    /// The seer's question at night.
    Ask {
        /// About whom.
        target: String,
    },
    /// Murder Mystery: go to another room.
    Move {
        /// The room.
        room: String,
    },
    /// Murder Mystery: whisper with a room-mate (`None` stops whispering).
    Whisper {
        /// The room-mate.
        to: Option<String>,
    },
}

/// Encodes a message for [`SendData`](bevy_livestage::SendData).
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    serde_json::to_vec(message).expect("game messages are plain data and always serialize")
}

/// Decodes a data message; anything else (a stranger's bytes) is an error to log and ignore.
pub fn decode<T: for<'de> Deserialize<'de>>(payload: &[u8]) -> Result<T, String> {
    serde_json::from_slice(payload).map_err(|e| format!("not a game message: {e}"))
}
