//! Media on the wire: headers for video frames (one QUIC unidirectional stream per frame) and
//! audio packets (one QUIC datagram per 20 ms frame).
//!
//! A publisher sends `media_id` 0; the server overwrites it with the publisher's
//! [`Participant::media_id`](crate::wire::Participant::media_id), so receivers know who it is
//! from and a client cannot pose as someone else.
//!
//! Every packet names its [`track`](crate::track) (a publisher's camera and screen share are two
//! video tracks), so receivers key their state by publisher and track.
//!
//! Every publication carries a `stream` id of the publisher's choosing, new each time it
//! starts publishing (after an unpublish, or a restart), because its frame and sequence
//! counters start again at 0. Receivers follow it with [`Streams`] and start their per-stream
//! state (reordering, jitter buffering, decoders, counters) afresh when it changes.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode};
use crate::track::TrackId;

/// Largest encoded video frame accepted (a 4K keyframe fits).
pub const MAX_VIDEO_FRAME: usize = 4 * 1024 * 1024;
/// Largest audio payload accepted.
pub const MAX_AUDIO_PAYLOAD: usize = 1200;
/// First byte of a unidirectional stream that carries one video frame.
pub const STREAM_VIDEO: u8 = 1;
/// Largest encoded video header.
pub const MAX_VIDEO_HEADER: usize = 64;
/// An empty datagram: a client sends these while it waits for the server (joining, or hearing
/// nothing) so the server's acknowledgements of them let QUIC find and resend its lost packets
/// sooner. Receivers drop it (it is no audio packet); it counts against the sender's datagram
/// budget like any other.
pub const PROBE: &[u8] = &[];

/// Which of a publisher's two video streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Layer {
    /// Full resolution.
    High,
    /// A quarter of the area, for small tiles and congested viewers.
    Low,
}

/// What kind of media a packet carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Voice.
    Audio,
    /// A video layer.
    Video(Layer),
}

/// Describes one encoded video frame; the frame's bytes follow it to the end of the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoHeader {
    /// The publisher (0 from the publisher; stamped by the server).
    pub media_id: u64,
    /// The publisher's track.
    pub track: TrackId,
    /// Which layer.
    pub layer: Layer,
    /// The publication this frame belongs to (see [`Streams`]).
    pub stream: u32,
    /// The publisher's frame counter for this layer, from 0 in each stream.
    pub frame: u64,
    /// Whether a decoder can start here.
    pub keyframe: bool,
    /// Capture time, microseconds since the Unix epoch (for latency measurement).
    pub capture_us: u64,
}

impl VideoHeader {
    /// The stream prefix: type byte, header length, header.
    pub fn encode(&self) -> Vec<u8> {
        let body = postcard::to_stdvec(self).expect("postcard serializes plain data infallibly");
        let mut out = Vec::with_capacity(2 + body.len());
        out.push(STREAM_VIDEO);
        out.push(body.len() as u8);
        out.extend_from_slice(&body);
        out
    }

    /// Decodes a header body (after the type and length bytes).
    pub fn decode(body: &[u8]) -> Result<Self, Error> {
        postcard::from_bytes(body).map_err(|e| {
            Error::new(
                ErrorCode::ProtocolError,
                format!("malformed video header: {e}"),
            )
        })
    }
}

/// One 20 ms audio frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudioPacket<'a> {
    /// The publisher (0 from the publisher; stamped by the server).
    pub media_id: u64,
    /// The publisher's track.
    pub track: TrackId,
    /// The publication this frame belongs to (see [`Streams`]).
    pub stream: u32,
    /// Frame counter, wrapping; from 0 in each stream.
    pub seq: u32,
    /// Capture time, microseconds since the Unix epoch.
    pub capture_us: u64,
    /// The Opus packet.
    pub payload: &'a [u8],
}

/// Media id, track, stream, sequence number, capture time (big-endian), then the Opus packet.
const AUDIO_HEADER: usize = 8 + 1 + 4 + 4 + 8;

impl<'a> AudioPacket<'a> {
    /// Serializes into a datagram.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(AUDIO_HEADER + self.payload.len());
        out.extend_from_slice(&self.media_id.to_be_bytes());
        out.push(self.track);
        out.extend_from_slice(&self.stream.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.capture_us.to_be_bytes());
        out.extend_from_slice(self.payload);
        out
    }

    /// Parses a datagram.
    pub fn decode(datagram: &'a [u8]) -> Result<Self, Error> {
        if datagram.len() < AUDIO_HEADER || datagram.len() > AUDIO_HEADER + MAX_AUDIO_PAYLOAD {
            let msg = format!("audio datagram of {} bytes is malformed", datagram.len());
            return Err(Error::new(ErrorCode::ProtocolError, msg));
        }
        let u64_at = |i: usize| u64::from_be_bytes(datagram[i..i + 8].try_into().expect("8 bytes"));
        let u32_at = |i: usize| u32::from_be_bytes(datagram[i..i + 4].try_into().expect("4 bytes"));
        Ok(Self {
            media_id: u64_at(0),
            track: datagram[8],
            stream: u32_at(9),
            seq: u32_at(13),
            capture_us: u64_at(17),
            payload: &datagram[AUDIO_HEADER..],
        })
    }

    /// Rewrites the publisher id of an encoded datagram in place.
    pub fn stamp(datagram: &mut [u8], media_id: u64) {
        if datagram.len() >= 8 {
            datagram[..8].copy_from_slice(&media_id.to_be_bytes());
        }
    }
}

/// Streams of one publisher remembered after they were replaced, so that their stragglers are
/// recognised (and dropped) rather than taken for yet another new stream.
pub const ENDED_STREAMS: usize = 8;

/// Where a packet's stream stands, as [`Streams::check`] sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// The stream being received: carry on.
    Current,
    /// A stream not seen before: it replaces the current one, so start every per-stream
    /// state (reordering, jitter buffer, decoder, counters) afresh.
    New,
    /// A straggler of a stream already replaced: drop it.
    Ended,
}

/// Follows the streams of one publisher's media of one kind (a video layer, or its voice) on
/// the receiving side; at most [`ENDED_STREAMS`] ended streams are remembered.
#[derive(Clone, Debug, Default)]
pub struct Streams {
    current: Option<u32>,
    ended: VecDeque<u32>,
}

impl Streams {
    /// Nothing received yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The stream being received, once one arrived.
    pub fn current(&self) -> Option<u32> {
        self.current
    }

    /// A packet of `stream` arrived: says whether it belongs to the current stream, starts a
    /// new one (which becomes current) or belongs to one that has ended.
    pub fn check(&mut self, stream: u32) -> Stream {
        if self.current == Some(stream) {
            return Stream::Current;
        }
        if self.ended.contains(&stream) {
            return Stream::Ended;
        }
        if let Some(old) = self.current.replace(stream) {
            if self.ended.len() == ENDED_STREAMS {
                self.ended.pop_front();
            }
            self.ended.push_back(old);
        }
        Stream::New
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrips_and_rejects_garbage() {
        let p = AudioPacket {
            media_id: 7,
            track: 3,
            stream: 0xdead_beef,
            seq: 9,
            capture_us: 11,
            payload: b"opus",
        };
        let mut bytes = p.encode();
        assert_eq!(AudioPacket::decode(&bytes), Ok(p));
        AudioPacket::stamp(&mut bytes, 42);
        assert_eq!(AudioPacket::decode(&bytes).map(|p| p.media_id), Ok(42));
        assert!(AudioPacket::decode(&bytes[..10]).is_err());
        let h = VideoHeader {
            media_id: 1,
            track: 15,
            layer: Layer::Low,
            stream: u32::MAX,
            frame: 5,
            keyframe: true,
            capture_us: 3,
        };
        let enc = h.encode();
        assert_eq!(enc[0], STREAM_VIDEO);
        assert_eq!(VideoHeader::decode(&enc[2..]), Ok(h));
        assert!(VideoHeader::decode(&[0xff; 3]).is_err());
    }
}
