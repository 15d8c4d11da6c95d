//! Media routing and its feedback: who receives each audio track and video layer of a publisher,
//! congestion (moving a subscriber to the low layer, and probing its way back up), and keyframe
//! requests. The server never looks inside media; it only decides where it goes.
//!
//! Back up: a subscriber the server moved down is tried on the high layer again once its path
//! has been quiet for [`PROBE_AFTER_MS`]. If the high layer congests it within
//! [`PROBE_WINDOW_MS`], it goes straight back down and the next try waits twice as long (up to
//! [`PROBE_MAX_MS`]); otherwise it stays up. The probe is the high layer itself: the path shows
//! whether it has room, nothing is guessed from rates.

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
/// Least time between two "your media is refused" notices to one session.
const MEDIA_REFUSAL_INTERVAL_MS: u64 = 5_000;
/// A subscriber moved down tries the high layer again after this long without congestion.
pub const PROBE_AFTER_MS: u64 = 8_000;
/// The longest wait between two tries, after tries that failed.
pub const PROBE_MAX_MS: u64 = 64_000;
/// A try that congests within this long after moving up failed.
pub const PROBE_WINDOW_MS: u64 = 4_000;

/// A subscriber the server moved to the low layer of a publisher track.
#[derive(Clone, Copy, Debug)]
pub(super) struct Downgrade {
    /// When it was moved down, or last congested on the low layer.
    since: u64,
    /// How long to wait before trying the high layer.
    wait: u64,
    /// When it was moved up on trial, if it is on trial now.
    trying: Option<u64>,
}

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
        // Congestion only means something for a video track the publisher still has.
        if !p.publishes_video(track) {
            return;
        }
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
        let key = (sid, media_id, track);
        let mut wants = layer;
        // On trial back on the high layer: one congested moment sends it back down, and the
        // next try waits longer.
        let failed_try = match self.downgrades.get_mut(&key) {
            Some(d) if layer == Layer::High && d.trying.is_some() => {
                d.trying = None;
                d.since = now_ms;
                d.wait = (d.wait * 2).min(PROBE_MAX_MS);
                true
            }
            Some(d) if layer == Layer::Low => {
                d.since = now_ms;
                false
            }
            _ => false,
        };
        if failed_try || (layer == Layer::High && again && publishes_low) {
            // A subscriber moved down before keeps its back-off.
            self.downgrades.entry(key).or_insert(Downgrade {
                since: now_ms,
                wait: PROBE_AFTER_MS,
                trying: None,
            });
            let Some(s) = self.sessions.get_mut(&sid) else {
                return;
            };
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

    /// Moves subscribers back up to the high layer on trial when their path has been quiet
    /// long enough, and ends the trials that held. Called from the timer.
    pub(super) fn probe_up(&mut self, now_ms: u64) {
        let mut up = Vec::new();
        self.downgrades.retain(|&key, d| match d.trying {
            // A try that held through its window: the subscriber stays up.
            Some(at) => now_ms < at + PROBE_WINDOW_MS,
            None => {
                if now_ms >= d.since + d.wait {
                    d.trying = Some(now_ms);
                    up.push(key);
                }
                true
            }
        });
        for (sid, media_id, track) in up {
            let publisher = self.sessions.get(&SessionId(media_id));
            let video = publisher.is_some_and(|p| p.publishes_video(track));
            let Some(user) = publisher.filter(|_| video).map(|p| p.user().to_owned()) else {
                self.downgrades.remove(&(sid, media_id, track));
                continue;
            };
            let Some(s) = self.sessions.get_mut(&sid) else {
                self.downgrades.remove(&(sid, media_id, track));
                continue;
            };
            let sub = s.subscriptions.entry(user).or_default();
            let mut choice = sub.choice(track);
            choice.video = Some(Layer::High);
            sub.tracks.insert(track, choice);
            self.routes.clear();
            self.emit(
                sid,
                Event::LayerChanged {
                    media_id,
                    track,
                    layer: Layer::High,
                },
            );
            self.ask_keyframe(SessionId(media_id), track, Layer::High, now_ms);
        }
    }

    /// Forgets the server's layer choices for `sid`'s subscriptions to `publisher` (the
    /// subscriber chose for itself, or one of them left).
    pub(super) fn forget_downgrades(&mut self, sid: Option<SessionId>, publisher: Option<u64>) {
        self.downgrades.retain(|&(s, p, _), _| {
            sid.is_none_or(|sid| sid != s) || publisher.is_none_or(|p2| p2 != p)
        });
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
        if !s.publishes_video(track) {
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
