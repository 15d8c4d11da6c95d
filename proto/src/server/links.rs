//! Each member's path to the server, for network quality: the glue measures round trip and
//! downlink loss from its QUIC connection ([`Server::path_measured`]), the member reports its
//! uplink loss ([`ClientFrame::Link`](crate::wire::ClientFrame::Link)), and once a second each
//! member hears its own path and those of the hosts it sees ([`ServerFrame::Links`]). Not
//! sequenced, never in a backlog: a stale figure is worth nothing after a resume.

use crate::wire::{LINK_REPORT_MS, MAX_LINKS, PeerLink, ServerFrame};

use super::{ConnId, Server, SessionId};

/// One member's path as the server knows it.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Path {
    pub rtt_ms: u32,
    pub uplink_loss_percent: u8,
    pub downlink_loss_percent: u8,
    /// When the member's last uplink report was taken.
    pub reported_at: Option<u64>,
}

impl Server {
    /// The glue's measure of a connection's path from its QUIC statistics: the smoothed round
    /// trip and the share of the server's packets lost on the way to the client. Call it about
    /// once a second per connection; a connection without a session is ignored.
    pub fn path_measured(&mut self, conn: ConnId, rtt_ms: u32, downlink_loss_percent: u8) {
        let Some(Some(sid)) = self.conns.get(&conn) else {
            return;
        };
        if let Some(s) = self.sessions.get_mut(sid) {
            s.path.rtt_ms = rtt_ms;
            s.path.downlink_loss_percent = downlink_loss_percent.min(100);
        }
    }

    /// A member's own report of its uplink loss; more than one a [`LINK_REPORT_MS`] is ignored.
    pub(super) fn link_reported(&mut self, sid: SessionId, uplink_loss_percent: u8, now_ms: u64) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        if s.path
            .reported_at
            .is_some_and(|at| now_ms < at.saturating_add(LINK_REPORT_MS / 2))
        {
            return;
        }
        s.path.reported_at = Some(now_ms);
        s.path.uplink_loss_percent = uplink_loss_percent.min(100);
    }

    /// Once a [`LINK_REPORT_MS`]: tells every connected member its own path and the hosts'.
    pub(super) fn send_links(&mut self, now_ms: u64) {
        if now_ms < self.links_sent_at.saturating_add(LINK_REPORT_MS) {
            return;
        }
        self.links_sent_at = now_ms;
        let mut frames = Vec::new();
        for ch in self.channels.values() {
            let hosts: Vec<PeerLink> = ch
                .hosts
                .values()
                .filter_map(|sid| self.peer_link(*sid))
                .take(MAX_LINKS)
                .collect();
            for sid in ch.members.values() {
                let Some((conn, me)) = self
                    .sessions
                    .get(sid)
                    .and_then(|s| Some((s.conn?, self.peer_link(*sid)?)))
                else {
                    continue;
                };
                let mut links = Vec::with_capacity(hosts.len() + 1);
                links.extend(hosts.iter().filter(|h| h.user != me.user).cloned());
                links.insert(0, me);
                links.truncate(MAX_LINKS);
                frames.push((conn, links));
            }
        }
        for (conn, links) in frames {
            self.send(conn, ServerFrame::Links(links));
        }
    }

    fn peer_link(&self, sid: SessionId) -> Option<PeerLink> {
        let s = self.sessions.get(&sid)?;
        Some(PeerLink {
            user: s.user().to_owned(),
            rtt_ms: s.path.rtt_ms,
            uplink_loss_percent: s.path.uplink_loss_percent,
            downlink_loss_percent: s.path.downlink_loss_percent,
        })
    }
}
