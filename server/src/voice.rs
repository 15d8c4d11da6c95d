//! Voice forwarding with per-leg redundancy, beside the core task's routing: the first copy
//! of each frame a publisher sends goes on (the copies it adds for its own lossy uplink stop
//! here), and each subscriber gets copies again according to the loss on its own downlink
//! ([`livestage_proto::redundancy`]). Nothing is decoded; a clean subscriber pays nothing for
//! a lossy one.

use std::collections::HashMap;

use bytes::Bytes;
use livestage_proto::media::AudioPacket;
use livestage_proto::redundancy::{self, Dedup, History, LossMeter};
use livestage_proto::server::ConnId;
use livestage_proto::track::TrackId;
use quinn::Connection;

/// The loss on one subscriber's downlink, from its QUIC connection's counters.
#[derive(Default)]
pub(crate) struct Downlink {
    meter: LossMeter,
    copies: u8,
}

impl Downlink {
    /// Reads the connection's counters (call every few hundred milliseconds); returns the
    /// smoothed round trip in milliseconds.
    pub fn measure(&mut self, connection: &Connection) -> u32 {
        let path = connection.stats().path;
        self.meter.update(path.sent_packets, path.lost_packets);
        self.copies = redundancy::copies(self.meter.percent());
        path.rtt.as_millis().clamp(1, u128::from(u32::MAX)) as u32
    }

    /// The loss measured, percent.
    pub fn loss_percent(&self) -> u8 {
        self.meter.percent()
    }

    /// Extra copies of each voice datagram this subscriber gets now.
    pub fn copies(&self) -> u8 {
        self.copies
    }
}

#[derive(Default)]
struct Track {
    dedup: Dedup,
    stream: Option<u32>,
    /// Recent datagrams as forwarded (stamped with the publisher's media id).
    history: History<Bytes>,
}

/// Voice tracks being forwarded, by publisher connection and track.
#[derive(Default)]
pub(crate) struct Voices {
    tracks: HashMap<(ConnId, TrackId), Track>,
}

impl Voices {
    /// Whether `packet` from `conn` is the first copy of its frame; later copies are dropped.
    pub fn first(&mut self, conn: ConnId, packet: &AudioPacket) -> bool {
        let track = self.tracks.entry((conn, packet.track)).or_default();
        track.dedup.first(packet.stream, packet.seq)
    }

    /// Sends `stamped` (the datagram of `packet`, stamped for its receivers) to each
    /// subscriber, each with the earlier datagrams its downlink's copies call for now, and
    /// remembers it for later copies. QUIC drops datagrams a full peer buffer cannot take.
    pub fn send<'a>(
        &mut self,
        conn: ConnId,
        packet: &AudioPacket,
        stamped: Bytes,
        to: impl Iterator<Item = (&'a Connection, u8)>,
    ) {
        let track = self.tracks.entry((conn, packet.track)).or_default();
        if track.stream != Some(packet.stream) {
            track.stream = Some(packet.stream);
            track.history.clear();
        }
        for (connection, copies) in to {
            let _ = connection.send_datagram(stamped.clone());
            for copy in track.history.due(packet.seq, copies) {
                let _ = connection.send_datagram(copy.clone());
            }
        }
        track.history.push(packet.seq, stamped);
    }

    /// Forgets the tracks of a connection that closed.
    pub fn forget(&mut self, conn: ConnId) {
        self.tracks.retain(|(c, _), _| *c != conn);
    }
}
