//! Back up after a bottleneck: a subscriber the server moved to the low layer is tried on the
//! high layer again once its path has been quiet, stays there if the try holds, and goes back
//! down at once (waiting twice as long for the next try) if it congests.
#![allow(clippy::unwrap_used)]

mod common;

use common::Net;
use livestage_proto::media::{Kind, Layer};
use livestage_proto::server::{ConnId, PROBE_AFTER_MS, PROBE_WINDOW_MS};
use livestage_proto::track;
use livestage_proto::wire::{Event, Request};

struct Setup {
    net: Net,
    host: usize,
    viewer: usize,
    host_id: u64,
    conn: ConnId,
}

/// A host sending both layers and a viewer the server moved to the low one.
fn moved_down() -> Setup {
    let mut net = Net::new();
    let host = net.host("host");
    let viewer = net.audience("viewer");
    let host_id = net.clients[host].session.me().unwrap().media_id;
    let conn = net.clients[viewer].conn.unwrap();
    let mut s = Setup {
        net,
        host,
        viewer,
        host_id,
        conn,
    };
    s.send_low();
    s.congest(Layer::High);
    s.net.advance(1_000);
    s.send_low();
    s.congest(Layer::High);
    assert_eq!(s.changes(), vec![Layer::Low]);
    s
}

impl Setup {
    fn send_low(&mut self) {
        let conn = self.net.clients[self.host].conn.unwrap();
        let now = self.net.now;
        let low = Kind::Video(Layer::Low);
        self.net
            .server
            .route(conn, track::CAMERA, low, now)
            .unwrap();
        self.net.run();
    }

    fn congest(&mut self, layer: Layer) {
        let now = self.net.now;
        let (conn, id) = (self.conn, self.host_id);
        self.net
            .server
            .congested(conn, id, track::CAMERA, layer, now);
        self.net.run();
    }

    /// The layers the viewer was moved to since last asked.
    fn changes(&mut self) -> Vec<Layer> {
        self.net
            .events(self.viewer)
            .into_iter()
            .filter_map(|e| match e {
                Event::LayerChanged { layer, .. } => Some(layer),
                _ => None,
            })
            .collect()
    }

    /// Whether the viewer receives the high layer now.
    fn on_high(&mut self) -> bool {
        let conn = self.net.clients[self.host].conn.unwrap();
        let now = self.net.now;
        let high = Kind::Video(Layer::High);
        let route = self
            .net
            .server
            .route(conn, track::CAMERA, high, now)
            .unwrap();
        self.net.run();
        route.to.contains(&self.conn)
    }
}

#[test]
fn a_quiet_path_is_moved_back_up_and_stays_up_when_the_try_holds() {
    let mut s = moved_down();
    s.net.advance(PROBE_AFTER_MS - 1_000);
    assert!(
        s.changes().is_empty(),
        "not before the path was quiet long enough"
    );
    assert!(!s.on_high());
    s.net.advance(1_100);
    assert_eq!(s.changes(), vec![Layer::High]);
    assert!(s.on_high());
    assert!(
        s.net.events(s.host).iter().any(|e| matches!(
            e,
            Event::KeyframeRequest {
                layer: Layer::High,
                ..
            }
        )),
        "the viewer starts the high layer at a keyframe"
    );
    // The try holds through its window and long after.
    s.net.advance(PROBE_WINDOW_MS + 30_000);
    assert!(s.changes().is_empty());
    assert!(s.on_high());
}

#[test]
fn a_try_that_congests_goes_back_down_and_the_next_waits_longer() {
    let mut s = moved_down();
    s.net.advance(PROBE_AFTER_MS + 100);
    assert_eq!(s.changes(), vec![Layer::High]);
    s.net.advance(500);
    s.congest(Layer::High);
    assert_eq!(
        s.changes(),
        vec![Layer::Low],
        "one congested moment on trial is enough"
    );
    assert!(!s.on_high());
    // The next try waits twice as long.
    s.net.advance(PROBE_AFTER_MS + 500);
    assert!(s.changes().is_empty());
    s.net.advance(PROBE_AFTER_MS);
    assert_eq!(s.changes(), vec![Layer::High]);
}

#[test]
fn congestion_on_the_low_layer_restarts_the_quiet_period_and_a_choice_of_its_own_wins() {
    let mut s = moved_down();
    s.net.advance(PROBE_AFTER_MS - 2_000);
    s.congest(Layer::Low);
    s.net.advance(3_000);
    assert!(
        s.changes().is_empty(),
        "the low layer congested: not quiet yet"
    );
    // The viewer picks the low layer itself: the server no longer moves it.
    let viewer = s.viewer;
    s.net.send(
        viewer,
        Request::Subscribe {
            user: "host".into(),
            track: Some(track::CAMERA),
            audio: true,
            video: Some(Layer::Low),
        },
    );
    s.net.advance(PROBE_MAX_WAIT);
    assert!(s.changes().is_empty());
    assert!(!s.on_high());
}

/// Longer than any wait between tries.
const PROBE_MAX_WAIT: u64 = livestage_proto::server::PROBE_MAX_MS + 1_000;

/// Found by the `server` fuzz target: a camera track replaced by an audio track with the same
/// id kept its "sends a low layer" mark, and congestion then moved a subscriber to the low
/// layer of an audio track.
#[test]
fn a_track_replaced_by_audio_is_never_moved_to_a_low_layer() {
    let mut net = Net::new();
    let host = net.host("host");
    let viewer = net.audience("viewer");
    let host_id = net.clients[host].session.me().unwrap().media_id;
    let (host_conn, viewer_conn) = (
        net.clients[host].conn.unwrap(),
        net.clients[viewer].conn.unwrap(),
    );
    let now = net.now;
    net.server
        .route(host_conn, track::CAMERA, Kind::Video(Layer::Low), now)
        .unwrap();
    let mut audio = livestage_proto::track::Track::microphone();
    audio.id = track::CAMERA;
    net.send(host, Request::Publish(audio));
    net.events(viewer);
    for _ in 0..2 {
        let now = net.now;
        net.server
            .congested(viewer_conn, host_id, track::CAMERA, Layer::High, now);
        net.run();
        net.advance(500);
    }
    assert!(
        !net.events(viewer)
            .iter()
            .any(|e| matches!(e, Event::LayerChanged { .. }))
    );
}
