//! Events as JSON objects, and polling them into the caller's buffer.
//!
//! Every event is one JSON object with a `"type"` and the `"channel"` it happened in (null for
//! this engine's own audio: music, effects, hooks; and for video hooks not installed for one
//! channel's track). The shapes are stable; new fields and new
//! types may be added, so ignore what you do not know.
//!
//! | `type` | other fields |
//! |---|---|
//! | `state` | `state`: `connecting`, `connected`, `reconnecting` (nothing heard from the server for 4 s, or resuming on a new connection after 15 s) or `disconnected`; `error`: null or an error |
//! | `link` | once a second while connected: `rtt_ms`, `uplink_loss_percent`, `downlink_loss_percent` (as the server measures it), `bandwidth_kbps`, `voice_copies`, `quality` (`excellent`, `good`, `poor`, `bad`, `very_bad` or `down`, from the worse loss and the round trip) |
//! | `peer_links` | once a second: `links`, one per host this client sees: `user`, `rtt_ms` (to the server), `uplink_loss_percent`, `downlink_loss_percent`, `quality` (of its uplink) |
//! | `joined` | `me`: a participant; `peers`: the participants this client sees (hosts; for a host also raised hands); `audience`: the audience count; `profile`: `live_broadcast` or `communication`; `resumed`: bool |
//! | `peer_joined` | `participant` |
//! | `peer_left` | `user`; `reason`: `left`, `offline`, `kicked`, `replaced`, `expired` or `dropped` |
//! | `role_changed` | `participant` (with the new role; may be this client); `by`: user id |
//! | `roster` | `participants`: everyone this client may now see (after its own role changed) |
//! | `participant` | `participant`: one this client sees was added or changed (before the event that says why) |
//! | `participant_gone` | `user`: one this client saw is no longer seen (after the event that says why: left, demoted, hand lowered) |
//! | `audience` | `count`: audience members in the channel (to hosts, at most once a second) |
//! | `mute_changed` | `user`; `audio`, `video`: bool (muted now) |
//! | `hand_changed` | `user`; `raised`: bool (raised now; going on stage lowers it without this event, see the participant's `hand_raised`) |
//! | `hearing_changed` | `hears`: null (everyone) or user ids |
//! | `data` | `from`: user id stamped by the server; `seq`: the sender's number, from 1; `private`: bool; `payload`: base64 |
//! | `refused` | `request`: the request's number; `error` |
//! | `token_expiring` | `remaining_secs` |
//! | `token_renewed` | `expires`: seconds since the Unix epoch |
//! | `layer_changed` | `user` (null if unknown); `media_id`; `layer`: `high` or `low` |
//! | `speaking` | `user` (null if unknown); `media_id`; `speaking`: bool |
//! | `track_published` | `user`; `track`: a track (published or changed) |
//! | `track_unpublished` | `user`; `track`: its id |
//! | `track_ended` | `track`: the id of this client's track whose source ended by itself (a shared window closed, a webcam unplugged, a file played once reached its end); `error` |
//! | `error` | `error`: a call refused before it was sent (e.g. not joined, too large) |
//! | `music_state` | `state`: `playing`, `paused`, `stopped`, `completed` or `failed`; `error`: null, or why it failed (`file_not_found`, `unsupported_format`, `decode_error`, `io_error`, `seek_failed`) |
//! | `effect_finished` | `id`: the effect that finished its last loop |
//! | `audio_hook_removed` | `point`: `capture`, `encode`, `remote_voice` or `playback`; `reason`: why (it overran its frames); it is not called again |
//! | `video_hook_removed` | `point`: `local` or `remote`; `renderer`: bool (a renderer, not a hook); `user`, `media_id`, `track`: the remote track it was installed for (null for the local hook and for every track); `reason`: why (it overran its budget 5 pictures in a row); it is not called again |
//!
//! A participant is `{"user", "role": "host"|"audience", "moderator", "audio_muted",
//! "video_muted", "hand_raised", "media_id", "tracks"}`, a track `{"id", "kind": "audio"|"video",
//! "source", "name", "low_layer", "muted"}`; an error is `{"code", "message"}` with the stable snake_case
//! codes of the server (`token_invalid`, `not_permitted`, `too_many_hosts`, `kicked`,
//! `server_unreachable`, ...).
//!
//! Keyframe requests and loss reports are handled inside the library and not reported.
//!
//! Events are kept until taken, up to 16,384: a caller that stops taking them is not allowed to
//! grow memory without bound, so when the queue is full the channel concerned is left, and after
//! the events queued before it the caller gets its `disconnected` state with error `overloaded`.

use std::collections::HashMap;
use std::ffi::c_char;

use base64::Engine as _;
use livestage_media::audio::hooks::HookFailure;
use livestage_media::audio::music::MusicState;
use livestage_media::audio::{HookPoint, MixEvent};
use livestage_media::video::hooks::{Failure, Point};
use livestage_net::Event;
use livestage_net::engine::{ConnectionState, EventKind};
use livestage_net::playout::PlayoutEvent;
use livestage_proto::client::RosterChange;
use livestage_proto::media::Layer;
use livestage_proto::quality::Quality;
use livestage_proto::track::{Kind, Track, TrackId};
use livestage_proto::wire::{self, Participant, Profile, Role};
use serde_json::{Value, json};

use crate::client::{Channel, lock};
use crate::error::{LIVESTAGE_ERR_BUFFER_TOO_SMALL, guard, write_text};
use crate::handles;

fn role(role: Role) -> &'static str {
    match role {
        Role::Host => "host",
        Role::Audience => "audience",
    }
}

fn participant(p: &Participant) -> Value {
    json!({
        "user": p.user,
        "role": role(p.role),
        "moderator": p.moderator,
        "audio_muted": p.audio_muted,
        "video_muted": p.video_muted,
        "hand_raised": p.hand_raised,
        "media_id": p.media_id,
        "tracks": p.tracks.iter().map(track).collect::<Vec<_>>(),
    })
}

fn track(t: &Track) -> Value {
    json!({
        "id": t.id,
        "kind": match t.kind { Kind::Audio => "audio", Kind::Video => "video" },
        "source": t.source.as_str(),
        "name": t.name,
        "low_layer": t.low_layer,
        "muted": t.muted,
    })
}

fn error(e: &livestage_proto::Error) -> Value {
    json!({ "code": e.code.as_str(), "message": e.message })
}

fn layer(layer: Layer) -> &'static str {
    match layer {
        Layer::High => "high",
        Layer::Low => "low",
    }
}

/// The JSON of an engine event, or `None` for what the library handles itself.
pub(crate) fn engine_event(event: &Event, channel: Option<&Channel>) -> Option<String> {
    let user_of = |media_id: u64| channel.and_then(|c| c.user_of(media_id));
    let mut value = match &event.kind {
        EventKind::State { state, error: e } => json!({
            "type": "state",
            "state": match state {
                ConnectionState::Connecting => "connecting",
                ConnectionState::Connected => "connected",
                ConnectionState::Reconnecting => "reconnecting",
                ConnectionState::Disconnected => "disconnected",
            },
            "error": e.as_ref().map(error),
        }),
        EventKind::Joined {
            me,
            peers,
            audience,
            profile,
            resumed,
        } => json!({
            "type": "joined",
            "me": participant(me),
            "peers": peers.iter().map(participant).collect::<Vec<_>>(),
            "audience": audience,
            "profile": match profile {
                Profile::LiveBroadcast => "live_broadcast",
                Profile::Communication => "communication",
            },
            "resumed": resumed,
        }),
        EventKind::LocalError(e) => json!({ "type": "error", "error": error(e) }),
        EventKind::TrackEnded { track, error: e } => json!({
            "type": "track_ended",
            "track": track,
            "error": error(e),
        }),
        EventKind::Link(link) => json!({
            "type": "link",
            "rtt_ms": link.rtt_ms,
            "uplink_loss_percent": link.uplink_loss_percent,
            "bandwidth_kbps": link.bandwidth_kbps,
            "voice_copies": link.voice_copies,
            "downlink_loss_percent": link.downlink_loss_percent,
            "quality": link.quality.as_str(),
        }),
        EventKind::PeerLinks(links) => json!({
            "type": "peer_links",
            "links": links.iter().map(|l| json!({
                "user": l.user,
                "rtt_ms": l.rtt_ms,
                "uplink_loss_percent": l.uplink_loss_percent,
                "downlink_loss_percent": l.downlink_loss_percent,
                "quality": Quality::of_path(l.uplink_loss_percent, l.rtt_ms).as_str(),
            })).collect::<Vec<_>>(),
        }),
        // A new roster after this client's role changed; single changes are told by the
        // server events that cause them.
        EventKind::Roster(RosterChange::Replace(all)) => json!({
            "type": "roster",
            "participants": all.iter().map(participant).collect::<Vec<_>>(),
        }),
        EventKind::Roster(RosterChange::Upsert(p)) => {
            json!({ "type": "participant", "participant": participant(p) })
        }
        EventKind::Roster(RosterChange::Gone(user)) => {
            json!({ "type": "participant_gone", "user": user })
        }
        EventKind::Server(server) => match server {
            wire::Event::PeerJoined(p) => {
                json!({ "type": "peer_joined", "participant": participant(p) })
            }
            wire::Event::PeerLeft { user, reason } => json!({
                "type": "peer_left",
                "user": user,
                "reason": serde_json::to_value(reason).ok()?,
            }),
            wire::Event::RoleChanged { participant: p, by } => json!({
                "type": "role_changed",
                "participant": participant(p),
                "by": by,
            }),
            wire::Event::Audience { count } => json!({ "type": "audience", "count": count }),
            wire::Event::MuteChanged { user, audio, video } => json!({
                "type": "mute_changed",
                "user": user,
                "audio": audio,
                "video": video,
            }),
            wire::Event::HandChanged { participant: p } => json!({
                "type": "hand_changed",
                "user": p.user,
                "raised": p.hand_raised,
            }),
            wire::Event::HearingChanged { hears } => {
                json!({ "type": "hearing_changed", "hears": hears })
            }
            wire::Event::Data {
                from,
                seq,
                private,
                payload,
            } => json!({
                "type": "data",
                "from": from,
                "seq": seq,
                "private": private,
                "payload": base64::engine::general_purpose::STANDARD.encode(payload),
            }),
            wire::Event::Refused { request, error: e } => json!({
                "type": "refused",
                "request": request,
                "error": error(e),
            }),
            wire::Event::TokenExpiring { remaining_secs } => json!({
                "type": "token_expiring",
                "remaining_secs": remaining_secs,
            }),
            wire::Event::TokenRenewed { expires } => {
                json!({ "type": "token_renewed", "expires": expires })
            }
            wire::Event::Push { name, url, state } => {
                let (reason, message) = why(state);
                json!({
                    "type": "push",
                    "name": name,
                    "url": url,
                    "state": state.as_str(),
                    "reason": reason,
                    "message": message,
                })
            }
            wire::Event::Inject { name, state } => {
                let (reason, message) = why(state);
                json!({
                    "type": "inject",
                    "name": name,
                    "user": livestage_proto::inject::user_of(name),
                    "state": state.as_str(),
                    "reason": reason,
                    "message": message,
                })
            }
            wire::Event::Relay { to, state } => {
                let (code, message) = match state {
                    livestage_proto::relay::State::Failed(e) => {
                        (Some(e.code.as_str()), Some(e.message.as_str()))
                    }
                    livestage_proto::relay::State::Recovering { reason, .. } => {
                        (None, Some(reason.as_str()))
                    }
                    _ => (None, None),
                };
                json!({
                    "type": "relay",
                    "to": to.to_string(),
                    "state": state.as_str(),
                    "code": code,
                    "message": message,
                })
            }
            wire::Event::LayerChanged {
                media_id,
                track,
                layer: l,
            } => json!({
                "type": "layer_changed",
                "user": user_of(*media_id),
                "media_id": media_id,
                "track": track,
                "layer": layer(*l),
            }),
            wire::Event::TrackPublished { user, track: t } => json!({
                "type": "track_published",
                "user": user,
                "track": track(t),
            }),
            wire::Event::TrackUnpublished { user, track } => json!({
                "type": "track_unpublished",
                "user": user,
                "track": track,
            }),
            wire::Event::KeyframeRequest { .. } => return None,
        },
    };
    value["channel"] = Value::from(event.channel.as_str());
    Some(value.to_string())
}

/// The JSON of a playout event.
pub(crate) fn playout_event(
    event: &PlayoutEvent,
    channels: &HashMap<String, Channel>,
) -> Option<String> {
    match event {
        PlayoutEvent::Speaking {
            channel,
            media_id,
            speaking,
            ..
        } => {
            let user = channels.get(channel).and_then(|c| c.user_of(*media_id));
            let value = json!({
                "type": "speaking",
                "channel": channel,
                "user": user,
                "media_id": media_id,
                "speaking": speaking,
            });
            Some(value.to_string())
        }
        PlayoutEvent::HookRemoved { point, reason } => Some(hook_removed(*point, reason)),
        // Told by the pump once the hook's gate is closed (`video_hook_removed`).
        PlayoutEvent::VideoHookRemoved { .. } => None,
    }
}

/// The JSON of a music or effect event (no channel: this engine's own audio).
pub(crate) fn mix_event(event: &MixEvent) -> String {
    let value = match event {
        MixEvent::Music(state) => {
            let (name, e) = match state {
                MusicState::Playing => ("playing", None),
                MusicState::Paused => ("paused", None),
                MusicState::Stopped => ("stopped", None),
                MusicState::Completed => ("completed", None),
                MusicState::Failed(e) => ("failed", Some(e)),
            };
            json!({
                "type": "music_state",
                "channel": null,
                "state": name,
                "error": e.map(|e| json!({ "code": e.code(), "message": e.to_string() })),
            })
        }
        MixEvent::EffectFinished(id) => {
            json!({ "type": "effect_finished", "channel": null, "id": id })
        }
    };
    value.to_string()
}

/// The JSON of a hook the engine removed.
pub(crate) fn hook_removed(point: HookPoint, reason: &HookFailure) -> String {
    let point = match point {
        HookPoint::Capture => "capture",
        HookPoint::Encode => "encode",
        HookPoint::RemoteVoice => "remote_voice",
        HookPoint::Playback => "playback",
    };
    let value = json!({
        "type": "audio_hook_removed",
        "channel": null,
        "point": point,
        "reason": reason.to_string(),
    });
    value.to_string()
}

/// The remote track a video hook or renderer was installed for.
pub(crate) struct VideoTarget<'a> {
    pub(crate) channel: &'a str,
    pub(crate) user: &'a str,
    pub(crate) media_id: u64,
    pub(crate) track: TrackId,
}

/// The JSON of a video hook (or renderer) the engine removed, installed at `point` for
/// `target` (`None`: the local hook, or every remote track).
pub(crate) fn video_hook_removed(
    point: Point,
    target: Option<VideoTarget<'_>>,
    renderer: bool,
    reason: &Failure,
) -> String {
    let value = json!({
        "type": "video_hook_removed",
        "channel": target.as_ref().map(|t| t.channel),
        "point": match point {
            Point::Local => "local",
            Point::Remote => "remote",
        },
        "renderer": renderer,
        "user": target.as_ref().map(|t| t.user),
        "media_id": target.as_ref().map(|t| t.media_id),
        "track": target.as_ref().map(|t| t.track),
        "reason": reason.to_string(),
    });
    value.to_string()
}

/// Takes the next event of the engine as NUL-terminated UTF-8 JSON (shapes in the crate docs).
///
/// Returns 1 when an event was written (its size, NUL included, in `*size` if `size` is not
/// null), 0 when there is none, or `LIVESTAGE_ERR_BUFFER_TOO_SMALL` with the size needed in
/// `*size`: the event is then kept and handed out by the next call. Never blocks.
///
/// Any thread but the audio thread; call it every frame. Events are kept until taken, up to
/// 16,384: past that the channel concerned is left and, after the events queued before it,
/// reported `disconnected` with error `overloaded`.
///
/// # Safety
///
/// `buf` must be null or valid for `capacity` bytes of writing; `size` null or valid for
/// writing a `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_poll_event(
    engine: i64,
    buf: *mut c_char,
    capacity: usize,
    size: *mut usize,
) -> i32 {
    guard(|| {
        handles::with(engine, |client| {
            let mut pending = lock(&client.pending);
            let Some(json) = pending.take().or_else(|| client.next_event()) else {
                return Ok(0);
            };
            // SAFETY: the caller's contract on `buf`, `capacity` and `size`.
            match unsafe { write_text(&json, buf, capacity, size) } {
                Ok(()) => Ok(1),
                Err(e) => {
                    *pending = Some(json);
                    debug_assert_eq!(e.code(), LIVESTAGE_ERR_BUFFER_TOO_SMALL);
                    Err(e)
                }
            }
        })
    })
}

/// A push's or an inject's failure reason and message (or why it is recovering).
fn why(state: &livestage_proto::push::UrlState) -> (Option<&'static str>, Option<&str>) {
    match state {
        livestage_proto::push::UrlState::Failed { reason, message } => {
            (Some(reason.as_str()), Some(message.as_str()))
        }
        livestage_proto::push::UrlState::Recovering { reason, .. } => (None, Some(reason.as_str())),
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_hand_change_and_a_raised_hand_are_in_the_json() {
        let event = |kind| Event {
            channel: "lobby".into(),
            kind: EventKind::Server(kind),
        };
        let fan = Participant {
            user: "fan".into(),
            role: Role::Audience,
            moderator: false,
            audio_muted: false,
            video_muted: false,
            hand_raised: true,
            media_id: 7,
            tracks: vec![],
        };
        let changed = wire::Event::HandChanged {
            participant: fan.clone(),
        };
        let json = engine_event(&event(changed), None).unwrap();
        let value: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            value,
            json!({ "type": "hand_changed", "channel": "lobby", "user": "fan", "raised": true })
        );
        let json = engine_event(&event(wire::Event::PeerJoined(fan)), None).unwrap();
        let value: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["participant"]["hand_raised"], true);
    }

    #[test]
    fn music_effects_and_hooks_have_no_channel() {
        use livestage_media::audio::music::MusicError;

        let parse = |json: String| serde_json::from_str::<Value>(&json).unwrap();
        let failed = MixEvent::Music(MusicState::Failed(MusicError::Unsupported("x".into())));
        assert_eq!(
            parse(mix_event(&failed)),
            json!({
                "type": "music_state",
                "channel": null,
                "state": "failed",
                "error": { "code": "unsupported_format", "message": "unsupported format: x" },
            })
        );
        let playing = parse(mix_event(&MixEvent::Music(MusicState::Playing)));
        assert_eq!(
            (playing["state"].as_str(), &playing["error"]),
            (Some("playing"), &Value::Null)
        );
        assert_eq!(
            parse(mix_event(&MixEvent::EffectFinished(7))),
            json!({ "type": "effect_finished", "channel": null, "id": 7 })
        );
        let removed = parse(hook_removed(
            HookPoint::RemoteVoice,
            &HookFailure::TooSlow(30, 20),
        ));
        assert_eq!(removed["point"], "remote_voice");
        assert!(removed["reason"].as_str().unwrap().contains("30 ms"));
    }

    #[test]
    fn a_removed_video_hook_names_its_track() {
        let parse = |json: String| serde_json::from_str::<Value>(&json).unwrap();
        let slow = Failure::TooSlow {
            took_ms: 40,
            budget_ms: 33,
        };
        let target = VideoTarget {
            channel: "show",
            user: "cam",
            media_id: 7,
            track: 2,
        };
        assert_eq!(
            parse(video_hook_removed(Point::Remote, Some(target), true, &slow)),
            json!({
                "type": "video_hook_removed",
                "channel": "show",
                "point": "remote",
                "renderer": true,
                "user": "cam",
                "media_id": 7,
                "track": 2,
                "reason": slow.to_string(),
            })
        );
        let local = parse(video_hook_removed(Point::Local, None, false, &slow));
        assert_eq!(
            (&local["point"], &local["channel"], &local["user"]),
            (&json!("local"), &Value::Null, &Value::Null)
        );
    }
}
