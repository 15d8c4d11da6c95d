//! Voice forwarding with per-leg redundancy, beside the core task's routing: the first copy
//! of each frame a publisher sends goes on (the copies it adds for its own lossy uplink stop
//! here), and each subscriber gets copies again according to the loss on its own downlink
//! ([`livestage_proto::redundancy`]), each copy a few milliseconds after the frame it is due
//! with so that it travels in a QUIC packet of its own. Nothing is decoded; a clean
//! subscriber pays nothing for a lossy one.

use std::collections::HashMap;

use bytes::Bytes;
use livestage_net::transport::Connection;
use livestage_proto::media::AudioPacket;
use livestage_proto::redundancy::{self, COPY_GAP_MS, Dedup, Deferred, History, LossMeter};
use livestage_proto::server::ConnId;
use livestage_proto::track::TrackId;
use tokio::time::{Duration, Instant};

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
        let quic: &quinn::Connection = connection;
        let path = quic.stats().path;
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
    /// Copies waiting for their gap, with the subscriber to send each to.
    copies: Deferred<Instant, (Connection, Bytes)>,
}

impl Voices {
    /// Whether `packet` from `conn` is the first copy of its frame; later copies are dropped.
    pub fn first(&mut self, conn: ConnId, packet: &AudioPacket) -> bool {
        let track = self.tracks.entry((conn, packet.track)).or_default();
        track.dedup.first(packet.stream, packet.seq)
    }

    /// Sends `stamped` (the datagram of `packet`, stamped for its receivers) to each
    /// subscriber now, and after it, [`COPY_GAP_MS`] apart, the earlier datagrams its
    /// downlink's copies call for ([`Voices::send_due`]); remembers it for later copies. QUIC
    /// drops datagrams a full peer buffer cannot take.
    pub fn send<'a>(
        &mut self,
        conn: ConnId,
        packet: &AudioPacket,
        stamped: Bytes,
        to: impl Iterator<Item = (&'a Connection, u8)>,
        now: Instant,
    ) {
        let track = self.tracks.entry((conn, packet.track)).or_default();
        if track.stream != Some(packet.stream) {
            track.stream = Some(packet.stream);
            track.history.clear();
        }
        for (connection, copies) in to {
            let _ = connection.send_datagram(stamped.clone());
            for (k, copy) in (1..).zip(track.history.due(packet.seq, copies)) {
                let at = now + Duration::from_millis(k * COPY_GAP_MS);
                if let Err((connection, copy)) =
                    self.copies.push(at, (connection.clone(), copy.clone()))
                {
                    let _ = connection.send_datagram(copy);
                }
            }
        }
        track.history.push(packet.seq, stamped);
    }

    /// When the next copy is due, if one waits.
    pub fn next_copy_at(&self) -> Option<Instant> {
        self.copies.next_at()
    }

    /// Sends the copies due by `now`.
    pub fn send_due(&mut self, now: Instant) {
        while let Some((connection, copy)) = self.copies.pop_due(now) {
            let _ = connection.send_datagram(copy);
        }
    }

    /// Forgets the tracks of a connection that closed.
    pub fn forget(&mut self, conn: ConnId) {
        self.tracks.retain(|(c, _), _| *c != conn);
    }
}
