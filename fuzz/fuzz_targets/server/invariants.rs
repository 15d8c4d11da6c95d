//! What holds after every step of the `server` target, checked through the server's public
//! face (`participants`, counters, routes) against what the harness knows of each session:
//! - no channel has more than `host_cap` hosts;
//! - a participant's tracks are valid (id below `track::MAX_ID`, name within
//!   `track::MAX_NAME`, no low layer on audio), unique by id, within `MAX_VIDEO` video and
//!   `MAX_AUDIO` audio tracks; an audience member has none; a track is muted only if a
//!   moderator asked for it;
//! - `route()` is `Ok` only for a host's connection whose session publishes that track with
//!   the kind of the media, under a token that grants it; it never sends the media back to
//!   the sender or out of its channel, and muted media goes nowhere;
//! - keyframe requests name a video track the publisher publishes; layer changes name a video
//!   track of a publisher that still has it;
//! - no more sessions or tracked connections than connections made, and no more
//!   unacknowledged events than `max_backlog` per session.

use livestage_proto::id::SessionId;
use livestage_proto::media::Kind;
use livestage_proto::server::Route;
use livestage_proto::track::{self, TrackId};
use livestage_proto::wire::{Participant, Role};

use crate::{CHANNELS, HOST_CAP, Harness, MAX_BACKLOG};

impl Harness {
    /// Checks every invariant that does not need a route in hand.
    pub fn check(&self) {
        for channel in CHANNELS {
            let participants = self.server.participants(channel);
            let hosts = participants.iter().filter(|p| p.role == Role::Host).count();
            assert!(hosts <= HOST_CAP, "{channel} has {hosts} hosts");
            for p in &participants {
                self.check_tracks(channel, p);
            }
        }
        for &(sid, track) in &self.keyframes_asked {
            if let Some(p) = self.participant(sid) {
                assert!(
                    p.track(track).is_some_and(|t| t.is_video()),
                    "{} was asked for a keyframe of track {track}, which it does not publish \
                     as video: {:?}",
                    p.user,
                    p.tracks
                );
            }
        }
        for &(media_id, track) in &self.layers_changed {
            if let Some(p) = self.participant(SessionId(media_id)) {
                assert!(
                    p.track(track).is_some_and(|t| t.is_video()),
                    "a subscriber was moved to the low layer of track {track} of {}, which \
                     it does not publish as video: {:?}",
                    p.user,
                    p.tracks
                );
            }
        }
        // Memory is bounded by what the clients did: no more sessions or connections than
        // were made, and no session holds more unacknowledged events than `max_backlog`.
        let sessions = self.server.session_count();
        assert!(
            sessions <= self.conns_made.len(),
            "{sessions} sessions from {} connections",
            self.conns_made.len()
        );
        assert!(
            self.server.connection_count() <= self.conns_made.len(),
            "{} connections tracked from {} made",
            self.server.connection_count(),
            self.conns_made.len()
        );
        let backlog = self.server.backlog_len();
        assert!(
            backlog <= sessions * MAX_BACKLOG,
            "{backlog} events held for {sessions} sessions"
        );
    }

    fn check_tracks(&self, channel: &str, p: &Participant) {
        let user = &p.user;
        if p.role == Role::Audience {
            assert!(
                p.tracks.is_empty(),
                "audience {user} has tracks {:?}",
                p.tracks
            );
        }
        let video = p.tracks.iter().filter(|t| t.is_video()).count();
        let audio = p.tracks.len() - video;
        assert!(
            video <= track::MAX_VIDEO && audio <= track::MAX_AUDIO,
            "{user} publishes {video} video and {audio} audio tracks"
        );
        for (n, t) in p.tracks.iter().enumerate() {
            if let Err(e) = t.validate() {
                panic!("{user} publishes an invalid track {t:?}: {}", e.message);
            }
            assert!(
                p.tracks[..n].iter().all(|u| u.id != t.id),
                "{user} publishes track {} twice: {:?}",
                t.id,
                p.tracks
            );
            let asked = (channel.to_owned(), user.clone(), t.id);
            assert!(
                !t.muted || self.mutes_asked.contains(&asked),
                "track {} of {user} is muted, and no moderator asked for it",
                t.id
            );
        }
    }

    /// The participant a session shows in its channel, if it is still there.
    fn participant(&self, sid: SessionId) -> Option<Participant> {
        let k = self.known.get(&sid)?;
        self.server
            .participants(&k.channel)
            .into_iter()
            .find(|p| p.media_id == sid.0 && p.user == k.user)
    }

    /// Checks a route that `route()` gave slot `i` for `kind` on `track`.
    pub fn check_route(&self, i: usize, track: TrackId, kind: Kind, route: &Route) {
        let conn = self.slots[i].conn;
        let sid = self.slots[i].session;
        let p = sid.and_then(|s| self.participant(s));
        let Some(p) = p.filter(|p| p.role == Role::Host) else {
            panic!("route() is Ok for {conn:?}, whose session is not a host");
        };
        let Some(t) = p.track(track) else {
            panic!(
                "route() is Ok for track {track} of {}, which publishes {:?}",
                p.user, p.tracks
            );
        };
        assert_eq!(
            t.is_video(),
            matches!(kind, Kind::Video(_)),
            "route() is Ok for {kind:?} on {t:?} of {}",
            p.user
        );
        let k = sid.and_then(|s| self.known.get(&s));
        if let Some(grants) = k.and_then(|k| k.grants) {
            assert!(
                grants.publishes(kind),
                "route() is Ok for {kind:?} from {}, whose token ({grants:?}) does not grant it",
                p.user
            );
        }
        assert_eq!(
            route.media_id, p.media_id,
            "a route stamps another media id"
        );
        assert!(!route.to.contains(&conn), "media routed back to its sender");
        let muted = t.muted
            || match kind {
                Kind::Audio => p.audio_muted,
                Kind::Video(_) => p.video_muted,
            };
        assert!(
            !muted || route.to.is_empty(),
            "muted {kind:?} on track {track} of {} goes to {:?}",
            p.user,
            route.to
        );
        let channel = k.map(|k| k.channel.as_str());
        for to in route.to.iter() {
            let receiver = self
                .slots
                .iter()
                .find(|s| s.conn == *to)
                .and_then(|s| s.session)
                .and_then(|s| self.known.get(&s));
            if let Some(r) = receiver {
                assert_eq!(
                    Some(r.channel.as_str()),
                    channel,
                    "media of {} goes to {} in another channel",
                    p.user,
                    r.user
                );
            }
        }
    }
}
