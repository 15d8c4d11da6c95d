//! Going on and off stage does not cost the game a frame: publishing 720p video and voice and
//! unpublishing it again happen off the main thread, so the frames that trigger them take about
//! as long as any other. Prints the figures BENCHMARKS.md quotes.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy_livestage::prelude::*;
use common::*;

/// Times one `app.update()`.
fn timed(app: &mut App) -> Duration {
    let started = Instant::now();
    app.update();
    started.elapsed()
}

#[test]
fn going_on_and_off_stage_keeps_the_main_thread_smooth() {
    let mut app = app();
    let host = join(&mut app, "stage", "host", grants::HOST, Role::Host);
    update_until(&mut app, "joined", |w| w.get::<Connected>(host).is_some());
    run_for(&mut app, Duration::from_millis(300));

    let mut ordinary = Vec::new();
    let mut switching = Vec::new();
    for _ in 0..6 {
        app.world_mut().trigger(Publish {
            entity: host,
            video: Some(LocalVideo::TestPattern {
                size: UVec2::new(1280, 720),
                fps: 30.0,
            }),
            audio: Some(LocalAudio::Tone(440.0)),
        });
        switching.push(timed(&mut app));
        for _ in 0..20 {
            std::thread::sleep(Duration::from_millis(5));
            ordinary.push(timed(&mut app));
        }
        app.world_mut().trigger(Unpublish { entity: host });
        switching.push(timed(&mut app));
        for _ in 0..20 {
            std::thread::sleep(Duration::from_millis(5));
            ordinary.push(timed(&mut app));
        }
    }
    let worst = |v: &[Duration]| v.iter().max().copied().unwrap_or_default();
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (worst_switch, worst_ordinary) = (worst(&switching), worst(&ordinary));
    println!(
        "frames that publish or unpublish 720p30 + voice: median {:?}, worst {worst_switch:?}; \
         other frames: median {:?}, worst {worst_ordinary:?}",
        median(&mut switching.clone()),
        median(&mut ordinary.clone()),
    );
    // Before the change a stop joined the encoder threads (up to a frame interval plus an
    // encode) and a start opened encoders on this thread. The bound is loose for loaded CI
    // machines; BENCHMARKS.md has the measured figures.
    assert!(
        worst_switch < Duration::from_millis(25),
        "a publish or unpublish frame took {worst_switch:?}"
    );
}
