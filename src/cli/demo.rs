//! `livestage demo`: an embedded server, a narrator and a few bot players, narrating a short
//! show: players join the audience, step on stage, talk in data messages, a night falls where
//! only the wolves hear each other, one player is muted and one is kicked.

use std::cell::RefCell;
use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use livestage_net::engine::{ConnectionState, EventKind};
use livestage_net::playout::{self, Playout, PlayoutEvent};
use livestage_net::publish::{AudioSource, Publisher, Video, VideoSource};
use livestage_net::{Engine, JoinOptions};
use livestage_proto::track;
use livestage_proto::wire::{Action, Event, Role};
use livestage_server::{Config, Embedded};

/// Flags of `livestage demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Bot players besides the narrator.
    #[arg(long, default_value_t = 4)]
    bots: usize,
}

const CHANNEL: &str = "village";

struct Player {
    name: String,
    engine: Arc<Engine>,
}

/// Runs the show and exits.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let server = Embedded::start(Config::default())?;
    println!(
        "embedded server listening on {} (app secret {})",
        server.addr, server.secret
    );
    let join = |name: &str, grants: &str, role: Role| -> anyhow::Result<Player> {
        let token = server.token(CHANNEL, name, grants, 600)?;
        let engine = Arc::new(Engine::new()?);
        engine.join(JoinOptions::new(
            server.addr,
            server.cert_pem.as_bytes(),
            CHANNEL,
            &token,
            role,
        ));
        Ok(Player {
            name: name.into(),
            engine,
        })
    };
    let narrator = join(
        "narrator",
        "join,publish-audio,publish-video,publish-data,moderator",
        Role::Host,
    )?;
    let players: Vec<Player> = (0..args.bots.max(2))
        .map(|i| {
            join(
                &format!("player{}", i + 1),
                "join,publish-audio,publish-video,publish-data",
                Role::Audience,
            )
        })
        .collect::<anyhow::Result<_>>()?;
    let everyone = || std::iter::once(&narrator).chain(players.iter());
    // The narrator watches and listens: decoded video and mixed voice (null device if no card).
    let playout = Playout::start(narrator.engine.clone(), playout::Config::default())?;
    println!("narrator's voice output: {:?}", playout.backend());
    let media_ids: RefCell<HashMap<u64, String>> = RefCell::default();
    let publishers: RefCell<Vec<(String, Publisher)>> = RefCell::default();
    let pump = |secs: f64| {
        let until = Instant::now() + Duration::from_secs_f64(secs);
        while Instant::now() < until {
            for p in everyone() {
                while let Ok(e) = p.engine.events().try_recv() {
                    if let EventKind::Joined { peers, .. } = &e.kind {
                        media_ids
                            .borrow_mut()
                            .extend(peers.iter().map(|q| (q.media_id, q.user.clone())));
                    }
                    if let EventKind::Server(
                        Event::PeerJoined(q) | Event::RoleChanged { participant: q, .. },
                    ) = &e.kind
                    {
                        media_ids.borrow_mut().insert(q.media_id, q.user.clone());
                    }
                    if let Some((_, publisher)) =
                        publishers.borrow().iter().find(|(n, _)| n == &p.name)
                    {
                        publisher.handle(&e.kind);
                    }
                    narrate(&p.name, e.kind);
                }
            }
            while let Ok(PlayoutEvent::Speaking {
                media_id, speaking, ..
            }) = playout.events().try_recv()
            {
                let who = media_ids
                    .borrow()
                    .get(&media_id)
                    .cloned()
                    .unwrap_or_else(|| format!("media {media_id}"));
                println!(
                    "{:>10}  hears {who} {}",
                    "narrator",
                    if speaking {
                        "start speaking"
                    } else {
                        "stop speaking"
                    }
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    pump(1.0);

    println!("\n-- the narrator invites every player on stage");
    for p in &players {
        narrator
            .engine
            .moderate(CHANNEL, Action::Promote(p.name.clone()));
    }
    pump(0.8);

    println!("\n-- on stage, every player turns on a camera (a test pattern) and a voice (a tone)");
    for (i, p) in players.iter().enumerate() {
        let camera = VideoSource::TestPattern {
            width: 320,
            height: 180,
            textured: false,
        };
        let voice = AudioSource::Tone(300.0 + 110.0 * i as f32);
        let publisher = Publisher::start(
            p.engine.clone(),
            CHANNEL,
            Some(Video::new(camera, 15.0)),
            Some(voice),
        )?;
        publishers.borrow_mut().push((p.name.clone(), publisher));
    }
    pump(1.5);
    for p in &players {
        let id = media_ids
            .borrow()
            .iter()
            .find(|(_, n)| *n == &p.name)
            .map(|(id, _)| *id);
        let stats = id
            .and_then(|id| playout.participant_stats(CHANNEL, id))
            .unwrap_or_default();
        let picture = id.and_then(|id| playout.latest_video(CHANNEL, id, track::CAMERA));
        let size = picture
            .map(|f| format!("{}x{}", f.picture.width(), f.picture.height()))
            .unwrap_or_else(|| "none".into());
        println!(
            "{:>10}  sees {} ({} frames, latest {size}) and hears {} voice frames ({:.0} dBFS)",
            "narrator", p.name, stats.video_frames, stats.audio_played, stats.level_dbfs
        );
    }

    println!("\n-- day: everyone talks");
    for p in &players {
        p.engine.send_data(
            CHANNEL,
            vec![],
            format!("good morning from {}", p.name).into_bytes(),
        );
    }
    pump(0.8);

    let (wolves, villagers) = players.split_at(2);
    println!(
        "\n-- night: only the wolves ({}, {}) hear each other",
        wolves[0].name, wolves[1].name
    );
    for w in wolves {
        let other: Vec<String> = wolves
            .iter()
            .filter(|o| o.name != w.name)
            .map(|o| o.name.clone())
            .collect();
        narrator.engine.moderate(
            CHANNEL,
            Action::SetHearing {
                listener: w.name.clone(),
                hears: Some(other),
            },
        );
    }
    for v in villagers {
        narrator.engine.moderate(
            CHANNEL,
            Action::SetHearing {
                listener: v.name.clone(),
                hears: Some(vec![]),
            },
        );
    }
    pump(0.5);
    wolves[0]
        .engine
        .send_data(CHANNEL, vec![], b"let's take the baker".to_vec());
    pump(0.8);

    println!("\n-- morning: everyone hears everyone; a vote arrives, stamped with its real sender");
    for p in &players {
        narrator.engine.moderate(
            CHANNEL,
            Action::SetHearing {
                listener: p.name.clone(),
                hears: None,
            },
        );
    }
    pump(0.3);
    let voter = &players[players.len() - 1];
    voter
        .engine
        .send_data(CHANNEL, vec!["narrator".into()], b"vote: player1".to_vec());
    pump(0.8);

    println!(
        "\n-- the narrator mutes {} and sends {} off stage",
        players[0].name, players[1].name
    );
    narrator.engine.moderate(
        CHANNEL,
        Action::Mute {
            user: players[0].name.clone(),
            audio: Some(true),
            video: None,
        },
    );
    narrator
        .engine
        .moderate(CHANNEL, Action::Demote(players[1].name.clone()));
    pump(0.8);

    println!("\n-- {} is kicked; the others leave", players[0].name);
    narrator.engine.moderate(
        CHANNEL,
        Action::Kick {
            user: players[0].name.clone(),
            until: None,
        },
    );
    pump(0.8);
    for p in everyone().filter(|p| p.name != players[0].name) {
        p.engine.leave(CHANNEL);
    }
    pump(1.0);
    for (_, publisher) in publishers.into_inner() {
        publisher.stop()?;
    }
    println!("\ndemo over");
    Ok(ExitCode::SUCCESS)
}

fn narrate(who: &str, kind: EventKind) {
    let line = match kind {
        EventKind::State {
            state: ConnectionState::Disconnected,
            error: Some(e),
        } => format!("disconnected: {e}"),
        EventKind::State { state, .. } => format!("{state:?}").to_lowercase(),
        EventKind::Joined { me, peers, .. } => {
            let names: Vec<_> = peers.iter().map(|p| p.user.as_str()).collect();
            format!("joined as {:?}, sees [{}]", me.role, names.join(", "))
        }
        EventKind::Server(Event::Data {
            from,
            payload,
            private,
            ..
        }) => {
            let kind = if private {
                "private message"
            } else {
                "message"
            };
            format!(
                "{kind} from {from}: {:?}",
                String::from_utf8_lossy(&payload)
            )
        }
        EventKind::Server(Event::RoleChanged { participant, by }) if participant.user == who => {
            format!("is now {:?} (by {by})", participant.role)
        }
        // Bookkeeping a viewer of the show does not need to read.
        EventKind::Server(
            Event::RoleChanged { .. }
            | Event::PeerJoined(_)
            | Event::Audience { .. }
            | Event::KeyframeRequest { .. },
        )
        | EventKind::Link(_)
        | EventKind::PeerLinks(_) => return,
        EventKind::Server(Event::PeerLeft { user, reason }) => {
            format!("sees {user} leave ({reason:?})")
        }
        EventKind::Server(Event::HearingChanged { hears }) => match hears {
            None => "hears everyone".into(),
            Some(h) => format!("hears only [{}]", h.join(", ")),
        },
        EventKind::Server(Event::MuteChanged { user, audio, video }) => {
            format!("sees {user} muted: audio {audio}, video {video}")
        }
        EventKind::Roster(_) => return,
        EventKind::Server(other) => format!("{other:?}"),
        EventKind::LocalError(e) => format!("local error: {e}"),
        EventKind::TrackEnded { track, error } => format!("track {track} ended: {error}"),
    };
    println!("{who:>10}  {line}");
}
