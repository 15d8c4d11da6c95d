//! Join a channel as audience, watch every host as a sprite tile (every video track: cameras
//! and screen shares), go on stage and back, share the screen while on stage, sing over music
//! (a file path or URL) with a changed voice.
//!
//! Runs on an embedded server with bots publishing test patterns:
//! `cargo run -p bevy_livestage --example basic -- [--bots N] [--upload rgba|yuv]
//! [--screenshot FILE --frames N]`

#[path = "support/mod.rs"]
mod support;

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPlugin, EguiPrimaryContextPass, egui};
use bevy_livestage::prelude::*;

const CHANNEL: &str = "lobby";
const TILE: Vec2 = Vec2::new(300.0, 169.0);

fn main() {
    let options = support::Options::from_args(3);
    App::new()
        .add_plugins((
            DefaultPlugins.set(WindowPlugin {
                primary_window: Some(Window {
                    title: "Livestage — basic".into(),
                    resolution: (1280, 720).into(),
                    ..default()
                }),
                ..default()
            }),
            EguiPlugin::default(),
            LivestagePlugin::embedded().with_video_upload(options.upload),
            support::screenshot_plugin,
        ))
        .insert_resource(options)
        .insert_resource(ClearColor(Color::srgb(0.08, 0.08, 0.1)))
        .add_systems(Startup, setup)
        .add_systems(Update, (spawn_tiles, layout_tiles).chain())
        .add_systems(EguiPrimaryContextPass, panel)
        .run();
}

/// The channel this app watches.
#[derive(Resource)]
struct Lobby(Entity);

/// A sprite showing a participant's video.
#[derive(Component)]
struct Tile(Entity);

fn setup(mut commands: Commands, livestage: Res<Livestage>, options: Res<support::Options>) {
    commands.spawn(Camera2d);
    let lobby = commands.spawn(Channel::new(CHANNEL)).id();
    // Host grants, so the "go on stage" button works; joined as audience.
    match livestage.token(CHANNEL, "viewer", grants::HOST, 3600) {
        Ok(token) => commands.trigger(Join::audience(lobby, token)),
        Err(e) => error!("no token: {e:#}"),
    }
    commands.insert_resource(Lobby(lobby));
    let bots = support::start_bots(&livestage, CHANNEL, options.bots);
    commands.insert_resource(bots);
}

/// A tile for each participant whose video started (`ShowsVideo`: a tile off screen costs no
/// bandwidth or decoding), and for our own preview.
fn spawn_tiles(
    mut commands: Commands,
    new_videos: Query<(Entity, &RemoteVideo), Added<RemoteVideo>>,
    new_previews: Query<(Entity, &LocalPreview), Added<LocalPreview>>,
) {
    for (entity, video) in &new_videos {
        commands.spawn((
            sprite(video.image.clone()),
            Tile(entity),
            ShowsVideo(entity),
        ));
    }
    for (entity, preview) in &new_previews {
        commands.spawn((sprite(preview.image.clone()), Tile(entity)));
    }
}

fn sprite(image: Handle<Image>) -> Sprite {
    Sprite {
        image,
        custom_size: Some(TILE),
        ..default()
    }
}

/// Tiles in a grid; a tile whose participant left (or whose preview stopped) goes away.
fn layout_tiles(
    mut commands: Commands,
    mut tiles: Query<(Entity, &Tile, &mut Transform)>,
    live: Query<(), Or<(With<RemoteVideo>, With<LocalPreview>)>>,
) {
    let mut index = 0;
    let mut sorted: Vec<_> = tiles.iter_mut().collect();
    sorted.sort_by_key(|(e, ..)| *e);
    for (entity, tile, mut transform) in sorted {
        if live.get(tile.0).is_err() {
            commands.entity(entity).despawn();
            continue;
        }
        let (col, row) = (index % 3, index / 3);
        // Three columns from the window's left edge (1280x720), leaving the panel room.
        transform.translation = Vec3::new(
            -630.0 + TILE.x / 2.0 + col as f32 * (TILE.x + 10.0),
            180.0 - row as f32 * (TILE.y + 10.0),
            0.0,
        );
        index += 1;
    }
}

fn panel(
    mut contexts: EguiContexts,
    mut commands: Commands,
    lobby: Res<Lobby>,
    channels: Query<(Option<&Connected>, Option<&Disconnected>)>,
    people: Query<(
        &Participant,
        Has<Host>,
        Has<Moderator>,
        Has<Speaking>,
        Has<LocalParticipant>,
        &NetworkQuality,
        &MediaStats,
    )>,
    me: Query<(Has<Host>, Option<&Tracks>), With<LocalParticipant>>,
    sources: Query<&TrackSource>,
    livestage: Res<Livestage>,
    mut song: Local<String>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    egui::Window::new("Lobby")
        .anchor(egui::Align2::RIGHT_TOP, [-10.0, 10.0])
        .default_width(320.0)
        .show(ctx, |ui| {
            let state = match channels.get(lobby.0) {
                Ok((Some(_), _)) => "connected".to_owned(),
                Ok((_, Some(d))) => format!(
                    "disconnected: {}",
                    d.error.as_ref().map_or("left".into(), |e| e.to_string())
                ),
                _ => "connecting…".to_owned(),
            };
            ui.label(state);
            let (on_stage, my_tracks) = me.iter().next().unwrap_or((false, None));
            let (label, role) = if on_stage {
                ("Leave stage", Role::Audience)
            } else {
                ("Go on stage", Role::Host)
            };
            if ui.button(label).clicked() {
                commands.trigger(SetRole {
                    entity: lobby.0,
                    role,
                });
                if role == Role::Host {
                    commands.trigger(Publish {
                        entity: lobby.0,
                        video: Some(LocalVideo::TestPattern {
                            size: UVec2::new(320, 180),
                            fps: 15.0,
                        }),
                        audio: Some(LocalAudio::Microphone),
                    });
                } else {
                    commands.trigger(Unpublish { entity: lobby.0 });
                }
            }
            if on_stage {
                let sharing = my_tracks
                    .into_iter()
                    .flat_map(Tracks::entities)
                    .any(|&t| sources.get(t).is_ok_and(|s| *s == TrackSource::SCREEN));
                if sharing && ui.button("Stop sharing").clicked() {
                    commands.trigger(StopScreenShare { entity: lobby.0 });
                } else if !sharing && ui.button("Share screen").clicked() {
                    // The first display; a real game would offer screen::windows() in a picker.
                    match bevy_livestage::screen::displays() {
                        Ok(displays) if !displays.is_empty() => {
                            commands.trigger(Publish {
                                entity: lobby.0,
                                video: Some(LocalVideo::screen(ScreenTarget::Display(
                                    displays[0].id,
                                ))),
                                audio: None,
                            });
                        }
                        Ok(_) => warn!("no display to share"),
                        Err(e) => warn!("cannot share the screen: {e}"),
                    }
                }
                karaoke(ui, &mut commands, &livestage, &mut song);
            }
            ui.separator();
            egui::Grid::new("people").striped(true).show(ui, |ui| {
                for h in ["user", "role", "fps", "kbps", "loss", "net"] {
                    ui.strong(h);
                }
                ui.end_row();
                let mut rows: Vec<_> = people.iter().collect();
                rows.sort_by(|a, b| a.0.user.cmp(&b.0.user));
                for (p, host, moderator, speaking, local, quality, stats) in rows {
                    let name = match (local, speaking) {
                        (true, _) => format!("{} (you)", p.user),
                        (false, true) => format!("🔊 {}", p.user),
                        (false, false) => p.user.clone(),
                    };
                    ui.label(name);
                    ui.label(match (host, moderator) {
                        (_, true) => "moderator",
                        (true, false) => "host",
                        (false, false) => "audience",
                    });
                    ui.label(format!("{:.0}", stats.video_fps));
                    ui.label(format!("{:.0}", stats.video_kbps));
                    ui.label(format!("{:.0}%", stats.audio_loss * 100.0));
                    ui.label(format!("{quality:?}"));
                    ui.end_row();
                }
            });
        });
    Ok(())
}

/// Music under the microphone (a path or an http(s) URL) and the voice changer.
fn karaoke(ui: &mut egui::Ui, commands: &mut Commands, livestage: &Livestage, song: &mut String) {
    use bevy_livestage::audio::{MusicOptions, VoicePreset};
    ui.separator();
    ui.horizontal(|ui| {
        ui.label("Music");
        ui.text_edit_singleline(song);
    });
    let playing = livestage.mix().with_music(|m| {
        (
            m.is_paused(),
            m.is_finished(),
            m.position_ms(),
            m.duration_ms(),
        )
    });
    ui.horizontal(|ui| {
        if ui.button("Play").clicked() {
            // Quieter for the singer than for the channel.
            let options = MusicOptions {
                local_volume: 0.5,
                ..MusicOptions::default()
            };
            commands.trigger(PlayMusic::new(song.clone(), options));
        }
        if let Some((paused, finished, at, length)) = playing {
            if !finished && ui.button(if paused { "Resume" } else { "Pause" }).clicked() {
                livestage
                    .mix()
                    .with_music(|m| if paused { m.resume() } else { m.pause() });
            }
            if ui.button("Stop").clicked() {
                commands.trigger(MusicControl::Stop);
            }
            let length = length.map_or("?".into(), |l| format!("{:.0}", l as f32 / 1000.0));
            ui.label(format!("{:.0} / {length} s", at as f32 / 1000.0));
        }
    });
    let now = livestage.voice_preset();
    egui::ComboBox::from_label("Voice")
        .selected_text(format!("{now:?}"))
        .show_ui(ui, |ui| {
            for preset in [
                VoicePreset::Off,
                VoicePreset::Higher,
                VoicePreset::Lower,
                VoicePreset::Chipmunk,
                VoicePreset::Giant,
                VoicePreset::Robot,
                VoicePreset::Room,
            ] {
                if ui
                    .selectable_label(now == preset, format!("{preset:?}"))
                    .clicked()
                {
                    commands.trigger(ChangeVoice(preset));
                }
            }
        });
}
