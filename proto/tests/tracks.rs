//! Tracks: a host publishes several (a camera and a screen), everyone who sees it learns of
//! them, media flows only on published tracks, a moderator mutes one track, subscribers choose
//! per track, and stepping off the stage unpublishes everything (and back on republishes).
#![allow(clippy::unwrap_used)]

mod common;

use common::Net;
use livestage_proto::ErrorCode;
use livestage_proto::client::Gate;
use livestage_proto::media::{Kind, Layer};
use livestage_proto::server::ConnId;
use livestage_proto::track::{self, Source, Track, TrackId};
use livestage_proto::wire::{Action, Event, Request};

fn route(net: &mut Net, from: usize, track: TrackId, kind: Kind) -> Result<Vec<ConnId>, ErrorCode> {
    let conn = net.clients[from].conn.unwrap();
    let now = net.now;
    let r = net
        .server
        .route(conn, track, kind, now)
        .map(|r| {
            let mut to = r.to.to_vec();
            to.sort();
            to
        })
        .map_err(|e| e.code);
    net.run();
    r
}

fn conn(net: &Net, i: usize) -> ConnId {
    net.clients[i].conn.unwrap()
}

/// The tracks client `viewer` knows `user` publishes, by id.
fn seen(net: &Net, viewer: usize, user: &str) -> Vec<(TrackId, Source, bool)> {
    let session = &net.clients[viewer].session;
    let me = session.me().filter(|m| m.user == user);
    let p = me
        .or_else(|| session.roster().find(|p| p.user == user))
        .unwrap();
    p.tracks.iter().map(|t| (t.id, t.source, t.muted)).collect()
}

const HIGH: Kind = Kind::Video(Layer::High);

#[test]
fn a_camera_and_a_screen_reach_everyone_and_late_joiners_see_both() {
    let mut net = Net::new();
    let host = net.host("host");
    let early = net.audience("early");
    net.publish(host, Track::screen());
    let expect = vec![
        (track::CAMERA, Source::Camera, false),
        (track::MICROPHONE, Source::Microphone, false),
        (track::SCREEN, Source::Screen, false),
    ];
    assert_eq!(
        seen(&net, early, "host"),
        expect,
        "announced to the audience"
    );
    assert!(
        net.events(early).iter().any(|e| matches!(e,
        Event::TrackPublished { user, track } if user == "host" && track.source == Source::Screen))
    );
    let late = net.audience("late");
    assert_eq!(
        seen(&net, late, "host"),
        expect,
        "in the roster of a late joiner"
    );
    assert_eq!(seen(&net, host, "host"), expect, "the host sees its own");
    let both = {
        let mut v = vec![conn(&net, early), conn(&net, late)];
        v.sort();
        v
    };
    assert_eq!(route(&mut net, host, track::CAMERA, HIGH).unwrap(), both);
    assert_eq!(route(&mut net, host, track::SCREEN, HIGH).unwrap(), both);
    assert!(net.clients[host].session.may_send(track::SCREEN));
}

#[test]
fn media_on_a_track_that_is_not_published_is_refused() {
    let mut net = Net::new();
    let host = net.host("host");
    net.audience("viewer");
    net.events(host);
    assert_eq!(route(&mut net, host, 9, HIGH), Err(ErrorCode::UnknownTrack));
    // Audio on a video track is not that track's media either.
    assert_eq!(
        route(&mut net, host, track::CAMERA, Kind::Audio),
        Err(ErrorCode::UnknownTrack)
    );
    assert_eq!(
        net.refusals(host),
        vec![ErrorCode::UnknownTrack],
        "told once"
    );
    net.send(host, Request::Unpublish(track::CAMERA));
    net.advance(6_000);
    assert_eq!(
        route(&mut net, host, track::CAMERA, HIGH),
        Err(ErrorCode::UnknownTrack),
        "an unpublished track is refused"
    );
}

#[test]
fn more_tracks_than_the_cap_and_bad_tracks_are_refused() {
    let mut net = Net::new();
    let host = net.host("host");
    for id in 2..5 {
        net.publish(host, Track::new(id, track::Kind::Video, Source::Custom));
    }
    net.events(host);
    // The client refuses a fifth video track itself; a client that asks anyway is refused.
    let fifth = Track::new(7, track::Kind::Video, Source::Screen);
    assert_eq!(net.clients[host].session.local_tracks().count(), 5);
    assert_eq!(
        net.clients[host]
            .session
            .publish(fifth.clone(), net.now)
            .unwrap_err()
            .code,
        ErrorCode::TooManyTracks
    );
    net.send(host, Request::Publish(fifth));
    let mut bad_id = Track::microphone();
    bad_id.id = track::MAX_ID;
    net.send(host, Request::Publish(bad_id));
    net.send(host, Request::Unpublish(12));
    assert_eq!(
        net.refusals(host),
        vec![
            ErrorCode::TooManyTracks,
            ErrorCode::InvalidInput,
            ErrorCode::UnknownTrack
        ]
    );
    assert_eq!(seen(&net, host, "host").len(), 5, "nothing else changed");
}

#[test]
fn a_moderator_stops_a_screen_share_and_the_camera_keeps_flowing() {
    let mut net = Net::new();
    let m = net.moderator("m");
    let host = net.host("host");
    let viewer = net.audience("viewer");
    net.publish(host, Track::screen());
    net.events(viewer);
    net.send(
        m,
        Request::Moderate(Action::MuteTrack {
            user: "host".into(),
            track: track::SCREEN,
            muted: true,
        }),
    );
    assert!(
        route(&mut net, host, track::SCREEN, HIGH)
            .unwrap()
            .is_empty()
    );
    assert_eq!(route(&mut net, host, track::CAMERA, HIGH).unwrap().len(), 2);
    assert!(seen(&net, viewer, "host").contains(&(track::SCREEN, Source::Screen, true)));
    assert!(net.events(viewer).iter().any(|e| matches!(e,
        Event::TrackPublished { track, .. } if track.id == track::SCREEN && track.muted)));
    // The publisher stops sending what nobody may receive; republishing keeps the mute.
    assert!(!net.clients[host].session.may_send(track::SCREEN));
    assert!(net.clients[host].session.may_send(track::CAMERA));
    let mut named = Track::screen();
    named.name = "Rules card".into();
    net.publish(host, named);
    assert!(seen(&net, viewer, "host").contains(&(track::SCREEN, Source::Screen, true)));
    net.send(
        m,
        Request::Moderate(Action::MuteTrack {
            user: "host".into(),
            track: 9,
            muted: true,
        }),
    );
    assert_eq!(net.refusals(m), vec![ErrorCode::UnknownTrack]);
}

#[test]
fn a_subscriber_chooses_per_track() {
    let mut net = Net::new();
    let host = net.host("host");
    let viewer = net.audience("viewer");
    let other = net.audience("other");
    net.publish(host, Track::screen());
    let (v, o) = (conn(&net, viewer), conn(&net, other));
    // The viewer turns the screen off and takes the camera's low layer.
    net.send(
        viewer,
        Request::Subscribe {
            user: "host".into(),
            track: Some(track::SCREEN),
            audio: false,
            video: None,
        },
    );
    net.send(
        viewer,
        Request::Subscribe {
            user: "host".into(),
            track: Some(track::CAMERA),
            audio: false,
            video: Some(Layer::Low),
        },
    );
    assert_eq!(route(&mut net, host, track::SCREEN, HIGH).unwrap(), vec![o]);
    assert_eq!(route(&mut net, host, track::CAMERA, HIGH).unwrap(), vec![o]);
    assert_eq!(
        route(&mut net, host, track::CAMERA, Kind::Video(Layer::Low)).unwrap(),
        vec![v]
    );
    // Audio follows the participant-wide choice.
    let mut both = vec![v, o];
    both.sort();
    assert_eq!(
        route(&mut net, host, track::MICROPHONE, Kind::Audio).unwrap(),
        both
    );
    // A participant-wide choice replaces the per-track ones.
    net.send(
        viewer,
        Request::Subscribe {
            user: "host".into(),
            track: None,
            audio: true,
            video: Some(Layer::High),
        },
    );
    assert_eq!(route(&mut net, host, track::SCREEN, HIGH).unwrap(), both);
    // A track the publisher does not have is an error to the caller only.
    net.events(viewer);
    net.send(
        viewer,
        Request::Subscribe {
            user: "host".into(),
            track: Some(11),
            audio: true,
            video: None,
        },
    );
    assert_eq!(net.refusals(viewer), vec![ErrorCode::UnknownTrack]);
    assert!(net.refusals(other).is_empty());
}

#[test]
fn stepping_off_stage_unpublishes_and_back_on_republishes() {
    let mut net = Net::new();
    let m = net.moderator("m");
    let host = net.host("host");
    net.publish(host, Track::screen());
    net.send(m, Request::Moderate(Action::Demote("host".into())));
    assert!(
        net.clients[m].session.roster().all(|p| p.user != "host"),
        "an audience member is out of a host's view"
    );
    assert!(
        seen(&net, host, "host").is_empty(),
        "the audience publishes nothing"
    );
    assert!(!net.clients[host].session.may_send(track::CAMERA));
    net.send(m, Request::Moderate(Action::Promote("host".into())));
    assert_eq!(
        seen(&net, host, "host").len(),
        3,
        "the local tracks come back by themselves"
    );
    assert_eq!(seen(&net, m, "host").len(), 3);
    assert!(net.refusals(host).is_empty());
}

#[test]
fn media_waits_until_the_server_has_the_track() {
    let mut net = Net::new();
    let host = net.host("host");
    let now = net.now;
    net.clients[host]
        .session
        .publish(Track::screen(), now)
        .unwrap();
    assert!(
        !net.clients[host].session.may_send(track::SCREEN),
        "announced, not yet acknowledged"
    );
    net.run();
    assert!(net.clients[host].session.may_send(track::SCREEN));
    net.clients[host]
        .session
        .unpublish(track::SCREEN, now)
        .unwrap();
    net.run();
    // Not one of its tracks any more: the server decides (and refuses).
    assert_eq!(
        route(&mut net, host, track::SCREEN, HIGH),
        Err(ErrorCode::UnknownTrack)
    );
}

#[test]
fn the_last_frames_of_an_unpublished_track_are_dropped_until_it_is_published_again() {
    let mut net = Net::new();
    let host = net.host("host");
    let now = net.now;
    let session = &mut net.clients[host].session;
    session.publish(Track::screen(), now).unwrap();
    net.run();
    let session = &mut net.clients[host].session;
    assert_eq!(session.gate(track::SCREEN), Gate::Send);
    session.unpublish(track::SCREEN, now).unwrap();
    // A stopping source's frame still on its way is not sent (the server would refuse it).
    assert_eq!(session.gate(track::SCREEN), Gate::Drop);
    // A track this client never published is the server's to judge.
    assert_eq!(session.gate(track::CAMERA), Gate::Send);
    net.run();
    assert_eq!(net.clients[host].session.gate(track::SCREEN), Gate::Drop);
    let session = &mut net.clients[host].session;
    session.publish(Track::screen(), now).unwrap();
    assert_eq!(session.gate(track::SCREEN), Gate::Wait, "announced again");
    net.run();
    assert_eq!(net.clients[host].session.gate(track::SCREEN), Gate::Send);
}
