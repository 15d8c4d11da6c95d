//! A seat: one player's (or spectator's) membership of the stage channel in this process. It
//! publishes an avatar (coloured card, name, frame counter) and a voice while on stage, learns
//! the game only from the narrator's data messages, and acts through data messages: a bot
//! picks random legal choices, a person uses the buttons in `ui`.

use std::collections::BTreeMap;

use bevy::prelude::*;
use bevy_livestage::prelude::*;
use font8x8::{BASIC_FONTS, UnicodeFonts};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::messages::{self, FromNarrator, FromPlayer, NARRATOR};
use crate::{Options, STAGE};

/// Avatar video size and rate: small, so a dozen streams decode on a laptop.
pub const AVATAR: UVec2 = UVec2::new(320, 240);
const AVATAR_FPS: f32 = 15.0;

/// Avatar colours, in seating order; distinct enough to count tiles in a screenshot.
pub const PALETTE: [[u8; 3]; 8] = [
    [230, 60, 60],
    [60, 170, 75],
    [65, 105, 225],
    [240, 200, 40],
    [170, 80, 210],
    [40, 200, 200],
    [245, 130, 40],
    [240, 110, 190],
];

/// Player or spectator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeatKind {
    /// Dealt a role; on stage while alive.
    Player,
    /// Watches from the audience; may raise a hand to be invited on stage.
    Spectator,
}

/// A membership of the stage channel (on the channel entity).
#[derive(Component, Clone, Debug)]
pub struct Seat {
    /// User id.
    pub user: String,
    /// Player or spectator.
    pub kind: SeatKind,
    /// A person decides (buttons, microphone) rather than a bot.
    pub human: bool,
    /// A tampered client (see `--tamper`).
    pub tamper: bool,
    /// Avatar colour.
    pub colour: [u8; 3],
    /// The bot's voice pitch.
    pub tone: f32,
}

/// What a seat knows of the game: only what the narrator told it.
#[derive(Component, Clone, Debug, Default)]
pub struct Knowledge {
    /// Its secret role.
    pub role: Option<String>,
    /// Who shares it.
    pub allies: Vec<String>,
    /// Phase name and round.
    pub phase: Option<(String, u32)>,
    /// When the phase began (app seconds) and how long it lasts.
    pub phase_began: f32,
    /// Phase length.
    pub seconds: f32,
    /// Living players.
    pub alive: Vec<String>,
    /// Murder Mystery rooms.
    pub rooms: BTreeMap<String, Vec<String>>,
    /// Announcements, newest last.
    pub news: Vec<String>,
    /// The winner, once the game is over.
    pub winner: Option<String>,
    /// This phase's choice, once made.
    pub chose: Option<String>,
}

impl Knowledge {
    /// The room `user` is in.
    pub fn room_of(&self, user: &str) -> Option<&str> {
        self.rooms
            .iter()
            .find(|(_, who)| who.iter().any(|w| w == user))
            .map(|(room, _)| room.as_str())
    }
}

/// A bot's dice and when it acts next.
#[derive(Component)]
struct Brain {
    rng: SmallRng,
    act_at: Option<f32>,
    hand_raised: bool,
}

/// Publishing state and the avatar painter.
#[derive(Component)]
pub struct OnAir {
    timer: Timer,
    /// Frames painted.
    pub frame: u64,
}

pub(crate) fn plugin(app: &mut App) {
    app.add_systems(
        Update,
        (
            listen,
            go_on_air,
            act,
            raise_hands,
            paint_avatars,
            seat_taken,
        )
            .chain()
            .in_set(crate::PartySystems::Seats),
    );
}

/// Spawns a seat and joins the stage: players on stage, spectators in the audience.
pub fn spawn(
    commands: &mut Commands,
    user: &str,
    kind: SeatKind,
    token: String,
    human: bool,
    options: &Options,
) -> Entity {
    let index = crate::lobby::NAMES
        .iter()
        .position(|n| *n == user)
        .unwrap_or(user.len());
    let seed = options.seed ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let seat = Seat {
        user: user.to_owned(),
        kind,
        human,
        tamper: options.tamper.as_deref() == Some(user),
        colour: PALETTE[index % PALETTE.len()],
        tone: 180.0 + 35.0 * index as f32,
    };
    let entity = commands
        .spawn((
            Channel::new(STAGE),
            seat,
            Knowledge::default(),
            Brain {
                rng: SmallRng::seed_from_u64(seed),
                act_at: None,
                hand_raised: false,
            },
        ))
        .id();
    commands.trigger(match kind {
        SeatKind::Player => Join::host(entity, token),
        SeatKind::Spectator => Join::audience(entity, token),
    });
    entity
}

/// Sends a player's action to the narrator.
pub fn send(commands: &mut Commands, seat: Entity, action: &FromPlayer) {
    commands.trigger(SendData {
        entity: seat,
        to: vec![NARRATOR.into()],
        payload: messages::encode(action),
    });
}

/// The narrator's messages (and only the narrator's) update what a seat knows.
fn listen(
    mut received: MessageReader<DataReceived>,
    time: Res<Time<Real>>,
    mut seats: Query<(&Seat, &mut Knowledge, &mut Brain)>,
) {
    let now = time.elapsed_secs();
    for message in received.read() {
        let Ok((seat, mut knowledge, mut brain)) = seats.get_mut(message.channel) else {
            continue;
        };
        if message.from != NARRATOR {
            continue;
        }
        let news = match messages::decode::<FromNarrator>(&message.payload) {
            Ok(news) => news,
            Err(e) => {
                warn!("{}: {e}", seat.user);
                continue;
            }
        };
        match news {
            FromNarrator::Phase {
                name,
                round,
                seconds,
                alive,
                rooms,
                ..
            } => {
                knowledge.phase = Some((name, round));
                knowledge.phase_began = now;
                knowledge.seconds = seconds;
                knowledge.alive = alive;
                knowledge.rooms = rooms;
                knowledge.chose = None;
                // Bots think for a while, then act well before the phase ends.
                let delay = brain.rng.gen_range(0.15..0.55) * seconds;
                brain.act_at = Some(now + delay);
            }
            FromNarrator::Role { role, allies } => {
                knowledge.role = Some(role);
                knowledge.allies = allies;
            }
            FromNarrator::Announce { text } => knowledge.news.push(text),
            FromNarrator::Seen { target, werewolf } => {
                let what = if werewolf {
                    "a werewolf"
                } else {
                    "not a werewolf"
                };
                knowledge.news.push(format!("(to you) {target} is {what}."));
            }
            FromNarrator::Over { winner } => knowledge.winner = Some(winner),
        }
    }
}

/// On stage: publish the avatar and a voice; back in the audience: stop.
fn go_on_air(
    mut commands: Commands,
    seats: Query<(Entity, &Seat, Has<OnAir>)>,
    me: Query<(&ParticipantOf, Has<Host>), With<LocalParticipant>>,
) {
    for (entity, seat, on_air) in &seats {
        let host = me.iter().any(|(of, host)| of.0 == entity && host);
        if host && !on_air {
            commands.trigger(Publish {
                entity,
                video: Some(LocalVideo::Custom {
                    size: AVATAR,
                    fps: AVATAR_FPS,
                }),
                audio: Some(if seat.human {
                    LocalAudio::Microphone
                } else {
                    LocalAudio::Tone(seat.tone)
                }),
            });
            commands.entity(entity).insert(OnAir {
                timer: Timer::from_seconds(1.0 / AVATAR_FPS, TimerMode::Repeating),
                frame: 0,
            });
        } else if !host && on_air {
            commands.trigger(Unpublish { entity });
            commands.entity(entity).remove::<OnAir>();
        }
    }
}

/// Bots act once per phase, at a random moment.
fn act(
    mut commands: Commands,
    time: Res<Time<Real>>,
    mut seats: Query<(
        Entity,
        &Seat,
        &mut Knowledge,
        &mut Brain,
        Option<&Participants>,
    )>,
) {
    let now = time.elapsed_secs();
    for (entity, seat, mut knowledge, mut brain, participants) in &mut seats {
        if seat.human || brain.act_at.is_none_or(|at| now < at) {
            continue;
        }
        brain.act_at = None;
        if seat.tamper {
            // A modified client asks for everyone's media; the server's hearing sets decide.
            for &participant in participants.map(Participants::entities).unwrap_or_default() {
                commands.trigger(Subscribe::all(participant, Layer::High));
            }
        }
        for action in decide(seat, &knowledge, &mut brain.rng) {
            if let FromPlayer::Choose { target } = &action {
                knowledge.chose = Some(target.clone());
            }
            if seat.tamper {
                commands.trigger(SendData {
                    entity,
                    to: vec![NARRATOR.into()],
                    payload: forged(&action, seat, &knowledge),
                });
            } else {
                send(&mut commands, entity, &action);
            }
        }
    }
}

/// A tampered vote: the payload claims to come from another player.
fn forged(action: &FromPlayer, seat: &Seat, knowledge: &Knowledge) -> Vec<u8> {
    let mut value = serde_json::to_value(action).unwrap_or_default();
    let victim = knowledge.alive.iter().find(|p| **p != seat.user);
    if let (Some(map), Some(victim)) = (value.as_object_mut(), victim) {
        map.insert("from".into(), victim.clone().into());
        map.insert("voter".into(), victim.clone().into());
    }
    messages::encode(&value)
}

/// A bot's random but legal choices for the phase.
fn decide(seat: &Seat, knowledge: &Knowledge, rng: &mut SmallRng) -> Vec<FromPlayer> {
    let me = seat.user.as_str();
    let Some((phase, _)) = &knowledge.phase else {
        return Vec::new();
    };
    if seat.kind != SeatKind::Player || (!knowledge.alive.iter().any(|p| p == me) && !seat.tamper) {
        return Vec::new();
    }
    let role = knowledge.role.as_deref().unwrap_or("");
    let others: Vec<&String> = knowledge
        .alive
        .iter()
        .filter(|p| *p != me && (role != "werewolf" || !knowledge.allies.contains(p)))
        .collect();
    let pick = |rng: &mut SmallRng| others.choose(rng).map(|t| (*t).clone());
    match (phase.as_str(), role) {
        // The pack agrees (they hear each other; bots agree by the same rule): a split vote
        // would kill nobody.
        ("night", "werewolf") => {
            let round = knowledge.phase.as_ref().map_or(0, |(_, r)| *r as usize);
            let victim = (!others.is_empty()).then(|| others[(round * 7) % others.len()].clone());
            victim
                .map(|target| FromPlayer::Choose { target })
                .into_iter()
                .collect()
        }
        ("vote", _) | ("accuse", _) => pick(rng)
            .map(|target| FromPlayer::Choose { target })
            .into_iter()
            .collect(),
        ("night", "seer") => pick(rng)
            .map(|target| FromPlayer::Ask { target })
            .into_iter()
            .collect(),
        ("explore", role) => explore(me, role, knowledge, rng),
        _ => Vec::new(),
    }
}

/// Murder Mystery by daylight: wander, whisper, and (the murderer) strike.
fn explore(me: &str, role: &str, knowledge: &Knowledge, rng: &mut SmallRng) -> Vec<FromPlayer> {
    let here = knowledge.room_of(me).unwrap_or_default();
    let mates: Vec<&String> = knowledge
        .rooms
        .get(here)
        .map(|who| who.iter().filter(|w| *w != me).collect())
        .unwrap_or_default();
    let elsewhere: Vec<&String> = knowledge.rooms.keys().filter(|r| *r != here).collect();
    let wander = |rng: &mut SmallRng| {
        elsewhere
            .choose(rng)
            .map(|room| FromPlayer::Move {
                room: (*room).clone(),
            })
            .into_iter()
            .collect()
    };
    if role == "murderer" {
        return match mates.choose(rng) {
            Some(victim) => vec![FromPlayer::Choose {
                target: (*victim).clone(),
            }],
            None => wander(rng),
        };
    }
    if rng.gen_bool(0.4) {
        return wander(rng);
    }
    match mates.choose(rng) {
        Some(mate) if rng.gen_bool(0.5) => vec![FromPlayer::Whisper {
            to: Some((*mate).clone()),
        }],
        _ => Vec::new(),
    }
}

/// Bot spectators raise a hand once the game is under way.
fn raise_hands(mut commands: Commands, mut seats: Query<(Entity, &Seat, &Knowledge, &mut Brain)>) {
    for (entity, seat, knowledge, mut brain) in &mut seats {
        if seat.kind == SeatKind::Spectator
            && !seat.human
            && !brain.hand_raised
            && knowledge.phase.is_some()
        {
            brain.hand_raised = true;
            commands.trigger(RaiseHand {
                entity,
                raised: true,
            });
        }
    }
}

/// Paints each on-air seat's avatar at the stream's rate and pushes it.
fn paint_avatars(
    mut commands: Commands,
    time: Res<Time<Real>>,
    mut seats: Query<(Entity, &Seat, &mut OnAir)>,
) {
    for (entity, seat, mut on_air) in &mut seats {
        if !on_air.timer.tick(time.delta()).just_finished() {
            continue;
        }
        on_air.frame += 1;
        let rgba = avatar(&seat.user, seat.colour, on_air.frame);
        commands.trigger(PushFrame {
            entity,
            size: AVATAR,
            rgba,
        });
    }
}

/// A seat whose user joined from elsewhere (a person took the bot's seat) is given up here.
fn seat_taken(mut commands: Commands, mut left: MessageReader<Left>, seats: Query<&Seat>) {
    for left in left.read() {
        let Ok(seat) = seats.get(left.channel) else {
            continue;
        };
        if let Some(error) = &left.error {
            info!("{} left the stage: {error}", seat.user);
            if error.code == ErrorCode::Replaced {
                println!("{} is now played from another client", seat.user);
                commands.entity(left.channel).despawn();
            }
        }
    }
}

/// The avatar: the seat's colour, its name large, the frame counter below.
pub fn avatar(name: &str, colour: [u8; 3], frame: u64) -> Vec<u8> {
    let (w, h) = (AVATAR.x as usize, AVATAR.y as usize);
    let mut rgba = Vec::with_capacity(w * h * 4);
    for _ in 0..w * h {
        rgba.extend_from_slice(&[colour[0], colour[1], colour[2], 255]);
    }
    let ink = [20, 20, 28];
    let name_scale = (w / (name.len().max(1) * 8 + 2)).clamp(2, 6);
    let name_width = name.len() * 8 * name_scale;
    text(
        &mut rgba,
        w,
        name,
        (w.saturating_sub(name_width)) / 2,
        h / 2 - 8 * name_scale,
        name_scale,
        ink,
    );
    let counter = format!("#{frame}");
    let counter_width = counter.len() * 8 * 2;
    text(
        &mut rgba,
        w,
        &counter,
        (w.saturating_sub(counter_width)) / 2,
        h - 40,
        2,
        ink,
    );
    rgba
}

/// Draws `text` with the 8x8 bitmap font, each dot `scale` pixels square.
fn text(
    rgba: &mut [u8],
    width: usize,
    text: &str,
    x0: usize,
    y0: usize,
    scale: usize,
    ink: [u8; 3],
) {
    let height = rgba.len() / 4 / width;
    for (i, c) in text.chars().enumerate() {
        let Some(glyph) = BASIC_FONTS.get(c) else {
            continue;
        };
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let x = x0 + (i * 8 + col) * scale + dx;
                        let y = y0 + row * scale + dy;
                        if x < width && y < height {
                            let at = (y * width + x) * 4;
                            rgba[at..at + 3].copy_from_slice(&ink);
                        }
                    }
                }
            }
        }
    }
}
