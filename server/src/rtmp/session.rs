//! The sans-IO side of publishing to one URL: the RTMP handshake and `connect` /
//! `createStream` / `publish` exchange ([`Session`]), what to forward after a (re)connect or
//! a lag ([`Gate`]), and when to retry or give up ([`Retry`]). No sockets and no clock: bytes
//! and instants are inputs, bytes to write are outputs.
//!
//! The glue calls, in order: [`Session::new`], then [`Session::poll_transmit`] and
//! [`Session::handle_input`] until `handle_input` returns [`Progress::Published`]; then
//! [`Session::send_headers`] once headers exist and [`Session::send_tag`] for each tag,
//! writing out [`Session::poll_transmit`] after each; [`Session::stop`] before closing.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;

use super::flv;
use super::url::Url;

/// One FLV tag from the encoder, with its timestamp in milliseconds of the stream's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tag {
    /// A video body ([`flv::avc_frame`]).
    Video {
        /// Decode timestamp in milliseconds.
        ts_ms: u32,
        /// Whether this is an IDR picture a viewer can start at.
        keyframe: bool,
        /// The FLV video body.
        body: Bytes,
    },
    /// An audio body ([`flv::aac_frame`]).
    Audio {
        /// Timestamp in milliseconds.
        ts_ms: u32,
        /// The FLV audio body.
        body: Bytes,
    },
}

impl Tag {
    /// The tag's timestamp in milliseconds.
    pub fn ts_ms(&self) -> u32 {
        match self {
            Self::Video { ts_ms, .. } | Self::Audio { ts_ms, .. } => *ts_ms,
        }
    }
}

/// What every connection sends before any tag: `onMetaData` and the sequence headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Headers {
    /// The `onMetaData` values.
    pub info: flv::Info,
    /// The AVC sequence header body ([`flv::avc_sequence_header`]).
    pub video: Bytes,
    /// The AAC sequence header body ([`flv::aac_sequence_header`]), if there is audio.
    pub audio: Option<Bytes>,
}

/// Why a URL failed for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    /// The URL is malformed.
    BadUrl,
    /// The RTMP server rejected `connect` or `publish` (for example
    /// `NetStream.Publish.BadName`: the key is wrong or already in use).
    Refused,
    /// Nothing answered for the whole give-up time since the start.
    Unreachable,
    /// The server said this client may not publish (an authorization status).
    NotAllowed,
}

/// Why a connection attempt or a running connection ended; all of these are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The connection failed, closed or stalled; retry.
    Transient(String),
    /// The server said no; stop.
    Rejected {
        /// [`FailReason::Refused`] or [`FailReason::NotAllowed`].
        reason: FailReason,
        /// What the server said.
        message: String,
    },
}

impl Fault {
    pub(super) fn transient(e: impl std::fmt::Display) -> Self {
        Self::Transient(e.to_string())
    }
}

/// How a rejection reads: authorization words mean [`FailReason::NotAllowed`], anything else
/// [`FailReason::Refused`].
pub fn classify_rejection(text: &str) -> FailReason {
    let lower = text.to_ascii_lowercase();
    let words = ["unauthorized", "forbidden", "denied", "not allowed", "auth"];
    if words.iter().any(|w| lower.contains(w)) {
        FailReason::NotAllowed
    } else {
        FailReason::Refused
    }
}

/// What [`Session::handle_input`] moved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Still handshaking, connecting or waiting for `publish` to be accepted.
    Pending,
    /// The server accepted `publish`; headers and tags may be sent.
    Published,
}

enum Phase {
    Handshake(Box<Handshake>),
    Connecting,
    Publishing,
    Published,
}

/// One RTMP publishing connection, sans IO.
pub struct Session {
    url: Url,
    phase: Phase,
    client: ClientSession,
    outbound: Vec<u8>,
    gate: Gate,
    clock: Rebase,
    headers_sent: bool,
}

impl Session {
    /// A session for `url`; the handshake's first bytes are ready in
    /// [`poll_transmit`](Self::poll_transmit).
    ///
    /// # Errors
    ///
    /// A [`Fault::Transient`] if `rml_rtmp` cannot set up (not expected).
    pub fn new(url: Url) -> Result<Self, Fault> {
        let (handshake, c0c1, client, results) = client(&url, "FMLE/3.0 (compatible; livestage)")?;
        let mut session = Self {
            url,
            phase: Phase::Handshake(handshake),
            client,
            outbound: c0c1,
            gate: Gate::default(),
            clock: Rebase::default(),
            headers_sent: false,
        };
        session.absorb(results)?;
        Ok(session)
    }

    /// Bytes to write to the server, in order; empty when there are none.
    pub fn poll_transmit(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.outbound)
    }

    /// Whether `publish` was accepted.
    pub fn is_published(&self) -> bool {
        matches!(self.phase, Phase::Published)
    }

    /// Whether the headers were sent on this connection.
    pub fn headers_sent(&self) -> bool {
        self.headers_sent
    }

    /// Handles bytes read from the server.
    ///
    /// # Errors
    ///
    /// [`Fault::Rejected`] if the server refused `connect` or `publish`;
    /// [`Fault::Transient`] for a protocol error.
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<Progress, Fault> {
        let rest = match &mut self.phase {
            Phase::Handshake(handshake) => {
                let Some(rest) = shake(handshake, bytes, &mut self.outbound)? else {
                    return Ok(Progress::Pending);
                };
                self.phase = Phase::Connecting;
                let request = self
                    .client
                    .request_connection(self.url.app.clone())
                    .map_err(|e| Fault::transient(format!("{e:?}")))?;
                self.absorb(vec![request])?;
                rest
            }
            _ => bytes.to_vec(),
        };
        if !rest.is_empty() {
            let results = read_guarded(&mut self.client, &rest)?;
            self.absorb(results)?;
        }
        Ok(if self.is_published() {
            Progress::Published
        } else {
            Progress::Pending
        })
    }

    /// Queues `onMetaData` and the sequence headers (again after a change), and waits for
    /// the next keyframe so the new headers apply from a clean picture.
    ///
    /// # Errors
    ///
    /// [`Fault::Transient`] before [`Progress::Published`] or on a serialization error.
    pub fn send_headers(&mut self, headers: &Headers) -> Result<(), Fault> {
        let ts = RtmpTimestamp::new(self.clock.last());
        let meta = self
            .client
            .publish_metadata(&flv::metadata(&headers.info))
            .map_err(|e| Fault::transient(format!("{e:?}")))?;
        let video = self
            .client
            .publish_video_data(headers.video.clone(), ts, false)
            .map_err(|e| Fault::transient(format!("{e:?}")))?;
        let mut results = vec![meta, video];
        if let Some(audio) = &headers.audio {
            results.push(
                self.client
                    .publish_audio_data(audio.clone(), ts, false)
                    .map_err(|e| Fault::transient(format!("{e:?}")))?,
            );
        }
        self.absorb(results)?;
        self.headers_sent = true;
        self.gate.resync();
        Ok(())
    }

    /// Queues `tag` if the gate lets it through (video waits for a keyframe after a
    /// (re)connect, new headers or a lag; audio flows once headers are sent). Timestamps
    /// restart at 0 on each connection. Returns whether it was queued.
    ///
    /// # Errors
    ///
    /// [`Fault::Transient`] on a serialization error.
    pub fn send_tag(&mut self, tag: &Tag) -> Result<Sent, Fault> {
        if !self.headers_sent || !self.gate.admit(tag) {
            return Ok(Sent::Skipped);
        }
        let Some(ts) = self.clock.rebase(tag) else {
            return Ok(Sent::Skipped);
        };
        let ts = RtmpTimestamp::new(ts);
        let result = match tag {
            Tag::Video { body, keyframe, .. } => {
                self.client.publish_video_data(body.clone(), ts, !keyframe)
            }
            Tag::Audio { body, .. } => self.client.publish_audio_data(body.clone(), ts, false),
        }
        .map_err(|e| Fault::transient(format!("{e:?}")))?;
        self.absorb(vec![result])?;
        Ok(match tag {
            Tag::Video { keyframe: true, .. } => Sent::Keyframe,
            _ => Sent::Tag,
        })
    }

    /// The receiver missed tags: skip video until the next keyframe.
    pub fn lagged(&mut self) {
        self.gate.resync();
    }

    /// Queues `deleteStream` (a clean unpublish) if publishing.
    pub fn stop(&mut self) {
        if let Ok(results) = self.client.stop_publishing() {
            let _ = self.absorb(results);
        }
    }

    fn absorb(&mut self, results: Vec<ClientSessionResult>) -> Result<(), Fault> {
        for result in results {
            match result {
                ClientSessionResult::OutboundResponse(packet) => {
                    self.outbound.extend(packet.bytes);
                }
                ClientSessionResult::RaisedEvent(event) => self.event(event)?,
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        Ok(())
    }

    fn event(&mut self, event: ClientSessionEvent) -> Result<(), Fault> {
        match event {
            ClientSessionEvent::ConnectionRequestAccepted => {
                self.phase = Phase::Publishing;
                let request = self
                    .client
                    .request_publishing(self.url.stream.clone(), PublishRequestType::Live)
                    .map_err(|e| Fault::transient(format!("{e:?}")))?;
                self.absorb(vec![request])
            }
            ClientSessionEvent::ConnectionRequestRejected { description } => Err(Fault::Rejected {
                reason: classify_rejection(&description),
                message: format!("the server rejected connect: {description}"),
            }),
            ClientSessionEvent::PublishRequestAccepted => {
                self.phase = Phase::Published;
                Ok(())
            }
            ClientSessionEvent::UnhandleableOnStatusCode { code } => {
                let failure = ["Publish.BadName", "Failed", "Rejected", "Unauthorized"];
                if failure.iter().any(|f| code.contains(f)) && !self.is_published() {
                    Err(Fault::Rejected {
                        reason: classify_rejection(&code),
                        message: format!("the server refused to publish: {code}"),
                    })
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }
}

/// A client's start on `url`: its handshake with the first bytes to send (C0 and C1), and
/// the `rml_rtmp` session with what it produced on creation. `flash_version` is what it tells
/// the server it is (encoders and players say different things).
pub(super) fn client(
    url: &Url,
    flash_version: &str,
) -> Result<
    (
        Box<Handshake>,
        Vec<u8>,
        ClientSession,
        Vec<ClientSessionResult>,
    ),
    Fault,
> {
    let mut handshake = Handshake::new(PeerType::Client);
    let c0c1 = handshake
        .generate_outbound_p0_and_p1()
        .map_err(|e| Fault::transient(format!("{e:?}")))?;
    let mut config = ClientSessionConfig::new();
    config.tc_url = Some(url.tc_url.clone());
    config.flash_version = flash_version.to_owned();
    let (client, results) =
        ClientSession::new(config).map_err(|e| Fault::transient(format!("{e:?}")))?;
    Ok((Box::new(handshake), c0c1, client, results))
}

/// Hands what the server sent to `rml_rtmp`. Version 0.8 panics on some malformed messages
/// (an AMF0 command with fewer values than it expects, found by the `rtmp_play` fuzz target):
/// a hostile RTMP server must not take a push's or an inject's thread down, so a panic there
/// is a protocol error and the connection is dropped (and retried with a fresh session).
pub(super) fn read_guarded(
    client: &mut ClientSession,
    bytes: &[u8],
) -> Result<Vec<ClientSessionResult>, Fault> {
    let read =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| client.handle_input(bytes)));
    match read {
        Ok(Ok(results)) => Ok(results),
        Ok(Err(e)) => Err(Fault::transient(format!("RTMP protocol error: {e:?}"))),
        Err(_) => Err(Fault::transient(
            "the RTMP server sent a message the RTMP library cannot read",
        )),
    }
}

/// Feeds `bytes` to a client handshake, queueing its answers in `outbound`; once it is done,
/// the bytes that came after it.
pub(super) fn shake(
    handshake: &mut Handshake,
    bytes: &[u8],
    outbound: &mut Vec<u8>,
) -> Result<Option<Vec<u8>>, Fault> {
    match handshake
        .process_bytes(bytes)
        .map_err(|e| Fault::transient(format!("RTMP handshake failed: {e:?}")))?
    {
        HandshakeProcessResult::InProgress { response_bytes } => {
            outbound.extend(response_bytes);
            Ok(None)
        }
        HandshakeProcessResult::Completed {
            response_bytes,
            remaining_bytes,
        } => {
            outbound.extend(response_bytes);
            Ok(Some(remaining_bytes))
        }
    }
}

/// What [`Session::send_tag`] did with a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Not sent (no headers yet, waiting for a keyframe, or older than the connection).
    Skipped,
    /// Sent a keyframe.
    Keyframe,
    /// Sent another tag.
    Tag,
}

/// Which tags may go out: after a (re)connect, new headers or a lag, video waits for a
/// keyframe so a viewer never gets a picture whose references it lacks. Audio always flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gate {
    waiting: bool,
}

impl Default for Gate {
    fn default() -> Self {
        Self { waiting: true }
    }
}

impl Gate {
    /// Drop video until the next keyframe.
    pub fn resync(&mut self) {
        self.waiting = true;
    }

    /// Whether `tag` may be sent now.
    pub fn admit(&mut self, tag: &Tag) -> bool {
        match tag {
            Tag::Audio { .. } => true,
            Tag::Video { keyframe: true, .. } => {
                self.waiting = false;
                true
            }
            Tag::Video { .. } => !self.waiting,
        }
    }
}

/// Connection-relative timestamps: the first tag sent on a connection is at 0, as OBS and
/// ffmpeg publish after every reconnect (what ingest servers expect); audio from before
/// that tag is dropped, and each kind stays monotonic as RTMP's chunk headers need.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rebase {
    origin: Option<u32>,
    last_video: u32,
    last_audio: u32,
}

impl Rebase {
    /// The connection timestamp of `tag`, or `None` if it is older than the connection.
    pub fn rebase(&mut self, tag: &Tag) -> Option<u32> {
        let origin = *self.origin.get_or_insert(tag.ts_ms());
        let ts = tag.ts_ms().checked_sub(origin)?;
        let last = match tag {
            Tag::Video { .. } => &mut self.last_video,
            Tag::Audio { .. } => &mut self.last_audio,
        };
        *last = ts.max(*last);
        Some(*last)
    }

    /// The latest timestamp sent, for headers sent mid-stream.
    pub fn last(&self) -> u32 {
        self.last_video.max(self.last_audio)
    }
}

/// When to reconnect, and when to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub min: Duration,
    /// The longest delay.
    pub max: Duration,
    /// Give up if publishing never started this long after the first attempt.
    pub give_up_after: Duration,
}

impl Default for Backoff {
    /// 0.5 s doubling to 8 s; give up after 30 s if it never ran.
    fn default() -> Self {
        Self {
            min: Duration::from_millis(500),
            max: Duration::from_secs(8),
            give_up_after: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The delay before retry `attempt` (1-based), with `jitter` in [0, 1) adding up to a
    /// quarter more.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let doubled = self
            .min
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        doubled
            .min(self.max)
            .mul_f64(1.0 + 0.25 * jitter.clamp(0.0, 1.0))
    }
}

/// What to do after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait, then try again; `attempt` counts failures since the last success.
    Retry {
        /// 1 for the first retry.
        attempt: u32,
        /// How long to wait first.
        delay: Duration,
    },
    /// Never published and the give-up time passed.
    GiveUp,
}

/// The retry bookkeeping of one URL.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    backoff: Backoff,
    started: Instant,
    ran: bool,
    attempt: u32,
}

impl Retry {
    /// Starts counting at `now`.
    pub fn new(backoff: Backoff, now: Instant) -> Self {
        Self {
            backoff,
            started: now,
            ran: false,
            attempt: 0,
        }
    }

    /// Publishing started: from now on failures are retried forever, from the short delay.
    pub fn ran(&mut self) {
        self.ran = true;
        self.attempt = 0;
    }

    /// A connection attempt or a running connection failed at `now`.
    pub fn failed(&mut self, now: Instant, jitter: f64) -> Decision {
        if !self.ran && now.duration_since(self.started) >= self.backoff.give_up_after {
            return Decision::GiveUp;
        }
        self.attempt += 1;
        Decision::Retry {
            attempt: self.attempt,
            delay: self.backoff.delay(self.attempt, jitter),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(ts_ms: u32, keyframe: bool) -> Tag {
        Tag::Video {
            ts_ms,
            keyframe,
            body: Bytes::new(),
        }
    }

    fn audio(ts_ms: u32) -> Tag {
        Tag::Audio {
            ts_ms,
            body: Bytes::new(),
        }
    }

    #[test]
    fn video_waits_for_a_keyframe_and_audio_flows() {
        let mut gate = Gate::default();
        assert!(!gate.admit(&video(0, false)));
        assert!(gate.admit(&audio(0)));
        assert!(gate.admit(&video(33, true)));
        assert!(gate.admit(&video(66, false)));
        gate.resync();
        assert!(!gate.admit(&video(99, false)));
        assert!(gate.admit(&audio(99)));
        assert!(gate.admit(&video(132, true)));
    }

    #[test]
    fn timestamps_restart_at_zero_and_stay_monotonic_per_kind() {
        let mut clock = Rebase::default();
        assert_eq!(clock.rebase(&video(5000, true)), Some(0));
        assert_eq!(clock.rebase(&audio(4900)), None);
        assert_eq!(clock.rebase(&audio(5021)), Some(21));
        assert_eq!(clock.rebase(&video(5033, false)), Some(33));
        assert_eq!(clock.rebase(&video(5030, false)), Some(33));
        assert_eq!(clock.last(), 33);
    }

    #[test]
    fn backoff_doubles_from_half_a_second_to_eight() {
        let b = Backoff::default();
        let ms: Vec<u128> = (1..=7).map(|a| b.delay(a, 0.0).as_millis()).collect();
        assert_eq!(ms, [500, 1000, 2000, 4000, 8000, 8000, 8000]);
        assert_eq!(b.delay(1, 1.0).as_millis(), 625);
        assert_eq!(b.delay(u32::MAX, 0.5).as_millis(), 9000);
    }

    #[test]
    fn a_url_that_never_ran_gives_up_and_one_that_ran_never_does() {
        let start = Instant::now();
        let mut retry = Retry::new(Backoff::default(), start);
        assert_eq!(
            retry.failed(start, 0.0),
            Decision::Retry {
                attempt: 1,
                delay: Duration::from_millis(500)
            }
        );
        assert_eq!(
            retry.failed(start + Duration::from_secs(31), 0.0),
            Decision::GiveUp
        );
        retry.ran();
        let late = start + Duration::from_secs(3600);
        assert_eq!(
            retry.failed(late, 0.0),
            Decision::Retry {
                attempt: 1,
                delay: Duration::from_millis(500)
            }
        );
    }

    #[test]
    fn rejections_are_classified() {
        assert_eq!(
            classify_rejection("NetStream.Publish.BadName"),
            FailReason::Refused
        );
        assert_eq!(
            classify_rejection("NetStream.Publish.Unauthorized"),
            FailReason::NotAllowed
        );
        assert_eq!(
            classify_rejection("Authentication failed"),
            FailReason::NotAllowed
        );
    }
}
