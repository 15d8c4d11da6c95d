//! The game report: who played what, what happened, and — for every phase — whose voice and
//! video each seat in this process actually received, counted by the playout (not inferred
//! from the rules). Written as JSON when the game ends (`--report FILE`).

use std::collections::{BTreeMap, BTreeSet};

use bevy::prelude::*;
use bevy_livestage::prelude::*;
use serde::Serialize;

use crate::Options;
use crate::messages::NARRATOR;
use crate::narrator::{PhaseChange, Table};
use crate::rules::Rules;
use crate::seat::Seat;

/// Media in flight when the hearing sets change (jitter buffer, frames already forwarded) is
/// not counted: a phase's window opens this long after it began.
const SETTLE_SECS: f32 = 0.6;

/// Everything the report holds.
#[derive(Resource, Default, Serialize)]
pub struct Report {
    /// `werewolf` or `mystery`.
    pub mode: String,
    /// The winning side (`none` when the rounds ran out).
    pub winner: Option<String>,
    /// Rounds started.
    pub rounds: u32,
    /// Players out of the game, in order.
    pub eliminated: Vec<String>,
    /// User id -> game role (`narrator`, `spectator` included).
    pub players: BTreeMap<String, String>,
    /// Per phase, what each seat received.
    pub phases: Vec<PhaseRecord>,
    /// Every action the narrator received, with the stamped sender.
    pub votes: Vec<Vote>,
    /// Stage moves (eliminations, invitations).
    pub stage: Vec<StageChange>,
    /// The narrator's announcements.
    pub log: Vec<String>,
    /// Seat -> frames of the narrator's screen share it received (with `--share`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub screen: BTreeMap<String, u64>,
}

/// One phase's measurement.
#[derive(Serialize, Clone, Debug)]
pub struct PhaseRecord {
    /// Phase name.
    pub name: String,
    /// Round.
    pub round: u32,
    /// Seconds measured (the phase minus the settling time).
    pub window_secs: f32,
    /// Seat -> users whose audio frames it received in the window.
    pub heard: BTreeMap<String, Vec<String>>,
    /// Seat -> users whose video frames it received in the window.
    pub seen: BTreeMap<String, Vec<String>>,
    /// Seat -> everyone the server was told it may hear at some point in the phase (the union
    /// of its hearing sets; `*` is everyone). `heard` and `seen` must stay inside it.
    pub allowed: BTreeMap<String, Vec<String>>,
    /// Murder Mystery rooms at the start of the phase.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub rooms: BTreeMap<String, Vec<String>>,
}

/// An action as the narrator received it.
#[derive(Serialize, Clone, Debug)]
pub struct Vote {
    /// Phase name.
    pub phase: String,
    /// Round.
    pub round: u32,
    /// The sender the server stamped: the only identity the narrator uses.
    pub from: String,
    /// The sender the payload claimed, if it claimed one (ignored).
    pub claimed: Option<String>,
    /// The payload.
    pub action: serde_json::Value,
    /// Whether the rules took it.
    pub accepted: bool,
    /// Why not.
    pub refusal: Option<String>,
}

/// Someone moved on or off the stage.
#[derive(Serialize, Clone, Debug)]
pub struct StageChange {
    /// Who.
    pub user: String,
    /// `host`, `audience` or `gone`.
    pub role: String,
    /// The phase it happened in.
    pub phase: String,
    /// The round.
    pub round: u32,
}

impl Report {
    /// The game was dealt.
    pub fn begin(&mut self, rules: &Rules, spectators: &[String]) {
        self.mode = rules.mode().as_str().into();
        self.players = rules
            .roles()
            .into_iter()
            .map(|(id, role)| (id, role.to_owned()))
            .collect();
        self.players.insert(NARRATOR.into(), "narrator".into());
        for s in spectators {
            self.players.insert(s.clone(), "spectator".into());
        }
    }

    /// Records a stage move.
    pub fn stage(&mut self, user: &str, role: &str, rules: Option<&Rules>) {
        let phase = rules.map(Rules::phase);
        self.stage.push(StageChange {
            user: user.into(),
            role: role.into(),
            phase: phase.map_or("lobby", |p| p.name).into(),
            round: phase.map_or(0, |p| p.round),
        });
    }
}

/// Audio and video frame totals: (seat, remote user) -> (audio, video).
type Counters = BTreeMap<(String, String), (u64, u64)>;

/// The phase being measured.
#[derive(Resource, Default)]
struct Window {
    phase: Option<(String, u32, BTreeMap<String, Vec<String>>)>,
    opens_at: f32,
    opened_at: f32,
    baseline: Option<Counters>,
    allowed: BTreeMap<String, BTreeSet<String>>,
}

pub(crate) fn plugin(app: &mut App) {
    app.init_resource::<Report>()
        .init_resource::<Window>()
        .add_systems(Update, measure.in_set(crate::PartySystems::Report));
}

fn measure(
    time: Res<Time<Real>>,
    mut changes: MessageReader<PhaseChange>,
    mut window: ResMut<Window>,
    mut report: ResMut<Report>,
    table: Option<Res<Table>>,
    options: Res<Options>,
    livestage: Res<Livestage>,
    seats: Query<&Seat>,
    participants: Query<(&Participant, &ParticipantOf), Without<LocalParticipant>>,
) {
    let now = time.elapsed_secs();
    let counters = || snapshot(&livestage, &seats, &participants);
    for change in changes.read() {
        match change {
            PhaseChange::Began { name, round, rooms } => {
                *window = Window {
                    phase: Some(((*name).into(), *round, rooms.clone())),
                    opens_at: now + SETTLE_SECS,
                    opened_at: 0.0,
                    baseline: None,
                    allowed: BTreeMap::new(),
                };
                report.rounds = report.rounds.max(*round);
            }
            PhaseChange::Hearing { listener, hears } => {
                let allowed = window.allowed.entry(listener.clone()).or_default();
                match hears {
                    Some(hears) => allowed.extend(hears.iter().cloned()),
                    None => {
                        allowed.insert("*".into());
                    }
                }
            }
            PhaseChange::Ended => {
                let Some((name, round, rooms)) = window.phase.take() else {
                    continue;
                };
                let Some(before) = window.baseline.take() else {
                    warn!("{name} {round} was too short to measure");
                    continue;
                };
                let after = counters();
                let mut record = PhaseRecord {
                    name,
                    round,
                    window_secs: now - window.opened_at,
                    heard: BTreeMap::new(),
                    seen: BTreeMap::new(),
                    allowed: std::mem::take(&mut window.allowed)
                        .into_iter()
                        .map(|(seat, set)| (seat, set.into_iter().collect()))
                        .collect(),
                    rooms,
                };
                for seat in &seats {
                    record.heard.insert(seat.user.clone(), Vec::new());
                    record.seen.insert(seat.user.clone(), Vec::new());
                }
                for ((seat, remote), (audio, video)) in &after {
                    let (audio0, video0) = before
                        .get(&(seat.clone(), remote.clone()))
                        .copied()
                        .unwrap_or_default();
                    if *audio > audio0 {
                        record
                            .heard
                            .entry(seat.clone())
                            .or_default()
                            .push(remote.clone());
                    }
                    if *video > video0 {
                        record
                            .seen
                            .entry(seat.clone())
                            .or_default()
                            .push(remote.clone());
                    }
                }
                report.phases.push(record);
            }
            PhaseChange::Over => {
                if let Some(table) = &table {
                    report.winner = table.winner.clone();
                    report.log = table.log.clone();
                    report.eliminated = table
                        .rules
                        .as_ref()
                        .map(Rules::eliminated)
                        .unwrap_or_default();
                }
                if let Some(path) = &options.report {
                    match serde_json::to_vec_pretty(&*report).map(|json| std::fs::write(path, json))
                    {
                        Ok(Ok(())) => println!("report written to {}", path.display()),
                        Ok(Err(e)) => eprintln!("party: cannot write {}: {e}", path.display()),
                        Err(e) => eprintln!("party: cannot encode the report: {e}"),
                    }
                }
            }
        }
    }
    if window.phase.is_some() && window.baseline.is_none() && now >= window.opens_at {
        window.baseline = Some(counters());
        window.opened_at = now;
    }
}

/// What every local seat has received from every remote participant so far.
fn snapshot(
    livestage: &Livestage,
    seats: &Query<&Seat>,
    participants: &Query<(&Participant, &ParticipantOf), Without<LocalParticipant>>,
) -> Counters {
    participants
        .iter()
        .filter_map(|(participant, of)| {
            let seat = seats.get(of.0).ok()?;
            let stats = livestage.received(of.0, participant.media_id)?;
            let audio = stats.audio_played + stats.audio_recovered;
            Some((
                (seat.user.clone(), participant.user.clone()),
                (audio, stats.video_frames),
            ))
        })
        .collect()
}
