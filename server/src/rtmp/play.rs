//! The sans-IO side of playing one RTMP stream (what an inject pulls): the handshake, then
//! `connect` / `createStream` / `play`, then the stream's FLV video and audio bodies as they
//! arrive. No sockets and no clock: bytes are inputs, bytes to write and media are outputs.
//!
//! The glue calls [`Play::new`], writes [`Play::poll_transmit`], and feeds what it reads to
//! [`Play::handle_input`], which returns the media bodies that arrived.

use bytes::Bytes;
use rml_rtmp::handshake::Handshake;
use rml_rtmp::sessions::{ClientSession, ClientSessionEvent, ClientSessionResult};

use super::session::{Fault, classify_rejection, client, read_guarded, shake};
use super::url::Url;

/// One media body from the stream, with its timestamp in milliseconds of the stream's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Media {
    /// A video body ([`flv::parse_video`](super::flv::parse_video) reads it).
    Video {
        /// Decode timestamp in milliseconds.
        ts_ms: u32,
        /// The FLV video body.
        body: Bytes,
    },
    /// An audio body ([`flv::parse_audio`](super::flv::parse_audio) reads it).
    Audio {
        /// Timestamp in milliseconds.
        ts_ms: u32,
        /// The FLV audio body.
        body: Bytes,
    },
}

enum Phase {
    Handshake(Box<Handshake>),
    Connecting,
    Requested,
    Playing,
}

/// One RTMP playing connection, sans IO.
pub struct Play {
    url: Url,
    phase: Phase,
    client: ClientSession,
    outbound: Vec<u8>,
    media: Vec<Media>,
}

impl Play {
    /// A session for `url`; the handshake's first bytes are ready in
    /// [`poll_transmit`](Self::poll_transmit).
    ///
    /// # Errors
    ///
    /// A [`Fault::Transient`] if `rml_rtmp` cannot set up (not expected).
    pub fn new(url: Url) -> Result<Self, Fault> {
        let (handshake, c0c1, client, results) = client(&url, "LNX 9,0,124,2 (livestage)")?;
        let mut play = Self {
            url,
            phase: Phase::Handshake(handshake),
            client,
            outbound: c0c1,
            media: Vec::new(),
        };
        play.absorb(results)?;
        Ok(play)
    }

    /// Bytes to write to the server, in order; empty when there are none.
    pub fn poll_transmit(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.outbound)
    }

    /// Whether the server accepted `play`.
    pub fn is_playing(&self) -> bool {
        matches!(self.phase, Phase::Playing)
    }

    /// Handles bytes read from the server; returns the media that arrived with them.
    ///
    /// # Errors
    ///
    /// [`Fault::Rejected`] if the server refused `connect` or `play` (a stream that does not
    /// exist); [`Fault::Transient`] for a protocol error.
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<Vec<Media>, Fault> {
        let rest = match &mut self.phase {
            Phase::Handshake(handshake) => {
                let Some(rest) = shake(handshake, bytes, &mut self.outbound)? else {
                    return Ok(Vec::new());
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
        Ok(std::mem::take(&mut self.media))
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
                self.phase = Phase::Requested;
                let request = self
                    .client
                    .request_playback(self.url.stream.clone())
                    .map_err(|e| Fault::transient(format!("{e:?}")))?;
                self.absorb(vec![request])
            }
            ClientSessionEvent::ConnectionRequestRejected { description } => Err(Fault::Rejected {
                reason: classify_rejection(&description),
                message: format!("the server rejected connect: {description}"),
            }),
            ClientSessionEvent::PlaybackRequestAccepted => {
                self.phase = Phase::Playing;
                Ok(())
            }
            ClientSessionEvent::VideoDataReceived { timestamp, data } => {
                let ts_ms = timestamp.value;
                self.media.push(Media::Video { ts_ms, body: data });
                Ok(())
            }
            ClientSessionEvent::AudioDataReceived { timestamp, data } => {
                let ts_ms = timestamp.value;
                self.media.push(Media::Audio { ts_ms, body: data });
                Ok(())
            }
            ClientSessionEvent::UnhandleableOnStatusCode { code } => {
                let failure = ["StreamNotFound", "Failed", "Rejected", "Unauthorized"];
                if failure.iter().any(|f| code.contains(f)) {
                    Err(Fault::Rejected {
                        reason: classify_rejection(&code),
                        message: format!("the server refused to play: {code}"),
                    })
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }
}
