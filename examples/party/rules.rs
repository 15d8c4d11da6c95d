//! One face over the two games' rules, so the narrator does not care which is being played:
//! phases by name, hearing sets by user id, player actions from stamped senders in, the
//! narrator's announcements out. Sans-IO like the rules themselves.

use std::collections::BTreeMap;

use crate::messages::{FromNarrator, FromPlayer};
use crate::{mystery, werewolf};

/// Which game is played.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Werewolf: nights, days and votes.
    Werewolf,
    /// Murder Mystery: rooms, whispers, accusations.
    Mystery,
}

impl Mode {
    /// The name used in messages and the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Werewolf => "werewolf",
            Self::Mystery => "mystery",
        }
    }
}

/// Where a game is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phase {
    /// `night`, `day`, `vote`, `explore`, `accuse` or `over`.
    pub name: &'static str,
    /// From 1.
    pub round: u32,
}

/// A game being played.
pub enum Rules {
    /// Werewolf.
    Werewolf(werewolf::Game),
    /// Murder Mystery.
    Mystery(mystery::Game),
}

impl Rules {
    /// Deals a game of `mode` to `players`.
    pub fn new(mode: Mode, players: &[String], seed: u64) -> Result<Self, String> {
        Ok(match mode {
            Mode::Werewolf => Self::Werewolf(werewolf::Game::new(players, seed)?),
            Mode::Mystery => Self::Mystery(mystery::Game::new(players, seed)?),
        })
    }

    /// Which game this is.
    pub fn mode(&self) -> Mode {
        match self {
            Self::Werewolf(_) => Mode::Werewolf,
            Self::Mystery(_) => Mode::Mystery,
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        let (name, round) = match self {
            Self::Werewolf(g) => match g.phase() {
                werewolf::Phase::Night(r) => ("night", r),
                werewolf::Phase::Day(r) => ("day", r),
                werewolf::Phase::Vote(r) => ("vote", r),
                werewolf::Phase::Over(_) => ("over", 0),
            },
            Self::Mystery(g) => match g.phase() {
                mystery::Phase::Explore(r) => ("explore", r),
                mystery::Phase::Accuse(r) => ("accuse", r),
                mystery::Phase::Over(_) => ("over", 0),
            },
        };
        Phase { name, round }
    }

    /// The winning side's name, once the game is over.
    pub fn winner(&self) -> Option<&'static str> {
        match self {
            Self::Werewolf(g) => g.winner().map(|t| match t {
                werewolf::Team::Werewolves => "werewolves",
                werewolf::Team::Village => "village",
            }),
            Self::Mystery(g) => g.winner().map(|t| match t {
                mystery::Team::Murderer => "murderer",
                mystery::Team::Guests => "guests",
            }),
        }
    }

    /// Every player's secret role.
    pub fn roles(&self) -> BTreeMap<String, &'static str> {
        match self {
            Self::Werewolf(g) => g.roles().map(|(id, r)| (id.into(), r.as_str())).collect(),
            Self::Mystery(g) => g.roles().map(|(id, r)| (id.into(), r.as_str())).collect(),
        }
    }

    /// Who shares `player`'s secret (the other werewolves).
    pub fn allies(&self, player: &str) -> Vec<String> {
        match self {
            Self::Werewolf(g) if g.role(player) == Some(werewolf::Role::Werewolf) => g
                .roles()
                .filter(|(id, r)| *r == werewolf::Role::Werewolf && *id != player)
                .map(|(id, _)| id.to_owned())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Players still in the game.
    pub fn alive(&self) -> Vec<String> {
        let alive = match self {
            Self::Werewolf(g) => g.alive(),
            Self::Mystery(g) => g.alive(),
        };
        alive.into_iter().map(str::to_owned).collect()
    }

    /// Players out of the game, in order.
    pub fn eliminated(&self) -> Vec<String> {
        match self {
            Self::Werewolf(g) => g.eliminated().to_vec(),
            Self::Mystery(g) => g.eliminated().to_vec(),
        }
    }

    /// Murder Mystery's rooms and who is in each (empty for Werewolf).
    pub fn rooms(&self) -> BTreeMap<String, Vec<String>> {
        match self {
            Self::Werewolf(_) => BTreeMap::new(),
            Self::Mystery(g) => g
                .rooms()
                .into_iter()
                .map(|(room, who)| {
                    (
                        room.to_owned(),
                        who.into_iter().map(str::to_owned).collect(),
                    )
                })
                .collect(),
        }
    }

    /// Whom each living player may hear and see now (`None`: everyone).
    pub fn hearing(&self) -> BTreeMap<String, Option<Vec<String>>> {
        let sets = match self {
            Self::Werewolf(g) => g.hearing(),
            Self::Mystery(g) => g.hearing(),
        };
        sets.into_iter()
            .map(|(id, hears)| {
                let hears = hears.map(|h| h.into_iter().map(str::to_owned).collect());
                (id.to_owned(), hears)
            })
            .collect()
    }

    /// A player's action, from the sender the server stamped. `Ok` may carry a private answer
    /// (the seer's); `Err` says why it was ignored.
    pub fn act(&mut self, from: &str, action: &FromPlayer) -> Result<Option<FromNarrator>, String> {
        let refused = |r: &dyn std::fmt::Debug| format!("{r:?}");
        match (self, action) {
            (Self::Werewolf(g), FromPlayer::Choose { target }) => g
                .choose(from, target)
                .map(|()| None)
                .map_err(|r| refused(&r)),
            (Self::Werewolf(g), FromPlayer::Ask { target }) => g
                .ask(from, target)
                .map(|werewolf| {
                    Some(FromNarrator::Seen {
                        target: target.clone(),
                        werewolf,
                    })
                })
                .map_err(|r| refused(&r)),
            (Self::Mystery(g), FromPlayer::Choose { target }) => {
                let result = match g.phase() {
                    mystery::Phase::Explore(_) => g.kill(from, target),
                    _ => g.accuse(from, target),
                };
                result.map(|()| None).map_err(|r| refused(&r))
            }
            (Self::Mystery(g), FromPlayer::Move { room }) => g
                .move_to(from, room)
                .map(|()| None)
                .map_err(|r| refused(&r)),
            (Self::Mystery(g), FromPlayer::Whisper { to: Some(to) }) => {
                g.whisper(from, to).map(|()| None).map_err(|r| refused(&r))
            }
            (Self::Mystery(g), FromPlayer::Whisper { to: None }) => {
                g.end_whisper(from);
                Ok(None)
            }
            _ => Err("NotThisGame".into()),
        }
    }

    /// Ends the phase; returns what the narrator announces.
    pub fn advance(&mut self) -> Vec<String> {
        match self {
            Self::Werewolf(g) => g.advance().iter().map(werewolf_text).collect(),
            Self::Mystery(g) => g.advance().iter().map(mystery_text).collect(),
        }
    }

    /// A player left the game for good; returns what the narrator announces.
    pub fn forfeit(&mut self, player: &str) -> Vec<String> {
        match self {
            Self::Werewolf(g) => g.forfeit(player).iter().map(werewolf_text).collect(),
            Self::Mystery(g) => g.forfeit(player).iter().map(mystery_text).collect(),
        }
    }
}

fn werewolf_text(outcome: &werewolf::Outcome) -> String {
    match outcome {
        werewolf::Outcome::Killed(p) => format!("{p} was killed in the night."),
        werewolf::Outcome::VotedOut { player, votes } => {
            format!("The village voted {player} out ({}).", tally(votes))
        }
        werewolf::Outcome::NoMajority => "The vote was tied: nobody leaves.".into(),
        werewolf::Outcome::Won(werewolf::Team::Werewolves) => "The werewolves win.".into(),
        werewolf::Outcome::Won(werewolf::Team::Village) => "The village wins.".into(),
    }
}

fn mystery_text(outcome: &mystery::Outcome) -> String {
    match outcome {
        mystery::Outcome::Murdered { victim, room } => {
            format!("{victim} was found dead in the {room}.")
        }
        mystery::Outcome::Accused {
            player,
            votes,
            murderer,
        } => {
            let verdict = if *murderer {
                "the murderer"
            } else {
                "innocent"
            };
            format!("{player} was accused ({}) and was {verdict}.", tally(votes))
        }
        mystery::Outcome::NoMajority => "No accusation carried: nobody leaves.".into(),
        mystery::Outcome::Won(mystery::Team::Murderer) => "The murderer wins.".into(),
        mystery::Outcome::Won(mystery::Team::Guests) => "The guests win.".into(),
    }
}

fn tally(votes: &BTreeMap<String, u32>) -> String {
    let parts: Vec<String> = votes.iter().map(|(p, n)| format!("{p}: {n}")).collect();
    parts.join(", ")
}
