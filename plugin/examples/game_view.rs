//! Publish what a Bevy camera sees and watch it come back from the server as a texture.
//!
//! A second camera renders a small animated scene into a texture, which is read back from the
//! GPU and streamed into a channel; the same app also joins that channel as a viewer and shows
//! the arriving video beside the local preview:
//! `cargo run -p bevy_livestage --example game_view -- [--upload rgba|yuv]
//! [--screenshot FILE --frames N]`

#[path = "support/mod.rs"]
mod support;

use bevy::camera::visibility::RenderLayers;
use bevy::prelude::*;
use bevy_livestage::prelude::*;

const CHANNEL: &str = "arena";
const SIZE: UVec2 = UVec2::new(640, 360);
/// The scene lives on its own layer, seen only by the streaming camera.
const SCENE: RenderLayers = RenderLayers::layer(1);

fn main() {
    let options = support::Options::from_args(0);
    App::new()
        .add_plugins((
            DefaultPlugins.set(WindowPlugin {
                primary_window: Some(Window {
                    title: "Livestage — game view".into(),
                    resolution: (1320, 420).into(),
                    ..default()
                }),
                ..default()
            }),
            LivestagePlugin::embedded().with_video_upload(options.upload),
            support::screenshot_plugin,
        ))
        .insert_resource(options)
        .insert_resource(ClearColor(Color::srgb(0.05, 0.05, 0.07)))
        .add_systems(Startup, setup)
        .add_systems(Update, (spin, publish_when_joined, show_tiles))
        .run();
}

#[derive(Resource)]
struct Links {
    streamer: Entity,
    viewer: Entity,
    camera: Entity,
}

#[derive(Component)]
struct Spinner(f32);

fn setup(mut commands: Commands, livestage: Res<Livestage>) {
    // The window's camera shows the tiles.
    commands.spawn(Camera2d);
    // The streaming camera renders the scene; Publish points it at the streamed texture.
    let camera = commands
        .spawn((
            Camera2d,
            Camera {
                order: -1,
                clear_color: ClearColorConfig::Custom(Color::srgb(0.16, 0.17, 0.25)),
                ..default()
            },
            SCENE,
        ))
        .id();
    let colours = [
        Color::srgb(0.9, 0.3, 0.2),
        Color::srgb(0.2, 0.8, 0.4),
        Color::srgb(0.3, 0.5, 1.0),
    ];
    for (i, colour) in colours.into_iter().enumerate() {
        commands.spawn((
            Sprite::from_color(colour, Vec2::splat(90.0)),
            Transform::from_xyz(-180.0 + 180.0 * i as f32, 0.0, 0.0),
            Spinner(0.8 + 0.6 * i as f32),
            SCENE,
        ));
    }
    let streamer = commands.spawn(Channel::new(CHANNEL)).id();
    let viewer = commands.spawn(Channel::new(CHANNEL)).id();
    let tokens = (
        livestage.token(CHANNEL, "streamer", grants::HOST, 3600),
        livestage.token(CHANNEL, "viewer", grants::AUDIENCE, 3600),
    );
    match tokens {
        (Ok(host), Ok(audience)) => {
            commands.trigger(Join::host(streamer, host));
            commands.trigger(Join::audience(viewer, audience));
        }
        (Err(e), _) | (_, Err(e)) => error!("no token: {e:#}"),
    }
    commands.insert_resource(Links {
        streamer,
        viewer,
        camera,
    });
}

fn spin(time: Res<Time>, mut spinners: Query<(&Spinner, &mut Transform)>) {
    for (spinner, mut transform) in &mut spinners {
        transform.rotate_z(spinner.0 * time.delta_secs());
        transform.translation.y = 100.0 * (time.elapsed_secs() * spinner.0).sin();
    }
}

fn publish_when_joined(
    mut commands: Commands,
    links: Res<Links>,
    mut joined: MessageReader<Joined>,
) {
    for joined in joined.read() {
        if joined.channel == links.streamer && !joined.resumed {
            commands.trigger(Publish {
                entity: links.streamer,
                video: Some(LocalVideo::Camera {
                    camera: links.camera,
                    size: SIZE,
                    fps: 30.0,
                }),
                audio: None,
            });
        }
    }
}

/// Left: the local preview (the camera's texture). Right: the same stream after a round trip
/// through the server, as the viewer receives it.
fn show_tiles(
    mut commands: Commands,
    links: Res<Links>,
    previews: Query<&LocalPreview, Added<LocalPreview>>,
    videos: Query<(&RemoteVideo, &TrackOf), Added<RemoteVideo>>,
    participants: Query<&ParticipantOf>,
) {
    let tile = |image: Handle<Image>, x: f32| {
        (
            Sprite {
                image,
                custom_size: Some(SIZE.as_vec2()),
                ..default()
            },
            Transform::from_xyz(x, 0.0, 0.0),
        )
    };
    if let Ok(preview) = previews.get(links.streamer) {
        commands.spawn(tile(preview.image.clone(), -330.0));
    }
    for (video, track) in &videos {
        if participants
            .get(track.0)
            .is_ok_and(|of| of.0 == links.viewer)
        {
            commands.spawn(tile(video.image.clone(), 330.0));
        }
    }
}
