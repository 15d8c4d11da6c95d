//! Many video tracks on one viewer: how many 720p30 tracks one playout decodes in real time on
//! this machine, and whether voice suffers.
//!
//! Run with `cargo bench -p livestage-server --bench many_tracks` (release build, about a
//! minute; no Bevy in it). An embedded
//! server; publishers send N tracks of textured 720p30 H.264 (encoded once, then replayed with
//! fresh headers so encoding costs nothing during the run; four tracks per publisher, the cap)
//! and one publisher sends a 440 Hz voice; one viewer decodes everything through `Playout`.
//! For each N the table gives the decoded frames per second per track (30 is real time), the
//! frames its decoder queue dropped, and the voice frames played, recovered and concealed in
//! the same seconds (concealed > 0 means video delayed voice).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use livestage_media::audio::{self, Tone};
use livestage_media::video::{Encoded, Encoder, I420, TestPattern, encode};
use livestage_net::engine::EventKind;
use livestage_net::playout::{Config, Playout};
use livestage_net::{Engine, JoinOptions};
use livestage_proto::client::RosterChange;
use livestage_proto::media::{Layer, VideoHeader};
use livestage_proto::track::{self, Source, Track, TrackId};
use livestage_proto::wire::Role;
use livestage_server::{Config as ServerConfig, Embedded};

const CHANNEL: &str = "bench";
const GRANTS: &str = "join,publish-audio,publish-video";
const SECONDS: u64 = 6;

fn join(server: &Embedded, user: &str, role: Role) -> Engine {
    let engine = Engine::new().unwrap();
    let token = server.token(CHANNEL, user, GRANTS, 600).unwrap();
    let cert = server.cert_pem.as_bytes();
    engine.join(JoinOptions::new(server.addr, cert, CHANNEL, &token, role));
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(e) = engine.events().recv_timeout(Duration::from_millis(100))
            && let EventKind::Joined { .. } = e.kind
        {
            return engine;
        }
    }
    panic!("{user} did not join");
}

/// The media id of `user`, from the participant events `engine` (which sees the hosts) got.
fn media_id(engine: &Engine, user: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(e) = engine.events().recv_timeout(Duration::from_millis(100))
            && let EventKind::Roster(RosterChange::Upsert(p)) = e.kind
            && p.user == user
        {
            return p.media_id;
        }
    }
    panic!("never saw {user}");
}

/// Two seconds of textured 720p30, the first frame a keyframe.
fn clip() -> Vec<Encoded> {
    let pattern = TestPattern::new(1280, 720).unwrap().with_texture(true);
    let mut encoder =
        Encoder::new(encode::Config::new(1280, 720, 30.0, 3_000_000).unwrap()).unwrap();
    let mut frame = I420::new(1280, 720).unwrap();
    let mut out = Vec::new();
    for n in 0..60u64 {
        pattern.frame_into(n, n * 33_333, &mut frame).unwrap();
        if let Some(e) = encoder.encode(&frame, n * 33_333).unwrap() {
            out.push(e);
        }
    }
    out
}

fn main() {
    let clip = clip();
    println!(
        "| tracks | decoded fps per track (min / mean) | dropped | voice played / recovered / concealed |"
    );
    println!("|---|---|---|---|");
    for n in [1usize, 2, 4, 8, 12, 16] {
        run(&clip, n);
    }
}

fn run(clip: &[Encoded], tracks: usize) {
    let server = Embedded::start(ServerConfig::default()).unwrap();
    let viewer = Arc::new(join(&server, "viewer", Role::Audience));
    let playout = Playout::start(
        viewer.clone(),
        Config {
            device: false,
            ..Config::default()
        },
    )
    .unwrap();
    let voice = join(&server, "voice", Role::Host);
    voice.publish_track(CHANNEL, Track::microphone());
    let voice_id = media_id(&viewer, "voice");
    let publishers: Vec<(Engine, u64, Vec<TrackId>)> = (0..tracks.div_ceil(4))
        .map(|p| {
            let user = format!("host{p}");
            let engine = join(&server, &user, Role::Host);
            let id = media_id(&viewer, &user);
            let ids: Vec<TrackId> = (0..4.min(tracks - p * 4) as u8).map(|i| 4 + i).collect();
            for &id in &ids {
                engine.publish_track(CHANNEL, Track::new(id, track::Kind::Video, Source::Custom));
            }
            (engine, id, ids)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let mut tone = Tone::new(audio::Format::MONO_48K, 440.0, 0.5).unwrap();
    let mut opus = audio::Encoder::new(audio::Format::MONO_48K, 32_000).unwrap();
    let start = Instant::now();
    let mut measured_from = None;
    let mut base = (Vec::new(), (0, 0, 0));
    for tick in 0u64.. {
        let elapsed = start.elapsed();
        if elapsed >= Duration::from_secs(SECONDS + 2) {
            break;
        }
        // Voice every 20 ms; a video frame whenever a 33 ms boundary passed in this tick.
        let now_us = livestage_net::engine::now_us();
        let packet = opus.encode(&tone.next_frame()).unwrap();
        voice.send_audio(CHANNEL, track::MICROPHONE, 1, tick as u32, now_us, &packet);
        let (frame, due) = ((tick * 20) / 33, (tick * 20) % 33 < 20);
        if due {
            let e = &clip[frame as usize % clip.len()];
            for (engine, _, ids) in &publishers {
                for &id in ids {
                    let header = VideoHeader {
                        media_id: 0,
                        track: id,
                        layer: Layer::High,
                        stream: 1,
                        frame,
                        keyframe: e.keyframe,
                        capture_us: now_us,
                    };
                    engine.send_video(CHANNEL, header, e.data.clone());
                }
            }
        }
        // The first two seconds warm up; then count.
        if measured_from.is_none() && elapsed >= Duration::from_secs(2) {
            measured_from = Some(Instant::now());
            base = snapshot(&playout, &publishers, voice_id);
        }
        let next = start + Duration::from_millis(20 * (tick + 1));
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let secs = measured_from.map_or(1.0, |t| t.elapsed().as_secs_f64());
    let end = snapshot(&playout, &publishers, voice_id);
    let fps: Vec<f64> = end
        .0
        .iter()
        .zip(&base.0)
        .map(|((f, _), (b, _))| (f - b) as f64 / secs)
        .collect();
    let dropped: u64 = end
        .0
        .iter()
        .zip(&base.0)
        .map(|((_, d), (_, b))| d - b)
        .sum();
    let min = fps.iter().copied().fold(f64::MAX, f64::min);
    let mean = fps.iter().sum::<f64>() / fps.len() as f64;
    let (p, r, c) = (end.1.0 - base.1.0, end.1.1 - base.1.1, end.1.2 - base.1.2);
    println!("| {tracks} | {min:.1} / {mean:.1} | {dropped} | {p} / {r} / {c} |");
}

/// Per video track (decoded, dropped), and the voice's (played, recovered, concealed).
fn snapshot(
    playout: &Playout,
    publishers: &[(Engine, u64, Vec<TrackId>)],
    voice_id: u64,
) -> (Vec<(u64, u64)>, (u64, u64, u64)) {
    let mut video = Vec::new();
    for (_, media_id, ids) in publishers {
        for &id in ids {
            let s = playout.stats(CHANNEL, *media_id, id).unwrap_or_default();
            video.push((s.video_frames, s.video_dropped));
        }
    }
    let v = playout
        .stats(CHANNEL, voice_id, track::MICROPHONE)
        .unwrap_or_default();
    (
        video,
        (v.audio_played, v.audio_recovered, v.audio_concealed),
    )
}
