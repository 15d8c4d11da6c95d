//! Rosters at the scale of a real stream: a host joins, resumes and is promoted in a channel of
//! 10,000 viewers, and a roster of a thousand raised hands arrives in pages that each fit a
//! frame (the harness checks every frame the server builds against the limit).
#![allow(clippy::unwrap_used)]

mod common;

use common::Net;
use livestage_proto::client::{Notice, RosterChange};
use livestage_proto::track::{self, Kind, Source, Track};
use livestage_proto::wire::{self, Action, ClientFrame, Request, Role};

const GRANTS: &str = "join,publish-audio,publish-video,publish-data";

fn crowd(net: &mut Net, n: usize, hands: bool) {
    for i in 0..n {
        let conn = net.silent(&format!("viewer-{i:05}"), GRANTS, Role::Audience);
        if hands {
            let raise = ClientFrame::Request {
                seq: 1,
                request: Request::RaiseHand(true),
            };
            net.silent_send(conn, &raise);
        }
    }
    net.run();
}

#[test]
fn a_host_joins_resumes_and_is_promoted_among_10000_viewers() {
    let mut net = Net::new();
    net.moderator("m");
    crowd(&mut net, 10_000, false);
    let host = net.host("host");
    assert_eq!(net.clients[host].session.audience(), 10_000);
    assert_eq!(
        net.clients[host].session.roster().count(),
        1,
        "the moderator"
    );

    net.cut(host);
    net.connect(host);
    assert!(
        net.notices(host)
            .contains(&Notice::Welcomed { resumed: true })
    );
    assert_eq!(net.clients[host].session.audience(), 10_000);

    let late = net.audience("late");
    assert_eq!(net.clients[late].session.roster().count(), 2);
    net.send(0, Request::Moderate(Action::Promote("late".into())));
    assert_eq!(net.role(late), Role::Host);
    assert_eq!(net.clients[late].session.roster().count(), 2);
}

#[test]
fn a_thousand_raised_hands_arrive_in_pages() {
    let mut net = Net::new();
    crowd(&mut net, 1_000, true);
    let host = net.host("host");
    assert_eq!(net.clients[host].session.roster().count(), 1_000);
    assert!(
        net.notices(host)
            .contains(&Notice::Welcomed { resumed: false })
    );

    // Demoted and promoted again: a new roster replaces the old one, in pages again.
    let m = net.moderator("m");
    net.notices(host);
    net.send(m, Request::Moderate(Action::Demote("host".into())));
    assert_eq!(
        net.clients[host].session.roster().count(),
        1,
        "the moderator"
    );
    net.send(m, Request::Moderate(Action::Promote("host".into())));
    let replaced = net.notices(host).into_iter().find_map(|n| match n {
        Notice::Roster(RosterChange::Replace(all)) if all.len() > 1 => Some(all.len()),
        _ => None,
    });
    assert_eq!(replaced, Some(1_001));
}

#[test]
fn a_full_page_of_the_longest_participants_fits_a_frame() {
    let longest = wire::Participant {
        user: "u".repeat(livestage_proto::id::MAX_ID_LEN),
        role: Role::Audience,
        moderator: true,
        audio_muted: true,
        video_muted: true,
        hand_raised: true,
        media_id: u64::MAX,
        tracks: (0..8)
            .map(|i| Track {
                id: track::MAX_ID - 1 - i,
                kind: if i < 4 { Kind::Video } else { Kind::Audio },
                source: Source::Microphone,
                name: "n".repeat(track::MAX_NAME),
                low_layer: i < 4,
                muted: true,
            })
            .collect(),
    };
    assert!(wire::encode(&longest).len() - 4 <= wire::MAX_PARTICIPANT);
    let page = wire::ServerFrame::Roster(wire::RosterPage {
        start: true,
        peers: vec![longest; wire::ROSTER_PAGE],
        more: true,
    });
    assert!(wire::encode(&page).len() <= wire::MAX_FRAME);
}
