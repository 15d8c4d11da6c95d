//! Media routing and its feedback: who receives each audio track and video layer of a publisher,
//! congestion (moving a subscriber to the low layer), keyframe requests and loss reports. The
//! server never looks inside media; it only decides where it goes.

use std::sync::Arc;

use crate::error::{Error, ErrorCode};
use crate::id::SessionId;
use crate::media::{Kind, Layer};
use crate::token::Grant;
use crate::track::TrackId;
use crate::wire::Event;

use super::session::Choice;
use super::{ConnId, Route, Server};

/// Least time between two keyframe requests to one publisher for one layer.
pub const KEYFRAME_INTERVAL_MS: u64 = 500;
/// Two congestion signals this close together move a subscriber to the low layer.
pub const CONGESTION_WINDOW_MS: u64 = 10_000;
/// A publisher counts as sending a low layer this long after its last low frame.
const LOW_LAYER_FRESH_MS: u64 = 2_000;
/// Loss reports older than this no longer count.
const LOSS_REPORT_TTL_MS: u64 = 5_000;
/// Least time between two loss notices to one publisher.
const LOSS_TELL_INTERVAL_MS: u64 = 1_000;
/// Least time between two "your media is refused" notices to one session.
const MEDIA_REFUSAL_INTERVAL_MS: u64 = 5_000;

impl Server {
    /// Where media of `kind` on `track` from the session on `conn` goes. `Err` when the
    /// sender may not publish it or has not published the track (the sender is told, at most
    /// every few seconds); muted media goes nowhere.
    pub fn route(
        &mut self,
        conn: ConnId,
        track: TrackId,
        kind: Kind,
        now_ms: u64,
    ) -> Result<Route, Error> {
        let route = self.find_route(conn, track, kind, now_ms);
        self.finish_step();
        route
    }

    /// Whether media from `conn` would be refused now (not joined, audience, or no grant), so
    /// the glue can stop reading a stream before its bytes arrive.
    pub fn may_publish(&self, conn: ConnId) -> bool {
        let Some(&Some(sid)) = self.conns.get(&conn) else {
            return false;
        };
        self.sessions
            .get(&sid)
            .is_some_and(|s| s.is_host() && s.claims.may_host())
    }

    fn find_route(
        &mut self,
        conn: ConnId,
        track: TrackId,
        kind: Kind,
        now_ms: u64,
    ) -> Result<Route, Error> {
        let Some(&Some(sid)) = self.conns.get(&conn) else {
            return Err(Error::new(ErrorCode::ProtocolError, "media before joining"));
        };
        let Some(s) = self.sessions.get_mut(&sid) else {
            return Err(Error::new(ErrorCode::ProtocolError, "media before joining"));
        };
        if let Some(route) = self.routes.get(&(sid, track, kind)) {
            if kind == Kind::Video(Layer::Low) {
                s.low_layer_at.insert(track, now_ms);
            }
            return Ok(route.clone());
        }
        let (grant, what) = match kind {
            Kind::Audio => (Grant::PublishAudio, "audio"),
            Kind::Video(_) => (Grant::PublishVideo, "video"),
        };
        let published = s.tracks.get(&track);
        let refusal = if !s.is_host() {
            Some((
                ErrorCode::NotPermitted,
                format!("the audience cannot publish {what}; go on stage first"),
            ))
        } else if !s.claims.allows(grant) {
            Some((
                ErrorCode::NotPermitted,
                format!("token does not grant publish-{what}"),
            ))
        } else if published.is_none_or(|t| t.is_video() != matches!(kind, Kind::Video(_))) {
            Some((
                ErrorCode::UnknownTrack,
                format!(
                    "{what} on track {track}, which is not published as {what}; publish it first"
                ),
            ))
        } else {
            None
        };
        if let Some((code, msg)) = refusal {
            let error = Error::new(code, msg);
            let due = s
                .media_refused_at
                .is_none_or(|t| now_ms >= t + MEDIA_REFUSAL_INTERVAL_MS);
            if due {
                s.media_refused_at = Some(now_ms);
                let refused = Event::Refused {
                    request: 0,
                    error: error.clone(),
                };
                self.emit(sid, refused);
            }
            return Err(error);
        }
        if kind == Kind::Video(Layer::Low) {
            s.low_layer_at.insert(track, now_ms);
        }
        let track_muted = s.tracks.get(&track).is_some_and(|t| t.muted);
        let muted = track_muted
            || match kind {
                Kind::Audio => s.audio_muted,
                Kind::Video(_) => s.video_muted,
            };
        let s = &self.sessions[&sid];
        let user = s.user();
        let members = self.channels.get(&s.channel).map(|ch| &ch.members);
        let to: Arc<[ConnId]> = match members {
            Some(members) if !muted => members
                .values()
                .filter(|&&r| r != sid)
                .filter_map(|r| self.sessions.get(r))
                .filter(|r| r.hears(user))
                .filter(|r| {
                    r.subscriptions.get(user).map_or_else(
                        || Choice::default().wants(kind),
                        |sub| sub.wants(track, kind),
                    )
                })
                .filter_map(|r| r.conn)
                .collect(),
            _ => Arc::from([]),
        };
        let route = Route {
            media_id: s.media_id,
            to,
        };
        self.routes.insert((sid, track, kind), route.clone());
        Ok(route)
    }

    /// Records a subscriber's loss report and tells the publisher the worst current one when
    /// it changed by 2 points or more, at most once a second.
    pub(super) fn report_loss(
        &mut self,
        publisher: SessionId,
        from: SessionId,
        percent: u8,
        now_ms: u64,
    ) {
        let Some(p) = self.sessions.get_mut(&publisher) else {
            return;
        };
        p.loss_reports.insert(from, (percent, now_ms));
        // Reports older than 5 s (a subscriber that left or stopped reporting) no longer count.
        p.loss_reports
            .retain(|_, (_, at)| now_ms < *at + LOSS_REPORT_TTL_MS);
        let worst = p
            .loss_reports
            .values()
            .map(|(pct, _)| *pct)
            .max()
            .unwrap_or(0);
        let due = match p.loss_told {
            None => true,
            Some((told, at)) => now_ms >= at + LOSS_TELL_INTERVAL_MS && told.abs_diff(worst) >= 2,
        };
        if due {
            p.loss_told = Some((worst, now_ms));
            self.emit(publisher, Event::AudioLoss { percent: worst });
        }
    }

    /// The glue could not keep up sending `layer` of track `track` of publisher `media_id` to
    /// the subscriber on `conn` (its frames were dropped). The second time within
    /// [`CONGESTION_WINDOW_MS`], if the track also sends a low layer, the subscriber is moved
    /// to it and told; either way the publisher is asked for a keyframe of the layer the
    /// subscriber now receives.
    pub fn congested(
        &mut self,
        conn: ConnId,
        media_id: u64,
        track: TrackId,
        layer: Layer,
        now_ms: u64,
    ) {
        self.handle_congestion(conn, media_id, track, layer, now_ms);
        self.finish_step();
    }

    fn handle_congestion(
        &mut self,
        conn: ConnId,
        media_id: u64,
        track: TrackId,
        layer: Layer,
        now_ms: u64,
    ) {
        let publisher = SessionId(media_id);
        let Some(&Some(sid)) = self.conns.get(&conn) else {
            return;
        };
        let Some(p) = self.sessions.get(&publisher) else {
            return;
        };
        let publishes_low = p
            .low_layer_at
            .get(&track)
            .is_some_and(|&t| now_ms < t + LOW_LAYER_FRESH_MS);
        let user = p.user().to_owned();
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        let again = s
            .congested_at
            .insert((media_id, track), now_ms)
            .is_some_and(|t| now_ms < t + CONGESTION_WINDOW_MS);
        let mut wants = layer;
        if layer == Layer::High && again && publishes_low {
            let sub = s.subscriptions.entry(user).or_default();
            let mut choice = sub.choice(track);
            choice.video = Some(Layer::Low);
            sub.tracks.insert(track, choice);
            wants = Layer::Low;
            self.routes.clear();
            self.emit(
                sid,
                Event::LayerChanged {
                    media_id,
                    track,
                    layer: Layer::Low,
                },
            );
        }
        self.ask_keyframe(publisher, track, wants, now_ms);
    }

    /// Asks the publisher with `media_id` for a keyframe of `layer` of `track` (throttled),
    /// e.g. because a subscriber fell behind and its old frames were dropped.
    pub fn request_keyframe(&mut self, media_id: u64, track: TrackId, layer: Layer, now_ms: u64) {
        self.ask_keyframe(SessionId(media_id), track, layer, now_ms);
        self.finish_step();
    }

    pub(super) fn ask_keyframe(
        &mut self,
        publisher: SessionId,
        track: TrackId,
        layer: Layer,
        now_ms: u64,
    ) {
        let Some(s) = self.sessions.get_mut(&publisher) else {
            return;
        };
        // Only published video tracks: the map of throttles stays bounded by the track cap.
        if !s.tracks.get(&track).is_some_and(|t| t.is_video()) {
            return;
        }
        let slot = s.keyframe_asked.entry((track, layer)).or_insert(0);
        if *slot != 0 && now_ms < *slot + KEYFRAME_INTERVAL_MS {
            return;
        }
        *slot = now_ms;
        self.emit(publisher, Event::KeyframeRequest { track, layer });
    }

    /// Asks every host in `channel` for a keyframe of the high layer (a viewer arrived); the
    /// per-publisher throttle keeps a stampede of joins to two requests a second.
    pub(super) fn ask_hosts_for_keyframes(
        &mut self,
        channel: &str,
        except: SessionId,
        now_ms: u64,
    ) {
        let Some(ch) = self.channels.get(channel) else {
            return;
        };
        let tracks: Vec<(SessionId, TrackId)> = ch
            .hosts
            .values()
            .copied()
            .filter(|&h| h != except)
            .filter_map(|h| self.sessions.get(&h).map(|s| (h, s)))
            .flat_map(|(h, s)| {
                s.tracks
                    .values()
                    .filter(|t| t.is_video())
                    .map(move |t| (h, t.id))
            })
            .collect();
        for (h, track) in tracks {
            self.ask_keyframe(h, track, Layer::High, now_ms);
        }
    }
}
