//! What a person sees: the stage as video tiles (name, role badge, speaking, network quality),
//! the phase and its timer, the buttons for this seat's choices, the narrator's controls and a
//! stats overlay. Draws from one membership's point of view: the narrator's (everything) or a
//! seat's (only what the server lets that seat receive). Reads the ECS; acts through the same
//! data messages and requests bots use.

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, save_to_disk};
use bevy_egui::{EguiContexts, EguiPlugin, EguiPrimaryContextPass, EguiTextureHandle, egui};
use bevy_livestage::prelude::*;
use bevy_livestage::{HandRaised, Link};

use crate::Options;
use crate::messages::FromPlayer;
use crate::narrator::{NarratorSeat, Table};
use crate::report::Report;
use crate::seat::{self, AVATAR, Knowledge, OnAir, Seat, SeatKind};
use crate::share::Sharing;

/// Whose point of view the stage shows.
#[derive(Resource, Default)]
pub struct View {
    /// A seat's channel entity; `None` is the narrator (or the only seat of a guest process).
    pub seat: Option<Entity>,
}

pub(crate) fn plugin(app: &mut App) {
    app.add_plugins(EguiPlugin::default())
        .init_resource::<View>()
        .insert_resource(ClearColor(Color::srgb(0.07, 0.07, 0.09)))
        .add_systems(Startup, |mut commands: Commands| {
            commands.spawn(Camera2d);
        })
        .add_systems(Update, (default_view, screenshot_and_exit))
        .add_systems(EguiPrimaryContextPass, draw);
}

/// A person's seat (from `--play` or `--join`) is the default point of view.
fn default_view(mut view: ResMut<View>, seats: Query<(Entity, &Seat), Added<Seat>>) {
    for (entity, seat) in &seats {
        if seat.human && view.seat.is_none() {
            view.seat = Some(entity);
        }
    }
}

/// The membership whose view is drawn.
fn viewpoint(
    view: &View,
    table: Option<&Table>,
    seats: &Query<(Entity, &Seat, &Knowledge, Has<OnAir>)>,
) -> Option<Entity> {
    view.seat
        .filter(|s| seats.contains(*s))
        .or(table.map(|t| t.narrator))
        .or_else(|| seats.iter().next().map(|(e, ..)| e))
}

fn draw(
    mut contexts: EguiContexts,
    mut commands: Commands,
    mut view: ResMut<View>,
    mut table: Option<ResMut<Table>>,
    mut report: ResMut<Report>,
    time: Res<Time<Real>>,
    seats: Query<(Entity, &Seat, &Knowledge, Has<OnAir>)>,
    narrator: Query<(), With<NarratorSeat>>,
    people: Query<(
        Entity,
        &Participant,
        &ParticipantOf,
        Has<Host>,
        Has<Speaking>,
        Has<HandRaised>,
        &NetworkQuality,
        &MediaStats,
        Option<&Tracks>,
        Has<LocalParticipant>,
    )>,
    cameras: Query<(&RemoteVideo, &TrackSource)>,
    previews: Query<&LocalPreview>,
    links: Query<&Link>,
    mut sharing: ResMut<Sharing>,
) -> Result {
    let now = time.elapsed_secs();
    let Some(point) = viewpoint(&view, table.as_deref(), &seats) else {
        return Ok(());
    };
    let at_narrator = narrator.contains(point);
    let me = seats.get(point).ok();
    // Tiles: everyone on stage this membership can see, in seating order.
    let mut stage: Vec<_> = people
        .iter()
        .filter(|p| p.2.0 == point && p.3 && p.1.user != crate::messages::NARRATOR)
        .collect();
    stage.sort_by_key(|p| seat_order(&p.1.user));
    let mut textures = Vec::new();
    for p in &stage {
        // A player's camera track; a screen share would be another track.
        let camera = p.8.into_iter().flat_map(Tracks::entities).find_map(|&t| {
            cameras
                .get(t)
                .ok()
                .filter(|(_, source)| **source == TrackSource::CAMERA)
                .map(|(video, _)| video)
        });
        let image = match (camera, p.9) {
            (Some(video), _) => Some(video.image.id()),
            (None, true) => previews.get(point).ok().map(|pv| pv.image.id()),
            _ => None,
        };
        textures.push(image.map(|id| contexts.add_image(EguiTextureHandle::Weak(id))));
    }
    // A screen share on this membership's stage (the narrator's rules card or map).
    let shared = people
        .iter()
        .filter(|p| p.2.0 == point && !p.9)
        .find_map(|p| {
            p.8.into_iter().flat_map(Tracks::entities).find_map(|&t| {
                cameras
                    .get(t)
                    .ok()
                    .filter(|(_, source)| **source == TrackSource::SCREEN)
                    .map(|(video, _)| (p.1.user.clone(), video.size, video.image.id()))
            })
        })
        .map(|(user, size, id)| (user, size, contexts.add_image(EguiTextureHandle::Weak(id))));
    let ctx = contexts.ctx_mut()?;
    let mut root = egui::Ui::new(
        ctx.clone(),
        "party".into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(ctx.viewport_rect()),
    );

    // The phase, the clock and the news.
    let (phase, news, winner) = match (&table, me) {
        (Some(t), _) if at_narrator => (
            t.rules
                .as_ref()
                .map(|r| (r.phase().name.to_owned(), r.phase().round)),
            t.log.clone(),
            t.winner.clone(),
        ),
        (_, Some((_, _, k, _))) => (k.phase.clone(), k.news.clone(), k.winner.clone()),
        _ => (None, Vec::new(), None),
    };
    let left = match (&table, me) {
        (Some(t), _) if at_narrator => t.phase_ends - now,
        (_, Some((_, _, k, _))) => k.phase_began + k.seconds - now,
        _ => 0.0,
    };
    egui::Panel::top("phase").show(&mut root, |ui| {
        ui.horizontal(|ui| {
            let title = match (&winner, &phase) {
                (Some(w), _) => format!("Game over — winner: {w}"),
                (None, Some((name, round))) => {
                    format!(
                        "{} {round} — {:.0} s left",
                        capitalized(name),
                        left.max(0.0)
                    )
                }
                (None, None) => "Waiting for players…".to_owned(),
            };
            ui.heading(title);
        });
        for line in news.iter().rev().take(3).rev() {
            ui.label(line);
        }
    });

    // This seat's choices, or the narrator's controls.
    egui::Panel::right("controls")
        .default_size(320.0)
        .show(&mut root, |ui| {
            ui.heading("Point of view");
            let label = |e: Entity| {
                seats
                    .get(e)
                    .map(|(_, s, ..)| s.user.clone())
                    .unwrap_or_else(|_| "narrator".into())
            };
            egui::ComboBox::from_id_salt("view")
                .selected_text(label(point))
                .show_ui(ui, |ui| {
                    if let Some(t) = &table
                        && ui.selectable_label(at_narrator, "narrator").clicked()
                    {
                        view.seat = Some(t.narrator);
                    }
                    for (entity, seat, ..) in &seats {
                        if ui.selectable_label(entity == point, &seat.user).clicked() {
                            view.seat = Some(entity);
                        }
                    }
                });
            ui.separator();
            if at_narrator {
                if let Some(t) = table.as_deref_mut() {
                    narrator_controls(ui, &mut commands, t, &mut report, now);
                    ui.separator();
                    crate::share::controls(ui, &mut commands, &mut sharing, t.narrator);
                }
            } else if let Some((entity, seat, knowledge, on_air)) = me {
                if !seat.human {
                    ui.label(format!("{} is a bot.", seat.user));
                    if ui.button("Take this seat").clicked() {
                        commands.queue(move |world: &mut World| {
                            if let Some(mut seat) = world.get_mut::<Seat>(entity) {
                                seat.human = true;
                            }
                        });
                        if on_air {
                            commands.trigger(Publish {
                                entity,
                                video: Some(LocalVideo::Custom {
                                    size: AVATAR,
                                    fps: 15.0,
                                }),
                                audio: Some(LocalAudio::Microphone),
                            });
                        }
                    }
                } else {
                    seat_controls(ui, &mut commands, entity, seat, knowledge);
                }
            }
        });

    // The stage.
    egui::CentralPanel::default().show(&mut root, |ui| {
        if let Some((user, picture, texture)) = &shared {
            ui.strong(format!("{user} shares their screen"));
            let width = ui.available_width().min(640.0);
            let height = width * picture.y as f32 / picture.x.max(1) as f32;
            ui.add(egui::Image::new(egui::load::SizedTexture::new(
                *texture,
                egui::vec2(width, height),
            )));
            ui.add_space(8.0);
        }
        let columns = 4usize;
        let width = (ui.available_width() / columns as f32 - 12.0).max(120.0);
        let size = egui::vec2(width, width * AVATAR.y as f32 / AVATAR.x as f32);
        let known_role = |user: &str| -> Option<String> {
            if at_narrator {
                return table
                    .as_ref()?
                    .rules
                    .as_ref()?
                    .roles()
                    .get(user)
                    .map(|r| (*r).to_owned());
            }
            let (_, seat, knowledge, _) = me?;
            // Your own role, and your allies' (the same: the other werewolves).
            if user == seat.user || knowledge.allies.iter().any(|a| a == user) {
                knowledge.role.clone()
            } else {
                None
            }
        };
        egui::Grid::new("stage")
            .spacing([12.0, 12.0])
            .show(ui, |ui| {
                for (i, (p, texture)) in stage.iter().zip(&textures).enumerate() {
                    ui.vertical(|ui| {
                        let live = p.7.video_fps >= 1.0 || p.9;
                        match texture {
                            Some(id) if live => {
                                ui.add(egui::Image::new(egui::load::SizedTexture::new(*id, size)));
                            }
                            _ => {
                                let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
                                ui.painter()
                                    .rect_filled(rect, 4.0, egui::Color32::from_gray(30));
                                ui.painter().text(
                                    rect.center(),
                                    egui::Align2::CENTER_CENTER,
                                    "no video reaches you",
                                    egui::FontId::proportional(14.0),
                                    egui::Color32::GRAY,
                                );
                            }
                        }
                        ui.horizontal(|ui| {
                            ui.strong(&p.1.user);
                            if let Some(role) = known_role(&p.1.user) {
                                ui.label(egui::RichText::new(role).color(egui::Color32::LIGHT_RED));
                            }
                            if p.4 {
                                ui.label("🔊");
                            }
                            if p.5 {
                                ui.label("✋");
                            }
                            if !p.9 {
                                let (bars, colour) = quality_icon(*p.6);
                                ui.label(egui::RichText::new(bars).color(colour));
                            }
                        });
                    });
                    if i % columns == columns - 1 {
                        ui.end_row();
                    }
                }
            });
        ui.add_space(16.0);
        egui::CollapsingHeader::new("Stats").show(ui, |ui| {
            if let Ok(link) = links.get(point) {
                ui.label(format!(
                    "Your link: RTT {} ms, loss {}% up / {}% down, {} kbit/s, {}",
                    link.rtt_ms,
                    link.uplink_loss_percent,
                    link.downlink_loss_percent,
                    link.bandwidth_kbps,
                    link.quality.as_str().replace('_', " "),
                ));
            }
            egui::Grid::new("stats").striped(true).show(ui, |ui| {
                for h in [
                    "user",
                    "RTT",
                    "uplink",
                    "fps",
                    "kbps",
                    "voice loss",
                    "delay",
                    "layer",
                ] {
                    ui.strong(h);
                }
                ui.end_row();
                for p in stage.iter().filter(|p| !p.9) {
                    ui.label(&p.1.user);
                    // Their own path to the server, as the server tells it.
                    ui.label(format!("{} ms", p.7.rtt_ms));
                    ui.label(format!("{}%", p.7.uplink_loss_percent));
                    ui.label(format!("{:.0}", p.7.video_fps));
                    ui.label(format!("{:.0}", p.7.video_kbps));
                    ui.label(format!("{:.1}%", p.7.audio_loss * 100.0));
                    ui.label(format!("{:.0} ms", p.7.video_delay_ms));
                    ui.label(p.7.layer.map_or("-".into(), |l| format!("{l:?}")));
                    ui.end_row();
                }
            });
        });
    });
    Ok(())
}

fn narrator_controls(
    ui: &mut egui::Ui,
    commands: &mut Commands,
    table: &mut Table,
    report: &mut Report,
    now: f32,
) {
    ui.heading("Narrator");
    ui.horizontal(|ui| {
        let pause = if table.paused {
            "Resume clock"
        } else {
            "Pause clock"
        };
        if ui.button(pause).clicked() {
            if table.paused {
                table.phase_ends = now + (table.phase_ends - now).max(5.0);
            }
            table.paused = !table.paused;
        }
        if ui.button("Next phase").clicked() {
            table.skip = true;
        }
    });
    ui.separator();
    ui.label("Raised hands");
    if table.hands.is_empty() {
        ui.weak("none");
    }
    for user in table.hands.clone() {
        ui.horizontal(|ui| {
            ui.label(format!("✋ {user}"));
            if ui.button("Invite on stage").clicked() {
                table.invite(commands, report, now, &user);
            }
        });
    }
}

/// A person's choices for the phase, sent as the same data messages bots send.
fn seat_controls(
    ui: &mut egui::Ui,
    commands: &mut Commands,
    entity: Entity,
    seat: &Seat,
    knowledge: &Knowledge,
) {
    let role = knowledge.role.as_deref().unwrap_or("spectator");
    ui.heading(format!("{} — {role}", seat.user));
    if !knowledge.allies.is_empty() {
        ui.label(format!("Allies: {}", knowledge.allies.join(", ")));
    }
    if seat.kind == SeatKind::Spectator {
        if ui.button("✋ Raise hand").clicked() {
            crate::narrator::raise_hand(commands, entity, true);
        }
        return;
    }
    if !knowledge.alive.contains(&seat.user) {
        ui.label("You are out of the game; you watch from the audience.");
        return;
    }
    let Some((phase, _)) = &knowledge.phase else {
        return;
    };
    let others: Vec<&String> = knowledge
        .alive
        .iter()
        .filter(|p| **p != seat.user)
        .collect();
    let mut choose = |ui: &mut egui::Ui,
                      verb: &str,
                      targets: &[&String],
                      make: &dyn Fn(String) -> FromPlayer| {
        for target in targets {
            let chosen = knowledge.chose.as_deref() == Some(target.as_str());
            if ui
                .selectable_label(chosen, format!("{verb} {target}"))
                .clicked()
            {
                seat::send(commands, entity, &make((*target).clone()));
            }
        }
    };
    match (phase.as_str(), role) {
        ("night", "werewolf") => {
            choose(ui, "Kill", &others, &|target| FromPlayer::Choose { target })
        }
        ("night", "seer") => choose(ui, "Ask about", &others, &|target| FromPlayer::Ask {
            target,
        }),
        ("vote", _) => choose(ui, "Vote out", &others, &|target| FromPlayer::Choose {
            target,
        }),
        ("accuse", _) => choose(ui, "Accuse", &others, &|target| FromPlayer::Choose {
            target,
        }),
        ("explore", role) => {
            let here = knowledge.room_of(&seat.user).unwrap_or_default().to_owned();
            ui.label(format!("You are in the {here}."));
            let rooms: Vec<&String> = knowledge.rooms.keys().filter(|r| **r != here).collect();
            choose(ui, "Go to the", &rooms, &|room| FromPlayer::Move { room });
            let mates: Vec<&String> = knowledge
                .rooms
                .get(&here)
                .map(|w| w.iter().filter(|m| **m != seat.user).collect())
                .unwrap_or_default();
            choose(ui, "Whisper to", &mates, &|to| FromPlayer::Whisper {
                to: Some(to),
            });
            if role == "murderer" {
                choose(ui, "Kill", &mates, &|target| FromPlayer::Choose { target });
            }
        }
        _ => {
            ui.label("Nothing to do now: listen.");
        }
    }
}

/// The network-quality icon: signal bars coloured by grade.
fn quality_icon(quality: NetworkQuality) -> (&'static str, egui::Color32) {
    let colour = match quality.0 {
        Quality::Excellent => egui::Color32::GREEN,
        Quality::Good => egui::Color32::LIGHT_GREEN,
        Quality::Poor => egui::Color32::YELLOW,
        Quality::Bad => egui::Color32::ORANGE,
        Quality::VeryBad | Quality::Down => egui::Color32::RED,
        Quality::Unknown => egui::Color32::GRAY,
    };
    ("📶", colour)
}

fn seat_order(user: &str) -> (usize, String) {
    let index = crate::lobby::NAMES
        .iter()
        .position(|n| *n == user)
        .unwrap_or(usize::MAX);
    (index, user.to_owned())
}

fn capitalized(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Frames `--screenshot` waits past `--frames` for every player's video before it takes the
/// picture anyway (a slow machine decodes the first pictures late).
const SCREENSHOT_PATIENCE: u32 = 600;

/// `--screenshot FILE --frames N`: render at least N frames and until the narrator sees a
/// picture from every player, save, exit.
fn screenshot_and_exit(
    mut commands: Commands,
    options: Res<Options>,
    narrator: Query<Entity, With<NarratorSeat>>,
    videos: Query<(&RemoteVideo, &TrackOf)>,
    hosts: Query<(&Participant, &ParticipantOf), With<Host>>,
    mut frames: Local<u32>,
    mut asked_at: Local<Option<u32>>,
    mut exit: MessageWriter<AppExit>,
) {
    let Some(path) = &options.screenshot else {
        return;
    };
    *frames += 1;
    match *asked_at {
        None => {
            let showing = narrator.single().map_or(0, |stage| {
                videos
                    .iter()
                    .filter(|(v, track)| {
                        v.written > 0
                            && hosts.get(track.0).is_ok_and(|(p, of)| {
                                of.0 == stage && p.user != crate::messages::NARRATOR
                            })
                    })
                    .count()
            });
            let ready = *frames >= options.frames && showing >= options.bots;
            if ready || *frames >= options.frames + SCREENSHOT_PATIENCE {
                if !ready {
                    warn!(
                        "{showing} of {} players' video after {} frames",
                        options.bots, *frames
                    );
                }
                commands
                    .spawn(Screenshot::primary_window())
                    .observe(save_to_disk(path.clone()));
                *asked_at = Some(*frames);
            }
        }
        // The screenshot is written a few frames after it is asked for.
        Some(_) if path.exists() => {
            info!("saved {}", path.display());
            exit.write(AppExit::Success);
        }
        Some(at) if *frames > at + SCREENSHOT_PATIENCE => {
            error!("the screenshot was never written");
            exit.write(AppExit::error());
        }
        Some(_) => {}
    }
}
