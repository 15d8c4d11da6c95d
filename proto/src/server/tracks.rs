//! Tracks on the server: hosts publish and unpublish them, moderators mute one, subscribers
//! choose per track. Every change is announced to everyone who sees the publisher, and media
//! routes are rebuilt.

use crate::error::{Error, ErrorCode};
use crate::id::{self, SessionId, UserId};
use crate::media::Layer;
use crate::token::Grant;
use crate::track::{self, Kind, Track, TrackId};
use crate::wire::Event;

use super::Server;
use super::session::Choice;

impl Server {
    /// Publishes `track` for `sid` (or replaces its track with the same id, keeping a
    /// moderator's mute). An unchanged track is not announced again.
    pub(super) fn publish(
        &mut self,
        sid: SessionId,
        mut track: Track,
        now_ms: u64,
    ) -> Result<(), Error> {
        track.validate()?;
        let Some(s) = self.sessions.get_mut(&sid) else {
            return Ok(());
        };
        let (grant, what) = match track.kind {
            Kind::Audio => (Grant::PublishAudio, "audio"),
            Kind::Video => (Grant::PublishVideo, "video"),
        };
        if !s.is_host() {
            let msg = format!("the audience cannot publish {what}; go on stage first");
            return Err(Error::new(ErrorCode::NotPermitted, msg));
        }
        if !s.claims.allows(grant) {
            let msg = format!("token does not grant publish-{what}");
            return Err(Error::new(ErrorCode::NotPermitted, msg));
        }
        track::check_caps(s.tracks.values(), &track)?;
        track.muted = s.tracks.get(&track.id).is_some_and(|t| t.muted);
        if s.tracks.get(&track.id) == Some(&track) {
            return Ok(());
        }
        let (id, video) = (track.id, track.is_video());
        // A track replaced by one of another kind (or without a low layer) starts afresh: no
        // low layer seen, no keyframe throttles of the old one.
        if s.tracks.get(&id).is_some_and(|old| old.kind != track.kind) || !track.low_layer {
            s.low_layer_at.remove(&id);
            s.keyframe_asked.retain(|(t, _), _| *t != id);
        }
        s.tracks.insert(track.id, track.clone());
        self.routes.clear();
        self.announce_track(
            sid,
            Event::TrackPublished {
                user: self.user_of(sid),
                track,
            },
        );
        if video {
            // Viewers are waiting: the next frame should be one they can start from.
            self.ask_keyframe(sid, id, Layer::High, now_ms);
        }
        Ok(())
    }

    /// Stops track `id` of `sid`.
    pub(super) fn unpublish(&mut self, sid: SessionId, id: TrackId) -> Result<(), Error> {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return Ok(());
        };
        if s.tracks.remove(&id).is_none() {
            let msg = format!("track {id} is not published");
            return Err(Error::new(ErrorCode::UnknownTrack, msg));
        }
        s.low_layer_at.remove(&id);
        self.routes.clear();
        let user = self.user_of(sid);
        self.announce_track(sid, Event::TrackUnpublished { user, track: id });
        Ok(())
    }

    /// A moderator mutes or unmutes track `id` of `target`.
    pub(super) fn mute_track(
        &mut self,
        target: SessionId,
        id: TrackId,
        muted: bool,
    ) -> Result<(), Error> {
        let Some(s) = self.sessions.get_mut(&target) else {
            return Ok(());
        };
        let Some(track) = s.tracks.get_mut(&id) else {
            let msg = format!("{} has no track {id}", s.user());
            return Err(Error::new(ErrorCode::UnknownTrack, msg));
        };
        if track.muted == muted {
            return Ok(());
        }
        track.muted = muted;
        let track = track.clone();
        self.routes.clear();
        let user = self.user_of(target);
        self.announce_track(target, Event::TrackPublished { user, track });
        Ok(())
    }

    /// Records what `sid` wants from publisher `user` (all its tracks, or one) and asks for a
    /// keyframe of each video track it now receives.
    pub(super) fn subscribe(
        &mut self,
        sid: SessionId,
        user: UserId,
        track: Option<TrackId>,
        choice: Choice,
        now_ms: u64,
    ) -> Result<(), Error> {
        id::validate("user id", &user)?;
        let Some(s) = self.sessions.get(&sid) else {
            return Ok(());
        };
        let publisher = self.session_of(&s.channel, &user);
        let published = publisher
            .and_then(|p| self.sessions.get(&p))
            .map(|p| &p.tracks);
        if let Some(id) = track
            && !published.is_some_and(|t| t.contains_key(&id))
        {
            let msg = format!("{user} publishes no track {id}");
            return Err(Error::new(ErrorCode::UnknownTrack, msg));
        }
        let video_tracks: Vec<TrackId> = published
            .into_iter()
            .flat_map(|t| t.values())
            .filter(|t| t.is_video() && track.is_none_or(|id| id == t.id))
            .map(|t| t.id)
            .collect();
        let members = self.channels.get(&s.channel).map(|ch| &ch.members);
        let Some(s) = self.sessions.get_mut(&sid) else {
            return Ok(());
        };
        if !s.subscriptions.contains_key(&user) && s.subscriptions.len() >= super::MAX_SUBSCRIPTIONS
        {
            // Choices about users who left make room first.
            s.subscriptions
                .retain(|u, _| members.is_some_and(|m| m.contains_key(u)));
            if s.subscriptions.len() >= super::MAX_SUBSCRIPTIONS {
                let msg = format!(
                    "at most {} subscription choices at once",
                    super::MAX_SUBSCRIPTIONS
                );
                return Err(Error::new(ErrorCode::MessageTooLarge, msg));
            }
        }
        let sub = s.subscriptions.entry(user).or_default();
        match track {
            // Track ids are below track::MAX_ID, so per-track choices stay bounded.
            Some(id) => {
                sub.tracks.insert(id, choice);
            }
            None => {
                sub.all = choice;
                sub.tracks.clear();
            }
        }
        self.routes.clear();
        // The subscriber's own choice replaces the server's.
        if let Some(publisher) = publisher {
            self.forget_downgrades(Some(sid), Some(publisher.0));
        }
        if let (Some(layer), Some(publisher)) = (choice.video, publisher) {
            for id in video_tracks {
                self.ask_keyframe(publisher, id, layer, now_ms);
            }
        }
        Ok(())
    }

    /// Tells everyone who sees the publisher, and the publisher itself.
    fn announce_track(&mut self, sid: SessionId, event: Event) {
        let Some(about) = self.sessions.get(&sid).map(|s| s.participant()) else {
            return;
        };
        self.announce(sid, &event, &about);
        self.emit(sid, event);
    }
}
