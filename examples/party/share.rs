//! The narrator's screen share: a window (a rules card, a map) or a display shown to every
//! seat and spectator as the narrator's screen track. Started by `--share SPEC` once the
//! narrator is on stage, or from the narrator's controls; stopped there too. Each seat's
//! received screen frames go into the report (`screen`), counted by the playout.

use std::collections::BTreeMap;

use bevy::prelude::*;
use bevy_egui::egui;
use bevy_livestage::prelude::*;
use bevy_livestage::screen::{self, Share};

use crate::messages::NARRATOR;
use crate::narrator::Table;
use crate::report::Report;
use crate::seat::Seat;

/// What the narrator shares, and what it could share.
#[derive(Resource, Default)]
pub struct Sharing {
    /// What is shared now, in words.
    pub now: Option<String>,
    /// The windows listed last (the narrator's picker).
    pub windows: Vec<screen::Window>,
    /// Why the last share failed or ended.
    pub error: Option<String>,
}

pub(crate) fn plugin(app: &mut App) {
    app.init_resource::<Sharing>().add_systems(
        Update,
        (share_on_stage, share_errors, count_frames)
            .run_if(resource_exists::<Table>)
            .in_set(crate::PartySystems::Report),
    );
}

/// Shares `share` from the narrator's membership.
pub fn start(commands: &mut Commands, sharing: &mut Sharing, narrator: Entity, share: Share) {
    match share.resolve() {
        Ok(target) => {
            let mut video = LocalVideo::screen(target);
            if let (LocalVideo::Screen { fps, .. }, Some(chosen)) = (&mut video, share.fps) {
                *fps = chosen;
            }
            commands.trigger(Publish {
                entity: narrator,
                video: Some(video),
                audio: None,
            });
            sharing.now = Some(describe(target, &sharing.windows));
            sharing.error = None;
        }
        Err(e) => {
            warn!("party: cannot share the screen: {e}");
            sharing.error = Some(e.to_string());
        }
    }
}

/// Stops the narrator's share.
pub fn stop(commands: &mut Commands, sharing: &mut Sharing, narrator: Entity) {
    commands.trigger(StopScreenShare { entity: narrator });
    sharing.now = None;
}

fn describe(target: ScreenTarget, windows: &[screen::Window]) -> String {
    match target {
        ScreenTarget::Window(id) => match windows.iter().find(|w| w.id == id) {
            Some(w) if !w.title.is_empty() => format!("window \"{}\"", w.title),
            _ => format!("window 0x{id:x}"),
        },
        ScreenTarget::Display(id) => format!("display {id}"),
        ScreenTarget::Region { width, height, .. } => format!("a {width}x{height} region"),
    }
}

/// `--share`: starts once, when the narrator is first on stage.
fn share_on_stage(
    mut commands: Commands,
    mut sharing: ResMut<Sharing>,
    mut done: Local<bool>,
    options: Res<crate::Options>,
    table: Res<Table>,
    on_stage: Query<&ParticipantOf, (With<LocalParticipant>, With<Host>)>,
) {
    let Some(spec) = options.share else {
        return;
    };
    if *done || !on_stage.iter().any(|of| of.0 == table.narrator) {
        return;
    }
    *done = true;
    start(&mut commands, &mut sharing, table.narrator, spec);
}

/// A share the server refused, or that ended (the window closed): said in the controls.
fn share_errors(
    mut errors: MessageReader<LivestageError>,
    mut sharing: ResMut<Sharing>,
    table: Res<Table>,
) {
    for e in errors.read() {
        let screen_code = matches!(
            e.error.code,
            ErrorCode::SourceEnded | ErrorCode::ScreenUnavailable
        );
        if e.entity == table.narrator && screen_code && sharing.now.is_some() {
            warn!("party: the screen share stopped: {}", e.error.message);
            sharing.now = None;
            sharing.error = Some(e.error.message.clone());
        }
    }
}

/// Seat -> screen frames received from the narrator, for the report.
fn count_frames(
    livestage: Res<Livestage>,
    mut report: ResMut<Report>,
    seats: Query<&Seat>,
    narrators: Query<(&Participant, &ParticipantOf, &Tracks)>,
    tracks: Query<(&Track, &TrackSource)>,
) {
    let mut counts = BTreeMap::new();
    for (participant, of, own) in &narrators {
        let Ok(seat) = seats.get(of.0) else {
            continue;
        };
        if participant.user != NARRATOR {
            continue;
        }
        let frames: u64 = own
            .entities()
            .iter()
            .filter_map(|&t| tracks.get(t).ok())
            .filter(|(_, source)| **source == TrackSource::SCREEN)
            .filter_map(|(track, _)| livestage.received_track(of.0, participant.media_id, track.id))
            .map(|stats| stats.video_frames)
            .sum();
        counts.insert(seat.user.clone(), frames);
    }
    // Keep the highest count seen: a seat that left keeps what it received.
    for (seat, frames) in counts {
        let entry = report.screen.entry(seat).or_default();
        *entry = (*entry).max(frames);
    }
}

/// The narrator's share controls: pick a window, share the whole display, stop.
pub fn controls(
    ui: &mut egui::Ui,
    commands: &mut Commands,
    sharing: &mut Sharing,
    narrator: Entity,
) {
    ui.label("Screen share");
    match sharing.now.clone() {
        Some(what) => {
            ui.horizontal(|ui| {
                ui.label(format!("Sharing {what}"));
                if ui.button("Stop").clicked() {
                    stop(commands, sharing, narrator);
                }
            });
        }
        None => {
            ui.horizontal(|ui| {
                if ui.button("List windows").clicked() {
                    match screen::windows() {
                        Ok(windows) => sharing.windows = windows,
                        Err(e) => sharing.error = Some(e.to_string()),
                    }
                }
                if ui.button("Share display").clicked() {
                    let display = Share {
                        target: None,
                        fps: None,
                    };
                    start(commands, sharing, narrator, display);
                }
            });
            let mut chosen = None;
            for w in &sharing.windows {
                let title = if w.title.is_empty() {
                    "(untitled)"
                } else {
                    &w.title
                };
                if ui
                    .button(format!("{title} — {}x{}", w.width, w.height))
                    .clicked()
                {
                    chosen = Some(w.id);
                }
            }
            if let Some(id) = chosen {
                let window = Share {
                    target: Some(ScreenTarget::Window(id)),
                    fps: None,
                };
                start(commands, sharing, narrator, window);
            }
        }
    }
    if let Some(e) = &sharing.error {
        ui.colored_label(egui::Color32::LIGHT_RED, e);
    }
}
