//! Murder Mystery's rules, sans-IO: who is the murderer, which room everyone is in, who
//! whispers with whom, who hears whom, who is murdered or accused and who won. The narrator's
//! app feeds it actions (the senders the server stamped) and turns its answers into moderator
//! actions (hearing sets, announcements). No clock, no network, no randomness but the seed it
//! is given.

use std::collections::BTreeMap;

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// The rooms of the house, where players hear only the others in the same room.
pub const ROOMS: [&str; 4] = ["library", "kitchen", "garden", "cellar"];

/// A player's secret role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Kills one room-mate per round; wins when only one other player is left.
    Murderer,
    /// Wins when the murderer is accused.
    Guest,
}

impl Role {
    /// The name the game report uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Murderer => "murderer",
            Self::Guest => "guest",
        }
    }
}

/// Which side won.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Team {
    /// The murderer.
    Murderer,
    /// The guests.
    Guests,
}

/// Where the game is. Each phase has a round number, from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Players move between rooms, hear only their room-mates and may whisper in pairs; the
    /// murderer picks a victim among their room-mates.
    Explore(u32),
    /// Everyone alive is heard; each living player accuses one other.
    Accuse(u32),
    /// The game ended.
    Over(Team),
}

/// Why an action was ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The sender is not a player (a spectator, the narrator, a stranger).
    NotAPlayer,
    /// The sender was eliminated.
    Dead,
    /// The target is not a living player (or room) the sender may pick.
    BadTarget,
    /// Not the phase for this action, or not this player's role.
    NotNow,
}

/// Something the narrator announces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The murderer killed this player at the end of the exploration.
    Murdered {
        /// Who.
        victim: String,
        /// Where the body was found.
        room: String,
    },
    /// The guests' accusations removed this player; `votes` is the tally.
    Accused {
        /// Who.
        player: String,
        /// Accusations per target.
        votes: BTreeMap<String, u32>,
        /// Whether they were the murderer.
        murderer: bool,
    },
    /// The accusations were tied or absent: nobody leaves.
    NoMajority,
    /// The game is over.
    Won(Team),
}

#[derive(Clone, Debug)]
struct Player {
    role: Role,
    alive: bool,
    room: &'static str,
}

/// One game of Murder Mystery.
#[derive(Clone, Debug)]
pub struct Game {
    players: BTreeMap<String, Player>,
    phase: Phase,
    /// Private pairs, stored both ways: whisperer -> partner.
    whispers: BTreeMap<String, String>,
    /// The murderer's chosen victim this exploration.
    victim: Option<String>,
    /// This phase's accusations: accuser -> target.
    accusations: BTreeMap<String, String>,
    eliminated: Vec<String>,
}

impl Game {
    /// Deals `ids` (at least 4 players) over the rooms and picks one murderer, both by `seed`:
    /// the players are shuffled and spread round-robin over [`ROOMS`]. The game starts with
    /// exploration 1.
    ///
    /// # Errors
    ///
    /// With fewer than 4 players or duplicate ids.
    pub fn new(ids: &[String], seed: u64) -> Result<Self, String> {
        let mut order: Vec<String> = ids.to_vec();
        order.sort();
        order.dedup();
        if order.len() != ids.len() {
            return Err("player ids must be distinct".into());
        }
        if order.len() < 4 {
            return Err(format!(
                "Murder Mystery needs at least 4 players, got {}",
                order.len()
            ));
        }
        let mut rng = SmallRng::seed_from_u64(seed);
        order.shuffle(&mut rng);
        let murderer = rng.gen_range(0..order.len());
        let deal = |(i, id)| {
            let role = if i == murderer {
                Role::Murderer
            } else {
                Role::Guest
            };
            let room = ROOMS[i % ROOMS.len()];
            let player = Player {
                role,
                alive: true,
                room,
            };
            (id, player)
        };
        let players = order.into_iter().enumerate().map(deal).collect();
        Ok(Self {
            players,
            phase: Phase::Explore(1),
            whispers: BTreeMap::new(),
            victim: None,
            accusations: BTreeMap::new(),
            eliminated: Vec::new(),
        })
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// A player's role, if `id` is a player.
    pub fn role(&self, id: &str) -> Option<Role> {
        self.players.get(id).map(|p| p.role)
    }

    /// Every player and role, by id.
    pub fn roles(&self) -> impl Iterator<Item = (&str, Role)> {
        self.players.iter().map(|(id, p)| (id.as_str(), p.role))
    }

    /// Players still in the game, by id.
    pub fn alive(&self) -> Vec<&str> {
        self.players
            .iter()
            .filter(|(_, p)| p.alive)
            .map(|(id, _)| id.as_str())
            .collect()
    }

    /// Players out of the game, in the order they left.
    pub fn eliminated(&self) -> &[String] {
        &self.eliminated
    }

    /// The room a living player is in.
    pub fn room_of(&self, id: &str) -> Option<&str> {
        self.players.get(id).filter(|p| p.alive).map(|p| p.room)
    }

    /// Every room with its living occupants, by id; empty rooms included.
    pub fn rooms(&self) -> BTreeMap<&str, Vec<&str>> {
        let mut rooms: BTreeMap<&str, Vec<&str>> =
            ROOMS.iter().map(|room| (*room, Vec::new())).collect();
        for (id, p) in self.players.iter().filter(|(_, p)| p.alive) {
            rooms.entry(p.room).or_default().push(id.as_str());
        }
        rooms
    }

    /// The player `id` is whispering with, if any.
    pub fn whispering(&self, id: &str) -> Option<&str> {
        self.whispers.get(id).map(String::as_str)
    }

    /// Whom each living player may hear (and see) now: `None` for everyone. While exploring a
    /// player hears the other living occupants of their room except those whispering with
    /// someone else, and two whisperers hear only each other; while accusing everyone hears
    /// everyone. The narrator applies these as the server's hearing sets, so a modified client
    /// cannot listen in.
    pub fn hearing(&self) -> BTreeMap<&str, Option<Vec<&str>>> {
        let exploring = matches!(self.phase, Phase::Explore(_));
        let alive = self.players.iter().filter(|(_, p)| p.alive);
        alive
            .clone()
            .map(|(id, p)| {
                let hears = if !exploring {
                    None
                } else if let Some(partner) = self.whispering(id) {
                    Some(vec![partner])
                } else {
                    let mates = alive.clone().filter(|(other, q)| {
                        *other != id && q.room == p.room && !self.whispers.contains_key(*other)
                    });
                    Some(mates.map(|(other, _)| other.as_str()).collect())
                };
                (id.as_str(), hears)
            })
            .collect()
    }

    /// `from` walks into `room`, ending any whisper they are in.
    ///
    /// # Errors
    ///
    /// A [`Refusal`] unless a living player moves while exploring to one of [`ROOMS`]; the
    /// game is unchanged.
    pub fn move_to(&mut self, from: &str, room: &str) -> Result<(), Refusal> {
        self.explorer(from)?;
        let room = ROOMS
            .iter()
            .find(|r| **r == room)
            .ok_or(Refusal::BadTarget)?;
        self.end_whisper(from);
        if let Some(p) = self.players.get_mut(from) {
            p.room = room;
        }
        Ok(())
    }

    /// `from` and `to` start whispering: a private pair that only hears itself. Any earlier
    /// whisper of either ends.
    ///
    /// # Errors
    ///
    /// A [`Refusal`] unless a living player, while exploring, picks another living player in
    /// the same room; the game is unchanged.
    pub fn whisper(&mut self, from: &str, to: &str) -> Result<(), Refusal> {
        let room = self.explorer(from)?;
        if to == from || self.room_of(to) != Some(room) {
            return Err(Refusal::BadTarget);
        }
        self.end_whisper(from);
        self.end_whisper(to);
        self.whispers.insert(from.to_owned(), to.to_owned());
        self.whispers.insert(to.to_owned(), from.to_owned());
        Ok(())
    }

    /// Ends the whisper `from` is in, if any.
    pub fn end_whisper(&mut self, from: &str) {
        if let Some(partner) = self.whispers.remove(from) {
            self.whispers.remove(&partner);
        }
    }

    /// The murderer picks `target` to kill at the end of this exploration. A later choice
    /// replaces an earlier one; the murder happens only if the target is still in the
    /// murderer's room when the exploration ends.
    ///
    /// # Errors
    ///
    /// A [`Refusal`] unless the living murderer, while exploring, picks another living player
    /// in their room; the game is unchanged.
    pub fn kill(&mut self, from: &str, target: &str) -> Result<(), Refusal> {
        let room = self.explorer(from)?;
        if self.role(from) != Some(Role::Murderer) {
            return Err(Refusal::NotNow);
        }
        if target == from || self.room_of(target) != Some(room) {
            return Err(Refusal::BadTarget);
        }
        self.victim = Some(target.to_owned());
        Ok(())
    }

    /// `from` accuses `target` of the murder. A later accusation replaces an earlier one.
    ///
    /// # Errors
    ///
    /// A [`Refusal`] unless a living player accuses another living player while accusing; the
    /// game is unchanged.
    pub fn accuse(&mut self, from: &str, target: &str) -> Result<(), Refusal> {
        self.living(from)?;
        if !matches!(self.phase, Phase::Accuse(_)) {
            return Err(Refusal::NotNow);
        }
        if target == from || self.room_of(target).is_none() {
            return Err(Refusal::BadTarget);
        }
        self.accusations.insert(from.to_owned(), target.to_owned());
        Ok(())
    }

    /// Ends the phase: exploring -> accusing (the murderer's victim dies if still in their
    /// room; whispers end), accusing -> exploring the next round (the most accused player
    /// leaves; a tie or no accusation removes nobody). Returns what to announce.
    pub fn advance(&mut self) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        self.phase = match self.phase {
            Phase::Explore(round) => {
                let murderer_room = self
                    .players
                    .values()
                    .find(|p| p.alive && p.role == Role::Murderer)
                    .map(|p| p.room);
                if let Some(victim) = self.victim.take()
                    && let Some(room) = murderer_room
                    && self.room_of(&victim) == Some(room)
                {
                    self.eliminate(&victim);
                    outcomes.push(Outcome::Murdered {
                        victim,
                        room: room.to_owned(),
                    });
                }
                self.whispers.clear();
                Phase::Accuse(round)
            }
            Phase::Accuse(round) => {
                let votes = tally(&self.accusations);
                self.accusations.clear();
                match leader(&votes) {
                    Some(player) => {
                        let murderer = self.role(&player) == Some(Role::Murderer);
                        self.eliminate(&player);
                        outcomes.push(Outcome::Accused {
                            player,
                            votes,
                            murderer,
                        });
                    }
                    None => outcomes.push(Outcome::NoMajority),
                }
                Phase::Explore(round + 1)
            }
            over @ Phase::Over(_) => over,
        };
        if let Some(team) = self.winner()
            && !matches!(self.phase, Phase::Over(_))
        {
            self.phase = Phase::Over(team);
            outcomes.push(Outcome::Won(team));
        }
        outcomes
    }

    /// The winning side, once there is one: the guests once the murderer is out, the murderer
    /// once at most two players are left.
    pub fn winner(&self) -> Option<Team> {
        let alive = self.players.values().filter(|p| p.alive);
        let murderer = alive.clone().any(|p| p.role == Role::Murderer);
        if !murderer {
            Some(Team::Guests)
        } else if alive.count() <= 2 {
            Some(Team::Murderer)
        } else {
            None
        }
    }

    /// The sender, if a living player.
    fn living(&self, from: &str) -> Result<&Player, Refusal> {
        let player = self.players.get(from).ok_or(Refusal::NotAPlayer)?;
        player.alive.then_some(player).ok_or(Refusal::Dead)
    }

    /// The room of the sender, if a living player while exploring.
    fn explorer(&self, from: &str) -> Result<&'static str, Refusal> {
        let player = self.living(from)?;
        if !matches!(self.phase, Phase::Explore(_)) {
            return Err(Refusal::NotNow);
        }
        Ok(player.room)
    }

    /// A player leaves the game (disconnected, and the narrator chose not to seat a bot):
    /// eliminated now, which may end the game.
    pub fn forfeit(&mut self, id: &str) -> Vec<Outcome> {
        self.end_whisper(id);
        self.eliminate(id);
        self.accusations
            .retain(|accuser, target| accuser != id && target != id);
        if self.victim.as_deref() == Some(id) {
            self.victim = None;
        }
        match self.winner() {
            Some(team) if !matches!(self.phase, Phase::Over(_)) => {
                self.phase = Phase::Over(team);
                vec![Outcome::Won(team)]
            }
            _ => Vec::new(),
        }
    }

    fn eliminate(&mut self, id: &str) {
        if let Some(p) = self.players.get_mut(id).filter(|p| p.alive) {
            p.alive = false;
            self.eliminated.push(id.to_owned());
        }
    }
}

/// Accusations per target.
fn tally(choices: &BTreeMap<String, String>) -> BTreeMap<String, u32> {
    let mut votes = BTreeMap::new();
    for target in choices.values() {
        *votes.entry(target.clone()).or_insert(0) += 1;
    }
    votes
}

/// The single target with the most accusations; `None` when empty or tied.
fn leader(votes: &BTreeMap<String, u32>) -> Option<String> {
    let best = votes.values().copied().max()?;
    let mut top = votes.iter().filter(|(_, n)| **n == best);
    let (id, _) = top.next()?;
    top.next().is_none().then(|| id.clone())
}
