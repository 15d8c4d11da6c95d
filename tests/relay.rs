//! Co-hosting across channels on one server, driven through the engine: two hosts in PK (each
//! relays into the other's channel) and an audience member in each channel who receives both;
//! a moderator of B mutes the relayed A in B only; pause stops delivery into B and resume
//! restores it from a keyframe; demoting A at home stops its relay everywhere; and the
//! refusals (no `relay` grant, a token for another channel or user, a destination at its host
//! cap, more than six destinations).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{HOST, join_to, wait};
use livestage::net::Engine;
use livestage::net::engine::{EventKind, MediaKind};
use livestage::net::publish::{AudioSource, Publisher, Video, VideoSource};
use livestage::proto::ErrorCode;
use livestage::proto::client::RosterChange;
use livestage::proto::relay::{Destination, Remote, Request, State, Target};
use livestage::proto::token::{self, Claims, Grant};
use livestage::proto::wire::{Action, Event, Role};
use livestage::server::{Config, Embedded};

const RELAYING_HOST: &str = "join,publish-audio,publish-video,publish-data,relay";

/// Joins `channel` as `user` and waits for the welcome.
fn member(server: &Embedded, channel: &str, user: &str, grants: &str, role: Role) -> Arc<Engine> {
    watcher(server, channel, user, grants, role).0
}

/// Joins like [`member`]; also returns the participants it saw in the welcome, by media id.
fn watcher(
    server: &Embedded,
    channel: &str,
    user: &str,
    grants: &str,
    role: Role,
) -> (Arc<Engine>, HashMap<u64, String>) {
    let (engine, peers) = join_to(server, server.addr, channel, user, grants, role);
    let ids = peers.into_iter().map(|p| (p.media_id, p.user)).collect();
    (Arc::new(engine), ids)
}

/// A host publishing the stamped test pattern (320x180, 30 fps) and a tone. A thread hands
/// its engine's events to the publisher (keyframe requests) and passes them on.
struct Host {
    engine: Arc<Engine>,
    events: mpsc::Receiver<EventKind>,
    _publisher: Arc<Publisher>,
}

fn host(server: &Embedded, channel: &str, user: &str, grants: &str) -> Host {
    let engine = member(server, channel, user, grants, Role::Host);
    let pattern = VideoSource::TestPattern {
        width: 320,
        height: 180,
        textured: false,
    };
    let publisher = Publisher::start(
        engine.clone(),
        channel,
        Some(Video::new(pattern, 30.0)),
        Some(AudioSource::Tone(440.0)),
    )
    .unwrap();
    let publisher = Arc::new(publisher);
    let (tx, events) = mpsc::channel();
    let (pump, handler) = (engine.clone(), publisher.clone());
    std::thread::spawn(move || {
        while let Ok(event) = pump.events().recv() {
            handler.handle(&event.kind);
            if tx.send(event.kind).is_err() {
                break;
            }
        }
    });
    Host {
        engine,
        events,
        _publisher: publisher,
    }
}

impl Host {
    fn relay(&self, channel: &str, request: Request) {
        self.engine.relay(channel, request);
    }

    /// Events until `done` says so; `Err` with what was seen on timeout.
    fn wait(
        &self,
        limit: Duration,
        mut done: impl FnMut(&EventKind) -> bool,
    ) -> Result<Vec<EventKind>, Vec<EventKind>> {
        let end = Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(kind) => {
                    let stop = done(&kind);
                    seen.push(kind);
                    if stop {
                        return Ok(seen);
                    }
                }
                Err(_) => return Err(seen),
            }
        }
    }
}

fn into(server: &Embedded, channel: &str, user: &str, grants: &str) -> Destination {
    Destination {
        target: here(channel),
        token: server.token(channel, user, grants, 3600).unwrap(),
    }
}

fn here(channel: &str) -> Target {
    Target {
        channel: channel.into(),
        server: None,
    }
}

/// Waits until the last state of each of `channels` (on this server) is `want`; panics with
/// what was seen otherwise.
fn relay_states(host: &Host, channels: &[&str], want: State) {
    let mut last: HashMap<String, State> = HashMap::new();
    host.wait(Duration::from_secs(15), |k| {
        if let EventKind::Server(Event::Relay { to, state }) = k {
            last.insert(to.channel.clone(), state.clone());
        }
        channels.iter().all(|c| last.get(*c) == Some(&want))
    })
    .unwrap_or_else(|seen| panic!("not every one of {channels:?} is {want:?}; saw {seen:#?}"));
}

fn relay_state(host: &Host, to: &Target, want: State) {
    relay_states(host, &[to.channel.as_str()], want);
}

/// What a viewer received in a window, per publisher user.
#[derive(Default, Debug)]
struct Received {
    video: u64,
    audio: u64,
    /// The first video frame of the window was a keyframe.
    keyframe_first: Option<bool>,
    /// Frame numbers only went up within each publication.
    in_order: bool,
    last_frame: Option<(u32, u64)>,
    first_at: Option<Instant>,
}

/// Notes who publishes under which media id.
fn learn(ids: &mut HashMap<u64, String>, kind: &EventKind) {
    match kind {
        EventKind::Joined { peers, .. } | EventKind::Roster(RosterChange::Replace(peers)) => {
            ids.extend(peers.iter().map(|p| (p.media_id, p.user.clone())));
        }
        EventKind::Roster(RosterChange::Upsert(p)) => {
            ids.insert(p.media_id, p.user.clone());
        }
        _ => {}
    }
}

/// Receives for `window`, naming each publisher by the user its media id belongs to.
fn receive(
    viewer: &Engine,
    window: Duration,
    ids: &mut HashMap<u64, String>,
) -> HashMap<String, Received> {
    let end = Instant::now() + window;
    let mut got: HashMap<String, Received> = HashMap::new();
    while Instant::now() < end {
        while let Ok(event) = viewer.events().try_recv() {
            learn(ids, &event.kind);
        }
        let Ok(item) = viewer.media().recv_timeout(Duration::from_millis(20)) else {
            continue;
        };
        let Some(user) = ids.get(&item.media_id) else {
            continue;
        };
        let r = got.entry(user.clone()).or_insert_with(|| Received {
            in_order: true,
            ..Received::default()
        });
        r.first_at.get_or_insert_with(Instant::now);
        match item.kind {
            MediaKind::Video { header, .. } => {
                r.video += 1;
                r.keyframe_first.get_or_insert(header.keyframe);
                let now = (header.stream, header.frame);
                if r.last_frame
                    .is_some_and(|last| last.0 == now.0 && last.1 >= now.1)
                {
                    r.in_order = false;
                }
                r.last_frame = Some(now);
            }
            MediaKind::Audio { .. } => r.audio += 1,
        }
    }
    got
}

#[test]
fn pk_on_one_server_each_audience_receives_both_hosts() {
    let server = Embedded::start(Config::default()).unwrap();
    let alice = host(&server, "a", "alice", RELAYING_HOST);
    let bob = host(&server, "b", "bob", RELAYING_HOST);
    let (fan_a, ids_a) = watcher(&server, "a", "fan-a", "join", Role::Audience);
    let (fan_b, ids_b) = watcher(&server, "b", "fan-b", "join", Role::Audience);

    alice.relay(
        "a",
        Request::Start {
            destinations: vec![into(&server, "b", "alice", HOST)],
        },
    );
    bob.relay(
        "b",
        Request::Start {
            destinations: vec![into(&server, "a", "bob", HOST)],
        },
    );
    relay_state(&alice, &here("b"), State::Running);
    relay_state(&bob, &here("a"), State::Running);

    for (fan, mut ids, channel) in [(&fan_a, ids_a, "a"), (&fan_b, ids_b, "b")] {
        let got = receive(fan, Duration::from_secs(3), &mut ids);
        for user in ["alice", "bob"] {
            let r = got
                .get(user)
                .unwrap_or_else(|| panic!("{channel}'s audience got nothing of {user}: {got:?}"));
            // 30 fps and 50 audio frames a second for 3 s; the relayed host as much as the
            // one at home, less the first moments.
            assert!(r.video >= 60, "{channel} <- {user}: {r:?}");
            assert!(r.audio >= 100, "{channel} <- {user}: {r:?}");
            assert!(r.in_order, "{channel} <- {user}: {r:?}");
        }
    }
}

#[test]
fn a_moderator_of_b_mutes_the_relayed_host_in_b_only() {
    let server = Embedded::start(Config::default()).unwrap();
    let alice = host(&server, "a", "alice", RELAYING_HOST);
    let narrator = member(&server, "b", "narrator", "join,moderator", Role::Audience);
    let (fan_a, mut ids_a) = watcher(&server, "a", "fan-a", "join", Role::Audience);
    let (fan_b, mut ids_b) = watcher(&server, "b", "fan-b", "join", Role::Audience);
    alice.relay(
        "a",
        Request::Start {
            destinations: vec![into(&server, "b", "alice", HOST)],
        },
    );
    relay_state(&alice, &here("b"), State::Running);

    let user = "alice".to_owned();
    narrator.moderate(
        "b",
        Action::Mute {
            user,
            audio: Some(true),
            video: None,
        },
    );
    wait(&fan_b, Duration::from_secs(5), |k| {
        learn(&mut ids_b, k);
        matches!(k, EventKind::Server(Event::MuteChanged { audio: true, .. }))
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(200)); // Audio already on its way.
    let (got_a, got_b) = std::thread::scope(|s| {
        let a = s.spawn(|| receive(&fan_a, Duration::from_secs(2), &mut ids_a));
        let b = s.spawn(|| receive(&fan_b, Duration::from_secs(2), &mut ids_b));
        (a.join().unwrap(), b.join().unwrap())
    });
    let (home, away) = (&got_a["alice"], &got_b["alice"]);
    assert!(
        home.audio >= 80,
        "alice's own audience still hears her: {home:?}"
    );
    assert_eq!(away.audio, 0, "muted in b: {away:?}");
    assert!(away.video >= 40, "her video still reaches b: {away:?}");
}

#[test]
fn pause_stops_delivery_and_resume_restores_it_from_a_keyframe() {
    let server = Embedded::start(Config::default()).unwrap();
    let alice = host(&server, "a", "alice", RELAYING_HOST);
    let (fan_b, mut ids) = watcher(&server, "b", "fan-b", "join", Role::Audience);
    alice.relay(
        "a",
        Request::Start {
            destinations: vec![into(&server, "b", "alice", HOST)],
        },
    );
    relay_state(&alice, &here("b"), State::Running);
    assert!(receive(&fan_b, Duration::from_secs(1), &mut ids)["alice"].video >= 15);

    alice.relay("a", Request::Pause);
    relay_state(&alice, &here("b"), State::Paused);
    receive(&fan_b, Duration::from_millis(300), &mut ids); // What was on its way.
    let paused = receive(&fan_b, Duration::from_secs(1), &mut ids);
    assert!(
        paused
            .get("alice")
            .is_none_or(|r| r.video == 0 && r.audio == 0),
        "{paused:?}"
    );

    let resumed_at = Instant::now();
    alice.relay("a", Request::Resume);
    let got = receive(&fan_b, Duration::from_secs(2), &mut ids);
    let r = &got["alice"];
    assert_eq!(
        r.keyframe_first,
        Some(true),
        "delivery resumes at a keyframe: {r:?}"
    );
    let after = r.first_at.unwrap() - resumed_at;
    // The keyframe is asked for at once; a keyframe interval (500 ms) is the bound.
    assert!(
        after < Duration::from_millis(500),
        "first frame {after:?} after resuming"
    );
    assert!(r.video >= 30 && r.in_order, "{r:?}");
}

#[test]
fn demoting_the_host_at_home_stops_its_relay_everywhere() {
    let server = Embedded::start(Config::default()).unwrap();
    let alice = host(&server, "a", "alice", RELAYING_HOST);
    let narrator = member(&server, "a", "narrator", "join,moderator", Role::Audience);
    let fan_b = member(&server, "b", "fan-b", "join", Role::Audience);
    let fan_c = member(&server, "c", "fan-c", "join", Role::Audience);
    let destinations = vec![
        into(&server, "b", "alice", HOST),
        into(&server, "c", "alice", HOST),
    ];
    alice.relay("a", Request::Start { destinations });
    relay_states(&alice, &["b", "c"], State::Running);

    narrator.moderate("a", Action::Demote("alice".into()));
    relay_states(&alice, &["b", "c"], State::Stopped);
    for fan in [&fan_b, &fan_c] {
        wait(
            fan,
            Duration::from_secs(5),
            |k| matches!(k, EventKind::Server(Event::PeerLeft { user, .. }) if user == "alice"),
        )
        .unwrap_or_else(|seen| panic!("the relayed alice did not leave: {seen:#?}"));
    }
}

#[test]
fn refusals_are_per_destination_and_the_others_keep_running() {
    let config = Config {
        host_cap: 1,
        ..Config::default()
    };
    let server = Embedded::start(config).unwrap();
    let alice = host(&server, "a", "alice", RELAYING_HOST);
    let _busy = member(&server, "full", "carol", HOST, Role::Host);

    // Without the grant the whole request is refused.
    let plain = member(&server, "p", "dave", HOST, Role::Host);
    plain.relay(
        "p",
        Request::Start {
            destinations: vec![into(&server, "b", "dave", HOST)],
        },
    );
    wait(&plain, Duration::from_secs(5), |k| {
        matches!(k, EventKind::Server(Event::Refused { error, .. }) if error.code == ErrorCode::NotPermitted)
    })
    .unwrap();

    // Seven destinations: refused before anything starts.
    let seven = (0..7)
        .map(|i| into(&server, &format!("x{i}"), "alice", HOST))
        .collect();
    alice.relay(
        "a",
        Request::Start {
            destinations: seven,
        },
    );
    alice.wait(Duration::from_secs(5), |k| {
        matches!(k, EventKind::Server(Event::Refused { error, .. }) if error.code == ErrorCode::InvalidInput)
    })
    .unwrap();

    let wrong_channel = Destination {
        target: here("b"),
        token: server.token("elsewhere", "alice", HOST, 3600).unwrap(),
    };
    let wrong_user = Destination {
        target: here("c"),
        token: server.token("c", "mallory", HOST, 3600).unwrap(),
    };
    // Minted two hours ago for an hour.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let grants = Grant::parse_list(HOST).unwrap();
    let claims = Claims::new(&server.app, "e", "alice", grants, now - 7200, 3600);
    let expired = Destination {
        target: here("e"),
        token: token::mint(&claims, server.secret.as_bytes()).unwrap(),
    };
    // Another server this one's `[relay] allow` does not name.
    let elsewhere = Destination {
        target: Target {
            channel: "far".into(),
            server: Some(Remote {
                addr: "127.0.0.1:9".parse().unwrap(),
                pin: [0; 32],
            }),
        },
        token: server.token("far", "alice", HOST, 3600).unwrap(),
    };
    let destinations = vec![
        wrong_channel,
        wrong_user,
        expired,
        elsewhere,
        into(&server, "full", "alice", HOST),
        into(&server, "ok", "alice", HOST),
    ];
    alice.relay("a", Request::Start { destinations });
    let mut finals: HashMap<String, State> = HashMap::new();
    alice
        .wait(Duration::from_secs(20), |k| {
            if let EventKind::Server(Event::Relay { to, state }) = k
                && (state.is_final() || *state == State::Running)
            {
                finals.insert(to.channel.clone(), state.clone());
            }
            finals.len() == 6
        })
        .unwrap_or_else(|seen| panic!("not every destination settled: {finals:?} {seen:#?}"));
    let code = |channel: &str| match &finals[channel] {
        State::Failed(e) => Some(e.code),
        _ => None,
    };
    assert_eq!(code("b"), Some(ErrorCode::TokenInvalid));
    assert_eq!(code("c"), Some(ErrorCode::TokenInvalid));
    assert_eq!(code("e"), Some(ErrorCode::TokenExpired));
    assert_eq!(code("full"), Some(ErrorCode::TooManyHosts));
    assert_eq!(code("far"), Some(ErrorCode::NotPermitted));
    assert_eq!(finals["ok"], State::Running);
}
