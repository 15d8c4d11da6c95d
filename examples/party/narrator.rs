//! The narrator: the channel's moderator and the game's only authority. It deals roles, runs
//! the phase clock, turns the rules' hearing sets into the server's (so a modified client
//! cannot listen in), moves players on and off the stage, takes votes from the senders the
//! server stamped, invites spectators who raised a hand, and fills or closes the seats of
//! players who disconnect.

use std::collections::{BTreeMap, BTreeSet};

use bevy::prelude::*;
use bevy_livestage::prelude::*;
use bevy_livestage::{HandChanged, RaiseHand};

use crate::Options;
use crate::lobby::Minter;
use crate::messages::{self, FromNarrator, FromPlayer, NARRATOR};
use crate::report::{Report, Vote};
use crate::rules::{Mode, Rules};
use crate::seat::{self, Seat, SeatKind};

/// Marks the narrator's membership (the channel entity).
#[derive(Component)]
pub struct NarratorSeat;

/// What becomes of a player who disconnects mid-game.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Vacancy {
    /// A bot takes the seat and plays on.
    Bot,
    /// The player is out of the game.
    Eliminate,
}

/// How long a player may be missing before the seat is filled or closed (a reconnect within
/// this time changes nothing).
const GRACE_SECS: f32 = 3.0;
/// How long to wait for the seats before dealing anyway.
const LOBBY_SECS: f32 = 20.0;

/// The phases, for the report: written by the narrator, read by `report`.
#[derive(Message, Clone, Debug)]
pub enum PhaseChange {
    /// A phase began (its hearing sets were just sent).
    Began {
        /// Phase name.
        name: &'static str,
        /// Round.
        round: u32,
        /// Murder Mystery rooms.
        rooms: BTreeMap<String, Vec<String>>,
    },
    /// A hearing set was sent (the report checks nothing reached anyone beyond it).
    Hearing {
        /// Who listens.
        listener: String,
        /// Whom it may hear; `None` is everyone.
        hears: Option<Vec<String>>,
    },
    /// The phase is ending (before the next one's hearing sets).
    Ended,
    /// The game ended.
    Over,
}

/// The game table: the narrator's state.
#[derive(Resource)]
pub struct Table {
    /// The narrator's channel entity.
    pub narrator: Entity,
    /// Seats of players.
    pub players: Vec<String>,
    /// Seats of spectators.
    pub spectators: Vec<String>,
    /// The rules, once dealt.
    pub rules: Option<Rules>,
    /// Which game.
    pub mode: Mode,
    /// When the current phase ends (app seconds).
    pub phase_ends: f32,
    /// The clock is stopped.
    pub paused: bool,
    /// End the phase now (the narrator's button).
    pub skip: bool,
    /// Raised hands waiting for an invitation.
    pub hands: BTreeSet<String>,
    /// Spectators invited on stage.
    pub guests: BTreeSet<String>,
    /// What was announced, in order.
    pub log: Vec<String>,
    /// The winner once over (`none` when the rounds ran out).
    pub winner: Option<String>,
    /// When the game ended.
    pub finished_at: Option<f32>,
    phase_secs: f32,
    rounds: u32,
    seed: u64,
    vacancy: Vacancy,
    /// Each player's participant entity as the narrator sees it (a new one is a new session).
    sessions: BTreeMap<String, Entity>,
    missing_since: BTreeMap<String, f32>,
    /// The hearing sets last sent.
    applied: BTreeMap<String, Option<Vec<String>>>,
    last_phase: Option<FromNarrator>,
}

impl Table {
    /// A table for `players` and `spectators`, before dealing.
    pub fn new(
        narrator: Entity,
        players: Vec<String>,
        spectators: Vec<String>,
        options: &Options,
    ) -> Self {
        Self {
            narrator,
            players,
            spectators,
            rules: None,
            mode: options.mode,
            phase_ends: 0.0,
            paused: false,
            skip: false,
            hands: BTreeSet::new(),
            guests: BTreeSet::new(),
            log: Vec::new(),
            winner: None,
            finished_at: None,
            phase_secs: options.phase_secs(),
            rounds: options.rounds,
            seed: options.seed,
            vacancy: options.on_disconnect,
            sessions: BTreeMap::new(),
            missing_since: BTreeMap::new(),
            applied: BTreeMap::new(),
            last_phase: None,
        }
    }

    /// Announces `text` to everyone and prints it in the game log.
    fn say(&mut self, commands: &mut Commands, now: f32, text: String) {
        println!("[{now:6.1}s] {text}");
        self.log.push(text.clone());
        broadcast(commands, self.narrator, &FromNarrator::Announce { text });
    }

    /// Invites a spectator who raised a hand on stage now.
    pub fn invite(&mut self, commands: &mut Commands, report: &mut Report, now: f32, user: &str) {
        if !self.hands.remove(user) {
            return;
        }
        moderate(commands, self.narrator, Action::Promote(user.into()));
        self.guests.insert(user.into());
        report.stage(user, "host", self.rules.as_ref());
        self.say(commands, now, format!("{user} is invited on stage."));
    }
}

pub(crate) fn plugin(app: &mut App) {
    app.add_message::<PhaseChange>().add_systems(
        Update,
        (deal, hear_players, hands, watch_seats, clock)
            .chain()
            .run_if(resource_exists::<Table>)
            .in_set(crate::PartySystems::Narrator),
    );
}

fn moderate(commands: &mut Commands, narrator: Entity, action: Action) {
    commands.trigger(Moderate {
        entity: narrator,
        action,
    });
}

fn broadcast(commands: &mut Commands, narrator: Entity, message: &FromNarrator) {
    tell(commands, narrator, Vec::new(), message);
}

fn tell(commands: &mut Commands, narrator: Entity, to: Vec<String>, message: &FromNarrator) {
    commands.trigger(SendData {
        entity: narrator,
        to,
        payload: messages::encode(message),
    });
}

/// Who is on the narrator's stage right now: user -> participant entity.
fn present(
    table: &Table,
    participants: &Query<(Entity, &Participant, &ParticipantOf)>,
) -> BTreeMap<String, Entity> {
    participants
        .iter()
        .filter(|(_, _, of)| of.0 == table.narrator)
        .map(|(entity, p, _)| (p.user.clone(), entity))
        .collect()
}

/// Deals once every seat is on stage (or after the lobby wait, with whoever came).
fn deal(
    mut commands: Commands,
    time: Res<Time<Real>>,
    mut table: ResMut<Table>,
    mut report: ResMut<Report>,
    mut changes: MessageWriter<PhaseChange>,
    narrator: Query<Has<Connected>, With<NarratorSeat>>,
    participants: Query<(Entity, &Participant, &ParticipantOf)>,
    mut exit: MessageWriter<AppExit>,
) {
    let table = &mut *table;
    if table.rules.is_some() || !narrator.get(table.narrator).unwrap_or(false) {
        return;
    }
    let now = time.elapsed_secs();
    let here = present(table, &participants);
    let seated: Vec<String> = table
        .players
        .iter()
        .filter(|p| here.contains_key(*p))
        .cloned()
        .collect();
    if seated.len() < table.players.len() && now < LOBBY_SECS {
        return;
    }
    let rules = match Rules::new(table.mode, &seated, table.seed) {
        Ok(rules) => rules,
        Err(e) => {
            eprintln!("party: cannot start: {e} (seated: {seated:?})");
            exit.write(AppExit::error());
            table.finished_at = Some(now);
            return;
        }
    };
    let narrator = table.narrator;
    table.say(
        &mut commands,
        now,
        format!("{} begins with {}.", table.mode.as_str(), seated.join(", ")),
    );
    for player in &seated {
        let role = FromNarrator::Role {
            role: rules.roles()[player].to_owned(),
            allies: rules.allies(player),
        };
        tell(&mut commands, narrator, vec![player.clone()], &role);
    }
    table.players = seated;
    table.sessions = here;
    report.begin(&rules, &table.spectators);
    table.rules = Some(rules);
    begin_phase(&mut commands, table, &mut report, &mut changes, now);
}

/// Applies the phase: hearing sets, stage roles, the announcement, the clock.
fn begin_phase(
    commands: &mut Commands,
    table: &mut Table,
    report: &mut Report,
    changes: &mut MessageWriter<PhaseChange>,
    now: f32,
) {
    let Some(rules) = &table.rules else {
        return;
    };
    let phase = rules.phase();
    let secret = matches!(phase.name, "night" | "explore");
    let narrator = table.narrator;
    let alive = rules.alive();
    changes.write(PhaseChange::Began {
        name: phase.name,
        round: phase.round,
        rooms: rules.rooms(),
    });
    sync_hearing(commands, table, changes, true);
    let Some(rules) = &table.rules else {
        return;
    };
    let message = FromNarrator::Phase {
        mode: rules.mode().as_str().into(),
        name: phase.name.into(),
        round: phase.round,
        seconds: table.phase_secs,
        alive,
        rooms: rules.rooms(),
    };
    broadcast(commands, narrator, &message);
    table.last_phase = Some(message);
    table.phase_ends = now + table.phase_secs;
    let title = match phase.name {
        "night" => format!("Night {} falls: werewolves, wake up.", phase.round),
        "day" => format!("Day {}: everyone may speak.", phase.round),
        "vote" => format!("Vote {}: choose whom to eliminate.", phase.round),
        "explore" => format!("Round {}: explore the house.", phase.round),
        "accuse" => format!("Round {}: accuse someone.", phase.round),
        other => other.to_owned(),
    };
    table.say(commands, now, title);
    if secret {
        // Guests go back to the audience before anyone is isolated.
        for guest in std::mem::take(&mut table.guests) {
            moderate(commands, narrator, Action::Demote(guest.clone()));
            report.stage(&guest, "audience", table.rules.as_ref());
            table.say(commands, now, format!("{guest} returns to the audience."));
        }
    } else {
        for user in table.hands.clone() {
            table.invite(commands, report, now, &user);
        }
    }
}

/// Sends the hearing sets the rules want now (only those that changed, or all with `force`):
/// the rules' sets for living players, the narrator for watchers during secret phases, and the
/// narrator always, so its messages reach everyone.
fn sync_hearing(
    commands: &mut Commands,
    table: &mut Table,
    changes: &mut MessageWriter<PhaseChange>,
    force: bool,
) {
    let Some(rules) = &table.rules else {
        return;
    };
    let over = rules.winner().is_some();
    let secret = !over && matches!(rules.phase().name, "night" | "explore");
    let mut wanted: BTreeMap<String, Option<Vec<String>>> = rules
        .hearing()
        .into_iter()
        .map(|(player, hears)| {
            let hears = hears.filter(|_| !over).map(|mut h| {
                h.push(NARRATOR.into());
                h
            });
            (player, hears)
        })
        .collect();
    for watcher in table.players.iter().chain(&table.spectators) {
        wanted
            .entry(watcher.clone())
            .or_insert_with(|| secret.then(|| vec![NARRATOR.to_owned()]));
    }
    for (listener, hears) in wanted {
        if !force && table.applied.get(&listener) == Some(&hears) {
            continue;
        }
        let action = Action::SetHearing {
            listener: listener.clone(),
            hears: hears.clone(),
        };
        moderate(commands, table.narrator, action);
        changes.write(PhaseChange::Hearing {
            listener: listener.clone(),
            hears: hears.clone(),
        });
        table.applied.insert(listener, hears);
    }
}

/// Votes, choices and questions from the players.
fn hear_players(
    mut commands: Commands,
    time: Res<Time<Real>>,
    mut table: ResMut<Table>,
    mut report: ResMut<Report>,
    mut received: MessageReader<DataReceived>,
    mut changes: MessageWriter<PhaseChange>,
) {
    let table = &mut *table;
    let now = time.elapsed_secs();
    let narrator = table.narrator;
    for message in received.read() {
        if message.channel != narrator {
            continue;
        }
        let Some(rules) = table.rules.as_mut() else {
            continue;
        };
        let phase = rules.phase();
        let action = messages::decode::<FromPlayer>(&message.payload);
        // What the payload claims about its sender is recorded, never believed.
        let claimed = serde_json::from_slice::<serde_json::Value>(&message.payload)
            .ok()
            .and_then(|v| v.get("from").and_then(|f| f.as_str()).map(str::to_owned));
        let result = match &action {
            Ok(action) => rules.act(&message.from, action),
            Err(e) => Err(e.clone()),
        };
        report.votes.push(Vote {
            phase: phase.name.into(),
            round: phase.round,
            from: message.from.clone(),
            claimed,
            action: serde_json::from_slice(&message.payload).unwrap_or_default(),
            accepted: result.is_ok(),
            refusal: result.as_ref().err().cloned(),
        });
        // A move or a whisper changes who hears whom right away.
        sync_hearing(&mut commands, table, &mut changes, false);
        match result {
            Ok(Some(answer)) => tell(&mut commands, narrator, vec![message.from.clone()], &answer),
            Ok(None) => {}
            Err(why) => {
                println!(
                    "[{now:6.1}s] (ignored {} from {}: {why})",
                    phase.name, message.from
                );
            }
        }
    }
}

/// Raised hands from the audience.
fn hands(
    mut commands: Commands,
    time: Res<Time<Real>>,
    mut table: ResMut<Table>,
    mut changed: MessageReader<HandChanged>,
) {
    let table = &mut *table;
    let now = time.elapsed_secs();
    for change in changed.read() {
        if change.channel != table.narrator || table.players.contains(&change.user) {
            continue;
        }
        if change.raised && table.hands.insert(change.user.clone()) {
            let text = format!("{} raised a hand.", change.user);
            table.say(&mut commands, now, text);
        } else if !change.raised {
            table.hands.remove(&change.user);
        }
    }
}

/// Players who reappear get their role and the phase again (and the phase's hearing set, which
/// belongs to the old session); players missing past the grace time are replaced or removed.
fn watch_seats(
    mut commands: Commands,
    time: Res<Time<Real>>,
    mut table: ResMut<Table>,
    mut report: ResMut<Report>,
    livestage: Res<Livestage>,
    minter: Res<Minter>,
    options: Res<Options>,
    mut changes: MessageWriter<PhaseChange>,
    participants: Query<(Entity, &Participant, &ParticipantOf)>,
    seats: Query<&Seat>,
) {
    let table = &mut *table;
    let now = time.elapsed_secs();
    if table.rules.is_none() || table.finished_at.is_some() {
        return;
    }
    let here = present(table, &participants);
    let alive = table.rules.as_ref().map(Rules::alive).unwrap_or_default();
    for player in alive {
        match here.get(&player) {
            Some(&entity) => {
                table.missing_since.remove(&player);
                if table.sessions.insert(player.clone(), entity) != Some(entity) {
                    welcome_back(&mut commands, table, &mut changes, &player);
                }
            }
            None => {
                let since = *table.missing_since.entry(player.clone()).or_insert(now);
                if now - since < GRACE_SECS {
                    continue;
                }
                table.missing_since.remove(&player);
                table.sessions.remove(&player);
                match table.vacancy {
                    Vacancy::Bot => {
                        table.say(
                            &mut commands,
                            now,
                            format!("{player} left; a bot takes the seat."),
                        );
                        let local = seats.iter().any(|s| s.user == player);
                        match minter.token(&livestage, &player, grants::HOST) {
                            Ok(token) if !local => {
                                seat::spawn(
                                    &mut commands,
                                    &player,
                                    SeatKind::Player,
                                    token,
                                    false,
                                    &options,
                                );
                            }
                            Ok(_) => {}
                            Err(e) => error!("cannot seat a bot for {player}: {e:#}"),
                        }
                    }
                    Vacancy::Eliminate => {
                        table.say(&mut commands, now, format!("{player} left the game."));
                        let outcomes = table
                            .rules
                            .as_mut()
                            .map(|r| r.forfeit(&player))
                            .unwrap_or_default();
                        report.stage(&player, "gone", table.rules.as_ref());
                        for text in outcomes {
                            table.say(&mut commands, now, text);
                        }
                    }
                }
            }
        }
    }
}

/// A player's new session: its role, the phase and the phase's hearing set.
fn welcome_back(
    commands: &mut Commands,
    table: &mut Table,
    changes: &mut MessageWriter<PhaseChange>,
    player: &str,
) {
    table.applied.remove(player);
    sync_hearing(commands, table, changes, false);
    let Some(rules) = &table.rules else {
        return;
    };
    let to = vec![player.to_owned()];
    if let Some(role) = rules.roles().get(player) {
        let role = FromNarrator::Role {
            role: (*role).to_owned(),
            allies: rules.allies(player),
        };
        tell(commands, table.narrator, to.clone(), &role);
    }
    if let Some(phase) = &table.last_phase {
        tell(commands, table.narrator, to, phase);
    }
}

/// Ends phases on time (or on the narrator's button) and ends the game.
fn clock(
    mut commands: Commands,
    time: Res<Time<Real>>,
    mut table: ResMut<Table>,
    mut report: ResMut<Report>,
    mut changes: MessageWriter<PhaseChange>,
    options: Res<Options>,
    mut exit: MessageWriter<AppExit>,
) {
    let table = &mut *table;
    let now = time.elapsed_secs();
    if let Some(at) = table.finished_at {
        // Headless games end the app once the last messages had time to arrive.
        if options.headless && options.screenshot.is_none() && now > at + 1.5 {
            exit.write(AppExit::Success);
        }
        return;
    }
    let Some(rules) = table.rules.as_mut() else {
        return;
    };
    let over = rules.winner().is_some();
    let due = !table.paused && now >= table.phase_ends;
    if !over && !due && !std::mem::take(&mut table.skip) {
        return;
    }
    let before = rules.eliminated().len();
    let mut outcomes = Vec::new();
    if !over {
        changes.write(PhaseChange::Ended);
        outcomes = rules.advance();
    }
    let newly_out: Vec<String> = rules.eliminated()[before..].to_vec();
    let phase = rules.phase();
    let winner = rules.winner();
    for text in outcomes {
        table.say(&mut commands, now, text);
    }
    for player in newly_out {
        moderate(
            &mut commands,
            table.narrator,
            Action::Demote(player.clone()),
        );
        report.stage(&player, "audience", table.rules.as_ref());
    }
    let out_of_rounds = phase.round > table.rounds;
    if winner.is_none() && !out_of_rounds {
        begin_phase(&mut commands, table, &mut report, &mut changes, now);
        return;
    }
    let winner = winner.unwrap_or("none").to_owned();
    if winner == "none" {
        table.say(
            &mut commands,
            now,
            format!("{} rounds played: nobody wins.", table.rounds),
        );
    }
    broadcast(
        &mut commands,
        table.narrator,
        &FromNarrator::Over {
            winner: winner.clone(),
        },
    );
    // After the game everyone hears everyone again.
    sync_hearing(&mut commands, table, &mut changes, false);
    table.winner = Some(winner);
    table.finished_at = Some(now);
    changes.write(PhaseChange::Over);
}

/// A person's raised hand (from the UI).
pub fn raise_hand(commands: &mut Commands, seat: Entity, raised: bool) {
    commands.trigger(RaiseHand {
        entity: seat,
        raised,
    });
}
