//! Who receives whose media: hosts only publish, mutes and hearing sets stop delivery,
//! subscriptions choose layers, keyframe requests are throttled.
#![allow(clippy::unwrap_used)]

mod common;

use common::Net;
use livestage_proto::ErrorCode;
use livestage_proto::media::{Kind, Layer};
use livestage_proto::server::{ConnId, KEYFRAME_INTERVAL_MS};
use livestage_proto::track::{self, TrackId};
use livestage_proto::wire::{Action, Event, Request};

/// Where `from`'s camera video or microphone audio goes.
fn route(net: &mut Net, from: usize, kind: Kind) -> Result<Vec<ConnId>, ErrorCode> {
    let track = match kind {
        Kind::Audio => track::MICROPHONE,
        Kind::Video(_) => track::CAMERA,
    };
    route_track(net, from, track, kind)
}

fn route_track(
    net: &mut Net,
    from: usize,
    track: TrackId,
    kind: Kind,
) -> Result<Vec<ConnId>, ErrorCode> {
    let conn = net.clients[from].conn.unwrap();
    let now = net.now;
    let r = net
        .server
        .route(conn, track, kind, now)
        .map(|r| r.to.to_vec())
        .map_err(|e| e.code);
    net.run();
    r
}

fn conn(net: &Net, i: usize) -> ConnId {
    net.clients[i].conn.unwrap()
}

#[test]
fn audience_media_goes_nowhere_and_is_refused_once() {
    let mut net = Net::new();
    net.host("host");
    let viewer = net.audience("viewer");
    net.events(viewer);
    assert_eq!(
        route(&mut net, viewer, Kind::Audio),
        Err(ErrorCode::NotPermitted)
    );
    assert_eq!(
        route(&mut net, viewer, Kind::Video(Layer::High)),
        Err(ErrorCode::NotPermitted)
    );
    assert_eq!(
        net.refusals(viewer),
        vec![ErrorCode::NotPermitted],
        "told once, not per packet"
    );
}

#[test]
fn hosts_reach_everyone_who_hears_and_subscribes() {
    let mut net = Net::new();
    let m = net.moderator("m");
    let host = net.host("host");
    let viewer = net.audience("viewer");
    let all = {
        let mut v = vec![conn(&net, m), conn(&net, viewer)];
        v.sort();
        v
    };
    let mut got = route(&mut net, host, Kind::Audio).unwrap();
    got.sort();
    assert_eq!(got, all);

    // The viewer chooses the low layer and no audio.
    net.send(
        viewer,
        Request::Subscribe {
            user: "host".into(),
            track: None,
            audio: false,
            video: Some(Layer::Low),
        },
    );
    assert_eq!(
        route(&mut net, host, Kind::Audio).unwrap(),
        vec![conn(&net, m)]
    );
    assert_eq!(
        route(&mut net, host, Kind::Video(Layer::High)).unwrap(),
        vec![conn(&net, m)]
    );
    assert_eq!(
        route(&mut net, host, Kind::Video(Layer::Low)).unwrap(),
        vec![conn(&net, viewer)]
    );

    // A hearing set excludes the host for the moderator itself.
    net.send(
        m,
        Request::Moderate(Action::SetHearing {
            listener: "m".into(),
            hears: Some(vec![]),
        }),
    );
    assert!(route(&mut net, host, Kind::Audio).unwrap().is_empty());
}

#[test]
fn muted_media_goes_nowhere() {
    let mut net = Net::new();
    let m = net.moderator("m");
    let host = net.host("host");
    net.send(
        m,
        Request::Moderate(Action::Mute {
            user: "host".into(),
            audio: Some(true),
            video: None,
        }),
    );
    assert!(route(&mut net, host, Kind::Audio).unwrap().is_empty());
    assert_eq!(
        route(&mut net, host, Kind::Video(Layer::High))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn keyframe_requests_are_throttled() {
    let mut net = Net::new();
    let host = net.host("host");
    let viewer = net.audience("viewer");
    let host_id = net.clients[host].session.me().unwrap().media_id;
    let asked = |net: &mut Net| {
        net.events(host)
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::KeyframeRequest {
                        track: track::CAMERA,
                        layer: Layer::High
                    }
                )
            })
            .count()
    };
    assert_eq!(asked(&mut net), 1, "a viewer joining asks for a keyframe");
    for _ in 0..5 {
        net.send(
            viewer,
            Request::RequestKeyframe {
                media_id: host_id,
                track: track::CAMERA,
                layer: Layer::High,
            },
        );
    }
    assert_eq!(asked(&mut net), 0, "within the interval");
    net.advance(KEYFRAME_INTERVAL_MS);
    net.send(
        viewer,
        Request::RequestKeyframe {
            media_id: host_id,
            track: track::CAMERA,
            layer: Layer::High,
        },
    );
    assert_eq!(asked(&mut net), 1);
}

#[test]
fn a_subscriber_that_keeps_falling_behind_is_moved_to_the_low_layer() {
    let mut net = Net::new();
    let host = net.host("host");
    let viewer = net.audience("viewer");
    let host_id = net.clients[host].session.me().unwrap().media_id;
    let viewer_conn = conn(&net, viewer);
    // The host sends both layers.
    route(&mut net, host, Kind::Video(Layer::Low)).unwrap();
    net.events(viewer);
    net.server
        .congested(viewer_conn, host_id, track::CAMERA, Layer::High, net.now);
    net.run();
    assert!(
        net.events(viewer).is_empty(),
        "one congested moment is not enough"
    );
    net.advance(2000);
    route(&mut net, host, Kind::Video(Layer::Low)).unwrap();
    net.server
        .congested(viewer_conn, host_id, track::CAMERA, Layer::High, net.now);
    net.run();
    assert!(net.events(viewer).contains(&Event::LayerChanged {
        media_id: host_id,
        track: track::CAMERA,
        layer: Layer::Low
    }));
    assert!(
        route(&mut net, host, Kind::Video(Layer::High))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        route(&mut net, host, Kind::Video(Layer::Low)).unwrap(),
        vec![viewer_conn]
    );
    assert!(net.events(host).contains(&Event::KeyframeRequest {
        track: track::CAMERA,
        layer: Layer::Low
    }));
}

#[test]
fn without_a_low_layer_congestion_only_asks_for_a_keyframe() {
    let mut net = Net::new();
    let host = net.host("host");
    let viewer = net.audience("viewer");
    let host_id = net.clients[host].session.me().unwrap().media_id;
    let viewer_conn = conn(&net, viewer);
    net.events(host);
    for _ in 0..3 {
        net.advance(600);
        net.server
            .congested(viewer_conn, host_id, track::CAMERA, Layer::High, net.now);
        net.run();
    }
    assert!(
        !net.events(viewer)
            .iter()
            .any(|e| matches!(e, Event::LayerChanged { .. }))
    );
    assert!(net.events(host).contains(&Event::KeyframeRequest {
        track: track::CAMERA,
        layer: Layer::High
    }));
    assert_eq!(
        route(&mut net, host, Kind::Video(Layer::High)).unwrap(),
        vec![viewer_conn]
    );
}
