//! Two channels in PK (co-hosting across channels): this app hosts channel `red` and relays
//! itself into `blue`; a bot hosts `blue` and relays itself into `red`. The app also watches
//! `blue` as an audience member. Left: red's stage as red's host sees it; right: blue's stage
//! as blue's audience sees it. Each shows both hosts; the panel shows the relay's state.
//!
//! Runs on an embedded server: `cargo run -p bevy_livestage --example pk -- [--screenshot FILE
//! --frames N]`

#[path = "support/mod.rs"]
mod support;

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPlugin, EguiPrimaryContextPass, egui};
use bevy_livestage::prelude::*;
use bevy_livestage::relay_request::{Destination, Request, State, Target};
use livestage_net::publish::{AudioSource, Video, VideoSource};

const RED: &str = "red";
const BLUE: &str = "blue";
const TILE: Vec2 = Vec2::new(400.0, 225.0);

fn main() {
    let options = support::Options::from_args(0);
    App::new()
        .add_plugins((
            DefaultPlugins.set(WindowPlugin {
                primary_window: Some(Window {
                    title: "Livestage — PK across two channels".into(),
                    resolution: (1280, 720).into(),
                    ..default()
                }),
                ..default()
            }),
            EguiPlugin::default(),
            LivestagePlugin::embedded(),
            support::screenshot_plugin,
        ))
        .insert_resource(options)
        .insert_resource(ClearColor(Color::srgb(0.08, 0.08, 0.1)))
        .init_resource::<Relays>()
        .add_systems(Startup, setup)
        .add_systems(
            Update,
            (relay_when_joined, note_relays, spawn_tiles, layout_tiles).chain(),
        )
        .add_systems(EguiPrimaryContextPass, panel)
        .run();
}

/// The two channel entities: red (hosted here), blue (watched here).
#[derive(Resource)]
struct Stages {
    red: Entity,
    blue: Entity,
}

/// The last state of each destination of this app's relay.
#[derive(Resource, Default)]
struct Relays(Vec<(Target, State)>);

/// A sprite showing a video on one of the two stages.
#[derive(Component)]
struct Tile {
    video: Entity,
    stage: Entity,
}

fn setup(mut commands: Commands, livestage: Res<Livestage>) {
    commands.spawn(Camera2d);
    let red = commands.spawn(Channel::new(RED)).id();
    let blue = commands.spawn(Channel::new(BLUE)).id();
    match livestage.token(RED, "red-host", grants::RELAYING_HOST, 3600) {
        Ok(token) => commands.trigger(Join::host(red, token)),
        Err(e) => error!("no token: {e:#}"),
    }
    match livestage.token(BLUE, "red-fan-of-blue", grants::AUDIENCE, 3600) {
        Ok(token) => commands.trigger(Join::audience(blue, token)),
        Err(e) => error!("no token: {e:#}"),
    }
    commands.insert_resource(Stages { red, blue });

    // Blue's host: a bot publishing a test pattern, relaying itself into red.
    let into_red = livestage.token(RED, "blue-host", grants::HOST, 3600);
    let video = Video::new(
        VideoSource::TestPattern {
            width: 320,
            height: 180,
            textured: true,
        },
        15.0,
    );
    let bot = support::start_bot(
        &livestage,
        BLUE,
        "blue-host",
        grants::RELAYING_HOST,
        Some(video),
        Some(AudioSource::Tone(330.0)),
        |engine| {
            if let Ok(token) = into_red {
                let destinations = vec![Destination {
                    target: here(RED),
                    token,
                }];
                engine.relay(BLUE, Request::Start { destinations });
            }
        },
    );
    commands.insert_resource(support::Bots(bot.into_iter().collect()));
}

fn here(channel: &str) -> Target {
    Target {
        channel: channel.into(),
        server: None,
    }
}

/// Once on red's stage: publish, and relay into blue.
fn relay_when_joined(
    mut commands: Commands,
    mut joined: MessageReader<Joined>,
    stages: Res<Stages>,
    livestage: Res<Livestage>,
) {
    for j in joined
        .read()
        .filter(|j| j.channel == stages.red && !j.resumed)
    {
        commands.trigger(Publish {
            entity: j.channel,
            video: Some(LocalVideo::TestPattern {
                size: UVec2::new(320, 180),
                fps: 15.0,
            }),
            audio: Some(LocalAudio::Tone(440.0)),
        });
        match livestage.token(BLUE, "red-host", grants::HOST, 3600) {
            Ok(token) => commands.trigger(StartRelay {
                entity: j.channel,
                destinations: vec![Destination {
                    target: here(BLUE),
                    token,
                }],
            }),
            Err(e) => error!("no token for blue: {e:#}"),
        }
    }
}

fn note_relays(mut states: MessageReader<RelayState>, mut relays: ResMut<Relays>) {
    for s in states.read() {
        relays.0.retain(|(to, _)| *to != s.to);
        relays.0.push((s.to.clone(), s.state.clone()));
    }
}

/// A tile for each remote video and for the local preview, on the stage of its channel.
fn spawn_tiles(
    mut commands: Commands,
    new_videos: Query<(Entity, &RemoteVideo, &TrackOf), Added<RemoteVideo>>,
    new_previews: Query<(Entity, &LocalPreview), Added<LocalPreview>>,
    participants: Query<&ParticipantOf>,
    stages: Res<Stages>,
) {
    for (entity, video, track_of) in &new_videos {
        let Ok(of) = participants.get(track_of.0) else {
            continue;
        };
        commands.spawn((
            sprite(video.image.clone()),
            Tile {
                video: entity,
                stage: of.0,
            },
            ShowsVideo(entity),
        ));
    }
    for (entity, preview) in &new_previews {
        commands.spawn((
            sprite(preview.image.clone()),
            Tile {
                video: entity,
                stage: stages.red,
            },
        ));
    }
}

fn sprite(image: Handle<Image>) -> Sprite {
    Sprite {
        image,
        custom_size: Some(TILE),
        ..default()
    }
}

/// Red's stage in the left column, blue's in the middle; a tile whose video ended goes.
fn layout_tiles(
    mut commands: Commands,
    mut tiles: Query<(Entity, &Tile, &mut Transform)>,
    live: Query<(), Or<(With<RemoteVideo>, With<LocalPreview>)>>,
    stages: Res<Stages>,
) {
    let mut rows = [0usize; 2];
    let mut sorted: Vec<_> = tiles.iter_mut().collect();
    sorted.sort_by_key(|(e, ..)| *e);
    for (entity, tile, mut transform) in sorted {
        if live.get(tile.video).is_err() {
            commands.entity(entity).despawn();
            continue;
        }
        let column = usize::from(tile.stage == stages.blue);
        let row = rows[column];
        rows[column] += 1;
        transform.translation = Vec3::new(
            -630.0 + TILE.x / 2.0 + column as f32 * (TILE.x + 20.0),
            230.0 - row as f32 * (TILE.y + 10.0),
            0.0,
        );
    }
}

fn panel(
    mut contexts: EguiContexts,
    relays: Res<Relays>,
    people: Query<(&Participant, &ParticipantOf, Has<Host>)>,
    stages: Res<Stages>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    egui::Window::new("PK")
        .anchor(egui::Align2::RIGHT_TOP, [-10.0, 10.0])
        .default_width(240.0)
        .show(ctx, |ui| {
            ui.label("Left: red's stage (you host it). Middle: blue's stage (you watch it).");
            ui.separator();
            for (to, state) in &relays.0 {
                let why = match state {
                    State::Failed(e) => format!(" ({})", e.code),
                    _ => String::new(),
                };
                ui.label(format!("relay into {to}: {}{why}", state.as_str()));
            }
            ui.separator();
            for (name, stage) in [("red", stages.red), ("blue", stages.blue)] {
                let mut hosts: Vec<_> = people
                    .iter()
                    .filter(|(_, of, host)| of.0 == stage && *host)
                    .map(|(p, ..)| p.user.clone())
                    .collect();
                hosts.sort();
                ui.label(format!("{name} hosts: {}", hosts.join(", ")));
            }
        });
    Ok(())
}
