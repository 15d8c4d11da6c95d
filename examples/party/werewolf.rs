//! Werewolf's rules, sans-IO: who is what, which phase it is, who may vote for whom, who hears
//! whom, who is eliminated and who won. The narrator's app feeds it votes (the senders the
//! server stamped) and turns its answers into moderator actions (stage roles, hearing sets).
//! No clock, no network, no randomness but the seed it is given.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;

/// A player's secret role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Kills one villager each night; wins when wolves are as many as everyone else.
    Werewolf,
    /// Wins when no werewolf is left.
    Villager,
    /// A villager who may ask the narrator about one player each night.
    Seer,
}

impl Role {
    /// The name the game report uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Werewolf => "werewolf",
            Self::Villager => "villager",
            Self::Seer => "seer",
        }
    }
}

/// Which side won.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Team {
    /// The werewolves.
    Werewolves,
    /// The villagers (the seer included).
    Village,
}

/// Where the game is. Each phase has a round number, from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Werewolves see and hear only each other and pick a victim; everyone else is cut off.
    Night(u32),
    /// Everyone alive is on stage and heard; the night's victim is announced.
    Day(u32),
    /// Each living player votes for one living player.
    Vote(u32),
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
    /// The target is not a living player.
    BadTarget,
    /// Not the phase for this action, or not this player's role.
    NotNow,
}

/// Something the narrator announces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The werewolves killed this player in the night.
    Killed(String),
    /// The village voted this player out; `votes` is the tally.
    VotedOut {
        /// Who.
        player: String,
        /// Votes per target.
        votes: BTreeMap<String, u32>,
    },
    /// The vote was tied or empty: nobody leaves.
    NoMajority,
    /// The game is over.
    Won(Team),
}

#[derive(Clone, Debug)]
struct Player {
    role: Role,
    alive: bool,
}

/// One game of Werewolf.
#[derive(Clone, Debug)]
pub struct Game {
    players: BTreeMap<String, Player>,
    phase: Phase,
    /// This phase's choices: voter -> target (votes by day, victims by night).
    choices: BTreeMap<String, String>,
    eliminated: Vec<String>,
}

impl Game {
    /// Deals roles to `ids` (at least 4 players): a quarter of them werewolves (at least one),
    /// one seer, the rest villagers, shuffled by `seed`. The game starts at night 1.
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
                "Werewolf needs at least 4 players, got {}",
                order.len()
            ));
        }
        order.shuffle(&mut SmallRng::seed_from_u64(seed));
        let wolves = (order.len() / 4).max(1);
        let players = order
            .into_iter()
            .enumerate()
            .map(|(i, id)| {
                let role = match i {
                    i if i < wolves => Role::Werewolf,
                    i if i == wolves => Role::Seer,
                    _ => Role::Villager,
                };
                (id, Player { role, alive: true })
            })
            .collect();
        Ok(Self {
            players,
            phase: Phase::Night(1),
            choices: BTreeMap::new(),
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

    /// Players still in the game (on stage), by id.
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

    /// Whom each living player may hear (and see) now: `None` for everyone. At night a werewolf
    /// hears the other living werewolves and everyone else hears nobody; by day everyone hears
    /// everyone. The narrator applies these as the server's hearing sets, so a modified client
    /// cannot listen in.
    pub fn hearing(&self) -> BTreeMap<&str, Option<Vec<&str>>> {
        let night = matches!(self.phase, Phase::Night(_));
        let wolves: Vec<&str> = self
            .players
            .iter()
            .filter(|(_, p)| p.alive && p.role == Role::Werewolf)
            .map(|(id, _)| id.as_str())
            .collect();
        self.players
            .iter()
            .filter(|(_, p)| p.alive)
            .map(|(id, p)| {
                let hears = match (night, p.role) {
                    (false, _) => None,
                    (true, Role::Werewolf) => {
                        Some(wolves.iter().copied().filter(|w| w != id).collect())
                    }
                    (true, _) => Some(Vec::new()),
                };
                (id.as_str(), hears)
            })
            .collect()
    }

    /// A vote (by day) or a werewolf's choice of victim (by night) from `from`, whose identity
    /// the server stamped. A later choice in the same phase replaces an earlier one.
    ///
    /// # Errors
    ///
    /// A [`Refusal`] when the sender may not choose now or the target is not a living player;
    /// the game is unchanged.
    pub fn choose(&mut self, from: &str, target: &str) -> Result<(), Refusal> {
        let player = self.players.get(from).ok_or(Refusal::NotAPlayer)?;
        if !player.alive {
            return Err(Refusal::Dead);
        }
        let allowed = match self.phase {
            Phase::Vote(_) => true,
            Phase::Night(_) => player.role == Role::Werewolf,
            Phase::Day(_) | Phase::Over(_) => false,
        };
        if !allowed {
            return Err(Refusal::NotNow);
        }
        let victim_ok = self.players.get(target).is_some_and(|t| {
            t.alive && !(matches!(self.phase, Phase::Night(_)) && t.role == Role::Werewolf)
        });
        if !victim_ok || target == from {
            return Err(Refusal::BadTarget);
        }
        self.choices.insert(from.to_owned(), target.to_owned());
        Ok(())
    }

    /// The seer asks about `target` at night: `true` if it is a werewolf.
    ///
    /// # Errors
    ///
    /// A [`Refusal`] unless a living seer asks at night about a living player.
    pub fn ask(&self, from: &str, target: &str) -> Result<bool, Refusal> {
        let player = self.players.get(from).ok_or(Refusal::NotAPlayer)?;
        if !player.alive {
            return Err(Refusal::Dead);
        }
        if player.role != Role::Seer || !matches!(self.phase, Phase::Night(_)) {
            return Err(Refusal::NotNow);
        }
        let target = self.players.get(target).filter(|t| t.alive);
        Ok(target.ok_or(Refusal::BadTarget)?.role == Role::Werewolf)
    }

    /// Ends the phase: night -> day (the victim dies), day -> vote, vote -> night (the most
    /// voted player leaves; a tie or no vote removes nobody). Returns what to announce.
    pub fn advance(&mut self) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        let tally = tally(&self.choices);
        self.choices.clear();
        self.phase = match self.phase {
            Phase::Night(round) => {
                if let Some((victim, _)) = leader(&tally) {
                    self.eliminate(&victim);
                    outcomes.push(Outcome::Killed(victim));
                }
                Phase::Day(round)
            }
            Phase::Day(round) => Phase::Vote(round),
            Phase::Vote(round) => {
                match leader(&tally) {
                    Some((player, _)) => {
                        self.eliminate(&player);
                        outcomes.push(Outcome::VotedOut {
                            player,
                            votes: tally,
                        });
                    }
                    None => outcomes.push(Outcome::NoMajority),
                }
                Phase::Night(round + 1)
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

    /// A player leaves the game (disconnected, and the narrator chose not to seat a bot):
    /// eliminated now, which may end the game.
    pub fn forfeit(&mut self, id: &str) -> Vec<Outcome> {
        self.eliminate(id);
        self.choices
            .retain(|voter, target| voter != id && target != id);
        match self.winner() {
            Some(team) if !matches!(self.phase, Phase::Over(_)) => {
                self.phase = Phase::Over(team);
                vec![Outcome::Won(team)]
            }
            _ => Vec::new(),
        }
    }

    /// The winning side, once there is one.
    pub fn winner(&self) -> Option<Team> {
        let alive = self.players.values().filter(|p| p.alive);
        let (wolves, others) = alive.fold((0, 0), |(w, o), p| match p.role {
            Role::Werewolf => (w + 1, o),
            _ => (w, o + 1),
        });
        if wolves == 0 {
            Some(Team::Village)
        } else if wolves >= others {
            Some(Team::Werewolves)
        } else {
            None
        }
    }

    fn eliminate(&mut self, id: &str) {
        if let Some(p) = self.players.get_mut(id).filter(|p| p.alive) {
            p.alive = false;
            self.eliminated.push(id.to_owned());
        }
    }
}

/// Votes per target.
fn tally(choices: &BTreeMap<String, String>) -> BTreeMap<String, u32> {
    let mut votes = BTreeMap::new();
    for target in choices.values() {
        *votes.entry(target.clone()).or_insert(0) += 1;
    }
    votes
}

/// The single target with the most votes; `None` when empty or tied.
fn leader(votes: &BTreeMap<String, u32>) -> Option<(String, u32)> {
    let best = votes.values().copied().max()?;
    let mut top = votes.iter().filter(|(_, n)| **n == best);
    let (id, _) = top.next()?;
    top.next().is_none().then(|| (id.clone(), best))
}
